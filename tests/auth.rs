//! SPEC §11 `auth` against the mock token endpoint: OAuth2 tokens fetched
//! before the first request, shared by sources of one client, refreshed
//! before they expire and once after a 401, rotated refresh tokens kept,
//! endpoint errors explained; every token a secret. Every run keeps the
//! accounting identity (the harness checks it).

use std::time::Duration;

use serde_json::{json, Value};
use testsupport::{Auth, ExpiresIn, FaultKind, MockServer, MockSource, OAuth2, Scenario, Style};

use crate::support::{config_with, fast_policies_with, n, run, Outcome};

/// Every record of every source of `server`, as the mock's truth says.
fn assert_every_record(o: &Outcome, server: &MockServer) {
    let expected = server.truth().expected_all();
    assert_eq!(o.keys(), expected.keys, "every record, once");
}

/// The summary's `auth` of source `name`.
fn auth_counts(o: &Outcome, name: &str) -> (u64, u64, u64) {
    let a = &o.source(name)["auth"];
    (
        n(a, "token_requests"),
        n(a, "refreshes"),
        n(a, "forced_refreshes"),
    )
}

/// `text` holds none of the tokens the endpoint issued.
fn assert_no_token(server: &MockServer, what: &str, text: &str) {
    for r in server.token_requests() {
        for token in r.access_token.iter().chain(&r.refresh_token) {
            assert!(
                !text.contains(token.as_str()),
                "{what} holds a token: {text}"
            );
        }
    }
}

/// Tokens that live 1 s (said as `expires_in: 1`) over a run paced to last
/// more than three of their lifetimes: each is refreshed before it
/// expires (a tenth of its life ahead), so no request is ever refused,
/// every record is kept, and the summary's counts are the endpoint's.
#[test]
fn a_run_across_three_token_lifetimes_refreshes_ahead_and_loses_nothing() {
    let oauth = OAuth2::new("ingest", "s3cret-client").lifetime(Duration::from_secs(1));
    let source = MockSource::new("api", Style::Page, 18, 5).auth(Auth::OAuth2);
    let server = MockServer::start(Scenario::new(11).with(source).oauth2(oauth)).unwrap();
    // 18 pages at 5/s, burst 1: about 3.5 s.
    let policies = fast_policies_with(json!({"rate_limit": {"per_second": 5, "burst": 1}}));
    let o = run(&config_with(&server, policies));
    assert_eq!(
        o.source("api")["status"],
        "complete",
        "{:#}",
        o.source("api")
    );
    assert_every_record(&o, &server);
    let refused = server
        .requests()
        .iter()
        .filter(|r| r.page > 0 && r.outcome == testsupport::Outcome::Status(401))
        .count();
    assert_eq!(refused, 0, "no request went out with an expired token");
    let issued = server.token_requests();
    let (requests, refreshes, forced) = auth_counts(&o, "api");
    assert_eq!(
        requests,
        issued.len() as u64,
        "the summary counts what the endpoint saw"
    );
    assert!(requests >= 4, "three lifetimes crossed: {requests} tokens");
    assert_eq!((refreshes, forced), (requests - 1, 0));
    assert!(issued
        .iter()
        .all(|r| r.grant == "client_credentials" && r.status == Some(200)));
    assert_no_token(&server, "the summary", &o.summary.to_string());
}

/// Two sources of one client and endpoint share one token: one token
/// request, whoever asks first; the other waits for it.
#[test]
fn sources_of_one_client_share_one_token() {
    let oauth = OAuth2::new("ingest", "s3cret-client");
    let scenario = Scenario::new(12)
        .with(MockSource::new("a", Style::Page, 3, 4).auth(Auth::OAuth2))
        .with(MockSource::new("b", Style::Offset, 3, 4).auth(Auth::OAuth2))
        .oauth2(oauth);
    let server = MockServer::start(scenario).unwrap();
    let o = run(&config_with(&server, json!({})));
    assert_every_record(&o, &server);
    assert_eq!(server.token_requests().len(), 1, "one token for both");
    let fetched = auth_counts(&o, "a").0 + auth_counts(&o, "b").0;
    assert_eq!(fetched, 1, "fetched by one of them");
}

