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

/// Who last changed a line, per `git blame`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineOrigin {
    /// The commit id.
    pub commit: String,
    /// The commit's author name.
    pub author: String,
    /// The author date, `YYYY-MM-DD`.
    pub date: String,
    /// The commit's summary line.
    pub summary: String,
}

/// Blames files of one repository, caching per file.
///
/// [`Blamer::open`] blames the files as they are in the work tree: uncommitted edits are
/// blamed against HEAD (like `git blame` on a modified file), so line numbers match what the
/// policy loader read and uncommitted lines have no origin. [`Blamer::open_at`] blames the files
/// as they are at a revision (for `--ref`).
pub struct Blamer {
    repo: Repository,
    root: std::path::PathBuf,
    at: Option<git2::Oid>,
    cache: std::collections::HashMap<String, Vec<Option<LineOrigin>>>,
}

impl std::fmt::Debug for Blamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blamer")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl Blamer {
    /// A blamer for the repository holding `policy_dir`, or `None` outside git.
    pub fn open(policy_dir: &Path) -> Option<Self> {
        let repo = Repository::discover(policy_dir).ok()?;
        let workdir = repo.workdir()?.canonicalize().ok()?;
        let root = policy_dir
            .canonicalize()
            .ok()?
            .strip_prefix(&workdir)
            .ok()?
            .to_path_buf();
        Some(Self {
            repo,
            root,
            at: None,
            cache: Default::default(),
        })
    }

    /// A blamer for the policy files as they are at revision `rev`, or `None` outside git or
    /// when the revision does not resolve.
    pub fn open_at(policy_dir: &Path, rev: &str) -> Option<Self> {
        let mut blamer = Self::open(policy_dir)?;
        let id = blamer
            .repo
            .revparse_single(rev)
            .ok()?
            .peel_to_commit()
            .ok()?
            .id();
        blamer.at = Some(id);
        Some(blamer)
    }

    /// The commit that last changed `line` (1-based) of `file` (relative to the policy folder).
    /// `None` for uncommitted lines or files.
    pub fn origin(&mut self, file: &str, line: u32) -> Option<LineOrigin> {
        if !self.cache.contains_key(file) {
            let lines = self.blame_file(file).unwrap_or_default();
            self.cache.insert(file.to_string(), lines);
        }
        self.cache
            .get(file)?
            .get(line.checked_sub(1)? as usize)?
            .clone()
    }

    fn blame_file(&self, file: &str) -> Option<Vec<Option<LineOrigin>>> {
        let path = self.root.join(file);
        let mut opts = git2::BlameOptions::new();
        if let Some(at) = self.at {
            opts.newest_commit(at);
        }
        let committed = self.repo.blame_file(&path, Some(&mut opts)).ok()?;
        // In the work tree, blame what is on disk so line numbers match the loaded policy.
        let on_disk = match (self.at, self.repo.workdir()) {
            (None, Some(workdir)) => std::fs::read(workdir.join(&path)).ok(),
            _ => None,
        };
        let buffered = on_disk.and_then(|bytes| committed.blame_buffer(&bytes).ok());
        let blame = buffered.as_ref().unwrap_or(&committed);
        let mut commits: std::collections::HashMap<git2::Oid, Option<LineOrigin>> =
            Default::default();
        let mut lines = Vec::new();
        for hunk in blame.iter() {
            let id = hunk.final_commit_id();
            let origin = commits
                .entry(id)
                .or_insert_with(|| {
                    self.repo.find_commit(id).ok().map(|c| LineOrigin {
                        commit: id.to_string(),
                        author: c.author().name().unwrap_or("unknown").to_string(),
                        date: chrono::DateTime::from_timestamp(c.author().when().seconds(), 0)
                            .map(|t| t.format("%Y-%m-%d").to_string())
                            .unwrap_or_default(),
                        summary: c.summary().unwrap_or_default().to_string(),
                    })
                })
                .clone();
            for _ in 0..hunk.lines_in_hunk() {
                lines.push(origin.clone());
            }
        }
        Some(lines)
    }
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
        let mut blamer = Blamer::open(dir.path()).unwrap();
        let origin = blamer.origin("seatkeeper.yaml", 1).unwrap();
        assert_eq!(
            (origin.commit.as_str(), origin.author.as_str()),
            (id.to_string().as_str(), "Test")
        );
        assert_eq!(origin.summary, "policy");
        assert!(blamer.origin("seatkeeper.yaml", 2).is_none());
        std::fs::write(dir.path().join("seatkeeper.yaml"), "version: 2\n").unwrap();
        assert!(policy_commit(dir.path()).unwrap().dirty);
    }
}

