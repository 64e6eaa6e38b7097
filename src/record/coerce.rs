//! Reading one JSON value as a declared field type (SPEC §5 "Types").
//!
//! A record schema gives each field a [`FieldType`]; [`coerce`] reads the
//! item's value as that type and says one of three things: a value
//! ([`Coerced`], ready to serialize: numbers keep their exact JSON text,
//! strings are borrowed from the item where they can be), no value (`null`,
//! or a blank string for a scalar type), or [`Bad`]: a value its type
//! cannot take. Every rule is strict rather than clever: a value that could
//! mean two things is bad, never guessed. This runs once per field per
//! item, inside rayon, so it never panics and allocates only when the text
//! it writes differs from the text it read. Prices are read by the
//! normalizer's price rules, passed in as a hook (see [`coerce`]).
//!
//! # Decisions SPEC leaves open
//!
//! | type | input | result | why |
//! |---|---|---|---|
//! | all but `any`/`json`/`price` | `""`, `"  "` | no value | APIs write blank for "not set" |
//! | all | `null` | no value | SPEC: null counts as absent |
//! | all | surrounding Unicode `White_Space` (`"\u{a0}42\u{3000}"`) | trimmed | `str::trim`; a zero-width space is not whitespace |
//! | `any`, `json` | `""` | `""` | the value as it is |
//! | `string` | `-0`, `1.50`, `1E3` | `"-0"`, `"1.50"`, `"1E3"` | its JSON text, exactly as written |
//! | `integer` | `"0012"`, `"-007"` | `12`, `-7` | zero padding is common (order numbers) and loses nothing |
//! | `integer` | `-0`, `"-0"`, `"000"` | `0` | integers have no negative zero (as ids) |
//! | `integer` | `"+5"`, `"1e3"`, `1e3`, `1.0`, `"4.2"`, `"1,000"`, `"1_000"` | bad | not integer digits: JSON's grammar has no `+`, and a fraction or exponent says "float" |
//! | `integer` | `123456789012345678901234567890` | kept exactly | no size limit |
//! | `number` | `-0`, `12.50`, `"12.50"` | kept as written | "written with its text kept" |
//! | `number` | `1E3`, `"1e3"` | `1E3`, `1e3` | the text as written: nothing is re-parsed or rounded |
//! | `number` | `"0012"` | bad | not JSON's grammar, and its text could not be written as is |
//! | `number` | `1e400`, `"1e400"` | bad | beyond f64: SPEC's "finite" (every JSON number is finite on paper) |
//! | `boolean` | `"TRUE"`, `" False "` | `true`, `false` | any ASCII case, trimmed |
//! | `boolean` | `"1"`, `"0"`, `"yes"`, `"t"`, `2`, `1.0`, `-0` | bad | only the JSON integers written `0` and `1` |
//! | `timestamp` | `2026-11-01` | `2026-11-01T00:00:00Z` | SPEC: a date alone is midnight UTC |
//! | `timestamp` | `…T09:00:00.500+01:00` | `…T08:00:00.500Z` | the fraction is kept as written (any number of digits) |
//! | `timestamp` | `t`/`z`, a space for `T`; offsets `+05:45`, `+0545`, `+05`, `-00:00` | accepted | RFC 3339 and ISO 8601 forms (`+05` is PostgreSQL's); `-00:00` is UTC |
//! | `timestamp` | no offset, `24:00:00`, `09:00` (no seconds), `,5` fraction | bad | never guessed; strict RFC 3339 clock |
//! | `timestamp` | `2016-12-31T23:59:60Z` | `2016-12-31T23:59:59Z` | clamped, as java.time's `ISO_INSTANT` does: many readers reject `:60`; only at 23:59 UTC, where a leap second can be |
//! | `timestamp` | before `0000-01-01T00:00:00Z` or after `9999-12-31T23:59:59Z` in UTC | bad | RFC 3339's 4-digit years |
//! | `timestamp` | `1700000000` / `1700000000123` | `…22:13:20Z` / `…20.123Z` | seconds, or milliseconds above 10^11; `…20100` ms → `.1` |
//! | `timestamp` | `-1` | `1969-12-31T23:59:59Z` | negative integers are seconds before 1970 |
//! | `timestamp` | `1.7e9`, `1700000000.5`, `"1700000000"` | bad | only JSON integers are epochs; a digit string could be an ISO basic date |
//! | `price` | `""`, `"  "` | passed to the hook | SPEC's price rules make it `bad_price` |
//! | `currency` | `"usd "` | `"USD"` | [`Currency::from_code`] |
//! | `currency` | `"US"`, `"€"`, `5` | bad | the normalizer then falls back to a price's currency (SPEC) |

use std::borrow::Cow;
use std::fmt;

use crate::json::node::{write_str, Node};

use crate::record::price::Currency;
use crate::time::{days_from_civil, days_in_month, format_rfc3339_utc, MAX_SECS, MIN_SECS};

/// A field's declared type, SPEC §5's `type` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// The value as it is, objects and arrays included.
    Any,
    /// The same as `any`, named for objects and arrays kept whole.
    Json,
    /// Trimmed text; numbers and booleans as their JSON text.
    String,
    /// An integer of any size, from a JSON integer or a string of digits.
    Integer,
    /// A finite number with its JSON text kept.
    Number,
    /// `true`/`false`, their strings, or `0`/`1`.
    Boolean,
    /// An instant, written as RFC 3339 in UTC.
    Timestamp,
    /// SPEC §5's price rules, read by the normalizer (the hook of [`coerce`]).
    Price,
    /// A 3-letter currency code, written upper-case.
    Currency,
}

impl FieldType {
    /// Every type, in SPEC's order.
    pub const ALL: [FieldType; 9] = [
        FieldType::Any,
        FieldType::Json,
        FieldType::String,
        FieldType::Integer,
        FieldType::Number,
        FieldType::Boolean,
        FieldType::Timestamp,
        FieldType::Price,
        FieldType::Currency,
    ];

