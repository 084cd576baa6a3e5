//! The SMTP credential rotation on the local stack: the IAM user, the secret and two tagged
//! "mail servers" (EC2 instances moto's SSM sends the command to), and how a test or the demo
//! rotates and watches: Secrets Manager's rotation service is played by the proxy (moto would
//! need Docker to run a rotation Lambda), which calls our real function for each step.

use anyhow::{Context, Result, bail};
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
use aws_sdk_iam::types::StatusType;
use aws_sdk_secretsmanager::types::RotationRulesType;
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant};

use crate::stack::{LocalStack, SMTP_SECRET, SMTP_SERVER_TAG, SMTP_USER, function_arn};

/// The rotation function, as Secrets Manager knows it.
pub const ROTATION_FUNCTION: &str = "rotate-smtp-credentials";
/// Mail servers the stack has.
pub const MAIL_SERVERS: i32 = 2;

/// Creates the SMTP user, the secret (`{}`: no key yet) with its rotation configured (not run),
/// and the tagged mail servers.
pub async fn deploy(stack: &LocalStack, config: &aws_config::SdkConfig) -> Result<()> {
    aws_sdk_iam::Client::new(config)
        .create_user()
        .user_name(SMTP_USER)
        .send()
        .await
        .context("creating the SMTP IAM user")?;
    aws_sdk_secretsmanager::Client::new(config)
        .create_secret()
        .name(SMTP_SECRET)
        .secret_string("{}")
        .send()
        .await
        .context("creating the SMTP credentials secret")?;
    // RotationSchedule: the rotation function and every 90 days (not run now).
    secrets_via_proxy(stack, config)
        .rotate_secret()
        .secret_id(SMTP_SECRET)
        .rotation_lambda_arn(function_arn(ROTATION_FUNCTION))
        .rotation_rules(
            RotationRulesType::builder()
                .automatically_after_days(90)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .context("configuring the SMTP secret's rotation")?;
    aws_sdk_ec2::Client::new(config)
        .run_instances()
        .image_id("ami-12c6146b")
        .min_count(MAIL_SERVERS)
        .max_count(MAIL_SERVERS)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(
                    Tag::builder()
                        .key(SMTP_SERVER_TAG.0)
                        .value(SMTP_SERVER_TAG.1)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .context("starting the mail servers")?;
    Ok(())
}

/// A Secrets Manager client whose calls go through the proxy (where rotation is played).
pub fn secrets_via_proxy(
    stack: &LocalStack,
    config: &aws_config::SdkConfig,
) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(config)
            .endpoint_url(stack.proxy_url())
            .build(),
    )
}

/// One rotation attempt as the proxy recorded it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationAttempt {
    pub token: String,
    pub steps: Vec<RotationStep>,
    pub succeeded: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RotationStep {
    pub step: String,
    pub ok: bool,
    #[serde(default)]
    pub error_type: Option<String>,
}

/// One SMTP login the endpoint saw.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpLogin {
    pub username: String,
    pub accepted: bool,
    pub reason: String,
}

/// The SMTP user's keys: (id, active).
pub async fn keys(config: &aws_config::SdkConfig) -> Result<Vec<(String, bool)>> {
    let out = aws_sdk_iam::Client::new(config)
        .list_access_keys()
        .user_name(SMTP_USER)
        .send()
        .await?;
    let mut keys: Vec<(String, bool)> = out
        .access_key_metadata()
        .iter()
        .map(|k| {
            (
                k.access_key_id().unwrap_or_default().to_owned(),
                k.status() == Some(&StatusType::Active),
            )
        })
        .collect();
    keys.sort();
    Ok(keys)
}

/// The mail servers' instance ids.
pub async fn mail_servers(config: &aws_config::SdkConfig) -> Result<Vec<String>> {
    let out = aws_sdk_ec2::Client::new(config)
        .describe_instances()
        .send()
        .await?;
    let mut ids: Vec<String> = out
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| {
            i.tags()
                .iter()
                .any(|t| t.key() == Some(SMTP_SERVER_TAG.0) && t.value() == Some(SMTP_SERVER_TAG.1))
        })
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    ids.sort();
    Ok(ids)
}

