//! One sync at a time (DESIGN.md section 5): a run waits, in the state machine, while an older
//! run of the same state machine is still running, so a plan made from older secrets can never
//! remove a CIDR a newer plan needs.
//!
//! "Older" is decided on the start dates `ListExecutions` reports, to the millisecond, with the
//! execution name breaking ties: every run sees the same listing, so two runs can never each
//! think the other is older (which would make both wait until they give up).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The first wait between two checks when `SYNC_WAIT_SECONDS` is unset. Each wait doubles,
/// up to [`MAX_WAIT_FACTOR`] times this: 30, 60, 120, 120… s.
pub const DEFAULT_SYNC_WAIT_SECONDS: u64 = 30;
/// The longest wait, in units of `SYNC_WAIT_SECONDS`: a run waiting behind a long full sync
/// checks every two minutes (by default), not every 30 s.
pub const MAX_WAIT_FACTOR: u64 = 4;
/// Checks before a run gives up: 19 waits of 1 + 2 + 17 × 4 = 71 units of `SYNC_WAIT_SECONDS`
/// (35.5 minutes by default), several full syncs of 50,000 users. Each check costs the waiting run 9 history
/// events (Task 5, Choice 2, Wait 2), so waiting never adds more than 180 to its history.
pub const MAX_WAIT_ROUNDS: u32 = 20;

/// How long the state machine waits after check number `round` (1 for the first): the base,
/// doubled each round up to [`MAX_WAIT_FACTOR`] times it.
pub fn wait_after(round: u32, base_seconds: u64) -> u64 {
    let doublings = round.saturating_sub(1).min(u64::BITS - 1);
    let factor = (1u64 << doublings).min(MAX_WAIT_FACTOR);
    base_seconds.saturating_mul(factor)
}

/// Seconds waited in all before check number `round`.
pub fn waited_before(round: u32, base_seconds: u64) -> u64 {
    (1..round).map(|r| wait_after(r, base_seconds)).sum()
}

/// A running execution of the sync state machine, as `ListExecutions` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningExecution {
    pub arn: String,
    pub name: String,
    pub started: DateTime<Utc>,
}

impl RunningExecution {
    /// Milliseconds, as Step Functions itself keeps start dates: finer digits some emulators
    /// add would make one observer's order differ from another's.
    fn key(&self) -> (i64, &str) {
        (self.started.timestamp_millis(), self.name.as_str())
    }
}

/// What "look for an older sync" tells the state machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OlderSyncs {
    /// Running executions that started before this one.
    pub older: usize,
    /// The oldest of them (its execution name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest: Option<String>,
    /// Checks made so far, this one included.
    pub round: u32,
    /// How long the state machine waits before the next check (the `Wait` state's `SecondsPath`).
    pub wait_seconds: u64,
    /// An older run is still there after [`MAX_WAIT_ROUNDS`] checks: the run fails instead.
    pub give_up: bool,
    /// One sentence for the execution history, and the `Fail` cause when giving up.
    pub message: String,
}

/// The running executions that must finish before `me` may plan, oldest first. `me` is found in
/// `running` by ARN and ordered by its listed start date; `my_start` only stands in when the
/// listing does not hold it (it always does on Step Functions: the run is itself running).
/// A Distributed Map's child executions (`…:execution:<state machine>/<map run>:<name>`) are
/// part of a sync, not syncs: they are never waited for, should a listing include them.
pub fn older_than<'a>(
    me: &str,
    my_start: DateTime<Utc>,
    running: &'a [RunningExecution],
) -> Vec<&'a RunningExecution> {
    let mine = running.iter().find(|r| r.arn == me);
    let my_name = me.rsplit(':').next().unwrap_or(me);
    let my_key = mine
        .map(RunningExecution::key)
        .unwrap_or((my_start.timestamp_millis(), my_name));
    let mut older: Vec<&RunningExecution> = running
        .iter()
        .filter(|r| r.arn != me && !is_map_run_child(&r.arn) && r.key() < my_key)
        .collect();
    older.sort_by(|a, b| a.key().cmp(&b.key()));
    older
}

/// A child execution of a Distributed Map: its state machine part names the map run.
fn is_map_run_child(arn: &str) -> bool {
    arn.split_once(":execution:")
        .and_then(|(_, rest)| rest.split_once(':'))
        .is_some_and(|(machine, _)| machine.contains('/'))
}

/// The answer for check number `round` (1 for the first) given the older runs found;
/// `base_seconds` is `SYNC_WAIT_SECONDS`.
pub fn older_syncs(round: u32, older: &[&RunningExecution], base_seconds: u64) -> OlderSyncs {
    let oldest = older.first();
    let give_up = !older.is_empty() && round >= MAX_WAIT_ROUNDS;
    let message = match oldest {
        None => "no older sync is running".to_owned(),
        Some(oldest) if give_up => format!(
            "the older sync {} (started {}) was still running after {round} checks over {} s; \
             this run changed nothing, so it cannot undo a newer plan. The next change or the weekly run syncs the lists; \
             if {} is stuck, stop it",
            oldest.name,
            started(oldest),
            waited_before(round, base_seconds),
            oldest.name
        ),
        Some(oldest) => format!(
            "waiting for {} older sync{} to finish, the oldest {} (started {}); check {round} of {MAX_WAIT_ROUNDS}",
            older.len(),
            if older.len() == 1 { "" } else { "s" },
            oldest.name,
            started(oldest)
        ),
    };
    OlderSyncs {
        older: older.len(),
        oldest: oldest.map(|o| o.name.clone()),
        round,
        wait_seconds: wait_after(round, base_seconds),
        give_up,
        message,
    }
}

