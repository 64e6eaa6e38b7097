//! Turning one raw item into a [`Record`], or saying why it is invalid.
//!
//! SPEC §5 is the contract, and the source's [`RecordSchema`] says what to
//! do: where the id and each field are (dot paths, or the product schema's
//! search under usual names, breadth-first over nested objects up to 3
//! levels — see [`normalize`] for the exact order) and which type reads
//! each value (`record::coerce`). The product schema is one schema among
//! others: there is one code path. Invalid items are reported by reason,
//! never dropped; a value an optional field's type cannot take becomes
//! null and is reported as a bad value. A declared path that is in the
//! item but holds no value (`null`, blank text) is told from one that
//! matches nothing, since only the second is a wrong path (SPEC §6). This
//! runs once per item, by the
//! million, inside rayon, so the lookup walks the JSON in place and a
//! [`Record`] borrows its strings from the item and the config.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::json::node::{write_escaped, write_str, Node};
use crate::record::coerce::{self, Bad, Coerced, Coercion, FieldType};
use crate::record::price::{parse_price, Currency};
pub use crate::record::schema::InvalidReason;
use crate::record::schema::{Lookup, ProductField, RecordSchema, Rest, ValueType};

/// One clean record, a line of `records.jsonl`: `key`, `source`, `id`,
/// then the schema's fields in order (null when they have no value), then
/// with `rest: "keep"` the item's other top-level fields (each key once,
/// where it first appears, with its last value).
///
/// It borrows from the item, the config and the schema; `key` is written
/// as `source:id` without being built.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    /// The source's name.
    pub source: &'a str,
    /// The item's id, as a string: the trimmed string id borrowed, or an
    /// integer id written out.
    pub id: Cow<'a, str>,
    /// One value per schema field, in schema order.
    pub values: Vec<Option<Coerced<'a>>>,
    /// The schema fields (by index) whose value was one their type cannot
    /// take, nulled: the source's `bad_values`.
    pub bad: Vec<u16>,
    /// The declared fields (by index) whose path was in the item but held
    /// no value (`null`, blank text): present, unlike a path that matches
    /// nothing. Not kept for the product schema's search.
    pub nulls: Vec<u16>,
    schema: &'a RecordSchema,
    /// The item itself, when the schema keeps the rest of its fields.
    rest: Option<&'a Members<'a>>,
    /// Values from its partition written right after `id` (a child's
    /// `include`): names and JSON texts.
    pub include: &'a [(String, String)],
    /// Put before the id in the key (`key_with_parent`): the key is
    /// `source:scope/id`.
    pub scope: Option<&'a str>,
}

impl Record<'_> {
    /// `source:id`, the dedupe key (allocates; serializing does not).
    pub fn key(&self) -> String {
        format!("{}:{}", self.source, self.unique_id())
    }

    /// What makes the record unique within its source: its id, or with
    /// `key_with_parent` the parent values and the id.
    pub fn unique_id(&self) -> Cow<'_, str> {
        match self.scope {
            Some(scope) => Cow::Owned(format!("{scope}/{}", self.id)),
            None => Cow::Borrowed(&self.id),
        }
    }
}

impl Record<'_> {
    /// Appends the record as one JSON object (no newline), written by hand
    /// into a reused buffer: `key` is written as `source:id` without being
    /// built, and nothing goes through Rust's formatting machinery.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"key\":\"");
        write_escaped(out, self.source);
        out.push(b':');
        if let Some(scope) = self.scope {
            write_escaped(out, scope);
            out.push(b'/');
        }
        write_escaped(out, &self.id);
        out.extend_from_slice(b"\",\"source\":");
        write_str(out, self.source);
        out.extend_from_slice(b",\"id\":");
        write_str(out, &self.id);
        for (name, json) in self.include {
            out.push(b',');
            write_str(out, name);
            out.push(b':');
            out.extend_from_slice(json.as_bytes());
        }
        for (spec, value) in self.schema.fields.iter().zip(&self.values) {
            out.push(b',');
            write_str(out, &spec.name);
            out.push(b':');
            match value {
                Some(v) => v.write_json(out),
                None => out.extend_from_slice(b"null"),
            }
        }
        if let Some(members) = self.rest {
            for_each_key_once(members, |name, value| {
                if !self.schema.is_own_field(name) && !self.include.iter().any(|(n, _)| n == name) {
                    out.push(b',');
                    write_str(out, name);
                    out.push(b':');
                    value.write_json(out);
                }
            });
        }
        out.push(b'}');
    }
}

/// Calls `f` with each key of `members` once, where it first appears,
/// with its last value: a key given twice is read as serde_json (or
/// Python's `json`) reads it, and as the declared fields and the product
/// schema read it. Small objects are scanned; large ones indexed once.
fn for_each_key_once<'m>(members: &'m Members<'m>, mut f: impl FnMut(&'m str, &'m Node<'m>)) {
    if members.len() <= SCAN_LIMIT {
        for (i, (key, value)) in members.iter().enumerate() {
            if members[..i].iter().any(|(k, _)| k == key) {
                continue;
            }
            let later = members[i + 1..].iter().rev().find(|(k, _)| k == key);
            f(key, later.map_or(value, |(_, v)| v));
        }
        return;
    }
    // Later members overwrite earlier ones: each key's last index.
    let mut last: HashMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.as_ref(), i))
        .collect();
    for (key, _) in members {
        if let Some(i) = last.remove(key.as_ref()) {
            f(key, &members[i].1);
        }
    }
}

/// An object's members, in document order.
type Members<'a> = [(Cow<'a, str>, Node<'a>)];