    /// The type called `name` in a config (exact, lower-case), if any.
    pub fn parse(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// The type's name in a config.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Any => "any",
            FieldType::Json => "json",
            FieldType::String => "string",
            FieldType::Integer => "integer",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Timestamp => "timestamp",
            FieldType::Price => "price",
            FieldType::Currency => "currency",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A field's value after coercion, borrowing from the item where it can.
///
/// It serializes as the record writes it; with serde_json (whose
/// `arbitrary_precision` feature this crate enables) a [`Coerced::Number`]
/// is written as its exact text, so nothing is re-parsed or rounded.
#[derive(Debug, Clone, PartialEq)]
pub enum Coerced<'a> {
    /// `any` and `json`: the item's own value.
    Json(&'a Node<'a>),
    /// `string` and `timestamp`: the text, borrowed when the item's text is
    /// already the output (a trimmed string, a UTC timestamp with `Z`).
    Str(Cow<'a, str>),
    /// `integer` and `number` (and a price from the hook): a JSON number,
    /// borrowed when the item's own number is written unchanged.
    Number(Cow<'a, str>),
    /// `price`: the amount SPEC §5's price rules read, written as serde
    /// writes an `f64` (`1299.0`), with nothing allocated.
    Amount(f64),
    /// `boolean`.
    Bool(bool),
    /// `currency`: upper-case, stored inline.
    Currency(Currency),
}

impl Coerced<'_> {
    /// Appends the value as JSON, as the record writes it: numbers as
    /// their text, an amount as serde writes an `f64`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Coerced::Json(node) => node.write_json(out),
            Coerced::Str(s) => write_str(out, s),
            Coerced::Number(n) => out.extend_from_slice(n.as_bytes()),
            Coerced::Amount(a) => {
                // serde_json's own f64 writing (ryu; `1299.0`), never NaN here.
                let _ = serde_json::to_writer(&mut *out, a);
            }
            Coerced::Bool(true) => out.extend_from_slice(b"true"),
            Coerced::Bool(false) => out.extend_from_slice(b"false"),
            Coerced::Currency(c) => write_str(out, c.as_str()),
        }
    }
}

/// Why a value is one its type cannot take (SPEC's `bad_<field>` or
/// `bad_values`); for debug logs, since the counters do not split it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bad {
    /// A JSON kind the type never takes: an object for `string`, a boolean
    /// for `integer`, a number for `currency`.
    WrongKind,
    /// The right kind, but not the type's grammar: `"4.2"` for `integer`,
    /// `"yes"` for `boolean`, a date-time without an offset.
    Unreadable,
    /// Readable, but no such value: `2026-02-30`, year 10000, `1e400` for
    /// `number`, `2` for `boolean`.
    OutOfRange,
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Bad::WrongKind => "bad value: a JSON kind this type never takes",
            Bad::Unreadable => "bad value: not in this type's grammar",
            Bad::OutOfRange => "bad value: out of this type's range",
        })
    }
}

/// What coercing one value says: a value, no value (`Ok(None)`), or bad.
pub type Coercion<'a> = Result<Option<Coerced<'a>>, Bad>;

/// Reads `v` as `ty`. `null` is no value for every type; otherwise a
/// `price` goes to `price`, the normalizer's SPEC §5 price rules (its
/// `read_price`, kept in one place; [`Coerced::amount`] writes its amount).
/// The hook is a parameter so that no caller can forget it.
pub fn coerce<'a>(
    ty: FieldType,
    v: &'a Node<'a>,
    price: impl FnOnce(&'a Node<'a>) -> Coercion<'a>,
) -> Coercion<'a> {
    match ty {
        _ if v.is_null() => Ok(None),
        FieldType::Any | FieldType::Json => any(v),
        FieldType::String => string(v),
        FieldType::Integer => integer(v),
        FieldType::Number => number(v),
        FieldType::Boolean => boolean(v),
        FieldType::Timestamp => timestamp(v),
        // TODO(schema wiring): the normalizer passes its `read_price` here,
        // its amount written by `Coerced::amount`, its currencies kept for
        // the `currency` fallback; price.rs and normalize.rs own the rules.
        FieldType::Price => price(v),
        FieldType::Currency => currency(v),
    }
}

/// `any` and `json`: the value as it is; `null` is no value.
pub fn any<'a>(v: &'a Node<'a>) -> Coercion<'a> {
    Ok(Some(v).filter(|v| !v.is_null()).map(Coerced::Json))
}

/// A string's text, trimmed; `None` when blank.
fn text(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|t| !t.is_empty())
}

/// `string`: trimmed text, or a number's or boolean's JSON text.
pub fn string<'a>(v: &'a Node<'a>) -> Coercion<'a> {
    let s = match v {
        Node::Null => return Ok(None),
        Node::String(s) => match text(s) {
            Some(t) => t,
            None => return Ok(None),
        },
        Node::Number(n) => n,
        Node::Bool(true) => "true",
        Node::Bool(false) => "false",
        Node::Array(_) | Node::Object(_) => return Err(Bad::WrongKind),
    };
    Ok(Some(Coerced::Str(Cow::Borrowed(s))))
}

/// `-?[0-9]+` without leading zeros, and `0` for any zero; `None` when `s`
/// is not an optional `-` and ASCII digits. Borrowed when `s` is canonical.
fn canonical_integer(s: &str) -> Option<Cow<'_, str>> {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    Some(if significant.is_empty() {
        Cow::Borrowed("0")
    } else if significant.len() == digits.len() {
        Cow::Borrowed(s)
    } else if negative {
        Cow::Owned(format!("-{significant}"))
    } else {
        Cow::Borrowed(significant)
    })
}

/// `integer`: a JSON integer of any size, or a string of ASCII digits with
/// an optional `-` (trimmed, zero padding dropped); written canonically.
pub fn integer<'a>(v: &'a Node<'a>) -> Coercion<'a> {
    let n = match v {
        Node::Null => return Ok(None),
        Node::Number(n) => canonical_integer(n).ok_or(Bad::Unreadable)?,
        Node::String(s) => match text(s) {
            None => return Ok(None),
            Some(t) => canonical_integer(t).ok_or(Bad::Unreadable)?,
        },
        Node::Bool(_) | Node::Array(_) | Node::Object(_) => return Err(Bad::WrongKind),
    };
    Ok(Some(Coerced::Number(n)))
}

