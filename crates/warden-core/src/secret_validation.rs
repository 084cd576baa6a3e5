//! The secret-validation run (DESIGN.md sections 3 and 4): the JSON that flows between the
//! states of its state machine, and the pure steps that produce it — how the users are batched,
//! which emails the findings make, what the run reports at the end.
//!
//! Every type here is one state's input or output; field names are camelCase because the ASL
//! addresses them with JSONPath.

use crate::admins::{AdminDirectory, UnreadableAdmin};
use crate::notify::{Email, EmailKind};
use crate::suppression::Suppression;
use crate::trigger::{Request, Scope, Trigger};
use crate::user::Role;
use crate::validation::{Rule, UserReport};
use crate::work::{Run, WorkFile};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The files of a validation run in the work bucket, under the run's prefix
/// ([`crate::work::Run::prefix`]).
pub mod files {
    /// The whole [`super::Plan`].
    pub const PLAN: &str = "plan.json";
    /// The batches of usernames, a JSON array of arrays: the validation Map's `ItemReader`.
    pub const BATCHES: &str = "batches.json";
    /// The [`crate::AdminDirectory`].
    pub const ADMINS: &str = "admins.json";
    /// One [`super::BatchResult`] per batch, numbered as the batches.
    pub const REPORTS: &str = "reports";
    /// One [`crate::Email`] per email, numbered.
    pub const EMAILS: &str = "emails";
    /// The emails to send, a JSON array of [`super::EmailRef`]: the send Map's `ItemReader`.
    pub const EMAIL_INDEX: &str = "emails.json";
    /// One [`super::SendOutcome`] per email sent (or refused), numbered as the emails.
    pub const SENT: &str = "sent";
    /// The users with findings nobody can be told about (a JSON array of usernames).
    pub const UNROUTED: &str = "unrouted.json";
    /// The full [`super::Summary`].
    pub const SUMMARY: &str = "summary.json";
}

/// What the bounded outputs show of a list before "and N more".
pub const SHOWN: usize = 10;

/// Users per validation batch: one `BatchGetSecretValue` call reads at most 20 secrets.
pub const BATCH_SIZE: usize = 20;

/// The output of "list the users": the batches to validate and the admins to load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub trigger: Trigger,
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub notify_source_systems: bool,
    pub as_of: NaiveDate,
    /// SFTP users found in Secrets Manager, before scope and exclusions.
    pub users_listed: usize,
    pub batches: Vec<Vec<String>>,
    pub admin_names: Vec<String>,
    /// Why nothing (or less than asked) is checked, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Batches the listed users for a request. Excluded users are never checked.
pub fn plan(
    request: Request,
    prefix: &str,
    mut usernames: Vec<String>,
    excluded: &[String],
    today: NaiveDate,
) -> Plan {
    usernames.sort();
    usernames.dedup();
    let users_listed = usernames.len();
    let admin_names: Vec<String> = usernames
        .iter()
        .filter(|u| Role::of(u) != Role::User)
        .cloned()
        .collect();
    let mut notes = Vec::new();
    let is_excluded = |u: &str| excluded.iter().any(|e| e == u);
    let in_scope: Vec<String> = match &request.scope {
        Scope::User { username } if !usernames.contains(username) => {
            notes.push(format!(
                "{prefix}{username} no longer exists (deleted); there is nothing to validate"
            ));
            Vec::new()
        }
        Scope::User { username } => vec![username.clone()],
        Scope::Users { usernames: named } => {
            let exists = |name: &String| usernames.binary_search(name).is_ok();
            let gone: Vec<&str> = named
                .iter()
                .filter(|n| !exists(n))
                .map(String::as_str)
                .collect();
            if !gone.is_empty() {
                notes.push(format!(
                    "{} no longer exist (deleted); there is nothing to validate for them: {}",
                    gone.len(),
                    first_few(&gone)
                ));
            }
            if named.iter().any(|n| Role::of(n).is_admin() && exists(n)) {
                // An admin's users are only known once their secrets are read.
                usernames
            } else {
                named.iter().filter(|n| exists(n)).cloned().collect()
            }
        }
        // Which users name the admin is only known once their secrets are read.
        Scope::All | Scope::Group { .. } => usernames,
    };
    let (skipped, kept): (Vec<String>, Vec<String>) =
        in_scope.into_iter().partition(|u| is_excluded(u));
    if !skipped.is_empty() {
        notes.push(format!(
            "excluded from checks by configuration: {}",
            skipped.join(", ")
        ));
    }
    Plan {
        trigger: request.trigger,
        scope: request.scope,
        event: request.event,
        notify_source_systems: request.notify_source_systems,
        as_of: request.as_of.unwrap_or(today),
        users_listed,
        batches: kept.chunks(BATCH_SIZE).map(<[String]>::to_vec).collect(),
        admin_names,
        notes,
    }
}

