use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::*;
use crate::test_support::{admin_secret, admins, clean_user, key_body, key_entry, secret_string};
use crate::validation::{Finding, validate_user};
use crate::{Rules, UserReport};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

const GROUP_A: [&str; 2] = ["alice@groupa.example.com", "bob@groupa.example.com"];
const SUPER: [&str; 1] = ["root@ops.example.com"];

fn strings(addresses: &[&str]) -> Vec<String> {
    addresses.iter().map(|a| (*a).to_owned()).collect()
}

fn report(username: &str, group_admin: Option<&str>, findings: usize) -> UserReport {
    UserReport {
        username: username.into(),
        role: Role::of(username),
        name: Some(format!("{username} Ltd")),
        group_admin: group_admin.map(Into::into),
        contact_emails: vec![format!("ops@{username}.example.com")],
        suppressed_contacts: Vec::new(),
        findings: (0..findings)
            .map(|i| {
                Finding::new(
                    crate::validation::Code::EmailDelimiter,
                    format!("problem {i}"),
                )
            })
            .collect(),
        key_notices: Vec::new(),
    }
}

fn notice() -> KeyNotice {
    KeyNotice {
        fingerprint: "SHA256:1J4ePCcTGPhl7dZuzRsyU3xoT8vjjSX4rxW5mhzSe7E".into(),
        algorithm: "ssh-ed25519".into(),
        updated: date(2025, 1, 5),
        age_months: 10,
        refuse_after: date(2026, 1, 5),
    }
}

fn due_report(username: &str, group_admin: &str) -> UserReport {
    UserReport {
        key_notices: vec![notice()],
        ..report(username, Some(group_admin), 0)
    }
}

// ---- finding_recipients -----------------------------------------------------------------------

#[test]
fn a_users_findings_go_to_its_group_admins_addresses() {
    assert_eq!(
        finding_recipients(&report("bank1", Some("groupA-admin"), 1), &admins()),
        strings(&GROUP_A)
    );
}

#[test]
fn a_user_whose_group_admin_has_no_valid_address_goes_to_the_super_admins() {
    assert_eq!(
        finding_recipients(&report("bank2", Some("groupB-admin"), 1), &admins()),
        strings(&SUPER)
    );
}

#[test]
fn a_user_with_an_unknown_or_missing_group_admin_goes_to_the_super_admins() {
    assert_eq!(
        finding_recipients(&report("bank3", Some("groupZ-admin"), 1), &admins()),
        strings(&SUPER)
    );
    assert_eq!(
        finding_recipients(&report("bank3", None, 1), &admins()),
        strings(&SUPER)
    );
}

#[test]
fn an_admins_own_findings_go_to_the_super_admins() {
    assert_eq!(
        finding_recipients(&report("groupA-admin", Some("groupA-admin"), 1), &admins()),
        strings(&SUPER)
    );
    assert_eq!(
        finding_recipients(
            &report("SFTPSuperAdmin", Some("SFTPSuperAdmin"), 1),
            &admins()
        ),
        strings(&SUPER)
    );
}

// ---- finding_digests --------------------------------------------------------------------------

#[test]
fn one_digest_goes_to_each_recipient_set() {
    let reports = [
        report("bank1", Some("groupA-admin"), 2),
        report("bank4", Some("groupA-admin"), 1),
        report("bank2", Some("groupB-admin"), 1),
        report("groupA-admin", Some("SFTPSuperAdmin"), 1),
        report("bank5", Some("groupA-admin"), 0),
    ];
    let digests = finding_digests(&reports, &admins());
    assert_eq!(digests.len(), 2);

    let group_a = &digests[0];
    assert_eq!(group_a.kind, EmailKind::Findings);
    assert_eq!(group_a.to, strings(&GROUP_A));
    assert!(group_a.cc.is_empty());
    assert_eq!(group_a.subject, "sftp-warden: 2 SFTP users need attention");
    assert!(group_a.body.contains("User bank1 (bank1 Ltd)"));
    assert!(group_a.body.contains("User bank4 (bank4 Ltd)"));
    assert!(!group_a.body.contains("bank2"));
    assert!(!group_a.body.contains("bank5"), "clean reports are skipped");

    let super_admins = &digests[1];
    assert_eq!(super_admins.to, strings(&SUPER));
    assert!(super_admins.body.contains("User bank2"));
    assert!(super_admins.body.contains("User groupA-admin"));
}

