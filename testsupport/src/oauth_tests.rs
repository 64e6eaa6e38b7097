//! The OAuth2 token endpoint and protected sources on the wire: tokens
//! issued and checked, expiry, rotation, token faults, a revoked token,
//! and the other credentials (Basic, API keys), each as a client sees it.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::base64;
use crate::wire_tests::{get, request, Resp};
use crate::{
    Auth, ClientAuth, ExpiresIn, FaultKind, MockServer, MockSource, OAuth2, Outcome, Scenario,
    Style,
};

/// Request headers of a table row.
type Headers<'a> = &'a [(&'a str, &'a str)];

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::encode(format!("{user}:{password}").as_bytes())
    )
}

/// A token request with client credentials in HTTP Basic.
fn token(server: &MockServer, form: &str) -> Resp {
    let auth = basic("cid", "sec");
    let headers = [FORM, ("Authorization", auth.as_str())];
    request(server, "POST", "/oauth/token", &headers, form.as_bytes())
}

/// A GET with `Authorization: Bearer TOKEN`.
fn with_token(server: &MockServer, target: &str, token: &str) -> Resp {
    let auth = format!("Bearer {token}");
    request(server, "GET", target, &[("Authorization", &auth)], b"")
}

fn protected(oauth2: OAuth2) -> MockServer {
    let scenario = Scenario::new(4)
        .with(MockSource::new("a", Style::Page, 3, 2).auth(Auth::OAuth2))
        .oauth2(oauth2);
    MockServer::start(scenario).unwrap()
}

#[test]
fn a_client_credentials_token_opens_a_protected_source() {
    let server = protected(OAuth2::new("cid", "sec").scopes(&["read:a", "read:b"]));
    let refused = get(&server, "/a/products");
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("WWW-Authenticate"),
        Some("Bearer realm=\"mock\"")
    );
    let form = "grant_type=client_credentials&scope=read%3Aa%20read%3Ab&audience=https%3A%2F%2Fapi";
    let answer = token(&server, form);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("Cache-Control"), Some("no-store"));
    let body = answer.json();
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_u64()),
        (Some("Bearer"), Some(3600))
    );
    let access = body["access_token"].as_str().unwrap();
    let page = with_token(&server, "/a/products?page=2", access);
    assert_eq!((page.status, page.json()["page"].as_u64()), (200, Some(2)));
    let forged = with_token(&server, "/a/products?page=2", "mock-at-1-00000000");
    assert_eq!(forged.status, 401);
    assert!(forged
        .header("WWW-Authenticate")
        .unwrap()
        .starts_with("Bearer error=\"invalid_token\""));
    // The token request as recorded, and the log's view of the requests.
    let recorded = server.token_requests();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!(
        (r.n, r.grant.as_str(), r.client_auth),
        (1, "client_credentials", ClientAuth::Basic)
    );
    assert_eq!(r.param("scope"), Some("read:a read:b"));
    assert_eq!(r.param("audience"), Some("https://api"));
    assert_eq!(
        (r.status, r.access_token.as_deref()),
        (Some(200), Some(access))
    );
    let log = server.requests();
    let seen: Vec<_> = log
        .iter()
        .map(|r| (r.source.as_str(), r.page, r.attempt, r.outcome.clone()))
        .collect();
    let ok = Outcome::Status(200);
    let no = Outcome::Status(401);
    assert_eq!(
        seen,
        [
            ("a", 1, 1, no.clone()),
            ("", 0, 1, ok.clone()),
            ("a", 2, 1, ok),
            ("a", 2, 2, no)
        ]
    );
    assert_eq!(
        (log[1].method.as_str(), log[1].path.as_str()),
        ("POST", "/oauth/token")
    );
    assert_eq!(log[2].bearer(), Some(access));
    // The config names the endpoint and the client.
    let config = server.config_json();
    let auth = &config["sources"][0]["auth"];
    assert_eq!(
        auth["token_url"].as_str(),
        Some(server.token_url().as_str())
    );
    assert_eq!(
        (auth["client_id"].as_str(), auth["scope"].as_str()),
        (Some("cid"), Some("read:a read:b"))
    );
}

#[test]
fn tokens_expire_by_their_lifetime_or_at_once() {
    let lifetime = Duration::from_millis(300);
    let server = protected(
        OAuth2::new("cid", "sec")
            .lifetime(lifetime)
            .expires_in(ExpiresIn::Omitted),
    );
    let issued = Instant::now();
    let body = token(&server, "grant_type=client_credentials").json();
    assert!(body.get("expires_in").is_none(), "{body}");
    let first = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(with_token(&server, "/a/products", &first).status, 200);
    std::thread::sleep(lifetime.saturating_sub(issued.elapsed()) + Duration::from_millis(20));
    let late = with_token(&server, "/a/products", &first);
    assert_eq!(late.status, 401);
    assert_eq!(late.json()["error"], "invalid_token");
    assert!(late.header("WWW-Authenticate").unwrap().contains("expired"));
    let second = token(&server, "grant_type=client_credentials").json()["access_token"].clone();
    let second = second.as_str().unwrap();
    assert_ne!(second, first);
    assert_eq!(with_token(&server, "/a/products", second).status, 200);
    server.expire_tokens();
    assert_eq!(with_token(&server, "/a/products", second).status, 401);
}