/// Normalizes one item of `source` by `schema`.
///
/// Each value comes from its lookup: the first of its dot paths present
/// and not null, or the product schema's search, where a `null` counts as
/// absent too. The search, for a field with candidate names `c0, c1, …`:
///
/// - Level 1 is the item, level 2 the objects directly inside it (not
///   inside arrays), level 3 the objects directly inside those.
/// - The first level holding any candidate wins. Within a level the
///   candidate order decides first, then the objects' document order:
///   `c0` in any object of the level beats `c1` in an earlier one.
/// - The first present, non-null value is the field's value, and only then
///   is its type checked: `{"id": 1.5, "sku": "A"}` has no valid id, not
///   the id `"A"`.
/// - When searching field F, an object held under a candidate name of any
///   other product field is not entered: `category: {"id": 5, "name":
///   "tools"}` gives neither an id nor a name.
///
/// The checks run in SPEC order: not an object, the id (missing, then of
/// the wrong kind), then each required field in order (missing, then
/// bad). A `currency` field without a usable code takes the currency of
/// the first `price` field that has one.
pub fn normalize<'a>(
    source: &'a str,
    item: &'a Node<'a>,
    schema: &'a RecordSchema,
) -> Result<Record<'a>, InvalidReason> {
    let Node::Object(obj) = item else {
        return Err(InvalidReason::NotAnObject);
    };
    let id = find(item, obj, &schema.id).ok_or(InvalidReason::MissingId)?;
    let id = id_text(id)
        .map_err(|()| InvalidReason::BadId)?
        .ok_or(InvalidReason::MissingId)?;
    let mut values = Vec::with_capacity(schema.fields.len());
    let mut bad = Vec::new();
    let mut nulls = Vec::new();
    let mut price_currency = None;
    for (i, spec) in schema.fields.iter().enumerate() {
        let i = i as u16;
        let found = find(item, obj, &spec.lookup);
        let read = match found {
            None => Ok(None),
            Some(v) => read(spec.ty, v, &mut price_currency),
        };
        match read {
            Ok(Some(value)) => values.push(Some(value)),
            Ok(None) if spec.required => return Err(InvalidReason::Missing(i)),
            Err(_) if spec.required => return Err(InvalidReason::Bad(i)),
            Ok(None) => {
                // Looked for again only when there is no value: rare.
                if found.is_some() || is_present(item, &spec.lookup) {
                    nulls.push(i);
                }
                values.push(None);
            }
            Err(_) => {
                bad.push(i);
                values.push(None);
            }
        }
    }
    if let Some(currency) = price_currency {
        let currencies = schema.fields.iter().zip(values.iter_mut());
        for (_, value) in currencies.filter(|(f, v)| is_currency(f.ty) && v.is_none()) {
            *value = Some(Coerced::Currency(currency));
        }
    }
    Ok(Record {
        source,
        id,
        values,
        bad,
        nulls,
        schema,
        rest: (schema.rest == Rest::Keep).then_some(obj),
        include: &[],
        scope: None,
    })
}

/// Whether one of a lookup's paths is in the item, `null` included. The
/// product schema's search has no path to be wrong, so it says no.
fn is_present(item: &Node<'_>, lookup: &Lookup) -> bool {
    match lookup {
        Lookup::Paths(paths) => paths.iter().any(|p| p.get(item).is_some()),
        Lookup::Search(_) => false,
    }
}

fn is_currency(ty: ValueType) -> bool {
    ty == ValueType::Declared(FieldType::Currency)
}

/// Reads one present value as `ty`; a price also offers its currency to
/// `price_currency` when none was found yet.
fn read<'a>(ty: ValueType, v: &'a Node<'a>, price_currency: &mut Option<Currency>) -> Coercion<'a> {
    match ty {
        ValueType::Text => match v {
            Node::String(s) => Ok(text(s).map(|t| Coerced::Str(Cow::Borrowed(t)))),
            _ => Err(Bad::WrongKind),
        },
        ValueType::Category => match v {
            Node::String(s) => Ok(text(s).map(|t| Coerced::Str(Cow::Borrowed(t)))),
            Node::Object(_) => Ok(v
                .get("name")
                .and_then(Node::as_str)
                .and_then(text)
                .map(|t| Coerced::Str(Cow::Borrowed(t)))),
            _ => Err(Bad::WrongKind),
        },
        ValueType::Declared(ty) => coerce::coerce(ty, v, |v| {
            let price = read_price(v)?;
            if let Some(p) = &price {
                *price_currency = price_currency.or(p.object_currency).or(p.text_currency);
            }
            Ok(price.map(|p| Coerced::Amount(p.amount)))
        }),
    }
}

impl ProductField {
    #[cfg(test)]
    const ALL: [ProductField; 5] = [
        ProductField::Id,
        ProductField::Name,
        ProductField::Price,
        ProductField::Currency,
        ProductField::Category,
    ];

    /// The usual names, in SPEC §5 order.
    fn candidates(self) -> &'static [&'static str] {
        match self {
            ProductField::Id => &["id", "sku", "product_id", "uuid"],
            ProductField::Name => &["name", "title", "product_name"],
            ProductField::Price => &["price", "amount", "cost"],
            ProductField::Currency => CURRENCY_KEYS,
            ProductField::Category => &["category"],
        }
    }

    /// Whether an object under `key` is closed to this field's search.
    fn skips(self, key: &str) -> bool {
        ProductField::of_candidate(key).is_some_and(|owner| owner != self)
    }

    /// The field whose candidate `key` is. A `match` rather than a scan of
    /// [`ProductField::candidates`]: it runs for every nested object of every item.
    fn of_candidate(key: &str) -> Option<ProductField> {
        match key {
            "id" | "sku" | "product_id" | "uuid" => Some(ProductField::Id),
            "name" | "title" | "product_name" => Some(ProductField::Name),
            "price" | "amount" | "cost" => Some(ProductField::Price),
            "currency" | "currency_code" => Some(ProductField::Currency),
            "category" => Some(ProductField::Category),
            _ => None,
        }
    }
}

/// Where a price object or an item keeps its currency.
const CURRENCY_KEYS: &[&str] = &["currency", "currency_code"];

/// Where a price object keeps its amount, in SPEC order.
const AMOUNT_KEYS: &[&str] = &["amount", "value", "price"];

