//! Start the runs for secret changes, and the weekly runs. EventBridge sends every CloudTrail change to an `SFTP/`
//! secret to a queue, which hands this function a batch (up to a minute's worth, so an import of
//! 500 rows is one batch, not 500 runs). Per batch it starts one validation of the changed users
//! and one prefix-list sync, each named after the batch: the same messages always make the same
//! names, so a redelivered batch starts nothing. One EventBridge event invoked directly is a
//! batch of one, named after its id. EventBridge Scheduler's weekly deliveries (`ScheduledRun`)
//! start one execution each, named after the schedule and its ISO week (`weekly-audit-2026-W49`):
//! Scheduler delivers at least once, and a second delivery must not send every notice twice.
//!
//! Step Functions answers a name already used with `ExecutionAlreadyExists` once that run has
//! finished, and, while it still runs, with the first run's own ARN and start date
//! (StartExecution is idempotent for the same name and input): a start date older than the
//! request marks that case. Both are duplicates.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_sfn::primitives::DateTime;
use backon::{ExponentialBuilder, Retryable};
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_aws::throttle_backoff;
use warden_core::trigger::{ChangeBatch, ScheduledMachine, ScheduledRun, gather_changes};
use warden_core::{ErrorName, Named};

/// Clock difference tolerated between this function and Step Functions when telling a new
/// execution from one an earlier delivery started that is still running.
const CLOCK_TOLERANCE_SECS: i64 = 2;

/// What invokes the function: a weekly schedule, or secret changes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Delivery {
    Scheduled(ScheduledRun),
    Changes(Changes),
}

/// Secret changes: the queue's batch, or one EventBridge event.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Changes {
    Queue {
        #[serde(rename = "Records")]
        records: Vec<QueueMessage>,
    },
    Event(Value),
}

/// One SQS message: an EventBridge event as its body.
#[derive(Debug, Deserialize)]
struct QueueMessage {
    #[serde(rename = "messageId")]
    message_id: String,
    body: String,
}

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

/// The state machines a batch of changes starts.
struct Config {
    validation: String,
    sync: String,
    prefix: String,
    backoff: ExponentialBuilder,
}

#[derive(Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Started {
    batch: String,
    /// Change events about SFTP users in the batch, and the others (ignored).
    events: usize,
    ignored: usize,
    /// Started by this delivery (or by one less than `CLOCK_TOLERANCE_SECS` earlier).
    started: Vec<String>,
    /// Already started by an earlier delivery of the same batch (running or finished).
    duplicates: Vec<String>,
}

/// `<state machine name>-changes-<batch id>`, reduced to the characters and length Step
/// Functions allows (the batch id, at the end, is kept).
fn execution_name(state_machine_arn: &str, batch_id: &str) -> String {
    let machine = state_machine_arn
        .rsplit(':')
        .next()
        .unwrap_or(state_machine_arn);
    warden_core::work::execution_name(&format!("{machine}-changes-{batch_id}"))
}

/// True when the execution StartExecution answered with began before this request was sent:
/// the idempotent answer for an execution an earlier delivery started and that still runs.
fn started_before(start: &DateTime, asked_at: &DateTime) -> bool {
    start.secs() < asked_at.secs() - CLOCK_TOLERANCE_SECS
}

/// The batch a delivery carries. A message whose body is not JSON is counted and ignored: it
/// cannot be a change event, and failing the batch for it would hold back every other change.
fn batch_of(changes: Changes, prefix: &str) -> Result<ChangeBatch, StartRunsError> {
    let messages: Vec<(String, Value)> = match changes {
        Changes::Queue { records } => records
            .into_iter()
            .map(|m| {
                let event = serde_json::from_str(&m.body).unwrap_or_else(|_| {
                    tracing::warn!(message = %m.message_id, "Queued message is not an event; ignored");
                    Value::Null
                });
                (m.message_id, event)
            })
            .collect(),
        Changes::Event(event) => {
            let id = event
                .get("id")
                .and_then(Value::as_str)
                .ok_or(StartRunsError::EventWithoutId)?
                .to_owned();
            vec![(id, event)]
        }
    };
    Ok(gather_changes(&messages, prefix))
}

