//! `smtp status`, `smtp rotate` and `smtp redeploy`: the SES SMTP credentials the mail servers
//! send with. Key ids, versions, dates and each mail server's result are shown; the secret key
//! and the SMTP password are read only to learn a version's key id, and never printed.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_sdk_iam::types::StatusType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use warden_core::smtp::{DeploymentVerdict, key_id_of};

use super::{Outcome, out, out_json};
use crate::args::{Format, SmtpArgs, SmtpRedeployArgs, SmtpRotateArgs};
use crate::aws::executions::time;
use crate::aws::{sdk_config, sdk_message};

const DEPLOYMENT_SUFFIX: &str = "smtp-credential-deployment";
const CHECK_STATE: &str = "Check the mail servers";
const GRACE_STATE: &str = "Wait out the grace period";
const STAGES: [&str; 3] = ["AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"];
const POLL: Duration = Duration::from_secs(2);

struct Smtp {
    secrets: aws_sdk_secretsmanager::Client,
    iam: aws_sdk_iam::Client,
    sfn: aws_sdk_sfn::Client,
}

impl Smtp {
    async fn from_env() -> Self {
        let config = sdk_config().await;
        Smtp {
            secrets: aws_sdk_secretsmanager::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionView {
    stage: String,
    version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct KeyView {
    access_key_id: String,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    created: Option<DateTime<Utc>>,
    /// Which version holds it: current, pending, previous, or none.
    held_by: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentView {
    execution: String,
    status: String,
    started: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<DeploymentVerdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SmtpStatus {
    secret: String,
    rotation_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    rotation_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_rotated: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_rotation: Option<DateTime<Utc>>,
    versions: Vec<VersionView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iam_user: Option<String>,
    keys: Vec<KeyView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_deployment: Option<DeploymentView>,
}

/// The part of a version's value the CLI reads: which key, which user. The rest is dropped
/// unread.
#[derive(Deserialize)]
struct KeyAndUser {
    #[serde(rename = "IamUserName", default)]
    iam_user_name: Option<String>,
}

pub async fn status(args: SmtpArgs) -> Result<Outcome> {
    let smtp = Smtp::from_env().await;
    let status = read_status(&smtp, &args.secret_id()).await?;
    match args.output.output {
        Format::Json => out_json(&status)?,
        Format::Table => print_status(&status),
    }
    Ok(Outcome::Clean)
}

async fn read_status(smtp: &Smtp, secret_id: &str) -> Result<SmtpStatus> {
    let described = smtp
        .secrets
        .describe_secret()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeSecret {secret_id}: {}", sdk_message(&e)))?;
    let listed = smtp
        .secrets
        .list_secret_version_ids()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("ListSecretVersionIds: {}", sdk_message(&e)))?;
    let mut versions = Vec::new();
    let mut iam_user = arg_user();
    for stage in STAGES {
        let Some(entry) = listed
            .versions()
            .iter()
            .find(|v| v.version_stages().iter().any(|s| s == stage))
        else {
            continue;
        };
        let version = entry.version_id().unwrap_or_default().to_owned();
        // A finished rotation leaves AWSPENDING on the current version: nothing pending.
        if stage == "AWSPENDING" && versions.iter().any(|v: &VersionView| v.version == version) {
            continue;
        }
        // By id and stage: the value is parsed for its key id and user, then dropped.
        let value = smtp
            .secrets
            .get_secret_value()
            .secret_id(secret_id)
            .version_id(&version)
            .version_stage(stage)
            .send()
            .await
            .ok()
            .and_then(|v| v.secret_string().map(str::to_owned));
        let access_key_id = value.as_deref().and_then(|v| key_id_of(v).ok().flatten());
        if stage == "AWSCURRENT"
            && let Some(user) = value
                .as_deref()
                .and_then(|v| serde_json::from_str::<KeyAndUser>(v).ok())
                .and_then(|k| k.iam_user_name)
        {
            iam_user = Some(user);
        }
        versions.push(VersionView {
            stage: stage.to_owned(),
            version,
            created: entry.created_date().map(time),
            access_key_id,
        });
    }
    let mut keys = Vec::new();
    if let Some(user) = &iam_user {
        let out = smtp
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("ListAccessKeys {user}: {}", sdk_message(&e)))?;
        for key in out.access_key_metadata() {
            let id = key.access_key_id().unwrap_or_default().to_owned();
            let held_by = versions
                .iter()
                .find(|v| v.access_key_id.as_deref() == Some(id.as_str()))
                .map_or("none", |v| match v.stage.as_str() {
                    "AWSCURRENT" => "current",
                    "AWSPENDING" => "pending",
                    _ => "previous",
                })
                .to_owned();
            keys.push(KeyView {
                access_key_id: id,
                status: key
                    .status()
                    .map_or("unknown", StatusType::as_str)
                    .to_owned(),
                created: key.create_date().map(time),
                held_by,
            });
        }
    }
    Ok(SmtpStatus {
        secret: described.name().unwrap_or(secret_id).to_owned(),
        rotation_enabled: described.rotation_enabled().unwrap_or(false),
        rotation_days: described
            .rotation_rules()
            .and_then(|r| r.automatically_after_days()),
        last_rotated: described.last_rotated_date().map(time),
        next_rotation: described.next_rotation_date().map(time),
        versions,
        iam_user,
        keys,
        last_deployment: last_deployment(smtp).await?,
    })
}

fn arg_user() -> Option<String> {
    crate::args::environment()
        .var("SMTP_IAM_USER")
        .map(str::to_owned)
}

async fn deployment_machine(smtp: &Smtp) -> Result<String> {
    let listed = smtp
        .sfn
        .list_state_machines()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("ListStateMachines: {}", sdk_message(&e)))?;
    listed
        .state_machines()
        .iter()
        .find(|m| m.name().ends_with(DEPLOYMENT_SUFFIX))
        .map(|m| m.state_machine_arn().to_owned())
        .context("no state machine named …smtp-credential-deployment (is the stack deployed?)")
}

async fn last_deployment(smtp: &Smtp) -> Result<Option<DeploymentView>> {
    let Ok(machine) = deployment_machine(smtp).await else {
        return Ok(None);
    };
    let listed = smtp
        .sfn
        .list_executions()
        .state_machine_arn(&machine)
        .max_results(20)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("ListExecutions: {}", sdk_message(&e)))?;
    let Some(newest) = listed
        .executions()
        .iter()
        .max_by_key(|e| time(e.start_date()))
    else {
        return Ok(None);
    };
    Ok(Some(deployment_view(smtp, newest.execution_arn()).await?))
}

async fn deployment_view(smtp: &Smtp, execution_arn: &str) -> Result<DeploymentView> {
    let d = smtp
        .sfn
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("DescribeExecution: {}", sdk_message(&e)))?;
    Ok(DeploymentView {
        execution: d.name().unwrap_or_default().to_owned(),
        status: d.status().as_str().to_owned(),
        started: time(d.start_date()),
        stopped: d.stop_date().map(time),
        verdict: last_verdict(smtp, execution_arn).await?,
        error: d.error().map(str::to_owned),
    })
}

/// The last check of the mail servers, from the history (the output of a failed run is empty).
async fn last_verdict(smtp: &Smtp, execution_arn: &str) -> Result<Option<DeploymentVerdict>> {
    let history = smtp
        .sfn
        .get_execution_history()
        .execution_arn(execution_arn)
        .reverse_order(true)
        .max_results(200)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GetExecutionHistory: {}", sdk_message(&e)))?;
    Ok(history
        .events()
        .iter()
        .filter_map(|e| e.state_exited_event_details())
        .find(|d| d.name() == CHECK_STATE)
        .and_then(|d| d.output())
        .and_then(|o| serde_json::from_str::<Value>(o).ok())
        .and_then(|v| serde_json::from_value(v["deployment"]["verdict"].clone()).ok()))
}

fn print_status(status: &SmtpStatus) {
    let day = |t: &Option<DateTime<Utc>>| {
        t.map_or("-".to_owned(), |t| {
            t.format("%Y-%m-%d %H:%M UTC").to_string()
        })
    };
    out(format!("SMTP credentials: {}", status.secret));
    out(format!(
        "  rotation: {}{}; last {}; next {}",
        if status.rotation_enabled { "on" } else { "OFF" },
        status
            .rotation_days
            .map_or(String::new(), |d| format!(", every {d} days")),
        day(&status.last_rotated),
        day(&status.next_rotation),
    ));
    for v in &status.versions {
        let age = v
            .created
            .map(|c| format!(", {} days old", (Utc::now() - c).num_days()))
            .unwrap_or_default();
        out(format!(
            "  {:<11} {} key {}{age}",
            v.stage,
            v.version,
            v.access_key_id.as_deref().unwrap_or("(none)")
        ));
    }
    out(format!(
        "IAM user {}: {} key(s)",
        status
            .iam_user
            .as_deref()
            .unwrap_or("(unknown: set SMTP_IAM_USER)"),
        status.keys.len()
    ));
    for k in &status.keys {
        out(format!(
            "  {} {:<8} created {} ({})",
            k.access_key_id,
            k.status,
            day(&k.created),
            k.held_by
        ));
    }
    match &status.last_deployment {
        None => out("Last deployment: none"),
        Some(d) => {
            out(format!(
                "Last deployment: {} {} (started {}{})",
                d.execution,
                d.status,
                day(&Some(d.started)),
                d.error
                    .as_deref()
                    .map_or(String::new(), |e| format!(", error {e}"))
            ));
            print_verdict(d.verdict.as_ref());
        }
    }
}

fn print_verdict(verdict: Option<&DeploymentVerdict>) {
    let Some(v) = verdict else {
        return;
    };
    for server in &v.servers {
        out(format!("  {:<22} {}", server.instance_id, server.status));
    }
    if let Some(reason) = &v.reason {
        out(format!("  {reason}"));
    }
}

pub async fn rotate(args: SmtpRotateArgs) -> Result<Outcome> {
    let smtp = Smtp::from_env().await;
    let secret_id = args.smtp.secret_id();
    let before = read_status(&smtp, &secret_id).await?;
    let current = |s: &SmtpStatus| {
        s.versions
            .iter()
            .find(|v| v.stage == "AWSCURRENT")
            .and_then(|v| v.access_key_id.clone())
    };
    out(format!(
        "Rotating {}: current key {}",
        secret_id,
        current(&before).as_deref().unwrap_or("(none)")
    ));
    let rotated = smtp
        .secrets
        .rotate_secret()
        .secret_id(&secret_id)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("RotateSecret {secret_id}: {}", sdk_message(&e)))?;
    let token = rotated
        .version_id()
        .context("RotateSecret answered no version")?
        .to_owned();
    out(format!("  rotation {token} started"));
    let deadline = Instant::now() + Duration::from_secs(args.follow_seconds);
    // The steps show in the versions: a pending key (createSecret), then AWSCURRENT moved
    // (finishSecret, after testSecret's SMTP login).
    let mut pending_shown = false;
    loop {
        let status = read_status(&smtp, &secret_id).await?;
        let pending = status
            .versions
            .iter()
            .find(|v| v.version == token && v.access_key_id.is_some());
        if let Some(p) = pending
            && !pending_shown
        {
            out(format!(
                "  new key {} created and stored as the pending version (createSecret)",
                p.access_key_id.as_deref().unwrap_or_default(),
            ));
            pending_shown = true;
        }
        if status
            .versions
            .iter()
            .any(|v| v.version == token && v.stage == "AWSCURRENT")
        {
            out(format!(
                "  SMTP login with it accepted (testSecret); AWSCURRENT is now {} (finishSecret)",
                current(&status).as_deref().unwrap_or_default()
            ));
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "rotation {token} has not finished in {} s: AWSCURRENT has not moved. The rotation function's log (/aws/lambda/…-RotateSmtpCredentials…) says which step failed and why",
                args.follow_seconds
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let machine = deployment_machine(&smtp).await?;
    let execution = format!(
        "{}:{}",
        machine.replacen(":stateMachine:", ":execution:", 1),
        warden_core::smtp::deployment_execution_name(&token)
    );
    follow(&smtp, &execution, deadline).await
}

pub async fn redeploy(args: SmtpRedeployArgs) -> Result<Outcome> {
    let smtp = Smtp::from_env().await;
    let machine = deployment_machine(&smtp).await?;
    let old = format!(
        "{}:{}",
        machine.replacen(":stateMachine:", ":execution:", 1),
        args.execution
    );
    let described = smtp
        .sfn
        .describe_execution()
        .execution_arn(&old)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("DescribeExecution {}: {}", args.execution, sdk_message(&e))
        })?;
    let input = described.input().context("the execution has no input")?;
    let base: String = args.execution.chars().take(60).collect();
    let name = format!("{base}-again-{}", Utc::now().format("%m%d%H%M%S"));
    let started = smtp
        .sfn
        .start_execution()
        .state_machine_arn(&machine)
        .name(&name)
        .input(input)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("StartExecution: {}", sdk_message(&e)))?;
    out(format!("Deploying again as {name}"));
    let deadline = Instant::now() + Duration::from_secs(args.follow_seconds);
    follow(&smtp, started.execution_arn(), deadline).await
}

