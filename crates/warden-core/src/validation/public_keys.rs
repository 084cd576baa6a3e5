//! Rule 8 (public keys) and rule 9 (key age).
//!
//! Keys are named "key #N" (position in `PublicKey`) and, once decoded, by SHA256 fingerprint.
//! The base64 text and comment of a key never appear in a finding or a notice.

use std::collections::HashSet;

use chrono::NaiveDate;

use super::{Check, Code, Findings, KeyNotice};
use crate::config::Rules;
use crate::keys::{self, DecodedKey, KeyParts, KeyProblem, UPDATED_LABEL, UpdatedProblem};
use crate::user::SecretKey;

/// A real key that passed rule 8, with its `Updated` date, for rule 9.
pub(super) struct CheckedKey {
    key: DecodedKey,
    updated: NaiveDate,
}

/// Rule 8. Returns the real keys that passed, for rule 9.
pub(super) fn public_keys(check: &Check, findings: &mut Findings) -> Vec<CheckedKey> {
    let mut checked = Vec::new();
    if check.secret.text(SecretKey::PublicKey).is_none() {
        return checked;
    }
    let entries = check.secret.public_key_entries();
    if entries.is_empty() {
        findings.push(Code::PublicKeyEmpty, "PublicKey is empty");
        return checked;
    }
    let max = check.rules.max_public_keys;
    if entries.len() > max {
        findings.push(
            Code::PublicKeyTooMany,
            format!(
                "PublicKey holds {} keys; at most {max} are allowed",
                entries.len()
            ),
        );
    }
    let mut fingerprints = HashSet::new();
    for (index, entry) in entries.into_iter().enumerate() {
        let number = index + 1;
        let parts = match KeyParts::split(entry) {
            Ok(parts) => parts,
            Err(count) => {
                findings.push(
                    Code::PublicKeyParts,
                    format!(
                        "key #{number} has {count} parts; expected 4: type, key, comment, {UPDATED_LABEL}DATE"
                    ),
                );
                continue;
            }
        };
        let updated = updated_date(check, number, &parts, findings);
        if parts.is_placeholder() {
            continue;
        }
        let key = match parts.decode(check.rules.min_rsa_bits) {
            Ok(key) => key,
            Err(problem) => {
                report_key_problem(number, &problem, check.rules.min_rsa_bits, findings);
                continue;
            }
        };
        if !fingerprints.insert(key.fingerprint.clone()) {
            findings.push(
                Code::PublicKeyDuplicate,
                format!("key #{number} ({}) repeats an earlier key", key.fingerprint),
            );
        }
        if let Some(updated) = updated {
            checked.push(CheckedKey { key, updated });
        }
    }
    checked
}

/// The entry's `Updated` date, reporting why it is unusable.
fn updated_date(
    check: &Check,
    number: usize,
    parts: &KeyParts,
    findings: &mut Findings,
) -> Option<NaiveDate> {
    match parts.updated() {
        Ok(date) if date > check.today => {
            findings.push(
                Code::KeyUpdatedFuture,
                format!("key #{number}: Updated date {date} is in the future"),
            );
            None
        }
        Ok(date) => Some(date),
        Err(UpdatedProblem::MissingLabel) => {
            findings.push(
                Code::KeyUpdatedFormat,
                format!("key #{number}: the fourth part does not start with {UPDATED_LABEL}"),
            );
            None
        }
        Err(UpdatedProblem::NotEightDigits(shown)) => {
            let shown = shown
                .map(|digits| format!(" ({digits})"))
                .unwrap_or_default();
            findings.push(
                Code::KeyUpdatedDate,
                format!("key #{number}: the Updated date{shown} is not eight digits YYYYMMDD"),
            );
            None
        }
        Err(UpdatedProblem::NotACalendarDate(digits)) => {
            findings.push(
                Code::KeyUpdatedDate,
                format!("key #{number}: the Updated date {digits} is not a real calendar date"),
            );
            None
        }
    }
}

fn report_key_problem(
    number: usize,
    problem: &KeyProblem,
    min_rsa_bits: usize,
    findings: &mut Findings,
) {
    let labelled = |declared: &Option<&str>| match declared {
        Some(name) => format!("labelled {name}"),
        None => "with an unrecognised type".to_owned(),
    };
    match problem {
        KeyProblem::Undecodable { declared } => findings.push(
            Code::PublicKeyInvalid,
            format!(
                "key #{number} ({}) does not decode as an SSH public key: the key text is damaged, truncated or not a key",
                labelled(declared)
            ),
        ),
        KeyProblem::TypeMismatch { declared, key } => findings.push(
            Code::PublicKeyTypeMismatch,
            format!(
                "key #{number} ({}) is an {} key but is {}",
                key.fingerprint,
                key.algorithm,
                labelled(declared)
            ),
        ),
        KeyProblem::Unsupported { key } => findings.push(
            Code::PublicKeyAlgorithm,
            format!(
                "key #{number} ({}) is an {} key; allowed are Ed25519, ECDSA (nistp256/384/521) and RSA",
                key.fingerprint, key.algorithm
            ),
        ),
        KeyProblem::RsaTooShort { key, bits } => findings.push(
            Code::PublicKeyRsaTooShort,
            format!(
                "key #{number} ({}) is a {bits}-bit RSA key; at least {min_rsa_bits} bits are required",
                key.fingerprint
            ),
        ),
    }
}

/// Rule 9: a notice for each real key that is `notice_after_months` old or older.
pub(super) fn key_notices(keys: &[CheckedKey], rules: &Rules, today: NaiveDate) -> Vec<KeyNotice> {
    keys.iter()
        .filter_map(|CheckedKey { key, updated }| {
            let notice_from = keys::add_months(*updated, rules.notice_after_months)?;
            let refuse_after = keys::add_months(*updated, rules.refuse_after_months)?;
            (today >= notice_from).then(|| KeyNotice {
                fingerprint: key.fingerprint.clone(),
                algorithm: key.algorithm.clone(),
                updated: *updated,
                age_months: keys::months_between(*updated, today),
                refuse_after,
            })
        })
        .collect()
}
