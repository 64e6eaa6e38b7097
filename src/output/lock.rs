//! One run at a time (SPEC §9): a run holds an exclusive advisory lock on
//! its `--out` directory and on its `--state` file from before it reads
//! the state until after it has written it, so a second run that needs
//! either — a cron job that overlaps itself, a shard started twice —
//! stops at once instead of mixing its records with the other's summary
//! or writing back a state that loses the other's positions.
//!
//! The lock is the kernel's (`flock` through std's `File::try_lock`),
//! taken on a lock file that never moves: `.ingest.lock` in `--out`, and
//! `FILE.lock` beside the state file (the state file itself is replaced
//! by a rename on every save, and a lock on the old inode would guard
//! nothing). The kernel releases it when the process ends however it
//! ends, so a killed run never leaves a stale lock; the file stays (to
//! remove it would let a third run lock a new file while a second still
//! holds the old one) and holds the pid of its last holder, for the
//! message a refused run prints.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use log::warn;

use crate::error::Error;

/// The lock file of an output directory, in it.
pub const OUT_LOCK_FILE: &str = ".ingest.lock";

/// A lock this run holds until it is dropped (the end of the run).
#[derive(Debug)]
pub struct RunLock {
    /// Open for as long as the lock is held: closing it releases it.
    _file: Option<File>,
}

/// The lock file of the state file at `state` (its final target, links
/// followed): `FILE.lock` beside it.
pub fn state_lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    state.with_file_name(name)
}

/// Takes the lock at `lock`, which guards `what` ("the state file
/// s.json"), or says who holds it. Creating the lock file is the first
/// write there, so a place that cannot be written fails here (exit 1),
/// before anything is fetched.
pub fn acquire(lock: &Path, what: &str) -> Result<RunLock, Error> {
    let io = |source| Error::Output {
        path: lock.to_path_buf(),
        source,
    };
    if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Output {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    // Not truncated on open: the holder's pid is what a refused run
    // reads.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            // Who holds it, for the message of a run refused; a lock that
            // cannot say so still locks.
            let _ = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| writeln!(file, "{}", std::process::id()))
                .and_then(|()| file.flush());
            Ok(RunLock { _file: Some(file) })
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Locked {
            what: what.to_string(),
            lock: lock.to_path_buf(),
            holder: holder(&mut file),
        }),
        // A file system without locks (some network mounts): the run
        // goes on unguarded rather than not at all, and says so.
        Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            let file = lock.display().to_string();
            warn!(event = "no_lock", file = file, error:% = e; "");
            Ok(RunLock { _file: None })
        }
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// The pid the holder of a lock wrote into it, if it did.
fn holder(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_held_until_dropped_and_names_its_holder() {
        let dir = std::env::temp_dir().join(format!("ingest-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let lock = dir.join("sub").join("state.json.lock");
        let held = acquire(&lock, "the state file x").unwrap();
        // A second open file description conflicts, in this process too.
        match acquire(&lock, "the state file x") {
            Err(Error::Locked {
                what,
                lock: at,
                holder,
            }) => {
                assert_eq!(what, "the state file x");
                assert_eq!(at, lock);
                assert_eq!(holder, Some(std::process::id()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        let shown = acquire(&lock, "the state file x").unwrap_err().to_string();
        assert!(
            shown.starts_with("locked: the state file x is in use by another run (pid "),
            "{shown}"
        );
        drop(held);
        // Free again — after a moment at most: another test of this
        // process may fork a child that holds a copy of the descriptor
        // until it execs.
        let asked = std::time::Instant::now();
        let again = loop {
            match acquire(&lock, "the state file x") {
                Ok(again) => break again,
                Err(e) if asked.elapsed() < std::time::Duration::from_secs(5) => {
                    let _ = e;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("still locked after the holder dropped it: {e}"),
            }
        };
        drop(again);
        assert!(lock.exists(), "the lock file stays");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_state_files_lock_is_beside_it() {
        assert_eq!(
            state_lock_path(Path::new("/var/lib/ingest/a.json")),
            Path::new("/var/lib/ingest/a.json.lock")
        );
        assert_eq!(state_lock_path(Path::new("s")), Path::new("s.lock"));
    }
}
