//! `cargo xtask demo`: the whole system on the local stack with the sample users — onboarding
//! with the operator CLI, three validation runs, the audit, a partner whose mail bounces (its
//! notice rerouted, the HTML digest saved), logins through the identity provider, three
//! prefix-list syncs, two SMTP credential rotations and the execution history — each printed as
//! it runs.

use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use crate::deployment::{self, Deployment, Execution};
use crate::operator_cli;
use crate::stack::LocalStack;
use warden_core::secret_validation::files;

/// The demo on a running stack: every scenario in turn, each printed as it runs.
pub async fn run(stack: &LocalStack) -> Result<()> {
    let root = crate::workspace_root();
    let deployment = deployment::deploy(stack).await?;
    println!("  deployed {:?}", deployment::STATE_MACHINES);
    operator_cli::demo::onboard(stack, &deployment).await?;

    step(
        "weekly validation of every user (input: {\"mode\": \"all\", \"notifySourceSystems\": true}, dates as of 2026-11-21)",
    );
    let weekly = json!({"mode": "all", "notifySourceSystems": true, "asOf": "2026-11-21"});
    let execution = deployment
        .run("secret-validation", &weekly, Duration::from_secs(300))
        .await?;
    show_execution(&deployment, &execution).await?;
    let mut seen = deployment.sent_emails()?.len();
    show_emails(&deployment, 0)?;
    operator_cli::demo::audit(stack)?;

    step(
        "a change: SFTP/nab-feeds fixes its email delimiter (CloudTrail PutSecretValue event by ARN)",
    );
    let mut nab: Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("test-events/users/nab-feeds.json"),
    )?)?;
    nab["Email"] = json!("ops@nab.example.com,alerts@nab.example.com");
    deployment.put_user("nab-feeds", &nab.to_string()).await?;
    let event: Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("test-events/cloudtrail-put-secret-value.json"),
    )?)?;
    let execution = deployment
        .run("secret-validation", &event, Duration::from_secs(120))
        .await?;
    show_execution(&deployment, &execution).await?;
    show_emails(&deployment, seen)?;
    seen = deployment.sent_emails()?.len();

    step("a change to an admin: SFTP/PaymentsAdmin updated (re-checks its group)");
    let event: Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("test-events/cloudtrail-admin-change.json"),
    )?)?;
    let execution = deployment
        .run("secret-validation", &event, Duration::from_secs(120))
        .await?;
    show_execution(&deployment, &execution).await?;
    show_emails(&deployment, seen)?;
    seen = deployment.sent_emails()?.len();
    demo_suppressed_mail(stack, &deployment, seen).await?;
    demo_logins(stack, &deployment).await?;
    demo_prefix_lists(stack, &deployment).await?;
    demo_smtp_rotation(stack).await?;
    operator_cli::demo::runs(stack, &deployment).await?;
    Ok(())
}

/// Where `cargo xtask demo` saves the HTML part of the findings digest it shows.
pub const DIGEST_HTML: &str = "target/demo/findings-digest.html";

/// Mail that bounced: ing-direct's addresses on SES's suppression list (held by the proxy, as a
/// hard bounce would put them there), the weekly notices again, the operator's view of the list.
async fn demo_suppressed_mail(
    stack: &LocalStack,
    deployment: &Deployment,
    seen: usize,
) -> Result<()> {
    use warden_core::suppression::SuppressionReason;
    const ING: [&str; 2] = ["ops-oncall@ing.example.org", "sftp@ing.example.org"];
    step(
        "mail that bounces: ing-direct's two addresses go on SES's suppression list, then the weekly run with notices again",
    );
    for address in ING {
        deployment
            .suppress(address, SuppressionReason::Bounce)
            .await?;
        println!("  suppressed {address} (BOUNCE)");
    }
    let weekly = json!({"mode": "all", "notifySourceSystems": true, "asOf": "2026-11-21"});
    let execution = deployment
        .run("secret-validation", &weekly, Duration::from_secs(300))
        .await?;
    show_execution(deployment, &execution).await?;
    show_emails(deployment, seen)?;
    let sent = deployment.sent_emails()?;
    if let Some(notice) = sent[seen..]
        .iter()
        .find(|e| e.subject.starts_with("Undeliverable to the partner"))
    {
        println!("  the rerouted notice, as its admin reads it:");
        for line in notice.body.lines().take(12) {
            println!("    | {line}");
        }
    }
    if let Some(digest) = sent[seen..]
        .iter()
        .find(|e| e.subject.starts_with("sftp-warden:") && e.html.is_some())
    {
        let path = crate::workspace_root().join(DIGEST_HTML);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, digest.html.as_deref().unwrap_or_default())?;
        println!(
            "  the HTML part of the digest to {} is saved in {DIGEST_HTML} (open it in a browser)",
            digest.to.join(", ")
        );
    }
    operator_cli::demo::mail(stack, ING[0])?;
    Ok(())
}

