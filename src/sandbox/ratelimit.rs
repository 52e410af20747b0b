//! Rate limiting: token buckets per endpoint and method (like Jira's per-second burst limits;
//! each `METHOD /route/template` has its own bucket of `burst` tokens refilled at
//! `per_second`), and the admin API's documented per-minute budgets in fixed one-minute
//! windows ([`MinuteLimiter`]).

use super::config::{AdminLimits, RateLimitConfig};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The outcome of taking a token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// The bucket size (`X-RateLimit-Limit`).
    pub limit: u32,
    /// Whole tokens left after this request (`X-RateLimit-Remaining`).
    pub remaining: u32,
    /// When a refused request may retry (time until one token is back).
    pub retry_after: Duration,
    /// Time until the bucket is full again (`X-RateLimit-Reset`).
    pub reset_in: Duration,
}

impl Decision {
    /// Under 20 % of the budget left (`X-RateLimit-NearLimit: true`).
    pub fn near_limit(&self) -> bool {
        f64::from(self.remaining) < f64::from(self.limit) * 0.2
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Buckets keyed by endpoint+method.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter with full buckets.
    pub fn new(config: RateLimitConfig) -> Self {
        Self {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from the bucket of `key`, if there is one.
    pub fn check(&self, key: &str) -> Decision {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Decision {
        let cap = f64::from(self.config.burst.max(1));
        let rate = if self.config.per_second.is_finite() && self.config.per_second > 0.0 {
            self.config.per_second
        } else {
            f64::MIN_POSITIVE
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.to_string()).or_insert(Bucket {
                tokens: cap,
                last: now,
            }),
        };
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(cap);
        bucket.last = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        let secs = |s: f64| Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::MAX);
        Decision {
            allowed,
            limit: self.config.burst,
            remaining: bucket.tokens.floor() as u32,
            retry_after: if allowed {
                Duration::ZERO
            } else {
                secs((1.0 - bucket.tokens) / rate)
            },
            reset_in: secs((cap - bucket.tokens) / rate),
        }
    }
}

/// The admin API's budgets: fixed one-minute windows per key, each starting at the key's first
/// request (then every minute after). A request draws from every budget of its route at once
/// ([`AdminLimits::budgets`]), or from none when one is spent.
#[derive(Debug)]
pub struct MinuteLimiter {
    limits: AdminLimits,
    windows: Mutex<HashMap<String, Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
}

impl MinuteLimiter {
    /// A limiter with every window unused.
    pub fn new(limits: AdminLimits) -> Self {
        Self {
            limits,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request on `route` (`METHOD /admin/...template`) against its budgets.
    pub fn check(&self, route: &str) -> Decision {
        self.check_at(route, Instant::now())
    }

    fn check_at(&self, route: &str, now: Instant) -> Decision {
        let budgets = self.limits.budgets(route);
        let window = self.limits.window.max(Duration::from_millis(1));
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut current: Vec<(u32, Window)> = Vec::with_capacity(budgets.len());
        for (key, limit) in &budgets {
            let w = windows.entry(key.clone()).or_insert(Window {
                start: now,
                used: 0,
            });
            let elapsed = now.saturating_duration_since(w.start);
            if elapsed >= window {
                // Whole periods after the first: windows stay aligned to it.
                let periods = (elapsed.as_nanos() / window.as_nanos()) as u32;
                w.start += window * periods;
                w.used = 0;
            }
            current.push((*limit, *w));
        }
        let allowed = current.iter().all(|(limit, w)| w.used < *limit);
        if allowed {
            for (key, _) in &budgets {
                if let Some(w) = windows.get_mut(key) {
                    w.used += 1;
                }
            }
            for (c, (key, _)) in current.iter_mut().zip(&budgets) {
                if let Some(w) = windows.get(key) {
                    c.1 = *w;
                }
            }
        }
        // Report the budget closest to its end: a spent one, else the fewest left.
        let (limit, w) = current
            .iter()
            .copied()
            .min_by_key(|(limit, w)| limit.saturating_sub(w.used))
            .unwrap_or((
                0,
                Window {
                    start: now,
                    used: 0,
                },
            ));
        let reset_in = (w.start + window).saturating_duration_since(now);
        Decision {
            allowed,
            limit,
            remaining: limit.saturating_sub(w.used),
            retry_after: if allowed { Duration::ZERO } else { reset_in },
            reset_in,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_budgets_are_per_path_and_per_user_for_the_events_api() {
        let l = MinuteLimiter::new(AdminLimits {
            events_per_path: 3,
            events_per_user: 4,
            last_active_per_org: 2,
            other_per_path: 5,
            window: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        let stream = "GET /admin/v1/orgs/{org_id}/events-stream";
        let actions = "GET /admin/v1/orgs/{org_id}/event-actions";
        let got: Vec<(bool, u32)> = (0..4)
            .map(|_| l.check_at(stream, t0))
            .map(|d| (d.allowed, d.remaining))
            .collect();
        assert_eq!(got, [(true, 2), (true, 1), (true, 0), (false, 0)]);
        // The user's budget (4) has one left for another events path, then none.
        assert!(l.check_at(actions, t0).allowed);
        let spent = l.check_at(actions, t0);
        assert!(!spent.allowed && spent.remaining == 0 && spent.limit == 4);
        assert_eq!(spent.reset_in, Duration::from_secs(60));
        // Other paths have their own budgets.
        let la = "GET /admin/v1/orgs/{org_id}/directory/users/{account_id}/last-active-dates";
        assert!(l.check_at(la, t0).allowed && l.check_at(la, t0).allowed);
        assert!(!l.check_at(la, t0).allowed);
        let d = l.check_at(
            "POST /admin/v2/orgs/{org_id}/directories/{directory_id}/users/search",
            t0,
        );
        assert_eq!((d.allowed, d.limit, d.remaining), (true, 5, 4));
        // A new window a minute after the first request; the reset counts down to it.
        let later = t0 + Duration::from_secs(59);
        assert_eq!(l.check_at(stream, later).reset_in, Duration::from_secs(1));
        let next = l.check_at(stream, t0 + Duration::from_secs(61));
        assert!(next.allowed && next.remaining == 2);
        assert_eq!(next.reset_in, Duration::from_secs(59));
    }

    #[test]
    fn bucket_refills_over_time() {
        let l = RateLimiter::new(RateLimitConfig {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = Instant::now();
        let d: Vec<bool> = (0..4).map(|_| l.check_at("k", t0).allowed).collect();
        assert_eq!(d, [true, true, true, false]);
        let refused = l.check_at("k", t0);
        assert!(!refused.allowed && refused.near_limit());
        assert_eq!(refused.retry_after, Duration::from_millis(500));
        assert!(l.check_at("other", t0).allowed, "buckets are per key");
        assert!(l.check_at("k", t0 + Duration::from_millis(500)).allowed);
        assert!(!l.check_at("k", t0 + Duration::from_millis(500)).allowed);
    }
}
