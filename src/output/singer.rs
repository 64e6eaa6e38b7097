//! Singer messages (SPEC §10): what `--format singer` writes to stdout,
//! so that any Singer target loads the records.
//!
//! Per source (stream = source name): a SCHEMA before its first RECORD,
//! the JSON Schema of its record schema ([`json_schema`]); a RECORD per
//! record, the record exactly as `records.jsonl` would hold it, with the
//! time its page arrived; a STATE (the state of SPEC §9, as the state
//! file holds it) when a source ends and once at the end. A stream's
//! schema does not change within a run (it comes from the config), so a
//! SCHEMA is sent once per stream. Lines are written by hand into the
//! caller's buffer, like records; only the SCHEMA and STATE go through
//! serde_json, once per source. A stream can leave fields out (a tap
//! catalog deselected them, SPEC §15): its SCHEMA and RECORDs then go
//! without them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use serde_json::{json, Map, Value};

use crate::config::{Config, SourceConfig};
use crate::json::node::{write_str, Node};
use crate::record::coerce::FieldType;
use crate::record::schema::{FieldSpec, Lookup, RecordSchema, Rest, ValueType};
use crate::state::{Ended, Plan, State};
use crate::time::rfc3339_millis;

/// The JSON Schema of the records `schema` makes: `key`, `source` and
/// `id` required strings, then each field typed from its type (nullable
/// unless required; `any` as `{}`, any value; `json` as objects or
/// arrays, so that targets make a JSON column (`jsonb`) where `{}` made
/// some drop the field), and other properties allowed only with
/// `rest: "keep"`.
pub fn json_schema(schema: &RecordSchema) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for own in ["key", "source", "id"] {
        properties.insert(own.into(), json!({ "type": "string" }));
        required.push(json!(own));
    }
    for field in &schema.fields {
        properties.insert(field.name.clone(), field_schema(field));
        if field.required {
            required.push(json!(field.name));
        }
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": schema.rest == Rest::Keep,
    })
}

/// One field's JSON Schema.
fn field_schema(field: &FieldSpec) -> Value {
    let (ty, format) = match field.ty {
        ValueType::Declared(FieldType::Any) => return json!({}),
        ValueType::Declared(FieldType::Json) => {
            return match field.required {
                true => json!({ "type": ["object", "array"] }),
                false => json!({ "type": ["object", "array", "null"] }),
            };
        }
        ValueType::Declared(FieldType::Integer) => ("integer", None),
        ValueType::Declared(FieldType::Number | FieldType::Price) => ("number", None),
        ValueType::Declared(FieldType::Boolean) => ("boolean", None),
        ValueType::Declared(FieldType::Timestamp) => ("string", Some("date-time")),
        ValueType::Declared(FieldType::String | FieldType::Currency)
        | ValueType::Text
        | ValueType::Category => ("string", None),
    };
    let mut out = Map::new();
    out.insert(
        "type".into(),
        match field.required {
            true => json!(ty),
            false => json!([ty, "null"]),
        },
    );
    if let Some(format) = format {
        out.insert("format".into(), json!(format));
    }
    Value::Object(out)
}

/// The SCHEMA message of `source`: its stream, its schema, `key` as the
/// key property (unique per stream: records are deduped by it), and, for
/// an incremental source whose bookmark field is a record field, that
/// field as the bookmark property (a replication key must be a property
/// of the schema; a bookmark read from a path no field declares is
/// ingest's own business, said in STATE).
pub fn schema_message(source: &SourceConfig) -> Value {
    let mut message = json!({
        "type": "SCHEMA",
        "stream": source.name,
        "schema": json_schema(&source.record),
        "key_properties": ["key"],
    });
    if let Some(inc) = &source.incremental {
        let field = source.record.fields.iter().find(|f| match &f.lookup {
            Lookup::Paths(paths) => paths.first() == Some(&inc.field),
            Lookup::Search(_) => false,
        });
        if let Some(field) = field {
            message["bookmark_properties"] = json!([field.name]);
        }
    }
    message
}

/// Leaves the fields `omitted` out of the SCHEMA message `message`: its
/// properties, and the required ones.
pub fn omit_from_schema(message: &mut Value, omitted: &BTreeSet<String>) {
    let schema = &mut message["schema"];
    if let Some(properties) = schema["properties"].as_object_mut() {
        properties.retain(|name, _| !omitted.contains(name));
    }
    if let Some(required) = schema["required"].as_array_mut() {
        required.retain(|name| !name.as_str().is_some_and(|n| omitted.contains(n)));
    }
}

