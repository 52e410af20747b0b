//! Apply benchmark: 2,000 membership writes through the real `seatkeeper apply PLAN` (the
//! binary, as a child process) against the in-process sandbox with 20 ms of latency on every
//! API request and a rate limit of 100 requests/s.
//!
//! `cargo bench --bench apply_live -- [WRITES] [RATE_PER_SECOND] [LATENCY_MS]` (defaults: 2000,
//! 100, 20).
//!
//! The sandbox gives every `METHOD /route/template` its own token bucket (burst = rate), so
//! admin v2 `POST .../memberships` (adds) and `DELETE .../memberships/{accountId}` (removes)
//! are *separate* budgets. Two scenarios are run, each on a fresh sandbox:
//!
//! - `removes`: 2,000 removals, all in one bucket: the issue's "2,000 changes under 100/s"
//!   (target: at most 23 s, 1.15x the floor);
//! - `mixed`: 1,000 adds and 1,000 removes, two buckets in parallel, so the floor halves.
//!
//! The floor of one apply (a lower bound, not a guess):
//!
//! ```text
//! floor = L                                  GET myself (the `self` rail)
//!       + ceil(U / 100) * L                  stale-plan check: the admin user listing filtered to
//!                                            the touched groups, U users, 100 a page, sequential
//!       + max( max_bucket (n_b - burst) / r  the last write of the fullest bucket cannot be
//!                                            accepted earlier (the bucket starts full)
//!              , N * L / P ) + L             nor can N writes of latency L on P connections
//!                                            finish faster; the last answer takes L
//! ```
//!
//! with L the injected latency, r the rate, P the apply's `--parallelism` (8). Process start,
//! policy load and the audit log (one flushed line per write) are not in the floor.
//!
//! Printed: wall time vs floor, failed actions (exit code and audit log), and the sandbox's
//! `/__sandbox/stats` counters `writes_applied` and `duplicate_writes` (must be N and 0), plus
//! the 429s the client met.

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::print_stderr)]

use chrono::Utc;
use seatkeeper::live::{AccountStatus, AccountType, LiveState};
use seatkeeper::plan::{
    fingerprint_members, Action, ActionKind, Evidence, Plan, Rule, PLAN_FORMAT_VERSION,
};
use seatkeeper::sandbox::{self, generate, OrgSource, RateLimitConfig, SandboxConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const USERS: usize = 4000;
const PARALLELISM: usize = 8;
const ADMIN_PAGE: u64 = 100;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let writes: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let rate: f64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100.0);
    let latency = Duration::from_millis(args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "apply {writes} writes, sandbox rate limit {rate}/s per endpoint+method (burst {}), latency {} ms, --parallelism {PARALLELISM}, org of {USERS} users",
        rate.ceil(),
        latency.as_millis()
    );
    let mut ok = true;
    for scenario in [Scenario::Removes, Scenario::Mixed] {
        ok &= runtime.block_on(run(scenario, writes, rate, latency));
    }
    println!(
        "apply targets: {}",
        if ok { "all met" } else { "MISSED (see above)" }
    );
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Scenario {
    /// Every write a removal: one rate-limit bucket.
    Removes,
    /// Half adds, half removals: two buckets.
    Mixed,
}

fn action(
    kind: ActionKind,
    product: &str,
    group: &seatkeeper::live::Group,
    account: &str,
) -> Action {
    Action {
        kind,
        product: product.into(),
        group: group.name.clone(),
        group_id: group.id.clone(),
        account_id: account.into(),
        email: None,
        rule: match kind {
            ActionKind::Add => Rule::Eligible,
            ActionKind::Remove => Rule::NotEligible,
        },
        reason: "benchmark".into(),
        evidence: Evidence::default(),
    }
}