fn started(run: &RunningExecution) -> String {
    run.started.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE: &str = "arn:aws:states:ap-southeast-2:123456789012:execution:prefix-list-sync";

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_764_000_000_000 + millis).unwrap()
    }

    fn running(name: &str, millis: i64) -> RunningExecution {
        RunningExecution {
            arn: format!("{MACHINE}:{name}"),
            name: name.into(),
            started: at(millis),
        }
    }

    fn names(older: &[&RunningExecution]) -> Vec<String> {
        older.iter().map(|r| r.name.clone()).collect()
    }

    #[test]
    fn only_runs_that_started_earlier_are_waited_for_oldest_first() {
        let all = [
            running("c", 300),
            running("me", 200),
            running("a", 100),
            running("b", 150),
        ];

        let older = older_than(&format!("{MACHINE}:me"), at(200), &all);

        assert_eq!(names(&older), ["a", "b"]);
    }

    #[test]
    fn two_runs_started_in_the_same_millisecond_never_both_wait() {
        let all = [running("x-2", 100), running("x-1", 100)];

        let for_first = older_than(&format!("{MACHINE}:x-1"), at(100), &all);
        let for_second = older_than(&format!("{MACHINE}:x-2"), at(100), &all);

        assert!(for_first.is_empty(), "the name breaks the tie");
        assert_eq!(names(&for_second), ["x-1"]);
    }

    #[test]
    fn the_listed_start_date_wins_over_a_finer_one_from_the_context() {
        // The context says 100.9 ms, the listing 100 ms for both: the order is the listing's.
        let all = [running("b", 100), running("a", 100)];
        let fine = at(100) + chrono::Duration::microseconds(900);

        assert_eq!(
            names(&older_than(&format!("{MACHINE}:b"), fine, &all)),
            ["a"]
        );
        assert!(older_than(&format!("{MACHINE}:a"), fine, &all).is_empty());
    }

    #[test]
    fn a_run_missing_from_the_listing_is_placed_by_its_own_start_time() {
        let all = [running("a", 100), running("c", 300)];

        let older = older_than(&format!("{MACHINE}:me"), at(200), &all);

        assert_eq!(names(&older), ["a"]);
    }

    #[test]
    fn a_run_alone_goes_ahead() {
        let all = [running("me", 200)];
        let older = older_than(&format!("{MACHINE}:me"), at(200), &all);

        let answer = older_syncs(1, &older, 30);

        assert_eq!(answer.older, 0);
        assert!(!answer.give_up);
        assert_eq!(answer.oldest, None);
    }

    #[test]
    fn a_run_waits_then_gives_up_naming_the_older_run() {
        let all = [running("weekly", 100), running("me", 200)];
        let older = older_than(&format!("{MACHINE}:me"), at(200), &all);

        let waiting = older_syncs(MAX_WAIT_ROUNDS - 1, &older, 30);
        let last = older_syncs(MAX_WAIT_ROUNDS, &older, 30);

        assert!(!waiting.give_up);
        assert_eq!(waiting.wait_seconds, 120);
        assert!(
            waiting
                .message
                .contains("waiting for 1 older sync to finish, the oldest weekly")
        );
        assert!(last.give_up);
        assert_eq!(last.oldest.as_deref(), Some("weekly"));
        assert!(
            last.message
                .contains("weekly (started 2025-11-24T16:00:00.100Z)"),
            "{}",
            last.message
        );
        assert!(
            last.message.contains("after 20 checks over 2130 s"),
            "{}",
            last.message
        );
    }

    #[test]
    fn waits_double_up_to_four_times_the_base_and_stay_bounded() {
        let waits: Vec<u64> = (1..=6).map(|round| wait_after(round, 30)).collect();
        assert_eq!(waits, [30, 60, 120, 120, 120, 120]);
        assert_eq!(wait_after(u32::MAX, 30), 120, "no overflow however long");
        assert_eq!(wait_after(1, 1), 1, "the local stack's 1 s");
        // The whole wait before giving up: 19 waits, 1 + 2 + 17 x 4 = 71 units.
        assert_eq!(waited_before(MAX_WAIT_ROUNDS, 30), 30 * (1 + 2 + 4 * 17));
        assert!(
            waited_before(MAX_WAIT_ROUNDS, 30) >= 30 * 60,
            "half an hour at least"
        );
    }

    #[test]
    fn a_distributed_map_child_is_never_an_older_sync() {
        let child = RunningExecution {
            arn: "arn:aws:states:ap-southeast-2:123456789012:execution:prefix-list-sync/change-ipv4-lists:abc".into(),
            name: "abc".into(),
            started: at(100),
        };
        let all = [child, running("me", 200)];

        assert!(older_than(&format!("{MACHINE}:me"), at(200), &all).is_empty());
    }

    #[test]
    fn the_answer_reads_as_the_state_machine_expects() {
        let answer = older_syncs(1, &[], 1);
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            serde_json::json!({"older": 0, "round": 1, "waitSeconds": 1, "giveUp": false,
                               "message": "no older sync is running"})
        );
    }
}
