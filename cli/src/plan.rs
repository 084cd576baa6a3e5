//! What an import would do: each row's secret built and validated with the same rules as the
//! validation workflow, then compared with what Secrets Manager and S3 hold (create / update /
//! unchanged). Pure: every input is read beforehand, so the whole plan is unit-tested without I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::Serialize;
use warden_aws::secrets::SecretText;
use warden_core::admins::AdminDirectory;
use warden_core::config::Rules;
use warden_core::user::Role;
use warden_core::validation::{Finding, validate_user};

use crate::secret_from_row::{self, BuildContext, SecretFields};
use crate::sheet::{Rejection, Sheet, SheetRow};
use crate::status::{self, MigrationStatus};

/// What Secrets Manager holds for one listed user.
#[derive(Clone, Debug, Default)]
pub struct ExistingUser {
    pub tags: BTreeMap<String, String>,
    /// The current `SecretString`, when it was read (only users in the sheet and admins are).
    pub secret: Option<SecretText>,
    /// The error code when reading it failed.
    pub read_error: Option<String>,
}

/// Where a user's files land: `/bucket/a/b` is the zero-byte object `a/b/` in `bucket`; a target
/// that is the bucket root has no folder object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LandingFolder {
    pub bucket: String,
    /// `a/b/`; `None` for the bucket root.
    pub key: Option<String>,
}

impl LandingFolder {
    /// The folder of a target that passed validation (rule 5 checked its shape).
    pub fn of_target(target: &str) -> Option<LandingFolder> {
        warden_core::folder::check(target).ok()?;
        let normalised = warden_core::folder::normalise(target);
        let segments = warden_core::folder::segments(&normalised);
        let (bucket, rest) = segments.split_first()?;
        Some(LandingFolder {
            bucket: (*bucket).to_owned(),
            key: (!rest.is_empty()).then(|| format!("{}/", rest.join("/"))),
        })
    }
}

impl std::fmt::Display for LandingFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "s3://{}/{}",
            self.bucket,
            self.key.as_deref().unwrap_or("")
        )
    }
}

/// A tag that will be set, and what it was.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TagChange {
    pub key: String,
    pub from: Option<String>,
    pub to: String,
}

/// A row that passed: the secret it will write and how that differs from today's.
#[derive(Clone, Debug, PartialEq)]
pub struct Accepted {
    pub row: u64,
    pub sno: String,
    pub username: String,
    /// The `SecretString` to write.
    pub secret: SecretText,
    pub existed: bool,
    /// Keys whose values change (empty for a new or unchanged secret).
    pub changed_keys: Vec<String>,
    pub keys_added: Vec<String>,
    pub keys_removed: Vec<String>,
    /// Tags to set: all of them for a new secret, the changed ones for an existing secret.
    pub tag_changes: Vec<TagChange>,
    pub folder: Option<LandingFolder>,
    pub description: String,
}

impl Accepted {
    pub fn secret_changes(&self) -> bool {
        !self.existed || !self.changed_keys.is_empty()
    }
}

/// The rows that passed and those that did not.
#[derive(Clone, Debug, Default)]
pub struct Assessment {
    pub accepted: Vec<Accepted>,
    pub rejected: Vec<Rejection>,
}

