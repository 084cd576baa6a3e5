//! The four steps against an in-memory Secrets Manager, IAM and Step Functions behind the real
//! SDK clients (aws-smithy-mocks): what moto does not model — IAM's two-key limit and
//! `LimitExceeded`, answers lost after the call took effect, an SMTP login that fails until the
//! new key has propagated — and that every run ends converged or named, with one or two keys
//! and no orphan.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use aws_sdk_iam::operation::create_access_key::{CreateAccessKeyError, CreateAccessKeyOutput};
use aws_sdk_iam::operation::delete_access_key::{DeleteAccessKeyError, DeleteAccessKeyOutput};
use aws_sdk_iam::operation::list_access_keys::{ListAccessKeysError, ListAccessKeysOutput};
use aws_sdk_iam::types::{AccessKeyMetadata, StatusType};
use aws_sdk_secretsmanager::operation::describe_secret::{
    DescribeSecretError, DescribeSecretOutput,
};
use aws_sdk_secretsmanager::operation::get_secret_value::{
    GetSecretValueError, GetSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::put_secret_value::{
    PutSecretValueError, PutSecretValueOutput,
};
use aws_sdk_secretsmanager::operation::update_secret_version_stage::UpdateSecretVersionStageOutput;
use aws_sdk_sfn::operation::start_execution::{StartExecutionError, StartExecutionOutput};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use warden_core::smtp::{
    DeploymentInput, DeploymentSettings, RotationSettings, ServerTag, SmtpCredentials,
    SmtpPassword, smtp_password,
};
use warden_core::{ErrorName, Named};

use crate::rotation::{Clients, Rotation, Step, StepDone};
use crate::smtp_login::{LoginFailure, SmtpLogin};

const ARN: &str =
    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sftp-warden/ses-smtp-credentials-AbCdEf";
const USER: &str = "sftp-warden-ses-smtp";
const REGION: &str = "eu-west-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The call fails with this code and does nothing.
    Refuse(&'static str),
    /// The call takes effect, then its answer is lost.
    LoseAnswer,
}

#[derive(Default)]
struct State {
    /// version id → (value, stages)
    versions: BTreeMap<String, (Option<String>, Vec<String>)>,
    /// (id, secret key, active)
    keys: Vec<(String, String, bool)>,
    made: u32,
    executions: Vec<(String, String)>,
    /// (operation, fault, calls of that operation to let through first)
    faults: VecDeque<(&'static str, Fault, usize)>,
}

impl State {
    fn fault(&mut self, operation: &str) -> Option<Fault> {
        let at = self.faults.iter().position(|(op, _, _)| *op == operation)?;
        if self.faults[at].2 > 0 {
            self.faults[at].2 -= 1;
            return None;
        }
        self.faults.remove(at).map(|(_, f, _)| f)
    }

    fn with_stage(&self, stage: &str) -> Option<String> {
        self.versions
            .iter()
            .find(|(_, (_, stages))| stages.iter().any(|s| s == stage))
            .map(|(id, _)| id.clone())
    }
}

fn meta(code: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code(code)
        .message("from the fake")
        .build()
}

/// An in-memory AWS for one SMTP credentials secret.
#[derive(Clone, Default)]
struct FakeAws(Arc<Mutex<State>>);

impl FakeAws {
    /// A secret as the template creates it: `{}` current, no key.
    fn new() -> Self {
        let fake = Self::default();
        fake.state()
            .versions
            .insert("v0".into(), (Some("{}".into()), vec!["AWSCURRENT".into()]));
        fake
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    fn fail(&self, operation: &'static str, fault: Fault) {
        self.fail_later(operation, fault, 0);
    }

    /// The fault hits the call after `skip` calls of that operation.
    fn fail_later(&self, operation: &'static str, fault: Fault, skip: usize) {
        self.state().faults.push_back((operation, fault, skip));
    }

    fn keys(&self) -> Vec<(String, bool)> {
        self.state()
            .keys
            .iter()
            .map(|(id, _, a)| (id.clone(), *a))
            .collect()
    }

    fn key_ids(&self) -> Vec<String> {
        self.keys().into_iter().map(|(id, _)| id).collect()
    }

    fn current_key(&self) -> Option<String> {
        let state = self.state();
        let version = state.with_stage("AWSCURRENT")?;
        let value = state.versions[&version].0.clone()?;
        warden_core::smtp::key_id_of(&value).unwrap()
    }

    fn set_key_active(&self, id: &str, active: bool) {
        for key in self.state().keys.iter_mut().filter(|k| k.0 == id) {
            key.2 = active;
        }
    }

    fn secret_keys(&self) -> Vec<String> {
        self.state().keys.iter().map(|k| k.1.clone()).collect()
    }

    /// What SES would accept: the derived password of an active key.
    fn accepts(&self, username: &str, password: &SmtpPassword) -> bool {
        self.state().keys.iter().any(|(id, secret, active)| {
            id == username && *active && smtp_password(secret, REGION) == *password
        })
    }

    fn clients(&self) -> Clients {
        let f = self.clone();
        let describe = mock!(aws_sdk_secretsmanager::Client::describe_secret)
            .then_compute_response(move |_| {
                let mut state = f.state();
                if let Some(Fault::Refuse(c)) = state.fault("DescribeSecret") {
                    return MockResponse::Error(DescribeSecretError::generic(meta(c)));
                }
                let mut out = DescribeSecretOutput::builder()
                    .arn(ARN)
                    .name("sftp-warden/ses-smtp-credentials");
                for (id, (_, stages)) in &state.versions {
                    out = out.version_ids_to_stages(id, stages.clone());
                }
                MockResponse::Output(out.build())
            });
        let f = self.clone();
        let get = mock!(aws_sdk_secretsmanager::Client::get_secret_value).then_compute_response(
            move |req| {
                let mut state = f.state();
                if let Some(Fault::Refuse(c)) = state.fault("GetSecretValue") {
                    return MockResponse::Error(GetSecretValueError::generic(meta(c)));
                }
                let found = state.versions.iter().find(|(id, (_, stages))| {
                    req.version_id().is_none_or(|v| v == id.as_str())
                        && req
                            .version_stage()
                            .is_none_or(|s| stages.iter().any(|x| x == s))
                        && (req.version_id().is_some() || req.version_stage().is_some())
                });
                match found {
                    Some((id, (Some(value), _))) => MockResponse::Output(
                        GetSecretValueOutput::builder()
                            .arn(ARN)
                            .version_id(id)
                            .secret_string(value)
                            .build(),
                    ),
                    _ => MockResponse::Error(GetSecretValueError::generic(meta(
                        "ResourceNotFoundException",
                    ))),
                }
            },
        );
        let f = self.clone();
        let put = mock!(aws_sdk_secretsmanager::Client::put_secret_value).then_compute_response(
            move |req| {
                let mut state = f.state();
                let fault = state.fault("PutSecretValue");
                if let Some(Fault::Refuse(c)) = fault {
                    return MockResponse::Error(PutSecretValueError::generic(meta(c)));
                }
                let token = req.client_request_token().unwrap().to_owned();
                for (_, stages) in state.versions.values_mut() {
                    stages.retain(|s| s != "AWSPENDING");
                }
                state.versions.insert(
                    token.clone(),
                    (
                        req.secret_string().map(str::to_owned),
                        vec!["AWSPENDING".into()],
                    ),
                );
                if fault == Some(Fault::LoseAnswer) {
                    return MockResponse::Error(PutSecretValueError::generic(meta(
                        "InternalServiceError",
                    )));
                }
                MockResponse::Output(
                    PutSecretValueOutput::builder()
                        .arn(ARN)
                        .version_id(token)
                        .build(),
                )
            },
        );
        let f = self.clone();
        let stage = mock!(aws_sdk_secretsmanager::Client::update_secret_version_stage)
            .then_compute_response(move |req| {
                let mut state = f.state();
                assert_eq!(req.version_stage(), Some("AWSCURRENT"));
                let to = req.move_to_version_id().unwrap().to_owned();
                if let Some(from) = req.remove_from_version_id() {
                    for (_, stages) in state.versions.values_mut() {
                        stages.retain(|s| s != "AWSPREVIOUS");
                    }
                    let stages = &mut state.versions.get_mut(from).unwrap().1;
                    stages.retain(|s| s != "AWSCURRENT");
                    stages.push("AWSPREVIOUS".into());
                }
                state
                    .versions
                    .get_mut(&to)
                    .unwrap()
                    .1
                    .push("AWSCURRENT".into());
                MockResponse::Output(UpdateSecretVersionStageOutput::builder().arn(ARN).build())
            });
        let f = self.clone();
        let list = mock!(aws_sdk_iam::Client::list_access_keys).then_compute_response(move |_| {
            let state = f.state();
            let mut out = ListAccessKeysOutput::builder().set_access_key_metadata(Some(Vec::new()));
            for (id, _, active) in &state.keys {
                out = out.access_key_metadata(
                    AccessKeyMetadata::builder()
                        .user_name(USER)
                        .access_key_id(id)
                        .status(if *active {
                            StatusType::Active
                        } else {
                            StatusType::Inactive
                        })
                        .build(),
                );
            }
            MockResponse::<_, ListAccessKeysError>::Output(out.build().unwrap())
        });
        let f = self.clone();
        let create =
            mock!(aws_sdk_iam::Client::create_access_key).then_compute_response(move |_| {
                let mut state = f.state();
                let fault = state.fault("CreateAccessKey");
                if let Some(Fault::Refuse(c)) = fault {
                    return MockResponse::Error(CreateAccessKeyError::generic(meta(c)));
                }
                if state.keys.len() >= 2 {
                    return MockResponse::Error(CreateAccessKeyError::generic(meta(
                        "LimitExceeded",
                    )));
                }
                state.made += 1;
                let id = format!("AKIAFAKE{:012}", state.made);
                let secret = format!("secret/{:032}", state.made * 7919);
                state.keys.push((id.clone(), secret.clone(), true));
                if fault == Some(Fault::LoseAnswer) {
                    return MockResponse::Error(CreateAccessKeyError::generic(meta(
                        "ServiceFailure",
                    )));
                }
                MockResponse::Output(
                    CreateAccessKeyOutput::builder()
                        .access_key(
                            aws_sdk_iam::types::AccessKey::builder()
                                .user_name(USER)
                                .access_key_id(id)
                                .secret_access_key(secret)
                                .status(StatusType::Active)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
            });
        let f = self.clone();
        let delete =
            mock!(aws_sdk_iam::Client::delete_access_key).then_compute_response(move |req| {
                let mut state = f.state();
                let id = req.access_key_id().unwrap();
                let before = state.keys.len();
                state.keys.retain(|k| k.0 != id);
                if state.keys.len() == before {
                    return MockResponse::Error(DeleteAccessKeyError::generic(meta(
                        "NoSuchEntity",
                    )));
                }
                MockResponse::Output(DeleteAccessKeyOutput::builder().build())
            });
        let f = self.clone();
        let start = mock!(aws_sdk_sfn::Client::start_execution).then_compute_response(move |req| {
            let mut state = f.state();
            if let Some(Fault::Refuse(c)) = state.fault("StartExecution") {
                return MockResponse::Error(StartExecutionError::generic(meta(c)));
            }
            let name = req.name().unwrap().to_owned();
            if state.executions.iter().any(|(n, _)| *n == name) {
                return MockResponse::Error(StartExecutionError::generic(meta(
                    "ExecutionAlreadyExists",
                )));
            }
            state
                .executions
                .push((name.clone(), req.input().unwrap().to_owned()));
            MockResponse::Output(
                StartExecutionOutput::builder()
                    .execution_arn(format!("arn:aws:states:eu-west-1:1:execution:d:{name}"))
                    .start_date(aws_smithy_types::DateTime::from_secs(0))
                    .build()
                    .unwrap(),
            )
        });
        Clients {
            secrets: mock_client!(
                aws_sdk_secretsmanager,
                RuleMode::MatchAny,
                [&describe, &get, &put, &stage],
                |c| c.retry_config(RetryConfig::disabled())
            ),
            iam: mock_client!(
                aws_sdk_iam,
                RuleMode::MatchAny,
                [&list, &create, &delete],
                |c| c.retry_config(RetryConfig::disabled())
            ),
            sfn: mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&start], |c| c
                .retry_config(RetryConfig::disabled())),
        }
    }
}

/// SES's SMTP endpoint: accepts what the fake IAM would, after `refuse_first` refusals (a new
/// key propagating).
struct FakeSmtp {
    aws: FakeAws,
    refuse_first: u32,
    logins: AtomicU32,
}

impl SmtpLogin for FakeSmtp {
    async fn login(&self, username: &str, password: &SmtpPassword) -> Result<(), LoginFailure> {
        let n = self.logins.fetch_add(1, Ordering::SeqCst);
        if n < self.refuse_first || !self.aws.accepts(username, password) {
            return Err(LoginFailure::Refused(
                "535 Authentication Credentials Invalid".into(),
            ));
        }
        Ok(())
    }
}

fn settings() -> RotationSettings {
    RotationSettings {
        iam_user: USER.into(),
        region: REGION.into(),
        smtp_host: "email-smtp.eu-west-1.amazonaws.com".into(),
        smtp_port: 587,
        extra_root_cert: None,
        login_attempts: 4,
        login_first_delay_ms: 1,
        deployment_state_machine:
            "arn:aws:states:eu-west-1:1:stateMachine:smtp-credential-deployment".into(),
        deployment: DeploymentSettings {
            servers: ServerTag {
                tag_key: "EmailServers".into(),
                tag_value: "True".into(),
            },
            document: "sftp-warden-smtp-credentials".into(),
            poll_seconds: 30,
            max_polls: 60,
            grace_seconds: 259_200,
        },
    }
}

fn rotation(aws: &FakeAws, refuse_first: u32) -> Rotation<FakeSmtp> {
    Rotation::new(
        aws.clients(),
        FakeSmtp {
            aws: aws.clone(),
            refuse_first,
            logins: AtomicU32::new(0),
        },
        settings(),
    )
}

/// Secrets Manager's RotateSecret: a version staged AWSPENDING, no value yet.
fn stage_pending(aws: &FakeAws, token: &str) {
    let mut state = aws.state();
    for (_, stages) in state.versions.values_mut() {
        stages.retain(|s| s != "AWSPENDING");
    }
    state
        .versions
        .insert(token.into(), (None, vec!["AWSPENDING".into()]));
}

async fn rotate(aws: &FakeAws, token: &str) -> Vec<StepDone> {
    stage_pending(aws, token);
    let rotation = rotation(aws, 0);
    let mut done = Vec::new();
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        done.push(rotation.run(step, ARN, token).await.expect("step"));
    }
    done
}

fn deployments(aws: &FakeAws) -> Vec<(String, DeploymentInput)> {
    aws.state()
        .executions
        .iter()
        .map(|(name, input)| (name.clone(), serde_json::from_str(input).unwrap()))
        .collect()
}

/// Nothing secret in what a step returns or says.
fn assert_no_secret(aws: &FakeAws, shown: &str) {
    for secret in aws.secret_keys() {
        assert!(!shown.contains(&secret), "a secret key in {shown}");
        assert!(
            !shown.contains(smtp_password(&secret, REGION).expose()),
            "a password in {shown}"
        );
    }
}

#[tokio::test]
async fn a_first_rotation_creates_one_key_tests_it_and_starts_its_deployment() {
    let aws = FakeAws::new();
    let done = rotate(&aws, "tok-1").await;
    let keys = aws.key_ids();
    assert_eq!(keys.len(), 1);
    assert_eq!(aws.current_key(), Some(keys[0].clone()));
    assert!(matches!(&done[0], StepDone::CreatedKey { deleted, .. } if deleted.is_empty()));
    assert_eq!(done[1], StepDone::NothingToSet);
    assert!(matches!(&done[2], StepDone::LoggedIn { attempts: 1, .. }));
    let runs = deployments(&aws);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0, "smtp-tok-1");
    assert_eq!(runs[0].1.new_access_key_id, keys[0]);
    assert_eq!(runs[0].1.old_access_key_id, None);
    assert_eq!(runs[0].1.settings.servers.tag_value, "True");
    // The stored value is the credentials of that key, with its derived password.
    let state = aws.state();
    let value = state.versions["tok-1"].0.clone().unwrap();
    drop(state);
    let stored = SmtpCredentials::parse(&value).unwrap();
    let secret = aws.secret_keys()[0].clone();
    assert!(stored.password_matches_key(&secret));
    assert!(!value.contains(&secret), "the IAM secret key is not stored");
    assert_eq!(stored.smtp_port, 587);
    let shown = format!("{done:?} {}", serde_json::to_string(&done).unwrap());
    assert_no_secret(&aws, &shown);
    let input = aws.state().executions[0].1.clone();
    assert_no_secret(&aws, &input);
}

#[tokio::test]
async fn a_second_rotation_hands_the_old_key_to_the_deployment_and_keeps_two_keys() {
    let aws = FakeAws::new();
    rotate(&aws, "tok-1").await;
    let first = aws.current_key().unwrap();
    rotate(&aws, "tok-2").await;
    let second = aws.current_key().unwrap();
    assert_ne!(first, second);
    assert_eq!(aws.key_ids(), [first.clone(), second.clone()]);
    let runs = deployments(&aws);
    assert_eq!(runs[1].1.old_access_key_id.as_deref(), Some(first.as_str()));
    assert_eq!(runs[1].1.new_access_key_id, second);
}

#[tokio::test]
async fn every_step_retried_changes_nothing_more() {
    let aws = FakeAws::new();
    rotate(&aws, "tok-1").await;
    rotate(&aws, "tok-2").await;
    let keys = aws.key_ids();
    let rotation = rotation(&aws, 0);
    // Secrets Manager retries the steps of the finished rotation.
    for step in [Step::Create, Step::Set, Step::Test] {
        assert_eq!(
            rotation.run(step, ARN, "tok-2").await.unwrap(),
            StepDone::AlreadyCurrent
        );
    }
    match rotation.run(Step::Finish, ARN, "tok-2").await.unwrap() {
        StepDone::Finished {
            deployment_started,
            previous_access_key_id,
            ..
        } => {
            assert!(
                !deployment_started,
                "the deployment of tok-2 exists already"
            );
            assert_eq!(previous_access_key_id.as_deref(), Some(keys[0].as_str()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(aws.key_ids(), keys);
    assert_eq!(deployments(&aws).len(), 2);
    // A createSecret retried before the rest reuses its pending key.
    stage_pending(&aws, "tok-3");
    aws.set_key_active(&keys[0], false);
    let created = rotation.run(Step::Create, ARN, "tok-3").await.unwrap();
    let again = rotation.run(Step::Create, ARN, "tok-3").await.unwrap();
    let StepDone::CreatedKey { access_key_id, .. } = created else {
        panic!("{created:?}")
    };
    assert_eq!(again, StepDone::ReusedPendingKey { access_key_id });
    assert_eq!(aws.key_ids().len(), 2);
}

#[tokio::test]
async fn an_active_previous_key_leaves_no_room_and_nothing_is_touched() {
    let aws = FakeAws::new();
    rotate(&aws, "tok-1").await;
    rotate(&aws, "tok-2").await; // the deployment has not deactivated tok-1's key
    let before = aws.keys();
    stage_pending(&aws, "tok-3");
    let err = rotation(&aws, 0)
        .run(Step::Create, ARN, "tok-3")
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::NoRoomForNewKey);
    assert!(err.to_string().contains(&before[0].0), "{err}");
    assert_eq!(aws.keys(), before);
    // Once the deployment deactivated it, the old key makes room.
    aws.set_key_active(&before[0].0, false);
    rotate(&aws, "tok-3").await;
    let after = aws.key_ids();
    assert_eq!(after.len(), 2);
    assert!(!after.contains(&before[0].0));
    assert!(after.contains(&before[1].0));
}

#[tokio::test]
async fn iam_refusing_a_key_is_named_and_leaves_no_orphan() {
    let aws = FakeAws::new();
    rotate(&aws, "tok-1").await;
    let before = aws.keys();
    stage_pending(&aws, "tok-2");
    aws.fail("CreateAccessKey", Fault::Refuse("LimitExceeded"));
    let err = rotation(&aws, 0)
        .run(Step::Create, ARN, "tok-2")
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::KeyLimitExceeded);
    assert_eq!(aws.keys(), before);
    aws.fail("CreateAccessKey", Fault::Refuse("Throttling"));
    let err = rotation(&aws, 0)
        .run(Step::Create, ARN, "tok-2")
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::IamUnavailable);
    assert_eq!(aws.keys(), before);
}

#[tokio::test]
async fn a_key_whose_answer_was_lost_is_deleted_and_the_retry_converges() {
    let aws = FakeAws::new();
    rotate(&aws, "tok-1").await;
    let before = aws.keys();
    stage_pending(&aws, "tok-2");
    aws.fail("CreateAccessKey", Fault::LoseAnswer);
    let err = rotation(&aws, 0)
        .run(Step::Create, ARN, "tok-2")
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::IamUnavailable);
    assert_eq!(
        aws.keys(),
        before,
        "the key nobody knows the secret of is gone"
    );
    // Secrets Manager retries the rotation: it completes with two keys.
    rotate(&aws, "tok-2").await;
    assert_eq!(aws.key_ids().len(), 2);
    assert_eq!(deployments(&aws).len(), 2);
}

#[tokio::test]
async fn a_key_that_could_not_be_stored_is_deleted_and_one_whose_answer_was_lost_is_kept() {
    let aws = FakeAws::new();
    stage_pending(&aws, "tok-1");
    aws.fail("PutSecretValue", Fault::Refuse("InternalServiceError"));
    let err = rotation(&aws, 0)
        .run(Step::Create, ARN, "tok-1")
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::SecretsUnavailable);
    assert!(aws.keys().is_empty(), "no orphan");
    // Stored, but the answer lost: the key is in the pending version, so it stays.
    aws.fail("PutSecretValue", Fault::LoseAnswer);
    let created = rotation(&aws, 0)
        .run(Step::Create, ARN, "tok-1")
        .await
        .unwrap();
    assert!(matches!(created, StepDone::CreatedKey { .. }));
    assert_eq!(aws.keys().len(), 1);
    rotate(&aws, "tok-1").await;
    assert_eq!(aws.key_ids().len(), 1);
}

