//! The decision: may this login proceed, and with which role, home folder, session policy and
//! keys. Every path that is not a clear grant is a denial naming its reason.

use std::fmt;
use std::net::IpAddr;

use chrono::NaiveDate;
use ipnet::IpNet;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::request::{LoginKind, LoginPolicy, LoginRequest, Password, Protocol};
use super::session_policy::session_policy;
use crate::config::Rules;
use crate::keys::{self, KeyParts};
use crate::password_hash::{self, PasswordHashProblem};
use crate::user::{Field, HomeDirectoryMapping, Role, SecretError, SecretKey, UserSecret};
use crate::{folder, iam, username};

/// Why a secret cannot be used for a login. Names keys, never values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretProblem {
    Unparsable(SecretError),
    /// A key that must be a string is something else.
    WrongType(SecretKey),
    /// `HomeDirectoryType` is missing or not `LOGICAL`.
    HomeDirectoryType,
    /// `HomeDirectoryDetails` is missing or not a list of mappings.
    HomeDirectoryDetails,
    /// No mapping, or more than one, for `Entry` `/`.
    NoSingleRootEntry,
    /// A `Target` that is relative, has `.`/`..`/empty segments, control characters, or
    /// characters a session policy would read as wildcards or variables (`*`, `?`, `$`).
    UnsafeTarget,
    /// The home folder is wider than the role may have: a user's lies at least three levels
    /// down (`/bucket/group/user`), a GroupAdmin's at least two (`/bucket/group`).
    HomeFolderTooBroad(Role),
    /// The home folder is outside the configured buckets.
    BucketNotAllowed,
    /// A mapping other than `/` points outside the home folder.
    TargetOutsideHome,
    /// The session policy for this folder would exceed Transfer's 2,048 characters.
    PolicyTooLong,
    RoleMissing,
    RoleMalformed,
    /// `Role` is not the configured Transfer role.
    RoleNotAllowed,
    /// Neither `IP` nor `IPv6` exists (one must, even if empty).
    NoIpKey,
    PasswordHash(PasswordHashProblem),
}

impl fmt::Display for SecretProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unparsable(e) => write!(f, "{e}"),
            Self::WrongType(key) => write!(f, "\"{key}\" is not a string"),
            Self::HomeDirectoryType => f.write_str("HomeDirectoryType is not LOGICAL"),
            Self::HomeDirectoryDetails => {
                f.write_str("HomeDirectoryDetails is missing or not a list of mappings")
            }
            Self::NoSingleRootEntry => {
                f.write_str("HomeDirectoryDetails does not map Entry \"/\" exactly once")
            }
            Self::UnsafeTarget => f.write_str("a HomeDirectoryDetails Target is not a safe folder"),
            Self::HomeFolderTooBroad(role) => {
                write!(f, "the home folder is too broad for a {role}")
            }
            Self::BucketNotAllowed => f.write_str("the home folder is outside the allowed buckets"),
            Self::TargetOutsideHome => {
                f.write_str("a HomeDirectoryDetails Target lies outside the home folder")
            }
            Self::PolicyTooLong => f.write_str("the session policy would be too long"),
            Self::RoleMissing => f.write_str("Role is missing"),
            Self::RoleMalformed => f.write_str("Role is not an IAM role ARN"),
            Self::RoleNotAllowed => f.write_str("Role is not the configured Transfer role"),
            Self::NoIpKey => f.write_str("neither IP nor IPv6 is present"),
            Self::PasswordHash(problem) => write!(f, "PasswordHash {problem}"),
        }
    }
}

/// Why a login is denied. `code()` is the stable name in the log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DenyReason {
    /// The event is not a login request; says what is missing, never a value.
    MalformedRequest(&'static str),
    InvalidUsername,
    ProtocolNotAllowed,
    /// The request names a Transfer server this identity provider does not serve.
    ServerNotAllowed,
    /// An FTP or FTPS login without a password: only SFTP has a key step after this answer.
    NoPassword,
    UnknownUser,
    /// Secrets Manager failed (throttled, denied, timed out …); the caller logs the error name.
    SecretUnreadable,
    MalformedSecret(SecretProblem),
    /// The user has CIDRs but the request carries no usable source IP.
    SourceIpMissing,
    SourceIpNotAllowed,
    /// A password login for a user with neither `PasswordHash` nor `Password`.
    NoPasswordConfigured,
    WrongPassword,
    /// A key login for a user without a usable key (none, placeholder only, expired, invalid).
    NoUsableKey,
    /// The session policy for the user's folder would exceed Transfer's 2,048 characters.
    PolicyTooLong,
}

