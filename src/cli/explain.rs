//! `seatkeeper explain USER`: every product, whether the user holds it now and after the plan,
//! and why.

use super::planning::{Planning, StateArgs};
use super::{render_options, Env, Exit, PolicyArgs, Status, DEFAULT_TIMEOUT};
use crate::planner;
use crate::render::Format;
use std::io::Write;

/// `explain` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user: an email or an account id.
    user: String,
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// Runs `explain`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let env = &env.until(args.state.timeout.timeout, DEFAULT_TIMEOUT)?;
    let planning = Planning::load(&args.policy, &args.state, env, err)?;
    // The policy lines that match nothing live change what anyone may hold: say them here too.
    super::inputs::print_warnings(
        &planner::live_checks(&planning.source.policy, &planning.live),
        err,
    )?;
    let Some(explanation) = planner::explain(&planning.input(false), &args.user) else {
        return Err(Exit::new(
            Status::Error,
            format!(
                "no account with email or account id `{}` in {}",
                args.user, planning.state_label
            ),
        )
        .into());
    };
    crate::render::render_explanation(&explanation, args.format, &render_options(env), out)?;
    Ok(Status::Success)
}
