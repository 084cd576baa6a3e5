//! `users status` and `users set-status`: the migration tracker, kept as the `MigrationStatus` tag.
//! Only `ListSecrets` and `TagResource`: no secret value is read.

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::{Outcome, out, out_json};
use crate::args::{Format, SetStatusArgs, StatusArgs};
use crate::aws::Aws;
use crate::report;
use crate::status::{self, StatusCounts};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserStatus {
    username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    migration_status: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusReport {
    counts: StatusCounts,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    users: Vec<UserStatus>,
}

pub async fn show(prefix: &str, args: StatusArgs) -> Result<Outcome> {
    let aws = Aws::from_env(prefix).await;
    let listed = aws.secrets.list().await.context("listing the SFTP users")?;
    let counts = status::count(
        listed
            .iter()
            .map(|u| u.tags.get(status::TAG).map(String::as_str)),
    );
    let users: Vec<UserStatus> = if args.list {
        listed
            .iter()
            .map(|u| UserStatus {
                username: u.username.clone(),
                name: u.tags.get("Name").cloned(),
                migration_status: u.tags.get(status::TAG).cloned(),
            })
            .collect()
    } else {
        Vec::new()
    };
    match args.output.output {
        Format::Json => out_json(&StatusReport { counts, users })?,
        Format::Table => {
            if args.list {
                let mut table = report::table(["Username", "Name", "Migration status"]);
                for user in &users {
                    let status = match user.migration_status.as_deref() {
                        None => "(no status tag)".to_owned(),
                        Some(value) => value
                            .parse::<status::MigrationStatus>()
                            .map(|s| s.label().to_owned())
                            .unwrap_or_else(|_| format!("(unknown: {value})")),
                    };
                    table.add_row(vec![
                        user.username.clone(),
                        user.name.clone().unwrap_or_default(),
                        status,
                    ]);
                }
                out(report::render(&table));
            }
            out(report::render(&report::status_counts(&counts)));
        }
    }
    Ok(Outcome::Clean)
}

pub async fn set(prefix: &str, args: SetStatusArgs) -> Result<Outcome> {
    let aws = Aws::from_env(prefix).await;
    let listed = aws.secrets.list().await.context("listing the SFTP users")?;
    let unknown: Vec<&str> = args
        .users
        .iter()
        .filter(|u| !listed.iter().any(|l| &l.username == *u))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        bail!(
            "no such user: {} (nothing was changed)",
            unknown
                .iter()
                .map(|u| format!("{prefix}{u}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let tag = [(status::TAG.to_owned(), args.status.as_tag().to_owned())];
    let mut failed = Vec::new();
    for user in &args.users {
        match aws.secrets.tag(user, &tag).await {
            Ok(()) => out(format!("{user}: {}", args.status.label())),
            Err(e) => failed.push(format!("{user}: {e}")),
        }
    }
    if !failed.is_empty() {
        bail!("the status could not be set for {}", failed.join("; "));
    }
    Ok(Outcome::Clean)
}
