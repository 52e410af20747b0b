//! `seatkeeper validate`: loads the policy and reports every problem at once; with `--live` or
//! `--snapshot`, also the policy lines that name nothing in the org (unknown safe users and
//! groups, another site).

use super::inputs::{load_policy_source, print_warnings};
use super::planning::{Planning, StateArgs};
use super::{Env, PolicyArgs, Status};
use std::io::Write;

/// `validate` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    policy: PolicyArgs,
    /// Also check the policy against the live org (needs credentials): safe users and groups
    /// that match nothing, a site that is not the org's.
    #[arg(long, conflicts_with = "snapshot")]
    live: bool,
    /// Also check the policy against this snapshot of the org, like `--live`.
    #[arg(long)]
    snapshot: Option<std::path::PathBuf>,
    /// Check dates as of this time: RFC 3339, a date, or `+30d` from now.
    #[arg(long)]
    at: Option<String>,
}

/// Runs `validate`. Dates are checked against today's date by the clock, or `--at`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let (source, warnings) = if args.live || args.snapshot.is_some() {
        let state = StateArgs {
            snapshot: args.snapshot.clone(),
            at: args.at.clone(),
        };
        let planning = Planning::load(&args.policy, &state, env, err)?;
        let warnings = crate::planner::live_checks(&planning.source.policy, &planning.live);
        (planning.source, warnings)
    } else {
        let now = super::planning::resolve_at(args.at.as_deref(), env)?;
        (
            load_policy_source(&args.policy, env.policy_today(now), err)?,
            Vec::new(),
        )
    };
    print_warnings(&warnings, err)?;
    let policy = &source.policy;
    writeln!(
        out,
        "{}: valid ({} products, {} safe users){}",
        source.label,
        policy.products.len(),
        policy.users.len(),
        match warnings.len() {
            0 if args.live || args.snapshot.is_some() => "; every line matches the org".into(),
            0 => String::new(),
            1 => "; 1 warning about the org".into(),
            n => format!("; {n} warnings about the org"),
        }
    )?;
    if let Some(words) = policy.safety.defaults_words() {
        writeln!(out, "{words}")?;
    }
    Ok(Status::Success)
}
