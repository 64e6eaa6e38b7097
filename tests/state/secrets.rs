//! No secrets in state (SPEC §9): a saved position never holds a URL
//! password, a secret query value or any value the config made secret —
//! not in the state file, not in a Singer STATE — and the resumed run
//! gets them back from the config, but only on the source's own origin.
//! A server that echoes the key in its next link, and a URL with
//! `user:password@`, are what put them there before.

use std::path::Path;

use serde_json::{json, Value};

use super::{read_state, state_dir, with_policies};
use crate::cli::{run_command, stderr};
use crate::support::scripted::{Answer, Scripted};
use crate::support::{assert_identity, run_with_state, OutDir};

/// The API key, in the source's URL under a secret name.
const KEY: &str = "k3y-in-the-url-81";
/// The URL's password.
const PASSWORD: &str = "pa55-w0rd-in-url";
/// A secret header's value, echoed by the server under a harmless name.
const TOKEN: &str = "t0ken-from-header-42";

/// Pages of each source.
const PAGES: u64 = 3;

/// Page `page` of a `next_url` source: one item, and a next link made by
/// `next` (none after the last page).
fn page(page: u64, next: impl Fn(u64) -> String) -> Answer {
    let next = (page < PAGES).then(|| next(page + 1));
    let body = json!({ "data": [{ "id": page, "price": 1 }], "next": next });
    (200, Vec::new(), body.to_string())
}

/// The page number a request asks for.
fn asked(target: &str) -> u64 {
    target
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("page="))
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
}

/// A `next_url` source `s` at `url` with a secret header, and `policies`.
fn config(url: &str, policies: Value) -> Value {
    let doc = json!({ "sources": [{
        "name": "s", "url": url,
        "pagination": { "style": "next_url" },
        "headers": { "X-Api-Key": TOKEN }
    }] });
    with_policies(doc, policies)
}

/// `text` holds none of the secrets.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [KEY, PASSWORD, TOKEN] {
        assert!(!text.contains(secret), "{what} holds {secret}: {text}");
    }
}

/// Basic credentials as the source's URL's `user:password@` means them
/// (an independent encoder: the test's own oracle).
fn basic(user: &str, password: &str) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out.extend(std::iter::repeat_n('=', (3 - bytes.len() % 3) % 3));
    format!("Basic {out}")
}

/// The Singer STATE messages of `ingest run --format singer --state
/// state --state-write` on `config`.
fn singer_states(config: &Value, state: &Path) -> Vec<Value> {
    let dir = OutDir::new();
    let o = run_command(&dir.0, config)
        .args(["--format", "singer", "--state", state.to_str().unwrap()])
        .arg("--state-write")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3), "cut by max_pages: {}", stderr(&o));
    assert_identity(&crate::cli::summary_in(&dir.0.join("out")));
    let text = String::from_utf8(o.stdout).unwrap();
    let states: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|m| m["type"] == "STATE")
        .collect();
    assert!(!states.is_empty(), "{text}");
    states
}

/// The server echoes the key and the header's token in every next link:
/// a run cut
/// after one page saves the next page's URL without any of them, in the
/// state file and in Singer STATE; the resumed run sends the key and the
/// password again (the echo under a harmless name is not the config's to
/// put back), with the secret header.
#[test]
fn a_cut_run_saves_no_secret_and_the_resumed_run_gets_them_back() {
    let server = Scripted::start(|target| {
        page(asked(target), |n| {
            format!("/items?page={n}&api_key={KEY}&sig={TOKEN}")
        })
    });
    let host = server.base().trim_start_matches("http://").to_string();
    let url = format!("http://user:{PASSWORD}@{host}/items?page=1&api_key={KEY}");
    let (_dir, state) = state_dir();
    let cut = config(&url, json!({ "max_pages": 1 }));
    let first = run_with_state(&super::parse(cut.clone(), json!({})), &state, |_| {});
    assert_eq!(first.source("s")["status"], "max_pages");
    let text = std::fs::read_to_string(&state).unwrap();
    assert_no_secret("the state file", &text);
    assert_eq!(
        read_state(&state)["sources"]["s"]["resume"],
        json!({ "url": format!("http://{host}/items?page=2") }),
        "no userinfo: the URL's user:password is the source's Basic auth"
    );
    assert_no_secret("the summary", &first.summary.to_string());

    let (_singer_dir, singer_state) = state_dir();
    for message in singer_states(&cut, &singer_state) {
        assert_no_secret("a Singer STATE", &message.to_string());
    }
    assert_no_secret(
        "the Singer run's state file",
        &std::fs::read_to_string(&singer_state).unwrap(),
    );

    let before = server.requests().len();
    let whole = super::parse(config(&url, json!({})), json!({}));
    let second = run_with_state(&whole, &state, |_| {});
    assert_eq!(second.source("s")["status"], "complete");
    assert_eq!(second.keys(), ["s:2", "s:3"].map(String::from).into());
    let resumed = &server.requests()[before];
    assert_eq!(asked(&resumed.target), 2, "{resumed:?}");
    assert_eq!(
        resumed.query("api_key").as_deref(),
        Some(KEY),
        "{resumed:?}"
    );
    assert_eq!(resumed.query("sig"), None, "{resumed:?}");
    let headers = &resumed.headers;
    assert_eq!(
        headers.get("authorization"),
        Some(&basic("user", PASSWORD)),
        "{headers:?}"
    );
    assert_eq!(headers.get("x-api-key").map(String::as_str), Some(TOKEN));
    assert_no_secret(
        "the resumed state file",
        &std::fs::read_to_string(&state).unwrap(),
    );
}

/// The first server's next link points at a second server (another
/// origin) and carries the key: the run cut there saves that URL without
/// it, and the resumed run, which starts on the other origin, sends it
/// no credentials at all — no key in the query, no secret header, no
/// password.
#[test]
fn a_resumed_url_on_another_origin_gets_no_credentials() {
    let other = Scripted::start(|target| page(asked(target), |n| format!("/elsewhere?page={n}")));
    let other_base = other.base().to_string();
    let home = Scripted::start(move |target| {
        page(asked(target), |n| {
            format!("{other_base}/elsewhere?page={n}&api_key={KEY}")
        })
    });
    let host = home.base().trim_start_matches("http://").to_string();
    let url = format!("http://user:{PASSWORD}@{host}/hop?api_key={KEY}");
    let (_dir, state) = state_dir();
    let cut = super::parse(config(&url, json!({ "max_pages": 1 })), json!({}));
    run_with_state(&cut, &state, |_| {});
    let text = std::fs::read_to_string(&state).unwrap();
    assert_no_secret("the state file", &text);
    assert_eq!(
        read_state(&state)["sources"]["s"]["resume"],
        json!({ "url": format!("{}/elsewhere?page=2", other.base()) })
    );
    let home_before = home.requests().len();
    let whole = super::parse(config(&url, json!({})), json!({}));
    let second = run_with_state(&whole, &state, |_| {});
    assert_eq!(second.source("s")["status"], "complete");
    assert_eq!(
        home.requests().len(),
        home_before,
        "resumed on the other origin"
    );
    let seen = other.requests();
    assert_eq!(seen.len(), 2, "pages 2 and 3: {seen:?}");
    for request in seen {
        assert_eq!(request.query("api_key"), None, "{request:?}");
        for header in ["authorization", "x-api-key"] {
            assert!(
                !request.headers.contains_key(header),
                "{header}: {request:?}"
            );
        }
        assert_no_secret("a request to the other origin", &format!("{request:?}"));
    }
}
