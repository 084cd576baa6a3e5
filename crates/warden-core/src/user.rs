//! The SFTP user: its role, its secret's name, and a tolerant view of its `SecretString`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::folder;

/// What a username is allowed to administer, read from the name itself (DESIGN.md section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    SuperAdmin,
    GroupAdmin,
    User,
}

impl Role {
    /// `superadmin` anywhere in the name (any case) → SuperAdmin; else `admin` → GroupAdmin;
    /// else User.
    pub fn of(username: &str) -> Role {
        let lower = username.to_lowercase();
        if lower.contains("superadmin") {
            Role::SuperAdmin
        } else if lower.contains("admin") {
            Role::GroupAdmin
        } else {
            Role::User
        }
    }

    /// Whether this role may be named as someone's `GroupAdmin`.
    pub fn is_admin(self) -> bool {
        self != Role::User
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::SuperAdmin => "SuperAdmin",
            Role::GroupAdmin => "GroupAdmin",
            Role::User => "User",
        })
    }
}

/// The seed's stand-in for users without a key (`ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202`):
/// its first three parts. Accepted by validation, never a usable key.
pub const PLACEHOLDER_KEY: &str = "ssh-rsa 1 2@3";

/// The username of the secret `id` (a name or an ARN) under `prefix`, e.g. `SFTP/`.
///
/// Secrets Manager ARNs end in `-` and six random characters, which are not part of the name.
/// Returns `None` for anything outside the prefix, an empty username, or one in a sub-folder
/// (`SFTP/archive/x` is not a user).
pub fn username_from_secret_id(prefix: &str, id: &str) -> Option<String> {
    let name = secret_name(id)?;
    let prefix = prefix.trim_end_matches('/');
    let username = name.strip_prefix(prefix)?.strip_prefix('/')?;
    (!username.is_empty() && !username.contains('/')).then(|| username.to_owned())
}

/// The secret's name from a name or an ARN (whose name carries a `-` and 6 random characters);
/// `None` for an ARN that is not a secret's.
pub fn secret_name(id: &str) -> Option<&str> {
    match id.strip_prefix("arn:") {
        Some(_) => strip_arn_suffix(id.split_once(":secret:")?.1),
        None => Some(id),
    }
}

fn strip_arn_suffix(name_and_suffix: &str) -> Option<&str> {
    const SUFFIX_LEN: usize = 6;
    let (name, suffix) = name_and_suffix.rsplit_once('-')?;
    (suffix.len() == SUFFIX_LEN && suffix.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(name)
}

/// The keys of the user secret (DESIGN.md section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretKey {
    Name,
    Email,
    PublicKey,
    Password,
    PasswordHash,
    HomeDirectoryType,
    HomeDirectoryDetails,
    GroupAdmin,
    Role,
    Ip,
    Ipv6,
}

impl SecretKey {
    /// Keys every user secret must have (rule 1); `IP`/`IPv6` are checked as a pair.
    pub const MANDATORY: [SecretKey; 7] = [
        SecretKey::Name,
        SecretKey::Email,
        SecretKey::PublicKey,
        SecretKey::HomeDirectoryType,
        SecretKey::HomeDirectoryDetails,
        SecretKey::GroupAdmin,
        SecretKey::Role,
    ];

    /// The keys that describe the user, in DESIGN.md section 2's order: everything but the
    /// credentials (`Password`, `PasswordHash`). The onboarding sheet has a column for each.
    pub const DESCRIPTIVE: [SecretKey; 9] = [
        SecretKey::Name,
        SecretKey::Email,
        SecretKey::PublicKey,
        SecretKey::HomeDirectoryType,
        SecretKey::HomeDirectoryDetails,
        SecretKey::GroupAdmin,
        SecretKey::Role,
        SecretKey::Ip,
        SecretKey::Ipv6,
    ];

    /// The key as spelled in the JSON object.
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKey::Name => "Name",
            SecretKey::Email => "Email",
            SecretKey::PublicKey => "PublicKey",
            SecretKey::Password => "Password",
            SecretKey::PasswordHash => "PasswordHash",
            SecretKey::HomeDirectoryType => "HomeDirectoryType",
            SecretKey::HomeDirectoryDetails => "HomeDirectoryDetails",
            SecretKey::GroupAdmin => "GroupAdmin",
            SecretKey::Role => "Role",
            SecretKey::Ip => "IP",
            SecretKey::Ipv6 => "IPv6",
        }
    }
}

