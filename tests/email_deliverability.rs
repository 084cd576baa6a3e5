//! Email that still reaches someone when an address bounces (DESIGN.md section 4), on the local
//! stack: SES's suppression list (which moto lacks) is held by the proxy, every message goes
//! through the configuration set with its tags, a partner's notice goes to its admin when the
//! partner's addresses are suppressed, nothing is sent to a suppressed address, and a bounce
//! event starts a validation of whoever holds the address.

use anyhow::{Context, Result};
use devstack::deployment::{self, SentEmail};
use devstack::stack::{LocalStack, StackOptions};
use serde_json::{Value, json};
use std::time::Duration;
use warden_core::suppression::SuppressionReason;

const SUPER_ADMINS: [&str; 2] = ["platform-oncall@example.com", "sftp-superadmin@example.com"];
const PAYMENTS: &str = "payments-sftp@example.com";
const ING: [&str; 2] = ["ops-oncall@ing.example.org", "sftp@ing.example.org"];
const BANKWEST: &str = "it-ops@bankwest.example.net";

fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn rerouted(sent: &[SentEmail]) -> Vec<&SentEmail> {
    sent.iter()
        .filter(|e| e.subject.starts_with("Undeliverable to the partner"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn suppressed_addresses_get_nothing_their_notices_reach_the_admins_and_a_bounce_rechecks_the_holder()
-> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    deployment
        .seed_users(&devstack::workspace_root().join("test-events/users"))
        .await?;
    // ing-direct's two addresses bounced; bankwest-legacy's only address complained.
    for address in ING {
        deployment
            .suppress(address, SuppressionReason::Bounce)
            .await?;
    }
    deployment
        .suppress(BANKWEST, SuppressionReason::Complaint)
        .await?;

    let weekly = json!({"mode": "all", "notifySourceSystems": true, "asOf": "2026-11-21"});
    let execution = deployment
        .run("secret-validation", &weekly, Duration::from_secs(300))
        .await?;

    assert_eq!(execution.status, "SUCCEEDED", "{execution:?}");
    let output = execution.output.clone().context("the run's summary")?;
    assert_eq!(output["emailsRerouted"], 2, "{output:#}");
    let sent = deployment.sent_emails()?;
    assert!(!sent.is_empty());

    // Nothing went to a suppressed address, and every message went through the configuration
    // set, with both parts and the tags that lead an SES event back to the email's file.
    let run_name = execution.arn.rsplit(':').next().unwrap();
    for email in &sent {
        for address in email.to.iter().chain(&email.cc) {
            assert!(
                !ING.contains(&address.as_str()) && address != BANKWEST,
                "sent to suppressed {address}: {:?}",
                email.subject
            );
        }
        assert!(email.suppressed_recipients.is_empty(), "{email:?}");
        assert_eq!(email.configuration_set_name.as_deref(), Some("sftp-warden"));
        assert!(
            email
                .html
                .as_deref()
                .is_some_and(|h| h.starts_with("<!DOCTYPE html>"))
        );
        assert_eq!(email.email_tags["workflow"], "secret-validation");
        assert_eq!(email.email_tags["stateMachine"], "secret-validation");
        assert_eq!(email.email_tags["run"], run_name);
        assert!(email.email_tags["email"].parse::<usize>().is_ok());
    }

    // The two partners' notices reached their admins, saying why.
    let rerouted = rerouted(&sent);
    assert_eq!(
        rerouted.len(),
        2,
        "{:#?}",
        sent.iter().map(|e| &e.subject).collect::<Vec<_>>()
    );
    let ing = rerouted
        .iter()
        .find(|e| e.subject.contains("ing-direct"))
        .context("ing-direct's rerouted notice")?;
    assert_eq!(ing.to, [PAYMENTS]);
    assert!(ing.cc.is_empty());
    assert!(
        ing.body.contains("ops-oncall@ing.example.org bounced"),
        "{}",
        ing.body
    );
    assert_eq!(ing.email_tags["rerouted"], "true");
    let bankwest = rerouted
        .iter()
        .find(|e| e.subject.contains("bankwest-legacy"))
        .context("bankwest-legacy's rerouted notice")?;
    // TreasuryAdmin has no valid address: the SuperAdmins.
    let mut to: Vec<&str> = bankwest.to.iter().map(String::as_str).collect();
    to.sort();
    assert_eq!(to, sorted(&SUPER_ADMINS));
    assert!(
        bankwest
            .body
            .contains("it-ops@bankwest.example.net complained")
    );

    // And the admins were told to fix the addresses: a rule 4 finding in their digest.
    let payments_digest = sent
        .iter()
        .find(|e| e.to == [PAYMENTS] && e.subject.starts_with("sftp-warden:"))
        .context("the digest to PaymentsAdmin")?;
    assert!(
        payments_digest.body.contains(
            "Rule 4 (email format): Email address \"ops-oncall@ing.example.org\" bounced"
        )
    );
    let html = payments_digest.html.as_deref().unwrap();
    assert!(html.contains("<table") && html.contains("4 (email format)"));

    // PaymentsAdmin's own address complains about that digest: SES suppresses it and sends the
    // event; handle-email-events finds whose address it was from the message's tags and checks
    // that admin again, at once.
    deployment
        .suppress(PAYMENTS, SuppressionReason::Complaint)
        .await?;
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(
        devstack::workspace_root().join("test-events/ses/complaint.json"),
    )?)?;
    event["detail"]["complaint"]["complainedRecipients"] = json!([{"emailAddress": PAYMENTS}]);
    event["detail"]["mail"]["messageId"] = json!(payments_digest.message_id);
    let tags = &mut event["detail"]["mail"]["tags"];
    for (name, value) in &payments_digest.email_tags {
        tags[name] = json!([value]);
    }
    let handled = stack.invoke("handle-email-events", &event)?;
    assert_eq!(handled["action"], "validationStarted", "{handled}");
    assert_eq!(handled["holders"], json!(["PaymentsAdmin"]));
    let name = handled["execution"]
        .as_str()
        .context("the execution started")?;
    let recheck = deployment
        .wait_for("secret-validation", name, Duration::from_secs(300))
        .await?;
    assert_eq!(recheck.status, "SUCCEEDED", "{recheck:?}");
    let summary = deployment.full_summary(&recheck).await?;
    assert!(
        summary["usersWithFindings"]
            .as_array()
            .is_some_and(|u| u.iter().any(|n| n == "PaymentsAdmin")),
        "{summary:#}"
    );
    // Its finding went to the SuperAdmins, not to the suppressed address.
    let after = deployment.sent_emails()?;
    let new: Vec<&SentEmail> = after[sent.len()..].iter().collect();
    assert!(!new.is_empty());
    for email in &new {
        assert!(
            !email.to.iter().chain(&email.cc).any(|a| a == PAYMENTS),
            "{email:?}"
        );
    }
    assert!(new.iter().any(|e| {
        e.body
            .contains("Email address \"payments-sftp@example.com\" complained")
    }));

    // A redelivered event starts nothing new.
    let again = stack.invoke("handle-email-events", &event)?;
    assert_eq!(again["action"], "alreadyStarted", "{again}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suppressed_super_admin_address_fails_the_run_visibly() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    deployment
        .seed_users(&devstack::workspace_root().join("test-events/users"))
        .await?;
    deployment
        .suppress(SUPER_ADMINS[0], SuppressionReason::Bounce)
        .await?;

    let execution = deployment
        .run(
            "secret-validation",
            &json!({"mode": "all"}),
            Duration::from_secs(300),
        )
        .await?;

    assert_eq!(execution.status, "FAILED", "{execution:?}");
    assert_eq!(execution.error.as_deref(), Some("RunIncomplete"));
    let cause = execution
        .cause_json
        .context("the bounded summary as the cause")?;
    assert!(
        cause["problems"]
            .as_array()
            .is_some_and(
                |p| p.iter().any(|p| p.as_str().is_some_and(|p| p.starts_with(
                    "SuperAdmin SFTPSuperAdmin gets no mail at platform-oncall@example.com bounced"
                )))
            ),
        "{cause:#}"
    );
    // The other SuperAdmin address still gets the mail; the suppressed one gets none.
    let sent = deployment.sent_emails()?;
    assert!(
        sent.iter()
            .any(|e| e.to.iter().any(|a| a == SUPER_ADMINS[1]))
    );
    assert!(
        !sent
            .iter()
            .any(|e| e.to.iter().chain(&e.cc).any(|a| a == SUPER_ADMINS[0]))
    );

    // Step Functions' status-change event for that run reaches report-failed-run, which tells the
    // SuperAdmins the run knew (less the suppressed one) what ended and how to look.
    let name = execution.arn.rsplit(':').next().unwrap();
    let change = json!({
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "detail": {
            "executionArn": execution.arn,
            "stateMachineArn": deployment.state_machine_arn("secret-validation")?,
            "name": name, "status": "FAILED",
            "error": execution.error, "cause": execution.cause,
        }
    });
    let reported = stack.invoke("report-failed-run", &change)?;
    assert_eq!(reported["told"], json!([SUPER_ADMINS[1]]), "{reported}");
    let after = deployment.sent_emails()?;
    let report = after
        .iter()
        .find(|e| e.subject == format!("sftp-warden: run {name} of secret-validation ended FAILED"))
        .context("the report of the failed run")?;
    assert_eq!(report.to, [SUPER_ADMINS[1]]);
    assert!(
        report
            .body
            .contains(&format!("sftp-warden runs show {name}"))
    );
    assert!(report.body.contains("Error: RunIncomplete"));
    assert_eq!(report.email_tags["kind"], "runFailed");
    Ok(())
}
