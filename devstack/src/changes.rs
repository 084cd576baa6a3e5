//! Secret-change events as they reach `start-runs`: CloudTrail events from EventBridge, gathered
//! by the queue into batches (`{"Records": [{"messageId", "body"}, …]}`).

use serde_json::{Value, json};

/// The CloudTrail `PutSecretValue` event EventBridge delivers when `SFTP/<username>` changes.
pub fn put_secret_value(username: &str, event_id: &str) -> Value {
    let sample = include_str!("../../test-events/cloudtrail-put-secret-value.json");
    let mut event: Value = serde_json::from_str(sample).unwrap_or_default();
    event["id"] = json!(event_id);
    event["detail"]["requestParameters"]["secretId"] = json!(format!("SFTP/{username}"));
    event
}

/// A batch as the queue's event source mapping hands it to the function; message ids are the
/// events' ids, as each event is one message.
pub fn queue_batch(events: &[Value]) -> Value {
    let records: Vec<Value> = events
        .iter()
        .map(|event| {
            json!({
                "messageId": format!("msg-{}", event["id"].as_str().unwrap_or_default()),
                "body": event.to_string(),
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    json!({ "Records": records })
}
