//! S3 landing folders (seed "Functional Design" step 2): the zero-byte `<path>/` object the S3
//! console makes for a folder, so a user's home directory exists before its first login.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;

use crate::plan::{FolderState, LandingFolder};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("S3 {operation} of {target} failed: {message}")]
pub struct S3Error {
    pub operation: &'static str,
    pub target: String,
    pub message: String,
    /// S3 refused the call for its rate (`SlowDown`): worth trying again after a pause.
    pub throttled: bool,
}

impl S3Error {
    fn from_sdk<E, R>(operation: &'static str, target: String, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let message = super::sdk_message(err);
        S3Error {
            operation,
            target,
            message,
            throttled: super::is_throttling(err),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Landing {
    client: Client,
}

impl Landing {
    /// S3 from the shared configuration. With a custom endpoint (the local stack), buckets are
    /// addressed by path: `bucket.127.0.0.1` resolves nowhere.
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        let custom_endpoint =
            config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(custom_endpoint)
            .build();
        Self::new(Client::from_conf(s3))
    }

    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Whether the bucket exists (and may be read); a 404 is `false`, anything else an error.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, S3Error> {
        match self.client.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(false),
            Err(err) if is_404(&err) => Ok(false),
            Err(err) => Err(S3Error::from_sdk(
                "HeadBucket",
                format!("s3://{bucket}"),
                &err,
            )),
        }
    }

    /// What S3 holds for the folder, its bucket's existence already known.
    pub async fn folder_state(
        &self,
        folder: &LandingFolder,
        bucket_exists: bool,
    ) -> Result<FolderState, S3Error> {
        if !bucket_exists {
            return Ok(FolderState::NoBucket);
        }
        let Some(key) = &folder.key else {
            return Ok(FolderState::Exists);
        };
        match self
            .client
            .head_object()
            .bucket(&folder.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(FolderState::Exists),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                Ok(FolderState::Missing)
            }
            Err(err) if is_404(&err) => Ok(FolderState::Missing),
            Err(err) => Err(S3Error::from_sdk("HeadObject", folder.to_string(), &err)),
        }
    }

    /// Makes the folder object (idempotent: S3 overwrites an equal empty object).
    pub async fn create_folder(&self, folder: &LandingFolder) -> Result<(), S3Error> {
        let Some(key) = &folder.key else {
            return Ok(());
        };
        self.client
            .put_object()
            .bucket(&folder.bucket)
            .key(key)
            .body(ByteStream::from_static(b""))
            .send()
            .await
            .map_err(|e| S3Error::from_sdk("PutObject", folder.to_string(), &e))?;
        Ok(())
    }
}

/// HEAD responses have no body, so a missing bucket or key may only show as a 404 status.
fn is_404<E>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(err, SdkError::ServiceError(service) if service.raw().status().as_u16() == 404)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::head_object::{HeadObjectError, HeadObjectOutput};
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_sdk_s3::types::error::NotFound;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    fn folder() -> LandingFolder {
        LandingFolder {
            bucket: "sftp-landing".into(),
            key: Some("payments/anz-bank/".into()),
        }
    }

    #[tokio::test]
    async fn a_missing_folder_is_missing_and_an_existing_one_exists() {
        let missing = mock!(aws_sdk_s3::Client::head_object)
            .match_requests(|r| r.key() == Some("payments/anz-bank/"))
            .then_error(|| HeadObjectError::NotFound(NotFound::builder().build()));
        let present = mock!(aws_sdk_s3::Client::head_object)
            .match_requests(|r| r.key() == Some("payments/"))
            .then_output(|| HeadObjectOutput::builder().build());
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&missing, &present]);
        let landing = Landing::new(client);

        assert_eq!(
            landing.folder_state(&folder(), true).await.unwrap(),
            FolderState::Missing
        );
        let admin = LandingFolder {
            key: Some("payments/".into()),
            ..folder()
        };
        assert_eq!(
            landing.folder_state(&admin, true).await.unwrap(),
            FolderState::Exists
        );
        assert_eq!(
            landing.folder_state(&folder(), false).await.unwrap(),
            FolderState::NoBucket
        );
    }

    #[tokio::test]
    async fn a_folder_is_an_empty_object_whose_key_ends_in_a_slash() {
        let put = mock!(aws_sdk_s3::Client::put_object)
            .match_requests(|r| {
                r.bucket() == Some("sftp-landing") && r.key() == Some("payments/anz-bank/")
            })
            .then_output(|| PutObjectOutput::builder().build());
        let client = mock_client!(aws_sdk_s3, [&put]);

        Landing::new(client).create_folder(&folder()).await.unwrap();
        let root = LandingFolder {
            bucket: "sftp-landing".into(),
            key: None,
        };
        Landing::new(mock_client!(aws_sdk_s3, [&put]))
            .create_folder(&root)
            .await
            .unwrap();

        assert_eq!(put.num_calls(), 1, "the bucket root needs no object");
    }
}
