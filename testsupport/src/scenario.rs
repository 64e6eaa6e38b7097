//! What a mock server serves: sources, their pagination style, item shape,
//! size and scripted faults, plus the named scenarios (`clean`, `demo`,
//! `chaos`) used by the demo, `serve-mock` and the integration tests.
//!
//! A scenario is plain data; the server never changes it. Everything the
//! server answers is a pure function of the scenario, the request and the
//! attempt number of that `(source, page)` (of that partition's page, for
//! child and window sources) — and, for a source that honours `since`,
//! of the generation a test moved it to — which is what makes the mocks
//! deterministic. (Quotas and OAuth2 tokens are the two
//! exceptions, by design: they go by the server's clock; see `quota.rs`
//! and `oauth.rs`.)

use std::time::Duration;

use serde_json::{json, Value};

use crate::auth::Auth;
use crate::children::Children;
use crate::events::Events;
use crate::fault::{Failure, Fault, FaultKind, EVERY_ATTEMPT};
use crate::oauth::OAuth2;
use crate::quota::Quota;

/// Pagination style of a mock source, mirroring SPEC §3's `pagination.style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Style {
    /// `GET /NAME/products?page=N&limit=L` → `{"data":[..],"page":N}`;
    /// pages past the last answer `204`.
    Page,
    /// `GET /NAME/items?offset=O&limit=L` → `{"results":[..],"total":T}`;
    /// an offset at or past `total` gets an empty `results`.
    Offset,
    /// `GET /NAME/records[?cursor=C]` → `{"items":[..],"meta":{"next_cursor":..}}`,
    /// `null` on the last page.
    Cursor,
    /// `GET /NAME/pages?page=N` → `{"data":[..],"next":URL}`: the URL is
    /// root-relative, path-relative or absolute depending on the page;
    /// `null` on the last page.
    NextUrl,
    /// `GET /NAME/list?page=N` → a bare JSON array with `Link` headers
    /// (`rel="next"`, and `rel="prev"` after page 1); the last page has no
    /// `rel="next"`.
    LinkHeader,
    /// `GET /NAME/all` → one bare JSON array; only page 1 exists.
    None,
    /// Django REST Framework's `PageNumberPagination`: `GET
    /// /NAME/orders?page=N` → `{"count":T,"next":URL,"previous":URL,
    /// "results":[..]}` (absolute URLs, `null` at either end); a page past
    /// the last answers `404 {"detail":"Invalid page."}`. A client that
    /// reads `count` stops before it.
    PageCount,
    /// Stripe's lists: `GET /NAME/charges[?starting_after=ID]` →
    /// `{"object":"list","data":[..],"has_more":B,"url":"/v1/charges"}`,
    /// where `ID` is the id of the last item of the page before (an
    /// unknown id gets a 400); `has_more` is false on the last page, and
    /// the page after it is an empty list. Items need an `id` (the default
    /// shape, [`Shape::StripeList`], has one).
    StartingAfter,
    /// A JSON:API server (django-rest-framework-json-api's page-number
    /// pagination): `GET /NAME/articles?page%5Bnumber%5D=N` →
    /// `{"data":[..],"links":{"first":URL,"last":URL,"next":URL,"prev":URL},
    /// "meta":{"pagination":{"page":N,"pages":P,"count":T}}}` (absolute
    /// URLs, `null` at either end): the next link is at `links.next`, not
    /// at a top-level `next`. A page past the last answers `404
    /// {"errors":[{"detail":"Invalid page.","status":"404"}]}`.
    JsonApi,
    /// GraphQL with a Relay connection: `POST /NAME/graphql` with a JSON
    /// body `{"query":"..","variables":{"first":N,"after":C}}` →
    /// `{"data":{"repository":{"issues":{"nodes":[..],"edges":[{"node":..,
    /// "cursor":..}],"pageInfo":{"hasNextPage":B,"endCursor":C}}}}}` under
    /// the source's [`MockSource::connection`] path. The query's text
    /// selects: `nodes` and `edges` as it names them (both when it names
    /// neither), `totalCount` when it names it. Cursors are opaque base64;
    /// `after` must be a page's `endCursor` (anything else: a 200 with
    /// `errors`, as GitHub answers). `first` is logged, not obeyed: the
    /// page size is the scenario's. A GET, or a body that is not a JSON
    /// object with a string `query`, gets a 400.
    Graphql,
    /// flask-smorest: `GET /NAME/rows?page=N` → a bare JSON array, the
    /// totals only in `X-Pagination: {"total":T,"total_pages":P,
    /// "first_page":1,"last_page":P,"page":N,"previous_page":N-1,
    /// "next_page":N+1}` (no `previous_page` on the first page, no
    /// `next_page` on the last). Past the last page: `[]` and the header
    /// without `page` and its neighbours.
    XPagination,
    /// `GET /NAME/entries?page=N` → a bare JSON array with only
    /// `X-Total-Count: T` (json-server, many Rails and Node APIs) to say
    /// how many items there are; past the last page, `[]`.
    XTotalCount,
    /// A child list per parent (SPEC §12's `parent`): `GET
    /// /NAME/{parent_id}/items?page=N` → `{"data":[..],"next":URL}` (the
    /// URL relative or absolute, as [`Style::NextUrl`]'s; `null` on the
    /// parent's last page), where `parent_id` is the id of an item of the
    /// parent source. A gone or unknown parent answers `404
    /// {"detail":"Not found."}`, a page past a parent's last `404
    /// {"detail":"Invalid page."}`. Built with [`MockSource::children`],
    /// which names the parent (see `children.rs`).
    Children,
    /// Events that can only be asked for by a time window: `GET
    /// /NAME/events?from=X&to=Y` → `{"data":[..]}`, the events with `X <=
    /// timestamp < Y`, in one page; without both parameters `400
    /// {"error":"from and to are required"}`. Built with
    /// [`MockSource::events`] (see `events.rs`).
    Window,
}