/// Every rotation attempt so far.
pub fn rotations(stack: &LocalStack) -> Result<Vec<RotationAttempt>> {
    Ok(
        ureq::get(&format!("{}/_local/rotations", stack.proxy_url()))
            .call()?
            .body_mut()
            .read_json()?,
    )
}

/// Waits until the attempt with this token has ended.
pub fn wait_for_rotation(
    stack: &LocalStack,
    token: &str,
    timeout: Duration,
) -> Result<RotationAttempt> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(attempt) = rotations(stack)?
            .into_iter()
            .rev()
            .find(|a| a.token == token && a.succeeded.is_some())
        {
            return Ok(attempt);
        }
        if Instant::now() > deadline {
            bail!("rotation {token} did not end within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Starts a rotation as "Rotate secret immediately" does; returns its token.
pub async fn rotate(stack: &LocalStack, config: &aws_config::SdkConfig) -> Result<String> {
    let out = secrets_via_proxy(stack, config)
        .rotate_secret()
        .secret_id(SMTP_SECRET)
        .send()
        .await
        .context("RotateSecret")?;
    out.version_id()
        .map(str::to_owned)
        .context("RotateSecret answered no version")
}

/// Makes these mail servers fail the SSM command (an empty list heals them).
pub fn fail_servers(stack: &LocalStack, instance_ids: &[String]) -> Result<()> {
    ureq::post(&format!("{}/_local/faults", stack.proxy_url()))
        .send_json(serde_json::json!({ "failedServers": instance_ids }))?;
    Ok(())
}

/// The logins the SMTP endpoint saw, in order.
pub fn smtp_logins(stack: &LocalStack) -> Result<Vec<SmtpLogin>> {
    let path = stack.smtp_dir().join("smtp-logins.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("{}: {l}", path.display())))
        .collect()
}

/// Every value of the SMTP secret's versions (to check no credential leaks anywhere).
pub async fn secret_values(config: &aws_config::SdkConfig) -> Result<Vec<Value>> {
    let secrets = aws_sdk_secretsmanager::Client::new(config);
    let described = secrets
        .describe_secret()
        .secret_id(SMTP_SECRET)
        .send()
        .await?;
    let mut values = Vec::new();
    for (version, stages) in described
        .version_ids_to_stages()
        .cloned()
        .unwrap_or_default()
    {
        let mut get = secrets
            .get_secret_value()
            .secret_id(SMTP_SECRET)
            .version_id(&version);
        if let Some(stage) = stages.first() {
            get = get.version_stage(stage);
        }
        if let Ok(out) = get.send().await
            && let Some(text) = out.secret_string()
        {
            values.push(serde_json::from_str(text).unwrap_or(Value::Null));
        }
    }
    Ok(values)
}

/// The strings that must never appear anywhere: every SMTP password the secret ever held, and
/// the secret access key of every IAM key moto ever issued (the rotation does not store it; moto's
/// data dump still has it, deleted keys included).
pub async fn credential_strings(
    stack: &LocalStack,
    config: &aws_config::SdkConfig,
) -> Result<Vec<String>> {
    let mut found: Vec<String> = secret_values(config)
        .await?
        .iter()
        .filter_map(|v| v["SmtpPassword"].as_str().map(str::to_owned))
        .collect();
    let dump: Value = ureq::get(&format!("{}/moto-api/data.json", stack.moto_url()))
        .call()?
        .body_mut()
        .with_config()
        .limit(256 * 1024 * 1024)
        .read_json()?;
    let mut keys = Vec::new();
    collect_secret_keys(&dump["iam"], &mut keys);
    anyhow::ensure!(!keys.is_empty(), "moto's data dump lists no IAM secret key");
    found.extend(keys);
    Ok(found)
}

fn collect_secret_keys(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("secret_access_key", Value::String(s)) => into.push(s.clone()),
                    _ => collect_secret_keys(v, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_secret_keys(v, into)),
        _ => {}
    }
}
