use super::*;
use aws_sdk_sesv2::operation::get_suppressed_destination::{
    GetSuppressedDestinationError, GetSuppressedDestinationOutput,
};
use aws_sdk_sesv2::operation::list_suppressed_destinations::{
    ListSuppressedDestinationsError, ListSuppressedDestinationsOutput,
};
use aws_sdk_sesv2::types::error::{NotFoundException, TooManyRequestsException};
use aws_sdk_sesv2::types::{SuppressedDestination, SuppressedDestinationSummary};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::DateTime;
use aws_smithy_types::error::ErrorMetadata;

/// 2026-11-02T08:00:00Z
const NOV_2: i64 = 1_793_577_600 + 8 * 3600;

fn summary(address: &str, reason: SuppressionListReason) -> SuppressedDestinationSummary {
    SuppressedDestinationSummary::builder()
        .email_address(address)
        .reason(reason)
        .last_update_time(DateTime::from_secs(NOV_2))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_whole_list_is_read_a_page_at_a_time() {
    let first = mock!(Client::list_suppressed_destinations)
        .match_requests(|r| r.next_token().is_none() && r.page_size() == Some(PAGE_SIZE))
        .then_output(|| {
            ListSuppressedDestinationsOutput::builder()
                .suppressed_destination_summaries(summary(
                    "gone@partner.example",
                    SuppressionListReason::Bounce,
                ))
                .next_token("page-2")
                .build()
        });
    let second = mock!(Client::list_suppressed_destinations)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            ListSuppressedDestinationsOutput::builder()
                .suppressed_destination_summaries(summary(
                    "Angry@Partner.example",
                    SuppressionListReason::Complaint,
                ))
                .build()
        });
    let client = mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&first, &second]);

    let (list, calls) = Suppressions::new(client).read_all().await.unwrap();

    assert_eq!(calls, 2);
    assert_eq!(list.len(), 2);
    let angry = list.get("angry@partner.example").unwrap();
    assert_eq!(angry.reason, SuppressionReason::Complaint);
    assert_eq!(angry.since.to_string(), "2026-11-02");
}

#[tokio::test]
async fn a_list_that_cannot_be_read_is_an_error_not_an_empty_list() {
    let throttled = mock!(Client::list_suppressed_destinations).then_error(|| {
        ListSuppressedDestinationsError::TooManyRequestsException(
            TooManyRequestsException::builder()
                .message("Rate exceeded")
                .meta(
                    ErrorMetadata::builder()
                        .code("TooManyRequestsException")
                        .build(),
                )
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&throttled], |c| c
        .retry_config(aws_smithy_types::retry::RetryConfig::disabled()));

    let err = Suppressions::new(client).read_all().await.unwrap_err();

    assert_eq!(err.name(), ErrorName::SuppressionListUnavailable);
    assert!(
        err.to_string().contains("TooManyRequestsException"),
        "{err}"
    );
}

#[tokio::test]
async fn an_address_not_on_the_list_is_none_and_one_on_it_has_its_reason_and_date() {
    let absent = mock!(Client::get_suppressed_destination)
        .match_requests(|r| r.email_address() == Some("fine@partner.example"))
        .then_error(|| {
            GetSuppressedDestinationError::NotFoundException(
                NotFoundException::builder()
                    .message("not on the list")
                    .meta(ErrorMetadata::builder().code("NotFoundException").build())
                    .build(),
            )
        });
    let present = mock!(Client::get_suppressed_destination)
        .match_requests(|r| r.email_address() == Some("gone@partner.example"))
        .then_output(|| {
            GetSuppressedDestinationOutput::builder()
                .suppressed_destination(
                    SuppressedDestination::builder()
                        .email_address("gone@partner.example")
                        .reason(SuppressionListReason::Bounce)
                        .last_update_time(DateTime::from_secs(NOV_2))
                        .build()
                        .unwrap(),
                )
                .build()
        });
    let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&absent, &present]);
    let suppressions = Suppressions::new(client);

    assert_eq!(
        suppressions.get("fine@partner.example").await.unwrap(),
        None
    );
    let entry = suppressions
        .get("gone@partner.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.reason, SuppressionReason::Bounce);
    assert_eq!(entry.since.to_string(), "2026-11-02");
}
