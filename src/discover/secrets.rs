//! Headers and query parameters given on the command line, kept apart
//! into what is sent and what is printed (SPEC §14).
//!
//! A value given as `env:NAME` is sent as the variable's value and
//! printed as `env:NAME`, as a config writes it. A literal value of a
//! sensitive name (`Authorization`, `Cookie`, anything with token, key,
//! secret or password: the redactor's own rule) is sent as given but
//! printed as an `env:` reference to a variable named after the source
//! and the header, and the user is told to export it; the value itself is
//! never printed, logged or shown. A sensitive query parameter written in
//! the URL itself is moved out of it the same way.

use serde_json::{Map, Value};

use crate::redact::is_secret_name;
use crate::url;

/// One header or query parameter.
#[derive(Debug, Clone)]
pub struct Entry {
    name: String,
    /// What the probe's config holds (a literal, or `env:NAME`).
    sent: String,
    /// What the printed config holds.
    printed: String,
}

/// The command line's headers and query, read.
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// The URL, without sensitive query parameters.
    pub url: String,
    /// `--header`s.
    pub headers: Vec<Entry>,
    /// `--query`s, and the sensitive parameters of the URL.
    pub query: Vec<Entry>,
    /// What to tell the user (never a value).
    pub notes: Vec<String>,
}

impl Given {
    /// Reads the command line of a source called `source`.
    pub fn read(
        source: &str,
        given_url: &str,
        headers: &[(String, String)],
        query: &[(String, String)],
    ) -> Given {
        let mut given = Given::default();
        let (url, in_url) = without_secret_params(given_url);
        given.url = url;
        for (name, value) in headers {
            let entry = given.entry(source, "header", name, value);
            given.headers.push(entry);
        }
        for (name, value) in in_url.iter().chain(query) {
            let entry = given.entry(source, "query parameter", name, value);
            given.query.retain(|q| q.name != entry.name);
            given.query.push(entry);
        }
        given
    }

    fn entry(&mut self, source: &str, what: &str, name: &str, value: &str) -> Entry {
        let literal_secret = !value.starts_with("env:") && is_secret_name(name);
        let printed = match literal_secret {
            true => {
                let var = variable(source, name);
                self.notes.push(format!(
                    "secret: the {what} {name} is written as env:{var}; export {var} with the value \
                     you gave (not shown here) before ingest check or run"
                ));
                format!("env:{var}")
            }
            false => value.to_string(),
        };
        Entry {
            name: name.to_string(),
            sent: value.to_string(),
            printed,
        }
    }

    /// The headers as the probe sends them.
    pub fn probe_headers(&self) -> Value {
        object(&self.headers, |e| &e.sent)
    }

    /// The headers as printed.
    pub fn printed_headers(&self) -> Value {
        object(&self.headers, |e| &e.printed)
    }

    /// The query as the probe sends it.
    pub fn probe_query(&self) -> Value {
        object(&self.query, |e| &e.sent)
    }

    /// The query as printed.
    pub fn printed_query(&self) -> Value {
        object(&self.query, |e| &e.printed)
    }
}

fn object(entries: &[Entry], value: impl Fn(&Entry) -> &String) -> Value {
    let map: Map<String, Value> = entries
        .iter()
        .map(|e| (e.name.clone(), Value::String(value(e).clone())))
        .collect();
    Value::Object(map)
}

/// The variable a secret `name` of `source` is suggested to live in:
/// `SOURCE_NAME`, upper case, other characters as `_`.
fn variable(source: &str, name: &str) -> String {
    format!("{source}_{name}")
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_uppercase(),
            false => '_',
        })
        .collect()
}

/// `url` without its query parameters of sensitive names, and those
/// parameters (decoded).
fn without_secret_params(given: &str) -> (String, Vec<(String, String)>) {
    let (base, query, fragment) = url::pieces(given);
    let Some(query) = query else {
        return (given.to_string(), Vec::new());
    };
    let mut kept = Vec::new();
    let mut moved = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = url::percent_decode(name);
        match is_secret_name(&name) {
            true => moved.push((name, url::percent_decode(value))),
            false => kept.push(pair),
        }
    }
    if moved.is_empty() {
        return (given.to_string(), moved);
    }
    let query = match kept.is_empty() {
        true => String::new(),
        false => format!("?{}", kept.join("&")),
    };
    (format!("{base}{query}{fragment}"), moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(n: &str, v: &str) -> (String, String) {
        (n.to_string(), v.to_string())
    }

    #[test]
    fn literal_secrets_are_printed_as_env_references() {
        let headers = [
            pair("Authorization", "Bearer s3cr3t"),
            pair("Accept", "application/json"),
            pair("X-Api-Key", "env:MY_KEY"),
        ];
        let given = Given::read(
            "charges",
            "http://h/v1/charges?api_key=k3y&x=1",
            &headers,
            &[],
        );
        assert_eq!(given.url, "http://h/v1/charges?x=1");
        let printed = given.printed_headers().to_string() + &given.printed_query().to_string();
        assert!(
            !printed.contains("s3cr3t") && !printed.contains("k3y"),
            "{printed}"
        );
        assert_eq!(
            given.printed_headers()["Authorization"],
            "env:CHARGES_AUTHORIZATION"
        );
        assert_eq!(given.printed_headers()["X-Api-Key"], "env:MY_KEY");
        assert_eq!(given.printed_headers()["Accept"], "application/json");
        assert_eq!(given.printed_query()["api_key"], "env:CHARGES_API_KEY");
        assert_eq!(given.probe_headers()["Authorization"], "Bearer s3cr3t");
        assert_eq!(given.notes.len(), 2);
        assert!(given
            .notes
            .iter()
            .all(|n| !n.contains("s3cr3t") && !n.contains("k3y")));
    }
}
