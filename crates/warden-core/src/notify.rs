//! Who is told what (DESIGN.md section 4), as ready-to-send plain-text emails.
//!
//! Everything user-supplied (names, usernames, details) is rendered with unsafe characters removed
//! or escaped, so a newline in a secret can neither add a header nor fake a line. Subjects are
//! built from fixed text, usernames and dates only.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::admins::AdminDirectory;
use crate::keys;
use crate::text::{escape_unsafe, strip_unsafe};
use crate::user::Role;
use crate::validation::{KeyNotice, UserReport};

/// SES accepts at most 50 recipients (To + CC + BCC) per message.
pub const MAX_RECIPIENTS_PER_EMAIL: usize = 50;

/// Longest username or name shown in a subject.
const MAX_SUBJECT_TEXT_CHARS: usize = 100;
/// Longest user-supplied text shown on one body line.
const MAX_BODY_TEXT_CHARS: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EmailKind {
    /// A digest of validation findings, to admins.
    Findings,
    /// A key rotation request, to the external system, admins in CC.
    KeyExpiry,
    /// Prefix-list sync problems (overflow, refused or failed runs), to the SuperAdmins.
    PrefixLists,
    /// A run that failed, timed out or was aborted, to the SuperAdmins.
    RunFailed,
}

impl EmailKind {
    /// As in payloads and tags: `findings`, `keyExpiry`, `prefixLists`.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailKind::Findings => "findings",
            EmailKind::KeyExpiry => "keyExpiry",
            EmailKind::PrefixLists => "prefixLists",
            EmailKind::RunFailed => "runFailed",
        }
    }

    /// From [`EmailKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        [
            EmailKind::Findings,
            EmailKind::KeyExpiry,
            EmailKind::PrefixLists,
            EmailKind::RunFailed,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// The names of the `EmailTags` every message carries; SES's events return them.
pub mod tag {
    /// `secret-validation` or `prefix-list-sync`.
    pub const WORKFLOW: &str = "workflow";
    /// [`super::EmailKind::as_str`].
    pub const KIND: &str = "kind";
    /// The state machine whose run wrote the email (stored emails only).
    pub const STATE_MACHINE: &str = "stateMachine";
    /// The execution name of that run.
    pub const RUN: &str = "run";
    /// The email's number in the run (`emails/NNNNNN.json`).
    pub const EMAIL: &str = "email";
    /// Present on a key notice sent to the admins instead of the partner.
    pub const REROUTED: &str = "rerouted";
}

/// One message to send. `to` + `cc` never exceed [`MAX_RECIPIENTS_PER_EMAIL`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Email {
    pub kind: EmailKind,
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    pub subject: String,
    /// The plain-text part.
    pub body: String,
    /// The HTML part, when it is more than the text laid out as HTML (the digest's tables);
    /// otherwise `send-email` renders `body` as HTML ([`Email::html_part`]). Every value in it
    /// is escaped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// The users and admins whose secrets the recipients' addresses come from: who is checked
    /// again when one of them bounces or complains (`handle-email-events`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub address_holders: Vec<String>,
    /// A key notice that went to the admins because every address of the partner is on the SES
    /// suppression list.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rerouted: bool,
}

impl Email {
    /// The HTML part sent beside the text (`multipart/alternative`): the email's own, or its
    /// text as HTML paragraphs, everything escaped.
    pub fn html_part(&self) -> String {
        self.html.clone().unwrap_or_else(|| {
            crate::html::document(&self.subject, &crate::html::from_plain_text(&self.body))
        })
    }
}

/// Who is told about a report's findings: a User's go to its GroupAdmin's addresses; to the
/// SuperAdmins when that admin is unknown or has no valid address, and for admins' own
/// findings. Sorted, deduplicated; empty only when no SuperAdmin has a valid address.
pub fn finding_recipients(report: &UserReport, admins: &AdminDirectory) -> Vec<String> {
    finding_route(report, admins).addresses
}

/// Addresses, and the admins whose secrets hold them.
struct Route {
    addresses: Vec<String>,
    holders: Vec<String>,
}

fn finding_route(report: &UserReport, admins: &AdminDirectory) -> Route {
    let mut route = match report.role {
        Role::User => responsible(report, admins),
        Role::GroupAdmin | Role::SuperAdmin => super_admins(admins),
    };
    route.addresses.sort();
    route.addresses.dedup();
    route
}

