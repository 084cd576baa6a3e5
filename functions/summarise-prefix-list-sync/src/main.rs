//! Summarise a prefix-list sync: reads what the run left in the work bucket (who was read, each
//! family's plan, every step's outcome) next to the IPv4 and IPv6 branches' state, keeps the
//! full summary (every CIDR added, removed and left out) in the work bucket, and returns the
//! bounded one — counts per list, the first few CIDRs, the problems, where the full summary is —
//! with, when anything needs a person, the email to the SuperAdmins. The bounded summary stays
//! under 30,000 bytes whatever the run did, so a `Fail` cause carries it whole.
//!
//! When there is something to mail, the SuperAdmins' addresses on SES's suppression list are left
//! out (a note says which); if none is left, the run's problems say nobody could be told.

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use warden_aws::suppression::Suppressions;
use warden_aws::work::{WorkError, WorkStore};
use warden_core::prefix_lists::report::{
    FamilyRun, PlanRecord, SummaryInput, SyncReport, UsersRead, report, summarise,
};
use warden_core::prefix_lists::{StepFailure, StepOutcome, files};
use warden_core::work::Run;
use warden_core::{ErrorName, Named};

/// The state as the state machine hands it over: the run, and either both families' branches,
/// or why there are none.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SummariseRequest {
    run: Run,
    #[serde(default)]
    families: Vec<FamilyRun>,
    /// The change was to a secret that is not an SFTP user.
    #[serde(default)]
    ignored: Option<StepFailure>,
    /// The users' CIDRs could not be read.
    #[serde(default)]
    failure: Option<StepFailure>,
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
    suppressions: &Suppressions,
    event: LambdaEvent<SummariseRequest>,
) -> Result<SyncReport, SummariseError> {
    let SummariseRequest {
        run,
        families,
        ignored,
        failure,
    } = event.payload;
    let users: Option<UsersRead> = if ignored.is_some() || failure.is_some() {
        None
    } else {
        optional(work, &run.key(files::USERS)).await?
    };
    let mut plans = Vec::new();
    for family in families.iter().filter(|f| f.failure.is_none()) {
        let plan: Option<PlanRecord> = optional(work, &files::plan(&run, family.family)).await?;
        plans.extend(plan);
    }
    let outcomes: Vec<StepOutcome> = work
        .get_all(&run.set_prefix(files::OUTCOMES))
        .await?
        .into_iter()
        .map(|(_, outcome)| outcome)
        .collect();
    let super_admins = users
        .as_ref()
        .map(|u| u.super_admins.clone())
        .unwrap_or_default();
    let mut summary = summarise(&SummaryInput {
        ignored,
        failure,
        users,
        families,
        plans,
        outcomes,
    });
    let super_admins = if summary.problems.is_empty() || super_admins.is_empty() {
        super_admins
    } else {
        deliverable(
            suppressions,
            super_admins,
            &mut summary.notes,
            &mut summary.problems,
        )
        .await
    };
    let full = work.put_json(&run.key(files::SUMMARY), &summary).await?;
    warden_lambda::emit_metrics(warden_core::metrics::prefix_list_sync(
        &summary,
        warden_lambda::now_ms(),
    ));
    let report = report(&summary, &full, &super_admins);
    for list in &report.summary.lists {
        tracing::info!(
            family = list.family.as_str(),
            list = %list.id,
            name = %list.name,
            added = list.added,
            removed = list.removed,
            entries = list.entries,
            max_entries = list.max_entries,
            "Prefix list synced"
        );
    }
    for problem in &summary.problems {
        tracing::error!(problem = %problem, "Step 3.8 : Prefix-list sync problem for the SuperAdmins");
    }
    tracing::info!(
        in_sync = summary.in_sync,
        ec2_reads = summary.ec2_calls.reads,
        ec2_writes = summary.ec2_calls.writes,
        secret_reads = summary.secret_reads,
        emails = report.emails.len(),
        s3_calls = work.calls(),
        full_summary = %full.uri(),
        "Prefix-list sync summarised"
    );
    Ok(report)
}

