use super::*;
use aws_sdk_secretsmanager::operation::batch_get_secret_value::{
    BatchGetSecretValueError, BatchGetSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
use aws_sdk_secretsmanager::types::{ApiErrorType, SecretListEntry, SecretValueEntry};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use lambda_runtime::Context;
use serde_json::json;
use std::time::Duration;
use warden_aws::work::fake::FakeBucket;
use warden_core::prefix_lists::DesiredCidr;
use warden_core::trigger::Trigger;

const USERS: [(&str, &str); 3] = [
    (
        "SFTPSuperAdmin",
        r#"{"Email":"root@ops.example.com","IP":"192.0.2.10/32","IPv6":"2001:db8:10::/48"}"#,
    ),
    ("bank1", r#"{"IP":"203.0.113.10/32, 203.0.113.11/32"}"#),
    ("broken", "this is not JSON"),
];

fn run() -> Run {
    Run {
        state_machine: "prefix-list-sync".into(),
        execution: "weekly".into(),
    }
}

fn secrets_listing() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(|| {
        let mut out = ListSecretsOutput::builder();
        for (user, _) in USERS {
            out = out.secret_list(
                SecretListEntry::builder()
                    .name(format!("SFTP/{user}"))
                    .build(),
            );
        }
        out.build()
    })
}

/// Every secret readable except those named in `locked`.
fn secret_values(locked: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_secretsmanager::Client::batch_get_secret_value).then_output(move || {
        let mut out = BatchGetSecretValueOutput::builder();
        for (user, secret) in USERS {
            let name = format!("SFTP/{user}");
            if locked.contains(&user) {
                out = out.errors(
                    ApiErrorType::builder()
                        .secret_id(name)
                        .error_code("DecryptionFailure")
                        .build(),
                );
            } else {
                out = out.secret_values(
                    SecretValueEntry::builder()
                        .name(name)
                        .secret_string(secret)
                        .build(),
                );
            }
        }
        out.build()
    })
}

fn failing_reads() -> Rule {
    mock!(aws_sdk_secretsmanager::Client::batch_get_secret_value).then_error(|| {
        BatchGetSecretValueError::generic(
            ErrorMetadata::builder()
                .code("InternalServiceError")
                .message("try later")
                .build(),
        )
    })
}

fn secrets(rules: &[&Rule]) -> UserSecrets {
    let retry = RetryConfig::standard()
        .with_max_attempts(2)
        .with_initial_backoff(Duration::from_millis(1));
    let sm = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, rules, |c| c
        .retry_config(retry.clone()));
    UserSecrets::new(sm, "SFTP/")
}

fn request(input: Value) -> LambdaEvent<ReadRequest> {
    let payload = serde_json::from_value(json!({"input": input, "run": run()})).unwrap();
    LambdaEvent::new(payload, Context::default())
}

fn desired(bucket: &FakeBucket, family: AddressFamily) -> Vec<String> {
    let entries: Vec<DesiredCidr> = bucket.get(&files::desired(&run(), family)).unwrap();
    entries
        .iter()
        .map(|e| format!("{} {}", e.cidr, e.users.join("+")))
        .collect()
}

fn users(bucket: &FakeBucket) -> UsersRead {
    bucket.get(&run().key(files::USERS)).unwrap()
}

#[tokio::test]
async fn every_secret_is_read_once_and_each_family_gets_its_cidrs() {
    let (listing, values) = (secrets_listing(), secret_values(&[]));
    let bucket = FakeBucket::new();

    let counted = handler(
        &secrets(&[&listing, &values]),
        &bucket.store(),
        &Rules::default(),
        request(json!({"mode": "all", "schedule": "weekly"})),
    )
    .await
    .unwrap();

    assert_eq!(
        desired(&bucket, AddressFamily::V4),
        [
            "192.0.2.10/32 SFTPSuperAdmin",
            "203.0.113.10/32 bank1",
            "203.0.113.11/32 bank1"
        ]
    );
    assert_eq!(
        desired(&bucket, AddressFamily::V6),
        ["2001:db8:10::/48 SFTPSuperAdmin"]
    );
    let read = users(&bucket);
    assert_eq!(read.trigger, Some(Trigger::Schedule));
    assert_eq!(read.users_read, 3);
    assert!(
        read.unreadable.is_empty(),
        "a malformed secret is read, it just allows nothing"
    );
    assert_eq!(read.super_admins, ["root@ops.example.com"]);
    assert_eq!(read.max_removal_share, None);
    assert_eq!(values.num_calls(), 1, "one read for both families");
    // The state gets counts.
    assert_eq!(
        serde_json::to_value(&counted).unwrap(),
        json!({"trigger": "schedule", "usersRead": 3, "usersUnreadable": 0, "secretReads": 1,
               "superAdminAddresses": 1, "desired": {"IPv4": 3, "IPv6": 1}})
    );
}

#[tokio::test]
async fn an_unreadable_secret_is_named_for_the_plans_to_keep_every_entry() {
    let (listing, values) = (secrets_listing(), secret_values(&["bank1"]));
    let bucket = FakeBucket::new();

    let counted = handler(
        &secrets(&[&listing, &values]),
        &bucket.store(),
        &Rules::default(),
        request(json!({"mode": "all"})),
    )
    .await
    .unwrap();

    assert_eq!(users(&bucket).unreadable, ["bank1 (DecryptionFailure)"]);
    assert_eq!(counted.users_unreadable, 1);
    assert_eq!(
        desired(&bucket, AddressFamily::V4),
        ["192.0.2.10/32 SFTPSuperAdmin"],
        "what is known is still desired"
    );
}

