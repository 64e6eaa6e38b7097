//! README.md stays true: its config examples parse, its worked record
//! examples write the records it shows, its links within itself lead to
//! its headings, and the files, make targets and flags it names exist
//! (and it names every flag).

use std::collections::BTreeMap;

use ingest::Config;
use serde_json::{json, Value};
use testsupport::{ClientAuth, MockServer, MockSource, OAuth2, Scenario, Shape, Style};

use crate::support::{n, run, OutDir};

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

/// The ```json blocks of the README that are configs (they have `sources`).
fn config_examples(text: &str) -> Vec<String> {
    text.split("```json\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter(|block| block.trim_start().starts_with('{') && block.contains("\"sources\""))
        .map(str::to_string)
        .collect()
}

#[test]
fn every_config_example_in_the_readme_parses() {
    tokens();
    let examples = config_examples(&readme());
    assert!(
        examples.len() >= 7,
        "the full example and one per pagination style"
    );
    for (i, example) in examples.iter().enumerate() {
        let config = Config::parse(&format!("README example {i}"), example)
            .unwrap_or_else(|e| panic!("{e}\n{example}"));
        let redacted = config.to_redacted_json().to_string();
        assert!(
            SECRETS.iter().all(|secret| !redacted.contains(secret)),
            "{redacted}"
        );
    }
}

#[test]
fn the_make_targets_the_readme_names_exist() {
    let makefile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Makefile")).unwrap();
    let text = readme();
    for target in [
        "run",
        "test",
        "test-singer",
        "test-meltano",
        "lint",
        "build",
        "bench",
        "coverage",
    ] {
        assert!(
            text.contains(&format!("make {target}")),
            "README names make {target}"
        );
        assert!(
            makefile.contains(&format!("\n{target}:")),
            "Makefile has {target}"
        );
    }
}

/// What the examples' environment variables hold (set by [`tokens`]),
/// and the password one of them writes in its URL: none may be shown.
const SECRETS: [&str; 8] = [
    "s3cret",
    "ghp_x",
    "w3ather",
    "sk_test_4eC39H",
    "r3ports-token",
    "b1lling-pass",
    "cl1ent-s3cret",
    "hunter22",
];

/// The examples read tokens from the environment, as a user's would; set
/// once for every test here.
fn tokens() {
    static SET: std::sync::Once = std::sync::Once::new();
    SET.call_once(|| {
        std::env::set_var("SHOP_TOKEN", "s3cret");
        std::env::set_var("GITHUB_TOKEN", "ghp_x");
        std::env::set_var("WEATHER_KEY", "w3ather");
        std::env::set_var("STRIPE_KEY", "sk_test_4eC39H");
        std::env::set_var("REPORTS_TOKEN", "r3ports-token");
        std::env::set_var("BILLING_PASSWORD", "b1lling-pass");
        std::env::set_var("SHOP_CLIENT_SECRET", "cl1ent-s3cret");
    });
}

/// The text of the README's `## heading` section, up to the next `## `.
fn section<'t>(text: &'t str, heading: &str) -> &'t str {
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has the section {heading}"));
    let section = &text[start + 1..];
    &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)]
}

/// The worked examples of "Records for your API": each ```json config
/// with the ```jsonl records shown after it.
fn worked_examples(text: &str) -> Vec<(String, Vec<String>)> {
    let section = section(text, "Records for your API");
    let mut examples: Vec<(String, Vec<String>)> = Vec::new();
    for block in section.split("```").skip(1).step_by(2) {
        if let Some(config) = block.strip_prefix("json\n") {
            if config.contains("\"sources\"") {
                examples.push((config.to_string(), Vec::new()));
            }
        } else if let Some(lines) = block.strip_prefix("jsonl\n") {
            let (_, records) = examples.last_mut().expect("records follow a config");
            records.extend(lines.lines().map(str::to_string));
        }
    }
    examples
}

/// The testsupport mock that stands in for the API of each worked
/// example, by its source's name.
fn mock_for(name: &str) -> MockSource {
    match name {
        "issues" => MockSource::new("gh", Style::LinkHeader, 3, 5).shape(Shape::GithubIssues),
        "orders" => MockSource::new("drf", Style::NextUrl, 3, 5).shape(Shape::DrfOrders),
        "charges" => MockSource::new("stripe", Style::StartingAfter, 3, 5),
        other => panic!("no mock for the README's source {other:?}"),
    }
}

