//! The commands: each reads what it needs, calls the pure modules, prints, and says how it went.

mod audit;
mod import;
mod lint;
mod mail;
mod overview;
mod runs;
mod smtp;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::{Context, Result};
use warden_aws::secrets::SecretText;
use warden_core::admins::AdminDirectory;

use crate::args::{Cli, Command, MailCommand, SmtpCommand, UsersCommand};
use crate::aws::Aws;
use crate::aws::secrets::{ListedUser, SecretStore};
use crate::plan::ExistingUser;
use crate::progress;

/// How a command went, for the exit code (failures are errors, exit 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report: exit 0.
    Clean,
    /// Lint or audit found problems, or an import rejected rows: exit 1.
    Findings,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Clean => 0,
            Outcome::Findings => 1,
        }
    }

    fn from_findings(any: bool) -> Outcome {
        if any {
            Outcome::Findings
        } else {
            Outcome::Clean
        }
    }
}

pub async fn run(cli: Cli) -> Result<Outcome> {
    let prefix = cli.prefix();
    match cli.command {
        Command::Users(UsersCommand::Import(args)) => import::run(&prefix, args).await,
        Command::Users(UsersCommand::Lint(args)) => lint::run(&prefix, args).await,
        Command::Users(UsersCommand::Status(args)) => status::show(&prefix, args).await,
        Command::Users(UsersCommand::SetStatus(args)) => status::set(&prefix, args).await,
        Command::Audit(args) => audit::run(&prefix, args).await,
        Command::Runs(args) => runs::run(args).await,
        Command::Status(output) => overview::run(output).await,
        Command::Mail(MailCommand::Suppressed(output)) => mail::suppressed(&prefix, output).await,
        Command::Mail(MailCommand::Unsuppress(args)) => mail::unsuppress(&prefix, args).await,
        Command::Smtp(SmtpCommand::Status(args)) => smtp::status(args).await,
        Command::Smtp(SmtpCommand::Rotate(args)) => smtp::rotate(args).await,
        Command::Smtp(SmtpCommand::Redeploy(args)) => smtp::redeploy(args).await,
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn out(text: impl AsRef<str>) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{}", text.as_ref());
}

fn out_json(value: &impl serde::Serialize) -> Result<()> {
    out(serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The admins as the load-admins Lambda reads them: every admin's secret, 20 a call; any admin
/// that cannot be read is an error, because a partial directory would judge users wrongly.
async fn load_admins(
    store: &SecretStore,
    usernames: &[String],
) -> Result<Vec<(String, SecretText)>> {
    let admin_names: Vec<String> = usernames
        .iter()
        .filter(|u| warden_core::user::Role::of(u).is_admin())
        .cloned()
        .collect();
    let bar = progress::bar(admin_names.len(), "Reading admins");
    let read = store
        .read(&admin_names, &bar)
        .await
        .context("reading the admins' secrets")?;
    bar.finish_and_clear();
    if !read.errors.is_empty() {
        let failed: Vec<String> = read
            .errors
            .iter()
            .map(|e| format!("{} ({})", e.username, e.error))
            .collect();
        anyhow::bail!(
            "the secrets of these admins could not be read: {}",
            failed.join(", ")
        );
    }
    Ok(read
        .secrets
        .into_iter()
        .map(|s| (s.username, s.secret))
        .collect())
}

fn directory(admins: &[(String, SecretText)]) -> AdminDirectory {
    AdminDirectory::from_secrets(admins.iter().map(|(u, s)| (u.as_str(), s.expose())))
}

/// `listed` (every user with its tags) as the plan sees them, with the current secrets read of
/// the `wanted` users and of every admin (validation needs the admins).
async fn read_users(
    aws: &Aws,
    listed: Vec<ListedUser>,
    wanted: &BTreeSet<&str>,
    label: &'static str,
) -> Result<BTreeMap<String, ExistingUser>> {
    let to_read: Vec<String> = listed
        .iter()
        .map(|u| u.username.clone())
        .filter(|u| wanted.contains(u.as_str()) || warden_core::user::Role::of(u).is_admin())
        .collect();
    let bar = progress::bar(to_read.len(), label);
    let read = aws
        .secrets
        .read(&to_read, &bar)
        .await
        .context("reading the current secrets")?;
    bar.finish_and_clear();
    let mut existing: BTreeMap<String, ExistingUser> = listed
        .into_iter()
        .map(|u| {
            let user = ExistingUser {
                tags: u.tags,
                ..ExistingUser::default()
            };
            (u.username, user)
        })
        .collect();
    for secret in read.secrets {
        if let Some(user) = existing.get_mut(&secret.username) {
            user.secret = Some(secret.secret);
        }
    }
    for error in read.errors {
        if let Some(user) = existing.get_mut(&error.username) {
            user.read_error = Some(error.error);
        }
    }
    Ok(existing)
}
