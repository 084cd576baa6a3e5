use chrono::NaiveDate;
use serde_json::{Map, Value, json};

use super::*;
use crate::test_support::{
    ROLE_ARN, admin_secret, admins, clean_user, key_body, key_entry, secret_string,
};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The clean user's key was updated 2025-01-05: four months before this.
fn today() -> NaiveDate {
    date(2025, 6, 1)
}

fn validate_as(username: &str, secret: &Map<String, Value>) -> UserReport {
    validate_user(
        username,
        &secret_string(secret),
        &admins(),
        &Rules::default(),
        today(),
    )
}

fn validate(secret: &Map<String, Value>) -> UserReport {
    validate_as("bank1", secret)
}

fn clean_user_with(key: &str, value: Value) -> Map<String, Value> {
    let mut secret = clean_user();
    secret.insert(key.to_owned(), value);
    secret
}

fn clean_user_without(key: &str) -> Map<String, Value> {
    let mut secret = clean_user();
    secret.remove(key);
    secret
}

fn codes(report: &UserReport) -> Vec<&str> {
    report.findings.iter().map(|f| f.code.as_str()).collect()
}

/// The report has exactly these finding codes, in order; returns the findings for more checks.
#[track_caller]
fn assert_codes<'a>(report: &'a UserReport, expected: &[&str]) -> &'a [Finding] {
    assert_eq!(codes(report), expected, "findings: {:#?}", report.findings);
    &report.findings
}

fn with_key(entry: &str) -> UserReport {
    validate(&clean_user_with("PublicKey", json!(entry)))
}

// ---- the clean case ---------------------------------------------------------------------------

#[test]
fn a_clean_user_has_no_findings_and_keeps_its_name_admin_and_contacts() {
    let report = validate(&clean_user());
    assert!(report.is_clean(), "{:#?}", report.findings);
    assert_eq!(report.role, Role::User);
    assert_eq!(report.name.as_deref(), Some("ANZ Bank"));
    assert_eq!(report.group_admin.as_deref(), Some("groupA-admin"));
    assert_eq!(
        report.contact_emails,
        vec!["ops@bank1.example.com", "sftp@bank1.example.com"]
    );
    assert!(report.key_notices.is_empty());
}

#[test]
fn a_clean_report_serialises_without_its_empty_lists() {
    let json = serde_json::to_value(validate(&clean_user())).unwrap();
    assert_eq!(json["username"], "bank1");
    assert_eq!(json["groupAdmin"], "groupA-admin");
    assert!(json.get("findings").is_none());
    assert!(json.get("keyNotices").is_none());
}

#[test]
fn a_report_round_trips_through_json_with_rules_as_numbers() {
    let report = validate(&clean_user_with("Email", json!("a@x.com;b@x.com")));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["findings"][0]["rule"], 3);
    assert_eq!(json["findings"][0]["code"], "email-delimiter");
    let back: UserReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

#[test]
fn rules_are_numbered_one_to_nine_and_other_numbers_are_refused() {
    let numbers: Vec<u8> = Rule::ALL.iter().map(|r| r.number()).collect();
    assert_eq!(numbers, (1..=9).collect::<Vec<u8>>());
    assert_eq!(Rule::MandatoryKeys.title(), "mandatory keys");
    assert_eq!(
        serde_json::from_str::<Rule>("5").unwrap(),
        Rule::HomeDirectory
    );
    assert!(serde_json::from_str::<Rule>("0").is_err());
    assert!(serde_json::from_str::<Rule>("10").is_err());
    assert!(serde_json::from_str::<Rule>("\"Role\"").is_err());
}

#[test]
fn a_finding_with_an_unknown_code_still_has_a_fix() {
    let finding = Finding {
        rule: Rule::Role,
        code: "from-the-future".into(),
        detail: "d".into(),
    };
    assert!(finding.fix().contains("rule 6 (role)"));
}

// ---- rule 1: mandatory keys -------------------------------------------------------------------

#[test]
fn a_secret_that_is_not_json_is_a_single_rule_one_finding() {
    for secret in ["", "Name=ANZ", "{\"Name\": \"ANZ\"", "{'Name': 'ANZ'}"] {
        let report = validate_user("bank1", secret, &admins(), &Rules::default(), today());
        let findings = assert_codes(&report, &["not-json"]);
        assert_eq!(findings[0].rule, Rule::MandatoryKeys);
        assert!(
            findings[0].detail.contains("line 1"),
            "{}",
            findings[0].detail
        );
    }
}

#[test]
fn a_json_array_secret_is_not_an_object() {
    let report = validate_user(
        "bank1",
        "[{\"Name\":\"ANZ\"}]",
        &admins(),
        &Rules::default(),
        today(),
    );
    let findings = assert_codes(&report, &["not-an-object"]);
    assert_eq!(
        findings[0].detail,
        "the secret is a JSON array, not a JSON object"
    );
}

#[test]
fn a_json_string_number_or_null_secret_is_not_an_object() {
    for secret in ["\"text\"", "42", "null", "true"] {
        let report = validate_user("bank1", secret, &admins(), &Rules::default(), today());
        assert_codes(&report, &["not-an-object"]);
    }
}

#[test]
fn each_missing_mandatory_key_is_named() {
    for key in [
        "Name",
        "Email",
        "PublicKey",
        "HomeDirectoryType",
        "HomeDirectoryDetails",
        "GroupAdmin",
        "Role",
    ] {
        let report = validate(&clean_user_without(key));
        let findings = assert_codes(&report, &["missing-key"]);
        assert_eq!(findings[0].detail, format!("key \"{key}\" is missing"));
    }
}

