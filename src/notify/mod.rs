//! Notifications' delivery edge: email over SMTP ([`mail`]) and chat webhooks ([`chat`]), paced
//! by [`pace::Pacer`]. Which messages are due, and what they say, is decided elsewhere; this
//! module only delivers a finished message and reports a [`Delivery`].
//!
//! Every delivery retries transient failures (see [`RetryPolicy`]) and never retries a
//! permanent refusal: resending a message a server refused for good only gets the sender
//! rate-limited or blocklisted. Secrets (the SMTP password, the webhook URL, whose path is the
//! credential) never appear in an error, a `Debug` output or a message.

pub mod chat;
pub mod mail;
pub mod pace;

pub use crate::atlassian::is_loopback_host;
pub use chat::{Chat, ChatError, ChatFormat, Digest, DigestSection};
pub use mail::{Email, MailError, Mailer, SmtpSettings, TlsMode};
pub use pace::Pacer;

use std::time::Duration;

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// The server took the message; `reply` is its reply text (SMTP: code and text, which
    /// usually carry the queue id; chat: HTTP status and body), kept for the audit record.
    Accepted { reply: String },
    /// The message was not delivered. `permanent` is true when the server refused it for good
    /// (SMTP 5xx, HTTP 4xx other than 429) or the message itself is unusable; false when the
    /// retry budget ran out on transient failures, so a later run may try again.
    Failed { permanent: bool, error: String },
}

impl Delivery {
    /// True for [`Delivery::Accepted`].
    pub fn is_accepted(&self) -> bool {
        matches!(self, Delivery::Accepted { .. })
    }
}

/// How often, and how patiently, a transient failure is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The wait before the second attempt; each later wait doubles it.
    pub backoff: Duration,
    /// The longest single wait, whether from the doubling or from a server's `Retry-After`:
    /// a server asking for an hour must not hold a seat-reclaim run for an hour.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    /// Three attempts, waiting 1 s then 2 s: enough to ride out a relay restart or a greylisting
    /// blip without holding a run for long.
    fn default() -> Self {
        Self {
            attempts: 3,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), capped at `max_wait`.
    pub fn wait_after(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.backoff.saturating_mul(factor).min(self.max_wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "localhost",
            "LocalHost",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "smtp.example.com",
            "localhost.example.com",
            "::2",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn retry_waits_double_and_are_capped() {
        let policy = RetryPolicy {
            attempts: 5,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(3),
        };
        let waits: Vec<_> = (1..=4).map(|a| policy.wait_after(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 3, 3]);
    }
}
