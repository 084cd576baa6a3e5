//! The prefix-list sync state machine, run for real on the local stack: moto executes the ASL and
//! emulates EC2's managed prefix lists, our function binaries plan and write, moto's SES records
//! the SuperAdmins' mail. (What moto does not model — versions, MaxEntries, modify-in-progress —
//! is tested against the fake EC2 in the functions' tests.)

use anyhow::Result;
use devstack::deployment::{self, Deployment};
use devstack::prefix_lists::{
    AddressFamily, ListSnapshot, LocalLists, STATE_MACHINE, payloads, run_sync, summary_of,
    timeline,
};
use devstack::stack::{LocalStack, StackOptions};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SUPER_ADMIN: &str = "sftp-superadmin@example.com";

fn user(ip: &str, ipv6: &str) -> String {
    json!({"Name": "Partner", "Email": "ops@partner.example.com", "IP": ip, "IPv6": ipv6})
        .to_string()
}

fn super_admin(ip: &str) -> String {
    json!({"Name": "Ops", "Email": SUPER_ADMIN, "IP": ip}).to_string()
}

/// A CloudTrail event (as EventBridge delivers it) for `event_name` on `SFTP/<username>`.
fn change_event(event_name: &str, username: &str) -> Value {
    let path = devstack::workspace_root().join("test-events/cloudtrail-put-secret-value.json");
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["detail"]["eventName"] = json!(event_name);
    event["detail"]["requestParameters"]["secretId"] = json!(format!("SFTP/{username}"));
    event
}

async fn delete_user(deployment: &Deployment, username: &str) -> Result<()> {
    deployment
        .clients
        .secrets
        .delete_secret()
        .secret_id(format!("SFTP/{username}"))
        .force_delete_without_recovery(true)
        .send()
        .await?;
    Ok(())
}

/// Every managed CIDR of `family` with the number of lists holding it.
fn held(lists: &[ListSnapshot], family: AddressFamily) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for list in lists.iter().filter(|l| l.family == family) {
        for cidr in list.cidrs() {
            *counts.entry(cidr).or_insert(0) += 1;
        }
    }
    counts.into_iter().collect()
}

fn once(cidrs: &[&str]) -> Vec<(String, usize)> {
    let set: BTreeSet<String> = cidrs.iter().map(|c| c.to_string()).collect();
    set.into_iter().map(|c| (c, 1)).collect()
}

fn list_named<'a>(lists: &'a [ListSnapshot], name: &str) -> &'a ListSnapshot {
    lists.iter().find(|l| l.name == name).expect("list exists")
}