#[test]
fn a_key_in_the_wrong_case_is_pointed_out() {
    let mut secret = clean_user_without("Email");
    secret.insert("email".into(), json!("ops@bank1.example.com"));
    let report = validate(&secret);
    let findings = assert_codes(&report, &["missing-key"]);
    assert!(
        findings[0].detail.contains("found \"email\""),
        "{}",
        findings[0].detail
    );
}

#[test]
fn a_secret_without_ip_and_ipv6_is_a_finding() {
    let mut secret = clean_user_without("IP");
    secret.remove("IPv6");
    assert_codes(&validate(&secret), &["missing-ip-key"]);
}

#[test]
fn either_ip_or_ipv6_alone_is_enough() {
    assert!(validate(&clean_user_without("IP")).is_clean());
    assert!(validate(&clean_user_without("IPv6")).is_clean());
}

#[test]
fn values_of_the_wrong_type_are_rule_one_findings_and_nothing_else() {
    let cases = [
        (
            "Email",
            json!(42),
            "\"Email\" is a number; expected a string",
        ),
        (
            "PublicKey",
            json!(["ssh-ed25519 AAAA"]),
            "\"PublicKey\" is a JSON array; expected a string",
        ),
        ("IP", json!(null), "\"IP\" is null; expected a string"),
        (
            "Name",
            json!({"first": "ANZ"}),
            "\"Name\" is a JSON object; expected a string",
        ),
        (
            "GroupAdmin",
            json!(true),
            "\"GroupAdmin\" is true/false; expected a string",
        ),
        ("Role", json!(1), "\"Role\" is a number; expected a string"),
        (
            "Password",
            json!(1234),
            "\"Password\" is a number; expected a string",
        ),
        (
            "HomeDirectoryDetails",
            json!(7),
            "\"HomeDirectoryDetails\" is a number; expected a JSON array or a string holding one",
        ),
    ];
    for (key, value, detail) in cases {
        let report = validate(&clean_user_with(key, value));
        let findings = assert_codes(&report, &["wrong-type"]);
        assert_eq!(findings[0].detail, detail);
        assert_eq!(findings[0].rule, Rule::MandatoryKeys);
    }
}

/// `argon2.low_level.hash_secret(b"pw", b"saltsaltsalt", time_cost=5, memory_cost=7168,
/// parallelism=1, hash_len=32, type=Type.ID)` (argon2-cffi: the reference C implementation).
const ARGON2ID_PW: &str =
    "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg";

#[test]
fn a_readable_password_is_a_rule_one_finding_recommending_a_hash() {
    let report = validate(&clean_user_with("Password", json!("hunter2-Pa55word")));
    let findings = assert_codes(&report, &["password-plaintext"]);
    assert_eq!(findings[0].rule, Rule::MandatoryKeys);
    assert!(
        findings[0].fix().contains("PasswordHash"),
        "{}",
        findings[0].fix()
    );

    let mut both = clean_user_with("PasswordHash", json!(ARGON2ID_PW));
    both.insert("Password".into(), json!("pw"));
    let findings = validate(&both).findings;
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        findings[0].detail.contains("next to PasswordHash"),
        "{findings:#?}"
    );
}

#[test]
fn an_argon2id_password_hash_alone_is_clean_and_an_empty_password_is_ignored() {
    assert!(validate(&clean_user_with("PasswordHash", json!(ARGON2ID_PW))).is_clean());
    assert!(validate(&clean_user_with("Password", json!(""))).is_clean());
}

#[test]
fn a_password_hash_the_identity_provider_cannot_check_is_a_finding() {
    for hash in [
        "$2b$12$abcdefghijklmnopqrstuv",
        "$argon2i$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$ICwK2pkW7zDFvWckhqsdGcl1HH5PE8vHSyDKAn3mD/M",
        "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$Lf6MuFrCYaYTixnUTfmySGxjaeN0ow5zz43VGFiOxKA",
    ] {
        let report = validate(&clean_user_with("PasswordHash", json!(hash)));
        let findings = assert_codes(&report, &["password-hash-invalid"]);
        assert!(
            !findings[0].detail.contains("c2FsdHNhbHRzYWx0"),
            "{}",
            findings[0].detail
        );
        assert!(
            !findings[0].detail.contains("abcdefgh"),
            "{}",
            findings[0].detail
        );
    }
}

#[test]
fn a_64_kib_secret_gives_a_small_report() {
    let junk_addresses = "x".repeat(20) + ";";
    let secret = clean_user_with("Email", json!(junk_addresses.repeat(3_000)));
    let secret = {
        let mut s = secret;
        s.insert("Name".into(), json!("N\n".repeat(2_000)));
        s
    };
    let secret_string = secret_string(&secret);
    assert!(secret_string.len() > 64 * 1024);
    let report = validate_user(
        "bank1",
        &secret_string,
        &admins(),
        &Rules::default(),
        today(),
    );
    assert_eq!(
        codes(&report)
            .iter()
            .filter(|c| **c == "email-malformed")
            .count(),
        6
    );
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.detail.contains("2995 more"))
    );
    assert!(serde_json::to_string(&report).unwrap().len() < 4 * 1024);
    assert!(report.name.unwrap().chars().count() <= 201);
}

