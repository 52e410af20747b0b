//! The sandbox: a local Atlassian Cloud that speaks the real HTTP APIs (Jira platform v3 group
//! and user operations with Basic auth, the organization admin API with a Bearer key), with
//! rate limits, injected faults and control endpoints for tests. `docs/sandbox.md` is the
//! user-facing description; the behaviour choices are documented on [`jira`] and [`admin`].
//!
//! Use from the CLI, tests, the demo and benchmarks:
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use seatkeeper::sandbox::{self, OrgSource, SandboxConfig};
//! let config = SandboxConfig::default(); // 127.0.0.1:0, documented credentials
//! let org = sandbox::load_org(&OrgSource::Generate { users: 1000, seed: 42 }, &config)?;
//! // or, with `config.org` set from `--org` / `--generate`: sandbox::load_org(&config.org, &config)?
//! let running = sandbox::serve(config.clone(), org).await?;
//! sandbox::write_banner(&mut std::io::stderr(), &running, &config)?;
//! running.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod config;
pub mod control;
pub mod faults;
pub mod generate;
pub mod inprocess;
pub mod jira;
pub mod model;
pub mod ratelimit;
pub mod script;
pub mod server;
pub mod smtp;
pub mod spec;

pub use config::{
    AdminLimits, Credentials, FaultConfig, OrgSource, RateLimitConfig, SandboxConfig, SpecError,
    DEFAULT_ADMIN_API_KEY, DEFAULT_API_TOKEN, DEFAULT_EMAIL, DEFAULT_GENERATE_SEED,
    DEFAULT_GENERATE_USERS,
};
pub use generate::{generate, GenerateOptions, OrgShape};
pub use inprocess::InProcess;
pub use model::{ModelError, Org};
pub use server::{serve, RecordedRequest, RunningSandbox, ServeError, ShutdownHandle};

use std::io::Write;

/// Builds the org to serve. When `config.state_file` exists it wins (earlier runs' writes
/// persist); otherwise the org comes from `source` (usually `&config.org`). Generated orgs are
/// "as of" `config.now` (or the wall clock).
pub fn load_org(source: &OrgSource, config: &SandboxConfig) -> Result<Org, ModelError> {
    if let Some(path) = &config.state_file {
        if path.exists() {
            return Org::load_file(path);
        }
    }
    match source {
        OrgSource::File(path) => Org::load_file(path),
        OrgSource::Generate { users, seed } => generate(&GenerateOptions {
            users: *users,
            seed: *seed,
            now: config.now.unwrap_or_else(chrono::Utc::now),
            admin_email: config.credentials.email.clone(),
            shape: config.shape,
        }),
        OrgSource::Snapshot(state) => Org::from_live((**state).clone()),
    }
}

/// The endpoints the sandbox serves, for the banner and docs.
pub const ENDPOINTS: &[&str] = &[
    "GET    /rest/api/3/myself",
    "GET    /rest/api/3/users/search",
    "GET    /rest/api/3/group/bulk",
    "GET    /rest/api/3/group/member",
    "POST   /rest/api/3/group/user",
    "DELETE /rest/api/3/group/user",
    "GET    /rest/api/3/user/groups",
    "GET|POST|DELETE /rest/api/3/group",
    "GET    /rest/api/3/applicationrole",
    "POST   /admin/v2/orgs/{orgId}/directories/{directoryId}/users/search",
    "GET    /admin/v2/orgs/{orgId}/directories/{directoryId}/users",
    "GET    /admin/v2/orgs/{orgId}/directories/{directoryId}/users/{accountId}/role-assignments",
    "GET    /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates",
    "POST   /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/search",
    "GET    /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}",
    "GET    /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/role-assignments",
    "POST   /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships",
    "DELETE /admin/v2/orgs/{orgId}/directories/{directoryId}/groups/{groupId}/memberships/{accountId}",
    "GET    /admin/v2/orgs/{orgId}/directories",
    "GET    /admin/v1/orgs/{orgId}/events",
    "GET    /admin/v1/orgs/{orgId}/events-stream",
    "GET    /admin/v1/orgs/{orgId}/event-actions",
    "GET    /__sandbox/stats",
    "GET    /__sandbox/state",
    "POST   /__sandbox/events",
    "POST   /__sandbox/activity",
    "GET|POST /__sandbox/clock",
    "GET    /__sandbox/requests",
    "POST   /__sandbox/script",
];

/// Writes the start-up banner: address, org, credentials and endpoints. Only the documented
/// default credentials are shown in full; credentials given on the command line are masked.
pub fn write_banner(
    out: &mut dyn Write,
    running: &RunningSandbox,
    config: &SandboxConfig,
) -> std::io::Result<()> {
    let (users, groups) = running.counts();
    let creds = &config.credentials;
    let show = |value: &str, default: &str| {
        if value == default {
            value.to_string()
        } else {
            "(as given on the command line)".to_string()
        }
    };
    writeln!(
        out,
        "seatkeeper sandbox listening on {}",
        running.base_url()
    )?;
    writeln!(
        out,
        "  org {} (directory {}), {users} users, {groups} groups",
        running.org_id(),
        running.directory_id()
    )?;
    if let Some(mail) = running.mail_url() {
        writeln!(
            out,
            "  mail sink {mail} (for notify.email.smtp; received messages at {}/__sandbox/mail)",
            running.base_url()
        )?;
    }
    if let Some(path) = &config.state_file {
        writeln!(
            out,
            "  state file: {} (every write is saved)",
            path.display()
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "Sandbox credentials (documented defaults, not secrets):"
    )?;
    writeln!(out, "  export SEATKEEPER_API_BASE={}", running.base_url())?;
    writeln!(out, "  export ATLASSIAN_EMAIL={}", creds.email)?;
    writeln!(
        out,
        "  export ATLASSIAN_API_TOKEN={}",
        show(&creds.api_token, DEFAULT_API_TOKEN)
    )?;
    writeln!(
        out,
        "  export ATLASSIAN_ADMIN_API_KEY={}",
        show(&creds.admin_api_key, DEFAULT_ADMIN_API_KEY)
    )?;
    writeln!(out)?;
    writeln!(out, "Endpoints:")?;
    for e in ENDPOINTS {
        writeln!(out, "  {e}")?;
    }
    Ok(())
}
