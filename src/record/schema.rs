//! Record schemas (SPEC §5): which fields a record has, where each comes
//! from in an item, and which type reads it.
//!
//! Every source turns items into records by one [`RecordSchema`]. The
//! product schema (the seed's shape, and the default) is one such value,
//! built by [`RecordSchema::product`]: its fields are searched for under
//! their usual names ([`Lookup::Search`]) and two of its types exist only
//! for it ([`ValueType::Text`], [`ValueType::Category`]); a declared schema
//! reads each field at its dot paths. The normalizer has one code path for
//! both. A schema also names its invalid reasons, in the order they are
//! checked, so the counters are an array indexed by [`RecordSchema::reason_index`].

use crate::json::DotPath;
use crate::record::coerce::FieldType;

/// Dot-path overrides for the normalizer's field lookup; `None` means
/// "search the usual names" (SPEC §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldPaths {
    /// Path to the id.
    pub id: Option<DotPath>,
    /// Path to the name.
    pub name: Option<DotPath>,
    /// Path to the price.
    pub price: Option<DotPath>,
    /// Path to the currency.
    pub currency: Option<DotPath>,
    /// Path to the category.
    pub category: Option<DotPath>,
}

/// The largest number of fields a schema may declare.
pub const MAX_FIELDS: usize = 256;

/// How a record is made from an item.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSchema {
    /// Where the id is.
    pub id: Lookup,
    /// The record's fields after `key`, `source` and `id`, in order.
    pub fields: Vec<FieldSpec>,
    /// What happens to the item's other top-level fields.
    pub rest: Rest,
    /// The product schema (SPEC's four invalid reasons; an id of the wrong
    /// kind counts as `missing_id`), or a declared one.
    pub product: bool,
}

/// One field of a record.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    /// Its name in the record.
    pub name: String,
    /// Where its value is.
    pub lookup: Lookup,
    /// How the value is read.
    pub ty: ValueType,
    /// Whether an item without it is invalid.
    pub required: bool,
}

/// Where a value is found in an item.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// At the first of these paths that is present and not null.
    Paths(Vec<DotPath>),
    /// Searched breadth-first under a product field's usual names (SPEC
    /// §5's candidate lookup).
    Search(ProductField),
}

/// The fields of the product schema, whose usual names the search knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductField {
    /// `id`, `sku`, `product_id`, `uuid`.
    Id,
    /// `name`, `title`, `product_name`.
    Name,
    /// `price`, `amount`, `cost`.
    Price,
    /// `currency`, `currency_code`.
    Currency,
    /// `category`.
    Category,
}

/// How a field's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// One of the types a config can declare.
    Declared(FieldType),
    /// The product `name`: a string, trimmed; anything else is a bad value.
    Text,
    /// The product `category`: a string, or the `name` of an object.
    Category,
}

/// What happens to the item's fields that the schema does not declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rest {
    /// Left out. The default.
    #[default]
    Drop,
    /// Copied after the declared fields, as they are.
    Keep,
}

impl Rest {
    /// The config's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Rest::Drop => "drop",
            Rest::Keep => "keep",
        }
    }
}

/// Why an item is not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidReason {
    /// The item is not a JSON object.
    NotAnObject,
    /// The item could not be parsed on its own.
    MalformedItem,
    /// No id.
    MissingId,
    /// An id of a kind that is not an id (a float, an object).
    BadId,
    /// Required field `i` has no value.
    Missing(u16),
    /// Required field `i` has a value its type cannot take.
    Bad(u16),
}

/// The product schema's fields, in record order.
const PRODUCT_FIELDS: [(&str, ProductField, ValueType, bool); 4] = [
    ("name", ProductField::Name, ValueType::Text, false),
    (
        "price",
        ProductField::Price,
        ValueType::Declared(FieldType::Price),
        true,
    ),
    (
        "currency",
        ProductField::Currency,
        ValueType::Declared(FieldType::Currency),
        false,
    ),
    (
        "category",
        ProductField::Category,
        ValueType::Category,
        false,
    ),
];

/// The product schema's reasons, as the summary has always listed them.
const PRODUCT_REASONS: [&str; 5] = [
    "not_an_object",
    "missing_id",
    "missing_price",
    "bad_price",
    "malformed_item",
];

