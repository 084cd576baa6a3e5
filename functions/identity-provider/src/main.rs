//! The AWS Transfer Family identity provider (DESIGN.md section 6): every SFTP login asks it
//! whether to let the user in, with which role, home folder, session policy and keys.
//!
//! One function answers both the direct `AWS_LAMBDA` event and the API Gateway REST request.
//! It reads the user's secret with one `GetSecretValue` call (none for a username or protocol
//! that is refused outright), decides with `warden_core::login`, and logs the decision as one
//! line. It never fails an invocation: every problem, Secrets Manager's included, is a denial
//! (`{}`, HTTP 200), so Transfer cannot mistake an error for anything but "no".

mod event;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use chrono::NaiveDate;
use lambda_runtime::{LambdaEvent, run, service_fn, tracing};
use serde_json::Value;
use warden_aws::secrets::{SecretText, SecretsError, UserSecrets};
use warden_core::Named;
use warden_core::login::{self, Decision, DenyReason, LoginPolicy, LoginRequest};
use warden_core::text::escape_unsafe;

use event::Shape;

/// One answered login: the decision, and what the log line says about the request.
struct Outcome {
    request: Option<LoginRequest>,
    decision: Decision,
    /// The Secrets Manager error behind a `secret-unreadable` denial.
    error: Option<SecretsError>,
}

async fn handler(
    secrets: &UserSecrets,
    policy: &LoginPolicy,
    event: LambdaEvent<Value>,
) -> Result<Value, Infallible> {
    let started = Instant::now();
    let today = chrono::Utc::now().date_naive();
    let (shape, outcome) = answer(secrets, policy, &event.payload, today).await;
    tracing::debug!(shape = ?shape, "Login request answered");
    log(&outcome, started.elapsed());
    Ok(shape.respond(&outcome.decision.response()))
}

/// Parses the event, reads the secret when the request passes the checks that need none, and
/// decides. `today` (UTC) is what key ages are measured against.
async fn answer(
    secrets: &UserSecrets,
    policy: &LoginPolicy,
    payload: &Value,
    today: NaiveDate,
) -> (Shape, Outcome) {
    let (shape, parsed) = event::parse(payload);
    let request = match parsed {
        Ok(request) => request,
        Err(problem) => {
            let outcome = Outcome {
                request: None,
                decision: Decision::Denied(DenyReason::MalformedRequest(problem)),
                error: None,
            };
            return (shape, outcome);
        }
    };
    let (decision, error) = match lookup_and_decide(secrets, policy, &request, today).await {
        Ok(decision) => (decision, None),
        Err(e) => (Decision::Denied(DenyReason::SecretUnreadable), Some(e)),
    };
    let outcome = Outcome {
        request: Some(request),
        decision,
        error,
    };
    (shape, outcome)
}

async fn lookup_and_decide(
    secrets: &UserSecrets,
    policy: &LoginPolicy,
    request: &LoginRequest,
    today: NaiveDate,
) -> Result<Decision, SecretsError> {
    if let Err(reason) = login::screen(request, policy) {
        return Ok(Decision::Denied(reason));
    }
    let secret = secrets.read_one(&request.username).await?;
    Ok(login::decide(
        request,
        secret.as_ref().map(SecretText::expose),
        policy,
        today,
    ))
}

/// One structured line per login: who, from where, how, and granted or why not. Never the
/// password, a hash or a key; the request's own text is escaped and capped, since a refused
/// username can hold anything.
fn log(outcome: &Outcome, elapsed: Duration) {
    let field = |value: Option<&str>, max: usize| escape_unsafe(value.unwrap_or("-"), max);
    let request = outcome.request.as_ref();
    let user = field(request.map(|r| r.username.as_str()), 100);
    let server = field(request.map(|r| r.server_id.as_str()), 64);
    let protocol = field(request.map(|r| r.protocol.as_str()), 16);
    let source_ip = field(request.and_then(|r| r.source_ip.as_deref()), 64);
    let login = request.map_or("-", |r| r.kind().as_str());
    let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
    let counted = match &outcome.decision {
        Decision::Granted(_) => "granted",
        Decision::Denied(reason) => reason.code(),
    };
    warden_lambda::emit_metrics([warden_core::metrics::login(
        counted,
        warden_lambda::now_ms(),
    )]);
    match &outcome.decision {
        Decision::Granted(grant) => tracing::info!(
            %user, %server, %protocol, %source_ip, login, outcome = "granted",
            role = %grant.role, home = %grant.home_folder,
            keys = grant.keys_returned, keys_expired = grant.keys_expired,
            elapsed_ms, "Login granted"
        ),
        Decision::Denied(reason) => {
            let error = outcome.error.as_ref().map_or("-", |e| e.name().as_str());
            let error_detail = outcome.error.as_ref().map(ToString::to_string);
            let error_detail = field(error_detail.as_deref(), 300);
            if matches!(
                reason,
                DenyReason::SecretUnreadable | DenyReason::MalformedSecret(_)
            ) {
                // The operator has something to fix or watch: the user cannot log in at all.
                tracing::warn!(
                    %user, %server, %protocol, %source_ip, login, outcome = "denied",
                    reason = reason.code(), %error, %error_detail, detail = %reason, elapsed_ms,
                    "Login denied"
                );
            } else {
                tracing::info!(
                    %user, %server, %protocol, %source_ip, login, outcome = "denied",
                    reason = reason.code(), %error, %error_detail, detail = %reason, elapsed_ms,
                    "Login denied"
                );
            }
        }
    }
}

/// A login must be answered well inside Transfer's and API Gateway's limits: a slow Secrets
/// Manager becomes a denial, not a hung login.
fn lookup_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
}

/// One thread: Lambda hands an instance one login at a time, and a single thread keeps each
/// login's Argon2 working memory (19 MiB at the recommended settings) in one allocator arena.
/// On the multi-threaded runtime the peak RSS grew to 275 MiB over 200 password logins.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    // The first password check's 19 MiB are faulted in while the runtime starts.
    std::thread::spawn(warden_core::password_hash::prepare_memory);
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let policy = env.login_policy()?;
    let aws = warden_lambda::aws_config().await;
    let config = aws_sdk_secretsmanager::config::Builder::from(&aws)
        .timeout_config(lookup_timeouts())
        .build();
    let secrets = UserSecrets::new(
        aws_sdk_secretsmanager::Client::from_conf(config),
        env.secret_prefix(),
    );
    run(service_fn(|event| handler(&secrets, &policy, event))).await
}

#[cfg(test)]
mod tests;
