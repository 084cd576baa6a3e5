//! Validate a batch of users: one `BatchGetSecretValue` call for up to 20 users, rules 1-9 of
//! DESIGN.md section 3 on each, and a compact result (only users with findings or key notices).

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_aws::secrets::{SecretsError, UserSecrets};
use warden_core::config::Rules;
use warden_core::secret_validation::{BatchInput, BatchResult, ReadFailure};
use warden_core::validation::{Rule, UserReport, validate_user};
use warden_core::{ErrorName, Named};

#[derive(Debug, thiserror::Error)]
enum ValidateError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl Named for ValidateError {
    fn name(&self) -> ErrorName {
        match self {
            ValidateError::Secrets(e) => e.name(),
        }
    }
}

impl From<ValidateError> for Diagnostic {
    fn from(err: ValidateError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler(
    secrets: &UserSecrets,
    rules: &Rules,
    event: LambdaEvent<BatchInput>,
) -> Result<BatchResult, ValidateError> {
    let input = event.payload;
    let read = secrets.read_batch(&input.usernames).await?;
    let mut result = BatchResult {
        secret_reads: read.calls,
        ..BatchResult::default()
    };
    for secret in &read.secrets {
        let report = validate_user(
            &secret.username,
            secret.secret.expose(),
            &input.admins,
            rules,
            input.as_of,
        );
        if !input
            .scope
            .includes(&report.username, report.group_admin.as_deref())
        {
            continue;
        }
        log_report(secrets.prefix(), &report);
        result.checked += 1;
        if !report.findings.is_empty() || !report.key_notices.is_empty() {
            result.reports.push(report);
        }
    }
    result.missing = read.missing;
    result.unreadable = read
        .errors
        .into_iter()
        .map(|e| ReadFailure {
            username: e.username,
            error: e.error,
        })
        .collect();
    for failure in &result.unreadable {
        tracing::error!(user = %failure.username, error = %failure.error, "Secret could not be read");
    }
    Ok(result)
}

/// One line per rule outcome, numbered as the seed's validation log was.
fn log_report(prefix: &str, report: &UserReport) {
    let user = format!("{prefix}{}", report.username);
    for rule in Rule::ALL {
        let findings: Vec<_> = report.findings.iter().filter(|f| f.rule == rule).collect();
        if findings.is_empty() && rule != Rule::KeyAge {
            tracing::info!(%user, rule = rule.number(), "Validation {} : Passed : {}", rule.number(), rule.title());
        }
        for f in findings {
            tracing::warn!(%user, rule = rule.number(), code = %f.code, "Validation {} : Failed : {}", rule.number(), f.detail);
        }
    }
    for notice in &report.key_notices {
        tracing::info!(
            %user,
            rule = Rule::KeyAge.number(),
            fingerprint = %notice.fingerprint,
            age_months = notice.age_months,
            refuse_after = %notice.refuse_after,
            "Validation 9 : Notice : key due for rotation"
        );
    }
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let rules = env.rules()?;
    let aws = warden_lambda::aws_config().await;
    let secrets = UserSecrets::from_config(&aws, env.secret_prefix());
    run(service_fn(|event| handler(&secrets, &rules, event))).await
}

#[cfg(test)]
mod tests;
