//! What every operation runs with, resolved once by the command line from flags and the
//! environment: the credentials (the backend to connect to), the clock, the deadline, how
//! progress shows, and the sink for warnings, notes and progress (stderr).

use super::error::{failed, CommandError};
use super::progress::ProgressMode;
use crate::apply::Deadline;
use crate::atlassian::CredentialSource;
use chrono::{DateTime, NaiveDate, Utc};
use std::io::Write;

/// The time source of a command: the time it works at, and the time its audit lines are
/// stamped with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock: the command works at this time (when it started), and stamps each audit
    /// line when it is written (Atlassian Cloud).
    System(DateTime<Utc>),
    /// Every reading is this time: `apply --at` against a local sandbox, the demo (it replays
    /// a fixed day), tests.
    Fixed(DateTime<Utc>),
}

impl Clock {
    /// The time the command works at.
    pub fn start(self) -> DateTime<Utc> {
        match self {
            Clock::System(at) | Clock::Fixed(at) => at,
        }
    }

    /// The time to stamp an audit line written now.
    pub fn now(self) -> DateTime<Utc> {
        match self {
            Clock::System(_) => Utc::now(),
            Clock::Fixed(at) => at,
        }
    }
}

/// Everything an operation needs besides its request.
pub struct Context<'a> {
    /// Where credentials come from and where Atlassian is (`SEATKEEPER_API_BASE`): the backend
    /// a live read or an apply connects to ([`super::session::Session::connect`]).
    pub credentials: CredentialSource,
    /// `SEATKEEPER_ACTOR`: who runs apply, for the audit log.
    pub actor: Option<String>,
    /// The clock.
    pub clock: Clock,
    /// When the command must stop; `None` for no limit.
    pub deadline: Option<Deadline>,
    /// How long reads show their progress on `err`.
    pub progress: ProgressMode,
    /// SMTP credentials and the chat webhook URL, for notifications.
    pub notify: NotifySecrets,
    /// Warnings, notes and progress.
    pub err: &'a mut dyn Write,
}

/// The secrets of notifications, from the environment only: `SEATKEEPER_SMTP_USERNAME`,
/// `SEATKEEPER_SMTP_PASSWORD` and `SEATKEEPER_CHAT_WEBHOOK_URL` (whoever has the URL can post).
#[derive(Debug, Clone, Default)]
pub struct NotifySecrets {
    /// `SEATKEEPER_SMTP_USERNAME`.
    pub smtp_username: Option<crate::atlassian::Secret>,
    /// `SEATKEEPER_SMTP_PASSWORD`.
    pub smtp_password: Option<crate::atlassian::Secret>,
    /// `SEATKEEPER_CHAT_WEBHOOK_URL`.
    pub chat_webhook: Option<crate::atlassian::Secret>,
}

impl NotifySecrets {
    /// Every secret value, for the redactor.
    pub fn values(&self) -> impl Iterator<Item = &str> {
        [&self.smtp_password, &self.chat_webhook, &self.smtp_username]
            .into_iter()
            .flatten()
            .map(|s| s.expose().trim())
    }
}

impl Context<'_> {
    /// The day a policy's `requested` dates must not be after, for a command run for `at`: the
    /// later of today and `at`. Replaying a past day accepts dates written since; a forecast or
    /// a rehearsal stepped into the future accepts dates up to its own day.
    pub fn today(&self, at: DateTime<Utc>) -> NaiveDate {
        at.max(self.clock.start()).date_naive()
    }

    /// Resolves `--at` against the clock; no `--at` is the clock's time.
    pub fn resolve_at(&self, at: Option<&str>) -> Result<DateTime<Utc>, CommandError> {
        self.resolve_at_from(at, self.clock.start())
    }

    /// Resolves `--at`, a relative one (`+30d`) counted from `base`; no `--at` is the clock's
    /// time.
    pub fn resolve_at_from(
        &self,
        at: Option<&str>,
        base: DateTime<Utc>,
    ) -> Result<DateTime<Utc>, CommandError> {
        at.map_or(Ok(self.clock.start()), |at| {
            crate::time::parse_at(at, base).map_err(|e| failed(format!("--at: {e}")))
        })
    }

    /// This context with another sink: a JSON command that keeps its notes out of its one
    /// object, the demo that shows apply's progress inline.
    pub fn with_err<'b>(&self, err: &'b mut dyn Write) -> Context<'b> {
        Context {
            credentials: self.credentials.clone(),
            actor: self.actor.clone(),
            clock: self.clock,
            deadline: self.deadline,
            progress: self.progress,
            notify: self.notify.clone(),
            err,
        }
    }

    /// Whether credentials for Atlassian are set.
    pub fn has_credentials(&self) -> bool {
        self.credentials.api_token.is_some() || self.credentials.admin_api_key.is_some()
    }
}