#[tokio::test]
async fn an_orphan_from_an_interrupted_rotation_is_deleted_to_make_room() {
    let aws = FakeAws::new();
    rotate(&aws, "tok-1").await;
    // A rotation that died between CreateAccessKey and PutSecretValue.
    aws.state()
        .keys
        .push(("AKIAORPHAN0000000001".into(), "lost".into(), true));
    rotate(&aws, "tok-2").await;
    let keys = aws.key_ids();
    assert_eq!(keys.len(), 2);
    assert!(!keys.contains(&"AKIAORPHAN0000000001".to_owned()));
}

#[tokio::test]
async fn the_smtp_login_is_retried_while_the_key_propagates_then_given_up_bounded() {
    let aws = FakeAws::new();
    stage_pending(&aws, "tok-1");
    let propagating = rotation(&aws, 2);
    propagating.run(Step::Create, ARN, "tok-1").await.unwrap();
    let done = propagating.run(Step::Test, ARN, "tok-1").await.unwrap();
    assert!(
        matches!(done, StepDone::LoggedIn { attempts: 3, .. }),
        "{done:?}"
    );

    // Never accepted: exactly login_attempts tries, then a named error; AWSCURRENT stays.
    let never = rotation(&aws, u32::MAX);
    let err = never.run(Step::Test, ARN, "tok-1").await.unwrap_err();
    assert_eq!(err.name(), ErrorName::SmtpLoginRefused);
    assert_eq!(never_logins(&never), 4);
    assert!(err.to_string().contains("AWSCURRENT stays"), "{err}");
    assert_eq!(aws.current_key(), None);
    assert_no_secret(&aws, &err.to_string());
}

