//! What a sync run reports: one [`FamilyRun`] per address family comes out of each branch of the
//! state machine; [`summarise`] folds them into the execution's output and, when anything is
//! wrong, the email to the SuperAdmins (DESIGN.md section 4: prefix-list problems are system
//! problems).

use std::fmt::Write as _;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{AddressFamily, Plan, StepFailure, Withheld};
use crate::notify::{Email, EmailKind, MAX_RECIPIENTS_PER_EMAIL};
use crate::text::escape_unsafe;
use crate::trigger::Trigger;

/// Longest error cause quoted in a problem line.
const MAX_CAUSE_CHARS: usize = 300;
/// Most CIDRs named in one problem line (the rest are counted).
const MAX_CIDRS_NAMED: usize = 20;

/// One branch of the state machine: the plan of one family and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FamilyRun {
    pub family: AddressFamily,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The change was to a secret that is not an SFTP user: nothing to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<StepFailure>,
    /// The plan could not be made (after the state machine's retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<StepFailure>,
    /// The lists' final state could not be confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_failure: Option<StepFailure>,
    #[serde(default)]
    pub users_read: usize,
    /// `username (error code)` of the secrets that could not be read (the first 50 named).
    #[serde(default)]
    pub unreadable: Vec<String>,
    /// How many secrets could not be read.
    #[serde(default)]
    pub users_unreadable: usize,
    #[serde(default)]
    pub super_admins: Vec<String>,
    /// EC2 calls made by the plan and the confirmation (the write steps count their own).
    #[serde(default)]
    pub reads: usize,
    #[serde(default)]
    pub secret_reads: usize,
    #[serde(flatten)]
    pub plan: Plan,
}

impl FamilyRun {
    pub fn new(family: AddressFamily) -> FamilyRun {
        FamilyRun {
            family,
            trigger: None,
            event: None,
            ignored: None,
            failure: None,
            confirm_failure: None,
            users_read: 0,
            unreadable: Vec::new(),
            users_unreadable: 0,
            super_admins: Vec::new(),
            reads: 0,
            secret_reads: 0,
            plan: Plan::default(),
        }
    }
}

/// The input of "summarise the sync": the Parallel state's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SummaryInput {
    pub families: Vec<FamilyRun>,
}

/// EC2 calls of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    pub reads: usize,
    pub writes: usize,
}

/// What happened to one list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOutcome {
    pub family: AddressFamily,
    pub id: String,
    pub name: String,
    /// Entries and room after the run, as far as the run knows.
    pub entries: usize,
    pub max_entries: usize,
    pub added: Vec<IpNet>,
    pub removed: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_added: Vec<IpNet>,
    /// Steps that were planned but not done (the list failed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps_not_done: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A CIDR no list has room for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverflowOutcome {
    pub family: AddressFamily,
    pub cidr: IpNet,
    pub users: Vec<String>,
}

/// The execution's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Every list holds exactly what the secrets ask for, and nothing went wrong.
    pub in_sync: bool,
    pub lists: Vec<ListOutcome>,
    pub overflow: Vec<OverflowOutcome>,
    pub ec2_calls: Calls,
    pub secret_reads: usize,
    pub users_read: usize,
    /// Everything that needs a person, one sentence each.
    pub problems: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The output of "summarise the sync".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub summary: SyncSummary,
    /// To the SuperAdmins, when there are problems (always present: the ASL reads it).
    pub emails: Vec<Email>,
}

