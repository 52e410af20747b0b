//! Observers of apply events: the audit log (one flushed, hash-chained line per executed
//! action) and the progress display.

use super::{ActionResult, ApplyEvent, ApplyObserver, WriteOutcome};
use crate::audit_log::AuditWriter;
use crate::ledger::{AuditKind, AuditRecord, AuditResult};
use crate::ops::Clock;
use crate::plan::{Action, ActionKind, Announcement, Observation};
use std::io::Write;

/// Who and what an apply's audit lines name.
#[derive(Debug, Clone)]
pub struct AuditContext {
    /// The plan id.
    pub plan_id: String,
    /// The policy commit the plan was made from.
    pub policy_commit: Option<String>,
    /// Who applies.
    pub actor: String,
}

/// Writes one audit line per finished action.
pub struct AuditObserver<'w> {
    writer: &'w mut AuditWriter,
    context: AuditContext,
    clock: Clock,
}

impl<'w> AuditObserver<'w> {
    /// An observer writing to `writer`, timestamping lines with `clock`.
    pub fn new(writer: &'w mut AuditWriter, context: AuditContext, clock: Clock) -> Self {
        Self {
            writer,
            context,
            clock,
        }
    }

    /// Records an action found already in effect by a rerun (written by a killed run).
    pub fn record_in_effect(&mut self, action: &Action) -> anyhow::Result<()> {
        let mut record = self.record(action, AuditResult::Ok, None);
        record.reason = format!("{} (found already in effect)", action.reason);
        self.writer.append(&record)?;
        Ok(())
    }

    /// Records an action of the plan found already in effect although seatkeeper never wrote
    /// it (no journal, no failed attempt of this plan): someone made the same change by hand.
    /// It is recorded as observed, never as seatkeeper's own write.
    pub fn record_outside(&mut self, action: &Action) -> anyhow::Result<()> {
        let mut record = self.record(action, AuditResult::Ok, None);
        record.kind = match action.kind {
            ActionKind::Add => AuditKind::Observed,
            ActionKind::Remove => AuditKind::ObservedRemoval,
        };
        record.rule = "observed".into();
        record.reason = format!(
            "already done outside seatkeeper when the plan was applied; the plan wanted it: {}",
            action.reason
        );
        self.writer.append(&record)?;
        Ok(())
    }

    /// Records a membership granted outside seatkeeper after a reclaim.
    pub fn record_observed(&mut self, observation: &Observation) -> anyhow::Result<()> {
        let record = AuditRecord {
            time: self.clock.now(),
            kind: AuditKind::Observed,
            product: observation.product.clone(),
            group: observation.group.clone(),
            group_id: observation.group_id.clone(),
            account_id: observation.account_id.clone(),
            email: observation.email.clone(),
            rule: "observed".into(),
            reason: "membership granted outside seatkeeper after a reclaim; the inactivity \
                     window counts from now"
                .into(),
            result: AuditResult::Ok,
            plan_id: self.context.plan_id.clone(),
            policy_commit: self.context.policy_commit.clone(),
            actor: self.context.actor.clone(),
            error: None,
            reclaim_on: None,
            prev_hash: String::new(),
            hash: String::new(),
        };
        self.writer.append(&record)?;
        Ok(())
    }

    /// Records a reclaim date the plan announced, so that later plans hold to it.
    pub fn record_announced(&mut self, announcement: &Announcement) -> anyhow::Result<()> {
        let record = AuditRecord {
            time: self.clock.now(),
            kind: AuditKind::Announced,
            product: announcement.product.clone(),
            group: String::new(),
            group_id: String::new(),
            account_id: announcement.account_id.clone(),
            email: announcement.email.clone(),
            rule: "inactive".into(),
            reason: announcement.detail.clone(),
            result: AuditResult::Ok,
            plan_id: self.context.plan_id.clone(),
            policy_commit: self.context.policy_commit.clone(),
            actor: self.context.actor.clone(),
            error: None,
            reclaim_on: Some(announcement.reclaim_on),
            prev_hash: String::new(),
            hash: String::new(),
        };
        self.writer.append(&record)?;
        Ok(())
    }

