//! What every request of one source goes through, whichever of its
//! workers sends it (SPEC §13): its token bucket (and its group's), its
//! breaker, and the pauses its server asked for — a `Retry-After` on a
//! page given up, a quota used up until its reset. With `concurrency: N`
//! the source's N workers share one [`Gate`], so the politeness promises
//! of SPEC §4 hold for the source as a whole, and a pause stops every
//! slot, not just the one that was told.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// What the last answer said is left of the quota, less the requests
    /// sent since, until its reset: with several requests in flight, the
    /// ones sent on an old count would be refused (SPEC §4: nothing is
    /// sent past the quota). Written after every answer that announces a
    /// quota and before every request.
    budget: Mutex<Option<(u64, Instant)>>,
    /// The source's requests on the wire now.
    in_flight: AtomicU64,
    /// An answer has come back since the source started or its quota
    /// window reset: until then one request at a time, so that the quota
    /// it announces is known before the others go.
    answered: AtomicBool,
    /// The one request out to learn the quota, while none has come back.
    learning: AtomicBool,
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
            budget: Mutex::new(None),
            in_flight: AtomicU64::new(0),
            answered: AtomicBool::new(false),
            learning: AtomicBool::new(false),
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

    /// An answer said `remaining` requests are left until `reset`: less
    /// the source's other requests still on the wire, which the server
    /// will count too.
    ///
    /// Answers come back in any order: within one window (the same reset,
    /// give or take the headers' rounding) what is left only goes down.
    pub fn note_budget(&self, remaining: u64, reset: Instant) {
        let others = self.in_flight.load(Ordering::Acquire);
        let left = remaining.saturating_sub(others);
        let mut budget = lock(&self.budget);
        *budget = match *budget {
            Some((was, at)) if same_window(at, reset) => Some((was.min(left), at.max(reset))),
            _ => Some((left, reset)),
        };
    }

    /// Takes one request of the budget, or says why not.
    pub fn spend_budget(&self) -> Budget {
        let mut budget = lock(&self.budget);
        match *budget {
            Some((_, reset)) if reset <= Instant::now() => {
                // A new window: what is left in it is unknown until an
                // answer says, so one request goes alone again.
                *budget = None;
                self.answered.store(false, Ordering::Release);
                Budget::NewWindow
            }
            Some((0, reset)) => Budget::WaitUntil(reset),
            Some((left, reset)) => {
                *budget = Some((left - 1, reset));
                Budget::Go
            }
            None => Budget::Go,
        }
    }

    /// A request of the source goes on the wire (`true`) or is back.
    pub fn on_wire(&self, going: bool) {
        match going {
            true => self.in_flight.fetch_add(1, Ordering::AcqRel),
            false => self.in_flight.fetch_sub(1, Ordering::AcqRel),
        };
    }

    /// An answer came back, its quota (if any) noted: the requests that
    /// waited for it may go.
    pub fn mark_answered(&self) {
        self.answered.store(true, Ordering::Release);
        self.learning.store(false, Ordering::Release);
    }

    /// Whether a request may go now: always once an answer has come back
    /// (in the quota's window); before, only the one that claims to learn
    /// it. `learner`: the caller claimed it already.
    pub fn may_go(&self, learner: &mut bool) -> bool {
        if *learner || self.answered.load(Ordering::Acquire) {
            return true;
        }
        *learner = self
            .learning
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        *learner
    }
}

/// Whether two resets name one window: the headers round them (to the
/// second, for GitHub's epoch), so within a second they are the same.
fn same_window(a: Instant, b: Instant) -> bool {
    let gap = if a > b { a - b } else { b - a };
    gap < Duration::from_secs(1)
}

/// What the quota's budget says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// It may go (one request taken of what is left, if anything was
    /// announced).
    Go,
    /// Nothing is left until this instant, the reset.
    WaitUntil(Instant),
    /// The window has reset: what is left is unknown until one request
    /// learns it (look again whether this one may go).
    NewWindow,
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
