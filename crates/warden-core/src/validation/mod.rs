//! The validation rules of DESIGN.md section 3, run over one user's secret.
//!
//! Every problem is a [`Finding`] naming its rule, what is wrong and (via [`Finding::fix`]) how to
//! fix it. Nothing here panics on any input: malformed secrets are findings too.

mod codes;
mod contact;
mod home;
mod network;
mod public_keys;
mod secret;

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::admins::AdminDirectory;
use crate::config::Rules;
use crate::email;
use crate::suppression::Suppression;
use crate::text;
use crate::user::{Role, SecretKey, UserSecret};

pub use codes::Code;

/// A validation rule, numbered as in the seed (steps 2.4–2.11) and DESIGN.md section 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    MandatoryKeys,
    GroupAdmin,
    EmailDelimiter,
    EmailFormat,
    HomeDirectory,
    Role,
    IpRanges,
    PublicKeys,
    KeyAge,
}

impl Rule {
    pub const ALL: [Rule; 9] = [
        Rule::MandatoryKeys,
        Rule::GroupAdmin,
        Rule::EmailDelimiter,
        Rule::EmailFormat,
        Rule::HomeDirectory,
        Rule::Role,
        Rule::IpRanges,
        Rule::PublicKeys,
        Rule::KeyAge,
    ];

    /// The rule's number, 1 to 9.
    pub fn number(self) -> u8 {
        match self {
            Rule::MandatoryKeys => 1,
            Rule::GroupAdmin => 2,
            Rule::EmailDelimiter => 3,
            Rule::EmailFormat => 4,
            Rule::HomeDirectory => 5,
            Rule::Role => 6,
            Rule::IpRanges => 7,
            Rule::PublicKeys => 8,
            Rule::KeyAge => 9,
        }
    }

    /// The rule with this number.
    pub fn from_number(number: u8) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.number() == number)
    }

    /// A short lower-case title, e.g. "mandatory keys".
    pub fn title(self) -> &'static str {
        match self {
            Rule::MandatoryKeys => "mandatory keys",
            Rule::GroupAdmin => "group admin",
            Rule::EmailDelimiter => "email delimiter",
            Rule::EmailFormat => "email format",
            Rule::HomeDirectory => "home directory",
            Rule::Role => "role",
            Rule::IpRanges => "IP ranges",
            Rule::PublicKeys => "public keys",
            Rule::KeyAge => "key age",
        }
    }
}

/// As its number, so payloads and log lines use the seed's numbering.
impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = u8::deserialize(deserializer)?;
        Rule::from_number(number).ok_or_else(|| {
            serde::de::Error::custom(format!("no validation rule {number}; expected 1 to 9"))
        })
    }
}

/// One problem with one user's secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: Rule,
    /// Stable kebab-case identifier, e.g. `email-delimiter`.
    pub code: String,
    /// What is wrong and where; never key material or a password.
    pub detail: String,
}

impl Finding {
    pub fn new(code: Code, detail: impl Into<String>) -> Finding {
        Finding {
            rule: code.rule(),
            code: code.as_str().to_owned(),
            detail: detail.into(),
        }
    }

    /// How to fix it, from the code. A code this version does not know (a newer producer) gets
    /// generic advice rather than an error.
    pub fn fix(&self) -> String {
        match self.code.parse::<Code>() {
            Ok(code) => code.fix().to_owned(),
            Err(()) => format!(
                "Correct the secret as described so that it meets rule {} ({}).",
                self.rule.number(),
                self.rule.title()
            ),
        }
    }
}

/// A key due for rotation (rule 9). Names the key by fingerprint only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyNotice {
    /// `SHA256:…`
    pub fingerprint: String,
    /// e.g. `ssh-ed25519`
    pub algorithm: String,
    pub updated: NaiveDate,
    pub age_months: u32,
    /// `updated` + `refuse_after_months`: the deadline for a new key.
    pub refuse_after: NaiveDate,
}

/// The outcome of validating one user: compact enough to travel in a Step Functions payload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserReport {
    pub username: String,
    pub role: Role,
    /// Display `Name`, unsafe characters removed, length capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_admin: Option<String>,
    /// The well-formed addresses from `Email` that mail may go to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_emails: Vec<String>,
    /// Its well-formed addresses on the SES suppression list (never mailed; also a finding).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_contacts: Vec<Suppression>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_notices: Vec<KeyNotice>,
}

