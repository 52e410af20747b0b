//! Token-bucket rate limiting per endpoint and method (like Jira's per-second burst limits).
//! Each `METHOD /route/template` has its own bucket of `burst` tokens refilled at `per_second`.

use super::config::RateLimitConfig;
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

#[cfg(test)]
mod tests {
    use super::*;

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
