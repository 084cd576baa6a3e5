//! Against a fake EC2 that checks versions and capacity and keeps a list busy after each change
//! (what moto does not model); faults are injected into the writes.

use super::*;
use lambda_runtime::Context;
use warden_core::prefix_lists::{AddressFamily, ListInfo};
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

/// The run's view of `pl-a` as the plan left it: `version`, `entries`, then these batches.
fn work(max_entries: usize, version: i64, entries: usize, batches: Vec<Vec<NewEntry>>) -> ListWork {
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
    ListWork::new(&info, entries, batches.into_iter().map(Step::Add).collect())
}

fn fake(max_entries: usize, cidrs: &[&str]) -> FakeEc2 {
    let fake = FakeEc2::new();
    fake.add_list("pl-a", NAME, AddressFamily::V4, max_entries, cidrs);
    fake
}

/// What the state machine does with the list: this step until none is left, retrying the
/// errors its Retry names (as often as it would); anything else ends the list.
async fn run_steps(ec2: &PrefixLists, mut work: ListWork) -> Result<ListWork, Diagnostic> {
    const RETRIED: [&str; 4] = [
        "PrefixListBusy",
        "PrefixListVersionMismatch",
        "Ec2Throttled",
        "Ec2Unavailable",
    ];
    while !work.pending.is_empty() {
        let mut attempts = 0;
        work = loop {
            match handler(ec2, LambdaEvent::new(work.clone(), Context::default())).await {
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
    Ok(work)
}

#[tokio::test]
async fn a_batch_goes_in_with_one_write_and_no_read() {
    let fake = fake(10, &[]);
    let ec2 = fake.client();

    let done = run_steps(
        &ec2,
        work(
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
    assert_eq!(done.added.len(), 2);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn three_batches_wait_for_the_list_to_settle_between_writes() {
    let fake = fake(1000, &[]);
    fake.busy_after_modify(2);
    let ec2 = fake.client();
    let entries = many(250);
    let batches: Vec<Vec<NewEntry>> = entries.chunks(100).map(<[NewEntry]>::to_vec).collect();

    let done = run_steps(&ec2, work(1000, 1, 0, batches)).await.unwrap();

    assert_eq!(fake.cidrs("pl-a").len(), 250);
    assert_eq!(fake.accepted_writes(), 3);
    assert!(fake.refused_writes().iter().all(|c| c == "IncorrectState"));
    assert_eq!(
        fake.refused_writes().len(),
        4,
        "two busy answers before each later write"
    );
    assert_eq!(done.added.len(), 250);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn someone_elses_change_is_read_and_the_batch_fitted_to_the_room_left() {
    let fake = fake(3, &["1.1.1.1/32"]);
    fake.fault(Fault::ConcurrentAdd("9.9.9.9/32"));
    let ec2 = fake.client();

    let done = run_steps(
        &ec2,
        work(
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
    assert_eq!(done.added, [net("2.2.2.2/32")]);
    assert_eq!(
        done.not_added,
        [entry("3.3.3.3/32")],
        "returned for the SuperAdmins, not lost"
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

    let done = run_steps(
        &ec2,
        work(
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
    assert_eq!(done.not_added, [entry("3.3.3.3/32")]);
    assert_eq!(done.max_entries, 2);
}

#[tokio::test]
async fn request_limit_exceeded_is_retried_until_the_batch_goes_in() {
    let fake = fake(10, &[]);
    for _ in 0..4 {
        fake.fault(Fault::Error("RequestLimitExceeded"));
    }
    let ec2 = fake.client();

    let done = run_steps(&ec2, work(10, 1, 0, vec![vec![entry("1.1.1.1/32")]]))
        .await
        .unwrap();

    assert_eq!(fake.cidrs("pl-a"), [net("1.1.1.1/32")]);
    // Four refusals, each retried by the state machine (the SDK's own retries are tested on
    // the adapter); the fifth attempt goes in.
    assert_eq!(fake.refused_writes().len(), 4);
    assert_eq!(fake.accepted_writes(), 1);
    assert!(done.pending.is_empty());
}

#[tokio::test]
async fn a_failure_halfway_through_ends_converged_without_a_duplicate() {
    let fake = fake(1000, &["1.1.1.1/32"]);
    let ec2 = fake.client();
    let entries = many(250);
    let batches: Vec<Vec<NewEntry>> = entries.chunks(100).map(<[NewEntry]>::to_vec).collect();
    // The second write is applied, but its answer never arrives.
    let first = work(1000, 1, 1, batches);
    let after_one = run_steps(
        &ec2,
        ListWork {
            pending: first.pending[..1].to_vec(),
            ..first.clone()
        },
    )
    .await
    .unwrap();
    fake.fault(Fault::LoseAnswer);

    let done = run_steps(
        &ec2,
        ListWork {
            pending: first.pending[1..].to_vec(),
            ..after_one
        },
    )
    .await
    .unwrap();

    let cidrs = fake.cidrs("pl-a");
    assert_eq!(cidrs.len(), 251, "every entry once, the old one kept");
    assert_eq!(fake.accepted_writes(), 3, "the lost write is not repeated");
    assert!(done.pending.is_empty());
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

    let err = run_steps(&ec2, work(10, 1, 0, vec![vec![entry("1.1.1.1/32")]]))
        .await
        .unwrap_err();

    assert_eq!(err.error_type, "PrefixListNotFound");
}

#[tokio::test]
async fn a_step_that_is_not_an_addition_is_refused() {
    let fake = fake(10, &[]);
    let mut w = work(10, 1, 0, vec![]);
    w.pending = vec![Step::Remove(vec![net("1.1.1.1/32")])];

    let err = handler(&fake.client(), LambdaEvent::new(w, Context::default()))
        .await
        .unwrap_err();

    assert_eq!(Diagnostic::from(err).error_type, "UnsupportedInput");
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
    ];
    for err in &errors {
        assert!(listed.reports(err.name()), "{}", err.name());
    }
    for name in warden_core::registry::EC2_ERRORS {
        assert!(listed.reports(*name), "{name}");
    }
}
