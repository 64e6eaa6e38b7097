//! SPEC §12 on mocks shaped like the APIs that need it: each customer's
//! orders under `/customers/{id}/orders` (several pages for some, a 404
//! for customers gone), a list of values, and an events endpoint that
//! answers only a time window. Every child record arrives exactly once, a
//! gone parent fails only its own partition (or is empty, by a rule), a
//! cut fan-out resumes without fetching finished children again, and N
//! shards write one run's records between them.

use std::collections::{BTreeMap, BTreeSet};

use ingest::{Config, RunOptions};
use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Style};

use crate::support::{comparable, n, parse_fast, run, run_with_state, OutDir, Outcome};

const SEED: u64 = 1212;

/// 30 customers over 3 pages (some invalid or repeated: the valid,
/// first-seen ones are parents); each has 0–3 pages of orders (4 a page),
/// and every 5th parent is gone (404).
fn shop() -> MockServer {
    let scenario = Scenario::new(SEED)
        .with(MockSource::new("customers", Style::Page, 3, 10).shape(testsupport::Shape::Flat))
        .with(MockSource::children("orders", "customers", 3, 4).gone_every(5));
    MockServer::start(scenario).unwrap()
}

/// The mock's config, `patch` applied to the orders source.
fn shop_config(server: &MockServer, patch: impl FnOnce(&mut Value)) -> Config {
    let mut doc = server.config_json();
    patch(&mut doc["sources"][1]);
    parse_fast(doc)
}

/// The orders keys the mock serves for its live parents.
fn order_keys(server: &MockServer) -> BTreeSet<String> {
    server.truth().children("orders").unwrap().keys()
}

