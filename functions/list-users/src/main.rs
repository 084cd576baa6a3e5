//! List the users: turns the triggering event into a plan of username batches to validate.
//!
//! One `ListSecrets` page per 100 users; no secret is read here.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde_json::Value;
use warden_aws::secrets::{SecretsError, UserSecrets};
use warden_core::workflow::{self, Plan, RequestError};

#[derive(Debug, thiserror::Error)]
enum ListUsersError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl From<ListUsersError> for Diagnostic {
    fn from(err: ListUsersError) -> Self {
        let error_type = match &err {
            ListUsersError::Request(RequestError::NotAnSftpUser(_)) => "NotAnSftpUser",
            ListUsersError::Request(RequestError::Unsupported(_)) => "UnsupportedInput",
            ListUsersError::Secrets(e) => e.name(),
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: err.to_string(),
        }
    }
}

struct Config {
    excluded: Vec<String>,
}

async fn handler(
    secrets: &UserSecrets,
    config: &Config,
    event: LambdaEvent<Value>,
) -> Result<Plan, ListUsersError> {
    let request = workflow::request_from_event(&event.payload, secrets.prefix())?;
    let usernames = secrets.list_usernames().await?;
    let today = chrono::Utc::now().date_naive();
    let plan = workflow::plan(
        request,
        secrets.prefix(),
        usernames,
        &config.excluded,
        today,
    );
    tracing::info!(
        trigger = ?plan.trigger,
        scope = ?plan.scope,
        users_listed = plan.users_listed,
        batches = plan.batches.len(),
        admins = plan.admin_names.len(),
        "Step 2.1 : Collected the secret list"
    );
    Ok(plan)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let config = Config {
        excluded: warden_core::env::list("EXCLUDED_USERS"),
    };
    let aws = warden_aws::load_aws_config().await;
    let secrets = UserSecrets::from_config(&aws, warden_core::env::secret_prefix());
    run(service_fn(|event| handler(&secrets, &config, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
    use aws_sdk_secretsmanager::types::SecretListEntry;
    use aws_smithy_mocks::{mock, mock_client};
    use lambda_runtime::Context;
    use serde_json::json;
    use warden_core::workflow::Scope;

    fn secrets(names: &'static [&'static str]) -> (UserSecrets, aws_smithy_mocks::Rule) {
        let rule = mock!(Client::list_secrets).then_output(move || {
            let mut out = ListSecretsOutput::builder();
            for n in names {
                out = out.secret_list(SecretListEntry::builder().name(*n).build());
            }
            out.build()
        });
        let client = mock_client!(aws_sdk_secretsmanager, [&rule]);
        (UserSecrets::new(client, "SFTP/"), rule)
    }

    fn config() -> Config {
        Config {
            excluded: vec!["sample".into()],
        }
    }

    #[tokio::test]
    async fn a_weekly_run_batches_everyone_but_the_excluded() {
        let (s, rule) = secrets(&["SFTP/a", "SFTP/sample", "SFTP/PaymentsAdmin"]);
        let event = LambdaEvent::new(
            json!({"mode": "all", "asOf": "2026-11-21"}),
            Context::default(),
        );

        let plan = handler(&s, &config(), event).await.unwrap();

        assert_eq!(plan.scope, Scope::All);
        assert_eq!(
            plan.batches,
            [vec!["PaymentsAdmin".to_string(), "a".to_string()]]
        );
        assert_eq!(plan.admin_names, ["PaymentsAdmin"]);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_event_about_another_secret_is_a_named_error_before_any_call() {
        let (s, rule) = secrets(&[]);
        let event: Value = serde_json::from_str(include_str!(
            "../../../test-events/cloudtrail-unrelated-secret.json"
        ))
        .unwrap();

        let err = handler(&s, &config(), LambdaEvent::new(event, Context::default()))
            .await
            .unwrap_err();

        assert_eq!(Diagnostic::from(err).error_type, "NotAnSftpUser");
        assert_eq!(rule.num_calls(), 0);
    }
}
