//! Summarise a prefix-list sync: folds the IPv4 and IPv6 branches into the execution's output
//! (per list what was added and removed, what fits nowhere, the EC2 calls made, the problems)
//! and, when anything needs a person, the email to the SuperAdmins. No AWS call.

use lambda_runtime::{LambdaEvent, run, service_fn, tracing};
use std::convert::Infallible;
use warden_core::prefix_lists::report::{SummaryInput, SyncReport, summarise};

/// Summarising cannot fail; a malformed input is rejected by the runtime's deserialiser.
async fn handler(event: LambdaEvent<SummaryInput>) -> Result<SyncReport, Infallible> {
    let report = summarise(&event.payload);
    let summary = &report.summary;
    for list in &summary.lists {
        tracing::info!(
            family = list.family.as_str(),
            list = %list.id,
            name = %list.name,
            added = list.added.len(),
            removed = list.removed.len(),
            entries = list.entries,
            max_entries = list.max_entries,
            "Prefix list synced"
        );
    }
    for problem in &summary.problems {
        tracing::error!(problem = %problem, "Step 3.8 : Prefix-list sync problem for the SuperAdmins");
    }
    tracing::info!(
        in_sync = summary.in_sync,
        ec2_reads = summary.ec2_calls.reads,
        ec2_writes = summary.ec2_calls.writes,
        secret_reads = summary.secret_reads,
        emails = report.emails.len(),
        "Prefix-list sync summarised"
    );
    Ok(report)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    warden_lambda::init_logging();
    run(service_fn(handler)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use serde_json::json;

    /// The Parallel state's output as the state machine passes it on.
    fn families(v4_lists: serde_json::Value) -> LambdaEvent<SummaryInput> {
        let input = json!({"families": [
            {"family": "IPv4", "trigger": "secretChange", "event": "PutSecretValue of SFTP/bank1",
             "superAdmins": ["root@ops.example.com"], "reads": 2, "usersRead": 3,
             "lists": v4_lists},
            {"family": "IPv6", "superAdmins": ["root@ops.example.com"], "reads": 1, "lists": []}
        ]});
        LambdaEvent::new(serde_json::from_value(input).unwrap(), Context::default())
    }

    #[tokio::test]
    async fn the_output_lists_per_list_what_was_added_and_removed() {
        let lists = json!([{"id": "pl-a", "name": "a-AUTOMATED_PREFIX", "maxEntries": 10,
            "version": 5, "entries": 2, "added": ["1.1.1.1/32"], "removed": ["2.2.2.2/32"],
            "writes": 2, "finalState": "modify-complete"}]);

        let report = handler(families(lists)).await.unwrap();

        let summary = serde_json::to_value(&report.summary).unwrap();
        assert_eq!(summary["inSync"], true);
        assert_eq!(summary["event"], "PutSecretValue of SFTP/bank1");
        assert_eq!(summary["lists"][0]["added"], json!(["1.1.1.1/32"]));
        assert_eq!(summary["lists"][0]["removed"], json!(["2.2.2.2/32"]));
        assert_eq!(summary["ec2Calls"], json!({"reads": 3, "writes": 2}));
        assert!(report.emails.is_empty());
    }

    #[tokio::test]
    async fn a_failed_list_is_mailed_to_the_super_admins_once() {
        let lists = json!([{"id": "pl-a", "name": "a-AUTOMATED_PREFIX", "maxEntries": 10,
            "version": 5, "entries": 2, "pending": [{"add": [{"cidr": "1.1.1.1/32", "description": "bank1"}]}],
            "failure": {"Error": "PrefixListBusy", "Cause": "{\"errorType\":\"PrefixListBusy\",\"errorMessage\":\"prefix list pl-a is still applying a change\"}"}}]);

        let report = handler(families(lists)).await.unwrap();

        assert!(!report.summary.in_sync);
        assert_eq!(report.emails.len(), 1);
        assert_eq!(report.emails[0].to, ["root@ops.example.com"]);
        assert!(
            report.emails[0]
                .body
                .contains("prefix list pl-a is still applying a change"),
            "{}",
            report.emails[0].body
        );
    }
}
