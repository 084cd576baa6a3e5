//! An execution read back from the CloudWatch Logs that Step Functions writes for it (logging
//! level `ALL`, with execution data), for when its history has expired (90 days) but the log
//! group still holds it (365 days). Pure: the adapter hands over the log messages.
//!
//! Step Functions writes one JSON message per history event:
//! `{"id": "7", "previous_event_id": "6", "event_timestamp": "1764547200123", "type":
//! "TaskStateEntered", "execution_arn": "arn:…:execution:<machine>:<name>", "details": {…}}`, where
//! `details` is the body of the event's `…EventDetails` as `GetExecutionHistory` returns it
//! (`name`, `error`, `cause`, `output`, `mapRunArn`, …). A Distributed Map's child executions log
//! to the same group under their own ARN, `arn:…:execution:<machine>/<map run label>:<id>`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::aws::executions::{ExecutionInfo, MapRunInfo};
use crate::history::{self, Event, EventKind, RecordedError};

/// Child executions whose errors are listed one by one; the rest are counted.
pub const CHILD_ERRORS_SHOWN: usize = 20;

/// One history event as logged.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedEvent {
    pub id: i64,
    pub previous_id: i64,
    pub at: DateTime<Utc>,
    pub event_type: String,
    pub execution_arn: String,
    pub details: Value,
}

/// Reads one log message. `logged_at` is the log event's own timestamp, used when the message
/// carries none. `None` for anything that is not a Step Functions history event.
pub fn parse(message: &str, logged_at: Option<DateTime<Utc>>) -> Option<LoggedEvent> {
    let value: Value = serde_json::from_str(message).ok()?;
    let event_type = value["type"].as_str()?.to_owned();
    let execution_arn = value["execution_arn"].as_str()?.to_owned();
    let at = timestamp(&value["event_timestamp"]).or(logged_at)?;
    Some(LoggedEvent {
        id: integer(&value["id"])?,
        previous_id: integer(&value["previous_event_id"]).unwrap_or(0),
        at,
        event_type,
        execution_arn,
        details: value.get("details").cloned().unwrap_or(Value::Null),
    })
}

/// Step Functions writes ids as strings; a number is read too.
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// Epoch milliseconds (as a string, which Step Functions writes, or a number), or RFC 3339.
fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    let millis = match value {
        Value::String(s) => match s.parse::<i64>() {
            Ok(millis) => millis,
            Err(_) => return DateTime::parse_from_rfc3339(s).ok().map(|t| t.to_utc()),
        },
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    DateTime::from_timestamp_millis(millis)
}

/// An execution as its logs tell it.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedExecution {
    pub info: ExecutionInfo,
    pub events: Vec<Event>,
    /// The ARNs of the Distributed Map runs it started, in order.
    pub map_runs: Vec<String>,
}

/// The execution `arn` from the logged events (others are ignored), or `None` when none of its
/// events was logged. Its status is `UNKNOWN` when no ending event was logged (log delivery is
/// best effort, and a run may still be going).
pub fn execution(arn: &str, logged: &[LoggedEvent]) -> Option<LoggedExecution> {
    let mut mine: Vec<&LoggedEvent> = logged.iter().filter(|e| e.execution_arn == arn).collect();
    if mine.is_empty() {
        return None;
    }
    mine.sort_by_key(|e| e.id);
    mine.dedup_by_key(|e| e.id);
    let started = mine
        .iter()
        .find(|e| e.event_type == "ExecutionStarted")
        .unwrap_or(&mine[0])
        .at;
    let end = mine
        .iter()
        .rev()
        .find_map(|e| end_status(&e.event_type).map(|status| (status, *e)));
    let text = |e: &LoggedEvent, field: &str| e.details[field].as_str().map(str::to_owned);
    let info = ExecutionInfo {
        arn: arn.to_owned(),
        name: arn.rsplit(':').next().unwrap_or_default().to_owned(),
        state_machine_arn: state_machine_of(arn).unwrap_or_default(),
        status: end.map_or("UNKNOWN", |(status, _)| status).to_owned(),
        started,
        stopped: end.map(|(_, e)| e.at),
        output: end
            .and_then(|(_, e)| text(e, "output"))
            .map(|o| serde_json::from_str(&o).unwrap_or(Value::String(o))),
        error: end.and_then(|(_, e)| text(e, "error")),
        cause: end.and_then(|(_, e)| text(e, "cause")),
    };
    let map_runs = mine
        .iter()
        .filter(|e| e.event_type == "MapRunStarted")
        .filter_map(|e| text(e, "mapRunArn"))
        .collect();
    Some(LoggedExecution {
        info,
        events: mine.iter().map(|e| event(e)).collect(),
        map_runs,
    })
}

