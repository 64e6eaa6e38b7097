//! The per-source circuit breaker (SPEC §4).
//!
//! CLOSED counts consecutive retryable failures; at `failure_threshold` it
//! turns OPEN and nothing is sent for `cooldown`. After that, HALF_OPEN lets
//! exactly one probe through — the waiting page's next attempt: success
//! closes it, a retryable failure opens it again. Any answer that is not a
//! retryable failure proves the server is there, so it closes a probing
//! breaker; in CLOSED a non-retryable failure neither trips nor resets the
//! count. The breaker only ever *delays* attempts; it never fails them.
//!
//! Time is passed in, never read, so every transition is testable without
//! sleeping.

use std::time::{Duration, Instant};

use crate::config::BreakerPolicy;

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Requests flow; `failures` consecutive retryable failures so far.
    Closed {
        /// Consecutive retryable failures.
        failures: u32,
    },
    /// Nothing is sent before `until`.
    Open {
        /// End of the cooldown.
        until: Instant,
    },
    /// One probe is in flight.
    HalfOpen,
}

/// A state change worth logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// CLOSED or HALF_OPEN → OPEN.
    Opened,
    /// OPEN → HALF_OPEN: the next attempt is a probe.
    Probing,
    /// HALF_OPEN → CLOSED.
    Closed,
}

/// What [`Breaker::admit`] says of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// It may go; `Some(Probing)` when it is the half-open probe.
    Go(Option<Transition>),
    /// Not before this instant.
    Wait(Instant),
}

/// How often a request held by a probe in flight looks again.
const PROBE_POLL: Duration = Duration::from_millis(10);

