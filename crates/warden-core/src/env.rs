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