/// At most [`SHOWN`] names, then how many more: what a note or the bounded summary shows.
fn first_few(names: &[&str]) -> String {
    let shown = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    match names.len().saturating_sub(SHOWN) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The plan as the state carries it: what the run checks, counts, and the file of batches the
/// validation Map reads. The whole plan is in [`files::PLAN`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    pub trigger: Trigger,
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub notify_source_systems: bool,
    pub as_of: NaiveDate,
    pub users_listed: usize,
    pub users_to_check: usize,
    pub batches: usize,
    pub admins: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub batches_file: WorkFile,
}

impl Plan {
    /// The plan as the state carries it, its batches kept in `batches_file`. Notes are capped:
    /// at most [`SHOWN`] of them.
    pub fn summary(&self, batches_file: WorkFile) -> PlanSummary {
        PlanSummary {
            trigger: self.trigger,
            scope: self.scope.clone(),
            event: self.event.clone(),
            notify_source_systems: self.notify_source_systems,
            as_of: self.as_of,
            users_listed: self.users_listed,
            users_to_check: self.batches.iter().map(Vec::len).sum(),
            batches: self.batches.len(),
            admins: self.admin_names.len(),
            notes: bounded_lines(&self.notes),
            batches_file,
        }
    }
}

/// At most [`SHOWN`] lines of at most 300 characters, then how many more.
fn bounded_lines(lines: &[String]) -> Vec<String> {
    let mut shown: Vec<String> = lines
        .iter()
        .take(SHOWN)
        .map(|l| crate::text::truncate(l, 300))
        .collect();
    if lines.len() > SHOWN {
        shown.push(format!("… and {} more", lines.len() - SHOWN));
    }
    shown
}

/// What "load the admins" leaves in the state; the directory is in [`files::ADMINS`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdminsLoaded {
    pub admins: usize,
    /// SuperAdmins with at least one valid address: the run can tell someone about anything.
    pub super_admin_addresses: usize,
    pub file: WorkFile,
}

/// The input of "validate a batch of users" (one child of the validation Map).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInput {
    pub run: Run,
    /// The batch's number: its place in [`files::BATCHES`] and the number of its report.
    pub batch: usize,
    pub usernames: Vec<String>,
    pub scope: Scope,
    pub as_of: NaiveDate,
}

/// What a batch returns to the state (its report is in [`files::REPORTS`]): counts only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchCounts {
    pub batch: usize,
    pub checked: usize,
    pub with_findings: usize,
    pub key_notices: usize,
    pub unreadable: usize,
    pub missing: usize,
    pub secret_reads: usize,
}

impl BatchCounts {
    pub fn of(batch: usize, result: &BatchResult) -> Self {
        Self {
            batch,
            checked: result.checked,
            with_findings: result
                .reports
                .iter()
                .filter(|r| !r.findings.is_empty())
                .count(),
            key_notices: result.reports.iter().map(|r| r.key_notices.len()).sum(),
            unreadable: result.unreadable.len(),
            missing: result.missing.len(),
            secret_reads: result.secret_reads,
        }
    }
}

/// A secret that could not be read, by error code only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFailure {
    pub username: String,
    pub error: String,
}

/// One batch's report ([`files::REPORTS`]): only users with findings or key notices are kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchResult {
    pub checked: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<ReadFailure>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<UserReport>,
    pub secret_reads: usize,
}