#[test]
fn a_64_kib_secret_that_is_not_json_is_one_short_finding() {
    let secret = "{".repeat(64 * 1024);
    let report = validate_user("bank1", &secret, &admins(), &Rules::default(), today());
    let findings = assert_codes(&report, &["not-json"]);
    assert!(findings[0].detail.len() < 100);
}

#[test]
fn unicode_names_are_kept() {
    let report = validate(&clean_user_with(
        "Name",
        json!("Zürcher Kantonalbank 銀行 🏦"),
    ));
    assert!(report.is_clean());
    assert_eq!(report.name.as_deref(), Some("Zürcher Kantonalbank 銀行 🏦"));
}

#[test]
fn control_characters_are_removed_from_the_reported_name() {
    let report = validate(&clean_user_with(
        "Name",
        json!("ANZ\r\nBcc: evil@example.com\u{202E}"),
    ));
    assert_eq!(report.name.as_deref(), Some("ANZBcc: evil@example.com"));
}

// ---- rule 2: group admin ----------------------------------------------------------------------

#[test]
fn a_group_admin_that_does_not_exist_is_a_finding() {
    let report = validate(&clean_user_with("GroupAdmin", json!("groupZ-admin")));
    let findings = assert_codes(&report, &["group-admin-unknown"]);
    assert_eq!(
        findings[0].detail,
        "GroupAdmin \"groupZ-admin\" is not an existing admin"
    );
    assert_eq!(findings[0].rule, Rule::GroupAdmin);
}

#[test]
fn a_group_admin_that_is_not_an_admin_name_is_a_finding() {
    let report = validate(&clean_user_with("GroupAdmin", json!("bank2")));
    assert_codes(&report, &["group-admin-not-admin"]);
}

#[test]
fn an_empty_group_admin_is_a_finding() {
    assert_codes(
        &validate(&clean_user_with("GroupAdmin", json!(" "))),
        &["group-admin-empty"],
    );
}

#[test]
fn a_group_admin_with_spaces_around_it_says_so() {
    let report = validate(&clean_user_with("GroupAdmin", json!("groupA-admin ")));
    let findings = assert_codes(&report, &["group-admin-unknown"]);
    assert!(findings[0].detail.contains("spaces around"));
}

#[test]
fn an_admin_may_name_itself_and_a_super_admin_may_be_a_group_admin() {
    let mut group_admin = clean_user_with("GroupAdmin", json!("groupA-admin"));
    group_admin.insert(
        "HomeDirectoryDetails".into(),
        json!([{"Entry": "/", "Target": "/bucket/groupA"}]),
    );
    assert!(validate_as("groupA-admin", &group_admin).is_clean());

    let mut super_admin = clean_user_with("GroupAdmin", json!("SFTPSuperAdmin"));
    super_admin.insert(
        "HomeDirectoryDetails".into(),
        json!([{"Entry": "/", "Target": "/bucket"}]),
    );
    assert!(validate_as("SFTPSuperAdmin", &super_admin).is_clean());

    let user_of_super_admin = clean_user_with("GroupAdmin", json!("SFTPSuperAdmin"));
    assert!(validate(&user_of_super_admin).is_clean());
}

// ---- rule 3: email delimiter ------------------------------------------------------------------

#[test]
fn semicolon_separated_emails_are_a_delimiter_finding() {
    let report = validate(&clean_user_with(
        "Email",
        json!("a@bank1.com;b@bank1.com; c@bank1.com"),
    ));
    let findings = assert_codes(&report, &["email-delimiter"]);
    assert_eq!(findings[0].rule, Rule::EmailDelimiter);
    assert_eq!(
        findings[0].detail,
        "Email uses ';' between addresses (2×); the delimiter is a comma"
    );
    assert_eq!(
        report.contact_emails,
        vec!["a@bank1.com", "b@bank1.com", "c@bank1.com"]
    );
}

#[test]
fn pipe_separated_emails_are_a_delimiter_finding() {
    assert_codes(
        &validate(&clean_user_with("Email", json!("a@bank1.com|b@bank1.com"))),
        &["email-delimiter"],
    );
}

#[test]
fn space_separated_emails_are_a_missing_comma() {
    let report = validate(&clean_user_with("Email", json!("a@bank1.com b@bank1.com")));
    let findings = assert_codes(&report, &["email-missing-comma"]);
    assert!(findings[0].detail.contains("\"a@bank1.com b@bank1.com\""));
}

#[test]
fn doubled_leading_and_trailing_commas_are_empty_entries() {
    for email in [
        "a@bank1.com,,b@bank1.com",
        "a@bank1.com,",
        ",a@bank1.com",
        "a@bank1.com, ,b@bank1.com",
    ] {
        assert_codes(
            &validate(&clean_user_with("Email", json!(email))),
            &["email-empty-entry"],
        );
    }
}

#[test]
fn a_space_after_a_comma_is_accepted() {
    assert!(validate(&clean_user_with("Email", json!("a@bank1.com, b@bank1.com"))).is_clean());
}

// ---- rule 4: email format ---------------------------------------------------------------------

#[test]
fn a_malformed_address_is_named_with_what_is_wrong() {
    let report = validate(&clean_user_with(
        "Email",
        json!("ops@bank1.example.com,it.bank1.com"),
    ));
    let findings = assert_codes(&report, &["email-malformed"]);
    assert_eq!(findings[0].rule, Rule::EmailFormat);
    assert_eq!(
        findings[0].detail,
        "Email address \"it.bank1.com\" has no '@'"
    );
    assert_eq!(report.contact_emails, vec!["ops@bank1.example.com"]);
}

