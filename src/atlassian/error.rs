//! [`ApiError`]: every way an Atlassian API call fails, typed so callers can branch, and
//! classified as transient (worth retrying) or fatal. Messages never carry a secret: bodies are
//! redacted before they are kept, and credentials are not part of any variant.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

/// Which Atlassian API a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// The site (Jira) REST API, Basic auth with email and API token.
    Site,
    /// The organization admin API, Bearer admin API key.
    Admin,
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Api::Site => "site API",
            Api::Admin => "admin API",
        })
    }
}

/// How a request failed below HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The request or the body read timed out.
    Timeout,
    /// No connection could be made.
    Connect,
    /// The connection was reset or closed mid-request.
    Reset,
    /// Anything else (TLS, malformed HTTP, ...). Not retried.
    Other,
}

/// A failed Atlassian API call.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request did not get an HTTP response.
    #[error("{endpoint}: {message}")]
    Transport {
        endpoint: String,
        kind: TransportKind,
        message: String,
        #[source]
        source: Option<reqwest::Error>,
    },
    /// An HTTP error status that has no more specific variant.
    #[error("{endpoint}: HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Status {
        endpoint: String,
        status: u16,
        /// The Atlassian error code (`ADMIN-UAM-404-3`), when the body has one.
        code: Option<String>,
        message: String,
        /// `Retry-After`, when the response carried one.
        retry_after: Option<Duration>,
    },
    /// HTTP 429: the endpoint's rate limit was reached.
    #[error("{endpoint}: rate limited (429){}", retry_after.map(|d| format!(", asked to wait {}", fmt_duration(d))).unwrap_or_default())]
    RateLimited {
        endpoint: String,
        retry_after: Option<Duration>,
    },
    /// The response body was not what the API documents.
    #[error("{endpoint}: unexpected response: {message}")]
    Decode { endpoint: String, message: String },
    /// HTTP 401: the credential was rejected.
    #[error("{}", unauthorized_message(*api))]
    Unauthorized { api: Api, endpoint: String },
    /// HTTP 403: the credential lacks a permission.
    #[error("{endpoint}: permission denied (403): {message}{}", forbidden_hint(*api))]
    Forbidden {
        api: Api,
        endpoint: String,
        message: String,
    },
    /// HTTP 404: the group, user or org does not exist (or is hidden from this credential).
    #[error("{endpoint}: not found (404): {message}")]
    NotFound { endpoint: String, message: String },
    /// The group is synced from an identity provider; its memberships are read-only.
    #[error("group {group_id} is synced from an identity provider and cannot be changed here: change it in the identity provider ({message})")]
    SyncedGroup { group_id: String, message: String },
    /// Adding would exceed the product's license (ADMIN-UAM-409-3).
    #[error("group {group_id}: the product's license user limit is reached (ADMIN-UAM-409-3): {message}")]
    LicenseLimit { group_id: String, message: String },
    /// HTTP 409 on adding a member that is not "already a member": a code the spec does not
    /// give that meaning (only `ADMIN-UAM-409-2`, Resource Conflicts, can be), or a conflict
    /// while a membership check shows the account is not in the group. Never retried.
    #[error("group {group_id}: adding a member answered 409{}: {message}", code.as_deref().map(|c| format!(" {c}")).unwrap_or_default())]
    Conflict {
        group_id: String,
        code: Option<String>,
        /// The server's message and why it is not "already a member", naming the account.
        message: String,
    },
    /// The request was refused before it reached the network (an empty id, for example).
    #[error("invalid request: {0}")]
    InvalidInput(String),
    /// The operation needs a credential that is not configured.
    #[error("{operation} needs {needs}")]
    MissingCredential {
        operation: &'static str,
        needs: &'static str,
    },
    /// No connection could be made to the API's host (refused, unreachable, a name that does
    /// not resolve), also after the retries that fit in
    /// [`ClientConfig::unreachable_after`](crate::atlassian::ClientConfig::unreachable_after).
    #[error("could not connect to {host}: {reason} ({attempts} {} in {}); {hint}", if *attempts == 1 { "attempt" } else { "attempts" }, fmt_duration(*elapsed))]
    Unreachable {
        /// `host:port` as the base URL names it.
        host: String,
        /// Why, in the words of the innermost error (`Connection refused`, `timed out`).
        reason: String,
        /// Connection attempts made.
        attempts: u32,
        /// Time spent, waits included.
        elapsed: Duration,
        /// What to check: `SEATKEEPER_API_BASE`, or the network to Atlassian Cloud.
        hint: String,
    },
    /// A transient failure kept happening.
    #[error("{last} (failed after {retries} {} in {})", if *retries == 1 { "retry" } else { "retries" }, fmt_duration(*elapsed))]
    GaveUp {
        retries: u32,
        elapsed: Duration,
        #[source]
        last: Box<ApiError>,
    },
}

