//! The service's CloudWatch metrics, as Embedded Metric Format (EMF) lines: a function prints one
//! JSON object per line to stdout and CloudWatch Logs turns it into metrics, with no extra API
//! call. Every metric the code can emit is a [`Metric`], named once here; the dashboard in
//! `template.yaml` may only show these (a test checks it).
//!
//! Format (CloudWatch EMF specification): a root object holding `_aws` with `Timestamp`
//! (milliseconds since the epoch) and `CloudWatchMetrics`: directives of `Namespace`,
//! `Dimensions` (a list of dimension-name lists) and `Metrics` (`Name`, `Unit`); each dimension
//! and each metric is then a member of the root object with its value.

use serde_json::{Map, Value, json};

/// The namespace of every metric (template.yaml's dashboard reads it).
pub const NAMESPACE: &str = "sftp-warden";

/// A metric the service emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Users a validation run checked (dimension `Workflow`).
    UsersChecked,
    /// Findings of one rule in a validation run (dimension `Rule`: "1".."9").
    Findings,
    /// Keys due for rotation, and those past their deadline.
    KeysDue,
    KeysOverdue,
    /// Emails of a validation run: sent, sent to the admins instead of a suppressed partner,
    /// and not sent.
    EmailsSent,
    EmailsRerouted,
    EmailsFailed,
    /// One per login (dimension `Outcome`: `granted` or the denial's reason code).
    Logins,
    /// Per managed prefix list after a sync (dimension `PrefixList`): entries and free room.
    PrefixListEntries,
    PrefixListFreeRoom,
    /// CIDRs no managed list had room for after a sync.
    PrefixListOverflow,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::UsersChecked,
        Metric::Findings,
        Metric::KeysDue,
        Metric::KeysOverdue,
        Metric::EmailsSent,
        Metric::EmailsRerouted,
        Metric::EmailsFailed,
        Metric::Logins,
        Metric::PrefixListEntries,
        Metric::PrefixListFreeRoom,
        Metric::PrefixListOverflow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::UsersChecked => "UsersChecked",
            Metric::Findings => "Findings",
            Metric::KeysDue => "KeysDue",
            Metric::KeysOverdue => "KeysOverdue",
            Metric::EmailsSent => "EmailsSent",
            Metric::EmailsRerouted => "EmailsRerouted",
            Metric::EmailsFailed => "EmailsFailed",
            Metric::Logins => "Logins",
            Metric::PrefixListEntries => "PrefixListEntries",
            Metric::PrefixListFreeRoom => "PrefixListFreeRoom",
            Metric::PrefixListOverflow => "PrefixListOverflow",
        }
    }

    /// The dimension names it is emitted with (always these, in this order).
    pub fn dimensions(self) -> &'static [&'static str] {
        match self {
            Metric::Findings => &["Workflow", "Rule"],
            Metric::Logins => &["Outcome"],
            Metric::PrefixListEntries | Metric::PrefixListFreeRoom => &["PrefixList"],
            Metric::PrefixListOverflow => &["Workflow"],
            _ => &["Workflow"],
        }
    }
}

/// Longest dimension value kept (CloudWatch allows 1,024; ours are short names).
const MAX_DIMENSION_VALUE: usize = 250;

