//! Plan one address family's prefix-list changes (DESIGN.md section 5): reads every user's
//! secret (20 per `BatchGetSecretValue`), then the managed lists and their entries (one
//! `DescribeManagedPrefixLists`, one `GetManagedPrefixListEntries` per list and 100 entries),
//! and returns the steps per list. Writes nothing.
//!
//! Secrets are read before the lists so that the versions the writes are guarded by are as
//! fresh as they can be. A secret that cannot be read makes the plan keep every entry (partial
//! information); one that is not a JSON object contributes no CIDR.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use serde_json::Value;
use warden_aws::secrets::{SecretsError, UserSecrets};
use warden_aws::throttle_backoff;
use warden_core::admins::AdminDirectory;
use warden_core::prefix_lists::report::FamilyRun;
use warden_core::prefix_lists::{
    AddressFamily, Desired, PlanSettings, PrefixList, Readiness, Step, Withheld, plan_family,
};
use warden_core::trigger::{self, RequestError};
use warden_core::user::Role;
use warden_core::{ErrorName, Named, Rules, text};
use warden_ec2::{Ec2Error, PrefixLists};

/// Step Functions passes at most 256 KiB between states; the plan must leave room for the rest.
const MAX_PLAN_BYTES: usize = 200 * 1024;
/// `BatchGetSecretValue` calls in flight at once: 50,000 users are 2,500 calls, about 80 s at
/// 150 ms a call four at a time, well inside the function's timeout and Secrets Manager's rate.
const READ_CONCURRENCY: usize = 4;
/// Unreadable users named in the output (the rest are counted).
const MAX_UNREADABLE_NAMED: usize = 50;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanRequest {
    family: AddressFamily,
    /// The execution's input: a CloudTrail event, a scheduled event, or an operator's request.
    #[serde(default)]
    input: Value,
}

#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    #[error("prefix list {0} is still applying a change; the plan waits for it")]
    Busy(String),
    #[error("maxRemovalShare must be a number from 0 to 1, got {0}")]
    BadShare(String),
    #[error(
        "the plan is {0} bytes, more than a state machine payload can carry; sync fewer changes per run"
    )]
    TooLarge(usize),
}

impl Named for PlanError {
    fn name(&self) -> ErrorName {
        match self {
            PlanError::Request(RequestError::NotAnSftpUser(_)) => ErrorName::NotAnSftpUser,
            PlanError::Request(RequestError::Unsupported(_)) | PlanError::BadShare(_) => {
                ErrorName::UnsupportedInput
            }
            PlanError::Secrets(e) => e.name(),
            PlanError::Ec2(e) => e.name(),
            PlanError::Busy(_) => ErrorName::PrefixListBusy,
            PlanError::TooLarge(_) => ErrorName::PlanTooLarge,
        }
    }
}

impl From<PlanError> for Diagnostic {
    fn from(err: PlanError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

struct Config {
    settings: PlanSettings,
    rules: Rules,
}

/// An operator may lift the removal cap for one run (`{"mode": "all", "maxRemovalShare": 1}`)
/// after checking a refused run; events from EventBridge never carry the key.
fn share_override(input: &Value) -> Result<Option<f64>, PlanError> {
    if input.get("detail-type").is_some() {
        return Ok(None);
    }
    match input.get("maxRemovalShare") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|s| (0.0..=1.0).contains(s))
            .map(Some)
            .ok_or_else(|| PlanError::BadShare(text::escape_unsafe(&v.to_string(), 40))),
    }
}