/// A server that refuses a still-valid token (401): one forced refresh
/// and one repeat of that request — not an attempt, not a retry — and
/// the page is kept.
#[test]
fn a_401_forces_one_refresh_and_one_repeat() {
    let oauth = OAuth2::new("ingest", "s3cret-client");
    let source = MockSource::new("api", Style::Page, 4, 5)
        .auth(Auth::OAuth2)
        .fault(3, 1, FaultKind::InvalidToken);
    let server = MockServer::start(Scenario::new(13).with(source).oauth2(oauth)).unwrap();
    let o = run(&config_with(&server, json!({})));
    let s = o.source("api");
    assert_eq!(s["status"], "complete", "{s:#}");
    assert_every_record(&o, &server);
    assert_eq!(auth_counts(&o, "api"), (2, 1, 1));
    assert_eq!(n(s, "retries"), 0, "a repeat after a refresh is no retry");
    assert_eq!(n(s, "failed_pages"), 0);
    assert_eq!(
        n(&s["errors"], "client_error"),
        0,
        "the 401 was the token's"
    );
    assert_eq!(n(&s["errors"], "auth"), 0);
}

/// The refresh-token grant with rotation: each answer carries a new
/// refresh token and the old one stops working; ingest sends the newest,
/// so a forced refresh still works, and never writes one anywhere.
#[test]
fn a_rotated_refresh_token_is_used_for_the_rest_of_the_run() {
    let oauth = OAuth2::new("ingest", "s3cret-client")
        .refresh_token("refresh-0-configured")
        .rotating();
    let source = MockSource::new("api", Style::Page, 4, 5)
        .auth(Auth::OAuth2)
        .fault(2, 1, FaultKind::InvalidToken)
        .fault(4, 1, FaultKind::InvalidToken);
    let server = MockServer::start(Scenario::new(14).with(source).oauth2(oauth)).unwrap();
    let o = run(&config_with(&server, json!({})));
    assert_every_record(&o, &server);
    let sent: Vec<String> = server
        .token_requests()
        .iter()
        .map(|r| r.param("refresh_token").unwrap_or_default().to_string())
        .collect();
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert_eq!(sent[0], "refresh-0-configured");
    let issued: Vec<String> = server
        .token_requests()
        .iter()
        .filter_map(|r| r.refresh_token.clone())
        .collect();
    assert_eq!(
        &sent[1..],
        &issued[..2],
        "each refresh sends the newest token"
    );
    assert!(server
        .token_requests()
        .iter()
        .all(|r| r.status == Some(200)));
    assert_no_token(&server, "the summary", &o.summary.to_string());
    let warnings = o.source("api")["warnings"].to_string();
    assert!(
        warnings.contains("the configured refresh token may no longer be valid"),
        "{warnings}"
    );
}

/// A client the endpoint does not know: the source stops at once with
/// `error`, quoting the endpoint's `error` and `error_description`; no
/// page is requested without a token; the run is partial.
#[test]
fn a_refused_client_stops_its_sources_before_any_page() {
    let oauth = OAuth2::new("ingest", "the-right-secret");
    let source = MockSource::new("api", Style::Page, 3, 5).auth(Auth::OAuth2);
    let server = MockServer::start(Scenario::new(15).with(source).oauth2(oauth)).unwrap();
    let mut config = config_with(&server, json!({}));
    let doc: Value = config.to_redacted_json();
    assert_eq!(doc["sources"][0]["auth"]["client_secret"], "***");
    if let Some(ingest::Auth::OAuth2(o)) = &mut config.sources[0].auth {
        o.client_secret = Some("a-wrong-secret".into());
    }
    let o = run(&config);
    let s = o.source("api");
    assert_eq!(s["status"], "error");
    let reason = s["stop_reason"].as_str().unwrap();
    assert!(
        reason.starts_with("no OAuth2 token: the token endpoint answered 401 (invalid_client"),
        "{reason}"
    );
    assert_eq!(n(&s["errors"], "auth"), 1);
    let pages = server.requests().iter().filter(|r| r.page > 0).count();
    assert_eq!(pages, 0, "no page without a token");
    assert_eq!(o.summary["status"], "partial");
    assert!(!o.summary.to_string().contains("a-wrong-secret"));
}

