//! The `--state` file on disk (SPEC §9): read once before anything is
//! fetched, written atomically after the summary, so that a killed run
//! leaves the previous file whole. What the file means is `crate::state`'s
//! business; this module only moves it between disk and memory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::output::atomic::{self, AtomicFile, CommitError};
use crate::state::State;

/// Largest state file read: a state is a few hundred bytes a source.
const MAX_STATE_BYTES: u64 = 16 << 20;

/// Reads `path`: a missing file is an empty state (a first run);
/// anything that is not a state file of this version is an error that
/// says what is wrong (exit 2). Then checks that the state can be
/// written there, as `--out` is checked: a place that cannot take it
/// fails now (exit 1), before anything is fetched, not after the
/// whole run. Temporary state files of killed runs beside it go.
pub fn load(path: &Path) -> Result<State, Error> {
    let state = read(path)?;
    let (dir, name) = split_path(path);
    atomic::remove_stale_temps(&dir, &[&name]);
    drop(AtomicFile::create(&dir, &name)?);
    Ok(state)
}

fn read(path: &Path) -> Result<State, Error> {
    let fail = |what: &str| Error::State(format!("{}: {what}", path.display()));
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(fail(&format!("cannot read it: {e}"))),
    };
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(&format!("cannot read it: {e}")))?;
    if bytes.len() as u64 > MAX_STATE_BYTES {
        return Err(fail(&format!(
            "expected a state file of at most {} MiB",
            MAX_STATE_BYTES >> 20
        )));
    }
    State::from_slice(&bytes).map_err(|what| fail(&what))
}

/// Writes the state to `path`, atomically (a killed run leaves the
/// previous file whole).
pub fn save(state: &State, path: &Path) -> Result<PathBuf, Error> {
    let doc = state.to_json();
    let (dir, name) = split_path(path);
    let mut file = AtomicFile::create(&dir, &name)?;
    let err = |source| Error::Output {
        path: path.to_path_buf(),
        source,
    };
    serde_json::to_writer_pretty(file.writer(), &doc)
        .map_err(std::io::Error::from)
        .and_then(|()| file.writer().write_all(b"\n"))
        .map_err(err)?;
    file.finish()?;
    let mut paths = atomic::commit_together(Vec::new(), file).map_err(|e| match e {
        CommitError::Last(e) => e,
        CommitError::Data { error, .. } => error,
    })?;
    Ok(paths.pop().unwrap_or_else(|| path.to_path_buf()))
}

/// The directory and file name of `path` (the current directory when it
/// has none).
fn split_path(path: &Path) -> (PathBuf, String) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let name = path.file_name().map_or_else(
        || "state.json".to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    (dir, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn loading_removes_the_temporary_state_files_of_dead_runs_only() {
        if !Path::new("/proc/self").exists() {
            println!("skipped: no /proc to tell which processes are alive");
            return;
        }
        let dir = std::env::temp_dir().join(format!("ingest-state-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let stale = dir.join(format!(".my-state.json.{dead}.tmp"));
        // The parent (cargo, or the shell) is running.
        let live = dir.join(format!(
            ".my-state.json.{}.tmp",
            std::os::unix::process::parent_id()
        ));
        let other = dir.join(format!(".summary.json.{dead}.tmp"));
        for path in [&stale, &live, &other] {
            std::fs::write(path, "x").unwrap();
        }
        load(&dir.join("my-state.json")).expect("no state file yet: a first run");
        assert!(!stale.exists(), "a dead run's temporary state file goes");
        assert!(live.exists(), "a live process's stays");
        assert!(other.exists(), "another output's is --out's business");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