/// A User's GroupAdmin when it is known and reachable, else the SuperAdmins.
fn responsible(report: &UserReport, admins: &AdminDirectory) -> Route {
    match group_admin_emails(report, admins) {
        Some(addresses) => Route {
            addresses,
            holders: report.group_admin.iter().cloned().collect(),
        },
        None => super_admins(admins),
    }
}

fn super_admins(admins: &AdminDirectory) -> Route {
    Route {
        addresses: admins.super_admin_emails(),
        holders: admins.reachable_super_admins(),
    }
}

/// The report's GroupAdmin's addresses, when it is a known admin with at least one.
fn group_admin_emails(report: &UserReport, admins: &AdminDirectory) -> Option<Vec<String>> {
    report
        .group_admin
        .as_deref()
        .and_then(|name| admins.get(name))
        .map(|admin| admin.emails.clone())
        .filter(|emails| !emails.is_empty())
}

/// One digest per distinct recipient set, listing each user's findings with rule, detail and
/// fix. Clean reports are skipped, and so are reports nobody can be told about (no recipient at
/// all). Deterministic: recipient sets and users sorted. A set of more than 50 addresses is
/// split into several emails with the same content.
pub fn finding_digests(reports: &[UserReport], admins: &AdminDirectory) -> Vec<Email> {
    type Group<'a> = (Vec<&'a UserReport>, std::collections::BTreeSet<String>);
    let mut by_recipients: BTreeMap<Vec<String>, Group> = BTreeMap::new();
    for report in reports.iter().filter(|r| !r.is_clean()) {
        let route = finding_route(report, admins);
        if !route.addresses.is_empty() {
            let (users, holders) = by_recipients.entry(route.addresses).or_default();
            users.push(report);
            holders.extend(route.holders);
        }
    }
    let mut emails = Vec::new();
    for (recipients, (mut users, holders)) in by_recipients {
        users.sort_by(|a, b| a.username.cmp(&b.username));
        let subject = match users.len() {
            1 => "sftp-warden: 1 SFTP user needs attention".to_owned(),
            n => format!("sftp-warden: {n} SFTP users need attention"),
        };
        let body = digest_body(&users, admins);
        let html = crate::html::document(&subject, &digest_html(&users, admins));
        for chunk in recipients.chunks(MAX_RECIPIENTS_PER_EMAIL) {
            emails.push(Email {
                kind: EmailKind::Findings,
                to: chunk.to_vec(),
                cc: Vec::new(),
                subject: subject.clone(),
                body: body.clone(),
                html: Some(html.clone()),
                address_holders: holders.iter().cloned().collect(),
                rerouted: false,
            });
        }
    }
    emails
}

/// The digest as HTML: a heading and a table (rule, finding, how to fix) per user.
fn digest_html(users: &[&UserReport], admins: &AdminDirectory) -> String {
    use crate::html::{CELL, HEADER_CELL, TABLE, escape, value};
    let mut html = String::new();
    let count = match users.len() {
        1 => "1 SFTP user".to_owned(),
        n => format!("{n} SFTP users"),
    };
    let _ = writeln!(
        html,
        "<p>sftp-warden checked the SFTP users' secrets in AWS Secrets Manager and found problems with {count}. \
         Each problem names the validation rule it breaks, what is wrong, and how to fix it.</p>"
    );
    for user in users {
        let _ = writeln!(
            html,
            "<h3 style=\"margin:16px 0 4px 0\">User {}</h3>",
            escape(&describe_user(user))
        );
        let _ = write!(html, "<p style=\"margin:0\">Role: {}", user.role);
        if let Some(admin) = &user.group_admin {
            let _ = write!(
                html,
                "; GroupAdmin: {}",
                value(admin, MAX_SUBJECT_TEXT_CHARS)
            );
        }
        let _ = writeln!(html, "</p>");
        if let Some(note) = unreadable_admin_note(user, admins) {
            let _ = writeln!(html, "<p style=\"margin:0\"><em>{}</em></p>", escape(&note));
        }
        let _ = writeln!(
            html,
            "<table style=\"{TABLE}\"><tr><th style=\"{HEADER_CELL}\">Rule</th><th style=\"{HEADER_CELL}\">Finding</th><th style=\"{HEADER_CELL}\">How to fix</th></tr>"
        );
        for finding in &user.findings {
            let _ = writeln!(
                html,
                "<tr><td style=\"{CELL}\">{} ({})</td><td style=\"{CELL}\">{}</td><td style=\"{CELL}\">{}</td></tr>",
                finding.rule.number(),
                finding.rule.title(),
                value(&finding.detail, MAX_BODY_TEXT_CHARS),
                value(&finding.fix(), MAX_BODY_TEXT_CHARS)
            );
        }
        let _ = writeln!(html, "</table>");
    }
    let _ = writeln!(
        html,
        "<p>Correct each user's secret in AWS Secrets Manager; changing a secret checks it again.</p>"
    );
    html
}