#[test]
fn a_newline_in_email_is_a_finding_and_never_a_new_line() {
    let report = validate(&clean_user_with(
        "Email",
        json!("ops@bank1.com\nBcc: evil@example.com"),
    ));
    assert_codes(&report, &["email-missing-comma", "email-malformed"]);
    for finding in &report.findings {
        assert!(
            !finding.detail.contains('\n') && !finding.detail.contains('\r'),
            "{}",
            finding.detail
        );
    }
    assert_eq!(
        report.contact_emails,
        vec!["ops@bank1.com", "evil@example.com"]
    );
}

#[test]
fn control_characters_in_an_address_are_escaped_in_the_detail() {
    let report = validate(&clean_user_with("Email", json!("ops@bank1.com\u{7}")));
    let findings = assert_codes(&report, &["email-malformed"]);
    assert_eq!(
        findings[0].detail,
        "Email address \"ops@bank1.com\\u{7}\" has control characters"
    );
}

#[test]
fn a_user_without_an_address_is_a_finding_but_a_group_admin_may_have_none() {
    assert_codes(
        &validate(&clean_user_with("Email", json!(""))),
        &["email-empty"],
    );
    let mut group_admin = clean_user_with("Email", json!(""));
    group_admin.insert("GroupAdmin".into(), json!("groupA-admin"));
    group_admin.insert(
        "HomeDirectoryDetails".into(),
        json!([{"Entry": "/", "Target": "/bucket/groupA"}]),
    );
    assert!(validate_as("groupA-admin", &group_admin).is_clean());
}

// ---- rule 5: home directory -------------------------------------------------------------------

fn with_target(target: &str) -> Map<String, Value> {
    clean_user_with(
        "HomeDirectoryDetails",
        json!([{"Entry": "/", "Target": target}]),
    )
}

#[test]
fn home_directory_type_must_be_logical() {
    for kind in ["PATH", "logical", ""] {
        let report = validate(&clean_user_with("HomeDirectoryType", json!(kind)));
        let findings = assert_codes(&report, &["home-directory-type"]);
        assert_eq!(findings[0].rule, Rule::HomeDirectory);
    }
}

#[test]
fn home_directory_details_may_be_a_string_or_an_array() {
    assert!(validate(&clean_user()).is_clean(), "string form");
    assert!(
        validate(&with_target("/bucket/groupA/bank1")).is_clean(),
        "array form"
    );
}

#[test]
fn home_directory_details_that_do_not_parse_are_a_finding() {
    for details in [
        json!("[{\"Entry\": \"/\""),
        json!("/bucket/groupA/bank1"),
        json!([{"Entry": "/"}]),
        json!(["/"]),
    ] {
        let report = validate(&clean_user_with("HomeDirectoryDetails", details));
        assert_codes(&report, &["home-directory-details-invalid"]);
    }
}

#[test]
fn home_directory_details_without_a_root_entry_are_a_finding() {
    let details = json!([{"Entry": "/in", "Target": "/bucket/groupA/bank1/in"}]);
    assert_codes(
        &validate(&clean_user_with("HomeDirectoryDetails", details)),
        &["home-directory-no-root-entry"],
    );
    assert_codes(
        &validate(&clean_user_with("HomeDirectoryDetails", json!([]))),
        &["home-directory-no-root-entry"],
    );
}

#[test]
fn two_root_entries_are_a_finding() {
    let details = json!([
        {"Entry": "/", "Target": "/bucket/groupA/bank1"},
        {"Entry": "/", "Target": "/bucket/groupA/bank1/x"},
    ]);
    assert_codes(
        &validate(&clean_user_with("HomeDirectoryDetails", details)),
        &["home-directory-duplicate-entry"],
    );
}

#[test]
fn an_unusable_target_is_a_finding() {
    for (target, problem) in [
        ("", "is empty"),
        ("bucket/groupA/bank1", "does not start with '/'"),
        (
            "/bucket/groupA/../groupB/bank2",
            "has a '.' or '..' segment",
        ),
        ("/bucket/groupA//bank1", "has an empty segment ('//')"),
    ] {
        let report = validate(&with_target(target));
        let findings = assert_codes(&report, &["home-directory-target-invalid"]);
        assert!(
            findings[0].detail.ends_with(problem),
            "{}",
            findings[0].detail
        );
    }
}

#[test]
fn a_target_a_login_would_refuse_for_its_wildcards_is_a_finding_too() {
    for target in [
        "/bucket/groupA/bank*",
        "/bucket/groupA/bank?",
        "/bucket/groupA/${transfer:UserName}",
    ] {
        let report = validate(&with_target(target));
        let findings = assert_codes(&report, &["home-directory-target-invalid"]);
        assert!(
            findings[0].detail.contains("wildcard or a variable"),
            "{}",
            findings[0].detail
        );
    }
}

#[test]
fn a_target_outside_the_group_admins_folder_is_a_finding() {
    let report = validate(&with_target("/bucket/groupB/bank1"));
    let findings = assert_codes(&report, &["home-directory-outside-group"]);
    assert_eq!(
        findings[0].detail,
        "Target \"/bucket/groupB/bank1\" is outside the GroupAdmin's folder \"/bucket/groupA\""
    );
}

#[test]
fn a_sibling_folder_sharing_the_group_folders_name_prefix_is_outside() {
    assert_codes(
        &validate(&with_target("/bucket/groupAB/bank1")),
        &["home-directory-outside-group"],
    );
}

