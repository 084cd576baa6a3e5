//! Secrets Manager: list the SFTP users and read their secrets in batches.

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
use aws_sdk_secretsmanager::operation::list_secrets::paginator::ListSecretsPaginator;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
use backon::{ExponentialBuilder, Retryable};
use futures_util::{StreamExt, stream};
use std::fmt;
use warden_core::{ErrorName, Named};

/// `BatchGetSecretValue` accepts at most this many ids per call.
pub const BATCH_READ_LIMIT: usize = 20;
/// Batches of usernames listed but not yet being read: the listing runs up to this far ahead
/// (50 batches are 10 pages, about 1.5 s of `ListSecrets`).
const LIST_AHEAD: usize = 50;

/// The text of a secret. Its `Debug` never shows the value, so it cannot leak through a log line.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(String);

impl SecretText {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretText(<{} bytes redacted>)", self.0.len())
    }
}

/// One user's secret as read.
#[derive(Debug, Clone, PartialEq)]
pub struct UserSecret {
    pub username: String,
    pub secret: SecretText,
}

/// A secret that could not be read, with the error code Secrets Manager gave (never a value).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReadError {
    pub username: String,
    pub error: String,
}

/// The outcome of reading a batch: what was read, what no longer exists, what failed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchRead {
    pub secrets: Vec<UserSecret>,
    pub missing: Vec<String>,
    pub errors: Vec<ReadError>,
    /// `BatchGetSecretValue` calls made (the cost of the read).
    pub calls: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("Secrets Manager throttled {operation}: {message}")]
    Throttled {
        operation: &'static str,
        message: String,
    },
    #[error("Secrets Manager denied {operation}: {message}")]
    AccessDenied {
        operation: &'static str,
        message: String,
    },
    #[error("Secrets Manager {operation} failed: {message}")]
    Service {
        operation: &'static str,
        message: String,
    },
    #[error("a batch read takes at most {BATCH_READ_LIMIT} usernames, got {0}")]
    BatchTooLarge(usize),
}

impl Named for SecretsError {
    /// The stable error name a Lambda reports; the state machines' Retry/Catch match on it.
    fn name(&self) -> ErrorName {
        match self {
            Self::Throttled { .. } => ErrorName::SecretsThrottled,
            Self::AccessDenied { .. } => ErrorName::SecretsAccessDenied,
            Self::Service { .. } => ErrorName::SecretsUnavailable,
            Self::BatchTooLarge(_) => ErrorName::BatchTooLarge,
        }
    }
}

impl SecretsError {
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
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
            "ThrottlingException" | "TooManyRequestsException" | "RequestLimitExceeded" => {
                Self::Throttled { operation, message }
            }
            "AccessDeniedException" | "AccessDenied" | "UnrecognizedClientException" => {
                Self::AccessDenied { operation, message }
            }
            _ => Self::Service { operation, message },
        }
    }
}

/// The users' secrets: every secret whose name starts with `prefix` (e.g. `SFTP/`) is one user.
#[derive(Debug, Clone)]
pub struct UserSecrets {
    client: Client,
    prefix: String,
}

