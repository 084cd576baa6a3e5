use super::*;
use crate::Rules;
use crate::password_hash::{PasswordHashProblem, parse as parse_password_hash};
use crate::test_support::{ROLE_ARN, clean_user, key_body, key_entry, secret_string};
use crate::user::{Role, SecretKey};
use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
use chrono::NaiveDate;
use serde_json::{Map, Value, json};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The clean user's key was updated 2025-01-05: five months before this.
fn today() -> NaiveDate {
    date(2025, 6, 1)
}

/// An Argon2id PHC string with small parameters, so tests stay fast.
fn argon2id(password: &str, m_kib: u32, passes: u32) -> String {
    let params = Params::new(m_kib, passes, 1, None).unwrap();
    let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn key_login(username: &str) -> LoginRequest {
    LoginRequest {
        username: username.into(),
        password: None,
        protocol: "SFTP".into(),
        server_id: "s-0123456789abcdef0".into(),
        source_ip: Some("3.3.3.3".into()),
    }
}

fn password_login(username: &str, password: &str) -> LoginRequest {
    LoginRequest {
        password: Some(Password::new(password)),
        ..key_login(username)
    }
}

fn with(changes: &[(&str, Value)]) -> Map<String, Value> {
    let mut secret = clean_user();
    for (key, value) in changes {
        if value.is_null() {
            secret.remove(*key);
        } else {
            secret.insert((*key).to_owned(), value.clone());
        }
    }
    secret
}

fn decide_with(
    request: &LoginRequest,
    secret: &Map<String, Value>,
    policy: &LoginPolicy,
) -> Decision {
    decide(request, Some(&secret_string(secret)), policy, today())
}

fn decide_default(request: &LoginRequest, secret: &Map<String, Value>) -> Decision {
    decide_with(request, secret, &LoginPolicy::default())
}

fn granted(decision: Decision) -> Grant {
    match decision {
        Decision::Granted(grant) => grant,
        Decision::Denied(reason) => panic!("denied: {reason} ({})", reason.code()),
    }
}

fn denied(decision: Decision) -> String {
    match decision {
        Decision::Denied(reason) => reason.code().to_owned(),
        Decision::Granted(grant) => panic!("granted: {grant:?}"),
    }
}

// ---- usernames ------------------------------------------------------------------------------

#[test]
fn usernames_follow_the_design_syntax() {
    for valid in [
        "bank1",
        "anz-bank",
        "a.b_c-d@e",
        "SFTPSuperAdmin",
        "abc",
        &"x".repeat(100),
    ] {
        assert!(crate::username::is_valid(valid), "{valid}");
    }
    for invalid in [
        "",
        "ab",
        &"x".repeat(101),
        "-bank",
        ".bank",
        "@bank",
        "bank one",
        "bank/../admin",
        "bank%40x",
        "bänk",
        "bank\n",
        "bank*",
    ] {
        assert!(!crate::username::is_valid(invalid), "{invalid:?}");
    }
}

#[test]
fn an_invalid_username_or_protocol_is_denied_before_any_lookup() {
    let policy = LoginPolicy::default();
    assert_eq!(
        screen(&key_login("../etc"), &policy),
        Err(DenyReason::InvalidUsername)
    );
    let ftp = LoginRequest {
        protocol: "FTP".into(),
        ..key_login("bank1")
    };
    assert_eq!(screen(&ftp, &policy), Err(DenyReason::ProtocolNotAllowed));
    let lower = LoginRequest {
        protocol: "sftp".into(),
        ..key_login("bank1")
    };
    assert_eq!(screen(&lower, &policy), Err(DenyReason::ProtocolNotAllowed));
    assert_eq!(screen(&key_login("bank1"), &policy), Ok(()));
    let ftps_allowed = LoginPolicy {
        protocols: vec![Protocol::Sftp, Protocol::Ftps],
        ..LoginPolicy::default()
    };
    let ftps = LoginRequest {
        protocol: "FTPS".into(),
        ..password_login("bank1", "pw")
    };
    assert_eq!(screen(&ftps, &ftps_allowed), Ok(()));
}

#[test]
fn a_missing_secret_is_an_unknown_user() {
    let decision = decide(&key_login("bank1"), None, &LoginPolicy::default(), today());
    assert_eq!(denied(decision), "unknown-user");
}

// ---- key logins ----------------------------------------------------------------------------

#[test]
fn a_key_login_gets_type_and_base64_only() {
    let grant = granted(decide_default(&key_login("bank1"), &clean_user()));
    let (key_type, base64) = key_body("ed25519");
    assert_eq!(
        grant.response.public_keys,
        Some(vec![format!("{key_type} {base64}")])
    );
    assert_eq!(grant.keys_returned, 1);
    let json = serde_json::to_string(&grant.response).unwrap();
    assert!(
        !json.contains("bank1@host") && !json.contains("Updated"),
        "{json}"
    );
}

#[test]
fn the_placeholder_is_never_returned_and_alone_is_no_usable_key() {
    let placeholder = "ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202";
    let both = with(&[(
        "PublicKey",
        json!(format!(
            "{placeholder}, {}",
            key_entry("ecdsa256", "20250101")
        )),
    )]);
    let keys = granted(decide_default(&key_login("bank1"), &both))
        .response
        .public_keys
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("ecdsa-sha2-nistp256 "), "{keys:?}");

    let only = with(&[("PublicKey", json!(placeholder))]);
    assert_eq!(
        denied(decide_default(&key_login("bank1"), &only)),
        "no-usable-key"
    );
}

