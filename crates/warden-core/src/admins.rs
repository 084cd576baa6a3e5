//! The admins every user is checked against and findings are routed to.

use serde::{Deserialize, Serialize};

use crate::email;
use crate::suppression::{Suppression, SuppressionList};
use crate::user::{Role, SecretKey, UserSecret};

/// What validation and routing need to know about one admin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Admin {
    pub username: String,
    pub role: Role,
    /// The well-formed addresses from the admin's `Email` that mail may go to (not on the SES
    /// suppression list).
    pub emails: Vec<String>,
    /// Its well-formed addresses that are on the SES suppression list: never mailed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<Suppression>,
    /// The admin's `/` target, normalised (`/bucket/group`), when usable.
    pub folder: Option<String>,
}

impl Admin {
    /// Reads what it can from the admin's secret; a malformed secret gives an admin with no
    /// emails and no folder (its own validation reports why).
    pub fn from_secret(username: &str, secret_string: &str) -> Admin {
        let secret = UserSecret::parse(secret_string).ok();
        Admin {
            username: username.to_owned(),
            role: Role::of(username),
            emails: secret
                .as_ref()
                .and_then(|s| s.text(SecretKey::Email))
                .map(email::well_formed_addresses)
                .unwrap_or_default(),
            suppressed: Vec::new(),
            folder: secret.as_ref().and_then(UserSecret::home_folder),
        }
    }
}

/// An admin whose secret could not be read this run (after retries).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnreadableAdmin {
    pub username: String,
    /// Secrets Manager's error code, e.g. `DecryptionFailure`; never the secret.
    pub error: String,
}

/// All admins, sorted by username, and the run's snapshot of the SES suppression list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AdminDirectory {
    pub admins: Vec<Admin>,
    /// Admins the run could not read. Their users are not told "unknown GroupAdmin" (rule 2);
    /// their findings and notices go to the SuperAdmins, saying why, and the run ends incomplete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadableAdmin>,
    /// Every suppressed address of the account, so that each batch checks its users' addresses
    /// against the same list the emails are routed by.
    #[serde(default, skip_serializing_if = "SuppressionList::is_empty")]
    pub suppressed: SuppressionList,
}

