//! The sandbox in-process: its org and routing table answer the client without a socket.
//!
//! [`InProcess`] implements [`AtlassianApi`] through the same [`Client`] as the HTTP path,
//! whose requests a [`Transport`] hands to the sandbox's router in memory. Reads, writes, the
//! request counts, the request log and `/__sandbox/stats` are therefore those of the HTTP path
//! by construction: the one thing missing is the socket (so no connection resets or
//! slow bodies; the faults that need a connection answer 502 instead).
//!
//! Why the client and not a second reader over the org: a live read is more than the org's
//! state (which groups, which activity the admin API shows, the events window, the grant
//! paths, ...). Reading the org directly would be a second implementation of the client's read
//! logic, to be kept equal to the first by hand.

use super::config::SandboxConfig;
use super::model::Org;
use super::server::{router, App, RecordedRequest, ServeError};
use crate::atlassian::{
    ApiError, ApiFuture, AtlassianApi, Change, Client, ClientConfig, CredentialSource, Credentials,
    LiveRead, ReadRequest, RequestStats, Secret, Transport, TransportReply,
};
use axum::body::Body;
use axum::Router;
use hyper::service::Service as _;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The base URL the in-process sandbox answers for (no socket is ever opened on it).
pub const IN_PROCESS_BASE: &str = "http://localhost";

/// The sandbox's router as a [`Transport`].
#[derive(Debug)]
struct Served {
    router: Router,
}

/// The largest body the in-process transport collects (the client's own cap is lower).
const BODY_MAX: usize = 64 << 20;

impl Transport for Served {
    fn send(
        &self,
        method: reqwest::Method,
        path_and_query: String,
        headers: reqwest::header::HeaderMap,
        body: Vec<u8>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<TransportReply, String>> + Send + '_>,
    > {
        Box::pin(async move {
            let mut request = axum::http::Request::builder()
                .method(method)
                .uri(path_and_query)
                .body(Body::from(body))
                .map_err(|e| e.to_string())?;
            *request.headers_mut() = headers;
            let service = hyper_util::service::TowerToHyperService::new(self.router.clone());
            let response = service.call(request).await.map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, BODY_MAX)
                .await
                .map_err(|e| format!("the answer was lost: {e}"))?;
            Ok((parts.status.as_u16(), parts.headers, bytes))
        })
    }
}

/// A sandbox without a socket, and a client of it with the site and admin credentials. It is an
/// [`AtlassianApi`] (reads on the admin path, as `seatkeeper` reads with both credentials); use
/// [`InProcess::client`] for other credentials or settings.
#[derive(Debug)]
pub struct InProcess {
    app: Arc<App>,
    served: Arc<Served>,
    client: Client,
}

impl InProcess {
    /// Builds the sandbox's state from `config` and `org` (saving the state file if one is
    /// configured), with a client configured by `client`.
    pub async fn start(
        config: SandboxConfig,
        org: Org,
        client: ClientConfig,
    ) -> Result<Self, ServeError> {
        let app = App::start(config, org, IN_PROCESS_BASE.to_string()).await?;
        let served = Arc::new(Served {
            router: router(app.clone()),
        });
        let client =
            Self::client_of(&app, &served, true, true, client).map_err(|e| ServeError::State {
                path: "(in-process client)".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
        Ok(Self {
            app,
            served,
            client,
        })
    }

    fn client_of(
        app: &App,
        served: &Arc<Served>,
        site: bool,
        admin: bool,
        config: ClientConfig,
    ) -> Result<Client, ApiError> {
        let creds = &app.config.credentials;
        let source = CredentialSource {
            email: site.then(|| creds.email.clone()),
            api_token: site.then(|| Secret::new(creds.api_token.clone())),
            admin_api_key: admin.then(|| Secret::new(creds.admin_api_key.clone())),
            api_base: Some(IN_PROCESS_BASE.to_string()),
        };
        let org_id = app.org().org_id.clone();
        let site_host = app.org().site.clone();
        let creds = Credentials::resolve(&site_host, Some(&org_id), source).map_err(|e| {
            ApiError::Decode {
                endpoint: "in-process client".into(),
                message: e.to_string(),
            }
        })?;
        Client::with_transport(creds, config, served.clone())
    }

    /// Another client of this sandbox: site credentials, the admin key, or both.
    pub fn client(
        &self,
        site: bool,
        admin: bool,
        config: ClientConfig,
    ) -> Result<Client, ApiError> {
        Self::client_of(&self.app, &self.served, site, admin, config)
    }

    /// Starts the sandbox's SMTP mail sink on a free loopback port: the one socket an
    /// in-process sandbox opens, and only when asked (the demo shows the mail a run sends).
    pub async fn start_mail_sink(&self) -> std::io::Result<std::net::SocketAddr> {
        self.app.start_mail_sink().await
    }

    /// The messages the mail sink accepted, oldest first.
    pub fn mail(&self) -> Vec<super::smtp::ReceivedMail> {
        self.app.mailbox.messages()
    }

    /// The current state in the snapshot format.
    pub fn snapshot(&self) -> crate::live::LiveState {
        self.app.org().snapshot(self.app.now())
    }

    /// The counters of `GET /__sandbox/stats`.
    pub fn sandbox_stats(&self) -> serde_json::Value {
        self.app.stats.to_json()
    }

    /// The API requests received so far, oldest first.
    pub fn recorded_requests(&self) -> Vec<RecordedRequest> {
        self.app.recorded_requests()
    }
}

impl AtlassianApi for InProcess {
    fn read_live<'a>(&'a self, request: &'a ReadRequest) -> ApiFuture<'a, LiveRead> {
        AtlassianApi::read_live(&self.client, request)
    }

    fn group_members<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> ApiFuture<'a, BTreeMap<String, Vec<String>>> {
        AtlassianApi::group_members(&self.client, group_ids)
    }

    fn add_member<'a>(&'a self, group_id: &'a str, account_id: &'a str) -> ApiFuture<'a, Change> {
        AtlassianApi::add_member(&self.client, group_id, account_id)
    }

    fn remove_member<'a>(
        &'a self,
        group_id: &'a str,
        account_id: &'a str,
    ) -> ApiFuture<'a, Change> {
        AtlassianApi::remove_member(&self.client, group_id, account_id)
    }

    fn is_member<'a>(&'a self, group_id: &'a str, account_id: &'a str) -> ApiFuture<'a, bool> {
        AtlassianApi::is_member(&self.client, group_id, account_id)
    }

    fn myself(&self) -> ApiFuture<'_, Option<String>> {
        AtlassianApi::myself(&self.client)
    }

    fn stats(&self) -> RequestStats {
        self.client.stats()
    }
}
