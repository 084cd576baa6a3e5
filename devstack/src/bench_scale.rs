//! `cargo xtask bench-scale [--users N]`: the weekly audit with key notices, a full prefix-list
//! sync and a burst of 200 secret changes, on N users (default 10,000) on the local stack; per
//! run the figures Step Functions' quotas bound, then the same worked out on paper for 50,000
//! and 100,000 users.
//!
//! Figures are real executions on moto's engine; times are local (no network, no Lambda cold
//! starts, no SES sending rate), so they say how the work grows, not how long AWS takes.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::changes::{put_secret_value, queue_batch};
use crate::deployment::{self, Deployment, Execution};
use crate::population::Population;
use crate::prefix_lists::{AddressFamily, LocalLists};
use crate::stack::LocalStack;

/// Changes in the burst, and how the queue hands them over (a minute's worth per batch, at most
/// 1,000; two pollers split a burst like this in two).
pub const BURST: usize = 200;
const BURST_BATCHES: usize = 2;
/// IPv4 prefix lists hold 1,000 entries each; this many hold 100,000 partners with room.
const ENTRIES_PER_LIST: usize = 1_000;

/// What one run did, as the table prints it.
#[derive(Debug, Clone)]
pub struct RunFigures {
    pub run: String,
    pub status: String,
    pub history_events: usize,
    pub largest_payload: usize,
    pub child_executions: i64,
    pub secret_reads: Option<u64>,
    pub emails: usize,
    pub wall: Duration,
}

/// Seeds the population and the prefix lists that can hold it; returns the deployment.
pub async fn prepare(stack: &LocalStack, population: &Population) -> Result<Deployment> {
    let deployment = deployment::deploy(stack).await?;
    let started = Instant::now();
    deployment.seed(&population.secrets, 16).await?;
    println!(
        "  seeded {} secrets in {:.1} s",
        population.secrets.len(),
        started.elapsed().as_secs_f64()
    );
    let lists = LocalLists::connect(stack).await;
    for (family, cidrs, name) in [
        (AddressFamily::V4, population.ipv4, "sftp-ipv4"),
        (AddressFamily::V6, population.ipv6, "sftp-ipv6"),
    ] {
        // Room for every CIDR and a fifth more, in lists of 1,000.
        let count = (cidrs * 6 / 5).div_ceil(ENTRIES_PER_LIST).max(1);
        for i in 0..count {
            lists
                .create(
                    &format!("{name}-{i:02}-AUTOMATED_PREFIX"),
                    family,
                    ENTRIES_PER_LIST,
                    &[],
                )
                .await?;
        }
        println!("  {count} {} lists of {ENTRIES_PER_LIST}", family.as_str());
    }
    Ok(deployment)
}

/// One execution's figures.
pub async fn figures(
    deployment: &Deployment,
    run: &str,
    execution: &Execution,
    emails: usize,
) -> Result<RunFigures> {
    let history = deployment.history_figures(&execution.arn).await?;
    let output = execution.output.as_ref().or(execution.cause_json.as_ref());
    Ok(RunFigures {
        run: run.to_owned(),
        status: execution.status.clone(),
        history_events: history.events,
        largest_payload: history.largest_payload,
        child_executions: deployment.map_run_children(&execution.arn).await?,
        secret_reads: output.and_then(|o| o["secretReads"].as_u64()),
        emails,
        wall: execution.elapsed,
    })
}

/// The weekly audit with notices: its figures, and whether it sent what the population says.
pub async fn weekly_audit(
    deployment: &Deployment,
    population: &Population,
) -> Result<(RunFigures, Vec<deployment::SentEmail>)> {
    let before = deployment.sent_emails()?.len();
    let input = json!({
        "mode": "all", "notifySourceSystems": true,
        "asOf": population.as_of.format("%Y-%m-%d").to_string()
    });
    let execution = deployment
        .run("secret-validation", &input, Duration::from_secs(3_600))
        .await?;
    let sent: Vec<_> = deployment.sent_emails()?.into_iter().skip(before).collect();
    let figures = figures(
        deployment,
        "weekly audit with notices",
        &execution,
        sent.len(),
    )
    .await?;
    Ok((figures, sent))
}

