use super::*;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use lambda_runtime::Context;
use serde_json::json;

// The sample users (test-events/users, reference date 2026-11-21).
const ANZ: &str = include_str!("../../../test-events/users/anz-bank.json");
const BPAY: &str = include_str!("../../../test-events/users/bpay-batch.json");
const BANKWEST: &str = include_str!("../../../test-events/users/bankwest-legacy.json");
const WESTPAC: &str = include_str!("../../../test-events/users/westpac-h2h.json");
const JUDO: &str = include_str!("../../../test-events/users/judo-payroll.json");
const PAYMENTS: &str = include_str!("../../../test-events/users/PaymentsAdmin.json");
const SUPER: &str = include_str!("../../../test-events/users/SFTPSuperAdmin.json");
const VISA: &str = include_str!("../../../test-events/users/visa-clearing.json");
const CITI: &str = include_str!("../../../test-events/users/citi-custody.json");
const STRIPE: &str = include_str!("../../../test-events/users/stripe-payouts.json");
const ADYEN: &str = include_str!("../../../test-events/users/adyen-batch.json");
const MASTERCARD: &str = include_str!("../../../test-events/users/mastercard-ipm.json");

const BPAY_PASSWORD: &str = "example-Passw0rd-bpay-2026";
/// `argon2.low_level.hash_secret(b"pw", b"saltsaltsalt", time_cost=5, memory_cost=7168,
/// parallelism=1, hash_len=32, type=Type.ID)` (argon2-cffi: the reference C implementation)
const HASH_OF_PW: &str =
    "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
}

/// A user under the payments group whose secret stores only a password hash, in a folder
/// named after a username with `@`.
fn hashed_user() -> String {
    json!({
        "Name": "Hashed", "Email": "ops@hashed.example.com",
        "PublicKey": "ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202",
        "PasswordHash": HASH_OF_PW,
        "HomeDirectoryType": "LOGICAL",
        "HomeDirectoryDetails": [{"Entry": "/", "Target": "/sftp-landing/payments/bank@example.com"}],
        "GroupAdmin": "PaymentsAdmin",
        "Role": "arn:aws:iam::123456789012:role/TransferS3AccessRole",
        "IP": "198.51.100.0/24"
    })
    .to_string()
}

fn error(code: &str) -> GetSecretValueError {
    GetSecretValueError::generic(
        ErrorMetadata::builder()
            .code(code)
            .message("details")
            .build(),
    )
}

/// Secrets Manager as the tests see it: sample users, a few broken secrets, and errors.
fn lookup(secret_id: &str) -> MockResponse<GetSecretValueOutput, GetSecretValueError> {
    let text = match secret_id.strip_prefix("SFTP/").unwrap_or("") {
        "anz-bank" => ANZ.to_owned(),
        "bpay-batch" => BPAY.to_owned(),
        "bankwest-legacy" => BANKWEST.to_owned(),
        "westpac-h2h" => WESTPAC.to_owned(),
        "judo-payroll" => JUDO.to_owned(),
        "PaymentsAdmin" => PAYMENTS.to_owned(),
        "SFTPSuperAdmin" => SUPER.to_owned(),
        "visa-clearing" => VISA.to_owned(),
        "citi-custody" => CITI.to_owned(),
        "stripe-payouts" => STRIPE.to_owned(),
        "adyen-batch" => ADYEN.to_owned(),
        "mastercard-ipm" => MASTERCARD.to_owned(),
        "bank@example.com" => hashed_user(),
        "no-good-cidrs" => {
            let mut anz: Value = serde_json::from_str(ANZ).unwrap_or_default();
            anz["IP"] = json!("203.0.113.7/33, 0.0.0.0/0");
            anz["IPv6"] = json!("203.0.113.0/24");
            anz["HomeDirectoryDetails"] =
                json!([{"Entry": "/", "Target": "/sftp-landing/payments/no-good-cidrs"}]);
            anz.to_string()
        }
        "not-json" => "{\"Name\": ".to_owned(),
        "an-array" => "[]".to_owned(),
        "forbidden" => return MockResponse::Error(error("AccessDeniedException")),
        "undecryptable" => return MockResponse::Error(error("DecryptionFailure")),
        _ => return MockResponse::Error(error("ResourceNotFoundException")),
    };
    MockResponse::Output(
        GetSecretValueOutput::builder()
            .name(secret_id)
            .secret_string(text)
            .build(),
    )
}

