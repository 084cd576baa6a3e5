use super::report::*;
use super::*;
use crate::notify::EmailKind;
use serde_json::json;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn users(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn info(id: &str, name: &str, family: AddressFamily, max_entries: usize) -> ListInfo {
    ListInfo {
        id: id.into(),
        name: name.into(),
        family,
        owner_id: "123456789012".into(),
        max_entries,
        version: Some(3),
        state: "modify-complete".into(),
        state_message: None,
    }
}

/// A managed IPv4 list holding `cidrs`, each described by `owner`.
fn list(id: &str, max_entries: usize, cidrs: &[(&str, &str)]) -> PrefixList {
    PrefixList {
        info: info(
            id,
            &format!("sftp-{id}-AUTOMATED_PREFIX"),
            AddressFamily::V4,
            max_entries,
        ),
        entries: cidrs
            .iter()
            .map(|(cidr, owner)| ListEntry {
                cidr: net(cidr),
                description: Some(owner.to_string()),
            })
            .collect(),
    }
}

fn desired(items: &[(&str, &[&str])]) -> Desired {
    let mut d = Desired::default();
    for (user, cidrs) in items {
        d.add(user, cidrs.iter().map(|c| net(c)));
    }
    d
}

fn plan(lists: &[PrefixList], desired: &Desired) -> Plan {
    plan_family(
        AddressFamily::V4,
        lists,
        desired,
        &[],
        &PlanSettings::default(),
    )
}

fn steps_of<'a>(plan: &'a Plan, id: &str) -> &'a [Step] {
    &plan.lists.iter().find(|l| l.id == id).unwrap().pending
}

fn added(step: &Step) -> Vec<String> {
    match step {
        Step::Add(entries) => entries.iter().map(|e| e.cidr.to_string()).collect(),
        Step::Remove(_) => panic!("expected an addition, got {step:?}"),
    }
}

fn removed(step: &Step) -> Vec<String> {
    match step {
        Step::Remove(cidrs) => cidrs.iter().map(ToString::to_string).collect(),
        Step::Add(_) => panic!("expected a removal, got {step:?}"),
    }
}

// ---- what is desired ------------------------------------------------------------------------

