//! SES v2: send one email (plain text, and HTML beside it when there is one), through the
//! configuration set, tagged with what it is.

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
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
    /// The plain-text part.
    pub body: &'a str,
    /// The HTML part, when there is one: SES sends both as `multipart/alternative`.
    pub html: Option<&'a str>,
    /// `EmailTags` (name, value): they come back in every SES event about the message. Values
    /// are reduced to what SES accepts (letters, digits, `_`, `-`; 256 characters).
    pub tags: &'a [(&'a str, String)],
}

/// A tag value SES accepts: characters outside `A-Za-z0-9_-` become `_`, at most 256.
pub fn tag_value(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect()
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
    configuration_set: Option<String>,
}

impl Mailer {
    pub fn new(client: Client, sender: impl Into<String>) -> Self {
        Self {
            client,
            sender: sender.into(),
            configuration_set: None,
        }
    }

    /// Sends through this configuration set (reputation metrics, TLS required, the
    /// suppression list, and the events that tell `handle-email-events` about bounces).
    pub fn with_configuration_set(mut self, name: Option<String>) -> Self {
        self.configuration_set = name.filter(|n| !n.is_empty());
        self
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
        let mut body = Body::builder()
            .text(content(email.body).map_err(|e| EmailError::Service(e.to_string()))?);
        if let Some(html) = email.html {
            body = body.html(content(html).map_err(|e| EmailError::Service(e.to_string()))?);
        }
        let message = Message::builder()
            .subject(content(email.subject).map_err(|e| EmailError::Service(e.to_string()))?)
            .body(body.build())
            .build();
        let tags = email
            .tags
            .iter()
            .map(|(name, value)| {
                MessageTag::builder()
                    .name(*name)
                    .value(tag_value(value))
                    .build()
                    .map_err(|e| EmailError::Service(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
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
            .set_configuration_set_name(self.configuration_set.clone())
            .set_email_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(EmailError::from_sdk)?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests;