/// Each worked example runs for real against its mock (only its `url`
/// rewritten to the mock's), ends complete without a warning, and writes
/// exactly the records the README shows, key order included.
#[test]
fn the_worked_record_examples_write_the_records_the_readme_shows() {
    tokens();
    let examples = worked_examples(&readme());
    let names: Vec<String> = examples
        .iter()
        .map(|(config, _)| {
            let doc: Value = serde_json::from_str(config).unwrap();
            doc["sources"][0]["name"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        names,
        ["issues", "orders", "charges"],
        "the three worked examples"
    );
    for (config, shown) in &examples {
        let mut doc: Value = serde_json::from_str(config).unwrap();
        assert_eq!(doc["sources"].as_array().unwrap().len(), 1, "{config}");
        let name = doc["sources"][0]["name"].as_str().unwrap().to_string();
        let mock = mock_for(&name);
        let mock_name = mock.name.clone();
        let server = MockServer::start(Scenario::new(42).with(mock)).unwrap();
        doc["sources"][0]["url"] = json!(server.source_url(&mock_name));
        let config = Config::parse(&format!("README example {name}"), &doc.to_string())
            .unwrap_or_else(|e| panic!("{e}\n{doc:#}"));
        let o = run(&config);
        let summary = &o.summary["sources"][&name];
        assert_eq!(o.exit_code(), 0, "{name}: {summary:#}");
        assert_eq!(summary["warnings"], json!([]), "{name}");
        assert_eq!(
            summary["records"], summary["items"],
            "{name}: every item a record"
        );
        let written: BTreeMap<&str, &Value> = o
            .records
            .iter()
            .map(|r| (r["key"].as_str().unwrap(), r))
            .collect();
        assert!(!shown.is_empty(), "{name}: the README shows a record");
        for line in shown {
            let want: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}: README record is not JSON: {e}\n{line}"));
            let key = want["key"].as_str().expect("a record has a key");
            let got = written.get(key).unwrap_or_else(|| {
                panic!(
                    "{name}: the run wrote no record {key}; it wrote:\n{}",
                    o.records
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n")
                )
            });
            let order = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert!(
                want == **got && order(&want) == order(got),
                "{name}: record {key}\n  README:  {want}\n  written: {got}"
            );
        }
    }
}

/// The README's `serve-mock` walk-through, run as written: the commands of
/// its ```sh block in order (the binary for `cargo run --release --`, a
/// free port for 8080 and a temporary file for the config are the only
/// changes), from an empty directory.
#[test]
fn the_serve_mock_walk_through_works_as_written() {
    let text = readme();
    let block = text
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .find(|b| b.contains("serve-mock"))
        .expect("a serve-mock walk-through");
    let dir = std::env::temp_dir().join(format!("ingest-walk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("mock.json");
    let commands: Vec<Vec<String>> = block
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let l = l
                .replace("127.0.0.1:8080", "127.0.0.1:0")
                .replace("/tmp/ingest-mock.json", config.to_str().unwrap());
            let rest = l
                .strip_prefix("cargo run --release -- ")
                .expect("a cargo run line");
            rest.split_whitespace().map(str::to_string).collect()
        })
        .collect();
    assert_eq!(commands.len(), 2, "{block}");
    let bin = env!("CARGO_BIN_EXE_ingest");
    let mut server = std::process::Command::new(bin)
        .args(&commands[0])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !config.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no config written"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let run = std::process::Command::new(bin)
        .args(&commands[1])
        .current_dir(&dir)
        .output()
        .unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status();
    let stopped = server.wait().unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(stopped.code(), Some(0), "serve-mock stops on Ctrl-C");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("out/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["status"], "complete");
    assert_eq!(
        summary["totals"]["items"],
        summary["totals"]["records"].as_u64().unwrap()
            + summary["totals"]["invalid"].as_u64().unwrap()
            + summary["totals"]["duplicates"].as_u64().unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The incremental example of "Resuming and incremental runs" runs for
/// real against a mock that answers `since` (only its `url` rewritten):
/// the first run sends its `start`, the next one its bookmark less the
/// minute of `lookback_ms`.
#[test]
fn the_incremental_example_asks_from_start_then_from_its_bookmark() {
    tokens();
    let example = config_examples(&readme())
        .into_iter()
        .find(|c| c.contains("\"incremental\""))
        .expect("README has an incremental example");
    let mut doc: Value = serde_json::from_str(&example).unwrap();
    let mock = MockSource::new("gh", Style::LinkHeader, 3, 5).honouring_since("since");
    let server = MockServer::start(Scenario::new(42).with(mock)).unwrap();
    doc["sources"][0]["url"] = json!(server.source_url("gh"));
    let config = Config::parse("README incremental example", &doc.to_string()).unwrap();
    let dir = crate::support::OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let state = dir.0.join("state.json");
    let first = crate::support::run_with_state(&config, &state, |_| {});
    let issues = &first.summary["sources"]["issues"];
    assert_eq!(first.exit_code(), 0, "{issues:#}");
    assert_eq!(issues["warnings"], json!([]));
    assert_eq!(issues["bookmark_sent"], "2026-01-01T00:00:00Z");
    assert_eq!(
        server.requests()[0].query("since").as_deref(),
        Some("2026-01-01T00:00:00Z")
    );
    let bookmark = issues["bookmark_saved"].as_str().unwrap().to_string();
    server.next_generation();
    let before = server.requests().len();
    let second = crate::support::run_with_state(&config, &state, |_| {});
    let sent = second.summary["sources"]["issues"]["bookmark_sent"]
        .as_str()
        .unwrap()
        .to_string();
    let minute = 60 * 1_000_000_000;
    assert_eq!(
        testsupport::parse_rfc3339(&sent),
        testsupport::parse_rfc3339(&bookmark).map(|b| b - minute)
    );
    assert_eq!(server.requests()[before].query("since"), Some(sent));
    assert_eq!(second.exit_code(), 0);
}

/// The examples of "Response rules" and "Totals and pointers in response
/// headers" run for real against the mocks of the servers they stand for
/// (only their `url` rewritten): the DRF list ends `complete` on the 404
/// past its last page, with every order and no failed page; the
/// flask-smorest list stops on its last page by the header's total, with
/// every row and no request past it. Neither warns.
#[test]
fn the_response_rule_and_header_total_examples_get_every_record() {
    let examples = config_examples(&readme());
    let find = |needle: &str| {
        let example = examples
            .iter()
            .find(|c| c.contains(needle))
            .unwrap_or_else(|| panic!("README has an example with {needle}"));
        serde_json::from_str::<Value>(example).unwrap()
    };
    for (mut doc, mock, pages) in [
        (
            find("\"on_response\""),
            MockSource::new("orders", Style::PageCount, 3, 5),
            4,
        ),
        (
            find("header:X-Pagination.total"),
            MockSource::new("rows", Style::XPagination, 3, 5),
            3,
        ),
    ] {
        let served = mock.name.clone();
        let server = MockServer::start(Scenario::new(42).with(mock)).unwrap();
        doc["sources"][0]["url"] = json!(server.source_url(&served));
        let name = doc["sources"][0]["name"].as_str().unwrap().to_string();
        let config = Config::parse(&format!("README example {name}"), &doc.to_string())
            .unwrap_or_else(|e| panic!("{e}\n{doc:#}"));
        let o = run(&config);
        let summary = &o.summary["sources"][&name];
        assert_eq!(o.exit_code(), 0, "{name}: {summary:#}");
        assert_eq!(summary["status"], "complete", "{name}");
        assert_eq!(summary["failed_pages"], 0, "{name}");
        assert_eq!(summary["warnings"], json!([]), "{name}");
        assert_eq!(server.requests().len(), pages, "{name}: requests");
        let truth = server.truth();
        let expected = truth.source(&served).unwrap().expected_all();
        match name.as_str() {
            // A declared record: every order is one.
            "orders" => assert_eq!(o.records.len(), 15, "{name}"),
            _ => assert_eq!(o.keys(), expected.keys, "{name}"),
        }
    }
}

/// The configs of "Requests: auth, bodies, GraphQL", by their source's
/// name.
fn request_examples(text: &str) -> BTreeMap<String, Value> {
    config_examples(section(text, "Requests: auth, bodies, GraphQL"))
        .iter()
        .map(|config| {
            let doc: Value =
                serde_json::from_str(config).unwrap_or_else(|e| panic!("{e}\n{config}"));
            let name = doc["sources"][0]["name"].as_str().unwrap().to_string();
            (name, doc)
        })
        .collect()
}

/// `url` with the userinfo of `written` (`user:password@`), if it has one.
fn with_userinfo_of(written: &str, url: &str) -> String {
    let authority = written.split("://").nth(1).unwrap_or("");
    let authority = authority.split('/').next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => url.replacen("://", &format!("://{userinfo}@"), 1),
        None => url.to_string(),
    }
}

/// What a mock requires of a request, from a parsed config's `auth`.
fn required(auth: &ingest::Auth) -> testsupport::Auth {
    match auth {
        ingest::Auth::Bearer { token } => testsupport::Auth::Bearer(token.clone()),
        ingest::Auth::Basic { username, password } => testsupport::Auth::basic(username, password),
        ingest::Auth::ApiKey {
            name,
            value,
            in_query: false,
        } => testsupport::Auth::api_key_header(name, value),
        ingest::Auth::ApiKey { name, value, .. } => testsupport::Auth::api_key_query(name, value),
        ingest::Auth::OAuth2(_) => panic!("OAuth2 is run by its own test"),
    }
}

/// The section's examples are the ones these tests run or parse: a new
/// one gets a test here.
#[test]
fn the_request_examples_are_the_ones_tested() {
    tokens();
    let names: Vec<String> = request_examples(&readme()).into_keys().collect();
    assert_eq!(
        names,
        [
            "export",
            "forecasts",
            "invoices",
            "issues",
            "open_tickets",
            "orders",
            "reports",
            "stations"
        ]
    );
}

/// Each bearer, basic and API-key example runs against a mock that
/// refuses (401) any request without exactly those credentials, sent as
/// the README says (only its `url` rewritten to the mock's, keeping a
/// `user:password@`).
#[test]
fn the_static_auth_examples_send_their_credentials() {
    tokens();
    let examples = request_examples(&readme());
    let kinds = [
        ("reports", "bearer"),
        ("invoices", "basic"),
        ("export", "basic"),
        ("stations", "api_key"),
        ("forecasts", "api_key"),
    ];
    for (name, kind) in kinds {
        let mut doc = examples[name].clone();
        let written = doc["sources"][0]["url"].as_str().unwrap().to_string();
        let parsed = Config::parse("README example", &doc.to_string()).unwrap();
        let auth = parsed.sources[0].auth.as_ref().expect("an auth");
        assert_eq!(auth.to_redacted_json()["type"], kind, "{name}");
        let mock = MockSource::new(name, Style::None, 1, 5).auth(required(auth));
        let server = MockServer::start(Scenario::new(42).with(mock)).unwrap();
        doc["sources"][0]["url"] = json!(with_userinfo_of(&written, &server.source_url(name)));
        let config = Config::parse("README example", &doc.to_string()).unwrap();
        let o = run(&config);
        let s = o.source(name);
        assert_eq!(o.exit_code(), 0, "{name}: {s:#}");
        assert_eq!(s["responses"], json!({"200": 1}), "{name}: no 401");
        assert!(!o.records.is_empty(), "{name}");
        let summary = o.summary.to_string();
        assert!(
            SECRETS.iter().all(|secret| !summary.contains(secret)),
            "{name}: {summary}"
        );
    }
}

/// The OAuth2 example runs as written against the mock token endpoint and
/// a DRF-like order list that wants its tokens (only `url` and
/// `token_url` rewritten): one token request, as the README describes it,
/// every item a record. With a wrong client secret it stops as the README
/// quotes, before any page.
#[test]
fn the_oauth2_example_fetches_its_token_and_stops_as_quoted_when_refused() {
    tokens();
    let text = readme();
    let example = request_examples(&text)["orders"].clone();
    let secret = std::env::var("SHOP_CLIENT_SECRET").unwrap();
    let serve = || {
        let oauth = OAuth2::new("ingest", &secret).scopes(&["read:orders", "read:customers"]);
        let mock =
            MockSource::new("orders", Style::PageCount, 3, 5).auth(testsupport::Auth::OAuth2);
        MockServer::start(Scenario::new(42).with(mock).oauth2(oauth)).unwrap()
    };
    let config_for = |server: &MockServer| {
        let mut doc = example.clone();
        doc["sources"][0]["url"] = json!(server.source_url("orders"));
        doc["sources"][0]["auth"]["token_url"] = json!(server.token_url());
        Config::parse("README OAuth2 example", &doc.to_string()).unwrap()
    };

    let server = serve();
    let o = run(&config_for(&server));
    let s = o.source("orders");
    assert_eq!(o.exit_code(), 0, "{s:#}");
    assert_eq!(s["warnings"], json!([]));
    assert_eq!(s["records"], s["items"], "every item a record");
    assert!(n(s, "records") > 0);
    assert_eq!(
        s["auth"],
        json!({"token_requests": 1, "refreshes": 0, "forced_refreshes": 0})
    );
    let issued = server.token_requests();
    assert_eq!(issued.len(), 1, "one token for the run");
    let token = &issued[0];
    assert_eq!(token.grant, "client_credentials");
    assert_eq!(token.client_auth, ClientAuth::Basic);
    assert_eq!(token.client_id.as_deref(), Some("ingest"));
    assert_eq!(token.param("scope"), Some("read:orders read:customers"));
    let summary = o.summary.to_string();
    let access = token.access_token.as_deref().unwrap();
    assert!(!summary.contains(access) && !summary.contains(&secret));

    let server = serve();
    let mut config = config_for(&server);
    if let Some(ingest::Auth::OAuth2(o)) = &mut config.sources[0].auth {
        o.client_secret = Some("a-wrong-secret".into());
    }
    let o = run(&config);
    let s = o.source("orders");
    assert_eq!(s["status"], "error");
    let reason = s["stop_reason"].as_str().unwrap();
    assert!(
        text.contains(&format!("\n  {reason}\n")),
        "the README quotes the stop_reason: {reason}"
    );
    assert_eq!(n(&s["errors"], "auth"), 1);
    let pages = server.requests().iter().filter(|r| r.page > 0).count();
    assert_eq!(pages, 0, "no page without a token");
}

/// The GraphQL example runs as written against the mock GraphQL endpoint
/// (only `url` rewritten): POSTs with the bearer token, the first without a
/// cursor and each next one with the last page's `endCursor` in
/// `variables.after`, every node a record with its declared fields.
#[test]
fn the_graphql_example_follows_the_connection_with_the_cursor_in_the_body() {
    tokens();
    let mut doc = request_examples(&readme())["issues"].clone();
    let token = std::env::var("GITHUB_TOKEN").unwrap();
    let mock = MockSource::new("issues", Style::Graphql, 3, 5)
        .connection("repository.issues")
        .auth(testsupport::Auth::Bearer(token));
    let server = MockServer::start(Scenario::new(42).with(mock)).unwrap();
    doc["sources"][0]["url"] = json!(server.source_url("issues"));
    let config = Config::parse("README GraphQL example", &doc.to_string()).unwrap();
    let o = run(&config);
    let s = o.source("issues");
    assert_eq!(o.exit_code(), 0, "{s:#}");
    assert_eq!(s["warnings"], json!([]));
    assert_eq!(n(s, "records"), 15, "{s:#}");
    assert_eq!(s["records"], s["items"]);
    assert_eq!(n(&s["errors"], "graphql"), 0);
    for record in &o.records {
        assert!(record["number"].is_u64(), "{record}");
        assert!(record["title"].is_string(), "{record}");
    }
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert!(requests.iter().all(|r| r.method == "POST"));
    assert_eq!(requests[0].variable("after"), None);
    for (page, request) in requests.iter().enumerate().skip(1) {
        assert_eq!(
            request.variable("after"),
            Some(json!(server.end_cursor("issues", page)))
        );
    }
}

/// GitHub's anchor for a heading: lower case, punctuation but `-` and `_`
/// dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Every `](#anchor)` link of the README leads to one of its headings
/// (those outside code blocks; a repeated heading gets `-1`, `-2`, …).
#[test]
fn every_link_within_the_readme_has_its_heading() {
    let text = readme();
    let mut anchors: BTreeMap<String, usize> = BTreeMap::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        if in_code {
            continue;
        }
        let heading = heading.trim_start_matches('#').trim();
        let slug = anchor(heading);
        let seen = anchors.get(&slug).copied().unwrap_or(0);
        anchors.insert(slug.clone(), seen + 1);
        if seen > 0 {
            anchors.insert(format!("{slug}-{seen}"), 1);
        }
    }
    let links: Vec<&str> = text
        .split("](#")
        .skip(1)
        .map(|rest| rest.split(')').next().unwrap())
        .collect();
    assert!(links.len() > 20, "{links:?}");
    for link in links {
        assert!(
            anchors.contains_key(link),
            "README links to #{link}, a heading it does not have"
        );
    }
}

/// The flags the README names are ingest's (bar cargo's and Meltano's), and every flag
/// of `ingest --help` and each command's `--help` is in the README.
#[test]
fn the_flags_the_readme_names_exist_and_every_flag_is_named() {
    let bin = env!("CARGO_BIN_EXE_ingest");
    let help: String = [
        &[][..],
        &["run"],
        &["check"],
        &["discover"],
        &["serve-mock"],
        &["tap"],
    ]
    .iter()
    .map(|command| {
        let out = std::process::Command::new(bin)
            .args(*command)
            .arg("--help")
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    })
    .collect();
    let flags = |text: &str| -> std::collections::BTreeSet<String> {
        text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.len() > 2 && w.starts_with("--") && w.as_bytes()[2].is_ascii_lowercase())
            .map(str::to_string)
            .collect()
    };
    let named = flags(&readme());
    let known = flags(&help);
    // Other tools' flags: cargo's, and `meltano select`'s.
    let others = [
        "--release",
        "--open",
        "--path",
        "--list",
        "--all",
        "--exclude",
    ];
    for flag in &named {
        assert!(
            known.contains(flag) || others.contains(&flag.as_str()),
            "the README names {flag}, which no ingest command has"
        );
    }
    for flag in &known {
        assert!(named.contains(flag), "the README does not name {flag}");
    }
}

/// Every path of the repository the README names in backticks (`src/…`,
/// `tests/…`, `testsupport/…`, `fixtures/…`) exists.
#[test]
fn the_files_the_readme_names_exist() {
    let text = readme();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let named: Vec<&str> = text
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            ["src/", "tests/", "testsupport/", "fixtures/"]
                .iter()
                .any(|dir| s.starts_with(dir))
        })
        .collect();
    assert!(named.len() >= 5, "{named:?}");
    for path in named {
        assert!(
            root.join(path).exists(),
            "README names {path}, which is not there"
        );
    }
}

