//! The Atlassian client against a scripted fake server on 127.0.0.1:0 (tests/it/client_support):
//! exact requests and page parameters, every fault kind, 429 storms, credentials, writes.

#![allow(clippy::unwrap_used)]

use crate::client_support::*;
use chrono::{DateTime, Utc};
use seatkeeper::atlassian::{
    ApiError, AtlassianApi, Change, Client, ClientConfig, CredentialSource, Credentials,
    CredentialsError, ReadPath, ReadRequest, RetryConfig, Secret,
};
use seatkeeper::live::{AccountStatus, AccountType, EventAction};
use serde_json::json;
use std::time::{Duration, Instant};

const G_JIRA: (&str, &str) = ("g-jira", "jira-software-users-acme");
const G_CONF: (&str, &str) = ("g-conf", "confluence-users-acme");
const G_EMP: (&str, &str) = ("g-emp", "employees");

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
        .unwrap()
        .to_utc()
}

fn source(fake: &Fake, site: bool, admin: bool) -> CredentialSource {
    CredentialSource {
        email: site.then(|| EMAIL.to_string()),
        api_token: site.then(|| Secret::new(TOKEN)),
        admin_api_key: admin.then(|| Secret::new(ADMIN_KEY)),
        api_base: Some(fake.base.clone()),
    }
}

fn client_with(fake: &Fake, site: bool, admin: bool, config: ClientConfig) -> Client {
    let creds =
        Credentials::resolve("acme.atlassian.net", Some(ORG), source(fake, site, admin)).unwrap();
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
        events_since: Some(now() - chrono::TimeDelta::days(30)),
        now: now(),
        licenses: false,
        members_only: false,
        safe_emails: vec![],
        safe_account_ids: vec![],
    }
}

fn std_world(n: usize) -> World {
    world(n, &[G_JIRA, G_CONF, G_EMP], |i, g| match g {
        "jira-software-users-acme" => i % 2 == 0,
        "confluence-users-acme" => i % 3 == 0,
        _ => i % 10 != 0,
    })
}