/// The input of "write the emails".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestInput {
    pub batches: Vec<BatchResult>,
    pub admins: AdminDirectory,
    pub notify_source_systems: bool,
}

/// One email to send, as the send Map's items name it: its number and its file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailRef {
    pub index: usize,
    pub key: String,
}

/// What "write the emails" leaves in the state; the emails are in [`files::EMAILS`] and the
/// list of them in [`files::EMAIL_INDEX`] (absent when there is nothing to send).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestsWritten {
    pub emails: usize,
    pub finding_digests: usize,
    pub key_expiry_notices: usize,
    /// Users with findings nobody can be told about (no SuperAdmin has a valid address).
    pub unrouted: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_unrouted: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails_file: Option<WorkFile>,
}

impl DigestsWritten {
    pub fn of(digests: &Digests, emails_file: Option<WorkFile>) -> Self {
        let notices = digests
            .emails
            .iter()
            .filter(|e| e.kind == EmailKind::KeyExpiry)
            .count();
        Self {
            emails: digests.emails.len(),
            finding_digests: digests.emails.len() - notices,
            key_expiry_notices: notices,
            unrouted: digests.unrouted.len(),
            first_unrouted: digests.unrouted.iter().take(SHOWN).cloned().collect(),
            emails_file,
        }
    }
}

/// The output of "write the emails".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Digests {
    pub emails: Vec<Email>,
    /// Users with findings that nobody can be told about (no SuperAdmin has a valid address).
    /// Always present: the state machine addresses it with JSONPath.
    pub unrouted: Vec<String>,
}

/// The emails a run sends: one findings digest per recipient set, then (weekly only) the
/// source-system key expiry notices.
pub fn emails_for(input: &DigestInput, excluded: &[String]) -> Digests {
    let reports: Vec<UserReport> = input
        .batches
        .iter()
        .flat_map(|b| b.reports.iter().cloned())
        .collect();
    let mut emails = crate::notify::finding_digests(&reports, &input.admins);
    if input.notify_source_systems {
        emails.extend(crate::notify::key_expiry_notices(
            &reports,
            &input.admins,
            excluded,
        ));
    }
    let mut unrouted: Vec<String> = reports
        .iter()
        .filter(|r| !r.findings.is_empty())
        .filter(|r| crate::notify::finding_recipients(r, &input.admins).is_empty())
        .map(|r| r.username.clone())
        .collect();
    if input.notify_source_systems {
        unrouted.extend(
            reports
                .iter()
                .filter(|r| {
                    crate::notify::notice_recipients(r, &input.admins, excluded)
                        .is_some_and(|n| n.to.is_empty())
                })
                .map(|r| r.username.clone()),
        );
        unrouted.sort();
        unrouted.dedup();
    }
    Digests { emails, unrouted }
}

/// What became of one email (filled in by send-email, or by the state machine's Catch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendOutcome {
    pub kind: EmailKind,
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A key notice sent to the admins because the partner's addresses are suppressed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rerouted: bool,
}

/// The input of "summarise the run".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryInput {
    pub plan: Plan,
    pub batches: Vec<BatchResult>,
    #[serde(default)]
    pub unrouted: Vec<String>,
    #[serde(default)]
    pub sent: Vec<SendOutcome>,
    /// Batches whose report is missing (the batch failed after its retries): their usernames.
    #[serde(default)]
    pub missing_batches: Vec<Vec<String>>,
    /// Emails written but with no outcome (the send failed after its retries).
    #[serde(default)]
    pub unsent: Vec<SentEmail>,
    /// SuperAdmin addresses on the SES suppression list, as `(username, entry)`.
    #[serde(default)]
    pub suppressed_super_admins: Vec<(String, Suppression)>,
    /// Admins whose secrets could not be read this run.
    #[serde(default)]
    pub unreadable_admins: Vec<UnreadableAdmin>,
}

/// One email as the summary lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentEmail {
    pub kind: EmailKind,
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    pub subject: String,
}

