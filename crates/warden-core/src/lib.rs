//! Pure domain logic of sftp-warden: the user secret, the validation rules (DESIGN.md section 3)
//! and who is told about what (section 4). No AWS SDK and no I/O, so every rule is unit-tested
//! with plain values; the Lambdas are thin adapters around these functions.
//!
//! Secrets, passwords and key material never leave this crate in a finding, notice, email or
//! `Debug` output: keys are named by position and SHA256 fingerprint only.

pub mod admins;
pub mod cidr;
pub mod config;
pub mod email;
pub mod email_events;
pub mod errors;
pub mod folder;
pub mod html;
pub mod iam;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod notify;
pub mod password_hash;
pub mod prefix_lists;
pub mod registry;
pub mod secret_validation;
pub mod smtp;
pub mod suppression;
pub mod text;
pub mod trigger;
pub mod user;
pub mod username;
pub mod validation;
pub mod work;

#[cfg(test)]
mod test_support;

pub use admins::{Admin, AdminDirectory};
pub use config::{ConfigError, Env, Rules};
pub use errors::{ErrorName, Named};
pub use notify::{Email, EmailKind, finding_digests, finding_recipients, key_expiry_notices};
pub use user::{
    PLACEHOLDER_KEY, Role, SecretError, SecretKey, UserSecret, username_from_secret_id,
};
pub use validation::{Finding, KeyNotice, Rule, UserReport, validate_user};