#[tokio::test]
async fn site_path_reads_every_page_with_the_minimum_requests() {
    let fake = Fake::start(std_world(2600)).await;
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
    let log = fake.log();
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
        .map(|i| {
            json!({"id": format!("e{i}"), "type": "events", "attributes": {
                "time": format!("2026-11-2{i}T10:00:00Z"),
                "action": if i % 2 == 0 { "user_logged_in" } else { "user_added_to_group" },
                "actor": {"id": if i % 2 == 0 { format!("acc-0000{i}") } else { "admin".into() }},
                "context": if i % 2 == 0 { json!([]) } else { json!([{"id": format!("acc-0000{i}"), "type": "users"}, {"id": "g-jira", "type": "groups"}]) }
            }})
        })
        .chain([json!({"attributes": {"time": "2026-11-20T00:00:00Z", "action": "api_key_created", "actor": {"id": "admin"}}})])
        .collect();
    let fake = Fake::start(w).await;
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
    assert_eq!(s.users.len(), 250);
    let g = |n: &str| s.groups.iter().find(|g| g.name == n).unwrap();
    assert_eq!(g(G_JIRA.1).members.len(), 125);
    assert_eq!(g(G_EMP.1).members.len(), 225);
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
    assert_eq!(s.events.len(), 5, "unknown actions are dropped");
    assert_eq!(s.events[1].action, EventAction::UserAddedToGroup);
    assert_eq!(
        (
            s.events[1].account_id.as_str(),
            s.events[1].group_id.as_deref()
        ),
        ("acc-00001", Some("g-jira"))
    );
    assert_eq!(s.events[0].account_id, "acc-00000");

    // 3 user pages of 100 + 1 group search + the event actions + 3 event pages of 2 (6 events).
    assert_eq!(read.stats.requests, 3 + 1 + 1 + 3, "{:#?}", fake.log());
    let log = fake.log();
    assert!(log.iter().any(|l| l.contains("users/search")
        && l.contains(r#""cursor":"off:200""#)
        && l.contains(r#""limit":100"#)));
    assert!(log
        .iter()
        .any(|l| l.contains("events-stream?from=") && l.contains("&limit=2&sortOrder=asc")));
    // The events API publishes no retention horizon: a read that succeeded covers its window.
    let since = now() - chrono::TimeDelta::days(30);
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
    let mut w = std_world(120);
    w.group_aris = true;
    let fake = Fake::start(w).await;
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
        let mut w = std_world(3);
        for u in &mut w.users {
            u.last_active = vec![(key, "2026-11-01T00:00:00Z".to_string())];
        }
        w.product_ari = Some(ari.to_string());
        let fake = Fake::start(w).await;
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
        let fake = Fake::start(std_world(120)).await;
        fake.fault("events-stream", Fault::Status(status));
        let client = client_with(&fake, false, true, fast());
        let read = client
            .read_live(&request(&[G_JIRA.1, G_CONF.1]))
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        let s = &read.state;
        assert_eq!(s.users.len(), 120);
        assert!(s.events.is_empty());
        let events_read = s.events_read.as_ref().unwrap();
        assert_eq!(events_read.wanted_from, now() - chrono::TimeDelta::days(30));
        assert_eq!(events_read.covered_from, None);
        assert!(!events_read.is_complete());
        let note = events_read.note.as_deref().unwrap();
        assert!(
            note.contains(&status.to_string()) && note.contains("Atlassian Guard"),
            "{note}"
        );
        // Asked once, at the published page maximum, and not retried.
        assert_eq!(fake.requests("events-stream"), 1);
        assert!(fake
            .log()
            .iter()
            .any(|l| l.contains("events-stream?") && l.contains("&limit=500&")));
    }
    // Any other failure of the events stream still fails the read.
    let fake = Fake::start(std_world(10)).await;
    fake.fault("events-stream", Fault::Status(400));
    let client = client_with(&fake, false, true, fast());
    assert!(client.read_live(&request(&[G_JIRA.1])).await.is_err());
}

/// Issue 11: event actions come from the org's `event-actions` listing: an action it does not
/// list is not read (whatever its spelling suggests), and the state says which are missing.
#[tokio::test]
async fn event_actions_come_from_the_orgs_listing() {
    let mut w = std_world(5);
    w.event_actions = Some(vec!["user_logged_in"]);
    w.events = ["user_logged_in", "user_added_to_group", "user_login"]
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
    let fake = Fake::start(w).await;
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
    let fake = Fake::start(std_world(10)).await;
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
    assert_eq!(fake.requests("events-stream"), 0);
}

#[tokio::test]
async fn every_transient_fault_is_retried_and_the_read_converges() {
    let fake = Fake::start(std_world(300)).await;
    let client = client_with(
        &fake,
        true,
        false,
        ClientConfig {
            request_timeout: Duration::from_millis(800),
            ..fast()
        },
    );
    for (path, fault) in [
        ("users/search", Fault::Status(503)),
        ("users/search", Fault::Reset),
        ("group/bulk", Fault::Status(502)),
        ("group/bulk", Fault::Truncate),
        ("startAt=50&", Fault::Status(504)),
        ("startAt=100&", Fault::SlowBody(Duration::from_millis(200))),
        (
            "startAt=0&maxResults=50",
            Fault::Latency(Duration::from_millis(100)),
        ),
        ("startAt=0&maxResults=50", Fault::Reset),
    ] {
        fake.fault(path, fault);
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
    assert_eq!(read.stats.retries, 7, "{:#?}", fake.log());
    assert_eq!(read.stats.requests, 1 + 1 + 3 + 2 + 7);
}

#[tokio::test]
async fn persistent_failure_says_how_many_retries_and_how_long() {
    let fake = Fake::start(std_world(10)).await;
    for _ in 0..10 {
        fake.fault("myself", Fault::Status(503));
    }
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
    assert_eq!(fake.requests("myself"), 4);
}

#[tokio::test]
async fn fatal_errors_are_not_retried() {
    let fake = Fake::start(std_world(10)).await;
    fake.fault("myself", Fault::Status(400));
    let client = client_with(&fake, true, false, fast());
    let err = client.myself().await.unwrap_err();
    assert!(
        matches!(err, ApiError::Status { status: 400, .. }),
        "{err:?}"
    );
    assert_eq!(fake.requests("myself"), 1);
    assert_eq!(client.myself().await.unwrap().as_deref(), Some("acc-self"));
}

#[tokio::test]
async fn a_429_storm_converges_with_bounded_requests() {
    let mut w = std_world(1000);
    // 10 requests per 250ms per endpoint: a read of 10 member pages with parallelism 8 trips it.
    w.rate_limit = Some((10, Duration::from_millis(250)));
    let fake = Fake::start(w).await;
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
    let at = |d: chrono::TimeDelta| {
        (Utc::now() + d).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    // Waits until the reset.
    let fake = Fake::start(std_world(5)).await;
    fake.fault(
        "users/search",
        Fault::Limited(at(chrono::TimeDelta::milliseconds(400))),
    );
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
        at(-chrono::TimeDelta::minutes(5)),
        "in a minute".to_string(),
        String::new(),
        "2026-13-45T99:00:00Z".to_string(),
    ] {
        let fake = Fake::start(std_world(5)).await;
        for _ in 0..3 {
            fake.fault("users/search", Fault::Limited(reset.clone()));
        }
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
    let fake = Fake::start(std_world(5)).await;
    fake.fault(
        "users/search",
        Fault::Limited(at(chrono::TimeDelta::hours(3))),
    );
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
    let fake = Fake::start(std_world(10)).await;
    fake.fault("group/bulk", Fault::Status(429));
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
    let fake = Fake::start(std_world(3)).await;
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
        assert_eq!(fake.requests("WRONG"), 0);
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
    let fake = Fake::start(std_world(3)).await;
    let client = client_with(&fake, true, true, fast());
    // A read answered 500 is retried a few times: fail it every time.
    for _ in 0..4 {
        fake.fault("myself", Fault::Status(500));
    }
    let mut errors = vec![client.myself().await.unwrap_err()];
    errors.push(client.add_member("g-none", "acc-00001").await.unwrap_err());
    errors.push(client.add_member("", "acc-00001").await.unwrap_err());
    fake.fault("users/search", Fault::Truncate);
    fake.fault("users/search", Fault::Status(400));
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
    let fake = Fake::start(std_world(3)).await;
    let client = client_with(&fake, true, false, fast());
    fake.fault("myself", Fault::HugeBody);
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
    let fake = Fake::start(std_world(3)).await;
    let client = client_with(&fake, true, false, fast());
    // `myself` documents a small answer: 5 MiB is refused.
    fake.fault("myself", Fault::PaddedBody(5 << 20));
    let err = client.myself().await.unwrap_err();
    assert!(err.to_string().contains("more than the 4 MiB"), "{err}");
    // A users page may be large: 8 MiB is read.
    fake.fault("users/search", Fault::PaddedBody(8 << 20));
    let read = client.read_live(&request(&[G_JIRA.1])).await;
    assert!(read.is_ok(), "{:?}", read.err());
}

#[tokio::test]
async fn a_listing_that_ignores_start_at_stops_at_the_item_cap() {
    let mut world = std_world(60);
    world.ignore_start_at = true;
    let fake = Fake::start(world).await;
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
    let fake = Fake::start(std_world(30)).await;
    let client = client_with(&fake, true, true, fast());
    fake.fault("users/search", Fault::Status(500));
    fake.fault("users/search", Fault::Status(500));
    let read = client.read_live(&request(&[G_JIRA.1])).await;
    assert!(read.is_ok(), "{:?}", read.err());
    let site = client_with(&fake, true, false, fast());
    fake.fault("group/user", Fault::Status(500));
    let write = site.add_member("g-jira", "acc-00001").await;
    assert!(write.is_err(), "a write answered 500 is not sent again");
    assert_eq!(fake.requests("group/user"), 1);
}

#[tokio::test]
async fn a_write_whose_answer_was_lost_is_looked_up_before_it_is_sent_again() {
    for (site, admin, write, look) in [
        (true, false, "group/user", "user/groups"),
        (false, true, "/memberships", "users/search"),
    ] {
        let fake = Fake::start(std_world(10)).await;
        let client = client_with(&fake, site, admin, fast());
        // The add lands and its answer is lost: one look finds it done, nothing is sent again.
        fake.fault(write, Fault::ResetAfter);
        let added = client.add_member("g-conf", "acc-00001").await.unwrap();
        assert_eq!(added, Change::Done);
        fake.fault(write, Fault::ResetAfter);
        let removed = client.remove_member("g-conf", "acc-00001").await.unwrap();
        assert_eq!(removed, Change::Done);
        assert_eq!(fake.requests(write), 2, "{:?}", fake.log());
        assert_eq!(fake.requests(look), 2, "{:?}", fake.log());
        // Lost before it landed (a reset, a gateway's 504): the look finds it not done, and it
        // is sent again.
        fake.clear_log();
        fake.fault(write, Fault::Reset);
        fake.fault(write, Fault::Status(504));
        let added = client.add_member("g-conf", "acc-00002").await.unwrap();
        assert_eq!(added, Change::Done);
        assert_eq!(fake.requests(write), 3, "{:?}", fake.log());
        assert_eq!(fake.requests(look), 2, "{:?}", fake.log());
        // A 503 or a 429 is answered before any work: sent again without a look.
        fake.clear_log();
        fake.fault(write, Fault::Status(503));
        let removed = client.remove_member("g-conf", "acc-00002").await.unwrap();
        assert_eq!(removed, Change::Done);
        assert_eq!(
            (fake.requests(write), fake.requests(look)),
            (2, 0),
            "{:?}",
            fake.log()
        );
    }
}

#[tokio::test]
async fn a_server_that_echoes_the_authorization_header_never_gets_it_shown() {
    use base64::Engine as _;
    let fake = Fake::start(std_world(3)).await;
    let client = client_with(&fake, true, true, fast());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}"));
    fake.fault("myself", Fault::EchoAuth(403));
    let site = client.myself().await.unwrap_err();
    fake.fault("users/search", Fault::EchoAuth(400));
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
        let escaped =
            percent_encoding::utf8_percent_encode(&basic, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert!(
            !shown.contains(&escaped),
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
    let fake = Fake::start(w).await;
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
    assert!(fake.log().iter().any(
        |l| l.starts_with("POST /rest/api/3/group/user?groupId=g-jira")
            && l.contains(r#"{"accountId":"acc-00001"}"#)
    ));
    assert!(fake
        .log()
        .iter()
        .any(|l| l == "DELETE /rest/api/3/group/user?groupId=g-jira&accountId=acc-00001"));
}

#[tokio::test]
async fn admin_writes_use_memberships_and_type_the_refusals() {
    let mut w = std_world(10);
    w.groups[1].synced = true;
    w.groups[2].full = true;
    let fake = Fake::start(w).await;
    let client = client_with(&fake, true, true, fast());
    assert_eq!(
        client.add_member("g-jira", "acc-00001").await.unwrap(),
        Change::Done
    );
    // The documented 409 of a duplicate add is "already done" only after a membership check.
    fake.clear_log();
    // The documented 409 of a duplicate add is "already done" only after a membership check.
    fake.clear_log();
    assert_eq!(
        client.add_member("g-jira", "acc-00001").await.unwrap(),
        Change::AlreadyDone
    );
    let log = fake.log();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(
        log[1].contains("users/search")
            && log[1].contains(r#""accountIds":["acc-00001"]"#)
            && log[1].contains(r#""groupIds":["g-jira"]"#),
        "{log:#?}"
    );
    let log = fake.log();
    assert_eq!(log.len(), 2, "{log:#?}");
    assert!(
        log[1].contains("users/search")
            && log[1].contains(r#""accountIds":["acc-00001"]"#)
            && log[1].contains(r#""groupIds":["g-jira"]"#),
        "{log:#?}"
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
    fake.clear_log();
    let err = client.add_member("g-emp", "acc-00000").await.unwrap_err();
    assert!(matches!(err, ApiError::LicenseLimit { .. }), "{err}");
    assert!(err.to_string().contains("ADMIN-UAM-409-3"));
    // The org's one directory is known from the membership check's user listing (no lookup),
    // and a full license is not retried.
    let log = fake.log();
    assert_eq!(log.len(), 1, "{log:#?}");
    assert!(
        log[0].starts_with("POST /admin/v2/orgs/org-1/directories/dir-1/groups/g-emp/memberships")
    );
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
        let mut w = std_world(10);
        w.add_conflict = Some(code);
        let fake = Fake::start(w).await;
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
        let fake = Fake::start(std_world(400)).await;
        let client = client_with(&fake, site, admin, fast());
        let ids = vec!["g-jira".to_string(), "g-conf".to_string()];
        let members = client.group_members(&ids).await.unwrap();
        assert_eq!(members["g-jira"].len(), 200);
        assert_eq!(members["g-conf"].len(), 134);
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
    let fake = Fake::start(std_world(1)).await;
    assert_eq!(
        client_with(&fake, true, true, fast())
            .myself()
            .await
            .unwrap()
            .as_deref(),
        Some("acc-self")
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
    let fake = Fake::start(std_world(2000)).await;
    // Every member page is slow; with parallelism 2 the 20 pages of `employees` (1800 members
    // → 36 pages) take at least 36/2 * 50ms.
    for _ in 0..40 {
        fake.fault("group/member", Fault::Latency(Duration::from_millis(50)));
    }
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
    for _ in 0..40 {
        fake.fault("group/member", Fault::Latency(Duration::from_millis(50)));
    }
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
    let mut w = std_world(120);
    w.no_group_search = true;
    let fake = Fake::start(w).await;
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
    fake.clear_log();
    assert_eq!(
        client.add_member("g-conf", "acc-00001").await.unwrap(),
        Change::Done
    );
    assert_eq!(fake.log().len(), 1);
    assert!(fake.log()[0]
        .starts_with("POST /admin/v2/orgs/org-1/directories/dir-1/groups/g-conf/memberships"));
}

#[tokio::test]
async fn the_client_is_usable_as_a_trait_object() {
    let fake = Fake::start(std_world(60)).await;
    let api: Box<dyn AtlassianApi> = Box::new(client_with(&fake, true, false, fast()));
    assert_eq!(api.myself().await.unwrap().as_deref(), Some("acc-self"));
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
    let fake = Fake::start(w).await;
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
    assert_eq!(fake.requests("group/bulk"), 0);
    assert_eq!(
        read.stats.requests,
        1 + 1,
        "one user page, one group search"
    );

    // Without a group search (like the sandbox), group/bulk answers instead.
    let mut w = std_world(50);
    w.no_group_search = true;
    let fake = Fake::start(w).await;
    let client = client_with(&fake, true, true, config);
    let read = client.read_live(&req).await.unwrap();
    assert_eq!(read.state.groups.len(), 2);
    assert_eq!(read.stats.requests, 1 + 1 + 1);
    assert_eq!(client.read_live(&req).await.unwrap().stats.requests, 2);
}
