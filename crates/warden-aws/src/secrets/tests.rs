use super::*;
use aws_sdk_secretsmanager::operation::batch_get_secret_value::{
    BatchGetSecretValueError, BatchGetSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::list_secrets::{ListSecretsError, ListSecretsOutput};
use aws_sdk_secretsmanager::types::error::InvalidRequestException;
use aws_sdk_secretsmanager::types::{ApiErrorType, SecretListEntry, SecretValueEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use std::time::Duration;

fn listed(name: &str) -> SecretListEntry {
    SecretListEntry::builder().name(name).build()
}

fn value(name: &str, text: &str) -> SecretValueEntry {
    SecretValueEntry::builder()
        .name(name)
        .arn(format!(
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:{name}-AbCdEf"
        ))
        .secret_string(text)
        .build()
}

fn api_error(id: &str, code: &str) -> ApiErrorType {
    ApiErrorType::builder()
        .secret_id(id)
        .error_code(code)
        .message("details")
        .build()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i:02}")).collect()
}

#[tokio::test]
async fn listing_follows_every_page_and_keeps_only_the_prefix() {
    let first = mock!(Client::list_secrets)
        .match_requests(|r| r.next_token().is_none())
        .then_output(|| {
            ListSecretsOutput::builder()
                .secret_list(listed("SFTP/bank1"))
                .secret_list(listed("SFTP/PaymentsAdmin"))
                .secret_list(listed("prod/SFTP/not-a-user"))
                .next_token("page-2")
                .build()
        });
    let second = mock!(Client::list_secrets)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            ListSecretsOutput::builder()
                .secret_list(listed("SFTP/anz"))
                .build()
        });
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&first, &second]
    );

    let users = UserSecrets::new(client, "SFTP/")
        .list_usernames()
        .await
        .unwrap();

    assert_eq!(users, ["PaymentsAdmin", "anz", "bank1"]);
    assert_eq!(first.num_calls() + second.num_calls(), 2);
}

