//! Quotas a mock source enforces and announces (SPEC §4's quota headers),
//! so a test can check that a client waits for the reset instead of
//! learning the quota by being refused.
//!
//! A source with a [`Quota`] allows `limit` requests per window. A window
//! opens at the first request after the previous one closed (as GitHub's
//! does) and lasts `window` — scaled down to milliseconds in tests, so the
//! reset is written with a decimal fraction when it is not whole seconds.
//! Every answer carries the remaining count and the reset in the quota's
//! [`QuotaFamily`]; a request over the limit gets no answer from the API:
//! it is refused (429, or GitHub's 403) with remaining 0 and the reset,
//! and counted ([`crate::MockServer::quota_refusals`]).
//!
//! Unlike faults this depends on time, so it is the raw front's business
//! (`raw.rs`); what it decides is a pure function of "now", tested here.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Which headers announce the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaFamily {
    /// The IETF draft (-08 on): `RateLimit: "default";r=REMAINING;t=SECONDS`,
    /// with `RateLimit-Policy: "default";q=LIMIT;w=WINDOW`.
    Draft,
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`
    /// (seconds until the reset).
    RateLimit,
    /// GitHub's `X-RateLimit-Limit`, `-Remaining`, `-Used`, `-Resource`
    /// and `-Reset`: the reset as epoch seconds — whole seconds (rounded
    /// up) for a window of whole seconds, as GitHub sends them; with the
    /// milliseconds as a fraction for a scaled-down window.
    GitHub,
}

/// A source's quota: `limit` requests per `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// Which headers announce it.
    pub family: QuotaFamily,
    /// Requests allowed per window.
    pub limit: u32,
    /// How long a window lasts, from its first request.
    pub window: Duration,
    /// The status of a refusal. Defaults to 429.
    pub refusal: u16,
    /// The first window starts used up, as if another client had spent
    /// it: the first request is refused, and a client learns the quota
    /// from that refusal. Defaults to false.
    pub used_up: bool,
}

impl Quota {
    /// `limit` requests per `window`, announced in `family`'s headers,
    /// refused with 429.
    pub fn new(family: QuotaFamily, limit: u32, window: Duration) -> Quota {
        Quota {
            family,
            limit,
            window,
            refusal: 429,
            used_up: false,
        }
    }

    /// Refuses with `status` instead (GitHub refuses with 403).
    pub fn refusing_with(mut self, status: u16) -> Quota {
        self.refusal = status;
        self
    }

    /// Starts with the first window used up (see [`Quota::used_up`]).
    pub fn used_up(mut self) -> Quota {
        self.used_up = true;
        self
    }

    /// The headers announcing `remaining` requests left and a reset in
    /// `reset`, at wall-clock time `now` (for an epoch reset).
    pub(crate) fn headers(
        &self,
        remaining: u32,
        reset: Duration,
        now: SystemTime,
    ) -> Vec<(String, String)> {
        let limit = self.limit.to_string();
        let h = |k: &str, v: String| (k.to_string(), v);
        match self.family {
            QuotaFamily::Draft => vec![
                h(
                    "RateLimit-Policy",
                    format!("\"default\";q={limit};w={}", seconds(self.window)),
                ),
                h(
                    "RateLimit",
                    format!("\"default\";r={remaining};t={}", seconds(reset)),
                ),
            ],
            QuotaFamily::RateLimit => vec![
                h("RateLimit-Limit", limit),
                h("RateLimit-Remaining", remaining.to_string()),
                h("RateLimit-Reset", seconds(reset)),
            ],
            QuotaFamily::GitHub => {
                let at = epoch_reset(now, reset, self.window.subsec_nanos() == 0);
                vec![
                    h("X-RateLimit-Limit", limit),
                    h("X-RateLimit-Remaining", remaining.to_string()),
                    h("X-RateLimit-Reset", at),
                    h("X-RateLimit-Used", (self.limit - remaining).to_string()),
                    h("X-RateLimit-Resource", "core".to_string()),
                ]
            }
        }
    }

    /// The body of a refusal, as the family's API words it.
    pub(crate) fn refusal_body(&self) -> String {
        match self.family {
            QuotaFamily::GitHub => serde_json::json!({
                "message": "API rate limit exceeded",
                "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
            })
            .to_string(),
            _ => crate::fault::error_body(self.refusal),
        }
    }
}

/// GitHub's `X-RateLimit-Reset`: the epoch seconds `reset` after `now`,
/// as a whole second rounded up (GitHub's own form) when `whole`, else
/// with the milliseconds as a fraction (a scaled-down test window).
pub(crate) fn epoch_reset(now: SystemTime, reset: Duration, whole: bool) -> String {
    let mut at = now.duration_since(UNIX_EPOCH).unwrap_or_default() + reset;
    if whole {
        at = Duration::from_secs(at.as_secs() + u64::from(at.subsec_nanos() > 0));
    }
    seconds(at)
}

