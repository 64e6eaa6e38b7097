//! One item, parsed where it is normalized: a JSON tree that borrows from
//! its page.
//!
//! A page's body arrives as one buffer; each item is a span of it. The
//! processor parses each span into a [`Node`]: strings and keys without
//! escapes are borrowed, numbers keep their exact text (borrowed too), and
//! objects keep their document order (SPEC §5's breadth-first lookup needs
//! it) as a plain vector of pairs — no hashing, no allocation per scalar.
//! Only arrays and objects own a vector. The parser is strict RFC 8259: an
//! item it refuses (a lone UTF-16 surrogate escape, say, which a page-level
//! check lets through) is `malformed_item`, and the rest of its page is
//! kept. [`Node::write_json`] writes a node back compactly, as serde_json
//! writes a `Value`, without Rust's formatting machinery.

use std::borrow::Cow;

/// A parsed JSON value borrowing from its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as its exact text (`12.50`, `-0`, `1E3`).
    Number(&'a str),
    /// A string, unescaped (borrowed when it had no escapes).
    String(Cow<'a, str>),
    /// An array, in order.
    Array(Vec<Node<'a>>),
    /// An object's members, in document order.
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

/// Text that is not one JSON value (or not one this parser accepts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Nesting deeper than this is refused (as serde_json refuses past 128),
/// so a hostile item cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

impl<'a> Node<'a> {
    /// Parses `text`, which must hold exactly one JSON value (whitespace
    /// around it allowed).
    pub fn parse(text: &'a str) -> Result<Node<'a>, Malformed> {
        let mut p = Parser {
            text,
            bytes: text.as_bytes(),
            at: 0,
        };
        let node = p.value(0)?;
        p.skip_ws();
        if p.at == p.bytes.len() {
            Ok(node)
        } else {
            Err(Malformed)
        }
    }

    /// The value under `key`; with a key given twice, the last one (as
    /// serde_json's maps keep it).
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        match self {
            Node::Object(pairs) => pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    /// Appends this value as compact JSON, escaped as serde_json escapes.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            Node::Number(n) => out.extend_from_slice(n.as_bytes()),
            Node::String(s) => write_str(out, s),
            Node::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_json(out);
                }
                out.push(b']');
            }
            Node::Object(pairs) => {
                out.push(b'{');
                for (i, (key, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_str(out, key);
                    out.push(b':');
                    value.write_json(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// Appends `s` as a JSON string, escaped exactly as serde_json does
/// (`"`, `\`, and control characters; everything else as it is).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_escaped(out, s);
    out.push(b'"');
}

/// Appends `s` escaped for inside a JSON string, without the quotes.
pub fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node<'a>, Malformed> {
        if depth > MAX_DEPTH {
            return Err(Malformed);
        }
        self.skip_ws();
        match self.bytes.get(self.at).ok_or(Malformed)? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => Ok(Node::String(self.string()?)),
            b't' => self.literal(b"true", Node::Bool(true)),
            b'f' => self.literal(b"false", Node::Bool(false)),
            b'n' => self.literal(b"null", Node::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(Malformed),
        }
    }

    fn literal(&mut self, word: &[u8], node: Node<'a>) -> Result<Node<'a>, Malformed> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(node)
        } else {
            Err(Malformed)
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node<'a>, Malformed> {
        self.at += 1;
        let mut pairs = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Node::Object(pairs));
        }
        loop {
            self.skip_ws();
            if self.bytes.get(self.at) != Some(&b'"') {
                return Err(Malformed);
            }
            let key = self.string()?;
            self.skip_ws();
            if self.bytes.get(self.at) != Some(&b':') {
                return Err(Malformed);
            }
            self.at += 1;
            pairs.push((key, self.value(depth + 1)?));
            self.skip_ws();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Node::Object(pairs));
                }
                _ => return Err(Malformed),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Node<'a>, Malformed> {
        self.at += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Node::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Node::Array(items));
                }
                _ => return Err(Malformed),
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, kept as text.
    fn number(&mut self) -> Result<Node<'a>, Malformed> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while p.bytes.get(p.at).is_some_and(u8::is_ascii_digit) {
                p.at += 1;
            }
            p.at > from
        };
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.bytes.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(Malformed),
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if !digits(self) {
                return Err(Malformed);
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if !digits(self) {
                return Err(Malformed);
            }
        }
        Ok(Node::Number(&self.text[start..self.at]))
    }

    /// A string at `"`; borrowed when it holds no escape.
    fn string(&mut self) -> Result<Cow<'a, str>, Malformed> {
        self.at += 1;
        let start = self.at;
        loop {
            match self.bytes.get(self.at).ok_or(Malformed)? {
                b'"' => {
                    let s = &self.text[start..self.at];
                    self.at += 1;
                    return Ok(Cow::Borrowed(s));
                }
                b'\\' => break,
                0x00..=0x1f => return Err(Malformed),
                _ => self.at += 1,
            }
        }
        let mut owned = String::from(&self.text[start..self.at]);
        loop {
            match self.bytes.get(self.at).ok_or(Malformed)? {
                b'"' => {
                    self.at += 1;
                    return Ok(Cow::Owned(owned));
                }
                b'\\' => {
                    self.at += 1;
                    self.escape(&mut owned)?;
                }
                0x00..=0x1f => return Err(Malformed),
                _ => {
                    // Copy the run up to the next quote, escape or control.
                    let from = self.at;
                    while self
                        .bytes
                        .get(self.at)
                        .is_some_and(|&b| b != b'"' && b != b'\\' && b >= 0x20)
                    {
                        self.at += 1;
                    }
                    owned.push_str(&self.text[from..self.at]);
                }
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), Malformed> {
        let c = *self.bytes.get(self.at).ok_or(Malformed)?;
        self.at += 1;
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let first = self.hex4()?;
                match first {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by a low one.
                        if !self.bytes[self.at..].starts_with(b"\\u") {
                            return Err(Malformed);
                        }
                        self.at += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(Malformed);
                        }
                        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                        char::from_u32(code).ok_or(Malformed)?
                    }
                    0xDC00..=0xDFFF => return Err(Malformed),
                    code => char::from_u32(code).ok_or(Malformed)?,
                }
            }
            _ => return Err(Malformed),
        };
        out.push(ch);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, Malformed> {
        let hex = self.bytes.get(self.at..self.at + 4).ok_or(Malformed)?;
        let mut code = 0;
        for &h in hex {
            code = code * 16 + (h as char).to_digit(16).ok_or(Malformed)?;
        }
        self.at += 4;
        Ok(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn round_trip(text: &str) -> String {
        let mut out = Vec::new();
        Node::parse(text).unwrap().write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn parses_and_writes_back_as_serde_json_does() {
        let text = r#" { "a" : [1, -0, 12.50, 1E3, true, false, null],
            "s": "x\"y\\z\n\u00e9\u0001\/", "e": {}, "l": [], "u": "\ud83d\ude00" } "#;
        let ours = round_trip(text);
        assert_eq!(
            ours,
            r#"{"a":[1,-0,12.50,1E3,true,false,null],"s":"x\"y\\z\né\u0001/","e":{},"l":[],"u":"😀"}"#
        );
        // The same as serde_json's own writing, but for number text kept.
        let theirs = serde_json::to_string(&serde_json::from_str::<Value>(text).unwrap()).unwrap();
        assert_eq!(ours.replace("1E3", "1e+3"), theirs);
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let node = Node::parse(r#"{"k": "plain", "e": "a\nb"}"#).unwrap();
        assert!(matches!(
            node.get("k"),
            Some(Node::String(Cow::Borrowed("plain")))
        ));
        assert!(matches!(node.get("e"), Some(Node::String(Cow::Owned(_)))));
    }

    #[test]
    fn the_last_of_a_repeated_key_wins() {
        let node = Node::parse(r#"{"a": 1, "a": 2}"#).unwrap();
        assert_eq!(node.get("a"), Some(&Node::Number("2")));
    }

    #[test]
    fn malformed_items_are_refused() {
        for bad in [
            "",
            " ",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "-",
            "+1",
            "1e",
            "tru",
            "nul",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\\ud800\\u0041\"",
            "\"\\x\"",
            "\"a\nb\"",
            "\"\\u12\"",
            "{\"a\" 1}",
            "[1 2]",
            "1 2",
            "\"open",
        ] {
            assert_eq!(Node::parse(bad), Err(Malformed), "{bad:?}");
        }
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(Node::parse(&deep), Err(Malformed));
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec(("[a-z\"\\\\é]{0,4}", inner), 0..6)
                    .prop_map(|kv| { Value::Object(kv.into_iter().collect()) }),
            ]
        })
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Whatever serde_json writes, this parser reads back and writes
        /// the same bytes (no exponents are generated: those keep their
        /// own text here, where serde_json rewrites them).
        #[test]
        fn agrees_with_serde_json(value in any_json()) {
            let text = serde_json::to_string(&value).unwrap();
            prop_assert_eq!(round_trip(&text), text.clone());
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert_eq!(round_trip(&pretty), text);
        }
    }
}
