//! `--since REV|DATE`: the cutoff of "what changed since the last review".
//!
//! A date (`2026-10-01`, or an RFC 3339 time) is used as is; a date wins over a branch or tag
//! that happens to have the same name. Anything else is a git revision of the repository holding
//! the policy folder: its commit time (committer date, when the change landed) becomes the
//! cutoff, and the policy as it was at that revision (read from git, no checkout) is loaded so
//! the report can show the policy diff in access terms.

use crate::gitinfo::{RevisionError, RevisionTree};
use crate::policy::{self, Policy};
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
    /// Not a date, and there is no git repository to look a revision up in.
    #[error("--since `{text}` is not a date (YYYY-MM-DD or RFC 3339), and {place} is not in a git repository, so it cannot be a revision\n  hint: pass the date of the last review, or run from a clone of the policy repo")]
    NotGit {
        /// What was given.
        text: String,
        /// The policy folder.
        place: String,
    },
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
    let revision_error = |source| match source {
        RevisionError::NotARepository(place) => SinceError::NotGit {
            text: text.to_string(),
            place,
        },
        source => SinceError::Revision {
            text: text.to_string(),
            source,
        },
    };
    let tree = RevisionTree::open(policy_dir, text).map_err(revision_error)?;
    let cutoff = commit_time(policy_dir, &tree.commit).map_err(revision_error)?;
    let base = match policy::load(&tree) {
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
        assert!(err.contains("not in a git repository"), "{err}");
        assert!(!err.contains("--ref"), "{err}");
    }

    fn commit(repo: &git2::Repository, author: &str, when: i64, message: &str) -> String {
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::new(author, "a@example.com", &git2::Time::new(when, 0)).unwrap();
        let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_revision_gives_its_commit_time_policy_diff_and_blame() {
        use crate::gitinfo::Blamer;
        use crate::report::fixtures::{MAIN, TEAM};
        let dir = tempfile::tempdir().unwrap();
        let repo = git2::Repository::init(dir.path()).unwrap();
        let policy = dir.path().join("policy");
        std::fs::create_dir_all(policy.join("teams")).unwrap();
        std::fs::write(policy.join("seatkeeper.yaml"), "version: 1\nbogus: true\n").unwrap();
        commit(&repo, "Broken", 1_760_000_000, "broken");
        std::fs::write(policy.join("seatkeeper.yaml"), MAIN).unwrap();
        std::fs::write(policy.join("teams/eng.yaml"), TEAM).unwrap();
        let first = commit(&repo, "Ann", 1_767_225_600, "first"); // 2026-01-01
        let team2 = TEAM.replacen("users:\n", "users:\n  - email: zoe@acme.com\n", 1);
        std::fs::write(policy.join("teams/eng.yaml"), &team2).unwrap();
        commit(&repo, "Bo", 1_772_323_200, "add zoe"); // 2026-03-01
                                                       // An uncommitted edit that shifts every line down by one.
        std::fs::write(policy.join("teams/eng.yaml"), format!("# team\n{team2}")).unwrap();

        let since = resolve_since(&policy, "HEAD~1").unwrap();
        assert_eq!(since.commit.as_deref(), Some(first.as_str()));
        assert_eq!(since.cutoff.to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert_eq!(since.label, format!("HEAD~1 ({})", &first[..12]));
        let head = crate::files::load_policy_dir(&policy).unwrap().policy;
        let diff = crate::diff::policy_diff(
            since.base_policy.as_ref().unwrap(),
            &head,
            chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
        );
        assert_eq!(
            diff.granted.get("confluence"),
            Some(&vec!["zoe@acme.com".to_string()])
        );

        let err = resolve_since(&policy, "HEAD~2").unwrap_err().to_string();
        assert!(
            err.contains("HEAD~2") && err.contains("does not validate"),
            "{err}"
        );
        let err = resolve_since(&policy, "no-such-tag")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no-such-tag") && err.contains("git fetch"),
            "{err}"
        );

        // Blame follows the loaded (work-tree) files: zoe's entry is on line 3 now.
        let zoe = head
            .users
            .iter()
            .find(|u| &*u.location.file == "teams/eng.yaml" && u.location.line == 3)
            .expect("zoe on line 3");
        assert_eq!(zoe.who.to_string(), "zoe@acme.com");
        let mut blamer = Blamer::open(&policy).unwrap();
        let author = |o: Option<crate::gitinfo::LineOrigin>| o.map(|o| o.author);
        assert_eq!(
            author(blamer.origin("teams/eng.yaml", 3)),
            Some("Bo".into())
        );
        assert_eq!(
            author(blamer.origin("teams/eng.yaml", 4)),
            Some("Ann".into())
        );
        assert_eq!(blamer.origin("teams/eng.yaml", 1), None, "uncommitted");
        let mut old = Blamer::open_at(&policy, "HEAD~1").unwrap();
        assert_eq!(author(old.origin("teams/eng.yaml", 2)), Some("Ann".into()));
        assert!(Blamer::open_at(&policy, "nope").is_none());
    }
}
