//! The planner against the oracle: plans, explanations of every user and single `explain`s must
//! be byte-identical as JSON on generated orgs (several sizes, seeds, dates, histories and
//! untidy snapshots) and on `examples/acme`.

use crate::ledger::{AuditKind, AuditRecord, AuditResult, Ledger};
use crate::live::{Event, EventAction, Group, LiveState};
use crate::plan::{ActionKind, Plan};
use crate::planner::synth::{synth_now, synth_org, XorShift};
use crate::planner::{self, PlanInput};
use crate::policy::{Limit, Policy};
use chrono::{DateTime, TimeDelta, Utc};

/// The first line where two pretty JSON texts differ, with a little context.
fn first_difference(new: &str, old: &str) -> String {
    let (n, o): (Vec<&str>, Vec<&str>) = (new.lines().collect(), old.lines().collect());
    let at = n
        .iter()
        .zip(&o)
        .position(|(a, b)| a != b)
        .unwrap_or(n.len().min(o.len()));
    let from = at.saturating_sub(6);
    format!(
        "line {at}\n--- planner\n{}\n--- oracle\n{}",
        n.get(from..(at + 3).min(n.len())).unwrap_or(&[]).join("\n"),
        o.get(from..(at + 3).min(o.len())).unwrap_or(&[]).join("\n"),
    )
}

fn same_json<T: serde::Serialize>(what: &str, new: &T, old: &T) {
    let new = serde_json::to_string_pretty(new).expect("serialize");
    let old = serde_json::to_string_pretty(old).expect("serialize");
    assert!(
        new == old,
        "{what}: the planner and the oracle differ at {}",
        first_difference(&new, &old)
    );
}

/// What a plan holds, to show that the comparisons cover every part of a plan.
fn features(plan: &Plan) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut note = |what: &str, any: bool| {
        if any {
            seen.push(what.to_string());
        }
    };
    note(
        "add",
        plan.actions.iter().any(|a| a.kind == ActionKind::Add),
    );
    note(
        "remove",
        plan.actions.iter().any(|a| a.kind == ActionKind::Remove),
    );
    note("observed", !plan.observed.is_empty());
    note("announce", !plan.announce.is_empty());
    note("requests", !plan.requests.is_empty());
    seen.extend(plan.blocked.iter().map(|b| format!("blocked {}", b.rail)));
    seen.extend(plan.notices.iter().map(|n| format!("notice {:?}", n.kind)));
    seen.extend(plan.warnings.iter().map(|w| format!("warning {}", w.code)));
    seen.sort();
    seen.dedup();
    seen
}

/// Plans with both, compares, and returns the plan.
fn check(what: &str, input: &PlanInput<'_>) -> Plan {
    let (plan, explanations) = planner::plan_and_explain(input);
    let (oracle_plan, oracle_explanations) = super::plan_and_explain(input);
    same_json(&format!("{what}: plan"), &plan, &oracle_plan);
    same_json(
        &format!("{what}: explanations"),
        &explanations,
        &oracle_explanations,
    );
    // `plan` and `explain` on their own, for a few users found by id, by email in another case,
    // and for nobody.
    same_json(&format!("{what}: plan()"), &planner::plan(input), &plan);
    let users = &input.live.users;
    let mut who: Vec<String> = vec!["nobody@nowhere".into()];
    who.extend(users.get(users.len() / 3).map(|u| u.account_id.clone()));
    who.extend(
        users
            .get(users.len() / 2)
            .and_then(|u| u.email.as_ref())
            .map(|e| e.to_uppercase()),
    );
    for w in &who {
        same_json(
            &format!("{what}: explain {w}"),
            &planner::explain(input, w),
            &super::explain(input, w),
        );
    }
    plan
}

fn input<'a>(
    policy: &'a Policy,
    live: &'a LiveState,
    ledger: &'a Ledger,
    now: DateTime<Utc>,
) -> PlanInput<'a> {
    PlanInput {
        policy,
        live,
        ledger,
        now,
        actor: None,
        policy_commit: Some("abc123"),
        allow_mass_removal: false,
    }
}

