//! Against a fake EC2 that checks versions and capacity and keeps a list busy after each change
//! (what moto does not model); faults are injected into the writes.

use super::*;
use lambda_runtime::Context;
use warden_aws::work::fake::FakeBucket;
use warden_core::prefix_lists::{AddressFamily, ListInfo, ListPlan};
use warden_core::work::Run;
use warden_ec2::fake::{FakeEc2, Fault};

const NAME: &str = "sftp-v4-AUTOMATED_PREFIX";

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn entry(cidr: &str) -> NewEntry {
    NewEntry {
        cidr: net(cidr),
        description: format!("user-{cidr}"),
    }
}

fn many(n: usize) -> Vec<NewEntry> {
    (0..n)
        .map(|i| entry(&format!("10.{}.{}.0/24", i / 256, i % 256)))
        .collect()
}

fn run() -> Run {
    Run {
        state_machine: "prefix-list-sync".into(),
        execution: "x".into(),
    }
}

/// The run's view of `pl-a` as the plan left it: `version`, `entries`, then these batches, each
/// a step file in the work bucket.
fn work(
    bucket: &FakeBucket,
    max_entries: usize,
    version: i64,
    entries: usize,
    batches: Vec<Vec<NewEntry>>,
) -> ListWork {
    let info = ListInfo {
        id: "pl-a".into(),
        name: NAME.into(),
        family: AddressFamily::V4,
        owner_id: "123456789012".into(),
        max_entries,
        version: Some(version),
        state: "modify-complete".into(),
        state_message: None,
    };
    let steps: Vec<Step> = batches.into_iter().map(Step::Add).collect();
    for (n, step) in steps.iter().enumerate() {
        bucket.put(&files::step(&run(), AddressFamily::V4, "pl-a", n), step);
    }
    ListWork::of_plan(&ListPlan::new(&info, entries, steps))
}

fn fake(max_entries: usize, cidrs: &[&str]) -> FakeEc2 {
    let fake = FakeEc2::new();
    fake.add_list("pl-a", NAME, AddressFamily::V4, max_entries, cidrs);
    fake
}

fn step(list: ListWork) -> LambdaEvent<StepRequest> {
    LambdaEvent::new(
        StepRequest {
            run: run(),
            family: AddressFamily::V4,
            list,
        },
        Context::default(),
    )
}

/// What the state machine does with the list: this step until none is left, retrying the
/// errors its Retry names (as often as it would); anything else ends the list.
async fn run_steps(
    ec2: &PrefixLists,
    bucket: &FakeBucket,
    mut list: ListWork,
) -> Result<ListWork, Diagnostic> {
    const RETRIED: [&str; 5] = [
        "PrefixListBusy",
        "PrefixListVersionMismatch",
        "Ec2Throttled",
        "Ec2Unavailable",
        "WorkStoreUnavailable",
    ];
    let work = bucket.store();
    while list.next == NextStep::Add {
        let mut attempts = 0;
        list = loop {
            match handler(ec2, &work, step(list.clone())).await {
                Ok(next) => break next,
                Err(e) => {
                    let diagnostic = Diagnostic::from(e);
                    attempts += 1;
                    if !RETRIED.contains(&diagnostic.error_type.as_str()) || attempts == 6 {
                        return Err(diagnostic);
                    }
                }
            }
        };
    }
    Ok(list)
}

/// The step outcome files, in step order.
fn outcomes(bucket: &FakeBucket) -> Vec<StepOutcome> {
    bucket
        .keys()
        .iter()
        .filter(|k| k.contains("/done/"))
        .map(|k| bucket.get::<StepOutcome>(k).unwrap())
        .collect()
}

/// Every CIDR the step outcome files say went in, in step order.
fn recorded_added(bucket: &FakeBucket) -> Vec<IpNet> {
    outcomes(bucket).into_iter().flat_map(|o| o.added).collect()
}

fn recorded_not_added(bucket: &FakeBucket) -> Vec<NewEntry> {
    outcomes(bucket)
        .into_iter()
        .flat_map(|o| o.not_added)
        .collect()
}

