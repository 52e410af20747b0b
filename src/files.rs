//! The file system edge. Files other runs read (saved plans, snapshots, exported policy, the
//! apply journal): a reader, or a run after a crash or a power loss, must never see half of one.
//! Where the audit log lives: inside the policy folder, however it is reached. And reading a
//! policy folder ([`DirFiles`]) and a snapshot file ([`load_snapshot`]) for the pure core, which
//! touches no file itself.

use crate::diagnostics::{Diagnostic, Location};
use crate::live::snapshot::{parse_snapshot_bytes, too_large, MAX_SNAPSHOT_BYTES};
use crate::live::LiveState;
use crate::policy::source::{
    check_relative, parse_pattern, PolicyFiles, SourceError, MATCH_OPTIONS,
};
use crate::policy::Loaded;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

/// Loads and validates the policy in the folder `path` (dates checked against today's date
/// by the wall clock; see [`crate::policy::load`]).
pub fn load_policy_dir(path: impl AsRef<Path>) -> Result<Loaded, Vec<Diagnostic>> {
    crate::policy::load(&DirFiles::new(path.as_ref()))
}

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

/// Reads a snapshot file from disk and parses it ([`crate::live::parse_snapshot`]). The path
/// names the file in diagnostics.
pub fn load_snapshot(path: &Path) -> Result<LiveState, Vec<Diagnostic>> {
    let label = path.display().to_string();
    let whole = || Location::whole_file(&label);
    let io = |e: std::io::Error| {
        let (code, msg) = if e.kind() == std::io::ErrorKind::NotFound {
            ("missing-file", "file not found".to_string())
        } else {
            ("io-error", format!("cannot read the file: {e}"))
        };
        vec![Diagnostic::error(code, whole(), msg)]
    };
    // Checked before opening: opening a FIFO waits for a writer forever.
    if !std::fs::metadata(path).map_err(io)?.is_file() {
        return Err(vec![Diagnostic::error(
            "io-error",
            whole(),
            "not a regular file: a snapshot is a JSON file written by `seatkeeper export --snapshot`",
        )]);
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len > MAX_SNAPSHOT_BYTES {
        return Err(vec![too_large(&label, len)]);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_SNAPSHOT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    parse_snapshot_bytes(&label, bytes)
}

/// Creates the folder `dir` holding `files` (relative path, contents) all at once: they are
/// written into a hidden sibling folder that is then renamed to `dir`. On any failure nothing is
/// left behind. `dir` must not exist, or be an empty folder.
pub fn write_folder(dir: &Path, files: &[(&str, &[u8])]) -> std::io::Result<()> {
    if dir.is_dir() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} is not empty", dir.display()),
        ));
    }
    let parent = dir.parent().filter(|d| !d.as_os_str().is_empty());
    let parent = parent.unwrap_or(Path::new("."));
    let name = dir
        .file_name()
        .map_or_else(|| "policy".into(), |n| n.to_string_lossy().into_owned());
    let staging = parent.join(format!(".{name}.tmp{}", std::process::id()));
    let written = (|| {
        std::fs::create_dir_all(&staging)?;
        for (path, bytes) in files {
            let path = staging.join(path);
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder)?;
            }
            write_atomically(&path, bytes)?;
        }
        // A rename replaces an empty folder on Unix; elsewhere remove it first.
        if dir.is_dir() && !cfg!(unix) {
            std::fs::remove_dir(dir)?;
        }
        std::fs::rename(&staging, dir)
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
        return written;
    }
    if let Ok(parent) = std::fs::File::open(parent) {
        let _ = parent.sync_all();
    }
    Ok(())
}