/// The execution's output: what an operator reads to know what the run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub trigger: Trigger,
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub as_of: NaiveDate,
    pub source_system_notices: bool,
    pub users_checked: usize,
    pub users_with_findings: Vec<String>,
    /// Keyed `"<n> <title>"` (e.g. `"3 email delimiter"`), so the JSON reads in rule order.
    pub findings_per_rule: BTreeMap<String, usize>,
    pub keys_due_for_rotation: usize,
    /// Keys due whose deadline (`refuseAfter`) is on or before the run's date.
    #[serde(default)]
    pub keys_overdue: usize,
    pub secret_reads: usize,
    pub emails_sent: Vec<SentEmail>,
    /// Emails that were not sent (refused, or failed after their retries).
    #[serde(default)]
    pub emails_failed: usize,
    /// Key notices that went to the admins because every address of the partner is suppressed.
    #[serde(default)]
    pub emails_rerouted: usize,
    /// Everything that went wrong, one sentence each. Empty means the run is complete.
    pub problems: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub complete: bool,
}

/// Folds the batch results and send outcomes into the run's summary.
pub fn summarise(input: &SummaryInput) -> Summary {
    let mut findings_per_rule = BTreeMap::new();
    let mut users_with_findings = Vec::new();
    let mut keys_due_for_rotation = 0;
    let mut keys_overdue = 0;
    let mut problems = Vec::new();
    let mut notes = input.plan.notes.clone();
    for batch in &input.batches {
        for report in &batch.reports {
            if !report.findings.is_empty() {
                users_with_findings.push(report.username.clone());
            }
            for finding in &report.findings {
                *findings_per_rule.entry(rule_key(finding.rule)).or_insert(0) += 1;
            }
            keys_due_for_rotation += report.key_notices.len();
            keys_overdue += report
                .key_notices
                .iter()
                .filter(|n| n.refuse_after <= input.plan.as_of)
                .count();
        }
        for missing in &batch.missing {
            notes.push(format!("{missing} disappeared before it could be read"));
        }
        for failure in &batch.unreadable {
            problems.push(format!(
                "the secret of {} could not be read ({})",
                failure.username, failure.error
            ));
        }
    }
    users_with_findings.sort();
    for usernames in &input.missing_batches {
        let names: Vec<&str> = usernames.iter().map(String::as_str).collect();
        problems.push(format!(
            "{} users were not checked (their batch failed after its retries): {}",
            usernames.len(),
            first_few(&names)
        ));
    }
    for email in &input.unsent {
        problems.push(format!(
            "the email {:?} to {} was not sent (it failed after its retries)",
            email.subject,
            email.to.join(", ")
        ));
    }
    if !input.unrouted.is_empty() {
        problems.push(format!(
            "nobody could be told about the findings or key notices of {}: no SuperAdmin has a deliverable email address",
            input.unrouted.join(", ")
        ));
    }
    for admin in &input.unreadable_admins {
        problems.push(format!(
            "the secret of admin {} could not be read ({}): its users were checked without it, and their findings and notices went to the SuperAdmins",
            admin.username, admin.error
        ));
    }
    for (username, suppression) in &input.suppressed_super_admins {
        problems.push(format!(
            "SuperAdmin {username} gets no mail at {}: fix the address, then `sftp-warden mail unsuppress`",
            suppression.sentence()
        ));
    }
    let mut emails_sent = Vec::new();
    let mut emails_rerouted = 0;
    let emails_failed =
        input.unsent.len() + input.sent.iter().filter(|o| o.error.is_some()).count();
    for outcome in &input.sent {
        emails_rerouted += usize::from(outcome.rerouted && outcome.error.is_none());
        match &outcome.error {
            None => emails_sent.push(SentEmail {
                kind: outcome.kind,
                to: outcome.to.clone(),
                cc: outcome.cc.clone(),
                subject: outcome.subject.clone(),
            }),
            Some(error) => problems.push(format!(
                "the email {:?} to {} was not sent ({error})",
                outcome.subject,
                outcome.to.join(", ")
            )),
        }
    }
    Summary {
        trigger: input.plan.trigger,
        scope: input.plan.scope.clone(),
        event: input.plan.event.clone(),
        as_of: input.plan.as_of,
        source_system_notices: input.plan.notify_source_systems,
        users_checked: input.batches.iter().map(|b| b.checked).sum(),
        users_with_findings,
        findings_per_rule,
        keys_due_for_rotation,
        keys_overdue,
        secret_reads: input.batches.iter().map(|b| b.secret_reads).sum(),
        emails_sent,
        emails_failed,
        emails_rerouted,
        complete: problems.is_empty(),
        problems,
        notes,
    }
}

