//! Read benchmark: how many requests the client makes to read a generated org, against the
//! minimum the APIs allow, and how long it takes, on both read paths, with and without a rate
//! limit. Runs against the in-process sandbox on 127.0.0.1:0.
//!
//! `cargo bench --bench client_read -- [USERS] [RATE_PER_SECOND]` (defaults: 20000 users, no
//! rate limit). The minimum is computed from the sandbox's own state: user pages (1000 a page
//! on the site path, 100 on the admin path), one group lookup, member pages of 50 per group
//! (site path), event pages of 1000 (admin path), and one `applicationrole` request.

#![allow(clippy::print_stdout, clippy::unwrap_used)]

use chrono::{TimeDelta, Utc};
use seatkeeper::atlassian::{
    Client, ClientConfig, CredentialSource, Credentials, ReadRequest, Secret,
};
use seatkeeper::live::AccountType;
use seatkeeper::sandbox::{self, generate, OrgSource, RateLimitConfig, SandboxConfig};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let users: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let rate: Option<f64> = args.get(1).and_then(|a| a.parse().ok());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(run(users, rate));
}

async fn run(users: usize, rate: Option<f64>) {
    let now = Utc::now();
    let config = SandboxConfig {
        now: Some(now),
        rate_limit: rate.map(|r| RateLimitConfig {
            per_second: r,
            burst: r.ceil() as u32,
        }),
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(&OrgSource::Generate { users, seed: 1 }, &config).unwrap();
    let running = sandbox::serve(config, org).await.unwrap();
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
        events_since: Some(now - TimeDelta::days(30)),
        now,
        licenses: true,
    };
    let member_pages: u64 = snapshot
        .groups
        .iter()
        .filter(|g| groups.contains(&g.name.as_str()))
        .map(|g| (g.members.len() as u64).div_ceil(50).max(1))
        .sum();
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
    println!(
        "org: {} users ({} in the directory), {} groups read, {} events in 30 days, rate limit {}",
        snapshot.users.len(),
        directory_users,
        groups.len(),
        events,
        rate.map_or("none".to_string(), |r| format!("{r}/s per endpoint")),
    );
    println!(
        "{:<28} {:>9} {:>9} {:>8} {:>6} {:>10}",
        "path", "requests", "minimum", "retries", "429s", "time"
    );
    for (label, site, admin, minimum) in [
        (
            "site (email + token)",
            true,
            false,
            snapshot.users.len() as u64 / 1000 + 1 + 1 + member_pages + 1,
        ),
        (
            "admin (key) + site",
            true,
            true,
            directory_users.div_ceil(100) + 1 + events.div_ceil(1000).max(1) + 1,
        ),
    ] {
        let source = CredentialSource {
            email: site.then(|| sandbox::DEFAULT_EMAIL.to_string()),
            api_token: site.then(|| Secret::new(sandbox::DEFAULT_API_TOKEN)),
            admin_api_key: admin.then(|| Secret::new(sandbox::DEFAULT_ADMIN_API_KEY)),
            api_base: Some(running.base_url()),
        };
        let org_id = running.org_id();
        let creds = Credentials::resolve(&snapshot.site, Some(&org_id), source).unwrap();
        let client = Client::new(creds, ClientConfig::default()).unwrap();
        let started = Instant::now();
        let read = client.read_live(&request).await.unwrap();
        let s = read.stats;
        println!(
            "{:<28} {:>9} {:>9} {:>8} {:>6} {:>9.2}s",
            label,
            s.requests,
            minimum,
            s.retries,
            s.rate_limited,
            started.elapsed().as_secs_f64()
        );
    }
    running.shutdown().await;
}
