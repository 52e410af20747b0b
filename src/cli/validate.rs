//! `seatkeeper validate`: loads the policy and reports every problem at once.

use super::inputs::load_policy_source;
use super::{Env, PolicyArgs, Status};
use crate::policy::Safety;
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
    let safety = &policy.safety;
    if !safety.defaulted.is_empty() {
        let rails: Vec<String> = safety
            .defaulted
            .iter()
            .map(|rail| match *rail {
                "max_removals" => format!(
                    "max_removals {} of a product's holders (at least 1)",
                    Safety::DEFAULT_MAX_REMOVALS
                ),
                other => format!("{other} {}", Safety::DEFAULT_MAX_ADDITIONS),
            })
            .collect();
        writeln!(
            out,
            "safety defaults apply: {}; write them under `safety:` to choose your own",
            rails.join(", ")
        )?;
    }
    Ok(Status::Success)
}
