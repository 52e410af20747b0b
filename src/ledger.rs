//! The ledger: what earlier applies did, read from the audit log. The audit log is JSON Lines,
//! one [`AuditRecord`] per executed action, hash-chained (DESIGN §5.1). The planner reads it
//! leniently through [`Ledger`]: it needs to know when a membership began and which seats were
//! reclaimed. Writing and verifying the chain live with the applier.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the action was executed (or the membership observed).
    pub time: DateTime<Utc>,
    /// `add`, `remove` or `observed`.
    pub kind: AuditKind,
    /// Product key.
    pub product: String,
    /// Group name.
    pub group: String,
    /// Group id.
    pub group_id: String,
    /// Account id.
    pub account_id: String,
    /// Email, when known.
    #[serde(default)]
    pub email: Option<String>,
    /// The plan rule (`inactive`, `eligible`, ...).
    pub rule: String,
    /// Human-readable reason.
    #[serde(default)]
    pub reason: String,
    /// `ok` or `failed`.
    pub result: AuditResult,
    /// The plan this action came from.
    #[serde(default)]
    pub plan_id: String,
    /// The policy commit the plan was made from.
    #[serde(default)]
    pub policy_commit: Option<String>,
    /// Who ran the apply (account id or CI identity).
    #[serde(default)]
    pub actor: String,
    /// For failed actions: what went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For `announced` lines: the date the seat will be reclaimed on unless the user is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reclaim_on: Option<DateTime<Utc>>,
    /// Hash of the previous line (`sha256:` + hex), empty for the first line.
    #[serde(default)]
    pub prev_hash: String,
    /// Hash of this line.
    #[serde(default)]
    pub hash: String,
}

/// What an audit line records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditKind {
    /// A membership was added.
    Add,
    /// A membership was removed.
    Remove,
    /// seatkeeper first saw a membership granted outside it after a reclaim.
    Observed,
    /// A reclaim was announced (a `reclaim-soon` notice of an applied plan) for `reclaim_on`.
    /// Not a membership change: `group` and `group_id` are empty.
    Announced,
}

/// Whether the action succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditResult {
    /// Done.
    Ok,
    /// Failed; nothing changed.
    Failed,
}

/// Per-(account, product) history distilled from the audit log.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// (account id, group id) → when the current membership began (last successful add or
    /// observation, unless a later remove ended it).
    membership_began: HashMap<(String, String), DateTime<Utc>>,
    /// (account id, group id) → a removal that failed and has not been followed by any
    /// successful change of that membership: the account is still in the group.
    failed_removal: HashMap<(String, String), DateTime<Utc>>,
    /// (account id, product) → the last reclaim (successful `inactive` removal).
    reclaimed: HashMap<(String, String), DateTime<Utc>>,
    /// (account id, product) → the latest reclaim date announced since the last reclaim.
    announced: HashMap<(String, String), DateTime<Utc>>,
    /// How many records were read: none means seatkeeper has never run against the org.
    records: usize,
    /// Problems met while reading (bad lines, broken chain); warnings, not errors.
    pub warnings: Vec<String>,
}

impl Ledger {
    /// An empty ledger (no audit log yet).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds the ledger from records in log order (see [`Ledger::record`] for failed actions).
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Self {
        let mut ledger = Self::default();
        for r in records {
            ledger.record(r);
        }
        ledger
    }

