//! Write the emails: one findings digest per recipient set (DESIGN.md section 4) and, on the
//! weekly run, the source-system SSH key expiry notices. Reads the run's admins and every
//! batch's report from the work bucket and writes each email there, with the list of them the
//! send Map reads; the state gets counts.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use warden_aws::work::{WorkError, WorkStore};
use warden_core::admins::AdminDirectory;
use warden_core::notify::Email;
use warden_core::secret_validation::{
    self, BatchResult, DigestInput, DigestsWritten, EmailRef, files,
};
use warden_core::work::Run;
use warden_core::{ErrorName, Named};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BuildDigests {
    run: Run,
    notify_source_systems: bool,
}

#[derive(Debug, thiserror::Error)]
enum BuildDigestsError {
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl Named for BuildDigestsError {
    fn name(&self) -> ErrorName {
        match self {
            BuildDigestsError::Work(e) => e.name(),
        }
    }
}

impl From<BuildDigestsError> for Diagnostic {
    fn from(err: BuildDigestsError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler(
    work: &WorkStore,
    excluded: &[String],
    event: LambdaEvent<BuildDigests>,
) -> Result<DigestsWritten, BuildDigestsError> {
    let BuildDigests {
        run,
        notify_source_systems,
    } = event.payload;
    let admins: AdminDirectory = work.get_json(&run.key(files::ADMINS)).await?;
    let batches: Vec<BatchResult> = work
        .get_all(&run.set_prefix(files::REPORTS))
        .await?
        .into_iter()
        .map(|(_, report)| report)
        .collect();
    let digests = secret_validation::emails_for(
        &DigestInput {
            batches,
            admins,
            notify_source_systems,
        },
        excluded,
    );
    let emails: Vec<(String, &Email)> = digests
        .emails
        .iter()
        .enumerate()
        .map(|(index, email)| (run.numbered(files::EMAILS, index), email))
        .collect();
    work.put_all(&emails).await?;
    work.put_json(&run.key(files::UNROUTED), &digests.unrouted)
        .await?;
    let emails_file = if emails.is_empty() {
        None
    } else {
        let index: Vec<EmailRef> = emails
            .iter()
            .enumerate()
            .map(|(index, (key, _))| EmailRef {
                index,
                key: key.clone(),
            })
            .collect();
        Some(work.put_json(&run.key(files::EMAIL_INDEX), &index).await?)
    };
    let written = DigestsWritten::of(&digests, emails_file);
    tracing::info!(
        digests = written.finding_digests,
        key_expiry_notices = written.key_expiry_notices,
        unrouted = written.unrouted,
        s3_calls = work.calls(),
        "Step 2.12-2.14 : Emails written"
    );
    Ok(written)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let excluded = env.excluded_users();
    let aws = warden_lambda::aws_config().await;
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    run(service_fn(|event| handler(&work, &excluded, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use warden_aws::work::fake::FakeBucket;
    use warden_core::notify::EmailKind;
    use warden_core::validation::validate_user;

    const SUPER: &str = include_str!("../../../test-events/users/SFTPSuperAdmin.json");
    const PAYMENTS: &str = include_str!("../../../test-events/users/PaymentsAdmin.json");
    const NAB: &str = include_str!("../../../test-events/users/nab-feeds.json");
    const ING: &str = include_str!("../../../test-events/users/ing-direct.json");

    fn run() -> Run {
        Run {
            state_machine: "secret-validation".into(),
            execution: "weekly".into(),
        }
    }

    /// A bucket as the earlier steps leave it: the admins, and two batches' reports (nab-feeds
    /// with a finding, ing-direct with a key due for rotation).
    fn bucket() -> FakeBucket {
        let admins =
            AdminDirectory::from_secrets([("SFTPSuperAdmin", SUPER), ("PaymentsAdmin", PAYMENTS)]);
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let rules = warden_core::Rules::default();
        let bucket = FakeBucket::new();
        for (batch, (user, secret)) in [("nab-feeds", NAB), ("ing-direct", ING)]
            .into_iter()
            .enumerate()
        {
            let report = validate_user(user, secret, &admins, &rules, as_of);
            let result = BatchResult {
                checked: 1,
                reports: vec![report],
                secret_reads: 1,
                ..BatchResult::default()
            };
            bucket.put(&run().numbered(files::REPORTS, batch), &result);
        }
        bucket.put(&run().key(files::ADMINS), &admins);
        bucket
    }

    fn event(notify_source_systems: bool) -> LambdaEvent<BuildDigests> {
        LambdaEvent::new(
            BuildDigests {
                run: run(),
                notify_source_systems,
            },
            Context::default(),
        )
    }

    #[tokio::test]
    async fn each_email_is_a_file_and_the_list_of_them_is_the_send_maps_items() {
        let bucket = bucket();

        let written = handler(&bucket.store(), &[], event(true)).await.unwrap();

        assert_eq!(written.emails, 2);
        assert_eq!(
            (written.finding_digests, written.key_expiry_notices),
            (1, 1)
        );
        let index: Vec<EmailRef> = bucket
            .get(&written.emails_file.expect("a list of emails").key)
            .unwrap();
        assert_eq!(index.len(), 2);
        let emails: Vec<Email> = index
            .iter()
            .map(|item| bucket.get(&item.key).expect("the email's file"))
            .collect();
        assert_eq!(emails[0].kind, EmailKind::Findings);
        assert_eq!(emails[1].kind, EmailKind::KeyExpiry);
        assert_eq!(index[1].key, run().numbered(files::EMAILS, 1));
    }

    #[tokio::test]
    async fn without_source_system_notices_only_the_digests_are_written() {
        let bucket = bucket();

        let written = handler(&bucket.store(), &[], event(false)).await.unwrap();

        assert_eq!(
            (written.finding_digests, written.key_expiry_notices),
            (1, 0)
        );
    }

    #[tokio::test]
    async fn a_run_with_nothing_to_say_writes_no_list_of_emails() {
        let bucket = FakeBucket::new();
        let admins = AdminDirectory::from_secrets([("SFTPSuperAdmin", SUPER)]);
        bucket.put(&run().key(files::ADMINS), &admins);
        bucket.put(&run().numbered(files::REPORTS, 0), &BatchResult::default());

        let written = handler(&bucket.store(), &[], event(true)).await.unwrap();

        assert_eq!(written.emails, 0);
        assert_eq!(written.emails_file, None);
        assert!(
            bucket
                .get::<Vec<EmailRef>>(&run().key(files::EMAIL_INDEX))
                .is_none()
        );
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        let listed = warden_core::registry::function("build-digests").unwrap();
        let err = BuildDigestsError::Work(WorkError::Missing { key: "k".into() });
        assert!(listed.reports(err.name()));
        for name in warden_core::registry::WORK_ERRORS {
            assert!(listed.reports(*name), "{name}");
        }
    }
}
