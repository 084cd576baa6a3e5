//! `users import FILE.csv`: read the sheet, read what exists, plan, show, and apply when asked.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail};
use backon::Retryable;
use futures_util::{StreamExt, stream};
use serde::Serialize;
use warden_aws::throttle_backoff;

use super::{Outcome, out, out_json, read_users};
use crate::args::{Format, ImportArgs};
use crate::aws::Aws;
use crate::aws::landing::S3Error;
use crate::aws::secrets::WriteError;
use crate::plan::{self, Action, ExistingUser, FolderState, LandingFolder, Plan, Planned};
use crate::progress;
use crate::report::{self, ImportCounts};
use crate::secret_from_row::BuildContext;
use crate::sheet::{self, Rejection};

pub async fn run(prefix: &str, args: ImportArgs) -> Result<Outcome> {
    let rules = args.rules.rules()?;
    let Some(role_arn) = rules.transfer_role_arn.clone() else {
        bail!(
            "no Transfer role to write: give --role-arn ARN or set TRANSFER_ROLE_ARN (every user's Role, checked by rule 6)"
        );
    };
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let sheet = sheet::read_sheet(std::io::BufReader::new(file))
        .with_context(|| format!("reading the sheet {}", args.file.display()))?;

    let aws = Aws::from_env(prefix).await;
    let existing = read_existing(&aws, &sheet).await?;
    let context = BuildContext {
        role_arn: &role_arn,
        today: plan::today_utc(),
    };
    let assessment = plan::assess(&sheet, &existing, &rules, &context);
    let folders = folder_states(&aws, &assessment.accepted).await?;
    let plan = plan::finalise(assessment, &folders);

    let mut counts = ImportCounts {
        created: plan.count(Action::Create),
        updated: plan.count(Action::Update),
        unchanged: plan.count(Action::Unchanged),
        rejected: plan.rejected.len(),
        failed: 0,
    };
    let mut results = BTreeMap::new();
    if args.apply {
        results = apply(&aws, &plan, args.kms_key_id.as_deref()).await;
        let failed = results.values().filter(|r| r.is_err()).count();
        counts.failed = failed;
        let failed_of = |action| {
            plan.users
                .iter()
                .filter(|p| p.action == action)
                .filter(|p| matches!(results.get(&p.user.username), Some(Err(_))))
                .count()
        };
        counts.created -= failed_of(Action::Create);
        counts.updated -= failed_of(Action::Update);
    }

    match args.output.output {
        Format::Json => out_json(&JsonReport::new(
            &plan, prefix, args.apply, &results, &counts,
        ))?,
        Format::Table => print_tables(&plan, prefix, args.apply, &results, &counts),
    }
    if counts.failed > 0 {
        bail!(
            "{} of the planned changes failed; the others were made. Run the import again to retry: it only does what is left",
            counts.failed
        );
    }
    Ok(Outcome::from_findings(!plan.rejected.is_empty()))
}

/// Every listed user with its tags, plus the current secrets of the sheet's users and of all
/// admins (validation needs the admins; the merge and the comparison need the users).
async fn read_existing(aws: &Aws, sheet: &sheet::Sheet) -> Result<BTreeMap<String, ExistingUser>> {
    let listed = aws.secrets.list().await.context("listing the SFTP users")?;
    let in_sheet: BTreeSet<&str> = sheet.rows.iter().map(|r| r.username.as_str()).collect();
    read_users(aws, listed, &in_sheet, "Reading current secrets").await
}

/// Asks S3 about each bucket once and each landing folder of the accepted rows.
async fn folder_states(
    aws: &Aws,
    accepted: &[plan::Accepted],
) -> Result<BTreeMap<LandingFolder, FolderState>> {
    let folders: BTreeSet<&LandingFolder> =
        accepted.iter().filter_map(|a| a.folder.as_ref()).collect();
    let mut buckets = BTreeMap::new();
    for bucket in folders
        .iter()
        .map(|f| f.bucket.as_str())
        .collect::<BTreeSet<_>>()
    {
        buckets.insert(bucket, aws.landing.bucket_exists(bucket).await?);
    }
    let bar = progress::bar(folders.len(), "Checking landing folders");
    let mut states = BTreeMap::new();
    for folder in folders {
        let exists = buckets
            .get(folder.bucket.as_str())
            .copied()
            .unwrap_or(false);
        states.insert(
            folder.clone(),
            aws.landing.folder_state(folder, exists).await?,
        );
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(states)
}

/// Changes applied at once: Secrets Manager takes about 50 writes a second per account, so a
/// few in flight keep a sheet of thousands of rows to minutes without being throttled much.
const APPLY_CONCURRENCY: usize = 8;

/// Makes each planned change, [`APPLY_CONCURRENCY`] users at a time: the landing folder first (so
/// a user never exists without its home), then the secret, then its tags. A failure is recorded
/// and the other users go ahead.
async fn apply(
    aws: &Aws,
    plan: &Plan,
    kms_key_id: Option<&str>,
) -> BTreeMap<String, Result<Action, String>> {
    let changing: Vec<&Planned> = plan
        .users
        .iter()
        .filter(|p| p.action != Action::Unchanged)
        .collect();
    let bar = progress::bar(changing.len(), "Applying");
    let results = stream::iter(changing)
        .map(|planned| {
            let bar = &bar;
            async move {
                let result = apply_one(aws, planned, kms_key_id)
                    .await
                    .map(|()| planned.action);
                bar.inc(1);
                (planned.user.username.clone(), result)
            }
        })
        .buffer_unordered(APPLY_CONCURRENCY)
        .collect()
        .await;
    bar.finish_and_clear();
    results
}

/// One AWS call of an import, retried with backoff while the service throttles it. Each call is
/// retried on its own: a retried `CreateSecret` after its tags failed would find the secret there.
async fn call<T, E, F, Fut>(operation: F, throttled: fn(&E) -> bool) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    operation
        .retry(throttle_backoff())
        .when(throttled)
        .await
        .map_err(|e| e.to_string())
}

