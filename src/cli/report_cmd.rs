//! `seatkeeper report`: the access review. For every product, who holds a seat and why, last
//! activity and days left, dormant safe users, unmanaged members and seats against budget; with
//! `--since`, what changed since the last review.

use super::inputs::{load_ledger, load_policy_source};
use super::plan_cmd::{current_state, resolve_at};
use super::{Env, Exit, PolicyArgs, Status};
use crate::planner::PlanInput;
use crate::report::{self, ReportFormat, ReportOptions};
use std::io::Write;
use std::path::PathBuf;

/// `report` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Live state from this snapshot file (default: read Atlassian).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    format: ReportFormat,
    /// Add what changed since this date (YYYY-MM-DD) or git revision (the last review).
    #[arg(long, value_name = "REV|DATE")]
    since: Option<String>,
    /// Report as of this time: RFC 3339, a date, or `+30d` from now.
    #[arg(long)]
    at: Option<String>,
}

/// Runs `report`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let now = resolve_at(args.at.as_deref(), env)?;
    let source = load_policy_source(&args.policy, err)?;
    let (live, actor) = current_state(args.snapshot.as_deref(), &source.policy, env, now, err)?;
    let (ledger, log_path) = load_ledger(&source.dir, &source.policy)?;
    let log = std::fs::read_to_string(&log_path).ok();
    let input = PlanInput {
        policy: &source.policy,
        live: &live,
        ledger: &ledger,
        now,
        actor: actor.as_deref(),
        policy_commit: source.commit.as_deref(),
        allow_mass_removal: false,
    };
    let options = ReportOptions {
        policy_dir: Some(&source.dir),
        git_ref: args.policy.git_ref.as_deref(),
        policy_dirty: source.dirty,
        audit_log: log.as_deref(),
        since: args.since.as_deref(),
    };
    let review =
        report::generate(&input, &options).map_err(|e| Exit::new(Status::Error, e.to_string()))?;
    report::render(&review, args.format, out)?;
    Ok(Status::Success)
}
