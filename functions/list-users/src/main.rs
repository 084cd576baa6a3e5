//! List the users: turns the triggering event into a plan of username batches to validate.
//!
//! One `ListSecrets` page per 100 users; no secret is read here. The whole plan and the batches
//! (the validation Map's items) go to the work bucket; the state gets counts and their keys.

use aws_sdk_secretsmanager::config::retry::RetryConfig;
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use serde_json::Value;
use warden_aws::secrets::{SecretsError, UserSecrets};
use warden_aws::work::{WorkError, WorkStore};
use warden_core::secret_validation::{self, PlanSummary, files};
use warden_core::trigger::{self, RequestError};
use warden_core::work::Run;
use warden_core::{ErrorName, Named};

/// The execution's input, and which run this is.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListUsers {
    input: Value,
    run: Run,
}

#[derive(Debug, thiserror::Error)]
enum ListUsersError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl Named for ListUsersError {
    fn name(&self) -> ErrorName {
        match self {
            ListUsersError::Request(RequestError::NotAnSftpUser(_)) => ErrorName::NotAnSftpUser,
            ListUsersError::Request(RequestError::Unsupported(_)) => ErrorName::UnsupportedInput,
            ListUsersError::Request(RequestError::NotTheCurrentValue(_)) => {
                ErrorName::NotTheCurrentValue
            }
            ListUsersError::Secrets(e) => e.name(),
            ListUsersError::Work(e) => e.name(),
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
    work: &WorkStore,
    config: &Config,
    event: LambdaEvent<ListUsers>,
) -> Result<PlanSummary, ListUsersError> {
    let ListUsers { input, run } = event.payload;
    let request = trigger::request_from_event(&input, secrets.prefix())?;
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
    work.put_json(&run.key(files::PLAN), &plan).await?;
    let batches = work
        .put_json(&run.key(files::BATCHES), &plan.batches)
        .await?;
    Ok(plan.summary(batches))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let config = Config {
        excluded: env.excluded_users(),
    };
    let aws = warden_lambda::aws_config().await;
    // 50,000 users are 500 ListSecrets pages read one after the other: a throttled page is
    // retried by the SDK itself, adaptively (it slows its own rate), rather than the run failing.
    let listing = aws_sdk_secretsmanager::config::Builder::from(&aws)
        .retry_config(RetryConfig::adaptive().with_max_attempts(8))
        .build();
    let secrets = UserSecrets::new(
        aws_sdk_secretsmanager::Client::from_conf(listing),
        env.secret_prefix(),
    );
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    run(service_fn(|event| handler(&secrets, &work, &config, event))).await
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
    use warden_aws::work::fake::FakeBucket;
    use warden_core::secret_validation::Plan;
    use warden_core::trigger::Scope;

    fn run() -> Run {
        Run {
            state_machine: "secret-validation".into(),
            execution: "weekly".into(),
        }
    }

    fn request(input: Value) -> LambdaEvent<ListUsers> {
        LambdaEvent::new(ListUsers { input, run: run() }, Context::default())
    }

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
        let bucket = FakeBucket::new();

        let summary = handler(
            &s,
            &bucket.store(),
            &config(),
            request(json!({"mode": "all", "asOf": "2026-11-21"})),
        )
        .await
        .unwrap();

        assert_eq!(summary.scope, Scope::All);
        assert_eq!((summary.batches, summary.users_to_check), (1, 2));
        let batches: Vec<Vec<String>> = bucket
            .get(&summary.batches_file.key)
            .expect("the batches file");
        assert_eq!(
            batches,
            [vec!["PaymentsAdmin".to_string(), "a".to_string()]]
        );
        let plan: Plan = bucket.get(&run().key(files::PLAN)).expect("the plan");
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

        let bucket = FakeBucket::new();
        let err = handler(&s, &bucket.store(), &config(), request(event))
            .await
            .unwrap_err();

        assert_eq!(Diagnostic::from(err).error_type, "NotAnSftpUser");
        assert_eq!(rule.num_calls(), 0);
        assert!(bucket.keys().is_empty(), "nothing written");
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        use warden_core::Named;
        let listed = warden_core::registry::function("list-users").unwrap();
        let errors = [
            ListUsersError::Request(RequestError::NotAnSftpUser("SFTP-x".into())),
            ListUsersError::Request(RequestError::Unsupported("x".into())),
            ListUsersError::Request(RequestError::NotTheCurrentValue("x".into())),
            ListUsersError::Secrets(SecretsError::BatchTooLarge(21)),
        ];
        for err in &errors {
            assert!(listed.reports(err.name()), "{}", err.name());
        }
        for name in warden_core::registry::SECRETS_ERRORS {
            assert!(listed.reports(*name), "{name}");
        }
        for name in warden_core::registry::WORK_ERRORS {
            assert!(listed.reports(*name), "{name}");
        }
    }
}
