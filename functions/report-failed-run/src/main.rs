//! Report a run that ended badly: Step Functions' "Execution Status Change" event for a
//! secret-validation or prefix-list-sync execution that FAILED, TIMED_OUT or was ABORTED becomes
//! one email to the SuperAdmins, with the error, the cause and the `sftp-warden runs show`
//! command. The SuperAdmins are the ones the run itself had (its `admins.json`, or the sync's
//! `users.json`, in the work bucket), less any address on SES's suppression list. A run that
//! failed before it knew them is told to the alarm topic only (the same rule targets it).

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::{Deserialize, Serialize};
use warden_aws::email::{EmailError, Mailer, OutgoingEmail};
use warden_aws::suppression::{SuppressionError, Suppressions};
use warden_aws::work::{WorkError, WorkStore};
use warden_core::admins::AdminDirectory;
use warden_core::notify::{EndedRun, ended_run_email, tag};
use warden_core::prefix_lists::report::UsersRead;
use warden_core::work::Run;
use warden_core::{ErrorName, Named};

/// The part of the status-change event that matters.
#[derive(Debug, Deserialize)]
struct StatusChange {
    detail: Detail,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Detail {
    state_machine_arn: String,
    name: String,
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    cause: Option<String>,
}

#[derive(Debug, thiserror::Error)]
enum ReportError {
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error(transparent)]
    Suppressions(#[from] SuppressionError),
}

impl Named for ReportError {
    fn name(&self) -> ErrorName {
        match self {
            ReportError::Work(e) => e.name(),
            ReportError::Email(e) => e.name(),
            ReportError::Suppressions(e) => e.name(),
        }
    }
}

impl From<ReportError> for Diagnostic {
    fn from(err: ReportError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Reported {
    execution: String,
    told: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
}

/// The SuperAdmins the run had, from its own files; none when it failed before reading them.
async fn super_admins(work: &WorkStore, run: &Run) -> Result<Vec<String>, WorkError> {
    let found = if run.state_machine.ends_with("prefix-list-sync") {
        work.get_json::<UsersRead>(&run.key(warden_core::prefix_lists::files::USERS))
            .await
            .map(|users| users.super_admins)
    } else {
        work.get_json::<AdminDirectory>(&run.key(warden_core::secret_validation::files::ADMINS))
            .await
            .map(|admins| admins.super_admin_emails())
    };
    match found {
        Ok(addresses) => Ok(addresses),
        Err(WorkError::Missing { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

async fn handler(
    mailer: &Mailer,
    work: &WorkStore,
    suppressions: &Suppressions,
    event: LambdaEvent<StatusChange>,
) -> Result<Reported, ReportError> {
    let detail = event.payload.detail;
    let state_machine = detail
        .state_machine_arn
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let run = Run {
        state_machine: state_machine.clone(),
        execution: detail.name.clone(),
    };
    let addresses = super_admins(work, &run).await?;
    let (list, _) = suppressions.read_all().await?;
    let (deliverable, _) = list.partition(&addresses);
    let ended = EndedRun {
        state_machine,
        execution: detail.name.clone(),
        status: detail.status,
        error: detail.error,
        cause: detail.cause,
    };
    let Some(email) = ended_run_email(&ended, &deliverable) else {
        tracing::error!(
            execution = %detail.name,
            "A run ended badly and no SuperAdmin address is known for it: only the alarm topic is told"
        );
        return Ok(Reported {
            execution: detail.name,
            told: Vec::new(),
            message_id: None,
        });
    };
    let tags = [
        (tag::WORKFLOW, "operations".to_owned()),
        (tag::KIND, email.kind.as_str().to_owned()),
    ];
    let html = email.html_part();
    let message_id = mailer
        .send(&OutgoingEmail {
            to: &email.to,
            cc: &email.cc,
            subject: &email.subject,
            body: &email.body,
            html: Some(&html),
            tags: &tags,
        })
        .await?;
    tracing::warn!(execution = %detail.name, to = ?email.to, %message_id, "Run that ended badly reported to the SuperAdmins");
    Ok(Reported {
        execution: detail.name,
        told: email.to,
        message_id: Some(message_id),
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let sender = env.required("SENDER_EMAIL", "a verified SES identity")?;
    let configuration_set = env.var("CONFIGURATION_SET").map(str::to_owned);
    let aws = warden_lambda::aws_config().await;
    let mailer = Mailer::from_config(&aws, sender).with_configuration_set(configuration_set);
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    let suppressions = Suppressions::from_config(&aws);
    run(service_fn(|event| {
        handler(&mailer, &work, &suppressions, event)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sesv2::Client;
    use aws_sdk_sesv2::operation::send_email::SendEmailOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use lambda_runtime::Context;
    use warden_aws::suppression::fake::listing;
    use warden_aws::work::fake::FakeBucket;

    fn event(machine: &str, name: &str) -> LambdaEvent<StatusChange> {
        let value = serde_json::json!({
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "detail": {
                "executionArn": format!("arn:aws:states:ap-southeast-2:123456789012:execution:{machine}:{name}"),
                "stateMachineArn": format!("arn:aws:states:ap-southeast-2:123456789012:stateMachine:{machine}"),
                "name": name, "status": "FAILED", "error": "RunIncomplete",
                "cause": "{\"problems\":[\"the email to ops@x.example was not sent\"]}",
                "startDate": 1, "stopDate": 2, "input": "{}", "output": null
            }
        });
        LambdaEvent::new(serde_json::from_value(value).unwrap(), Context::default())
    }

    fn admins() -> AdminDirectory {
        let secret = include_str!("../../../test-events/users/SFTPSuperAdmin.json");
        AdminDirectory::from_secrets([("SFTPSuperAdmin", secret)])
    }

    #[tokio::test]
    async fn a_failed_validation_run_is_mailed_to_its_super_admins_less_the_suppressed() {
        let bucket = FakeBucket::new();
        let run = Run {
            state_machine: "secret-validation".into(),
            execution: "weekly-audit-2026-W49".into(),
        };
        bucket.put(
            &run.key(warden_core::secret_validation::files::ADMINS),
            &admins(),
        );
        let send = mock!(Client::send_email)
            .match_requests(|r| {
                r.destination().map(|d| d.to_addresses())
                    == Some(&["sftp-superadmin@example.com".to_owned()][..])
                    && r.content()
                        .and_then(|c| c.simple())
                        .and_then(|s| s.subject())
                        .is_some_and(|s| s.data().contains("weekly-audit-2026-W49"))
            })
            .then_output(|| SendEmailOutput::builder().message_id("m-1").build());
        let mailer = Mailer::new(
            mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&send]),
            "sftp-warden@example.com",
        );

        let reported = handler(
            &mailer,
            &bucket.store(),
            &listing(&["platform-oncall@example.com"]),
            event("secret-validation", "weekly-audit-2026-W49"),
        )
        .await
        .unwrap();

        assert_eq!(reported.told, ["sftp-superadmin@example.com"]);
        assert_eq!(reported.message_id.as_deref(), Some("m-1"));
        assert_eq!(send.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_run_that_failed_before_knowing_its_super_admins_sends_nothing() {
        let send = mock!(Client::send_email)
            .then_output(|| SendEmailOutput::builder().message_id("m").build());
        let mailer = Mailer::new(
            mock_client!(aws_sdk_sesv2, RuleMode::MatchAny, [&send]),
            "sftp-warden@example.com",
        );

        let reported = handler(
            &mailer,
            &FakeBucket::new().store(),
            &listing(&[]),
            event("prefix-list-sync", "x"),
        )
        .await
        .unwrap();

        assert!(reported.told.is_empty());
        assert_eq!(send.num_calls(), 0);
    }

    #[test]
    fn every_error_it_reports_is_listed_for_it_in_the_registry() {
        let listed = warden_core::registry::function("report-failed-run").unwrap();
        let errors = [
            ReportError::Work(WorkError::Missing { key: "k".into() }),
            ReportError::Email(EmailError::NoRecipients),
            ReportError::Suppressions(SuppressionError::Unavailable("x".into())),
        ];
        for err in &errors {
            assert!(listed.reports(err.name()), "{}", err.name());
        }
    }
}
