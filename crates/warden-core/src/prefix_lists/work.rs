//! One list's share of a run, as it moves through the state machine: the steps still to do
//! and what the done ones changed. Each write Lambda takes a `ListWork`, does its first step
//! and returns it with that step recorded.

use std::collections::BTreeSet;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{ListInfo, NewEntry};

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

/// One managed list during a run.
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
    /// Steps still to do, in order: removals first (they make room), then additions.
    #[serde(default)]
    pub pending: Vec<Step>,
    #[serde(default)]
    pub added: Vec<IpNet>,
    #[serde(default)]
    pub removed: Vec<IpNet>,
    /// Entries that were to be added here but did not fit when written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_added: Vec<NewEntry>,
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
    pub fn new(info: &ListInfo, entries: usize, pending: Vec<Step>) -> ListWork {
        ListWork {
            id: info.id.clone(),
            name: info.name.clone(),
            max_entries: info.max_entries,
            version: info.version.unwrap_or_default(),
            entries,
            pending,
            added: Vec::new(),
            removed: Vec::new(),
            not_added: Vec::new(),
            reads: 0,
            writes: 0,
            final_state: None,
            failure: None,
        }
    }

    /// Room left at the known version.
    pub fn free(&self) -> usize {
        self.max_entries.saturating_sub(self.entries)
    }

    /// Whether the run changed (or tried to change) the list.
    pub fn was_written(&self) -> bool {
        self.writes > 0
    }

    /// Adopts what a fresh read says about the list (a rename by someone else included: the
    /// next write passes the name unchanged, never back).
    pub fn reread(&mut self, info: &ListInfo, entries: usize) {
        self.name = info.name.clone();
        self.version = info.version.unwrap_or(self.version);
        self.max_entries = info.max_entries;
        self.entries = entries;
    }

    /// Records a successful removal of `cidrs` that took the list to `version`, and drops the
    /// first pending step.
    pub fn removed_batch(&mut self, cidrs: Vec<IpNet>, version: i64) {
        self.entries = self.entries.saturating_sub(cidrs.len());
        self.version = version;
        self.removed.extend(cidrs);
        self.finish_step();
    }

    /// Records the outcome of an addition step: `added` went in (taking the list to
    /// `version`, when there was a write), `not_fitting` did not, and drops the first step.
    pub fn added_batch(
        &mut self,
        added: Vec<NewEntry>,
        not_fitting: Vec<NewEntry>,
        version: Option<i64>,
    ) {
        self.entries += added.len();
        if let Some(version) = version {
            self.version = version;
        }
        self.added.extend(added.into_iter().map(|e| e.cidr));
        self.not_added.extend(not_fitting);
        self.finish_step();
    }

    /// Drops the first pending step (done, or nothing left to do for it).
    pub fn finish_step(&mut self) {
        if !self.pending.is_empty() {
            self.pending.remove(0);
        }
    }
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
