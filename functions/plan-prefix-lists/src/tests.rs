use super::*;
use aws_sdk_ec2::operation::describe_managed_prefix_lists::DescribeManagedPrefixListsOutput;
use aws_sdk_ec2::operation::get_managed_prefix_list_entries::GetManagedPrefixListEntriesOutput;
use aws_sdk_ec2::types::{ManagedPrefixList, PrefixListEntry, PrefixListState};
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

const USERS: [(&str, &str); 3] = [
    (
        "SFTPSuperAdmin",
        r#"{"Email":"root@ops.example.com","IP":"192.0.2.10/32","IPv6":"2001:db8:10::/48"}"#,
    ),
    ("bank1", r#"{"IP":"203.0.113.10/32, 203.0.113.11/32"}"#),
    ("broken", "this is not JSON"),
];

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

fn list(
    id: &str,
    name: &str,
    family: &str,
    owner: &str,
    state: PrefixListState,
) -> ManagedPrefixList {
    ManagedPrefixList::builder()
        .prefix_list_id(id)
        .prefix_list_name(name)
        .address_family(family)
        .owner_id(owner)
        .max_entries(5)
        .version(4)
        .state(state)
        .build()
}

fn lists(state: PrefixListState) -> Rule {
    mock!(aws_sdk_ec2::Client::describe_managed_prefix_lists).then_output(move || {
        DescribeManagedPrefixListsOutput::builder()
            .prefix_lists(list(
                "pl-v4",
                "sftp-v4-AUTOMATED_PREFIX",
                "IPv4",
                "123456789012",
                state.clone(),
            ))
            .prefix_lists(list(
                "pl-v6",
                "sftp-v6-AUTOMATED_PREFIX",
                "IPv6",
                "123456789012",
                PrefixListState::ModifyComplete,
            ))
            .prefix_lists(list(
                "pl-office",
                "office-ips",
                "IPv4",
                "123456789012",
                PrefixListState::ModifyComplete,
            ))
            .prefix_lists(list(
                "pl-s3",
                "com.amazonaws.ap-southeast-2.s3",
                "IPv4",
                "AWS",
                PrefixListState::CreateComplete,
            ))
            .build()
    })
}

/// `pl-v4` holds bank1's first CIDR and one nobody asks for; only it may be read.
fn v4_entries() -> Rule {
    mock!(aws_sdk_ec2::Client::get_managed_prefix_list_entries)
        .match_requests(|r| r.prefix_list_id() == Some("pl-v4") && r.target_version() == Some(4))
        .then_output(|| {
            GetManagedPrefixListEntriesOutput::builder()
                .entries(
                    PrefixListEntry::builder()
                        .cidr("203.0.113.10/32")
                        .description("bank1")
                        .build(),
                )
                .entries(
                    PrefixListEntry::builder()
                        .cidr("198.51.100.1/32")
                        .description("retired")
                        .build(),
                )
                .build()
        })
}

fn config() -> Config {
    Config {
        settings: PlanSettings {
            marker: "AUTOMATED_PREFIX".into(),
            max_removal_share: 0.5,
        },
        rules: Rules::default(),
    }
}

fn clients(secret_rules: &[&Rule], ec2_rules: &[&Rule]) -> (PrefixLists, UserSecrets) {
    let retry = RetryConfig::standard()
        .with_max_attempts(2)
        .with_initial_backoff(Duration::from_millis(1));
    let ec2 = mock_client!(aws_sdk_ec2, RuleMode::MatchAny, ec2_rules, |c| c
        .retry_config(retry.clone()));
    let sm = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        secret_rules,
        |c| c.retry_config(retry.clone())
    );
    (PrefixLists::new(ec2), UserSecrets::new(sm, "SFTP/"))
}

fn request(family: &str, input: Value) -> LambdaEvent<PlanRequest> {
    let payload = serde_json::from_value(json!({"family": family, "input": input})).unwrap();
    LambdaEvent::new(payload, Context::default())
}