/// Builds and validates every row.
///
/// Validation sees the admins as they will be after the import: the live ones, replaced or joined
/// by the admins of this sheet. An admin row that is rejected is not written, so the directory
/// falls back to the live admin (or none) and the rows are validated again until no further admin
/// drops out; a user whose GroupAdmin's row was rejected says so.
pub fn assess(
    sheet: &Sheet,
    existing: &BTreeMap<String, ExistingUser>,
    rules: &Rules,
    context: &BuildContext,
) -> Assessment {
    let mut rejected: Vec<Rejection> = sheet.rejected.clone();
    let mut candidates = Vec::new();
    let duplicates = duplicate_rows(&sheet.rows);
    for row in &sheet.rows {
        let reject = |reasons: Vec<String>| Rejection {
            row: row.row,
            sno: row.sno.clone(),
            username: row.username.clone(),
            reasons,
        };
        if let Some(rows) = duplicates.get(&row.username) {
            let list: Vec<String> = rows.iter().map(u64::to_string).collect();
            rejected.push(reject(vec![format!(
                "Username {} appears in rows {}: keep one row per user",
                warden_core::text::quoted(&row.username),
                list.join(", ")
            )]));
            continue;
        }
        match candidate(row, existing.get(&row.username), context) {
            Ok(candidate) => candidates.push(candidate),
            Err(reasons) => rejected.push(reject(reasons)),
        }
    }

    let sheet_admins: BTreeMap<&str, u64> = candidates
        .iter()
        .filter(|c| Role::of(&c.row.username).is_admin())
        .map(|c| (c.row.username.as_str(), c.row.row))
        .collect();
    let mut dropped_admins: BTreeSet<String> = BTreeSet::new();
    let outcomes = loop {
        let directory = directory(existing, &candidates, &dropped_admins);
        let outcomes: Vec<Vec<Finding>> = candidates
            .iter()
            .map(|c| {
                validate_user(
                    &c.row.username,
                    c.secret.expose(),
                    &directory,
                    rules,
                    context.today,
                )
                .findings
            })
            .collect();
        let newly_dropped: Vec<String> = candidates
            .iter()
            .zip(&outcomes)
            .filter(|(c, findings)| {
                !findings.is_empty() && sheet_admins.contains_key(c.row.username.as_str())
            })
            .map(|(c, _)| c.row.username.clone())
            .filter(|u| !dropped_admins.contains(u))
            .collect();
        if newly_dropped.is_empty() {
            break outcomes;
        }
        dropped_admins.extend(newly_dropped);
    };

    let mut accepted = Vec::new();
    for (candidate, findings) in candidates.into_iter().zip(outcomes) {
        if findings.is_empty() {
            accepted.push(candidate.accept());
            continue;
        }
        let mut reasons: Vec<String> = findings
            .iter()
            .map(|f| {
                format!(
                    "rule {} ({}): {}. Fix: {}",
                    f.rule.number(),
                    f.rule.title(),
                    f.detail,
                    f.fix()
                )
            })
            .collect();
        let admin = &candidate.row.group_admin;
        if admin != &candidate.row.username && dropped_admins.contains(admin) {
            reasons.push(format!(
                "its GroupAdmin {admin} (row {}) is rejected, so it is not written",
                sheet_admins
                    .get(admin.as_str())
                    .copied()
                    .unwrap_or_default()
            ));
        }
        rejected.push(Rejection {
            row: candidate.row.row,
            sno: candidate.row.sno.clone(),
            username: candidate.row.username.clone(),
            reasons,
        });
    }
    rejected.sort_by_key(|r| r.row);
    accepted.sort_by_key(|a| a.row);
    Assessment { accepted, rejected }
}

/// A row whose secret could be built, before validation.
struct Candidate<'a> {
    row: &'a SheetRow,
    secret: SecretText,
    fields: SecretFields,
    existing: Option<(&'a ExistingUser, Option<SecretFields>)>,
    status: Option<MigrationStatus>,
}

fn candidate<'a>(
    row: &'a SheetRow,
    existing: Option<&'a ExistingUser>,
    context: &BuildContext,
) -> Result<Candidate<'a>, Vec<String>> {
    if let Some(error) = existing.and_then(|e| e.read_error.as_deref()) {
        return Err(vec![format!(
            "its current secret could not be read ({error}), so it cannot be compared: nothing is written"
        )]);
    }
    let current = existing.map(|e| {
        (
            e,
            e.secret
                .as_ref()
                .and_then(|s| SecretFields::parse(s.expose())),
        )
    });
    let mut problems = Vec::new();
    let status = match row.migration_status.as_str() {
        "" => None,
        text => match text.parse::<MigrationStatus>() {
            Ok(status) => Some(status),
            Err(expected) => {
                problems.push(format!(
                    "MigrationStatus {} is not a status: {expected}",
                    warden_core::text::quoted(text)
                ));
                None
            }
        },
    };
    let built =
        secret_from_row::build_secret(row, current.as_ref().and_then(|(_, f)| f.as_ref()), context);
    match built {
        Ok(fields) if problems.is_empty() => Ok(Candidate {
            row,
            secret: SecretText::new(fields.to_secret_string()),
            fields,
            existing: current,
            status,
        }),
        Ok(_) => Err(problems),
        Err(mut build_problems) => {
            build_problems.extend(problems);
            Err(build_problems)
        }
    }
}