    fn record(&self, action: &Action, result: AuditResult, error: Option<String>) -> AuditRecord {
        AuditRecord {
            time: self.clock.now(),
            kind: match action.kind {
                ActionKind::Add => AuditKind::Add,
                ActionKind::Remove => AuditKind::Remove,
            },
            product: action.product.clone(),
            group: action.group.clone(),
            group_id: action.group_id.clone(),
            account_id: action.account_id.clone(),
            email: action.email.clone(),
            rule: action.rule.as_str().to_string(),
            reason: action.reason.clone(),
            result,
            plan_id: self.context.plan_id.clone(),
            policy_commit: self.context.policy_commit.clone(),
            actor: self.context.actor.clone(),
            error,
            reclaim_on: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

impl ApplyObserver for AuditObserver<'_> {
    fn on_event(&mut self, event: &ApplyEvent<'_>) -> anyhow::Result<()> {
        if let ApplyEvent::ActionFinished { action, result } = event {
            let record = match result {
                ActionResult::Ok(_) => self.record(action, AuditResult::Ok, None),
                ActionResult::Failed(e) => {
                    self.record(action, AuditResult::Failed, Some(format!("{e:#}")))
                }
            };
            self.writer.append(&record)?;
        }
        Ok(())
    }
}

/// How many not-started actions a stopped apply lists by name.
const SHOWN: usize = 20;

/// `+ alice@acme.com to jira-users`.
fn describe(action: &Action) -> String {
    format!(
        "{} {} {} {}",
        action.kind.symbol(),
        action.who(),
        if action.kind == ActionKind::Add {
            "to"
        } else {
            "from"
        },
        action.group
    )
}

/// Prints one line per finished action and a summary, to a terminal or a CI log. Progress is a
/// courtesy: when its output goes away (a closed pipe), it falls silent and the apply goes on.
pub struct ProgressObserver<'o> {
    out: &'o mut dyn Write,
    total: usize,
    finished: usize,
    silent: bool,
}

impl<'o> ProgressObserver<'o> {
    /// Progress to `out`.
    pub fn new(out: &'o mut dyn Write) -> Self {
        Self {
            out,
            total: 0,
            finished: 0,
            silent: false,
        }
    }
}

impl ApplyObserver for ProgressObserver<'_> {
    fn on_event(&mut self, event: &ApplyEvent<'_>) -> anyhow::Result<()> {
        if !self.silent && self.show(event).is_err() {
            self.silent = true;
        }
        Ok(())
    }
}

