//! `runs` and `runs show ID`: what the state machines did, read from Step Functions.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Outcome, out, out_json};
use crate::args::{Format, RunsArgs, RunsCommand, ShowArgs};
use crate::aws::execution_logs::{ExecutionLogs, MAX_EVENTS, Search};
use crate::aws::executions::{ExecutionInfo, Executions};
use crate::execution_log::{self, LoggedMapRun};
use crate::history::{self, RecordedError, StateVisit};
use crate::report;

const SUMMARY_CHARS: usize = 110;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    state_machine: String,
    #[serde(flatten)]
    execution: ExecutionInfo,
    summary: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Shown {
    execution: ExecutionInfo,
    /// Where it was read: `history` (Step Functions, 90 days) or `logs` (CloudWatch Logs).
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_group: Option<String>,
    path: Vec<StateVisit>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    map_runs: Vec<LoggedMapRun>,
    errors: Vec<RecordedError>,
    /// The logs held more events than are read for one execution ([`MAX_EVENTS`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    truncated: bool,
}

pub async fn run(args: RunsArgs) -> Result<Outcome> {
    let config = crate::aws::sdk_config().await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let executions = Executions::new(sfn.clone());
    match args.command {
        Some(RunsCommand::Show(show_args)) => {
            let logs = ExecutionLogs::new(aws_sdk_cloudwatchlogs::Client::new(&config), sfn);
            show(&executions, &logs, show_args).await
        }
        None => list(&executions, &args).await,
    }
}

