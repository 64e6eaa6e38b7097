//! `ingest discover URL` (SPEC §14) against every mock API: the config it
//! prints passes `ingest check` and `ingest run` on it gets every item the
//! mock serves; what it cannot establish exits 3 with a reason; secrets
//! given literally never show; at most 3 requests, a second apart.
//!
//! The tests of the API shapes set `INGEST_DISCOVER_INTERVAL_MS` to 20 so
//! that they do not wait a second between requests; one test keeps the
//! default and measures the pacing at the server.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{json, Value};
use testsupport::{Auth, MockServer, MockSource, OneBody, Scenario, Shape, Style};

use crate::cli::{command, stderr, summary_in};
use crate::support::OutDir;

const PAGES: usize = 3;
const PER_PAGE: usize = 5;

/// `ingest discover URL ARGS…`, one request per `interval_ms` (None: the
/// default second).
fn discover(url: &str, args: &[&str], interval_ms: Option<u64>) -> Output {
    let mut all = vec!["discover", url];
    all.extend_from_slice(args);
    let mut cmd = command(&all);
    if let Some(ms) = interval_ms {
        cmd.env("INGEST_DISCOVER_INTERVAL_MS", ms.to_string());
    }
    cmd.output().expect("run ingest discover")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The shapes of the mocks, each in its API's pagination style.
fn shapes() -> Vec<MockSource> {
    let styles = [
        ("page", Style::Page),
        ("offset", Style::Offset),
        ("cursor", Style::Cursor),
        ("next", Style::NextUrl),
        ("link", Style::LinkHeader),
        ("none", Style::None),
        ("drf", Style::PageCount),
        ("stripe", Style::StartingAfter),
        ("jsonapi", Style::JsonApi),
        ("xpag", Style::XPagination),
        ("xtotal", Style::XTotalCount),
    ];
    let mut sources: Vec<MockSource> = styles
        .iter()
        .map(|(name, style)| MockSource::new(name, *style, PAGES, PER_PAGE))
        .collect();
    // GitHub's issues behind Link headers; a cursor source whose has_more
    // alone ends it.
    sources
        .push(MockSource::new("gh", Style::LinkHeader, PAGES, PER_PAGE).shape(Shape::GithubIssues));
    sources.push(MockSource::new("more", Style::Cursor, PAGES, PER_PAGE).has_more());
    sources
}

/// Writes `config` to `dir/ingest.json` and returns the path.
fn write_config(dir: &Path, config: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("ingest.json");
    std::fs::write(&file, config).unwrap();
    file.to_str().unwrap().to_string()
}

/// Discovers the source `name` of `server`, checks and runs the config,
/// and compares what the run got with the mock's truth. `Err` says what
/// went wrong, with the outputs.
fn discover_check_run(server: &MockServer, source: &MockSource) -> Result<(), String> {
    let url = format!("{}{}", server.base_url(), source.path());
    let found = discover(&url, &[], Some(20));
    let said = format!(
        "{}: stderr:\n{}\nstdout:\n{}",
        source.name,
        stderr(&found),
        stdout(&found)
    );
    if found.status.code() != Some(0) {
        return Err(format!("discover exited {:?}; {said}", found.status.code()));
    }
    let config: Value =
        serde_json::from_str(&stdout(&found)).map_err(|e| format!("{e}; {said}"))?;
    let dir = OutDir::new();
    let file = write_config(&dir.0, &stdout(&found));
    let check = command(&["check", "--config", &file]).output().unwrap();
    if check.status.code() != Some(0) {
        return Err(format!(
            "check exited {:?}: {}{}; {said}",
            check.status.code(),
            stdout(&check),
            stderr(&check)
        ));
    }
    let out = dir.0.join("out");
    let run = run_config(&file, &out);
    if run.status.code() != Some(0) {
        return Err(format!(
            "run exited {:?}: {}; {said}",
            run.status.code(),
            stderr(&run)
        ));
    }
    let name = config["sources"][0]["name"].as_str().unwrap().to_string();
    let summary = summary_in(&out);
    crate::support::assert_identity(&summary);
    let got = &summary["sources"][&name];
    let truth = server.truth();
    let truth = truth.source(&source.name).unwrap();
    let expected = truth.expected_all();
    // Every item reached, once; an item is only refused for lacking a
    // field every sampled item had (`required` is inferred from a sample).
    let items = got["items"].as_u64().unwrap_or(0);
    let records = got["records"].as_u64().unwrap_or(0);
    let reasons = got["invalid_reasons"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let refused: u64 = reasons.values().filter_map(Value::as_u64).sum();
    let only_missing = reasons.iter().all(|(reason, n)| {
        n.as_u64() == Some(0) || reason.starts_with("missing_") && reason != "missing_id"
    });
    if items != expected.items
        || records + refused != items
        || !only_missing
        || got["status"] != "complete"
    {
        return Err(format!(
            "expected {} items, records or items missing a sampled field, complete; got items \
             {items}, records {records}, invalid {reasons:?}, status {}; {said}",
            expected.items, got["status"]
        ));
    }
    let lines = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let keys: BTreeSet<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    if keys.len() as u64 != records {
        return Err(format!(
            "expected {records} distinct keys, got {}; {said}",
            keys.len()
        ));
    }
    // The API shapes: keyed by the id the API gives.
    if !source.shape.is_product() {
        let ids: BTreeSet<String> = (1..=PAGES)
            .flat_map(|p| truth.items(p))
            .map(|item| match &item["id"] {
                Value::String(s) => format!("{name}:{s}"),
                v => format!("{name}:{v}"),
            })
            .collect();
        if !keys.is_subset(&ids) || (refused == 0 && keys != ids) {
            return Err(format!("expected keys {ids:?}\n got {keys:?}; {said}"));
        }
    }
    Ok(())
}

#[test]
fn every_mock_api_gets_a_config_that_checks_and_runs_to_the_end() {
    let sources = shapes();
    let scenario = sources
        .iter()
        .cloned()
        .fold(Scenario::new(23), Scenario::with);
    let server = MockServer::start(scenario).unwrap();
    // In parallel: each discovery waits between its requests.
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = sources
            .iter()
            .map(|source| s.spawn(|| discover_check_run(&server, source)))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap().err())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn what_discover_chose_for_each_api() {
    let sources = shapes();
    let scenario = sources
        .iter()
        .cloned()
        .fold(Scenario::new(5), Scenario::with);
    let server = MockServer::start(scenario).unwrap();
    let expected = [
        ("page", r#"{"style":"page","param":"page","start":1}"#),
        (
            "offset",
            r#"{"style":"offset","offset_param":"offset","start":0,"total_path":"total"}"#,
        ),
        (
            "cursor",
            r#"{"style":"cursor","cursor_path":"meta.next_cursor","param":"cursor"}"#,
        ),
        ("next", r#"{"style":"next_url","next_path":"next"}"#),
        ("link", r#"{"style":"link_header"}"#),
        ("none", r#"{"style":"none"}"#),
        ("drf", r#"{"style":"next_url","next_path":"next"}"#),
        (
            "stripe",
            r#"{"style":"cursor","last_item_path":"id","param":"starting_after","has_more_path":"has_more"}"#,
        ),
        (
            "jsonapi",
            r#"{"style":"next_url","next_path":"links.next"}"#,
        ),
        (
            "xpag",
            r#"{"style":"page","param":"page","start":1,"total_pages_path":"header:X-Pagination.total_pages"}"#,
        ),
        (
            "xtotal",
            r#"{"style":"page","param":"page","start":1,"total_items_path":"header:X-Total-Count"}"#,
        ),
    ];
    let got: Vec<(String, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = expected
            .iter()
            .map(|(name, _)| {
                let source = sources.iter().find(|m| m.name == *name).unwrap();
                let url = format!("{}{}", server.base_url(), source.path());
                s.spawn(move || {
                    let o = discover(&url, &[], Some(20));
                    let config: Value = serde_json::from_str(&stdout(&o)).unwrap_or(Value::Null);
                    (
                        name.to_string(),
                        config["sources"][0]["pagination"].to_string(),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let want: Vec<(String, String)> = expected
        .iter()
        .map(|(n, p)| (n.to_string(), p.to_string()))
        .collect();
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "expected {w:?}\n     got {g:?}");
    }
}

#[test]
fn what_cannot_be_established_exits_3_with_a_reason() {
    let html = OneBody::start(b"<!doctype html><html><body>Log in</body></html>".to_vec()).unwrap();
    let empty = OneBody::start(br#"{"data": [], "total": 0}"#.to_vec()).unwrap();
    let no_array = OneBody::start(br#"{"status": "ok", "version": 3}"#.to_vec()).unwrap();
    let cases = [
        (html.url(), "HTML, not JSON"),
        (empty.url(), "is empty"),
        (no_array.url(), "no item array"),
    ];
    for (url, reason) in cases {
        let o = discover(&url, &[], Some(20));
        assert_eq!(o.status.code(), Some(3), "{url}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(reason),
            "expected {reason:?} in:\n{}",
            stderr(&o)
        );
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    }
}

#[test]
fn a_server_that_ignores_the_page_parameter_exits_3() {
    let source = MockSource::new("p", Style::Page, 3, 5).ignoring_position();
    let server = MockServer::start(Scenario::new(3).with(source.clone())).unwrap();
    let o = discover(
        &format!("{}{}", server.base_url(), source.path()),
        &[],
        Some(20),
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let said = stderr(&o);
    assert!(said.contains("seems to ignore `page`"), "{said}");
    assert!(said.contains("parameter seems to be wrong"), "{said}");
    assert!(server.requests().len() <= 3);
}

#[test]
fn a_secret_given_literally_is_an_env_reference_and_never_shown() {
    const TOKEN: &str = "s3cr3t-fixed-token";
    let source = MockSource::new("t", Style::Page, 2, 5).auth(Auth::Bearer(TOKEN.into()));
    let server = MockServer::start(Scenario::new(4).with(source.clone())).unwrap();
    let url = format!("{}{}", server.base_url(), source.path());
    let header = format!("Authorization: Bearer {TOKEN}");
    let o = discover(
        &url,
        &[
            "--name",
            "shop",
            "--header",
            &header,
            "--query",
            "api_key=k3y-value",
        ],
        Some(20),
    );
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(0), "{err}");
    for text in [&out, &err] {
        assert!(
            !text.contains(TOKEN) && !text.contains("k3y-value"),
            "a secret shows:\n{text}"
        );
    }
    let config: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        config["sources"][0]["headers"]["Authorization"],
        "env:SHOP_AUTHORIZATION"
    );
    assert_eq!(config["sources"][0]["query"]["api_key"], "env:SHOP_API_KEY");
    assert!(err.contains("export SHOP_AUTHORIZATION"), "{err}");
    // With the variables set, the config checks.
    let dir = OutDir::new();
    let file = write_config(&dir.0, &out);
    let check = command(&["check", "--config", &file])
        .env("SHOP_AUTHORIZATION", format!("Bearer {TOKEN}"))
        .env("SHOP_API_KEY", "k3y-value")
        .output()
        .unwrap();
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}{}",
        stdout(&check),
        stderr(&check)
    );
    // An env: reference given on the command line stays one.
    let o = discover(
        &url,
        &["--header", "Authorization: env:SHOP_AUTHORIZATION"],
        Some(20),
    );
    assert_eq!(
        o.status.code(),
        Some(2),
        "a missing variable is a usage error: {}",
        stderr(&o)
    );
}

#[test]
fn at_most_three_requests_a_second_apart() {
    // An offset API: page=2 repeats the first page, offset=5 is the second.
    let source = MockSource::new("o", Style::Offset, 3, 5);
    let server = MockServer::start(Scenario::new(6).with(source.clone())).unwrap();
    let o = discover(
        &format!("{}{}", server.base_url(), source.path()),
        &[],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let requests = server.requests();
    assert!(requests.len() <= 3, "{} requests", requests.len());
    assert_eq!(
        requests.len(),
        3,
        "the first page, page=2 (a repeat), offset=5"
    );
    for pair in requests.windows(2) {
        let gap = pair[1].at.duration_since(pair[0].at);
        assert!(gap >= Duration::from_millis(900), "requests {gap:?} apart");
    }
}

/// A GraphQL API, given its query: discover finds the connection under
/// `data`, checks the cursor on a second page, and writes the `graphql`
/// shorthand; the config checks and runs to every issue.
#[test]
fn a_graphql_query_gets_its_connection_found_and_checked() {
    let source = MockSource::new("issues", Style::Graphql, 3, 5);
    let server = MockServer::start(Scenario::new(9).with(source.clone())).unwrap();
    let url = format!("{}{}", server.base_url(), source.path());
    let query = source.graphql_query();
    let found = discover(&url, &["--graphql", &query], Some(20));
    assert_eq!(found.status.code(), Some(0), "{}", stderr(&found));
    let config: Value = serde_json::from_str(&stdout(&found)).unwrap();
    let graphql = &config["sources"][0]["graphql"];
    assert_eq!(graphql["connection"], "repository.issues", "{config:#}");
    assert!(
        stderr(&found).contains("new items: the pagination holds"),
        "{}",
        stderr(&found)
    );
    let summary = run_found(&found);
    let expected = server
        .truth()
        .source("issues")
        .unwrap()
        .expected_all()
        .items;
    let name = config["sources"][0]["name"].as_str().unwrap();
    assert_eq!(summary["sources"][name]["items"], expected, "{summary:#}");
    assert_eq!(summary["status"], "complete");
    // A query without $after is refused before anything is sent.
    let refused = discover(&url, &["--graphql", "query { viewer { login } }"], Some(20));
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("$after"), "{}", stderr(&refused));
}

/// Bodies from APIs found wild (a black-box attack), each answered by a
/// scripted server of 237 items: `discover` must not take a number that
/// is not the data's size for its total, must key records by a field that
/// tells items apart, and must count a redirect hop as a request.
#[test]
fn totals_ids_and_redirects_of_real_shapes() {
    use crate::support::scripted::Scripted;
    const N: u64 = 237;
    let page_of = |target: &str, param: &str, size: u64, zero: bool| -> Vec<u64> {
        let at: u64 = target
            .split(&format!("{param}="))
            .nth(1)
            .and_then(|v| v.split('&').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(if zero { 0 } else { 1 });
        let from = if param == "from" {
            at
        } else {
            (at - u64::from(!zero)) * size
        };
        (from + 1..=(from + size).min(N)).collect()
    };
    // Elasticsearch: `_shards.total` is 1, `hits.total.value` 237; from/size.
    let es = Scripted::start(move |target| {
        let hits: Vec<Value> = page_of(target, "from", 10, true)
            .iter()
            .map(|i| json!({"_id": format!("d{i}"), "_source": {"n": i}}))
            .collect();
        let body = json!({"took": 3, "_shards": {"total": 1, "successful": 1},
                          "hits": {"total": {"value": N, "relation": "eq"}, "hits": hits}});
        (200, Vec::new(), body.to_string())
    });
    // `count` is this page's items; `total_count` the data's.
    let counted = Scripted::start(move |target| {
        let items: Vec<Value> = page_of(target, "page", 20, false)
            .iter()
            .map(|i| json!({"id": i, "name": format!("n{i}")}))
            .collect();
        let body = json!({"count": items.len(), "total_count": N, "page": 1, "data": items});
        (200, Vec::new(), body.to_string())
    });
    // (Elasticsearch pages with `from`, which discover has no request left
    // to try after `page` and `offset`: it says so and exits 3; the other
    // gets its config.)
    for (server, url, code) in [(&es, "/idx/_search", 3), (&counted, "/things", 0)] {
        let found = discover(&format!("{}{url}", server.base()), &[], Some(20));
        let said = stderr(&found);
        assert_eq!(found.status.code(), Some(code), "{url}: {said}");
        if found.status.code() == Some(0) {
            let summary = run_found(&found);
            assert_eq!(
                summary["totals"]["records"],
                N,
                "{url}: {said}\n{}",
                stdout(&found)
            );
        } else {
            // When it cannot tell, it says so: never a config that ends
            // after one page.
            assert_eq!(found.status.code(), Some(3), "{url}: {said}");
        }
        assert!(!said.contains("items at `_shards.total`"), "{said}");
        assert!(!said.contains("items at `count`"), "{said}");
    }
    // Given its own parameter in the URL, discover pages with it: the
    // Elasticsearch `from`, json-server's `_page` (with `X-Total-Count`).
    let json_server = Scripted::start(move |target| {
        let items: Vec<Value> = page_of(target, "_page", 10, false)
            .iter()
            .map(|i| json!({"id": i}))
            .collect();
        let headers = vec![("X-Total-Count".to_string(), N.to_string())];
        (200, headers, Value::from(items).to_string())
    });
    for url in [
        format!("{}/idx/_search?from=0&size=10", es.base()),
        format!("{}/posts?_page=1&_limit=10", json_server.base()),
    ] {
        let found = discover(&url, &[], Some(20));
        assert_eq!(found.status.code(), Some(0), "{url}: {}", stderr(&found));
        let summary = run_found(&found);
        assert_eq!(summary["totals"]["records"], N, "{url}: {}", stdout(&found));
    }
    // Pages counted from 0: no parameter is page 0, `page=1` the second.
    let zero = Scripted::start(move |target| {
        let items: Vec<Value> = page_of(target, "page", 20, true)
            .iter()
            .map(|i| json!({"id": i}))
            .collect();
        (
            200,
            Vec::new(),
            json!({"items": items, "total": N}).to_string(),
        )
    });
    let found = discover(&format!("{}/z", zero.base()), &[], Some(20));
    let config: Value = serde_json::from_str(&stdout(&found)).unwrap_or(Value::Null);
    assert_eq!(
        config["sources"][0]["pagination"]["start"],
        0,
        "{}",
        stderr(&found)
    );
    // Ids that repeat are no id: another field that tells items apart is.
    let repeating = Scripted::start(|_| {
        let items: Vec<Value> = (1..=20u64)
            .map(|i| json!({"id": i % 7, "sku": format!("s{i}"), "name": "x"}))
            .collect();
        (200, Vec::new(), json!({"results": items}).to_string())
    });
    let found = discover(&format!("{}/x", repeating.base()), &[], Some(20));
    let config: Value = serde_json::from_str(&stdout(&found)).unwrap_or(Value::Null);
    assert_eq!(
        config["sources"][0]["record"]["id"],
        "sku",
        "{}",
        stderr(&found)
    );
    // Nothing tells items apart: no config (it would merge or refuse them).
    let anonymous = Scripted::start(|_| {
        let items: Vec<Value> = (1..=20u64).map(|i| json!({"value": i % 3})).collect();
        (200, Vec::new(), json!({"results": items}).to_string())
    });
    let found = discover(&format!("{}/x", anonymous.base()), &[], Some(20));
    assert_eq!(found.status.code(), Some(3), "{}", stderr(&found));
    // A redirect loop: every hop is one of the three requests.
    let looping = Scripted::start(|target| {
        let n: u32 = target
            .rsplit('=')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        (
            302,
            vec![("Location".into(), format!("/loop?r={}", n + 1))],
            String::new(),
        )
    });
    let found = discover(&format!("{}/loop", looping.base()), &[], Some(20));
    assert_eq!(found.status.code(), Some(3), "{}", stderr(&found));
    assert!(
        looping.requests().len() <= 3,
        "{} requests",
        looping.requests().len()
    );
}

/// `ingest run` on the config `found` printed (at a test's rate limit):
/// its summary, once it exited 0.
fn run_found(found: &Output) -> Value {
    let dir = OutDir::new();
    let mut config: Value = serde_json::from_str(&stdout(found)).unwrap();
    config["rate_limit"] = json!({"per_second": 1000, "burst": 50});
    let file = write_config(&dir.0, &config.to_string());
    let out = dir.0.join("out");
    let run = run_config(&file, &out);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    let summary = summary_in(&out);
    crate::support::assert_identity(&summary);
    summary
}

/// `ingest run --config file --out out`, without progress bars.
fn run_config(file: &str, out: &Path) -> Output {
    command(&[
        "run",
        "--no-progress",
        "--config",
        file,
        "--out",
        out.to_str().unwrap(),
    ])
    .output()
    .unwrap()
}
