//! The Atlassian client against the sandbox over real sockets (127.0.0.1:0): reads on both
//! paths agree with the sandbox's own state, with the fewest requests; 429 storms and every
//! injected fault kind still converge; writes are idempotent and refusals are typed; wrong
//! credentials give a clear error without the secret.

#![allow(clippy::unwrap_used)]

use crate::sandbox_support::*;
use seatkeeper::atlassian::{
    ApiError, Change, Client, ClientConfig, CredentialSource, Credentials, ReadPath, ReadRequest,
    RetryConfig, Secret,
};
use seatkeeper::live::{AccountType, LiveState};
use seatkeeper::sandbox::{
    self, FaultConfig, GenerateOptions, OrgSource, RateLimitConfig, SandboxConfig,
};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const ORG_FIXTURE: &str = "org-fixture";

fn client(env: &Env, site: bool, admin: bool, config: ClientConfig) -> Client {
    let source = CredentialSource {
        email: site.then(|| EMAIL.to_string()),
        api_token: site.then(|| Secret::new(TOKEN)),
        admin_api_key: admin.then(|| Secret::new(ADMIN_KEY)),
        api_base: Some(env.base.clone()),
    };
    let creds = Credentials::resolve("acme.atlassian.net", Some(&env.org_id), source).unwrap();
    Client::new(creds, config).unwrap()
}

fn fast() -> ClientConfig {
    ClientConfig {
        retry: RetryConfig::without_delays(),
        request_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    }
}

const PRODUCTS: [&str; 3] = ["jira-software", "confluence", "jira-servicedesk"];

/// Each product's grant groups among `groups`, by Atlassian's default names.
fn product_groups(groups: &[&str]) -> BTreeMap<String, Vec<String>> {
    PRODUCTS
        .iter()
        .map(|p| {
            let found = sandbox::model::infer_product_groups(p, groups.iter().copied());
            (p.to_string(), found.iter().map(|g| g.to_string()).collect())
        })
        .collect()
}

