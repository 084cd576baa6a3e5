//! Confirm that the lists one family's run changed have finished changing: one
//! `DescribeManagedPrefixLists` for all of them. A list still `modify-in-progress` is reported as
//! `PrefixListBusy` (the state machine waits and asks again); one whose last change failed
//! (`modify-failed`, EC2 rolled it back) is marked failed with EC2's state message, so the
//! SuperAdmins hear of it. Lists the run did not write are never asked about.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_core::prefix_lists::report::FamilyRun;
use warden_core::prefix_lists::{Readiness, StepFailure};
use warden_core::{ErrorName, Named};
use warden_ec2::{Ec2Error, PrefixLists};

#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error(transparent)]
    Ec2(#[from] Ec2Error),
    #[error("prefix lists still applying a change: {0}")]
    Busy(String),
}

impl Named for CheckError {
    fn name(&self) -> ErrorName {
        match self {
            CheckError::Ec2(e) => e.name(),
            CheckError::Busy(_) => ErrorName::PrefixListBusy,
        }
    }
}

impl From<CheckError> for Diagnostic {
    fn from(err: CheckError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler(
    ec2: &PrefixLists,
    event: LambdaEvent<FamilyRun>,
) -> Result<FamilyRun, CheckError> {
    let mut run = event.payload;
    let written: Vec<String> = run
        .lists
        .iter()
        .filter(|l| l.was_written())
        .map(|l| l.id.clone())
        .collect();
    if written.is_empty() {
        return Ok(run);
    }
    let before = ec2.calls().reads;
    let described = ec2.describe(&written).await;
    run.reads += ec2.calls().reads - before;
    let described = described?;

    let busy: Vec<&str> = described
        .iter()
        .filter(|l| l.readiness() == Readiness::Busy)
        .map(|l| l.id.as_str())
        .collect();
    if !busy.is_empty() {
        return Err(CheckError::Busy(busy.join(", ")));
    }
    for list in run.lists.iter_mut().filter(|l| l.was_written()) {
        let Some(info) = described.iter().find(|i| i.id == list.id) else {
            list.failure.get_or_insert(StepFailure {
                error: "PrefixListNotFound".into(),
                cause: format!("{} disappeared during the run", list.id),
            });
            continue;
        };
        if info.state == "modify-failed" {
            tracing::error!(list = %list.id, state_message = ?info.state_message, "A change to the prefix list failed and was rolled back");
            list.failure.get_or_insert(StepFailure {
                error: "PrefixListModifyFailed".into(),
                cause: info
                    .state_message
                    .clone()
                    .unwrap_or_else(|| "EC2 gave no reason".into()),
            });
        }
        list.final_state = Some(info.state.clone());
        tracing::info!(list = %list.id, state = %info.state, version = ?info.version, "Step 3.6 : The prefix list finished changing");
    }
    Ok(run)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let ec2 = PrefixLists::from_config(&warden_lambda::aws_config().await);
    run(service_fn(|event| handler(&ec2, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::Client;
    use aws_sdk_ec2::operation::describe_managed_prefix_lists::DescribeManagedPrefixListsOutput;
    use aws_sdk_ec2::types::{ManagedPrefixList, PrefixListState};
    use aws_smithy_mocks::{Rule, mock, mock_client};
    use lambda_runtime::Context;
    use serde_json::json;

    fn described(state: PrefixListState, message: Option<&'static str>) -> Rule {
        mock!(Client::describe_managed_prefix_lists)
            .match_requests(|r| r.prefix_list_ids() == ["pl-a"])
            .then_output(move || {
                DescribeManagedPrefixListsOutput::builder()
                    .prefix_lists(
                        ManagedPrefixList::builder()
                            .prefix_list_id("pl-a")
                            .prefix_list_name("a-AUTOMATED_PREFIX")
                            .address_family("IPv4")
                            .owner_id("123456789012")
                            .max_entries(10)
                            .version(6)
                            .state(state.clone())
                            .set_state_message(message.map(str::to_owned))
                            .build(),
                    )
                    .build()
            })
    }

    /// pl-a was written by the run, pl-b was not.
    fn family_run() -> LambdaEvent<FamilyRun> {
        let list = |id: &str, writes: usize| {
            json!({"id": id, "name": format!("{id}-AUTOMATED_PREFIX"), "maxEntries": 10,
                   "version": 6, "entries": 1, "addSteps": 1, "done": 1, "next": "done",
                   "added": 1, "writes": writes})
        };
        let run = json!({"family": "IPv4", "lists": [list("pl-a", 2), list("pl-b", 0)]});
        LambdaEvent::new(serde_json::from_value(run).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn only_written_lists_are_confirmed_in_one_call() {
        let rule = described(PrefixListState::ModifyComplete, None);
        let ec2 = PrefixLists::new(mock_client!(aws_sdk_ec2, [&rule]));

        let run = handler(&ec2, family_run()).await.unwrap();

        assert_eq!(rule.num_calls(), 1);
        assert_eq!(run.reads, 1);
        assert_eq!(run.lists[0].final_state.as_deref(), Some("modify-complete"));
        assert_eq!(run.lists[1].final_state, None);
        assert!(run.lists.iter().all(|l| l.failure.is_none()));
    }

    #[tokio::test]
    async fn a_list_still_changing_is_busy_for_the_state_machine_to_wait_on() {
        let rule = described(PrefixListState::ModifyInProgress, None);
        let ec2 = PrefixLists::new(mock_client!(aws_sdk_ec2, [&rule]));

        let err = handler(&ec2, family_run()).await.unwrap_err();

        assert_eq!(Diagnostic::from(err).error_type, "PrefixListBusy");
    }

    #[tokio::test]
    async fn a_change_ec2_rolled_back_is_reported_with_its_reason() {
        let rule = described(
            PrefixListState::ModifyFailed,
            Some("The following VPC resources do not support the new max entries"),
        );
        let ec2 = PrefixLists::new(mock_client!(aws_sdk_ec2, [&rule]));

        let run = handler(&ec2, family_run()).await.unwrap();

        let failure = run.lists[0].failure.as_ref().unwrap();
        assert_eq!(failure.error, "PrefixListModifyFailed");
        assert!(failure.cause.contains("do not support"));
    }

    #[tokio::test]
    async fn a_run_that_wrote_nothing_asks_nothing() {
        let rule = described(PrefixListState::ModifyComplete, None);
        let ec2 = PrefixLists::new(mock_client!(aws_sdk_ec2, [&rule]));
        let run = json!({"family": "IPv6", "lists": []});

        let run = handler(
            &ec2,
            LambdaEvent::new(serde_json::from_value(run).unwrap(), Context::default()),
        )
        .await
        .unwrap();

        assert_eq!(rule.num_calls(), 0);
        assert_eq!(run.reads, 0);
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        use warden_core::Named;
        let listed = warden_core::registry::function("check-prefix-lists").unwrap();
        let errors = [
            CheckError::Busy("pl-a".into()),
            CheckError::Ec2(Ec2Error::NotFound {
                list: "pl-a".into(),
            }),
        ];
        for err in &errors {
            assert!(listed.reports(err.name()), "{}", err.name());
        }
        for name in warden_core::registry::EC2_READ_ERRORS {
            assert!(listed.reports(*name), "{name}");
        }
    }
}
