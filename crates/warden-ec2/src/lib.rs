//! EC2 managed prefix lists: the thin adapter between the allow-list planner
//! (`warden_core::prefix_lists`) and the EC2 API.
//!
//! The only crate of the workspace that links the EC2 SDK (its largest crate), so that only the
//! prefix-list functions pay for it. Speaks the domain's plain types, maps EC2's error codes to
//! a small enum whose names the state machine retries or catches, and counts the calls it makes
//! (the sync reports them).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use warden_core::{ErrorName, Named};

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{AddPrefixListEntry, ManagedPrefixList, RemovePrefixListEntry};
use ipnet::IpNet;
use warden_core::prefix_lists::report::Calls;
use warden_core::prefix_lists::{AddressFamily, ListEntry, ListInfo, NewEntry, PrefixList};

/// EC2 pages prefix lists and their entries at most 100 at a time.
const PAGE_SIZE: i32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum Ec2Error {
    /// `PrefixListVersionMismatch`: someone changed the list since it was read.
    #[error("prefix list {list} changed since it was read: {message}")]
    VersionMismatch { list: String, message: String },
    /// `IncorrectState`: a change is still being applied (`modify-in-progress`).
    #[error("prefix list {list} is busy with another change: {message}")]
    Busy { list: String, message: String },
    /// `PrefixListMaxEntriesExceeded`: the change would take the list past `MaxEntries`.
    #[error("prefix list {list} has no room for the entries: {message}")]
    Full { list: String, message: String },
    /// `InvalidPrefixListModification`: e.g. removing an entry that is not there.
    #[error("prefix list {list} refused the change: {message}")]
    InvalidModification { list: String, message: String },
    #[error("prefix list {list} does not exist")]
    NotFound { list: String },
    /// `RequestLimitExceeded` after the SDK's own retries.
    #[error("EC2 throttled {operation}: {message}")]
    Throttled {
        operation: &'static str,
        message: String,
    },
    #[error("EC2 denied {operation}: {message}")]
    AccessDenied {
        operation: &'static str,
        message: String,
    },
    #[error("EC2 {operation} failed: {message}")]
    Service {
        operation: &'static str,
        message: String,
    },
}

impl Named for Ec2Error {
    /// The stable error name a Lambda reports; the state machine's Retry/Catch match on it.
    fn name(&self) -> ErrorName {
        match self {
            Self::VersionMismatch { .. } => ErrorName::PrefixListVersionMismatch,
            Self::Busy { .. } => ErrorName::PrefixListBusy,
            Self::Full { .. } => ErrorName::PrefixListFull,
            Self::InvalidModification { .. } => ErrorName::InvalidPrefixListModification,
            Self::NotFound { .. } => ErrorName::PrefixListNotFound,
            Self::Throttled { .. } => ErrorName::Ec2Throttled,
            Self::AccessDenied { .. } => ErrorName::Ec2AccessDenied,
            Self::Service { .. } => ErrorName::Ec2Unavailable,
        }
    }
}

impl Ec2Error {
    fn from_sdk<E, R>(operation: &'static str, list: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let code = err.code().unwrap_or_default().to_owned();
        let message = match err.message() {
            Some(m) => format!("{code}: {m}"),
            None => DisplayErrorContext(&err).to_string(),
        };
        let list = list.to_owned();
        match code.as_str() {
            "PrefixListVersionMismatch" => Self::VersionMismatch { list, message },
            "IncorrectState" | "ConcurrentMutationLimitExceeded" => Self::Busy { list, message },
            "PrefixListMaxEntriesExceeded" => Self::Full { list, message },
            "InvalidPrefixListModification" => Self::InvalidModification { list, message },
            "InvalidPrefixListID.NotFound" | "InvalidPrefixListId.NotFound" => {
                Self::NotFound { list }
            }
            "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => {
                Self::Throttled { operation, message }
            }
            "UnauthorizedOperation" | "AccessDenied" | "AccessDeniedException" | "AuthFailure" => {
                Self::AccessDenied { operation, message }
            }
            _ => Self::Service { operation, message },
        }
    }
}