impl Style {
    /// The `pagination.style` value of SPEC §3.
    pub fn config_name(self) -> &'static str {
        match self {
            Style::Page => "page",
            Style::Offset => "offset",
            Style::Cursor => "cursor",
            Style::NextUrl => "next_url",
            Style::LinkHeader => "link_header",
            Style::None => "none",
            Style::PageCount => "page",
            Style::StartingAfter => "cursor",
            Style::JsonApi => "next_url",
            Style::Graphql => "cursor",
            Style::XPagination | Style::XTotalCount => "page",
            Style::Children => "next_url",
            Style::Window => "none",
        }
    }

    /// The last path segment under the source's prefix.
    pub fn resource(self) -> &'static str {
        match self {
            Style::Page => "products",
            Style::Offset => "items",
            Style::Cursor => "records",
            Style::NextUrl => "pages",
            Style::LinkHeader => "list",
            Style::None => "all",
            Style::PageCount => "orders",
            Style::StartingAfter => "charges",
            Style::JsonApi => "articles",
            Style::Graphql => "graphql",
            Style::XPagination => "rows",
            Style::XTotalCount => "entries",
            Style::Children => "items",
            Style::Window => "events",
        }
    }

    /// The item shape a source of this style gets unless told otherwise.
    pub fn default_shape(self) -> Shape {
        match self {
            Style::Page | Style::NextUrl | Style::XPagination => Shape::Flat,
            Style::Children | Style::Window => Shape::Flat,
            Style::Offset | Style::LinkHeader | Style::XTotalCount => Shape::Sku,
            Style::Cursor | Style::None => Shape::Nested,
            Style::PageCount => Shape::DrfOrders,
            Style::StartingAfter => Shape::StripeList,
            Style::JsonApi => Shape::JsonApiArticles,
            Style::Graphql => Shape::GithubIssues,
        }
    }
}

