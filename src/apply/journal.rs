//! The apply journal: while a plan executes, `<audit log>.inflight.json` holds it. A write can
//! land without its audit line when the run is killed, so a run that stops early leaves the
//! journal behind, and the next apply first re-reads that plan's groups and records what is in
//! effect ([`reconcile`]) before anything else: no audit line is lost, even when the next apply
//! runs a different plan.

use super::freshness::is_recorded;
use super::observers::{AuditContext, AuditObserver};
use super::run::{reread, ApplyError};
use crate::atlassian::AtlassianApi;
use crate::audit_log::AuditWriter;
use crate::files::write_atomically;
use crate::ops::Clock;
use crate::plan::{ActionKind, Plan};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// The journal file beside one audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// The journal of the applies that record to `audit_path`.
    pub fn beside(audit_path: &Path) -> Self {
        let mut name = audit_path.as_os_str().to_os_string();
        name.push(".inflight.json");
        Self {
            path: PathBuf::from(name),
        }
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plan an interrupted apply left behind, if any.
    pub fn read(&self) -> anyhow::Result<Option<Plan>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map(Some).with_context(|| {
                format!(
                    "the apply journal {} is not a plan; if no apply is running, remove it",
                    self.path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.path.display())),
        }
    }

    /// Records that `plan` is about to execute.
    pub fn begin(&self, plan: &Plan) -> anyhow::Result<()> {
        write_atomically(&self.path, &serde_json::to_vec(plan)?)
            .with_context(|| format!("cannot write the apply journal {}", self.path.display()))
    }

    /// Removes the journal once every action of its plan is in the audit log.
    pub fn finish(&self) -> anyhow::Result<()> {
        std::fs::remove_file(&self.path)
            .with_context(|| format!("cannot remove {}", self.path.display()))
    }
}

/// Records the actions of an interrupted plan that are in effect but not in the audit log, and
/// returns how many it recorded.
pub async fn reconcile(
    api: &dyn AtlassianApi,
    previous: &Plan,
    audit_path: &Path,
    actor: &str,
    clock: Clock,
) -> Result<usize, ApplyError> {
    let plan_id = previous.id();
    let (live, recorded, _) = reread(
        api,
        previous,
        &plan_id,
        audit_path,
        "the groups of an interrupted apply",
    )
    .await?;
    let mut writer = AuditWriter::open(audit_path)?;
    let context = AuditContext {
        plan_id,
        policy_commit: previous.policy_commit.clone(),
        actor: actor.to_string(),
    };
    let mut audit = AuditObserver::new(&mut writer, context, clock);
    let mut found = 0;
    for action in &previous.actions {
        if is_recorded(&recorded, action) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_sits_beside_the_audit_log() {
        let journal = Journal::beside(Path::new("audit/seatkeeper.jsonl"));
        assert_eq!(
            journal.path(),
            Path::new("audit/seatkeeper.jsonl.inflight.json")
        );
    }
}
