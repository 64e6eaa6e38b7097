//! The per-source token bucket, and the shared buckets of rate limit
//! groups (SPEC §13: many sources on one host stay within the host's
//! limit together).
//!
//! A thin layer over the `ratelimit` crate's lock-free bucket: it starts
//! full (`burst` tokens), refills continuously at `per_second`, and every
//! request — retries, probes, redirect hops and resends too — takes one
//! token: the bound holds as the server counts requests. Fractional
//! rates keep their precision: 0.5/s means one request every 2 s, 0.001/s
//! one every 1000 s. Waiting for a token goes
//! through [`RunControl`], so it respects the deadline and Ctrl-C.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratelimit::{Builder, Clock, Ratelimiter, StdClock, TryWaitError};

use crate::config::RateLimit;
use crate::control::{RunControl, Stop};

/// Rates are scaled by this much so that fractional `per_second` values
/// keep three decimals of precision.
const RATE_SCALE: u64 = 1000;

/// One source's token bucket.
#[derive(Debug)]
pub struct TokenBucket<C: Clock = StdClock> {
    limiter: Ratelimiter<C>,
}

impl TokenBucket<StdClock> {
    /// A full bucket on the real clock.
    pub fn new(limit: RateLimit) -> Self {
        Self::with_clock(limit, StdClock::default())
    }
}

impl<C: Clock> TokenBucket<C> {
    /// A full bucket on `clock` (tests pass a fake one).
    pub fn with_clock(limit: RateLimit, clock: C) -> Self {
        // `rate` tokens per `period`: thousandths of a token per 1000 s for
        // rates from 1/s up, one token per 1/per_second seconds below that.
        let (rate, period) = if limit.per_second >= 1.0 {
            let rate = (limit.per_second * RATE_SCALE as f64).round() as u64;
            (rate, Duration::from_secs(RATE_SCALE))
        } else {
            let period =
                Duration::try_from_secs_f64(1.0 / limit.per_second).unwrap_or(Duration::MAX);
            (1, period)
        };
        let limiter = Builder::with_clock(rate, clock)
            .period(period)
            .max_tokens(limit.burst)
            .initial_available(limit.burst)
            .build()
            .expect("burst >= 1 and a positive rate are validated by the config");
        Self { limiter }
    }

    /// Takes a token now, or says how long until one is available.
    pub fn try_take(&self) -> Result<(), Duration> {
        match self.limiter.try_wait() {
            Ok(()) => Ok(()),
            Err(TryWaitError::Insufficient(wait)) => Err(wait.max(Duration::from_micros(100))),
            // max_tokens >= 1 is validated, so waiting always helps; treat
            // anything else as "try again shortly" rather than panicking.
            Err(_) => Err(Duration::from_millis(1)),
        }
    }

    /// Takes a token, waiting for one if needed; returns how long it waited.
    pub fn take(&self, control: &RunControl) -> Result<Duration, Stop> {
        wait_for(control, || self.try_take())
    }
}

/// A source's limits: its own bucket, and its group's when it is in one.
/// A request takes a token of each.
pub struct Limits {
    own: TokenBucket,
    group: Option<Arc<TokenBucket>>,
    /// The own token was taken, the group's not yet: it is not taken
    /// twice while the group's refills (whichever worker of the source
    /// takes the group's next: each success costs one of each).
    holding_own: AtomicBool,
}

impl Limits {
    /// `own`'s bucket, and `group`'s shared one.
    pub fn new(own: RateLimit, group: Option<Arc<TokenBucket>>) -> Self {
        Limits {
            own: TokenBucket::new(own),
            group,
            holding_own: AtomicBool::new(false),
        }
    }

    /// Takes a token of each bucket now, or says how long until the one
    /// missing is available.
    pub fn try_take(&self) -> Result<(), Duration> {
        if !self.holding_own.swap(false, Ordering::AcqRel) {
            self.own.try_take()?;
        }
        if let Some(group) = &self.group {
            if let Err(wait) = group.try_take() {
                self.holding_own.store(true, Ordering::Release);
                return Err(wait);
            }
        }
        Ok(())
    }

    /// Takes a token of each, waiting as needed; returns how long it
    /// waited.
    pub fn take(&self, control: &RunControl) -> Result<Duration, Stop> {
        wait_for(control, || self.try_take())
    }
}