/// Every GetSecretValue request the mock client served.
struct Lookups([aws_smithy_mocks::Rule; 2]);

impl Lookups {
    fn num_calls(&self) -> usize {
        self.0.iter().map(aws_smithy_mocks::Rule::num_calls).sum()
    }
}

/// Answers every GetSecretValue from [`lookup`], and throttles `SFTP/throttled` (with a rule of
/// its own: a retry reaches the rule without the request). Retries are quick so tests are too.
fn secrets() -> (UserSecrets, Lookups) {
    let throttled = mock!(Client::get_secret_value)
        .match_requests(|req| req.secret_id() == Some("SFTP/throttled"))
        .then_error(|| error("ThrottlingException"));
    let rest = mock!(Client::get_secret_value)
        .then_compute_response(|req| lookup(req.secret_id().unwrap_or_default()));
    let client = mock_client!(
        aws_sdk_secretsmanager,
        RuleMode::MatchAny,
        [&throttled, &rest],
        |c| {
            c.retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1)),
            )
        }
    );
    (
        UserSecrets::new(client, "SFTP/"),
        Lookups([throttled, rest]),
    )
}

fn policy() -> LoginPolicy {
    let mut policy = LoginPolicy::default();
    policy.rules.transfer_role_arn =
        Some("arn:aws:iam::123456789012:role/TransferS3AccessRole".into());
    policy
}

fn direct(username: &str, password: Option<&str>, source_ip: Option<&str>) -> Value {
    let mut event =
        json!({"username": username, "protocol": "SFTP", "serverId": "s-1234567890abcdef0"});
    if let Some(password) = password {
        event["password"] = json!(password);
    }
    if let Some(ip) = source_ip {
        event["sourceIp"] = json!(ip);
    }
    event
}

/// An API Gateway REST proxy event; `raw_username` is the path segment as sent (URL-encoded).
fn api(raw_username: &str, password: Option<&str>, source_ip: &str) -> Value {
    let headers = match password {
        Some(p) => json!({"Password": p, "Host": "example.execute-api.amazonaws.com"}),
        None => json!({"Host": "example.execute-api.amazonaws.com"}),
    };
    json!({
        "resource": "/servers/{serverId}/users/{username}/config",
        "path": format!("/servers/s-1234567890abcdef0/users/{raw_username}/config"),
        "httpMethod": "GET",
        "headers": headers,
        "queryStringParameters": {"protocol": "SFTP", "sourceIp": source_ip},
        "pathParameters": {"serverId": "s-1234567890abcdef0", "username": raw_username},
        "requestContext": {"resourcePath": "/servers/{serverId}/users/{username}/config", "httpMethod": "GET"},
        "body": null,
        "isBase64Encoded": false
    })
}

fn with(mut event: Value, pointer: &str, value: Value) -> Value {
    if let Some(slot) = event.pointer_mut(pointer) {
        *slot = value;
    }
    event
}

