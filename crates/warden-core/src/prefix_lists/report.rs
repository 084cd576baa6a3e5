//! What a sync run reports. "Read every user's CIDRs" leaves [`UsersRead`] in the work bucket;
//! each family's branch of the state machine ends with a [`FamilyRun`] (counts and per-list
//! state, no CIDR lists) and leaves its [`PlanRecord`] and step outcomes in the work bucket;
//! [`summarise`] folds them all into the full [`SyncSummary`] (kept in the work bucket), and
//! [`report`] into the bounded one the execution output and a `Fail` cause carry, with the email
//! to the SuperAdmins when anything is wrong (DESIGN.md section 4: prefix-list problems are
//! system problems).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{AddressFamily, ListWork, Overflow, StepFailure, StepOutcome, Withheld};
use crate::notify::{Email, EmailKind, MAX_RECIPIENTS_PER_EMAIL};
use crate::text::{escape_unsafe, truncate};
use crate::trigger::Trigger;
use crate::work::WorkFile;

/// Longest error cause quoted in a problem line.
const MAX_CAUSE_CHARS: usize = 300;
/// Most CIDRs named in one problem line (the rest are counted).
const MAX_CIDRS_NAMED: usize = 20;
/// Unreadable users named in a problem line (the rest are counted).
const MAX_UNREADABLE_NAMED: usize = 50;
/// What the bounded summary shows: lists, problems, notes, and their lengths.
pub const MAX_LISTS_SHOWN: usize = 20;
pub const MAX_PROBLEMS_SHOWN: usize = 20;
const MAX_NOTES_SHOWN: usize = 10;
const MAX_PROBLEM_CHARS: usize = 500;
const MAX_NOTE_CHARS: usize = 300;
const MAX_NAME_CHARS: usize = 100;
/// The bounded summary stays below this many bytes of JSON: a `Fail` cause holds 32,768
/// characters, and the summary is the cause of a run that is out of sync.
pub const MAX_BOUNDED_BYTES: usize = 30_000;
/// Emails to the SuperAdmins per run (50 recipients each): they travel inline in the state.
const MAX_EMAILS: usize = 4;

/// What "read every user's CIDRs" found (the work bucket's [`super::files::USERS`]); the
/// desired CIDRs themselves are one file per family ([`super::files::desired`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UsersRead {
    pub trigger: Option<Trigger>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// An operator's `maxRemovalShare` for this run (events never carry one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_removal_share: Option<f64>,
    pub users_read: usize,
    pub secret_reads: usize,
    /// `username (error code)` of every secret that could not be read.
    pub unreadable: Vec<String>,
    /// The SuperAdmins' valid addresses: who hears of problems.
    pub super_admins: Vec<String>,
}

/// What "read every user's CIDRs" returns to the state: counts only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsersCounted {
    pub trigger: Option<Trigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub users_read: usize,
    pub users_unreadable: usize,
    pub secret_reads: usize,
    pub super_admin_addresses: usize,
    /// Desired CIDRs per family.
    pub desired: BTreeMap<AddressFamily, usize>,
}

impl UsersRead {
    pub fn counted(&self, desired: BTreeMap<AddressFamily, usize>) -> UsersCounted {
        UsersCounted {
            trigger: self.trigger,
            event: self.event.clone(),
            users_read: self.users_read,
            users_unreadable: self.unreadable.len(),
            secret_reads: self.secret_reads,
            super_admin_addresses: self.super_admins.len(),
            desired,
        }
    }
}

/// A family's plan apart from its steps (the work bucket's [`super::files::plan`]): what only
/// the summary needs, however long.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanRecord {
    pub family: AddressFamily,
    pub desired: usize,
    #[serde(default)]
    pub overflow: Vec<Overflow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removals_withheld: Option<Withheld>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale_descriptions: Vec<IpNet>,
}

impl PlanRecord {
    pub fn of(family: AddressFamily, plan: &super::Plan) -> PlanRecord {
        PlanRecord {
            family,
            desired: plan.desired,
            overflow: plan.overflow.clone(),
            removals_withheld: plan.removals_withheld.clone(),
            stale_descriptions: plan.stale_descriptions.clone(),
        }
    }
}

