//! Validate a batch of users: one `BatchGetSecretValue` call for up to 20 users, rules 1-9 of
//! DESIGN.md section 3 on each. One child of the validation Map: its report (only users with
//! findings or key notices) goes to the work bucket, the state gets counts.

use std::sync::{Arc, Mutex};

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use warden_aws::secrets::{SecretsError, UserSecrets};
use warden_aws::work::{WorkError, WorkStore};
use warden_core::admins::AdminDirectory;
use warden_core::config::Rules;
use warden_core::secret_validation::{BatchCounts, BatchInput, BatchResult, ReadFailure, files};
use warden_core::validation::{Rule, UserReport, validate_user};
use warden_core::work::Run;
use warden_core::{ErrorName, Named};

#[derive(Debug, thiserror::Error)]
enum ValidateError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl Named for ValidateError {
    fn name(&self) -> ErrorName {
        match self {
            ValidateError::Secrets(e) => e.name(),
            ValidateError::Work(e) => e.name(),
        }
    }
}

impl From<ValidateError> for Diagnostic {
    fn from(err: ValidateError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

/// The admin directory of the run this warm function last served: the Map's children of one run
/// share it, so it is read once per run and instance rather than once per batch.
#[derive(Default)]
struct AdminCache(Mutex<Option<(Run, Arc<AdminDirectory>)>>);

impl AdminCache {
    async fn get(&self, work: &WorkStore, run: &Run) -> Result<Arc<AdminDirectory>, WorkError> {
        if let Some((cached, admins)) = &*self.0.lock().unwrap_or_else(|p| p.into_inner())
            && cached == run
        {
            return Ok(admins.clone());
        }
        let admins: Arc<AdminDirectory> = Arc::new(work.get_json(&run.key(files::ADMINS)).await?);
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some((run.clone(), admins.clone()));
        Ok(admins)
    }
}

async fn handler(
    secrets: &UserSecrets,
    work: &WorkStore,
    cache: &AdminCache,
    rules: &Rules,
    event: LambdaEvent<BatchInput>,
) -> Result<BatchCounts, ValidateError> {
    let input = event.payload;
    let admins = cache.get(work, &input.run).await?;
    let result = validate_batch(secrets, rules, &admins, &input).await?;
    work.put_json(&input.run.numbered(files::REPORTS, input.batch), &result)
        .await?;
    Ok(BatchCounts::of(input.batch, &result))
}

async fn validate_batch(
    secrets: &UserSecrets,
    rules: &Rules,
    admins: &AdminDirectory,
    input: &BatchInput,
) -> Result<BatchResult, ValidateError> {
    let read = secrets.read_batch(&input.usernames).await?;
    let mut result = BatchResult {
        secret_reads: read.calls,
        ..BatchResult::default()
    };
    for secret in &read.secrets {
        let report = validate_user(
            &secret.username,
            secret.secret.expose(),
            admins,
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
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    let cache = AdminCache::default();
    run(service_fn(|event| {
        handler(&secrets, &work, &cache, &rules, event)
    }))
    .await
}

#[cfg(test)]
mod tests;
