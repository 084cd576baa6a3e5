//! Send one email through SES v2 from the configured sender (`SENDER_EMAIL`).
//!
//! Used by every workflow that tells someone something. The email comes inline (the prefix-list
//! sync's few messages to the SuperAdmins) or as a file of the run's work bucket (the validation
//! run's send Map, one child per email), in which case what became of it is written next to it,
//! success or refusal, so the summary can account for every email. Throttling is reported as
//! `EmailThrottled` (the state machine retries it); a refusal as `EmailRejected` (it does not).
//!
//! Every message goes through the configuration set (`CONFIGURATION_SET`), with its HTML part
//! when it has one, and tags naming the workflow, the kind and, for a stored email, the run and
//! its number: SES's bounce and complaint events carry them back to `handle-email-events`.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use warden_aws::email::{EmailError, Mailer, OutgoingEmail};
use warden_aws::work::{WorkError, WorkStore};
use warden_core::notify::{Email, EmailKind, tag};
use warden_core::secret_validation::{SendOutcome, files};
use warden_core::work::Run;
use warden_core::{ErrorName, Named};

/// An email of a run's work bucket: its number and key (an item of the send Map).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredEmail {
    run: Run,
    index: usize,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SendRequest {
    Stored(StoredEmail),
    Inline(Email),
}

