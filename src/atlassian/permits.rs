//! The client's concurrency bound (`--parallelism`), with two priorities.
//!
//! A read mixes serial chains (cursor or "until a short page" paging, where each request needs
//! the answer before it) with fan-outs (every remaining `group/member` page of a group, all known
//! at once). With one FIFO queue, a chain's next page waits behind every fan-out page queued
//! before it, and the chain ends up running alone after the fan-out, one request per round trip.
//! Here a waiting chain request always gets the next free permit, so the chain advances every
//! round trip while the fan-out fills the other slots; the bound itself is unchanged.

use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// Which queue a request waits in for a permit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Priority {
    /// A request others wait for (the default): served first.
    #[default]
    Chain,
    /// One of many independent requests issued at once: served when no chain request waits.
    FanOut,
}

#[derive(Debug)]
struct State {
    free: usize,
    chain: VecDeque<oneshot::Sender<()>>,
    fan_out: VecDeque<oneshot::Sender<()>>,
}

/// At most `n` permits out at once; waiters are served chain first, then fan-out, each in
/// arrival order.
#[derive(Debug)]
pub(crate) struct Permits {
    state: Mutex<State>,
}

/// A held permit; dropping it hands it to the next waiter.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    pool: &'a Permits,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.pool.release();
    }
}

/// A waiter's receiving end; if the waiting future is dropped after a permit was handed to
/// it, the permit goes back to the pool.
struct Waiting<'a> {
    pool: &'a Permits,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if rx.try_recv().is_ok() {
                self.pool.release();
            }
        }
    }
}

impl Permits {
    /// A pool of `n` permits (at least one).
    pub(crate) fn new(n: usize) -> Self {
        Self {
            state: Mutex::new(State {
                free: n.max(1),
                chain: VecDeque::new(),
                fan_out: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a permit.
    pub(crate) async fn acquire(&self, priority: Priority) -> Permit<'_> {
        loop {
            let rx = {
                let mut s = self.lock();
                if s.free > 0 {
                    s.free -= 1;
                    return Permit { pool: self };
                }
                let (tx, rx) = oneshot::channel();
                match priority {
                    Priority::Chain => s.chain.push_back(tx),
                    Priority::FanOut => s.fan_out.push_back(tx),
                }
                rx
            };
            let mut waiting = Waiting {
                pool: self,
                rx: Some(rx),
            };
            let granted = match waiting.rx.as_mut() {
                Some(rx) => rx.await.is_ok(),
                None => false,
            };
            if granted {
                waiting.rx = None;
                return Permit { pool: self };
            }
        }
    }

    /// Hands a returned permit to the first live waiter, chain first, or frees it.
    fn release(&self) {
        let mut s = self.lock();
        loop {
            let next = match s.chain.pop_front() {
                Some(tx) => Some(tx),
                None => s.fan_out.pop_front(),
            };
            match next {
                // A waiter that has gone away refuses the permit: try the next one.
                Some(tx) => {
                    if tx.send(()).is_ok() {
                        return;
                    }
                }
                None => {
                    s.free += 1;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::Arc;

    #[tokio::test]
    async fn chain_waiters_go_before_fan_out_waiters() {
        let pool = Arc::new(Permits::new(1));
        let held = pool.acquire(Priority::Chain).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (i, p) in [
            (0, Priority::FanOut),
            (1, Priority::FanOut),
            (2, Priority::Chain),
            (3, Priority::FanOut),
            (4, Priority::Chain),
        ] {
            let (task_pool, order) = (pool.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = task_pool.acquire(p).await;
                order.lock().unwrap().push(i);
                tokio::task::yield_now().await;
            }));
            // Let the task queue up before the next one.
            while {
                let s = pool.lock();
                s.chain.len() + s.fan_out.len() < i + 1
            } {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![2, 4, 0, 1, 3]);
        assert_eq!(pool.lock().free, 1);
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_lose_the_permit() {
        let pool = Permits::new(1);
        let held = pool.acquire(Priority::Chain).await;
        {
            let mut waiter = Box::pin(pool.acquire(Priority::FanOut));
            // Poll once so it queues, then hand it the permit and drop it unpolled.
            let pending = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(waiter.as_mut().poll(cx).is_pending())
            })
            .await;
            assert!(pending);
            drop(held);
        }
        assert_eq!(pool.lock().free, 1);
        let _again = pool.acquire(Priority::FanOut).await;
        assert_eq!(pool.lock().free, 0);
    }
}
