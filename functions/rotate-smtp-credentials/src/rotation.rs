//! The four steps, on the real SDK clients (Secrets Manager, IAM, Step Functions) and an SMTP
//! login. The decisions are warden-core's (`smtp::make_room`, `smtp::SmtpCredentials`); this
//! module makes the calls in an order that survives a retry of any step at any point.

use std::cell::Cell;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::StatusType;
use backon::{ExponentialBuilder, Retryable};
use lambda_runtime::tracing;
use serde::Serialize;
use warden_aws::secrets::SecretsError;
use warden_core::smtp::{
    AccessKey, CredentialsError, DeploymentInput, KeyDeletion, NoRoom, RotationSettings,
    SmtpCredentials, deployment_execution_name, key_id_of, make_room,
};
use warden_core::{ErrorName, Named};

use crate::smtp_login::{LoginFailure, SmtpLogin};

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";
const PREVIOUS: &str = "AWSPREVIOUS";

/// The longest wait between two SMTP logins.
const MAX_LOGIN_DELAY: Duration = Duration::from_secs(16);
/// The longest one login may take: six attempts (60 s) and their waits (46 s) stay inside the
/// function's 120 s.
const LOGIN_DEADLINE: Duration = Duration::from_secs(10);

pub struct Clients {
    pub secrets: aws_sdk_secretsmanager::Client,
    pub iam: aws_sdk_iam::Client,
    pub sfn: aws_sdk_sfn::Client,
}

impl Clients {
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Self {
            secrets: aws_sdk_secretsmanager::Client::new(config),
            iam: aws_sdk_iam::Client::new(config),
            sfn: aws_sdk_sfn::Client::new(config),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Set,
    Test,
    Finish,
}

impl Step {
    pub fn parse(step: &str) -> Option<Self> {
        match step {
            "createSecret" => Some(Step::Create),
            "setSecret" => Some(Step::Set),
            "testSecret" => Some(Step::Test),
            "finishSecret" => Some(Step::Finish),
            _ => None,
        }
    }
}

/// What a step did: the function's output. Key ids only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "did")]
pub enum StepDone {
    /// The token's version is already `AWSCURRENT`: an earlier attempt finished the rotation.
    #[serde(rename = "alreadyCurrent")]
    AlreadyCurrent,
    /// A retried `createSecret`: the pending version and its key are already there.
    #[serde(rename = "reusedPendingKey", rename_all = "camelCase")]
    ReusedPendingKey { access_key_id: String },
    #[serde(rename = "createdKey", rename_all = "camelCase")]
    CreatedKey {
        access_key_id: String,
        deleted: Vec<KeyDeletion>,
    },
    #[serde(rename = "nothingToSet")]
    NothingToSet,
    #[serde(rename = "loggedIn", rename_all = "camelCase")]
    LoggedIn {
        access_key_id: String,
        attempts: u32,
    },
    #[serde(rename = "finished", rename_all = "camelCase")]
    Finished {
        access_key_id: String,
        previous_access_key_id: Option<String>,
        deployment: String,
        /// False when an earlier attempt had already started it.
        deployment_started: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("IAM {operation} failed: {message}")]
    Iam {
        name: ErrorName,
        operation: &'static str,
        message: String,
    },
    #[error("{0}")]
    NoRoom(NoRoom),
    #[error("the rotation token {token} is not a pending version of the secret: {detail}")]
    VersionInvalid { token: String, detail: String },
    #[error(transparent)]
    Malformed(#[from] CredentialsError),
    #[error(
        "the SMTP endpoint refused the pending credentials of {access_key_id} on all {attempts} attempts (last: {last}); AWSCURRENT stays where it is"
    )]
    LoginRefused {
        access_key_id: String,
        attempts: u32,
        last: String,
    },
    #[error(
        "the SMTP endpoint could not be reached in {attempts} attempts (last: {last}); AWSCURRENT stays where it is"
    )]
    Unreachable { attempts: u32, last: String },
    #[error("Step Functions did not start the deployment {execution}: {message}")]
    DeploymentNotStarted {
        name: ErrorName,
        execution: String,
        message: String,
    },
    #[error(
        "unknown rotation step {0:?}: expected createSecret, setSecret, testSecret or finishSecret"
    )]
    UnknownStep(String),
}

