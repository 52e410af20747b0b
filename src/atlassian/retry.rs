//! Deliberate retries and pacing. [`RetryConfig`] says how often and how long to retry a
//! transient failure (capped exponential backoff with jitter, `Retry-After` honoured);
//! [`Pacer`] spaces requests per endpoint so that a 429 or an `X-RateLimit-NearLimit` on one
//! endpoint slows that endpoint only, and a storm of waiting requests does not fire all at once
//! when the wait is over.

use rand::Rng;
use reqwest::header::HeaderMap;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How transient failures are retried.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// Retries after the first attempt (so at most `max_retries + 1` requests per call).
    pub max_retries: u32,
    /// The first backoff delay; it doubles per retry.
    pub base_delay: Duration,
    /// The largest backoff delay.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one ends the call with the 429.
    pub max_retry_after: Duration,
    /// Test switch: when false no delay is ever slept (backoff, `Retry-After` or pacing).
    pub delays: bool,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 8,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
            delays: true,
        }
    }
}

impl RetryConfig {
    /// No delays at all: for tests against faults that do not depend on waiting.
    pub fn without_delays() -> Self {
        Self {
            delays: false,
            ..Self::default()
        }
    }

    /// The backoff before retry number `retry` (0-based): `base * 2^retry`, capped at
    /// `max_delay`, with "equal jitter" (half fixed, half random) so that clients that failed
    /// together do not retry together.
    pub fn backoff(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX));
        let capped = exp.min(self.max_delay);
        let half = capped / 2;
        let jitter_ms = rng.gen_range(0..=half.as_millis().max(1) as u64);
        half + Duration::from_millis(jitter_ms)
    }

    /// The wait before retrying after the server asked for `retry_after`: that long plus up to
    /// 10% (at most 1s) of jitter, so waiting requests do not all return in the same instant.
    pub fn after_retry_after(&self, retry_after: Duration, rng: &mut impl Rng) -> Duration {
        let spread = (retry_after / 10).min(Duration::from_secs(1));
        let jitter_ms = rng.gen_range(0..=spread.as_millis() as u64);
        retry_after + Duration::from_millis(jitter_ms)
    }
}

/// Rate-limit headers of one response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitInfo {
    /// `Retry-After` (seconds or an HTTP date).
    pub retry_after: Option<Duration>,
    /// `X-RateLimit-NearLimit: true`: less than 20% of the budget is left.
    pub near_limit: bool,
    /// `X-RateLimit-Limit`.
    pub limit: Option<u64>,
    /// `X-RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset`, as a wait from now.
    pub reset_in: Option<Duration>,
}

impl RateLimitInfo {
    /// Reads the rate-limit headers. `now` is the wall clock, for HTTP-date and ISO values.
    pub fn from_headers(headers: &HeaderMap, now: chrono::DateTime<chrono::Utc>) -> Self {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let until = |when: chrono::DateTime<chrono::Utc>| (when - now).to_std().ok();
        let parse_time = |v: &str| {
            chrono::DateTime::parse_from_rfc3339(v)
                .or_else(|_| chrono::DateTime::parse_from_rfc2822(v))
                .or_else(|_| chrono::DateTime::parse_from_str(v, "%Y-%m-%dT%H:%M%#z"))
                .ok()
                .map(|t| t.with_timezone(&chrono::Utc))
        };
        let retry_after = get("retry-after").and_then(|v| match v.parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs >= 0.0 => Some(Duration::from_secs_f64(secs)),
            Ok(_) => None,
            Err(_) => parse_time(v).map(|t| until(t).unwrap_or_default()),
        });
        Self {
            retry_after,
            near_limit: get("x-ratelimit-nearlimit")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
            limit: get("x-ratelimit-limit").and_then(|v| v.parse().ok()),
            remaining: get("x-ratelimit-remaining").and_then(|v| v.parse().ok()),
            reset_in: get("x-ratelimit-reset")
                .and_then(parse_time)
                .and_then(until),
        }
    }
}

/// Per-endpoint request spacing.
#[derive(Debug, Default)]
pub struct Pacer {
    lanes: Mutex<HashMap<String, Lane>>,
}

