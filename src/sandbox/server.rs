//! The HTTP server: shared app state, the accept loop (hyper over tokio, one task per
//! keep-alive connection, so a fault can reset a connection), the routing table, and the gate
//! every API request passes through (request counts, rate limits, faults, latency).

use super::config::SandboxConfig;
use super::faults::{Faults, SlowBody};
use super::model::{derived_id, Org};
use super::ratelimit::{Decision, MinuteLimiter, RateLimiter};
use super::script::Script;
use super::{admin, control, jira, script};
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot write the state file {path}: {source}")]
    State {
        path: String,
        source: std::io::Error,
    },
}

/// The sandbox clock: pinned (moves only when told) or following the wall clock with an offset.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pinned: Option<DateTime<Utc>>,
    offset: TimeDelta,
}

impl Clock {
    /// The current sandbox time.
    pub fn now(&self) -> DateTime<Utc> {
        self.pinned.unwrap_or_else(|| {
            let now = Utc::now();
            now.checked_add_signed(self.offset).unwrap_or(now)
        })
    }

    /// Moves the clock by `by`; `false` (and no change) when the result is out of range.
    pub fn advance(&mut self, by: TimeDelta) -> bool {
        match self.now().checked_add_signed(by) {
            Some(t) => {
                self.set(t);
                true
            }
            None => false,
        }
    }

    /// Sets the clock to `to`.
    pub fn set(&mut self, to: DateTime<Utc>) {
        match &mut self.pinned {
            Some(t) => *t = to,
            None => self.offset = to.signed_duration_since(Utc::now()),
        }
    }
}

/// Counters served by `GET /__sandbox/stats`.
#[derive(Debug, Default)]
pub struct Stats {
    requests: Mutex<BTreeMap<String, u64>>,
    statuses: Mutex<BTreeMap<u16, u64>>,
    pub rate_limited: AtomicU64,
    pub faults_5xx: AtomicU64,
    pub faults_reset: AtomicU64,
    pub faults_slow_body: AtomicU64,
    pub writes_applied: AtomicU64,
    pub duplicate_writes: AtomicU64,
    pub refused_writes: AtomicU64,
    /// Admin requests that broke the published spec's request schemas (answered 400).
    pub spec_violations: AtomicU64,
    /// Membership writes that reached the org (applied or duplicate), per (group id, account id).
    memberships: Mutex<HashMap<(String, String), u32>>,
    /// API requests being answered now (a client killed mid-request leaves none behind once its
    /// connections are closed).
    in_flight: AtomicU64,
}

/// Counts an API request as in flight until dropped (answered, or abandoned with its
/// connection).
pub struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Stats {
    fn count_request(&self, key: &str) {
        let mut map = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                map.insert(key.to_string(), 1);
            }
        }
    }

    fn count_status(&self, status: StatusCode) {
        let mut map = self.statuses.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(status.as_u16()).or_insert(0) += 1;
    }

    /// Counts a membership write that reached the org, applied or not (a duplicate): a second
    /// write of one (group, account) is a repeated write.
    pub fn count_membership_write(&self, group_id: &str, account_id: &str) {
        let mut map = self.memberships.lock().unwrap_or_else(|e| e.into_inner());
        *map.entry((group_id.to_string(), account_id.to_string()))
            .or_insert(0) += 1;
    }

    /// Marks an API request in flight for the guard's lifetime.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// `membership_writes`: how many (group, account) pairs were written, how many writes went
    /// to a pair written before, and the most written pairs (at most 10, only repeated ones).
    fn memberships_json(&self) -> serde_json::Value {
        let map = self.memberships.lock().unwrap_or_else(|e| e.into_inner());
        let repeated: u64 = map.values().map(|&n| u64::from(n.saturating_sub(1))).sum();
        let mut most: Vec<(&(String, String), &u32)> = map.iter().filter(|(_, &n)| n > 1).collect();
        most.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let most: Vec<serde_json::Value> = most
            .into_iter()
            .take(10)
            .map(|((group_id, account_id), n)| {
                serde_json::json!({ "group_id": group_id, "account_id": account_id, "writes": n })
            })
            .collect();
        serde_json::json!({
            "memberships": map.len(),
            "writes": map.values().map(|&n| u64::from(n)).sum::<u64>(),
            "repeated": repeated,
            "most_written": most,
        })
    }

    /// The JSON document of `GET /__sandbox/stats`.
    pub fn to_json(&self) -> serde_json::Value {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let statuses: BTreeMap<String, u64> = self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        serde_json::json!({
            "requests": requests,
            "total_requests": requests.values().sum::<u64>(),
            "responses_by_status": statuses,
            "rate_limited": load(&self.rate_limited),
            "faults": {
                "5xx": load(&self.faults_5xx),
                "reset": load(&self.faults_reset),
                "slow_body": load(&self.faults_slow_body),
            },
            "writes_applied": load(&self.writes_applied),
            "duplicate_writes": load(&self.duplicate_writes),
            "refused_writes": load(&self.refused_writes),
            "spec_violations": load(&self.spec_violations),
            "membership_writes": self.memberships_json(),
            "in_flight": load(&self.in_flight),
        })
    }
}