/// A plan of `writes` actions over existing users and groups, with the sandbox's fingerprints.
/// Removes take confluence members; adds put `jira-software-users-acme` members into
/// `jira-software-users-contractors` (same product, so no license seat is needed).
fn build_plan(state: &LiveState, scenario: Scenario, writes: usize, admin: &str) -> Plan {
    let group = |name: &str| state.groups.iter().find(|g| g.name == name).unwrap();
    let usable: BTreeSet<&str> = state
        .users
        .iter()
        .filter(|u| u.account_type == AccountType::Atlassian && u.status == AccountStatus::Active)
        .map(|u| u.account_id.as_str())
        .collect();
    let (adds, removes) = match scenario {
        Scenario::Removes => (0, writes),
        Scenario::Mixed => (writes / 2, writes - writes / 2),
    };
    let conf = group(generate::CONFLUENCE_GROUP);
    let jsw = group(generate::JSW_GROUP);
    let jswc = group(generate::JSW_CONTRACTORS_GROUP);
    let mut actions: Vec<Action> = conf
        .members
        .iter()
        .filter(|m| m.as_str() != admin)
        .take(removes)
        .map(|m| action(ActionKind::Remove, "confluence", conf, m))
        .collect();
    let in_jswc: BTreeSet<&str> = jswc.members.iter().map(String::as_str).collect();
    actions.extend(
        jsw.members
            .iter()
            .filter(|m| usable.contains(m.as_str()) && !in_jswc.contains(m.as_str()))
            .take(adds)
            .map(|m| action(ActionKind::Add, "jira-software", jswc, m)),
    );
    assert_eq!(
        actions.len(),
        writes,
        "the generated org is too small for {writes} writes"
    );
    actions.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let touched: BTreeSet<&str> = actions.iter().map(|a| a.group_id.as_str()).collect();
    let fingerprint = state
        .groups
        .iter()
        .filter(|g| touched.contains(g.id.as_str()))
        .map(|g| {
            (
                g.id.clone(),
                fingerprint_members(g.members.iter().map(String::as_str)),
            )
        })
        .collect();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        site: state.site.clone(),
        policy_commit: None,
        policy_dirty: false,
        generated_at: state.taken_at,
        actions,
        blocked: vec![],
        notices: vec![],
        observed: vec![],
        seats: BTreeMap::new(),
        announce: Vec::new(),
        requests: Vec::new(),
        events: None,
        first_run: false,
        safety_defaults: Vec::new(),
        policy_dir: None,
        fingerprint,
        warnings: vec![],
    }
}

fn write_policy(dir: &Path, site: &str, org_id: &str) {
    let yaml = format!(
        "version: 1\nsite: {site}\norg: {org_id}\n\
         products:\n\
         \x20 jira-software:\n    groups: [{}, {}]\n\
         \x20 confluence:\n    groups: [{}]\n\
         \x20 jira-servicedesk:\n    groups: [{}]\n\
         keep:\n  - group: site-admins\n  - account_type: app\n\
         ignore:\n  - account_type: customer\n\
         audit_log: audit/seatkeeper.jsonl\n",
        generate::JSW_GROUP,
        generate::JSW_CONTRACTORS_GROUP,
        generate::CONFLUENCE_GROUP,
        generate::JSM_GROUP,
    );
    std::fs::write(dir.join("seatkeeper.yaml"), yaml).unwrap();
}

fn stat(stats: &serde_json::Value, key: &str) -> u64 {
    stats.get(key).and_then(|v| v.as_u64()).unwrap_or(0)
}

