//! The identity provider's decision (DESIGN.md section 6): may this login proceed, and with
//! which role, home folder, session policy and keys.
//!
//! Pure: the caller reads the user's secret and passes its text in. Every path that is not a
//! clear grant is a denial ("fail closed"), and a denial names its reason for the log line but
//! never a password, a hash, a key or a key comment.

mod decision;
mod request;
mod session_policy;

pub use decision::{
    Decision, DenyReason, Grant, IdpResponse, SecretProblem, UsableKeys, decide, parse_source_ip,
    screen, usable_keys,
};
pub use request::{LoginKind, LoginPolicy, LoginRequest, Password, Protocol};
pub use session_policy::{EXTRA_OBJECT_ACTIONS, MAX_POLICY_CHARS, session_policy};

#[cfg(test)]
mod tests;