/// Applies `plan` to `live` as `apply` would, with about one removal in eight failing, and
/// returns the audit lines; then changes the org outside seatkeeper: some reclaimed users are
/// granted again and some added ones removed again.
fn apply(plan: &Plan, live: &mut LiveState, rng: &mut XorShift) -> Vec<AuditRecord> {
    let record =
        |kind, product: &str, group: &str, group_id: &str, account: &str, rule: &str| AuditRecord {
            time: plan.generated_at,
            kind,
            product: product.into(),
            group: group.into(),
            group_id: group_id.into(),
            account_id: account.into(),
            email: None,
            rule: rule.into(),
            reason: String::new(),
            result: AuditResult::Ok,
            plan_id: String::new(),
            policy_commit: None,
            actor: String::new(),
            error: None,
            reclaim_on: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
    let group = |live: &mut LiveState, id: &str| -> Option<usize> {
        live.groups.iter().position(|g| g.id == id)
    };
    let mut records = Vec::new();
    for a in &plan.actions {
        let Some(g) = group(live, &a.group_id) else {
            continue;
        };
        let mut r = record(
            if a.kind == ActionKind::Add {
                AuditKind::Add
            } else {
                AuditKind::Remove
            },
            &a.product,
            &a.group,
            &a.group_id,
            &a.account_id,
            a.rule.as_str(),
        );
        match a.kind {
            ActionKind::Add => {
                live.groups[g].members.push(a.account_id.clone());
                // Removed again outside seatkeeper: adding it back reverts that.
                if rng.chance(0.1) {
                    live.groups[g].members.retain(|m| *m != a.account_id);
                }
            }
            ActionKind::Remove if rng.chance(0.125) => r.result = AuditResult::Failed,
            ActionKind::Remove => {
                live.groups[g].members.retain(|m| *m != a.account_id);
                // Granted again outside seatkeeper after a reclaim: demand, observed.
                if rng.chance(0.15) {
                    live.groups[g].members.push(a.account_id.clone());
                }
            }
        }
        records.push(r);
    }
    for a in &plan.announce {
        let mut r = record(AuditKind::Announced, &a.product, "", "", &a.account_id, "");
        r.reclaim_on = Some(a.reclaim_on);
        records.push(r);
    }
    for o in &plan.observed {
        records.push(record(
            AuditKind::Observed,
            &o.product,
            &o.group,
            &o.group_id,
            &o.account_id,
            "drift",
        ));
    }
    records
}

/// A snapshot as nobody writes one: users, groups, members and events shuffled, an account
/// listed twice, members the user list lacks, emails in other cases, a second group under a
/// policy group's name, and events for groups and products the policy names.
fn untidy(live: &LiveState, rng: &mut XorShift) -> LiveState {
    fn shuffle<T>(v: &mut [T], rng: &mut XorShift) {
        for i in (1..v.len()).rev() {
            v.swap(i, rng.index(i + 1));
        }
    }
    let mut live = live.clone();
    shuffle(&mut live.users, rng);
    shuffle(&mut live.groups, rng);
    for g in &mut live.groups {
        shuffle(&mut g.members, rng);
        if let Some(m) = g.members.first().cloned() {
            g.members.push(m);
        }
        g.members.push(format!("unknown-{}", rng.below(5)));
    }
    if let Some(first) = live.users.first().cloned() {
        let mut twin = first;
        twin.email = Some("twin@elsewhere.example".into());
        let at = rng.index(live.users.len());
        live.users.insert(at, twin);
    }
    for u in live.users.iter_mut().filter(|_| rng.chance(0.05)) {
        u.email = u.email.as_ref().map(|e| e.to_uppercase());
    }
    if let Some(g) = live.groups.first() {
        live.groups.push(Group {
            id: format!("{}-twin", g.id),
            name: g.name.clone(),
            members: g.members.iter().take(3).cloned().collect(),
            synced: true,
        });
    }
    let products = ["jira-software", "confluence", "nope"];
    let events: Vec<Event> = (0..live.users.len() / 10)
        .filter_map(|_| {
            let u = live.users.get(rng.index(live.users.len()))?;
            let g = live.groups.get(rng.index(live.groups.len()))?;
            let action = match rng.below(4) {
                0 => EventAction::UserLoggedIn,
                1 => EventAction::AccessRequested,
                2 => EventAction::UserAddedToGroup,
                _ => EventAction::UserRemovedFromGroup,
            };
            Some(Event {
                time: live.taken_at - TimeDelta::days(rng.below(300) as i64),
                action,
                account_id: u.account_id.clone(),
                group_id: Some(g.id.clone()),
                product: Some(products[rng.index(products.len())].to_string()),
            })
        })
        .collect();
    live.events.extend(events);
    shuffle(&mut live.events, rng);
    live
}

/// One generated org through a history: plans at several dates without a ledger, then applies
/// the first run's plan and plans again at later dates, twice over; and the same on an untidy
/// copy of the snapshot, with an actor and with `--allow-mass-removal`.
fn org(users: usize, seed: u64) -> std::collections::BTreeSet<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut check = |what: &str, input: &PlanInput<'_>| {
        let plan = check(what, input);
        seen.extend(features(&plan));
        plan
    };
    let (policy, live) = synth_org(users, seed);
    let now = synth_now();
    let days = TimeDelta::days;
    let empty = Ledger::empty();
    let mut rng = XorShift::new(seed);
    for at in [now - days(365), now, now + days(90)] {
        check(
            &format!("{users} users, seed {seed}, no ledger, {at}"),
            &input(&policy, &live, &empty, at),
        );
    }

    let start = now - days(30);
    let first = check(
        &format!("{users} users, seed {seed}, first run {start}"),
        &input(&policy, &live, &empty, start),
    );
    let mut later = live.clone();
    let mut records = apply(&first, &mut later, &mut rng);
    let ledger = Ledger::from_records(&records);
    let mut second = None;
    for at in [now, now + days(45), now + days(200)] {
        let p = check(
            &format!("{users} users, seed {seed}, after one apply, {at}"),
            &input(&policy, &later, &ledger, at),
        );
        second.get_or_insert(p);
    }
    if let Some(second) = second {
        records.extend(apply(&second, &mut later, &mut rng));
    }
    let ledger = Ledger::from_records(&records);
    let at = now + days(60);
    check(
        &format!("{users} users, seed {seed}, after two applies, {at}"),
        &input(&policy, &later, &ledger, at),
    );

    // Tight rails: few removals and additions allowed, a grant group synced from an identity
    // provider, and an admin group whose members are all planned for removal.
    let mut strict = policy.clone();
    strict.safety.max_removals = Some(Limit::Count(3));
    strict.safety.max_additions = Some(Limit::Percent(1.0));
    let admins = strict
        .products
        .first()
        .and_then(|p| p.groups.first())
        .cloned()
        .unwrap_or_default();
    strict.safety.admin_groups = Some(vec![admins.clone()]);
    let planned = planner::plan(&input(&policy, &later, &ledger, at));
    let mut tight = later.clone();
    for g in &mut tight.groups {
        if g.name == admins {
            g.members = planned
                .actions
                .iter()
                .filter(|a| a.group == admins && a.kind == ActionKind::Remove)
                .map(|a| a.account_id.clone())
                .collect();
        }
        if strict
            .products
            .get(1)
            .is_some_and(|p| p.groups.first() == Some(&g.name))
        {
            g.synced = true;
        }
    }
    // A licence with few seats, and the account running seatkeeper among those removed.
    if let Some(p) = strict.products.get(2) {
        tight
            .licenses
            .insert(p.key.clone(), crate::live::License { limit: 5 });
    }
    let mut i = input(&strict, &tight, &ledger, at);
    i.actor = planned
        .actions
        .iter()
        .rev()
        .find(|a| a.kind == ActionKind::Remove)
        .map(|a| a.account_id.as_str());
    check(&format!("{users} users, seed {seed}, tight rails"), &i);
    let mut licensed = live.clone();
    for p in &strict.products {
        licensed
            .licenses
            .insert(p.key.clone(), crate::live::License { limit: 50 });
    }
    check(
        &format!("{users} users, seed {seed}, tight rails, first run"),
        &input(&strict, &licensed, &empty, now),
    );

    let messy = untidy(&later, &mut rng);
    let mut i = input(&policy, &messy, &ledger, at);
    i.actor = messy.users.get(7).map(|u| u.account_id.as_str());
    check(&format!("{users} users, seed {seed}, untidy"), &i);
    i.allow_mass_removal = true;
    check(
        &format!("{users} users, seed {seed}, untidy, mass removal allowed"),
        &i,
    );
    let messy = untidy(&live, &mut rng);
    check(
        &format!("{users} users, seed {seed}, untidy first run"),
        &input(&policy, &messy, &empty, now),
    );
    seen
}

