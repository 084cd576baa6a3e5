//! Reading a state machine execution the way an operator wants it: a one-line summary of its
//! output, the path of states it took, and the errors it recorded. Pure: the adapter turns the
//! SDK's history events into [`Event`]s.

use serde::Serialize;
use serde_json::Value;
use warden_core::text;

/// One history event, reduced to what the path and the errors need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub previous_id: i64,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// Any `…StateEntered` event.
    StateEntered(String),
    /// Any `…Failed`, `…TimedOut` or `…Aborted` event, with what failed (`Task`, `Execution`, …).
    Failed {
        what: String,
        error: Option<String>,
        cause: Option<String>,
    },
    Other,
}

/// A state and how many times it was entered (Map iterations enter inner states many times).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateVisit {
    pub name: String,
    pub times: usize,
}

/// An error recorded in the history, with the state it happened in when known. A caught error
/// is recorded too: the path shows where the run went next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordedError {
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// What failed, for the history event types the path-and-errors view reports as failures
/// (read from the history and from the logs alike); `None` for any other type.
pub fn failure_label(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "TaskFailed" => "Task",
        "TaskTimedOut" => "Task timed out",
        "LambdaFunctionFailed" => "Lambda",
        "LambdaFunctionTimedOut" => "Lambda timed out",
        "EvaluationFailed" => "Evaluation",
        "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted" => "Execution",
        _ => return None,
    })
}

/// The states entered, in the order first entered, with how often.
pub fn path_of_states(events: &[Event]) -> Vec<StateVisit> {
    let mut path: Vec<StateVisit> = Vec::new();
    for event in events {
        if let EventKind::StateEntered(name) = &event.kind {
            match path.iter_mut().find(|v| &v.name == name) {
                Some(visit) => visit.times += 1,
                None => path.push(StateVisit {
                    name: name.clone(),
                    times: 1,
                }),
            }
        }
    }
    path
}

/// Every failure event, with the state it belongs to: found by following `previous_id` back to a
/// state being entered, or else the last state entered before it.
pub fn recorded_errors(events: &[Event]) -> Vec<RecordedError> {
    let by_id = |id: i64| events.iter().find(|e| e.id == id);
    events
        .iter()
        .filter_map(|event| {
            let EventKind::Failed { what, error, cause } = &event.kind else {
                return None;
            };
            let mut state = None;
            let mut previous = event.previous_id;
            for _ in 0..events.len() {
                let Some(before) = by_id(previous) else { break };
                if let EventKind::StateEntered(name) = &before.kind {
                    state = Some(name.clone());
                    break;
                }
                previous = before.previous_id;
            }
            if state.is_none() && what != "Execution" {
                state = events
                    .iter()
                    .filter(|e| e.id < event.id)
                    .filter_map(|e| match &e.kind {
                        EventKind::StateEntered(name) => Some(name.clone()),
                        _ => None,
                    })
                    .next_back();
            }
            Some(RecordedError {
                what: what.clone(),
                state,
                error: error.clone(),
                cause: cause.as_deref().map(|c| text::escape_unsafe(c, 2000)),
            })
        })
        .collect()
}

/// One line for an execution's output: counts first, then how many items each list holds, then
/// flags and short texts; each group sorted, capped at `max_chars`. Works for any state machine's
/// output.
pub fn summarise_output(output: &Value, max_chars: usize) -> String {
    let Value::Object(fields) = output else {
        return text::escape_unsafe(&output.to_string(), max_chars);
    };
    let mut groups: [Vec<String>; 4] = Default::default();
    for (key, value) in fields {
        let (group, shown) = match value {
            // Zero counts say nothing on one line (`emailsFailed=0`); the JSON has them.
            Value::Number(n) if n.as_f64() == Some(0.0) => continue,
            Value::Number(n) => (0, n.to_string()),
            Value::Array(items) if !items.is_empty() => (1, items.len().to_string()),
            Value::Bool(b) => (2, b.to_string()),
            Value::String(s) if !s.is_empty() && s.chars().count() <= 40 => {
                (3, text::strip_unsafe(s, 40))
            }
            _ => continue,
        };
        groups[group].push(format!("{key}={shown}"));
    }
    // Sorted, so the line reads the same whatever order the JSON object kept.
    for group in &mut groups {
        group.sort();
    }
    text::truncate(&groups.concat().join(" "), max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entered(id: i64, previous_id: i64, name: &str) -> Event {
        Event {
            id,
            previous_id,
            kind: EventKind::StateEntered(name.into()),
        }
    }

    fn other(id: i64, previous_id: i64) -> Event {
        Event {
            id,
            previous_id,
            kind: EventKind::Other,
        }
    }

    fn failed(id: i64, previous_id: i64, what: &str, error: &str) -> Event {
        Event {
            id,
            previous_id,
            kind: EventKind::Failed {
                what: what.into(),
                error: Some(error.into()),
                cause: Some("line one\nline two".into()),
            },
        }
    }

    #[test]
    fn the_path_lists_states_in_first_entered_order_with_map_iterations_counted() {
        let events = [
            entered(2, 1, "List"),
            entered(5, 4, "Validate each batch"),
            entered(7, 6, "Validate this batch"),
            entered(9, 6, "Validate this batch"),
            entered(12, 11, "Summarise"),
        ];
        assert_eq!(
            path_of_states(&events),
            [
                StateVisit {
                    name: "List".into(),
                    times: 1
                },
                StateVisit {
                    name: "Validate each batch".into(),
                    times: 1
                },
                StateVisit {
                    name: "Validate this batch".into(),
                    times: 2
                },
                StateVisit {
                    name: "Summarise".into(),
                    times: 1
                },
            ]
        );
    }

    #[test]
    fn an_error_is_placed_in_the_state_its_event_chain_started_from() {
        let events = [
            entered(2, 1, "Send each email"),
            entered(3, 2, "Send this email"),
            entered(4, 2, "Send this email (2)"),
            other(5, 3),
            failed(6, 5, "LambdaFunction", "EmailRejected"),
            failed(7, 6, "Execution", "RunIncomplete"),
        ];
        let errors = recorded_errors(&events);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].state.as_deref(), Some("Send this email"));
        assert_eq!(errors[0].error.as_deref(), Some("EmailRejected"));
        assert_eq!(errors[0].cause.as_deref(), Some("line one\\nline two"));
        assert_eq!(errors[1].what, "Execution");
    }

    #[test]
    fn without_a_chain_the_last_state_entered_before_is_named() {
        let events = [
            entered(2, 0, "A"),
            entered(3, 0, "B"),
            failed(4, 0, "Task", "X"),
        ];
        assert_eq!(recorded_errors(&events)[0].state.as_deref(), Some("B"));
    }

    #[test]
    fn an_output_summary_puts_counts_first_and_skips_nested_detail() {
        let output = json!({
            "usersChecked": 20, "complete": true, "usersWithFindings": ["a", "b"],
            "problems": [], "trigger": "manual", "scope": {"kind": "all"},
            "event": "x".repeat(100), "emailsFailed": 0
        });
        assert_eq!(
            summarise_output(&output, 200),
            "usersChecked=20 usersWithFindings=2 complete=true trigger=manual"
        );
        assert!(summarise_output(&output, 10).chars().count() <= 11);
        assert_eq!(summarise_output(&json!("done\n"), 50), "\"done\\n\"");
    }
}
