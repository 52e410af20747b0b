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
//! floor = max( C * L           C: the longest chain of requests that must run one after the
//!                              other (cursor or "until a short page" paging; on the site path
//!                              also group/bulk -> first member page -> the other pages)
//!            , N * L / P       N requests of latency L on at most P connections
//!            , max_e (n_e - burst) / r + L )   with a rate limit r per endpoint+method: the
//!                              last of the n_e requests to endpoint e cannot be let in earlier
//! ```
//!
//! `BENCH_PARALLELISM` sets P (the client's `--parallelism`).
//!
//! Printed per path: `requests X (minimum X), wall T (floor F, ratio R)`. Targets: requests equal
//! to the minimum, ratio within 1.2.

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
        .filter(|u| u.account_type != AccountType::Customer)
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
        },
        Shape {
            label: "admin (key) + site",
            site: true,
            admin: true,
            // users/search, groups/search, events-stream, applicationrole
            per_endpoint: vec![admin_user_pages, 1, event_pages, 1],
            chain: admin_user_pages.max(event_pages),
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
        let floor = (shape.chain as f64 * l)
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
