//! Add one batch (at most 100) of entries to one managed prefix list: the step the list's state
//! points at, read from the work bucket, as one `ModifyManagedPrefixList` call with a live
//! capacity check. What it did is written beside the step; the state gets the list back one
//! step further, with counts.
//!
//! The check costs no read in the common case: the write carries the version the run last knew
//! (`CurrentVersion`), so EC2 itself guarantees the run's entry count is the live one. When the
//! version no longer matches, or EC2 answers that the list is full, the list is read again:
//! entries already there are skipped (a retried step adds nothing twice), the rest fill the
//! room there is, and what does not fit is recorded as not added, for the SuperAdmins.
//! A list still applying a change is reported as `PrefixListBusy` for the state machine to retry.

use std::collections::BTreeSet;

use ipnet::IpNet;
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_aws::work::{WorkError, WorkStore};
use warden_core::prefix_lists::{
    AddFit, ListWork, NewEntry, NextStep, Readiness, Step, StepOutcome, StepRequest, files,
    fit_additions,
};
use warden_core::{ErrorName, Named};
use warden_ec2::{Change, Ec2Error, PrefixLists};

#[derive(Debug, thiserror::Error)]
enum AddError {
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    #[error(transparent)]
    Work(#[from] WorkError),
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
            AddError::Work(e) => e.name(),
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

async fn handler(
    ec2: &PrefixLists,
    work: &WorkStore,
    event: LambdaEvent<StepRequest>,
) -> Result<ListWork, AddError> {
    let StepRequest {
        run,
        family,
        mut list,
    } = event.payload;
    if list.next != NextStep::Add {
        return Err(AddError::NotAnAddition(list.id));
    }
    let step = list.done;
    let Step::Add(batch) = work
        .get_json(&files::step(&run, family, &list.id, step))
        .await?
    else {
        return Err(AddError::NotAnAddition(list.id));
    };
    let before = ec2.calls();
    let outcome = add(ec2, &mut list, &batch).await;
    let after = ec2.calls();
    list.reads += after.reads - before.reads;
    list.writes += after.writes - before.writes;
    let (fit, version) = outcome?;
    log_added(&list, &fit, version);
    let done = StepOutcome {
        family,
        list: list.id.clone(),
        step,
        removed: Vec::new(),
        added: fit.add.iter().map(|e| e.cidr).collect(),
        not_added: fit.not_fitting.clone(),
        version,
    };
    work.put_json(&files::outcome(&run, family, &list.id, step), &done)
        .await?;
    list.added_batch(&fit.add, fit.not_fitting.len(), version);
    Ok(list)
}

/// Writes the batch; returns how it met the list and the version the write took it to (none
/// when nothing was written).
async fn add(
    ec2: &PrefixLists,
    list: &mut ListWork,
    batch: &[NewEntry],
) -> Result<(AddFit, Option<i64>), AddError> {
    // The plan placed these entries where they were absent, at `list.version`.
    let fit = fit_additions(batch, &BTreeSet::new(), list.free());
    if fit.add.is_empty() {
        return Ok((fit, None));
    }
    match ec2
        .modify(&list.id, &list.name, list.version, Change::Add(&fit.add))
        .await
    {
        Ok(version) => return Ok((fit, Some(version))),
        Err(
            Ec2Error::VersionMismatch { .. }
            | Ec2Error::Full { .. }
            | Ec2Error::InvalidModification { .. },
        ) => {}
        Err(e) => return Err(e.into()),
    }
    // The list is not what the run knew: read it, and fit the batch to what is there now.
    let live = ec2.read(&list.id).await?;
    match live.info.readiness() {
        Readiness::Ready => {}
        Readiness::Busy => return Err(AddError::Busy(list.id.clone())),
        Readiness::Unusable => {
            return Err(AddError::Unusable {
                id: list.id.clone(),
                state: live.info.state,
            });
        }
    }
    list.reread(&live.info, live.entries.len());
    let present: BTreeSet<IpNet> = live.entries.iter().map(|e| e.cidr.trunc()).collect();
    let fit = fit_additions(batch, &present, list.free());
    if fit.add.is_empty() {
        return Ok((fit, None));
    }
    match ec2
        .modify(&list.id, &list.name, list.version, Change::Add(&fit.add))
        .await
    {
        Ok(version) => Ok((fit, Some(version))),
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
            Ok((nothing_fits, None))
        }
        Err(e) => Err(e.into()),
    }
}

fn log_added(list: &ListWork, fit: &AddFit, version: Option<i64>) {
    tracing::info!(
        list = %list.id,
        name = %list.name,
        step = list.done,
        added = fit.add.len(),
        cidrs = ?fit.add.iter().map(|e| e.cidr.to_string()).collect::<Vec<_>>(),
        already_present = fit.present.len(),
        version = ?version,
        "Step 3.7 : Added CIDRs to the prefix list"
    );
    for entry in &fit.not_fitting {
        tracing::warn!(list = %list.id, cidr = %entry.cidr, users = %entry.description, "Step 3.8 : No room for this CIDR in the prefix list");
    }
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