impl UserReport {
    /// No findings: the secret meets rules 1–8.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// The secret meets rules 1–8 apart from suppressed addresses: those are findings for the
    /// admin, but the key checks (rule 9) and the key notices go on, rerouted if need be.
    pub fn meets_rules(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.code == Code::EmailSuppressed.as_str())
    }
}

/// Caps that keep one report small whatever the secret holds (a 64 KiB `Email` could otherwise
/// yield thousands of findings and overflow the 256 KiB state payload).
const MAX_NAME_CHARS: usize = 200;
const MAX_GROUP_ADMIN_CHARS: usize = 128;
const MAX_CONTACT_EMAILS: usize = 50;
const MAX_FINDINGS_PER_CODE: usize = 5;

/// Validates one user's `SecretString` against rules 1–8 and, when those pass, works out key
/// expiry notices (rule 9). Never panics: a secret that is not JSON, a JSON array, wrong value
/// types, oversized or odd text all become findings.
pub fn validate_user(
    username: &str,
    secret_string: &str,
    admins: &AdminDirectory,
    rules: &Rules,
    today: NaiveDate,
) -> UserReport {
    let mut report = UserReport {
        username: username.to_owned(),
        role: Role::of(username),
        name: None,
        group_admin: None,
        contact_emails: Vec::new(),
        suppressed_contacts: Vec::new(),
        findings: Vec::new(),
        key_notices: Vec::new(),
    };
    let secret = match UserSecret::parse(secret_string) {
        Ok(secret) => secret,
        Err(error) => {
            report.findings.push(secret::unparsable(&error));
            return report;
        }
    };
    report.name = secret
        .text(SecretKey::Name)
        .map(|name| text::strip_unsafe(name, MAX_NAME_CHARS))
        .filter(|name| !name.is_empty());
    report.group_admin = secret
        .text(SecretKey::GroupAdmin)
        .map(|admin| text::truncate(admin, MAX_GROUP_ADMIN_CHARS));
    report.contact_emails = secret
        .text(SecretKey::Email)
        .map(email::well_formed_addresses)
        .unwrap_or_default();
    report.contact_emails.truncate(MAX_CONTACT_EMAILS);
    (report.contact_emails, report.suppressed_contacts) =
        admins.suppressed.partition(&report.contact_emails);

    let check = Check {
        role: report.role,
        secret: &secret,
        admins,
        rules,
        today,
    };
    let mut findings = Findings::default();
    secret::mandatory_keys(&check, &mut findings);
    secret::passwords(&check, &mut findings);
    secret::group_admin(&check, &mut findings);
    contact::delimiters(&check, &mut findings);
    contact::addresses(&check, &mut findings);
    home::home_directory(&check, &mut findings);
    secret::role(&check, &mut findings);
    network::ip_ranges(&check, &mut findings);
    let keys = public_keys::public_keys(&check, &mut findings);

    report.findings = findings.finish();
    if report.meets_rules() {
        report.key_notices = public_keys::key_notices(&keys, rules, today);
    }
    report
}

/// What every rule looks at.
struct Check<'a> {
    role: Role,
    secret: &'a UserSecret,
    admins: &'a AdminDirectory,
    rules: &'a Rules,
    today: NaiveDate,
}

/// Collects findings in rule order, keeping at most [`MAX_FINDINGS_PER_CODE`] of each code and
/// saying how many more there were.
#[derive(Default)]
struct Findings {
    kept: Vec<Finding>,
    counts: HashMap<Code, usize>,
}

impl Findings {
    fn push(&mut self, code: Code, detail: impl Into<String>) {
        let count = self.counts.entry(code).or_default();
        *count += 1;
        if *count <= MAX_FINDINGS_PER_CODE {
            self.kept.push(Finding::new(code, detail));
        }
    }

    fn finish(mut self) -> Vec<Finding> {
        let mut left_out: Vec<(Code, usize)> = self
            .counts
            .into_iter()
            .filter(|(_, count)| *count > MAX_FINDINGS_PER_CODE)
            .map(|(code, count)| (code, count - MAX_FINDINGS_PER_CODE))
            .collect();
        left_out.sort_by_key(|(code, _)| (code.rule(), code.as_str()));
        for (code, more) in left_out {
            self.kept.push(Finding::new(
                code,
                format!("and {more} more problems of this kind, not listed"),
            ));
        }
        self.kept.sort_by_key(|finding| finding.rule);
        self.kept
    }
}

#[cfg(test)]
mod tests;
