//! Rules 3 (email delimiter) and 4 (email format, and not on the SES suppression list) on the
//! `Email` value.

use super::{Check, Code, Findings};
use crate::email::{self, MISTYPED_DELIMITERS};
use crate::text::quoted;
use crate::user::{Role, SecretKey};

/// Rule 3: addresses are separated by commas, and only by commas.
pub(super) fn delimiters(check: &Check, findings: &mut Findings) {
    let Some(value) = check.secret.text(SecretKey::Email) else {
        return;
    };
    for delimiter in MISTYPED_DELIMITERS {
        let count = value.matches(delimiter).count();
        if count > 0 {
            findings.push(
                Code::EmailDelimiter,
                format!("Email uses '{delimiter}' between addresses ({count}×); the delimiter is a comma"),
            );
        }
    }
    let pieces = value.split(|c: char| c == ',' || MISTYPED_DELIMITERS.contains(&c));
    for piece in pieces.map(str::trim) {
        if piece.contains(char::is_whitespace) {
            findings.push(
                Code::EmailMissingComma,
                format!(
                    "Email has addresses separated by spaces or line breaks, not a comma: {}",
                    quoted(piece)
                ),
            );
        }
    }
    if !value.trim().is_empty() && value.split(',').any(|piece| piece.trim().is_empty()) {
        findings.push(
            Code::EmailEmptyEntry,
            "Email has an empty entry: a doubled, leading or trailing comma",
        );
    }
}

/// Rule 4: each address is well formed and not suppressed; Users and SuperAdmins have at least one (a GroupAdmin
/// without one is allowed: its mail goes to the SuperAdmins).
pub(super) fn addresses(check: &Check, findings: &mut Findings) {
    let Some(value) = check.secret.text(SecretKey::Email) else {
        return;
    };
    let mut candidates = email::candidates(value).peekable();
    if candidates.peek().is_none() {
        if check.role != Role::GroupAdmin {
            findings.push(Code::EmailEmpty, "Email has no address");
        }
        return;
    }
    for address in candidates {
        if let Some(problem) = email::address_problem(address) {
            findings.push(
                Code::EmailMalformed,
                format!("Email address {} {problem}", quoted(address)),
            );
        } else if let Some(entry) = check.admins.suppressed.get(address) {
            findings.push(
                Code::EmailSuppressed,
                format!(
                    "Email address {} {} and has been on the SES suppression list since {}: nothing is sent to it",
                    quoted(address),
                    entry.reason.describe(),
                    entry.since
                ),
            );
        }
    }
}
