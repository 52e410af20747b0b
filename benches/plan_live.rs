//! Live plan benchmark: `seatkeeper plan` (no `--snapshot`: it reads the org through the admin
//! API) against a generated 100,000-user sandbox org with 20 ms of latency on every API request.
//!
//! `cargo bench --bench plan_live -- [USERS] [LATENCY_MS]` (defaults: 100000, 20).
//!
//! The sandbox runs in this process; the plan runs in a child process (this bench binary
//! re-executed with `--child-plan`), which calls `seatkeeper::cli::run` exactly like the
//! `seatkeeper` binary's `main` does, then reports its own peak resident memory (`VmHWM` from
//! `/proc/self/status`, exact: read after the plan is rendered and saved, before exiting). So
//! the peak printed is the plan's alone; the sandbox's memory is not in it. Target: < 500 MB.
//!
//! The policy matches what `sandbox::generate` builds: `jira-software` (two grant groups),
//! `confluence` and `jira-servicedesk` with inactivity rules, `employees` (the IdP-synced
//! group) as `eligible_groups`, `site-admins` and apps kept, portal customers ignored.
//!
//! Also printed: the floor of the live read, `(1 + C) * L` with C = ceil(directory users / 100)
//! admin `users/search` pages (cursor paging: one after the other; the events stream and group
//! search run alongside) and 1 for `GET myself` before it.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::print_stderr)]

use chrono::Utc;
use clap::Parser;
use seatkeeper::sandbox::{self, generate, OrgSource, SandboxConfig};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if let Some(pos) = argv.iter().position(|a| a == "--child-plan") {
        child(&argv[pos + 1..]);
        return;
    }
    let args: Vec<String> = argv
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    let users: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let latency = Duration::from_millis(args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(parent(users, latency));
}

/// The child: `seatkeeper plan ARGS...` in-process, then its own peak memory on stdout's last
/// line as `VmHWM <KiB>`.
fn child(args: &[String]) {
    let cli = seatkeeper::cli::Cli::parse_from(
        std::iter::once("seatkeeper".to_string()).chain(args.iter().cloned()),
    );
    let env = seatkeeper::cli::Env::from_process();
    let mut sink = std::io::sink();
    let mut err = std::io::stderr();
    let status = match seatkeeper::cli::run(cli, &env, &mut sink, &mut err) {
        Ok(s) => s.code(),
        Err(e) => {
            eprintln!("{}", e.render());
            1
        }
    };
    println!("status {status}");
    println!("VmHWM {}", vm_hwm_kib().unwrap_or(0));
}

fn write_policy(dir: &Path, site: &str, org_id: &str) {
    let yaml = format!(
        "version: 1\nsite: {site}\norg: {org_id}\n\
         products:\n\
         \x20 jira-software:\n    groups: [{}, {}]\n    inactivity: 90d\n    notice: 14d\n    grace: 2d\n\
         \x20 confluence:\n    groups: [{}]\n    inactivity: 120d\n    notice: 21d\n\
         \x20 jira-servicedesk:\n    groups: [{}]\n    inactivity: 60d\n    drift: report\n\
         users:\n  - email: {}\n\
         eligible_groups: [{}]\n\
         keep:\n  - email: {}\n  - group: site-admins\n  - account_type: app\n\
         ignore:\n  - account_type: customer\n\
         audit_log: audit/seatkeeper.jsonl\n",
        generate::JSW_GROUP,
        generate::JSW_CONTRACTORS_GROUP,
        generate::CONFLUENCE_GROUP,
        generate::JSM_GROUP,
        sandbox::DEFAULT_EMAIL,
        generate::SYNCED_GROUP,
        sandbox::DEFAULT_EMAIL,
    );
    std::fs::write(dir.join("seatkeeper.yaml"), yaml).unwrap();
}

async fn parent(users: usize, latency: Duration) {
    let config = SandboxConfig {
        now: Some(Utc::now()),
        latency,
        ..SandboxConfig::default()
    };
    let started = Instant::now();
    let org = sandbox::load_org(&OrgSource::Generate { users, seed: 42 }, &config).unwrap();
    let running = sandbox::serve(config, org).await.unwrap();
    let (n_users, n_groups) = running.counts();
    println!(
        "sandbox: {n_users} users, {n_groups} groups, latency {} ms, started in {:.2} s",
        latency.as_millis(),
        started.elapsed().as_secs_f64()
    );
    let snapshot = running.snapshot();
    let site = snapshot.site.clone();
    // The floor of the live read: GET myself, then the admin user listing (100 a page, cursor
    // pages one after the other) alongside the events stream and the group search.
    let directory = snapshot
        .users
        .iter()
        .filter(|u| u.account_type != seatkeeper::live::AccountType::Customer)
        .count() as u64;
    let since = snapshot.taken_at - chrono::TimeDelta::days(30);
    let events = snapshot.events.iter().filter(|e| e.time >= since).count() as u64;
    let chain = directory.div_ceil(100).max(
        events
            .div_ceil(u64::from(seatkeeper::atlassian::EVENTS_PAGE_MAX))
            .max(1),
    );
    let floor = (1 + chain) as f64 * latency.as_secs_f64();
    drop(snapshot);
    let dir = tempfile::tempdir().unwrap();
    write_policy(dir.path(), &site, &running.org_id());
    let plan_path = dir.path().join("plan.json");
    let before = running.stats();

    let base = running.base_url();
    let policy_arg = dir.path().to_str().unwrap().to_string();
    let plan_arg = plan_path.to_str().unwrap().to_string();
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--child-plan",
                "plan",
                "--policy",
                &policy_arg,
                "--out",
                &plan_arg,
                "--color",
                "never",
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SEATKEEPER_API_BASE", base)
            .env("ATLASSIAN_EMAIL", sandbox::DEFAULT_EMAIL)
            .env("ATLASSIAN_API_TOKEN", sandbox::DEFAULT_API_TOKEN)
            .env("ATLASSIAN_ADMIN_API_KEY", sandbox::DEFAULT_ADMIN_API_KEY)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let wall = started.elapsed().as_secs_f64();
    let stats = running.stats();
    running.shutdown().await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    let field = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let hwm = field("VmHWM ").unwrap_or(0);
    let status = field("status ");
    let requests = |s: &serde_json::Value| -> u64 {
        s.get("requests")
            .and_then(|r| r.as_object())
            .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0)
    };
    let plan: serde_json::Value = std::fs::read(&plan_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let count = |k: &str| plan.get(k).and_then(|v| v.as_array()).map_or(0, Vec::len);
    println!(
        "plan (live read + plan + render + save): {} actions, {} blocked, {} notices; exit {status:?}; {} API requests",
        count("actions"),
        count("blocked"),
        count("notices"),
        requests(&stats) - requests(&before),
    );
    println!(
        "wall {wall:.2} s (read floor {floor:.2} s: {chain} sequential pages + myself at {} ms); peak memory of the plan process (VmHWM) {:.1} MiB (target < 500 MB: {})",
        latency.as_millis(),
        hwm as f64 / 1024.0,
        if hwm > 0 && (hwm as f64) * 1024.0 < 500e6 && status == Some(0) {
            "ok"
        } else {
            "MISSED"
        }
    );
    if status != Some(0) {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
}
