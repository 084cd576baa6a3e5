//! The allow-list sync (DESIGN.md section 5): which CIDRs the users' secrets ask for, how the
//! managed EC2 prefix lists must change to hold exactly those, and in which steps.
//!
//! Pure: the Lambdas read the lists and the secrets and do the writes; this module decides. The
//! rules it keeps:
//! * only customer-managed lists whose name contains the marker, of the run's address family,
//!   are ever changed;
//! * every desired CIDR ends in exactly one managed list, or is reported as overflow;
//! * no list is planned past its `MaxEntries`, no write carries more than 100 entries, and a
//!   write either adds or removes (never the same CIDR both ways);
//! * nothing is removed when any secret could not be read, nor when the run would remove more
//!   than the configured share of the entries;
//! * a run with nothing to change plans no write.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::text::strip_unsafe;
use crate::{Rules, UserSecret};

pub mod report;
pub mod work;

pub mod queue;

pub use work::{
    AddFit, FIRST_SHOWN, ListPlan, ListWork, NextStep, Step, StepFailure, StepOutcome, StepRequest,
    files, fit_additions,
};

/// `ModifyManagedPrefixList` takes at most this many `AddEntries` (and as many `RemoveEntries`).
pub const MAX_ENTRIES_PER_CALL: usize = 100;
/// EC2 caps an entry's description at 255 characters.
pub const MAX_DESCRIPTION_CHARS: usize = 255;
/// What a list's name must contain to be managed by the sync (the seed's `AUTOMATED_PREFIX`).
pub const DEFAULT_MARKER: &str = "AUTOMATED_PREFIX";
/// The largest share of a family's entries one run may remove before it is refused.
pub const DEFAULT_MAX_REMOVAL_SHARE: f64 = 0.5;

/// An address family, spelled as EC2 spells it (`IPv4`, `IPv6`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AddressFamily {
    #[serde(rename = "IPv4")]
    V4,
    #[serde(rename = "IPv6")]
    V6,
}

impl AddressFamily {
    pub const ALL: [AddressFamily; 2] = [AddressFamily::V4, AddressFamily::V6];

    pub fn as_str(self) -> &'static str {
        match self {
            AddressFamily::V4 => "IPv4",
            AddressFamily::V6 => "IPv6",
        }
    }

    /// EC2's `AddressFamily` value; anything else is `None`.
    pub fn parse(value: &str) -> Option<AddressFamily> {
        match value {
            "IPv4" => Some(AddressFamily::V4),
            "IPv6" => Some(AddressFamily::V6),
            _ => None,
        }
    }

    pub fn of(network: &IpNet) -> AddressFamily {
        match network {
            IpNet::V4(_) => AddressFamily::V4,
            IpNet::V6(_) => AddressFamily::V6,
        }
    }
}

impl std::fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a prefix list as read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListEntry {
    pub cidr: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// An entry to add: the CIDR and the description naming its users.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NewEntry {
    pub cidr: IpNet,
    pub description: String,
}

/// What a list's EC2 `State` means for a writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Settled: it can be read and changed (a failed modification was rolled back).
    Ready,
    /// A change is still being applied: wait, then try again.
    Busy,
    /// Failed to create, or being deleted: never touched.
    Unusable,
}

impl Readiness {
    pub fn of(state: &str) -> Readiness {
        match state {
            "create-complete" | "modify-complete" | "modify-failed" | "restore-complete"
            | "restore-failed" => Readiness::Ready,
            "create-in-progress" | "modify-in-progress" | "restore-in-progress" => Readiness::Busy,
            // create-failed, delete-*, and any state EC2 adds later: leave it alone.
            _ => Readiness::Unusable,
        }
    }
}

/// A prefix list's settings as `DescribeManagedPrefixLists` gives them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInfo {
    pub id: String,
    pub name: String,
    pub family: AddressFamily,
    /// `AWS` for AWS-managed lists.
    pub owner_id: String,
    pub max_entries: usize,
    /// `None` only for AWS-managed lists.
    pub version: Option<i64>,
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_message: Option<String>,
}

impl ListInfo {
    /// Whether the sync owns this list: customer-managed, of `family`, name containing `marker`.
    /// The marker is matched client-side: EC2 name filters take no wildcards that match inside
    /// a name reliably (and moto returns nothing for them).
    pub fn is_managed(&self, marker: &str, family: AddressFamily) -> bool {
        self.family == family
            && self.owner_id != "AWS"
            && self.version.is_some()
            && !marker.is_empty()
            && self.name.contains(marker)
    }

    pub fn readiness(&self) -> Readiness {
        Readiness::of(&self.state)
    }
}

/// A managed list with its entries at `info.version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixList {
    pub info: ListInfo,
    pub entries: Vec<ListEntry>,
}

/// Every CIDR the users' secrets allow, with the users asking for each.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Desired {
    users_by_cidr: BTreeMap<IpNet, BTreeSet<String>>,
}

