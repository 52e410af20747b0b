//! The ledger: what earlier applies did, read from the audit log. The audit log is JSON Lines,
//! one [`AuditRecord`] per executed action, hash-chained (DESIGN §5.1). The planner reads it
//! leniently through [`Ledger`]: it needs to know when a membership began and which seats were
//! reclaimed. Writing and verifying the chain live with the applier.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// A JSON object as it stands on one audit line.
pub type LineObject = serde_json::Map<String, serde_json::Value>;

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
    /// A removal the plan wanted was found already done outside seatkeeper (by hand, or by
    /// another tool) when the plan was applied: the membership ended, not by seatkeeper.
    #[serde(rename = "observed-removal")]
    ObservedRemoval,
    /// About to send a message (`rule` is its kind, like `reclaim-soon`; `reclaim_on` its
    /// date). Written before sending, so a run killed while sending leaves a message in doubt,
    /// which the next run sends again with the same Message-ID. Not a membership change.
    Notifying,
    /// A message was accepted by the mail server or webhook (`ok`, `reason` says what it
    /// answered) or refused (`failed`, with `error`). Not a membership change.
    Notified,
}

impl AuditKind {
    /// Whether this line records a message rather than an action on the org.
    pub fn is_message(self) -> bool {
        matches!(self, AuditKind::Notifying | AuditKind::Notified)
    }
}

/// Which message a `notifying`/`notified` line is about: delivered once per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageKey {
    /// The message kind, like `reclaim-soon` or `reclaimed`.
    pub kind: String,
    /// Account id.
    pub account_id: String,
    /// Product key.
    pub product: String,
    /// The date the message is about (the announced reclaim date, or when the reclaim ran).
    pub date: DateTime<Utc>,
}

impl MessageKey {
    /// The key of a message record; `None` for other records.
    pub fn of(r: &AuditRecord) -> Option<MessageKey> {
        Some(MessageKey {
            kind: r.rule.clone(),
            account_id: r.account_id.clone(),
            product: r.product.clone(),
            date: r.reclaim_on.filter(|_| r.kind.is_message())?,
        })
    }
}

