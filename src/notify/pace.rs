//! A send pacer: at most one message per interval. Mail providers and chat webhooks rate-limit
//! senders (Slack allows about one message per second per webhook; SMTP relays throttle or
//! greylist bursts), and a reclaim run that notifies hundreds of people must not trip them.
//! It runs on tokio's clock, so tests drive it with `tokio::time::pause` instead of sleeping.

use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces sends at least `interval` apart. Shared by reference: concurrent callers queue on
/// the lock and each gets the next free slot.
#[derive(Debug)]
pub struct Pacer {
    interval: Option<Duration>,
    next_slot: Mutex<Option<Instant>>,
}

impl Default for Pacer {
    /// One message per second.
    fn default() -> Self {
        Self::every(Duration::from_secs(1))
    }
}

impl Pacer {
    /// One send per `interval`. A zero interval is the same as [`Pacer::off`].
    pub fn every(interval: Duration) -> Self {
        Self {
            interval: (!interval.is_zero()).then_some(interval),
            next_slot: Mutex::new(None),
        }
    }

    /// `rate` sends per second (0 switches pacing off).
    pub fn per_second(rate: u32) -> Self {
        if rate == 0 {
            return Self::off();
        }
        Self::every(Duration::from_secs(1) / rate)
    }

    /// No pacing: [`Pacer::wait`] returns at once (benchmarks, a local relay).
    pub fn off() -> Self {
        Self {
            interval: None,
            next_slot: Mutex::new(None),
        }
    }

    /// The interval between sends, if pacing is on.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Waits for the next free slot. The first call returns at once; a caller that comes after
    /// a long pause also goes at once (slots do not accumulate into a burst).
    pub async fn wait(&self) {
        let Some(interval) = self.interval else {
            return;
        };
        // The lock is held across the sleep on purpose: it orders concurrent callers, each one
        // taking the slot after the previous caller's.
        let mut next_slot = self.next_slot.lock().await;
        let now = Instant::now();
        let slot = match *next_slot {
            Some(slot) if slot > now => {
                tokio::time::sleep_until(slot).await;
                slot
            }
            _ => now,
        };
        *next_slot = Some(slot + interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_sends_by_the_interval() {
        let pacer = Pacer::default();
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..4 {
            pacer.wait().await;
            at.push((Instant::now() - start).as_millis());
        }
        assert_eq!(at, [0, 1000, 2000, 3000]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_does_not_bank_a_burst() {
        let pacer = Pacer::per_second(2);
        pacer.wait().await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        let start = Instant::now();
        pacer.wait().await;
        pacer.wait().await;
        assert_eq!((Instant::now() - start).as_millis(), 500);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_get_successive_slots() {
        let pacer = std::sync::Arc::new(Pacer::every(Duration::from_millis(100)));
        let start = Instant::now();
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let pacer = pacer.clone();
                tokio::spawn(async move {
                    pacer.wait().await;
                    (Instant::now() - start).as_millis()
                })
            })
            .collect();
        let mut at = Vec::new();
        for task in tasks {
            at.push(task.await.unwrap());
        }
        at.sort_unstable();
        assert_eq!(at, [0, 100, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn off_never_waits() {
        let pacer = Pacer::per_second(0);
        assert_eq!(pacer.interval(), None);
        let start = Instant::now();
        for _ in 0..100 {
            pacer.wait().await;
        }
        assert_eq!(Instant::now(), start);
    }
}
