//! SES SMTP credential rotation on the local stack: Secrets Manager's rotation (played by the
//! proxy) calls the real `rotate-smtp-credentials` for its four steps; `testSecret` logs in to
//! the stack's SMTP endpoint, which accepts only the password derived *in Python* from the key
//! moto issued; `finishSecret` starts the deployment state machine, which sends the SSM command
//! to the tagged mail servers, checks them, and retires the old key. A server that fails keeps
//! the old key active and the SuperAdmins are mailed; a rerun finishes the job. No secret key or
//! SMTP password shows anywhere but in the secret.

use anyhow::Result;
use devstack::deployment::{self, Deployment};
use devstack::smtp;
use devstack::stack::{LocalStack, StackOptions};
use serde_json::Value;
use std::time::Duration;

const DEPLOYMENT: &str = "smtp-credential-deployment";
const TIMEOUT: Duration = Duration::from_secs(120);

fn cli(stack: &LocalStack, args: &[&str]) -> Result<devstack::operator_cli::CliRun> {
    tokio::task::block_in_place(|| devstack::operator_cli::run(stack, args))
}

fn steps(attempt: &smtp::RotationAttempt) -> Vec<(String, bool)> {
    attempt
        .steps
        .iter()
        .map(|s| (s.step.clone(), s.ok))
        .collect()
}

async fn rotate_and_wait(
    stack: &LocalStack,
    deployment: &Deployment,
    config: &aws_config::SdkConfig,
) -> Result<(smtp::RotationAttempt, deployment::Execution)> {
    let token = smtp::rotate(stack, config).await?;
    let attempt = tokio::task::block_in_place(|| smtp::wait_for_rotation(stack, &token, TIMEOUT))?;
    assert_eq!(attempt.succeeded, Some(true), "{attempt:?}");
    let run = deployment
        .wait_for(DEPLOYMENT, &format!("smtp-{token}"), TIMEOUT)
        .await?;
    Ok((attempt, run))
}

