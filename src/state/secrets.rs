//! No secrets in a saved position (SPEC §9), and credentials only for
//! their origin when a run resumes (SPEC §11).
//!
//! A position is saved as the fetcher would go on: a next link may hold
//! a `user:password@` (a server's link, or an older state), its API key
//! (servers echo it) or a header's token under a harmless name. Before it
//! is written — to the state file or in a Singer STATE, which are built
//! from the same entries — the userinfo, the query parameters that are
//! secret by name or by the config (`env:` values), and every pair that
//! holds a value the [`Redactor`] knows are left out; a position that
//! still holds a secret somewhere else (a path, a cursor) is not saved at
//! all. When a run resumes, the config's credentials are put back — but
//! only on the source's own origin (scheme, host, port): a saved URL on
//! another host gets none (the HTTP client withholds secret headers
//! there on its own).

use crate::config::{Auth, SourceConfig};
use crate::redact::{is_secret_name, Redactor};
use crate::url::{origin, percent_decode, pieces, set_query_param, userinfo, with_userinfo};

use super::Position;

/// What may be saved of `position`, a position of `source`: without the
/// URL's password and secret query parameters; `None` when a secret is
/// left in a part that cannot be taken out (the next run then starts the
/// source from the beginning).
pub fn strip(position: Position, source: &SourceConfig, redactor: &Redactor) -> Option<Position> {
    let kept = match position {
        Position::Url(url) => Position::Url(strip_url(&url, source, redactor)),
        other => other,
    };
    let secret = match &kept {
        Position::Url(text) | Position::Cursor(text) => redactor.holds_secret(text),
        Position::Page(_) | Position::Offset(_) => false,
    };
    (!secret).then_some(kept)
}

/// `url` without its userinfo (a source's `user:password@` is its Basic
/// auth, sent as a header to its origin: SPEC §11) and without its
/// secret query pairs.
fn strip_url(url: &str, source: &SourceConfig, redactor: &Redactor) -> String {
    let url = match userinfo(url) {
        Some(_) => with_userinfo(url, None),
        None => url.to_string(),
    };
    let (base, query, fragment) = pieces(&url);
    let kept: Vec<&str> = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|pair| !is_secret_pair(pair, source) && !redactor.holds_secret(pair))
        .collect();
    let mut out = base.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out.push_str(fragment);
    out
}

/// A query pair whose value the config makes secret: by its name, an
/// `env:` value of the source's `query`, or its `auth`'s API key.
fn is_secret_pair(pair: &str, source: &SourceConfig) -> bool {
    let name = percent_decode(pair.split('=').next().unwrap_or_default());
    let api_key = matches!(&source.auth, Some(Auth::ApiKey { name: key, in_query: true, .. }) if *key == name);
    api_key || is_secret_name(&name) || source.query.iter().any(|q| q.secret && q.name == name)
}

/// A saved position of `source` with the config's credentials put back
/// — the secret query parameters of its `url` (its `user:password` is
/// sent as a header, by the client, to its origin only) — when it is on
/// the source's origin; on any other origin, as saved.
pub fn restore(position: Position, source: &SourceConfig) -> Position {
    let Position::Url(mut url) = position else {
        return position;
    };
    if origin(&url) != origin(&source.url) {
        return Position::Url(url);
    }
    let (_, query, _) = pieces(&source.url);
    let pairs = query.into_iter().flat_map(|q| q.split('&'));
    for (name, value) in pairs.filter_map(|p| p.split_once('=')) {
        if is_secret_pair(name, source) {
            url = set_query_param(&url, &percent_decode(name), &percent_decode(value));
        }
    }
    Position::Url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Source `s` at `url` with `query` and a secret header, and the
    /// redactor of its config.
    fn source(url: &str, query: &str) -> (SourceConfig, Redactor) {
        let doc = serde_json::json!({ "sources": [{
            "name": "s", "url": url, "pagination": {"style": "next_url"},
            "query": serde_json::from_str::<serde_json::Value>(query).unwrap(),
            "headers": { "Authorization": "Bearer header-t0ken" } }] });
        let config = crate::config::Config::parse("t", &doc.to_string()).unwrap();
        (config.sources[0].clone(), config.redactor())
    }

    #[test]
    fn saved_urls_keep_no_secret_and_get_the_configs_back_on_their_origin() {
        std::env::set_var("INGEST_STATE_SECRETS_SIG", "s1g");
        let (s, r) = source(
            "http://me:pw-s3cret@h:1/a?api_key=k3y-s3cret",
            r#"{"sig": "env:INGEST_STATE_SECRETS_SIG", "lang": "en"}"#,
        );
        let next =
            "http://me:pw-s3cret@h:1/a?page=2&api_key=k3y-s3cret&sig=s1g&echo=header-t0ken&lang=en";
        let saved = strip(Position::Url(next.into()), &s, &r).unwrap();
        assert_eq!(saved, Position::Url("http://h:1/a?page=2&lang=en".into()));
        // The password is the source's Basic auth, sent as a header.
        assert!(matches!(s.auth, Some(Auth::Basic { .. })));
        assert_eq!(
            restore(saved, &s),
            Position::Url("http://h:1/a?page=2&lang=en&api_key=k3y-s3cret&sig=s1g".into())
        );
        // Another origin (port, host, scheme): nothing put back.
        for other in [
            "http://h:2/a?page=2",
            "http://g:1/a?page=2",
            "https://h:1/a?page=2",
        ] {
            let saved = strip(Position::Url(other.into()), &s, &r).unwrap();
            assert_eq!(restore(saved, &s), Position::Url(other.into()), "{other}");
        }
        assert_eq!(strip(Position::Page(3), &s, &r), Some(Position::Page(3)));
    }

    #[test]
    fn a_position_that_keeps_a_secret_elsewhere_is_not_saved() {
        let (s, r) = source("http://h/a?token=k3y-s3cret", "{}");
        for position in [
            Position::Url("http://h/k3y-s3cret/p?page=2".into()),
            Position::Cursor("after:header-t0ken".into()),
            Position::Cursor("after%3Ak3y-s3cret".into()),
        ] {
            assert_eq!(strip(position.clone(), &s, &r), None, "{position:?}");
        }
        let cursor = Position::Cursor("c2".into());
        assert_eq!(strip(cursor.clone(), &s, &r), Some(cursor));
    }
}
