//! Start the runs for one secret change: one execution of each monitoring state machine per
//! EventBridge event, named after the event's id. EventBridge delivers at least once; a second
//! delivery of the same event asks for the same names and nothing runs twice: Step Functions
//! answers `ExecutionAlreadyExists` when the first run has finished, and, while it is still
//! running, succeeds with the first run's own ARN and start date (StartExecution is idempotent
//! for the same name and input). A start date older than the request marks that case.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sfn::primitives::DateTime;
use backon::Retryable;
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Serialize;
use serde_json::Value;
use warden_aws::throttle_backoff;
use warden_core::{ErrorName, Named};

/// Step Functions execution names: at most 80 characters of `A-Za-z0-9-_`.
const MAX_NAME: usize = 80;

/// Clock difference tolerated between this function and Step Functions when telling a new
/// execution from one an earlier delivery started that is still running.
const CLOCK_TOLERANCE_SECS: i64 = 2;

#[derive(Debug, thiserror::Error)]
enum StartRunsError {
    #[error("the event has no id to name its executions after")]
    EventWithoutId,
    #[error("Step Functions throttled StartExecution of {0}")]
    Throttled(String),
    #[error("StartExecution of {state_machine} failed: {message}")]
    NotStarted {
        state_machine: String,
        message: String,
    },
}

impl Named for StartRunsError {
    fn name(&self) -> ErrorName {
        match self {
            StartRunsError::EventWithoutId => ErrorName::EventWithoutId,
            StartRunsError::Throttled(_) => ErrorName::StatesThrottled,
            StartRunsError::NotStarted { .. } => ErrorName::ExecutionNotStarted,
        }
    }
}

