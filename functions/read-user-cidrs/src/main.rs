//! Read every user's CIDRs once for both address families (DESIGN.md section 5): lists the
//! users, reads every secret (20 per `BatchGetSecretValue`, a few calls at a time, throttling
//! retried with backoff) and writes to the work bucket what each family's plan needs: the
//! desired CIDRs with their users (one file per family), and who could not be read, who the
//! SuperAdmins are and whether an operator lifted the removal cap ([`UsersRead`]). Returns
//! counts only.
//!
//! Whatever the trigger, every user counts: the lists hold the union of all users' CIDRs, and
//! one user's change can free or need an entry other users share. A secret that cannot be read
//! makes the plans keep every entry (partial information); one that is not a JSON object
//! contributes no CIDR.
//!
//! At 50,000 users (paper figures, ~150 ms a call):
//! * `ListSecrets`: 500 pages of 100, one after the other: ~75 s;
//! * `BatchGetSecretValue`: 2,500 calls, [`READ_CONCURRENCY`] at a time: 625 × 150 ms ≈ 94 s
//!   (~27 calls/s, well inside Secrets Manager's 100 a second; throttling is retried with
//!   backoff), overlapping the listing: the next page is listed while the last one is read;
//! * S3: 3 `PutObject`s (a few MB of CIDRs and usernames at most);
//!
//! about 95 s against a 300 s timeout (template.yaml); 100,000 users about 190 s. Listing then
//! reading took the sum, 170 s and 340 s. The design this replaces read every secret once per
//! family: 2 × (500 + 2,500) = 6,000 calls, now 3,000. Each batch is folded into the desired
//! CIDRs as it arrives, so only a few batches of secret strings are held at once.

use std::collections::BTreeMap;

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use serde_json::Value;
use warden_aws::secrets::{SecretsError, UserSecrets};
use warden_aws::throttle_backoff;
use warden_aws::work::{WorkError, WorkStore};
use warden_core::admins::AdminDirectory;
use warden_core::prefix_lists::report::{UsersCounted, UsersRead};
use warden_core::prefix_lists::{AddressFamily, Desired, files};
use warden_core::trigger::{self, RequestError};
use warden_core::user::Role;
use warden_core::work::Run;
use warden_core::{ErrorName, Named, Rules, text};

/// `BatchGetSecretValue` calls in flight at once: ~27 calls/s at 150 ms a call, a quarter of
/// Secrets Manager's 100 a second (per Region, not adjustable), leaving room for a validation
/// run reading at the same time.
const READ_CONCURRENCY: usize = 4;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadRequest {
    /// The execution's input: a CloudTrail event, a scheduled event, or an operator's request.
    #[serde(default)]
    input: Value,
    run: Run,
}

#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error("maxRemovalShare must be a number from 0 to 1, got {0}")]
    BadShare(String),
}

impl Named for ReadError {
    fn name(&self) -> ErrorName {
        match self {
            ReadError::Request(RequestError::NotAnSftpUser(_)) => ErrorName::NotAnSftpUser,
            ReadError::Request(RequestError::NotTheCurrentValue(_)) => {
                ErrorName::NotTheCurrentValue
            }
            ReadError::Request(RequestError::Unsupported(_)) | ReadError::BadShare(_) => {
                ErrorName::UnsupportedInput
            }
            ReadError::Secrets(e) => e.name(),
            ReadError::Work(e) => e.name(),
        }
    }
}

impl From<ReadError> for Diagnostic {
    fn from(err: ReadError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

/// An operator may lift the removal cap for one run (`{"mode": "all", "maxRemovalShare": 1}`)
/// after checking a refused run; events from EventBridge never carry the key.
fn share_override(input: &Value) -> Result<Option<f64>, ReadError> {
    if input.get("detail-type").is_some() {
        return Ok(None);
    }
    match input.get("maxRemovalShare") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .filter(|s| (0.0..=1.0).contains(s))
            .map(Some)
            .ok_or_else(|| ReadError::BadShare(text::escape_unsafe(&v.to_string(), 40))),
    }
}

async fn handler(
    secrets: &UserSecrets,
    work: &WorkStore,
    rules: &Rules,
    event: LambdaEvent<ReadRequest>,
) -> Result<UsersCounted, ReadError> {
    let ReadRequest { input, run } = event.payload;
    // The input is checked before anything is read: a wrong one fails in milliseconds.
    let request = trigger::request_from_event(&input, secrets.prefix())?;
    let mut users = UsersRead {
        trigger: Some(request.trigger),
        event: request.event,
        max_removal_share: share_override(&input)?,
        ..UsersRead::default()
    };

    let mut desired = Desired::default();
    let mut super_admin_secrets = Vec::new();
    // Listing and reading overlap; each batch is folded in as it arrives, so only a few
    // batches of secret strings are held at once. A listing that fails part-way fails the
    // step (retried by the state machine): a partial list would look like removed users.
    secrets
        .read_every_user(READ_CONCURRENCY, throttle_backoff(), |batch_users, read| {
            match read {
                Ok(batch) => {
                    users.secret_reads += batch.calls;
                    for secret in &batch.secrets {
                        users.users_read += 1;
                        desired.add_secret(&secret.username, secret.secret.expose(), rules);
                        if Role::of(&secret.username) == Role::SuperAdmin {
                            super_admin_secrets.push(secret.clone());
                        }
                    }
                    users.unreadable.extend(
                        batch
                            .errors
                            .iter()
                            .map(|e| format!("{} ({})", e.username, e.error)),
                    );
                }
                // Retried already; these users' CIDRs are unknown for this run.
                Err(e) => {
                    users.secret_reads += 1;
                    tracing::error!(
                        error = %e.name(),
                        users = batch_users.len(),
                        "A batch of secrets could not be read: {e}"
                    );
                    users
                        .unreadable
                        .extend(batch_users.iter().map(|u| format!("{u} ({})", e.name())));
                }
            }
        })
        .await?;
    users.super_admins = AdminDirectory::from_secrets(
        super_admin_secrets
            .iter()
            .map(|s| (s.username.as_str(), s.secret.expose())),
    )
    .super_admin_emails();

    let mut counts = BTreeMap::new();
    for family in AddressFamily::ALL {
        let entries = desired.entries(family);
        counts.insert(family, entries.len());
        work.put_json(&files::desired(&run, family), &entries)
            .await?;
    }
    work.put_json(&run.key(files::USERS), &users).await?;
    tracing::info!(
        users_read = users.users_read,
        unreadable = users.unreadable.len(),
        secret_reads = users.secret_reads,
        ipv4 = counts.get(&AddressFamily::V4).copied().unwrap_or_default(),
        ipv6 = counts.get(&AddressFamily::V6).copied().unwrap_or_default(),
        "Step 3.4 : Read every user's CIDRs"
    );
    Ok(users.counted(counts))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let rules = env.rules()?;
    let aws = warden_lambda::aws_config().await;
    let secrets = UserSecrets::from_config(&aws, env.secret_prefix());
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    run(service_fn(|event| handler(&secrets, &work, &rules, event))).await
}

#[cfg(test)]
mod tests;