fn keys_of(o: &Outcome, source: &str) -> BTreeSet<String> {
    o.records
        .iter()
        .filter(|r| r["source"] == source)
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_child_record_arrives_once_and_a_gone_parent_fails_only_its_partition() {
    let server = shop();
    let truth = server.truth();
    let children = truth.children("orders").unwrap();
    let gone = children.gone.len() as u64;
    let parents = children.parent_ids.len() as u64;
    assert!(gone >= 4, "the mock has gone parents: {gone}");
    // Without the rule, a 404 is a failed partition.
    let strict = run(&shop_config(&server, |s| {
        s.as_object_mut().unwrap().remove("on_response");
    }));
    let orders = strict.source("orders");
    assert_eq!(
        orders["partitions"],
        json!({"total": parents, "complete": parents - gone, "failed": gone, "skipped": 0, "done_before": 0})
    );
    assert_eq!(orders["status"], "error");
    assert_eq!(strict.summary["status"], "partial");
    assert_eq!(strict.exit_code(), 3);
    let failed = orders["failed_partitions"].as_array().unwrap();
    assert_eq!(failed.len() as u64, gone);
    let named: BTreeSet<String> = failed
        .iter()
        .map(|f| {
            f["partition"]
                .as_str()
                .unwrap()
                .trim_start_matches("parent_id=")
                .to_string()
        })
        .collect();
    assert_eq!(named, children.gone.iter().cloned().collect());
    assert!(
        failed[0]["reason"].as_str().unwrap().contains("404"),
        "the reason says what the server said: {}",
        failed[0]
    );
    assert_eq!(
        keys_of(&strict, "orders"),
        order_keys(&server),
        "the others all arrived"
    );
    // With it, a gone parent has no orders: complete.
    let ruled = run(&shop_config(&server, |_| {}));
    assert_eq!(
        ruled.summary["status"],
        "complete",
        "{:#}",
        ruled.source("orders")
    );
    assert_eq!(
        n(&ruled.source("orders")["partitions"], "complete"),
        parents
    );
    assert_eq!(keys_of(&ruled, "orders"), order_keys(&server));
    assert_eq!(
        n(ruled.source("customers"), "records"),
        parents,
        "the parent is written too"
    );
    // One request per child page and per parent page: nothing twice.
    let pages = ruled.summary["totals"]["requests"].as_u64().unwrap();
    let live_pages: usize = children.live().map(|id| children.pages(id).max(1)).sum();
    // The parent's 3 pages and the 204 past them.
    assert_eq!(
        pages,
        4 + live_pages as u64 + gone,
        "{:#}",
        ruled.summary["totals"]
    );
}

#[test]
fn include_and_key_with_parent_put_the_parent_in_each_record() {
    let server = shop();
    // The product schema keys a record by `id`: a line number, unique only
    // within its customer.
    let o = run(&shop_config(&server, |s| {
        s.as_object_mut().unwrap().remove("record");
        s["parent"]["key_with_parent"] = json!(true);
    }));
    let children = server.truth().children("orders").unwrap().clone();
    assert_eq!(keys_of(&o, "orders"), children.keys_with_parent());
    let order = o.records.iter().find(|r| r["source"] == "orders").unwrap();
    let fields: Vec<&str> = order
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(fields[..4], ["key", "source", "id", "parent_id"], "{order}");
    assert!(order["key"]
        .as_str()
        .unwrap()
        .starts_with(&format!("orders:{}/", order["parent_id"])));
}

#[test]
fn a_parent_with_emit_false_is_fetched_for_its_children_and_not_written() {
    let server = shop();
    let mut doc = server.config_json();
    doc["sources"][0]["emit"] = json!(false);
    let o = run(&parse_fast(doc));
    let parents = server.truth().children("orders").unwrap().parent_ids.len() as u64;
    let customers = o.source("customers");
    assert_eq!(n(customers, "records"), parents);
    assert_eq!(n(customers, "fetched_for_children"), parents);
    assert!(keys_of(&o, "customers").is_empty());
    assert_eq!(keys_of(&o, "orders"), order_keys(&server));
}

#[test]
fn a_list_of_values_runs_once_per_value_and_counts_a_missing_parent_value() {
    let server = shop();
    let ids: Vec<String> = server
        .truth()
        .children("orders")
        .unwrap()
        .live()
        .map(String::from)
        .collect();
    let o = run(&shop_config(&server, |s| {
        let url = s["url"].as_str().unwrap().to_string();
        s.as_object_mut().unwrap().remove("parent");
        s["url"] = json!(url.replace("{parent_id}", "{customer}"));
        s["partitions"] = json!({"name": "customer", "values": ids});
    }));
    assert_eq!(keys_of(&o, "orders"), order_keys(&server));
    assert_eq!(
        n(&o.source("orders")["partitions"], "total"),
        ids.len() as u64
    );
    // A parent field no customer has: every partition skipped, and said.
    let skipped = run(&shop_config(&server, |s| {
        s["parent"]["fields"] = json!({"parent_id": "no_such_field"});
    }));
    let orders = skipped.source("orders");
    let parents = server.truth().children("orders").unwrap().parent_ids.len() as u64;
    assert_eq!(n(&orders["partitions"], "skipped"), parents);
    assert_eq!(n(&orders["partitions"], "total"), 0);
    assert_eq!(n(orders, "requests"), 0, "never /customers/null/orders");
    let said = orders["warnings"].to_string();
    assert!(
        said.contains(&format!(
            "{parents} of {parents} parent records had no value"
        )),
        "{said}"
    );
}

/// 500 events over a week, some at midnight, at 23:59:59.412 and .999.
fn events() -> MockServer {
    let source = MockSource::events("ev", "2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z", 500);
    MockServer::start(Scenario::new(SEED).with(source)).unwrap()
}

#[test]
fn windows_lose_and_repeat_nothing_at_their_edges_whatever_the_step() {
    let server = events();
    let expected = server.truth().events("ev").unwrap().keys();
    assert_eq!(expected.len(), 500);
    for (step, format, windows) in [
        ("P1D", "rfc3339", 7),
        ("PT5H", "rfc3339", 34),
        ("P3D", "date", 3),
        ("PT1H", "rfc3339", 168),
    ] {
        let before = server.requests().len();
        let mut doc = server.config_json();
        doc["sources"][0]["partitions"]["window"]["step"] = json!(step);
        doc["sources"][0]["partitions"]["window"]["format"] = json!(format);
        if format == "date" {
            doc["sources"][0]["partitions"]["window"]["start"] = json!("2026-01-01");
        }
        let o = run(&parse_fast(doc));
        assert_eq!(
            o.summary["status"],
            "complete",
            "{step} {format}: {:#}",
            o.source("ev")
        );
        let got: BTreeSet<String> = o.keys();
        assert_eq!(got, expected, "{step} {format}");
        assert_eq!(
            n(o.source("ev"), "duplicates"),
            0,
            "{step}: no event in two windows"
        );
        assert_eq!(server.requests().len() - before, windows, "{step}");
    }
}

#[test]
fn completed_windows_are_not_fetched_again_and_the_state_keeps_them_merged() {
    let server = events();
    let (_dir, state) = state_file();
    let config = parse_fast(server.config_json());
    let first = run_with_state(&config, &state, |_| {});
    assert_eq!(first.summary["status"], "complete");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(
        saved["sources"]["ev"]["partitions"]["windows"],
        json!([["2026-01-01T00:00:00Z", "2026-01-08T00:00:00Z"]]),
        "seven days, one interval"
    );
    let before = server.requests().len();
    let second = run_with_state(&config, &state, |_| {});
    assert_eq!(server.requests().len(), before, "nothing left to fetch");
    assert_eq!(n(second.source("ev"), "items"), 0);
}

fn state_file() -> (OutDir, std::path::PathBuf) {
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("state.json");
    (dir, path)
}

#[test]
fn a_cut_fan_out_resumes_without_fetching_finished_children_again() {
    for concurrency in [1, 4] {
        cut_and_resume(concurrency);
    }
}

/// A fan-out cut by the deadline, then resumed with its state: together
/// the keys of one run; no partition the first run completed is asked for
/// again, and at most `concurrency` (those in flight or waiting for their
/// turn at the cut) are fetched twice.
fn cut_and_resume(concurrency: u32) {
    let server = shop();
    let (_dir, state) = state_file();
    // Children at 25 requests a second: about 60 pages take 2.4 s, and
    // the deadline cuts them at 1 s.
    let mut cut = shop_config(&server, |s| {
        s["rate_limit"] = json!({"per_second": 25, "burst": 1});
        s["concurrency"] = json!(concurrency);
    });
    cut.set_deadline(
        std::time::Duration::from_millis(1000),
        ingest::DeadlineFrom::Config,
    );
    let first = run_with_state(&cut, &state, |_| {});
    let orders = first.source("orders");
    assert_eq!(orders["status"], "deadline", "{orders:#}");
    let done_first = n(&orders["partitions"], "complete");
    assert!(
        done_first > 0 && done_first < 20,
        "concurrency {concurrency}: cut mid-fan-out: {done_first}"
    );
    let asked_first = requests_by_partition(&server);
    let fresh = shop_config(&server, |s| s["concurrency"] = json!(concurrency));
    let second = run_with_state(&fresh, &state, |_| {});
    let orders = second.source("orders");
    assert_eq!(second.summary["status"], "complete", "{orders:#}");
    assert_eq!(n(&orders["partitions"], "done_before"), done_first);
    // Together, exactly the keys of one run, each once.
    let mut all = keys_of(&first, "orders");
    let again: BTreeSet<String> = keys_of(&second, "orders");
    let twice = all.intersection(&again).count();
    assert!(
        twice <= 12 * concurrency as usize,
        "concurrency {concurrency}: at most the cut partitions' records again: {twice}"
    );
    all.extend(again);
    assert_eq!(all, order_keys(&server));
    // The partitions the second run asked for that the first had asked
    // for too: the cut ones only.
    let asked_second: BTreeMap<String, Vec<usize>> = requests_by_partition(&server)
        .into_iter()
        .filter_map(|(p, pages)| {
            let before = asked_first.get(&p).map_or(0, Vec::len);
            (pages.len() > before).then(|| (p, pages[before..].to_vec()))
        })
        .collect();
    let repeated: Vec<&String> = asked_second
        .keys()
        .filter(|p| asked_first.contains_key(*p))
        .collect();
    assert!(
        repeated.len() <= concurrency as usize,
        "concurrency {concurrency}: only the cut partitions again: {repeated:?}"
    );
    assert_eq!(
        asked_second.len() as u64 + done_first,
        n(&orders["partitions"], "total"),
        "every other partition once"
    );
}

/// Page numbers the mock was asked for, per child partition (parent id).
fn requests_by_partition(server: &MockServer) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for r in server.requests() {
        if let Some(p) = &r.partition {
            out.entry(p.clone()).or_default().push(r.page);
        }
    }
    out
}