#[test]
fn keys_are_usable_through_the_last_day_of_the_age_limit_and_not_after() {
    let secret = with(&[("PublicKey", json!(key_entry("ed25519", "20251121")))]);
    let request = key_login("bank1");
    let policy = LoginPolicy::default();
    let on = |day| decide(&request, Some(&secret_string(&secret)), &policy, day);

    assert_eq!(granted(on(date(2026, 11, 21))).keys_returned, 1);
    assert_eq!(denied(on(date(2026, 11, 22))), "no-usable-key");
}

#[test]
fn an_expired_key_is_withheld_while_a_fresh_one_is_returned() {
    let secret = with(&[(
        "PublicKey",
        json!(format!(
            "{}, {}",
            key_entry("ed25519", "20240101"),
            key_entry("rsa2048", "20250301")
        )),
    )]);
    let grant = granted(decide_default(&key_login("bank1"), &secret));
    let keys = grant.response.public_keys.unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("ssh-rsa "));
    assert_eq!(grant.keys_expired, 1);
}

#[test]
fn the_age_limit_is_configurable_and_can_be_switched_off() {
    let secret = with(&[("PublicKey", json!(key_entry("ed25519", "20200101")))]);
    let off = LoginPolicy {
        key_max_age_months: None,
        ..LoginPolicy::default()
    };
    assert_eq!(
        granted(decide_with(&key_login("bank1"), &secret, &off)).keys_returned,
        1
    );

    let recent = with(&[("PublicKey", json!(key_entry("ed25519", "20250201")))]);
    let three = LoginPolicy {
        key_max_age_months: Some(3),
        ..LoginPolicy::default()
    };
    assert_eq!(
        denied(decide_with(&key_login("bank1"), &recent, &three)),
        "no-usable-key"
    );
}

#[test]
fn keys_that_rule_8_refuses_are_not_usable() {
    let (_, ed_base64) = key_body("ed25519");
    for entry in [
        key_entry("rsa1024", "20250101"),
        key_entry("dsa1024", "20250101"),
        key_entry("ed25519", "20250602"),
        key_entry("ed25519", "20250230"),
        format!("ssh-ed25519 {ed_base64} bank1@host"),
        format!("ssh-rsa {ed_base64} bank1@host Updated(YYYYMMDD)=20250101"),
        format!(
            "ssh-ed25519 {} bank1@host Updated(YYYYMMDD)=20250101",
            &ed_base64[..40]
        ),
    ] {
        let secret = with(&[("PublicKey", json!(entry))]);
        assert_eq!(
            denied(decide_default(&key_login("bank1"), &secret)),
            "no-usable-key",
            "{entry}"
        );
    }
}

