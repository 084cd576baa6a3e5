//! Plan one address family's prefix-list changes (DESIGN.md section 5): reads the CIDRs "read
//! every user's CIDRs" left in the work bucket, then the managed lists and their entries (one
//! `DescribeManagedPrefixLists`, one `GetManagedPrefixListEntries` per list and 100 entries),
//! and writes each list's steps to the work bucket, one file per step of at most 100 entries.
//! The state gets the lists' ids, versions and step counts: bounded by the number of lists, so
//! a plan of any number of additions fits (a plan of 10,000 additions is 100 step files).
//! Writes nothing to EC2.
//!
//! The secrets were read before the lists, so the versions the writes are guarded by are as
//! fresh as they can be. A secret that could not be read makes the plan keep every entry.
//!
//! At 50,000 users (paper figures): one `GetObject` of the family's desired CIDRs (a few MB),
//! 1 + L EC2 reads (1 + 10 L on EC2, which pages entries 100 at a time), and one `PutObject`
//! per step (Σ ceil(changes per list / 100), 16 at a time): seconds, against a 120 s timeout.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use warden_aws::work::{WorkError, WorkStore};
use warden_core::prefix_lists::report::{FamilyRun, PlanRecord, UsersRead};
use warden_core::prefix_lists::{
    AddressFamily, Desired, DesiredCidr, Plan, PlanSettings, PrefixList, Readiness, Step, Withheld,
    files, plan_family,
};
use warden_core::work::Run;
use warden_core::{ErrorName, Named};
use warden_ec2::{Ec2Error, PrefixLists};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PlanRequest {
    family: AddressFamily,
    run: Run,
}

#[derive(Debug, thiserror::Error)]
enum PlanError {
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    #[error("prefix list {0} is still applying a change; the plan waits for it")]
    Busy(String),
}

impl Named for PlanError {
    fn name(&self) -> ErrorName {
        match self {
            PlanError::Work(e) => e.name(),
            PlanError::Ec2(e) => e.name(),
            PlanError::Busy(_) => ErrorName::PrefixListBusy,
        }
    }
}

impl From<PlanError> for Diagnostic {
    fn from(err: PlanError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler(
    ec2: &PrefixLists,
    work: &WorkStore,
    settings: &PlanSettings,
    event: LambdaEvent<PlanRequest>,
) -> Result<FamilyRun, PlanError> {
    let PlanRequest { family, run } = event.payload;
    let users: UsersRead = work.get_json(&run.key(files::USERS)).await?;
    let entries: Vec<DesiredCidr> = work.get_json(&files::desired(&run, family)).await?;
    let desired = Desired::from_entries(&entries);
    let settings = PlanSettings {
        max_removal_share: users
            .max_removal_share
            .unwrap_or(settings.max_removal_share),
        ..settings.clone()
    };

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
    let reads = ec2.calls().reads - reads_before;
    let plan = plan_family(family, &lists, &desired, &users.unreadable, &settings);
    log_plan(family, &plan, &users);

    let steps: Vec<(String, Step)> = plan
        .lists
        .iter()
        .flat_map(|list| {
            list.pending
                .iter()
                .enumerate()
                .map(|(n, step)| (files::step(&run, family, &list.id, n), step.clone()))
        })
        .collect();
    work.put_all(&steps).await?;
    work.put_json(&files::plan(&run, family), &PlanRecord::of(family, &plan))
        .await?;
    Ok(FamilyRun::planned(family, &plan, reads))
}

fn log_plan(family: AddressFamily, plan: &Plan, users: &UsersRead) {
    let family = family.as_str();
    tracing::info!(
        family,
        users_read = users.users_read,
        unreadable = users.unreadable.len(),
        desired = plan.desired,
        lists = plan.lists.len(),
        writes = plan.writes(),
        "Step 3.5 : Compared the prefix lists with the users' CIDRs"
    );
    for list in &plan.lists {
        let (mut add, mut remove) = (0, 0);
        for step in &list.pending {
            match step {
                Step::Add(e) => add += e.len(),
                Step::Remove(c) => remove += c.len(),
            }
        }
        tracing::info!(family, list = %list.id, name = %list.name, entries = list.entries, max_entries = list.max_entries, add, remove, writes = list.pending.len(), "Step 3.6 : Planned the changes of a list");
    }
    for overflow in &plan.overflow {
        tracing::warn!(family, cidr = %overflow.cidr, users = ?overflow.users, "Step 3.8 : No prefix list has room for this CIDR");
    }
    match &plan.removals_withheld {
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
    let settings = env.plan_settings()?;
    let aws = warden_lambda::aws_config().await;
    let ec2 = PrefixLists::from_config(&aws);
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    run(service_fn(|event| handler(&ec2, &work, &settings, event))).await
}

#[cfg(test)]
mod tests;
