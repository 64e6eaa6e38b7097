//! Items of APIs that are not product catalogues, for declared record
//! schemas (SPEC §5): GitHub issues, Django REST Framework orders,
//! Stripe charges and JSON:API articles ([`Shape::GithubIssues`],
//! [`Shape::DrfOrders`], [`Shape::StripeList`],
//! [`Shape::JsonApiArticles`]).
//!
//! Each item carries the field kinds its API really uses — ids beyond 32
//! bits, decimal strings, string booleans, epoch seconds, amounts in
//! cents, nested objects, optional fields that are `null` or absent — and
//! every item is well formed, with an id of its own (no invalid items, no
//! duplicates), so a test can compare each declared field with the value
//! served ([`crate::SourceTruth::items`]). Their [`ItemTruth`] is what the
//! product schema makes of them: issues and orders have no price
//! (`missing_price`), charges are products (`id`, `amount`, `currency`).
//! An item is a function of its sequence number and the source's seeded
//! rng, like the product shapes' items.

use fastrand::Rng;
use serde_json::{json, Value};

use crate::data::ItemTruth;
use crate::scenario::Shape;

/// 2026-01-01T00:00:00Z: every item is created in 2026 or later.
pub(crate) const EPOCH_2026: u64 = 1_767_225_600;

pub(crate) const TITLES: [&str; 6] = [
    "Crash on start",
    "Docs: typo in README",
    "Support HTTP proxies",
    "Flaky test on CI",
    "Panic on an empty page",
    "Add a --since flag",
];
const USERS: [(&str, u64); 4] = [
    ("octocat", 583_231),
    ("hubot", 480_938),
    ("monalisa", 9_919),
    ("defunkt", 2),
];
const LABELS: [(u64, &str); 4] = [
    (208_045_946, "bug"),
    (208_045_947, "enhancement"),
    (208_045_948, "documentation"),
    (208_045_949, "good first issue"),
];
const CURRENCIES: [&str; 3] = ["eur", "usd", "gbp"];
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The id as SPEC §5 writes it for item `n`: the `id` field's text (a
/// JSON:API id is a string of digits).
pub(crate) fn id_string(shape: Shape, n: u64) -> String {
    match shape {
        Shape::GithubIssues => github_id(n).to_string(),
        Shape::StripeList => stripe_id(n),
        _ => n.to_string(),
    }
}

/// What the product schema makes of item `n` of `shape`.
pub(crate) fn product_truth(shape: Shape, n: u64) -> ItemTruth {
    match shape {
        Shape::StripeList => ItemTruth::Valid {
            id: id_string(shape, n),
        },
        _ => ItemTruth::Invalid("missing_price"),
    }
}

/// Item `n` of one of this module's shapes, and its product-schema truth.
pub(crate) fn valid(shape: Shape, n: u64, rng: &mut Rng) -> (Value, ItemTruth) {
    let item = match shape {
        Shape::GithubIssues => github_issue(n, rng),
        Shape::DrfOrders => drf_order(n, rng),
        Shape::JsonApiArticles => jsonapi_article(n, rng),
        _ => stripe_charge(n, rng),
    };
    (item, product_truth(shape, n))
}

/// An issue id of GitHub's size (beyond 32 bits), distinct for each `n`.
fn github_id(n: u64) -> u64 {
    5_000_000_000 + n * 1_013
}

/// `width` base-62 digits of `x` (enough for any u64 at 11).
fn base62(mut x: u64, width: usize) -> String {
    (0..width)
        .map(|_| {
            let c = BASE62[(x % 62) as usize] as char;
            x /= 62;
            c
        })
        .collect()
}

/// `ch_` and 24 characters, like Stripe's; distinct for each `n`, because
/// multiplying by an odd number is a bijection of u64 and 11 base-62
/// digits hold any u64.
fn stripe_id(n: u64) -> String {
    let a = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let b = n.wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    format!("ch_3P{}{}", base62(a, 11), base62(b, 11))
}

