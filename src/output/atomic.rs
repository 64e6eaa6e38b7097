//! Files that appear under their final name only when complete, and the
//! one place that decides which outputs a forced exit leaves.
//!
//! Every output (`records.jsonl`, `rejected.jsonl`, `summary.json`) is
//! written into a temporary file in the same directory (`.<name>.<pid>.tmp`),
//! flushed to disk, then renamed over the final name, so a final name
//! never holds half a file and a previous run's outputs stay until
//! replaced.
//!
//! **Which pair is committed.** A run's outputs belong together: the
//! summary counts the records beside it. So the data files are flushed
//! and synced first, the summary is written and synced, and only then are
//! all of them renamed — records, rejected items, summary last — in one
//! step under the registry's lock ([`commit_together`]). A forced exit (a
//! second Ctrl-C, [`exit_now`]) takes the same lock: it waits out the
//! renames in progress (microseconds) and, holding the lock, removes every
//! temporary file still registered and exits, so no file is created or
//! renamed after it. Whenever the second signal lands, the directory
//! holds the previous run's outputs or this run's, whole, and no
//! temporary file; never this run's records beside the previous run's
//! summary. (Only a kill that no handler sees, SIGKILL or a power cut,
//! can stop between two renames; it still never leaves half a file.)
//!
//! A temporary file is registered before it is created, under that lock,
//! so that no moment exists in which it is on disk but unknown to the
//! forced exit. Temporary files of runs that were killed are removed by
//! the next run in the same directory ([`remove_stale_temps`]), once their
//! process is gone.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::Value;

use crate::control::lock;
use crate::error::Error;

/// Name of the records file in the output directory.
pub const RECORDS_FILE: &str = "records.jsonl";
/// Name of the rejected-items file in the output directory.
pub const REJECTED_FILE: &str = "rejected.jsonl";
/// Name of the summary file in the output directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// The names of this tool's outputs in `--out`: only temporary files of
/// these (and of the state file, in its own directory) are ever removed
/// as stale.
pub const OUTPUT_FILES: [&str; 3] = [RECORDS_FILE, REJECTED_FILE, SUMMARY_FILE];

/// Temporary files being written, registered before they are created.
/// Locked by whoever creates, renames or removes an output file, and by
/// the forced exit, which holds it until the process is gone.
static OPEN_TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The forced exit (a second Ctrl-C): waits for renames in progress,
/// removes every temporary output file still registered, and exits with
/// `code` while holding the registry, so that no output file is created
/// or renamed after this point. See the module docs for which outputs
/// that leaves.
pub fn exit_now(code: i32) -> ! {
    let mut temps = lock(&OPEN_TEMPS);
    for tmp in temps.drain(..) {
        let _ = fs::remove_file(tmp);
    }
    std::process::exit(code)
}

/// A file that appears under its final name only when complete.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
    writer: BufWriter<File>,
    /// Renamed to `path`: nothing is left to remove (and dropping it must
    /// not take the registry, which the rename's caller may hold).
    committed: bool,
}