fn end_status(event_type: &str) -> Option<&'static str> {
    match event_type {
        "ExecutionSucceeded" => Some("SUCCEEDED"),
        "ExecutionFailed" => Some("FAILED"),
        "ExecutionTimedOut" => Some("TIMED_OUT"),
        "ExecutionAborted" => Some("ABORTED"),
        _ => None,
    }
}

/// The logged event reduced to the path-and-errors view, as the history's events are.
fn event(e: &LoggedEvent) -> Event {
    let text = |field: &str| e.details[field].as_str().map(str::to_owned);
    let kind = if e.event_type.ends_with("StateEntered") {
        text("name").map_or(EventKind::Other, EventKind::StateEntered)
    } else if let Some(what) = history::failure_label(&e.event_type) {
        EventKind::Failed {
            what: what.to_owned(),
            error: text("error"),
            cause: text("cause"),
        }
    } else {
        EventKind::Other
    };
    Event {
        id: e.id,
        previous_id: e.previous_id,
        kind,
    }
}

/// `arn:…:execution:<machine>:<name>` (or a child's `<machine>/<label>:<id>`) → the state
/// machine's ARN.
pub fn state_machine_of(execution_arn: &str) -> Option<String> {
    let (head, rest) = execution_arn.split_once(":execution:")?;
    let machine = rest.split([':', '/']).next()?;
    Some(format!("{head}:stateMachine:{machine}"))
}

/// The ARN an execution named `name` of the state machine `state_machine_arn` has.
pub fn execution_arn(state_machine_arn: &str, name: &str) -> Option<String> {
    let (head, machine) = state_machine_arn.split_once(":stateMachine:")?;
    Some(format!("{head}:execution:{machine}:{name}"))
}

/// What every child execution of the map run `arn:…:mapRun:<machine>/<label>:<id>` starts with:
/// `arn:…:execution:<machine>/<label>:`.
pub fn children_prefix(map_run_arn: &str) -> Option<String> {
    let (head, rest) = map_run_arn.split_once(":mapRun:")?;
    let (machine_and_label, _id) = rest.rsplit_once(':')?;
    machine_and_label
        .contains('/')
        .then(|| format!("{head}:execution:{machine_and_label}:"))
}

/// A map run as its children's logs tell it: counts by status, and the errors of failed
/// children (the first [`CHILD_ERRORS_SHOWN`], each named after its child).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggedMapRun {
    #[serde(flatten)]
    pub run: MapRunInfo,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub child_errors: Vec<RecordedError>,
    /// Failed children beyond those whose errors are listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub more_failed_children: usize,
}

impl From<MapRunInfo> for LoggedMapRun {
    /// A map run as Step Functions describes it (its children's errors are not read then).
    fn from(run: MapRunInfo) -> Self {
        LoggedMapRun {
            run,
            child_errors: Vec::new(),
            more_failed_children: 0,
        }
    }
}

