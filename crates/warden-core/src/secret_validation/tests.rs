use super::*;
use crate::validation::Finding;
use serde_json::json;

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
    let batches = vec![
        BatchResult {
            unreadable: vec![ReadFailure {
                username: "x".into(),
                error: "DecryptionFailure".into(),
            }],
            ..BatchResult::default()
        },
        BatchResult {
            failure: Some(BatchFailure {
                usernames: vec!["y".into()],
                error: "SecretsUnavailable".into(),
                cause: String::new(),
            }),
            ..BatchResult::default()
        },
    ];
    let s = summarise(&SummaryInput {
        plan: p,
        batches,
        unrouted: vec!["z".into()],
        sent: vec![outcome("digest", Some("EmailRejected"))],
    });
    assert!(!s.complete);
    assert_eq!(s.problems.len(), 4, "{:?}", s.problems);
    assert!(
        s.problems
            .iter()
            .any(|p| p.contains("nobody could be told about the findings of z"))
    );
    assert!(s.problems.iter().any(|p| p.contains("EmailRejected")));
    assert!(s.emails_sent.is_empty());
}

#[test]
fn a_failed_batch_from_the_state_machine_catch_deserialises() {
    let from_asl =
        json!({"failure": {"usernames": ["a"], "error": "States.Timeout", "cause": "x"}});
    let b: BatchResult = serde_json::from_value(from_asl).unwrap();
    assert_eq!(b.failure.unwrap().error, "States.Timeout");
    assert_eq!(b.checked, 0);
}
