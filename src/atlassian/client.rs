//! The reqwest client: one place where requests are sent. Every request goes through
//! `Client::call`, which bounds concurrency with a semaphore shared by all requests, paces
//! each endpoint ([`Pacer`]), retries transient failures ([`RetryConfig`]), counts requests,
//! and turns error responses into typed [`ApiError`]s with secrets redacted.

use super::credentials::Credentials;
use super::error::{Api, ApiError, TransportKind};
use super::permits::{Permit, Permits, Priority};
use super::retry::{Pacer, RateLimitInfo, Reservation, RetryConfig};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest page the admin events stream serves (`limit` maximum 500 in Atlassian's published
/// Organizations API); asking for more is a 400.
pub const EVENTS_PAGE_MAX: u32 = 500;

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// At most this many requests in flight at once (`--parallelism`).
    pub parallelism: usize,
    /// Retries of transient failures.
    pub retry: RetryConfig,
    /// Limit for one request, body included.
    pub request_timeout: Duration,
    /// Limit for opening a connection (name lookup, TCP and TLS).
    pub connect_timeout: Duration,
    /// While a host has not answered yet, how long a call may spend on connection attempts to
    /// it, waits between them included, before it fails with [`ApiError::Unreachable`]: a wrong
    /// `SEATKEEPER_API_BASE`, a stopped sandbox or no network is said at once, not after the
    /// minute of backoff a blip of a host that did answer is worth.
    pub unreachable_after: Duration,
    /// Page size of the admin user listing (`limit`).
    pub admin_page_size: u32,
    /// On the admin path with site credentials too, look group ids up with the admin v2 group
    /// search (which says whether a group is synced from an identity provider) before Jira's
    /// `group/bulk` (which does not). On by default: a synced group must be blocked in the plan,
    /// not found out by a refused write at apply time.
    pub prefer_admin_group_search: bool,
    /// Page size of the admin events stream (`limit`; the published maximum is
    /// [`EVENTS_PAGE_MAX`]).
    pub events_page_size: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            parallelism: 8,
            retry: RetryConfig::default(),
            request_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(3),
            unreachable_after: Duration::from_secs(9),
            admin_page_size: 100,
            events_page_size: EVENTS_PAGE_MAX,
            prefer_admin_group_search: true,
        }
    }
}

/// Request counts since the client was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// HTTP requests sent (every attempt, retries included).
    pub requests: u64,
    /// Of those, retries of an earlier failed attempt.
    pub retries: u64,
    /// Responses that were 429.
    pub rate_limited: u64,
}

impl std::ops::Sub for RequestStats {
    type Output = RequestStats;
    fn sub(self, rhs: Self) -> Self {
        RequestStats {
            requests: self.requests.saturating_sub(rhs.requests),
            retries: self.retries.saturating_sub(rhs.retries),
            rate_limited: self.rate_limited.saturating_sub(rhs.rate_limited),
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
}

/// One request to make: method, API, path segments, query and JSON body.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub api: Api,
    pub method: Method,
    /// Path segments after the base, unencoded (`["rest", "api", "3", "group", "member"]`).
    pub segments: Vec<String>,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    /// The endpoint template for pacing and messages: `GET /rest/api/3/group/member`.
    pub endpoint: &'static str,
    /// Whether it waits for a concurrency permit behind serial chains ([`Priority`]).
    pub priority: Priority,
}

impl Call {
    pub fn new(api: Api, method: Method, endpoint: &'static str, segments: &[&str]) -> Self {
        Self {
            api,
            method,
            segments: segments.iter().map(|s| s.to_string()).collect(),
            query: Vec::new(),
            body: None,
            endpoint,
            priority: Priority::Chain,
        }
    }

    /// Marks the call as one of many independent requests issued at once (the remaining pages
    /// of a listing whose size is known): requests on a serial chain get permits first.
    pub fn fan_out(mut self) -> Self {
        self.priority = Priority::FanOut;
        self
    }