#[test]
fn the_same_key_twice_is_returned_once() {
    let entry = key_entry("ed25519", "20250101");
    let secret = with(&[("PublicKey", json!(format!("{entry},{entry}")))]);
    assert_eq!(
        granted(decide_default(&key_login("bank1"), &secret)).keys_returned,
        1
    );
}

// ---- password logins -----------------------------------------------------------------------

#[test]
fn a_password_login_with_the_right_password_gets_no_keys() {
    let secret = with(&[("Password", json!("Correct-Horse-9"))]);
    let grant = granted(decide_default(
        &password_login("bank1", "Correct-Horse-9"),
        &secret,
    ));
    assert_eq!(grant.response.public_keys, None);
    assert_eq!(grant.keys_returned, 0);
    assert!(
        !serde_json::to_string(&grant.response)
            .unwrap()
            .contains("PublicKeys")
    );
}

#[test]
fn a_wrong_password_or_a_prefix_of_it_is_denied() {
    let secret = with(&[("Password", json!("Correct-Horse-9"))]);
    for attempt in ["correct-horse-9", "Correct-Horse", "Correct-Horse-9 ", "x"] {
        assert_eq!(
            denied(decide_default(&password_login("bank1", attempt), &secret)),
            "wrong-password",
            "{attempt}"
        );
    }
}

#[test]
fn a_password_login_for_a_user_without_a_password_is_denied() {
    assert_eq!(
        denied(decide_default(
            &password_login("bank1", "anything"),
            &clean_user()
        )),
        "no-password-configured"
    );
    let empty = with(&[("Password", json!(""))]);
    assert_eq!(
        denied(decide_default(&password_login("bank1", "anything"), &empty)),
        "no-password-configured"
    );
}

#[test]
fn an_empty_password_is_a_key_login_and_never_matches_an_empty_stored_password() {
    let secret = with(&[
        ("Password", json!("")),
        (
            "PublicKey",
            json!("ssh-rsa 1 2@3 Updated(YYYYMMDD)=20220202"),
        ),
    ]);
    assert_eq!(
        denied(decide_default(&password_login("bank1", ""), &secret)),
        "no-usable-key"
    );
}

#[test]
fn an_argon2id_password_hash_is_checked() {
    let secret = with(&[(
        "PasswordHash",
        json!(argon2id("Correct-Horse-9", 7 * 1024, 5)),
    )]);
    granted(decide_default(
        &password_login("bank1", "Correct-Horse-9"),
        &secret,
    ));
    assert_eq!(
        denied(decide_default(
            &password_login("bank1", "Correct-Horse-8"),
            &secret
        )),
        "wrong-password"
    );
}

#[test]
fn a_hash_made_by_the_reference_implementation_verifies() {
    // argon2-cffi (the reference C implementation): hash_secret(b"pw", b"saltsaltsalt",
    // time_cost=5, memory_cost=7168, parallelism=1, hash_len=32, type=Type.ID)
    let cli = "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg";
    assert_eq!(cli, argon2id("pw", 7 * 1024, 5));
    let secret = with(&[("PasswordHash", json!(cli))]);
    granted(decide_default(&password_login("bank1", "pw"), &secret));
}

#[test]
fn a_password_hash_wins_over_a_plaintext_password() {
    let secret = with(&[
        ("PasswordHash", json!(argon2id("new-password", 7 * 1024, 5))),
        ("Password", json!("old-password")),
    ]);
    granted(decide_default(
        &password_login("bank1", "new-password"),
        &secret,
    ));
    assert_eq!(
        denied(decide_default(
            &password_login("bank1", "old-password"),
            &secret
        )),
        "wrong-password"
    );
}