/// `d` in seconds, rounded up to the millisecond: whole seconds as an
/// integer (`40`), else with the fraction (`0.25`). Rounding up means a
/// client that waits exactly this long comes after the reset, never before.
fn seconds(d: Duration) -> String {
    let ms = d.as_nanos().div_ceil(1_000_000);
    let (secs, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        secs.to_string()
    } else {
        format!("{secs}.{frac:03}")
            .trim_end_matches('0')
            .to_string()
    }
}

/// What the quota says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Answered; this many requests are left until `resets_at`.
    Allowed { remaining: u32, resets_at: Instant },
    /// Over the limit: refused until `resets_at`.
    Refused { resets_at: Instant },
}

/// One source's current window.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// When the current window opened; `None` before the first request.
    opened: Option<Instant>,
    /// Requests answered in it.
    used: u32,
    /// Requests refused, over the whole run.
    pub refused: u64,
}

impl Window {
    /// Counts a request arriving at `now` against `quota`.
    pub fn admit(&mut self, quota: &Quota, now: Instant) -> Admission {
        let first = self.opened.is_none();
        let opened = match self.opened {
            Some(at) if now < at + quota.window => at,
            _ => {
                self.used = if first && quota.used_up {
                    quota.limit
                } else {
                    0
                };
                self.opened = Some(now);
                now
            }
        };
        let resets_at = opened + quota.window;
        if self.used >= quota.limit {
            self.refused += 1;
            Admission::Refused { resets_at }
        } else {
            self.used += 1;
            Admission::Allowed {
                remaining: quota.limit - self.used,
                resets_at,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_window_allows_the_limit_then_refuses_until_it_resets() {
        let q = Quota::new(QuotaFamily::Draft, 2, 100 * MS);
        let t0 = Instant::now();
        let mut w = Window::default();
        let reset = t0 + 100 * MS;
        assert_eq!(
            w.admit(&q, t0),
            Admission::Allowed {
                remaining: 1,
                resets_at: reset
            }
        );
        assert_eq!(
            w.admit(&q, t0 + 10 * MS),
            Admission::Allowed {
                remaining: 0,
                resets_at: reset
            }
        );
        assert_eq!(
            w.admit(&q, t0 + 99 * MS),
            Admission::Refused { resets_at: reset }
        );
        // The next window opens at the first request after the reset.
        let t1 = t0 + 150 * MS;
        assert_eq!(
            w.admit(&q, t1),
            Admission::Allowed {
                remaining: 1,
                resets_at: t1 + 100 * MS
            }
        );
        assert_eq!(w.refused, 1);
    }

    #[test]
    fn a_used_up_quota_refuses_the_first_window_only() {
        let q = Quota::new(QuotaFamily::GitHub, 2, 100 * MS)
            .refusing_with(403)
            .used_up();
        let t0 = Instant::now();
        let mut w = Window::default();
        assert_eq!(
            w.admit(&q, t0),
            Admission::Refused {
                resets_at: t0 + 100 * MS
            }
        );
        assert!(matches!(
            w.admit(&q, t0 + 100 * MS),
            Admission::Allowed { remaining: 1, .. }
        ));
        assert_eq!((w.refused, q.refusal), (1, 403));
    }

    #[test]
    fn seconds_are_rounded_up_to_the_millisecond() {
        assert_eq!(seconds(Duration::from_secs(40)), "40");
        assert_eq!(seconds(250 * MS), "0.25");
        assert_eq!(seconds(Duration::from_micros(1_200_001)), "1.201");
        assert_eq!(seconds(Duration::ZERO), "0");
    }

    #[test]
    fn each_family_writes_its_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let reset = 300 * MS;
        let draft = Quota::new(QuotaFamily::Draft, 3, reset).headers(0, reset, now);
        assert_eq!(
            draft,
            [
                ("RateLimit-Policy".into(), "\"default\";q=3;w=0.3".into()),
                ("RateLimit".into(), "\"default\";r=0;t=0.3".into()),
            ]
        );
        let plain = Quota::new(QuotaFamily::RateLimit, 3, reset).headers(2, reset, now);
        assert_eq!(
            plain,
            [
                ("RateLimit-Limit".into(), "3".into()),
                ("RateLimit-Remaining".into(), "2".into()),
                ("RateLimit-Reset".into(), "0.3".into()),
            ]
        );
        let gh = Quota::new(QuotaFamily::GitHub, 3, reset).headers(1, reset, now);
        assert_eq!(gh[0], ("X-RateLimit-Limit".into(), "3".into()));
        assert_eq!(gh[1], ("X-RateLimit-Remaining".into(), "1".into()));
        assert_eq!(gh[2], ("X-RateLimit-Reset".into(), "1767225600.3".into()));
        assert_eq!(gh[3], ("X-RateLimit-Used".into(), "2".into()));
        let hour = Quota::new(QuotaFamily::GitHub, 3, Duration::from_secs(3600));
        let later = now + 400 * MS;
        let whole = hour.headers(0, Duration::from_secs(60), later);
        assert_eq!(whole[2].1, "1767225661", "GitHub's own form, rounded up");
    }
}
