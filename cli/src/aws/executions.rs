//! Step Functions, read-only: the state machines, their recent executions and one execution's
//! history.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sfn::types::HistoryEvent;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::history::{self, Event, EventKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Step Functions {operation} failed: {message}")]
pub struct SfnError {
    pub operation: &'static str,
    pub message: String,
    /// The service's error code, when it answered one.
    pub code: Option<String>,
}

impl SfnError {
    fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let message = super::sdk_message(&err);
        let code = err.code().map(str::to_owned);
        SfnError {
            operation,
            message,
            code,
        }
    }

    /// The execution is not known to Step Functions (its history has expired, or it never was).
    pub fn is_unknown_execution(&self) -> bool {
        self.code.as_deref() == Some("ExecutionDoesNotExist")
    }
}

/// A state machine by name and ARN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateMachine {
    pub name: String,
    pub arn: String,
}

/// An execution as `DescribeExecution` reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionInfo {
    pub arn: String,
    pub name: String,
    pub state_machine_arn: String,
    pub status: String,
    pub started: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// One Distributed Map run of an execution: its children, counted by status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MapRunInfo {
    /// The Map state's `Label` (the part of the map run's ARN after the state machine's name).
    pub label: String,
    pub arn: String,
    pub status: String,
    pub total: i64,
    pub succeeded: i64,
    pub failed: i64,
    pub running: i64,
    pub pending: i64,
}

#[derive(Clone, Debug)]
pub struct Executions {
    client: Client,
}

/// An SDK timestamp (any AWS service's: they share the type) as a UTC time.
pub(crate) fn time(t: &aws_sdk_sfn::primitives::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos()).unwrap_or_default()
}

impl Executions {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Every state machine of the account and region, sorted by name.
    pub async fn state_machines(&self) -> Result<Vec<StateMachine>, SfnError> {
        let mut machines = Vec::new();
        let mut pages = self.client.list_state_machines().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| SfnError::from_sdk("ListStateMachines", e))?;
            machines.extend(page.state_machines().iter().map(|m| StateMachine {
                name: m.name().to_owned(),
                arn: m.state_machine_arn().to_owned(),
            }));
        }
        machines.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(machines)
    }

    /// ARNs of a state machine's executions, newest first, at most `limit`.
    pub async fn recent(
        &self,
        state_machine_arn: &str,
        limit: usize,
    ) -> Result<Vec<String>, SfnError> {
        let page = self
            .client
            .list_executions()
            .state_machine_arn(state_machine_arn)
            .max_results(i32::try_from(limit).unwrap_or(100))
            .send()
            .await
            .map_err(|e| SfnError::from_sdk("ListExecutions", e))?;
        let mut items: Vec<_> = page.executions().to_vec();
        // The service lists newest first; say so explicitly rather than trust every emulator.
        items.sort_by_key(|e| std::cmp::Reverse(time(e.start_date())));
        items.truncate(limit);
        Ok(items.iter().map(|e| e.execution_arn().to_owned()).collect())
    }

    /// ARNs of executions with this name, in any state machine.
    pub async fn find_by_name(&self, name: &str) -> Result<Vec<String>, SfnError> {
        let mut found = Vec::new();
        for machine in self.state_machines().await? {
            let mut pages = self
                .client
                .list_executions()
                .state_machine_arn(&machine.arn)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| SfnError::from_sdk("ListExecutions", e))?;
                found.extend(
                    page.executions()
                        .iter()
                        .filter(|e| e.name() == name)
                        .map(|e| e.execution_arn().to_owned()),
                );
            }
        }
        Ok(found)
    }

    pub async fn describe(&self, execution_arn: &str) -> Result<ExecutionInfo, SfnError> {
        let out = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| SfnError::from_sdk("DescribeExecution", e))?;
        Ok(ExecutionInfo {
            arn: out.execution_arn().to_owned(),
            name: out.name().unwrap_or_default().to_owned(),
            state_machine_arn: out.state_machine_arn().to_owned(),
            status: out.status().as_str().to_owned(),
            started: time(out.start_date()),
            stopped: out.stop_date().map(time),
            output: out.output().map(|o| {
                serde_json::from_str(o).unwrap_or_else(|_| serde_json::Value::String(o.to_owned()))
            }),
            error: out.error().map(str::to_owned),
            cause: out.cause().map(str::to_owned),
        })
    }

    /// The execution's Distributed Map runs, in the order they started.
    pub async fn map_runs(&self, execution_arn: &str) -> Result<Vec<MapRunInfo>, SfnError> {
        let listed = self
            .client
            .list_map_runs()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| SfnError::from_sdk("ListMapRuns", e))?;
        let mut listed: Vec<_> = listed.map_runs().iter().collect();
        listed.sort_by_key(|run| (run.start_date().secs(), run.start_date().subsec_nanos()));
        let mut runs = Vec::new();
        for run in listed {
            let out = self
                .client
                .describe_map_run()
                .map_run_arn(run.map_run_arn())
                .send()
                .await
                .map_err(|e| SfnError::from_sdk("DescribeMapRun", e))?;
            let items = out.item_counts();
            runs.push(MapRunInfo {
                label: crate::execution_log::label_of(out.map_run_arn()),
                arn: out.map_run_arn().to_owned(),
                status: out.status().as_str().to_owned(),
                total: items.map_or(0, |c| c.total()),
                succeeded: items.map_or(0, |c| c.succeeded()),
                failed: items.map_or(0, |c| c.failed() + c.timed_out() + c.aborted()),
                running: items.map_or(0, |c| c.running()),
                pending: items.map_or(0, |c| c.pending()),
            });
        }
        Ok(runs)
    }

    /// The whole history, oldest first.
    pub async fn history(&self, execution_arn: &str) -> Result<Vec<Event>, SfnError> {
        let mut events = Vec::new();
        let mut pages = self
            .client
            .get_execution_history()
            .execution_arn(execution_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| SfnError::from_sdk("GetExecutionHistory", e))?;
            events.extend(page.events().iter().map(event));
        }
        Ok(events)
    }
}

/// The SDK's event reduced to the path-and-errors view.
fn event(e: &HistoryEvent) -> Event {
    let kind = if let Some(d) = e.state_entered_event_details() {
        EventKind::StateEntered(d.name().to_owned())
    } else if let Some(what) = history::failure_label(e.r#type().as_str()) {
        let (error, cause) = failure_details(e);
        EventKind::Failed {
            what: what.to_owned(),
            error: error.map(str::to_owned),
            cause: cause.map(str::to_owned),
        }
    } else {
        EventKind::Other
    };
    Event {
        id: e.id(),
        previous_id: e.previous_event_id(),
        kind,
    }
}

/// The error and cause of a failure event, from whichever details it carries.
fn failure_details(e: &HistoryEvent) -> (Option<&str>, Option<&str>) {
    if let Some(d) = e.task_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.task_timed_out_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.lambda_function_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.lambda_function_timed_out_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.evaluation_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.execution_failed_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.execution_timed_out_event_details() {
        (d.error(), d.cause())
    } else if let Some(d) = e.execution_aborted_event_details() {
        (d.error(), d.cause())
    } else {
        (None, None)
    }
}