impl DenyReason {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedRequest(_) => "malformed-request",
            Self::InvalidUsername => "invalid-username",
            Self::ProtocolNotAllowed => "protocol-not-allowed",
            Self::ServerNotAllowed => "server-not-allowed",
            Self::NoPassword => "no-password",
            Self::UnknownUser => "unknown-user",
            Self::SecretUnreadable => "secret-unreadable",
            Self::MalformedSecret(_) => "malformed-secret",
            Self::SourceIpMissing => "source-ip-missing",
            Self::SourceIpNotAllowed => "source-ip-not-allowed",
            Self::NoPasswordConfigured => "no-password-configured",
            Self::WrongPassword => "wrong-password",
            Self::NoUsableKey => "no-usable-key",
            Self::PolicyTooLong => "policy-too-long",
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MalformedRequest(what) => write!(f, "malformed request: {what}"),
            Self::InvalidUsername => {
                f.write_str("the username is not 3-100 characters of A-Za-z0-9_-.@")
            }
            Self::ProtocolNotAllowed => f.write_str("the protocol is not allowed"),
            Self::ServerNotAllowed => f.write_str("the Transfer server is not one this serves"),
            Self::NoPassword => {
                f.write_str("an FTP or FTPS login without a password (keys are for SFTP only)")
            }
            Self::UnknownUser => f.write_str("no such user"),
            Self::SecretUnreadable => f.write_str("the user's secret could not be read"),
            Self::MalformedSecret(problem) => write!(f, "the user's secret is unusable: {problem}"),
            Self::SourceIpMissing => {
                f.write_str("the user has CIDRs but the source IP is missing or invalid")
            }
            Self::SourceIpNotAllowed => f.write_str("the source IP is outside the user's CIDRs"),
            Self::NoPasswordConfigured => {
                f.write_str("password login for a user without a password")
            }
            Self::WrongPassword => f.write_str("wrong password"),
            Self::NoUsableKey => f.write_str("key login for a user without a usable key"),
            Self::PolicyTooLong => f.write_str(
                "the session policy for the user's folder would be longer than Transfer accepts",
            ),
        }
    }
}

/// What Transfer receives. `{}` (every field absent) is a denial.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IdpResponse {
    #[serde(rename = "Role", skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(rename = "HomeDirectoryType", skip_serializing_if = "Option::is_none")]
    pub home_directory_type: Option<&'static str>,
    /// The mappings as a JSON **string**, as Transfer requires.
    #[serde(
        rename = "HomeDirectoryDetails",
        skip_serializing_if = "Option::is_none"
    )]
    pub home_directory_details: Option<String>,
    /// A session policy (JSON string) scoping S3 access to the user's folder.
    #[serde(rename = "Policy", skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// `TYPE BASE64` of each usable key; key logins only.
    #[serde(rename = "PublicKeys", skip_serializing_if = "Option::is_none")]
    pub public_keys: Option<Vec<String>>,
}

impl IdpResponse {
    /// The denial: an empty object.
    pub fn denied() -> Self {
        Self::default()
    }

    pub fn is_granted(&self) -> bool {
        self.role.is_some()
    }
}

/// A granted login: the response, and what the log line says about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub response: IdpResponse,
    pub role: Role,
    /// The user's home folder (the `/` mapping's target), normalised.
    pub home_folder: String,
    /// Keys returned (key logins).
    pub keys_returned: usize,
    /// Real keys left out because they are past the age limit.
    pub keys_expired: usize,
}

/// The outcome of one login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Granted(Grant),
    Denied(DenyReason),
}

