//! One apply of a plan, start to finish: the rails again ([`rails`]), the apply lock, the
//! journal of an interrupted run ([`journal`]), the stale-plan check ([`freshness`]), `observed`
//! lines, the writes and their audit lines. [`crate::ops::apply`] calls [`apply_plan`], shows
//! progress through an observer, and maps [`ApplyError`] to error kinds (exit codes).

use super::freshness::{self, recorded_for, Recorded, StaleGroup};
use super::journal::{self, Journal};
use super::lock::{host_name, lock_path, ApplyLock, Holder, LockError};
use super::observers::{AuditContext, AuditObserver};
use super::{execute, rails, ApplyEvent, ApplyObserver, ApplySummary, Directory};
use crate::atlassian::{ApiError, AtlassianApi};
use crate::audit_log::{read_records, AuditWriter};
use crate::ledger::AuditKind;
use crate::ops::Clock;
use crate::plan::Plan;
use crate::policy::Policy;
use chrono::Utc;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// How to apply.
#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Lift the max-removals rail.
    pub allow_mass_removal: bool,
    /// At most this many writes in flight.
    pub parallelism: usize,
    /// The time every audit line of this apply is stamped with: every line it writes (the
    /// actions, the `observed` lines, and the lines it records for an interrupted run) reads
    /// this one clock.
    pub clock: Clock,
    /// When to stop: reads before the writes stop there ([`ApplyError::Deadline`]); no write
    /// starts after it, and the writes in flight are finished and recorded
    /// ([`super::execute`]).
    pub deadline: Option<super::Deadline>,
}

/// One plan to apply and where and for whom.
#[derive(Debug, Clone, Copy)]
pub struct ApplyJob<'a> {
    /// The plan (checked against `policy` again before it runs).
    pub plan: &'a Plan,
    /// The policy the plan must stay inside.
    pub policy: &'a Policy,
    /// The audit log; the lock and the journal sit beside it.
    pub audit_path: &'a Path,
    /// Who applies, as the audit lines name them.
    pub actor: &'a str,
    /// The account behind the credentials, for the `self` rail.
    pub actor_account: Option<&'a str>,
    /// How to apply.
    pub options: ApplyOptions,
    /// The seats free under each licence and the accounts that hold none, as read when the
    /// apply started ([`super::Headroom`]).
    pub headroom: &'a super::Headroom,
}