#[test]
fn unusable_password_hashes_deny_as_malformed_secrets() {
    let argon2i = {
        let params = Params::new(7 * 1024, 5, 1, None).unwrap();
        let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
        Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string()
    };
    let cases = [
        ("$2b$12$abcdefghijklmnopqrstuv", PasswordHashProblem::NotPhc),
        ("plain", PasswordHashProblem::NotPhc),
        (
            "$argon2id$v=19$m=65536$c2FsdA$aGFzaA",
            PasswordHashProblem::NotPhc,
        ),
        (
            "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0",
            PasswordHashProblem::NotPhc,
        ),
        (argon2i.as_str(), PasswordHashProblem::NotArgon2id),
        (
            "$argon2id$v=19$m=1048576,t=1,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            PasswordHashProblem::TooCostly,
        ),
        (
            "$argon2id$v=19$m=19456,t=100,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            PasswordHashProblem::TooCostly,
        ),
    ];
    for (hash, problem) in cases {
        assert_eq!(parse_password_hash(hash).err(), Some(problem), "{hash}");
        let secret = with(&[("PasswordHash", json!(hash)), ("Password", json!("pw"))]);
        assert_eq!(
            decide_default(&password_login("bank1", "pw"), &secret).deny_reason(),
            Some(&DenyReason::MalformedSecret(SecretProblem::PasswordHash(
                problem
            ))),
            "{hash}"
        );
    }
    assert!(parse_password_hash(&argon2id("pw", 7 * 1024, 5)).is_ok());
}

#[test]
fn a_password_of_the_wrong_type_is_a_malformed_secret_not_a_missing_one() {
    for key in ["Password", "PasswordHash"] {
        let secret = with(&[(key, json!(12345))]);
        assert_eq!(
            denied(decide_default(&password_login("bank1", "12345"), &secret)),
            "malformed-secret",
            "{key}"
        );
    }
}

// ---- source IP ------------------------------------------------------------------------------

fn from(ip: Option<&str>, request: LoginRequest) -> LoginRequest {
    LoginRequest {
        source_ip: ip.map(str::to_owned),
        ..request
    }
}

#[test]
fn the_source_ip_must_lie_in_one_of_the_users_cidrs_ipv4_and_ipv6() {
    let secret = with(&[
        ("IP", json!("203.0.113.0/24, 3.3.3.3/32")),
        ("IPv6", json!("2001:db8:a0::/48")),
    ]);
    for ip in [
        "203.0.113.77",
        "3.3.3.3",
        "2001:db8:a0::1",
        "2001:db8:a0:ffff::9",
        "::ffff:203.0.113.5",
    ] {
        granted(decide_default(&from(Some(ip), key_login("bank1")), &secret));
    }
    for ip in [
        "203.0.114.1",
        "3.3.3.4",
        "2001:db8:a1::1",
        "::1",
        "::ffff:198.51.100.1",
    ] {
        assert_eq!(
            denied(decide_default(&from(Some(ip), key_login("bank1")), &secret)),
            "source-ip-not-allowed",
            "{ip}"
        );
    }
    for ip in [None, Some(""), Some("not-an-ip"), Some("203.0.113.7/32")] {
        assert_eq!(
            denied(decide_default(&from(ip, key_login("bank1")), &secret)),
            "source-ip-missing",
            "{ip:?}"
        );
    }
}

#[test]
fn a_user_without_cidrs_may_connect_from_anywhere_or_nowhere_known() {
    let secret = with(&[("IP", json!("")), ("IPv6", json!(" "))]);
    for ip in [Some("198.51.100.1"), Some("2001:db8::1"), None] {
        granted(decide_default(&from(ip, key_login("bank1")), &secret));
    }
}

#[test]
fn a_user_whose_cidrs_are_all_unusable_is_denied_from_everywhere() {
    // Invalid, wrong family and too broad: none counts, but the user clearly meant a limit.
    let secret = with(&[
        ("IP", json!("203.0.113.7/33, 2001:db8::/32, 0.0.0.0/0")),
        ("IPv6", Value::Null),
    ]);
    for ip in ["203.0.113.7", "2001:db8::1", "8.8.8.8"] {
        assert_eq!(
            denied(decide_default(&from(Some(ip), key_login("bank1")), &secret)),
            "source-ip-not-allowed",
            "{ip}"
        );
    }
}

#[test]
fn cidr_keys_must_be_strings_and_one_must_exist() {
    let array = with(&[("IP", json!(["3.3.3.3/32"]))]);
    assert_eq!(
        decide_default(&key_login("bank1"), &array).deny_reason(),
        Some(&DenyReason::MalformedSecret(SecretProblem::WrongType(
            SecretKey::Ip
        )))
    );
    let neither = with(&[("IP", Value::Null), ("IPv6", Value::Null)]);
    assert_eq!(
        decide_default(&key_login("bank1"), &neither).deny_reason(),
        Some(&DenyReason::MalformedSecret(SecretProblem::NoIpKey))
    );
}

