//! Rule 7: `IP` holds IPv4 CIDRs and `IPv6` IPv6 CIDRs, each exact, once, and not too broad.
//! The seed left this check commented out; the allow-list is built from these values, so a bad
//! entry either locks a source system out or opens the endpoint to too much.

use std::collections::HashSet;
use std::net::IpAddr;

use super::{Check, Code, Findings};
use crate::cidr::{self, CidrProblem, Family};
use crate::text::quoted;
use crate::user::SecretKey;

pub(super) fn ip_ranges(check: &Check, findings: &mut Findings) {
    for (key, family) in [(SecretKey::Ip, Family::V4), (SecretKey::Ipv6, Family::V6)] {
        if let Some(value) = check.secret.text(key) {
            ranges_of(check, key, family, value, findings);
        }
    }
}

fn ranges_of(check: &Check, key: SecretKey, family: Family, value: &str, findings: &mut Findings) {
    let mut seen = HashSet::new();
    let mut reported_empty = false;
    for entry in cidr::parse_list(value, family) {
        let shown = quoted(entry.text);
        match entry.parsed {
            Err(CidrProblem::Empty) => {
                if !reported_empty {
                    reported_empty = true;
                    findings.push(
                        Code::CidrEmptyEntry,
                        format!("{key} has an empty entry: a doubled, leading or trailing comma"),
                    );
                }
            }
            Err(CidrProblem::Invalid) => findings.push(
                Code::CidrInvalid,
                format!("{key} entry {shown} is not an {} CIDR", family.name()),
            ),
            Err(CidrProblem::MissingPrefix(address)) => {
                let (address_family, host_len) = match address {
                    IpAddr::V4(_) => (Family::V4, 32),
                    IpAddr::V6(_) => (Family::V6, 128),
                };
                if address_family == family {
                    findings.push(
                        Code::CidrMissingPrefix,
                        format!(
                            "{key} entry {shown} has no prefix length; write {address}/{host_len}"
                        ),
                    );
                } else {
                    findings.push(
                        Code::CidrWrongFamily,
                        format!(
                            "{key} entry {shown} is an {} address; {key} holds {} only",
                            address_family.name(),
                            family.name()
                        ),
                    );
                }
            }
            Err(CidrProblem::WrongFamily(network)) => {
                let other = match family {
                    Family::V4 => SecretKey::Ipv6,
                    Family::V6 => SecretKey::Ip,
                };
                findings.push(
                    Code::CidrWrongFamily,
                    format!(
                        "{key} entry {network} is not an {} range; move it to {other}",
                        family.name()
                    ),
                );
            }
            Ok(network) => {
                let normalised = network.trunc();
                if normalised != network {
                    findings.push(
                        Code::CidrHostBits,
                        format!("{key} entry {network} has host bits set; use {normalised}"),
                    );
                }
                if !seen.insert(normalised) {
                    findings.push(
                        Code::CidrDuplicate,
                        format!("{key} lists {normalised} more than once"),
                    );
                }
                if cidr::is_too_broad(&network, check.rules) {
                    findings.push(
                        Code::CidrTooBroad,
                        format!(
                            "{key} entry {normalised} is too broad: the prefix must be /{} or longer",
                            cidr::min_prefix_len(&network, check.rules)
                        ),
                    );
                }
            }
        }
    }
}
