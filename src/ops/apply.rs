//! `apply`: executes a saved plan (or plans, has the caller show it and confirm, then
//! executes), after checking it is still fresh, under the apply lock, recording every action in
//! the audit log. The run itself is [`crate::apply::run`]; this resolves its inputs and maps how
//! it stopped to an error kind.

use super::inputs::{load_ledger, load_policy, load_policy_at, PolicyRef, PolicySource};
use super::planning::{input_for, plan_live, resolve_write_at};
use super::session::Session;
use super::{failed, Clock, CommandError, Context, ErrorKind};
use crate::apply::journal::Journal;
use crate::apply::lock::{force_unlock, lock_path};
use crate::apply::observers::ProgressObserver;
use crate::apply::run::{self, ApplyError, ApplyJob, ApplyOptions};
use crate::apply::Headroom;
use crate::plan::{ActionKind, Plan};
use anyhow::Context as _;
use chrono::SecondsFormat;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What to apply, and how.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// A plan saved by `plan --out`; without it, apply plans now and asks.
    pub plan: Option<PathBuf>,
    /// The policy (for a saved plan, the folder it was made from when this is the default).
    pub policy: PolicyRef,
    /// Lift the max-removals rail.
    pub allow_mass_removal: bool,
    /// At most this many requests in flight.
    pub parallelism: usize,
    /// Remove an apply lock left behind by a killed run, and do nothing else.
    pub force_unlock: bool,
    /// Sandbox rehearsals only: the time of this apply, for its plan and its audit lines.
    pub at: Option<String>,
}

/// How an apply ended, when it did not fail.
pub enum Applied {
    /// The apply lock (this file) was removed (`force_unlock`); who held it, if anyone did.
    Unlocked(PathBuf, Option<String>),
    /// The plan made now has no changes: nothing was written.
    NoChanges,
    /// Every action is done and recorded in this audit log.
    Done(PathBuf),
}

/// Applies. Without a saved plan it plans now and hands the plan to `confirm`, which shows it
/// and, when it has changes, may refuse; the time `confirm` takes is not counted against the
/// deadline, since a human's time at the prompt is not the apply's.
pub fn apply(
    request: &ApplyRequest,
    ctx: &mut Context,
    confirm: &mut dyn FnMut(&Plan) -> Result<(), CommandError>,
) -> Result<Applied, CommandError> {
    // `at` writes simulated times into the audit log: refused before anything else unless the
    // writes go to a local sandbox. One time for the whole apply: the plan's (when it plans),
    // the policy's `today`, and every audit line's.
    let at = resolve_write_at("apply", request.at.as_deref(), ctx)?;
    let now = at.unwrap_or(ctx.clock.start());
    let clock = at.map_or(ctx.clock, Clock::Fixed);
    let policy = policy_for(request)?;
    let source = load_policy(&policy, ctx.today(now), ctx.err)?;
    let audit_path = source.audit_path()?;
    if request.force_unlock {
        let lock = lock_path(&audit_path);
        let holder = force_unlock(&lock)?;
        return Ok(Applied::Unlocked(lock, holder));
    }
    // Bad input (a plan file) is refused before anything reaches the network.
    let saved = request
        .plan
        .as_deref()
        .map(|p| read_plan(p, &source))
        .transpose()?;
    if let (Some(plan), Some(at)) = (&saved, at) {
        if at < plan.generated_at {
            return Err(failed(format!(
                "--at {} is before the plan was made ({}): an apply cannot be recorded before \
                 its plan; use a later --at, or make a new plan with \
                 `seatkeeper plan --at ... --out PLAN`",
                at.to_rfc3339_opts(SecondsFormat::Secs, true),
                plan.generated_at.to_rfc3339_opts(SecondsFormat::Secs, true)
            )));
        }
    }
    let session = Session::connect(ctx, &source.policy, request.parallelism)?;
    let actor_account = session.myself()?;
    let actor = ctx
        .actor
        .clone()
        .or(actor_account.clone())
        .unwrap_or_else(|| "unknown".into());
    let mut deadline = session.deadline;
    let (plan, headroom) = match saved {
        Some(plan) => {
            let headroom = verify_saved(&session, &policy, &source, &plan, &audit_path, ctx)?;
            (plan, headroom)
        }
        None => {
            // Every apply records an interrupted run's writes before anything else; here, before
            // planning, so the plan's ledger holds them.
            if Journal::beside(&audit_path).path().exists() {
                let mut progress = ProgressObserver::new(&mut *ctx.err);
                let interrupted = run::reconcile_interrupted(
                    session.client.as_ref(),
                    &audit_path,
                    &actor,
                    clock,
                    &mut progress,
                );
                let doing = "recording an interrupted apply, before any write";
                session.within(doing, interrupted)?.map_err(error_for)?;
            }
            let at = (actor_account.as_deref(), now);
            let allow = request.allow_mass_removal;
            let (plan, live) = plan_live(&session, &source, at, allow, ctx.err)?;
            let asked = std::time::Instant::now();
            confirm(&plan)?;
            if !plan.has_changes() {
                return Ok(Applied::NoChanges);
            }
            if let Some(d) = deadline.as_mut() {
                d.at += asked.elapsed();
            }
            let headroom = Headroom::of(&plan, &live);
            (plan, headroom)
        }
    };
    let options = ApplyOptions {
        allow_mass_removal: request.allow_mass_removal,
        parallelism: request.parallelism,
        clock,
        deadline,
    };
    let account = actor_account.as_deref();
    let applied = apply_plan(
        &session,
        &source,
        (&plan, &headroom),
        (&actor, account),
        &options,
        ctx.err,
    );
    // The reclaims this run did (and any a killed run did not tell yet) are emailed even when
    // some actions failed; what is not accepted is sent by the next run.
    let told = super::notify::after_apply(&source, &plan, clock, ctx);
    applied?;
    if let Some(notified) = told? {
        let failed = notified.failures();
        if failed > 0 {
            return Err(CommandError::new(
                ErrorKind::Partial,
                format!(
                    "every change is applied, but {failed} of {} email(s) were not accepted; \
                     they are recorded as failed and sent again by the next \
                     `seatkeeper apply` or `seatkeeper notify`",
                    notified.emails.len()
                ),
            ));
        }
    }
    Ok(Applied::Done(audit_path))
}