// ---- home folder and role -------------------------------------------------------------------

fn details(target: &str) -> Value {
    json!(format!("[{{\"Entry\": \"/\", \"Target\": \"{target}\"}}]"))
}

#[test]
fn home_directory_details_are_returned_as_a_json_string_with_normalised_targets() {
    let secret = with(&[(
        "HomeDirectoryDetails",
        json!([{"Entry": "/", "Target": "/bucket/groupA/bank1/"}, {"Entry": "/in", "Target": "/bucket/groupA/bank1/in"}]),
    )]);
    let grant = granted(decide_default(&key_login("bank1"), &secret));
    let details = grant.response.home_directory_details.unwrap();
    let parsed: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(
        parsed,
        json!([{"Entry": "/", "Target": "/bucket/groupA/bank1"}, {"Entry": "/in", "Target": "/bucket/groupA/bank1/in"}])
    );
    assert_eq!(grant.home_folder, "/bucket/groupA/bank1");
    assert_eq!(grant.response.home_directory_type, Some("LOGICAL"));
    assert_eq!(grant.response.role.as_deref(), Some(ROLE_ARN));
}

#[test]
fn unusable_home_directories_deny_as_malformed_secrets() {
    let cases: Vec<(Map<String, Value>, SecretProblem)> = vec![
        (
            with(&[("HomeDirectoryType", json!("PATH"))]),
            SecretProblem::HomeDirectoryType,
        ),
        (
            with(&[("HomeDirectoryType", Value::Null)]),
            SecretProblem::HomeDirectoryType,
        ),
        (
            with(&[("HomeDirectoryDetails", json!("[{"))]),
            SecretProblem::HomeDirectoryDetails,
        ),
        (
            with(&[("HomeDirectoryDetails", json!([]))]),
            SecretProblem::NoSingleRootEntry,
        ),
        (
            with(&[(
                "HomeDirectoryDetails",
                json!([{"Entry": "/in", "Target": "/bucket/groupA/bank1"}]),
            )]),
            SecretProblem::NoSingleRootEntry,
        ),
        (
            with(&[(
                "HomeDirectoryDetails",
                json!([{"Entry": "/", "Target": "/bucket/groupA/bank1"}, {"Entry": "/", "Target": "/bucket/groupA/bank2"}]),
            )]),
            SecretProblem::NoSingleRootEntry,
        ),
        (
            with(&[(
                "HomeDirectoryDetails",
                details("/bucket/groupA/../groupB/x"),
            )]),
            SecretProblem::UnsafeTarget,
        ),
        (
            with(&[("HomeDirectoryDetails", details("bucket/groupA/bank1"))]),
            SecretProblem::UnsafeTarget,
        ),
        (
            with(&[("HomeDirectoryDetails", details("/bucket/groupA/*"))]),
            SecretProblem::UnsafeTarget,
        ),
        (
            with(&[("HomeDirectoryDetails", details("/bucket/groupA/ban?1"))]),
            SecretProblem::UnsafeTarget,
        ),
        (
            with(&[("HomeDirectoryDetails", details("/bucket/${aws:username}/x"))]),
            SecretProblem::UnsafeTarget,
        ),
        (
            with(&[("HomeDirectoryDetails", details("/bucket/groupA"))]),
            SecretProblem::HomeFolderTooBroad(Role::User),
        ),
        (
            with(&[("HomeDirectoryDetails", details("/bucket"))]),
            SecretProblem::HomeFolderTooBroad(Role::User),
        ),
    ];
    for (secret, problem) in cases {
        assert_eq!(
            decide_default(&key_login("bank1"), &secret).deny_reason(),
            Some(&DenyReason::MalformedSecret(problem.clone())),
            "{problem}"
        );
    }
}