impl AtomicFile {
    /// Creates `dir` if needed and opens a temporary file beside `name`,
    /// registered (for the forced exit) before it exists.
    pub fn create(dir: &Path, name: &str) -> Result<Self, Error> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Output { path, source }
        };
        check_target(dir, name)?;
        fs::create_dir_all(dir).map_err(err(dir))?;
        let path = dir.join(name);
        let tmp = dir.join(temp_name(name, std::process::id()));
        let mut temps = lock(&OPEN_TEMPS);
        temps.push(tmp.clone());
        let file = match File::create(&tmp) {
            Ok(file) => file,
            Err(e) => {
                temps.retain(|t| *t != tmp);
                return Err(err(&tmp)(e));
            }
        };
        drop(temps);
        Ok(Self {
            tmp,
            path,
            writer: BufWriter::with_capacity(64 * 1024, file),
            committed: false,
        })
    }

    /// The writer for the file's content.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.writer
    }

    /// Flushes and syncs the content to disk, and checks that the final
    /// name can take it (no directory in the way): after this, only the
    /// rename is left ([`commit_together`]).
    pub fn finish(&mut self) -> Result<(), Error> {
        let result = self
            .writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_all());
        let result = result.and_then(|()| match self.path.is_dir() {
            true => Err(std::io::ErrorKind::IsADirectory.into()),
            false => Ok(()),
        });
        result.map_err(|source| Error::Output {
            path: self.path.clone(),
            source,
        })
    }

    /// Renames the finished file, holding the registry.
    fn rename(&mut self, temps: &mut Vec<PathBuf>) -> Result<PathBuf, Error> {
        fs::rename(&self.tmp, &self.path).map_err(|source| Error::Output {
            path: self.path.clone(),
            source,
        })?;
        temps.retain(|t| *t != self.tmp);
        self.committed = true;
        Ok(self.path.clone())
    }
}

/// A file never committed (a failed run, a failed write) leaves no
/// temporary file behind; after a commit there is none left to remove.
impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let mut temps = lock(&OPEN_TEMPS);
        let _ = fs::remove_file(&self.tmp);
        temps.retain(|t| *t != self.tmp);
    }
}

/// Why [`commit_together`] did not put every file in place.
#[derive(Debug)]
pub enum CommitError {
    /// A data file could not be renamed. The data files before it are in
    /// place (`committed`); it was dropped; `rest`, the ones after it,
    /// and the last file were not renamed, and the last was dropped — so
    /// the caller can write a last file that says so and commit `rest`
    /// with it.
    Data {
        /// Final names of the data files already in place.
        committed: Vec<PathBuf>,
        /// Why the rename failed.
        error: Error,
        /// The data files not yet renamed, still finished.
        rest: Vec<AtomicFile>,
    },
    /// Every data file is in place, the last file is not.
    Last(Error),
}

/// Renames finished files to their final names as one step that a forced
/// exit cannot cut (it waits for it): every data file in order, then
/// `last` (the summary), so the final names change together. Returns the
/// final names, `last`'s at the end.
pub fn commit_together(
    data: Vec<AtomicFile>,
    mut last: AtomicFile,
) -> Result<Vec<PathBuf>, CommitError> {
    let mut temps = lock(&OPEN_TEMPS);
    let mut committed = Vec::with_capacity(data.len() + 1);
    let mut files = data.into_iter();
    while let Some(mut file) = files.next() {
        match file.rename(&mut temps) {
            Ok(path) => committed.push(path),
            Err(error) => {
                // Dropped (and their temporary files removed) once the
                // registry is free again.
                drop(temps);
                drop(file);
                drop(last);
                return Err(CommitError::Data {
                    committed,
                    error,
                    rest: files.collect(),
                });
            }
        }
    }
    match last.rename(&mut temps) {
        Ok(path) => committed.push(path),
        Err(error) => {
            drop(temps);
            return Err(CommitError::Last(error));
        }
    }
    Ok(committed)
}

/// `.<name>.<pid>.tmp`: the temporary file of output `name` written by
/// process `pid`.
fn temp_name(name: &str, pid: u32) -> String {
    format!(".{name}.{pid}.tmp")
}

/// The process id in a file name of this tool's temporary pattern, for
/// one of `outputs`; `None` for every other name.
fn temp_owner(file_name: &str, outputs: &[&str]) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (name, pid) = rest.rsplit_once('.')?;
    let plain = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
    (outputs.contains(&name) && plain)
        .then(|| pid.parse().ok())
        .flatten()
}