#[test]
fn a_digest_for_one_user_says_user_in_the_singular() {
    let digests = finding_digests(&[report("bank1", Some("groupA-admin"), 1)], &admins());
    assert_eq!(
        digests[0].subject,
        "sftp-warden: 1 SFTP user needs attention"
    );
}

#[test]
fn a_digest_lists_rule_number_title_detail_and_fix_for_each_finding() {
    let secret = clean_user_with("Email", json!("a@bank1.com;b@bank1.com"));
    let validated = validate_user(
        "bank1",
        &secret_string(&secret),
        &admins(),
        &Rules::default(),
        date(2025, 6, 1),
    );
    let digests = finding_digests(&[validated], &admins());
    let body = &digests[0].body;
    assert!(body.contains("  - Rule 3 (email delimiter): Email uses ';' between addresses (1×); the delimiter is a comma"));
    assert!(body.contains("    Fix: Separate addresses with a comma only"));
    assert!(body.contains("Role: User; GroupAdmin: groupA-admin"));
}

#[test]
fn users_in_a_digest_are_sorted_and_digests_are_deterministic() {
    let reports = [
        report("bank9", Some("groupA-admin"), 1),
        report("bank1", Some("groupA-admin"), 1),
    ];
    let digests = finding_digests(&reports, &admins());
    let body = &digests[0].body;
    assert!(body.find("User bank1").unwrap() < body.find("User bank9").unwrap());
    let reversed = [reports[1].clone(), reports[0].clone()];
    assert_eq!(finding_digests(&reversed, &admins()), digests);
}

#[test]
fn a_recipient_set_of_more_than_fifty_is_split_into_several_emails() {
    let many: Vec<String> = (0..120)
        .map(|i| format!("admin{i:03}@groupa.example.com"))
        .collect();
    let group_admin = admin_secret(&many.join(","), "/bucket/groupA");
    let directory = AdminDirectory::from_secrets([("groupA-admin", group_admin.as_str())]);
    let digests = finding_digests(&[report("bank1", Some("groupA-admin"), 1)], &directory);
    let sizes: Vec<usize> = digests.iter().map(|d| d.to.len()).collect();
    assert_eq!(sizes, vec![50, 50, 20]);
    let everyone: Vec<String> = digests.iter().flat_map(|d| d.to.clone()).collect();
    assert_eq!(everyone, many);
    assert!(digests.iter().all(|d| d.body == digests[0].body));
}

#[test]
fn findings_nobody_can_be_told_about_make_no_email() {
    let directory = AdminDirectory::default();
    assert!(finding_digests(&[report("bank1", Some("groupA-admin"), 1)], &directory).is_empty());
}

// ---- key_expiry_notices -----------------------------------------------------------------------

#[test]
fn a_key_expiry_notice_goes_to_the_user_with_its_group_admin_in_copy() {
    let emails = key_expiry_notices(&[due_report("bank1", "groupA-admin")], &admins(), &[]);
    assert_eq!(emails.len(), 1);
    let email = &emails[0];
    assert_eq!(email.kind, EmailKind::KeyExpiry);
    assert_eq!(email.to, vec!["ops@bank1.example.com"]);
    assert_eq!(email.cc, strings(&GROUP_A));
    assert_eq!(
        email.subject,
        "Action needed: rotate the SSH key of SFTP user bank1 before 2026-01-05"
    );
}

