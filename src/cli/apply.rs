//! `seatkeeper apply [PLAN]`: executes a saved plan (or plans, shows and asks first), after
//! checking it is still fresh, under the apply lock, recording every action in the audit log.
//! The apply itself is [`crate::apply::run`]; this is the edge: arguments, the prompt, progress
//! on the terminal and exit codes.

use super::inputs::{load_ledger, load_policy_at, load_policy_source, PolicySource};
use super::planning::{input_for, make_plan, resolve_write_at};
use super::session::{ApiDirectory, Session};
use super::{
    parse_parallelism, render_options, Env, Exit, PolicyArgs, Status, DEFAULT_PARALLELISM,
};
use crate::apply::journal::Journal;
use crate::apply::lock::{force_unlock, lock_path};
use crate::apply::observers::ProgressObserver;
use crate::apply::run::{self, ApplyError, ApplyJob, ApplyOptions, AuditClock};
use crate::apply::Headroom;
use crate::plan::{ActionKind, Plan};
use crate::render::{self, Format};
use anyhow::Context;
use chrono::SecondsFormat;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `apply` arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A plan saved by `plan --out`. Without it, apply plans now, shows the plan and asks.
    plan: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    /// Lift the max-removals rail.
    #[arg(long)]
    allow_mass_removal: bool,
    /// At most this many requests in flight (1 to 64).
    #[arg(long, default_value_t = DEFAULT_PARALLELISM, value_parser = parse_parallelism)]
    parallelism: usize,
    /// Remove an apply lock left behind by a killed run, then exit.
    #[arg(long)]
    force_unlock: bool,
    /// Sandbox rehearsals only (SEATKEEPER_API_BASE on 127.0.0.1, ::1 or localhost): the time
    /// of this apply. Without PLAN it plans for this time; the audit lines are stamped with it
    /// (with PLAN, not earlier than the plan's generated_at). RFC 3339, a date, or `+30d`.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    #[command(flatten)]
    timeout: super::TimeoutArgs,
}

