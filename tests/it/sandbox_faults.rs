//! Rate limiting (429 and its headers) and every fault kind, over real sockets.

use crate::sandbox_support::*;
use reqwest::Method;
use seatkeeper::sandbox::{FaultConfig, RateLimitConfig, SandboxConfig};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn faulty(spec: &str) -> SandboxConfig {
    SandboxConfig {
        faults: FaultConfig::parse(spec).expect("valid spec"),
        ..SandboxConfig::default()
    }
}

#[tokio::test]
async fn over_the_limit_is_429_with_headers() {
    let config = SandboxConfig {
        rate_limit: Some(RateLimitConfig {
            per_second: 0.2,
            burst: 10,
        }),
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    let path = "/rest/api/3/group/member?groupId=gid-1";
    let mut near_limit_seen = false;
    for i in 0..10 {
        let resp = env.jira(Method::GET, path).send().await.expect("request");
        assert_eq!(resp.status(), 200, "request {i} is within the burst");
        let h = resp.headers();
        if i < 8 {
            assert!(
                h.get("x-ratelimit-nearlimit").is_none(),
                "request {i}: budget is not low yet"
            );
        } else {
            // Under 20 % of the budget left: the headers appear on normal responses.
            assert_eq!(h["x-ratelimit-nearlimit"], "true", "request {i}");
            assert_eq!(h["x-ratelimit-limit"], "10");
            assert!(h.get("x-ratelimit-remaining").is_some());
            near_limit_seen = true;
        }
    }
    assert!(near_limit_seen);
    let resp = env.jira(Method::GET, path).send().await.expect("request");
    assert_eq!(resp.status(), 429);
    let h = resp.headers().clone();
    let retry: u64 = h["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        (4..=5).contains(&retry),
        "one token takes 5 s at 0.2/s: {retry}"
    );
    assert_eq!(h["x-ratelimit-limit"], "10");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-nearlimit"], "true");
    let reset = h["x-ratelimit-reset"].to_str().expect("ascii");
    assert!(
        chrono::DateTime::parse_from_rfc3339(reset).is_ok(),
        "ISO 8601 reset: {reset}"
    );
    let body: Value = resp.json().await.expect("json");
    assert!(body["errorMessages"][0].is_string());

    // Buckets are per endpoint and method: another endpoint is unaffected.
    let other = env
        .jira(Method::GET, "/rest/api/3/applicationrole")
        .send()
        .await
        .expect("request");
    assert_eq!(other.status(), 200);
    // The admin API is not limited by Jira's buckets: it has its own documented budgets.
    let search = format!("/admin/v2/orgs/{}/directories/-/users/search", env.org_id);
    for _ in 0..12 {
        let resp = env
            .admin(Method::POST, &search)
            .json(&json!({}))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("x-ratelimit-limit").is_none());
    }
    let env = Env::start(
        fixture(),
        SandboxConfig {
            admin_limits: Some(seatkeeper::sandbox::AdminLimits {
                other_per_path: 10,
                ..seatkeeper::sandbox::AdminLimits::DOCUMENTED
            }),
            ..SandboxConfig::default()
        },
    )
    .await;
    // Headers on every response, its own error shape on 429, no `Retry-After`.
    let search = format!("/admin/v2/orgs/{}/directories/-/users/search", env.org_id);
    let first = env
        .admin(Method::POST, &search)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(first.headers()["x-ratelimit-remaining"], "9");
    for _ in 0..9 {
        env.admin(Method::POST, &search)
            .json(&json!({}))
            .send()
            .await
            .expect("request");
    }
    let limited = env
        .admin(Method::POST, &search)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_none());
    assert_eq!(limited.headers()["x-ratelimit-remaining"], "0");
    let body: Value = limited.json().await.expect("json");
    assert_eq!(body["errors"][0]["status"], "429");

    let stats = env.stats().await;
    assert_eq!(stats["rate_limited"], 1);
    assert_eq!(stats["responses_by_status"]["429"], 1);
}