/// Why a User's findings reached the SuperAdmins rather than its GroupAdmin, when that admin's
/// secret could not be read this run.
fn unreadable_admin_note(user: &UserReport, admins: &AdminDirectory) -> Option<String> {
    let admin = admins.unreadable(user.group_admin.as_deref()?)?;
    Some(format!(
        "Sent to the SuperAdmins: the secret of its GroupAdmin {} could not be read this run ({}).",
        escape_unsafe(&admin.username, MAX_SUBJECT_TEXT_CHARS),
        escape_unsafe(&admin.error, MAX_SUBJECT_TEXT_CHARS)
    ))
}

fn digest_body(users: &[&UserReport], admins: &AdminDirectory) -> String {
    let mut body = String::new();
    let count = match users.len() {
        1 => "1 SFTP user".to_owned(),
        n => format!("{n} SFTP users"),
    };
    let _ = writeln!(
        body,
        "sftp-warden checked the SFTP users' secrets in AWS Secrets Manager and found problems with {count}."
    );
    let _ = writeln!(
        body,
        "Each problem names the validation rule it breaks, what is wrong, and how to fix it."
    );
    for user in users {
        let _ = writeln!(body);
        let _ = writeln!(body, "User {}", describe_user(user));
        let _ = write!(body, "  Role: {}", user.role);
        if let Some(admin) = &user.group_admin {
            let _ = write!(
                body,
                "; GroupAdmin: {}",
                escape_unsafe(admin, MAX_SUBJECT_TEXT_CHARS)
            );
        }
        let _ = writeln!(body);
        if let Some(note) = unreadable_admin_note(user, admins) {
            let _ = writeln!(body, "  {note}");
        }
        for finding in &user.findings {
            let _ = writeln!(
                body,
                "  - Rule {} ({}): {}",
                finding.rule.number(),
                finding.rule.title(),
                escape_unsafe(&finding.detail, MAX_BODY_TEXT_CHARS)
            );
            let _ = writeln!(
                body,
                "    Fix: {}",
                escape_unsafe(&finding.fix(), MAX_BODY_TEXT_CHARS)
            );
        }
    }
    let _ = writeln!(body);
    let _ = writeln!(
        body,
        "Correct each user's secret in AWS Secrets Manager; changing a secret checks it again."
    );
    body
}

/// `bank1 (ANZ Bank)`, safe for one line.
fn describe_user(report: &UserReport) -> String {
    let username = escape_unsafe(&report.username, MAX_SUBJECT_TEXT_CHARS);
    match report
        .name
        .as_deref()
        .map(|n| strip_unsafe(n, MAX_SUBJECT_TEXT_CHARS))
    {
        Some(name) if !name.is_empty() => format!("{username} ({name})"),
        _ => username,
    }
}

/// Key rotation requests to external systems (seed step 2.14): one per user whose secret meets
/// the rules (suppressed addresses aside), has key notices, is not `excluded` and has contact
/// addresses. To: the user's addresses; CC: its GroupAdmin's (the SuperAdmins' when the
/// GroupAdmin is unknown or has none). When every address of the user is on the SES suppression
/// list the notice goes to those admins instead, saying why (`rerouted`). Keys are named by
/// fingerprint and algorithm only.
pub fn key_expiry_notices(
    reports: &[UserReport],
    admins: &AdminDirectory,
    excluded: &[String],
) -> Vec<Email> {
    let mut emails = Vec::new();
    for report in reports {
        let Some(recipients) = notice_recipients(report, admins, excluded) else {
            continue;
        };
        let Some(deadline) = report.key_notices.iter().map(|n| n.refuse_after).min() else {
            continue;
        };
        let overdue = report.key_notices.iter().any(is_overdue);
        let keys = if report.key_notices.len() == 1 {
            "key"
        } else {
            "keys"
        };
        let username = strip_unsafe(&report.username, MAX_SUBJECT_TEXT_CHARS);
        let mut subject = if overdue {
            format!(
                "Action needed: rotate the SSH {keys} of SFTP user {username}, overdue since {deadline}"
            )
        } else {
            format!(
                "Action needed: rotate the SSH {keys} of SFTP user {username} before {deadline}"
            )
        };
        if recipients.rerouted {
            subject = format!("Undeliverable to the partner, please forward: {subject}");
        }
        let body = expiry_body(report, deadline, overdue, &recipients);
        for (to, cc) in recipient_batches(&recipients.to, &recipients.cc) {
            emails.push(Email {
                kind: EmailKind::KeyExpiry,
                to,
                cc,
                subject: subject.clone(),
                body: body.clone(),
                html: None,
                address_holders: recipients.holders.clone(),
                rerouted: recipients.rerouted,
            });
        }
    }
    emails
}