/// Folds the families' runs into the summary and the SuperAdmins' email.
pub fn summarise(input: &SummaryInput) -> SyncReport {
    let mut lists = Vec::new();
    let mut overflow = Vec::new();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut calls = Calls::default();
    let mut super_admins: Vec<String> = Vec::new();
    let first = input.families.iter().find(|f| f.trigger.is_some());
    for run in &input.families {
        let family = run.family;
        calls.reads += run.reads;
        super_admins.extend(run.super_admins.iter().cloned());
        if let Some(ignored) = &run.ignored {
            notes.push(format!("{family}: nothing to do: {}", cause(ignored)));
            continue;
        }
        if let Some(failure) = &run.failure {
            problems.push(format!(
                "the {family} lists were not synced: {}",
                describe_failure(failure)
            ));
            continue;
        }
        if !run.unreadable.is_empty() {
            problems.push(format!(
                "{family}: the secrets of {} could not be read, so their CIDRs are unknown: {}",
                count(run.users_unreadable.max(run.unreadable.len()), "user"),
                escape_unsafe(&run.unreadable.join(", "), 1_000)
            ));
        }
        match &run.plan.removals_withheld {
            Some(Withheld::PartialRead { removals, .. }) => problems.push(format!(
                "{family}: {} no secret asks for were kept, because removing on partial information could lock out a user whose secret was not read",
                count(*removals, "entry")
            )),
            Some(Withheld::TooManyRemovals {
                removals,
                entries,
                max_share,
            }) => problems.push(format!(
                "{family}: the run was refused: it would remove {removals} of {entries} entries, more than the allowed {:.0}%. Nothing was removed. If the removals are intended (check the secrets first), start the sync by hand with {{\"mode\": \"all\", \"maxRemovalShare\": 1}}",
                max_share * 100.0
            )),
            None => {}
        }
        if !run.plan.overflow.is_empty() {
            let named: Vec<String> = run
                .plan
                .overflow
                .iter()
                .map(|o| format!("{} ({})", o.cidr, o.users.join(", ")))
                .collect();
            problems.push(format!(
                "{family}: {} fit in no prefix list whose name contains the marker: {}. Raise a list's MaxEntries or add another managed list",
                count(run.plan.overflow.len(), "CIDR"),
                name_some(&named)
            ));
            overflow.extend(run.plan.overflow.iter().map(|o| OverflowOutcome {
                family,
                cidr: o.cidr,
                users: o.users.clone(),
            }));
        }
        if let Some(failure) = &run.confirm_failure {
            problems.push(format!(
                "{family}: the run could not confirm that its changes were applied: {}",
                describe_failure(failure)
            ));
        }
        if !run.plan.stale_descriptions.is_empty() {
            notes.push(format!(
                "{family}: {} kept with a description that no longer names exactly its users (EC2 cannot rewrite a description in place)",
                count(run.plan.stale_descriptions.len(), "entry")
            ));
        }
        for list in &run.plan.lists {
            calls.reads += list.reads;
            calls.writes += list.writes;
            let label = format!("{} ({})", escape_unsafe(&list.name, 255), list.id);
            if !list.not_added.is_empty() {
                let named: Vec<String> =
                    list.not_added.iter().map(|e| e.cidr.to_string()).collect();
                problems.push(format!(
                    "{family}: {} did not fit in {label} when written: {}",
                    count(list.not_added.len(), "CIDR"),
                    name_some(&named)
                ));
            }
            if let Some(failure) = &list.failure {
                problems.push(format!(
                    "{family}: {label} could not be changed ({} not done): {}",
                    count(list.pending.len(), "step"),
                    describe_failure(failure)
                ));
            }
            lists.push(ListOutcome {
                family,
                id: list.id.clone(),
                name: list.name.clone(),
                entries: list.entries,
                max_entries: list.max_entries,
                added: list.added.clone(),
                removed: list.removed.clone(),
                not_added: list.not_added.iter().map(|e| e.cidr).collect(),
                steps_not_done: list.pending.len(),
                error: list.failure.as_ref().map(|f| f.error.clone()),
            });
        }
    }
    super_admins.sort();
    super_admins.dedup();
    let mut summary = SyncSummary {
        trigger: first.and_then(|f| f.trigger),
        event: first.and_then(|f| f.event.clone()),
        in_sync: problems.is_empty(),
        lists,
        overflow,
        ec2_calls: calls,
        secret_reads: input.families.iter().map(|f| f.secret_reads).sum(),
        users_read: input
            .families
            .iter()
            .map(|f| f.users_read)
            .max()
            .unwrap_or(0),
        problems,
        notes,
    };
    let emails = if summary.problems.is_empty() {
        Vec::new()
    } else if super_admins.is_empty() {
        summary.problems.push(
            "nobody could be told about these problems: no SuperAdmin has a valid email address"
                .to_owned(),
        );
        Vec::new()
    } else {
        super_admin_emails(&summary, &super_admins)
    };
    SyncReport { summary, emails }
}

