//! Declared record schemas end to end (SPEC §5, §6): the API-shaped mocks
//! (`gh`: GitHub issues over `Link` headers, `drf`: DRF orders over
//! offsets) ingested with a schema, and every declared field of every
//! record compared with the value computed here, in plain code, from the
//! items the mock served; the warnings a plausible but wrong config gets.

use std::collections::{BTreeMap, BTreeSet};

use ingest::Config;
use serde_json::{json, Map, Value};
use testsupport::{rfc3339, MockServer, MockSource, Scenario, Shape, Style};

use crate::cli::{run_command, summary_in};
use crate::support::{fast_policies, n, run, OutDir, Outcome};

/// The GitHub-like mock alone: `pages` pages of `per_page` issues.
fn gh_mock(pages: usize, per_page: usize) -> MockServer {
    let gh = MockSource::new("gh", Style::LinkHeader, pages, per_page).shape(Shape::GithubIssues);
    MockServer::start(Scenario::new(7).with(gh)).unwrap()
}

/// The DRF-like mock alone (offset pagination with a total).
fn drf_mock(pages: usize, per_page: usize) -> MockServer {
    let drf = MockSource::new("drf", Style::Offset, pages, per_page).shape(Shape::DrfOrders);
    MockServer::start(Scenario::new(7).with(drf)).unwrap()
}

/// The mock's config with the test policies, `top` merged in at the top
/// level and `sources[name]`'s keys merged into that source's entry.
fn config_doc(server: &MockServer, top: Value, sources: Value) -> Value {
    let mut doc = server.config_json();
    for (k, v) in fast_policies()
        .as_object()
        .unwrap()
        .iter()
        .chain(top.as_object().unwrap())
    {
        doc[k] = v.clone();
    }
    for source in doc["sources"].as_array_mut().unwrap() {
        let name = source["name"].as_str().unwrap().to_string();
        if let Some(patch) = sources.get(&name) {
            for (k, v) in patch.as_object().unwrap() {
                source[k] = v.clone();
            }
        }
    }
    doc
}

fn parse(doc: &Value) -> Config {
    Config::parse("test config", &doc.to_string()).unwrap_or_else(|e| panic!("{e}\n{doc:#}"))
}

/// Every item `source` served, in page order (the mocks here have no
/// faults, so a complete run received exactly these).
fn served(server: &MockServer, source: &str) -> Vec<Value> {
    let truth = server.truth();
    let truth = truth.source(source).unwrap();
    (1..=truth.pages.len())
        .flat_map(|p| truth.items(p))
        .collect()
}

/// The records of `source`, by key.
fn records_of<'o>(o: &'o Outcome, source: &str) -> BTreeMap<String, &'o Value> {
    o.records
        .iter()
        .filter(|r| r["source"] == source)
        .map(|r| (r["key"].as_str().unwrap().to_string(), r))
        .collect()
}

/// `got` holds exactly the keys of `expected` and, under each, the same
/// record, its keys in the same order; says which record differs and how.
fn assert_records(expected: &BTreeMap<String, Value>, got: &BTreeMap<String, &Value>) {
    let want: BTreeSet<&String> = expected.keys().collect();
    let have: BTreeSet<&String> = got.keys().collect();
    assert_eq!(
        want,
        have,
        "record keys\n  missing: {:?}\n  unexpected: {:?}",
        want.difference(&have).collect::<Vec<_>>(),
        have.difference(&want).collect::<Vec<_>>()
    );
    for (key, want) in expected {
        let have = got[key];
        assert_eq!(
            want, have,
            "record {key}\n  expected: {want}\n  got:      {have}"
        );
        let order = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(order(want), order(have), "key order of {key}");
    }
}

/// A record as SPEC §5 lays it out: `key`, `source`, `id`, then `fields`.
fn record(source: &str, id: &str, fields: Vec<(&str, Value)>) -> Value {
    let mut m = Map::new();
    m.insert("key".into(), json!(format!("{source}:{id}")));
    m.insert("source".into(), json!(source));
    m.insert("id".into(), json!(id));
    for (name, value) in fields {
        m.insert(name.into(), value);
    }
    Value::Object(m)
}

/// `v`, or null when absent.
fn or_null(v: Option<&Value>) -> Value {
    v.cloned().unwrap_or(Value::Null)
}