/// The entry of the list named `name` in a (bounded or full) summary.
fn list_outcome<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["lists"]
        .as_array()
        .and_then(|lists| lists.iter().find(|l| l["name"] == name))
        .unwrap_or_else(|| panic!("no list {name} in {summary}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lists_follow_the_secrets_and_a_second_run_writes_nothing() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    let lists = LocalLists::connect(&stack).await;
    lists
        .create(
            "sftp-a-AUTOMATED_PREFIX",
            AddressFamily::V4,
            3,
            &[
                ("192.0.2.10/32", "SFTPSuperAdmin"),
                ("203.0.113.10/32", "bank1"),
                ("198.51.100.99/32", "retired"),
            ],
        )
        .await?;
    lists
        .create("sftp-b-AUTOMATED_PREFIX", AddressFamily::V4, 3, &[])
        .await?;
    lists
        .create("sftp-v6-AUTOMATED_PREFIX", AddressFamily::V6, 3, &[])
        .await?;
    lists
        .create(
            "office-vpn",
            AddressFamily::V4,
            2,
            &[("192.0.2.200/32", "office")],
        )
        .await?;
    deployment
        .put_user("SFTPSuperAdmin", &super_admin("192.0.2.10/32"))
        .await?;
    deployment
        .put_user(
            "bank1",
            &user("203.0.113.10/32, 203.0.113.11/32", "2001:db8:a0::/48"),
        )
        .await?;
    deployment
        .put_user("bank2", &user("198.51.100.17/29", ""))
        .await?;
    deployment.put_user("broken", "this is not JSON").await?;

    // The weekly drift repair, as the schedule starts it.
    let first = run_sync(&deployment, &json!({"mode": "all", "schedule": "weekly"})).await?;

    assert_eq!(first.status, "SUCCEEDED", "{first:?}");
    let after = lists.snapshot().await?;
    assert_eq!(
        held(&after, AddressFamily::V4),
        once(&[
            "192.0.2.10/32",
            "203.0.113.10/32",
            "203.0.113.11/32",
            "198.51.100.16/29",
            "192.0.2.200/32"
        ]),
        "every desired CIDR in exactly one managed list (office-vpn's own entry aside)"
    );
    assert_eq!(
        list_named(&after, "sftp-v6-AUTOMATED_PREFIX").cidrs(),
        ["2001:db8:a0::/48"]
    );
    assert_eq!(
        list_named(&after, "office-vpn").cidrs(),
        ["192.0.2.200/32"],
        "unmanaged list untouched"
    );
    assert_eq!(
        list_named(&after, "sftp-a-AUTOMATED_PREFIX").name,
        "sftp-a-AUTOMATED_PREFIX",
        "names kept"
    );
    let summary = summary_of(&first)?;
    assert_eq!(summary["inSync"], true);
    assert_eq!(summary["trigger"], "schedule");
    // The output counts per list and names the first few CIDRs; the full summary has them all.
    let a = list_outcome(&summary, "sftp-a-AUTOMATED_PREFIX");
    assert_eq!(a["removed"], 1);
    assert_eq!(a["firstRemoved"], json!(["198.51.100.99/32"]));
    let full = deployment.full_summary(&first).await?;
    assert_eq!(
        list_outcome(&full, "sftp-a-AUTOMATED_PREFIX")["removed"],
        json!(["198.51.100.99/32"])
    );
    let v6 = list_named(&after, "sftp-v6-AUTOMATED_PREFIX");
    assert_eq!(
        v6.entries[0].description.as_deref(),
        Some("bank1"),
        "descriptions name the users"
    );
    // One write per changed list per step: a (removal), b (addition, freest list), v6.
    assert_eq!(summary["ec2Calls"]["writes"], 3, "{summary}");
    assert!(
        deployment.sent_emails()?.is_empty(),
        "nothing to tell anyone"
    );

    let second = run_sync(&deployment, &json!({"mode": "all"})).await?;
    let summary = summary_of(&second)?;
    assert_eq!(second.status, "SUCCEEDED", "{second:?}");
    assert_eq!(
        summary["ec2Calls"]["writes"], 0,
        "a second run writes nothing: {summary}"
    );
    assert_eq!(lists.snapshot().await?, after);

    // Users change: bank1 moves an address, bank2 is deleted, bank3 arrives.
    deployment
        .put_user(
            "bank1",
            &user("203.0.113.10/32, 203.0.113.12/32", "2001:db8:a0::/48"),
        )
        .await?;
    delete_user(&deployment, "bank2").await?;
    deployment
        .put_user("bank3", &user("", "2001:db8:b3::/48"))
        .await?;
    let changed = run_sync(&deployment, &change_event("PutSecretValue", "bank1")).await?;

    assert_eq!(changed.status, "SUCCEEDED", "{changed:?}");
    assert_eq!(summary_of(&changed)?["trigger"], "secretChange");
    let after = lists.snapshot().await?;
    assert_eq!(
        held(&after, AddressFamily::V4),
        once(&[
            "192.0.2.10/32",
            "203.0.113.10/32",
            "203.0.113.12/32",
            "192.0.2.200/32"
        ])
    );
    assert_eq!(
        held(&after, AddressFamily::V6),
        once(&["2001:db8:a0::/48", "2001:db8:b3::/48"])
    );

    // A change to a secret that is not an SFTP user makes no call at all.
    let mut unrelated = change_event("PutSecretValue", "x");
    unrelated["detail"]["requestParameters"]["secretId"] = json!("prod/db-password");
    let ignored = run_sync(&deployment, &unrelated).await?;
    let summary = summary_of(&ignored)?;
    assert_eq!(ignored.status, "SUCCEEDED", "{ignored:?}");
    assert_eq!(summary["ec2Calls"], json!({"reads": 0, "writes": 0}));
    assert_eq!(lists.snapshot().await?, after);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn overflow_and_a_refused_run_are_mailed_to_the_super_admins() -> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    let lists = LocalLists::connect(&stack).await;
    lists
        .create("sftp-a-AUTOMATED_PREFIX", AddressFamily::V4, 1, &[])
        .await?;
    lists
        .create("sftp-b-AUTOMATED_PREFIX", AddressFamily::V4, 1, &[])
        .await?;
    deployment
        .put_user("SFTPSuperAdmin", &super_admin(""))
        .await?;
    deployment
        .put_user("bank1", &user("203.0.113.10/32", ""))
        .await?;
    deployment
        .put_user("bank2", &user("198.51.100.1/32", ""))
        .await?;
    deployment
        .put_user("bank3", &user("192.0.2.77/32", ""))
        .await?;

    let full = run_sync(&deployment, &change_event("CreateSecret", "bank3")).await?;

    assert_eq!(
        full.status, "FAILED",
        "an allow-list out of sync fails the run: {full:?}"
    );
    assert_eq!(full.error.as_deref(), Some("PrefixListsOutOfSync"));
    let summary = summary_of(&full)?;
    assert_eq!(summary["overflow"], 1, "{summary}");
    let overflowed = summary["firstOverflow"][0]["cidr"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        deployment.full_summary(&full).await?["overflow"][0]["cidr"],
        overflowed.as_str(),
        "the full summary in the work bucket names it too"
    );
    let held_now: Vec<String> = lists
        .managed()
        .await?
        .iter()
        .flat_map(|l| l.cidrs())
        .collect();
    assert_eq!(held_now.len(), 2, "both lists filled");
    assert!(!held_now.contains(&overflowed));
    let sent = deployment.sent_emails()?;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, [SUPER_ADMIN]);
    assert_eq!(
        sent[0].subject,
        "sftp-warden: the SFTP allow-lists need attention (1 problem)"
    );
    assert!(sent[0].body.contains(&overflowed), "{}", sent[0].body);

    // Every partner gone at once: removing 2 of 2 entries is refused.
    for bank in ["bank1", "bank2", "bank3"] {
        delete_user(&deployment, bank).await?;
    }
    let before = lists.managed().await?;
    let refused = deployment
        .run(
            STATE_MACHINE,
            &json!({"mode": "all"}),
            std::time::Duration::from_secs(300),
        )
        .await?;

    assert_eq!(refused.status, "FAILED", "{refused:?}");
    assert_eq!(summary_of(&refused)?["ec2Calls"]["writes"], 0);
    assert_eq!(
        lists.managed().await?,
        before,
        "a refused run changes nothing"
    );
    let sent = deployment.sent_emails()?;
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1].body.contains("the run was refused"),
        "{}",
        sent[1].body
    );
    assert!(sent[1].body.contains("maxRemovalShare"));

    // The operator checks and lifts the cap for one run.
    let lifted = run_sync(&deployment, &json!({"mode": "all", "maxRemovalShare": 1})).await?;
    assert_eq!(lifted.status, "SUCCEEDED", "{lifted:?}");
    assert!(lists.managed().await?.iter().all(|l| l.entries.is_empty()));
    Ok(())
}

