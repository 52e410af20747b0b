//! What git says about the policy folder: the commit it is at and whether the work tree has
//! uncommitted changes under it. Plans record both so a reviewer knows what was planned from.

use git2::{Repository, StatusOptions};
use std::path::Path;

/// The policy folder's commit, if it lives in a git work tree with at least one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyCommit {
    /// Full commit id of HEAD.
    pub commit: String,
    /// True when files under the policy folder differ from HEAD (untracked files included).
    pub dirty: bool,
}

/// Looks up the policy folder's commit. `None` when it is not in a git repository, or the
/// repository has no commit yet.
pub fn policy_commit(dir: &Path) -> Option<PolicyCommit> {
    let repo = Repository::discover(dir).ok()?;
    let commit = repo.head().ok()?.peel_to_commit().ok()?.id().to_string();
    let dirty = is_dirty(&repo, dir).unwrap_or(true);
    Some(PolicyCommit { commit, dirty })
}

fn is_dirty(repo: &Repository, dir: &Path) -> Option<bool> {
    let workdir = repo.workdir()?.canonicalize().ok()?;
    let dir = dir.canonicalize().ok()?;
    let relative = dir.strip_prefix(&workdir).ok()?;
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    if !relative.as_os_str().is_empty() {
        opts.pathspec(relative);
    }
    let statuses = repo.statuses(Some(&mut opts)).ok()?;
    Some(!statuses.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_commit_and_dirtiness() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(policy_commit(dir.path()), None, "not a repository");
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("seatkeeper.yaml"), "version: 1\n").unwrap();
        assert_eq!(policy_commit(dir.path()), None, "no commit yet");

        let mut index = repo.index().unwrap();
        index.add_path(Path::new("seatkeeper.yaml")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("Test", "test@example.com").unwrap();
        let id = repo
            .commit(Some("HEAD"), &sig, &sig, "policy", &tree, &[])
            .unwrap();
        assert_eq!(
            policy_commit(dir.path()),
            Some(PolicyCommit {
                commit: id.to_string(),
                dirty: false
            })
        );
        std::fs::write(dir.path().join("seatkeeper.yaml"), "version: 2\n").unwrap();
        assert!(policy_commit(dir.path()).unwrap().dirty);
    }
}