impl AdminDirectory {
    /// Builds the directory from `(username, SecretString)` pairs. Usernames that are not admin
    /// names are skipped, so a plain user can never be accepted as someone's `GroupAdmin`.
    /// Tolerant: a malformed admin secret still yields an admin; never panics.
    pub fn from_secrets<'a>(items: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut admins: Vec<Admin> = items
            .into_iter()
            .filter(|(username, _)| Role::of(username).is_admin())
            .map(|(username, secret)| Admin::from_secret(username, secret))
            .collect();
        admins.sort_by(|a, b| a.username.cmp(&b.username));
        admins.dedup_by(|a, b| a.username == b.username);
        AdminDirectory {
            admins,
            unreadable: Vec::new(),
            suppressed: SuppressionList::default(),
        }
    }

    /// Takes the admins' suppressed addresses out of their `emails`, so that every routing
    /// decision treats them as no valid address, and keeps the list for the users' checks.
    pub fn with_suppressions(mut self, list: SuppressionList) -> Self {
        for admin in &mut self.admins {
            let (deliverable, suppressed) = list.partition(&admin.emails);
            admin.emails = deliverable;
            admin.suppressed = suppressed;
        }
        self.suppressed = list;
        self
    }

    /// Each SuperAdmin address on the suppression list, as `(username, entry)`: every one is a
    /// problem of the run, since the SuperAdmins are the last resort for every message.
    pub fn suppressed_super_admin_addresses(&self) -> Vec<(&str, &Suppression)> {
        self.admins
            .iter()
            .filter(|a| a.role == Role::SuperAdmin)
            .flat_map(|a| a.suppressed.iter().map(|s| (a.username.as_str(), s)))
            .collect()
    }

    /// Records admins whose secrets could not be read (by username, with the error code).
    pub fn with_unreadable(mut self, unreadable: Vec<UnreadableAdmin>) -> Self {
        self.unreadable = unreadable;
        self.unreadable.sort_by(|a, b| a.username.cmp(&b.username));
        self
    }

    /// The unreadable admin with exactly this username.
    pub fn unreadable(&self, username: &str) -> Option<&UnreadableAdmin> {
        self.unreadable.iter().find(|a| a.username == username)
    }

    /// The admin with exactly this username.
    pub fn get(&self, username: &str) -> Option<&Admin> {
        self.admins.iter().find(|a| a.username == username)
    }

    /// Every SuperAdmin's valid addresses, sorted and deduplicated.
    pub fn super_admin_emails(&self) -> Vec<String> {
        let mut emails: Vec<String> = self
            .admins
            .iter()
            .filter(|a| a.role == Role::SuperAdmin)
            .flat_map(|a| a.emails.iter().cloned())
            .collect();
        emails.sort();
        emails.dedup();
        emails
    }

    /// The SuperAdmins that have at least one address mail may go to, by username.
    pub fn reachable_super_admins(&self) -> Vec<String> {
        self.admins
            .iter()
            .filter(|a| a.role == Role::SuperAdmin && !a.emails.is_empty())
            .map(|a| a.username.clone())
            .collect()
    }

    /// The SuperAdmins' folders (bucket roots), sorted and deduplicated.
    pub fn super_admin_folders(&self) -> Vec<&str> {
        let mut folders: Vec<&str> = self
            .admins
            .iter()
            .filter(|a| a.role == Role::SuperAdmin)
            .filter_map(|a| a.folder.as_deref())
            .collect();
        folders.sort_unstable();
        folders.dedup();
        folders
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{admin_secret, admins};

    #[test]
    fn an_admin_keeps_only_well_formed_addresses_and_its_normalised_folder() {
        let admin = Admin::from_secret(
            "groupA-admin",
            &admin_secret(
                "alice@groupa.example.com; junk, bob@groupa.example.com",
                "/bucket/groupA/",
            ),
        );
        assert_eq!(admin.role, Role::GroupAdmin);
        assert_eq!(
            admin.emails,
            vec!["alice@groupa.example.com", "bob@groupa.example.com"]
        );
        assert_eq!(admin.folder.as_deref(), Some("/bucket/groupA"));
    }

    #[test]
    fn a_malformed_admin_secret_still_gives_an_admin() {
        let directory = AdminDirectory::from_secrets([
            ("groupC-admin", "not json"),
            ("groupD-admin", "[1]"),
            ("groupE-admin", "{\"Email\":7}"),
        ]);
        assert_eq!(directory.admins.len(), 3);
        for admin in &directory.admins {
            assert!(admin.emails.is_empty());
            assert_eq!(admin.folder, None);
        }
    }

    #[test]
    fn plain_users_are_not_admins() {
        let directory = AdminDirectory::from_secrets([("bank1", "{}")]);
        assert_eq!(directory.get("bank1"), None);
    }

    #[test]
    fn lookup_is_by_exact_username() {
        let directory = admins();
        assert!(directory.get("groupA-admin").is_some());
        assert!(directory.get("groupa-admin").is_none());
        assert!(directory.get(" groupA-admin").is_none());
    }

    #[test]
    fn super_admin_emails_are_sorted_and_deduplicated() {
        let one = admin_secret("z@ops.example.com,a@ops.example.com", "/bucket");
        let two = admin_secret("a@ops.example.com", "/bucket");
        let group = admin_secret("g@ops.example.com", "/bucket/g");
        let directory = AdminDirectory::from_secrets([
            ("SuperAdmin1", one.as_str()),
            ("SuperAdmin2", two.as_str()),
            ("g-admin", group.as_str()),
        ]);
        assert_eq!(
            directory.super_admin_emails(),
            vec!["a@ops.example.com", "z@ops.example.com"]
        );
        assert_eq!(directory.super_admin_folders(), vec!["/bucket"]);
    }

    #[test]
    fn the_directory_serialises_with_camel_case_fields() {
        let json = serde_json::to_value(admins()).unwrap();
        assert_eq!(json["admins"][0]["username"], "SFTPSuperAdmin");
        assert_eq!(json["admins"][0]["role"], "SuperAdmin");
        assert_eq!(json["admins"][0]["folder"], "/bucket");
    }
}