async fn apply_one(aws: &Aws, planned: &Planned, kms_key_id: Option<&str>) -> Result<(), String> {
    let user = &planned.user;
    let write_throttled = |e: &WriteError| e.throttled;
    if planned.create_folder
        && let Some(folder) = &user.folder
    {
        call(
            || aws.landing.create_folder(folder),
            |e: &S3Error| e.throttled,
        )
        .await?;
    }
    let tags: Vec<(String, String)> = user
        .tag_changes
        .iter()
        .map(|t| (t.key.clone(), t.to.clone()))
        .collect();
    match planned.action {
        Action::Create => {
            call(
                || {
                    aws.secrets.create(
                        &user.username,
                        &user.secret,
                        &user.description,
                        &tags,
                        kms_key_id,
                    )
                },
                write_throttled,
            )
            .await?;
        }
        Action::Update => {
            if user.secret_changes() {
                call(
                    || aws.secrets.put(&user.username, &user.secret),
                    write_throttled,
                )
                .await?;
            }
            if !tags.is_empty() {
                call(|| aws.secrets.tag(&user.username, &tags), write_throttled).await?;
            }
        }
        Action::Unchanged => {}
    }
    Ok(())
}

fn print_tables(
    plan: &Plan,
    prefix: &str,
    applied: bool,
    results: &BTreeMap<String, Result<Action, String>>,
    counts: &ImportCounts,
) {
    if !plan.rejected.is_empty() {
        out(format!(
            "Rejected rows ({}): nothing is written for them.",
            plan.rejected.len()
        ));
        out(report::render(&report::rejections(&plan.rejected)));
    }
    if counts.created + counts.updated + counts.failed > 0 {
        out(if applied { "Changes made:" } else { "Plan:" });
        out(report::render(&report::plan_table(plan, prefix)));
    }
    let failures: Vec<Rejection> = plan
        .users
        .iter()
        .filter_map(|p| {
            let Some(Err(error)) = results.get(&p.user.username) else {
                return None;
            };
            Some(Rejection {
                row: p.user.row,
                sno: p.user.sno.clone(),
                username: p.user.username.clone(),
                reasons: vec![error.clone()],
            })
        })
        .collect();
    if !failures.is_empty() {
        out("Failed (the change was not completed):");
        let mut table = report::rejections(&failures);
        table.set_header(vec!["Row", "Sno", "Username", "What failed"]);
        out(report::render(&table));
    }
    out(report::render(&report::import_summary(counts, applied)));
    if !applied && counts.created + counts.updated > 0 {
        out("Dry run: nothing was written. Run again with --apply to make these changes.");
    } else if !applied {
        out("Nothing to change.");
    }
}

/// `--output json`: the plan (or what was done), the rejected rows and the counts.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonReport<'a> {
    applied: bool,
    users: Vec<JsonUser>,
    rejected: &'a [Rejection],
    counts: &'a ImportCounts,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonUser {
    row: u64,
    sno: String,
    username: String,
    action: Action,
    changes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl<'a> JsonReport<'a> {
    fn new(
        plan: &'a Plan,
        prefix: &str,
        applied: bool,
        results: &BTreeMap<String, Result<Action, String>>,
        counts: &'a ImportCounts,
    ) -> Self {
        JsonReport {
            applied,
            users: plan
                .users
                .iter()
                .map(|p| JsonUser {
                    row: p.user.row,
                    sno: p.user.sno.clone(),
                    username: p.user.username.clone(),
                    action: p.action,
                    changes: report::changes(p, prefix),
                    error: match results.get(&p.user.username) {
                        Some(Err(e)) => Some(e.clone()),
                        _ => None,
                    },
                })
                .collect(),
            rejected: &plan.rejected,
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn write_error(throttled: bool) -> WriteError {
        WriteError {
            operation: "PutSecretValue",
            message: "ThrottlingException: Rate exceeded".into(),
            throttled,
        }
    }

    #[tokio::test]
    async fn a_throttled_write_is_tried_again_and_goes_through() {
        let attempts = AtomicUsize::new(0);
        let result = call(
            || async {
                match attempts.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(write_error(true)),
                    _ => Ok(()),
                }
            },
            |e: &WriteError| e.throttled,
        )
        .await;

        assert_eq!(result, Ok(()));
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_write_refused_for_another_reason_is_not_repeated() {
        let attempts = AtomicUsize::new(0);
        let result: Result<(), String> = call(
            || async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err(write_error(false))
            },
            |e: &WriteError| e.throttled,
        )
        .await;

        assert!(result.unwrap_err().starts_with("PutSecretValue failed"));
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
    }
}
