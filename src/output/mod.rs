//! Where records go: `records.jsonl` written atomically (`atomic`), or
//! stdout as JSON Lines (`stdout`) or Singer messages (`singer`); the
//! state file on disk (`state_file`); and the locks that keep a second
//! run off the same `--out` and `--state` (`lock`).
//!
//! Files appear under their final name only when whole; stdout gets whole
//! lines once per chunk, and a reader that goes away ends delivery, not
//! the run.

pub mod atomic;
pub mod lock;
pub mod singer;
pub mod state_file;
pub mod stdout;
