//! `seatkeeper diff --base REV [--head REV]`: what a pull request changes, in access terms, and
//! what applying the head would do that the base would not.

use super::{Env, Status};
use crate::ops::{self, diff::DiffRequest, CommandError};
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

/// Runs `diff`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<Status, CommandError> {
    let ctx = &mut env.context(args.timeout.timeout, super::DEFAULT_TIMEOUT, err)?;
    let request = DiffRequest {
        policy: args.policy.clone(),
        base: args.base.clone(),
        head: args.head.clone(),
        snapshot: args.snapshot.clone(),
        at: args.at.clone(),
    };
    let report = ops::diff::diff(&request, ctx)?;
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
