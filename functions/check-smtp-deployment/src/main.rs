//! The deployment state machine's verdict after each wait: given the SSM command's invocations
//! (one per mail server), whether to wait again, retire the old key, or stop and tell the
//! SuperAdmins (`warden_core::smtp::DeploymentCheck`). No AWS call: the state machine lists the
//! invocations itself.

use lambda_runtime::{Error, LambdaEvent, run, service_fn, tracing};
use warden_core::smtp::{DeploymentCheck, DeploymentVerdict};

async fn handler(event: LambdaEvent<DeploymentCheck>) -> Result<DeploymentVerdict, Error> {
    let verdict = event.payload.verdict();
    tracing::info!(
        state = ?verdict.state,
        attempt = verdict.attempt,
        succeeded = verdict.succeeded,
        failed = verdict.failed,
        pending = verdict.pending,
        reason = verdict.reason.as_deref().unwrap_or_default(),
        "Checked the mail servers"
    );
    Ok(verdict)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    warden_lambda::init_logging();
    run(service_fn(handler)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_core::smtp::DeploymentState;

    /// The state machine's input, as `ListCommandInvocations` and the loop's counter give it.
    #[tokio::test]
    async fn the_state_machine_input_becomes_a_verdict() {
        let input = serde_json::json!({
            "invocations": [
                {"CommandId": "c-1", "InstanceId": "i-b", "Status": "Success", "StatusDetails": "Success"},
                {"CommandId": "c-1", "InstanceId": "i-a", "Status": "InProgress", "StatusDetails": "InProgress"}
            ],
            "attempt": 0,
            "maxPolls": 3
        });
        let event = LambdaEvent::new(
            serde_json::from_value(input).unwrap(),
            lambda_runtime::Context::default(),
        );
        let verdict = handler(event).await.unwrap();
        assert_eq!(verdict.state, DeploymentState::InProgress);
        assert_eq!(verdict.attempt, 1);
        let shown = serde_json::to_value(&verdict).unwrap();
        assert_eq!(shown["state"], "InProgress");
        assert_eq!(shown["servers"][0]["instanceId"], "i-a");
    }
}