/// A value by its lookup: the first of its paths present and not null, or
/// the search. Never null.
fn find<'a>(item: &'a Node<'a>, obj: &'a Members<'a>, lookup: &Lookup) -> Option<&'a Node<'a>> {
    match lookup {
        Lookup::Paths(paths) => paths
            .iter()
            .find_map(|p| p.get(item).filter(|v| !v.is_null())),
        Lookup::Search(field) => search(obj, *field),
    }
}

/// The breadth-first search described on [`normalize`].
fn search<'a>(item: &'a Members<'a>, field: ProductField) -> Option<&'a Node<'a>> {
    let candidates = field.candidates();
    best_in_level(std::iter::once(item), candidates)
        .or_else(|| best_in_level(inner_objects(item, field), candidates))
        .or_else(|| {
            let level3 = inner_objects(item, field).flat_map(|o| inner_objects(o, field));
            best_in_level(level3, candidates)
        })
}

/// The objects directly inside `obj` that `field`'s search may enter.
fn inner_objects<'a>(
    obj: &'a Members<'a>,
    field: ProductField,
) -> impl Iterator<Item = &'a Members<'a>> {
    obj.iter().filter_map(move |(k, v)| match v {
        Node::Object(m) if !field.skips(k) => Some(m.as_slice()),
        _ => None,
    })
}

/// In one pass over a level: the non-null value of the earliest candidate,
/// the first object in document order breaking ties.
fn best_in_level<'a>(
    level: impl Iterator<Item = &'a Members<'a>>,
    candidates: &[&str],
) -> Option<&'a Node<'a>> {
    let mut best: Option<(usize, &Node)> = None;
    for obj in level {
        let limit = best.map_or(candidates.len(), |(i, _)| i);
        if let Some(hit) = earliest_candidate(obj, &candidates[..limit]) {
            best = Some(hit);
            if hit.0 == 0 {
                break;
            }
        }
    }
    best.map(|(_, v)| v)
}

/// The earliest of `candidates` present (non-null) in `obj`, with its
/// index. Items are small objects, so one pass comparing keys beats a
/// hashed lookup per candidate; large objects use the lookups.
fn earliest_candidate<'a>(
    obj: &'a Members<'a>,
    candidates: &[&str],
) -> Option<(usize, &'a Node<'a>)> {
    if obj.len() > SCAN_LIMIT {
        return candidates
            .iter()
            .enumerate()
            .find_map(|(i, c)| present(obj, c).map(|v| (i, v)));
    }
    let mut best: Option<(usize, &Node)> = None;
    for (key, value) in obj {
        if value.is_null() {
            continue;
        }
        // Up to and including the best so far: a key given twice takes its
        // last value, as everywhere else.
        let limit = best.map_or(candidates.len(), |(i, _)| i + 1);
        if let Some(i) = candidates[..limit].iter().position(|c| *c == key) {
            best = Some((i, value));
        }
    }
    best
}

/// Objects up to this many keys are scanned rather than probed.
const SCAN_LIMIT: usize = 16;

/// `obj[key]`, with `null` counting as absent.
fn present<'a>(obj: &'a Members<'a>, key: &str) -> Option<&'a Node<'a>> {
    let (_, value) = obj.iter().rev().find(|(k, _)| k == key)?;
    Some(value).filter(|v| !v.is_null())
}

/// The first present, non-null value among `keys`.
fn first_present<'a>(obj: &'a Members<'a>, keys: &[&str]) -> Option<&'a Node<'a>> {
    keys.iter().find_map(|k| present(obj, k))
}

/// An id: a trimmed non-empty string (borrowed), or an integer written as
/// a string (owned); `Ok(None)` for a blank string, `Err` for a value of
/// another kind. Numbers keep their JSON text (serde_json's
/// `arbitrary_precision`), so an integer id of any size keeps every digit;
/// `-0` is `0`, and a fraction or an exponent is not an integer.
fn id_text<'a>(v: &'a Node<'a>) -> Result<Option<Cow<'a, str>>, ()> {
    match v {
        Node::String(s) => Ok(text(s).map(Cow::Borrowed)),
        Node::Number(n) => {
            let text = *n;
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                Err(())
            } else if digits.bytes().all(|b| b == b'0') {
                Ok(Some(Cow::Borrowed("0")))
            } else {
                Ok(Some(Cow::Borrowed(text)))
            }
        }
        _ => Err(()),
    }
}

/// A string's text, trimmed; `None` when blank.
fn text(s: &str) -> Option<&str> {
    Some(s.trim()).filter(|t| !t.is_empty())
}

/// A price and the currencies it carries, each in its own slot because the
/// item's own currency field ranks between them.
struct Price {
    amount: f64,
    object_currency: Option<Currency>,
    text_currency: Option<Currency>,
}

/// Reads a price value (never null): a number, a string, or an object with
/// an amount. A price object without an amount is no price (`Ok(None)`).
fn read_price(v: &Node<'_>) -> Result<Option<Price>, Bad> {
    let (amount, object_currency) = match v {
        Node::Object(m) => match first_present(m, AMOUNT_KEYS) {
            Some(amount) => (amount, first_present(m, CURRENCY_KEYS).and_then(code)),
            None => return Ok(None),
        },
        v => (v, None),
    };
    let (amount, text_currency) = match amount {
        Node::Number(n) => (n.parse::<f64>().map_err(|_| Bad::OutOfRange)?, None),
        Node::String(s) => {
            let p = parse_price(s).ok_or(Bad::Unreadable)?;
            (p.amount, p.currency)
        }
        _ => return Err(Bad::WrongKind),
    };
    if !(amount.is_finite() && amount >= 0.0) {
        return Err(Bad::OutOfRange);
    }
    Ok(Some(Price {
        // `+ 0.0` turns a JSON `-0.0` into 0.0, so no record says "-0.0".
        amount: amount + 0.0,
        object_currency,
        text_currency,
    }))
}

