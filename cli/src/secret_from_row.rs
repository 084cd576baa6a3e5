//! From a sheet row to the user's secret (DESIGN.md section 2), merged with what the secret holds
//! today.
//!
//! * The sheet manages `Name`, `Email`, `PublicKey`, `HomeDirectoryType` (always `LOGICAL`),
//!   `HomeDirectoryDetails` (`[{"Entry": "/", "Target": <DestinationDirectory>}]`, as a JSON
//!   string), `GroupAdmin`, `Role`, `IP` and `IPv6`. Any other key of an existing secret
//!   (`PasswordHash`, …) is kept as it is: the sheet has no column for it, and an import must not
//!   wipe a password hash set elsewhere.
//! * An SSH key cell is `TYPE BASE64 COMMENT Updated(YYYYMMDD)=DATE`, but the date, and the comment,
//!   may be left out. A key the secret already holds (same type and base64) keeps the comment and
//!   date it has there, so re-importing a sheet changes nothing; a new key gets the username as
//!   its comment and today's date (UTC, the clock the validation workflow ages keys by). A date
//!   written in the cell is used as written.
//!
//! Nothing here judges the values: validation does (one set of rules with the Lambdas).

use chrono::NaiveDate;
use serde_json::{Map, Value};
use warden_core::keys;
use warden_core::text::quoted;
use warden_core::user::{HomeDirectoryMapping, SecretKey};
use warden_core::username;

use crate::sheet::SheetRow;

/// The keys the sheet writes, in the order DESIGN.md section 2 lists them.
const MANAGED_KEYS: [SecretKey; 9] = SecretKey::DESCRIPTIVE;

/// Whether the sheet writes this key.
fn is_managed(key: &str) -> bool {
    MANAGED_KEYS.iter().any(|k| k.as_str() == key)
}

/// A secret as a JSON object, with the managed keys first when written out.
#[derive(Clone, PartialEq, Default)]
pub struct SecretFields(pub Map<String, Value>);

impl SecretFields {
    /// The fields of a `SecretString`; `None` when it is not a JSON object.
    pub fn parse(secret_string: &str) -> Option<SecretFields> {
        match serde_json::from_str(secret_string) {
            Ok(Value::Object(map)) => Some(SecretFields(map)),
            _ => None,
        }
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// Compact JSON with the managed keys first, in DESIGN.md's order, then the rest sorted.
    pub fn to_secret_string(&self) -> String {
        let mut out = String::from("{");
        let mut others: Vec<(&String, &Value)> =
            self.0.iter().filter(|(k, _)| !is_managed(k)).collect();
        others.sort_by(|a, b| a.0.cmp(b.0));
        let ordered = MANAGED_KEYS
            .iter()
            .filter_map(|k| self.0.get_key_value(k.as_str()))
            .chain(others);
        for (i, (key, value)) in ordered.enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(key.clone()).to_string());
            out.push(':');
            out.push_str(&value.to_string());
        }
        out.push('}');
        out
    }

    /// The names of keys whose values differ, in DESIGN.md's order then sorted. A
    /// `HomeDirectoryDetails` stored as an inline array equals the same mappings as a string.
    pub fn changed_keys(&self, other: &SecretFields) -> Vec<String> {
        let mut keys: Vec<&String> = self.0.keys().chain(other.0.keys()).collect();
        keys.sort_by_key(|k| {
            (
                MANAGED_KEYS
                    .iter()
                    .position(|m| m.as_str() == k.as_str())
                    .unwrap_or(MANAGED_KEYS.len()),
                k.as_str(),
            )
        });
        keys.dedup();
        keys.into_iter()
            .filter(|k| {
                let (a, b) = (self.0.get(*k), other.0.get(*k));
                if k.as_str() == "HomeDirectoryDetails" {
                    match (mappings(a), mappings(b)) {
                        (Some(a), Some(b)) => a != b,
                        _ => a != b,
                    }
                } else {
                    a != b
                }
            })
            .cloned()
            .collect()
    }
}

