//! Talking to Atlassian (or a sandbox): credentials from the [`Context`], the client, the live
//! read a plan needs, and the adapter the apply executor writes through.

use super::context::Context;
use super::error::{failed, CommandError};
use crate::apply::Deadline;
use crate::atlassian::{Client, ClientConfig, Credentials};
use crate::grants::Grants;
use crate::live::LiveState;
use crate::plan::Plan;
use crate::policy::Policy;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A connection to Atlassian: the client, a runtime to drive it, and when the command must stop.
pub struct Session {
    /// The HTTP client.
    pub client: Arc<Client>,
    runtime: tokio::runtime::Runtime,
    /// How long reads show their progress on stderr.
    progress: super::progress::ProgressMode,
    /// The command's deadline ([`Context::deadline`]), if it has one.
    pub deadline: Option<Deadline>,
}

/// Builds a tokio runtime for one command.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

impl Session {
    /// Resolves the context's credentials for `policy` and builds the client. Fails before any
    /// request when credentials are missing or unsafe, or when the policy needs activity data
    /// that site credentials cannot give.
    pub fn connect(
        ctx: &Context,
        policy: &Policy,
        parallelism: usize,
    ) -> Result<Self, CommandError> {
        let session = Self::connect_to(ctx, &policy.site, policy.org.as_deref(), parallelism)?;
        if !session.client.has_admin() {
            let needs_activity: Vec<&str> = policy
                .products
                .iter()
                .filter(|p| p.inactivity.is_some())
                .map(|p| p.key.as_str())
                .collect();
            if !needs_activity.is_empty() {
                return Err(failed(format!(
                    "the inactivity rules of {} need activity data, which only the org admin API \
                     provides: set ATLASSIAN_ADMIN_API_KEY (and `org:` in the policy)",
                    needs_activity.join(", ")
                )));
            }
        }
        Ok(session)
    }

    /// Resolves the context's credentials for `site` and `org` and builds the client, before
    /// any request.
    pub fn connect_to(
        ctx: &Context,
        site: &str,
        org: Option<&str>,
        parallelism: usize,
    ) -> Result<Self, CommandError> {
        let creds = Credentials::resolve(site, org, ctx.credentials.clone())
            .map_err(|e| failed(e.to_string()))?;
        let mut session = Self::with_credentials(creds, parallelism)?;
        session.progress = ctx.progress;
        session.deadline = ctx.deadline;
        Ok(session)
    }

    /// Builds the client for resolved credentials, before any request.
    pub fn with_credentials(creds: Credentials, parallelism: usize) -> Result<Self, CommandError> {
        let config = ClientConfig {
            parallelism: parallelism.max(1),
            ..ClientConfig::default()
        };
        let client = Client::new(creds, config).map_err(|e| failed(e.to_string()))?;
        Ok(Self {
            client: Arc::new(client),
            runtime: runtime()?,
            progress: super::progress::ProgressMode::Off,
            deadline: None,
        })
    }

    /// A session over `client` (the in-process sandbox's, say), with the context's progress
    /// mode and deadline.
    pub fn with_client(client: Client, ctx: &Context) -> Result<Self, CommandError> {
        Ok(Self {
            client: Arc::new(client),
            runtime: runtime()?,
            progress: ctx.progress,
            deadline: ctx.deadline,
        })
    }

    /// Runs a future on the session's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Runs a future on the session's runtime until the command's deadline; past it the
    /// future is dropped and the command stops with an error that says it was `doing` that.
    pub fn within<F: std::future::Future>(
        &self,
        doing: &str,
        future: F,
    ) -> Result<F::Output, CommandError> {
        let Some(deadline) = self.deadline else {
            return Ok(self.block_on(future));
        };
        self.block_on(async {
            tokio::time::timeout_at(deadline.at.into(), future)
                .await
                .map_err(|_| {
                    failed(format!(
                        "stopped at {deadline} while {doing}; nothing was changed"
                    ))
                })
        })
    }

    /// Reads what a plan of `policy` for `at` needs: the state as of `at`, with the events of
    /// the policy's longest window before `at` ([`crate::policy::Policy::events_window_start`]).
    pub fn read(&self, policy: &Policy, at: DateTime<Utc>) -> Result<LiveState, CommandError> {
        Ok(self.read_with_grants(policy, at, &mut std::io::sink())?.0)
    }

    /// [`Session::read`], with every path that bills the policy's products beyond its groups
    /// (admin path; `None` otherwise). Says on `err` how many people's Jira activity had to be
    /// told apart per product (v1 last-active dates, one request each).
    pub fn read_with_grants(
        &self,
        policy: &Policy,
        at: DateTime<Utc>,
        err: &mut dyn std::io::Write,
    ) -> Result<(LiveState, Option<Grants>), CommandError> {
        let request = crate::ops::read_request(policy, at);
        let read = self
            .within(
                "reading live state",
                super::progress::with_progress(
                    self.client.read_live(&request),
                    "reading live state",
                    self.progress,
                    || self.client.stats(),
                    err,
                ),
            )?
            .map_err(|e| failed(format!("reading live state failed: {e}")))?;
        if read.last_active_reads > 0 {
            writeln!(
                err,
                "note: {} {} several Jira products; which one each was active on was read from \
                 Atlassian's per-product last-active dates ({} v1 last-active-dates {}, at most 200 \
                 a minute)",
                read.last_active_reads,
                if read.last_active_reads == 1 { "person holds" } else { "people hold" },
                read.last_active_reads,
                if read.last_active_reads == 1 { "request" } else { "requests" },
            )?;
        }
        Ok((read.state, read.grants))
    }

    /// Adds the [`grants`](crate::grants) warnings to a plan of a live read: granting groups the
    /// policy does not name, and people the plan frees who are still billed another way (their
    /// direct role assignments are looked up here, one request per person freed). A failed
    /// look-up is a warning too, never a failed plan.
    pub fn annotate(
        &self,
        plan: &mut Plan,
        policy: &Policy,
        live: &LiveState,
        grants: Option<Grants>,
    ) -> Result<(), CommandError> {
        let Some(mut grants) = grants else {
            return Ok(());
        };
        let freed: Vec<String> = crate::grants::freed(policy, live, plan)
            .into_keys()
            .collect();
        if !freed.is_empty() {
            let doing = "checking the direct role assignments of the people the plan frees";
            match self.within(doing, self.client.direct_assignments(&freed, &grants))? {
                Ok(direct) => grants.direct = direct,
                Err(e) => plan.warnings.push(crate::plan::Warning::new(
                    "direct-assignments-unread",
                    format!(
                        "could not check whether the people this plan frees hold a product by a \
                         direct role assignment: {e}"
                    ),
                )),
            }
        }
        plan.warnings
            .extend(crate::grants::warnings(policy, live, plan, &grants));
        Ok(())
    }

    /// The account behind the credentials, for the `self` rail.
    pub fn myself(&self) -> Result<Option<String>, CommandError> {
        let doing = "checking the credentials";
        self.within(doing, self.client.myself())?.map_err(|e| {
            let message = match e {
                // Nothing was checked: the host never answered.
                crate::atlassian::ApiError::Unreachable { .. } => e.to_string(),
                e => format!("checking the credentials failed: {e}"),
            };
            failed(message)
        })
    }
}