/// Prints the deployment's states as it enters them, until it ends, or waits out the grace
/// period (days), or the deadline passes.
async fn follow(smtp: &Smtp, execution_arn: &str, deadline: Instant) -> Result<Outcome> {
    let name = execution_arn
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    out(format!("  deployment {name}:"));
    let mut shown = 0;
    let mut grace_seen: Option<Instant> = None;
    loop {
        let exists = smtp
            .sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await;
        if let Ok(d) = exists {
            let history = smtp
                .sfn
                .get_execution_history()
                .execution_arn(execution_arn)
                .max_results(1000)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GetExecutionHistory: {}", sdk_message(&e)))?;
            let entered: Vec<String> = history
                .events()
                .iter()
                .filter_map(|e| e.state_entered_event_details())
                .map(|d| d.name().to_owned())
                .collect();
            for state in entered.iter().skip(shown) {
                out(format!("    {state}"));
            }
            shown = entered.len();
            let status = d.status().as_str().to_owned();
            if status != "RUNNING" {
                let view = deployment_view(smtp, execution_arn).await?;
                out(format!(
                    "  deployment {status}{}",
                    view.error
                        .as_deref()
                        .map_or(String::new(), |e| format!(": {e}"))
                ));
                print_verdict(view.verdict.as_ref());
                return Ok(if status == "SUCCEEDED" {
                    Outcome::Clean
                } else {
                    Outcome::Findings
                });
            }
            if entered.iter().any(|s| s == GRACE_STATE) {
                // A short grace period ends while we look: give it two polls before leaving.
                let seen = *grace_seen.get_or_insert_with(Instant::now);
                if seen.elapsed() < 2 * POLL {
                    tokio::time::sleep(POLL).await;
                    continue;
                }
                print_verdict(last_verdict(smtp, execution_arn).await?.as_ref());
                out(
                    "  every server has the new key; the old key is deactivated and is deleted when the grace period ends",
                );
                return Ok(Outcome::Clean);
            }
        }
        if Instant::now() > deadline {
            out(format!(
                "  still running; follow it with: sftp-warden runs show {name}"
            ));
            return Ok(Outcome::Clean);
        }
        tokio::time::sleep(POLL).await;
    }
}
