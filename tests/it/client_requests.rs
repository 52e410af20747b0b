//! The Atlassian client against the sandbox on 127.0.0.1:0, asserting the exact requests it
//! sends from the sandbox's request log (page parameters and bodies included), and meeting what
//! the sandbox never says on its own (a given status or body, a lost answer, a truncated, padded,
//! slow or endless body) through scripted answers (`POST /__sandbox/script`): every fault kind,
//! 429 storms, credentials, writes.

#![allow(clippy::unwrap_used)]

use crate::sandbox_support::{now, Env, ADMIN_KEY, EMAIL, TOKEN};
use chrono::{TimeDelta, Utc};
use seatkeeper::atlassian::{
    ApiError, AtlassianApi, Change, Client, ClientConfig, CredentialSource, Credentials,
    CredentialsError, ReadPath, ReadRequest, RetryConfig, Secret,
};
use seatkeeper::live::{
    AccountStatus, AccountType, Activity, Event, EventAction, Group, License, LiveState, User,
};
use seatkeeper::sandbox::{RateLimitConfig, SandboxConfig};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ORG: &str = "org-1";
const G_JIRA: (&str, &str) = ("g-jira", "jira-software-users-acme");
const G_CONF: (&str, &str) = ("g-conf", "confluence-users-acme");
const G_EMP: (&str, &str) = ("g-emp", "employees");

fn source(env: &Env, site: bool, admin: bool) -> CredentialSource {
    CredentialSource {
        email: site.then(|| EMAIL.to_string()),
        api_token: site.then(|| Secret::new(TOKEN)),
        admin_api_key: admin.then(|| Secret::new(ADMIN_KEY)),
        api_base: Some(env.base.clone()),
    }
}

fn client_with(env: &Env, site: bool, admin: bool, config: ClientConfig) -> Client {
    let creds =
        Credentials::resolve("acme.atlassian.net", Some(ORG), source(env, site, admin)).unwrap();
    Client::new(creds, config).unwrap()
}

