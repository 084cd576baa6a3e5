//! List the users: turns the triggering event into a plan of username batches to validate.
//!
//! One `ListSecrets` page per 100 users; no secret is read here.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde_json::Value;
use warden_aws::secrets::{SecretsError, UserSecrets};
use warden_core::secret_validation::{self, Plan};
use warden_core::trigger::{self, RequestError};
use warden_core::{ErrorName, Named};

#[derive(Debug, thiserror::Error)]
enum ListUsersError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl Named for ListUsersError {
    fn name(&self) -> ErrorName {
        match self {
            ListUsersError::Request(RequestError::NotAnSftpUser(_)) => ErrorName::NotAnSftpUser,
            ListUsersError::Request(RequestError::Unsupported(_)) => ErrorName::UnsupportedInput,
            ListUsersError::Secrets(e) => e.name(),
        }
    }
}

impl From<ListUsersError> for Diagnostic {
    fn from(err: ListUsersError) -> Self {
        warden_lambda::diagnostic(&err)
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
    let request = trigger::request_from_event(&event.payload, secrets.prefix())?;
    let usernames = secrets.list_usernames().await?;
    let today = chrono::Utc::now().date_naive();
    let plan = secret_validation::plan(
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
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let config = Config {
        excluded: env.excluded_users(),
    };
    let aws = warden_lambda::aws_config().await;
    let secrets = UserSecrets::from_config(&aws, env.secret_prefix());
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
    use warden_core::trigger::Scope;

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

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        use warden_core::Named;
        let listed = warden_core::registry::function("list-users").unwrap();
        let errors = [
            ListUsersError::Request(RequestError::NotAnSftpUser("SFTP-x".into())),
            ListUsersError::Request(RequestError::Unsupported("x".into())),
            ListUsersError::Secrets(SecretsError::BatchTooLarge(21)),
        ];
        for err in &errors {
            assert!(listed.reports(err.name()), "{}", err.name());
        }
        for name in warden_core::registry::SECRETS_ERRORS {
            assert!(listed.reports(*name), "{name}");
        }
    }
}
