//! The local stack (DESIGN.md section 7): moto server, `cargo lambda watch` serving the Lambda
//! invoke and runtime APIs, our proxy between them, and our real function binaries.
//!
//! `cargo lambda watch` runs with `--only-lambda-apis` and the harness starts the prebuilt
//! binaries against its runtime API itself: `cargo test` holds the target-dir lock while tests
//! run, so a watch that compiled on first invoke would wait forever inside a test.
//!
//! Every process is started in its own process group and stopped by PID (the group) on drop.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use warden_core::registry;

pub const REGION: &str = "ap-southeast-2";
pub const ACCOUNT: &str = "123456789012";
/// The work bucket (template.yaml `WorkBucket`): created in moto's S3 when the stack deploys.
pub const WORK_BUCKET: &str = "sftp-warden-work";

/// The SES configuration set every message goes through (template.yaml `EmailConfigurationSet`).
pub const CONFIGURATION_SET: &str = "sftp-warden";

/// The SMTP credential rotation's IAM user and secret (template.yaml `SmtpUser`,
/// `SmtpCredentialsSecret`), and the tag of the mail servers it deploys to.
pub const SMTP_USER: &str = "sftp-warden-ses-smtp";
pub const SMTP_SECRET: &str = "sftp-warden/ses-smtp-credentials";
pub const SMTP_SERVER_TAG: (&str, &str) = ("EmailServers", "True");
pub const SMTP_DOCUMENT: &str = "sftp-warden-smtp-credentials";

/// The functions the stack runs (every function of the registry), by binary and function name.
pub fn functions() -> impl Iterator<Item = &'static str> {
    registry::FUNCTIONS.iter().map(|f| f.name)
}

/// The ARN moto gives a state machine created under `name` in the local stack's account.
pub fn state_machine_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}")
}

/// The ARN a function has on the local stack (the proxy maps it to the function's name).
pub fn function_arn(function: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function}")
}

/// What the functions are configured with (their Lambda environment variables).
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub function_env: Vec<(String, String)>,
    /// The functions reach Secrets Manager through the proxy, which can inject read errors moto
    /// cannot produce (`Deployment::make_unreadable`).
    pub secrets_through_proxy: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        let validation = state_machine_arn("secret-validation");
        let sync = state_machine_arn("prefix-list-sync");
        let deployment = state_machine_arn("smtp-credential-deployment");
        let env = [
            ("VALIDATION_STATE_MACHINE_ARN", validation.as_str()),
            ("SYNC_STATE_MACHINE_ARN", sync.as_str()),
            ("SENDER_EMAIL", "sftp-warden@example.com"),
            ("CONFIGURATION_SET", CONFIGURATION_SET),
            (
                "TRANSFER_ROLE_ARN",
                "arn:aws:iam::123456789012:role/TransferS3AccessRole",
            ),
            ("EXCLUDED_USERS", "sample"),
            ("SECRET_PREFIX", "SFTP/"),
            ("WORK_BUCKET", WORK_BUCKET),
            // A sync waiting for an older one checks after 2, 4, then every 8 s (not 30, 60,
            // 120): 20 checks span 142 s, more than a local sync of 10,000 users takes (~85 s).
            ("SYNC_WAIT_SECONDS", "2"),
            // The SMTP credential rotation (its endpoint is the stack's own SMTP server, set at
            // start): the deployment checks the servers every second, ten times at most, and
            // deletes the old key without a grace period.
            ("SMTP_IAM_USER", SMTP_USER),
            ("DEPLOYMENT_STATE_MACHINE_ARN", deployment.as_str()),
            ("SMTP_SERVER_TAG_KEY", SMTP_SERVER_TAG.0),
            ("SMTP_SERVER_TAG_VALUE", SMTP_SERVER_TAG.1),
            ("SMTP_DEPLOY_DOCUMENT", SMTP_DOCUMENT),
            ("SMTP_LOGIN_FIRST_DELAY_MS", "250"),
            ("DEPLOY_POLL_SECONDS", "1"),
            ("DEPLOY_MAX_POLLS", "10"),
            ("OLD_KEY_GRACE_SECONDS", "0"),
        ];
        Self {
            function_env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            secrets_through_proxy: false,
        }
    }
}

