//! The secret-validation run (DESIGN.md sections 3 and 4): the JSON that flows between the
//! states of its state machine, and the pure steps that produce it — how the users are batched,
//! which emails the findings make, what the run reports at the end.
//!
//! Every type here is one state's input or output; field names are camelCase because the ASL
//! addresses them with JSONPath.

use crate::admins::AdminDirectory;
use crate::notify::{Email, EmailKind};
use crate::trigger::{Request, Scope, Trigger};
use crate::user::Role;
use crate::validation::{Rule, UserReport};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// The input of "validate a batch of users" (one Map iteration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInput {
    pub usernames: Vec<String>,
    pub admins: AdminDirectory,
    pub scope: Scope,
    pub as_of: NaiveDate,
}

/// A secret that could not be read, by error code only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadFailure {
    pub username: String,
    pub error: String,
}

/// A whole batch that failed after its retries (filled in by the state machine's Catch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchFailure {
    pub usernames: Vec<String>,
    pub error: String,
    #[serde(default)]
    pub cause: String,
}

/// The output of one Map iteration: compact, so that 10,000 users fit the 256 KiB payload.
/// Only reports with findings or key notices are kept.
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<BatchFailure>,
}

/// The input of "write the emails".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DigestInput {
    pub batches: Vec<BatchResult>,
    pub admins: AdminDirectory,
    pub notify_source_systems: bool,
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
    let unrouted = reports
        .iter()
        .filter(|r| !r.findings.is_empty())
        .filter(|r| crate::notify::finding_recipients(r, &input.admins).is_empty())
        .map(|r| r.username.clone())
        .collect();
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
    pub secret_reads: usize,
    pub emails_sent: Vec<SentEmail>,
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
        if let Some(failure) = &batch.failure {
            problems.push(format!(
                "{} users were not checked ({}): {}",
                failure.usernames.len(),
                failure.error,
                failure.usernames.join(", ")
            ));
        }
    }
    users_with_findings.sort();
    if !input.unrouted.is_empty() {
        problems.push(format!(
            "nobody could be told about the findings of {}: no SuperAdmin has a valid email address",
            input.unrouted.join(", ")
        ));
    }
    let mut emails_sent = Vec::new();
    for outcome in &input.sent {
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
        secret_reads: input.batches.iter().map(|b| b.secret_reads).sum(),
        emails_sent,
        complete: problems.is_empty(),
        problems,
        notes,
    }
}

fn rule_key(rule: Rule) -> String {
    format!("{} {}", rule.number(), rule.title())
}

#[cfg(test)]
mod tests;