fn never_logins(rotation: &Rotation<FakeSmtp>) -> u32 {
    rotation.login_for_tests().logins.load(Ordering::SeqCst)
}

#[tokio::test]
async fn a_token_that_is_not_a_pending_version_is_refused() {
    let aws = FakeAws::new();
    let err = rotation(&aws, 0)
        .run(Step::Test, ARN, "nobody")
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::RotationVersionInvalid);
    aws.state()
        .versions
        .insert("old".into(), (Some("{}".into()), vec![]));
    let err = rotation(&aws, 0)
        .run(Step::Create, ARN, "old")
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::RotationVersionInvalid);
    assert!(aws.keys().is_empty());
}

#[tokio::test]
async fn a_key_whose_storing_cannot_be_confirmed_is_kept_and_the_retry_reuses_it() {
    let aws = FakeAws::new();
    stage_pending(&aws, "tok-1");
    aws.fail("PutSecretValue", Fault::LoseAnswer);
    // GetSecretValue: the pending read, AWSCURRENT's, then the check after the lost answer.
    aws.fail_later("GetSecretValue", Fault::Refuse("ThrottlingException"), 2);
    let err = rotation(&aws, 0)
        .run(Step::Create, ARN, "tok-1")
        .await
        .unwrap_err();
    assert_eq!(err.name(), ErrorName::SecretsUnavailable);
    let kept = aws.key_ids();
    assert_eq!(kept.len(), 1, "stored after all: the key stays");
    let again = rotation(&aws, 0)
        .run(Step::Create, ARN, "tok-1")
        .await
        .unwrap();
    assert_eq!(
        again,
        StepDone::ReusedPendingKey {
            access_key_id: kept[0].clone()
        }
    );
    let retry = rotation(&aws, 0);
    for step in [Step::Set, Step::Test, Step::Finish] {
        retry.run(step, ARN, "tok-1").await.unwrap();
    }
    assert_eq!(aws.key_ids(), kept);
    assert_eq!(aws.current_key(), Some(kept[0].clone()));
}

