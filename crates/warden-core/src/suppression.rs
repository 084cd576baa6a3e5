//! The SES account suppression list, as far as routing is concerned (DESIGN.md section 4): an
//! address on it (it bounced hard, or its owner complained) counts as no valid address. Nothing
//! is ever sent to it, and nothing meant for it is dropped: a partner's notice goes to its
//! GroupAdmin, a GroupAdmin's mail to the SuperAdmins, and a SuperAdmin's suppressed address is
//! a problem of the run.
//!
//! A run takes one snapshot of the list (`load-admins` lists it into the admins file), so every
//! batch and the emails route against the same list.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Why SES suppresses an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SuppressionReason {
    /// Mail to it bounced permanently.
    Bounce,
    /// Its owner marked our mail as spam.
    Complaint,
}

impl SuppressionReason {
    /// Completes "the address …": e.g. "bounced".
    pub fn describe(self) -> &'static str {
        match self {
            SuppressionReason::Bounce => "bounced (the mailbox does not accept mail)",
            SuppressionReason::Complaint => "complained (its owner marked our mail as spam)",
        }
    }

    /// As SES names it: `BOUNCE` or `COMPLAINT`.
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionReason::Bounce => "BOUNCE",
            SuppressionReason::Complaint => "COMPLAINT",
        }
    }

    /// From SES's name (any case); `None` for a reason this version does not know.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "BOUNCE" => Some(SuppressionReason::Bounce),
            "COMPLAINT" => Some(SuppressionReason::Complaint),
            _ => None,
        }
    }
}

/// One address on the list: which, why and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suppression {
    pub address: String,
    pub reason: SuppressionReason,
    pub since: NaiveDate,
}

impl Suppression {
    /// One line for an email or a finding: "ops@x.example bounced (…) and has been on SES's
    /// suppression list since 2026-11-02". Addresses on the list are well formed by the time
    /// they reach a routing decision.
    pub fn sentence(&self) -> String {
        format!(
            "{} {} and has been on the SES suppression list since {}",
            self.address,
            self.reason.describe(),
            self.since
        )
    }
}

/// The list, looked up case-insensitively (SES compares addresses that way).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<Suppression>", into = "Vec<Suppression>")]
pub struct SuppressionList {
    by_address: BTreeMap<String, Suppression>,
}

impl SuppressionList {
    /// The entry for `address`, if it is suppressed.
    pub fn get(&self, address: &str) -> Option<&Suppression> {
        self.by_address.get(&address.to_ascii_lowercase())
    }

    pub fn contains(&self, address: &str) -> bool {
        self.get(address).is_some()
    }

    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }

    /// Splits `addresses` into those mail may go to and the suppressed ones, in order.
    pub fn partition(&self, addresses: &[String]) -> (Vec<String>, Vec<Suppression>) {
        let mut deliverable = Vec::new();
        let mut suppressed = Vec::new();
        for address in addresses {
            match self.get(address) {
                Some(entry) => suppressed.push(Suppression {
                    address: address.clone(),
                    ..entry.clone()
                }),
                None => deliverable.push(address.clone()),
            }
        }
        (deliverable, suppressed)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Suppression> {
        self.by_address.values()
    }
}

impl From<Vec<Suppression>> for SuppressionList {
    /// A repeated address keeps its latest entry.
    fn from(entries: Vec<Suppression>) -> Self {
        let mut by_address: BTreeMap<String, Suppression> = BTreeMap::new();
        for entry in entries {
            let key = entry.address.to_ascii_lowercase();
            match by_address.get(&key) {
                Some(kept) if kept.since > entry.since => {}
                _ => {
                    by_address.insert(key, entry);
                }
            }
        }
        SuppressionList { by_address }
    }
}

impl FromIterator<Suppression> for SuppressionList {
    fn from_iter<I: IntoIterator<Item = Suppression>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<_>>().into()
    }
}

impl From<SuppressionList> for Vec<Suppression> {
    fn from(list: SuppressionList) -> Self {
        list.by_address.into_values().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str, reason: SuppressionReason, since: &str) -> Suppression {
        Suppression {
            address: address.into(),
            reason,
            since: since.parse().unwrap(),
        }
    }

    #[test]
    fn lookups_ignore_case_and_keep_the_address_as_the_secret_spells_it() {
        let list: SuppressionList = vec![entry(
            "Ops@Partner.example",
            SuppressionReason::Bounce,
            "2026-11-02",
        )]
        .into();
        assert!(list.contains("ops@partner.EXAMPLE"));
        let (deliverable, suppressed) =
            list.partition(&["OPS@partner.example".into(), "it@partner.example".into()]);
        assert_eq!(deliverable, vec!["it@partner.example"]);
        assert_eq!(suppressed[0].address, "OPS@partner.example");
        assert_eq!(suppressed[0].since.to_string(), "2026-11-02");
    }

    #[test]
    fn a_repeated_address_keeps_its_latest_entry() {
        let list: SuppressionList = vec![
            entry("a@x.example", SuppressionReason::Complaint, "2026-11-20"),
            entry("A@x.example", SuppressionReason::Bounce, "2026-10-01"),
        ]
        .into();
        assert_eq!(list.len(), 1);
        assert_eq!(
            list.get("a@x.example").unwrap().reason,
            SuppressionReason::Complaint
        );
    }

    #[test]
    fn the_list_round_trips_as_a_json_array_with_ses_reason_names() {
        let list: SuppressionList = vec![entry(
            "a@x.example",
            SuppressionReason::Bounce,
            "2026-11-02",
        )]
        .into();
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(
            json,
            r#"[{"address":"a@x.example","reason":"BOUNCE","since":"2026-11-02"}]"#
        );
        assert_eq!(
            serde_json::from_str::<SuppressionList>(&json).unwrap(),
            list
        );
        assert_eq!(
            SuppressionReason::parse("complaint"),
            Some(SuppressionReason::Complaint)
        );
        assert_eq!(SuppressionReason::parse("OTHER"), None);
    }
}
