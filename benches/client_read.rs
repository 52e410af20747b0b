//! Read benchmark: how many requests the client makes to read a generated org, against the
//! minimum the APIs allow, and how long it takes against the floor that latency, paging,
//! concurrency and the rate limit allow, on both read paths. Runs against the in-process sandbox
//! on 127.0.0.1:0 with injected latency on every API request.
//!
//! `cargo bench --bench client_read -- [USERS] [RATE_PER_SECOND] [LATENCY_MS]` (defaults:
//! 10000 users, no rate limit, 20 ms). The minimum is computed from the sandbox's own state:
//! user pages (1000 a page on the site path, until a short page; 100 a page on the admin path,
//! cursor until no `next`), one group lookup, member pages of 50 per group (site path), event
//! pages of 500 (admin path), and one `applicationrole` request.
//!
//! The floor (a lower bound on the wall time; L = injected latency, P = the client's
//! concurrency bound, 8 by default):
//!
//! ```text
//! floor = max( C * L + ceil(A / P) * L
//!                              C: the longest chain of requests that must run one after the
//!                              other (cursor or "until a short page" paging; on the site path
//!                              also group/bulk -> first member page -> the other pages); A: the
//!                              requests that wait for it (admin: the v1 last-active reads of
//!                              the people holding two Jira products)
//!            , N * L / P       N requests of latency L on at most P connections
//!            , max_e (n_e - burst) / r + L )   with a rate limit r per endpoint+method: the
//!                              last of the n_e requests to endpoint e cannot be let in earlier
//! ```
//!
//! `BENCH_PARALLELISM` sets P (the client's `--parallelism`).
//!
//! Printed per path: `requests X (minimum X), wall T (floor F, ratio R)`. Targets: requests equal
//! to the minimum, ratio within 1.2.
//!
//! `cargo bench --bench client_read -- budgets [USERS...]` (default 10000 100000) instead reads a
//! generated org the way `plan` does (`ops::read_request`: members of the policy's
//! groups and its safe users, listings side by side) through the admin API, against the
//! sandbox at the admin API's documented per-minute budgets with 50 ms latency, and compares
//! the wall time with the larger of the rate-limit floor and the cursor-chain floor (see
//! [`budgets`]). Target: ratio within 1.2, with the requests per path and the 429s printed.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use chrono::{TimeDelta, Utc};
use seatkeeper::atlassian::{
    Client, ClientConfig, CredentialSource, Credentials, ReadRequest, Secret,
};
use seatkeeper::live::AccountType;
use seatkeeper::sandbox::{self, generate, OrgSource, RateLimitConfig, SandboxConfig};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.first().map(String::as_str) == Some("budgets") {
        let sizes: Vec<usize> = args[1..].iter().filter_map(|a| a.parse().ok()).collect();
        let sizes = if sizes.is_empty() {
            vec![10_000, 100_000]
        } else {
            sizes
        };
        let server = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sandbox")
            .enable_all()
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut ok = true;
        for users in sizes {
            ok &= runtime.block_on(budgets(server.handle().clone(), users));
        }
        println!(
            "budget read targets (wall <= 1.2x max(rate floor, chain floor)): {}",
            if ok { "met" } else { "MISSED" }
        );
        return;
    }
    let users: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let rate: Option<f64> = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .filter(|r: &f64| *r > 0.0);
    let latency = Duration::from_millis(args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20));
    // The sandbox serves from its own runtime (its own threads), like a remote server; the
    // client runs on a runtime shaped like the CLI's (two workers).
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sandbox")
        .enable_all()
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(server.handle().clone(), users, rate, latency));
}

/// One read path's request shape, for the minimum and the floor.
struct Shape {
    label: &'static str,
    site: bool,
    admin: bool,
    /// Requests per endpoint (the minimum is their sum).
    per_endpoint: Vec<u64>,
    /// The longest chain of requests that must run one after the other.
    chain: u64,
    /// Requests that can only start once that chain has ended (the v1 last-active reads of the
    /// people the user listing shows holding two Jira products), spread over P connections.
    after_chain: u64,
}