/// Calls `try_take` until it succeeds, sleeping as long as it says
/// through `control` (which refuses a wait past the deadline and wakes on
/// an interrupt); returns how long that took.
fn wait_for(
    control: &RunControl,
    try_take: impl Fn() -> Result<(), Duration>,
) -> Result<Duration, Stop> {
    let start = Instant::now();
    loop {
        control.check()?;
        match try_take() {
            Ok(()) => return Ok(start.elapsed()),
            Err(wait) => control.wait(wait)?,
        }
    }
}

/// The shared buckets of a run's rate limit groups, by name.
#[derive(Default)]
pub struct Groups(HashMap<String, Arc<TokenBucket>>);

impl std::fmt::Debug for Groups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits")
            .field("grouped", &self.group.is_some())
            .finish_non_exhaustive()
    }
}

impl Groups {
    /// One full bucket per group of the config.
    pub fn for_config(config: &crate::config::Config) -> Self {
        Groups(
            config
                .rate_limit_groups
                .iter()
                .map(|(name, limit)| (name.clone(), Arc::new(TokenBucket::new(*limit))))
                .collect(),
        )
    }

    /// The bucket of group `name`.
    pub fn get(&self, name: &str) -> Option<Arc<TokenBucket>> {
        self.0.get(name).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// A clock the test moves by hand.
    #[derive(Clone, Default)]
    struct FakeClock(Arc<AtomicU64>);

    impl FakeClock {
        fn advance(&self, d: Duration) {
            self.0.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
        }
    }

    impl Clock for FakeClock {
        fn elapsed(&self) -> Duration {
            Duration::from_nanos(self.0.load(Ordering::SeqCst))
        }
    }

    fn bucket(per_second: f64, burst: u64) -> (TokenBucket<FakeClock>, FakeClock) {
        let clock = FakeClock::default();
        let b = TokenBucket::with_clock(RateLimit { per_second, burst }, clock.clone());
        (b, clock)
    }

    #[test]
    fn starts_full_then_refills_at_the_rate() {
        let (b, clock) = bucket(5.0, 5);
        for _ in 0..5 {
            assert_eq!(b.try_take(), Ok(()));
        }
        let wait = b.try_take().unwrap_err();
        assert!(wait <= Duration::from_millis(200), "{wait:?}");
        clock.advance(Duration::from_millis(200));
        assert_eq!(b.try_take(), Ok(()));
        assert!(b.try_take().is_err());
    }

    #[test]
    fn fractional_rate_gives_one_request_every_two_seconds() {
        let (b, clock) = bucket(0.5, 1);
        assert_eq!(b.try_take(), Ok(()));
        clock.advance(Duration::from_millis(1990));
        assert!(b.try_take().is_err());
        clock.advance(Duration::from_millis(10));
        assert_eq!(b.try_take(), Ok(()));
    }

    #[test]
    fn very_slow_rates_are_not_rounded_up() {
        let (b, clock) = bucket(0.0001, 1);
        assert_eq!(b.try_take(), Ok(()));
        clock.advance(Duration::from_secs(9_999));
        assert!(b.try_take().is_err());
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.try_take(), Ok(()));
    }

    #[test]
    fn never_more_than_burst_plus_rate_times_t() {
        let (b, clock) = bucket(20.0, 5);
        let mut granted = 0u64;
        // Try every millisecond for 3 s of fake time.
        for _ in 0..3000 {
            while b.try_take().is_ok() {
                granted += 1;
            }
            clock.advance(Duration::from_millis(1));
        }
        assert!(granted <= 5 + 20 * 3, "granted {granted}");
        assert!(granted >= 5 + 20 * 3 - 1, "granted {granted}");
    }

    /// The slowest rate the config accepts (any number > 0) gives a wait
    /// for the next token of centuries: computed without a panic and,
    /// through the run's control, refused at once past the deadline.
    #[test]
    fn a_wait_of_any_length_for_a_token_is_refused_not_a_panic() {
        let control = RunControl::new(Instant::now() + Duration::from_secs(60));
        for per_second in [1e-12, 1e-300, f64::MIN_POSITIVE] {
            let b = TokenBucket::new(RateLimit {
                per_second,
                burst: 1,
            });
            assert_eq!(b.try_take(), Ok(()), "{per_second}: the bucket starts full");
            let wait = b.try_take().unwrap_err();
            assert!(
                wait > Duration::from_secs(365 * 86_400),
                "{per_second}: {wait:?}"
            );
            let t = Instant::now();
            assert_eq!(b.take(&control), Err(Stop::Deadline), "{per_second}");
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{per_second}: refused at once"
            );
        }
    }
}
