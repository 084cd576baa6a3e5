//! `users lint`: the validation rules on secret files, sheets or live users; with `--offline`,
//! without any AWS call.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;
use warden_aws::secrets::SecretText;
use warden_core::validation::{UserReport, validate_user};

use super::{Outcome, out, out_json};
use crate::args::{Format, LintArgs};
use crate::aws::Aws;
use crate::plan::{self, ExistingUser, today_utc};
use crate::report;
use crate::secret_from_row::BuildContext;
use crate::sheet::{self, Rejection};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SheetResult {
    file: PathBuf,
    rows: usize,
    passed: usize,
    rejected: Vec<Rejection>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LintReport {
    users: Vec<UserReport>,
    sheets: Vec<SheetResult>,
}

pub async fn run(prefix: &str, args: LintArgs) -> Result<Outcome> {
    let rules = args.rules.rules()?;
    let today = args.as_of.unwrap_or_else(today_utc);
    let (sheets, secrets): (Vec<&PathBuf>, Vec<&PathBuf>) = args
        .files
        .iter()
        .partition(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")));
    let files: Vec<(String, SecretText)> = secrets
        .iter()
        .map(|path| read_secret_file(path))
        .collect::<Result<_>>()?;
    let sheets: Vec<(PathBuf, sheet::Sheet)> = sheets
        .into_iter()
        .map(|path| {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let parsed = sheet::read_sheet(std::io::BufReader::new(file))
                .with_context(|| format!("reading the sheet {}", path.display()))?;
            Ok((path.clone(), parsed))
        })
        .collect::<Result<_>>()?;

    // What exists: live (unless offline), then --admins files over it.
    let mut existing: BTreeMap<String, ExistingUser> = BTreeMap::new();
    if !args.offline {
        let wanted: BTreeSet<&str> = args
            .users
            .iter()
            .map(String::as_str)
            .chain(
                sheets
                    .iter()
                    .flat_map(|(_, s)| s.rows.iter().map(|r| r.username.as_str())),
            )
            .collect();
        existing = read_live(prefix, &wanted).await?;
        for user in &args.users {
            if !existing.contains_key(user) {
                bail!("there is no secret {prefix}{user}");
            }
        }
    }
    if let Some(dir) = &args.admins {
        for (username, secret) in read_admin_dir(dir)? {
            let entry = existing.entry(username).or_default();
            entry.secret = Some(secret);
            entry.read_error = None;
        }
    }

    // The admins validation sees: what exists, overlaid by the admin files being linted.
    let mut admin_pairs: BTreeMap<&str, &str> = existing
        .iter()
        .filter_map(|(u, e)| Some((u.as_str(), e.secret.as_ref()?.expose())))
        .collect();
    admin_pairs.extend(files.iter().map(|(u, s)| (u.as_str(), s.expose())));
    let admins = warden_core::AdminDirectory::from_secrets(admin_pairs);

    let mut reports = Vec::new();
    for (username, secret) in &files {
        reports.push(validate_user(
            username,
            secret.expose(),
            &admins,
            &rules,
            today,
        ));
    }
    for username in &args.users {
        let user = &existing[username];
        if let Some(error) = &user.read_error {
            bail!("the secret {prefix}{username} could not be read ({error})");
        }
        let secret = user.secret.as_ref().map_or("", SecretText::expose);
        reports.push(validate_user(username, secret, &admins, &rules, today));
    }

    let mut sheet_results = Vec::new();
    for (path, parsed) in &sheets {
        let Some(role_arn) = rules.transfer_role_arn.as_deref() else {
            bail!(
                "linting a sheet needs the Transfer role each row gets: give --role-arn ARN or set TRANSFER_ROLE_ARN"
            );
        };
        let context = BuildContext { role_arn, today };
        let assessment = plan::assess(parsed, &existing, &rules, &context);
        sheet_results.push(SheetResult {
            file: path.clone(),
            rows: parsed.rows.len() + parsed.rejected.len(),
            passed: assessment.accepted.len(),
            rejected: assessment.rejected,
        });
    }

    let any_findings = reports.iter().any(|r| !r.findings.is_empty())
        || sheet_results.iter().any(|s| !s.rejected.is_empty());
    match args.output.output {
        Format::Json => out_json(&LintReport {
            users: reports,
            sheets: sheet_results,
        })?,
        Format::Table => print_tables(&reports, &sheet_results, args.offline),
    }
    Ok(Outcome::from_findings(any_findings))
}

/// Reads `<username>.json`; the file's name is the username.
fn read_secret_file(path: &Path) -> Result<(String, SecretText)> {
    let username = path
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| {
            format!(
                "{} has no usable file name to take the username from",
                path.display()
            )
        })?
        .to_owned();
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok((username, SecretText::new(text)))
}

/// Every `<AdminName>.json` of a directory (other files are not admins and are skipped).
fn read_admin_dir(dir: &Path) -> Result<Vec<(String, SecretText)>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut admins = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let is_admin = path
            .file_stem()
            .and_then(|s| s.to_str())
            .is_some_and(|u| warden_core::user::Role::of(u).is_admin());
        if is_json && is_admin {
            admins.push(read_secret_file(&path)?);
        }
    }
    Ok(admins)
}

/// Every listed user, with the secrets of the admins and of `wanted` read.
async fn read_live(
    prefix: &str,
    wanted: &BTreeSet<&str>,
) -> Result<BTreeMap<String, ExistingUser>> {
    let aws = Aws::from_env(prefix).await;
    let listed = aws
        .secrets
        .list()
        .await
        .context("listing the SFTP users (use --offline to lint without AWS)")?;
    super::read_users(&aws, listed, wanted, "Reading secrets").await
}

fn print_tables(reports: &[UserReport], sheets: &[SheetResult], offline: bool) {
    let pairs: Vec<(UserReport, Vec<String>)> =
        reports.iter().map(|r| (r.clone(), Vec::new())).collect();
    if reports.iter().any(|r| !r.findings.is_empty()) {
        out(report::render(&report::findings(&pairs, false)));
    }
    if reports.iter().any(|r| !r.key_notices.is_empty()) {
        out("Keys due for rotation:");
        out(report::render(&report::key_notices(&pairs)));
    }
    if !reports.is_empty() {
        let clean: Vec<&str> = reports
            .iter()
            .filter(|r| r.findings.is_empty())
            .map(|r| r.username.as_str())
            .collect();
        out(format!(
            "{} linted: {} with findings{}.",
            match reports.len() {
                1 => "1 secret".to_owned(),
                n => format!("{n} secrets"),
            },
            reports.len() - clean.len(),
            if clean.is_empty() {
                String::new()
            } else {
                format!("; clean: {}", clean.join(", "))
            }
        ));
    }
    for sheet in sheets {
        if !sheet.rejected.is_empty() {
            out(format!("{}: rejected rows", sheet.file.display()));
            out(report::render(&report::rejections(&sheet.rejected)));
        }
        out(format!(
            "{}: {} rows, {} pass, {} rejected.",
            sheet.file.display(),
            sheet.rows,
            sheet.passed,
            sheet.rejected.len()
        ));
    }
    if offline {
        out(
            "Offline: GroupAdmin and folders were checked against --admins and the linted files only.",
        );
    }
}
