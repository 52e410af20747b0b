//! Times the pure plan step on a synthetic org: 100,000 users × 5 products × 2 grant groups.
//!
//! Two scenarios, each the median of several runs:
//! - *first run*: the generated org as is, never managed by seatkeeper (many changes);
//! - *steady state*: the same org after applying that plan, with its audit log as the ledger
//!   (what a daily scheduled job sees).
//!
//! Prints wall time and this thread's CPU time (Linux), since wall time on a busy machine says
//! little. Run with `cargo bench --bench plan` (`cargo bench --bench plan -- 20000` for another
//! size).

#![allow(clippy::print_stdout)]

use seatkeeper::ledger::{AuditKind, AuditRecord, AuditResult, Ledger};
use seatkeeper::live::LiveState;
use seatkeeper::plan::{ActionKind, Plan};
use seatkeeper::planner::synth::{synth_now, synth_org};
use seatkeeper::planner::{plan, PlanInput};
use seatkeeper::policy::Policy;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

const RUNS: usize = 9;

/// CPU time of this thread in nanoseconds (Linux), `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn median_ms(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Plans `RUNS` times; returns (median wall ms, median CPU ms, the last plan).
fn time(policy: &Policy, live: &LiveState, ledger: &Ledger) -> (f64, f64, Plan) {
    let input = PlanInput {
        policy,
        live,
        ledger,
        now: synth_now(),
        actor: None,
        policy_commit: None,
        allow_mass_removal: false,
    };
    let mut wall = Vec::with_capacity(RUNS);
    let mut cpu = Vec::with_capacity(RUNS);
    // Plans are kept until the end: a real run plans once, so freeing one run's plan must not
    // be timed in the next.
    let mut plans = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let cpu_start = thread_cpu_ns();
        let start = Instant::now();
        let p = plan(&input);
        wall.push(start.elapsed().as_secs_f64() * 1e3);
        if let (Some(a), Some(b)) = (cpu_start, thread_cpu_ns()) {
            cpu.push(b.saturating_sub(a) as f64 / 1e6);
        }
        plans.push(p);
    }
    let last = plans.pop().expect("at least one run");
    (median_ms(wall), median_ms(cpu), last)
}

/// Applies a plan's actions to the snapshot and returns the audit lines apply would write.
fn apply(p: &Plan, live: &mut LiveState) -> Vec<AuditRecord> {
    let by_id: HashMap<String, usize> = live
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.clone(), i))
        .collect();
    let removed: HashSet<(&str, &str)> = p
        .actions
        .iter()
        .filter(|a| a.kind == ActionKind::Remove)
        .map(|a| (a.group_id.as_str(), a.account_id.as_str()))
        .collect();
    for g in &mut live.groups {
        let id = g.id.clone();
        g.members
            .retain(|m| !removed.contains(&(id.as_str(), m.as_str())));
    }
    let mut records = Vec::new();
    let mut line = |kind, product: &str, group: &str, group_id: &str, account: &str, rule: &str| {
        records.push(AuditRecord {
            time: p.generated_at,
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
            prev_hash: String::new(),
            hash: String::new(),
        })
    };
    for a in &p.actions {
        if a.kind == ActionKind::Add {
            if let Some(&g) = by_id.get(&a.group_id) {
                live.groups[g].members.push(a.account_id.clone());
            }
        }
        let kind = if a.kind == ActionKind::Add {
            AuditKind::Add
        } else {
            AuditKind::Remove
        };
        line(
            kind,
            &a.product,
            &a.group,
            &a.group_id,
            &a.account_id,
            a.rule.as_str(),
        );
    }
    for o in &p.observed {
        line(
            AuditKind::Observed,
            &o.product,
            &o.group,
            &o.group_id,
            &o.account_id,
            "drift",
        );
    }
    records
}

fn report(name: &str, users: usize, products: usize, (wall, cpu, p): &(f64, f64, Plan)) {
    let (adds, removes) = p.counts();
    println!(
        "plan, {name}: {users} users x {products} products x 2 groups: median {wall:.1} ms wall, {cpu:.1} ms CPU over {RUNS} runs; {adds} adds, {removes} removes, {} blocked, {} notices",
        p.blocked.len(),
        p.notices.len(),
    );
}

fn main() {
    let users = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    let (policy, generated) = synth_org(users, 42);
    // Plan a snapshot as a real run reads it: from JSON. (The generated state stays alive so
    // that freeing it is not timed.)
    let json = serde_json::to_vec(&generated).expect("serialize the snapshot");
    let mut live: LiveState = serde_json::from_slice(&json).expect("read the snapshot");
    let products = policy.products.len();

    let first = time(&policy, &live, &Ledger::empty());
    report("first run", users, products, &first);

    let records = apply(&first.2, &mut live);
    let ledger = Ledger::from_records(&records);
    let steady = time(&policy, &live, &ledger);
    report("steady state", users, products, &steady);
}