/// A policy folder as it was at a git revision, read straight from the object database with no
/// checkout (works in shallow clones as long as the revision itself was fetched).
pub struct RevisionTree {
    repo: Repository,
    tree_id: git2::Oid,
    /// The resolved commit id.
    pub commit: String,
    /// The policy folder relative to the repository root (empty for the root).
    prefix: String,
}

impl std::fmt::Debug for RevisionTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RevisionTree")
            .field("commit", &self.commit)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Why a revision cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum RevisionError {
    /// The folder is not inside a git repository.
    #[error("{0} is not inside a git repository, so --ref cannot be used\n  hint: run from a clone of the policy repo, or drop --ref to read the folder as it is")]
    NotARepository(String),
    /// The revision does not resolve.
    #[error("revision `{rev}` is not in this repository{shallow}\n  hint: check the name with `git rev-parse {rev}`; CI clones are often shallow: fetch it with `git fetch --depth=1 origin {rev}`")]
    UnknownRevision {
        /// What was asked for.
        rev: String,
        /// A note when the clone is shallow.
        shallow: String,
    },
    /// The policy folder does not exist at that revision.
    #[error("the policy folder `{folder}` does not exist at revision `{rev}`")]
    NoFolder {
        /// The folder.
        folder: String,
        /// The revision.
        rev: String,
    },
    /// Anything else git reported.
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

impl RevisionTree {
    /// Opens `rev` (a branch, tag, commit or expression like `HEAD~1`) for the policy folder `dir`.
    pub fn open(dir: &Path, rev: &str) -> Result<Self, RevisionError> {
        let repo = Repository::discover(dir)
            .map_err(|_| RevisionError::NotARepository(dir.display().to_string()))?;
        let (tree_id, commit, prefix) = Self::resolve(&repo, dir, rev)?;
        Ok(Self {
            repo,
            tree_id,
            commit,
            prefix,
        })
    }

    fn resolve(
        repo: &Repository,
        dir: &Path,
        rev: &str,
    ) -> Result<(git2::Oid, String, String), RevisionError> {
        let commit = repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map_err(|_| RevisionError::UnknownRevision {
                rev: rev.to_string(),
                shallow: if repo.is_shallow() {
                    " (this clone is shallow)".into()
                } else {
                    String::new()
                },
            })?;
        let prefix = match (
            repo.workdir().and_then(|w| w.canonicalize().ok()),
            dir.canonicalize().ok(),
        ) {
            (Some(workdir), Some(dir)) => dir
                .strip_prefix(&workdir)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        let root = commit.tree()?;
        let tree_id = if prefix.is_empty() {
            root.id()
        } else {
            root.get_path(Path::new(&prefix))
                .map_err(|_| RevisionError::NoFolder {
                    folder: prefix.clone(),
                    rev: rev.to_string(),
                })?
                .id()
        };
        Ok((tree_id, commit.id().to_string(), prefix))
    }

    /// The bytes of a file (path relative to the policy folder), if it exists at the revision.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        self.read_within(path, u64::MAX).ok().flatten()
    }

    /// The bytes of a file if it exists at the revision, or its size when it is over `limit`:
    /// the size comes from the object header, so an oversized blob is never inflated.
    fn read_within(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>, u64> {
        let found = (|| {
            let tree = self.repo.find_tree(self.tree_id).ok()?;
            let entry = tree.get_path(Path::new(path)).ok()?;
            (entry.kind() == Some(git2::ObjectType::Blob)).then(|| entry.id())
        })();
        let Some(id) = found else {
            return Ok(None);
        };
        if let Ok((size, _)) = self.repo.odb().and_then(|odb| odb.read_header(id)) {
            if size as u64 > limit {
                return Err(size as u64);
            }
        }
        Ok(self
            .repo
            .find_blob(id)
            .ok()
            .map(|blob| blob.content().to_vec()))
    }

    /// Every file path under the policy folder at the revision, sorted, `/`-separated.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(tree) = self.repo.find_tree(self.tree_id) {
            let _ = tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
                if entry.kind() == Some(git2::ObjectType::Blob) {
                    if let Some(name) = entry.name() {
                        out.push(format!("{root}{name}"));
                    }
                }
                git2::TreeWalkResult::Ok
            });
        }
        out.sort();
        out
    }
}

