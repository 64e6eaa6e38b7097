//! Config parsing, validation messages, redaction and the JSON round trip.
//!
//! Error tests assert the exact key path (the part a user acts on) and the
//! gist of the message, not every word of it: one row each in `ERRORS`,
//! checked by one test that names every row that fails.

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::record::coerce::FieldType;
use crate::record::schema::{
    FieldSpec, Lookup, ProductField, RecordSchema, Rest, ValueType, MAX_FIELDS,
};

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

/// A dot path, or an envelope path in the body, as the place wants.
fn dot<P: std::str::FromStr>(text: &str) -> P
where
    P::Err: std::fmt::Debug,
{
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
                total_items_path: None,
                has_more_path: None,
            },
            fields: FieldPaths {
                id: Some(dot("sku")),
                price: Some(dot("pricing.amount")),
                ..FieldPaths::default()
            },
            record: RecordSchema::product(&FieldPaths {
                id: Some(dot("sku")),
                price: Some(dot("pricing.amount")),
                ..FieldPaths::default()
            }),
            keep_rejected: false,
            headers: vec![Header {
                name: "Accept".into(),
                value: "application/json".into(),
                secret: false,
            }],
            query: vec![],
            policies: Policies::default(),
            incremental: None,
            auth: None,
            method: Method::Get,
            body: None,
            on_response: vec![],
            params_in_body: false,
            graphql: false,
            item_path: None,
            rate_limit_group: None,
            partitions: None,
            emit: true,
        }],
        // The example sets `deadline_ms` (to its default).
        deadline_from: DeadlineFrom::Config,
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
            record: RecordSchema::product(&FieldPaths::default()),
            keep_rejected: false,
            headers: vec![],
            query: vec![],
            policies: Policies::default(),
            incremental: None,
            auth: None,
            method: Method::Get,
            body: None,
            on_response: vec![],
            params_in_body: false,
            graphql: false,
            item_path: None,
            rate_limit_group: None,
            partitions: None,
            emit: true,
        }],
        ..Config::default()
    };
    assert_eq!(config, expected);
    assert_eq!(config.policies.rate_limit.per_second, 5.0);
    assert_eq!(config.policies.retry.max_delay, Duration::from_millis(4000));
    assert_eq!(config.policies.max_body_bytes, 10_485_760);
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
            total_pages_path: None,
            total_items_path: None,
            has_more_path: None
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
            total_path: Some(dot("meta.total")),
            has_more_path: None
        }
    );
    assert_eq!(
        style(json!({"style": "cursor", "cursor_path": "meta.next"})),
        Pagination::Cursor {
            from: crate::config::CursorFrom::Body(dot("meta.next")),
            param: "cursor".into(),
            has_more_path: None,
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
            total_pages_path: None,
            total_items_path: None,
            has_more_path: None
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
    assert_eq!(config.policies.rate_limit.per_second, 0.5);
    // A fraction is refused: see `ERRORS`.
}

// ---- error classes ----------------------------------------------------

/// What a row of [`ERRORS`] writes its JSON as.
#[derive(Debug, Clone, Copy)]
enum Base {
    /// The whole config file, as it is.
    File,
    /// Merged into the top level of a one-source config ([`with_top`]).
    Top,
    /// Merged into that one source ([`with_source`]).
    Source,
    /// That one source's `pagination`.
    Paging,
}

use Base::{File, Paging, Source, Top};

const BAD_NAME: &str = "expected a name made of A-Z a-z 0-9 _ . -";
const BAD_URL: &str = "expected an http:// or https:// URL";

/// Every config error, one row each: how the config is written, the key
/// path the error must start with, and the gist its message must contain.
#[rustfmt::skip]
const ERRORS: &[(Base, &str, &str, &str)] = &[
    // A fraction is not an integer.
    (Top, r#"{"batch_size": 5.5}"#,
        "batch_size", "expected an integer from 1 to 100000, found 5.5"),
    // The top level must be an object.
    (File, "[]", "top level", "expected an object, found an empty array"),
    (File, "5", "top level", "expected an object, found 5"),
    // Sources missing, empty or wrong.
    (File, "{}", "sources", "found nothing (the key is required)"),
    (File, r#"{"sources": []}"#, "sources", "expected at least one source, found an empty array"),
    (File, r#"{"sources": {}}"#, "sources", "expected a non-empty array of sources"),
    (File, r#"{"sources": [5]}"#, "sources[0]", "expected an object, found 5"),
    // Unknown keys at every level.
    (Top, r#"{"rate_limit": {"per_stcond": 5}}"#,
        "rate_limit.per_stcond", "unknown key (expected one of per_second, burst)"),
    (Top, r#"{"sourcez": []}"#, "sourcez", "unknown key (expected one of sources,"),
    (Source, r#"{"item_path": "x"}"#, "sources[0].item_path", "unknown key"),
    (Source, r#"{"recrod": "product"}"#, "sources[0].recrod",
        "unknown key (expected one of name, url, items_path, unwrap, pagination, fields, record, \
         keep_rejected, headers, query, incremental, auth, method, body, on_response, graphql, \
         rate_limit_group, parent, partitions, emit, rate_limit, retry, breaker, timeouts, max_pages, max_failed_pages_in_a_row, \
         max_body_bytes, concurrency)"),
    (Top, r#"{"keep_rejectd": true}"#, "keep_rejectd",
        "unknown key (expected one of sources, record, keep_rejected, auth, on_response, \
         queue_capacity, batch_size, deadline_ms, rate_limit_groups, rate_limit,"),
    (Source, r#"{"fields": {"sku": "x"}}"#, "sources[0].fields.sku",
        "unknown key (expected one of id, name, price, currency, category)"),
    (Top, r#"{"retry": {"retries": 1}}"#, "retry.retries", "unknown key"),
    (Top, r#"{"breaker": {"cooldown": 1}}"#, "breaker.cooldown", "unknown key"),
    (Top, r#"{"timeouts": {"write_ms": 1}}"#, "timeouts.write_ms", "unknown key"),
    (Paging, r#"{"style": "page", "pagesize": 3}"#,
        "sources[0].pagination.pagesize", "unknown key for style page"),
    // A key of another style is unknown.
    (Paging, r#"{"style": "page", "cursor_path": "next"}"#,
        "sources[0].pagination.cursor_path",
        "unknown key for style page (expected one of style, param, start, size_param, size, \
         total_pages_path, total_items_path, has_more_path, in; it belongs to style cursor)"),
    (Paging, r#"{"style": "cursor", "cursor_path": "c", "start": 1}"#,
        "sources[0].pagination.start", "it belongs to style page, offset"),
    (Paging, r#"{"style": "link_header", "next_path": "n"}"#,
        "sources[0].pagination.next_path", "expected no other keys; it belongs to style next_url"),
    // Styles unknown, missing or incomplete.
    (Paging, r#"{"style": "pages"}"#, "sources[0].pagination.style",
        "unknown style \"pages\" (expected one of page, offset, cursor, next_url, link_header, \
         none)"),
    (Paging, r#"{"param": "p"}"#,
        "sources[0].pagination.style", "found nothing (the key is required)"),
    (Paging, r#"{"style": 1}"#, "sources[0].pagination.style", "found 1"),
    (Source, r#"{"pagination": "page"}"#,
        "sources[0].pagination", "expected an object, found \"page\""),
    (Paging, r#"{"style": "cursor"}"#,
        "sources[0].pagination.cursor_path", "found nothing (style cursor requires cursor_path, or last_item_path"),
    // Wrong types show what was found.
    (Paging, r#"{"style": "cursor", "cursor_path": 5}"#, "sources[0].pagination.cursor_path",
        "expected a dot path like \"meta.total\", or a response header like \"header:X-Total-Count\" \
         or \"header:X-Pagination.total\", found 5"),
    (Top, r#"{"rate_limit": {"per_second": "5"}}"#,
        "rate_limit.per_second", "expected a number > 0, found \"5\""),
    (Top, r#"{"queue_capacity": true}"#, "queue_capacity", "found true"),
    (Top, r#"{"retry": []}"#, "retry", "expected an object, found an empty array"),
    (Top, r#"{"max_pages": null}"#, "max_pages", "found null"),
    (Paging, r#"{"style": "page", "param": ""}"#,
        "sources[0].pagination.param", "expected a non-empty string"),
    // Values out of range.
    (Top, r#"{"rate_limit": {"per_second": 0}}"#,
        "rate_limit.per_second", "expected a number > 0, found 0"),
    (Top, r#"{"rate_limit": {"per_second": -1.5}}"#, "rate_limit.per_second", "found -1.5"),
    (Top, r#"{"queue_capacity": 0}"#, "queue_capacity", "expected an integer"),
    (Top, r#"{"batch_size": 0}"#, "batch_size", "expected an integer"),
    (Top, r#"{"max_pages": 0}"#, "max_pages", "expected an integer"),
    (Top, r#"{"max_failed_pages_in_a_row": 0}"#,
        "max_failed_pages_in_a_row", "expected an integer"),
    (Top, r#"{"max_body_bytes": 0}"#, "max_body_bytes", "expected an integer"),
    (Top, r#"{"deadline_ms": 0}"#, "deadline_ms", "expected an integer"),
    (Top, r#"{"queue_capacity": 1000000000000}"#,
        "queue_capacity", "expected an integer from 1 to 1000000"),
    (Top, r#"{"batch_size": 1000000000000}"#, "batch_size", "expected an integer from 1 to 100000"),
    (Top, r#"{"rate_limit": {"burst": 0}}"#,
        "rate_limit.burst", "expected an integer >= 1, found 0"),
    (Top, r#"{"breaker": {"failure_threshold": 0}}"#, "breaker.failure_threshold", "found 0"),
    (Top, r#"{"breaker": {"cooldown_ms": 0}}"#, "breaker.cooldown_ms", "found 0"),
    (Top, r#"{"timeouts": {"connect_ms": 0}}"#, "timeouts.connect_ms", "found 0"),
    (Top, r#"{"timeouts": {"read_ms": -5}}"#, "timeouts.read_ms", "found -5"),
    (Top, r#"{"retry": {"max_retries": -1}}"#,
        "retry.max_retries", "expected an integer from 0 to 4294967295, found -1"),
    (Top, r#"{"retry": {"max_retries": 5000000000}}"#, "retry.max_retries", "from 0 to 4294967295"),
    (Paging, r#"{"style": "page", "start": -1}"#,
        "sources[0].pagination.start", "expected an integer from 0 to 9007199254740991, found -1"),
    (Paging, r#"{"style": "page", "size_param": "n", "size": 0}"#,
        "sources[0].pagination.size", "found 0"),
    // Starts are integers JSON keeps exactly.
    (Paging, r#"{"style": "page", "start": 9007199254740992}"#,
        "sources[0].pagination.start", "9007199254740991"),
    (Paging, r#"{"style": "offset", "start": 9007199254740992}"#,
        "sources[0].pagination.start", "9007199254740991"),
    // max_delay_ms is checked against the effective base_delay_ms.
    (Top, r#"{"retry": {"base_delay_ms": 100, "max_delay_ms": 50}}"#,
        "retry.max_delay_ms", "expected a value >= base_delay_ms (100), found 50"),
    (Top, r#"{"retry": {"base_delay_ms": 5000}}"#,
        "retry.base_delay_ms", "expected a value <= max_delay_ms (4000, the default), found 5000"),
    (Top, r#"{"retry": {"max_delay_ms": 100}}"#,
        "retry.max_delay_ms", "expected a value >= base_delay_ms (500, the default), found 100"),
    // A duplicate source name.
    (File, r#"{"sources": [{"name": "alpha", "url": "http://x/"},
                           {"name": "beta", "url": "http://x/"},
                           {"name": "alpha", "url": "http://y/"}]}"#,
        "sources[2].name", "duplicate source name \"alpha\" (first at sources[0])"),
    // Source names are restricted.
    (Source, r#"{"name": "a b"}"#, "sources[0].name", BAD_NAME),
    (Source, r#"{"name": ""}"#, "sources[0].name", BAD_NAME),
    (Source, r#"{"name": "a/b"}"#, "sources[0].name", BAD_NAME),
    (Source, r#"{"name": "é"}"#, "sources[0].name", BAD_NAME),
    (Source, r#"{"name": 5}"#, "sources[0].name", BAD_NAME),
    (File, r#"{"sources":[{"url":"http://x/"}]}"#,
        "sources[0].name", "found nothing (the key is required)"),
    // URLs must be http(s) with a host.
    (Source, r#"{"url": "ftp://x/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "x/products"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http:///path"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://:80/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://x y/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://x/ "}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "HTTP://x/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://x:8o/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://x:65536/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://x:0/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://x:99999/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://x:+80/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://[::1/"}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": ""}"#, "sources[0].url", BAD_URL),
    (Source, r#"{"url": "http://x/\n"}"#, "sources[0].url", BAD_URL),
    (File, r#"{"sources":[{"name":"a","url":5}]}"#, "sources[0].url", "found 5"),
    (File, r#"{"sources":[{"name":"a"}]}"#, "sources[0].url", "found nothing"),
    // A size and a limit go with their params, and differ from the position's.
    (Paging, r#"{"style": "page", "size_param": "n"}"#,
        "sources[0].pagination.size_param", "expected size alongside size_param"),
    (Paging, r#"{"style": "page", "size": 10}"#,
        "sources[0].pagination.size", "expected size_param alongside size"),
    (Paging, r#"{"style": "offset", "limit_param": "n"}"#,
        "sources[0].pagination.limit_param", "expected limit alongside limit_param"),
    (Paging, r#"{"style": "offset", "limit": 10}"#,
        "sources[0].pagination.limit", "expected limit_param alongside limit"),
    (Paging, r#"{"style": "page", "param": "p", "size_param": "p", "size": 5}"#,
        "sources[0].pagination.size_param",
        "expected a parameter name other than param's, found \"p\" for both"),
    (Paging, r#"{"style": "offset", "limit_param": "offset", "limit": 5}"#,
        "sources[0].pagination.limit_param", "other than offset_param's"),
    // Fields and items_path are dot paths.
    (Source, r#"{"fields": {"id": 5}}"#, "sources[0].fields.id", "expected a dot path"),
    (Source, r#"{"fields": {"price": ""}}"#, "sources[0].fields.price", "expected a dot path"),
    (Source, r#"{"fields": {"price": "a..b"}}"#, "sources[0].fields.price", "found \"a..b\""),
    (Source, r#"{"fields": ["id"]}"#, "sources[0].fields", "expected an object, found an array"),
    (Source, r#"{"items_path": ""}"#,
        "sources[0].items_path", "expected a dot path like \"pricing.amount\", found \"\""),
    (Source, r#"{"items_path": 3}"#, "sources[0].items_path", "found 3"),
    // `record` is "product" or a declared schema, at a source or the top.
    (Source, r#"{"record": 5}"#, "sources[0].record",
        "expected \"product\" or an object with id, fields and rest, found 5"),
    (Source, r#"{"record": "products"}"#, "sources[0].record", "found \"products\""),
    (Source, r#"{"record": "Product"}"#, "sources[0].record", "found \"Product\""),
    (Source, r#"{"record": []}"#, "sources[0].record", "found an empty array"),
    (Source, r#"{"record": null}"#, "sources[0].record", "found null"),
    (Top, r#"{"record": true}"#, "record", "expected \"product\" or an object"),
    (Top, r#"{"record": "none"}"#, "record", "found \"none\""),
    (Source, r#"{"record": {"ids": "number"}}"#, "sources[0].record.ids",
        "unknown key (expected one of id, fields, rest)"),
    (Top, r#"{"record": {"id": "n", "schema": {}}}"#, "record.schema", "unknown key"),
    // A record's id is a dot path or candidates.
    (Source, r#"{"record": {"id": 5}}"#, "sources[0].record.id",
        "expected a dot path like \"pricing.amount\" or a non-empty array of them"),
    (Source, r#"{"record": {"id": []}}"#, "sources[0].record.id", "found an empty array"),
    (Source, r#"{"record": {"id": {}}}"#, "sources[0].record.id", "found an empty object"),
    (Source, r#"{"record": {"id": ""}}"#, "sources[0].record.id", "found \"\""),
    (Source, r#"{"record": {"id": "a..b"}}"#, "sources[0].record.id", "found \"a..b\""),
    (Source, r#"{"record": {"id": ["a", 5]}}"#, "sources[0].record.id[1]",
        "expected a dot path like \"pricing.amount\", found 5"),
    (Source, r#"{"record": {"id": ["a.", "b"]}}"#, "sources[0].record.id[0]", "found \"a.\""),
    // Its fields: an object of names to paths or field objects.
    (Source, r#"{"record": {"fields": []}}"#, "sources[0].record.fields",
        "expected an object of field names to paths or field objects, found an empty array"),
    (Source, r#"{"record": {"fields": "title"}}"#, "sources[0].record.fields", "found \"title\""),
    (Source, r#"{"record": {"fields": {"t": 5}}}"#, "sources[0].record.fields.t",
        "expected a dot path or an object with path, type and required, found 5"),
    (Source, r#"{"record": {"fields": {"t": null}}}"#, "sources[0].record.fields.t", "found null"),
    (Source, r#"{"record": {"fields": {"t": ["a"]}}}"#,
        "sources[0].record.fields.t", "found an array"),
    (Source, r#"{"record": {"fields": {"t": "a..b"}}}"#, "sources[0].record.fields.t",
        "expected a dot path like \"pricing.amount\", found \"a..b\""),
    (Source, r#"{"record": {"fields": {"t": ""}}}"#, "sources[0].record.fields.t", "found \"\""),
    (Source, r#"{"record": {"fields": {"t": {"paht": "x"}}}}"#, "sources[0].record.fields.t.paht",
        "unknown key (expected one of path, type, required)"),
    (Source, r#"{"record": {"fields": {"t": {"path": 3}}}}"#, "sources[0].record.fields.t.path",
        "expected a dot path like \"pricing.amount\" or a non-empty array of them"),
    (Source, r#"{"record": {"fields": {"t": {"path": []}}}}"#, "sources[0].record.fields.t.path",
        "found an empty array"),
    (Source, r#"{"record": {"fields": {"t": {"path": ["a", ""]}}}}"#,
        "sources[0].record.fields.t.path[1]", "found \"\""),
    (Source, r#"{"record": {"fields": {"t": {"path": ".a"}}}}"#,
        "sources[0].record.fields.t.path", "found \".a\""),
    // A name that is not a dot path cannot be its own path.
    (Source, r#"{"record": {"fields": {"a..b": {"type": "string"}}}}"#,
        "sources[0].record.fields[\"a..b\"].path",
        "found nothing (the key is required here: the field's name \"a..b\" is not a dot path"),
    (Source, r#"{"record": {"fields": {"a.": {}}}}"#,
        "sources[0].record.fields[\"a.\"].path", "is not a dot path"),
    // Types are FieldType's names, exactly.
    (Source, r#"{"record": {"fields": {"state": {"type": "str"}}}}"#,
        "sources[0].record.fields.state.type",
        "unknown type \"str\" (expected one of any, json, string, integer, number, boolean, \
         timestamp, price, currency)"),
    (Source, r#"{"record": {"fields": {"state": {"type": "String"}}}}"#,
        "sources[0].record.fields.state.type", "unknown type \"String\""),
    (Source, r#"{"record": {"fields": {"state": {"type": 5}}}}"#,
        "sources[0].record.fields.state.type",
        "expected a type, one of any, json, string, integer, number, boolean, timestamp, price, \
         currency, found 5"),
    (Top, r#"{"record": {"fields": {"n": {"type": "float"}}}}"#,
        "record.fields.n.type", "unknown type \"float\""),
    // Required is a boolean.
    (Source, r#"{"record": {"fields": {"state": {"required": "yes"}}}}"#,
        "sources[0].record.fields.state.required", "expected true or false, found \"yes\""),
    (Source, r#"{"record": {"fields": {"state": {"required": 1}}}}"#,
        "sources[0].record.fields.state.required", "expected true or false, found 1"),
    // Field names: non-empty, and not the record's own.
    (Source, r#"{"record": {"fields": {"": "x"}}}"#, "sources[0].record.fields[\"\"]",
        "expected a non-empty field name, found \"\""),
    (Source, r#"{"record": {"fields": {"id": "number"}}}"#, "sources[0].record.fields.id",
        "expected a field name other than key, source and id (every record has those of its \
         own: key and source come from ingest, id from record.id), found \"id\""),
    (Source, r#"{"record": {"fields": {"key": {"path": "k"}}}}"#,
        "sources[0].record.fields.key", "other than key, source and id"),
    (Top, r#"{"record": {"fields": {"title": "t", "source": "s"}}}"#,
        "record.fields.source", "other than key, source and id"),
    // Rest is drop or keep.
    (Source, r#"{"record": {"rest": "all"}}"#, "sources[0].record.rest",
        "expected \"drop\" or \"keep\", found \"all\""),
    (Source, r#"{"record": {"rest": "Keep"}}"#, "sources[0].record.rest", "found \"Keep\""),
    (Top, r#"{"record": {"rest": true}}"#, "record.rest", "expected \"drop\" or \"keep\", found true"),
    // `fields` is the product schema's shorthand, refused beside a declared record.
    (Source, r#"{"record": {"id": "number"}, "fields": {"id": "sku"}}"#, "sources[0].fields",
        "fields does not apply to a declared record (it is shorthand for the product schema's \
         paths; give the paths in sources[0].record.fields)"),
    (Source, r#"{"record": {}, "fields": {"title": "t"}}"#, "sources[0].fields",
        "does not apply to a declared record"),
    (File, r#"{"record": {"id": "number"},
               "sources": [{"name": "a", "url": "http://x/"},
                           {"name": "b", "url": "http://x/", "fields": {"id": "sku"}}]}"#,
        "sources[1].fields",
        "this source gets the top-level record, a declared one (fields is shorthand for the \
         product schema; \"record\": \"product\" on the source selects that schema)"),
    // keep_rejected is a boolean, at a source or the top.
    (Source, r#"{"keep_rejected": "true"}"#, "sources[0].keep_rejected",
        "expected true or false, found \"true\""),
    (Source, r#"{"keep_rejected": 1}"#, "sources[0].keep_rejected", "found 1"),
    (Source, r#"{"keep_rejected": null}"#, "sources[0].keep_rejected", "found null"),
    (Top, r#"{"keep_rejected": "yes"}"#, "keep_rejected", "expected true or false, found \"yes\""),
    (Top, r#"{"keep_rejected": []}"#, "keep_rejected", "found an empty array"),
    // Headers are an object of strings that ingest may send.
    (Source, r#"{"headers": ["Accept"]}"#, "sources[0].headers",
        "expected an object of header names to string values, found an array"),
    (Source, r#"{"headers": {"X-Page": 5}}"#,
        "sources[0].headers.X-Page", "expected a string, found 5"),
    (Source, r#"{"headers": {"Bad Name": "v"}}"#,
        "sources[0].headers[\"Bad Name\"]", "expected a header name"),
    (Source, r#"{"headers": {"X-A": "a\r\nX-B: b"}}"#,
        "sources[0].headers.X-A", "without control characters"),
    (Source, r#"{"headers": {"Accept": "a", "accept": "b"}}"#, "sources[0].headers.accept",
        "duplicate header name (names are case-insensitive; also sources[0].headers.Accept)"),
    (Source, r#"{"headers": {"Content-Length": "5"}}"#,
        "sources[0].headers.Content-Length", "expected a header ingest may send"),
    (Source, r#"{"headers": {"transfer-encoding": "5"}}"#,
        "sources[0].headers.transfer-encoding", "expected a header ingest may send"),
    // A secret header's value is never shown, only its type.
    (Source, r#"{"headers": {"X-Api-Key": 12345678}}"#,
        "sources[0].headers.X-Api-Key", "expected a string, found a number"),
    // A source's own policies: each key checked at the source's key path.
    (Source, r#"{"rate_limit": {"per_second": 0}}"#,
        "sources[0].rate_limit.per_second", "expected a number > 0, found 0"),
    (Source, r#"{"rate_limit": {"per_stcond": 5}}"#,
        "sources[0].rate_limit.per_stcond", "unknown key (expected one of per_second, burst)"),
    (Source, r#"{"rate_limit": {"burst": 0}}"#,
        "sources[0].rate_limit.burst", "expected an integer >= 1, found 0"),
    (Source, r#"{"retry": []}"#, "sources[0].retry", "expected an object, found an empty array"),
    (Source, r#"{"retry": {"max_retries": -1}}"#,
        "sources[0].retry.max_retries", "expected an integer from 0 to 4294967295, found -1"),
    (Source, r#"{"breaker": {"failure_threshold": 0}}"#,
        "sources[0].breaker.failure_threshold", "found 0"),
    (Source, r#"{"breaker": {"cooldown_ms": 1.5}}"#, "sources[0].breaker.cooldown_ms", "found 1.5"),
    (Source, r#"{"timeouts": {"connect_ms": 0}}"#, "sources[0].timeouts.connect_ms", "found 0"),
    (Source, r#"{"timeouts": {"write_ms": 1}}"#, "sources[0].timeouts.write_ms", "unknown key"),
    (Source, r#"{"max_pages": 0}"#, "sources[0].max_pages", "expected an integer >= 1, found 0"),
    (Source, r#"{"max_failed_pages_in_a_row": 0}"#,
        "sources[0].max_failed_pages_in_a_row", "expected an integer from 1 to 4294967295"),
    (Source, r#"{"max_body_bytes": "1MB"}"#,
        "sources[0].max_body_bytes", "expected an integer >= 1, found \"1MB\""),
    // Run-wide keys are not a source's.
    (Source, r#"{"deadline_ms": 5}"#, "sources[0].deadline_ms", "unknown key"),
    (Source, r#"{"queue_capacity": 5}"#, "sources[0].queue_capacity", "unknown key"),
    // max_delay_ms >= base_delay_ms holds for the merged values.
    (Source, r#"{"retry": {"base_delay_ms": 100, "max_delay_ms": 50}}"#,
        "sources[0].retry.max_delay_ms", "expected a value >= base_delay_ms (100), found 50"),
    (Source, r#"{"retry": {"max_delay_ms": 100}}"#, "sources[0].retry.max_delay_ms",
        "expected a value >= base_delay_ms (500, the default), found 100"),
    (Source, r#"{"retry": {"base_delay_ms": 5000}}"#, "sources[0].retry.base_delay_ms",
        "expected a value <= max_delay_ms (4000, the default), found 5000"),
    (File, r#"{"retry": {"base_delay_ms": 1000, "max_delay_ms": 2000},
               "sources": [{"name": "a", "url": "http://x/"},
                           {"name": "b", "url": "http://x/", "retry": {"max_delay_ms": 500}}]}"#,
        "sources[1].retry.max_delay_ms",
        "expected a value >= base_delay_ms (1000, the top level's), found 500"),
    (File, r#"{"retry": {"max_delay_ms": 600},
               "sources": [{"name": "a", "url": "http://x/", "retry": {"base_delay_ms": 700}}]}"#,
        "sources[0].retry.base_delay_ms",
        "expected a value <= max_delay_ms (600, the top level's), found 700"),
    // A query is an object of strings, literal or `env:`.
    (Source, r#"{"query": ["a"]}"#, "sources[0].query",
        "expected an object of parameter names to string values, found an array"),
    (Source, r#"{"query": "a=1"}"#, "sources[0].query", "found \"a=1\""),
    (Source, r#"{"query": {"n": 5}}"#, "sources[0].query.n", "expected a string, found 5"),
    (Source, r#"{"query": {"n": null}}"#, "sources[0].query.n", "expected a string, found null"),
    (Source, r#"{"query": {"": "x"}}"#, "sources[0].query[\"\"]",
        "expected a non-empty parameter name, found \"\""),
    (Source, r#"{"query": {"q": "env:INGEST_CFG_TEST_SURELY_UNSET_7F3A"}}"#, "sources[0].query.q",
        "environment variable INGEST_CFG_TEST_SURELY_UNSET_7F3A is not set"),
    (Source, r#"{"query": {"q": "env:INGEST_CFG_TEST_ENV_EMPTY"}}"#, "sources[0].query.q",
        "environment variable INGEST_CFG_TEST_ENV_EMPTY is empty"),
    (Source, r#"{"query": {"q": "env:A-B"}}"#, "sources[0].query.q", "expected env:NAME"),
    // A secret parameter's value is never shown, only its type.
    (Source, r#"{"query": {"api_key": 12345678}}"#,
        "sources[0].query.api_key", "expected a string, found a number"),
    // A missing `env:` variable is named (the test sets the other two).
    (Source, r#"{"headers": {"Authorization": "env:INGEST_CFG_TEST_SURELY_UNSET_7F3A"}}"#,
        "sources[0].headers.Authorization",
        "environment variable INGEST_CFG_TEST_SURELY_UNSET_7F3A is not set"),
    (Source, r#"{"headers": {"Authorization": "env:INGEST_CFG_TEST_ENV_EMPTY"}}"#,
        "sources[0].headers.Authorization",
        "environment variable INGEST_CFG_TEST_ENV_EMPTY is empty"),
    (Source, r#"{"headers": {"X-A": "env:"}}"#, "sources[0].headers.X-A", "expected env:NAME"),
    (Source, r#"{"headers": {"X-A": "env:A=B"}}"#, "sources[0].headers.X-A", "expected env:NAME"),
    // An `env:` value with a newline is refused without being echoed.
    (Source, r#"{"headers": {"X-A": "env:INGEST_CFG_TEST_ENV_NEWLINE"}}"#,
        "sources[0].headers.X-A", "found an environment variable value with one"),
    // `env:` inside a longer value would be sent as written: said, with
    // how to write it, without the rest of the value.
    (Source, r#"{"headers": {"Authorization": "Bearer env:GH_TOKEN"}}"#,
        "sources[0].headers.Authorization",
        "found \"env:GH_TOKEN\" inside a longer value, which would be sent as written"),
    (Source, r#"{"query": {"sig": "v1,env:SIG"}}"#, "sources[0].query.sig", "\"env:SIG\" inside"),
    // auth (SPEC §11).
    (Source, r#"{"auth": {"token": "x"}}"#, "sources[0].auth.type",
        "expected one of bearer, basic, api_key, oauth2, found nothing"),
    (Source, r#"{"auth": {"type": "digest"}}"#, "sources[0].auth.type",
        "unknown auth type \"digest\" (expected one of bearer, basic, api_key, oauth2)"),
    (Source, r#"{"auth": {"type": "bearer"}}"#, "sources[0].auth.token", "the key is required"),
    (Source, r#"{"auth": {"type": "bearer", "token": "t", "scope": "x"}}"#,
        "sources[0].auth.scope", "unknown key (expected one of type, token)"),
    (Source, r#"{"auth": {"type": "bearer", "token": 12345}}"#, "sources[0].auth.token",
        "expected a string, found a number"),
    (Source, r#"{"auth": {"type": "basic", "username": "a:b", "password": "p"}}"#,
        "sources[0].auth.username", "without ':'"),
    (Source, r#"{"auth": {"type": "api_key", "name": "k", "value": "v", "in": "cookie"}}"#,
        "sources[0].auth.in", "expected \"header\" or \"query\""),
    (Source, r#"{"auth": {"type": "oauth2", "token_url": "ftp://t", "client_id": "c"}}"#,
        "sources[0].auth.token_url", "expected the token endpoint's http(s) URL"),
    (Source, r#"{"auth": {"type": "oauth2", "grant": "password", "token_url": "http://t/", "client_id": "c"}}"#,
        "sources[0].auth.grant", "expected \"client_credentials\" or \"refresh_token\""),
    (Source, r#"{"auth": {"type": "oauth2", "grant": "refresh_token", "token_url": "http://t/", "client_id": "c"}}"#,
        "sources[0].auth.refresh_token", "expected a refresh token"),
    (Source, r#"{"auth": {"type": "oauth2", "token_url": "http://t/", "client_id": "c", "scopes": "a"}}"#,
        "sources[0].auth.scopes", "unknown key"),
    (File, r#"{"sources": [{"name": "a", "url": "http://u:p@x/", "auth": {"type": "bearer", "token": "t"}}]}"#,
        "sources[0].url", "in the URL (user:password@) or in \"auth\", not both"),
    (Source, r#"{"auth": {"type": "api_key", "name": "Bad Name", "value": "v"}}"#,
        "sources[0].auth.name", "expected a header name"),
    (Source, r#"{"auth": {"type": "api_key", "name": "k", "value": "env:INGEST_CFG_TEST_ENV_NEWLINE"}}"#,
        "sources[0].auth.value", "without control characters"),
    (Source, r#"{"graphql": {"query": "query($afterX: String) { a }", "connection": "a"}}"#,
        "sources[0].graphql.query", "expected a query that declares $after"),
    (Source, r#"{"graphql": {"query": "query($after: String) { a }", "connection": "a"}, "method": "GET"}"#,
        "sources[0].method", "expected POST with graphql"),
    (Source, r#"{"method": "POST", "body": [1, 2], "pagination": {"style": "page", "in": "body"}}"#,
        "sources[0].body", "expected a JSON object (the pagination puts its positions in it"),
    (Source, r#"{"rate_limit_group": "host"}"#, "sources[0].rate_limit_group",
        "unknown group \"host\" (rate_limit_groups has: none)"),
    (File, r#"{"rate_limit_groups": {"host": {"per_second": 5}}, "sources": [{"name": "a", "url": "http://x/"}]}"#,
        "rate_limit_groups.host.burst", "expected a value, found nothing"),
    // method and body.
    (Source, r#"{"method": "PUT"}"#, "sources[0].method", "expected \"GET\" or \"POST\""),
    (Source, r#"{"body": {"q": 1}}"#, "sources[0].body", "expected no body with method GET"),
    // on_response rules (SPEC §11).
    (Source, r#"{"on_response": {"status": 404, "action": "end"}}"#, "sources[0].on_response",
        "expected an array of rules, found an object"),
    (Source, r#"{"on_response": [{"status": 404, "action": "stop"}]}"#,
        "sources[0].on_response[0].action",
        "unknown action \"stop\" (expected one of end, skip, retry, fail)"),
    (Source, r#"{"on_response": [{"status": 404, "action": 1}]}"#,
        "sources[0].on_response[0].action", "expected an action, one of end, skip, retry, fail, found 1"),
    (Top, r#"{"on_response": [{"status": 404}]}"#, "on_response[0].action",
        "found nothing (the key is required)"),
    (Source, r#"{"on_response": [{"status": 404, "action": "end"}, {"action": "skip"}]}"#,
        "sources[0].on_response[1]", "expected at least one condition (status, header, path, \
         body_contains) beside the action, found none"),
    (Source, r#"{"on_response": [{"status": 200, "equals": "error", "action": "retry"}]}"#,
        "sources[0].on_response[0].equals", "expected equals beside a path"),
    (Source, r#"{"on_response": [{"path": "status", "equals": null, "action": "retry"}]}"#,
        "sources[0].on_response[0].equals", "expected a value other than null"),
    (Source, r#"{"on_response": [{"status": 99, "action": "end"}]}"#,
        "sources[0].on_response[0].status", "expected an HTTP status from 100 to 599, found 99"),
    (Source, r#"{"on_response": [{"status": 600, "action": "end"}]}"#,
        "sources[0].on_response[0].status", "expected an HTTP status from 100 to 599, found 600"),
    (Source, r#"{"on_response": [{"status": [400, 1000], "action": "end"}]}"#,
        "sources[0].on_response[0].status[1]", "from 100 to 599, found 1000"),
    (Source, r#"{"on_response": [{"status": [], "action": "end"}]}"#,
        "sources[0].on_response[0].status", "or a non-empty list of them, found an empty array"),
    (Source, r#"{"on_response": [{"status": "404", "action": "end"}]}"#,
        "sources[0].on_response[0].status", "found \"404\""),
    (Source, r#"{"on_response": [{"header": {}, "action": "end"}]}"#,
        "sources[0].on_response[0].header", "found an empty object"),
    (Source, r#"{"on_response": [{"header": {"X-State": 1}, "action": "end"}]}"#,
        "sources[0].on_response[0].header.X-State", "expected a string (\"*\" for any value)"),
    (Source, r#"{"on_response": [{"header": {"X-A": "*", "x-a": "1"}, "action": "end"}]}"#,
        "sources[0].on_response[0].header.x-a", "duplicate header name"),
    (Source, r#"{"on_response": [{"header": {"X A": "*"}, "action": "end"}]}"#,
        "sources[0].on_response[0].header[\"X A\"]", "expected a header name"),
    (Source, r#"{"on_response": [{"path": "a..b", "action": "end"}]}"#,
        "sources[0].on_response[0].path", "expected a dot path"),
    (Source, r#"{"on_response": [{"body_contains": "", "action": "end"}]}"#,
        "sources[0].on_response[0].body_contains", "expected a non-empty string"),
    (Source, r#"{"on_response": [{"status": 404, "action": "end", "when": 1}]}"#,
        "sources[0].on_response[0].when",
        "unknown key (expected one of status, header, path, equals, body_contains, action)"),
    // Envelope paths: a dot path, or a response header (SPEC §11).
    (Paging, r#"{"style": "page", "total_items_path": "header:"}"#,
        "sources[0].pagination.total_items_path",
        "expected a dot path like \"meta.total\", or a response header like \"header:X-Total-Count\""),
    (Paging, r#"{"style": "page", "total_pages_path": "header:X-Pagination."}"#,
        "sources[0].pagination.total_pages_path", "or a response header"),
    (Paging, r#"{"style": "next_url", "next_path": "header:X Next"}"#,
        "sources[0].pagination.next_path", "or a response header"),
    (Paging, r#"{"style": "offset", "has_more_path": "header:X:More"}"#,
        "sources[0].pagination.has_more_path", "or a response header like"),
];

#[test]
fn every_error_names_its_key_path() {
    // Read by the `env:` rows.
    std::env::set_var("INGEST_CFG_TEST_ENV_EMPTY", " ");
    std::env::set_var("INGEST_CFG_TEST_ENV_NEWLINE", "tok\nen");
    let failures: Vec<String> = ERRORS
        .iter()
        .enumerate()
        .filter_map(|(i, &(base, json, path, gist))| {
            let problem = error_mismatch(&config_text(base, json), path, gist)?;
            Some(format!("row {i}, {base:?} {json}\n{problem}"))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n\n{}",
        failures.len(),
        ERRORS.len(),
        failures.join("\n\n")
    );
}

/// The config file a row of [`ERRORS`] describes.
fn config_text(base: Base, json: &str) -> String {
    let value = || -> Value {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON: {e}: {json}"))
    };
    match base {
        File => json.to_string(),
        Top => with_top(value()),
        Source => with_source(value()),
        Paging => with_source(json!({ "pagination": value() })),
    }
}

/// Unless `text` fails, in one line, at `path` with a message containing
/// `gist`: expected and got, one above the other.
fn error_mismatch(text: &str, path: &str, gist: &str) -> Option<String> {
    let prefix = format!("cfg.json: {path}: ");
    let got = match parse(text) {
        Ok(config) => format!("no error, parsed as {config:?}"),
        Err(e) if e.0.starts_with(&prefix) && e.0.contains(gist) && !e.0.contains('\n') => {
            return None
        }
        Err(e) => e.0,
    };
    Some(format!("expected: {prefix}…{gist}…\n     got: {got}"))
}

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
fn wrong_types_show_what_was_found() {
    // The wrong types themselves are rows of `ERRORS`.
    let long = "x".repeat(200);
    let message = parse(&with_top(json!({"deadline_ms": long})))
        .unwrap_err()
        .0;
    assert!(message.len() < 120 && message.ends_with("…\""), "{message}");
}

#[test]
fn values_out_of_range() {
    // The values out of range are rows of `ERRORS`; 0 retries is in range.
    assert_eq!(
        parse(&with_top(json!({"retry": {"max_retries": 0}})))
            .unwrap()
            .policies
            .retry
            .max_retries,
        0
    );
}

#[test]
fn max_delay_is_checked_against_effective_base_delay() {
    // The refused pairs are rows of `ERRORS`.
    let equal = parse(&with_top(
        json!({"retry": {"base_delay_ms": 700, "max_delay_ms": 700}}),
    ))
    .unwrap();
    assert_eq!(equal.policies.retry.max_delay, Duration::from_millis(700));
}

#[test]
fn source_names_are_restricted() {
    // The refused names are rows of `ERRORS`.
    assert_eq!(
        source(r#"{"sources":[{"name":"A-z_0.9","url":"http://x/"}]}"#).name,
        "A-z_0.9"
    );
}

#[test]
fn urls_must_be_http_with_a_host() {
    // The refused URLs are rows of `ERRORS`.
    for good in [
        "http://x",
        "https://x.example:8443/a?b=c#d",
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
    // Credentials in the URL are HTTP Basic, and leave the URL.
    let text = json!({"sources": [{"name": "a", "url": "http://u:p@x/"}]}).to_string();
    assert_eq!(source(&text).url, "http://x/");
    assert!(matches!(source(&text).auth, Some(Auth::Basic { .. })));
    // A rejected URL is shown redacted.
    let text = json!({"sources": [{"name": "a", "url": "ftp://x/?api_key=hunter2"}]}).to_string();
    let message = parse(&text).unwrap_err().0;
    assert!(
        message.contains("api_key=***") && !message.contains("hunter2"),
        "{message}"
    );
}

#[test]
fn starts_are_integers_json_keeps_exactly() {
    // One more than these is a row of `ERRORS`.
    let p = |v: Value| with_source(json!({ "pagination": v }));
    for style in ["page", "offset"] {
        assert!(parse(&p(
            json!({"style": style, "start": 9_007_199_254_740_991_u64})
        ))
        .is_ok());
    }
}

#[test]
fn fields_are_dot_paths() {
    // The refused paths are rows of `ERRORS`.
    let fields = source(&with_source(
        json!({"fields": {"currency": "p.cur", "category": "cat.name", "name": "title"}}),
    ))
    .fields;
    assert_eq!(shown(&fields.currency).as_deref(), Some("p.cur"));
    assert_eq!(shown(&fields.category).as_deref(), Some("cat.name"));
    assert_eq!(shown(&fields.name).as_deref(), Some("title"));
}

// ---- per-source policies ----------------------------------------------

#[test]
fn a_sources_policies_merge_key_by_key_over_the_top_levels() {
    let config = parse(
        &json!({
            "rate_limit": {"per_second": 10, "burst": 7},
            "retry": {"max_retries": 5, "base_delay_ms": 100},
            "timeouts": {"read_ms": 900},
            "max_pages": 40,
            "sources": [
                {"name": "own", "url": "http://x/",
                 "rate_limit": {"per_second": 1},
                 "retry": {"max_delay_ms": 300},
                 "breaker": {"cooldown_ms": 50},
                 "timeouts": {"connect_ms": 20},
                 "max_pages": 2, "max_failed_pages_in_a_row": 9, "max_body_bytes": 1000},
                {"name": "inherits", "url": "http://x/"},
            ]
        })
        .to_string(),
    )
    .unwrap();
    let ms = Duration::from_millis;
    let top = Policies {
        rate_limit: RateLimit {
            per_second: 10.0,
            burst: 7,
        },
        retry: RetrySettings {
            max_retries: 5,
            base_delay: ms(100),
            max_delay: ms(4000),
        },
        timeouts: Timeouts {
            connect: ms(3000),
            read: ms(900),
        },
        max_pages: 40,
        ..Policies::default()
    };
    assert_eq!(config.policies, top);
    assert_eq!(config.sources[1].policies, top, "no keys of its own");
    let own = Policies {
        rate_limit: RateLimit {
            per_second: 1.0,
            burst: 7,
        },
        retry: RetrySettings {
            max_delay: ms(300),
            ..top.retry
        },
        breaker: BreakerPolicy {
            failure_threshold: 3,
            cooldown: ms(50),
        },
        timeouts: Timeouts {
            connect: ms(20),
            read: ms(900),
        },
        max_pages: 2,
        max_failed_pages_in_a_row: 9,
        max_body_bytes: 1000,
        concurrency: 1,
    };
    assert_eq!(config.sources[0].policies, own);
    // summary.config shows each source's effective values.
    let shown = config.to_redacted_json();
    let source = &shown["sources"][0];
    assert_eq!(source["rate_limit"], json!({"per_second": 1.0, "burst": 7}));
    assert_eq!(
        source["retry"],
        json!({"max_retries": 5, "base_delay_ms": 100, "max_delay_ms": 300})
    );
    assert_eq!(source["max_body_bytes"], 1000);
    assert_eq!(shown["sources"][1]["max_pages"], 40);
    assert_eq!(shown["max_pages"], 40);
    assert_round_trip(&config);
}

// ---- record schemas ----------------------------------------------------

/// SPEC §5's example `record`, as written there.
const SPEC_RECORD: &str = r#"{
  "id": "number",
  "fields": {
    "title":      "title",
    "state":      { "path": "state", "type": "string", "required": true },
    "author":     { "path": "user.login" },
    "labels":     { "path": "labels", "type": "json" },
    "comments":   { "path": "comments", "type": "integer" },
    "created_at": { "path": ["created_at", "createdAt"], "type": "timestamp" },
    "total":      { "path": "amount", "type": "price" },
    "currency":   { "path": "currency", "type": "currency" }
  },
  "rest": "drop"
}"#;

/// A declared field read at `paths`.
fn field(name: &str, paths: &[&str], ty: FieldType, required: bool) -> FieldSpec {
    FieldSpec {
        name: name.into(),
        lookup: Lookup::Paths(paths.iter().map(|p| dot(p)).collect()),
        ty: ValueType::Declared(ty),
        required,
    }
}

fn record_of(record: Value) -> RecordSchema {
    source(&with_source(json!({ "record": record }))).record
}

#[test]
fn spec_record_example_parses_to_its_schema() {
    let record: Value = serde_json::from_str(SPEC_RECORD).unwrap();
    let s = source(&with_source(json!({ "record": record })));
    let expected = RecordSchema {
        id: Lookup::Paths(vec![dot("number")]),
        fields: vec![
            field("title", &["title"], FieldType::Any, false),
            field("state", &["state"], FieldType::String, true),
            field("author", &["user.login"], FieldType::Any, false),
            field("labels", &["labels"], FieldType::Json, false),
            field("comments", &["comments"], FieldType::Integer, false),
            field(
                "created_at",
                &["created_at", "createdAt"],
                FieldType::Timestamp,
                false,
            ),
            field("total", &["amount"], FieldType::Price, false),
            field("currency", &["currency"], FieldType::Currency, false),
        ],
        rest: Rest::Drop,
        product: false,
    };
    assert_eq!(s.record, expected);
    assert_eq!(s.fields, FieldPaths::default(), "no product shorthand");
    assert!(!s.keep_rejected);
}

#[test]
fn declared_defaults() {
    let bare = RecordSchema {
        id: Lookup::Search(ProductField::Id),
        fields: vec![],
        rest: Rest::Drop,
        product: false,
    };
    assert_eq!(record_of(json!({})), bare, "the product id search");
    assert_eq!(
        record_of(json!({"fields": {}})),
        bare,
        "key, source, id only"
    );
    assert_eq!(
        record_of(json!({"id": ["a", "b.0"], "rest": "keep"})),
        RecordSchema {
            id: Lookup::Paths(vec![dot("a"), dot("b.0")]),
            rest: Rest::Keep,
            ..bare.clone()
        }
    );
    // A field object without a path is read at its own name, as a dot path.
    assert_eq!(
        record_of(json!({"fields": {"title": {"type": "string"}, "user.login": {}}})).fields,
        [
            field("title", &["title"], FieldType::String, false),
            field("user.login", &["user.login"], FieldType::Any, false),
        ]
    );
    // The file's order, not an alphabetical one.
    let names: Vec<String> = record_of(json!({"fields": {"z": "z", "a": "a", "m": "m"}}))
        .fields
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["z", "a", "m"]);
}

#[test]
fn at_most_max_fields() {
    let fields = |n: usize| -> Value {
        (0..n)
            .map(|i| (format!("f{i}"), json!(format!("p{i}"))))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let most = record_of(json!({ "fields": fields(MAX_FIELDS) }));
    assert_eq!(most.fields.len(), MAX_FIELDS);
    assert_eq!(
        most.fields[MAX_FIELDS - 1].name,
        format!("f{}", MAX_FIELDS - 1)
    );
    let text = with_source(json!({"record": { "fields": fields(MAX_FIELDS + 1) }}));
    let expected = format!(
        "cfg.json: sources[0].record.fields: expected at most {MAX_FIELDS} fields, found {}",
        MAX_FIELDS + 1
    );
    assert_eq!(parse(&text).unwrap_err().0, expected);
}

#[test]
fn a_top_level_record_is_the_default_and_a_sources_own_wins_whole() {
    let config = parse(
        &json!({
            "record": {"id": "number", "fields": {"title": "t"}, "rest": "keep"},
            "keep_rejected": true,
            "sources": [
                {"name": "a", "url": "http://x/"},
                {"name": "b", "url": "http://x/", "record": {"fields": {"x": "y"}},
                 "keep_rejected": false},
                {"name": "c", "url": "http://x/", "record": "product", "fields": {"id": "sku"}},
            ]
        })
        .to_string(),
    )
    .unwrap();
    let [a, b, c] = &config.sources[..] else {
        panic!("three sources")
    };
    assert_eq!(
        a.record,
        RecordSchema {
            id: Lookup::Paths(vec![dot("number")]),
            fields: vec![field("title", &["t"], FieldType::Any, false)],
            rest: Rest::Keep,
            product: false,
        }
    );
    assert!(a.keep_rejected, "the top level's");
    // Nothing of the top level's record is merged in: not its id, not its rest.
    assert_eq!(
        b.record,
        RecordSchema {
            id: Lookup::Search(ProductField::Id),
            fields: vec![field("x", &["y"], FieldType::Any, false)],
            rest: Rest::Drop,
            product: false,
        }
    );
    assert!(!b.keep_rejected, "its own");
    let sku = FieldPaths {
        id: Some(dot("sku")),
        ..FieldPaths::default()
    };
    assert_eq!(c.record, RecordSchema::product(&sku));
    assert_eq!(c.fields, sku);
    assert!(c.keep_rejected);
}

#[test]
fn product_named_explicitly_is_the_product_schema() {
    let omitted = parse(&with_source(json!({"fields": {"price": "p.amount"}}))).unwrap();
    for explicit in [
        with_source(json!({"record": "product", "fields": {"price": "p.amount"}})),
        with_top(json!({"record": "product", "sources": [
            {"name": "a", "url": "http://x/", "fields": {"price": "p.amount"}}
        ]})),
    ] {
        assert_eq!(parse(&explicit).unwrap(), omitted, "{explicit}");
    }
    assert!(omitted.sources[0].record.product);
}

#[test]
fn redacted_json_writes_a_declared_record_in_full() {
    let config = parse(&json!({
        "keep_rejected": true,
        "sources": [{"name": "gh", "url": "http://x/",
                     "record": {"id": ["number", "id"], "fields": {
                         "title": "title",
                         "at": {"path": ["created_at", "createdAt"], "type": "timestamp", "required": true}
                     }}}]
    }).to_string())
    .unwrap();
    let shown = &config.to_redacted_json()["sources"][0];
    let expected = json!({
        "name": "gh", "url": "http://x/", "pagination": {"style": "none"},
        "record": {
            "id": ["number", "id"],
            "fields": {
                "title": {"path": "title", "type": "any", "required": false},
                "at": {"path": ["created_at", "createdAt"], "type": "timestamp", "required": true}
            },
            "rest": "drop"
        },
        "keep_rejected": true,
        "headers": {},
        "query": {}
    });
    let mut expected = expected;
    merge(&mut expected, default_policies());
    assert_eq!(
        shown, &expected,
        "\nexpected: {expected:#}\n     got: {shown:#}"
    );
    let order: Vec<&String> = shown["record"]["fields"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(order, ["title", "at"]);
    // Without an id, the search: written by leaving `id` out.
    let searched = parse(&with_source(json!({"record": {"rest": "keep"}}))).unwrap();
    assert_eq!(
        searched.to_redacted_json()["sources"][0]["record"],
        json!({"fields": {}, "rest": "keep"})
    );
}

#[test]
fn items_path_is_a_non_empty_dot_path() {
    // The refused paths are rows of `ERRORS`.
    let items_path = source(&with_source(json!({"items_path": "a.b"}))).items_path;
    assert_eq!(shown(&items_path).as_deref(), Some("a.b"));
}

#[test]
fn secret_header_values_never_appear_in_errors() {
    // The key path and gist of the first are a row of `ERRORS`.
    let text = with_source(json!({"headers": {"X-Api-Key": 12345678}}));
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
fn query_parameters_are_set_in_the_url_replacing_same_named_ones() {
    std::env::set_var("INGEST_CFG_TEST_QUERY_KEY", "k-from-env-42");
    std::env::set_var("INGEST_CFG_TEST_QUERY_SIG", "s1g");
    let s = source(&with_source(json!({
        "url": "http://x/items?lang=de&page=2#top",
        "query": {
            "lang": "en",
            "api_key": "env:INGEST_CFG_TEST_QUERY_KEY",
            "sig": "env:INGEST_CFG_TEST_QUERY_SIG",
            "q": "a b&c",
            "token": "literal-t0ken"
        }
    })));
    assert_eq!(
        s.url,
        "http://x/items?lang=en&page=2&api_key=k-from-env-42&sig=s1g&q=a%20b%26c\
         &token=literal-t0ken#top"
    );
    let secret: Vec<(&str, bool)> = s
        .query
        .iter()
        .map(|q| (q.name.as_str(), q.secret))
        .collect();
    assert_eq!(
        secret,
        [
            ("lang", false),
            ("api_key", true),
            ("sig", true),
            ("q", false),
            ("token", true)
        ],
        "env: values and secret names are secrets"
    );
    assert_eq!(format!("{:?}", s.query[2]), "sig=***");
}

#[test]
fn query_secrets_are_hidden_in_the_summary_config() {
    std::env::set_var("INGEST_CFG_TEST_QUERY_SHORT", "s1g");
    std::env::set_var("INGEST_CFG_TEST_QUERY_LONG", "app-id-from-env-77");
    let config = parse(&with_source(json!({
        "url": "http://x/items",
        "query": {
            "sig": "env:INGEST_CFG_TEST_QUERY_SHORT",
            "app": "env:INGEST_CFG_TEST_QUERY_LONG",
            "lang": "en"
        }
    })))
    .unwrap();
    let shown = config.to_redacted_json();
    let source = &shown["sources"][0];
    assert_eq!(source["url"], "http://x/items?sig=***&app=***&lang=en");
    assert_eq!(
        source["query"],
        json!({"sig": "***", "app": "***", "lang": "en"})
    );
    let text = shown.to_string();
    for secret in ["s1g", "app-id-from-env-77"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    // Wherever a URL is shown: an echo of the long value, the short one
    // under its own name.
    assert_eq!(
        config
            .redactor()
            .shown_url("http://x/items?page=2&sig=s1g&next=app-id-from-env-77"),
        "http://x/items?page=2&sig=***&next=***"
    );
}

// ---- redaction --------------------------------------------------------

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
    let mut source = json!({"name": "a", "url": "http://x/", "pagination": {"style": "none"},
                            "fields": {}, "record": "product", "keep_rejected": false,
                            "headers": {}, "query": {}});
    merge(&mut source, default_policies());
    let expected = json!({
        "sources": [source],
        "rate_limit": {"per_second": 5.0, "burst": 5},
        "retry": {"max_retries": 3, "base_delay_ms": 500, "max_delay_ms": 4000},
        "breaker": {"failure_threshold": 3, "cooldown_ms": 15000},
        "timeouts": {"connect_ms": 3000, "read_ms": 8000},
        "queue_capacity": 100,
        "batch_size": 50,
        "deadline_ms": 60000,
        "max_pages": 10000,
        "max_failed_pages_in_a_row": 3,
        "max_body_bytes": 10485760,
        "concurrency": 1
    });
    assert_eq!(
        shown, expected,
        "\nexpected: {expected:#}\n     got: {shown:#}"
    );
}

/// Every policy key with its default, as `summary.config` writes them.
fn default_policies() -> Value {
    json!({
        "rate_limit": {"per_second": 5.0, "burst": 5},
        "retry": {"max_retries": 3, "base_delay_ms": 500, "max_delay_ms": 4000},
        "breaker": {"failure_threshold": 3, "cooldown_ms": 15000},
        "timeouts": {"connect_ms": 3000, "read_ms": 8000},
        "max_pages": 10000,
        "max_failed_pages_in_a_row": 3,
        "max_body_bytes": 10485760,
        "concurrency": 1
    })
}

/// `extra`'s keys set in `target`, both objects.
fn merge(target: &mut Value, extra: Value) {
    let Value::Object(extra) = extra else {
        panic!("not an object: {extra}")
    };
    target.as_object_mut().unwrap().extend(extra);
}

#[track_caller]
/// The effective config survives its summary form; the written form
/// always holds `deadline_ms`, so the deadline then comes from the file.
fn assert_round_trip(config: &Config) {
    let text = config.to_redacted_json().to_string();
    let again = Config::parse("summary.json", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let config = Config {
        deadline_from: DeadlineFrom::Config,
        ..config.clone()
    };
    assert_eq!(again, config, "\nJSON: {text}");
}

/// Envelope paths may read a response header (SPEC §11), and survive the
/// summary's form.
#[test]
fn header_paths_are_read_and_round_trip() {
    let text = json!({
        "sources": [
            {"name": "own", "url": "http://x/r",
             "pagination": {"style": "page", "total_items_path": "header:X-Pagination.total",
                            "total_pages_path": "header:x-pagination.total_pages"}},
            {"name": "none", "url": "http://x/n",
             "pagination": {"style": "next_url", "next_path": "header:X-Next"}},
            {"name": "c", "url": "http://x/c",
             "pagination": {"style": "cursor", "cursor_path": "header:X-Cursor",
                            "has_more_path": "header:X-Has-More"}}
        ]
    });
    let config = parse(&text.to_string()).unwrap();
    let [own, none, c] = &config.sources[..] else {
        panic!("three sources")
    };
    let Pagination::Page {
        total_items_path: Some(total),
        ..
    } = &own.pagination
    else {
        panic!("page style: {:?}", own.pagination)
    };
    assert_eq!(total.to_string(), "header:X-Pagination.total");
    assert!(total.is_header());
    let Pagination::NextUrl { next_path } = &none.pagination else {
        panic!("next_url")
    };
    assert_eq!(next_path.to_string(), "header:X-Next");
    assert!(
        matches!(&c.pagination, Pagination::Cursor { from: CursorFrom::Body(p), .. } if p.is_header())
    );
    assert_round_trip(&config);
}

/// `on_response` (SPEC §11): a top-level list is the default of every
/// source without its own, a source's own (even empty) replaces it whole,
/// and the rules survive the summary's form.
#[test]
fn rules_are_read_and_round_trip() {
    let text = json!({
        "on_response": [{"status": 404, "action": "end"}],
        "sources": [
            {"name": "drf", "url": "http://x/o"},
            {"name": "own", "url": "http://x/r", "on_response": [
                {"status": 200, "path": "status", "equals": "error", "action": "retry"},
                {"status": [400, 422], "body_contains": "page out of range", "action": "end"},
                {"header": {"X-Maintenance": "*", "X-Mode": "read-only"}, "action": "skip"},
                {"path": "error", "action": "fail"}
            ]},
            {"name": "none", "url": "http://x/n", "on_response": []}
        ]
    });
    let config = parse(&text.to_string()).unwrap();
    let [drf, own, none] = &config.sources[..] else {
        panic!("three sources")
    };
    assert_eq!(drf.on_response.len(), 1, "the top level's default");
    assert_eq!(drf.on_response[0].status, Some(vec![404]));
    assert_eq!(drf.on_response[0].action, Action::End);
    assert_eq!(own.on_response.len(), 4, "its own, whole");
    assert_eq!(own.on_response[0].equals, Some(json!("error")));
    assert_eq!(own.on_response[1].status, Some(vec![400, 422]));
    assert_eq!(own.on_response[2].headers[0].key, "x-maintenance");
    assert_eq!(own.on_response[2].headers[0].value, None, "\"*\": present");
    assert_eq!(own.on_response[3].action, Action::Fail);
    assert!(
        none.on_response.is_empty(),
        "an empty list drops the default"
    );
    let shown = config.to_redacted_json();
    assert_eq!(
        shown["sources"][1]["on_response"][2],
        json!({"header": {"X-Maintenance": "*", "X-Mode": "read-only"}, "action": "skip"})
    );
    assert!(
        shown["sources"][2].get("on_response").is_none(),
        "a source without rules reads as before"
    );
    assert_round_trip(&config);
}

#[test]
fn round_trip_of_every_style() {
    assert_round_trip(&parse(SPEC_EXAMPLE).unwrap());
    let text = json!({
        "sources": [
            {"name": "p", "url": "http://x/", "items_path": "a.b",
             "pagination": {"style": "page", "param": "pg", "start": 0, "total_pages_path": "meta.pages"},
             "rate_limit": {"per_second": 2.5}, "retry": {"max_retries": 7}, "max_pages": 3,
             "timeouts": {"read_ms": 5}, "breaker": {"failure_threshold": 2}},
            {"name": "o", "url": "http://x/?q=1#f",
             "pagination": {"style": "offset", "offset_param": "skip", "start": 10, "limit_param": "take", "limit": 25, "total_path": "total"},
             "fields": {"id": "sku", "name": "title", "price": "p.amount", "currency": "p.cur", "category": "c.name"}},
            {"name": "c", "url": "https://x/", "pagination": {"style": "cursor", "cursor_path": "meta.next", "param": "after"}},
            {"name": "n", "url": "https://x/", "pagination": {"style": "next_url", "next_path": "links.next"}},
            {"name": "l", "url": "https://x/", "pagination": {"style": "link_header"}, "headers": {"Accept": "*/*", "X-B": ""}},
            {"name": "spec", "url": "http://x/", "record": serde_json::from_str::<Value>(SPEC_RECORD).unwrap()},
            {"name": "d", "url": "http://x/", "keep_rejected": true,
             "record": {"id": ["number", "meta.id"], "rest": "keep", "fields": {
                 "z": {"path": ["a.0", "b"], "type": "number", "required": true},
                 "user.login": {},
                 "n": {"type": "boolean"}}}},
            {"name": "e", "url": "http://x/", "record": {}, "keep_rejected": false},
            {"name": "f", "url": "http://x/", "record": "product", "fields": {"id": "sku"}},
            {"name": "q", "url": "http://x/?a=1&&b=2", "query": {"b": "3", "c d": "e&f"}},
        ],
        "keep_rejected": true,
        "rate_limit": {"per_second": 0.25, "burst": 1},
        "retry": {"max_retries": 0, "base_delay_ms": 1, "max_delay_ms": 1},
        "breaker": {"failure_threshold": 1, "cooldown_ms": 1},
        "timeouts": {"connect_ms": 1, "read_ms": 2},
        "queue_capacity": 1, "batch_size": 1, "deadline_ms": 1,
        "max_pages": 1, "max_failed_pages_in_a_row": 1, "max_body_bytes": 1
    });
    assert_round_trip(&parse(&text.to_string()).unwrap());
    // The top-level record and keep_rejected are not written: each
    // source's own say what it got.
    let text = json!({
        "sources": [
            {"name": "inherits", "url": "http://x/"},
            {"name": "product", "url": "http://x/", "record": "product", "fields": {"id": "sku"}},
            {"name": "own", "url": "http://x/", "record": {"id": "n"}, "keep_rejected": false},
        ],
        "record": {"id": "number", "fields": {"title": {"path": "t", "required": true}}},
        "keep_rejected": true,
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
        let policies = &mut config.sources[0].policies;
        policies.rate_limit = RateLimit { per_second, burst };
        policies.retry = RetrySettings {
            max_retries,
            base_delay: Duration::from_millis(base),
            max_delay: Duration::from_millis(base + extra),
        };
        policies.breaker.failure_threshold = threshold;
        policies.max_pages = big;
        policies.max_body_bytes = big;
        // The top level's differ: each is written, and read back, on its own.
        config.policies.breaker.cooldown = Duration::from_millis(big);
        config.policies.max_failed_pages_in_a_row = threshold;
        config.deadline = Duration::from_millis(big);
        config.sources[0].pagination = Pagination::Page {
            param: "page".into(),
            start,
            size: size.map(|n| ("per_page".to_string(), n)),
            total_pages_path: None,
            total_items_path: None,
            has_more_path: None,
        };
        assert_round_trip(&config);
    }
}

#[test]
fn the_redactor_knows_the_configs_secret_values() {
    std::env::set_var("INGEST_CFG_TEST_ECHOED", "Bearer echo-me-9f2");
    let config = parse(&with_source(json!({
        "url": "http://u:pass-w0rd-7@x/a?api_key=query-s3cret",
        "headers": {"Authorization": "env:INGEST_CFG_TEST_ECHOED"},
    })))
    .unwrap();
    assert_eq!(
        config
            .redactor()
            .redact_url("http://x/b?sig=echo-me-9f2&n=query-s3cret&p=pass-w0rd-7"),
        "http://x/b?sig=***&n=***&p=***"
    );
}

#[test]
fn the_policy_keys_read_are_the_policy_keys_written() {
    let written: Vec<String> = Policies::default().to_json().keys().cloned().collect();
    assert_eq!(
        written,
        super::validate::POLICY_KEYS,
        "one list of policy keys"
    );
}

#[test]
fn auth_method_and_body_are_read_and_shown_without_secrets() {
    std::env::set_var("INGEST_CFG_TEST_CLIENT_SECRET", "s3cr3t-client");
    let config = parse(
        &json!({
            "auth": {"type": "bearer", "token": "top-level-token"},
            "sources": [
                {"name": "a", "url": "http://x/"},
                {"name": "b", "url": "http://user:pa%24%24word@x/list", "method": "POST",
                 "body": {"query": "{ items }"}},
                {"name": "c", "url": "http://x/?a=1", "auth": {"type": "api_key", "name": "api_key",
                 "value": "k3y-value", "in": "query"}},
                {"name": "d", "url": "http://x/", "auth": {"type": "oauth2",
                 "token_url": "http://auth/token", "client_id": "ingest",
                 "client_secret": "env:INGEST_CFG_TEST_CLIENT_SECRET", "scope": "read:a read:b",
                 "extra": {"resource": "r"}, "client_auth": "body", "refresh_margin_ms": 5000}},
            ]
        })
        .to_string(),
    )
    .unwrap();
    let [a, b, c, d] = &config.sources[..] else {
        panic!("four sources")
    };
    assert_eq!(
        a.auth,
        Some(Auth::Bearer {
            token: "top-level-token".into()
        }),
        "inherited"
    );
    assert_eq!(b.url, "http://x/list", "the userinfo leaves the URL");
    assert_eq!(
        b.auth,
        Some(Auth::Basic {
            username: "user".into(),
            password: "pa$$word".into()
        })
    );
    assert_eq!(
        (b.method, b.body.as_deref()),
        (Method::Post, Some(r#"{"query":"{ items }"}"#))
    );
    assert_eq!(c.url, "http://x/?a=1&api_key=k3y-value");
    let Some(Auth::OAuth2(o)) = &d.auth else {
        panic!("oauth2: {:?}", d.auth)
    };
    assert_eq!(o.grant, Grant::ClientCredentials, "the default grant");
    assert_eq!(o.client_secret.as_deref(), Some("s3cr3t-client"));
    assert_eq!(o.scope.as_deref(), Some("read:a read:b"));
    assert_eq!(o.extra, [("resource".to_string(), "r".to_string())]);
    assert!(!o.client_auth_basic);
    assert_eq!(o.refresh_margin, Duration::from_millis(5000));
    let shown = config.to_redacted_json().to_string();
    for secret in ["top-level-token", "pa$$word", "k3y-value", "s3cr3t-client"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains(r#""method":"POST","body":{"query":"{ items }"}"#),
        "{shown}"
    );
    assert!(
        !shown.contains(r#""method":"GET""#),
        "a GET source says nothing new: {shown}"
    );
    let redactor = config.redactor();
    assert_eq!(
        redactor.redact_text("echoed top-level-token and s3cr3t-client"),
        "echoed *** and ***"
    );
}

#[test]
fn credentials_are_hidden_in_the_forms_servers_echo_them() {
    let config = parse(
        &json!({"sources": [
            {"name": "a", "url": "http://x/", "auth": {"type": "basic", "username": "u",
             "password": "PASSWORDSECRET3"}},
            {"name": "b", "url": "http://x/", "auth": {"type": "oauth2",
             "token_url": "http://tu:T0KURLPW9@auth/token", "client_id": "cid",
             "client_secret": "CLIENTSECRETvalue9 /+&="}},
        ]})
        .to_string(),
    )
    .unwrap();
    let r = config.redactor();
    // The Authorization header a server echoes: base64 of user:password.
    let basic = crate::text::base64(b"u:PASSWORDSECRET3");
    assert_eq!(
        r.redact_text(&format!("echo Basic {basic}")),
        "echo Basic ***"
    );
    // A form echoed percent-encoded, or with + for a space.
    for echoed in [
        "client_secret=CLIENTSECRETvalue9%20%2F%2B%26%3D",
        "client_secret=CLIENTSECRETvalue9+%2F%2B%26%3D",
    ] {
        assert_eq!(r.redact_text(echoed), "client_secret=***", "{echoed}");
    }
    let client = crate::text::base64(b"cid:CLIENTSECRETvalue9%20%2F%2B%26%3D");
    assert_eq!(r.redact_text(&client), "***");
    let shown = config.to_redacted_json().to_string();
    assert!(!shown.contains("T0KURLPW9"), "{shown}");
    assert!(r.redact_text("pw T0KURLPW9").ends_with("***"));
}

#[test]
fn the_comment_hint_comes_only_where_the_parser_met_a_comment() {
    let commented = "{\n  // the shop\n  \"sources\": []\n}";
    let err = parse(commented).unwrap_err().0;
    assert!(err.contains("JSON has no comments"), "{err}");
    let escape = r#"{"sources": [{"name": "a", "url": "http://x/", "pagination": {"style": "next_url", "next_path": "@odata\.nextLink"}}]}"#;
    let err = parse(escape).unwrap_err().0;
    assert!(!err.contains("comments"), "a URL's // is no comment: {err}");
    // Written as JSON wants it, the escaped dot is one key.
    let ok = r#"{"sources": [{"name": "a", "url": "http://x/", "pagination": {"style": "next_url", "next_path": "@odata\\.nextLink"}}]}"#;
    let config = parse(ok).unwrap();
    let Pagination::NextUrl { next_path } = &config.sources[0].pagination else {
        panic!("next_url")
    };
    assert_eq!(next_path.to_string(), "@odata\\.nextLink");
}

#[test]
fn a_config_can_be_read_for_its_shape_without_its_secrets() {
    let text = json!({"sources": [{"name": "a", "url": "http://x/",
        "headers": {"Authorization": "env:INGEST_CFG_TEST_SURELY_UNSET_7F3A"},
        "auth": {"type": "api_key", "name": "k", "value": "env:INGEST_CFG_TEST_SURELY_UNSET_7F3A", "in": "query"}}]})
    .to_string();
    assert!(parse(&text).is_err(), "a run needs its secrets");
    let config = Config::parse_without_secrets("t", &text).unwrap();
    assert_eq!(config.sources[0].headers[0].value, "***");
    assert_eq!(config.sources[0].name, "a");
}
