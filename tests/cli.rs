//! The operator CLI (`sftp-warden`) run as an operator runs it: a subprocess whose standard AWS
//! environment points at the local stack. Onboarding from the sheet, rejected rows, the audit
//! against the validation workflow, and the execution history.
//!
//! The binary is prebuilt (`cargo build --workspace --bins`; `cargo xtask test` does it).

use anyhow::Result;
use devstack::deployment::{self, Deployment};
use devstack::operator_cli::{self, CliRun, LANDING_BUCKET};
use devstack::stack::{LocalStack, StackOptions};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

const ROLE: &str = "arn:aws:iam::123456789012:role/TransferS3AccessRole";
const HEADER: &str = "Sno,Username,SourceSystemName,Email,DestinationDirectory,GroupAdmin,IP,IPv6,SSHKey 1,SSHKey 2,SSHKey 3,SSHKey 4,MigrationStatus";
const STATUSES: [&str; 6] = [
    "completed",
    "planned",
    "yet-to-commence",
    "not-eligible",
    "post-migration-support",
    "in-progress",
];

fn sample(path: &str) -> PathBuf {
    devstack::workspace_root().join("test-events").join(path)
}

fn sample_user(username: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(sample(&format!("users/{username}.json"))).unwrap(),
    )
    .unwrap()
}

/// `TYPE BASE64` of a sample user's first key (the sample keys are real).
fn key_of(username: &str) -> String {
    let entry = sample_user(username)["PublicKey"]
        .as_str()
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .to_owned();
    entry
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every key's base64 in the sample users: none may ever be printed.
fn key_material() -> Vec<String> {
    let mut material = Vec::new();
    for entry in std::fs::read_dir(sample("users")).unwrap().flatten() {
        let Ok(user) =
            serde_json::from_str::<Value>(&std::fs::read_to_string(entry.path()).unwrap())
        else {
            continue;
        };
        for key in user["PublicKey"].as_str().unwrap_or_default().split(',') {
            if let Some(blob) = key.split_whitespace().nth(1).filter(|b| b.len() > 16) {
                material.push(blob.to_owned());
            }
        }
        if let Some(password) = user["Password"].as_str() {
            material.push(password.to_owned());
        }
    }
    material
}

fn assert_no_key_material(run: &CliRun) {
    for secret in key_material() {
        assert!(!run.stdout.contains(&secret), "stdout shows key material");
        assert!(!run.stderr.contains(&secret), "stderr shows key material");
    }
}

fn cli(stack: &LocalStack, args: &[&str]) -> CliRun {
    tokio::task::block_in_place(|| operator_cli::run(stack, args)).unwrap()
}

/// The command succeeded and printed each of `lines`.
fn assert_shows(run: &CliRun, lines: &[&str]) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in lines {
        assert!(run.stdout.contains(line), "{line:?} in\n{}", run.stdout);
    }
}

fn write_sheet(dir: &tempdir::Dir, name: &str, rows: &[String]) -> PathBuf {
    let path = dir.path.join(name);
    std::fs::write(&path, format!("{HEADER}\n{}\n", rows.join("\n"))).unwrap();
    path
}

