//! First-try configs that ended `complete`, exit 0, with a fraction of the
//! data (issue 19, SPEC §6 turn 3): a `next_path` with a typo, a JSON:API
//! server's next link under `links.next`, `link_header` on a server that
//! sends no `Link` header, a `page` size the server caps — and a field
//! that is present but null everywhere, which is no reason to fail a run.
//!
//! Each runs the pipeline in-process against a mock shaped like the real
//! server (DRF's counted pages, JSON:API's links), then again with
//! `--strict`: the warning names the path or the cause, `--strict` makes
//! the run `partial` (exit 3), and the right config gets every record the
//! mock served and asks for nothing past its end. The harness checks the
//! accounting identity on every run.

use std::collections::BTreeSet;

use ingest::Config;
use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Style};

use crate::cli::{command, stderr};
use crate::support::{config_patched as config, n, run, run_strict, OutDir, Outcome};

const SEED: u64 = 1919;

fn serve(source: MockSource) -> MockServer {
    MockServer::start(Scenario::new(SEED).with(source)).unwrap()
}

fn warnings(source: &Value) -> Vec<String> {
    let list = source["warnings"].as_array().expect("a warnings list");
    list.iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

/// Pages the mock was asked for, in order of arrival.
fn pages_asked(server: &MockServer) -> Vec<usize> {
    server.requests().iter().map(|r| r.page).collect()
}

/// The keys a record schema with `"id": "id"` makes of the items the mock
/// serves on `pages` of its one source.
fn served_keys(server: &MockServer, pages: impl IntoIterator<Item = usize>) -> BTreeSet<String> {
    let name = &server.scenario().sources[0].name;
    let truth = server.truth();
    let truth = truth.source(name).unwrap();
    let id = |item: &Value| match &item["id"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    pages
        .into_iter()
        .flat_map(|p| truth.items(p))
        .map(|item| format!("{name}:{}", id(&item)))
        .collect()
}

/// The run ended `complete` and exit 0 with exactly `warning` (in the
/// summary, counted in the totals, and under the end table); the same
/// config with `--strict` is `partial`, exit 3.
fn assert_warned(o: &Outcome, config: &Config, warning: &str) {
    let src = o.only();
    assert_eq!(src["status"], "complete", "{src:#}");
    assert_eq!(warnings(src), [warning], "{src:#}");
    assert_eq!(n(&o.summary["totals"], "warnings"), 1);
    assert_eq!(o.exit_code(), 0, "a warning alone changes no status");
    let table = o.report.end_table();
    let name = o.summary["sources"].as_object().unwrap().keys().next();
    let line = format!("\nwarning: {}: {warning}\n", name.unwrap());
    assert!(table.contains(&line), "under the end table:\n{table}");
    let strict = run_strict(config);
    assert_eq!(strict.summary["status"], "partial", "--strict");
    assert_eq!(strict.exit_code(), 3, "--strict");
    assert_eq!(warnings(strict.only()), [warning]);
}

/// Exit 0 with every record the mock served on `pages`, even under
/// `--strict`: no warning at all.
fn assert_whole(o: &Outcome, server: &MockServer, pages: usize) {
    let src = o.only();
    assert_eq!(o.keys(), served_keys(server, 1..=pages), "{src:#}");
    assert_eq!(warnings(src), Vec::<String>::new(), "{src:#}");
    assert_eq!(src["status"], "complete", "{src:#}");
    assert_eq!(o.exit_code(), 0);
}

/// `next_path` with a typo on a DRF server: the key is in no page, so the
/// first page looked like the last. It is said, with the keys the page
/// has; `next` itself, null on the last page, is no warning.
#[test]
fn a_next_path_in_no_page_is_named_with_the_keys_the_page_has() {
    let server = serve(MockSource::new("drf", Style::PageCount, 5, 4));
    let typo = config(&server, |s| {
        s["pagination"] = json!({"style": "next_url", "next_path": "nxt"});
        s["record"] = json!({"id": "id"});
    });
    let o = run(&typo);
    assert_eq!(pages_asked(&server), [1]);
    assert_eq!(o.keys(), served_keys(&server, [1]));
    assert_warned(
        &o,
        &typo,
        "next_path `nxt` never appeared in a page (top-level keys: count, next, previous, \
         results): pagination ended after page 1",
    );

    let server = serve(MockSource::new("drf", Style::PageCount, 5, 4));
    let right = config(&server, |s| {
        s["pagination"] = json!({"style": "next_url", "next_path": "next"});
        s["record"] = json!({"id": "id"});
    });
    let o = run_strict(&right);
    assert_whole(&o, &server, 5);
    assert_eq!(pages_asked(&server), [1, 2, 3, 4, 5]);
}

/// A JSON:API server links the next page at `links.next`: `next_path:
/// next` finds nothing, and says so; `links.next` gets every article.
#[test]
fn a_jsonapi_next_link_under_links_is_not_mistaken_for_the_end() {
    let server = serve(MockSource::new("articles", Style::JsonApi, 4, 5));
    let top_level = config(&server, |s| {
        s["pagination"]["next_path"] = json!("next");
        s["record"] = json!({"id": "id", "fields": {"title": "attributes.title"}});
    });
    let o = run(&top_level);
    assert_eq!(pages_asked(&server), [1]);
    assert_eq!(o.keys(), served_keys(&server, [1]));
    assert_warned(
        &o,
        &top_level,
        "next_path `next` never appeared in a page (top-level keys: data, links, meta): \
         pagination ended after page 1",
    );

    let server = serve(MockSource::new("articles", Style::JsonApi, 4, 5));
    let links = config(&server, |s| {
        s["record"] = json!({"id": "id", "fields": {"title": "attributes.title"}});
    });
    let o = run_strict(&links);
    assert_whole(&o, &server, 4);
    assert_eq!(pages_asked(&server), [1, 2, 3, 4]);
}

/// `link_header` on a server that paginates in the body: no answer has a
/// `Link` header, which is said with what the body holds instead. A
/// server that sends them is no warning.
#[test]
fn link_header_pagination_without_a_link_header_says_so() {
    let server = serve(MockSource::new("drf", Style::PageCount, 5, 4));
    let wrong = config(&server, |s| {
        s["pagination"] = json!({"style": "link_header"});
        s["record"] = json!({"id": "id"});
    });
    let o = run(&wrong);
    assert_eq!(pages_asked(&server), [1]);
    assert_eq!(o.keys(), served_keys(&server, [1]));
    assert_warned(
        &o,
        &wrong,
        "link_header: no answer carried a `Link` header (top-level keys: count, next, \
         previous, results): pagination ended after page 1",
    );

    let server = serve(MockSource::new("gh", Style::LinkHeader, 3, 4));
    let o = run_strict(&config(&server, |s| s["record"] = json!({"id": "sku"})));
    assert_eq!(o.records.len(), 12);
    assert_eq!(warnings(o.only()), Vec::<String>::new());
    assert_eq!(o.exit_code(), 0);
}

/// A `page` source whose server sends 10 items a page whatever `size`
/// asks: with `total_items_path`, the page count comes from what the
/// server sent. Asking 50 gets all 12 pages (not ceil(120 / 50) = 3) and
/// says the server capped the size; asking 5 stops after page 12 instead
/// of asking for 24 pages and being refused past the end.
#[test]
fn the_page_count_follows_the_page_size_the_server_sent() {
    let sized = |server: &MockServer, size: u64| {
        config(server, |s| {
            s["pagination"] = json!({"style": "page", "param": "page", "start": 1,
                "size_param": "page_size", "size": size, "total_items_path": "count"});
            s["record"] = json!({"id": "id"});
        })
    };
    let server = serve(MockSource::new("drf", Style::PageCount, 12, 10));
    let capped = sized(&server, 50);
    let o = run(&capped);
    assert_eq!(pages_asked(&server), (1..=12).collect::<Vec<_>>());
    assert_eq!(o.keys(), served_keys(&server, 1..=12), "every order");
    assert_eq!(n(o.only(), "failed_pages"), 0);
    let asked = server.requests()[0].query("page_size");
    assert_eq!(asked.as_deref(), Some("50"), "the size is still asked for");
    assert_warned(
        &o,
        &capped,
        "asked for 50 per page, the server sent 10: pages are counted by what it sent; \
         set size to 10",
    );

    let server = serve(MockSource::new("drf", Style::PageCount, 12, 10));
    let o = run_strict(&sized(&server, 5));
    assert_eq!(pages_asked(&server), (1..=12).collect::<Vec<_>>());
    assert_whole(&o, &server, 12);
    assert_eq!(n(o.only(), "requests"), 12, "nothing past the end");

    // Short of `size` but the last page with data (the 204 after it ends
    // the source): all there is, not a cap.
    let server = serve(MockSource::new("shop", Style::Page, 1, 8));
    let o = run_strict(&config(&server, |s| s["pagination"]["size"] = json!(50)));
    assert_eq!(pages_asked(&server), [1, 2]);
    assert_eq!(o.records.len(), 8);
    assert_eq!(warnings(o.only()), Vec::<String>::new());
    assert_eq!(o.exit_code(), 0);
}

/// A declared field whose path is in every item but null there (nothing
/// was deleted) is no "check its path": only a path absent from every
/// item is. So `--strict` passes a complete run with null fields.
#[test]
fn a_field_null_everywhere_is_no_warning_but_an_absent_one_is() {
    let schema = |fields: Value| {
        move |s: &mut Value| {
            s["record"] = json!({"id": "id", "fields": fields});
        }
    };
    let null_only = json!({
        "title": "attributes.title",
        "deleted_at": {"path": "attributes.deleted_at", "type": "timestamp"},
    });
    let server = serve(MockSource::new("articles", Style::JsonApi, 3, 5));
    let o = run_strict(&config(&server, schema(null_only.clone())));
    assert_whole(&o, &server, 3);
    assert!(
        o.records
            .iter()
            .all(|r| r["deleted_at"].is_null() && r["title"].is_string()),
        "{:?}",
        o.records.first()
    );

    let mut absent = null_only;
    absent["archived_at"] = json!("attributes.archived_at");
    let server = serve(MockSource::new("articles", Style::JsonApi, 3, 5));
    let with_absent = config(&server, schema(absent));
    let o = run(&with_absent);
    assert_eq!(o.records.len(), 15);
    assert_warned(
        &o,
        &with_absent,
        "field archived_at had no value in any of the 15 records: check its path",
    );
}

/// `ingest check` says the same on its one page: a pointer path missing
/// (with the page's keys) or null (the data ends here), no `Link` header
/// for `link_header`, the page size the server used against `size`, and a
/// declared field absent from every item apart from one null in each.
#[test]
fn check_shows_missing_and_null_paths_link_headers_and_the_page_size() {
    let scenario = Scenario::new(SEED)
        .with(MockSource::new("drf", Style::PageCount, 3, 4))
        .with(MockSource::new("one", Style::PageCount, 1, 4))
        .with(MockSource::new("articles", Style::JsonApi, 2, 3));
    let server = MockServer::start(scenario).unwrap();
    let source = |name: &str, on: &str, pagination: Value| {
        json!({"name": name, "url": server.source_url(on), "items_path": "results",
               "pagination": pagination, "record": {"id": "id"}})
    };
    let mut articles = source(
        "jsonapi",
        "articles",
        json!({"style": "next_url", "next_path": "next"}),
    );
    articles["items_path"] = json!("data");
    articles["record"] = json!({"id": "id", "fields": {
        "deleted_at": "attributes.deleted_at", "archived_at": "attributes.archived_at"}});
    let config = json!({"sources": [
        source("typo", "drf", json!({"style": "next_url", "next_path": "nxt"})),
        source("last", "one", json!({"style": "next_url", "next_path": "next"})),
        source("nolink", "drf", json!({"style": "link_header"})),
        source("sized", "drf", json!({"style": "page", "size_param": "page_size",
                                       "size": 50, "total_items_path": "count"})),
        articles,
    ]});
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("check.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let o = command(&["check", "--config"])
        .arg(&path)
        .current_dir(&dir.0)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    // Each source's block, from its name to the blank line after it.
    let block = |name: &str| {
        let start = out
            .find(&format!("{name}  http"))
            .unwrap_or_else(|| panic!("{out}"));
        let rest = &out[start..];
        rest[..rest.find("\n\n").unwrap_or(rest.len())].to_string()
    };
    let keys = "(top-level keys: count, next, previous, results)";
    for (name, lines) in [
        (
            "typo",
            vec![
                format!("  envelope   next_path `nxt`: not in the page {keys}"),
                "  next page  none: next_path `nxt` is not in the page".to_string(),
            ],
        ),
        (
            "last",
            vec![
                "  envelope   next_path `next`: null".to_string(),
                "  next page  none (next is null): the data ends with this page".to_string(),
            ],
        ),
        (
            "nolink",
            vec![
                format!("  envelope   link_header: no `Link` header in the answer {keys}"),
                "  next page  none: the answer carried no `Link` header".to_string(),
            ],
        ),
        (
            "sized",
            vec![
                "  envelope   total_items_path `count`: 12".to_string(),
                "  page size  the server sent 4 per page, asked for 50".to_string(),
            ],
        ),
        (
            "jsonapi",
            vec![
                format!(
                    "  envelope   next_path `next`: not in the page \
                     (top-level keys: data, links, meta)"
                ),
                "  absent     declared, but in no item: archived_at".to_string(),
                "  null       declared, and null in every item: deleted_at".to_string(),
            ],
        ),
    ] {
        let block = block(name);
        for line in lines {
            assert!(block.contains(&line), "{name}: no {line:?} in\n{block}");
        }
    }
    let written: Vec<_> = std::fs::read_dir(&dir.0).unwrap().collect();
    assert_eq!(written.len(), 1, "check writes nothing");
}
