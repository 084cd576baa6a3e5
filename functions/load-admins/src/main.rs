//! Load the admins: reads every admin the plan names (20 per call) into the directory that
//! routing and rules 2 and 5 need, with a snapshot of SES's account suppression list (rule 4,
//! and no mail to a suppressed address), and keeps it in the work bucket for every batch to
//! read. An unreadable admin fails the step (`AdminUnreadable`, which the state machine retries);
//! once the retries are spent the state machine asks again with `acceptUnreadable`, and the
//! directory records the admin as unreadable: every other group is still audited, that group's
//! mail goes to the SuperAdmins, and the run ends incomplete. A suppression list that cannot be
//! read fails the step.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use warden_aws::secrets::{BATCH_READ_LIMIT, SecretsError, UserSecrets};
use warden_aws::suppression::{SuppressionError, Suppressions};
use warden_aws::work::{WorkError, WorkStore};
use warden_core::admins::{AdminDirectory, UnreadableAdmin};
use warden_core::secret_validation::{AdminsLoaded, Plan, files};
use warden_core::work::Run;
use warden_core::{ErrorName, Named};

/// Which run: the admins to load are in its plan.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoadAdmins {
    run: Run,
    /// Set by the state machine once `AdminUnreadable` has been retried: go on without the
    /// admins that still cannot be read (their users' mail goes to the SuperAdmins, and the run
    /// ends incomplete) rather than leave every other group unaudited.
    #[serde(default)]
    accept_unreadable: bool,
}