/// Everything a generated org's history shows, for the tests to check they cover it all.
const EXPECTED: &[&str] = &[
    "add",
    "announce",
    "blocked last-admin",
    "blocked licence-limit",
    "blocked max-additions",
    "blocked max-removals",
    "blocked seat-budget",
    "blocked self",
    "blocked synced-group",
    "notice Dormant",
    "notice Drift",
    "notice ReclaimSoon",
    "observed",
    "remove",
    "requests",
    "warning duplicate-accounts",
    "warning unknown-members",
];

fn covers_everything(seen: &std::collections::BTreeSet<String>) {
    let missing: Vec<&&str> = EXPECTED.iter().filter(|e| !seen.contains(**e)).collect();
    assert!(
        missing.is_empty(),
        "not covered: {missing:?}; seen {seen:?}"
    );
}

#[test]
fn generated_orgs_plan_as_the_oracle_plans() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 1..=4 {
        seen.extend(org(2_000, seed));
    }
    covers_everything(&seen);
}

#[test]
fn more_generated_orgs_plan_as_the_oracle_plans() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 5..=8 {
        seen.extend(org(2_000, seed));
    }
    covers_everything(&seen);
}

#[test]
fn small_and_large_orgs_plan_as_the_oracle_plans() {
    for (users, seed) in [(0, 3), (1, 4), (17, 5), (300, 6)] {
        org(users, seed);
    }
    let (policy, live) = synth_org(20_000, 42);
    let empty = Ledger::empty();
    let first = check("20,000 users", &input(&policy, &live, &empty, synth_now()));
    let mut later = live.clone();
    let records = apply(&first, &mut later, &mut XorShift::new(42));
    let ledger = Ledger::from_records(&records);
    check(
        "20,000 users, after one apply",
        &input(&policy, &later, &ledger, synth_now() + TimeDelta::days(20)),
    );
}