impl std::fmt::Debug for SecretFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretFields")
            .field("keys", &self.0.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn mappings(value: Option<&Value>) -> Option<Vec<HomeDirectoryMapping>> {
    let value = value?;
    let fields = Map::from_iter([("HomeDirectoryDetails".to_owned(), value.clone())]);
    let secret = warden_core::UserSecret::parse(&Value::Object(fields).to_string()).ok()?;
    secret.home_directory_mappings().ok()
}

/// What a row needs beyond its own cells.
pub struct BuildContext<'a> {
    /// The Transfer access role every user gets.
    pub role_arn: &'a str,
    /// The date stamped on keys that are new and undated.
    pub today: NaiveDate,
}

/// The user's secret from its row, merged with the secret it has today (if any). Errors are
/// the row's problems that make a secret impossible to build, one sentence each, never quoting
/// key material.
pub fn build_secret(
    row: &SheetRow,
    existing: Option<&SecretFields>,
    context: &BuildContext,
) -> Result<SecretFields, Vec<String>> {
    let mut problems = Vec::new();
    if let Err(problem) = check_username(&row.username) {
        problems.push(problem);
    }
    if row.source_system_name.is_empty() {
        problems.push("SourceSystemName is empty (it becomes the secret's Name)".to_owned());
    }
    let existing_keys = existing
        .and_then(|e| e.text("PublicKey"))
        .unwrap_or_default();
    let mut entries = Vec::new();
    for (index, cell) in row.ssh_keys.iter().enumerate() {
        if cell.is_empty() {
            continue;
        }
        match keys::complete_entry(cell, &row.username, existing_keys, context.today) {
            Ok(entry) => entries.push(entry),
            Err(problem) => problems.push(format!("SSHKey {}: {problem}", index + 1)),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut fields = existing.cloned().unwrap_or_default().0;
    let home = serde_json::to_string(&[HomeDirectoryMapping {
        entry: "/".to_owned(),
        target: row.destination_directory.clone(),
    }])
    .unwrap_or_default();
    for (key, value) in [
        ("Name", row.source_system_name.clone()),
        ("Email", row.email.clone()),
        ("PublicKey", entries.join(",")),
        ("HomeDirectoryType", "LOGICAL".to_owned()),
        ("HomeDirectoryDetails", home),
        ("GroupAdmin", row.group_admin.clone()),
        ("Role", context.role_arn.to_owned()),
        ("IP", row.ip.clone()),
        ("IPv6", row.ipv6.clone()),
    ] {
        fields.insert(key.to_owned(), Value::String(value));
    }
    Ok(SecretFields(fields))
}

/// DESIGN.md section 6's username syntax. The identity provider denies any other name without a
/// lookup, so such a user could never log in.
pub fn check_username(username: &str) -> Result<(), String> {
    if username.is_empty() {
        return Err("Username is empty".to_owned());
    }
    if username::is_valid(username) {
        Ok(())
    } else {
        Err(format!(
            "Username {} is not a valid SFTP username: {}",
            quoted(username),
            username::RULE
        ))
    }
}

/// A tag value Secrets Manager accepts: letters, digits, spaces and `_ . : / = + - @`, at most 256
/// characters. Other characters are dropped (the `Name` tag only helps people find the secret).
pub fn tag_value(text: &str) -> String {
    let allowed = |c: &char| {
        c.is_alphanumeric()
            || c.is_whitespace()
            || matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '@')
    };
    let kept: String = text
        .chars()
        .filter(allowed)
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect();
    kept.trim().chars().take(256).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrNFj+F4sTnV1Wpo78f0X3efGm/XBJVNteI6mqNYqz1";
    const ED25519_FINGERPRINT: &str = "SHA256:MrV/dfh73Wk0GFCYznAN3oJIj4efZgygUFG+5cpeoGs";
    const ROLE: &str = "arn:aws:iam::123456789012:role/TransferS3AccessRole";

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
    }

    fn context() -> BuildContext<'static> {
        BuildContext {
            role_arn: ROLE,
            today: today(),
        }
    }

    fn row(keys: [&str; 4]) -> SheetRow {
        SheetRow {
            row: 2,
            sno: "1".into(),
            username: "anz-bank".into(),
            source_system_name: "ANZ Bank".into(),
            email: "h2h@anz.example.com".into(),
            destination_directory: "/sftp-landing/payments/anz-bank".into(),
            group_admin: "PaymentsAdmin".into(),
            ip: "203.0.113.10/32".into(),
            ipv6: String::new(),
            ssh_keys: keys.map(str::to_owned),
            migration_status: String::new(),
        }
    }

    #[test]
    fn a_row_builds_the_design_section_2_secret_in_its_key_order() {
        let secret = build_secret(
            &row([
                &format!("{ED25519} anz@partner Updated(YYYYMMDD)=20261119"),
                "",
                "",
                "",
            ]),
            None,
            &context(),
        )
        .unwrap();
        let expected = format!(
            r#"{{"Name":"ANZ Bank","Email":"h2h@anz.example.com","PublicKey":"{ED25519} anz@partner Updated(YYYYMMDD)=20261119","HomeDirectoryType":"LOGICAL","HomeDirectoryDetails":"[{{\"Entry\":\"/\",\"Target\":\"/sftp-landing/payments/anz-bank\"}}]","GroupAdmin":"PaymentsAdmin","Role":"{ROLE}","IP":"203.0.113.10/32","IPv6":""}}"#
        );
        assert_eq!(secret.to_secret_string(), expected);
        let parsed = warden_core::UserSecret::parse(&expected).unwrap();
        assert_eq!(
            parsed.home_folder().as_deref(),
            Some("/sftp-landing/payments/anz-bank")
        );
    }

    #[test]
    fn keys_join_with_commas_in_column_order_skipping_empty_cells() {
        let secret = build_secret(
            &row([
                "",
                "ssh-rsa AAAB one Updated(YYYYMMDD)=20260101",
                "",
                "ssh-ed25519 AAAC two Updated(YYYYMMDD)=20260202",
            ]),
            None,
            &context(),
        )
        .unwrap();
        assert_eq!(
            secret.text("PublicKey"),
            Some(
                "ssh-rsa AAAB one Updated(YYYYMMDD)=20260101,ssh-ed25519 AAAC two Updated(YYYYMMDD)=20260202"
            )
        );
    }

    #[test]
    fn a_new_undated_key_gets_todays_date_and_the_username_as_comment() {
        let secret = build_secret(&row([ED25519, "", "", ""]), None, &context()).unwrap();
        assert_eq!(
            secret.text("PublicKey").unwrap(),
            format!("{ED25519} anz-bank Updated(YYYYMMDD)=20261121")
        );
        let with_comment = build_secret(
            &row([&format!("{ED25519} ops@anz"), "", "", ""]),
            None,
            &context(),
        )
        .unwrap();
        assert!(
            with_comment
                .text("PublicKey")
                .unwrap()
                .ends_with(" ops@anz Updated(YYYYMMDD)=20261121")
        );
    }

    #[test]
    fn a_key_the_secret_already_holds_keeps_its_date_and_comment_so_reimport_is_a_no_op() {
        let first = build_secret(&row([ED25519, "", "", ""]), None, &context()).unwrap();
        let later = BuildContext {
            role_arn: ROLE,
            today: NaiveDate::from_ymd_opt(2027, 3, 1).unwrap(),
        };
        let again = build_secret(&row([ED25519, "", "", ""]), Some(&first), &later).unwrap();
        assert_eq!(again, first);
        assert_eq!(again.changed_keys(&first), Vec::<String>::new());

        // A second key added later gets the later date; the first keeps its own.
        let rotated = build_secret(
            &row(["ssh-ed25519 AAAANEW", ED25519, "", ""]),
            Some(&first),
            &later,
        )
        .unwrap();
        assert_eq!(
            rotated.text("PublicKey").unwrap(),
            format!(
                "ssh-ed25519 AAAANEW anz-bank Updated(YYYYMMDD)=20270301,{ED25519} anz-bank Updated(YYYYMMDD)=20261121"
            )
        );
        assert_eq!(rotated.changed_keys(&first), ["PublicKey"]);
    }

    #[test]
    fn a_date_written_in_the_cell_wins_over_the_stored_one() {
        let first = build_secret(&row([ED25519, "", "", ""]), None, &context()).unwrap();
        let redated = build_secret(
            &row([
                &format!("{ED25519} anz-bank Updated(YYYYMMDD)=20260101"),
                "",
                "",
                "",
            ]),
            Some(&first),
            &context(),
        )
        .unwrap();
        assert!(redated.text("PublicKey").unwrap().ends_with("=20260101"));
    }

    #[test]
    fn keys_the_sheet_does_not_manage_are_kept() {
        let existing = SecretFields::parse(
            r#"{"Name":"Old","Password":"hunter2","HomeDirectoryDetails":[{"Entry":"/","Target":"/sftp-landing/payments/anz-bank"}]}"#,
        )
        .unwrap();
        let secret =
            build_secret(&row([ED25519, "", "", ""]), Some(&existing), &context()).unwrap();
        assert_eq!(secret.text("Password"), Some("hunter2"));
        assert_eq!(secret.text("Name"), Some("ANZ Bank"));
        assert!(
            secret
                .to_secret_string()
                .ends_with(r#""IPv6":"","Password":"hunter2"}"#)
        );
        // The same mapping as an inline array is no change.
        let changed = secret.changed_keys(&existing);
        assert!(
            !changed.contains(&"HomeDirectoryDetails".to_owned()),
            "{changed:?}"
        );
        assert_eq!(changed[0], "Name");
        assert!(!changed.contains(&"Password".to_owned()));
    }

    #[test]
    fn cells_that_cannot_become_a_key_entry_are_row_problems_without_key_material() {
        let problems = build_secret(
            &row([
                "AAAAC3NzaC1lZDI1NTE5SECRET",
                "ssh-ed25519 AAAASECRET John Smith",
                "ssh-ed25519 AAAASECRET a,ssh-rsa AAAB b",
                "",
            ]),
            None,
            &context(),
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3);
        assert!(problems[0].starts_with("SSHKey 1: is not an OpenSSH public key"));
        assert!(problems[1].starts_with("SSHKey 2: the comment has spaces"));
        assert!(problems[2].starts_with("SSHKey 3: holds a comma"));
        assert!(problems.iter().all(|p| !p.contains("SECRET")));
    }

    #[test]
    fn usernames_follow_the_identity_provider_rules() {
        for ok in [
            "anz-bank",
            "a.b@c",
            "SFTPSuperAdmin",
            "abc",
            &"x".repeat(100),
        ] {
            assert_eq!(check_username(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "ab",
            "-abc",
            ".abc",
            "@abc",
            "anz bank",
            "anz/bank",
            "añz",
            &"x".repeat(101),
        ] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
        let mut r = row(["", "", "", ""]);
        r.username = "bad name\n".into();
        r.source_system_name = String::new();
        let problems = build_secret(&r, None, &context()).unwrap_err();
        assert!(problems[0].contains("\"bad name\\n\""), "{problems:?}");
        assert!(problems[1].contains("SourceSystemName is empty"));
    }

    #[test]
    fn tag_values_drop_characters_tags_cannot_hold() {
        assert_eq!(tag_value("Citi (Custody) & Co."), "Citi Custody  Co.");
        assert_eq!(tag_value("Zürich Bank\tAG"), "Zürich Bank AG");
        assert_eq!(tag_value(&"x".repeat(300)).len(), 256);
    }

    #[test]
    fn fingerprints_name_keys_and_skip_what_does_not_decode() {
        assert_eq!(
            keys::fingerprints(&format!(
                "{ED25519} c Updated(YYYYMMDD)=20260101, ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202"
            )),
            [Some(ED25519_FINGERPRINT.to_owned()), None]
        );
    }
}
