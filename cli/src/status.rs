//! Migration status, kept as the `MigrationStatus` tag on each user's secret: what the seed's
//! StatusTracker worksheet tracked per user and counted in its pie chart.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// The tag key on each `SFTP/<username>` secret.
pub const TAG: &str = "MigrationStatus";

/// A user's migration from the on-premise SFTP server, as the seed's tracker named them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationStatus {
    Completed,
    Planned,
    YetToCommence,
    NotEligible,
    PostMigrationSupport,
    InProgress,
}

impl MigrationStatus {
    /// In the seed tracker's order.
    pub const ALL: [MigrationStatus; 6] = [
        MigrationStatus::Completed,
        MigrationStatus::Planned,
        MigrationStatus::YetToCommence,
        MigrationStatus::NotEligible,
        MigrationStatus::PostMigrationSupport,
        MigrationStatus::InProgress,
    ];

    /// What a user onboarded without a status gets.
    pub const DEFAULT: MigrationStatus = MigrationStatus::YetToCommence;

    /// The tag value: stable kebab-case, safe in any tag.
    pub fn as_tag(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Planned => "planned",
            Self::YetToCommence => "yet-to-commence",
            Self::NotEligible => "not-eligible",
            Self::PostMigrationSupport => "post-migration-support",
            Self::InProgress => "in-progress",
        }
    }

    /// The seed tracker's label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Completed => "Migration completed",
            Self::Planned => "Planned",
            Self::YetToCommence => "Yet to commence",
            Self::NotEligible => "Not eligible for migration",
            Self::PostMigrationSupport => "Post migration support",
            Self::InProgress => "Migration in progress",
        }
    }
}

impl fmt::Display for MigrationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_tag())
    }
}

/// Accepts the tag value and the seed's label in any case, with spaces, `-` or `_` between words
/// (`in-progress`, `Migration in progress`, `YET_TO_COMMENCE`).
impl FromStr for MigrationStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let squashed: String = s
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let squashed = squashed.strip_prefix("migration").unwrap_or(&squashed);
        Ok(match squashed {
            "completed" => Self::Completed,
            "planned" => Self::Planned,
            "yettocommence" => Self::YetToCommence,
            "noteligible" | "noteligibleformigration" => Self::NotEligible,
            "postmigrationsupport" => Self::PostMigrationSupport,
            "inprogress" => Self::InProgress,
            _ => {
                let known: Vec<&str> = Self::ALL.iter().map(|s| s.as_tag()).collect();
                return Err(format!("expected one of {}", known.join(", ")));
            }
        })
    }
}

/// Users per status, and those whose tag is missing or not a status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCounts {
    pub total: usize,
    /// Every status, in the tracker's order, zeros included.
    pub by_status: Vec<(MigrationStatus, usize)>,
    pub not_set: usize,
    /// Tag values that are no status, with their counts.
    pub unrecognised: BTreeMap<String, usize>,
}

/// Counts the `MigrationStatus` tag values of all users (`None` for a user without the tag).
pub fn count<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> StatusCounts {
    let mut counts = StatusCounts {
        by_status: MigrationStatus::ALL.iter().map(|s| (*s, 0)).collect(),
        ..StatusCounts::default()
    };
    for value in values {
        counts.total += 1;
        match value.map(str::parse::<MigrationStatus>) {
            None => counts.not_set += 1,
            Some(Ok(status)) => {
                if let Some(entry) = counts.by_status.iter_mut().find(|(s, _)| *s == status) {
                    entry.1 += 1;
                }
            }
            Some(Err(_)) => {
                let raw = warden_core::text::strip_unsafe(value.unwrap_or_default(), 60);
                *counts.unrecognised.entry(raw).or_default() += 1;
            }
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_values_and_the_seed_labels_parse_in_any_spelling() {
        for status in MigrationStatus::ALL {
            assert_eq!(status.as_tag().parse::<MigrationStatus>(), Ok(status));
            assert_eq!(status.label().parse::<MigrationStatus>(), Ok(status));
            assert_eq!(
                status.label().to_uppercase().parse::<MigrationStatus>(),
                Ok(status)
            );
        }
        assert_eq!(
            "YET_TO_COMMENCE".parse::<MigrationStatus>(),
            Ok(MigrationStatus::YetToCommence)
        );
        assert_eq!(
            "not eligible".parse::<MigrationStatus>(),
            Ok(MigrationStatus::NotEligible)
        );
    }

    #[test]
    fn an_unknown_status_lists_the_accepted_values() {
        let err = "done".parse::<MigrationStatus>().unwrap_err();
        assert!(err.contains("completed") && err.contains("post-migration-support"));
    }

    #[test]
    fn counting_keeps_every_status_in_tracker_order_and_sets_apart_the_rest() {
        let counts = count([
            Some("completed"),
            Some("Migration completed"),
            Some("planned"),
            None,
            Some("done"),
            Some("done"),
        ]);
        assert_eq!(counts.total, 6);
        assert_eq!(counts.by_status[0], (MigrationStatus::Completed, 2));
        assert_eq!(counts.by_status[1], (MigrationStatus::Planned, 1));
        assert_eq!(counts.by_status[5], (MigrationStatus::InProgress, 0));
        assert_eq!(counts.by_status.len(), 6);
        assert_eq!(counts.not_set, 1);
        assert_eq!(counts.unrecognised.get("done"), Some(&2));
    }
}
