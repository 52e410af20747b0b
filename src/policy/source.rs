//! Where policy files come from: the [`PolicyFiles`] trait (read one file, list files matching a
//! glob, both relative to the policy root), with [`DirFiles`] for a folder and [`MemFiles`] for
//! files held in memory (tests, and the model for a git-revision source). Paths are relative to
//! the root, `/`-separated, and never escape it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The main policy file at the root of a policy folder.
pub const MAIN_FILE: &str = "seatkeeper.yaml";

/// Policy files larger than this are rejected before parsing.
pub const MAX_POLICY_FILE_BYTES: u64 = 5 * 1024 * 1024;

/// Why a policy file could not be read or listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// No such file.
    #[error("file not found")]
    NotFound,
    /// The file is larger than the limit.
    #[error("the file is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The path or pattern leads outside the policy root.
    #[error("`{0}` leads outside the policy folder")]
    Escapes(String),
    /// The glob pattern is malformed.
    #[error("`{pattern}` is not a valid glob: {reason}")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
    /// Any other I/O problem.
    #[error("{0}")]
    Io(String),
}

/// A set of policy files: a folder, or (later) a git revision.
pub trait PolicyFiles {
    /// Names the source for messages, like the folder path or `git:HEAD~1`.
    fn describe(&self) -> String;

    /// The bytes of `path` (relative to the root, `/`-separated). Files larger than `limit`
    /// bytes give [`SourceError::TooLarge`] without being read whole.
    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, SourceError>;

    /// Files (not folders) matching `pattern` relative to the root, sorted by path. `*` does
    /// not cross `/`; `**` does. Patterns that could leave the root are refused.
    fn glob(&self, pattern: &str) -> Result<Vec<String>, SourceError>;
}

/// Checks that `path` is relative and stays inside the root (no `..`, no root or drive prefix,
/// no backslashes).
pub fn check_relative(path: &str) -> Result<(), SourceError> {
    let escapes = || SourceError::Escapes(path.to_string());
    if path.is_empty() || path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return Err(escapes());
    }
    for component in Path::new(path).components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(escapes())
            }
        }
    }
    Ok(())
}

/// Parses a relative glob pattern, refusing patterns that could leave the root.
pub fn parse_pattern(pattern: &str) -> Result<glob::Pattern, SourceError> {
    check_relative(pattern)?;
    glob::Pattern::new(pattern).map_err(|e| SourceError::BadPattern {
        pattern: pattern.to_string(),
        reason: e.msg.to_string(),
    })
}

/// How include globs match: `*` stays within one folder, dot-files need an explicit dot.
pub const MATCH_OPTIONS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: true,
};

/// Policy files in a folder.
#[derive(Debug, Clone)]
pub struct DirFiles {
    root: PathBuf,
}

impl DirFiles {
    /// The policy folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn canonical_root(&self) -> Result<PathBuf, SourceError> {
        self.root.canonicalize().map_err(|e| io_error(&e))
    }

    /// `path` under the root, resolved through symlinks and checked to stay inside.
    fn resolve(&self, path: &str) -> Result<PathBuf, SourceError> {
        check_relative(path)?;
        let root = self.canonical_root()?;
        let full = self
            .root
            .join(path)
            .canonicalize()
            .map_err(|e| io_error(&e))?;
        if !full.starts_with(&root) {
            return Err(SourceError::Escapes(path.to_string()));
        }
        Ok(full)
    }
}

fn io_error(e: &std::io::Error) -> SourceError {
    if e.kind() == std::io::ErrorKind::NotFound {
        SourceError::NotFound
    } else {
        SourceError::Io(e.to_string())
    }
}

