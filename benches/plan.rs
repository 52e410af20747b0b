//! Times the pure plan step on a synthetic org: 100,000 users × 5 products × 2 grant groups,
//! laid out as seatkeeper's `export` writes one, and read as a run reads it (the policy from
//! YAML files, the snapshot from JSON). Only `planner::plan` is timed.
//!
//! Two scenarios, each the median of several runs:
//! - *first run*: the generated org as is, never managed by seatkeeper (many changes);
//! - *steady state*: the same org after applying that plan, with its audit log as the ledger
//!   (what a daily scheduled job sees).
//!
//! Prints the median wall time and the mean CPU time of all the process's threads (Linux), since
//! wall time on a busy machine says little and the planner uses two threads. Run with
//! `cargo bench --bench plan` (`cargo bench --bench plan -- 20000` for another size).

#![allow(clippy::print_stdout)]

use seatkeeper::files::load_policy_dir as load_dir;
use seatkeeper::ledger::{AuditKind, AuditRecord, AuditResult, Ledger};
use seatkeeper::live::LiveState;
use seatkeeper::plan::{ActionKind, Plan};
use seatkeeper::planner::synth::{synth_now, synth_org};
use seatkeeper::planner::{plan, PlanInput};
use seatkeeper::policy::write::to_yaml;
use seatkeeper::policy::Policy;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

const RUNS: usize = 9;

/// User plus system CPU time of the whole process in milliseconds, ended threads included
/// (Linux), `None` elsewhere. The kernel counts it in ticks of 10 ms (`USER_HZ` is 100 on
/// Linux), so it is only read around all runs together.
fn process_cpu_ms() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let mut fields = text.rsplit_once(')')?.1.split_whitespace();
    // utime and stime are fields 14 and 15 of the line; the split starts at field 3.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 * 10.0)
}

fn median_ms(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Plans `RUNS` times; returns (median wall ms, mean CPU ms of all threads, the last plan).
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
    // Plans are kept until the end: a real run plans once, so freeing one run's plan must not
    // be timed in the next.
    let mut plans = Vec::with_capacity(RUNS);
    let cpu_start = process_cpu_ms();
    for _ in 0..RUNS {
        let start = Instant::now();
        let p = plan(&input);
        wall.push(start.elapsed().as_secs_f64() * 1e3);
        plans.push(p);
    }
    let cpu = match (cpu_start, process_cpu_ms()) {
        (Some(a), Some(b)) => (b - a) / RUNS as f64,
        _ => f64::NAN,
    };
    let last = plans.pop().expect("at least one run");
    (median_ms(wall), cpu, last)
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
            reclaim_on: None,
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
        "plan, {name}: {users} users x {products} products x 2 groups: median {wall:.1} ms wall, mean {cpu:.0} ms CPU (all threads) over {RUNS} runs; {adds} adds, {removes} removes, {} blocked, {} notices",
        p.blocked.len(),
        p.notices.len(),
    );
}

fn main() {
    let users = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    let (generated_policy, generated) = synth_org(users, 42);
    // Plan a policy and a snapshot as a real run reads them: from YAML files and from JSON, so
    // that their strings sit in memory in file order. (The generated org stays alive so that
    // freeing it is not timed.)
    let dir = tempfile::tempdir().expect("a temporary folder");
    for (path, text) in to_yaml(&generated_policy) {
        let full = dir.path().join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("create the policy folder");
        }
        std::fs::write(&full, text).expect("write the policy");
    }
    let policy = match load_dir(dir.path()) {
        Ok(loaded) => loaded.policy,
        Err(diagnostics) => panic!("the generated policy does not load: {diagnostics:?}"),
    };
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
