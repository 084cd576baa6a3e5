//! Thin adapters over the AWS services the CLI uses. Configuration comes from the standard
//! environment (`AWS_REGION`, `AWS_PROFILE` or keys, `AWS_ENDPOINT_URL`), so the same binary talks
//! to AWS or to the local stack.

// Every SDK crate re-exports the same smithy error types; one helper serves them all.
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

pub mod execution_logs;
pub mod executions;
pub mod landing;
pub mod secrets;

/// The AWS configuration of the standard environment.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// The clients, built once from the environment. Building them makes no call.
pub struct Aws {
    pub secrets: secrets::SecretStore,
    pub landing: landing::Landing,
    pub executions: executions::Executions,
    pub suppressions: warden_aws::suppression::Suppressions,
}

impl Aws {
    pub async fn from_env(prefix: &str) -> Aws {
        let config = sdk_config().await;
        Aws {
            secrets: secrets::SecretStore::new(
                aws_sdk_secretsmanager::Client::new(&config),
                prefix,
            ),
            landing: landing::Landing::from_config(&config),
            executions: executions::Executions::new(aws_sdk_sfn::Client::new(&config)),
            suppressions: warden_aws::suppression::Suppressions::from_config(&config),
        }
    }
}

/// Whether the service refused the call for its rate (after the SDK's own retries): worth trying
/// again after a pause.
pub(crate) fn is_throttling<E, R>(err: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    matches!(
        err.code(),
        Some(
            "ThrottlingException"
                | "TooManyRequestsException"
                | "Throttling"
                | "SlowDown"
                | "RequestLimitExceeded"
        )
    )
}

/// What went wrong in an SDK call, in words: the service's code and message, or else the chain of
/// causes (a refused connection, missing credentials), without the SDK's debug dump.
pub(crate) fn sdk_message<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => {
            let mut parts = vec![err.to_string()];
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                let text = cause.to_string();
                if !parts.iter().any(|p| p.contains(&text)) {
                    parts.push(text);
                }
                source = cause.source();
            }
            parts.join(": ")
        }
    }
}
