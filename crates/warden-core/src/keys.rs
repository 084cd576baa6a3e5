//! One `PublicKey` entry: `TYPE BASE64 COMMENT Updated(YYYYMMDD)=DATE`.
//!
//! Nothing here returns the base64 text or the comment of a key: callers name keys by position
//! and fingerprint only, so key material cannot reach a finding or an email.

use chrono::{Datelike, Months, NaiveDate};
use ssh_key::{Algorithm, HashAlg, PublicKey};

use crate::user::PLACEHOLDER_KEY;

/// Label of the fourth part. Matched without regard to case: the seed spells it both
/// `Updated(YYYYMMDD)=` and `UPDATED(YYYYMMDD)=`.
pub const UPDATED_LABEL: &str = "Updated(YYYYMMDD)=";

/// Algorithm names a `TYPE` part may hold. Anything else is never echoed back, since a
/// misordered entry could put key material or a comment in its place.
const KNOWN_TYPES: [&str; 8] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "ssh-dss",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// The four parts of an entry. Fields are private so the base64 text and the comment cannot be
/// displayed by accident.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyParts<'a> {
    key_type: &'a str,
    base64: &'a str,
    comment: &'a str,
    updated: &'a str,
}

impl<'a> KeyParts<'a> {
    /// Splits an entry on whitespace; `Err(n)` when it has `n` parts instead of 4.
    pub fn split(entry: &'a str) -> Result<KeyParts<'a>, usize> {
        let parts: Vec<&str> = entry.split_whitespace().collect();
        match parts.as_slice() {
            [key_type, base64, comment, updated] => Ok(KeyParts {
                key_type,
                base64,
                comment,
                updated,
            }),
            _ => Err(parts.len()),
        }
    }

    /// Whether this is the seed's placeholder, which stands for "no key".
    pub fn is_placeholder(&self) -> bool {
        let mut placeholder = PLACEHOLDER_KEY.split_whitespace();
        placeholder.next() == Some(self.key_type)
            && placeholder.next() == Some(self.base64)
            && placeholder.next() == Some(self.comment)
    }

    /// The `TYPE` part, only when it is a known algorithm name (safe to show).
    pub fn known_type(&self) -> Option<&'static str> {
        KNOWN_TYPES.iter().copied().find(|t| *t == self.key_type)
    }

    /// The `Updated(YYYYMMDD)=DATE` part, parsed.
    pub fn updated(&self) -> Result<NaiveDate, UpdatedProblem> {
        parse_updated(self.updated)
    }

    /// Decodes `TYPE BASE64` and checks it is a real key of an allowed algorithm.
    pub fn decode(&self, min_rsa_bits: usize) -> Result<DecodedKey, KeyProblem> {
        decode(self.key_type, self.base64, min_rsa_bits)
    }

    /// `TYPE BASE64`, the form AWS Transfer Family takes in `PublicKeys`.
    pub fn to_login_key(&self) -> String {
        format!("{} {}", self.key_type, self.base64)
    }
}

impl std::fmt::Debug for KeyParts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyParts")
            .field("key_type", &self.known_type())
            .finish_non_exhaustive()
    }
}

/// Why the fourth part is not a usable `Updated` date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdatedProblem {
    /// The part does not start with `Updated(YYYYMMDD)=`.
    MissingLabel,
    /// What follows the label is not eight digits. Holds the value when it is short and all
    /// digits (safe to show), e.g. `2023011`.
    NotEightDigits(Option<String>),
    /// Eight digits that are no calendar date, e.g. `20230230`.
    NotACalendarDate(String),
}

/// Parses `Updated(YYYYMMDD)=20250105`.
pub fn parse_updated(part: &str) -> Result<NaiveDate, UpdatedProblem> {
    let label_len = UPDATED_LABEL.len();
    let digits = match part.get(..label_len) {
        Some(label) if label.eq_ignore_ascii_case(UPDATED_LABEL) => &part[label_len..],
        _ => return Err(UpdatedProblem::MissingLabel),
    };
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        let showable = digits.len() <= 12 && digits.bytes().all(|b| b.is_ascii_digit());
        return Err(UpdatedProblem::NotEightDigits(
            showable.then(|| digits.to_owned()),
        ));
    }
    NaiveDate::parse_from_str(digits, "%Y%m%d")
        .map_err(|_| UpdatedProblem::NotACalendarDate(digits.to_owned()))
}

