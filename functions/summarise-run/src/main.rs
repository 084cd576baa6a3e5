//! Summarise the run: what an operator reads to know what a validation run did — users checked,
//! findings per rule, emails sent, and every problem. Reads the run's files (the plan, every
//! batch's report, every email and what became of it), keeps the full summary in the work bucket
//! and returns the bounded one the execution output and a `Fail` cause carry.
//!
//! A batch without a report, or an email without an outcome, failed after its retries: both are
//! problems, so the run cannot look complete when part of it never happened.

use std::collections::BTreeMap;

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use warden_aws::work::{WorkError, WorkStore};
use warden_core::admins::AdminDirectory;
use warden_core::notify::Email;
use warden_core::secret_validation::{
    self, BatchResult, EmailRef, Plan, RunSummary, SendOutcome, SentEmail, SummaryInput, files,
};
use warden_core::work::{Run, index_of};
use warden_core::{ErrorName, Named};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summarise {
    run: Run,
}

#[derive(Debug, thiserror::Error)]
enum SummariseError {
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl Named for SummariseError {
    fn name(&self) -> ErrorName {
        match self {
            SummariseError::Work(e) => e.name(),
        }
    }
}

impl From<SummariseError> for Diagnostic {
    fn from(err: SummariseError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler(
    work: &WorkStore,
    event: LambdaEvent<Summarise>,
) -> Result<RunSummary, SummariseError> {
    let run = event.payload.run;
    let plan: Plan = work.get_json(&run.key(files::PLAN)).await?;
    let reports: BTreeMap<usize, BatchResult> =
        numbered(work.get_all(&run.set_prefix(files::REPORTS)).await?);
    let missing_batches = plan
        .batches
        .iter()
        .enumerate()
        .filter(|(batch, _)| !reports.contains_key(batch))
        .map(|(_, usernames)| usernames.clone())
        .collect();
    let unrouted: Vec<String> = work.get_json(&run.key(files::UNROUTED)).await?;
    let admins: AdminDirectory = work.get_json(&run.key(files::ADMINS)).await?;
    let suppressed_super_admins = admins
        .suppressed_super_admin_addresses()
        .into_iter()
        .map(|(username, entry)| (username.to_owned(), entry.clone()))
        .collect();
    let emails: Vec<EmailRef> = match work.get_json(&run.key(files::EMAIL_INDEX)).await {
        Ok(emails) => emails,
        Err(WorkError::Missing { .. }) => Vec::new(), // nothing was to be sent
        Err(e) => return Err(e.into()),
    };
    let mut outcomes: BTreeMap<usize, SendOutcome> =
        numbered(work.get_all(&run.set_prefix(files::SENT)).await?);
    let mut sent = Vec::with_capacity(emails.len());
    let mut unsent = Vec::new();
    for email in &emails {
        match outcomes.remove(&email.index) {
            Some(outcome) => sent.push(outcome),
            None => {
                let written: Email = work.get_json(&email.key).await?;
                unsent.push(SentEmail {
                    kind: written.kind,
                    to: written.to,
                    cc: written.cc,
                    subject: written.subject,
                });
            }
        }
    }
    let summary = secret_validation::summarise(&SummaryInput {
        batches: reports.into_values().collect(),
        plan,
        unrouted,
        sent,
        missing_batches,
        unsent,
        suppressed_super_admins,
        unreadable_admins: admins.unreadable,
    });
    let full = work.put_json(&run.key(files::SUMMARY), &summary).await?;
    warden_lambda::emit_metrics(warden_core::metrics::validation_run(
        &summary,
        warden_lambda::now_ms(),
    ));
    tracing::info!(
        users_checked = summary.users_checked,
        users_with_findings = summary.users_with_findings.len(),
        emails_sent = summary.emails_sent.len(),
        problems = summary.problems.len(),
        complete = summary.complete,
        s3_calls = work.calls(),
        full_summary = %full.uri(),
        "Run summarised"
    );
    Ok(summary.bounded(&full))
}

/// Files of a numbered set by their number.
fn numbered<T>(files: Vec<(String, T)>) -> BTreeMap<usize, T> {
    files
        .into_iter()
        .filter_map(|(key, value)| index_of(&key).map(|index| (index, value)))
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let aws = warden_lambda::aws_config().await;
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    run(service_fn(|event| handler(&work, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use warden_aws::work::fake::FakeBucket;
    use warden_core::notify::EmailKind;
    use warden_core::secret_validation::{Summary, plan};
    use warden_core::trigger::{Request, Scope, Trigger};

    fn run() -> Run {
        Run {
            state_machine: "secret-validation".into(),
            execution: "weekly".into(),
        }
    }

    fn email(subject: &str) -> Email {
        Email {
            kind: EmailKind::KeyExpiry,
            to: vec!["ops@bank.example".into()],
            cc: vec![],
            subject: subject.into(),
            body: "b".into(),
            html: None,
            address_holders: vec![],
            rerouted: false,
        }
    }

    /// A run of 45 users (three batches) that wrote two emails.
    fn bucket() -> FakeBucket {
        let request = Request {
            trigger: Trigger::Schedule,
            scope: Scope::All,
            event: None,
            notify_source_systems: true,
            as_of: None,
        };
        let users = (0..45).map(|i| format!("user{i:02}")).collect();
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let bucket = FakeBucket::new();
        let plan = plan(request, "SFTP/", users, &[], today);
        for (batch, usernames) in plan.batches.iter().enumerate() {
            let result = BatchResult {
                checked: usernames.len(),
                secret_reads: 1,
                ..BatchResult::default()
            };
            bucket.put(&run().numbered(files::REPORTS, batch), &result);
        }
        bucket.put(&run().key(files::PLAN), &plan);
        bucket.put(&run().key(files::UNROUTED), &Vec::<String>::new());
        bucket.put(&run().key(files::ADMINS), &AdminDirectory::default());
        let mut index = Vec::new();
        for (i, subject) in ["first", "second"].into_iter().enumerate() {
            let key = run().numbered(files::EMAILS, i);
            bucket.put(&key, &email(subject));
            index.push(EmailRef { index: i, key });
            let outcome = SendOutcome {
                kind: EmailKind::KeyExpiry,
                to: vec!["ops@bank.example".into()],
                cc: vec![],
                subject: subject.into(),
                message_id: Some(format!("id-{i}")),
                error: None,
                rerouted: i == 1,
            };
            bucket.put(&run().numbered(files::SENT, i), &outcome);
        }
        bucket.put(&run().key(files::EMAIL_INDEX), &index);
        bucket
    }

    fn event() -> LambdaEvent<Summarise> {
        LambdaEvent::new(Summarise { run: run() }, Context::default())
    }

    #[tokio::test]
    async fn a_complete_run_is_summarised_in_full_and_in_brief() {
        let bucket = bucket();

        let summary = handler(&bucket.store(), event()).await.unwrap();

        assert!(summary.complete, "{:?}", summary.problems);
        assert_eq!((summary.users_checked, summary.emails_sent), (45, 2));
        assert_eq!(summary.secret_reads, 3);
        assert_eq!(
            summary.full_summary,
            format!("s3://work/{}", run().key(files::SUMMARY))
        );
        let full: Summary = bucket.get(&run().key(files::SUMMARY)).unwrap();
        assert_eq!(full.emails_sent.len(), 2);
        assert_eq!(full.emails_sent[1].subject, "second");
        assert_eq!(
            summary.emails_rerouted, 1,
            "the second notice went to the admins"
        );
    }

    #[tokio::test]
    async fn a_suppressed_super_admin_address_is_a_problem_so_the_run_fails_visibly() {
        use warden_core::suppression::{Suppression, SuppressionReason};
        let bucket = bucket();
        let super_admin = include_str!("../../../test-events/users/SFTPSuperAdmin.json");
        let address = warden_core::AdminDirectory::from_secrets([("SFTPSuperAdmin", super_admin)])
            .super_admin_emails()[0]
            .clone();
        let admins = AdminDirectory::from_secrets([("SFTPSuperAdmin", super_admin)])
            .with_suppressions(
                vec![Suppression {
                    address: address.clone(),
                    reason: SuppressionReason::Bounce,
                    since: chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
                }]
                .into(),
            );
        bucket.put(&run().key(files::ADMINS), &admins);

        let summary = handler(&bucket.store(), event()).await.unwrap();

        assert!(!summary.complete);
        assert_eq!(summary.problems_total, 1, "{:?}", summary.problems);
        assert!(
            summary.problems[0].starts_with(&format!(
                "SuperAdmin SFTPSuperAdmin gets no mail at {address} bounced"
            )),
            "{}",
            summary.problems[0]
        );
        assert!(summary.problems[0].contains("since 2026-11-02"));
    }

    #[tokio::test]
    async fn a_batch_without_a_report_and_an_email_without_an_outcome_are_problems() {
        let bucket = bucket();
        // As if batch 1 and the second email had failed after their retries.
        bucket.remove(&run().numbered(files::REPORTS, 1));
        bucket.remove(&run().numbered(files::SENT, 1));

        let summary = handler(&bucket.store(), event()).await.unwrap();

        assert!(!summary.complete);
        assert_eq!(summary.users_checked, 25);
        assert_eq!(summary.problems_total, 2, "{:?}", summary.problems);
        assert!(summary.problems[0].starts_with("20 users were not checked"));
        assert!(summary.problems[1].contains("\"second\" to ops@bank.example was not sent"));
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        let listed = warden_core::registry::function("summarise-run").unwrap();
        let err = SummariseError::Work(WorkError::Missing { key: "k".into() });
        assert!(listed.reports(err.name()));
    }
}
