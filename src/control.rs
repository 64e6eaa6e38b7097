//! The run's shared stop signal: the deadline and the interrupt flag.
//!
//! Every wait in a fetcher (token, backoff, Retry-After, breaker) goes
//! through [`RunControl::wait_until`], which refuses a wait that would end
//! past the deadline and wakes at once on an interrupt. That is what makes
//! Ctrl-C answer within a second although a thread blocked in `sleep`
//! would not be woken by a signal. In-flight requests are cut separately:
//! by a per-request time budget no longer than the time left, and by
//! shutting the shared `ureq::Agent` down on interrupt. Output that waits
//! on someone else (a reader of stdout) asks [`RunControl::stop_time`]
//! when the run was told to stop, and gives up shortly after.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Why a source stopped before its end of data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The run's deadline came, or a wait would have crossed it.
    Deadline,
    /// Ctrl-C, SIGTERM, or [`RunControl::interrupt`].
    Interrupted,
}

/// Shared by every thread of a run.
#[derive(Debug)]
pub struct RunControl {
    /// When the run must be over; set once at start.
    deadline: Instant,
    /// Set by the signal handler (or a test) and read by every wait and
    /// every page loop.
    interrupted: AtomicBool,
    /// When the first interrupt came: set once by `interrupt`, read by
    /// output that must be written within a second of it.
    interrupted_at: OnceLock<Instant>,
    /// Paired with `wake`, so `interrupt` can end sleeps early. The bool is
    /// a copy of `interrupted` kept under the lock to avoid lost wake-ups.
    sleeping: Mutex<bool>,
    /// Notified once by `interrupt`.
    wake: Condvar,
    /// Clones share one pool; shutting it down cuts every in-flight
    /// request of the run.
    agent: Mutex<Option<ureq::Agent>>,
    /// Which deadline it is and how to raise it, for a stop reason.
    set_by: String,
}

impl RunControl {
    /// A control for a run that must end by `deadline`.
    pub fn new(deadline: Instant) -> Self {
        Self {
            deadline,
            interrupted: AtomicBool::new(false),
            interrupted_at: OnceLock::new(),
            sleeping: Mutex::new(false),
            wake: Condvar::new(),
            agent: Mutex::new(None),
            set_by: "the run's deadline".into(),
        }
    }

    /// The same control, its deadline described as `words` (which
    /// setting it came from and how to raise it).
    pub fn deadline_set_by(mut self, words: impl Into<String>) -> Self {
        self.set_by = words.into();
        self
    }

    /// Which deadline it is and how to raise it.
    pub fn deadline_words(&self) -> &str {
        &self.set_by
    }

    /// The run's deadline.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Registers the agent whose requests an interrupt must cut.
    pub fn set_agent(&self, agent: ureq::Agent) {
        *lock(&self.agent) = Some(agent);
    }

    /// Stops the run: every wait returns, in-flight requests are cut, and
    /// every source still running ends with status `interrupted`.
    pub fn interrupt(&self) {
        let _ = self.interrupted_at.set(Instant::now());
        self.interrupted.store(true, Ordering::SeqCst);
        *lock(&self.sleeping) = true;
        self.wake.notify_all();
        if let Some(agent) = lock(&self.agent).take() {
            agent.shutdown();
        }
    }

    /// Whether [`interrupt`](Self::interrupt) was called.
    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// When the run must stop, or was told to: the moment of the first
    /// interrupt when there was one before the deadline, else the
    /// deadline. SPEC §4 counts its bounds for writing the outputs from
    /// here.
    pub fn stop_time(&self) -> Instant {
        match self.interrupted_at.get() {
            Some(&at) => at.min(self.deadline),
            None => self.deadline,
        }
    }

    /// `Ok` while the run may go on; else why it must stop.
    pub fn check(&self) -> Result<(), Stop> {
        if self.is_interrupted() {
            Err(Stop::Interrupted)
        } else if Instant::now() >= self.deadline {
            Err(Stop::Deadline)
        } else {
            Ok(())
        }
    }

    /// Time left before the deadline, if any.
    pub fn time_left(&self) -> Result<Duration, Stop> {
        self.check()?;
        Ok(self.deadline.saturating_duration_since(Instant::now()))
    }

