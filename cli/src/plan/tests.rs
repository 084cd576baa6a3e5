use super::*;
use crate::sheet::read_sheet;

const ROLE: &str = "arn:aws:iam::123456789012:role/TransferS3AccessRole";
const SUPER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBavFQ1ilVVOxngvsqMDjrKpjEp+d/MX0JOMmATZJBg1";
const ADMIN_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMf3V1s5jbfIahqbvOQkzwMc7Egr90ZrDEzy/LmQV52w";
const ANZ_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrNFj+F4sTnV1Wpo78f0X3efGm/XBJVNteI6mqNYqz1";
const NAB_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOJSODi2MsdqdkZqrXwEdtGw/SxiFijoKNsJa2Cmpdwx";
const HASH: &str =
    "$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0$Cgzdh0MyXskKQfHYReiHY0J7b1s5tvwQ4JC17cSgvjg";
const HEADER: &str = "Sno,Username,SourceSystemName,Email,DestinationDirectory,GroupAdmin,IP,IPv6,SSHKey 1,SSHKey 2,SSHKey 3,SSHKey 4";

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
}

fn rules() -> Rules {
    Rules {
        transfer_role_arn: Some(ROLE.into()),
        ..Rules::default()
    }
}

fn context() -> BuildContext<'static> {
    BuildContext {
        role_arn: ROLE,
        today: today(),
    }
}

fn super_admin_row() -> String {
    format!(
        "1,SFTPSuperAdmin,SFTP Super Admin,sftp-superadmin@example.com,/sftp-landing,SFTPSuperAdmin,192.0.2.10/32,,{SUPER_KEY},,,"
    )
}

fn payments_admin_row(email: &str) -> String {
    format!(
        "2,PaymentsAdmin,Payments Group Admin,{email},/sftp-landing/payments,SFTPSuperAdmin,192.0.2.20/32,,{ADMIN_KEY},,,"
    )
}

fn anz_row(sno: u32) -> String {
    format!(
        "{sno},anz-bank,ANZ Bank,h2h@anz.example.com,/sftp-landing/payments/anz-bank,PaymentsAdmin,203.0.113.10/32,2001:db8:a0::/48,{ANZ_KEY} anz-bank@partner,,,"
    )
}

fn sheet(rows: &[String]) -> Sheet {
    let text = format!("{HEADER}\n{}\n", rows.join("\n"));
    read_sheet(text.as_bytes()).unwrap()
}

fn assess_new(rows: &[String]) -> Assessment {
    assess(&sheet(rows), &BTreeMap::new(), &rules(), &context())
}

/// What Secrets Manager would hold after applying an assessment.
fn written(assessment: &Assessment) -> BTreeMap<String, ExistingUser> {
    assessment
        .accepted
        .iter()
        .map(|a| {
            let tags = a
                .tag_changes
                .iter()
                .map(|t| (t.key.clone(), t.to.clone()))
                .collect();
            let user = ExistingUser {
                tags,
                secret: Some(a.secret.clone()),
                read_error: None,
            };
            (a.username.clone(), user)
        })
        .collect()
}

fn all_folders_exist(assessment: &Assessment) -> BTreeMap<LandingFolder, FolderState> {
    assessment
        .accepted
        .iter()
        .filter_map(|a| a.folder.clone())
        .map(|f| (f, FolderState::Exists))
        .collect()
}

fn all_folders_missing(assessment: &Assessment) -> BTreeMap<LandingFolder, FolderState> {
    assessment
        .accepted
        .iter()
        .filter_map(|a| a.folder.clone())
        .map(|f| {
            let state = if f.key.is_some() {
                FolderState::Missing
            } else {
                FolderState::Exists
            };
            (f, state)
        })
        .collect()
}

fn rejected_rows(assessment: &Assessment) -> Vec<u64> {
    assessment.rejected.iter().map(|r| r.row).collect()
}

