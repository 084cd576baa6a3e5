//! Thresholds and expected values the validation rules check against.
//!
//! Operators tune these per deployment (environment / state machine input), so every field has a
//! default and a partial JSON object is enough.

use serde::{Deserialize, Serialize};

/// What the validation rules accept. `Rules::default()` is the policy of DESIGN.md section 3.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rules {
    /// Rule 6: when set, every user's `Role` must be exactly this ARN; when unset, `Role` must at
    /// least be a well-formed IAM role ARN.
    pub transfer_role_arn: Option<String>,
    /// Rule 8: AWS Transfer Family accepts a small number of keys per user; the seed uses 2.
    pub max_public_keys: usize,
    /// Rule 7: an IPv4 range with a shorter prefix opens the endpoint to too much of the Internet.
    pub min_ipv4_prefix_len: u8,
    /// Rule 7: as `min_ipv4_prefix_len`, for IPv6.
    pub min_ipv6_prefix_len: u8,
    /// Rule 8: RSA moduli below this are refused.
    pub min_rsa_bits: usize,
    /// Rule 9: a key this many months old gets an expiry notice.
    pub notice_after_months: u32,
    /// Rule 9: the deadline named in the notice, counted from the key's `Updated` date.
    pub refuse_after_months: u32,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            transfer_role_arn: None,
            max_public_keys: 2,
            min_ipv4_prefix_len: 8,
            min_ipv6_prefix_len: 32,
            min_rsa_bits: 2048,
            notice_after_months: 10,
            refuse_after_months: 12,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_design() {
        let rules = Rules::default();
        assert_eq!(rules.transfer_role_arn, None);
        assert_eq!(rules.max_public_keys, 2);
        assert_eq!(rules.min_ipv4_prefix_len, 8);
        assert_eq!(rules.min_ipv6_prefix_len, 32);
        assert_eq!(rules.min_rsa_bits, 2048);
        assert_eq!(rules.notice_after_months, 10);
        assert_eq!(rules.refuse_after_months, 12);
    }

    #[test]
    fn a_partial_camel_case_object_overrides_only_what_it_names() {
        let rules: Rules = serde_json::from_str(
            r#"{"transferRoleArn":"arn:aws:iam::123456789012:role/Transfer","maxPublicKeys":1}"#,
        )
        .unwrap();
        assert_eq!(
            rules.transfer_role_arn.as_deref(),
            Some("arn:aws:iam::123456789012:role/Transfer")
        );
        assert_eq!(rules.max_public_keys, 1);
        assert_eq!(rules.min_rsa_bits, 2048);
    }

    #[test]
    fn an_empty_object_is_the_default_policy() {
        let rules: Rules = serde_json::from_str("{}").unwrap();
        assert_eq!(rules, Rules::default());
    }
}