/// Runs one scenario; true when every target is met.
async fn run(scenario: Scenario, writes: usize, rate: f64, latency: Duration) -> bool {
    let now = Utc::now();
    let burst = rate.ceil() as u32;
    let config = SandboxConfig {
        now: Some(now),
        latency,
        rate_limit: Some(RateLimitConfig {
            per_second: rate,
            burst,
        }),
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(
        &OrgSource::Generate {
            users: USERS,
            seed: 7,
        },
        &config,
    )
    .unwrap();
    let running = sandbox::serve(config, org).await.unwrap();
    let state = running.snapshot();
    let admin = state
        .users
        .iter()
        .find(|u| u.email.as_deref() == Some(sandbox::DEFAULT_EMAIL))
        .map(|u| u.account_id.clone())
        .unwrap_or_default();
    let plan = build_plan(&state, scenario, writes, &admin);

    // The floor.
    let touched: BTreeSet<&str> = plan.fingerprint.keys().map(String::as_str).collect();
    let directory: BTreeSet<&str> = state
        .users
        .iter()
        .filter(|u| u.account_type != AccountType::Customer)
        .map(|u| u.account_id.as_str())
        .collect();
    let reread_users: BTreeSet<&str> = state
        .groups
        .iter()
        .filter(|g| touched.contains(g.id.as_str()))
        .flat_map(|g| g.members.iter().map(String::as_str))
        .filter(|m| directory.contains(m))
        .collect();
    let reread_pages = (reread_users.len() as u64).div_ceil(ADMIN_PAGE).max(1);
    let mut per_bucket: BTreeMap<ActionKind, u64> = BTreeMap::new();
    for a in &plan.actions {
        *per_bucket.entry(a.kind).or_default() += 1;
    }
    let l = latency.as_secs_f64();
    let bucket_bound = per_bucket
        .values()
        .map(|&n| n.saturating_sub(u64::from(burst)) as f64 / rate)
        .fold(0.0, f64::max);
    let concurrency_bound = writes as f64 * l / PARALLELISM as f64;
    let floor = l + reread_pages as f64 * l + bucket_bound.max(concurrency_bound) + l;

    let dir = tempfile::tempdir().unwrap();
    write_policy(dir.path(), &state.site, &running.org_id());
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, serde_json::to_vec_pretty(&plan).unwrap()).unwrap();
    let before = running.stats();

    let base = running.base_url();
    let plan_arg = plan_path.to_str().unwrap().to_string();
    let policy_arg = dir.path().to_str().unwrap().to_string();
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_seatkeeper"))
            .args([
                "apply",
                &plan_arg,
                "--policy",
                &policy_arg,
                "--auto-approve",
                "--parallelism",
                &PARALLELISM.to_string(),
            ])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SEATKEEPER_API_BASE", base)
            .env("ATLASSIAN_EMAIL", sandbox::DEFAULT_EMAIL)
            .env("ATLASSIAN_API_TOKEN", sandbox::DEFAULT_API_TOKEN)
            .env("ATLASSIAN_ADMIN_API_KEY", sandbox::DEFAULT_ADMIN_API_KEY)
            .env("SEATKEEPER_ACTOR", "bench")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let wall = started.elapsed().as_secs_f64();
    let stats = running.stats();
    running.shutdown().await;

    let audit =
        std::fs::read_to_string(dir.path().join("audit/seatkeeper.jsonl")).unwrap_or_default();
    let (mut logged_ok, mut logged_failed) = (0usize, 0usize);
    for line in audit.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        match v.get("result").and_then(|r| r.as_str()) {
            Some("ok") => logged_ok += 1,
            Some("failed") => logged_failed += 1,
            _ => {}
        }
    }
    let code = output.status.code();
    let applied = stat(&stats, "writes_applied") - stat(&before, "writes_applied");
    let duplicates = stat(&stats, "duplicate_writes") - stat(&before, "duplicate_writes");
    let refused = stat(&stats, "refused_writes") - stat(&before, "refused_writes");
    let limited = stat(&stats, "rate_limited") - stat(&before, "rate_limited");
    let requests: u64 = stats
        .get("requests")
        .and_then(|r| r.as_object())
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    let ratio = wall / floor;
    let buckets: Vec<String> = per_bucket
        .iter()
        .map(|(k, n)| format!("{n} {}s", k.as_str()))
        .collect();
    println!();
    println!(
        "scenario {:?}: {} ({} bucket{}), re-read {} users in {} pages",
        scenario,
        buckets.join(" + "),
        per_bucket.len(),
        if per_bucket.len() == 1 { "" } else { "s" },
        reread_users.len(),
        reread_pages
    );
    println!(
        "  wall {wall:.2} s (floor {floor:.2} s, ratio {ratio:.3}); exit {code:?}; audit ok {logged_ok}, failed {logged_failed}"
    );
    println!(
        "  sandbox: writes_applied {applied} (expected {writes}), duplicate_writes {duplicates}, refused_writes {refused}, 429s {limited}, API requests {requests}"
    );
    let mut met = code == Some(0)
        && logged_failed == 0
        && logged_ok == writes
        && applied == writes as u64
        && duplicates == 0
        && ratio <= 1.15;
    if scenario == Scenario::Removes && writes == 2000 && rate == 100.0 {
        met &= wall <= 23.0;
        println!(
            "  target (issue 4): <= 23 s, no failed action, no duplicate write: {}",
            if met { "ok" } else { "MISSED" }
        );
    } else {
        println!(
            "  target: <= 1.15x floor, no failed action, no duplicate write: {}",
            if met { "ok" } else { "MISSED" }
        );
    }
    if code != Some(0) {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    met
}
