//! Is a saved plan still fresh? Apply re-reads every group the plan touches and compares it with
//! the fingerprint the plan recorded. Actions this plan already executed (recorded in the audit
//! log, or in effect because a killed run wrote them before logging) are undone on the re-read
//! membership first, so a rerun after a crash is fresh while an outside change is not.

use crate::ledger::{AuditKind, AuditRecord, AuditResult};
use crate::plan::{fingerprint_members, Action, ActionKind, Plan};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A group whose membership changed since the plan was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleGroup {
    /// Group name.
    pub group: String,
    /// Group id.
    pub group_id: String,
}

/// What is left to do for a fresh plan.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resume {
    /// Actions to write.
    pub pending: Vec<Action>,
    /// Actions already in effect but not yet in the audit log (a killed run wrote them).
    pub in_effect: Vec<Action>,
    /// Actions the audit log already records for this plan.
    pub recorded: usize,
}

/// (kind, group id, account id) of what the audit log records for one plan; announcements
/// carry their product in place of the group id.
pub type Recorded = HashSet<(AuditKind, String, String)>;

/// The successful lines of `records` that belong to `plan_id`.
pub fn recorded_for<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    plan_id: &str,
) -> Recorded {
    records
        .into_iter()
        .filter(|r| r.plan_id == plan_id && r.result == AuditResult::Ok)
        .map(|r| {
            // An announcement is per product, not per group.
            let scope = match r.kind {
                AuditKind::Announced => &r.product,
                _ => &r.group_id,
            };
            (r.kind, scope.clone(), r.account_id.clone())
        })
        .collect()
}

/// The actions of `plan_id` whose last attempt in the audit log failed, as (kind, group id,
/// account id). A failure can be ambiguous (the write landed, its answer was lost): a rerun that
/// finds one in effect knows it was seatkeeper's own write.
pub fn failed_for<'a>(
    records: impl IntoIterator<Item = &'a AuditRecord>,
    plan_id: &str,
) -> Recorded {
    records
        .into_iter()
        .filter(|r| r.plan_id == plan_id && r.result == AuditResult::Failed)
        .map(|r| (r.kind, r.group_id.clone(), r.account_id.clone()))
        .collect()
}

/// Whether the audit log records `action` for its plan: as seatkeeper's write, or as found done
/// outside seatkeeper.
pub fn is_recorded(recorded: &Recorded, action: &Action) -> bool {
    let outside = match action.kind {
        ActionKind::Add => AuditKind::Observed,
        ActionKind::Remove => AuditKind::ObservedRemoval,
    };
    [audit_kind(action.kind), outside]
        .into_iter()
        .any(|kind| recorded.contains(&(kind, action.group_id.clone(), action.account_id.clone())))
}

/// The audit line kind that records an action of this kind.
pub fn audit_kind(kind: ActionKind) -> AuditKind {
    match kind {
        ActionKind::Add => AuditKind::Add,
        ActionKind::Remove => AuditKind::Remove,
    }
}

