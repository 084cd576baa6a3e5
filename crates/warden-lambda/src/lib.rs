//! What every Lambda of sftp-warden does at cold start, in one place: read its configuration,
//! load the AWS configuration, set up logging; and how a failed invocation names its error.

use lambda_runtime::Diagnostic;
use lambda_runtime::tracing::subscriber::EnvFilter;
use lambda_runtime::tracing::subscriber::filter::LevelFilter;
use warden_core::registry::FUNCTIONS;
use warden_core::{Env, Named};

/// The function's environment variables, read once at cold start.
pub fn env() -> Env {
    Env::new(std::env::vars())
}

/// The shared AWS configuration, from the standard environment (`AWS_REGION`, credentials, and
/// `AWS_ENDPOINT_URL`, which is how the local stack points every function at moto).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Logging as Lambda expects it: JSON lines when the function's log format is JSON, at the level
/// `AWS_LAMBDA_LOG_LEVEL` (or `RUST_LOG`) asks for — for our own crates only. Everything else
/// (the Lambda runtime, the AWS SDK, hyper) never logs below INFO, whatever the variables say:
/// at TRACE the runtime logs every raw event (a login's password with it) and the SDK every
/// response (a secret's value with it).
pub fn init_logging() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok();
    let filter = EnvFilter::new(filter_directives(requested_level(level.as_deref())));
    let collector = lambda_runtime::tracing::subscriber::fmt()
        .with_target(false)
        .without_time()
        .with_env_filter(filter);
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    if json {
        collector.json().init();
    } else {
        collector.init();
    }
}

/// The level a variable asks for: a plain level (`TRACE`, `debug`, …); anything else, per-target
/// directives included, is the default INFO.
fn requested_level(value: Option<&str>) -> LevelFilter {
    value
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Our crates at `level`; every other target at most at INFO.
fn filter_directives(level: LevelFilter) -> String {
    let others = level.min(LevelFilter::INFO);
    let ours = ["warden_core", "warden_aws", "warden_ec2", "warden_lambda"]
        .into_iter()
        .map(str::to_owned)
        .chain(FUNCTIONS.iter().map(|f| f.name.replace('-', "_")));
    std::iter::once(others.to_string().to_lowercase())
        .chain(ours.map(|target| format!("{target}={}", level.to_string().to_lowercase())))
        .collect::<Vec<_>>()
        .join(",")
}

/// The Lambda error for one of our errors: its stable name as `errorType` (what the state
/// machines' `Retry` and `Catch` match on) and its message.
pub fn diagnostic(err: &impl Named) -> Diagnostic {
    Diagnostic {
        error_type: err.name().to_string(),
        error_message: err.to_string(),
    }
}

/// Now, in milliseconds since the epoch (an EMF line's timestamp).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Prints Embedded Metric Format lines (`warden_core::metrics`) to stdout, one JSON object per
/// line, where CloudWatch Logs turns them into metrics.
pub fn emit_metrics<L: std::fmt::Display>(lines: impl IntoIterator<Item = L>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        let _ = writeln!(stdout, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runtime_and_the_sdk_never_log_below_info_whatever_level_is_asked() {
        let directives = filter_directives(requested_level(Some("TRACE")));
        assert!(directives.starts_with("info,"), "{directives}");
        assert!(directives.contains("identity_provider=trace"));
        assert!(!directives.contains("lambda_runtime"), "{directives}");
        // Per-target directives are not honoured: the runtime stays at the default.
        assert_eq!(
            requested_level(Some("lambda_runtime=trace")),
            LevelFilter::INFO
        );
        assert_eq!(
            filter_directives(requested_level(Some("warn"))),
            filter_directives(LevelFilter::WARN)
        );
        assert!(filter_directives(LevelFilter::WARN).starts_with("warn,"));
    }

    /// Lines written by a subscriber, for reading back.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn at_trace_our_lines_are_written_and_the_runtimes_raw_event_is_not() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = lambda_runtime::tracing::subscriber::fmt()
            .with_env_filter(EnvFilter::new(filter_directives(requested_level(Some(
                "TRACE",
            )))))
            .with_writer(move || writer.clone())
            .finish();
        let _guard =
            lambda_runtime::tracing::subscriber::util::SubscriberInitExt::set_default(subscriber);
        lambda_runtime::tracing::trace!(
            target: "lambda_runtime::layers::api_response",
            body = r#"{"password":"hunter2"}"#,
            "raw JSON event received from Lambda"
        );
        lambda_runtime::tracing::trace!(target: "identity_provider", "our own trace line");
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("our own trace line"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
