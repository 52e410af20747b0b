//! `seatkeeper diff --base REV [--head REV]`: what a pull request changes, in access terms, and
//! what applying the head would do that the base would not.

use super::inputs::{load_ledger, load_policy_at, PolicySource};
use super::planning::{current_state, input_for, resolve_at};
use super::{Env, Exit, Status};
use crate::diff::{plan_delta, policy_diff};
use crate::planner;
use crate::policy::source::MAX_POLICY_FILE_BYTES;
use crate::render::diff::{file_diff, DiffReport};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

/// Output formats of `diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// For terminals and CI logs.
    Text,
    /// A PR comment.
    Markdown,
    /// For scripts.
    Json,
}

/// `diff` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy folder.
    #[arg(long, default_value = ".")]
    policy: PathBuf,
    /// The revision the PR starts from (e.g. `origin/main`).
    #[arg(long, value_name = "REV")]
    base: String,
    /// The PR's revision (default: the work tree as it is).
    #[arg(long, value_name = "REV")]
    head: Option<String>,
    /// Compare the plans of base and head against this snapshot (default: live state when
    /// credentials are set; without either, no plan delta).
    #[arg(long)]
    snapshot: Option<PathBuf>,
    /// Plan as of this time: RFC 3339, a date, or `+30d` from now.
    #[arg(long)]
    at: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
    /// Exit 2 when the PR changes access or the plan.
    #[arg(long)]
    detailed_exitcode: bool,
    #[command(flatten)]
    timeout: super::TimeoutArgs,
}

fn read_text(source: &PolicySource, path: &str) -> String {
    source
        .files
        .read(path, MAX_POLICY_FILE_BYTES)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Runs `diff`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let env = &env.until(args.timeout.timeout, super::DEFAULT_TIMEOUT)?;
    let now = resolve_at(args.at.as_deref(), env)?;
    let base = load_policy_at(&args.policy, Some(&args.base), env.policy_today(now), err).map_err(
        |e| {
            Exit::new(
                Status::Error,
                format!("the base policy ({}) does not load: {e}", args.base),
            )
        },
    )?;
    let head = load_policy_at(
        &args.policy,
        args.head.as_deref(),
        env.policy_today(now),
        err,
    )
    .map_err(|e| {
        let name = args.head.as_deref().unwrap_or("work tree");
        Exit::new(
            Status::Error,
            format!("the head policy ({name}) does not load: {e}"),
        )
    })?;
    let policy = policy_diff(&base.policy, &head.policy, now.date_naive());

    // The plan delta needs live state: a snapshot, or Atlassian when credentials are set.
    let has_credentials = env.api_token.is_some() || env.admin_api_key.is_some();
    let plan = match (&args.snapshot, has_credentials) {
        (None, false) => None,
        (snapshot, _) => {
            let (live, _) = current_state(snapshot.as_deref(), &head.policy, env, now, err)?;
            let (ledger, _) = load_ledger(&head.dir, &head.policy)?;
            let plan_for = |source: &PolicySource| {
                planner::plan(&input_for(source, &live, &ledger, now, None, false))
            };
            let (base_plan, head_plan) = (plan_for(&base), plan_for(&head));
            Some(plan_delta(&base_plan, &head_plan))
        }
    };

    let paths: BTreeSet<&String> = base.read.iter().chain(&head.read).collect();
    let files = paths
        .into_iter()
        .map(|p| {
            (
                p.clone(),
                file_diff(p, &read_text(&base, p), &read_text(&head, p)),
            )
        })
        .filter(|(_, d)| !d.is_empty())
        .collect();
    let report = DiffReport {
        base: args.base.clone(),
        head: match &args.head {
            Some(rev) => rev.clone(),
            None if head.dirty => "work tree (uncommitted changes)".into(),
            None => "work tree".into(),
        },
        policy,
        plan,
        files,
    };
    match args.format {
        DiffFormat::Text => crate::render::diff::text(&report, &super::render_options(env), out)?,
        DiffFormat::Markdown => crate::render::diff::markdown(&report, out)?,
        DiffFormat::Json => crate::render::diff::json(&report, out)?,
    }
    Ok(if args.detailed_exitcode && report.has_changes() {
        Status::Changes
    } else {
        Status::Success
    })
}
