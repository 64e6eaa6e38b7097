//! The little URL work ingest needs, in one leaf module: splitting a URL
//! into its RFC 3986 parts (one splitter serves everything below),
//! resolving a relative next link (§5.2), setting one query parameter,
//! percent-encoding and -decoding, and checking that a URL is one ingest
//! may request.
//!
//! Hand-written because it is small and central, and the `url` crate would
//! bring IDNA tables into a binary meant for small machines. URLs are
//! treated as strings with the RFC's five parts; nothing is normalized
//! beyond what resolution requires, so loop detection compares exactly
//! what would be requested.

/// The RFC 3986 parts of a URI reference.
struct Parts<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn split(s: &str) -> Parts<'_> {
    let (rest, fragment) = match s.split_once('#') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (scheme, rest) = match rest.find(':') {
        Some(i)
            if i > 0
                && rest[..i].starts_with(|c: char| c.is_ascii_alphabetic())
                && rest[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (Some(&rest[..i]), &rest[i + 1..])
        }
        _ => (None, rest),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(r) => {
            let end = r.find('/').unwrap_or(r.len());
            (Some(&r[..end]), &r[end..])
        }
        None => (None, rest),
    };
    Parts {
        scheme,
        authority,
        path,
        query,
        fragment,
    }
}

fn join(p: &Parts<'_>, path: &str) -> String {
    let mut out = String::new();
    if let Some(s) = p.scheme {
        out.push_str(s);
        out.push(':');
    }
    if let Some(a) = p.authority {
        out.push_str("//");
        out.push_str(a);
    }
    out.push_str(path);
    if let Some(q) = p.query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Where `inner`, a slice of `outer`, starts in it.
fn offset_in(outer: &str, inner: &str) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

/// Where the authority of `scheme://authority/…` is in `url`, if it has
/// one.
pub fn authority_span(url: &str) -> Option<std::ops::Range<usize>> {
    let authority = split(url).authority?;
    let start = offset_in(url, authority);
    Some(start..start + authority.len())
}

/// `url` cut into what precedes the query, the query (without `?`) and
/// the fragment (with its `#`, or empty).
pub fn pieces(url: &str) -> (&str, Option<&str>, &str) {
    let p = split(url);
    let fragment = p.fragment.map_or("", |f| &url[offset_in(url, f) - 1..]);
    let base_end = match (p.query, p.fragment) {
        (Some(q), _) => offset_in(url, q) - 1,
        (None, Some(f)) => offset_in(url, f) - 1,
        (None, None) => url.len(),
    };
    (&url[..base_end], p.query, fragment)
}

/// Query-component decoding: `%XX` escapes and `+` as space; a broken
/// escape stays as written; bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |i: usize| {
        let digit = |b: &u8| (*b as char).to_digit(16);
        Some(digit(bytes.get(i)?)? * 16 + digit(bytes.get(i + 1)?)?)
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(i + 1)) {
            (b'%', Some(byte)) => {
                out.push(byte as u8);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// RFC 3986 §5.2.4: removes `.` and `..` segments.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let absolute = path.starts_with('/');
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        match *seg {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > usize::from(absolute) {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if absolute && !joined.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

/// Resolves `reference` (absolute or relative) against `base`. The
/// fragment is dropped: it is never sent.
pub fn resolve(base: &str, reference: &str) -> String {
    let r = split(reference.trim());
    let b = split(base);
    let (mut target, path) = if r.scheme.is_some() {
        let path = remove_dot_segments(r.path);
        (r, path)
    } else if r.authority.is_some() {
        let path = remove_dot_segments(r.path);
        (
            Parts {
                scheme: b.scheme,
                ..r
            },
            path,
        )
    } else if r.path.is_empty() {
        let query = r.query.or(b.query);
        (Parts { query, ..b }, b.path.to_string())
    } else if r.path.starts_with('/') {
        let path = remove_dot_segments(r.path);
        (
            Parts {
                query: r.query,
                ..b
            },
            path,
        )
    } else {
        let merged = if b.authority.is_some() && b.path.is_empty() {
            format!("/{}", r.path)
        } else {
            let dir = &b.path[..b.path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{}", r.path)
        };
        (
            Parts {
                query: r.query,
                ..b
            },
            remove_dot_segments(&merged),
        )
    };
    target.fragment = None;
    join(&target, &path)
}

/// `scheme://host:port` of `url`, lower-cased, for same-origin checks
/// (RFC 6454): the userinfo is not part of an origin (a next link
/// without the configured `user:password@` is on the same server), and
/// the scheme's default port is the same as none.
pub fn origin(url: &str) -> String {
    let p = split(url);
    let scheme = p.scheme.unwrap_or_default().to_ascii_lowercase();
    let authority = p.authority.unwrap_or_default();
    let host_port = authority
        .rsplit('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => "",
    };
    let host_port = match host_port.strip_suffix(default_port) {
        Some(host) if !default_port.is_empty() => host,
        _ => &host_port,
    };
    format!("{scheme}://{host_port}")
}

/// The userinfo of `scheme://userinfo@host…` (`user:password`, without
/// the `@`), if `url` has one.
pub fn userinfo(url: &str) -> Option<&str> {
    let span = authority_span(url)?;
    url[span].rsplit_once('@').map(|(userinfo, _)| userinfo)
}

/// `url` with its userinfo set to `userinfo`, or removed for `None`;
/// everything else byte for byte.
pub fn with_userinfo(url: &str, userinfo: Option<&str>) -> String {
    let Some(span) = authority_span(url) else {
        return url.to_string();
    };
    let authority = &url[span.clone()];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let mut out = url[..span.start].to_string();
    if let Some(userinfo) = userinfo {
        out.push_str(userinfo);
        out.push('@');
    }
    out.push_str(host);
    out.push_str(&url[span.end..]);
    out
}

/// Percent-encodes a query component (RFC 3986 unreserved characters stay).
pub fn encode_component(s: &str) -> String {
    percent_encode(s, |c| !(c.is_ascii_alphanumeric() || "-._~".contains(c)))
}

/// `s` with the UTF-8 bytes of every character `encode` picks written as
/// `%XX`.
pub fn percent_encode(s: &str, encode: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if encode(c) {
            for b in c.encode_utf8(&mut [0; 4]).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `url` with query parameter `name` set to `value`: every parameter of
/// that name already there is replaced by one, in the first one's place.
pub fn set_query_param(url: &str, name: &str, value: &str) -> String {
    let p = split(url);
    let pair = format!("{}={}", encode_component(name), encode_component(value));
    let mut pairs: Vec<String> = Vec::new();
    let mut placed = false;
    for existing in p.query.unwrap_or("").split('&').filter(|s| !s.is_empty()) {
        let key = existing.split('=').next().unwrap_or("");
        if key == name || key == encode_component(name) {
            if !placed {
                pairs.push(pair.clone());
                placed = true;
            }
        } else {
            pairs.push(existing.to_string());
        }
    }
    if !placed {
        pairs.push(pair);
    }
    let query = pairs.join("&");
    let mut out = join(
        &Parts {
            query: Some(&query),
            ..p
        },
        p.path,
    );
    if let Some(f) = p.fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// `raw` with every byte from 0x80 up percent-encoded: RFC 3987's mapping
/// of an IRI to a URI for UTF-8 (servers do link to `/café`), and the only
/// faithful rendering of bytes that are not UTF-8. An HTTP request line
/// carries ASCII only.
pub fn encode_non_ascii(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        if b.is_ascii() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `url` with its scheme in lower case: schemes are case-insensitive (RFC
/// 3986 §3.1), so a server's `HTTP://host/` is an http URL like any other.
fn lowercase_scheme(mut url: String) -> String {
    if let Some(colon) = url.find(':') {
        if url[..colon]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            url[..colon].make_ascii_lowercase();
        }
    }
    url
}

/// A URL a server gave (a next link, a `Location`), as ingest requests
/// it: non-ASCII bytes percent-encoded and the scheme in lower case.
pub fn from_server(raw: &[u8]) -> String {
    lowercase_scheme(encode_non_ascii(raw))
}

/// Whether `url`'s host is this machine's loopback (`localhost`,
/// `127.0.0.0/8`, `[::1]`).
pub fn is_loopback(url: &str) -> bool {
    split(url)
        .authority
        .and_then(host_and_port)
        .is_some_and(|(host, _)| {
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
}

/// The host (without brackets) and the port text of an authority
/// (`user@host:port`, `[::1]:port`); `None` for a malformed IPv6 host.
fn host_and_port(authority: &str) -> Option<(&str, Option<&str>)> {
    let host_port = authority.rsplit('@').next().unwrap_or("");
    match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((addr, after)) if after.is_empty() || after.starts_with(':') => {
                Some((addr, after.strip_prefix(':')))
            }
            _ => None,
        },
        None => Some(match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }),
    }
}

/// `http://` or `https://` (lower case, as written by hand), then a
/// non-empty host, an optional port from 1 to 65535 (an out-of-range
/// port must not quietly become port 80), and no whitespace or control
/// characters anywhere. Config URLs, next links and redirect targets all
/// pass this before a request is made.
pub fn is_http_url(s: &str) -> bool {
    let Some(rest) = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
    else {
        return false;
    };
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let authority = split(s).authority.unwrap_or_default();
    let Some((host, port)) = host_and_port(authority) else {
        return false;
    };
    !host.is_empty()
        && port.is_none_or(|p| {
            p.is_empty()
                || (p.chars().all(|c| c.is_ascii_digit())
                    && p.parse::<u16>().is_ok_and(|port| port != 0))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_the_rfc_3986_examples() {
        let base = "http://a/b/c/d;p?q";
        let cases = [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g"),
            ("?y", "http://a/b/c/d;p?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d;p?q"),
            ("", "http://a/b/c/d;p?q"),
            (".", "http://a/b/c/"),
            ("./", "http://a/b/c/"),
            ("..", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("g/../h", "http://a/b/c/h"),
            ("https://other:8443/x?y=1", "https://other:8443/x?y=1"),
        ];
        for (reference, want) in cases {
            assert_eq!(resolve(base, reference), want, "reference {reference:?}");
        }
        assert_eq!(resolve("http://h:1", "p?page=2"), "http://h:1/p?page=2");
    }

    #[test]
    fn pieces_and_authority_come_from_the_one_splitter() {
        assert_eq!(
            pieces("http://x/p?a=1#f"),
            ("http://x/p", Some("a=1"), "#f")
        );
        assert_eq!(pieces("http://x/p#?t=a"), ("http://x/p", None, "#?t=a"));
        assert_eq!(pieces("not a url?key=1"), ("not a url", Some("key=1"), ""));
        let url = "http://u:pw@h:1/p?q";
        assert_eq!(authority_span(url).map(|r| &url[r]), Some("u:pw@h:1"));
        assert_eq!(authority_span("/relative"), None);
        assert_eq!(percent_decode("a%5Fb+c%zz"), "a_b c%zz");
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        assert_eq!(
            origin("HTTP://Api.Example.com:8080/x?y"),
            "http://api.example.com:8080"
        );
        // The userinfo is no part of an origin; a default port is none.
        for same in [
            "http://u:pw@api.example.com/z",
            "http://api.example.com:80/",
            "http://U@API.example.com",
        ] {
            assert_eq!(origin(same), "http://api.example.com", "{same}");
        }
        assert_eq!(origin("https://h:443/"), origin("https://h/"));
        assert_ne!(origin("https://h:80/"), origin("https://h/"));
        assert_ne!(origin("http://h:8080/"), origin("http://h/"));
        assert_ne!(origin("https://a.example/x"), origin("https://b.example/x"));
        assert_ne!(origin("http://h:1/"), origin("http://h:2/"));
        assert_eq!(origin("http://[::1]:80/"), "http://[::1]");
    }

    #[test]
    fn userinfo_is_read_and_replaced_alone() {
        assert_eq!(userinfo("http://u:pw@h:1/p?q=a@b"), Some("u:pw"));
        assert_eq!(userinfo("http://h/p?q=a@b"), None);
        assert_eq!(userinfo("/relative@x"), None);
        assert_eq!(
            with_userinfo("http://u:pw@h:1/p?q=a@b", Some("u")),
            "http://u@h:1/p?q=a@b"
        );
        assert_eq!(with_userinfo("http://h/p", Some("u:pw")), "http://u:pw@h/p");
        assert_eq!(with_userinfo("http://u:pw@h/p", None), "http://h/p");
        assert_eq!(with_userinfo("not a url", Some("u")), "not a url");
    }

    #[test]
    fn non_ascii_is_percent_encoded_as_utf8() {
        assert_eq!(encode_non_ascii(b"http://h/a?b=c"), "http://h/a?b=c");
        assert_eq!(
            encode_non_ascii("http://h/café?q=ü".as_bytes()),
            "http://h/caf%C3%A9?q=%C3%BC"
        );
        // Latin-1 bytes are not UTF-8: encoded as they are, not replaced.
        assert_eq!(encode_non_ascii(b"/caf\xE9"), "/caf%E9");
    }

    #[test]
    fn loopback_hosts() {
        for url in [
            "http://localhost:8080/a",
            "http://127.0.0.1/",
            "http://127.9.9.9:1",
            "http://u:p@[::1]:9/x",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "http://example.com/",
            "http://10.0.0.1/",
            "http://[::2]/",
            "x",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }

    #[test]
    fn server_urls_get_a_lower_case_scheme() {
        assert_eq!(from_server(b"HTTP://H/P?Q"), "http://H/P?Q");
        assert_eq!(from_server(b"Https://h/"), "https://h/");
        assert_eq!(from_server(b"/rel:ative"), "/rel:ative");
        assert_eq!(from_server(b"page?x=HTTP:"), "page?x=HTTP:");
    }

    #[test]
    fn setting_a_parameter_replaces_the_urls_own() {
        assert_eq!(
            set_query_param("http://h/p", "page", "2"),
            "http://h/p?page=2"
        );
        assert_eq!(
            set_query_param("http://h/p?page=1&limit=5", "page", "2"),
            "http://h/p?page=2&limit=5"
        );
        assert_eq!(
            set_query_param("http://h/p?a=1&page=1&page=9", "page", "3"),
            "http://h/p?a=1&page=3"
        );
        assert_eq!(
            set_query_param("http://h/p?a=1#frag", "cursor", "x y/z"),
            "http://h/p?a=1&cursor=x%20y%2Fz#frag"
        );
    }
}