#[derive(Debug, thiserror::Error)]
enum SendEmailError {
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl Named for SendEmailError {
    fn name(&self) -> ErrorName {
        match self {
            SendEmailError::Email(e) => e.name(),
            SendEmailError::Work(e) => e.name(),
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
    work: &WorkStore,
    event: LambdaEvent<SendRequest>,
) -> Result<SendOutcome, SendEmailError> {
    match event.payload {
        SendRequest::Inline(email) => Ok(send(mailer, email, None).await?),
        SendRequest::Stored(stored) => {
            let email: Email = work.get_json(&stored.key).await?;
            let outcome_key = stored.run.numbered(files::SENT, stored.index);
            match send(mailer, email.clone(), Some(&stored)).await {
                Ok(outcome) => {
                    work.put_json(&outcome_key, &outcome).await?;
                    Ok(outcome)
                }
                Err(err) => {
                    // Recorded before the error goes back: a retry that succeeds overwrites it.
                    let refused = outcome_of(email, None, Some(format!("{}: {err}", err.name())));
                    work.put_json(&outcome_key, &refused).await?;
                    Err(err.into())
                }
            }
        }
    }
}

/// The `EmailTags` of a message: which workflow and kind it is, and for a stored email its run
/// and number, so that an SES event about it leads back to the email's file (and to whose
/// addresses it went to).
fn tags(email: &Email, stored: Option<&StoredEmail>) -> Vec<(&'static str, String)> {
    let workflow = match email.kind {
        EmailKind::Findings | EmailKind::KeyExpiry => "secret-validation",
        EmailKind::PrefixLists => "prefix-list-sync",
        EmailKind::RunFailed => "operations",
    };
    let mut tags = vec![
        (tag::WORKFLOW, workflow.to_owned()),
        (tag::KIND, email.kind.as_str().to_owned()),
    ];
    if let Some(stored) = stored {
        tags.push((tag::STATE_MACHINE, stored.run.state_machine.clone()));
        tags.push((tag::RUN, stored.run.execution.clone()));
        tags.push((tag::EMAIL, stored.index.to_string()));
    }
    if email.rerouted {
        tags.push((tag::REROUTED, "true".to_owned()));
    }
    tags
}

async fn send(
    mailer: &Mailer,
    email: Email,
    stored: Option<&StoredEmail>,
) -> Result<SendOutcome, EmailError> {
    let tags = tags(&email, stored);
    let html = email.html_part();
    let outgoing = OutgoingEmail {
        to: &email.to,
        cc: &email.cc,
        subject: &email.subject,
        body: &email.body,
        html: Some(&html),
        tags: &tags,
    };
    let message_id = mailer.send(&outgoing).await.inspect_err(|e| {
        tracing::error!(error = %e.name(), to = ?email.to, subject = %email.subject, "Email not sent: {e}");
    })?;
    tracing::info!(to = ?email.to, cc = ?email.cc, subject = %email.subject, %message_id, "Email sent");
    Ok(outcome_of(email, Some(message_id), None))
}

fn outcome_of(email: Email, message_id: Option<String>, error: Option<String>) -> SendOutcome {
    SendOutcome {
        kind: email.kind,
        to: email.to,
        cc: email.cc,
        subject: email.subject,
        message_id,
        error,
        rerouted: email.rerouted,
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let sender = env.required("SENDER_EMAIL", "a verified SES identity")?;
    let configuration_set = env.var("CONFIGURATION_SET").map(str::to_owned);
    let aws = warden_lambda::aws_config().await;
    let mailer = Mailer::from_config(&aws, sender).with_configuration_set(configuration_set);
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    run(service_fn(|event| handler(&mailer, &work, event))).await
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
    use warden_aws::work::fake::FakeBucket;
    use warden_core::notify::EmailKind;

    fn digest() -> Email {
        Email {
            kind: EmailKind::Findings,
            to: vec!["payments-sftp@example.com".into()],
            cc: vec![],
            subject: "sftp-warden: 1 SFTP user needs attention".into(),
            body: "nab-feeds: rule 3".into(),
            html: None,
            address_holders: vec![],
            rerouted: false,
        }
    }

    fn email() -> LambdaEvent<SendRequest> {
        LambdaEvent::new(SendRequest::Inline(digest()), Context::default())
    }

    fn run() -> Run {
        Run {
            state_machine: "secret-validation".into(),
            execution: "weekly".into(),
        }
    }

    /// A bucket holding email number 3 of a run, and the send Map's item for it.
    fn stored() -> (FakeBucket, LambdaEvent<SendRequest>) {
        let bucket = FakeBucket::new();
        let key = run().numbered(files::EMAILS, 3);
        bucket.put(&key, &digest());
        let item: SendRequest = serde_json::from_value(serde_json::json!({
            "run": run(), "index": 3, "key": key
        }))
        .unwrap();
        (bucket, LambdaEvent::new(item, Context::default()))
    }

    fn rejected() -> aws_smithy_mocks::Rule {
        mock!(Client::send_email).then_error(|| {
            SesError::MessageRejected(
                MessageRejected::builder()
                    .message("Email address is not verified.")
                    .meta(ErrorMetadata::builder().code("MessageRejected").build())
                    .build(),
            )
        })
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

        let outcome = handler(&mailer(&rule), &FakeBucket::new().store(), email())
            .await
            .unwrap();

        assert_eq!(outcome.message_id.as_deref(), Some("0100-abc"));
        assert_eq!(outcome.to, ["payments-sftp@example.com"]);
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_rejection_is_the_named_error_the_state_machine_catches() {
        let rule = rejected();

        let err = handler(&mailer(&rule), &FakeBucket::new().store(), email())
            .await
            .unwrap_err();

        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "EmailRejected");
        assert!(diagnostic.error_message.contains("not verified"));
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_stored_email_is_sent_and_its_outcome_kept_beside_it() {
        let rule = mock!(Client::send_email)
            .then_output(|| SendEmailOutput::builder().message_id("0100-def").build());
        let (bucket, item) = stored();

        let outcome = handler(&mailer(&rule), &bucket.store(), item)
            .await
            .unwrap();

        let kept: SendOutcome = bucket.get(&run().numbered(files::SENT, 3)).unwrap();
        assert_eq!(kept, outcome);
        assert_eq!(kept.message_id.as_deref(), Some("0100-def"));
        assert_eq!(kept.subject, digest().subject);
    }

    #[tokio::test]
    async fn a_stored_email_that_is_refused_leaves_the_reason_as_its_outcome() {
        let rule = rejected();
        let (bucket, item) = stored();

        let err = handler(&mailer(&rule), &bucket.store(), item)
            .await
            .unwrap_err();

        assert_eq!(err.name(), ErrorName::EmailRejected);
        let kept: SendOutcome = bucket.get(&run().numbered(files::SENT, 3)).unwrap();
        assert_eq!(kept.message_id, None);
        assert!(kept.error.unwrap().starts_with("EmailRejected: "));
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        use warden_core::Named;
        let listed = warden_core::registry::function("send-email").unwrap();
        let errors = [
            SendEmailError::Email(EmailError::NoRecipients),
            SendEmailError::Work(WorkError::Missing { key: "k".into() }),
        ];
        for err in &errors {
            assert!(listed.reports(err.name()), "{}", err.name());
        }
        for name in warden_core::registry::EMAIL_ERRORS {
            assert!(listed.reports(*name), "{name}");
        }
    }
}
