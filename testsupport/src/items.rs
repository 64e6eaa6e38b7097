//! How items look on the wire: the three SPEC §8 shapes, each in a valid
//! form and in forms invalid for exactly one SPEC §5 reason.
//!
//! Kept apart from `data.rs` (which decides *where* each kind of item
//! goes and records the truth) because this is where SPEC §5's subtleties
//! live: ids spelled differently but equal (`17` / `"17"`, padded skus),
//! price strings in every documented notation, and the "object under
//! another field's name is not searched" trap in nested items.

use fastrand::Rng;
use serde_json::{json, Value};

use crate::data::ItemTruth;
use crate::scenario::Shape;
use crate::shapes;

const NOUNS: [&str; 8] = [
    "Desk lamp",
    "Stapler",
    "Notebook",
    "Office chair",
    "Coffee mug",
    "USB cable",
    "Backpack",
    "Monitor",
];
const CATEGORIES: [&str; 5] = ["home", "office", "tools", "kitchen", "garden"];

pub(crate) fn id_string(shape: Shape, n: u64) -> String {
    match shape {
        Shape::Flat => n.to_string(),
        Shape::Sku => format!("B-{n:05}"),
        Shape::Nested => format!("g-{n}"),
        Shape::GithubIssues | Shape::DrfOrders | Shape::StripeList | Shape::JsonApiArticles => {
            shapes::id_string(shape, n)
        }
    }
}

/// What the product schema makes of the valid item with id `n`.
pub(crate) fn valid_truth(shape: Shape, n: u64) -> ItemTruth {
    if shape.is_product() {
        ItemTruth::Valid {
            id: id_string(shape, n),
        }
    } else {
        shapes::product_truth(shape, n)
    }
}

fn name(n: u64, rng: &mut Rng) -> String {
    format!("{} {}", NOUNS[rng.usize(..NOUNS.len())], n)
}

fn category(rng: &mut Rng) -> &'static str {
    CATEGORIES[rng.usize(..CATEGORIES.len())]
}

/// A valid item with id `n`; `dup` spells the id differently where SPEC
/// says it is the same id (`"17"` for `17`, surrounding spaces). The API
/// shapes are `shapes.rs`'s.
pub(crate) fn valid(shape: Shape, n: u64, rng: &mut Rng, dup: bool) -> (Value, ItemTruth) {
    let cents = rng.u64(0..200_000);
    let truth = valid_truth(shape, n);
    let value = match shape {
        Shape::Flat => {
            let id = if dup && rng.bool() {
                json!(n.to_string())
            } else {
                json!(n)
            };
            json!({"id": id, "name": name(n, rng), "price": cents as f64 / 100.0,
                   "currency": "USD", "category": category(rng)})
        }
        Shape::Sku => {
            let sku = id_string(shape, n);
            let sku = if dup && rng.bool() {
                format!("  {sku} ")
            } else {
                sku
            };
            json!({"sku": sku, "title": name(n, rng), "price": price_string(cents, rng),
                   "category": category(rng)})
        }
        Shape::Nested => {
            let amount = if rng.bool() {
                json!(format!("{}.{:02}", cents / 100, cents % 100))
            } else {
                json!(cents as f64 / 100.0)
            };
            json!({"product": {"id": id_string(shape, n), "title": name(n, rng)},
                   "price": {"amount": amount, "currency": "EUR"},
                   "category": {"id": rng.u32(1..9), "name": category(rng)}})
        }
        Shape::GithubIssues | Shape::DrfOrders | Shape::StripeList | Shape::JsonApiArticles => {
            return shapes::valid(shape, n, rng)
        }
    };
    (value, truth)
}

/// A price string SPEC §5 parses, in one of the styles APIs use.
fn price_string(cents: u64, rng: &mut Rng) -> String {
    let (units, frac) = (cents / 100, cents % 100);
    let thousands = |sep: char| {
        if units >= 1000 {
            format!("{}{sep}{:03}", units / 1000, units % 1000)
        } else {
            units.to_string()
        }
    };
    match rng.u8(0..7) {
        0 => format!("${}.{frac:02}", thousands(',')),
        1 => format!("{units},{frac:02} €"),
        2 => format!("EUR {units}"),
        3 => units.to_string(),
        4 => format!("{}.{frac:02}", units),
        5 => format!("{},{frac:02} eur", thousands('.')),
        _ => format!("¥{}", thousands(',')),
    }
}

/// An item invalid for exactly `reason` (and for no earlier reason); only
/// product shapes have invalid items.
pub(crate) fn invalid(shape: Shape, reason: &'static str, n: u64, rng: &mut Rng) -> Value {
    let pick = |rng: &mut Rng, options: Vec<Value>| options[rng.usize(..options.len())].clone();
    let bad_prices = || {
        vec![
            json!(-5),
            json!("abc"),
            json!("1e3"),
            json!("NaN"),
            json!("-5"),
            json!(""),
        ]
    };
    match (reason, shape) {
        ("not_an_object", _) => pick(
            rng,
            vec![json!("oops"), json!(42), Value::Null, json!([1, 2])],
        ),
        ("missing_id", Shape::Flat) => {
            let mut v = json!({"name": name(n, rng), "price": 3.5});
            let id = pick(
                rng,
                vec![Value::Null, json!(17.5), json!("  "), json!(true)],
            );
            if rng.bool() {
                v["id"] = id;
            }
            v
        }
        ("missing_id", Shape::Sku) => {
            let mut v = json!({"title": name(n, rng), "price": "$4.00"});
            if rng.bool() {
                v["sku"] = pick(rng, vec![Value::Null, json!(""), json!(true), json!(2.5)]);
            }
            v
        }
        // The category object carries an `id`, which SPEC §5 says must not
        // be found: it sits under another field's candidate name.
        ("missing_id", Shape::Nested) => json!({
            "product": {"title": name(n, rng)},
            "price": {"amount": "4.00", "currency": "EUR"},
            "category": {"id": 5, "name": category(rng)}}),
        ("missing_price", Shape::Flat) => {
            let mut v = json!({"id": n, "name": name(n, rng)});
            if rng.bool() {
                v["price"] = Value::Null;
            }
            v
        }
        ("missing_price", Shape::Sku) => {
            json!({"sku": id_string(shape, n), "title": name(n, rng), "price": null})
        }
        ("missing_price", Shape::Nested) => {
            let price = pick(rng, vec![json!({"currency": "EUR"}), Value::Null]);
            json!({"product": {"id": id_string(shape, n), "title": name(n, rng)}, "price": price})
        }
        ("bad_price", Shape::Flat) => {
            json!({"id": n, "name": name(n, rng), "price": pick(rng, bad_prices())})
        }
        ("bad_price", Shape::Sku) => {
            json!({"sku": id_string(shape, n), "title": name(n, rng), "price": pick(rng, bad_prices())})
        }
        ("bad_price", Shape::Nested) => json!({
            "product": {"id": id_string(shape, n), "title": name(n, rng)},
            "price": {"amount": pick(rng, bad_prices()), "currency": "EUR"}}),
        _ => unreachable!("no {reason} item of shape {shape:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_strings_have_the_documented_forms() {
        let mut rng = Rng::with_seed(3);
        let all: Vec<String> = (0..200).map(|_| price_string(129_900, &mut rng)).collect();
        for s in [
            "$1,299.00",
            "1299,00 €",
            "EUR 1299",
            "1299",
            "1299.00",
            "1.299,00 eur",
            "¥1,299",
        ] {
            assert!(all.iter().any(|a| a == s), "{s} missing from {all:?}");
        }
    }
}
