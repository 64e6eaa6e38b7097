//! Config parsing, validation messages, redaction and the JSON round trip.
//!
//! Error tests assert the exact key path (the part a user acts on) and the
//! gist of the message, not every word of it.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;

const SPEC_EXAMPLE: &str = r#"{
  "sources": [
    {
      "name": "alpha",
      "url": "http://127.0.0.1:9001/products",
      "items_path": "data",
      "pagination": { "style": "page", "param": "page", "start": 1,
                      "size_param": "limit", "size": 50 },
      "fields": { "id": "sku", "price": "pricing.amount" },
      "headers": { "Accept": "application/json" }
    }
  ],
  "rate_limit": { "per_second": 5, "burst": 5 },
  "retry":      { "max_retries": 3, "base_delay_ms": 500, "max_delay_ms": 4000 },
  "breaker":    { "failure_threshold": 3, "cooldown_ms": 15000 },
  "timeouts":   { "connect_ms": 3000, "read_ms": 8000 },
  "queue_capacity": 100,
  "batch_size": 50,
  "deadline_ms": 60000,
  "max_pages": 10000,
  "max_failed_pages_in_a_row": 3,
  "max_body_bytes": 10485760
}"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse("cfg.json", text)
}

/// A minimal config whose only source gets `extra` merged in.
fn with_source(extra: Value) -> String {
    let mut source = json!({"name": "a", "url": "http://x/"});
    for (k, v) in extra.as_object().unwrap() {
        source[k] = v.clone();
    }
    json!({ "sources": [source] }).to_string()
}

/// A minimal config with `extra` merged in at the top level.
fn with_top(extra: Value) -> String {
    let mut top = json!({"sources": [{"name": "a", "url": "http://x/"}]});
    for (k, v) in extra.as_object().unwrap() {
        top[k] = v.clone();
    }
    top.to_string()
}

/// Asserts that `text` fails at `path` with a message containing `gist`.
#[track_caller]
fn assert_error(text: &str, path: &str, gist: &str) {
    let message = match parse(text) {
        Ok(config) => panic!("expected an error at {path}, got {config:#?}"),
        Err(e) => e.0,
    };
    let prefix = format!("cfg.json: {path}: ");
    assert!(
        message.starts_with(&prefix) && message.contains(gist),
        "\nexpected: {prefix}…{gist}…\n     got: {message}"
    );
    assert!(!message.contains('\n'), "not one line: {message}");
}

fn dot(text: &str) -> DotPath {
    text.parse().unwrap()
}

/// A path as the config wrote it.
fn shown(path: &Option<DotPath>) -> Option<String> {
    path.as_ref().map(DotPath::to_string)
}

fn source(text: &str) -> SourceConfig {
    parse(text).unwrap().sources.remove(0)
}

#[test]
fn spec_example_parses_to_its_values() {
    let config = parse(SPEC_EXAMPLE).unwrap();
    let expected = Config {
        sources: vec![SourceConfig {
            name: "alpha".into(),
            url: "http://127.0.0.1:9001/products".into(),
            items_path: Some(dot("data")),
            pagination: Pagination::Page {
                param: "page".into(),
                start: 1,
                size: Some(("limit".into(), 50)),
                total_pages_path: None,
            },
            fields: FieldPaths {
                id: Some(dot("sku")),
                price: Some(dot("pricing.amount")),
                ..FieldPaths::default()
            },
            headers: vec![Header {
                name: "Accept".into(),
                value: "application/json".into(),
                secret: false,
            }],
        }],
        ..Config::default()
    };
    assert_eq!(config, expected);
}

