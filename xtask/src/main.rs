//! `cargo xtask <task>`: the project's developer tasks.
//!
//! * `demo` — runs the whole system on the local stack with the sample users and shows what it did.
//! * `test` — every check CI runs: fmt, clippy, state-machine lint, unit and integration tests.
//! * `stack` — starts the local stack and keeps it up until Ctrl-C (for poking at it by hand).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use xtask::stack::{LocalStack, StackOptions};
use xtask::tools::{self, run};
use xtask::workflows::{self, Deployment, Execution};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => test(),
        Some("stack") => stack(),
        Some("lint") => lint(),
        _ => {
            eprintln!("usage: cargo xtask <demo|test|stack|lint>\n");
            eprintln!("  demo   run the system locally on the sample users and show what it did");
            eprintln!("  test   fmt, clippy, lint, unit and integration tests (what CI runs)");
            eprintln!("  stack  start the local stack and keep it running until Ctrl-C");
            eprintln!("  lint   lint the state machines");
            std::process::exit(2);
        }
    }
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(xtask::workspace_root());
    c
}

fn build_functions() -> Result<()> {
    run(cargo().args(["build", "--workspace", "--bins", "--quiet"]))
}

fn test() -> Result<()> {
    let tools = tools::ensure()?;
    step("cargo fmt --check");
    run(cargo().args(["fmt", "--all", "--check"]))?;
    step("cargo clippy --all-targets -D warnings");
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--quiet",
        "--",
        "-D",
        "warnings",
    ]))?;
    step("lint the state machines");
    lint_state_machines(&tools)?;
    step("build the function binaries for the local stack");
    build_functions()?;
    step("unit and integration tests");
    run(cargo().args(["test", "--workspace", "--all-targets"]))?;
    step("all checks passed");
    Ok(())
}

fn lint() -> Result<()> {
    lint_state_machines(&tools::ensure()?)
}

/// Parses every definition with the ASL parser of moto's engine (the one that runs them) after
/// substitution; the structural rules (Retry, Catch, JSONPath only) are tests in `tests/`.
fn lint_state_machines(tools: &tools::Tools) -> Result<()> {
    for name in workflows::STATE_MACHINES {
        let definition = workflows::definition(name)?;
        let script = "import sys\nfrom moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser\nAmazonStateLanguageParser.parse(sys.stdin.read())\n";
        let mut child = Command::new(&tools.python)
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .spawn()?;
        use std::io::Write;
        child
            .stdin
            .take()
            .context("stdin")?
            .write_all(definition.as_bytes())?;
        if !child.wait()?.success() {
            bail!("statemachines/{name}.asl.json does not parse as ASL");
        }
        println!("  statemachines/{name}.asl.json: parses");
    }
    Ok(())
}

fn stack() -> Result<()> {
    build_functions()?;
    let stack = LocalStack::start(StackOptions::default())?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(workflows::deploy(&stack))?;
    println!(
        "local stack up: moto {}  (logs in {})",
        stack.moto_url(),
        stack.log_dir.display()
    );
    for (name, pid) in stack.pids() {
        println!("  {name:<15} pid {pid}");
    }
    println!("Ctrl-C stops it.");
    let (tx, rx) = std::sync::mpsc::channel();
    // SAFETY: a handler that only writes to a static flag; the main thread polls it.
    unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t) };
    std::thread::spawn(move || {
        while !STOP.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = tx.send(());
    });
    let _ = rx.recv();
    println!("stopping");
    Ok(())
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn demo() -> Result<()> {
    step("building the function binaries");
    build_functions()?;
    step("starting the local stack (moto server, cargo lambda watch, proxy, 6 functions)");
    let stack = LocalStack::start(StackOptions::default())?;
    for (name, pid) in stack.pids() {
        println!("  {name:<15} pid {pid}");
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(demo_runs(&stack))?;
    step(&format!(
        "stopping the stack (logs kept in {})",
        stack.log_dir.display()
    ));
    drop(stack);
    Ok(())
}

async fn demo_runs(stack: &LocalStack) -> Result<()> {
    let root = xtask::workspace_root();
    let deployment = workflows::deploy(stack).await?;
    let users = deployment
        .seed_users(&root.join("test-events/users"))
        .await?;
    println!(
        "  deployed {:?}; seeded {} users from test-events/users",
        workflows::STATE_MACHINES,
        users.len()
    );

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
    let batches = deployment
        .state_outputs(&execution.arn, "Validate this batch of users")
        .await?;
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
        println!("    subject: {}\n", email.subject);
    }
    Ok(())
}

fn short(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

fn step(text: &str) {
    println!("\n==> {text}");
}
