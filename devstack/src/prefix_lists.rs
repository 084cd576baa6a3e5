//! EC2 managed prefix lists on the local stack (moto's EC2): creating the lists the sync
//! manages, reading them back, and the sync benchmark (`cargo xtask bench-prefix-lists`).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use warden_core::prefix_lists::{DEFAULT_MARKER, ListEntry, ListInfo, NewEntry};
use warden_ec2::PrefixLists;

pub use warden_core::prefix_lists::AddressFamily;

use crate::deployment::{Deployment, Execution};
use crate::stack::LocalStack;

/// The state machine's name in [`crate::deployment::STATE_MACHINES`].
pub const STATE_MACHINE: &str = "prefix-list-sync";

/// A list as read back: settings and entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSnapshot {
    pub id: String,
    pub name: String,
    pub family: AddressFamily,
    pub max_entries: usize,
    pub version: Option<i64>,
    pub entries: Vec<ListEntry>,
}

impl ListSnapshot {
    /// The list's CIDRs, sorted.
    pub fn cidrs(&self) -> Vec<String> {
        let mut cidrs: Vec<String> = self.entries.iter().map(|e| e.cidr.to_string()).collect();
        cidrs.sort();
        cidrs
    }
}

/// The account's prefix lists on the local stack.
pub struct LocalLists {
    ec2: PrefixLists,
}

impl LocalLists {
    pub async fn connect(stack: &LocalStack) -> Self {
        Self {
            ec2: PrefixLists::from_config(&stack.sdk_config().await),
        }
    }