#[test]
fn three_shards_write_one_runs_records_between_them() {
    let server = shop();
    let whole = run(&shop_config(&server, |_| {}));
    let mut union: BTreeMap<String, usize> = BTreeMap::new();
    for k in 0..3 {
        let mut config = shop_config(&server, |_| {});
        let shard = ingest::Shard { index: k, count: 3 };
        ingest::shard_sources(&mut config.sources, shard);
        let o = crate::support::run_options(&config, |options: &mut RunOptions| {
            options.shard = Some(shard)
        });
        assert_eq!(o.summary["status"], "complete");
        for key in o.keys() {
            *union.entry(key).or_default() += 1;
        }
    }
    let once: Vec<&String> = union
        .iter()
        .filter(|(_, &c)| c != 1)
        .map(|(k, _)| k)
        .collect();
    assert!(once.is_empty(), "each key once: {once:?}");
    assert_eq!(union.keys().cloned().collect::<BTreeSet<_>>(), whole.keys());
}

/// `ingest check` on a child tries the partition of its parent's first
/// valid record: that request, and its records as run writes them.
#[test]
fn check_tries_a_child_on_its_parents_first_record() {
    let server = shop();
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("check.json");
    std::fs::write(&path, server.config_json().to_string()).unwrap();
    let o = crate::cli::command(&["check", "--config"])
        .arg(&path)
        .current_dir(&dir.0)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{out}{}", crate::cli::stderr(&o));
    let children = server.truth().children("orders").unwrap().clone();
    let block = &out[out.find("orders  http").expect(&out)..];
    let id = block
        .lines()
        .find_map(|l| l.strip_prefix("  partition  parent_id="))
        .unwrap_or_else(|| panic!("the partition tried: {block}"));
    assert!(children.parent_ids.iter().any(|p| p == id), "{id}");
    assert!(
        block.contains(&format!(
            "  request    GET {}/orders/{id}/items\n",
            server.base_url()
        )),
        "the filled request: {block}"
    );
    assert!(
        block.contains(&format!("\"parent_id\":{id},")),
        "records as run writes them: {block}"
    );
}