impl Named for RotateError {
    fn name(&self) -> ErrorName {
        match self {
            RotateError::Secrets(e) => e.name(),
            RotateError::Iam { name, .. } => *name,
            RotateError::NoRoom(_) => ErrorName::NoRoomForNewKey,
            RotateError::VersionInvalid { .. } => ErrorName::RotationVersionInvalid,
            RotateError::Malformed(_) => ErrorName::SmtpSecretMalformed,
            RotateError::LoginRefused { .. } => ErrorName::SmtpLoginRefused,
            RotateError::Unreachable { .. } => ErrorName::SmtpUnreachable,
            RotateError::DeploymentNotStarted { name, .. } => *name,
            RotateError::UnknownStep(_) => ErrorName::UnsupportedInput,
        }
    }
}

fn iam_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> RotateError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().unwrap_or_default().to_owned();
    // Never the SDK's error chain: a CreateAccessKey answer that failed to parse holds a secret.
    let message = match (err.message(), &err) {
        (Some(m), _) => format!("{code}: {m}"),
        (None, SdkError::TimeoutError(_)) => "IAM did not answer in time".to_owned(),
        (None, SdkError::DispatchFailure(_)) => "IAM could not be reached".to_owned(),
        (None, SdkError::ResponseError(_)) => "IAM's answer could not be read".to_owned(),
        (None, _) => format!("IAM refused the call ({code})"),
    };
    let name = match code.as_str() {
        "LimitExceeded" => ErrorName::KeyLimitExceeded,
        "Throttling" | "ThrottlingException" | "ServiceFailure" | "RequestLimitExceeded" | "" => {
            ErrorName::IamUnavailable
        }
        // AccessDenied, NoSuchEntity (the user is gone), …: an operator must act.
        _ => ErrorName::IamAccessDenied,
    };
    RotateError::Iam {
        name,
        operation,
        message,
    }
}

fn is_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>, code: &str) -> bool {
    err.code() == Some(code)
}

/// The secret's versions and their stages, as `DescribeSecret` shows them.
struct Versions {
    arn: String,
    stages: HashMap<String, Vec<String>>,
}

impl Versions {
    fn has(&self, version: &str, stage: &str) -> bool {
        self.stages
            .get(version)
            .is_some_and(|s| s.iter().any(|x| x == stage))
    }

    fn with_stage(&self, stage: &str) -> Option<&str> {
        self.stages
            .iter()
            .find(|(_, stages)| stages.iter().any(|s| s == stage))
            .map(|(version, _)| version.as_str())
    }
}

pub struct Rotation<L> {
    clients: Clients,
    login: L,
    settings: RotationSettings,
}

impl<L: SmtpLogin> Rotation<L> {
    pub fn new(clients: Clients, login: L, settings: RotationSettings) -> Self {
        Self {
            clients,
            login,
            settings,
        }
    }

    #[cfg(test)]
    pub fn login_for_tests(&self) -> &L {
        &self.login
    }

    pub async fn run(
        &self,
        step: Step,
        secret_id: &str,
        token: &str,
    ) -> Result<StepDone, RotateError> {
        let versions = self.describe(secret_id).await?;
        if step != Step::Finish && versions.has(token, CURRENT) {
            return Ok(StepDone::AlreadyCurrent);
        }
        let known = versions.stages.contains_key(token);
        // Secrets Manager stages the token `AWSPENDING` before the first step; `createSecret`
        // also accepts a token it has not staged yet (its PutSecretValue creates the version).
        if (known && !versions.has(token, PENDING) && !versions.has(token, CURRENT))
            || (!known && step != Step::Create)
        {
            return Err(RotateError::VersionInvalid {
                token: token.to_owned(),
                detail: if known {
                    "the version is neither AWSPENDING nor AWSCURRENT".into()
                } else {
                    "the secret has no such version".into()
                },
            });
        }
        match step {
            Step::Create => self.create(&versions, token).await,
            Step::Set => Ok(StepDone::NothingToSet),
            Step::Test => self.test(&versions, token).await,
            Step::Finish => self.finish(&versions, token).await,
        }
    }

