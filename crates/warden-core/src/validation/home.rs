//! Rule 5: `HomeDirectoryType` is `LOGICAL`, `HomeDirectoryDetails` maps `/` to a folder, and
//! that folder keeps the user apart from everyone else (isolation).

use super::{Check, Code, Findings};
use crate::folder;
use crate::text::quoted;
use crate::user::{HomeDirectoryError, HomeDirectoryMapping, Role, SecretKey};

pub(super) fn home_directory(check: &Check, findings: &mut Findings) {
    if let Some(kind) = check.secret.text(SecretKey::HomeDirectoryType)
        && kind != "LOGICAL"
    {
        findings.push(
            Code::HomeDirectoryType,
            format!(
                "HomeDirectoryType is {}; expected \"LOGICAL\"",
                quoted(kind)
            ),
        );
    }
    let mappings = match check.secret.home_directory_mappings() {
        Ok(mappings) => mappings,
        // Rule 1 reports a missing key or a value of the wrong type.
        Err(HomeDirectoryError::Missing | HomeDirectoryError::WrongType(_)) => return,
        Err(error) => {
            findings.push(Code::HomeDirectoryDetailsInvalid, error.to_string());
            return;
        }
    };
    let roots = mappings.iter().filter(|m| m.entry == "/").count();
    if roots == 0 {
        findings.push(
            Code::HomeDirectoryNoRootEntry,
            "HomeDirectoryDetails has no mapping with \"Entry\": \"/\"",
        );
    } else if roots > 1 {
        findings.push(
            Code::HomeDirectoryDuplicateEntry,
            format!("HomeDirectoryDetails maps \"Entry\": \"/\" {roots} times"),
        );
    }
    let home = mappings
        .iter()
        .find(|m| m.entry == "/")
        .filter(|m| folder::check(&m.target).is_ok())
        .map(|m| folder::normalise(&m.target));
    if let Some(home) = &home {
        let role_arn = check
            .secret
            .text(SecretKey::Role)
            .unwrap_or("arn:aws:iam::0:role/x");
        if crate::login::session_policy(home, role_arn, &[]).is_err() {
            findings.push(
                Code::HomeDirectoryPolicyTooLong,
                format!(
                    "the session policy for the home folder {} would be longer than the 2,048 characters Transfer accepts",
                    quoted(home)
                ),
            );
        }
    }
    for (index, mapping) in mappings.iter().enumerate() {
        match folder::check(&mapping.target) {
            Ok(()) => {
                if let Some(home) = &home
                    && !folder::is_inside_or_equal(&folder::normalise(&mapping.target), home)
                {
                    findings.push(
                        Code::HomeDirectoryTargetOutsideHome,
                        format!(
                            "HomeDirectoryDetails mapping #{} (Entry {}): the Target {} lies outside the home folder {}",
                            index + 1,
                            quoted(&mapping.entry),
                            quoted(&mapping.target),
                            quoted(home)
                        ),
                    );
                }
                isolation(check, mapping, findings)
            }
            Err(problem) => findings.push(
                Code::HomeDirectoryTargetInvalid,
                format!(
                    "HomeDirectoryDetails mapping #{} (Entry {}): the Target {} {}",
                    index + 1,
                    quoted(&mapping.entry),
                    quoted(&mapping.target),
                    problem.describe()
                ),
            ),
        }
    }
}

/// Where a valid target may lie, by role. Every mapping is checked, not just `/`: an extra
/// mapping could otherwise reach another user's folder.
fn isolation(check: &Check, mapping: &HomeDirectoryMapping, findings: &mut Findings) {
    let target = folder::normalise(&mapping.target);
    let shown = quoted(&target);
    match check.role {
        Role::User => {
            let group_folder = check
                .secret
                .text(SecretKey::GroupAdmin)
                .and_then(|name| check.admins.get(name))
                .and_then(|admin| admin.folder.as_deref());
            // Unknown admin or admin without a folder: rule 2 / the admin's own report says so.
            let Some(group_folder) = group_folder else {
                return;
            };
            if target == group_folder {
                findings.push(
                    Code::HomeDirectoryNotIsolated,
                    format!("Target {shown} is the GroupAdmin's own folder, shared with the group's other users"),
                );
            } else if !folder::is_strictly_inside(&target, group_folder) {
                findings.push(
                    Code::HomeDirectoryOutsideGroup,
                    format!(
                        "Target {shown} is outside the GroupAdmin's folder {}",
                        quoted(group_folder)
                    ),
                );
            }
        }
        Role::GroupAdmin => {
            let buckets = check.admins.super_admin_folders();
            if buckets.is_empty() {
                if folder::segments(&target).len() < 2 {
                    findings.push(
                        Code::HomeDirectoryOutsideBucket,
                        format!("Target {shown} is a bucket root; a GroupAdmin's folder lies inside the bucket"),
                    );
                }
            } else if !buckets
                .iter()
                .any(|bucket| folder::is_strictly_inside(&target, bucket))
            {
                findings.push(
                    Code::HomeDirectoryOutsideBucket,
                    format!(
                        "Target {shown} is not inside the SuperAdmin's bucket {}",
                        quoted(&buckets.join(", "))
                    ),
                );
            }
        }
        Role::SuperAdmin => {
            if mapping.entry == "/" && folder::segments(&target).len() != 1 {
                findings.push(
                    Code::HomeDirectoryNotBucketRoot,
                    format!(
                        "Target {shown} is not a bucket root; a SuperAdmin's folder is the bucket, e.g. {}",
                        quoted(&format!("/{}", folder::bucket(&target)))
                    ),
                );
            }
        }
    }
}