/// One write: entries to add, or CIDRs to remove (never both: DESIGN.md section 5).
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    Add(&'a [NewEntry]),
    Remove(&'a [IpNet]),
}

impl Change<'_> {
    pub fn len(&self) -> usize {
        match self {
            Change::Add(entries) => entries.len(),
            Change::Remove(cidrs) => cidrs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Debug, Default)]
struct Counters {
    reads: AtomicUsize,
    writes: AtomicUsize,
}

/// The account's managed prefix lists.
#[derive(Debug, Clone)]
pub struct PrefixLists {
    client: Client,
    counters: Arc<Counters>,
}

impl PrefixLists {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            counters: Arc::default(),
        }
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }

    /// EC2 calls made so far (every request sent, failed ones included; SDK retries not).
    pub fn calls(&self) -> Calls {
        Calls {
            reads: self.counters.reads.load(Ordering::Relaxed),
            writes: self.counters.writes.load(Ordering::Relaxed),
        }
    }

    fn read_call(&self) {
        self.counters.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// The prefix lists named by `ids`, or every list the account sees when `ids` is empty
    /// (AWS-managed ones included: callers pick theirs). Lists of an unknown family are skipped.
    pub async fn describe(&self, ids: &[String]) -> Result<Vec<ListInfo>, Ec2Error> {
        let label = ids.join(",");
        let mut lists = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            self.read_call();
            let out = self
                .client
                .describe_managed_prefix_lists()
                .set_prefix_list_ids((!ids.is_empty()).then(|| ids.to_vec()))
                .max_results(PAGE_SIZE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("DescribeManagedPrefixLists", &label, e))?;
            lists.extend(out.prefix_lists().iter().filter_map(list_info));
            match out.next_token() {
                Some(t) if !t.is_empty() => next_token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(lists)
    }

    /// The entries of a list at `version` (the current one when `None`), every page.
    pub async fn entries(
        &self,
        id: &str,
        version: Option<i64>,
    ) -> Result<Vec<ListEntry>, Ec2Error> {
        let mut entries = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            self.read_call();
            let out = self
                .client
                .get_managed_prefix_list_entries()
                .prefix_list_id(id)
                .set_target_version(version)
                .max_results(PAGE_SIZE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| Ec2Error::from_sdk("GetManagedPrefixListEntries", id, e))?;
            for entry in out.entries() {
                match entry.cidr().map(str::parse::<IpNet>) {
                    Some(Ok(cidr)) => entries.push(ListEntry {
                        cidr,
                        description: entry.description().map(str::to_owned),
                    }),
                    // EC2 returns canonical CIDRs; anything else is left alone and logged.
                    other => {
                        tracing::warn!(list = id, cidr = ?other, "Unreadable prefix list entry")
                    }
                }
            }
            match out.next_token() {
                Some(t) if !t.is_empty() => next_token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(entries)
    }

    /// One list and its entries at the version just described.
    pub async fn read(&self, id: &str) -> Result<PrefixList, Ec2Error> {
        let info = self
            .describe(&[id.to_owned()])
            .await?
            .into_iter()
            .find(|l| l.id == id)
            .ok_or_else(|| Ec2Error::NotFound {
                list: id.to_owned(),
            })?;
        let entries = self.entries(id, info.version).await?;
        Ok(PrefixList { info, entries })
    }

    /// One `ModifyManagedPrefixList` call guarded by `version` (optimistic concurrency), the
    /// list's name passed unchanged. Returns the list's new version.
    pub async fn modify(
        &self,
        id: &str,
        name: &str,
        version: i64,
        change: Change<'_>,
    ) -> Result<i64, Ec2Error> {
        let request = self
            .client
            .modify_managed_prefix_list()
            .prefix_list_id(id)
            .prefix_list_name(name)
            .current_version(version);
        let request = match change {
            Change::Add(entries) => request.set_add_entries(Some(
                entries
                    .iter()
                    .map(|e| {
                        AddPrefixListEntry::builder()
                            .cidr(e.cidr.to_string())
                            .description(&e.description)
                            .build()
                    })
                    .collect(),
            )),
            Change::Remove(cidrs) => request.set_remove_entries(Some(
                cidrs
                    .iter()
                    .map(|c| RemovePrefixListEntry::builder().cidr(c.to_string()).build())
                    .collect(),
            )),
        };
        self.counters.writes.fetch_add(1, Ordering::Relaxed);
        let out = request
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("ModifyManagedPrefixList", id, e))?;
        // EC2 answers with the list as the change starts: its version may still be the old one.
        Ok(out
            .prefix_list()
            .and_then(ManagedPrefixList::version)
            .filter(|v| *v > version)
            .unwrap_or(version + 1))
    }

    /// Creates a customer-managed list (for the local stack and the benchmark; the sync itself
    /// never creates lists, they are part of the network stack).
    pub async fn create(
        &self,
        name: &str,
        family: AddressFamily,
        max_entries: usize,
        entries: &[NewEntry],
    ) -> Result<String, Ec2Error> {
        let out = self
            .client
            .create_managed_prefix_list()
            .prefix_list_name(name)
            .address_family(family.as_str())
            .max_entries(i32::try_from(max_entries).unwrap_or(i32::MAX))
            .set_entries((!entries.is_empty()).then(|| {
                entries
                    .iter()
                    .map(|e| {
                        AddPrefixListEntry::builder()
                            .cidr(e.cidr.to_string())
                            .description(&e.description)
                            .build()
                    })
                    .collect()
            }))
            .send()
            .await
            .map_err(|e| Ec2Error::from_sdk("CreateManagedPrefixList", name, e))?;
        out.prefix_list()
            .and_then(ManagedPrefixList::prefix_list_id)
            .map(str::to_owned)
            .ok_or_else(|| Ec2Error::Service {
                operation: "CreateManagedPrefixList",
                message: "no prefix list id in the answer".to_owned(),
            })
    }
}

fn list_info(list: &ManagedPrefixList) -> Option<ListInfo> {
    Some(ListInfo {
        id: list.prefix_list_id()?.to_owned(),
        name: list.prefix_list_name().unwrap_or_default().to_owned(),
        family: AddressFamily::parse(list.address_family()?)?,
        owner_id: list.owner_id().unwrap_or_default().to_owned(),
        max_entries: list
            .max_entries()
            .and_then(|m| usize::try_from(m).ok())
            .unwrap_or(0),
        version: list.version(),
        state: list
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        state_message: list.state_message().map(str::to_owned),
    })
}

#[cfg(feature = "test-util")]
pub mod fake;
#[cfg(test)]
mod tests;