/// A key that decoded: what may be said about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedKey {
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The SSH algorithm name, e.g. `ssh-ed25519`.
    pub algorithm: String,
}

/// Why `TYPE BASE64` is not an acceptable key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// The base64 text is damaged, truncated or not a key of any known algorithm.
    Undecodable { declared: Option<&'static str> },
    /// The key decodes, but as a different algorithm than its `TYPE` part says.
    TypeMismatch {
        declared: Option<&'static str>,
        key: DecodedKey,
    },
    /// A real key of an algorithm that is not allowed (DSA, security keys).
    Unsupported { key: DecodedKey },
    /// An RSA key with a modulus below the minimum.
    RsaTooShort { key: DecodedKey, bits: usize },
}

/// The key `TYPE BASE64` holds, whatever algorithm its `TYPE` part names. ssh-key checks the
/// text's algorithm name against the blob's, so the declared name is tried first and the others
/// only to say what the key really is.
fn parse_key(key_type: &str, base64: &str) -> Option<PublicKey> {
    let declared = KNOWN_TYPES.iter().copied().find(|t| *t == key_type);
    declared
        .into_iter()
        .chain(KNOWN_TYPES.iter().copied().filter(|t| Some(*t) != declared))
        .find_map(|name| PublicKey::from_openssh(&format!("{name} {base64}")).ok())
}

/// The SHA256 fingerprint of each entry of a `PublicKey` value, in order; `None` for an entry
/// that holds no decodable key (the seed's placeholder, a damaged key).
pub fn fingerprints(public_key: &str) -> Vec<Option<String>> {
    public_key
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let mut parts = entry.split_whitespace();
            let key = parse_key(parts.next()?, parts.next()?)?;
            Some(key.fingerprint(HashAlg::Sha256).to_string())
        })
        .collect()
}

fn decode(key_type: &str, base64: &str, min_rsa_bits: usize) -> Result<DecodedKey, KeyProblem> {
    let declared = KNOWN_TYPES.iter().copied().find(|t| *t == key_type);
    let public_key = parse_key(key_type, base64).ok_or(KeyProblem::Undecodable { declared })?;
    let algorithm = public_key.algorithm();
    let key = DecodedKey {
        fingerprint: public_key.fingerprint(HashAlg::Sha256).to_string(),
        algorithm: algorithm.as_str().to_owned(),
    };
    if declared != Some(algorithm.as_str()) {
        return Err(KeyProblem::TypeMismatch { declared, key });
    }
    match algorithm {
        Algorithm::Ed25519 | Algorithm::Ecdsa { .. } => Ok(key),
        Algorithm::Rsa { .. } => {
            let bits = public_key
                .key_data()
                .rsa()
                .and_then(|rsa| rsa.n.as_positive_bytes())
                .map_or(0, bit_length);
            if bits >= min_rsa_bits {
                Ok(key)
            } else {
                Err(KeyProblem::RsaTooShort { key, bits })
            }
        }
        _ => Err(KeyProblem::Unsupported { key }),
    }
}

/// Why a key cell of the onboarding sheet cannot become a `PublicKey` entry. Never quotes the cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellProblem {
    /// A comma separates keys in `PublicKey`, so a cell must not hold one.
    HasComma,
    NotAKey,
    /// The secret format allows one word as the comment.
    CommentHasSpaces,
}

impl std::fmt::Display for CellProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::HasComma => {
                "holds a comma, which separates keys in PublicKey: put one key per cell"
            }
            Self::NotAKey => {
                "is not an OpenSSH public key: expected TYPE BASE64 [COMMENT] [Updated(YYYYMMDD)=DATE]"
            }
            Self::CommentHasSpaces => {
                "the comment has spaces: the secret format allows one word there (e.g. user@host)"
            }
        })
    }
}