#[tokio::test(flavor = "multi_thread")]
async fn rotations_create_test_deploy_and_retire_keys_and_a_failing_server_keeps_the_old_key()
-> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    deployment
        .seed_users(&devstack::workspace_root().join("test-events/users"))
        .await?;
    let config = stack.sdk_config().await;
    let servers = smtp::mail_servers(&config).await?;
    assert_eq!(servers.len(), 2);
    assert!(
        smtp::keys(&config).await?.is_empty(),
        "the template makes no key"
    );

    // 1. The first rotation: one key, tested, deployed to both servers; no old key to retire.
    let (attempt, first_run) = rotate_and_wait(&stack, &deployment, &config).await?;
    let all_ok: Vec<(String, bool)> = ["createSecret", "setSecret", "testSecret", "finishSecret"]
        .iter()
        .map(|s| (s.to_string(), true))
        .collect();
    assert_eq!(steps(&attempt), all_ok);
    let keys = smtp::keys(&config).await?;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let first = keys[0].0.clone();
    let logins = smtp::smtp_logins(&stack)?;
    assert!(
        logins.iter().any(|l| l.username == first && l.accepted),
        "the SMTP endpoint accepted the Rust-derived password of {first}: {logins:?}"
    );
    assert_eq!(first_run.status, "SUCCEEDED", "{first_run:?}");
    let output = first_run.output.clone().unwrap_or(Value::Null);
    assert_eq!(output["newAccessKeyId"], first.as_str());
    assert_eq!(output["retiredAccessKeyId"], Value::Null);
    assert_eq!(output["deployment"]["verdict"]["succeeded"], 2, "{output}");
    assert!(
        !first_run
            .states
            .iter()
            .any(|s| s == "Deactivate the old key")
    );

    // 2. The second rotation retires the first key: deactivated, then (grace 0) deleted.
    let (_, second_run) = rotate_and_wait(&stack, &deployment, &config).await?;
    assert_eq!(second_run.status, "SUCCEEDED", "{second_run:?}");
    let keys = smtp::keys(&config).await?;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let second = keys[0].0.clone();
    assert_ne!(second, first);
    for state in [
        "Deactivate the old key",
        "Wait out the grace period",
        "Delete the old key",
    ] {
        assert!(
            second_run.states.iter().any(|s| s == state),
            "{state}: {:?}",
            second_run.states
        );
    }

    // 3. A server fails the command: the old key stays active, the SuperAdmins are told.
    smtp::fail_servers(&stack, &servers[..1])?;
    let mails_before = deployment.sent_emails()?.len();
    let (_, failed_run) = rotate_and_wait(&stack, &deployment, &config).await?;
    assert_eq!(failed_run.status, "FAILED", "{failed_run:?}");
    assert_eq!(failed_run.error.as_deref(), Some("SmtpDeploymentFailed"));
    let keys = smtp::keys(&config).await?;
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.contains(&(second.clone(), true)),
        "the old key stays active: {keys:?}"
    );
    let third = keys.iter().find(|(id, _)| *id != second).unwrap().0.clone();
    let mails = deployment.sent_emails()?;
    let told: Vec<_> = mails[mails_before..]
        .iter()
        .filter(|m| m.subject.contains("SMTP credentials"))
        .collect();
    assert_eq!(told.len(), 1, "{mails:?}");
    let body = told[0].body.clone();
    for expected in [
        servers[0].as_str(),
        "Failed",
        third.as_str(),
        second.as_str(),
        "stays active",
    ] {
        assert!(body.contains(expected), "{expected} in {body}");
    }

    // A rotation now is refused before any key is made: the previous key is still in use.
    let refused_token = smtp::rotate(&stack, &config).await?;
    let refused =
        tokio::task::block_in_place(|| smtp::wait_for_rotation(&stack, &refused_token, TIMEOUT))?;
    assert_eq!(refused.succeeded, Some(false));
    assert_eq!(
        refused.steps[0].error_type.as_deref(),
        Some("NoRoomForNewKey")
    );
    assert_eq!(smtp::keys(&config).await?.len(), 2);

    // 4. The server is fixed; the operator deploys again (same input): the job is finished.
    smtp::fail_servers(&stack, &[])?;
    let failed_name = failed_run
        .arn
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let redeploy = cli(&stack, &["smtp", "redeploy", &failed_name])?;
    assert_eq!(redeploy.code, 0, "{redeploy:?}");
    assert!(
        redeploy.stdout.contains("Delete the old key"),
        "{}",
        redeploy.stdout
    );
    assert!(
        redeploy.stdout.contains("deployment SUCCEEDED"),
        "{}",
        redeploy.stdout
    );
    assert_eq!(smtp::keys(&config).await?, [(third.clone(), true)]);

    // 5. "Rotate secret immediately" from the CLI, then its status: key ids, never secrets.
    let rotated = cli(&stack, &["smtp", "rotate"])?;
    assert_eq!(rotated.code, 0, "{rotated:?}");
    for expected in [
        format!("current key {third}"),
        "(createSecret)".to_owned(),
        "(finishSecret)".to_owned(),
        "Send the new credentials to the mail servers".to_owned(),
        "deployment SUCCEEDED".to_owned(),
    ] {
        assert!(
            rotated.stdout.contains(&expected),
            "{expected} in {}",
            rotated.stdout
        );
    }
    let keys = smtp::keys(&config).await?;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let fourth = keys[0].0.clone();
    let status = cli(&stack, &["smtp", "status", "--output", "json"])?;
    assert_eq!(status.code, 0, "{status:?}");
    let shown: Value = serde_json::from_str(&status.stdout)?;
    assert_eq!(shown["versions"][0]["stage"], "AWSCURRENT", "{shown}");
    assert_eq!(shown["versions"][0]["accessKeyId"], fourth.as_str());
    assert_eq!(shown["keys"][0]["heldBy"], "current");
    assert_eq!(shown["rotationEnabled"], true);
    assert_eq!(shown["lastDeployment"]["status"], "SUCCEEDED");
    assert_eq!(shown["lastDeployment"]["verdict"]["succeeded"], 2);
    let table = cli(&stack, &["smtp", "status"])?;
    assert!(table.stdout.contains(&fourth), "{}", table.stdout);

    // No credential anywhere but in the secret: function logs, histories, emails, SMTP log.
    let credentials = smtp::credential_strings(&stack, &config).await?;
    // Four stored passwords (one per rotation that stored one) and four IAM secret keys at least.
    assert!(credentials.len() >= 8, "{}", credentials.len());
    // The IAM secret key is never stored: the secret holds the SMTP password only.
    let stored = format!("{:?}", smtp::secret_values(&config).await?);
    assert!(!stored.contains("SecretAccessKey"), "{stored}");
    let mut seen = stack.function_logs()?;
    seen.push_str(&std::fs::read_to_string(stack.log_dir.join("proxy.log"))?);
    seen.push_str(&std::fs::read_to_string(
        stack.smtp_dir().join("smtp-logins.jsonl"),
    )?);
    seen.push_str(&std::fs::read_to_string(stack.log_dir.join("smtp.log"))?);
    for run in [&first_run, &second_run, &failed_run] {
        seen.push_str(&deployment.history_text(&run.arn).await?);
    }
    for run in [&redeploy, &rotated, &status, &table] {
        seen.push_str(&run.stdout);
        seen.push_str(&run.stderr);
    }
    seen.push_str(&format!("{:?}", deployment.sent_emails()?));
    for credential in &credentials {
        assert!(!seen.contains(credential.as_str()), "a credential leaked");
    }
    Ok(())
}