#[test]
fn partitions_at_once_write_what_one_at_a_time_writes() {
    let server = shop();
    // The product schema keys orders by line number: the same key in
    // many customers' lists, so which record wins each key depends on
    // the order items are handed over in.
    let config = |concurrency: u32| {
        shop_config(&server, |s| {
            s.as_object_mut().unwrap().remove("record");
            s["concurrency"] = json!(concurrency);
        })
    };
    let one = run(&config(1));
    assert!(n(one.source("orders"), "duplicates") > 20, "keys collide");
    let said = one.source("orders")["warnings"].to_string();
    assert!(said.contains("set parent.key_with_parent"), "{said}");
    let (lines, summary) = comparable(&one);
    for concurrency in [2, 8] {
        let many = run(&config(concurrency));
        let (many_lines, many_summary) = comparable(&many);
        assert_eq!(
            many_lines, lines,
            "concurrency {concurrency}: the same records"
        );
        assert_eq!(
            many_summary, summary,
            "concurrency {concurrency}: the same counts"
        );
    }
    let events = events();
    let windows = |concurrency: u32| {
        let mut doc = events.config_json();
        doc["sources"][0]["concurrency"] = json!(concurrency);
        doc["sources"][0]["partitions"]["window"]["step"] = json!("PT6H");
        run(&parse_fast(doc))
    };
    assert_eq!(comparable(&windows(6)), comparable(&windows(1)));
}

