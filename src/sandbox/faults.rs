//! Injected faults: 5xx answers (half of them 503 with `Retry-After`), fixed and jittered
//! latency, connection resets and slowly streamed bodies.
//!
//! Replay: the decisions for a request come from an RNG seeded with the fault seed, a hash of
//! the request's method and URI, and how many times that method+URI has been seen. The same
//! seed and the same per-URI request sequence give the same faults, however concurrent
//! requests interleave.

use super::config::FaultConfig;
use crate::planner::synth::XorShift;
use axum::body::{Body, Bytes, HttpBody};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultPlan {
    /// Sleep this long first.
    pub delay: Duration,
    /// Reset the connection instead of answering.
    pub reset: bool,
    /// With `reset`: run the handler first (the write happens, the answer is lost).
    pub reset_after_handler: bool,
    /// Answer with this 5xx status instead.
    pub error: Option<u16>,
    /// Stream the body slowly.
    pub slow_body: bool,
}

/// The fault injector.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    base_latency: Duration,
    seen: Mutex<HashMap<u64, u64>>,
}

fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Faults {
    /// An injector; `base_latency` (`--latency`) is added to every request.
    pub fn new(config: FaultConfig, base_latency: Duration) -> Self {
        Self {
            config,
            base_latency,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The slow-body chunk pause.
    pub fn slow_body_delay(&self) -> Duration {
        self.config.slow_body_delay
    }

    /// Decides the faults for one request.
    pub fn plan(&self, method: &str, uri: &axum::http::Uri) -> FaultPlan {
        if !self.config.is_active() {
            return FaultPlan {
                delay: self.base_latency,
                ..FaultPlan::default()
            };
        }
        let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let key = fnv(method) ^ fnv(target).rotate_left(17);
        let n = {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            let slot = seen.entry(key).or_insert(0);
            *slot += 1;
            *slot
        };
        let mut rng = XorShift::new(splitmix(self.config.seed ^ splitmix(key ^ splitmix(n))));
        let c = &self.config;
        let p = |rate: f64| {
            if rate.is_finite() {
                rate.clamp(0.0, 1.0)
            } else {
                0.0
            }
        };
        let jitter = if c.jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_micros(rng.below(c.jitter.as_micros().max(1) as u64))
        };
        let reset = rng.chance(p(c.reset_rate));
        let reset_after_handler = rng.chance(0.5);
        let error = if rng.chance(p(c.error_rate)) {
            Some([503, 503, 500, 502, 504][rng.index(5)])
        } else {
            None
        };
        let slow_body = rng.chance(p(c.slow_body_rate));
        FaultPlan {
            delay: self.base_latency + c.latency + jitter,
            reset,
            reset_after_handler,
            error: if reset { None } else { error },
            slow_body,
        }
    }
}

/// A body sent in eight chunks with a pause before each.
pub struct SlowBody {
    chunks: VecDeque<Bytes>,
    delay: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SlowBody {
    /// Wraps `bytes` into a slowly streamed body.
    pub fn body(bytes: Bytes, delay: Duration) -> Body {
        let size = bytes.len().div_ceil(8).max(1);
        let mut chunks = VecDeque::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = size.min(rest.len());
            chunks.push_back(rest.split_to(n));
        }
        Body::new(Self {
            chunks,
            delay,
            sleep: None,
        })
    }
}

impl HttpBody for SlowBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        if self.chunks.is_empty() {
            return Poll::Ready(None);
        }
        let delay = self.delay;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
        match sleep.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                self.sleep = None;
                match self.chunks.pop_front() {
                    Some(chunk) => Poll::Ready(Some(Ok(http_body::Frame::data(chunk)))),
                    None => Poll::Ready(None),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }
}

use std::future::Future;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_replay_per_uri() {
        let config = FaultConfig::parse("5xx=0.3,reset=0.2,slow-body=0.2,jitter=10ms,seed=9")
            .expect("valid");
        let a = Faults::new(config.clone(), Duration::ZERO);
        let b = Faults::new(config, Duration::ZERO);
        let (x, y) = (
            axum::http::Uri::from_static("/x"),
            axum::http::Uri::from_static("/y"),
        );
        let pa: Vec<_> = (0..50).map(|_| a.plan("GET", &x)).collect();
        // b sees other URIs interleaved: /x still gets the same plans.
        let pb: Vec<_> = (0..50)
            .map(|_| {
                b.plan("GET", &y);
                b.plan("GET", &x)
            })
            .collect();
        assert_eq!(pa, pb);
        assert!(pa.iter().any(|p| p.error.is_some()));
        assert!(pa.iter().any(|p| p.reset));
        assert!(pa.iter().any(|p| p.slow_body));
    }
}