/// SFTP logins through the identity provider, the way Transfer asks: through API Gateway
/// (the proxy's stand-in) and with the direct Lambda event.
async fn demo_logins(stack: &LocalStack, deployment: &Deployment) -> Result<()> {
    use crate::idp::{self, Login};
    step(
        "SFTP logins through the identity provider (API Gateway: GET /servers/{serverId}/users/{username}/config)",
    );
    // Key ages count from today: date bankwest-legacy's key 13 months back, past the 12-month limit.
    let expired = (chrono::Utc::now().date_naive() - chrono::Months::new(13)).format("%Y%m%d");
    let mut bankwest: Value = serde_json::from_str(&std::fs::read_to_string(
        crate::workspace_root().join("test-events/users/bankwest-legacy.json"),
    )?)?;
    let key = bankwest["PublicKey"].as_str().unwrap_or_default();
    let key = key.rsplit_once('=').map_or(key, |(head, _)| head);
    bankwest["PublicKey"] = json!(format!("{key}={expired}"));
    deployment
        .put_user("bankwest-legacy", &bankwest.to_string())
        .await?;

    let bpay = "example-Passw0rd-bpay-2026";
    let logins = [
        (
            "bpay-batch: password login, right password, from its address",
            Login::password("bpay-batch", bpay, "203.0.113.200"),
        ),
        (
            "bpay-batch: wrong password",
            Login::password("bpay-batch", "example-Passw0rd-bpay-2025", "203.0.113.200"),
        ),
        (
            "anz-bank: key login from 198.51.100.1, outside its CIDRs",
            Login::key("anz-bank", "198.51.100.1"),
        ),
        (
            "anz-bank: key login from 2001:db8:a0::7, inside its IPv6 CIDR",
            Login::key("anz-bank", "2001:db8:a0::7"),
        ),
        (
            "bankwest-legacy: key login with the only key updated 13 months ago",
            Login::key("bankwest-legacy", "192.0.2.110"),
        ),
        (
            "SFTPSuperAdmin: key login (session policy covers the whole bucket)",
            Login::key("SFTPSuperAdmin", "192.0.2.10"),
        ),
    ];
    for (what, login) in &logins {
        let (status, body) = idp::via_api_gateway(stack, login)?;
        println!("  {what}\n    HTTP {status} {}", shorten(&body));
        show_decision(stack)?;
    }
    let direct = Login::key("westpac-h2h", "198.51.100.17");
    println!("  westpac-h2h: the direct Lambda event (IdentityProviderType AWS_LAMBDA), two keys");
    println!("    {}", shorten(&idp::via_lambda(stack, &direct)?));
    show_decision(stack)?;
    Ok(())
}

/// The answer with long strings (policy, keys) cut, so each fits a line or two.
fn shorten(answer: &Value) -> String {
    fn cut(value: &Value) -> Value {
        match value {
            Value::String(s) if s.chars().count() > 72 => {
                json!(format!(
                    "{}… ({} chars)",
                    s.chars().take(60).collect::<String>(),
                    s.chars().count()
                ))
            }
            Value::Array(items) => Value::Array(items.iter().map(cut).collect()),
            Value::Object(map) => {
                Value::Object(map.iter().map(|(k, v)| (k.clone(), cut(v))).collect())
            }
            other => other.clone(),
        }
    }
    cut(answer).to_string()
}

/// The function's log line for the latest login.
fn show_decision(stack: &LocalStack) -> Result<()> {
    use crate::idp::field;
    std::thread::sleep(Duration::from_millis(50));
    if let Some(line) = crate::idp::decisions(stack)?.last() {
        let text = |name| field(line, name).as_str().unwrap_or("-").to_owned();
        match text("outcome").as_str() {
            "granted" => println!(
                "    log: granted, {} home {} ({} keys)",
                text("role"),
                text("home"),
                field(line, "keys")
            ),
            _ => println!(
                "    log: denied, reason {} ({})",
                text("reason"),
                text("detail")
            ),
        }
    }
    Ok(())
}

