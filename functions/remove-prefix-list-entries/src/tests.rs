//! Against a fake EC2 that checks versions and keeps a list busy after each change (what moto
//! does not model); faults are injected into the writes. The steps are files of an in-memory
//! work bucket, as the plan writes them.

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

fn cidrs(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.{}.{}.0/24", i / 256, i % 256))
        .collect()
}

fn run() -> Run {
    Run {
        state_machine: "prefix-list-sync".into(),
        execution: "x".into(),
    }
}

/// The run's view of `pl-a` as the plan left it, its batches written as step files.
fn work(bucket: &FakeBucket, version: i64, entries: usize, batches: Vec<Vec<IpNet>>) -> ListWork {
    let info = ListInfo {
        id: "pl-a".into(),
        name: NAME.into(),
        family: AddressFamily::V4,
        owner_id: "123456789012".into(),
        max_entries: 1000,
        version: Some(version),
        state: "modify-complete".into(),
        state_message: None,
    };
    let steps: Vec<Step> = batches.into_iter().map(Step::Remove).collect();
    for (n, step) in steps.iter().enumerate() {
        bucket.put(&files::step(&run(), AddressFamily::V4, "pl-a", n), step);
    }
    ListWork::of_plan(&ListPlan::new(&info, entries, steps))
}