/// The SuperAdmin addresses mail may go to: those not on SES's suppression list. A list that
/// cannot be read leaves them all (SES drops a suppressed recipient itself; the report must not
/// be lost for it), with a note.
async fn deliverable(
    suppressions: &Suppressions,
    addresses: Vec<String>,
    notes: &mut Vec<String>,
    problems: &mut Vec<String>,
) -> Vec<String> {
    match suppressions.read_all().await {
        Ok((list, _)) => {
            let (deliverable, suppressed) = list.partition(&addresses);
            for entry in &suppressed {
                notes.push(format!(
                    "not mailed to SuperAdmin address {}",
                    entry.sentence()
                ));
            }
            if deliverable.is_empty() {
                problems.push(
                    "nobody could be told about these problems: every SuperAdmin address is on SES's suppression list"
                        .to_owned(),
                );
            }
            deliverable
        }
        Err(e) => {
            tracing::warn!(error = %e, "SES's suppression list could not be read; every SuperAdmin address is mailed");
            notes.push(format!("SES's suppression list could not be read ({e}); every SuperAdmin address was mailed"));
            addresses
        }
    }
}

/// A file a failed or skipped step never wrote reads as nothing.
async fn optional<T: DeserializeOwned>(
    work: &WorkStore,
    key: &str,
) -> Result<Option<T>, WorkError> {
    match work.get_json(key).await {
        Ok(value) => Ok(Some(value)),
        Err(WorkError::Missing { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let aws = warden_lambda::aws_config().await;
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    let suppressions = Suppressions::from_config(&aws);
    run(service_fn(|event| handler(&work, &suppressions, event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use serde_json::{Value, json};
    use warden_aws::work::fake::FakeBucket;
    use warden_core::prefix_lists::AddressFamily;

    /// SES's suppression list holding these addresses.
    fn suppressed(addresses: &[&str]) -> Suppressions {
        warden_aws::suppression::fake::listing(addresses)
    }

    fn run() -> Run {
        Run {
            state_machine: "prefix-list-sync".into(),
            execution: "x".into(),
        }
    }

    /// The work bucket as a run with one IPv4 list leaves it: users read, both plans, and
    /// what `steps` did to `pl-a`.
    fn bucket(steps: &[Value]) -> FakeBucket {
        let bucket = FakeBucket::new();
        bucket.put(
            &run().key(files::USERS),
            &json!({"trigger": "secretChange", "event": "PutSecretValue of SFTP/bank1",
                    "usersRead": 3, "secretReads": 1, "unreadable": [],
                    "superAdmins": ["root@ops.example.com"]}),
        );
        for family in AddressFamily::ALL {
            bucket.put(
                &files::plan(&run(), family),
                &json!({"family": family, "desired": 1, "overflow": []}),
            );
        }
        for (n, outcome) in steps.iter().enumerate() {
            bucket.put(
                &files::outcome(&run(), AddressFamily::V4, "pl-a", n),
                outcome,
            );
        }
        bucket
    }

    /// The state after the Parallel: the run and both families' branches.
    fn state(v4_lists: Value) -> LambdaEvent<SummariseRequest> {
        let input = json!({"run": run(), "olderSyncs": {"older": 0}, "users": {"usersRead": 3},
        "families": [
            {"family": "IPv4", "reads": 2, "lists": v4_lists},
            {"family": "IPv6", "reads": 1, "lists": []}
        ]});
        LambdaEvent::new(serde_json::from_value(input).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn the_output_counts_per_list_what_was_added_and_removed_and_the_full_summary_names_it() {
        let bucket = bucket(&[
            json!({"family": "IPv4", "list": "pl-a", "step": 0, "removed": ["2.2.2.2/32"], "version": 5}),
            json!({"family": "IPv4", "list": "pl-a", "step": 1, "added": ["1.1.1.1/32"], "version": 6}),
        ]);
        let lists = json!([{"id": "pl-a", "name": "a-AUTOMATED_PREFIX", "maxEntries": 10,
            "version": 6, "entries": 2, "removeSteps": 1, "addSteps": 1, "done": 2, "next": "done",
            "added": 1, "removed": 1, "writes": 2, "finalState": "modify-complete"}]);

        let report = handler(&bucket.store(), &suppressed(&[]), state(lists))
            .await
            .unwrap();

        let summary = serde_json::to_value(&report.summary).unwrap();
        assert_eq!(summary["inSync"], true);
        assert_eq!(summary["event"], "PutSecretValue of SFTP/bank1");
        assert_eq!(summary["lists"][0]["added"], 1);
        assert_eq!(summary["lists"][0]["firstAdded"], json!(["1.1.1.1/32"]));
        assert_eq!(summary["lists"][0]["removed"], 1);
        assert_eq!(summary["lists"][0]["firstRemoved"], json!(["2.2.2.2/32"]));
        assert_eq!(summary["ec2Calls"], json!({"reads": 3, "writes": 2}));
        assert_eq!(
            summary["fullSummary"],
            "s3://work/runs/prefix-list-sync/x/summary.json"
        );
        assert!(report.emails.is_empty());
        let full: Value = bucket.get(&run().key(files::SUMMARY)).unwrap();
        assert_eq!(full["lists"][0]["added"], json!(["1.1.1.1/32"]));
        assert_eq!(full["lists"][0]["removed"], json!(["2.2.2.2/32"]));
    }

    #[tokio::test]
    async fn a_failed_list_is_mailed_to_the_super_admins_once() {
        let bucket = bucket(&[]);
        let lists = json!([{"id": "pl-a", "name": "a-AUTOMATED_PREFIX", "maxEntries": 10,
            "version": 5, "entries": 2, "addSteps": 1, "done": 0, "next": "add",
            "failure": {"Error": "PrefixListBusy", "Cause": "{\"errorType\":\"PrefixListBusy\",\"errorMessage\":\"prefix list pl-a is still applying a change\"}"}}]);

        let report = handler(&bucket.store(), &suppressed(&[]), state(lists))
            .await
            .unwrap();

        assert!(!report.summary.in_sync);
        assert_eq!(report.emails.len(), 1);
        assert_eq!(report.emails[0].to, ["root@ops.example.com"]);
        assert!(
            report.emails[0]
                .body
                .contains("prefix list pl-a is still applying a change"),
            "{}",
            report.emails[0].body
        );
        assert!(
            report.emails[0]
                .body
                .contains("s3://work/runs/prefix-list-sync/x/summary.json")
        );
    }

    #[tokio::test]
    async fn a_suppressed_super_admin_address_is_not_mailed_and_if_none_is_left_nobody_is_told() {
        let lists = json!([{"id": "pl-a", "name": "a-AUTOMATED_PREFIX", "maxEntries": 10,
            "version": 5, "entries": 2, "addSteps": 1, "done": 0, "next": "add",
            "failure": {"Error": "PrefixListBusy", "Cause": "busy"}}]);

        let report = handler(
            &bucket(&[]).store(),
            &suppressed(&["root@ops.example.com"]),
            state(lists),
        )
        .await
        .unwrap();

        assert!(report.emails.is_empty(), "{:?}", report.emails);
        assert!(
            report
                .summary
                .notes
                .iter()
                .any(|n| n
                    .starts_with("not mailed to SuperAdmin address root@ops.example.com bounced")),
            "{:?}",
            report.summary.notes
        );
        assert!(
            report
                .summary
                .problems
                .iter()
                .any(|p| p.contains("every SuperAdmin address is on SES's suppression list"))
        );
    }

    #[tokio::test]
    async fn a_change_that_needs_no_sync_is_summarised_without_reading_anything_but_the_outcomes() {
        let input = json!({"run": run(), "olderSyncs": {"older": 0},
            "ignored": {"Error": "NotAnSftpUser", "Cause": "prod/db is not an SFTP user secret"}});
        let bucket = FakeBucket::new();

        let report = handler(
            &bucket.store(),
            &suppressed(&[]),
            LambdaEvent::new(serde_json::from_value(input).unwrap(), Context::default()),
        )
        .await
        .unwrap();

        assert!(report.summary.in_sync);
        assert_eq!(report.summary.ec2_calls.writes, 0);
        assert!(report.summary.notes[0].contains("not an SFTP user"));
    }

    #[tokio::test]
    async fn users_that_could_not_be_read_leave_the_run_out_of_sync() {
        let input = json!({"run": run(), "olderSyncs": {"older": 0},
            "failure": {"Error": "SecretsAccessDenied", "Cause": "{\"errorMessage\":\"not allowed\"}"}});
        let bucket = FakeBucket::new();

        let report = handler(
            &bucket.store(),
            &suppressed(&[]),
            LambdaEvent::new(serde_json::from_value(input).unwrap(), Context::default()),
        )
        .await
        .unwrap();

        assert!(!report.summary.in_sync);
        assert!(report.summary.problems[0].contains("not allowed"));
        assert!(
            report.summary.problems[1].contains("nobody could be told"),
            "{:?}",
            report.summary.problems
        );
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        let listed = warden_core::registry::function("summarise-prefix-list-sync").unwrap();
        let err = SummariseError::Work(WorkError::Missing { key: "x".into() });
        assert!(listed.reports(err.name()));
        for name in warden_core::registry::WORK_ERRORS {
            assert!(listed.reports(*name), "{name}");
        }
    }
}
