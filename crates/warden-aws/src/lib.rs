//! Thin adapters between sftp-warden's domain (`warden-core`) and AWS.
//!
//! Each adapter wraps one SDK client, speaks plain types to its callers and maps SDK errors to a
//! small error enum. No business rules live here.

pub mod email;
pub mod secrets;

/// Loads the shared AWS configuration once per Lambda cold start.
///
/// Honors the standard environment (`AWS_REGION`, credentials, and `AWS_ENDPOINT_URL` — which is how
/// the local stack points every function at moto).
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
