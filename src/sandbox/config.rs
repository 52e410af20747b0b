//! Sandbox configuration: every knob `seatkeeper sandbox` exposes (credentials, port, rate
//! limits, latency, faults, state file, clock), and the parsers for the `--rate-limit` and
//! `--faults` spec strings.

use chrono::{DateTime, Utc};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// The documented default sandbox credentials. They are not secrets: anyone on the machine can
/// read them from `docs/sandbox.md` or the banner.
pub const DEFAULT_EMAIL: &str = "admin@acme.test";
/// Default Jira API token (Basic auth password).
pub const DEFAULT_API_TOKEN: &str = "sandbox-api-token";
/// Default organization admin API key (Bearer token).
pub const DEFAULT_ADMIN_API_KEY: &str = "sandbox-admin-api-key";

/// Credentials the sandbox accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Jira Basic auth user name.
    pub email: String,
    /// Jira Basic auth password (API token).
    pub api_token: String,
    /// Admin API bearer key.
    pub admin_api_key: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            email: DEFAULT_EMAIL.to_string(),
            api_token: DEFAULT_API_TOKEN.to_string(),
            admin_api_key: DEFAULT_ADMIN_API_KEY.to_string(),
        }
    }
}

/// Users in the org generated when neither `--org` nor `--generate` is given.
pub const DEFAULT_GENERATE_USERS: usize = 200;
/// Seed of the default generated org.
pub const DEFAULT_GENERATE_SEED: u64 = 1;

/// Where the initial org comes from.
#[derive(Debug, Clone)]
pub enum OrgSource {
    /// `--org FILE`: a snapshot (JSON or YAML), optionally with a `sandbox` section.
    File(PathBuf),
    /// `--generate N --seed S`.
    Generate { users: usize, seed: u64 },
    /// An in-memory snapshot (tests, the demo).
    Snapshot(Box<crate::live::LiveState>),
}

impl Default for OrgSource {
    fn default() -> Self {
        OrgSource::Generate {
            users: DEFAULT_GENERATE_USERS,
            seed: DEFAULT_GENERATE_SEED,
        }
    }
}

/// Every knob of `seatkeeper sandbox`. The org itself is built with
/// [`load_org`](super::load_org)`(&config.org, &config)` and handed to [`serve`](super::serve).
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// `--org FILE` or `--generate N --seed S` (default: a generated org of 200 users, seed 1).
    pub org: OrgSource,
    /// Address to bind; `127.0.0.1` unless a caller insists.
    pub bind: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Accepted credentials.
    pub credentials: Credentials,
    /// Token-bucket rate limiting per Jira endpoint and method (`--rate-limit`); `None`
    /// disables it.
    pub rate_limit: Option<RateLimitConfig>,
    /// The admin API's per-minute budgets (on unless `--no-admin-limits`); `None` leaves the
    /// admin routes unlimited.
    pub admin_limits: Option<AdminLimits>,
    /// Fixed latency added to every API response (`--latency`).
    pub latency: Duration,
    /// Injected faults (`--faults`).
    pub faults: FaultConfig,
    /// When set, every write is saved to this file (atomically), and it is loaded at start.
    pub state_file: Option<PathBuf>,
    /// Pins the sandbox clock at this time (it then only moves through `POST /__sandbox/clock`).
    /// `None`: the clock follows the wall clock.
    pub now: Option<DateTime<Utc>>,
    /// The shape of a generated org (`--sites`, `--directories`, `--no-guard`,
    /// `--hidden-grants`); ignored for other org sources.
    pub shape: super::generate::OrgShape,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            org: OrgSource::default(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            credentials: Credentials::default(),
            rate_limit: None,
            admin_limits: None,
            latency: Duration::ZERO,
            faults: FaultConfig::default(),
            state_file: None,
            now: None,
            shape: super::generate::OrgShape::default(),
        }
    }
}

/// A spec string that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} `{spec}`: {reason}")]
pub struct SpecError {
    /// Which option.
    pub what: &'static str,
    /// The text given.
    pub spec: String,
    /// What is wrong, with the expected form.
    pub reason: String,
}

/// Token bucket parameters: `per_second` tokens are added each second up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    /// Sustained requests per second per endpoint+method.
    pub per_second: f64,
    /// Bucket size: how many requests may arrive at once.
    pub burst: u32,
}

