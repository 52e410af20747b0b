//! The audit log on disk: JSON Lines, one [`AuditRecord`] per executed action, each line chained
//! to the one before by `prev_hash` and `hash`.
//!
//! How a line is read, hashed and verified is pure and lives with the ledger
//! ([`crate::ledger::chain_hash`], [`crate::ledger::verify`]); this module writes and reads the
//! file. Apply refuses to add to a log that does not verify.

use crate::ledger::AuditRecord;
pub use crate::ledger::{chain_hash, verify, Verification};
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Appends records to an audit log, one flushed and synced line each.
#[derive(Debug)]
pub struct AuditWriter {
    path: PathBuf,
    file: File,
    last_hash: String,
}

impl AuditWriter {
    /// Opens (creating folders and file as needed) and finds the last hash to chain from.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the audit log folder {}", dir.display()))?;
        }
        let mut existing = read_log(path)?;
        Self::set_aside_torn_tail(path, &mut existing)?;
        // Lines chained onto a log that does not verify would vouch for whatever was edited.
        if let Verification::Broken { line, problem } = verify(&existing) {
            anyhow::bail!(
                "audit log {} does not verify at line {line}: {problem}; nothing was written\n  \
                 hint: run `seatkeeper audit verify {}` to see it, and restore the log from git \
                 (`git log -p -- {}`) before applying again",
                path.display(),
                path.display(),
                path.display()
            );
        }
        let last_hash = match existing.lines().rev().find(|l| !l.trim().is_empty()) {
            None => String::new(),
            Some(line) => serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("hash").and_then(|h| h.as_str()).map(str::to_string))
                .with_context(|| {
                    format!(
                        "the last line of audit log {} is not a valid record, so new lines cannot \
                         be chained to it; run `seatkeeper audit verify {}`",
                        path.display(),
                        path.display()
                    )
                })?,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open audit log {} for appending", path.display()))?;
        // A valid last line without its newline (edited by hand): start ours on a fresh line.
        if !existing.is_empty() && !existing.ends_with('\n') {
            file.write_all(b"\n")?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            last_hash,
        })
    }

    /// A crash in the middle of a write leaves a last line without its newline that does not
    /// parse. It was never a record: move it to `<log>.torn` (kept for inspection) and cut it
    /// from the log, so the chain continues from the last whole line.
    fn set_aside_torn_tail(path: &Path, existing: &mut String) -> Result<()> {
        if existing.is_empty() || existing.ends_with('\n') {
            return Ok(());
        }
        let cut = existing.rfind('\n').map_or(0, |i| i + 1);
        if serde_json::from_str::<serde_json::Value>(&existing[cut..]).is_ok() {
            return Ok(());
        }
        let mut torn_path = path.as_os_str().to_os_string();
        torn_path.push(".torn");
        let mut torn = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&torn_path)
            .with_context(|| {
                format!("cannot set aside the torn last line of {}", path.display())
            })?;
        torn.write_all(&existing.as_bytes()[cut..])?;
        torn.write_all(b"\n")?;
        torn.sync_data()?;
        OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|f| f.set_len(cut as u64).and_then(|()| f.sync_data()))
            .with_context(|| format!("cannot cut the torn last line of {}", path.display()))?;
        existing.truncate(cut);
        Ok(())
    }

    /// Chains, writes, flushes and syncs one record; returns the record as written.
    pub fn append(&mut self, record: &AuditRecord) -> Result<AuditRecord> {
        let mut record = record.clone();
        record.prev_hash = self.last_hash.clone();
        record.hash = String::new();
        let value = serde_json::to_value(&record)?;
        let serde_json::Value::Object(object) = value else {
            anyhow::bail!("an audit record did not serialize to a JSON object");
        };
        record.hash = chain_hash(&record.prev_hash, &object);
        let mut line = serde_json::to_string(&record)?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data())
            .with_context(|| format!("cannot write to audit log {}", self.path.display()))?;
        self.last_hash = record.hash.clone();
        Ok(record)
    }

    /// The hash of the last line written (empty when the log is empty).
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }
}