/// Runs `apply`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    // `--at` writes simulated times into the audit log: refused before anything else unless the
    // writes go to a local sandbox. One time for the whole apply: the plan's (when it plans),
    // the policy's `today`, and every audit line's.
    let env = &env.until(args.timeout.timeout, super::DEFAULT_APPLY_TIMEOUT)?;
    let at = resolve_write_at("apply", args.at.as_deref(), env)?;
    let now = at.unwrap_or(env.now);
    let clock = at.map_or(AuditClock::Wall, AuditClock::At);
    let policy_args = policy_for(args)?;
    let source = load_policy_source(&policy_args, env.policy_today(now), err)?;
    let audit_path = source.audit_path()?;
    let lock_file = lock_path(&audit_path);
    if args.force_unlock {
        match force_unlock(&lock_file)? {
            Some(holder) => writeln!(
                out,
                "Removed the apply lock {} (was: {holder})",
                lock_file.display()
            )?,
            None => writeln!(out, "No apply lock at {}", lock_file.display())?,
        }
        return Ok(Status::Success);
    }
    // Bad input (a plan file) is refused before anything reaches the network.
    let saved = args
        .plan
        .as_deref()
        .map(|p| read_plan(p, &source))
        .transpose()?;
    if let (Some(plan), Some(at)) = (&saved, at) {
        if at < plan.generated_at {
            return Err(Exit::new(
                Status::Error,
                format!(
                    "--at {} is before the plan was made ({}): an apply cannot be recorded \
                     before its plan; use a later --at, or make a new plan with \
                     `seatkeeper plan --at ... --out PLAN`",
                    at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    plan.generated_at.to_rfc3339_opts(SecondsFormat::Secs, true)
                ),
            )
            .into());
        }
    }
    let session = Session::connect(env, &source.policy, args.parallelism)?;
    let actor_account = session.myself()?;
    let actor = env
        .actor
        .clone()
        .or(actor_account.clone())
        .unwrap_or_else(|| "unknown".into());
    // A human's time at the prompt is not the apply's: the deadline moves by it.
    let mut deadline = session.deadline;
    let (plan, headroom) = match saved {
        Some(plan) => {
            let headroom = verify_saved(
                &session,
                &policy_args,
                &source,
                &plan,
                &audit_path,
                env,
                err,
            )?;
            (plan, headroom)
        }
        None => {
            // Every apply records an interrupted run's writes before anything else; here, before
            // planning, so the plan's ledger holds them.
            if Journal::beside(&audit_path).path().exists() {
                let mut progress = ProgressObserver::new(err);
                session
                    .within(
                        "recording an interrupted apply, before any write",
                        run::reconcile_interrupted(
                            session.client.as_ref(),
                            &audit_path,
                            &actor,
                            clock,
                            &mut progress,
                        ),
                    )?
                    .map_err(exit_for)?;
            }
            let (live, grants) = session.read_with_grants(&source.policy, now, err)?;
            let mut plan = make_plan(
                &source,
                &live,
                actor_account.as_deref(),
                now,
                args.allow_mass_removal,
                err,
            )?;
            session.annotate(&mut plan, &source.policy, &live, grants)?;
            render::render(&plan, Format::Text, &render_options(env), out)?;
            if !plan.has_changes() {
                return Ok(Status::Success);
            }
            if !args.auto_approve {
                if !env.stdin_is_terminal {
                    return Err(Exit::new(
                        Status::Refused,
                        "there is no terminal to confirm on: pass --auto-approve, or save the plan \
                         with `seatkeeper plan --out PLAN` and run `seatkeeper apply PLAN`",
                    )
                    .into());
                }
                write!(out, "\nApply these changes? Only 'yes' is accepted: ")?;
                out.flush()?;
                let asked = std::time::Instant::now();
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                if let Some(d) = deadline.as_mut() {
                    d.at += asked.elapsed();
                }
                if answer.trim() != "yes" {
                    return Err(Exit::new(Status::Refused, "apply cancelled").into());
                }
            }
            let headroom = Headroom::of(&plan, &live);
            (plan, headroom)
        }
    };
    let options = ApplyOptions {
        allow_mass_removal: args.allow_mass_removal,
        parallelism: args.parallelism,
        clock,
        deadline,
    };
    let outcome = apply_plan(
        &session,
        &source,
        (&plan, &headroom),
        &actor,
        actor_account.as_deref(),
        &options,
        err,
    )?;
    writeln!(out, "Audit log: {}", audit_path.display())?;
    Ok(outcome)
}