/// Whether process `pid` may still be running (and writing its file).
/// On Linux, `/proc/<pid>` says; where there is no `/proc` to ask, every
/// process may be, so nothing is ever taken for stale.
fn may_be_running(pid: u32) -> bool {
    if pid == std::process::id() || !Path::new("/proc/self").exists() {
        return true;
    }
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Removes the temporary files that killed runs left in `dir`: regular
/// files named in this tool's own pattern for one of `outputs`
/// (`.records.jsonl.<pid>.tmp` and its kin) whose process no longer
/// exists, each logged. A live process's file (this one's included) and
/// every other name are left alone. Returns what was removed, with the
/// owner's pid.
pub fn remove_stale_temps(dir: &Path, outputs: &[&str]) -> Vec<(PathBuf, u32)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| temp_owner(n, outputs)) else {
            continue;
        };
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if regular && !may_be_running(pid) && fs::remove_file(entry.path()).is_ok() {
            let file = entry.path().display().to_string();
            log::info!(
                event = "stale_temp_removed", file = file, pid = pid,
                note = "left by a run that no longer exists"; ""
            );
            removed.push((entry.path(), pid));
        }
    }
    removed
}

/// Fails if `dir/name` can plainly never be written: `dir` is a file, or
/// `name` in it is a directory. Checked for both outputs before a run
/// fetches anything, not found after the whole run when a rename fails.
pub fn check_target(dir: &Path, name: &str) -> Result<(), Error> {
    let problem = if dir.exists() && !dir.is_dir() {
        Some((dir.to_path_buf(), std::io::ErrorKind::NotADirectory))
    } else if dir.join(name).is_dir() {
        Some((dir.join(name), std::io::ErrorKind::IsADirectory))
    } else {
        None
    };
    match problem {
        Some((path, kind)) => Err(Error::Output {
            path,
            source: kind.into(),
        }),
        None => Ok(()),
    }
}