    async fn create(&self, versions: &Versions, token: &str) -> Result<StepDone, RotateError> {
        let keys = self.list_keys().await?;
        let pending = self
            .value(&versions.arn, Some(token), Some(PENDING))
            .await?;
        if let Some(pending) = pending
            && let Some(id) = key_id_of(&pending)?
        {
            if keys.iter().any(|k| k.id == id) {
                return Ok(StepDone::ReusedPendingKey { access_key_id: id });
            }
            return Err(RotateError::VersionInvalid {
                token: token.to_owned(),
                detail: format!(
                    "its key {id} no longer exists in IAM; cancel this rotation (CancelRotateSecret) and rotate again"
                ),
            });
        }
        let current = self.key_of_stage(versions, CURRENT).await?;
        let previous = self.key_of_stage(versions, PREVIOUS).await?;
        let deletions = match make_room(&keys, current.as_deref(), previous.as_deref()) {
            Ok(deletions) => deletions,
            Err(no_room) => {
                // The previous key is active because its deployment has not finished — or never
                // started, if a finishSecret moved AWSCURRENT and then failed to start it (and
                // Secrets Manager, seeing AWSCURRENT moved, does not retry). Start it now: it is
                // what frees the room.
                if let (Some(version), Some(new_key)) = (versions.with_stage(CURRENT), &current) {
                    match self
                        .start_deployment(&versions.arn, version, new_key, previous.clone())
                        .await
                    {
                        Ok((execution, true)) => tracing::warn!(
                            execution,
                            "The deployment of the current credentials had never started: started it now"
                        ),
                        Ok(_) => {}
                        Err(e) => tracing::error!(
                            error = %e.name(),
                            "Could not start the deployment of the current credentials: {e}"
                        ),
                    }
                }
                return Err(RotateError::NoRoom(no_room));
            }
        };
        for deletion in &deletions {
            tracing::warn!(
                key = deletion.id,
                reason = deletion.reason,
                "Deleting an access key to make room"
            );
            self.delete_key(&deletion.id).await?;
        }
        let before: BTreeSet<String> = keys
            .iter()
            .map(|k| k.id.clone())
            .filter(|id| !deletions.iter().any(|d| &d.id == id))
            .collect();

        let created = self
            .clients
            .iam
            .create_access_key()
            .user_name(&self.settings.iam_user)
            .send()
            .await;
        let (id, secret) = match created {
            Ok(out) => match out.access_key() {
                Some(key) => (
                    key.access_key_id().to_owned(),
                    key.secret_access_key().to_owned(),
                ),
                None => {
                    return Err(RotateError::Iam {
                        name: ErrorName::IamUnavailable,
                        operation: "CreateAccessKey",
                        message: "the answer holds no key".into(),
                    });
                }
            },
            Err(err) => {
                // The call may have made a key whose answer was lost: nobody knows its secret,
                // so it goes at once.
                self.delete_keys_not_in(&before).await;
                return Err(iam_error("CreateAccessKey", err));
            }
        };
        let credentials = SmtpCredentials::for_key(
            &self.settings.iam_user,
            &id,
            &secret,
            &self.settings.region,
            &self.settings.smtp_host,
            self.settings.smtp_port,
        );
        let stored = self
            .clients
            .secrets
            .put_secret_value()
            .secret_id(&versions.arn)
            .client_request_token(token)
            .secret_string(credentials.to_secret_string())
            .version_stages(PENDING)
            .send()
            .await;
        if let Err(err) = stored {
            let err = SecretsError::from_sdk("PutSecretValue", err);
            // A lost answer: the value may be stored after all, and then the key is in use.
            match self.value(&versions.arn, Some(token), Some(PENDING)).await {
                Ok(Some(value))
                    if key_id_of(&value).ok().flatten().as_deref() == Some(id.as_str()) =>
                {
                    tracing::warn!(
                        key = id,
                        "PutSecretValue answered an error but stored the key"
                    );
                }
                Ok(_) => {
                    tracing::warn!(key = id, "The new key could not be stored: deleting it");
                    if let Err(e) = self.delete_key(&id).await {
                        tracing::error!(key = id, error = %e.name(), "The unstored key could not be deleted: the next attempt deletes it ({e})");
                    }
                    return Err(err.into());
                }
                Err(check) => {
                    // Unknown whether it was stored: keep it. The next attempt reuses it if it
                    // was, or deletes it as a key no version holds if it was not.
                    tracing::error!(key = id, error = %check.name(), "Could not tell whether the new key was stored: kept for the next attempt ({check})");
                    return Err(err.into());
                }
            }
        }
        Ok(StepDone::CreatedKey {
            access_key_id: id,
            deleted: deletions,
        })
    }