/// One EMF line: these metrics, all with the same dimension values, at `timestamp_ms`.
/// Metrics whose dimension names differ from `dimensions`' are a programming error, caught by
/// the tests of each emitter; they are left out rather than emitted wrongly.
pub fn line(timestamp_ms: i64, dimensions: &[(&str, &str)], values: &[(Metric, f64)]) -> Value {
    let names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let values: Vec<&(Metric, f64)> = values
        .iter()
        .filter(|(metric, _)| metric.dimensions() == names.as_slice())
        .collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [names],
                "Metrics": values
                    .iter()
                    .map(|(metric, _)| json!({"Name": metric.name(), "Unit": "Count"}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in dimensions {
        root.insert(
            (*name).to_owned(),
            Value::String(crate::text::strip_unsafe(value, MAX_DIMENSION_VALUE)),
        );
    }
    for (metric, value) in values {
        root.insert(metric.name().to_owned(), json!(value));
    }
    Value::Object(root)
}

/// The lines of a finished validation run: users checked, keys due and overdue, emails, and
/// findings for each of the nine rules (zero included, so a rule's line drops to zero when fixed).
pub fn validation_run(
    summary: &crate::secret_validation::Summary,
    timestamp_ms: i64,
) -> Vec<Value> {
    const WORKFLOW: &str = "secret-validation";
    let mut lines = vec![line(
        timestamp_ms,
        &[("Workflow", WORKFLOW)],
        &[
            (Metric::UsersChecked, summary.users_checked as f64),
            (Metric::KeysDue, summary.keys_due_for_rotation as f64),
            (Metric::KeysOverdue, summary.keys_overdue as f64),
            (Metric::EmailsSent, summary.emails_sent.len() as f64),
            (Metric::EmailsRerouted, summary.emails_rerouted as f64),
            (Metric::EmailsFailed, summary.emails_failed as f64),
        ],
    )];
    for rule in crate::validation::Rule::ALL {
        let key = format!("{} {}", rule.number(), rule.title());
        let count = summary.findings_per_rule.get(&key).copied().unwrap_or(0);
        lines.push(line(
            timestamp_ms,
            &[("Workflow", WORKFLOW), ("Rule", &rule.number().to_string())],
            &[(Metric::Findings, count as f64)],
        ));
    }
    lines
}

/// The line of one login: `granted`, or the denial's reason code.
pub fn login(outcome: &str, timestamp_ms: i64) -> Value {
    line(
        timestamp_ms,
        &[("Outcome", outcome)],
        &[(Metric::Logins, 1.0)],
    )
}

/// The lines of a finished prefix-list sync: each managed list's entries and free room, and the
/// CIDRs nothing had room for.
pub fn prefix_list_sync(
    summary: &crate::prefix_lists::report::SyncSummary,
    timestamp_ms: i64,
) -> Vec<Value> {
    let mut lines: Vec<Value> = summary
        .lists
        .iter()
        .map(|list| {
            line(
                timestamp_ms,
                &[("PrefixList", &list.name)],
                &[
                    (Metric::PrefixListEntries, list.entries as f64),
                    (
                        Metric::PrefixListFreeRoom,
                        list.max_entries.saturating_sub(list.entries) as f64,
                    ),
                ],
            )
        })
        .collect();
    lines.push(line(
        timestamp_ms,
        &[("Workflow", "prefix-list-sync")],
        &[(Metric::PrefixListOverflow, summary.overflow.len() as f64)],
    ));
    lines
}

/// What is wrong with `line` as an EMF document, or `None` when CloudWatch will accept it:
/// the checks of the EMF specification that matter here.
pub fn problem(line: &Value) -> Option<String> {
    let root = line.as_object()?;
    let aws = root.get("_aws")?.as_object()?;
    if !aws.get("Timestamp").is_some_and(Value::is_i64) {
        return Some("_aws.Timestamp must be an integer (ms since the epoch)".into());
    }
    let Some(directives) = aws.get("CloudWatchMetrics").and_then(Value::as_array) else {
        return Some("_aws.CloudWatchMetrics must be an array".into());
    };
    for directive in directives {
        if !directive
            .get("Namespace")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty() && n.len() <= 255)
        {
            return Some("a directive needs a Namespace of 1 to 255 characters".into());
        }
        let Some(sets) = directive.get("Dimensions").and_then(Value::as_array) else {
            return Some("a directive needs Dimensions: a list of lists".into());
        };
        for set in sets {
            let Some(set) = set.as_array() else {
                return Some("each dimension set must be a list".into());
            };
            if set.len() > 30 {
                return Some("a dimension set holds at most 30 dimensions".into());
            }
            for name in set {
                let value = name.as_str().and_then(|n| root.get(n));
                if !value.is_some_and(Value::is_string) {
                    return Some(format!("dimension {name} has no string value"));
                }
            }
        }
        let Some(metrics) = directive.get("Metrics").and_then(Value::as_array) else {
            return Some("a directive needs Metrics".into());
        };
        if metrics.len() > 100 {
            return Some("a directive holds at most 100 metrics".into());
        }
        for metric in metrics {
            let name = metric.get("Name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() || !root.get(name).is_some_and(Value::is_number) {
                return Some(format!("metric {name:?} has no number value"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_valid_emf_with_its_dimensions_and_values() {
        let line = line(
            1_796_000_000_000,
            &[("Workflow", "secret-validation")],
            &[(Metric::UsersChecked, 20.0), (Metric::EmailsSent, 5.0)],
        );
        assert_eq!(problem(&line), None, "{line}");
        assert_eq!(line["Workflow"], "secret-validation");
        assert_eq!(line["UsersChecked"], 20.0);
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Workflow"]])
        );
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][1],
            json!({"Name": "EmailsSent", "Unit": "Count"})
        );
    }

    #[test]
    fn a_metric_is_only_emitted_with_its_own_dimensions() {
        let line = line(
            1,
            &[("Outcome", "granted")],
            &[(Metric::Logins, 1.0), (Metric::UsersChecked, 3.0)],
        );
        assert_eq!(problem(&line), None);
        assert!(line.get("UsersChecked").is_none());
        assert_eq!(line["Logins"], 1.0);
    }

    #[test]
    fn the_checker_refuses_what_cloudwatch_would_refuse() {
        let good = line(1, &[("Workflow", "w")], &[(Metric::KeysDue, 1.0)]);
        let mut no_value = good.clone();
        no_value.as_object_mut().unwrap().remove("KeysDue");
        assert!(problem(&no_value).unwrap().contains("KeysDue"));
        let mut no_dimension = good.clone();
        no_dimension.as_object_mut().unwrap().remove("Workflow");
        assert!(problem(&no_dimension).unwrap().contains("Workflow"));
        let mut float_time = good.clone();
        float_time["_aws"]["Timestamp"] = json!(1.5);
        assert!(problem(&float_time).is_some());
    }

    #[test]
    fn every_line_a_validation_run_a_login_and_a_sync_emit_is_valid_emf() {
        use crate::secret_validation::Summary;
        let summary: Summary = serde_json::from_value(json!({
            "trigger": "schedule", "scope": {"kind": "all"}, "asOf": "2026-11-21",
            "sourceSystemNotices": true, "usersChecked": 20, "usersWithFindings": ["a"],
            "findingsPerRule": {"3 email delimiter": 2}, "keysDueForRotation": 3, "keysOverdue": 1,
            "secretReads": 1, "emailsSent": [], "emailsRerouted": 1, "emailsFailed": 2,
            "problems": [], "complete": true
        }))
        .unwrap();
        let lines = validation_run(&summary, 1_796_000_000_000);
        assert_eq!(lines.len(), 10, "one line, then one per rule");
        for line in &lines {
            assert_eq!(problem(line), None, "{line}");
        }
        assert_eq!(lines[0]["KeysOverdue"], 1.0);
        assert_eq!(lines[0]["EmailsFailed"], 2.0);
        let rule3 = lines.iter().find(|l| l["Rule"] == "3").unwrap();
        assert_eq!(rule3["Findings"], 2.0);
        assert_eq!(
            lines.iter().find(|l| l["Rule"] == "9").unwrap()["Findings"],
            0.0
        );

        let login = login("wrong-password", 1);
        assert_eq!(problem(&login), None);
        assert_eq!(login["Outcome"], "wrong-password");

        let sync: crate::prefix_lists::report::SyncSummary = serde_json::from_value(json!({
            "inSync": true,
            "lists": [{"family": "IPv4", "id": "pl-1", "name": "sftp-ipv4-AUTOMATED_PREFIX",
                       "entries": 12, "maxEntries": 30, "added": [], "removed": []}],
            "overflow": [], "ec2Calls": {"reads": 1, "writes": 0}, "secretReads": 1,
            "usersRead": 3, "problems": []
        }))
        .unwrap();
        let lines = prefix_list_sync(&sync, 1);
        for line in &lines {
            assert_eq!(problem(line), None, "{line}");
        }
        assert_eq!(lines[0]["PrefixListFreeRoom"], 18.0);
        assert_eq!(lines[1]["PrefixListOverflow"], 0.0);
    }

    #[test]
    fn a_dimension_value_cannot_break_the_line() {
        let line = line(
            1,
            &[("PrefixList", "a\nb")],
            &[(Metric::PrefixListEntries, 1.0)],
        );
        assert_eq!(line["PrefixList"], "ab");
        assert!(!line.to_string().contains('\n'));
    }

    /// Every metric reference on the dashboard: `["sftp-warden", "Name", "Dim", "value", …]`
    /// arrays and `SEARCH('{sftp-warden,Dim,…} MetricName="Name"', …)` expressions, as
    /// (name, sorted dimension names).
    fn dashboard_metrics(body: &str) -> Vec<(String, Vec<String>)> {
        let mut found = Vec::new();
        let array = format!("[\"{NAMESPACE}\", ");
        for (at, _) in body.match_indices(&array) {
            let rest = &body[at + 1..];
            let items: Vec<String> = rest[..rest.find(']').unwrap()]
                .split(", ")
                .map(|item| item.trim_matches('"').to_owned())
                .collect();
            let mut dimensions: Vec<String> = items[2..].iter().step_by(2).cloned().collect();
            dimensions.sort();
            found.push((items[1].clone(), dimensions));
        }
        let search = format!("{{{NAMESPACE},");
        for (at, _) in body.match_indices(&search) {
            let rest = &body[at + search.len()..];
            let close = rest.find('}').unwrap();
            let mut dimensions: Vec<String> = rest[..close].split(',').map(str::to_owned).collect();
            dimensions.sort();
            let name_at = rest.find("MetricName=").unwrap() + "MetricName=".len();
            let name: String = rest[name_at..]
                .trim_start_matches(['\\', '"'])
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            found.push((name, dimensions));
        }
        found
    }

    /// The dashboard shows only metrics the code emits, with the dimensions they are emitted
    /// with, and every metric has a place on it.
    #[test]
    fn the_dashboard_shows_exactly_the_metrics_emitted() {
        let template =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
                .unwrap();
        let start = template
            .find("DashboardBody")
            .expect("template.yaml has a dashboard");
        let body = &template[start..];
        let body = &body[..body.find("\n  # ").unwrap_or(body.len())];
        let shown = dashboard_metrics(body);
        assert!(shown.len() >= Metric::ALL.len(), "{shown:?}");
        for (name, dimensions) in &shown {
            let metric = Metric::ALL
                .iter()
                .find(|m| m.name() == name)
                .unwrap_or_else(|| panic!("the dashboard shows {name}, which no code emits"));
            let mut emitted: Vec<String> = metric
                .dimensions()
                .iter()
                .map(|d| (*d).to_owned())
                .collect();
            emitted.sort();
            assert_eq!(dimensions, &emitted, "{name} on the dashboard");
        }
        for metric in Metric::ALL {
            assert!(
                shown.iter().any(|(name, _)| name == metric.name()),
                "{} is emitted but not on the dashboard",
                metric.name()
            );
        }
    }
}
