//! The `IP` / `IPv6` values: comma-separated CIDRs of one address family.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::Rules;

/// The address family a key holds: `IP` is IPv4, `IPv6` is IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }

    fn of(network: &IpNet) -> Family {
        match network {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }
}

/// Why one entry of the list is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CidrProblem {
    /// `a,,b` or a trailing comma.
    Empty,
    /// A bare address such as `1.2.3.4`, which prefix lists do not take.
    MissingPrefix(IpAddr),
    /// Not an address or CIDR at all.
    Invalid,
    /// A CIDR of the other family.
    WrongFamily(IpNet),
}

/// One comma-separated entry, trimmed, and what it parses to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrEntry<'a> {
    pub text: &'a str,
    pub parsed: Result<IpNet, CidrProblem>,
}

impl CidrEntry<'_> {
    /// The network with host bits cleared, when the entry is a CIDR of the right family.
    pub fn network(&self) -> Option<IpNet> {
        self.parsed.ok().map(|network| network.trunc())
    }
}

/// Parses a comma-separated list. An empty or blank value is an empty list.
pub fn parse_list(value: &str, family: Family) -> Vec<CidrEntry<'_>> {
    if value.trim().is_empty() {
        return Vec::new();
    }
    value
        .split(',')
        .map(str::trim)
        .map(|text| CidrEntry {
            text,
            parsed: parse_one(text, family),
        })
        .collect()
}

fn parse_one(text: &str, family: Family) -> Result<IpNet, CidrProblem> {
    if text.is_empty() {
        return Err(CidrProblem::Empty);
    }
    match text.parse::<IpNet>() {
        Ok(network) if Family::of(&network) == family => Ok(network),
        Ok(network) => Err(CidrProblem::WrongFamily(network)),
        Err(_) => match text.parse::<IpAddr>() {
            Ok(address) => Err(CidrProblem::MissingPrefix(address)),
            Err(_) => Err(CidrProblem::Invalid),
        },
    }
}

/// The smallest prefix length `rules` accept for the network's family.
pub fn min_prefix_len(network: &IpNet, rules: &Rules) -> u8 {
    match network {
        IpNet::V4(_) => rules.min_ipv4_prefix_len,
        IpNet::V6(_) => rules.min_ipv6_prefix_len,
    }
}

/// Whether the network opens the endpoint to more addresses than `rules` allow.
pub fn is_too_broad(network: &IpNet, rules: &Rules) -> bool {
    network.prefix_len() < min_prefix_len(network, rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(value: &str, family: Family) -> Vec<Result<IpNet, CidrProblem>> {
        parse_list(value, family)
            .into_iter()
            .map(|e| e.parsed)
            .collect()
    }

    #[test]
    fn an_empty_value_is_an_empty_list() {
        assert!(parse_list("", Family::V4).is_empty());
        assert!(parse_list("  ", Family::V6).is_empty());
    }

    #[test]
    fn entries_are_trimmed_and_checked_for_family() {
        let entries = parse_list(" 3.3.3.3/32 , 2001:db8::/32", Family::V4);
        assert_eq!(entries[0].text, "3.3.3.3/32");
        assert!(entries[0].parsed.is_ok());
        assert!(matches!(
            entries[1].parsed,
            Err(CidrProblem::WrongFamily(_))
        ));
    }

    #[test]
    fn bare_addresses_junk_and_empty_entries_are_problems() {
        assert_eq!(
            problems("1.2.3.4,,1.2.3.4/33", Family::V4),
            vec![
                Err(CidrProblem::MissingPrefix("1.2.3.4".parse().unwrap())),
                Err(CidrProblem::Empty),
                Err(CidrProblem::Invalid),
            ]
        );
    }

    #[test]
    fn the_usable_network_has_its_host_bits_cleared() {
        let entries = parse_list("10.0.0.1/24", Family::V4);
        assert_eq!(entries[0].network().unwrap().to_string(), "10.0.0.0/24");
    }

    #[test]
    fn prefixes_shorter_than_the_minimum_are_too_broad() {
        let rules = Rules::default();
        assert!(is_too_broad(&"10.0.0.0/7".parse().unwrap(), &rules));
        assert!(!is_too_broad(&"10.0.0.0/8".parse().unwrap(), &rules));
        assert!(is_too_broad(&"2001:db8::/31".parse().unwrap(), &rules));
        assert!(!is_too_broad(&"2001:db8::/32".parse().unwrap(), &rules));
    }
}