/// `YYYY-MM-DDThh:mm:ssZ` of epoch seconds (1970 on), as GitHub writes
/// times. Civil-from-days (H. Hinnant); independent of ingest's own.
pub fn rfc3339(secs: u64) -> String {
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let sod = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// When item `n` was created: about an hour after item `n - 1`.
fn created(n: u64, rng: &mut Rng) -> u64 {
    EPOCH_2026 + n * 3_600 + rng.u64(0..3_600)
}

/// `GET /repos/o/r/issues`: a third closed, a quarter pull requests, some
/// without labels or body.
pub(crate) fn github_issue(n: u64, rng: &mut Rng) -> Value {
    let (login, user_id) = USERS[rng.usize(..USERS.len())];
    let labels: Vec<Value> = LABELS
        .iter()
        .filter(|_| rng.u8(0..3) == 0)
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    let created = created(n, rng);
    let updated = created + rng.u64(0..30 * 86_400);
    let closed = rng.u8(0..3) == 0;
    let body = if rng.u8(0..4) == 0 {
        Value::Null
    } else {
        json!(format!("Seen on run {n}."))
    };
    let mut issue = json!({
        "id": github_id(n),
        "node_id": format!("I_kwDO{}", base62(github_id(n), 8)),
        "number": n,
        "title": TITLES[rng.usize(..TITLES.len())],
        "user": {"login": login, "id": user_id},
        "labels": labels,
        "state": if closed { "closed" } else { "open" },
        "locked": false,
        "comments": rng.u32(0..40),
        "created_at": rfc3339(created),
        "updated_at": rfc3339(updated),
        "closed_at": if closed { json!(rfc3339(updated)) } else { Value::Null },
        "body": body,
    });
    if rng.u8(0..4) == 0 {
        issue["pull_request"] = json!({
            "url": format!("https://api.github.com/repos/o/r/pulls/{n}"),
            "merged_at": if closed { json!(rfc3339(updated)) } else { Value::Null },
        });
    }
    issue
}

/// A DRF `ModelSerializer` order: a decimal string total, a lower-case
/// currency, a string boolean, epoch seconds, and a customer that guest
/// orders (a tenth) have as `null`.
fn drf_order(n: u64, rng: &mut Rng) -> Value {
    let cents = rng.u64(0..50_000);
    let customer = if rng.u8(0..10) == 0 {
        Value::Null
    } else {
        json!({"email": format!("customer{}@example.com", rng.u32(1..500))})
    };
    json!({
        "id": n,
        "reference": format!("ORD-{n:06}"),
        "total": format!("{}.{:02}", cents / 100, cents % 100),
        "currency": CURRENCIES[rng.usize(..CURRENCIES.len())],
        "paid": if rng.bool() { "true" } else { "false" },
        "created": created(n, rng),
        "customer": customer,
    })
}

/// A Stripe charge: amount in cents (at least Stripe's 50), a lower-case
/// currency, epoch seconds, a description that is often `null`, and
/// metadata that is often empty.
fn stripe_charge(n: u64, rng: &mut Rng) -> Value {
    let description = if rng.u8(0..3) == 0 {
        Value::Null
    } else {
        json!(format!("Order ORD-{n:06}"))
    };
    let metadata = if rng.bool() {
        json!({})
    } else {
        json!({"order_id": format!("ORD-{n:06}"), "channel": "web"})
    };
    json!({
        "id": stripe_id(n),
        "object": "charge",
        "amount": rng.u64(50..500_000),
        "currency": CURRENCIES[rng.usize(..CURRENCIES.len())],
        "created": created(n, rng),
        "paid": true,
        "status": "succeeded",
        "description": description,
        "metadata": metadata,
    })
}

/// A JSON:API resource object: the id a string, the fields under
/// `attributes`, the author under `relationships`; `deleted_at` present
/// and `null` in every article, as a server with nothing deleted sends it.
fn jsonapi_article(n: u64, rng: &mut Rng) -> Value {
    let (login, user_id) = USERS[rng.usize(..USERS.len())];
    json!({
        "type": "articles",
        "id": n.to_string(),
        "attributes": {
            "title": TITLES[rng.usize(..TITLES.len())],
            "body": format!("Written by {login}."),
            "published_at": rfc3339(created(n, rng)),
            "deleted_at": null,
        },
        "relationships": {
            "author": {"data": {"type": "people", "id": user_id.to_string()}}
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const API_SHAPES: [Shape; 4] = [
        Shape::GithubIssues,
        Shape::DrfOrders,
        Shape::StripeList,
        Shape::JsonApiArticles,
    ];

    fn items(shape: Shape, seed: u64) -> Vec<Value> {
        let mut rng = Rng::with_seed(seed);
        (1..=200).map(|n| valid(shape, n, &mut rng).0).collect()
    }

    #[test]
    fn same_seed_same_items_and_ids_are_distinct() {
        for shape in API_SHAPES {
            assert_eq!(items(shape, 1), items(shape, 1), "{shape:?}");
            assert_ne!(items(shape, 1), items(shape, 2), "{shape:?}");
            let ids: BTreeSet<String> = (0..5000).map(|n| id_string(shape, n)).collect();
            assert_eq!(ids.len(), 5000, "{shape:?}");
        }
        assert_eq!(stripe_id(7).len(), 27);
        assert!(stripe_id(7).starts_with("ch_"));
    }

    #[test]
    fn times_are_rfc3339_in_2026() {
        assert_eq!(rfc3339(EPOCH_2026), "2026-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            rfc3339(EPOCH_2026 + 59 * 86_400 - 1),
            "2026-02-28T23:59:59Z"
        );
    }

    /// The kinds of JSON value each field has, as the shape promises.
    fn kinds(item: &Value) -> Vec<(String, &'static str)> {
        let kind = |v: &Value| match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_u64() => "uint",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let obj = item.as_object().unwrap();
        obj.iter().map(|(k, v)| (k.clone(), kind(v))).collect()
    }

    #[test]
    fn github_issues_have_github_kinds() {
        let all = items(Shape::GithubIssues, 3);
        for issue in &all {
            let k = kinds(issue);
            assert_eq!(
                &k[..4],
                [
                    ("id".into(), "uint"),
                    ("node_id".into(), "string"),
                    ("number".into(), "uint"),
                    ("title".into(), "string"),
                ]
            );
            assert!(issue["id"].as_u64().unwrap() > u64::from(u32::MAX));
            assert!(matches!(issue["state"].as_str(), Some("open" | "closed")));
            assert!(issue["user"]["login"].is_string() && issue["user"]["id"].is_u64());
            for label in issue["labels"].as_array().unwrap() {
                assert!(label["id"].is_u64() && label["name"].is_string());
            }
            for key in ["created_at", "updated_at"] {
                let t = issue[key].as_str().unwrap();
                assert!(
                    t.starts_with("202") && t.ends_with('Z') && t.len() == 20,
                    "{t}"
                );
            }
            assert!(issue["created_at"].as_str() <= issue["updated_at"].as_str());
            assert_eq!(issue["closed_at"].is_null(), issue["state"] == "open");
        }
        let some = |f: fn(&Value) -> bool| all.iter().any(f) && !all.iter().all(f);
        assert!(some(|i| i.get("pull_request").is_some()));
        assert!(some(|i| i["body"].is_null()));
        assert!(some(|i| i["labels"].as_array().unwrap().is_empty()));
        assert!(some(|i| i["state"] == "closed"));
    }

    #[test]
    fn drf_orders_have_drf_kinds() {
        let all = items(Shape::DrfOrders, 3);
        for order in &all {
            let total = order["total"].as_str().unwrap();
            let (units, cents) = total.split_once('.').unwrap();
            assert!(units.parse::<u64>().is_ok() && cents.len() == 2, "{total}");
            assert!(matches!(order["paid"].as_str(), Some("true" | "false")));
            assert!(CURRENCIES.contains(&order["currency"].as_str().unwrap()));
            let created = order["created"].as_u64().unwrap();
            assert!((EPOCH_2026..100_000_000_000).contains(&created));
            assert!(order["customer"].is_null() || order["customer"]["email"].is_string());
        }
        assert!(all.iter().any(|o| o["customer"].is_null()));
        assert!(
            all.iter().any(|o| o["paid"] == "true") && all.iter().any(|o| o["paid"] == "false")
        );
    }

    #[test]
    fn stripe_charges_have_stripe_kinds() {
        let all = items(Shape::StripeList, 3);
        for charge in &all {
            assert!(charge["id"].as_str().unwrap().starts_with("ch_"));
            assert_eq!(charge["object"], "charge");
            assert!(charge["amount"].as_u64().unwrap() >= 50);
            assert!(charge["created"].as_u64().unwrap() >= EPOCH_2026);
            assert!(charge["metadata"].is_object());
        }
        assert!(all.iter().any(|c| c["description"].is_null()));
        assert!(all.iter().any(|c| c["metadata"] == json!({})));
    }

    #[test]
    fn jsonapi_articles_have_jsonapi_kinds_and_a_null_deleted_at() {
        for article in &items(Shape::JsonApiArticles, 3) {
            assert_eq!(article["type"], "articles");
            assert!(article["id"].as_str().unwrap().parse::<u64>().is_ok());
            let attributes = article["attributes"].as_object().unwrap();
            assert!(attributes["title"].is_string());
            assert!(attributes["published_at"].as_str().unwrap().ends_with('Z'));
            // Present, and null: not absent.
            assert_eq!(attributes.get("deleted_at"), Some(&Value::Null));
            let author = &article["relationships"]["author"]["data"];
            assert_eq!(author["type"], "people");
        }
    }

    #[test]
    fn product_truth_follows_the_price() {
        assert_eq!(
            product_truth(Shape::GithubIssues, 5),
            ItemTruth::Invalid("missing_price")
        );
        assert_eq!(
            product_truth(Shape::DrfOrders, 5),
            ItemTruth::Invalid("missing_price")
        );
        assert_eq!(
            product_truth(Shape::StripeList, 5),
            ItemTruth::Valid { id: stripe_id(5) }
        );
        assert_eq!(
            product_truth(Shape::JsonApiArticles, 5),
            ItemTruth::Invalid("missing_price")
        );
    }
}
