//! The `--state` file on disk (SPEC §9): locked for the whole run, read
//! once before anything is fetched, written atomically after the summary,
//! so that a killed run leaves the previous file whole. What the file
//! means is `crate::state`'s business; this module only moves it between
//! disk and memory.
//!
//! A state file that is a symbolic link is read, locked and written
//! through it: the link's target is what is replaced (by a rename in the
//! target's own directory), and the link stays a link. The path must not
//! be one of the run's own outputs: the state would replace them.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::output::atomic::{self, AtomicFile, CommitError, OUTPUT_FILES};
use crate::output::lock::{self, RunLock, OUT_LOCK_FILE};
use crate::state::State;

/// Largest state file read: a state is a few hundred bytes a source.
const MAX_STATE_BYTES: u64 = 16 << 20;

/// Symbolic links followed from the path given to the file itself; more
/// is a loop (the OS says so when the file is read).
const MAX_LINKS: usize = 40;

/// The state file of a run.
#[derive(Debug, Clone)]
pub struct StateFile {
    /// The path as given (`--state`), as messages name it.
    given: PathBuf,
    /// The file it names, symbolic links followed: what is replaced.
    target: PathBuf,
}

impl StateFile {
    /// The state file at `given`, which may be a symbolic link (to a file
    /// that does not exist yet, even).
    pub fn new(given: &Path) -> StateFile {
        StateFile {
            given: given.to_path_buf(),
            target: follow_links(given),
        }
    }

    /// Refuses a state file that is one of the outputs of a run into
    /// `out`, or `out` itself, however it is spelled (`..`, links): the
    /// state would replace the records, or never be written (exit 2).
    pub fn check_apart_from(&self, out: &Path) -> Result<(), Error> {
        let state = canonical(&self.target);
        let out_dir = canonical(out);
        let mut outputs = OUTPUT_FILES.iter().chain([&OUT_LOCK_FILE]);
        let clash = if state == out_dir {
            Some("the output directory".to_string())
        } else if let Some(name) = outputs.find(|name| state == out_dir.join(name)) {
            Some(format!("{name}, one of the run's own outputs"))
        } else if lock::state_lock_path(&state) == out_dir.join(OUT_LOCK_FILE) {
            Some(format!(
                "a file whose lock would be {OUT_LOCK_FILE}, the output directory's"
            ))
        } else {
            None
        };
        match clash {
            Some(what) => Err(Error::Usage(format!(
                "--state {} names {what} (--out {}): give the state file a path of its own",
                self.given.display(),
                out.display()
            ))),
            None => Ok(()),
        }
    }

    /// Locks the state file for this run (`FILE.lock` beside its target),
    /// or says which run holds it (exit 1).
    pub fn lock(&self) -> Result<RunLock, Error> {
        let what = format!("the state file {}", self.given.display());
        lock::acquire(&lock::state_lock_path(&canonical(&self.target)), &what)
    }

    /// Reads the file: a missing file is an empty state (a first run);
    /// anything that is not a state file of this version is an error that
    /// says what is wrong (exit 2). Then checks that the state can be
    /// written there, as `--out` is checked: a place that cannot take it
    /// fails now (exit 1), before anything is fetched, not after the
    /// whole run. Temporary state files of killed runs beside it go.
    pub fn load(&self) -> Result<State, Error> {
        let state = self.read()?;
        let (dir, name) = split_path(&self.target);
        atomic::remove_stale_temps(&dir, &[&name]);
        drop(AtomicFile::create(&dir, &name)?);
        Ok(state)
    }

    /// `what` is wrong with this state file: a usage error naming it.
    pub fn refused(&self, what: &str) -> Error {
        Error::State(format!("{}: {what}", self.given.display()))
    }

