//! What every planning command loads: the policy, live state (a snapshot or Atlassian), the
//! ledger from the audit log and the time, bundled as [`Planning`], with the shared
//! `--snapshot`/`--at` arguments.

use super::inputs::{
    load_ledger, load_policy_source, load_snapshot, report_snapshot, PolicySource,
};
use super::session::Session;
use super::{Env, Exit, PolicyArgs, Status, DEFAULT_PARALLELISM};
use crate::ledger::Ledger;
use crate::live::LiveState;
use crate::plan::Plan;
use crate::planner::{self, PlanInput};
use crate::policy::Policy;
use chrono::{DateTime, Utc};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where live state comes from, and when to plan.
#[derive(Debug, Clone, clap::Args)]
pub struct StateArgs {
    /// Read live state from this snapshot file instead of Atlassian.
    #[arg(long)]
    pub snapshot: Option<PathBuf>,
    /// Plan as of this time: RFC 3339, a date, or `+30d` from now (with `--snapshot`: from the
    /// snapshot's time, a forecast of the org it holds).
    #[arg(long)]
    pub at: Option<String>,
    #[command(flatten)]
    pub timeout: super::TimeoutArgs,
}

impl StateArgs {
    /// `--at` when it is relative (`+30d`).
    fn relative_at(&self) -> Option<&str> {
        self.at.as_deref().filter(|a| a.starts_with('+'))
    }
}

/// Everything the planner reads, loaded for one command.
pub struct Planning {
    /// The policy and where it came from.
    pub source: PolicySource,
    /// Live state.
    pub live: LiveState,
    /// The ledger read from the audit log.
    pub ledger: Ledger,
    /// The audit log's path.
    pub audit_log: PathBuf,
    /// The account behind the credentials, when live state was read.
    pub actor: Option<String>,
    /// The time planned for.
    pub now: DateTime<Utc>,
    /// Where the live state came from, for messages.
    pub state_label: String,
    /// The connection live state was read through, and what it said about access paths beyond
    /// the policy's groups (admin path): [`Planning::plan`] adds their warnings.
    pub live_session: Option<(Session, Option<crate::grants::Grants>)>,
}

/// A snapshot taken more than a day before (or any time after) the time planned for describes
/// another day's org: say so, with the `--at` that plans as of the snapshot.
fn warn_if_stale(
    path: &std::path::Path,
    live: &LiveState,
    now: DateTime<Utc>,
    err: &mut dyn Write,
) -> anyhow::Result<()> {
    let gap = now - live.taken_at;
    let taken = live
        .taken_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if gap > chrono::TimeDelta::days(1) {
        writeln!(
            err,
            "warning: the snapshot {} was taken at {taken}, {} days before the time planned for; \
             its memberships and activity are that old\n  hint: plan as of the snapshot with \
             `--at {taken}`, or take a fresh one with `seatkeeper export --snapshot`",
            path.display(),
            gap.num_days()
        )?;
    } else if gap < -chrono::TimeDelta::hours(1) {
        writeln!(
            err,
            "warning: the snapshot {} was taken at {taken}, after the time planned for: activity \
             it holds lies in that plan's future\n  hint: plan with `--at {taken}` or later",
            path.display()
        )?;
    }
    Ok(())
}

impl Planning {
    /// Loads the policy, live state and ledger named by the arguments.
    pub fn load(
        policy: &PolicyArgs,
        state: &StateArgs,
        env: &Env,
        err: &mut dyn Write,
    ) -> anyhow::Result<Self> {
        if let (Some(at), Some(path)) = (state.relative_at(), state.snapshot.as_deref()) {
            // A forecast from a snapshot counts from the snapshot's time, not the wall clock's.
            let loaded = crate::files::load_snapshot(path);
            let base = loaded.as_ref().map_or(env.now, |l| l.taken_at);
            let now = resolve_at_from(at, env, base)?;
            let source = load_policy_source(policy, env.policy_today(now), err)?;
            return Self::with_state(source, Some((path, loaded)), now, true, env, err);
        }
        let now = resolve_at(state.at.as_deref(), env)?;
        let today = env.policy_today(now);
        // A snapshot file needs nothing from the policy: read it on a second thread while the
        // policy loads. Policy problems are reported first (and alone), as when run in turn.
        let (source, snapshot) = match state.snapshot.as_deref() {
            Some(path) => {
                let (source, loaded) = crate::par::join(
                    || load_policy_source(policy, today, err),
                    || crate::files::load_snapshot(path),
                );
                (source, Some((path, loaded)))
            }
            None => (load_policy_source(policy, today, err), None),
        };
        Self::with_state(source?, snapshot, now, false, env, err)
    }