#[tokio::test]
async fn a_batch_read_that_keeps_failing_is_partial_information_not_a_lost_entry() {
    let (listing, failing) = (secrets_listing(), failing_reads());
    let bucket = FakeBucket::new();

    handler(
        &secrets(&[&listing, &failing]),
        &bucket.store(),
        &Rules::default(),
        request(json!({"mode": "all"})),
    )
    .await
    .unwrap();

    let read = users(&bucket);
    assert_eq!(read.unreadable.len(), 3);
    assert!(read.super_admins.is_empty());
    assert!(desired(&bucket, AddressFamily::V4).is_empty());
}

#[tokio::test]
async fn a_store_wide_outage_names_every_user_in_the_file_and_counts_them_in_the_state() {
    let listing = mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(|| {
        let mut out = ListSecretsOutput::builder();
        for i in 0..70 {
            out = out.secret_list(
                SecretListEntry::builder()
                    .name(format!("SFTP/user{i:02}"))
                    .build(),
            );
        }
        out.build()
    });
    let failing = failing_reads();
    let bucket = FakeBucket::new();

    let counted = handler(
        &secrets(&[&listing, &failing]),
        &bucket.store(),
        &Rules::default(),
        request(json!({"mode": "all"})),
    )
    .await
    .unwrap();

    assert_eq!(counted.users_unreadable, 70);
    assert_eq!(counted.secret_reads, 4, "one failed call per batch of 20");
    assert_eq!(users(&bucket).unreadable.len(), 70);
}

#[tokio::test]
async fn a_change_to_a_secret_that_is_not_a_user_is_ignored_without_a_call() {
    let (listing, values) = (secrets_listing(), secret_values(&[]));
    let bucket = FakeBucket::new();
    let event: Value = serde_json::from_str(include_str!(
        "../../../test-events/cloudtrail-unrelated-secret.json"
    ))
    .unwrap();

    let err = handler(
        &secrets(&[&listing, &values]),
        &bucket.store(),
        &Rules::default(),
        request(event),
    )
    .await
    .unwrap_err();

    assert_eq!(Diagnostic::from(err).error_type, "NotAnSftpUser");
    assert_eq!(listing.num_calls() + values.num_calls(), 0);
    assert!(bucket.keys().is_empty());
}

#[tokio::test]
async fn a_secret_change_event_still_reads_every_user() {
    let (listing, values) = (secrets_listing(), secret_values(&[]));
    let bucket = FakeBucket::new();
    let event: Value = serde_json::from_str(include_str!(
        "../../../test-events/cloudtrail-put-secret-value.json"
    ))
    .unwrap();

    let counted = handler(
        &secrets(&[&listing, &values]),
        &bucket.store(),
        &Rules::default(),
        request(event),
    )
    .await
    .unwrap();

    assert_eq!(counted.trigger, Some(Trigger::SecretChange));
    assert_eq!(
        counted.event.as_deref(),
        Some("PutSecretValue of SFTP/nab-feeds")
    );
    assert_eq!(counted.users_read, 3);
}

#[tokio::test]
async fn an_operator_lifting_the_cap_is_passed_to_the_plans() {
    let (listing, values) = (secrets_listing(), secret_values(&[]));
    let bucket = FakeBucket::new();

    handler(
        &secrets(&[&listing, &values]),
        &bucket.store(),
        &Rules::default(),
        request(json!({"mode": "all", "maxRemovalShare": 1})),
    )
    .await
    .unwrap();

    assert_eq!(users(&bucket).max_removal_share, Some(1.0));
}

#[tokio::test]
async fn a_wrong_share_is_refused_before_any_secret_is_read() {
    let (listing, values) = (secrets_listing(), secret_values(&[]));

    let err = handler(
        &secrets(&[&listing, &values]),
        &FakeBucket::new().store(),
        &Rules::default(),
        request(json!({"mode": "all", "maxRemovalShare": 2})),
    )
    .await
    .unwrap_err();

    assert_eq!(Diagnostic::from(err).error_type, "UnsupportedInput");
    assert_eq!(listing.num_calls(), 0);
}

#[test]
fn only_an_operator_can_lift_the_cap_and_only_to_a_share() {
    assert_eq!(
        share_override(&json!({"maxRemovalShare": 0.8})).unwrap(),
        Some(0.8)
    );
    assert_eq!(share_override(&json!({"mode": "all"})).unwrap(), None);
    assert_eq!(
        share_override(&json!({"detail-type": "Scheduled Event", "maxRemovalShare": 1})).unwrap(),
        None,
        "EventBridge events never lift the cap"
    );
    assert!(share_override(&json!({"maxRemovalShare": 2})).is_err());
    assert!(share_override(&json!({"maxRemovalShare": "all"})).is_err());
}

#[test]
fn every_error_it_reports_is_listed_for_it_in_the_registry() {
    let listed = warden_core::registry::function("read-user-cidrs").unwrap();
    let errors = [
        ReadError::Request(RequestError::NotAnSftpUser("SFTP-x".into())),
        ReadError::Request(RequestError::Unsupported("x".into())),
        ReadError::BadShare("2".into()),
        ReadError::Secrets(SecretsError::BatchTooLarge(21)),
        ReadError::Work(WorkError::Missing { key: "x".into() }),
    ];
    for err in &errors {
        assert!(listed.reports(err.name()), "{}", err.name());
    }
    for name in warden_core::registry::SECRETS_ERRORS
        .iter()
        .chain(warden_core::registry::WORK_ERRORS)
    {
        assert!(listed.reports(*name), "{name}");
    }
}
