use super::*;
use aws_sdk_ec2::operation::describe_managed_prefix_lists::DescribeManagedPrefixListsOutput;
use aws_sdk_ec2::operation::get_managed_prefix_list_entries::GetManagedPrefixListEntriesOutput;
use aws_sdk_ec2::types::{ManagedPrefixList, PrefixListEntry, PrefixListState};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::retry::RetryConfig;
use lambda_runtime::Context;
use serde_json::{Value, json};
use std::time::Duration;
use warden_aws::work::fake::FakeBucket;
use warden_core::Rules;
use warden_core::prefix_lists::ListWork;

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

/// The work bucket as "read every user's CIDRs" leaves it: every user of [`USERS`] but those
/// named in `unreadable`, and `users` as given.
fn read_users(unreadable: &[&str], users: UsersRead) -> FakeBucket {
    let bucket = FakeBucket::new();
    let mut desired = Desired::default();
    for (user, secret) in USERS {
        if !unreadable.contains(&user) {
            desired.add_secret(user, secret, &Rules::default());
        }
    }
    for family in AddressFamily::ALL {
        bucket.put(&files::desired(&run(), family), &desired.entries(family));
    }
    let users = UsersRead {
        unreadable: unreadable
            .iter()
            .map(|u| format!("{u} (DecryptionFailure)"))
            .collect(),
        ..users
    };
    bucket.put(&run().key(files::USERS), &users);
    bucket
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

fn settings() -> PlanSettings {
    PlanSettings {
        marker: "AUTOMATED_PREFIX".into(),
        max_removal_share: 0.5,
    }
}

fn ec2(rules: &[&Rule]) -> PrefixLists {
    let retry = RetryConfig::standard()
        .with_max_attempts(2)
        .with_initial_backoff(Duration::from_millis(1));
    PrefixLists::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules, |c| c
        .retry_config(retry.clone())))
}

fn request(family: &str) -> LambdaEvent<PlanRequest> {
    let payload = serde_json::from_value(json!({"family": family, "run": run()})).unwrap();
    LambdaEvent::new(payload, Context::default())
}

/// The steps the plan wrote for a list, in order, as JSON.
fn steps(bucket: &FakeBucket, family: AddressFamily, list: &ListWork) -> Vec<Value> {
    (0..list.steps())
        .map(|n| {
            bucket
                .get(&files::step(&run(), family, &list.id, n))
                .unwrap_or_else(|| panic!("step {n} of {} was not written", list.id))
        })
        .collect()
}

#[tokio::test]
async fn a_weekly_run_plans_the_managed_lists_from_every_users_cidrs() {
    let (described, entries) = (lists(PrefixListState::ModifyComplete), v4_entries());
    let bucket = read_users(&[], UsersRead::default());

    let run_state = handler(
        &ec2(&[&described, &entries]),
        &bucket.store(),
        &settings(),
        request("IPv4"),
    )
    .await
    .unwrap();

    let ids: Vec<&str> = run_state.lists.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["pl-v4"], "only the managed IPv4 list");
    let list = &run_state.lists[0];
    assert_eq!(
        steps(&bucket, AddressFamily::V4, list),
        [
            json!({"remove": ["198.51.100.1/32"]}),
            json!({"add": [
                {"cidr": "192.0.2.10/32", "description": "SFTPSuperAdmin"},
                {"cidr": "203.0.113.11/32", "description": "bank1"}
            ]}),
        ]
    );
    assert_eq!(list.version, 4, "the next write's CurrentVersion");
    assert_eq!((list.remove_steps, list.add_steps, list.done), (1, 1, 0));
    assert_eq!(list.next, warden_core::prefix_lists::NextStep::Remove);
    assert_eq!(run_state.desired, 3);
    // One DescribeManagedPrefixLists and one GetManagedPrefixListEntries (the managed list's).
    assert_eq!(run_state.reads, 2);
    assert_eq!((described.num_calls(), entries.num_calls()), (1, 1));
    let record: PlanRecord = bucket.get(&files::plan(&run(), AddressFamily::V4)).unwrap();
    assert_eq!(record.desired, 3);
    assert!(record.overflow.is_empty());
}

