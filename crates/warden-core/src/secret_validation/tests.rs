use super::*;
use crate::validation::Finding;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn user(u: &str) -> Scope {
    Scope::User {
        username: u.to_owned(),
    }
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i:03}")).collect()
}

fn all() -> Request {
    Request {
        trigger: Trigger::Schedule,
        scope: Scope::All,
        event: None,
        notify_source_systems: true,
        as_of: None,
    }
}

#[test]
fn users_are_batched_twenty_at_a_time() {
    let p = plan(all(), "SFTP/", names(45), &[], day("2026-11-21"));
    let sizes: Vec<usize> = p.batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [20, 20, 5]);
    assert_eq!(p.users_listed, 45);
    assert_eq!(p.as_of, day("2026-11-21"));
}

#[test]
fn ten_thousand_users_stay_far_inside_the_history_limit() {
    let p = plan(all(), "SFTP/", names(10_000), &[], day("2026-11-21"));
    assert_eq!(p.batches.len(), 500);
}

#[test]
fn excluded_users_are_not_checked_and_the_plan_says_so() {
    let p = plan(
        all(),
        "SFTP/",
        names(3),
        &["user001".into()],
        day("2026-11-21"),
    );
    assert_eq!(
        p.batches,
        [vec!["user000".to_string(), "user002".to_string()]]
    );
    assert!(p.notes[0].contains("user001"));
}

#[test]
fn a_deleted_user_has_nothing_to_validate_and_the_plan_says_why() {
    let request = Request {
        scope: user("gone"),
        trigger: Trigger::SecretChange,
        ..all()
    };
    let p = plan(request, "SFTP/", names(3), &[], day("2026-11-21"));
    assert!(p.batches.is_empty());
    assert!(
        p.notes[0].contains("SFTP/gone no longer exists"),
        "{:?}",
        p.notes
    );
}

#[test]
fn admins_are_listed_for_loading() {
    let users = vec![
        "bank1".into(),
        "PaymentsAdmin".into(),
        "SFTPSuperAdmin".into(),
    ];
    let p = plan(all(), "SFTP/", users, &[], day("2026-11-21"));
    assert_eq!(p.admin_names, ["PaymentsAdmin", "SFTPSuperAdmin"]);
}

#[test]
fn a_group_scope_includes_the_admin_and_its_users_only() {
    let s = Scope::Group {
        admin: "PaymentsAdmin".into(),
    };
    assert!(s.includes("PaymentsAdmin", Some("SFTPSuperAdmin")));
    assert!(s.includes("bank1", Some("PaymentsAdmin")));
    assert!(!s.includes("bank2", Some("TreasuryAdmin")));
}

fn report(name: &str, rules: &[Rule]) -> UserReport {
    UserReport {
        username: name.into(),
        role: Role::User,
        name: None,
        group_admin: Some("PaymentsAdmin".into()),
        contact_emails: vec![],
        suppressed_contacts: vec![],
        findings: rules
            .iter()
            .map(|r| Finding {
                rule: *r,
                code: "x".into(),
                detail: "d".into(),
            })
            .collect(),
        key_notices: vec![],
    }
}

fn outcome(subject: &str, error: Option<&str>) -> SendOutcome {
    SendOutcome {
        kind: EmailKind::Findings,
        to: vec!["a@example.com".into()],
        cc: vec![],
        subject: subject.into(),
        message_id: None,
        error: error.map(str::to_owned),
        rerouted: false,
    }
}

#[test]
fn the_summary_counts_users_findings_per_rule_and_emails() {
    let p = plan(all(), "SFTP/", names(3), &[], day("2026-11-21"));
    let batch = BatchResult {
        checked: 3,
        reports: vec![
            report("b", &[Rule::EmailDelimiter, Rule::EmailFormat]),
            report("a", &[Rule::EmailDelimiter]),
        ],
        secret_reads: 1,
        ..BatchResult::default()
    };
    let s = summarise(&SummaryInput {
        plan: p,
        batches: vec![batch],
        unrouted: vec![],
        sent: vec![outcome("hello", None)],
        missing_batches: vec![],
        unsent: vec![],
        suppressed_super_admins: vec![],
        unreadable_admins: vec![],
    });
    assert_eq!(s.users_checked, 3);
    assert_eq!(s.users_with_findings, ["a", "b"]);
    assert_eq!(s.findings_per_rule.get("3 email delimiter"), Some(&2));
    assert_eq!(s.findings_per_rule.get("4 email format").copied(), Some(1));
    assert_eq!(s.emails_sent.len(), 1);
    assert!(s.complete && s.problems.is_empty());
}

