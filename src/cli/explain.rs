//! `seatkeeper explain USER`: every product, whether the user holds it now and after the plan,
//! and why.

use super::inputs::{load_ledger, load_policy_source, load_snapshot};
use super::plan_cmd::resolve_at;
use super::{render_options, Env, Exit, PolicyArgs, Status};
use crate::planner::{self, PlanInput};
use crate::render::{ColorChoice, Format};
use std::io::Write;
use std::path::PathBuf;

/// `explain` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The user: an email or an account id.
    user: String,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Read live state from this snapshot file.
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Explain as of this time: RFC 3339, a date, or `+30d` from now.
    #[arg(long)]
    at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Colour: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
}

/// Runs `explain`.
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
        return Err(Exit::new(Status::Error, "pass --snapshot FILE").into());
    };
    let live = load_snapshot(snapshot, err)?;
    let (ledger, _) = load_ledger(dir, policy)?;
    let input = PlanInput {
        policy,
        live: &live,
        ledger: &ledger,
        now,
        actor: None,
        policy_commit: source.commit.as_deref(),
        allow_mass_removal: false,
    };
    let Some(explanation) = planner::explain(&input, &args.user) else {
        return Err(Exit::new(
            Status::Error,
            format!(
                "no account with email or account id `{}` in {}",
                args.user,
                snapshot.display()
            ),
        )
        .into());
    };
    crate::render::render_explanation(
        &explanation,
        args.format,
        &render_options(args.color, env),
        out,
    )?;
    Ok(Status::Success)
}
