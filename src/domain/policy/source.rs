//! Where policy files come from: the [`PolicyFiles`] trait (read one file, list files matching a
//! glob, both relative to the policy root), with [`MemFiles`] for files held in memory (tests,
//! and the model for a git-revision source); the edges implement it for a folder
//! (`files::DirFiles`) and a git revision (`gitinfo::RevisionTree`). Paths are relative to the
//! root, `/`-separated, and never escape it.

use std::collections::BTreeMap;
use std::path::{Component, Path};

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
}