fn fast() -> ClientConfig {
    ClientConfig {
        retry: RetryConfig::without_delays(),
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

fn request(groups: &[&str]) -> ReadRequest {
    ReadRequest {
        site: "acme.atlassian.net".into(),
        groups: groups.iter().map(|s| s.to_string()).collect(),
        products: vec!["jira-software".into(), "confluence".into()],
        product_groups: Default::default(),
        events_since: Some(now() - TimeDelta::days(30)),
        now: now(),
        licenses: false,
        members_only: false,
        safe_emails: vec![],
        safe_account_ids: vec![],
    }
}

/// `n` accounts `acc-00000`...: every 7th from the 4th suspended (Jira's `active: false`), every
/// 50th an app (not in the admin directory); even ones in `g-jira`, every 3rd in `g-conf`, all
/// but every 10th in `employees`.
fn std_world(n: usize) -> LiveState {
    let users = (0..n)
        .map(|i| User {
            account_id: format!("acc-{i:05}"),
            email: Some(format!("user{i}@acme.com")),
            name: format!("User {i}"),
            account_type: if i % 50 == 49 {
                AccountType::App
            } else {
                AccountType::Atlassian
            },
            status: if i % 7 == 3 {
                AccountStatus::Suspended
            } else {
                AccountStatus::Active
            },
            added_to_org: Some("2024-02-01T00:00:00Z".parse().unwrap()),
            last_active: Activity::from([(
                "jira-software".to_string(),
                format!("2026-{:02}-01T09:00:00Z", 1 + i % 11)
                    .parse()
                    .unwrap(),
            )]),
        })
        .collect();
    let group = |(id, name): (&str, &str), member: fn(usize) -> bool| Group {
        id: id.into(),
        name: name.into(),
        members: (0..n)
            .filter(|&i| member(i))
            .map(|i| format!("acc-{i:05}"))
            .collect(),
        synced: false,
    };
    LiveState {
        format_version: 1,
        site: "acme.atlassian.net".into(),
        org_id: Some(ORG.into()),
        taken_at: now(),
        users,
        groups: vec![
            group(G_JIRA, |i| i % 2 == 0),
            group(G_CONF, |i| i % 3 == 0),
            group(G_EMP, |i| i % 10 != 0),
        ],
        events: vec![],
        licenses: BTreeMap::new(),
        events_read: None,
    }
}

async fn start(world: LiveState) -> Env {
    Env::start(world, SandboxConfig::default()).await
}

/// The request log from entry `from` on, one line each: `METHOD /path?query body`.
fn log_from(env: &Env, from: usize) -> Vec<String> {
    env.sandbox.recorded_requests()[from..]
        .iter()
        .map(|r| match &r.body {
            Some(body) => format!("{} {body}", r.line()),
            None => r.line(),
        })
        .collect()
}

fn log(env: &Env) -> Vec<String> {
    log_from(env, 0)
}

fn mark(env: &Env) -> usize {
    env.sandbox.recorded_requests().len()
}

fn requests(env: &Env, needle: &str) -> usize {
    requests_from(env, 0, needle)
}

fn requests_from(env: &Env, from: usize, needle: &str) -> usize {
    log_from(env, from)
        .iter()
        .filter(|l| l.contains(needle))
        .count()
}

/// Queues a scripted answer for the next request whose line contains `matches`.
async fn script(env: &Env, matches: &str, answer: Value) {
    let mut body = answer;
    body["match"] = json!(matches);
    let resp = env
        .raw(reqwest::Method::POST, "/__sandbox/script")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{body}");
}

async fn answer_with(env: &Env, matches: &str, code: u16) {
    script(env, matches, json!({ "status": code })).await;
}

async fn fault(env: &Env, matches: &str, kind: &str) {
    script(env, matches, json!({ "fault": kind })).await;
}

/// The admin group search answers 404, as where an org does not serve it.
async fn no_group_search(env: &Env) {
    script(env, "groups/search", json!({"status": 404, "times": 100})).await;
}

/// The account the sandbox names behind its Jira credentials.
async fn sandbox_myself(env: &Env) -> String {
    let me = env.get_json("/rest/api/3/myself").await;
    me["accountId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn site_path_reads_every_page_with_the_minimum_requests() {
    let fake = start(std_world(2600)).await;
    let client = client_with(&fake, true, false, fast());
    let read = client
        .read_live(&request(&[G_JIRA.1, G_CONF.1, "no-such-group"]))
        .await
        .unwrap();

    assert_eq!(read.path, ReadPath::Site);
    assert_eq!(read.missing_groups, ["no-such-group"]);
    let s = &read.state;
    assert_eq!(s.users.len(), 2600);
    assert_eq!(s.groups.len(), 2);
    let jira = s.groups.iter().find(|g| g.name == G_JIRA.1).unwrap();
    assert_eq!(jira.id, "g-jira");
    assert_eq!(jira.members.len(), 1300, "inactive members included");
    let conf = s.groups.iter().find(|g| g.name == G_CONF.1).unwrap();
    assert_eq!(conf.members.len(), 867);
    assert!(s.events.is_empty() && s.users.iter().all(|u| u.last_active.is_empty()));
    let u3 = s
        .users
        .iter()
        .find(|u| u.account_id == "acc-00003")
        .unwrap();
    assert_eq!(u3.status, AccountStatus::Suspended, "Jira's active: false");
    assert_eq!(
        s.users
            .iter()
            .filter(|u| u.account_type == AccountType::App)
            .count(),
        52
    );

    // users: 1000 + 1000 + 600 (short page ends it); 1 group/bulk; members 50 a page.
    let minimum = 3 + 1 + 1300_u64.div_ceil(50) + 867_u64.div_ceil(50);
    assert_eq!(read.stats.requests, minimum);
    assert_eq!(read.stats.retries, 0);
    let log = log(&fake);
    assert!(log
        .iter()
        .any(|l| l.contains("/rest/api/3/users/search?startAt=2000&maxResults=1000")));
    assert_eq!(
        log.iter().filter(|l| l.contains("/rest/api/3/group/bulk")).collect::<Vec<_>>(),
        ["GET /rest/api/3/group/bulk?startAt=0&maxResults=50&groupName=jira-software-users-acme&groupName=confluence-users-acme&groupName=no-such-group"]
    );
    assert!(log.iter().any(|l| l.ends_with(
        "group/member?groupId=g-jira&includeInactiveUsers=true&startAt=1250&maxResults=50"
    )));
}

#[tokio::test]
async fn admin_path_reads_users_activity_groups_and_events() {
    let mut w = std_world(250);
    w.groups[1].synced = true;
    w.events = (0..5)
        .map(|i| Event {
            time: format!("2026-11-2{i}T10:00:00Z").parse().unwrap(),
            action: if i % 2 == 0 {
                EventAction::UserLoggedIn
            } else {
                EventAction::UserAddedToGroup
            },
            account_id: format!("acc-0000{i}"),
            product: None,
            group_id: (i % 2 == 1).then(|| "g-jira".to_string()),
        })
        .collect();
    let fake = start(w).await;
    let client = client_with(
        &fake,
        false,
        true,
        ClientConfig {
            events_page_size: 2,
            ..fast()
        },
    );
    let read = client
        .read_live(&request(&[G_JIRA.1, G_CONF.1, G_EMP.1]))
        .await
        .unwrap();
    assert_eq!(read.path, ReadPath::Admin);
    let s = &read.state;
    assert_eq!(s.org_id.as_deref(), Some(ORG));
    // The 5 apps are not in the admin directory, neither as users nor as members.
    assert_eq!(s.users.len(), 245);
    let g = |n: &str| s.groups.iter().find(|g| g.name == n).unwrap();
    assert_eq!(g(G_JIRA.1).members.len(), 125);
    assert_eq!(g(G_EMP.1).members.len(), 220);
    assert!(g(G_CONF.1).synced && !g(G_JIRA.1).synced);
    let u = s
        .users
        .iter()
        .find(|u| u.account_id == "acc-00004")
        .unwrap();
    assert_eq!(
        u.last_active
            .get("jira-software")
            .map(|t| t.to_rfc3339())
            .unwrap_or_default(),
        "2026-05-01T09:00:00+00:00"
    );
    assert_eq!(
        u.added_to_org.unwrap().to_rfc3339(),
        "2024-02-01T00:00:00+00:00"
    );
    assert_eq!(s.events.len(), 5);
    assert_eq!(s.events[1].action, EventAction::UserAddedToGroup);
    assert_eq!(
        (
            s.events[1].account_id.as_str(),
            s.events[1].group_id.as_deref()
        ),
        ("acc-00001", Some("g-jira"))
    );
    assert_eq!(s.events[0].account_id, "acc-00000");

    // 3 user pages of 100 + 1 group search + the event actions + 3 event pages of 2 (5 events).
    assert_eq!(read.stats.requests, 3 + 1 + 1 + 3, "{:#?}", log(&fake));
    let log = log(&fake);
    let pages: Vec<&String> = log.iter().filter(|l| l.contains("users/search")).collect();
    assert_eq!(pages.len(), 3, "{pages:#?}");
    assert!(pages.iter().all(|l| l.contains(r#""limit":100"#)));
    assert!(!pages[0].contains(r#""cursor""#) && pages[2].contains(r#""cursor":""#));
    assert!(log
        .iter()
        .any(|l| l.contains("events-stream?from=") && l.contains("&limit=2&sortOrder=asc")));
    // The events API publishes no retention horizon: a read that succeeded covers its window.
    let since = now() - TimeDelta::days(30);
    let events_read = s.events_read.as_ref().unwrap();
    assert_eq!(
        (events_read.wanted_from, events_read.covered_from),
        (since, Some(since))
    );
    assert!(events_read.is_complete() && events_read.note.is_none());
}

/// Issue 11: the users' `groups` expansion shows group ids as ARIs while group search shows
/// them bare; both are one group. A product key or an ARI of an unexpected form is a clear
/// error, not a panic and not a silently empty read.
#[tokio::test]
async fn group_ids_in_both_forms_join_and_bad_product_access_is_a_clear_error() {
    // The sandbox's expansion shows group ids as ARIs, as the spec's example does.
    let fake = start(std_world(120)).await;
    let client = client_with(&fake, false, true, fast());
    let read = client
        .read_live(&request(&[G_JIRA.1, G_CONF.1]))
        .await
        .unwrap();
    let g = |n: &str| read.state.groups.iter().find(|g| g.name == n).unwrap();
    assert_eq!(g(G_JIRA.1).id, G_JIRA.0, "kept bare");
    assert_eq!(
        g(G_JIRA.1).members.len(),
        60,
        "the ARI form joins the bare id"
    );

    for (key, ari, needle) in [
        ("rovo", "ari:cloud:jira::site/1", "`rovo`"),
        ("jira", "ari:cloud:jira::workspace/1", "not a site ARI"),
    ] {
        let fake = start(std_world(3)).await;
        let mut user = fake.admin_user("acc-00000").await;
        user["productAccess"] =
            json!([{"key": key, "id": ari, "lastActiveTimestamp": "2026-11-01T00:00:00Z"}]);
        let page = json!({"data": [user], "links": {}});
        script(&fake, "users/search", json!({"status": 200, "body": page})).await;
        let client = client_with(&fake, false, true, fast());
        let err = client
            .read_live(&request(&[G_JIRA.1]))
            .await
            .expect_err("refused");
        let text = err.to_string();
        assert!(matches!(err.root(), ApiError::Decode { .. }), "{text}");
        assert!(
            text.contains(needle) && text.contains("acc-00000"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn no_events_api_is_a_normal_state_and_the_read_goes_on() {
    // Without Atlassian Guard the events stream answers 403 (or 404): no events, said in
    // `events_read`, and everything else is read as usual.
    for status in [403, 404] {
        let fake = start(std_world(120)).await;
        answer_with(&fake, "events-stream", status).await;
        let client = client_with(&fake, false, true, fast());
        let read = client
            .read_live(&request(&[G_JIRA.1, G_CONF.1]))
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        let s = &read.state;
        assert_eq!(s.users.len(), 118, "the 2 apps are not in the directory");
        assert!(s.events.is_empty());
        let events_read = s.events_read.as_ref().unwrap();
        assert_eq!(events_read.wanted_from, now() - TimeDelta::days(30));
        assert_eq!(events_read.covered_from, None);
        assert!(!events_read.is_complete());
        let note = events_read.note.as_deref().unwrap();
        assert!(
            note.contains(&status.to_string()) && note.contains("Atlassian Guard"),
            "{note}"
        );
        // Asked once, at the published page maximum, and not retried.
        assert_eq!(requests(&fake, "events-stream"), 1);
        assert!(log(&fake)
            .iter()
            .any(|l| l.contains("events-stream?") && l.contains("&limit=500&")));
    }
    // Any other failure of the events stream still fails the read.
    let fake = start(std_world(10)).await;
    answer_with(&fake, "events-stream", 400).await;
    let client = client_with(&fake, false, true, fast());
    assert!(client.read_live(&request(&[G_JIRA.1])).await.is_err());
}

/// Issue 11: event actions come from the org's `event-actions` listing: an action it does not
/// list is not read (whatever its spelling suggests), and the state says which are missing.
#[tokio::test]
async fn event_actions_come_from_the_orgs_listing() {
    let fake = start(std_world(5)).await;
    let listed = json!({"data": [{"id": "user_logged_in", "type": "event-actions",
        "attributes": {"displayName": "User logged in", "groupDisplayName": "User"}}]});
    script(
        &fake,
        "event-actions",
        json!({"status": 200, "body": listed}),
    )
    .await;
    let events: Vec<Value> = ["user_logged_in", "user_added_to_group", "user_login"]
        .iter()
        .enumerate()
        .map(|(i, action)| {
            json!({"id": format!("e{i}"), "type": "events", "attributes": {
                "time": "2026-11-20T10:00:00Z", "processedAt": "2026-11-20T10:00:01Z",
                "action": action, "actor": {"id": "acc-00001"},
                "context": [{"id": "acc-00001", "type": "users"}, {"id": "g-jira", "type": "groups"}]
            }})
        })
        .collect();
    let page = json!({"data": events, "meta": {"page_size": 500}, "links": {}});
    script(&fake, "events-stream", json!({"status": 200, "body": page})).await;
    let client = client_with(&fake, false, true, fast());
    let read = client.read_live(&request(&[G_JIRA.1])).await.unwrap();
    let actions: Vec<EventAction> = read.state.events.iter().map(|e| e.action).collect();
    assert_eq!(actions, [EventAction::UserLoggedIn]);
    let note = read.state.events_read.unwrap().note.unwrap_or_default();
    assert!(
        note.contains("access_requested")
            && note.contains("user_added_to_group")
            && note.contains("user_removed_from_group"),
        "{note}"
    );
}

#[tokio::test]
async fn a_site_only_read_says_it_has_no_events() {
    let fake = start(std_world(10)).await;
    let client = client_with(&fake, true, false, fast());
    let read = client.read_live(&request(&[G_JIRA.1])).await.unwrap();
    let events_read = read.state.events_read.unwrap();
    assert_eq!(events_read.covered_from, None);
    assert!(
        events_read
            .note
            .as_deref()
            .unwrap()
            .contains("ATLASSIAN_ADMIN_API_KEY"),
        "{events_read:?}"
    );
    assert_eq!(requests(&fake, "events-stream"), 0);
}

#[tokio::test]
async fn every_transient_fault_is_retried_and_the_read_converges() {
    let fake = start(std_world(300)).await;
    let client = client_with(
        &fake,
        true,
        false,
        ClientConfig {
            request_timeout: Duration::from_millis(800),
            ..fast()
        },
    );
    for (path, answer) in [
        ("users/search", json!({"status": 503})),
        ("users/search", json!({"fault": "reset"})),
        ("group/bulk", json!({"status": 502})),
        ("group/bulk", json!({"fault": "truncate"})),
        ("startAt=50&", json!({"status": 504})),
        ("startAt=100&", json!({"fault": "slow_body"})),
        ("startAt=0&maxResults=50", json!({"latency_ms": 100})),
        ("startAt=0&maxResults=50", json!({"fault": "reset"})),
    ] {
        script(&fake, path, answer).await;
    }
    let read = client
        .read_live(&request(&[G_JIRA.1, G_CONF.1]))
        .await
        .unwrap();
    let jira = read
        .state
        .groups
        .iter()
        .find(|g| g.name == G_JIRA.1)
        .unwrap();
    assert_eq!(jira.members.len(), 150);
    assert_eq!(read.state.users.len(), 300);
    // 7 of the 8 faults fail an attempt (latency alone does not).
    assert_eq!(read.stats.retries, 7, "{:#?}", log(&fake));
    assert_eq!(read.stats.requests, 1 + 1 + 3 + 2 + 7);
}

#[tokio::test]
async fn persistent_failure_says_how_many_retries_and_how_long() {
    let fake = start(std_world(10)).await;
    script(&fake, "myself", json!({"status": 503, "times": 10})).await;
    let config = ClientConfig {
        retry: RetryConfig {
            max_retries: 3,
            base_delay: Duration::from_millis(10),
            ..RetryConfig::default()
        },
        ..fast()
    };
    let client = client_with(&fake, true, false, config);
    let err = client.myself().await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("HTTP 503") && text.contains("failed after 3 retries in"),
        "{text}"
    );
    assert_eq!(err.status(), Some(503));
    assert_eq!(requests(&fake, "myself"), 4);
}

#[tokio::test]
async fn fatal_errors_are_not_retried() {
    let fake = start(std_world(10)).await;
    answer_with(&fake, "myself", 400).await;
    let client = client_with(&fake, true, false, fast());
    let err = client.myself().await.unwrap_err();
    assert!(
        matches!(err, ApiError::Status { status: 400, .. }),
        "{err:?}"
    );
    assert_eq!(requests(&fake, "myself"), 1);
    let me = client.myself().await.unwrap();
    assert_eq!(me, Some(sandbox_myself(&fake).await));
}

#[tokio::test]
async fn a_429_storm_converges_with_bounded_requests() {
    // 10 requests at once, then 40 a second, per endpoint: a read of 10 member pages with
    // parallelism 8 trips it.
    let limited = SandboxConfig {
        rate_limit: Some(RateLimitConfig {
            per_second: 40.0,
            burst: 10,
        }),
        ..SandboxConfig::default()
    };
    let fake = Env::start(std_world(1000), limited).await;
    let config = ClientConfig {
        parallelism: 8,
        retry: RetryConfig {
            base_delay: Duration::from_millis(20),
            ..RetryConfig::default()
        },
        request_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    };
    let client = client_with(&fake, true, false, config);
    let started = Instant::now();
    let read = client
        .read_live(&request(&[G_JIRA.1, G_CONF.1, G_EMP.1]))
        .await
        .unwrap();
    let emp = read
        .state
        .groups
        .iter()
        .find(|g| g.name == G_EMP.1)
        .unwrap();
    assert_eq!(emp.members.len(), 900);
    // 2 users pages (the second, empty, ends the listing) + 1 bulk + 10 + 7 + 18 member pages.
    let minimum = 2 + 1 + 10 + 7 + 18;
    let stats = read.stats;
    assert!(
        stats.rate_limited > 0,
        "the limit must be reached for this test to mean anything"
    );
    assert_eq!(stats.requests, minimum + stats.retries);
    assert!(
        stats.requests <= minimum * 3 / 2,
        "too many requests: {stats:?} (minimum {minimum}), took {:?}",
        started.elapsed()
    );
    eprintln!("storm: {stats:?} in {:?}", started.elapsed());
}

/// The admin users search answers `times` 429s with the documented headers only:
/// `X-RateLimit-Limit: 10`, `X-RateLimit-Remaining: 0` and this `X-RateLimit-Reset` (verbatim).
async fn limited(env: &Env, reset: &str, times: u32) {
    let headers = json!({"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": reset});
    let answer = json!({"status": 429, "headers": headers, "times": times});
    script(env, "users/search", answer).await;
}

/// Issue 11: a 429 without `Retry-After` waits until `X-RateLimit-Reset`; a reset in the past,
/// unparsable or absent is retried with backoff, never a panic or a hang; a reset hours away
/// ends the call instead of sleeping.
#[tokio::test]
async fn a_429_waits_until_the_reset_and_a_bad_reset_does_not_hang() {
    let config = || ClientConfig {
        retry: RetryConfig {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            ..RetryConfig::default()
        },
        ..ClientConfig::default()
    };
    let at = |d: TimeDelta| (Utc::now() + d).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // Waits until the reset.
    let fake = start(std_world(5)).await;
    limited(&fake, &at(TimeDelta::milliseconds(400)), 1).await;
    let client = client_with(&fake, false, true, config());
    let started = Instant::now();
    let read = client.read_live(&request(&[G_JIRA.1])).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
    assert_eq!((read.stats.rate_limited, read.stats.retries), (1, 1));
    // Bad resets: backoff, then the read completes.
    for reset in [
        at(-TimeDelta::minutes(5)),
        "in a minute".to_string(),
        String::new(),
        "2026-13-45T99:00:00Z".to_string(),
    ] {
        let fake = start(std_world(5)).await;
        limited(&fake, &reset, 3).await;
        let client = client_with(&fake, false, true, config());
        let started = Instant::now();
        let read = tokio::time::timeout(
            Duration::from_secs(10),
            client.read_live(&request(&[G_JIRA.1])),
        )
        .await
        .expect("no hang")
        .unwrap();
        assert_eq!(read.stats.rate_limited, 3, "{reset:?}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{reset:?}: {:?}",
            started.elapsed()
        );
    }
    // A reset hours away is not slept through.
    let fake = start(std_world(5)).await;
    limited(&fake, &at(TimeDelta::hours(3)), 1).await;
    let client = client_with(&fake, false, true, config());
    let err = tokio::time::timeout(
        Duration::from_secs(10),
        client.read_live(&request(&[G_JIRA.1])),
    )
    .await
    .expect("no hang")
    .expect_err("gives up");
    assert!(matches!(err.root(), ApiError::RateLimited { .. }), "{err}");
}

#[tokio::test]
async fn a_429_slows_only_the_limited_endpoint() {
    let fake = start(std_world(10)).await;
    answer_with(&fake, "group/bulk", 429).await;
    let client = client_with(
        &fake,
        true,
        false,
        ClientConfig {
            retry: RetryConfig::default(),
            ..fast()
        },
    );
    // No Retry-After: backoff from 250ms. Another endpoint meanwhile answers at once.
    let req = request(&[G_JIRA.1]);
    let slow = client.read_live(&req);
    let fast_call = async {
        let t = Instant::now();
        client.myself().await.unwrap();
        t.elapsed()
    };
    let (read, myself_took) = tokio::join!(slow, fast_call);
    assert_eq!(read.unwrap().stats.rate_limited, 1);
    assert!(myself_took < Duration::from_millis(100), "{myself_took:?}");
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_with_a_clear_message_and_no_secret() {
    let fake = start(std_world(3)).await;
    let bad = |site: bool| CredentialSource {
        email: site.then(|| EMAIL.to_string()),
        api_token: site.then(|| Secret::new("tok-WRONG-777")),
        admin_api_key: (!site).then(|| Secret::new("adm-WRONG-888")),
        api_base: Some(fake.base.clone()),
    };
    for site in [true, false] {
        let creds = Credentials::resolve("acme.atlassian.net", Some(ORG), bad(site)).unwrap();
        let client = Client::new(creds, fast()).unwrap();
        let err = client.read_live(&request(&[G_JIRA.1])).await.unwrap_err();
        assert!(err.is_unauthorized(), "{err:?}");
        assert_eq!(requests(&fake, "WRONG"), 0);
        let shown = format!(
            "{err} | {err:?} | {:?} | {:?}",
            client,
            client.credentials()
        );
        for secret in ["tok-WRONG-777", "adm-WRONG-888", TOKEN, ADMIN_KEY] {
            assert!(!shown.contains(secret), "secret in {shown}");
        }
        let text = err.to_string();
        if site {
            assert!(
                text.starts_with("the API token was rejected (401): it may have expired"),
                "{text}"
            );
            assert!(text.contains("https://id.atlassian.com/manage-profile/security/api-tokens"));
        } else {
            assert!(
                text.starts_with("the org admin API key was rejected (401)"),
                "{text}"
            );
        }
    }
}

#[tokio::test]
async fn no_error_of_any_kind_shows_a_secret() {
    let fake = start(std_world(3)).await;
    let client = client_with(&fake, true, true, fast());
    // A read answered 500 is retried a few times: fail it every time.
    for _ in 0..4 {
        answer_with(&fake, "myself", 500).await;
    }
    let mut errors = vec![client.myself().await.unwrap_err()];
    errors.push(client.add_member("g-none", "acc-00001").await.unwrap_err());
    errors.push(client.add_member("", "acc-00001").await.unwrap_err());
    fault(&fake, "users/search", "truncate").await;
    answer_with(&fake, "users/search", 400).await;
    errors.push(client.read_live(&request(&[G_JIRA.1])).await.unwrap_err());
    for e in &errors {
        let shown = format!("{e} {e:?} {:?}", std::error::Error::source(e));
        assert!(
            !shown.contains(TOKEN) && !shown.contains(ADMIN_KEY),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn an_answer_announced_at_10_gb_is_refused_unread() {
    let fake = start(std_world(3)).await;
    let client = client_with(&fake, true, false, fast());
    fault(&fake, "myself", "huge_body").await;
    let started = Instant::now();
    let err = client.myself().await.unwrap_err();
    assert!(
        err.to_string().contains("10737418240 bytes") && err.to_string().contains("refused unread"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn answers_are_capped_per_endpoint() {
    let fake = start(std_world(3)).await;
    let client = client_with(&fake, true, false, fast());
    // `myself` documents a small answer: 5 MiB is refused.
    script(&fake, "myself", json!({"pad_to": 5 << 20})).await;
    let err = client.myself().await.unwrap_err();
    assert!(err.to_string().contains("more than the 4 MiB"), "{err}");
    // A users page may be large: 8 MiB is read.
    script(&fake, "users/search", json!({"pad_to": 8 << 20})).await;
    let read = client.read_live(&request(&[G_JIRA.1])).await;
    assert!(read.is_ok(), "{:?}", read.err());
}

#[tokio::test]
async fn a_listing_that_ignores_start_at_stops_at_the_item_cap() {
    // Every member page is the first one, never saying it is the last (a broken server or
    // proxy).
    let fake = start(std_world(60)).await;
    let mut first = fake
        .get_json("/rest/api/3/group/member?groupId=g-jira&includeInactiveUsers=true&maxResults=50")
        .await;
    let first = first.as_object_mut().unwrap();
    first.retain(|k, _| !matches!(k.as_str(), "total" | "nextPage"));
    first.insert("isLast".into(), json!(false));
    let answer = json!({"status": 200, "body": first, "times": 100_000});
    script(&fake, "group/member", answer).await;
    let client = client_with(&fake, true, false, fast());
    let err = client
        .read_live(&request(&[G_JIRA.1]))
        .await
        .expect_err("a listing that never ends is an error");
    assert!(
        err.to_string().contains("past 250000 entries")
            && err.to_string().contains("ignore `startAt`"),
        "{err}"
    );
}

#[tokio::test]
async fn a_read_page_answered_500_is_asked_again_and_a_write_is_not() {
    let fake = start(std_world(30)).await;
    let client = client_with(&fake, true, true, fast());
    answer_with(&fake, "users/search", 500).await;
    answer_with(&fake, "users/search", 500).await;
    let read = client.read_live(&request(&[G_JIRA.1])).await;
    assert!(read.is_ok(), "{:?}", read.err());
    let site = client_with(&fake, true, false, fast());
    answer_with(&fake, "group/user", 500).await;
    let write = site.add_member("g-jira", "acc-00001").await;
    assert!(write.is_err(), "a write answered 500 is not sent again");
    assert_eq!(requests(&fake, "group/user"), 1);
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_looked_up_before_it_is_sent_again() {
    for (site, admin, write, look) in [
        (true, false, "group/user", "user/groups"),
        (false, true, "/memberships", "users/search"),
    ] {
        let fake = start(std_world(10)).await;
        let client = client_with(&fake, site, admin, fast());
        // The add lands and its answer is lost: one look finds it done, nothing is sent again.
        fault(&fake, write, "reset_after").await;
        let added = client.add_member("g-conf", "acc-00001").await.unwrap();
        assert_eq!(added, Change::Done);
        fault(&fake, write, "reset_after").await;
        let removed = client.remove_member("g-conf", "acc-00001").await.unwrap();
        assert_eq!(removed, Change::Done);
        assert_eq!(requests(&fake, write), 2, "{:?}", log(&fake));
        assert_eq!(requests(&fake, look), 2, "{:?}", log(&fake));
        // Lost before it landed (a reset, a gateway's 504): the look finds it not done, and it
        // is sent again.
        let m = mark(&fake);
        fault(&fake, write, "reset").await;
        answer_with(&fake, write, 504).await;
        let added = client.add_member("g-conf", "acc-00002").await.unwrap();
        assert_eq!(added, Change::Done);
        assert_eq!(requests_from(&fake, m, write), 3, "{:?}", log(&fake));
        assert_eq!(requests_from(&fake, m, look), 2, "{:?}", log(&fake));
        // A 503 or a 429 is answered before any work: sent again without a look.
        let m = mark(&fake);
        answer_with(&fake, write, 503).await;
        let removed = client.remove_member("g-conf", "acc-00002").await.unwrap();
        assert_eq!(removed, Change::Done);
        let counts = (
            requests_from(&fake, m, write),
            requests_from(&fake, m, look),
        );
        assert_eq!(counts, (2, 0), "{:?}", log(&fake));
    }
}

#[tokio::test]
async fn a_server_that_echoes_the_authorization_header_never_gets_it_shown() {
    use base64::Engine as _;
    let fake = start(std_world(3)).await;
    let client = client_with(&fake, true, true, fast());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"));
    // Some proxies and block pages echo the Authorization header, raw and percent-encoded.
    let escape = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let echo = |status: u16| {
        let headers = [format!("Basic {basic}"), format!("Bearer {ADMIN_KEY}")];
        let shown: Vec<String> = headers
            .iter()
            .map(|h| format!("{h} ({})", escape(h)))
            .collect();
        let message = format!("blocked request with Authorization {}", shown.join(", "));
        json!({"status": status, "body": {"errorMessages": [message], "errors": {}}})
    };
    script(&fake, "myself", echo(403)).await;
    let site = client.myself().await.unwrap_err();
    script(&fake, "users/search", echo(400)).await;
    let admin = client.read_live(&request(&[G_JIRA.1])).await.unwrap_err();
    for e in [site, admin] {
        let shown = format!("{e} {e:?} {:?}", std::error::Error::source(&e));
        assert!(
            shown.contains("***"),
            "the echo is shown, redacted: {shown}"
        );
        for secret in [TOKEN, ADMIN_KEY, basic.as_str()] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            !shown.contains(&escape(&basic)),
            "no percent-encoded Basic value: {shown}"
        );
    }
}

#[test]
fn plain_http_to_a_remote_host_is_refused_before_any_request() {
    let src = CredentialSource {
        email: Some(EMAIL.into()),
        api_token: Some(Secret::new(TOKEN)),
        admin_api_key: None,
        api_base: Some("http://sandbox.example.com:8080".into()),
    };
    let err = Credentials::resolve("acme.atlassian.net", None, src).unwrap_err();
    assert!(matches!(err, CredentialsError::InsecureUrl { .. }));
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[tokio::test]
async fn site_writes_are_idempotent_by_outcome() {
    let mut w = std_world(10);
    w.groups[1].synced = true;
    let fake = start(w).await;
    let client = client_with(&fake, true, false, fast());
    assert_eq!(
        client.add_member("g-jira", "acc-00001").await.unwrap(),
        Change::Done
    );
    assert_eq!(
        client.add_member("g-jira", "acc-00001").await.unwrap(),
        Change::AlreadyDone
    );
    assert_eq!(
        client.remove_member("g-jira", "acc-00001").await.unwrap(),
        Change::Done
    );
    assert_eq!(
        client.remove_member("g-jira", "acc-00001").await.unwrap(),
        Change::AlreadyDone
    );
    let err = client.add_member("g-conf", "acc-00001").await.unwrap_err();
    assert!(matches!(err, ApiError::SyncedGroup { .. }), "{err}");
    let err = client.add_member("g-nope", "acc-00001").await.unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err}");
    assert!(log(&fake).iter().any(
        |l| l.starts_with("POST /rest/api/3/group/user?groupId=g-jira")
            && l.contains(r#"{"accountId":"acc-00001"}"#)
    ));
    assert!(log(&fake)
        .iter()
        .any(|l| l == "DELETE /rest/api/3/group/user?groupId=g-jira&accountId=acc-00001"));
}

#[tokio::test]
async fn admin_writes_use_memberships_and_type_the_refusals() {
    let mut w = std_world(10);
    w.groups[1].synced = true;
    // Jira Software is held by the 5 even accounts: one seat is left.
    w.licenses
        .insert("jira-software".into(), License { limit: 6 });
    let fake = start(w).await;
    let client = client_with(&fake, true, true, fast());
    assert_eq!(
        client.add_member("g-jira", "acc-00001").await.unwrap(),
        Change::Done
    );
    // The documented 409 of a duplicate add is "already done" only after a membership check.
    let m = mark(&fake);
    assert_eq!(
        client.add_member("g-jira", "acc-00001").await.unwrap(),
        Change::AlreadyDone
    );
    let log = log_from(&fake, m);
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(
        log[1].contains("users/search")
            && log[1].contains(r#""accountIds":["acc-00001"]"#)
            && log[1].contains(r#""groupIds":["g-jira"]"#),
        "{log:#?}"
    );
    let m = mark(&fake);
    let err = client.add_member("g-jira", "acc-00005").await.unwrap_err();
    assert!(matches!(err, ApiError::LicenseLimit { .. }), "{err}");
    assert!(err.to_string().contains("ADMIN-UAM-409-3"));
    // The org's one directory is known from the membership check's user listing (no lookup),
    // and a full license is not retried.
    let log = log_from(&fake, m);
    assert_eq!(log.len(), 1, "{log:#?}");
    let dir = fake.sandbox.directory_id();
    let add = format!("POST /admin/v2/orgs/org-1/directories/{dir}/groups/g-jira/memberships");
    assert!(log[0].starts_with(&add), "{log:#?}");
    assert_eq!(
        client.remove_member("g-jira", "acc-00001").await.unwrap(),
        Change::Done
    );
    // Removing a non-member: the sandbox answers 204 as for a member (docs/sandbox.md), which
    // is done; an answer that says "not a member" is already done.
    assert!(client.remove_member("g-jira", "acc-00001").await.is_ok());
    let not_member = json!({"errors": [{"id": "x", "status": "404", "code": "ADMIN-UAM-404-4",
        "title": "User is not a member of the group"}]});
    let answer = json!({"status": 404, "body": not_member});
    script(&fake, "DELETE /admin/v2/orgs/org-1/directories/", answer).await;
    assert_eq!(
        client.remove_member("g-jira", "acc-00001").await.unwrap(),
        Change::AlreadyDone
    );
    let err = client.add_member("g-conf", "acc-00001").await.unwrap_err();
    assert!(matches!(err, ApiError::SyncedGroup { .. }), "{err}");
}

/// Issue 11: a 409 on add is "already done" only for the spec's conflict code and only when a
/// membership check finds the account in the group; anything else is a clear error.
#[tokio::test]
async fn a_409_on_add_is_done_only_when_the_account_is_a_member() {
    for (code, needle) in [
        (
            "ADMIN-UAM-409-1",
            "`ADMIN-UAM-409-1` is not one the spec gives",
        ),
        ("ADMIN-UAM-409-2", "is not in the group"),
        ("ADMIN-409-99", "is not one the spec gives"),
    ] {
        // Every admin add answers 409 with this code, member or not.
        let fake = start(std_world(10)).await;
        let conflict = json!({"errors": [{"id": "x", "status": "409", "code": code,
            "title": "Conflict"}]});
        let answer = json!({"status": 409, "body": conflict, "times": 100});
        script(&fake, "/memberships", answer).await;
        let client = client_with(&fake, false, true, fast());
        // acc-00001 is not in g-jira (odd accounts are not).
        let err = client.add_member("g-jira", "acc-00001").await.unwrap_err();
        assert!(matches!(err, ApiError::Conflict { .. }), "{code}: {err}");
        let text = err.to_string();
        assert!(text.contains(needle) && text.contains(code), "{text}");
        assert_eq!(err.status(), Some(409));
        // A member is already done for the conflict code only.
        let member = client.add_member("g-jira", "acc-00002").await;
        if code == "ADMIN-UAM-409-2" {
            assert_eq!(member.unwrap(), Change::AlreadyDone);
        } else {
            assert!(matches!(member, Err(ApiError::Conflict { .. })), "{code}");
        }
    }
}

#[tokio::test]
async fn group_members_and_fingerprints_follow_writes() {
    for (site, admin) in [(true, false), (false, true)] {
        let fake = start(std_world(400)).await;
        let client = client_with(&fake, site, admin, fast());
        let ids = vec!["g-jira".to_string(), "g-conf".to_string()];
        let members = client.group_members(&ids).await.unwrap();
        assert_eq!(members["g-jira"].len(), 200);
        // The admin directory holds no apps: 3 of the group's 134 members are apps.
        assert_eq!(members["g-conf"].len(), if admin { 131 } else { 134 });
        let before = AtlassianApi::fetch_groups_fingerprint(&client, &ids)
            .await
            .unwrap();
        assert_eq!(before, client.fetch_groups_fingerprint(&ids).await.unwrap());
        // Fingerprints match what the full read gives.
        let read = client
            .read_live(&request(&[G_JIRA.1, G_CONF.1]))
            .await
            .unwrap();
        for g in &read.state.groups {
            let fp = seatkeeper::plan::fingerprint_members(g.members.iter().map(String::as_str));
            assert_eq!(before[&g.id], fp, "{} via site={site}", g.name);
        }
        client.add_member("g-jira", "acc-00001").await.unwrap();
        let after = client.fetch_groups_fingerprint(&ids).await.unwrap();
        assert_ne!(before["g-jira"], after["g-jira"]);
        assert_eq!(before["g-conf"], after["g-conf"]);
        let err = client
            .group_members(&["g-missing".to_string()])
            .await
            .unwrap_err();
        assert!(matches!(err.root(), ApiError::NotFound { .. }), "{err}");
    }
}

#[tokio::test]
async fn myself_names_the_account_behind_site_credentials() {
    let fake = start(std_world(1)).await;
    assert_eq!(
        client_with(&fake, true, true, fast())
            .myself()
            .await
            .unwrap(),
        Some(sandbox_myself(&fake).await)
    );
    assert_eq!(
        client_with(&fake, false, true, fast())
            .myself()
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn parallelism_bounds_requests_in_flight() {
    let fake = start(std_world(2000)).await;
    // Every member page is slow; with parallelism 2 the 20 pages of `employees` (1800 members
    // → 36 pages) take at least 36/2 * 50ms.
    let slow = json!({"latency_ms": 50, "times": 40});
    script(&fake, "group/member", slow.clone()).await;
    let client = client_with(
        &fake,
        true,
        false,
        ClientConfig {
            parallelism: 2,
            ..fast()
        },
    );
    let t = Instant::now();
    let m = client.group_members(&["g-emp".to_string()]).await.unwrap();
    assert_eq!(m["g-emp"].len(), 1800);
    assert!(
        t.elapsed() >= Duration::from_millis(36 / 2 * 50),
        "{:?}",
        t.elapsed()
    );
    let wide = client_with(
        &fake,
        true,
        false,
        ClientConfig {
            parallelism: 16,
            ..fast()
        },
    );
    script(&fake, "group/member", slow).await;
    let t = Instant::now();
    wide.group_members(&["g-emp".to_string()]).await.unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(36 / 2 * 50),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn admin_only_without_a_group_search_uses_the_expansion_and_stops_asking() {
    let fake = start(std_world(120)).await;
    no_group_search(&fake).await;
    let client = client_with(
        &fake,
        false,
        true,
        ClientConfig {
            events_page_size: 50,
            ..fast()
        },
    );
    let mut req = request(&[G_JIRA.1, G_CONF.1]);
    req.events_since = None;
    let read = client.read_live(&req).await.unwrap();
    let jira = read
        .state
        .groups
        .iter()
        .find(|g| g.name == G_JIRA.1)
        .unwrap();
    assert_eq!((jira.id.as_str(), jira.members.len()), ("g-jira", 60));
    // 2 user pages + 1 group search that answered 404.
    assert_eq!(read.stats.requests, 3);
    let again = client.read_live(&req).await.unwrap();
    assert_eq!(
        again.stats.requests, 2,
        "the missing group search is not asked again"
    );
    // Writes use the directory the user listing named.
    let m = mark(&fake);
    assert_eq!(
        client.add_member("g-conf", "acc-00001").await.unwrap(),
        Change::Done
    );
    let log = log_from(&fake, m);
    let dir = fake.sandbox.directory_id();
    let add = format!("POST /admin/v2/orgs/org-1/directories/{dir}/groups/g-conf/memberships");
    assert!(log.len() == 1 && log[0].starts_with(&add), "{log:#?}");
}

#[tokio::test]
async fn the_client_is_usable_as_a_trait_object() {
    let fake = start(std_world(60)).await;
    let api: Box<dyn AtlassianApi> = Box::new(client_with(&fake, true, false, fast()));
    assert_eq!(
        api.myself().await.unwrap(),
        Some(sandbox_myself(&fake).await)
    );
    let ids = vec!["g-jira".to_string()];
    assert_eq!(api.group_members(&ids).await.unwrap()["g-jira"].len(), 30);
    assert_eq!(
        api.add_member("g-jira", "acc-00001").await.unwrap(),
        Change::Done
    );
    assert_eq!(
        api.remove_member("g-jira", "acc-00001").await.unwrap(),
        Change::Done
    );
    assert_eq!(api.fetch_groups_fingerprint(&ids).await.unwrap().len(), 1);
    assert_eq!(
        api.read_live(&request(&[G_JIRA.1]))
            .await
            .unwrap()
            .state
            .users
            .len(),
        60
    );
    assert!(api.stats().requests >= 6);
}

#[tokio::test]
async fn preferring_the_admin_group_search_learns_synced_groups_and_falls_back() {
    let mut w = std_world(50);
    w.groups[1].synced = true;
    let fake = start(w).await;
    let config = ClientConfig {
        prefer_admin_group_search: true,
        ..fast()
    };
    let mut req = request(&[G_JIRA.1, G_CONF.1]);
    req.events_since = None;
    let read = client_with(&fake, true, true, config.clone())
        .read_live(&req)
        .await
        .unwrap();
    let conf = read
        .state
        .groups
        .iter()
        .find(|g| g.name == G_CONF.1)
        .unwrap();
    assert!(conf.synced);
    assert_eq!(requests(&fake, "group/bulk"), 0);
    assert_eq!(
        read.stats.requests,
        1 + 1,
        "one user page, one group search"
    );

    // Without a group search, group/bulk answers instead.
    let fake = start(std_world(50)).await;
    no_group_search(&fake).await;
    let client = client_with(&fake, true, true, config);
    let read = client.read_live(&req).await.unwrap();
    assert_eq!(read.state.groups.len(), 2);
    assert_eq!(read.stats.requests, 1 + 1 + 1);
    assert_eq!(client.read_live(&req).await.unwrap().stats.requests, 2);
}