#[test]
fn a_group_admin_may_have_its_group_folder_but_not_the_bucket() {
    let group = with(&[("HomeDirectoryDetails", details("/bucket/groupA"))]);
    assert_eq!(
        granted(decide_default(&key_login("groupA-admin"), &group)).role,
        Role::GroupAdmin
    );
    let bucket = with(&[("HomeDirectoryDetails", details("/bucket"))]);
    assert_eq!(
        decide_default(&key_login("groupA-admin"), &bucket).deny_reason(),
        Some(&DenyReason::MalformedSecret(
            SecretProblem::HomeFolderTooBroad(Role::GroupAdmin)
        ))
    );
    let grant = granted(decide_default(&key_login("SFTPSuperAdmin"), &bucket));
    assert_eq!(grant.role, Role::SuperAdmin);
}

#[test]
fn home_folders_outside_the_configured_buckets_are_denied() {
    let policy = LoginPolicy {
        buckets: vec!["landing".into()],
        ..LoginPolicy::default()
    };
    assert_eq!(
        decide_with(&key_login("bank1"), &clean_user(), &policy).deny_reason(),
        Some(&DenyReason::MalformedSecret(
            SecretProblem::BucketNotAllowed
        ))
    );
    let inside = with(&[("HomeDirectoryDetails", details("/landing/groupA/bank1"))]);
    granted(decide_with(&key_login("bank1"), &inside, &policy));
}

#[test]
fn the_role_must_be_a_role_arn_and_the_configured_one_when_set() {
    let cases = [
        (Value::Null, SecretProblem::RoleMissing),
        (json!(5), SecretProblem::WrongType(SecretKey::Role)),
        (json!("TransferS3AccessRole"), SecretProblem::RoleMalformed),
    ];
    for (value, problem) in cases {
        let secret = with(&[("Role", value)]);
        assert_eq!(
            decide_default(&key_login("bank1"), &secret).deny_reason(),
            Some(&DenyReason::MalformedSecret(problem))
        );
    }
    let pinned = LoginPolicy {
        rules: Rules {
            transfer_role_arn: Some("arn:aws:iam::123456789012:role/Other".into()),
            ..Rules::default()
        },
        ..LoginPolicy::default()
    };
    assert_eq!(
        decide_with(&key_login("bank1"), &clean_user(), &pinned).deny_reason(),
        Some(&DenyReason::MalformedSecret(SecretProblem::RoleNotAllowed))
    );
}

#[test]
fn secrets_that_are_not_json_objects_are_malformed() {
    for text in ["{not json", "[]", "\"SFTP\"", ""] {
        assert_eq!(
            denied(decide(
                &key_login("bank1"),
                Some(text),
                &LoginPolicy::default(),
                today()
            )),
            "malformed-secret",
            "{text}"
        );
    }
}

// ---- session policy -------------------------------------------------------------------------

fn statements(policy: &str) -> Vec<Value> {
    let policy: Value = serde_json::from_str(policy).unwrap();
    assert_eq!(policy["Version"], "2012-10-17");
    policy["Statement"].as_array().unwrap().clone()
}

#[test]
fn a_users_session_policy_covers_only_its_own_folder() {
    let grant = granted(decide_default(&key_login("bank1"), &clean_user()));
    let statements = statements(grant.response.policy.as_deref().unwrap());
    assert_eq!(statements[0]["Action"], "s3:ListBucket");
    assert_eq!(statements[0]["Resource"], "arn:aws:s3:::bucket");
    assert_eq!(
        statements[0]["Condition"]["StringLike"]["s3:prefix"],
        json!(["groupA/bank1/*"])
    );
    assert_eq!(
        statements[1]["Resource"],
        "arn:aws:s3:::bucket/groupA/bank1/*"
    );
    assert_eq!(statements.len(), 2);
}

#[test]
fn a_group_admins_session_policy_covers_its_group_folder() {
    let secret = with(&[("HomeDirectoryDetails", details("/bucket/groupA"))]);
    let grant = granted(decide_default(&key_login("groupA-admin"), &secret));
    let statements = statements(grant.response.policy.as_deref().unwrap());
    assert_eq!(
        statements[0]["Condition"]["StringLike"]["s3:prefix"],
        json!(["groupA/*"])
    );
    assert_eq!(statements[1]["Resource"], "arn:aws:s3:::bucket/groupA/*");
}