fn read_request(groups: &[&str], events_days: Option<i64>) -> ReadRequest {
    ReadRequest {
        site: "acme.atlassian.net".into(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        products: PRODUCTS.iter().map(|s| s.to_string()).collect(),
        product_groups: product_groups(groups),
        events_since: events_days.map(|d| now() - chrono::TimeDelta::days(d)),
        now: now(),
        licenses: false,
        members_only: false,
        safe_emails: vec![],
        safe_account_ids: vec![],
    }
}

/// Group name → sorted members, from the sandbox's own state; with `directory_only`, only the
/// accounts the admin directory holds (`atlassian` ones: the spec's `AccountType` has no other).
fn truth(state: &LiveState, names: &[&str], directory_only: bool) -> BTreeMap<String, Vec<String>> {
    let customers: BTreeSet<&str> = state
        .users
        .iter()
        .filter(|u| u.account_type != AccountType::Atlassian)
        .map(|u| u.account_id.as_str())
        .collect();
    state
        .groups
        .iter()
        .filter(|g| names.contains(&g.name.as_str()))
        .map(|g| {
            let mut m: Vec<String> = g
                .members
                .iter()
                .filter(|a| !directory_only || !customers.contains(a.as_str()))
                .cloned()
                .collect();
            m.sort();
            (g.name.clone(), m)
        })
        .collect()
}

fn got(state: &LiveState) -> BTreeMap<String, Vec<String>> {
    state
        .groups
        .iter()
        .map(|g| (g.name.clone(), g.members.clone()))
        .collect()
}

const FIXTURE_GROUPS: &[&str] = &["g0", "g1", "g50", "g51", "g10000", JSW, JSW2, CONF, SYNCED];

#[tokio::test]
async fn site_path_pages_through_everything_with_the_minimum_requests() {
    let env = Env::fixture().await;
    let c = client(&env, true, false, fast());
    let mut request = read_request(&[FIXTURE_GROUPS, &["no-such-group"]].concat(), None);
    request.licenses = true;
    let read = c.read_live(&request).await.unwrap();
    assert_eq!(read.path, ReadPath::Site);
    assert_eq!(read.missing_groups, ["no-such-group"]);
    let snapshot = env.sandbox.snapshot();
    assert_eq!(got(&read.state), truth(&snapshot, FIXTURE_GROUPS, false));
    assert_eq!(read.state.users.len(), snapshot.users.len());

    // The minimum: users pages of 1000 until a short one; one group/bulk; per group one page
    // per 50 members (at least one).
    let users_pages = snapshot.users.len() as u64 / 1000 + 1;
    let member_pages: u64 = truth(&snapshot, FIXTURE_GROUPS, false)
        .values()
        .map(|m| (m.len() as u64).div_ceil(50).max(1))
        .sum();
    // Jira's licensed seats (applicationrole, Jira products only) are one more request.
    let jira_licenses: BTreeMap<_, _> = snapshot
        .licenses
        .iter()
        .filter(|(k, _)| k.starts_with("jira-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_eq!(read.state.licenses, jira_licenses);
    assert_eq!(
        read.stats.requests,
        users_pages + 1 + member_pages + 1,
        "{:?}",
        read.stats
    );
    assert_eq!(read.stats.retries, 0);
}

#[tokio::test]
async fn admin_path_reads_users_activity_and_events_of_a_generated_org() {
    let config = SandboxConfig {
        now: Some(now()),
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(
        &OrgSource::Generate {
            users: 1500,
            seed: 7,
        },
        &config,
    )
    .unwrap();
    let env = Env::start_org(org, config).await;
    let snapshot = env.sandbox.snapshot();
    let groups = [
        sandbox::generate::JSW_GROUP,
        sandbox::generate::JSW_CONTRACTORS_GROUP,
        sandbox::generate::CONFLUENCE_GROUP,
        sandbox::generate::JSM_GROUP,
        sandbox::generate::SYNCED_GROUP,
        "site-admins",
    ];
    for site in [false, true] {
        let c = client(&env, site, true, fast());
        let read = c.read_live(&read_request(&groups, Some(30))).await.unwrap();
        assert_eq!(read.path, ReadPath::Admin);
        // The directory holds only `atlassian` accounts: no JSM portal customers, no apps.
        assert_eq!(
            got(&read.state),
            truth(&snapshot, &groups, true),
            "site creds: {site}"
        );
        // Activity of every product holder matches the sandbox.
        let by_id: BTreeMap<&str, _> = snapshot
            .users
            .iter()
            .map(|u| (u.account_id.as_str(), u))
            .collect();
        // Who holds several Jira products (their activity is told apart per product).
        let jira_groups = product_groups(&groups);
        let holds = |account: &str, product: &str| {
            snapshot.groups.iter().any(|g| {
                jira_groups[product].contains(&g.name) && g.members.iter().any(|m| m == account)
            })
        };
        let mut with_activity = 0;
        let mut told_apart = 0;
        for u in &read.state.users {
            let want = by_id[u.account_id.as_str()];
            let several =
                holds(&u.account_id, "jira-software") && holds(&u.account_id, "jira-servicedesk");
            told_apart += u64::from(several);
            // The users search keys Jira activity as `jira`, the latest on any Jira product;
            // for someone holding several, the v1 last-active dates say which.
            let jira = want
                .last_active
                .iter()
                .filter(|(k, _)| k.starts_with("jira-"))
                .map(|(_, t)| t)
                .max();
            for (product, at) in &u.last_active {
                let expected = if product.starts_with("jira-") && !several {
                    jira
                } else {
                    want.last_active.get(product)
                };
                assert_eq!(expected, Some(at), "{} {product}", u.account_id);
                with_activity += 1;
            }
            if several {
                for p in ["jira-software", "jira-servicedesk"] {
                    assert_eq!(
                        u.last_active.get(p),
                        want.last_active.get(p),
                        "{}",
                        u.account_id
                    );
                }
            }
            assert_eq!(u.status, want.status, "{}", u.account_id);
            assert_eq!(u.email, want.email);
        }
        assert!(with_activity > 100);
        assert!(told_apart > 10, "{told_apart}");
        assert_eq!(read.last_active_reads, told_apart);
        // Events of the last 30 days, as the sandbox holds them.
        let since = now() - chrono::TimeDelta::days(30);
        let want: Vec<_> = snapshot.events.iter().filter(|e| e.time >= since).collect();
        assert!(!want.is_empty());
        assert_eq!(read.state.events.len(), want.len());
        for (a, b) in read.state.events.iter().zip(&want) {
            assert_eq!(
                (a.time, a.action, &a.account_id),
                (b.time, b.action, &b.account_id)
            );
            assert_eq!(a.group_id, b.group_id);
            assert_eq!(a.product, b.product);
        }
        // Users 100 a page; one group search; the role assignments of each product's grant
        // groups (which site each product is on); one search for each product's granting
        // groups; the event actions; event pages of 500.
        let directory_users = snapshot
            .users
            .iter()
            .filter(|u| u.account_type == AccountType::Atlassian)
            .count() as u64;
        let user_pages = directory_users.div_ceil(100);
        let event_pages = (want.len() as u64)
            .div_ceil(u64::from(seatkeeper::atlassian::EVENTS_PAGE_MAX))
            .max(1);
        let grant_groups = product_groups(&groups).values().flatten().count() as u64;
        assert_eq!(grant_groups, 4);
        assert_eq!(
            read.stats.requests,
            user_pages + 1 + grant_groups + PRODUCTS.len() as u64 + 1 + event_pages + told_apart,
            "site {site}: {:?} {} events {}",
            read.stats,
            env.sandbox.stats(),
            want.len()
        );
    }
}

#[tokio::test]
async fn a_429_storm_converges_and_requests_stay_bounded() {
    let config = SandboxConfig {
        rate_limit: Some(RateLimitConfig {
            per_second: 100.0,
            burst: 5,
        }),
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    let groups = ["g10000", JSW, CONF];
    let c = client(
        &env,
        true,
        false,
        ClientConfig {
            parallelism: 8,
            request_timeout: Duration::from_secs(10),
            ..ClientConfig::default()
        },
    );
    let started = Instant::now();
    let read = c.read_live(&read_request(&groups, None)).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        got(&read.state),
        truth(&env.sandbox.snapshot(), &groups, false)
    );
    let minimum = 11 + 1 + 200 + 1 + 1;
    let s = read.stats;
    assert_eq!(s.requests, minimum + s.retries, "{s:?}");
    assert!(s.requests <= minimum + minimum / 5, "{s:?} in {elapsed:?}");
    eprintln!(
        "storm: {s:?} in {elapsed:?}; sandbox {}",
        env.sandbox.stats()
    );
}

/// Faults are replayable per seed. Resets, slow bodies, latency, 502/503/504 are retried; an
/// injected 500 is fatal by policy (only 429, 502, 503, 504, resets and timeouts are retried), so
/// a read that meets one fails at once with that 500 and never with a retry budget spent.
#[tokio::test]
async fn every_fault_kind_is_survived() {
    let groups = [
        sandbox::generate::JSW_GROUP,
        sandbox::generate::CONFLUENCE_GROUP,
        sandbox::generate::SYNCED_GROUP,
    ];
    let (mut converged, mut fatal_500, mut retries) = (0, 0, 0);
    let mut injected = BTreeMap::<&str, u64>::new();
    for seed in 1..=6 {
        let config = SandboxConfig {
            faults: FaultConfig {
                error_rate: 0.1,
                reset_rate: 0.1,
                slow_body_rate: 0.1,
                slow_body_delay: Duration::from_millis(1),
                latency: Duration::from_millis(1),
                jitter: Duration::from_millis(3),
                seed,
            },
            now: Some(now()),
            ..SandboxConfig::default()
        };
        let org = sandbox::load_org(&OrgSource::Generate { users: 600, seed }, &config).unwrap();
        let env = Env::start_org(org, config).await;
        for (site, admin) in [(true, false), (false, true)] {
            let retry = RetryConfig {
                max_retries: 10,
                ..RetryConfig::without_delays()
            };
            let c = client(&env, site, admin, ClientConfig { retry, ..fast() });
            match c.read_live(&read_request(&groups, None)).await {
                Ok(read) => {
                    let want = truth(&env.sandbox.snapshot(), &groups, admin);
                    assert_eq!(got(&read.state), want, "seed {seed} admin {admin}");
                    retries += read.stats.retries;
                    converged += 1;
                }
                Err(err) => {
                    assert!(
                        matches!(err.root(), ApiError::Status { status: 500, .. }),
                        "seed {seed}: {err:?}"
                    );
                    fatal_500 += 1;
                }
            }
        }
        let stats = env.sandbox.stats();
        for kind in ["5xx", "reset", "slow_body"] {
            *injected.entry(kind).or_default() += stats["faults"][kind].as_u64().unwrap_or(0);
        }
    }
    // Deterministic for these seeds: 8 of the 12 reads meet no injected 500.
    assert!(
        converged >= 4,
        "converged {converged}, fatal 500 {fatal_500}"
    );
    assert!(retries > 0);
    for (kind, n) in &injected {
        assert!(*n > 0, "no {kind} fault was injected: {injected:?}");
    }
    eprintln!("faults: {injected:?}, converged {converged}, fatal 500 {fatal_500}");
}

#[tokio::test]
async fn writes_on_both_paths_are_idempotent_and_refusals_are_typed() {
    let env = Env::fixture().await;
    // jira-software is licensed for 26 and holds 25: one more fills it.
    let filler = client(&env, true, false, fast());
    assert_eq!(
        filler.add_member("gid-jsw", &account(7100)).await.unwrap(),
        Change::Done
    );
    for (site, admin) in [(true, false), (false, true)] {
        let c = client(&env, site, admin, fast());
        let who = if admin { account(7000) } else { account(7001) };
        assert_eq!(c.add_member("gid-conf", &who).await.unwrap(), Change::Done);
        let again = c.add_member("gid-conf", &who).await.unwrap();
        assert!(
            matches!(again, Change::AlreadyDone | Change::Done),
            "{again:?}"
        );
        if site {
            assert_eq!(again, Change::AlreadyDone);
        }
        assert_eq!(
            c.remove_member("gid-conf", &who).await.unwrap(),
            Change::Done
        );
        let again = c.remove_member("gid-conf", &who).await.unwrap();
        assert!(
            matches!(again, Change::AlreadyDone | Change::Done),
            "{again:?}"
        );

        let err = c
            .add_member("gid-emp", &who)
            .await
            .expect_err(&format!("admin {admin}"));
        assert!(matches!(err, ApiError::SyncedGroup { .. }), "{err:?}");
        let err = c.add_member("gid-jsw", &who).await.unwrap_err();
        assert!(matches!(err, ApiError::LicenseLimit { .. }), "{err:?}");
        let err = c.add_member("gid-nope", &who).await.unwrap_err();
        assert!(matches!(err.root(), ApiError::NotFound { .. }), "{err:?}");
    }
    let stats = env.sandbox.stats();
    assert!(!stats.to_string().contains("\"retries\""), "{stats}");
}

#[tokio::test]
async fn a_write_whose_answer_is_lost_is_retried_safely() {
    let config = SandboxConfig {
        faults: FaultConfig {
            reset_rate: 0.5,
            seed: 3,
            ..FaultConfig::default()
        },
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    let c = client(
        &env,
        true,
        false,
        ClientConfig {
            retry: RetryConfig {
                max_retries: 20,
                ..RetryConfig::without_delays()
            },
            ..fast()
        },
    );
    for i in 8000..8010 {
        c.add_member("gid-conf", &account(i)).await.unwrap();
    }
    let conf = env
        .sandbox
        .snapshot()
        .groups
        .into_iter()
        .find(|g| g.id == "gid-conf")
        .unwrap();
    for i in 8000..8010 {
        assert!(conf.members.contains(&account(i)));
    }
    assert!(c.stats().retries > 0);
}

#[tokio::test]
async fn fingerprints_match_the_read_and_move_with_writes() {
    let env = Env::fixture().await;
    for (site, admin) in [(true, false), (false, true)] {
        let c = client(&env, site, admin, fast());
        let read = c
            .read_live(&read_request(&["g51", JSW, CONF], None))
            .await
            .unwrap();
        let ids: Vec<String> = read.state.groups.iter().map(|g| g.id.clone()).collect();
        let before = c.fetch_groups_fingerprint(&ids).await.unwrap();
        for g in &read.state.groups {
            assert_eq!(
                before[&g.id],
                seatkeeper::plan::fingerprint_members(g.members.iter().map(String::as_str))
            );
        }
        let who = account(9000 + usize::from(admin));
        c.add_member("gid-conf", &who).await.unwrap();
        let after = c.fetch_groups_fingerprint(&ids).await.unwrap();
        assert_ne!(before["gid-conf"], after["gid-conf"]);
        assert_eq!(before["gid-51"], after["gid-51"]);
        c.remove_member("gid-conf", &who).await.unwrap();
        assert_eq!(before, c.fetch_groups_fingerprint(&ids).await.unwrap());
    }
}

#[tokio::test]
async fn myself_is_the_sandbox_admin() {
    let env = Env::fixture().await;
    let c = client(&env, true, true, fast());
    assert_eq!(c.myself().await.unwrap(), Some(account(0)));
}

#[tokio::test]
async fn wrong_credentials_say_so_without_the_secret() {
    let env = Env::fixture().await;
    for site in [true, false] {
        let source = CredentialSource {
            email: site.then(|| EMAIL.to_string()),
            api_token: site.then(|| Secret::new("wrong-token-123456")),
            admin_api_key: (!site).then(|| Secret::new("wrong-admin-key-654321")),
            api_base: Some(env.base.clone()),
        };
        let creds = Credentials::resolve("acme.atlassian.net", Some(&env.org_id), source).unwrap();
        let c = Client::new(creds, fast()).unwrap();
        let err = c
            .read_live(&read_request(&[JSW], Some(7)))
            .await
            .unwrap_err();
        assert!(err.is_unauthorized(), "{err:?}");
        assert!(
            err.to_string()
                .contains("rejected (401): it may have expired"),
            "{err}"
        );
        let shown = format!("{err} {err:?} {c:?}");
        for secret in ["wrong-token-123456", "wrong-admin-key-654321"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        // Unauthorized is fatal: no retry (the reads that were already in flight together
        // with the first one are all that is sent).
        assert_eq!(c.stats().retries, 0);
        assert!(c.stats().requests <= 3, "{:?}", c.stats());
    }
}

#[tokio::test]
async fn plain_http_to_another_host_is_refused() {
    let source = CredentialSource {
        email: Some(EMAIL.into()),
        api_token: Some(Secret::new(TOKEN)),
        admin_api_key: None,
        api_base: Some("http://192.168.1.20:8080".into()),
    };
    let err = Credentials::resolve("acme.atlassian.net", Some(ORG_FIXTURE), source).unwrap_err();
    assert!(
        err.to_string()
            .contains("refusing to send credentials over plain http://"),
        "{err}"
    );
}

#[allow(dead_code)]
fn _generate_options_are_public(o: GenerateOptions) -> GenerateOptions {
    o
}

/// Apply's load: many concurrent writes under a small rate limit and lost answers. Every write
/// lands exactly once (a retried write whose first attempt landed is a no-op), and the 429s
/// stay few because the client paces the write endpoint.
#[tokio::test]
async fn concurrent_writes_under_a_rate_limit_and_resets_land_exactly_once() {
    let config = SandboxConfig {
        rate_limit: Some(RateLimitConfig {
            per_second: 50.0,
            burst: 5,
        }),
        // The admin API's budgets, in windows of 100 ms.
        admin_limits: Some(seatkeeper::sandbox::AdminLimits {
            other_per_path: 5,
            window: Duration::from_millis(100),
            ..seatkeeper::sandbox::AdminLimits::DOCUMENTED
        }),
        faults: FaultConfig {
            reset_rate: 0.1,
            seed: 5,
            ..FaultConfig::default()
        },
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    let mut total_429 = 0;
    for (site, admin, range) in [(true, false, 6000..6040), (false, true, 6100..6140)] {
        let c = client(
            &env,
            site,
            admin,
            ClientConfig {
                parallelism: 8,
                retry: RetryConfig {
                    base_delay: Duration::from_millis(10),
                    ..RetryConfig::default()
                },
                ..fast()
            },
        );
        let ids: Vec<String> = range.clone().map(account).collect();
        let started = Instant::now();
        let results =
            futures_util::future::join_all(ids.iter().map(|a| c.add_member("gid-conf", a))).await;
        for (a, r) in ids.iter().zip(results) {
            assert!(r.is_ok(), "{a}: {r:?}");
        }
        let s = c.stats();
        eprintln!("site {site}: {s:?} in {:?}", started.elapsed());
        total_429 += s.rate_limited;
        assert!(s.rate_limited <= 10, "site {site}: {s:?}");
    }
    let conf = env
        .sandbox
        .snapshot()
        .groups
        .into_iter()
        .find(|g| g.id == "gid-conf")
        .unwrap();
    for i in (6000..6040).chain(6100..6140) {
        assert!(conf.members.contains(&account(i)), "{}", account(i));
    }
    let stats = env.sandbox.stats();
    assert_eq!(stats["writes_applied"], 80, "{stats}");
    assert!(stats["faults"]["reset"].as_u64().unwrap() > 0, "{stats}");
    eprintln!("writes: 429s {total_429}; sandbox {stats}");
}

/// Issue 11: against the admin API's documented headers only (`X-RateLimit-Limit/Remaining/
/// Reset`, no `Retry-After`), the client spends each period's budget and waits for the reset:
/// the read is complete, and the 429s are only those of requests already in flight when a
/// budget was first learned.
#[tokio::test]
async fn the_client_paces_on_the_documented_budget_headers() {
    let window = Duration::from_millis(400);
    let config = SandboxConfig {
        now: Some(now()),
        admin_limits: Some(seatkeeper::sandbox::AdminLimits {
            events_per_path: 2,
            events_per_user: 3,
            last_active_per_org: 20,
            other_per_path: 4,
            window,
        }),
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(
        &OrgSource::Generate {
            users: 1500,
            seed: 7,
        },
        &config,
    )
    .unwrap();
    let env = Env::start_org(org, config).await;
    let groups = [
        sandbox::generate::JSW_GROUP,
        sandbox::generate::JSW_CONTRACTORS_GROUP,
        sandbox::generate::CONFLUENCE_GROUP,
        sandbox::generate::JSM_GROUP,
    ];
    let c = client(
        &env,
        false,
        true,
        ClientConfig {
            request_timeout: Duration::from_secs(10),
            ..ClientConfig::default()
        },
    );
    let started = Instant::now();
    let read = c.read_live(&read_request(&groups, Some(30))).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(
        got(&read.state),
        truth(&env.sandbox.snapshot(), &groups, true)
    );
    let s = read.stats;
    // 14 user pages at 4 a window cannot take less than 3 whole windows, nor the v1
    // last-active dates of the people holding both Jira products at 20 a window.
    assert!(elapsed >= window * 3, "{elapsed:?}");
    assert!(read.last_active_reads > 40, "{}", read.last_active_reads);
    let v1_windows = (read.last_active_reads / 20) as u32;
    assert!(elapsed >= window * (v1_windows - 1), "{elapsed:?}");
    let parallelism = ClientConfig::default().parallelism as u64;
    assert!(s.rate_limited <= parallelism, "{s:?} in {elapsed:?}");
    eprintln!(
        "budgets: {s:?} in {elapsed:?}; sandbox {}",
        env.sandbox.stats()
    );
}

/// Issue 11: every billable path is seen. Group role assignments name every group that grants a
/// product (the legacy one the policy does not name too); the plan warns about it, and about
/// the people it frees who still hold the product through it or a direct role assignment.
#[tokio::test]
async fn granting_groups_and_direct_assignments_are_seen_and_warned_about() {
    use seatkeeper::sandbox::{generate::LEGACY_GROUP, OrgShape};
    let config = SandboxConfig {
        now: Some(now()),
        shape: OrgShape {
            hidden_grants: true,
            ..OrgShape::default()
        },
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(
        &OrgSource::Generate {
            users: 800,
            seed: 11,
        },
        &config,
    )
    .unwrap();
    let jsw = org.product_index("jira-software").unwrap();
    let direct_holders: BTreeSet<String> = org.products()[jsw as usize]
        .direct
        .iter()
        .map(|&u| org.users()[u as usize].account_id.clone())
        .collect();
    let env = Env::start_org(org, config).await;
    let text = format!(
        "version: 1\nsite: acme.atlassian.net\norg: {}\nproducts:\n  jira-software:\n    groups: [{}, {}]\nsafety:\n  max_removals: 100%\n",
        env.org_id,
        sandbox::generate::JSW_GROUP,
        sandbox::generate::JSW_CONTRACTORS_GROUP
    );
    let files =
        seatkeeper::policy::source::MemFiles::new().with(seatkeeper::policy::MAIN_FILE, text);
    let policy = seatkeeper::policy::load(&files).unwrap().policy;
    let c = client(&env, false, true, fast());
    let read = c
        .read_live(&seatkeeper::ops::read_request(&policy, now()))
        .await
        .unwrap();
    let grants = read
        .grants
        .clone()
        .expect("the admin path knows the granting groups");
    let names: Vec<&str> = grants.groups["jira-software"]
        .iter()
        .map(|g| g.name.as_str())
        .collect();
    assert!(names.contains(&LEGACY_GROUP), "{names:?}");
    assert_eq!(
        seatkeeper::grants::unnamed_groups(&policy, &grants),
        [("jira-software".to_string(), LEGACY_GROUP.to_string())]
    );
    // Nobody is a safe user: every holder is freed; some still hold Jira Software another way.
    let ledger = seatkeeper::ledger::Ledger::default();
    let plan = seatkeeper::planner::plan(&seatkeeper::planner::PlanInput {
        policy: &policy,
        live: &read.state,
        ledger: &ledger,
        now: now(),
        actor: None,
        policy_commit: None,
        allow_mass_removal: false,
    });
    let freed: Vec<String> = seatkeeper::grants::freed(&policy, &read.state, &plan)
        .into_keys()
        .collect();
    assert!(freed.len() > 100, "{}", freed.len());
    let mut grants = grants;
    grants.direct = c.direct_assignments(&freed, &grants).await.unwrap();
    let freed_direct: BTreeSet<&String> = freed
        .iter()
        .filter(|a| direct_holders.contains(*a))
        .collect();
    assert!(!freed_direct.is_empty());
    for a in &freed_direct {
        assert!(grants.direct[*a].contains("jira-software"), "{a}");
    }
    let warnings = seatkeeper::grants::warnings(&policy, &read.state, &plan, &grants);
    assert!(warnings[0].message.contains(LEGACY_GROUP), "{warnings:#?}");
    assert!(warnings.iter().any(|w| w
        .message
        .contains("still billed via group `jira-software-users-legacy`")));
    assert!(warnings.iter().any(|w| w
        .message
        .contains("still billed via a direct role assignment")));
}

/// Issue 11: a plan needs only the members of its groups and its safe users. Read that way
/// (per directory, 10 groups a listing, long listings from both ends, safe users by email),
/// the groups are the same as in a read of the whole directory, with fewer requests.
#[tokio::test]
async fn a_members_only_read_sees_the_same_groups_with_fewer_requests() {
    use seatkeeper::sandbox::OrgShape;
    let config = SandboxConfig {
        now: Some(now()),
        shape: OrgShape {
            directories: 2,
            ..OrgShape::default()
        },
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(
        &OrgSource::Generate {
            users: 3000,
            seed: 4,
        },
        &config,
    )
    .unwrap();
    let safe: Vec<String> = org
        .users()
        .iter()
        .filter(|u| u.account_type == AccountType::Atlassian)
        .filter_map(|u| u.email.clone())
        .step_by(97)
        .collect();
    let env = Env::start_org(org, config).await;
    let groups = [
        sandbox::generate::JSM_GROUP,
        "jira-servicemanagement-users-acme-dir2",
        "site-admins",
        "site-admins-dir2",
    ];
    let c = client(&env, false, true, fast());
    let mut request = read_request(&groups, None);
    let full = c.read_live(&request).await.unwrap();
    request.members_only = true;
    request.safe_emails = safe.clone();
    let c = client(&env, false, true, fast());
    let scoped = c.read_live(&request).await.unwrap();
    assert_eq!(got(&scoped.state), got(&full.state));
    assert!(got(&scoped.state).values().map(Vec::len).sum::<usize>() > 100);
    let emails: BTreeSet<&str> = scoped
        .state
        .users
        .iter()
        .filter_map(|u| u.email.as_deref())
        .collect();
    for e in &safe {
        assert!(emails.contains(e.as_str()), "{e}");
    }
    let full_users: BTreeMap<&str, _> = full
        .state
        .users
        .iter()
        .map(|u| (u.account_id.as_str(), u))
        .collect();
    for u in &scoped.state.users {
        assert_eq!(
            Some(&u),
            full_users.get(u.account_id.as_str()),
            "{}",
            u.account_id
        );
    }
    assert!(scoped.state.users.len() < full.state.users.len() / 2);
    assert!(
        scoped.stats.requests * 2 < full.stats.requests,
        "{:?} vs {:?}",
        scoped.stats,
        full.stats
    );
}

/// A client from the admin API key alone (no org id yet: `seatkeeper init`) finds the org:
/// `org_ids` lists the sandbox's one org, paced on the listing's budget headers and through
/// injected faults; calls that need the org say so before any request; a wrong key is a 401.
#[tokio::test]
async fn the_admin_key_alone_finds_the_org() {
    let discovery = |env: &Env, key: &str, config: ClientConfig| {
        let source = CredentialSource {
            email: None,
            api_token: None,
            admin_api_key: Some(Secret::new(key)),
            api_base: Some(env.base.clone()),
        };
        Client::new(Credentials::resolve_for_discovery(source).unwrap(), config).unwrap()
    };
    let window = Duration::from_millis(300);
    let config = SandboxConfig {
        admin_limits: Some(sandbox::AdminLimits {
            other_per_path: 1,
            window,
            ..sandbox::AdminLimits::DOCUMENTED
        }),
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    let paced = ClientConfig {
        request_timeout: Duration::from_secs(10),
        ..ClientConfig::default()
    };
    let c = discovery(&env, ADMIN_KEY, paced.clone());
    assert!(
        !c.has_admin(),
        "a key without an org id reads and writes nothing"
    );
    let expected = vec![seatkeeper::atlassian::OrgSummary {
        id: env.org_id.clone(),
        name: Some("acme".into()),
    }];
    // One request a window: the client waits for the reset instead of running into 429s.
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(c.org_ids().await.unwrap(), expected);
    }
    assert!(started.elapsed() >= window, "{:?}", started.elapsed());
    let s = c.stats();
    assert_eq!((s.requests, s.rate_limited), (3, 0), "{s:?}");
    assert_eq!(env.sandbox.stats()["rate_limited"], 0);

    // The org-scoped admin calls need the org id, and say so without a request.
    let err = c
        .direct_assignments(&[account(1)], &Default::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs an org id"), "{err}");
    assert_eq!(c.stats().requests, 3);

    // The same key with the org id lists it too (a new client, which learns the spent budget
    // from a 429 and waits for its reset).
    assert_eq!(
        client(&env, false, true, paced).org_ids().await.unwrap(),
        expected
    );

    // A wrong key (on a sandbox without budgets: the spent one would answer 429 first).
    let env = Env::fixture().await;
    let wrong = discovery(&env, "wrong-admin-key-654321", fast());
    let err = wrong.org_ids().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("wrong-admin-key-654321"));
    assert_eq!(wrong.stats().retries, 0);

    // Site credentials alone cannot list orgs.
    let site_only = client(&env, true, false, fast());
    assert!(matches!(
        site_only.org_ids().await.unwrap_err(),
        ApiError::MissingCredential { .. }
    ));

    // Injected server errors and resets are retried like on every admin read.
    let env = Env::start(
        fixture(),
        SandboxConfig {
            faults: FaultConfig::parse("5xx=0.3,reset=0.1,seed=5").unwrap(),
            ..SandboxConfig::default()
        },
    )
    .await;
    let c = discovery(&env, ADMIN_KEY, fast());
    for _ in 0..5 {
        let orgs = c.org_ids().await.unwrap();
        assert_eq!(orgs.len(), 1);
        assert_eq!(orgs[0].id, env.org_id);
    }
    assert!(c.stats().retries > 0, "{:?}", c.stats());
}

/// A plan's read of a generated org is a valid snapshot: every event it keeps names an
/// account it read (the snapshot format refuses anything else).
#[tokio::test]
async fn a_members_only_read_is_a_valid_snapshot() {
    let config = SandboxConfig {
        now: Some(now()),
        ..SandboxConfig::default()
    };
    let org = sandbox::load_org(
        &OrgSource::Generate {
            users: 2000,
            seed: 1,
        },
        &config,
    )
    .unwrap();
    let env = Env::start_org(org, config).await;
    let text = format!(
        "version: 1\nsite: acme.atlassian.net\norg: {}\nproducts:\n  jira-software:\n    groups: [{}]\n    inactivity: 90d\n",
        env.org_id,
        sandbox::generate::JSW_GROUP,
    );
    let files =
        seatkeeper::policy::source::MemFiles::new().with(seatkeeper::policy::MAIN_FILE, text);
    let policy = seatkeeper::policy::load(&files).unwrap().policy;
    let c = client(&env, false, true, fast());
    let read = c
        .read_live(&seatkeeper::ops::read_request(&policy, now()))
        .await
        .unwrap();
    assert!(!read.state.events.is_empty());
    let json = serde_json::to_string(&read.state).unwrap();
    let parsed = seatkeeper::live::parse_snapshot("read.json", &json);
    assert!(
        parsed.is_ok(),
        "{:?}",
        parsed.err().map(|d| d[0].message.clone())
    );
}
