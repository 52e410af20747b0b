//! Sandbox behaviour over real sockets: pagination edges, auth on both APIs, 404s, writes
//! visible in every read path, the admin API, control endpoints and the state file.

use crate::sandbox_support::*;
use reqwest::Method;
use seatkeeper::sandbox::SandboxConfig;
use serde_json::{json, Value};

#[tokio::test]
async fn group_member_pages_at_the_edges() {
    let env = Env::fixture().await;
    for n in [0usize, 1, 50, 51, 10_000] {
        let first = env
            .get_json(&format!("/rest/api/3/group/member?groupId=gid-{n}"))
            .await;
        assert_eq!(first["total"], n, "g{n}");
        assert_eq!(first["maxResults"], 50);
        assert_eq!(first["startAt"], 0);
        assert_eq!(first["values"].as_array().map(Vec::len), Some(n.min(50)));
        assert_eq!(first["isLast"], n <= 50, "g{n}");
        assert_eq!(first["nextPage"].is_string(), n > 50, "g{n}");
        let all = env.jira_members(&format!("gid-{n}"), false).await;
        let expected: Vec<String> = (1..=n).map(account).collect();
        assert_eq!(all, expected, "g{n}: every member once, in order");
    }
    // maxResults above 50 is clamped; a start past the end gives an empty last page.
    let page = env
        .get_json("/rest/api/3/group/member?groupId=gid-10000&maxResults=1000&startAt=9990")
        .await;
    assert_eq!(page["maxResults"], 50);
    assert_eq!(page["values"].as_array().map(Vec::len), Some(10));
    assert_eq!(page["isLast"], true);
    let past = env
        .get_json("/rest/api/3/group/member?groupId=gid-51&startAt=500")
        .await;
    assert_eq!(past["values"], json!([]));
    assert_eq!(past["isLast"], true);
}

#[tokio::test]
async fn inactive_members_are_hidden_unless_asked() {
    let env = Env::fixture().await;
    let active = env.jira_members("gid-jsw", false).await;
    let all = env.jira_members("gid-jsw", true).await;
    assert_eq!(active.len(), 21, "20 people and the app");
    assert_eq!(all.len(), 23, "plus the suspended and the closed account");
    assert!(!active.contains(&"special:suspended".to_string()));
    assert!(all.contains(&"special:closed".to_string()));
}

#[tokio::test]
async fn users_search_lists_every_account_type() {
    let env = Env::fixture().await;
    let mut seen = vec![];
    let mut start = 0;
    loop {
        let page = env
            .get_json(&format!(
                "/rest/api/3/users/search?startAt={start}&maxResults=5000"
            ))
            .await;
        let items = page.as_array().expect("bare array").clone();
        assert!(items.len() <= 1000, "maxResults is capped at 1000");
        if items.is_empty() {
            break;
        }
        start += items.len();
        seen.extend(items);
    }
    assert_eq!(seen.len(), 10_106);
    let find = |id: &str| {
        seen.iter()
            .find(|u| u["accountId"] == id)
            .cloned()
            .expect(id)
    };
    assert_eq!(find("special:app")["accountType"], "app");
    assert_eq!(find("special:customer")["accountType"], "customer");
    assert_eq!(find("special:closed")["active"], false);
    assert_eq!(find("special:suspended")["active"], false);
    assert!(
        find("special:app").get("emailAddress").is_none(),
        "hidden email is omitted, not null"
    );
}