fn steps(run: &FamilyRun) -> Vec<Value> {
    serde_json::to_value(&run.plan.lists[0].pending)
        .unwrap()
        .as_array()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn a_weekly_run_plans_the_managed_lists_from_every_users_secret() {
    let (listing, values, described, entries) = (
        secrets_listing(),
        secret_values(&[]),
        lists(PrefixListState::ModifyComplete),
        v4_entries(),
    );
    let (ec2, secrets) = clients(&[&listing, &values], &[&described, &entries]);

    let run = handler(
        &ec2,
        &secrets,
        &config(),
        request("IPv4", json!({"mode": "all", "schedule": "weekly"})),
    )
    .await
    .unwrap();

    assert_eq!(run.trigger, Some(trigger::Trigger::Schedule));
    let ids: Vec<&str> = run.plan.lists.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["pl-v4"], "only the managed IPv4 list");
    assert_eq!(
        steps(&run),
        [
            json!({"remove": ["198.51.100.1/32"]}),
            json!({"add": [
                {"cidr": "192.0.2.10/32", "description": "SFTPSuperAdmin"},
                {"cidr": "203.0.113.11/32", "description": "bank1"}
            ]}),
        ]
    );
    assert_eq!(
        run.plan.lists[0].version, 4,
        "the next write's CurrentVersion"
    );
    assert_eq!(run.users_read, 3);
    assert!(
        run.unreadable.is_empty(),
        "a malformed secret is read, it just allows nothing"
    );
    assert_eq!(run.super_admins, ["root@ops.example.com"]);
    // One DescribeManagedPrefixLists and one GetManagedPrefixListEntries (the managed list's).
    assert_eq!(run.reads, 2);
    assert_eq!((described.num_calls(), entries.num_calls()), (1, 1));
    assert_eq!(run.secret_reads, 1);
}

#[tokio::test]
async fn an_unreadable_secret_means_nothing_is_removed() {
    let (listing, values, described, entries) = (
        secrets_listing(),
        secret_values(&["bank1"]),
        lists(PrefixListState::ModifyComplete),
        v4_entries(),
    );
    let (ec2, secrets) = clients(&[&listing, &values], &[&described, &entries]);

    let run = handler(
        &ec2,
        &secrets,
        &config(),
        request("IPv4", json!({"mode": "all"})),
    )
    .await
    .unwrap();

    assert_eq!(run.unreadable, ["bank1 (DecryptionFailure)"]);
    assert_eq!(
        steps(&run),
        [json!({"add": [{"cidr": "192.0.2.10/32", "description": "SFTPSuperAdmin"}]})],
        "what is known is added; nothing is removed"
    );
    assert!(matches!(
        run.plan.removals_withheld,
        Some(Withheld::PartialRead { .. })
    ));
}

#[tokio::test]
async fn a_batch_read_that_keeps_failing_is_partial_information_not_a_lost_entry() {
    let failing = mock!(aws_sdk_secretsmanager::Client::batch_get_secret_value).then_error(|| {
        BatchGetSecretValueError::generic(
            ErrorMetadata::builder()
                .code("InternalServiceError")
                .message("try later")
                .build(),
        )
    });
    let (listing, described, entries) = (
        secrets_listing(),
        lists(PrefixListState::ModifyComplete),
        v4_entries(),
    );
    let (ec2, secrets) = clients(&[&listing, &failing], &[&described, &entries]);

    let run = handler(
        &ec2,
        &secrets,
        &config(),
        request("IPv4", json!({"mode": "all"})),
    )
    .await
    .unwrap();

    assert_eq!(run.unreadable.len(), 3);
    assert!(
        run.plan.lists[0].pending.is_empty(),
        "{:?}",
        run.plan.lists[0].pending
    );
    assert!(run.super_admins.is_empty());
}

#[tokio::test]
async fn a_change_to_a_secret_that_is_not_a_user_is_ignored_without_a_call() {
    let (listing, values, described) = (
        secrets_listing(),
        secret_values(&[]),
        lists(PrefixListState::ModifyComplete),
    );
    let (ec2, secrets) = clients(&[&listing, &values], &[&described]);
    let event: Value = serde_json::from_str(include_str!(
        "../../../test-events/cloudtrail-unrelated-secret.json"
    ))
    .unwrap();

    let err = handler(&ec2, &secrets, &config(), request("IPv4", event))
        .await
        .unwrap_err();

    assert_eq!(Diagnostic::from(err).error_type, "NotAnSftpUser");
    assert_eq!(listing.num_calls() + described.num_calls(), 0);
}

#[tokio::test]
async fn a_secret_change_event_plans_for_every_user() {
    let (listing, values, described, entries) = (
        secrets_listing(),
        secret_values(&[]),
        lists(PrefixListState::ModifyComplete),
        v4_entries(),
    );
    let empty_v6 = mock!(aws_sdk_ec2::Client::get_managed_prefix_list_entries)
        .match_requests(|r| r.prefix_list_id() == Some("pl-v6"))
        .then_output(|| GetManagedPrefixListEntriesOutput::builder().build());
    let (ec2, secrets) = clients(&[&listing, &values], &[&described, &entries, &empty_v6]);
    let event: Value = serde_json::from_str(include_str!(
        "../../../test-events/cloudtrail-put-secret-value.json"
    ))
    .unwrap();

    let run = handler(&ec2, &secrets, &config(), request("IPv6", event))
        .await
        .unwrap();

    assert_eq!(run.trigger, Some(trigger::Trigger::SecretChange));
    assert_eq!(
        run.event.as_deref(),
        Some("PutSecretValue of SFTP/nab-feeds")
    );
    assert_eq!(run.plan.lists[0].id, "pl-v6");
    assert_eq!(
        steps(&run),
        [json!({"add": [{"cidr": "2001:db8:10::/48", "description": "SFTPSuperAdmin"}]})]
    );
    assert_eq!(
        (entries.num_calls(), empty_v6.num_calls()),
        (0, 1),
        "only the IPv6 list is read"
    );
}

