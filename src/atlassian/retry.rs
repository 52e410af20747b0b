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
        retry_after.saturating_add(Duration::from_millis(jitter_ms))
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
            // 2^64 seconds or more does not fit a Duration: clamped, it is simply too long to
            // wait (the call ends with the 429), never a panic.
            Ok(secs) if secs.is_finite() && secs >= 0.0 => {
                Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
            }
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

/// Per-endpoint request spacing and budgets.
///
/// - A 429 blocks its endpoint until the wait it carries (`Retry-After`, else
///   `X-RateLimit-Reset`) and widens the spacing; `X-RateLimit-NearLimit` widens it a little;
///   calm answers narrow it again.
/// - `X-RateLimit-Remaining` and `X-RateLimit-Reset` (the admin API's documented headers) give
///   the endpoint a budget for the current period: each request started takes one, and when
///   none is left, requests wait until the reset instead of running into 429s. The budget is
///   counted locally between answers (requests in flight are already taken), so concurrent
///   requests do not overshoot it; a reset in the past, or none, means no budget is known.
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
    /// What is left of the current period's budget, when the server said.
    budget: Option<Budget>,
    /// The length of a period, learned when a period ends and the next one's reset is seen.
    period: Option<Duration>,
    /// The latest period reset seen.
    last_reset: Option<Instant>,
    /// The size of the budget (`X-RateLimit-Limit`), when known.
    limit: Option<u64>,
    /// Requests started and not yet answered.
    inflight: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Budget {
    /// When the period ends; `None` for a period that began without an answer yet (its length
    /// is not known until one says).
    reset_at: Option<Instant>,
    /// Requests that may still start in the period.
    remaining: u64,
}

impl Lane {
    fn new(now: Instant) -> Self {
        Lane {
            next_slot: now,
            interval: Duration::ZERO,
            blocked_until: None,
            budget: None,
            period: None,
            last_reset: None,
            limit: None,
            inflight: 0,
        }
    }
}

impl Lane {
    /// Learns the current period's budget from `X-RateLimit-Remaining` and `-Reset` (and the
    /// budget's size from `-Limit`); without both there is nothing to learn.
    fn learn_budget(&mut self, now: Instant, info: &RateLimitInfo) {
        let lane = self;
        if info.limit.is_some() {
            lane.limit = info.limit;
        }
        let (Some(remaining), Some(reset_in)) = (info.remaining, info.reset_in) else {
            return;
        };
        let reset_at = now + reset_in;
        match lane.last_reset {
            Some(last) if reset_at > last + SAME_PERIOD => {
                lane.period = Some(reset_at - last);
                lane.last_reset = Some(reset_at);
            }
            Some(_) => {}
            None => lane.last_reset = Some(reset_at),
        }
        match lane.budget {
            Some(b) if b.reset_at.is_none_or(|r| reset_at <= r + SAME_PERIOD) => {
                // The same period: the server's count cannot be below ours, which already
                // took the requests still in flight.
                lane.budget = Some(Budget {
                    remaining: b.remaining.min(remaining),
                    reset_at: Some(b.reset_at.map_or(reset_at, |r| r.min(reset_at))),
                });
            }
            _ => {
                // A period we had no count for: the requests still in flight besides this one
                // are not in the server's count yet.
                let others = lane.inflight.saturating_sub(1);
                lane.budget = Some(Budget {
                    reset_at: Some(reset_at),
                    remaining: remaining.saturating_sub(others),
                });
            }
        }
    }
}

/// What [`Pacer::try_reserve`] gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// A start time is reserved: start then.
    At(Instant),
    /// Nothing is reserved: ask again then.
    AskAgainAt(Instant),
}

/// How often a request waiting for a period's first answer asks again.
const POLL: Duration = Duration::from_millis(5);

/// How long after a period's reset a request that waited for it starts.
const RESET_MARGIN: Duration = Duration::from_millis(25);

/// The smallest spacing after a 429 or a near-limit warning.
const MIN_INTERVAL: Duration = Duration::from_millis(5);
/// How much each near-limit warning without a known budget widens the spacing.
const NEAR_LIMIT_STEP: Duration = Duration::from_millis(5);
/// The largest spacing the pacer imposes on its own.
const MAX_INTERVAL: Duration = Duration::from_secs(2);
/// Resets within this of each other are the same period. A reset is an absolute time, the same
/// in every answer of a period whatever its precision, so answers of one period differ only by
/// how the local and the wall clock were read.
const SAME_PERIOD: Duration = Duration::from_millis(50);