impl StackOptions {
    pub fn env(&self, name: &str) -> Option<&str> {
        self.function_env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A started process, stopped (with its whole process group) when dropped.
struct Process {
    name: String,
    child: Child,
}

impl Process {
    fn spawn(name: &str, command: &mut Command, log: &Path) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let group = -(self.pid() as i32);
        // SAFETY: kill(2) with a negative pid signals the process group we created for this child.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above; the group did not stop on SIGTERM.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running local stack. Dropping it stops every process it started.
pub struct LocalStack {
    processes: Vec<Process>,
    pub moto_port: u16,
    pub proxy_port: u16,
    pub lambda_port: u16,
    /// The stack's SES SMTP endpoint (STARTTLS, a throwaway certificate).
    pub smtp_port: u16,
    pub log_dir: PathBuf,
    pub options: StackOptions,
}

impl LocalStack {
    /// Starts moto, the Lambda emulator, the proxy and every function binary.
    /// The binaries must be built (`cargo build --workspace --bins`); `cargo xtask` does that.
    pub fn start(options: StackOptions) -> Result<Self> {
        let tools = crate::tools::ensure()?;
        let root = crate::workspace_root();
        let bins = crate::target_dir().join("debug");
        check_binaries(&bins)?;

        let (moto_port, proxy_port, lambda_port, smtp_port) =
            (free_port()?, free_port()?, free_port()?, free_port()?);
        let log_dir = root.join(".local/logs").join(format!("stack-{moto_port}"));
        std::fs::create_dir_all(&log_dir)?;
        let mut stack = Self {
            processes: Vec::new(),
            moto_port,
            proxy_port,
            lambda_port,
            smtp_port,
            log_dir: log_dir.clone(),
            options,
        };

        // moto's state-machine engine calls Lambda at localhost:$MOTO_PORT: the proxy.
        stack.spawn(
            "moto",
            Command::new(&tools.moto_server)
                .args(["-H", "127.0.0.1", "-p", &moto_port.to_string()])
                .env("MOTO_PORT", proxy_port.to_string()),
        )?;
        stack.wait_for_port("moto", moto_port)?;
        // moto listens a moment before it serves: on a busy machine the first request can be
        // reset, so the switch is asked for until moto answers.
        let config = serde_json::json!({"stepfunctions": {"execute_state_machine": true}});
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match ureq::post(&format!("{}/moto-api/config", stack.moto_url())).send_json(&config) {
                Ok(_) => break,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                Err(e) => return Err(e).context("enabling state-machine execution in moto"),
            }
        }

        stack.spawn(
            "cargo-lambda",
            Command::new(&tools.cargo_lambda)
                .args(["lambda", "watch", "--only-lambda-apis", "--ignore-changes"])
                .args(["-A", "127.0.0.1", "-P", &lambda_port.to_string()])
                .current_dir(&root),
        )?;
        stack.wait_for_port("cargo-lambda", lambda_port)?;

        stack.spawn(
            "proxy",
            Command::new(&tools.python)
                .arg(root.join("localstack/proxy.py"))
                .args([
                    "--port",
                    &proxy_port.to_string(),
                    "--moto-port",
                    &moto_port.to_string(),
                    "--lambda-port",
                    &lambda_port.to_string(),
                ]),
        )?;
        stack.wait_for_port("proxy", proxy_port)?;

        // SES's SMTP endpoint: accepts the password derived (in Python) from a key moto issued.
        let smtp_dir = stack.smtp_dir();
        std::fs::create_dir_all(&smtp_dir)?;
        stack.spawn(
            "smtp",
            Command::new(&tools.python)
                .arg(root.join("localstack/smtp_server.py"))
                .args(["--port", &smtp_port.to_string()])
                .args(["--moto-url", &stack.moto_url()])
                .arg("--cert-dir")
                .arg(&smtp_dir)
                .args(["--region", REGION]),
        )?;
        stack.wait_for_port("smtp", smtp_port)?;

        for function in functions() {
            let mut command = Command::new(bins.join(function));
            command
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env(
                    "AWS_LAMBDA_RUNTIME_API",
                    format!("http://127.0.0.1:{lambda_port}/.rt/{function}"),
                )
                .env("AWS_LAMBDA_FUNCTION_NAME", function)
                .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
                .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
                .env("AWS_REGION", REGION)
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_ENDPOINT_URL", stack.moto_url())
                // SES's suppression list lives in the proxy (moto has none).
                .env("AWS_ENDPOINT_URL_SESV2", stack.proxy_url());
            command
                .env("SMTP_ENDPOINT", "localhost")
                .env("SMTP_PORT", smtp_port.to_string())
                .env("SMTP_EXTRA_ROOT_CERT", smtp_dir.join("smtp-ca.pem"));
            for (k, v) in &stack.options.function_env {
                command.env(k, v);
            }
            if stack.options.secrets_through_proxy {
                command.env("AWS_ENDPOINT_URL_SECRETS_MANAGER", stack.proxy_url());
            }
            stack.spawn(function, &mut command)?;
        }
        Ok(stack)
    }

    /// Where the SMTP endpoint keeps its certificates and its log of logins
    /// (`smtp-logins.jsonl`: who, accepted or not, why; never a password).
    pub fn smtp_dir(&self) -> PathBuf {
        self.log_dir.join("smtp")
    }

    pub fn moto_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.moto_port)
    }

