//! The quota a server announces in its response headers (SPEC §4), so a
//! source waits for the reset instead of learning the quota by being
//! refused.
//!
//! Three families are read:
//! - `RateLimit` (IETF draft -08 on: `"default";r=50;t=30`, one item per
//!   policy; and draft -07's `limit=100, remaining=50, reset=5`);
//! - `RateLimit-Remaining` + `RateLimit-Reset` (seconds);
//! - `X-RateLimit-Remaining` + `X-RateLimit-Reset` (and `X-Rate-Limit-*`):
//!   seconds, or epoch seconds when the value is past 10^9, as GitHub and X
//!   send.
//!
//! An answer may carry several values: several `RateLimit` lines or list
//! members, or two families that disagree. The most restrictive one wins
//! (the least remaining; at a tie the latest reset), because obeying any
//! other would break the stricter quota the server also keeps.
//!
//! A reset is a number of any size — `9223372036854775807`, `1e30`, 400
//! digits: one too large for a `Duration` saturates rather than being
//! dropped, and nothing here adds it to a clock (that once overflowed and
//! panicked). [`Quota::hold`] caps it. Malformed values are ignored (the
//! draft says so): a header that cannot be read says nothing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Values above this in a reset header are epoch seconds, not a delay.
const EPOCH_ABOVE: f64 = 1e9;

/// The `remaining` + `reset` header pairs, after `RateLimit`.
const FAMILIES: [(&str, &str); 3] = [
    ("ratelimit-remaining", "ratelimit-reset"),
    ("x-ratelimit-remaining", "x-ratelimit-reset"),
    ("x-rate-limit-remaining", "x-rate-limit-reset"),
];

/// What the server says is left of its quota.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// Requests left in the current window.
    pub remaining: u64,
    /// Time until the window resets, when the server says; a reset too
    /// large for a `Duration` is `Duration::MAX`.
    pub reset: Option<Duration>,
}

/// How long a used-up quota holds a source's next request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    /// The wait: until the reset, at most the cap.
    pub wait: Duration,
    /// The reset the server announced, when it was over the cap.
    pub capped_from: Option<Duration>,
}

impl Quota {
    /// The most restrictive quota the headers announce; `get` gives every
    /// line of a header by its lower-case name.
    pub fn read<'h, I>(get: impl Fn(&str) -> I, now: SystemTime) -> Option<Quota>
    where
        I: IntoIterator<Item = &'h str>,
    {
        let mut found: Vec<Quota> = get("ratelimit").into_iter().flat_map(draft).collect();
        for (remaining, reset) in FAMILIES {
            // Several lines of one family, or a list a proxy joined them
            // into: the least remaining, the latest reset.
            let members = |name| get(name).into_iter().flat_map(|v: &str| v.split(','));
            if let Some(left) = members(remaining).filter_map(count).min() {
                found.push(Quota {
                    remaining: left,
                    reset: members(reset).filter_map(|v| reset_in(v, now)).max(),
                });
            }
        }
        found.into_iter().reduce(Quota::stricter)
    }

    /// Whether nothing may be sent before the reset.
    pub fn exhausted(&self) -> bool {
        self.remaining == 0
    }

    /// The more restrictive of two quotas: the least remaining; at a tie
    /// the latest reset (a known one over none).
    pub fn stricter(self, other: Quota) -> Quota {
        if (other.remaining, std::cmp::Reverse(other.reset))
            < (self.remaining, std::cmp::Reverse(self.reset))
        {
            other
        } else {
            self
        }
    }

    /// How long the source must hold its next request: until the reset
    /// when the quota is used up, and never longer than `cap` (a reset
    /// further away is capped, whatever its size). `None` when nothing
    /// holds it: quota left, or no reset announced.
    pub fn hold(&self, cap: Duration) -> Option<Hold> {
        let reset = self.reset.filter(|_| self.exhausted())?;
        Some(match reset > cap {
            true => Hold {
                wait: cap,
                capped_from: Some(reset),
            },
            false => Hold {
                wait: reset,
                capped_from: None,
            },
        })
    }
}

