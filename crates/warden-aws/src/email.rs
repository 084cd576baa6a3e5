//! SES v2: send one plain-text email.

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use std::fmt;
use warden_core::{ErrorName, Named};

/// SES accepts at most this many recipients (To + CC + BCC) per message.
pub const MAX_RECIPIENTS: usize = 50;

/// What to send. Addresses were validated by the domain before they got here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail<'a> {
    pub to: &'a [String],
    pub cc: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// SES is rate limiting us; the state machine retries this with backoff.
    #[error("SES throttled the message: {0}")]
    Throttled(String),
    /// SES refused the message (unverified sender, suppressed or malformed address, paused
    /// account): retrying will not help, an operator must act.
    #[error("SES rejected the message: {0}")]
    Rejected(String),
    #[error("the message has no recipients")]
    NoRecipients,
    #[error("the message has {0} recipients; SES allows at most {MAX_RECIPIENTS}")]
    TooManyRecipients(usize),
    #[error("SES call failed: {0}")]
    Service(String),
}

impl Named for EmailError {
    /// The stable error name a Lambda reports; the state machines' Retry/Catch match on it.
    fn name(&self) -> ErrorName {
        match self {
            Self::Throttled(_) => ErrorName::EmailThrottled,
            Self::Rejected(_) => ErrorName::EmailRejected,
            Self::NoRecipients | Self::TooManyRecipients(_) => ErrorName::EmailInvalid,
            Self::Service(_) => ErrorName::EmailServiceError,
        }
    }
}

impl EmailError {
    fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let code = err.code().unwrap_or_default().to_owned();
        let message = match err.message() {
            Some(m) => format!("{code}: {m}"),
            None => DisplayErrorContext(&err).to_string(),
        };
        match code.as_str() {
            "TooManyRequestsException" | "LimitExceededException" | "Throttling" => {
                Self::Throttled(message)
            }
            "MessageRejected"
            | "MailFromDomainNotVerifiedException"
            | "AccountSuspendedException"
            | "SendingPausedException"
            | "NotFoundException"
            | "BadRequestException" => Self::Rejected(message),
            _ => Self::Service(message),
        }
    }
}

/// Sends mail from one verified SES identity.
#[derive(Debug, Clone)]
pub struct Mailer {
    client: Client,
    sender: String,
}

impl Mailer {
    pub fn new(client: Client, sender: impl Into<String>) -> Self {
        Self {
            client,
            sender: sender.into(),
        }
    }

    pub fn from_config(config: &aws_config::SdkConfig, sender: impl Into<String>) -> Self {
        Self::new(Client::new(config), sender)
    }

    /// Sends the message and returns SES's message id.
    pub async fn send(&self, email: &OutgoingEmail<'_>) -> Result<String, EmailError> {
        let recipients = email.to.len() + email.cc.len();
        if email.to.is_empty() {
            return Err(EmailError::NoRecipients);
        }
        if recipients > MAX_RECIPIENTS {
            return Err(EmailError::TooManyRecipients(recipients));
        }
        let content = |text: &str| Content::builder().data(text).charset("UTF-8").build();
        let message = Message::builder()
            .subject(content(email.subject).map_err(|e| EmailError::Service(e.to_string()))?)
            .body(
                Body::builder()
                    .text(content(email.body).map_err(|e| EmailError::Service(e.to_string()))?)
                    .build(),
            )
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(&self.sender)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(email.to.to_vec()))
                    .set_cc_addresses((!email.cc.is_empty()).then(|| email.cc.to_vec()))
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(EmailError::from_sdk)?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests;
