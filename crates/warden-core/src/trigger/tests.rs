use super::*;
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
        "pending" => {
            include_str!("../../../../test-events/cloudtrail-put-secret-value-pending.json")
        }
        "stage" => {
            include_str!("../../../../test-events/cloudtrail-update-secret-version-stage.json")
        }
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

#[test]
fn a_batch_of_changes_names_its_users_and_never_notifies_source_systems() {
    let r = request_from_event(
        &json!({
            "mode": "users",
            "usernames": ["bank2", "SFTP/bank1", "bank2", "PaymentsAdmin"],
            "changes": {"events": 4, "batch": "b-1f2e"},
            "notifySourceSystems": true
        }),
        "SFTP/",
    )
    .unwrap();
    assert_eq!(r.trigger, Trigger::SecretChange);
    assert_eq!(
        r.scope,
        Scope::Users {
            usernames: vec!["PaymentsAdmin".into(), "bank1".into(), "bank2".into()]
        }
    );
    assert_eq!(
        r.event.as_deref(),
        Some("4 changes to SFTP/ secrets (batch b-1f2e)")
    );
    assert!(!r.notify_source_systems);
}

#[test]
fn named_users_include_the_users_of_the_admins_among_them() {
    let scope = Scope::Users {
        usernames: vec!["PaymentsAdmin".into(), "bank1".into()],
    };
    assert!(scope.includes("bank1", Some("OtherAdmin")));
    assert!(scope.includes("PaymentsAdmin", None));
    assert!(scope.includes("bank7", Some("PaymentsAdmin")));
    assert!(!scope.includes("bank8", Some("OtherAdmin")));
    let users_only = Scope::Users {
        usernames: vec!["bank1".into()],
    };
    assert!(
        !users_only.includes("bank2", Some("bank1")),
        "a user is no one's admin"
    );
}

#[test]
fn a_list_of_users_must_be_valid_usernames_and_not_too_many() {
    for bad in [
        json!({"mode": "users"}),
        json!({"mode": "users", "usernames": []}),
        json!({"mode": "users", "usernames": [7]}),
        json!({"mode": "users", "usernames": ["../x"]}),
        json!({"mode": "users", "usernames": (0..501).map(|i| format!("user{i}")).collect::<Vec<_>>()}),
    ] {
        assert!(
            matches!(
                request_from_event(&bad, "SFTP/"),
                Err(RequestError::Unsupported(_))
            ),
            "{bad}"
        );
    }
}

fn message(id: &str, event: Value) -> (String, Value) {
    (id.to_owned(), event)
}

#[test]
fn a_batch_of_changes_gathers_its_users_and_ignores_the_rest() {
    let mut admin = event("admin");
    admin["id"] = json!("e-2");
    let messages = [
        message("m-1", event("put")),
        message("m-2", admin),
        message("m-3", event("unrelated")),
        message("m-4", event("get")),
        message("m-5", event("put")),
    ];

    let batch = gather_changes(&messages, "SFTP/");

    assert_eq!(batch.usernames, ["PaymentsAdmin", "nab-feeds"]);
    assert_eq!((batch.events, batch.ignored), (3, 2));
    assert_eq!(batch.id.len(), 16);
    assert_eq!(
        batch.validation_input(),
        Some(json!({
            "mode": "users", "usernames": ["PaymentsAdmin", "nab-feeds"],
            "changes": {"events": 3, "batch": batch.id}
        }))
    );
    let sync = batch.sync_input().unwrap();
    assert_eq!(sync["mode"], "all");
    // The inputs parse as what they say.
    let request = request_from_event(&batch.validation_input().unwrap(), "SFTP/").unwrap();
    assert_eq!(request.trigger, Trigger::SecretChange);
    assert!(!request.notify_source_systems);
    assert_eq!(
        request_from_event(&sync, "SFTP/").unwrap().scope,
        Scope::All
    );
}

#[test]
fn the_same_messages_in_any_order_are_the_same_batch() {
    let a = gather_changes(
        &[message("m-1", event("put")), message("m-2", event("admin"))],
        "SFTP/",
    );
    let b = gather_changes(
        &[message("m-2", event("admin")), message("m-1", event("put"))],
        "SFTP/",
    );
    let c = gather_changes(&[message("m-1", event("put"))], "SFTP/");
    assert_eq!(a.id, b.id);
    assert_ne!(a.id, c.id);
}

#[test]
fn a_batch_without_an_sftp_change_starts_nothing_and_a_huge_one_checks_everyone() {
    let nothing = gather_changes(&[message("m-1", event("unrelated"))], "SFTP/");
    assert_eq!(
        (nothing.validation_input(), nothing.sync_input()),
        (None, None)
    );

    let many: Vec<(String, Value)> = (0..=MAX_NAMED_USERS)
        .map(|i| {
            let mut e = event("put");
            e["detail"]["requestParameters"]["secretId"] = json!(format!("SFTP/user{i}"));
            message(&format!("m-{i}"), e)
        })
        .collect();
    let batch = gather_changes(&many, "SFTP/");
    assert_eq!(batch.usernames.len(), MAX_NAMED_USERS + 1);
    assert_eq!(batch.validation_input().unwrap()["mode"], "all");
}

#[test]
fn a_value_that_becomes_current_by_a_stage_move_is_checked() {
    let r = request_from_event(&event("stage"), "SFTP/").unwrap();
    assert_eq!(r.scope, user("nab-feeds"));
    assert_eq!(
        r.event.as_deref(),
        Some("UpdateSecretVersionStage of SFTP/nab-feeds")
    );
}

#[test]
fn a_pending_value_or_a_move_of_another_label_is_not_checked_as_current() {
    assert!(matches!(
        request_from_event(&event("pending"), "SFTP/"),
        Err(RequestError::NotTheCurrentValue(_))
    ));
    let mut moved = event("stage");
    moved["detail"]["requestParameters"]["versionStage"] = json!("AWSPREVIOUS");
    let err = request_from_event(&moved, "SFTP/").unwrap_err();
    assert_eq!(
        err.to_string(),
        "UpdateSecretVersionStage of SFTP/nab-feeds under AWSPREVIOUS is not the current value; nothing to check until it becomes current"
    );
    // A batch of changes ignores it too.
    let batch = gather_changes(&[("m-1".to_owned(), event("pending"))], "SFTP/");
    assert_eq!((batch.events, batch.ignored), (0, 1));
}

#[test]
fn a_scheduled_run_is_named_after_its_schedule_and_iso_week() {
    let run: ScheduledRun = serde_json::from_value(serde_json::json!({
        "schedule": "weekly-audit",
        "scheduledTime": "2026-12-06T09:00:00Z",
        "stateMachine": "validation",
        "input": {"mode": "all", "notifySourceSystems": true, "schedule": "weekly"}
    }))
    .unwrap();
    assert_eq!(run.execution_name(), "weekly-audit-2026-W49");
    // Late in the same week, or a retry hours later: the same name.
    let retry = ScheduledRun {
        scheduled_time: "2026-12-06T23:59:00Z".parse().unwrap(),
        ..run.clone()
    };
    assert_eq!(retry.execution_name(), run.execution_name());
    // ISO weeks cross years: 2027-01-01 is in 2026's week 53.
    let new_year = ScheduledRun {
        scheduled_time: "2027-01-01T09:00:00Z".parse().unwrap(),
        ..run.clone()
    };
    assert_eq!(new_year.execution_name(), "weekly-audit-2026-W53");
    assert!(
        serde_json::from_value::<ScheduledRun>(serde_json::json!({"schedule": "x"})).is_err(),
        "not a scheduled run"
    );
}