impl Decision {
    pub fn response(&self) -> IdpResponse {
        match self {
            Decision::Granted(grant) => grant.response.clone(),
            Decision::Denied(_) => IdpResponse::denied(),
        }
    }

    pub fn deny_reason(&self) -> Option<&DenyReason> {
        match self {
            Decision::Granted(_) => None,
            Decision::Denied(reason) => Some(reason),
        }
    }
}

/// The checks that need no lookup: the server, the username's syntax, the protocol, and that a
/// login without a password is an SFTP one (FTP and FTPS have no key step after this answer: a
/// grant would let the client in with no credential at all). A login that fails here must not
/// cost a Secrets Manager call.
pub fn screen(request: &LoginRequest, policy: &LoginPolicy) -> Result<(), DenyReason> {
    if !policy.servers.is_empty() && !policy.servers.contains(&request.server_id) {
        return Err(DenyReason::ServerNotAllowed);
    }
    if !username::is_valid(&request.username) {
        return Err(DenyReason::InvalidUsername);
    }
    let protocol = match Protocol::parse(&request.protocol) {
        Some(protocol) if policy.protocols.contains(&protocol) => protocol,
        _ => return Err(DenyReason::ProtocolNotAllowed),
    };
    if request.kind() == LoginKind::PublicKey && protocol != Protocol::Sftp {
        return Err(DenyReason::NoPassword);
    }
    Ok(())
}

/// Decides one login from the user's `SecretString` (`None`: no such secret). `today` (UTC)
/// is what key ages are measured against.
///
/// Every password login that passes [`screen`] costs exactly one Argon2 verification, whatever
/// happens: against the user's `PasswordHash`, or against a fixed dummy hash when the user is
/// unknown, has no hash, or is denied before its password is checked. So the time an answer
/// takes does not tell an unknown user from a known one.
pub fn decide(
    request: &LoginRequest,
    secret: Option<&str>,
    policy: &LoginPolicy,
    today: NaiveDate,
) -> Decision {
    if let Err(reason) = screen(request, policy) {
        return Decision::Denied(reason);
    }
    let mut verified = false;
    let decision = match grant(request, secret, policy, today, &mut verified) {
        Ok(grant) => Decision::Granted(grant),
        Err(reason) => Decision::Denied(reason),
    };
    if request.kind() == LoginKind::Password && !verified {
        let given = request.password.as_ref().map_or("", Password::expose);
        password_hash::verify_dummy(given);
    }
    decision
}

fn grant(
    request: &LoginRequest,
    secret: Option<&str>,
    policy: &LoginPolicy,
    today: NaiveDate,
    verified: &mut bool,
) -> Result<Grant, DenyReason> {
    let secret = secret.ok_or(DenyReason::UnknownUser)?;
    let secret = UserSecret::parse(secret)
        .map_err(|e| DenyReason::MalformedSecret(SecretProblem::Unparsable(e)))?;
    let role = Role::of(&request.username);
    let home = home(&secret, role, policy).map_err(DenyReason::MalformedSecret)?;
    let role_arn = role_arn(&secret, policy).map_err(DenyReason::MalformedSecret)?;
    let session_policy = if policy.session_policy {
        let extra = &policy.session_policy_extra_actions;
        Some(
            session_policy(&home.folder, &role_arn, extra).map_err(|p| match p {
                SecretProblem::PolicyTooLong => DenyReason::PolicyTooLong,
                other => DenyReason::MalformedSecret(other),
            })?,
        )
    } else {
        None
    };
    check_source_ip(&secret, request.source_ip.as_deref(), &policy.rules)?;
    let (public_keys, keys_expired) = match request.kind() {
        LoginKind::Password => {
            check_password(&secret, request.password.as_ref(), verified)?;
            (None, 0)
        }
        LoginKind::PublicKey => {
            let keys = usable_keys(&secret, policy, today);
            if keys.keys.is_empty() {
                return Err(DenyReason::NoUsableKey);
            }
            (Some(keys.keys), keys.expired)
        }
    };
    Ok(Grant {
        keys_returned: public_keys.as_ref().map_or(0, Vec::len),
        keys_expired,
        role,
        home_folder: home.folder,
        response: IdpResponse {
            role: Some(role_arn),
            home_directory_type: Some("LOGICAL"),
            home_directory_details: Some(home.details),
            policy: session_policy,
            public_keys,
        },
    })
}

