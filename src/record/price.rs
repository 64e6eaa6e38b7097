//! Reading a price written as text (`"$1,299.00"`, `"1.299,00 €"`,
//! `"EUR 12"`) into an amount and, when the text says so, a currency.
//!
//! SPEC §5 fixes the grammar; this module is its single implementation, and
//! it is hand-written (no regex) because it runs once per item, by the
//! million. It never allocates for prices of up to 64 characters, never
//! panics, and says `None` for anything it does not fully understand: the
//! caller counts that as `bad_price`.
//!
//! # Grammar
//!
//! After trimming, a price string is `affixes number affixes`, where each
//! `affixes` is zero or more of a currency symbol (`$`→USD, `€`→EUR,
//! `£`→GBP, `¥`→JPY) and a 3-letter code (ASCII letters, any case, written
//! upper-case), separated from each other and from the number by optional
//! whitespace. At most one symbol and at most one code in the whole string,
//! each on either side (`"$12"`, `"12 USD"`, `"USD $12"`, `"$12 USD"`). When
//! both occur the code wins, because a symbol is shared by several
//! currencies (`"$12 CAD"` is CAD). `NAN` and `INF` are not codes. Anything
//! else — a sign, an exponent, other text, a second number, no number at
//! all — makes the whole string a bad price.
//!
//! # Separators
//!
//! The number is ASCII digits with `.` and `,`; it starts and ends with a
//! digit. Which separator is the decimal mark:
//!
//! | separators present | reading |
//! |---|---|
//! | none | an integer: `1299` |
//! | both `.` and `,` | the rightmost one is the decimal mark and occurs once; the other separates thousands: `1,299.00`, `1.299,00` |
//! | only `,`, as valid thousands grouping | thousands: `1,299`, `1,234,567` |
//! | only `,`, once, not valid grouping | decimal mark: `12,50`, `12,5`, `0,599` |
//! | only `,`, several, not valid grouping | bad price: `1,2,3` |
//! | a single `.` | decimal mark: `12.50`, `1.299` (= 1.299) |
//! | several `.` | thousands, must be valid grouping: `1.234.567`; else bad |
//!
//! *Valid thousands grouping*: every thousands separator is followed by
//! exactly 3 digits (SPEC's own test for `,`), and the first group does not
//! start with `0`, because no one writes a number in thousands that way —
//! so `0,599` is 0.599, not 599. The first group is otherwise free
//! (`1234,567` is 1 234 567, as SPEC's rule says). Digits after the
//! decimal mark are unlimited; a decimal mark needs a digit on each side.

/// A 3-letter currency code, upper-case ASCII. Stored inline: no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// The code for US dollars, the `$` symbol's currency.
    pub const USD: Currency = Currency(*b"USD");
    /// The code for euros, the `€` symbol's currency.
    pub const EUR: Currency = Currency(*b"EUR");
    /// The code for pounds sterling, the `£` symbol's currency.
    pub const GBP: Currency = Currency(*b"GBP");
    /// The code for Japanese yen, the `¥` symbol's currency.
    pub const JPY: Currency = Currency(*b"JPY");

    /// Reads a currency code field: exactly 3 ASCII letters, any case, after
    /// trimming whitespace. Anything else (a symbol, a name, `"US"`) is not
    /// a code: SPEC §5 says such a field is ignored.
    pub fn from_code(s: &str) -> Option<Currency> {
        match s.trim().as_bytes() {
            &[a, b, c] => Currency::from_letters(a, b, c),
            _ => None,
        }
    }

    /// The code's text, e.g. `"USD"`.
    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII letters, so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    fn from_letters(a: u8, b: u8, c: u8) -> Option<Currency> {
        if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() && c.is_ascii_alphabetic() {
            Some(Currency([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ]))
        } else {
            None
        }
    }

    fn from_symbol(c: char) -> Option<Currency> {
        match c {
            '$' => Some(Currency::USD),
            '€' => Some(Currency::EUR),
            '£' => Some(Currency::GBP),
            '¥' => Some(Currency::JPY),
            _ => None,
        }
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A price read from text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParsedPrice {
    /// The amount: finite and >= 0.
    pub amount: f64,
    /// The currency the text named by code or symbol, if any.
    pub currency: Option<Currency>,
}

/// Reads a price string per the module's grammar; `None` means `bad_price`.
pub fn parse_price(s: &str) -> Option<ParsedPrice> {
    let mut affixes = Affixes::default();
    let rest = affixes.take(s)?;
    let end = rest
        .bytes()
        .position(|b| !(b.is_ascii_digit() || b == b'.' || b == b','))
        .unwrap_or(rest.len());
    let (number, tail) = rest.split_at(end);
    if !affixes.take(tail)?.is_empty() {
        return None;
    }
    let amount = parse_number(number)?;
    Some(ParsedPrice {
        amount,
        currency: affixes.code.or(affixes.symbol),
    })
}

/// The currency marks met so far on either side of the number.
#[derive(Default)]
struct Affixes {
    symbol: Option<Currency>,
    code: Option<Currency>,
}

impl Affixes {
    /// Consumes leading whitespace, symbols and codes; returns what follows,
    /// or `None` on a second symbol or a second code.
    fn take<'a>(&mut self, mut s: &'a str) -> Option<&'a str> {
        loop {
            s = s.trim_start();
            let mut chars = s.chars();
            let Some(first) = chars.next() else {
                return Some(s);
            };
            if let Some(cur) = Currency::from_symbol(first) {
                if self.symbol.replace(cur).is_some() {
                    return None;
                }
                s = chars.as_str();
                continue;
            }
            match s.as_bytes() {
                &[a, b, c, ref after @ ..]
                    if !after.first().is_some_and(u8::is_ascii_alphabetic) =>
                {
                    let Some(cur) = Currency::from_letters(a, b, c) else {
                        return Some(s);
                    };
                    if matches!(&cur.0, b"NAN" | b"INF") || self.code.replace(cur).is_some() {
                        return None;
                    }
                    s = &s[3..];
                }
                _ => return Some(s),
            }
        }
    }
}