#[test]
fn the_example_org_plans_as_the_oracle_plans() {
    use crate::policy::source::MemFiles;
    let files = MemFiles::new()
        .with(
            "seatkeeper.yaml",
            include_str!("../../../../examples/acme/seatkeeper.yaml"),
        )
        .with(
            "teams/product.yaml",
            include_str!("../../../../examples/acme/teams/product.yaml"),
        )
        .with(
            "teams/support.yaml",
            include_str!("../../../../examples/acme/teams/support.yaml"),
        )
        .with(
            "teams/contractors.yaml",
            include_str!("../../../../examples/acme/teams/contractors.yaml"),
        )
        .with(
            "teams/engineering.yaml",
            include_str!("../../../../examples/acme/teams/engineering.yaml"),
        );
    let live = crate::live::snapshot::parse_snapshot(
        "snapshot.json",
        include_str!("../../../../examples/acme/snapshot.json"),
    )
    .expect("the example snapshot");
    let policy = crate::policy::load_at(&files, live.taken_at.date_naive())
        .expect("the example policy")
        .policy;
    let audit = Ledger::parse_jsonl(include_str!(
        "../../../../examples/acme/audit/seatkeeper.jsonl"
    ));
    let empty = Ledger::empty();
    let mut rng = XorShift::new(1);
    for ledger in [&empty, &audit] {
        for days in [-400, -30, 0, 1, 14, 30, 90, 365] {
            let at = live.taken_at + TimeDelta::days(days);
            let mut i = input(&policy, &live, ledger, at);
            check(&format!("acme, {at}"), &i);
            i.actor = live.users.first().map(|u| u.account_id.as_str());
            i.allow_mass_removal = true;
            check(&format!("acme, {at}, actor"), &i);
        }
        let messy = untidy(&live, &mut rng);
        check(
            "acme, untidy",
            &input(&policy, &messy, ledger, live.taken_at),
        );
    }
}