    /// Like [`Planning::load`], for a policy already loaded.
    pub fn from_source(
        source: PolicySource,
        state: &StateArgs,
        env: &Env,
        err: &mut dyn Write,
    ) -> anyhow::Result<Self> {
        let snapshot = state
            .snapshot
            .as_deref()
            .map(|path| (path, crate::files::load_snapshot(path)));
        let base = match (&snapshot, state.relative_at()) {
            (Some((_, Ok(live))), Some(_)) => live.taken_at,
            _ => env.now,
        };
        let now = resolve_at_from(state.at.as_deref().unwrap_or_default(), env, base)?;
        let forecast = state.relative_at().is_some() && snapshot.is_some();
        Self::with_state(source, snapshot, now, forecast, env, err)
    }

    /// The live state (a loaded snapshot, or a read from Atlassian) and the ledger for
    /// `source`. A `forecast` plans a snapshot ahead of its time on purpose: no stale warning.
    fn with_state(
        source: PolicySource,
        snapshot: Option<(&Path, Result<LiveState, Vec<crate::policy::Diagnostic>>)>,
        now: DateTime<Utc>,
        forecast: bool,
        env: &Env,
        err: &mut dyn Write,
    ) -> anyhow::Result<Self> {
        let label = snapshot
            .as_ref()
            .map(|(path, _)| path.display().to_string());
        let (live, actor, live_session) = match snapshot {
            Some((path, loaded)) => {
                let live = report_snapshot(path, loaded, err)?;
                if !forecast {
                    warn_if_stale(path, &live, now, err)?;
                }
                (live, None, None)
            }
            None => {
                let session = Session::connect(env, &source.policy, DEFAULT_PARALLELISM)?;
                let actor = session.myself()?;
                let (live, grants) = session.read_with_grants(&source.policy, now, err)?;
                (live, actor, Some((session, grants)))
            }
        };
        let mut planning = Self::from_parts(source, live, actor, now, err)?;
        planning.live_session = live_session;
        if let Some(label) = label {
            planning.state_label = label;
        }
        Ok(planning)
    }

    /// Bundles a loaded policy with live state already read, loading the ledger (its warnings go
    /// to `err`).
    pub fn from_parts(
        source: PolicySource,
        live: LiveState,
        actor: Option<String>,
        now: DateTime<Utc>,
        err: &mut dyn Write,
    ) -> anyhow::Result<Self> {
        let (ledger, audit_log) = read_ledger(&source, err)?;
        Ok(Self {
            source,
            live,
            ledger,
            audit_log,
            actor,
            now,
            state_label: "the live org".into(),
            live_session: None,
        })
    }

    /// The planner's input.
    pub fn input(&self, allow_mass_removal: bool) -> PlanInput<'_> {
        let actor = self.actor.as_deref();
        input_for(
            &self.source,
            &self.live,
            &self.ledger,
            self.now,
            actor,
            allow_mass_removal,
        )
    }

    /// Plans, marking a dirty policy work tree; on a live read, with the warnings of access
    /// paths beyond the policy's groups ([`Session::annotate`]).
    pub fn plan(&self, allow_mass_removal: bool) -> anyhow::Result<Plan> {
        let mut plan = plan_with(&self.source, &self.input(allow_mass_removal));
        if let Some((session, grants)) = &self.live_session {
            session.annotate(&mut plan, &self.source.policy, &self.live, grants.clone())?;
        }
        Ok(plan)
    }
}

