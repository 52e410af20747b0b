//! Times the pure plan step on a synthetic org: 100,000 users × 5 products × 2 grant groups.
//! Prints the median of several runs. Run with `cargo bench --bench plan`
//! (`cargo bench --bench plan -- 20000` for another size).

#![allow(clippy::print_stdout)]

use seatkeeper::ledger::Ledger;
use seatkeeper::planner::synth::{synth_now, synth_org};
use seatkeeper::planner::{plan, PlanInput};
use std::time::Instant;

const RUNS: usize = 9;

fn main() {
    let users = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    let (policy, live) = synth_org(users, 42);
    let ledger = Ledger::empty();
    let input = PlanInput {
        policy: &policy,
        live: &live,
        ledger: &ledger,
        now: synth_now(),
        actor: None,
        policy_commit: None,
        allow_mass_removal: false,
    };
    let mut times = Vec::with_capacity(RUNS);
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        let p = plan(&input);
        times.push(start.elapsed());
        last = Some(p);
    }
    times.sort();
    let median = times[RUNS / 2];
    let (adds, removes) = last.as_ref().map(|p| p.counts()).unwrap_or_default();
    let blocked = last.as_ref().map_or(0, |p| p.blocked.len());
    let notices = last.as_ref().map_or(0, |p| p.notices.len());
    println!(
        "plan: {users} users x {} products x 2 groups: median {:.1} ms over {RUNS} runs (min {:.1} ms, max {:.1} ms); {adds} adds, {removes} removes, {blocked} blocked, {notices} notices",
        policy.products.len(),
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3,
    );
    if let Some(p) = &last {
        let mut rails = std::collections::BTreeMap::new();
        for b in &p.blocked {
            *rails.entry(b.rail.as_str()).or_insert(0usize) += 1;
        }
        let mut kinds = std::collections::BTreeMap::new();
        for n in &p.notices {
            *kinds.entry(n.kind.as_str()).or_insert(0usize) += 1;
        }
        println!(
            "blocked by rail: {rails:?}; notices by kind: {kinds:?}; seats: {:?}",
            p.seats
        );
    }
}