/// Where a new site API token is created.
pub const SITE_TOKEN_URL: &str = "https://id.atlassian.com/manage-profile/security/api-tokens";
/// Where a new org admin API key is created.
pub const ADMIN_KEY_URL: &str = "https://admin.atlassian.com (Settings > API keys)";

fn unauthorized_message(api: Api) -> String {
    match api {
        Api::Site => format!(
            "the API token was rejected (401): it may have expired or belong to another account than ATLASSIAN_EMAIL; create a new one at {SITE_TOKEN_URL} and set ATLASSIAN_API_TOKEN"
        ),
        Api::Admin => format!(
            "the org admin API key was rejected (401): it may have expired (keys last at most a year) or belong to another org; create a new one at {ADMIN_KEY_URL} and set ATLASSIAN_ADMIN_API_KEY"
        ),
    }
}

fn forbidden_hint(api: Api) -> &'static str {
    match api {
        Api::Site => " (the account needs site admin, or 'Browse users and groups' for reads)",
        Api::Admin => {
            " (the API key needs organization admin and, if scoped, the directory and group scopes)"
        }
    }
}

/// `1.2s`, `350ms`, `2m05s`.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

impl ApiError {
    /// Whether retrying the same request may succeed: 429, 502, 503, 504, resets and timeouts.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Transport { kind, .. } => {
                matches!(
                    kind,
                    TransportKind::Timeout | TransportKind::Connect | TransportKind::Reset
                )
            }
            ApiError::RateLimited { .. } => true,
            ApiError::Status { status, .. } => matches!(status, 502..=504),
            _ => false,
        }
    }

    /// Whether the request may have reached the server and done its work although no answer
    /// said so: a reset or a timeout after it was sent, or a gateway's 502 or 504 (the origin
    /// behind it may have finished). A write that failed this way is looked up before it is
    /// sent again. A refused connection, a 429 and a 503 are answered before any work.
    pub fn is_ambiguous(&self) -> bool {
        match self.root() {
            ApiError::Transport { kind, .. } => {
                matches!(kind, TransportKind::Timeout | TransportKind::Reset)
            }
            ApiError::Status { status, .. } => matches!(status, 502 | 504),
            _ => false,
        }
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } | ApiError::Status { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// The error behind any [`ApiError::GaveUp`] wrapper: what callers branch on.
    pub fn root(&self) -> &ApiError {
        match self {
            ApiError::GaveUp { last, .. } => last.root(),
            other => other,
        }
    }

    /// Whether the credential was rejected (401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(self.root(), ApiError::Unauthorized { .. })
    }

    /// HTTP status, when the failure was an HTTP response.
    pub fn status(&self) -> Option<u16> {
        match self.root() {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::RateLimited { .. } => Some(429),
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::NotFound { .. } => Some(404),
            ApiError::Conflict { .. } => Some(409),
            _ => None,
        }
    }

    /// Builds a transport error from a reqwest error, classifying it by walking `source()`.
    pub(crate) fn transport(endpoint: &str, err: reqwest::Error) -> Self {
        let kind = classify_transport(&err);
        // reqwest's message names the URL; our bases never carry credentials (see
        // `credentials::parse_base`), so it is safe to show.
        let mut message = err.to_string();
        let mut cause = err.source();
        while let Some(c) = cause {
            message.push_str(": ");
            message.push_str(&c.to_string());
            cause = c.source();
        }
        ApiError::Transport {
            endpoint: endpoint.to_string(),
            kind,
            message,
            source: Some(err),
        }
    }
}