#[test]
fn partitions_at_once_share_one_bucket_and_never_exceed_concurrency() {
    let latency = std::time::Duration::from_millis(20);
    let server = MockServer::start(
        Scenario::new(SEED)
            .with(MockSource::new("customers", Style::Page, 3, 10))
            .with(MockSource::children("orders", "customers", 3, 4).latency(latency)),
    )
    .unwrap();
    let (per_second, burst) = (100.0, 4.0);
    let o = run(&shop_config(&server, |s| {
        s["concurrency"] = json!(4);
        s["rate_limit"] = json!({"per_second": per_second, "burst": burst});
    }));
    assert_eq!(o.summary["status"], "complete");
    assert_eq!(keys_of(&o, "orders"), order_keys(&server));
    let peak = server.peak_in_flight("orders");
    assert!((2..=4).contains(&peak), "in flight at once: {peak}");
    // At the server: in any span, at most the burst plus what the rate
    // refills (one request of slack for where the span starts).
    let mut times: Vec<std::time::Instant> = server
        .requests()
        .iter()
        .filter(|r| r.partition.is_some())
        .map(|r| r.at)
        .collect();
    times.sort();
    for (i, start) in times.iter().enumerate() {
        for (j, end) in times.iter().enumerate().skip(i) {
            let span = end.duration_since(*start).as_secs_f64();
            let allowed = burst + per_second * span + 1.0;
            assert!(
                (j - i + 1) as f64 <= allowed,
                "{} requests in {span:.3} s",
                j - i + 1
            );
        }
    }
}

/// A chain three deep — regions, their stores, each store's products,
/// each product's variants — on a scripted server: every leaf once, each
/// with the values it inherits written in.
#[test]
fn a_chain_three_deep_reaches_every_leaf_once() {
    use crate::support::scripted::Scripted;
    let server = Scripted::start(|target| {
        let parts: Vec<&str> = target.trim_start_matches('/').split('/').collect();
        let items: Vec<Value> = match parts.as_slice() {
            ["regions"] => ["eu", "us"].iter().map(|r| json!({"id": r})).collect(),
            ["regions", r, "stores"] => {
                (1..=2).map(|i| json!({"id": format!("{r}-{i}")})).collect()
            }
            ["stores", s, "products"] => (1..=3)
                .map(|i| json!({"id": format!("{s}-p{i}")}))
                .collect(),
            ["products", p, "variants"] => (1..=2)
                .map(|i| json!({"id": format!("{p}-v{i}"), "name": "v", "price": 1.5}))
                .collect(),
            _ => return (404, Vec::new(), "{}".into()),
        };
        (200, Vec::new(), Value::from(items).to_string())
    });
    let base = server.base();
    let level = |name: &str, url: String, parent: &str, field: &str| {
        json!({"name": name, "url": url, "emit": name == "variants",
               "record": {"id": "id", "fields": {}},
               "parent": {"source": parent, "fields": {field: "id"}, "include": [field]}})
    };
    let mut variants = level(
        "variants",
        format!("{base}/products/{{product}}/variants"),
        "products",
        "product",
    );
    variants.as_object_mut().unwrap().remove("record");
    let o = run(&parse_fast(json!({"sources": [
        {"name": "regions", "url": format!("{base}/regions"), "emit": false,
         "record": {"id": "id", "fields": {}}},
        level("stores", format!("{base}/regions/{{region}}/stores"), "regions", "region"),
        level("products", format!("{base}/stores/{{store}}/products"), "stores", "store"),
        variants,
    ]})));
    assert_eq!(o.summary["status"], "complete");
    let leaves = keys_of(&o, "variants");
    assert_eq!(leaves.len(), 2 * 2 * 3 * 2);
    assert!(leaves.contains("variants:eu-1-p3-v2"), "{leaves:?}");
    assert_eq!(o.records.len(), 24, "only the leaves are written");
    assert!(o.records.iter().all(|r| r["product"].is_string()));
    assert_eq!(server.requests().len(), 1 + 2 + 4 + 12);
}