    /// Folds one record into the ledger. Failed actions changed nothing; only a failed removal
    /// is remembered, so that the planner knows the membership is what is left of it.
    pub fn record(&mut self, r: &AuditRecord) {
        self.records += 1;
        if r.kind == AuditKind::Announced {
            if let (AuditResult::Ok, Some(on)) = (r.result, r.reclaim_on) {
                let slot = self
                    .announced
                    .entry((r.account_id.clone(), r.product.clone()))
                    .or_insert(on);
                // An announced date never moves earlier.
                *slot = (*slot).max(on);
            }
            return;
        }
        let member_key = (r.account_id.clone(), r.group_id.clone());
        if r.result != AuditResult::Ok {
            if r.kind == AuditKind::Remove {
                self.failed_removal.insert(member_key, r.time);
            }
            return;
        }
        self.failed_removal.remove(&member_key);
        match r.kind {
            // An observation records when seatkeeper first saw a membership granted outside
            // it: the membership counts from then, like one seatkeeper added.
            AuditKind::Add | AuditKind::Observed => {
                self.membership_began.insert(member_key, r.time);
            }
            AuditKind::Remove => {
                self.membership_began.remove(&member_key);
                if r.rule == "inactive" {
                    let product_key = (r.account_id.clone(), r.product.clone());
                    // The reclaim carried out what was announced: a later one is announced anew.
                    self.announced.remove(&product_key);
                    self.reclaimed.insert(product_key, r.time);
                }
            }
            AuditKind::Announced => {}
        }
    }

    /// Parses JSON Lines leniently: unreadable lines and chain breaks become warnings. Reads the
    /// lines like [`parse_records`], and checks the hash chain on the way.
    pub fn parse_jsonl(text: &str) -> Self {
        let mut ledger = Self::default();
        let mut prev_hash = String::new();
        for (number, line) in audit_lines(text) {
            match line {
                Ok(r) => {
                    // One chain warning is enough, and none after a skipped line: the skip is
                    // the cause of the break that follows it.
                    if r.prev_hash != prev_hash && ledger.warnings.is_empty() {
                        ledger.warnings.push(format!(
                            "audit log line {number}: the hash chain is broken (run `seatkeeper audit verify`)"
                        ));
                    }
                    prev_hash = r.hash.clone();
                    ledger.record(&r);
                }
                Err(warning) => ledger.warnings.push(warning),
            }
        }
        ledger
    }

    /// Whether the audit log held no record: the first run against an org, when seats already
    /// past their window are announced rather than reclaimed at once (DESIGN §4).
    pub fn is_first_run(&self) -> bool {
        self.records == 0
    }

    /// The reclaim date announced for this account's seat of this product since its last
    /// reclaim (the latest, if several).
    pub fn announced(&self, account_id: &str, product: &str) -> Option<DateTime<Utc>> {
        self.announced
            .get(&(account_id.to_string(), product.to_string()))
            .copied()
    }

    /// Every (account id, product, announced reclaim date), in no particular order.
    pub fn announcements(&self) -> impl Iterator<Item = (&str, &str, DateTime<Utc>)> + '_ {
        self.announced
            .iter()
            .map(|((a, p), t)| (a.as_str(), p.as_str(), *t))
    }

    /// When the account's current membership of the group began, per the ledger.
    pub fn membership_began(&self, account_id: &str, group_id: &str) -> Option<DateTime<Utc>> {
        self.membership_began
            .get(&(account_id.to_string(), group_id.to_string()))
            .copied()
    }

    /// When seatkeeper last reclaimed this account's seat of this product.
    pub fn last_reclaim(&self, account_id: &str, product: &str) -> Option<DateTime<Utc>> {
        self.reclaimed
            .get(&(account_id.to_string(), product.to_string()))
            .copied()
    }

    /// Every (account id, group id, began) the ledger knows, in no particular order. Lets the
    /// planner index the ledger once by its own keys instead of allocating per lookup.
    pub fn memberships(&self) -> impl Iterator<Item = (&str, &str, DateTime<Utc>)> + '_ {
        self.membership_began
            .iter()
            .map(|((a, g), t)| (a.as_str(), g.as_str(), *t))
    }

    /// Every (account id, group id, time) of a removal that failed and was not followed by a
    /// successful change of that membership, in no particular order.
    pub fn failed_removals(&self) -> impl Iterator<Item = (&str, &str, DateTime<Utc>)> + '_ {
        self.failed_removal
            .iter()
            .map(|((a, g), t)| (a.as_str(), g.as_str(), *t))
    }

    /// Every (account id, product, last reclaim), in no particular order.
    pub fn reclaims(&self) -> impl Iterator<Item = (&str, &str, DateTime<Utc>)> + '_ {
        self.reclaimed
            .iter()
            .map(|((a, p), t)| (a.as_str(), p.as_str(), *t))
    }
}
/// Reads an audit log (JSON Lines) leniently, in log order: lines that do not parse are
/// skipped, each with a warning naming its line. The hash chain is not checked here
/// (`seatkeeper audit verify` does that); readers that need the facts
/// (reports, the applier's resume check) use this.
pub fn parse_records(text: &str) -> (Vec<AuditRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    for (_, line) in audit_lines(text) {
        match line {
            Ok(r) => records.push(r),
            Err(warning) => warnings.push(warning),
        }
    }
    (records, warnings)
}