/// Why an apply stopped before its writes. Each kind is a separate variant because each has its
/// own exit code ([`crate::ops::ErrorKind`]); [`ApplyError::Other`] is everything unexpected (files,
/// the audit log), kept whole so its causes can be shown.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// An action lies outside what the policy manages (the plan file was edited, or the policy
    /// changed since): nothing was written.
    #[error("refusing the plan: the action `{action}` does not match the policy: {problem}; make a new plan with `seatkeeper plan --out`")]
    Mismatch {
        /// The action as shown in a plan (`+ alice@acme.com jira-users`).
        action: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A safety rail refuses the plan.
    #[error("refusing to apply: {0}")]
    Rail(String),
    /// The apply lock could not be taken (another apply runs, or a killed one left it).
    #[error(transparent)]
    Lock(#[from] LockError),
    /// Re-reading groups before writing failed.
    #[error("re-reading {groups} failed: {source}")]
    Reread {
        /// Which groups (for the message).
        groups: &'static str,
        /// The API failure.
        source: ApiError,
    },
    /// The deadline passed before the writes began: nothing was written.
    #[error("stopped at {deadline} while {during}, before any write; run `seatkeeper apply` again, with a longer --timeout if it needs one")]
    Deadline {
        /// The deadline.
        deadline: super::Deadline,
        /// What the apply was doing.
        during: &'static str,
    },
    /// Groups the plan touches changed since it was made.
    #[error("the plan is stale: {} changed since it was made; run `seatkeeper plan` again", stale_names(.0))]
    Stale(Vec<StaleGroup>),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

fn stale_names(stale: &[StaleGroup]) -> String {
    let names: Vec<String> = stale
        .iter()
        .map(|g| format!("{} ({})", g.group, g.group_id))
        .collect();
    names.join(", ")
}

/// Records, under the apply lock, what an interrupted run wrote (its journal), and clears the
/// journal; returns how many actions it recorded. `apply --policy` calls this before it plans,
/// so that the plan reads a ledger holding every write that landed (an addition whose audit
/// line was lost would otherwise look like a grant made outside seatkeeper).
pub async fn reconcile_interrupted(
    api: &dyn AtlassianApi,
    audit_path: &Path,
    actor: &str,
    clock: Clock,
    progress: &mut dyn ApplyObserver,
) -> Result<usize, ApplyError> {
    let holder = Holder {
        pid: std::process::id(),
        host: host_name(),
        actor: actor.to_string(),
        plan_id: "(recording an interrupted run)".to_string(),
        since: Utc::now(),
    };
    let _lock = ApplyLock::acquire(&lock_path(audit_path), &holder)?;
    reconcile_journal(api, audit_path, actor, clock, progress).await
}

/// The journal step of an apply, with the lock held.
async fn reconcile_journal(
    api: &dyn AtlassianApi,
    audit_path: &Path,
    actor: &str,
    clock: Clock,
    progress: &mut dyn ApplyObserver,
) -> Result<usize, ApplyError> {
    let journal = Journal::beside(audit_path);
    let Some(previous) = journal.read()? else {
        return Ok(0);
    };
    let reconciled = journal::reconcile(api, &previous, audit_path, actor, clock).await;
    let found = match reconciled {
        Ok(found) => found,
        // Every later apply would stop here: say which file holds it and how to go on.
        Err(ApplyError::Reread { source, .. }) => {
            let path = journal.path().display();
            return Err(ApplyError::Other(anyhow::anyhow!(
                "the journal {path} of an interrupted apply (plan {}) names groups that cannot \
                 be read now: {source}\n  hint: if a group was deleted, nothing more can be \
                 recorded for it: move the journal aside (`mv {path} {path}.abandoned`, and keep \
                 it with the audit log's history), then apply again",
                previous.id()
            )));
        }
        Err(e) => return Err(e),
    };
    if found > 0 {
        progress.on_event(&ApplyEvent::Reconciled {
            plan_id: &previous.id(),
            recorded: found,
        })?;
    }
    journal.finish()?;
    Ok(found)
}

/// `future`, or [`ApplyError::Deadline`] when `deadline` passes first.
async fn before<T>(
    deadline: Option<super::Deadline>,
    during: &'static str,
    future: impl std::future::Future<Output = Result<T, ApplyError>>,
) -> Result<T, ApplyError> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d.at.into(), future)
            .await
            .unwrap_or(Err(ApplyError::Deadline {
                deadline: d,
                during,
            })),
        None => future.await,
    }
}