fn super_admin_emails(summary: &SyncSummary, super_admins: &[String]) -> Vec<Email> {
    let subject = match summary.problems.len() {
        1 => "sftp-warden: the SFTP allow-lists need attention (1 problem)".to_owned(),
        n => format!("sftp-warden: the SFTP allow-lists need attention ({n} problems)"),
    };
    let mut body = String::new();
    let _ = writeln!(
        body,
        "sftp-warden keeps the EC2 prefix lists that allow partners to reach the SFTP endpoint in line with the CIDRs in their secrets."
    );
    if let Some(event) = &summary.event {
        let _ = writeln!(
            body,
            "This run was started by: {}.",
            escape_unsafe(event, 200)
        );
    }
    let _ = writeln!(body);
    let _ = writeln!(body, "What needs attention:");
    for problem in &summary.problems {
        let _ = writeln!(body, "  - {problem}");
    }
    let changed: Vec<&ListOutcome> = summary
        .lists
        .iter()
        .filter(|l| !l.added.is_empty() || !l.removed.is_empty())
        .collect();
    let _ = writeln!(body);
    if changed.is_empty() {
        let _ = writeln!(body, "No list was changed by this run.");
    } else {
        let _ = writeln!(body, "What this run changed:");
        for list in changed {
            let _ = writeln!(
                body,
                "  - {} {} ({}): {} added, {} removed; {} of {} entries used",
                list.family,
                escape_unsafe(&list.name, 255),
                list.id,
                list.added.len(),
                list.removed.len(),
                list.entries,
                list.max_entries
            );
        }
    }
    let _ = writeln!(body);
    let _ = writeln!(
        body,
        "The sync runs again on every change to an SFTP/ secret and weekly; fixed problems clear on the next run."
    );
    super_admins
        .chunks(MAX_RECIPIENTS_PER_EMAIL)
        .map(|to| Email {
            kind: EmailKind::PrefixLists,
            to: to.to_vec(),
            cc: Vec::new(),
            subject: subject.clone(),
            body: body.clone(),
        })
        .collect()
}

fn describe_failure(failure: &StepFailure) -> String {
    let cause = cause(failure);
    if cause.is_empty() {
        escape_unsafe(&failure.error, 100)
    } else {
        format!("{} ({cause})", escape_unsafe(&failure.error, 100))
    }
}

/// A caught error's cause: Lambda errors arrive as `{"errorType", "errorMessage"}` JSON.
fn cause(failure: &StepFailure) -> String {
    let message = serde_json::from_str::<serde_json::Value>(&failure.cause)
        .ok()
        .and_then(|v| v.get("errorMessage")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| failure.cause.clone());
    escape_unsafe(&message, MAX_CAUSE_CHARS)
}

fn count(n: usize, noun: &str) -> String {
    match (n, noun) {
        (1, _) => format!("1 {noun}"),
        (_, "entry") => format!("{n} entries"),
        _ => format!("{n} {noun}s"),
    }
}

fn name_some(items: &[String]) -> String {
    let shown = items
        .iter()
        .take(MAX_CIDRS_NAMED)
        .map(|s| escape_unsafe(s, 300))
        .collect::<Vec<_>>()
        .join(", ");
    match items.len().saturating_sub(MAX_CIDRS_NAMED) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}
