//! Email address syntax, deliberately stricter than RFC 5322: these addresses go to SES as
//! recipients, so anything exotic (quoted local parts, IP literals, comments, non-ASCII) is more
//! likely a typo than a real mailbox.

/// Separators people type between addresses instead of a comma. Rule 3 reports them; everyone
/// else splits on them too, so one typo does not silence a contact.
pub const MISTYPED_DELIMITERS: [char; 5] = [';', '|', '，', '；', '、'];

const MAX_ADDRESS_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;

/// Whether `address` is `local@domain.tld` with no spaces, control or non-ASCII characters.
pub fn is_well_formed(address: &str) -> bool {
    address_problem(address).is_none()
}

/// What is wrong with `address`, completing "the address …"; `None` when it is well formed.
pub fn address_problem(address: &str) -> Option<&'static str> {
    if address.is_empty() {
        return Some("is empty");
    }
    if address.len() > MAX_ADDRESS_LEN {
        return Some("is longer than 254 characters");
    }
    if address.chars().any(crate::text::is_unsafe_char) {
        return Some("has control characters");
    }
    if !address.is_ascii() {
        return Some("has non-ASCII characters");
    }
    if address.chars().any(char::is_whitespace) {
        return Some("has spaces");
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Some("has no '@'");
    };
    if domain.contains('@') {
        return Some("has more than one '@'");
    }
    if !is_local_part(local) {
        return Some("has an invalid part before the '@'");
    }
    if !is_domain(domain) {
        return Some("has an invalid domain (expected e.g. bank.example.com)");
    }
    None
}

fn is_local_part(local: &str) -> bool {
    const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    !local.is_empty()
        && local.len() <= MAX_LOCAL_LEN
        && local.split('.').all(|atom| {
            !atom.is_empty()
                && atom
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ATEXT_SPECIALS.contains(c))
        })
}

fn is_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let Some(tld) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && labels.iter().all(|label| is_label(label))
        && ((tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()))
            || tld.starts_with("xn--"))
}

fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The candidate addresses in an `Email` value, split on commas, the mistyped delimiters and
/// whitespace; empty pieces dropped. Whatever is left is not necessarily well formed.
pub fn candidates(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace() || MISTYPED_DELIMITERS.contains(&c))
        .filter(|piece| !piece.is_empty())
}

/// The well-formed addresses in an `Email` value, in order, without case-insensitive repeats.
/// Tolerant on purpose: a wrong delimiter (reported by rule 3) must not stop mail reaching the
/// addresses that are fine.
pub fn well_formed_addresses(value: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    candidates(value)
        .filter(|address| is_well_formed(address))
        .filter(|address| seen.insert(address.to_ascii_lowercase()))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_are_well_formed() {
        for address in [
            "ops@bank1.com.au",
            "first.last+sftp@example.co.uk",
            "o'brien@example.com",
            "x@xn--bcher-kva.example",
            "a@b.xn--p1ai",
        ] {
            assert!(is_well_formed(address), "{address}");
        }
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for address in [
            "",
            "ops",
            "ops@",
            "@bank1.com",
            "ops@bank1",
            "ops@@bank1.com",
            "ops@bank1..com",
            "ops@-bank1.com",
            "ops@bank1.c",
            "ops@bank1.123",
            ".ops@bank1.com",
            "ops.@bank1.com",
            "o..ps@bank1.com",
            "o ps@bank1.com",
            "ops@bank1.com\n",
            "ops@bänk1.com",
            "\"ops\"@bank1.com",
            "ops@[10.0.0.1]",
        ] {
            assert!(!is_well_formed(address), "{address:?}");
        }
    }

    #[test]
    fn the_problem_with_an_address_is_named() {
        assert_eq!(address_problem("ops.bank1.com"), Some("has no '@'"));
        assert_eq!(address_problem("a@b@c.com"), Some("has more than one '@'"));
        assert_eq!(
            address_problem("ops@bank1"),
            Some("has an invalid domain (expected e.g. bank.example.com)")
        );
        assert_eq!(
            address_problem("ops@bank1.com\n"),
            Some("has control characters")
        );
        assert_eq!(address_problem("ops@bank1.com"), None);
    }

    #[test]
    fn an_overlong_address_is_rejected() {
        let local = "a".repeat(65);
        assert!(!is_well_formed(&format!("{local}@example.com")));
        let domain = format!("{}.com", "a".repeat(64));
        assert!(!is_well_formed(&format!("ops@{domain}")));
    }

    #[test]
    fn well_formed_addresses_survive_wrong_delimiters_and_drop_junk() {
        assert_eq!(
            well_formed_addresses("a@x.com; b@x.com|not-an-address,, A@X.COM c@x.com\n"),
            vec!["a@x.com", "b@x.com", "c@x.com"]
        );
    }
}
