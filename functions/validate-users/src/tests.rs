use super::*;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::operation::batch_get_secret_value::BatchGetSecretValueOutput;
use aws_sdk_secretsmanager::types::{ApiErrorType, SecretValueEntry};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use chrono::NaiveDate;
use lambda_runtime::Context;
use warden_aws::work::fake::FakeBucket;
use warden_core::trigger::Scope;

const SUPER: &str = include_str!("../../../test-events/users/SFTPSuperAdmin.json");
const PAYMENTS: &str = include_str!("../../../test-events/users/PaymentsAdmin.json");
const TREASURY: &str = include_str!("../../../test-events/users/TreasuryAdmin.json");
const ANZ: &str = include_str!("../../../test-events/users/anz-bank.json");
const NAB: &str = include_str!("../../../test-events/users/nab-feeds.json");
const BPAY: &str = include_str!("../../../test-events/users/bpay-batch.json");
const CBA: &str = include_str!("../../../test-events/users/cba-settlement.json");

fn secret_of(username: &str) -> &'static str {
    match username {
        "anz-bank" => ANZ,
        "nab-feeds" => NAB,
        "bpay-batch" => BPAY,
        "cba-settlement" => CBA,
        "PaymentsAdmin" => PAYMENTS,
        "broken" => "{not json",
        _ => "{}",
    }
}

fn admins() -> AdminDirectory {
    AdminDirectory::from_secrets([
        ("SFTPSuperAdmin", SUPER),
        ("PaymentsAdmin", PAYMENTS),
        ("TreasuryAdmin", TREASURY),
    ])
}

/// Answers BatchGetSecretValue from the sample users; `locked` fails to decrypt, `gone` is missing.
fn secrets() -> (UserSecrets, aws_smithy_mocks::Rule) {
    let rule = mock!(Client::batch_get_secret_value).then_compute_output(|req| {
        let mut out = BatchGetSecretValueOutput::builder();
        for id in req.secret_id_list() {
            let username = id.trim_start_matches("SFTP/");
            out = match username {
                "locked" | "gone" => out.errors(
                    ApiErrorType::builder()
                        .secret_id(id)
                        .error_code(if username == "gone" {
                            "ResourceNotFoundException"
                        } else {
                            "DecryptionFailure"
                        })
                        .build(),
                ),
                _ => out.secret_values(
                    SecretValueEntry::builder()
                        .name(id)
                        .secret_string(secret_of(username))
                        .build(),
                ),
            };
        }
        out.build()
    });
    let client = mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, [&rule]);
    (UserSecrets::new(client, "SFTP/"), rule)
}

fn run() -> Run {
    Run {
        state_machine: "secret-validation".into(),
        execution: "weekly".into(),
    }
}

fn batch(usernames: &[&str], scope: Scope) -> LambdaEvent<BatchInput> {
    LambdaEvent::new(
        BatchInput {
            run: run(),
            batch: 7,
            usernames: usernames.iter().map(|s| s.to_string()).collect(),
            scope,
            as_of: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
        },
        Context::default(),
    )
}

/// Runs the function on a batch with the run's admins in the work bucket; returns the report it
/// wrote (and checks the counts it returned agree with it).
async fn validate(
    secrets: &UserSecrets,
    rules: &Rules,
    event: LambdaEvent<BatchInput>,
) -> Result<BatchResult, ValidateError> {
    let bucket = FakeBucket::new();
    bucket.put(&run().key(files::ADMINS), &admins());
    let counts = handler(
        secrets,
        &bucket.store(),
        &AdminCache::default(),
        rules,
        event,
    )
    .await?;
    let report: BatchResult = bucket
        .get(&run().numbered(files::REPORTS, 7))
        .expect("the batch's report");
    assert_eq!(counts, BatchCounts::of(7, &report));
    Ok(report)
}

fn rules() -> Rules {
    Rules {
        transfer_role_arn: Some("arn:aws:iam::123456789012:role/TransferS3AccessRole".into()),
        ..Rules::default()
    }
}