#[test]
fn a_super_admins_session_policy_covers_the_bucket() {
    let secret = with(&[("HomeDirectoryDetails", details("/bucket"))]);
    let grant = granted(decide_default(&key_login("SFTPSuperAdmin"), &secret));
    let statements = statements(grant.response.policy.as_deref().unwrap());
    assert!(statements[0].get("Condition").is_none());
    assert_eq!(statements[0]["Resource"], "arn:aws:s3:::bucket");
    assert_eq!(statements[1]["Resource"], "arn:aws:s3:::bucket/*");
}

#[test]
fn the_session_policy_uses_the_roles_partition_and_can_be_switched_off() {
    let policy = session_policy("/bucket/g/u", "arn:aws-cn:iam::123456789012:role/T", &[]).unwrap();
    assert!(policy.contains("arn:aws-cn:s3:::bucket/g/u/*"), "{policy}");
    let off = LoginPolicy {
        session_policy: false,
        ..LoginPolicy::default()
    };
    assert_eq!(
        granted(decide_with(&key_login("bank1"), &clean_user(), &off))
            .response
            .policy,
        None
    );
}

#[test]
fn a_folder_whose_policy_would_be_too_long_is_refused() {
    let deep = format!("/bucket/groupA/{}", "a".repeat(2000));
    assert_eq!(
        session_policy(&deep, ROLE_ARN, &[]),
        Err(SecretProblem::PolicyTooLong)
    );
}

// ---- response shape and secrecy ---------------------------------------------------------------

#[test]
fn a_denial_is_an_empty_object_and_a_grant_has_the_transfer_fields() {
    assert_eq!(serde_json::to_string(&IdpResponse::denied()).unwrap(), "{}");
    let grant = granted(decide_default(&key_login("bank1"), &clean_user()));
    let json: Value = serde_json::to_value(&grant.response).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "HomeDirectoryDetails",
            "HomeDirectoryType",
            "Policy",
            "PublicKeys",
            "Role"
        ]
    );
    assert!(json["HomeDirectoryDetails"].is_string());
    assert!(json["Policy"].is_string());
    assert!(json["PublicKeys"].is_array());
}

#[test]
fn no_debug_or_display_output_carries_a_password_hash_or_key_comment() {
    let hash = argon2id("s3cret-Pa55", 7 * 1024, 5);
    let secret = with(&[
        ("Password", json!("s3cret-Pa55")),
        ("PasswordHash", json!(hash.clone())),
    ]);
    let request = password_login("bank1", "s3cret-Pa55");
    let mut text = format!("{request:?}");
    for attempt in ["s3cret-Pa55", "wrong"] {
        let decision = decide_default(&password_login("bank1", attempt), &secret);
        text.push_str(&format!("{decision:?}"));
        if let Some(reason) = decision.deny_reason() {
            text.push_str(&reason.to_string());
        }
    }
    let keyed = decide_default(&key_login("bank1"), &clean_user());
    text.push_str(&format!("{keyed:?}"));
    for needle in ["s3cret-Pa55", &hash[30..], "bank1@host"] {
        assert!(!text.contains(needle), "{needle} leaked: {text}");
    }
}

// ---- the security review (issue 13) ---------------------------------------------------------

#[test]
fn an_ftps_login_without_a_password_is_denied_before_any_lookup_while_sftp_may_use_a_key() {
    let both = LoginPolicy {
        protocols: vec![Protocol::Sftp, Protocol::Ftps],
        ..LoginPolicy::default()
    };
    for password in [None, Some(Password::new(""))] {
        let ftps = LoginRequest {
            protocol: "FTPS".into(),
            password,
            ..key_login("bank1")
        };
        assert_eq!(screen(&ftps, &both), Err(DenyReason::NoPassword));
        assert_eq!(
            denied(decide_with(&ftps, &clean_user(), &both)),
            "no-password"
        );
    }
    granted(decide_with(&key_login("bank1"), &clean_user(), &both));
}

