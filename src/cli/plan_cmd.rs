//! `seatkeeper plan`: loads policy, live state and ledger, plans, renders.

use super::inputs::{load_ledger, load_policy_source, load_snapshot, PolicySource};
use super::live::Session;
use super::{render_options, Env, Exit, PolicyArgs, Status};
use super::{write_atomically, DEFAULT_PARALLELISM};
use crate::live::LiveState;
use crate::plan::Plan;
use crate::planner::{self, PlanInput};
use crate::policy::Policy;
use crate::render::{self, ColorChoice, Format};
use anyhow::Context;
use chrono::{DateTime, Utc};
use std::io::Write;
use std::path::Path;
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
    let (live, actor) = current_state(args.snapshot.as_deref(), &source.policy, env, now, err)?;
    let plan = make_plan(
        &source,
        &live,
        actor.as_deref(),
        now,
        args.allow_mass_removal,
        err,
    )?;
    if let Some(path) = &args.out {
        let json = serde_json::to_vec_pretty(&plan)?;
        write_atomically(path, &json)
            .with_context(|| format!("cannot write plan {}", path.display()))?;
    }
    let opts = render_options(args.color, env);
    render::render(&plan, args.format, &opts, out)?;
    let status = if args.detailed_exitcode && plan.has_changes() {
        Status::Changes
    } else {
        Status::Success
    };
    // Freeing a large org and its plan one allocation at a time takes a tenth of a second at
    // 100,000 users, and the process exits right after: let a thread do it (or the exit). If
    // no thread can be started, the closure and with it everything is dropped right here.
    let policy = source.policy;
    let _ = std::thread::Builder::new()
        .name("free-plan".into())
        .spawn(move || drop((plan, live, policy)));
    Ok(status)
}

/// Live state from a snapshot file, or read from Atlassian with the account behind the
/// credentials (for the `self` rail).
pub fn current_state(
    snapshot: Option<&Path>,
    policy: &Policy,
    env: &Env,
    now: DateTime<Utc>,
    err: &mut dyn Write,
) -> anyhow::Result<(LiveState, Option<String>)> {
    match snapshot {
        Some(path) => Ok((load_snapshot(path, err)?, None)),
        None => {
            let session = Session::connect(env, policy, DEFAULT_PARALLELISM)?;
            let actor = session.myself()?;
            Ok((session.read(policy, now)?, actor))
        }
    }
}

/// Plans `live` against the loaded policy and its ledger; ledger warnings go to `err`.
pub fn make_plan(
    source: &PolicySource,
    live: &LiveState,
    actor: Option<&str>,
    now: DateTime<Utc>,
    allow_mass_removal: bool,
    err: &mut dyn Write,
) -> anyhow::Result<Plan> {
    let (ledger, _) = load_ledger(&source.dir, &source.policy)?;
    for w in &ledger.warnings {
        writeln!(err, "warning: {w}")?;
    }
    let input = PlanInput {
        policy: &source.policy,
        live,
        ledger: &ledger,
        now,
        actor,
        policy_commit: source.commit.as_deref(),
        allow_mass_removal,
    };
    let mut plan = planner::plan(&input);
    plan.policy_dirty = source.dirty;
    Ok(plan)
}

/// Resolves `--at` against the clock.
pub fn resolve_at(at: Option<&str>, env: &Env) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    match at {
        None => Ok(env.now),
        Some(text) => crate::time::parse_at(text, env.now)
            .map_err(|e| Exit::new(Status::Error, format!("--at: {e}")).into()),
    }
}