async fn handler(
    ec2: &PrefixLists,
    secrets: &UserSecrets,
    config: &Config,
    event: LambdaEvent<PlanRequest>,
) -> Result<FamilyRun, PlanError> {
    let PlanRequest { family, input } = event.payload;
    let request = trigger::request_from_event(&input, secrets.prefix())?;
    let settings = PlanSettings {
        max_removal_share: share_override(&input)?.unwrap_or(config.settings.max_removal_share),
        ..config.settings.clone()
    };
    let mut run = FamilyRun::new(family);
    run.trigger = Some(request.trigger);
    run.event = request.event;

    // Every user counts, whatever the trigger: the lists hold the union of all users' CIDRs.
    let mut desired = Desired::default();
    let mut super_admin_secrets = Vec::new();
    let usernames = secrets.list_usernames().await?;
    let reads = secrets
        .read_many(&usernames, READ_CONCURRENCY, throttle_backoff())
        .await;
    for (chunk, read) in reads {
        match read {
            Ok(batch) => {
                run.secret_reads += batch.calls;
                for secret in &batch.secrets {
                    run.users_read += 1;
                    desired.add_secret(&secret.username, secret.secret.expose(), &config.rules);
                    if Role::of(&secret.username) == Role::SuperAdmin {
                        super_admin_secrets.push(secret.clone());
                    }
                }
                run.unreadable.extend(
                    batch
                        .errors
                        .iter()
                        .map(|e| format!("{} ({})", e.username, e.error)),
                );
            }
            // Retried already; these users' CIDRs are unknown for this run.
            Err(e) => {
                run.secret_reads += 1;
                tracing::error!(
                    error = %e.name(),
                    users = chunk.len(),
                    "A batch of secrets could not be read: {e}"
                );
                run.unreadable
                    .extend(chunk.iter().map(|u| format!("{u} ({})", e.name())));
            }
        }
    }
    run.super_admins = AdminDirectory::from_secrets(
        super_admin_secrets
            .iter()
            .map(|s| (s.username.as_str(), s.secret.expose())),
    )
    .super_admin_emails();

    let reads_before = ec2.calls().reads;
    let mut lists = Vec::new();
    for info in ec2.describe(&[]).await? {
        if !info.is_managed(&settings.marker, family) {
            continue;
        }
        match info.readiness() {
            Readiness::Busy => return Err(PlanError::Busy(info.id)),
            Readiness::Unusable => {
                tracing::warn!(list = %info.id, name = %info.name, state = %info.state, "Managed prefix list skipped: it cannot be changed in this state");
            }
            Readiness::Ready => {
                let entries = ec2.entries(&info.id, info.version).await?;
                lists.push(PrefixList { info, entries });
            }
        }
    }
    run.reads = ec2.calls().reads - reads_before;
    run.plan = plan_family(family, &lists, &desired, &run.unreadable, &settings);
    log_plan(&run);
    // Name a few; a store-wide outage must not blow the payload with 10,000 names.
    run.users_unreadable = run.unreadable.len();
    if run.unreadable.len() > MAX_UNREADABLE_NAMED {
        let more = run.unreadable.len() - MAX_UNREADABLE_NAMED;
        run.unreadable.truncate(MAX_UNREADABLE_NAMED);
        run.unreadable.push(format!("and {more} more"));
    }

    let size = serde_json::to_vec(&run)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_PLAN_BYTES {
        return Err(PlanError::TooLarge(size));
    }
    Ok(run)
}

fn log_plan(run: &FamilyRun) {
    let family = run.family.as_str();
    tracing::info!(
        family,
        users_read = run.users_read,
        unreadable = run.unreadable.len(),
        desired = run.plan.desired,
        lists = run.plan.lists.len(),
        writes = run.plan.writes(),
        "Step 3.5 : Compared the prefix lists with the users' CIDRs"
    );
    for list in &run.plan.lists {
        let (mut add, mut remove) = (0, 0);
        for step in &list.pending {
            match step {
                Step::Add(e) => add += e.len(),
                Step::Remove(c) => remove += c.len(),
            }
        }
        tracing::info!(family, list = %list.id, name = %list.name, entries = list.entries, max_entries = list.max_entries, add, remove, writes = list.pending.len(), "Step 3.6 : Planned the changes of a list");
    }
    for overflow in &run.plan.overflow {
        tracing::warn!(family, cidr = %overflow.cidr, users = ?overflow.users, "Step 3.8 : No prefix list has room for this CIDR");
    }
    match &run.plan.removals_withheld {
        Some(Withheld::PartialRead { removals, .. }) => {
            tracing::warn!(
                family,
                removals,
                "Removals withheld: some secrets could not be read"
            );
        }
        Some(Withheld::TooManyRemovals {
            removals, entries, ..
        }) => {
            tracing::error!(
                family,
                removals,
                entries,
                "Run refused: it would remove more than the allowed share of the entries"
            );
        }
        None => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let config = Config {
        settings: env.plan_settings()?,
        rules: env.rules()?,
    };
    let aws = warden_lambda::aws_config().await;
    let secrets = UserSecrets::from_config(&aws, env.secret_prefix());
    let ec2 = PrefixLists::from_config(&aws);
    run(service_fn(|event| handler(&ec2, &secrets, &config, event))).await
}

#[cfg(test)]
mod tests;