async fn run(server: tokio::runtime::Handle, users: usize, rate: Option<f64>, latency: Duration) {
    let now = Utc::now();
    let config = SandboxConfig {
        now: Some(now),
        latency,
        rate_limit: rate.map(|r| RateLimitConfig {
            per_second: r,
            burst: r.ceil() as u32,
        }),
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(&OrgSource::Generate { users, seed: 1 }, &config).unwrap();
    let bare_config = SandboxConfig {
        now: Some(now),
        ..SandboxConfig::default()
    };
    let bare_org =
        sandbox::load_org(&OrgSource::Generate { users, seed: 1 }, &bare_config).unwrap();
    let running = server
        .spawn(sandbox::serve(config, org))
        .await
        .unwrap()
        .unwrap();
    let bare = server
        .spawn(sandbox::serve(bare_config, bare_org))
        .await
        .unwrap()
        .unwrap();
    let org_id = running.org_id();
    let snapshot = running.snapshot();
    let groups = [
        generate::JSW_GROUP,
        generate::JSW_CONTRACTORS_GROUP,
        generate::CONFLUENCE_GROUP,
        generate::JSM_GROUP,
        generate::SYNCED_GROUP,
        "site-admins",
    ];
    let request = ReadRequest {
        site: snapshot.site.clone(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        products: vec![
            "jira-software".into(),
            "confluence".into(),
            "jira-servicedesk".into(),
        ],
        product_groups: [
            (
                "jira-software",
                vec![generate::JSW_GROUP, generate::JSW_CONTRACTORS_GROUP],
            ),
            ("confluence", vec![generate::CONFLUENCE_GROUP]),
            ("jira-servicedesk", vec![generate::JSM_GROUP]),
        ]
        .iter()
        .map(|(p, gs)| (p.to_string(), gs.iter().map(|g| g.to_string()).collect()))
        .collect(),
        events_since: Some(now - TimeDelta::days(30)),
        now,
        licenses: true,
        members_only: false,
        safe_emails: vec![],
        safe_account_ids: vec![],
    };
    let member_pages: Vec<u64> = snapshot
        .groups
        .iter()
        .filter(|g| groups.contains(&g.name.as_str()))
        .map(|g| (g.members.len() as u64).div_ceil(50).max(1))
        .collect();
    let directory_users = snapshot
        .users
        .iter()
        .filter(|u| u.account_type == AccountType::Atlassian)
        .count() as u64;
    // People holding Jira Software and Jira Service Management: one v1 last-active read each.
    let member_of = |name: &str, account: &str| {
        snapshot
            .groups
            .iter()
            .any(|g| g.name == name && g.members.iter().any(|m| m == account))
    };
    let told_apart = snapshot
        .users
        .iter()
        .filter(|u| u.account_type == AccountType::Atlassian)
        .filter(|u| {
            (member_of(generate::JSW_GROUP, &u.account_id)
                || member_of(generate::JSW_CONTRACTORS_GROUP, &u.account_id))
                && member_of(generate::JSM_GROUP, &u.account_id)
        })
        .count() as u64;
    let events = snapshot
        .events
        .iter()
        .filter(|e| e.time >= now - TimeDelta::days(30))
        .count() as u64;
    let parallelism: usize = std::env::var("BENCH_PARALLELISM")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ClientConfig::default().parallelism);
    let client_config = ClientConfig {
        parallelism,
        ..ClientConfig::default()
    };
    println!(
        "org: {} users ({} in the directory), {} groups read, {} events in 30 days; latency {} ms, rate limit {}, client concurrency {parallelism}",
        snapshot.users.len(),
        directory_users,
        groups.len(),
        events,
        latency.as_millis(),
        rate.map_or("none".to_string(), |r| format!("{r}/s per endpoint+method")),
    );
    let site_user_pages = snapshot.users.len() as u64 / 1000 + 1;
    let admin_user_pages = directory_users.div_ceil(100).max(1);
    let event_pages = events
        .div_ceil(u64::from(seatkeeper::atlassian::EVENTS_PAGE_MAX))
        .max(1);
    let shapes = [
        Shape {
            label: "site (email + token)",
            site: true,
            admin: false,
            // users/search, group/bulk, group/member, applicationrole
            per_endpoint: vec![site_user_pages, 1, member_pages.iter().sum(), 1],
            // group/bulk -> first member page -> the other pages, at once
            chain: site_user_pages.max(if member_pages.iter().any(|&p| p > 1) {
                3
            } else {
                2
            }),
            after_chain: 0,
        },
        Shape {
            label: "admin (key) + site",
            site: true,
            admin: true,
            // users/search, groups/search (names, then one per product for its granting
            // groups), role assignments of the 4 grant groups, event-actions, events-stream,
            // v1 last-active dates of those holding two Jira products, applicationrole
            per_endpoint: vec![admin_user_pages, 1 + 3, 4, 1, event_pages, told_apart, 1],
            chain: admin_user_pages.max(1 + event_pages).max(3),
            after_chain: told_apart,
        },
    ];
    let l = latency.as_secs_f64();
    let mut ok = true;
    for shape in shapes {
        let minimum: u64 = shape.per_endpoint.iter().sum();
        let rate_bound = rate.map_or(0.0, |r| {
            let burst = r.ceil() as u64;
            shape
                .per_endpoint
                .iter()
                .map(|&n| n.saturating_sub(burst) as f64 / r + l)
                .fold(0.0, f64::max)
        });
        let after = shape.after_chain.div_ceil(parallelism as u64) as f64 * l;
        let floor = (shape.chain as f64 * l + after)
            .max(minimum as f64 * l / parallelism as f64)
            .max(rate_bound);
        let timed_read = |base: String| {
            let source = CredentialSource {
                email: shape.site.then(|| sandbox::DEFAULT_EMAIL.to_string()),
                api_token: shape.site.then(|| Secret::new(sandbox::DEFAULT_API_TOKEN)),
                admin_api_key: shape
                    .admin
                    .then(|| Secret::new(sandbox::DEFAULT_ADMIN_API_KEY)),
                api_base: Some(base),
            };
            let creds = Credentials::resolve(&snapshot.site, Some(&org_id), source).unwrap();
            let request = &request;
            let client_config = client_config.clone();
            async move {
                let client = Client::new(creds, client_config).unwrap();
                let started = Instant::now();
                let read = client.read_live(request).await.unwrap();
                (read, started.elapsed().as_secs_f64())
            }
        };
        let (read, wall) = timed_read(running.base_url()).await;
        // The same read with no latency and no rate limit: what the sandbox and the client spend
        // per request on this machine, which the floor does not count.
        let (bare_read, bare_wall) = timed_read(bare.base_url()).await;
        assert_eq!(
            bare_read.state, read.state,
            "the two sandboxes serve the same org"
        );
        let s = read.stats;
        let ratio = wall / floor;
        let met = s.requests == minimum && ratio <= 1.2;
        ok &= met;
        println!(
            "{:<20} requests {} (minimum {}), wall {:.3} s (floor {:.3} s, ratio {:.2}); chain {}, retries {}, 429s {}: {}",
            shape.label,
            s.requests,
            minimum,
            wall,
            floor,
            ratio,
            shape.chain,
            s.retries,
            s.rate_limited,
            if met { "ok" } else { "MISSED" }
        );
        println!(
            "{:<20} the same read at 0 ms latency: {:.3} s ({:.1} ms a step of max(chain, requests / concurrency))",
            "",
            bare_wall,
            bare_wall * 1000.0 / shape.chain.max(minimum / parallelism as u64) as f64,
        );
    }
    println!(
        "read targets (requests = minimum, wall <= 1.2x floor): {}",
        if ok { "met" } else { "MISSED" }
    );
    server
        .spawn(async move {
            running.shutdown().await;
            bare.shutdown().await;
        })
        .await
        .unwrap();
}

/// The policy of the budget benchmark: Jira Software and Confluence with their generated grant
/// groups, the synced `employees` group as eligible, `site-admins` kept, one safe user in 200 by
/// email, and inactivity rules whose longest window (90 + 2 + 14 days) sets the events read.
fn budget_policy(org_id: &str, safe: &[String]) -> seatkeeper::policy::Policy {
    let mut text = format!(
        "version: 1\nsite: acme.atlassian.net\norg: {org_id}\nproducts:\n  jira-software:\n    groups: [{}, {}]\n    inactivity: 90d\n    grace: 2d\n    notice: 14d\n  confluence:\n    groups: [{}]\n    inactivity: 60d\neligible_groups: [{}]\nkeep:\n  - group: site-admins\nusers:\n",
        generate::JSW_GROUP,
        generate::JSW_CONTRACTORS_GROUP,
        generate::CONFLUENCE_GROUP,
        generate::SYNCED_GROUP,
    );
    for e in safe {
        text.push_str(&format!("  - email: {e}\n"));
    }
    let files =
        seatkeeper::policy::source::MemFiles::new().with(seatkeeper::policy::MAIN_FILE, text);
    match seatkeeper::policy::load(&files) {
        Ok(l) => l.policy,
        Err(d) => panic!("the benchmark policy does not load: {d:?}"),
    }
}

/// A live read of a generated org through the admin API against the sandbox at its documented
/// per-minute budgets (events 50 a minute per path and 60 per user, last-active dates 200 per
/// org, other paths the sandbox's default 1000 per path) with 50 ms latency, as `plan` makes it
/// (`ops::read_request`). Two floors:
///
/// ```text
/// rate floor  = max over budgets b of (ceil(n_b / B_b) - 1) * 60 s + L
///                  n_b: requests the read made on b's paths, B_b: b's budget a minute
/// chain floor = the longest sequence of requests that must wait for each other, times L:
///               group search, then the longest members listing of one directory and 10
///               groups read from both ends (ceil(pages / 2) + 1 where they meet), then one
///               v1 last-active step when anyone holds two Jira products; beside it the
///               events (event-actions, then pages of 500) and the grants (role assignments,
///               then one granting-group search)
/// ```
///
/// Target: wall <= 1.2 x max(rate floor, chain floor). Prints requests, 429s and both floors.
async fn budgets(server: tokio::runtime::Handle, users: usize) -> bool {
    let latency = Duration::from_millis(50);
    let now = Utc::now();
    let config = SandboxConfig {
        now: Some(now),
        latency,
        admin_limits: Some(sandbox::AdminLimits::DOCUMENTED),
        ..SandboxConfig::default()
    };
    let started = Instant::now();
    let org = sandbox::load_org(&OrgSource::Generate { users, seed: 1 }, &config).unwrap();
    let generated = started.elapsed();
    let safe: Vec<String> = org
        .users()
        .iter()
        .filter(|u| u.account_type == AccountType::Atlassian)
        .filter_map(|u| u.email.clone())
        .step_by(200)
        .collect();
    let running = server
        .spawn(sandbox::serve(config, org))
        .await
        .unwrap()
        .unwrap();
    let snapshot = running.snapshot();
    let policy = budget_policy(&running.org_id(), &safe);
    let request = seatkeeper::ops::read_request(&policy, now);

    // The floors, from the sandbox's own state.
    let l = latency.as_secs_f64();
    let in_dir: std::collections::HashSet<&str> = snapshot
        .users
        .iter()
        .filter(|u| u.account_type == AccountType::Atlassian)
        .map(|u| u.account_id.as_str())
        .collect();
    let members: std::collections::BTreeSet<&str> = snapshot
        .groups
        .iter()
        .filter(|g| request.groups.contains(&g.name))
        .flat_map(|g| g.members.iter().map(String::as_str))
        .filter(|m| in_dir.contains(m))
        .collect();
    let pages = (members.len() as u64).div_ceil(100).max(1);
    let users_chain = 1 + pages.div_ceil(2) + 1;
    let events = snapshot
        .events
        .iter()
        .filter(|e| request.events_since.is_some_and(|s| e.time >= s))
        .count() as u64;
    let event_pages = events.div_ceil(500).max(1);
    let chain = users_chain.max(1 + event_pages).max(3);
    let chain_floor = chain as f64 * l;

    let source = CredentialSource {
        email: None,
        api_token: None,
        admin_api_key: Some(Secret::new(sandbox::DEFAULT_ADMIN_API_KEY)),
        api_base: Some(running.base_url()),
    };
    let creds = Credentials::resolve(&snapshot.site, Some(&running.org_id()), source).unwrap();
    let client = Client::new(creds, ClientConfig::default()).unwrap();
    let before = running.stats();
    let started = Instant::now();
    let read = client.read_live(&request).await.unwrap();
    let wall = started.elapsed().as_secs_f64();
    let after = running.stats();
    let count = |route: &str| {
        after["requests"][route].as_u64().unwrap_or(0)
            - before["requests"][route].as_u64().unwrap_or(0)
    };
    let limits = sandbox::AdminLimits::DOCUMENTED;
    let minutes =
        |n: u64, budget: u32| n.div_ceil(u64::from(budget)).saturating_sub(1) as f64 * 60.0;
    let events_api = [
        "GET /admin/v1/orgs/{org_id}/events-stream",
        "GET /admin/v1/orgs/{org_id}/events",
        "GET /admin/v1/orgs/{org_id}/event-actions",
    ];
    let mut rate_floor: f64 = 0.0;
    let mut per_route: Vec<(String, u64)> = Vec::new();
    if let Some(map) = after["requests"].as_object() {
        for route in map.keys() {
            let n = count(route);
            if n == 0 || !route.contains("/admin/") {
                continue;
            }
            per_route.push((route.clone(), n));
            let budget = limits.budgets(route)[0].1;
            rate_floor = rate_floor.max(minutes(n, budget));
        }
    }
    let events_user: u64 = events_api.iter().map(|r| count(r)).sum();
    rate_floor = rate_floor.max(minutes(events_user, limits.events_per_user)) + l;
    let floor = rate_floor.max(chain_floor);
    let ratio = wall / floor;
    let met = ratio <= 1.2;
    println!(
        "budgets, {users} users (generated in {:.1} s): {} directory users, {} needed (members of {} groups and {} safe users), {} events in the window; latency {} ms",
        generated.as_secs_f64(),
        in_dir.len(),
        read.state.users.len(),
        request.groups.len(),
        safe.len(),
        events,
        latency.as_millis()
    );
    for (route, n) in &per_route {
        println!("  {n:>6}  {route}");
    }
    println!(
        "  requests {} (retries {}, 429s {}), v1 last-active reads {}; wall {:.2} s; rate floor {:.2} s, chain floor {:.2} s ({} steps); ratio {:.2}: {}",
        read.stats.requests,
        read.stats.retries,
        read.stats.rate_limited,
        read.last_active_reads,
        wall,
        rate_floor,
        chain_floor,
        chain,
        ratio,
        if met { "ok" } else { "MISSED" }
    );
    server
        .spawn(async move {
            running.shutdown().await;
        })
        .await
        .unwrap();
    met
}