struct Home {
    /// The `/` target, normalised.
    folder: String,
    /// Every mapping, targets normalised, as a JSON string.
    details: String,
}

/// `HomeDirectoryType` is `LOGICAL`; every target is a safe folder; `/` is mapped once, to a
/// folder no wider than the role allows, in an allowed bucket; every other mapping points into
/// that folder (without a session policy, the role alone would bound where it could point).
fn home(secret: &UserSecret, role: Role, policy: &LoginPolicy) -> Result<Home, SecretProblem> {
    match secret.field(SecretKey::HomeDirectoryType) {
        Field::Text("LOGICAL") => {}
        Field::Other(_) => return Err(SecretProblem::WrongType(SecretKey::HomeDirectoryType)),
        _ => return Err(SecretProblem::HomeDirectoryType),
    }
    let mut mappings = secret
        .home_directory_mappings()
        .map_err(|_| SecretProblem::HomeDirectoryDetails)?;
    if mappings.is_empty() {
        return Err(SecretProblem::NoSingleRootEntry);
    }
    for mapping in &mut mappings {
        if folder::check(&mapping.target).is_err() {
            return Err(SecretProblem::UnsafeTarget);
        }
        mapping.target = folder::normalise(&mapping.target);
    }
    let roots: Vec<&HomeDirectoryMapping> = mappings.iter().filter(|m| m.entry == "/").collect();
    let [root] = roots.as_slice() else {
        return Err(SecretProblem::NoSingleRootEntry);
    };
    let folder = root.target.clone();
    if mappings
        .iter()
        .any(|m| !folder::is_inside_or_equal(&m.target, &folder))
    {
        return Err(SecretProblem::TargetOutsideHome);
    }
    let min_depth = match role {
        Role::User => 3,
        Role::GroupAdmin => 2,
        Role::SuperAdmin => 1,
    };
    if folder::segments(&folder).len() < min_depth {
        return Err(SecretProblem::HomeFolderTooBroad(role));
    }
    if !policy.buckets.is_empty() && !policy.buckets.iter().any(|b| b == folder::bucket(&folder)) {
        return Err(SecretProblem::BucketNotAllowed);
    }
    let details =
        serde_json::to_string(&mappings).map_err(|_| SecretProblem::HomeDirectoryDetails)?;
    Ok(Home { folder, details })
}

fn role_arn(secret: &UserSecret, policy: &LoginPolicy) -> Result<String, SecretProblem> {
    let arn = match secret.field(SecretKey::Role) {
        Field::Text(arn) => arn,
        Field::Missing => return Err(SecretProblem::RoleMissing),
        Field::Other(_) => return Err(SecretProblem::WrongType(SecretKey::Role)),
    };
    if !iam::is_role_arn(arn) {
        return Err(SecretProblem::RoleMalformed);
    }
    match &policy.rules.transfer_role_arn {
        Some(allowed) if allowed != arn => Err(SecretProblem::RoleNotAllowed),
        _ => Ok(arn.to_owned()),
    }
}

/// When the user has any CIDR entry in `IP` or `IPv6`, the source must lie in one of the valid
/// ones. Entries that are invalid or too broad never match, so a user whose entries are all
/// unusable cannot log in from anywhere (rather than from everywhere).
fn check_source_ip(
    secret: &UserSecret,
    source_ip: Option<&str>,
    rules: &Rules,
) -> Result<(), DenyReason> {
    let mut has_entries = false;
    for key in [SecretKey::Ip, SecretKey::Ipv6] {
        match secret.field(key) {
            Field::Text(value) => has_entries |= !value.trim().is_empty(),
            Field::Missing => {}
            Field::Other(_) => {
                return Err(DenyReason::MalformedSecret(SecretProblem::WrongType(key)));
            }
        }
    }
    if !secret.has(SecretKey::Ip) && !secret.has(SecretKey::Ipv6) {
        return Err(DenyReason::MalformedSecret(SecretProblem::NoIpKey));
    }
    if !has_entries {
        return Ok(());
    }
    let source = source_ip
        .and_then(parse_source_ip)
        .ok_or(DenyReason::SourceIpMissing)?;
    if secret
        .allowed_networks(rules)
        .iter()
        .any(|n: &IpNet| n.contains(&source))
    {
        Ok(())
    } else {
        Err(DenyReason::SourceIpNotAllowed)
    }
}