async fn list(executions: &Executions, args: &RunsArgs) -> Result<Outcome> {
    let mut machines = executions
        .state_machines()
        .await
        .context("listing the state machines")?;
    if let Some(name) = &args.state_machine {
        let known: Vec<String> = machines.iter().map(|m| m.name.clone()).collect();
        machines.retain(|m| &m.name == name);
        if machines.is_empty() {
            bail!(
                "no state machine named {name}; there are: {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            );
        }
    }
    let mut listed = Vec::new();
    for machine in &machines {
        for arn in executions
            .recent(&machine.arn, usize::from(args.limit))
            .await?
        {
            let execution = executions.describe(&arn).await?;
            listed.push(Listed {
                state_machine: machine.name.clone(),
                summary: summary(&execution),
                execution,
            });
        }
    }
    match args.output.output {
        Format::Json => out_json(&listed)?,
        Format::Table if machines.is_empty() => out("No state machines are deployed here."),
        Format::Table => {
            let mut table = report::table([
                "State machine",
                "Execution",
                "Status",
                "Started (UTC)",
                "Took",
                "Summary",
            ]);
            for machine in &machines {
                let mine: Vec<&Listed> = listed
                    .iter()
                    .filter(|l| l.state_machine == machine.name)
                    .collect();
                if mine.is_empty() {
                    table.add_row(vec![machine.name.as_str(), "(no executions)"]);
                }
                for l in mine {
                    table.add_row(vec![
                        l.state_machine.clone(),
                        l.execution.name.clone(),
                        l.execution.status.clone(),
                        when(&l.execution.started),
                        took(&l.execution),
                        l.summary.clone(),
                    ]);
                }
            }
            out(report::render(&table));
            out("`sftp-warden runs show <execution>` shows one run's path of states and errors.");
        }
    }
    Ok(Outcome::Clean)
}

async fn show(executions: &Executions, logs: &ExecutionLogs, args: ShowArgs) -> Result<Outcome> {
    let arn = if args.id.starts_with("arn:") {
        Some(args.id.clone())
    } else {
        let found = executions.find_by_name(&args.id).await?;
        match found.as_slice() {
            [one] => Some(one.clone()),
            [] => None,
            many => bail!(
                "{} executions are named {}; give the ARN of one: {}",
                many.len(),
                args.id,
                many.join(", ")
            ),
        }
    };
    let from_history = match &arn {
        Some(arn) if !args.from_logs => match executions.describe(arn).await {
            Ok(execution) => Some((arn.clone(), execution)),
            Err(e) if e.is_unknown_execution() => None,
            Err(e) => return Err(e.into()),
        },
        _ => None,
    };
    let shown = match from_history {
        Some((arn, execution)) => {
            let events = executions.history(&arn).await?;
            let map_runs = executions.map_runs(&arn).await?;
            Shown {
                map_runs: map_runs.into_iter().map(LoggedMapRun::from).collect(),
                path: history::path_of_states(&events),
                errors: history::recorded_errors(&events),
                execution,
                source: "history",
                log_group: None,
                truncated: false,
            }
        }
        None => from_logs(executions, logs, arn.as_deref(), &args.id).await?,
    };
    match args.output.output {
        Format::Json => out_json(&shown)?,
        Format::Table => {
            let e = &shown.execution;
            let machine = e.state_machine_arn.rsplit(':').next().unwrap_or_default();
            out(format!("Execution      {}", e.name));
            out(format!("ARN            {}", e.arn));
            out(format!("State machine  {machine}"));
            out(format!("Status         {}", e.status));
            if let Some(group) = &shown.log_group {
                out(format!(
                    "Read from      CloudWatch Logs, log group {group} (Step Functions keeps \
                     history 90 days; these logs 365)"
                ));
            }
            out(format!("Started        {} UTC", when(&e.started)));
            if let Some(stopped) = &e.stopped {
                out(format!(
                    "Stopped        {} UTC (took {})",
                    when(stopped),
                    took(e)
                ));
            }
            if let Some(error) = &e.error {
                out(format!(
                    "Error          {error}: {}",
                    warden_core::text::truncate(e.cause.as_deref().unwrap_or(""), 500)
                ));
                // A run that ends incomplete carries its bounded summary as the cause: its
                // problems, one a line, are what the operator came for.
                let problems: Vec<String> = e
                    .cause
                    .as_deref()
                    .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
                    .and_then(|c| c["problems"].as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|p| p.as_str().map(|p| warden_core::text::escape_unsafe(p, 400)))
                    .collect();
                if !problems.is_empty() {
                    out("Problems:");
                    for problem in problems {
                        out(format!("  - {problem}"));
                    }
                }
            }
            out("Path of states:");
            for line in report::path_lines(&shown.path) {
                out(format!("  {line}"));
            }
            if !shown.map_runs.is_empty() {
                out("Distributed Map runs (one child execution per item):");
                for logged in &shown.map_runs {
                    let run = &logged.run;
                    if shown.log_group.is_some() && run.total == 0 {
                        out(format!(
                            "  ⇉ {}: no child execution logged ({})",
                            run.label, run.status
                        ));
                        continue;
                    }
                    out(format!(
                        "  ⇉ {}: {} items, {} succeeded, {} failed, {} running, {} pending ({})",
                        run.label,
                        run.total,
                        run.succeeded,
                        run.failed,
                        run.running,
                        run.pending,
                        run.status
                    ));
                    for line in report::error_lines(&logged.child_errors) {
                        out(format!("      {line}"));
                    }
                    if logged.more_failed_children > 0 {
                        out(format!(
                            "      … and {} more failed child executions",
                            logged.more_failed_children
                        ));
                    }
                }
            }
            if !shown.errors.is_empty() {
                out("Errors recorded:");
                for line in report::error_lines(&shown.errors) {
                    out(format!("  {line}"));
                }
            }
            if shown.truncated {
                out(format!(
                    "(Only the first {MAX_EVENTS} logged events of one search were read.)"
                ));
            }
            if let Some(output) = &e.output {
                out("Output:");
                for line in serde_json::to_string_pretty(output)?.lines() {
                    out(format!("  {line}"));
                }
            }
        }
    }
    Ok(Outcome::Clean)
}

/// The execution read from its state machine's log group: by its ARN, or else by its name in
/// every state machine that logs. Its Distributed Map runs are followed into their children.
async fn from_logs(
    executions: &Executions,
    logs: &ExecutionLogs,
    arn: Option<&str>,
    id: &str,
) -> Result<Shown> {
    // (state machine, execution) ARNs where the execution may have logged.
    let candidates: Vec<(String, String)> = match arn {
        Some(arn) => vec![(
            execution_log::state_machine_of(arn)
                .with_context(|| format!("{arn} is not an execution ARN"))?,
            arn.to_owned(),
        )],
        None => executions
            .state_machines()
            .await
            .context("listing the state machines")?
            .into_iter()
            .filter_map(|m| execution_log::execution_arn(&m.arn, id).map(|a| (m.arn, a)))
            .collect(),
    };
    let mut found = Vec::new();
    for (machine, arn) in candidates {
        let Some(group) = logs.log_group(&machine).await? else {
            continue;
        };
        let parent = logs.events(&group, &Search::Execution(arn.clone())).await?;
        if let Some(logged) = execution_log::execution(&arn, &parent.events) {
            found.push((arn, group, parent, logged));
        }
    }
    let (arn, group, parent, logged) = match found.len() {
        0 => bail!(
            "no execution named {id}: Step Functions does not know it (it keeps histories 90 \
             days) and no state machine's log group holds it"
        ),
        1 => found.remove(0),
        _ => bail!(
            "{} executions are named {id}; give the ARN of one: {}",
            found.len(),
            found
                .iter()
                .map(|(arn, ..)| arn.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut truncated = parent.truncated;
    let mut map_runs = Vec::new();
    for map_run_arn in &logged.map_runs {
        let Some(prefix) = execution_log::children_prefix(map_run_arn) else {
            continue;
        };
        let children = logs.events(&group, &Search::Children(prefix)).await?;
        truncated |= children.truncated;
        let mut events = parent.events.clone();
        events.extend(children.events);
        map_runs.push(execution_log::map_run(&arn, map_run_arn, &events));
    }
    Ok(Shown {
        path: history::path_of_states(&logged.events),
        errors: history::recorded_errors(&logged.events),
        execution: logged.info,
        source: "logs",
        log_group: Some(group),
        map_runs,
        truncated,
    })
}

/// The one-line summary of a run: its error when it failed, else its output's counts.
fn summary(execution: &ExecutionInfo) -> String {
    match (&execution.error, &execution.output) {
        (Some(error), _) => {
            let cause = execution.cause.as_deref().unwrap_or_default();
            warden_core::text::escape_unsafe(&format!("{error}: {cause}"), SUMMARY_CHARS)
        }
        (None, Some(output)) => history::summarise_output(output, SUMMARY_CHARS),
        (None, None) => String::new(),
    }
}

fn when(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

fn took(execution: &ExecutionInfo) -> String {
    let Some(stopped) = execution.stopped else {
        return "running".to_owned();
    };
    let millis = (stopped - execution.started).num_milliseconds().max(0);
    if millis < 60_000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else {
        format!("{} min {} s", millis / 60_000, (millis % 60_000) / 1000)
    }
}
