//! `cargo xtask bench-idp`: cold start, warm latency and peak memory of the identity provider,
//! next to a plain Python boto3 handler doing the same lookup, on the same local stack.
//!
//! Every password login of the Rust function runs one Argon2id verification (19 MiB, 2 passes
//! at the recommended settings; against a fixed dummy when the user has no hash) so that its
//! timing does not tell an unknown user from a known one; the Python baseline does not. The Rust
//! function is therefore also measured with a key login, which has no such work.
//!
//! Method (both implementations alike): the local stack runs (moto holds the sample users), and
//! a second `cargo lambda watch --only-lambda-apis` of the bench's own serves the function name
//! `identity-provider` with no runtime attached. A fresh process is started against its runtime
//! API with an invocation already waiting for it. Cold start is the time from spawning
//! the process to receiving the answer to that first login (so it includes process start,
//! runtime and SDK initialisation, the first Secrets Manager call and the decision). Then
//! `logins` more logins are sent one after another through cargo-lambda's invoke API and each
//! round trip is timed. Peak memory is the process's `VmHWM` from `/proc/<pid>/status` after
//! the run. Every run repeats the cold start several times and reports the median.
//!
//! `handler` is the time inside the handler as each process logs it (`elapsed_ms`): the work of
//! one login without the emulator's transport. The transport is not even: `lambda_runtime` keeps
//! its connection to cargo-lambda alive, and on a kept-alive loopback connection Linux's delayed
//! ACKs stall some answers by ~40 ms (visible as the Rust p90); the Python loop's `urllib` opens a
//! new connection per call and never meets them. Lambda's own runtime API is a different server.
//!
//! This is a figure for comparing the two on this machine, not a Lambda measurement: no
//! Firecracker, no TLS (moto speaks plain HTTP), no network hop to Secrets Manager.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::idp::Login;
use crate::stack::{LocalStack, REGION};

/// One implementation under test.
pub struct Contender {
    pub label: String,
    /// The program and its arguments.
    pub command: Vec<String>,
}

/// What one contender measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub label: String,
    /// Each cold start, sorted.
    pub cold_ms: Vec<f64>,
    /// Warm round trips, sorted.
    pub warm_ms: Vec<f64>,
    /// Largest peak RSS over the runs, in KiB.
    pub peak_rss_kib: u64,
    /// Time inside the handler for the warm logins, from the process's own log (`elapsed_ms`),
    /// sorted: the function's work without the emulator's transport.
    pub handler_ms: Vec<f64>,
    /// Time inside the handler for each cold start's login, sorted: how much of the cold start
    /// is the login's own work (for a password, one Argon2id verification), the rest being the
    /// process, the runtime, the first connections and the transport.
    pub cold_handler_ms: Vec<f64>,
}

impl Figures {
    fn percentile(sorted: &[f64], p: f64) -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }

    pub fn cold_median(&self) -> f64 {
        Self::percentile(&self.cold_ms, 50.0)
    }

    pub fn warm(&self, p: f64) -> f64 {
        Self::percentile(&self.warm_ms, p)
    }
}

/// A started contender process, killed (its process group) when dropped.
struct Running {
    child: Child,
    log: std::path::PathBuf,
}

/// Every `elapsed_ms` a process logged (JSON lines, the field at the top or under `fields`).
fn elapsed_ms(log: &std::path::Path) -> Result<Vec<f64>> {
    Ok(std::fs::read_to_string(log)?
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| {
            line["fields"]["elapsed_ms"]
                .as_f64()
                .or_else(|| line["elapsed_ms"].as_f64())
        })
        .collect())
}

impl Drop for Running {
    fn drop(&mut self) {
        let group = -(self.child.id() as i32);
        // SAFETY: kill(2) on the process group this harness created for the child.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// The login every run repeats: bpay-batch's password login from its own address (a lookup,
/// a password compare, the source-IP check and the answer).
pub fn benchmark_login() -> Login<'static> {
    Login::password("bpay-batch", "example-Passw0rd-bpay-2026", "203.0.113.200")
}

/// The key login the Rust function is also measured with: SFTP from an IPv6 source inside the
/// user's ranges, answered with its keys. No password, so no Argon2 check: the cost of a login
/// without the deliberate work a password login does.
pub fn key_login() -> Login<'static> {
    Login::key("anz-bank", "2001:db8:a0::7")
}

/// A `cargo lambda watch` of the bench's own, so the function name is free of the stack's
/// runtime (cargo-lambda accepts only the workspace's binary names).
pub struct Emulator {
    _process: Running,
    pub port: u16,
}

