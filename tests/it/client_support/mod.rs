//! A scripted fake of the Atlassian endpoints the client uses, over a real socket on
//! 127.0.0.1:0. It is written on raw TCP so that faults are real: a reset is a TCP RST, a slow
//! body trickles, a truncated body closes early. It logs every request (path and query) so tests
//! can assert the exact requests, page parameters included.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const EMAIL: &str = "bot@acme.com";
pub const TOKEN: &str = "tok-SECRET-4242";
pub const ADMIN_KEY: &str = "adm-SECRET-9191";
pub const ORG: &str = "org-1";

#[derive(Debug, Clone)]
pub struct FUser {
    pub id: String,
    pub email: String,
    pub active: bool,
    pub account_type: &'static str,
    pub groups: BTreeSet<String>,
    pub last_active: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone)]
pub struct FGroup {
    pub id: String,
    pub name: String,
    pub synced: bool,
    /// Adding to this group fails with ADMIN-UAM-409-3.
    pub full: bool,
}

/// A fault served instead of (or around) the next matching response.
#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16),
    /// TCP reset before any response byte.
    Reset,
    /// Carry out the request (a write lands), then reset the connection before any response
    /// byte: the answer is lost, not the work.
    ResetAfter,
    /// Wait this long, then answer normally.
    Latency(Duration),
    /// Send the headers, then the body in small chunks with this pause between them.
    SlowBody(Duration),
    /// Send the headers and half the body, then close.
    Truncate,
    /// Announce a 10 GB body with `Content-Length`, then send endless bytes.
    HugeBody,
    /// The normal answer, padded with whitespace to this many bytes (still valid JSON).
    PaddedBody(usize),
    /// Answer with this status and a body that echoes the request's Authorization header, raw
    /// and percent-encoded, as some proxies and block pages do.
    EchoAuth(u16),
    /// A 429 with the admin API's documented headers only: `X-RateLimit-Limit: 10`,
    /// `X-RateLimit-Remaining: 0` and this `X-RateLimit-Reset` (verbatim), no `Retry-After`.
    Limited(String),
}

#[derive(Debug, Default)]
pub struct World {
    pub users: Vec<FUser>,
    pub groups: Vec<FGroup>,
    pub events: Vec<Value>,
    pub myself: String,
    /// (path substring, fault): the first fault whose substring matches the request is used.
    pub faults: VecDeque<(String, Fault)>,
    /// Requests allowed per window on each endpoint, and the window.
    pub rate_limit: Option<(u32, Duration)>,
    windows: HashMap<String, (Instant, u32)>,
    pub log: Vec<String>,
    pub admin_page_max: usize,
    /// Serve no admin group search.
    pub no_group_search: bool,
    /// Show group ids in the users' `groups` expansion as ARIs (as the spec's example does).
    pub group_aris: bool,
    /// The `id` of every `productAccess` entry (default `ari:cloud:jira::site/1`).
    pub product_ari: Option<String>,
    /// Every admin add answers 409 with this code, member or not.
    pub add_conflict: Option<&'static str>,
    /// The event actions the org lists (default: the four seatkeeper reads and one more).
    pub event_actions: Option<Vec<&'static str>>,
    /// Jira listings answer the first page whatever `startAt` asks, never saying it is the last
    /// (a broken server or proxy).
    pub ignore_start_at: bool,
}

#[derive(Clone)]
pub struct Fake {
    pub world: Arc<Mutex<World>>,
    pub base: String,
}

impl Fake {
    pub async fn start(world: World) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let world = Arc::new(Mutex::new(World {
            admin_page_max: if world.admin_page_max == 0 {
                100
            } else {
                world.admin_page_max
            },
            ..world
        }));
        let w = world.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let w = w.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, w).await;
                });
            }
        });
        Fake {
            world,
            base: format!("http://{addr}"),
        }
    }

    pub fn log(&self) -> Vec<String> {
        self.world.lock().unwrap().log.clone()
    }

    pub fn requests(&self, needle: &str) -> usize {
        self.log().iter().filter(|l| l.contains(needle)).count()
    }

    pub fn fault(&self, path: &str, fault: Fault) {
        self.world
            .lock()
            .unwrap()
            .faults
            .push_back((path.to_string(), fault));
    }

    pub fn clear_log(&self) {
        self.world.lock().unwrap().log.clear();
    }
}

