//! The normalizer against sample pages shaped like public product APIs
//! (`fixtures/`). Each fixture's records are compared line by line, in
//! item order, with `<name>.expected.jsonl`, and its invalid items by reason
//! with `<name>.invalid.json` (all zero when that file is absent). The
//! expected files were written by hand from SPEC §5, not from the output.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ingest::FieldPaths;
use ingest::{normalize, Node, RecordSchema};
use serde_json::Value;

/// One sample page and how to read it.
struct Fixture {
    /// File stem under `fixtures/`.
    name: &'static str,
    /// Source name the records carry.
    source: &'static str,
    /// JSON pointer to the item array ("" = the body is the array).
    items: &'static str,
    /// The source's `fields` overrides.
    fields: FieldPaths,
}

fn fixtures() -> Vec<Fixture> {
    vec![
        Fixture {
            name: "dummyjson_products",
            source: "dummyjson",
            items: "/products",
            fields: FieldPaths::default(),
        },
        Fixture {
            // Shopify keeps prices on variants, an array the search never
            // enters, and its category in `product_type`: both need paths.
            name: "shopify_products",
            source: "shopify",
            items: "/products",
            fields: FieldPaths {
                price: Some("variants.0.price".parse().unwrap()),
                category: Some("product_type".parse().unwrap()),
                ..FieldPaths::default()
            },
        },
        Fixture {
            name: "plain_array",
            source: "plain",
            items: "",
            fields: FieldPaths::default(),
        },
        Fixture {
            name: "cursor_nested",
            source: "cursor",
            items: "/data/items",
            fields: FieldPaths::default(),
        },
        Fixture {
            name: "invalid_mix",
            source: "mix",
            items: "/results",
            fields: FieldPaths::default(),
        },
    ]
}

fn fixture_path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(file)
}

fn read(file: &str) -> Option<String> {
    std::fs::read_to_string(fixture_path(file)).ok()
}

fn items(name: &str, pointer: &str) -> Vec<Value> {
    let text = read(&format!("{name}.json")).unwrap_or_else(|| panic!("missing {name}.json"));
    let body: Value = serde_json::from_str(&text).expect("fixture is JSON");
    body.pointer(pointer)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{name}: no item array at {pointer:?}"))
        .clone()
}

/// Normalizes every item by the product schema with `fields`: the records
/// as JSON lines, and the invalid counts by reason (zeros left out).
fn run(items: &[Value], source: &str, fields: &FieldPaths) -> (Vec<String>, BTreeMap<String, u64>) {
    let schema = RecordSchema::product(fields);
    let mut invalid: BTreeMap<String, u64> = BTreeMap::new();
    let mut records = Vec::new();
    for item in items {
        let text = item.to_string();
        let node = Node::parse(&text).expect("a fixture item parses");
        match normalize(source, &node, &schema) {
            Ok(r) => {
                let mut line = Vec::new();
                r.write_json(&mut line);
                records.push(String::from_utf8(line).expect("a record is UTF-8"));
            }
            Err(reason) => *invalid.entry(schema.reason_name(reason)).or_default() += 1,
        }
    }
    (records, invalid)
}

#[test]
fn fixtures_normalize_as_expected() {
    let mut failures = Vec::new();
    for f in fixtures() {
        let (got, got_invalid) = run(&items(f.name, f.items), f.source, &f.fields);
        let expected_text = read(&format!("{}.expected.jsonl", f.name))
            .unwrap_or_else(|| panic!("missing {}.expected.jsonl", f.name));
        let expected: Vec<&str> = expected_text.lines().filter(|l| !l.is_empty()).collect();
        let rows = expected.len().max(got.len());
        for i in 0..rows {
            let (e, g) = (expected.get(i).copied(), got.get(i).map(String::as_str));
            if e != g {
                failures.push(format!(
                    "{} record {}:\n  expected {}\n  got      {}",
                    f.name,
                    i + 1,
                    e.unwrap_or("(none)"),
                    g.unwrap_or("(none)")
                ));
            }
        }
        let mut expected_invalid: BTreeMap<String, u64> =
            match read(&format!("{}.invalid.json", f.name)) {
                Some(text) => serde_json::from_str(&text).expect("invalid counts are JSON"),
                None => BTreeMap::new(),
            };
        expected_invalid.retain(|_, n| *n > 0);
        if expected_invalid != got_invalid {
            failures.push(format!(
                "{} invalid counts:\n  expected {expected_invalid:?}\n  got      {got_invalid:?}",
                f.name
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn shopify_without_paths_has_no_price() {
    // Without `fields`, SPEC's search never enters the variants array, and
    // the `image` object holds no price: every product is `missing_price`.
    let items = items("shopify_products", "/products");
    let (records, invalid) = run(&items, "shopify", &FieldPaths::default());
    assert_eq!(records, Vec::<String>::new());
    assert_eq!(invalid["missing_price"], items.len() as u64);
}
