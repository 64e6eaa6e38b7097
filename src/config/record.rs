//! The `record` key (SPEC §5): how a source's items become records, read
//! from the config and written back for `summary.config`.
//!
//! `record` is `"product"` (the product schema, which takes the `fields`
//! shorthand) or an object declaring a schema: `id`, `fields` in the
//! file's order, `rest`. A source's own `record` wins over the top-level
//! one entirely; the two are never merged. This file walks that object
//! into a [`RecordSchema`] on the toolkit of `json.rs`, decides which
//! schema a source gets, and writes a schema back in the form it was read
//! from, so that the summary's config parses to the schema that ran.

use serde_json::{json, Map, Value};

use crate::json::DotPath;
use crate::record::coerce::FieldType;
use crate::record::schema::{
    FieldSpec, Lookup, ProductField, RecordSchema, Rest, ValueType, MAX_FIELDS,
};

use super::json::{child, quoted, Obj, Walker};
use super::ConfigError;
use crate::record::schema::FieldPaths;

type Result<T> = std::result::Result<T, ConfigError>;

const RECORD_KEYS: &[&str] = &["id", "fields", "rest"];
const FIELD_SPEC_KEYS: &[&str] = &["path", "type", "required"];
/// The keys of the product schema's `fields` shorthand.
const PRODUCT_FIELD_KEYS: &[&str] = &["id", "name", "price", "currency", "category"];
/// What every record holds before its declared fields.
const OWN_FIELDS: [&str; 3] = ["key", "source", "id"];

const RECORD_EXPECTED: &str = "\"product\" or an object with id, fields and rest";
const PATHS_EXPECTED: &str =
    "a dot path like \"pricing.amount\" or a non-empty array of them (tried in order)";
const FIELD_EXPECTED: &str = "a dot path or an object with path, type and required";

/// A `record` as a config writes it.
#[derive(Debug)]
pub(super) enum RecordForm {
    /// `"product"`: the product schema, with the source's `fields`.
    Product,
    /// An object: this schema.
    Declared(RecordSchema),
}