/// Whether `s` is exactly JSON's number grammar:
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let digits_from = |i: usize| {
        i + b[i.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut i = usize::from(b.first() == Some(&b'-'));
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits_from(i),
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        let end = digits_from(i + 1);
        if end == i + 1 {
            return false;
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits_from(i);
        if end == i {
            return false;
        }
        i = end;
    }
    i == b.len()
}

/// `number`: a JSON number, or a string in JSON's number grammar (trimmed),
/// kept as written; bad when beyond `f64`'s range.
pub fn number<'a>(v: &'a Node<'a>) -> Coercion<'a> {
    let n = match v {
        Node::Null => return Ok(None),
        Node::Number(n) => *n,
        Node::String(s) => match text(s) {
            None => return Ok(None),
            Some(t) if is_json_number(t) => t,
            Some(_) => return Err(Bad::Unreadable),
        },
        Node::Bool(_) | Node::Array(_) | Node::Object(_) => return Err(Bad::WrongKind),
    };
    // Finite as an f64 (`1e400` is not), tested on the exact text.
    match n.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Some(Coerced::Number(Cow::Borrowed(n)))),
        _ => Err(Bad::OutOfRange),
    }
}

/// `boolean`: `true`/`false`, the strings `"true"`/`"false"` in any ASCII
/// case (trimmed), or the JSON integers written `0` and `1`.
pub fn boolean<'a>(v: &'a Node<'a>) -> Coercion<'a> {
    let b = match v {
        Node::Null => return Ok(None),
        Node::Bool(b) => *b,
        Node::Number(n) => match *n {
            "0" => false,
            "1" => true,
            _ => return Err(Bad::OutOfRange),
        },
        Node::String(s) => match text(s) {
            None => return Ok(None),
            Some(t) if t.eq_ignore_ascii_case("true") => true,
            Some(t) if t.eq_ignore_ascii_case("false") => false,
            Some(_) => return Err(Bad::Unreadable),
        },
        Node::Array(_) | Node::Object(_) => return Err(Bad::WrongKind),
    };
    Ok(Some(Coerced::Bool(b)))
}

/// `currency`: a 3-letter code (trimmed, any case), written upper-case.
pub fn currency<'a>(v: &'a Node<'a>) -> Coercion<'a> {
    match v {
        Node::Null => Ok(None),
        Node::String(s) => match text(s) {
            None => Ok(None),
            Some(t) => Currency::from_code(t)
                .map(|c| Some(Coerced::Currency(c)))
                .ok_or(Bad::Unreadable),
        },
        _ => Err(Bad::WrongKind),
    }
}

/// `timestamp`: an RFC 3339 / ISO 8601 date-time with an offset, a date
/// alone, or an integer epoch (seconds; milliseconds above 10^11), written
/// as RFC 3339 in UTC with the fraction as written (module table).
pub fn timestamp<'a>(v: &'a Node<'a>) -> Coercion<'a> {
    let out = match read_timestamp(v)? {
        None => return Ok(None),
        Some(Stamp::Text(t)) => match t.verbatim {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(format_rfc3339_utc(t.secs, t.frac).ok_or(Bad::OutOfRange)?),
        },
        Some(Stamp::Epoch { secs, millis }) => {
            let buf = millis_digits(millis);
            let frac = std::str::from_utf8(&buf.0[..buf.1]).unwrap_or("");
            Cow::Owned(format_rfc3339_utc(secs, frac).ok_or(Bad::OutOfRange)?)
        }
    };
    Ok(Some(Coerced::Str(out)))
}

/// The instant a `timestamp` value names, for comparisons; same rules and
/// results as [`timestamp`]. Digits past the ninth of a fraction are
/// dropped (the instant is in nanoseconds).
pub fn timestamp_instant<'a>(v: &'a Node<'a>) -> Result<Option<UnixTime>, Bad> {
    Ok(read_timestamp(v)?.map(|s| match s {
        Stamp::Text(t) => UnixTime {
            secs: t.secs,
            nanos: frac_nanos(t.frac),
        },
        Stamp::Epoch { secs, millis } => UnixTime {
            secs,
            nanos: millis * 1_000_000,
        },
    }))
}

/// An instant: seconds since 1970-01-01T00:00:00Z and nanoseconds into
/// that second. Ordered as time is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime {
    secs: i64,
    nanos: u32,
}

impl UnixTime {
    /// The instant `secs` seconds plus `nanos` nanoseconds after the epoch;
    /// `None` when `nanos` is not below 10^9.
    pub fn new(secs: i64, nanos: u32) -> Option<UnixTime> {
        (nanos < 1_000_000_000).then_some(UnixTime { secs, nanos })
    }

    /// Whole seconds since the epoch (negative before 1970).
    pub fn secs(self) -> i64 {
        self.secs
    }

    /// Nanoseconds into the second, below 10^9.
    pub fn nanos(self) -> u32 {
        self.nanos
    }
}

/// Integers above this are epoch milliseconds (SPEC §5).
const MILLIS_ABOVE: i64 = 100_000_000_000;

/// A timestamp as read, before it is written.
enum Stamp<'a> {
    /// From text.
    Text(TextStamp<'a>),
    /// From an epoch integer.
    Epoch {
        /// Whole seconds since the epoch.
        secs: i64,
        /// Milliseconds into the second (0 for an epoch in seconds).
        millis: u32,
    },
}

/// A timestamp read from text.
struct TextStamp<'a> {
    /// Whole seconds since the epoch, in range (a leap second clamped).
    secs: i64,
    /// The fraction's digits as written; empty when none.
    frac: &'a str,
    /// The text itself when it already is the output.
    verbatim: Option<&'a str>,
}

fn read_timestamp<'a>(v: &'a Node<'a>) -> Result<Option<Stamp<'a>>, Bad> {
    match v {
        Node::Null => Ok(None),
        Node::Number(n) => epoch(n).map(Some),
        Node::String(s) => match text(s) {
            None => Ok(None),
            Some(t) => parse_datetime(t).map(|t| Some(Stamp::Text(t))),
        },
        Node::Bool(_) | Node::Array(_) | Node::Object(_) => Err(Bad::WrongKind),
    }
}

