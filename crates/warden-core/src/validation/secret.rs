//! Rules about the secret as a whole and its single-valued keys: 1 (mandatory keys),
//! 2 (group admin) and 6 (role).

use super::{Check, Code, Finding, Findings};
use crate::text::quoted;
use crate::user::{Field, JsonKind, Role, SecretError, SecretKey};

/// Rule 1, when the secret is not a JSON object at all.
pub(super) fn unparsable(error: &SecretError) -> Finding {
    let code = match error {
        SecretError::NotJson { .. } => Code::NotJson,
        SecretError::NotAnObject { .. } => Code::NotAnObject,
    };
    Finding::new(code, error.to_string())
}

/// Rule 1: every mandatory key is present, `IP` or `IPv6` is, and values have the right type.
pub(super) fn mandatory_keys(check: &Check, findings: &mut Findings) {
    let secret = check.secret;
    for key in SecretKey::MANDATORY {
        if !secret.has(key) {
            let near: Vec<String> = secret.near_misses(key).into_iter().map(quoted).collect();
            let hint = match near.as_slice() {
                [] => String::new(),
                found => format!(" (found {}; keys are case-sensitive)", found.join(", ")),
            };
            findings.push(Code::MissingKey, format!("key \"{key}\" is missing{hint}"));
        }
    }
    if !secret.has(SecretKey::Ip) && !secret.has(SecretKey::Ipv6) {
        findings.push(
            Code::MissingIpKey,
            "neither \"IP\" nor \"IPv6\" is present; at least one must exist, even if empty",
        );
    }
    for key in [
        SecretKey::Name,
        SecretKey::Email,
        SecretKey::PublicKey,
        SecretKey::Password,
        SecretKey::PasswordHash,
        SecretKey::HomeDirectoryType,
        SecretKey::GroupAdmin,
        SecretKey::Role,
        SecretKey::Ip,
        SecretKey::Ipv6,
    ] {
        if let Field::Other(found) = secret.field(key) {
            findings.push(
                Code::WrongType,
                format!("\"{key}\" is {found}; expected a string"),
            );
        }
    }
    if let Field::Other(found) = secret.field(SecretKey::HomeDirectoryDetails)
        && found != JsonKind::Array
    {
        findings.push(
            Code::WrongType,
            format!(
                "\"HomeDirectoryDetails\" is {found}; expected a JSON array or a string holding one"
            ),
        );
    }
}

/// Rule 1, the credentials: a `PasswordHash` the identity provider can check, and no readable
/// `Password` (the identity provider accepts one, but a hash keeps the password out of every
/// reader's hands). Values of the wrong type are `wrong-type` findings already.
pub(super) fn passwords(check: &Check, findings: &mut Findings) {
    let secret = check.secret;
    let hash = secret.text(SecretKey::PasswordHash);
    if let Some(problem) = hash.and_then(|h| crate::password_hash::parse(h).err()) {
        findings.push(
            Code::PasswordHashInvalid,
            format!("PasswordHash {problem}, so password logins are refused"),
        );
    }
    match secret.text(SecretKey::Password) {
        Some(password) if !password.is_empty() && hash.is_some() => findings.push(
            Code::PasswordPlaintext,
            "Password is stored next to PasswordHash; logins check PasswordHash only, so the readable Password is a needless risk",
        ),
        Some(password) if !password.is_empty() => findings.push(
            Code::PasswordPlaintext,
            "Password holds a readable password; store its Argon2id hash as PasswordHash instead",
        ),
        _ => {}
    }
}

/// Rule 2: `GroupAdmin` names an existing admin.
pub(super) fn group_admin(check: &Check, findings: &mut Findings) {
    let Some(value) = check.secret.text(SecretKey::GroupAdmin) else {
        return;
    };
    if value.trim().is_empty() {
        findings.push(Code::GroupAdminEmpty, "GroupAdmin is empty");
        return;
    }
    // An admin this run could not read exists; the run reports that itself.
    if check.admins.get(value).is_some() || check.admins.unreadable(value).is_some() {
        return;
    }
    let shown = quoted(value);
    let trimmed = value.trim();
    if trimmed != value && check.admins.get(trimmed).is_some() {
        findings.push(
            Code::GroupAdminUnknown,
            format!("GroupAdmin {shown} has spaces around the admin's username"),
        );
    } else if Role::of(value) == Role::User {
        findings.push(
            Code::GroupAdminNotAdmin,
            format!(
                "GroupAdmin {shown} is not an admin's username (admin usernames contain \"admin\")"
            ),
        );
    } else {
        findings.push(
            Code::GroupAdminUnknown,
            format!("GroupAdmin {shown} is not an existing admin"),
        );
    }
}

/// Rule 6: `Role` is the configured role ARN, or at least a well-formed IAM role ARN.
pub(super) fn role(check: &Check, findings: &mut Findings) {
    let Some(value) = check.secret.text(SecretKey::Role) else {
        return;
    };
    match &check.rules.transfer_role_arn {
        Some(expected) if value != expected => {
            let hint = if value.trim() == expected {
                " (it has spaces around it)"
            } else {
                ""
            };
            findings.push(
                Code::RoleMismatch,
                format!(
                    "Role is {}; expected {}{hint}",
                    quoted(value),
                    quoted(expected)
                ),
            );
        }
        Some(_) => {}
        None if crate::iam::is_role_arn(value) => {}
        None => findings.push(
            Code::RoleMalformed,
            format!(
                "Role {} is not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)",
                quoted(value)
            ),
        ),
    }
}
