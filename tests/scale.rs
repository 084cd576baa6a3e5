//! The weekly audit with key notices at a size the first design could not hold (it failed at
//! about 1,000 users with `States.DataLimitExceeded`), run for real on the local stack; and a
//! burst of change events, gathered as the queue gathers them.

use std::collections::BTreeSet;

use anyhow::Result;
use devstack::bench_scale::{self, BURST};
use devstack::population::Population;
use devstack::stack::{LocalStack, StackOptions};

const USERS: usize = 1_500;

/// What the state of any run may carry at most; the quota is 256 KiB.
const PAYLOAD_BOUND: usize = 64 * 1024;
/// What the history of any run may hold at most, waiting included; the quota is 25,000 events.
const HISTORY_BOUND: usize = 500;

#[tokio::test(flavor = "multi_thread")]
async fn the_weekly_audit_of_1500_users_sends_every_notice_and_digest_inside_the_quotas()
-> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let as_of = chrono::Utc::now().date_naive();
    let population = Population::new(USERS, as_of);
    let deployment = bench_scale::prepare(&stack, &population).await?;

    let (weekly, sent) = bench_scale::weekly_audit(&deployment, &population).await?;

    assert_eq!(weekly.status, "SUCCEEDED", "{weekly:?}");
    assert!(weekly.largest_payload < PAYLOAD_BOUND, "{weekly:?}");
    assert!(weekly.history_events < 100, "{weekly:?}");
    // One child per batch of 20 and one per email.
    assert_eq!(
        weekly.child_executions as usize,
        (USERS + 11).div_ceil(20) + sent.len()
    );
    let notified: BTreeSet<String> = sent
        .iter()
        .filter(|e| e.subject.contains("SSH key"))
        .flat_map(|e| e.to.iter())
        .filter_map(|to| partner_of(to))
        .collect();
    let expected: BTreeSet<String> = population.due.iter().cloned().collect();
    assert_eq!(
        notified.symmetric_difference(&expected).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "key notices"
    );
    let digests: BTreeSet<String> = sent
        .iter()
        .filter(|e| !e.subject.contains("SSH key"))
        .flat_map(|e| e.to.iter().cloned())
        .collect();
    let group_addresses: BTreeSet<String> = population
        .groups_with_findings
        .iter()
        .map(|admin| group_address(admin))
        .collect();
    assert_eq!(
        digests, group_addresses,
        "one digest per group with a finding"
    );
    assert_eq!(sent.len(), population.expected_emails());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_200_changes_starts_a_handful_of_runs_that_all_succeed() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let population = Population::new(400, chrono::Utc::now().date_naive());
    let deployment = bench_scale::prepare(&stack, &population).await?;

    let runs = bench_scale::burst(&stack, &deployment, &population).await?;

    assert!(
        runs.len() <= 4,
        "{BURST} changes, {} runs: {runs:?}",
        runs.len()
    );
    for run in &runs {
        assert_eq!(run.status, "SUCCEEDED", "{run:?}");
        assert!(run.largest_payload < PAYLOAD_BOUND, "{run:?}");
        assert!(run.history_events < HISTORY_BOUND, "{run:?}");
    }
    Ok(())
}

/// `ops@partner123.example.com` → `partner000123`.
fn partner_of(address: &str) -> Option<String> {
    let n: usize = address
        .strip_prefix("ops@partner")?
        .strip_suffix(".example.com")?
        .parse()
        .ok()?;
    Some(format!("partner{n:06}"))
}

/// `Group3Admin` → `group3-sftp@example.com`.
fn group_address(admin: &str) -> String {
    let group = admin.trim_start_matches("Group").trim_end_matches("Admin");
    format!("group{group}-sftp@example.com")
}
