//! Properties of the planner over random lists, capacities and desired sets: the plan is applied
//! step by step to a model of the lists and the result checked against DESIGN.md section 5.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// CIDRs the lists and users draw from: /32s and /24s of IPv4, and some IPv6 that must never
/// reach an IPv4 list.
fn pool() -> Vec<IpNet> {
    let mut pool: Vec<IpNet> = (0..48)
        .map(|i| format!("10.0.0.{i}/32").parse().unwrap())
        .collect();
    pool.extend((0..8).map(|i| format!("172.16.{i}.0/24").parse::<IpNet>().unwrap()));
    pool.extend((0..6).map(|i| format!("2001:db8:{i}::/48").parse::<IpNet>().unwrap()));
    pool
}

#[derive(Clone, Debug)]
struct ListSpec {
    managed: bool,
    max_entries: usize,
    entries: Vec<usize>,
}

fn list_spec() -> impl Strategy<Value = ListSpec> {
    (
        any::<bool>(),
        0usize..30,
        proptest::collection::vec(0usize..62, 0..30),
    )
        .prop_map(|(managed, max_entries, mut entries)| {
            // EC2 never holds more than MaxEntries, nor an IPv6 entry in an IPv4 list.
            entries.retain(|&i| i < 56);
            entries.sort_unstable();
            entries.dedup();
            entries.truncate(max_entries);
            ListSpec {
                managed: managed || max_entries % 3 != 0,
                max_entries,
                entries,
            }
        })
}

fn build_lists(specs: &[ListSpec]) -> Vec<PrefixList> {
    let pool = pool();
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| PrefixList {
            info: ListInfo {
                id: format!("pl-{i:02}"),
                name: if spec.managed {
                    format!("sftp-{i}-AUTOMATED_PREFIX")
                } else {
                    format!("office-{i}")
                },
                family: AddressFamily::V4,
                owner_id: "123456789012".into(),
                max_entries: spec.max_entries,
                version: Some(1),
                state: "modify-complete".into(),
                state_message: None,
            },
            entries: spec
                .entries
                .iter()
                .map(|&e| ListEntry {
                    cidr: pool[e],
                    description: Some("someone".into()),
                })
                .collect(),
        })
        .collect()
}

fn build_desired(wanted: &[(usize, usize)]) -> Desired {
    let pool = pool();
    let mut desired = Desired::default();
    for &(user, cidr) in wanted {
        desired.add(&format!("user{user}"), [pool[cidr]]);
    }
    desired
}

/// Applies every step in order to the model, checking each write as EC2 would.
fn apply(lists: &[PrefixList], plan: &Plan) -> Result<BTreeMap<String, Vec<IpNet>>, String> {
    let mut model: BTreeMap<String, Vec<IpNet>> = lists
        .iter()
        .map(|l| {
            (
                l.info.id.clone(),
                l.entries.iter().map(|e| e.cidr).collect(),
            )
        })
        .collect();
    for work in &plan.lists {
        let info = &lists
            .iter()
            .find(|l| l.info.id == work.id)
            .ok_or("a plan for an unknown list")?
            .info;
        for step in &work.pending {
            if step.is_empty() || step.len() > MAX_ENTRIES_PER_CALL {
                return Err(format!("{}: a write of {} entries", work.id, step.len()));
            }
            let entries = model.get_mut(&work.id).ok_or("no such list")?;
            match step {
                Step::Remove(cidrs) => {
                    for cidr in cidrs {
                        if !entries.contains(cidr) {
                            return Err(format!("{}: removes absent {cidr}", work.id));
                        }
                        entries.retain(|e| e != cidr);
                    }
                }
                Step::Add(new) => {
                    for entry in new {
                        if AddressFamily::of(&entry.cidr) != info.family {
                            return Err(format!("{}: {} of the wrong family", work.id, entry.cidr));
                        }
                        if entries.contains(&entry.cidr) {
                            return Err(format!("{}: adds present {}", work.id, entry.cidr));
                        }
                        if entry.description.chars().count() > MAX_DESCRIPTION_CHARS {
                            return Err("a description over 255 characters".into());
                        }
                        entries.push(entry.cidr);
                    }
                }
            }
            if entries.len() > info.max_entries {
                return Err(format!(
                    "{}: {} entries exceed MaxEntries {}",
                    work.id,
                    entries.len(),
                    info.max_entries
                ));
            }
        }
    }
    Ok(model)
}