/// Appends `record` (a record's JSON object) without its members named
/// in `omitted`, in their order; numbers keep their exact text.
fn write_without(out: &mut Vec<u8>, record: &[u8], omitted: &BTreeSet<String>) {
    let parsed = std::str::from_utf8(record).ok().map(Node::parse);
    match parsed {
        Some(Ok(Node::Object(mut pairs))) => {
            pairs.retain(|(name, _)| !omitted.contains(name.as_ref()));
            Node::Object(pairs).write_json(out);
        }
        // A record is always a JSON object; anything else goes as it is.
        _ => out.extend_from_slice(record),
    }
}

/// Appends the STATE message of `state` (one line).
pub fn write_state(out: &mut Vec<u8>, state: &State) {
    out.extend_from_slice(b"{\"type\":\"STATE\",\"value\":");
    let value = serde_json::to_vec(&state.to_json()).expect("a state serializes");
    out.extend_from_slice(&value);
    out.extend_from_slice(b"}\n");
}

/// The Singer side of a run's stdout: which streams have had their
/// SCHEMA, and the state as sources end.
#[derive(Debug)]
pub struct Singer<'r> {
    /// Each source's SCHEMA line, until it is sent.
    schemas: Vec<Option<Vec<u8>>>,
    /// Each source's name, as a JSON string.
    streams: Vec<Vec<u8>>,
    /// The fields each source's records go without (mostly none).
    omitted: Vec<BTreeSet<String>>,
    /// The state the run started with, each source's entry updated as it
    /// ends (the others stay as read: a later run starts them where this
    /// one did, so nothing is skipped if this run dies).
    state: State,
    /// How each source started, which its entry follows from.
    plans: &'r [Plan],
    sources: &'r [SourceConfig],
    /// The last `time_extracted` written: batches of one page share it.
    time: Option<(SystemTime, String)>,
}