/// How a source's items look: SPEC §8's three demo shapes (products),
/// and three APIs that are not product catalogues, for declared record
/// schemas (see `shapes.rs`; they have no invalid items and no duplicates).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// `{"id":17,"name":"Desk lamp 17","price":12.99,"currency":"USD","category":"home"}`.
    Flat,
    /// `{"sku":"B-00017","title":"..","price":"$1,299.00","category":".."}`.
    Sku,
    /// `{"product":{"id":"g-17","title":".."},"price":{"amount":"12.50","currency":"EUR"},"category":{"name":".."}}`.
    Nested,
    /// GitHub's issues API: `{"id":5000017221,"node_id":"..","number":17,
    /// "title":"..","user":{"login":"..","id":..},"labels":[{"id":..,"name":".."}],
    /// "state":"open"|"closed","locked":false,"comments":3,
    /// "created_at":"2026-..Z","updated_at":"..Z","closed_at":null|"..Z",
    /// "body":null|"..", "pull_request":{"url":"..","merged_at":..}}` (the
    /// last on about a quarter). No price: every item is `missing_price`
    /// under the product schema.
    GithubIssues,
    /// A Django REST Framework order: `{"id":17,"reference":"ORD-000017",
    /// "total":"12.50","currency":"eur","paid":"true"|"false",
    /// "created":1767287045,"customer":{"email":".."}|null}`. No price
    /// under the product schema's names: every item is `missing_price`.
    DrfOrders,
    /// A Stripe charge: `{"id":"ch_3P..","object":"charge","amount":1250,
    /// "currency":"usd","created":1767287045,"paid":true,"status":"succeeded",
    /// "description":null|"..","metadata":{}|{"order_id":"..","channel":"web"}}`.
    /// A valid product (id, `amount` in cents, currency) under the product
    /// schema.
    StripeList,
    /// A JSON:API resource object: `{"type":"articles","id":"17",
    /// "attributes":{"title":"..","body":"..","published_at":"2026-..Z",
    /// "deleted_at":null},"relationships":{"author":{"data":{"type":"people",
    /// "id":".."}}}}`. `attributes.deleted_at` is present and `null` in
    /// every item (nothing was deleted): a field that is legitimately
    /// null. No price: every item is `missing_price` under the product
    /// schema.
    JsonApiArticles,
}

impl Shape {
    /// Whether items follow the product schema's names (the three demo
    /// shapes, with their share of invalid items and duplicates).
    pub fn is_product(self) -> bool {
        matches!(self, Shape::Flat | Shape::Sku | Shape::Nested)
    }
}

/// One mock API under `/NAME/RESOURCE` of the server.
#[derive(Debug, Clone, PartialEq)]
pub struct MockSource {
    /// Source name, also the first path segment; `[A-Za-z0-9_.-]+`.
    pub name: String,
    /// Pagination style.
    pub style: Style,
    /// Number of pages with data (forced to 1 for [`Style::None`]).
    pub pages: usize,
    /// Items on every page (fixed by the server; `limit` params are ignored).
    pub items_per_page: usize,
    /// Scripted faults; the first one matching `(page, attempt)` applies.
    pub faults: Vec<Fault>,
    /// Item shape. Defaults to [`Style::default_shape`].
    pub shape: Shape,
    /// Pagination never ends: `page`/`offset` serve filler pages past the
    /// last one forever; pointer styles point from the last page back to
    /// page 2 (page 1 when there is only one), a loop. Defaults to false.
    pub endless: bool,
    /// The server ignores the position in the request (`page`, `offset`,
    /// `cursor`): every page request gets page 1's answer, its `next`
    /// link, cursor or `Link` header included, so a client sees the same
    /// items again and again until its own limits (`max_pages`, a total, a
    /// repeated cursor) stop it; the mock itself only ever answers. Faults
    /// and the request log still go by the page requested. Wins over
    /// `endless`. Defaults to false.
    pub ignores_position: bool,
    /// The body says whether another page follows, and only it says so
    /// truly (`page`, `offset`, `cursor`): `"has_more":B` beside `page`
    /// or `total`, `meta.has_more` beside the cursor — and the last
    /// page's cursor still points on (back to page 2, or 1, as an endless
    /// source's does), so a client that ignores `has_more` loops. Other
    /// styles ignore it. Defaults to false.
    pub has_more: bool,
    /// A quota the server enforces and announces (see [`Quota`]); `None`
    /// for none. A refused request still counts as an attempt of its page.
    /// Defaults to `None`.
    pub quota: Option<Quota>,
    /// The query parameter by which the source answers only the items
    /// updated at or after an instant (GitHub's `since`, RFC 3339); such a
    /// source serves [`Shape::GithubIssues`] and changes when a test calls
    /// [`crate::MockServer::next_generation`] (see
    /// [`MockSource::honouring_since`]). Defaults to `None`.
    pub since: Option<String>,
    /// Credentials every request must carry; a request without them (or
    /// with an expired or unknown OAuth2 token) gets a 401 and is logged
    /// as an attempt of its page, and no fault applies to it (see
    /// [`Auth`]). Defaults to `None`: an open API.
    pub auth: Option<Auth>,
    /// What a request for a page past the last gets instead of the
    /// style's own end (204, 404, an empty list): this status with this
    /// JSON body, such as `400 {"detail":"page out of range"}` for an
    /// `on_response` rule to recognise. Defaults to `None`.
    pub past_end: Option<(u16, String)>,
    /// Where a [`Style::Graphql`] answer puts its connection under
    /// `data`: a dot path. Other styles ignore it. Defaults to
    /// `"repository.issues"`.
    pub connection: String,
    /// For a [`Style::Children`] source: the parent it fans out over and
    /// the parents that are gone (see [`MockSource::children`]). Defaults
    /// to `None`.
    pub children: Option<Children>,
    /// For a [`Style::Window`] source: the events' range and the window's
    /// parameters (see [`MockSource::events`]). Defaults to `None`.
    pub events: Option<Events>,
    /// How long every answer of this source waits before it is written,
    /// instead of the scenario's [`Scenario::latency`]. Defaults to
    /// `None`: the scenario's.
    pub latency: Option<Duration>,
}