#[tokio::test]
async fn an_unreadable_secret_means_nothing_is_removed() {
    let (described, entries) = (lists(PrefixListState::ModifyComplete), v4_entries());
    let bucket = read_users(&["bank1"], UsersRead::default());

    let run_state = handler(
        &ec2(&[&described, &entries]),
        &bucket.store(),
        &settings(),
        request("IPv4"),
    )
    .await
    .unwrap();

    assert_eq!(
        steps(&bucket, AddressFamily::V4, &run_state.lists[0]),
        [json!({"add": [{"cidr": "192.0.2.10/32", "description": "SFTPSuperAdmin"}]})],
        "what is known is added; nothing is removed"
    );
    assert!(matches!(
        run_state.removals_withheld,
        Some(Withheld::PartialRead { .. })
    ));
}

#[tokio::test]
async fn no_secret_read_at_all_is_partial_information_not_a_lost_entry() {
    let (described, entries) = (lists(PrefixListState::ModifyComplete), v4_entries());
    let bucket = read_users(&["SFTPSuperAdmin", "bank1", "broken"], UsersRead::default());

    let run_state = handler(
        &ec2(&[&described, &entries]),
        &bucket.store(),
        &settings(),
        request("IPv4"),
    )
    .await
    .unwrap();

    assert_eq!(
        run_state.lists[0].steps(),
        0,
        "nothing removed, nothing known to add"
    );
    assert!(
        !bucket.keys().iter().any(|k| k.contains("/steps/")),
        "{:?}",
        bucket.keys()
    );
}

