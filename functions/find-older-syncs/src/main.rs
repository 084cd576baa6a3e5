//! Look for an older run of the prefix-list sync that is still running (DESIGN.md section 5:
//! one sync at a time). One `ListExecutions` (status `RUNNING`, the sync's own state machine,
//! one call per 1,000 running runs); the runs that started before this one are counted, and the
//! state machine waits (`Wait` with `SecondsPath`, then asks again; each wait doubles, up to four
//! times `SYNC_WAIT_SECONDS`) while there are any. After
//! [`MAX_WAIT_ROUNDS`] checks the answer says to give up, and the run fails naming the older run.
//!
//! Nothing here sleeps: the waiting is the state machine's, which costs no Lambda time.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sfn::types::ExecutionStatus;
use backon::{ExponentialBuilder, Retryable};
use chrono::{DateTime, Utc};
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use warden_aws::throttle_backoff;
use warden_core::prefix_lists::queue::{
    MAX_WAIT_ROUNDS, OlderSyncs, RunningExecution, older_syncs, older_than,
};
use warden_core::{ErrorName, Named, text};

/// The state machine passes its context: `$$.StateMachine.Id`, `$$.Execution.Id`,
/// `$$.Execution.StartTime`, and the checks made so far.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FindRequest {
    state_machine: String,
    execution: String,
    start_time: String,
    #[serde(default)]
    round: u32,
}

#[derive(Debug, thiserror::Error)]
enum FindError {
    #[error("Step Functions throttled ListExecutions of {0}")]
    Throttled(String),
    #[error("ListExecutions of {state_machine} failed: {message}")]
    Unlisted {
        state_machine: String,
        message: String,
    },
    #[error("the execution start time {0} is not an ISO 8601 date")]
    BadStartTime(String),
}

impl Named for FindError {
    fn name(&self) -> ErrorName {
        match self {
            FindError::Throttled(_) => ErrorName::StatesThrottled,
            FindError::Unlisted { .. } => ErrorName::ExecutionsUnlisted,
            FindError::BadStartTime(_) => ErrorName::UnsupportedInput,
        }
    }
}