/// Who a user's key notice goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoticeRecipients {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// Whose secrets `to` and `cc` come from: the user (unless rerouted) and its admins.
    pub holders: Vec<String>,
    /// Every address of the user is suppressed: the notice goes to its admins.
    pub rerouted: bool,
}

/// Who is sent `report`'s key notice, or `None` when it gets none (its secret breaks a rule,
/// nothing is due, it is excluded, or it has no contact address at all). `to` is empty when
/// nobody can be reached: the run counts that user as unrouted.
pub fn notice_recipients(
    report: &UserReport,
    admins: &AdminDirectory,
    excluded: &[String],
) -> Option<NoticeRecipients> {
    if !report.meets_rules()
        || report.key_notices.is_empty()
        || excluded.contains(&report.username)
        || (report.contact_emails.is_empty() && report.suppressed_contacts.is_empty())
    {
        return None;
    }
    let responsible = responsible(report, admins);
    if report.contact_emails.is_empty() {
        return Some(NoticeRecipients {
            to: dedup_case_insensitive(responsible.addresses, &[]),
            cc: Vec::new(),
            holders: responsible.holders,
            rerouted: true,
        });
    }
    let to = dedup_case_insensitive(report.contact_emails.clone(), &[]);
    let cc = dedup_case_insensitive(responsible.addresses, &to);
    let mut holders = vec![report.username.clone()];
    holders.extend(responsible.holders);
    Some(NoticeRecipients {
        to,
        cc,
        holders,
        rerouted: false,
    })
}

/// A run that ended FAILED, TIMED_OUT or ABORTED (Step Functions' status-change event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndedRun {
    pub state_machine: String,
    pub execution: String,
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// Longest part of a run's cause quoted in the email (the full cause is in the history).
const MAX_CAUSE_CHARS: usize = 2_000;

/// The email that tells the SuperAdmins a run ended badly: what, why, and the command that shows
/// the rest. `None` when nobody can be told.
pub fn ended_run_email(run: &EndedRun, super_admins: &[String]) -> Option<Email> {
    let mut to = dedup_case_insensitive(super_admins.to_vec(), &[]);
    if to.is_empty() {
        return None;
    }
    to.truncate(MAX_RECIPIENTS_PER_EMAIL);
    let execution = strip_unsafe(&run.execution, MAX_SUBJECT_TEXT_CHARS);
    let machine = strip_unsafe(&run.state_machine, MAX_SUBJECT_TEXT_CHARS);
    let status = strip_unsafe(&run.status, 20);
    let subject = format!("sftp-warden: run {execution} of {machine} ended {status}");
    let mut body = String::new();
    let _ = writeln!(
        body,
        "The {machine} run {execution} ended {status}: what it was to do may not have been done."
    );
    let _ = writeln!(body);
    if let Some(error) = &run.error {
        let _ = writeln!(body, "Error: {}", escape_unsafe(error, MAX_BODY_TEXT_CHARS));
    }
    if let Some(cause) = run.cause.as_deref().filter(|c| !c.is_empty()) {
        let _ = writeln!(body, "Cause: {}", escape_unsafe(cause, MAX_CAUSE_CHARS));
    }
    let _ = writeln!(body);
    let _ = writeln!(
        body,
        "See its path of states and every error: sftp-warden runs show {execution}"
    );
    Some(Email {
        kind: EmailKind::RunFailed,
        to,
        cc: Vec::new(),
        subject,
        body,
        html: None,
        address_holders: Vec::new(),
        rerouted: false,
    })
}

/// Past its `refuse_after` date: as old as the deadline's distance from `updated`.
fn is_overdue(notice: &KeyNotice) -> bool {
    notice.age_months >= keys::months_between(notice.updated, notice.refuse_after)
}