    fn read(&self) -> Result<State, Error> {
        let file = match std::fs::File::open(&self.target) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(self.refused(&format!("cannot read it: {e}"))),
        };
        let mut bytes = Vec::new();
        file.take(MAX_STATE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.refused(&format!("cannot read it: {e}")))?;
        if bytes.len() as u64 > MAX_STATE_BYTES {
            return Err(self.refused(&format!(
                "expected a state file of at most {} MiB",
                MAX_STATE_BYTES >> 20
            )));
        }
        State::from_slice(&bytes).map_err(|what| self.refused(&what))
    }

    /// Writes the state, atomically (a killed run leaves the previous
    /// file whole), through a symbolic link to its target. Returns the
    /// path written.
    pub fn save(&self, state: &State) -> Result<PathBuf, Error> {
        let doc = state.to_json();
        let (dir, name) = split_path(&self.target);
        let mut file = AtomicFile::create(&dir, &name)?;
        let err = |source| Error::Output {
            path: self.target.clone(),
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
        Ok(paths.pop().unwrap_or_else(|| self.target.clone()))
    }
}

/// The file `path` names once its symbolic links are followed (relative
/// targets from the link's directory); `path` itself when it is no link,
/// does not exist, or the links go round.
fn follow_links(path: &Path) -> PathBuf {
    let mut at = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::read_link(&at) {
            Ok(next) => {
                at = at
                    .parent()
                    .map_or_else(|| next.clone(), |dir| dir.join(&next))
            }
            Err(_) => return at,
        }
    }
    path.to_path_buf()
}

/// `path` made absolute with every part that exists made canonical
/// (links followed, `.` and `..` resolved), so that two spellings of one
/// file compare equal whether it exists yet or not.
fn canonical(path: &Path) -> PathBuf {
    let mut missing = Vec::new();
    let mut at = path;
    loop {
        let here = if at.as_os_str().is_empty() {
            Path::new(".")
        } else {
            at
        };
        if let Ok(found) = std::fs::canonicalize(here) {
            return missing.iter().rev().fold(found, |p, name| p.join(name));
        }
        match (at.parent(), at.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_os_string());
                at = parent;
            }
            _ => return std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        }
    }
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

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ingest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::canonicalize(dir).unwrap()
    }

    #[test]
    #[cfg(unix)]
    fn loading_removes_the_temporary_state_files_of_dead_runs_only() {
        if !Path::new("/proc/self").exists() {
            println!("skipped: no /proc to tell which processes are alive");
            return;
        }
        let dir = scratch("state-stale");
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
        StateFile::new(&dir.join("my-state.json"))
            .load()
            .expect("no state file yet: a first run");
        assert!(!stale.exists(), "a dead run's temporary state file goes");
        assert!(live.exists(), "a live process's stays");
        assert!(other.exists(), "another output's is --out's business");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    #[cfg(unix)]
    fn links_are_followed_to_the_file_they_name() {
        let dir = scratch("state-links");
        std::fs::create_dir(dir.join("real")).unwrap();
        std::os::unix::fs::symlink("real/s.json", dir.join("one")).unwrap();
        std::os::unix::fs::symlink(dir.join("one"), dir.join("two")).unwrap();
        std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
        assert_eq!(follow_links(&dir.join("two")), dir.join("real/s.json"));
        assert_eq!(follow_links(&dir.join("plain")), dir.join("plain"));
        assert_eq!(follow_links(&dir.join("loop")), dir.join("loop"));
        assert_eq!(
            canonical(&dir.join("real/../real/new/s.json")),
            dir.join("real/new/s.json")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_state_path_among_the_outputs_is_refused() {
        let dir = scratch("state-apart");
        let out = dir.join("out");
        for bad in [
            "out",
            "out/records.jsonl",
            "out/summary.json",
            "out/.ingest",
        ] {
            let err = StateFile::new(&dir.join(bad)).check_apart_from(&out);
            assert!(matches!(err, Err(Error::Usage(_))), "{bad}: {err:?}");
        }
        for fine in ["state.json", "out/state.json", "out/records.jsonl.bak"] {
            StateFile::new(&dir.join(fine))
                .check_apart_from(&out)
                .unwrap_or_else(|e| panic!("{fine}: {e}"));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