impl From<FindError> for Diagnostic {
    fn from(err: FindError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

/// Read once at cold start.
struct Config {
    /// `SYNC_WAIT_SECONDS`: the `Wait` between two checks.
    wait_seconds: u64,
    /// How throttled `ListExecutions` calls are retried (in production [`throttle_backoff`]).
    backoff: ExponentialBuilder,
}

async fn handler(
    sfn: &Client,
    config: &Config,
    event: LambdaEvent<FindRequest>,
) -> Result<OlderSyncs, FindError> {
    let request = event.payload;
    let my_start = DateTime::parse_from_rfc3339(&request.start_time)
        .map_err(|_| FindError::BadStartTime(text::escape_unsafe(&request.start_time, 60)))?
        .with_timezone(&Utc);
    let running = running(sfn, &request.state_machine, config.backoff).await?;
    let older = older_than(&request.execution, my_start, &running);
    let answer = older_syncs(request.round.saturating_add(1), &older, config.wait_seconds);
    if answer.give_up {
        tracing::error!(oldest = ?answer.oldest, round = answer.round, "An older sync is still running: this run gives up");
    } else {
        tracing::info!(older = answer.older, oldest = ?answer.oldest, round = answer.round, max_rounds = MAX_WAIT_ROUNDS, "Checked for older syncs still running");
    }
    Ok(answer)
}

/// Every running execution of the state machine (1,000 per page).
async fn running(
    sfn: &Client,
    state_machine: &str,
    backoff: ExponentialBuilder,
) -> Result<Vec<RunningExecution>, FindError> {
    let mut running = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let list = || {
            sfn.list_executions()
                .state_machine_arn(state_machine)
                .status_filter(ExecutionStatus::Running)
                .max_results(1000)
                .set_next_token(token.clone())
                .send()
        };
        // Throttling that outlasts the SDK's own retries is retried again here, then handed
        // to the state machine's Retry as StatesThrottled.
        let page = list
            .retry(backoff)
            .when(|e| e.code() == Some("ThrottlingException"))
            .await
            .map_err(|e| match e.code() {
                Some("ThrottlingException") => FindError::Throttled(state_machine.to_owned()),
                _ => FindError::Unlisted {
                    state_machine: state_machine.to_owned(),
                    message: DisplayErrorContext(&e).to_string(),
                },
            })?;
        running.extend(page.executions().iter().map(|e| {
            RunningExecution {
                arn: e.execution_arn().to_owned(),
                name: e.name().to_owned(),
                started: DateTime::from_timestamp(
                    e.start_date().secs(),
                    e.start_date().subsec_nanos(),
                )
                .unwrap_or_default(),
            }
        }));
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(running);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let config = Config {
        wait_seconds: warden_lambda::env().sync_wait_seconds()?,
        backoff: throttle_backoff(),
    };
    let aws = warden_lambda::aws_config().await;
    let sfn = Client::new(&aws);
    run(service_fn(|event| handler(&sfn, &config, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::operation::list_executions::{ListExecutionsError, ListExecutionsOutput};
    use aws_sdk_sfn::primitives::DateTime as SfnDateTime;
    use aws_sdk_sfn::types::ExecutionListItem;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;
    use aws_smithy_types::retry::RetryConfig;
    use lambda_runtime::Context;
    use serde_json::json;

    const MACHINE: &str =
        "arn:aws:states:ap-southeast-2:123456789012:stateMachine:prefix-list-sync";
    const EXECUTIONS: &str =
        "arn:aws:states:ap-southeast-2:123456789012:execution:prefix-list-sync";
    /// 2025-11-24T16:00:00Z.
    const T0: i64 = 1_764_000_000;

    fn item(name: &str, millis: i64) -> ExecutionListItem {
        ExecutionListItem::builder()
            .execution_arn(format!("{EXECUTIONS}:{name}"))
            .state_machine_arn(MACHINE)
            .name(name)
            .status(ExecutionStatus::Running)
            .start_date(SfnDateTime::from_millis(T0 * 1000 + millis))
            .build()
            .unwrap()
    }

    fn request(name: &str, start_time: &str, round: u32) -> LambdaEvent<FindRequest> {
        let payload = json!({"stateMachine": MACHINE, "execution": format!("{EXECUTIONS}:{name}"),
                             "startTime": start_time, "round": round});
        LambdaEvent::new(serde_json::from_value(payload).unwrap(), Context::default())
    }

    /// Throttling retried five times, quickly.
    fn config(wait_seconds: u64) -> Config {
        Config {
            wait_seconds,
            backoff: ExponentialBuilder::default()
                .with_min_delay(std::time::Duration::from_millis(1))
                .with_max_times(5),
        }
    }

    fn client(rules: &[&aws_smithy_mocks::Rule]) -> Client {
        mock_client!(aws_sdk_sfn, RuleMode::MatchAny, rules, |c| c
            .retry_config(RetryConfig::disabled()))
    }

    #[tokio::test]
    async fn a_run_with_an_older_one_running_is_told_to_wait_and_for_how_long() {
        let rule = mock!(Client::list_executions)
            .match_requests(|r| {
                r.state_machine_arn() == Some(MACHINE)
                    && r.status_filter() == Some(&ExecutionStatus::Running)
            })
            .then_output(|| {
                ListExecutionsOutput::builder()
                    .executions(item("newer", 900))
                    .executions(item("me", 500))
                    .executions(item("weekly", 100))
                    .build()
                    .unwrap()
            });
        let sfn = client(&[&rule]);

        let answer = handler(
            &sfn,
            &config(30),
            request("me", "2025-11-24T16:00:00.500Z", 0),
        )
        .await
        .unwrap();

        assert_eq!(answer.older, 1);
        assert_eq!(answer.oldest.as_deref(), Some("weekly"));
        assert_eq!((answer.round, answer.wait_seconds), (1, 30));
        assert!(!answer.give_up);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_run_alone_goes_ahead_at_once() {
        let rule = mock!(Client::list_executions).then_output(|| {
            ListExecutionsOutput::builder()
                .executions(item("me", 500))
                .build()
                .unwrap()
        });
        let sfn = client(&[&rule]);

        // The context's start time as moto writes it (microseconds, +00:00).
        let answer = handler(
            &sfn,
            &config(30),
            request("me", "2025-11-24T16:00:00.500123+00:00", 3),
        )
        .await
        .unwrap();

        assert_eq!((answer.older, answer.round), (0, 4));
    }

    #[tokio::test]
    async fn every_page_of_running_runs_is_read() {
        let first = mock!(Client::list_executions)
            .match_requests(|r| r.next_token().is_none())
            .then_output(|| {
                ListExecutionsOutput::builder()
                    .executions(item("me", 500))
                    .next_token("page-2")
                    .build()
                    .unwrap()
            });
        let second = mock!(Client::list_executions)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                ListExecutionsOutput::builder()
                    .executions(item("weekly", 100))
                    .build()
                    .unwrap()
            });
        let sfn = client(&[&first, &second]);

        let answer = handler(
            &sfn,
            &config(1),
            request("me", "2025-11-24T16:00:00.500Z", 0),
        )
        .await
        .unwrap();

        assert_eq!(answer.older, 1);
    }

    #[tokio::test]
    async fn the_last_check_with_an_older_run_still_there_gives_up() {
        let rule = mock!(Client::list_executions).then_output(|| {
            ListExecutionsOutput::builder()
                .executions(item("me", 500))
                .executions(item("stuck", 100))
                .build()
                .unwrap()
        });
        let sfn = client(&[&rule]);

        let answer = handler(
            &sfn,
            &config(30),
            request("me", "2025-11-24T16:00:00.500Z", MAX_WAIT_ROUNDS - 1),
        )
        .await
        .unwrap();

        assert!(answer.give_up);
        assert!(answer.message.contains("stuck"), "{}", answer.message);
    }

    #[tokio::test]
    async fn throttling_and_other_failures_have_their_own_names() {
        let throttled = mock!(Client::list_executions).then_error(|| {
            ListExecutionsError::generic(
                ErrorMetadata::builder().code("ThrottlingException").build(),
            )
        });
        let sfn = client(&[&throttled]);
        let err = handler(&sfn, &config(1), request("me", "2025-11-24T16:00:00Z", 0))
            .await
            .unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "StatesThrottled");
        assert_eq!(throttled.num_calls(), 6, "retried five times with backoff");

        let denied = mock!(Client::list_executions).then_error(|| {
            ListExecutionsError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .build(),
            )
        });
        let sfn = client(&[&denied]);
        let err = handler(&sfn, &config(1), request("me", "2025-11-24T16:00:00Z", 0))
            .await
            .unwrap_err();
        assert_eq!(Diagnostic::from(err).error_type, "ExecutionsUnlisted");
    }

    #[tokio::test]
    async fn a_start_time_that_is_not_a_date_is_refused_without_a_call() {
        let rule = mock!(Client::list_executions)
            .then_output(|| ListExecutionsOutput::builder().build().unwrap());
        let sfn = client(&[&rule]);

        let err = handler(&sfn, &config(1), request("me", "yesterday", 0))
            .await
            .unwrap_err();

        assert_eq!(Diagnostic::from(err).error_type, "UnsupportedInput");
        assert_eq!(rule.num_calls(), 0);
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        let listed = warden_core::registry::function("find-older-syncs").unwrap();
        let errors = [
            FindError::Throttled(MACHINE.into()),
            FindError::Unlisted {
                state_machine: MACHINE.into(),
                message: "x".into(),
            },
            FindError::BadStartTime("x".into()),
        ];
        for err in &errors {
            assert!(listed.reports(err.name()), "{}", err.name());
        }
    }
}