#[tokio::test]
async fn a_deployment_that_never_started_is_started_by_the_next_rotation() {
    let aws = FakeAws::new();
    rotate(&aws, "tok-1").await;
    stage_pending(&aws, "tok-2");
    let rotation = rotation(&aws, 0);
    for step in [Step::Create, Step::Set, Step::Test] {
        rotation.run(step, ARN, "tok-2").await.unwrap();
    }
    // AWSCURRENT moves, then Step Functions refuses the start: Secrets Manager sees the
    // rotation finished and does not retry it.
    aws.fail("StartExecution", Fault::Refuse("ThrottlingException"));
    let err = rotation.run(Step::Finish, ARN, "tok-2").await.unwrap_err();
    assert_eq!(err.name(), ErrorName::StatesThrottled);
    assert_eq!(deployments(&aws).len(), 1);
    // The next rotation finds no room (tok-1's key still active) and starts the missing one.
    stage_pending(&aws, "tok-3");
    let err = rotation.run(Step::Create, ARN, "tok-3").await.unwrap_err();
    assert_eq!(err.name(), ErrorName::NoRoomForNewKey);
    let runs = deployments(&aws);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].0, "smtp-tok-2");
    assert_eq!(runs[1].1.new_access_key_id, aws.current_key().unwrap());
    assert_eq!(
        runs[1].1.old_access_key_id.as_deref(),
        Some(aws.key_ids()[0].as_str())
    );
    assert_eq!(aws.key_ids().len(), 2, "nothing deleted, nothing created");
}
