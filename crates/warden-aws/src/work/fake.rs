//! An in-memory work bucket behind the real S3 client (aws-smithy-mocks), for the functions'
//! tests: what a step writes, the next step reads; a missing key is S3's `NoSuchKey`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::Object;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::WorkStore;

/// The bucket's objects, shared by the store the code under test uses and the test itself.
#[derive(Clone, Default)]
pub struct FakeBucket {
    objects: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl FakeBucket {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store on this bucket, as the functions get from their configuration.
    pub fn store(&self) -> WorkStore {
        let objects = self.objects.clone();
        let put = mock!(aws_sdk_s3::Client::put_object).then_compute_output(move |r| {
            let body = r.body().bytes().unwrap_or_default().to_vec();
            lock(&objects).insert(r.key().unwrap_or_default().to_owned(), body);
            PutObjectOutput::builder().build()
        });
        let objects = self.objects.clone();
        let get =
            mock!(aws_sdk_s3::Client::get_object).then_compute_response(move |r| {
                match lock(&objects).get(r.key().unwrap_or_default()) {
                    Some(body) => MockResponse::Output(
                        GetObjectOutput::builder()
                            .body(ByteStream::from(body.clone()))
                            .build(),
                    ),
                    None => MockResponse::Error(GetObjectError::NoSuchKey(
                        NoSuchKey::builder()
                            .meta(ErrorMetadata::builder().code("NoSuchKey").build())
                            .build(),
                    )),
                }
            });
        let objects = self.objects.clone();
        let list = mock!(aws_sdk_s3::Client::list_objects_v2).then_compute_output(move |r| {
            let prefix = r.prefix().unwrap_or_default();
            let mut out = ListObjectsV2Output::builder();
            for key in lock(&objects).keys().filter(|k| k.starts_with(prefix)) {
                out = out.contents(Object::builder().key(key).build());
            }
            out.build()
        });
        let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&put, &get, &list]);
        WorkStore::new(client, "work")
    }

    /// Puts a file as a previous step would have.
    pub fn put<T: Serialize>(&self, key: &str, value: &T) {
        let body = serde_json::to_vec(value).expect("serialisable");
        lock(&self.objects).insert(key.to_owned(), body);
    }

    /// The file at `key`, parsed; `None` when there is none.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        lock(&self.objects)
            .get(key)
            .map(|body| serde_json::from_slice(body).expect("a JSON file"))
    }

    /// Takes a file away, as if the step that writes it had failed.
    pub fn remove(&self, key: &str) {
        lock(&self.objects).remove(key);
    }

    /// Every key, sorted.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.objects).keys().cloned().collect()
    }
}

fn lock(
    objects: &Mutex<BTreeMap<String, Vec<u8>>>,
) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
    objects
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