/// Writes a file via a synced temporary file and a rename, then syncs the folder, so readers
/// never see half of it and a power loss leaves the old file or the new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return renamed;
    }
    // The rename itself is durable once the folder is synced (best effort where a folder
    // cannot be opened).
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Ok(dir) = std::fs::File::open(dir.unwrap_or(Path::new("."))) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// The audit log `rel` of the policy folder `root`, resolved like the policy's own files:
/// through symlinks, and refused when it leads outside the folder (a symlinked `audit/` would
/// send the log, its lock and the journal elsewhere) or is not a regular file. The log, and the
/// folders that would hold it, need not exist yet.
pub fn audit_path(root: &Path, rel: &str) -> anyhow::Result<PathBuf> {
    let refuse = |why: &str| {
        anyhow::anyhow!(
            "audit log `{rel}` {why}\n  hint: keep `audit_log:` (and the folders on its way) \
             inside the policy folder {}, as real folders",
            root.display()
        )
    };
    let real_root = root
        .canonicalize()
        .map_err(|e| refuse(&format!("cannot be placed: the policy folder: {e}")))?;
    let full = root.join(rel);
    // The deepest part of the path that exists decides where the rest will be created.
    let mut missing: Vec<&std::ffi::OsStr> = Vec::new();
    let mut existing = full.as_path();
    while std::fs::symlink_metadata(existing).is_err() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                missing.push(name);
                existing = parent;
            }
            _ => return Err(refuse("cannot be placed")),
        }
    }
    let real = existing
        .canonicalize()
        .map_err(|e| refuse(&format!("cannot be resolved: {e}")))?;
    if !real.starts_with(&real_root) {
        return Err(refuse(&format!(
            "leads outside the policy folder, to {}",
            real.display()
        )));
    }
    if missing.is_empty() && !real.is_file() {
        return Err(refuse("is not a regular file"));
    }
    Ok(missing.iter().rev().fold(real, |p, name| p.join(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_log_stays_inside_the_policy_folder() {
        let policy = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = policy.path();
        // Not there yet: placed under the real folder.
        let path = audit_path(root, "audit/seatkeeper.jsonl").unwrap();
        assert!(path.ends_with("audit/seatkeeper.jsonl"));
        assert!(path.starts_with(root.canonicalize().unwrap()));
        // A symlinked audit/ that leads out is refused, before anything is written there.
        std::os::unix::fs::symlink(outside.path(), root.join("audit")).unwrap();
        let err = audit_path(root, "audit/seatkeeper.jsonl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("leads outside the policy folder"), "{err}");
        // A symlink that stays inside is followed.
        std::fs::remove_file(root.join("audit")).unwrap();
        std::fs::create_dir(root.join("logs")).unwrap();
        std::os::unix::fs::symlink(root.join("logs"), root.join("audit")).unwrap();
        let inside = audit_path(root, "audit/seatkeeper.jsonl").unwrap();
        assert!(
            inside.ends_with("logs/seatkeeper.jsonl"),
            "{}",
            inside.display()
        );
        // A folder where the log should be is not a log.
        std::fs::create_dir(root.join("logs/seatkeeper.jsonl")).unwrap();
        let err = audit_path(root, "audit/seatkeeper.jsonl")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a regular file"), "{err}");
    }

    #[test]
    fn an_atomic_write_replaces_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn a_folder_is_written_whole_or_not_at_all() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("policy");
        let files: [(&str, &[u8]); 2] = [("a.yaml", b"a"), ("teams/b.yaml", b"b")];
        write_folder(&dir, &files).unwrap();
        assert_eq!(std::fs::read(dir.join("teams/b.yaml")).unwrap(), b"b");
        // Not over a folder with something in it.
        assert!(write_folder(&dir, &files).is_err());
        // A failure half-way (`a.yaml` is a file, so `a.yaml/c` cannot be written) leaves
        // nothing behind: no folder, no staging folder.
        let broken = parent.path().join("broken");
        let files: [(&str, &[u8]); 2] = [("a.yaml", b"a"), ("a.yaml/c", b"c")];
        assert!(write_folder(&broken, &files).is_err());
        assert!(!broken.exists());
        assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 1);
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
