//! Structural rules every state machine definition must follow (STYLE.md rule 5, DESIGN.md
//! section 7): JSONPath only, every Lambda task retried with backoff and jitter and caught,
//! every transition leads somewhere, every placeholder is one of our functions.

use serde_json::Value;
use std::collections::BTreeSet;
use warden_core::ErrorName;
use warden_core::registry::{self, Caller, FUNCTIONS, LEFT_TO_CATCH_ALL, STATE_MACHINES};

const LAMBDA_ERRORS: [&str; 4] = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
];

fn load(name: &str) -> (String, Value) {
    let path = devstack::workspace_root().join(format!("statemachines/{name}.asl.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
    (text, json)
}

/// Every (state name, state) of a definition, nested Map and Parallel states included.
fn states(machine: &Value) -> Vec<(String, Value)> {
    let mut all = Vec::new();
    for (name, state) in machine["States"].as_object().expect("States") {
        all.push((name.clone(), state.clone()));
        for inner in [&state["ItemProcessor"], &state["Iterator"]] {
            if inner.is_object() {
                all.extend(states(inner));
            }
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            all.extend(states(branch));
        }
    }
    all
}

/// Checks one (sub-)machine's transitions: targets exist, every state is reachable.
fn check_graph(machine: &Value, problems: &mut Vec<String>) {
    let names: BTreeSet<&str> = machine["States"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut reachable = BTreeSet::new();
    let mut todo = vec![machine["StartAt"].as_str().unwrap_or_default().to_owned()];
    while let Some(name) = todo.pop() {
        if !reachable.insert(name.clone()) {
            continue;
        }
        let Some(state) = machine["States"].get(&name) else {
            problems.push(format!("transition to missing state {name:?}"));
            continue;
        };
        let mut targets: Vec<&Value> = vec![&state["Next"], &state["Default"]];
        targets.extend(
            state["Catch"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| &c["Next"]),
        );
        targets.extend(
            state["Choices"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| &c["Next"]),
        );
        todo.extend(
            targets
                .into_iter()
                .filter_map(Value::as_str)
                .map(str::to_owned),
        );
        for inner in [&state["ItemProcessor"], &state["Iterator"]] {
            if inner.is_object() {
                check_graph(inner, problems);
            }
        }
    }
    for name in names {
        if !reachable.contains(name) {
            problems.push(format!("state {name:?} is unreachable"));
        }
    }
}

fn problems_in(text: &str, machine: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for forbidden in [
        "JSONata",
        "\"Assign\"",
        "\"Arguments\"",
        "ItemBatcher",
        "EXPRESS",
    ] {
        if text.contains(forbidden) {
            problems.push(format!("uses {forbidden}, which no local engine runs"));
        }
    }
    check_graph(machine, &mut problems);
    for (state_name, state) in states(machine) {
        if !state_name.contains(' ') || !state_name.starts_with(char::is_uppercase) {
            problems.push(format!("state {state_name:?} should read as a sentence"));
        }
        let distributed = state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED";
        if state["ItemReader"].is_object() {
            // Items read from the work bucket are too many for the state: their results must
            // never come back into it (256 KiB, uncatchable).
            let discarded = state.get("ResultPath").is_some_and(Value::is_null);
            if !state["ResultWriter"].is_object() && !discarded {
                problems.push(format!(
                    "{state_name}: a Distributed Map needs a ResultWriter or ResultPath null"
                ));
            }
        }
        if state["ItemReader"].is_object() || distributed {
            // A Distributed Map: moto's engine needs a bound on its workers.
            if state["MaxConcurrency"].as_u64().is_none_or(|c| c == 0) {
                problems.push(format!(
                    "{state_name}: a Distributed Map needs a MaxConcurrency"
                ));
            }
            if state["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] != "STANDARD" {
                problems.push(format!(
                    "{state_name}: children must be STANDARD executions (history for operators)"
                ));
            }
        }
        if state["Type"] == "Wait" && state.get("Seconds").is_some() {
            problems.push(format!(
                "{state_name}: Wait must take SecondsPath so tests can pass 0"
            ));
        }
        if state["Type"] != "Task" {
            continue;
        }
        let retries = state["Retry"].as_array().cloned().unwrap_or_default();
        let resource = state["Resource"].as_str().unwrap_or_default();
        if resource.starts_with("arn:aws:states:::aws-sdk:") {
            // A service integration: its own throttling and failures are retried.
            let retried = retries.iter().any(|r| {
                r["JitterStrategy"] == "FULL" && r["BackoffRate"].as_f64().is_some_and(|b| b > 1.0)
            });
            if !retried {
                problems.push(format!(
                    "{state_name}: the service's errors are not retried with backoff and jitter"
                ));
            }
        }
        for error in LAMBDA_ERRORS
            .iter()
            .filter(|_| !resource.starts_with("arn:aws:states:::aws-sdk:"))
        {
            let retried = retries.iter().any(|r| {
                r["ErrorEquals"]
                    .as_array()
                    .is_some_and(|e| e.iter().any(|x| x == error))
                    && r["JitterStrategy"] == "FULL"
                    && r["BackoffRate"].as_f64().is_some_and(|b| b > 1.0)
            });
            if !retried {
                problems.push(format!(
                    "{state_name}: {error} not retried with backoff and jitter"
                ));
            }
        }
        let caught = state["Catch"].as_array().into_iter().flatten().any(|c| {
            c["ErrorEquals"]
                .as_array()
                .is_some_and(|e| e.iter().any(|x| x == "States.ALL"))
        });
        if !caught {
            problems.push(format!("{state_name}: no Catch for States.ALL"));
        }
    }
    problems
}

#[test]
fn every_state_machine_follows_the_house_rules() {
    for name in STATE_MACHINES {
        let (text, machine) = load(name);
        let problems = problems_in(&text, &machine);
        assert!(problems.is_empty(), "{name}:\n  {}", problems.join("\n  "));
    }
}

#[test]
fn every_placeholder_is_a_workspace_function_and_every_function_is_used() {
    let mut known: BTreeSet<String> = FUNCTIONS.iter().map(|f| f.substitution_name()).collect();
    known.insert(registry::WORK_BUCKET_SUBSTITUTION.to_owned());
    let mut used = BTreeSet::new();
    for name in STATE_MACHINES {
        let (text, _) = load(name);
        for piece in text.split("${").skip(1) {
            let placeholder = piece.split('}').next().unwrap_or_default().to_owned();
            assert!(
                known.contains(&placeholder),
                "{name}: ${{{placeholder}}} is not a function"
            );
            if placeholder != registry::WORK_BUCKET_SUBSTITUTION {
                used.insert(placeholder);
            }
        }
    }
    let expected: BTreeSet<String> = FUNCTIONS
        .iter()
        .filter(|f| f.caller == Caller::StateMachines)
        .map(|f| f.substitution_name())
        .collect();
    assert_eq!(used, expected, "functions no state machine calls");
}

/// The function a task state calls: `${ListUsersFunctionArn}` as its `Resource`, or as the
/// `FunctionName` of an `arn:aws:states:::lambda:invoke` task.
fn function_of(state: &Value) -> Option<&'static registry::Function> {
    let resource = state["Resource"].as_str()?;
    let reference = if resource.starts_with("arn:aws:states:::lambda:invoke") {
        state["Parameters"]["FunctionName"].as_str()?
    } else {
        resource
    };
    FUNCTIONS
        .iter()
        .find(|f| reference == format!("${{{}}}", f.substitution_name()))
}

fn error_equals(state: &Value, field: &str) -> BTreeSet<String> {
    state[field]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|rule| rule["ErrorEquals"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// The error names a definition's task states match, held against what their functions report.
fn error_name_problems(machine: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (state_name, state) in states(machine) {
        let Some(function) = function_of(&state) else {
            continue;
        };
        let mut matched = error_equals(&state, "Retry");
        matched.extend(error_equals(&state, "Catch"));
        for name in &matched {
            if name.starts_with("States.") || name.starts_with("Lambda.") {
                continue;
            }
            match ErrorName::parse(name) {
                None => problems.push(format!("{state_name}: {name} is no error name of ours")),
                Some(error) if !function.reports(error) => problems.push(format!(
                    "{state_name}: {name} is never reported by {}",
                    function.name
                )),
                Some(_) => {}
            }
        }
        for error in function.errors() {
            let left_to_catch_all = LEFT_TO_CATCH_ALL.iter().any(|(n, _)| *n == error);
            if !matched.contains(error.as_str()) && !left_to_catch_all {
                problems.push(format!(
                    "{state_name}: {} reports {error}, which is neither retried, caught by name, nor left to States.ALL on purpose",
                    function.name
                ));
            }
        }
    }
    problems
}

#[test]
fn every_error_name_the_state_machines_match_is_one_their_functions_report_and_back() {
    let mut problems = Vec::new();
    for name in STATE_MACHINES {
        let (_, machine) = load(name);
        problems.extend(
            error_name_problems(&machine)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
    }
    assert!(problems.is_empty(), "\n  {}", problems.join("\n  "));
}

#[test]
fn the_error_name_check_catches_a_misspelt_name_and_an_unhandled_one() {
    let machine: Value = serde_json::json!({
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task", "Resource": "${SendEmailFunctionArn}", "End": true,
                "Retry": [{"ErrorEquals": ["EmailThrotled", "PrefixListBusy"]}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Send"}]
            }
        }
    });
    let problems = error_name_problems(&machine);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("EmailThrotled is no error name")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("PrefixListBusy is never reported by send-email")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("reports EmailThrottled, which is neither")),
        "{problems:?}"
    );
}

#[test]
fn the_rules_catch_a_distributed_map_that_would_return_its_results_into_the_state() {
    let machine: Value = serde_json::json!({
        "StartAt": "Do each thing",
        "States": {
            "Do each thing": {
                "Type": "Map", "End": true,
                "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    "StartAt": "Do this thing",
                    "States": {"Do this thing": {"Type": "Succeed"}}
                }
            }
        }
    });
    let problems = problems_in(&machine.to_string(), &machine);
    for expected in [
        "needs a ResultWriter or ResultPath null",
        "needs a MaxConcurrency",
        "children must be STANDARD",
        "uses EXPRESS",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected}: {problems:?}"
        );
    }
}

#[test]
fn the_rules_catch_a_task_without_retry_or_catch() {
    let machine: Value = serde_json::json!({
        "StartAt": "Do one thing",
        "States": {
            "Do one thing": {"Type": "Task", "Resource": "x", "Next": "Gone"},
            "Never reached": {"Type": "Succeed"}
        }
    });
    let problems = problems_in(&machine.to_string(), &machine);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("missing state \"Gone\"")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("\"Never reached\" is unreachable"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Lambda.TooManyRequestsException not retried"))
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("Do one thing: no Catch"))
    );
}

#[test]
fn a_distributed_map_over_the_state_s_items_still_needs_a_bound_on_its_children() {
    let machine: Value = serde_json::json!({
        "StartAt": "Do each thing",
        "States": {
            "Do each thing": {
                "Type": "Map", "End": true,
                "ItemsPath": "$.things",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Do this thing",
                    "States": {"Do this thing": {"Type": "Succeed"}}
                }
            }
        }
    });
    let problems = problems_in(&machine.to_string(), &machine);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("needs a MaxConcurrency")),
        "{problems:?}"
    );
    assert!(
        !problems.iter().any(|p| p.contains("ResultWriter")),
        "items from the state may come back into it: {problems:?}"
    );
}
