//! Apply: executes a saved plan against a [`Directory`] (Atlassian Cloud or the sandbox).
//!
//! Before writing it re-reads every touched group and checks the plan is still fresh
//! ([`freshness`]). Writes run concurrently up to a bound; the client behind the directory paces
//! them by the rate limit. Progress goes out as [`ApplyEvent`]s that observers (the audit log,
//! the terminal) record. Apply is idempotent and resumable: actions the audit log already
//! records for this plan, or that are already in effect, are not written again.
//!
//! [`run::apply_plan`] is one apply from start to finish (rails, lock, journal, freshness,
//! execution); [`execute`] below is only the writes.

pub mod freshness;
pub mod journal;
pub mod lock;
pub mod observers;
pub mod rails;
pub mod run;

use crate::plan::{Action, ActionKind};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// What a membership write found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The write changed the membership.
    Done,
    /// The membership was already as wanted ("already a member", "not a member").
    AlreadyDone,
}

/// The part of Atlassian that the executor needs: write one membership.
pub trait Directory: Send + Sync + 'static {
    /// Adds or removes one membership.
    fn write(
        &self,
        kind: ActionKind,
        group_id: &str,
        account_id: &str,
    ) -> impl Future<Output = anyhow::Result<WriteOutcome>> + Send;
}

/// How one action ended.
#[derive(Debug)]
pub enum ActionResult {
    /// Written, or already in effect.
    Ok(WriteOutcome),
    /// Not done; the error says why.
    Failed(anyhow::Error),
}

/// Progress of an apply, for observers.
#[derive(Debug)]
pub enum ApplyEvent<'a> {
    /// Before this apply: actions an interrupted apply wrote without recording them were found in
    /// effect and recorded (see [`journal`]).
    Reconciled {
        /// The interrupted apply's plan.
        plan_id: &'a str,
        /// Actions recorded for it now.
        recorded: usize,
    },
    /// About to run `pending` actions; `skipped` were already recorded or in effect.
    Started {
        /// Actions to execute.
        pending: usize,
        /// Actions done by an earlier run (recorded in the audit log).
        recorded: usize,
    },
    /// One action finished.
    ActionFinished {
        /// The action.
        action: &'a Action,
        /// How it ended.
        result: &'a ActionResult,
    },
    /// Every action has finished.
    Finished(&'a ApplySummary),
}

/// Counts of an apply run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplySummary {
    /// Written now.
    pub done: usize,
    /// Already in effect (counted as done, not written).
    pub already: usize,
    /// Failed.
    pub failed: usize,
    /// Recorded by an earlier run of the same plan.
    pub recorded: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// Receives apply events. An observer error stops the apply (the audit log must not miss lines).
pub trait ApplyObserver {
    /// Called for every event, in order, on one task.
    fn on_event(&mut self, event: &ApplyEvent<'_>) -> anyhow::Result<()>;
}

/// Executes `actions` with at most `parallelism` writes in flight, reporting each to observers
/// as it finishes.
pub async fn execute<D: Directory>(
    directory: Arc<D>,
    actions: Vec<Action>,
    recorded: usize,
    parallelism: usize,
    observers: &mut [&mut dyn ApplyObserver],
) -> anyhow::Result<ApplySummary> {
    let start = Instant::now();
    let mut summary = ApplySummary {
        recorded,
        ..ApplySummary::default()
    };
    notify(
        observers,
        &ApplyEvent::Started {
            pending: actions.len(),
            recorded,
        },
    )?;
    let permits = Arc::new(Semaphore::new(parallelism.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for index in start_order(&actions) {
        let action = &actions[index];
        let directory = Arc::clone(&directory);
        let permits = Arc::clone(&permits);
        let (kind, group_id, account_id) = (
            action.kind,
            action.group_id.clone(),
            action.account_id.clone(),
        );
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let result = match directory.write(kind, &group_id, &account_id).await {
                Ok(outcome) => ActionResult::Ok(outcome),
                Err(e) => ActionResult::Failed(e),
            };
            (index, result)
        });
    }
    while let Some(joined) = tasks.join_next().await {
        let (index, result) = match joined {
            Ok(done) => done,
            Err(e) => anyhow::bail!("an apply task stopped unexpectedly: {e}"),
        };
        match &result {
            ActionResult::Ok(WriteOutcome::Done) => summary.done += 1,
            ActionResult::Ok(WriteOutcome::AlreadyDone) => summary.already += 1,
            ActionResult::Failed(_) => summary.failed += 1,
        }
        let event = ApplyEvent::ActionFinished {
            action: &actions[index],
            result: &result,
        };
        if let Err(e) = notify(observers, &event) {
            tasks.abort_all();
            return Err(e);
        }
    }
    summary.elapsed = start.elapsed();
    notify(observers, &ApplyEvent::Finished(&summary))?;
    Ok(summary)
}

/// The order in which the writes start: removals and additions alternate (removals first), each
/// kind in plan order. Rate limits are per endpoint and method, and adds and removes are
/// different endpoints (`POST` and `DELETE` of group memberships), so alternating keeps both
/// budgets busy instead of spending one and then the other; it also frees seats no later than
/// the plan order would.
fn start_order(actions: &[Action]) -> Vec<usize> {
    let of_kind = |kind: ActionKind| {
        actions
            .iter()
            .enumerate()
            .filter(move |(_, a)| a.kind == kind)
            .map(|(i, _)| i)
    };
    let mut removes = of_kind(ActionKind::Remove);
    let mut adds = of_kind(ActionKind::Add);
    let mut order = Vec::with_capacity(actions.len());
    loop {
        match (removes.next(), adds.next()) {
            (None, None) => break,
            (r, a) => order.extend(r.into_iter().chain(a)),
        }
    }
    order
}

fn notify(observers: &mut [&mut dyn ApplyObserver], event: &ApplyEvent<'_>) -> anyhow::Result<()> {
    for observer in observers.iter_mut() {
        observer.on_event(event)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Evidence, Rule};

    fn action(kind: ActionKind, account: &str) -> Action {
        Action {
            kind,
            product: "confluence".into(),
            group: "g".into(),
            group_id: "g1".into(),
            account_id: account.into(),
            email: None,
            rule: Rule::Eligible,
            reason: String::new(),
            evidence: Evidence::default(),
        }
    }

    #[test]
    fn writes_alternate_between_kinds_removals_first_each_in_plan_order() {
        let actions = vec![
            action(ActionKind::Add, "a1"),
            action(ActionKind::Add, "a2"),
            action(ActionKind::Add, "a3"),
            action(ActionKind::Remove, "r1"),
            action(ActionKind::Remove, "r2"),
        ];
        assert_eq!(start_order(&actions), vec![3, 0, 4, 1, 2]);
        assert!(start_order(&[]).is_empty());
        let removes = vec![
            action(ActionKind::Remove, "r1"),
            action(ActionKind::Remove, "r2"),
        ];
        assert_eq!(start_order(&removes), vec![0, 1]);
    }
}
