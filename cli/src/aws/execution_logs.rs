//! CloudWatch Logs, read-only: what Step Functions logged for an execution whose history has
//! expired. The state machine's log group comes from its logging configuration.

use aws_sdk_cloudwatchlogs::Client;
use chrono::DateTime;

use crate::execution_log::{self, LoggedEvent};

/// Log events read for one search at most; beyond it the reading stops and says so (a year of
/// weekly runs of one state machine is far below it).
pub const MAX_EVENTS: usize = 200_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct LogsError {
    pub operation: &'static str,
    pub message: String,
}

/// The events found for one search.
#[derive(Debug, Default)]
pub struct Found {
    pub events: Vec<LoggedEvent>,
    /// [`MAX_EVENTS`] were read and more matched.
    pub truncated: bool,
}

/// Whose events to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Search {
    /// One execution, by its ARN.
    Execution(String),
    /// Every child execution of a map run, by the prefix their ARNs share
    /// ([`execution_log::children_prefix`]).
    Children(String),
}

impl Search {
    /// The JSON filter pattern CloudWatch Logs matches on the messages' `execution_arn` (a
    /// trailing `*` matches any text). An ARN holds no quote or backslash.
    pub fn filter_pattern(&self) -> String {
        match self {
            Search::Execution(arn) => format!("{{ $.execution_arn = \"{arn}\" }}"),
            Search::Children(prefix) => format!("{{ $.execution_arn = \"{prefix}*\" }}"),
        }
    }

