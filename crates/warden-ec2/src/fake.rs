//! An in-memory EC2 that behaves the way moto does not (DESIGN.md section 7), behind a real SDK
//! client built with `aws-smithy-mocks`: `CurrentVersion` is checked, `MaxEntries` enforced,
//! writes carry at most 100 entries, a modified list stays `modify-in-progress` for a while,
//! adding a present CIDR or removing an absent one is refused, and faults can be injected into
//! the next writes (an error, an answer lost after the change was applied, a concurrent writer).
//!
//! For the functions' tests (feature `test-util`); every version of every list is kept, so a
//! test can prove no entry was ever lost on the way.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aws_sdk_ec2::operation::describe_managed_prefix_lists::{
    DescribeManagedPrefixListsError, DescribeManagedPrefixListsOutput,
};
use aws_sdk_ec2::operation::get_managed_prefix_list_entries::{
    GetManagedPrefixListEntriesError, GetManagedPrefixListEntriesOutput,
};
use aws_sdk_ec2::operation::modify_managed_prefix_list::{
    ModifyManagedPrefixListError, ModifyManagedPrefixListOutput,
};
use aws_sdk_ec2::types::{ManagedPrefixList, PrefixListEntry, PrefixListState};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use ipnet::IpNet;
use warden_core::prefix_lists::AddressFamily;

use crate::PrefixLists;

