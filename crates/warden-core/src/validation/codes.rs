//! Every finding code, with the rule it belongs to and how to fix it.
//!
//! One table so a code can never drift from its rule or lose its fix. Codes are stable
//! kebab-case strings: they end up in Step Functions payloads and may be matched on downstream.

use super::Rule;

macro_rules! codes {
    ($($variant:ident = $code:literal, $rule:ident, $fix:literal;)*) => {
        /// A finding code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            pub fn rule(self) -> Rule {
                match self {
                    $(Code::$variant => Rule::$rule,)*
                }
            }

            pub fn fix(self) -> &'static str {
                match self {
                    $(Code::$variant => $fix,)*
                }
            }
        }
    };
}

codes! {
    NotJson = "not-json", MandatoryKeys,
        "Rewrite the secret as one JSON object, e.g. {\"Name\": \"...\", \"Email\": \"...\", ...}: check quotes, commas and braces.";
    NotAnObject = "not-an-object", MandatoryKeys,
        "Store the secret as a JSON object with the keys Name, Email, PublicKey, HomeDirectoryType, HomeDirectoryDetails, GroupAdmin, Role and IP and/or IPv6.";
    MissingKey = "missing-key", MandatoryKeys,
        "Add the missing key to the secret (keys are case-sensitive); its value is checked by the other rules.";
    MissingIpKey = "missing-ip-key", MandatoryKeys,
        "Add an \"IP\" key (IPv4 CIDRs) and/or an \"IPv6\" key (IPv6 CIDRs); the value may be empty.";
    WrongType = "wrong-type", MandatoryKeys,
        "Store the value as a JSON string (in double quotes); HomeDirectoryDetails may also be a JSON array.";
    PasswordPlaintext = "password-plaintext", MandatoryKeys,
        "Replace Password with PasswordHash, the password's Argon2id hash as a PHC string (e.g. from `argon2 SALT -id -e`), so the secret no longer holds a readable password.";
    PasswordHashInvalid = "password-hash-invalid", MandatoryKeys,
        "Set PasswordHash to an Argon2id hash in PHC string format, as `argon2 SALT -id -e` prints it, e.g. with -m 15 -t 2 (19 MiB, 2 passes): at least 7 MiB of memory and 35 MiB x passes, at most 64 MiB, 128 MiB x passes and 4 lanes, a salt of 8 bytes or more; until then password logins are refused.";
    GroupAdminEmpty = "group-admin-empty", GroupAdmin,
        "Set GroupAdmin to the username of the admin responsible for this user.";
    GroupAdminNotAdmin = "group-admin-not-admin", GroupAdmin,
        "Set GroupAdmin to an admin's username (admin usernames contain \"admin\").";
    GroupAdminUnknown = "group-admin-unknown", GroupAdmin,
        "Set GroupAdmin to the exact username of an existing admin (SFTP/<admin> in Secrets Manager), or create that admin.";
    EmailDelimiter = "email-delimiter", EmailDelimiter,
        "Separate addresses with a comma only, e.g. ops@bank.example,it@bank.example.";
    EmailMissingComma = "email-missing-comma", EmailDelimiter,
        "Put a comma between addresses; spaces or line breaks alone do not separate them.";
    EmailEmptyEntry = "email-empty-entry", EmailDelimiter,
        "Remove the doubled, leading or trailing comma.";
    EmailEmpty = "email-empty", EmailFormat,
        "Add at least one contact address: key expiry notices go there.";
    EmailMalformed = "email-malformed", EmailFormat,
        "Correct the address to the form name@domain.tld, without spaces or other characters around it.";
    EmailSuppressed = "email-suppressed", EmailFormat,
        "Replace the address with one that receives mail (ask its owner), or correct its spelling; then remove it from the SES suppression list with `sftp-warden mail unsuppress ADDRESS`. Until then nothing is sent to it and its mail goes to the admins.";
    HomeDirectoryType = "home-directory-type", HomeDirectory,
        "Set HomeDirectoryType to LOGICAL (upper case).";
    HomeDirectoryDetailsInvalid = "home-directory-details-invalid", HomeDirectory,
        "Set HomeDirectoryDetails to [{\"Entry\": \"/\", \"Target\": \"/bucket/group/user\"}] (an array, or a string holding it).";
    HomeDirectoryNoRootEntry = "home-directory-no-root-entry", HomeDirectory,
        "Add a mapping {\"Entry\": \"/\", \"Target\": \"/bucket/group/user\"} to HomeDirectoryDetails.";
    HomeDirectoryDuplicateEntry = "home-directory-duplicate-entry", HomeDirectory,
        "Keep a single mapping for each Entry in HomeDirectoryDetails.";
    HomeDirectoryTargetInvalid = "home-directory-target-invalid", HomeDirectory,
        "Set the Target to an absolute folder path such as /bucket/group/user, without '.', '..' or '//'.";
    HomeDirectoryOutsideGroup = "home-directory-outside-group", HomeDirectory,
        "Move the user's Target into its GroupAdmin's folder, e.g. /bucket/group/user, or correct GroupAdmin.";
    HomeDirectoryTargetOutsideHome = "home-directory-target-outside-home", HomeDirectory,
        "Point every other mapping into the user's home folder (the \"/\" Target), e.g. /bucket/group/user/in; the identity provider refuses the login otherwise.";
    HomeDirectoryPolicyTooLong = "home-directory-policy-too-long", HomeDirectory,
        "Shorten the home folder's path: the session policy scoped to it must fit Transfer's 2,048 characters, or every login is refused.";
    HomeDirectoryNotIsolated = "home-directory-not-isolated", HomeDirectory,
        "Give the user its own folder below its GroupAdmin's folder, e.g. /bucket/group/user: the group folder holds other users' files.";
    HomeDirectoryOutsideBucket = "home-directory-outside-bucket", HomeDirectory,
        "Set the GroupAdmin's Target to its group folder inside the SuperAdmin's bucket, e.g. /bucket/group.";
    HomeDirectoryNotBucketRoot = "home-directory-not-bucket-root", HomeDirectory,
        "Set the SuperAdmin's Target to the bucket root, e.g. /bucket.";
    RoleMismatch = "role-mismatch", Role,
        "Set Role to the Transfer access role ARN configured for sftp-warden.";
    RoleMalformed = "role-malformed", Role,
        "Set Role to an IAM role ARN of the form arn:aws:iam::123456789012:role/RoleName.";
    CidrEmptyEntry = "cidr-empty-entry", IpRanges,
        "Remove the doubled, leading or trailing comma.";
    CidrInvalid = "cidr-invalid", IpRanges,
        "Write each range as a CIDR, e.g. 203.0.113.0/24 in IP or 2001:db8::/48 in IPv6, separated by commas.";
    CidrMissingPrefix = "cidr-missing-prefix", IpRanges,
        "Add the prefix length, e.g. 203.0.113.7/32 for a single IPv4 address or /128 for a single IPv6 address.";
    CidrWrongFamily = "cidr-wrong-family", IpRanges,
        "Move IPv4 ranges to IP and IPv6 ranges to IPv6.";
    CidrHostBits = "cidr-host-bits", IpRanges,
        "Write the network address of the range, as suggested.";
    CidrDuplicate = "cidr-duplicate", IpRanges,
        "Remove the repeated range.";
    CidrTooBroad = "cidr-too-broad", IpRanges,
        "Narrow the range to the addresses the external system really connects from.";
    PublicKeyEmpty = "public-key-empty", PublicKeys,
        "Add the user's SSH public key, or the placeholder \"ssh-rsa 1 2@3 Updated(YYYYMMDD)=<today>\" if it has none yet.";
    PublicKeyTooMany = "public-key-too-many", PublicKeys,
        "Remove old keys so that no more than the allowed number remain.";
    PublicKeyParts = "public-key-parts", PublicKeys,
        "Write each key as four space-separated parts: TYPE BASE64 COMMENT Updated(YYYYMMDD)=DATE; keys are separated by commas and the comment has no spaces.";
    PublicKeyInvalid = "public-key-invalid", PublicKeys,
        "Copy the public key again, whole and unchanged, from the .pub file the external system sent.";
    PublicKeyTypeMismatch = "public-key-type-mismatch", PublicKeys,
        "Make the first part of the entry the key's real type, as in its .pub file.";
    PublicKeyAlgorithm = "public-key-algorithm", PublicKeys,
        "Ask the external system for an Ed25519, ECDSA or RSA (2048 bits or more) key.";
    PublicKeyRsaTooShort = "public-key-rsa-too-short", PublicKeys,
        "Ask the external system for a longer RSA key (ssh-keygen -t rsa -b 4096) or an Ed25519 key.";
    PublicKeyDuplicate = "public-key-duplicate", PublicKeys,
        "Remove the repeated key.";
    KeyUpdatedFormat = "key-updated-format", PublicKeys,
        "End the key entry with Updated(YYYYMMDD)=DATE, e.g. Updated(YYYYMMDD)=20250131.";
    KeyUpdatedDate = "key-updated-date", PublicKeys,
        "Write the date the key was installed as eight digits, year month day, e.g. Updated(YYYYMMDD)=20250131.";
    KeyUpdatedFuture = "key-updated-future", PublicKeys,
        "Write the date the key was actually installed; it cannot be in the future.";
}

impl std::str::FromStr for Code {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Code::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == s)
            .ok_or(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_kebab_case() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let s = code.as_str();
            assert!(seen.insert(s), "{s} twice");
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{s}");
            assert_eq!(s.parse::<Code>(), Ok(*code));
        }
    }

    #[test]
    fn every_rule_but_key_age_has_a_code() {
        for rule in Rule::ALL {
            let has_code = Code::ALL.iter().any(|c| c.rule() == rule);
            assert_eq!(has_code, rule != Rule::KeyAge, "{rule:?}");
        }
    }

    #[test]
    fn every_fix_is_a_sentence() {
        for code in Code::ALL {
            assert!(code.fix().ends_with('.'), "{}", code.as_str());
        }
    }
}
