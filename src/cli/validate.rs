//! `seatkeeper validate`: loads the policy and reports every problem at once.

use super::inputs::load_policy_source;
use super::{Env, PolicyArgs, Status};
use std::io::Write;

/// `validate` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Runs `validate`. Dates are checked against today's date by the clock.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let source = load_policy_source(&args.policy, env.now.date_naive(), err)?;
    let policy = &source.policy;
    writeln!(
        out,
        "{}: valid ({} products, {} safe users)",
        source.label,
        policy.products.len(),
        policy.users.len()
    )?;
    if let Some(words) = policy.safety.defaults_words() {
        writeln!(out, "{words}")?;
    }
    Ok(Status::Success)
}