/// A world of `n_users` users and the given groups; user `i` is in group `g` when `member(i, g)`.
pub fn world(
    n_users: usize,
    groups: &[(&str, &str)],
    member: impl Fn(usize, &str) -> bool,
) -> World {
    let users = (0..n_users)
        .map(|i| FUser {
            id: format!("acc-{i:05}"),
            email: format!("user{i}@acme.com"),
            active: i % 7 != 3,
            account_type: if i % 50 == 49 { "app" } else { "atlassian" },
            groups: groups
                .iter()
                .filter(|(_, name)| member(i, name))
                .map(|(id, _)| id.to_string())
                .collect(),
            last_active: vec![(
                "jira-software",
                format!("2026-{:02}-01T09:00:00Z", 1 + i % 11),
            )],
        })
        .collect();
    World {
        users,
        groups: groups
            .iter()
            .map(|(id, name)| FGroup {
                id: id.to_string(),
                name: name.to_string(),
                synced: false,
                full: false,
            })
            .collect(),
        myself: "acc-self".into(),
        ..World::default()
    }
}

struct Req {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    auth: Option<String>,
    body: Value,
}

impl Req {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    fn qs(&self, k: &str) -> Vec<String> {
        self.query
            .iter()
            .filter(|(a, _)| a == k)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn qn(&self, k: &str, default: usize) -> usize {
        self.q(k).and_then(|v| v.parse().ok()).unwrap_or(default)
    }
}

async fn read_request(stream: &mut TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let mut len = 0usize;
    let mut auth = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap_or(0),
                "authorization" => auth = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    let url = reqwest::Url::parse(&format!("http://x{target}")).ok()?;
    Some(Req {
        method,
        path: url.path().to_string(),
        query: url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        auth,
        body,
    })
}

async fn serve(mut stream: TcpStream, world: Arc<Mutex<World>>) -> std::io::Result<()> {
    let Some(req) = read_request(&mut stream).await else {
        return Ok(());
    };
    let line = format!(
        "{} {}{}{}",
        req.method,
        req.path,
        if req.query.is_empty() { "" } else { "?" },
        req.query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    let (fault, limited) = {
        let mut w = world.lock().unwrap();
        w.log.push(if req.body.is_null() {
            line.clone()
        } else {
            format!("{line} {}", req.body)
        });
        let idx = w.faults.iter().position(|(p, _)| line.contains(p.as_str()));
        let fault = idx.and_then(|i| w.faults.remove(i)).map(|(_, f)| f);
        let limited = rate_limit(&mut w, &req);
        (fault, limited)
    };
    let mut extra = Vec::new();
    let (status, body) = match (&fault, limited) {
        (Some(Fault::Reset), _) => {
            stream.set_zero_linger()?;
            drop(stream);
            return Ok(());
        }
        (Some(Fault::ResetAfter), _) => {
            route(&mut world.lock().unwrap(), &req);
            stream.set_zero_linger()?;
            drop(stream);
            return Ok(());
        }
        (Some(Fault::Limited(reset)), _) => {
            extra.push("X-RateLimit-Limit: 10".to_string());
            extra.push("X-RateLimit-Remaining: 0".to_string());
            extra.push(format!("X-RateLimit-Reset: {reset}"));
            (
                429,
                json!({"code": 429, "message": "Too many API requests"}),
            )
        }
        (Some(Fault::Status(s)), _) => (
            *s,
            json!({"errorMessages": [format!("injected {s}")], "errors": {}}),
        ),
        (Some(Fault::EchoAuth(s)), _) => {
            let auth = req.auth.clone().unwrap_or_default();
            let escaped: String = auth
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            (
                *s,
                json!({"errorMessages": [format!("blocked request with Authorization {auth} ({escaped})")], "errors": {}}),
            )
        }
        (_, Some((retry_after, _))) if retry_after > 0.0 => {
            extra.push(format!("Retry-After: {retry_after:.3}"));
            (
                429,
                json!({"errorMessages": ["Rate limit exceeded"], "errors": {}}),
            )
        }
        (_, near) => {
            if near.is_some_and(|(_, n)| n) {
                extra.push("X-RateLimit-NearLimit: true".to_string());
            }
            let mut w = world.lock().unwrap();
            route(&mut w, &req)
        }
    };
    if let Some(Fault::Latency(d)) = &fault {
        tokio::time::sleep(*d).await;
    }
    let mut bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(&body).unwrap()
    };
    if let Some(Fault::PaddedBody(size)) = &fault {
        bytes.resize((*size).max(bytes.len()), b' ');
    }
    let mut head =
        format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n");
    if matches!(fault, Some(Fault::HugeBody)) {
        head.push_str("Content-Length: 10737418240\r\n");
    } else if status != 204 {
        head.push_str(&format!("Content-Length: {}\r\n", bytes.len()));
    }
    for h in extra {
        head.push_str(&h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    match fault {
        Some(Fault::SlowBody(pause)) => {
            for part in bytes.chunks(16) {
                stream.write_all(part).await?;
                stream.flush().await?;
                tokio::time::sleep(pause).await;
            }
        }
        Some(Fault::HugeBody) => {
            let filler = vec![b' '; 1 << 20];
            for _ in 0..10_240 {
                if stream.write_all(&filler).await.is_err() {
                    return Ok(());
                }
            }
        }
        Some(Fault::Truncate) => {
            stream.write_all(&bytes[..bytes.len() / 2]).await?;
            stream.flush().await?;
            stream.set_zero_linger()?;
            return Ok(());
        }
        _ => stream.write_all(&bytes).await?,
    }
    stream.flush().await?;
    stream.shutdown().await
}

/// `Some((retry_after_secs, near_limit))` when the endpoint has a limit; retry_after 0 = allowed.
fn rate_limit(w: &mut World, req: &Req) -> Option<(f64, bool)> {
    let (limit, window) = w.rate_limit?;
    let key = format!("{} {}", req.method, endpoint_key(&req.path));
    let now = Instant::now();
    let slot = w.windows.entry(key).or_insert((now, 0));
    if now.duration_since(slot.0) >= window {
        *slot = (now, 0);
    }
    if slot.1 >= limit {
        let left = window.saturating_sub(now.duration_since(slot.0));
        return Some((left.as_secs_f64().max(0.001), true));
    }
    slot.1 += 1;
    Some((0.0, slot.1 * 5 >= limit * 4))
}

fn endpoint_key(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s.starts_with("acc-") || s.starts_with("g-") {
                "{id}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn basic() -> String {
    use base64_lite::encode;
    format!("Basic {}", encode(format!("{EMAIL}:{TOKEN}").as_bytes()))
}

mod base64_lite {
    pub fn encode(input: &[u8]) -> String {
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in input.chunks(3) {
            let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

fn jira_user(u: &FUser) -> Value {
    json!({"accountId": u.id, "accountType": u.account_type, "emailAddress": u.email, "displayName": format!("User {}", u.id), "active": u.active})
}

fn page_of<T: Clone>(items: &[T], start: usize, size: usize) -> Vec<T> {
    items.iter().skip(start).take(size).cloned().collect()
}

fn route(w: &mut World, req: &Req) -> (u16, Value) {
    let segs: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let admin = segs.first() == Some(&"admin");
    let authed = match &req.auth {
        Some(a) if admin => a == &format!("Bearer {ADMIN_KEY}"),
        Some(a) => a == &basic(),
        None => false,
    };
    if !authed {
        return (
            401,
            json!({"code": 401, "message": "Client must be authenticated to access this resource."}),
        );
    }
    let jira_err = |s: u16, m: &str| (s, json!({"errorMessages": [m], "errors": {}}));
    let admin_err = |s: u16, code: &str, title: &str| {
        (
            s,
            json!({"errors": [{"id": "x", "status": s.to_string(), "code": code, "title": title}]}),
        )
    };
    match (req.method.as_str(), segs.as_slice()) {
        ("GET", ["rest", "api", "3", "myself"]) => (200, json!({"accountId": w.myself})),
        ("GET", ["rest", "api", "3", "users", "search"]) => {
            let size = req.qn("maxResults", 50).min(1000);
            let users: Vec<Value> = w.users.iter().map(jira_user).collect();
            (
                200,
                Value::Array(page_of(&users, req.qn("startAt", 0), size)),
            )
        }
        ("GET", ["rest", "api", "3", "group", "bulk"]) => {
            let names = req.qs("groupName");
            let found: Vec<Value> = w
                .groups
                .iter()
                .filter(|g| names.contains(&g.name))
                .map(|g| json!({"name": g.name, "groupId": g.id}))
                .collect();
            let size = req.qn("maxResults", 50).min(50);
            let start = req.qn("startAt", 0);
            let values = page_of(&found, start, size);
            (
                200,
                json!({"startAt": start, "maxResults": size, "total": found.len(), "isLast": start + values.len() >= found.len(), "values": values}),
            )
        }
        ("GET", ["rest", "api", "3", "group", "member"]) => {
            let Some(gid) = req.q("groupId") else {
                return jira_err(400, "groupId or groupname is required");
            };
            if !w.groups.iter().any(|g| g.id == gid) {
                return jira_err(404, "Group not found");
            }
            let inactive = req.q("includeInactiveUsers") == Some("true");
            let members: Vec<Value> = w
                .users
                .iter()
                .filter(|u| u.groups.contains(gid) && (inactive || u.active))
                .map(jira_user)
                .collect();
            let size = req.qn("maxResults", 50).min(50);
            if w.ignore_start_at {
                let values = page_of(&members, 0, size);
                return (
                    200,
                    json!({"startAt": 0, "maxResults": size, "isLast": false, "values": values}),
                );
            }
            let start = req.qn("startAt", 0);
            let values = page_of(&members, start, size);
            (
                200,
                json!({"startAt": start, "maxResults": size, "total": members.len(), "isLast": start + values.len() >= members.len(), "values": values}),
            )
        }
        ("GET", ["rest", "api", "3", "user", "groups"]) => {
            let acc = req.q("accountId").unwrap_or_default();
            let Some(user) = w.users.iter().find(|u| u.id == acc) else {
                return jira_err(404, "The user does not exist");
            };
            let groups: Vec<Value> = w
                .groups
                .iter()
                .filter(|g| user.groups.contains(&g.id))
                .map(|g| json!({"name": g.name, "groupId": g.id}))
                .collect();
            (200, Value::Array(groups))
        }
        (m @ ("POST" | "DELETE"), ["rest", "api", "3", "group", "user"]) => {
            let gid = req.q("groupId").unwrap_or_default().to_string();
            let Some(group) = w.groups.iter().find(|g| g.id == gid).cloned() else {
                return jira_err(404, "Group not found");
            };
            let acc = if m == "POST" {
                req.body["accountId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            } else {
                req.q("accountId").unwrap_or_default().to_string()
            };
            let Some(user) = w.users.iter_mut().find(|u| u.id == acc) else {
                return jira_err(
                    404,
                    "Specified user does not exist or you do not have required permissions",
                );
            };
            if group.synced {
                return jira_err(
                    400,
                    "Cannot edit group memberships, as external user management is enabled",
                );
            }
            if m == "POST" {
                if !user.groups.insert(gid) {
                    return jira_err(
                        400,
                        &format!("User is already a member of '{}'", group.name),
                    );
                }
                (201, json!({"name": group.name, "groupId": group.id}))
            } else {
                if !user.groups.remove(&gid) {
                    return jira_err(404, "The user is not a member of the group");
                }
                (200, Value::Null)
            }
        }
        ("POST", ["admin", "v2", "orgs", org, "directories", "-", "users", "search"])
            if *org == ORG =>
        {
            let limit = req.body["limit"].as_u64().unwrap_or(50) as usize;
            if limit > w.admin_page_max {
                return admin_err(400, "ADMIN-400", "limit is too large");
            }
            let start: usize = req.body["cursor"]
                .as_str()
                .and_then(|c| c.strip_prefix("off:"))
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let filter: Vec<String> = req.body["groupIds"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let accounts: Vec<String> = req.body["accountIds"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let expand: Vec<&str> = req.body["expand"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            if let Some(bad) = filter
                .iter()
                .find(|g| !w.groups.iter().any(|x| &x.id == *g))
            {
                return admin_err(
                    404,
                    "ADMIN-UAM-404-3",
                    &format!("Group '{bad}' does not exist"),
                );
            }
            let matching: Vec<&FUser> = w
                .users
                .iter()
                .filter(|u| filter.is_empty() || filter.iter().any(|g| u.groups.contains(g)))
                .filter(|u| accounts.is_empty() || accounts.contains(&u.id))
                .collect();
            let data: Vec<Value> = matching
                .iter()
                .skip(start)
                .take(limit)
                .map(|u| {
                    let mut v = json!({"accountId": u.id, "accountType": u.account_type, "email": u.email, "name": format!("User {}", u.id),
                        "status": if u.active { "active" } else { "deactivated" }, "accountStatus": if u.active { "active" } else { "inactive" },
                        "addedToOrg": "2024-02-01T00:00:00Z",
                        "links": {"self": format!("https://api.atlassian.com/admin/v2/orgs/{ORG}/directories/dir-1/users/{}", u.id)}});
                    if expand.contains(&"groups") {
                        let id = |g: &FGroup| if w.group_aris { format!("ari:cloud:identity::group/{}", g.id) } else { g.id.clone() };
                        v["groups"] = Value::Array(w.groups.iter().filter(|g| u.groups.contains(&g.id)).map(|g| json!({"id": id(g), "name": g.name})).collect());
                    }
                    if expand.contains(&"productAccess") {
                        let ari = w.product_ari.clone().unwrap_or_else(|| "ari:cloud:jira::site/1".into());
                        v["productAccess"] = Value::Array(u.last_active.iter().map(|(k, t)| json!({"key": k, "id": ari, "lastActiveTimestamp": t})).collect());
                    }
                    v
                })
                .collect();
            let next = (start + limit < matching.len()).then(|| format!("off:{}", start + limit));
            (200, json!({"data": data, "links": {"next": next}}))
        }
        ("POST", ["admin", "v2", "orgs", org, "directories", "-", "groups", "search"])
            if *org == ORG && !w.no_group_search =>
        {
            let names: Vec<&str> = req.body["groupNames"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            let ids: Vec<&str> = req.body["groupIds"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            let data: Vec<Value> = w
                .groups
                .iter()
                .filter(|g| (names.is_empty() || names.contains(&g.name.as_str())) && (ids.is_empty() || ids.contains(&g.id.as_str())))
                .map(|g| json!({"id": g.id, "name": g.name, "directoryId": "dir-1", "externalSynced": g.synced}))
                .collect();
            (200, json!({"data": data, "links": {"next": null}}))
        }
        ("GET", ["admin", "v1", "orgs", org, "event-actions"]) if *org == ORG => {
            let listed = w.event_actions.clone().unwrap_or_else(|| {
                vec![
                    "user_logged_in",
                    "access_requested",
                    "user_added_to_group",
                    "user_removed_from_group",
                    "api_key_created",
                ]
            });
            let data: Vec<Value> = listed
                .iter()
            .map(|id| json!({"id": id, "type": "event-actions", "attributes": {"displayName": id, "groupDisplayName": "g"}}))
            .collect();
            (200, json!({ "data": data }))
        }
        ("GET", ["admin", "v1", "orgs", org, "events-stream"]) if *org == ORG => {
            // The cursor carries the whole query, as Atlassian's do.
            let (start, limit) = match req.q("cursor").and_then(|c| c.split_once(':')) {
                Some((s, l)) => (s.parse().unwrap_or(0), l.parse().unwrap_or(100)),
                None => (0, req.qn("limit", 100)),
            };
            let data = page_of(&w.events, start, limit);
            let next =
                (start + limit < w.events.len()).then(|| format!("{}:{limit}", start + limit));
            (
                200,
                json!({"data": data, "meta": {"next": next, "page_size": limit}, "links": {}}),
            )
        }
        (
            m @ ("POST" | "DELETE"),
            ["admin", "v2", "orgs", org, "directories", dir, "groups", gid, "memberships", rest @ ..],
        ) if *org == ORG => {
            if *dir != "dir-1" {
                return admin_err(404, "ADMIN-UAM-404-1", "Directory Not Found");
            }
            let gid = gid.to_string();
            let Some(group) = w.groups.iter().find(|g| g.id == gid).cloned() else {
                return admin_err(404, "ADMIN-UAM-404-3", "Group Not Found");
            };
            let acc = if m == "POST" {
                req.body["accountId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            } else {
                rest.first().copied().unwrap_or_default().to_string()
            };
            let Some(user) = w.users.iter_mut().find(|u| u.id == acc) else {
                return admin_err(404, "ADMIN-UAM-404-2", "User Not Found");
            };
            if group.synced {
                return admin_err(
                    400,
                    "ADMIN-UAM-400-9",
                    "Group is synced from an identity provider and is read-only",
                );
            }
            if m == "POST" {
                if group.full && !user.groups.contains(&gid) {
                    return admin_err(409, "ADMIN-UAM-409-3", "Product License Limit Exceeded");
                }
                if let Some(code) = w.add_conflict {
                    return admin_err(409, code, "Conflict");
                }
                let user = w.users.iter_mut().find(|u| u.id == acc).unwrap();
                if !user.groups.insert(gid) {
                    return admin_err(409, "ADMIN-UAM-409-2", "Resource Conflicts");
                }
                (204, Value::Null)
            } else {
                if !user.groups.remove(&gid) {
                    return admin_err(404, "ADMIN-UAM-404-4", "User is not a member of the group");
                }
                (204, Value::Null)
            }
        }
        _ => (
            404,
            json!({"errorMessages": [format!("no route {} {}", req.method, req.path)]}),
        ),
    }
}
