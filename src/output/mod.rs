//! Where records go: the processor's record sinks — `records.jsonl`
//! (`records_file`), or stdout as JSON Lines or Singer messages (`stdout`,
//! `singer`) — and the files of a run, written atomically (`atomic`); the
//! state file on disk (`state_file`); and the locks that keep a second
//! run off the same `--out` and `--state` (`lock`).
//!
//! Files appear under their final name only when whole; stdout gets whole
//! lines once per chunk from a thread of its own, and a reader that goes
//! away or never reads ends delivery, not the run.

pub mod atomic;
pub mod lock;
pub mod records_file;
pub mod singer;
pub mod state_file;
pub mod stdout;
