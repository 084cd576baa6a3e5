//! What the commands print: tables for people, plain values for `--output json`. Pure: every
//! function turns plain data into text, so the layout is unit-tested.

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use warden_core::validation::UserReport;

use crate::history::{RecordedError, StateVisit};
use crate::plan::{Action, Plan, Planned};
use crate::sheet::Rejection;
use crate::status::StatusCounts;

/// Width used when stdout is not a terminal (a pipe, a CI log): wide enough to read, narrow
/// enough that a long fix wraps instead of running off.
const PIPE_WIDTH: u16 = 160;

/// A table with a header, wrapped to the terminal (or [`PIPE_WIDTH`] when piped).
pub fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    if !table.is_tty() {
        table.set_width(PIPE_WIDTH);
    }
    table
}

/// The rows an import leaves out, and why.
pub fn rejections(rejected: &[Rejection]) -> Table {
    let mut t = table(["Row", "Sno", "Username", "Why it is rejected"]);
    for r in rejected {
        t.add_row(vec![
            r.row.to_string(),
            r.sno.clone(),
            warden_core::text::strip_unsafe(&r.username, 100),
            r.reasons.join("\n"),
        ]);
    }
    t
}

/// What will change (or changed) for one user, one item a line. Keys by fingerprint only.
pub fn changes(planned: &Planned, prefix: &str) -> Vec<String> {
    let user = &planned.user;
    let mut lines = Vec::new();
    match planned.action {
        Action::Create => {
            lines.push(format!("new secret {prefix}{}", user.username));
            if !user.keys_added.is_empty() {
                lines.push(format!("keys {}", user.keys_added.join(", ")));
            }
        }
        Action::Update if !user.changed_keys.is_empty() => {
            lines.push(format!("secret: {}", user.changed_keys.join(", ")));
            lines.extend(user.keys_added.iter().map(|k| format!("key added {k}")));
            lines.extend(user.keys_removed.iter().map(|k| format!("key removed {k}")));
        }
        Action::Update | Action::Unchanged => {}
    }
    for tag in &user.tag_changes {
        lines.push(match &tag.from {
            Some(from) => format!("tag {}: {from} → {}", tag.key, tag.to),
            None => format!("tag {} = {}", tag.key, tag.to),
        });
    }
    if planned.create_folder
        && let Some(folder) = &user.folder
    {
        lines.push(format!("landing folder {folder}"));
    }
    lines
}

/// The creates and updates of a plan (unchanged users are only counted).
pub fn plan_table(plan: &Plan, prefix: &str) -> Table {
    let mut t = table(["Row", "Username", "Action", "What changes"]);
    for planned in plan.users.iter().filter(|p| p.action != Action::Unchanged) {
        t.add_row(vec![
            planned.user.row.to_string(),
            planned.user.username.clone(),
            action_name(planned.action).to_owned(),
            changes(planned, prefix).join("\n"),
        ]);
    }
    t
}

pub fn action_name(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Unchanged => "unchanged",
    }
}

/// The counts at the end of an import.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportCounts {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: usize,
    pub failed: usize,
}

pub fn import_summary(counts: &ImportCounts, applied: bool) -> Table {
    let (create, update) = if applied {
        ("Created", "Updated")
    } else {
        ("To create", "To update")
    };
    let mut t = table([create, update, "Unchanged", "Rejected", "Failed"]);
    t.add_row(vec![
        counts.created.to_string(),
        counts.updated.to_string(),
        counts.unchanged.to_string(),
        counts.rejected.to_string(),
        counts.failed.to_string(),
    ]);
    t
}

/// Findings, one a line: who, which rule, what is wrong, how to fix it, and (for an audit) who
/// the validation workflow would tell.
pub fn findings(reports: &[(UserReport, Vec<String>)], with_recipients: bool) -> Table {
    let mut t = if with_recipients {
        table(["User", "Rule", "Finding", "How to fix", "Told"])
    } else {
        table(["User", "Rule", "Finding", "How to fix"])
    };
    for (report, told) in reports {
        for finding in &report.findings {
            let mut row = vec![
                report.username.clone(),
                format!("{} {}", finding.rule.number(), finding.rule.title()),
                format!("{} [{}]", finding.detail, finding.code),
                finding.fix(),
            ];
            if with_recipients {
                row.push(if told.is_empty() {
                    "nobody (no valid SuperAdmin address)".to_owned()
                } else {
                    told.join("\n")
                });
            }
            t.add_row(row);
        }
    }
    t
}

/// Keys due for rotation (rule 9), by fingerprint.
pub fn key_notices(reports: &[(UserReport, Vec<String>)]) -> Table {
    let mut t = table(["User", "Key", "Updated", "Age (months)", "Rotate by"]);
    for (report, _) in reports {
        for notice in &report.key_notices {
            t.add_row(vec![
                report.username.clone(),
                format!("{} {}", notice.algorithm, notice.fingerprint),
                notice.updated.to_string(),
                notice.age_months.to_string(),
                notice.refuse_after.to_string(),
            ]);
        }
    }
    t
}

