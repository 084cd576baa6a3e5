//! SES SMTP credential rotation (seed 002): the password SES derives from an IAM access key, the
//! secret that holds the credentials, room for a new key under IAM's two-keys-per-user limit,
//! and the verdict on a deployment of the credentials to the mail servers.
//!
//! Pure: `rotate-smtp-credentials` and the deployment state machine's functions do the calls;
//! this module decides. No secret key or SMTP password ever shows in a `Debug` output, an error
//! or a serialised verdict.

pub mod credentials;
pub mod deployment;
pub mod keys;
pub mod password;
pub mod report;
pub mod settings;

pub use credentials::{CredentialsError, SmtpCredentials, key_id_of};
pub use deployment::{DeploymentCheck, DeploymentState, DeploymentVerdict, ServerResult};
pub use keys::{AccessKey, KEYS_PER_USER, KeyDeletion, NoRoom, make_room};
pub use password::{SmtpPassword, smtp_password};
pub use report::{FailedDeployment, deployment_failed_email};
pub use settings::{DeploymentInput, DeploymentSettings, RotationSettings, ServerTag};

/// The execution name of the deployment a rotation starts: `smtp-` and the rotation's token, so
/// a retried `finishSecret` finds the execution already there and starts nothing new. Step
/// Functions allows 80 characters of `[A-Za-z0-9_-]`; anything else in the token becomes `-`.
pub fn deployment_execution_name(token: &str) -> String {
    let cleaned: String = token
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(80 - "smtp-".len())
        .collect();
    format!("smtp-{cleaned}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_is_named_after_the_token_within_step_functions_rules() {
        assert_eq!(
            deployment_execution_name("0b5e2c1a-7f7e-4d1e-9a40-3c1b2d3e4f50"),
            "smtp-0b5e2c1a-7f7e-4d1e-9a40-3c1b2d3e4f50"
        );
        let long = deployment_execution_name(&"x/".repeat(60));
        assert_eq!(long.len(), 80);
        assert!(
            long.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
}