/// Reads digits with `.`/`,` separators per the module's table.
fn parse_number(n: &str) -> Option<f64> {
    let b = n.as_bytes();
    if !b.first()?.is_ascii_digit() || !b.last()?.is_ascii_digit() {
        return None;
    }
    let last_dot = n.rfind('.');
    let last_comma = n.rfind(',');
    let (decimal, thousands) = match (last_dot, last_comma) {
        (None, None) => (None, None),
        (Some(d), Some(c)) => {
            let (mark, pos, other) = if d > c {
                (b'.', d, b',')
            } else {
                (b',', c, b'.')
            };
            if b[..pos].contains(&mark) || !grouping_ok(&b[..pos], other) {
                return None;
            }
            (Some(pos), Some(other))
        }
        (None, Some(c)) => {
            if grouping_ok(b, b',') {
                (None, Some(b','))
            } else if n.find(',') == Some(c) {
                (Some(c), None)
            } else {
                return None;
            }
        }
        (Some(d), None) => {
            if n.find('.') == Some(d) {
                (Some(d), None)
            } else if grouping_ok(b, b'.') {
                (None, Some(b'.'))
            } else {
                return None;
            }
        }
    };
    // Digits on both sides of a decimal mark are guaranteed: the number
    // starts and ends with a digit, and a mark right after a thousands
    // separator fails the grouping check.
    let value = if thousands.is_none() && decimal.is_none_or(|p| b[p] == b'.') {
        n.parse::<f64>().ok()?
    } else {
        parse_canonical(b, decimal, thousands)?
    };
    value.is_finite().then_some(value)
}

/// Whether `int` (digits and `sep`) is valid thousands grouping: every `sep`
/// is followed by exactly 3 digits, and the first group is non-empty and
/// does not start with `0`. Digits without `sep` are not grouping.
fn grouping_ok(int: &[u8], sep: u8) -> bool {
    let mut groups = int.split(|&c| c == sep);
    let first = groups.next().unwrap_or_default();
    let mut seen_sep = false;
    for group in groups {
        seen_sep = true;
        if group.len() != 3 || !group.iter().all(u8::is_ascii_digit) {
            return false;
        }
    }
    seen_sep && !first.is_empty() && first[0] != b'0' && first.iter().all(u8::is_ascii_digit)
}