/// The `PublicKey` entry for a sheet cell `TYPE BASE64 [COMMENT] [Updated(YYYYMMDD)=DATE]`,
/// with the parts the cell leaves out filled in: a key `existing` (the secret's `PublicKey` value
/// today) already holds keeps the comment and date stored there, so re-importing a sheet changes
/// nothing; a new key gets `default_comment` and `today`. What the cell says is used as written.
pub fn complete_entry(
    cell: &str,
    default_comment: &str,
    existing: &str,
    today: NaiveDate,
) -> Result<String, CellProblem> {
    if cell.contains(',') {
        return Err(CellProblem::HasComma);
    }
    let mut parts: Vec<&str> = cell.split_whitespace().collect();
    let updated = match parts.last() {
        Some(last) if has_updated_label(last) => parts.pop(),
        _ => None,
    };
    let (key_type, base64, comment) = match parts.as_slice() {
        [key_type, base64] => (*key_type, *base64, None),
        [key_type, base64, comment] => (*key_type, *base64, Some(*comment)),
        [_] | [] => return Err(CellProblem::NotAKey),
        _ => return Err(CellProblem::CommentHasSpaces),
    };
    let known = existing
        .split(',')
        .filter_map(|entry| KeyParts::split(entry).ok())
        .find(|k| k.key_type == key_type && k.base64 == base64 && has_updated_label(k.updated));
    let comment = comment
        .or(known.map(|k| k.comment))
        .unwrap_or(default_comment);
    let updated = match updated.or(known.map(|k| k.updated)) {
        Some(part) => part.to_owned(),
        None => format!("{UPDATED_LABEL}{}", today.format("%Y%m%d")),
    };
    Ok(format!("{key_type} {base64} {comment} {updated}"))
}

fn has_updated_label(part: &str) -> bool {
    part.get(..UPDATED_LABEL.len())
        .is_some_and(|label| label.eq_ignore_ascii_case(UPDATED_LABEL))
}

/// Bits in a big-endian unsigned integer without leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
    }
}

/// `date` plus `months` calendar months; the day is clamped to the month's end
/// (31 March + 1 month = 30 April, 29 February + 12 months = 28 February).
pub fn add_months(date: NaiveDate, months: u32) -> Option<NaiveDate> {
    date.checked_add_months(Months::new(months))
}