    async fn test(&self, versions: &Versions, token: &str) -> Result<StepDone, RotateError> {
        let value = self
            .value(&versions.arn, Some(token), Some(PENDING))
            .await?
            .ok_or_else(|| RotateError::VersionInvalid {
                token: token.to_owned(),
                detail: "the pending version has no value: createSecret did not run".into(),
            })?;
        let credentials = SmtpCredentials::parse(&value)?;
        let attempts = Cell::new(0u32);
        let password = credentials.smtp_password();
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.settings.login_first_delay_ms))
            .with_max_delay(MAX_LOGIN_DELAY)
            .with_max_times(self.settings.login_attempts.saturating_sub(1) as usize);
        let outcome = (|| async {
            attempts.set(attempts.get() + 1);
            tokio::time::timeout(
                LOGIN_DEADLINE,
                self.login.login(&credentials.smtp_username, &password),
            )
            .await
            .unwrap_or_else(|_| {
                Err(LoginFailure::Unreachable(format!(
                    "no answer within {} s",
                    LOGIN_DEADLINE.as_secs()
                )))
            })
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .notify(|failure: &LoginFailure, wait: Duration| {
            tracing::warn!(
                key = credentials.access_key_id,
                attempt = attempts.get(),
                ?failure,
                wait_ms = wait.as_millis() as u64,
                "SMTP login with the pending credentials failed; trying again (a new key takes a moment to reach SES)"
            );
        })
        .await;
        match outcome {
            Ok(()) => Ok(StepDone::LoggedIn {
                access_key_id: credentials.access_key_id.clone(),
                attempts: attempts.get(),
            }),
            Err(LoginFailure::Refused(last)) => Err(RotateError::LoginRefused {
                access_key_id: credentials.access_key_id.clone(),
                attempts: attempts.get(),
                last,
            }),
            Err(LoginFailure::Unreachable(last)) => Err(RotateError::Unreachable {
                attempts: attempts.get(),
                last,
            }),
        }
    }

    async fn finish(&self, versions: &Versions, token: &str) -> Result<StepDone, RotateError> {
        let current = versions.with_stage(CURRENT).map(str::to_owned);
        // The version whose key the deployment retires: the one AWSCURRENT leaves now, or, when
        // an earlier attempt moved it already, the one it left then (AWSPREVIOUS).
        let replaced = if current.as_deref() == Some(token) {
            versions.with_stage(PREVIOUS).map(str::to_owned)
        } else {
            let mut move_stage = self
                .clients
                .secrets
                .update_secret_version_stage()
                .secret_id(&versions.arn)
                .version_stage(CURRENT)
                .move_to_version_id(token);
            if let Some(current) = &current {
                move_stage = move_stage.remove_from_version_id(current);
            }
            move_stage
                .send()
                .await
                .map_err(|e| SecretsError::from_sdk("UpdateSecretVersionStage", e))?;
            current
        };
        let new_value = self
            .value(&versions.arn, Some(token), Some(CURRENT))
            .await?
            .unwrap_or_default();
        let new_key = key_id_of(&new_value)?.ok_or_else(|| CredentialsError::Malformed {
            detail: "the new current version holds no AccessKeyId".into(),
        })?;
        let old_key = match &replaced {
            // AWSCURRENT's move put AWSPREVIOUS on the version it left.
            Some(version) => match self
                .value(&versions.arn, Some(version), Some(PREVIOUS))
                .await?
            {
                Some(value) => key_id_of(&value)?,
                None => None,
            },
            None => None,
        }
        .filter(|old| *old != new_key);
        let (execution, deployment_started) = self
            .start_deployment(&versions.arn, token, &new_key, old_key.clone())
            .await?;
        Ok(StepDone::Finished {
            access_key_id: new_key,
            previous_access_key_id: old_key,
            deployment: execution,
            deployment_started,
        })
    }

    /// Starts the deployment of the version `token` (named after it); `false` when it exists
    /// already.
    async fn start_deployment(
        &self,
        secret_arn: &str,
        token: &str,
        new_key: &str,
        old_key: Option<String>,
    ) -> Result<(String, bool), RotateError> {
        let execution = deployment_execution_name(token);
        let input = DeploymentInput {
            secret_arn: secret_arn.to_owned(),
            user_name: self.settings.iam_user.clone(),
            new_access_key_id: new_key.to_owned(),
            old_access_key_id: old_key,
            settings: self.settings.deployment.clone(),
        };
        let started = self
            .clients
            .sfn
            .start_execution()
            .state_machine_arn(&self.settings.deployment_state_machine)
            .name(&execution)
            .input(serde_json::to_string(&input).expect("plain fields serialise"))
            .send()
            .await;
        match started {
            Ok(_) => Ok((execution, true)),
            Err(err) if is_code(&err, "ExecutionAlreadyExists") => Ok((execution, false)),
            Err(err) => {
                let name = if is_code(&err, "ThrottlingException") {
                    ErrorName::StatesThrottled
                } else {
                    ErrorName::ExecutionNotStarted
                };
                Err(RotateError::DeploymentNotStarted {
                    name,
                    execution,
                    message: err.message().map_or_else(|| err.to_string(), str::to_owned),
                })
            }
        }
    }

    async fn describe(&self, secret_id: &str) -> Result<Versions, RotateError> {
        let out = self
            .clients
            .secrets
            .describe_secret()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|e| SecretsError::from_sdk("DescribeSecret", e))?;
        Ok(Versions {
            arn: out.arn().unwrap_or(secret_id).to_owned(),
            stages: out.version_ids_to_stages().cloned().unwrap_or_default(),
        })
    }

    /// A version's value (by id, by stage, or both); `None` when there is none.
    async fn value(
        &self,
        secret: &str,
        version: Option<&str>,
        stage: Option<&str>,
    ) -> Result<Option<String>, RotateError> {
        let out = self
            .clients
            .secrets
            .get_secret_value()
            .secret_id(secret)
            .set_version_id(version.map(str::to_owned))
            .set_version_stage(stage.map(str::to_owned))
            .send()
            .await;
        match out {
            Ok(out) => Ok(out.secret_string().map(str::to_owned)),
            Err(err) if is_code(&err, "ResourceNotFoundException") => Ok(None),
            Err(err) => Err(SecretsError::from_sdk("GetSecretValue", err).into()),
        }
    }

    /// The key of the version with that stage; `None` when no version has it or it holds none.
    async fn key_of_stage(
        &self,
        versions: &Versions,
        stage: &str,
    ) -> Result<Option<String>, RotateError> {
        let Some(version) = versions.with_stage(stage) else {
            return Ok(None);
        };
        // By stage as well as id: moto answers a lone version id with the wrong version.
        match self
            .value(&versions.arn, Some(version), Some(stage))
            .await?
        {
            Some(value) => Ok(key_id_of(&value)?),
            None => Ok(None),
        }
    }

    async fn list_keys(&self) -> Result<Vec<AccessKey>, RotateError> {
        let out = self
            .clients
            .iam
            .list_access_keys()
            .user_name(&self.settings.iam_user)
            .send()
            .await
            .map_err(|e| iam_error("ListAccessKeys", e))?;
        Ok(out
            .access_key_metadata()
            .iter()
            .filter_map(|k| {
                Some(AccessKey {
                    id: k.access_key_id()?.to_owned(),
                    active: k.status() == Some(&StatusType::Active),
                })
            })
            .collect())
    }

    async fn delete_key(&self, id: &str) -> Result<(), RotateError> {
        match self
            .clients
            .iam
            .delete_access_key()
            .user_name(&self.settings.iam_user)
            .access_key_id(id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if is_code(&err, "NoSuchEntity") => Ok(()),
            Err(err) => Err(iam_error("DeleteAccessKey", err)),
        }
    }

    /// Deletes every key that is not in `known` (best effort: what stays is deleted by the next
    /// attempt as a key no version holds).
    async fn delete_keys_not_in(&self, known: &BTreeSet<String>) {
        let Ok(keys) = self.list_keys().await else {
            return;
        };
        for key in keys.iter().filter(|k| !known.contains(&k.id)) {
            tracing::warn!(
                key = key.id,
                "Deleting a key made by a call whose answer was lost"
            );
            if let Err(e) = self.delete_key(&key.id).await {
                tracing::error!(key = key.id, error = %e.name(), "Could not delete it: {e}");
            }
        }
    }
}