impl MockSource {
    /// A fault-free source.
    pub fn new(name: &str, style: Style, pages: usize, items_per_page: usize) -> MockSource {
        MockSource {
            name: name.to_string(),
            style,
            pages: if style == Style::None { 1 } else { pages },
            items_per_page,
            faults: Vec::new(),
            shape: style.default_shape(),
            endless: false,
            ignores_position: false,
            has_more: false,
            quota: None,
            since: None,
            auth: None,
            past_end: None,
            connection: "repository.issues".to_string(),
            children: None,
            events: None,
            latency: None,
        }
    }

    /// Delays every answer of this source by `latency` (see
    /// [`MockSource::latency`] field and [`Scenario::latency`]).
    pub fn latency(mut self, latency: Duration) -> MockSource {
        self.latency = Some(latency);
        self
    }

    /// Adds a fault on `page` (1-based) at `attempt` (1-based; 0 = every
    /// attempt). [`FaultKind::Endless`] instead marks the source endless.
    pub fn fault(mut self, page: usize, attempt: u32, kind: FaultKind) -> MockSource {
        if kind == FaultKind::Endless {
            self.endless = true;
        } else {
            self.faults.push(Fault {
                page,
                attempt,
                kind,
            });
        }
        self
    }

    /// Adds a fault that applies to every attempt of `page`.
    pub fn faults_for_every_attempt(self, page: usize, kind: FaultKind) -> MockSource {
        self.fault(page, EVERY_ATTEMPT, kind)
    }

    /// Makes pagination never end (see [`MockSource::endless`] field).
    pub fn endless(mut self) -> MockSource {
        self.endless = true;
        self
    }

    /// Makes the server ignore the position parameter (see
    /// [`MockSource::ignores_position`]).
    pub fn ignoring_position(mut self) -> MockSource {
        self.ignores_position = true;
        self
    }

    /// Says in every body whether another page follows (see
    /// [`MockSource::has_more`] field).
    pub fn has_more(mut self) -> MockSource {
        self.has_more = true;
        self
    }

    /// Enforces and announces `quota` (see [`Quota`]).
    pub fn quota(mut self, quota: Quota) -> MockSource {
        self.quota = Some(quota);
        self
    }

    /// Makes the source answer `param` as GitHub's issues API answers
    /// `since`: only the items whose `updated_at` is at or after the given
    /// RFC 3339 instant (anything else there: a 422), paginated over what
    /// is left, with every next link keeping the parameter. It serves
    /// GitHub issues ([`Shape::GithubIssues`]), two of them at the latest
    /// `updated_at`, and its items change at each
    /// [`crate::MockServer::next_generation`]: some edited, some added.
    pub fn honouring_since(mut self, param: &str) -> MockSource {
        self.since = Some(param.to_string());
        self.shape = Shape::GithubIssues;
        self
    }