#[test]
fn the_notice_names_the_key_by_fingerprint_and_the_deadline() {
    let email = &key_expiry_notices(&[due_report("bank1", "groupA-admin")], &admins(), &[])[0];
    assert!(email.body.starts_with("Hello bank1 Ltd,"));
    assert!(email.body.contains(
        "  - SHA256:1J4ePCcTGPhl7dZuzRsyU3xoT8vjjSX4rxW5mhzSe7E (ssh-ed25519): updated 2025-01-05, 10 months old, replace before 2026-01-05"
    ));
    assert!(
        email
            .body
            .contains("please send a new key before 2026-01-05")
    );
}

#[test]
fn a_notice_cc_goes_to_the_super_admins_when_the_group_admin_has_no_address_or_is_unknown() {
    let emails = key_expiry_notices(
        &[
            due_report("bank2", "groupB-admin"),
            due_report("bank3", "groupZ-admin"),
        ],
        &admins(),
        &[],
    );
    assert_eq!(emails.len(), 2);
    assert!(emails.iter().all(|e| e.cc == strings(&SUPER)));
}

#[test]
fn excluded_users_get_no_notice() {
    let emails = key_expiry_notices(
        &[due_report("bank1", "groupA-admin")],
        &admins(),
        &["bank1".to_owned()],
    );
    assert!(emails.is_empty());
}

#[test]
fn users_with_findings_get_no_notice() {
    let mut with_findings = due_report("bank1", "groupA-admin");
    with_findings.findings = report("bank1", None, 1).findings;
    assert!(key_expiry_notices(&[with_findings], &admins(), &[]).is_empty());
}

#[test]
fn users_without_due_keys_or_contacts_get_no_notice() {
    let mut no_contacts = due_report("bank1", "groupA-admin");
    no_contacts.contact_emails.clear();
    let no_keys = report("bank2", Some("groupA-admin"), 0);
    assert!(key_expiry_notices(&[no_contacts, no_keys], &admins(), &[]).is_empty());
}

#[test]
fn an_overdue_key_says_so_in_the_subject_and_body() {
    let mut overdue = due_report("bank1", "groupA-admin");
    overdue.key_notices[0].age_months = 13;
    let email = &key_expiry_notices(&[overdue], &admins(), &[])[0];
    assert_eq!(
        email.subject,
        "Action needed: rotate the SSH key of SFTP user bank1, overdue since 2026-01-05"
    );
    assert!(email.body.contains("the deadline was 2026-01-05"));
}

#[test]
fn a_user_with_two_due_keys_is_asked_for_the_earliest_deadline() {
    let mut two = due_report("bank1", "groupA-admin");
    two.key_notices.push(KeyNotice {
        updated: date(2024, 12, 1),
        refuse_after: date(2025, 12, 1),
        age_months: 11,
        ..notice()
    });
    let email = &key_expiry_notices(&[two], &admins(), &[])[0];
    assert_eq!(
        email.subject,
        "Action needed: rotate the SSH keys of SFTP user bank1 before 2025-12-01"
    );
}

#[test]
fn an_address_in_both_to_and_cc_gets_one_copy() {
    let mut report = due_report("bank1", "groupA-admin");
    report.contact_emails = vec![
        "Alice@GroupA.example.com".into(),
        "ops@bank1.example.com".into(),
    ];
    let email = &key_expiry_notices(&[report], &admins(), &[])[0];
    assert_eq!(email.cc, vec!["bob@groupa.example.com"]);
}

#[test]
fn to_and_cc_together_never_exceed_fifty_recipients() {
    let to: Vec<String> = (0..70).map(|i| format!("u{i}@bank.example.com")).collect();
    let cc = strings(&GROUP_A);
    let batches = recipient_batches(&to, &cc);
    assert!(
        batches
            .iter()
            .all(|(to, cc)| !to.is_empty() && to.len() + cc.len() <= 50)
    );
    let delivered: usize = batches.iter().map(|(to, cc)| to.len() + cc.len()).sum();
    assert_eq!(delivered, 72);
}

// ---- hostile input ----------------------------------------------------------------------------

