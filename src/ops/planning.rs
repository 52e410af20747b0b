//! What every planning operation loads: the policy, live state (a snapshot or Atlassian), the
//! ledger from the audit log and the time, bundled as [`Planning`].

use super::context::Context;
use super::error::{failed, CommandError};
use super::inputs::{load_ledger, load_policy, load_snapshot, report_snapshot};
use super::inputs::{PolicyRef, PolicySource};
use super::session::Session;
use crate::ledger::Ledger;
use crate::live::LiveState;
use crate::plan::Plan;
use crate::planner::{self, PlanInput};
use crate::policy::Policy;
use chrono::{DateTime, Utc};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The default bound on concurrent requests (`--parallelism`).
pub const DEFAULT_PARALLELISM: usize = 8;

/// Where live state comes from, and when to plan (`--snapshot`, `--at`).
#[derive(Debug, Clone, Default)]
pub struct StateRequest {
    /// Read live state from this snapshot file instead of Atlassian.
    pub snapshot: Option<PathBuf>,
    /// Plan as of this time: RFC 3339, a date, or `+30d` from now (with a snapshot: from the
    /// snapshot's time, a forecast of the org it holds).
    pub at: Option<String>,
}

/// A snapshot file and what loading it gave: the state, or why it did not load.
type Snapshot<'a> = Option<(&'a Path, Result<LiveState, Vec<crate::policy::Diagnostic>>)>;

impl StateRequest {
    /// Whether this plans a snapshot ahead of its time: a relative `--at` (`+30d`) counts from
    /// the snapshot's time, not the clock's.
    fn forecast(&self) -> bool {
        self.snapshot.is_some() && self.at.as_deref().is_some_and(|a| a.starts_with('+'))
    }

