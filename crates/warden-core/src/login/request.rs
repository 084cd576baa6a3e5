//! What a login asks for, as Transfer describes it, and the policy it is judged by.

use std::fmt;

use crate::config::Rules;

/// A password as Transfer sent it. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The file transfer protocols of AWS Transfer Family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Sftp,
    Ftps,
    Ftp,
}

impl Protocol {
    /// As Transfer spells it: `SFTP`, `FTPS`, `FTP`.
    pub fn parse(text: &str) -> Option<Protocol> {
        match text {
            "SFTP" => Some(Protocol::Sftp),
            "FTPS" => Some(Protocol::Ftps),
            "FTP" => Some(Protocol::Ftp),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Sftp => "SFTP",
            Protocol::Ftps => "FTPS",
            Protocol::Ftp => "FTP",
        }
    }
}

/// One login attempt, as Transfer describes it (direct event or API Gateway request).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRequest {
    pub username: String,
    /// `None` (or empty) for a key login: Transfer then checks the client's key against the
    /// `PublicKeys` we return.
    pub password: Option<Password>,
    pub protocol: String,
    pub server_id: String,
    /// As sent; parsed only when the user has CIDRs.
    pub source_ip: Option<String>,
}

/// Password or key login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginKind {
    Password,
    PublicKey,
}

impl LoginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LoginKind::Password => "password",
            LoginKind::PublicKey => "key",
        }
    }
}

impl LoginRequest {
    /// An empty password is a key login, as Transfer sends it; it can never match a password.
    pub fn kind(&self) -> LoginKind {
        match &self.password {
            Some(p) if !p.expose().is_empty() => LoginKind::Password,
            _ => LoginKind::PublicKey,
        }
    }
}

/// How logins are judged. `LoginPolicy::default()` is DESIGN.md's policy.
#[derive(Clone, Debug, PartialEq)]
pub struct LoginPolicy {
    /// Shared with validation: `transfer_role_arn` (when set, the only `Role` granted),
    /// `min_rsa_bits`, and the prefix lengths below which a CIDR is too broad to count.
    pub rules: Rules,
    /// Keys whose `Updated` date is more than this many calendar months ago are not returned;
    /// `None` switches the limit off.
    pub key_max_age_months: Option<u32>,
    /// Protocols a login may use; anything else is denied.
    pub protocols: Vec<Protocol>,
    /// Whether grants carry a session `Policy` scoping S3 access to the user's folder.
    pub session_policy: bool,
    /// Object actions the session policy adds to the defaults (from
    /// [`super::EXTRA_OBJECT_ACTIONS`]).
    pub session_policy_extra_actions: Vec<String>,
    /// When not empty, home folders must lie in one of these buckets.
    pub buckets: Vec<String>,
    /// When not empty, only logins to these Transfer servers are answered.
    pub servers: Vec<String>,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            rules: Rules::default(),
            key_max_age_months: Some(12),
            protocols: vec![Protocol::Sftp],
            session_policy: true,
            session_policy_extra_actions: Vec::new(),
            buckets: Vec::new(),
            servers: Vec::new(),
        }
    }
}
