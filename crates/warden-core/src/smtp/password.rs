//! The SES SMTP password of an IAM access key: SES derives it from the secret access key and the
//! Region, so the rotation computes it the same way.
//!
//! HMAC-SHA256 chain: key `"AWS4" + secret key` over `"11111111"`, then the Region, `"ses"`,
//! `"aws4_request"` and `"SendRawEmail"`; the version byte `0x04` before the result; base64.
//! Neither the key nor the password ever appears in a `Debug` or `Display` output.

use std::fmt;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The SMTP password: shown only through [`SmtpPassword::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(String);

impl SmtpPassword {
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A password as stored in the credentials secret.
    pub(crate) fn from_stored(password: &str) -> Self {
        Self(password.to_owned())
    }
}

impl fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpPassword(<redacted>)")
    }
}

const DATE: &str = "11111111";
const SERVICE: &str = "ses";
const TERMINAL: &str = "aws4_request";
const MESSAGE: &str = "SendRawEmail";
const VERSION: u8 = 0x04;

fn sign(key: &[u8], message: &str) -> Vec<u8> {
    // HMAC accepts a key of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The SMTP password SES accepts in `region` for the access key whose secret is
/// `secret_access_key`.
pub fn smtp_password(secret_access_key: &str, region: &str) -> SmtpPassword {
    let mut signature = sign(format!("AWS4{secret_access_key}").as_bytes(), DATE);
    for message in [region, SERVICE, TERMINAL, MESSAGE] {
        signature = sign(&signature, message);
    }
    let mut versioned = Vec::with_capacity(1 + signature.len());
    versioned.push(VERSION);
    versioned.extend_from_slice(&signature);
    SmtpPassword(base64::engine::general_purpose::STANDARD.encode(versioned))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computed independently with Python's `hmac`/`hashlib`/`base64`, following AWS's
    /// published algorithm, for AWS's documentation example key and a made-up one.
    #[test]
    fn the_password_matches_an_independent_implementation_per_region() {
        let cases = [
            (
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "us-east-1",
                "BLBM/9hSUELfq8Gw+rU1YcBjkOxGbhT2XG763xVLGWL9",
            ),
            (
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "ap-southeast-2",
                "BLNVIwl1Vk66qi8YP1q44PSaqUtaoyrS/0LT79VaGBfa",
            ),
            (
                "AbCdEf0123456789abcdefGHIJKLmnopqrstuvwx",
                "eu-west-1",
                "BDJu8lkTTgV6mZDXYENskxruNob8Ctfs7LIYoNUhQr2/",
            ),
        ];
        for (key, region, expected) in cases {
            assert_eq!(smtp_password(key, region).expose(), expected, "{region}");
        }
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let password = smtp_password("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1");
        let shown = format!("{password:?}");
        assert_eq!(shown, "SmtpPassword(<redacted>)");
        assert!(!shown.contains(password.expose()));
    }
}
