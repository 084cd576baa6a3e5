//! The rotation function of the SES SMTP credentials secret: Secrets Manager calls it for the
//! four steps of its rotation contract, each retried by Secrets Manager and so each idempotent.
//!
//! * `createSecret` — reuses an `AWSPENDING` version that is already there; otherwise makes room
//!   under IAM's two-keys-per-user limit (only keys nothing can use), creates one access key and
//!   stores it with its SMTP password as `AWSPENDING`. A key whose storing fails is deleted
//!   again: no orphan.
//! * `setSecret` — nothing to set: the key exists in IAM once created.
//! * `testSecret` — an SMTP `AUTH` with the pending credentials (STARTTLS on 587), retried with a
//!   bounded backoff while the new key reaches SES. A refusal leaves `AWSCURRENT` where it is.
//! * `finishSecret` — moves `AWSCURRENT` to the new version, then starts the deployment state
//!   machine (the mail servers read the new secret, the old key is retired), named after the
//!   token so that a retried step starts nothing new.
//!
//! The output and every log line name access key ids only; the secret key and the SMTP
//! password go to Secrets Manager and the SMTP login, nowhere else.

mod rotation;
mod smtp_login;
#[cfg(test)]
mod tests;

use lambda_runtime::{Diagnostic, LambdaEvent, run, service_fn, tracing};
use serde::Deserialize;
use warden_core::Named;

use rotation::{Clients, RotateError, Rotation, Step, StepDone};
use smtp_login::{LettreLogin, SmtpLogin};

/// Secrets Manager's call: one step of one rotation.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RotationEvent {
    step: String,
    secret_id: String,
    client_request_token: String,
}

impl From<RotateError> for Diagnostic {
    fn from(err: RotateError) -> Self {
        warden_lambda::diagnostic(&err)
    }
}

async fn handler<L: SmtpLogin>(
    rotation: &Rotation<L>,
    event: LambdaEvent<RotationEvent>,
) -> Result<StepDone, RotateError> {
    let RotationEvent {
        step,
        secret_id,
        client_request_token: token,
    } = event.payload;
    let Some(parsed) = Step::parse(&step) else {
        return Err(RotateError::UnknownStep(warden_core::text::strip_unsafe(
            &step, 40,
        )));
    };
    let done = rotation.run(parsed, &secret_id, &token).await;
    match &done {
        Ok(outcome) => tracing::info!(step, token, ?outcome, "Rotation step done"),
        Err(err) => {
            tracing::error!(step, token, error = %err.name(), "Rotation step failed: {err}")
        }
    }
    done
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    let settings = warden_lambda::env().smtp_rotation_settings()?;
    let login = LettreLogin::new(&settings)?;
    let config = warden_lambda::aws_config().await;
    let rotation = Rotation::new(Clients::from_config(&config), login, settings);
    run(service_fn(|event| handler(&rotation, event))).await
}