/// One branch of the state machine, as the state carries it: the plan's counts, then each
/// list's [`ListWork`] as the write steps and the confirmation left it. Bounded by the number
/// of lists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FamilyRun {
    pub family: AddressFamily,
    /// The plan could not be made (after the state machine's retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<StepFailure>,
    /// The lists' final state could not be confirmed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_failure: Option<StepFailure>,
    /// Desired CIDRs of the family.
    #[serde(default)]
    pub desired: usize,
    /// Desired CIDRs no list has room for (named in the plan file).
    #[serde(default)]
    pub overflow: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removals_withheld: Option<Withheld>,
    #[serde(default)]
    pub stale_descriptions: usize,
    /// EC2 calls made by the plan and the confirmation (the write steps count their own).
    #[serde(default)]
    pub reads: usize,
    #[serde(default)]
    pub lists: Vec<ListWork>,
}

impl FamilyRun {
    pub fn new(family: AddressFamily) -> FamilyRun {
        FamilyRun {
            family,
            failure: None,
            confirm_failure: None,
            desired: 0,
            overflow: 0,
            removals_withheld: None,
            stale_descriptions: 0,
            reads: 0,
            lists: Vec::new(),
        }
    }

    /// The state's view of a plan: counts, and each list with nothing done yet.
    pub fn planned(family: AddressFamily, plan: &super::Plan, reads: usize) -> FamilyRun {
        FamilyRun {
            desired: plan.desired,
            overflow: plan.overflow.len(),
            removals_withheld: plan.removals_withheld.clone(),
            stale_descriptions: plan.stale_descriptions.len(),
            reads,
            lists: plan.lists.iter().map(ListWork::of_plan).collect(),
            ..FamilyRun::new(family)
        }
    }
}

/// Everything the summary is made of: the state's part and the work bucket's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SummaryInput {
    /// The change was to a secret that is not an SFTP user: nothing to do.
    pub ignored: Option<StepFailure>,
    /// The secrets could not be read at all: neither family was synced.
    pub failure: Option<StepFailure>,
    pub users: Option<UsersRead>,
    pub families: Vec<FamilyRun>,
    pub plans: Vec<PlanRecord>,
    pub outcomes: Vec<StepOutcome>,
}

/// EC2 calls of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calls {
    pub reads: usize,
    pub writes: usize,
}

/// What happened to one list: every CIDR (the full summary).
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

/// The full summary of a run (the work bucket's [`super::files::SUMMARY`]).
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

/// One list in the bounded summary: counts and the first few CIDRs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCounts {
    pub family: AddressFamily,
    pub id: String,
    pub name: String,
    pub entries: usize,
    pub max_entries: usize,
    pub added: usize,
    pub removed: usize,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_added: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_added: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_removed: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub steps_not_done: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The execution's output (and a failed run's cause): counts, the first few of everything, and
/// where the full summary is. Under [`MAX_BOUNDED_BYTES`] whatever the run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BoundedSummary {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    pub in_sync: bool,
    pub lists_total: usize,
    /// At most [`MAX_LISTS_SHOWN`]: changed or failed lists first.
    pub lists: Vec<ListCounts>,
    pub overflow: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_overflow: Vec<OverflowOutcome>,
    pub ec2_calls: Calls,
    pub secret_reads: usize,
    pub users_read: usize,
    pub problems_total: usize,
    pub problems: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// `s3://…/summary.json`: every CIDR added, removed and overflowing, every problem.
    pub full_summary: String,
}

/// The output of "summarise the sync".
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    pub summary: BoundedSummary,
    /// To the SuperAdmins, when there are problems (always present: the ASL reads it).
    pub emails: Vec<Email>,
}

