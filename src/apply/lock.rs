//! The apply lock: one apply at a time per policy repo. The lock is a file created exclusively
//! next to the audit log, holding who took it. It is removed when the apply ends; a lock left
//! by a killed process is cleared with `seatkeeper apply --force-unlock`, which refuses to
//! remove the lock of a holder that is still running on this host: two applies of one plan at
//! once would write everything twice.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id.
    pub pid: u32,
    /// Host name.
    pub host: String,
    /// Who ran apply.
    pub actor: String,
    /// The plan being applied.
    pub plan_id: String,
    /// When the lock was taken.
    pub since: DateTime<Utc>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {} on {}), applying plan {} since {}",
            self.actor,
            self.pid,
            self.host,
            self.plan_id,
            self.since.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another apply holds it.
    #[error(
        "another apply or notify is running: the lock {path} is held by {holder}{stale}\n  hint: {hint}"
    )]
    Held {
        /// The lock file.
        path: PathBuf,
        /// Who holds it.
        holder: Box<Holder>,
        /// A note when the holder looks dead.
        stale: String,
        /// What to do.
        hint: &'static str,
    },
    /// `--force-unlock` of a lock whose holder still runs on this host.
    #[error("refusing to remove the lock {path}: it is held by {holder}, which is still running on this host\n  hint: wait for it to finish, or stop it (kill {pid}) and run `seatkeeper apply` again: it resumes from the audit log")]
    HolderAlive {
        /// The lock file.
        path: PathBuf,
        /// Who holds it.
        holder: Box<Holder>,
        /// Its process id.
        pid: u32,
    },
    /// The lock file exists but cannot be read.
    #[error("the lock {0} exists but is unreadable\n  hint: if no apply is running, clear it with `seatkeeper apply --force-unlock`")]
    Unreadable(PathBuf),
    /// Creating the lock failed.
    #[error("cannot create the apply lock {path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ApplyLock {
    path: PathBuf,
}

/// The lock file for an audit log.
pub fn lock_path(audit_log: &Path) -> PathBuf {
    let mut name = audit_log.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    audit_log.with_file_name(name)
}

impl ApplyLock {
    /// Takes the lock or says who holds it.
    pub fn acquire(path: &Path, holder: &Holder) -> Result<Self, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        // Write the holder to a private file first, then link it into place: the lock appears
        // atomically with its holder, never empty.
        let mut staged = path.as_os_str().to_os_string();
        staged.push(format!(".{}.tmp", std::process::id()));
        let staged = PathBuf::from(staged);
        let json = serde_json::to_string(holder).unwrap_or_default();
        std::fs::File::create(&staged)
            .and_then(|mut f| f.write_all(json.as_bytes()).and_then(|()| f.sync_all()))
            .map_err(io)?;
        let linked = std::fs::hard_link(&staged, path);
        let _ = std::fs::remove_file(&staged);
        match linked {
            Ok(()) => Ok(Self {
                path: path.to_path_buf(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let held = std::fs::read_to_string(path)
                    .ok()
                    .and_then(|t| serde_json::from_str::<Holder>(&t).ok())
                    .ok_or_else(|| LockError::Unreadable(path.to_path_buf()))?;
                let dead = held.host == holder.host && !process_alive(held.pid);
                let (stale, hint) = if dead {
                    (
                        format!(
                            " (process {} is no longer running: the lock looks stale)",
                            held.pid
                        ),
                        "that process is gone: clear the lock with `seatkeeper apply --force-unlock`, then run again; apply and notify resume from the audit log",
                    )
                } else {
                    (
                        String::new(),
                        "wait for it to finish; if that process is gone (it ran on another machine), clear the lock with `seatkeeper apply --force-unlock`",
                    )
                };
                Err(LockError::Held {
                    path: path.to_path_buf(),
                    holder: Box::new(held),
                    stale,
                    hint,
                })
            }
            Err(e) => Err(io(e)),
        }
    }
}

impl Drop for ApplyLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes a lock left behind; returns who held it, if anyone. Refuses while the holder still
/// runs on this host ([`LockError::HolderAlive`]).
pub fn force_unlock(path: &Path) -> anyhow::Result<Option<String>> {
    let holder = std::fs::read_to_string(path).ok();
    let parsed = holder
        .as_deref()
        .and_then(|t| serde_json::from_str::<Holder>(t).ok());
    if let Some(held) = parsed {
        if held.host == host_name() && process_alive(held.pid) {
            return Err(LockError::HolderAlive {
                path: path.to_path_buf(),
                pid: held.pid,
                holder: Box::new(held),
            }
            .into());
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(Some(holder.unwrap_or_default())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot remove the lock {}", path.display())),
    }
}

/// Whether process `pid` of this host still runs seatkeeper. Where /proc is unavailable, the
/// holder is assumed alive: a live lock is never called stale. A reused pid running something
/// else is not the holder.
fn process_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.exists() {
        return true;
    }
    let dir = proc_root.join(pid.to_string());
    if !dir.exists() {
        return false;
    }
    match std::fs::read(dir.join("cmdline")) {
        Ok(cmdline) => {
            cmdline.is_empty() || String::from_utf8_lossy(&cmdline).contains("seatkeeper")
        }
        Err(_) => true,
    }
}

/// This machine's host name, for lock holders.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(pid: u32) -> Holder {
        Holder {
            pid,
            host: host_name(),
            actor: "ci".into(),
            plan_id: "abc".into(),
            since: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn second_apply_is_refused_naming_the_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(&dir.path().join("audit/seatkeeper.jsonl"));
        assert!(path.ends_with("audit/seatkeeper.jsonl.lock"));
        let first = ApplyLock::acquire(&path, &holder(std::process::id())).unwrap();
        let err = ApplyLock::acquire(&path, &holder(1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(!err.contains("stale"), "{err}");
        drop(first);
        ApplyLock::acquire(&path, &holder(1)).unwrap();
    }

    #[test]
    fn a_dead_holder_is_called_stale_and_force_unlock_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        std::mem::forget(ApplyLock::acquire(&path, &holder(u32::MAX - 1)).unwrap());
        let err = ApplyLock::acquire(&path, &holder(1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("looks stale") && err.contains("--force-unlock"),
            "{err}"
        );
        assert!(force_unlock(&path).unwrap().is_some());
        assert!(force_unlock(&path).unwrap().is_none());
        ApplyLock::acquire(&path, &holder(1)).unwrap();
    }

    #[test]
    fn force_unlock_refuses_a_holder_alive_on_this_host() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        // This test process is a live seatkeeper process of this host (its binary is named
        // after the crate).
        std::mem::forget(ApplyLock::acquire(&path, &holder(std::process::id())).unwrap());
        let err = force_unlock(&path).unwrap_err().to_string();
        assert!(
            err.contains("still running on this host")
                && err.contains(&format!("kill {}", std::process::id())),
            "{err}"
        );
        assert!(path.exists(), "the lock stays");
        // The lock of a holder that is gone is cleared.
        std::fs::remove_file(&path).unwrap();
        std::mem::forget(ApplyLock::acquire(&path, &holder(u32::MAX - 1)).unwrap());
        assert!(force_unlock(&path).unwrap().is_some());
    }
}
