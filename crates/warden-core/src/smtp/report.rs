//! The email that tells the SuperAdmins a deployment of rotated SMTP credentials did not reach
//! every mail server: which servers, why, and that the old key stays active until a deployment
//! reaches them all.

use std::fmt::Write;

use serde::Deserialize;

use super::deployment::DeploymentVerdict;
use crate::notify::{Email, EmailKind, MAX_RECIPIENTS_PER_EMAIL, dedup_case_insensitive};
use crate::text::{escape_unsafe, strip_unsafe};

/// What the deployment state machine knows when it fails: its input, its last verdict (when it
/// got as far as checking the servers) and the error it caught (when a call failed).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedDeployment {
    pub new_access_key_id: String,
    #[serde(default)]
    pub old_access_key_id: Option<String>,
    #[serde(default)]
    pub deployment: Option<VerdictHolder>,
    #[serde(default)]
    pub error: Option<CaughtError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct VerdictHolder {
    /// Before the first check the state holds only the counter (`{"attempt": 0}`): no verdict.
    #[serde(default, deserialize_with = "verdict_if_any")]
    pub verdict: Option<DeploymentVerdict>,
}

fn verdict_if_any<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DeploymentVerdict>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// A `Catch`'s `ResultPath` value.
#[derive(Debug, Clone, Deserialize)]
pub struct CaughtError {
    #[serde(rename = "Error", default)]
    pub error: String,
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

const MAX_CAUSE_CHARS: usize = 1_000;

/// `None` when nobody can be told.
pub fn deployment_failed_email(
    execution: &str,
    failed: &FailedDeployment,
    super_admins: &[String],
) -> Option<Email> {
    let mut to = dedup_case_insensitive(super_admins.to_vec(), &[]);
    if to.is_empty() {
        return None;
    }
    to.truncate(MAX_RECIPIENTS_PER_EMAIL);
    let execution = strip_unsafe(execution, 100);
    let new_key = strip_unsafe(&failed.new_access_key_id, 40);
    let verdict = failed.deployment.as_ref().and_then(|d| d.verdict.as_ref());
    let mut body = String::new();
    let _ = writeln!(
        body,
        "The rotated SES SMTP credentials (access key {new_key}) did not reach every mail server (deployment {execution})."
    );
    let _ = writeln!(body);
    if let Some(reason) = verdict.and_then(|v| v.reason.as_deref()) {
        let _ = writeln!(body, "Why: {}", escape_unsafe(reason, MAX_CAUSE_CHARS));
    }
    if let Some(error) = &failed.error {
        let _ = writeln!(
            body,
            "Why: {} — {}",
            escape_unsafe(&error.error, 100),
            escape_unsafe(&error.cause, MAX_CAUSE_CHARS)
        );
    }
    if let Some(verdict) = verdict.filter(|v| !v.servers.is_empty()) {
        let _ = writeln!(body);
        let _ = writeln!(
            body,
            "Mail servers ({} applied, {} failed, {} unfinished):",
            verdict.succeeded, verdict.failed, verdict.pending
        );
        for server in &verdict.servers {
            let _ = writeln!(
                body,
                "  {}: {}",
                escape_unsafe(&server.instance_id, 40),
                escape_unsafe(&server.status, 40)
            );
        }
    }
    let _ = writeln!(body);
    match failed.old_access_key_id.as_deref() {
        Some(old) => {
            let _ = writeln!(
                body,
                "The previous key {} stays active, so a server that did not take the new credentials goes on sending with it. \
                 It is deactivated and deleted only by a deployment that reaches every server.",
                strip_unsafe(old, 40)
            );
        }
        None => {
            let _ = writeln!(body, "This was the first key: no older key to keep active.");
        }
    }
    let _ = writeln!(
        body,
        "Fix the servers (the SSM command's output says what failed), then deploy again: sftp-warden smtp redeploy {execution}"
    );
    let _ = writeln!(body, "Where the credentials stand: sftp-warden smtp status");
    Some(Email {
        kind: EmailKind::RunFailed,
        to,
        cc: Vec::new(),
        subject: format!(
            "sftp-warden: SMTP credentials not deployed to every mail server ({execution})"
        ),
        body,
        html: None,
        address_holders: Vec::new(),
        rerouted: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(state: serde_json::Value) -> FailedDeployment {
        serde_json::from_value(state).unwrap()
    }

    #[test]
    fn a_failed_server_is_named_and_the_old_key_said_to_stay_active() {
        let state = serde_json::json!({
            "secretArn": "arn:aws:secretsmanager:eu-west-1:1:secret:s", "userName": "u",
            "newAccessKeyId": "AKIANEW", "oldAccessKeyId": "AKIAOLD",
            "deployment": {"verdict": {"state": "Failed", "attempt": 2, "succeeded": 1, "failed": 1, "pending": 0,
                "servers": [{"instanceId": "i-1", "status": "Success"}, {"instanceId": "i-2", "status": "Failed"}],
                "reason": "1 of 2 mail server(s) did not apply the new credentials"}}
        });
        let email = deployment_failed_email(
            "smtp-tok",
            &failed(state),
            &["Root@x.example".into(), "root@x.example".into()],
        )
        .unwrap();
        assert_eq!(email.to, ["Root@x.example"]);
        assert!(email.subject.contains("smtp-tok"));
        for expected in [
            "AKIANEW",
            "i-2: Failed",
            "1 of 2",
            "AKIAOLD stays active",
            "smtp redeploy smtp-tok",
        ] {
            assert!(
                email.body.contains(expected),
                "{expected} in {}",
                email.body
            );
        }
    }

    #[test]
    fn a_caught_error_is_the_reason_when_no_server_was_checked() {
        let state = serde_json::json!({
            "newAccessKeyId": "AKIANEW", "oldAccessKeyId": null,
            "error": {"Error": "Ssm.InvalidDocumentException", "Cause": "document not found"}
        });
        let email =
            deployment_failed_email("smtp-x", &failed(state), &["a@x.example".into()]).unwrap();
        assert!(
            email
                .body
                .contains("Ssm.InvalidDocumentException — document not found")
        );
        assert!(email.body.contains("first key"));
    }

    #[test]
    fn a_deployment_that_failed_before_its_first_check_is_still_told() {
        // SendCommand refused: the state has the counter, not a verdict, and the caught error.
        let state = serde_json::json!({
            "newAccessKeyId": "AKIANEW", "oldAccessKeyId": "AKIAOLD",
            "deployment": {"verdict": {"attempt": 0}},
            "error": {"Error": "Ssm.InvalidDocumentException", "Cause": "no such document"}
        });
        let email =
            deployment_failed_email("smtp-x", &failed(state), &["a@x.example".into()]).unwrap();
        assert!(
            email
                .body
                .contains("Ssm.InvalidDocumentException — no such document")
        );
        assert!(email.body.contains("AKIAOLD stays active"));
    }

    #[test]
    fn nobody_to_tell_is_no_email() {
        let state = serde_json::json!({"newAccessKeyId": "AKIANEW"});
        assert!(deployment_failed_email("smtp-x", &failed(state), &[]).is_none());
    }
}
