//! `seatkeeper plan`: loads policy, live state and ledger, plans, renders. `plan --from PLAN`
//! renders a plan saved by `plan --out` instead, reading nothing else: one plan shown in
//! several formats (a CI log in text, a pull-request comment in markdown) without planning twice.

use super::planning::{Planning, StateArgs};
use super::{render_options, write_atomically, Env, Exit, PolicyArgs, Status, DEFAULT_TIMEOUT};
use crate::plan::{Plan, Rail, PLAN_FORMAT_VERSION};
use crate::render::{self, Format};
use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};

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
) -> anyhow::Result<Status> {
    if let Some(path) = &args.from {
        let plan = read_saved(path)?;
        render::render(&plan, args.format, &render_options(env), out)?;
        return Ok(detailed_status(&plan, args.detailed_exitcode));
    }
    let env = &env.until(args.state.timeout.timeout, DEFAULT_TIMEOUT)?;
    let planning = Planning::load(&args.policy, &args.state, env, err)?;
    let plan = planning.plan(args.allow_mass_removal)?;
    if let Some(path) = &args.out {
        let json = serde_json::to_vec_pretty(&plan)?;
        write_atomically(path, &json)
            .with_context(|| format!("cannot write plan {}", path.display()))?;
    }
    render::render(&plan, args.format, &render_options(env), out)?;
    let status = detailed_status(&plan, args.detailed_exitcode);
    // Freeing a large org, its policy and its plan one allocation at a time takes a tenth of a
    // second at 100,000 users, and the process exits right after: let a thread do it (or the
    // exit). If no thread can be started, the closure and with it everything is dropped here.
    let Planning {
        source,
        live,
        ledger,
        ..
    } = planning;
    let policy = source.policy;
    let _ = std::thread::Builder::new()
        .name("free-plan".into())
        .spawn(move || drop((plan, live, ledger, policy)));
    Ok(status)
}

/// Reads a plan saved by `plan --out`: a located message when it is not one, and a refusal when
/// a newer seatkeeper wrote it.
pub fn read_saved(path: &Path) -> anyhow::Result<Plan> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read plan {}", path.display()))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        Exit::new(
            Status::Error,
            format!(
                "{}:{}:{}: not a seatkeeper plan: {e}",
                path.display(),
                e.line(),
                e.column()
            ),
        )
    })?;
    if plan.format_version > PLAN_FORMAT_VERSION {
        return Err(Exit::new(
            Status::Error,
            format!(
                "{} has plan format {}, newer than this seatkeeper reads ({PLAN_FORMAT_VERSION}): \
                 upgrade seatkeeper",
                path.display(),
                plan.format_version
            ),
        )
        .into());
    }
    Ok(plan)
}
