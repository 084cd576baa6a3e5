//! `devstack`: the local-stack tasks. `cargo xtask demo|stack|bench-*` builds the workspace's
//! binaries, then runs this one; run directly, it expects them built
//! (`cargo build --workspace --bins`).

use std::process::Command;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};
use devstack::bench_idp::{self, Contender, Emulator, measure, table, to_json};
use devstack::deployment;
use devstack::stack::{LocalStack, StackOptions};
use devstack::tools;

#[derive(Parser)]
#[command(
    name = "devstack",
    about = "The local stack of sftp-warden and what runs on it"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the whole system on the sample users and show what it did.
    Demo,
    /// Start the local stack, deploy the state machines and keep it up until Ctrl-C.
    Stack,
    /// The identity provider against a Python 3.11 + boto3 handler: cold starts, warm logins.
    BenchIdp {
        /// Measure the debug build of the identity provider instead of the release build.
        #[arg(long)]
        debug: bool,
        /// Warm logins per contender.
        #[arg(long, default_value_t = 200)]
        logins: usize,
    },
    /// The prefix-list sync: EC2 calls and time for 1,000 CIDRs, 10, none.
    BenchPrefixLists,
    /// The weekly audit with notices, a full sync and a burst of changes at a bank's size.
    BenchScale {
        /// Partners to seed.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Demo => demo(),
        Task::Stack => stack(),
        Task::BenchIdp { debug, logins } => bench_idp(!debug, logins),
        Task::BenchPrefixLists => bench_prefix_lists(),
        Task::BenchScale { users } => bench_scale(users),
    }
}

fn step(text: &str) {
    println!("\n==> {text}");
}

fn demo() -> Result<()> {
    step(&format!(
        "starting the local stack (moto server, cargo lambda watch, proxy, {} functions)",
        devstack::stack::functions().count()
    ));
    let stack = LocalStack::start(StackOptions::default())?;
    for (name, pid) in stack.pids() {
        println!("  {name:<15} pid {pid}");
    }
    tokio::runtime::Runtime::new()?.block_on(devstack::demo::run(&stack))?;
    step(&format!(
        "stopping the stack (logs kept in {})",
        stack.log_dir.display()
    ));
    drop(stack);
    Ok(())
}

fn stack() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    tokio::runtime::Runtime::new()?.block_on(deployment::deploy(&stack))?;
    println!(
        "local stack up: moto {}  (logs in {})",
        stack.moto_url(),
        stack.log_dir.display()
    );
    for (name, pid) in stack.pids() {
        println!("  {name:<15} pid {pid}");
    }
    println!("Ctrl-C stops it.");
    // SAFETY: a handler that only writes to a static flag; the main thread polls it.
    unsafe { libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t) };
    while !STOP.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("stopping");
    Ok(())
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// See `devstack::bench_idp` for the method.
fn bench_idp(release: bool, logins: usize) -> Result<()> {
    let profile = if release { "release" } else { "debug" };
    let tools = tools::ensure()?;
    let stack = LocalStack::start(StackOptions::default())?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let deployment = deployment::deploy(&stack).await?;
        deployment
            .seed_users(&devstack::workspace_root().join("test-events/users"))
            .await
    })?;
    let python_version = Command::new(&tools.python).arg("--version").output()?;
    let contenders = [
        Contender {
            label: format!("Rust identity-provider ({profile})"),
            command: vec![
                devstack::target_dir()
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
                devstack::workspace_root()
                    .join("localstack/bench/idp_baseline.py")
                    .display()
                    .to_string(),
            ],
        },
    ];
    step(&format!(
        "5 cold starts each, then {logins} warm logins (bpay-batch password login, direct event; the Rust function also with anz-bank's key login)"
    ));
    let emulator = Emulator::start(&stack)?;
    let mut all = Vec::new();
    let password = bench_idp::benchmark_login();
    for contender in &contenders {
        let figures = measure(&stack, &emulator, contender, &password, 5, logins)?;
        println!(
            "  {}: cold starts {:.1?} ms",
            figures.label, figures.cold_ms
        );
        all.push(figures);
    }
    let rust_key = Contender {
        label: format!("{}, key login", contenders[0].label),
        command: contenders[0].command.clone(),
    };
    let figures = measure(
        &stack,
        &emulator,
        &rust_key,
        &bench_idp::key_login(),
        5,
        logins,
    )?;
    println!(
        "  {}: cold starts {:.1?} ms",
        figures.label, figures.cold_ms
    );
    all.push(figures);
    println!("\n{}", table(&all));
    if let [rust, python, ..] = all.as_slice() {
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

fn bench_prefix_lists() -> Result<()> {
    step("starting the local stack");
    let stack = LocalStack::start(StackOptions::default())?;
    tokio::runtime::Runtime::new()?.block_on(devstack::prefix_lists::bench(&stack))?;
    drop(stack);
    Ok(())
}

fn bench_scale(users: usize) -> Result<()> {
    step("starting the local stack");
    let stack = LocalStack::start(StackOptions::default())?;
    tokio::runtime::Runtime::new()?.block_on(devstack::bench_scale::bench(&stack, users))?;
    drop(stack);
    Ok(())
}