/// An API request as the sandbox received it, before any limit, fault or check: an entry of
/// the request log (`GET /__sandbox/requests`, [`RunningSandbox::recorded_requests`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecordedRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The query pairs in order, decoded, repeated keys kept.
    pub query: Vec<(String, String)>,
    /// The JSON body, when there was one (a body that is not JSON: its text, as a string).
    pub body: Option<serde_json::Value>,
    /// When it arrived, by the sandbox clock.
    pub time: DateTime<Utc>,
}

impl RecordedRequest {
    /// `METHOD /path?k=v&k=v`, the query decoded: what a scripted answer's `match` is found in.
    pub fn line(&self) -> String {
        let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let sep = if query.is_empty() { "" } else { "?" };
        format!("{} {}{sep}{}", self.method, self.path, query.join("&"))
    }
}

/// How many requests the log keeps; older ones are dropped first.
pub const REQUEST_LOG_MAX: usize = 100_000;

/// The caller identity behind the Jira credentials.
#[derive(Debug, Clone)]
pub struct Myself {
    /// Index into the org's users, when the configured email belongs to one.
    pub user: Option<u32>,
    pub account_id: String,
}

/// Shared state of a running sandbox.
#[derive(Debug)]
pub struct App {
    org: RwLock<Org>,
    pub config: SandboxConfig,
    pub base_url: String,
    pub clock: Mutex<Clock>,
    pub stats: Stats,
    limiter: Option<RateLimiter>,
    admin_limiter: Option<MinuteLimiter>,
    faults: Faults,
    persisted: Mutex<Option<u64>>,
    pub myself: Myself,
    /// Cached `UserDetails` JSON per user (group pages).
    pub user_details_json: Vec<OnceLock<Box<str>>>,
    /// Cached `User` JSON per user (`users/search`).
    pub user_json: Vec<OnceLock<Box<str>>>,
    error_seq: AtomicU64,
    /// The request log, the latest [`REQUEST_LOG_MAX`] API requests.
    recorded: Mutex<VecDeque<RecordedRequest>>,
    /// Scripted answers (`POST /__sandbox/script`).
    pub script: Script,
    /// What the mail sink accepted (`GET /__sandbox/mail`).
    pub mailbox: super::smtp::Mailbox,
    /// Where the mail sink listens, once started ([`App::start_mail_sink`]).
    mail_addr: OnceLock<SocketAddr>,
}

