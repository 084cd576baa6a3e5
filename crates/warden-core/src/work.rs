//! Where a run keeps what is too large for Step Functions' state (256 KiB, and every byte of it
//! in the history): the work bucket, under `runs/<state machine>/<execution name>/`.
//!
//! The state carries keys and counts; the files hold the batches of usernames, the admins, each
//! batch's reports, the emails and their outcomes, the plans and the full summaries. A lifecycle
//! rule expires them (template.yaml), so nothing here is kept longer than an audit needs.

use serde::{Deserialize, Serialize};

/// Which run a function works for: the state machine's name and the execution's. Every task
/// gets it from the state (`$$.StateMachine.Name`, `$$.Execution.Name` of the parent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub state_machine: String,
    pub execution: String,
}

/// An object in the work bucket, as the state names it for an `ItemReader` or a `ResultWriter`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkFile {
    pub bucket: String,
    pub key: String,
}

impl WorkFile {
    /// `s3://bucket/key`, for people.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

impl Run {
    /// `runs/<state machine>/<execution>/`: execution names are unique per state machine.
    pub fn prefix(&self) -> String {
        format!(
            "runs/{}/{}/",
            key_segment(&self.state_machine),
            key_segment(&self.execution)
        )
    }

    /// The key of a file of this run, e.g. `run.key("batches.json")`.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix())
    }

    /// The key of the `index`th file of a numbered set, e.g. `reports/000042.json`: zero-padded
    /// so that listing the prefix returns them in order.
    pub fn numbered(&self, set: &str, index: usize) -> String {
        format!("{}{set}/{index:06}.json", self.prefix())
    }

    /// The prefix under which a numbered set's files live, e.g. `…/reports/`.
    pub fn set_prefix(&self, set: &str) -> String {
        format!("{}{set}/", self.prefix())
    }
}

/// A name made safe as one key segment: Step Functions names are `A-Za-z0-9-_` already; anything
/// else (a hand-made test name) becomes `_`, and `/` can never split the segment.
pub(crate) fn key_segment(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Longest execution name Step Functions accepts.
pub const MAX_EXECUTION_NAME: usize = 80;

/// `text` as a Step Functions execution name: characters outside `A-Za-z0-9-_` become `_`,
/// and a name longer than [`MAX_EXECUTION_NAME`] keeps its end (the part that makes it unique:
/// a batch id, a week, a message id).
pub fn execution_name(text: &str) -> String {
    let name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let skip = name.len().saturating_sub(MAX_EXECUTION_NAME);
    name[skip..].to_owned()
}

/// The index of a numbered file from its key (`…/reports/000042.json` → 42).
pub fn index_of(key: &str) -> Option<usize> {
    key.rsplit('/').next()?.strip_suffix(".json")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_execution_name_keeps_to_step_functions_rules_and_its_end() {
        assert_eq!(
            execution_name("weekly-audit-2026-W49"),
            "weekly-audit-2026-W49"
        );
        assert_eq!(execution_name("a:b/c d"), "a_b_c_d");
        let long = format!("{}-unique-end", "x".repeat(100));
        let name = execution_name(&long);
        assert_eq!(name.len(), MAX_EXECUTION_NAME);
        assert!(name.ends_with("-unique-end"));
    }

    fn run() -> Run {
        Run {
            state_machine: "secret-validation".into(),
            execution: "weekly-audit-2026-W49".into(),
        }
    }

    #[test]
    fn every_file_of_a_run_lives_under_its_state_machine_and_execution() {
        let run = run();
        assert_eq!(
            run.prefix(),
            "runs/secret-validation/weekly-audit-2026-W49/"
        );
        assert_eq!(
            run.key("batches.json"),
            "runs/secret-validation/weekly-audit-2026-W49/batches.json"
        );
        assert_eq!(
            run.numbered("reports", 42),
            "runs/secret-validation/weekly-audit-2026-W49/reports/000042.json"
        );
        assert_eq!(index_of(&run.numbered("reports", 42)), Some(42));
    }

    #[test]
    fn a_name_cannot_climb_out_of_its_segment() {
        let run = Run {
            state_machine: "../x".into(),
            execution: "a/b c".into(),
        };
        assert_eq!(run.prefix(), "runs/.._x/a_b_c/");
    }
}
