//! SPEC §11 `graphql` and bodies against the mock GraphQL endpoint: the
//! shorthand gets every record of a Relay connection (the cursor sent in
//! the body from the last `endCursor`), `errors` without data is a failed
//! page of kind `graphql`, `errors` beside data a warning, and a rate
//! limit answered as a 200 is waited out, not a failure.

use std::time::Duration;

use serde_json::json;
use testsupport::{FaultKind, MockServer, MockSource, Scenario, Style};

use crate::support::{config_with, n, run};

fn serve(source: MockSource) -> MockServer {
    MockServer::start(Scenario::new(21).with(source)).unwrap()
}

#[test]
fn the_graphql_shorthand_gets_every_record_with_the_cursor_in_the_body() {
    let server =
        serve(MockSource::new("gh", Style::Graphql, 4, 10).connection("repository.issues"));
    let o = run(&config_with(&server, json!({})));
    let s = o.source("gh");
    assert_eq!(s["status"], "complete", "{s:#}");
    assert_eq!(o.keys(), server.truth().expected_all().keys);
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests.iter().all(|r| r.method == "POST"));
    assert_eq!(
        requests[0].variable("after"),
        None,
        "the first page sends no cursor"
    );
    for (page, request) in requests.iter().enumerate().skip(1) {
        assert_eq!(
            request.variable("after"),
            Some(json!(server.end_cursor("gh", page))),
            "page {} continues from page {page}'s endCursor",
            page + 1
        );
    }
    assert!(
        s["errors"].get("graphql").is_some(),
        "errors.graphql said: {s:#}"
    );
}

#[test]
fn graphql_errors_without_data_fail_the_page_and_beside_data_warn() {
    let failing = MockSource::new("gh", Style::Graphql, 3, 5).faults_for_every_attempt(
        2,
        FaultKind::GraphqlErrors("Field 'x' doesn't exist".into()),
    );
    let server = serve(failing);
    let o = run(&config_with(&server, json!({})));
    let s = o.source("gh");
    assert_eq!(n(&s["errors"], "graphql"), 1, "not retried: {s:#}");
    assert_eq!(n(s, "failed_pages"), 1);
    let error = s["failed_page_errors"][0].as_str().unwrap();
    assert!(
        error.starts_with("graphql: Field 'x' doesn't exist"),
        "{error}"
    );
    assert_eq!(o.summary["status"], "partial");

    let partial = MockSource::new("gh", Style::Graphql, 3, 5).fault(
        2,
        1,
        FaultKind::GraphqlPartial("Could not resolve a label".into()),
    );
    let server = serve(partial);
    let o = run(&config_with(&server, json!({})));
    let s = o.source("gh");
    assert_eq!(s["status"], "complete");
    assert_eq!(
        o.keys(),
        server.truth().expected_all().keys,
        "the page is kept"
    );
    let warnings = s["warnings"].to_string();
    assert!(
        warnings.contains(
            "1 GraphQL errors came beside the data (the first: Could not resolve a label)"
        ),
        "{warnings}"
    );
}

#[test]
fn a_graphql_rate_limit_in_a_200_is_waited_out() {
    let limited = MockSource::new("gh", Style::Graphql, 3, 5).fault(
        2,
        1,
        FaultKind::GraphqlRateLimited(Duration::from_millis(1200)),
    );
    let server = serve(limited);
    let o = run(&config_with(&server, json!({})));
    let s = o.source("gh");
    assert_eq!(s["status"], "complete", "{s:#}");
    assert_eq!(o.keys(), server.truth().expected_all().keys);
    assert_eq!(n(s, "failed_pages"), 0);
    assert_eq!(n(&s["retries_by_cause"], "quota"), 1, "{s:#}");
    assert!(
        n(&s["waits_ms"], "quota") > 0,
        "waited for the reset: {s:#}"
    );
}

/// A query that selects `edges { node { … } }` (and no `nodes`): each
/// item is its edge's node, and every record is kept.
#[test]
fn a_query_selecting_edges_reads_each_edges_node() {
    let server = serve(MockSource::new("gh", Style::Graphql, 3, 5).connection("repository.issues"));
    let mut doc = server.config_json();
    let query = doc["sources"][0]["graphql"]["query"]
        .as_str()
        .unwrap()
        .to_string();
    let edges = query
        .replace("nodes {", "edges { cursor node {")
        .replace("} pageInfo", "} } pageInfo");
    assert_ne!(query, edges);
    doc["sources"][0]["graphql"]["query"] = json!(edges);
    let config = ingest::Config::parse("t", &doc.to_string()).unwrap();
    assert_eq!(
        config.sources[0]
            .item_path
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("node")
    );
    let o = run(&config);
    let s = o.source("gh");
    assert_eq!(s["status"], "complete", "{s:#}");
    assert_eq!(o.keys(), server.truth().expected_all().keys);
}