#[tokio::test]
async fn a_managed_list_still_changing_makes_the_plan_wait() {
    let (listing, values, described) = (
        secrets_listing(),
        secret_values(&[]),
        lists(PrefixListState::ModifyInProgress),
    );
    let (ec2, secrets) = clients(&[&listing, &values], &[&described]);

    let err = handler(
        &ec2,
        &secrets,
        &config(),
        request("IPv4", json!({"mode": "all"})),
    )
    .await
    .unwrap_err();

    assert_eq!(Diagnostic::from(err).error_type, "PrefixListBusy");
}

#[tokio::test]
async fn the_removal_cap_refuses_a_run_unless_an_operator_lifts_it() {
    let (listing, values, described, entries) = (
        secrets_listing(),
        secret_values(&[]),
        lists(PrefixListState::ModifyComplete),
        v4_entries(),
    );
    let (ec2, secrets) = clients(&[&listing, &values], &[&described, &entries]);
    let strict = Config {
        settings: PlanSettings {
            max_removal_share: 0.0,
            ..config().settings
        },
        ..config()
    };

    let refused = handler(
        &ec2,
        &secrets,
        &strict,
        request("IPv4", json!({"mode": "all"})),
    )
    .await
    .unwrap();
    let lifted = handler(
        &ec2,
        &secrets,
        &strict,
        request("IPv4", json!({"mode": "all", "maxRemovalShare": 1})),
    )
    .await
    .unwrap();

    assert!(matches!(
        refused.plan.removals_withheld,
        Some(Withheld::TooManyRemovals { .. })
    ));
    assert_eq!(refused.plan.writes(), 0);
    assert_eq!(lifted.plan.removals_withheld, None);
    assert_eq!(lifted.plan.writes(), 2);
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

#[tokio::test]
async fn a_store_wide_outage_names_a_few_users_and_counts_the_rest() {
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
    let failing = mock!(aws_sdk_secretsmanager::Client::batch_get_secret_value).then_error(|| {
        BatchGetSecretValueError::generic(
            ErrorMetadata::builder()
                .code("InternalServiceError")
                .build(),
        )
    });
    let (described, entries) = (lists(PrefixListState::ModifyComplete), v4_entries());
    let (ec2, secrets) = clients(&[&listing, &failing], &[&described, &entries]);

    let run = handler(
        &ec2,
        &secrets,
        &config(),
        request("IPv4", json!({"mode": "all"})),
    )
    .await
    .unwrap();

    assert_eq!(run.users_unreadable, 70);
    assert_eq!(run.unreadable.len(), MAX_UNREADABLE_NAMED + 1);
    assert_eq!(
        run.unreadable.last().map(String::as_str),
        Some("and 20 more")
    );
    assert_eq!(run.secret_reads, 4, "one failed call per batch of 20");
    assert!(
        run.plan.lists[0].pending.is_empty(),
        "nothing removed, nothing known to add"
    );
}

#[test]
fn every_error_it_reports_is_listed_for_it_in_the_registry() {
    use warden_core::Named;
    let listed = warden_core::registry::function("plan-prefix-lists").unwrap();
    let errors = [
        PlanError::Request(RequestError::NotAnSftpUser("SFTP-x".into())),
        PlanError::Request(RequestError::Unsupported("x".into())),
        PlanError::BadShare("2".into()),
        PlanError::Busy("pl-a".into()),
        PlanError::TooLarge(300_000),
        PlanError::Secrets(SecretsError::BatchTooLarge(21)),
        PlanError::Ec2(Ec2Error::NotFound {
            list: "pl-a".into(),
        }),
    ];
    for err in &errors {
        assert!(listed.reports(err.name()), "{}", err.name());
    }
    for name in warden_core::registry::SECRETS_ERRORS {
        assert!(listed.reports(*name), "{name}");
    }
    for name in warden_core::registry::EC2_READ_ERRORS {
        assert!(listed.reports(*name), "{name}");
    }
}
