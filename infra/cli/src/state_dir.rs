//! The local runner's state directory: one run at a time (an exclusive `flock` on a lock file
//! in it, held for the whole run), and checked writable before any call to Learn Amp.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use thiserror::Error;

/// The lock file's name, in the state directory.
pub const LOCK_FILE: &str = "personio-sync.lock";

#[derive(Debug, Error)]
pub enum StateDirError {
    #[error("--state {dir} is in use by another personio-sync run (it holds {dir}/{LOCK_FILE}); wait for that run to finish, or point --state elsewhere")]
    Busy { dir: String },
    #[error("--state {dir} is not writable ({source}); point --state at a directory this user can create files in, or fix its permissions")]
    NotWritable { dir: String, source: std::io::Error },
}

/// Held for the whole run; the lock goes with the file when this is dropped (or the process
/// ends, however it ends).
#[derive(Debug)]
pub struct StateDirLock {
    _file: File,
}

fn not_writable(dir: &Path, source: std::io::Error) -> StateDirError {
    StateDirError::NotWritable {
        dir: dir.display().to_string(),
        source,
    }
}

/// Creates the directory if missing, proves that files can be created in it, and takes the
/// lock without waiting.
pub fn lock_for_writing(dir: &Path) -> Result<StateDirLock, StateDirError> {
    if dir.exists() && !dir.is_dir() {
        return Err(not_writable(
            dir,
            std::io::Error::other("it is not a directory"),
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| not_writable(dir, e))?;
    // The log is appended to, and compaction writes a new file and renames it: a file that can
    // be created and removed is what both need.
    let probe = tempfile::Builder::new()
        .prefix(".write-probe")
        .tempfile_in(dir)
        .map_err(|e| not_writable(dir, e))?;
    probe.close().map_err(|e| not_writable(dir, e))?;
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(|e| not_writable(dir, e))?;
    take(dir, file)
}

/// A dry run writes nothing, so it creates no lock file; it waits for no one either, but it
/// does not read a log that a run is writing (or compact it under that run).
pub fn lock_for_reading(dir: &Path) -> Result<Option<StateDirLock>, StateDirError> {
    match File::open(dir.join(LOCK_FILE)) {
        Ok(file) => take(dir, file).map(Some),
        Err(_) => Ok(None),
    }
}

fn take(dir: &Path, file: File) -> Result<StateDirLock, StateDirError> {
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(StateDirLock { _file: file });
    }
    let error = std::io::Error::last_os_error();
    if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Err(StateDirError::Busy {
            dir: dir.display().to_string(),
        })
    } else {
        Err(not_writable(dir, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn a_second_lock_on_the_same_directory_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_for_writing(dir.path()).unwrap();
        assert!(matches!(
            lock_for_writing(dir.path()),
            Err(StateDirError::Busy { .. })
        ));
        assert!(matches!(
            lock_for_reading(dir.path()),
            Err(StateDirError::Busy { .. })
        ));
        drop(first);
        assert!(lock_for_writing(dir.path()).is_ok());
    }

    #[test]
    fn a_directory_where_nothing_can_be_created_is_not_writable() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        for bad in [file.join("state"), file.clone(), PathBuf::from("/proc")] {
            assert!(
                matches!(
                    lock_for_writing(&bad),
                    Err(StateDirError::NotWritable { .. })
                ),
                "{}",
                bad.display()
            );
        }
    }
}