/// One source's breaker.
#[derive(Debug, Clone)]
pub struct Breaker {
    policy: BreakerPolicy,
    state: State,
    /// When the half-open probe went out, until its answer: the other
    /// requests of the source (`concurrency`) wait for it, so that one
    /// probe, not N, tries a server that was failing.
    probe_since: Option<Instant>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            state: State::Closed { failures: 0 },
            probe_since: None,
        }
    }

    /// Whether a request may go now, in one step under the source's lock
    /// (with `concurrency` another request must not slip between the look
    /// and the probe): while open, it waits for the cooldown; the first
    /// after it is the probe (`Go(Some(Probing))`); while the probe is out
    /// (at most `patience`, the longest an attempt takes), the others wait
    /// and look again shortly. `probe`: the caller is the probe already.
    pub fn admit(&mut self, now: Instant, patience: Duration, probe: bool) -> Admit {
        match (self.state, self.probe_since) {
            (State::Open { until }, _) if until > now => Admit::Wait(until),
            (State::Open { .. }, _) => Admit::Go(self.before_attempt(now)),
            (State::HalfOpen, Some(since)) if !probe && now < since + patience => {
                Admit::Wait(now + PROBE_POLL)
            }
            (State::HalfOpen, None) => {
                self.probe_since = Some(now);
                Admit::Go(Some(Transition::Probing))
            }
            _ => Admit::Go(None),
        }
    }

    /// The probe got an answer that says nothing of the server's health
    /// (a quota used up): the next request probes again.
    pub fn probe_answered(&mut self) {
        self.probe_since = None;
    }

    /// The current state (what the tests check).
    #[cfg(test)]
    pub fn state(&self) -> State {
        self.state
    }

    /// When the next attempt may be sent, if the breaker holds it back.
    pub fn blocked_until(&self) -> Option<Instant> {
        match self.state {
            State::Open { until } => Some(until),
            _ => None,
        }
    }

    /// Called just before an attempt is sent at `now`; after the cooldown
    /// this makes the attempt the probe.
    pub fn before_attempt(&mut self, now: Instant) -> Option<Transition> {
        match self.state {
            State::Open { until } if now >= until => {
                self.state = State::HalfOpen;
                self.probe_since = Some(now);
                Some(Transition::Probing)
            }
            _ => None,
        }
    }

    /// The attempt got a usable answer.
    pub fn on_success(&mut self) -> Option<Transition> {
        self.probe_since = None;
        let was = self.state;
        self.state = State::Closed { failures: 0 };
        (was == State::HalfOpen).then_some(Transition::Closed)
    }

    /// The attempt got an answer that is not worth retrying (the server is
    /// up): closes a probing breaker, leaves a closed one as it is.
    pub fn on_non_retryable(&mut self) -> Option<Transition> {
        match self.state {
            State::HalfOpen => self.on_success(),
            _ => None,
        }
    }

    /// The attempt failed in a retryable way at `now`.
    pub fn on_retryable(&mut self, now: Instant) -> Option<Transition> {
        self.probe_since = None;
        let failures = match self.state {
            State::Closed { failures } => failures + 1,
            State::HalfOpen => self.policy.failure_threshold,
            // Not sent while open; an attempt failing here raced the
            // cooldown's start and changes nothing.
            State::Open { .. } => return None,
        };
        if failures >= self.policy.failure_threshold {
            // The longest cooldown (u64::MAX ms) may not fit an `Instant`
            // on every platform; a century is as good as forever.
            let until = now
                .checked_add(self.policy.cooldown)
                .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400));
            self.state = State::Open { until };
            Some(Transition::Opened)
        } else {
            self.state = State::Closed { failures };
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        Breaker::new(BreakerPolicy {
            failure_threshold: 3,
            cooldown: Duration::from_secs(10),
        })
    }

    #[test]
    fn opens_after_threshold_consecutive_retryable_failures() {
        let t0 = Instant::now();
        let mut b = breaker();
        assert_eq!(b.on_retryable(t0), None);
        assert_eq!(b.on_retryable(t0), None);
        assert_eq!(b.on_retryable(t0), Some(Transition::Opened));
        assert_eq!(b.blocked_until(), Some(t0 + Duration::from_secs(10)));
    }

    #[test]
    fn success_resets_the_count_and_non_retryable_leaves_it() {
        let t0 = Instant::now();
        let mut b = breaker();
        b.on_retryable(t0);
        b.on_retryable(t0);
        assert_eq!(b.on_success(), None);
        b.on_retryable(t0);
        b.on_retryable(t0);
        assert_eq!(b.on_non_retryable(), None);
        assert_eq!(b.state(), State::Closed { failures: 2 });
        assert_eq!(b.on_retryable(t0), Some(Transition::Opened));
    }

    #[test]
    fn probe_only_after_cooldown_then_success_closes() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.on_retryable(t0);
        }
        assert_eq!(b.before_attempt(t0 + Duration::from_secs(9)), None);
        assert!(b.blocked_until().is_some());
        assert_eq!(
            b.before_attempt(t0 + Duration::from_secs(10)),
            Some(Transition::Probing)
        );
        assert_eq!(b.state(), State::HalfOpen);
        assert_eq!(b.blocked_until(), None);
        assert_eq!(b.on_success(), Some(Transition::Closed));
        assert_eq!(b.state(), State::Closed { failures: 0 });
    }

    #[test]
    fn failed_probe_reopens_for_a_full_cooldown() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.on_retryable(t0);
        }
        let t1 = t0 + Duration::from_secs(11);
        b.before_attempt(t1);
        assert_eq!(b.on_retryable(t1), Some(Transition::Opened));
        assert_eq!(b.blocked_until(), Some(t1 + Duration::from_secs(10)));
    }

    #[test]
    fn non_retryable_probe_answer_closes() {
        let t0 = Instant::now();
        let mut b = breaker();
        for _ in 0..3 {
            b.on_retryable(t0);
        }
        b.before_attempt(t0 + Duration::from_secs(10));
        assert_eq!(b.on_non_retryable(), Some(Transition::Closed));
        assert_eq!(b.state(), State::Closed { failures: 0 });
    }

    #[test]
    fn the_longest_cooldown_opens_without_overflowing() {
        let mut b = Breaker::new(BreakerPolicy {
            failure_threshold: 1,
            cooldown: Duration::from_millis(u64::MAX),
        });
        let t0 = Instant::now();
        assert_eq!(b.on_retryable(t0), Some(Transition::Opened));
        let until = b.blocked_until().expect("open");
        assert!(until > t0 + Duration::from_secs(365 * 86_400), "{until:?}");
        assert_eq!(b.before_attempt(t0 + Duration::from_secs(3600)), None);
    }
}