impl App {
    /// The state of a sandbox answering at `base_url`, saved to the state file if one is
    /// configured.
    pub async fn start(
        config: SandboxConfig,
        org: Org,
        base_url: String,
    ) -> Result<Arc<Self>, ServeError> {
        let myself = match org.user_by_email(&config.credentials.email) {
            Some(u) => Myself {
                user: Some(u),
                account_id: org.user(u).account_id.clone(),
            },
            None => Myself {
                user: None,
                account_id: format!(
                    "712020:{}",
                    derived_id(&format!("myself:{}", config.credentials.email))
                ),
            },
        };
        let n = org.users.len();
        let clock = Clock {
            pinned: config.now,
            offset: TimeDelta::zero(),
        };
        let app = Arc::new(App {
            user_details_json: (0..n).map(|_| OnceLock::new()).collect(),
            user_json: (0..n).map(|_| OnceLock::new()).collect(),
            org: RwLock::new(org),
            limiter: config.rate_limit.map(RateLimiter::new),
            admin_limiter: config.admin_limits.map(MinuteLimiter::new),
            faults: Faults::new(config.faults.clone(), config.latency),
            base_url,
            clock: Mutex::new(clock),
            stats: Stats::default(),
            persisted: Mutex::new(None),
            myself,
            error_seq: AtomicU64::new(1),
            recorded: Mutex::new(VecDeque::new()),
            script: Script::default(),
            mailbox: super::smtp::Mailbox::default(),
            mail_addr: OnceLock::new(),
            config,
        });
        if let Some(path) = app.config.state_file.clone() {
            app.persist().await.map_err(|e| ServeError::State {
                path: path_display(&path),
                source: std::io::Error::other(e),
            })?;
        }
        Ok(app)
    }

    /// Starts the SMTP mail sink on a free loopback port (once; later calls give its address):
    /// the sandbox then also receives the mail a run sends.
    pub async fn start_mail_sink(self: &Arc<Self>) -> std::io::Result<SocketAddr> {
        if let Some(addr) = self.mail_addr.get() {
            return Ok(*addr);
        }
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let app = Arc::downgrade(self);
        let now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync> =
            Arc::new(move || app.upgrade().map_or_else(Utc::now, |a| a.now()));
        tokio::spawn(super::smtp::serve(listener, self.mailbox.clone(), now));
        Ok(*self.mail_addr.get_or_init(|| addr))
    }

    /// `smtp://127.0.0.1:PORT` of the mail sink, once started.
    pub fn mail_url(&self) -> Option<String> {
        self.mail_addr.get().map(|a| format!("smtp://{a}"))
    }

    /// Adds a request to the log.
    fn record_request(&self, request: RecordedRequest) {
        let mut log = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() >= REQUEST_LOG_MAX {
            log.pop_front();
        }
        log.push_back(request);
    }

