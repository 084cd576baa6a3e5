use super::*;
use aws_sdk_ec2::operation::describe_managed_prefix_lists::DescribeManagedPrefixListsOutput;
use aws_sdk_ec2::operation::get_managed_prefix_list_entries::GetManagedPrefixListEntriesOutput;
use aws_sdk_ec2::operation::modify_managed_prefix_list::{
    ModifyManagedPrefixListError, ModifyManagedPrefixListOutput,
};
use aws_sdk_ec2::types::{PrefixListEntry, PrefixListState};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use std::time::Duration;

fn managed(id: &str, family: &str, version: i64) -> ManagedPrefixList {
    ManagedPrefixList::builder()
        .prefix_list_id(id)
        .prefix_list_name(format!("sftp-{id}-AUTOMATED_PREFIX"))
        .address_family(family)
        .owner_id("123456789012")
        .max_entries(10)
        .version(version)
        .state(PrefixListState::ModifyComplete)
        .build()
}

fn entry(cidr: &str) -> PrefixListEntry {
    PrefixListEntry::builder()
        .cidr(cidr)
        .description("bank1")
        .build()
}

fn ec2_error(code: &str) -> ModifyManagedPrefixListError {
    ModifyManagedPrefixListError::generic(
        ErrorMetadata::builder()
            .code(code)
            .message("details from EC2")
            .build(),
    )
}

fn client(rules: &[&Rule]) -> PrefixLists {
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1));
    PrefixLists::new(mock_client!(aws_sdk_ec2, RuleMode::MatchAny, rules, |c| c
        .retry_config(retry.clone())))
}

fn new(cidr: &str) -> NewEntry {
    NewEntry {
        cidr: cidr.parse().unwrap(),
        description: "bank1".into(),
    }
}

#[tokio::test]
async fn describing_follows_every_page_and_skips_lists_of_unknown_family() {
    let first = mock!(Client::describe_managed_prefix_lists)
        .match_requests(|r| r.next_token().is_none() && r.max_results() == Some(100))
        .then_output(|| {
            DescribeManagedPrefixListsOutput::builder()
                .prefix_lists(managed("pl-a", "IPv4", 3))
                .prefix_lists(managed("pl-x", "IPv5", 1))
                .next_token("page-2")
                .build()
        });
    let second = mock!(Client::describe_managed_prefix_lists)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            DescribeManagedPrefixListsOutput::builder()
                .prefix_lists(managed("pl-b", "IPv6", 7))
                .build()
        });
    let lists = client(&[&first, &second]);

    let found = lists.describe(&[]).await.unwrap();

    let ids: Vec<(&str, AddressFamily, Option<i64>)> = found
        .iter()
        .map(|l| (l.id.as_str(), l.family, l.version))
        .collect();
    assert_eq!(
        ids,
        [
            ("pl-a", AddressFamily::V4, Some(3)),
            ("pl-b", AddressFamily::V6, Some(7))
        ]
    );
    assert_eq!(found[0].state, "modify-complete");
    assert_eq!(
        lists.calls(),
        Calls {
            reads: 2,
            writes: 0
        }
    );
}

#[tokio::test]
async fn entries_are_read_at_the_described_version_page_by_page() {
    let first = mock!(Client::get_managed_prefix_list_entries)
        .match_requests(|r| {
            r.prefix_list_id() == Some("pl-a")
                && r.target_version() == Some(3)
                && r.next_token().is_none()
        })
        .then_output(|| {
            GetManagedPrefixListEntriesOutput::builder()
                .entries(entry("1.1.1.1/32"))
                .next_token("more")
                .build()
        });
    let second = mock!(Client::get_managed_prefix_list_entries)
        .match_requests(|r| r.next_token() == Some("more"))
        .then_output(|| {
            GetManagedPrefixListEntriesOutput::builder()
                .entries(entry("2001:db8::/48"))
                .build()
        });
    let lists = client(&[&first, &second]);

    let entries = lists.entries("pl-a", Some(3)).await.unwrap();

    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].cidr.to_string(), "2001:db8::/48");
    assert_eq!(entries[0].description.as_deref(), Some("bank1"));
    assert_eq!(lists.calls().reads, 2);
}

