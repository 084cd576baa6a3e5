//! Running the operator CLI (`target/debug/sftp-warden`) against the local stack, as an operator
//! would against AWS: a subprocess whose standard AWS environment points at the stack's moto.

use crate::stack::{LocalStack, REGION};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// The binary's name (package `sftp-warden-cli`).
pub const BINARY: &str = "sftp-warden";

/// The landing bucket of the sample users (their targets are `/sftp-landing/...`).
pub const LANDING_BUCKET: &str = "sftp-landing";

/// What one run of the CLI printed, and its exit code.
#[derive(Debug, Clone)]
pub struct CliRun {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliRun {
    /// stdout parsed as JSON (for `--output json`).
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.stdout).with_context(|| {
            format!(
                "stdout is not JSON:\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The built binary. Fails when it is missing or older than its sources, so a test never runs a
/// stale CLI (`cargo test` cannot build it: it holds the target-dir lock while tests run).
pub fn binary() -> Result<PathBuf> {
    let bin = crate::target_dir().join("debug").join(BINARY);
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .with_context(|| {
            format!(
                "{} is not built: run `cargo build --workspace --bins` first (cargo xtask does)",
                bin.display()
            )
        })?;
    let root = crate::workspace_root();
    for dir in ["cli", "crates/warden-core/src", "crates/warden-aws/src"] {
        if let Some(newer) = newest_file(&root.join(dir))?
            && newer.1 > built
        {
            bail!(
                "{} is older than {}: run `cargo build --workspace --bins` first (cargo xtask does)",
                bin.display(),
                newer.0.display()
            );
        }
    }
    Ok(bin)
}

fn newest_file(dir: &Path) -> Result<Option<(PathBuf, SystemTime)>> {
    let mut newest: Option<(PathBuf, SystemTime)> = None;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(None);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let found = if path.is_dir() {
            newest_file(&path)?
        } else {
            Some((path.clone(), entry.metadata()?.modified()?))
        };
        if let Some(found) = found
            && newest.as_ref().is_none_or(|n| found.1 > n.1)
        {
            newest = Some(found);
        }
    }
    Ok(newest)
}

/// The CLI with the environment an operator would have against this stack: the stack's moto as
/// the AWS endpoint, and the functions' configuration (role, prefix, exclusions).
pub fn command(stack: &LocalStack) -> Result<Command> {
    let mut command = Command::new(binary()?);
    command
        .current_dir(crate::workspace_root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_ENDPOINT_URL", stack.moto_url())
        .env("AWS_ENDPOINT_URL_SESV2", stack.proxy_url())
        // Secrets Manager's rotation service is played by the proxy (`smtp rotate`); every
        // other call passes through it to moto.
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", stack.proxy_url())
        // An execution a test expires (`POST /_local/expire-history`) is gone from Step Functions
        // as after its 90 days; every other call passes through to moto.
        .env("AWS_ENDPOINT_URL_SFN", stack.proxy_url())
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        // No ~/.aws files, no instance metadata: only what is set here.
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for name in [
        "TRANSFER_ROLE_ARN",
        "SECRET_PREFIX",
        "EXCLUDED_USERS",
        "SMTP_IAM_USER",
    ] {
        if let Some(value) = stack.options.env(name) {
            command.env(name, value);
        }
    }
    Ok(command)
}

/// Runs the CLI to completion with `args`.
pub fn run(stack: &LocalStack, args: &[&str]) -> Result<CliRun> {
    let output = command(stack)?
        .args(args)
        .output()
        .with_context(|| format!("running {BINARY} {}", args.join(" ")))?;
    Ok(CliRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Creates an S3 bucket in the stack's moto. Buckets are infrastructure (the templates make them);
/// the CLI only makes folders in them.
pub fn create_bucket(stack: &LocalStack, name: &str) -> Result<()> {
    ureq::put(&format!("{}/{name}", stack.moto_url()))
        .send_empty()
        .with_context(|| format!("creating the bucket {name} in moto"))?;
    Ok(())
}

/// The keys of the objects in a bucket under `prefix`, from moto (ListObjectsV2, path-style).
pub fn object_keys(stack: &LocalStack, bucket: &str, prefix: &str) -> Result<Vec<String>> {
    crate::deployment::object_keys(&stack.moto_url(), bucket, prefix)
}

/// The operator CLI's part of `cargo xtask demo`: onboarding the sample users from the sheet,
/// the audit, and the execution history. Prints as the rest of the demo does.
pub mod demo {
    use super::{CliRun, LANDING_BUCKET, create_bucket, run};
    use crate::deployment::Deployment;
    use crate::stack::LocalStack;
    use anyhow::{Context, Result};
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// The sheet of the 20 sample users (the same users as `test-events/users/*.json`).
    pub const SAMPLE_SHEET: &str = "test-events/sheets/sample-users.csv";

    // The keys a sheet row writes (`SecretKey::DESCRIPTIVE`); a sample secret with any other key
    // cannot come from a sheet.
    use warden_core::user::SecretKey;

    fn step(text: &str) {
        println!("\n==> {text}");
    }

    /// Runs the CLI and prints the command, its output (indented) and its exit code.
    fn show(stack: &LocalStack, args: &[&str]) -> Result<CliRun> {
        println!("  $ sftp-warden {}", args.join(" "));
        let result = run(stack, args)?;
        for line in result.stdout.lines().chain(result.stderr.lines()) {
            println!("    {line}");
        }
        println!("  (exit {})", result.code);
        Ok(result)
    }

    fn sample_files() -> Result<Vec<(String, Value)>> {
        let dir = crate::workspace_root().join("test-events/users");
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let path = entry.path();
            let Some(username) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if path.extension().is_none_or(|e| e != "json") || username == "expected" {
                continue;
            }
            let secret = serde_json::from_str(&std::fs::read_to_string(&path)?)
                .with_context(|| format!("reading {}", path.display()))?;
            files.push((username.to_owned(), secret));
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(files)
    }

    /// Onboards the sample users with `users import` (plan, apply, apply again), shows the
    /// migration tracker, then plants the sample secrets the sheet cannot produce as they are:
    /// the rows the import refused, users whose secrets break rules a sheet cannot break (a
    /// wrong Role, a missing key), and keys the sheet has no column for (passwords). That is
    /// what a console edit would do, and it gives the validation workflow something to find.
    pub async fn onboard(stack: &LocalStack, deployment: &Deployment) -> Result<()> {
        step(&format!(
            "onboarding the sample users with the operator CLI: sftp-warden users import {SAMPLE_SHEET}"
        ));
        create_bucket(stack, LANDING_BUCKET)?;
        println!(
            "  (the landing bucket s3://{LANDING_BUCKET} is infrastructure: created for the demo)"
        );
        show(stack, &["users", "import", SAMPLE_SHEET])?;
        let applied = show(stack, &["users", "import", SAMPLE_SHEET, "--apply"])?;
        anyhow::ensure!(applied.code != 2, "the import failed");
        step("importing the same sheet again changes nothing");
        let again = run(
            stack,
            &["users", "import", SAMPLE_SHEET, "--apply", "-o", "json"],
        )?;
        println!(
            "  $ sftp-warden users import {SAMPLE_SHEET} --apply -o json  →  counts {}",
            again.json()?["counts"]
        );
        step("the migration tracker (MigrationStatus tags)");
        show(stack, &["users", "status"])?;

        let written: BTreeSet<String> = super::secret_names(deployment)
            .await?
            .into_iter()
            .filter_map(|n| n.strip_prefix("SFTP/").map(str::to_owned))
            .collect();
        let files = sample_files()?;
        let lint = run(
            stack,
            &[
                &[
                    "users",
                    "lint",
                    "--offline",
                    "--admins",
                    "test-events/users",
                    "-o",
                    "json",
                ][..],
                &files
                    .iter()
                    .map(|(u, _)| format!("test-events/users/{u}.json"))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ]
            .concat(),
        )?;
        let with_findings: BTreeSet<String> = lint.json()?["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["findings"].as_array().is_some_and(|f| !f.is_empty()))
            .filter_map(|r| r["username"].as_str().map(str::to_owned))
            .collect();
        let mut planted = Vec::new();
        for (username, secret) in &files {
            let extra_keys = secret.as_object().is_some_and(|o| {
                o.keys()
                    .any(|k| !SecretKey::DESCRIPTIVE.iter().any(|s| s.as_str() == k))
            });
            if !written.contains(username) || with_findings.contains(username) || extra_keys {
                deployment.put_user(username, &secret.to_string()).await?;
                planted.push(username.as_str());
            }
        }
        step(
            "behind the CLI's back (as console edits would): the sample secrets a sheet cannot produce",
        );
        println!("  planted as in test-events/users: {}", planted.join(", "));
        Ok(())
    }

    /// The audit: the weekly run's findings without its email.
    pub fn audit(stack: &LocalStack) -> Result<()> {
        step("the same check from the operator's desk: sftp-warden audit (sends no email)");
        show(stack, &["audit", "--as-of", "2026-11-21"])?;
        Ok(())
    }

    /// The suppressed addresses of the users and admins, then one taken off the list.
    pub fn mail(stack: &LocalStack, address: &str) -> Result<()> {
        step("which users' addresses SES suppresses: sftp-warden mail suppressed");
        show(stack, &["mail", "suppressed"])?;
        step(&format!(
            "after the secret is fixed: sftp-warden mail unsuppress {address}"
        ));
        show(stack, &["mail", "unsuppress", address])?;
        Ok(())
    }

    /// The executions so far, and the path of the first one.
    pub async fn runs(stack: &LocalStack, deployment: &Deployment) -> Result<()> {
        step("the service's figures from the latest runs: sftp-warden status");
        show(stack, &["status"])?;
        step("what the state machines did: sftp-warden runs");
        show(stack, &["runs"])?;
        let first = deployment
            .clients
            .sfn
            .list_executions()
            .state_machine_arn(deployment.state_machine_arn("secret-validation")?)
            .send()
            .await?
            .executions()
            .iter()
            // The earliest run (the weekly one); names (`local-run-N`) break ties within a second.
            .min_by_key(|e| {
                let start = e.start_date();
                (
                    start.secs(),
                    start.subsec_nanos(),
                    e.name().len(),
                    e.name().to_owned(),
                )
            })
            .map(|e| (e.name().to_owned(), e.execution_arn().to_owned()));
        if let Some((name, arn)) = first {
            show(stack, &["runs", "show", &name])?;
            // A year on: Step Functions has dropped the run (90 days); its logs (365) have it.
            let expired = deployment.expire_history(&arn)?;
            step(&format!(
                "past its 90 days of history ({} events in the log group {}): sftp-warden runs show {name}",
                expired["events"],
                expired["logGroup"].as_str().unwrap_or_default()
            ));
            show(stack, &["runs", "show", &name])?;
        }
        Ok(())
    }
}

/// Names of every secret in the stack's Secrets Manager.
async fn secret_names(deployment: &crate::deployment::Deployment) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pages = deployment
        .clients
        .secrets
        .list_secrets()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        names.extend(
            page?
                .secret_list()
                .iter()
                .filter_map(|s| s.name().map(str::to_owned)),
        );
    }
    Ok(names)
}
