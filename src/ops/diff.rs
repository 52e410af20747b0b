//! `diff`: what a pull request changes, in access terms, and what applying the head would do
//! that the base would not.

use super::inputs::{load_ledger, load_policy_at};
use super::planning::{current_state, input_for};
use super::{failed, CommandError, Context, PolicySource};
use crate::diff::{plan_delta, policy_diff};
use crate::planner;
use crate::policy::source::MAX_POLICY_FILE_BYTES;
use crate::render::diff::{file_diff, DiffReport};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Which two revisions of a policy to compare.
#[derive(Debug, Clone)]
pub struct DiffRequest {
    /// The policy folder.
    pub policy: PathBuf,
    /// The revision the PR starts from (e.g. `origin/main`).
    pub base: String,
    /// The PR's revision (`None`: the work tree as it is).
    pub head: Option<String>,
    /// Compare the plans of base and head against this snapshot (default: live state when
    /// credentials are set; without either, no plan delta).
    pub snapshot: Option<PathBuf>,
    /// Plan as of this time: RFC 3339, a date, or `+30d` from now.
    pub at: Option<String>,
}

fn read_text(source: &PolicySource, path: &str) -> String {
    source
        .files
        .read(path, MAX_POLICY_FILE_BYTES)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Compares the two revisions: the policy in access terms, the files, and (with live state)
/// the plans.
pub fn diff(request: &DiffRequest, ctx: &mut Context) -> Result<DiffReport, CommandError> {
    let now = ctx.resolve_at(request.at.as_deref())?;
    let today = ctx.today(now);
    let (dir, base_rev) = (&request.policy, &request.base);
    let base = load_policy_at(dir, Some(base_rev), today, ctx.err)
        .map_err(|e| failed(format!("the base policy ({base_rev}) does not load: {e}")))?;
    let head = load_policy_at(dir, request.head.as_deref(), today, ctx.err).map_err(|e| {
        let name = request.head.as_deref().unwrap_or("work tree");
        failed(format!("the head policy ({name}) does not load: {e}"))
    })?;
    let policy = policy_diff(&base.policy, &head.policy, now.date_naive());

    // The plan delta needs live state: a snapshot, or Atlassian when credentials are set.
    let plan = match (&request.snapshot, ctx.has_credentials()) {
        (None, false) => None,
        (snapshot, _) => {
            let (live, _) = current_state(snapshot.as_deref(), &head.policy, ctx, now)?;
            let (ledger, _) = load_ledger(&head.dir, &head.policy)?;
            let plan_for = |source: &PolicySource| {
                planner::plan(&input_for(source, &live, &ledger, now, None, false))
            };
            Some(plan_delta(&plan_for(&base), &plan_for(&head)))
        }
    };

    let paths: BTreeSet<&String> = base.read.iter().chain(&head.read).collect();
    let files = paths
        .into_iter()
        .map(|p| {
            let (old, new) = (read_text(&base, p), read_text(&head, p));
            (p.clone(), file_diff(p, &old, &new))
        })
        .filter(|(_, d)| !d.is_empty())
        .collect();
    Ok(DiffReport {
        base: request.base.clone(),
        head: match &request.head {
            Some(rev) => rev.clone(),
            None if head.dirty => "work tree (uncommitted changes)".into(),
            None => "work tree".into(),
        },
        policy,
        plan,
        files,
    })
}