    /// Requires `auth` of every request (see [`MockSource::auth`] field).
    pub fn auth(mut self, auth: Auth) -> MockSource {
        self.auth = Some(auth);
        self
    }

    /// Answers a page past the last with `status` and the JSON `body`
    /// (see [`MockSource::past_end`] field).
    pub fn past_end(mut self, status: u16, body: &str) -> MockSource {
        self.past_end = Some((status, body.to_string()));
        self
    }

    /// Puts a [`Style::Graphql`] connection at this dot path under
    /// `data` (see [`MockSource::connection`] field).
    pub fn connection(mut self, path: &str) -> MockSource {
        self.connection = path.to_string();
        self
    }

    /// Overrides the item shape.
    pub fn shape(mut self, shape: Shape) -> MockSource {
        self.shape = shape;
        self
    }

    /// The fault that applies to this `(page, attempt)`, if any.
    pub fn fault_for(&self, page: usize, attempt: u32) -> Option<&FaultKind> {
        self.faults
            .iter()
            .find(|f| f.matches(page, attempt))
            .map(|f| &f.kind)
    }

    /// Path of the first page, e.g. `/alpha/products`; for a
    /// [`Style::Children`] source the template `/NAME/{parent_id}/items`.
    pub fn path(&self) -> String {
        match self.style {
            Style::Children => format!("/{}/{{parent_id}}/{}", self.name, self.style.resource()),
            _ => format!("/{}/{}", self.name, self.style.resource()),
        }
    }

    /// Pages a client following SPEC §4 loses for good when it makes at
    /// most `max_attempts` attempts per page: every attempt fails
    /// retryably, or a non-retryable failure comes first. Assumes client
    /// timeouts above every `Delay` and a body limit above every
    /// `Oversized`; a lost page of a pointer style also ends that source,
    /// which this list does not model.
    pub fn lost_pages(&self, max_attempts: u32) -> Vec<usize> {
        (1..=self.pages)
            .filter(|&page| {
                for attempt in 1..=max_attempts {
                    match self.fault_for(page, attempt).and_then(FaultKind::failure) {
                        None => return false,
                        Some(Failure::GiveUp) => return true,
                        Some(Failure::Retryable) => {}
                    }
                }
                true
            })
            .collect()
    }

    /// A GraphQL query for a [`Style::Graphql`] source that declares
    /// `$first` and `$after` and selects `nodes` and `pageInfo` of its
    /// [`MockSource::connection`] (the mock answers every node in full,
    /// whatever the selection names).
    pub fn graphql_query(&self) -> String {
        let mut path: Vec<&str> = self.connection.split('.').collect();
        let last = path.pop().unwrap_or("issues");
        let mut query = format!(
            "{last}(first: $first, after: $after) {{ nodes {{ id number title }} \
             pageInfo {{ hasNextPage endCursor }} }}"
        );
        for field in path.iter().rev() {
            query = format!("{field} {{ {query} }}");
        }
        format!("query($first: Int!, $after: String) {{ {query} }}")
    }

    /// This source's entry of a SPEC §3 config, for a server at `base_url`:
    /// `name`, `url`, `items_path` and `pagination` (for
    /// [`Style::Graphql`], SPEC §11's `graphql` shorthand instead), and
    /// `auth` when the source requires it — except for
    /// [`Auth::OAuth2`], whose client lives in the scenario's [`OAuth2`]:
    /// [`crate::MockServer::config_json`] adds that one.
    pub fn config_json(&self, base_url: &str) -> Value {
        let mut source = json!({
            "name": self.name,
            "url": format!("{}{}", base_url, self.path()),
        });
        if self.style == Style::Graphql {
            source["graphql"] = json!({
                "query": self.graphql_query(),
                "variables": {"first": self.items_per_page},
                "connection": self.connection,
            });
        } else {
            let (items_path, pagination) = self.pagination_json();
            if let Some(path) = items_path {
                source["items_path"] = json!(path);
            }
            source["pagination"] = pagination;
        }
        if let Some(children) = &self.children {
            children.config_json(&mut source);
        }
        if let Some(events) = &self.events {
            events.config_json(&mut source);
        }
        if let Some(auth) = self.auth.as_ref().and_then(Auth::config_json) {
            source["auth"] = auth;
        }
        source
    }