    /// The same test, on this side (an emulator may not apply the pattern).
    pub fn matches(&self, execution_arn: &str) -> bool {
        match self {
            Search::Execution(arn) => execution_arn == arn,
            Search::Children(prefix) => execution_arn.starts_with(prefix.as_str()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ExecutionLogs {
    logs: Client,
    sfn: aws_sdk_sfn::Client,
}

impl ExecutionLogs {
    pub fn new(logs: Client, sfn: aws_sdk_sfn::Client) -> Self {
        Self { logs, sfn }
    }

    /// The log group the state machine logs to, or `None` when it logs nowhere.
    pub async fn log_group(&self, state_machine_arn: &str) -> Result<Option<String>, LogsError> {
        let out = self
            .sfn
            .describe_state_machine()
            .state_machine_arn(state_machine_arn)
            .send()
            .await
            .map_err(|e| LogsError {
                operation: "DescribeStateMachine",
                message: super::sdk_message(&e),
            })?;
        Ok(out
            .logging_configuration()
            .filter(|c| c.level().is_some_and(|l| l.as_str() != "OFF"))
            .and_then(|c| c.destinations().first())
            .and_then(|d| d.cloud_watch_logs_log_group())
            .and_then(|g| g.log_group_arn())
            .and_then(execution_log::log_group_name))
    }

    /// Every Step Functions event in `log_group` of the execution `search` names (or of the
    /// children of a map run), in the order logged.
    pub async fn events(&self, log_group: &str, search: &Search) -> Result<Found, LogsError> {
        let mut found = Found::default();
        let mut pages = self
            .logs
            .filter_log_events()
            .log_group_name(log_group)
            .filter_pattern(search.filter_pattern())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(page) => page,
                // A log group that is gone holds nothing.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|e| e.is_resource_not_found_exception()) =>
                {
                    return Ok(found);
                }
                Err(e) => {
                    return Err(LogsError {
                        operation: "FilterLogEvents",
                        message: super::sdk_message(&e),
                    });
                }
            };
            for logged in page.events() {
                let at = logged.timestamp().and_then(DateTime::from_timestamp_millis);
                let Some(event) = logged
                    .message()
                    .and_then(|message| execution_log::parse(message, at))
                else {
                    continue;
                };
                if !search.matches(&event.execution_arn) {
                    continue;
                }
                if found.events.len() == MAX_EVENTS {
                    found.truncated = true;
                    return Ok(found);
                }
                found.events.push(event);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudwatchlogs::operation::filter_log_events::{
        FilterLogEventsError, FilterLogEventsOutput,
    };
    use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
    use aws_sdk_cloudwatchlogs::types::error::ResourceNotFoundException;
    use aws_sdk_sfn::operation::describe_state_machine::DescribeStateMachineOutput;
    use aws_sdk_sfn::types::{
        CloudWatchLogsLogGroup, LogDestination, LogLevel, LoggingConfiguration,
    };
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const ARN: &str =
        "arn:aws:states:eu-west-1:1:execution:secret-validation:weekly-audit-2026-W49";
    const PREFIX: &str = "arn:aws:states:eu-west-1:1:execution:secret-validation/ValidateBatches:";

    fn logged(id: u32, arn: &str) -> FilteredLogEvent {
        let message = serde_json::json!({
            "id": id.to_string(), "type": "PassStateEntered", "details": {"name": "Start"},
            "previous_event_id": "0", "event_timestamp": "1764547200000", "execution_arn": arn,
        });
        FilteredLogEvent::builder()
            .message(message.to_string())
            .timestamp(1_764_547_200_000)
            .build()
    }

    fn sfn_unused() -> aws_sdk_sfn::Client {
        let none = mock!(aws_sdk_sfn::Client::describe_state_machine)
            .match_requests(|_| false)
            .then_output(|| DescribeStateMachineOutput::builder().build().unwrap());
        mock_client!(aws_sdk_sfn, [&none])
    }

    #[tokio::test]
    async fn an_execution_is_searched_by_its_exact_arn_over_every_page() {
        let pattern = format!("{{ $.execution_arn = \"{ARN}\" }}");
        let first = mock!(Client::filter_log_events)
            .match_requests(move |r| {
                r.filter_pattern() == Some(pattern.as_str()) && r.next_token().is_none()
            })
            .then_output(|| {
                FilterLogEventsOutput::builder()
                    .events(logged(1, ARN))
                    // What a pattern-less emulator would add: another run, a non-event line.
                    .events(logged(1, &format!("{ARN}0")))
                    .events(FilteredLogEvent::builder().message("not json").build())
                    .next_token("page-2")
                    .build()
            });
        let second = mock!(Client::filter_log_events)
            .match_requests(|r| r.next_token() == Some("page-2"))
            .then_output(|| {
                FilterLogEventsOutput::builder()
                    .events(logged(2, ARN))
                    .build()
            });
        let client = mock_client!(
            aws_sdk_cloudwatchlogs,
            RuleMode::MatchAny,
            [&first, &second]
        );
        let logs = ExecutionLogs::new(client, sfn_unused());

        let found = logs
            .events("/states/v", &Search::Execution(ARN.into()))
            .await
            .unwrap();

        assert_eq!(
            found.events.iter().map(|e| e.id).collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(!found.truncated);
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn children_are_searched_by_prefix_and_a_gone_log_group_holds_nothing() {
        let pattern = format!("{{ $.execution_arn = \"{PREFIX}*\" }}");
        let gone = mock!(Client::filter_log_events)
            .match_requests(move |r| r.filter_pattern() == Some(pattern.as_str()))
            .then_error(|| {
                FilterLogEventsError::ResourceNotFoundException(
                    ResourceNotFoundException::builder().build(),
                )
            });
        let client = mock_client!(aws_sdk_cloudwatchlogs, [&gone]);
        let logs = ExecutionLogs::new(client, sfn_unused());

        let found = logs
            .events("/states/v", &Search::Children(PREFIX.into()))
            .await
            .unwrap();

        assert!(found.events.is_empty());
        assert_eq!(gone.num_calls(), 1);
    }

    #[tokio::test]
    async fn reading_stops_at_the_bound_and_says_so() {
        // Each page names the next (a paginator stops at a token it has seen).
        let pages = std::sync::atomic::AtomicUsize::new(0);
        let full_page = move || {
            let n = pages.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut out = FilterLogEventsOutput::builder().next_token(format!("page-{n}"));
            for id in 0..10_000 {
                out = out.events(logged(id, ARN));
            }
            out.build()
        };
        let page = mock!(Client::filter_log_events)
            .sequence()
            .output(full_page)
            .times(MAX_EVENTS / 10_000 + 5)
            .build();
        let client = mock_client!(aws_sdk_cloudwatchlogs, [&page]);
        let logs = ExecutionLogs::new(client, sfn_unused());

        let found = logs
            .events("/states/v", &Search::Execution(ARN.into()))
            .await
            .unwrap();

        assert!(found.truncated);
        assert_eq!(found.events.len(), MAX_EVENTS);
        assert_eq!(page.num_calls(), MAX_EVENTS / 10_000 + 1);
    }

    #[tokio::test]
    async fn the_log_group_comes_from_the_logging_configuration() {
        let logging = mock!(aws_sdk_sfn::Client::describe_state_machine).then_output(|| {
            let group = CloudWatchLogsLogGroup::builder()
                .log_group_arn("arn:aws:logs:eu-west-1:1:log-group:/aws/vendedlogs/states/v:*")
                .build();
            DescribeStateMachineOutput::builder()
                .state_machine_arn("arn:aws:states:eu-west-1:1:stateMachine:v")
                .name("v")
                .definition("{}")
                .role_arn("arn:aws:iam::1:role/r")
                .r#type(aws_sdk_sfn::types::StateMachineType::Standard)
                .creation_date(aws_sdk_sfn::primitives::DateTime::from_secs(0))
                .logging_configuration(
                    LoggingConfiguration::builder()
                        .level(LogLevel::All)
                        .destinations(
                            LogDestination::builder()
                                .cloud_watch_logs_log_group(group)
                                .build(),
                        )
                        .build(),
                )
                .build()
                .unwrap()
        });
        let sfn = mock_client!(aws_sdk_sfn, [&logging]);
        let none = mock!(Client::filter_log_events)
            .match_requests(|_| false)
            .then_output(|| FilterLogEventsOutput::builder().build());
        let logs = ExecutionLogs::new(mock_client!(aws_sdk_cloudwatchlogs, [&none]), sfn);

        assert_eq!(
            logs.log_group("arn:aws:states:eu-west-1:1:stateMachine:v")
                .await
                .unwrap()
                .as_deref(),
            Some("/aws/vendedlogs/states/v")
        );
    }
}
