//! Function configuration from environment variables, parsed once at cold start.

/// A configuration value that is present but unusable. Raised at cold start, so a misconfigured
/// function fails its first invocation loudly instead of running with a guess.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name} = {value:?} is not valid: expected {expected}")]
pub struct ConfigError {
    pub name: String,
    pub value: String,
    pub expected: &'static str,
}

/// Reads an environment variable, treating unset and blank the same.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Reads and parses an environment variable; `Ok(None)` when unset or blank.
pub fn parse<T: std::str::FromStr>(
    name: &str,
    expected: &'static str,
) -> Result<Option<T>, ConfigError> {
    var(name)
        .map(|value| {
            value.parse().map_err(|_| ConfigError {
                name: name.to_owned(),
                value,
                expected,
            })
        })
        .transpose()
}

/// Reads a comma-separated list (empty when unset).
pub fn list(name: &str) -> Vec<String> {
    var(name)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The secret name prefix that marks SFTP users (`SECRET_PREFIX`, default `SFTP/`).
pub fn secret_prefix() -> String {
    var("SECRET_PREFIX").unwrap_or_else(|| "SFTP/".to_owned())
}

/// The validation policy from the environment (`TRANSFER_ROLE_ARN`, `MAX_PUBLIC_KEYS`,
/// `MIN_RSA_BITS`, `MIN_IPV4_PREFIX_LEN`, `MIN_IPV6_PREFIX_LEN`, `KEY_NOTICE_AFTER_MONTHS`,
/// `KEY_REFUSE_AFTER_MONTHS`); unset values take the defaults of [`crate::Rules`]. One reader
/// for the validate-users Lambda and the operator CLI, so both judge secrets alike.
pub fn rules() -> Result<crate::Rules, ConfigError> {
    let defaults = crate::Rules::default();
    Ok(crate::Rules {
        transfer_role_arn: var("TRANSFER_ROLE_ARN"),
        max_public_keys: parse("MAX_PUBLIC_KEYS", "a whole number")?
            .unwrap_or(defaults.max_public_keys),
        min_ipv4_prefix_len: parse("MIN_IPV4_PREFIX_LEN", "0-32")?
            .unwrap_or(defaults.min_ipv4_prefix_len),
        min_ipv6_prefix_len: parse("MIN_IPV6_PREFIX_LEN", "0-128")?
            .unwrap_or(defaults.min_ipv6_prefix_len),
        min_rsa_bits: parse("MIN_RSA_BITS", "a whole number of bits")?
            .unwrap_or(defaults.min_rsa_bits),
        notice_after_months: parse("KEY_NOTICE_AFTER_MONTHS", "a whole number of months")?
            .unwrap_or(defaults.notice_after_months),
        refuse_after_months: parse("KEY_REFUSE_AFTER_MONTHS", "a whole number of months")?
            .unwrap_or(defaults.refuse_after_months),
    })
}
