//! Files that appear under their final name only when complete.
//!
//! Every output (`records.jsonl`, `summary.json`) is written into a
//! temporary file in the same directory, flushed to disk, then renamed over
//! the final name, so a final name never holds half a file and a previous
//! run's outputs stay until replaced. The temporary files being written are
//! registered so that a forced exit (a second Ctrl-C) can remove them.

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

/// Temporary files being written, so that a forced exit (a second Ctrl-C)
/// can remove them: nothing else would ever clean them up.
static OPEN_TEMPS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every temporary output file still being written. For the forced
/// exit only: the files' owners are about to vanish with the process.
pub fn remove_temp_files() {
    for tmp in lock(&OPEN_TEMPS).drain(..) {
        let _ = fs::remove_file(tmp);
    }
}

/// A file that appears under its final name only when complete.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
    writer: BufWriter<File>,
}

impl AtomicFile {
    /// Creates `dir` if needed and opens a temporary file beside `name`.
    pub fn create(dir: &Path, name: &str) -> Result<Self, Error> {
        let err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Output { path, source }
        };
        check_target(dir, name)?;
        fs::create_dir_all(dir).map_err(err(dir))?;
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let file = File::create(&tmp).map_err(err(&tmp))?;
        lock(&OPEN_TEMPS).push(tmp.clone());
        Ok(Self {
            tmp,
            path,
            writer: BufWriter::with_capacity(64 * 1024, file),
        })
    }

    /// The writer for the file's content.
    pub fn writer(&mut self) -> &mut BufWriter<File> {
        &mut self.writer
    }

    /// Flushes, syncs and renames the file to its final name.
    pub fn commit(mut self) -> Result<PathBuf, Error> {
        let mut finish = || -> std::io::Result<()> {
            self.writer.flush()?;
            self.writer.get_ref().sync_all()?;
            fs::rename(&self.tmp, &self.path)
        };
        match finish() {
            Ok(()) => Ok(self.path.clone()),
            Err(source) => Err(Error::Output {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// A file never committed (a failed run, a failed write) leaves no
/// temporary file behind; after a commit there is none left to remove.
impl Drop for AtomicFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.tmp);
        lock(&OPEN_TEMPS).retain(|t| *t != self.tmp);
    }
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

/// Writes `value` as pretty JSON to `dir/name`, atomically.
pub fn write_json(dir: &Path, name: &str, value: &Value) -> Result<PathBuf, Error> {
    let mut file = AtomicFile::create(dir, name)?;
    let path = dir.join(name);
    serde_json::to_writer_pretty(file.writer(), value)
        .map_err(std::io::Error::from)
        .and_then(|()| file.writer().write_all(b"\n"))
        .map_err(|source| Error::Output { path, source })?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_file_appears_only_on_commit() {
        let dir = std::env::temp_dir().join(format!("ingest-atomic-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let mut f = AtomicFile::create(&dir, "x.json").unwrap();
        f.writer().write_all(b"hello").unwrap();
        assert!(!dir.join("x.json").exists());
        let path = f.commit().unwrap();
        assert_eq!(fs::read_to_string(path).unwrap(), "hello");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );
        // Dropped without a commit: the old file stays, the new one vanishes.
        let mut f = AtomicFile::create(&dir, "x.json").unwrap();
        f.writer().write_all(b"half").unwrap();
        drop(f);
        assert_eq!(fs::read_to_string(dir.join("x.json")).unwrap(), "hello");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "temporary removed");
        fs::remove_dir_all(&dir).unwrap();
    }
}
