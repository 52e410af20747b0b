//! Loading the planner's inputs from files: the policy folder, a snapshot and the audit log
//! (the ledger). Diagnostics go to the sink; a bad input is an error before any network access.

use super::error::{failed, CommandError};
use crate::files::DirFiles;
use crate::gitinfo::RevisionTree;
use crate::ledger::Ledger;
use crate::live::LiveState;
use crate::policy::source::PolicyFiles;
use crate::policy::{self, Diagnostic, Policy, Severity};
use anyhow::Context;
use chrono::NaiveDate;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Which policy: a folder as it is, or as it was at a git revision (`--policy`, `--ref`).
#[derive(Debug, Clone)]
pub struct PolicyRef {
    /// The policy folder (holding seatkeeper.yaml).
    pub dir: PathBuf,
    /// The git revision to read it at, with no checkout.
    pub rev: Option<String>,
}

/// A loaded policy and where it came from.
pub struct PolicySource {
    /// The validated policy.
    pub policy: Policy,
    /// The policy folder (for the audit log path).
    pub dir: PathBuf,
    /// The git commit the policy was read at, if known.
    pub commit: Option<String>,
    /// Whether the folder had uncommitted changes (never for `--ref`).
    pub dirty: bool,
    /// What was read, for messages: the folder or `git:REV`.
    pub label: String,
    /// The policy files read (main file first).
    pub read: Vec<String>,
    /// The source, to read those files again (for diffs).
    pub files: Box<dyn PolicyFiles>,
}

impl PolicySource {
    /// The audit log's path, resolved and checked to stay inside the policy folder
    /// ([`crate::files::audit_path`]).
    pub fn audit_path(&self) -> anyhow::Result<PathBuf> {
        crate::files::audit_path(&self.dir, &self.policy.audit_log)
    }
}

/// Loads and validates the policy in `dir` as it is, or as it was at revision `rev`, printing
/// its warnings; its errors fail. `today` is the day the command works for (the date of `--at`,
/// else the clock's): `requested:` dates may not be after it.
pub fn load_policy_at(
    dir: &Path,
    rev: Option<&str>,
    today: NaiveDate,
    err: &mut dyn Write,
) -> Result<PolicySource, CommandError> {
    load_policy_quietly(dir, rev, today)?.report(err)
}

/// [`load_policy_at`] for a [`PolicyRef`].
pub fn load_policy(
    at: &PolicyRef,
    today: NaiveDate,
    err: &mut dyn Write,
) -> Result<PolicySource, CommandError> {
    load_policy_at(&at.dir, at.rev.as_deref(), today, err)
}

/// Loads the policy in `dir` (at `rev`) without printing: [`Loaded`] keeps the diagnostics.
/// Fails only when the folder or revision cannot be read at all.
pub fn load_policy_quietly(
    dir: &Path,
    rev: Option<&str>,
    today: NaiveDate,
) -> Result<Loaded, CommandError> {
    let (files, commit, dirty, label): (Box<dyn PolicyFiles>, _, _, _) = match rev {
        Some(rev) => {
            let tree = RevisionTree::open(dir, rev).map_err(|e| failed(e.to_string()))?;
            let commit = Some(tree.commit.clone());
            (
                Box::new(tree),
                commit,
                false,
                format!("{} at {rev}", dir.display()),
            )
        }
        None => {
            let info = crate::gitinfo::policy_commit(dir);
            let dirty = info.as_ref().is_some_and(|i| i.dirty);
            let commit = info.map(|i| i.commit);
            (
                Box::new(DirFiles::new(dir)),
                commit,
                dirty,
                dir.display().to_string(),
            )
        }
    };
    match policy::load_at(files.as_ref(), today) {
        Ok(loaded) => Ok(Loaded {
            source: Ok(PolicySource {
                policy: loaded.policy,
                dir: dir.to_path_buf(),
                commit,
                dirty,
                label,
                read: loaded.files,
                files,
            }),
            diagnostics: in_folder(loaded.warnings, dir),
        }),
        Err(diagnostics) => Ok(Loaded {
            source: Err(label),
            diagnostics: in_folder(diagnostics, dir),
        }),
    }
}

/// A policy as loaded, with its diagnostics not yet printed.
pub struct Loaded {
    /// The policy, or the label of the policy that has errors.
    pub source: Result<PolicySource, String>,
    /// Every error and warning, sorted by place.
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Prints the diagnostics to `err`; errors fail.
    pub fn report(self, err: &mut dyn Write) -> Result<PolicySource, CommandError> {
        print_diagnostics(&self.diagnostics, err)?;
        self.source
            .map_err(|label| invalid("policy", &label, &self.diagnostics))
    }
}

/// Loads a snapshot file (DESIGN §5.1).
pub fn load_snapshot(path: &Path, err: &mut dyn Write) -> Result<LiveState, CommandError> {
    report_snapshot(path, crate::files::load_snapshot(path), err)
}

/// Prints a snapshot's diagnostics, if it did not load.
pub fn report_snapshot(
    path: &Path,
    loaded: Result<LiveState, Vec<Diagnostic>>,
    err: &mut dyn Write,
) -> Result<LiveState, CommandError> {
    match loaded {
        Ok(state) => Ok(state),
        Err(diagnostics) => {
            print_diagnostics(&diagnostics, err)?;
            Err(invalid(
                "snapshot",
                &path.display().to_string(),
                &diagnostics,
            ))
        }
    }
}

/// Reads the ledger from the policy's audit log; a missing log is an empty ledger.
pub fn load_ledger(policy_dir: &Path, policy: &Policy) -> anyhow::Result<(Ledger, PathBuf)> {
    let path = crate::files::audit_path(policy_dir, &policy.audit_log)?;
    // Bytes, not text: a line that is not UTF-8 is skipped with a warning, as the verifier sees it.
    match std::fs::read(&path) {
        Ok(log) => Ok((Ledger::parse_jsonl(&log), path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((Ledger::empty(), path)),
        Err(e) => Err(e).with_context(|| format!("cannot read audit log {}", path.display())),
    }
}

/// Diagnostics with their file named from the working folder (`policy/teams/eng.yaml`), so an
/// admin can open the place they name.
fn in_folder(mut diagnostics: Vec<Diagnostic>, dir: &Path) -> Vec<Diagnostic> {
    if dir != Path::new(".") && !dir.as_os_str().is_empty() {
        for d in &mut diagnostics {
            d.location.file = dir.join(&*d.location.file).display().to_string().into();
        }
    }
    diagnostics
}

/// Prints diagnostics, one block each.
pub fn print_diagnostics(diagnostics: &[Diagnostic], err: &mut dyn Write) -> std::io::Result<()> {
    for d in diagnostics {
        writeln!(err, "{d}")?;
    }
    Ok(())
}

/// Prints plan warnings the way policy diagnostics read: `warning[code]: file:line:column:
/// message`, then the hint.
pub fn print_warnings(
    warnings: &[crate::plan::Warning],
    err: &mut dyn Write,
) -> std::io::Result<()> {
    for w in warnings {
        let at = w
            .location
            .as_ref()
            .map(|l| format!("{l}: "))
            .unwrap_or_default();
        writeln!(err, "warning[{}]: {at}{}", w.code, w.message)?;
        if let Some(hint) = &w.hint {
            writeln!(err, "  hint: {hint}")?;
        }
    }
    Ok(())
}

fn invalid(what: &str, label: &str, diagnostics: &[Diagnostic]) -> CommandError {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let noun = if errors == 1 { "error" } else { "errors" };
    failed(format!("{what} {label} has {errors} {noun}"))
}
