//! SES v2's account suppression list: read once per run (every page, 1,000 entries each), and
//! one entry looked up or removed by the operator CLI.
//!
//! The list is read whole rather than one `GetSuppressedDestination` per recipient: a weekly run
//! of 50,000 partners would otherwise make tens of thousands of calls to an API with a low rate
//! quota, while an account's list is usually hundreds of entries (a page or two).

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::types::SuppressionListReason;
use chrono::{DateTime, NaiveDate};
use std::fmt;
use warden_core::suppression::{Suppression, SuppressionList, SuppressionReason};
use warden_core::{ErrorName, Named};

/// Entries per `ListSuppressedDestinations` page (SES's maximum).
pub const PAGE_SIZE: i32 = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum SuppressionError {
    /// Reading or changing the list failed (throttling included): routing without it could send
    /// to a suppressed address and lose the notice, so the step fails and is retried.
    #[error("SES's suppression list is unavailable: {0}")]
    Unavailable(String),
}

impl Named for SuppressionError {
    fn name(&self) -> ErrorName {
        ErrorName::SuppressionListUnavailable
    }
}

impl SuppressionError {
    fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let message = match (err.code(), err.message()) {
            (Some(code), Some(m)) => format!("{code}: {m}"),
            _ => DisplayErrorContext(&err).to_string(),
        };
        Self::Unavailable(message)
    }
}

/// The account suppression list of one Region.
#[derive(Debug, Clone)]
pub struct Suppressions {
    client: Client,
}

impl Suppressions {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    /// Every entry of the list, and how many calls that took. An entry with a reason this
    /// version does not know counts as a bounce: suppressed either way.
    pub async fn read_all(&self) -> Result<(SuppressionList, usize), SuppressionError> {
        let mut pages = self
            .client
            .list_suppressed_destinations()
            .page_size(PAGE_SIZE)
            .into_paginator()
            .send();
        let mut entries = Vec::new();
        let mut calls = 0;
        while let Some(page) = pages.next().await {
            calls += 1;
            let page = page.map_err(SuppressionError::from_sdk)?;
            entries.extend(
                page.suppressed_destination_summaries()
                    .iter()
                    .map(|s| entry(s.email_address(), s.reason(), s.last_update_time().secs())),
            );
        }
        Ok((entries.into(), calls))
    }

    /// The entry for `address`, or `None` when it is not suppressed.
    pub async fn get(&self, address: &str) -> Result<Option<Suppression>, SuppressionError> {
        match self
            .client
            .get_suppressed_destination()
            .email_address(address)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .suppressed_destination()
                .map(|d| entry(d.email_address(), d.reason(), d.last_update_time().secs()))),
            Err(err) if err.code() == Some("NotFoundException") => Ok(None),
            Err(err) => Err(SuppressionError::from_sdk(err)),
        }
    }

    /// Takes `address` off the list; `false` when it was not on it.
    pub async fn remove(&self, address: &str) -> Result<bool, SuppressionError> {
        match self
            .client
            .delete_suppressed_destination()
            .email_address(address)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if err.code() == Some("NotFoundException") => Ok(false),
            Err(err) => Err(SuppressionError::from_sdk(err)),
        }
    }
}

fn entry(address: &str, reason: &SuppressionListReason, epoch_seconds: i64) -> Suppression {
    Suppression {
        address: address.to_owned(),
        reason: SuppressionReason::parse(reason.as_str()).unwrap_or(SuppressionReason::Bounce),
        since: DateTime::from_timestamp(epoch_seconds, 0)
            .map(|t| t.date_naive())
            .unwrap_or(NaiveDate::MIN),
    }
}

/// A suppression list for the functions' tests (feature `test-util`).
#[cfg(feature = "test-util")]
pub mod fake {
    use super::*;
    use aws_sdk_sesv2::operation::list_suppressed_destinations::ListSuppressedDestinationsOutput;
    use aws_sdk_sesv2::types::SuppressedDestinationSummary;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    /// 2026-11-02T00:00:00Z, the date every fake entry was suppressed.
    pub const SINCE: i64 = 1_793_577_600;

    /// A real SES client whose account suppression list holds `addresses`, bounced on
    /// 2026-11-02, in one page.
    pub fn listing(addresses: &[&str]) -> Suppressions {
        let addresses: Vec<String> = addresses.iter().map(|a| (*a).to_owned()).collect();
        let rule = mock!(Client::list_suppressed_destinations).then_output(move || {
            let mut out = ListSuppressedDestinationsOutput::builder();
            for address in &addresses {
                out = out.suppressed_destination_summaries(
                    SuppressedDestinationSummary::builder()
                        .email_address(address)
                        .reason(SuppressionListReason::Bounce)
                        .last_update_time(aws_smithy_types::DateTime::from_secs(SINCE))
                        .build()
                        .expect("every field is set"),
                );
            }
            out.build()
        });
        Suppressions::new(mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&rule]))
    }
}

#[cfg(test)]
mod tests;