/// An incremental child sends its one bookmark in every partition; the
/// bookmark moves only after a pass in which every partition completed.
#[test]
fn an_incremental_child_moves_its_one_bookmark_only_after_a_whole_pass() {
    use crate::support::scripted::Scripted;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let failing = Arc::new(AtomicBool::new(true));
    let fail = Arc::clone(&failing);
    let server = Scripted::start(move |target| {
        if target.starts_with("/customers?") || target == "/customers" {
            let items: Vec<Value> = (1..=3).map(|i| json!({"id": i})).collect();
            return (200, Vec::new(), Value::from(items).to_string());
        }
        if target.starts_with("/customers/2/") && fail.load(Ordering::SeqCst) {
            return (500, Vec::new(), "{}".into());
        }
        let customer = target.split('/').nth(2).unwrap_or("0").to_string();
        let items = json!([{"id": format!("{customer}-1"), "updated_at": format!("2026-01-0{customer}T00:00:00Z")}]);
        (200, Vec::new(), items.to_string())
    });
    let base = server.base();
    let config = parse_fast(json!({
        "retry": {"max_retries": 0, "base_delay_ms": 1, "max_delay_ms": 1},
        "sources": [
        {"name": "customers", "url": format!("{base}/customers"), "record": {"id": "id", "fields": {}}},
        {"name": "orders", "url": format!("{base}/customers/{{cid}}/orders"),
         "parent": {"source": "customers", "fields": {"cid": "id"}},
         "record": {"id": "id", "fields": {"updated_at": "updated_at"}},
         "incremental": {"field": "updated_at", "param": "since", "start": "2025-12-01T00:00:00Z"}}
    ]}));
    let (_dir, state) = state_file();
    let first = run_with_state(&config, &state, |_| {});
    let orders = first.source("orders");
    assert_eq!(n(&orders["partitions"], "failed"), 1);
    assert_eq!(
        orders["bookmark_saved"],
        Value::Null,
        "a pass with a failed partition"
    );
    failing.store(false, Ordering::SeqCst);
    let before = server.requests().len();
    let second = run_with_state(&config, &state, |_| {});
    let orders = second.source("orders");
    assert_eq!(second.summary["status"], "complete");
    assert_eq!(
        n(&orders["partitions"], "done_before"),
        2,
        "only the failed one again"
    );
    assert_eq!(orders["bookmark_saved"], "2026-01-03T00:00:00Z");
    let asked: Vec<String> = server.requests()[before..]
        .iter()
        .filter(|r| r.target.contains("/orders"))
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(
        asked,
        ["/customers/2/orders?since=2025-12-01T00%3A00%3A00Z"],
        "the cut pass's bookmark"
    );
    let third = run_with_state(&config, &state, |_| {});
    let asked: Vec<String> = server
        .requests()
        .iter()
        .rev()
        .take(3)
        .map(|r| r.target.clone())
        .collect();
    assert!(
        asked
            .iter()
            .all(|t| t.ends_with("since=2026-01-03T00%3A00%3A00Z")),
        "one bookmark for every partition: {asked:?}"
    );
    assert_eq!(n(&third.source("orders")["partitions"], "complete"), 3);
}