async fn show_execution(deployment: &Deployment, execution: &Execution) -> Result<()> {
    println!(
        "  execution {} — {} in {:.1} s",
        short(&execution.arn),
        execution.status,
        execution.elapsed.as_secs_f64()
    );
    println!("  states passed:");
    let mut last: Option<(&str, usize)> = None;
    let mut lines = Vec::new();
    for state in &execution.states {
        match &mut last {
            Some((name, count)) if *name == state.as_str() => *count += 1,
            _ => {
                if let Some((n, c)) = last.take() {
                    lines.push((n, c));
                }
                last = Some((state.as_str(), 1));
            }
        }
    }
    lines.extend(last);
    for (name, count) in lines {
        if count > 1 {
            println!("    - {name} (x{count})");
        } else {
            println!("    - {name}");
        }
    }
    if let Some(error) = &execution.error {
        println!(
            "  error: {error}: {}",
            execution.cause.as_deref().unwrap_or("")
        );
    }
    // Each batch's report is a file of the run in the work bucket (the Map's children write them).
    let batches = deployment.run_files(&execution.arn, files::REPORTS).await?;
    let reports: Vec<&Value> = batches
        .iter()
        .flat_map(|b| b["reports"].as_array().into_iter().flatten())
        .collect();
    if !reports.is_empty() {
        println!("  findings per user:");
    }
    for report in reports {
        let user = report["username"].as_str().unwrap_or("?");
        for f in report["findings"].as_array().into_iter().flatten() {
            println!(
                "    {user:<16} rule {} [{}] {}",
                f["rule"],
                f["code"].as_str().unwrap_or(""),
                f["detail"].as_str().unwrap_or("")
            );
        }
        for n in report["keyNotices"].as_array().into_iter().flatten() {
            println!(
                "    {user:<16} rule 9 key {} is {} months old; refused after {}",
                n["fingerprint"].as_str().unwrap_or(""),
                n["ageMonths"],
                n["refuseAfter"].as_str().unwrap_or("")
            );
        }
    }
    if let Some(output) = &execution.output {
        println!("  execution output (the run's summary):");
        for line in serde_json::to_string_pretty(output)?.lines() {
            println!("    {line}");
        }
    }
    Ok(())
}

fn show_emails(deployment: &Deployment, skip: usize) -> Result<()> {
    let sent = deployment.sent_emails()?;
    println!("  emails recorded by SES (moto): {}", sent.len() - skip);
    for email in sent.iter().skip(skip) {
        println!("    to: {}", email.to.join(", "));
        if !email.cc.is_empty() {
            println!("    cc: {}", email.cc.join(", "));
        }
        println!("    subject: {}", email.subject);
        let tags: Vec<String> = email
            .email_tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "    sent through {}, text + {}, tags {}\n",
            email
                .configuration_set_name
                .as_deref()
                .unwrap_or("no configuration set"),
            if email.html.is_some() {
                "HTML"
            } else {
                "no HTML"
            },
            tags.join(" ")
        );
    }
    Ok(())
}