/// Copies the digits into Rust's float syntax (thousands dropped, decimal
/// mark as `.`) and parses that. A stack buffer covers every real price.
fn parse_canonical(b: &[u8], decimal: Option<usize>, thousands: Option<u8>) -> Option<f64> {
    let mut stack = [0u8; 64];
    let mut heap = Vec::new();
    let buf: &mut [u8] = if b.len() <= stack.len() {
        &mut stack
    } else {
        heap.resize(b.len(), 0);
        &mut heap
    };
    let mut len = 0;
    for (i, &c) in b.iter().enumerate() {
        if Some(i) == decimal {
            buf[len] = b'.';
        } else if Some(c) == thousands {
            continue;
        } else {
            buf[len] = c;
        }
        len += 1;
    }
    std::str::from_utf8(&buf[..len]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Parses `s`, which must be valid; the currency as text, "" for none.
    fn ok(s: &str) -> (f64, String) {
        let p = parse_price(s).unwrap_or_else(|| panic!("{s:?} should parse"));
        (
            p.amount,
            p.currency.map(|c| c.to_string()).unwrap_or_default(),
        )
    }

    fn bad(s: &str) {
        assert_eq!(parse_price(s), None, "{s:?} should be bad_price");
    }

    #[test]
    fn plain_numbers() {
        assert_eq!(ok("12.50"), (12.5, "".into()));
        assert_eq!(ok("0"), (0.0, "".into()));
        assert_eq!(ok("0.00"), (0.0, "".into()));
        assert_eq!(ok(" 7 "), (7.0, "".into()));
        assert_eq!(ok("007"), (7.0, "".into()));
        assert_eq!(ok("1299"), (1299.0, "".into()));
        assert_eq!(ok("\u{a0}12\u{a0}"), (12.0, "".into()));
    }

    #[test]
    fn symbols_and_codes() {
        assert_eq!(ok("$1,299.00"), (1299.0, "USD".into()));
        assert_eq!(ok("1.299,00 €"), (1299.0, "EUR".into()));
        assert_eq!(ok("EUR 12"), (12.0, "EUR".into()));
        assert_eq!(ok("12 USD"), (12.0, "USD".into()));
        assert_eq!(ok("12 usd"), (12.0, "USD".into()));
        assert_eq!(ok("Chf12"), (12.0, "CHF".into()));
        assert_eq!(ok("£ 3.5"), (3.5, "GBP".into()));
        assert_eq!(ok("¥1,200"), (1200.0, "JPY".into()));
        assert_eq!(ok("12€"), (12.0, "EUR".into()));
        assert_eq!(ok("USD $12"), (12.0, "USD".into()));
        assert_eq!(ok("$ USD 12"), (12.0, "USD".into()));
        assert_eq!(ok("12 $ USD"), (12.0, "USD".into()));
        assert_eq!(ok("$12 USD"), (12.0, "USD".into()));
        // The code is more specific than a shared symbol.
        assert_eq!(ok("$12 CAD"), (12.0, "CAD".into()));
        assert_eq!(ok("CAD12$"), (12.0, "CAD".into()));
        // Any 3 letters are a code's shape; SPEC does not list the codes.
        assert_eq!(ok("12abc"), (12.0, "ABC".into()));
    }

    #[test]
    fn separators() {
        assert_eq!(ok("1,299"), (1299.0, "".into()));
        assert_eq!(ok("1,234,567"), (1234567.0, "".into()));
        assert_eq!(ok("1,234,567.89"), (1234567.89, "".into()));
        assert_eq!(ok("1.234.567,89"), (1234567.89, "".into()));
        assert_eq!(ok("1.234.567"), (1234567.0, "".into()));
        assert_eq!(ok("12,50"), (12.5, "".into()));
        assert_eq!(ok("12,5"), (12.5, "".into()));
        assert_eq!(ok("1299,99"), (1299.99, "".into()));
        assert_eq!(ok("1.299"), (1.299, "".into()));
        assert_eq!(ok("0.5"), (0.5, "".into()));
        assert_eq!(ok("0,599"), (0.599, "".into()));
        assert_eq!(ok("1234,567"), (1234567.0, "".into()));
        assert_eq!(ok("1,299.5"), (1299.5, "".into()));
        assert_eq!(ok("1.299,5"), (1299.5, "".into()));
        assert_eq!(ok("1,299.0001"), (1299.0001, "".into()));
    }

    #[test]
    fn bad_separators() {
        bad("1,2,3");
        bad("1.2.3");
        bad("12,50,00");
        bad("1,29.00"); // thousands group of 2
        bad("1.2999,00"); // thousands group of 4
        bad("1,299.00.00"); // decimal mark twice
        bad("1.299,00,00");
        bad("0,123.45"); // grouping that starts with 0
        bad("0.123.456");
        bad("1,,299");
        bad(".5");
        bad("5.");
        bad(",5");
        bad("5,");
        bad("1,.5");
        bad("1.,5");
        bad("1 299");
    }

    #[test]
    fn not_prices() {
        for s in [
            "",
            " ",
            "$",
            "USD",
            "$ USD",
            "-5",
            "+5",
            "- 5",
            "$-5",
            "1e3",
            "1E3",
            "12e",
            "NaN",
            "nan",
            "Infinity",
            "inf",
            "12 NaN",
            "INF 12",
            "free",
            "12 dollars",
            "US$12",
            "$$12",
            "12 USD EUR",
            "USD 12 EUR",
            "$12€",
            "12 34",
            "1/2",
            "0x10",
            "12.5.",
            "1_000",
            "١٢",
            "12USDX",
            "USDX 12",
            "¢12",
        ] {
            bad(s);
        }
    }

    #[test]
    fn long_and_huge_numbers() {
        let long = format!("1{}", ",000".repeat(30)); // 121 chars: heap path
        assert_eq!(ok(&long).0, 1e90);
        let too_big = "9".repeat(400);
        bad(&too_big);
        let too_big_grouped = format!("1{}", ",000".repeat(110));
        bad(&too_big_grouped);
    }

    #[test]
    fn currency_codes() {
        assert_eq!(Currency::from_code("usd"), Some(Currency::USD));
        assert_eq!(Currency::from_code(" Eur "), Some(Currency::EUR));
        assert_eq!(Currency::from_code("US"), None);
        assert_eq!(Currency::from_code("USDT"), None);
        assert_eq!(Currency::from_code("$"), None);
        assert_eq!(Currency::from_code("U5D"), None);
        assert_eq!(Currency::from_code("ÉUR"), None);
        assert_eq!(Currency::USD.to_string(), "USD");
    }

    /// Writes `cents / 100` with two decimals, `thousands` every 3 digits
    /// of the integer part and `decimal` as the mark.
    fn format_cents(cents: u64, thousands: Option<char>, decimal: char) -> String {
        let int = (cents / 100).to_string();
        let mut out = String::new();
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i).is_multiple_of(3) {
                if let Some(t) = thousands {
                    out.push(t);
                }
            }
            out.push(c);
        }
        out.push(decimal);
        out.push_str(&format!("{:02}", cents % 100));
        out
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            if let Some(p) = parse_price(&s) {
                prop_assert!(p.amount.is_finite() && p.amount >= 0.0);
            }
        }

        #[test]
        fn never_panics_on_price_like_strings(s in "[ $€£¥0-9.,a-zA-Z+-]{0,24}") {
            if let Some(p) = parse_price(&s) {
                prop_assert!(p.amount.is_finite() && p.amount >= 0.0);
            }
        }

        #[test]
        fn formatted_prices_parse_back(
            cents in 0u64..10_000_000_000_000,
            style in 0usize..5,
            prefix in prop::sample::select(vec!["", "$", "€ ", "USD ", "eur", "£", "¥ "]),
            suffix in prop::sample::select(vec!["", " $", "€", " USD", "GBP", " jpy"]),
        ) {
            let text = match style {
                0 => format_cents(cents, None, '.'),
                1 => format_cents(cents, Some(','), '.'),
                2 => format_cents(cents, Some('.'), ','),
                3 => format_cents(cents, None, ','),
                _ => (cents / 100).to_string(),
            };
            let expected = if style == 4 { (cents / 100) as f64 } else { cents as f64 / 100.0 };
            // At most one symbol and one code: skip combinations the grammar rejects.
            let symbols = |s: &str| s.chars().filter(|c| "$€£¥".contains(*c)).count();
            let codes = |s: &str| s.chars().filter(char::is_ascii_alphabetic).count() / 3;
            prop_assume!(symbols(prefix) + symbols(suffix) <= 1);
            prop_assume!(codes(prefix) + codes(suffix) <= 1);
            let s = format!("{prefix}{text}{suffix}");
            let p = parse_price(&s);
            prop_assert!(p.is_some(), "{:?} did not parse", s);
            let got = p.map(|p| p.amount).unwrap_or(f64::NAN);
            prop_assert!(close(got, expected), "{:?}: expected {} got {}", s, expected, got);
        }

        #[test]
        fn comma_thousands_integers_parse_back(n in 1000u64..1_000_000_000_000) {
            let s = format_cents(n * 100, Some(','), '.');
            let s = s.trim_end_matches(".00");
            prop_assert_eq!(parse_price(s).map(|p| p.amount), Some(n as f64));
        }
    }
}
