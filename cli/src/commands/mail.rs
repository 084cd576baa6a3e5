//! `mail suppressed` and `mail unsuppress`: SES's account suppression list as it concerns the
//! SFTP users and admins.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use warden_core::email;
use warden_core::suppression::Suppression;
use warden_core::user::{Role, SecretKey, UserSecret};

use super::{Outcome, out, out_json};
use crate::args::{Format, OutputArgs, UnsuppressArgs};
use crate::aws::Aws;
use crate::progress;

/// Batches of 20 read at once while the users are listed (the validation run's own pace).
const READ_CONCURRENCY: usize = 4;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Holder {
    username: String,
    role: Role,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SuppressedAddress {
    #[serde(flatten)]
    entry: Suppression,
    holders: Vec<Holder>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SuppressedReport {
    /// Suppressed addresses held by at least one user or admin.
    addresses: Vec<SuppressedAddress>,
    /// Entries of the list that no SFTP secret holds.
    others: usize,
    users_read: usize,
}

/// Every suppressed address some user or admin holds: one read of the list, one of every user.
pub async fn suppressed(prefix: &str, output: OutputArgs) -> Result<Outcome> {
    let aws = Aws::from_env(prefix).await;
    let (list, _) = aws
        .suppressions
        .read_all()
        .await
        .context("reading SES's suppression list")?;
    let mut holders: BTreeMap<String, Vec<Holder>> = BTreeMap::new();
    let mut failures = Vec::new();
    let bar = progress::spinner("Reading the users' addresses");
    let users = aws
        .secrets
        .users()
        .read_every_user(
            READ_CONCURRENCY,
            warden_aws::throttle_backoff(),
            |batch, read| match read {
                Ok(read) => {
                    bar.inc(batch.len() as u64);
                    for secret in &read.secrets {
                        let Ok(parsed) = UserSecret::parse(secret.secret.expose()) else {
                            continue;
                        };
                        let Some(value) = parsed.text(SecretKey::Email) else {
                            continue;
                        };
                        for address in email::well_formed_addresses(value) {
                            if let Some(entry) = list.get(&address) {
                                holders
                                    .entry(entry.address.to_ascii_lowercase())
                                    .or_default()
                                    .push(Holder {
                                        username: secret.username.clone(),
                                        role: Role::of(&secret.username),
                                    });
                            }
                        }
                    }
                    failures.extend(read.errors.into_iter().map(|e| e.username));
                }
                Err(err) => failures.push(format!("{} users ({err})", batch.len())),
            },
        )
        .await
        .context("listing the SFTP users")?;
    bar.finish_and_clear();
    if !failures.is_empty() {
        bail!(
            "could not read every user, so the list would be incomplete: {}",
            failures.join(", ")
        );
    }
    let addresses: Vec<SuppressedAddress> = list
        .iter()
        .filter_map(|entry| {
            holders
                .remove(&entry.address.to_ascii_lowercase())
                .map(|holders| SuppressedAddress {
                    entry: entry.clone(),
                    holders,
                })
        })
        .collect();
    let report = SuppressedReport {
        others: list.len() - addresses.len(),
        addresses,
        users_read: users,
    };
    match output.output {
        Format::Json => out_json(&report)?,
        Format::Table => {
            if report.addresses.is_empty() {
                out(format!(
                    "No address of the {users} SFTP users and admins is on SES's suppression list."
                ));
            } else {
                out("ADDRESS | REASON | SINCE | HELD BY");
                for a in &report.addresses {
                    let who: Vec<String> = a
                        .holders
                        .iter()
                        .map(|h| format!("{} ({})", h.username, h.role))
                        .collect();
                    out(format!(
                        "{} | {} | {} | {}",
                        a.entry.address,
                        a.entry.reason.as_str(),
                        a.entry.since,
                        who.join(", ")
                    ));
                }
                out(format!(
                    "{} suppressed addresses belong to SFTP users or admins: nothing is sent to them and their mail goes to the admins. Fix each secret's Email, then `sftp-warden mail unsuppress ADDRESS`.",
                    report.addresses.len()
                ));
            }
            if report.others > 0 {
                out(format!(
                    "{} other addresses on the list belong to no SFTP user.",
                    report.others
                ));
            }
        }
    }
    Ok(if report.addresses.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// Takes one address off the list.
pub async fn unsuppress(prefix: &str, args: UnsuppressArgs) -> Result<Outcome> {
    if let Some(problem) = email::address_problem(&args.address) {
        bail!("the address {problem}");
    }
    let aws = Aws::from_env(prefix).await;
    let entry = aws
        .suppressions
        .get(&args.address)
        .await
        .context("reading SES's suppression list")?;
    let Some(entry) = entry else {
        out(format!(
            "{} is not on SES's suppression list: nothing to do.",
            args.address
        ));
        return Ok(Outcome::Findings);
    };
    aws.suppressions
        .remove(&args.address)
        .await
        .context("removing the address from SES's suppression list")?;
    out(format!(
        "Removed {} from SES's suppression list (it was there since {}, {}). Mail goes to it again from the next run; if it bounces again, SES puts it back.",
        args.address,
        entry.since,
        entry.reason.as_str()
    ));
    Ok(Outcome::Clean)
}
