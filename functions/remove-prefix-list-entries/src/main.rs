//! Remove one batch (at most 100) of CIDRs from one managed prefix list: the step the list's
//! state points at, read from the work bucket, as one `ModifyManagedPrefixList` call guarded by
//! the version the run last knew. What it did is written beside the step; the state gets the
//! list back one step further, with counts.
//!
//! When the version no longer matches (someone changed the list, or this step already ran and
//! its answer was lost) the list is read again and only the CIDRs still there are removed, at
//! the live version. A list still applying a change answers `IncorrectState`: reported as
//! `PrefixListBusy`, which the state machine retries after a wait. Nothing here sleeps.

use std::collections::BTreeSet;

use ipnet::IpNet;
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_aws::work::{WorkError, WorkStore};
use warden_core::prefix_lists::{
    ListWork, NextStep, Readiness, Step, StepOutcome, StepRequest, files,
};
use warden_core::{ErrorName, Named};
use warden_ec2::{Change, Ec2Error, PrefixLists};

#[derive(Debug, thiserror::Error)]
enum RemoveError {
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error("prefix list {0} is still applying a change")]
    Busy(String),
    #[error("prefix list {id} cannot be changed in state {state}")]
    Unusable { id: String, state: String },
    #[error("the next step of prefix list {0} is not a removal")]
    NotARemoval(String),
}

impl Named for RemoveError {
    fn name(&self) -> ErrorName {
        match self {
            RemoveError::Ec2(e) => e.name(),
            RemoveError::Work(e) => e.name(),
            RemoveError::Busy(_) => ErrorName::PrefixListBusy,
            RemoveError::Unusable { .. } => ErrorName::PrefixListUnusable,
            RemoveError::NotARemoval(_) => ErrorName::UnsupportedInput,
        }
    }
}

impl From<RemoveError> for Diagnostic {
    fn from(err: RemoveError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler(
    ec2: &PrefixLists,
    work: &WorkStore,
    event: LambdaEvent<StepRequest>,
) -> Result<ListWork, RemoveError> {
    let StepRequest {
        run,
        family,
        mut list,
    } = event.payload;
    if list.next != NextStep::Remove {
        return Err(RemoveError::NotARemoval(list.id));
    }
    let step = list.done;
    let Step::Remove(batch) = work
        .get_json(&files::step(&run, family, &list.id, step))
        .await?
    else {
        return Err(RemoveError::NotARemoval(list.id));
    };
    let before = ec2.calls();
    let outcome = remove(ec2, &mut list, batch).await;
    let after = ec2.calls();
    list.reads += after.reads - before.reads;
    list.writes += after.writes - before.writes;
    let (removed, version) = outcome?;
    let done = StepOutcome {
        family,
        list: list.id.clone(),
        step,
        removed: removed.clone(),
        added: Vec::new(),
        not_added: Vec::new(),
        version,
    };
    work.put_json(&files::outcome(&run, family, &list.id, step), &done)
        .await?;
    match version {
        Some(version) => list.removed_batch(&removed, version),
        None => list.finish_step(),
    }
    Ok(list)
}

/// Removes the batch; returns what was removed and the version that took the list to (none
/// when nothing was left to remove).
async fn remove(
    ec2: &PrefixLists,
    list: &mut ListWork,
    batch: Vec<IpNet>,
) -> Result<(Vec<IpNet>, Option<i64>), RemoveError> {
    match ec2
        .modify(&list.id, &list.name, list.version, Change::Remove(&batch))
        .await
    {
        Ok(version) => {
            log_removed(list, &batch, version);
            return Ok((batch, Some(version)));
        }
        Err(Ec2Error::VersionMismatch { .. } | Ec2Error::InvalidModification { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    // Re-read and remove what is still there, at the live version.
    let live = ec2.read(&list.id).await?;
    match live.info.readiness() {
        Readiness::Ready => {}
        Readiness::Busy => return Err(RemoveError::Busy(list.id.clone())),
        Readiness::Unusable => {
            return Err(RemoveError::Unusable {
                id: list.id.clone(),
                state: live.info.state,
            });
        }
    }
    list.reread(&live.info, live.entries.len());
    let present: BTreeSet<IpNet> = live.entries.iter().map(|e| e.cidr.trunc()).collect();
    let still_there: Vec<IpNet> = batch.into_iter().filter(|c| present.contains(c)).collect();
    if still_there.is_empty() {
        tracing::info!(list = %list.id, "Step 3.6 : Nothing left to remove: the entries are gone already");
        return Ok((Vec::new(), None));
    }
    let version = ec2
        .modify(
            &list.id,
            &list.name,
            list.version,
            Change::Remove(&still_there),
        )
        .await?;
    log_removed(list, &still_there, version);
    Ok((still_there, Some(version)))
}

fn log_removed(list: &ListWork, cidrs: &[IpNet], version: i64) {
    tracing::info!(
        list = %list.id,
        name = %list.name,
        step = list.done,
        removed = cidrs.len(),
        cidrs = ?cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        version,
        "Step 3.6 : Removed CIDRs from the prefix list"
    );
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let aws = warden_lambda::aws_config().await;
    let ec2 = PrefixLists::from_config(&aws);
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    run(service_fn(|event| handler(&ec2, &work, event))).await
}

#[cfg(test)]
mod tests;
