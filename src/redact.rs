//! Keeping secrets out of everything ingest shows: logs, the summary,
//! error messages.
//!
//! A [`Redactor`] is a value built once from the validated config
//! ([`crate::config::Config::redactor`]) and handed to whoever shows a URL:
//! the fetchers, their HTTP client, the summary. It hides what SPEC §3 calls
//! secrets — values of query parameters with a secret name, URL passwords —
//! and also the config's secret values wherever they turn up, because a
//! server may echo a token back inside a next link under a harmless name
//! (`?sig=…`). There is no global registry: what a redactor hides depends
//! only on the config it was built from.

use std::sync::{Arc, RwLock};

use crate::url::{authority_span, encode_component, percent_decode, percent_encode, pieces};

/// Shortest secret value looked for inside URLs: shorter ones would hide
/// innocent text far more often than they would catch an echoed secret.
const MIN_ECHOED_SECRET: usize = 6;

/// Hides secrets in URLs; see the module docs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Redactor {
    /// Secret values to hide wherever they appear, longest first (a
    /// secret inside a longer one must not leave the longer one's rest
    /// showing), each at least [`MIN_ECHOED_SECRET`] bytes.
    secrets: Vec<String>,
    /// Query parameters whose values are secret although their names do
    /// not say so (a source's `query` with an `env:` value): their values
    /// are hidden in every URL, however short.
    secret_params: Vec<String>,
    /// Secrets learned during the run (OAuth2 tokens), shared by every
    /// clone: a token fetched by one source is hidden wherever any shows
    /// it.
    learned: Learned,
}

/// The secrets a run learns; see [`Redactor::learn`].
#[derive(Clone, Default)]
struct Learned(Arc<RwLock<Vec<String>>>);

impl Learned {
    fn get(&self) -> Vec<String> {
        self.0.read().map(|l| l.clone()).unwrap_or_default()
    }
}

impl PartialEq for Learned {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for Learned {}

impl Redactor {
    /// A redactor for these secret header values, secret query
    /// parameters (name, value) and source URLs: it hides each header
    /// value and its last word (the token of `Bearer abc…`), the values of
    /// the parameters by name and wherever else they appear, and the
    /// secret query values and passwords of the URLs.
    pub fn new<'a>(
        secret_headers: impl IntoIterator<Item = &'a str>,
        secret_params: impl IntoIterator<Item = (&'a str, &'a str)>,
        urls: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let mut found: Vec<String> = Vec::new();
        for value in secret_headers {
            let value = value.trim();
            found.push(value.to_string());
            found.extend(value.rsplit(char::is_whitespace).next().map(str::to_string));
        }
        let mut names: Vec<String> = Vec::new();
        for (name, value) in secret_params {
            found.push(value.to_string());
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
        for url in urls {
            let (base, query, _) = pieces(url);
            let pairs = query.into_iter().flat_map(|q| q.split('&'));
            found.extend(
                pairs
                    .filter_map(secret_pair)
                    .map(|(_, v)| percent_decode(v)),
            );
            found.extend(url_password(base));
        }
        let mut secrets: Vec<String> = Vec::new();
        for secret in found {
            if secret.len() >= MIN_ECHOED_SECRET && !secrets.contains(&secret) {
                secrets.push(secret);
            }
        }
        secrets.sort_by_key(|k| std::cmp::Reverse(k.len()));
        Self {
            secrets,
            secret_params: names,
            learned: Learned::default(),
        }
    }

    /// Hides `secret` from now on, here and in every clone of this
    /// redactor: a value the run fetched (an OAuth2 access or refresh
    /// token), which no config holds.
    pub fn learn(&self, secret: &str) {
        if secret.len() < MIN_ECHOED_SECRET {
            return;
        }
        let Ok(mut learned) = self.learned.0.write() else {
            return;
        };
        if !learned.iter().any(|s| s == secret) {
            learned.push(secret.to_string());
            learned.sort_by_key(|k| std::cmp::Reverse(k.len()));
        }
    }

    /// Every secret value to hide: the config's, then the learned ones.
    fn values(&self) -> Vec<String> {
        let mut all = self.secrets.clone();
        all.extend(self.learned.get());
        all
    }