fn clean_user_with(key: &str, value: Value) -> Map<String, Value> {
    let mut secret = clean_user();
    secret.insert(key.to_owned(), value);
    secret
}

#[test]
fn a_newline_in_name_or_email_never_reaches_a_subject_or_fakes_a_body_line() {
    let mut secret = clean_user_with("Name", json!("ANZ\r\nBcc: evil@example.com\nSubject: hi"));
    secret.insert(
        "Email".into(),
        json!("ops@bank1.com\r\nBcc: evil@example.com"),
    );
    secret.insert("PublicKey".into(), json!(key_entry("ed25519", "20240105")));
    let today = date(2025, 6, 1);
    let with_findings = validate_user(
        "bank1",
        &secret_string(&secret),
        &admins(),
        &Rules::default(),
        today,
    );
    assert!(!with_findings.is_clean());

    let mut clean = clean_user_with("Name", json!("ANZ\r\nBcc: evil@example.com"));
    clean.insert("PublicKey".into(), json!(key_entry("ed25519", "20240105")));
    let due = validate_user(
        "bank1\r\nBcc: x@y.z",
        &secret_string(&clean),
        &admins(),
        &Rules::default(),
        today,
    );
    assert!(!due.key_notices.is_empty());

    let mut emails = finding_digests(std::slice::from_ref(&with_findings), &admins());
    emails.extend(key_expiry_notices(&[due], &admins(), &[]));
    assert_eq!(emails.len(), 2);
    for email in &emails {
        assert!(!email.subject.contains(['\r', '\n']), "{:?}", email.subject);
        assert!(!email.body.contains('\r'), "{:?}", email.body);
        for line in email.body.lines() {
            assert!(
                !line.starts_with("Bcc:") && !line.starts_with("Subject:"),
                "fake line: {line:?}"
            );
        }
    }
    assert!(emails[1].subject.contains("bank1Bcc: x@y.z"));
}

#[test]
fn no_key_text_or_password_appears_in_any_finding_notice_subject_or_body() {
    let today = date(2025, 11, 10);
    let password = "Correct-Horse-Battery-9";
    // An Argon2id hash (of "pw"): the only password form a clean user may store.
    let hash = "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg";
    let (_, ed25519_base64) = key_body("ed25519");
    let (_, rsa_base64) = key_body("rsa1024");

    // A clean user with an old key and a password hash: gets a notice.
    let mut clean = clean_user_with("PublicKey", json!(key_entry("ed25519", "20250105")));
    clean.insert("PasswordHash".into(), json!(hash));
    // A user with a readable password too, and findings about its keys.
    let mut broken = clean.clone();
    broken.insert("Password".into(), json!(password));
    broken.insert(
        "PublicKey".into(),
        json!(format!(
            "{}, ssh-ed25519 {rsa_base64} bank1@host Updated(YYYYMMDD)=20250230",
            key_entry("rsa1024", "20250105")
        )),
    );
    broken.insert("Email".into(), json!("ops@bank1.com;it@bank1.com"));

    let reports: Vec<UserReport> = [("bank1", &clean), ("bank2", &broken)]
        .into_iter()
        .map(|(user, secret)| {
            validate_user(
                user,
                &secret_string(secret),
                &admins(),
                &Rules::default(),
                today,
            )
        })
        .collect();
    assert!(reports[0].is_clean() && !reports[0].key_notices.is_empty());
    assert!(!reports[1].is_clean());

    let mut emails = finding_digests(&reports, &admins());
    emails.extend(key_expiry_notices(&reports, &admins(), &[]));
    assert_eq!(emails.len(), 2);

    let mut everything = serde_json::to_string(&reports).unwrap();
    everything.push_str(&serde_json::to_string(&emails).unwrap());
    for finding in reports.iter().flat_map(|r| &r.findings) {
        everything.push_str(&finding.fix());
    }
    for needle in [
        ed25519_base64,
        &ed25519_base64[30..60],
        &rsa_base64[100..140],
        password,
        hash,
        "bank1@host",
    ] {
        assert!(!everything.contains(needle), "{needle} leaked");
    }
    assert!(everything.contains(crate::test_support::fixture_fingerprint("ed25519")));
}

