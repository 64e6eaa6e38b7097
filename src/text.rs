//! Text as ingest shows and sends it: the one place a long value is cut
//! short, and base64 (HTTP Basic credentials, and the forms of a secret
//! the redactor must recognize).
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

/// Standard base64 with padding (RFC 4648 §4), for HTTP Basic.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_rfc_4648() {
        // RFC 4648 §10's test vectors, and RFC 7617's example.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
    }

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