impl Pacer {
    /// Reserves a start time for a request on `endpoint` and returns it; the caller sleeps
    /// until then. Reservations are spaced by the endpoint's interval, and take one from its
    /// budget; with none left the start is the period's reset.
    pub fn reserve(&self, endpoint: &str, now: Instant) -> Instant {
        match self.try_reserve(endpoint, now) {
            Reservation::At(t) | Reservation::AskAgainAt(t) => t,
        }
    }

    /// [`Pacer::reserve`], except that while a period whose end is not known yet has spent its
    /// budget and an answer that will say the end is still on its way, nothing is reserved:
    /// ask again at the time given.
    pub fn try_reserve(&self, endpoint: &str, now: Instant) -> Reservation {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let lane = lanes
            .entry(endpoint.to_string())
            .or_insert_with(|| Lane::new(now));
        let mut start = now.max(lane.next_slot);
        if let Some(b) = lane.blocked_until {
            if b > now {
                start = start.max(b);
            } else {
                lane.blocked_until = None;
            }
        }
        if let Some(b) = lane.budget {
            if let Some(r) = b.reset_at.filter(|&r| r <= start) {
                // The period is over: a new one starts with the whole budget when its size is
                // known (ending a period after the last when periods were seen end).
                lane.budget = match lane.limit {
                    Some(l) if l > 0 => Some(Budget {
                        reset_at: lane.period.map(|p| r + p).filter(|&end| end > start),
                        remaining: l - 1,
                    }),
                    _ => None,
                };
            } else if b.remaining == 0 {
                match b.reset_at {
                    // Wait for the next period. When the budget's size is known, the period
                    // starts with all of it, less this request; it ends a period later when
                    // periods were seen end, else when its first answer says.
                    Some(r) => {
                        // A little after the reset: the server's clock and the header's
                        // precision may put its period end a moment later than ours.
                        start = r + RESET_MARGIN;
                        lane.budget = match lane.limit {
                            Some(l) if l > 0 => Some(Budget {
                                reset_at: lane.period.map(|p| r + p),
                                remaining: l - 1,
                            }),
                            _ => None,
                        };
                    }
                    // A period of unknown end spent before any answer: wait for the answer of
                    // a request in flight, or count no more when none is.
                    None if lane.inflight > 0 => return Reservation::AskAgainAt(now + POLL),
                    None => lane.budget = None,
                }
            } else {
                lane.budget = Some(Budget {
                    remaining: b.remaining - 1,
                    ..b
                });
            }
        }
        lane.next_slot = start + lane.interval;
        lane.inflight += 1;
        Reservation::At(start)
    }