#[tokio::test]
async fn a_write_passes_the_name_and_version_and_knows_the_next_version() {
    // EC2 answers with the list as the change starts (old version, modify-in-progress).
    let rule = mock!(Client::modify_managed_prefix_list)
        .match_requests(|r| {
            r.prefix_list_name() == Some("sftp-pl-a-AUTOMATED_PREFIX")
                && r.current_version() == Some(3)
                && r.add_entries().len() == 2
                && r.remove_entries().is_empty()
                && r.add_entries()[0].description() == Some("bank1")
        })
        .then_output(|| {
            ModifyManagedPrefixListOutput::builder()
                .prefix_list(managed("pl-a", "IPv4", 3))
                .build()
        });
    let lists = client(&[&rule]);

    let version = lists
        .modify(
            "pl-a",
            "sftp-pl-a-AUTOMATED_PREFIX",
            3,
            Change::Add(&[new("1.1.1.1/32"), new("2.2.2.2/32")]),
        )
        .await
        .unwrap();

    assert_eq!(version, 4);
    assert_eq!(rule.num_calls(), 1);
    assert_eq!(
        lists.calls(),
        Calls {
            reads: 0,
            writes: 1
        }
    );
}

#[tokio::test]
async fn a_removal_sends_only_remove_entries() {
    let rule = mock!(Client::modify_managed_prefix_list)
        .match_requests(|r| r.add_entries().is_empty() && r.remove_entries().len() == 1)
        .then_output(|| {
            ModifyManagedPrefixListOutput::builder()
                .prefix_list(managed("pl-a", "IPv4", 9))
                .build()
        });
    let lists = client(&[&rule]);

    let version = lists
        .modify(
            "pl-a",
            "n",
            8,
            Change::Remove(&["1.1.1.1/32".parse().unwrap()]),
        )
        .await
        .unwrap();

    assert_eq!(version, 9, "a newer version in the answer is taken as is");
}

#[tokio::test]
async fn ec2_error_codes_become_the_named_errors_the_state_machine_handles() {
    let cases = [
        ("PrefixListVersionMismatch", "PrefixListVersionMismatch"),
        ("IncorrectState", "PrefixListBusy"),
        ("PrefixListMaxEntriesExceeded", "PrefixListFull"),
        (
            "InvalidPrefixListModification",
            "InvalidPrefixListModification",
        ),
        ("InvalidPrefixListID.NotFound", "PrefixListNotFound"),
        ("UnauthorizedOperation", "Ec2AccessDenied"),
        ("InternalError", "Ec2Unavailable"),
    ];
    for (code, name) in cases {
        let rule = mock!(Client::modify_managed_prefix_list).then_error(move || ec2_error(code));
        let lists = client(&[&rule]);

        let err = lists
            .modify("pl-a", "n", 1, Change::Add(&[new("1.1.1.1/32")]))
            .await
            .unwrap_err();

        assert_eq!(err.name().as_str(), name, "{code}: {err}");
        assert!(warden_core::registry::EC2_ERRORS.contains(&err.name()));
    }
}

#[tokio::test]
async fn request_limit_exceeded_is_retried_by_the_sdk_then_named() {
    let throttled_once = mock!(Client::modify_managed_prefix_list)
        .sequence()
        .error(|| ec2_error("RequestLimitExceeded"))
        .output(|| ModifyManagedPrefixListOutput::builder().build())
        .build();
    let lists = client(&[&throttled_once]);
    assert_eq!(
        lists
            .modify("pl-a", "n", 1, Change::Add(&[new("1.1.1.1/32")]))
            .await
            .unwrap(),
        2
    );
    assert_eq!(throttled_once.num_calls(), 2);

    let always =
        mock!(Client::modify_managed_prefix_list).then_error(|| ec2_error("RequestLimitExceeded"));
    let lists = client(&[&always]);
    let err = lists
        .modify("pl-a", "n", 1, Change::Add(&[new("1.1.1.1/32")]))
        .await
        .unwrap_err();
    assert_eq!(err.name().as_str(), "Ec2Throttled");
    assert_eq!(always.num_calls(), 3, "the SDK's three attempts");
}

#[tokio::test]
async fn reading_a_list_that_is_gone_is_not_found() {
    let rule = mock!(Client::describe_managed_prefix_lists)
        .then_output(|| DescribeManagedPrefixListsOutput::builder().build());
    let lists = client(&[&rule]);

    let err = lists.read("pl-gone").await.unwrap_err();

    assert_eq!(err.name().as_str(), "PrefixListNotFound");
}
