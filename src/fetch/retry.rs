//! Whether and when a failed attempt is tried again: the [`RetryPolicy`],
//! its backoff, and `Retry-After`.
//!
//! The policy owns `max_retries` and the backoff schedule and answers, for
//! a failed attempt, [`Decision::Retry`] with the wait or
//! [`Decision::GiveUp`]: the fetcher asks, it does not work it out.
//!
//! Before retry n (1-based) the wait is uniform in [d/2, d] with
//! d = min(max_delay, base_delay × 2^(n−1)): "equal jitter", so retries of
//! many clients spread out while each still waits at least half the
//! exponential step. A server's `Retry-After` (429, 503) is a floor the
//! jitter never shortens: the wait is max(Retry-After, backoff).

use std::time::{Duration, SystemTime};

use crate::config::RetrySettings;
use crate::error::AttemptError;
use crate::fetch::outcome::WaitCause;

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Try again after `wait`, counted under `cause`.
    Retry {
        /// How long to wait first.
        wait: Duration,
        /// Whether our backoff or the server's Retry-After set the wait.
        cause: WaitCause,
    },
    /// Give the page up.
    GiveUp,
}

/// Decides retries for one source.
#[derive(Debug)]
pub struct RetryPolicy {
    max_retries: u32,
    backoff: Backoff,
}

impl RetryPolicy {
    /// The policy of `settings`, its jitter reproducible from `seed`.
    pub fn new(settings: RetrySettings, seed: u64) -> Self {
        Self {
            max_retries: settings.max_retries,
            backoff: Backoff::new(settings, seed),
        }
    }

    /// After attempt `attempt` (1-based) failed with `error`, whose answer
    /// carried `retry_after` (already parsed): retry when the error is
    /// retryable and attempts are left, waiting max(backoff, Retry-After)
    /// where the status honours Retry-After (429, 503).
    pub fn decide(
        &mut self,
        error: &AttemptError,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Decision {
        if !error.is_retryable() || attempt > self.max_retries {
            return Decision::GiveUp;
        }
        let backoff = self.backoff.delay(attempt);
        let wait = RetryWait::new(backoff, retry_after.filter(|_| error.honours_retry_after()));
        let cause = if wait.from_retry_after {
            WaitCause::RetryAfter
        } else {
            WaitCause::Backoff
        };
        Decision::Retry {
            wait: wait.wait,
            cause,
        }
    }
}

/// The backoff schedule of one source, with its own seeded jitter.
#[derive(Debug)]
pub struct Backoff {
    policy: RetrySettings,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A schedule whose jitter is reproducible from `seed`.
    pub fn new(policy: RetrySettings, seed: u64) -> Self {
        Self {
            policy,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The upper bound d of the wait before retry `n` (1-based).
    pub fn ceiling(&self, n: u32) -> Duration {
        let shift = n.saturating_sub(1).min(31);
        self.policy
            .base_delay
            .saturating_mul(1u32 << shift)
            .min(self.policy.max_delay)
    }

    /// The wait before retry `n` (1-based): uniform in [d/2, d].
    pub fn delay(&mut self, n: u32) -> Duration {
        let d = self.ceiling(n);
        let half = d / 2;
        half + (d - half).mul_f64(self.rng.f64())
    }
}

/// What to wait before a retry, and which cause it is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryWait {
    /// How long to wait.
    pub wait: Duration,
    /// Whether the server's Retry-After (rather than our backoff) set it.
    pub from_retry_after: bool,
}

impl RetryWait {
    /// max(Retry-After, backoff), remembering which was larger.
    pub fn new(backoff: Duration, retry_after: Option<Duration>) -> Self {
        match retry_after {
            Some(ra) if ra > backoff => Self {
                wait: ra,
                from_retry_after: true,
            },
            _ => Self {
                wait: backoff,
                from_retry_after: false,
            },
        }
    }
}

/// Parses a `Retry-After` value: delta-seconds or an HTTP-date. Zero, a
/// date not in the future, and anything unparsable give `None` (ignored).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let decimal = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && value.bytes().filter(|&b| b == b'.').count() <= 1
        && !value.starts_with('.')
        && !value.ends_with('.');
    let wait = if decimal {
        // A decimal (`2.5`) to the millisecond; absurd values saturate
        // instead of failing, and the deadline bounds them.
        value
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .map_or(Duration::from_secs(u64::MAX / 2), |d| {
                Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64)
            })
    } else {
        httpdate::parse_http_date(value)
            .ok()?
            .duration_since(now)
            .ok()?
    };
    (!wait.is_zero()).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(base: u64, max: u64) -> RetrySettings {
        RetrySettings {
            max_retries: 10,
            base_delay: Duration::from_millis(base),
            max_delay: Duration::from_millis(max),
        }
    }