    pub fn query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    pub fn json(mut self, body: impl serde::Serialize) -> Self {
        // The bodies sent are plain structs and JSON values, which always serialise.
        self.body = serde_json::to_value(body).ok();
        self
    }
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub body: bytes::Bytes,
}

/// What a [`Transport`] answers: status, headers and the whole body.
pub type TransportReply = (u16, reqwest::header::HeaderMap, bytes::Bytes);

/// Carries a request without a socket: the sandbox answering in-process
/// ([`crate::sandbox::InProcess`]). Everything else about a call (pacing, retries, error
/// mapping, counts) is the client's own, so an in-process backend has the HTTP path's
/// semantics.
pub trait Transport: Send + Sync + std::fmt::Debug {
    /// Answers `method path_and_query` with these headers and body; `Err` is a lost answer.
    fn send(
        &self,
        method: Method,
        path_and_query: String,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<TransportReply, String>> + Send + '_>,
    >;
}

/// The Atlassian Cloud client (site and admin APIs).
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    /// Requests go here instead of over `http` when set.
    transport: Option<std::sync::Arc<dyn Transport>>,
    pub(crate) creds: Credentials,
    pub(crate) config: ClientConfig,
    permits: Permits,
    pacer: Pacer,
    counters: Counters,
    /// Group id → directory id, learned from group listings (admin writes need it).
    pub(crate) directories: Mutex<HashMap<String, String>>,
    /// The directory ids seen in user listings; when there is exactly one, every group is in it.
    pub(crate) user_directories: Mutex<BTreeSet<String>>,
    /// Set when the admin group search answered 404: it is not served (the sandbox lacks it).
    pub(crate) group_search_unsupported: AtomicBool,
    /// Serializes directory look-ups, so concurrent writes to one group look it up once.
    pub(crate) directory_lookup: tokio::sync::Mutex<()>,
    /// Whether the site and the admin API's hosts have answered (any HTTP response).
    answered: [AtomicBool; 2],
}

/// The largest answer a listing page may be, in bytes: the largest page an endpoint documents
/// (1,000 Jira users, 100 admin users with their groups, 500 events) is a few MiB.
pub const MAX_BODY_BYTES: u64 = 32 << 20;

/// The largest answer any other request may be (a write, `myself`, a group search page, role
/// assignments, last-active dates, event actions): each documents at most some hundreds of KiB.
pub const MAX_SMALL_BODY_BYTES: u64 = 4 << 20;

/// The most bytes an answer to `endpoint` may have: [`MAX_BODY_BYTES`] for the listings of
/// users, group members and events, [`MAX_SMALL_BODY_BYTES`] for everything else.
pub fn body_limit(endpoint: &str) -> u64 {
    let listing = endpoint.ends_with("/users/search")
        || endpoint.ends_with("/users")
        || endpoint.ends_with("/group/member")
        || endpoint.ends_with("/events")
        || endpoint.ends_with("/events-stream");
    if listing {
        MAX_BODY_BYTES
    } else {
        MAX_SMALL_BODY_BYTES
    }
}

/// Reads a response body, refusing one larger than [`body_limit`] allows `endpoint` as soon as
/// its `Content-Length` or its bytes say so.
async fn read_capped(
    endpoint: &'static str,
    mut response: reqwest::Response,
) -> Result<bytes::Bytes, ApiError> {
    let limit = body_limit(endpoint);
    let too_large = |size: String| ApiError::Decode {
        endpoint: endpoint.to_string(),
        message: format!(
            "the answer is {size}, more than the {} MiB any answer of this endpoint needs; \
             refused unread",
            limit >> 20
        ),
    };
    if let Some(len) = response.content_length().filter(|l| *l > limit) {
        return Err(too_large(format!("{len} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ApiError::transport(endpoint, e.without_url()))?
    {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large("larger".to_string()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(bytes::Bytes::from(body))
}

#[cfg(test)]
mod body_limit_tests {
    use super::*;

    #[test]
    fn listings_may_be_large_and_everything_else_small() {
        for listing in [
            "GET /rest/api/3/users/search",
            "GET /rest/api/3/group/member",
            "POST /admin/v2/orgs/{orgId}/directories/{directoryId}/users/search",
            "GET /admin/v2/orgs/{orgId}/directories/{directoryId}/users",
            "GET /admin/v1/orgs/{orgId}/events",
            "GET /admin/v1/orgs/{orgId}/events-stream",
        ] {
            assert_eq!(body_limit(listing), MAX_BODY_BYTES, "{listing}");
        }
        for small in [
            "GET /rest/api/3/myself",
            "POST /rest/api/3/group/user",
            "DELETE /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships/{accountId}",
            "GET /admin/v1/orgs/{orgId}/event-actions",
            "GET /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/role-assignments",
        ] {
            assert_eq!(body_limit(small), MAX_SMALL_BODY_BYTES, "{small}");
        }
    }
}

/// How many times a read that answered 500 is asked again.
const READ_500_RETRIES: u32 = 3;

/// Whether a call only reads: a `GET`, or one of the admin API's `POST …/search` listings.
fn is_read(call: &Call) -> bool {
    call.method == Method::GET || call.endpoint.ends_with("/search")
}

impl Client {
    /// Builds a client. Makes no request.
    pub fn new(creds: Credentials, config: ClientConfig) -> Result<Self, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("seatkeeper/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::Transport {
                endpoint: "client setup".into(),
                kind: TransportKind::Other,
                message: e.to_string(),
                source: Some(e),
            })?;
        Ok(Self {
            http,
            transport: None,
            permits: Permits::new(config.parallelism),
            creds,
            config,
            pacer: Pacer::default(),
            counters: Counters::default(),
            directories: Mutex::new(HashMap::new()),
            user_directories: Mutex::new(BTreeSet::new()),
            group_search_unsupported: AtomicBool::new(false),
            directory_lookup: tokio::sync::Mutex::new(()),
            answered: [AtomicBool::new(false), AtomicBool::new(false)],
        })
    }

    /// A client whose requests `transport` answers, without a socket (the in-process sandbox).
    pub fn with_transport(
        creds: Credentials,
        config: ClientConfig,
        transport: std::sync::Arc<dyn Transport>,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            transport: Some(transport),
            ..Self::new(creds, config)?
        })
    }

    /// The credentials in use (secrets stay wrapped).
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Requests made so far.
    pub fn stats(&self) -> RequestStats {
        RequestStats {
            requests: self.counters.requests.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            rate_limited: self.counters.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// Whether admin credentials (key and org id) are configured. A key without an org id
    /// ([`Credentials::resolve_for_discovery`]) only lists orgs: the reads and writes take the
    /// site path then.
    pub fn has_admin(&self) -> bool {
        self.creds
            .admin
            .as_ref()
            .is_some_and(|a| a.org_id.is_some())
    }

    /// The org id of the admin credentials, for `operation`; an error that names what is
    /// missing without it (no admin key, or a key resolved without an org id).
    pub(crate) fn admin_org_id(&self, operation: &'static str) -> Result<&str, ApiError> {
        match &self.creds.admin {
            Some(admin) => admin.org_id.as_deref().ok_or(ApiError::MissingCredential {
                operation,
                needs: "an org id (`org:` in the policy): the admin API key alone only lists \
                            the orgs it manages",
            }),
            None => Err(ApiError::MissingCredential {
                operation,
                needs: "ATLASSIAN_ADMIN_API_KEY and `org:` in the policy",
            }),
        }
    }

    /// Whether site credentials (email and token) are configured.
    pub fn has_site(&self) -> bool {
        self.creds.site.is_some()
    }

    fn url(&self, call: &Call) -> Url {
        let mut url = match call.api {
            Api::Site => self.creds.site_base.clone(),
            Api::Admin => self.creds.admin_base.clone(),
        };
        if let Ok(mut segs) = url.path_segments_mut() {
            segs.pop_if_empty();
            segs.extend(call.segments.iter());
        }
        url
    }

    /// Remembers directory ids seen in user listings.
    pub(crate) fn learn_directories<'a>(&self, ids: impl Iterator<Item = &'a str>) {
        let mut dirs = self
            .user_directories
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for id in ids {
            if !dirs.contains(id) {
                dirs.insert(id.to_string());
            }
        }
    }

    /// The org's only directory, when user listings showed exactly one.
    pub(crate) fn single_directory(&self) -> Option<String> {
        let dirs = self
            .user_directories
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match dirs.len() {
            1 => dirs.iter().next().cloned(),
            _ => None,
        }
    }

    /// Replaces every configured secret in `text`, in every encoding, by `***`
    /// ([`crate::redact`]).
    pub(crate) fn redact(&self, text: &str) -> String {
        let site = self
            .creds
            .site
            .as_ref()
            .map(|s| (s.token.expose(), Some(s.email.as_str())));
        let admin = self.creds.admin.as_ref().map(|a| (a.key.expose(), None));
        crate::redact::Redactor::new(site.into_iter().chain(admin)).redact(text)
    }

    fn answered(&self, api: Api) -> &AtomicBool {
        &self.answered[usize::from(api == Api::Admin)]
    }

    /// The error of a call that could not connect to `api`'s host after `attempts` attempts:
    /// which host, why, and what to check.
    fn unreachable(&self, api: Api, err: &ApiError, attempts: u32, elapsed: Duration) -> ApiError {
        let base = match api {
            Api::Site => &self.creds.site_base,
            Api::Admin => &self.creds.admin_base,
        };
        let host = match (base.host_str(), base.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => base.to_string(),
        };
        let reason = match err.root() {
            ApiError::Transport {
                source: Some(e), ..
            } => {
                let mut cause: &(dyn std::error::Error + 'static) = e;
                while let Some(next) = cause.source() {
                    cause = next;
                }
                if e.is_timeout() {
                    format!(
                        "no connection within {} (connect timeout)",
                        super::error::fmt_duration(self.config.connect_timeout)
                    )
                } else {
                    cause.to_string()
                }
            }
            other => other.to_string(),
        };
        let hint = if self.creds.via_api_base {
            format!(
                "check SEATKEEPER_API_BASE ({}): is the sandbox or proxy it names running, on \
                 that port?",
                base.as_str().trim_end_matches('/')
            )
        } else {
            let policy = match api {
                Api::Site => " and the policy's `site:`",
                Api::Admin => "",
            };
            format!(
                "check the network from this machine to {host} (DNS, proxy settings such as \
                 HTTPS_PROXY, firewall){policy}; SEATKEEPER_API_BASE is not set, so requests go \
                 to Atlassian Cloud"
            )
        };
        ApiError::Unreachable {
            host,
            reason,
            attempts,
            elapsed,
            hint,
        }
    }

    /// Sends `call`, retrying transient failures, and returns the body of a 2xx response.
    pub(crate) async fn call(&self, call: &Call) -> Result<Reply, ApiError> {
        let started = Instant::now();
        let retry = &self.config.retry;
        let mut retries = 0u32;
        loop {
            let result = self.attempt(call).await;
            let err = match result {
                Ok(body) => return Ok(Reply { body }),
                Err(err) => err,
            };
            let give_up = |err: ApiError, retries: u32| {
                if matches!(
                    err,
                    ApiError::Transport {
                        kind: TransportKind::Connect,
                        ..
                    }
                ) {
                    self.unreachable(call.api, &err, retries + 1, started.elapsed())
                } else if retries == 0 {
                    err
                } else {
                    ApiError::GaveUp {
                        retries,
                        elapsed: started.elapsed(),
                        last: Box::new(err),
                    }
                }
            };
            // A host that never answered and refuses or drops connections is most likely the
            // wrong one, or not running: retried only within `unreachable_after`.
            if matches!(
                err,
                ApiError::Transport {
                    kind: TransportKind::Connect,
                    ..
                }
            ) && !self.answered(call.api).load(Ordering::Relaxed)
            {
                let wait = retry.backoff(retries, &mut rand::thread_rng());
                let next_ends = started.elapsed() + wait + self.config.connect_timeout;
                if retries >= retry.max_retries || next_ends > self.config.unreachable_after {
                    return Err(give_up(err, retries));
                }
                if retry.delays {
                    tokio::time::sleep(wait).await;
                }
                retries += 1;
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            // A read answered 500 is asked again a few times: nothing changes by asking twice.
            // A write answered 500 is not: whether it landed is for apply to find out.
            let read_500 = is_read(call)
                && matches!(err, ApiError::Status { status: 500, .. })
                && retries < READ_500_RETRIES;
            if !(err.is_transient() || read_500) || retries >= retry.max_retries {
                return Err(give_up(err, retries));
            }
            // A write that may have landed is not sent again blindly: the caller looks first.
            if !is_read(call) && err.is_ambiguous() {
                return Err(give_up(err, retries));
            }
            let wait = {
                let mut rng = rand::thread_rng();
                match err.retry_after() {
                    Some(ra) if ra > retry.max_retry_after => return Err(give_up(err, retries)),
                    Some(ra) => retry.after_retry_after(ra, &mut rng),
                    None => retry.backoff(retries, &mut rng),
                }
            };
            if matches!(err, ApiError::RateLimited { .. }) {
                self.pacer.observe(
                    call.endpoint,
                    Instant::now(),
                    Some(wait),
                    &RateLimitInfo::default(),
                );
            } else if retry.delays {
                tokio::time::sleep(wait).await;
            }
            retries += 1;
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits the backoff before retry number `retry` (0-based) of a call that failed without
    /// telling how long to wait, and counts the retry.
    pub(crate) async fn back_off(&self, retry: u32) {
        let wait = self.config.retry.backoff(retry, &mut rand::thread_rng());
        if self.config.retry.delays {
            tokio::time::sleep(wait).await;
        }
        self.counters.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// One attempt: wait for the endpoint's slot and a permit, send, read the whole body.
    async fn attempt(&self, call: &Call) -> Result<bytes::Bytes, ApiError> {
        use base64::Engine as _;
        use reqwest::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
        let auth = match call.api {
            Api::Site => {
                let site = self
                    .creds
                    .site
                    .as_ref()
                    .ok_or(ApiError::MissingCredential {
                        operation: call.endpoint,
                        needs: "ATLASSIAN_EMAIL and ATLASSIAN_API_TOKEN",
                    })?;
                let pair = format!("{}:{}", site.email, site.token.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                format!("Basic {encoded}")
            }
            Api::Admin => {
                let admin = self
                    .creds
                    .admin
                    .as_ref()
                    .ok_or(ApiError::MissingCredential {
                        operation: call.endpoint,
                        needs: "ATLASSIAN_ADMIN_API_KEY and `org:` in the policy",
                    })?;
                format!("Bearer {}", admin.key.expose())
            }
        };
        let mut headers = reqwest::header::HeaderMap::new();
        let mut auth = HeaderValue::from_str(&auth).map_err(|_| ApiError::Transport {
            endpoint: call.endpoint.to_string(),
            kind: TransportKind::Other,
            message: "the credentials cannot be sent in a header".into(),
            source: None,
        })?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let mut url = self.url(call);
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        let body = match &call.body {
            Some(body) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                serde_json::to_vec(body).unwrap_or_default()
            }
            None => Vec::new(),
        };

        let permit = self.paced_permit(call.endpoint, call.priority).await?;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let answered = async {
            if let Some(transport) = &self.transport {
                let mut target = url.path().to_string();
                if let Some(q) = url.query() {
                    target = format!("{target}?{q}");
                }
                let sent = transport.send(call.method.clone(), target, headers, body);
                let (status, headers, body) =
                    tokio::time::timeout(self.config.request_timeout, sent)
                        .await
                        .map_err(|_| ApiError::Transport {
                            endpoint: call.endpoint.to_string(),
                            kind: TransportKind::Timeout,
                            message: "no answer in time".into(),
                            source: None,
                        })?
                        .map_err(|message| ApiError::Transport {
                            endpoint: call.endpoint.to_string(),
                            kind: TransportKind::Reset,
                            message,
                            source: None,
                        })?;
                self.answered(call.api).store(true, Ordering::Relaxed);
                let status = reqwest::StatusCode::from_u16(status)
                    .unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
                if body.len() as u64 > body_limit(call.endpoint) {
                    return Err(ApiError::Decode {
                        endpoint: call.endpoint.to_string(),
                        message: format!(
                            "the answer is {} bytes, more than any answer of this endpoint needs",
                            body.len()
                        ),
                    });
                }
                return Ok::<_, ApiError>((status, headers, body));
            }
            let mut builder = self.http.request(call.method.clone(), url).headers(headers);
            if !body.is_empty() {
                builder = builder.body(body);
            }
            let response = builder
                .send()
                .await
                .map_err(|e| ApiError::transport(call.endpoint, e.without_url()))?;
            self.answered(call.api).store(true, Ordering::Relaxed);
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_capped(call.endpoint, response).await?;
            Ok::<_, ApiError>((status, headers, body))
        }
        .await;
        drop(permit);
        let (status, headers, body) = match answered {
            Ok(a) => a,
            Err(e) => {
                self.pacer.finished(call.endpoint);
                return Err(e);
            }
        };

        let mut info = RateLimitInfo::from_headers(&headers, chrono::Utc::now());
        if call.api == Api::Site {
            // Jira's per-second burst limits are paced on `Retry-After` and
            // `X-RateLimit-NearLimit`; its reset (when the bucket is full again) is no budget
            // period.
            info.remaining = None;
            info.reset_in = None;
        }
        if status.as_u16() == 429 {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            self.pacer
                .observe_limited_budget(call.endpoint, Instant::now(), &info);
        } else {
            self.pacer
                .observe(call.endpoint, Instant::now(), None, &info);
        }
        self.pacer.finished(call.endpoint);
        if status.is_success() {
            return Ok(body);
        }
        // A 429 without `Retry-After` (the admin API documents none) waits until
        // `X-RateLimit-Reset`; without a usable reset (absent, past or unparsable) it backs off.
        let wait = match status.as_u16() {
            429 => info.retry_after.or(info.reset_in.filter(|d| !d.is_zero())),
            _ => info.retry_after,
        };
        Err(self.error_from_response(call, status.as_u16(), wait, &body))
    }

    /// A concurrency permit, taken when the endpoint's pacing lets the request start. The slot
    /// is reserved only once a permit is held, so requests queued behind the semaphore follow
    /// what the responses before them taught the pacer; no permit is held while sleeping, so a
    /// slowed endpoint does not hold up the others.
    async fn paced_permit(
        &self,
        endpoint: &'static str,
        priority: Priority,
    ) -> Result<Permit<'_>, ApiError> {
        let acquire = || self.permits.acquire(priority);
        loop {
            let permit = acquire().await;
            if !self.config.retry.delays {
                return Ok(permit);
            }
            let now = Instant::now();
            if let Some(until) = self.pacer.blocked_until(endpoint, now) {
                drop(permit);
                tokio::time::sleep_until(until.into()).await;
                continue;
            }
            let start = match self.pacer.try_reserve(endpoint, now) {
                Reservation::At(start) => start,
                Reservation::AskAgainAt(at) => {
                    drop(permit);
                    tokio::time::sleep_until(at.into()).await;
                    continue;
                }
            };
            if start <= now {
                return Ok(permit);
            }
            drop(permit);
            tokio::time::sleep_until(start.into()).await;
            let permit = acquire().await;
            if self.pacer.blocked_until(endpoint, Instant::now()).is_none() {
                return Ok(permit);
            }
        }
    }

    /// Maps an error response to an [`ApiError`].
    fn error_from_response(
        &self,
        call: &Call,
        status: u16,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> ApiError {
        let endpoint = call.endpoint.to_string();
        let (code, message) = error_body(body);
        let message = self.redact(&message);
        match status {
            401 => ApiError::Unauthorized {
                api: call.api,
                endpoint,
            },
            403 => ApiError::Forbidden {
                api: call.api,
                endpoint,
                message,
            },
            404 => ApiError::NotFound { endpoint, message },
            429 => ApiError::RateLimited {
                endpoint,
                retry_after,
            },
            _ => ApiError::Status {
                endpoint,
                status,
                code,
                message,
                retry_after,
            },
        }
    }

    /// Sends `call` and decodes the JSON body.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T, ApiError> {
        let reply = self.call(call).await?;
        decode(call.endpoint, &reply.body)
    }
}

/// Decodes a JSON body, naming the endpoint on failure.
pub(crate) fn decode<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::Decode {
        endpoint: endpoint.to_string(),
        message: e.to_string(),
    })
}

/// The error code and message of an Atlassian error body: Jira's
/// `{"errorMessages": [..], "errors": {..}}`, the admin API's
/// `{"errors": [{"code", "title", "detail"}]}`, or `{"message"}` / `{"code", "message"}`.
pub(crate) fn error_body(body: &[u8]) -> (Option<String>, String) {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase", default)]
    struct Body {
        error_messages: Vec<String>,
        errors: serde_json::Value,
        message: Option<String>,
        code: Option<serde_json::Value>,
        title: Option<String>,
        detail: Option<String>,
    }
    let text = String::from_utf8_lossy(body);
    let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
        let snippet: String = text.trim().chars().take(200).collect();
        return (
            None,
            if snippet.is_empty() {
                "(no body)".into()
            } else {
                snippet
            },
        );
    };
    let mut parts: Vec<String> = parsed.error_messages;
    let mut code = parsed.code.map(|c| match c {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    });
    match &parsed.errors {
        serde_json::Value::Object(fields) => {
            for (k, v) in fields {
                parts.push(format!(
                    "{k}: {}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_string)
                ));
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                let field = |k: &str| item.get(k).and_then(|v| v.as_str()).map(str::to_string);
                if code.is_none() {
                    code = field("code");
                }
                let words: Vec<String> = [field("title"), field("detail")]
                    .into_iter()
                    .flatten()
                    .collect();
                if !words.is_empty() {
                    parts.push(words.join(": "));
                }
            }
        }
        _ => {}
    }
    parts.extend(parsed.message);
    parts.extend([parsed.title, parsed.detail].into_iter().flatten());
    if parts.is_empty() {
        let snippet: String = text.trim().chars().take(200).collect();
        parts.push(if snippet.is_empty() {
            "(no body)".into()
        } else {
            snippet
        });
    }
    (code, parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_error_body_shape() {
        let (code, msg) = error_body(br#"{"errorMessages":["Group not found"],"errors":{}}"#);
        assert_eq!((code, msg.as_str()), (None, "Group not found"));
        let (code, msg) = error_body(
            br#"{"errors":[{"id":"1","status":"409","code":"ADMIN-UAM-409-3","title":"Product License Limit Exceeded","detail":"jira-software is full"}]}"#,
        );
        assert_eq!(code.as_deref(), Some("ADMIN-UAM-409-3"));
        assert_eq!(msg, "Product License Limit Exceeded: jira-software is full");
        let (_, msg) = error_body(br#"{"errorMessages":[],"errors":{"accountId":"is required"}}"#);
        assert_eq!(msg, "accountId: is required");
        let (code, msg) = error_body(br#"{"code":401,"message":"Unauthorized"}"#);
        assert_eq!(
            (code.as_deref(), msg.as_str()),
            (Some("401"), "Unauthorized")
        );
        assert_eq!(error_body(b"").1, "(no body)");
        assert_eq!(
            error_body(b"<html>Bad gateway</html>").1,
            "<html>Bad gateway</html>"
        );
    }
}
