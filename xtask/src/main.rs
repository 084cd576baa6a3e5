//! `cargo xtask <task>`: the project's developer tasks.
//!
//! * `demo` — runs the whole system on the local stack with the sample users and shows what it did.
//! * `test` — every check CI runs: fmt, clippy, state-machine lint, unit and integration tests.
//! * `stack` — starts the local stack and keeps it up until Ctrl-C (for poking at it by hand).

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use xtask::operator_cli;
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
        Some("package") => package(),
        Some("bench-idp") => bench_idp(&args[1..]),
        Some("bench-prefix-lists") => bench_prefix_lists(),
        _ => {
            eprintln!(
                "usage: cargo xtask <demo|test|stack|lint|package|bench-idp|bench-prefix-lists>\n"
            );
            eprintln!("  demo   run the system locally on the sample users and show what it did");
            eprintln!("  test   fmt, clippy, lint, unit and integration tests (what CI runs)");
            eprintln!("  stack  start the local stack and keep it running until Ctrl-C");
            eprintln!("  lint   lint the state machines and templates");
            eprintln!("  package  build every function for arm64 (release) with cargo-lambda");
            eprintln!(
                "  bench-idp [--debug] [--logins N] [--no-build]  identity provider vs Python boto3"
            );
            eprintln!(
                "  bench-prefix-lists  prefix-list sync: EC2 calls and time for 1,000 CIDRs, 10, none"
            );
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
    step("lint and scan the templates");
    lint_templates(&tools)?;
    step("build the function binaries for the local stack");
    build_functions()?;
    step("unit and integration tests");
    run(cargo().args(["test", "--workspace", "--all-targets"]))?;
    step("all checks passed");
    Ok(())
}

fn lint() -> Result<()> {
    let tools = tools::ensure()?;
    lint_state_machines(&tools)?;
    lint_templates(&tools)
}

/// cfn-lint and checkov on both templates (each checkov suppression carries its reason in the
/// template), then the checks that tie template.yaml to the crates, the ASL and the sample events.
fn lint_templates(tools: &tools::Tools) -> Result<()> {
    let root = xtask::workspace_root();
    run(Command::new(&tools.cfn_lint)
        .current_dir(&root)
        .args(["template.yaml", "network.yaml"]))?;
    println!("  cfn-lint: template.yaml, network.yaml clean");
    let checkov = tools::scanner()?;
    run(Command::new(checkov).current_dir(&root).args([
        "--quiet",
        "--compact",
        "--skip-download",
        "--framework",
        "cloudformation",
        "--file",
        "template.yaml",
        "--file",
        "network.yaml",
    ]))?;
    println!("  checkov: no failed checks");
    run(Command::new(&tools.python)
        .current_dir(&root)
        .arg("localstack/check_templates.py"))
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

/// Builds every function for Lambda's arm64 `provided.al2023` runtime with cargo-lambda (which
/// cross-compiles with the zig it ships) and prints each artifact's size.
fn package() -> Result<()> {
    let tools = tools::ensure()?;
    let root = xtask::workspace_root();
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()?;
    if !String::from_utf8_lossy(&installed.stdout).contains("aarch64-unknown-linux-gnu") {
        run(Command::new("rustup").args(["target", "add", "aarch64-unknown-linux-gnu"]))?;
    }
    let functions = function_crates(&root)?;
    let mut build = Command::new(&tools.cargo_lambda);
    build
        .current_dir(&root)
        .args(["lambda", "build", "--release", "--arm64"]);
    for f in &functions {
        build.args(["--bin", f]);
    }
    // cargo-lambda finds `zig` on PATH: the one the ziglang wheel put in the venv.
    let venv_bin = tools
        .python
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))?;
    run(build.env("PATH", path))?;
    println!("\n{:<28} {:>10}", "function (bootstrap)", "size");
    for f in &functions {
        let artifact = xtask::target_dir().join("lambda").join(f).join("bootstrap");
        let size = std::fs::metadata(&artifact)
            .with_context(|| format!("{} was not produced", artifact.display()))?
            .len();
        println!("{f:<28} {:>7.1} MiB", size as f64 / (1024.0 * 1024.0));
    }
    Ok(())
}

/// The package names of every crate under functions/.
fn function_crates(root: &std::path::Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root.join("functions"))? {
        let manifest = entry?.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        if let Some(name) = text.lines().find_map(|l| l.strip_prefix("name = \"")) {
            names.push(name.trim_end_matches('"').to_owned());
        }
    }
    names.sort();
    Ok(names)
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
    step(&format!(
        "starting the local stack (moto server, cargo lambda watch, proxy, {} functions)",
        xtask::stack::FUNCTIONS.len()
    ));
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
    println!("  deployed {:?}", workflows::STATE_MACHINES);
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
    demo_logins(stack, &deployment).await?;
    demo_prefix_lists(stack, &deployment).await?;
    operator_cli::demo::runs(stack, &deployment).await?;
    Ok(())
}

