//! The session policy a grant carries: S3 access to the user's own folder and nothing else.

use serde_json::json;

use super::SecretProblem;
use crate::folder;

/// Transfer's limit on a session policy.
pub const MAX_POLICY_CHARS: usize = 2048;

/// What a session may do with the objects of its folder: read, write, delete the current version.
const OBJECT_ACTIONS: [&str; 5] = [
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:GetObjectAcl",
];

/// Actions a deployment may add (`SESSION_POLICY_EXTRA_ACTIONS`); left out by default because a
/// partner could make its objects public where ACLs are enabled, or erase the versions that keep
/// a record of what it sent.
pub const EXTRA_OBJECT_ACTIONS: [&str; 2] = ["s3:PutObjectAcl", "s3:DeleteObjectVersion"];

/// A session policy allowing S3 access to `folder` (`/bucket` or `/bucket/prefix…`) and nothing
/// else: listing only below `prefix/` (so a sibling `prefix2/` stays invisible), objects only
/// under `prefix/`, with [`OBJECT_ACTIONS`] and those of `extra` (from
/// [`EXTRA_OBJECT_ACTIONS`]). The partition is the role's.
pub fn session_policy(
    folder: &str,
    role_arn: &str,
    extra: &[String],
) -> Result<String, SecretProblem> {
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
    let actions: Vec<&str> = OBJECT_ACTIONS
        .iter()
        .copied()
        .chain(
            EXTRA_OBJECT_ACTIONS
                .iter()
                .copied()
                .filter(|a| extra.iter().any(|e| e == a)),
        )
        .collect();
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            list,
            {
                "Sid": "HomeFolderObjects", "Effect": "Allow",
                "Action": actions,
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