impl Candidate<'_> {
    fn accept(self) -> Accepted {
        let row = self.row;
        let name_tag = secret_from_row::tag_value(&row.source_system_name);
        let (existed, current_fields, current_tags) = match &self.existing {
            Some((user, fields)) => (true, fields.clone(), user.tags.clone()),
            None => (false, None, BTreeMap::new()),
        };
        let changed_keys = match (&current_fields, existed) {
            (_, false) => Vec::new(),
            (Some(current), true) => self.fields.changed_keys(current),
            // Today's secret is not a JSON object: everything is rewritten.
            (None, true) => self.fields.0.keys().cloned().collect(),
        };
        let fingerprints = |fields: Option<&SecretFields>| -> BTreeSet<String> {
            fields
                .and_then(|f| f.text("PublicKey"))
                .map(warden_core::keys::fingerprints)
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .collect()
        };
        let new_keys = fingerprints(Some(&self.fields));
        let old_keys = fingerprints(current_fields.as_ref());
        let status_tag = match (self.status, current_tags.get(status::TAG)) {
            (Some(status), _) => Some(status.as_tag().to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some(MigrationStatus::DEFAULT.as_tag().to_owned()),
        };
        let tag_changes = [("Name", Some(name_tag)), (status::TAG, status_tag)]
            .into_iter()
            .filter_map(|(key, to)| {
                let to = to?;
                let from = current_tags.get(key).cloned();
                (from.as_deref() != Some(to.as_str())).then(|| TagChange {
                    key: key.to_owned(),
                    from,
                    to,
                })
            })
            .collect();
        Accepted {
            row: row.row,
            sno: row.sno.clone(),
            username: row.username.clone(),
            description: format!(
                "SFTP user {} for the source system {} (sftp-warden)",
                row.username,
                warden_core::text::strip_unsafe(&row.source_system_name, 200)
            ),
            secret: self.secret,
            existed,
            changed_keys,
            keys_added: new_keys.difference(&old_keys).cloned().collect(),
            keys_removed: if existed {
                old_keys.difference(&new_keys).cloned().collect()
            } else {
                Vec::new()
            },
            tag_changes,
            folder: LandingFolder::of_target(&row.destination_directory),
        }
    }
}

/// Usernames that appear in more than one row, with those rows.
fn duplicate_rows(rows: &[SheetRow]) -> BTreeMap<String, Vec<u64>> {
    let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for row in rows.iter().filter(|r| !r.username.is_empty()) {
        seen.entry(row.username.clone()).or_default().push(row.row);
    }
    seen.retain(|_, rows| rows.len() > 1);
    seen
}

/// The admins validation sees: live admins, replaced by this sheet's admin rows unless dropped.
fn directory(
    existing: &BTreeMap<String, ExistingUser>,
    candidates: &[Candidate],
    dropped: &BTreeSet<String>,
) -> AdminDirectory {
    let from_sheet: Vec<(&str, &str)> = candidates
        .iter()
        .filter(|c| !dropped.contains(&c.row.username))
        .map(|c| (c.row.username.as_str(), c.secret.expose()))
        .collect();
    let live = existing
        .iter()
        .filter(|(u, _)| !from_sheet.iter().any(|(s, _)| s == u))
        .filter_map(|(u, e)| Some((u.as_str(), e.secret.as_ref()?.expose())));
    AdminDirectory::from_secrets(live.chain(from_sheet.iter().copied()))
}

/// What S3 holds for a landing folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FolderState {
    Exists,
    Missing,
    NoBucket,
}

/// What the import does for one user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Unchanged,
}

/// One accepted user with the action and whether its folder must be made.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub user: Accepted,
    pub action: Action,
    pub create_folder: bool,
}

/// The whole import, ready to show or apply.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub users: Vec<Planned>,
    pub rejected: Vec<Rejection>,
}

impl Plan {
    pub fn count(&self, action: Action) -> usize {
        self.users.iter().filter(|p| p.action == action).count()
    }
}

/// Decides each accepted user's action once S3 has been asked about the landing folders. A
/// folder whose bucket does not exist rejects its row: the user could not store a file.
pub fn finalise(assessment: Assessment, folders: &BTreeMap<LandingFolder, FolderState>) -> Plan {
    let mut plan = Plan {
        rejected: assessment.rejected,
        users: Vec::new(),
    };
    for user in assessment.accepted {
        let state = user
            .folder
            .as_ref()
            .and_then(|f| folders.get(f))
            .copied()
            .unwrap_or(FolderState::Missing);
        if state == FolderState::NoBucket {
            let bucket = user.folder.as_ref().map_or("", |f| f.bucket.as_str());
            plan.rejected.push(Rejection {
                row: user.row,
                sno: user.sno,
                username: user.username,
                reasons: vec![format!(
                    "the landing bucket {bucket} does not exist: create it first (the CLI makes folders, not buckets)"
                )],
            });
            continue;
        }
        let create_folder =
            state == FolderState::Missing && user.folder.as_ref().is_some_and(|f| f.key.is_some());
        let action = if !user.existed {
            Action::Create
        } else if user.secret_changes() || !user.tag_changes.is_empty() || create_folder {
            Action::Update
        } else {
            Action::Unchanged
        };
        plan.users.push(Planned {
            user,
            action,
            create_folder,
        });
    }
    plan.rejected.sort_by_key(|r| r.row);
    plan
}

/// `today` as the clock the validation workflow uses (UTC).
pub fn today_utc() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

#[cfg(test)]
mod tests;
