//! Shared helpers of the sandbox tests: a fixture org, starting a sandbox on 127.0.0.1:0, and
//! authenticated request builders for both APIs.
#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, Utc};
use seatkeeper::live::{AccountStatus, AccountType, Activity, Group, License, LiveState, User};
use seatkeeper::sandbox::{self, Org, RunningSandbox, SandboxConfig};
use std::collections::BTreeMap;

pub const EMAIL: &str = sandbox::DEFAULT_EMAIL;
pub const TOKEN: &str = sandbox::DEFAULT_API_TOKEN;
pub const ADMIN_KEY: &str = sandbox::DEFAULT_ADMIN_API_KEY;

pub fn now() -> DateTime<Utc> {
    "2026-11-25T08:00:00Z".parse().expect("time")
}

pub fn account(i: usize) -> String {
    format!("712020:{i:08}-fixture")
}

/// Groups of the fixture org, by name.
pub const JSW: &str = "jira-software-users-acme";
pub const JSW2: &str = "jira-software-users-contractors";
pub const CONF: &str = "confluence-users-acme";
pub const SYNCED: &str = "employees";

/// A fixture org: account 0 is the admin; accounts 1..=10_100 people (every 10th inactive
/// in the Jira sense is *not* the case for the paging groups, which hold active users only);
/// groups `g0`, `g1`, `g50`, `g51`, `g10000` with that many active members; product groups
/// with a mix of active and inactive members; an app, a customer; a synced group.
pub fn fixture() -> LiveState {
    let mut users = vec![User {
        account_id: account(0),
        email: Some(EMAIL.to_string()),
        name: "Sandbox Admin".into(),
        account_type: AccountType::Atlassian,
        status: AccountStatus::Active,
        added_to_org: Some(now() - TimeDelta::days(700)),
        last_active: Activity::from([("jira-software".to_string(), now() - TimeDelta::days(1))]),
    }];
    for i in 1..=10_100 {
        users.push(User {
            account_id: account(i),
            email: Some(format!("user{i}@acme.test")),
            name: format!("User {i}"),
            account_type: AccountType::Atlassian,
            status: AccountStatus::Active,
            added_to_org: Some(now() - TimeDelta::days(300)),
            last_active: Activity::new(),
        });
    }
    // Special accounts at the end.
    let special = [
        (
            "suspended",
            AccountType::Atlassian,
            AccountStatus::Suspended,
        ),
        ("closed", AccountType::Atlassian, AccountStatus::Closed),
        ("app", AccountType::App, AccountStatus::Active),
        ("customer", AccountType::Customer, AccountStatus::Active),
        (
            "deactivated",
            AccountType::Atlassian,
            AccountStatus::Deactivated,
        ),
    ];
    for (name, t, s) in special {
        users.push(User {
            account_id: format!("special:{name}"),
            email: if t == AccountType::App {
                None
            } else {
                Some(format!("{name}@acme.test"))
            },
            name: format!("Special {name}"),
            account_type: t,
            status: s,
            added_to_org: Some(now() - TimeDelta::days(100)),
            last_active: Activity::from([("confluence".to_string(), now() - TimeDelta::days(40))]),
        });
    }
    let range = |a: usize, b: usize| (a..b).map(account).collect::<Vec<_>>();
    let mut groups = vec![];
    for n in [0usize, 1, 50, 51, 10_000] {
        groups.push(Group {
            id: format!("gid-{n}"),
            name: format!("g{n}"),
            members: range(1, 1 + n),
            synced: false,
        });
    }
    let mut jsw = range(0, 20);
    jsw.extend(["special:suspended", "special:closed", "special:app"].map(String::from));
    groups.push(Group {
        id: "gid-jsw".into(),
        name: JSW.into(),
        members: jsw,
        synced: false,
    });
    groups.push(Group {
        id: "gid-jsw2".into(),
        name: JSW2.into(),
        members: range(15, 25),
        synced: false,
    });
    groups.push(Group {
        id: "gid-conf".into(),
        name: CONF.into(),
        members: range(0, 5),
        synced: false,
    });
    groups.push(Group {
        id: "gid-emp".into(),
        name: SYNCED.into(),
        members: range(0, 30),
        synced: true,
    });
    groups.push(Group {
        id: "gid-site-admins".into(),
        name: "site-admins".into(),
        members: range(0, 1),
        synced: false,
    });
    LiveState {
        format_version: 1,
        site: "acme.atlassian.net".into(),
        org_id: Some("org-fixture".into()),
        taken_at: now(),
        users,
        groups,
        events: vec![],
        licenses: BTreeMap::from([
            ("jira-software".to_string(), License { limit: 26 }),
            ("confluence".to_string(), License { limit: 100 }),
        ]),
        events_read: None,
    }
}

pub struct Env {
    pub sandbox: RunningSandbox,
    pub client: reqwest::Client,
    pub base: String,
    pub org_id: String,
}

impl Env {
    pub async fn start(state: LiveState, mut config: SandboxConfig) -> Env {
        if config.now.is_none() {
            config.now = Some(now());
        }
        let org = Org::from_live(state).expect("fixture is valid");
        Self::start_org(org, config).await
    }

    pub async fn start_org(org: Org, config: SandboxConfig) -> Env {
        let sandbox = sandbox::serve(config, org).await.expect("sandbox starts");
        let base = sandbox.base_url();
        let org_id = sandbox.org_id();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(16)
            .build()
            .expect("client");
        Env {
            sandbox,
            client,
            base,
            org_id,
        }
    }

    pub async fn fixture() -> Env {
        Self::start(fixture(), SandboxConfig::default()).await
    }

    pub fn jira(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(EMAIL, Some(TOKEN))
    }

    pub fn admin(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN_KEY)
    }

    pub fn raw(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let resp = self
            .jira(reqwest::Method::GET, path)
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.json().await.expect("json")
    }

    /// All members of a Jira group, following `nextPage`.
    pub async fn jira_members(&self, group_id: &str, inactive: bool) -> Vec<String> {
        let mut out = vec![];
        let mut url = format!(
            "{}/rest/api/3/group/member?groupId={group_id}&includeInactiveUsers={inactive}&maxResults=50",
            self.base
        );
        loop {
            let page: serde_json::Value = self
                .client
                .get(&url)
                .basic_auth(EMAIL, Some(TOKEN))
                .send()
                .await
                .expect("request")
                .json()
                .await
                .expect("json");
            for v in page["values"].as_array().expect("values") {
                out.push(v["accountId"].as_str().expect("id").to_string());
            }
            match page["nextPage"].as_str() {
                Some(next) => url = next.to_string(),
                None => break,
            }
        }
        out
    }

    /// Admin search of one account with groups and product access.
    pub async fn admin_user(&self, account_id: &str) -> serde_json::Value {
        let resp = self
            .admin(
                reqwest::Method::POST,
                &format!("/admin/v2/orgs/{}/directories/-/users/search", self.org_id),
            )
            .json(&serde_json::json!({ "accountIds": [account_id], "expand": ["productAccess", "groups"] }))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.expect("json");
        body["data"][0].clone()
    }

    pub async fn stats(&self) -> serde_json::Value {
        self.raw(reqwest::Method::GET, "/__sandbox/stats")
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }
}
