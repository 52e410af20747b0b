//! `seatkeeper explain USER`: every product, whether the user holds it now and after the plan,
//! and why.

use super::{render_options, Env, PolicyArgs, StateArgs, Status, DEFAULT_TIMEOUT};
use crate::ops::{self, explain::ExplainRequest, CommandError};
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
) -> Result<Status, CommandError> {
    let ctx = &mut env.context(args.state.timeout.timeout, DEFAULT_TIMEOUT, err)?;
    let request = ExplainRequest {
        user: args.user.clone(),
        policy: args.policy.request(),
        state: args.state.request(),
    };
    let explanation = ops::explain::explain(&request, ctx)?;
    crate::render::render_explanation(&explanation, args.format, &render_options(env), out)?;
    Ok(Status::Success)
}