fn fake(cidrs: &[&str]) -> FakeEc2 {
    let fake = FakeEc2::new();
    fake.add_list("pl-a", NAME, AddressFamily::V4, 1000, cidrs);
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
/// errors its Retry names; anything else ends the list.
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
    while list.next == NextStep::Remove {
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

/// Every CIDR the step outcome files say was removed, in step order.
fn recorded_removed(bucket: &FakeBucket) -> Vec<IpNet> {
    bucket
        .keys()
        .iter()
        .filter(|k| k.contains("/done/"))
        .flat_map(|k| bucket.get::<StepOutcome>(k).unwrap().removed)
        .collect()
}

#[tokio::test]
async fn a_batch_is_removed_with_one_write_at_the_known_version() {
    let fake = fake(&["1.1.1.1/32", "2.2.2.2/32", "3.3.3.3/32"]);
    let ec2 = fake.client();
    let bucket = FakeBucket::new();

    let done = run_steps(
        &ec2,
        &bucket,
        work(
            &bucket,
            1,
            3,
            vec![vec![net("1.1.1.1/32"), net("3.3.3.3/32")]],
        ),
    )
    .await
    .unwrap();

    assert_eq!(fake.cidrs("pl-a"), [net("2.2.2.2/32")]);
    assert_eq!(
        recorded_removed(&bucket),
        [net("1.1.1.1/32"), net("3.3.3.3/32")]
    );
    assert_eq!(done.removed, 2);
    assert_eq!(done.first_removed, [net("1.1.1.1/32"), net("3.3.3.3/32")]);
    assert_eq!((done.version, done.entries), (2, 1));
    assert_eq!((done.reads, done.writes), (0, 1));
    assert_eq!(done.next, NextStep::Done);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn removals_in_three_batches_survive_a_busy_list_and_a_lost_answer() {
    let all = cidrs(250);
    let mut held: Vec<&str> = all.iter().map(String::as_str).collect();
    held.push("192.0.2.10/32");
    let fake = fake(&held);
    fake.busy_after_modify(1);
    let ec2 = fake.client();
    let bucket = FakeBucket::new();
    let batches: Vec<Vec<IpNet>> = all
        .chunks(100)
        .map(|c| c.iter().map(|s| net(s)).collect())
        .collect();
    fake.fault(Fault::LoseAnswer);

    let done = run_steps(&ec2, &bucket, work(&bucket, 1, 251, batches))
        .await
        .unwrap();

    assert_eq!(fake.cidrs("pl-a"), [net("192.0.2.10/32")]);
    assert_eq!(
        fake.accepted_writes(),
        3,
        "the write whose answer was lost is not repeated"
    );
    assert_eq!((done.done, done.next), (3, NextStep::Done));
    assert!(
        fake.versions("pl-a")
            .iter()
            .all(|v| v.contains(&net("192.0.2.10/32"))),
        "the entry that stays was never removed on the way"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn after_someone_elses_change_only_what_is_still_there_is_removed() {
    let fake = fake(&["1.1.1.1/32", "2.2.2.2/32"]);
    fake.fault(Fault::ConcurrentAdd("9.9.9.9/32"));
    let ec2 = fake.client();
    let bucket = FakeBucket::new();

    let done = run_steps(
        &ec2,
        &bucket,
        work(&bucket, 1, 2, vec![vec![net("1.1.1.1/32")]]),
    )
    .await
    .unwrap();

    assert_eq!(fake.cidrs("pl-a"), [net("2.2.2.2/32"), net("9.9.9.9/32")]);
    assert_eq!(fake.refused_writes(), ["PrefixListVersionMismatch"]);
    assert_eq!(recorded_removed(&bucket), [net("1.1.1.1/32")]);
    assert_eq!(done.version, 3);
}

#[tokio::test]
async fn an_entry_already_gone_is_not_removed_twice() {
    // The run knew version 1; the entry went with version 2.
    let fake = fake(&["1.1.1.1/32", "2.2.2.2/32"]);
    fake.fault(Fault::ConcurrentAdd("9.9.9.9/32"));
    let ec2 = fake.client();
    let bucket = FakeBucket::new();
    let planned = work(&bucket, 1, 2, vec![vec![net("1.1.1.1/32")]]);
    run_steps(&ec2, &bucket, planned.clone()).await.unwrap();
    let writes = fake.accepted_writes();

    // The same step again, as a retry whose first answer was lost would send it.
    let again = run_steps(&ec2, &bucket, planned).await.unwrap();

    assert_eq!(fake.accepted_writes(), writes, "no second write");
    assert_eq!(again.next, NextStep::Done);
    assert_eq!(again.removed, 0);
}

#[tokio::test]
async fn version_conflicts_that_persist_are_named_for_the_state_machine() {
    let fake = fake(&["1.1.1.1/32", "2.2.2.2/32"]);
    for cidr in [
        "9.9.9.1/32",
        "9.9.9.2/32",
        "9.9.9.3/32",
        "9.9.9.4/32",
        "9.9.9.5/32",
        "9.9.9.6/32",
        "9.9.9.7/32",
        "9.9.9.8/32",
        "9.9.9.9/32",
        "9.9.9.10/32",
        "9.9.9.11/32",
        "9.9.9.12/32",
    ] {
        fake.fault(Fault::ConcurrentAdd(cidr));
    }
    let ec2 = fake.client();
    let bucket = FakeBucket::new();

    let err = run_steps(
        &ec2,
        &bucket,
        work(&bucket, 1, 2, vec![vec![net("1.1.1.1/32")]]),
    )
    .await
    .unwrap_err();

    assert_eq!(err.error_type, "PrefixListVersionMismatch");
    assert!(fake.cidrs("pl-a").contains(&net("2.2.2.2/32")));
    assert_eq!(fake.accepted_writes(), 0);
    assert!(
        recorded_removed(&bucket).is_empty(),
        "no outcome for a step that did not happen"
    );
}

#[tokio::test]
async fn throttling_beyond_the_sdks_retries_is_named_then_converges() {
    let fake = fake(&["1.1.1.1/32"]);
    for _ in 0..3 {
        fake.fault(Fault::Error("RequestLimitExceeded"));
    }
    let ec2 = fake.client();
    let bucket = FakeBucket::new();
    let planned = work(&bucket, 1, 1, vec![vec![net("1.1.1.1/32")]]);

    let first = handler(&ec2, &bucket.store(), step(planned.clone()))
        .await
        .unwrap_err();
    assert_eq!(Diagnostic::from(first).error_type, "Ec2Throttled");

    let done = run_steps(&ec2, &bucket, planned).await.unwrap();
    assert!(fake.cidrs("pl-a").is_empty());
    assert_eq!(done.next, NextStep::Done);
}

#[tokio::test]
async fn a_step_that_is_not_a_removal_is_refused_without_a_write() {
    let fake = fake(&["1.1.1.1/32"]);
    let bucket = FakeBucket::new();
    let mut planned = work(&bucket, 1, 1, vec![vec![net("1.1.1.1/32")]]);
    planned.next = NextStep::Add;

    let err = handler(&fake.client(), &bucket.store(), step(planned))
        .await
        .unwrap_err();

    assert_eq!(Diagnostic::from(err).error_type, "UnsupportedInput");
    assert_eq!(fake.accepted_writes(), 0);
}

#[test]
fn every_error_it_reports_is_listed_for_it_in_the_registry() {
    use warden_core::Named;
    let listed = warden_core::registry::function("remove-prefix-list-entries").unwrap();
    let errors = [
        RemoveError::Busy("pl-a".into()),
        RemoveError::Unusable {
            id: "pl-a".into(),
            state: "delete-complete".into(),
        },
        RemoveError::NotARemoval("pl-a".into()),
        RemoveError::Ec2(Ec2Error::NotFound {
            list: "pl-a".into(),
        }),
        RemoveError::Work(WorkError::Missing { key: "x".into() }),
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