/// The one line reader of the audit log: each non-blank line with its 1-based number, as a
/// record or as the warning that skips it. Both readers above use it, so they agree on which
/// lines count and on how a skipped line is reported.
fn audit_lines(text: &str) -> impl Iterator<Item = (usize, Result<AuditRecord, String>)> + '_ {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let number = i + 1;
            let record = serde_json::from_str::<AuditRecord>(line)
                .map_err(|e| format!("audit log line {number}: skipped, not a valid record: {e}"));
            (number, record)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(account: &str, prev_hash: &str, hash: &str) -> String {
        serde_json::json!({
            "time": "2026-11-01T00:00:00Z", "kind": "add", "product": "confluence",
            "group": "g", "group_id": "g1", "account_id": account, "rule": "eligible",
            "result": "ok", "prev_hash": prev_hash, "hash": hash,
        })
        .to_string()
    }

    #[test]
    fn a_failed_removal_is_remembered_until_the_membership_changes() {
        let record = |kind: &str, result: &str, time: &str| -> AuditRecord {
            serde_json::from_value(serde_json::json!({
                "time": time, "kind": kind, "product": "confluence", "group": "g",
                "group_id": "g1", "account_id": "a", "rule": "inactive", "result": result,
                "prev_hash": "", "hash": "",
            }))
            .expect("record")
        };
        let add = record("add", "ok", "2026-01-01T00:00:00Z");
        let failed = record("remove", "failed", "2026-11-01T00:00:00Z");
        let ledger = Ledger::from_records([&add, &failed]);
        let failures: Vec<_> = ledger.failed_removals().collect();
        assert_eq!(failures, [("a", "g1", failed.time)]);
        // Nothing changed: the membership still began with the add.
        assert_eq!(ledger.membership_began("a", "g1"), Some(add.time));
        assert!(ledger.last_reclaim("a", "confluence").is_none());

        let retried = record("remove", "ok", "2026-11-02T00:00:00Z");
        let ledger = Ledger::from_records([&add, &failed, &retried]);
        assert_eq!(ledger.failed_removals().count(), 0);
        assert_eq!(ledger.last_reclaim("a", "confluence"), Some(retried.time));
    }

    #[test]
    fn unreadable_lines_are_skipped_with_their_line_number_by_both_readers() {
        let log = [
            line("a", "", "h1"),
            String::new(),
            "{not json".into(),
            line("b", "lost", "h2"),
        ]
        .join("\n");
        let (records, warnings) = parse_records(&log);
        assert_eq!(records.len(), 2);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("audit log line 3: skipped, not a valid record: "));
        let ledger = Ledger::parse_jsonl(&log);
        // Line 4 does not chain to line 1 (line 3 sat between them): after a skipped line, the
        // chain break it causes is not reported again.
        assert_eq!(ledger.warnings, warnings);
        assert!(ledger.membership_began("b", "g1").is_some());
    }

    #[test]
    fn the_first_chain_break_is_a_warning_with_its_line_number() {
        let log = [
            line("a", "", "h1"),
            line("b", "h1", "h2"),
            line("c", "x", "h3"),
            line("d", "y", "h4"),
        ]
        .join("\n");
        let ledger = Ledger::parse_jsonl(&log);
        assert_eq!(
            ledger.warnings,
            ["audit log line 3: the hash chain is broken (run `seatkeeper audit verify`)"]
        );
        assert!(ledger.membership_began("d", "g1").is_some());
        assert!(
            parse_records(&log).1.is_empty(),
            "parse_records does not check the chain"
        );
    }
}