impl Walker<'_> {
    /// The `record` of `o` (the top level or a source), if it has one.
    pub(super) fn record_key(&self, o: &Obj) -> Result<Option<RecordForm>> {
        let Some((path, v)) = o.get("record") else {
            return Ok(None);
        };
        match v {
            Value::String(s) if s == "product" => Ok(Some(RecordForm::Product)),
            Value::Object(_) => Ok(Some(RecordForm::Declared(self.declared(&path, v)?))),
            _ => Err(self.mismatch(&path, RECORD_EXPECTED, v)),
        }
    }

    /// The `fields` shorthand and the schema of `source`: its own `record`,
    /// else `default` (the top level's), else the product schema. Only the
    /// product schema takes `fields`; beside a declared one it is an error,
    /// reported before the shorthand's own keys (which would only be
    /// "unknown keys" to a user who meant them as declared fields).
    pub(super) fn source_record(
        &self,
        source: &Obj,
        default: Option<&RecordForm>,
    ) -> Result<(FieldPaths, RecordSchema)> {
        let own = self.record_key(source)?;
        let declared = match own.as_ref().or(default) {
            Some(RecordForm::Declared(schema)) => Some(schema),
            Some(RecordForm::Product) | None => None,
        };
        if let (Some(_), Some((p, _))) = (declared, source.get("fields")) {
            let why = if own.is_some() {
                format!(
                    "fields does not apply to a declared record (it is shorthand for the \
                     product schema's paths; give the paths in {})",
                    child(&child(&source.path, "record"), "fields")
                )
            } else {
                "fields does not apply here: this source gets the top-level record, a declared \
                 one (fields is shorthand for the product schema; \"record\": \"product\" on the \
                 source selects that schema)"
                    .to_string()
            };
            return Err(self.error(&p, why));
        }
        if let Some(schema) = declared {
            return Ok((FieldPaths::default(), schema.clone()));
        }
        let fields = self.product_fields(source)?;
        let schema = RecordSchema::product(&fields);
        Ok((fields, schema))
    }

    /// The `fields` shorthand: a dot path per product field it overrides.
    fn product_fields(&self, source: &Obj) -> Result<FieldPaths> {
        let mut fields = FieldPaths::default();
        let Some((p, v)) = source.get("fields") else {
            return Ok(fields);
        };
        let f = self.object(&p, v, PRODUCT_FIELD_KEYS)?;
        let slots = [
            ("id", &mut fields.id),
            ("name", &mut fields.name),
            ("price", &mut fields.price),
            ("currency", &mut fields.currency),
            ("category", &mut fields.category),
        ];
        for (key, slot) in slots {
            if let Some((p, v)) = f.get(key) {
                *slot = Some(self.dot_path(&p, v)?);
            }
        }
        Ok(fields)
    }

    /// A declared schema: the object at `path`.
    fn declared(&self, path: &str, v: &Value) -> Result<RecordSchema> {
        let o = self.object(path, v, RECORD_KEYS)?;
        let id = match o.get("id") {
            Some((p, v)) => Lookup::Paths(self.paths(&p, v)?),
            None => Lookup::Search(ProductField::Id),
        };
        let fields = match o.get("fields") {
            Some((p, v)) => self.field_specs(&p, v)?,
            None => Vec::new(),
        };
        let rest = match o.get("rest") {
            None => Rest::default(),
            Some((_, Value::String(s))) if s == "drop" => Rest::Drop,
            Some((_, Value::String(s))) if s == "keep" => Rest::Keep,
            Some((p, v)) => return Err(self.mismatch(&p, "\"drop\" or \"keep\"", v)),
        };
        Ok(RecordSchema {
            id,
            fields,
            rest,
            product: false,
        })
    }

    /// `record.fields`: the declared fields, in the file's order.
    fn field_specs(&self, path: &str, v: &Value) -> Result<Vec<FieldSpec>> {
        let map = v.as_object().ok_or_else(|| {
            self.mismatch(
                path,
                "an object of field names to paths or field objects",
                v,
            )
        })?;
        if map.len() > MAX_FIELDS {
            return Err(self.error(
                path,
                format_args!("expected at most {MAX_FIELDS} fields, found {}", map.len()),
            ));
        }
        map.iter()
            .map(|(name, v)| self.field_spec(&child(path, name), name, v))
            .collect()
    }

    /// One declared field, `name`, whose value `v` is at `path`.
    fn field_spec(&self, path: &str, name: &str, v: &Value) -> Result<FieldSpec> {
        if name.is_empty() {
            return Err(self.error(path, "expected a non-empty field name, found \"\""));
        }
        if OWN_FIELDS.contains(&name) {
            return Err(self.error(
                path,
                format_args!(
                    "expected a field name other than key, source and id (every record has \
                     those of its own: key and source come from ingest, id from record.id), \
                     found {}",
                    quoted(name)
                ),
            ));
        }
        let spec = |paths, ty, required| FieldSpec {
            name: name.to_string(),
            lookup: Lookup::Paths(paths),
            ty: ValueType::Declared(ty),
            required,
        };
        let o = match v {
            Value::String(s) => {
                let path = s
                    .parse()
                    .map_err(|_| self.mismatch(path, "a dot path like \"pricing.amount\"", v))?;
                return Ok(spec(vec![path], FieldType::Any, false));
            }
            Value::Object(_) => self.object(path, v, FIELD_SPEC_KEYS)?,
            _ => return Err(self.mismatch(path, FIELD_EXPECTED, v)),
        };
        let paths = match o.get("path") {
            Some((p, v)) => self.paths(&p, v)?,
            None => vec![name.parse::<DotPath>().map_err(|_| {
                self.error(
                    &child(path, "path"),
                    format_args!(
                        "expected a dot path like \"pricing.amount\", found nothing (the key is \
                         required here: the field's name {} is not a dot path, so it cannot be \
                         the default path)",
                        quoted(name)
                    ),
                )
            })?],
        };
        let ty = match o.get("type") {
            Some((p, v)) => self.field_type(&p, v)?,
            None => FieldType::Any,
        };
        let required = self.bool(&o, "required")?.unwrap_or(false);
        Ok(spec(paths, ty, required))
    }

    /// A field's `type`: one of [`FieldType`]'s names.
    fn field_type(&self, path: &str, v: &Value) -> Result<FieldType> {
        let names: Vec<&str> = FieldType::ALL.iter().map(|t| t.as_str()).collect();
        let Some(name) = v.as_str() else {
            let expected = format!("a type, one of {}", names.join(", "));
            return Err(self.mismatch(path, &expected, v));
        };
        FieldType::parse(name).ok_or_else(|| {
            self.error(
                path,
                format_args!(
                    "unknown type {} (expected one of {})",
                    quoted(name),
                    names.join(", ")
                ),
            )
        })
    }

    /// A dot path, or a non-empty array of candidate dot paths.
    fn paths(&self, path: &str, v: &Value) -> Result<Vec<DotPath>> {
        match v {
            Value::String(s) => s
                .parse()
                .map(|p| vec![p])
                .map_err(|_| self.mismatch(path, PATHS_EXPECTED, v)),
            Value::Array(list) if !list.is_empty() => list
                .iter()
                .enumerate()
                .map(|(i, v)| self.dot_path(&format!("{path}[{i}]"), v))
                .collect(),
            _ => Err(self.mismatch(path, PATHS_EXPECTED, v)),
        }
    }
}

/// `schema` as a source's `record` in a config file: `"product"` (its
/// paths are the source's `fields`), or the declared schema in full, every
/// default written out but the id search, which only an omitted `id` can
/// say.
pub(super) fn record_json(schema: &RecordSchema) -> Value {
    if schema.product {
        return json!("product");
    }
    let mut out = Map::new();
    if let Lookup::Paths(paths) = &schema.id {
        out.insert("id".into(), paths_json(paths));
    }
    let fields: Map<String, Value> = schema
        .fields
        .iter()
        .map(|f| (f.name.clone(), field_json(f)))
        .collect();
    out.insert("fields".into(), Value::Object(fields));
    out.insert("rest".into(), json!(schema.rest.as_str()));
    Value::Object(out)
}

/// A declared field as the full object `{path, type, required}`.
///
/// Parsing makes every declared field's lookup a list of paths and its
/// type a declared one; the searches and the product-only types belong to
/// the product schema, which is written as `"product"`, so they are left
/// out here rather than written as something they are not.
fn field_json(field: &FieldSpec) -> Value {
    let mut out = Map::new();
    if let Lookup::Paths(paths) = &field.lookup {
        out.insert("path".into(), paths_json(paths));
    }
    if let ValueType::Declared(ty) = field.ty {
        out.insert("type".into(), json!(ty.as_str()));
    }
    out.insert("required".into(), json!(field.required));
    Value::Object(out)
}

/// One path as a string, candidates as an array.
fn paths_json(paths: &[DotPath]) -> Value {
    match paths {
        [one] => json!(one),
        several => json!(several),
    }
}
