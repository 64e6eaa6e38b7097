//! Deterministic in-process mock HTTP APIs for ingest's integration tests,
//! for the built-in demo (`ingest run` without `--config`) and for
//! `ingest serve-mock` (SPEC §8).
//!
//! A [`Scenario`] lists [`MockSource`]s — a pagination [`Style`], an item
//! [`Shape`], a size, and scripted [`Fault`]s keyed by `(page, attempt)`.
//! [`MockServer::start`] serves it on `127.0.0.1:0`; the guard stops every
//! thread it started when dropped. The same seed and scenario give the same
//! answers whatever the thread timing: data comes from a seeded
//! `fastrand::Rng`, and faults depend only on the attempt number the server
//! counts per `(source, page)` (per parent or window, too, for the
//! partitioned sources below).
//!
//! ```no_run
//! use testsupport::{FaultKind, MockServer, MockSource, Scenario, Style};
//! let scenario = Scenario::new(42).with(
//!     MockSource::new("alpha", Style::Page, 3, 5).fault(2, 1, FaultKind::Close),
//! );
//! let server = MockServer::start(scenario).unwrap();
//! let config = server.config_json(); // {"sources":[{"name":"alpha",...}]}
//! // ... run ingest against it ...
//! let expected = server.truth().source("alpha").unwrap().expected(1..=3);
//! assert!(server.requests().iter().any(|r| r.page == 2 && r.attempt == 2));
//! # let _ = (config, expected);
//! ```
//!
//! # Sources
//!
//! | style | request | body | end |
//! |---|---|---|---|
//! | [`Style::Page`] | `/NAME/products?page=N&limit=L` | `{"data":[..],"page":N}` | `204` past the last page |
//! | [`Style::Offset`] | `/NAME/items?offset=O&limit=L` | `{"results":[..],"total":T}` | `offset >= total` (empty `results`) |
//! | [`Style::Cursor`] | `/NAME/records[?cursor=C]` | `{"items":[..],"meta":{"next_cursor":C}}` | `next_cursor: null` |
//! | [`Style::NextUrl`] | `/NAME/pages?page=N` | `{"data":[..],"next":URL}` (relative or absolute) | `next: null` |
//! | [`Style::LinkHeader`] | `/NAME/list?page=N` | bare array + `Link: <..>; rel="next"` | no `rel="next"` |
//! | [`Style::None`] | `/NAME/all` | bare array | one request |
//! | [`Style::PageCount`] (DRF) | `/NAME/orders?page=N` | `{"count":T,"next":URL,"previous":URL,"results":[..]}` | `404 {"detail":"Invalid page."}` past the last page |
//! | [`Style::StartingAfter`] (Stripe) | `/NAME/charges[?starting_after=ID]` | `{"object":"list","data":[..],"has_more":B,"url":".."}` | `has_more: false`; after the last id an empty list |
//! | [`Style::JsonApi`] (JSON:API) | `/NAME/articles?page%5Bnumber%5D=N` | `{"data":[..],"links":{"first":URL,"last":URL,"next":URL,"prev":URL},"meta":{"pagination":{..}}}` | `links.next: null`; `404` past the last page |
//! | [`Style::XPagination`] (flask-smorest) | `/NAME/rows?page=N` | bare array + `X-Pagination: {"total":T,"total_pages":P,"first_page":1,"last_page":P,"page":N,..,"next_page":N+1}` | no `next_page`; past the last page `[]` |
//! | [`Style::XTotalCount`] | `/NAME/entries?page=N` | bare array + `X-Total-Count: T` | past the last page `[]` |
//! | [`Style::Graphql`] (GitHub) | `POST /NAME/graphql` `{"query":..,"variables":{"first":N,"after":C}}` | `{"data":{"repository":{"issues":{"nodes":[..],"edges":[{"node":..,"cursor":..}],"pageInfo":{"hasNextPage":B,"endCursor":C}}}}}` | `hasNextPage: false` |
//! | [`Style::Children`] ([`MockSource::children`]) | `/NAME/{parent_id}/items?page=N` | `{"data":[..],"next":URL}` (relative or absolute) | `next: null`; a gone or unknown parent `404 {"detail":"Not found."}` |
//! | [`Style::Window`] ([`MockSource::events`]) | `/NAME/events?from=X&to=Y` | `{"data":[..]}`: the events with `X <= timestamp < Y` | one page; without both parameters `400 {"error":"from and to are required"}` |
//!
//! The page size is fixed by the scenario (`limit` and GraphQL's `first`
//! are ignored; an offset that is not a multiple of it gets a 400).
//! Unknown paths get a JSON 404. [`MockSource::past_end`] replaces what a
//! page past the last gets (say `400 {"detail":"page out of range"}`, for
//! an `on_response` rule to end on).
//! [`MockSource::has_more`] adds a `has_more` flag to the `page`, `offset`
//! and `cursor` bodies and lets it alone tell the end (the last cursor
//! still points on).
//! [`MockServer::config_json`] writes a SPEC §3 entry for each source that
//! paginates it to its end: totals in headers as SPEC §11's
//! `header:X-Pagination.total_pages` and `header:X-Total-Count`, a GraphQL
//! source as the `graphql` shorthand ([`MockSource::graphql_query`]), and
//! the `auth` a protected source needs.
//!
//! # GraphQL
//!
//! A [`Style::Graphql`] source reads only the `after` variable (the page)
//! and the query's text (whether to write `nodes`, `edges`, `totalCount`);
//! its connection sits at [`MockSource::connection`] (default
//! `repository.issues`), over [`Shape::GithubIssues`] by default. `after`
//! must be a page's `endCursor` ([`MockServer::end_cursor`]), else the
//! answer is a 200 with `errors`; a GET or a body that is not a JSON query
//! gets a 400. [`LoggedRequest::variable`] reads back the `after` each
//! request sent, and its `page` is the page that `after` asked for.
//!
//! # Credentials and OAuth2
//!
//! [`MockSource::auth`] makes a source require an [`Auth`]: an OAuth2
//! access token, a fixed bearer token, HTTP Basic, or an API key in a
//! header or the query. A request without it gets a 401 (`WWW-Authenticate:
//! Bearer error="invalid_token"` for an unknown or expired token) before
//! any quota or fault, logged as an attempt of its page.
//!
//! [`Scenario::oauth2`] serves an [`OAuth2`] token endpoint at
//! `POST /oauth/token` ([`MockServer::token_url`]): RFC 6749's client
//! credentials and refresh token grants, client authentication in HTTP
//! Basic or in the form, and its errors (`invalid_client`, `invalid_grant`,
//! `invalid_scope`, `unsupported_grant_type`, `invalid_request`).
//!
//! | setting | builder | default |
//! |---|---|---|
//! | clients | [`OAuth2::new`], [`OAuth2::client`] | one |
//! | access token lifetime (server's clock) | [`OAuth2::lifetime`] | 1 h |
//! | what `expires_in` says | [`OAuth2::expires_in`]: [`ExpiresIn::Lifetime`] (`0.5` for 500 ms), `Omitted`, `Seconds(n)` | the lifetime |
//! | `token_type` | [`OAuth2::token_type`] | `Bearer` |
//! | scopes granted | [`OAuth2::scopes`] | any |
//! | refresh token valid at start | [`OAuth2::refresh_token`] | none |
//! | rotation (new refresh token, old one spent) | [`OAuth2::rotating`] | off |
//! | faults on the n-th token request (503, 429, hang, ..) | [`OAuth2::fault`] | none |
//!
//! Tokens are `mock-at-N-TAG` (N-th issued, TAG from the seed): the same
//! requests in the same order get the same tokens. Besides quotas, tokens
//! are the one part of a mock that goes by time, and only through the
//! lifetime a test sets; [`MockServer::expire_tokens`] expires them at
//! once instead. [`MockServer::token_requests`] lists every token request
//! ([`TokenRequest`]: grant, form parameters, [`ClientAuth`], status,
//! error, tokens issued), and [`LoggedRequest::bearer`] the token each
//! request carried.
//!
//! ```no_run
//! use std::time::Duration;
//! use testsupport::{Auth, MockServer, MockSource, OAuth2, Scenario, Style};
//! let scenario = Scenario::new(7)
//!     .with(MockSource::new("a", Style::Page, 3, 5).auth(Auth::OAuth2))
//!     .oauth2(OAuth2::new("cid", "secret").lifetime(Duration::from_secs(1)));
//! let server = MockServer::start(scenario).unwrap();
//! let config = server.config_json(); // sources[0].auth: {"type":"oauth2",..}
//! // ... run ingest against it ...
//! let grants = server.token_requests();
//! assert!(grants.iter().all(|r| r.grant == "client_credentials"));
//! # let _ = config;
//! ```
//!
//! # Item shapes
//!
//! | shape | an item | under the product schema |
//! |---|---|---|
//! | [`Shape::Flat`] | `{"id":17,"name":"Desk lamp 17","price":12.99,"currency":"USD","category":"home"}` | products; once a source has 30 items, about 2% invalid per reason and 4% duplicates |
//! | [`Shape::Sku`] | `{"sku":"B-00017","title":"..","price":"$1,299.00","category":".."}` | the same |
//! | [`Shape::Nested`] | `{"product":{"id":"g-17","title":".."},"price":{"amount":"12.50","currency":"EUR"},"category":{"name":".."}}` | the same |
//! | [`Shape::GithubIssues`] | `{"id":5000017221,"number":17,"title":"..","state":"open","user":{"login":"..","id":..},"labels":[{"id":..,"name":"bug"}],"comments":3,"created_at":"2026-..Z","updated_at":"..Z","closed_at":null,..}`, `pull_request` on some | every item `missing_price` |
//! | [`Shape::DrfOrders`] | `{"id":17,"reference":"ORD-000017","total":"12.50","currency":"eur","paid":"true","created":1767287045,"customer":{"email":".."}}` | every item `missing_price` |
//! | [`Shape::StripeList`] | `{"id":"ch_3P..","object":"charge","amount":1250,"currency":"usd","created":1767287045,"metadata":{..},..}` | every item a product |
//! | [`Shape::JsonApiArticles`] | `{"type":"articles","id":"17","attributes":{"title":"..","published_at":"..Z","deleted_at":null,..},"relationships":{..}}` | every item `missing_price` |
//!
//! The last four are for declared record schemas: every item is well
//! formed and has an id of its own, and [`SourceTruth::items`] gives back
//! each page's items exactly as served, so a test can compare each declared
//! field with the mock's value. [`Scenario::apis`] serves one of each in
//! its API's own pagination style.
//!
//! A source built with [`MockSource::ignoring_position`] answers every page
//! request with its first page (a server that ignores `page`, `offset` or
//! `cursor`): only the client's own limits end such a crawl.
//!
//! # Quotas
//!
//! [`MockSource::quota`] makes the server enforce a [`Quota`]: `limit`
//! requests per window (milliseconds in tests), announced on every answer
//! in one of three header families ([`QuotaFamily`]: the IETF draft's
//! `RateLimit`, `RateLimit-Remaining`/`-Reset`, GitHub's
//! `X-RateLimit-*` with an epoch reset); a request over it is refused with
//! 429 (or 403) carrying remaining 0 and the reset, and counted
//! ([`MockServer::quota_refusals`]). Quotas go by time, not by attempt:
//! the one part of a mock whose answers depend on the client's timing.
//!
//! # Data that changes: `since`
//!
//! A source built with [`MockSource::honouring_since`] answers its
//! parameter as GitHub answers `since`: only the issues updated at or
//! after the given RFC 3339 instant, paginated over what is left (every
//! next link keeps the parameter; a value that is not an instant gets a
//! 422). [`MockServer::next_generation`] moves such sources on between
//! runs — some items edited to a later `updated_at`, some added, ties at
//! the latest instant — deterministically, and returns the [`Changes`];
//! [`MockServer::truth`] always describes the current generation. Every
//! other source serves the same bytes whatever the generation.
//! [`LoggedRequest::query`] reads a parameter back from the request log,
//! and [`parse_rfc3339`] / [`rfc3339`] are the mock's own clock, not
//! ingest's.
//!
//! # Child lists per parent
//!
//! [`MockSource::children`]`(name, parent, max_pages, items_per_page)`
//! serves SPEC §12's nested lists, each customer's orders: the parents
//! are the valid, first-seen items of source `parent` (what ingest fans
//! out over; every item of an API shape), each addressed by its id
//! (`id`, or `sku` / `product.id` for the other product shapes) at
//! `/NAME/{parent_id}/items`. Each parent gets, from the seed and its id
//! alone, 1 to `max_pages` pages (one parent in eight a single empty
//! page) of items such as `{"id":3,"parent_id":17,"order_ref":"orders-17-3",
//! "name":..,"price":12.99,"currency":"USD","category":..}`: `id` is a
//! line number, unique only within its parent; `order_ref` is unique
//! overall; the rest is a valid product. [`MockSource::gone`]`(&[ids])`
//! and [`MockSource::gone_every`]`(k)` make parents gone: their list,
//! like an unknown parent's, answers `404 {"detail":"Not found."}`; a
//! page past a parent's last answers `404 {"detail":"Invalid page."}`.
//! Pages and attempts count per parent, so `fault(1, 1, ..)` strikes every
//! parent's first page once; [`LoggedRequest::partition`] is the parent
//! id. [`Truth::children`] gives a [`ChildTruth`]: the parent ids, the
//! gone ones, each parent's pages and items, and [`ChildTruth::keys`],
//! every record a correct fan-out writes, once each.
//! [`MockServer::config_json`] writes the entry:
//!
//! ```json
//! {"name": "orders", "url": "http://127.0.0.1:PORT/orders/{parent_id}/items",
//!  "parent": {"source": "customers", "fields": {"parent_id": "id"}, "include": ["parent_id"]},
//!  "items_path": "data", "pagination": {"style": "next_url", "next_path": "next"},
//!  "record": {"id": "order_ref", "fields": {"line": {"path": "id", "type": "integer", "required": true},
//!             "name": "name", "price": {"path": "price", "type": "price"},
//!             "currency": {"path": "currency", "type": "currency"}, "category": "category"}},
//!  "on_response": [{"status": 404, "body_contains": "Not found.", "action": "end"}]}
//! ```
//!
//! (keyed by `order_ref`, so no `key_with_parent` is needed;
//! [`ChildTruth::keys_with_parent`] gives the keys under
//! `"key_with_parent": true` and the product schema instead).
//!
//! ```no_run
//! use testsupport::{MockServer, MockSource, Scenario, Style};
//! let scenario = Scenario::new(7)
//!     .with(MockSource::new("customers", Style::Page, 3, 10))
//!     .with(MockSource::children("orders", "customers", 3, 4).gone_every(5));
//! let server = MockServer::start(scenario).unwrap();
//! // ... run ingest with server.config_json() ...
//! let truth = server.truth();
//! let orders = truth.children("orders").unwrap();
//! let expected = orders.keys(); // {"orders:orders-17-1", ..}
//! # let _ = expected;
//! ```
//!
//! # Time windows
//!
//! [`MockSource::events`]`(name, start, end, count)` serves `count`
//! events in `[start, end)` (RFC 3339) only by window:
//! `/NAME/events?from=X&to=Y` (names from [`MockSource::window_params`];
//! values RFC 3339 with or without a fraction, or a date alone, an
//! offset's `+` percent-encoded) answers `{"data":[..]}` with every event
//! `X <= timestamp < Y`, in one page; a missing, unreadable or empty
//! window gets a 400 `{"error":..}`. Events look like
//! `{"id":"ev-17","timestamp":"2026-01-01T23:59:59.412Z","type":"click","user_id":42}`
//! (ids in time order), and sit where windows go wrong: at every midnight
//! (`T00:00:00.000Z`), at `23:59:59.412` and `23:59:59.999` before it,
//! and a quarter of the rest at whole seconds; two more lie just outside
//! the range (`ev-0` a millisecond before `start`, the last id exactly
//! at `end`). Attempts count per window ([`LoggedRequest::partition`] is
//! `FROM/TO` as sent). [`Truth::events`] gives an [`EventTruth`]: the
//! events in the range ([`EventTruth::events`], [`EventTruth::keys`])
//! and what any window gets ([`EventTruth::between`]).
//! [`MockServer::config_json`] writes daily windows over the range:
//!
//! ```json
//! {"name": "ev", "url": "http://127.0.0.1:PORT/ev/events", "items_path": "data",
//!  "pagination": {"style": "none"},
//!  "partitions": {"window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z",
//!                 "step": "P1D", "start_param": "from", "end_param": "to", "format": "rfc3339"}},
//!  "record": {"id": "id", "fields": {"timestamp": {"path": "timestamp", "type": "timestamp", "required": true},
//!             "type": "type", "user_id": {"path": "user_id", "type": "integer"}}}}
//! ```
//!
//! # Latency and concurrency
//!
//! [`Scenario::latency`] delays every answer of every source by a fixed
//! time before it is written ([`MockSource::latency`] sets one source's
//! own); the token endpoint, unknown paths and connection faults are not
//! delayed. Each connection waits in its own thread, so N requests in
//! flight at once all finish after about one latency, not N: a client's
//! concurrency shows in its wall time. The request log says when each
//! request arrived ([`LoggedRequest::at`]) and when its answer was
//! settled ([`LoggedRequest::finished`]), and
//! [`MockServer::peak_in_flight`] how many of a source's requests the
//! server held at once.
//!
//! ```no_run
//! use std::time::Duration;
//! use testsupport::{MockServer, MockSource, Scenario, Style};
//! let scenario = Scenario::new(1)
//!     .with(MockSource::new("a", Style::Page, 40, 5))
//!     .latency(Duration::from_millis(200));
//! let server = MockServer::start(scenario).unwrap();
//! // ... run ingest with a concurrency of 4 ...
//! assert!(server.peak_in_flight("a") <= 4);
//! ```
//!
//! # Faults and scenarios
//!
//! [`FaultKind`] covers SPEC §4's taxonomy: error statuses (plain, with
//! `Retry-After`, or with a body of the test's own), any status with
//! headers of the test's own (`WithHeaders`), delay, hang, close,
//! truncate, reset, malformed, oversized and itemless bodies, and endless
//! pagination; and, for SPEC §11's response rules, a 200 that says it
//! failed ([`FaultKind::ok_with_error`]: `{"status":"error","message":..}`),
//! GraphQL's `errors` without data ([`FaultKind::GraphqlErrors`]) and
//! beside data ([`FaultKind::GraphqlPartial`]), and GitHub's GraphQL rate
//! limit in a 200 with `x-ratelimit-remaining: 0` and an epoch
//! `x-ratelimit-reset` ([`FaultKind::GraphqlRateLimited`]); for OAuth2, a
//! revoked token ([`FaultKind::InvalidToken`]: a 401 that forces one
//! refresh at a chosen request).
//! The named scenarios ([`Scenario::NAMES`]) all serve `alpha` (page),
//! `beta` (offset) and `gamma` (cursor): `clean` has no faults; `demo` has faults
//! that recover on retry under the default policies; `chaos` adds pages
//! that are lost for good (see [`MockSource::lost_pages`]). Note that
//! chaos's all-attempts 503 opens ingest's breaker (threshold 3), so a
//! chaos run waits out the breaker cooldown.
//!
//! # Design
//!
//! A raw `std::net::TcpListener` front (`raw.rs`) owns the sockets
//! and carries out connection-level faults (close, truncate, reset, hang,
//! delay), which tiny_http cannot; it checks credentials (`auth.rs`) and
//! serves the OAuth2 token endpoint (`oauth.rs`), which hold state and go
//! by time, as quotas do; it forwards every other request to a tiny_http
//! backend (`api.rs`, `graphql.rs`, and `partitioned.rs` for child
//! lists and windows, whose data is `children.rs`'s and `events.rs`'s)
//! that renders the sources' responses; the front then waits out the
//! latency, in the connection's own thread. See `raw.rs`. The request
//! log ([`MockServer::requests`]) keeps each request's method, headers,
//! (small) body, partition, and when it arrived and was answered.
//!
//! [`OneBody`] is apart from all this: a server of one fixed body (see
//! [`products_body`]) for measuring a single huge page.
//!
//! Logging: `debug` for socket-level oddities, `warn` for a failing
//! backend; nothing at `info`, so the demo's log stays ingest's own.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
mod auth;
mod base64;
mod changes;
mod children;
#[cfg(test)]
mod concurrency_tests;
#[cfg(test)]
mod crawl_tests;
mod data;
mod events;
mod fault;
mod graphql;
#[cfg(test)]
mod graphql_tests;
mod items;
mod oauth;
#[cfg(test)]
mod oauth_tests;
mod one_body;
#[cfg(test)]
mod partition_tests;
mod partitioned;
mod quota;
mod raw;
mod scenario;
mod server;
mod shapes;
#[cfg(test)]
mod wire_tests;

pub use auth::{Auth, KeyIn};
pub use changes::{parse_rfc3339, Changes};
pub use children::{ChildTruth, Children};
pub use data::{Expected, ItemTruth, SourceTruth, Truth};
pub use events::{EventTruth, Events};
pub use fault::{Failure, Fault, FaultKind, EVERY_ATTEMPT};
pub use oauth::{ClientAuth, ExpiresIn, OAuth2, TokenRequest};
pub use one_body::{products_body, OneBody};
pub use quota::{Quota, QuotaFamily};
pub use scenario::{MockSource, Scenario, Shape, Style};
pub use server::{LoggedRequest, MockServer, Outcome};
pub use shapes::rfc3339;