/// What the audit log says about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// Accepted at this time.
    Sent(DateTime<Utc>),
    /// Refused (the latest attempt failed); sent again on the next run.
    Failed(DateTime<Utc>),
    /// A send began and no answer was recorded: the run was killed while sending.
    InDoubt(DateTime<Utc>),
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
    /// (account id, product) → when the latest `reclaim-soon` email since the last reclaim was
    /// accepted.
    reclaim_soon_sent: HashMap<(String, String), DateTime<Utc>>,
    /// Every message the log records, by key: its latest state.
    messages: HashMap<MessageKey, MessageState>,
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
        if let Some(key) = MessageKey::of(r) {
            // Messages change nothing in the org: they do not end a first run.
            self.record_message(key, r);
            return;
        }
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
            AuditKind::ObservedRemoval => {
                self.membership_began.remove(&member_key);
            }
            AuditKind::Remove => {
                self.membership_began.remove(&member_key);
                if r.rule == "inactive" {
                    let product_key = (r.account_id.clone(), r.product.clone());
                    // The reclaim carried out what was announced: a later one is announced anew.
                    self.announced.remove(&product_key);
                    self.reclaim_soon_sent.remove(&product_key);
                    self.reclaimed.insert(product_key, r.time);
                }
            }
            AuditKind::Announced | AuditKind::Notifying | AuditKind::Notified => {}
        }
    }

    fn record_message(&mut self, key: MessageKey, r: &AuditRecord) {
        let state = match (r.kind, r.result) {
            (AuditKind::Notified, AuditResult::Ok) => MessageState::Sent(r.time),
            (AuditKind::Notified, AuditResult::Failed) => MessageState::Failed(r.time),
            _ => MessageState::InDoubt(r.time),
        };
        if let MessageState::Sent(at) = state {
            if key.kind == "reclaim-soon" {
                // The latest: after someone came back and was announced again, the new email is
                // the one the next reclaim waits for.
                let slot = self
                    .reclaim_soon_sent
                    .entry((key.account_id.clone(), key.product.clone()))
                    .or_insert(at);
                *slot = (*slot).max(at);
            }
        }
        // Once sent, a message stays sent: a later line about it changes nothing.
        let slot = self.messages.entry(key).or_insert(state);
        if !matches!(slot, MessageState::Sent(_)) {
            *slot = state;
        }
    }

    /// What the log says about a message, if anything.
    pub fn message(&self, key: &MessageKey) -> Option<MessageState> {
        self.messages.get(key).copied()
    }

    /// When the latest `reclaim-soon` email to this account about this product was accepted,
    /// since its last reclaim.
    pub fn reclaim_soon_sent(&self, account_id: &str, product: &str) -> Option<DateTime<Utc>> {
        self.reclaim_soon_sent
            .get(&(account_id.to_string(), product.to_string()))
            .copied()
    }

    /// Every (account id, product, accepted) of [`Ledger::reclaim_soon_sent`], in no
    /// particular order.
    pub fn reclaim_soon_emails(&self) -> impl Iterator<Item = (&str, &str, DateTime<Utc>)> + '_ {
        self.reclaim_soon_sent
            .iter()
            .map(|((a, p), t)| (a.as_str(), p.as_str(), *t))
    }

    /// Reads an audit log leniently: unreadable lines are skipped with a warning each, and the
    /// first place where the log does not verify (a broken chain, an edited line) is a warning
    /// that names the line and `seatkeeper audit verify`. Lines are read exactly as the
    /// verifier reads them ([`log_lines`]).
    pub fn parse_jsonl(log: impl AsRef<[u8]>) -> Self {
        let log = log.as_ref();
        let mut ledger = Self::default();
        for (_, line) in log_lines(log) {
            match line {
                Ok((_, r)) => ledger.record(&r),
                Err(warning) => ledger.warnings.push(warning),
            }
        }
        if let Verification::Broken { line, problem } = verify(log) {
            let warning = format!(
                "audit log line {line} does not verify: {problem}; the plan reads the lines it \
                 can, and apply refuses to add to this log (run `seatkeeper audit verify`)"
            );
            // A line already skipped as unreadable is not reported twice.
            let prefix = format!("audit log line {line}: skipped");
            if !ledger.warnings.iter().any(|w| w.starts_with(&prefix)) {
                ledger.warnings.push(warning);
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
pub fn parse_records(log: impl AsRef<[u8]>) -> (Vec<AuditRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut warnings = Vec::new();
    for (_, line) in log_lines(log.as_ref()) {
        match line {
            Ok((_, r)) => records.push(r),
            Err(warning) => warnings.push(warning),
        }
    }
    (records, warnings)
}

/// The one line reader of the audit log, shared by every reader and by [`verify`], so that
/// they never disagree about what a line says: each non-blank line with its 1-based number, as
/// its JSON object and record, or as the warning that skips it. A line is refused when it is
/// not UTF-8, starts with a byte-order mark, is not one JSON object, names a key twice (JSON
/// parsers disagree on which one wins), or is not an audit record.
pub fn log_lines(
    log: &[u8],
) -> impl Iterator<Item = (usize, Result<(LineObject, AuditRecord), String>)> + '_ {
    log.split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(i, line)| {
            let number = i + 1;
            let skipped = |why: String| format!("audit log line {number}: skipped, {why}");
            (number, parse_line(line).map_err(skipped))
        })
}

fn parse_line(line: &[u8]) -> Result<(LineObject, AuditRecord), String> {
    if line.starts_with("\u{feff}".as_bytes()) {
        return Err("it starts with a byte-order mark: save the log as UTF-8 without one".into());
    }
    let text = std::str::from_utf8(line)
        .map_err(|e| format!("it is not UTF-8 (byte {})", e.valid_up_to() + 1))?;
    let StrictObject(object) =
        serde_json::from_str(text).map_err(|e| format!("not a valid record: {e}"))?;
    let record = serde_json::from_value::<AuditRecord>(serde_json::Value::Object(object.clone()))
        .map_err(|e| format!("not a valid record: {e}"))?;
    Ok((object, record))
}

/// A JSON object that refuses a key given twice.
struct StrictObject(LineObject);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = StrictObject;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("one JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<StrictObject, A::Error> {
                let mut object = LineObject::new();
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    if object.contains_key(&key) {
                        return Err(serde::de::Error::custom(format!(
                            "the key `{key}` appears twice"
                        )));
                    }
                    object.insert(key, value);
                }
                Ok(StrictObject(object))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The hash of a line given the previous hash and the line's JSON object: `sha256:` and the hex
/// SHA-256 of the previous hash, a newline, and the object without its `hash` key, serialized
/// with sorted keys and no spaces. Hashing the canonical form of whatever the line holds (not a
/// re-serialized struct) keeps the chain verifiable when later versions add fields.
pub fn chain_hash(prev_hash: &str, object: &LineObject) -> String {
    let mut without_hash = object.clone();
    without_hash.remove("hash");
    // serde_json's Map is ordered by key (no preserve_order feature), so this is canonical.
    let canonical = serde_json::Value::Object(without_hash).to_string();
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical.as_bytes());
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// The result of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every line chains; this many records.
    Intact(usize),
    /// The first bad line (1-based) and why.
    Broken {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
}

/// Checks every line (read as [`log_lines`] reads it), its `prev_hash` and its `hash`,
/// stopping at the first bad line.
pub fn verify(log: impl AsRef<[u8]>) -> Verification {
    let mut prev = String::new();
    let mut count = 0;
    for (n, line) in log_lines(log.as_ref()) {
        let object = match line {
            Ok((object, _)) => object,
            Err(why) => {
                let problem = why
                    .split_once(", ")
                    .map_or(why.as_str(), |(_, rest)| rest)
                    .to_string();
                return Verification::Broken { line: n, problem };
            }
        };
        let field = |key: &str| {
            object
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        if field("prev_hash") != prev {
            return Verification::Broken {
                line: n,
                problem: "prev_hash does not match the previous line's hash \
                          (a line was removed, reordered or inserted before it)"
                    .into(),
            };
        }
        let expected = chain_hash(&prev, &object);
        if field("hash") != expected {
            return Verification::Broken {
                line: n,
                problem: "hash does not match the line's content (the line was edited)".into(),
            };
        }
        prev = expected;
        count += 1;
    }
    Verification::Intact(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line for `account` chained to `prev_hash`, and its hash.
    fn chained(account: &str, prev_hash: &str) -> (String, String) {
        let serde_json::Value::Object(mut object) = serde_json::json!({
            "time": "2026-11-01T00:00:00Z", "kind": "add", "product": "confluence",
            "group": "g", "group_id": "g1", "account_id": account, "rule": "eligible",
            "result": "ok", "prev_hash": prev_hash,
        }) else {
            unreachable!("an object")
        };
        let hash = chain_hash(prev_hash, &object);
        object.insert("hash".into(), hash.clone().into());
        (serde_json::Value::Object(object).to_string(), hash)
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
    fn unreadable_lines_are_skipped_with_their_line_number_by_every_reader() {
        let (a, h1) = chained("a", "");
        let (b, _) = chained("b", &h1);
        let log = [a, String::new(), "{not json".into(), b].join("\n");
        let (records, warnings) = parse_records(&log);
        assert_eq!(records.len(), 2);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("audit log line 3: skipped, not a valid record: "));
        let ledger = Ledger::parse_jsonl(&log);
        // The verifier stops at the same line: it is not reported twice.
        assert_eq!(ledger.warnings, warnings);
        assert!(matches!(verify(&log), Verification::Broken { line: 3, .. }));
        assert!(ledger.membership_began("b", "g1").is_some());
    }

    #[test]
    fn the_first_line_that_does_not_verify_is_a_warning_with_its_line_number() {
        let (a, h1) = chained("a", "");
        let (b, h2) = chained("b", &h1);
        let (c, _) = chained("c", "x");
        let (d, _) = chained("d", &h2);
        let log = [a, b.clone(), c, d].join("\n");
        let ledger = Ledger::parse_jsonl(&log);
        assert_eq!(
            ledger.warnings,
            [
                "audit log line 3 does not verify: prev_hash does not match the previous line's \
              hash (a line was removed, reordered or inserted before it); the plan reads the \
              lines it can, and apply refuses to add to this log (run `seatkeeper audit verify`)"
            ]
        );
        assert!(ledger.membership_began("d", "g1").is_some());
        assert!(
            parse_records(&log).1.is_empty(),
            "parse_records does not check the chain"
        );
        // An edited line that keeps its old hash is caught too.
        let (a, _) = chained("a", "");
        let edited = [a.replace("\"a\"", "\"z\""), b].join("\n");
        assert!(Ledger::parse_jsonl(&edited).warnings[0]
            .starts_with("audit log line 1 does not verify: hash does not match"));
    }

    #[test]
    fn readers_and_the_verifier_agree_on_a_bom_bad_bytes_and_a_key_given_twice() {
        let (a, h1) = chained("a", "");
        let (b, _) = chained("b", &h1);
        let bom = format!("\u{feff}{a}\n{b}").into_bytes();
        let mut bad_byte = format!("{a}\n{b}").into_bytes();
        let at = a.len() + 1 + b.find("\"b\"").unwrap_or(0) + 1;
        bad_byte[at] = 0xff;
        // A second `account_id`: serde_json's Value would keep the last, a struct would fail.
        let twice = format!(
            "{a}\n{}",
            b.replacen(
                "\"account_id\":\"b\"",
                "\"account_id\":\"b\",\"account_id\":\"z\"",
                1
            )
        )
        .into_bytes();
        for (log, line, why) in [
            (bom, 1, "byte-order mark"),
            (bad_byte, 2, "not UTF-8"),
            (twice, 2, "appears twice"),
        ] {
            let (_, warnings) = parse_records(&log);
            assert_eq!(warnings.len(), 1, "{warnings:?}");
            assert!(
                warnings[0].starts_with(&format!("audit log line {line}: skipped"))
                    && warnings[0].contains(why),
                "{warnings:?}"
            );
            match verify(&log) {
                Verification::Broken { line: at, problem } => {
                    assert_eq!(at, line);
                    assert!(problem.contains(why), "{problem}");
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(Ledger::parse_jsonl(&log).warnings, warnings);
        }
    }
}