impl fmt::Display for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON type of a value, for saying what was found instead of what was expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl JsonKind {
    pub fn of(value: &Value) -> JsonKind {
        match value {
            Value::Null => JsonKind::Null,
            Value::Bool(_) => JsonKind::Bool,
            Value::Number(_) => JsonKind::Number,
            Value::String(_) => JsonKind::String,
            Value::Array(_) => JsonKind::Array,
            Value::Object(_) => JsonKind::Object,
        }
    }
}

impl fmt::Display for JsonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonKind::Null => "null",
            JsonKind::Bool => "true/false",
            JsonKind::Number => "a number",
            JsonKind::String => "a string",
            JsonKind::Array => "a JSON array",
            JsonKind::Object => "a JSON object",
        })
    }
}

/// Why a `SecretString` is not a user secret at all. Carries no part of the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret is not valid JSON (syntax error at line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("the secret is {found}, not a JSON object")]
    NotAnObject { found: JsonKind },
}

/// One key of the secret as found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field<'a> {
    Missing,
    Text(&'a str),
    /// Present, but not a string.
    Other(JsonKind),
}

/// One `HomeDirectoryDetails` mapping, serialised as Transfer expects it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeDirectoryMapping {
    #[serde(rename = "Entry")]
    pub entry: String,
    #[serde(rename = "Target")]
    pub target: String,
}

/// Why `HomeDirectoryDetails` could not be read as a list of mappings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HomeDirectoryError {
    #[error("HomeDirectoryDetails is missing")]
    Missing,
    #[error("HomeDirectoryDetails is {0}; expected a list of mappings or a string holding one")]
    WrongType(JsonKind),
    #[error("HomeDirectoryDetails is a string but not valid JSON")]
    NotJson,
    #[error("HomeDirectoryDetails holds {0}; expected a list of mappings")]
    NotAList(JsonKind),
    #[error("HomeDirectoryDetails item #{0} is not an object with string \"Entry\" and \"Target\"")]
    BadMapping(usize),
}

/// A parsed, tolerant view of a user's `SecretString`: a JSON object whose values may have any
/// type. Accessors say what is there; deciding whether that is acceptable is validation's job.
///
/// `Debug` shows only which keys exist, so passwords, hashes and keys cannot leak into logs.
#[derive(Clone, PartialEq)]
pub struct UserSecret {
    fields: Map<String, Value>,
}

impl UserSecret {
    /// Parses a `SecretString`. Errors say where the JSON breaks, never what it contains.
    pub fn parse(secret_string: &str) -> Result<UserSecret, SecretError> {
        match serde_json::from_str::<Value>(secret_string) {
            Ok(Value::Object(fields)) => Ok(UserSecret { fields }),
            Ok(other) => Err(SecretError::NotAnObject {
                found: JsonKind::of(&other),
            }),
            Err(e) => Err(SecretError::NotJson {
                line: e.line(),
                column: e.column(),
            }),
        }
    }

    /// Whether the key exists, whatever its value.
    pub fn has(&self, key: SecretKey) -> bool {
        self.fields.contains_key(key.as_str())
    }

