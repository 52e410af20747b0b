//! `seatkeeper report`: the access review. For every product, who holds a seat and why, last
//! activity and days left, dormant safe users, unmanaged members and seats against budget; with
//! `--since`, what changed since the last review.

use super::planning::{Planning, StateArgs};
use super::{Env, Exit, PolicyArgs, Status, DEFAULT_TIMEOUT};
use crate::report::{self, ReportFormat, ReportOptions};
use std::io::Write;

/// `report` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Markdown)]
    format: ReportFormat,
    /// Add what changed since this date (YYYY-MM-DD) or git revision (the last review).
    #[arg(long, value_name = "REV|DATE")]
    since: Option<String>,
}

/// Runs `report`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let env = &env.until(args.state.timeout.timeout, DEFAULT_TIMEOUT)?;
    let planning = Planning::load(&args.policy, &args.state, env, err)?;
    let log = std::fs::read_to_string(&planning.audit_log).ok();
    let options = ReportOptions {
        policy_dir: Some(&planning.source.dir),
        git_ref: args.policy.git_ref.as_deref(),
        policy_dirty: planning.source.dirty,
        audit_log: log.as_deref(),
        since: args.since.as_deref(),
    };
    let review = report::generate(&planning.input(false), &options)
        .map_err(|e| Exit::new(Status::Error, e.to_string()))?;
    report::render(&review, args.format, out)?;
    Ok(Status::Success)
}