#[derive(Debug, Clone, Copy)]
struct Lane {
    /// The earliest start of the next request.
    next_slot: Instant,
    /// Spacing between request starts.
    interval: Duration,
    /// No request starts before this (set by a 429).
    blocked_until: Option<Instant>,
}

/// The smallest spacing after a 429 or a near-limit warning.
const MIN_INTERVAL: Duration = Duration::from_millis(5);
/// How much each near-limit warning without a known budget widens the spacing.
const NEAR_LIMIT_STEP: Duration = Duration::from_millis(5);
/// The largest spacing the pacer imposes on its own.
const MAX_INTERVAL: Duration = Duration::from_secs(2);

impl Pacer {
    /// Reserves a start time for a request on `endpoint` and returns it; the caller sleeps
    /// until then. Reservations are spaced by the endpoint's interval.
    pub fn reserve(&self, endpoint: &str, now: Instant) -> Instant {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let Some(lane) = lanes.get_mut(endpoint) else {
            return now;
        };
        let mut start = now.max(lane.next_slot);
        if let Some(b) = lane.blocked_until {
            if b > now {
                start = start.max(b);
            } else {
                lane.blocked_until = None;
            }
        }
        lane.next_slot = start + lane.interval;
        start
    }

    /// Learns from a response on `endpoint`: a 429 blocks the endpoint for `wait` and widens its
    /// spacing; a near-limit warning widens the spacing; a plain success narrows it again.
    pub fn observe(
        &self,
        endpoint: &str,
        now: Instant,
        limited: Option<Duration>,
        info: &RateLimitInfo,
    ) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let calm = limited.is_none() && !info.near_limit;
        if calm && !lanes.contains_key(endpoint) {
            return;
        }
        let lane = lanes.entry(endpoint.to_string()).or_insert(Lane {
            next_slot: now,
            interval: Duration::ZERO,
            blocked_until: None,
        });
        if let Some(wait) = limited {
            let until = now + wait;
            // Requests that were in flight together all come back 429: widen the spacing once
            // per trip, not once per request.
            let already_blocked = lane.blocked_until.is_some_and(|b| b > now);
            if !already_blocked {
                lane.interval = (lane.interval * 2).clamp(MIN_INTERVAL, MAX_INTERVAL);
            }
            lane.blocked_until = Some(lane.blocked_until.map_or(until, |b| b.max(until)));
        } else if info.near_limit {
            // Widen a little per warning (a 429 widens multiplicatively); calm answers narrow it
            // again, so the spacing settles where warnings stop. `X-RateLimit-Reset` is not
            // used to compute a spacing: Jira sends it to the minute and the sandbox to the
            // second, too coarse for per-second burst limits.
            let target = lane.interval + NEAR_LIMIT_STEP;
            lane.interval = target.clamp(MIN_INTERVAL, MAX_INTERVAL);
        } else {
            lane.interval = lane.interval * 9 / 10;
            if lane.interval < Duration::from_millis(1) {
                lane.interval = Duration::ZERO;
            }
            if lane.interval.is_zero() && lane.blocked_until.is_none_or(|b| b <= now) {
                lanes.remove(endpoint);
            }
        }
    }

    /// When a 429 blocks `endpoint` beyond `now`, until when.
    pub fn blocked_until(&self, endpoint: &str, now: Instant) -> Option<Instant> {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes
            .get(endpoint)
            .and_then(|l| l.blocked_until)
            .filter(|&b| b > now)
    }

    /// The current spacing of `endpoint` (zero when it is not slowed).
    pub fn interval(&self, endpoint: &str) -> Duration {
        let lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes.get(endpoint).map_or(Duration::ZERO, |l| l.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_doubles_is_capped_and_jittered() {
        let cfg = RetryConfig {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryConfig::default()
        };
        let mut rng = SmallRng::seed_from_u64(7);
        for (retry, full) in [
            (0u32, 100u64),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (30, 1000),
        ] {
            for _ in 0..50 {
                let d = cfg.backoff(retry, &mut rng).as_millis() as u64;
                assert!(
                    d >= full / 2 && d <= full,
                    "retry {retry}: {d}ms not in [{}, {full}]",
                    full / 2
                );
            }
        }
        // Jitter: not every draw is the same.
        let draws: std::collections::HashSet<_> =
            (0..20).map(|_| cfg.backoff(3, &mut rng)).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn retry_after_is_honoured_with_a_little_spread() {
        let cfg = RetryConfig::default();
        let mut rng = SmallRng::seed_from_u64(1);
        for _ in 0..50 {
            let d = cfg.after_retry_after(Duration::from_secs(2), &mut rng);
            assert!(
                d >= Duration::from_secs(2) && d <= Duration::from_millis(2200),
                "{d:?}"
            );
        }
    }

    #[test]
    fn parses_rate_limit_headers() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .unwrap()
            .to_utc();
        let mut h = HeaderMap::new();
        h.insert("Retry-After", HeaderValue::from_static("3"));
        h.insert("X-RateLimit-NearLimit", HeaderValue::from_static("true"));
        h.insert("X-RateLimit-Remaining", HeaderValue::from_static("4"));
        h.insert(
            "X-RateLimit-Reset",
            HeaderValue::from_static("2026-11-25T08:01Z"),
        );
        let info = RateLimitInfo::from_headers(&h, now);
        assert_eq!(info.retry_after, Some(Duration::from_secs(3)));
        assert!(info.near_limit);
        assert_eq!(info.remaining, Some(4));
        assert_eq!(info.reset_in, Some(Duration::from_secs(60)));

        let mut h = HeaderMap::new();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 25 Nov 2026 08:00:05 GMT"),
        );
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_static("2026-11-25T08:00:10Z"),
        );
        let info = RateLimitInfo::from_headers(&h, now);
        assert_eq!(info.retry_after, Some(Duration::from_secs(5)));
        assert_eq!(info.reset_in, Some(Duration::from_secs(10)));
        assert!(!info.near_limit);
        assert_eq!(
            RateLimitInfo::from_headers(&HeaderMap::new(), now),
            RateLimitInfo::default()
        );
    }

    #[test]
    fn a_429_slows_only_its_endpoint_and_spreads_the_restart() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        assert_eq!(pacer.reserve("GET a", t0), t0);
        pacer.observe(
            "GET a",
            t0,
            Some(Duration::from_secs(1)),
            &RateLimitInfo::default(),
        );
        // The limited endpoint waits, the other one does not.
        assert_eq!(pacer.reserve("GET b", t0), t0);
        let s1 = pacer.reserve("GET a", t0);
        let s2 = pacer.reserve("GET a", t0);
        let s3 = pacer.reserve("GET a", t0);
        assert_eq!(s1, t0 + Duration::from_secs(1));
        assert!(s2 > s1 && s3 > s2, "waiting requests restart one by one");
        assert_eq!(pacer.interval("GET b"), Duration::ZERO);
        // Successes narrow the spacing back to nothing.
        for _ in 0..100 {
            pacer.observe(
                "GET a",
                t0 + Duration::from_secs(5),
                None,
                &RateLimitInfo::default(),
            );
        }
        assert_eq!(pacer.interval("GET a"), Duration::ZERO);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(pacer.reserve("GET a", later), later);
    }

    #[test]
    fn near_limit_widens_only_its_endpoint_until_answers_are_calm() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let near = RateLimitInfo {
            near_limit: true,
            ..RateLimitInfo::default()
        };
        pacer.observe("POST w", t0, None, &near);
        assert_eq!(pacer.interval("POST w"), MIN_INTERVAL);
        pacer.observe("POST w", t0, None, &near);
        assert_eq!(pacer.interval("POST w"), MIN_INTERVAL + NEAR_LIMIT_STEP);
        assert_eq!(pacer.interval("GET r"), Duration::ZERO);
        let a = pacer.reserve("POST w", t0);
        let b = pacer.reserve("POST w", t0);
        assert_eq!(b - a, MIN_INTERVAL + NEAR_LIMIT_STEP);
        pacer.observe("POST w", t0, None, &RateLimitInfo::default());
        assert!(pacer.interval("POST w") < MIN_INTERVAL + NEAR_LIMIT_STEP);
    }
}