#[test]
fn desired_cidrs_come_from_every_users_ip_and_ipv6_normalised() {
    let mut d = Desired::default();
    let rules = Rules::default();
    assert!(d.add_secret(
        "bank1",
        r#"{"IP":"203.0.113.7/24, 3.3.3.3/32","IPv6":"2001:db8:a0::1/48"}"#,
        &rules
    ));
    assert!(d.add_secret("bank2", r#"{"IP":"3.3.3.3/32, junk, 0.0.0.0/0"}"#, &rules));
    assert!(!d.add_secret("broken", "{not json", &rules));

    let v4: Vec<(String, Vec<String>)> = d
        .of_family(AddressFamily::V4)
        .map(|(c, u)| (c.to_string(), u.iter().cloned().collect()))
        .collect();
    assert_eq!(
        v4,
        vec![
            (
                "3.3.3.3/32".to_owned(),
                vec!["bank1".to_owned(), "bank2".to_owned()]
            ),
            ("203.0.113.0/24".to_owned(), vec!["bank1".to_owned()]),
        ]
    );
    assert_eq!(d.count(AddressFamily::V6), 1);
}

#[test]
fn a_description_names_the_users_and_stays_within_255_characters() {
    assert_eq!(description(&users(&["bank2", "bank1"])), "bank1, bank2");
    let many: BTreeSet<String> = (0..100).map(|i| format!("partner-number-{i:03}")).collect();
    let text = description(&many);
    assert!(text.chars().count() <= MAX_DESCRIPTION_CHARS, "{text}");
    assert!(text.starts_with("partner-number-000, "));
    assert!(text.ends_with(" more"), "{text}");
    assert_eq!(
        description(&users(&["evil\nname"])),
        "evilname",
        "no line breaks in a description"
    );
}

// ---- which lists ----------------------------------------------------------------------------

#[test]
fn only_customer_managed_lists_of_the_family_with_the_marker_are_managed() {
    let marker = DEFAULT_MARKER;
    let v4 = info("pl-1", "sftp-AUTOMATED_PREFIX-a", AddressFamily::V4, 10);
    assert!(v4.is_managed(marker, AddressFamily::V4));
    assert!(!v4.is_managed(marker, AddressFamily::V6));
    assert!(
        !info("pl-2", "office-ips", AddressFamily::V4, 10).is_managed(marker, AddressFamily::V4)
    );
    let mut aws = v4.clone();
    aws.owner_id = "AWS".into();
    assert!(!aws.is_managed(marker, AddressFamily::V4));
    assert!(
        !v4.is_managed("", AddressFamily::V4),
        "an empty marker manages nothing"
    );
}

#[test]
fn list_states_decide_whether_a_list_can_be_written() {
    assert_eq!(Readiness::of("modify-complete"), Readiness::Ready);
    assert_eq!(Readiness::of("modify-failed"), Readiness::Ready);
    assert_eq!(Readiness::of("modify-in-progress"), Readiness::Busy);
    assert_eq!(Readiness::of("delete-in-progress"), Readiness::Unusable);
    assert_eq!(Readiness::of("something-new"), Readiness::Unusable);
}

#[test]
fn unmanaged_and_unsettled_lists_get_no_steps() {
    let mut office = list("pl-office", 10, &[("9.9.9.9/32", "office")]);
    office.info.name = "office-ips".into();
    let mut deleting = list("pl-del", 10, &[("8.8.8.8/32", "x")]);
    deleting.info.state = "delete-in-progress".into();
    let managed = list("pl-a", 10, &[]);
    let d = desired(&[("bank1", &["1.1.1.1/32"])]);

    let p = plan(&[office, deleting, managed], &d);

    assert_eq!(
        p.lists.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["pl-a"]
    );
    assert_eq!(added(&steps_of(&p, "pl-a")[0]), ["1.1.1.1/32"]);
}

// ---- removals and additions -----------------------------------------------------------------

#[test]
fn entries_nobody_asks_for_are_removed_and_new_ones_added() {
    let lists = [list(
        "pl-a",
        10,
        &[("1.1.1.1/32", "bank1"), ("2.2.2.2/32", "gone")],
    )];
    let d = desired(&[("bank1", &["1.1.1.1/32", "3.3.3.3/32"])]);

    let p = plan(&lists, &d);

    let steps = steps_of(&p, "pl-a");
    assert_eq!(steps.len(), 2);
    assert_eq!(removed(&steps[0]), ["2.2.2.2/32"]);
    assert_eq!(added(&steps[1]), ["3.3.3.3/32"]);
    let Step::Add(entries) = &steps[1] else {
        unreachable!()
    };
    assert_eq!(entries[0].description, "bank1");
    assert!(p.overflow.is_empty());
    assert_eq!(p.writes(), 2);
}

#[test]
fn lists_already_in_line_with_the_secrets_get_no_write() {
    let lists = [
        list(
            "pl-a",
            2,
            &[("1.1.1.1/32", "bank1"), ("2.2.2.2/32", "bank2")],
        ),
        list("pl-b", 5, &[("3.3.3.3/32", "bank1")]),
    ];
    let d = desired(&[
        ("bank1", &["1.1.1.1/32", "3.3.3.3/32"]),
        ("bank2", &["2.2.2.2/32"]),
    ]);

    let p = plan(&lists, &d);

    assert_eq!(p.writes(), 0);
    assert!(p.lists.iter().all(|l| l.pending.is_empty()));
    assert_eq!(p.lists.len(), 2, "every managed list is still reported");
}

#[test]
fn additions_fill_the_freest_list_first_and_the_rest_overflows() {
    let lists = [
        list("pl-a", 3, &[("1.1.1.1/32", "u")]),
        list("pl-b", 4, &[]),
    ];
    let d = desired(&[(
        "u",
        &[
            "1.1.1.1/32",
            "10.0.0.1/32",
            "10.0.0.2/32",
            "10.0.0.3/32",
            "10.0.0.4/32",
            "10.0.0.5/32",
            "10.0.0.6/32",
            "10.0.0.7/32",
        ],
    )]);

    let p = plan(&lists, &d);

    // pl-b has 4 free, pl-a 2: pl-b is filled first.
    assert_eq!(
        added(&steps_of(&p, "pl-b")[0]),
        ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.4/32"]
    );
    assert_eq!(
        added(&steps_of(&p, "pl-a")[0]),
        ["10.0.0.5/32", "10.0.0.6/32"]
    );
    assert_eq!(p.overflow.len(), 1);
    assert_eq!(p.overflow[0].cidr, net("10.0.0.7/32"));
    assert_eq!(p.overflow[0].users, ["u"]);
}

#[test]
fn removals_make_room_for_additions_in_the_same_list() {
    let lists = [list(
        "pl-a",
        2,
        &[("1.1.1.1/32", "old"), ("2.2.2.2/32", "old")],
    )];
    let d = desired(&[("new", &["3.3.3.3/32", "4.4.4.4/32"])]);
    let settings = PlanSettings {
        max_removal_share: 1.0,
        ..PlanSettings::default()
    };

    let p = plan_family(AddressFamily::V4, &lists, &d, &[], &settings);

    let steps = steps_of(&p, "pl-a");
    assert_eq!(removed(&steps[0]), ["1.1.1.1/32", "2.2.2.2/32"]);
    assert_eq!(added(&steps[1]), ["3.3.3.3/32", "4.4.4.4/32"]);
    assert!(p.overflow.is_empty());
}

#[test]
fn a_cidr_listed_in_two_lists_is_kept_in_the_first_only() {
    let lists = [
        list("pl-a", 5, &[("1.1.1.1/32", "u")]),
        list("pl-b", 5, &[("1.1.1.1/32", "u")]),
    ];
    let d = desired(&[("u", &["1.1.1.1/32"])]);

    let p = plan(&lists, &d);

    assert!(steps_of(&p, "pl-a").is_empty());
    assert_eq!(removed(&steps_of(&p, "pl-b")[0]), ["1.1.1.1/32"]);
}

#[test]
fn writes_carry_at_most_100_entries() {
    let lists = [list("pl-a", 1000, &[])];
    let cidrs: Vec<String> = (0..250)
        .map(|i| format!("10.0.{}.{}/32", i / 256, i % 256))
        .collect();
    let refs: Vec<&str> = cidrs.iter().map(String::as_str).collect();
    let d = desired(&[("u", &refs)]);

    let p = plan(&lists, &d);

    let sizes: Vec<usize> = steps_of(&p, "pl-a").iter().map(Step::len).collect();
    assert_eq!(sizes, [100, 100, 50]);
}

// ---- safety ---------------------------------------------------------------------------------

#[test]
fn nothing_is_removed_when_a_secret_could_not_be_read() {
    let lists = [list(
        "pl-a",
        5,
        &[("1.1.1.1/32", "locked"), ("2.2.2.2/32", "bank1")],
    )];
    let d = desired(&[("bank1", &["2.2.2.2/32", "3.3.3.3/32"])]);

    let p = plan_family(
        AddressFamily::V4,
        &lists,
        &d,
        &["locked (DecryptionFailure)".to_owned()],
        &PlanSettings::default(),
    );

    let steps = steps_of(&p, "pl-a");
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(added(&steps[0]), ["3.3.3.3/32"], "additions still happen");
    assert_eq!(
        p.removals_withheld,
        Some(Withheld::PartialRead {
            unreadable: 1,
            removals: 1
        })
    );
}

#[test]
fn a_run_removing_more_than_the_allowed_share_is_refused() {
    let lists = [list(
        "pl-a",
        10,
        &[
            ("1.1.1.1/32", "a"),
            ("2.2.2.2/32", "b"),
            ("3.3.3.3/32", "c"),
        ],
    )];
    let d = desired(&[("a", &["1.1.1.1/32", "4.4.4.4/32"])]);

    let p = plan(&lists, &d);

    assert_eq!(
        p.removals_withheld,
        Some(Withheld::TooManyRemovals {
            removals: 2,
            entries: 3,
            max_share: 0.5
        })
    );
    assert_eq!(
        p.writes(),
        0,
        "a refused run changes nothing, additions included"
    );
}

#[test]
fn removals_up_to_the_allowed_share_go_ahead() {
    let lists = [list(
        "pl-a",
        10,
        &[("1.1.1.1/32", "a"), ("2.2.2.2/32", "b")],
    )];
    let d = desired(&[("a", &["1.1.1.1/32"])]);

    let p = plan(&lists, &d);

    assert_eq!(p.removals_withheld, None);
    assert_eq!(removed(&steps_of(&p, "pl-a")[0]), ["2.2.2.2/32"]);
}

#[test]
fn an_empty_secret_store_never_empties_the_lists() {
    let lists = [list(
        "pl-a",
        10,
        &[("1.1.1.1/32", "a"), ("2.2.2.2/32", "b")],
    )];

    let p = plan(&lists, &Desired::default());

    assert_eq!(p.writes(), 0);
    assert!(matches!(
        p.removals_withheld,
        Some(Withheld::TooManyRemovals { removals: 2, .. })
    ));
}

#[test]
fn kept_entries_with_an_outdated_description_are_reported_not_rewritten() {
    let lists = [list("pl-a", 10, &[("1.1.1.1/32", "bank1")])];
    let d = desired(&[("bank1", &["1.1.1.1/32"]), ("bank2", &["1.1.1.1/32"])]);

    let p = plan(&lists, &d);

    assert_eq!(p.writes(), 0);
    assert_eq!(p.stale_descriptions, [net("1.1.1.1/32")]);
}

// ---- the write steps ------------------------------------------------------------------------

fn new(cidr: &str) -> NewEntry {
    NewEntry {
        cidr: net(cidr),
        description: "u".into(),
    }
}

#[test]
fn an_addition_batch_skips_entries_already_there_and_splits_what_has_no_room() {
    let present: BTreeSet<IpNet> = [net("1.1.1.1/32")].into();
    let batch = [new("1.1.1.1/32"), new("2.2.2.2/32"), new("3.3.3.3/32")];

    let fit = fit_additions(&batch, &present, 1);

    assert_eq!(fit.present, [net("1.1.1.1/32")]);
    assert_eq!(fit.add, [new("2.2.2.2/32")]);
    assert_eq!(fit.not_fitting, [new("3.3.3.3/32")]);
}

#[test]
fn recording_steps_keeps_the_version_and_count_the_next_write_needs() {
    let plan = ListPlan::new(
        &info("pl-a", "x-AUTOMATED_PREFIX", AddressFamily::V4, 3),
        2,
        vec![
            Step::Remove(vec![net("9.9.9.9/32")]),
            Step::Add(vec![new("1.1.1.1/32"), new("2.2.2.2/32")]),
        ],
    );
    let mut work = ListWork::of_plan(&plan);
    assert_eq!(work.free(), 1);
    assert_eq!((work.remove_steps, work.add_steps), (1, 1));
    assert_eq!(work.next, NextStep::Remove);

    work.removed_batch(&[net("9.9.9.9/32")], 4);
    assert_eq!((work.version, work.entries, work.done), (4, 1, 1));
    assert_eq!(work.next, NextStep::Add);

    work.added_batch(&[new("1.1.1.1/32")], 1, Some(5));
    assert_eq!((work.version, work.entries), (5, 2));
    assert_eq!(work.next, NextStep::Done);
    assert_eq!(work.steps_not_done(), 0);
    assert_eq!((work.added, work.not_added, work.removed), (1, 1, 1));
    assert_eq!(work.first_added, [net("1.1.1.1/32")]);
}

#[test]
fn the_state_of_a_list_names_only_its_first_few_cidrs() {
    let batch: Vec<NewEntry> = (0..100).map(|i| new(&format!("10.0.0.{i}/32"))).collect();
    let plan = ListPlan::new(
        &info("pl-a", "x-AUTOMATED_PREFIX", AddressFamily::V4, 1000),
        0,
        vec![Step::Add(batch.clone()), Step::Add(batch.clone())],
    );
    let mut work = ListWork::of_plan(&plan);

    work.added_batch(&batch, 0, Some(2));
    work.added_batch(&batch, 0, Some(3));

    assert_eq!(work.added, 200);
    assert_eq!(work.first_added.len(), FIRST_SHOWN);
    let size = serde_json::to_vec(&work).unwrap().len();
    assert!(size < 600, "{size} bytes for a list that took 200 entries");
}

#[test]
fn a_list_state_reads_as_the_state_machine_expects() {
    let plan = ListPlan::new(
        &info("pl-a", "x-AUTOMATED_PREFIX", AddressFamily::V4, 3),
        0,
        vec![Step::Add(vec![new("1.1.1.1/32")])],
    );
    let value = serde_json::to_value(ListWork::of_plan(&plan)).unwrap();
    assert_eq!(
        value,
        json!({"id": "pl-a", "name": "x-AUTOMATED_PREFIX", "maxEntries": 3, "version": 3,
               "entries": 0, "removeSteps": 0, "addSteps": 1, "done": 0, "next": "add",
               "added": 0, "removed": 0, "notAdded": 0, "reads": 0, "writes": 0})
    );
}

#[test]
fn step_files_live_under_the_run_by_family_list_and_number() {
    let run = crate::work::Run {
        state_machine: "prefix-list-sync".into(),
        execution: "weekly".into(),
    };
    assert_eq!(
        files::step(&run, AddressFamily::V6, "pl-0abc", 3),
        "runs/prefix-list-sync/weekly/steps/IPv6/pl-0abc/000003.json"
    );
    assert_eq!(
        files::outcome(&run, AddressFamily::V4, "pl-../x", 0),
        "runs/prefix-list-sync/weekly/done/IPv4/pl-.._x/000000.json"
    );
    assert_eq!(
        files::desired(&run, AddressFamily::V4),
        "runs/prefix-list-sync/weekly/desired-IPv4.json"
    );
}

#[test]
fn the_desired_cidrs_survive_the_trip_through_the_work_bucket() {
    let d = desired(&[
        ("bank1", &["1.1.1.1/32", "2001:db8::/48"]),
        ("bank2", &["1.1.1.1/32"]),
    ]);

    let v4 = d.entries(AddressFamily::V4);
    let back = Desired::from_entries(&v4);

    assert_eq!(v4.len(), 1);
    assert_eq!(v4[0].users, ["bank1", "bank2"]);
    assert_eq!(back.count(AddressFamily::V4), 1);
    assert_eq!(back.count(AddressFamily::V6), 0);
    assert_eq!(
        back.users_of(&net("1.1.1.1/32")),
        d.users_of(&net("1.1.1.1/32"))
    );
}

#[test]
fn steps_serialise_as_the_state_machine_reads_them() {
    let step = Step::Remove(vec![net("1.1.1.1/32")]);
    assert_eq!(
        serde_json::to_value(&step).unwrap(),
        json!({"remove": ["1.1.1.1/32"]})
    );
    let add = Step::Add(vec![new("2.2.2.2/32")]);
    assert_eq!(
        serde_json::to_value(&add).unwrap(),
        json!({"add": [{"cidr": "2.2.2.2/32", "description": "u"}]})
    );
}

// ---- the report -----------------------------------------------------------------------------

const FULL: &str = "s3://work/runs/prefix-list-sync/x/summary.json";

fn full() -> crate::work::WorkFile {
    crate::work::WorkFile {
        bucket: "work".into(),
        key: "runs/prefix-list-sync/x/summary.json".into(),
    }
}

fn users_read() -> UsersRead {
    UsersRead {
        super_admins: vec!["root@ops.example.com".into()],
        ..UsersRead::default()
    }
}

/// A family's run as the state leaves it, with the plan record the summary reads beside it.
fn input_with(p: &Plan) -> SummaryInput {
    SummaryInput {
        users: Some(users_read()),
        families: vec![
            FamilyRun::planned(AddressFamily::V4, p, 0),
            FamilyRun::new(AddressFamily::V6),
        ],
        plans: vec![PlanRecord::of(AddressFamily::V4, p)],
        ..SummaryInput::default()
    }
}

fn report_of(input: &SummaryInput) -> SyncReport {
    let summary = summarise(input);
    report(&summary, &full(), &users_read().super_admins)
}

#[test]
fn a_run_in_sync_sends_no_email_and_lists_what_changed_per_list() {
    let lists = [list("pl-a", 10, &[])];
    let d = desired(&[("bank1", &["1.1.1.1/32"])]);
    let p = plan(&lists, &d);
    let mut input = input_with(&p);
    let work = &mut input.families[0].lists[0];
    let Some(Step::Add(batch)) = p.lists[0].pending.first().cloned() else {
        unreachable!()
    };
    work.writes += 1;
    work.added_batch(&batch, 0, Some(4));
    input.outcomes.push(StepOutcome {
        family: AddressFamily::V4,
        list: "pl-a".into(),
        step: 0,
        removed: vec![],
        added: batch.iter().map(|e| e.cidr).collect(),
        not_added: vec![],
        version: Some(4),
    });

    let summary = summarise(&input);
    let report = report(&summary, &full(), &users_read().super_admins);

    assert!(summary.in_sync, "{:?}", summary.problems);
    assert!(report.emails.is_empty());
    assert_eq!(summary.lists[0].added, [net("1.1.1.1/32")]);
    assert_eq!(summary.ec2_calls.writes, 1);
    assert_eq!(report.summary.lists[0].added, 1);
    assert_eq!(report.summary.lists[0].first_added, [net("1.1.1.1/32")]);
    assert_eq!(report.summary.full_summary, FULL);
}

#[test]
fn overflow_is_a_problem_the_super_admins_are_told_about() {
    let lists = [list("pl-a", 1, &[("1.1.1.1/32", "a")])];
    let d = desired(&[("a", &["1.1.1.1/32"]), ("bank2", &["5.5.5.5/32"])]);

    let input = input_with(&plan(&lists, &d));
    let summary = summarise(&input);
    let report = report_of(&input);

    assert!(!summary.in_sync);
    assert_eq!(summary.overflow[0].cidr, net("5.5.5.5/32"));
    assert_eq!(report.summary.overflow, 1);
    assert_eq!(report.emails.len(), 1);
    let email = &report.emails[0];
    assert_eq!(email.kind, EmailKind::PrefixLists);
    assert_eq!(email.to, ["root@ops.example.com"]);
    assert!(email.body.contains("5.5.5.5/32 (bank2)"), "{}", email.body);
    assert!(
        email.body.contains(FULL),
        "the email points to the full summary"
    );
    assert!(email.subject.contains("1 problem"));
}

#[test]
fn a_refused_run_tells_the_super_admins_how_to_go_ahead() {
    let lists = [list(
        "pl-a",
        10,
        &[("1.1.1.1/32", "a"), ("2.2.2.2/32", "b")],
    )];

    let report = report_of(&input_with(&plan(&lists, &Desired::default())));

    let body = &report.emails[0].body;
    assert!(body.contains("would remove 2 of 2 entries"), "{body}");
    assert!(body.contains("maxRemovalShare"), "{body}");
}

#[test]
fn a_failed_list_and_a_failed_plan_are_problems_with_their_causes() {
    let lists = [list("pl-a", 10, &[])];
    let d = desired(&[("bank1", &["1.1.1.1/32"])]);
    let mut input = input_with(&plan(&lists, &d));
    input.families[0].lists[0].failure = Some(StepFailure {
        error: "PrefixListBusy".into(),
        cause: json!({"errorType": "PrefixListBusy", "errorMessage": "pl-a is modify-in-progress"})
            .to_string(),
    });
    input.families[1].failure = Some(StepFailure {
        error: "Ec2Unavailable".into(),
        cause: "boom\nBcc: x@evil.test".into(),
    });

    let summary = summarise(&input);

    let problems = &summary.problems;
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("1 step not done"), "{}", problems[0]);
    assert!(problems[0].contains("pl-a is modify-in-progress"));
    assert!(problems[1].starts_with("the IPv6 lists were not synced"));
    assert!(!problems[1].contains('\n'), "causes are kept on one line");
    assert_eq!(summary.lists[0].steps_not_done, 1);
}

#[test]
fn secrets_that_could_not_be_read_at_all_leave_both_families_unsynced() {
    let input = SummaryInput {
        failure: Some(StepFailure {
            error: "SecretsAccessDenied".into(),
            cause: "not allowed".into(),
        }),
        ..SummaryInput::default()
    };

    let summary = summarise(&input);

    assert!(!summary.in_sync);
    assert!(summary.problems[0].starts_with("the IPv4 and IPv6 lists were not synced"));
    assert!(summary.problems[0].contains("not allowed"));
}

#[test]
fn unreadable_secrets_are_named_once_for_both_families() {
    let input = SummaryInput {
        users: Some(UsersRead {
            unreadable: (0..70)
                .map(|i| format!("user{i:02} (DecryptionFailure)"))
                .collect(),
            ..users_read()
        }),
        families: vec![
            FamilyRun::new(AddressFamily::V4),
            FamilyRun::new(AddressFamily::V6),
        ],
        ..SummaryInput::default()
    };

    let summary = summarise(&input);

    assert_eq!(summary.problems.len(), 1, "{:?}", summary.problems);
    assert!(summary.problems[0].contains("the secrets of 70 users could not be read"));
    assert!(summary.problems[0].contains("user49 (DecryptionFailure) and 20 more"));
}

#[test]
fn an_ignored_change_is_in_sync_with_a_note() {
    let input = SummaryInput {
        ignored: Some(StepFailure {
            error: "NotAnSftpUser".into(),
            cause: "prod/db is not an SFTP user secret; nothing to check".into(),
        }),
        ..SummaryInput::default()
    };

    let summary = summarise(&input);

    assert!(summary.in_sync);
    assert!(summary.notes[0].contains("not an SFTP user"));
    assert_eq!(summary.ec2_calls, Calls::default());
}

#[test]
fn problems_nobody_can_be_told_about_say_so() {
    let lists = [list("pl-a", 0, &[])];
    let d = desired(&[("a", &["1.1.1.1/32"])]);
    let mut input = input_with(&plan(&lists, &d));
    input.users = Some(UsersRead::default());

    let summary = summarise(&input);
    let report = report(&summary, &full(), &[]);

    assert!(report.emails.is_empty());
    assert!(
        summary
            .problems
            .last()
            .unwrap()
            .contains("nobody could be told")
    );
}

#[test]
fn a_family_run_reads_the_state_machines_catch_output() {
    let run: FamilyRun = serde_json::from_value(json!({
        "family": "IPv6",
        "failure": {"Error": "Ec2Unavailable", "Cause": "x"}
    }))
    .unwrap();
    assert_eq!(run.family, AddressFamily::V6);
    assert_eq!(run.failure.unwrap().error, "Ec2Unavailable");
    assert!(run.lists.is_empty());
}

/// The worst a run can produce: 100 lists (the Region quota) with 255-character names, each
/// with thousands of changes, 10,000 overflowing CIDRs with long usernames, every list failed.
#[test]
fn the_bounded_summary_of_the_largest_run_fits_a_fail_cause_and_so_does_its_email() {
    let long = "n".repeat(255);
    let cidrs: Vec<IpNet> = (0..2_000u32)
        .map(|i| {
            IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::from(
                0x2001_0db8_u128 << 96 | u128::from(i),
            )))
        })
        .collect();
    let summary = SyncSummary {
        trigger: Some(crate::trigger::Trigger::SecretChange),
        event: Some("e".repeat(10_000)),
        in_sync: false,
        lists: (0..100)
            .map(|i| ListOutcome {
                family: AddressFamily::V6,
                id: format!("pl-{i:017x}"),
                name: long.clone(),
                entries: 1000,
                max_entries: 1000,
                added: cidrs.clone(),
                removed: cidrs.clone(),
                not_added: cidrs.clone(),
                steps_not_done: 10,
                error: Some("x".repeat(1_000)),
            })
            .collect(),
        overflow: (0..10_000u32)
            .map(|i| OverflowOutcome {
                family: AddressFamily::V4,
                cidr: IpNet::from(std::net::IpAddr::from(std::net::Ipv4Addr::from(i))),
                users: vec!["u".repeat(100); 50],
            })
            .collect(),
        ec2_calls: Calls::default(),
        secret_reads: 2_500,
        users_read: 50_000,
        problems: vec!["p".repeat(5_000); 300],
        notes: vec!["n".repeat(5_000); 300],
    };
    let admins: Vec<String> = (0..1_000)
        .map(|i| format!("admin{i}@example.com"))
        .collect();

    let report = report(&summary, &full(), &admins);

    let size = report.summary.size();
    assert!(size <= MAX_BOUNDED_BYTES, "{size} bytes");
    assert!(!report.summary.lists.is_empty(), "some lists still named");
    assert_eq!(report.summary.lists_total, 100);
    assert_eq!(report.summary.overflow, 10_000);
    assert_eq!(report.summary.problems_total, 300);
    assert!(report.emails.len() <= 4);
    let state = serde_json::to_vec(&report).unwrap().len();
    assert!(
        state < 128 * 1024,
        "{state} bytes of state after the summary"
    );
}