#[tokio::test]
async fn auth_is_checked_on_both_apis() {
    let env = Env::fixture().await;
    let jira = "/rest/api/3/group/member?groupId=gid-1";
    let admin = format!("/admin/v2/orgs/{}/directories/-/users/search", env.org_id);
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("jira missing", env.raw(Method::GET, jira)),
        (
            "jira wrong token",
            env.raw(Method::GET, jira).basic_auth(EMAIL, Some("wrong")),
        ),
        (
            "jira wrong email",
            env.raw(Method::GET, jira)
                .basic_auth("eve@acme.test", Some(TOKEN)),
        ),
        ("jira bearer", env.raw(Method::GET, jira).bearer_auth(TOKEN)),
        (
            "jira admin key",
            env.raw(Method::GET, jira).bearer_auth(ADMIN_KEY),
        ),
        (
            "jira garbage",
            env.raw(Method::GET, jira)
                .header("authorization", "Basic !!!"),
        ),
        (
            "admin missing",
            env.raw(Method::POST, &admin).json(&json!({})),
        ),
        (
            "admin wrong key",
            env.raw(Method::POST, &admin)
                .bearer_auth("nope")
                .json(&json!({})),
        ),
        (
            "admin basic",
            env.raw(Method::POST, &admin)
                .basic_auth(EMAIL, Some(TOKEN))
                .json(&json!({})),
        ),
        (
            "admin basic with key",
            env.raw(Method::POST, &admin)
                .basic_auth(EMAIL, Some(ADMIN_KEY))
                .json(&json!({})),
        ),
    ];
    for (name, req) in cases {
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 401, "{name}");
        let body: Value = resp.json().await.expect("json");
        if name.starts_with("jira") {
            assert!(body["errorMessages"][0].is_string(), "{name}: {body}");
        } else {
            let e = &body["errors"][0];
            assert_eq!(e["status"], "401", "{name}: {body}");
            for k in ["id", "code", "title", "detail"] {
                assert!(e[k].is_string(), "{name}: {k} in {body}");
            }
        }
    }
    // The right credentials work on both.
    assert_eq!(
        env.jira(Method::GET, jira)
            .send()
            .await
            .expect("request")
            .status(),
        200
    );
    let ok = env
        .admin(Method::POST, &admin)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn unknown_things_are_404_with_atlassian_bodies() {
    let env = Env::fixture().await;
    let org = env.org_id.clone();
    let admin_cases = [
        (
            Method::POST,
            "/admin/v2/orgs/other-org/directories/-/users/search".to_string(),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/admin/v2/orgs/{org}/directories/nope/users/search"),
            Some(json!({})),
        ),
        (
            Method::GET,
            format!("/admin/v1/orgs/{org}/directory/users/nobody/last-active-dates"),
            None,
        ),
        (
            Method::GET,
            format!("/admin/v1/orgs/{org}/directory/users/special:customer/last-active-dates"),
            None,
        ),
        (
            Method::POST,
            format!("/admin/v2/orgs/{org}/directories/-/groups/nope/memberships"),
            Some(json!({"accountId": account(1)})),
        ),
        (
            Method::POST,
            format!("/admin/v2/orgs/{org}/directories/-/groups/gid-1/memberships"),
            Some(json!({"accountId": "nobody"})),
        ),
        (
            Method::DELETE,
            format!("/admin/v2/orgs/{org}/directories/-/groups/gid-1/memberships/nobody"),
            None,
        ),
        (
            Method::GET,
            "/admin/v1/orgs/other-org/events-stream".to_string(),
            None,
        ),
        (Method::GET, "/admin/v9/nothing".to_string(), None),
    ];
    for (method, path, body) in admin_cases {
        let mut req = env.admin(method.clone(), &path);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 404, "{method} {path}");
        let body: Value = resp.json().await.expect("json");
        assert!(body["errors"][0]["code"].is_string(), "{body}");
    }
    let group_404: Value = env
        .jira(Method::GET, "/rest/api/3/group/member?groupId=gid-404")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(group_404["errorMessages"][0]
        .as_str()
        .is_some_and(|m| m.contains("gid-404")));
    let unknown = env
        .jira(Method::GET, "/rest/api/3/nothing")
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
    let wrong_method = env
        .jira(Method::PUT, "/rest/api/3/group/member")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_method.status(), 405);
}