/// A full sync (the weekly drift repair).
pub async fn full_sync(deployment: &Deployment) -> Result<RunFigures> {
    let input = json!({"mode": "all", "schedule": "weekly"});
    let execution = deployment
        .run("prefix-list-sync", &input, Duration::from_secs(3_600))
        .await?;
    figures(deployment, "full prefix-list sync", &execution, 0).await
}

/// A burst: `BURST` users change their address at once; the events reach start-runs the way the
/// queue gathers them. Returns the figures of every execution it started.
pub async fn burst(
    stack: &LocalStack,
    deployment: &Deployment,
    population: &Population,
) -> Result<Vec<RunFigures>> {
    let partners: Vec<&(String, Value)> = population
        .secrets
        .iter()
        .filter(|(u, _)| u.starts_with("partner"))
        .take(BURST)
        .collect();
    let mut events = Vec::new();
    for (i, (username, secret)) in partners.iter().enumerate() {
        let mut changed = secret.clone();
        changed["IP"] = json!(format!("198.51.100.{}/32", i % 256));
        deployment.put_user(username, changed.to_string()).await?;
        events.push(put_secret_value(username, &format!("burst-{i:04}")));
    }
    let before = deployment.sent_emails()?.len();
    let started = Instant::now();
    let batches: Vec<Value> = events
        .chunks(BURST.div_ceil(BURST_BATCHES))
        .map(queue_batch)
        .collect();
    // The batches arrive at once, as two pollers would hand them over.
    let answers: Vec<Value> = std::thread::scope(|scope| {
        let handles: Vec<_> = batches
            .iter()
            .map(|batch| scope.spawn(move || stack.invoke("start-runs", batch)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("invoke panicked")))
            })
            .collect::<Result<_>>()
    })?;
    let mut names = Vec::new();
    for answer in &answers {
        let started = answer["started"]
            .as_array()
            .with_context(|| format!("start-runs answered {answer}"))?;
        names.extend(started.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    let mut figures_of = Vec::new();
    for name in &names {
        let machine = if name.starts_with("secret-validation") {
            "secret-validation"
        } else {
            "prefix-list-sync"
        };
        let execution = deployment
            .wait_for(machine, name, Duration::from_secs(3_600))
            .await?;
        let label = format!("burst: {name}");
        figures_of.push(figures(deployment, &label, &execution, 0).await?);
    }
    let emails = deployment.sent_emails()?.len() - before;
    println!(
        "  burst: {BURST} change events in {} batches started {} executions; {emails} emails; {:.1} s until all finished",
        batches.len(),
        names.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(figures_of)
}

pub fn table(runs: &[RunFigures]) -> String {
    let mut out = String::from(
        "| run | status | parent history events | largest state payload (bytes) | child executions | secret reads | emails | wall (local) |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} s |\n",
            r.run,
            r.status,
            r.history_events,
            r.largest_payload,
            r.child_executions,
            r.secret_reads.map_or("-".to_owned(), |n| n.to_string()),
            r.emails,
            r.wall.as_secs_f64()
        ));
    }
    out
}

