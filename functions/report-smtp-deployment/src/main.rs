//! Writes the email that tells the SuperAdmins a deployment of rotated SMTP credentials did not
//! reach every mail server; the state machine sends it through `send-email`. The SuperAdmins are
//! read when it is needed (a rare event): the names of the user secrets, then the SuperAdmins'
//! secrets only, less any address on SES's suppression list.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::{Deserialize, Serialize};
use warden_aws::secrets::{BATCH_READ_LIMIT, SecretsError, UserSecrets};
use warden_aws::suppression::{SuppressionError, Suppressions};
use warden_core::admins::AdminDirectory;
use warden_core::smtp::{FailedDeployment, deployment_failed_email};
use warden_core::user::Role;
use warden_core::{Email, ErrorName, Named};

/// The failed execution's name and its state.
#[derive(Debug, Deserialize)]
struct Report {
    execution: String,
    state: FailedDeployment,
}

/// The email, or none when no SuperAdmin can be reached.
#[derive(Debug, Serialize)]
struct Composed {
    email: Option<Email>,
}

#[derive(Debug, thiserror::Error)]
enum ReportError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Suppressions(#[from] SuppressionError),
}

impl Named for ReportError {
    fn name(&self) -> ErrorName {
        match self {
            ReportError::Secrets(e) => e.name(),
            ReportError::Suppressions(e) => e.name(),
        }
    }
}

impl From<ReportError> for Diagnostic {
    fn from(err: ReportError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

/// The SuperAdmins' addresses, from their secrets (a secret that cannot be read is skipped).
async fn super_admins(secrets: &UserSecrets) -> Result<Vec<String>, SecretsError> {
    let names: Vec<String> = secrets
        .list_usernames()
        .await?
        .into_iter()
        .filter(|u| Role::of(u) == Role::SuperAdmin)
        .collect();
    let mut read = Vec::new();
    for batch in names.chunks(BATCH_READ_LIMIT) {
        read.extend(secrets.read_batch(batch).await?.secrets);
    }
    Ok(AdminDirectory::from_secrets(
        read.iter()
            .map(|s| (s.username.as_str(), s.secret.expose())),
    )
    .super_admin_emails())
}

async fn handler(
    secrets: &UserSecrets,
    suppressions: &Suppressions,
    event: LambdaEvent<Report>,
) -> Result<Composed, ReportError> {
    let Report { execution, state } = event.payload;
    let addresses = super_admins(secrets).await?;
    let (list, _) = suppressions.read_all().await?;
    let (deliverable, suppressed) = list.partition(&addresses);
    let email = deployment_failed_email(&execution, &state, &deliverable);
    if email.is_none() {
        tracing::error!(
            execution,
            suppressed = suppressed.len(),
            "An SMTP credential deployment failed and no SuperAdmin can be mailed: only the alarm topic is told"
        );
    }
    Ok(Composed { email })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let config = warden_lambda::aws_config().await;
    let secrets = UserSecrets::from_config(&config, env.secret_prefix());
    let suppressions = Suppressions::from_config(&config);
    run(service_fn(|event| handler(&secrets, &suppressions, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::operation::batch_get_secret_value::BatchGetSecretValueOutput;
    use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
    use aws_sdk_secretsmanager::types::{SecretListEntry, SecretValueEntry};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use lambda_runtime::Context;
    use warden_aws::suppression::fake::listing;

    const SUPER_ADMIN: &str = include_str!("../../../test-events/users/SFTPSuperAdmin.json");

    /// Two users listed, one of them the SuperAdmin; only the SuperAdmin's secret is read.
    fn secrets() -> (UserSecrets, aws_smithy_mocks::Rule) {
        let list = mock!(aws_sdk_secretsmanager::Client::list_secrets).then_output(|| {
            ListSecretsOutput::builder()
                .secret_list(
                    SecretListEntry::builder()
                        .name("SFTP/SFTPSuperAdmin")
                        .build(),
                )
                .secret_list(SecretListEntry::builder().name("SFTP/bank1").build())
                .build()
        });
        let read = mock!(aws_sdk_secretsmanager::Client::batch_get_secret_value)
            .match_requests(|r| r.secret_id_list() == ["SFTP/SFTPSuperAdmin"])
            .then_output(|| {
                BatchGetSecretValueOutput::builder()
                    .secret_values(
                        SecretValueEntry::builder()
                            .name("SFTP/SFTPSuperAdmin")
                            .secret_string(SUPER_ADMIN)
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&list, &read]);
        (UserSecrets::new(client, "SFTP/"), read)
    }

    fn event() -> LambdaEvent<Report> {
        let value = serde_json::json!({
            "execution": "smtp-0b5e2c1a",
            "state": {
                "secretArn": "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:s", "userName": "u",
                "newAccessKeyId": "AKIANEW", "oldAccessKeyId": "AKIAOLD",
                "listing": {"invocations": [{"InstanceId": "i-2", "Status": "Failed", "RequestedDateTime": "2026-11-30T00:00:00Z"}]},
                "deployment": {"verdict": {"state": "Failed", "attempt": 1, "succeeded": 0, "failed": 1, "pending": 0,
                    "servers": [{"instanceId": "i-2", "status": "Failed"}], "reason": "1 of 1 mail server(s) did not apply the new credentials"}}
            }
        });
        LambdaEvent::new(serde_json::from_value(value).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn the_super_admins_read_now_get_the_email_naming_the_failed_server() {
        let (secrets, read) = secrets();
        let composed = handler(
            &secrets,
            &listing(&["platform-oncall@example.com"]),
            event(),
        )
        .await
        .unwrap();
        let email = composed.email.expect("an email");
        assert_eq!(
            email.to,
            ["sftp-superadmin@example.com"],
            "less the suppressed"
        );
        assert!(email.body.contains("i-2: Failed"), "{}", email.body);
        assert!(
            email.body.contains("AKIAOLD stays active"),
            "{}",
            email.body
        );
        assert_eq!(read.num_calls(), 1, "one read: the SuperAdmins only");
    }

    #[tokio::test]
    async fn no_email_when_every_super_admin_address_is_suppressed() {
        let (secrets, _) = secrets();
        let both = ["sftp-superadmin@example.com", "platform-oncall@example.com"];
        let composed = handler(&secrets, &listing(&both), event()).await.unwrap();
        assert!(composed.email.is_none());
    }
}