    /// The snapshot, loaded, and the time planned for.
    fn load_snapshot(&self, ctx: &Context) -> Result<(Snapshot<'_>, DateTime<Utc>), CommandError> {
        let snapshot = self.snapshot.as_deref();
        let snapshot = snapshot.map(|path| (path, crate::files::load_snapshot(path)));
        let base = match &snapshot {
            Some((_, Ok(live))) if self.forecast() => live.taken_at,
            _ => ctx.clock.start(),
        };
        Ok((snapshot, ctx.resolve_at_from(self.at.as_deref(), base)?))
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
) -> std::io::Result<()> {
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
    /// Loads the policy, live state and ledger a request names.
    pub fn load(
        policy: &PolicyRef,
        state: &StateRequest,
        ctx: &mut Context,
    ) -> Result<Self, CommandError> {
        // A snapshot file needs nothing from the policy: read it on a second thread while the
        // policy loads. Policy problems are reported first (and alone), as when run in turn.
        // A forecast from a snapshot waits for it: its time counts from the snapshot's.
        if let Some(path) = state.snapshot.as_deref().filter(|_| !state.forecast()) {
            let now = ctx.resolve_at(state.at.as_deref())?;
            let (today, err) = (ctx.today(now), &mut *ctx.err);
            let (source, loaded) = crate::par::join(
                || load_policy(policy, today, err),
                || crate::files::load_snapshot(path),
            );
            return Self::with_state(source?, Some((path, loaded)), now, state, ctx);
        }
        let (snapshot, now) = state.load_snapshot(ctx)?;
        let source = load_policy(policy, ctx.today(now), ctx.err)?;
        Self::with_state(source, snapshot, now, state, ctx)
    }

    /// Like [`Planning::load`], for a policy already loaded.
    pub fn from_source(
        source: PolicySource,
        state: &StateRequest,
        ctx: &mut Context,
    ) -> Result<Self, CommandError> {
        let (snapshot, now) = state.load_snapshot(ctx)?;
        Self::with_state(source, snapshot, now, state, ctx)
    }

    /// The live state (a loaded snapshot, or a read from Atlassian) and the ledger for
    /// `source`. A forecast plans a snapshot ahead of its time on purpose: no stale warning.
    fn with_state(
        source: PolicySource,
        snapshot: Snapshot<'_>,
        now: DateTime<Utc>,
        state: &StateRequest,
        ctx: &mut Context,
    ) -> Result<Self, CommandError> {
        let label = snapshot
            .as_ref()
            .map(|(path, _)| path.display().to_string());
        let (live, actor, live_session) = match snapshot {
            Some((path, loaded)) => {
                let live = report_snapshot(path, loaded, ctx.err)?;
                if !state.forecast() {
                    warn_if_stale(path, &live, now, ctx.err)?;
                }
                (live, None, None)
            }
            None => {
                let session = Session::connect(ctx, &source.policy, DEFAULT_PARALLELISM)?;
                let actor = session.myself()?;
                let (live, grants) = session.read_with_grants(&source.policy, now, ctx.err)?;
                (live, actor, Some((session, grants)))
            }
        };
        let mut planning = Self::from_parts(source, live, actor, now, ctx.err)?;
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
    ) -> Result<Self, CommandError> {
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
    pub fn plan(&self, allow_mass_removal: bool) -> Result<Plan, CommandError> {
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
) -> Result<Plan, CommandError> {
    let (ledger, _) = read_ledger(source, err)?;
    Ok(plan_with(
        source,
        &input_for(source, live, &ledger, now, actor, allow_mass_removal),
    ))
}

/// Reads live state through `session` and plans it as [`make_plan`] does, with the warnings of
/// access paths beyond the policy's groups ([`Session::annotate`]): what apply plans before it
/// asks, and the demo. Returns the state read with the plan.
pub fn plan_live(
    session: &Session,
    source: &PolicySource,
    (actor, now): (Option<&str>, DateTime<Utc>),
    allow_mass_removal: bool,
    err: &mut dyn Write,
) -> Result<(Plan, LiveState), CommandError> {
    let (live, grants) = session.read_with_grants(&source.policy, now, err)?;
    let mut plan = make_plan(source, &live, actor, now, allow_mass_removal, err)?;
    session.annotate(&mut plan, &source.policy, &live, grants)?;
    Ok((plan, live))
}

fn read_ledger(
    source: &PolicySource,
    err: &mut dyn Write,
) -> Result<(Ledger, PathBuf), CommandError> {
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
    ctx: &mut Context,
    now: DateTime<Utc>,
) -> Result<(LiveState, Option<String>), CommandError> {
    match snapshot {
        Some(path) => Ok((load_snapshot(path, ctx.err)?, None)),
        None => {
            let session = Session::connect(ctx, policy, DEFAULT_PARALLELISM)?;
            let actor = session.myself()?;
            Ok((session.read(policy, now)?, actor))
        }
    }
}

/// Resolves `--at` of a command that writes the audit log (`apply`). There it sets the times
/// of audit lines, which must say when changes really happened, so it is only for rehearsals
/// against a local sandbox (`SEATKEEPER_API_BASE` on 127.0.0.1, ::1 or localhost). Anywhere
/// else it is refused before any request. `None` without `--at`.
pub fn resolve_write_at(
    command: &str,
    at: Option<&str>,
    ctx: &Context,
) -> Result<Option<DateTime<Utc>>, CommandError> {
    let Some(text) = at else {
        return Ok(None);
    };
    let base = ctx.credentials.api_base.as_deref();
    if !crate::atlassian::is_loopback_base(base) {
        let target = match base {
            None => "Atlassian Cloud".to_string(),
            // Only the host: never echo the rest of the URL (it could carry a credential).
            Some(base) => reqwest::Url::parse(base.trim())
                .ok()
                .and_then(|u| u.host_str().map(|h| format!("`{h}`")))
                .unwrap_or_else(|| "a base URL that is not a local sandbox".to_string()),
        };
        return Err(failed(format!(
            "--at on `{command}` is only for rehearsals against a local sandbox \
             (SEATKEEPER_API_BASE on 127.0.0.1, ::1 or localhost), and this would write to \
             {target}: there the audit log must record when each change really happened. \
             Run without --at (to plan for another time, use `seatkeeper plan --at`)"
        )));
    }
    ctx.resolve_at(Some(text)).map(Some)
}