/// The weekly run and the full sync for `users` partners, worked out from the design against
/// the quotas (DESIGN.md section 8) and the functions' timeouts (template.yaml).
pub fn on_paper(users: usize) -> BTreeMap<&'static str, String> {
    let batches = users.div_ceil(20);
    let notices = users / 6;
    let digests = 11;
    let emails = notices + digests;
    let list_pages = users.div_ceil(100);
    let mut figures = BTreeMap::new();
    figures.insert(
        "validation Map",
        format!("{batches} child executions (items), {batches} BatchGetSecretValue calls; at MaxConcurrency 10 and ~0.3 s a batch, {:.0} min", batches as f64 * 0.3 / 10.0 / 60.0),
    );
    figures.insert(
        "send Map",
        format!("{emails} child executions; SES at 14 messages/s (the default production quota) takes {:.0} min, MaxConcurrency 5 and EmailThrottled retries keep under it", emails as f64 / 14.0 / 60.0),
    );
    figures.insert(
        "validation history",
        "~40 events whatever the size (children keep their own histories): quota 25,000".into(),
    );
    figures.insert(
        "largest state payload",
        "bounded: the plan's counts, the scope (at most 500 names), the summary (< 32 KiB by test); quota 256 KiB".into(),
    );
    figures.insert(
        "list-users",
        format!(
            "{list_pages} ListSecrets pages, sequential at ~0.15 s: {:.0} s of its 300 s timeout",
            list_pages as f64 * 0.15
        ),
    );
    figures.insert(
        "build-digests / summarise-run",
        format!("read {batches} reports and write/read {emails} emails and outcomes, 16 at a time at ~30 ms: {:.0} s / {:.0} s of their 300 s timeouts", (batches + emails) as f64 * 0.03 / 16.0, (batches + 2 * emails) as f64 * 0.03 / 16.0),
    );
    let listing = list_pages as f64 * 0.15;
    let reading = batches as f64 * 0.15 / 4.0;
    figures.insert(
        "read-user-cidrs (sync)",
        format!(
            "{list_pages} ListSecrets pages one after the other (~{listing:.0} s) overlapping {batches} BatchGetSecretValue calls 4 at a time (~{reading:.0} s): ~{:.0} s of its 300 s timeout; ~27 reads/s of Secrets Manager's 100/s",
            listing.max(reading) + 0.15
        ),
    );
    let lists = users.div_ceil(1_000);
    let steps = users.div_ceil(100);
    figures.insert(
        "plan-prefix-lists (IPv4)",
        format!(
            "1 S3 read, 1 + {lists} EC2 reads, {steps} step files written 16 at a time at ~30 ms: ~{:.0} s of its 120 s timeout",
            steps as f64 * 0.03 / 16.0 + (1 + lists) as f64 * 0.15
        ),
    );
    figures.insert(
        "sync history",
        format!(
            "~65 events in the run whatever the size (each family's list changes are a Distributed Map: {lists} IPv4 children, each at most 20 steps of ~7 events) + 9 per wait round, at most 20 rounds: < 250 of 25,000"
        ),
    );
    figures.insert(
        "first sync writes",
        format!(
            "{steps} ModifyManagedPrefixList calls of 100 entries, 10 lists at a time, each list's writes one after the other (a write waits for the previous change, ~5-10 s on EC2): ~{:.0} min",
            (steps as f64 / 10.0_f64.min(lists as f64)) * 10.0 / 60.0
        ),
    );
    figures.insert(
        "prefix lists",
        format!("{} IPv4 entries in {} lists of 1,000 (quota: 1,000 entries a list, 100 lists a Region; a security group counts each list as its MaxEntries)", users, users.div_ceil(1_000)),
    );
    figures
}

/// The whole benchmark.
pub async fn bench(stack: &LocalStack, users: usize) -> Result<()> {
    let as_of = chrono::Utc::now().date_naive();
    let population = Population::new(users, as_of);
    println!(
        "\n==> {users} partners in 10 groups: {} due a key notice, {} with a finding, {} IPv4 and {} IPv6 CIDRs",
        population.due.len(),
        population.with_findings.len(),
        population.ipv4,
        population.ipv6
    );
    let deployment = prepare(stack, &population).await?;
    let mut runs = Vec::new();

    println!("\n==> the weekly audit with notices");
    let (weekly, sent) = weekly_audit(&deployment, &population).await?;
    println!(
        "  {} in {:.1} s; {} emails (expected {})",
        weekly.status,
        weekly.wall.as_secs_f64(),
        sent.len(),
        population.expected_emails()
    );
    runs.push(weekly);

    println!("\n==> a full prefix-list sync");
    let sync = full_sync(&deployment).await?;
    println!("  {} in {:.1} s", sync.status, sync.wall.as_secs_f64());
    runs.push(sync);

    println!("\n==> a burst of {BURST} secret changes");
    runs.extend(burst(stack, &deployment, &population).await?);

    println!("\n{}", table(&runs));
    for paper_users in [50_000, 100_000] {
        println!("On paper, {paper_users} users:");
        for (what, figure) in on_paper(paper_users) {
            println!("  {what}: {figure}");
        }
    }
    if runs.iter().any(|r| r.status != "SUCCEEDED") {
        bail!("a run did not succeed");
    }
    Ok(())
}
