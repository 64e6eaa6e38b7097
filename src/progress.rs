//! Progress display on stderr while a run is going.
//!
//! Placeholder until the progress-bar work: it only waits for the run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::aggregate::Stats;

/// The progress display of one run.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// A display for the sources in `stats`; draws only if `enabled`.
    pub fn new(enabled: bool, _stats: &Stats) -> Self {
        Self { enabled }
    }

    /// Redraws from `stats` until `done()` is true.
    pub fn draw_until(&self, _stats: &Arc<Mutex<Stats>>, done: impl Fn() -> bool) {
        while self.enabled && !done() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Draws the final state.
    pub fn finish(&self, _stats: &Stats) {}
}
