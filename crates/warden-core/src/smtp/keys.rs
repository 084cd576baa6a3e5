//! Room for a new access key. IAM allows two keys per user; the SMTP user is the rotation's own,
//! so every key on it is one of:
//! * the current key (`AWSCURRENT`'s): the mail servers use it — always kept;
//! * the previous key (`AWSPREVIOUS`'s): kept while it is active, because servers the last
//!   deployment has not reached still use it; once the deployment deactivated it, it only waits
//!   out its grace period and may go to make room;
//! * any other key: no version of the secret holds its secret key, so nothing can log in with it
//!   (a rotation interrupted between creating a key and storing it) — deleted.
//!
//! When the previous key is still active and there is no room, the rotation stops with
//! [`NoRoom`]: finish or rerun the deployment first (or deactivate that key by hand).

use std::fmt;

use serde::Serialize;

/// IAM's limit of access keys per user.
pub const KEYS_PER_USER: usize = 2;

/// An access key as `ListAccessKeys` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub active: bool,
}

/// A key to delete before creating the new one, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyDeletion {
    pub id: String,
    pub reason: &'static str,
}

/// No room for a new key: the previous key is still active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRoom {
    pub current: Option<String>,
    pub previous: String,
}

impl fmt::Display for NoRoom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the SMTP user already has {KEYS_PER_USER} access keys and the previous one ({}) is still active: \
             the last deployment has not finished (rerun it, or deactivate that key once every mail server uses {})",
            self.previous,
            self.current.as_deref().unwrap_or("the current key"),
        )
    }
}

pub const UNREFERENCED: &str =
    "no version of the secret holds it (left by an interrupted rotation)";
pub const RETIRED: &str = "the previous key, already deactivated: its grace period is cut short";

/// The keys to delete so that one more fits, or why none can.
pub fn make_room(
    keys: &[AccessKey],
    current: Option<&str>,
    previous: Option<&str>,
) -> Result<Vec<KeyDeletion>, NoRoom> {
    let mut deletions: Vec<KeyDeletion> = keys
        .iter()
        .filter(|k| Some(k.id.as_str()) != current && Some(k.id.as_str()) != previous)
        .map(|k| KeyDeletion {
            id: k.id.clone(),
            reason: UNREFERENCED,
        })
        .collect();
    let kept = keys.len() - deletions.len();
    if kept < KEYS_PER_USER {
        return Ok(deletions);
    }
    // Kept are the current key and the previous one.
    let previous_key = keys
        .iter()
        .find(|k| Some(k.id.as_str()) == previous)
        .expect("two keys kept: one of them is the previous");
    if previous_key.active {
        return Err(NoRoom {
            current: current.map(str::to_owned),
            previous: previous_key.id.clone(),
        });
    }
    deletions.push(KeyDeletion {
        id: previous_key.id.clone(),
        reason: RETIRED,
    });
    Ok(deletions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str, active: bool) -> AccessKey {
        AccessKey {
            id: id.to_owned(),
            active,
        }
    }

    fn ids(deletions: &[KeyDeletion]) -> Vec<&str> {
        deletions.iter().map(|d| d.id.as_str()).collect()
    }

    #[test]
    fn a_user_with_one_key_has_room_and_loses_nothing() {
        assert_eq!(
            make_room(&[key("CUR", true)], Some("CUR"), None),
            Ok(vec![])
        );
        assert_eq!(make_room(&[], None, None), Ok(vec![]));
        assert_eq!(
            make_room(&[key("PREV", false)], None, Some("PREV")),
            Ok(vec![])
        );
    }

    #[test]
    fn a_deactivated_previous_key_goes_when_room_is_needed() {
        let keys = [key("CUR", true), key("PREV", false)];
        let deletions = make_room(&keys, Some("CUR"), Some("PREV")).unwrap();
        assert_eq!(ids(&deletions), ["PREV"]);
        assert_eq!(deletions[0].reason, RETIRED);
    }

    #[test]
    fn an_active_previous_key_means_the_deployment_is_unfinished_and_nothing_is_deleted() {
        let keys = [key("CUR", true), key("PREV", true)];
        let refused = make_room(&keys, Some("CUR"), Some("PREV")).unwrap_err();
        assert_eq!(refused.previous, "PREV");
        let said = refused.to_string();
        assert!(said.contains("PREV") && said.contains("CUR"), "{said}");
    }

    #[test]
    fn a_key_no_version_holds_is_an_orphan_and_goes_whatever_its_state() {
        let keys = [key("CUR", true), key("ORPHAN", true)];
        let deletions = make_room(&keys, Some("CUR"), None).unwrap();
        assert_eq!(ids(&deletions), ["ORPHAN"]);
        assert_eq!(deletions[0].reason, UNREFERENCED);
        // With an active previous key and an orphan, the orphan goes and the previous stays.
        let keys = [key("PREV", true), key("ORPHAN", false)];
        assert_eq!(
            ids(&make_room(&keys, None, Some("PREV")).unwrap()),
            ["ORPHAN"]
        );
    }

    #[test]
    fn the_current_key_is_never_deleted() {
        for previous_active in [true, false] {
            let keys = [key("CUR", true), key("PREV", previous_active)];
            if let Ok(deletions) = make_room(&keys, Some("CUR"), Some("PREV")) {
                assert!(!ids(&deletions).contains(&"CUR"));
            }
        }
        let keys = [key("CUR", false), key("X", true)];
        assert_eq!(ids(&make_room(&keys, Some("CUR"), None).unwrap()), ["X"]);
    }
}
