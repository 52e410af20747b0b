//! `seatkeeper validate`: loads the policy and reports every problem at once.

use super::inputs::load_policy_source;
use super::{PolicyArgs, Status};
use std::io::Write;

/// `validate` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
}

/// Runs `validate`.
pub fn run(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<Status> {
    let source = load_policy_source(&args.policy, err)?;
    let policy = &source.policy;
    writeln!(
        out,
        "{}: valid ({} products, {} safe users)",
        source.label,
        policy.products.len(),
        policy.users.len()
    )?;
    Ok(Status::Success)
}