#[test]
fn a_user_in_the_group_folder_itself_is_not_isolated() {
    assert_codes(
        &validate(&with_target("/bucket/groupA/")),
        &["home-directory-not-isolated"],
    );
}

#[test]
fn an_extra_mapping_into_another_users_folder_is_a_finding() {
    let details = json!([
        {"Entry": "/", "Target": "/bucket/groupA/bank1"},
        {"Entry": "/peek", "Target": "/bucket/groupB/bank2"},
    ]);
    assert_codes(
        &validate(&clean_user_with("HomeDirectoryDetails", details)),
        &[
            "home-directory-target-outside-home",
            "home-directory-outside-group",
        ],
    );
}

#[test]
fn an_extra_mapping_into_a_neighbours_folder_in_the_same_group_is_a_finding() {
    let details = json!([
        {"Entry": "/", "Target": "/bucket/groupA/bank1"},
        {"Entry": "/peek", "Target": "/bucket/groupA/bank2"},
        {"Entry": "/in", "Target": "/bucket/groupA/bank1/in"},
    ]);
    let report = validate(&clean_user_with("HomeDirectoryDetails", details));
    let findings = assert_codes(&report, &["home-directory-target-outside-home"]);
    assert!(
        findings[0]
            .detail
            .starts_with("HomeDirectoryDetails mapping #2")
    );
}

#[test]
fn a_home_folder_too_deep_for_a_session_policy_is_a_finding() {
    let deep = format!("/bucket/groupA/bank1/{}", "segment/".repeat(120));
    let report = validate(&with_target(&deep));
    assert_codes(&report, &["home-directory-policy-too-long"]);
}

#[test]
fn isolation_is_not_checked_when_the_group_admin_is_unknown() {
    let mut secret = with_target("/elsewhere/bank1");
    secret.insert("GroupAdmin".into(), json!("groupZ-admin"));
    assert_codes(&validate(&secret), &["group-admin-unknown"]);
}

#[test]
fn isolation_is_not_checked_when_the_group_admin_has_no_folder() {
    let directory = AdminDirectory::from_secrets([("groupA-admin", "{}")]);
    let report = validate_user(
        "bank1",
        &secret_string(&with_target("/elsewhere/bank1")),
        &directory,
        &Rules::default(),
        today(),
    );
    assert!(report.is_clean(), "{:#?}", report.findings);
}

#[test]
fn a_group_admin_at_the_bucket_root_or_outside_the_bucket_is_a_finding() {
    for target in ["/bucket", "/other-bucket/groupA"] {
        let mut secret = with_target(target);
        secret.insert("GroupAdmin".into(), json!("SFTPSuperAdmin"));
        let report = validate_as("groupA-admin", &secret);
        assert_codes(&report, &["home-directory-outside-bucket"]);
    }
}

#[test]
fn without_a_known_bucket_a_group_admin_must_still_not_be_at_a_bucket_root() {
    let group_admin = admin_secret("a@groupa.example.com", "/bucket");
    let directory = AdminDirectory::from_secrets([("groupA-admin", group_admin.as_str())]);
    let report = validate_user(
        "groupA-admin",
        &group_admin,
        &directory,
        &Rules::default(),
        today(),
    );
    assert_codes(
        &report,
        &["group-admin-unknown", "home-directory-outside-bucket"],
    );
}

#[test]
fn a_super_admin_outside_a_bucket_root_is_a_finding() {
    let mut secret = with_target("/bucket/all");
    secret.insert("GroupAdmin".into(), json!("SFTPSuperAdmin"));
    assert_codes(
        &validate_as("SFTPSuperAdmin", &secret),
        &["home-directory-not-bucket-root"],
    );
}

// ---- rule 6: role -----------------------------------------------------------------------------

#[test]
fn a_role_other_than_the_configured_one_is_a_finding() {
    let rules = Rules {
        transfer_role_arn: Some("arn:aws:iam::123456789012:role/SftpWardenTransfer".into()),
        ..Rules::default()
    };
    let report = validate_user(
        "bank1",
        &secret_string(&clean_user()),
        &admins(),
        &rules,
        today(),
    );
    let findings = assert_codes(&report, &["role-mismatch"]);
    assert_eq!(findings[0].rule, Rule::Role);
    assert!(findings[0].detail.contains("SftpWardenTransfer"));

    let matching = Rules {
        transfer_role_arn: Some(ROLE_ARN.into()),
        ..Rules::default()
    };
    let report = validate_user(
        "bank1",
        &secret_string(&clean_user()),
        &admins(),
        &matching,
        today(),
    );
    assert!(report.is_clean());
}

#[test]
fn a_malformed_role_is_a_finding_when_none_is_configured() {
    for role in [
        "arn:aws:iam:AccountNumber:aws:role/TransferS3AccessRole",
        "TransferS3AccessRole",
        "",
    ] {
        assert_codes(
            &validate(&clean_user_with("Role", json!(role))),
            &["role-malformed"],
        );
    }
}

// ---- rule 7: IP ranges ------------------------------------------------------------------------

fn with_ip(ip: &str, ipv6: &str) -> UserReport {
    let mut secret = clean_user_with("IP", json!(ip));
    secret.insert("IPv6".into(), json!(ipv6));
    validate(&secret)
}

#[test]
fn valid_ranges_of_both_families_are_accepted() {
    assert!(with_ip("3.3.3.3/32, 203.0.113.0/24", "2001:db8:1::/48").is_clean());
    assert!(with_ip("", "").is_clean());
}