    /// The request log, oldest first.
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        let log = self.recorded.lock().unwrap_or_else(|e| e.into_inner());
        log.iter().cloned().collect()
    }

    /// Read access to the org.
    pub fn org(&self) -> RwLockReadGuard<'_, Org> {
        self.org.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access to the org.
    pub fn org_mut(&self) -> RwLockWriteGuard<'_, Org> {
        self.org.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The sandbox time.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.lock().unwrap_or_else(|e| e.into_inner()).now()
    }

    /// A fresh id for an error body.
    pub fn error_id(&self) -> String {
        let n = self.error_seq.fetch_add(1, Ordering::Relaxed);
        derived_id(&format!("error:{n}"))
    }

    /// Saves the org to the state file, if one is configured. Concurrent saves coalesce: a save
    /// that finds a newer version already on disk does nothing.
    pub async fn persist(self: &Arc<Self>) -> Result<(), String> {
        let Some(path) = self.config.state_file.clone() else {
            return Ok(());
        };
        let app = self.clone();
        let shown = path_display(&path);
        tokio::task::spawn_blocking(move || app.persist_blocking(&path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot save the sandbox state to {shown}: {e}"))
    }

    fn persist_blocking(&self, path: &Path) -> std::io::Result<()> {
        let mut saved = self.persisted.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.now();
        let (version, bytes) = {
            let org = self.org();
            if saved.is_some_and(|v| v >= org.version) {
                return Ok(());
            }
            (
                org.version,
                org.to_state_json(now).map_err(std::io::Error::other)?,
            )
        };
        crate::files::write_atomically(path, &bytes)?;
        *saved = Some(version);
        Ok(())
    }
}

fn path_display(p: &Path) -> String {
    p.display().to_string()
}

/// A handle that stops the server; clone it freely.
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Asks the server to stop accepting and close its connections.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// A running sandbox. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningSandbox {
    addr: SocketAddr,
    app: Arc<App>,
    shutdown: ShutdownHandle,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RunningSandbox {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the value for `SEATKEEPER_API_BASE`.
    pub fn base_url(&self) -> String {
        self.app.base_url.clone()
    }

    /// The org id the admin API serves.
    pub fn org_id(&self) -> String {
        self.app.org().org_id.clone()
    }

    /// The directory id the admin API serves (`-` works too).
    pub fn directory_id(&self) -> String {
        self.app.org().directory_id.clone()
    }

    /// The current state in the snapshot format.
    pub fn snapshot(&self) -> crate::live::LiveState {
        self.app.org().snapshot(self.app.now())
    }

    /// `smtp://127.0.0.1:PORT`: the mail sink, for `notify.email.smtp` in rehearsals.
    pub fn mail_url(&self) -> Option<String> {
        self.app.mail_url()
    }

    /// The messages the mail sink accepted (the list of `GET /__sandbox/mail`).
    pub fn mail(&self) -> Vec<super::smtp::ReceivedMail> {
        self.app.mailbox.messages()
    }

    /// The counters of `GET /__sandbox/stats`.
    pub fn stats(&self) -> serde_json::Value {
        self.app.stats.to_json()
    }

    /// The API requests received so far, oldest first (the log of `GET /__sandbox/requests`).
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.app.recorded_requests()
    }

    /// Counts of users and groups, for the banner.
    pub fn counts(&self) -> (usize, usize) {
        let org = self.app.org();
        (
            org.users().len(),
            org.groups().iter().filter(|g| !g.deleted).count(),
        )
    }

    /// A handle to stop the server from elsewhere (a signal handler).
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.shutdown.shutdown();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Waits until the server stops (after a [`ShutdownHandle::shutdown`]).
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        self.shutdown.shutdown();
    }
}

/// Lets a handler reset its connection: the connection task drops the connection with
/// `SO_LINGER` 0 (an RST, no response).
#[derive(Debug, Clone, Default)]
pub struct ConnControl(Arc<Notify>);

impl ConnControl {
    /// Resets the connection; never returns (the connection task drops the handler).
    pub async fn reset(&self) {
        self.0.notify_one();
        std::future::pending::<()>().await;
    }
}

/// Starts the sandbox on `config.bind:config.port` with `org` as its state. Returns once the
/// socket is bound; the server runs on the current tokio runtime until shut down.
pub async fn serve(config: SandboxConfig, org: Org) -> Result<RunningSandbox, ServeError> {
    let addr = SocketAddr::new(config.bind, config.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: addr.to_string(),
        source,
    })?;
    let app = App::start(config, org, format!("http://{addr}")).await?;
    app.start_mail_sink()
        .await
        .map_err(|source| ServeError::Bind {
            addr: "127.0.0.1:0 (the mail sink)".to_string(),
            source,
        })?;
    let router = router(app.clone());
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(accept_loop(listener, router, rx));
    Ok(RunningSandbox {
        addr,
        app,
        shutdown: ShutdownHandle(Arc::new(tx)),
        task: Some(task),
    })
}

