//! The Atlassian Cloud API client: credentials, typed errors, deliberate retries and pacing,
//! reading live state with the fewest requests, and membership writes.
//!
//! Everything the rest of seatkeeper needs from Atlassian sits behind one trait,
//! [`AtlassianApi`]. [`Client`] implements it over HTTP (reqwest) for Atlassian Cloud and the
//! sandbox alike, or over a [`Transport`] that reaches the sandbox's org in-process.
//!
//! - [`credentials`]: [`Credentials`] from the environment-like [`CredentialSource`]; [`Secret`]
//!   hides tokens from `Debug` and `Display`; plain `http://` only to loopback hosts.
//! - [`error`]: [`ApiError`], classified transient (429, 502, 503, 504, resets, timeouts) or fatal.
//! - [`retry`]: capped exponential backoff with jitter, `Retry-After`, per-endpoint pacing.
//! - [`client`]: the one place requests are sent (concurrency bound, counts, error mapping).
//! - [`read`]: [`ReadRequest`] → [`LiveRead`] (admin path or site path).
//! - [`orgs`]: the orgs an admin API key manages ([`Client::org_ids`] → [`OrgSummary`]), to
//!   learn the org id from the key alone.
//! - `paging`: one cursor pager for the admin listings, with the guard against cursor loops.
//! - [`write`](mod@write): add/remove member ([`Change`]), group members and fingerprints, `myself`.
//! - [`wire`]: raw serde types of the Atlassian JSON.

pub mod client;
pub mod credentials;
pub mod discover;
pub mod error;
pub mod orgs;
mod paging;
mod permits;
pub mod read;
pub mod retry;
pub mod wire;
pub mod write;

pub use client::{Client, ClientConfig, RequestStats, Transport, TransportReply, EVENTS_PAGE_MAX};
pub use credentials::{
    is_loopback_base, is_loopback_host, CredentialSource, Credentials, CredentialsError, Secret,
};
pub use error::{Api, ApiError, TransportKind};
pub use orgs::OrgSummary;
pub use read::{LiveRead, ReadPath, ReadRequest};
pub use retry::RetryConfig;
pub use write::Change;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// The future every [`AtlassianApi`] method returns (boxed, so the trait is object safe).
pub type ApiFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ApiError>> + Send + 'a>>;

/// What seatkeeper needs from Atlassian. Implemented by [`Client`], over HTTP or, with the
/// sandbox's [`Transport`], in-process ([`crate::sandbox::InProcess`]); the apply executor
/// writes through it too (every `AtlassianApi` is an [`crate::apply::Directory`]).
pub trait AtlassianApi: Send + Sync {
    /// Users, the requested groups with members, activity and events.
    fn read_live<'a>(&'a self, request: &'a ReadRequest) -> ApiFuture<'a, LiveRead>;

    /// The members (sorted account ids) of each group, read like `read_live` reads them.
    fn group_members<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> ApiFuture<'a, BTreeMap<String, Vec<String>>>;

    /// Adds an account to a group; already a member is [`Change::AlreadyDone`].
    fn add_member<'a>(&'a self, group_id: &'a str, account_id: &'a str) -> ApiFuture<'a, Change>;

    /// Removes an account from a group; not a member is [`Change::AlreadyDone`].
    fn remove_member<'a>(&'a self, group_id: &'a str, account_id: &'a str)
        -> ApiFuture<'a, Change>;

    /// The account id behind the credentials, when they belong to a user.
    fn myself(&self) -> ApiFuture<'_, Option<String>>;

    /// Whether the account is in the group now, in one request: asked after a write whose
    /// answer was lost, before writing again or recording a failure.
    fn is_member<'a>(&'a self, group_id: &'a str, account_id: &'a str) -> ApiFuture<'a, bool>;

    /// Requests made so far.
    fn stats(&self) -> RequestStats;

    /// The fingerprint of each group's members, for the stale-plan check of `apply`.
    fn fetch_groups_fingerprint<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> ApiFuture<'a, BTreeMap<String, String>> {
        Box::pin(async move {
            Ok(self
                .group_members(group_ids)
                .await?
                .into_iter()
                .map(|(g, m)| {
                    (
                        g,
                        crate::plan::fingerprint_members(m.iter().map(String::as_str)),
                    )
                })
                .collect())
        })
    }
}

impl AtlassianApi for Client {
    fn read_live<'a>(&'a self, request: &'a ReadRequest) -> ApiFuture<'a, LiveRead> {
        Box::pin(Client::read_live(self, request))
    }

    fn group_members<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> ApiFuture<'a, BTreeMap<String, Vec<String>>> {
        Box::pin(Client::group_members(self, group_ids))
    }

    fn add_member<'a>(&'a self, group_id: &'a str, account_id: &'a str) -> ApiFuture<'a, Change> {
        Box::pin(Client::add_member(self, group_id, account_id))
    }

    fn remove_member<'a>(
        &'a self,
        group_id: &'a str,
        account_id: &'a str,
    ) -> ApiFuture<'a, Change> {
        Box::pin(Client::remove_member(self, group_id, account_id))
    }

    fn myself(&self) -> ApiFuture<'_, Option<String>> {
        Box::pin(Client::myself(self))
    }

    fn is_member<'a>(&'a self, group_id: &'a str, account_id: &'a str) -> ApiFuture<'a, bool> {
        Box::pin(Client::membership(self, group_id, account_id))
    }

    fn stats(&self) -> RequestStats {
        Client::stats(self)
    }
}
