//! The GraphQL endpoint on the wire: a client that follows the config's
//! `graphql` shorthand (POST, `after` from the last `endCursor` while
//! `hasNextPage`) reads every item of the truth; `errors` answers, the
//! rate limit in a 200, and what is not a query.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::wire_tests::{request, Resp};
use crate::{FaultKind, MockServer, MockSource, Outcome, Scenario, Style};

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn post(server: &MockServer, target: &str, body: &Value) -> Resp {
    request(server, "POST", target, &[JSON], body.to_string().as_bytes())
}

fn one(source: MockSource) -> MockServer {
    MockServer::start(Scenario::new(8).with(source)).unwrap()
}

#[test]
fn following_end_cursors_reads_every_page_of_the_truth() {
    let server = one(MockSource::new("gh", Style::Graphql, 3, 4));
    let config = server.config_json();
    let gql = &config["sources"][0]["graphql"];
    assert_eq!(gql["connection"], "repository.issues");
    let query = gql["query"].as_str().unwrap();
    assert!(
        query.contains("$after: String") && query.contains("pageInfo"),
        "{query}"
    );
    let url = config["sources"][0]["url"].as_str().unwrap();
    let target = url.strip_prefix(&server.base_url()).unwrap();
    let mut variables = gql["variables"].clone();
    let mut pages = Vec::new();
    loop {
        let answer = post(
            &server,
            target,
            &json!({"query": query, "variables": variables}),
        );
        assert_eq!(answer.status, 200);
        let conn = answer.json()["data"]["repository"]["issues"].clone();
        pages.push(conn["nodes"].as_array().unwrap().clone());
        assert!(conn.get("edges").is_none(), "the query selects nodes only");
        if conn["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        variables["after"] = conn["pageInfo"]["endCursor"].clone();
    }
    let truth = server.truth();
    let st = truth.source("gh").unwrap();
    assert_eq!(pages.len(), 3);
    for (i, served) in pages.iter().enumerate() {
        assert_eq!(served, &st.items(i + 1), "page {}", i + 1);
    }
    // The log shows each `after`: the endCursor of the page before.
    let log = server.requests();
    let asked: Vec<_> = log.iter().map(|r| (r.page, r.variable("after"))).collect();
    let cursor = |p| Some(json!(server.end_cursor("gh", p)));
    assert_eq!(asked, [(1, None), (2, cursor(1)), (3, cursor(2))]);
    assert!(log
        .iter()
        .all(|r| r.method == "POST" && r.variable("first") == Some(json!(4))));
    // Past the last page: nothing more, and no cursor.
    let after_last = json!({"query": query, "variables": {"after": server.end_cursor("gh", 3)}});
    let end = post(&server, target, &after_last).json();
    let conn = &end["data"]["repository"]["issues"];
    assert_eq!(
        (conn["nodes"].clone(), conn["pageInfo"].clone()),
        (json!([]), json!({"hasNextPage": false, "endCursor": null}))
    );
}

#[test]
fn edges_carry_cursors_under_any_connection_path() {
    let server =
        one(MockSource::new("s", Style::Graphql, 2, 3).connection("viewer.starredRepositories"));
    let query = "query($after: String) { viewer { starredRepositories(after: $after) { totalCount edges { cursor node { id } } pageInfo { endCursor hasNextPage } } } }";
    let answer = post(
        &server,
        "/s/graphql",
        &json!({"query": query, "variables": {"after": null}}),
    )
    .json();
    let conn = &answer["data"]["viewer"]["starredRepositories"];
    assert!(conn.get("nodes").is_none());
    assert_eq!(conn["totalCount"], 6);
    let edges = conn["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 3);
    assert_eq!(conn["pageInfo"]["endCursor"], edges[2]["cursor"]);
    // A cursor in the middle of a page is not one this mock pages from.
    let mid = json!({"query": query, "variables": {"after": edges[0]["cursor"]}});
    let refused = post(&server, "/s/graphql", &mid);
    assert_eq!(refused.status, 200);
    assert_eq!(
        refused.json()["errors"][0]["type"],
        "INVALID_CURSOR_ARGUMENTS"
    );
    assert!(refused.json().get("data").is_none());
}

#[test]
fn errors_partial_answers_and_rate_limits_come_in_200s() {
    let reset = Duration::from_secs(30);
    let server = one(MockSource::new("g", Style::Graphql, 3, 2)
        .fault(
            1,
            1,
            FaultKind::GraphqlErrors("Field 'x' doesn't exist".into()),
        )
        .fault(1, 2, FaultKind::GraphqlRateLimited(reset))
        .fault(
            2,
            1,
            FaultKind::GraphqlPartial("Something went wrong".into()),
        ));
    let first = json!({"query": "{ repository { issues { nodes { id } pageInfo { endCursor hasNextPage } } } }"});
    let errors = post(&server, "/g/graphql", &first);
    assert_eq!(
        (errors.status, errors.json()),
        (
            200,
            json!({"errors": [{"message": "Field 'x' doesn't exist"}]})
        )
    );
    let limited = post(&server, "/g/graphql", &first);
    assert_eq!(limited.status, 200);
    assert_eq!(
        limited.json()["errors"][0],
        json!({"type": "RATE_LIMITED", "message": "API rate limit exceeded"})
    );
    assert_eq!(limited.header("x-ratelimit-remaining"), Some("0"));
    let at: u64 = limited
        .header("x-ratelimit-reset")
        .unwrap()
        .parse()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!((now + 29..=now + 31).contains(&at), "{at} vs {now}");
    let good = post(&server, "/g/graphql", &first).json();
    let cursor = good["data"]["repository"]["issues"]["pageInfo"]["endCursor"].clone();
    let second = json!({"query": first["query"], "variables": {"after": cursor}});
    let partial = post(&server, "/g/graphql", &second).json();
    assert_eq!(
        partial["data"]["repository"]["issues"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        partial["errors"],
        json!([{"message": "Something went wrong"}])
    );
    let pages: Vec<_> = server
        .requests()
        .iter()
        .map(|r| (r.page, r.attempt))
        .collect();
    assert_eq!(pages, [(1, 1), (1, 2), (1, 3), (2, 1)]);
}

#[test]
fn what_is_not_a_query_gets_a_400() {
    let server = one(MockSource::new("g", Style::Graphql, 2, 2));
    let get = request(&server, "GET", "/g/graphql", &[], b"");
    assert_eq!(get.status, 400);
    assert!(get.json()["message"].is_string());
    let text = request(&server, "POST", "/g/graphql", &[JSON], b"query { x }");
    assert_eq!(
        (text.status, text.json()["message"].as_str()),
        (400, Some("Problems parsing JSON"))
    );
    assert_eq!(
        post(&server, "/g/graphql", &json!({"variables": {}})).status,
        400
    );
    let log = server.requests();
    assert!(
        log.iter()
            .all(|r| r.page == 0 && r.outcome == Outcome::Status(400)),
        "{log:#?}"
    );
}