#[test]
fn email_kinds_serialise_in_camel_case() {
    assert_eq!(
        serde_json::to_string(&EmailKind::KeyExpiry).unwrap(),
        "\"keyExpiry\""
    );
    let email: Email = serde_json::from_value(json!({
        "kind": "findings", "to": ["a@b.com"], "subject": "s", "body": "b"
    }))
    .unwrap();
    assert!(email.cc.is_empty());
}

// ---- the SES suppression list (DESIGN.md section 4: a suppressed address is no address) ---------

use crate::suppression::{Suppression, SuppressionList, SuppressionReason};

fn suppressed(addresses: &[&str]) -> SuppressionList {
    addresses
        .iter()
        .map(|a| Suppression {
            address: (*a).to_owned(),
            reason: SuppressionReason::Bounce,
            since: date(2026, 11, 2),
        })
        .collect()
}

/// A clean user due a key notice, validated against admins that know the suppression list.
fn validated_due_user(email: &str, list: &SuppressionList) -> (UserReport, AdminDirectory) {
    let admins = admins().with_suppressions(list.clone());
    let mut secret = clean_user();
    secret.insert("Email".into(), json!(email));
    secret.insert("PublicKey".into(), json!(key_entry("ed25519", "20250105")));
    let report = validate_user(
        "bank1",
        &secret_string(&secret),
        &admins,
        &Rules::default(),
        date(2025, 11, 20),
    );
    (report, admins)
}

fn every_recipient(emails: &[Email]) -> Vec<String> {
    emails
        .iter()
        .flat_map(|e| e.to.iter().chain(&e.cc).cloned())
        .collect()
}

#[test]
fn a_suppressed_partner_address_is_a_rule_4_finding_with_reason_and_date_and_keys_are_still_checked()
 {
    let list = suppressed(&["ops@bank1.example.com"]);
    let (report, _) = validated_due_user("ops@bank1.example.com,sftp@bank1.example.com", &list);
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    let finding = &report.findings[0];
    assert_eq!(
        (finding.rule.number(), finding.code.as_str()),
        (4, "email-suppressed")
    );
    assert!(
        finding.detail.contains("\"ops@bank1.example.com\" bounced"),
        "{}",
        finding.detail
    );
    assert!(finding.detail.contains("since 2026-11-02"));
    assert!(finding.fix().contains("sftp-warden mail unsuppress"));
    assert_eq!(report.contact_emails, ["sftp@bank1.example.com"]);
    assert_eq!(
        report.suppressed_contacts[0].address,
        "ops@bank1.example.com"
    );
    assert!(report.meets_rules() && !report.is_clean());
    assert_eq!(report.key_notices.len(), 1, "rule 9 still runs");
}

#[test]
fn a_partner_whose_every_address_is_suppressed_has_its_notice_sent_to_its_group_admin_saying_why() {
    let list = suppressed(&["ops@bank1.example.com"]);
    let (report, admins) = validated_due_user("ops@bank1.example.com", &list);

    let notices = key_expiry_notices(std::slice::from_ref(&report), &admins, &[]);

    assert_eq!(notices.len(), 1);
    let notice = &notices[0];
    assert!(notice.rerouted);
    assert_eq!(notice.to, strings(&GROUP_A));
    assert!(notice.cc.is_empty());
    assert!(
        notice
            .subject
            .starts_with("Undeliverable to the partner, please forward: Action needed"),
        "{}",
        notice.subject
    );
    assert!(notice.body.contains(
        "ops@bank1.example.com bounced (the mailbox does not accept mail) and has been on the SES suppression list since 2026-11-02"
    ));
    assert!(
        notice
            .body
            .contains("correct the Email of the secret SFTP/bank1")
    );
    assert_eq!(notice.address_holders, ["groupA-admin"]);
    // And the digest tells the same admin to fix the address.
    let digests = finding_digests(std::slice::from_ref(&report), &admins);
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].to, strings(&GROUP_A));
    assert!(
        digests[0]
            .body
            .contains("Rule 4 (email format): Email address \"ops@bank1.example.com\" bounced"),
        "{}",
        digests[0].body
    );
}

