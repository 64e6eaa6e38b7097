//! Long values quoted in one line: the one place text is cut short.
//!
//! Every message that quotes something a server or a config said (an
//! error body, a cursor, a key, a progress line) cuts it here, by
//! characters (never inside one), ending with `…` when it was cut, so
//! that a reader sees that more was there.

use std::borrow::Cow;

/// The mark a shortened text ends with.
pub const ELLIPSIS: char = '…';

/// `text` in at most `max` characters: unchanged when it fits, else its
/// first `max - 1` characters and `…`. `max` 0 gives an empty text.
pub fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    let Some((cut, _)) = text.char_indices().nth(max) else {
        return Cow::Borrowed(text);
    };
    let keep = match max {
        0 => return Cow::Borrowed(""),
        _ => text[..cut].char_indices().last().map_or(0, |(i, _)| i),
    };
    let mut out = String::with_capacity(keep + ELLIPSIS.len_utf8());
    out.push_str(&text[..keep]);
    out.push(ELLIPSIS);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_fits_is_unchanged_and_longer_text_ends_in_an_ellipsis() {
        let cases: &[(&str, usize, &str)] = &[
            ("", 3, ""),
            ("abc", 3, "abc"),
            ("abcd", 3, "ab…"),
            ("abcd", 1, "…"),
            ("abcd", 0, ""),
            // Characters, not bytes: a cut never splits one.
            ("ééééé", 4, "ééé…"),
            ("日本語テキスト", 3, "日本…"),
        ];
        for &(text, max, want) in cases {
            let got = shorten(text, max);
            assert_eq!(got, want, "shorten({text:?}, {max})");
            assert!(got.chars().count() <= max);
        }
    }
}