    /// The key as found.
    pub fn field(&self, key: SecretKey) -> Field<'_> {
        match self.fields.get(key.as_str()) {
            None => Field::Missing,
            Some(Value::String(s)) => Field::Text(s),
            Some(other) => Field::Other(JsonKind::of(other)),
        }
    }

    /// The key's value when it is a string.
    pub fn text(&self, key: SecretKey) -> Option<&str> {
        match self.field(key) {
            Field::Text(s) => Some(s),
            Field::Missing | Field::Other(_) => None,
        }
    }

    /// The raw JSON value of a key.
    pub fn value(&self, key: SecretKey) -> Option<&Value> {
        self.fields.get(key.as_str())
    }

    /// Names of keys present in the secret that differ from `key` only in letter case, e.g.
    /// `email` for `Email`: worth mentioning when `key` is missing.
    pub fn near_misses(&self, key: SecretKey) -> Vec<&str> {
        self.fields
            .keys()
            .filter(|k| k.as_str() != key.as_str() && k.eq_ignore_ascii_case(key.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// The password for password logins, if any. Compare it in constant time; never log it.
    pub fn password(&self) -> Option<&str> {
        self.text(SecretKey::Password)
    }

    /// The `PublicKey` entries (comma-separated), trimmed, empty ones dropped.
    pub fn public_key_entries(&self) -> Vec<&str> {
        self.text(SecretKey::PublicKey)
            .map(|value| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `HomeDirectoryDetails` as mappings, whether stored as a JSON string or an inline array.
    pub fn home_directory_mappings(&self) -> Result<Vec<HomeDirectoryMapping>, HomeDirectoryError> {
        let parsed;
        let list = match self.value(SecretKey::HomeDirectoryDetails) {
            None => return Err(HomeDirectoryError::Missing),
            Some(Value::Array(items)) => items,
            Some(Value::String(s)) => {
                parsed =
                    serde_json::from_str::<Value>(s).map_err(|_| HomeDirectoryError::NotJson)?;
                match &parsed {
                    Value::Array(items) => items,
                    other => return Err(HomeDirectoryError::NotAList(JsonKind::of(other))),
                }
            }
            Some(other) => return Err(HomeDirectoryError::WrongType(JsonKind::of(other))),
        };
        list.iter()
            .enumerate()
            .map(|(i, item)| {
                let text = |key: &str| item.get(key).and_then(Value::as_str).map(str::to_owned);
                match (text("Entry"), text("Target")) {
                    (Some(entry), Some(target)) => Ok(HomeDirectoryMapping { entry, target }),
                    _ => Err(HomeDirectoryError::BadMapping(i + 1)),
                }
            })
            .collect()
    }

    /// The normalised folder of the `/` mapping (`/bucket/group`), when there is a usable one.
    pub fn home_folder(&self) -> Option<String> {
        let mappings = self.home_directory_mappings().ok()?;
        let root = mappings.iter().find(|m| m.entry == "/")?;
        folder::check(&root.target).ok()?;
        Some(folder::normalise(&root.target))
    }

    /// The CIDRs of `IP` and `IPv6` that may be allowed to connect: valid, of the key's family,
    /// not broader than `rules` permit; normalised (host bits cleared) and deduplicated. What the
    /// allow-list and the identity provider use; the rest is reported by rule 7.
    pub fn allowed_networks(&self, rules: &crate::Rules) -> Vec<ipnet::IpNet> {
        let mut networks: Vec<ipnet::IpNet> = [
            (SecretKey::Ip, crate::cidr::Family::V4),
            (SecretKey::Ipv6, crate::cidr::Family::V6),
        ]
        .into_iter()
        .filter_map(|(key, family)| self.text(key).map(|value| (value, family)))
        .flat_map(|(value, family)| crate::cidr::parse_list(value, family))
        .filter_map(|entry| entry.network())
        .filter(|network| !crate::cidr::is_too_broad(network, rules))
        .collect();
        networks.sort();
        networks.dedup();
        networks
    }
}

impl fmt::Debug for UserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserSecret")
            .field("keys", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_superadmin_name_in_any_case_is_a_super_admin() {
        assert_eq!(Role::of("SFTPSuperAdmin"), Role::SuperAdmin);
        assert_eq!(Role::of("ops-SUPERADMIN"), Role::SuperAdmin);
    }

    #[test]
    fn an_admin_name_in_any_case_is_a_group_admin() {
        assert_eq!(Role::of("SFTPGroupAdmin"), Role::GroupAdmin);
        assert_eq!(Role::of("groupa-ADMIN"), Role::GroupAdmin);
    }

    #[test]
    fn any_other_name_is_a_user() {
        assert_eq!(Role::of("bank1"), Role::User);
        assert_eq!(Role::of("adm1n"), Role::User);
    }

    #[test]
    fn roles_serialise_by_name() {
        assert_eq!(
            serde_json::to_string(&Role::GroupAdmin).unwrap(),
            "\"GroupAdmin\""
        );
        assert_eq!(
            serde_json::from_str::<Role>("\"SuperAdmin\"").unwrap(),
            Role::SuperAdmin
        );
    }

    #[test]
    fn a_secret_name_under_the_prefix_gives_the_username() {
        assert_eq!(
            username_from_secret_id("SFTP/", "SFTP/bank1").as_deref(),
            Some("bank1")
        );
        assert_eq!(
            username_from_secret_id("SFTP", "SFTP/bank1").as_deref(),
            Some("bank1")
        );
    }

    #[test]
    fn a_secret_arn_loses_its_random_suffix() {
        let arn = "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:SFTP/bank1-AbC123";
        assert_eq!(
            username_from_secret_id("SFTP/", arn).as_deref(),
            Some("bank1")
        );
        let dashed =
            "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:SFTP/bank-one-x1Y2z3";
        assert_eq!(
            username_from_secret_id("SFTP/", dashed).as_deref(),
            Some("bank-one")
        );
    }

    #[test]
    fn a_secret_outside_the_prefix_is_not_a_user() {
        assert_eq!(username_from_secret_id("SFTP/", "OTHER/bank1"), None);
        assert_eq!(username_from_secret_id("SFTP/", "SFTPbank1"), None);
        assert_eq!(username_from_secret_id("SFTP/", "sftp/bank1"), None);
        assert_eq!(username_from_secret_id("SFTP/", "SFTP/"), None);
        assert_eq!(username_from_secret_id("SFTP/", "SFTP/archive/bank1"), None);
        assert_eq!(
            username_from_secret_id(
                "SFTP/",
                "arn:aws:secretsmanager:ap-southeast-2:123456789012:secret:OTHER/x-AbC123"
            ),
            None
        );
        assert_eq!(
            username_from_secret_id("SFTP/", "arn:aws:secretsmanager:nothing"),
            None
        );
    }

    #[test]
    fn parsing_reports_where_the_json_breaks_without_its_content() {
        let err = UserSecret::parse("{\"Password\": \"hunter2\"").unwrap_err();
        assert!(matches!(err, SecretError::NotJson { line: 1, .. }));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn parsing_a_json_array_says_it_is_not_an_object() {
        let err = UserSecret::parse("[1,2]").unwrap_err();
        assert_eq!(
            err,
            SecretError::NotAnObject {
                found: JsonKind::Array
            }
        );
        assert_eq!(
            err.to_string(),
            "the secret is a JSON array, not a JSON object"
        );
    }

    #[test]
    fn fields_report_missing_text_and_other_types() {
        let secret = UserSecret::parse(r#"{"Name":"Bank","Email":5}"#).unwrap();
        assert_eq!(secret.field(SecretKey::Name), Field::Text("Bank"));
        assert_eq!(
            secret.field(SecretKey::Email),
            Field::Other(JsonKind::Number)
        );
        assert_eq!(secret.field(SecretKey::Role), Field::Missing);
    }

    #[test]
    fn debug_output_shows_key_names_but_no_values() {
        let secret = UserSecret::parse(
            r#"{"Password":"hunter2","PasswordHash":"$2b$xyz","PublicKey":"ssh-ed25519 AAAA"}"#,
        )
        .unwrap();
        let shown = format!("{secret:?}");
        assert!(shown.contains("Password"));
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("$2b$xyz"));
        assert!(!shown.contains("AAAA"));
    }

    #[test]
    fn home_directory_details_read_the_same_as_a_string_or_an_array() {
        let as_string = UserSecret::parse(
            r#"{"HomeDirectoryDetails":"[{\"Entry\": \"/\", \"Target\": \"/bucket/groupA/bank1\"}]"}"#,
        )
        .unwrap();
        let as_array = UserSecret::parse(
            r#"{"HomeDirectoryDetails":[{"Entry":"/","Target":"/bucket/groupA/bank1/"}]}"#,
        )
        .unwrap();
        let expected = vec![HomeDirectoryMapping {
            entry: "/".into(),
            target: "/bucket/groupA/bank1".into(),
        }];
        assert_eq!(as_string.home_directory_mappings().unwrap(), expected);
        assert_eq!(
            as_array.home_folder().as_deref(),
            Some("/bucket/groupA/bank1")
        );
    }

    #[test]
    fn home_directory_details_of_the_wrong_shape_are_errors() {
        let cases = [
            (r#"{}"#, HomeDirectoryError::Missing),
            (
                r#"{"HomeDirectoryDetails":5}"#,
                HomeDirectoryError::WrongType(JsonKind::Number),
            ),
            (
                r#"{"HomeDirectoryDetails":"[{"}"#,
                HomeDirectoryError::NotJson,
            ),
            (
                r#"{"HomeDirectoryDetails":"{}"}"#,
                HomeDirectoryError::NotAList(JsonKind::Object),
            ),
            (
                r#"{"HomeDirectoryDetails":[{"Entry":"/"}]}"#,
                HomeDirectoryError::BadMapping(1),
            ),
        ];
        for (secret, expected) in cases {
            let secret = UserSecret::parse(secret).unwrap();
            assert_eq!(secret.home_directory_mappings(), Err(expected));
        }
    }

    #[test]
    fn public_key_entries_are_split_on_commas_and_trimmed() {
        let secret =
            UserSecret::parse(r#"{"PublicKey":" ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202 , ,x "}"#)
                .unwrap();
        assert_eq!(
            secret.public_key_entries(),
            vec!["ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202", "x"]
        );
    }

    #[test]
    fn allowed_networks_keep_valid_narrow_cidrs_of_the_right_family_normalised() {
        let secret = UserSecret::parse(
            r#"{"IP":"10.0.0.1/24, 3.3.3.3/32, 2001:db8::/32, junk, 0.0.0.0/0, 3.3.3.3/32","IPv6":"2001:db8::/48, ::/0"}"#,
        )
        .unwrap();
        let networks: Vec<String> = secret
            .allowed_networks(&crate::Rules::default())
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(networks, vec!["3.3.3.3/32", "10.0.0.0/24", "2001:db8::/48"]);
    }
}
