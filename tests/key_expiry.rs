//! SSH key expiry notices (PCI key rotation) on the local stack: the weekly run with
//! `notifySourceSystems` mails the users themselves, CC their admin; nothing else does.

use anyhow::Result;
use devstack::deployment::{self, SentEmail};
use devstack::stack::{LocalStack, StackOptions};
use serde_json::{Value, json};
use std::time::Duration;

const SUPER_ADMINS: [&str; 2] = ["platform-oncall@example.com", "sftp-superadmin@example.com"];
const PAYMENTS: &str = "payments-sftp@example.com";

fn sorted(items: &[String]) -> Vec<String> {
    let mut v = items.to_vec();
    v.sort();
    v
}

fn strings(items: &[&str]) -> Vec<String> {
    sorted(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

fn notices(sent: &[SentEmail]) -> Vec<(Vec<String>, Vec<String>, String)> {
    let mut n: Vec<_> = sent
        .iter()
        .filter(|e| e.subject.starts_with("Action needed"))
        .map(|e| (sorted(&e.to), sorted(&e.cc), e.subject.clone()))
        .collect();
    n.sort();
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn the_weekly_run_sends_each_due_user_one_notice_cc_its_admin() -> Result<()> {
    // suncorp-bulk's key is due too, but it is on the exclusion list.
    let mut options = StackOptions::default();
    options.function_env.retain(|(k, _)| k != "EXCLUDED_USERS");
    options
        .function_env
        .push(("EXCLUDED_USERS".into(), "suncorp-bulk".into()));
    let stack = LocalStack::start(options)?;
    let deployment = deployment::deploy(&stack).await?;
    deployment
        .seed_users(&devstack::workspace_root().join("test-events/users"))
        .await?;

    let weekly = json!({"mode": "all", "notifySourceSystems": true, "asOf": "2026-11-21"});
    let execution = deployment
        .run("secret-validation", &weekly, Duration::from_secs(300))
        .await?;

    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    let sent = deployment.sent_emails()?;
    // ing-direct: exactly 10 months old today. bankwest-legacy: 13 months, TreasuryAdmin has no
    // valid address so the SuperAdmins are copied. amex-recon's key is as old, but it has a
    // rule 6 finding: no notice until its secret is fixed.
    assert_eq!(
        notices(&sent),
        vec![
            (
                strings(&["it-ops@bankwest.example.net"]),
                strings(&SUPER_ADMINS),
                "Action needed: rotate the SSH key of SFTP user bankwest-legacy, overdue since 2026-10-02"
                    .to_owned()
            ),
            (
                strings(&["ops-oncall@ing.example.org", "sftp@ing.example.org"]),
                strings(&[PAYMENTS]),
                "Action needed: rotate the SSH key of SFTP user ing-direct before 2027-01-21"
                    .to_owned()
            ),
        ]
    );
    let ing = sent
        .iter()
        .find(|e| e.subject.contains("ing-direct"))
        .unwrap();
    assert!(
        ing.body
            .contains("SHA256:ld6hYK+lmEM96Mz/16ZtWhLHBMGNaROKyAv6r1L1wCA"),
        "{}",
        ing.body
    );
    assert!(ing.body.contains("2027-01-21"), "{}", ing.body);
    let ing_secret: Value = serde_json::from_str(&std::fs::read_to_string(
        devstack::workspace_root().join("test-events/users/ing-direct.json"),
    )?)?;
    let blob = ing_secret["PublicKey"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap();
    assert!(
        !ing.body.contains(blob),
        "the notice must not carry the key itself"
    );
    assert!(
        sent.iter()
            .all(|e| !e.subject.contains("suncorp") && !e.subject.contains("amex"))
    );

    let summary = execution.output.unwrap();
    assert_eq!(summary["sourceSystemNotices"], true);
    assert_eq!(summary["keysDueForRotation"], 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_change_path_never_mails_an_external_system() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    deployment
        .seed_users(&devstack::workspace_root().join("test-events/users"))
        .await?;
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(
        devstack::workspace_root().join("test-events/cloudtrail-admin-change.json"),
    )?)?;
    // Even an event that asks for it: only the weekly run may notify source systems.
    event["notifySourceSystems"] = json!(true);

    let execution = deployment
        .run("secret-validation", &event, Duration::from_secs(300))
        .await?;

    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    let summary = execution.output.unwrap();
    assert_eq!(summary["sourceSystemNotices"], false);
    assert!(
        summary["keysDueForRotation"].as_u64().unwrap() >= 2,
        "{summary}"
    );
    let sent = deployment.sent_emails()?;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, [PAYMENTS]);
    Ok(())
}
