//! The identity provider on the local stack: logins the way AWS Transfer Family makes them,
//! through the API Gateway route (the proxy's stand-in) and with the direct Lambda event, the
//! users' secrets in moto's Secrets Manager.

use anyhow::Result;
use devstack::deployment;
use devstack::idp::{self, Login};
use devstack::stack::{LocalStack, StackOptions};
use serde_json::{Value, json};

const BPAY_PASSWORD: &str = "example-Passw0rd-bpay-2026";
const ROLE: &str = "arn:aws:iam::123456789012:role/TransferS3AccessRole";

fn sample(user: &str) -> Value {
    let path = devstack::workspace_root().join(format!("test-events/users/{user}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The stack with the sample users, plus `bank@example.com` (anz-bank's secret in a folder of
/// its own) and bankwest-legacy's key dated 13 months before today (past the 12-month limit).
async fn stack_with_users() -> Result<LocalStack> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    deployment
        .seed_users(&devstack::workspace_root().join("test-events/users"))
        .await?;
    let mut at = sample("anz-bank");
    at["HomeDirectoryDetails"] =
        json!([{"Entry": "/", "Target": "/sftp-landing/payments/bank@example.com"}]);
    deployment
        .put_user("bank@example.com", &at.to_string())
        .await?;
    let mut bankwest = sample("bankwest-legacy");
    let thirteen_months_ago = chrono::Utc::now().date_naive() - chrono::Months::new(13);
    let key = bankwest["PublicKey"].as_str().unwrap().to_owned();
    let (head, _) = key.rsplit_once('=').unwrap();
    bankwest["PublicKey"] = json!(format!("{head}={}", thirteen_months_ago.format("%Y%m%d")));
    deployment
        .put_user("bankwest-legacy", &bankwest.to_string())
        .await?;
    Ok(stack)
}

/// The answer through API Gateway, which must be HTTP 200 whatever the decision.
fn ask(stack: &LocalStack, login: &Login) -> Value {
    let (status, body) = idp::via_api_gateway(stack, login).unwrap();
    assert_eq!(status, 200, "{login:?}: {body}");
    body
}

#[track_caller]
fn assert_granted(answer: &Value, home: &str, keys: Option<usize>) {
    assert_eq!(answer["Role"], ROLE, "{answer}");
    assert_eq!(answer["HomeDirectoryType"], "LOGICAL");
    let details: Value = serde_json::from_str(
        answer["HomeDirectoryDetails"]
            .as_str()
            .expect("a JSON string"),
    )
    .unwrap();
    assert_eq!(details, json!([{"Entry": "/", "Target": home}]));
    let policy: Value = serde_json::from_str(answer["Policy"].as_str().unwrap()).unwrap();
    assert_eq!(
        policy["Statement"][1]["Resource"],
        format!("arn:aws:s3:::{}/*", &home[1..])
    );
    assert_eq!(
        answer
            .get("PublicKeys")
            .and_then(Value::as_array)
            .map(Vec::len),
        keys,
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transfer_logins_through_api_gateway_get_granted_or_an_empty_answer() -> Result<()> {
    let stack = stack_with_users().await?;

    let granted = ask(
        &stack,
        &Login::password("bpay-batch", BPAY_PASSWORD, "203.0.113.200"),
    );
    assert_granted(&granted, "/sftp-landing/payments/bpay-batch", None);

    let key = ask(&stack, &Login::key("anz-bank", "2001:db8:a0::7"));
    assert_granted(&key, "/sftp-landing/payments/anz-bank", Some(1));
    let only_key = key["PublicKeys"][0].as_str().unwrap();
    assert_eq!(
        only_key.split(' ').count(),
        2,
        "TYPE BASE64 only: {only_key}"
    );

    // The username travels URL-encoded (%40) and is decoded once.
    let encoded = Login::key("bank@example.com", "203.0.113.10");
    assert!(encoded.path().contains("bank%40example.com"));
    assert_granted(
        &ask(&stack, &encoded),
        "/sftp-landing/payments/bank@example.com",
        Some(1),
    );

    let admin = ask(&stack, &Login::key("PaymentsAdmin", "192.0.2.20"));
    assert_granted(&admin, "/sftp-landing/payments", Some(1));

    for denied in [
        Login::password("bpay-batch", "example-Passw0rd-bpay-2025", "203.0.113.200"),
        Login::password("bpay-batch", BPAY_PASSWORD, "203.0.113.201"),
        Login::key("bpay-batch", "203.0.113.200"),
        Login::key("anz-bank", "198.51.100.1"),
        Login::key("anz-bank", "2001:db8:b0::1"),
        Login::key("bankwest-legacy", "192.0.2.110"),
        Login::key("visa-clearing", "203.0.113.41"),
        Login::key("nobody-at-all", "203.0.113.10"),
        Login::key("../PaymentsAdmin", "192.0.2.20"),
    ] {
        assert_eq!(ask(&stack, &denied), json!({}), "{denied:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_direct_event_gets_the_same_answers_and_every_login_is_logged_once() -> Result<()> {
    let stack = stack_with_users().await?;

    let granted = idp::via_lambda(
        &stack,
        &Login::password("bpay-batch", BPAY_PASSWORD, "203.0.113.200"),
    )?;
    assert_granted(&granted, "/sftp-landing/payments/bpay-batch", None);
    let keys = idp::via_lambda(&stack, &Login::key("westpac-h2h", "198.51.100.17"))?;
    assert_granted(&keys, "/sftp-landing/payments/westpac-h2h", Some(2));
    let wrong = Login::password("bpay-batch", "Wrong-Passw0rd-Attempt", "203.0.113.200");
    assert_eq!(idp::via_lambda(&stack, &wrong)?, json!({}));
    let expired = idp::via_lambda(&stack, &Login::key("bankwest-legacy", "192.0.2.111"))?;
    assert_eq!(expired, json!({}));
    assert_eq!(
        idp::via_api_gateway(&stack, &Login::key("anz-bank", "198.51.100.1"))?,
        (200, json!({}))
    );

    let decisions = idp::decisions(&stack)?;
    let summary: Vec<(String, String, String)> = decisions
        .iter()
        .map(|line| {
            let text = |name| idp::field(line, name).as_str().unwrap_or("-").to_owned();
            (text("user"), text("outcome"), text("reason"))
        })
        .collect();
    let expected = [
        ("bpay-batch", "granted", "-"),
        ("westpac-h2h", "granted", "-"),
        ("bpay-batch", "denied", "wrong-password"),
        ("bankwest-legacy", "denied", "no-usable-key"),
        ("anz-bank", "denied", "source-ip-not-allowed"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(u, o, r)| (u.to_string(), o.to_string(), r.to_string()))
        .collect();
    assert_eq!(summary, expected);
    for line in &decisions {
        for name in ["server", "protocol", "source_ip", "login"] {
            assert!(idp::field(line, name).is_string(), "{name} missing: {line}");
        }
    }

    let log = std::fs::read_to_string(stack.log_dir.join("identity-provider.log"))?;
    let westpac = sample("westpac-h2h");
    let comment = westpac["PublicKey"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    for secret in [BPAY_PASSWORD, "Wrong-Passw0rd-Attempt", comment.as_str()] {
        assert!(!log.contains(secret), "the log holds {secret}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_most_verbose_log_level_no_password_reaches_the_function_log() -> Result<()> {
    let mut options = StackOptions::default();
    options
        .function_env
        .push(("AWS_LAMBDA_LOG_LEVEL".into(), "TRACE".into()));
    let stack = LocalStack::start(options)?;
    let deployment = deployment::deploy(&stack).await?;
    deployment
        .seed_users(&devstack::workspace_root().join("test-events/users"))
        .await?;

    for login in [
        Login::password("bpay-batch", BPAY_PASSWORD, "203.0.113.200"),
        Login::password("bpay-batch", "Wrong-Passw0rd-at-TRACE", "203.0.113.200"),
    ] {
        ask(&stack, &login);
        tokio::task::block_in_place(|| idp::via_lambda(&stack, &login))?;
    }

    let log = std::fs::read_to_string(stack.log_dir.join("identity-provider.log"))?;
    assert!(
        log.contains("Login request answered"),
        "the function logged at DEBUG and below: the level took effect"
    );
    assert!(log.contains("\"reason\":\"wrong-password\""), "{log}");
    for password in [BPAY_PASSWORD, "Wrong-Passw0rd-at-TRACE"] {
        assert!(!log.contains(password), "a password reached the log");
    }
    Ok(())
}