/// What a case expects.
#[derive(Debug)]
enum Expect {
    /// Granted, with this home folder and this many keys (`None`: a password login, no keys).
    Granted {
        home: &'static str,
        keys: Option<usize>,
    },
    Denied(&'static str),
}
use Expect::{Denied, Granted};

struct Case {
    name: &'static str,
    event: Value,
    expect: Expect,
    /// GetSecretValue requests expected (a throttled one counts each retry).
    lookups: usize,
}

fn case(name: &'static str, event: Value, expect: Expect) -> Case {
    Case {
        name,
        event,
        expect,
        lookups: 1,
    }
}

fn without_lookup(name: &'static str, event: Value, expect: Expect) -> Case {
    Case {
        name,
        event,
        expect,
        lookups: 0,
    }
}

fn cases() -> Vec<Case> {
    const ANZ_HOME: &str = "/sftp-landing/payments/anz-bank";
    const BPAY_HOME: &str = "/sftp-landing/payments/bpay-batch";
    let key = |home, keys| Granted {
        home,
        keys: Some(keys),
    };
    let password = |home| Granted { home, keys: None };
    vec![
        // Grants: key and password logins, both shapes, every role.
        case(
            "a key login from an allowed IPv4 address",
            direct("anz-bank", None, Some("203.0.113.10")),
            key(ANZ_HOME, 1),
        ),
        case(
            "a key login through API Gateway",
            api("anz-bank", None, "203.0.113.11"),
            key(ANZ_HOME, 1),
        ),
        case(
            "a key login from an allowed IPv6 address",
            direct("anz-bank", None, Some("2001:db8:a0::5")),
            key(ANZ_HOME, 1),
        ),
        case(
            "an IPv4-mapped IPv6 source counts as IPv4",
            direct("anz-bank", None, Some("::ffff:203.0.113.10")),
            key(ANZ_HOME, 1),
        ),
        case(
            "a user with two keys gets both",
            direct("westpac-h2h", None, Some("198.51.100.17")),
            key("/sftp-landing/payments/westpac-h2h", 2),
        ),
        case(
            "an IPv6-only user from its network",
            direct("judo-payroll", None, Some("2001:db8:f0:1::9")),
            key("/sftp-landing/payments/judo-payroll", 1),
        ),
        case(
            "a GroupAdmin gets its group folder",
            direct("PaymentsAdmin", None, Some("192.0.2.20")),
            key("/sftp-landing/payments", 1),
        ),
        case(
            "a SuperAdmin gets the bucket",
            direct("SFTPSuperAdmin", None, Some("2001:db8:0:10::1")),
            key("/sftp-landing", 1),
        ),
        case(
            "a password login with the right password",
            direct("bpay-batch", Some(BPAY_PASSWORD), Some("203.0.113.200")),
            password(BPAY_HOME),
        ),
        case(
            "a password login through API Gateway",
            api("bpay-batch", Some(BPAY_PASSWORD), "203.0.113.200"),
            password(BPAY_HOME),
        ),
        case(
            "the Password header in lower case",
            with(
                api("bpay-batch", None, "203.0.113.200"),
                "/headers",
                json!({"password": BPAY_PASSWORD}),
            ),
            password(BPAY_HOME),
        ),
        case(
            "a URL-encoded username with an Argon2id hash",
            api("bank%40example.com", Some("pw"), "198.51.100.9"),
            password("/sftp-landing/payments/bank@example.com"),
        ),
        case(
            "the same user in a direct event",
            direct("bank@example.com", Some("pw"), Some("198.51.100.9")),
            password("/sftp-landing/payments/bank@example.com"),
        ),
        // Credentials.
        case(
            "a wrong password",
            direct(
                "bpay-batch",
                Some("example-Passw0rd-bpay-2025"),
                Some("203.0.113.200"),
            ),
            Denied("wrong-password"),
        ),
        case(
            "a wrong password against a hash",
            api("bank%40example.com", Some("PW"), "198.51.100.9"),
            Denied("wrong-password"),
        ),
        case(
            "a password login for a key-only user",
            direct("anz-bank", Some("guess"), Some("203.0.113.10")),
            Denied("no-password-configured"),
        ),
        case(
            "a key login for a password-only user (placeholder key)",
            direct("bpay-batch", None, Some("203.0.113.200")),
            Denied("no-usable-key"),
        ),
        case(
            "an empty Password header is a key login",
            api("bpay-batch", Some(""), "203.0.113.200"),
            Denied("no-usable-key"),
        ),
        case(
            "a key past 12 months",
            direct("bankwest-legacy", None, Some("192.0.2.110")),
            Denied("no-usable-key"),
        ),
        case(
            "a key without a date and an RSA-1024 key",
            direct("adyen-batch", None, Some("198.51.100.70")),
            Denied("no-usable-key"),
        ),
        case(
            "a key with an impossible date",
            direct("mastercard-ipm", None, Some("192.0.2.65")),
            Denied("no-usable-key"),
        ),
        // Source IP.
        case(
            "an IPv4 address outside the CIDRs",
            direct("anz-bank", None, Some("198.51.100.1")),
            Denied("source-ip-not-allowed"),
        ),
        case(
            "an IPv6 address outside the CIDRs",
            direct("anz-bank", None, Some("2001:db8:b0::1")),
            Denied("source-ip-not-allowed"),
        ),
        case(
            "an IPv4 address for an IPv6-only user",
            direct("judo-payroll", None, Some("203.0.113.1")),
            Denied("source-ip-not-allowed"),
        ),
        case(
            "the right password from the wrong address",
            direct("bpay-batch", Some(BPAY_PASSWORD), Some("203.0.113.201")),
            Denied("source-ip-not-allowed"),
        ),
        case(
            "no source IP for a user with CIDRs",
            direct("anz-bank", None, None),
            Denied("source-ip-missing"),
        ),
        case(
            "a source IP that is not an address",
            direct("anz-bank", None, Some("203.0.113.10; DROP")),
            Denied("source-ip-missing"),
        ),
        case(
            "a CIDR with host bits set counts as its network, as on the allow-list",
            direct("stripe-payouts", None, Some("203.0.113.99")),
            key("/sftp-landing/payments/stripe-payouts", 1),
        ),
        case(
            "a user whose CIDRs are all unusable is denied from everywhere",
            direct("no-good-cidrs", None, Some("203.0.113.7")),
            Denied("source-ip-not-allowed"),
        ),
        // Users and secrets.
        case(
            "an unknown user",
            direct("nobody-here", None, Some("203.0.113.10")),
            Denied("unknown-user"),
        ),
        case(
            "a secret that is not JSON",
            direct("not-json", None, Some("203.0.113.10")),
            Denied("malformed-secret"),
        ),
        case(
            "a secret that is a JSON array",
            direct("an-array", None, Some("203.0.113.10")),
            Denied("malformed-secret"),
        ),
        case(
            "HomeDirectoryType PATH",
            direct("visa-clearing", None, Some("203.0.113.41")),
            Denied("malformed-secret"),
        ),
        case(
            "a secret without Role or IP keys",
            direct("citi-custody", None, Some("203.0.113.10")),
            Denied("malformed-secret"),
        ),
        case(
            "a secret Secrets Manager cannot decrypt",
            direct("undecryptable", None, Some("203.0.113.10")),
            Denied("secret-unreadable"),
        ),
        case(
            "Secrets Manager denies the read",
            direct("forbidden", None, Some("203.0.113.10")),
            Denied("secret-unreadable"),
        ),
        Case {
            lookups: 3,
            ..case(
                "Secrets Manager throttles every retry",
                direct("throttled", None, Some("203.0.113.10")),
                Denied("secret-unreadable"),
            )
        },
        // Refused before any lookup.
        without_lookup(
            "a username that climbs out of the prefix",
            direct("../PaymentsAdmin", None, Some("203.0.113.10")),
            Denied("invalid-username"),
        ),
        without_lookup(
            "a username of two characters",
            direct("ab", None, Some("203.0.113.10")),
            Denied("invalid-username"),
        ),
        without_lookup(
            "a username with a space",
            direct("anz bank", None, Some("203.0.113.10")),
            Denied("invalid-username"),
        ),
        without_lookup(
            "a username starting with @",
            direct("@anz-bank", None, Some("203.0.113.10")),
            Denied("invalid-username"),
        ),
        without_lookup(
            "a username of 101 characters",
            direct(&"a".repeat(101), None, Some("203.0.113.10")),
            Denied("invalid-username"),
        ),
        without_lookup(
            "a double-encoded username stays encoded once",
            api("bank%2540example.com", Some("pw"), "198.51.100.9"),
            Denied("invalid-username"),
        ),
        without_lookup(
            "an encoded slash",
            api("..%2FPaymentsAdmin", None, "192.0.2.20"),
            Denied("invalid-username"),
        ),
        without_lookup(
            "an encoding that is not UTF-8",
            api("bank%FF", None, "198.51.100.9"),
            Denied("malformed-request"),
        ),
        without_lookup(
            "plain FTP",
            with(
                direct("bpay-batch", Some(BPAY_PASSWORD), Some("203.0.113.200")),
                "/protocol",
                json!("FTP"),
            ),
            Denied("protocol-not-allowed"),
        ),
        // Malformed events.
        without_lookup(
            "an event that is not an object",
            json!("anz-bank"),
            Denied("malformed-request"),
        ),
        without_lookup(
            "a direct event without a username",
            json!({"protocol": "SFTP", "serverId": "s-1", "sourceIp": "203.0.113.10"}),
            Denied("malformed-request"),
        ),
        without_lookup(
            "a direct event without a protocol",
            json!({"username": "anz-bank", "serverId": "s-1"}),
            Denied("malformed-request"),
        ),
        without_lookup(
            "a password that is not a string",
            json!({"username": "bpay-batch", "password": 12345, "protocol": "SFTP", "serverId": "s-1"}),
            Denied("malformed-request"),
        ),
        without_lookup(
            "an API Gateway POST",
            with(
                api("anz-bank", None, "203.0.113.10"),
                "/httpMethod",
                json!("POST"),
            ),
            Denied("malformed-request"),
        ),
        without_lookup(
            "an API Gateway request without path parameters",
            with(
                api("anz-bank", None, "203.0.113.10"),
                "/pathParameters",
                Value::Null,
            ),
            Denied("malformed-request"),
        ),
        without_lookup(
            "an API Gateway request without a protocol",
            with(
                api("anz-bank", None, "203.0.113.10"),
                "/queryStringParameters",
                Value::Null,
            ),
            Denied("malformed-request"),
        ),
    ]
}

/// The response object, unwrapped from API Gateway's envelope (which must say 200).
fn body(event: &Value, answer: &Value) -> Value {
    if event.get("httpMethod").is_some() || event.get("pathParameters").is_some() {
        assert_eq!(answer["statusCode"], 200, "{answer}");
        assert_eq!(answer["headers"]["Content-Type"], "application/json");
        serde_json::from_str(answer["body"].as_str().expect("body is a string")).unwrap()
    } else {
        answer.clone()
    }
}

#[tokio::test]
async fn every_login_case_gets_the_answer_and_reason_it_should() {
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for case in cases {
        let (secrets, rule) = secrets();
        let (shape, outcome) = answer(&secrets, &policy(), &case.event, today()).await;
        let answer = shape.respond(&outcome.decision.response());
        let body = body(&case.event, &answer);
        let reason = outcome.decision.deny_reason().map(DenyReason::code);
        let ok = match (&case.expect, &outcome.decision) {
            (Granted { home, keys }, Decision::Granted(grant)) => {
                grant.home_folder == *home
                    && body["Role"] == "arn:aws:iam::123456789012:role/TransferS3AccessRole"
                    && body["HomeDirectoryType"] == "LOGICAL"
                    && body["HomeDirectoryDetails"].is_string()
                    && body["Policy"]
                        .as_str()
                        .is_some_and(|p| p.contains(&format!("arn:aws:s3:::{}/*", &home[1..])))
                    && body
                        .get("PublicKeys")
                        .and_then(Value::as_array)
                        .map(Vec::len)
                        == *keys
            }
            (Denied(code), Decision::Denied(_)) => reason == Some(*code) && body == json!({}),
            _ => false,
        };
        if !ok || rule.num_calls() != case.lookups {
            failures.push(format!(
                "{}: expected {:?} with {} lookups, got {:?} ({}) with {} lookups: {body}",
                case.name,
                case.expect,
                case.lookups,
                reason.unwrap_or("granted"),
                outcome
                    .decision
                    .deny_reason()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                rule.num_calls()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn the_secret_read_is_the_decoded_username_under_the_prefix() {
    let rule = mock!(Client::get_secret_value)
        .match_requests(|req| req.secret_id() == Some("SFTP/bank@example.com"))
        .then_compute_response(|req| lookup(req.secret_id().unwrap_or_default()));
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
    let secrets = UserSecrets::new(client, "SFTP/");

    let (_, outcome) = answer(
        &secrets,
        &policy(),
        &api("bank%40example.com", Some("pw"), "198.51.100.9"),
        today(),
    )
    .await;

    assert!(matches!(outcome.decision, Decision::Granted(_)));
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_retried_then_denied_with_the_error_named() {
    let (secrets, rule) = secrets();
    let (_, outcome) = answer(
        &secrets,
        &policy(),
        &direct("throttled", None, Some("203.0.113.10")),
        today(),
    )
    .await;

    assert_eq!(
        outcome.decision.deny_reason(),
        Some(&DenyReason::SecretUnreadable)
    );
    assert_eq!(
        outcome.error.as_ref().map(|e| e.name().as_str()),
        Some("SecretsThrottled")
    );
    assert_eq!(rule.num_calls(), 3);
}

#[tokio::test]
async fn access_denied_is_a_denial_with_the_error_named() {
    let (secrets, rule) = secrets();
    let (_, outcome) = answer(
        &secrets,
        &policy(),
        &direct("forbidden", None, Some("203.0.113.10")),
        today(),
    )
    .await;

    assert_eq!(
        outcome.decision.deny_reason(),
        Some(&DenyReason::SecretUnreadable)
    );
    assert_eq!(
        outcome.error.as_ref().map(|e| e.name().as_str()),
        Some("SecretsAccessDenied")
    );
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_secrets_manager_that_never_answers_is_a_denial_within_the_timeout() {
    let never = aws_smithy_http_client::test_util::NeverClient::new();
    let config = aws_sdk_secretsmanager::Config::builder()
        .with_test_defaults_v2()
        .http_client(never.clone())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_millis(200))
                .build(),
        )
        .build();
    let secrets = UserSecrets::new(Client::from_conf(config), "SFTP/");
    let started = Instant::now();

    let event = LambdaEvent::new(api("anz-bank", None, "203.0.113.10"), Context::default());
    let answer = handler(&secrets, &policy(), event).await.unwrap();

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["body"], "{}");
    assert!(never.num_calls() >= 1);
}

#[tokio::test]
async fn the_handler_answers_both_shapes_in_transfers_format() {
    let (secrets, _) = secrets();

    let direct_answer = handler(
        &secrets,
        &policy(),
        LambdaEvent::new(
            direct("anz-bank", None, Some("203.0.113.10")),
            Context::default(),
        ),
    )
    .await
    .unwrap();
    assert!(direct_answer["Role"].is_string() && direct_answer.get("statusCode").is_none());
    let details: Value =
        serde_json::from_str(direct_answer["HomeDirectoryDetails"].as_str().unwrap()).unwrap();
    assert_eq!(
        details,
        json!([{"Entry": "/", "Target": "/sftp-landing/payments/anz-bank"}])
    );

    let denied = handler(
        &secrets,
        &policy(),
        LambdaEvent::new(api("anz-bank", None, "198.51.100.1"), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(denied["statusCode"], 200);
    assert_eq!(denied["body"], "{}");
}

#[test]
fn no_answer_carries_a_password_or_a_key_comment() {
    let anz: Value = serde_json::from_str(ANZ).unwrap();
    let comment = anz["PublicKey"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut everything = String::new();
    for case in cases() {
        let (secrets, _) = secrets();
        let (shape, outcome) = rt.block_on(answer(&secrets, &policy(), &case.event, today()));
        everything.push_str(&shape.respond(&outcome.decision.response()).to_string());
        everything.push_str(&format!("{:?}", outcome.decision.deny_reason()));
    }
    for needle in [
        BPAY_PASSWORD,
        HASH_OF_PW,
        &HASH_OF_PW[40..],
        comment.as_str(),
        "Updated(YYYYMMDD)",
        "2@3",
    ] {
        assert!(!everything.contains(needle), "{needle} in an answer");
    }
}

// ---- the events in test-events/identity-provider (what `sam local invoke` is given) ---------

const DIRECT_PASSWORD: &str =
    include_str!("../../../test-events/identity-provider/direct-password-login.json");
const DIRECT_KEY: &str =
    include_str!("../../../test-events/identity-provider/direct-key-login.json");
const API_PASSWORD: &str =
    include_str!("../../../test-events/identity-provider/api-gateway-password-login.json");
const API_KEY: &str =
    include_str!("../../../test-events/identity-provider/api-gateway-key-login.json");

#[tokio::test]
async fn the_sample_events_of_both_forms_are_granted_as_transfer_expects() {
    let (secrets, _) = secrets();
    for (file, sample, shape, keys) in [
        (
            "direct-password-login",
            DIRECT_PASSWORD,
            Shape::Direct,
            false,
        ),
        ("direct-key-login", DIRECT_KEY, Shape::Direct, true),
        (
            "api-gateway-password-login",
            API_PASSWORD,
            Shape::ApiGateway,
            false,
        ),
        ("api-gateway-key-login", API_KEY, Shape::ApiGateway, true),
    ] {
        let event: Value = serde_json::from_str(sample).unwrap();
        let (answered, outcome) = answer(&secrets, &policy(), &event, today()).await;
        assert_eq!(answered, shape, "{file}");
        let Decision::Granted(grant) = &outcome.decision else {
            panic!("{file}: {:?}", outcome.decision.deny_reason());
        };
        assert_eq!(grant.response.public_keys.is_some(), keys, "{file}");
    }
}

// ---- any event, any secret: no panic, and no grant without valid credentials ------------------

mod properties {
    use super::*;
    use proptest::prelude::*;
    use warden_core::login::Protocol;

    /// Cases per property; each password case that reaches a secret costs one Argon2 check.
    const CASES: u32 = 5_000;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "[a-zA-Z0-9@._%-]{0,12}",
            any::<String>(),
            Just("bpay-batch".to_owned()),
            Just("anz-bank".to_owned()),
            Just(BPAY_PASSWORD.to_owned()),
            Just("SFTP".to_owned()),
            Just("FTPS".to_owned()),
            Just("203.0.113.200".to_owned()),
            Just("2001:db8:a0::7".to_owned()),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(text(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Login events: either shape, fields missing, of the wrong type, or arbitrary.
    fn event() -> impl Strategy<Value = Value> {
        let direct = (
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(json_value()),
        )
            .prop_map(|(user, password, protocol, ip, extra)| {
                let mut event = json!({"serverId": "s-1234567890abcdef0"});
                for (key, value) in [
                    ("username", user),
                    ("password", password),
                    ("protocol", protocol),
                    ("sourceIp", ip),
                ] {
                    if let Some(v) = value {
                        event[key] = json!(v);
                    }
                }
                if let Some(extra) = extra {
                    event["password"] = extra;
                }
                event
            });
        let api = (text(), prop::option::of(text()), text(), text()).prop_map(
            |(user, password, protocol, ip)| {
                let mut headers = json!({});
                if let Some(p) = password {
                    headers["Password"] = json!(p);
                }
                json!({
                    "httpMethod": "GET", "headers": headers,
                    "pathParameters": {"serverId": "s-1234567890abcdef0", "username": user},
                    "queryStringParameters": {"protocol": protocol, "sourceIp": ip},
                })
            },
        );
        prop_oneof![direct, api, json_value()]
    }

    /// A secret: a sample user's, one with keys dropped or replaced by arbitrary values, or text.
    fn secret() -> impl Strategy<Value = Option<String>> {
        let mutated = (
            prop_oneof![Just(BPAY), Just(ANZ), Just(WESTPAC)],
            prop::collection::vec((text(), prop::option::of(json_value())), 0..4),
        )
            .prop_map(|(sample, changes)| {
                let mut secret: Value = serde_json::from_str(sample).unwrap();
                for (key, value) in changes {
                    match value {
                        Some(v) => secret[key.as_str()] = v,
                        None => {
                            if let Some(o) = secret.as_object_mut() {
                                o.remove(&key);
                            }
                        }
                    }
                }
                secret.to_string()
            });
        prop::option::of(prop_oneof![
            mutated,
            any::<String>(),
            json_value().prop_map(|v| v.to_string())
        ])
    }

    /// What the decision may never do: grant without the user's own credential, or with a
    /// key on a protocol without a key step.
    fn allowed(request: &LoginRequest, secret: Option<&str>) -> bool {
        let Some(secret) = secret.and_then(|s| serde_json::from_str::<Value>(s).ok()) else {
            return false;
        };
        if request.protocol != "SFTP" && request.protocol != "FTPS" {
            return false;
        }
        let configured_role = policy().rules.transfer_role_arn;
        if secret["HomeDirectoryType"] != "LOGICAL"
            || secret["Role"].as_str() != configured_role.as_deref()
        {
            return false;
        }
        match request.password.as_ref().map(|p| p.expose()) {
            Some(given) if !given.is_empty() => match secret["PasswordHash"].as_str() {
                Some(hash) => warden_core::password_hash::parse(hash)
                    .is_ok_and(|h| warden_core::password_hash::verify(given, &h) == Ok(true)),
                None => secret["Password"].as_str() == Some(given),
            },
            _ => request.protocol == "SFTP",
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

        #[test]
        fn no_event_and_no_secret_makes_it_panic_or_grant_without_credentials(
            event in event(),
            secret in secret(),
        ) {
            let (_, parsed) = event::parse(&event);
            let Ok(request) = parsed else {
                return Ok(());
            };
            let both = LoginPolicy {
                protocols: vec![Protocol::Sftp, Protocol::Ftps],
                ..policy()
            };
            let decision = login::decide(&request, secret.as_deref(), &both, today());
            if let Decision::Granted(grant) = &decision {
                prop_assert!(allowed(&request, secret.as_deref()), "granted {grant:?} for {request:?}");
                prop_assert!(grant.response.role.is_some());
            }
            // The answer is always a JSON object Transfer can read.
            let answered = Shape::Direct.respond(&decision.response());
            prop_assert!(answered.is_object());
        }
    }
}
