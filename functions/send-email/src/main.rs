//! Send one email through SES v2 from the configured sender (`SENDER_EMAIL`).
//!
//! Used by every workflow that tells someone something. Throttling is reported as
//! `EmailThrottled` (the state machine retries it); a refusal as `EmailRejected` (it does not).

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_aws::email::{EmailError, Mailer, OutgoingEmail};
use warden_core::notify::Email;
use warden_core::secret_validation::SendOutcome;
use warden_core::{ErrorName, Named};

#[derive(Debug, thiserror::Error)]
enum SendEmailError {
    #[error(transparent)]
    Email(#[from] EmailError),
}

impl Named for SendEmailError {
    fn name(&self) -> ErrorName {
        match self {
            SendEmailError::Email(e) => e.name(),
        }
    }
}

impl From<SendEmailError> for Diagnostic {
    fn from(err: SendEmailError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler(
    mailer: &Mailer,
    event: LambdaEvent<Email>,
) -> Result<SendOutcome, SendEmailError> {
    let email = event.payload;
    let outgoing = OutgoingEmail {
        to: &email.to,
        cc: &email.cc,
        subject: &email.subject,
        body: &email.body,
    };
    let message_id = mailer.send(&outgoing).await.inspect_err(|e| {
        tracing::error!(error = %e.name(), to = ?email.to, subject = %email.subject, "Email not sent: {e}");
    })?;
    tracing::info!(to = ?email.to, cc = ?email.cc, subject = %email.subject, %message_id, "Email sent");
    Ok(SendOutcome {
        kind: email.kind,
        to: email.to,
        cc: email.cc,
        subject: email.subject,
        message_id: Some(message_id),
        error: None,
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let sender = warden_lambda::env().required("SENDER_EMAIL", "a verified SES identity")?;
    let aws = warden_lambda::aws_config().await;
    let mailer = Mailer::from_config(&aws, sender);
    run(service_fn(|event| handler(&mailer, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::Client;
    use aws_sdk_sesv2::operation::send_email::{SendEmailError as SesError, SendEmailOutput};
    use aws_sdk_sesv2::types::error::{MessageRejected, TooManyRequestsException};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;
    use aws_smithy_types::retry::RetryConfig;
    use lambda_runtime::Context;
    use std::time::Duration;
    use warden_core::notify::EmailKind;

    fn email() -> LambdaEvent<Email> {
        LambdaEvent::new(
            Email {
                kind: EmailKind::Findings,
                to: vec!["payments-sftp@example.com".into()],
                cc: vec![],
                subject: "sftp-warden: 1 SFTP user needs attention".into(),
                body: "nab-feeds: rule 3".into(),
            },
            Context::default(),
        )
    }

    fn mailer(rule: &aws_smithy_mocks::Rule) -> Mailer {
        let retry = RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(1));
        let client = mock_client!(aws_sdk_sesv2, RuleMode::Sequential, [rule], |c| c
            .retry_config(retry.clone()));
        Mailer::new(client, "sftp-warden@example.com")
    }

    #[tokio::test]
    async fn throttling_then_success_sends_once_and_reports_the_message_id() {
        let rule = mock!(Client::send_email)
            .sequence()
            .error(|| {
                SesError::TooManyRequestsException(
                    TooManyRequestsException::builder()
                        .meta(
                            ErrorMetadata::builder()
                                .code("TooManyRequestsException")
                                .build(),
                        )
                        .build(),
                )
            })
            .output(|| SendEmailOutput::builder().message_id("0100-abc").build())
            .build();

        let outcome = handler(&mailer(&rule), email()).await.unwrap();

        assert_eq!(outcome.message_id.as_deref(), Some("0100-abc"));
        assert_eq!(outcome.to, ["payments-sftp@example.com"]);
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_rejection_is_the_named_error_the_state_machine_catches() {
        let rule = mock!(Client::send_email).then_error(|| {
            SesError::MessageRejected(
                MessageRejected::builder()
                    .message("Email address is not verified.")
                    .meta(ErrorMetadata::builder().code("MessageRejected").build())
                    .build(),
            )
        });

        let err = handler(&mailer(&rule), email()).await.unwrap_err();

        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "EmailRejected");
        assert!(diagnostic.error_message.contains("not verified"));
        assert_eq!(rule.num_calls(), 1);
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        use warden_core::Named;
        let listed = warden_core::registry::function("send-email").unwrap();
        let errors = [SendEmailError::Email(EmailError::NoRecipients)];
        for err in &errors {
            assert!(listed.reports(err.name()), "{}", err.name());
        }
        for name in warden_core::registry::EMAIL_ERRORS {
            assert!(listed.reports(*name), "{name}");
        }
    }
}
