//! The entry point for secret changes on the local stack: `start-runs` starts every monitoring
//! state machine for a batch of change events from the queue, and a redelivered batch starts
//! nothing new.

use anyhow::Result;
use devstack::deployment::{self, STATE_MACHINES};
use devstack::prefix_lists::{AddressFamily, LocalLists};
use devstack::stack::{LocalStack, StackOptions};
use serde_json::Value;
use std::time::Duration;

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