    /// Creates a customer-managed list holding `entries` (`(cidr, description)`).
    pub async fn create(
        &self,
        name: &str,
        family: AddressFamily,
        max_entries: usize,
        entries: &[(&str, &str)],
    ) -> Result<String> {
        let entries = entries
            .iter()
            .map(|(cidr, description)| {
                Ok(NewEntry {
                    cidr: cidr
                        .parse()
                        .with_context(|| format!("{cidr} is not a CIDR"))?,
                    description: (*description).to_owned(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(self.ec2.create(name, family, max_entries, &entries).await?)
    }

    /// Every customer-managed list (AWS-managed ones left out), sorted by name.
    pub async fn snapshot(&self) -> Result<Vec<ListSnapshot>> {
        let mut lists = Vec::new();
        for info in self.ec2.describe(&[]).await? {
            if info.owner_id == "AWS" {
                continue;
            }
            let entries = self.ec2.entries(&info.id, None).await?;
            lists.push(snapshot(info, entries));
        }
        lists.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(lists)
    }

    /// The lists whose name contains the sync's marker.
    pub async fn managed(&self) -> Result<Vec<ListSnapshot>> {
        Ok(self
            .snapshot()
            .await?
            .into_iter()
            .filter(|l| l.name.contains(DEFAULT_MARKER))
            .collect())
    }
}

fn snapshot(info: ListInfo, entries: Vec<ListEntry>) -> ListSnapshot {
    ListSnapshot {
        id: info.id,
        name: info.name,
        family: info.family,
        max_entries: info.max_entries,
        version: info.version,
        entries,
    }
}

/// Prints the lists with their entries, for the demo.
pub fn print_lists(lists: &[ListSnapshot]) {
    for list in lists {
        println!(
            "    {} {} ({}), version {}, {} of {} entries",
            list.family,
            list.name,
            list.id,
            list.version.unwrap_or_default(),
            list.entries.len(),
            list.max_entries
        );
        for entry in &list.entries {
            println!(
                "      {:<22} {}",
                entry.cidr.to_string(),
                entry.description.as_deref().unwrap_or("")
            );
        }
    }
}

/// Runs the sync and waits for it.
pub async fn run_sync(deployment: &Deployment, input: &Value) -> Result<Execution> {
    deployment
        .run(STATE_MACHINE, input, Duration::from_secs(600))
        .await
}

/// The run's bounded summary: the execution output when it succeeded, the cause when it failed
/// because the lists are not in sync. Counts per list and the first few CIDRs; the full summary
/// (every CIDR) is in the work bucket: [`Deployment::full_summary`].
pub fn summary_of(execution: &Execution) -> Result<Value> {
    if let Some(output) = &execution.output {
        return Ok(output.clone());
    }
    match (&execution.error, &execution.cause) {
        (Some(error), Some(cause)) if error == "PrefixListsOutOfSync" => {
            Ok(serde_json::from_str(cause)?)
        }
        _ => bail!(
            "the sync ended {} without a summary: {:?} {:?}",
            execution.status,
            execution.error,
            execution.cause
        ),
    }
}

/// How much data an execution moved between its states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payloads {
    /// The largest input, output, parameters or cause of any history event, in bytes.
    pub largest: usize,
    /// Events in the execution's history.
    pub events: usize,
}

/// Measures an execution's history: what Step Functions' 256 KiB payload and 25,000-event
/// quotas are counted against.
pub async fn payloads(deployment: &Deployment, arn: &str) -> Result<Payloads> {
    let history = deployment.history(arn).await?;
    let mut largest = 0;
    for e in &history {
        for field in crate::deployment::payloads(e) {
            largest = largest.max(field.len());
        }
    }
    Ok(Payloads {
        largest,
        events: history.len(),
    })
}

/// When an execution entered each state, and when it ended (milliseconds since the epoch, from
/// its history): what shows two runs never changed the lists at the same time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    pub entered: Vec<(String, i64)>,
    pub ended: i64,
}

impl Timeline {
    /// When the state of that name was first entered.
    pub fn first_entered(&self, state: &str) -> Option<i64> {
        self.entered
            .iter()
            .find(|(name, _)| name == state)
            .map(|(_, at)| *at)
    }
}

pub async fn timeline(deployment: &Deployment, arn: &str) -> Result<Timeline> {
    let millis = |t: &aws_sdk_sfn::primitives::DateTime| {
        t.secs() * 1_000 + i64::from(t.subsec_nanos() / 1_000_000)
    };
    let history = deployment.history(arn).await?;
    Ok(Timeline {
        entered: history
            .iter()
            .filter_map(|e| {
                let name = e.state_entered_event_details()?.name().to_owned();
                Some((name, millis(e.timestamp())))
            })
            .collect(),
        ended: history
            .last()
            .map(|e| millis(e.timestamp()))
            .unwrap_or_default(),
    })
}

// ---- the benchmark ------------------------------------------------------------------------------

/// One measured run.
struct Measured {
    label: &'static str,
    changes: usize,
    additions: usize,
    lists_with_removals: usize,
    reads: u64,
    writes: u64,
    secret_reads: u64,
    wall: Duration,
    /// Reads EC2 itself would need: `GetManagedPrefixListEntries` pages 100 entries at a time,
    /// moto answers in one page.
    aws_reads: usize,
    target_reads: usize,
    target_writes: usize,
}

const USERS: usize = 450;
const V4_PER_USER: usize = 2;
/// Users `0..V6_USERS` also have two IPv6 /48s each.
const V6_USERS: usize = 50;

fn user_secret(user: usize, generation: usize) -> String {
    let v4: Vec<String> = (0..V4_PER_USER)
        .map(|k| {
            // Users 0..4 move their second address in generation 1: 5 removed, 5 added.
            let n = user * V4_PER_USER
                + k
                + if generation > 0 && user < 5 && k == 1 {
                    5_000
                } else {
                    0
                };
            format!("10.{}.{}.{}/32", n / 65_536, (n / 256) % 256, n % 256)
        })
        .collect();
    let mut secret = json!({
        "Name": format!("Partner {user}"),
        "Email": format!("ops@partner{user}.example.com"),
        "IP": v4.join(","),
    });
    if user < V6_USERS {
        secret["IPv6"] = json!(format!(
            "2001:db8:{:x}::/48, 2001:db8:{:x}::/48",
            2 * user,
            2 * user + 1
        ));
    }
    secret.to_string()
}

/// `cargo xtask bench-prefix-lists`: 1,000 CIDRs into empty lists, then a change of 10, then no
/// change, each a real execution of the state machine on the local stack; prints the EC2 calls
/// and wall time next to what the replaced system (one call per CIDR, 10 s sleep after each
/// addition) needed for the same work.
pub async fn bench(stack: &LocalStack) -> Result<()> {
    let deployment = crate::deployment::deploy(stack).await?;
    let lists = LocalLists::connect(stack).await;
    // Two IPv4 lists and one IPv6 list, empty; MaxEntries as a security group quota allows.
    lists
        .create("sftp-ipv4-a-AUTOMATED_PREFIX", AddressFamily::V4, 600, &[])
        .await?;
    lists
        .create("sftp-ipv4-b-AUTOMATED_PREFIX", AddressFamily::V4, 600, &[])
        .await?;
    lists
        .create("sftp-ipv6-AUTOMATED_PREFIX", AddressFamily::V6, 200, &[])
        .await?;
    deployment
        .put_user(
            "SFTPSuperAdmin",
            &json!({"Name": "Ops", "Email": "sftp-superadmin@example.com", "IP": ""}).to_string(),
        )
        .await?;
    for user in 0..USERS {
        deployment
            .put_user(&format!("partner{user:04}"), &user_secret(user, 0))
            .await?;
    }
    println!(
        "  seeded {USERS} users: {} IPv4 + {} IPv6 = {} CIDRs; lists: 2 x IPv4 (MaxEntries 600), 1 x IPv6 (200), empty",
        USERS * V4_PER_USER,
        V6_USERS * 2,
        USERS * V4_PER_USER + V6_USERS * 2
    );

    let mut rows = Vec::new();
    rows.push(measure(&deployment, &lists, "1,000 CIDRs into empty lists").await?);
    for user in 0..5 {
        deployment
            .put_user(&format!("partner{user:04}"), &user_secret(user, 1))
            .await?;
    }
    rows.push(measure(&deployment, &lists, "a change of 10 (5 out, 5 in)").await?);
    rows.push(measure(&deployment, &lists, "no change").await?);

    println!();
    println!(
        "  {:<30} {:>7} | {:>9} {:>6} {:>9} {:>8} | {:>11} {:>9} | {:>19} {:>11}",
        "run",
        "changes",
        "EC2 reads",
        "writes",
        "wall",
        "secrets",
        "target r/w",
        "AWS reads",
        "replaced: calls r/w",
        "replaced"
    );
    for row in &rows {
        // The replaced system (seed step 3): lists and entries read once, then per addition one
        // capacity read, one write and a 10 s sleep; removals one write per list.
        let old_reads = row.target_reads + row.additions;
        let old_writes = row.additions + row.lists_with_removals;
        let old_wall = Duration::from_secs(10 * row.additions as u64);
        println!(
            "  {:<30} {:>7} | {:>9} {:>6} {:>8.1}s {:>8} | {:>5}/{:<5} {:>9} | {:>9}/{:<9} {:>10}",
            row.label,
            row.changes,
            row.reads,
            row.writes,
            row.wall.as_secs_f64(),
            row.secret_reads,
            row.target_reads,
            row.target_writes,
            row.aws_reads,
            old_reads,
            old_writes,
            human(old_wall)
        );
    }
    println!();
    println!(
        "  EC2 reads/writes: the calls the functions made (the execution output's ec2Calls); wall: the execution, start to end, on the local stack."
    );
    println!(
        "  target: 1 + L reads per family (DescribeManagedPrefixLists + one GetManagedPrefixListEntries per list) and sum of ceil(changes per list / 100) writes;"
    );
    println!(
        "          our reads add one DescribeManagedPrefixLists per family that wrote (confirming modify-complete)."
    );
    println!(
        "  AWS reads: the same run on EC2, which pages entries 100 at a time (moto answers in one page)."
    );
    println!(
        "  replaced: one call per CIDR with a 10 s sleep after each addition (seed step 3.7); its wall time counts the sleeps only."
    );
    println!(
        "  Not modelled locally: the seconds a list spends in modify-in-progress between two writes to it (retried as PrefixListBusy)."
    );
    Ok(())
}

async fn measure(
    deployment: &Deployment,
    lists: &LocalLists,
    label: &'static str,
) -> Result<Measured> {
    println!("\n==> sync: {label}");
    let before = lists.managed().await?;
    let execution = run_sync(deployment, &json!({"mode": "all"})).await?;
    let summary = summary_of(&execution)?;
    if execution.status != "SUCCEEDED" {
        bail!("the benchmark run {label} did not succeed: {summary}");
    }
    let outcomes = summary["lists"].as_array().cloned().unwrap_or_default();
    // The bounded summary counts per list (all of its lists: the benchmark has three).
    let count = |o: &Value, key: &str| o[key].as_u64().unwrap_or_default() as usize;
    let additions: usize = outcomes.iter().map(|o| count(o, "added")).sum();
    let removals: usize = outcomes.iter().map(|o| count(o, "removed")).sum();
    let target_writes: usize = outcomes
        .iter()
        .map(|o| count(o, "added").div_ceil(100) + count(o, "removed").div_ceil(100))
        .sum();
    let families: BTreeSet<AddressFamily> = before.iter().map(|l| l.family).collect();
    let target_reads = families.len() + before.len();
    let aws_reads = families.len()
        + before
            .iter()
            .map(|l| l.entries.len().div_ceil(100).max(1))
            .sum::<usize>()
        + outcomes
            .iter()
            .filter(|o| count(o, "added") + count(o, "removed") > 0)
            .filter_map(|o| o["family"].as_str())
            .collect::<BTreeSet<_>>()
            .len();
    let measured = Measured {
        label,
        changes: additions + removals,
        additions,
        lists_with_removals: outcomes.iter().filter(|o| count(o, "removed") > 0).count(),
        reads: summary["ec2Calls"]["reads"].as_u64().unwrap_or_default(),
        writes: summary["ec2Calls"]["writes"].as_u64().unwrap_or_default(),
        secret_reads: summary["secretReads"].as_u64().unwrap_or_default(),
        wall: execution.elapsed,
        aws_reads,
        target_reads,
        target_writes,
    };
    println!(
        "    {} — {additions} added, {removals} removed, {} EC2 reads, {} writes, {:.1} s",
        execution.status,
        measured.reads,
        measured.writes,
        measured.wall.as_secs_f64()
    );
    Ok(measured)
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "0 s".to_owned(),
        s if s < 120 => format!("{s} s"),
        s => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
