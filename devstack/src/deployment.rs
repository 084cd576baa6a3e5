//! Deploying and driving the state machines on the local stack: seed users, deploy definitions
//! with their substitutions, run executions, read their history and the mail moto recorded.

use crate::stack::{ACCOUNT, CONFIGURATION_SET, LocalStack, REGION, WORK_BUCKET, function_arn};
use anyhow::{Context, Result, bail};
use aws_sdk_sesv2::types::SuppressionListReason;
use aws_sdk_sfn::types::{
    CloudWatchLogsLogGroup, ExecutionStatus, HistoryEvent, HistoryEventType, LogDestination,
    LogLevel, LoggingConfiguration,
};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use warden_aws::work::WorkStore;
use warden_core::suppression::SuppressionReason;
use warden_core::work::Run;

pub use warden_core::registry::STATE_MACHINES;

/// The definition with every `${...FunctionArn}` replaced by the function's local ARN, as SAM's
/// DefinitionSubstitutions do.
pub fn definition(name: &str) -> Result<String> {
    xtask::definition(name, function_arn, WORK_BUCKET)
}

/// Clients of the services the harness drives.
pub struct Clients {
    pub sfn: aws_sdk_sfn::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ses: aws_sdk_sesv2::Client,
    /// The work bucket, through the functions' own adapter.
    pub work: WorkStore,
}

/// A deployed system: its clients and state machine ARNs.
pub struct Deployment {
    pub clients: Clients,
    pub state_machines: Vec<(String, String)>,
    proxy_url: String,
}

/// Creates the SES sender identity and every state machine.
pub async fn deploy(stack: &LocalStack) -> Result<Deployment> {
    let config = stack.sdk_config().await;
    let clients = Clients {
        sfn: aws_sdk_sfn::Client::new(&config),
        secrets: aws_sdk_secretsmanager::Client::new(&config),
        ses: aws_sdk_sesv2::Client::from_conf(
            aws_sdk_sesv2::config::Builder::from(&config)
                .endpoint_url(stack.proxy_url())
                .build(),
        ),
        work: WorkStore::from_config(&config, WORK_BUCKET),
    };
    let sender = stack
        .options
        .env("SENDER_EMAIL")
        .unwrap_or("sftp-warden@example.com");
    clients
        .ses
        .create_email_identity()
        .email_identity(sender)
        .send()
        .await?;
    clients
        .ses
        .create_configuration_set()
        .configuration_set_name(CONFIGURATION_SET)
        .send()
        .await
        .context("creating the SES configuration set")?;
    crate::operator_cli::create_bucket(stack, WORK_BUCKET)?;
    crate::smtp::deploy(stack, &config).await?;
    let mut state_machines = Vec::new();
    for &name in STATE_MACHINES {
        let out = clients
            .sfn
            .create_state_machine()
            .name(name)
            .definition(definition(name)?)
            .role_arn(format!(
                "arn:aws:iam::{ACCOUNT}:role/sftp-warden-state-machines"
            ))
            .logging_configuration(logging(name))
            .send()
            .await
            .with_context(|| format!("creating state machine {name}"))?;
        state_machines.push((name.to_owned(), out.state_machine_arn().to_owned()));
    }
    Ok(Deployment {
        clients,
        state_machines,
        proxy_url: stack.proxy_url(),
    })
}

/// The log group a state machine logs to in the local stack (template.yaml gives each its own).
pub fn log_group(state_machine: &str) -> String {
    format!("/aws/vendedlogs/states/{state_machine}")
}

/// What template.yaml configures: every event, with execution data. moto keeps it but writes no
/// logs; the proxy writes an execution's history there when a test expires it
/// (`POST /_local/expire-history`).
fn logging(state_machine: &str) -> LoggingConfiguration {
    let group = format!(
        "arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{}:*",
        log_group(state_machine)
    );
    LoggingConfiguration::builder()
        .level(LogLevel::All)
        .include_execution_data(true)
        .destinations(
            LogDestination::builder()
                .cloud_watch_logs_log_group(
                    CloudWatchLogsLogGroup::builder()
                        .log_group_arn(group)
                        .build(),
                )
                .build(),
        )
        .build()
}

/// The run an execution ARN (`arn:…:execution:<state machine>:<name>`) names.
pub fn run_of(execution_arn: &str) -> Result<Run> {
    let mut parts = execution_arn.rsplit(':');
    let execution = parts.next().context("an execution ARN")?;
    let state_machine = parts.next().context("an execution ARN")?;
    Ok(Run {
        state_machine: state_machine.to_owned(),
        execution: execution.to_owned(),
    })
}

/// The size of an execution's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryFigures {
    pub events: usize,
    pub largest_payload: usize,
}