async fn accept_loop(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(serve_connection(stream, router.clone()));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

async fn serve_connection(stream: TcpStream, router: Router) {
    let _ = stream.set_nodelay(true);
    // Keep a second handle on the socket so a reset can set SO_LINGER 0 before closing.
    let Ok(std_stream) = stream.into_std() else {
        return;
    };
    let dup = std_stream.try_clone().ok();
    let Ok(stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    let control = ConnControl::default();
    let service = router.layer(axum::Extension(control.clone()));
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
    tokio::select! {
        _ = conn => {}
        _ = control.0.notified() => {
            if let Some(dup) = dup.and_then(|d| TcpStream::from_std(d).ok()) {
                let _ = dup.set_zero_linger();
            }
        }
    }
}

/// The routing table: every API endpoint, the control endpoints, and the gate before them.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/rest/api/3/myself", get(jira::myself))
        .route("/rest/api/3/users/search", get(jira::users_search))
        .route("/rest/api/3/users", get(jira::users_search))
        .route("/rest/api/3/group/bulk", get(jira::group_bulk))
        .route("/rest/api/3/group/member", get(jira::group_member))
        .route(
            "/rest/api/3/group/user",
            post(jira::add_user_to_group).delete(jira::remove_user_from_group),
        )
        .route("/rest/api/3/user/groups", get(jira::user_groups))
        .route(
            "/rest/api/3/group",
            get(jira::get_group)
                .post(jira::create_group)
                .delete(jira::remove_group),
        )
        .route("/rest/api/3/applicationrole", get(jira::application_roles))
        .route(
            "/admin/v2/orgs/{org_id}/directories/{directory_id}/users/search",
            post(admin::users_search),
        )
        .route(
            "/admin/v2/orgs/{org_id}/directories/{directory_id}/users",
            get(admin::users_list),
        )
        .route(
            "/admin/v2/orgs/{org_id}/directories/{directory_id}/users/{account_id}/role-assignments",
            get(admin::user_role_assignments),
        )
        .route(
            "/admin/v2/orgs/{org_id}/directories/{directory_id}/groups/search",
            post(admin::groups_search),
        )
        .route(
            "/admin/v2/orgs/{org_id}/directories/{directory_id}/groups/{group_id}",
            get(admin::get_group),
        )
        .route(
            "/admin/v2/orgs/{org_id}/directories/{directory_id}/groups/{group_id}/role-assignments",
            get(admin::group_role_assignments),
        )
        .route("/admin/v2/orgs/{org_id}/directories", get(admin::directories))
        .route(
            "/admin/v1/orgs/{org_id}/directory/users/{account_id}/last-active-dates",
            get(admin::last_active_dates),
        )
        .route(
            "/admin/v2/orgs/{org_id}/directories/{directory_id}/groups/{group_id}/memberships",
            post(admin::add_membership),
        )
        .route(
            "/admin/v2/orgs/{org_id}/directories/{directory_id}/groups/{group_id}/memberships/{account_id}",
            delete(admin::remove_membership),
        )
        .route("/admin/v1/orgs/{org_id}/events-stream", get(admin::events_stream))
        .route("/admin/v1/orgs/{org_id}/events", get(admin::events_query))
        .route("/admin/v1/orgs/{org_id}/event-actions", get(admin::event_actions))
        .route("/admin/v1/orgs", get(admin::orgs))
        .route("/__sandbox/stats", get(control::stats))
        .route("/__sandbox/state", get(control::state))
        .route("/__sandbox/events", post(control::inject_event))
        .route("/__sandbox/activity", post(control::record_activity))
        .route("/__sandbox/clock", get(control::clock).post(control::set_clock))
        .route("/__sandbox/requests", get(control::requests))
        .route("/__sandbox/mail", get(control::mail))
        .route("/__sandbox/script", post(control::script))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), gate))
        .with_state(app)
}

/// Which API a path belongs to, for error shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Jira,
    Admin,
    Control,
}

impl Api {
    pub fn of(path: &str) -> Self {
        if path.starts_with("/admin/") {
            Api::Admin
        } else if path.starts_with("/__sandbox") {
            Api::Control
        } else {
            Api::Jira
        }
    }
}

/// An error body in the style of `api`; on the admin API the code and shape are the ones the
/// spec documents for `status` on `path` ([`admin::status_error`]).
pub fn api_error(app: &App, api: Api, path: &str, status: StatusCode, detail: &str) -> Response {
    match api {
        Api::Jira => jira::error(status, detail),
        Api::Admin => admin::status_error(app, path, status, detail),
        Api::Control => control::error(status, detail),
    }
}

