//! `seatkeeper report`: the access review. For every product, who holds a seat and why, last
//! activity and days left, dormant safe users, unmanaged members and seats against budget; with
//! `--since`, what changed since the last review.

use super::{Env, PolicyArgs, StateArgs, Status, DEFAULT_TIMEOUT};
use crate::ops::{self, report::ReportRequest, CommandError};
use crate::report::{self, ReportFormat};
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
) -> Result<Status, CommandError> {
    let ctx = &mut env.context(args.state.timeout.timeout, DEFAULT_TIMEOUT, err)?;
    let request = ReportRequest {
        policy: args.policy.request(),
        state: args.state.request(),
        since: args.since.clone(),
    };
    report::render(&ops::report::report(&request, ctx)?, args.format, out)?;
    Ok(Status::Success)
}