    /// `url` with the values of secret query parameters replaced by `***`:
    /// those with a secret name, and those this redactor was given.
    ///
    /// Names are compared after percent-decoding (`api%5Fkey` is
    /// `api_key`). A password in the URL's userinfo (`user:pw@host`) is a
    /// secret too, and so is any of this redactor's secret values found
    /// anywhere in the URL, as it is or percent-encoded; encoded some other
    /// way, everything after the host is hidden. Everything else is kept
    /// byte for byte; empty values stay empty; the fragment is left alone
    /// (it is never sent).
    pub fn redact_url(&self, url: &str) -> String {
        let (base, query, fragment) = pieces(url);
        let mut out = redact_userinfo(base);
        if let Some(query) = query {
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match self.secret_pair(pair) {
                    Some((name, _)) => format!("{name}=***"),
                    None => pair.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        out.push_str(fragment);
        let secrets = self.values();
        for secret in &secrets {
            for form in [secret.clone(), encode_component(secret)] {
                if out.contains(&form) {
                    out = out.replace(&form, "***");
                }
            }
        }
        let decoded = percent_decode(&out);
        if secrets.iter().any(|s| decoded.contains(s.as_str())) {
            out = hide_after_authority(&out);
        }
        out
    }

    /// A query pair whose value is secret: by its name, or because it is
    /// one of this redactor's secret parameters.
    fn secret_pair<'p>(&self, pair: &'p str) -> Option<(&'p str, &'p str)> {
        secret_pair(pair).or_else(|| {
            pair.split_once('=').filter(|(name, value)| {
                !value.is_empty() && self.secret_params.contains(&percent_decode(name))
            })
        })
    }

    /// `text` (a server's error body, say) with this redactor's secret
    /// values replaced by `***` wherever they appear, and control
    /// characters escaped, so that it fits on one line.
    pub fn redact_text(&self, text: &str) -> String {
        let mut out = text.to_string();
        // As it is, and as a server echoes what it received in a query or
        // a form (percent-encoded, `+` for a space).
        for secret in &self.values() {
            let encoded = encode_component(secret);
            for form in [secret.clone(), encoded.replace("%20", "+"), encoded] {
                if out.contains(&form) {
                    out = out.replace(&form, "***");
                }
            }
        }
        out.chars()
            .flat_map(|c| match c.is_control() {
                true => c.escape_default().collect::<Vec<_>>(),
                false => vec![c],
            })
            .collect()
    }

    /// Whether `text` holds one of this redactor's secret values: as it
    /// is, percent-encoded, or once `text` is percent-decoded. What is
    /// saved for a later run (a state file's position) is checked with
    /// it: hiding is not enough there, the value must not be written.
    pub fn holds_secret(&self, text: &str) -> bool {
        let decoded = percent_decode(text);
        self.values().iter().any(|secret| {
            text.contains(secret.as_str())
                || text.contains(&encode_component(secret))
                || decoded.contains(secret.as_str())
        })
    }

    /// [`redact_url`](Self::redact_url), then whitespace, control
    /// characters and `"` percent-encoded: how a URL is shown in logs and
    /// in the summary, as one inert token that cannot start a new log line
    /// or add a `key=value` field, whatever a server made up.
    pub fn shown_url(&self, url: &str) -> String {
        percent_encode(&self.redact_url(url), |c| {
            c.is_whitespace() || c.is_control() || c == '"'
        })
    }
}

/// Counts, never the secrets: whatever holds a redactor (a state plan)
/// may be debug-printed.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .field("learned", &self.learned.get().len())
            .field("secret_params", &self.secret_params)
            .finish()
    }
}

/// Whether a header or query-parameter name marks its value as a secret:
/// `Authorization`, `Proxy-Authorization`, `Cookie`, or any name containing
/// `token`, `key`, `secret` or `password`, in any case.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    if is_paging_name(&name) {
        return false;
    }
    matches!(
        name.as_str(),
        "authorization" | "proxy-authorization" | "cookie"
    ) || ["token", "key", "secret", "password"]
        .iter()
        .any(|word| name.contains(word))
}

/// Whether a lower-cased name says "a position in a list", whatever
/// secret-sounding word it has: OData's `$skiptoken`, Google's
/// `pageToken`, `next_token`, `continuationToken`, DynamoDB's
/// `ExclusiveStartKey`. Hidden, a position shows every page as the same
/// URL, and a saved one could not be resumed from.
fn is_paging_name(name: &str) -> bool {
    let squeezed: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    [
        "skiptoken",
        "pagetoken",
        "nexttoken",
        "continuationtoken",
        "synctoken",
        "deltatoken",
        "cursortoken",
        "startkey",
        "pagekey",
        "nextkey",
        "lastkey",
        "resumetoken",
    ]
    .iter()
    .any(|paging| squeezed.contains(paging))
}

