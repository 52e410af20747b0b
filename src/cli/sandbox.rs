//! `seatkeeper sandbox`: serves a local Atlassian Cloud until interrupted.

use super::Status;
use crate::ops::session::runtime;
use crate::ops::{failed, CommandError};
use crate::sandbox::{self, Credentials, FaultConfig, OrgSource, RateLimitConfig, SandboxConfig};
use std::io::Write;
use std::path::PathBuf;

/// `sandbox` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seed the org from a snapshot file (JSON or YAML, with `org_id`).
    #[arg(long, conflicts_with = "generate")]
    org: Option<PathBuf>,
    /// Generate a synthetic org of N users.
    #[arg(long, value_name = "N")]
    generate: Option<usize>,
    /// Seed of the generated org.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Sites of the generated org: each one after the first adds a Jira product on it.
    #[arg(long, value_name = "N", default_value_t = 1)]
    sites: usize,
    /// Directories of the generated org: people spread over them, each with its own groups.
    #[arg(long, value_name = "N", default_value_t = 1)]
    directories: usize,
    /// Seats of the generated org held outside its named groups: a legacy grant group and
    /// direct role assignments of Jira Software.
    #[arg(long)]
    hidden_grants: bool,
    /// Port to bind on 127.0.0.1 (0 picks a free one and prints it).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Persist writes to this file, so separate runs see earlier applies.
    #[arg(long)]
    state: Option<PathBuf>,
    /// The Jira email the sandbox accepts.
    #[arg(long, default_value = sandbox::DEFAULT_EMAIL)]
    email: String,
    /// The Jira API token the sandbox accepts.
    #[arg(long, default_value = sandbox::DEFAULT_API_TOKEN)]
    api_token: String,
    /// The admin API key the sandbox accepts.
    #[arg(long, default_value = sandbox::DEFAULT_ADMIN_API_KEY)]
    admin_api_key: String,
    /// Rate limit per Jira endpoint and method: `10/s`, `600/m`, `10/s,burst=20` (the admin
    /// API has its own per-minute budgets).
    #[arg(long)]
    rate_limit: Option<String>,
    /// Serve the admin API without its documented per-minute budgets (events 50 a minute per
    /// path and 60 per user, last-active dates 200 per org, other paths `--admin-budget`).
    #[arg(long)]
    no_admin_limits: bool,
    /// Requests per minute per path for the admin paths whose budget Atlassian does not publish
    /// (user and group search, memberships, role assignments, group details, directories, the
    /// org listing).
    #[arg(long, value_name = "N", default_value_t = sandbox::AdminLimits::DEFAULT_OTHER_PER_PATH)]
    admin_budget: u32,
    /// Latency added to every response, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency: u64,
    /// Faults: `5xx=0.05,latency=20ms,jitter=10ms,reset=0.01,slow-body=0.02,seed=42`.
    #[arg(long)]
    faults: Option<String>,
    /// Serve an org without Atlassian Guard: the events stream answers 403 (like the seed's
    /// `sandbox: {guard: false}`; kept in the --state file).
    #[arg(long)]
    no_guard: bool,
}

/// Runs `sandbox`.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<Status, CommandError> {
    let bad = |e: crate::sandbox::SpecError| failed(e.to_string());
    let config = SandboxConfig {
        port: args.port,
        credentials: Credentials {
            email: args.email.clone(),
            api_token: args.api_token.clone(),
            admin_api_key: args.admin_api_key.clone(),
        },
        rate_limit: args
            .rate_limit
            .as_deref()
            .map(RateLimitConfig::parse)
            .transpose()
            .map_err(bad)?,
        admin_limits: (!args.no_admin_limits).then_some(sandbox::AdminLimits {
            other_per_path: args.admin_budget.max(1),
            ..sandbox::AdminLimits::DOCUMENTED
        }),
        latency: std::time::Duration::from_millis(args.latency),
        faults: args
            .faults
            .as_deref()
            .map(FaultConfig::parse)
            .transpose()
            .map_err(bad)?
            .unwrap_or_default(),
        state_file: args.state.clone(),
        shape: sandbox::OrgShape {
            sites: args.sites.max(1),
            directories: args.directories.max(1),
            guard: !args.no_guard,
            hidden_grants: args.hidden_grants,
        },
        ..SandboxConfig::default()
    };
    let source = match (&args.org, args.generate) {
        (Some(path), _) => OrgSource::File(path.clone()),
        (None, Some(users)) => OrgSource::Generate {
            users,
            seed: args.seed,
        },
        (None, None) if config.state_file.as_ref().is_some_and(|p| p.exists()) => {
            OrgSource::Generate {
                users: 0,
                seed: args.seed,
            }
        }
        (None, None) => return Err(failed("say which org to serve: --org FILE or --generate N")),
    };
    let mut org = sandbox::load_org(&source, &config).map_err(|e| failed(e.to_string()))?;
    if args.no_guard {
        org.guard = false;
    }
    let rt = runtime()?;
    rt.block_on(async {
        let running = sandbox::serve(config.clone(), org).await?;
        sandbox::write_banner(out, &running, &config)?;
        writeln!(out, "\nPress Ctrl-C to stop.")?;
        out.flush()?;
        let handle = running.shutdown_handle();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            handle.shutdown();
        });
        running.wait().await;
        anyhow::Ok(())
    })?;
    Ok(Status::Success)
}
