//! `cargo xtask <task>`: the project's developer tasks.
//!
//! xtask itself links no AWS SDK: the tasks that need the local stack (`demo`, `stack`,
//! `bench-*`) build the workspace's binaries — one build, shared with everything else — and then
//! run the `devstack` binary among them.

mod cargo;
mod checks;
mod package;

use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use xtask::tools;

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "sftp-warden's developer tasks"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the whole system locally on the sample users and show what it did.
    Demo,
    /// Every check CI runs: fmt, clippy, unused dependencies, ASL and template lint, all tests.
    Test,
    /// Start the local stack and keep it running until Ctrl-C.
    Stack,
    /// Lint the state machines and templates.
    Lint,
    /// Build every function for arm64 (release) with cargo-lambda.
    Package,
    /// The identity provider against a Python 3.11 + boto3 handler.
    BenchIdp {
        /// Measure the debug build instead of the release build.
        #[arg(long)]
        debug: bool,
        /// Warm logins per contender.
        #[arg(long, default_value_t = 200)]
        logins: usize,
        /// Use the binaries already built.
        #[arg(long)]
        no_build: bool,
    },
    /// The prefix-list sync: EC2 calls and time for 1,000 CIDRs, 10, none.
    BenchPrefixLists,
    /// The weekly audit with notices, a full sync and a burst of 200 changes, at scale.
    BenchScale {
        /// Partners to seed.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Demo => on_the_stack(&["demo"]),
        Task::Test => test(),
        Task::Stack => on_the_stack(&["stack"]),
        Task::Lint => {
            let tools = tools::ensure()?;
            checks::state_machines(&tools)?;
            checks::templates(&tools)
        }
        Task::Package => package::package(),
        Task::BenchIdp {
            debug,
            logins,
            no_build,
        } => {
            if !no_build && !debug {
                step("building the identity provider (release)");
                tools::run(cargo::cargo().args([
                    "build",
                    "--release",
                    "--quiet",
                    "-p",
                    "identity-provider",
                ]))?;
            }
            let logins = logins.to_string();
            let mut args = vec!["bench-idp", "--logins", &logins];
            if debug {
                args.push("--debug");
            }
            if no_build {
                run_devstack(&args)
            } else {
                on_the_stack(&args)
            }
        }
        Task::BenchPrefixLists => on_the_stack(&["bench-prefix-lists"]),
        Task::BenchScale { users } => on_the_stack(&["bench-scale", "--users", &users.to_string()]),
    }
}

fn step(text: &str) {
    println!("\n==> {text}");
}

/// Runs one step of `test` and prints its duration.
fn timed(text: &str, run: impl FnOnce() -> Result<()>) -> Result<()> {
    step(text);
    let started = Instant::now();
    let result = run();
    println!("    ({:.0} s)", started.elapsed().as_secs_f64());
    result
}

/// Builds the workspace's binaries, then runs `devstack` with `args`.
fn on_the_stack(args: &[&str]) -> Result<()> {
    step("building the workspace's binaries");
    checks::build_binaries()?;
    run_devstack(args)
}

/// Replaces this process with `target/debug/devstack args…`, so Ctrl-C reaches it alone.
fn run_devstack(args: &[&str]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let binary = xtask::target_dir().join("debug").join("devstack");
    if !binary.exists() {
        bail!(
            "{} is not built: run `cargo build --workspace --bins`",
            binary.display()
        );
    }
    let mut command = std::process::Command::new(&binary);
    command.args(args).current_dir(xtask::workspace_root());
    cargo::scrub(&mut command);
    let error = command.exec();
    Err(error).with_context(|| format!("starting {}", binary.display()))
}

/// What CI runs. The pinned Python tools install while cargo compiles. Each step says how long
/// it took, so a slow CI run shows where its time went.
fn test() -> Result<()> {
    let started = Instant::now();
    let installing = std::thread::spawn(|| -> Result<()> {
        tools::ensure()?;
        tools::scanner()?;
        Ok(())
    });
    timed("cargo fmt --check", checks::fmt)?;
    timed("unused dependencies", checks::unused_dependencies)?;
    // Clippy lints every workspace crate as it compiles (`.cargo/config.toml`): these two
    // builds are `cargo clippy --all-targets -- -D warnings` too.
    timed(
        "build the binaries for the local stack (clippy, warnings fail)",
        checks::build_binaries_without_warnings,
    )?;
    timed("the pinned Python tools", || {
        installing
            .join()
            .map_err(|_| anyhow::anyhow!("installing the pinned tools panicked"))?
    })?;
    let tools = tools::ensure()?;
    timed("lint the state machines", || checks::state_machines(&tools))?;
    timed("lint and scan the templates", || checks::templates(&tools))?;
    timed(
        "build the tests (clippy on every target, warnings fail)",
        checks::build_tests_without_warnings,
    )?;
    timed("unit and integration tests", checks::tests)?;
    step(&format!(
        "all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