/// The password of `scheme://user:password@host…`, if any.
fn url_password(url: &str) -> Option<String> {
    let userinfo = url[authority_span(url)?].rsplit_once('@')?.0;
    Some(percent_decode(userinfo.split_once(':')?.1))
}

/// A query `name=value` pair whose name says it is a secret, with a value
/// to hide.
fn secret_pair(pair: &str) -> Option<(&str, &str)> {
    pair.split_once('=')
        .filter(|(name, value)| !value.is_empty() && is_secret_name(&percent_decode(name)))
}

/// `scheme://authority/***`: what is left to show of a URL that carries a
/// secret in a form that cannot be cut out precisely.
fn hide_after_authority(url: &str) -> String {
    let end = authority_span(url).map_or(0, |span| span.end);
    format!("{}/***", redact_userinfo(&url[..end]))
}

/// `scheme://user:***@host…` for a URL (without query) that has a password.
fn redact_userinfo(base: &str) -> String {
    let Some(span) = authority_span(base) else {
        return base.to_string();
    };
    let authority = &base[span.clone()];
    match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _password)) => format!(
                "{}{user}:***{}",
                &base[..span.start],
                &base[span.start + at..]
            ),
            None => base.to_string(),
        },
        None => base.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names() {
        for name in [
            "Authorization",
            "PROXY-AUTHORIZATION",
            "cookie",
            "X-Api-Key",
            "access_token",
            "Client-Secret",
            "db_PASSWORD",
            "apikey",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
        for name in [
            "Accept",
            "User-Agent",
            "page",
            "cursor",
            "Set-Cookie2x",
            "auth",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
    }

    #[test]
    fn urls_are_redacted_byte_for_byte_elsewhere() {
        let cases = [
            ("http://x/p", "http://x/p"),
            ("http://x/p?page=2", "http://x/p?page=2"),
            (
                "http://x/p?api_key=abc&page=2",
                "http://x/p?api_key=***&page=2",
            ),
            ("http://x/p?page=2&Token=abc", "http://x/p?page=2&Token=***"),
            ("http://x/p?api%5Fkey=abc", "http://x/p?api%5Fkey=***"),
            ("http://x/p?token=&a=1", "http://x/p?token=&a=1"),
            ("http://x/p?token", "http://x/p?token"),
            ("http://x/p?secret=a=b#frag", "http://x/p?secret=***#frag"),
            ("http://x/p#?token=a", "http://x/p#?token=a"),
            ("http://x/p?&&a=1&", "http://x/p?&&a=1&"),
            ("http://u:pw@x/p?q=1", "http://u:***@x/p?q=1"),
            ("http://u@x/p", "http://u@x/p"),
            ("not a url?key=1", "not a url?key=***"),
        ];
        let redactor = Redactor::default();
        for (url, want) in cases {
            assert_eq!(redactor.redact_url(url), want, "redact_url({url:?})");
        }
    }

    #[test]
    fn shown_urls_are_one_inert_token() {
        // Made-up URLs cannot start a log line or add a field.
        let cases = [
            (
                "http://x/p?a=1 status=complete\n[INFO] \"q\"&token=t",
                "http://x/p?a=1%20status=complete%0A[INFO]%20%22q%22&token=***",
            ),
            ("http://x/é", "http://x/é"),
            ("http://x/p?page=2", "http://x/p?page=2"),
        ];
        let redactor = Redactor::default();
        for (url, want) in cases {
            assert_eq!(redactor.shown_url(url), want, "shown_url({url:?})");
        }
    }

    #[test]
    fn secret_values_are_hidden_wherever_a_server_echoes_them() {
        let redactor = Redactor::new(["Bearer echo-me-9f2"], [], []);
        assert_eq!(
            redactor.redact_url("http://x/p2?sig=echo-me-9f2&page=2"),
            "http://x/p2?sig=***&page=2"
        );
        assert_eq!(
            redactor.redact_url("http://x/p2?auth=Bearer%20echo-me-9f2"),
            "http://x/p2?auth=***"
        );
        // Encoded another way (lower-case hex, `+` for a space): the rest
        // of the URL after the host is hidden.
        assert_eq!(
            redactor.redact_url("http://h:1/p?auth=Bearer+echo%2dme%2d9f2&page=2"),
            "http://h:1/***"
        );
        let redactor = Redactor::new(
            [],
            [],
            ["http://u:pass-w0rd-7@x/a?api_key=query-s3cret&page=1"],
        );
        assert_eq!(
            redactor.redact_url("http://x/b?next=query-s3cret&p=pass-w0rd-7&page=2"),
            "http://x/b?next=***&p=***&page=2"
        );
        // A secret inside a longer one hides the whole longer one.
        let redactor = Redactor::new(
            [],
            [],
            [
                "http://x/a?token=inner-9a8b",
                "http://x/a?token=inner-9a8b-and-more",
            ],
        );
        assert_eq!(
            redactor.redact_url("http://x/b?n=inner-9a8b-and-more"),
            "http://x/b?n=***"
        );
    }

    #[test]
    fn secret_query_parameters_are_hidden_by_name_and_by_value() {
        // An `env:` query value under a harmless name, short or long.
        let redactor = Redactor::new([], [("sig", "k3y"), ("app", "app-s3cret-77")], []);
        let cases = [
            ("http://x/p?sig=k3y&page=2", "http://x/p?sig=***&page=2"),
            ("http://x/p?page=2&sig=other", "http://x/p?page=2&sig=***"),
            ("http://x/p?s%69g=k3y", "http://x/p?s%69g=***"),
            ("http://x/p?sig=", "http://x/p?sig="),
            ("http://x/p?app=app-s3cret-77", "http://x/p?app=***"),
            // An echo of the long one under another name; the short one is
            // too short to look for outside its own parameter.
            ("http://x/p?next=app-s3cret-77", "http://x/p?next=***"),
            ("http://x/p?next=k3y", "http://x/p?next=k3y"),
            ("http://x/k3y?q=1", "http://x/k3y?q=1"),
        ];
        for (url, want) in cases {
            assert_eq!(redactor.redact_url(url), want, "redact_url({url:?})");
        }
    }

    #[test]
    fn secrets_are_found_in_any_of_their_forms() {
        let redactor = Redactor::new(["Bearer tok/en+9f2"], [], []);
        for text in [
            "tok/en+9f2",
            "/p/tok%2Fen%2B9f2/q",
            "c=tok%2fen%2b9f2",
            "Bearer tok/en+9f2",
        ] {
            assert!(redactor.holds_secret(text), "{text}");
        }
        for text in ["tok/en", "page=2", ""] {
            assert!(!redactor.holds_secret(text), "{text}");
        }
        assert!(!Redactor::default().holds_secret("tok/en+9f2"));
    }

    #[test]
    fn redactors_share_no_state() {
        let first = Redactor::new(["token-one-123"], [], []);
        let second = Redactor::new(["token-two-456"], [], []);
        assert_eq!(
            first.redact_url("http://x/?a=token-two-456"),
            "http://x/?a=token-two-456"
        );
        assert_eq!(
            second.redact_url("http://x/?a=token-two-456"),
            "http://x/?a=***"
        );
        assert_eq!(
            Redactor::default().redact_url("http://x/?a=token-one-123"),
            "http://x/?a=token-one-123"
        );
    }

    #[test]
    fn a_learned_secret_is_hidden_by_every_clone_from_then_on() {
        let r = Redactor::new(["Bearer config-token"], [], []);
        let shared = r.clone();
        let echo = "http://h/next?sig=fetched-t0ken-1&x=1";
        assert_eq!(r.redact_url(echo), echo, "not known yet");
        shared.learn("fetched-t0ken-1");
        shared.learn("short");
        assert_eq!(r.redact_url(echo), "http://h/next?sig=***&x=1");
        assert_eq!(
            r.redact_text("401: fetched-t0ken-1 expired"),
            "401: *** expired"
        );
        assert!(r.holds_secret("cursor-fetched-t0ken-1"));
        assert!(!r.holds_secret("short"), "too short to look for");
    }

    #[test]
    fn paging_positions_are_no_secrets_whatever_their_names_say() {
        for name in [
            "$skiptoken",
            "pageToken",
            "page_token",
            "next_token",
            "nextPageToken",
            "continuationToken",
            "ExclusiveStartKey",
            "sync_token",
        ] {
            assert!(!is_secret_name(name), "{name}");
        }
        for name in [
            "token",
            "api_key",
            "access_token",
            "X-Api-Key",
            "client_secret",
            "password",
        ] {
            assert!(is_secret_name(name), "{name}");
        }
    }
}
