//! IAM names the secrets carry.

/// `arn:<partition>:iam::<12 digits>:role/<path/>name`, partition `aws`, `aws-cn` or
/// `aws-us-gov`, with IAM's character set and length limits for the path and name.
pub fn is_role_arn(value: &str) -> bool {
    const MAX_NAME_LEN: usize = 64;
    const MAX_PATH_LEN: usize = 512;
    let parts: Vec<&str> = value.split(':').collect();
    let [arn, partition, service, region, account, resource] = parts.as_slice() else {
        return false;
    };
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return false;
    };
    let segments: Vec<&str> = path_and_name.split('/').collect();
    let name_len = segments.last().map_or(0, |name| name.len());
    let is_iam_char = |c: char| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c);
    *arn == "arn"
        && matches!(*partition, "aws" | "aws-cn" | "aws-us-gov")
        && *service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && (1..=MAX_NAME_LEN).contains(&name_len)
        && path_and_name.len() - name_len <= MAX_PATH_LEN
        && segments
            .iter()
            .all(|s| !s.is_empty() && s.chars().all(is_iam_char))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_role_arns_in_every_partition_are_well_formed() {
        for arn in [
            "arn:aws:iam::123456789012:role/TransferS3AccessRole",
            "arn:aws-cn:iam::123456789012:role/service-role/Transfer.Access@x",
            "arn:aws-us-gov:iam::123456789012:role/a/b/c",
        ] {
            assert!(is_role_arn(arn), "{arn}");
        }
    }

    #[test]
    fn other_strings_are_not_iam_role_arns() {
        for arn in [
            "",
            "TransferS3AccessRole",
            "arn:aws:iam:AccountNumber:aws:role/TransferS3AccessRole",
            "arn:aws:iam::12345678901:role/Transfer",
            "arn:aws:iam::123456789012:user/Transfer",
            "arn:aws:iam:ap-southeast-2:123456789012:role/Transfer",
            "arn:aws:s3::123456789012:role/Transfer",
            "arn:azure:iam::123456789012:role/Transfer",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role//Transfer",
            "arn:aws:iam::123456789012:role/Transfer Role",
            "arn:aws:iam::123456789012:role/Transfer\n",
        ] {
            assert!(!is_role_arn(arn), "{arn:?}");
        }
        let long_name = format!("arn:aws:iam::123456789012:role/{}", "r".repeat(65));
        assert!(!is_role_arn(&long_name));
    }
}
