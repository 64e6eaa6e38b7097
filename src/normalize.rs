//! Turning one raw item into a [`Record`], or saying why it is invalid.
//!
//! SPEC §5. Stub: the normalizer issue fills this in.

use serde::Serialize;
use serde_json::Value;

use crate::config::FieldPaths;

/// One clean record, a line of `records.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    /// `source:id`, the dedupe key.
    pub key: String,
    /// The source's name.
    pub source: String,
    /// The item's id, as a string.
    pub id: String,
    /// Trimmed name, if any.
    pub name: Option<String>,
    /// Finite, non-negative price.
    pub price: f64,
    /// Upper-case 3-letter currency code, if any.
    pub currency: Option<String>,
    /// Trimmed category, if any.
    pub category: Option<String>,
}

/// Why an item is not a record, in the order the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InvalidReason {
    /// The item is not a JSON object.
    NotAnObject,
    /// No usable id.
    MissingId,
    /// No price, or a price object without an amount.
    MissingPrice,
    /// A price that is not a finite, non-negative number.
    BadPrice,
}

impl InvalidReason {
    /// Every reason, in check order.
    pub const ALL: [InvalidReason; 4] = [
        InvalidReason::NotAnObject,
        InvalidReason::MissingId,
        InvalidReason::MissingPrice,
        InvalidReason::BadPrice,
    ];

    /// The reason's name in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidReason::NotAnObject => "not_an_object",
            InvalidReason::MissingId => "missing_id",
            InvalidReason::MissingPrice => "missing_price",
            InvalidReason::BadPrice => "bad_price",
        }
    }
}

/// Normalizes one item of `source`.
pub fn normalize(source: &str, item: &Value, fields: &FieldPaths) -> Result<Record, InvalidReason> {
    let _ = fields;
    let obj = item.as_object().ok_or(InvalidReason::NotAnObject)?;
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return Err(InvalidReason::MissingId),
    };
    let price = match obj.get("price") {
        None | Some(Value::Null) => return Err(InvalidReason::MissingPrice),
        Some(v) => v
            .as_f64()
            .filter(|p| p.is_finite() && *p >= 0.0)
            .ok_or(InvalidReason::BadPrice)?,
    };
    Ok(Record {
        key: format!("{source}:{id}"),
        source: source.to_string(),
        id,
        name: obj
            .get("name")
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string()),
        price,
        currency: None,
        category: None,
    })
}