/// Classifies a reqwest failure: timeouts, refused connections and resets are transient. A
/// connection that could not be made is [`TransportKind::Connect`] whatever the cause, a
/// connect timeout included: nothing was sent.
pub(crate) fn classify_transport(err: &reqwest::Error) -> TransportKind {
    if err.is_connect() {
        return TransportKind::Connect;
    }
    if err.is_timeout() {
        return TransportKind::Timeout;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut => return TransportKind::Timeout,
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return TransportKind::Reset
                }
                ConnectionRefused => return TransportKind::Connect,
                _ => {}
            }
        }
        let text = c.to_string();
        // hyper's `IncompleteMessage` and friends carry no io::Error.
        if text.contains("connection closed before message completed")
            || text.contains("connection reset")
            || text.contains("end of file before message length reached")
        {
            return TransportKind::Reset;
        }
        cause = c.source();
    }
    if err.is_connect() {
        TransportKind::Connect
    } else if err.is_body() || err.is_decode() {
        // The body stream broke off after the headers arrived.
        TransportKind::Reset
    } else {
        TransportKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> ApiError {
        ApiError::Status {
            endpoint: "GET /x".into(),
            status,
            code: None,
            message: "m".into(),
            retry_after: None,
        }
    }

    #[test]
    fn only_the_documented_failures_are_transient() {
        for s in [502, 503, 504] {
            assert!(status(s).is_transient(), "{s}");
        }
        for s in [400, 409, 500, 501] {
            assert!(!status(s).is_transient(), "{s}");
        }
        let rl = ApiError::RateLimited {
            endpoint: "e".into(),
            retry_after: Some(Duration::from_secs(2)),
        };
        assert!(rl.is_transient());
        assert_eq!(rl.retry_after(), Some(Duration::from_secs(2)));
        assert!(!ApiError::Unauthorized {
            api: Api::Site,
            endpoint: "e".into()
        }
        .is_transient());
        for (kind, transient) in [
            (TransportKind::Timeout, true),
            (TransportKind::Connect, true),
            (TransportKind::Reset, true),
            (TransportKind::Other, false),
        ] {
            let e = ApiError::Transport {
                endpoint: "e".into(),
                kind,
                message: "m".into(),
                source: None,
            };
            assert_eq!(e.is_transient(), transient, "{kind:?}");
        }
    }

    #[test]
    fn unauthorized_says_what_to_do() {
        let e = ApiError::Unauthorized {
            api: Api::Site,
            endpoint: "GET /rest/api/3/myself".into(),
        };
        let text = e.to_string();
        assert!(
            text.starts_with("the API token was rejected (401): it may have expired"),
            "{text}"
        );
        assert!(text.contains(SITE_TOKEN_URL));
        let admin = ApiError::Unauthorized {
            api: Api::Admin,
            endpoint: "e".into(),
        }
        .to_string();
        assert!(
            admin.contains("admin API key was rejected (401)"),
            "{admin}"
        );
    }

    #[test]
    fn gave_up_counts_retries_and_time() {
        let e = ApiError::GaveUp {
            retries: 3,
            elapsed: Duration::from_millis(1234),
            last: Box::new(status(503)),
        };
        assert_eq!(
            e.to_string(),
            "GET /x: HTTP 503: m (failed after 3 retries in 1.2s)"
        );
        assert_eq!(e.status(), Some(503));
        assert!(!e.is_unauthorized());
        assert_eq!(fmt_duration(Duration::from_secs(125)), "2m05s");
        assert_eq!(fmt_duration(Duration::from_millis(40)), "40ms");
    }
}