async fn not_found(State(app): State<Arc<App>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let detail = format!("No endpoint {} {path} in the sandbox", req.method());
    api_error(&app, Api::of(&path), &path, StatusCode::NOT_FOUND, &detail)
}

async fn method_not_allowed(State(app): State<Arc<App>>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let detail = format!("Method {} is not allowed on {path}", req.method());
    api_error(
        &app,
        Api::of(&path),
        &path,
        StatusCode::METHOD_NOT_ALLOWED,
        &detail,
    )
}

/// The rate-limit headers of a response. The admin API documents exactly
/// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset` (ISO 8601, UTC), so
/// admin responses carry only those; Jira responses also carry `X-RateLimit-NearLimit` and
/// `RateLimit-Reason`.
fn rate_headers(headers: &mut HeaderMap, d: &Decision, api: Api) {
    let now = Utc::now();
    let reset = TimeDelta::from_std(d.reset_in)
        .ok()
        .and_then(|by| now.checked_add_signed(by))
        .unwrap_or(now);
    let pairs = [
        ("x-ratelimit-limit", d.limit.to_string()),
        ("x-ratelimit-remaining", d.remaining.to_string()),
        (
            "x-ratelimit-reset",
            reset.to_rfc3339_opts(SecondsFormat::Millis, true),
        ),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(HeaderName::from_static(k), v);
        }
    }
    if api == Api::Admin {
        return;
    }
    if d.near_limit() || !d.allowed {
        headers.insert(
            HeaderName::from_static("x-ratelimit-nearlimit"),
            HeaderValue::from_static("true"),
        );
    }
    if api == Api::Jira {
        headers.insert(
            HeaderName::from_static("ratelimit-reason"),
            HeaderValue::from_static("jira-burst-based"),
        );
    }
}

/// Runs before every handler: counts the request, then (API routes only) applies the rate
/// limit, latency and faults.
async fn gate(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "(unmatched)".to_string());
    let key = format!("{} {route}", req.method());
    app.stats.count_request(&key);
    let api = Api::of(req.uri().path());
    if api == Api::Control {
        let resp = next.run(req).await;
        app.stats.count_status(resp.status());
        return resp;
    }
    let _in_flight = app.stats.in_flight();
    let Some((req, line)) = record(&app, req).await else {
        let detail = "The request body could not be read (at most 1 MiB).";
        let resp = api_error(&app, api, &route, StatusCode::BAD_REQUEST, detail);
        app.stats.count_status(resp.status());
        return resp;
    };
    // Admin routes: the documented per-minute budgets, when configured; Jira routes: the
    // token buckets of `--rate-limit`.
    let decision = match api {
        Api::Admin => app.admin_limiter.as_ref().map(|l| l.check(&key)),
        _ => app.limiter.as_ref().map(|l| l.check(&key)),
    };
    if let Some(mut d) = decision.filter(|d| !d.allowed) {
        app.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
        let mut resp = if api == Api::Admin {
            // No `Retry-After` (the spec documents none): the reset is when a request fits.
            d.reset_in = d.retry_after;
            api_error(
                &app,
                api,
                req.uri().path(),
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit exceeded. Retry after the time given in X-RateLimit-Reset.",
            )
        } else {
            let mut resp = api_error(
                &app,
                api,
                req.uri().path(),
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit exceeded. Retry after the time given in Retry-After.",
            );
            let secs = d.retry_after.as_secs_f64().ceil().max(1.0) as u64;
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        };
        rate_headers(resp.headers_mut(), &d, api);
        app.stats.count_status(resp.status());
        return resp;
    }
    let plan = app.faults.plan(req.method().as_str(), req.uri());
    if !plan.delay.is_zero() {
        tokio::time::sleep(plan.delay).await;
    }
    if plan.reset {
        app.stats.faults_reset.fetch_add(1, Ordering::Relaxed);
        let control = req.extensions().get::<ConnControl>().cloned();
        if plan.reset_after_handler {
            let _ = next.run(req).await;
        }
        if let Some(control) = control {
            control.reset().await;
        }
        return StatusCode::BAD_GATEWAY.into_response();
    }
    if let Some(code) = plan.error {
        app.stats.faults_5xx.fetch_add(1, Ordering::Relaxed);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let mut resp = api_error(
            &app,
            api,
            req.uri().path(),
            status,
            "The sandbox injected a server error (--faults).",
        );
        if code == 503 && api == Api::Jira {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from_static("1"),
            );
        }
        app.stats.count_status(resp.status());
        return resp;
    }
    let req = if api == Api::Admin {
        match admin::check_request(&app, req).await {
            Ok(req) => req,
            Err(resp) => {
                app.stats.count_status(resp.status());
                return resp;
            }
        }
    } else {
        req
    };
    let scripted = match api {
        Api::Admin => admin::authenticated(&app, req.headers()),
        _ => jira::authenticate(&app, req.headers()).is_ok(),
    }
    .then(|| app.script.take(&line))
    .flatten();
    let mut resp = match scripted {
        Some(s) => script::answer(&app, api, req, next, s).await,
        None => next.run(req).await,
    };
    if api == Api::Jira && resp.status() != StatusCode::UNAUTHORIZED {
        // Jira names the authenticated account on every response.
        if let Ok(v) = HeaderValue::from_str(&app.myself.account_id) {
            resp.headers_mut()
                .insert(HeaderName::from_static("x-aaccountid"), v);
        }
    }
    if let Some(d) = decision {
        if api == Api::Admin || d.near_limit() {
            rate_headers(resp.headers_mut(), &d, api);
        }
    }
    app.stats.count_status(resp.status());
    if plan.slow_body {
        app.stats.faults_slow_body.fetch_add(1, Ordering::Relaxed);
        let (mut parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, SlowBody::body(bytes, app.faults.slow_body_delay()));
    }
    resp
}

