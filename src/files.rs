//! Writing files that other runs read (saved plans, snapshots, exported policy, the apply
//! journal): a reader, or a run after a crash, must never see half of one.

use std::path::{Path, PathBuf};

/// Writes a file via a temporary file and a rename, so readers never see half of it.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