#[test]
fn a_new_hierarchy_is_created_with_tags_and_landing_folders() {
    let assessment = assess_new(&[
        super_admin_row(),
        payments_admin_row("payments-sftp@example.com"),
        anz_row(3),
    ]);
    assert_eq!(assessment.rejected, []);
    let folders = all_folders_missing(&assessment);
    let plan = finalise(assessment, &folders);

    assert_eq!(plan.count(Action::Create), 3);
    let anz = &plan.users[2].user;
    assert_eq!(anz.username, "anz-bank");
    assert_eq!(
        anz.folder,
        Some(LandingFolder {
            bucket: "sftp-landing".into(),
            key: Some("payments/anz-bank/".into())
        })
    );
    assert!(plan.users[2].create_folder);
    assert_eq!(
        anz.tag_changes,
        [
            TagChange {
                key: "Name".into(),
                from: None,
                to: "ANZ Bank".into()
            },
            TagChange {
                key: "MigrationStatus".into(),
                from: None,
                to: "yet-to-commence".into()
            },
        ]
    );
    assert_eq!(
        anz.keys_added,
        ["SHA256:MrV/dfh73Wk0GFCYznAN3oJIj4efZgygUFG+5cpeoGs"]
    );
    // The SuperAdmin's target is the bucket root: no folder object to make.
    assert_eq!(plan.users[0].user.folder.as_ref().unwrap().key, None);
    assert!(!plan.users[0].create_folder);
}

#[test]
fn importing_the_same_sheet_again_changes_nothing() {
    let rows = [
        super_admin_row(),
        payments_admin_row("payments-sftp@example.com"),
        anz_row(3),
    ];
    let first = assess_new(&rows);
    let existing = written(&first);
    let folders = all_folders_exist(&first);

    // A later day: undated keys keep the date they were given.
    let later = BuildContext {
        role_arn: ROLE,
        today: NaiveDate::from_ymd_opt(2027, 2, 1).unwrap(),
    };
    let second = assess(&sheet(&rows), &existing, &rules(), &later);
    let plan = finalise(second, &folders);

    assert_eq!(plan.rejected, []);
    assert_eq!(plan.count(Action::Unchanged), 3, "{:?}", plan.users);
}

#[test]
fn a_missing_folder_alone_makes_an_update() {
    let rows = [
        super_admin_row(),
        payments_admin_row("payments-sftp@example.com"),
    ];
    let first = assess_new(&rows);
    let existing = written(&first);
    let plan = finalise(
        assess(&sheet(&rows), &existing, &rules(), &context()),
        &BTreeMap::new(),
    );
    assert_eq!(plan.users[1].action, Action::Update);
    assert!(plan.users[1].create_folder);
    assert!(!plan.users[1].user.secret_changes());
    assert_eq!(plan.users[0].action, Action::Unchanged);
}

#[test]
fn a_changed_cell_updates_only_that_key_and_keeps_the_password_hash() {
    let rows = [
        super_admin_row(),
        payments_admin_row("payments-sftp@example.com"),
        anz_row(3),
    ];
    let mut existing = written(&assess_new(&rows));
    let anz = existing.get_mut("anz-bank").unwrap();
    let mut fields = SecretFields::parse(anz.secret.as_ref().unwrap().expose()).unwrap();
    fields.0.insert(
        "PasswordHash".into(),
        serde_json::Value::String(HASH.into()),
    );
    anz.secret = Some(SecretText::new(fields.to_secret_string()));

    let changed = anz_row(3).replace(
        "h2h@anz.example.com",
        "\"h2h@anz.example.com,ops@anz.example.com\"",
    );
    let assessment = assess(
        &sheet(&[
            super_admin_row(),
            payments_admin_row("payments-sftp@example.com"),
            changed,
        ]),
        &existing,
        &rules(),
        &context(),
    );
    let folders = all_folders_exist(&assessment);
    let plan = finalise(assessment, &folders);

    assert_eq!(plan.rejected, []);
    let anz = &plan.users[2];
    assert_eq!(anz.action, Action::Update);
    assert_eq!(anz.user.changed_keys, ["Email"]);
    assert!(anz.user.tag_changes.is_empty());
    assert!(anz.user.secret.expose().contains(HASH));
}

#[test]
fn replacing_a_key_names_both_fingerprints() {
    let rows = [
        super_admin_row(),
        payments_admin_row("payments-sftp@example.com"),
        anz_row(3),
    ];
    let existing = written(&assess_new(&rows));
    let rotated = anz_row(3).replace(&format!("{ANZ_KEY} anz-bank@partner"), NAB_KEY);
    let assessment = assess(
        &sheet(&[
            super_admin_row(),
            payments_admin_row("payments-sftp@example.com"),
            rotated,
        ]),
        &existing,
        &rules(),
        &context(),
    );
    let anz = &assessment.accepted[2];
    assert_eq!(anz.changed_keys, ["PublicKey"]);
    assert_eq!(
        anz.keys_added,
        ["SHA256:XX7mkTf/7FDXexRMpq/mIr8Yflbflb9/HSQ4Rt903hY"]
    );
    assert_eq!(
        anz.keys_removed,
        ["SHA256:MrV/dfh73Wk0GFCYznAN3oJIj4efZgygUFG+5cpeoGs"]
    );
}

