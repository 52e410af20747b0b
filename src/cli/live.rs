//! Talking to Atlassian (or a sandbox) from the CLI: credentials from [`Env`], the client, the
//! live read a plan needs, and the adapter the apply executor writes through.

use super::{Env, Exit, Status};
use crate::apply::{Directory, WriteOutcome};
use crate::atlassian::{Change, Client, ClientConfig, CredentialSource, Credentials, ReadRequest};
use crate::live::LiveState;
use crate::plan::ActionKind;
use crate::policy::Policy;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A connection to Atlassian: the client and a runtime to drive it.
pub struct Session {
    /// The HTTP client.
    pub client: Arc<Client>,
    runtime: tokio::runtime::Runtime,
}

/// Builds a tokio runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

impl Session {
    /// Resolves credentials from the environment for `policy` and builds the client. Fails
    /// before any request when credentials are missing or unsafe, or when the policy needs
    /// activity data that site credentials cannot give.
    pub fn connect(env: &Env, policy: &Policy, parallelism: usize) -> anyhow::Result<Self> {
        let source = CredentialSource {
            email: env.email.clone(),
            api_token: env.api_token.clone(),
            admin_api_key: env.admin_api_key.clone(),
            api_base: env.api_base.clone(),
        };
        let creds = Credentials::resolve(&policy.site, policy.org.as_deref(), source)
            .map_err(|e| Exit::new(Status::Error, e.to_string()))?;
        if creds.admin.is_none() {
            let needs_activity: Vec<&str> = policy
                .products
                .iter()
                .filter(|p| p.inactivity.is_some())
                .map(|p| p.key.as_str())
                .collect();
            if !needs_activity.is_empty() {
                return Err(Exit::new(
                    Status::Error,
                    format!(
                        "the inactivity rules of {} need activity data, which only the org admin \
                         API provides: set ATLASSIAN_ADMIN_API_KEY (and `org:` in the policy)",
                        needs_activity.join(", ")
                    ),
                )
                .into());
            }
        }
        let config = ClientConfig {
            parallelism: parallelism.max(1),
            ..ClientConfig::default()
        };
        let client =
            Client::new(creds, config).map_err(|e| Exit::new(Status::Error, e.to_string()))?;
        Ok(Self {
            client: Arc::new(client),
            runtime: runtime()?,
        })
    }

    /// Runs a future on the session's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Reads what a plan of `policy` for `at` needs: the state as of `at`, with the events of
    /// the policy's longest window before `at` ([`crate::atlassian::read::events_window_start`]).
    pub fn read(&self, policy: &Policy, at: DateTime<Utc>) -> anyhow::Result<LiveState> {
        let request = ReadRequest::for_policy(policy, at);
        let read = self
            .block_on(self.client.read_live(&request))
            .map_err(|e| Exit::new(Status::Error, format!("reading live state failed: {e}")))?;
        Ok(read.state)
    }

    /// The account behind the credentials, for the `self` rail.
    pub fn myself(&self) -> anyhow::Result<Option<String>> {
        self.block_on(self.client.myself()).map_err(|e| {
            Exit::new(
                Status::Error,
                format!("checking the credentials failed: {e}"),
            )
            .into()
        })
    }
}

/// The apply executor's view of the client.
pub struct ApiDirectory(pub Arc<Client>);

impl Directory for ApiDirectory {
    async fn write(
        &self,
        kind: ActionKind,
        group_id: &str,
        account_id: &str,
    ) -> anyhow::Result<WriteOutcome> {
        let change = match kind {
            ActionKind::Add => self.0.add_member(group_id, account_id).await?,
            ActionKind::Remove => self.0.remove_member(group_id, account_id).await?,
        };
        Ok(match change {
            Change::Done => WriteOutcome::Done,
            Change::AlreadyDone => WriteOutcome::AlreadyDone,
        })
    }

    async fn is_member(&self, group_id: &str, account_id: &str) -> anyhow::Result<bool> {
        let members = self.0.group_members(&[group_id.to_string()]).await?;
        Ok(members
            .get(group_id)
            .is_some_and(|m| m.iter().any(|a| a == account_id)))
    }
}