#[tokio::test]
async fn listing_that_is_denied_is_a_named_error_not_a_partial_list() {
    let denied = mock!(Client::list_secrets).then_error(|| {
        ListSecretsError::generic(
            ErrorMetadata::builder()
                .code("AccessDeniedException")
                .message("not allowed")
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_secretsmanager, [&denied]);

    let err = UserSecrets::new(client, "SFTP/")
        .list_usernames()
        .await
        .unwrap_err();

    assert!(
        matches!(
            err,
            SecretsError::AccessDenied {
                operation: "ListSecrets",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_batch_read_sorts_values_missing_secrets_and_per_secret_errors() {
    let rule = mock!(Client::batch_get_secret_value).then_output(|| {
        BatchGetSecretValueOutput::builder()
            .secret_values(value("SFTP/bank1", r#"{"Name":"Bank 1"}"#))
            .errors(api_error("SFTP/gone", "ResourceNotFoundException"))
            .errors(api_error("SFTP/locked", "DecryptionFailure"))
            .build()
    });
    let client = mock_client!(aws_sdk_secretsmanager, [&rule]);
    let asked = vec!["bank1".to_owned(), "gone".to_owned(), "locked".to_owned()];

    let read = UserSecrets::new(client, "SFTP/")
        .read_batch(&asked)
        .await
        .unwrap();

    assert_eq!(read.secrets.len(), 1);
    assert_eq!(read.secrets[0].username, "bank1");
    assert_eq!(read.secrets[0].secret.expose(), r#"{"Name":"Bank 1"}"#);
    assert_eq!(read.missing, ["gone"]);
    assert_eq!(
        read.errors,
        [ReadError {
            username: "locked".into(),
            error: "DecryptionFailure".into()
        }]
    );
    assert_eq!(read.calls, 1);
}

#[tokio::test]
async fn a_batch_read_follows_next_token_and_asks_for_every_id_at_once() {
    let first = mock!(Client::batch_get_secret_value)
        .match_requests(|r| r.next_token().is_none() && r.secret_id_list().len() == 20)
        .then_output(|| {
            let mut out = BatchGetSecretValueOutput::builder().next_token("more");
            for i in 0..12 {
                out = out.secret_values(value(&format!("SFTP/user{i:02}"), "{}"));
            }
            out.build()
        });
    let second = mock!(Client::batch_get_secret_value)
        .match_requests(|r| r.next_token() == Some("more"))
        .then_output(|| {
            let mut out = BatchGetSecretValueOutput::builder();
            for i in 12..20 {
                out = out.secret_values(value(&format!("SFTP/user{i:02}"), "{}"));
            }
            out.build()
        });
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&first, &second]
    );

    let read = UserSecrets::new(client, "SFTP/")
        .read_batch(&names(20))
        .await
        .unwrap();

    assert_eq!(read.secrets.len(), 20);
    assert!(read.missing.is_empty() && read.errors.is_empty());
    assert_eq!(read.calls, 2);
}

#[tokio::test]
async fn a_batch_of_more_than_twenty_is_refused_before_any_call() {
    let rule = mock!(Client::batch_get_secret_value)
        .then_output(|| BatchGetSecretValueOutput::builder().build());
    let client = mock_client!(aws_sdk_secretsmanager, [&rule]);

    let err = UserSecrets::new(client, "SFTP/")
        .read_batch(&names(21))
        .await
        .unwrap_err();

    assert!(matches!(err, SecretsError::BatchTooLarge(21)));
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn a_secret_neither_returned_nor_reported_counts_as_missing() {
    let rule = mock!(Client::batch_get_secret_value).then_output(|| {
        BatchGetSecretValueOutput::builder()
            .secret_values(value("SFTP/a", "{}"))
            .build()
    });
    let client = mock_client!(aws_sdk_secretsmanager, [&rule]);

    let read = UserSecrets::new(client, "SFTP/")
        .read_batch(&["a".into(), "b".into()])
        .await
        .unwrap();

    assert_eq!(read.missing, ["b"]);
}

#[tokio::test]
async fn a_rejected_batch_request_is_a_service_error_whose_text_holds_no_secret() {
    let rule = mock!(Client::batch_get_secret_value).then_error(|| {
        BatchGetSecretValueError::InvalidRequestException(
            InvalidRequestException::builder()
                .message("bad request")
                .meta(
                    ErrorMetadata::builder()
                        .code("InvalidRequestException")
                        .build(),
                )
                .build(),
        )
    });
    let client = mock_client!(aws_sdk_secretsmanager, [&rule]);

    let err = UserSecrets::new(client, "SFTP/")
        .read_batch(&["a".into()])
        .await
        .unwrap_err();

    assert!(matches!(
        err,
        SecretsError::Service {
            operation: "BatchGetSecretValue",
            ..
        }
    ));
    assert!(err.to_string().contains("InvalidRequestException"), "{err}");
}

fn throttled() -> BatchGetSecretValueError {
    BatchGetSecretValueError::generic(
        ErrorMetadata::builder()
            .code("ThrottlingException")
            .message("Rate exceeded")
            .build(),
    )
}

fn echo(
    r: &aws_sdk_secretsmanager::operation::batch_get_secret_value::BatchGetSecretValueInput,
) -> BatchGetSecretValueOutput {
    let mut out = BatchGetSecretValueOutput::builder();
    for id in r.secret_id_list() {
        out = out.secret_values(value(id, "{}"));
    }
    out.build()
}

/// Backoff that keeps the tests fast: the same shape, microseconds instead of seconds.
fn quick() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_micros(10))
        .with_max_times(3)
}

/// A listing of one page holding `names`.
fn one_page(names: Vec<String>) -> aws_smithy_mocks::Rule {
    mock!(Client::list_secrets).then_output(move || {
        let mut out = ListSecretsOutput::builder();
        for name in &names {
            out = out.secret_list(listed(&format!("SFTP/{name}")));
        }
        out.build()
    })
}

#[tokio::test]
async fn a_throttled_read_is_retried_with_backoff_until_it_goes_through() {
    let listing = one_page(names(3));
    let rule = mock!(Client::batch_get_secret_value)
        .sequence()
        .error(throttled)
        .times(2)
        .output(|| {
            BatchGetSecretValueOutput::builder()
                .secret_values(value("SFTP/user00", "{}"))
                .secret_values(value("SFTP/user01", "{}"))
                .secret_values(value("SFTP/user02", "{}"))
                .build()
        })
        .build();
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&listing, &rule],
        |c| { c.retry_config(aws_smithy_types::retry::RetryConfig::disabled()) }
    );

    let mut read = 0;
    UserSecrets::new(client, "SFTP/")
        .read_every_user(1, quick(), |_, batch| read += batch.unwrap().secrets.len())
        .await
        .unwrap();

    assert_eq!(rule.num_calls(), 3);
    assert_eq!(read, 3);
}

#[tokio::test]
async fn a_read_throttled_past_its_retries_is_that_batchs_named_error_only() {
    let listing = one_page(names(2));
    let rule = mock!(Client::batch_get_secret_value)
        .sequence()
        .error(throttled)
        .times(4)
        .build();
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&listing, &rule],
        |c| { c.retry_config(aws_smithy_types::retry::RetryConfig::disabled()) }
    );

    let mut failed = Vec::new();
    UserSecrets::new(client, "SFTP/")
        .read_every_user(1, quick(), |users, read| {
            failed.push((users, read.unwrap_err().name()))
        })
        .await
        .unwrap();

    assert_eq!(rule.num_calls(), 4, "one call and three retries");
    assert_eq!(failed, [(names(2), ErrorName::SecretsThrottled)]);
}

/// A listing of `pages` pages of 100 users (`user0000`…), the last page ending the listing; with
/// `fail_on`, asking for that page (0-based) is refused instead.
fn pages_of_users(pages: usize, fail_on: Option<usize>) -> Vec<aws_smithy_mocks::Rule> {
    (0..pages)
        .map(|page| {
            let rule = mock!(Client::list_secrets).match_requests(move |r| {
                r.next_token().map(str::to_owned) == (page > 0).then(|| format!("page-{page}"))
            });
            if fail_on == Some(page) {
                return rule.then_error(|| {
                    ListSecretsError::generic(
                        ErrorMetadata::builder()
                            .code("InternalServiceError")
                            .message("try later")
                            .build(),
                    )
                });
            }
            rule.then_output(move || {
                let mut out = ListSecretsOutput::builder();
                for i in page * 100..(page + 1) * 100 {
                    out = out.secret_list(listed(&format!("SFTP/user{i:04}")));
                }
                if page + 1 < pages {
                    out = out.next_token(format!("page-{}", page + 1));
                }
                out.build()
            })
        })
        .collect()
}

#[tokio::test]
async fn reading_every_user_reads_each_listed_user_once_twenty_a_call_in_listing_order() {
    let listing = pages_of_users(3, None);
    let reads = mock!(Client::batch_get_secret_value).then_compute_output(echo);
    let mut rules: Vec<&aws_smithy_mocks::Rule> = listing.iter().collect();
    rules.push(&reads);
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, rules);

    let mut delivered = Vec::new();
    let listed = UserSecrets::new(client, "SFTP/")
        .read_every_user(4, quick(), |batch, read| {
            assert!(batch.len() <= BATCH_READ_LIMIT);
            let read = read.unwrap();
            let names: Vec<String> = read.secrets.into_iter().map(|s| s.username).collect();
            assert_eq!(names, batch, "each batch's secrets are its users'");
            delivered.extend(names);
        })
        .await
        .unwrap();

    assert_eq!(listed, 300);
    let expected: Vec<String> = (0..300).map(|i| format!("user{i:04}")).collect();
    assert_eq!(delivered, expected);
    assert_eq!(listing.iter().map(|r| r.num_calls()).sum::<usize>(), 3);
    assert_eq!(reads.num_calls(), 15, "300 users, 20 a call");
}

#[tokio::test]
async fn a_user_listed_twice_is_read_once() {
    let first = mock!(Client::list_secrets)
        .match_requests(|r| r.next_token().is_none())
        .then_output(|| {
            ListSecretsOutput::builder()
                .secret_list(listed("SFTP/anz"))
                .secret_list(listed("SFTP/bank1"))
                .next_token("page-2")
                .build()
        });
    let second = mock!(Client::list_secrets)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| {
            ListSecretsOutput::builder()
                .secret_list(listed("SFTP/bank1"))
                .secret_list(listed("other/secret"))
                .build()
        });
    let reads = mock!(Client::batch_get_secret_value).then_compute_output(echo);
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&first, &second, &reads]
    );

    let mut delivered = Vec::new();
    let listed = UserSecrets::new(client, "SFTP/")
        .read_every_user(4, quick(), |batch, _| delivered.extend(batch))
        .await
        .unwrap();

    assert_eq!(listed, 2);
    assert_eq!(delivered, ["anz", "bank1"]);
}