#[test]
fn a_user_of_a_live_admin_is_accepted_without_the_admin_in_the_sheet() {
    let admins = written(&assess_new(&[
        super_admin_row(),
        payments_admin_row("payments-sftp@example.com"),
    ]));
    let assessment = assess(&sheet(&[anz_row(1)]), &admins, &rules(), &context());
    assert_eq!(assessment.rejected, []);
    assert!(!assessment.accepted[0].existed);
}

#[test]
fn a_user_of_an_unknown_admin_is_rejected_by_rule_2() {
    let assessment = assess_new(&[super_admin_row(), anz_row(2)]);
    assert_eq!(rejected_rows(&assessment), [3]);
    let reasons = &assessment.rejected[0].reasons;
    assert!(
        reasons[0].starts_with(
            "rule 2 (group admin): GroupAdmin \"PaymentsAdmin\" is not an existing admin"
        ),
        "{reasons:?}"
    );
    assert!(reasons[0].contains("Fix: "));
}

#[test]
fn a_rejected_admin_row_takes_its_users_with_it_and_they_say_why() {
    let assessment = assess_new(&[
        super_admin_row(),
        payments_admin_row("payments-team"),
        anz_row(3),
    ]);
    assert_eq!(rejected_rows(&assessment), [3, 4]);
    assert!(assessment.rejected[0].reasons[0].starts_with("rule 4 (email format)"));
    let user = &assessment.rejected[1].reasons;
    assert!(
        user.iter().any(|r| r.starts_with("rule 2 (group admin)")),
        "{user:?}"
    );
    assert_eq!(
        user.last().unwrap(),
        "its GroupAdmin PaymentsAdmin (row 3) is rejected, so it is not written"
    );
    assert_eq!(assessment.accepted.len(), 1);
}

#[test]
fn a_rejected_admin_row_falls_back_to_the_live_admin() {
    let live = written(&assess_new(&[
        super_admin_row(),
        payments_admin_row("payments-sftp@example.com"),
    ]));
    let assessment = assess(
        &sheet(&[payments_admin_row("payments-team"), anz_row(3)]),
        &live,
        &rules(),
        &context(),
    );
    assert_eq!(rejected_rows(&assessment), [2]);
    assert_eq!(assessment.accepted[0].username, "anz-bank");
}