/// The text of the audit log at `path`; empty when there is none yet (no apply has run).
pub fn read_log(path: &Path) -> Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read audit log {}", path.display())),
    }
}

/// Every readable record of the audit log at `path`, in log order. Unreadable lines are skipped
/// without a word: the planner's ledger read warns about them.
pub fn read_records(path: &Path) -> Result<Vec<AuditRecord>> {
    match std::fs::read(path) {
        Ok(log) => Ok(crate::ledger::parse_records(&log).0),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read audit log {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{AuditKind, AuditResult};

    fn record(account: &str) -> AuditRecord {
        AuditRecord {
            time: chrono::DateTime::parse_from_rfc3339("2026-11-25T08:00:00Z")
                .unwrap()
                .to_utc(),
            kind: AuditKind::Remove,
            product: "jira-software".into(),
            group: "jira-software-users-acme".into(),
            group_id: "g1".into(),
            account_id: account.into(),
            email: Some(format!("{account}@acme.com")),
            rule: "inactive".into(),
            reason: "inactive since 2026-07-01 (147 days > 90d)".into(),
            result: AuditResult::Ok,
            plan_id: "p1".into(),
            policy_commit: None,
            actor: "ci".into(),
            error: None,
            reclaim_on: None,
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn chain_verifies_and_detects_edits_removals_and_reorders() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit/log.jsonl");
        {
            let mut w = AuditWriter::open(&path).unwrap();
            w.append(&record("a")).unwrap();
            w.append(&record("b")).unwrap();
        }
        // Reopening continues the chain.
        AuditWriter::open(&path)
            .unwrap()
            .append(&record("c"))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(verify(&text), Verification::Intact(3));

        let lines: Vec<&str> = text.lines().collect();
        let edited = text.replacen("a@acme.com", "z@acme.com", 1);
        assert!(matches!(
            verify(&edited),
            Verification::Broken { line: 1, .. }
        ));
        let removed = format!("{}\n{}\n", lines[0], lines[2]);
        assert!(matches!(
            verify(&removed),
            Verification::Broken { line: 2, .. }
        ));
        let reordered = format!("{}\n{}\n{}\n", lines[1], lines[0], lines[2]);
        assert!(matches!(
            verify(&reordered),
            Verification::Broken { line: 1, .. }
        ));
        assert!(matches!(
            verify("{not json\n"),
            Verification::Broken { line: 1, .. }
        ));
    }

    #[test]
    fn a_torn_last_line_is_set_aside_and_the_chain_continues() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        AuditWriter::open(&path)
            .unwrap()
            .append(&record("a"))
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"time\":").unwrap();
        AuditWriter::open(&path)
            .unwrap()
            .append(&record("b"))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(verify(&text), Verification::Intact(2));
        let torn = std::fs::read_to_string(dir.path().join("log.jsonl.torn")).unwrap();
        assert_eq!(torn, "{\"time\":\n");
    }

    #[test]
    fn a_log_that_does_not_verify_is_never_added_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        {
            let mut w = AuditWriter::open(&path).unwrap();
            w.append(&record("a")).unwrap();
            w.append(&record("b")).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("a@acme.com", "z@acme.com", 1)).unwrap();
        let err = AuditWriter::open(&path).unwrap_err().to_string();
        assert!(
            err.contains("does not verify at line 1: hash does not match")
                && err.contains("seatkeeper audit verify"),
            "{err}"
        );
        let after = std::fs::read_to_string(&path).unwrap();
        assert_eq!(after.lines().count(), 2, "nothing was written");
    }

    #[test]
    fn an_edited_last_line_is_refused_not_chained_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        AuditWriter::open(&path)
            .unwrap()
            .append(&record("a"))
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"not a record\n").unwrap();
        let err = AuditWriter::open(&path).unwrap_err().to_string();
        assert!(err.contains("audit verify"), "{err}");
    }
}