/// Adds an API request to the log: its body is read (at most 1 MiB, else `None`) and put back.
/// Returns the request and its [`RecordedRequest::line`].
async fn record(app: &App, req: Request) -> Option<(Request, String)> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.ok()?;
    let body = (!bytes.iter().all(u8::is_ascii_whitespace)).then(|| {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned().into())
    });
    let entry = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: Params::from_uri(&parts.uri).0,
        body,
        time: app.now(),
    };
    let line = entry.line();
    app.record_request(entry);
    Some((Request::from_parts(parts, Body::from(bytes)), line))
}

/// A JSON response from pre-rendered text.
pub fn json_text(status: StatusCode, body: String) -> Response {
    json_bytes(status, body.into_bytes())
}

/// A JSON response from serialised bytes.
pub fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    resp
}

/// A JSON response from a value.
pub fn json_value(status: StatusCode, value: &serde_json::Value) -> Response {
    json_text(status, value.to_string())
}

/// Query parameters in order, repeated keys kept.
#[derive(Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses the query of `uri`.
    pub fn from_uri(uri: &axum::http::Uri) -> Self {
        let pairs = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
            .map(|q| q.0)
            .unwrap_or_default();
        Self(pairs)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// An integer parameter; `Err(message)` when it is not one.
    pub fn int(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                format!("The value '{v}' of parameter '{key}' is not a valid number.")
            }),
        }
    }

    /// A boolean parameter.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(format!(
                "The value '{v}' of parameter '{key}' is not a valid boolean."
            )),
        }
    }
}

/// Whether the request says its body is JSON (`application/json`, any parameters).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Percent-encodes a query value.
pub fn enc(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes standard base64 (with or without padding); `None` on bad input.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Constant-time-ish string comparison for credentials.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip() {
        assert_eq!(
            base64_decode("YWRtaW46dG9rZW4=").as_deref(),
            Some(&b"admin:token"[..])
        );
        assert_eq!(base64_decode("YQ").as_deref(), Some(&b"a"[..]));
        assert!(base64_decode("!!").is_none());
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
    }
}
