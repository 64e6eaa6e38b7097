//! What a user sees of a run: `summary.json` and the end table
//! (`summary`), the warnings that say a run that looks fine is not
//! (`warnings`), the progress display (`progress`) and the log lines
//! (`logging`).
//!
//! This stage reads the run's counters; it decides nothing about fetching
//! or records.

pub mod logging;
pub mod progress;
pub mod summary;
pub mod warnings;