impl Emulator {
    pub fn start(stack: &LocalStack) -> Result<Emulator> {
        use std::os::unix::process::CommandExt;
        let tools = crate::tools::ensure()?;
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        let log = std::fs::File::create(stack.log_dir.join("bench-cargo-lambda.log"))?;
        let child = Command::new(&tools.cargo_lambda)
            .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
            .args(["-A", "127.0.0.1", "-P", &port.to_string()])
            .current_dir(crate::workspace_root())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting cargo lambda watch")?;
        let emulator = Emulator {
            _process: Running {
                child,
                log: stack.log_dir.join("bench-cargo-lambda.log"),
            },
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("cargo lambda watch did not listen on {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(emulator)
    }
}

/// Measures one contender: `cold_starts` fresh processes, and `logins` warm logins on the last.
pub fn measure(
    stack: &LocalStack,
    emulator: &Emulator,
    contender: &Contender,
    login: &Login,
    cold_starts: usize,
    logins: usize,
) -> Result<Figures> {
    let event = login.event();
    let mut figures = Figures {
        label: contender.label.clone(),
        cold_ms: Vec::new(),
        warm_ms: Vec::new(),
        peak_rss_kib: 0,
        handler_ms: Vec::new(),
        cold_handler_ms: Vec::new(),
    };
    let name = crate::idp::FUNCTION;
    let url = format!(
        "http://127.0.0.1:{}/2015-03-31/functions/{name}/invocations",
        emulator.port
    );
    for run in 0..cold_starts {
        // The invocation waits in cargo-lambda until a runtime asks for it.
        let first = {
            let (url, event) = (url.clone(), event.clone());
            std::thread::spawn(move || invoke(&url, &event))
        };
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        let running = spawn(stack, emulator, contender, run)?;
        let answer = first
            .join()
            .map_err(|_| anyhow::anyhow!("the first invocation panicked"))?
            .with_context(|| {
                format!(
                    "{}: no answer; see its log in {}",
                    contender.label,
                    stack.log_dir.display()
                )
            })?;
        let cold = started.elapsed();
        check_granted(&contender.label, &answer)?;
        figures.cold_ms.push(cold.as_secs_f64() * 1000.0);
        if run + 1 == cold_starts {
            for _ in 0..logins {
                let started = Instant::now();
                let answer = invoke(&url, &event)?;
                figures
                    .warm_ms
                    .push(started.elapsed().as_secs_f64() * 1000.0);
                check_granted(&contender.label, &answer)?;
            }
        }
        figures.peak_rss_kib = figures.peak_rss_kib.max(peak_rss_kib(running.child.id())?);
        if let Some(first) = elapsed_ms(&running.log)?.first() {
            figures.cold_handler_ms.push(*first);
        }
        if run + 1 == cold_starts {
            // The first logged login is the cold one.
            figures.handler_ms = elapsed_ms(&running.log)?.into_iter().skip(1).collect();
        }
    }
    figures.handler_ms.sort_by(f64::total_cmp);
    figures.cold_handler_ms.sort_by(f64::total_cmp);
    figures.cold_ms.sort_by(f64::total_cmp);
    figures.warm_ms.sort_by(f64::total_cmp);
    Ok(figures)
}

fn spawn(
    stack: &LocalStack,
    emulator: &Emulator,
    contender: &Contender,
    run: usize,
) -> Result<Running> {
    use std::os::unix::process::CommandExt;
    let Some((program, args)) = contender.command.split_first() else {
        bail!("{}: no command", contender.label);
    };
    let name = crate::idp::FUNCTION;
    let log_name: String = contender
        .label
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let log_path = stack.log_dir.join(format!("bench-{log_name}-{run}.log"));
    let log = std::fs::File::create(&log_path)?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("http://127.0.0.1:{}/.rt/{name}", emulator.port),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", stack.moto_url());
    for (k, v) in &stack.options.function_env {
        command.env(k, v);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    Ok(Running {
        child,
        log: log_path,
    })
}

/// One invocation on a fresh connection (the runtimes' own connections to cargo-lambda are
/// theirs: see the module notes on delayed ACKs).
fn invoke(url: &str, event: &Value) -> Result<Value> {
    let mut response = ureq::post(url)
        .header("Connection", "close")
        .config()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .send_json(event)
        .with_context(|| format!("POST {url}"))?;
    Ok(response.body_mut().read_json()?)
}

fn check_granted(label: &str, answer: &Value) -> Result<()> {
    if answer["Role"].is_string() && answer["HomeDirectoryDetails"].is_string() {
        Ok(())
    } else {
        bail!("{label} did not grant the benchmark login: {answer}")
    }
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmHWM in /proc/<pid>/status")
}

/// The figures side by side.
pub fn table(all: &[Figures]) -> String {
    let mut out = format!(
        "{:<46} {:>16} {:>14} {:>22} {:>20} {:>15}\n",
        "implementation",
        "cold start (ms)",
        "of it handler",
        "warm p50/p90/p99 (ms)",
        "handler p50/p90 (ms)",
        "peak RSS (MiB)"
    );
    for f in all {
        let cold = match (f.cold_ms.first(), f.cold_ms.last()) {
            (Some(lo), Some(hi)) => format!("{:.1} [{lo:.0}-{hi:.0}]", f.cold_median()),
            _ => "-".to_owned(),
        };
        let warm = format!(
            "{:.2}/{:.2}/{:.2}",
            f.warm(50.0),
            f.warm(90.0),
            f.warm(99.0)
        );
        let handler = format!(
            "{:.2}/{:.2}",
            Figures::percentile(&f.handler_ms, 50.0),
            Figures::percentile(&f.handler_ms, 90.0)
        );
        let rss = f.peak_rss_kib as f64 / 1024.0;
        let cold_handler = format!("{:.1}", Figures::percentile(&f.cold_handler_ms, 50.0));
        out.push_str(&format!(
            "{:<46} {cold:>16} {cold_handler:>14} {warm:>22} {handler:>20} {rss:>15.1}\n",
            f.label
        ));
    }
    out
}

/// The figures as JSON (for the record).
pub fn to_json(all: &[Figures]) -> Value {
    Value::Array(
        all.iter()
            .map(|f| {
                json!({
                    "implementation": f.label,
                    "coldStartMs": {"median": f.cold_median(), "all": f.cold_ms},
                    "coldHandlerMs": {"median": Figures::percentile(&f.cold_handler_ms, 50.0), "all": f.cold_handler_ms},
                    "warmMs": {"p50": f.warm(50.0), "p90": f.warm(90.0), "p99": f.warm(99.0), "logins": f.warm_ms.len()},
                    "handlerMs": {"p50": Figures::percentile(&f.handler_ms, 50.0), "p90": Figures::percentile(&f.handler_ms, 90.0)},
                    "peakRssMiB": f.peak_rss_kib as f64 / 1024.0,
                })
            })
            .collect(),
    )
}