#[derive(Debug, thiserror::Error)]
enum LoadAdminsError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("the secrets of these admins could not be read: {0}")]
    AdminUnreadable(String),
    #[error(transparent)]
    Suppressions(#[from] SuppressionError),
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl Named for LoadAdminsError {
    fn name(&self) -> ErrorName {
        match self {
            LoadAdminsError::Secrets(e) => e.name(),
            LoadAdminsError::AdminUnreadable(_) => ErrorName::AdminUnreadable,
            LoadAdminsError::Suppressions(e) => e.name(),
            LoadAdminsError::Work(e) => e.name(),
        }
    }
}

impl From<LoadAdminsError> for Diagnostic {
    fn from(err: LoadAdminsError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler(
    secrets: &UserSecrets,
    suppressions: &Suppressions,
    work: &WorkStore,
    event: LambdaEvent<LoadAdmins>,
) -> Result<AdminsLoaded, LoadAdminsError> {
    let LoadAdmins {
        run,
        accept_unreadable,
    } = event.payload;
    let plan: Plan = work.get_json(&run.key(files::PLAN)).await?;
    let mut read = Vec::new();
    let mut failed = Vec::new();
    for chunk in plan.admin_names.chunks(BATCH_READ_LIMIT) {
        let batch = secrets.read_batch(chunk).await?;
        failed.extend(batch.errors.into_iter().map(|e| UnreadableAdmin {
            username: e.username,
            error: e.error,
        }));
        read.extend(batch.secrets);
    }
    if !failed.is_empty() && !accept_unreadable {
        let names: Vec<String> = failed
            .iter()
            .map(|a| format!("{} ({})", a.username, a.error))
            .collect();
        return Err(LoadAdminsError::AdminUnreadable(names.join(", ")));
    }
    for admin in &failed {
        tracing::error!(
            admin = %admin.username,
            error = %admin.error,
            "Step 2.2 : Admin unreadable; its users' mail goes to the SuperAdmins and the run ends incomplete"
        );
    }
    let (suppressed, list_calls) = suppressions.read_all().await?;
    let directory = AdminDirectory::from_secrets(
        read.iter()
            .map(|s| (s.username.as_str(), s.secret.expose())),
    )
    .with_suppressions(suppressed)
    .with_unreadable(failed);
    for admin in &directory.admins {
        tracing::info!(
            admin = %admin.username,
            role = ?admin.role,
            valid_emails = admin.emails.len(),
            suppressed_emails = admin.suppressed.len(),
            folder = admin.folder.as_deref().unwrap_or("-"),
            "Step 2.2 : Collected admin"
        );
    }
    tracing::info!(
        suppressed_addresses = directory.suppressed.len(),
        calls = list_calls,
        "SES suppression list read"
    );
    let file = work.put_json(&run.key(files::ADMINS), &directory).await?;
    Ok(AdminsLoaded {
        admins: directory.admins.len(),
        super_admin_addresses: directory.super_admin_emails().len(),
        file,
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let aws = warden_lambda::aws_config().await;
    let secrets = UserSecrets::from_config(&aws, env.secret_prefix());
    let suppressions = Suppressions::from_config(&aws);
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    run(service_fn(|event| {
        handler(&secrets, &suppressions, &work, event)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::Client;
    use aws_sdk_secretsmanager::operation::batch_get_secret_value::BatchGetSecretValueOutput;
    use aws_sdk_secretsmanager::types::{ApiErrorType, SecretValueEntry};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use lambda_runtime::Context;
    use warden_aws::work::fake::FakeBucket;
    use warden_core::secret_validation::plan;
    use warden_core::trigger::{Request, Scope, Trigger};

    /// SES's suppression list holding these addresses.
    fn suppressed(addresses: &[&str]) -> Suppressions {
        warden_aws::suppression::fake::listing(addresses)
    }

    fn admin_secret(email: &str, target: &str) -> String {
        serde_json::json!({
            "Name": "Admin", "Email": email,
            "HomeDirectoryType": "LOGICAL",
            "HomeDirectoryDetails": [{"Entry": "/", "Target": target}],
        })
        .to_string()
    }

    fn run() -> Run {
        Run {
            state_machine: "secret-validation".into(),
            execution: "weekly".into(),
        }
    }

    /// A bucket holding a weekly run's plan over these users, and the event for that run.
    fn planned(names: &[&str]) -> (FakeBucket, LambdaEvent<LoadAdmins>) {
        let request = Request {
            trigger: Trigger::Schedule,
            scope: Scope::All,
            event: None,
            notify_source_systems: false,
            as_of: None,
        };
        let usernames = names.iter().map(|s| s.to_string()).collect();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let bucket = FakeBucket::new();
        bucket.put(
            &run().key(files::PLAN),
            &plan(request, "SFTP/", usernames, &[], today),
        );
        let event = LambdaEvent::new(
            LoadAdmins {
                run: run(),
                accept_unreadable: false,
            },
            Context::default(),
        );
        (bucket, event)
    }

    #[tokio::test]
    async fn admins_are_read_in_batches_of_twenty_into_the_directory() {
        let rule = mock!(Client::batch_get_secret_value).then_compute_output(|req| {
            let mut out = BatchGetSecretValueOutput::builder();
            for id in req.secret_id_list() {
                let secret = admin_secret("ops@example.com", "/bucket/group");
                out = out.secret_values(
                    SecretValueEntry::builder()
                        .name(id)
                        .secret_string(secret)
                        .build(),
                );
            }
            out.build()
        });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
        let names: Vec<String> = (0..25).map(|i| format!("Group{i}Admin")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();

        let (bucket, event) = planned(&refs);

        let loaded = handler(
            &UserSecrets::new(client, "SFTP/"),
            &suppressed(&[]),
            &bucket.store(),
            event,
        )
        .await
        .unwrap();

        assert_eq!(loaded.admins, 25);
        let dir: AdminDirectory = bucket.get(&loaded.file.key).expect("the directory");
        assert_eq!(dir.admins.len(), 25);
        assert_eq!(dir.get("Group3Admin").unwrap().emails, ["ops@example.com"]);
        assert_eq!(rule.num_calls(), 2);
    }

    #[tokio::test]
    async fn a_suppressed_admin_address_is_no_valid_address_and_the_list_is_kept_for_the_batches() {
        let rule = mock!(Client::batch_get_secret_value).then_compute_output(|req| {
            let mut out = BatchGetSecretValueOutput::builder();
            for id in req.secret_id_list() {
                let email = if id.ends_with("PaymentsAdmin") {
                    "gone@bank.example, ops@bank.example"
                } else {
                    "gone@other.example"
                };
                out = out.secret_values(
                    SecretValueEntry::builder()
                        .name(id)
                        .secret_string(admin_secret(email, "/bucket/group"))
                        .build(),
                );
            }
            out.build()
        });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
        let (bucket, event) = planned(&["PaymentsAdmin", "CardsAdmin", "partner1"]);

        let loaded = handler(
            &UserSecrets::new(client, "SFTP/"),
            &suppressed(&[
                "gone@bank.example",
                "gone@other.example",
                "partner@x.example",
            ]),
            &bucket.store(),
            event,
        )
        .await
        .unwrap();

        let dir: AdminDirectory = bucket.get(&loaded.file.key).expect("the directory");
        let payments = dir.get("PaymentsAdmin").unwrap();
        assert_eq!(payments.emails, ["ops@bank.example"]);
        assert_eq!(payments.suppressed[0].address, "gone@bank.example");
        assert!(dir.get("CardsAdmin").unwrap().emails.is_empty());
        assert!(
            dir.suppressed.contains("partner@x.example"),
            "users' addresses are checked against it"
        );
    }

    #[tokio::test]
    async fn an_unreadable_admin_fails_the_step_instead_of_misrouting_mail() {
        let rule = mock!(Client::batch_get_secret_value).then_output(|| {
            BatchGetSecretValueOutput::builder()
                .errors(
                    ApiErrorType::builder()
                        .secret_id("SFTP/PaymentsAdmin")
                        .error_code("DecryptionFailure")
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_secretsmanager, [&rule]);

        let (bucket, event) = planned(&["PaymentsAdmin", "bank1"]);

        let err = handler(
            &UserSecrets::new(client, "SFTP/"),
            &suppressed(&[]),
            &bucket.store(),
            event,
        )
        .await
        .unwrap_err();

        let diagnostic = Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "AdminUnreadable");
        assert!(
            diagnostic
                .error_message
                .contains("PaymentsAdmin (DecryptionFailure)")
        );
    }

    #[tokio::test]
    async fn once_retried_an_unreadable_admin_is_recorded_and_the_others_are_loaded() {
        let rule = mock!(Client::batch_get_secret_value).then_compute_output(|req| {
            let mut out = BatchGetSecretValueOutput::builder();
            for id in req.secret_id_list() {
                if id.ends_with("PaymentsAdmin") {
                    out = out.errors(
                        ApiErrorType::builder()
                            .secret_id(id)
                            .error_code("DecryptionFailure")
                            .build(),
                    );
                } else {
                    out = out.secret_values(
                        SecretValueEntry::builder()
                            .name(id)
                            .secret_string(admin_secret("ops@example.com", "/bucket/cards"))
                            .build(),
                    );
                }
            }
            out.build()
        });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
        let (bucket, mut event) = planned(&["PaymentsAdmin", "CardsAdmin", "bank1"]);
        event.payload.accept_unreadable = true;

        let loaded = handler(
            &UserSecrets::new(client, "SFTP/"),
            &suppressed(&[]),
            &bucket.store(),
            event,
        )
        .await
        .unwrap();

        let dir: AdminDirectory = bucket.get(&loaded.file.key).expect("the directory");
        assert!(dir.get("CardsAdmin").is_some());
        assert!(dir.get("PaymentsAdmin").is_none());
        assert_eq!(
            dir.unreadable,
            [UnreadableAdmin {
                username: "PaymentsAdmin".into(),
                error: "DecryptionFailure".into()
            }]
        );
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        use warden_core::Named;
        let listed = warden_core::registry::function("load-admins").unwrap();
        let errors = [
            LoadAdminsError::AdminUnreadable("Admin1".into()),
            LoadAdminsError::Secrets(SecretsError::BatchTooLarge(21)),
            LoadAdminsError::Suppressions(SuppressionError::Unavailable("throttled".into())),
        ];
        for err in &errors {
            assert!(listed.reports(err.name()), "{}", err.name());
        }
        for name in warden_core::registry::SECRETS_ERRORS
            .iter()
            .chain(warden_core::registry::WORK_ERRORS)
        {
            assert!(listed.reports(*name), "{name}");
        }
    }
}