impl PolicyFiles for DirFiles {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        let full = self.resolve(path)?;
        // Checked before opening: opening a FIFO waits for a writer forever.
        if !std::fs::metadata(&full)
            .map_err(|e| io_error(&e))?
            .is_file()
        {
            return Err(SourceError::Io("not a regular file".into()));
        }
        let file = std::fs::File::open(&full).map_err(|e| io_error(&e))?;
        let meta = file.metadata().map_err(|e| io_error(&e))?;
        if !meta.is_file() {
            return Err(SourceError::Io("not a regular file".into()));
        }
        if meta.len() > limit {
            return Err(SourceError::TooLarge {
                size: meta.len(),
                limit,
            });
        }
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(&e))?;
        if bytes.len() as u64 > limit {
            return Err(SourceError::TooLarge {
                size: bytes.len() as u64,
                limit,
            });
        }
        Ok(bytes)
    }

    fn glob(&self, pattern: &str) -> Result<Vec<String>, SourceError> {
        parse_pattern(pattern)?;
        let root = self.canonical_root()?;
        let root_text = root
            .to_str()
            .ok_or_else(|| SourceError::Io("the policy folder path is not UTF-8".into()))?;
        let full = format!("{}/{pattern}", glob::Pattern::escape(root_text));
        let paths = glob::glob_with(&full, MATCH_OPTIONS).map_err(|e| SourceError::BadPattern {
            pattern: pattern.to_string(),
            reason: e.msg.to_string(),
        })?;
        let mut out = Vec::new();
        for entry in paths {
            let path = entry.map_err(|e| SourceError::Io(e.to_string()))?;
            let Ok(real) = path.canonicalize() else {
                continue;
            };
            if !real.starts_with(&root) {
                return Err(SourceError::Escapes(pattern.to_string()));
            }
            if !real.is_file() {
                continue;
            }
            let Ok(rel) = path.strip_prefix(&root) else {
                continue;
            };
            let parts: Vec<String> = rel
                .components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(parts.join("/"));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Policy files held in memory: path → bytes.
#[derive(Debug, Clone, Default)]
pub struct MemFiles {
    /// The files, by relative path.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl MemFiles {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file.
    pub fn with(mut self, path: &str, contents: impl Into<Vec<u8>>) -> Self {
        self.files.insert(path.to_string(), contents.into());
        self
    }
}

impl PolicyFiles for MemFiles {
    fn describe(&self) -> String {
        "(in memory)".to_string()
    }

    fn read(&self, path: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        check_relative(path)?;
        let bytes = self.files.get(path).ok_or(SourceError::NotFound)?;
        if bytes.len() as u64 > limit {
            return Err(SourceError::TooLarge {
                size: bytes.len() as u64,
                limit,
            });
        }
        Ok(bytes.clone())
    }

    fn glob(&self, pattern: &str) -> Result<Vec<String>, SourceError> {
        let p = parse_pattern(pattern)?;
        Ok(self
            .files
            .keys()
            .filter(|k| p.matches_with(k, MATCH_OPTIONS))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_must_stay_inside() {
        for bad in [
            "../x.yaml",
            "/etc/*.yaml",
            "teams/../../x",
            "..",
            "C:/x",
            "a\\b",
            "",
        ] {
            assert!(
                matches!(parse_pattern(bad), Err(SourceError::Escapes(_))),
                "{bad}"
            );
        }
        assert!(parse_pattern("teams/*.yaml").is_ok());
        assert!(matches!(
            parse_pattern("teams/[.yaml"),
            Err(SourceError::BadPattern { .. })
        ));
    }

    #[test]
    fn dir_files_glob_sorted_and_relative() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("teams/sub")).unwrap();
        for f in [
            "teams/b.yaml",
            "teams/a.yaml",
            "teams/sub/c.yaml",
            "teams/.hidden.yaml",
        ] {
            std::fs::write(dir.path().join(f), "users: []\n").unwrap();
        }
        let files = DirFiles::new(dir.path());
        assert_eq!(
            files.glob("teams/*.yaml").unwrap(),
            ["teams/a.yaml", "teams/b.yaml"]
        );
        assert_eq!(files.glob("teams/**/*.yaml").unwrap().len(), 3);
        assert_eq!(
            files.glob("./teams/*.yaml").unwrap(),
            ["teams/a.yaml", "teams/b.yaml"]
        );
        assert_eq!(files.read("teams/a.yaml", 100).unwrap(), b"users: []\n");
        assert!(matches!(
            files.read("teams/a.yaml", 3),
            Err(SourceError::TooLarge { .. })
        ));
        assert_eq!(files.read("nope.yaml", 100), Err(SourceError::NotFound));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("x.yaml"), "users: []\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let files = DirFiles::new(dir.path());
        assert!(matches!(
            files.glob("link/*.yaml"),
            Err(SourceError::Escapes(_))
        ));
        assert!(matches!(
            files.read("link/x.yaml", 100),
            Err(SourceError::Escapes(_))
        ));
    }
}
