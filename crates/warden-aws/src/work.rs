//! S3 work bucket: the files a run keeps out of Step Functions' state (`warden_core::work`).
//!
//! JSON in, JSON out, by key. Reading many files (a run's reports, its send outcomes) lists the
//! prefix once per 1,000 keys and fetches a bounded number at a time.

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use backon::{ExponentialBuilder, Retryable};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use warden_core::work::WorkFile;
use warden_core::{ErrorName, Named};

/// Files read or written at once when handling a set.
const READ_CONCURRENCY: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// S3 failed, throttled or could not be reached (the state machine retries this).
    #[error("S3 {operation} of {key} failed: {message}")]
    Unavailable {
        operation: &'static str,
        key: String,
        message: String,
    },
    /// A file the step needs is not there.
    #[error("the work file {key} does not exist")]
    Missing { key: String },
    /// A file that is not the JSON the step expects.
    #[error("the work file {key} is not what this step expects: {reason}")]
    Invalid { key: String, reason: String },
}

impl Named for WorkError {
    fn name(&self) -> ErrorName {
        match self {
            Self::Unavailable { .. } => ErrorName::WorkStoreUnavailable,
            Self::Missing { .. } | Self::Invalid { .. } => ErrorName::WorkFileInvalid,
        }
    }
}

impl WorkError {
    fn from_sdk<E, R>(operation: &'static str, key: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let message = match (err.code(), err.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            _ => DisplayErrorContext(&err).to_string(),
        };
        match err.code() {
            Some("NoSuchKey" | "NotFound") => Self::Missing {
                key: key.to_owned(),
            },
            _ => Self::Unavailable {
                operation,
                key: key.to_owned(),
                message,
            },
        }
    }
}

/// The work bucket, and how many calls this function made to it.
#[derive(Clone, Debug)]
pub struct WorkStore {
    client: Client,
    bucket: String,
    calls: Arc<AtomicUsize>,
}

impl WorkStore {
    /// S3 from the shared configuration. With a custom endpoint (the local stack) buckets are
    /// addressed by path: `bucket.127.0.0.1` resolves nowhere.
    pub fn from_config(config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build();
        Self::new(Client::from_conf(s3), bucket)
    }

    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
            calls: Arc::default(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// S3 calls made so far (each page of a listing counts).
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes `value` as JSON to `key`, replacing what is there (a retried step writes the same).
    pub async fn put_json<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<WorkFile, WorkError> {
        let body = serde_json::to_vec(value).map_err(|e| WorkError::Invalid {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        let put = || {
            self.count();
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type("application/json")
                .body(ByteStream::from(body.clone()))
                .send()
        };
        put.retry(slow_down())
            .when(is_slow_down)
            .await
            .map_err(|e| WorkError::from_sdk("PutObject", key, e))?;
        Ok(WorkFile {
            bucket: self.bucket.clone(),
            key: key.to_owned(),
        })
    }

    /// Reads the JSON at `key`.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<T, WorkError> {
        let get = || {
            self.count();
            self.client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
        };
        let out = get
            .retry(slow_down())
            .when(is_slow_down)
            .await
            .map_err(|e| WorkError::from_sdk("GetObject", key, e))?;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| WorkError::Unavailable {
                operation: "GetObject",
                key: key.to_owned(),
                message: e.to_string(),
            })?
            .into_bytes();
        serde_json::from_slice(&bytes).map_err(|e| WorkError::Invalid {
            key: key.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Writes each `(key, value)`, a bounded number at a time.
    pub async fn put_all<T: Serialize>(&self, files: &[(String, T)]) -> Result<(), WorkError> {
        stream::iter(files)
            .map(|(key, value)| self.put_json(key, value))
            .buffer_unordered(READ_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    /// Every key under `prefix`, in key order (one call per 1,000 keys).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, WorkError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.count();
            let page = page.map_err(|e| WorkError::from_sdk("ListObjectsV2", prefix, e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key())
                    .map(str::to_owned),
            );
        }
        keys.sort();
        Ok(keys)
    }

    /// Reads every file under `prefix`, in key order, a bounded number at a time.
    pub async fn get_all<T: DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, WorkError> {
        let keys = self.list(prefix).await?;
        stream::iter(keys)
            .map(|key| async move {
                let value = self.get_json(&key).await?;
                Ok::<_, WorkError>((key, value))
            })
            .buffered(READ_CONCURRENCY)
            .try_collect()
            .await
    }
}

/// S3 asks callers to slow down (`SlowDown`, HTTP 503) under bursts; the SDK retries that three
/// times, this a few more with backoff.
fn slow_down() -> ExponentialBuilder {
    crate::throttle_backoff()
}

fn is_slow_down<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err.code(), Some("SlowDown" | "ServiceUnavailable"))
}

#[cfg(feature = "test-util")]
pub mod fake;
#[cfg(test)]
mod tests;