impl crate::policy::source::PolicyFiles for RevisionTree {
    fn describe(&self) -> String {
        format!("git:{}", &self.commit[..self.commit.len().min(12)])
    }

    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, crate::policy::source::SourceError> {
        use crate::policy::source::SourceError;
        crate::policy::source::check_relative(path)?;
        let bytes = self
            .read_within(path, limit)
            .map_err(|size| SourceError::TooLarge { size, limit })?
            .ok_or(SourceError::NotFound)?;
        if bytes.len() as u64 > limit {
            return Err(SourceError::TooLarge {
                size: bytes.len() as u64,
                limit,
            });
        }
        Ok(bytes)
    }

    fn glob(&self, pattern: &str) -> Result<Vec<String>, crate::policy::source::SourceError> {
        use crate::policy::source::{parse_pattern, MATCH_OPTIONS};
        let pattern = parse_pattern(pattern)?;
        Ok(self
            .files()
            .into_iter()
            .filter(|f| pattern.matches_with(f, MATCH_OPTIONS))
            .collect())
    }
}

#[cfg(test)]
mod revision_tests {
    use super::*;

    fn commit_all(repo: &Repository, message: &str) -> git2::Oid {
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("Test", "test@example.com").unwrap();
        let parents: Vec<git2::Commit> = repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
            .unwrap()
    }

    #[test]
    fn an_oversized_blob_is_refused_by_its_header_size() {
        use crate::policy::source::{PolicyFiles, SourceError};
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        std::fs::write(dir.path().join("seatkeeper.yaml"), vec![b'#'; 64 * 1024]).unwrap();
        commit_all(&repo, "big");
        let tree = RevisionTree::open(dir.path(), "HEAD").unwrap();
        match PolicyFiles::read(&tree, "seatkeeper.yaml", 1024) {
            Err(SourceError::TooLarge { size, limit }) => {
                assert_eq!((size, limit), (64 * 1024, 1024));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            PolicyFiles::read(&tree, "seatkeeper.yaml", 1 << 20)
                .map(|b| b.len())
                .ok(),
            Some(64 * 1024)
        );
    }

    #[test]
    fn reads_a_subfolder_at_an_older_revision_without_checkout() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path()).unwrap();
        let policy = dir.path().join("policy");
        std::fs::create_dir_all(policy.join("teams")).unwrap();
        std::fs::write(policy.join("seatkeeper.yaml"), "v1").unwrap();
        std::fs::write(policy.join("teams/eng.yaml"), "users: []").unwrap();
        commit_all(&repo, "first");
        std::fs::write(policy.join("seatkeeper.yaml"), "v2").unwrap();
        commit_all(&repo, "second");
        std::fs::write(policy.join("seatkeeper.yaml"), "dirty").unwrap();

        let old = RevisionTree::open(&policy, "HEAD~1").unwrap();
        assert_eq!(old.read("seatkeeper.yaml").unwrap(), b"v1");
        assert_eq!(old.files(), vec!["seatkeeper.yaml", "teams/eng.yaml"]);
        assert_eq!(
            RevisionTree::open(&policy, "HEAD")
                .unwrap()
                .read("seatkeeper.yaml")
                .unwrap(),
            b"v2"
        );
        assert!(old.read("missing.yaml").is_none());

        let err = RevisionTree::open(&policy, "no-such-branch")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no-such-branch") && err.contains("git fetch"),
            "{err}"
        );
        use crate::policy::source::PolicyFiles;
        assert_eq!(
            PolicyFiles::glob(&old, "teams/*.yaml").unwrap(),
            vec!["teams/eng.yaml"]
        );
        assert!(PolicyFiles::read(&old, "../etc/passwd", 100).is_err());
        let elsewhere = tempfile::tempdir().unwrap();
        assert!(matches!(
            RevisionTree::open(elsewhere.path(), "HEAD"),
            Err(RevisionError::NotARepository(_))
        ));
    }
}
