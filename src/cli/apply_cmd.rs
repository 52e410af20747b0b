//! `seatkeeper apply [PLAN]`: executes a saved plan (or plans, shows and asks first), after
//! checking it is still fresh, under the apply lock, recording every action in the audit log.

use super::inputs::{load_policy_source, PolicySource};
use super::live::{ApiDirectory, Session};
use super::planning::{make_plan, resolve_at};
use super::write_atomically;
use super::{
    parse_parallelism, render_options, Env, Exit, PolicyArgs, Status, DEFAULT_PARALLELISM,
};
use crate::apply::freshness::{self, recorded_for};
use crate::apply::lock::{force_unlock, host_name, lock_path, ApplyLock, Holder};
use crate::apply::observers::{AuditContext, AuditObserver, ProgressObserver};
use crate::apply::{execute, ApplySummary};
use crate::audit::AuditWriter;
use crate::ledger::{AuditKind, AuditRecord};
use crate::plan::{ActionKind, Plan, PLAN_FORMAT_VERSION};
use crate::render::{self, ColorChoice, Format};
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

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
    /// Colour: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Plan as of this time when no PLAN is given.
    #[arg(long)]
    at: Option<String>,
}

/// Runs `apply`.
pub fn run(
    args: &Args,
    env: &Env,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let source = load_policy_source(&args.policy, err)?;
    let audit_path = source.dir.join(&source.policy.audit_log);
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
    // Bad input (a plan file, --at) is refused before anything reaches the network.
    let now = resolve_at(args.at.as_deref(), env)?;
    let saved = args
        .plan
        .as_deref()
        .map(|p| read_plan(p, &source))
        .transpose()?;
    let session = Session::connect(env, &source.policy, args.parallelism)?;
    let actor_account = session.myself()?;
    let plan = match saved {
        Some(plan) => plan,
        None => {
            let live = session.read(&source.policy, now)?;
            let plan = make_plan(
                &source,
                &live,
                actor_account.as_deref(),
                now,
                args.allow_mass_removal,
                err,
            )?;
            render::render(&plan, Format::Text, &render_options(args.color, env), out)?;
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
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                if answer.trim() != "yes" {
                    return Err(Exit::new(Status::Refused, "apply cancelled").into());
                }
            }
            plan
        }
    };
    let actor = env
        .actor
        .clone()
        .or(actor_account.clone())
        .unwrap_or_else(|| "unknown".into());
    let options = ApplyOptions {
        allow_mass_removal: args.allow_mass_removal,
        parallelism: args.parallelism,
        pinned_time: None,
    };
    let outcome = apply_plan(
        &session,
        &source,
        &plan,
        &actor,
        actor_account.as_deref(),
        &options,
        err,
    )?;
    writeln!(out, "Audit log: {}", audit_path.display())?;
    Ok(outcome)
}

/// Reads and checks a saved plan.
pub fn read_plan(path: &Path, source: &PolicySource) -> anyhow::Result<Plan> {
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
            format!("{} has plan format {}, newer than this seatkeeper reads ({PLAN_FORMAT_VERSION}): upgrade seatkeeper", path.display(), plan.format_version),
        )
        .into());
    }
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