fn expiry_body(
    report: &UserReport,
    deadline: chrono::NaiveDate,
    overdue: bool,
    recipients: &NoticeRecipients,
) -> String {
    let admins_in_copy = !recipients.cc.is_empty();
    let username = escape_unsafe(&report.username, MAX_SUBJECT_TEXT_CHARS);
    let system = report
        .name
        .as_deref()
        .map(|n| strip_unsafe(n, MAX_SUBJECT_TEXT_CHARS))
        .filter(|n| !n.is_empty());
    let mut body = String::new();
    if recipients.rerouted {
        let _ = writeln!(
            body,
            "This notice is for the partner behind SFTP user \"{username}\", but it cannot reach them:"
        );
        for suppressed in &report.suppressed_contacts {
            let _ = writeln!(
                body,
                "  - {}.",
                escape_unsafe(&suppressed.sentence(), MAX_BODY_TEXT_CHARS)
            );
        }
        let _ = writeln!(
            body,
            "Please forward it to them, and correct the Email of the secret SFTP/{username}: the validation finding (rule 4) says how."
        );
        let _ = writeln!(body);
        let _ = writeln!(body, "----");
        let _ = writeln!(body);
    }
    let _ = writeln!(
        body,
        "Hello {},",
        system.as_deref().unwrap_or("SFTP partner")
    );
    let _ = writeln!(body);
    let keys = if report.key_notices.len() == 1 {
        "an SSH key that is"
    } else {
        "SSH keys that are"
    };
    let _ = writeln!(
        body,
        "SFTP user \"{username}\" logs in with {keys} due for rotation. Under PCI DSS, SSH keys"
    );
    if overdue {
        let _ = writeln!(
            body,
            "must be replaced regularly, and the deadline was {deadline}: please send a new key now."
        );
    } else {
        let _ = writeln!(
            body,
            "must be replaced regularly: please send a new key before {deadline}."
        );
    }
    let _ = writeln!(body);
    let _ = writeln!(body, "Keys due for rotation:");
    for notice in &report.key_notices {
        let _ = writeln!(
            body,
            "  - {} ({}): updated {}, {} months old, replace before {}",
            escape_unsafe(&notice.fingerprint, MAX_SUBJECT_TEXT_CHARS),
            escape_unsafe(&notice.algorithm, MAX_SUBJECT_TEXT_CHARS),
            notice.updated,
            notice.age_months,
            notice.refuse_after
        );
    }
    let _ = writeln!(body);
    let _ = writeln!(body, "What to do:");
    let _ = writeln!(
        body,
        "  1. Create a new key pair, e.g. ssh-keygen -t ed25519."
    );
    let _ = writeln!(
        body,
        "  2. Send us only the public key (the .pub file). Never send the private key."
    );
    let _ = writeln!(
        body,
        "  3. Once you have logged in with the new key, tell us, and we remove the old one."
    );
    let _ = writeln!(body);
    let _ = write!(
        body,
        "This notice is repeated every week until the old key is removed."
    );
    if admins_in_copy {
        let _ = write!(body, " Your contacts at our side are in copy.");
    }
    let _ = writeln!(body);
    if !recipients.rerouted && !report.suppressed_contacts.is_empty() {
        let _ = writeln!(body);
        for suppressed in &report.suppressed_contacts {
            let _ = writeln!(
                body,
                "Not sent to {}.",
                escape_unsafe(&suppressed.sentence(), MAX_BODY_TEXT_CHARS)
            );
        }
    }
    body
}

/// `addresses` without repeats (ignoring case) and without any address in `exclude`.
pub(crate) fn dedup_case_insensitive(addresses: Vec<String>, exclude: &[String]) -> Vec<String> {
    let mut seen: std::collections::HashSet<String> =
        exclude.iter().map(|a| a.to_ascii_lowercase()).collect();
    addresses
        .into_iter()
        .filter(|a| seen.insert(a.to_ascii_lowercase()))
        .collect()
}

/// Splits To and CC into messages of at most [`MAX_RECIPIENTS_PER_EMAIL`], each recipient
/// getting exactly one copy: To addresses first, CC filling the remaining room, and a message
/// without To addresses moving its CC into To.
fn recipient_batches(to: &[String], cc: &[String]) -> Vec<(Vec<String>, Vec<String>)> {
    let all: Vec<(&String, bool)> = to
        .iter()
        .map(|a| (a, false))
        .chain(cc.iter().map(|a| (a, true)))
        .collect();
    all.chunks(MAX_RECIPIENTS_PER_EMAIL)
        .map(|chunk| {
            let to: Vec<String> = chunk
                .iter()
                .filter(|(_, is_cc)| !is_cc)
                .map(|(a, _)| (*a).clone())
                .collect();
            let cc: Vec<String> = chunk
                .iter()
                .filter(|(_, is_cc)| *is_cc)
                .map(|(a, _)| (*a).clone())
                .collect();
            if to.is_empty() {
                (cc, Vec::new())
            } else {
                (to, cc)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