/// An epoch integer's instant: seconds, or milliseconds above 10^11.
fn epoch(text: &str) -> Result<Stamp<'static>, Bad> {
    canonical_integer(text).ok_or(Bad::Unreadable)?;
    let n: i64 = text.parse().map_err(|_| Bad::OutOfRange)?;
    let (secs, millis) = if n > MILLIS_ABOVE {
        (n.div_euclid(1000), n.rem_euclid(1000) as u32)
    } else {
        (n, 0)
    };
    if !(MIN_SECS..=MAX_SECS).contains(&secs) {
        return Err(Bad::OutOfRange);
    }
    Ok(Stamp::Epoch { secs, millis })
}

/// Up to three fraction digits of `millis`, trailing zeros dropped
/// (`100` → `1`, `0` → none): the buffer and how many digits it holds.
fn millis_digits(millis: u32) -> ([u8; 3], usize) {
    let buf = [
        b'0' + (millis / 100 % 10) as u8,
        b'0' + (millis / 10 % 10) as u8,
        b'0' + (millis % 10) as u8,
    ];
    let len = 3 - buf.iter().rev().take_while(|&&b| b == b'0').count();
    (buf, len)
}

/// The nanoseconds a fraction's digits say: the first nine, padded.
fn frac_nanos(frac: &str) -> u32 {
    let mut n = 0;
    for i in 0..9 {
        let d = frac.as_bytes().get(i).map_or(0, |b| u32::from(b - b'0'));
        n = n * 10 + d;
    }
    n
}

