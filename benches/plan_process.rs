//! The whole `seatkeeper plan` process on a synthetic org: 100,000 users × 5 products × 2 grant
//! groups (seed 42).
//!
//! It writes the org into a temporary folder (the policy as YAML through
//! `policy::write::to_yaml`, committed to a fresh git repository like a real policy repo, and the
//! live state as a pretty-printed snapshot like `export --snapshot` writes), then runs the release
//! binary that cargo builds for benches,
//!
//! ```text
//! seatkeeper plan --policy DIR --snapshot FILE --at 2026-11-25T08:00:00Z --format json > /dev/null
//! ```
//!
//! several times and prints the median and minimum wall time of the process and its peak
//! resident memory (the child's `VmHWM`, polled from `/proc` every millisecond). It then times
//! the same steps in process through the library: load and validate the policy, load the
//! snapshot, plan, render JSON.
//!
//! Run with `cargo bench --bench plan_process` (`-- 20000` for another size, `-- --runs 15`
//! for more runs, `-- --keep` to keep the org on disk for profiling and stop after the process
//! runs). Targets on a 2-core machine: the process under 600 ms, peak RSS under 200 MB.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use seatkeeper::ledger::Ledger;
use seatkeeper::planner::synth::{synth_now, synth_org};
use seatkeeper::planner::{plan, PlanInput};
use seatkeeper::policy::write::to_yaml;
use seatkeeper::render::{self, Format, RenderOptions};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const AT: &str = "2026-11-25T08:00:00Z";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs_at = args.iter().position(|a| a == "--runs");
    let runs = runs_at
        .and_then(|i| args.get(i + 1)?.parse::<usize>().ok())
        .unwrap_or(9)
        .max(1);
    let users = args
        .iter()
        .enumerate()
        .filter(|(i, _)| runs_at.is_none_or(|r| *i != r + 1))
        .find_map(|(_, a)| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    let exe = Path::new(env!("CARGO_BIN_EXE_seatkeeper"));

    // The org on disk.
    let start = Instant::now();
    let (policy, live) = synth_org(users, 42);
    let tmp = tempfile::tempdir().unwrap();
    let policy_dir = tmp.path().join("policy");
    let files = to_yaml(&policy);
    let mut policy_bytes = 0;
    for (path, text) in &files {
        let full = policy_dir.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, text).unwrap();
        policy_bytes += text.len();
    }
    commit_all(&policy_dir);
    let snapshot = tmp.path().join("snapshot.json");
    let mut json = serde_json::to_vec_pretty(&live).unwrap();
    json.push(b'\n');
    std::fs::write(&snapshot, &json).unwrap();
    println!(
        "org: {users} users, {} products x 2 groups, {} safe users in {} policy files ({:.1} MiB), \
         snapshot {:.1} MiB, {} events; written in {:.1} s",
        policy.products.len(),
        policy.users.len(),
        files.len(),
        mib(policy_bytes),
        mib(json.len()),
        live.events.len(),
        start.elapsed().as_secs_f64(),
    );
    drop(json);

    // The process: once with the plan kept (to count it), then timed with stdout to /dev/null.
    let plan_file = tmp.path().join("plan.json");
    let stderr_file = tmp.path().join("stderr.txt");
    let command = |stdout: Stdio| {
        let mut c = Command::new(exe);
        c.arg("plan")
            .arg("--policy")
            .arg(&policy_dir)
            .arg("--snapshot")
            .arg(&snapshot)
            .args(["--at", AT, "--format", "json"])
            .stdout(stdout)
            .stderr(std::fs::File::create(&stderr_file).unwrap())
            .env_remove("SEATKEEPER_API_BASE");
        c
    };
    let (_, _) = run_measured(command(std::fs::File::create(&plan_file).unwrap().into()));
    let stderr = std::fs::read_to_string(&stderr_file).unwrap_or_default();
    let text = std::fs::read_to_string(&plan_file).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("the plan is not JSON ({e}); stderr:\n{stderr}");
    });
    let count = |key: &str| value[key].as_array().map_or(0, Vec::len);
    let adds = value["actions"]
        .as_array()
        .map_or(0, |a| a.iter().filter(|x| x["kind"] == "add").count());
    println!(
        "plan: {} actions ({adds} add, {} remove), {} blocked, {} notices; JSON {:.1} MiB; {} stderr lines",
        count("actions"),
        count("actions") - adds,
        count("blocked"),
        count("notices"),
        mib(text.len()),
        stderr.lines().count(),
    );
    drop((text, value));

    let mut walls = Vec::with_capacity(runs);
    let mut peak = 0u64;
    for _ in 0..runs {
        let (wall, hwm) = run_measured(command(Stdio::null()));
        walls.push(wall);
        peak = peak.max(hwm);
    }
    walls.sort();
    println!(
        "process: `seatkeeper plan --format json > /dev/null`: median {:.0} ms, min {:.0} ms, \
         max {:.0} ms over {runs} runs; peak RSS {:.1} MB ({:.1} MiB)",
        ms(walls[runs / 2]),
        ms(walls[0]),
        ms(walls[runs - 1]),
        peak as f64 * 1024.0 / 1e6,
        peak as f64 / 1024.0,
    );

    if args.iter().any(|a| a == "--keep") {
        let dir = tmp.keep();
        println!("kept the org in {}", dir.display());
        return;
    }

    // The same steps in process, through the library.
    drop((policy, live));
    let mut steps: Vec<[Duration; 5]> = Vec::new();
    for _ in 0..runs.min(5) {
        let t = Instant::now();
        let loaded = seatkeeper::files::load_policy_dir(&policy_dir).unwrap();
        let policy_commit = seatkeeper::gitinfo::policy_commit(&policy_dir);
        let t_policy = t.elapsed();
        let t = Instant::now();
        let live = seatkeeper::files::load_snapshot(&snapshot).unwrap();
        let t_snapshot = t.elapsed();
        let t = Instant::now();
        let ledger = Ledger::empty();
        let input = PlanInput {
            policy: &loaded.policy,
            live: &live,
            ledger: &ledger,
            now: synth_now(),
            actor: None,
            policy_commit: policy_commit.as_ref().map(|c| c.commit.as_str()),
            allow_mass_removal: false,
        };
        let p = plan(&input);
        let t_plan = t.elapsed();
        let t = Instant::now();
        let mut out = Vec::new();
        render::render(&p, Format::Json, &RenderOptions::PLAIN, &mut out).unwrap();
        let t_render = t.elapsed();
        let t = Instant::now();
        drop((p, out, live, loaded));
        let t_drop = t.elapsed();
        steps.push([t_policy, t_snapshot, t_plan, t_render, t_drop]);
    }
    let median = |i: usize| {
        let mut v: Vec<Duration> = steps.iter().map(|s| s[i]).collect();
        v.sort();
        ms(v[v.len() / 2])
    };
    println!(
        "in process (median of {}): load policy {:.0} ms, load snapshot {:.0} ms, plan {:.0} ms, \
         render JSON {:.0} ms, free {:.0} ms; total {:.0} ms",
        steps.len(),
        median(0),
        median(1),
        median(2),
        median(3),
        median(4),
        (0..5).map(median).sum::<f64>(),
    );
}

/// Runs `command` to completion: its wall time and its peak RSS in KiB (`VmHWM`, polled).
fn run_measured(mut command: Command) -> (Duration, u64) {
    let start = Instant::now();
    let mut child = command.spawn().expect("run target/release/seatkeeper");
    let status_path = format!("/proc/{}/status", child.id());
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !done.load(Ordering::Relaxed) {
                // Gone (or a zombie without memory) once the child exits.
                let Ok(text) = std::fs::read_to_string(&status_path) else {
                    break;
                };
                if let Some(kib) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak = peak.max(kib);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            peak
        })
    };
    let status = child.wait().unwrap();
    let wall = start.elapsed();
    done.store(true, Ordering::Relaxed);
    let peak = poller.join().unwrap();
    assert!(status.success(), "seatkeeper plan failed: {status}");
    (wall, peak)
}

/// Commits the policy folder to a new git repository, as a policy repo would be.
fn commit_all(dir: &Path) {
    let repo = git2::Repository::init(dir).unwrap();
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("bench", "bench@example.com").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "synthetic policy", &tree, &[])
        .unwrap();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