/// Applies `job.plan`: rails, lock, the journal of an interrupted run, freshness,
/// observations, writes through `directory`, audit. Groups are re-read through `api`.
/// `progress` sees every [`ApplyEvent`] after the audit log has recorded it. A summary with
/// failed actions is still `Ok`: the audit log holds them, and a rerun converges.
pub async fn apply_plan<D: Directory>(
    api: &dyn AtlassianApi,
    directory: Arc<D>,
    job: &ApplyJob<'_>,
    progress: &mut dyn ApplyObserver,
) -> Result<ApplySummary, ApplyError> {
    let ApplyJob {
        plan,
        policy,
        audit_path,
        actor,
        actor_account,
        options,
        headroom,
    } = *job;
    rails::check(plan, policy, actor_account, options.allow_mass_removal)?;
    let plan_id = plan.id();
    let holder = Holder {
        pid: std::process::id(),
        host: host_name(),
        actor: actor.to_string(),
        plan_id: plan_id.clone(),
        // The lock tells a human since when, in real time, it is held: the wall clock.
        since: Utc::now(),
    };
    let _lock = ApplyLock::acquire(&lock_path(audit_path), &holder)?;

    // A run that was killed leaves its plan in the journal: record what it wrote before
    // anything else, so no audit line is lost even when the next apply is a new plan.
    let deadline = options.deadline;
    let interrupted = reconcile_journal(api, audit_path, actor, options.clock, progress);
    before(deadline, "recording an interrupted apply", interrupted).await?;
    let journal = Journal::beside(audit_path);

    // Fresh? Re-read every touched group and compare, discounting what this plan already did.
    let touched = reread(api, plan, &plan_id, audit_path, "the touched groups");
    let (live, recorded, failed) =
        before(deadline, "re-reading the groups the plan touches", touched).await?;
    let resume = freshness::check(plan, &live, &recorded).map_err(ApplyError::Stale)?;

    let mut writer = AuditWriter::open(audit_path)?;
    let context = AuditContext {
        plan_id,
        policy_commit: plan.policy_commit.clone(),
        actor: actor.to_string(),
    };
    let mut audit = AuditObserver::new(&mut writer, context, options.clock);
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
    for announcement in &plan.announce {
        let key = (
            AuditKind::Announced,
            announcement.product.clone(),
            announcement.account_id.clone(),
        );
        if !recorded.contains(&key) {
            audit.record_announced(announcement)?;
        }
    }
    // After the journal step, an action in effect but never recorded was seatkeeper's own only
    // if an attempt of this plan failed ambiguously; otherwise someone did it by hand.
    for action in &resume.in_effect {
        let key = (
            freshness::audit_kind(action.kind),
            action.group_id.clone(),
            action.account_id.clone(),
        );
        if failed.contains(&key) {
            audit.record_in_effect(action)?;
        } else {
            audit.record_outside(action)?;
        }
    }
    journal.begin(plan)?;
    let summary = execute(
        directory,
        resume.pending,
        resume.recorded + resume.in_effect.len(),
        options.parallelism,
        headroom.clone(),
        deadline.map(|d| (d.at, super::IN_FLIGHT_GRACE)),
        &mut [&mut audit, progress],
    )
    .await?;
    // Every action started finished and is in the audit log: the journal has done its job.
    // Writes still in flight when a deadline stopped the apply may land unrecorded: the journal
    // stays for the next apply to record them.
    if summary.unfinished == 0 {
        journal.finish()?;
    }
    Ok(summary)
}

/// The members of every group `plan` fingerprinted, read now, and what the audit log already
/// records for `plan_id` (its lines that succeeded, and its attempts that failed), from one read
/// of the log: what both the stale-plan check and [`journal::reconcile`] compare.
/// `groups` names the groups in the error when the read fails.
pub(super) async fn reread(
    api: &dyn AtlassianApi,
    plan: &Plan,
    plan_id: &str,
    audit_path: &Path,
    groups: &'static str,
) -> Result<(BTreeMap<String, Vec<String>>, Recorded, Recorded), ApplyError> {
    let group_ids: Vec<String> = plan.fingerprint.keys().cloned().collect();
    let live = api
        .group_members(&group_ids)
        .await
        .map_err(|source| ApplyError::Reread { groups, source })?;
    let records = read_records(audit_path)?;
    Ok((
        live,
        recorded_for(&records, plan_id),
        freshness::failed_for(&records, plan_id),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_stopped_the_apply() {
        let stale = ApplyError::Stale(vec![
            StaleGroup {
                group: "jira-users".into(),
                group_id: "g1".into(),
            },
            StaleGroup {
                group: "confluence-users".into(),
                group_id: "g2".into(),
            },
        ]);
        assert_eq!(
            stale.to_string(),
            "the plan is stale: jira-users (g1), confluence-users (g2) changed since it was made; \
             run `seatkeeper plan` again"
        );
        let mismatch = ApplyError::Mismatch {
            action: "+ a@acme.com site-admins".into(),
            problem: "site-admins is not a grant group of jira-software in the policy".into(),
        };
        assert_eq!(
            mismatch.to_string(),
            "refusing the plan: the action `+ a@acme.com site-admins` does not match the policy: \
             site-admins is not a grant group of jira-software in the policy; make a new plan \
             with `seatkeeper plan --out`"
        );
    }
}
