//! Files other runs read (saved plans, snapshots, exported policy, the apply journal): a
//! reader, or a run after a crash or a power loss, must never see half of one. And where the
//! audit log lives: inside the policy folder, however it is reached.

use std::io::Write;
use std::path::{Path, PathBuf};

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
}