#[test]
fn a_rotated_refresh_token_is_spent() {
    let server = protected(OAuth2::new("cid", "sec").refresh_token("rt-0").rotating());
    let refresh = |rt: &str| {
        token(
            &server,
            &format!("grant_type=refresh_token&refresh_token={rt}"),
        )
    };
    let first = refresh("rt-0");
    assert_eq!(first.status, 200);
    let next = first.json()["refresh_token"].as_str().unwrap().to_string();
    let stale = refresh("rt-0");
    assert_eq!(
        (stale.status, stale.json()["error"].clone()),
        (400, json!("invalid_grant"))
    );
    assert_eq!(refresh(&next).status, 200);
    let grants: Vec<_> = server
        .token_requests()
        .iter()
        .map(|r| (r.grant.clone(), r.error.clone()))
        .collect();
    assert_eq!(
        grants.iter().filter(|(g, _)| g == "refresh_token").count(),
        3
    );
    assert_eq!(grants[1].1.as_deref(), Some("invalid_grant"));
    let config = server.config_json();
    assert_eq!(config["sources"][0]["auth"]["grant"], "refresh_token");
    assert_eq!(config["sources"][0]["auth"]["refresh_token"], "rt-0");
}

#[test]
fn token_faults_go_by_the_number_of_the_token_request() {
    let oauth2 = OAuth2::new("cid", "sec")
        .fault(1, FaultKind::Status(503))
        .fault(2, FaultKind::RetryAfter(429, "1".into()))
        .fault(4, FaultKind::Hang);
    let server = protected(oauth2);
    let cc = "grant_type=client_credentials";
    assert_eq!(token(&server, cc).status, 503);
    let limited = token(&server, cc);
    assert_eq!(
        (limited.status, limited.header("Retry-After")),
        (429, Some("1"))
    );
    assert_eq!(token(&server, cc).status, 200);
    // The fourth hangs until the server stops.
    let addr = server.addr();
    let hung = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let auth = basic("cid", "sec");
        let head = format!(
            "POST /oauth/token HTTP/1.1\r\nHost: t\r\nContent-Type: {}\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n{cc}",
            FORM.1,
            cc.len()
        );
        std::io::Write::write_all(&mut s, head.as_bytes()).unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).map(|_| buf.len()).ok()
    });
    let until = Instant::now() + Duration::from_secs(5);
    while server.token_requests().len() < 4 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    assert!(!hung.is_finished(), "the hang answered");
    let statuses: Vec<_> = server.token_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(503), Some(429), Some(200), None]);
    let issued = server
        .token_requests()
        .iter()
        .filter(|r| r.access_token.is_some())
        .count();
    assert_eq!(
        issued, 1,
        "a fault that replaces the answer issues no token"
    );
    server.stop();
    assert_eq!(hung.join().unwrap(), Some(0), "EOF without an answer");
}

#[test]
fn a_revoked_token_forces_a_refresh_and_refusals_skip_faults() {
    let scenario = Scenario::new(4)
        .with(
            MockSource::new("a", Style::Page, 3, 2)
                .auth(Auth::OAuth2)
                .fault(1, 1, FaultKind::Status(500))
                .fault(2, 2, FaultKind::InvalidToken),
        )
        .oauth2(OAuth2::new("cid", "sec"));
    let server = MockServer::start(scenario).unwrap();
    // No token: refused at the gate as attempt 1, so the 500 never shows.
    assert_eq!(get(&server, "/a/products").status, 401);
    let access = token(&server, "grant_type=client_credentials").json()["access_token"].clone();
    let access = access.as_str().unwrap();
    let statuses: Vec<u16> = [
        "/a/products",
        "/a/products?page=2",
        "/a/products?page=2",
        "/a/products?page=2",
    ]
    .iter()
    .map(|t| with_token(&server, t, access).status)
    .collect();
    assert_eq!(statuses, [200, 200, 401, 200]);
    let revoked = server
        .requests()
        .into_iter()
        .find(|r| r.page == 2 && r.attempt == 2)
        .unwrap();
    assert_eq!(revoked.outcome, Outcome::Status(401));
    assert_eq!(
        revoked.bearer(),
        Some(access),
        "a valid token, refused by the fault"
    );
}

#[test]
fn basic_and_api_keys_guard_their_sources() {
    let scenario = Scenario::new(2)
        .with(MockSource::new("b", Style::Page, 1, 1).auth(Auth::basic("ann", "pw")))
        .with(
            MockSource::new("h", Style::Offset, 1, 1).auth(Auth::api_key_header("X-Api-Key", "k1")),
        )
        .with(MockSource::new("q", Style::Cursor, 1, 1).auth(Auth::api_key_query("api_key", "k2")))
        .with(MockSource::new("t", Style::None, 1, 1).auth(Auth::Bearer("fixed".into())));
    let server = MockServer::start(scenario).unwrap();
    let ann = basic("ann", "pw");
    let cases: [(&str, Headers, u16); 8] = [
        ("/b/products", &[("Authorization", &ann)], 200),
        ("/b/products", &[], 401),
        ("/h/items", &[("x-api-key", "k1")], 200),
        ("/h/items", &[("X-Api-Key", "k2")], 401),
        ("/q/records?api_key=k2", &[], 200),
        ("/q/records", &[("api_key", "k2")], 401),
        ("/t/all", &[("Authorization", "Bearer fixed")], 200),
        ("/t/all", &[("Authorization", "Bearer other")], 401),
    ];
    for (target, headers, status) in cases {
        assert_eq!(
            request(&server, "GET", target, headers, b"").status,
            status,
            "{target} {headers:?}"
        );
    }
    assert_eq!(
        get(&server, "/b/products").header("WWW-Authenticate"),
        Some("Basic realm=\"mock\"")
    );
    let config = server.config_json();
    let auths: Vec<_> = config["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["auth"]["type"].clone())
        .collect();
    assert_eq!(
        auths,
        [
            json!("basic"),
            json!("api_key"),
            json!("api_key"),
            json!("bearer")
        ]
    );
    assert_eq!(config["sources"][2]["auth"]["in"], "query");
}