#[test]
fn every_password_login_costs_one_argon2_check_whether_the_user_exists_or_not() {
    use crate::password_hash::verifications;
    let hashed = with(&[("PasswordHash", json!(argon2id("s3cret-Pa55", 7 * 1024, 5)))]);
    let plain = with(&[("Password", json!("s3cret-Pa55"))]);
    let from_elsewhere = LoginRequest {
        source_ip: Some("198.51.100.1".into()),
        ..password_login("bank1", "guess")
    };
    let cases = [
        (
            "unknown-user",
            password_login("bank1", "guess"),
            None::<Map<String, Value>>,
        ),
        (
            "wrong-password",
            password_login("bank1", "guess"),
            Some(hashed.clone()),
        ),
        (
            "wrong-password",
            password_login("bank1", "guess"),
            Some(plain),
        ),
        (
            "no-password-configured",
            password_login("bank1", "guess"),
            Some(clean_user()),
        ),
        ("source-ip-not-allowed", from_elsewhere, Some(hashed)),
    ];
    for (reason, request, secret) in cases {
        let before = verifications();
        let text = secret.as_ref().map(secret_string);
        let decision = decide(&request, text.as_deref(), &LoginPolicy::default(), today());
        assert_eq!(denied(decision), reason);
        assert_eq!(
            verifications() - before,
            1,
            "{reason}: one check, no more, no less"
        );
    }
    // A key login checks no password at all.
    let before = verifications();
    granted(decide_default(&key_login("bank1"), &clean_user()));
    assert_eq!(verifications(), before);
}

#[test]
fn a_login_to_another_transfer_server_is_denied_before_any_lookup() {
    let pinned = LoginPolicy {
        servers: vec!["s-0123456789abcdef0".into()],
        ..LoginPolicy::default()
    };
    granted(decide_with(&key_login("bank1"), &clean_user(), &pinned));
    let other = LoginRequest {
        server_id: "s-fffffffffffffffff".into(),
        ..key_login("bank1")
    };
    assert_eq!(screen(&other, &pinned), Err(DenyReason::ServerNotAllowed));
    // Unset, any server is answered.
    assert_eq!(screen(&other, &LoginPolicy::default()), Ok(()));
}

#[test]
fn a_mapping_pointing_outside_the_home_folder_denies_the_login() {
    let escaping = json!([
        {"Entry": "/", "Target": "/bucket/groupA/bank1"},
        {"Entry": "/shared", "Target": "/bucket/groupA/bank2"}
    ]);
    let secret = with(&[("HomeDirectoryDetails", escaping)]);
    let decision = decide_default(&key_login("bank1"), &secret);
    assert_eq!(
        decision.deny_reason(),
        Some(&DenyReason::MalformedSecret(
            SecretProblem::TargetOutsideHome
        ))
    );
    let inside = json!([
        {"Entry": "/", "Target": "/bucket/groupA/bank1"},
        {"Entry": "/in", "Target": "/bucket/groupA/bank1/in"}
    ]);
    granted(decide_default(
        &key_login("bank1"),
        &with(&[("HomeDirectoryDetails", inside)]),
    ));
}

#[test]
fn the_session_policy_neither_changes_acls_nor_erases_versions_unless_configured() {
    let policy = session_policy("/bucket/groupA/bank1", ROLE_ARN, &[]).unwrap();
    assert!(!policy.contains("s3:PutObjectAcl"), "{policy}");
    assert!(!policy.contains("s3:DeleteObjectVersion"), "{policy}");
    assert!(policy.contains("\"s3:PutObject\""));
    let extra = vec!["s3:DeleteObjectVersion".to_owned()];
    let widened = session_policy("/bucket/groupA/bank1", ROLE_ARN, &extra).unwrap();
    assert!(widened.contains("s3:DeleteObjectVersion"));
    assert!(!widened.contains("s3:PutObjectAcl"));
}

#[test]
fn a_folder_whose_session_policy_would_be_too_long_is_denied_with_its_own_reason() {
    let deep = format!("/bucket/groupA/bank1/{}", "segment/".repeat(120));
    let secret = with(&[(
        "HomeDirectoryDetails",
        json!([{"Entry": "/", "Target": deep}]),
    )]);
    assert_eq!(
        denied(decide_default(&key_login("bank1"), &secret)),
        "policy-too-long"
    );
}