/// `partner-NNNNN` with one /32 of its own.
fn partner(i: usize) -> (String, String) {
    let cidr = format!("10.{}.{}.{}/32", i >> 16, (i >> 8) & 255, i & 255);
    (format!("partner-{i:05}"), user(&cidr, ""))
}

/// Creates the users 16 secrets at a time.
async fn seed(deployment: &Deployment, users: Vec<(String, String)>) -> Result<()> {
    for chunk in users.chunks(16) {
        let mut creating = tokio::task::JoinSet::new();
        for (username, secret) in chunk.iter().cloned() {
            let secrets = deployment.clients.secrets.clone();
            creating.spawn(async move {
                secrets
                    .create_secret()
                    .name(format!("SFTP/{username}"))
                    .secret_string(secret)
                    .send()
                    .await
            });
        }
        while let Some(created) = creating.join_next().await {
            created??;
        }
    }
    Ok(())
}

/// The old design carried every step's CIDRs in the state and refused plans over 200 KiB
/// (`PlanTooLarge`, about 3,000 additions). 4,000 users with a /32 each into five empty lists of
/// 1,000: one run, 40 writes, and the state never carries more than the lists' counts.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_of_four_thousand_new_cidrs_the_old_design_refused_succeeds_with_a_small_state()
-> Result<()> {
    const USERS: usize = 4_000;
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    let lists = LocalLists::connect(&stack).await;
    for i in 0..5 {
        lists
            .create(
                &format!("sftp-{i}-AUTOMATED_PREFIX"),
                AddressFamily::V4,
                1_000,
                &[],
            )
            .await?;
    }
    deployment
        .put_user("SFTPSuperAdmin", &super_admin(""))
        .await?;
    let users: Vec<(String, String)> = (0..USERS).map(partner).collect();
    // What the old plan would have carried in the state: every addition with its description.
    let old_plan: Vec<Value> = (0..USERS)
        .map(|i| {
            let (name, _) = partner(i);
            json!({"cidr": format!("10.{}.{}.{}/32", i >> 16, (i >> 8) & 255, i & 255), "description": name})
        })
        .collect();
    assert!(
        serde_json::to_vec(&old_plan)?.len() > 200 * 1024,
        "the old design refused this plan as PlanTooLarge"
    );
    seed(&deployment, users).await?;

    let started = Instant::now();
    let sync = run_sync(&deployment, &json!({"mode": "all", "schedule": "weekly"})).await?;
    let wall = started.elapsed();

    assert_eq!(sync.status, "SUCCEEDED", "{sync:?}");
    let expected: Vec<String> = (0..USERS)
        .map(|i| format!("10.{}.{}.{}/32", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(
        held(&lists.managed().await?, AddressFamily::V4),
        once(&expected),
        "every CIDR in exactly one list"
    );
    let summary = summary_of(&sync)?;
    let added: u64 = summary["lists"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["added"].as_u64().unwrap_or_default())
        .sum();
    assert_eq!(added, USERS as u64, "{summary}");
    assert_eq!(summary["ec2Calls"]["writes"], 40, "100 entries per write");
    assert_eq!(
        summary["secretReads"], 201,
        "one read for both families: 4,001 / 20"
    );
    let full = deployment.full_summary(&sync).await?;
    let in_full: usize = full["lists"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| l["added"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(in_full, USERS, "the full summary names every CIDR");
    // Measured on the local stack: the largest input, output or parameters of any history event
    // was 2,333 bytes (both families' counts on their way to the summary), in 65 history events
    // (371 before each list's steps moved into a Distributed Map's children); the sync took
    // 9 s. Quotas: 256 KiB and 25,000 events.
    let measured = payloads(&deployment, &sync.arn).await?;
    println!(
        "4,000 additions: largest payload {} bytes, {} history events, {:.1} s",
        measured.largest,
        measured.events,
        wall.as_secs_f64()
    );
    assert!(
        measured.largest < 8 * 1024,
        "{} bytes in one state",
        measured.largest
    );
    assert!(measured.events < 500, "{} events", measured.events);
    Ok(())
}

/// A change arrives while a weekly sync runs: the newer sync waits in the state machine until
/// the older one has finished, so the two never change the lists at the same time, and the
/// newer plan (made from the newer secrets) is the one that stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_started_while_an_older_one_runs_waits_for_it_and_the_lists_end_as_the_newer_secrets_say()
-> Result<()> {
    let stack = LocalStack::start(StackOptions::default())?;
    let deployment = deployment::deploy(&stack).await?;
    let lists = LocalLists::connect(&stack).await;
    lists
        .create("sftp-a-AUTOMATED_PREFIX", AddressFamily::V4, 500, &[])
        .await?;
    deployment
        .put_user("SFTPSuperAdmin", &super_admin(""))
        .await?;
    // Enough users that the older run is still reading and writing when the newer one starts.
    seed(&deployment, (0..300).map(partner).collect()).await?;

    let begun = Instant::now();
    let older = deployment
        .start(STATE_MACHINE, &json!({"mode": "all", "schedule": "weekly"}))
        .await?;
    // partner-00000 moves while the weekly run is under way.
    deployment
        .put_user("partner-00000", &user("192.0.2.77/32", ""))
        .await?;
    let newer = deployment
        .start(
            STATE_MACHINE,
            &change_event("PutSecretValue", "partner-00000"),
        )
        .await?;
    let timeout = Duration::from_secs(600);
    let older = deployment.wait(&older, begun, timeout).await?;
    let newer = deployment.wait(&newer, begun, timeout).await?;

    assert_eq!(older.status, "SUCCEEDED", "{older:?}");
    assert_eq!(newer.status, "SUCCEEDED", "{newer:?}");
    assert!(
        !older
            .states
            .iter()
            .any(|s| s == "Wait for the older sync to finish"),
        "the older run never waits for the newer"
    );
    let waits = newer
        .states
        .iter()
        .filter(|s| *s == "Wait for the older sync to finish")
        .count();
    assert!(waits >= 1, "the newer run waited: {:?}", newer.states);
    // Its list changes (from reading the secrets on) began after the older run had ended.
    let older_end = timeline(&deployment, &older.arn).await?.ended;
    let newer_reads = timeline(&deployment, &newer.arn)
        .await?
        .first_entered("Read every user's CIDRs")
        .expect("the newer run read the users");
    assert!(
        newer_reads >= older_end,
        "the newer run read the secrets {} ms before the older one ended",
        older_end - newer_reads
    );
    let mut expected: Vec<String> = (1..300)
        .map(|i| format!("10.{}.{}.{}/32", i >> 16, (i >> 8) & 255, i & 255))
        .collect();
    expected.push("192.0.2.77/32".to_owned());
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_eq!(
        held(&lists.managed().await?, AddressFamily::V4),
        once(&expected),
        "the lists hold what the newest secrets ask for"
    );
    println!(
        "the newer run waited {waits} time(s) (after 2 s, then doubling); both done in {:.1} s",
        begun.elapsed().as_secs_f64()
    );
    Ok(())
}
