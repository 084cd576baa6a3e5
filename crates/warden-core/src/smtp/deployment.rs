//! The verdict on a deployment of new SMTP credentials to the mail servers: the state machine
//! sends one SSM Run Command to every server with the configured tag, lists the command's
//! invocations after each wait, and asks [`DeploymentCheck::verdict`] whether to wait again,
//! go on to retire the old key, or stop and tell the SuperAdmins.
//!
//! The loop is bounded: after `maxPolls` checks, servers still pending count as failed. No
//! server at all is a failure too (SSM resolves the tag a moment after the command is sent, so
//! an empty list is first waited for): retiring the old key when no server took the new one
//! would cut every server off.

use serde::{Deserialize, Serialize};

use crate::text::strip_unsafe;

/// One server's invocation, as `ListCommandInvocations` shows it (the fields that matter).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Invocation {
    pub instance_id: String,
    pub status: String,
}

/// The check the state machine asks for after a wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCheck {
    pub invocations: Vec<Invocation>,
    /// Checks made before this one.
    #[serde(default)]
    pub attempt: u32,
    pub max_polls: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentState {
    /// Some servers have not finished: wait and check again.
    InProgress,
    /// Every server applied the new credentials: retire the old key.
    Succeeded,
    /// A server failed, or did not finish in time, or none was found: keep the old key active.
    Failed,
}

/// How one server fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerResult {
    pub instance_id: String,
    pub status: String,
}