#[test]
fn an_ipv6_range_in_ip_is_the_wrong_family() {
    let report = with_ip("3.3.3.3/32,2001:db8::/48", "");
    let findings = assert_codes(&report, &["cidr-wrong-family"]);
    assert_eq!(findings[0].rule, Rule::IpRanges);
    assert_eq!(
        findings[0].detail,
        "IP entry 2001:db8::/48 is not an IPv4 range; move it to IPv6"
    );
}

#[test]
fn an_ipv4_range_in_ipv6_is_the_wrong_family() {
    assert_codes(&with_ip("", "3.3.3.0/24"), &["cidr-wrong-family"]);
}

#[test]
fn host_bits_set_are_a_finding_that_suggests_the_network() {
    let report = with_ip("10.0.0.1/24", "");
    let findings = assert_codes(&report, &["cidr-host-bits"]);
    assert_eq!(
        findings[0].detail,
        "IP entry 10.0.0.1/24 has host bits set; use 10.0.0.0/24"
    );
}

#[test]
fn a_repeated_range_is_a_duplicate() {
    assert_codes(&with_ip("3.3.3.3/32, 3.3.3.3/32", ""), &["cidr-duplicate"]);
    assert_codes(
        &with_ip("", "2001:db8::/48,2001:DB8::/48"),
        &["cidr-duplicate"],
    );
}

#[test]
fn over_broad_ranges_are_a_finding() {
    let report = with_ip("0.0.0.0/0", "2001::/16");
    let findings = assert_codes(&report, &["cidr-too-broad", "cidr-too-broad"]);
    assert!(findings[0].detail.contains("/8 or longer"));
    assert!(findings[1].detail.contains("/32 or longer"));
}

#[test]
fn the_breadth_limit_is_configurable() {
    let rules = Rules {
        min_ipv4_prefix_len: 24,
        ..Rules::default()
    };
    let secret = clean_user_with("IP", json!("10.0.0.0/16"));
    let report = validate_user("bank1", &secret_string(&secret), &admins(), &rules, today());
    assert_codes(&report, &["cidr-too-broad"]);
}

#[test]
fn text_that_is_not_a_cidr_is_a_finding() {
    let report = with_ip("3.3.3.3/33, office, 3.3.3.3/32;4.4.4.4/32", "");
    assert_codes(&report, &["cidr-invalid", "cidr-invalid", "cidr-invalid"]);
}

#[test]
fn a_bare_address_needs_a_prefix_length() {
    let report = with_ip("3.3.3.3", "2001:db8::1");
    let findings = assert_codes(&report, &["cidr-missing-prefix", "cidr-missing-prefix"]);
    assert!(findings[0].detail.ends_with("write 3.3.3.3/32"));
    assert!(findings[1].detail.ends_with("write 2001:db8::1/128"));
}

#[test]
fn an_empty_entry_in_the_list_is_a_finding() {
    assert_codes(
        &with_ip("3.3.3.3/32,,4.4.4.4/32,", ""),
        &["cidr-empty-entry"],
    );
}

// ---- rule 8: public keys ----------------------------------------------------------------------

#[test]
fn the_seed_placeholder_key_is_accepted() {
    let report = with_key("ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202");
    assert!(report.is_clean(), "{:#?}", report.findings);
    assert!(
        report.key_notices.is_empty(),
        "the placeholder is not a real key"
    );
}

#[test]
fn the_placeholders_date_is_still_checked() {
    assert_codes(
        &with_key("ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220230"),
        &["key-updated-date"],
    );
}

#[test]
fn real_ed25519_ecdsa_and_long_rsa_keys_are_accepted() {
    for name in [
        "ed25519", "ecdsa256", "ecdsa384", "ecdsa521", "rsa2048", "rsa4096",
    ] {
        let report = with_key(&key_entry(name, "20250105"));
        assert!(report.is_clean(), "{name}: {:#?}", report.findings);
    }
}

#[test]
fn two_keys_are_accepted_and_three_are_too_many() {
    let two = format!(
        "{},{}",
        key_entry("ed25519", "20250105"),
        key_entry("rsa4096", "20250105")
    );
    assert!(with_key(&two).is_clean());
    let three = format!("{two}, {}", key_entry("ecdsa256", "20250105"));
    let report = with_key(&three);
    let findings = assert_codes(&report, &["public-key-too-many"]);
    assert_eq!(
        findings[0].detail,
        "PublicKey holds 3 keys; at most 2 are allowed"
    );
}

#[test]
fn an_empty_public_key_is_a_finding() {
    for value in ["", " ", ",", " , "] {
        assert_codes(&with_key(value), &["public-key-empty"]);
    }
}

#[test]
fn a_key_with_three_parts_is_a_finding() {
    let (key_type, base64) = key_body("ed25519");
    let report = with_key(&format!("{key_type} {base64} Updated(YYYYMMDD)=20250105"));
    let findings = assert_codes(&report, &["public-key-parts"]);
    assert_eq!(
        findings[0].detail,
        "key #1 has 3 parts; expected 4: type, key, comment, Updated(YYYYMMDD)=DATE"
    );
}

#[test]
fn a_key_with_five_parts_is_a_finding() {
    let (key_type, base64) = key_body("ed25519");
    let report = with_key(&format!(
        "ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202, {key_type} {base64} Bank One Updated(YYYYMMDD)=20250105"
    ));
    let findings = assert_codes(&report, &["public-key-parts"]);
    assert!(findings[0].detail.starts_with("key #2 has 5 parts"));
}

