use super::*;
use aws_sdk_sesv2::operation::send_email::{SendEmailError, SendEmailOutput};
use aws_sdk_sesv2::types::error::{MessageRejected, TooManyRequestsException};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use std::time::Duration;

fn throttled() -> SendEmailError {
    SendEmailError::TooManyRequestsException(
        TooManyRequestsException::builder()
            .message("Maximum sending rate exceeded.")
            .meta(
                ErrorMetadata::builder()
                    .code("TooManyRequestsException")
                    .build(),
            )
            .build(),
    )
}

fn rejected() -> SendEmailError {
    SendEmailError::MessageRejected(
        MessageRejected::builder()
            .message("Email address is not verified.")
            .meta(ErrorMetadata::builder().code("MessageRejected").build())
            .build(),
    )
}

fn ok() -> SendEmailOutput {
    SendEmailOutput::builder().message_id("msg-1").build()
}

fn retrying(max_attempts: u32) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(max_attempts)
        .with_initial_backoff(Duration::from_millis(1))
}

fn to() -> Vec<String> {
    vec!["payments-sftp@example.com".to_owned()]
}

#[tokio::test]
async fn throttling_then_success_is_retried_and_delivered() {
    let rule = mock!(aws_sdk_sesv2::Client::send_email)
        .sequence()
        .error(throttled)
        .output(ok)
        .build();
    let client = mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&rule], |c| c
        .retry_config(retrying(3)));
    let to = to();
    let email = OutgoingEmail {
        to: &to,
        cc: &[],
        subject: "s",
        body: "b",
        html: None,
        tags: &[],
    };

    let id = Mailer::new(client, "sftp@example.com")
        .send(&email)
        .await
        .unwrap();

    assert_eq!(id, "msg-1");
    assert_eq!(rule.num_calls(), 2);
}

#[tokio::test]
async fn throttling_that_outlasts_the_sdk_retries_is_a_throttled_error() {
    let rule = mock!(aws_sdk_sesv2::Client::send_email)
        .sequence()
        .error(throttled)
        .times(2)
        .build();
    let client = mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&rule], |c| c
        .retry_config(retrying(2)));
    let to = to();
    let email = OutgoingEmail {
        to: &to,
        cc: &[],
        subject: "s",
        body: "b",
        html: None,
        tags: &[],
    };

    let err = Mailer::new(client, "sftp@example.com")
        .send(&email)
        .await
        .unwrap_err();

    assert!(matches!(err, EmailError::Throttled(_)), "{err}");
}

#[tokio::test]
async fn a_rejected_message_is_surfaced_as_rejected_and_not_retried() {
    let rule = mock!(aws_sdk_sesv2::Client::send_email).then_error(rejected);
    let client = mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [&rule], |c| c
        .retry_config(retrying(3)));
    let to = to();
    let email = OutgoingEmail {
        to: &to,
        cc: &[],
        subject: "s",
        body: "b",
        html: None,
        tags: &[],
    };

    let err = Mailer::new(client, "sftp@example.com")
        .send(&email)
        .await
        .unwrap_err();

    assert!(
        matches!(err, EmailError::Rejected(ref m) if m.contains("not verified")),
        "{err}"
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn the_request_carries_sender_recipients_subject_and_text_body() {
    let rule = mock!(aws_sdk_sesv2::Client::send_email)
        .match_requests(|r| {
            let dest = r.destination().expect("destination");
            let simple = r
                .content()
                .and_then(|c| c.simple())
                .expect("simple content");
            r.from_email_address() == Some("sftp@example.com")
                && dest.to_addresses() == ["a@example.com"]
                && dest.cc_addresses() == ["b@example.com"]
                && simple.subject().map(|s| s.data()) == Some("Subject")
                && simple.body().and_then(|b| b.text()).map(|t| t.data()) == Some("Body")
        })
        .then_output(ok);
    let client = mock_client!(aws_sdk_sesv2, [&rule]);
    let (to, cc) = (
        vec!["a@example.com".to_owned()],
        vec!["b@example.com".to_owned()],
    );
    let email = OutgoingEmail {
        to: &to,
        cc: &cc,
        subject: "Subject",
        body: "Body",
        html: None,
        tags: &[],
    };

    Mailer::new(client, "sftp@example.com")
        .send(&email)
        .await
        .unwrap();

    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_message_without_recipients_or_with_too_many_is_refused_before_any_call() {
    let rule = mock!(aws_sdk_sesv2::Client::send_email).then_output(ok);
    let client = mock_client!(aws_sdk_sesv2, [&rule]);
    let mailer = Mailer::new(client, "sftp@example.com");
    let many: Vec<String> = (0..51).map(|i| format!("u{i}@example.com")).collect();

    let none = mailer
        .send(&OutgoingEmail {
            to: &[],
            cc: &[],
            subject: "s",
            body: "b",
            html: None,
            tags: &[],
        })
        .await;
    let over = mailer
        .send(&OutgoingEmail {
            to: &many,
            cc: &[],
            subject: "s",
            body: "b",
            html: None,
            tags: &[],
        })
        .await;

    assert!(matches!(none, Err(EmailError::NoRecipients)));
    assert!(matches!(over, Err(EmailError::TooManyRecipients(51))));
    assert_eq!(rule.num_calls(), 0);
}

#[test]
fn every_error_carries_a_name_the_registry_lists_for_ses() {
    for err in [
        EmailError::Throttled(String::new()),
        EmailError::Rejected(String::new()),
        EmailError::NoRecipients,
        EmailError::TooManyRecipients(51),
        EmailError::Service(String::new()),
    ] {
        assert!(
            warden_core::registry::EMAIL_ERRORS.contains(&err.name()),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_message_goes_through_the_configuration_set_with_its_html_part_and_safe_tags() {
    let rule = mock!(Client::send_email)
        .match_requests(|r| {
            let simple = r.content().and_then(|c| c.simple()).unwrap();
            let body = simple.body().unwrap();
            let tags: Vec<(&str, &str)> = r
                .email_tags()
                .iter()
                .map(|t| (t.name(), t.value()))
                .collect();
            r.configuration_set_name() == Some("sftp-warden")
                && body.text().map(|t| t.data()) == Some("plain")
                && body.html().map(|h| h.data()) == Some("<p>html</p>")
                && tags == [("kind", "keyExpiry"), ("run", "weekly_2026-11-30_x")]
        })
        .then_output(|| SendEmailOutput::builder().message_id("m-1").build());
    let client = mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&rule]);
    let mailer = Mailer::new(client, "sftp-warden@example.com")
        .with_configuration_set(Some("sftp-warden".into()));
    let to = vec!["ops@bank.example".to_owned()];
    let tags = [
        ("kind", "keyExpiry".to_owned()),
        ("run", "weekly:2026-11-30/x".to_owned()),
    ];

    let id = mailer
        .send(&OutgoingEmail {
            to: &to,
            cc: &[],
            subject: "s",
            body: "plain",
            html: Some("<p>html</p>"),
            tags: &tags,
        })
        .await
        .unwrap();

    assert_eq!(id, "m-1");
    assert_eq!(
        rule.num_calls(),
        1,
        "the request carried the set, both parts and the tags"
    );
}
