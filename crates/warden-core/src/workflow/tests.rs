use super::*;
use crate::validation::Finding;
use serde_json::json;

fn event(file: &str) -> Value {
    let text = match file {
        "put" => include_str!("../../../../test-events/cloudtrail-put-secret-value.json"),
        "update" => include_str!("../../../../test-events/cloudtrail-update-secret.json"),
        "create" => include_str!("../../../../test-events/cloudtrail-create-secret.json"),
        "delete" => include_str!("../../../../test-events/cloudtrail-delete-secret.json"),
        "restore" => include_str!("../../../../test-events/cloudtrail-restore-secret.json"),
        "admin" => include_str!("../../../../test-events/cloudtrail-admin-change.json"),
        "unrelated" => include_str!("../../../../test-events/cloudtrail-unrelated-secret.json"),
        "get" => include_str!("../../../../test-events/cloudtrail-get-secret-value.json"),
        "weekly" => include_str!("../../../../test-events/scheduled-weekly.json"),
        "rule" => include_str!("../../../../test-events/scheduled-rule-event.json"),
        other => panic!("no sample event {other}"),
    };
    serde_json::from_str(text).expect("sample event is JSON")
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn user(u: &str) -> Scope {
    Scope::User {
        username: u.to_owned(),
    }
}

#[test]
fn a_change_by_arn_names_the_user_without_the_random_suffix() {
    let r = request_from_event(&event("put"), "SFTP/").unwrap();
    assert_eq!(r.trigger, Trigger::SecretChange);
    assert_eq!(r.scope, user("nab-feeds"));
    assert_eq!(r.event.as_deref(), Some("PutSecretValue of SFTP/nab-feeds"));
    assert!(!r.notify_source_systems);
}

#[test]
fn every_kind_of_change_is_recognised_by_name_or_arn() {
    assert_eq!(
        request_from_event(&event("update"), "SFTP/").unwrap().scope,
        user("anz-bank")
    );
    assert_eq!(
        request_from_event(&event("create"), "SFTP/").unwrap().scope,
        user("stripe-payouts")
    );
    assert_eq!(
        request_from_event(&event("delete"), "SFTP/").unwrap().scope,
        user("retired-partner")
    );
    assert_eq!(
        request_from_event(&event("restore"), "SFTP/")
            .unwrap()
            .trigger,
        Trigger::SecretChange
    );
}

#[test]
fn a_change_to_an_admin_rechecks_its_group() {
    let r = request_from_event(&event("admin"), "SFTP/").unwrap();
    assert_eq!(
        r.scope,
        Scope::Group {
            admin: "PaymentsAdmin".into()
        }
    );
}

#[test]
fn other_secrets_and_read_only_calls_are_not_runs() {
    assert!(matches!(
        request_from_event(&event("unrelated"), "SFTP/"),
        Err(RequestError::NotAnSftpUser(id)) if id == "prod/db-password"
    ));
    assert!(matches!(
        request_from_event(&event("get"), "SFTP/"),
        Err(RequestError::Unsupported(_))
    ));
}

#[test]
fn the_change_path_never_notifies_source_systems_even_if_asked() {
    let mut e = event("put");
    e["notifySourceSystems"] = json!(true);
    assert!(
        !request_from_event(&e, "SFTP/")
            .unwrap()
            .notify_source_systems
    );
}

#[test]
fn the_weekly_input_checks_everyone_and_notifies_source_systems() {
    let r = request_from_event(&event("weekly"), "SFTP/").unwrap();
    assert_eq!(r.scope, Scope::All);
    assert!(r.notify_source_systems);
    let classic = request_from_event(&event("rule"), "SFTP/").unwrap();
    assert_eq!(
        (classic.trigger, classic.scope),
        (Trigger::Schedule, Scope::All)
    );
}

#[test]
fn manual_input_can_pin_the_date_and_name_one_user() {
    let r = request_from_event(
        &json!({"username": "SFTP/bank1", "asOf": "2026-11-21"}),
        "SFTP/",
    )
    .unwrap();
    assert_eq!(r.scope, user("bank1"));
    assert_eq!(r.as_of, Some(day("2026-11-21")));
    assert!(request_from_event(&json!({"asOf": "21/11/2026"}), "SFTP/").is_err());
    assert!(request_from_event(&json!({"mode": "everything"}), "SFTP/").is_err());
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