/// `n` ASCII digits of `b` at `at`, as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = b.get(at..at + n)?;
    part.iter().try_fold(0, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// An offset after the seconds (and fraction): `Z`/`z`, `±hh:mm`, `±hhmm`
/// or `±hh`, as seconds east of UTC; `Err` when not one of these.
fn offset_secs(rest: &str) -> Result<i64, Bad> {
    let b = rest.as_bytes();
    let sign = match b.first() {
        Some(b'Z' | b'z') if b.len() == 1 => return Ok(0),
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(Bad::Unreadable),
    };
    let (h, m) = match b.len() {
        3 => (digits(b, 1, 2), Some(0)),
        5 => (digits(b, 1, 2), digits(b, 3, 2)),
        6 if b[3] == b':' => (digits(b, 1, 2), digits(b, 4, 2)),
        _ => return Err(Bad::Unreadable),
    };
    match (h, m) {
        (Some(h), Some(m)) if h <= 23 && m <= 59 => Ok(sign * i64::from(h * 3600 + m * 60)),
        (Some(_), Some(_)) => Err(Bad::OutOfRange),
        _ => Err(Bad::Unreadable),
    }
}

/// Reads `YYYY-MM-DD`, or `YYYY-MM-DD(T|t| )hh:mm:ss[.digits]OFFSET`.
fn parse_datetime(s: &str) -> Result<TextStamp<'_>, Bad> {
    let b = s.as_bytes();
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    let (Some(year), true, Some(month), true, Some(day)) = (
        digits(b, 0, 4),
        sep(4, b'-'),
        digits(b, 5, 2),
        sep(7, b'-'),
        digits(b, 8, 2),
    ) else {
        return Err(Bad::Unreadable);
    };
    let year = i64::from(year);
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return Err(Bad::OutOfRange);
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        let secs = days * 86_400;
        return Ok(TextStamp {
            secs,
            frac: "",
            verbatim: None,
        });
    }
    let (true, Some(h), true, Some(m), true, Some(sec)) = (
        matches!(b[10], b'T' | b't' | b' '),
        digits(b, 11, 2),
        sep(13, b':'),
        digits(b, 14, 2),
        sep(16, b':'),
        digits(b, 17, 2),
    ) else {
        return Err(Bad::Unreadable);
    };
    if h > 23 || m > 59 || sec > 60 {
        return Err(Bad::OutOfRange);
    }
    // Bytes 0..19 are ASCII, so slicing at 19 and after digits is safe.
    let mut end = 19;
    if sep(19, b'.') {
        end = 20 + b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        if end == 20 {
            return Err(Bad::Unreadable);
        }
    }
    let frac = s.get(20.min(end)..end).unwrap_or("");
    let offset = s.get(end..).ok_or(Bad::Unreadable)?;
    let local = days * 86_400 + i64::from(h * 3600 + m * 60 + sec.min(59));
    let secs = local - offset_secs(offset)?;
    // A leap second can only end a UTC day; elsewhere `:60` is no time.
    if sec == 60 && secs.rem_euclid(86_400) != 86_399 {
        return Err(Bad::OutOfRange);
    }
    if !(MIN_SECS..=MAX_SECS).contains(&secs) {
        return Err(Bad::OutOfRange);
    }
    let verbatim = (b[10] == b'T' && offset == "Z" && sec < 60).then_some(s);
    Ok(TextStamp {
        secs,
        frac,
        verbatim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::arbitrary::any as arbitrary;
    use proptest::prelude::{
        prop, prop_assert, prop_assert_eq, prop_assume, prop_oneof, proptest, Just, Strategy,
    };
    use serde_json::Value;
    use std::time::{Duration, UNIX_EPOCH};

    /// `text` parsed as a node, leaked for a `'static` life.
    fn node_of(text: &str) -> &'static Node<'static> {
        let text: &'static str = Box::leak(text.to_string().into_boxed_str());
        let node = Node::parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        Box::leak(Box::new(node))
    }

    /// `v` as a node (through serde_json's text of it).
    fn node(v: &Value) -> &'static Node<'static> {
        node_of(&serde_json::to_string(v).unwrap())
    }

    /// A coerced value as the record writes it.
    fn json(c: &Coerced<'_>) -> String {
        let mut out = Vec::new();
        c.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// The price hook of these tests: keeps the value, so a test can see
    /// that `price` reached it (and only non-null values do).
    fn keep_price<'a>(v: &'a Node<'a>) -> Coercion<'a> {
        Ok(Some(Coerced::Json(v)))
    }

    /// `input` (JSON text) coerced as `ty`, written as JSON text, `none`
    /// or `bad`.
    fn run(ty: FieldType, input: &str) -> String {
        match coerce(ty, node_of(input), keep_price) {
            Ok(Some(c)) => json(&c),
            Ok(None) => "none".into(),
            Err(_) => "bad".into(),
        }
    }

    /// Runs a table of `(input, expected)` and lists every mismatch, with
    /// expected and got side by side.
    fn check(ty: FieldType, table: &[(&str, &str)]) {
        let failures: Vec<String> = table
            .iter()
            .filter_map(|&(input, want)| {
                let got = run(ty, input);
                (got != want).then(|| format!("{ty} {input:<40} expected {want:<32} got {got}"))
            })
            .collect();
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    #[test]
    fn type_names_round_trip() {
        for t in FieldType::ALL {
            assert_eq!(FieldType::parse(t.as_str()), Some(t));
        }
        for name in ["", "Integer", "int", "bool", " string", "date"] {
            assert_eq!(FieldType::parse(name), None, "{name}");
        }
    }

    #[test]
    fn any_and_json_keep_the_value() {
        for ty in [FieldType::Any, FieldType::Json] {
            check(
                ty,
                &[
                    (r#"{"a":[1,{"b":null}]}"#, r#"{"a":[1,{"b":null}]}"#),
                    ("[3,1,2]", "[3,1,2]"),
                    (r#""  x ""#, r#""  x ""#),
                    (r#""""#, r#""""#),
                    ("12.50", "12.50"),
                    ("false", "false"),
                    ("null", "none"),
                ],
            );
        }
    }

    #[test]
    fn strings() {
        check(
            FieldType::String,
            &[
                (r#""  Crash on start ""#, r#""Crash on start""#),
                (r#""""#, "none"),
                (r#"" \t\n ""#, "none"),
                (r#""\u00a0x\u3000""#, r#""x""#),
                (r#""\u200bx""#, "\"\u{200b}x\""),
                ("42", r#""42""#),
                ("-0", r#""-0""#),
                ("1.50", r#""1.50""#),
                ("1e3", r#""1e3""#),
                (
                    "123456789012345678901234567890",
                    r#""123456789012345678901234567890""#,
                ),
                ("true", r#""true""#),
                ("false", r#""false""#),
                ("[]", "bad"),
                (r#"{"a":1}"#, "bad"),
                ("null", "none"),
            ],
        );
    }

    #[test]
    fn integers() {
        check(
            FieldType::Integer,
            &[
                ("42", "42"),
                ("-7", "-7"),
                ("0", "0"),
                ("-0", "0"),
                (
                    "123456789012345678901234567890",
                    "123456789012345678901234567890",
                ),
                (
                    "-123456789012345678901234567890",
                    "-123456789012345678901234567890",
                ),
                (r#""42""#, "42"),
                (r#"" 42 ""#, "42"),
                (r#""\u00a042\u2003""#, "42"),
                (r#""0012""#, "12"),
                (r#""-007""#, "-7"),
                (r#""000""#, "0"),
                (r#""-0""#, "0"),
                (r#""99999999999999999999999""#, "99999999999999999999999"),
                (r#""""#, "none"),
                (r#""  ""#, "none"),
                ("4.2", "bad"),
                ("1.0", "bad"),
                ("1e3", "bad"),
                ("1E3", "bad"),
                (r#""4.2""#, "bad"),
                (r#""1,000""#, "bad"),
                (r#""1_000""#, "bad"),
                (r#""1 000""#, "bad"),
                (r#""1e3""#, "bad"),
                (r#""+5""#, "bad"),
                (r#""-""#, "bad"),
                (r#""0x10""#, "bad"),
                (r#""\u0664\u0662""#, "bad"),
                (r#""\u200b42""#, "bad"),
                ("true", "bad"),
                ("[1]", "bad"),
                (r#"{"n":1}"#, "bad"),
                ("null", "none"),
            ],
        );
    }

    #[test]
    fn numbers() {
        check(
            FieldType::Number,
            &[
                ("12.50", "12.50"),
                ("-3", "-3"),
                ("-0", "-0"),
                ("-0.0", "-0.0"),
                ("1e3", "1e3"),
                ("1E-3", "1E-3"),
                ("1e-400", "1e-400"),
                (
                    "123456789012345678901234567890",
                    "123456789012345678901234567890",
                ),
                (
                    "0.10000000000000000000000001",
                    "0.10000000000000000000000001",
                ),
                ("1e400", "bad"),
                (r#""12.50""#, "12.50"),
                (r#"" -3 ""#, "-3"),
                (r#""1e3""#, "1e3"),
                (r#""1E+3""#, "1E+3"),
                (r#""0.5""#, "0.5"),
                (r#""-0""#, "-0"),
                (r#""\u3000 7 \u00a0""#, "7"),
                (r#""""#, "none"),
                (r#"".5""#, "bad"),
                (r#""+5""#, "bad"),
                (r#""5.""#, "bad"),
                (r#""1,5""#, "bad"),
                (r#""0012""#, "bad"),
                (r#""-""#, "bad"),
                (r#""1e""#, "bad"),
                (r#""1e+""#, "bad"),
                (r#""NaN""#, "bad"),
                (r#""Infinity""#, "bad"),
                (r#""-Infinity""#, "bad"),
                (r#""1e400""#, "bad"),
                (r#""0x1F""#, "bad"),
                (r#""1 000""#, "bad"),
                (r#""$5""#, "bad"),
                ("false", "bad"),
                ("[1]", "bad"),
                ("null", "none"),
            ],
        );
    }

    #[test]
    fn booleans() {
        check(
            FieldType::Boolean,
            &[
                ("true", "true"),
                ("false", "false"),
                ("1", "true"),
                ("0", "false"),
                (r#""true""#, "true"),
                (r#""TRUE""#, "true"),
                (r#"" False ""#, "false"),
                (r#""tRuE""#, "true"),
                (r#""""#, "none"),
                (r#""1""#, "bad"),
                (r#""0""#, "bad"),
                (r#""yes""#, "bad"),
                (r#""t""#, "bad"),
                (r#""on""#, "bad"),
                (r#""truee""#, "bad"),
                ("2", "bad"),
                ("-1", "bad"),
                ("-0", "bad"),
                ("1.0", "bad"),
                ("1e0", "bad"),
                ("[true]", "bad"),
                (r#"{"b":true}"#, "bad"),
                ("null", "none"),
            ],
        );
    }

    #[test]
    fn currencies() {
        check(
            FieldType::Currency,
            &[
                (r#""usd""#, r#""USD""#),
                (r#"" eUr ""#, r#""EUR""#),
                (r#""GBP""#, r#""GBP""#),
                (r#""""#, "none"),
                (r#""US""#, "bad"),
                (r#""USDX""#, "bad"),
                (r#""€""#, "bad"),
                (r#""U$D""#, "bad"),
                (r#""euro""#, "bad"),
                ("840", "bad"),
                ("true", "bad"),
                (r#"{"code":"USD"}"#, "bad"),
                ("null", "none"),
            ],
        );
    }

    #[test]
    fn prices_go_to_the_hook_and_only_non_null_ones() {
        check(
            FieldType::Price,
            &[
                (r#""$12.50""#, r#""$12.50""#),
                (r#"{"amount":1}"#, r#"{"amount":1}"#),
                (r#""""#, r#""""#),
                ("null", "none"),
            ],
        );
        fn never<'a>(_: &'a Node<'a>) -> Coercion<'a> {
            panic!("hook called for null")
        }
        assert_eq!(coerce(FieldType::Price, &Node::Null, never), Ok(None));
    }

    #[test]
    fn amounts_are_written_as_f64s_are() {
        for x in [0.0, 12.5, 1299.0, 0.1 + 0.2, 1e21, 123_456.789] {
            assert_eq!(
                json(&Coerced::Amount(x)),
                serde_json::to_string(&x).unwrap()
            );
        }
    }

    #[test]
    fn timestamps_from_text() {
        check(
            FieldType::Timestamp,
            &[
                (r#""2026-11-01T08:00:00Z""#, r#""2026-11-01T08:00:00Z""#),
                (
                    r#""2026-11-01T09:00:00.5+01:00""#,
                    r#""2026-11-01T08:00:00.5Z""#,
                ),
                (
                    r#""2026-11-01T09:00:00.500+01:00""#,
                    r#""2026-11-01T08:00:00.500Z""#,
                ),
                (
                    r#""2026-11-01T09:00:00.123456789Z""#,
                    r#""2026-11-01T09:00:00.123456789Z""#,
                ),
                (
                    r#""2026-11-01T09:00:00.1234567891234Z""#,
                    r#""2026-11-01T09:00:00.1234567891234Z""#,
                ),
                (
                    r#""2026-11-01T14:45:00+05:45""#,
                    r#""2026-11-01T09:00:00Z""#,
                ),
                (r#""2026-11-01T14:45:00+0545""#, r#""2026-11-01T09:00:00Z""#),
                (
                    r#""2026-11-01T05:30:00-03:30""#,
                    r#""2026-11-01T09:00:00Z""#,
                ),
                (r#""2026-11-01T10:00:00+01""#, r#""2026-11-01T09:00:00Z""#),
                (
                    r#""2026-11-01 10:00:00.25+01""#,
                    r#""2026-11-01T09:00:00.25Z""#,
                ),
                (
                    r#""2026-11-01T09:00:00-00:00""#,
                    r#""2026-11-01T09:00:00Z""#,
                ),
                (
                    r#""2026-11-01T09:00:00+00:00""#,
                    r#""2026-11-01T09:00:00Z""#,
                ),
                (r#""2026-11-01t09:00:00z""#, r#""2026-11-01T09:00:00Z""#),
                (r#""2026-11-01 09:00:00Z""#, r#""2026-11-01T09:00:00Z""#),
                (r#""  2026-11-01T09:00:00Z\n""#, r#""2026-11-01T09:00:00Z""#),
                (
                    r#""2026-01-01T00:30:00+01:00""#,
                    r#""2025-12-31T23:30:00Z""#,
                ),
                (
                    r#""2026-12-31T23:30:00-01:00""#,
                    r#""2027-01-01T00:30:00Z""#,
                ),
                (r#""2026-11-01""#, r#""2026-11-01T00:00:00Z""#),
                (r#""2024-02-29""#, r#""2024-02-29T00:00:00Z""#),
                (r#""2000-02-29T12:00:00Z""#, r#""2000-02-29T12:00:00Z""#),
                (r#""1969-07-20T20:17:40Z""#, r#""1969-07-20T20:17:40Z""#),
                (r#""0000-01-01T00:00:00Z""#, r#""0000-01-01T00:00:00Z""#),
                (r#""0000-02-29""#, r#""0000-02-29T00:00:00Z""#),
                (
                    r#""9999-12-31T23:59:59.999Z""#,
                    r#""9999-12-31T23:59:59.999Z""#,
                ),
                (r#""""#, "none"),
            ],
        );
    }

    #[test]
    fn bad_timestamp_text() {
        check(
            FieldType::Timestamp,
            &[
                (r#""2023-02-29""#, "bad"),
                (r#""1900-02-29""#, "bad"),
                (r#""2026-02-30""#, "bad"),
                (r#""2026-04-31""#, "bad"),
                (r#""2026-13-01""#, "bad"),
                (r#""2026-00-10""#, "bad"),
                (r#""2026-11-00""#, "bad"),
                (r#""2026-11-01T24:00:00Z""#, "bad"),
                (r#""2026-11-01T23:60:00Z""#, "bad"),
                (r#""2026-11-01T23:59:61Z""#, "bad"),
                (r#""2026-11-01T09:00:00""#, "bad"),
                (r#""2026-11-01T09:00Z""#, "bad"),
                (r#""2026-11-01T09:00:00.Z""#, "bad"),
                (r#""2026-11-01T09:00:00,5Z""#, "bad"),
                (r#""2026-11-01T09:00:00+24:00""#, "bad"),
                (r#""2026-11-01T09:00:00+01:60""#, "bad"),
                (r#""2026-11-01T09:00:00+1""#, "bad"),
                (r#""2026-11-01T09:00:00+01:0""#, "bad"),
                (r#""2026-11-01T09:00:00 +01:00""#, "bad"),
                (r#""2026-11-01T09:00:00ZZ""#, "bad"),
                (r#""2026-11-01T09:00:00UTC""#, "bad"),
                (r#""2026-11-01Z""#, "bad"),
                (r#""2026-11-01X09:00:00Z""#, "bad"),
                (r#""2026-1-01""#, "bad"),
                (r#""26-11-01""#, "bad"),
                (r#""20261101""#, "bad"),
                (r#""20261101T090000Z""#, "bad"),
                (r#""+2026-11-01""#, "bad"),
                (r#""10000-01-01""#, "bad"),
                (r#""0000-01-01T00:00:00+00:01""#, "bad"),
                (r#""9999-12-31T23:30:00-01:00""#, "bad"),
                (r#""\u0662026-11-01""#, "bad"),
                (r#""1700000000""#, "bad"),
                (r#""Sun, 01 Nov 2026 09:00:00 GMT""#, "bad"),
                ("true", "bad"),
                (r#"{"t":"2026-11-01"}"#, "bad"),
            ],
        );
    }

    #[test]
    fn leap_seconds_clamp_where_one_can_be() {
        check(
            FieldType::Timestamp,
            &[
                (r#""2016-12-31T23:59:60Z""#, r#""2016-12-31T23:59:59Z""#),
                (r#""2016-12-31T23:59:60.5Z""#, r#""2016-12-31T23:59:59.5Z""#),
                (
                    r#""2017-01-01T08:59:60+09:00""#,
                    r#""2016-12-31T23:59:59Z""#,
                ),
                (
                    r#""2017-01-01T05:44:60+05:45""#,
                    r#""2016-12-31T23:59:59Z""#,
                ),
                (r#""2026-11-01T12:00:60Z""#, "bad"),
                (r#""2016-12-31T23:59:60+01:00""#, "bad"),
            ],
        );
    }

    #[test]
    fn timestamps_from_epochs() {
        check(
            FieldType::Timestamp,
            &[
                ("1700000000", r#""2023-11-14T22:13:20Z""#),
                ("1700000000000", r#""2023-11-14T22:13:20Z""#),
                ("1700000000123", r#""2023-11-14T22:13:20.123Z""#),
                ("1700000000100", r#""2023-11-14T22:13:20.1Z""#),
                ("1700000000010", r#""2023-11-14T22:13:20.01Z""#),
                ("0", r#""1970-01-01T00:00:00Z""#),
                ("-0", r#""1970-01-01T00:00:00Z""#),
                ("-1", r#""1969-12-31T23:59:59Z""#),
                ("-62167219200", r#""0000-01-01T00:00:00Z""#),
                ("-62167219201", "bad"),
                // 10^11 itself is seconds (year 5138); one more is millis.
                ("100000000000", r#""5138-11-16T09:46:40Z""#),
                ("100000000001", r#""1973-03-03T09:46:40.001Z""#),
                ("253402300799999", r#""9999-12-31T23:59:59.999Z""#),
                ("253402300800000", "bad"),
                ("123456789012345678901234567890", "bad"),
                ("1700000000.5", "bad"),
                ("1.7e9", "bad"),
                ("1e3", "bad"),
            ],
        );
    }

    #[test]
    fn bad_says_why() {
        let bad = |ty, input: &str| coerce(ty, node_of(input), keep_price).map(|_| ());
        assert_eq!(bad(FieldType::String, "[]"), Err(Bad::WrongKind));
        assert_eq!(bad(FieldType::Integer, r#""4.2""#), Err(Bad::Unreadable));
        assert_eq!(bad(FieldType::Number, "1e400"), Err(Bad::OutOfRange));
        assert_eq!(bad(FieldType::Boolean, "2"), Err(Bad::OutOfRange));
        assert_eq!(
            bad(FieldType::Timestamp, r#""2026-02-30""#),
            Err(Bad::OutOfRange)
        );
        assert_eq!(
            bad(FieldType::Timestamp, r#""2026-11-01T09:00:00""#),
            Err(Bad::Unreadable)
        );
        assert_eq!(bad(FieldType::Currency, "5"), Err(Bad::WrongKind));
        assert_eq!(
            Bad::Unreadable.to_string(),
            "bad value: not in this type's grammar"
        );
    }

    #[test]
    fn unchanged_text_is_borrowed() {
        let Node::Array(v) = node_of(r#"["2026-11-01T08:00:00.5Z", 12, " x ", "12.50"]"#) else {
            unreachable!()
        };
        assert!(matches!(
            timestamp(&v[0]),
            Ok(Some(Coerced::Str(Cow::Borrowed(_))))
        ));
        assert!(matches!(
            integer(&v[1]),
            Ok(Some(Coerced::Number(Cow::Borrowed(_))))
        ));
        assert!(matches!(
            number(&v[1]),
            Ok(Some(Coerced::Number(Cow::Borrowed(_))))
        ));
        assert!(matches!(
            string(&v[2]),
            Ok(Some(Coerced::Str(Cow::Borrowed("x"))))
        ));
        // A number in a string is the string's own text: borrowed too.
        assert!(matches!(
            number(&v[3]),
            Ok(Some(Coerced::Number(Cow::Borrowed("12.50"))))
        ));
    }

    #[test]
    fn instants_compare_as_time() {
        let at = |s: &str| timestamp_instant(node_of(s));
        let t = |secs, nanos| Ok(Some(UnixTime::new(secs, nanos).unwrap()));
        assert_eq!(at(r#""2023-11-14T22:13:20Z""#), t(1_700_000_000, 0));
        assert_eq!(at("1700000000"), t(1_700_000_000, 0));
        assert_eq!(at("1700000000123"), t(1_700_000_000, 123_000_000));
        assert_eq!(
            at(r#""2023-11-14T23:13:20.5+01:00""#),
            t(1_700_000_000, 500_000_000)
        );
        assert_eq!(at(r#""1969-12-31T23:59:59.25Z""#), t(-1, 250_000_000));
        assert_eq!(
            at(r#""2026-11-01T09:00:00.1234567899Z""#),
            at(r#""2026-11-01T09:00:00.123456789Z""#)
        );
        assert_eq!(at("null"), Ok(None));
        assert_eq!(at(r#""2026-13-01""#), Err(Bad::OutOfRange));
        let (a, b) = (
            at(r#""1969-12-31T23:59:59.9Z""#),
            at(r#""1970-01-01T00:00:00Z""#),
        );
        assert!(a.unwrap() < b.unwrap());
        assert_eq!(UnixTime::new(0, 1_000_000_000), None);
        let u = UnixTime::new(-5, 7).unwrap();
        assert_eq!((u.secs(), u.nanos()), (-5, 7));
    }

    #[test]
    fn one_formatter_serves_output_rs() {
        for secs in [0u64, 59, 86_399, 951_782_400, 1_700_000_000, 4_102_444_800] {
            let t = UNIX_EPOCH + Duration::from_millis(secs * 1000 + 42);
            assert_eq!(
                format_rfc3339_utc(secs as i64, ""),
                Some(crate::time::rfc3339(t))
            );
            assert_eq!(
                format_rfc3339_utc(secs as i64, "042"),
                Some(crate::time::rfc3339_millis(t))
            );
        }
        assert_eq!(format_rfc3339_utc(MAX_SECS + 1, ""), None);
        assert_eq!(format_rfc3339_utc(MIN_SECS - 1, ""), None);
        assert_eq!(format_rfc3339_utc(0, "5x"), None);
    }

    /// JSON values biased towards what the coercions read: numbers and
    /// strings that look like numbers, booleans and timestamps.
    fn any_json() -> impl Strategy<Value = Value> {
        let number_text = "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,12})?([eE][+-]?[0-9]{1,4})?";
        let leaf = prop_oneof![
            Just(Value::Null),
            arbitrary::<bool>().prop_map(Value::from),
            arbitrary::<i64>().prop_map(Value::from),
            arbitrary::<f64>().prop_map(Value::from),
            number_text.prop_map(|t| serde_json::from_str::<Value>(&t).unwrap()),
            "[ +.,eE0-9a-zA-Z\u{a0}-]{0,14}".prop_map(Value::from),
            "[ ]?[+-]?[0-9]{0,4}(\\.[0-9]{0,3})?([eE][+-]?[0-9]{0,3})?[ ]?".prop_map(Value::from),
            (-(1i64 << 40)..(1i64 << 50)).prop_map(Value::from),
            " ?[a-zA-Z]{2,4} ?".prop_map(Value::from),
            concat!(
                "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])",
                "([Tt ]([01][0-9]|2[0-4]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{0,12})?",
                "([Zz]|[+-]([01][0-9]|2[0-4])(:?[0-5][0-9])?)?)?"
            )
            .prop_map(Value::from),
            arbitrary::<String>().prop_map(Value::from),
        ];
        // Mostly leaves: containers only need to show they are handled.
        let containers = leaf.clone().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{1,3}", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        });
        prop_oneof![6 => leaf, 1 => containers]
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        #[test]
        fn coercions_never_panic_and_write_json_that_coerces_to_itself(v in any_json()) {
            for ty in FieldType::ALL {
                let Ok(Some(c)) = coerce(ty, node(&v), keep_price) else { continue };
                let text = json(&c);
                let back = node_of(&text);
                if !matches!(ty, FieldType::Any | FieldType::Json | FieldType::Price) {
                    prop_assert!(!matches!(back, Node::Object(_) | Node::Array(_)), "{} {}", ty, text);
                    // What a coercion writes reads back as itself.
                    let again = coerce(ty, back, keep_price).map(|c| c.map(|c| json(&c)));
                    prop_assert_eq!(again, Ok(Some(text.clone())), "{} of {}", ty, v);
                }
                if ty == FieldType::Timestamp {
                    let instant = timestamp_instant(node(&v)).unwrap().unwrap();
                    prop_assert_eq!(timestamp_instant(back), Ok(Some(instant)));
                }
            }
        }

        #[test]
        fn formatted_instants_parse_back(
            secs in MIN_SECS + 86_400..=MAX_SECS - 86_400,
            frac in "[0-9]{0,12}",
            offset_min in -(23 * 60 + 59)..=(23 * 60 + 59i64),
        ) {
            let utc = format_rfc3339_utc(secs, &frac).unwrap();
            let v = node(&Value::from(utc.as_str()));
            let nanos = frac_nanos(&frac);
            prop_assert_eq!(timestamp_instant(v), Ok(Some(UnixTime { secs, nanos })));
            prop_assert_eq!(timestamp(v), Ok(Some(Coerced::Str(Cow::Borrowed(utc.as_str())))));
            // The same instant written as local time with an offset.
            let local = format_rfc3339_utc(secs + offset_min * 60, &frac).unwrap();
            let sign = if offset_min < 0 { '-' } else { '+' };
            let (h, m) = (offset_min.abs() / 60, offset_min.abs() % 60);
            let with_offset = format!("{}{sign}{h:02}:{m:02}", local.trim_end_matches('Z'));
            let v = node(&Value::from(with_offset));
            prop_assert_eq!(timestamp(v), Ok(Some(Coerced::Str(Cow::Owned(utc)))));
        }

        #[test]
        fn epochs_agree_with_output_rs(secs in 0u64..MILLIS_ABOVE as u64, millis in 0u64..1000) {
            let t = UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis);
            let v = node(&Value::from(secs));
            prop_assert_eq!(
                timestamp(v),
                Ok(Some(Coerced::Str(Cow::Owned(crate::time::rfc3339(t)))))
            );
            prop_assume!(secs * 1000 + millis > MILLIS_ABOVE as u64);
            let v = node(&Value::from(secs * 1000 + millis));
            prop_assert_eq!(timestamp_instant(v), Ok(Some(UnixTime { secs: secs as i64, nanos: millis as u32 * 1_000_000 })));
        }
    }
}
