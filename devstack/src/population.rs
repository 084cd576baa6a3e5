//! A population of users the size a bank runs: N partners in 10 groups, keys rotated yearly
//! (`Updated` dates spread evenly over the last 12 months, so about one in six is inside the
//! 10–12-month notice window), 2% of them with a finding, a distinct /32 each and an IPv6 /48 for
//! one in ten. What a weekly run with notices must send is worked out here from the dates and the
//! findings planted, not by the code under test.

use std::collections::BTreeSet;

use chrono::{Months, NaiveDate};
use serde_json::{Value, json};

/// GroupAdmins of the population: `Group0Admin` … `Group9Admin`.
pub const GROUPS: usize = 10;
/// Every this many users, one has a finding (2%).
pub const ONE_IN_WITH_FINDING: usize = 50;
/// Every this many users, one also has an IPv6 range.
pub const ONE_IN_WITH_IPV6: usize = 10;
const ROLE: &str = "arn:aws:iam::123456789012:role/TransferS3AccessRole";
const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrNFj+F4sTnV1Wpo78f0X3efGm/XBJVNteI6mqNYqz1";
const LANDING: &str = "/sftp-landing";

/// The users and what a weekly run with notices, dated `as_of`, must find and send.
pub struct Population {
    pub as_of: NaiveDate,
    /// `(username, secret)` of the SuperAdmin, the GroupAdmins, then the users.
    pub secrets: Vec<(String, Value)>,
    /// Users whose key is 10 months old or more (and who have no finding): one notice each.
    pub due: BTreeSet<String>,
    /// Users planted with a finding (rule 3, a `;` between addresses).
    pub with_findings: BTreeSet<String>,
    /// GroupAdmins whose groups have a user with a finding: one digest each.
    pub groups_with_findings: BTreeSet<String>,
    /// Every IPv4 and IPv6 CIDR the users allow (the prefix lists must hold them all).
    pub ipv4: usize,
    pub ipv6: usize,
}

impl Population {
    /// `users` partners (plus 1 SuperAdmin and [`GROUPS`] GroupAdmins), as of `as_of`.
    pub fn new(users: usize, as_of: NaiveDate) -> Population {
        let mut secrets = vec![(
            "SFTPSuperAdmin".to_owned(),
            secret(
                "SFTP Super Admin",
                "sftp-superadmin@example.com",
                LANDING,
                "SFTPSuperAdmin",
                "192.0.2.10/32",
                "",
                as_of,
            ),
        )];
        for group in 0..GROUPS {
            secrets.push((
                group_admin(group),
                secret(
                    &format!("Group {group} admin"),
                    &format!("group{group}-sftp@example.com"),
                    &format!("{LANDING}/group{group}"),
                    "SFTPSuperAdmin",
                    &format!("192.0.2.{}/32", 20 + group),
                    "",
                    as_of,
                ),
            ));
        }
        let (mut due, mut with_findings, mut groups_with_findings) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let (mut ipv4, mut ipv6) = (GROUPS + 1, 0);
        for n in 0..users {
            let username = format!("partner{n:06}");
            let group = n % GROUPS;
            // Spread evenly over the last 12 months.
            let days = (n as i64 * 364) / users.max(1) as i64;
            let updated = as_of - chrono::Duration::days(days);
            // One user in each block of 50, at a place that moves from block to block, so the
            // findings fall in every group.
            let finding =
                n % ONE_IN_WITH_FINDING == (n / ONE_IN_WITH_FINDING) % ONE_IN_WITH_FINDING;
            let email = if finding {
                format!("ops@partner{n}.example.com;alerts@partner{n}.example.com")
            } else {
                format!("ops@partner{n}.example.com")
            };
            // 198.18.0.0/15 (benchmarking addresses): room for 131,072 partners.
            let ip = format!("198.{}.{}.{}/32", 18 + n / 65_536, (n / 256) % 256, n % 256);
            let v6 = if n % ONE_IN_WITH_IPV6 == 0 {
                ipv6 += 1;
                format!("2001:db8:{:x}::/48", n / ONE_IN_WITH_IPV6)
            } else {
                String::new()
            };
            ipv4 += 1;
            if finding {
                with_findings.insert(username.clone());
                groups_with_findings.insert(group_admin(group));
            } else if is_due(updated, as_of) {
                due.insert(username.clone());
            }
            secrets.push((
                username.clone(),
                secret(
                    &format!("Partner {n}"),
                    &email,
                    &format!("{LANDING}/group{group}/{username}"),
                    &group_admin(group),
                    &ip,
                    &v6,
                    updated,
                ),
            ));
        }
        Population {
            as_of,
            secrets,
            due,
            with_findings,
            groups_with_findings,
            ipv4,
            ipv6,
        }
    }

    /// The emails a weekly run with notices must send: one notice per due user, one digest per
    /// group with a finding.
    pub fn expected_emails(&self) -> usize {
        self.due.len() + self.groups_with_findings.len()
    }
}

/// DESIGN.md rule 9: a key updated 10 calendar months ago or more is due a notice. Months are
/// calendar months, the day clamped to the month's end (31 January + 10 months = 30 November).
fn is_due(updated: NaiveDate, as_of: NaiveDate) -> bool {
    updated
        .checked_add_months(Months::new(10))
        .is_some_and(|due_from| due_from <= as_of)
}

fn group_admin(group: usize) -> String {
    format!("Group{group}Admin")
}

fn secret(
    name: &str,
    email: &str,
    home: &str,
    group_admin: &str,
    ip: &str,
    ipv6: &str,
    updated: NaiveDate,
) -> Value {
    json!({
        "Name": name,
        "Email": email,
        "PublicKey": format!("{KEY} key@partner Updated(YYYYMMDD)={}", updated.format("%Y%m%d")),
        "HomeDirectoryType": "LOGICAL",
        "HomeDirectoryDetails": json!([{"Entry": "/", "Target": home}]).to_string(),
        "GroupAdmin": group_admin,
        "Role": ROLE,
        "IP": ip,
        "IPv6": ipv6,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_one_user_in_six_is_due_and_one_in_fifty_has_a_finding() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let population = Population::new(1_500, as_of);
        assert_eq!(population.secrets.len(), 1_500 + 1 + GROUPS);
        assert_eq!(population.with_findings.len(), 30);
        let due = population.due.len();
        assert!((230..=260).contains(&due), "{due} due");
        assert_eq!(population.groups_with_findings.len(), GROUPS);
        assert_eq!(population.expected_emails(), due + GROUPS);
        assert_eq!((population.ipv4, population.ipv6), (1_511, 150));
    }
}