/// The payloads one history event carries (inputs, outputs, parameters, causes). The SDK
/// redacts these fields in Debug output, so each is read explicitly.
pub fn payloads(e: &HistoryEvent) -> Vec<&str> {
    [
        e.execution_started_event_details().and_then(|d| d.input()),
        e.execution_succeeded_event_details()
            .and_then(|d| d.output()),
        e.execution_failed_event_details().and_then(|d| d.cause()),
        e.state_entered_event_details().and_then(|d| d.input()),
        e.state_exited_event_details().and_then(|d| d.output()),
        e.lambda_function_scheduled_event_details()
            .and_then(|d| d.input()),
        e.lambda_function_succeeded_event_details()
            .and_then(|d| d.output()),
        e.lambda_function_failed_event_details()
            .and_then(|d| d.cause()),
        e.task_scheduled_event_details().map(|d| d.parameters()),
        e.task_succeeded_event_details().and_then(|d| d.output()),
        e.task_failed_event_details().and_then(|d| d.cause()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// One finished execution.
#[derive(Debug, Clone)]
pub struct Execution {
    pub arn: String,
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// The cause, when it is JSON (a `RunIncomplete` run's bounded summary).
    pub cause_json: Option<Value>,
    /// Names of the states entered, in order (Map iterations included).
    pub states: Vec<String>,
    /// From the execution's start to its stop, as Step Functions reports them.
    pub elapsed: Duration,
}

/// An email as SES (moto) accepted it, recorded whole by the proxy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentEmail {
    #[serde(default)]
    pub message_id: String,
    #[serde(default)]
    pub source: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    #[serde(default)]
    pub subject: String,
    /// The plain-text part.
    #[serde(rename = "text", default)]
    pub body: String,
    /// The HTML part, if the message had one.
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub configuration_set_name: Option<String>,
    #[serde(default)]
    pub email_tags: std::collections::BTreeMap<String, String>,
    /// Recipients that were on the suppression list when the message was sent (must be none).
    #[serde(default)]
    pub suppressed_recipients: Vec<String>,
}

impl Deployment {
    pub fn state_machine_arn(&self, name: &str) -> Result<&str> {
        self.state_machines
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, arn)| arn.as_str())
            .with_context(|| format!("no state machine {name}"))
    }

    /// Creates (or overwrites) one `SFTP/<username>` secret.
    pub async fn put_user(&self, username: &str, secret: impl AsRef<str>) -> Result<()> {
        let secret = secret.as_ref();
        let name = format!("SFTP/{username}");
        let created = self
            .clients
            .secrets
            .create_secret()
            .name(&name)
            .secret_string(secret)
            .send()
            .await;
        if created.is_err() {
            self.clients
                .secrets
                .put_secret_value()
                .secret_id(&name)
                .secret_string(secret)
                .send()
                .await?;
        }
        Ok(())
    }

    /// Seeds every `<dir>/<username>.json` as a user secret; returns the usernames.
    pub async fn seed_users(&self, dir: &Path) -> Result<Vec<String>> {
        let mut users = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            let Some(username) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if path.extension().is_none_or(|e| e != "json") || username == "expected" {
                continue;
            }
            let secret = std::fs::read_to_string(&path)?;
            self.put_user(username, &secret).await?;
            users.push(username.to_owned());
        }
        Ok(users)
    }

    /// Starts an execution and waits for it to finish (up to `timeout`).
    pub async fn run(
        &self,
        state_machine: &str,
        input: &Value,
        timeout: Duration,
    ) -> Result<Execution> {
        let started = Instant::now();
        let arn = self.start(state_machine, input).await?;
        self.wait(&arn, started, timeout).await
    }

    /// Starts an execution (named `local-run-N`) and returns its ARN without waiting.
    pub async fn start(&self, state_machine: &str, input: &Value) -> Result<String> {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(self
            .clients
            .sfn
            .start_execution()
            .state_machine_arn(self.state_machine_arn(state_machine)?)
            .name(format!("local-run-{run}"))
            .input(input.to_string())
            .send()
            .await?
            .execution_arn()
            .to_owned())
    }

    /// Waits for an execution someone else started (`start-runs`), by state machine and name.
    pub async fn wait_for(
        &self,
        state_machine: &str,
        name: &str,
        timeout: Duration,
    ) -> Result<Execution> {
        let machine = self.state_machine_arn(state_machine)?;
        let arn = format!(
            "{}:{name}",
            machine.replacen(":stateMachine:", ":execution:", 1)
        );
        self.wait(&arn, Instant::now(), timeout).await
    }

    /// Waits for a started execution to finish (up to `timeout` after `started`).
    pub async fn wait(&self, arn: &str, started: Instant, timeout: Duration) -> Result<Execution> {
        loop {
            let d = self
                .clients
                .sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await?;
            if d.status() != &ExecutionStatus::Running {
                let states = self.states_entered(arn).await?;
                return Ok(Execution {
                    status: d.status().as_str().to_owned(),
                    output: d.output().map(serde_json::from_str).transpose()?,
                    error: d.error().map(str::to_owned),
                    cause: d.cause().map(str::to_owned),
                    cause_json: d.cause().and_then(|c| serde_json::from_str(c).ok()),
                    states,
                    // The execution's own duration; only if Step Functions gave none, ours.
                    elapsed: d
                        .stop_date()
                        .map(|stop| {
                            let millis = stop.to_millis().unwrap_or_default()
                                - d.start_date().to_millis().unwrap_or_default();
                            Duration::from_millis(millis.max(0).unsigned_abs())
                        })
                        .unwrap_or_else(|| started.elapsed()),
                    arn: arn.to_owned(),
                });
            }
            if started.elapsed() > timeout {
                bail!("execution {arn} still running after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Every event of an execution's history, all pages.
    pub async fn history(&self, arn: &str) -> Result<Vec<HistoryEvent>> {
        let mut events = Vec::new();
        let mut pages = self
            .clients
            .sfn
            .get_execution_history()
            .execution_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            events.extend(page?.events().iter().cloned());
        }
        Ok(events)
    }

    /// The outputs of every exit of the named state (one per Map iteration for inner states).
    pub async fn state_outputs(&self, arn: &str, state: &str) -> Result<Vec<Value>> {
        let mut outputs = Vec::new();
        for event in self.history(arn).await? {
            if let Some(d) = event.state_exited_event_details()
                && d.name() == state
                && let Some(output) = d.output()
            {
                outputs.push(serde_json::from_str(output)?);
            }
        }
        Ok(outputs)
    }

    /// How large an execution's history is: its events, and the largest payload one of them
    /// carries (a state's input or output, a task's result, an error's cause), in bytes. The
    /// payload is what Step Functions' 256 KiB quota bounds.
    pub async fn history_figures(&self, arn: &str) -> Result<HistoryFigures> {
        let events = self.history(arn).await?;
        let largest = events
            .iter()
            .flat_map(payloads)
            .map(str::len)
            .max()
            .unwrap_or(0);
        Ok(HistoryFigures {
            events: events.len(),
            largest_payload: largest,
        })
    }

    /// The child executions an execution's Distributed Maps ran (their items), in all.
    pub async fn map_run_children(&self, arn: &str) -> Result<i64> {
        let runs = self
            .clients
            .sfn
            .list_map_runs()
            .execution_arn(arn)
            .send()
            .await?;
        let mut children = 0;
        for run in runs.map_runs() {
            let described = self
                .clients
                .sfn
                .describe_map_run()
                .map_run_arn(run.map_run_arn())
                .send()
                .await?;
            children += described.item_counts().map_or(0, |c| c.total());
        }
        Ok(children)
    }

    /// Creates the secrets of `users`, `concurrency` at a time.
    pub async fn seed(&self, users: &[(String, Value)], concurrency: usize) -> Result<()> {
        use futures_util::{StreamExt, TryStreamExt, stream};
        stream::iter(users)
            .map(|(username, secret)| self.put_user(username, secret.to_string()))
            .buffer_unordered(concurrency.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Every input, output, error and cause recorded in an execution's history, as one text.
    pub async fn history_text(&self, arn: &str) -> Result<String> {
        let mut text = String::new();
        for e in self.history(arn).await? {
            for field in payloads(&e) {
                text.push_str(field);
                text.push('\n');
            }
        }
        Ok(text)
    }

    /// Names of the states entered, in order.
    async fn states_entered(&self, arn: &str) -> Result<Vec<String>> {
        let entered = |t: &HistoryEventType| {
            matches!(
                t,
                HistoryEventType::TaskStateEntered
                    | HistoryEventType::MapStateEntered
                    | HistoryEventType::PassStateEntered
                    | HistoryEventType::ChoiceStateEntered
                    | HistoryEventType::SucceedStateEntered
                    | HistoryEventType::FailStateEntered
                    | HistoryEventType::WaitStateEntered
                    | HistoryEventType::ParallelStateEntered
            )
        };
        Ok(self
            .history(arn)
            .await?
            .iter()
            .filter(|e| entered(e.r#type()))
            .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_owned()))
            .collect())
    }

    /// A JSON file of the work bucket (`s3://sftp-warden-work/<key>`), e.g. a run's full summary.
    pub async fn work_file(&self, key: &str) -> Result<Value> {
        Ok(self.clients.work.get_json(key).await?)
    }

    /// The files of a set of a run in the work bucket (`reports`, `emails`, `sent`), in order.
    pub async fn run_files(&self, execution_arn: &str, set: &str) -> Result<Vec<Value>> {
        let prefix = run_of(execution_arn)?.set_prefix(set);
        let files = self.clients.work.get_all(&prefix).await?;
        Ok(files.into_iter().map(|(_, value)| value).collect())
    }

    /// Every file a run keeps in the work bucket, as one text (for tests that look for leaks).
    pub async fn run_files_text(&self, execution_arn: &str) -> Result<String> {
        let prefix = run_of(execution_arn)?.prefix();
        let files: Vec<(String, Value)> = self.clients.work.get_all(&prefix).await?;
        Ok(files
            .iter()
            .map(|(_, value)| value.to_string() + "\n")
            .collect())
    }

    /// A run's full summary (the bounded one, its execution output or its cause, says where).
    pub async fn full_summary(&self, execution: &Execution) -> Result<Value> {
        let output = execution
            .output
            .as_ref()
            .or(execution.cause_json.as_ref())
            .with_context(|| format!("{} has no summary", execution.arn))?;
        let uri = output["fullSummary"]
            .as_str()
            .with_context(|| format!("{} names no full summary", execution.arn))?;
        let key = uri
            .strip_prefix(&format!("s3://{WORK_BUCKET}/"))
            .with_context(|| format!("{uri} is not in the work bucket"))?;
        self.work_file(key).await
    }

    /// Every email SES (moto, through the proxy) accepted so far, whole: both parts, the
    /// configuration set and the tags, as the proxy recorded them.
    pub fn sent_emails(&self) -> Result<Vec<SentEmail>> {
        let sent: Vec<SentEmail> = ureq::get(&format!("{}/_local/sent-emails", self.proxy_url))
            .call()?
            .body_mut()
            .with_config()
            .limit(512 * 1024 * 1024)
            .read_json()?;
        Ok(sent)
    }

    /// Ages an execution past Step Functions' 90 days of history: the proxy writes its history
    /// to its state machine's log group, as Step Functions logs it, and from then on answers for
    /// it as Step Functions does for an execution it no longer knows. Returns the proxy's answer
    /// (`logGroup`, `logStream`, `events`).
    pub fn expire_history(&self, execution_arn: &str) -> Result<Value> {
        let answer: Value = ureq::post(&format!("{}/_local/expire-history", self.proxy_url))
            .send_json(serde_json::json!({ "executionArn": execution_arn }))
            .with_context(|| format!("expiring the history of {execution_arn}"))?
            .body_mut()
            .read_json()?;
        Ok(answer)
    }

    /// Makes the proxy answer these secrets (`SFTP/<name>`) with `DecryptionFailure` in every
    /// `BatchGetSecretValue` (the stack needs `secrets_through_proxy`); an empty list heals them.
    pub fn make_unreadable(&self, secret_ids: &[&str]) -> Result<()> {
        ureq::post(&format!("{}/_local/faults", self.proxy_url))
            .send_json(serde_json::json!({ "unreadableSecrets": secret_ids }))?;
        Ok(())
    }

    /// Puts `address` on the local SES suppression list (as a hard bounce or a complaint would).
    pub async fn suppress(&self, address: &str, reason: SuppressionReason) -> Result<()> {
        self.clients
            .ses
            .put_suppressed_destination()
            .email_address(address)
            .reason(SuppressionListReason::from(reason.as_str()))
            .send()
            .await
            .with_context(|| format!("suppressing {address}"))?;
        Ok(())
    }
}

/// The keys of the objects in a bucket under `prefix`, from moto (ListObjectsV2, path-style).
pub fn object_keys(moto_url: &str, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut request = ureq::get(&format!("{moto_url}/{bucket}"))
            .query("list-type", "2")
            .query("prefix", prefix);
        if let Some(t) = &token {
            request = request.query("continuation-token", t);
        }
        let body = request
            .call()
            .with_context(|| format!("listing s3://{bucket}/{prefix}"))?
            .body_mut()
            .read_to_string()?;
        keys.extend(xml_values(&body, "Key"));
        token = xml_values(&body, "NextContinuationToken")
            .into_iter()
            .next();
        if token.is_none() {
            return Ok(keys);
        }
    }
}

/// The text of every `<tag>…</tag>` (S3's XML, which has no attributes on these).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(value, _)| value.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_values_are_read_between_their_tags() {
        let xml = "<R><Contents><Key>a/</Key></Contents><Contents><Key>a/b/</Key></Contents></R>";
        assert_eq!(xml_values(xml, "Key"), ["a/", "a/b/"]);
        assert!(xml_values(xml, "NextContinuationToken").is_empty());
    }
}
