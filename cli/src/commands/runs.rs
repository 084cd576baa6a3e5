//! `runs` and `runs show ID`: what the state machines did, read from Step Functions.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Outcome, out, out_json};
use crate::args::{Format, RunsArgs, RunsCommand, ShowArgs};
use crate::aws::executions::{ExecutionInfo, Executions, MapRunInfo};
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
    path: Vec<StateVisit>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    map_runs: Vec<MapRunInfo>,
    errors: Vec<RecordedError>,
}

pub async fn run(args: RunsArgs) -> Result<Outcome> {
    let config = crate::aws::sdk_config().await;
    let executions = Executions::new(aws_sdk_sfn::Client::new(&config));
    match args.command {
        Some(RunsCommand::Show(show_args)) => show(&executions, show_args).await,
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

async fn show(executions: &Executions, args: ShowArgs) -> Result<Outcome> {
    let arn = if args.id.starts_with("arn:") {
        args.id.clone()
    } else {
        let found = executions.find_by_name(&args.id).await?;
        match found.as_slice() {
            [one] => one.clone(),
            [] => bail!("no execution named {}", args.id),
            many => bail!(
                "{} executions are named {}; give the ARN of one: {}",
                many.len(),
                args.id,
                many.join(", ")
            ),
        }
    };
    let execution = executions.describe(&arn).await?;
    let events = executions.history(&arn).await?;
    let map_runs = executions.map_runs(&arn).await?;
    let shown = Shown {
        map_runs,
        path: history::path_of_states(&events),
        errors: history::recorded_errors(&events),
        execution,
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
                for run in &shown.map_runs {
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
                }
            }
            if !shown.errors.is_empty() {
                out("Errors recorded:");
                for line in report::error_lines(&shown.errors) {
                    out(format!("  {line}"));
                }
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