impl From<StartRunsError> for Diagnostic {
    fn from(err: StartRunsError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

#[derive(Debug, Default, PartialEq, Serialize)]
struct Started {
    /// Started by this delivery (or by one less than `CLOCK_TOLERANCE_SECS` earlier).
    started: Vec<String>,
    /// Already started by an earlier delivery of the same event (running or finished).
    duplicates: Vec<String>,
}

/// `<state machine name>-<event id>`, reduced to the characters and length Step Functions allows.
fn execution_name(state_machine_arn: &str, event_id: &str) -> String {
    let machine = state_machine_arn
        .rsplit(':')
        .next()
        .unwrap_or(state_machine_arn);
    let name: String = format!("{machine}-{event_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Keep the end: the event id is what makes the name unique.
    let skip = name.len().saturating_sub(MAX_NAME);
    name[skip..].to_owned()
}

/// True when the execution StartExecution answered with began before this request was sent:
/// the idempotent answer for an execution an earlier delivery started and that still runs.
fn started_before(start: &DateTime, asked_at: &DateTime) -> bool {
    start.secs() < asked_at.secs() - CLOCK_TOLERANCE_SECS
}

async fn handler(
    sfn: &Client,
    state_machines: &[String],
    event: LambdaEvent<Value>,
) -> Result<Started, StartRunsError> {
    let id = event
        .payload
        .get("id")
        .and_then(Value::as_str)
        .ok_or(StartRunsError::EventWithoutId)?;
    let input = event.payload.to_string();
    let mut result = Started::default();
    for arn in state_machines {
        let name = execution_name(arn, id);
        let asked_at = DateTime::from(std::time::SystemTime::now());
        let start = || {
            sfn.start_execution()
                .state_machine_arn(arn)
                .name(&name)
                .input(&input)
                .send()
        };
        // Throttling that outlasts the SDK's own retries is retried again with backoff before
        // the event is handed back to EventBridge's retry policy.
        match start
            .retry(throttle_backoff())
            .when(|e| e.code() == Some("ThrottlingException"))
            .await
        {
            Ok(out) if started_before(out.start_date(), &asked_at) => result.duplicates.push(name),
            Ok(_) => result.started.push(name),
            Err(err) if err.code() == Some("ExecutionAlreadyExists") => {
                result.duplicates.push(name)
            }
            Err(err) if err.code() == Some("ThrottlingException") => {
                return Err(StartRunsError::Throttled(arn.clone()));
            }
            Err(err) => {
                return Err(StartRunsError::NotStarted {
                    state_machine: arn.clone(),
                    message: DisplayErrorContext(&err).to_string(),
                });
            }
        }
    }
    tracing::info!(event_id = id, started = ?result.started, duplicates = ?result.duplicates, "Runs started");
    Ok(result)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let state_machines = warden_lambda::env().list("STATE_MACHINE_ARNS");
    if state_machines.is_empty() {
        return Err("STATE_MACHINE_ARNS must list the state machines to start".into());
    }
    let aws = warden_lambda::aws_config().await;
    let sfn = Client::new(&aws);
    run(service_fn(|event| handler(&sfn, &state_machines, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
    use aws_sdk_sfn::types::error::ExecutionAlreadyExists;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;
    use lambda_runtime::Context;

    const VALIDATION: &str =
        "arn:aws:states:ap-southeast-2:123456789012:stateMachine:secret-validation";
    const SYNC: &str = "arn:aws:states:ap-southeast-2:123456789012:stateMachine:prefix-list-sync";

    fn event() -> LambdaEvent<Value> {
        let text = include_str!("../../../test-events/cloudtrail-put-secret-value.json");
        LambdaEvent::new(serde_json::from_str(text).unwrap(), Context::default())
    }

    fn started() -> StartExecutionOutput {
        StartExecutionOutput::builder()
            .execution_arn("arn:aws:states:ap-southeast-2:123456789012:execution:x:y")
            .start_date(DateTime::from(std::time::SystemTime::now()))
            .build()
            .unwrap()
    }

    /// The idempotent answer for an execution of the same name and input still running.
    fn still_running() -> StartExecutionOutput {
        let minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        StartExecutionOutput::builder()
            .execution_arn("arn:aws:states:ap-southeast-2:123456789012:execution:x:y")
            .start_date(DateTime::from(minute_ago))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn a_second_delivery_while_the_first_run_is_running_starts_nothing_new() {
        let rule = mock!(Client::start_execution).then_output(still_running);
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]);

        let out = handler(&sfn, &[VALIDATION.to_owned(), SYNC.to_owned()], event())
            .await
            .unwrap();

        assert!(out.started.is_empty(), "{out:?}");
        assert_eq!(out.duplicates.len(), 2);
    }

    #[tokio::test]
    async fn each_state_machine_gets_one_execution_named_after_the_event() {
        let rule = mock!(Client::start_execution)
            .match_requests(|r| {
                r.name()
                    .is_some_and(|n| n.ends_with("-6f1c2d9e-3b4a-5c6d-8e7f-0a1b2c3d4e5f"))
                    && r.input().is_some_and(|i| i.contains("PutSecretValue"))
            })
            .then_output(started);
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]);
        let machines = vec![VALIDATION.to_owned(), SYNC.to_owned()];

        let out = handler(&sfn, &machines, event()).await.unwrap();

        assert_eq!(out.started.len(), 2, "{out:?}");
        assert!(out.started[0].starts_with("secret-validation-"));
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_second_delivery_of_the_same_event_starts_nothing_new() {
        let rule = mock!(Client::start_execution).then_error(|| {
            StartExecutionError::ExecutionAlreadyExists(
                ExecutionAlreadyExists::builder()
                    .meta(
                        ErrorMetadata::builder()
                            .code("ExecutionAlreadyExists")
                            .build(),
                    )
                    .build(),
            )
        });
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&rule]);

        let out = handler(&sfn, &[VALIDATION.to_owned()], event())
            .await
            .unwrap();

        assert!(out.started.is_empty());
        assert_eq!(out.duplicates.len(), 1);
    }

    #[tokio::test]
    async fn an_event_without_an_id_is_a_named_error() {
        let sfn = mock_client!(
            aws_sdk_sfn,
            RuleMode::MatchAny,
            [&mock!(Client::start_execution).then_output(started)]
        );
        let event = LambdaEvent::new(serde_json::json!({"detail": {}}), Context::default());

        let err = handler(&sfn, &[VALIDATION.to_owned()], event)
            .await
            .unwrap_err();

        assert_eq!(Diagnostic::from(err).error_type, "EventWithoutId");
    }

    #[test]
    fn execution_names_keep_to_step_functions_rules() {
        let name = execution_name(VALIDATION, &"x:y/z".repeat(30));
        assert!(name.len() <= MAX_NAME);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(execution_name(SYNC, "abc"), "prefix-list-sync-abc");
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        use warden_core::Named;
        let listed = warden_core::registry::function("start-runs").unwrap();
        let errors = [
            StartRunsError::EventWithoutId,
            StartRunsError::Throttled("sm".into()),
            StartRunsError::NotStarted {
                state_machine: "sm".into(),
                message: "m".into(),
            },
        ];
        for err in &errors {
            assert!(listed.reports(err.name()), "{}", err.name());
        }
    }
}