/// Checks `live` (group id → members, for every group in `plan.fingerprint`) against the plan.
pub fn check(
    plan: &Plan,
    live: &BTreeMap<String, Vec<String>>,
    recorded: &Recorded,
) -> Result<Resume, Vec<StaleGroup>> {
    let mut members: BTreeMap<&str, BTreeSet<&str>> = live
        .iter()
        .map(|(id, m)| (id.as_str(), m.iter().map(String::as_str).collect()))
        .collect();
    let mut resume = Resume::default();
    for action in &plan.actions {
        let group = members.entry(action.group_id.as_str()).or_default();
        let present = group.contains(action.account_id.as_str());
        let in_effect = match action.kind {
            ActionKind::Add => present,
            ActionKind::Remove => !present,
        };
        if is_recorded(recorded, action) {
            resume.recorded += 1;
        } else if in_effect {
            resume.in_effect.push(action.clone());
        } else {
            resume.pending.push(action.clone());
            continue;
        }
        // Undo it on the re-read membership to recover the membership the plan saw.
        match action.kind {
            ActionKind::Add => group.remove(action.account_id.as_str()),
            ActionKind::Remove => group.insert(action.account_id.as_str()),
        };
    }
    let names: BTreeMap<&str, &str> = plan
        .actions
        .iter()
        .map(|a| (a.group_id.as_str(), a.group.as_str()))
        .chain(
            plan.blocked
                .iter()
                .map(|b| (b.action.group_id.as_str(), b.action.group.as_str())),
        )
        .collect();
    let stale: Vec<StaleGroup> = plan
        .fingerprint
        .iter()
        .filter(|(id, expected)| {
            let now = members
                .get(id.as_str())
                .map(|m| fingerprint_members(m.iter().copied()));
            now.as_deref() != Some(expected.as_str())
        })
        .map(|(id, _)| StaleGroup {
            group: names.get(id.as_str()).unwrap_or(&id.as_str()).to_string(),
            group_id: id.clone(),
        })
        .collect();
    if stale.is_empty() {
        Ok(resume)
    } else {
        Err(stale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Evidence, Rule, PLAN_FORMAT_VERSION};

    fn action(kind: ActionKind, account: &str) -> Action {
        Action {
            kind,
            product: "jira-software".into(),
            group: "jsw".into(),
            group_id: "g1".into(),
            account_id: account.into(),
            email: None,
            rule: Rule::Eligible,
            reason: String::new(),
            evidence: Evidence::default(),
        }
    }

    fn plan(members: &[&str], actions: Vec<Action>) -> Plan {
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            site: "acme.atlassian.net".into(),
            policy_commit: None,
            policy_dirty: false,
            generated_at: chrono::DateTime::UNIX_EPOCH,
            actions,
            blocked: vec![],
            notices: vec![],
            observed: vec![],
            seats: BTreeMap::new(),
            announce: Vec::new(),
            requests: Vec::new(),
            events: None,
            first_run: false,
            safety_defaults: Vec::new(),
            policy_dir: None,
            fingerprint: [(
                "g1".to_string(),
                fingerprint_members(members.iter().copied()),
            )]
            .into(),
            warnings: vec![],
        }
    }

    fn live(members: &[&str]) -> BTreeMap<String, Vec<String>> {
        [(
            "g1".to_string(),
            members.iter().map(|m| m.to_string()).collect(),
        )]
        .into()
    }

    #[test]
    fn unchanged_groups_are_fresh_and_everything_is_pending() {
        let p = plan(
            &["a", "b"],
            vec![
                action(ActionKind::Add, "c"),
                action(ActionKind::Remove, "a"),
            ],
        );
        let resume = check(&p, &live(&["b", "a"]), &Recorded::new()).unwrap();
        assert_eq!(resume.pending.len(), 2);
        assert_eq!((resume.in_effect.len(), resume.recorded), (0, 0));
    }

    #[test]
    fn a_rerun_after_a_crash_is_fresh_and_skips_what_was_done() {
        let p = plan(
            &["a", "b"],
            vec![
                action(ActionKind::Add, "c"),
                action(ActionKind::Remove, "a"),
            ],
        );
        // The add was logged; the remove was written but the process died before logging it.
        let recorded: Recorded = [(AuditKind::Add, "g1".into(), "c".into())].into();
        let resume = check(&p, &live(&["b", "c"]), &recorded).unwrap();
        assert_eq!(resume.recorded, 1);
        assert_eq!(resume.in_effect, vec![action(ActionKind::Remove, "a")]);
        assert!(resume.pending.is_empty());
    }

    #[test]
    fn an_outside_change_makes_the_plan_stale_and_names_the_group() {
        let p = plan(&["a", "b"], vec![action(ActionKind::Add, "c")]);
        let stale = check(&p, &live(&["a", "b", "z"]), &Recorded::new()).unwrap_err();
        assert_eq!(
            stale,
            vec![StaleGroup {
                group: "jsw".into(),
                group_id: "g1".into()
            }]
        );
        // A group that vanished is stale too.
        assert!(check(&p, &BTreeMap::new(), &Recorded::new()).is_err());
    }
}
