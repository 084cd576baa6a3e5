//! Handle SES's email events (the configuration set's destination on the default EventBridge
//! bus): bounces, complaints, rejections, delivery delays and rendering failures.
//!
//! A permanent bounce or a complaint puts the address on the account's suppression list, so the
//! secret that holds it needs fixing now: the message's tags lead back to the stored email of
//! the run that sent it (`runs/<state machine>/<run>/emails/NNNNNN.json`), whose
//! `addressHolders` name the users and admins the recipients' addresses come from, and one
//! validation of those users starts, named after the message so a redelivered event starts
//! nothing. That run finds the suppressed address (rule 4) and tells the admin responsible, and
//! reroutes what was meant for it. Soft bounces, delays, rejections and rendering failures are
//! logged and counted, not acted on (every event's log line has `event_type` and `action`, which
//! the template's metric filter counts). Nothing here reads a secret.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata};
use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Serialize;
use serde_json::Value;
use warden_aws::work::{WorkError, WorkStore};
use warden_core::email_events::{self, EmailEvent, EmailEventError, EmailOrigin, Severity};
use warden_core::notify::Email;
use warden_core::secret_validation::files;
use warden_core::work::Run;
use warden_core::{ErrorName, Named};

#[derive(Debug, thiserror::Error)]
enum HandleEmailEventsError {
    #[error(transparent)]
    NotAnSesEvent(#[from] EmailEventError),
    #[error(transparent)]
    Work(#[from] WorkError),
    #[error("Step Functions throttled StartExecution of {0}")]
    Throttled(String),
    #[error("StartExecution of {state_machine} failed: {message}")]
    NotStarted {
        state_machine: String,
        message: String,
    },
}

impl Named for HandleEmailEventsError {
    fn name(&self) -> ErrorName {
        match self {
            HandleEmailEventsError::NotAnSesEvent(_) => ErrorName::UnsupportedInput,
            HandleEmailEventsError::Work(e) => e.name(),
            HandleEmailEventsError::Throttled(_) => ErrorName::StatesThrottled,
            HandleEmailEventsError::NotStarted { .. } => ErrorName::ExecutionNotStarted,
        }
    }
}

impl From<HandleEmailEventsError> for Diagnostic {
    fn from(err: HandleEmailEventsError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

/// What was done about one event.
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
struct Handled {
    event_type: String,
    /// `validationStarted`, `alreadyStarted`, `holdersUnknown`, `logged` or `ignored`.
    action: &'static str,
    recipients: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    holders: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    execution: Option<String>,
}

/// `email-<event type>-<message id>`: one per message, so a redelivered event starts nothing.
fn execution_name(event: &EmailEvent) -> String {
    warden_core::work::execution_name(&format!(
        "email-{}-{}",
        event.event_type.to_ascii_lowercase(),
        event.message_id
    ))
}

/// The users and admins whose addresses the message went to, from the run's stored email. An
/// email that has expired from the work bucket (35 days) names nobody.
async fn holders(work: &WorkStore, origin: &EmailOrigin) -> Result<Vec<String>, WorkError> {
    let run = Run {
        state_machine: origin.state_machine.clone(),
        execution: origin.run.clone(),
    };
    match work
        .get_json::<Email>(&run.numbered(files::EMAILS, origin.index))
        .await
    {
        Ok(email) => Ok(email.address_holders),
        Err(WorkError::Missing { .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

async fn handler(
    sfn: &Client,
    work: &WorkStore,
    validation_arn: &str,
    event: LambdaEvent<Value>,
) -> Result<Handled, HandleEmailEventsError> {
    let event = email_events::parse(&event.payload)?;
    let mut handled = Handled {
        event_type: event.event_type.clone(),
        action: "ignored",
        recipients: event.recipients.len(),
        holders: Vec::new(),
        execution: None,
    };
    match event.severity {
        Severity::Other => {
            tracing::info!(
                event_type = %event.event_type,
                action = handled.action,
                message_id = %event.message_id,
                "Email event ignored"
            );
            return Ok(handled);
        }
        Severity::Transient | Severity::MessageProblem => {
            tracing::warn!(
                event_type = %event.event_type,
                bounce_type = event.bounce_type.as_deref().unwrap_or("-"),
                recipients = ?event.recipients,
                kind = ?event.kind,
                message_id = %event.message_id,
                action = "logged",
                "Email not delivered yet or not sent; counted, not acted on"
            );
            handled.action = "logged";
            return Ok(handled);
        }
        Severity::Suppressing => {}
    }
    handled.holders = match &event.origin {
        Some(origin) => holders(work, origin).await?,
        None => Vec::new(),
    };
    if handled.holders.is_empty() {
        tracing::warn!(
            event_type = %event.event_type,
            recipients = ?event.recipients,
            kind = ?event.kind,
            message_id = %event.message_id,
            action = "holdersUnknown",
            "Address suppressed, but the message does not say whose it is: the weekly audit reports it"
        );
        handled.action = "holdersUnknown";
        return Ok(handled);
    }
    let name = execution_name(&event);
    let input = email_events::validation_input(&handled.holders, &event).to_string();
    let result = sfn
        .start_execution()
        .state_machine_arn(validation_arn)
        .name(&name)
        .input(input)
        .send()
        .await;
    handled.action = match result {
        Ok(_) => "validationStarted",
        Err(err) if err.code() == Some("ExecutionAlreadyExists") => "alreadyStarted",
        Err(err) if err.code() == Some("ThrottlingException") => {
            return Err(HandleEmailEventsError::Throttled(validation_arn.to_owned()));
        }
        Err(err) => {
            return Err(HandleEmailEventsError::NotStarted {
                state_machine: validation_arn.to_owned(),
                message: DisplayErrorContext(&err).to_string(),
            });
        }
    };
    tracing::warn!(
        event_type = %event.event_type,
        recipients = ?event.recipients,
        holders = ?handled.holders,
        execution = %name,
        action = handled.action,
        "Address suppressed: its holders are checked again"
    );
    handled.execution = Some(name);
    Ok(handled)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let env = warden_lambda::env();
    let validation_arn = env.required(
        "VALIDATION_STATE_MACHINE_ARN",
        "the ARN of the secret-validation state machine",
    )?;
    let aws = warden_lambda::aws_config().await;
    let sfn = Client::new(&aws);
    let work = WorkStore::from_config(&aws, env.work_bucket()?);
    run(service_fn(|event| {
        handler(&sfn, &work, &validation_arn, event)
    }))
    .await
}

#[cfg(test)]
mod tests;
