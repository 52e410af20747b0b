//! `--since REV|DATE`: the cutoff of "what changed since the last review".
//!
//! A date (`2026-10-01`, or an RFC 3339 time) is used as is; a date wins over a branch or tag
//! that happens to have the same name. Anything else is a git revision of the repository holding
//! the policy folder: its commit time (committer date, when the change landed) becomes the
//! cutoff, and the policy as it was at that revision (read from git, no checkout) is loaded so
//! the report can show the policy diff in access terms.

use crate::gitinfo::{RevisionError, RevisionTree};
use crate::policy::{self, source::MemFiles, Policy};
use chrono::{DateTime, Utc};
use std::path::Path;

/// A resolved `--since`.
#[derive(Debug, Clone, PartialEq)]
pub struct Since {
    /// Changes strictly after this time are listed.
    pub cutoff: DateTime<Utc>,
    /// What the user asked for, for display: `2026-10-01` or `v2026.10 (9f1c2ab3d4e5)`.
    pub label: String,
    /// The commit the revision resolved to.
    pub commit: Option<String>,
    /// The policy at that revision.
    pub base_policy: Option<Policy>,
}

impl Since {
    /// A plain date or time cutoff, with no policy diff.
    pub fn at(cutoff: DateTime<Utc>) -> Self {
        Since {
            cutoff,
            label: super::day(cutoff),
            commit: None,
            base_policy: None,
        }
    }
}

/// Why `--since` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SinceError {
    /// Not a date, and not a revision git knows (or not a repository).
    #[error("--since `{text}` is neither a date (YYYY-MM-DD) nor a usable git revision: {source}")]
    Revision {
        /// What was given.
        text: String,
        /// Why git refused it.
        #[source]
        source: RevisionError,
    },
    /// The policy at the revision does not validate.
    #[error("the policy at --since revision `{rev}` does not validate:\n{diagnostics}")]
    InvalidPolicy {
        /// The revision.
        rev: String,
        /// The rendered diagnostics.
        diagnostics: String,
    },
}

/// Resolves `--since` for the policy folder `policy_dir` (see the module docs).
pub fn resolve_since(policy_dir: &Path, text: &str) -> Result<Since, SinceError> {
    if let Some(cutoff) = parse_cutoff(text) {
        return Ok(Since::at(cutoff));
    }
    let revision_error = |source| SinceError::Revision {
        text: text.to_string(),
        source,
    };
    let tree = RevisionTree::open(policy_dir, text).map_err(revision_error)?;
    let cutoff = commit_time(policy_dir, &tree.commit).map_err(revision_error)?;
    let mut files = MemFiles::new();
    for path in tree.files() {
        if path.ends_with(".yaml") || path.ends_with(".yml") {
            if let Some(bytes) = tree.read(&path) {
                files.files.insert(path, bytes);
            }
        }
    }
    let base = match policy::load(&files) {
        Ok(loaded) => loaded.policy,
        Err(diags) => {
            let mut rendered = Vec::new();
            let _ = policy::render_diagnostics(&diags, &mut rendered);
            return Err(SinceError::InvalidPolicy {
                rev: text.to_string(),
                diagnostics: String::from_utf8_lossy(&rendered).into_owned(),
            });
        }
    };
    Ok(Since {
        cutoff,
        label: format!("{text} ({})", super::short(&tree.commit)),
        commit: Some(tree.commit.clone()),
        base_policy: Some(base),
    })
}

/// A date (`YYYY-MM-DD`, start of that day UTC) or an RFC 3339 time.
pub fn parse_cutoff(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(date) = crate::time::parse_date(text) {
        return Some(crate::time::start_of_day(date));
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn commit_time(dir: &Path, commit: &str) -> Result<DateTime<Utc>, RevisionError> {
    let repo = git2::Repository::discover(dir)?;
    let commit = repo.find_commit(git2::Oid::from_str(commit)?)?;
    let seconds = commit.committer().when().seconds();
    DateTime::from_timestamp(seconds, 0)
        .ok_or_else(|| RevisionError::Git(git2::Error::from_str("commit time out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_are_cutoffs() {
        assert_eq!(
            parse_cutoff("2026-10-01").map(|t| t.to_rfc3339()),
            Some("2026-10-01T00:00:00+00:00".to_string())
        );
        assert_eq!(
            parse_cutoff("2026-10-01T12:00:00+02:00").map(|t| t.to_rfc3339()),
            Some("2026-10-01T10:00:00+00:00".to_string())
        );
        assert_eq!(parse_cutoff("HEAD~1"), None);
    }

    #[test]
    fn a_non_repository_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = resolve_since(dir.path(), "v1").unwrap_err().to_string();
        assert!(err.contains("--since `v1`"), "{err}");
        assert!(err.contains("not inside a git repository"), "{err}");
    }
}