impl RateLimitConfig {
    /// Parses `--rate-limit`: `R` or `R/s` (requests per second, burst = R rounded up), `R/m`
    /// (per minute), optionally followed by `,burst=B`. Examples: `10`, `10/s,burst=20`, `600/m`.
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let err = |reason: &str| SpecError {
            what: "rate limit",
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let mut parts = spec.split(',');
        let rate = parts.next().unwrap_or("").trim();
        let (number, per) = match rate.split_once('/') {
            Some((n, "s")) => (n, 1.0),
            Some((n, "m")) => (n, 60.0),
            Some(_) => return Err(err("the unit must be /s or /m, like `10/s`")),
            None => (rate, 1.0),
        };
        let n: f64 = number
            .trim()
            .parse()
            .map_err(|_| err("expected a number of requests, like `10/s`"))?;
        if !n.is_finite() || n <= 0.0 {
            return Err(err("the rate must be a positive number"));
        }
        let per_second = n / per;
        let mut burst = (per_second.ceil() as u32).max(1);
        for part in parts {
            match part.trim().split_once('=') {
                Some(("burst", b)) => {
                    burst = b
                        .trim()
                        .parse()
                        .ok()
                        .filter(|b: &u32| *b > 0)
                        .ok_or_else(|| err("burst must be a positive whole number"))?
                }
                _ => {
                    return Err(err(
                        "only `burst=N` may follow the rate, like `10/s,burst=20`",
                    ))
                }
            }
        }
        Ok(Self { per_second, burst })
    }
}

/// The admin (Organizations) API's rate limits: fixed one-minute windows, as its narrative
/// documents them. Over a budget: 429 with `X-RateLimit-Limit/Remaining/Reset` and no
/// `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminLimits {
    /// Events, events stream and event actions: requests per minute per API path (documented:
    /// 50).
    pub events_per_path: u32,
    /// Events, events stream and event actions together: requests per minute per user (the API
    /// key; documented: 60).
    pub events_per_user: u32,
    /// Last-active dates: requests per minute per org (documented: 200).
    pub last_active_per_org: u32,
    /// Every other admin path (user and group search, memberships, role assignments, group
    /// details, directories, the org listing), per path: the spec names no number
    /// ([`AdminLimits::DEFAULT_OTHER_PER_PATH`] unless configured).
    pub other_per_path: u32,
    /// The period of every budget: one minute as documented; tests may shorten it.
    pub window: Duration,
}

impl AdminLimits {
    /// The budget of admin paths the spec gives no number for, per path and minute.
    pub const DEFAULT_OTHER_PER_PATH: u32 = 1000;

    /// The documented budgets, with the default for the undocumented paths.
    pub const DOCUMENTED: AdminLimits = AdminLimits {
        events_per_path: 50,
        events_per_user: 60,
        last_active_per_org: 200,
        other_per_path: Self::DEFAULT_OTHER_PER_PATH,
        window: Duration::from_secs(60),
    };

    /// The budgets an admin request draws from, as `(key, requests per minute)`: its path's,
    /// and for the events API also the user's. `route` is `METHOD /admin/...template`.
    pub fn budgets(&self, route: &str) -> Vec<(String, u32)> {
        let path = route.split_once(' ').map_or(route, |(_, p)| p);
        let events = [
            "/events",
            "/events-stream",
            "/event-actions",
            "/events/{event_id}",
        ]
        .iter()
        .any(|e| path.starts_with("/admin/v1/") && path.ends_with(e));
        if events {
            vec![
                (route.to_string(), self.events_per_path),
                ("events API per user".to_string(), self.events_per_user),
            ]
        } else if path.ends_with("/last-active-dates") {
            vec![(route.to_string(), self.last_active_per_org)]
        } else {
            vec![(route.to_string(), self.other_per_path)]
        }
    }
}

impl Default for AdminLimits {
    fn default() -> Self {
        Self::DOCUMENTED
    }
}

