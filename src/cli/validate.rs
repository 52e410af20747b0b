//! `seatkeeper validate`: loads the policy and reports every problem at once.

use super::inputs::load_policy;
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
    let policy = load_policy(&args.policy.policy, err)?;
    writeln!(
        out,
        "{}: valid ({} products, {} safe users)",
        args.policy.policy.display(),
        policy.products.len(),
        policy.users.len()
    )?;
    Ok(Status::Success)
}