/// Writes `value` as pretty JSON into a new temporary file for
/// `dir/name`, finished (flushed, synced) but not yet renamed.
pub fn json_file(dir: &Path, name: &str, value: &Value) -> Result<AtomicFile, Error> {
    let mut file = AtomicFile::create(dir, name)?;
    let path = dir.join(name);
    serde_json::to_writer_pretty(file.writer(), value)
        .map_err(std::io::Error::from)
        .and_then(|()| file.writer().write_all(b"\n"))
        .map_err(|source| Error::Output { path, source })?;
    file.finish()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ingest-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// `name` holding `text`, finished.
    fn written(dir: &Path, name: &str, text: &str) -> AtomicFile {
        let mut f = AtomicFile::create(dir, name).unwrap();
        f.writer().write_all(text.as_bytes()).unwrap();
        f.finish().unwrap();
        f
    }

    #[test]
    fn atomic_files_appear_only_when_committed_together() {
        let dir = scratch("atomic");
        let records = written(&dir, "records.jsonl", "new records");
        let summary = written(&dir, "summary.json", "new summary");
        assert_eq!(
            names(&dir),
            [
                format!(".records.jsonl.{}.tmp", std::process::id()),
                format!(".summary.json.{}.tmp", std::process::id()),
            ]
        );
        let paths = commit_together(vec![records], summary).unwrap();
        assert_eq!(paths, [dir.join("records.jsonl"), dir.join("summary.json")]);
        assert_eq!(names(&dir), ["records.jsonl", "summary.json"]);
        assert_eq!(fs::read_to_string(&paths[0]).unwrap(), "new records");
        // Dropped without a commit: the old file stays, the new one vanishes.
        let mut f = AtomicFile::create(&dir, "summary.json").unwrap();
        f.writer().write_all(b"half").unwrap();
        drop(f);
        assert_eq!(
            fs::read_to_string(dir.join("summary.json")).unwrap(),
            "new summary"
        );
        assert_eq!(names(&dir), ["records.jsonl", "summary.json"]);
        assert!(
            !lock(&OPEN_TEMPS).iter().any(|t| t.starts_with(&dir)),
            "nothing of this directory left registered"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_data_file_that_cannot_be_put_in_place_stops_the_commit_before_the_summary() {
        let dir = scratch("atomic-blocked");
        fs::write(dir.join("summary.json"), "previous summary").unwrap();
        let records = written(&dir, "records.jsonl", "records");
        let rejected = written(&dir, "rejected.jsonl", "rejected");
        let summary = written(&dir, "summary.json", "summary");
        // A directory takes the records' name after they were finished.
        fs::create_dir(dir.join("records.jsonl")).unwrap();
        fs::write(dir.join("records.jsonl").join("in-the-way"), "").unwrap();
        let Err(CommitError::Data {
            committed,
            error,
            rest,
        }) = commit_together(vec![records, rejected], summary)
        else {
            panic!("the records cannot be renamed over a directory");
        };
        assert!(committed.is_empty());
        assert!(error.to_string().contains("records.jsonl"), "{error}");
        assert_eq!(rest.len(), 1, "the rejected items, still to commit");
        assert_eq!(
            fs::read_to_string(dir.join("summary.json")).unwrap(),
            "previous summary",
            "the summary is not renamed beside records that were not"
        );
        // The caller writes a summary that says so and commits the rest.
        let summary = written(&dir, "summary.json", "summary: records failed");
        let paths = commit_together(rest, summary).unwrap();
        assert_eq!(
            paths,
            [dir.join("rejected.jsonl"), dir.join("summary.json")]
        );
        assert_eq!(
            names(&dir),
            ["records.jsonl", "rejected.jsonl", "summary.json"]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_this_tools_own_temporary_names_are_recognized() {
        let pid = |name: &str| temp_owner(name, &OUTPUT_FILES);
        assert_eq!(pid(".records.jsonl.42.tmp"), Some(42));
        assert_eq!(pid(".summary.json.7.tmp"), Some(7));
        assert_eq!(pid(".rejected.jsonl.4294967295.tmp"), Some(u32::MAX));
        for other in [
            "records.jsonl",
            ".records.jsonl.tmp",
            ".records.jsonl..tmp",
            ".records.jsonl.+4.tmp",
            ".records.jsonl.4x.tmp",
            ".records.jsonl.42.tmp.bak",
            "records.jsonl.42.tmp",
            ".state.json.42.tmp",
            ".notes.42.tmp",
            ".records.jsonl.4294967296.tmp",
        ] {
            assert_eq!(pid(other), None, "{other}");
        }
    }

    #[test]
    fn stale_temporary_files_of_dead_processes_are_removed() {
        if !Path::new("/proc/self").exists() {
            println!("skipped: no /proc to tell which processes are alive");
            return;
        }
        let dir = scratch("stale");
        // A process that has ended: its pid is free.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let own = std::process::id();
        let stale = [
            temp_name(RECORDS_FILE, dead),
            temp_name(SUMMARY_FILE, dead),
            temp_name(REJECTED_FILE, dead),
        ];
        let kept = [
            temp_name(RECORDS_FILE, own),
            format!(".records.jsonl.{dead}.tmp.bak"),
            format!(".state.json.{dead}.tmp"),
            "notes.txt".to_string(),
        ];
        for name in stale.iter().chain(&kept) {
            fs::write(dir.join(name), "x").unwrap();
        }
        // A directory of the pattern is not a file this tool wrote.
        let odd_dir = temp_name(RECORDS_FILE, u32::MAX);
        fs::create_dir(dir.join(&odd_dir)).unwrap();
        let mut removed: Vec<(String, u32)> = remove_stale_temps(&dir, &OUTPUT_FILES)
            .into_iter()
            .map(|(p, pid)| (p.file_name().unwrap().to_string_lossy().into_owned(), pid))
            .collect();
        removed.sort();
        let mut want: Vec<(String, u32)> = stale.iter().map(|n| (n.clone(), dead)).collect();
        want.sort();
        assert_eq!(removed, want);
        let mut left: Vec<String> = kept.to_vec();
        left.push(odd_dir);
        left.sort();
        assert_eq!(names(&dir), left);
        fs::remove_dir_all(&dir).unwrap();
    }
}