/// A source's warnings.
fn warnings(o: &Outcome, source: &str) -> Vec<String> {
    o.source(source)["warnings"]
        .as_array()
        .unwrap_or_else(|| panic!("{source} has a warnings list"))
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

/// The schema the issue tests declare, in record order.
fn issue_schema() -> Value {
    json!({
        "id": "id",
        "fields": {
            "number": { "path": "number", "type": "integer", "required": true },
            "title": { "path": "title", "type": "string" },
            "state": { "path": "state", "type": "string", "required": true },
            "author": { "path": "user.login" },
            "labels": { "path": "labels", "type": "json" },
            "comments": { "path": "comments", "type": "integer" },
            "created_at": { "path": "created_at", "type": "timestamp" },
            "updated_at": { "path": "updated_at", "type": "timestamp" },
            "closed_at": { "path": "closed_at", "type": "timestamp" },
            "pull_request": { "path": "pull_request", "type": "json" }
        }
    })
}

/// What [`issue_schema`] makes of one served issue, computed directly:
/// GitHub's times are already UTC with `Z`, so they stay as they are.
fn expected_issue(source: &str, issue: &Value) -> Value {
    let id = issue["id"].as_u64().expect("an integer id").to_string();
    record(
        source,
        &id,
        vec![
            ("number", issue["number"].clone()),
            ("title", json!(issue["title"].as_str().unwrap().trim())),
            ("state", issue["state"].clone()),
            ("author", issue["user"]["login"].clone()),
            ("labels", issue["labels"].clone()),
            ("comments", issue["comments"].clone()),
            ("created_at", issue["created_at"].clone()),
            ("updated_at", issue["updated_at"].clone()),
            ("closed_at", issue["closed_at"].clone()),
            ("pull_request", or_null(issue.get("pull_request"))),
        ],
    )
}

#[test]
fn github_issues_with_a_declared_schema_keep_every_field_exactly() {
    let server = gh_mock(4, 8);
    let config = parse(&config_doc(
        &server,
        json!({"record": issue_schema()}),
        json!({}),
    ));
    let o = run(&config);
    assert_eq!(o.exit_code(), 0, "{:#}", o.summary);
    let issues = served(&server, "gh");
    // The comparison means something: the mock's issues do vary.
    assert!(issues.iter().any(|i| i.get("pull_request").is_some()));
    assert!(issues.iter().any(|i| i.get("pull_request").is_none()));
    assert!(issues.iter().any(|i| i["closed_at"].is_null()));
    assert!(issues
        .iter()
        .any(|i| i["labels"].as_array().unwrap().len() > 1));
    let expected: BTreeMap<String, Value> = issues
        .iter()
        .map(|i| expected_issue("gh", i))
        .map(|r| (r["key"].as_str().unwrap().to_string(), r))
        .collect();
    assert_eq!(expected.len(), 32, "every served issue has its own id");
    assert_records(&expected, &records_of(&o, "gh"));
    let gh = o.source("gh");
    assert_eq!(gh["status"], "complete");
    assert_eq!((n(gh, "items"), n(gh, "records")), (32, 32));
    assert_eq!(gh["bad_values"], json!({}), "no bad values");
    assert_eq!(warnings(&o, "gh"), Vec::<String>::new(), "no warnings");
    assert_eq!(o.summary["totals"]["warnings"], 0);
}

#[test]
fn without_a_record_the_binary_warns_about_missing_price_and_strict_makes_it_partial() {
    let server = gh_mock(3, 5);
    let config = config_doc(&server, json!({}), json!({}));
    for strict in [false, true] {
        let dir = OutDir::new();
        let mut command = run_command(&dir.0, &config);
        if strict {
            command.arg("--strict");
        }
        let o = command.output().expect("run the ingest binary");
        let stderr = String::from_utf8_lossy(&o.stderr);
        let summary = summary_in(&dir.0.join("out"));
        let (code, status) = if strict {
            (3, "partial")
        } else {
            (0, "complete")
        };
        assert_eq!(o.status.code(), Some(code), "strict={strict}: {stderr}");
        assert_eq!(summary["status"], status, "strict={strict}");
        let gh = &summary["sources"]["gh"];
        assert_eq!(gh["status"], "complete", "the source itself ended well");
        assert_eq!(
            (
                n(gh, "items"),
                n(gh, "records"),
                gh["invalid_reasons"]["missing_price"].clone()
            ),
            (15, 0, json!(15)),
            "{gh:#}"
        );
        let named: Vec<&Value> = gh["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w.as_str().unwrap().contains("missing_price"))
            .collect();
        assert_eq!(
            named.len(),
            1,
            "one warning names missing_price: {}",
            gh["warnings"]
        );
        assert!(
            n(&summary["totals"], "warnings") >= 1,
            "{}",
            summary["totals"]
        );
        let table = String::from_utf8_lossy(&o.stdout);
        assert!(
            table
                .lines()
                .any(|l| l.starts_with("warning: gh: ") && l.contains("missing_price")),
            "the end table has the warning:\n{table}"
        );
    }
}

#[test]
fn drf_orders_coerce_decimal_strings_epochs_and_string_booleans() {
    let server = drf_mock(4, 10);
    let schema = json!({
        "id": "id",
        "fields": {
            "reference": { "path": "reference", "type": "string", "required": true },
            "total": { "path": "total", "type": "price", "required": true },
            "currency": { "path": "currency", "type": "currency" },
            "paid": { "path": "paid", "type": "boolean" },
            "created": { "path": "created", "type": "timestamp" },
            "email": { "path": "customer.email", "type": "string" }
        }
    });
    let config = parse(&config_doc(
        &server,
        json!({}),
        json!({"drf": {"record": schema}}),
    ));
    let o = run(&config);
    assert_eq!(o.exit_code(), 0, "{:#}", o.summary);
    let orders = served(&server, "drf");
    assert!(
        orders.iter().any(|o| o["customer"].is_null()),
        "a guest order"
    );
    let expected: BTreeMap<String, Value> = orders
        .iter()
        .map(|order| {
            let total = order["total"].as_str().unwrap();
            let paid = match order["paid"].as_str().unwrap() {
                "true" => true,
                "false" => false,
                other => panic!("paid {other:?}"),
            };
            let r = record(
                "drf",
                &order["id"].as_u64().unwrap().to_string(),
                vec![
                    ("reference", order["reference"].clone()),
                    // "12.50" is 12.5 as a price: a number, as serde writes an f64.
                    ("total", json!(total.parse::<f64>().unwrap())),
                    (
                        "currency",
                        json!(order["currency"].as_str().unwrap().to_uppercase()),
                    ),
                    ("paid", json!(paid)),
                    (
                        "created",
                        json!(rfc3339(order["created"].as_u64().unwrap())),
                    ),
                    ("email", or_null(order["customer"].get("email"))),
                ],
            );
            (r["key"].as_str().unwrap().to_string(), r)
        })
        .collect();
    assert_eq!(expected.len(), 40);
    assert_records(&expected, &records_of(&o, "drf"));
    // Spelled out on the text: "123.40" is written 123.4, "7.00" 7.0.
    let mut trailing_zeros = 0;
    for order in &orders {
        let total = order["total"].as_str().unwrap();
        if let Some(short) = total.strip_suffix('0') {
            let short = short
                .strip_suffix('0')
                .map_or(short.to_string(), |s| format!("{s}0"));
            let key = format!("drf:{}", order["id"]);
            let written = serde_json::to_string(&records_of(&o, "drf")[&key]["total"]).unwrap();
            assert_eq!(written, short, "{key}: total {total:?}");
            trailing_zeros += 1;
        }
    }
    assert!(trailing_zeros > 0, "some total ends in 0");
    assert_eq!(o.source("drf")["bad_values"], json!({}));
    assert_eq!(warnings(&o, "drf"), Vec::<String>::new());
}

#[test]
fn a_server_ignoring_the_page_parameter_gets_a_duplicates_warning() {
    let stuck = MockSource::new("stuck", Style::Page, 5, 4)
        .shape(Shape::GithubIssues)
        .ignoring_position();
    let server = MockServer::start(Scenario::new(7).with(stuck)).unwrap();
    let config = parse(&config_doc(
        &server,
        json!({"max_pages": 5, "record": issue_schema()}),
        json!({}),
    ));
    let o = run(&config);
    let s = o.source("stuck");
    assert_eq!(n(s, "records"), 4, "page 1's issues, once: {s:#}");
    assert!(n(s, "duplicates") >= 4, "{s:#}");
    let w = warnings(&o, "stuck");
    assert!(
        w.iter().any(|w| w.contains("duplicates")
            && w.contains("the server may be ignoring the pagination parameter")),
        "{w:?}"
    );
    assert_eq!(n(&o.summary["totals"], "warnings"), w.len() as u64);
}

#[test]
fn a_path_matching_nothing_warns_and_a_bad_optional_value_is_null_and_counted() {
    let server = gh_mock(2, 5);
    let schema = json!({
        "id": "id",
        "fields": {
            "number": { "path": "number", "type": "integer", "required": true },
            "title": { "path": "title", "type": "integer" },
            "nope": "no.such.path"
        }
    });
    let config = parse(&config_doc(&server, json!({"record": schema}), json!({})));
    let o = run(&config);
    let issues = served(&server, "gh");
    let expected: BTreeMap<String, Value> = issues
        .iter()
        .map(|i| {
            let id = i["id"].as_u64().unwrap().to_string();
            let r = record(
                "gh",
                &id,
                vec![
                    ("number", i["number"].clone()),
                    ("title", Value::Null),
                    ("nope", Value::Null),
                ],
            );
            (r["key"].as_str().unwrap().to_string(), r)
        })
        .collect();
    assert_records(&expected, &records_of(&o, "gh"));
    let gh = o.source("gh");
    assert_eq!(
        gh["bad_values"],
        json!({"title": 10}),
        "every title is a bad integer"
    );
    let w = warnings(&o, "gh");
    let about = |field: &str| {
        w.iter()
            .filter(|w| w.contains(&format!("field {field} ")))
            .count()
    };
    assert_eq!(about("nope"), 1, "{w:?}");
    assert_eq!(about("number"), 0, "{w:?}");
    assert_eq!(o.exit_code(), 0, "warnings do not change the status");
}

#[test]
fn a_top_level_record_serves_every_source_without_its_own() {
    let server = MockServer::start(Scenario::apis(7, 2, 4)).unwrap();
    let top = json!({
        "id": "id",
        "fields": {
            "number": { "path": "number", "type": "integer", "required": true },
            "author": "user.login"
        }
    });
    let drf_own = json!({
        "id": "reference",
        "fields": { "total": { "path": "total", "type": "price", "required": true } }
    });
    // gh has no record of its own: the top-level one. drf has its own,
    // which replaces the top-level one whole. stripe names the product
    // schema explicitly.
    let doc = config_doc(
        &server,
        json!({"record": top}),
        json!({"drf": {"record": drf_own}, "stripe": {"record": "product"}}),
    );
    let o = run(&parse(&doc));
    assert_eq!(o.exit_code(), 0, "{:#}", o.summary);
    let gh: BTreeMap<String, Value> = served(&server, "gh")
        .iter()
        .map(|i| {
            let id = i["id"].as_u64().unwrap().to_string();
            let r = record(
                "gh",
                &id,
                vec![
                    ("number", i["number"].clone()),
                    ("author", i["user"]["login"].clone()),
                ],
            );
            (r["key"].as_str().unwrap().to_string(), r)
        })
        .collect();
    assert_records(&gh, &records_of(&o, "gh"));
    let drf: BTreeMap<String, Value> = served(&server, "drf")
        .iter()
        .map(|order| {
            let reference = order["reference"].as_str().unwrap();
            let total = order["total"].as_str().unwrap().parse::<f64>().unwrap();
            let r = record("drf", reference, vec![("total", json!(total))]);
            (r["key"].as_str().unwrap().to_string(), r)
        })
        .collect();
    assert_records(&drf, &records_of(&o, "drf"));
    let stripe = records_of(&o, "stripe");
    assert_eq!(stripe.len(), 8, "every charge is a product");
    for r in stripe.values() {
        let keys: Vec<&String> = r.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            ["key", "source", "id", "name", "price", "currency", "category"],
            "{r}"
        );
    }
    for (name, declared) in [("gh", true), ("drf", true), ("stripe", false)] {
        let record = &o.summary["config"]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["record"];
        assert_eq!(record.is_object(), declared, "{name}: {record}");
    }
    assert_eq!(o.summary["totals"]["warnings"], 0, "{:#}", o.summary);
}