#[tokio::test]
async fn a_batch_goes_in_with_one_write_and_no_read() {
    let fake = fake(10, &[]);
    let ec2 = fake.client();
    let bucket = FakeBucket::new();

    let done = run_steps(
        &ec2,
        &bucket,
        work(
            &bucket,
            10,
            1,
            0,
            vec![vec![entry("203.0.113.10/32"), entry("2.2.2.2/32")]],
        ),
    )
    .await
    .unwrap();

    assert_eq!(
        fake.cidrs("pl-a"),
        [net("2.2.2.2/32"), net("203.0.113.10/32")]
    );
    assert_eq!(
        fake.description("pl-a", "203.0.113.10/32").as_deref(),
        Some("user-203.0.113.10/32")
    );
    assert_eq!((done.reads, done.writes), (0, 1));
    assert_eq!((done.version, done.entries), (2, 2));
    assert_eq!(done.added, 2);
    assert_eq!(
        recorded_added(&bucket).len(),
        2,
        "the outcome file names both"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn three_batches_wait_for_the_list_to_settle_between_writes() {
    let fake = fake(1000, &[]);
    fake.busy_after_modify(2);
    let ec2 = fake.client();
    let bucket = FakeBucket::new();
    let entries = many(250);
    let batches: Vec<Vec<NewEntry>> = entries.chunks(100).map(<[NewEntry]>::to_vec).collect();

    let done = run_steps(&ec2, &bucket, work(&bucket, 1000, 1, 0, batches))
        .await
        .unwrap();

    assert_eq!(fake.cidrs("pl-a").len(), 250);
    assert_eq!(fake.accepted_writes(), 3);
    assert!(fake.refused_writes().iter().all(|c| c == "IncorrectState"));
    assert_eq!(
        fake.refused_writes().len(),
        4,
        "two busy answers before each later write"
    );
    assert_eq!(done.added, 250);
    assert_eq!(recorded_added(&bucket).len(), 250);
    assert_eq!(outcomes(&bucket).len(), 3, "one outcome per step");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn someone_elses_change_is_read_and_the_batch_fitted_to_the_room_left() {
    let fake = fake(3, &["1.1.1.1/32"]);
    fake.fault(Fault::ConcurrentAdd("9.9.9.9/32"));
    let ec2 = fake.client();
    let bucket = FakeBucket::new();

    let done = run_steps(
        &ec2,
        &bucket,
        work(
            &bucket,
            3,
            1,
            1,
            vec![vec![entry("2.2.2.2/32"), entry("3.3.3.3/32")]],
        ),
    )
    .await
    .unwrap();

    assert_eq!(
        fake.cidrs("pl-a"),
        [net("1.1.1.1/32"), net("2.2.2.2/32"), net("9.9.9.9/32")]
    );
    assert_eq!(done.added, 1);
    assert_eq!(recorded_added(&bucket), [net("2.2.2.2/32")]);
    assert_eq!(done.not_added, 1);
    assert_eq!(
        recorded_not_added(&bucket),
        [entry("3.3.3.3/32")],
        "kept for the SuperAdmins, not lost"
    );
    assert_eq!(fake.refused_writes(), ["PrefixListVersionMismatch"]);
    assert_eq!(
        (done.reads, done.writes),
        (2, 2),
        "one re-read: describe + entries"
    );
}

#[tokio::test]
async fn a_capacity_error_from_ec2_is_read_again_and_what_does_not_fit_returned() {
    // The plan thought there were 10 places; the list was shrunk to 2 since.
    let fake = fake(2, &[]);
    let ec2 = fake.client();
    let bucket = FakeBucket::new();

    let done = run_steps(
        &ec2,
        &bucket,
        work(
            &bucket,
            10,
            1,
            0,
            vec![vec![
                entry("1.1.1.1/32"),
                entry("2.2.2.2/32"),
                entry("3.3.3.3/32"),
            ]],
        ),
    )
    .await
    .unwrap();

    assert_eq!(fake.cidrs("pl-a"), [net("1.1.1.1/32"), net("2.2.2.2/32")]);
    assert_eq!(fake.refused_writes(), ["PrefixListMaxEntriesExceeded"]);
    assert_eq!(recorded_not_added(&bucket), [entry("3.3.3.3/32")]);
    assert_eq!(done.not_added, 1);
    assert_eq!(done.max_entries, 2);
}

#[tokio::test]
async fn request_limit_exceeded_is_retried_until_the_batch_goes_in() {
    let fake = fake(10, &[]);
    for _ in 0..4 {
        fake.fault(Fault::Error("RequestLimitExceeded"));
    }
    let ec2 = fake.client();
    let bucket = FakeBucket::new();

    let done = run_steps(
        &ec2,
        &bucket,
        work(&bucket, 10, 1, 0, vec![vec![entry("1.1.1.1/32")]]),
    )
    .await
    .unwrap();

    assert_eq!(fake.cidrs("pl-a"), [net("1.1.1.1/32")]);
    // Four refusals, each retried by the state machine (the SDK's own retries are tested on
    // the adapter); the fifth attempt goes in.
    assert_eq!(fake.refused_writes().len(), 4);
    assert_eq!(fake.accepted_writes(), 1);
    assert_eq!(done.next, NextStep::Done);
}

#[tokio::test]
async fn a_failure_halfway_through_ends_converged_without_a_duplicate() {
    let fake = fake(1000, &["1.1.1.1/32"]);
    let ec2 = fake.client();
    let bucket = FakeBucket::new();
    let entries = many(250);
    let batches: Vec<Vec<NewEntry>> = entries.chunks(100).map(<[NewEntry]>::to_vec).collect();
    let first = work(&bucket, 1000, 1, 1, batches);
    let after_one = handler(&ec2, &bucket.store(), step(first)).await.unwrap();
    // The second write is applied, but its answer never arrives.
    fake.fault(Fault::LoseAnswer);

    let done = run_steps(&ec2, &bucket, after_one).await.unwrap();

    let cidrs = fake.cidrs("pl-a");
    assert_eq!(cidrs.len(), 251, "every entry once, the old one kept");
    assert_eq!(fake.accepted_writes(), 3, "the lost write is not repeated");
    assert_eq!((done.done, done.next), (3, NextStep::Done));
    assert!(
        fake.versions("pl-a")
            .iter()
            .all(|v| v.contains(&net("1.1.1.1/32"))),
        "no version ever lacked the entry that was there"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn a_list_deleted_during_the_run_is_a_named_error_the_state_machine_catches() {
    let fake = FakeEc2::new();
    let ec2 = fake.client();
    let bucket = FakeBucket::new();

    let err = run_steps(
        &ec2,
        &bucket,
        work(&bucket, 10, 1, 0, vec![vec![entry("1.1.1.1/32")]]),
    )
    .await
    .unwrap_err();

    assert_eq!(err.error_type, "PrefixListNotFound");
}

#[tokio::test]
async fn a_step_that_is_not_an_addition_is_refused() {
    let fake = fake(10, &[]);
    let bucket = FakeBucket::new();
    let mut w = work(&bucket, 10, 1, 0, vec![vec![entry("1.1.1.1/32")]]);
    // The state says "add", the file holds a removal.
    bucket.put(
        &files::step(&run(), AddressFamily::V4, "pl-a", 0),
        &Step::Remove(vec![net("1.1.1.1/32")]),
    );
    let err = handler(&fake.client(), &bucket.store(), step(w.clone()))
        .await
        .unwrap_err();
    assert_eq!(Diagnostic::from(err).error_type, "UnsupportedInput");

    // The state says "remove": not even read.
    w.next = NextStep::Remove;
    let err = handler(&fake.client(), &bucket.store(), step(w))
        .await
        .unwrap_err();
    assert_eq!(Diagnostic::from(err).error_type, "UnsupportedInput");
    assert_eq!(fake.accepted_writes(), 0);
}

#[tokio::test]
async fn a_missing_step_file_is_a_named_error_and_nothing_is_written() {
    let fake = fake(10, &[]);
    let bucket = FakeBucket::new();
    let w = work(&bucket, 10, 1, 0, vec![vec![entry("1.1.1.1/32")]]);
    bucket.remove(&files::step(&run(), AddressFamily::V4, "pl-a", 0));

    let err = handler(&fake.client(), &bucket.store(), step(w))
        .await
        .unwrap_err();

    assert_eq!(Diagnostic::from(err).error_type, "WorkFileInvalid");
    assert_eq!(fake.accepted_writes(), 0);
}

#[test]
fn every_error_it_reports_is_listed_for_it_in_the_registry() {
    use warden_core::Named;
    let listed = warden_core::registry::function("add-prefix-list-entries").unwrap();
    let errors = [
        AddError::Busy("pl-a".into()),
        AddError::Unusable {
            id: "pl-a".into(),
            state: "delete-complete".into(),
        },
        AddError::NotAnAddition("pl-a".into()),
        AddError::Ec2(Ec2Error::NotFound {
            list: "pl-a".into(),
        }),
        AddError::Work(WorkError::Missing { key: "x".into() }),
    ];
    for err in &errors {
        assert!(listed.reports(err.name()), "{}", err.name());
    }
    for name in warden_core::registry::EC2_ERRORS
        .iter()
        .chain(warden_core::registry::WORK_ERRORS)
    {
        assert!(listed.reports(*name), "{name}");
    }
}