#[test]
fn impossible_updated_dates_are_findings() {
    for (date, detail) in [
        (
            "20230230",
            "key #1: the Updated date 20230230 is not a real calendar date",
        ),
        (
            "20231301",
            "key #1: the Updated date 20231301 is not a real calendar date",
        ),
        (
            "2023011",
            "key #1: the Updated date (2023011) is not eight digits YYYYMMDD",
        ),
    ] {
        let report = with_key(&key_entry("ed25519", date));
        let findings = assert_codes(&report, &["key-updated-date"]);
        assert_eq!(findings[0].detail, detail);
    }
}

#[test]
fn an_updated_date_in_the_future_is_a_finding() {
    let report = with_key(&key_entry("ed25519", "20250602"));
    let findings = assert_codes(&report, &["key-updated-future"]);
    assert_eq!(
        findings[0].detail,
        "key #1: Updated date 2025-06-02 is in the future"
    );
    assert!(
        with_key(&key_entry("ed25519", "20250601")).is_clean(),
        "today is not the future"
    );
}

#[test]
fn a_fourth_part_without_the_updated_label_is_a_finding() {
    let (key_type, base64) = key_body("ed25519");
    let report = with_key(&format!("{key_type} {base64} bank1@host 20250105"));
    assert_codes(&report, &["key-updated-format"]);
}

#[test]
fn a_short_rsa_key_is_a_finding_naming_its_fingerprint_and_size() {
    let report = with_key(&key_entry("rsa1024", "20250105"));
    let findings = assert_codes(&report, &["public-key-rsa-too-short"]);
    assert_eq!(
        findings[0].detail,
        format!(
            "key #1 ({}) is a 1024-bit RSA key; at least 2048 bits are required",
            crate::test_support::fixture_fingerprint("rsa1024")
        )
    );
}

#[test]
fn a_dsa_key_is_a_finding() {
    let report = with_key(&key_entry("dsa1024", "20250105"));
    let findings = assert_codes(&report, &["public-key-algorithm"]);
    assert!(findings[0].detail.contains("ssh-dss"));
}

#[test]
fn a_truncated_key_is_a_finding() {
    let (key_type, base64) = key_body("rsa2048");
    let truncated = &base64[..base64.len() / 2];
    let report = with_key(&format!(
        "{key_type} {truncated} bank1@host Updated(YYYYMMDD)=20250105"
    ));
    let findings = assert_codes(&report, &["public-key-invalid"]);
    assert_eq!(
        findings[0].detail,
        "key #1 (labelled ssh-rsa) does not decode as an SSH public key: the key text is damaged, truncated or not a key"
    );
}

#[test]
fn garbage_in_place_of_a_key_is_a_finding() {
    let report = with_key("ssh-ed25519 bm90IGEga2V5 bank1@host Updated(YYYYMMDD)=20250105");
    assert_codes(&report, &["public-key-invalid"]);
}

#[test]
fn a_key_labelled_with_another_type_is_a_finding() {
    let (_, base64) = key_body("ed25519");
    let report = with_key(&format!(
        "ssh-rsa {base64} bank1@host Updated(YYYYMMDD)=20250105"
    ));
    let findings = assert_codes(&report, &["public-key-type-mismatch"]);
    assert!(
        findings[0]
            .detail
            .contains("is an ssh-ed25519 key but is labelled ssh-rsa")
    );
}

#[test]
fn the_same_key_twice_is_a_finding() {
    let twice = format!(
        "{},{}",
        key_entry("ed25519", "20250105"),
        key_entry("ed25519", "20250301")
    );
    assert_codes(&with_key(&twice), &["public-key-duplicate"]);
}

#[test]
fn findings_of_several_rules_come_in_rule_order() {
    let mut secret = clean_user_with("PublicKey", json!("x"));
    secret.insert("IP".into(), json!("10.0.0.1/24"));
    secret.insert("Email".into(), json!("a@b.com;c"));
    secret.remove("Name");
    let report = validate(&secret);
    let rules: Vec<u8> = report.findings.iter().map(|f| f.rule.number()).collect();
    assert_eq!(rules, vec![1, 3, 4, 7, 8]);
}

// ---- rule 9: key age --------------------------------------------------------------------------

fn notices_on(updated: &str, today: NaiveDate) -> Vec<KeyNotice> {
    let secret = clean_user_with("PublicKey", json!(key_entry("ed25519", updated)));
    let report = validate_user(
        "bank1",
        &secret_string(&secret),
        &admins(),
        &Rules::default(),
        today,
    );
    assert!(report.is_clean(), "{:#?}", report.findings);
    report.key_notices
}

#[test]
fn a_key_exactly_ten_months_old_is_due_a_notice() {
    let notices = notices_on("20250105", date(2025, 11, 5));
    assert_eq!(
        notices,
        vec![KeyNotice {
            fingerprint: crate::test_support::fixture_fingerprint("ed25519").into(),
            algorithm: "ssh-ed25519".into(),
            updated: date(2025, 1, 5),
            age_months: 10,
            refuse_after: date(2026, 1, 5),
        }]
    );
}

#[test]
fn a_key_a_day_short_of_ten_months_is_not_due() {
    assert!(notices_on("20250105", date(2025, 11, 4)).is_empty());
}

#[test]
fn a_key_a_day_past_ten_months_is_due() {
    let notices = notices_on("20250105", date(2025, 11, 6));
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].age_months, 10);
}

