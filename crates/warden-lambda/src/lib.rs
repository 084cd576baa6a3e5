//! What every Lambda of sftp-warden does at cold start, in one place: read its configuration,
//! load the AWS configuration, set up logging; and how a failed invocation names its error.

use lambda_runtime::Diagnostic;
use warden_core::{Env, Named};

/// The function's environment variables, read once at cold start.
pub fn env() -> Env {
    Env::new(std::env::vars())
}

/// The shared AWS configuration, from the standard environment (`AWS_REGION`, credentials, and
/// `AWS_ENDPOINT_URL`, which is how the local stack points every function at moto).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Logging as Lambda expects it: JSON lines when the function's log format is JSON, at the level
/// `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`) asks for.
pub fn init_logging() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The Lambda error for one of our errors: its stable name as `errorType` (what the state
/// machines' `Retry` and `Catch` match on) and its message.
pub fn diagnostic(err: &impl Named) -> Diagnostic {
    Diagnostic {
        error_type: err.name().to_string(),
        error_message: err.to_string(),
    }
}
