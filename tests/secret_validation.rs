//! The secret-validation state machine, run for real on the local stack: moto executes the ASL,
//! our function binaries do the work, moto's SES records the mail.

use anyhow::Result;
use devstack::deployment::{self, Deployment, Execution, SentEmail};
use devstack::stack::{LocalStack, StackOptions};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

const SUPER_ADMINS: [&str; 2] = ["platform-oncall@example.com", "sftp-superadmin@example.com"];
const PAYMENTS: &str = "payments-sftp@example.com";

fn sample(path: &str) -> PathBuf {
    devstack::workspace_root().join("test-events").join(path)
}

fn event(file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(sample(file)).unwrap()).unwrap()
}

async fn deployed_with_sample_users(stack: &LocalStack) -> Result<Deployment> {
    let deployment = deployment::deploy(stack).await?;
    deployment.seed_users(&sample("users")).await?;
    Ok(deployment)
}

async fn run(deployment: &Deployment, input: Value) -> Result<Execution> {
    deployment
        .run("secret-validation", &input, Duration::from_secs(300))
        .await
}

/// (to, cc, subject) of each email, order-independent.
fn envelopes(sent: &[SentEmail]) -> BTreeSet<(Vec<String>, Vec<String>, String)> {
    sent.iter()
        .map(|e| {
            let (mut to, mut cc) = (e.to.clone(), e.cc.clone());
            to.sort();
            cc.sort();
            (to, cc, e.subject.clone())
        })
        .collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The run's full summary, which the bounded one in the execution output points to.
async fn summary_of(deployment: &Deployment, execution: &Execution) -> Value {
    deployment
        .full_summary(execution)
        .await
        .expect("a finished run has a summary")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_weekly_audit_mails_one_digest_per_admin_and_summarises_the_run() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployed_with_sample_users(&stack).await?;

    let execution = run(&deployment, json!({"mode": "all", "asOf": "2026-11-21"})).await?;

    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    let bounded = execution.output.clone().expect("the bounded summary");
    assert_eq!(
        bounded["usersWithFindings"], 11,
        "a count in the execution output"
    );
    assert_eq!(bounded["emailsSent"], 2);
    assert!(
        bounded["fullSummary"]
            .as_str()
            .unwrap()
            .starts_with("s3://")
    );
    let summary = summary_of(&deployment, &execution).await;
    assert_eq!(summary["usersChecked"], 20);
    assert_eq!(summary["complete"], true);
    assert_eq!(
        summary["findingsPerRule"],
        json!({
            "1 mandatory keys": 3, "2 group admin": 1, "3 email delimiter": 1,
            "4 email format": 2, "5 home directory": 2, "6 role": 1, "7 IP ranges": 2,
            "8 public keys": 3
        })
    );
    let expected_users: Vec<Value> = [
        "TreasuryAdmin",
        "adyen-batch",
        "amex-recon",
        "bpay-batch",
        "citi-custody",
        "hsbc-trade",
        "macquarie-fx",
        "mastercard-ipm",
        "nab-feeds",
        "stripe-payouts",
        "visa-clearing",
    ]
    .iter()
    .map(|u| json!(u))
    .collect();
    assert_eq!(summary["usersWithFindings"], Value::Array(expected_users));
    // 20 users in one batch: one BatchGetSecretValue call (plus one for the 3 admins).
    assert_eq!(summary["secretReads"], 1);

    let sent = deployment.sent_emails()?;
    assert_eq!(
        envelopes(&sent),
        BTreeSet::from([
            (
                strings(&[PAYMENTS]),
                vec![],
                "sftp-warden: 6 SFTP users need attention".to_owned()
            ),
            (
                strings(&SUPER_ADMINS),
                vec![],
                "sftp-warden: 5 SFTP users need attention".to_owned()
            ),
        ])
    );
    assert!(sent.iter().all(|e| e.source == "sftp-warden@example.com"));
    // The change path and this audit without notifySourceSystems never mail the users themselves.
    assert!(
        sent.iter()
            .all(|e| !e.to.iter().any(|a| a.contains("nab.example.com")))
    );
    assert_eq!(summary["emailsSent"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_checks_only_the_changed_user_and_tells_its_group_admin() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployed_with_sample_users(&stack).await?;

    // PutSecretValue names the secret by ARN (with its random suffix).
    let execution = run(&deployment, event("cloudtrail-put-secret-value.json")).await?;

    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    let summary = summary_of(&deployment, &execution).await;
    assert_eq!(summary["trigger"], "secretChange");
    assert_eq!(
        summary["scope"],
        json!({"kind": "user", "username": "nab-feeds"})
    );
    assert_eq!(summary["usersChecked"], 1);
    assert_eq!(summary["findingsPerRule"], json!({"3 email delimiter": 1}));
    assert_eq!(
        envelopes(&deployment.sent_emails()?),
        BTreeSet::from([(
            strings(&[PAYMENTS]),
            vec![],
            "sftp-warden: 1 SFTP user needs attention".to_owned()
        )])
    );

    // A deleted user is a change too: nothing to validate, nothing sent, and the run says why.
    let execution = run(&deployment, event("cloudtrail-delete-secret.json")).await?;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    assert_eq!(summary_of(&deployment, &execution).await["usersChecked"], 0);
    assert!(
        summary_of(&deployment, &execution).await["notes"][0]
            .as_str()
            .unwrap()
            .contains("no longer exists")
    );
    assert_eq!(deployment.sent_emails()?.len(), 1);

    // A change to an admin re-checks that admin's group only.
    let execution = run(&deployment, event("cloudtrail-admin-change.json")).await?;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    let group = summary_of(&deployment, &execution).await;
    assert_eq!(
        group["scope"],
        json!({"kind": "group", "admin": "PaymentsAdmin"})
    );
    assert_eq!(group["usersChecked"], 12, "{group}");

    // A secret that is not an SFTP user ends the run at once.
    let execution = run(&deployment, event("cloudtrail-unrelated-secret.json")).await?;
    assert_eq!(execution.status, "SUCCEEDED");
    assert_eq!(
        execution.states,
        [
            "Note where this run keeps its files",
            "Work out which users to check",
            "Ignore a change to a secret that is not an SFTP user"
        ]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_email_ses_rejects_fails_the_execution_and_the_summary_names_it() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployed_with_sample_users(&stack).await?;
    // Without a verified sender identity, SES rejects every message.
    deployment
        .clients
        .ses
        .delete_email_identity()
        .email_identity("sftp-warden@example.com")
        .send()
        .await?;

    let execution = run(&deployment, event("cloudtrail-put-secret-value.json")).await?;

    assert_eq!(execution.status, "FAILED", "{execution:?}");
    assert_eq!(execution.error.as_deref(), Some("RunIncomplete"));
    let cause: Value = serde_json::from_str(execution.cause.as_deref().unwrap_or("{}"))?;
    let problems = cause["problems"].as_array().cloned().unwrap_or_default();
    assert_eq!(problems.len(), 1, "{cause}");
    assert!(
        problems[0].as_str().unwrap().contains("EmailRejected"),
        "{cause}"
    );
    // The refusal is kept as the email's outcome, beside the email.
    let outcomes = deployment.run_files(&execution.arn, "sent").await?;
    assert_eq!(outcomes.len(), 1);
    assert!(
        outcomes[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("EmailRejected: ")
    );
    assert!(deployment.sent_emails()?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_admin_still_lets_every_other_group_be_audited_and_the_run_says_so()
-> Result<()> {
    let options = StackOptions {
        secrets_through_proxy: true,
        ..StackOptions::default()
    };
    let stack = LocalStack::start(options)?;
    let deployment = deployed_with_sample_users(&stack).await?;
    // PaymentsAdmin's secret cannot be decrypted (as when the functions may not use its KMS key).
    deployment.make_unreadable(&["SFTP/PaymentsAdmin"])?;

    let execution = run(&deployment, json!({"mode": "all", "asOf": "2026-11-21"})).await?;

    // The run goes on without that admin, then ends incomplete so the alarm sees it.
    assert!(
        execution
            .states
            .iter()
            .any(|s| s == "Load the admins that can be read"),
        "{:?}",
        execution.states
    );
    assert_eq!(execution.status, "FAILED", "{execution:?}");
    assert_eq!(execution.error.as_deref(), Some("RunIncomplete"));
    let summary = summary_of(&deployment, &execution).await;
    let problems: Vec<String> = summary["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect();
    assert!(
        problems.iter().any(|p| p.starts_with(
            "the secret of admin PaymentsAdmin could not be read (DecryptionFailure)"
        )),
        "{problems:#?}"
    );
    // Every other user was checked (all 20 but the unreadable admin itself), and no user of
    // PaymentsAdmin is told its GroupAdmin does not exist.
    assert_eq!(summary["usersChecked"], 19, "{summary:#}");
    let reports = deployment.run_files(&execution.arn, "reports").await?;
    let findings: Vec<&Value> = reports
        .iter()
        .flat_map(|b| b["reports"].as_array().into_iter().flatten())
        .flat_map(|r| r["findings"].as_array().into_iter().flatten())
        .collect();
    assert!(
        !findings.iter().any(|f| f["detail"]
            .as_str()
            .unwrap_or("")
            .contains("\"PaymentsAdmin\"")),
        "{findings:#?}"
    );
    // PaymentsAdmin's group's findings reached the SuperAdmins, saying why; TreasuryAdmin's
    // group was audited as usual.
    let sent = deployment.sent_emails()?;
    assert!(!sent.iter().any(|e| e.to.iter().any(|a| a == PAYMENTS)));
    let to_super = sent
        .iter()
        .find(|e| e.to == strings(&SUPER_ADMINS))
        .expect("a digest to the SuperAdmins");
    assert!(
        to_super.body.contains(
            "Sent to the SuperAdmins: the secret of its GroupAdmin PaymentsAdmin could not be read this run (DecryptionFailure)."
        ),
        "{}",
        to_super.body
    );
    assert!(
        to_super.body.contains("User adyen-batch"),
        "{}",
        to_super.body
    );
    Ok(())
}

/// Every password and every key's base64 in the sample users.
fn secret_material() -> Vec<String> {
    let mut material = Vec::new();
    for entry in std::fs::read_dir(sample("users")).unwrap().flatten() {
        let Ok(user) =
            serde_json::from_str::<Value>(&std::fs::read_to_string(entry.path()).unwrap())
        else {
            continue;
        };
        if let Some(p) = user["Password"].as_str() {
            material.push(p.to_owned());
        }
        for key in user["PublicKey"].as_str().unwrap_or_default().split(',') {
            if let Some(blob) = key.split_whitespace().nth(1).filter(|b| b.len() > 16) {
                material.push(blob.to_owned());
            }
        }
    }
    material
}

#[tokio::test(flavor = "multi_thread")]
async fn no_password_or_key_material_reaches_logs_execution_history_or_email() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployed_with_sample_users(&stack).await?;

    let execution = run(
        &deployment,
        json!({"mode": "all", "notifySourceSystems": true, "asOf": "2026-11-21"}),
    )
    .await?;

    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    // The execution history and every file the run kept in the work bucket.
    let history = deployment.history_text(&execution.arn).await?
        + &deployment.run_files_text(&execution.arn).await?;
    let emails: String = deployment
        .sent_emails()?
        .iter()
        .map(|e| format!("{}\n{}\n", e.subject, e.body))
        .collect();
    let logs = stack.function_logs()?;
    let material = secret_material();
    assert!(
        material.len() > 20,
        "the sample users carry passwords and keys to look for"
    );
    assert!(
        history.contains("nab-feeds") && logs.contains("nab-feeds"),
        "the haystacks are real"
    );
    for secret in &material {
        assert!(
            !history.contains(secret.as_str()),
            "execution history leaks a secret"
        );
        assert!(!emails.contains(secret.as_str()), "an email leaks a secret");
        assert!(!logs.contains(secret.as_str()), "a log line leaks a secret");
    }
    Ok(())
}