    /// A request reserved on `endpoint` got its answer (or failed without one).
    pub fn finished(&self, endpoint: &str) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lane) = lanes.get_mut(endpoint) {
            lane.inflight = lane.inflight.saturating_sub(1);
        }
    }

    /// Learns from a response on `endpoint` (before [`Pacer::finished`] for it): a 429 blocks
    /// the endpoint for `wait` and widens its spacing; a near-limit warning widens the spacing;
    /// a plain success narrows it again; `Remaining` and `Reset` set the period's budget.
    pub fn observe(
        &self,
        endpoint: &str,
        now: Instant,
        limited: Option<Duration>,
        info: &RateLimitInfo,
    ) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        let lane = lanes
            .entry(endpoint.to_string())
            .or_insert_with(|| Lane::new(now));
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
            // again, so the spacing settles where warnings stop.
            let target = lane.interval + NEAR_LIMIT_STEP;
            lane.interval = target.clamp(MIN_INTERVAL, MAX_INTERVAL);
        } else {
            lane.interval = lane.interval * 9 / 10;
            if lane.interval < Duration::from_millis(1) {
                lane.interval = Duration::ZERO;
            }
        }
        if limited.is_none() {
            lane.learn_budget(now, info);
        }
    }

    /// Learns the period's budget from a 429's `X-RateLimit-*` headers (a 429 is otherwise
    /// observed with the wait it caused, [`Pacer::observe`]).
    pub fn observe_limited_budget(&self, endpoint: &str, now: Instant, info: &RateLimitInfo) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
        lanes
            .entry(endpoint.to_string())
            .or_insert_with(|| Lane::new(now))
            .learn_budget(now, info);
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
    fn a_retry_after_beyond_any_duration_is_clamped_not_a_panic() {
        let now = chrono::DateTime::UNIX_EPOCH;
        let mut h = HeaderMap::new();
        h.insert(
            "Retry-After",
            HeaderValue::from_static("18446744073709551616"),
        );
        let info = RateLimitInfo::from_headers(&h, now);
        assert_eq!(info.retry_after, Some(Duration::MAX));
        h.insert("Retry-After", HeaderValue::from_static("1e300"));
        assert_eq!(
            RateLimitInfo::from_headers(&h, now).retry_after,
            Some(Duration::MAX)
        );
        let mut rng = SmallRng::seed_from_u64(1);
        assert_eq!(
            RetryConfig::default().after_retry_after(Duration::MAX, &mut rng),
            Duration::MAX
        );
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
    fn a_reset_in_the_past_or_unparsable_is_no_wait() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
            .unwrap()
            .to_utc();
        for reset in [
            "2026-11-25T07:59:00Z",
            "soon",
            "",
            "2026-13-45T99:00:00Z",
            "-1",
        ] {
            let mut h = HeaderMap::new();
            h.insert("X-RateLimit-Reset", HeaderValue::from_str(reset).unwrap());
            h.insert("X-RateLimit-Remaining", HeaderValue::from_static("0"));
            let info = RateLimitInfo::from_headers(&h, now);
            assert_eq!(info.reset_in, None, "{reset}");
            assert_eq!(info.remaining, Some(0));
        }
        let mut h = HeaderMap::new();
        h.insert(
            "X-RateLimit-Reset",
            HeaderValue::from_static("2026-11-25T08:00:30.250Z"),
        );
        assert_eq!(
            RateLimitInfo::from_headers(&h, now).reset_in,
            Some(Duration::from_millis(30_250))
        );
    }

    fn budget(remaining: u64, reset_in: Duration) -> RateLimitInfo {
        RateLimitInfo {
            limit: Some(5),
            remaining: Some(remaining),
            reset_in: Some(reset_in),
            ..RateLimitInfo::default()
        }
    }

    #[test]
    fn a_spent_budget_waits_until_the_reset_without_a_429() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        // Two requests in flight; the first answer says 3 are left: 2 may still start.
        assert_eq!(pacer.reserve("GET e", t0), t0);
        assert_eq!(pacer.reserve("GET e", t0), t0);
        pacer.observe("GET e", t0, None, &budget(3, minute));
        pacer.finished("GET e");
        assert_eq!(pacer.reserve("GET e", t0), t0);
        assert_eq!(pacer.reserve("GET e", t0), t0);
        // None left: the next ones start at the reset, where the whole budget (5) is back.
        assert_eq!(pacer.reserve("GET e", t0), t0 + minute + RESET_MARGIN);
        assert_eq!(pacer.reserve("GET e", t0), t0 + minute + RESET_MARGIN);
        // Another endpoint is not held back.
        assert_eq!(pacer.reserve("GET other", t0), t0);
        // An answer whose reset is in the past (or absent) sets no budget.
        let p2 = Pacer::default();
        p2.observe(
            "GET e",
            t0,
            None,
            &RateLimitInfo {
                remaining: Some(0),
                ..RateLimitInfo::default()
            },
        );
        assert_eq!(p2.reserve("GET e", t0), t0);
    }

    #[test]
    fn once_the_period_is_known_each_period_starts_with_the_whole_budget() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        pacer.reserve("GET e", t0);
        pacer.observe("GET e", t0, None, &budget(0, minute));
        pacer.finished("GET e");
        // The next period's first answer teaches its length.
        let t1 = t0 + minute + RESET_MARGIN;
        assert_eq!(pacer.reserve("GET e", t0), t1);
        pacer.observe("GET e", t1, None, &budget(4, minute - RESET_MARGIN));
        pacer.finished("GET e");
        let starts: Vec<Instant> = (0..6).map(|_| pacer.reserve("GET e", t1)).collect();
        assert_eq!(&starts[..4], &[t1; 4]);
        // Spent again: wait for the third period, which then has 5 less this one.
        let t2 = t0 + minute * 2 + RESET_MARGIN;
        assert_eq!(starts[4], t2);
        assert_eq!(starts[5], t2, "4 more fit in the third period");
    }

    #[test]
    fn a_request_after_the_reset_starts_a_new_period_with_the_whole_budget() {
        let pacer = Pacer::default();
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        pacer.reserve("GET e", t0);
        pacer.observe("GET e", t0, None, &budget(0, second));
        pacer.finished("GET e");
        // After the reset, 5 fit again; the period's end is not known yet, so the sixth waits
        // for an answer of one in flight instead of overshooting.
        let later = t0 + second * 3;
        for _ in 0..5 {
            assert_eq!(pacer.try_reserve("GET e", later), Reservation::At(later));
        }
        assert!(matches!(
            pacer.try_reserve("GET e", later),
            Reservation::AskAgainAt(_)
        ));
        // The answer says the period's end; with none in flight and no budget left for it,
        // the next waits for it.
        pacer.observe("GET e", later, None, &budget(0, second));
        for _ in 0..5 {
            pacer.finished("GET e");
        }
        assert_eq!(
            pacer.try_reserve("GET e", later),
            Reservation::At(later + second + RESET_MARGIN)
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