#[test]
fn a_partner_with_one_address_left_gets_the_notice_there_with_the_other_named() {
    let list = suppressed(&["ops@bank1.example.com"]);
    let (report, admins) =
        validated_due_user("ops@bank1.example.com,sftp@bank1.example.com", &list);

    let notices = key_expiry_notices(std::slice::from_ref(&report), &admins, &[]);

    assert_eq!(notices.len(), 1);
    assert!(!notices[0].rerouted);
    assert_eq!(notices[0].to, ["sftp@bank1.example.com"]);
    assert_eq!(notices[0].cc, strings(&GROUP_A));
    assert!(
        notices[0]
            .body
            .contains("Not sent to ops@bank1.example.com bounced")
    );
    assert_eq!(notices[0].address_holders, ["bank1", "groupA-admin"]);
}

#[test]
fn a_suppressed_group_admin_counts_as_no_address_so_the_super_admins_are_told() {
    let list = suppressed(&GROUP_A);
    let admins = admins().with_suppressions(list);
    let report = report("bank1", Some("groupA-admin"), 1);

    assert_eq!(finding_recipients(&report, &admins), strings(&SUPER));
    let notices = key_expiry_notices(&[due_report("bank1", "groupA-admin")], &admins, &[]);
    assert_eq!(notices[0].cc, strings(&SUPER));
    assert_eq!(
        admins.get("groupA-admin").unwrap().suppressed.len(),
        2,
        "kept for the admin's own finding"
    );
}

#[test]
fn a_suppressed_super_admin_is_named_for_the_run_to_fail_on() {
    let admins = admins().with_suppressions(suppressed(&SUPER));
    assert!(admins.super_admin_emails().is_empty());
    let named = admins.suppressed_super_admin_addresses();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].0, "SFTPSuperAdmin");
    assert_eq!(named[0].1.address, SUPER[0]);
}

#[test]
fn a_notice_nobody_can_receive_is_counted_as_unrouted_never_dropped_silently() {
    let mut every = vec!["ops@bank1.example.com"];
    every.extend(GROUP_A);
    every.extend(SUPER);
    let list = suppressed(&every);
    let (report, admins) = validated_due_user("ops@bank1.example.com", &list);

    let digests = crate::secret_validation::emails_for(
        &crate::secret_validation::DigestInput {
            batches: vec![crate::secret_validation::BatchResult {
                checked: 1,
                reports: vec![report],
                ..Default::default()
            }],
            admins,
            notify_source_systems: true,
        },
        &[],
    );

    assert!(digests.emails.is_empty());
    assert_eq!(digests.unrouted, ["bank1"]);
}