/// An IPv4 or IPv6 address; an IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) counts as the
/// IPv4 address it carries.
pub fn parse_source_ip(text: &str) -> Option<IpAddr> {
    let address: IpAddr = text.trim().parse().ok()?;
    Some(match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        IpAddr::V4(_) => address,
    })
}

/// `PasswordHash` when present (Argon2id), else `Password` compared in constant time.
/// Sets `verified` when an Argon2 verification ran (the caller makes up for it when none did).
fn check_password(
    secret: &UserSecret,
    given: Option<&Password>,
    verified: &mut bool,
) -> Result<(), DenyReason> {
    let given = given.map(Password::expose).unwrap_or_default();
    match secret.field(SecretKey::PasswordHash) {
        Field::Text(text) => {
            let hash = password_hash::parse(text)
                .map_err(|p| DenyReason::MalformedSecret(SecretProblem::PasswordHash(p)))?;
            *verified = true;
            return match password_hash::verify(given, &hash) {
                Ok(true) => Ok(()),
                Ok(false) => Err(DenyReason::WrongPassword),
                Err(problem) => Err(DenyReason::MalformedSecret(SecretProblem::PasswordHash(
                    problem,
                ))),
            };
        }
        Field::Other(_) => {
            return Err(DenyReason::MalformedSecret(SecretProblem::WrongType(
                SecretKey::PasswordHash,
            )));
        }
        Field::Missing => {}
    }
    match secret.field(SecretKey::Password) {
        Field::Text(stored) if !stored.is_empty() => {
            if constant_time_eq(given, stored) {
                Ok(())
            } else {
                Err(DenyReason::WrongPassword)
            }
        }
        Field::Other(_) => Err(DenyReason::MalformedSecret(SecretProblem::WrongType(
            SecretKey::Password,
        ))),
        _ => Err(DenyReason::NoPasswordConfigured),
    }
}

/// Compares SHA-256 digests in constant time, so neither the content nor the length of the
/// stored password shows in the time taken.
fn constant_time_eq(given: &str, stored: &str) -> bool {
    let given = Sha256::digest(given.as_bytes());
    let stored = Sha256::digest(stored.as_bytes());
    given.as_slice().ct_eq(stored.as_slice()).into()
}

/// The keys a key login may use, and how many real keys were too old.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsableKeys {
    /// `TYPE BASE64`, in the secret's order, without duplicates.
    pub keys: Vec<String>,
    pub expired: usize,
}

/// The `PublicKey` entries Transfer may accept: four parts, not the placeholder, an `Updated`
/// date that is real, not in the future and (when the limit is on) not more than
/// `key_max_age_months` ago, and a key of an allowed algorithm that decodes.
pub fn usable_keys(secret: &UserSecret, policy: &LoginPolicy, today: NaiveDate) -> UsableKeys {
    let mut usable = UsableKeys::default();
    for entry in secret.public_key_entries() {
        let Ok(parts) = KeyParts::split(entry) else {
            continue;
        };
        if parts.is_placeholder() || parts.decode(policy.rules.min_rsa_bits).is_err() {
            continue;
        }
        let Ok(updated) = parts.updated() else {
            continue;
        };
        if updated > today {
            continue;
        }
        if let Some(months) = policy.key_max_age_months {
            let expired = keys::add_months(updated, months).is_none_or(|last_day| today > last_day);
            if expired {
                usable.expired += 1;
                continue;
            }
        }
        let key = parts.to_login_key();
        if !usable.keys.contains(&key) {
            usable.keys.push(key);
        }
    }
    usable
}