impl UserSecrets {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }

    pub fn from_config(config: &aws_config::SdkConfig, prefix: impl Into<String>) -> Self {
        Self::new(Client::new(config), prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Every username (secret name without the prefix), sorted; follows pagination.
    pub async fn list_usernames(&self) -> Result<Vec<String>, SecretsError> {
        let mut usernames = Vec::new();
        let mut pages = self.list_pages().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| SecretsError::from_sdk("ListSecrets", e))?;
            usernames.extend(self.usernames_in(&page));
        }
        usernames.sort();
        usernames.dedup();
        Ok(usernames)
    }

    /// `ListSecrets` of the secrets whose name matches the prefix, 100 a page.
    fn list_pages(&self) -> ListSecretsPaginator {
        self.client
            .list_secrets()
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(self.prefix.clone())
                    .build(),
            )
            .max_results(100)
            .into_paginator()
    }

    /// The usernames on one page. The name filter matches more loosely than a prefix: exact
    /// prefix matches only.
    fn usernames_in<'a>(
        &'a self,
        page: &'a ListSecretsOutput,
    ) -> impl Iterator<Item = String> + 'a {
        page.secret_list()
            .iter()
            .filter_map(|s| s.name())
            .filter_map(|n| n.strip_prefix(self.prefix.as_str()))
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
    }

    /// Reads up to [`BATCH_READ_LIMIT`] users' secrets with `BatchGetSecretValue` (one call, more
    /// only if the service pages the answer). Per-secret failures are reported, not raised.
    pub async fn read_batch(&self, usernames: &[String]) -> Result<BatchRead, SecretsError> {
        if usernames.len() > BATCH_READ_LIMIT {
            return Err(SecretsError::BatchTooLarge(usernames.len()));
        }
        let mut read = BatchRead::default();
        if usernames.is_empty() {
            return Ok(read);
        }
        let ids: Vec<String> = usernames
            .iter()
            .map(|u| format!("{}{u}", self.prefix))
            .collect();
        let mut next_token: Option<String> = None;
        loop {
            let out = self
                .client
                .batch_get_secret_value()
                .set_secret_id_list(Some(ids.clone()))
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| SecretsError::from_sdk("BatchGetSecretValue", e))?;
            read.calls += 1;
            for entry in out.secret_values() {
                let Some(username) = entry.name().and_then(|n| self.username_of(n)) else {
                    continue;
                };
                // A binary secret is not a user secret; an empty string is still validated.
                let text = entry.secret_string().unwrap_or_default();
                read.secrets.push(UserSecret {
                    username,
                    secret: SecretText::new(text),
                });
            }
            for err in out.errors() {
                let Some(username) = err.secret_id().and_then(|id| self.username_of(id)) else {
                    continue;
                };
                match err.error_code() {
                    Some("ResourceNotFoundException") => read.missing.push(username),
                    code => read.errors.push(ReadError {
                        username,
                        error: code.unwrap_or("UnknownError").to_owned(),
                    }),
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next_token = Some(t.to_owned()),
                _ => break,
            }
        }
        // Anything asked for but neither returned nor reported is gone as far as we can tell.
        for u in usernames {
            let seen = read.secrets.iter().any(|s| &s.username == u)
                || read.missing.contains(u)
                || read.errors.iter().any(|e| &e.username == u);
            if !seen {
                read.missing.push(u.clone());
            }
        }
        Ok(read)
    }

    /// [`Self::read_batch`], with a call Secrets Manager still throttles after the SDK's own
    /// retries retried again with `backoff` (in production [`crate::throttle_backoff`]).
    async fn read_batch_retrying(
        &self,
        usernames: &[String],
        backoff: ExponentialBuilder,
    ) -> Result<BatchRead, SecretsError> {
        (|| self.read_batch(usernames))
            .retry(backoff)
            .when(|e| matches!(e, SecretsError::Throttled { .. }))
            .await
    }

    /// Lists every user and reads their secrets ([`BATCH_READ_LIMIT`] per `BatchGetSecretValue`,
    /// at most `concurrency` calls at a time; a call Secrets Manager still throttles after the
    /// SDK's own retries is retried again with `backoff`, and a batch that fails all the same is
    /// handed over as its error), the listing running ahead of the reading: the next `ListSecrets`
    /// page is asked for while the last one's batches are read, so the whole takes about as
    /// long as the longer of the two instead of their sum. `each` gets every batch as soon as it
    /// is read, in listing order, so no more than `concurrency` batches of secret strings are
    /// held at once. Returns how many users were listed; when the listing fails part-way, the
    /// batches already listed are still read and handed to `each`, then the error is returned.
    pub async fn read_every_user(
        &self,
        concurrency: usize,
        backoff: ExponentialBuilder,
        mut each: impl FnMut(Vec<String>, Result<BatchRead, SecretsError>),
    ) -> Result<usize, SecretsError> {
        let (batches, mut listed) = tokio::sync::mpsc::channel::<Vec<String>>(LIST_AHEAD);
        let list = async move {
            let mut seen = std::collections::HashSet::new();
            let mut pages = self.list_pages().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| SecretsError::from_sdk("ListSecrets", e))?;
                let fresh: Vec<String> = self
                    .usernames_in(&page)
                    .filter(|u| seen.insert(u.clone()))
                    .collect();
                for batch in fresh.chunks(BATCH_READ_LIMIT) {
                    if batches.send(batch.to_vec()).await.is_err() {
                        break;
                    }
                }
            }
            Ok(seen.len())
        };
        let listed = stream::poll_fn(|cx| listed.poll_recv(cx));
        let read = listed
            .map(|batch| async move {
                let read = self.read_batch_retrying(&batch, backoff).await;
                (batch, read)
            })
            .buffered(concurrency.max(1))
            .for_each(|(batch, read)| {
                each(batch, read);
                std::future::ready(())
            });
        let (users, ()) = tokio::join!(list, read);
        users
    }

    /// Reads one user's secret with `GetSecretValue` (the identity provider's one call per
    /// login). `Ok(None)` when the secret does not exist; a secret stored as binary reads as an
    /// empty string, which is not a user secret.
    pub async fn read_one(&self, username: &str) -> Result<Option<SecretText>, SecretsError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(format!("{}{username}", self.prefix))
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(SecretText::new(
                out.secret_string().unwrap_or_default(),
            ))),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(SecretsError::from_sdk("GetSecretValue", e)),
        }
    }

    /// Maps a secret name or ARN back to a username under this prefix.
    fn username_of(&self, id: &str) -> Option<String> {
        warden_core::user::username_from_secret_id(&self.prefix, id)
    }
}

#[cfg(test)]
mod tests;