/// Ctrl-C during a fan-out with partitions in flight at once: the run
/// stops at once, `interrupted`, and what it wrote still adds up.
#[test]
fn an_interrupt_stops_a_fan_out_with_partitions_in_flight() {
    let server = MockServer::start(
        Scenario::new(SEED)
            .with(MockSource::new("customers", Style::Page, 3, 10))
            .with(
                MockSource::children("orders", "customers", 3, 4)
                    .latency(std::time::Duration::from_millis(200)),
            ),
    )
    .unwrap();
    let config = shop_config(&server, |s| s["concurrency"] = json!(4));
    let started = std::time::Instant::now();
    let o = crate::support::run_with(&config, |control| {
        std::thread::sleep(std::time::Duration::from_millis(300));
        control.interrupt();
    });
    assert_eq!(o.summary["status"], "interrupted");
    assert_eq!(o.source("orders")["status"], "interrupted");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A parent cut by the deadline is fetched from its first page again in
/// the next run (its records are what its children run for): together
/// the two runs have every child record, and the second is complete.
#[test]
fn a_parent_cut_mid_list_is_fetched_whole_again_and_no_child_is_lost() {
    let server = shop();
    let (_dir, state) = state_file();
    let mut cut = parse_fast({
        let mut doc = server.config_json();
        // The parent at 4 pages a second: cut after its first page or two.
        doc["sources"][0]["rate_limit"] = json!({"per_second": 4, "burst": 1});
        doc
    });
    cut.set_deadline(
        std::time::Duration::from_millis(400),
        ingest::DeadlineFrom::Config,
    );
    let first = run_with_state(&cut, &state, |_| {});
    assert_eq!(first.source("customers")["status"], "deadline");
    let second = run_with_state(&shop_config(&server, |_| {}), &state, |_| {});
    assert_eq!(
        second.summary["status"],
        "complete",
        "{:#}",
        second.source("orders")
    );
    assert_eq!(
        second.source("customers")["resumed_from"],
        Value::Null,
        "from page 1"
    );
    let mut all = keys_of(&first, "orders");
    all.extend(keys_of(&second, "orders"));
    assert_eq!(all, order_keys(&server));
}

/// Windows end at the run's start even when `end` is later: a window of
/// the future is not fetched (its data does not exist yet) nor saved as
/// done.
#[test]
fn windows_stop_at_the_runs_start_whatever_the_end() {
    let server = events();
    let (_dir, state) = state_file();
    let mut doc = server.config_json();
    doc["sources"][0]["partitions"]["window"]["end"] = json!("2099-01-01T00:00:00Z");
    doc["sources"][0]["partitions"]["window"]["step"] = json!("P30D");
    let o = run_with_state(&parse_fast(doc), &state, |_| {});
    assert_eq!(o.summary["status"], "complete");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    let windows = &saved["sources"]["ev"]["partitions"]["windows"];
    let end = windows[0][1].as_str().unwrap();
    assert!(
        end < "2027",
        "saved up to the run's start, not 2099: {windows}"
    );
    // (The mock also serves one event at its own range's end, which a
    // window past that end rightly fetches.)
    let expected = server.truth().events("ev").unwrap().keys();
    assert!(o.keys().is_superset(&expected), "every event of the past");
}

/// Millions of one-minute windows are made as they are taken: the run
/// starts at once and stops at its deadline.
#[test]
fn millions_of_windows_start_at_once_and_stop_at_the_deadline() {
    let server = events();
    let mut doc = server.config_json();
    let window = &mut doc["sources"][0]["partitions"]["window"];
    window["start"] = json!("2000-01-01T00:00:00Z");
    window["end"] = json!("now");
    window["step"] = json!("PT1M");
    let mut config = parse_fast(doc);
    config.set_deadline(
        std::time::Duration::from_millis(500),
        ingest::DeadlineFrom::Config,
    );
    let started = std::time::Instant::now();
    let o = run(&config);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(o.only()["status"], "deadline");
    assert!(n(o.only(), "requests") > 10, "{:#}", o.only());
}