/// Folds a run into its full summary.
pub fn summarise(input: &SummaryInput) -> SyncSummary {
    let mut lists = Vec::new();
    let mut overflow = Vec::new();
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    let mut calls = Calls::default();
    let users = input.users.clone().unwrap_or_default();
    if let Some(ignored) = &input.ignored {
        notes.push(format!("nothing to do: {}", cause(ignored)));
    }
    if let Some(failure) = &input.failure {
        problems.push(format!(
            "the IPv4 and IPv6 lists were not synced: the users' CIDRs could not be read: {}",
            describe_failure(failure)
        ));
    }
    if !users.unreadable.is_empty() {
        let named: Vec<&str> = users
            .unreadable
            .iter()
            .take(MAX_UNREADABLE_NAMED)
            .map(String::as_str)
            .collect();
        let more = users.unreadable.len().saturating_sub(MAX_UNREADABLE_NAMED);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        problems.push(format!(
            "the secrets of {} could not be read, so their CIDRs are unknown: {}{more}",
            count(users.unreadable.len(), "user"),
            escape_unsafe(&named.join(", "), 2_000)
        ));
    }
    let mut outcomes: BTreeMap<(AddressFamily, &str), Vec<&StepOutcome>> = BTreeMap::new();
    for outcome in &input.outcomes {
        outcomes
            .entry((outcome.family, outcome.list.as_str()))
            .or_default()
            .push(outcome);
    }
    for run in &input.families {
        let family = run.family;
        calls.reads += run.reads;
        if let Some(failure) = &run.failure {
            problems.push(format!(
                "the {family} lists were not synced: {}",
                describe_failure(failure)
            ));
            continue;
        }
        match &run.removals_withheld {
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
        let record = input.plans.iter().find(|p| p.family == family);
        let family_overflow = record.map(|r| r.overflow.as_slice()).unwrap_or_default();
        if !family_overflow.is_empty() || run.overflow > 0 {
            let named: Vec<String> = family_overflow
                .iter()
                .map(|o| format!("{} ({})", o.cidr, o.users.join(", ")))
                .collect();
            problems.push(format!(
                "{family}: {} fit in no prefix list whose name contains the marker: {}. Raise a list's MaxEntries or add another managed list",
                count(family_overflow.len().max(run.overflow), "CIDR"),
                name_some(&named)
            ));
            overflow.extend(family_overflow.iter().map(|o| OverflowOutcome {
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
        let stale = record
            .map(|r| r.stale_descriptions.len())
            .unwrap_or(run.stale_descriptions);
        if stale > 0 {
            notes.push(format!(
                "{family}: {} kept with a description that no longer names exactly its users (EC2 cannot rewrite a description in place)",
                count(stale, "entry")
            ));
        }
        for list in &run.lists {
            calls.reads += list.reads;
            calls.writes += list.writes;
            let mut done = outcomes
                .remove(&(family, list.id.as_str()))
                .unwrap_or_default();
            done.sort_by_key(|o| o.step);
            let added: Vec<IpNet> = done.iter().flat_map(|o| o.added.iter().copied()).collect();
            let removed: Vec<IpNet> = done
                .iter()
                .flat_map(|o| o.removed.iter().copied())
                .collect();
            let not_added: Vec<IpNet> = done
                .iter()
                .flat_map(|o| o.not_added.iter().map(|e| e.cidr))
                .collect();
            let label = format!("{} ({})", escape_unsafe(&list.name, 255), list.id);
            if !not_added.is_empty() || list.not_added > 0 {
                let named: Vec<String> = not_added.iter().map(ToString::to_string).collect();
                problems.push(format!(
                    "{family}: {} did not fit in {label} when written: {}",
                    count(not_added.len().max(list.not_added), "CIDR"),
                    name_some(&named)
                ));
            }
            if let Some(failure) = &list.failure {
                problems.push(format!(
                    "{family}: {label} could not be changed ({} not done): {}",
                    count(list.steps_not_done(), "step"),
                    describe_failure(failure)
                ));
            }
            lists.push(ListOutcome {
                family,
                id: list.id.clone(),
                name: list.name.clone(),
                entries: list.entries,
                max_entries: list.max_entries,
                added,
                removed,
                not_added,
                steps_not_done: list.steps_not_done(),
                error: list.failure.as_ref().map(|f| f.error.clone()),
            });
        }
    }
    if !problems.is_empty() && users.super_admins.is_empty() {
        problems.push(
            "nobody could be told about these problems: no SuperAdmin has a valid email address"
                .to_owned(),
        );
    }
    SyncSummary {
        trigger: users.trigger,
        event: users.event.clone(),
        in_sync: problems.is_empty(),
        lists,
        overflow,
        ec2_calls: calls,
        secret_reads: users.secret_reads,
        users_read: users.users_read,
        problems,
        notes,
    }
}

impl SyncSummary {
    /// The bounded summary of this one, which is kept at `full`.
    pub fn bounded(&self, full: &WorkFile) -> BoundedSummary {
        // Lists that changed or failed first: those are what a person looks for.
        let mut order: Vec<&ListOutcome> = self.lists.iter().collect();
        order.sort_by_key(|l| {
            l.added.is_empty()
                && l.removed.is_empty()
                && l.not_added.is_empty()
                && l.error.is_none()
        });
        let lists = order
            .into_iter()
            .take(MAX_LISTS_SHOWN)
            .map(|l| ListCounts {
                family: l.family,
                id: truncate(&l.id, MAX_NAME_CHARS),
                name: truncate(&l.name, MAX_NAME_CHARS),
                entries: l.entries,
                max_entries: l.max_entries,
                added: l.added.len(),
                removed: l.removed.len(),
                not_added: l.not_added.len(),
                first_added: l.added.iter().take(super::FIRST_SHOWN).copied().collect(),
                first_removed: l.removed.iter().take(super::FIRST_SHOWN).copied().collect(),
                steps_not_done: l.steps_not_done,
                error: l.error.as_ref().map(|e| truncate(e, MAX_NAME_CHARS)),
            })
            .collect();
        let mut problems: Vec<String> = self
            .problems
            .iter()
            .take(MAX_PROBLEMS_SHOWN)
            .map(|p| truncate(p, MAX_PROBLEM_CHARS))
            .collect();
        if self.problems.len() > MAX_PROBLEMS_SHOWN {
            problems.push(format!(
                "… and {} more problems in the full summary",
                self.problems.len() - MAX_PROBLEMS_SHOWN
            ));
        }
        let mut notes: Vec<String> = self
            .notes
            .iter()
            .take(MAX_NOTES_SHOWN)
            .map(|n| truncate(n, MAX_NOTE_CHARS))
            .collect();
        if self.notes.len() > MAX_NOTES_SHOWN {
            notes.push(format!("… and {} more", self.notes.len() - MAX_NOTES_SHOWN));
        }
        let mut bounded = BoundedSummary {
            trigger: self.trigger,
            event: self.event.as_ref().map(|e| truncate(e, 300)),
            in_sync: self.in_sync,
            lists_total: self.lists.len(),
            lists,
            overflow: self.overflow.len(),
            first_overflow: self
                .overflow
                .iter()
                .take(super::FIRST_SHOWN)
                .map(|o| OverflowOutcome {
                    family: o.family,
                    cidr: o.cidr,
                    users: o
                        .users
                        .iter()
                        .take(super::FIRST_SHOWN)
                        .map(|u| truncate(u, MAX_NAME_CHARS))
                        .collect(),
                })
                .collect(),
            ec2_calls: self.ec2_calls,
            secret_reads: self.secret_reads,
            users_read: self.users_read,
            problems_total: self.problems.len(),
            problems,
            notes,
            full_summary: full.uri(),
        };
        // The caps above keep it near 25 KB at worst; should a later change grow a field, the
        // cause still fits: the least telling parts go first.
        while bounded.size() > MAX_BOUNDED_BYTES {
            if bounded.lists.pop().is_some()
                || bounded.notes.pop().is_some()
                || bounded.first_overflow.pop().is_some()
                || bounded.problems.pop().is_some()
            {
                continue;
            }
            break;
        }
        bounded
    }
}

impl BoundedSummary {
    /// Bytes of its JSON (at least its characters: what a `Fail` cause counts).
    pub fn size(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len())
    }
}

/// The bounded summary of `summary` (kept at `full`) and, when there are problems, the
/// SuperAdmins' email.
pub fn report(summary: &SyncSummary, full: &WorkFile, super_admins: &[String]) -> SyncReport {
    let mut bounded = summary.bounded(full);
    let mut addresses: Vec<String> = super_admins.to_vec();
    addresses.sort();
    addresses.dedup();
    let emails = if bounded.problems.is_empty() || addresses.is_empty() {
        Vec::new()
    } else {
        let most = MAX_EMAILS * MAX_RECIPIENTS_PER_EMAIL;
        if addresses.len() > most {
            bounded.notes.push(format!(
                "{} SuperAdmin addresses beyond the first {most} were not mailed",
                addresses.len() - most
            ));
            addresses.truncate(most);
        }
        super_admin_emails(&bounded, &addresses)
    };
    SyncReport {
        summary: bounded,
        emails,
    }
}

/// Names the problems (bounded), what changed (counts) and where the full summary is: a few
/// kilobytes whatever the run did, so the emails can travel in the state.
fn super_admin_emails(summary: &BoundedSummary, super_admins: &[String]) -> Vec<Email> {
    let subject = match summary.problems_total {
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
    let changed: Vec<&ListCounts> = summary
        .lists
        .iter()
        .filter(|l| l.added + l.removed > 0)
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
                escape_unsafe(&list.name, MAX_NAME_CHARS),
                list.id,
                list.added,
                list.removed,
                list.entries,
                list.max_entries
            );
        }
    }
    let _ = writeln!(body);
    let _ = writeln!(
        body,
        "Every CIDR added, removed or left out, and every problem: {}",
        summary.full_summary
    );
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
            html: None,
            address_holders: Vec::new(),
            rerouted: false,
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
