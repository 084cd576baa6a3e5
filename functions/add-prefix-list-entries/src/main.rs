//! Add one batch (at most 100) of entries to one managed prefix list: the first pending step of
//! the list's work, as one `ModifyManagedPrefixList` call, with a live capacity check.
//!
//! The check costs no read in the common case: the write carries the version the run last knew
//! (`CurrentVersion`), so EC2 itself guarantees the run's entry count is the live one. When the
//! version no longer matches, or EC2 answers that the list is full, the list is read again:
//! entries already there are skipped (a retried step adds nothing twice), the rest fill the
//! room there is, and what does not fit is returned in `notAdded` for the SuperAdmins.
//! A list still applying a change is reported as `PrefixListBusy` for the state machine to retry.

use std::collections::BTreeSet;

use ipnet::IpNet;
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_core::prefix_lists::{AddFit, ListWork, NewEntry, Readiness, Step, fit_additions};
use warden_core::{ErrorName, Named};
use warden_ec2::{Change, Ec2Error, PrefixLists};

#[derive(Debug, thiserror::Error)]
enum AddError {
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    #[error("prefix list {0} is still applying a change")]
    Busy(String),
    #[error("prefix list {id} cannot be changed in state {state}")]
    Unusable { id: String, state: String },
    #[error("the next step of prefix list {0} is not an addition")]
    NotAnAddition(String),
}

impl Named for AddError {
    fn name(&self) -> ErrorName {
        match self {
            AddError::Ec2(e) => e.name(),
            AddError::Busy(_) => ErrorName::PrefixListBusy,
            AddError::Unusable { .. } => ErrorName::PrefixListUnusable,
            AddError::NotAnAddition(_) => ErrorName::UnsupportedInput,
        }
    }
}

impl From<AddError> for Diagnostic {
    fn from(err: AddError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler(ec2: &PrefixLists, event: LambdaEvent<ListWork>) -> Result<ListWork, AddError> {
    let mut work = event.payload;
    let Some(Step::Add(batch)) = work.pending.first().cloned() else {
        return Err(AddError::NotAnAddition(work.id));
    };
    let before = ec2.calls();
    let outcome = add(ec2, &mut work, &batch).await;
    let after = ec2.calls();
    work.reads += after.reads - before.reads;
    work.writes += after.writes - before.writes;
    outcome?;
    Ok(work)
}

async fn add(ec2: &PrefixLists, work: &mut ListWork, batch: &[NewEntry]) -> Result<(), AddError> {
    // The plan placed these entries where they were absent, at `work.version`.
    let fit = fit_additions(batch, &BTreeSet::new(), work.free());
    if fit.add.is_empty() {
        record(work, fit, None);
        return Ok(());
    }
    match ec2
        .modify(&work.id, &work.name, work.version, Change::Add(&fit.add))
        .await
    {
        Ok(version) => {
            record(work, fit, Some(version));
            return Ok(());
        }
        Err(
            Ec2Error::VersionMismatch { .. }
            | Ec2Error::Full { .. }
            | Ec2Error::InvalidModification { .. },
        ) => {}
        Err(e) => return Err(e.into()),
    }
    // The list is not what the run knew: read it, and fit the batch to what is there now.
    let live = ec2.read(&work.id).await?;
    match live.info.readiness() {
        Readiness::Ready => {}
        Readiness::Busy => return Err(AddError::Busy(work.id.clone())),
        Readiness::Unusable => {
            return Err(AddError::Unusable {
                id: work.id.clone(),
                state: live.info.state,
            });
        }
    }
    work.reread(&live.info, live.entries.len());
    let present: BTreeSet<IpNet> = live.entries.iter().map(|e| e.cidr.trunc()).collect();
    let fit = fit_additions(batch, &present, work.free());
    if fit.add.is_empty() {
        record(work, fit, None);
        return Ok(());
    }
    match ec2
        .modify(&work.id, &work.name, work.version, Change::Add(&fit.add))
        .await
    {
        Ok(version) => {
            record(work, fit, Some(version));
            Ok(())
        }
        // Full at the version just read: nothing of the batch went in.
        Err(Ec2Error::Full { .. }) => {
            let AddFit {
                add,
                present,
                mut not_fitting,
            } = fit;
            not_fitting.splice(0..0, add);
            let nothing_fits = AddFit {
                add: Vec::new(),
                present,
                not_fitting,
            };
            record(work, nothing_fits, None);
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn record(work: &mut ListWork, fit: AddFit, version: Option<i64>) {
    tracing::info!(
        list = %work.id,
        name = %work.name,
        added = fit.add.len(),
        cidrs = ?fit.add.iter().map(|e| e.cidr.to_string()).collect::<Vec<_>>(),
        already_present = fit.present.len(),
        version = ?version,
        "Step 3.7 : Added CIDRs to the prefix list"
    );
    for entry in &fit.not_fitting {
        tracing::warn!(list = %work.id, cidr = %entry.cidr, users = %entry.description, "Step 3.8 : No room for this CIDR in the prefix list");
    }
    work.added_batch(fit.add, fit.not_fitting, version);
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let ec2 = PrefixLists::from_config(&warden_lambda::aws_config().await);
    run(service_fn(|event| handler(&ec2, event))).await
}

#[cfg(test)]
mod tests;