/// What happens to the next `ModifyManagedPrefixList` call.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Refused with this EC2 error code; nothing changes.
    Error(&'static str),
    /// Applied, but the answer is lost (the caller sees `InternalError`).
    LoseAnswer,
    /// Another writer adds this CIDR first (the list's version moves on).
    ConcurrentAdd(&'static str),
}

#[derive(Clone, Debug)]
struct List {
    name: String,
    family: AddressFamily,
    max_entries: usize,
    /// Every version's entries; the last is current.
    versions: Vec<Vec<(IpNet, String)>>,
    busy_for: usize,
}

impl List {
    fn version(&self) -> i64 {
        i64::try_from(self.versions.len()).unwrap_or(i64::MAX)
    }

    fn current(&self) -> &[(IpNet, String)] {
        self.versions.last().map(Vec::as_slice).unwrap_or_default()
    }

    fn described(&self, id: &str) -> ManagedPrefixList {
        ManagedPrefixList::builder()
            .prefix_list_id(id)
            .prefix_list_name(&self.name)
            .address_family(self.family.as_str())
            .owner_id("123456789012")
            .max_entries(i32::try_from(self.max_entries).unwrap_or(i32::MAX))
            .version(self.version())
            .state(if self.busy_for > 0 {
                PrefixListState::ModifyInProgress
            } else {
                PrefixListState::ModifyComplete
            })
            .build()
    }
}

#[derive(Debug, Default)]
struct State {
    lists: BTreeMap<String, List>,
    faults: VecDeque<Fault>,
    /// How many later calls see a list `modify-in-progress` after each accepted change.
    busy_after_modify: usize,
    accepted: usize,
    refused: Vec<String>,
    /// Requests EC2 would reject as malformed (over 100 entries, a CIDR both ways, a renamed list).
    violations: Vec<String>,
}

/// The fake EC2's lists.
#[derive(Clone, Debug, Default)]
pub struct FakeEc2 {
    state: Arc<Mutex<State>>,
}

fn code(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

impl FakeEc2 {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a list holding `cidrs` (described by `owner`), at version 1.
    pub fn add_list(
        &self,
        id: &str,
        name: &str,
        family: AddressFamily,
        max_entries: usize,
        cidrs: &[&str],
    ) {
        let entries = cidrs
            .iter()
            .filter_map(|c| c.parse::<IpNet>().ok())
            .map(|c| (c, "owner".to_owned()))
            .collect();
        self.state().lists.insert(
            id.to_owned(),
            List {
                name: name.to_owned(),
                family,
                max_entries,
                versions: vec![entries],
                busy_for: 0,
            },
        );
    }

    /// Queues a fault for the next write (faults apply in order, one per write).
    pub fn fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// After each accepted write, the list stays busy for `calls` later calls.
    pub fn busy_after_modify(&self, calls: usize) {
        self.state().busy_after_modify = calls;
    }

    /// The list's current CIDRs, sorted.
    pub fn cidrs(&self, id: &str) -> Vec<IpNet> {
        let mut cidrs: Vec<IpNet> = self
            .state()
            .lists
            .get(id)
            .map(|l| l.current().iter().map(|(c, _)| *c).collect())
            .unwrap_or_default();
        cidrs.sort();
        cidrs
    }

    /// The description of one entry.
    pub fn description(&self, id: &str, cidr: &str) -> Option<String> {
        let cidr: IpNet = cidr.parse().ok()?;
        self.state()
            .lists
            .get(id)?
            .current()
            .iter()
            .find(|(c, _)| *c == cidr)
            .map(|(_, d)| d.clone())
    }

    /// Every version of the list, oldest first.
    pub fn versions(&self, id: &str) -> Vec<Vec<IpNet>> {
        self.state()
            .lists
            .get(id)
            .map(|l| {
                l.versions
                    .iter()
                    .map(|v| v.iter().map(|(c, _)| *c).collect())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Writes EC2 accepted.
    pub fn accepted_writes(&self) -> usize {
        self.state().accepted
    }

    /// Error codes of the writes EC2 refused, in order.
    pub fn refused_writes(&self) -> Vec<String> {
        self.state().refused.clone()
    }

    /// Requests real EC2 would reject as malformed; a correct caller makes none.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    /// A client of this fake.
    pub fn client(&self) -> PrefixLists {
        let describe = {
            let fake = self.clone();
            mock!(aws_sdk_ec2::Client::describe_managed_prefix_lists).then_compute_response(
                move |req| {
                    let mut state = fake.state();
                    let ids = req.prefix_list_ids();
                    let mut out = DescribeManagedPrefixListsOutput::builder();
                    for (id, list) in state.lists.iter_mut() {
                        if ids.is_empty() || ids.contains(id) {
                            out = out.prefix_lists(list.described(id));
                            // Time passes while the caller polls.
                            list.busy_for = list.busy_for.saturating_sub(1);
                        }
                    }
                    MockResponse::<_, DescribeManagedPrefixListsError>::Output(out.build())
                },
            )
        };
        let entries = {
            let fake = self.clone();
            mock!(aws_sdk_ec2::Client::get_managed_prefix_list_entries).then_compute_response(
                move |req| {
                    let state = fake.state();
                    let Some(list) = req.prefix_list_id().and_then(|id| state.lists.get(id)) else {
                        return MockResponse::Error(GetManagedPrefixListEntriesError::generic(
                            code("InvalidPrefixListID.NotFound", "no such list"),
                        ));
                    };
                    let version = req.target_version().unwrap_or(list.version());
                    let Some(entries) = usize::try_from(version - 1)
                        .ok()
                        .and_then(|v| list.versions.get(v))
                    else {
                        return MockResponse::Error(GetManagedPrefixListEntriesError::generic(
                            code("InvalidParameterValue", "no such version"),
                        ));
                    };
                    let start: usize = req.next_token().and_then(|t| t.parse().ok()).unwrap_or(0);
                    let page = usize::try_from(req.max_results().unwrap_or(100)).unwrap_or(100);
                    let mut out = GetManagedPrefixListEntriesOutput::builder();
                    for (cidr, description) in entries.iter().skip(start).take(page) {
                        out = out.entries(
                            PrefixListEntry::builder()
                                .cidr(cidr.to_string())
                                .description(description)
                                .build(),
                        );
                    }
                    if start + page < entries.len() {
                        out = out.next_token((start + page).to_string());
                    }
                    MockResponse::Output(out.build())
                },
            )
        };
        let modify = {
            let fake = self.clone();
            mock!(aws_sdk_ec2::Client::modify_managed_prefix_list)
                .then_compute_response(move |req| fake.modify(req))
        };
        // aws-smithy-mocks cannot compute an answer for an SDK retry (it has no input then), so
        // every request reaches the fake exactly once; the SDK's retries are tested on the
        // adapter (`src/tests.rs`), the state machine's by the callers retrying named errors.
        PrefixLists::new(mock_client!(
            aws_sdk_ec2,
            RuleMode::MatchAny,
            [&describe, &entries, &modify],
            |c| c.retry_config(RetryConfig::disabled())
        ))
    }

    fn modify(
        &self,
        req: &aws_sdk_ec2::operation::modify_managed_prefix_list::ModifyManagedPrefixListInput,
    ) -> MockResponse<ModifyManagedPrefixListOutput, ModifyManagedPrefixListError> {
        let mut state = self.state();
        let refuse = |state: &mut State, c: &'static str| {
            state.refused.push(c.to_owned());
            MockResponse::Error(ModifyManagedPrefixListError::generic(code(
                c,
                "refused by the fake",
            )))
        };
        let fault = state.faults.pop_front();
        let id = req.prefix_list_id().unwrap_or_default().to_owned();
        if let Some(Fault::Error(c)) = fault {
            return refuse(&mut state, c);
        }
        if let Some(Fault::ConcurrentAdd(cidr)) = &fault
            && let (Some(list), Ok(cidr)) = (state.lists.get_mut(&id), cidr.parse::<IpNet>())
        {
            let mut next = list.current().to_vec();
            next.push((cidr, "someone else".into()));
            list.versions.push(next);
        }
        let busy_after = state.busy_after_modify;
        let add: Vec<(IpNet, String)> = req
            .add_entries()
            .iter()
            .filter_map(|e| {
                Some((
                    e.cidr()?.parse().ok()?,
                    e.description().unwrap_or_default().to_owned(),
                ))
            })
            .collect();
        let remove: Vec<IpNet> = req
            .remove_entries()
            .iter()
            .filter_map(|e| e.cidr()?.parse().ok())
            .collect();
        let Some(list) = state.lists.get(&id).cloned() else {
            return refuse(&mut state, "InvalidPrefixListID.NotFound");
        };
        if list.busy_for > 0 {
            if let Some(l) = state.lists.get_mut(&id) {
                l.busy_for -= 1;
            }
            return refuse(&mut state, "IncorrectState");
        }
        if req.current_version() != Some(list.version()) {
            return refuse(&mut state, "PrefixListVersionMismatch");
        }
        if add.len() > 100 || remove.len() > 100 {
            state
                .violations
                .push(format!("{id}: a write of more than 100 entries"));
            return refuse(&mut state, "InvalidParameterValue");
        }
        if req.prefix_list_name() != Some(list.name.as_str()) {
            state
                .violations
                .push(format!("{id}: written without its name"));
        }
        if add.iter().any(|(c, _)| remove.contains(c)) {
            state
                .violations
                .push(format!("{id}: a CIDR added and removed in one write"));
            return refuse(&mut state, "InvalidPrefixListModification");
        }
        let current = list.current();
        if add.iter().any(|(c, _)| current.iter().any(|(p, _)| p == c))
            || remove.iter().any(|c| !current.iter().any(|(p, _)| p == c))
        {
            return refuse(&mut state, "InvalidPrefixListModification");
        }
        let mut next: Vec<(IpNet, String)> = current
            .iter()
            .filter(|(c, _)| !remove.contains(c))
            .cloned()
            .collect();
        next.extend(add);
        if next.len() > list.max_entries {
            return refuse(&mut state, "PrefixListMaxEntriesExceeded");
        }
        let answer = list.described(&id);
        if let Some(l) = state.lists.get_mut(&id) {
            l.versions.push(next);
            l.busy_for = busy_after;
        }
        state.accepted += 1;
        if let Some(Fault::LoseAnswer) = fault {
            return MockResponse::Error(ModifyManagedPrefixListError::generic(code(
                "InternalError",
                "the answer was lost",
            )));
        }
        // Like EC2: the list as the change starts, still at its old version.
        MockResponse::Output(
            ModifyManagedPrefixListOutput::builder()
                .prefix_list(answer)
                .build(),
        )
    }
}