#[tokio::test]
async fn a_listing_that_fails_part_way_still_hands_over_what_it_listed_then_its_error() {
    let listing = pages_of_users(3, Some(1));
    let reads = mock!(Client::batch_get_secret_value).then_compute_output(echo);
    let mut rules: Vec<&aws_smithy_mocks::Rule> = listing.iter().collect();
    rules.push(&reads);
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, rules, |c| {
        c.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
    });

    let mut delivered = 0;
    let err = UserSecrets::new(client, "SFTP/")
        .read_every_user(4, quick(), |batch, read| {
            assert!(read.is_ok());
            delivered += batch.len();
        })
        .await
        .unwrap_err();

    assert_eq!(delivered, 100, "the first page's users were read");
    assert_eq!(err.name(), ErrorName::SecretsUnavailable, "{err}");
    assert_eq!(
        listing[2].num_calls(),
        0,
        "nothing is listed past the failure"
    );
}

#[test]
fn secret_text_debug_never_shows_the_value() {
    let text = SecretText::new(r#"{"Password":"hunter2"}"#);
    let shown = format!("{text:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

mod read_one {
    use super::*;
    use aws_sdk_secretsmanager::operation::get_secret_value::{
        GetSecretValueError, GetSecretValueOutput,
    };

    fn failing(code: &'static str) -> aws_smithy_mocks::Rule {
        mock!(Client::get_secret_value).then_error(move || {
            GetSecretValueError::generic(ErrorMetadata::builder().code(code).message("m").build())
        })
    }

    #[tokio::test]
    async fn one_secret_is_read_by_its_name_under_the_prefix() {
        let rule = mock!(Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some("SFTP/bank@example.com"))
            .then_output(|| {
                GetSecretValueOutput::builder()
                    .name("SFTP/bank@example.com")
                    .secret_string(r#"{"Name":"Bank"}"#)
                    .build()
            });
        let client = mock_client!(aws_sdk_secretsmanager, [&rule]);

        let text = UserSecrets::new(client, "SFTP/")
            .read_one("bank@example.com")
            .await
            .unwrap();

        assert_eq!(
            text.as_ref().map(SecretText::expose),
            Some(r#"{"Name":"Bank"}"#)
        );
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_secret_that_does_not_exist_is_none_not_an_error() {
        let rule = failing("ResourceNotFoundException");
        let client = mock_client!(aws_sdk_secretsmanager, [&rule]);

        let read = UserSecrets::new(client, "SFTP/").read_one("gone").await;

        assert!(matches!(read, Ok(None)), "{read:?}");
    }

    #[tokio::test]
    async fn a_binary_secret_reads_as_empty_text() {
        let rule = mock!(Client::get_secret_value)
            .then_output(|| GetSecretValueOutput::builder().name("SFTP/bin").build());
        let client = mock_client!(aws_sdk_secretsmanager, [&rule]);

        let read = UserSecrets::new(client, "SFTP/")
            .read_one("bin")
            .await
            .unwrap();

        assert_eq!(read, Some(SecretText::new("")));
    }

    #[tokio::test]
    async fn denied_and_failed_reads_are_named_errors() {
        for (code, name) in [
            ("AccessDeniedException", "SecretsAccessDenied"),
            ("DecryptionFailure", "SecretsUnavailable"),
            ("InternalServiceError", "SecretsUnavailable"),
        ] {
            let rule = failing(code);
            let client = mock_client!(aws_sdk_secretsmanager, [&rule]);

            let err = UserSecrets::new(client, "SFTP/")
                .read_one("bank1")
                .await
                .unwrap_err();

            assert_eq!(err.name().as_str(), name, "{code}");
            assert!(warden_core::registry::SECRETS_ERRORS.contains(&err.name()));
            assert!(err.to_string().contains("GetSecretValue"), "{err}");
        }
    }
}