#[test]
fn no_email_ever_goes_to_a_suppressed_address_whatever_is_suppressed() {
    let addresses = [
        "ops@bank1.example.com",
        "sftp@bank1.example.com",
        GROUP_A[0],
        GROUP_A[1],
        SUPER[0],
    ];
    // Every subset of the five addresses suppressed, for a user with findings, a clean user due
    // a notice, and a user of the GroupAdmin without an address.
    for mask in 0u32..(1 << addresses.len()) {
        let chosen: Vec<&str> = addresses
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, a)| *a)
            .collect();
        let list = suppressed(&chosen);
        let (due, admins) =
            validated_due_user("ops@bank1.example.com,sftp@bank1.example.com", &list);
        let reports = vec![
            due,
            report("bank2", Some("groupA-admin"), 2),
            report("bank3", Some("groupB-admin"), 1),
        ];
        let mut emails = finding_digests(&reports, &admins);
        emails.extend(key_expiry_notices(&reports, &admins, &[]));
        for recipient in every_recipient(&emails) {
            assert!(
                !list.contains(&recipient),
                "{recipient} is suppressed (mask {mask:05b})"
            );
        }
        let unrouted = crate::secret_validation::emails_for(
            &crate::secret_validation::DigestInput {
                batches: vec![crate::secret_validation::BatchResult {
                    checked: 3,
                    reports: reports.clone(),
                    ..Default::default()
                }],
                admins: admins.clone(),
                notify_source_systems: true,
            },
            &[],
        )
        .unrouted;
        // Whoever has something to be told either is in an email or is counted as unrouted.
        let told: std::collections::BTreeSet<String> = emails
            .iter()
            .flat_map(|e| e.body.lines().map(str::to_owned))
            .collect();
        for user in ["bank1", "bank2", "bank3"] {
            let mentioned = told.iter().any(|line| line.contains(user));
            assert!(
                mentioned || unrouted.iter().any(|u| u == user),
                "{user} neither told nor unrouted (mask {mask:05b})"
            );
        }
    }
}

// ---- HTML -----------------------------------------------------------------------------------------

#[test]
fn the_html_digest_is_a_table_per_user_and_hostile_values_stay_text() {
    let mut report = report("bank1", Some("groupA-admin"), 0);
    report.name = Some("<script>alert('x')</script> \"Bank\" & Co".into());
    report.findings = vec![Finding::new(
        crate::validation::Code::EmailMalformed,
        "Email address \"a@b.com\\nBcc: evil@x.test\" <img src=x onerror=alert(1)> has control characters",
    )];
    let admins = admins();

    let digest = &finding_digests(&[report], &admins)[0];
    let html = digest.html.as_deref().expect("the digest has its own HTML");

    assert!(html.contains("<table"), "{html}");
    assert!(html.contains("<th style="));
    assert!(html.contains("4 (email format)"));
    assert!(
        !html.contains("<script>") && !html.contains("<img"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &quot;Bank&quot; &amp; Co")
    );
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(!html.contains("\nBcc:"), "no header-like line");
    assert!(!digest.subject.contains('\n') && !digest.subject.contains('<'));
}

#[test]
fn a_notice_without_its_own_html_is_sent_as_its_text_in_html_paragraphs() {
    let mut report = due_report("bank1", "groupA-admin");
    report.name = Some("Evil <b>Corp</b>\r\nBcc: x@evil.test".into());
    let notice = &key_expiry_notices(&[report], &admins(), &[])[0];

    let html = notice.html_part();

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains("<p>Hello Evil &lt;b&gt;Corp&lt;/b&gt;Bcc: x@evil.test,</p>"),
        "{html}"
    );
    assert!(!html.contains("<b>"));
}

#[test]
fn a_run_that_ended_badly_is_told_to_the_super_admins_with_the_command_to_see_why() {
    let run = EndedRun {
        state_machine: "sftp-warden-secret-validation".into(),
        execution: "weekly-audit-2026-W49".into(),
        status: "TIMED_OUT".into(),
        error: Some("States.Timeout".into()),
        cause: Some("line one\nBcc: evil@x.test".into()),
    };
    let email = ended_run_email(&run, &strings(&SUPER)).unwrap();
    assert_eq!(email.kind, EmailKind::RunFailed);
    assert_eq!(email.to, strings(&SUPER));
    assert_eq!(
        email.subject,
        "sftp-warden: run weekly-audit-2026-W49 of sftp-warden-secret-validation ended TIMED_OUT"
    );
    assert!(email.body.contains("Error: States.Timeout"));
    assert!(
        email.body.contains("Cause: line one\\nBcc: evil@x.test"),
        "{}",
        email.body
    );
    assert!(
        email
            .body
            .contains("sftp-warden runs show weekly-audit-2026-W49")
    );
    assert_eq!(ended_run_email(&run, &[]), None, "nobody to tell");
}