/// The map run `map_run_arn` of the execution `parent_arn`, from the logged events of both and of
/// the run's children (any other event is ignored).
pub fn map_run(parent_arn: &str, map_run_arn: &str, logged: &[LoggedEvent]) -> LoggedMapRun {
    let mut parent: Vec<&LoggedEvent> = logged
        .iter()
        .filter(|e| e.execution_arn == parent_arn)
        .collect();
    parent.sort_by_key(|e| e.id);
    let prefix = children_prefix(map_run_arn).unwrap_or_else(|| map_run_arn.to_owned());
    let mut children: Vec<&str> = logged
        .iter()
        .filter(|e| e.execution_arn.starts_with(&prefix))
        .map(|e| e.execution_arn.as_str())
        .collect();
    children.sort_unstable();
    children.dedup();
    // The parent logs the run's end as the first `MapRunSucceeded`/`MapRunFailed`/`MapRunAborted`
    // after its `MapRunStarted` (the ending events carry no ARN).
    let started = parent.iter().find(|e| {
        e.event_type == "MapRunStarted" && e.details["mapRunArn"].as_str() == Some(map_run_arn)
    });
    let run_end = started
        .and_then(|started| {
            parent
                .iter()
                .filter(|e| e.id > started.id)
                .find_map(|e| match e.event_type.as_str() {
                    "MapRunSucceeded" => Some("SUCCEEDED"),
                    "MapRunFailed" => Some("FAILED"),
                    "MapRunAborted" => Some("ABORTED"),
                    _ => None,
                })
        })
        .unwrap_or("UNKNOWN");
    let mut run = MapRunInfo {
        label: label_of(map_run_arn),
        arn: map_run_arn.to_owned(),
        status: run_end.to_owned(),
        total: 0,
        succeeded: 0,
        failed: 0,
        running: 0,
        pending: 0,
    };
    let mut child_errors = Vec::new();
    let mut more_failed_children = 0;
    for child in children {
        let Some(logged_child) = execution(child, logged) else {
            continue;
        };
        run.total += 1;
        match logged_child.info.status.as_str() {
            "SUCCEEDED" => run.succeeded += 1,
            "UNKNOWN" => run.running += 1,
            _ => {
                run.failed += 1;
                if child_errors.len() < CHILD_ERRORS_SHOWN {
                    let id = child.rsplit(':').next().unwrap_or(child);
                    child_errors.extend(
                        history::recorded_errors(&logged_child.events)
                            .into_iter()
                            .map(|mut e| {
                                e.what = format!("child {id}: {}", e.what);
                                e
                            })
                            .take(CHILD_ERRORS_SHOWN - child_errors.len()),
                    );
                } else {
                    more_failed_children += 1;
                }
            }
        }
    }
    LoggedMapRun {
        run,
        child_errors,
        more_failed_children,
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// `arn:…:mapRun:<machine>/<label>:<id>` → `<label>`.
pub fn label_of(map_run_arn: &str) -> String {
    map_run_arn
        .split_once(":mapRun:")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, rest)| rest.rsplit_once(':').map_or(rest, |(label, _)| label))
        .unwrap_or(map_run_arn)
        .to_owned()
}