#[test]
fn minimal_config_gets_every_default() {
    let config = parse(r#"{"sources":[{"name":"a","url":"http://x/"}]}"#).unwrap();
    let expected = Config {
        sources: vec![SourceConfig {
            name: "a".into(),
            url: "http://x/".into(),
            items_path: None,
            pagination: Pagination::None,
            fields: FieldPaths::default(),
            headers: vec![],
        }],
        ..Config::default()
    };
    assert_eq!(config, expected);
    assert_eq!(config.rate_limit.per_second, 5.0);
    assert_eq!(config.retry.max_delay, Duration::from_millis(4000));
    assert_eq!(config.max_body_bytes, 10_485_760);
}

#[test]
fn pagination_defaults_per_style() {
    let style = |p: Value| source(&with_source(json!({ "pagination": p }))).pagination;
    assert_eq!(
        style(json!({"style": "page"})),
        Pagination::Page {
            param: "page".into(),
            start: 1,
            size: None,
            total_pages_path: None
        }
    );
    assert_eq!(
        style(
            json!({"style": "offset", "limit_param": "n", "limit": 20, "total_path": "meta.total"})
        ),
        Pagination::Offset {
            offset_param: "offset".into(),
            start: 0,
            limit: Some(("n".into(), 20)),
            total_path: Some(dot("meta.total"))
        }
    );
    assert_eq!(
        style(json!({"style": "cursor", "cursor_path": "meta.next"})),
        Pagination::Cursor {
            cursor_path: dot("meta.next"),
            param: "cursor".into()
        }
    );
    assert_eq!(
        style(json!({"style": "next_url"})),
        Pagination::NextUrl {
            next_path: dot("next")
        }
    );
    assert_eq!(
        style(json!({"style": "link_header"})),
        Pagination::LinkHeader
    );
    assert_eq!(style(json!({"style": "none"})), Pagination::None);
    assert_eq!(
        style(json!({"style": "page", "start": 0})),
        Pagination::Page {
            param: "page".into(),
            start: 0,
            size: None,
            total_pages_path: None
        }
    );
}

#[test]
fn integral_floats_are_integers_fractions_are_not() {
    let config = parse(&with_top(
        json!({"batch_size": 5.0, "rate_limit": {"per_second": 0.5}}),
    ))
    .unwrap();
    assert_eq!(config.batch_size, 5);
    assert_eq!(config.rate_limit.per_second, 0.5);
    assert_error(
        &with_top(json!({"batch_size": 5.5})),
        "batch_size",
        "expected an integer from 1 to 100000, found 5.5",
    );
}

// ---- error classes ----------------------------------------------------

#[test]
fn invalid_json_names_line_and_column() {
    let message = parse("{\"sources\": [}").unwrap_err().0;
    assert!(
        message.starts_with("cfg.json: not valid JSON: ") && message.contains("line 1 column"),
        "{message}"
    );
}

#[test]
fn a_key_named_twice_is_an_error_wherever_it_is() {
    for (text, path) in [
        (
            r#"{"batch_size": 5, "batch_size": 6, "sources": [{"name": "a", "url": "http://x/"}]}"#,
            "batch_size",
        ),
        (
            r#"{"sources": [{"name": "a", "url": "http://x/"}, {"name": "a", "url": "http://x/", "name": "b"}]}"#,
            "sources[1].name",
        ),
        (
            r#"{"sources": [{"name": "a", "url": "http://x/", "headers": {"X A": "1", "X A": "2"}}]}"#,
            r#"sources[0].headers["X A"]"#,
        ),
    ] {
        let message = parse(text).unwrap_err().0;
        assert!(
            message.starts_with(&format!("cfg.json: {path}: duplicate key"))
                && message.contains("appear once")
                && message.contains("line 1 column"),
            "{message}"
        );
    }
    // A long key is shown cut, so a hostile file cannot make paths huge.
    let long = "k".repeat(10_000);
    let text = format!(r#"{{"{long}": {{"{long}": 1, "{long}": 2}}}}"#);
    let message = parse(&text).unwrap_err().0;
    assert!(message.len() < 300 && message.contains("…"), "{message}");
    // Numbers (parsed as their text) and nesting are not mistaken for keys.
    let text = r#"{"sources": [{"name": "a", "url": "http://x/", "fields": {"id": "a.b"}}],
        "retry": {"max_retries": 1, "base_delay_ms": 1e2, "max_delay_ms": 200}}"#;
    assert!(parse(text).is_ok(), "{:?}", parse(text).err());
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_json() {
    let text = "\u{feff}{\"sources\": [{\"name\": \"a\", \"url\": \"http://x/\"}]}";
    assert_eq!(source(text).name, "a");
}

#[test]
fn top_level_must_be_an_object() {
    assert_error(
        "[]",
        "top level",
        "expected an object, found an empty array",
    );
    assert_error("5", "top level", "expected an object, found 5");
}

#[test]
fn sources_missing_empty_or_wrong() {
    assert_error("{}", "sources", "found nothing (the key is required)");
    assert_error(
        r#"{"sources": []}"#,
        "sources",
        "expected at least one source, found an empty array",
    );
    assert_error(
        r#"{"sources": {}}"#,
        "sources",
        "expected a non-empty array of sources",
    );
    assert_error(
        r#"{"sources": [5]}"#,
        "sources[0]",
        "expected an object, found 5",
    );
}

#[test]
fn unknown_keys_at_every_level() {
    assert_error(
        &with_top(json!({"rate_limit": {"per_stcond": 5}})),
        "rate_limit.per_stcond",
        "unknown key (expected one of per_second, burst)",
    );
    assert_error(
        &with_top(json!({"sourcez": []})),
        "sourcez",
        "unknown key (expected one of sources,",
    );
    assert_error(
        &with_source(json!({"item_path": "x"})),
        "sources[0].item_path",
        "unknown key",
    );
    assert_error(
        &with_source(json!({"fields": {"sku": "x"}})),
        "sources[0].fields.sku",
        "unknown key (expected one of id, name, price, currency, category)",
    );
    assert_error(
        &with_top(json!({"retry": {"retries": 1}})),
        "retry.retries",
        "unknown key",
    );
    assert_error(
        &with_top(json!({"breaker": {"cooldown": 1}})),
        "breaker.cooldown",
        "unknown key",
    );
    assert_error(
        &with_top(json!({"timeouts": {"write_ms": 1}})),
        "timeouts.write_ms",
        "unknown key",
    );
    assert_error(
        &with_source(json!({"pagination": {"style": "page", "pagesize": 3}})),
        "sources[0].pagination.pagesize",
        "unknown key for style page",
    );
}

#[test]
fn a_key_of_another_style_is_unknown() {
    assert_error(
        &with_source(json!({"pagination": {"style": "page", "cursor_path": "next"}})),
        "sources[0].pagination.cursor_path",
        "unknown key for style page (expected one of style, param, start, size_param, size, total_pages_path; it belongs to style cursor)",
    );
    assert_error(
        &with_source(json!({"pagination": {"style": "cursor", "cursor_path": "c", "start": 1}})),
        "sources[0].pagination.start",
        "it belongs to style page, offset",
    );
    assert_error(
        &with_source(json!({"pagination": {"style": "link_header", "next_path": "n"}})),
        "sources[0].pagination.next_path",
        "expected no other keys; it belongs to style next_url",
    );
}

#[test]
fn styles_unknown_missing_or_incomplete() {
    assert_error(
        &with_source(json!({"pagination": {"style": "pages"}})),
        "sources[0].pagination.style",
        "unknown style \"pages\" (expected one of page, offset, cursor, next_url, link_header, none)",
    );
    assert_error(
        &with_source(json!({"pagination": {"param": "p"}})),
        "sources[0].pagination.style",
        "found nothing (the key is required)",
    );
    assert_error(
        &with_source(json!({"pagination": {"style": 1}})),
        "sources[0].pagination.style",
        "found 1",
    );
    assert_error(
        &with_source(json!({"pagination": "page"})),
        "sources[0].pagination",
        "expected an object, found \"page\"",
    );
    assert_error(
        &with_source(json!({"pagination": {"style": "cursor"}})),
        "sources[0].pagination.cursor_path",
        "style cursor requires it), found nothing",
    );
}

#[test]
fn wrong_types_show_what_was_found() {
    assert_error(
        &with_source(json!({"pagination": {"style": "cursor", "cursor_path": 5}})),
        "sources[0].pagination.cursor_path",
        "expected a dot path like \"pricing.amount\", found 5",
    );
    assert_error(
        &with_top(json!({"rate_limit": {"per_second": "5"}})),
        "rate_limit.per_second",
        "expected a number > 0, found \"5\"",
    );
    assert_error(
        &with_top(json!({"queue_capacity": true})),
        "queue_capacity",
        "found true",
    );
    assert_error(
        &with_top(json!({"retry": []})),
        "retry",
        "expected an object, found an empty array",
    );
    assert_error(
        &with_top(json!({"max_pages": null})),
        "max_pages",
        "found null",
    );
    assert_error(
        &with_source(json!({"pagination": {"style": "page", "param": ""}})),
        "sources[0].pagination.param",
        "expected a non-empty string",
    );
    let long = "x".repeat(200);
    let message = parse(&with_top(json!({"deadline_ms": long})))
        .unwrap_err()
        .0;
    assert!(message.len() < 120 && message.ends_with("…\""), "{message}");
}

#[test]
fn values_out_of_range() {
    assert_error(
        &with_top(json!({"rate_limit": {"per_second": 0}})),
        "rate_limit.per_second",
        "expected a number > 0, found 0",
    );
    assert_error(
        &with_top(json!({"rate_limit": {"per_second": -1.5}})),
        "rate_limit.per_second",
        "found -1.5",
    );
    for key in [
        "queue_capacity",
        "batch_size",
        "max_pages",
        "max_failed_pages_in_a_row",
        "max_body_bytes",
        "deadline_ms",
    ] {
        assert_error(&with_top(json!({ key: 0 })), key, "expected an integer");
    }
    assert_error(
        &with_top(json!({"queue_capacity": 1_000_000_000_000u64})),
        "queue_capacity",
        "expected an integer from 1 to 1000000",
    );
    assert_error(
        &with_top(json!({"batch_size": 1_000_000_000_000u64})),
        "batch_size",
        "expected an integer from 1 to 100000",
    );
    assert_error(
        &with_top(json!({"rate_limit": {"burst": 0}})),
        "rate_limit.burst",
        "expected an integer >= 1, found 0",
    );
    assert_error(
        &with_top(json!({"breaker": {"failure_threshold": 0}})),
        "breaker.failure_threshold",
        "found 0",
    );
    assert_error(
        &with_top(json!({"breaker": {"cooldown_ms": 0}})),
        "breaker.cooldown_ms",
        "found 0",
    );
    assert_error(
        &with_top(json!({"timeouts": {"connect_ms": 0}})),
        "timeouts.connect_ms",
        "found 0",
    );
    assert_error(
        &with_top(json!({"timeouts": {"read_ms": -5}})),
        "timeouts.read_ms",
        "found -5",
    );
    assert_error(
        &with_top(json!({"retry": {"max_retries": -1}})),
        "retry.max_retries",
        "expected an integer from 0 to 4294967295, found -1",
    );
    assert_error(
        &with_top(json!({"retry": {"max_retries": 5_000_000_000u64}})),
        "retry.max_retries",
        "from 0 to 4294967295",
    );
    assert_error(
        &with_source(json!({"pagination": {"style": "page", "start": -1}})),
        "sources[0].pagination.start",
        "expected an integer from 0 to 9007199254740991, found -1",
    );
    assert_error(
        &with_source(json!({"pagination": {"style": "page", "size_param": "n", "size": 0}})),
        "sources[0].pagination.size",
        "found 0",
    );
    assert_eq!(
        parse(&with_top(json!({"retry": {"max_retries": 0}})))
            .unwrap()
            .retry
            .max_retries,
        0
    );
}

#[test]
fn max_delay_is_checked_against_effective_base_delay() {
    assert_error(
        &with_top(json!({"retry": {"base_delay_ms": 100, "max_delay_ms": 50}})),
        "retry.max_delay_ms",
        "expected a value >= base_delay_ms (100), found 50",
    );
    assert_error(
        &with_top(json!({"retry": {"base_delay_ms": 5000}})),
        "retry.base_delay_ms",
        "expected a value <= max_delay_ms (4000, the default), found 5000",
    );
    assert_error(
        &with_top(json!({"retry": {"max_delay_ms": 100}})),
        "retry.max_delay_ms",
        "expected a value >= base_delay_ms (500, the default), found 100",
    );
    let equal = parse(&with_top(
        json!({"retry": {"base_delay_ms": 700, "max_delay_ms": 700}}),
    ))
    .unwrap();
    assert_eq!(equal.retry.max_delay, Duration::from_millis(700));
}

#[test]
fn duplicate_source_name() {
    let text = json!({"sources": [
        {"name": "alpha", "url": "http://x/"},
        {"name": "beta", "url": "http://x/"},
        {"name": "alpha", "url": "http://y/"},
    ]});
    assert_error(
        &text.to_string(),
        "sources[2].name",
        "duplicate source name \"alpha\" (first at sources[0])",
    );
}

#[test]
fn source_names_are_restricted() {
    for bad in [json!("a b"), json!(""), json!("a/b"), json!("é"), json!(5)] {
        let text = json!({"sources": [{"name": bad, "url": "http://x/"}]}).to_string();
        assert_error(
            &text,
            "sources[0].name",
            "expected a name made of A-Z a-z 0-9 _ . -",
        );
    }
    assert_error(
        r#"{"sources":[{"url":"http://x/"}]}"#,
        "sources[0].name",
        "found nothing (the key is required)",
    );
    assert_eq!(
        source(r#"{"sources":[{"name":"A-z_0.9","url":"http://x/"}]}"#).name,
        "A-z_0.9"
    );
}

#[test]
fn urls_must_be_http_with_a_host() {
    let expected = "expected an http:// or https:// URL";
    for bad in [
        "ftp://x/",
        "x/products",
        "http://",
        "http:///path",
        "http://:80/",
        "http://x y/",
        "http://x/ ",
        "HTTP://x/",
        "http://x:8o/",
        "http://x:65536/",
        "http://x:0/",
        "http://x:99999/",
        "http://x:+80/",
        "http://[::1/",
        "",
        "http://x/\n",
    ] {
        let text = json!({"sources": [{"name": "a", "url": bad}]}).to_string();
        assert_error(&text, "sources[0].url", expected);
    }
    assert_error(
        r#"{"sources":[{"name":"a","url":5}]}"#,
        "sources[0].url",
        "found 5",
    );
    assert_error(
        r#"{"sources":[{"name":"a"}]}"#,
        "sources[0].url",
        "found nothing",
    );
    for good in [
        "http://x",
        "https://x.example:8443/a?b=c#d",
        "http://u:p@x/",
        "http://[::1]:9/",
        "http://127.0.0.1:9001/products",
        "http://x:65535/",
        "http://x:/",
    ] {
        let text = json!({"sources": [{"name": "a", "url": good}]}).to_string();
        assert_eq!(source(&text).url, good);
    }
    let text = json!({"sources": [{"name": "a", "url": "http://x/café"}]}).to_string();
    assert_eq!(source(&text).url, "http://x/caf%C3%A9", "sent as ASCII");
    // A rejected URL is shown redacted.
    let text = json!({"sources": [{"name": "a", "url": "ftp://x/?api_key=hunter2"}]}).to_string();
    let message = parse(&text).unwrap_err().0;
    assert!(
        message.contains("api_key=***") && !message.contains("hunter2"),
        "{message}"
    );
}

#[test]
fn size_and_limit_go_with_their_params() {
    let p = |v: Value| with_source(json!({ "pagination": v }));
    assert_error(
        &p(json!({"style": "page", "size_param": "n"})),
        "sources[0].pagination.size_param",
        "expected size alongside size_param",
    );
    assert_error(
        &p(json!({"style": "page", "size": 10})),
        "sources[0].pagination.size",
        "expected size_param alongside size",
    );
    assert_error(
        &p(json!({"style": "offset", "limit_param": "n"})),
        "sources[0].pagination.limit_param",
        "expected limit alongside limit_param",
    );
    assert_error(
        &p(json!({"style": "offset", "limit": 10})),
        "sources[0].pagination.limit",
        "expected limit_param alongside limit",
    );
    // One query parameter cannot carry both the position and the size.
    assert_error(
        &p(json!({"style": "page", "param": "p", "size_param": "p", "size": 5})),
        "sources[0].pagination.size_param",
        "expected a parameter name other than param's, found \"p\" for both",
    );
    assert_error(
        &p(json!({"style": "offset", "limit_param": "offset", "limit": 5})),
        "sources[0].pagination.limit_param",
        "other than offset_param's",
    );
}

#[test]
fn starts_are_integers_json_keeps_exactly() {
    let p = |v: Value| with_source(json!({ "pagination": v }));
    for style in ["page", "offset"] {
        assert_error(
            &p(json!({"style": style, "start": 9_007_199_254_740_992_u64})),
            "sources[0].pagination.start",
            "9007199254740991",
        );
        assert!(parse(&p(
            json!({"style": style, "start": 9_007_199_254_740_991_u64})
        ))
        .is_ok());
    }
}

#[test]
fn fields_are_dot_paths() {
    assert_error(
        &with_source(json!({"fields": {"id": 5}})),
        "sources[0].fields.id",
        "expected a dot path",
    );
    assert_error(
        &with_source(json!({"fields": {"price": ""}})),
        "sources[0].fields.price",
        "expected a dot path",
    );
    assert_error(
        &with_source(json!({"fields": {"price": "a..b"}})),
        "sources[0].fields.price",
        "found \"a..b\"",
    );
    assert_error(
        &with_source(json!({"fields": ["id"]})),
        "sources[0].fields",
        "expected an object, found an array",
    );
    let fields = source(&with_source(
        json!({"fields": {"currency": "p.cur", "category": "cat.name", "name": "title"}}),
    ))
    .fields;
    assert_eq!(shown(&fields.currency).as_deref(), Some("p.cur"));
    assert_eq!(shown(&fields.category).as_deref(), Some("cat.name"));
    assert_eq!(shown(&fields.name).as_deref(), Some("title"));
}

#[test]
fn items_path_is_a_non_empty_dot_path() {
    assert_error(
        &with_source(json!({"items_path": ""})),
        "sources[0].items_path",
        "expected a dot path like \"pricing.amount\", found \"\"",
    );
    assert_error(
        &with_source(json!({"items_path": 3})),
        "sources[0].items_path",
        "found 3",
    );
    let items_path = source(&with_source(json!({"items_path": "a.b"}))).items_path;
    assert_eq!(shown(&items_path).as_deref(), Some("a.b"));
}

#[test]
fn headers_are_an_object_of_strings() {
    assert_error(
        &with_source(json!({"headers": ["Accept"]})),
        "sources[0].headers",
        "expected an object of header names to string values, found an array",
    );
    assert_error(
        &with_source(json!({"headers": {"X-Page": 5}})),
        "sources[0].headers.X-Page",
        "expected a string, found 5",
    );
    assert_error(
        &with_source(json!({"headers": {"Bad Name": "v"}})),
        "sources[0].headers[\"Bad Name\"]",
        "expected a header name",
    );
    assert_error(
        &with_source(json!({"headers": {"X-A": "a\r\nX-B: b"}})),
        "sources[0].headers.X-A",
        "without control characters",
    );
    assert_error(
        &with_source(json!({"headers": {"Accept": "a", "accept": "b"}})),
        "sources[0].headers.accept",
        "duplicate header name (names are case-insensitive; also sources[0].headers.Accept)",
    );
    for framing in ["Content-Length", "transfer-encoding"] {
        assert_error(
            &with_source(json!({ "headers": { framing: "5" } })),
            &format!("sources[0].headers.{framing}"),
            "expected a header ingest may send",
        );
    }
}

#[test]
fn secret_header_values_never_appear_in_errors() {
    let text = with_source(json!({"headers": {"X-Api-Key": 12345678}}));
    assert_error(
        &text,
        "sources[0].headers.X-Api-Key",
        "expected a string, found a number",
    );
    assert!(!parse(&text).unwrap_err().0.contains("12345678"));
    let text = with_source(json!({"headers": {"Authorization": "Bearer s3cr3t\n"}}));
    assert!(!parse(&text).unwrap_err().0.contains("s3cr3t"));
}

#[test]
fn env_values_are_read_at_load_time() {
    std::env::set_var("INGEST_CFG_TEST_ENV_READ", "Bearer abc");
    let headers = source(&with_source(json!({"headers": {
        "Authorization": "env:INGEST_CFG_TEST_ENV_READ",
        "X-Trace": "env:INGEST_CFG_TEST_ENV_READ",
        "Accept": "application/json",
        "X-Api-Key": "literal"
    }})))
    .headers;
    let by_name = |n: &str| headers.iter().find(|h| h.name == n).unwrap().clone();
    assert_eq!(by_name("Authorization").value, "Bearer abc");
    assert!(by_name("Authorization").secret);
    assert_eq!(by_name("X-Trace").value, "Bearer abc");
    assert!(
        by_name("X-Trace").secret,
        "env: values are secret whatever the name"
    );
    assert!(!by_name("Accept").secret);
    assert!(by_name("X-Api-Key").secret, "secret by name");
    assert_eq!(format!("{:?}", by_name("X-Api-Key")), "X-Api-Key: ***");
}

#[test]
fn missing_env_variable_is_named() {
    assert_error(
        &with_source(
            json!({"headers": {"Authorization": "env:INGEST_CFG_TEST_SURELY_UNSET_7F3A"}}),
        ),
        "sources[0].headers.Authorization",
        "environment variable INGEST_CFG_TEST_SURELY_UNSET_7F3A is not set",
    );
    std::env::set_var("INGEST_CFG_TEST_ENV_EMPTY", " ");
    assert_error(
        &with_source(json!({"headers": {"Authorization": "env:INGEST_CFG_TEST_ENV_EMPTY"}})),
        "sources[0].headers.Authorization",
        "environment variable INGEST_CFG_TEST_ENV_EMPTY is empty",
    );
    assert_error(
        &with_source(json!({"headers": {"X-A": "env:"}})),
        "sources[0].headers.X-A",
        "expected env:NAME",
    );
    assert_error(
        &with_source(json!({"headers": {"X-A": "env:A=B"}})),
        "sources[0].headers.X-A",
        "expected env:NAME",
    );
}

#[test]
fn env_value_with_newline_is_rejected_without_echo() {
    std::env::set_var("INGEST_CFG_TEST_ENV_NEWLINE", "tok\nen");
    let text = with_source(json!({"headers": {"X-A": "env:INGEST_CFG_TEST_ENV_NEWLINE"}}));
    assert_error(
        &text,
        "sources[0].headers.X-A",
        "found an environment variable value with one",
    );
}

// ---- redaction --------------------------------------------------------

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
    for (url, want) in cases {
        assert_eq!(redact_url(url), want, "redact_url({url:?})");
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
    for (url, want) in cases {
        assert_eq!(shown_url(url), want, "shown_url({url:?})");
    }
}

#[test]
fn registered_secret_values_are_hidden_wherever_a_server_echoes_them() {
    std::env::set_var("INGEST_CFG_TEST_ECHOED", "Bearer echo-me-9f2");
    let config = parse(&with_source(json!({"headers": {
        "Authorization": "env:INGEST_CFG_TEST_ECHOED",
    }})))
    .unwrap();
    register_secrets(&config);
    assert_eq!(
        redact_url("http://x/p2?sig=echo-me-9f2&page=2"),
        "http://x/p2?sig=***&page=2"
    );
    assert_eq!(
        redact_url("http://x/p2?auth=Bearer%20echo-me-9f2"),
        "http://x/p2?auth=***"
    );
    let config = source_config("http://u:pass-w0rd-7@x/a?api_key=query-s3cret&page=1");
    register_secrets(&config);
    assert_eq!(
        redact_url("http://x/b?next=query-s3cret&p=pass-w0rd-7&page=2"),
        "http://x/b?next=***&p=***&page=2"
    );
    // Encoded another way (lower-case hex, `+` for a space): the rest of
    // the URL after the host is hidden.
    assert_eq!(
        redact_url("http://h:1/p?auth=Bearer+echo%2dme%2d9f2&page=2"),
        "http://h:1/***"
    );
    // A secret inside a longer one, registered first, hides the whole
    // longer one.
    register_secrets(&source_config("http://x/a?token=inner-9a8b"));
    register_secrets(&source_config("http://x/a?token=inner-9a8b-and-more"));
    assert_eq!(
        redact_url("http://x/b?n=inner-9a8b-and-more"),
        "http://x/b?n=***"
    );
}

fn source_config(url: &str) -> Config {
    parse(&json!({"sources": [{"name": "a", "url": url}]}).to_string()).unwrap()
}

#[test]
fn redacted_json_hides_secrets() {
    std::env::set_var("INGEST_CFG_TEST_REDACT", "from-env");
    let config = parse(&with_source(json!({
        "url": "https://api.example/items?api_key=hunter2&page=1",
        "headers": {
            "Authorization": "Bearer literal-secret",
            "X-Tenant": "env:INGEST_CFG_TEST_REDACT",
            "Accept": "application/json"
        }
    })))
    .unwrap();
    let shown = config.to_redacted_json();
    let source = &shown["sources"][0];
    assert_eq!(
        source["url"],
        "https://api.example/items?api_key=***&page=1"
    );
    assert_eq!(
        source["headers"],
        json!({"Authorization": "***", "X-Tenant": "***", "Accept": "application/json"})
    );
    let text = shown.to_string();
    for secret in ["hunter2", "literal-secret", "from-env"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn redacted_json_of_defaults_is_complete() {
    let shown = parse(r#"{"sources":[{"name":"a","url":"http://x/"}]}"#)
        .unwrap()
        .to_redacted_json();
    let expected = json!({
        "sources": [{"name": "a", "url": "http://x/", "pagination": {"style": "none"}, "fields": {}, "headers": {}}],
        "rate_limit": {"per_second": 5.0, "burst": 5},
        "retry": {"max_retries": 3, "base_delay_ms": 500, "max_delay_ms": 4000},
        "breaker": {"failure_threshold": 3, "cooldown_ms": 15000},
        "timeouts": {"connect_ms": 3000, "read_ms": 8000},
        "queue_capacity": 100,
        "batch_size": 50,
        "deadline_ms": 60000,
        "max_pages": 10000,
        "max_failed_pages_in_a_row": 3,
        "max_body_bytes": 10485760
    });
    assert_eq!(
        shown, expected,
        "\nexpected: {expected:#}\n     got: {shown:#}"
    );
}

#[track_caller]
fn assert_round_trip(config: &Config) {
    let text = config.to_redacted_json().to_string();
    let again = Config::parse("summary.json", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(&again, config, "\nJSON: {text}");
}

#[test]
fn round_trip_of_every_style() {
    assert_round_trip(&parse(SPEC_EXAMPLE).unwrap());
    let text = json!({
        "sources": [
            {"name": "p", "url": "http://x/", "items_path": "a.b",
             "pagination": {"style": "page", "param": "pg", "start": 0, "total_pages_path": "meta.pages"}},
            {"name": "o", "url": "http://x/?q=1#f",
             "pagination": {"style": "offset", "offset_param": "skip", "start": 10, "limit_param": "take", "limit": 25, "total_path": "total"},
             "fields": {"id": "sku", "name": "title", "price": "p.amount", "currency": "p.cur", "category": "c.name"}},
            {"name": "c", "url": "https://x/", "pagination": {"style": "cursor", "cursor_path": "meta.next", "param": "after"}},
            {"name": "n", "url": "https://x/", "pagination": {"style": "next_url", "next_path": "links.next"}},
            {"name": "l", "url": "https://x/", "pagination": {"style": "link_header"}, "headers": {"Accept": "*/*", "X-B": ""}},
        ],
        "rate_limit": {"per_second": 0.25, "burst": 1},
        "retry": {"max_retries": 0, "base_delay_ms": 1, "max_delay_ms": 1},
        "breaker": {"failure_threshold": 1, "cooldown_ms": 1},
        "timeouts": {"connect_ms": 1, "read_ms": 2},
        "queue_capacity": 1, "batch_size": 1, "deadline_ms": 1,
        "max_pages": 1, "max_failed_pages_in_a_row": 1, "max_body_bytes": 1
    });
    assert_round_trip(&parse(&text.to_string()).unwrap());
}

proptest! {
    #![proptest_config(crate::testing::proptest_config())]

    #[test]
    fn round_trip_of_any_numbers(
        // Decimal rates as people write them; serde_json (without
        // `float_roundtrip`) may be one ulp off on 17-digit numbers.
        per_second_milli in 1u64..1_000_000_000,
        burst in 1u64..u64::MAX,
        max_retries in 0u32..=u32::MAX,
        base in 1u64..1_000_000,
        extra in 0u64..1_000_000,
        threshold in 1u32..=u32::MAX,
        start in 0u64..=(1u64 << 53) - 1,
        size in proptest::option::of(1u64..u64::MAX),
        big in 1u64..u64::MAX,
    ) {
        let mut config = parse(r#"{"sources":[{"name":"a","url":"http://x/"}]}"#).unwrap();
        let per_second = per_second_milli as f64 / 1000.0;
        config.rate_limit = RateLimit { per_second, burst };
        config.retry = RetryPolicy {
            max_retries,
            base_delay: Duration::from_millis(base),
            max_delay: Duration::from_millis(base + extra),
        };
        config.breaker.failure_threshold = threshold;
        config.deadline = Duration::from_millis(big);
        config.max_pages = big;
        config.max_body_bytes = big;
        config.sources[0].pagination = Pagination::Page {
            param: "page".into(),
            start,
            size: size.map(|n| ("per_page".to_string(), n)),
            total_pages_path: None,
        };
        assert_round_trip(&config);
    }
}
