//! One list's share of a run. The plan decides every step of a list ([`ListPlan`]); the steps
//! themselves are files of the work bucket, and what travels through the state machine is the
//! list's [`ListWork`]: its id, version and counts, and the kind of its next step — bounded by
//! the number of lists, never by the number of CIDRs. Each write Lambda reads the step the
//! `ListWork` points at, does it, writes what it did ([`StepOutcome`]) and returns the
//! `ListWork` one step further.

use std::collections::BTreeSet;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{AddressFamily, ListInfo, NewEntry};
use crate::work::Run;

/// CIDRs a bounded output names per list and direction (the rest are counted).
pub const FIRST_SHOWN: usize = 5;

/// One `ModifyManagedPrefixList` call: at most 100 entries, either all removed or all added.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    Remove(Vec<IpNet>),
    Add(Vec<NewEntry>),
}

impl Step {
    pub fn len(&self) -> usize {
        match self {
            Step::Remove(cidrs) => cidrs.len(),
            Step::Add(entries) => entries.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An error the state machine caught (its `Catch` output: `{"Error", "Cause"}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFailure {
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// One managed list as the plan leaves it: its steps in order, removals first (they make room),
/// then additions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPlan {
    pub id: String,
    pub name: String,
    pub max_entries: usize,
    /// The version the plan read: the first write's `CurrentVersion`.
    pub version: i64,
    /// Entries at that version.
    pub entries: usize,
    pub pending: Vec<Step>,
}

impl ListPlan {
    pub fn new(info: &ListInfo, entries: usize, pending: Vec<Step>) -> ListPlan {
        ListPlan {
            id: info.id.clone(),
            name: info.name.clone(),
            max_entries: info.max_entries,
            version: info.version.unwrap_or_default(),
            entries,
            pending,
        }
    }

    fn count(&self, removal: bool) -> usize {
        self.pending
            .iter()
            .filter(|s| matches!(s, Step::Remove(_)) == removal)
            .count()
    }
}

/// What a list's next step is: what the state machine's Choice reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NextStep {
    Remove,
    Add,
    Done,
}

/// One managed list during a run, as the state carries it: no CIDR beyond the first few.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListWork {
    pub id: String,
    /// Passed unchanged on every write (a modify without a name would clear it in some emulators).
    pub name: String,
    pub max_entries: usize,
    /// The list's version as this run last knew it: the next write's `CurrentVersion`.
    pub version: i64,
    /// Entries at that version.
    pub entries: usize,
    /// Steps the plan wrote for this list: the removals come first.
    #[serde(default)]
    pub remove_steps: usize,
    #[serde(default)]
    pub add_steps: usize,
    /// Steps done: the number of the next step's file.
    #[serde(default)]
    pub done: usize,
    pub next: NextStep,
    #[serde(default)]
    pub added: usize,
    #[serde(default)]
    pub removed: usize,
    /// Entries that were to be added here but did not fit when written.
    #[serde(default)]
    pub not_added: usize,
    /// The first few CIDRs added and removed, for a person reading the state (all of them are in
    /// the step outcome files and the full summary).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_added: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_removed: Vec<IpNet>,
    /// EC2 calls made for this list by the write steps (the plan's reads are counted there).
    #[serde(default)]
    pub reads: usize,
    #[serde(default)]
    pub writes: usize,
    /// The list's state when the run confirmed it had finished changing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<StepFailure>,
}

impl ListWork {
    /// The state's view of a planned list: nothing done yet.
    pub fn of_plan(plan: &ListPlan) -> ListWork {
        let mut work = ListWork {
            id: plan.id.clone(),
            name: plan.name.clone(),
            max_entries: plan.max_entries,
            version: plan.version,
            entries: plan.entries,
            remove_steps: plan.count(true),
            add_steps: plan.count(false),
            done: 0,
            next: NextStep::Done,
            added: 0,
            removed: 0,
            not_added: 0,
            first_added: Vec::new(),
            first_removed: Vec::new(),
            reads: 0,
            writes: 0,
            final_state: None,
            failure: None,
        };
        work.next = work.next_step();
        work
    }

    /// Room left at the known version.
    pub fn free(&self) -> usize {
        self.max_entries.saturating_sub(self.entries)
    }

    /// Whether the run changed (or tried to change) the list.
    pub fn was_written(&self) -> bool {
        self.writes > 0
    }

    pub fn steps(&self) -> usize {
        self.remove_steps + self.add_steps
    }

    /// Steps planned but not done (the list failed).
    pub fn steps_not_done(&self) -> usize {
        self.steps().saturating_sub(self.done)
    }

    /// The kind of the step `done` points at: removals first, then additions.
    pub fn next_step(&self) -> NextStep {
        if self.done < self.remove_steps {
            NextStep::Remove
        } else if self.done < self.steps() {
            NextStep::Add
        } else {
            NextStep::Done
        }
    }

    /// Adopts what a fresh read says about the list (a rename by someone else included: the
    /// next write passes the name unchanged, never back).
    pub fn reread(&mut self, info: &ListInfo, entries: usize) {
        self.name = info.name.clone();
        self.version = info.version.unwrap_or(self.version);
        self.max_entries = info.max_entries;
        self.entries = entries;
    }

    /// Records a successful removal of `cidrs` that took the list to `version`, and moves on.
    pub fn removed_batch(&mut self, cidrs: &[IpNet], version: i64) {
        self.entries = self.entries.saturating_sub(cidrs.len());
        self.version = version;
        self.removed += cidrs.len();
        remember_first(&mut self.first_removed, cidrs.iter().copied());
        self.finish_step();
    }

    /// Records the outcome of an addition step: `added` went in (taking the list to
    /// `version`, when there was a write), `not_fitting` entries did not; and moves on.
    pub fn added_batch(&mut self, added: &[NewEntry], not_fitting: usize, version: Option<i64>) {
        self.entries += added.len();
        if let Some(version) = version {
            self.version = version;
        }
        self.added += added.len();
        self.not_added += not_fitting;
        remember_first(&mut self.first_added, added.iter().map(|e| e.cidr));
        self.finish_step();
    }

    /// Moves past the step `done` pointed at (done, or nothing left to do for it).
    pub fn finish_step(&mut self) {
        self.done = (self.done + 1).min(self.steps());
        self.next = self.next_step();
    }
}

fn remember_first(first: &mut Vec<IpNet>, cidrs: impl Iterator<Item = IpNet>) {
    let room = FIRST_SHOWN.saturating_sub(first.len());
    first.extend(cidrs.take(room));
}

/// The input of a write step (one iteration of the state machine's Map over a family's lists):
/// which run, which family, and the list as the last step left it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepRequest {
    pub run: Run,
    pub family: AddressFamily,
    pub list: ListWork,
}

/// What one write step did, kept in the work bucket beside the step: the full diff of a run is
/// the union of its outcomes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepOutcome {
    pub family: AddressFamily,
    pub list: String,
    pub step: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_added: Vec<NewEntry>,
    /// The list's version after the write (none when nothing was written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// How an addition batch meets a list: what to send, what is there already, what has no room.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddFit {
    pub add: Vec<NewEntry>,
    pub present: Vec<IpNet>,
    pub not_fitting: Vec<NewEntry>,
}

/// Splits `batch` against a list holding `present` with `free` room: entries already there are
/// skipped (a retried step adds nothing twice), the rest fill the room in order.
pub fn fit_additions(batch: &[NewEntry], present: &BTreeSet<IpNet>, free: usize) -> AddFit {
    let mut fit = AddFit::default();
    let mut seen = BTreeSet::new();
    for entry in batch {
        if present.contains(&entry.cidr) {
            fit.present.push(entry.cidr);
        } else if !seen.insert(entry.cidr) {
            continue;
        } else if fit.add.len() < free {
            fit.add.push(entry.clone());
        } else {
            fit.not_fitting.push(entry.clone());
        }
    }
    fit
}

/// The files of a sync run in the work bucket, under the run's prefix
/// ([`crate::work::Run::prefix`]).
pub mod files {
    use super::*;

    /// What "read every user's CIDRs" found: [`super::super::report::UsersRead`].
    pub const USERS: &str = "users.json";
    /// The full summary ([`super::super::report::SyncSummary`]).
    pub const SUMMARY: &str = "summary.json";
    /// Where every step outcome lives, whatever its family and list.
    pub const OUTCOMES: &str = "done";

    /// The desired CIDRs of a family with their users (`Vec<DesiredCidr>`).
    pub fn desired(run: &Run, family: AddressFamily) -> String {
        run.key(&format!("desired-{family}.json"))
    }

    /// A family's plan as a whole: overflow, withheld removals, stale descriptions
    /// ([`super::super::report::PlanRecord`]).
    pub fn plan(run: &Run, family: AddressFamily) -> String {
        run.key(&format!("plan-{family}.json"))
    }

    /// Step number `step` of a list: a [`Step`] of at most 100 entries.
    pub fn step(run: &Run, family: AddressFamily, list: &str, step: usize) -> String {
        run.numbered(&format!("steps/{family}/{}", segment(list)), step)
    }

    /// What step number `step` of a list did: a [`StepOutcome`].
    pub fn outcome(run: &Run, family: AddressFamily, list: &str, step: usize) -> String {
        run.numbered(&format!("{OUTCOMES}/{family}/{}", segment(list)), step)
    }

    /// EC2 list ids are `pl-` and hex; anything else still stays one key segment.
    fn segment(list: &str) -> String {
        crate::work::key_segment(list)
    }
}