/// `arn:…:log-group:<name>:*` (or without the `:*`) → `<name>`.
pub fn log_group_name(log_group_arn: &str) -> Option<String> {
    let (_, rest) = log_group_arn.split_once(":log-group:")?;
    let name = rest.strip_suffix(":*").unwrap_or(rest);
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:secret-validation";
    const PARENT: &str =
        "arn:aws:states:eu-west-1:123456789012:execution:secret-validation:weekly-audit-2026-W49";
    const MAP_RUN: &str = "arn:aws:states:eu-west-1:123456789012:mapRun:secret-validation/ValidateBatches:0c5c1f0e-6a1e-4d35-9d0e-1f2a3b4c5d6e";
    const CHILD_PREFIX: &str =
        "arn:aws:states:eu-west-1:123456789012:execution:secret-validation/ValidateBatches:";

    /// One message as Step Functions writes it: ids and the timestamp as strings.
    fn message(id: i64, previous: i64, event_type: &str, arn: &str, details: Value) -> String {
        json!({
            "id": id.to_string(),
            "type": event_type,
            "details": details,
            "previous_event_id": previous.to_string(),
            "event_timestamp": (1_764_547_200_000_i64 + id * 1000).to_string(),
            "execution_arn": arn,
            "redrive_count": "0",
        })
        .to_string()
    }

    fn logged(messages: &[String]) -> Vec<LoggedEvent> {
        messages.iter().filter_map(|m| parse(m, None)).collect()
    }

    /// A weekly audit that ran a Distributed Map of three children (one failed, caught) and
    /// then failed itself in its summary.
    fn weekly_audit() -> Vec<String> {
        let child = |n: u32| format!("{CHILD_PREFIX}child-{n}");
        vec![
            message(
                1,
                0,
                "ExecutionStarted",
                PARENT,
                json!({"input": "{}", "roleArn": "arn:aws:iam::123456789012:role/sm"}),
            ),
            message(
                2,
                1,
                "TaskStateEntered",
                PARENT,
                json!({"name": "ListUsers", "input": "{}"}),
            ),
            message(
                3,
                2,
                "TaskStateExited",
                PARENT,
                json!({"name": "ListUsers", "output": "{}"}),
            ),
            message(
                4,
                3,
                "MapStateEntered",
                PARENT,
                json!({"name": "ValidateBatches", "input": "{}"}),
            ),
            message(5, 4, "MapRunStarted", PARENT, json!({"mapRunArn": MAP_RUN})),
            // The children, logged under their own ARNs.
            message(1, 0, "ExecutionStarted", &child(1), json!({"input": "{}"})),
            message(
                2,
                1,
                "TaskStateEntered",
                &child(1),
                json!({"name": "ValidateUsers"}),
            ),
            message(
                3,
                2,
                "ExecutionSucceeded",
                &child(1),
                json!({"output": "{}"}),
            ),
            message(1, 0, "ExecutionStarted", &child(2), json!({"input": "{}"})),
            message(
                2,
                1,
                "TaskStateEntered",
                &child(2),
                json!({"name": "ValidateUsers"}),
            ),
            message(
                3,
                2,
                "LambdaFunctionFailed",
                &child(2),
                json!({"error": "AdminUnreadable", "cause": "SFTP/PaymentsAdmin could not be read"}),
            ),
            message(
                4,
                3,
                "ExecutionFailed",
                &child(2),
                json!({"error": "AdminUnreadable", "cause": "SFTP/PaymentsAdmin could not be read"}),
            ),
            message(1, 0, "ExecutionStarted", &child(3), json!({"input": "{}"})),
            message(
                6,
                5,
                "MapRunFailed",
                PARENT,
                json!({"error": "States.ExceedToleratedFailureThreshold"}),
            ),
            message(
                7,
                6,
                "MapStateExited",
                PARENT,
                json!({"name": "ValidateBatches"}),
            ),
            message(
                8,
                7,
                "TaskStateEntered",
                PARENT,
                json!({"name": "SummariseRun"}),
            ),
            message(
                9,
                8,
                "TaskFailed",
                PARENT,
                json!({"error": "RunIncomplete", "cause": "{\"problems\":[\"one group unaudited\"]}", "resource": "invoke", "resourceType": "lambda"}),
            ),
            message(
                10,
                9,
                "ExecutionFailed",
                PARENT,
                json!({"error": "RunIncomplete", "cause": "{\"problems\":[\"one group unaudited\"]}"}),
            ),
        ]
    }

    #[test]
    fn a_logged_execution_has_its_status_times_path_and_errors() {
        let events = logged(&weekly_audit());
        let run = execution(PARENT, &events).expect("logged");
        assert_eq!(run.info.name, "weekly-audit-2026-W49");
        assert_eq!(run.info.state_machine_arn, MACHINE);
        assert_eq!(run.info.status, "FAILED");
        assert_eq!(run.info.error.as_deref(), Some("RunIncomplete"));
        assert_eq!(run.info.started.timestamp_millis(), 1_764_547_201_000);
        assert_eq!(
            run.info.stopped.map(|t| t.timestamp_millis()),
            Some(1_764_547_210_000)
        );
        assert_eq!(run.map_runs, vec![MAP_RUN.to_owned()]);
        let path: Vec<String> = history::path_of_states(&run.events)
            .into_iter()
            .map(|v| v.name)
            .collect();
        // The children's states are theirs, not the parent's.
        assert_eq!(path, ["ListUsers", "ValidateBatches", "SummariseRun"]);
        let errors = history::recorded_errors(&run.events);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0].state.as_deref(), Some("SummariseRun"));
        assert_eq!(errors[0].what, "Task");
        assert_eq!(errors[1].what, "Execution");
    }

    #[test]
    fn a_map_run_is_followed_into_its_children() {
        let events = logged(&weekly_audit());
        let run = map_run(PARENT, MAP_RUN, &events);
        assert_eq!(run.run.label, "ValidateBatches");
        assert_eq!(run.run.status, "FAILED");
        assert_eq!(
            (
                run.run.total,
                run.run.succeeded,
                run.run.failed,
                run.run.running
            ),
            (3, 1, 1, 1),
            "child-3 logged no end: counted running"
        );
        assert_eq!(run.child_errors.len(), 2);
        assert_eq!(run.child_errors[0].what, "child child-2: Lambda");
        assert_eq!(run.child_errors[0].state.as_deref(), Some("ValidateUsers"));
        assert_eq!(
            run.child_errors[0].error.as_deref(),
            Some("AdminUnreadable")
        );
        assert_eq!(run.more_failed_children, 0);
    }

    #[test]
    fn the_errors_of_many_failed_children_are_bounded_and_the_rest_counted() {
        let mut messages = vec![message(
            5,
            4,
            "MapRunStarted",
            PARENT,
            json!({"mapRunArn": MAP_RUN}),
        )];
        for n in 0..50 {
            let child = format!("{CHILD_PREFIX}child-{n:02}");
            messages.push(message(
                1,
                0,
                "TaskStateEntered",
                &child,
                json!({"name": "ValidateUsers"}),
            ));
            messages.push(message(
                2,
                1,
                "ExecutionFailed",
                &child,
                json!({"error": "States.Timeout"}),
            ));
        }
        let run = map_run(PARENT, MAP_RUN, &logged(&messages));
        assert_eq!((run.run.total, run.run.failed), (50, 50));
        assert_eq!(run.child_errors.len(), CHILD_ERRORS_SHOWN);
        assert_eq!(run.more_failed_children, 50 - CHILD_ERRORS_SHOWN);
        assert_eq!(
            run.run.status, "UNKNOWN",
            "the parent logged no end of the run"
        );
    }

    #[test]
    fn a_succeeded_execution_has_its_output_and_no_error() {
        let messages = vec![
            message(1, 0, "ExecutionStarted", PARENT, json!({"input": "{}"})),
            message(
                2,
                1,
                "ExecutionSucceeded",
                PARENT,
                json!({"output": "{\"usersChecked\":3}", "outputDetails": {"truncated": false}}),
            ),
        ];
        let run = execution(PARENT, &logged(&messages)).expect("logged");
        assert_eq!(run.info.status, "SUCCEEDED");
        assert_eq!(run.info.output, Some(json!({"usersChecked": 3})));
        assert_eq!(run.info.error, None);
    }

    #[test]
    fn an_execution_without_a_logged_end_is_unknown_and_events_are_read_once_in_order() {
        let first = message(1, 0, "ExecutionStarted", PARENT, json!({}));
        let second = message(2, 1, "PassStateEntered", PARENT, json!({"name": "Start"}));
        // Delivered out of order, and one twice.
        let events = logged(&[second.clone(), first, second]);
        let run = execution(PARENT, &events).expect("logged");
        assert_eq!(run.info.status, "UNKNOWN");
        assert_eq!(run.info.stopped, None);
        assert_eq!(run.events.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn other_executions_and_non_event_lines_are_ignored() {
        let other = format!("{PARENT}-retry");
        assert!(
            execution(
                PARENT,
                &logged(&[message(1, 0, "ExecutionStarted", &other, json!({}))])
            )
            .is_none()
        );
        assert_eq!(parse("START RequestId: 1", None), None);
        assert_eq!(parse("{\"type\": \"ExecutionStarted\"}", None), None);
        assert_eq!(parse("[1, 2]", None), None);
    }

    #[test]
    fn numbers_and_rfc3339_timestamps_are_read_and_the_log_time_is_the_fallback() {
        let at = DateTime::from_timestamp_millis(5_000).unwrap();
        let numeric = json!({"id": 3, "previous_event_id": 2, "type": "ExecutionStarted", "execution_arn": PARENT, "event_timestamp": 1000}).to_string();
        let rfc = json!({"id": "3", "type": "ExecutionStarted", "execution_arn": PARENT, "event_timestamp": "2026-12-07T06:00:00Z"}).to_string();
        let none =
            json!({"id": "3", "type": "ExecutionStarted", "execution_arn": PARENT}).to_string();
        assert_eq!(parse(&numeric, None).unwrap().at.timestamp_millis(), 1000);
        assert_eq!(parse(&numeric, None).unwrap().previous_id, 2);
        assert_eq!(
            parse(&rfc, None).unwrap().at.to_rfc3339(),
            "2026-12-07T06:00:00+00:00"
        );
        assert_eq!(parse(&none, Some(at)).unwrap().at, at);
        assert_eq!(parse(&none, None), None);
    }

    #[test]
    fn arns_translate_between_machine_execution_map_run_children_and_log_group() {
        assert_eq!(state_machine_of(PARENT).as_deref(), Some(MACHINE));
        assert_eq!(
            state_machine_of(&format!("{CHILD_PREFIX}child-1")).as_deref(),
            Some(MACHINE)
        );
        assert_eq!(
            execution_arn(MACHINE, "weekly-audit-2026-W49").as_deref(),
            Some(PARENT)
        );
        assert_eq!(children_prefix(MAP_RUN).as_deref(), Some(CHILD_PREFIX));
        assert_eq!(
            children_prefix("arn:aws:states:eu-west-1:1:mapRun:nolabel:id"),
            None
        );
        assert_eq!(label_of(MAP_RUN), "ValidateBatches");
        assert_eq!(
            log_group_name(
                "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/sftp-warden:*"
            )
            .as_deref(),
            Some("/aws/vendedlogs/states/sftp-warden")
        );
        assert_eq!(
            log_group_name("arn:aws:logs:eu-west-1:1:log-group::*"),
            None
        );
        assert_eq!(state_machine_of("not an arn"), None);
    }
}