/// A saved plan is verified, not trusted: the actions are re-derived from the policy at the
/// plan's commit (the folder as it is when the plan was made from uncommitted changes or
/// outside git) and the live state read now, for the plan's time
/// ([`crate::apply::rails::check_derivation`]). Returns the licence headroom of the state read
/// (the derived plan's seat table: the seats as they are now, which a resumed run has changed).
fn verify_saved(
    session: &Session,
    policy: &PolicyRef,
    source: &PolicySource,
    plan: &Plan,
    audit_path: &Path,
    ctx: &mut Context,
) -> Result<Headroom, CommandError> {
    let at_commit;
    let policy_source = match (&plan.policy_commit, plan.policy_dirty) {
        (Some(commit), false) if source.commit.as_deref() != Some(commit.as_str()) => {
            let today = ctx.today(plan.generated_at);
            at_commit = load_policy_at(&policy.dir, Some(commit), today, ctx.err).map_err(|e| {
                failed(format!(
                    "the plan was made from policy commit {commit}, which cannot be read here \
                     ({e}); fetch it, or make a new plan with `seatkeeper plan --out PLAN`"
                ))
            })?;
            &at_commit
        }
        _ => source,
    };
    let live = session.read(&policy_source.policy, plan.generated_at)?;
    let (ledger, _) = load_ledger(&source.dir, &source.policy)?;
    let derived = crate::planner::plan(&input_for(
        policy_source,
        &live,
        &ledger,
        plan.generated_at,
        None,
        true,
    ));
    let recorded = crate::apply::freshness::recorded_for(
        &crate::audit_log::read_records(audit_path)?,
        &plan.id(),
    );
    let members: std::collections::HashMap<&str, std::collections::HashSet<&str>> = live
        .groups
        .iter()
        .map(|g| {
            (
                g.id.as_str(),
                g.members.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let done = |a: &crate::plan::Action| {
        let in_group = members
            .get(a.group_id.as_str())
            .is_some_and(|m| m.contains(a.account_id.as_str()));
        crate::apply::freshness::is_recorded(&recorded, a)
            || (a.kind == ActionKind::Add) == in_group
    };
    crate::apply::rails::check_derivation(plan, &derived, &live, done).map_err(error_for)?;
    Ok(Headroom::new(
        &derived.seats,
        Headroom::unbilled(plan, &live),
    ))
}

/// The policy folder: `--policy` when given (or when the working folder holds a policy);
/// otherwise, for `apply PLAN`, the folder the plan was made from, so a saved plan applies as it
/// stands, like terraform's.
fn policy_for(request: &ApplyRequest) -> Result<PolicyRef, CommandError> {
    let given = request.policy.dir != Path::new(".")
        || request.policy.rev.is_some()
        || Path::new(crate::policy::MAIN_FILE).exists();
    let Some(plan_path) = request.plan.as_deref().filter(|_| !given) else {
        return Ok(request.policy.clone());
    };
    let text = std::fs::read_to_string(plan_path)
        .with_context(|| format!("cannot read plan {}", plan_path.display()))?;
    let recorded = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| {
            v.get("policy_dir")
                .and_then(|d| d.as_str())
                .map(PathBuf::from)
        });
    match recorded {
        Some(dir) if dir.join(crate::policy::MAIN_FILE).is_file() => {
            Ok(PolicyRef { dir, rev: None })
        }
        Some(dir) => Err(failed(format!(
            "the plan was made from the policy folder {}, which has no {} here; run from that \
             folder's copy with `--policy DIR`",
            dir.display(),
            crate::policy::MAIN_FILE
        ))),
        None => Ok(request.policy.clone()),
    }
}

/// Reads and checks a saved plan: it must be for the policy's site.
pub fn read_plan(path: &Path, source: &PolicySource) -> Result<Plan, CommandError> {
    let plan = super::plan::read_saved(path)?;
    if plan.site != source.policy.site {
        let message = format!(
            "{} is a plan for {}, but the policy manages {}",
            path.display(),
            plan.site,
            source.policy.site
        );
        return Err(CommandError::new(ErrorKind::Refused, message));
    }
    Ok(plan)
}

/// Applies `plan` through `session` ([`crate::apply::run::apply_plan`]) as `actor` (and the
/// account behind the credentials), with the licence `headroom` of the state it was checked
/// against and progress on `err`; a run that did not finish every action is an error.
pub fn apply_plan(
    session: &Session,
    source: &PolicySource,
    (plan, headroom): (&Plan, &Headroom),
    (actor, actor_account): (&str, Option<&str>),
    options: &ApplyOptions,
    err: &mut dyn Write,
) -> Result<(), CommandError> {
    let audit_path = source.audit_path()?;
    let job = ApplyJob {
        plan,
        policy: &source.policy,
        audit_path: &audit_path,
        actor,
        actor_account,
        options: *options,
        headroom,
    };
    let directory = session.client.clone();
    let mut progress = ProgressObserver::new(err);
    let summary = session
        .block_on(run::apply_plan(
            session.client.as_ref(),
            directory,
            &job,
            &mut progress,
        ))
        .map_err(error_for)?;
    if summary.stopped {
        let deadline = options
            .deadline
            .map_or_else(|| "the time limit".to_string(), |d| d.to_string());
        let failed = match summary.failed {
            0 => String::new(),
            n => format!(", {n} failed"),
        };
        let unfinished = match summary.unfinished {
            0 => String::new(),
            n => format!(
                ", {n} still in flight when it stopped (whether they landed is recorded by the \
                 next apply)"
            ),
        };
        let message = format!(
            "stopped at {deadline}: {} of {} actions are done and in the audit log ({} by \
             earlier runs){failed}{unfinished}, {} not started; nothing was done twice: run \
             `seatkeeper apply` with the same plan again to do the rest",
            summary.recorded + summary.done + summary.already,
            plan.actions.len(),
            summary.recorded,
            summary.not_started,
        );
        return Err(CommandError::new(ErrorKind::Partial, message));
    }
    if summary.failed > 0 {
        let message = format!(
            "{} of {} actions failed (see above and the audit log); nothing was done twice: run \
             `seatkeeper apply` with the same plan again to converge",
            summary.failed,
            plan.actions.len()
        );
        return Err(CommandError::new(ErrorKind::Partial, message));
    }
    Ok(())
}

/// The error kind of each way an apply can stop early (DESIGN §5: 3 refused, 4 stale).
fn error_for(error: ApplyError) -> CommandError {
    let kind = match error {
        // Unexpected failures keep their causes for the `Caused by:` chain.
        ApplyError::Other(e) => return e.into(),
        ApplyError::Rail(_) | ApplyError::Lock(_) => ErrorKind::Refused,
        ApplyError::Stale(_) => ErrorKind::Stale,
        ApplyError::Mismatch { .. } | ApplyError::Reread { .. } | ApplyError::Deadline { .. } => {
            ErrorKind::Error
        }
    };
    CommandError::new(kind, error.to_string())
}