/// The summary as the execution output carries it: counts, the first few names, at most
/// [`MAX_PROBLEMS_SHOWN`] problems, and where the full summary is. Always far below the 32 KiB a
/// `Fail` state's cause may hold, whatever the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub trigger: Trigger,
    pub scope: Scope,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub as_of: NaiveDate,
    pub source_system_notices: bool,
    pub users_checked: usize,
    pub users_with_findings: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_users_with_findings: Vec<String>,
    pub findings_per_rule: BTreeMap<String, usize>,
    pub keys_due_for_rotation: usize,
    #[serde(default)]
    pub keys_overdue: usize,
    pub secret_reads: usize,
    pub emails_sent: usize,
    #[serde(default)]
    pub emails_failed: usize,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub emails_sent_by_kind: BTreeMap<String, usize>,
    /// Key notices sent to the admins because the partner's addresses are suppressed.
    #[serde(default)]
    pub emails_rerouted: usize,
    pub problems_total: usize,
    pub problems: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    pub complete: bool,
    /// `s3://…/summary.json`: every user with findings, every email, every problem.
    pub full_summary: String,
}

/// Problems the bounded summary lists; the rest are counted (all are in the full summary).
pub const MAX_PROBLEMS_SHOWN: usize = 20;

impl Summary {
    /// The bounded summary of this one, which is kept at `full`.
    pub fn bounded(&self, full: &WorkFile) -> RunSummary {
        let mut emails_sent_by_kind = BTreeMap::new();
        for email in &self.emails_sent {
            *emails_sent_by_kind.entry(kind_key(email.kind)).or_insert(0) += 1;
        }
        let mut problems: Vec<String> = self
            .problems
            .iter()
            .take(MAX_PROBLEMS_SHOWN)
            .map(|p| crate::text::truncate(p, 400))
            .collect();
        if self.problems.len() > MAX_PROBLEMS_SHOWN {
            problems.push(format!(
                "… and {} more problems in the full summary",
                self.problems.len() - MAX_PROBLEMS_SHOWN
            ));
        }
        let scope = match &self.scope {
            Scope::Users { usernames } if usernames.len() > SHOWN => Scope::Users {
                usernames: usernames.iter().take(SHOWN).cloned().collect(),
            },
            scope => scope.clone(),
        };
        RunSummary {
            trigger: self.trigger,
            scope,
            event: self.event.clone(),
            as_of: self.as_of,
            source_system_notices: self.source_system_notices,
            users_checked: self.users_checked,
            users_with_findings: self.users_with_findings.len(),
            first_users_with_findings: self
                .users_with_findings
                .iter()
                .take(SHOWN)
                .cloned()
                .collect(),
            findings_per_rule: self.findings_per_rule.clone(),
            keys_due_for_rotation: self.keys_due_for_rotation,
            keys_overdue: self.keys_overdue,
            secret_reads: self.secret_reads,
            emails_sent: self.emails_sent.len(),
            emails_failed: self.emails_failed,
            emails_sent_by_kind,
            emails_rerouted: self.emails_rerouted,
            problems_total: self.problems.len(),
            problems,
            notes: bounded_lines(&self.notes),
            complete: self.complete,
            full_summary: full.uri(),
        }
    }
}

fn kind_key(kind: EmailKind) -> String {
    kind.as_str().to_owned()
}

fn rule_key(rule: Rule) -> String {
    format!("{} {}", rule.number(), rule.title())
}

#[cfg(test)]
mod tests;