    /// The `items_path` and `pagination` of [`MockSource::config_json`].
    fn pagination_json(&self) -> (Option<&'static str>, Value) {
        let ipp = self.items_per_page;
        let (items_path, mut pagination) = match self.style {
            Style::Page => (
                Some("data"),
                json!({"style": "page", "param": "page", "start": 1,
                       "size_param": "limit", "size": ipp}),
            ),
            Style::Offset => (
                Some("results"),
                json!({"style": "offset", "offset_param": "offset", "start": 0,
                       "limit_param": "limit", "limit": ipp, "total_path": "total"}),
            ),
            Style::Cursor => (
                Some("items"),
                json!({"style": "cursor", "cursor_path": "meta.next_cursor", "param": "cursor"}),
            ),
            Style::NextUrl => (
                Some("data"),
                json!({"style": "next_url", "next_path": "next"}),
            ),
            Style::LinkHeader => (None, json!({"style": "link_header"})),
            Style::None => (None, json!({"style": "none"})),
            // DRF's page size is the server's: the first page tells it.
            Style::PageCount => (
                Some("results"),
                json!({"style": "page", "param": "page", "start": 1,
                       "total_items_path": "count"}),
            ),
            Style::StartingAfter => (
                Some("data"),
                json!({"style": "cursor", "last_item_path": "id", "param": "starting_after",
                       "has_more_path": "has_more"}),
            ),
            Style::JsonApi => (
                Some("data"),
                json!({"style": "next_url", "next_path": "links.next"}),
            ),
            // The totals are only in headers (SPEC §11's `header:NAME`).
            Style::XPagination => (
                None,
                json!({"style": "page", "param": "page", "start": 1,
                       "total_pages_path": "header:X-Pagination.total_pages"}),
            ),
            Style::XTotalCount => (
                None,
                json!({"style": "page", "param": "page", "start": 1,
                       "total_items_path": "header:X-Total-Count"}),
            ),
            Style::Children => (
                Some("data"),
                json!({"style": "next_url", "next_path": "next"}),
            ),
            Style::Window => (Some("data"), json!({"style": "none"})),
            // Written by `config_json` as the `graphql` shorthand.
            Style::Graphql => (None, Value::Null),
        };
        // Only `has_more` says where the data ends (the offset style's
        // total would end it too, so it goes).
        if self.has_more {
            match self.style {
                Style::Page => pagination["has_more_path"] = json!("has_more"),
                Style::Offset => {
                    if let Some(p) = pagination.as_object_mut() {
                        p.remove("total_path");
                    }
                    pagination["has_more_path"] = json!("has_more");
                }
                Style::Cursor => pagination["has_more_path"] = json!("meta.has_more"),
                _ => {}
            }
        }
        (items_path, pagination)
    }
}

/// Everything one [`crate::MockServer`] serves.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Seed of the generated data (each source mixes in its name).
    pub seed: u64,
    /// The sources, each under its own path prefix.
    pub sources: Vec<MockSource>,
    /// The OAuth2 token endpoint at [`OAuth2::PATH`], for sources that
    /// require [`Auth::OAuth2`]. Defaults to `None`: no such path.
    pub oauth2: Option<OAuth2>,
    /// How long every answer of every source waits before it is written
    /// (a source's own [`MockSource::latency`] wins): a fixed round trip,
    /// to measure a client's concurrency. Each connection waits in its
    /// own thread, so N requests in flight at once all finish after
    /// about one latency. Not applied to the token endpoint, to unknown
    /// paths or to connection faults. Defaults to zero.
    pub latency: Duration,
}

/// Page `num/den` of the way through `pages`, at least 1.
fn at(pages: usize, num: usize, den: usize) -> usize {
    (pages * num).div_ceil(den).clamp(1, pages.max(1))
}

