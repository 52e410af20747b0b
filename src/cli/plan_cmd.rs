//! `seatkeeper plan`: loads policy, live state and ledger, plans, renders.

use super::planning::{Planning, StateArgs};
use super::{render_options, write_atomically, Env, PolicyArgs, Status};
use crate::render::{self, ColorChoice, Format};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// `plan` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    #[command(flatten)]
    state: StateArgs,
    /// Save the plan (JSON) for `apply`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit 2 when the plan has changes (0 when none, 1 on error).
    #[arg(long)]
    detailed_exitcode: bool,
    /// Colour: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Lift the max-removals rail for this plan.
    #[arg(long)]
    allow_mass_removal: bool,
}

/// Runs `plan`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let plan = Planning::load(&args.policy, &args.state, env, err)?.plan(args.allow_mass_removal);
    if let Some(path) = &args.out {
        let json = serde_json::to_vec_pretty(&plan)?;
        write_atomically(path, &json)
            .with_context(|| format!("cannot write plan {}", path.display()))?;
    }
    render::render(&plan, args.format, &render_options(args.color, env), out)?;
    Ok(if args.detailed_exitcode && plan.has_changes() {
        Status::Changes
    } else {
        Status::Success
    })
}