#[test]
fn a_key_updated_on_29_february_has_its_deadline_on_28_february() {
    let notices = notices_on("20240229", date(2024, 12, 29));
    assert_eq!(notices[0].age_months, 10);
    assert_eq!(notices[0].refuse_after, date(2025, 2, 28));
    assert!(notices_on("20240229", date(2024, 12, 28)).is_empty());
}

#[test]
fn a_key_updated_on_the_31st_counts_months_on_the_calendar() {
    assert!(notices_on("20250331", date(2026, 1, 30)).is_empty());
    let notices = notices_on("20250331", date(2026, 1, 31));
    assert_eq!(notices[0].age_months, 10);
    assert_eq!(notices[0].refuse_after, date(2026, 3, 31));
    let later = notices_on("20250331", date(2026, 2, 28));
    assert_eq!(
        later[0].age_months, 11,
        "31 March + 11 months is 28 February"
    );
}

#[test]
fn a_key_dated_in_the_future_gets_a_finding_not_a_notice() {
    let secret = clean_user_with("PublicKey", json!(key_entry("ed25519", "20260101")));
    let report = validate_user(
        "bank1",
        &secret_string(&secret),
        &admins(),
        &Rules::default(),
        date(2025, 12, 1),
    );
    assert_codes(&report, &["key-updated-future"]);
    assert!(report.key_notices.is_empty());
}

#[test]
fn an_old_key_gets_no_notice_while_other_rules_fail() {
    let mut secret = clean_user_with("PublicKey", json!(key_entry("ed25519", "20240105")));
    secret.insert("Email".into(), json!("a@bank1.com;b@bank1.com"));
    let report = validate(&secret);
    assert_codes(&report, &["email-delimiter"]);
    assert!(report.key_notices.is_empty());
}

#[test]
fn only_the_old_key_of_two_gets_a_notice() {
    let keys = format!(
        "{},{}",
        key_entry("ed25519", "20240105"),
        key_entry("rsa4096", "20250501")
    );
    let report = with_key(&keys);
    assert_eq!(report.key_notices.len(), 1);
    assert_eq!(report.key_notices[0].algorithm, "ssh-ed25519");
    assert_eq!(report.key_notices[0].age_months, 16);
}

#[test]
fn the_notice_threshold_is_configurable() {
    let rules = Rules {
        notice_after_months: 3,
        refuse_after_months: 6,
        ..Rules::default()
    };
    let report = validate_user(
        "bank1",
        &secret_string(&clean_user()),
        &admins(),
        &rules,
        today(),
    );
    assert_eq!(report.key_notices.len(), 1);
    assert_eq!(report.key_notices[0].refuse_after, date(2025, 7, 5));
}

// ---- no secret material anywhere --------------------------------------------------------------

#[test]
fn no_finding_detail_or_fix_contains_key_text_comment_or_password() {
    let (_, base64) = key_body("rsa1024");
    let comment = "very-private-comment";
    let mut secret = clean_user_with(
        "PublicKey",
        json!(format!(
            "ssh-ed25519 {base64} {comment} Updated(YYYYMMDD)=20230230, ssh-rsa {base64} {comment}, {base64} ssh-rsa {comment} {comment}"
        )),
    );
    secret.insert("Password".into(), json!("hunter2-Pa55word"));
    secret.insert(
        "PasswordHash".into(),
        json!("$argon2id$v=19$m=65536$c2FsdA$aGFzaA"),
    );
    let report = validate(&secret);
    assert!(!report.is_clean());
    let text = serde_json::to_string(&report).unwrap()
        + &report.findings.iter().map(Finding::fix).collect::<String>();
    for needle in [&base64[20..60], comment, "hunter2", "argon2id", "aGFzaA"] {
        assert!(!text.contains(needle), "{needle} leaked: {text}");
    }
}

// ---- never panics -----------------------------------------------------------------------------

#[test]
fn every_truncation_and_mangling_of_a_secret_gives_a_report_not_a_panic() {
    let mut secret = clean_user();
    secret.insert("IP".into(), json!("3.3.3.3/32,10.0.0.1/24"));
    secret.insert("IPv6".into(), json!("2001:db8::/48"));
    secret.insert("Password".into(), json!("pässwörd"));
    let text = secret_string(&secret);
    let mut inputs: Vec<String> = text
        .char_indices()
        .map(|(i, _)| text[..i].to_owned())
        .collect();
    for (i, replacement) in text.char_indices().map(|(i, _)| i).zip(
        ["\"", ",", "]", "\\", "\n", "é", "/", ";", " "]
            .iter()
            .cycle(),
    ) {
        let mut mangled = text.clone();
        let end = i + mangled[i..].chars().next().map_or(0, char::len_utf8);
        mangled.replace_range(i..end, replacement);
        inputs.push(mangled);
    }
    for input in &inputs {
        let report = validate_user("bank1", input, &admins(), &Rules::default(), today());
        assert_eq!(report.username, "bank1");
    }
}

#[test]
fn a_64_kib_public_key_value_gives_a_small_report() {
    let entry = format!("{},", key_entry("rsa1024", "20230230"));
    let value = entry.repeat(64 * 1024 / entry.len() + 1);
    let report = with_key(&value);
    assert!(serde_json::to_string(&report).unwrap().len() < 8 * 1024);
    assert_eq!(
        codes(&report)
            .iter()
            .filter(|c| **c == "public-key-rsa-too-short")
            .count(),
        6
    );
}