impl Desired {
    /// Adds one user's networks (normalised: host bits cleared).
    pub fn add(&mut self, username: &str, networks: impl IntoIterator<Item = IpNet>) {
        for network in networks {
            self.users_by_cidr
                .entry(network.trunc())
                .or_default()
                .insert(username.to_owned());
        }
    }

    /// Adds what a user's `SecretString` allows (`IP`, `IPv6`, as validation rule 7 accepts
    /// them). A secret that is not a JSON object contributes nothing; returns whether it parsed.
    pub fn add_secret(&mut self, username: &str, secret_string: &str, rules: &Rules) -> bool {
        match UserSecret::parse(secret_string) {
            Ok(secret) => {
                self.add(username, secret.allowed_networks(rules));
                true
            }
            Err(_) => false,
        }
    }

    /// The CIDRs of one family with their users, in order.
    pub fn of_family(
        &self,
        family: AddressFamily,
    ) -> impl Iterator<Item = (&IpNet, &BTreeSet<String>)> {
        self.users_by_cidr
            .iter()
            .filter(move |(cidr, _)| AddressFamily::of(cidr) == family)
    }

    pub fn users_of(&self, cidr: &IpNet) -> Option<&BTreeSet<String>> {
        self.users_by_cidr.get(cidr)
    }

    pub fn count(&self, family: AddressFamily) -> usize {
        self.of_family(family).count()
    }

    /// One family's CIDRs with their users, as the work bucket keeps them between the step that
    /// reads the secrets and the family's plan.
    pub fn entries(&self, family: AddressFamily) -> Vec<DesiredCidr> {
        self.of_family(family)
            .map(|(cidr, users)| DesiredCidr {
                cidr: *cidr,
                users: users.iter().cloned().collect(),
            })
            .collect()
    }

    /// The desired set back from [`Desired::entries`].
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a DesiredCidr>) -> Desired {
        let mut desired = Desired::default();
        for entry in entries {
            for user in &entry.users {
                desired.add(user, [entry.cidr]);
            }
        }
        desired
    }
}

/// A desired CIDR and the users asking for it (a file of the work bucket holds a family's).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredCidr {
    pub cidr: IpNet,
    pub users: Vec<String>,
}

/// The entry description for a CIDR: its users, comma-separated, at most 255 characters (when
/// they do not all fit, as many as fit and `+N more`).
pub fn description(users: &BTreeSet<String>) -> String {
    let names: Vec<String> = users
        .iter()
        .map(|u| strip_unsafe(u, MAX_DESCRIPTION_CHARS))
        .filter(|u| !u.is_empty())
        .collect();
    let all = names.join(", ");
    if all.chars().count() <= MAX_DESCRIPTION_CHARS {
        return all;
    }
    for shown in (0..names.len()).rev() {
        let more = format!("+{} more", names.len() - shown);
        let text = if shown == 0 {
            more
        } else {
            format!("{}, {more}", names[..shown].join(", "))
        };
        if text.chars().count() <= MAX_DESCRIPTION_CHARS {
            return text;
        }
    }
    // Unreachable in practice: "+N more" alone is always short.
    crate::text::truncate(&all, MAX_DESCRIPTION_CHARS - 1)
}

/// How the plan is bounded.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSettings {
    pub marker: String,
    /// Refuse removals when they would take more than this share (0..=1) of the family's entries.
    pub max_removal_share: f64,
}

impl Default for PlanSettings {
    fn default() -> Self {
        Self {
            marker: DEFAULT_MARKER.to_owned(),
            max_removal_share: DEFAULT_MAX_REMOVAL_SHARE,
        }
    }
}

/// A desired CIDR that fits in no managed list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overflow {
    pub cidr: IpNet,
    pub users: Vec<String>,
}

/// Why a plan removes nothing although entries are no longer wanted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum Withheld {
    /// Some secrets could not be read: their users' CIDRs are unknown.
    PartialRead { unreadable: usize, removals: usize },
    /// The run would remove more than the configured share of the entries.
    #[serde(rename_all = "camelCase")]
    TooManyRemovals {
        removals: usize,
        entries: usize,
        max_share: f64,
    },
}

/// One family's plan: the changes per managed list, and what fits nowhere. The functions keep
/// it in the work bucket (steps one file each, the rest as a [`report::PlanRecord`]); the state
/// gets counts ([`report::FamilyRun`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Every managed list of the family, with its steps in order (empty when unchanged).
    pub lists: Vec<ListPlan>,
    pub overflow: Vec<Overflow>,
    pub removals_withheld: Option<Withheld>,
    /// Desired CIDRs of the family.
    pub desired: usize,
    /// Entries kept whose description no longer names exactly their users. EC2 has no in-place
    /// description update (only remove + add, which would drop the entry in between), so these
    /// are reported rather than rewritten.
    pub stale_descriptions: Vec<IpNet>,
}