#[test]
fn a_failed_email_unreadable_secret_or_failed_batch_makes_the_run_incomplete() {
    let p = plan(all(), "SFTP/", names(3), &[], day("2026-11-21"));
    let batches = vec![BatchResult {
        unreadable: vec![ReadFailure {
            username: "x".into(),
            error: "DecryptionFailure".into(),
        }],
        ..BatchResult::default()
    }];
    let s = summarise(&SummaryInput {
        plan: p,
        batches,
        unrouted: vec!["z".into()],
        sent: vec![outcome("digest", Some("EmailRejected"))],
        missing_batches: vec![vec!["y".into()]],
        unsent: vec![SentEmail {
            kind: EmailKind::KeyExpiry,
            to: vec!["ops@bank.example".into()],
            cc: vec![],
            subject: "Rotate your key".into(),
        }],
        suppressed_super_admins: vec![],
        unreadable_admins: vec![],
    });
    assert!(!s.complete);
    assert_eq!(s.problems.len(), 5, "{:?}", s.problems);
    assert!(
        s.problems
            .iter()
            .any(|p| p
                .contains("1 users were not checked (their batch failed after its retries): y"))
    );
    assert!(
        s.problems
            .iter()
            .any(|p| p.contains("\"Rotate your key\" to ops@bank.example was not sent"))
    );
    assert!(
        s.problems
            .iter()
            .any(|p| p.contains("nobody could be told about the findings or key notices of z"))
    );
    assert!(s.problems.iter().any(|p| p.contains("EmailRejected")));
    assert!(s.emails_sent.is_empty());
}

fn changes(usernames: &[&str]) -> Request {
    Request {
        trigger: Trigger::SecretChange,
        scope: Scope::Users {
            usernames: usernames.iter().map(|u| u.to_string()).collect(),
        },
        event: Some("3 changes".into()),
        notify_source_systems: false,
        as_of: None,
    }
}

#[test]
fn a_batch_of_changed_users_checks_those_that_still_exist_and_notes_the_deleted() {
    let p = plan(
        changes(&["user001", "gone", "user002"]),
        "SFTP/",
        names(5),
        &[],
        day("2026-11-21"),
    );
    assert_eq!(
        p.batches,
        [vec!["user001".to_string(), "user002".to_string()]]
    );
    assert!(
        p.notes[0].starts_with("1 no longer exist (deleted)"),
        "{:?}",
        p.notes
    );
    assert!(p.notes[0].ends_with(": gone"));
}

#[test]
fn a_batch_of_changes_with_an_admin_reads_everyone_to_find_its_users() {
    let mut users = names(5);
    users.push("PaymentsAdmin".into());
    users.sort();
    let p = plan(
        changes(&["PaymentsAdmin"]),
        "SFTP/",
        users,
        &[],
        day("2026-11-21"),
    );
    assert_eq!(p.batches.iter().map(Vec::len).sum::<usize>(), 6);
}

#[test]
fn the_plan_in_the_state_carries_counts_and_at_most_ten_notes() {
    let mut p = plan(all(), "SFTP/", names(45), &[], day("2026-11-21"));
    p.notes = (0..25)
        .map(|i| format!("note {i} {}", "x".repeat(500)))
        .collect();
    let file = WorkFile {
        bucket: "work".into(),
        key: "runs/v/e/batches.json".into(),
    };
    let summary = p.summary(file.clone());
    assert_eq!((summary.batches, summary.users_to_check), (3, 45));
    assert_eq!(summary.notes.len(), 11);
    assert!(
        summary.notes.iter().all(|n| n.chars().count() <= 301),
        "300 and an ellipsis"
    );
    assert_eq!(summary.notes[10], "… and 15 more");
    assert_eq!(summary.batches_file, file);
}

#[test]
fn the_bounded_summary_of_a_run_that_went_badly_everywhere_fits_a_fail_cause() {
    let p = plan(all(), "SFTP/", names(50_000), &[], day("2026-11-21"));
    let batches: Vec<BatchResult> = p
        .batches
        .iter()
        .map(|users| BatchResult {
            checked: users.len(),
            reports: users
                .iter()
                .map(|u| report(u, &[Rule::EmailFormat, Rule::IpRanges]))
                .collect(),
            unreadable: vec![ReadFailure {
                username: users[0].clone(),
                error: "DecryptionFailure".into(),
            }],
            secret_reads: 1,
            ..BatchResult::default()
        })
        .collect();
    let summary = summarise(&SummaryInput {
        plan: p,
        batches,
        unrouted: names(50_000),
        sent: (0..5_000)
            .map(|i| outcome(&format!("digest {i}"), Some("EmailRejected")))
            .collect(),
        missing_batches: vec![names(20); 100],
        unsent: vec![],
        suppressed_super_admins: vec![],
        unreadable_admins: vec![],
    });
    let full = WorkFile {
        bucket: "work".into(),
        key: "runs/secret-validation/weekly/summary.json".into(),
    };
    let bounded = summary.bounded(&full);
    let size = serde_json::to_string(&bounded).unwrap().len();
    assert!(size < 32 * 1024, "{size} bytes");
    assert_eq!(bounded.users_with_findings, 50_000);
    assert_eq!(bounded.first_users_with_findings.len(), 10);
    assert_eq!(bounded.problems.len(), MAX_PROBLEMS_SHOWN + 1);
    assert_eq!(bounded.problems_total, summary.problems.len());
    assert_eq!(
        bounded.full_summary,
        "s3://work/runs/secret-validation/weekly/summary.json"
    );
    assert!(!bounded.complete);
}
