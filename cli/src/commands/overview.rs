//! `status`: the service's figures from the latest runs, as the dashboard shows them, read from
//! the executions' bounded summaries (the output of a run, or the cause of an incomplete one).

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use super::{Outcome, out, out_json};
use crate::args::{Format, OutputArgs};
use crate::aws::executions::{ExecutionInfo, Executions};

/// Executions looked at per state machine, newest first, for one with a summary.
const LOOK_BACK: usize = 25;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Latest {
    state_machine: String,
    execution: String,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<chrono::DateTime<chrono::Utc>>,
    summary: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    /// The latest finished audit of every user.
    #[serde(skip_serializing_if = "Option::is_none")]
    validation: Option<Latest>,
    /// The latest finished prefix-list sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    sync: Option<Latest>,
}

/// The bounded summary a finished execution carries: its output, or its cause when it failed
/// with the summary (`RunIncomplete`, `PrefixListsOutOfSync`).
fn summary_of(execution: &ExecutionInfo) -> Option<Value> {
    execution.output.clone().or_else(|| {
        execution
            .cause
            .as_deref()
            .and_then(|c| serde_json::from_str::<Value>(c).ok())
            .filter(Value::is_object)
    })
}

async fn latest(
    executions: &Executions,
    machine: &str,
    arn: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Result<Option<Latest>> {
    for execution_arn in executions.recent(arn, LOOK_BACK).await? {
        let execution = executions.describe(&execution_arn).await?;
        if let Some(summary) = summary_of(&execution).filter(|s| wanted(s)) {
            return Ok(Some(Latest {
                state_machine: machine.to_owned(),
                execution: execution.name,
                status: execution.status,
                stopped: execution.stopped,
                summary,
            }));
        }
    }
    Ok(None)
}

pub async fn run(output: OutputArgs) -> Result<Outcome> {
    let config = crate::aws::sdk_config().await;
    let executions = Executions::new(aws_sdk_sfn::Client::new(&config));
    let machines = executions
        .state_machines()
        .await
        .context("listing the state machines")?;
    let mut status = Status {
        validation: None,
        sync: None,
    };
    for machine in &machines {
        if machine.name.ends_with("secret-validation") {
            status.validation = latest(&executions, &machine.name, &machine.arn, |s| {
                s["scope"]["kind"] == "all" && s.get("usersChecked").is_some()
            })
            .await?;
        } else if machine.name.ends_with("prefix-list-sync") {
            status.sync = latest(&executions, &machine.name, &machine.arn, |s| {
                s.get("listsTotal").is_some()
            })
            .await?;
        }
    }
    let healthy = status
        .validation
        .as_ref()
        .is_none_or(|l| l.summary["complete"] == true)
        && status
            .sync
            .as_ref()
            .is_none_or(|l| l.summary["inSync"] == true);
    match output.output {
        Format::Json => out_json(&status)?,
        Format::Table => print(&status),
    }
    Ok(if healthy {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

fn count(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

fn print(status: &Status) {
    match &status.validation {
        None => out("Secret validation: no finished audit of every user yet."),
        Some(latest) => {
            let s = &latest.summary;
            out(format!(
                "Secret validation — last audit of every user: {} ({}{})",
                latest.execution,
                latest.status,
                latest
                    .stopped
                    .map(|t| format!(", {}", t.format("%Y-%m-%d %H:%M UTC")))
                    .unwrap_or_default()
            ));
            out(format!(
                "  users checked {}, with findings {}",
                count(&s["usersChecked"]),
                count(&s["usersWithFindings"])
            ));
            let rules: Vec<String> = s["findingsPerRule"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(rule, n)| format!("{rule}: {}", count(n)))
                .collect();
            out(format!(
                "  findings per rule: {}",
                if rules.is_empty() {
                    "none".to_owned()
                } else {
                    rules.join(", ")
                }
            ));
            out(format!(
                "  keys due for rotation {}, overdue {}",
                count(&s["keysDueForRotation"]),
                count(&s["keysOverdue"])
            ));
            out(format!(
                "  emails sent {}, rerouted to admins {}, failed {}",
                count(&s["emailsSent"]),
                count(&s["emailsRerouted"]),
                count(&s["emailsFailed"])
            ));
            out(format!(
                "  problems {}{}",
                count(&s["problemsTotal"]),
                if s["complete"] == true {
                    ""
                } else {
                    " (the run is incomplete: sftp-warden runs show NAME)"
                }
            ));
        }
    }
    match &status.sync {
        None => out("Prefix-list sync: no finished sync yet."),
        Some(latest) => {
            let s = &latest.summary;
            out(format!(
                "Prefix-list sync — last run: {} ({}), {}",
                latest.execution,
                latest.status,
                if s["inSync"] == true {
                    "lists equal the secrets"
                } else {
                    "lists NOT in sync"
                }
            ));
            for list in s["lists"].as_array().into_iter().flatten() {
                let entries = count(&list["entries"]);
                let max = count(&list["maxEntries"]);
                out(format!(
                    "  {} ({}): {entries} of {max} entries, {} free",
                    list["name"].as_str().unwrap_or("?"),
                    list["family"].as_str().unwrap_or("?"),
                    max.saturating_sub(entries)
                ));
            }
            out(format!(
                "  lists {}, CIDRs without room {}",
                count(&s["listsTotal"]),
                count(&s["overflow"])
            ));
        }
    }
    out(
        "Logins granted and denied per reason: the CloudWatch dashboard (metric sftp-warden/Logins).",
    );
}