/// Injected faults. Every decision is drawn from an RNG seeded by `seed`, the request's method
/// and URI and how many times that method+URI was seen, so a run replays whatever the
/// interleaving of concurrent requests.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Fraction of API requests answered with a 5xx (half of them 503 with `Retry-After`).
    pub error_rate: f64,
    /// Fixed latency added to each API request.
    pub latency: Duration,
    /// Uniform random extra latency in `[0, jitter)`.
    pub jitter: Duration,
    /// Fraction of requests whose connection is reset without a response.
    pub reset_rate: f64,
    /// Fraction of responses whose body is streamed slowly.
    pub slow_body_rate: f64,
    /// Pause between the chunks of a slow body.
    pub slow_body_delay: Duration,
    /// The seed.
    pub seed: u64,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            reset_rate: 0.0,
            slow_body_rate: 0.0,
            slow_body_delay: Duration::from_millis(50),
            seed: 0,
        }
    }
}

impl FaultConfig {
    /// Whether any fault or latency is configured.
    pub fn is_active(&self) -> bool {
        self.error_rate > 0.0
            || self.reset_rate > 0.0
            || self.slow_body_rate > 0.0
            || !self.latency.is_zero()
            || !self.jitter.is_zero()
    }

    /// Parses `--faults`, a comma-separated list of `key=value`:
    /// `5xx=RATE`, `reset=RATE`, `slow-body=RATE` (rates in `[0, 1]`), `latency=DUR`,
    /// `jitter=DUR`, `slow-body-delay=DUR` (durations like `20ms` or `1s`) and `seed=N`.
    /// Example: `5xx=0.05,latency=20ms,jitter=10ms,reset=0.01,slow-body=0.02,seed=42`.
    pub fn parse(spec: &str) -> Result<Self, SpecError> {
        let mut config = Self::default();
        let err = |reason: String| SpecError {
            what: "fault spec",
            spec: spec.to_string(),
            reason,
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(err(format!("`{part}` is not `key=value`")));
            };
            let value = value.trim();
            let rate = || -> Result<f64, SpecError> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| err(format!("`{key}` must be a rate between 0 and 1")))
            };
            let duration = || -> Result<Duration, SpecError> {
                parse_duration(value)
                    .ok_or_else(|| err(format!("`{key}` must be a duration like `20ms` or `1s`")))
            };
            match key.trim() {
                "5xx" => config.error_rate = rate()?,
                "reset" => config.reset_rate = rate()?,
                "slow-body" => config.slow_body_rate = rate()?,
                "latency" => config.latency = duration()?,
                "jitter" => config.jitter = duration()?,
                "slow-body-delay" => config.slow_body_delay = duration()?,
                "seed" => {
                    config.seed = value
                        .parse()
                        .map_err(|_| err("`seed` must be a whole number".to_string()))?
                }
                other => {
                    return Err(err(format!(
                        "unknown key `{other}` (known: 5xx, latency, jitter, reset, slow-body, \
                         slow-body-delay, seed)"
                    )))
                }
            }
        }
        Ok(config)
    }
}

/// Parses `250ms`, `2s` or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (digits, scale_ms) = if let Some(d) = text.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = text.strip_suffix('s') {
        (d, 1000)
    } else {
        (text, 1)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > 9 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(Duration::from_millis(n * scale_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_specs() {
        let r = RateLimitConfig::parse("10/s,burst=20").expect("valid");
        assert_eq!((r.per_second, r.burst), (10.0, 20));
        let r = RateLimitConfig::parse("600/m").expect("valid");
        assert_eq!((r.per_second, r.burst), (10.0, 10));
        assert_eq!(RateLimitConfig::parse("5").expect("valid").burst, 5);
        for bad in ["", "x", "0", "-1/s", "10/h", "10,burst=0", "10,foo=1"] {
            assert!(RateLimitConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fault_specs() {
        let f = FaultConfig::parse(
            "5xx=0.05,latency=20ms,jitter=10ms,reset=0.01,slow-body=0.02,seed=42",
        )
        .expect("valid");
        assert_eq!(f.error_rate, 0.05);
        assert_eq!(f.latency, Duration::from_millis(20));
        assert_eq!(f.jitter, Duration::from_millis(10));
        assert_eq!(f.reset_rate, 0.01);
        assert_eq!(f.slow_body_rate, 0.02);
        assert_eq!(f.seed, 42);
        assert!(FaultConfig::parse("").expect("empty is fine") == FaultConfig::default());
        for bad in ["5xx=2", "latency=fast", "boom=1", "seed", "seed=-1"] {
            assert!(FaultConfig::parse(bad).is_err(), "{bad}");
        }
    }
}
