//! Remove one batch (at most 100) of CIDRs from one managed prefix list: the first pending step
//! of the list's work, as one `ModifyManagedPrefixList` call guarded by the version the run
//! last knew.
//!
//! When the version no longer matches (someone changed the list, or this step already ran and
//! its answer was lost) the list is read again and only the CIDRs still there are removed, at
//! the live version. A list still applying a change answers `IncorrectState`: reported as
//! `PrefixListBusy`, which the state machine retries after a wait. Nothing here sleeps.

use std::collections::BTreeSet;

use ipnet::IpNet;
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_core::prefix_lists::{ListWork, Readiness, Step};
use warden_core::{ErrorName, Named};
use warden_ec2::{Change, Ec2Error, PrefixLists};

#[derive(Debug, thiserror::Error)]
enum RemoveError {
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
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

async fn handler(ec2: &PrefixLists, event: LambdaEvent<ListWork>) -> Result<ListWork, RemoveError> {
    let mut work = event.payload;
    let Some(Step::Remove(batch)) = work.pending.first().cloned() else {
        return Err(RemoveError::NotARemoval(work.id));
    };
    let before = ec2.calls();
    let outcome = remove(ec2, &mut work, batch).await;
    let after = ec2.calls();
    work.reads += after.reads - before.reads;
    work.writes += after.writes - before.writes;
    outcome?;
    Ok(work)
}

async fn remove(
    ec2: &PrefixLists,
    work: &mut ListWork,
    batch: Vec<IpNet>,
) -> Result<(), RemoveError> {
    match ec2
        .modify(&work.id, &work.name, work.version, Change::Remove(&batch))
        .await
    {
        Ok(version) => {
            log_removed(work, &batch, version);
            work.removed_batch(batch, version);
            return Ok(());
        }
        Err(Ec2Error::VersionMismatch { .. } | Ec2Error::InvalidModification { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    // Re-read and remove what is still there, at the live version.
    let live = ec2.read(&work.id).await?;
    match live.info.readiness() {
        Readiness::Ready => {}
        Readiness::Busy => return Err(RemoveError::Busy(work.id.clone())),
        Readiness::Unusable => {
            return Err(RemoveError::Unusable {
                id: work.id.clone(),
                state: live.info.state,
            });
        }
    }
    work.reread(&live.info, live.entries.len());
    let present: BTreeSet<IpNet> = live.entries.iter().map(|e| e.cidr.trunc()).collect();
    let still_there: Vec<IpNet> = batch.into_iter().filter(|c| present.contains(c)).collect();
    if still_there.is_empty() {
        tracing::info!(list = %work.id, "Step 3.6 : Nothing left to remove: the entries are gone already");
        work.finish_step();
        return Ok(());
    }
    let version = ec2
        .modify(
            &work.id,
            &work.name,
            work.version,
            Change::Remove(&still_there),
        )
        .await?;
    log_removed(work, &still_there, version);
    work.removed_batch(still_there, version);
    Ok(())
}

fn log_removed(work: &ListWork, cidrs: &[IpNet], version: i64) {
    tracing::info!(
        list = %work.id,
        name = %work.name,
        removed = cidrs.len(),
        cidrs = ?cidrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        version,
        "Step 3.6 : Removed CIDRs from the prefix list"
    );
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let ec2 = PrefixLists::from_config(&warden_lambda::aws_config().await);
    run(service_fn(|event| handler(&ec2, event))).await
}

#[cfg(test)]
mod tests;