/// Most servers listed in a verdict, and the most the deployment checks: SSM lists 50
/// invocations a page, so 50 listed may mean more beyond (the state stays small too).
pub const MAX_SERVERS_SHOWN: usize = 50;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentVerdict {
    pub state: DeploymentState,
    /// Checks made, this one included (the next check's `attempt`).
    pub attempt: u32,
    pub succeeded: usize,
    pub failed: usize,
    pub pending: usize,
    pub servers: Vec<ServerResult>,
    /// Why it failed, in a sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// SSM's invocation statuses that are not final yet.
fn is_pending(status: &str) -> bool {
    matches!(status, "Pending" | "InProgress" | "Delayed" | "Cancelling")
}

impl DeploymentCheck {
    pub fn verdict(&self) -> DeploymentVerdict {
        let attempt = self.attempt.saturating_add(1);
        let last_check = attempt >= self.max_polls.max(1);
        let mut servers: Vec<ServerResult> = self
            .invocations
            .iter()
            .map(|i| ServerResult {
                instance_id: strip_unsafe(&i.instance_id, 40),
                status: strip_unsafe(&i.status, 40),
            })
            .collect();
        servers.sort_by(|a, b| a.instance_id.cmp(&b.instance_id));
        servers.dedup_by(|a, b| a.instance_id == b.instance_id);
        let succeeded = servers.iter().filter(|s| s.status == "Success").count();
        let pending = servers.iter().filter(|s| is_pending(&s.status)).count();
        let failed = servers.len() - succeeded - pending;
        let (state, reason) = if self.invocations.len() >= MAX_SERVERS_SHOWN {
            // One page of ListCommandInvocations: more servers may be beyond it, and retiring
            // the old key on a partial list could cut one off.
            (
                DeploymentState::Failed,
                Some(format!(
                    "{} or more mail servers: the deployment checks at most {} (one page of invocations), so it cannot tell that every server has the new credentials",
                    MAX_SERVERS_SHOWN,
                    MAX_SERVERS_SHOWN - 1
                )),
            )
        } else if servers.is_empty() {
            if last_check {
                (
                    DeploymentState::Failed,
                    Some(format!(
                        "no mail server took the command in {attempt} checks: none has the configured tag, or SSM cannot reach them"
                    )),
                )
            } else {
                (DeploymentState::InProgress, None)
            }
        } else if pending > 0 {
            if last_check {
                (
                    DeploymentState::Failed,
                    Some(format!(
                        "{pending} mail server(s) had not finished after {attempt} checks"
                    )),
                )
            } else {
                (DeploymentState::InProgress, None)
            }
        } else if failed > 0 {
            (
                DeploymentState::Failed,
                Some(format!(
                    "{failed} of {} mail server(s) did not apply the new credentials",
                    servers.len()
                )),
            )
        } else {
            (DeploymentState::Succeeded, None)
        };
        servers.truncate(MAX_SERVERS_SHOWN);
        DeploymentVerdict {
            state,
            attempt,
            succeeded,
            failed,
            pending,
            servers,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(statuses: &[(&str, &str)], attempt: u32, max_polls: u32) -> DeploymentVerdict {
        DeploymentCheck {
            invocations: statuses
                .iter()
                .map(|(id, status)| Invocation {
                    instance_id: id.to_string(),
                    status: status.to_string(),
                })
                .collect(),
            attempt,
            max_polls,
        }
        .verdict()
    }

    #[test]
    fn every_server_succeeded_is_a_success() {
        let v = check(&[("i-2", "Success"), ("i-1", "Success")], 0, 10);
        assert_eq!(v.state, DeploymentState::Succeeded);
        assert_eq!((v.succeeded, v.failed, v.pending, v.attempt), (2, 0, 0, 1));
        assert_eq!(v.servers[0].instance_id, "i-1");
        assert_eq!(v.reason, None);
    }

    #[test]
    fn a_pending_server_is_waited_for_until_the_last_check() {
        let statuses = [("i-1", "Success"), ("i-2", "InProgress")];
        assert_eq!(check(&statuses, 0, 3).state, DeploymentState::InProgress);
        assert_eq!(check(&statuses, 1, 3).state, DeploymentState::InProgress);
        let last = check(&statuses, 2, 3);
        assert_eq!(last.state, DeploymentState::Failed);
        assert!(
            last.reason
                .unwrap()
                .contains("had not finished after 3 checks")
        );
    }

    #[test]
    fn a_failed_server_fails_the_deployment_once_the_others_have_finished() {
        let waiting = check(&[("i-1", "Failed"), ("i-2", "Pending")], 0, 10);
        assert_eq!(waiting.state, DeploymentState::InProgress);
        for status in [
            "Failed",
            "TimedOut",
            "Cancelled",
            "DeliveryTimedOut",
            "Undeliverable",
            "AccessDenied",
        ] {
            let v = check(&[("i-1", status), ("i-2", "Success")], 4, 10);
            assert_eq!(v.state, DeploymentState::Failed, "{status}");
            assert_eq!((v.succeeded, v.failed), (1, 1));
            assert!(v.reason.as_deref().unwrap().contains("1 of 2"));
        }
    }

    #[test]
    fn no_server_is_waited_for_then_a_failure_never_a_success() {
        assert_eq!(check(&[], 0, 5).state, DeploymentState::InProgress);
        let v = check(&[], 4, 5);
        assert_eq!(v.state, DeploymentState::Failed);
        assert!(v.reason.unwrap().contains("no mail server"));
        // A zero or one check limit still ends.
        assert_eq!(check(&[], 0, 0).state, DeploymentState::Failed);
    }

    #[test]
    fn the_verdict_stays_small_whatever_ssm_lists() {
        let many: Vec<(String, &str)> =
            (0..500).map(|i| (format!("i-{i:05}"), "Success")).collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(i, s)| (i.as_str(), *s)).collect();
        let v = check(&refs, 0, 10);
        assert_eq!(v.servers.len(), MAX_SERVERS_SHOWN);
        assert_eq!(v.succeeded, 500);
        assert_eq!(
            v.state,
            DeploymentState::Failed,
            "a full page may hide more servers"
        );
        let v = check(&refs[..49], 0, 10);
        assert_eq!(v.state, DeploymentState::Succeeded);
        let long = "x".repeat(10_000);
        let v = check(&[(long.as_str(), long.as_str())], 9, 10);
        assert!(serde_json::to_string(&v).unwrap().len() < 1_000);
    }
}