/// SFTP logins through the identity provider, the way Transfer asks: through API Gateway
/// (the proxy's stand-in) and with the direct Lambda event.
async fn demo_logins(stack: &LocalStack, deployment: &Deployment) -> Result<()> {
    use xtask::idp::{self, Login};
    step(
        "SFTP logins through the identity provider (API Gateway: GET /servers/{serverId}/users/{username}/config)",
    );
    // Key ages count from today: date bankwest-legacy's key 13 months back, past the 12-month limit.
    let expired = (chrono::Utc::now().date_naive() - chrono::Months::new(13)).format("%Y%m%d");
    let mut bankwest: Value = serde_json::from_str(&std::fs::read_to_string(
        xtask::workspace_root().join("test-events/users/bankwest-legacy.json"),
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
    use xtask::idp::field;
    std::thread::sleep(Duration::from_millis(50));
    if let Some(line) = xtask::idp::decisions(stack)?.last() {
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

/// `cargo xtask bench-idp`: see `xtask::bench_idp` for the method.
fn bench_idp(args: &[String]) -> Result<()> {
    use xtask::bench_idp::{Contender, Emulator, measure, table, to_json};
    let release = !args.iter().any(|a| a == "--debug");
    let logins: usize = match args.iter().position(|a| a == "--logins") {
        Some(i) => args
            .get(i + 1)
            .context("--logins needs a number")?
            .parse()?,
        None => 200,
    };
    let profile = if release { "release" } else { "debug" };
    if args.iter().any(|a| a == "--no-build") {
        step(&format!(
            "using the binaries already built ({profile} identity provider)"
        ));
    } else {
        step(&format!(
            "building the identity provider ({profile}) and the local stack's functions"
        ));
        build_functions()?;
        if release {
            run(cargo().args(["build", "--release", "--quiet", "-p", "identity-provider"]))?;
        }
    }
    let tools = tools::ensure()?;
    let stack = LocalStack::start(StackOptions::default())?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let deployment = workflows::deploy(&stack).await?;
        deployment
            .seed_users(&xtask::workspace_root().join("test-events/users"))
            .await
    })?;
    let python_version = Command::new(&tools.python).arg("--version").output()?;
    let contenders = [
        Contender {
            label: format!("Rust identity-provider ({profile})"),
            command: vec![
                xtask::target_dir()
                    .join(profile)
                    .join("identity-provider")
                    .display()
                    .to_string(),
            ],
        },
        Contender {
            label: format!(
                "{} + boto3",
                String::from_utf8_lossy(&python_version.stdout).trim()
            ),
            command: vec![
                tools.python.display().to_string(),
                xtask::workspace_root()
                    .join("localstack/bench/idp_baseline.py")
                    .display()
                    .to_string(),
            ],
        },
    ];
    step(&format!(
        "5 cold starts each, then {logins} warm logins (bpay-batch password login, direct event)"
    ));
    let emulator = Emulator::start(&stack)?;
    let mut all = Vec::new();
    for contender in &contenders {
        let figures = measure(&stack, &emulator, contender, 5, logins)?;
        println!(
            "  {}: cold starts {:.1?} ms",
            figures.label, figures.cold_ms
        );
        all.push(figures);
    }
    println!("\n{}", table(&all));
    if let [rust, python] = all.as_slice() {
        println!(
            "cold start {:.1}x faster, warm p50 {:.1}x faster, peak memory {:.1}x smaller",
            python.cold_median() / rust.cold_median(),
            python.warm(50.0) / rust.warm(50.0),
            python.peak_rss_kib as f64 / rust.peak_rss_kib.max(1) as f64
        );
    }
    let record = stack.log_dir.join("bench-idp.json");
    std::fs::write(&record, serde_json::to_string_pretty(&to_json(&all))?)?;
    println!("figures saved to {}", record.display());
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

/// The prefix-list sync on the sample users: the managed lists before and after a weekly run,
/// after a secret change, and a run with nothing to change.
async fn demo_prefix_lists(stack: &LocalStack, deployment: &Deployment) -> Result<()> {
    use warden_core::prefix_lists::AddressFamily;
    use xtask::prefix_lists::{LocalLists, print_lists, run_sync};
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
    let root = xtask::workspace_root();
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
    let summary = xtask::prefix_lists::summary_of(execution)?;
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
            "    {} {}: {} of {} entries; added [{}]; removed [{}]",
            list["family"].as_str().unwrap_or(""),
            list["name"].as_str().unwrap_or(""),
            list["entries"],
            list["maxEntries"],
            cidrs("added"),
            cidrs("removed")
        );
    }
    for problem in summary["problems"].as_array().into_iter().flatten() {
        println!("    problem: {}", problem.as_str().unwrap_or(""));
    }
    Ok(())
}

fn bench_prefix_lists() -> Result<()> {
    step("building the function binaries");
    build_functions()?;
    step("starting the local stack");
    let stack = LocalStack::start(StackOptions::default())?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(xtask::prefix_lists::bench(&stack))?;
    drop(stack);
    Ok(())
}