/// A scratch directory under the target dir, removed when dropped.
mod tempdir {
    pub struct Dir {
        pub path: std::path::PathBuf,
    }
    impl Dir {
        pub fn new(name: &str) -> Dir {
            let path = devstack::target_dir()
                .join("cli-tests")
                .join(format!("{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Dir { path }
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn super_admin_row(sno: usize) -> String {
    format!(
        "{sno},SFTPSuperAdmin,SFTP Super Admin,sftp-superadmin@example.com,/sftp-landing,SFTPSuperAdmin,192.0.2.10/32,,{} SFTPSuperAdmin@platform Updated(YYYYMMDD)=20260610,,,,completed",
        key_of("SFTPSuperAdmin")
    )
}

fn payments_admin_row(sno: usize) -> String {
    format!(
        "{sno},PaymentsAdmin,Payments Group Admin,payments-sftp@example.com,/sftp-landing/payments,SFTPSuperAdmin,192.0.2.20/32,,{},,,,completed",
        key_of("PaymentsAdmin")
    )
}

/// A clean user of PaymentsAdmin.
fn user_row(sno: usize, username: &str, key: &str, status: &str) -> String {
    format!(
        "{sno},{username},Partner {sno},{username}@partner.example.com,/sftp-landing/payments/{username},PaymentsAdmin,198.18.{}.{}/32,2001:db8:{sno:x}::/48,{key},,,,{status}",
        sno / 250,
        sno % 250
    )
}

/// Name → (version ids, tags) of every SFTP secret: what a no-op must leave alone.
async fn secret_state(
    deployment: &Deployment,
) -> Result<BTreeMap<String, (BTreeSet<String>, BTreeMap<String, String>)>> {
    let mut state = BTreeMap::new();
    let mut pages = deployment
        .clients
        .secrets
        .list_secrets()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        // The SFTP users only (the stack also holds the SMTP credentials secret).
        for entry in page?
            .secret_list()
            .iter()
            .filter(|e| e.name().is_some_and(|n| n.starts_with("SFTP/")))
        {
            let versions = entry
                .secret_versions_to_stages()
                .map(|v| v.keys().cloned().collect())
                .unwrap_or_default();
            let tags = entry
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_owned(),
                        t.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            state.insert(
                entry.name().unwrap_or_default().to_owned(),
                (versions, tags),
            );
        }
    }
    Ok(state)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200_row_sheet_is_onboarded_with_landing_folders_and_importing_it_again_changes_nothing()
-> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    operator_cli::create_bucket(&stack, LANDING_BUCKET)?;
    let dir = tempdir::Dir::new("two-hundred");
    // Keys as operators paste them: with comment and date, without the date, or bare.
    let dated = format!(
        "{} partner@host Updated(YYYYMMDD)=20260919",
        key_of("westpac-h2h")
    );
    let undated = format!("{} partner@host", key_of("anz-bank"));
    let bare = key_of("ing-direct");
    let mut rows = vec![super_admin_row(1), payments_admin_row(2)];
    for sno in 3..=200 {
        let key = [&dated, &undated, &bare][sno % 3];
        let username = format!("partner-{sno:03}");
        rows.push(user_row(
            sno,
            &username,
            key,
            STATUSES[sno % STATUSES.len()],
        ));
    }
    let sheet = write_sheet(&dir, "partners.csv", &rows);
    let sheet = sheet.to_str().unwrap();

    // The plan alone writes nothing.
    let dry = cli(&stack, &["users", "import", sheet, "--output", "json"]);
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    assert_eq!(dry.json()?["counts"]["created"], 200);
    assert_eq!(dry.json()?["applied"], false);
    assert!(secret_state(&deployment).await?.is_empty());
    assert!(operator_cli::object_keys(&stack, LANDING_BUCKET, "")?.is_empty());

    let applied = cli(&stack, &["users", "import", sheet, "--apply"]);
    assert_eq!(applied.code, 0, "{}{}", applied.stdout, applied.stderr);
    assert!(applied.stdout.contains("Created"), "{}", applied.stdout);
    assert_no_key_material(&applied);

    let state = secret_state(&deployment).await?;
    assert_eq!(state.len(), 200);
    let folders = operator_cli::object_keys(&stack, LANDING_BUCKET, "")?;
    assert_eq!(
        folders.len(),
        199,
        "payments/ and one folder per user; the SuperAdmin's is the bucket"
    );
    assert!(folders.contains(&"payments/partner-007/".to_owned()));

    // The secret is DESIGN.md section 2's format, exactly.
    let today = chrono::Utc::now().date_naive().format("%Y%m%d").to_string();
    let written = deployment
        .clients
        .secrets
        .get_secret_value()
        .secret_id("SFTP/partner-007")
        .send()
        .await?;
    let secret: Value = serde_json::from_str(written.secret_string().unwrap())?;
    assert_eq!(
        secret,
        json!({
            "Name": "Partner 7",
            "Email": "partner-007@partner.example.com",
            "PublicKey": format!("{} partner@host Updated(YYYYMMDD)={today}", key_of("anz-bank")),
            "HomeDirectoryType": "LOGICAL",
            "HomeDirectoryDetails": "[{\"Entry\":\"/\",\"Target\":\"/sftp-landing/payments/partner-007\"}]",
            "GroupAdmin": "PaymentsAdmin",
            "Role": ROLE,
            "IP": "198.18.0.7/32",
            "IPv6": "2001:db8:7::/48",
        })
    );
    let bare_user = deployment
        .clients
        .secrets
        .get_secret_value()
        .secret_id("SFTP/partner-008")
        .send()
        .await?;
    let bare_secret: Value = serde_json::from_str(bare_user.secret_string().unwrap())?;
    assert_eq!(
        bare_secret["PublicKey"],
        format!(
            "{} partner-008 Updated(YYYYMMDD)={today}",
            key_of("ing-direct")
        )
    );
    assert_eq!(
        state["SFTP/partner-007"].1,
        BTreeMap::from([
            ("Name".to_owned(), "Partner 7".to_owned()),
            ("MigrationStatus".to_owned(), STATUSES[7 % 6].to_owned()),
        ])
    );

    // The tracker counts what the sheet said.
    let status = cli(&stack, &["users", "status", "--output", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let counts = &status.json()?["counts"];
    assert_eq!(counts["total"], 200);
    let completed = 2 + (3..=200).filter(|s| s % 6 == 0).count();
    assert_eq!(counts["byStatus"][0], json!(["completed", completed]));

    // Again, even with --apply: nothing is written.
    let again = cli(
        &stack,
        &["users", "import", sheet, "--apply", "--output", "json"],
    );
    assert_eq!(again.code, 0, "{}{}", again.stdout, again.stderr);
    assert_eq!(
        again.json()?["counts"],
        json!({"created": 0, "updated": 0, "unchanged": 200, "rejected": 0, "failed": 0})
    );
    assert_eq!(secret_state(&deployment).await?, state);
    assert_eq!(
        operator_cli::object_keys(&stack, LANDING_BUCKET, "")?,
        folders
    );

    // One changed cell is one update of one key.
    rows[9] = rows[9].replace(
        "partner-010@partner.example.com",
        "ops@partner10.example.com",
    );
    let changed = write_sheet(&dir, "partners-changed.csv", &rows);
    let update = cli(
        &stack,
        &[
            "users",
            "import",
            changed.to_str().unwrap(),
            "--apply",
            "-o",
            "json",
        ],
    );
    assert_eq!(update.code, 0, "{}{}", update.stdout, update.stderr);
    let report = update.json()?;
    assert_eq!(report["counts"]["updated"], 1);
    let updated: Vec<&Value> = report["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["action"] == "update")
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["username"], "partner-010");
    assert_eq!(updated[0]["changes"], json!(["secret: Email"]));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_with_each_kind_of_error_are_rejected_by_row_number_and_nothing_is_written_for_them()
-> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    let dir = tempdir::Dir::new("bad-rows");
    let good = key_of("anz-bank");
    let rsa_1024 = sample_user("adyen-batch")["PublicKey"]
        .as_str()
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let user = |sno: usize, name: &str| user_row(sno, name, &good, "planned");
    let rows = vec![
        super_admin_row(1),                                                // row 2
        payments_admin_row(2),                                             // row 3
        user(3, "good-bank"),                                              // row 4
        "4,short-row,Short Row".to_owned(),                                // row 5: cells
        user(5, "-dash-first"),                                            // row 6: username
        user(6, "twin"),                                                   // row 7: duplicate
        user(7, "twin"),                                                   // row 8: duplicate
        user(8, "no-key").replace(&good, "hello"),                         // row 9: key cell
        user(9, "bad-status").replace(",planned", ",finished"),            // row 10: status
        user(10, "ghost-user").replace(",PaymentsAdmin,", ",GhostAdmin,"), // row 11: rule 2
        user(11, "semi-colon").replace(
            "semi-colon@partner.example.com",
            "a@semi.example.com;b@semi.example.com",
        ), // row 12: rule 3
        user(12, "bad-mail").replace("bad-mail@partner.example.com", "ops@nodot"), // row 13: rule 4
        user(13, "wrong-folder").replace("/payments/wrong-folder", "/treasury/wrong-folder"), // 14: rule 5
        user(14, "host-bits").replace("198.18.0.14/32", "203.0.113.7/24"), // row 15: rule 7
        user(15, "short-rsa").replace(&good, &rsa_1024),                   // row 16: rule 8
        user(16, "future-key").replace(&good, &format!("{good} k Updated(YYYYMMDD)=29990101")), // 17
        "17,TreasuryAdmin,Treasury,treasury-team,/sftp-landing/treasury,SFTPSuperAdmin,,,"
            .to_owned()
            + &format!("{},,,,planned", key_of("TreasuryAdmin")), // row 18: rule 4
        user(18, "treasury-user")
            .replace(",PaymentsAdmin,", ",TreasuryAdmin,")
            .replace("/payments/treasury-user", "/treasury/treasury-user"), // row 19: admin
        user(19, "other-good"), // row 20
    ];
    let sheet = write_sheet(&dir, "bad-rows.csv", &rows);
    let sheet = sheet.to_str().unwrap();

    // Without the landing bucket no row can be onboarded: every one is rejected, nothing written.
    let no_bucket = cli(&stack, &["users", "import", sheet, "--apply", "-o", "json"]);
    assert_eq!(
        no_bucket.code, 1,
        "{}{}",
        no_bucket.stdout, no_bucket.stderr
    );
    let report = no_bucket.json()?;
    assert_eq!(report["counts"]["rejected"], 19);
    assert!(
        report["rejected"]
            .to_string()
            .contains("the landing bucket sftp-landing does not exist")
    );
    assert!(secret_state(&deployment).await?.is_empty());

    operator_cli::create_bucket(&stack, LANDING_BUCKET)?;
    let run = cli(&stack, &["users", "import", sheet, "--apply", "-o", "json"]);
    assert_eq!(
        run.code, 1,
        "rejected rows are findings: {}{}",
        run.stdout, run.stderr
    );
    assert_no_key_material(&run);
    let report = run.json()?;
    let rejected: BTreeMap<u64, String> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let reasons: Vec<&str> = r["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            (r["row"].as_u64().unwrap(), reasons.join(" | "))
        })
        .collect();
    assert_eq!(
        rejected.keys().copied().collect::<Vec<_>>(),
        (5..=19).collect::<Vec<u64>>()
    );
    let expect = [
        (5, "the row has 3 cells but the header has 13"),
        (6, "is not a valid SFTP username"),
        (7, "appears in rows 7, 8"),
        (8, "appears in rows 7, 8"),
        (9, "SSHKey 1: is not an OpenSSH public key"),
        (10, "MigrationStatus \"finished\" is not a status"),
        (11, "rule 2 (group admin)"),
        (12, "rule 3 (email delimiter)"),
        (13, "rule 4 (email format)"),
        (14, "rule 5 (home directory)"),
        (15, "rule 7 (IP ranges)"),
        (16, "rule 8 (public keys)"),
        (17, "rule 8 (public keys)"),
        (18, "rule 4 (email format)"),
        (19, "its GroupAdmin TreasuryAdmin (row 18) is rejected"),
    ];
    for (row, reason) in expect {
        assert!(
            rejected[&row].contains(reason),
            "row {row}: {}",
            rejected[&row]
        );
    }

    let written: Vec<String> = secret_state(&deployment).await?.into_keys().collect();
    assert_eq!(
        written,
        [
            "SFTP/PaymentsAdmin",
            "SFTP/SFTPSuperAdmin",
            "SFTP/good-bank",
            "SFTP/other-good"
        ]
    );
    assert_eq!(
        operator_cli::object_keys(&stack, LANDING_BUCKET, "")?,
        ["payments/", "payments/good-bank/", "payments/other-good/"]
    );

    // The table names each rejected row for people too.
    let table = cli(&stack, &["users", "import", sheet]);
    assert_eq!(table.code, 1);
    assert!(
        table
            .stdout
            .contains("Rejected rows (15): nothing is written for them."),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("Dry run") || table.stdout.contains("Nothing to change"));
    Ok(())
}

fn findings_by_user(reports: &[Value]) -> BTreeMap<String, (Vec<String>, usize)> {
    reports
        .iter()
        .map(|r| {
            let mut codes: Vec<String> = r["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| f["code"].as_str().unwrap_or_default().to_owned())
                .collect();
            codes.sort();
            let notices = r["keyNotices"].as_array().map_or(0, Vec::len);
            (
                r["username"].as_str().unwrap_or_default().to_owned(),
                (codes, notices),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_agrees_with_the_validation_workflow_on_the_sample_users() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    deployment.seed_users(&sample("users")).await?;

    let execution = deployment
        .run(
            "secret-validation",
            &json!({"mode": "all", "asOf": "2026-11-21"}),
            Duration::from_secs(300),
        )
        .await?;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    let workflow_summary = deployment.full_summary(&execution).await?;
    let batches = deployment.run_files(&execution.arn, "reports").await?;
    let workflow_reports: Vec<Value> = batches
        .iter()
        .flat_map(|b| b["reports"].as_array().cloned().unwrap_or_default())
        .collect();

    let audit = cli(
        &stack,
        &["audit", "--as-of", "2026-11-21", "--output", "json"],
    );
    assert_eq!(
        audit.code, 1,
        "findings exit 1: {}{}",
        audit.stdout, audit.stderr
    );
    assert_no_key_material(&audit);
    let report = audit.json()?;
    let summary = &report["summary"];
    for field in [
        "trigger",
        "scope",
        "asOf",
        "usersChecked",
        "usersWithFindings",
        "findingsPerRule",
        "keysDueForRotation",
        "secretReads",
        "problems",
        "complete",
    ] {
        assert_eq!(summary[field], workflow_summary[field], "{field}");
    }
    assert_eq!(summary["emailsSent"], json!([]), "the audit sends nothing");
    assert!(summary["usersChecked"].as_u64() >= Some(20));
    assert!(!summary["usersWithFindings"].as_array().unwrap().is_empty());
    assert_eq!(
        findings_by_user(report["reports"].as_array().unwrap()),
        findings_by_user(&workflow_reports)
    );
    // Who would be told is who the workflow mails.
    let nab = report["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["username"] == "nab-feeds")
        .unwrap();
    assert_eq!(nab["told"], json!(["payments-sftp@example.com"]));

    let table = cli(&stack, &["audit", "--as-of", "2026-11-21"]);
    assert_eq!(table.code, 1);
    assert!(table.stdout.contains("nab-feeds") && table.stdout.contains("email delimiter"));
    assert!(table.stdout.contains("Keys due for rotation"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_shows_the_demos_executions_and_one_runs_path_and_errors() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    deployment.seed_users(&sample("users")).await?;
    let event = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(sample(file)).unwrap()).unwrap()
    };
    // The demo's three runs: the weekly audit, a user's change, an admin's change.
    let mut made = Vec::new();
    for input in [
        json!({"mode": "all", "notifySourceSystems": true, "asOf": "2026-11-21"}),
        event("cloudtrail-put-secret-value.json"),
        event("cloudtrail-admin-change.json"),
    ] {
        let execution = deployment
            .run("secret-validation", &input, Duration::from_secs(300))
            .await?;
        assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
        made.push(execution);
    }

    let listed = cli(&stack, &["runs", "--output", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    let runs = listed.json()?;
    let validation: Vec<&Value> = runs
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["stateMachine"] == "secret-validation")
        .collect();
    let arns: BTreeSet<&str> = validation
        .iter()
        .filter_map(|r| r["arn"].as_str())
        .collect();
    assert_eq!(arns, made.iter().map(|e| e.arn.as_str()).collect());
    for run in &validation {
        assert_eq!(run["status"], "SUCCEEDED");
        assert!(
            run["summary"].as_str().unwrap().contains("usersChecked="),
            "{run}"
        );
        assert!(run["started"].is_string());
    }

    let table = cli(&stack, &["runs"]);
    assert_eq!(table.code, 0);
    for execution in &made {
        let name = execution.arn.rsplit(':').next().unwrap();
        assert!(table.stdout.contains(name), "{name} in\n{}", table.stdout);
    }
    assert!(table.stdout.contains("secret-validation"));

    let weekly_name = made[0].arn.rsplit(':').next().unwrap();
    // `status`: the figures of the last audit of every user (not the later change runs).
    let status = cli(&stack, &["status", "--output", "json"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    let status = status.json()?;
    assert_eq!(status["validation"]["execution"], weekly_name, "{status:#}");
    let weekly = made[0].output.as_ref().unwrap();
    for figure in [
        "usersChecked",
        "keysDueForRotation",
        "emailsSent",
        "findingsPerRule",
    ] {
        assert_eq!(
            status["validation"]["summary"][figure], weekly[figure],
            "{figure}"
        );
    }
    let table = cli(&stack, &["status"]);
    let line = format!(
        "users checked {}, with findings {}",
        weekly["usersChecked"], weekly["usersWithFindings"]
    );
    assert!(
        table.stdout.contains(&line),
        "{line:?} in\n{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("Prefix-list sync: no finished sync yet.")
    );

    let shown = cli(&stack, &["runs", "show", weekly_name]);
    assert_shows(
        &shown,
        &[
            "Status         SUCCEEDED",
            "→ Work out which users to check",
            "→ Load the admins and their email addresses",
            "→ Validate each batch of users",
            "→ Send each email",
            "→ Summarise the run",
            "⇉ validate-batches: 1 items, 1 succeeded, 0 failed",
            "⇉ send-emails: 5 items, 5 succeeded, 0 failed",
        ],
    );
    assert!(!shown.stdout.contains("Errors recorded"));

    // A failed run: its error and the state it came from.
    deployment
        .clients
        .ses
        .delete_email_identity()
        .email_identity("sftp-warden@example.com")
        .send()
        .await?;
    let failed = deployment
        .run(
            "secret-validation",
            &event("cloudtrail-put-secret-value.json"),
            Duration::from_secs(120),
        )
        .await?;
    assert_eq!(failed.status, "FAILED");
    let shown = cli(&stack, &["runs", "show", &failed.arn]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("Status         FAILED"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("Error          RunIncomplete"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("Errors recorded:"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("EmailRejected"), "{}", shown.stdout);
    // The refused email's child execution caught the refusal (and kept it as the email's
    // outcome); the run's summary, its cause, names it.
    assert!(
        shown.stdout.contains("⇉ send-emails: 1 items"),
        "{}",
        shown.stdout
    );

    let listed = cli(
        &stack,
        &[
            "runs",
            "--state-machine",
            "secret-validation",
            "--limit",
            "1",
            "-o",
            "json",
        ],
    );
    assert_eq!(listed.json()?.as_array().map(Vec::len), Some(1));
    assert_eq!(
        listed.json()?[0]["arn"],
        failed.arn.as_str(),
        "newest first"
    );

    // A year of history: once Step Functions no longer keeps a run (90 days), `runs show` reads
    // it from its state machine's log group (365 days) and shows the same run.
    let weekly_arn = made[0].arn.as_str();
    let from_history: Vec<Value> = [weekly_name, failed.arn.as_str()]
        .iter()
        .map(|id| cli(&stack, &["runs", "show", id, "-o", "json"]).json())
        .collect::<Result<_>>()?;
    for arn in [weekly_arn, failed.arn.as_str()] {
        let expired = deployment.expire_history(arn)?;
        assert!(expired["events"].as_u64().unwrap() > 10, "{expired}");
    }
    let listed = cli(&stack, &["runs", "-o", "json"]).json()?;
    assert!(
        !listed.to_string().contains(weekly_arn),
        "the history is gone: {listed}"
    );
    for (id, before) in [weekly_name, failed.arn.as_str()].iter().zip(&from_history) {
        let logged = cli(&stack, &["runs", "show", id, "-o", "json"]);
        assert_eq!(logged.code, 0, "{}", logged.stderr);
        let logged = logged.json()?;
        assert_eq!(logged["source"], "logs");
        assert_eq!(before["source"], "history");
        assert_eq!(
            logged["logGroup"],
            deployment::log_group("secret-validation").as_str()
        );
        for field in [
            "arn",
            "name",
            "stateMachineArn",
            "status",
            "output",
            "error",
            "cause",
        ] {
            assert_eq!(
                logged["execution"][field], before["execution"][field],
                "{id}: {field}"
            );
        }
        assert_eq!(logged["path"], before["path"], "{id}");
        assert_eq!(logged["errors"], before["errors"], "{id}");
    }
    let shown = cli(&stack, &["runs", "show", weekly_name]);
    assert_shows(
        &shown,
        &[
            "Status         SUCCEEDED",
            "Read from      CloudWatch Logs, log group /aws/vendedlogs/states/secret-validation",
            "→ Validate each batch of users",
            "→ Summarise the run",
            // moto runs a Distributed Map's items inside the parent: no child execution logs.
            "⇉ validate-batches: no child execution logged (SUCCEEDED)",
        ],
    );

    let missing = cli(&stack, &["runs", "show", "no-such-run"]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no execution named no-such-run"));
    assert_eq!(cli(&stack, &["runs", "--state-machine", "nope"]).code, 2);
    Ok(())
}

/// Runs the binary with no AWS at all (no endpoint that answers, no credentials files).
fn offline(args: &[&str], env: &[(&str, &str)]) -> CliRun {
    let output = std::process::Command::new(operator_cli::binary().unwrap())
        .current_dir(devstack::workspace_root())
        .env_clear()
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    CliRun {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn every_command_has_help_and_the_exit_codes_are_0_1_and_2() {
    let top = offline(&["--help"], &[]);
    assert_eq!(top.code, 0);
    assert!(
        top.stdout.contains("Exit codes: 0 ok; 1 findings"),
        "{}",
        top.stdout
    );
    for command in [
        &["users", "--help"][..],
        &["users", "import", "--help"],
        &["users", "lint", "--help"],
        &["users", "status", "--help"],
        &["users", "set-status", "--help"],
        &["audit", "--help"],
        &["runs", "--help"],
        &["runs", "show", "--help"],
    ] {
        let help = offline(command, &[]);
        assert_eq!(help.code, 0, "{command:?}");
        assert!(
            help.stdout.contains("Usage: sftp-warden"),
            "{command:?}: {}",
            help.stdout
        );
        assert!(
            help.stdout.lines().count() > 5,
            "{command:?}: {}",
            help.stdout
        );
    }

    // Usage errors: 2.
    assert_eq!(offline(&["users", "import"], &[]).code, 2);
    assert_eq!(offline(&["frobnicate"], &[]).code, 2);
    assert_eq!(offline(&["audit", "--as-of", "21/11/2026"], &[]).code, 2);

    // Lint, offline: 0 clean, 1 findings.
    let admins = [
        "--offline",
        "--admins",
        "test-events/users",
        "--as-of",
        "2026-11-21",
    ];
    let clean = offline(
        &[
            &["users", "lint", "test-events/users/anz-bank.json"][..],
            &admins,
        ]
        .concat(),
        &[],
    );
    assert_eq!(clean.code, 0, "{}{}", clean.stdout, clean.stderr);
    let findings = offline(
        &[
            &["users", "lint", "test-events/users/nab-feeds.json"][..],
            &admins,
        ]
        .concat(),
        &[],
    );
    assert_eq!(findings.code, 1, "{}{}", findings.stdout, findings.stderr);
    assert!(findings.stdout.contains("email-delimiter"));
    let sheet = offline(
        &[
            &[
                "users",
                "lint",
                "test-events/sheets/sample-users.csv",
                "--role-arn",
                ROLE,
            ][..],
            &admins,
        ]
        .concat(),
        &[],
    );
    assert_eq!(
        sheet.code, 1,
        "the sample sheet has bad rows: {}{}",
        sheet.stdout, sheet.stderr
    );
    assert!(sheet.stdout.contains("nab-feeds"));

    // Failures: 2.
    let no_role = offline(
        &["users", "import", "test-events/sheets/sample-users.csv"],
        &[],
    );
    assert_eq!(no_role.code, 2);
    assert!(no_role.stderr.contains("--role-arn"), "{}", no_role.stderr);
    let unreachable = offline(
        &[
            "users",
            "import",
            "test-events/sheets/sample-users.csv",
            "--role-arn",
            ROLE,
        ],
        &[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
            ("AWS_REGION", "ap-southeast-2"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    assert_eq!(unreachable.code, 2, "{}", unreachable.stderr);
    assert!(
        unreachable.stderr.contains("listing the SFTP users"),
        "{}",
        unreachable.stderr
    );
}