#[tokio::test]
async fn the_ipv6_plan_reads_only_the_ipv6_lists() {
    let (described, entries) = (lists(PrefixListState::ModifyComplete), v4_entries());
    let empty_v6 = mock!(aws_sdk_ec2::Client::get_managed_prefix_list_entries)
        .match_requests(|r| r.prefix_list_id() == Some("pl-v6"))
        .then_output(|| GetManagedPrefixListEntriesOutput::builder().build());
    let bucket = read_users(&[], UsersRead::default());

    let run_state = handler(
        &ec2(&[&described, &entries, &empty_v6]),
        &bucket.store(),
        &settings(),
        request("IPv6"),
    )
    .await
    .unwrap();

    assert_eq!(run_state.lists[0].id, "pl-v6");
    assert_eq!(
        steps(&bucket, AddressFamily::V6, &run_state.lists[0]),
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
    let described = lists(PrefixListState::ModifyInProgress);
    let bucket = read_users(&[], UsersRead::default());

    let err = handler(
        &ec2(&[&described]),
        &bucket.store(),
        &settings(),
        request("IPv4"),
    )
    .await
    .unwrap_err();

    assert_eq!(Diagnostic::from(err).error_type, "PrefixListBusy");
}

#[tokio::test]
async fn the_removal_cap_refuses_a_run_unless_an_operator_lifts_it() {
    let (described, entries) = (lists(PrefixListState::ModifyComplete), v4_entries());
    let strict = PlanSettings {
        max_removal_share: 0.0,
        ..settings()
    };
    let as_scheduled = read_users(&[], UsersRead::default());
    let lifted_by_operator = read_users(
        &[],
        UsersRead {
            max_removal_share: Some(1.0),
            ..UsersRead::default()
        },
    );

    let refused = handler(
        &ec2(&[&described, &entries]),
        &as_scheduled.store(),
        &strict,
        request("IPv4"),
    )
    .await
    .unwrap();
    let lifted = handler(
        &ec2(&[&described, &entries]),
        &lifted_by_operator.store(),
        &strict,
        request("IPv4"),
    )
    .await
    .unwrap();

    assert!(matches!(
        refused.removals_withheld,
        Some(Withheld::TooManyRemovals { .. })
    ));
    assert_eq!(refused.lists[0].steps(), 0);
    assert_eq!(lifted.removals_withheld, None);
    assert_eq!(lifted.lists[0].steps(), 2);
}

/// What the old design refused as `PlanTooLarge` (about 3,000 additions filled its 200 KiB):
/// 10,000 additions are 100 step files, and the state holds ten lists' counts.
#[tokio::test]
async fn a_plan_of_ten_thousand_additions_is_files_and_the_state_stays_small() {
    let described = mock!(aws_sdk_ec2::Client::describe_managed_prefix_lists).then_output(|| {
        let mut out = DescribeManagedPrefixListsOutput::builder();
        for i in 0..10 {
            out = out.prefix_lists(
                ManagedPrefixList::builder()
                    .prefix_list_id(format!("pl-{i:02}"))
                    .prefix_list_name(format!("sftp-{i}-AUTOMATED_PREFIX"))
                    .address_family("IPv4")
                    .owner_id("123456789012")
                    .max_entries(1000)
                    .version(1)
                    .state(PrefixListState::ModifyComplete)
                    .build(),
            );
        }
        out.build()
    });
    let empty = mock!(aws_sdk_ec2::Client::get_managed_prefix_list_entries)
        .then_output(|| GetManagedPrefixListEntriesOutput::builder().build());
    let bucket = FakeBucket::new();
    let mut desired = Desired::default();
    for i in 0..10_000u32 {
        let cidr = format!("10.{}.{}.{}/32", i >> 16, (i >> 8) & 255, i & 255);
        desired.add(&format!("partner{i:05}"), [cidr.parse().unwrap()]);
    }
    bucket.put(
        &files::desired(&run(), AddressFamily::V4),
        &desired.entries(AddressFamily::V4),
    );
    bucket.put(&run().key(files::USERS), &UsersRead::default());

    let run_state = handler(
        &ec2(&[&described, &empty]),
        &bucket.store(),
        &settings(),
        request("IPv4"),
    )
    .await
    .unwrap();

    let step_files = bucket
        .keys()
        .iter()
        .filter(|k| k.contains("/steps/"))
        .count();
    assert_eq!(step_files, 100);
    assert!(run_state.lists.iter().all(|l| l.add_steps == 10));
    assert_eq!(run_state.overflow, 0);
    let state = serde_json::to_vec(&run_state).unwrap().len();
    assert!(
        state < 4 * 1024,
        "{state} bytes in the state for 10,000 additions"
    );
}

#[tokio::test]
async fn missing_work_files_are_a_named_error() {
    let described = lists(PrefixListState::ModifyComplete);

    let err = handler(
        &ec2(&[&described]),
        &FakeBucket::new().store(),
        &settings(),
        request("IPv4"),
    )
    .await
    .unwrap_err();

    assert_eq!(Diagnostic::from(err).error_type, "WorkFileInvalid");
    assert_eq!(described.num_calls(), 0, "nothing read from EC2");
}

#[test]
fn every_error_it_reports_is_listed_for_it_in_the_registry() {
    use warden_core::Named;
    let listed = warden_core::registry::function("plan-prefix-lists").unwrap();
    let errors = [
        PlanError::Busy("pl-a".into()),
        PlanError::Work(WorkError::Missing { key: "x".into() }),
        PlanError::Ec2(Ec2Error::NotFound {
            list: "pl-a".into(),
        }),
    ];
    for err in &errors {
        assert!(listed.reports(err.name()), "{}", err.name());
    }
    for name in warden_core::registry::WORK_ERRORS
        .iter()
        .chain(warden_core::registry::EC2_READ_ERRORS)
    {
        assert!(listed.reports(*name), "{name}");
    }
}