    /// The proxy, which also serves the identity provider the way API Gateway does:
    /// `GET {proxy_url}/servers/{serverId}/users/{username}/config`.
    pub fn proxy_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.proxy_port)
    }

    /// The function logs, concatenated (for tests that check what was logged).
    pub fn function_logs(&self) -> Result<String> {
        let mut all = String::new();
        for function in functions() {
            all.push_str(&std::fs::read_to_string(
                self.log_dir.join(format!("{function}.log")),
            )?);
        }
        Ok(all)
    }

    /// Invokes a function the way Lambda's Invoke API does (through cargo-lambda), returning
    /// its answer: the output, or the error document of a failed invocation.
    pub fn invoke(&self, function: &str, payload: &serde_json::Value) -> Result<serde_json::Value> {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.lambda_port
        );
        let mut response = ureq::post(&url)
            .config()
            .http_status_as_error(false)
            .build()
            .send_json(payload)
            .with_context(|| format!("invoking {function}"))?;
        Ok(response.body_mut().read_json()?)
    }

    /// PIDs of everything this stack started, by name.
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.processes
            .iter()
            .map(|p| (p.name.clone(), p.pid()))
            .collect()
    }

    /// An AWS SDK configuration that talks to this stack's moto.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(self.moto_url())
            .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "local-stack",
            ))
            .load()
            .await
    }

    fn spawn(&mut self, name: &str, command: &mut Command) -> Result<()> {
        let log = self.log_dir.join(format!("{name}.log"));
        self.processes.push(Process::spawn(name, command, &log)?);
        Ok(())
    }

    fn wait_for_port(&mut self, name: &str, port: u16) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            if let Some(p) = self.processes.iter_mut().find(|p| p.name == name)
                && let Some(status) = p.exited()
            {
                let log = std::fs::read_to_string(self.log_dir.join(format!("{name}.log")))
                    .unwrap_or_default();
                bail!("{name} exited ({status}) before listening on {port}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("{name} did not listen on port {port} within 60 s")
    }
}

/// Fails with instructions when a function binary is missing.
fn check_binaries(bins: &Path) -> Result<()> {
    for function in functions() {
        let bin = bins.join(function);
        if !bin.exists() {
            bail!(
                "{} is not built: run `cargo build --workspace --bins` first (cargo xtask does)",
                bin.display()
            );
        }
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}
