//! The entry point for secret changes and schedules on the local stack: `start-runs` starts every
//! monitoring state machine for a batch of change events from the queue, and the weekly run for a
//! schedule's delivery; a redelivery starts nothing new.

use anyhow::Result;
use devstack::deployment;
use devstack::prefix_lists::{AddressFamily, LocalLists};
use devstack::stack::{LocalStack, StackOptions};
use serde_json::Value;
use std::time::Duration;
use warden_core::registry::MONITORING_STATE_MACHINES as STATE_MACHINES;

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_changes_starts_each_state_machine_once_however_often_it_is_delivered()
-> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    deployment
        .seed_users(&devstack::workspace_root().join("test-events/users"))
        .await?;
    // Room for every sample CIDR, so the sync run has nothing to report.
    let lists = LocalLists::connect(&stack).await;
    lists
        .create("sftp-ipv4-AUTOMATED_PREFIX", AddressFamily::V4, 40, &[])
        .await?;
    lists
        .create("sftp-ipv6-AUTOMATED_PREFIX", AddressFamily::V6, 20, &[])
        .await?;
    let event = devstack::changes::queue_batch(&[
        devstack::changes::put_secret_value("nab-feeds", "e-1"),
        devstack::changes::put_secret_value("anz-bank", "e-2"),
        devstack::changes::put_secret_value("nab-feeds", "e-3"),
    ]);

    let first = tokio::task::block_in_place(|| stack.invoke("start-runs", &event))?;
    assert_eq!(first["events"], 3, "{first}");
    let batch = first["batch"].as_str().unwrap_or_default().to_owned();
    // An immediate redelivery, while the runs are still going: Step Functions answers with the
    // running executions (same name, same input), so nothing new starts.
    let second = tokio::task::block_in_place(|| stack.invoke("start-runs", &event))?;

    assert_eq!(
        first["started"].as_array().map(Vec::len),
        Some(STATE_MACHINES.len()),
        "{first}"
    );
    let mut names: Vec<Value> = [&second["started"], &second["duplicates"]]
        .iter()
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .collect();
    names.sort_by_key(Value::to_string);
    let mut expected = first["started"].as_array().cloned().unwrap_or_default();
    expected.sort_by_key(Value::to_string);
    assert_eq!(names, expected, "{second}");
    assert_executions_once(&deployment, &batch).await?;

    // Both runs finish like any other change run.
    for name in STATE_MACHINES {
        let arn = devstack::stack::state_machine_arn(name);
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let executions = deployment
                .clients
                .sfn
                .list_executions()
                .state_machine_arn(&arn)
                .send()
                .await?;
            let execution = &executions.executions()[0];
            let status = execution.status().as_str().to_owned();
            if status != "RUNNING" {
                let described = deployment
                    .clients
                    .sfn
                    .describe_execution()
                    .execution_arn(execution.execution_arn())
                    .send()
                    .await?;
                assert_eq!(
                    status,
                    "SUCCEEDED",
                    "{name}: {:?} {:?}",
                    described.error(),
                    described.cause()
                );
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{name} still running");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // A late redelivery, after the runs have finished: ExecutionAlreadyExists, nothing starts.
    let third = tokio::task::block_in_place(|| stack.invoke("start-runs", &event))?;
    assert_eq!(third["started"], serde_json::json!([]), "{third}");
    assert_eq!(third["duplicates"], first["started"], "{third}");
    assert_executions_once(&deployment, &batch).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_weekly_schedule_delivered_twice_starts_one_run_and_sends_one_set_of_emails()
-> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    deployment
        .seed_users(&devstack::workspace_root().join("test-events/users"))
        .await?;
    let delivery: Value = serde_json::from_str(&std::fs::read_to_string(
        devstack::workspace_root().join("test-events/scheduled-weekly-audit.json"),
    )?)?;

    // Scheduler delivers at least once: twice at the same moment, as a retry would.
    let first = tokio::task::block_in_place(|| stack.invoke("start-runs", &delivery))?;
    let second = tokio::task::block_in_place(|| stack.invoke("start-runs", &delivery))?;

    let name = serde_json::json!(["weekly-audit-2026-W49"]);
    assert_eq!(first["started"], name, "{first}");
    // Step Functions answers the same name and input, while that run goes on, with the running
    // execution itself; within the clock tolerance start-runs cannot tell that answer from its
    // own start, so the second delivery reports it either way. What counts is one execution.
    let second_names: Vec<Value> = [&second["started"], &second["duplicates"]]
        .iter()
        .flat_map(|v| v.as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(Value::Array(second_names), name, "{second}");
    let execution = deployment
        .wait_for(
            "secret-validation",
            "weekly-audit-2026-W49",
            Duration::from_secs(300),
        )
        .await?;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    let sent = deployment.sent_emails()?;
    let output = execution.output.clone().unwrap_or_default();
    assert_eq!(
        Some(sent.len() as u64),
        output["emailsSent"].as_u64(),
        "{output}"
    );
    assert!(
        output["emailsSentByKind"]["keyExpiry"].as_u64() > Some(0),
        "{output}"
    );

    // A late redelivery, after the run: still nothing new, and no second set of emails.
    let third = tokio::task::block_in_place(|| stack.invoke("start-runs", &delivery))?;
    assert_eq!(
        third["duplicates"],
        serde_json::json!(["weekly-audit-2026-W49"]),
        "{third}"
    );
    let executions = deployment
        .clients
        .sfn
        .list_executions()
        .state_machine_arn(devstack::stack::state_machine_arn("secret-validation"))
        .send()
        .await?;
    assert_eq!(executions.executions().len(), 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        deployment.sent_emails()?.len(),
        sent.len(),
        "one set of emails"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_without_an_id_is_refused_with_a_named_error() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;

    let answer = tokio::task::block_in_place(|| {
        stack.invoke("start-runs", &serde_json::json!({"detail": {}}))
    })?;

    assert_eq!(answer["errorType"], "EventWithoutId", "{answer}");
    Ok(())
}

/// Each state machine has exactly one execution, named after the batch.
async fn assert_executions_once(deployment: &deployment::Deployment, batch: &str) -> Result<()> {
    for name in STATE_MACHINES {
        let executions = deployment
            .clients
            .sfn
            .list_executions()
            .state_machine_arn(devstack::stack::state_machine_arn(name))
            .send()
            .await?;
        assert_eq!(executions.executions().len(), 1, "{name}");
        assert_eq!(
            executions.executions()[0].name(),
            format!("{name}-changes-{batch}")
        );
    }
    Ok(())
}
