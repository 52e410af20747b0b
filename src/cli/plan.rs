//! `seatkeeper plan`: plans ([`ops::plan`]) and renders. `plan --from PLAN` renders a plan
//! saved by `plan --out` instead, reading nothing else: one plan shown in several formats (a CI
//! log in text, a pull-request comment in markdown) without planning twice.

use super::{render_options, Env, PolicyArgs, StateArgs, Status, DEFAULT_TIMEOUT};
use crate::ops::{self, plan::PlanRequest, CommandError};
use crate::plan::{Plan, Rail};
use crate::render::{self, Format};
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
    /// Lift the max-removals rail for this plan.
    #[arg(long)]
    allow_mass_removal: bool,
    /// Render this plan, saved by `plan --out`, instead of planning: no policy, snapshot or
    /// Atlassian is read. `--format` and `--detailed-exitcode` apply to it.
    #[arg(
        long,
        value_name = "PLAN",
        conflicts_with_all = ["policy", "git_ref", "snapshot", "at", "out", "allow_mass_removal"]
    )]
    from: Option<PathBuf>,
}

/// `--detailed-exitcode`: 3 when a mass-change rail (`max-removals`, `max-additions`) holds
/// actions back, because a human must look; 2 when there are changes; else 0. Other rails block
/// the same actions on every run (a budget, a synced group), so they do not change the code.
pub fn detailed_status(plan: &Plan, detailed: bool) -> Status {
    let held_back = plan
        .blocked
        .iter()
        .any(|b| matches!(b.rail, Rail::MaxRemovals | Rail::MaxAdditions));
    match (detailed, held_back, plan.has_changes()) {
        (false, _, _) => Status::Success,
        (true, true, _) => Status::Refused,
        (true, false, true) => Status::Changes,
        (true, false, false) => Status::Success,
    }
}

/// Runs `plan`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    if let Some(path) = &args.from {
        let plan = ops::plan::read_saved(path)?;
        render::render(&plan, args.format, &render_options(env), out)?;
        return Ok(detailed_status(&plan, args.detailed_exitcode));
    }
    let ctx = &mut env.context(args.state.timeout.timeout, DEFAULT_TIMEOUT, err)?;
    let request = PlanRequest {
        policy: args.policy.request(),
        state: args.state.request(),
        out: args.out.clone(),
        allow_mass_removal: args.allow_mass_removal,
    };
    let planned = ops::plan::plan(&request, ctx)?;
    render::render(&planned.plan, args.format, &render_options(env), out)?;
    let status = detailed_status(&planned.plan, args.detailed_exitcode);
    planned.free_in_background();
    Ok(status)
}
