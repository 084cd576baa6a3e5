use super::*;
use aws_sdk_s3::operation::get_object::{GetObjectError, GetObjectOutput};
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectOutput};
use aws_sdk_s3::types::Object;
use aws_sdk_s3::types::error::NoSuchKey;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use serde_json::{Value, json};

fn store(rules: &[&aws_smithy_mocks::Rule]) -> WorkStore {
    let client = mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    WorkStore::new(client, "work")
}

fn body(value: &Value) -> ByteStream {
    ByteStream::from(serde_json::to_vec(value).unwrap())
}

#[tokio::test]
async fn a_file_is_written_as_json_to_its_key_and_named_by_bucket_and_key() {
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| {
            r.bucket() == Some("work")
                && r.key() == Some("runs/v/e/batches.json")
                && r.content_type() == Some("application/json")
        })
        .then_output(|| PutObjectOutput::builder().build());
    let work = store(&[&put]);

    let file = work
        .put_json("runs/v/e/batches.json", &json!([["a", "b"]]))
        .await
        .unwrap();

    assert_eq!(file.uri(), "s3://work/runs/v/e/batches.json");
    assert_eq!((put.num_calls(), work.calls()), (1, 1));
}

#[tokio::test]
async fn a_missing_file_is_named_and_never_retried() {
    let get = mock!(aws_sdk_s3::Client::get_object).then_error(|| {
        GetObjectError::NoSuchKey(
            NoSuchKey::builder()
                .meta(ErrorMetadata::builder().code("NoSuchKey").build())
                .build(),
        )
    });
    let work = store(&[&get]);

    let err = work
        .get_json::<Value>("runs/v/e/admins.json")
        .await
        .unwrap_err();

    assert_eq!(err.name(), ErrorName::WorkFileInvalid);
    assert!(err.to_string().contains("runs/v/e/admins.json"), "{err}");
    assert_eq!(get.num_calls(), 1);
}

#[tokio::test]
async fn a_file_that_is_not_the_expected_json_is_named_without_its_content() {
    let get = mock!(aws_sdk_s3::Client::get_object).then_output(|| {
        GetObjectOutput::builder()
            .body(ByteStream::from_static(b"{\"Password\": \"hunter2\""))
            .build()
    });
    let work = store(&[&get]);

    let err = work.get_json::<Value>("k.json").await.unwrap_err();

    assert_eq!(err.name(), ErrorName::WorkFileInvalid);
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn s3_asking_to_slow_down_is_retried_with_backoff() {
    let put = mock!(aws_sdk_s3::Client::put_object)
        .sequence()
        .error(|| {
            PutObjectError::generic(
                ErrorMetadata::builder()
                    .code("SlowDown")
                    .message("Please reduce your request rate.")
                    .build(),
            )
        })
        .output(|| PutObjectOutput::builder().build())
        .build();
    let work = store(&[&put]);

    work.put_json("k.json", &json!({})).await.unwrap();

    assert_eq!(put.num_calls(), 2);
}

#[tokio::test]
async fn a_set_is_listed_then_read_in_key_order() {
    let list = mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(|r| r.prefix() == Some("runs/v/e/reports/"))
        .then_output(|| {
            ListObjectsV2Output::builder()
                .contents(
                    Object::builder()
                        .key("runs/v/e/reports/000001.json")
                        .build(),
                )
                .contents(
                    Object::builder()
                        .key("runs/v/e/reports/000000.json")
                        .build(),
                )
                .build()
        });
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_output(|r| {
        let index = warden_core::work::index_of(r.key().unwrap_or_default());
        GetObjectOutput::builder()
            .body(body(&json!({ "batch": index })))
            .build()
    });
    let work = store(&[&list, &get]);

    let files: Vec<(String, Value)> = work.get_all("runs/v/e/reports/").await.unwrap();

    let batches: Vec<&Value> = files.iter().map(|(_, v)| &v["batch"]).collect();
    assert_eq!(batches, [&json!(0), &json!(1)]);
    assert_eq!(work.calls(), 3);
}