/// The rails, checked again on the actions about to run.
/// A saved plan is a file anyone could edit: every action must stay inside what the policy
/// manages (a grant group of its product) and inside the groups whose fingerprint was checked.
fn check_actions(plan: &Plan, source: &PolicySource) -> Result<(), Exit> {
    for a in &plan.actions {
        let granted = source
            .policy
            .product(&a.product)
            .is_some_and(|p| p.groups.iter().any(|g| g == &a.group));
        let problem = if !granted {
            Some(format!(
                "{} is not a grant group of {} in the policy",
                a.group, a.product
            ))
        } else if !plan.fingerprint.contains_key(&a.group_id) {
            Some(format!(
                "group {} ({}) has no fingerprint, so its freshness cannot be checked",
                a.group, a.group_id
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(Exit::new(
                Status::Error,
                format!(
                    "refusing the plan: the action `{} {} {}` does not match the policy: {problem}; make a new plan with `seatkeeper plan --out`",
                    a.kind.symbol(),
                    a.who(),
                    a.group
                ),
            ));
        }
    }
    Ok(())
}

fn check_rails(
    plan: &Plan,
    source: &PolicySource,
    actor: Option<&str>,
    allow_mass_removal: bool,
) -> Result<(), Exit> {
    check_actions(plan, source)?;
    if let Some(me) = actor {
        if let Some(a) = plan
            .actions
            .iter()
            .find(|a| a.kind == ActionKind::Remove && a.account_id == me)
        {
            return Err(Exit::new(
                Status::Refused,
                format!("refusing to apply: the plan removes {} from {}, which is the account running seatkeeper (rail `self`)", a.who(), a.group),
            ));
        }
    }
    let safety = &source.policy.safety;
    // Counted in accounts, like the planner: removing one account from two groups is one seat.
    let mut per_product: BTreeMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = BTreeMap::new();
    for a in &plan.actions {
        let entry = per_product.entry(a.product.as_str()).or_default();
        match a.kind {
            ActionKind::Add => entry.0.insert(a.account_id.as_str()),
            ActionKind::Remove => entry.1.insert(a.account_id.as_str()),
        };
    }
    for (product, (adds, removes)) in per_product {
        let (adds, removes) = (adds.len(), removes.len());
        let before = plan.seats.get(product).map_or(0, |s| s.before);
        if let (Some(limit), false) = (safety.max_removals, allow_mass_removal) {
            if removes > limit.resolve(before) {
                return Err(Exit::new(
                    Status::Refused,
                    format!("refusing to apply: {removes} removals in {product} exceed max_removals ({limit} of {before}); review and pass --allow-mass-removal"),
                ));
            }
        }
        if let Some(limit) = safety.max_additions {
            if adds > limit.resolve(before) {
                return Err(Exit::new(
                    Status::Refused,
                    format!("refusing to apply: {adds} additions in {product} exceed max_additions ({limit})"),
                ));
            }
        }
    }
    Ok(())
}

/// How to apply.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Lift the max-removals rail.
    pub allow_mass_removal: bool,
    /// At most this many writes in flight.
    pub parallelism: usize,
    /// Stamp audit lines with this time instead of the clock (the demo runs at a fixed time).
    pub pinned_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// Applies `plan` through `session`: rails, lock, freshness, observations, writes, audit.
pub fn apply_plan(
    session: &Session,
    source: &PolicySource,
    plan: &Plan,
    actor: &str,
    actor_account: Option<&str>,
    options: &ApplyOptions,
    err: &mut dyn Write,
) -> anyhow::Result<Status> {
    let audit_path = &source.dir.join(&source.policy.audit_log);
    check_rails(plan, source, actor_account, options.allow_mass_removal)?;
    let plan_id = plan.id();
    let holder = Holder {
        pid: std::process::id(),
        host: host_name(),
        actor: actor.to_string(),
        plan_id: plan_id.clone(),
        since: chrono::Utc::now(),
    };
    let _lock = ApplyLock::acquire(&lock_path(audit_path), &holder)
        .map_err(|e| Exit::new(Status::Refused, e.to_string()))?;
    let clock = move || options.pinned_time.unwrap_or_else(chrono::Utc::now);

    // A run that was killed leaves its plan in the journal: record what it wrote before
    // anything else, so no audit line is lost even when the next apply is a new plan.
    let journal = journal_path(audit_path);
    if let Some(previous) = read_journal(&journal)? {
        let found = reconcile(session, &previous, audit_path, actor, Box::new(clock))?;
        if found > 0 {
            writeln!(
                err,
                "Recorded {found} actions an interrupted apply (plan {}) made before it stopped.",
                previous.id()
            )?;
        }
        std::fs::remove_file(&journal)
            .with_context(|| format!("cannot remove {}", journal.display()))?;
    }

    // Fresh? Re-read every touched group and compare, discounting what this plan already did.
    let group_ids: Vec<String> = plan.fingerprint.keys().cloned().collect();
    let live = session
        .block_on(session.client.group_members(&group_ids))
        .map_err(|e| {
            Exit::new(
                Status::Error,
                format!("re-reading the touched groups failed: {e}"),
            )
        })?;
    let records = read_records(audit_path)?;
    let recorded = recorded_for(&records, &plan_id);
    let resume = freshness::check(plan, &live, &recorded).map_err(|stale| {
        let names: Vec<String> = stale
            .iter()
            .map(|g| format!("{} ({})", g.group, g.group_id))
            .collect();
        Exit::new(
            Status::Stale,
            format!(
                "the plan is stale: {} changed since it was made; run `seatkeeper plan` again",
                names.join(", ")
            ),
        )
    })?;

    let mut writer = AuditWriter::open(audit_path)?;
    let context = AuditContext {
        plan_id: plan_id.clone(),
        policy_commit: plan.policy_commit.clone(),
        actor: actor.to_string(),
    };
    let mut audit = AuditObserver::new(&mut writer, context, Box::new(clock));
    for observation in &plan.observed {
        let key = (
            AuditKind::Observed,
            observation.group_id.clone(),
            observation.account_id.clone(),
        );
        if !recorded.contains(&key) {
            audit.record_observed(observation)?;
        }
    }
    for action in &resume.in_effect {
        audit.record_in_effect(action)?;
    }
    let mut progress = ProgressObserver::new(err);
    let directory = std::sync::Arc::new(ApiDirectory(session.client.clone()));
    write_atomically(&journal, &serde_json::to_vec(plan)?)
        .with_context(|| format!("cannot write the apply journal {}", journal.display()))?;
    let summary: ApplySummary = session.block_on(execute(
        directory,
        resume.pending,
        resume.recorded + resume.in_effect.len(),
        options.parallelism,
        &mut [&mut audit, &mut progress],
    ))?;
    // Every action finished and is in the audit log: the journal has done its job.
    std::fs::remove_file(&journal)
        .with_context(|| format!("cannot remove {}", journal.display()))?;
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

/// The journal of the apply in progress: the plan being executed, next to the audit log.
fn journal_path(audit_path: &Path) -> PathBuf {
    let mut name = audit_path.as_os_str().to_os_string();
    name.push(".inflight.json");
    PathBuf::from(name)
}

fn read_journal(path: &Path) -> anyhow::Result<Option<Plan>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map(Some).with_context(|| {
            format!(
                "the apply journal {} is not a plan; if no apply is running, remove it",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Records the actions of an interrupted plan that are in effect but not in the audit log.
fn reconcile(
    session: &Session,
    previous: &Plan,
    audit_path: &Path,
    actor: &str,
    clock: Box<dyn Fn() -> chrono::DateTime<chrono::Utc> + '_>,
) -> anyhow::Result<usize> {
    let plan_id = previous.id();
    let group_ids: Vec<String> = previous.fingerprint.keys().cloned().collect();
    let live = session
        .block_on(session.client.group_members(&group_ids))
        .map_err(|e| {
            Exit::new(
                Status::Error,
                format!("re-reading the groups of an interrupted apply failed: {e}"),
            )
        })?;
    let recorded = recorded_for(&read_records(audit_path)?, &plan_id);
    let mut writer = AuditWriter::open(audit_path)?;
    let context = AuditContext {
        plan_id,
        policy_commit: previous.policy_commit.clone(),
        actor: actor.to_string(),
    };
    let mut audit = AuditObserver::new(&mut writer, context, clock);
    let mut found = 0;
    for action in &previous.actions {
        let kind = match action.kind {
            ActionKind::Add => AuditKind::Add,
            ActionKind::Remove => AuditKind::Remove,
        };
        if recorded.contains(&(kind, action.group_id.clone(), action.account_id.clone())) {
            continue;
        }
        let member = live
            .get(&action.group_id)
            .is_some_and(|m| m.contains(&action.account_id));
        if member == (action.kind == ActionKind::Add) {
            audit.record_in_effect(action)?;
            found += 1;
        }
    }
    Ok(found)
}

/// Every readable record of the audit log (unreadable lines are skipped: the ledger warns).
fn read_records(path: &Path) -> anyhow::Result<Vec<AuditRecord>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(crate::ledger::parse_records(&text).0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read audit log {}", path.display())),
    }
}
