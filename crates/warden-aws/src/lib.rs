//! Thin adapters between sftp-warden's domain (`warden-core`) and AWS.
//!
//! Each adapter wraps one SDK client, speaks plain types to its callers and maps SDK errors to a
//! small error enum with a stable name ([`warden_core::Named`]). No business rules live here:
//! Secrets Manager (the users), SES v2 (the mail and its suppression list) and S3 (the work
//! bucket).

pub mod email;
pub mod secrets;
pub mod suppression;
pub mod work;

use std::time::Duration;

use backon::ExponentialBuilder;

/// How calls that a service keeps throttling are retried on top of the SDK's own attempts:
/// exponential from 200 ms to 10 s, with jitter, five more times (about 20 s in all).
pub fn throttle_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_max_times(5)
        .with_jitter()
}
