//! Secrets Manager for the operator: the users with their tags, batch reads (through
//! `warden_aws::secrets::UserSecrets`, as the Lambdas read), and the writes an import makes.

use std::collections::BTreeMap;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use indicatif::ProgressBar;
use warden_aws::secrets::{BATCH_READ_LIMIT, BatchRead, SecretText, SecretsError, UserSecrets};

/// One user as `ListSecrets` shows it (no secret value is read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedUser {
    pub username: String,
    pub tags: BTreeMap<String, String>,
}

/// A write that failed: the operation and Secrets Manager's code and message (which never hold
/// the secret value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed: {message}")]
pub struct WriteError {
    pub operation: &'static str,
    pub message: String,
    /// Secrets Manager refused the call for its rate: worth trying again after a pause.
    pub throttled: bool,
}

impl WriteError {
    fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let message = super::sdk_message(&err);
        let throttled = super::is_throttling(&err);
        WriteError {
            operation,
            message,
            throttled,
        }
    }
}

/// The SFTP users' secrets, by username under a prefix (`SFTP/`).
#[derive(Clone, Debug)]
pub struct SecretStore {
    client: Client,
    users: UserSecrets,
}

impl SecretStore {
    pub fn new(client: Client, prefix: &str) -> Self {
        Self {
            users: UserSecrets::new(client.clone(), prefix),
            client,
        }
    }

    pub fn prefix(&self) -> &str {
        self.users.prefix()
    }

    /// The reader the validation Lambdas use.
    pub fn users(&self) -> &UserSecrets {
        &self.users
    }

    fn secret_id(&self, username: &str) -> String {
        format!("{}{username}", self.prefix())
    }

    /// Every user with its tags, sorted by username; follows pagination.
    pub async fn list(&self) -> Result<Vec<ListedUser>, WriteError> {
        let mut users = Vec::new();
        let mut pages = self
            .client
            .list_secrets()
            .filters(
                Filter::builder()
                    .key(FilterNameStringType::Name)
                    .values(self.prefix())
                    .build(),
            )
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| WriteError::from_sdk("ListSecrets", e))?;
            for entry in page.secret_list() {
                // The name filter matches more loosely than a prefix, as in UserSecrets.
                let Some(username) = entry
                    .name()
                    .and_then(|n| warden_core::user::username_from_secret_id(self.prefix(), n))
                else {
                    continue;
                };
                let tags = entry
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_owned(), t.value()?.to_owned())))
                    .collect();
                users.push(ListedUser { username, tags });
            }
        }
        users.sort_by(|a, b| a.username.cmp(&b.username));
        users.dedup_by(|a, b| a.username == b.username);
        Ok(users)
    }

    /// Reads any number of users, [`BATCH_READ_LIMIT`] per `BatchGetSecretValue` call, advancing
    /// `progress` by one per user.
    pub async fn read(
        &self,
        usernames: &[String],
        progress: &ProgressBar,
    ) -> Result<BatchRead, SecretsError> {
        let mut all = BatchRead::default();
        for chunk in usernames.chunks(BATCH_READ_LIMIT) {
            let read = self.users.read_batch(chunk).await?;
            all.secrets.extend(read.secrets);
            all.missing.extend(read.missing);
            all.errors.extend(read.errors);
            all.calls += read.calls;
            progress.inc(chunk.len() as u64);
        }
        Ok(all)
    }

    /// `CreateSecret` with its tags and description, in one call.
    pub async fn create(
        &self,
        username: &str,
        secret: &SecretText,
        description: &str,
        tags: &[(String, String)],
        kms_key_id: Option<&str>,
    ) -> Result<(), WriteError> {
        self.client
            .create_secret()
            .name(self.secret_id(username))
            .description(description)
            .secret_string(secret.expose())
            .set_tags(Some(to_tags(tags)))
            .set_kms_key_id(kms_key_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| WriteError::from_sdk("CreateSecret", e))?;
        Ok(())
    }

    /// `PutSecretValue`: a new current version (CloudTrail records it, which starts validation).
    pub async fn put(&self, username: &str, secret: &SecretText) -> Result<(), WriteError> {
        self.client
            .put_secret_value()
            .secret_id(self.secret_id(username))
            .secret_string(secret.expose())
            .send()
            .await
            .map_err(|e| WriteError::from_sdk("PutSecretValue", e))?;
        Ok(())
    }

    /// `TagResource`: adds or overwrites the given tags, leaving others alone.
    pub async fn tag(&self, username: &str, tags: &[(String, String)]) -> Result<(), WriteError> {
        self.client
            .tag_resource()
            .secret_id(self.secret_id(username))
            .set_tags(Some(to_tags(tags)))
            .send()
            .await
            .map_err(|e| WriteError::from_sdk("TagResource", e))?;
        Ok(())
    }
}

fn to_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::operation::create_secret::CreateSecretOutput;
    use aws_sdk_secretsmanager::operation::list_secrets::ListSecretsOutput;
    use aws_sdk_secretsmanager::types::SecretListEntry;
    use aws_smithy_mocks::{mock, mock_client};

    #[tokio::test]
    async fn listing_keeps_users_under_the_prefix_with_their_tags() {
        let rule = mock!(Client::list_secrets).then_output(|| {
            ListSecretsOutput::builder()
                .secret_list(
                    SecretListEntry::builder()
                        .name("SFTP/anz-bank")
                        .tags(
                            Tag::builder()
                                .key("MigrationStatus")
                                .value("planned")
                                .build(),
                        )
                        .build(),
                )
                .secret_list(SecretListEntry::builder().name("SFTP/archive/old").build())
                .secret_list(SecretListEntry::builder().name("prod/SFTP/x").build())
                .build()
        });
        let client = mock_client!(aws_sdk_secretsmanager, [&rule]);

        let users = SecretStore::new(client, "SFTP/").list().await.unwrap();

        assert_eq!(
            users,
            [ListedUser {
                username: "anz-bank".into(),
                tags: BTreeMap::from([("MigrationStatus".into(), "planned".into())]),
            }]
        );
    }

    #[tokio::test]
    async fn a_new_secret_is_created_with_its_tags_under_the_prefix() {
        let rule = mock!(Client::create_secret)
            .match_requests(|r| {
                r.name() == Some("SFTP/anz-bank")
                    && r.tags().len() == 2
                    && r.tags()[1].key() == Some("MigrationStatus")
                    && r.kms_key_id().is_none()
            })
            .then_output(|| CreateSecretOutput::builder().build());
        let client = mock_client!(aws_sdk_secretsmanager, [&rule]);
        let tags = [
            ("Name".to_owned(), "ANZ Bank".to_owned()),
            ("MigrationStatus".to_owned(), "planned".to_owned()),
        ];

        SecretStore::new(client, "SFTP/")
            .create("anz-bank", &SecretText::new("{}"), "d", &tags, None)
            .await
            .unwrap();

        assert_eq!(rule.num_calls(), 1);
    }
}