/// The `parallel` line of "Running more than one machine's worth", run as
/// written (N = 3) against a fan-out mock: the three shards' records are
/// one run's, each key once. Where GNU `parallel` is not installed, the
/// test expands `{}` as parallel does and starts the three commands at
/// once itself.
#[test]
fn the_parallel_shard_example_writes_one_runs_records() {
    let text = readme();
    let line = text
        .lines()
        .find(|l| l.starts_with("parallel -j3 ingest run"))
        .expect("the parallel example");
    let server = MockServer::start(
        Scenario::new(3)
            .with(MockSource::new("customers", Style::Page, 3, 10))
            .with(MockSource::children("orders", "customers", 3, 4).gone_every(7)),
    )
    .unwrap();
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let mut config = server.config_json();
    config["rate_limit"] = json!({"per_second": 1000, "burst": 50});
    std::fs::write(dir.0.join("api.json"), config.to_string()).unwrap();
    let bin = env!("CARGO_BIN_EXE_ingest");
    let command = line.replacen(" ingest run", &format!(" {bin} run --no-progress"), 1);
    let has_parallel = std::process::Command::new("parallel")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let statuses: Vec<Option<i32>> = if has_parallel {
        let o = std::process::Command::new("sh")
            .args(["-c", &command])
            .current_dir(&dir.0)
            .output()
            .unwrap();
        vec![o.status.code()]
    } else {
        let (body, args) = command
            .strip_prefix("parallel -j3 ")
            .and_then(|c| c.split_once(" ::: "))
            .expect("parallel -j3 COMMAND ::: ARGS");
        let children: Vec<_> = args
            .split_whitespace()
            .map(|k| {
                std::process::Command::new("sh")
                    .args(["-c", &body.replace("{}", k)])
                    .current_dir(&dir.0)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|mut c| c.wait().unwrap().code())
            .collect()
    };
    assert!(statuses.iter().all(|s| *s == Some(0)), "{statuses:?}");
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for k in 0..3 {
        let path = dir.0.join(format!("out/shard-{k}/records.jsonl"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(dir.0.join(format!("state/shard-{k}.json")).exists());
        let summary = std::fs::read_to_string(dir.0.join(format!("out/shard-{k}/summary.json")));
        crate::support::assert_identity(&serde_json::from_str(&summary.unwrap()).unwrap());
        for line in text.lines() {
            let record: Value = serde_json::from_str(line).unwrap();
            *seen
                .entry(record["key"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    assert!(seen.values().all(|&n| n == 1), "each key once: {seen:?}");
    let whole = run(&Config::parse("api.json", &config.to_string()).unwrap());
    let keys: std::collections::BTreeSet<String> = seen.into_keys().collect();
    assert_eq!(keys, whole.keys(), "the three shards are one run");
}
