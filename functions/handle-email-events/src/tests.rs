use super::*;
use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_sdk_sfn::types::error::ExecutionAlreadyExists;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use lambda_runtime::Context;
use warden_aws::work::fake::FakeBucket;
use warden_core::notify::EmailKind;

const VALIDATION: &str =
    "arn:aws:states:ap-southeast-2:123456789012:stateMachine:secret-validation";

fn sample(name: &str) -> Value {
    let path = format!(
        "{}/../../test-events/ses/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect(&path)).unwrap()
}

fn event(value: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(value, Context::default())
}

/// The work bucket as the weekly run left it: email 7 is partner1's key notice (CC its admin),
/// email 2 a digest to PaymentsAdmin.
fn bucket() -> FakeBucket {
    let bucket = FakeBucket::new();
    let run = Run {
        state_machine: "secret-validation".into(),
        execution: "weekly-2026-11-30".into(),
    };
    for (index, holders) in [
        (7, vec!["partner1", "PaymentsAdmin"]),
        (2, vec!["PaymentsAdmin"]),
    ] {
        let email = Email {
            kind: EmailKind::KeyExpiry,
            to: vec!["gone@partner.example".into()],
            cc: vec![],
            subject: "s".into(),
            body: "b".into(),
            html: None,
            address_holders: holders.into_iter().map(String::from).collect(),
            rerouted: false,
        };
        bucket.put(&run.numbered(files::EMAILS, index), &email);
    }
    bucket
}

fn sfn(rules: &[&aws_smithy_mocks::Rule]) -> Client {
    mock_client!(aws_sdk_sfn, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()))
}

fn started() -> StartExecutionOutput {
    StartExecutionOutput::builder()
        .execution_arn("arn:aws:states:ap-southeast-2:123456789012:execution:secret-validation:x")
        .start_date(aws_smithy_types::DateTime::from_secs(1_796_000_000))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_hard_bounce_starts_one_validation_of_whoever_holds_the_address() {
    let start = mock!(Client::start_execution)
        .match_requests(|r| {
            let input: Value = serde_json::from_str(r.input().unwrap()).unwrap();
            r.state_machine_arn() == Some(VALIDATION)
                && r.name() == Some("email-bounce-0100019a-msg-0007")
                && input["mode"] == "users"
                && input["usernames"] == serde_json::json!(["partner1", "PaymentsAdmin"])
        })
        .then_output(started);

    let handled = handler(
        &sfn(&[&start]),
        &bucket().store(),
        VALIDATION,
        event(sample("bounce-permanent")),
    )
    .await
    .unwrap();

    assert_eq!(handled.action, "validationStarted");
    assert_eq!(handled.holders, ["partner1", "PaymentsAdmin"]);
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn a_complaint_about_a_digest_checks_the_admin_again() {
    let start = mock!(Client::start_execution)
        .match_requests(|r| {
            r.input()
                .is_some_and(|i| i.contains(r#""usernames":["PaymentsAdmin"]"#))
        })
        .then_output(started);

    let handled = handler(
        &sfn(&[&start]),
        &bucket().store(),
        VALIDATION,
        event(sample("complaint")),
    )
    .await
    .unwrap();

    assert_eq!(handled.action, "validationStarted");
    assert_eq!(start.num_calls(), 1);
}

#[tokio::test]
async fn a_redelivered_bounce_starts_nothing_new() {
    let exists = mock!(Client::start_execution).then_error(|| {
        StartExecutionError::ExecutionAlreadyExists(
            ExecutionAlreadyExists::builder()
                .message("Execution Already Exists")
                .meta(
                    ErrorMetadata::builder()
                        .code("ExecutionAlreadyExists")
                        .build(),
                )
                .build(),
        )
    });

    let handled = handler(
        &sfn(&[&exists]),
        &bucket().store(),
        VALIDATION,
        event(sample("bounce-permanent")),
    )
    .await
    .unwrap();

    assert_eq!(handled.action, "alreadyStarted");
}

#[tokio::test]
async fn soft_bounces_delays_and_rejections_are_logged_and_start_nothing() {
    let start = mock!(Client::start_execution).then_output(started);
    for name in ["bounce-transient", "delivery-delay", "reject"] {
        let handled = handler(
            &sfn(&[&start]),
            &bucket().store(),
            VALIDATION,
            event(sample(name)),
        )
        .await
        .unwrap();
        assert_eq!(handled.action, "logged", "{name}");
    }
    assert_eq!(start.num_calls(), 0);
}

#[tokio::test]
async fn a_bounce_whose_email_has_expired_or_has_no_tags_names_nobody_and_starts_nothing() {
    let start = mock!(Client::start_execution).then_output(started);
    let mut untagged = sample("bounce-permanent");
    untagged["detail"]["mail"]["tags"] = serde_json::json!({});
    let empty = FakeBucket::new();
    for (bucket, value) in [(&empty, sample("bounce-permanent")), (&empty, untagged)] {
        let handled = handler(&sfn(&[&start]), &bucket.store(), VALIDATION, event(value))
            .await
            .unwrap();
        assert_eq!(handled.action, "holdersUnknown");
    }
    assert_eq!(start.num_calls(), 0);
}

#[tokio::test]
async fn anything_that_is_not_an_ses_event_is_refused_by_name() {
    let err = handler(
        &sfn(&[]),
        &bucket().store(),
        VALIDATION,
        event(serde_json::json!({"source": "aws.secretsmanager"})),
    )
    .await
    .unwrap_err();
    assert_eq!(Diagnostic::from(err).error_type, "UnsupportedInput");
}

#[test]
fn every_error_it_reports_is_listed_for_it_in_the_registry() {
    let listed = warden_core::registry::function("handle-email-events").unwrap();
    let errors = [
        HandleEmailEventsError::NotAnSesEvent(EmailEventError::NotAnSesEvent("x".into())),
        HandleEmailEventsError::Work(WorkError::Missing { key: "k".into() }),
        HandleEmailEventsError::Throttled("arn".into()),
        HandleEmailEventsError::NotStarted {
            state_machine: "arn".into(),
            message: "m".into(),
        },
    ];
    for err in &errors {
        assert!(listed.reports(err.name()), "{}", err.name());
    }
}
