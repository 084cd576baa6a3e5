//! The SMTP credentials secret: one JSON object per version (`AWSCURRENT`, `AWSPENDING`,
//! `AWSPREVIOUS`). The mail servers read `SmtpUsername`, `SmtpPassword`, `SmtpEndpoint` and
//! `SmtpPort`; the rotation reads `AccessKeyId` to know which IAM key a version holds. The
//! template's first value is `{}`: no key yet.
//!
//! The IAM secret access key itself is not stored: it is only needed to derive the SMTP
//! password, and kept it would hand every mail server's role a usable AWS credential. The SMTP
//! password is all a server needs, and `testSecret` proves the pair with a real login.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::password::{SmtpPassword, smtp_password};

/// One version of the secret. `Debug` shows the key id, never the secret key or the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SmtpCredentials {
    pub iam_user_name: String,
    pub access_key_id: String,
    pub smtp_username: String,
    smtp_password: String,
    pub smtp_endpoint: String,
    pub smtp_port: u16,
    pub region: String,
}

impl SmtpCredentials {
    /// The credentials of a new access key: its SMTP password derived for `region`.
    pub fn for_key(
        iam_user_name: &str,
        access_key_id: &str,
        secret_access_key: &str,
        region: &str,
        smtp_endpoint: &str,
        smtp_port: u16,
    ) -> Self {
        Self {
            iam_user_name: iam_user_name.to_owned(),
            access_key_id: access_key_id.to_owned(),
            smtp_username: access_key_id.to_owned(),
            smtp_password: smtp_password(secret_access_key, region).expose().to_owned(),
            smtp_endpoint: smtp_endpoint.to_owned(),
            smtp_port,
            region: region.to_owned(),
        }
    }

    /// Reads a version's value. A value that is not these credentials is an error naming the
    /// problem, never quoting the value.
    pub fn parse(secret_string: &str) -> Result<Self, CredentialsError> {
        serde_json::from_str(secret_string).map_err(|e| CredentialsError::Malformed {
            // serde's message names the field and position; it can quote a value only for an
            // unknown variant or a type mismatch, which are cut to the category here.
            detail: format!(
                "{:?} at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })
    }

    /// The value to store (a JSON object). Holds the password: it goes to Secrets Manager and
    /// nowhere else.
    pub fn to_secret_string(&self) -> String {
        serde_json::to_string(self).expect("a struct of strings and a number serialises")
    }

    /// The password the mail servers log in with.
    pub fn smtp_password(&self) -> SmtpPassword {
        SmtpPassword::from_stored(&self.smtp_password)
    }

    /// Whether the stored password is the one SES derives from `secret_access_key` in the stored
    /// Region (a value edited by hand, or stored for another Region, is not).
    pub fn password_matches_key(&self, secret_access_key: &str) -> bool {
        smtp_password(secret_access_key, &self.region).expose() == self.smtp_password
    }
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("iam_user_name", &self.iam_user_name)
            .field("access_key_id", &self.access_key_id)
            .field("smtp_password", &"<redacted>")
            .field("smtp_endpoint", &self.smtp_endpoint)
            .field("smtp_port", &self.smtp_port)
            .field("region", &self.region)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("the SMTP credentials secret is not the expected JSON object ({detail})")]
    Malformed { detail: String },
}

/// Which access key a version holds: `None` for the template's first value (`{}`, no key yet).
/// Reads only `AccessKeyId`, whatever else the value holds.
pub fn key_id_of(secret_string: &str) -> Result<Option<String>, CredentialsError> {
    #[derive(Deserialize)]
    struct KeyOnly {
        #[serde(rename = "AccessKeyId", default)]
        access_key_id: Option<String>,
    }
    let key: KeyOnly =
        serde_json::from_str(secret_string).map_err(|e| CredentialsError::Malformed {
            detail: format!(
                "{:?} at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            ),
        })?;
    Ok(key.access_key_id.filter(|id| !id.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    fn example() -> SmtpCredentials {
        SmtpCredentials::for_key(
            "sftp-warden-ses-smtp",
            "AKIAIOSFODNN7EXAMPLE",
            SECRET,
            "us-east-1",
            "email-smtp.us-east-1.amazonaws.com",
            587,
        )
    }

    #[test]
    fn a_new_key_becomes_credentials_with_the_derived_password() {
        let creds = example();
        assert_eq!(creds.smtp_username, "AKIAIOSFODNN7EXAMPLE");
        // The value of password.rs's independent check for this key and Region.
        assert_eq!(
            creds.smtp_password().expose(),
            "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9"
        );
        assert!(creds.password_matches_key(SECRET));
        let stored = creds.to_secret_string();
        assert!(!stored.contains(SECRET), "the IAM secret key is not stored");
        assert_eq!(SmtpCredentials::parse(&stored).unwrap(), creds);
        let fields: serde_json::Value = serde_json::from_str(&stored).unwrap();
        for field in [
            "IamUserName",
            "AccessKeyId",
            "SmtpUsername",
            "SmtpPassword",
            "SmtpEndpoint",
            "SmtpPort",
            "Region",
        ] {
            assert!(
                fields.get(field).is_some(),
                "{field} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret_key_or_the_password() {
        let creds = example();
        let shown = format!("{creds:?}");
        assert!(shown.contains("AKIAIOSFODNN7EXAMPLE"));
        assert!(!shown.contains(SECRET));
        assert!(!shown.contains(creds.smtp_password().expose()));
    }

    #[test]
    fn a_value_edited_for_another_region_does_not_match_its_key() {
        let mut fields: serde_json::Value =
            serde_json::from_str(&example().to_secret_string()).unwrap();
        fields["Region"] = "eu-west-1".into();
        let edited = SmtpCredentials::parse(&fields.to_string()).unwrap();
        assert!(!edited.password_matches_key(SECRET));
    }

    #[test]
    fn the_key_of_a_version_is_read_without_the_rest() {
        assert_eq!(key_id_of("{}").unwrap(), None);
        assert_eq!(key_id_of(r#"{"AccessKeyId":""}"#).unwrap(), None);
        assert_eq!(
            key_id_of(&example().to_secret_string()).unwrap().as_deref(),
            Some("AKIAIOSFODNN7EXAMPLE")
        );
    }

    #[test]
    fn a_malformed_value_is_an_error_that_quotes_nothing_of_it() {
        let value = format!(r#"{{"AccessKeyId": 7, "SmtpPassword": "{SECRET}""#);
        for err in [
            SmtpCredentials::parse(&value).unwrap_err(),
            key_id_of(&value).unwrap_err(),
            SmtpCredentials::parse("not json").unwrap_err(),
        ] {
            let shown = err.to_string();
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(shown.contains("not the expected JSON object"), "{shown}");
        }
    }
}