fn with_entries(lists: &[PrefixList], model: &BTreeMap<String, Vec<IpNet>>) -> Vec<PrefixList> {
    lists
        .iter()
        .map(|l| PrefixList {
            info: l.info.clone(),
            entries: model[&l.info.id]
                .iter()
                .map(|c| ListEntry {
                    cidr: *c,
                    description: None,
                })
                .collect(),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_plan_converges_the_lists_on_the_secrets_within_every_limit(
        specs in proptest::collection::vec(list_spec(), 0..5),
        wanted in proptest::collection::vec((0usize..12, 0usize..62), 0..70),
        partial in proptest::bool::weighted(0.2),
        share in 0.0f64..=1.0,
    ) {
        let lists = build_lists(&specs);
        let desired = build_desired(&wanted);
        let unreadable = if partial { vec!["locked (DecryptionFailure)".to_owned()] } else { vec![] };
        let settings = PlanSettings { max_removal_share: share, ..PlanSettings::default() };

        let plan = plan_family(AddressFamily::V4, &lists, &desired, &unreadable, &settings);
        let after = apply(&lists, &plan).map_err(TestCaseError::fail)?;

        let managed: Vec<&PrefixList> = lists.iter().filter(|l| l.info.is_managed(DEFAULT_MARKER, AddressFamily::V4)).collect();
        // Unmanaged lists are never touched.
        for list in lists.iter().filter(|l| !l.info.is_managed(DEFAULT_MARKER, AddressFamily::V4)) {
            prop_assert!(plan.lists.iter().all(|w| w.id != list.info.id));
            prop_assert_eq!(&after[&list.info.id], &list.entries.iter().map(|e| e.cidr).collect::<Vec<_>>());
        }
        let removes = plan.lists.iter().flat_map(|w| &w.pending).any(|s| matches!(s, Step::Remove(_)));
        if partial {
            prop_assert!(!removes, "removed on partial information");
        }
        let overflow: Vec<IpNet> = plan.overflow.iter().map(|o| o.cidr).collect();
        for (cidr, _) in desired.of_family(AddressFamily::V4) {
            let holding = managed.iter().filter(|l| after[&l.info.id].contains(cidr)).count();
            let overflowed = overflow.contains(cidr);
            if plan.removals_withheld.is_none() {
                prop_assert!(
                    (holding == 1 && !overflowed) || (holding == 0 && overflowed),
                    "{} is in {} lists, overflow: {}", cidr, holding, overflowed
                );
            } else if partial {
                prop_assert!((holding >= 1) != overflowed, "{} lost", cidr);
            }
        }
        for cidr in &overflow {
            prop_assert!(desired.users_of(cidr).is_some());
        }
        // Overflow only once every managed list is full.
        if !overflow.is_empty() {
            for list in &managed {
                prop_assert_eq!(after[&list.info.id].len(), list.info.max_entries);
            }
        }
        if plan.removals_withheld.is_none() {
            // Nothing undesired is left, and the cap on removals held.
            for list in &managed {
                for cidr in &after[&list.info.id] {
                    prop_assert!(desired.users_of(cidr).is_some(), "{} left in {}", cidr, list.info.id);
                }
            }
            let entries: usize = managed.iter().map(|l| l.entries.len()).sum();
            let revoked = managed
                .iter()
                .flat_map(|l| &l.entries)
                .filter(|e| desired.users_of(&e.cidr).is_none())
                .count();
            prop_assert!(revoked as f64 <= share * entries as f64);
        } else {
            prop_assert!(!removes);
        }
        if matches!(plan.removals_withheld, Some(Withheld::TooManyRemovals { .. })) {
            prop_assert_eq!(plan.writes(), 0, "a refused run writes nothing");
        }

        // A second run over the result has nothing to write.
        let again = plan_family(AddressFamily::V4, &with_entries(&lists, &after), &desired, &unreadable, &settings);
        prop_assert_eq!(again.writes(), 0, "second plan: {:?}", again.lists);
    }

    #[test]
    fn each_cidr_is_planned_into_at_most_one_list_and_never_added_and_removed(
        specs in proptest::collection::vec(list_spec(), 1..5),
        wanted in proptest::collection::vec((0usize..12, 0usize..62), 0..70),
    ) {
        let lists = build_lists(&specs);
        let plan = plan_family(AddressFamily::V4, &lists, &build_desired(&wanted), &[], &PlanSettings { max_removal_share: 1.0, ..PlanSettings::default() });
        let mut added = BTreeSet::new();
        for work in &plan.lists {
            let removed: BTreeSet<IpNet> = work.pending.iter().filter_map(|s| match s { Step::Remove(c) => Some(c.clone()), _ => None }).flatten().collect();
            for step in &work.pending {
                if let Step::Add(entries) = step {
                    for entry in entries {
                        prop_assert!(added.insert(entry.cidr), "{} added twice", entry.cidr);
                        prop_assert!(!removed.contains(&entry.cidr), "{} added and removed", entry.cidr);
                    }
                }
            }
        }
    }
}