impl<'r> Singer<'r> {
    /// The messages of a run of `config` that starts from `state` by
    /// `plans`, each stream without the fields `omitted` names for it
    /// (by source name).
    pub fn new(
        config: &'r Config,
        state: State,
        plans: &'r [Plan],
        omitted: &BTreeMap<String, BTreeSet<String>>,
    ) -> Singer<'r> {
        let omitted: Vec<BTreeSet<String>> = config
            .sources
            .iter()
            .map(|s| omitted.get(&s.name).cloned().unwrap_or_default())
            .collect();
        let line = |(source, omitted): (&SourceConfig, &BTreeSet<String>)| {
            let mut message = schema_message(source);
            omit_from_schema(&mut message, omitted);
            let mut line = serde_json::to_vec(&message).expect("a schema");
            line.push(b'\n');
            Some(line)
        };
        let name = |source: &SourceConfig| {
            let mut name = Vec::new();
            write_str(&mut name, &source.name);
            name
        };
        Singer {
            schemas: config.sources.iter().zip(&omitted).map(line).collect(),
            streams: config.sources.iter().map(name).collect(),
            omitted,
            state,
            plans,
            sources: &config.sources,
            time: None,
        }
    }

    /// Appends the RECORD message of `record` of source `source`, whose
    /// page arrived at `received`, after its stream's SCHEMA if this is
    /// the stream's first record.
    pub fn write_record(
        &mut self,
        out: &mut Vec<u8>,
        source: usize,
        received: SystemTime,
        record: &[u8],
    ) {
        if let Some(schema) = self.schemas[source].take() {
            out.extend_from_slice(&schema);
        }
        out.extend_from_slice(b"{\"type\":\"RECORD\",\"stream\":");
        out.extend_from_slice(&self.streams[source]);
        out.extend_from_slice(b",\"record\":");
        match self.omitted[source].is_empty() {
            true => out.extend_from_slice(record),
            false => write_without(out, record, &self.omitted[source]),
        }
        out.extend_from_slice(b",\"time_extracted\":\"");
        let time = match &self.time {
            Some((t, text)) if *t == received => text,
            _ => &self.time.insert((received, rfc3339_millis(received))).1,
        };
        out.extend_from_slice(time.as_bytes());
        out.extend_from_slice(b"\"}\n");
    }

    /// Records that source `source` ended as `ended` and appends the
    /// STATE message that says so.
    pub fn write_source_end(&mut self, out: &mut Vec<u8>, source: usize, ended: &Ended) {
        self.state
            .record(&self.sources[source], &self.plans[source], ended);
        write_state(out, &self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(source: Value) -> Config {
        let doc = json!({ "sources": [source] });
        Config::parse("t", &doc.to_string()).unwrap()
    }

    #[test]
    fn a_declared_schema_types_each_field_and_nulls_the_optional_ones() {
        let c = config(json!({
            "name": "gh", "url": "http://h/",
            "record": { "id": "id", "fields": {
                "n": { "type": "integer", "required": true },
                "t": { "type": "string" },
                "x": { "type": "number" },
                "p": { "type": "price" },
                "b": { "type": "boolean" },
                "at": { "type": "timestamp" },
                "due": { "type": "timestamp", "required": true },
                "cur": { "type": "currency" },
                "j": { "type": "json", "required": true },
                "jo": { "type": "json" },
                "any": { "type": "any" },
                "a": "a.b"
            }, "rest": "keep" },
            "incremental": { "field": "at", "param": "since" }
        }));
        let m = schema_message(&c.sources[0]);
        assert_eq!(
            m,
            json!({
                "type": "SCHEMA", "stream": "gh",
                "schema": {
                    "type": "object",
                    "properties": {
                        "key": {"type": "string"}, "source": {"type": "string"},
                        "id": {"type": "string"},
                        "n": {"type": "integer"},
                        "t": {"type": ["string", "null"]},
                        "x": {"type": ["number", "null"]},
                        "p": {"type": ["number", "null"]},
                        "b": {"type": ["boolean", "null"]},
                        "at": {"type": ["string", "null"], "format": "date-time"},
                        "due": {"type": "string", "format": "date-time"},
                        "cur": {"type": ["string", "null"]},
                        "j": {"type": ["object", "array"]},
                        "jo": {"type": ["object", "array", "null"]},
                        "any": {},
                        "a": {}
                    },
                    "required": ["key", "source", "id", "n", "due", "j"],
                    "additionalProperties": true
                },
                "key_properties": ["key"],
                "bookmark_properties": ["at"]
            })
        );
    }

    #[test]
    fn the_product_schema_has_its_four_fields_and_nothing_else() {
        let c = config(json!({
            "name": "shop", "url": "http://h/",
            "incremental": { "field": "meta.updated", "param": "since" }
        }));
        let m = schema_message(&c.sources[0]);
        assert_eq!(
            m["schema"]["properties"],
            json!({
                "key": {"type": "string"}, "source": {"type": "string"},
                "id": {"type": "string"},
                "name": {"type": ["string", "null"]},
                "price": {"type": "number"},
                "currency": {"type": ["string", "null"]},
                "category": {"type": ["string", "null"]}
            })
        );
        assert_eq!(
            m["schema"]["required"],
            json!(["key", "source", "id", "price"])
        );
        assert_eq!(m["schema"]["additionalProperties"], false);
        // Not a record field: no replication key the schema lacks.
        assert!(m.get("bookmark_properties").is_none(), "{m}");
    }

    #[test]
    fn omitted_fields_leave_the_schema_and_the_records() {
        let c = config(json!({ "name": "shop", "url": "http://h/" }));
        let plans = vec![Plan::default()];
        let omitted = BTreeMap::from([(
            "shop".to_string(),
            BTreeSet::from(["price".to_string(), "category".to_string()]),
        )]);
        let mut singer = Singer::new(&c, State::default(), &plans, &omitted);
        let line = br#"{"key":"shop:7","source":"shop","id":"7","name":"A \"b\"","price":123456789012345678901234567890,"currency":"EUR","category":null}"#;
        let mut out = Vec::new();
        singer.write_record(&mut out, 0, std::time::UNIX_EPOCH, line);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let schema: Value = serde_json::from_str(lines[0]).unwrap();
        let names: Vec<&String> = schema["schema"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(names, ["key", "source", "id", "name", "currency"]);
        assert_eq!(schema["schema"]["required"], json!(["key", "source", "id"]));
        assert!(
            lines[1].contains(r#""record":{"key":"shop:7","source":"shop","id":"7","name":"A \"b\"","currency":"EUR"},"#),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn a_stream_gets_its_schema_once_before_its_first_record() {
        let c = config(json!({ "name": "shop", "url": "http://h/" }));
        let plans = vec![Plan::default()];
        let mut singer = Singer::new(&c, State::default(), &plans, &BTreeMap::new());
        let item = crate::json::Node::parse(r#"{"id": 7, "price": "1.50 EUR"}"#).unwrap();
        let record = crate::record::normalize("shop", &item, &c.sources[0].record).unwrap();
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_867_200_250);
        let mut line = Vec::new();
        record.write_json(&mut line);
        let mut out = Vec::new();
        singer.write_record(&mut out, 0, at, &line);
        singer.write_record(&mut out, 0, at, &line);
        singer.write_source_end(&mut out, 0, &Ended::new(true, 0, None));
        let lines: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let types: Vec<&str> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["SCHEMA", "RECORD", "RECORD", "STATE"]);
        assert_eq!(
            lines[1],
            json!({
                "type": "RECORD", "stream": "shop",
                "record": {"key": "shop:7", "source": "shop", "id": "7", "name": null,
                           "price": 1.50, "currency": "EUR", "category": null},
                "time_extracted": "2026-11-28T12:00:00.250Z"
            })
        );
        assert_eq!(lines[3]["value"]["version"], 1);
        assert!(lines[3]["value"]["sources"]["shop"]["fingerprint"].is_string());
    }
}