/// Starts `arn` as `name` with `input`, retrying throttling; `Ok(true)` when this call started
/// it, `Ok(false)` when an earlier delivery did (running or finished).
async fn start(
    sfn: &Client,
    config: &Config,
    arn: &str,
    name: &str,
    input: &str,
) -> Result<bool, StartRunsError> {
    let asked_at = DateTime::from(std::time::SystemTime::now());
    let start = || {
        sfn.start_execution()
            .state_machine_arn(arn)
            .name(name)
            .input(input)
            .send()
    };
    // Throttling that outlasts the SDK's own retries is retried again with backoff before the
    // delivery goes back to its queue (or to the schedule's retry).
    match start
        .retry(config.backoff)
        .when(|e| e.code() == Some("ThrottlingException"))
        .await
    {
        Ok(out) => Ok(!started_before(out.start_date(), &asked_at)),
        Err(err) if err.code() == Some("ExecutionAlreadyExists") => Ok(false),
        Err(err) if err.code() == Some("ThrottlingException") => {
            Err(StartRunsError::Throttled(arn.to_owned()))
        }
        Err(err) => Err(StartRunsError::NotStarted {
            state_machine: arn.to_owned(),
            message: DisplayErrorContext(&err).to_string(),
        }),
    }
}

/// A weekly schedule: one execution, named after the schedule and its week.
async fn scheduled(
    sfn: &Client,
    config: &Config,
    run: ScheduledRun,
) -> Result<Started, StartRunsError> {
    let arn = match run.state_machine {
        ScheduledMachine::Validation => &config.validation,
        ScheduledMachine::Sync => &config.sync,
    };
    let name = run.execution_name();
    let mut result = Started {
        batch: name.clone(),
        events: 1,
        ..Started::default()
    };
    if start(sfn, config, arn, &name, &run.input.to_string()).await? {
        result.started.push(name);
    } else {
        result.duplicates.push(name);
    }
    tracing::info!(
        schedule = %run.schedule,
        scheduled_time = %run.scheduled_time,
        started = ?result.started,
        duplicates = ?result.duplicates,
        "Scheduled run started"
    );
    Ok(result)
}