#[tokio::test]
async fn malformed_admin_bodies_are_400() {
    let env = Env::fixture().await;
    let search = format!("/admin/v2/orgs/{}/directories/-/users/search", env.org_id);
    let add = format!(
        "/admin/v2/orgs/{}/directories/-/groups/gid-1/memberships",
        env.org_id
    );
    for (path, body) in [
        (&search, "{not json"),
        (&search, "[]"),
        (&search, "{\"limit\": 0}"),
        (&search, "{\"limit\": 101}"),
        (&search, "{\"limit\": \"ten\"}"),
        (&search, "{\"cursor\": \"forged\"}"),
        (&search, "{\"emails\": [\"a@b\"], \"searchTerm\": \"a\"}"),
        (&search, "{\"expand\": [\"everything\"]}"),
        (&search, "{\"accountIds\": \"not-a-list\"}"),
        (&search, "{\"surprise\": 1}"),
        (&add, ""),
        (&add, "{\"account_id\": \"x\"}"),
        (&add, "\u{0}\u{1}binary"),
    ] {
        let resp = env
            .admin(Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 400, "{path} {body:?}");
        let json: Value = resp.json().await.expect("json");
        assert_eq!(json["errors"][0]["status"], "400", "{json}");
    }
    // Bodies must be declared as JSON, on both APIs.
    let no_type = env
        .admin(Method::POST, &add)
        .body("{\"accountId\": \"x\"}")
        .send()
        .await
        .expect("request");
    assert_eq!(no_type.status(), 415);
    let form = env
        .jira(Method::POST, "/rest/api/3/group/user?groupId=gid-1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("accountId=x")
        .send()
        .await
        .expect("request");
    assert_eq!(form.status(), 415);
    let json: Value = form.json().await.expect("json");
    assert!(json["errorMessages"][0].is_string());
    let events = format!("/admin/v1/orgs/{}/events-stream", env.org_id);
    for q in [
        "?limit=0",
        "?limit=1001",
        "?from=yesterday",
        "?sortOrder=up",
        "?cursor=bogus",
    ] {
        let resp = env
            .admin(Method::GET, &format!("{events}{q}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 400, "{q}");
    }
}

#[tokio::test]
async fn admin_search_pages_with_cursors_and_expands() {
    let env = Env::fixture().await;
    let path = format!("/admin/v2/orgs/{}/directories/-/users/search", env.org_id);
    let mut cursor: Option<String> = None;
    let mut ids = vec![];
    let mut pages = 0;
    loop {
        let mut body = json!({ "limit": 100, "expand": ["productAccess", "groups"] });
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let page: Value = env
            .admin(Method::POST, &path)
            .json(&body)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        pages += 1;
        for u in page["data"].as_array().expect("data") {
            ids.push(u["accountId"].as_str().expect("id").to_string());
        }
        match page["links"]["next"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        ids.len(),
        10_104,
        "every account but the JSM customer and the app (the spec's AccountType is `atlassian`)"
    );
    assert_eq!(pages, 102);
    assert!(!ids.contains(&"special:customer".to_string()));
    assert!(!ids.contains(&"special:app".to_string()));

    let admin = env.admin_user(&account(0)).await;
    assert_eq!(admin["email"], EMAIL);
    let products: Vec<&str> = admin["productAccess"]
        .as_array()
        .expect("expanded")
        .iter()
        .map(|p| p["key"].as_str().expect("key"))
        .collect();
    // Product access is keyed as the spec keys it: `jira` for the site's Jira products.
    assert_eq!(products, ["confluence", "jira"]);
    let jsw = admin["productAccess"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["key"] == "jira")
        .cloned()
        .expect("jsw");
    assert_eq!(jsw["lastActiveTimestamp"], "2026-11-24T08:00:00.000Z");
    assert!(admin["groups"]
        .as_array()
        .expect("expanded")
        .iter()
        .any(|g| g["name"] == SYNCED));

    let suspended = env.admin_user("special:suspended").await;
    assert_eq!(suspended["status"], "suspended");
    let closed = env.admin_user("special:closed").await;
    assert_eq!(closed["accountStatus"], "closed");

    // Filters.
    let by_email: Value = env
        .admin(Method::POST, &path)
        .json(&json!({ "emails": ["USER7@acme.test"] }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(by_email["data"].as_array().map(Vec::len), Some(1));
    assert!(
        by_email["data"][0].get("productAccess").is_none(),
        "only with expand"
    );
    let by_group: Value = env
        .admin(Method::POST, &path)
        .json(&json!({ "groupIds": ["gid-51"], "limit": 100 }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(by_group["data"].as_array().map(Vec::len), Some(51));

    let dates: Value = env
        .admin(
            Method::GET,
            &format!(
                "/admin/v1/orgs/{}/directory/users/special:suspended/last-active-dates",
                env.org_id
            ),
        )
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(dates["data"]["product_access"][0]["key"], "confluence");
    assert_eq!(
        dates["data"]["product_access"][0]["last_active"],
        "2026-10-16"
    );
    assert!(dates["data"]["added_to_org_timestamp"].is_string());
}

async fn applicationrole(env: &Env, key: &str) -> Value {
    let roles = env.get_json("/rest/api/3/applicationrole").await;
    roles
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["key"] == key)
        .cloned()
        .expect(key)
}

async fn events(env: &Env) -> Vec<Value> {
    let page: Value = env
        .admin(
            Method::GET,
            &format!("/admin/v1/orgs/{}/events-stream?limit=500", env.org_id),
        )
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    page["data"].as_array().expect("data").clone()
}

#[tokio::test]
async fn writes_show_up_in_every_read_path() {
    let env = Env::fixture().await;
    let who = account(700);
    let before = applicationrole(&env, "jira-software").await;
    assert_eq!(before["userCount"], 25);
    assert_eq!(before["numberOfSeats"], 26);
    assert_eq!(before["remainingSeats"], 1);

    // Add through Jira.
    let resp = env
        .jira(
            Method::POST,
            "/rest/api/3/group/user?groupname=jira-software-users-acme",
        )
        .json(&json!({ "accountId": who }))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 201);
    assert!(env.jira_members("gid-jsw", false).await.contains(&who));
    let after = applicationrole(&env, "jira-software").await;
    assert_eq!(
        (after["userCount"].clone(), after["remainingSeats"].clone()),
        (json!(26), json!(0))
    );
    let user_groups = env
        .get_json(&format!("/rest/api/3/user/groups?accountId={who}"))
        .await;
    assert!(user_groups
        .as_array()
        .expect("array")
        .iter()
        .any(|g| g["groupId"] == "gid-jsw"));
    let admin_view = env.admin_user(&who).await;
    // The expansion shows group ids as ARIs.
    assert!(admin_view["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .any(|g| g["id"] == "ari:cloud:identity::group/gid-jsw"));
    assert_eq!(admin_view["productAccess"][0]["key"], "jira");
    let evs = events(&env).await;
    let added = evs.last().expect("an event");
    assert_eq!(added["attributes"]["action"], "user_added_to_group");
    assert_eq!(
        added["attributes"]["time"], "2026-11-25T08:00:00.000Z",
        "the sandbox clock's time"
    );
    assert_eq!(added["attributes"]["context"][0]["id"], json!(who));
    assert_eq!(added["attributes"]["context"][1]["id"], "gid-jsw");

    // At the limit: the admin API refuses with ADMIN-UAM-409-3.
    let add_path = format!(
        "/admin/v2/orgs/{}/directories/-/groups/gid-jsw/memberships",
        env.org_id
    );
    let refused = env
        .admin(Method::POST, &add_path)
        .json(&json!({ "accountId": account(701) }))
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status(), 409);
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "ADMIN-UAM-409-3");
    // Not billable accounts still fit (apps are not in the admin directory; a suspended account
    // is).
    let app_add = env
        .admin(
            Method::POST,
            &format!(
                "/admin/v2/orgs/{}/directories/-/groups/gid-conf/memberships",
                env.org_id
            ),
        )
        .json(&json!({ "accountId": "special:suspended" }))
        .send()
        .await
        .expect("request");
    assert_eq!(app_add.status(), 204);

    // Remove through the admin API after moving the clock.
    let clock = env
        .raw(Method::POST, "/__sandbox/clock")
        .json(&json!({ "advance": "2d" }))
        .send()
        .await
        .expect("request");
    assert_eq!(
        clock.json::<Value>().await.expect("json")["now"],
        "2026-11-27T08:00:00Z"
    );
    let del = env
        .admin(
            Method::DELETE,
            &format!(
                "/admin/v2/orgs/{}/directories/{}/groups/gid-jsw/memberships/{who}",
                env.org_id,
                env.sandbox.directory_id()
            ),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(del.status(), 204);
    assert!(!env.jira_members("gid-jsw", true).await.contains(&who));
    assert_eq!(
        applicationrole(&env, "jira-software").await["userCount"],
        25
    );
    let admin_view = env.admin_user(&who).await;
    assert_eq!(admin_view["productAccess"], json!([]));
    let removed = events(&env).await.last().cloned().expect("event");
    assert_eq!(removed["attributes"]["action"], "user_removed_from_group");
    assert_eq!(removed["attributes"]["time"], "2026-11-27T08:00:00.000Z");

    // Snapshot agrees.
    let state: Value = env
        .raw(Method::GET, "/__sandbox/state")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let jsw = state["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["id"] == "gid-jsw")
        .cloned()
        .expect("jsw");
    assert!(!jsw["members"]
        .as_array()
        .expect("members")
        .contains(&json!(who)));
    assert_eq!(state["events"].as_array().map(Vec::len), Some(3));
    assert_eq!(state["format_version"], 1);
    assert_eq!(state["licenses"]["jira-software"]["limit"], 26);
}

#[tokio::test]
async fn duplicate_writes_follow_the_documented_choices_and_are_counted() {
    let env = Env::fixture().await;
    let member = account(1);
    // Jira: adding an existing member / removing a non-member is a 400 that says so.
    let dup_add = env
        .jira(Method::POST, "/rest/api/3/group/user?groupId=gid-1")
        .json(&json!({ "accountId": member }))
        .send()
        .await
        .expect("request");
    assert_eq!(dup_add.status(), 400);
    assert!(dup_add
        .text()
        .await
        .expect("body")
        .contains("already a member"));
    let dup_del = env
        .jira(
            Method::DELETE,
            &format!("/rest/api/3/group/user?groupId=gid-0&accountId={member}"),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(dup_del.status(), 400);
    assert!(dup_del.text().await.expect("body").contains("not a member"));
    // Admin: adding a member is the documented 409 (ADMIN-UAM-409-2, Resource Conflicts);
    // removing a non-member is an idempotent 204.
    let add = env
        .admin(
            Method::POST,
            &format!(
                "/admin/v2/orgs/{}/directories/-/groups/gid-1/memberships",
                env.org_id
            ),
        )
        .json(&json!({ "accountId": member }))
        .send()
        .await
        .expect("request");
    assert_eq!(add.status(), 409);
    let body: Value = add.json().await.expect("json");
    assert_eq!(body["errors"][0]["code"], "ADMIN-UAM-409-2");
    let del = env
        .admin(
            Method::DELETE,
            &format!(
                "/admin/v2/orgs/{}/directories/-/groups/gid-0/memberships/{member}",
                env.org_id
            ),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(del.status(), 204);
    // Synced groups refuse writes on both APIs.
    let synced = env
        .admin(
            Method::POST,
            &format!(
                "/admin/v2/orgs/{}/directories/-/groups/gid-emp/memberships",
                env.org_id
            ),
        )
        .json(&json!({ "accountId": account(999) }))
        .send()
        .await
        .expect("request");
    assert_eq!(synced.status(), 403);
    let stats = env.stats().await;
    assert_eq!(stats["duplicate_writes"], 4);
    assert_eq!(stats["writes_applied"], 0);
    assert_eq!(stats["refused_writes"], 1);
    assert_eq!(stats["requests"]["POST /rest/api/3/group/user"], 1);
    assert_eq!(
        stats["requests"]["DELETE /admin/v2/orgs/{org_id}/directories/{directory_id}/groups/{group_id}/memberships/{account_id}"],
        1
    );
    assert!(events(&env).await.is_empty(), "no-ops record no events");
}

#[tokio::test]
async fn injected_events_and_the_events_stream() {
    let env = Env::fixture().await;
    for (action, product, time) in [
        ("user_logged_in", None, "2026-11-20T10:00:00Z"),
        (
            "access_requested",
            Some("confluence"),
            "2026-11-21T10:00:00Z",
        ),
        ("user_logged_in", None, "2026-11-22T10:00:00Z"),
    ] {
        let mut body = json!({ "action": action, "account_id": account(3), "time": time });
        if let Some(p) = product {
            body["product"] = json!(p);
        }
        let resp = env
            .raw(Method::POST, "/__sandbox/events")
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 201);
    }
    for bad in [
        json!({ "action": "user_added_to_group", "account_id": account(3) }),
        json!({ "action": "access_requested", "account_id": account(3) }),
        json!({ "action": "user_logged_in", "account_id": "nobody" }),
        json!({ "action": "dance", "account_id": account(3) }),
    ] {
        let resp = env
            .raw(Method::POST, "/__sandbox/events")
            .json(&bad)
            .send()
            .await
            .expect("request");
        assert!(resp.status().is_client_error(), "{bad}");
    }
    // Logins and access requests are events of the account: no product became active.
    let user = env.admin_user(&account(3)).await;
    assert!(user["productAccess"]
        .as_array()
        .expect("list")
        .iter()
        .all(|p| p["lastActiveTimestamp"].is_null()));
    // Paging by cursor, both orders, and the time window.
    let base = format!("/admin/v1/orgs/{}/events-stream", env.org_id);
    let first: Value = env
        .admin(Method::GET, &format!("{base}?limit=2"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(first["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["data"][0]["attributes"]["action"], "user_logged_in");
    assert_eq!(first["data"][1]["attributes"]["action"], "access_requested");
    let next = first["links"]["next"]
        .as_str()
        .expect("next url")
        .to_string();
    let second: Value = env
        .client
        .get(&next)
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(second["data"].as_array().map(Vec::len), Some(1));
    assert!(second["links"]["next"].is_null());
    assert!(second["meta"]["next"].is_null());
    let desc: Value = env
        .admin(Method::GET, &format!("{base}?sortOrder=desc&limit=1"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(
        desc["data"][0]["attributes"]["time"],
        "2026-11-22T10:00:00.000Z"
    );
    let from = chrono::DateTime::parse_from_rfc3339("2026-11-21T00:00:00Z")
        .expect("t")
        .timestamp_millis();
    let to = chrono::DateTime::parse_from_rfc3339("2026-11-21T23:59:59Z")
        .expect("t")
        .timestamp_millis();
    let window: Value = env
        .admin(Method::GET, &format!("{base}?from={from}&to={to}"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(window["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        window["data"][0]["attributes"]["context"][1]["attributes"]["productKey"],
        "confluence"
    );
}

async fn post_control(env: &Env, path: &str, body: Value) -> (u16, Value) {
    let resp = env
        .raw(Method::POST, path)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

/// The last-active time the users search shows for `product` (`jira` for a Jira product).
async fn last_active(env: &Env, account_id: &str, product: &str) -> Value {
    let user = env.admin_user(account_id).await;
    let key = if product.starts_with("jira-") {
        "jira"
    } else {
        product
    };
    user["productAccess"]
        .as_array()
        .expect("list")
        .iter()
        .find(|p| p["key"] == key)
        .map(|p| p["lastActiveTimestamp"].clone())
        .unwrap_or(Value::Null)
}

#[tokio::test]
async fn product_activity_is_recorded_apart_from_logins() {
    let env = Env::fixture().await;
    // A login never names a product: the answer says where product activity goes.
    let (status, body) = post_control(
        &env,
        "/__sandbox/events",
        json!({ "action": "user_logged_in", "account_id": account(3), "product": "jira-software" }),
    )
    .await;
    assert_eq!(status, 400);
    let message = body["error"].as_str().expect("message");
    assert!(message.contains("/__sandbox/activity"), "{message}");
    assert!(events(&env).await.is_empty(), "nothing stored");

    // Activity sets the product's last-active time; the latest wins.
    let (status, body) = post_control(
        &env,
        "/__sandbox/activity",
        json!({ "account_id": account(3), "product": "jira-software", "time": "2026-11-20T10:00:00Z" }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({ "account_id": account(3), "product": "jira-software", "last_active": "2026-11-20T10:00:00Z" })
    );
    assert_eq!(
        last_active(&env, &account(3), "jira-software").await,
        "2026-11-20T10:00:00.000Z"
    );
    let (status, body) = post_control(
        &env,
        "/__sandbox/activity",
        json!({ "account_id": account(3), "product": "jira-software", "time": "2026-10-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        body["last_active"], "2026-11-20T10:00:00Z",
        "an earlier time leaves the later one"
    );
    // Only that product moved, and no event was recorded.
    assert!(last_active(&env, &account(3), "confluence").await.is_null());
    assert!(events(&env).await.is_empty());

    // Without `time`: the sandbox clock, for activity, logins and access requests alike.
    let (status, body) = post_control(
        &env,
        "/__sandbox/activity",
        json!({ "account_id": account(4), "product": "confluence" }),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["last_active"], "2026-11-25T08:00:00Z");
    for event in [
        json!({ "action": "user_logged_in", "account_id": account(4) }),
        json!({ "action": "access_requested", "account_id": account(4), "product": "jira-software" }),
    ] {
        let (status, body) = post_control(&env, "/__sandbox/events", event).await;
        assert_eq!(status, 201);
        assert_eq!(body["time"], "2026-11-25T08:00:00Z");
    }

    // Unknown accounts and products, and missing or unknown fields, are refused.
    for (bad, want) in [
        (
            json!({ "account_id": "nobody", "product": "confluence" }),
            404,
        ),
        (json!({ "account_id": account(3), "product": "jira" }), 400),
        (json!({ "account_id": account(3) }), 400),
        (
            json!({ "account_id": account(3), "product": "confluence", "action": "x" }),
            400,
        ),
        (
            json!({ "account_id": account(3), "product": "confluence", "time": "yesterday" }),
            400,
        ),
    ] {
        let (status, body) = post_control(&env, "/__sandbox/activity", bad.clone()).await;
        assert_eq!(status, want, "{bad}: {body}");
    }
    let (_, body) = post_control(
        &env,
        "/__sandbox/activity",
        json!({ "account_id": account(3), "product": "jira" }),
    )
    .await;
    assert!(
        body["error"]
            .as_str()
            .expect("message")
            .contains("jira-software"),
        "names the org's products: {body}"
    );
}

#[tokio::test]
async fn events_stream_pages_are_at_most_500_as_published() {
    let env = Env::fixture().await;
    let base = format!("/admin/v1/orgs/{}/events-stream", env.org_id);
    for ok in ["?limit=1", "?limit=500", ""] {
        let resp = env
            .admin(Method::GET, &format!("{base}{ok}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "{ok}");
    }
    for too_many in ["?limit=501", "?limit=1000", "?limit=0"] {
        let resp = env
            .admin(Method::GET, &format!("{base}{too_many}"))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 400, "{too_many}");
        let body: Value = resp.json().await.expect("json");
        let detail = body["errors"][0]["detail"].as_str().expect("detail");
        assert!(
            detail.contains("`limit`") && detail.contains("500"),
            "{detail}"
        );
    }
}

#[tokio::test]
async fn the_state_file_persists_writes_across_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("org-state.json");
    let config = SandboxConfig {
        state_file: Some(path.clone()),
        ..SandboxConfig::default()
    };
    let source = seatkeeper::sandbox::OrgSource::Snapshot(Box::new(fixture()));
    {
        let org = seatkeeper::sandbox::load_org(&source, &config).expect("org");
        let env = Env::start_org(org, config.clone()).await;
        assert!(path.exists(), "written at start");
        let resp = env
            .jira(Method::POST, "/rest/api/3/group/user?groupId=gid-0")
            .json(&json!({ "accountId": account(9) }))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 201);
        env.sandbox.shutdown().await;
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temp files left: {leftovers:?}");
    // A second run loads the file instead of the source.
    let org = seatkeeper::sandbox::load_org(&source, &config).expect("org");
    let env = Env::start_org(org, config).await;
    assert_eq!(env.jira_members("gid-0", false).await, [account(9)]);
    let evs = events(&env).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(env.sandbox.org_id(), "org-fixture");
}

#[tokio::test]
async fn a_generated_org_serves_and_the_banner_names_everything() {
    let config = SandboxConfig {
        now: Some(now()),
        ..SandboxConfig::default()
    };
    let org = seatkeeper::sandbox::load_org(
        &seatkeeper::sandbox::OrgSource::Generate {
            users: 500,
            seed: 3,
        },
        &config,
    )
    .expect("org");
    let env = Env::start_org(org, config.clone()).await;
    let me = env.get_json("/rest/api/3/myself").await;
    assert_eq!(me["emailAddress"], EMAIL);
    let roles = env.get_json("/rest/api/3/applicationrole").await;
    let keys: Vec<&str> = roles
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["key"].as_str().expect("key"))
        .collect();
    assert_eq!(keys, ["jira-servicedesk", "jira-software"]);
    let jsw = &roles.as_array().expect("array")[1];
    assert_eq!(
        jsw["groups"],
        json!([
            "jira-software-users-acme",
            "jira-software-users-contractors"
        ])
    );
    let mut out = Vec::new();
    seatkeeper::sandbox::write_banner(&mut out, &env.sandbox, &config).expect("banner");
    let text = String::from_utf8(out).expect("utf8");
    assert!(text.contains(&env.base));
    assert!(text.contains("ATLASSIAN_API_TOKEN=sandbox-api-token"));
    assert!(text.contains("/rest/api/3/group/member"));
    assert!(text.contains("events-stream"));
    // Custom credentials are never printed.
    let custom = SandboxConfig {
        credentials: seatkeeper::sandbox::Credentials {
            api_token: "s3cret-token".into(),
            ..Default::default()
        },
        ..config
    };
    let mut out = Vec::new();
    seatkeeper::sandbox::write_banner(&mut out, &env.sandbox, &custom).expect("banner");
    assert!(!String::from_utf8(out)
        .expect("utf8")
        .contains("s3cret-token"));
}

#[tokio::test]
async fn hostile_input_gets_4xx_never_a_crash() {
    let env = Env::fixture().await;
    let org = env.org_id.clone();
    let huge = "9223372036854775807";
    let queries = [
        format!("/rest/api/3/group/member?groupId=gid-51&startAt={huge}&maxResults={huge}"),
        "/rest/api/3/group/member?groupId=gid-51&startAt=99999999999999999999999".to_string(),
        "/rest/api/3/group/member?groupId=%FF%FE&includeInactiveUsers=maybe".to_string(),
        "/rest/api/3/group/member?groupname=%E2%98%83&groupId=x".to_string(),
        format!("/rest/api/3/group/bulk?startAt={huge}&maxResults=-5"),
        format!("/rest/api/3/group/bulk?startAt={huge}"),
        format!("/rest/api/3/users/search?startAt={huge}&maxResults={huge}"),
        "/rest/api/3/user/groups?accountId=%00%01".to_string(),
        "/rest/api/3/myself?expand=%%%".to_string(),
    ];
    for q in &queries {
        let resp = env.jira(Method::GET, q).send().await.expect("request");
        assert!(
            resp.status().is_success() || resp.status().is_client_error(),
            "{q}: {}",
            resp.status()
        );
        let _: Value = resp
            .json()
            .await
            .unwrap_or_else(|e| panic!("{q}: not JSON: {e}"));
    }
    let long_id = "x".repeat(10_000);
    for (method, path, body) in [
        (Method::POST, "/rest/api/3/group/user?groupId=gid-1".to_string(), "{\"accountId\": \"".to_string() + &long_id + "\"}"),
        (Method::POST, "/rest/api/3/group/user?groupId=gid-1".to_string(), "null".to_string()),
        (Method::POST, "/rest/api/3/group/user?groupId=gid-1".to_string(), "{\"accountId\": null}".to_string()),
        (Method::DELETE, format!("/rest/api/3/group/user?groupId=gid-1&accountId={long_id}"), String::new()),
        (Method::POST, format!("/admin/v2/orgs/{org}/directories/-/users/search"), "{\"cursor\": \"sbxu1.ffffffffffffffff\"}".to_string()),
        (Method::POST, format!("/admin/v2/orgs/{org}/directories/-/users/search"), "{\"limit\": 1e308}".to_string()),
        (Method::GET, format!("/admin/v1/orgs/{org}/events-stream?cursor=sbxe1.{huge}.ffffffffffffffff&from=-{huge}"), String::new()),
        (Method::POST, "/__sandbox/clock".to_string(), "{\"advance\": \"999999999w\"}".to_string()),
        (Method::POST, "/__sandbox/clock".to_string(), "{\"set\": \"yesterday\"}".to_string()),
        (Method::POST, "/__sandbox/events".to_string(), "{\"action\": \"user_logged_in\", \"account_id\": \"x\", \"time\": \"+275760-09-13T00:00:00Z\"}".to_string()),
        (Method::POST, "/__sandbox/activity".to_string(), format!("{{\"account_id\": \"{}\", \"product\": \"confluence\", \"time\": \"+275760-09-13T00:00:00Z\"}}", account(1))),
        (Method::POST, "/__sandbox/activity".to_string(), "[]".to_string()),
    ] {
        let req = if path.starts_with("/admin") { env.admin(method.clone(), &path) } else if path.starts_with("/__") { env.raw(method.clone(), &path) } else { env.jira(method.clone(), &path) };
        let resp = req.header("content-type", "application/json").body(body.clone()).send().await.expect("request");
        assert!(resp.status().is_success() || resp.status().is_client_error(), "{method} {path} {body:.60}: {}", resp.status());
        let text = resp.text().await.expect("body");
        assert!(text.is_empty() || serde_json::from_str::<Value>(&text).is_ok(), "{path}: {text}");
    }
    // Still serving.
    assert_eq!(
        env.jira(Method::GET, "/rest/api/3/myself")
            .send()
            .await
            .expect("request")
            .status(),
        200
    );
}

#[tokio::test]
async fn concurrent_writes_through_both_apis_stay_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = SandboxConfig {
        state_file: Some(dir.path().join("state.json")),
        ..SandboxConfig::default()
    };
    let org = seatkeeper::sandbox::load_org(
        &seatkeeper::sandbox::OrgSource::Snapshot(Box::new(fixture())),
        &config,
    )
    .expect("org");
    let env = Env::start_org(org, config.clone()).await;
    let env = std::sync::Arc::new(env);
    let mut tasks = vec![];
    for i in 0..200usize {
        let env = env.clone();
        tasks.push(tokio::spawn(async move {
            let who = account(5000 + i);
            let status = if i % 2 == 0 {
                env.jira(Method::POST, "/rest/api/3/group/user?groupId=gid-0")
                    .json(&json!({ "accountId": who }))
                    .send()
                    .await
            } else {
                env.admin(
                    Method::POST,
                    &format!(
                        "/admin/v2/orgs/{}/directories/-/groups/gid-0/memberships",
                        env.org_id
                    ),
                )
                .json(&json!({ "accountId": who }))
                .send()
                .await
            }
            .expect("request")
            .status();
            assert!(status == 201 || status == 204, "{status}");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let members = env.jira_members("gid-0", true).await;
    assert_eq!(members.len(), 200);
    assert_eq!(events(&env).await.len(), 200);
    assert_eq!(env.stats().await["writes_applied"], 200);
    // The state file holds the last write.
    let saved =
        seatkeeper::sandbox::Org::load_file(&dir.path().join("state.json")).expect("state file");
    let g0 = saved.group_index("gid-0").expect("group");
    assert_eq!(saved.group(g0).members.len(), 200);
    assert_eq!(saved.events().len(), 200);
}

#[tokio::test]
async fn deleting_a_grant_group_frees_its_seats_everywhere() {
    let env = Env::fixture().await;
    assert_eq!(
        applicationrole(&env, "jira-software").await["userCount"],
        25
    );
    let resp = env
        .jira(
            Method::DELETE,
            &format!("/rest/api/3/group?groupname={JSW2}"),
        )
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    // Accounts 20..25 held jira-software only through the contractors group.
    let role = applicationrole(&env, "jira-software").await;
    assert_eq!(role["userCount"], 20);
    assert_eq!(role["groups"], json!([JSW]));
    let gone = env
        .jira(Method::GET, "/rest/api/3/group/member?groupId=gid-jsw2")
        .send()
        .await
        .expect("request");
    assert_eq!(gone.status(), 404);
    let bulk = env.get_json("/rest/api/3/group/bulk").await;
    assert!(!bulk["values"]
        .as_array()
        .expect("values")
        .iter()
        .any(|g| g["groupId"] == "gid-jsw2"));
    let state: Value = env
        .raw(Method::GET, "/__sandbox/state")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert!(!state["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .any(|g| g["id"] == "gid-jsw2"));
    assert_eq!(
        env.admin_user(&account(22)).await["productAccess"],
        json!([])
    );
    // A created group can be written to and read back.
    let created: Value = env
        .jira(Method::POST, "/rest/api/3/group")
        .json(&json!({ "name": "reviewers" }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let id = created["groupId"].as_str().expect("id").to_string();
    let add = env
        .admin(
            Method::POST,
            &format!(
                "/admin/v2/orgs/{}/directories/-/groups/{id}/memberships",
                env.org_id
            ),
        )
        .json(&json!({ "accountId": account(1) }))
        .send()
        .await
        .expect("request");
    assert_eq!(add.status(), 204);
    assert_eq!(env.jira_members(&id, false).await, [account(1)]);
}

/// The admin API's documented per-minute budgets: the events API 50 a minute per path and 60
/// per user, last-active dates 200 per org; other paths the configured default. Answers carry
/// `X-RateLimit-Limit/Remaining/Reset` only.
#[tokio::test]
async fn admin_budgets_are_the_documented_ones() {
    let config = SandboxConfig {
        admin_limits: Some(seatkeeper::sandbox::AdminLimits {
            other_per_path: 3,
            ..seatkeeper::sandbox::AdminLimits::DOCUMENTED
        }),
        ..SandboxConfig::default()
    };
    let env = Env::start(fixture(), config).await;
    let get = |path: String| {
        let req = env.admin(Method::GET, &path);
        async move { req.send().await.expect("request") }
    };
    let stream = format!("/admin/v1/orgs/{}/events-stream", env.org_id);
    for i in 0..50 {
        let resp = get(stream.clone()).await;
        assert_eq!(resp.status(), 200, "request {i}");
        let h = resp.headers();
        assert_eq!(h["x-ratelimit-limit"], "50");
        assert_eq!(h["x-ratelimit-remaining"], (49 - i).to_string().as_str());
        assert!(h.get("retry-after").is_none() && h.get("x-ratelimit-nearlimit").is_none());
    }
    let spent = get(stream.clone()).await;
    assert_eq!(spent.status(), 429);
    assert!(spent.headers().get("retry-after").is_none());
    // The user's 60: ten more on another events path, then none.
    let actions = format!("/admin/v1/orgs/{}/event-actions", env.org_id);
    for _ in 0..10 {
        assert_eq!(get(actions.clone()).await.status(), 200);
    }
    let user_spent = get(actions.clone()).await;
    assert_eq!(user_spent.status(), 429);
    assert_eq!(user_spent.headers()["x-ratelimit-limit"], "60");
    // Last-active dates: 200 a minute for the org.
    let dates = format!(
        "/admin/v1/orgs/{}/directory/users/{}/last-active-dates",
        env.org_id,
        account(0)
    );
    for _ in 0..200 {
        assert_eq!(get(dates.clone()).await.status(), 200);
    }
    let dates_spent = get(dates).await;
    assert_eq!(dates_spent.status(), 429);
    assert_eq!(dates_spent.headers()["x-ratelimit-limit"], "200");
    // Undocumented paths: the configured budget.
    let dirs = format!("/admin/v2/orgs/{}/directories", env.org_id);
    for _ in 0..3 {
        assert_eq!(get(dirs.clone()).await.status(), 200);
    }
    assert_eq!(get(dirs).await.status(), 429);
    // Jira is not limited by them.
    assert_eq!(
        env.jira(Method::GET, "/rest/api/3/myself")
            .send()
            .await
            .expect("request")
            .status(),
        200
    );
}

/// The request log holds every API request (never control ones), and a scripted answer
/// replaces only the answer to a request the sandbox accepts: it waits through an
/// unauthenticated request and one that breaks the spec.
#[tokio::test]
async fn the_request_log_and_scripted_answers() {
    let env = Env::fixture().await;
    let search = format!("/admin/v2/orgs/{}/directories/-/users/search", env.org_id);
    let script = json!({"match": "users/search", "status": 503});
    let resp = env
        .raw(Method::POST, "/__sandbox/script")
        .json(&script)
        .send();
    assert_eq!(resp.await.expect("script").status(), 204);
    let unauthenticated = env.raw(Method::POST, &search).json(&json!({})).send();
    assert_eq!(unauthenticated.await.expect("request").status(), 401);
    let off_spec = env
        .admin(Method::POST, &search)
        .json(&json!({"limit": 101}));
    assert_eq!(off_spec.send().await.expect("request").status(), 400);
    let body = json!({"limit": 1, "accountIds": [account(1)]});
    let scripted = env.admin(Method::POST, &search).json(&body).send();
    assert_eq!(scripted.await.expect("request").status(), 503);
    let answered = env.admin(Method::POST, &search).json(&body).send();
    assert_eq!(answered.await.expect("request").status(), 200);
    env.get_json("/rest/api/3/group/member?groupId=gid-1&maxResults=5")
        .await;

    let log: Vec<Value> = env
        .raw(Method::GET, "/__sandbox/requests")
        .send()
        .await
        .expect("log")
        .json()
        .await
        .expect("json");
    assert_eq!(log.len(), 5, "{log:#?}");
    assert_eq!(log[3]["method"], "POST");
    assert_eq!(log[3]["path"], search.as_str());
    assert_eq!(log[3]["body"], body);
    assert_eq!(log[3]["time"], "2026-11-25T08:00:00Z");
    let query = json!([["groupId", "gid-1"], ["maxResults", "5"]]);
    assert_eq!(
        (&log[4]["method"], &log[4]["query"]),
        (&json!("GET"), &query)
    );
    assert_eq!(log[4]["body"], Value::Null);
}