/// Users per migration status with each one's share, as the tracker's pie chart showed.
pub fn status_counts(counts: &StatusCounts) -> Table {
    let mut t = table(["Migration status", "Users", "Share"]);
    let share = |n: usize| {
        if counts.total == 0 {
            "-".to_owned()
        } else {
            let percent = n as f64 * 100.0 / counts.total as f64;
            let bar = "█".repeat((percent / 5.0).round() as usize);
            format!("{percent:>5.1} % {bar}")
        }
    };
    for (status, n) in &counts.by_status {
        t.add_row(vec![status.label().to_owned(), n.to_string(), share(*n)]);
    }
    if counts.not_set > 0 {
        t.add_row(vec![
            "(no status tag)".to_owned(),
            counts.not_set.to_string(),
            share(counts.not_set),
        ]);
    }
    for (value, n) in &counts.unrecognised {
        t.add_row(vec![
            format!("(unknown: {value})"),
            n.to_string(),
            share(*n),
        ]);
    }
    t.add_row(vec![
        "Total".to_owned(),
        counts.total.to_string(),
        String::new(),
    ]);
    t
}

/// The path of states, one a line, with how often each was entered.
pub fn path_lines(path: &[StateVisit]) -> Vec<String> {
    path.iter()
        .map(|v| match v.times {
            1 => format!("→ {}", v.name),
            n => format!("→ {} (×{n})", v.name),
        })
        .collect()
}

/// The errors of a run, one a line.
pub fn error_lines(errors: &[RecordedError]) -> Vec<String> {
    errors
        .iter()
        .map(|e| {
            let place = e
                .state
                .as_deref()
                .map(|s| format!(" in \"{s}\""))
                .unwrap_or_default();
            let error = e.error.as_deref().unwrap_or("(no error name)");
            let cause = e
                .cause
                .as_deref()
                .map(|c| format!(": {}", warden_core::text::truncate(c, 300)))
                .unwrap_or_default();
            format!("{}{place}: {error}{cause}", e.what)
        })
        .collect()
}

/// A table as text without trailing spaces, for printing.
pub fn render(table: &Table) -> String {
    table.trim_fmt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Accepted, LandingFolder, TagChange};
    use crate::status::MigrationStatus;
    use warden_aws::secrets::SecretText;

    fn planned(action: Action) -> Planned {
        Planned {
            user: Accepted {
                row: 4,
                sno: "3".into(),
                username: "anz-bank".into(),
                secret: SecretText::new("{\"Password\":\"hunter2\"}"),
                existed: action != Action::Create,
                changed_keys: vec!["Email".into(), "PublicKey".into()],
                keys_added: vec!["SHA256:new".into()],
                keys_removed: vec!["SHA256:old".into()],
                tag_changes: vec![TagChange {
                    key: "MigrationStatus".into(),
                    from: Some("planned".into()),
                    to: "completed".into(),
                }],
                folder: Some(LandingFolder {
                    bucket: "b".into(),
                    key: Some("p/anz-bank/".into()),
                }),
                description: String::new(),
            },
            action,
            create_folder: true,
        }
    }

    #[test]
    fn an_update_names_keys_fingerprints_tags_and_the_folder() {
        assert_eq!(
            changes(&planned(Action::Update), "SFTP/"),
            [
                "secret: Email, PublicKey",
                "key added SHA256:new",
                "key removed SHA256:old",
                "tag MigrationStatus: planned → completed",
                "landing folder s3://b/p/anz-bank/",
            ]
        );
    }

    #[test]
    fn a_create_names_the_secret_and_its_keys() {
        let lines = changes(&planned(Action::Create), "SFTP/");
        assert_eq!(lines[0], "new secret SFTP/anz-bank");
        assert_eq!(lines[1], "keys SHA256:new");
    }

    #[test]
    fn the_plan_table_lists_changes_but_never_the_secret() {
        let plan = Plan {
            users: vec![planned(Action::Update), {
                let mut p = planned(Action::Unchanged);
                p.user.username = "quiet-bank".into();
                p
            }],
            rejected: vec![],
        };
        let text = render(&plan_table(&plan, "SFTP/"));
        assert!(text.contains("anz-bank") && text.contains("update"));
        assert!(
            !text.contains("quiet-bank"),
            "unchanged users are only counted"
        );
        assert!(!text.contains("hunter2"));
    }

    #[test]
    fn rejections_show_row_sno_user_and_every_reason() {
        let text = render(&rejections(&[Rejection {
            row: 7,
            sno: "6".into(),
            username: "bad\nname".into(),
            reasons: vec!["first".into(), "second".into()],
        }]));
        assert!(text.contains("│ 7 "), "{text}");
        assert!(text.contains("badname"));
        assert!(text.contains("first") && text.contains("second"));
    }

    #[test]
    fn status_shares_add_up_and_odd_tags_are_shown() {
        let counts =
            crate::status::count([Some("completed"), Some("completed"), None, Some("done")]);
        let text = render(&status_counts(&counts));
        assert!(text.contains("Migration completed"), "{text}");
        assert!(text.contains(" 50.0 %"));
        assert!(text.contains("(no status tag)"));
        assert!(text.contains("(unknown: done)"));
        assert_eq!(MigrationStatus::ALL.len(), 6);
    }

    #[test]
    fn a_path_collapses_repeats_and_errors_name_their_state() {
        let lines = path_lines(&[
            StateVisit {
                name: "A".into(),
                times: 1,
            },
            StateVisit {
                name: "B".into(),
                times: 3,
            },
        ]);
        assert_eq!(lines, ["→ A", "→ B (×3)"]);
        let errors = error_lines(&[RecordedError {
            what: "Lambda".into(),
            state: Some("Send this email".into()),
            error: Some("EmailRejected".into()),
            cause: Some("not verified".into()),
        }]);
        assert_eq!(
            errors,
            ["Lambda in \"Send this email\": EmailRejected: not verified"]
        );
    }
}