async fn handler(
    sfn: &Client,
    config: &Config,
    event: LambdaEvent<Delivery>,
) -> Result<Started, StartRunsError> {
    let batch = match event.payload {
        Delivery::Scheduled(run) => return scheduled(sfn, config, run).await,
        Delivery::Changes(changes) => batch_of(changes, &config.prefix)?,
    };
    let mut result = Started {
        batch: batch.id.clone(),
        events: batch.events,
        ignored: batch.ignored,
        ..Started::default()
    };
    let runs = [
        (&config.validation, batch.validation_input()),
        (&config.sync, batch.sync_input()),
    ];
    for (arn, input) in runs {
        let Some(input) = input else {
            continue;
        };
        let name = execution_name(arn, &batch.id);
        if start(sfn, config, arn, &name, &input.to_string()).await? {
            result.started.push(name);
        } else {
            result.duplicates.push(name);
        }
    }
    tracing::info!(
        batch = %result.batch,
        events = result.events,
        ignored = result.ignored,
        users = batch.usernames.len(),
        started = ?result.started,
        duplicates = ?result.duplicates,
        "Runs started"
    );
    Ok(result)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let config = Config {
        validation: env.required(
            "VALIDATION_STATE_MACHINE_ARN",
            "the ARN of the secret-validation state machine",
        )?,
        sync: env.required(
            "SYNC_STATE_MACHINE_ARN",
            "the ARN of the prefix-list-sync state machine",
        )?,
        prefix: env.secret_prefix(),
        backoff: throttle_backoff(),
    };
    let aws = warden_lambda::aws_config().await;
    let sfn = Client::new(&aws);
    run(service_fn(|event| handler(&sfn, &config, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
    use aws_sdk_sfn::types::error::ExecutionAlreadyExists;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;
    use aws_smithy_types::retry::RetryConfig;
    use lambda_runtime::Context;
    use serde_json::json;
    use std::time::Duration;

    const VALIDATION: &str =
        "arn:aws:states:ap-southeast-2:123456789012:stateMachine:secret-validation";
    const SYNC: &str = "arn:aws:states:ap-southeast-2:123456789012:stateMachine:prefix-list-sync";

    fn config() -> Config {
        Config {
            validation: VALIDATION.into(),
            sync: SYNC.into(),
            prefix: "SFTP/".into(),
            backoff: ExponentialBuilder::default()
                .with_min_delay(Duration::from_micros(10))
                .with_max_times(3),
        }
    }

    fn put_event(secret_id: &str, event_id: &str) -> Value {
        let text = include_str!("../../../test-events/cloudtrail-put-secret-value.json");
        let mut event: Value = serde_json::from_str(text).unwrap();
        event["id"] = json!(event_id);
        event["detail"]["requestParameters"]["secretId"] = json!(secret_id);
        event
    }

    /// An SQS batch as the event source mapping delivers it: each body an EventBridge event.
    fn queued(events: &[Value]) -> LambdaEvent<Delivery> {
        let records: Vec<Value> = events
            .iter()
            .enumerate()
            .map(|(i, e)| json!({"messageId": format!("msg-{i}"), "body": e.to_string()}))
            .collect();
        let delivery = serde_json::from_value(json!({ "Records": records })).unwrap();
        LambdaEvent::new(delivery, Context::default())
    }

    fn direct(event: Value) -> LambdaEvent<Delivery> {
        LambdaEvent::new(serde_json::from_value(event).unwrap(), Context::default())
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

    fn sfn(rules: &[&aws_smithy_mocks::Rule]) -> Client {
        mock_client!(aws_sdk_sfn, RuleMode::MatchAny, rules, |c| c
            .retry_config(RetryConfig::disabled()))
    }

    #[tokio::test]
    async fn a_batch_of_changes_starts_one_validation_of_its_users_and_one_sync() {
        let validation = mock!(Client::start_execution)
            .match_requests(|r| {
                r.state_machine_arn() == Some(VALIDATION)
                    && r.input().is_some_and(|i| {
                        let input: Value = serde_json::from_str(i).unwrap();
                        input["mode"] == "users"
                            && input["usernames"] == json!(["bank1", "bank2", "bank3"])
                            && input["changes"]["events"] == 4
                    })
            })
            .then_output(started);
        let sync = mock!(Client::start_execution)
            .match_requests(|r| {
                r.state_machine_arn() == Some(SYNC)
                    && r.input().is_some_and(|i| i.contains(r#""mode":"all""#))
            })
            .then_output(started);
        let events = [
            put_event("SFTP/bank1", "e1"),
            put_event("SFTP/bank2", "e2"),
            put_event("SFTP/bank1", "e3"),
            put_event("SFTP/bank3", "e4"),
            put_event("prod/database", "e5"),
        ];

        let out = handler(&sfn(&[&validation, &sync]), &config(), queued(&events))
            .await
            .unwrap();

        assert_eq!((out.events, out.ignored), (4, 1));
        assert_eq!(
            out.started,
            [
                format!("secret-validation-changes-{}", out.batch),
                format!("prefix-list-sync-changes-{}", out.batch)
            ]
        );
        assert_eq!((validation.num_calls(), sync.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn a_redelivered_batch_asks_for_the_same_names_and_starts_nothing_new() {
        let events = [put_event("SFTP/bank1", "e1"), put_event("SFTP/bank2", "e2")];
        let first = mock!(Client::start_execution).then_output(started);
        let out = handler(&sfn(&[&first]), &config(), queued(&events))
            .await
            .unwrap();
        let names = out.started.clone();

        // Still running: the idempotent answer. Finished: ExecutionAlreadyExists.
        let running = mock!(Client::start_execution)
            .match_requests(move |r| names.iter().any(|n| r.name() == Some(n)))
            .then_output(still_running);
        let again = handler(&sfn(&[&running]), &config(), queued(&events))
            .await
            .unwrap();
        assert!(again.started.is_empty(), "{again:?}");
        assert_eq!(again.duplicates, out.started);

        let finished = mock!(Client::start_execution).then_error(|| {
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
        let later = handler(&sfn(&[&finished]), &config(), queued(&events))
            .await
            .unwrap();
        assert_eq!(later.duplicates.len(), 2);
    }

    #[tokio::test]
    async fn a_batch_with_no_change_to_an_sftp_user_starts_nothing() {
        let rule = mock!(Client::start_execution).then_output(started);
        let events = [put_event("prod/database", "e1"), json!({"not": "an event"})];

        let out = handler(&sfn(&[&rule]), &config(), queued(&events))
            .await
            .unwrap();

        assert!(out.started.is_empty());
        assert_eq!(out.ignored, 2);
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_message_that_is_not_json_is_ignored_not_a_failed_batch() {
        let rule = mock!(Client::start_execution).then_output(started);
        let delivery = serde_json::from_value(json!({"Records": [
            {"messageId": "m1", "body": "{not json"},
            {"messageId": "m2", "body": put_event("SFTP/bank1", "e1").to_string()}
        ]}))
        .unwrap();

        let out = handler(
            &sfn(&[&rule]),
            &config(),
            LambdaEvent::new(delivery, Context::default()),
        )
        .await
        .unwrap();

        assert_eq!((out.events, out.ignored, out.started.len()), (1, 1, 2));
    }

    #[tokio::test]
    async fn one_event_invoked_directly_is_a_batch_of_one_named_after_its_id() {
        let rule = mock!(Client::start_execution).then_output(started);
        let event = put_event("SFTP/bank1", "6f1c2d9e");

        let once = handler(&sfn(&[&rule]), &config(), direct(event.clone()))
            .await
            .unwrap();
        let again = handler(&sfn(&[&rule]), &config(), direct(event))
            .await
            .unwrap();

        assert_eq!(once.started.len(), 2);
        assert_eq!(once.batch, again.batch, "the same event, the same names");
    }

    #[tokio::test]
    async fn an_event_without_an_id_is_a_named_error() {
        let rule = mock!(Client::start_execution).then_output(started);

        let err = handler(&sfn(&[&rule]), &config(), direct(json!({"detail": {}})))
            .await
            .unwrap_err();

        assert_eq!(Diagnostic::from(err).error_type, "EventWithoutId");
    }

    #[tokio::test]
    async fn throttling_is_retried_with_backoff_then_handed_back_to_the_queue() {
        let throttled = || {
            StartExecutionError::generic(
                ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        };
        let recovers = mock!(Client::start_execution)
            .sequence()
            .error(throttled)
            .times(2)
            .output(started)
            .times(2)
            .build();
        let events = [put_event("SFTP/bank1", "e1")];
        let out = handler(&sfn(&[&recovers]), &config(), queued(&events))
            .await
            .unwrap();
        assert_eq!(out.started.len(), 2);
        assert_eq!(recovers.num_calls(), 4);

        let never = mock!(Client::start_execution).then_error(throttled);
        let err = handler(&sfn(&[&never]), &config(), queued(&events))
            .await
            .unwrap_err();
        assert_eq!(err.name(), ErrorName::StatesThrottled);
        assert_eq!(never.num_calls(), 4, "one call and three retries");
    }

    /// What EventBridge Scheduler delivers for the weekly audit (test-events/scheduled-weekly-audit.json).
    fn weekly_audit() -> LambdaEvent<Delivery> {
        let text = include_str!("../../../test-events/scheduled-weekly-audit.json");
        LambdaEvent::new(serde_json::from_str(text).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn a_schedule_starts_one_run_named_after_its_week_and_a_second_delivery_starts_nothing() {
        let first = mock!(Client::start_execution)
            .match_requests(|r| {
                let input: Value = serde_json::from_str(r.input().unwrap()).unwrap();
                r.state_machine_arn() == Some(VALIDATION)
                    && r.name() == Some("weekly-audit-2026-W49")
                    && input
                        == json!({"mode": "all", "notifySourceSystems": true, "schedule": "weekly"})
            })
            .then_output(started);

        let result = handler(&sfn(&[&first]), &config(), weekly_audit())
            .await
            .unwrap();

        assert_eq!(result.started, ["weekly-audit-2026-W49"]);
        assert!(result.duplicates.is_empty());
        let again = mock!(Client::start_execution).then_error(|| {
            StartExecutionError::ExecutionAlreadyExists(
                ExecutionAlreadyExists::builder()
                    .message("Execution Already Exists")
                    .meta(
                        ErrorMetadata::builder()
                            .code("ExecutionAlreadyExists")
                            .build(),
                    )
                    .build(),
            )
        });
        let result = handler(&sfn(&[&again]), &config(), weekly_audit())
            .await
            .unwrap();
        assert!(result.started.is_empty());
        assert_eq!(result.duplicates, ["weekly-audit-2026-W49"]);
    }

    #[test]
    fn execution_names_keep_to_step_functions_rules() {
        let name = execution_name(VALIDATION, &"x:y/z".repeat(30));
        assert!(name.len() <= warden_core::work::MAX_EXECUTION_NAME);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(execution_name(SYNC, "abc"), "prefix-list-sync-changes-abc");
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
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
