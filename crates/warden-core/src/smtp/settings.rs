//! What the rotation is configured with (read by `Env::smtp_rotation_settings`), and the input
//! it hands the deployment state machine.

use serde::{Deserialize, Serialize};

/// The SMTP endpoint's port: STARTTLS on 587, as SES's SMTP interface offers it.
pub const DEFAULT_SMTP_PORT: u16 = 587;
/// SMTP logins tried with the pending credentials before `testSecret` gives up (a new IAM key
/// takes a few seconds to reach SES); Secrets Manager then retries the rotation itself.
pub const DEFAULT_LOGIN_ATTEMPTS: u32 = 6;
/// The first wait between two logins; each next wait doubles, up to 16 s (2+4+8+16+16 = 46 s for
/// six attempts, inside the function's 120 s).
pub const DEFAULT_LOGIN_FIRST_DELAY_MS: u64 = 2_000;
pub const DEFAULT_SERVER_TAG_KEY: &str = "EmailServers";
pub const DEFAULT_POLL_SECONDS: u64 = 30;
pub const DEFAULT_MAX_POLLS: u32 = 60;
/// Three days between deactivating the old key and deleting it.
pub const DEFAULT_GRACE_SECONDS: u64 = 3 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSettings {
    /// The IAM user whose keys are the SMTP credentials (the rotation's own).
    pub iam_user: String,
    pub region: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// A PEM root certificate to trust besides Mozilla's (the local stack's SMTP endpoint).
    pub extra_root_cert: Option<String>,
    pub login_attempts: u32,
    pub login_first_delay_ms: u64,
    pub deployment_state_machine: String,
    pub deployment: DeploymentSettings,
}

/// How the deployment reaches the mail servers, and how long it waits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentSettings {
    pub servers: ServerTag,
    /// The SSM document that makes a server read the current secret and apply it.
    pub document: String,
    pub poll_seconds: u64,
    pub max_polls: u32,
    pub grace_seconds: u64,
}

/// The mail servers: the instances with this tag. An empty value means no server to push to
/// (the deployment goes straight to retiring the old key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTag {
    pub tag_key: String,
    pub tag_value: String,
}

/// The deployment state machine's input. Key ids and ARNs only: no credential ever travels in
/// the state (the servers read the secret themselves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentInput {
    pub secret_arn: String,
    pub user_name: String,
    pub new_access_key_id: String,
    /// The key the rotation replaced; `None` for the first rotation.
    pub old_access_key_id: Option<String>,
    #[serde(flatten)]
    pub settings: DeploymentSettings,
}