#[tokio::test]
async fn a_batch_is_read_in_one_call_and_only_users_with_something_to_say_are_kept() {
    let (s, rule) = secrets();

    let out = validate(
        &s,
        &rules(),
        batch(&["anz-bank", "nab-feeds", "cba-settlement"], Scope::All),
    )
    .await
    .unwrap();

    assert_eq!(out.checked, 3);
    assert_eq!(out.secret_reads, 1);
    assert_eq!(rule.num_calls(), 1);
    let reported: Vec<&str> = out.reports.iter().map(|r| r.username.as_str()).collect();
    assert_eq!(reported, ["nab-feeds"]);
    assert!(
        out.reports[0]
            .findings
            .iter()
            .any(|f| f.rule == Rule::EmailDelimiter)
    );
}

#[tokio::test]
async fn unreadable_and_missing_secrets_are_reported_not_raised() {
    let (s, _) = secrets();

    let out = validate(
        &s,
        &rules(),
        batch(&["anz-bank", "locked", "gone"], Scope::All),
    )
    .await
    .unwrap();

    assert_eq!(out.checked, 1);
    assert_eq!(out.missing, ["gone"]);
    assert_eq!(
        out.unreadable,
        [ReadFailure {
            username: "locked".into(),
            error: "DecryptionFailure".into()
        }]
    );
}

#[tokio::test]
async fn a_secret_that_is_not_json_is_a_finding_not_a_crash() {
    let (s, _) = secrets();

    let out = validate(&s, &rules(), batch(&["broken"], Scope::All))
        .await
        .unwrap();

    assert_eq!(out.reports.len(), 1);
    assert_eq!(out.reports[0].findings[0].rule, Rule::MandatoryKeys);
}

#[tokio::test]
async fn a_group_scope_checks_the_admin_and_its_users_only() {
    let (s, _) = secrets();
    let scope = Scope::Group {
        admin: "PaymentsAdmin".into(),
    };

    let out = validate(
        &s,
        &rules(),
        batch(&["PaymentsAdmin", "nab-feeds", "cba-settlement"], scope),
    )
    .await
    .unwrap();

    // cba-settlement belongs to TreasuryAdmin: read, but not part of this run.
    assert_eq!(out.checked, 2);
}

#[tokio::test]
async fn the_result_never_carries_a_password_or_key_material() {
    let (s, _) = secrets();

    let out = validate(
        &s,
        &rules(),
        batch(&["bpay-batch", "nab-feeds"], Scope::All),
    )
    .await
    .unwrap();

    let json = serde_json::to_string(&out).unwrap();
    for secret in [BPAY, NAB] {
        let value: serde_json::Value = serde_json::from_str(secret).unwrap();
        if let Some(p) = value["Password"].as_str() {
            assert!(!json.contains(p), "password leaked: {json}");
        }
        for key in value["PublicKey"].as_str().unwrap_or_default().split(',') {
            if let Some(material) = key.split_whitespace().nth(1).filter(|m| m.len() > 8) {
                assert!(!json.contains(material), "key material leaked: {json}");
            }
        }
    }
}

#[test]
fn every_error_it_reports_is_listed_for_it_in_the_registry() {
    use warden_core::Named;
    let listed = warden_core::registry::function("validate-users").unwrap();
    let errors = [
        ValidateError::Secrets(SecretsError::BatchTooLarge(21)),
        ValidateError::Work(WorkError::Missing { key: "k".into() }),
    ];
    for err in &errors {
        assert!(listed.reports(err.name()), "{}", err.name());
    }
    for name in warden_core::registry::SECRETS_ERRORS {
        assert!(listed.reports(*name), "{name}");
    }
}

#[tokio::test]
async fn the_admins_are_read_once_per_run_by_a_warm_function() {
    let (s, _) = secrets();
    let bucket = FakeBucket::new();
    bucket.put(&run().key(files::ADMINS), &admins());
    let work = bucket.store();
    let cache = AdminCache::default();

    for _ in 0..3 {
        handler(
            &s,
            &work,
            &cache,
            &rules(),
            batch(&["anz-bank"], Scope::All),
        )
        .await
        .unwrap();
    }

    // One read of the directory, then one report written per batch.
    assert_eq!(work.calls(), 1 + 3);
}

#[tokio::test]
async fn a_run_whose_admins_are_missing_is_a_named_error() {
    let (s, rule) = secrets();
    let bucket = FakeBucket::new();

    let err = handler(
        &s,
        &bucket.store(),
        &AdminCache::default(),
        &rules(),
        batch(&["anz-bank"], Scope::All),
    )
    .await
    .unwrap_err();

    assert_eq!(err.name(), ErrorName::WorkFileInvalid);
    assert_eq!(rule.num_calls(), 0, "no secret read without the admins");
}