#[test]
fn every_kind_of_bad_row_is_rejected_with_its_row_number_and_the_rest_goes_ahead() {
    let good_admins = [
        super_admin_row(),
        payments_admin_row("payments-sftp@example.com"),
    ];
    let bad = [
        // 4: rule 3, semicolon between addresses
        anz_row(3).replace("h2h@anz.example.com", "a@anz.example.com;b@anz.example.com"),
        // 5: rule 5, folder outside the admin's
        anz_row(4).replace("anz-bank,", "bank-5,").replace(
            "/sftp-landing/payments/bank-5",
            "/sftp-landing/treasury/bank-5",
        ),
        // 6: rule 7, IPv6 in the IP column
        anz_row(5)
            .replace("anz-bank,", "bank-6,")
            .replace("203.0.113.10/32", "2001:db8::/32"),
        // 7: rule 8, damaged key
        anz_row(6)
            .replace("anz-bank,", "bank-7,")
            .replace(ANZ_KEY, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBrNFj"),
        // 8: sheet level, bad username
        anz_row(7).replace("anz-bank,", "-bank,"),
        // 9: sheet level, key cell that is no key
        anz_row(8)
            .replace("anz-bank,", "bank-9,")
            .replace(&format!("{ANZ_KEY} anz-bank@partner"), "hello"),
        // 10: migration status that is no status
        format!("{},done", anz_row(9).replace("anz-bank,", "bank-10,")),
        // 11 and 12: the same username twice
        anz_row(10)
            .replace("anz-bank,", "twin,")
            .replace("/anz-bank", "/twin"),
        anz_row(11)
            .replace("anz-bank,", "twin,")
            .replace("/anz-bank", "/twin"),
        // 13: good
        anz_row(12)
            .replace("anz-bank,", "bank-13,")
            .replace("/anz-bank", "/bank-13"),
    ];
    let mut rows: Vec<String> = good_admins.to_vec();
    rows.extend(bad);
    let text = format!(
        "{HEADER},MigrationStatus\n{}\n",
        rows.iter()
            .map(|r| if r.ends_with(",done") {
                r.clone()
            } else {
                format!("{r},")
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
    let sheet = read_sheet(text.as_bytes()).unwrap();
    let assessment = assess(&sheet, &BTreeMap::new(), &rules(), &context());

    assert_eq!(rejected_rows(&assessment), [4, 5, 6, 7, 8, 9, 10, 11, 12]);
    let reason = |row: u64| {
        assessment
            .rejected
            .iter()
            .find(|r| r.row == row)
            .unwrap()
            .reasons
            .join(" | ")
    };
    assert!(
        reason(4).starts_with("rule 3 (email delimiter)"),
        "{}",
        reason(4)
    );
    assert!(
        reason(5).contains("rule 5 (home directory)"),
        "{}",
        reason(5)
    );
    assert!(reason(6).starts_with("rule 7 (IP ranges)"), "{}", reason(6));
    assert!(
        reason(7).starts_with("rule 8 (public keys)"),
        "{}",
        reason(7)
    );
    assert!(
        reason(8).contains("is not a valid SFTP username"),
        "{}",
        reason(8)
    );
    assert!(
        reason(9).starts_with("SSHKey 1: is not an OpenSSH public key"),
        "{}",
        reason(9)
    );
    assert!(
        reason(10).starts_with("MigrationStatus \"done\" is not a status"),
        "{}",
        reason(10)
    );
    assert!(
        reason(11).contains("appears in rows 11, 12"),
        "{}",
        reason(11)
    );
    let accepted: Vec<&str> = assessment
        .accepted
        .iter()
        .map(|a| a.username.as_str())
        .collect();
    assert_eq!(accepted, ["SFTPSuperAdmin", "PaymentsAdmin", "bank-13"]);
    // No reason quotes key material.
    for rejection in &assessment.rejected {
        for r in &rejection.reasons {
            assert!(!r.contains("AAAAC3NzaC1lZDI1NTE5AAAAIBrNFj"), "{r}");
        }
    }
}

#[test]
fn migration_status_is_kept_unless_the_sheet_says_otherwise() {
    let rows = [super_admin_row()];
    let mut existing = written(&assess_new(&rows));
    existing
        .get_mut("SFTPSuperAdmin")
        .unwrap()
        .tags
        .insert("MigrationStatus".into(), "completed".into());
    let kept = assess(&sheet(&rows), &existing, &rules(), &context());
    assert!(kept.accepted[0].tag_changes.is_empty());

    let text = format!(
        "{HEADER},MigrationStatus\n{},Migration in progress\n",
        super_admin_row()
    );
    let moved = assess(
        &read_sheet(text.as_bytes()).unwrap(),
        &existing,
        &rules(),
        &context(),
    );
    assert_eq!(
        moved.accepted[0].tag_changes,
        [TagChange {
            key: "MigrationStatus".into(),
            from: Some("completed".into()),
            to: "in-progress".into()
        }]
    );
}

#[test]
fn an_unreadable_current_secret_rejects_the_row() {
    let existing = BTreeMap::from([(
        "SFTPSuperAdmin".to_owned(),
        ExistingUser {
            read_error: Some("DecryptionFailure".into()),
            ..ExistingUser::default()
        },
    )]);
    let assessment = assess(
        &sheet(&[super_admin_row()]),
        &existing,
        &rules(),
        &context(),
    );
    assert_eq!(rejected_rows(&assessment), [2]);
    assert!(assessment.rejected[0].reasons[0].contains("DecryptionFailure"));
}

#[test]
fn a_missing_bucket_rejects_the_rows_that_land_in_it() {
    let assessment = assess_new(&[super_admin_row()]);
    let folders = BTreeMap::from([(
        LandingFolder {
            bucket: "sftp-landing".into(),
            key: None,
        },
        FolderState::NoBucket,
    )]);
    let plan = finalise(assessment, &folders);
    assert!(plan.users.is_empty());
    assert!(plan.rejected[0].reasons[0].contains("bucket sftp-landing does not exist"));
}

#[test]
fn landing_folders_come_from_normalised_targets() {
    assert_eq!(
        LandingFolder::of_target("/b/a/x/").unwrap().to_string(),
        "s3://b/a/x/"
    );
    assert_eq!(LandingFolder::of_target("/b").unwrap().key, None);
    assert_eq!(LandingFolder::of_target("b/../c"), None);
}