/// A token endpoint that answers 503 once is asked again after the
/// source's backoff; then the run goes on as usual.
#[test]
fn a_failing_token_endpoint_is_retried_with_backoff() {
    let oauth = OAuth2::new("ingest", "s3cret-client").fault(1, FaultKind::Status(503));
    let source = MockSource::new("api", Style::Page, 2, 5).auth(Auth::OAuth2);
    let server = MockServer::start(Scenario::new(16).with(source).oauth2(oauth)).unwrap();
    let o = run(&config_with(&server, json!({})));
    assert_every_record(&o, &server);
    let statuses: Vec<Option<u16>> = server.token_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(503), Some(200)]);
    assert_eq!(auth_counts(&o, "api"), (2, 0, 0));
}

/// Without `expires_in` a token is used until a server refuses it.
#[test]
fn a_token_without_expires_in_lasts_until_a_401() {
    let oauth = OAuth2::new("ingest", "s3cret-client").expires_in(ExpiresIn::Omitted);
    let source = MockSource::new("api", Style::Page, 3, 5)
        .auth(Auth::OAuth2)
        .fault(2, 1, FaultKind::InvalidToken);
    let server = MockServer::start(Scenario::new(17).with(source).oauth2(oauth)).unwrap();
    let o = run(&config_with(&server, json!({})));
    assert_every_record(&o, &server);
    assert_eq!(auth_counts(&o, "api"), (2, 1, 1));
}

/// `ingest check` says how a source authenticated and what its first
/// request was — the token's lifetime, never its value — and for a
/// GraphQL source the POST with its body.
#[test]
fn check_shows_the_auth_outcome_and_the_request_it_sent() {
    let oauth = OAuth2::new("ingest", "s3cret-client").lifetime(Duration::from_secs(600));
    let scenario = Scenario::new(18)
        .with(MockSource::new("api", Style::Page, 2, 5).auth(Auth::OAuth2))
        .with(MockSource::new("gh", Style::Graphql, 2, 5))
        .oauth2(oauth);
    let server = MockServer::start(scenario).unwrap();
    let config = config_with(&server, json!({}));
    let control = config.control(std::time::Instant::now());
    let reports = ingest::check(&config, &control);
    let text = ingest::render_check(&reports);
    assert!(
        text.contains(&format!(
            "  auth       oauth2 (client_credentials): a token fetched from {} in 1 request(s), valid 600 s\n",
            server.token_url()
        )),
        "{text}"
    );
    assert!(text.contains("  request    GET http://"), "{text}");
    assert!(
        text.contains("  request    POST http://") && text.contains(r#"{"query":"query($first"#),
        "the GraphQL request with its body: {text}"
    );
    assert_no_token(&server, "check's report", &text);
    assert!(!text.contains("s3cret-client"), "{text}");
}

/// A server that refuses every token for one page: one forced refresh
/// and one repeat, then the page is given up as kind `auth` (no loop of
/// refreshes); the next page goes on with the fresh token.
#[test]
fn a_page_refused_after_a_fresh_token_is_given_up_as_auth() {
    let oauth = OAuth2::new("ingest", "s3cret-client");
    let source = MockSource::new("api", Style::Page, 3, 5)
        .auth(Auth::OAuth2)
        .faults_for_every_attempt(2, FaultKind::InvalidToken);
    let server = MockServer::start(Scenario::new(19).with(source).oauth2(oauth)).unwrap();
    let o = run(&config_with(&server, json!({})));
    let s = o.source("api");
    assert_eq!(n(s, "failed_pages"), 1, "{s:#}");
    assert_eq!(n(&s["errors"], "auth"), 1);
    assert_eq!(n(&s["errors"], "client_error"), 0);
    let error = s["failed_page_errors"][0].as_str().unwrap();
    assert!(error.starts_with("auth: status 401 again"), "{error}");
    assert_eq!(
        auth_counts(&o, "api"),
        (2, 1, 1),
        "one forced refresh, not a loop"
    );
    assert_eq!(
        n(s, "records") + n(s, "invalid") + n(s, "duplicates"),
        n(s, "items")
    );
    assert_eq!(s["status"], "complete", "page 3 was fetched: {s:#}");
}