    /// Sleeps until `until`, unless that is past the deadline (then returns
    /// `Deadline` at once, without sleeping) or an interrupt comes first.
    pub fn wait_until(&self, until: Instant) -> Result<(), Stop> {
        self.check()?;
        if until > self.deadline {
            return Err(Stop::Deadline);
        }
        let mut stopped = lock(&self.sleeping);
        loop {
            if *stopped {
                return Err(Stop::Interrupted);
            }
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            stopped = self
                .wake
                .wait_timeout(stopped, until - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// [`wait_until`](Self::wait_until) `now + d`.
    pub fn wait(&self, d: Duration) -> Result<(), Stop> {
        self.wait_until(self.after(d))
    }

    /// `now + d`; a `d` too large for an `Instant` (a hostile
    /// `Retry-After`) gives a moment past the deadline instead of a panic
    /// — or, for a deadline that is itself the last `Instant` there is
    /// (a run without end), that deadline.
    pub fn after(&self, d: Duration) -> Instant {
        let now = Instant::now();
        now.checked_add(d).unwrap_or_else(|| {
            let deadline = self.deadline.max(now);
            deadline
                .checked_add(Duration::from_nanos(1))
                .unwrap_or(deadline)
        })
    }
}

/// `t + d`, or the last `Instant` after `t` there is when that overflows:
/// where a server-given duration (or one derived from it) meets the clock
/// and "as late as can be" is the right answer rather than a panic.
pub fn saturating_add(t: Instant, d: Duration) -> Instant {
    if let Some(end) = t.checked_add(d) {
        return end;
    }
    // Overflow is rare (centuries of `d`), so a bisection over the
    // nanoseconds is cheap: at most ~100 `checked_add`s.
    let (mut fits, mut overflows) = (0u128, d.as_nanos());
    while overflows - fits > 1 {
        let mid = fits + (overflows - fits) / 2;
        match t.checked_add(nanos(mid)) {
            Some(_) => fits = mid,
            None => overflows = mid,
        }
    }
    t.checked_add(nanos(fits)).unwrap_or(t)
}

/// A `Duration` of `n` nanoseconds (`n` is below `Duration::MAX`'s).
fn nanos(n: u128) -> Duration {
    const NANOS: u128 = 1_000_000_000;
    Duration::new((n / NANOS) as u64, (n % NANOS) as u32)
}

/// Locks a mutex, taking the data even if another thread panicked with it:
/// the data here stays consistent at every point a panic could occur.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_wait_past_the_deadline_is_refused_without_sleeping() {
        let control = RunControl::new(Instant::now() + Duration::from_millis(50));
        let t = Instant::now();
        assert_eq!(control.wait(Duration::from_secs(5)), Err(Stop::Deadline));
        assert!(t.elapsed() < Duration::from_millis(40));
        assert_eq!(control.wait(Duration::from_millis(1)), Ok(()));
    }

    #[test]
    fn an_absurd_wait_is_past_the_deadline_not_a_panic() {
        let control = RunControl::new(Instant::now() + Duration::from_secs(60));
        assert!(control.after(Duration::MAX) > control.deadline());
        assert_eq!(control.wait(Duration::MAX), Err(Stop::Deadline));
    }

    /// A run whose deadline is the last `Instant` there is: a wait of any
    /// length is computed without a panic (it once added 1 ns to it).
    #[test]
    fn an_absurd_wait_under_the_last_deadline_is_not_a_panic() {
        let last = saturating_add(Instant::now(), Duration::MAX);
        assert!(last.checked_add(Duration::from_nanos(1)).is_none());
        let control = RunControl::new(last);
        assert_eq!(control.after(Duration::MAX), last);
        let ms = Duration::from_millis(1);
        assert!(control.after(ms) <= Instant::now() + ms);
    }

    #[test]
    fn saturating_add_is_the_sum_or_the_last_instant() {
        let t = Instant::now();
        let hour = Duration::from_secs(3600);
        assert_eq!(saturating_add(t, hour), t + hour);
        for huge in [
            Duration::MAX,
            Duration::from_secs(u64::MAX / 2),
            Duration::new(i64::MAX as u64, 999_999_999),
        ] {
            let end = saturating_add(t, huge);
            assert!(end > t + hour, "{huge:?}");
            assert!(
                end.checked_add(Duration::from_nanos(1)).is_none(),
                "{huge:?}"
            );
        }
    }

    #[test]
    fn an_interrupt_ends_a_wait_early() {
        let control = Arc::new(RunControl::new(Instant::now() + Duration::from_secs(60)));
        let waiter = {
            let control = Arc::clone(&control);
            std::thread::spawn(move || control.wait(Duration::from_secs(30)))
        };
        std::thread::sleep(Duration::from_millis(20));
        control.interrupt();
        assert_eq!(waiter.join().unwrap(), Err(Stop::Interrupted));
        assert_eq!(control.check(), Err(Stop::Interrupted));
    }

    #[test]
    fn the_stop_time_is_the_deadline_or_the_first_interrupt() {
        let deadline = Instant::now() + Duration::from_secs(60);
        let control = RunControl::new(deadline);
        assert_eq!(control.stop_time(), deadline);
        control.interrupt();
        let first = control.stop_time();
        assert!(first < deadline && first <= Instant::now());
        std::thread::sleep(Duration::from_millis(2));
        control.interrupt();
        assert_eq!(control.stop_time(), first, "the first interrupt counts");
    }
}
