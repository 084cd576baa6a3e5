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