impl ProgressObserver<'_> {
    fn show(&mut self, event: &ApplyEvent<'_>) -> std::io::Result<()> {
        match event {
            ApplyEvent::Reconciled { plan_id, recorded } => {
                writeln!(
                    self.out,
                    "Recorded {recorded} actions an interrupted apply (plan {plan_id}) made before it stopped."
                )?;
            }
            ApplyEvent::Started { pending, recorded } => {
                self.total = *pending;
                if *recorded > 0 {
                    writeln!(
                        self.out,
                        "Resuming: {recorded} actions were already applied by an earlier run."
                    )?;
                }
                writeln!(self.out, "Applying {pending} actions...")?;
            }
            ApplyEvent::ActionFinished { action, result } => {
                self.finished += 1;
                let status = match result {
                    ActionResult::Ok(WriteOutcome::Done) => "done".to_string(),
                    ActionResult::Ok(WriteOutcome::AlreadyDone) => "already in effect".to_string(),
                    ActionResult::Failed(e) => format!("FAILED: {e:#}"),
                };
                writeln!(
                    self.out,
                    "[{}/{}] {}: {status}",
                    self.finished,
                    self.total,
                    describe(action)
                )?;
            }
            ApplyEvent::Stopped {
                not_started,
                unfinished,
            } => {
                let list = |out: &mut dyn Write, what: &str, actions: &[&Action]| {
                    if actions.is_empty() {
                        return Ok(());
                    }
                    writeln!(out, "{what} ({}):", actions.len())?;
                    for a in actions.iter().take(SHOWN) {
                        writeln!(out, "  {}", describe(a))?;
                    }
                    if actions.len() > SHOWN {
                        writeln!(out, "  ... and {} more", actions.len() - SHOWN)?;
                    }
                    Ok::<_, std::io::Error>(())
                };
                list(
                    self.out,
                    "Stopped at the time limit; still in flight, recorded by the next apply",
                    unfinished,
                )?;
                list(self.out, "Not started", not_started)?;
            }
            ApplyEvent::Finished(summary) if summary.stopped => {
                writeln!(
                    self.out,
                    "Apply stopped at the time limit: {} done, {} already in effect, {} failed, {} \
                     not started, {} unfinished in {:.1}s.",
                    summary.done,
                    summary.already,
                    summary.failed,
                    summary.not_started,
                    summary.unfinished,
                    summary.elapsed.as_secs_f64()
                )?;
            }
            ApplyEvent::Finished(summary) => {
                writeln!(
                    self.out,
                    "Apply complete: {} done, {} already in effect, {} failed in {:.1}s.",
                    summary.done,
                    summary.already,
                    summary.failed,
                    summary.elapsed.as_secs_f64()
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::{execute, Directory};
    use crate::plan::{Evidence, Rule};
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    /// An in-memory group store whose writes to group `broken` fail.
    #[derive(Default)]
    struct Groups(Mutex<BTreeSet<(String, String)>>);

    impl Directory for Groups {
        async fn write(
            &self,
            kind: ActionKind,
            group_id: &str,
            account_id: &str,
        ) -> anyhow::Result<WriteOutcome> {
            anyhow::ensure!(
                group_id != "broken",
                "503 Service Unavailable after 3 retries"
            );
            let key = (group_id.to_string(), account_id.to_string());
            let mut g = self.0.lock().unwrap();
            let changed = match kind {
                ActionKind::Add => g.insert(key),
                ActionKind::Remove => g.remove(&key),
            };
            Ok(if changed {
                WriteOutcome::Done
            } else {
                WriteOutcome::AlreadyDone
            })
        }
    }

    fn action(kind: ActionKind, group: &str, account: &str) -> Action {
        Action {
            kind,
            product: "confluence".into(),
            group: group.into(),
            group_id: group.into(),
            account_id: account.into(),
            email: Some(format!("{account}@acme.com")),
            rule: Rule::Eligible,
            reason: "eligible".into(),
            evidence: Evidence::default(),
        }
    }

    #[tokio::test]
    async fn every_finished_action_gets_one_chained_audit_line_and_a_progress_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit.jsonl");
        let mut writer = AuditWriter::open(&log).unwrap();
        let context = AuditContext {
            plan_id: "p1".into(),
            policy_commit: None,
            actor: "ci".into(),
        };
        // A fixed clock pins every line's time, as the demo and `apply --at` do.
        let at = "2026-11-25T08:00:00Z".parse().unwrap();
        let mut audit = AuditObserver::new(&mut writer, context, Clock::Fixed(at));
        let mut shown = Vec::new();
        let mut progress = ProgressObserver::new(&mut shown);
        let groups = Arc::new(Groups::default());
        let actions: Vec<Action> = (0..20)
            .map(|i| action(ActionKind::Add, "g1", &format!("u{i}")))
            .chain([
                action(ActionKind::Remove, "g1", "nobody"),
                action(ActionKind::Add, "broken", "x"),
            ])
            .collect();
        let summary = execute(
            Arc::clone(&groups),
            actions,
            0,
            4,
            crate::apply::Headroom::unlimited(),
            None,
            &mut [&mut audit, &mut progress],
        )
        .await
        .unwrap();
        assert_eq!((summary.done, summary.already, summary.failed), (20, 1, 1));
        assert_eq!(
            groups
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|(g, _)| g == "g1")
                .count(),
            20
        );

        let text = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            crate::audit_log::verify(&text),
            crate::audit_log::Verification::Intact(22)
        );
        let failed: Vec<AuditRecord> = text
            .lines()
            .map(|l| serde_json::from_str::<AuditRecord>(l).unwrap())
            .filter(|r| r.result == AuditResult::Failed)
            .collect();
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].time, at);
        assert!(failed[0]
            .error
            .as_deref()
            .unwrap()
            .contains("after 3 retries"));
        let shown = String::from_utf8(shown).unwrap();
        assert!(
            shown.contains("[22/22]") && shown.contains("1 failed"),
            "{shown}"
        );
    }
}