/// Plans live state read by a caller that keeps the policy source (apply, demo).
pub fn make_plan(
    source: &PolicySource,
    live: &LiveState,
    actor: Option<&str>,
    now: DateTime<Utc>,
    allow_mass_removal: bool,
    err: &mut dyn Write,
) -> anyhow::Result<Plan> {
    let (ledger, _) = read_ledger(source, err)?;
    Ok(plan_with(
        source,
        &input_for(source, live, &ledger, now, actor, allow_mass_removal),
    ))
}

fn read_ledger(source: &PolicySource, err: &mut dyn Write) -> anyhow::Result<(Ledger, PathBuf)> {
    let (ledger, path) = load_ledger(&source.dir, &source.policy)?;
    for w in &ledger.warnings {
        writeln!(err, "warning: {w}")?;
    }
    Ok((ledger, path))
}

/// The planner's input for a loaded policy and live state.
pub fn input_for<'a>(
    source: &'a PolicySource,
    live: &'a LiveState,
    ledger: &'a Ledger,
    now: DateTime<Utc>,
    actor: Option<&'a str>,
    allow_mass_removal: bool,
) -> PlanInput<'a> {
    PlanInput {
        policy: &source.policy,
        live,
        ledger,
        now,
        actor,
        policy_commit: source.commit.as_deref(),
        allow_mass_removal,
    }
}

fn plan_with(source: &PolicySource, input: &PlanInput<'_>) -> Plan {
    let mut plan = planner::plan(input);
    plan.policy_dirty = source.dirty;
    plan.policy_dir = source
        .dir
        .canonicalize()
        .ok()
        .map(|d| d.display().to_string());
    plan
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

/// Resolves `--at` of a command that writes the audit log (`apply`). There it sets the times
/// of audit lines, which must say when changes really happened, so it is only for rehearsals
/// against a local sandbox (`SEATKEEPER_API_BASE` on 127.0.0.1, ::1 or localhost). Anywhere
/// else it is refused with exit 1 before any request. `None` without `--at`.
pub fn resolve_write_at(
    command: &str,
    at: Option<&str>,
    env: &Env,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let Some(text) = at else {
        return Ok(None);
    };
    if !crate::atlassian::is_loopback_base(env.api_base.as_deref()) {
        let target = match env.api_base.as_deref() {
            None => "Atlassian Cloud".to_string(),
            // Only the host: never echo the rest of the URL (it could carry a credential).
            Some(base) => reqwest::Url::parse(base.trim())
                .ok()
                .and_then(|u| u.host_str().map(|h| format!("`{h}`")))
                .unwrap_or_else(|| "a base URL that is not a local sandbox".to_string()),
        };
        return Err(Exit::new(
            Status::Error,
            format!(
                "--at on `{command}` is only for rehearsals against a local sandbox \
                 (SEATKEEPER_API_BASE on 127.0.0.1, ::1 or localhost), and this would write to \
                 {target}: there the audit log must record when each change really happened. \
                 Run without --at (to plan for another time, use `seatkeeper plan --at`)"
            ),
        )
        .into());
    }
    resolve_at(Some(text), env).map(Some)
}

/// Resolves `--at`, a relative one (`+30d`) counted from `base`; no `--at` is the clock's now.
fn resolve_at_from(at: &str, env: &Env, base: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    if at.is_empty() {
        return Ok(env.now);
    }
    crate::time::parse_at(at, base)
        .map_err(|e| Exit::new(Status::Error, format!("--at: {e}")).into())
}

/// Resolves `--at` against the clock.
pub fn resolve_at(at: Option<&str>, env: &Env) -> anyhow::Result<DateTime<Utc>> {
    match at {
        None => Ok(env.now),
        Some(text) => crate::time::parse_at(text, env.now)
            .map_err(|e| Exit::new(Status::Error, format!("--at: {e}")).into()),
    }
}
