//! `seatkeeper plan`: loads policy, live state and ledger, plans, renders.

use super::inputs::{load_ledger, load_policy_source, load_snapshot};
use super::{render_options, Env, Exit, PolicyArgs, Status};
use crate::planner::{self, PlanInput};
use crate::render::{self, ColorChoice, Format};
use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;

/// `plan` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Read live state from this snapshot file instead of Atlassian.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Plan as of this time: RFC 3339, a date, or `+30d` from now.
    #[arg(long)]
    at: Option<String>,
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
    let now = resolve_at(args.at.as_deref(), env)?;
    let source = load_policy_source(&args.policy, err)?;
    let (dir, policy) = (&source.dir, &source.policy);
    let Some(snapshot) = &args.snapshot else {
        return Err(Exit::new(
            Status::Error,
            "live reads are not available in this build yet: pass --snapshot FILE",
        )
        .into());
    };
    let live = load_snapshot(snapshot, err)?;
    let (ledger, _) = load_ledger(dir, policy)?;
    for w in &ledger.warnings {
        writeln!(err, "warning: {w}")?;
    }
    let input = PlanInput {
        policy,
        live: &live,
        ledger: &ledger,
        now,
        actor: None,
        policy_commit: source.commit.as_deref(),
        allow_mass_removal: args.allow_mass_removal,
    };
    let mut plan = planner::plan(&input);
    plan.policy_dirty = source.dirty;
    if let Some(path) = &args.out {
        let json = serde_json::to_vec_pretty(&plan)?;
        std::fs::write(path, json)
            .with_context(|| format!("cannot write plan {}", path.display()))?;
    }
    let opts = render_options(args.color, env);
    render::render(&plan, args.format, &opts, out)?;
    Ok(if args.detailed_exitcode && plan.has_changes() {
        Status::Changes
    } else {
        Status::Success
    })
}

/// Resolves `--at` against the clock.
pub fn resolve_at(at: Option<&str>, env: &Env) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    match at {
        None => Ok(env.now),
        Some(text) => crate::time::parse_at(text, env.now)
            .map_err(|e| Exit::new(Status::Error, format!("--at: {e}")).into()),
    }
}