/// Whole calendar months from `from` to `to` (0 when `to` is earlier): the largest `n` with
/// `add_months(from, n) <= to`.
pub fn months_between(from: NaiveDate, to: NaiveDate) -> u32 {
    if to <= from {
        return 0;
    }
    let approx = (to.year() - from.year()) * 12 + to.month() as i32 - from.month() as i32;
    let approx = u32::try_from(approx).unwrap_or(0);
    (approx.saturating_sub(1)..=approx)
        .rev()
        .find(|n| add_months(from, *n).is_some_and(|d| d <= to))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{fixture_fingerprint, key_body};

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn decode_fixture(name: &str) -> Result<DecodedKey, KeyProblem> {
        let (key_type, base64) = key_body(name);
        decode(key_type, base64, 2048)
    }

    #[test]
    fn an_entry_has_four_parts() {
        assert!(KeyParts::split("ssh-ed25519 AAAA c Updated(YYYYMMDD)=20250101").is_ok());
        assert_eq!(KeyParts::split("ssh-ed25519 AAAA c").unwrap_err(), 3);
        assert_eq!(
            KeyParts::split("ssh-ed25519 AAAA c d Updated(YYYYMMDD)=20250101").unwrap_err(),
            5
        );
    }

    #[test]
    fn the_seed_placeholder_is_recognised() {
        let parts = KeyParts::split("ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202").unwrap();
        assert!(parts.is_placeholder());
        assert_eq!(parts.updated(), Ok(date(2022, 2, 2)));
        let real = KeyParts::split("ssh-rsa 1 2@4 Updated(YYYYMMDD)=20220202").unwrap();
        assert!(!real.is_placeholder());
    }

    #[test]
    fn updated_dates_must_be_real_calendar_dates() {
        assert_eq!(
            parse_updated("Updated(YYYYMMDD)=20240229"),
            Ok(date(2024, 2, 29))
        );
        assert_eq!(
            parse_updated("UPDATED(YYYYMMDD)=20240101"),
            Ok(date(2024, 1, 1))
        );
        assert_eq!(
            parse_updated("Updated(YYYYMMDD)=20230230"),
            Err(UpdatedProblem::NotACalendarDate("20230230".into()))
        );
        assert_eq!(
            parse_updated("Updated(YYYYMMDD)=20231301"),
            Err(UpdatedProblem::NotACalendarDate("20231301".into()))
        );
        assert_eq!(
            parse_updated("Updated(YYYYMMDD)=2023011"),
            Err(UpdatedProblem::NotEightDigits(Some("2023011".into())))
        );
        assert_eq!(
            parse_updated("Updated(YYYYMMDD)=2023-01-10"),
            Err(UpdatedProblem::NotEightDigits(None))
        );
        assert_eq!(
            parse_updated("Updated=20230110"),
            Err(UpdatedProblem::MissingLabel)
        );
        assert_eq!(
            parse_updated("bank1@host"),
            Err(UpdatedProblem::MissingLabel)
        );
    }

    #[test]
    fn real_keys_decode_with_the_fingerprint_ssh_keygen_prints() {
        for name in [
            "ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048", "rsa4096",
        ] {
            let key = decode_fixture(name).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(key.fingerprint, fixture_fingerprint(name), "{name}");
        }
        assert_eq!(decode_fixture("ed25519").unwrap().algorithm, "ssh-ed25519");
        assert_eq!(
            decode_fixture("ecdsa384").unwrap().algorithm,
            "ecdsa-sha2-nistp384"
        );
    }

    #[test]
    fn a_short_rsa_key_is_refused_with_its_size() {
        match decode_fixture("rsa1024") {
            Err(KeyProblem::RsaTooShort { bits, key }) => {
                assert_eq!(bits, 1024);
                assert_eq!(key.fingerprint, fixture_fingerprint("rsa1024"));
            }
            other => panic!("{other:?}"),
        }
        let (key_type, base64) = key_body("rsa2048");
        assert!(matches!(
            decode(key_type, base64, 3072),
            Err(KeyProblem::RsaTooShort { bits: 2048, .. })
        ));
    }

    #[test]
    fn a_dsa_key_is_unsupported() {
        assert!(matches!(
            decode_fixture("dsa1024"),
            Err(KeyProblem::Unsupported { .. })
        ));
    }

    #[test]
    fn a_truncated_key_does_not_decode() {
        let (key_type, base64) = key_body("ed25519");
        let truncated = &base64[..base64.len() - 8];
        assert_eq!(
            decode(key_type, truncated, 2048),
            Err(KeyProblem::Undecodable {
                declared: Some("ssh-ed25519")
            })
        );
        assert!(matches!(
            decode("ssh-ed25519", "not*base64!", 2048),
            Err(KeyProblem::Undecodable { .. })
        ));
    }

    #[test]
    fn a_key_labelled_with_the_wrong_type_is_a_mismatch() {
        let (_, base64) = key_body("ed25519");
        match decode("ssh-rsa", base64, 2048) {
            Err(KeyProblem::TypeMismatch { declared, key }) => {
                assert_eq!(declared, Some("ssh-rsa"));
                assert_eq!(key.algorithm, "ssh-ed25519");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn months_are_counted_on_the_calendar() {
        assert_eq!(months_between(date(2025, 1, 5), date(2025, 11, 5)), 10);
        assert_eq!(months_between(date(2025, 1, 5), date(2025, 11, 4)), 9);
        assert_eq!(months_between(date(2025, 1, 31), date(2025, 2, 28)), 1);
        assert_eq!(months_between(date(2025, 1, 31), date(2025, 2, 27)), 0);
        assert_eq!(months_between(date(2025, 1, 5), date(2024, 1, 5)), 0);
    }

    #[test]
    fn adding_months_clamps_to_the_end_of_the_month() {
        assert_eq!(add_months(date(2024, 2, 29), 12), Some(date(2025, 2, 28)));
        assert_eq!(add_months(date(2025, 3, 31), 10), Some(date(2026, 1, 31)));
        assert_eq!(add_months(date(2025, 3, 31), 11), Some(date(2026, 2, 28)));
    }
}