/// A saved plan is verified, not trusted: the actions are re-derived from the policy at the
/// plan's commit (the folder as it is when the plan was made from uncommitted changes or
/// outside git) and the live state read now, for the plan's time
/// ([`crate::apply::rails::check_derivation`]). Returns the licence headroom of the state read
/// (the derived plan's seat table: the seats as they are now, which a resumed run has changed).
fn verify_saved(
    session: &Session,
    policy_args: &PolicyArgs,
    source: &PolicySource,
    plan: &Plan,
    audit_path: &Path,
    env: &Env,
    err: &mut dyn Write,
) -> anyhow::Result<Headroom> {
    let at_commit;
    let policy_source = match (&plan.policy_commit, plan.policy_dirty) {
        (Some(commit), false) if source.commit.as_deref() != Some(commit.as_str()) => {
            at_commit = load_policy_at(
                &policy_args.policy,
                Some(commit),
                env.policy_today(plan.generated_at),
                err,
            )
            .map_err(|e| {
                Exit::new(
                    Status::Error,
                    format!(
                        "the plan was made from policy commit {commit}, which cannot be read here \
                         ({e}); fetch it, or make a new plan with `seatkeeper plan --out PLAN`"
                    ),
                )
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
    let recorded =
        crate::apply::freshness::recorded_for(&crate::audit::read_records(audit_path)?, &plan.id());
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
    crate::apply::rails::check_derivation(plan, &derived, &live, done).map_err(exit_for)?;
    Ok(Headroom::new(
        &derived.seats,
        Headroom::unbilled(plan, &live),
    ))
}

/// The policy folder: `--policy` when given (or when the working folder holds a policy);
/// otherwise, for `apply PLAN`, the folder the plan was made from, so a saved plan applies as it
/// stands, like terraform's.
fn policy_for(args: &Args) -> anyhow::Result<PolicyArgs> {
    let given = args.policy.policy != Path::new(".")
        || args.policy.git_ref.is_some()
        || Path::new(crate::policy::MAIN_FILE).exists();
    let Some(plan_path) = args.plan.as_deref().filter(|_| !given) else {
        return Ok(args.policy.clone());
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
        Some(dir) if dir.join(crate::policy::MAIN_FILE).is_file() => Ok(PolicyArgs {
            policy: dir,
            git_ref: None,
        }),
        Some(dir) => Err(Exit::new(
            Status::Error,
            format!(
                "the plan was made from the policy folder {}, which has no {} here; run from \
                 that folder's copy with `--policy DIR`",
                dir.display(),
                crate::policy::MAIN_FILE
            ),
        )
        .into()),
        None => Ok(args.policy.clone()),
    }
}

/// Reads and checks a saved plan: it must be for the policy's site.
pub fn read_plan(path: &Path, source: &PolicySource) -> anyhow::Result<Plan> {
    let plan = super::plan::read_saved(path)?;
    if plan.site != source.policy.site {
        return Err(Exit::new(
            Status::Refused,
            format!(
                "{} is a plan for {}, but the policy manages {}",
                path.display(),
                plan.site,
                source.policy.site
            ),
        )
        .into());
    }
    Ok(plan)
}

/// Applies `plan` through `session` ([`crate::apply::run::apply_plan`]), with the licence
/// `headroom` of the state it was checked against and progress on `err`, and maps the outcome
/// to an exit status.
pub fn apply_plan(
    session: &Session,
    source: &PolicySource,
    (plan, headroom): (&Plan, &Headroom),
    actor: &str,
    actor_account: Option<&str>,
    options: &ApplyOptions,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
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
    let directory = Arc::new(ApiDirectory(session.client.clone()));
    let mut progress = ProgressObserver::new(err);
    let summary = session
        .block_on(run::apply_plan(
            session.client.as_ref(),
            directory,
            &job,
            &mut progress,
        ))
        .map_err(exit_for)?;
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
        return Err(Exit::new(
            Status::Partial,
            format!(
                "stopped at {deadline}: {} of {} actions are done and in the audit log ({} by \
                 earlier runs){failed}{unfinished}, {} not started; nothing was done twice: run \
                 `seatkeeper apply` with the same plan again to do the rest",
                summary.recorded + summary.done + summary.already,
                plan.actions.len(),
                summary.recorded,
                summary.not_started,
            ),
        )
        .into());
    }
    if summary.failed > 0 {
        return Err(Exit::new(
            Status::Partial,
            format!(
                "{} of {} actions failed (see above and the audit log); nothing was done twice: \
                 run `seatkeeper apply` with the same plan again to converge",
                summary.failed,
                plan.actions.len()
            ),
        )
        .into());
    }
    Ok(Status::Success)
}

/// The exit status of each way an apply can stop early (DESIGN §5: 3 refused, 4 stale).
fn exit_for(error: ApplyError) -> anyhow::Error {
    let status = match error {
        // Unexpected failures keep their causes for the `Caused by:` chain.
        ApplyError::Other(e) => return e,
        ApplyError::Rail(_) | ApplyError::Lock(_) => Status::Refused,
        ApplyError::Stale(_) => Status::Stale,
        ApplyError::Mismatch { .. } | ApplyError::Reread { .. } | ApplyError::Deadline { .. } => {
            Status::Error
        }
    };
    Exit::new(status, error.to_string()).into()
}
