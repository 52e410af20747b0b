//! Times `report::generate` (plan, explain every user, build the report) and each renderer on a
//! synthetic org. Prints medians. Run with `cargo bench --bench report`
//! (`cargo bench --bench report -- 100000` for another size; the default is 20,000 users).

#![allow(clippy::print_stdout)]

use seatkeeper::ledger::Ledger;
use seatkeeper::planner::synth::{synth_now, synth_org};
use seatkeeper::planner::PlanInput;
use seatkeeper::report::{self, ReportFormat, ReportOptions};
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

fn main() {
    let users = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(20_000);
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
    let opts = ReportOptions::default();
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        last = report::generate(&input, &opts).ok();
        times.push(start.elapsed());
    }
    let Some(built) = last else {
        println!("report::generate failed");
        return;
    };
    let holders = built.holders().count();
    println!(
        "report::generate: {users} users, {holders} holder rows: median {:?} of {RUNS} runs",
        median(times)
    );
    for format in [
        ReportFormat::Markdown,
        ReportFormat::Csv,
        ReportFormat::Json,
        ReportFormat::Html,
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..RUNS {
            let mut out = Vec::new();
            let start = Instant::now();
            let _ = report::render(&built, format, &mut out);
            times.push(start.elapsed());
            size = out.len();
        }
        println!(
            "render {:>8}: {size} bytes: median {:?}",
            format.as_str(),
            median(times)
        );
    }
}