impl Plan {
    /// Writes the plan asks for.
    pub fn writes(&self) -> usize {
        self.lists.iter().map(|l| l.pending.len()).sum()
    }
}

/// Plans one family. `lists` may hold any lists: only the managed ones (see
/// [`ListInfo::is_managed`]) that are ready are planned. `unreadable` names the users whose
/// secrets could not be read; when it is not empty nothing is removed.
pub fn plan_family(
    family: AddressFamily,
    lists: &[PrefixList],
    desired: &Desired,
    unreadable: &[String],
    settings: &PlanSettings,
) -> Plan {
    let mut managed: Vec<&PrefixList> = lists
        .iter()
        .filter(|l| l.info.is_managed(&settings.marker, family))
        .filter(|l| l.info.readiness() == Readiness::Ready)
        .collect();
    managed.sort_by(|a, b| (&a.info.name, &a.info.id).cmp(&(&b.info.name, &b.info.id)));

    let wanted: BTreeMap<IpNet, &BTreeSet<String>> = desired
        .of_family(family)
        .map(|(cidr, users)| (*cidr, users))
        .collect();

    // Where each CIDR is kept (its first list), and what each list must lose.
    let mut kept: BTreeMap<IpNet, usize> = BTreeMap::new();
    let mut removals: Vec<Vec<IpNet>> = vec![Vec::new(); managed.len()];
    let mut revocations = 0;
    let mut stale_descriptions = Vec::new();
    for (i, list) in managed.iter().enumerate() {
        let mut seen_here = BTreeSet::new();
        for entry in &list.entries {
            let cidr = entry.cidr.trunc();
            if !seen_here.insert(cidr) {
                continue;
            }
            match wanted.get(&cidr) {
                None => {
                    removals[i].push(cidr);
                    revocations += 1;
                }
                // Listed twice across lists: the copy outside its first list goes.
                Some(_) if kept.contains_key(&cidr) => removals[i].push(cidr),
                Some(users) => {
                    kept.insert(cidr, i);
                    if entry.description.as_deref() != Some(description(users).as_str()) {
                        stale_descriptions.push(cidr);
                    }
                }
            }
        }
    }

    let entries: usize = managed.iter().map(|l| l.entries.len()).sum();
    let removals_withheld = if !unreadable.is_empty() && removals.iter().any(|r| !r.is_empty()) {
        Some(Withheld::PartialRead {
            unreadable: unreadable.len(),
            removals: removals.iter().map(Vec::len).sum(),
        })
    } else if revocations as f64 > settings.max_removal_share * entries as f64 {
        Some(Withheld::TooManyRemovals {
            removals: revocations,
            entries,
            max_share: settings.max_removal_share,
        })
    } else {
        None
    };
    if removals_withheld.is_some() {
        removals.iter_mut().for_each(Vec::clear);
    }
    // A refused run changes nothing: an operator looks at it first.
    let refused = matches!(removals_withheld, Some(Withheld::TooManyRemovals { .. }));

    // Free room once this run's removals are done; the freest list is filled first.
    let free: Vec<usize> = managed
        .iter()
        .zip(&removals)
        .map(|(l, r)| {
            l.info
                .max_entries
                .saturating_sub(l.entries.len().saturating_sub(r.len()))
        })
        .collect();
    let mut order: Vec<usize> = (0..managed.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(free[i]));
    let mut to_add = wanted
        .iter()
        .filter(|_| !refused)
        .filter(|(cidr, _)| !kept.contains_key(cidr))
        .map(|(cidr, users)| NewEntry {
            cidr: *cidr,
            description: description(users),
        })
        .peekable();
    let mut additions: Vec<Vec<NewEntry>> = vec![Vec::new(); managed.len()];
    for i in order {
        additions[i].extend(to_add.by_ref().take(free[i]));
        if to_add.peek().is_none() {
            break;
        }
    }
    let overflow = to_add
        .map(|entry| Overflow {
            users: wanted
                .get(&entry.cidr)
                .map(|u| u.iter().cloned().collect())
                .unwrap_or_default(),
            cidr: entry.cidr,
        })
        .collect();

    let lists = managed
        .iter()
        .zip(removals)
        .zip(additions)
        .map(|((list, remove), add)| {
            let mut pending: Vec<Step> = remove
                .chunks(MAX_ENTRIES_PER_CALL)
                .map(|c| Step::Remove(c.to_vec()))
                .collect();
            pending.extend(
                add.chunks(MAX_ENTRIES_PER_CALL)
                    .map(|c| Step::Add(c.to_vec())),
            );
            ListPlan::new(&list.info, list.entries.len(), pending)
        })
        .collect();

    Plan {
        lists,
        overflow,
        removals_withheld,
        desired: wanted.len(),
        stale_descriptions,
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
