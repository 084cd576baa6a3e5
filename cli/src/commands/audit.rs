//! `audit`: the weekly validation run without the email. It takes the validation workflow's
//! steps with the same functions: list the users and plan the batches (`secret_validation::plan`), load the
//! admins, validate each batch of 20 (`validate_user`), work out who would be told
//! (`secret_validation::emails_for`, nothing sent) and summarise (`secret_validation::summarise`). Its summary is
//! the execution output of a `{"mode": "all"}` run on the same users, minus the emails.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use warden_core::notify::finding_recipients;
use warden_core::secret_validation::{
    self, BatchResult, DigestInput, ReadFailure, Summary, SummaryInput,
};
use warden_core::trigger::{Request, Scope, Trigger};
use warden_core::validation::{UserReport, validate_user};

use super::{Outcome, directory, load_admins, out, out_json};
use crate::args::{AuditArgs, Format};
use crate::aws::Aws;
use crate::plan::today_utc;
use crate::progress;
use crate::report;

/// One user's report with the addresses its findings would go to.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    #[serde(flatten)]
    report: UserReport,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    told: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AuditReport {
    summary: Summary,
    /// Users with findings or key notices (as the workflow keeps them).
    reports: Vec<Entry>,
}

pub async fn run(prefix: &str, args: AuditArgs) -> Result<Outcome> {
    let rules = args.rules.rules()?;
    let mut excluded = crate::args::environment().excluded_users();
    excluded.extend(args.exclude.iter().cloned());
    let today = today_utc();
    let aws = Aws::from_env(prefix).await;
    let users = aws.secrets.users();

    let usernames = users
        .list_usernames()
        .await
        .context("listing the SFTP users")?;
    let request = Request {
        trigger: Trigger::Manual,
        scope: Scope::All,
        event: None,
        notify_source_systems: false,
        as_of: args.as_of,
    };
    let plan = secret_validation::plan(request, prefix, usernames, &excluded, today);
    let admin_secrets = load_admins(&aws.secrets, &plan.admin_names).await?;
    let (suppressed, _) = aws
        .suppressions
        .read_all()
        .await
        .context("reading SES's suppression list")?;
    let admins = directory(&admin_secrets).with_suppressions(suppressed);

    let bar = progress::bar(plan.batches.iter().map(Vec::len).sum(), "Validating users");
    let mut batches = Vec::new();
    for batch in &plan.batches {
        let read = users
            .read_batch(batch)
            .await
            .context("reading a batch of users")?;
        let mut result = BatchResult {
            secret_reads: read.calls,
            missing: read.missing,
            unreadable: read
                .errors
                .into_iter()
                .map(|e| ReadFailure {
                    username: e.username,
                    error: e.error,
                })
                .collect(),
            ..BatchResult::default()
        };
        for secret in &read.secrets {
            let report = validate_user(
                &secret.username,
                secret.secret.expose(),
                &admins,
                &rules,
                plan.as_of,
            );
            result.checked += 1;
            if !report.findings.is_empty() || !report.key_notices.is_empty() {
                result.reports.push(report);
            }
        }
        bar.inc(batch.len() as u64);
        batches.push(result);
    }
    bar.finish_and_clear();

    let digests = secret_validation::emails_for(
        &DigestInput {
            batches: batches.clone(),
            admins: admins.clone(),
            notify_source_systems: false,
        },
        &excluded,
    );
    let entries: Vec<Entry> = batches
        .iter()
        .flat_map(|b| b.reports.iter().cloned())
        .map(|report| Entry {
            told: if report.findings.is_empty() {
                Vec::new()
            } else {
                finding_recipients(&report, &admins)
            },
            report,
        })
        .collect();
    let summary = secret_validation::summarise(&SummaryInput {
        plan,
        batches,
        unrouted: digests.unrouted,
        sent: Vec::new(),
        missing_batches: Vec::new(),
        unsent: Vec::new(),
        suppressed_super_admins: admins
            .suppressed_super_admin_addresses()
            .into_iter()
            .map(|(username, entry)| (username.to_owned(), entry.clone()))
            .collect(),
        unreadable_admins: admins.unreadable.clone(),
    });

    let with_findings = !summary.users_with_findings.is_empty();
    let problems = summary.problems.clone();
    match args.output.output {
        Format::Json => out_json(&AuditReport {
            summary,
            reports: entries,
        })?,
        Format::Table => print_tables(&summary, &entries),
    }
    if !problems.is_empty() {
        bail!("the audit is incomplete: {}", problems.join("; "));
    }
    Ok(Outcome::from_findings(with_findings))
}

fn print_tables(summary: &Summary, entries: &[Entry]) {
    let pairs: Vec<(UserReport, Vec<String>)> = entries
        .iter()
        .map(|e| (e.report.clone(), e.told.clone()))
        .collect();
    if !summary.users_with_findings.is_empty() {
        out(format!(
            "Findings ({} users; as of {}):",
            summary.users_with_findings.len(),
            summary.as_of
        ));
        out(report::render(&report::findings(&pairs, true)));
    }
    if summary.keys_due_for_rotation > 0 {
        out(format!(
            "Keys due for rotation ({}):",
            summary.keys_due_for_rotation
        ));
        out(report::render(&report::key_notices(&pairs)));
    }
    let per_rule: Vec<String> = summary
        .findings_per_rule
        .iter()
        .map(|(rule, n)| format!("rule {rule}: {n}"))
        .collect();
    out(format!(
        "{} users checked, {} with findings{}; {} keys due for rotation; {} secret reads.",
        summary.users_checked,
        summary.users_with_findings.len(),
        if per_rule.is_empty() {
            String::new()
        } else {
            format!(" ({})", per_rule.join(", "))
        },
        summary.keys_due_for_rotation,
        summary.secret_reads
    ));
    for note in &summary.notes {
        out(format!("Note: {note}"));
    }
    for problem in &summary.problems {
        out(format!("Problem: {problem}"));
    }
}