#[tokio::test]
async fn control_endpoints_are_never_limited_or_faulted() {
    let mut config = faulty("5xx=1,seed=1");
    config.rate_limit = Some(RateLimitConfig {
        per_second: 0.1,
        burst: 1,
    });
    let env = Env::start(fixture(), config).await;
    for _ in 0..5 {
        assert_eq!(
            env.raw(Method::GET, "/__sandbox/stats")
                .send()
                .await
                .expect("request")
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn server_errors_are_injected_and_some_are_503_with_retry_after() {
    let env = Env::start(fixture(), faulty("5xx=0.5,seed=42")).await;
    let mut statuses = vec![];
    let mut retry_after_on_503 = true;
    for _ in 0..200 {
        let resp = env
            .jira(Method::GET, "/rest/api/3/group/member?groupId=gid-1")
            .send()
            .await
            .expect("request");
        let s = resp.status().as_u16();
        if s == 503 {
            retry_after_on_503 &= resp.headers().get("retry-after").is_some();
        }
        if s >= 500 {
            let body: Value = resp.json().await.expect("error bodies are JSON");
            assert!(body["errorMessages"][0].is_string());
        }
        statuses.push(s);
    }
    let errors = statuses.iter().filter(|s| **s >= 500).count();
    assert!((60..=140).contains(&errors), "about half: {errors}");
    assert!(statuses.contains(&503) && statuses.iter().any(|s| [500, 502, 504].contains(s)));
    assert!(retry_after_on_503);
    assert_eq!(env.stats().await["faults"]["5xx"], errors);

    // Replay: a fresh sandbox with the same seed answers the same sequence.
    let again = Env::start(fixture(), faulty("5xx=0.5,seed=42")).await;
    let mut replay = vec![];
    for _ in 0..200 {
        let resp = again
            .jira(Method::GET, "/rest/api/3/group/member?groupId=gid-1")
            .send()
            .await
            .expect("request");
        replay.push(resp.status().as_u16());
    }
    assert_eq!(statuses, replay);
    let other_seed = Env::start(fixture(), faulty("5xx=0.5,seed=43")).await;
    let mut different = vec![];
    for _ in 0..200 {
        let resp = other_seed
            .jira(Method::GET, "/rest/api/3/group/member?groupId=gid-1")
            .send()
            .await
            .expect("request");
        different.push(resp.status().as_u16());
    }
    assert_ne!(statuses, different);
}

#[tokio::test]
async fn latency_and_jitter_delay_responses() {
    let env = Env::start(fixture(), faulty("latency=60ms,jitter=40ms,seed=1")).await;
    let mut times = vec![];
    for _ in 0..10 {
        let t = Instant::now();
        let resp = env
            .jira(Method::GET, "/rest/api/3/myself")
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
        times.push(t.elapsed());
    }
    assert!(
        times.iter().all(|t| *t >= Duration::from_millis(60)),
        "{times:?}"
    );
    let spread = times.iter().max().copied().unwrap_or_default()
        - times.iter().min().copied().unwrap_or_default();
    assert!(
        spread >= Duration::from_millis(5),
        "jitter varies the delay: {times:?}"
    );
    // --latency alone.
    let config = SandboxConfig {
        latency: Duration::from_millis(50),
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    let t = Instant::now();
    env.jira(Method::GET, "/rest/api/3/myself")
        .send()
        .await
        .expect("request");
    assert!(t.elapsed() >= Duration::from_millis(50));
}

#[tokio::test]
async fn resets_abort_the_connection_without_a_response() {
    let env = Env::start(fixture(), faulty("reset=0.5,seed=7")).await;
    let mut resets = 0;
    let mut ok = 0;
    for _ in 0..40 {
        // A fresh client per request, so a reset connection is never reused.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        match client
            .get(format!(
                "{}/rest/api/3/group/member?groupId=gid-1",
                env.base
            ))
            .basic_auth(EMAIL, Some(TOKEN))
            .send()
            .await
        {
            Ok(resp) => {
                assert_eq!(resp.status(), 200);
                ok += 1;
            }
            Err(e) => {
                assert!(!e.is_timeout(), "{e}");
                resets += 1;
            }
        }
    }
    assert!(resets >= 8 && ok >= 8, "resets {resets}, ok {ok}");
    assert_eq!(env.stats().await["faults"]["reset"], resets);
}

#[tokio::test]
async fn a_reset_write_may_have_been_applied() {
    // Half of the resets happen after the handler ran: the write is done, the answer lost.
    let env = Env::start(fixture(), faulty("reset=1,seed=5")).await;
    let mut lost = 0;
    for i in 0..20 {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let result = client
            .post(format!("{}/rest/api/3/group/user?groupId=gid-0", env.base))
            .basic_auth(EMAIL, Some(TOKEN))
            .json(&json!({ "accountId": account(2000 + i) }))
            .send()
            .await;
        assert!(result.is_err());
        lost += 1;
    }
    assert_eq!(lost, 20);
    let state: Value = env
        .raw(Method::GET, "/__sandbox/state")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let g0 = state["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["id"] == "gid-0")
        .cloned()
        .expect("g0");
    let applied = g0["members"].as_array().map(Vec::len).unwrap_or(0);
    assert!(
        applied > 0 && applied < 20,
        "some writes applied before the reset: {applied}"
    );
}

#[tokio::test]
async fn slow_bodies_arrive_slowly_and_intact() {
    let env = Env::start(fixture(), faulty("slow-body=1,slow-body-delay=30ms,seed=3")).await;
    let t = Instant::now();
    let resp = env
        .jira(Method::GET, "/rest/api/3/group/member?groupId=gid-50")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let page: Value = resp.json().await.expect("complete JSON");
    assert!(
        t.elapsed() >= Duration::from_millis(8 * 30),
        "eight chunks, 30 ms apart: {:?}",
        t.elapsed()
    );
    assert_eq!(page["values"].as_array().map(Vec::len), Some(50));
    assert_eq!(env.stats().await["faults"]["slow_body"], 1);
}

#[tokio::test]
async fn stats_count_writes_per_membership_and_the_requests_in_flight() {
    let config = SandboxConfig {
        latency: Duration::from_millis(300),
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    let (again, once) = (account(100), account(101));
    let memberships = format!(
        "/admin/v2/orgs/{}/directories/-/groups/gid-1/memberships",
        env.org_id
    );
    // One membership written four times (an add, a duplicate add, a removal, a duplicate
    // removal), over both APIs; another written once; a refused write counts for nothing.
    let jira_add = |who: &str| {
        env.jira(Method::POST, "/rest/api/3/group/user?groupId=gid-1")
            .json(&json!({ "accountId": who }))
    };
    assert_eq!(jira_add(&again).send().await.unwrap().status(), 201);
    let dup = env
        .admin(Method::POST, &memberships)
        .json(&json!({ "accountId": again }));
    assert_eq!(dup.send().await.unwrap().status(), 409);
    let del = env.admin(Method::DELETE, &format!("{memberships}/{again}"));
    assert_eq!(del.send().await.unwrap().status(), 204);
    let path = format!("/rest/api/3/group/user?groupId=gid-1&accountId={again}");
    assert_eq!(
        env.jira(Method::DELETE, &path)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(jira_add(&once).send().await.unwrap().status(), 201);
    let synced = env
        .jira(Method::POST, "/rest/api/3/group/user?groupId=gid-emp")
        .json(&json!({ "accountId": once }));
    assert_eq!(synced.send().await.unwrap().status(), 403);
    let stats = env.stats().await;
    assert_eq!(
        stats["membership_writes"],
        json!({
            "memberships": 2,
            "writes": 5,
            "repeated": 3,
            "most_written": [{ "group_id": "gid-1", "account_id": again, "writes": 4 }],
        })
    );
    assert_eq!(stats["in_flight"], 0);

    // A request being answered (here: its latency) is in flight until it is.
    let slow = env
        .jira(Method::GET, "/rest/api/3/group/member?groupId=gid-1")
        .send();
    let watch = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        env.stats().await["in_flight"].clone()
    };
    let (answer, during) = tokio::join!(slow, watch);
    assert_eq!(answer.unwrap().status(), 200);
    assert_eq!(during, 1);
    assert_eq!(env.stats().await["in_flight"], 0);
}