/// A price object's currency field: a 3-letter code, else ignored.
fn code(v: &Node<'_>) -> Option<Currency> {
    v.as_str().and_then(Currency::from_code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::DotPath;
    use crate::record::schema::FieldPaths;
    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::json;
    use serde_json::Value;

    /// The product schema's reasons as its summary names them (an id of
    /// the wrong kind is `missing_id` there): these tests speak of them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum InvalidReason {
        NotAnObject,
        MissingId,
        MissingPrice,
        BadPrice,
    }

    #[test]
    fn a_key_given_twice_takes_its_last_value_in_the_product_shape_too() {
        let schema = RecordSchema::product(&FieldPaths::default());
        let many: String = (0..SCAN_LIMIT).map(|i| format!(",\"k{i}\":{i}")).collect();
        for extra in ["", many.as_str()] {
            let text = format!(r#"{{"id":3,"id":4,"price":2,"price":3{extra}}}"#);
            let node = Node::parse(&text).unwrap();
            let record = normalize("s", &node, &schema).unwrap();
            assert_eq!(record.id, "4", "{text}");
            let mut line = Vec::new();
            record.write_json(&mut line);
            let line = String::from_utf8(line).unwrap();
            assert!(line.contains(r#""price":3"#), "{line}");
        }
    }

    /// `rest: "keep"` writes each key of the item once: where it first
    /// appears, with its last value (as serde_json, or Python's `json`,
    /// read the item), in small objects and in large ones alike.
    #[test]
    fn rest_keep_writes_a_repeated_key_once_with_its_last_value() {
        let doc = json!({"sources": [{"name": "s", "url": "http://h/",
            "record": {"id": "id", "fields": {"t": "t"}, "rest": "keep"}}]});
        let config = crate::config::Config::parse("t", &doc.to_string()).unwrap();
        let schema = &config.sources[0].record;
        let many: String = (0..SCAN_LIMIT).map(|i| format!(",\"k{i}\":{i}")).collect();
        for extra in ["", many.as_str()] {
            let text = format!(
                r#"{{"id":1,"x":1,"t":"a","y":0,"x":2,"t":"b","id":7{extra},"x":3,"z":[1,1]}}"#
            );
            let node = Node::parse(&text).unwrap();
            let record = normalize("s", &node, schema).unwrap();
            let mut line = Vec::new();
            record.write_json(&mut line);
            let line = String::from_utf8(line).unwrap();
            let want = format!(
                r#"{{"key":"s:7","source":"s","id":"7","t":"b","x":3,"y":0{extra},"z":[1,1]}}"#
            );
            assert_eq!(line, want, "{text}");
        }
    }

    /// A product record as the tests look at it: its fields by name.
    #[derive(Debug, Clone, PartialEq)]
    struct View {
        record: Record<'static>,
        id: Cow<'static, str>,
        name: Option<&'static str>,
        price: f64,
        currency: Option<Currency>,
        category: Option<&'static str>,
    }

    impl View {
        fn key(&self) -> String {
            self.record.key()
        }
    }

    impl View {
        /// The record's line, as records.jsonl holds it.
        fn line(&self) -> String {
            let mut out = Vec::new();
            self.record.write_json(&mut out);
            String::from_utf8(out).unwrap()
        }
    }

    fn text_of(v: &Option<Coerced<'static>>) -> Option<&'static str> {
        match v {
            Some(Coerced::Str(Cow::Borrowed(s))) => Some(s),
            None => None,
            other => panic!("not borrowed text: {other:?}"),
        }
    }

    /// A record borrows from its item and schema, and these helpers take
    /// the item by value so a test reads `let r = ok(json!(…))`: both are
    /// leaked to give them a `'static` life (a few bytes per test).
    fn view(source: &'static str, item: Value, fields: FieldPaths) -> Result<View, InvalidReason> {
        let schema: &'static RecordSchema = Box::leak(Box::new(RecordSchema::product(&fields)));
        let text: &'static str = Box::leak(item.to_string().into_boxed_str());
        let node: &'static Node<'static> = Box::leak(Box::new(Node::parse(text).unwrap()));
        match normalize(source, node, schema) {
            Ok(record) => Ok(View {
                id: record.id.clone(),
                name: text_of(&record.values[0]),
                price: match record.values[1] {
                    Some(Coerced::Amount(a)) => a,
                    ref other => panic!("price {other:?}"),
                },
                currency: match record.values[2] {
                    Some(Coerced::Currency(c)) => Some(c),
                    None => None,
                    ref other => panic!("currency {other:?}"),
                },
                category: text_of(&record.values[3]),
                record,
            }),
            Err(e) => Err(match schema.reason_name(e).as_str() {
                "not_an_object" => InvalidReason::NotAnObject,
                "missing_id" => InvalidReason::MissingId,
                "missing_price" => InvalidReason::MissingPrice,
                "bad_price" => InvalidReason::BadPrice,
                other => panic!("the product schema has no reason {other}"),
            }),
        }
    }

    fn norm(item: Value) -> Result<View, InvalidReason> {
        view("s", item, FieldPaths::default())
    }

    fn norm_with(item: Value, fields: FieldPaths) -> Result<View, InvalidReason> {
        view("s", item, fields)
    }

    fn dot(text: &str) -> DotPath {
        text.parse().unwrap()
    }

    fn ok(item: Value) -> View {
        norm(item.clone()).unwrap_or_else(|e| panic!("{item} should be valid, got {e:?}"))
    }

    fn invalid(item: Value) -> InvalidReason {
        match norm(item.clone()) {
            Ok(r) => panic!("{item} should be invalid, got {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn serializes_exactly_as_spec_shows() {
        let item = json!({"id": 17, "name": "Desk lamp", "price": 1299, "currency": "usd",
                          "category": "home"});
        let r = view("alpha", item, FieldPaths::default()).unwrap();
        assert_eq!(
            r.line(),
            r#"{"key":"alpha:17","source":"alpha","id":"17","name":"Desk lamp","price":1299.0,"currency":"USD","category":"home"}"#
        );
        let bare = ok(json!({"id": "x", "price": 0}));
        assert_eq!(
            bare.line(),
            r#"{"key":"s:x","source":"s","id":"x","name":null,"price":0.0,"currency":null,"category":null}"#
        );
    }

    #[test]
    fn serializes_escaped_strings_exactly() {
        let item = json!({"id": " a\"b\nc ", "name": "  Say \"hi\"\n\tnow\u{1} é ",
                          "price": "12.50", "currency": "eur", "category": "tools/ \\ x"});
        let r = view("q\"s", item, FieldPaths::default()).unwrap();
        let line = r.line();
        assert_eq!(
            line,
            r#"{"key":"q\"s:a\"b\nc","source":"q\"s","id":"a\"b\nc","name":"Say \"hi\"\n\tnow\u0001 é","price":12.5,"currency":"EUR","category":"tools/ \\ x"}"#
        );
        assert_eq!(line, serde_json::to_string(&Owned::from(&r)).unwrap());
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["key"], json!(r.key()));
        assert_eq!(back["name"], json!("Say \"hi\"\n\tnow\u{1} é"));
    }

    /// The record as it was before it borrowed, with derived `Serialize`:
    /// the hand-written one must write the same bytes.
    #[derive(Serialize)]
    struct Owned {
        key: String,
        source: String,
        id: String,
        name: Option<String>,
        price: f64,
        currency: Option<String>,
        category: Option<String>,
    }

    impl From<&View> for Owned {
        fn from(r: &View) -> Owned {
            Owned {
                key: r.key(),
                source: r.record.source.to_owned(),
                id: r.id.to_string(),
                name: r.name.map(str::to_owned),
                price: r.price,
                currency: r.currency.map(|c| c.to_string()),
                category: r.category.map(str::to_owned),
            }
        }
    }

    #[test]
    fn ids() {
        assert_eq!(ok(json!({"id": 17, "price": 1})).id, "17");
        assert_eq!(ok(json!({"id": " 17 ", "price": 1})).key(), "s:17");
        assert_eq!(ok(json!({"id": -3, "price": 1})).id, "-3");
        assert_eq!(
            ok(json!({"id": u64::MAX, "price": 1})).id,
            u64::MAX.to_string()
        );
        // Integers beyond 64 bits keep every digit; -0 is 0.
        let big: Value =
            serde_json::from_str(r#"{"id": 1180591620717411303424, "price": 1}"#).unwrap();
        assert_eq!(ok(big).id, "1180591620717411303424");
        let zero: Value = serde_json::from_str(r#"{"id": -0, "price": 1}"#).unwrap();
        assert_eq!(ok(zero).id, "0");
        assert_eq!(ok(json!({"sku": "A-1", "price": 1})).id, "A-1");
        assert_eq!(
            ok(json!({"uuid": "u", "product_id": "p", "price": 1})).id,
            "p"
        );
        assert_eq!(ok(json!({"id": null, "sku": "A", "price": 1})).id, "A");
        for bad in [
            json!(1.5),
            json!(17.0),
            serde_json::from_str("1e3").unwrap(),
            json!(true),
            json!(""),
            json!("  "),
            json!([1]),
            json!({"v": 1}),
        ] {
            assert_eq!(
                invalid(json!({"id": bad, "price": 1})),
                InvalidReason::MissingId
            );
        }
        // The first present value decides; its type is checked afterwards.
        assert_eq!(
            invalid(json!({"id": 1.5, "sku": "A", "price": 1})),
            InvalidReason::MissingId
        );
    }

    #[test]
    fn names_and_categories() {
        let r = ok(json!({"id": 1, "price": 1, "title": "  Lamp ", "category": " home "}));
        assert_eq!((r.name, r.category), (Some("Lamp"), Some("home")));
        let r = ok(json!({"id": 1, "price": 1, "name": "", "category": ""}));
        assert_eq!((r.name, r.category), (None, None));
        let r = ok(json!({"id": 1, "price": 1, "name": 5, "title": "T", "category": 3}));
        assert_eq!((r.name, r.category), (None, None));
        let r = ok(json!({"id": 1, "price": 1, "name": null, "product_name": "P"}));
        assert_eq!(r.name, Some("P"));
        let r = ok(json!({"id": 1, "price": 1, "category": {"id": 5, "name": " tools "}}));
        assert_eq!((r.name, r.category), (None, Some("tools")));
        let r = ok(json!({"id": 1, "price": 1, "category": {"title": "tools"}}));
        assert_eq!(r.category, None);
    }

    #[test]
    fn objects_under_other_fields_names_are_not_searched() {
        assert_eq!(
            invalid(json!({"price": 1, "category": {"id": 5, "name": "tools"}})),
            InvalidReason::MissingId
        );
        assert_eq!(
            invalid(json!({"price": {"amount": 5, "id": 9}})),
            InvalidReason::MissingId
        );
        // Deeper, too: a price object at level 2 is closed to the id search.
        assert_eq!(
            invalid(json!({"offer": {"price": {"amount": 5, "sku": "X"}}})),
            InvalidReason::MissingId
        );
        // A price found in a price object does not make its currency the
        // item's: the item's own field ranks first.
        let r = ok(json!({"id": 1, "currency": "GBP", "price": {"amount": 5, "currency": "EUR"}}));
        assert_eq!(r.currency, Some(Currency::GBP));
    }

    #[test]
    fn candidate_match_agrees_with_lists() {
        for f in ProductField::ALL {
            for c in f.candidates() {
                assert_eq!(ProductField::of_candidate(c), Some(f), "{c}");
            }
        }
        assert_eq!(ProductField::of_candidate("value"), None);
    }

    #[test]
    fn breadth_first_order() {
        // Level 1 beats level 2 even for a later candidate.
        let r = ok(json!({"data": {"id": 1}, "uuid": "top", "price": 1}));
        assert_eq!(r.id, "top");
        // Level 2 beats level 3.
        let r = ok(json!({"a": {"b": {"id": 3}}, "c": {"sku": "two"}, "price": 1}));
        assert_eq!(r.id, "two");
        // Within a level the candidate order decides, then document order.
        let r = ok(json!({"a": {"sku": "first-doc"}, "b": {"id": "first-name"}, "price": 1}));
        assert_eq!(r.id, "first-name");
        let r = ok(json!({"b": {"sku": "b"}, "a": {"sku": "a"}, "price": 1}));
        assert_eq!(r.id, "b");
        // Level 3 is the last one searched.
        let r = ok(json!({"x": {"y": {"id": 3, "price": "3"}}}));
        assert_eq!((&*r.id, r.price), ("3", 3.0));
        assert_eq!(
            invalid(json!({"x": {"y": {"z": {"id": 4}}}, "price": 1})),
            InvalidReason::MissingId
        );
        // Arrays are not searched.
        assert_eq!(
            invalid(json!({"v": [{"id": 1}], "price": 1})),
            InvalidReason::MissingId
        );
        // A null at level 1 lets the search go on.
        let r = ok(json!({"id": null, "p": {"id": 8}, "price": 1}));
        assert_eq!(r.id, "8");
    }

    #[test]
    fn prices() {
        assert_eq!(ok(json!({"id": 1, "price": 12.5})).price, 12.5);
        assert_eq!(ok(json!({"id": 1, "price": 0})).price, 0.0);
        assert_eq!(
            ok(json!({"id": 1, "price": -0.0})).price.to_bits(),
            0.0f64.to_bits()
        );
        assert_eq!(ok(json!({"id": 1, "amount": "12,50"})).price, 12.5);
        assert_eq!(ok(json!({"id": 1, "cost": "$3"})).price, 3.0);
        assert_eq!(ok(json!({"id": 1, "price": null, "cost": 4})).price, 4.0);
        assert_eq!(ok(json!({"id": 1, "price": {"value": 5}})).price, 5.0);
        assert_eq!(
            ok(json!({"id": 1, "price": {"amount": null, "price": "6"}})).price,
            6.0
        );
        assert_eq!(ok(json!({"id": 1, "pricing": {"amount": 7}})).price, 7.0);
    }

    #[test]
    fn currencies() {
        let cur = |item: Value| ok(item).currency.map(|c| c.to_string());
        assert_eq!(cur(json!({"id": 1, "price": 1})), None);
        assert_eq!(
            cur(json!({"id": 1, "price": 1, "currency": "eur"})).as_deref(),
            Some("EUR")
        );
        assert_eq!(
            cur(json!({"id": 1, "price": "$1", "currency": "eur"})).as_deref(),
            Some("EUR")
        );
        assert_eq!(
            cur(json!({"id": 1, "price": "$1", "currency": "dollars"})).as_deref(),
            Some("USD")
        );
        assert_eq!(
            cur(json!({"id": 1, "price": "$1", "currency": 840})).as_deref(),
            Some("USD")
        );
        assert_eq!(
            cur(json!({"id": 1, "price": 1, "currency_code": "gbp"})).as_deref(),
            Some("GBP")
        );
        assert_eq!(
            cur(json!({"id": 1, "price": {"amount": "€1", "currency": "CHF"}})).as_deref(),
            Some("CHF")
        );
        assert_eq!(
            cur(json!({"id": 1, "price": {"amount": "€1", "currency": "euro"}})).as_deref(),
            Some("EUR")
        );
        assert_eq!(
            cur(json!({"id": 1, "price": {"amount": 1, "currency_code": "jpy"}})).as_deref(),
            Some("JPY")
        );
        assert_eq!(
            cur(json!({"id": 1, "pricing": {"amount": 1, "currency": "sek"}})).as_deref(),
            Some("SEK")
        );
    }

    #[test]
    fn invalid_reasons_in_order() {
        for v in [
            json!(null),
            json!(1),
            json!("x"),
            json!([{"id": 1, "price": 1}]),
            json!(true),
        ] {
            assert_eq!(invalid(v), InvalidReason::NotAnObject);
        }
        assert_eq!(invalid(json!({})), InvalidReason::MissingId);
        assert_eq!(invalid(json!({"price": "-5"})), InvalidReason::MissingId);
        assert_eq!(invalid(json!({"id": 1})), InvalidReason::MissingPrice);
        assert_eq!(
            invalid(json!({"id": 1, "price": null})),
            InvalidReason::MissingPrice
        );
        assert_eq!(
            invalid(json!({"id": 1, "price": {"currency": "USD"}})),
            InvalidReason::MissingPrice
        );
        assert_eq!(
            invalid(json!({"id": 1, "price": {"amount": null}})),
            InvalidReason::MissingPrice
        );
        for bad in [
            json!(-1),
            json!(-0.5),
            json!("-5"),
            json!("1e3"),
            json!("NaN"),
            json!(""),
            json!("free"),
            json!(true),
            json!([1]),
            json!({"amount": true}),
            json!({"amount": {"value": 1}}),
            json!({"amount": "-1"}),
        ] {
            assert_eq!(
                invalid(json!({"id": 1, "price": bad})),
                InvalidReason::BadPrice
            );
        }
    }

    #[test]
    fn a_null_or_blank_field_is_present_and_a_missing_one_is_not() {
        use crate::record::schema::FieldSpec;
        let field = |name: &str, paths: &[&str], ty: FieldType| FieldSpec {
            name: name.into(),
            lookup: Lookup::Paths(paths.iter().map(|p| dot(p)).collect()),
            ty: ValueType::Declared(ty),
            required: false,
        };
        let schema = RecordSchema {
            fields: vec![
                field("deleted", &["attributes.deleted_at"], FieldType::Timestamp),
                field("note", &["note"], FieldType::String),
                field("gone", &["archived_at", "meta.archived"], FieldType::Any),
                field("later", &["nope", "attributes.deleted_at"], FieldType::Any),
                field("title", &["attributes.title"], FieldType::String),
                field("views", &["views"], FieldType::Integer),
            ],
            id: Lookup::Paths(vec![dot("id")]),
            rest: Rest::Drop,
            product: false,
        };
        let item = json!({"id": "7", "note": "  ", "views": "many", "meta": {},
                          "attributes": {"title": "T", "deleted_at": null}});
        let text = item.to_string();
        let node = Node::parse(&text).unwrap();
        let r = normalize("s", &node, &schema).unwrap();
        // deleted (null), note (blank), later (its second path, null).
        assert_eq!(r.nulls, [0, 1, 3]);
        assert_eq!(r.bad, [5], "a bad value is bad, not null");
        assert!(r.values[4].is_some());
    }

    #[test]
    fn overrides_replace_the_search() {
        let item = json!({
            "id": 1, "ref": {"code": "R-9"}, "price": 99,
            "pricing": {"amount": "12.50", "currency": "eur"},
            "variants": [{"price": "3.00"}, {"price": "4.00"}],
            "tags": {"0": "zero"}, "kind": "tools", "label": "L"
        });
        let fields = FieldPaths {
            id: Some(dot("ref.code")),
            name: Some(dot("label")),
            price: Some(dot("variants.1.price")),
            currency: Some(dot("pricing.currency")),
            category: Some(dot("tags.0")),
        };
        let r = norm_with(item.clone(), fields).unwrap();
        assert_eq!(
            (
                &*r.id,
                r.name,
                r.price,
                r.currency.as_ref().map(Currency::as_str),
                r.category
            ),
            ("R-9", Some("L"), 4.0, Some("EUR"), Some("zero"))
        );
        // An override that finds nothing does not fall back to the search.
        let fields = FieldPaths {
            price: Some(dot("pricing.cost")),
            ..Default::default()
        };
        assert_eq!(
            norm_with(item.clone(), fields),
            Err(InvalidReason::MissingPrice)
        );
        let fields = FieldPaths {
            id: Some(dot("variants.7.id")),
            ..Default::default()
        };
        assert_eq!(
            norm_with(item.clone(), fields),
            Err(InvalidReason::MissingId)
        );
        let fields = FieldPaths {
            price: Some(dot("pricing")),
            ..Default::default()
        };
        assert_eq!(norm_with(item.clone(), fields).unwrap().price, 12.5);
        let fields = FieldPaths {
            price: Some(dot("id.x")),
            ..Default::default()
        };
        assert_eq!(norm_with(item, fields), Err(InvalidReason::MissingPrice));
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec![
            "id",
            "sku",
            "product_id",
            "uuid",
            "name",
            "title",
            "product_name",
            "price",
            "amount",
            "cost",
            "currency",
            "currency_code",
            "category",
            "value",
            "data",
            "x",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[ $€£¥0-9.,a-zA-Z-]{0,12}".prop_map(Value::from),
            any::<String>().prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..8).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    fn any_fields() -> impl Strategy<Value = FieldPaths> {
        let path = prop::option::weighted(
            0.2,
            prop::sample::select(vec![
                "id",
                "x.price",
                "data.0",
                "x.x.amount",
                "data.00",
                "data.+0",
                "9",
            ])
            .prop_map(dot),
        );
        (path.clone(), path.clone(), path.clone(), path.clone(), path).prop_map(
            |(id, name, price, currency, category)| FieldPaths {
                id,
                name,
                price,
                currency,
                category,
            },
        )
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        #[test]
        fn never_panics_and_records_hold_their_promises(item in any_json(), fields in any_fields()) {
            let first = view("src", item.clone(), fields.clone());
            prop_assert_eq!(&first, &view("src", item, fields), "not deterministic");
            if let Ok(r) = first {
                prop_assert!(!r.id.is_empty() && r.id.trim() == r.id);
                prop_assert_eq!(r.key(), format!("src:{}", r.id));
                prop_assert_eq!(
                    r.line(),
                    serde_json::to_string(&Owned::from(&r)).unwrap()
                );
                prop_assert!(r.price.is_finite() && r.price >= 0.0);
                if let Some(c) = r.currency {
                    let c = c.as_str();
                    prop_assert!(c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()));
                }
                for s in [r.name, r.category].into_iter().flatten() {
                    prop_assert!(!s.is_empty() && s.trim() == s);
                }
            }
        }
    }

    /// Field names for random declared schemas: some of them the product
    /// schema's or the items' own keys, so `rest: "keep"` meets clashes.
    const SCHEMA_NAMES: [&str; 10] = [
        "title", "price", "currency", "name", "data", "x", "value", "amount", "state", "when",
    ];

    fn any_paths() -> impl Strategy<Value = Vec<DotPath>> {
        let path = prop::sample::select(vec![
            "id",
            "sku",
            "title",
            "price",
            "amount",
            "currency",
            "value",
            "x",
            "x.price",
            "x.x.amount",
            "x.0.id",
            "data.0",
            "data.00",
            "data.1.value",
            "9",
            "no.such.path",
        ])
        .prop_map(dot);
        prop::collection::vec(path, 1..3)
    }

    /// A declared schema: distinct field names in random order, each with
    /// random paths, type and `required`; the id at random paths or by the
    /// search; `rest` keep or drop.
    fn any_schema() -> impl Strategy<Value = RecordSchema> {
        let names =
            prop::sample::subsequence(SCHEMA_NAMES.to_vec(), 0..=SCHEMA_NAMES.len()).prop_shuffle();
        let spec = || {
            (
                any_paths(),
                prop::sample::select(FieldType::ALL.to_vec()),
                prop::bool::weighted(0.15),
            )
        };
        let id = || {
            prop_oneof![
                3 => Just(Lookup::Paths(vec![dot("id")])),
                1 => any_paths().prop_map(Lookup::Paths),
                1 => Just(Lookup::Search(ProductField::Id)),
            ]
        };
        names
            .prop_flat_map(move |names| {
                let specs = prop::collection::vec(spec(), names.len());
                (Just(names), specs)
            })
            .prop_flat_map(move |(names, specs)| {
                let fields: Vec<crate::record::schema::FieldSpec> = names
                    .iter()
                    .zip(specs)
                    .map(
                        |(name, (paths, ty, required))| crate::record::schema::FieldSpec {
                            name: name.to_string(),
                            lookup: Lookup::Paths(paths),
                            ty: ValueType::Declared(ty),
                            required,
                        },
                    )
                    .collect();
                (id(), Just(fields), any::<bool>())
            })
            .prop_map(|(id, fields, keep)| RecordSchema {
                id,
                fields,
                rest: if keep { Rest::Keep } else { Rest::Drop },
                product: false,
            })
    }

    /// Items for declared schemas: any JSON at all, or (mostly) an object
    /// with an id and fields under the schemas' names, holding any JSON or
    /// a value some type takes.
    fn any_item() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(SCHEMA_NAMES.to_vec());
        let plausible = prop::sample::select(vec![
            json!("2026-11-01T09:00:00.5+01:00"),
            json!("2026-11-01"),
            json!("2026-11-01T09:00:00"),
            json!(1_700_000_000),
            json!(1_700_000_000_123_u64),
            json!("12.50"),
            json!("$1,299.00"),
            json!({"amount": "3", "currency": "gbp"}),
            json!(" true "),
            json!("0012"),
            json!(1),
            json!(-0.0),
            json!("eur"),
            json!(" x "),
            json!(""),
            json!([1, {"a": null}]),
            Value::Null,
        ]);
        let value = prop_oneof![any_json(), plausible];
        let id = prop_oneof![
            any::<u32>().prop_map(Value::from),
            "[ a-z0-9-]{1,6}".prop_map(Value::from),
        ];
        prop_oneof![
            1 => any_json(),
            4 => (id, prop::collection::vec((key, value), 0..10)).prop_map(|(id, kv)| {
                let mut m = serde_json::Map::new();
                m.insert("id".to_string(), id);
                for (k, v) in kv {
                    m.insert(k.to_string(), v);
                }
                Value::Object(m)
            }),
        ]
    }

    /// What a value of `ty` may look like in a record (SPEC §5 "Types").
    fn fits(ty: FieldType, v: &Value) -> bool {
        let trimmed = |s: &str| !s.is_empty() && s.trim() == s;
        match (ty, v) {
            (FieldType::Any | FieldType::Json, v) => !v.is_null(),
            (FieldType::String, Value::String(s)) => trimmed(s),
            (FieldType::Integer, Value::Number(n)) => {
                let t = n.as_str();
                let digits = t.strip_prefix('-').unwrap_or(t);
                !digits.is_empty()
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && (digits == "0" || !digits.starts_with('0'))
                    && t != "-0"
            }
            (FieldType::Number, Value::Number(n)) => n.as_f64().is_some_and(f64::is_finite),
            (FieldType::Boolean, Value::Bool(_)) => true,
            (FieldType::Timestamp, Value::String(s)) => {
                s.len() >= 20 && s.ends_with('Z') && s.as_bytes()[10] == b'T'
            }
            (FieldType::Price, Value::Number(n)) => n.as_f64().is_some_and(|a| a >= 0.0),
            (FieldType::Currency, Value::String(s)) => {
                s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
            }
            _ => false,
        }
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        #[test]
        fn declared_schemas_write_their_fields_in_order(
            schema in any_schema(),
            item in any_item(),
        ) {
            let text = item.to_string();
            let node = Node::parse(&text).unwrap();
            let result = normalize("src", &node, &schema);
            let Ok(r) = result else { return Ok(()) };
            prop_assert_eq!(r.values.len(), schema.fields.len());
            let mut out = Vec::new();
            r.write_json(&mut out);
            let line = String::from_utf8(out).unwrap();
            let back: Value = serde_json::from_str(&line).unwrap();
            let obj = back.as_object().expect("a record is an object");
            let mut want: Vec<&str> = vec!["key", "source", "id"];
            want.extend(schema.fields.iter().map(|f| f.name.as_str()));
            if schema.rest == Rest::Keep {
                let item = item.as_object().unwrap();
                want.extend(item.keys().map(String::as_str).filter(|k| !schema.is_own_field(k)));
            }
            let got: Vec<&str> = obj.keys().map(String::as_str).collect();
            prop_assert_eq!(&got, &want, "{}", line);
            prop_assert_eq!(&obj["key"], &json!(format!("src:{}", r.id)));
            prop_assert_eq!(&obj["source"], &json!("src"));
            prop_assert!(!r.id.is_empty() && r.id.trim() == r.id, "{}", line);
            for (i, f) in schema.fields.iter().enumerate() {
                let v = &obj[f.name.as_str()];
                if f.required {
                    prop_assert!(!v.is_null(), "required {} is null: {}", f.name, line);
                }
                let ValueType::Declared(ty) = f.ty else { unreachable!() };
                prop_assert!(v.is_null() || fits(ty, v), "{} as {}: {}", f.name, ty, line);
                if r.bad.contains(&(i as u16)) {
                    prop_assert!(!f.required, "a bad required {} is a record: {}", f.name, line);
                    // A currency field with a bad value takes the price's
                    // currency when there is one (SPEC §5); any other bad
                    // value is null.
                    if ty != FieldType::Currency {
                        prop_assert!(v.is_null(), "bad {} is not null: {}", f.name, line);
                    }
                }
            }
            let mut bad = r.bad.clone();
            bad.dedup();
            prop_assert_eq!(bad.len(), r.bad.len(), "a field is bad once");
            // A field without a value is null-but-present exactly when one
            // of its paths is in the item (SPEC §6: only an absent path is
            // "check its path").
            for (i, f) in schema.fields.iter().enumerate() {
                let i = i as u16;
                let Lookup::Paths(paths) = &f.lookup else { unreachable!() };
                let present = paths.iter().any(|p| p.get(&item).is_some());
                let null = r.nulls.contains(&i);
                prop_assert!(!(null && r.bad.contains(&i)), "{} null and bad", f.name);
                if r.values[i as usize].is_none() && !r.bad.contains(&i) {
                    prop_assert_eq!(null, present, "{} present={}: {}", &f.name, present, line);
                }
            }
            if schema.rest == Rest::Keep {
                for (k, v) in item.as_object().unwrap() {
                    if !schema.is_own_field(k) {
                        prop_assert_eq!(&obj[k.as_str()], v, "rest {} as it is", k);
                    }
                }
            }
        }
    }
}