impl Scenario {
    /// Names accepted by [`Scenario::named`].
    pub const NAMES: [&'static str; 3] = ["clean", "demo", "chaos"];

    /// Pages per source that `serve-mock` and the demo use by default.
    pub const DEFAULT_PAGES: usize = 10;

    /// Items per page that `serve-mock` and the demo use by default.
    pub const DEFAULT_ITEMS_PER_PAGE: usize = 20;

    /// An empty scenario to add sources to with [`Scenario::with`].
    pub fn new(seed: u64) -> Scenario {
        Scenario {
            seed,
            sources: Vec::new(),
            oauth2: None,
            latency: Duration::ZERO,
        }
    }

    /// Adds a source.
    pub fn with(mut self, source: MockSource) -> Scenario {
        self.sources.push(source);
        self
    }

    /// Serves an OAuth2 token endpoint (see [`OAuth2`]).
    pub fn oauth2(mut self, oauth2: OAuth2) -> Scenario {
        self.oauth2 = Some(oauth2);
        self
    }

    /// Delays every source's answers by `latency` (see
    /// [`Scenario::latency`] field).
    pub fn latency(mut self, latency: Duration) -> Scenario {
        self.latency = latency;
        self
    }

    /// The latency of source `idx`'s answers: its own, else the
    /// scenario's.
    pub(crate) fn latency_of(&self, idx: usize) -> Duration {
        self.sources[idx].latency.unwrap_or(self.latency)
    }

    /// The named scenario, or `None` for a name not in [`Scenario::NAMES`].
    pub fn named(name: &str, seed: u64, pages: usize, items_per_page: usize) -> Option<Scenario> {
        match name {
            "clean" => Some(Scenario::clean(seed, pages, items_per_page)),
            "demo" => Some(Scenario::demo(seed, pages, items_per_page)),
            "chaos" => Some(Scenario::chaos(seed, pages, items_per_page)),
            _ => None,
        }
    }

    /// The three demo shapes without faults: `alpha` (page), `beta`
    /// (offset), `gamma` (cursor).
    pub fn clean(seed: u64, pages: usize, items_per_page: usize) -> Scenario {
        Scenario::new(seed)
            .with(MockSource::new("alpha", Style::Page, pages, items_per_page))
            .with(MockSource::new(
                "beta",
                Style::Offset,
                pages,
                items_per_page,
            ))
            .with(MockSource::new(
                "gamma",
                Style::Cursor,
                pages,
                items_per_page,
            ))
    }

    /// `clean` plus faults that all recover under the default policies
    /// (4 attempts, breaker threshold 3): 429s with `Retry-After: 1`, a
    /// 500, a 503, a dropped connection and a 1.5 s page, each only on a
    /// page's first attempt.
    pub fn demo(seed: u64, pages: usize, items_per_page: usize) -> Scenario {
        let p = pages.max(1);
        let mut s = Scenario::clean(seed, pages, items_per_page);
        let retry_after = || FaultKind::RetryAfter(429, "1".to_string());
        let [alpha, beta, gamma] = &mut s.sources[..] else {
            unreachable!("clean has three sources")
        };
        alpha.faults.push(fault(at(p, 3, 10), 1, retry_after()));
        alpha
            .faults
            .push(fault(at(p, 7, 10), 1, FaultKind::Status(500)));
        beta.faults.push(fault(at(p, 2, 10), 1, FaultKind::Close));
        beta.faults.push(fault(at(p, 5, 10), 1, retry_after()));
        gamma.faults.push(fault(
            at(p, 5, 10),
            1,
            FaultKind::Delay(Duration::from_millis(1500)),
        ));
        gamma
            .faults
            .push(fault(at(p, 8, 10), 1, FaultKind::Status(503)));
        s
    }

    /// `demo` plus lost pages and a truncated body: alpha has a page of
    /// malformed JSON and a 404 page, beta a page without items and a page
    /// that answers 503 on every attempt (given up, pagination steps over
    /// it), gamma a truncated body that recovers on retry. Demo faults come
    /// first, so where pages collide (few pages) the demo fault wins.
    pub fn chaos(seed: u64, pages: usize, items_per_page: usize) -> Scenario {
        let p = pages.max(1);
        let mut s = Scenario::demo(seed, pages, items_per_page);
        let [alpha, beta, gamma] = &mut s.sources[..] else {
            unreachable!("demo has three sources")
        };
        alpha
            .faults
            .push(fault(at(p, 4, 10), EVERY_ATTEMPT, FaultKind::MalformedJson));
        alpha
            .faults
            .push(fault(at(p, 9, 10), EVERY_ATTEMPT, FaultKind::Status(404)));
        beta.faults
            .push(fault(at(p, 4, 10), EVERY_ATTEMPT, FaultKind::NoItems));
        beta.faults
            .push(fault(at(p, 8, 10), EVERY_ATTEMPT, FaultKind::Status(503)));
        gamma
            .faults
            .push(fault(at(p, 3, 10), 1, FaultKind::Truncate));
        s
    }

    /// The three API shapes without faults, each in its API's own
    /// pagination style: `gh` (GitHub issues, `Link` headers), `drf` (DRF
    /// orders, offset) and `stripe` (Stripe charges, cursor). Not one of
    /// [`Scenario::NAMES`]: it is for declared record schemas.
    pub fn apis(seed: u64, pages: usize, items_per_page: usize) -> Scenario {
        Scenario::new(seed)
            .with(
                MockSource::new("gh", Style::LinkHeader, pages, items_per_page)
                    .shape(Shape::GithubIssues),
            )
            .with(
                MockSource::new("drf", Style::Offset, pages, items_per_page)
                    .shape(Shape::DrfOrders),
            )
            .with(
                MockSource::new("stripe", Style::Cursor, pages, items_per_page)
                    .shape(Shape::StripeList),
            )
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&MockSource> {
        self.sources.iter().find(|s| s.name == name)
    }
}

fn fault(page: usize, attempt: u32, kind: FaultKind) -> Fault {
    Fault {
        page,
        attempt,
        kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_scenarios_exist_and_unknown_is_none() {
        for name in Scenario::NAMES {
            let s = Scenario::named(name, 7, 10, 20).unwrap();
            let names: Vec<_> = s.sources.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(names, ["alpha", "beta", "gamma"]);
        }
        assert!(Scenario::named("nope", 7, 10, 20).is_none());
        assert!(Scenario::clean(1, 10, 20)
            .sources
            .iter()
            .all(|s| s.faults.is_empty()));
    }

    #[test]
    fn demo_loses_nothing_and_never_fails_three_times_in_a_row() {
        for pages in [1, 2, 3, 10, 50] {
            let s = Scenario::demo(42, pages, 20);
            for src in &s.sources {
                assert!(src.lost_pages(4).is_empty(), "{} pages={pages}", src.name);
                // Only first attempts fail and a retry succeeds, so at most
                // one failure in a row.
                for f in &src.faults {
                    assert_eq!(f.attempt, 1);
                    assert!(src.fault_for(f.page, 2).is_none());
                }
            }
        }
    }

    #[test]
    fn chaos_loses_the_scripted_pages() {
        let s = Scenario::chaos(42, 10, 20);
        assert_eq!(s.source("alpha").unwrap().lost_pages(4), vec![4, 9]);
        assert_eq!(s.source("beta").unwrap().lost_pages(4), vec![4, 8]);
        assert!(s.source("gamma").unwrap().lost_pages(4).is_empty());
        assert_eq!(
            s.source("gamma").unwrap().fault_for(3, 1),
            Some(&FaultKind::Truncate)
        );
    }

    #[test]
    fn config_keys_follow_spec() {
        let s = Scenario::clean(1, 3, 5);
        let alpha = s.sources[0].config_json("http://h:1");
        assert_eq!(alpha["url"], "http://h:1/alpha/products");
        assert_eq!(alpha["pagination"]["size_param"], "limit");
        assert_eq!(alpha["pagination"]["size"], 5);
        let gamma = s.sources[2].config_json("http://h:1");
        assert_eq!(gamma["pagination"]["cursor_path"], "meta.next_cursor");
        let none = MockSource::new("n", Style::None, 9, 2);
        assert_eq!(none.pages, 1);
        assert!(none.config_json("http://h").get("items_path").is_none());
    }

    #[test]
    fn endless_fault_marks_the_source() {
        let s = MockSource::new("e", Style::Cursor, 3, 2).fault(9, 9, FaultKind::Endless);
        assert!(s.endless && s.faults.is_empty());
    }
}
