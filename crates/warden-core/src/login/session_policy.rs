//! The session policy a grant carries: S3 access to the user's own folder and nothing else.

use serde_json::json;

use super::SecretProblem;
use crate::folder;

/// Transfer's limit on a session policy.
pub const MAX_POLICY_CHARS: usize = 2048;

/// A session policy allowing S3 access to `folder` (`/bucket` or `/bucket/prefix…`) and nothing
/// else: listing only below `prefix/` (so a sibling `prefix2/` stays invisible), objects only
/// under `prefix/`. The partition is the role's.
pub fn session_policy(folder: &str, role_arn: &str) -> Result<String, SecretProblem> {
    let partition = role_arn.split(':').nth(1).unwrap_or("aws");
    let segments = folder::segments(folder);
    let (bucket, prefix) = match segments.split_first() {
        Some((bucket, rest)) => (*bucket, rest.join("/")),
        None => return Err(SecretProblem::UnsafeTarget),
    };
    let bucket_arn = format!("arn:{partition}:s3:::{bucket}");
    let (list, objects) = if prefix.is_empty() {
        (
            json!({"Sid": "ListBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn}),
            format!("{bucket_arn}/*"),
        )
    } else {
        (
            json!({
                "Sid": "ListHomeFolder", "Effect": "Allow", "Action": "s3:ListBucket",
                "Resource": bucket_arn,
                "Condition": {"StringLike": {"s3:prefix": [format!("{prefix}/*")]}}
            }),
            format!("{bucket_arn}/{prefix}/*"),
        )
    };
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            list,
            {
                "Sid": "HomeFolderObjects", "Effect": "Allow",
                "Action": [
                    "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject",
                    "s3:DeleteObjectVersion", "s3:GetObjectACL", "s3:PutObjectACL"
                ],
                "Resource": objects
            }
        ]
    })
    .to_string();
    if policy.chars().count() > MAX_POLICY_CHARS {
        return Err(SecretProblem::PolicyTooLong);
    }
    Ok(policy)
}
