//! What every request of one source goes through, whichever of its
//! workers sends it (SPEC §13): its token bucket (and its group's), its
//! breaker, and the pauses its server asked for — a `Retry-After` on a
//! page given up, a quota used up until its reset. With `concurrency: N`
//! the source's N workers share one [`Gate`], so the politeness promises
//! of SPEC §4 hold for the source as a whole, and a pause stops every
//! slot, not just the one that was told.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::control::{lock, RunControl, Stop};

use super::breaker::Breaker;
use super::rate_limit::{Groups, Limits};

/// One source's shared politeness.
#[derive(Debug)]
pub struct Gate {
    /// Its bucket, and its group's.
    limits: Limits,
    /// Its breaker, one for all of its requests.
    breaker: Mutex<Breaker>,
    /// Nothing is sent before this instant: the `Retry-After` of a page
    /// given up, which the server meant for the whole API. Written by the
    /// worker that gave the page up, read by every worker before a page.
    retry_after: Mutex<Option<Instant>>,
    /// Nothing is sent before this instant: the server said its quota is
    /// used up until then. Written by the worker that read the quota
    /// headers, read by every worker before an attempt.
    quota_until: Mutex<Option<Instant>>,
}

impl Gate {
    /// Source `index`'s gate, in its rate limit group if it names one.
    pub fn new(config: &Config, index: usize, groups: &Groups) -> Gate {
        let source = &config.sources[index];
        let group = source
            .rate_limit_group
            .as_deref()
            .and_then(|g| groups.get(g));
        Gate {
            limits: Limits::new(source.policies.rate_limit, group),
            breaker: Mutex::new(Breaker::new(source.policies.breaker)),
            retry_after: Mutex::new(None),
            quota_until: Mutex::new(None),
        }
    }

    /// Takes a token of each bucket now, or says how long until one.
    pub fn try_take(&self) -> Result<(), Duration> {
        self.limits.try_take()
    }

    /// Takes a token of each bucket, waiting as needed; how long it took.
    pub fn take(&self, control: &RunControl) -> Result<Duration, Stop> {
        self.limits.take(control)
    }

    /// `f` with the breaker, under its lock.
    pub fn breaker<T>(&self, f: impl FnOnce(&mut Breaker) -> T) -> T {
        f(&mut lock(&self.breaker))
    }

    /// Holds every request until `until` (a `Retry-After`), unless a later
    /// pause is already set.
    pub fn pause(&self, until: Instant) {
        let mut at = lock(&self.retry_after);
        *at = Some(at.map_or(until, |t| t.max(until)));
    }

    /// The `Retry-After` pause, if it has not passed.
    pub fn paused_until(&self) -> Option<Instant> {
        lock(&self.retry_after).filter(|t| *t > Instant::now())
    }

    /// Holds every request until the quota resets at `until`.
    pub fn hold_for_quota(&self, until: Instant) {
        let mut at = lock(&self.quota_until);
        *at = Some(at.map_or(until, |t| t.max(until)));
    }

    /// The quota's reset, if it has not passed.
    pub fn quota_until(&self) -> Option<Instant> {
        lock(&self.quota_until).filter(|t| *t > Instant::now())
    }
}

/// Every source's gate, in config order.
#[derive(Debug)]
pub struct Gates(Vec<Arc<Gate>>);

impl Gates {
    /// A gate per source of `config`, the groups' buckets shared.
    pub fn for_config(config: &Config) -> Gates {
        let groups = Groups::for_config(config);
        Gates(
            (0..config.sources.len())
                .map(|i| Arc::new(Gate::new(config, i, &groups)))
                .collect(),
        )
    }

    /// Source `index`'s gate.
    pub fn of(&self, index: usize) -> Arc<Gate> {
        Arc::clone(&self.0[index])
    }
}