/// A non-negative number of any size: `5`, `2.5`, `1e30`, or digits past
/// what an `f64` holds (`+inf`, kept: it is a number, a huge one). Words
/// `f64` would accept (`inf`, `NaN`) and negatives are not quota values.
fn number(v: &str) -> Option<f64> {
    let v = v.trim();
    let numeric = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-');
    if v.is_empty() || !v.bytes().all(numeric) {
        return None;
    }
    v.parse::<f64>().ok().filter(|f| *f >= 0.0)
}

/// `secs` as a `Duration`, `Duration::MAX` when it is larger.
fn span(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// A remaining count: a non-negative integer (a decimal is floored, a
/// huge value saturates).
fn count(v: &str) -> Option<u64> {
    let v = v.trim();
    // `as` saturates: u64::MAX for anything larger.
    v.parse::<u64>()
        .ok()
        .or_else(|| number(v).map(|f| f as u64))
}

/// A reset value: seconds from now, or an epoch instant past 10^9 — as a
/// difference of numbers, never an addition to a clock.
fn reset_in(v: &str, now: SystemTime) -> Option<Duration> {
    let secs = number(v)?;
    if secs > EPOCH_ABOVE {
        let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let ahead = secs - now.as_secs_f64();
        Some(if ahead > 0.0 {
            span(ahead)
        } else {
            Duration::ZERO
        })
    } else {
        Some(span(secs))
    }
}

/// One `RateLimit` line: the draft's structured list (`"name";r=…;t=…`,
/// every member), or draft -07's `limit=…, remaining=…, reset=…`.
fn draft(value: &str) -> Vec<Quota> {
    if value.contains("remaining=") {
        let mut remaining = None;
        let mut reset = None;
        for pair in value.split([',', ';']) {
            match pair.trim().split_once('=') {
                Some(("remaining", v)) => remaining = count(v),
                Some(("reset", v)) => reset = number(v).map(span),
                _ => {}
            }
        }
        return remaining
            .map(|remaining| Quota { remaining, reset })
            .into_iter()
            .collect();
    }
    value
        .split(',')
        .filter_map(|item| {
            let mut remaining = None;
            let mut reset = None;
            for param in item.split(';').skip(1) {
                match param.trim().split_once('=') {
                    Some(("r", v)) => remaining = count(v),
                    Some(("t", v)) => reset = number(v).map(span),
                    _ => {}
                }
            }
            Some(Quota {
                remaining: remaining?,
                reset,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(headers: &[(&str, &str)]) -> Option<Quota> {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        Quota::read(
            |name| {
                let lines = headers.iter().filter(|(k, _)| *k == name);
                lines.map(|(_, v)| *v).collect::<Vec<_>>()
            },
            now,
        )
    }

    fn q(remaining: u64, reset_ms: Option<u64>) -> Option<Quota> {
        Some(Quota {
            remaining,
            reset: reset_ms.map(Duration::from_millis),
        })
    }

    #[test]
    fn every_family_is_read() {
        assert_eq!(
            read(&[("ratelimit", "\"default\";r=50;t=30")]),
            q(50, Some(30_000))
        );
        assert_eq!(
            read(&[("ratelimit", "\"burst\";r=5;t=1, \"daily\";r=0;t=3600")]),
            q(0, Some(3_600_000))
        );
        assert_eq!(
            read(&[("ratelimit", "limit=100, remaining=0, reset=5")]),
            q(0, Some(5000))
        );
        assert_eq!(
            read(&[("ratelimit-remaining", "0"), ("ratelimit-reset", "2.5")]),
            q(0, Some(2500))
        );
        // GitHub: the reset is an epoch second.
        assert_eq!(
            read(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000040")
            ]),
            q(0, Some(40_000))
        );
        assert_eq!(
            read(&[
                ("x-rate-limit-remaining", "7"),
                ("x-rate-limit-reset", "60")
            ]),
            q(7, Some(60_000))
        );
        // A reset already past is no wait.
        assert_eq!(
            read(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1600000000")
            ]),
            q(0, Some(0))
        );
    }

    #[test]
    fn malformed_values_say_nothing() {
        assert_eq!(read(&[]), None);
        assert_eq!(read(&[("ratelimit", "garbage")]), None);
        assert_eq!(read(&[("ratelimit", "\"p\";t=5")]), None);
        assert_eq!(read(&[("x-ratelimit-remaining", "-1")]), None);
        assert_eq!(
            read(&[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "soon")
            ]),
            q(0, None)
        );
        assert!(!read(&[("ratelimit-remaining", "3")]).unwrap().exhausted());
    }

    /// A reset of any size is read — saturated when too large for a
    /// `Duration` — never dropped, and never added to a clock (a
    /// `SystemTime` past i64::MAX seconds panics).
    #[test]
    fn a_reset_of_any_size_is_read_never_dropped() {
        // Every huge value here is at least this far: centuries past any cap.
        let far = Duration::from_secs(9_000_000_000_000_000_000);
        let digits_400 = format!("1{}", "0".repeat(400));
        let huge: &[(&str, &str, &str)] = &[
            (
                "ratelimit-remaining",
                "ratelimit-reset",
                "9223372036854775807",
            ),
            (
                "ratelimit-remaining",
                "ratelimit-reset",
                "18446744073709551615",
            ),
            ("ratelimit-remaining", "ratelimit-reset", "1e30"),
            ("ratelimit-remaining", "ratelimit-reset", &digits_400),
            (
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
                "9223372036854775807",
            ),
            (
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
                "17000000000000000000",
            ),
            (
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
                "18446744073709551615",
            ),
            (
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
                "1000000000000000000000000000000",
            ),
            ("x-rate-limit-remaining", "x-rate-limit-reset", "1E+300"),
        ];
        for (remaining, reset, value) in huge {
            let got = read(&[(remaining, "0"), (reset, value)]).and_then(|q| q.reset);
            assert!(
                got.is_some_and(|d| d >= far),
                "{reset}: {value} read as {got:?}"
            );
        }
        for draft in [
            "\"d\";r=0;t=9223372036854775807",
            "\"d\";r=0;t=1e400",
            "limit=1, remaining=0, reset=18446744073709551616",
        ] {
            let got = read(&[("ratelimit", draft)]);
            let at_zero = got.filter(|q| q.exhausted()).and_then(|q| q.reset);
            assert!(at_zero.is_some_and(|d| d >= far), "{draft} read as {got:?}");
        }
        let exact: &[(&str, &str, &str, Option<Duration>)] = &[
            // Large but a `Duration`: kept as it is (the cap is `hold`'s).
            (
                "ratelimit-remaining",
                "ratelimit-reset",
                "86400",
                Some(Duration::from_secs(86_400)),
            ),
            // Epoch seconds just past now: the difference, to the ms.
            (
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
                "1700000000.5",
                Some(Duration::from_millis(500)),
            ),
            // Not numbers: say nothing.
            ("ratelimit-remaining", "ratelimit-reset", "inf", None),
            ("ratelimit-remaining", "ratelimit-reset", "NaN", None),
            ("ratelimit-remaining", "ratelimit-reset", "-1e30", None),
        ];
        for (remaining, reset, value, want) in exact {
            let got = read(&[(remaining, "0"), (reset, value)]).map(|q| q.reset);
            assert_eq!(got, Some(*want), "{reset}: {value} — got vs want");
        }
        // A remaining count of any size saturates too.
        let left = read(&[("ratelimit-remaining", "1e400")]).map(|q| q.remaining);
        assert_eq!(left, Some(u64::MAX));
    }

    /// The cap: an hour, whatever the size; a shorter reset as it is;
    /// nothing holds a source with quota left or no reset announced.
    #[test]
    fn a_hold_is_capped_whatever_the_reset() {
        let hour = Duration::from_secs(3600);
        let held = |remaining, reset| Quota { remaining, reset }.hold(hour);
        for huge in [
            Duration::MAX,
            Duration::from_secs(u64::MAX / 2),
            hour + Duration::from_nanos(1),
        ] {
            assert_eq!(
                held(0, Some(huge)),
                Some(Hold {
                    wait: hour,
                    capped_from: Some(huge)
                }),
                "{huge:?}"
            );
        }
        assert_eq!(
            held(0, Some(hour)),
            Some(Hold {
                wait: hour,
                capped_from: None
            })
        );
        let ms = Duration::from_millis(250);
        assert_eq!(
            held(0, Some(ms)),
            Some(Hold {
                wait: ms,
                capped_from: None
            })
        );
        assert_eq!(held(1, Some(Duration::MAX)), None);
        assert_eq!(held(0, None), None);
    }

    /// A case of several values on one answer: its header lines, and the
    /// quota read as (remaining, reset in ms).
    type Several = (
        &'static str,
        &'static [(&'static str, &'static str)],
        (u64, Option<u64>),
    );

    /// Several values on one answer, the most restrictive expected.
    const SEVERAL: &[Several] = &[
        (
            "a second RateLimit line",
            &[
                ("ratelimit", "\"burst\";r=9;t=1"),
                ("ratelimit", "\"day\";r=0;t=600"),
            ],
            (0, Some(600_000)),
        ),
        (
            "a second line with more left",
            &[
                ("ratelimit", "\"day\";r=3;t=600"),
                ("ratelimit", "\"burst\";r=9;t=1"),
            ],
            (3, Some(600_000)),
        ),
        (
            "list members, two at 0: the latest reset",
            &[("ratelimit", "\"a\";r=0;t=5, \"b\";r=0;t=50, \"c\";r=2;t=1")],
            (0, Some(50_000)),
        ),
        (
            "lines at 0, the latest reset on the first",
            &[
                ("ratelimit", "\"a\";r=0;t=50"),
                ("ratelimit", "\"b\";r=0;t=5"),
            ],
            (0, Some(50_000)),
        ),
        (
            "at 0, a known reset over none",
            &[("ratelimit", "\"a\";r=0"), ("ratelimit", "\"b\";r=0;t=5")],
            (0, Some(5000)),
        ),
        (
            "draft -07 and -08 forms on two lines",
            &[
                ("ratelimit", "limit=10, remaining=4, reset=3"),
                ("ratelimit", "\"x\";r=6;t=1"),
            ],
            (4, Some(3000)),
        ),
        (
            "RateLimit says some left, X-RateLimit says none",
            &[
                ("ratelimit", "\"default\";r=40;t=30"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000090"),
            ],
            (0, Some(90_000)),
        ),
        (
            "RateLimit-* and X-RateLimit-* both at 0: the later reset",
            &[
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "120"),
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1700000030"),
            ],
            (0, Some(120_000)),
        ),
        (
            "two families with quota left: the smaller",
            &[
                ("ratelimit-remaining", "7"),
                ("ratelimit-reset", "1"),
                ("x-rate-limit-remaining", "2"),
                ("x-rate-limit-reset", "9"),
            ],
            (2, Some(9000)),
        ),
        (
            "one family on two lines",
            &[
                ("ratelimit-remaining", "5"),
                ("ratelimit-remaining", "0"),
                ("ratelimit-reset", "2"),
                ("ratelimit-reset", "8"),
            ],
            (0, Some(8000)),
        ),
        (
            "one family as a joined list",
            &[
                ("x-ratelimit-remaining", "5, 0"),
                ("x-ratelimit-reset", "2, 8"),
            ],
            (0, Some(8000)),
        ),
        (
            "a malformed value beside a good one says nothing",
            &[
                ("ratelimit", "garbage"),
                ("ratelimit-remaining", "3"),
                ("ratelimit-reset", "soon"),
            ],
            (3, None),
        ),
    ];

    /// Several values on one answer: the most restrictive wins — the
    /// least remaining, and at remaining 0 the latest reset.
    #[test]
    fn the_most_restrictive_of_several_values_wins() {
        for (case, headers, (remaining, reset_ms)) in SEVERAL {
            assert_eq!(
                read(headers),
                q(*remaining, *reset_ms),
                "{case}: got vs want"
            );
        }
    }
}