    #[test]
    fn default_schedule_doubles_within_half_to_full_and_caps() {
        let mut b = Backoff::new(policy(500, 4000), 7);
        let bounds = [
            (250, 500),
            (500, 1000),
            (1000, 2000),
            (2000, 4000),
            (2000, 4000),
        ];
        for _ in 0..200 {
            for (n, (lo, hi)) in (1..).zip(bounds) {
                let d = b.delay(n).as_millis() as u64;
                assert!(
                    (lo..=hi).contains(&d),
                    "retry {n}: {d} ms not in [{lo}, {hi}]"
                );
            }
        }
        assert_eq!(b.ceiling(40), Duration::from_millis(4000));
    }

    #[test]
    fn jitter_is_reproducible_from_the_seed_and_spreads() {
        let draw = |seed| {
            let mut b = Backoff::new(policy(1000, 1000), seed);
            (0..20).map(|_| b.delay(1)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
        let distinct: std::collections::BTreeSet<_> = draw(3).into_iter().collect();
        assert!(distinct.len() > 10);
    }

    #[test]
    fn retry_after_is_a_floor_never_shortened_by_jitter() {
        let ms = Duration::from_millis;
        let w = RetryWait::new(ms(300), Some(ms(1000)));
        assert_eq!((w.wait, w.from_retry_after), (ms(1000), true));
        let w = RetryWait::new(ms(3000), Some(ms(1000)));
        assert_eq!((w.wait, w.from_retry_after), (ms(3000), false));
        let w = RetryWait::new(ms(300), None);
        assert_eq!((w.wait, w.from_retry_after), (ms(300), false));
    }

    #[test]
    fn the_policy_retries_what_may_succeed_while_attempts_are_left() {
        let mut p = RetryPolicy::new(
            RetrySettings {
                max_retries: 2,
                ..policy(100, 100)
            },
            1,
        );
        let s503 = AttemptError::Status(503);
        let ra = Some(Duration::from_secs(3));
        assert_eq!(
            p.decide(&s503, 1, ra),
            Decision::Retry {
                wait: Duration::from_secs(3),
                cause: WaitCause::RetryAfter
            }
        );
        // A 500's Retry-After is not honoured: backoff alone.
        let Decision::Retry { wait, cause } = p.decide(&AttemptError::Status(500), 2, ra) else {
            panic!("attempt 2 of 3 is retried");
        };
        assert_eq!(cause, WaitCause::Backoff);
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert_eq!(
            p.decide(&s503, 3, None),
            Decision::GiveUp,
            "no attempts left"
        );
        assert_eq!(
            p.decide(&AttemptError::Status(404), 1, None),
            Decision::GiveUp
        );
        assert_eq!(
            p.decide(&AttemptError::NoItems(String::new()), 1, None),
            Decision::GiveUp
        );
    }

    #[test]
    fn the_largest_max_retries_never_overflows() {
        let mut p = RetryPolicy::new(
            RetrySettings {
                max_retries: u32::MAX,
                ..policy(1, 1)
            },
            1,
        );
        let e = AttemptError::Transport("reset".into());
        assert!(matches!(
            p.decide(&e, u32::MAX - 1, None),
            Decision::Retry { .. }
        ));
        assert!(matches!(
            p.decide(&e, u32::MAX, None),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates_and_ignores_the_rest() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            parse_retry_after("2.5", now),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            parse_retry_after("0.0015", now),
            Some(Duration::from_millis(1))
        );
        for ignored in [
            "0",
            "0.0",
            "",
            "-1",
            "1.",
            ".5",
            "1.2.3",
            "soon",
            earlier.as_str(),
        ] {
            assert_eq!(parse_retry_after(ignored, now), None, "{ignored:?}");
        }
    }

    /// A `Retry-After` of any size — i64::MAX seconds, 400 digits, a
    /// decimal past what a `Duration` holds, the last HTTP-date there is
    /// — is a long wait, never a panic, and it meets the clock only
    /// through [`RunControl::after`], which refuses it past the deadline
    /// at once.
    #[test]
    fn a_retry_after_of_any_size_is_a_wait_past_the_deadline() {
        use crate::control::{RunControl, Stop};
        use std::time::Instant;
        let now = SystemTime::now();
        let control = RunControl::new(Instant::now() + Duration::from_secs(60));
        let mut p = RetryPolicy::new(policy(1, 1), 1);
        let digits_400 = format!("1{}", "0".repeat(400));
        for value in [
            "9223372036854775807",
            "18446744073709551616",
            "1000000000000000000000000000000.5",
            digits_400.as_str(),
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            let ra = parse_retry_after(value, now);
            assert!(
                ra.is_some_and(|d| d > Duration::from_secs(7000 * 365 * 86_400)),
                "{value}: {ra:?}"
            );
            let Decision::Retry { wait, cause } = p.decide(&AttemptError::Status(429), 1, ra)
            else {
                panic!("{value}: a 429 with attempts left is retried");
            };
            assert_eq!(cause, WaitCause::RetryAfter, "{value}");
            assert!(control.after(wait) > control.deadline(), "{value}");
            let t = Instant::now();
            assert_eq!(control.wait(wait), Err(Stop::Deadline), "{value}");
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "{value}: refused at once"
            );
        }
    }
}