impl RecordSchema {
    /// The product schema, with `paths` overriding the search of any field
    /// (the config's `fields` shorthand).
    pub fn product(paths: &FieldPaths) -> Self {
        let lookup = |field: ProductField, path: &Option<DotPath>| match path {
            Some(p) => Lookup::Paths(vec![p.clone()]),
            None => Lookup::Search(field),
        };
        let overrides = [&paths.name, &paths.price, &paths.currency, &paths.category];
        let fields = PRODUCT_FIELDS
            .iter()
            .zip(overrides)
            .map(|(&(name, field, ty, required), path)| FieldSpec {
                name: name.to_string(),
                lookup: lookup(field, path),
                ty,
                required,
            })
            .collect();
        Self {
            id: lookup(ProductField::Id, &paths.id),
            fields,
            rest: Rest::Drop,
            product: true,
        }
    }

    /// The invalid reasons' names, in summary order.
    pub fn reason_names(&self) -> Vec<String> {
        if self.product {
            return PRODUCT_REASONS.iter().map(|r| r.to_string()).collect();
        }
        let mut names: Vec<String> = ["not_an_object", "malformed_item", "missing_id", "bad_id"]
            .iter()
            .map(|r| r.to_string())
            .collect();
        for f in self.fields.iter().filter(|f| f.required) {
            names.push(format!("missing_{}", f.name));
            names.push(format!("bad_{}", f.name));
        }
        names
    }

    /// Where `reason` is counted in [`reason_names`](Self::reason_names).
    pub fn reason_index(&self, reason: InvalidReason) -> usize {
        if self.product {
            // The product schema's one required field is its price.
            return match reason {
                InvalidReason::NotAnObject => 0,
                InvalidReason::MissingId | InvalidReason::BadId => 1,
                InvalidReason::Missing(_) => 2,
                InvalidReason::Bad(_) => 3,
                InvalidReason::MalformedItem => 4,
            };
        }
        let required_before = |i: u16| {
            self.fields[..usize::from(i)]
                .iter()
                .filter(|f| f.required)
                .count()
        };
        match reason {
            InvalidReason::NotAnObject => 0,
            InvalidReason::MalformedItem => 1,
            InvalidReason::MissingId => 2,
            InvalidReason::BadId => 3,
            InvalidReason::Missing(i) => 4 + 2 * required_before(i),
            InvalidReason::Bad(i) => 5 + 2 * required_before(i),
        }
    }

    /// The name of `reason` in the summary.
    pub fn reason_name(&self, reason: InvalidReason) -> String {
        self.reason_names().swap_remove(self.reason_index(reason))
    }

    /// Whether a record may hold a top-level field called `name` taken
    /// from the item by `rest: "keep"`: not one of its own.
    pub fn is_own_field(&self, name: &str) -> bool {
        matches!(name, "key" | "source" | "id") || self.fields.iter().any(|f| f.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(required: &[(&str, bool)]) -> RecordSchema {
        RecordSchema {
            id: Lookup::Paths(vec!["number".parse().unwrap()]),
            fields: required
                .iter()
                .map(|&(name, required)| FieldSpec {
                    name: name.to_string(),
                    lookup: Lookup::Paths(vec![name.parse().unwrap()]),
                    ty: ValueType::Declared(FieldType::String),
                    required,
                })
                .collect(),
            rest: Rest::Drop,
            product: false,
        }
    }

    #[test]
    fn the_product_schema_keeps_its_four_reasons() {
        let p = RecordSchema::product(&FieldPaths::default());
        let names: Vec<String> = p.fields.iter().map(|f| f.name.clone()).collect();
        assert_eq!(names, ["name", "price", "currency", "category"]);
        assert_eq!(p.reason_name(InvalidReason::BadId), "missing_id");
        assert_eq!(p.reason_name(InvalidReason::Missing(1)), "missing_price");
        assert_eq!(p.reason_name(InvalidReason::Bad(1)), "bad_price");
        assert_eq!(p.id, Lookup::Search(ProductField::Id));
        let sku: DotPath = "sku".parse().unwrap();
        let overridden = RecordSchema::product(&FieldPaths {
            id: Some(sku.clone()),
            ..FieldPaths::default()
        });
        assert_eq!(overridden.id, Lookup::Paths(vec![sku]));
    }

    #[test]
    fn declared_reasons_follow_the_required_fields_in_order() {
        let s = declared(&[("title", false), ("state", true), ("at", true)]);
        assert_eq!(
            s.reason_names(),
            [
                "not_an_object",
                "malformed_item",
                "missing_id",
                "bad_id",
                "missing_state",
                "bad_state",
                "missing_at",
                "bad_at"
            ]
        );
        assert_eq!(s.reason_name(InvalidReason::Bad(2)), "bad_at");
        assert_eq!(s.reason_name(InvalidReason::Missing(1)), "missing_state");
        assert!(s.is_own_field("state") && s.is_own_field("key"));
        assert!(!s.is_own_field("labels"));
    }
}