/// The SES SMTP credentials rotated twice with the operator CLI ("Rotate secret immediately"):
/// the steps, the deployment's states, the key ids before and after, then `smtp status`.
async fn demo_smtp_rotation(stack: &LocalStack) -> Result<()> {
    let config = stack.sdk_config().await;
    for (n, what) in [
        (1, "the first rotation: no key yet, one after"),
        (
            2,
            "the next rotation: the new key deployed, then the old one deactivated and deleted (grace period 0 here)",
        ),
    ] {
        step(&format!(
            "SES SMTP credentials, rotation {n}: {what} (sftp-warden smtp rotate)"
        ));
        println!("  keys before: {:?}", crate::smtp::keys(&config).await?);
        let run = tokio::task::block_in_place(|| operator_cli::run(stack, &["smtp", "rotate"]))?;
        print!("{}", indent(&run.stdout));
        if run.code != 0 {
            anyhow::bail!("sftp-warden smtp rotate failed: {}", run.stderr);
        }
        println!("  keys after:  {:?}", crate::smtp::keys(&config).await?);
    }
    let logins = crate::smtp::smtp_logins(stack)?;
    println!(
        "  the local SMTP endpoint accepted {} login(s) with the password derived in Python from moto's key, refused {}",
        logins.iter().filter(|l| l.accepted).count(),
        logins.iter().filter(|l| !l.accepted).count()
    );
    step("sftp-warden smtp status");
    let run = tokio::task::block_in_place(|| operator_cli::run(stack, &["smtp", "status"]))?;
    print!("{}", indent(&run.stdout));
    Ok(())
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn short(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn step(text: &str) {
    println!("\n==> {text}");
}

/// The prefix-list sync on the sample users: the managed lists before and after a weekly run,
/// after a secret change, and a run with nothing to change.
async fn demo_prefix_lists(stack: &LocalStack, deployment: &Deployment) -> Result<()> {
    use crate::prefix_lists::{LocalLists, print_lists, run_sync};
    use warden_core::prefix_lists::AddressFamily;
    step(
        "prefix-list sync: the managed lists before (one stale entry, one already right; office-vpn is not managed)",
    );
    let lists = LocalLists::connect(stack).await;
    lists
        .create(
            "sftp-partners-ipv4-a-AUTOMATED_PREFIX",
            AddressFamily::V4,
            16,
            &[
                ("192.0.2.10/32", "SFTPSuperAdmin"),
                ("198.51.100.250/32", "retired-partner"),
            ],
        )
        .await?;
    lists
        .create(
            "sftp-partners-ipv4-b-AUTOMATED_PREFIX",
            AddressFamily::V4,
            16,
            &[],
        )
        .await?;
    lists
        .create(
            "sftp-partners-ipv6-AUTOMATED_PREFIX",
            AddressFamily::V6,
            8,
            &[],
        )
        .await?;
    lists
        .create(
            "office-vpn",
            AddressFamily::V4,
            5,
            &[("192.0.2.200/32", "office")],
        )
        .await?;
    print_lists(&lists.snapshot().await?);

    step("prefix-list sync, weekly run (input: {\"mode\": \"all\", \"schedule\": \"weekly\"})");
    let weekly = json!({"mode": "all", "schedule": "weekly"});
    show_sync(&run_sync(deployment, &weekly).await?)?;
    println!("  the lists after:");
    print_lists(&lists.snapshot().await?);

    step(
        "prefix-list sync after a change: SFTP/nab-feeds moves to 203.0.113.21/32 (CloudTrail PutSecretValue event)",
    );
    let root = crate::workspace_root();
    let mut nab: Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("test-events/users/nab-feeds.json"),
    )?)?;
    nab["IP"] = json!("203.0.113.21/32");
    deployment.put_user("nab-feeds", &nab.to_string()).await?;
    let event: Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("test-events/cloudtrail-put-secret-value.json"),
    )?)?;
    show_sync(&run_sync(deployment, &event).await?)?;

    step("prefix-list sync again with nothing changed: no write");
    show_sync(&run_sync(deployment, &weekly).await?)?;
    Ok(())
}

fn show_sync(execution: &Execution) -> Result<()> {
    let summary = crate::prefix_lists::summary_of(execution)?;
    println!(
        "  execution {} — {} in {:.1} s; EC2 calls: {} reads, {} writes; {} secret reads",
        short(&execution.arn),
        execution.status,
        execution.elapsed.as_secs_f64(),
        summary["ec2Calls"]["reads"],
        summary["ec2Calls"]["writes"],
        summary["secretReads"]
    );
    for list in summary["lists"].as_array().into_iter().flatten() {
        // The bounded summary names the first few CIDRs; the full one (work bucket) has all.
        let cidrs = |key: &str| {
            list[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        println!(
            "    {} {}: {} of {} entries; added {} [{}]; removed {} [{}]",
            list["family"].as_str().unwrap_or(""),
            list["name"].as_str().unwrap_or(""),
            list["entries"],
            list["maxEntries"],
            list["added"],
            cidrs("firstAdded"),
            list["removed"],
            cidrs("firstRemoved")
        );
    }
    for problem in summary["problems"].as_array().into_iter().flatten() {
        println!("    problem: {}", problem.as_str().unwrap_or(""));
    }
    if let Some(full) = summary["fullSummary"].as_str() {
        println!("    every CIDR added and removed: {full}");
    }
    Ok(())
}
