//! Where the next page is, for each pagination style (SPEC §3).
//!
//! A [`Paginator`] is a small state machine: it gives the first
//! [`Request`], and after each page — fetched, or given up — says where to
//! go next, that the data has ended, or that it cannot go on. It never
//! does I/O, so every style's rules are tested here without a server. Loop
//! detection keeps every request a pointer-following style has sent (its
//! method, URL and body); a pointer back to one of them stops the source
//! instead of spinning.
//!
//! The page count a `total_items_path` gives is computed from the items
//! the server sent on its first page, never from the configured `size`: a
//! server that caps the size (or ignores it) would otherwise have pages
//! skipped, or asked for past the end.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use serde_json::Value;

use crate::config::{CursorFrom, EnvelopePath, Pagination};
use crate::fetch::page::Page;
use crate::fetch::request::{Method, Request};
use crate::state::Position;
use crate::text::shorten;
use crate::url::{self, is_http_url, resolve, set_query_param};

/// What to do after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Fetch this URL next.
    Fetch(String),
    /// The data has ended.
    End,
    /// The next pointer leads to a URL already requested: a loop.
    Loop(String),
    /// The page at `page` (a page number or offset) has the body of the
    /// page at `of`: the server ignores the position; a loop too.
    Repeated {
        /// Where the repeat was fetched.
        page: u64,
        /// The position whose body it repeats.
        of: u64,
    },
    /// A page was given up and this style cannot step over it.
    Stuck,
    /// The next pointer is there but unusable (an object, a boolean): the
    /// source cannot go on, and the data may not be complete.
    BadPointer(String),
    /// The next pointer is a URL ingest may not request (not http(s), a
    /// bad port); the URL as the server gave it, for the fetcher to show
    /// redacted.
    BadUrl(String),
    /// `has_more_path` says there is more but the cursor has no value:
    /// the next page cannot be asked for, and data is missing.
    MoreWithoutCursor {
        /// The `has_more_path`.
        has_more: String,
        /// Where the cursor was looked for.
        cursor: String,
    },
}

/// `next: a number (2), not a URL`-like words for an unusable pointer.
fn pointer(path: &dyn std::fmt::Display, found: &Value) -> String {
    let kind = match found {
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
        Value::Null => "null",
    };
    let text = found.to_string();
    format!("{path}: {kind} ({})", shorten(&text, 41))
}

/// The envelope paths a style reads in each answer (body or headers),
/// with their config keys (`last_item_path` is in an item, not the
/// envelope).
pub fn envelope_paths(style: &Pagination) -> Vec<(&'static str, &EnvelopePath)> {
    let (pages, items, more, total, cursor, next) = match style {
        Pagination::Page {
            total_pages_path,
            total_items_path,
            has_more_path,
            ..
        } => (
            total_pages_path,
            total_items_path,
            has_more_path,
            &None,
            None,
            None,
        ),
        Pagination::Offset {
            total_path,
            has_more_path,
            ..
        } => (&None, &None, has_more_path, total_path, None, None),
        Pagination::Cursor {
            from,
            has_more_path,
            ..
        } => {
            let cursor = match from {
                CursorFrom::Body(path) => Some(path),
                CursorFrom::LastItem(_) => None,
            };
            (&None, &None, has_more_path, &None, cursor, None)
        }
        Pagination::NextUrl { next_path } => (&None, &None, &None, &None, None, Some(next_path)),
        Pagination::LinkHeader | Pagination::None => return Vec::new(),
    };
    [
        ("next_path", next),
        ("cursor_path", cursor),
        ("has_more_path", more.as_ref()),
        ("total_pages_path", pages.as_ref()),
        ("total_items_path", items.as_ref()),
        ("total_path", total.as_ref()),
    ]
    .into_iter()
    .filter_map(|(key, path)| Some((key, path?)))
    .collect()
}

/// `url` without the query parameters named in `params`, and `body` (a
/// JSON object, `{}` when there is none) with each of their values set at
/// the parameter's dot path — objects created where absent, a number where
/// the parameter is one (a page, an offset, a size), else a string (a
/// cursor).
fn into_body(url: &str, body: Option<&str>, params: &[(String, bool)]) -> (String, Option<String>) {
    let mut doc: Value = body
        .and_then(|b| serde_json::from_str(b).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Default::default()));
    let (base, query, fragment) = url::pieces(url);
    let mut kept: Vec<&str> = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = url::percent_decode(name);
        let Some((_, numeric)) = params.iter().find(|(p, _)| *p == name) else {
            kept.push(pair);
            continue;
        };
        let value = url::percent_decode(value);
        let value = match (numeric, value.parse::<u64>()) {
            (true, Ok(n)) => Value::from(n),
            _ => Value::from(value),
        };
        set_at(&mut doc, &name, value);
    }
    let mut out = base.to_string();
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out.push_str(fragment);
    (out, Some(doc.to_string()))
}

/// Sets `value` at dot path `path` of `doc`, creating objects on the way
/// (a non-object in the way is replaced: the position must be sent).
fn set_at(doc: &mut Value, path: &str, value: Value) {
    let mut here = doc;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if !here.is_object() {
            *here = Value::Object(Default::default());
        }
        let Value::Object(map) = here else {
            return;
        };
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        here = map
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

/// A count a server announces (a total, a page count): an integer, or
/// the forms servers also send — `100.0`, `"100"`, `1e3` — and, past
/// what 64 bits hold, the largest count (it is still more than was
/// received: a short run must still say so). Not a count: a fraction, a
/// negative, text.
pub fn count(value: &Value) -> Option<u64> {
    let number = match value {
        Value::Number(n) => n.as_u64().map(|n| n as f64).or_else(|| n.as_f64())?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if let Some(exact) = value.as_u64() {
        return Some(exact);
    }
    if let Some(exact) = value.as_str().and_then(|s| s.trim().parse::<u64>().ok()) {
        return Some(exact);
    }
    // `as` saturates: past 64 bits, the largest count.
    (number.is_finite() && number >= 0.0 && number.fract() == 0.0).then_some(number as u64)
}

/// One source's pagination state.
#[derive(Debug)]
pub struct Paginator {
    style: Pagination,
    /// The configured start URL; page, offset and cursor URLs derive from it.
    base: String,
    /// The URL of the page being fetched.
    current: String,
    /// Page number or offset of the current page (page/offset styles).
    position: u64,
    /// Items of the last page that was received (offset style step-over).
    last_good_count: Option<u64>,
    /// Items of the first page received: the page size the server uses,
    /// which the page count of `total_items_path` is computed from.
    first_count: Option<u64>,
    /// Whether the source resumed past its first page (a saved
    /// position): its first page received may then be the data's last.
    resumed: bool,
    /// The last position there is, once a total said so (page/offset
    /// styles): nothing past it is fetched ahead.
    last_position: Option<u64>,
    /// The hash of the last body received and its position (`page`,
    /// `offset`), to see a page repeat the one before.
    last_body: Option<(u64, u64)>,
    /// The cursor of the current page (`cursor` style; `None` on the
    /// first page, which sends none).
    cursor: Option<String>,
    /// Hashes of every URL requested so far (pointer-following styles):
    /// 8 bytes a page however long the URLs, keyed per run (std's
    /// `RandomState`) so that no server can craft a collision.
    followed: HashSet<u64>,
    keys: RandomState,
    /// The source's method and body, sent with every request.
    method: Method,
    body: Option<String>,
    /// The position parameters that go into the body (`"in": "body"`),
    /// each with whether its value is a number: the paginator places
    /// them in the URL's query as for any source, and the request built
    /// from it moves them into the body, at their dot paths.
    in_body: Vec<(String, bool)>,
}

impl Paginator {
    /// A paginator positioned at the first page of `url`.
    pub fn new(url: &str, style: &Pagination) -> Self {
        let position = match style {
            Pagination::Page { start, .. } | Pagination::Offset { start, .. } => *start,
            _ => 0,
        };
        let mut p = Self {
            style: style.clone(),
            base: url.to_string(),
            current: String::new(),
            position,
            last_good_count: None,
            first_count: None,
            resumed: false,
            last_position: None,
            last_body: None,
            cursor: None,
            followed: HashSet::new(),
            keys: RandomState::new(),
            method: Method::Get,
            body: None,
            in_body: Vec::new(),
        };
        p.current = p.positioned_url();
        p.followed.insert(p.page_key(&p.current));
        p
    }

    /// The request to send now: the current URL, at the current position.
    pub fn request(&self) -> Request {
        self.request_for(&self.current).at(self.position())
    }

    /// Requests sent with `method` and `body` (the source's) instead of a
    /// bare GET; with `params_in_body`, the style's position parameters
    /// (`param`, `size_param`, `offset_param`, `limit_param`) go into the
    /// body at their dot paths instead of the query.
    pub fn sending(mut self, method: Method, body: Option<String>, params_in_body: bool) -> Self {
        self.method = method;
        self.body = body;
        if params_in_body {
            self.in_body = match &self.style {
                Pagination::Page { param, size, .. } => {
                    let size = size.iter().map(|(p, _)| (p.clone(), true));
                    std::iter::once((param.clone(), true)).chain(size).collect()
                }
                Pagination::Offset {
                    offset_param,
                    limit,
                    ..
                } => {
                    let limit = limit.iter().map(|(p, _)| (p.clone(), true));
                    std::iter::once((offset_param.clone(), true))
                        .chain(limit)
                        .collect()
                }
                Pagination::Cursor { param, .. } => vec![(param.clone(), false)],
                _ => Vec::new(),
            };
        }
        self.followed.clear();
        self.followed.insert(self.page_key(&self.current));
        self
    }

    /// The request that fetches `url` in this source's pagination: the one
    /// place a request is built.
    fn request_for(&self, url: &str) -> Request {
        let (url, body) = match self.in_body.is_empty() {
            true => (url.to_string(), self.body.clone()),
            false => into_body(url, self.body.as_deref(), &self.in_body),
        };
        Request {
            method: self.method,
            url,
            body,
            form: false,
            position: None,
        }
    }

    /// What the loop guard remembers of the request for `url`: 8 bytes of
    /// its method, URL and body, keyed per run.
    fn page_key(&self, url: &str) -> u64 {
        let r = self.request_for(url);
        self.keys.hash_one((r.method, &r.url, &r.body))
    }

    /// Where the current page is, in the style's terms; `None` for the
    /// start of a style that has no number for it (`cursor`'s first page,
    /// the start URL of `next_url` and `link_header`) and for `none`.
    pub fn position(&self) -> Option<Position> {
        match &self.style {
            Pagination::Page { .. } => Some(Position::Page(self.position)),
            Pagination::Offset { .. } => Some(Position::Offset(self.position)),
            Pagination::Cursor { .. } => self.cursor.clone().map(Position::Cursor),
            Pagination::NextUrl { .. } | Pagination::LinkHeader => {
                (self.current != self.base).then(|| Position::Url(self.current.clone()))
            }
            Pagination::None => None,
        }
    }

    /// Moves to `position` (a resumed run); `false`, and nothing moved,
    /// when it is not a position of this style.
    pub fn resume(&mut self, position: &Position) -> bool {
        match (&self.style, position) {
            (Pagination::Page { .. }, Position::Page(n))
            | (Pagination::Offset { .. }, Position::Offset(n)) => {
                self.resumed = *n != self.position;
                self.position = *n;
                self.current = self.positioned_url();
            }
            (Pagination::Cursor { param, .. }, Position::Cursor(c)) => {
                self.current = set_query_param(&self.base, param, c);
                self.cursor = Some(c.clone());
            }
            (Pagination::NextUrl { .. } | Pagination::LinkHeader, Position::Url(u))
                if is_http_url(u) =>
            {
                self.current = u.clone();
            }
            _ => return false,
        }
        self.followed.insert(self.page_key(&self.current));
        true
    }

    /// Moves on after a page whose body was `body`, holding `items` items,
    /// answered from `page_url` (the URL after redirects, which relative
    /// next URLs resolve against) with a `Link` rel="next" target
    /// `link_next`.
    pub fn after_page(
        &mut self,
        body: &Page,
        items: usize,
        page_url: &str,
        link_next: Option<&str>,
    ) -> Next {
        let items = items as u64;
        let first_count = *self.first_count.get_or_insert(items);
        self.last_good_count = Some(items);
        let number = |path: &Option<EnvelopePath>| count(&body.get_at(path.as_ref()?)?);
        let no_more = |path: &Option<EnvelopePath>| {
            path.as_ref()
                .and_then(|p| body.get_at(p))
                .is_some_and(|v| v == Value::Bool(false))
        };
        if let Some(repeat) = self.repeats(body, items) {
            return repeat;
        }
        match &self.style {
            Pagination::Page {
                start,
                total_pages_path,
                total_items_path,
                has_more_path,
                ..
            } => {
                // Saturating: a saved position below `start` is no panic.
                let page_no = self.position.saturating_sub(*start).saturating_add(1);
                // What the server sent, not what `size` asked for.
                let per_page = first_count.max(1);
                let pages = number(total_pages_path)
                    .or_else(|| number(total_items_path).map(|t| t.div_ceil(per_page)));
                if let Some(pages) = pages {
                    self.last_position = Some(start.saturating_add(pages.saturating_sub(1)));
                }
                let last = number(total_pages_path).is_some_and(|total| page_no >= total)
                    || number(total_items_path).is_some_and(|total| {
                        page_no >= total.div_ceil(per_page)
                            || self.resumed_on_last(total, page_no, items)
                    })
                    || no_more(has_more_path);
                if items == 0 || last {
                    return Next::End;
                }
                self.position = self.position.saturating_add(1);
                self.step_to_position()
            }
            Pagination::Offset {
                total_path,
                has_more_path,
                ..
            } => {
                self.position = self.position.saturating_add(items);
                let total = number(total_path);
                if let Some(total) = total {
                    self.last_position = Some(total.saturating_sub(1));
                }
                let past_total = total.is_some_and(|total| self.position >= total);
                if items == 0 || past_total || no_more(has_more_path) {
                    return Next::End;
                }
                self.step_to_position()
            }
            Pagination::Cursor {
                from,
                param,
                has_more_path,
            } => {
                if no_more(has_more_path) {
                    return Next::End;
                }
                let (from, param, has_more_path) =
                    (from.clone(), param.clone(), has_more_path.clone());
                self.after_cursor_page(body, items, &from, &param, has_more_path.as_ref())
            }
            Pagination::NextUrl { next_path } => match body.get_at(next_path).as_ref() {
                None | Some(Value::Null) => Next::End,
                Some(Value::String(s)) if s.trim().is_empty() => Next::End,
                Some(Value::String(s)) => {
                    let url = resolve(page_url, s);
                    self.follow(url)
                }
                Some(other) => Next::BadPointer(pointer(next_path, other)),
            },
            Pagination::LinkHeader => self.follow_link(page_url, link_next),
            Pagination::None => Next::End,
        }
    }

    /// `cursor`: the next page's cursor, from the body or the page's last
    /// item. A `has_more` of true promises a next page: a cursor without
    /// a value then is data missing, not its end.
    fn after_cursor_page(
        &mut self,
        body: &Page,
        items: u64,
        from: &CursorFrom,
        param: &str,
        has_more_path: Option<&EnvelopePath>,
    ) -> Next {
        let more_promised = has_more_path
            .and_then(|p| body.get_at(p))
            .is_some_and(|v| v == Value::Bool(true));
        let missing = |what: String| match (more_promised, has_more_path) {
            (true, Some(has_more)) => Next::MoreWithoutCursor {
                has_more: has_more.to_string(),
                cursor: what,
            },
            _ => Next::End,
        };
        let (found, what) = match from {
            CursorFrom::Body(path) => (body.get_at(path), path.to_string()),
            CursorFrom::LastItem(path) if items == 0 => {
                return missing(format!("{path} of the last item (the page had none)"))
            }
            CursorFrom::LastItem(path) => (
                body.last_item().and_then(|item| path.get(&item).cloned()),
                format!("{path} of the last item"),
            ),
        };
        let cursor = match found.as_ref() {
            None | Some(Value::Null) => return missing(what),
            Some(Value::String(s)) if s.is_empty() => return missing(what),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => return Next::BadPointer(pointer(&what, other)),
        };
        let url = set_query_param(&self.base, param, &cursor);
        let next = self.follow(url);
        if matches!(next, Next::Fetch(_)) {
            self.cursor = Some(cursor);
        }
        next
    }

    /// For `page` and `offset`: a page whose body is byte for byte the
    /// previous page's is a server ignoring the position parameter (or
    /// repeating its last page past the end) — a loop, not more data.
    fn repeats(&mut self, body: &Page, items: u64) -> Option<Next> {
        if !matches!(
            self.style,
            Pagination::Page { .. } | Pagination::Offset { .. }
        ) {
            return None;
        }
        let hash = self.keys.hash_one(body.text.as_bytes());
        let previous = self.last_body.replace((hash, self.position));
        match previous {
            Some((h, at)) if h == hash && items > 0 => Some(Next::Repeated {
                page: self.position,
                of: at,
            }),
            _ => None,
        }
    }

    /// Whether page `page_no` of `items` items is the last of `total`,
    /// for a source resumed where the first page it received may have
    /// been the data's last: short, so no measure of the page size. With
    /// `size` asked for and honoured, the last page is the one that makes
    /// the total exactly; a server that caps the size matches it only by
    /// a coincidence of numbers.
    fn resumed_on_last(&self, total: u64, page_no: u64, items: u64) -> bool {
        match self.asked_size() {
            Some(size) if self.resumed && items < size => {
                let before = (page_no - 1).checked_mul(size);
                before.and_then(|b| b.checked_add(items)) == Some(total)
            }
            _ => false,
        }
    }

    /// The page size a `page` source asks for (`size`), if it asks.
    pub fn asked_size(&self) -> Option<u64> {
        match &self.style {
            Pagination::Page {
                size: Some((_, n)), ..
            } => Some(*n),
            _ => None,
        }
    }

    /// The item total a page body announces, for styles that read one
    /// (`offset`'s `total_path`, `page`'s `total_items_path`).
    pub fn announced_total(&self, body: &Page) -> Option<u64> {
        match &self.style {
            Pagination::Offset {
                total_path: Some(path),
                has_more_path: None,
                ..
            }
            | Pagination::Page {
                total_items_path: Some(path),
                ..
            } => body.get_at(path).as_ref().and_then(count),
            _ => None,
        }
    }

    /// The request `n` pages after the current one, where the style can
    /// say it without the pages between — page numbers, and offsets once
    /// a page has shown how many items the server sends (not what `limit`
    /// asked: a server may send fewer) — and no total has said the data
    /// ends before it: what a source with `concurrency` fetches ahead
    /// (SPEC §13). Without a total it is speculation: the pages past the
    /// end are dropped.
    pub fn ahead(&self, n: u64) -> Option<Request> {
        let step = match &self.style {
            Pagination::Page { .. } => 1,
            Pagination::Offset { limit: Some(_), .. } => self.last_good_count.filter(|&c| c > 0)?,
            _ => return None,
        };
        let position = self.position.checked_add(step.checked_mul(n)?)?;
        if self.last_position.is_some_and(|last| position > last) {
            return None;
        }
        Some(self.clone_positioned(position).request())
    }

    /// A paginator at `position` (page/offset styles) sending what this
    /// one sends.
    fn clone_positioned(&self, position: u64) -> Paginator {
        let mut p = Paginator::new(&self.base, &self.style);
        p.method = self.method;
        p.body = self.body.clone();
        p.in_body = self.in_body.clone();
        p.position = position;
        p.current = p.positioned_url();
        p
    }

    /// Moves on after the current page was given up; `link_next` is the
    /// rel="next" target the failed answer still carried, if any.
    pub fn after_given_up(&mut self, link_next: Option<&str>) -> Next {
        // The page before the next one is not this one's body.
        self.last_body = None;
        match &self.style {
            Pagination::Page { .. } => {
                self.position = self.position.saturating_add(1);
                self.step_to_position()
            }
            Pagination::Offset { limit, .. } => {
                let step = limit.as_ref().map(|(_, l)| *l).or(self.last_good_count);
                match step {
                    Some(step) if step > 0 => {
                        self.position = self.position.saturating_add(step);
                        self.step_to_position()
                    }
                    _ => Next::Stuck,
                }
            }
            Pagination::LinkHeader if link_next.is_some() => {
                let current = self.current.clone();
                self.follow_link(&current, link_next)
            }
            _ => Next::Stuck,
        }
    }

    fn follow_link(&mut self, page_url: &str, link_next: Option<&str>) -> Next {
        match link_next {
            Some(target) if !target.trim().is_empty() => {
                let url = resolve(page_url, target);
                self.follow(url)
            }
            _ => Next::End,
        }
    }

    fn follow(&mut self, url: String) -> Next {
        let url = url::from_server(url.as_bytes());
        if !is_http_url(&url) {
            return Next::BadUrl(url);
        }
        if !self.followed.insert(self.page_key(&url)) {
            return Next::Loop(url);
        }
        self.current = url.clone();
        Next::Fetch(url)
    }

    fn step_to_position(&mut self) -> Next {
        self.current = self.positioned_url();
        Next::Fetch(self.current.clone())
    }

    /// The page/offset URL for the current position (other styles: the
    /// start URL).
    fn positioned_url(&self) -> String {
        let (param, size) = match &self.style {
            Pagination::Page { param, size, .. } => (param, size),
            Pagination::Offset {
                offset_param,
                limit,
                ..
            } => (offset_param, limit),
            _ => return self.base.clone(),
        };
        let url = set_query_param(&self.base, param, &self.position.to_string());
        match size {
            Some((size_param, size)) => set_query_param(&url, size_param, &size.to_string()),
            None => url,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fetch(url: &str) -> Next {
        Next::Fetch(url.to_string())
    }

    /// A dot path, or an envelope path in the body, as the place wants.
    fn dot<P: std::str::FromStr>(text: &str) -> P
    where
        P::Err: std::fmt::Debug,
    {
        text.parse().unwrap()
    }

    /// `after_page` for a page that answered from its own URL.
    fn after(p: &mut Paginator, body: &Value, items: usize, link_next: Option<&str>) -> Next {
        let here = p.request().url;
        p.after_page(&page(body), items, &here, link_next)
    }

    fn page(body: &Value) -> Page {
        Page::envelope(body.to_string())
    }

    #[test]
    fn page_numbers_until_an_empty_page_or_the_total() {
        let style = Pagination::Page {
            param: "page".into(),
            start: 1,
            size: Some(("limit".into(), 2)),
            total_pages_path: Some(dot("meta.pages")),
            total_items_path: None,
            has_more_path: None,
        };
        let mut p = Paginator::new("http://h/p?page=7&x=1", &style);
        assert_eq!(p.request().url, "http://h/p?page=1&x=1&limit=2");
        let body = json!({"meta": {"pages": 3}});
        assert_eq!(
            after(&mut p, &body, 2, None),
            fetch("http://h/p?page=2&x=1&limit=2")
        );
        assert_eq!(
            p.after_given_up(None),
            fetch("http://h/p?page=3&x=1&limit=2")
        );
        assert_eq!(after(&mut p, &body, 2, None), Next::End);

        let mut p = Paginator::new(
            "http://h/p",
            &Pagination::Page {
                param: "page".into(),
                start: 0,
                size: None,
                total_pages_path: None,
                total_items_path: None,
                has_more_path: None,
            },
        );
        assert_eq!(
            after(&mut p, &json!({}), 1, None),
            fetch("http://h/p?page=1")
        );
        assert_eq!(after(&mut p, &json!({}), 0, None), Next::End);
    }

    /// A page whose answer carried `headers`.
    fn with_headers(body: &Value, headers: &[(&str, &str)]) -> Page {
        let lines = headers.iter().map(|(n, v)| (*n, v.to_string()));
        page(body).with_headers(crate::fetch::headers::Headers::from_lines(lines))
    }

    /// Envelope paths may read a response header (SPEC §11): its value
    /// (a number where a number is needed), or a value in the JSON it
    /// holds, the name in any case.
    #[test]
    fn totals_cursors_and_next_urls_may_come_from_headers() {
        // flask-smorest: a bare array, the totals in X-Pagination.
        let style = Pagination::Page {
            param: "page".into(),
            start: 1,
            size: None,
            total_pages_path: Some(dot("header:X-Pagination.total_pages")),
            total_items_path: Some(dot("header:x-pagination.total")),
            has_more_path: None,
        };
        let mut p = Paginator::new("http://h/rows", &style);
        let x = |page: u32| {
            let value = format!(r#"{{"total": 25, "total_pages": 3, "page": {page}}}"#);
            with_headers(&json!([1, page]), &[("X-Pagination", &value)])
        };
        assert_eq!(
            p.after_page(&x(1), 10, "http://h/rows", None),
            fetch("http://h/rows?page=2")
        );
        assert_eq!(p.announced_total(&x(1)), Some(25));
        assert_eq!(
            p.after_page(&x(2), 10, "http://h/rows", None),
            fetch("http://h/rows?page=3")
        );
        assert_eq!(p.after_page(&x(3), 5, "http://h/rows", None), Next::End);
        // X-Total-Count: a number in the header's text.
        let style = Pagination::Offset {
            offset_param: "offset".into(),
            start: 0,
            limit: None,
            total_path: Some(dot("header:X-Total-Count")),
            has_more_path: None,
        };
        let mut p = Paginator::new("http://h/e", &style);
        let counted = |n: u32| with_headers(&json!([n]), &[("x-total-count", "20")]);
        assert_eq!(
            p.after_page(&counted(1), 10, "http://h/e", None),
            fetch("http://h/e?offset=10")
        );
        assert_eq!(p.after_page(&counted(2), 10, "http://h/e", None), Next::End);
        // A cursor and has_more in headers; a next URL in a header.
        let style = Pagination::Cursor {
            from: CursorFrom::Body(dot("header:X-Cursor")),
            param: "c".into(),
            has_more_path: Some(dot("header:X-Has-More")),
        };
        let mut p = Paginator::new("http://h/r", &style);
        let more = with_headers(&json!([1]), &[("x-cursor", "abc"), ("x-has-more", "true")]);
        assert_eq!(
            p.after_page(&more, 1, "http://h/r", None),
            fetch("http://h/r?c=abc")
        );
        let last = with_headers(&json!([2]), &[("x-cursor", "abd"), ("x-has-more", "false")]);
        assert_eq!(p.after_page(&last, 1, "http://h/r", None), Next::End);
        let style = Pagination::NextUrl {
            next_path: dot("header:X-Next"),
        };
        let mut p = Paginator::new("http://h/a", &style);
        let next = with_headers(&json!([1]), &[("X-Next", "/a?page=2")]);
        assert_eq!(
            p.after_page(&next, 1, "http://h/a", None),
            fetch("http://h/a?page=2")
        );
        assert_eq!(
            p.after_page(&page(&json!([2])), 1, "http://h/a?page=2", None),
            Next::End
        );
    }

    fn page_style(size: Option<u64>, total_items: bool, has_more: bool) -> Pagination {
        Pagination::Page {
            param: "page".into(),
            start: 1,
            size: size.map(|n| ("per_page".to_string(), n)),
            total_pages_path: None,
            total_items_path: total_items.then(|| dot("count")),
            has_more_path: has_more.then(|| dot("has_more")),
        }
    }

    #[test]
    fn pages_end_at_the_announced_item_total() {
        // DRF's `count`: 45 items of 20 a page end after page 3, before
        // the server's 404 past the end.
        let mut p = Paginator::new("http://h/o", &page_style(None, true, false));
        let body = json!({"count": 45});
        assert!(matches!(after(&mut p, &body, 20, None), Next::Fetch(_)));
        assert!(matches!(
            after(&mut p, &json!({"count": 45, "x": 2}), 20, None),
            Next::Fetch(_)
        ));
        assert_eq!(
            after(&mut p, &json!({"count": 45, "x": 3}), 5, None),
            Next::End
        );
        // A configured size that the server gave in full changes nothing.
        let mut p = Paginator::new("http://h/o", &page_style(Some(50), true, false));
        assert_eq!(after(&mut p, &json!({"count": 45}), 45, None), Next::End);
        assert_eq!(p.asked_size(), Some(50));
        // The total is the announced one, for the "received fewer" warning.
        assert_eq!(p.announced_total(&page(&body)), Some(45));
        let pages = Paginator::new("http://h/o", &page_style(None, false, true));
        assert_eq!(pages.announced_total(&page(&body)), None);
    }

    /// `size` is what was asked; the server's first page says what it
    /// sends. 45 items asked 50 at a time but sent 20 at a time are 3
    /// pages, not 1; asked 10 at a time but sent 20, still 3, not 5.
    #[test]
    fn the_page_count_comes_from_what_the_server_sent_not_from_size() {
        for asked in [50, 10] {
            let mut p = Paginator::new("http://h/o", &page_style(Some(asked), true, false));
            let mut pages = 0;
            let mut next = Next::Fetch(String::new());
            while matches!(next, Next::Fetch(_)) && pages < 10 {
                pages += 1;
                let sent = if pages < 3 { 20 } else { 5 };
                next = after(&mut p, &json!({"count": 45, "n": pages}), sent, None);
            }
            assert_eq!((pages, next), (3, Next::End), "asked for {asked}");
        }
        let pages = Paginator::new("http://h/o", &page_style(None, true, false));
        assert_eq!(pages.asked_size(), None);
    }

    /// A resumed source may start on the data's last page, whose short
    /// item count is no page size: with `size` honoured, that page is the
    /// one that makes the total exactly, and it is the end. A server that
    /// caps the size is not ended early by it.
    #[test]
    fn a_source_resumed_on_its_last_page_ends_there() {
        let mut p = Paginator::new("http://h/o", &page_style(Some(50), true, false));
        assert!(p.resume(&Position::Page(8)));
        assert_eq!(after(&mut p, &json!({"count": 375}), 25, None), Next::End);
        // Capped at 100 of 500 asked, resumed on page 3 of 36: goes on.
        let mut p = Paginator::new("http://h/o", &page_style(Some(500), true, false));
        assert!(p.resume(&Position::Page(3)));
        for page in 3..36 {
            let next = after(&mut p, &json!({"count": 3517, "p": page}), 100, None);
            assert!(matches!(next, Next::Fetch(_)), "page {page}: {next:?}");
        }
        assert_eq!(after(&mut p, &json!({"count": 3517}), 17, None), Next::End);
        // A saved position below `start` (a hand-edited state): no panic.
        let mut p = Paginator::new("http://h/o", &page_style(Some(5), true, false));
        assert!(p.resume(&Position::Page(0)));
        assert_eq!(after(&mut p, &json!({"count": 3}), 3, None), Next::End);
    }

    #[test]
    fn each_style_names_the_envelope_paths_it_reads() {
        let keys = |style: &Pagination| -> Vec<(&str, String)> {
            envelope_paths(style)
                .into_iter()
                .map(|(k, p)| (k, p.to_string()))
                .collect()
        };
        assert_eq!(
            keys(&page_style(Some(5), true, true)),
            [
                ("has_more_path", "has_more".to_string()),
                ("total_items_path", "count".to_string())
            ]
        );
        let next = Pagination::NextUrl {
            next_path: dot("links.next"),
        };
        assert_eq!(keys(&next), [("next_path", "links.next".to_string())]);
        let stripe = Pagination::Cursor {
            from: CursorFrom::LastItem(dot("id")),
            param: "starting_after".into(),
            has_more_path: Some(dot("has_more")),
        };
        assert_eq!(keys(&stripe), [("has_more_path", "has_more".to_string())]);
        let cursor = Pagination::Cursor {
            from: CursorFrom::Body(dot("meta.next")),
            param: "c".into(),
            has_more_path: None,
        };
        assert_eq!(keys(&cursor), [("cursor_path", "meta.next".to_string())]);
        let offset = Pagination::Offset {
            offset_param: "offset".into(),
            start: 0,
            limit: None,
            total_path: Some(dot("total")),
            has_more_path: None,
        };
        assert_eq!(keys(&offset), [("total_path", "total".to_string())]);
        assert!(keys(&Pagination::LinkHeader).is_empty());
        assert!(keys(&Pagination::None).is_empty());
    }

    #[test]
    fn has_more_false_ends_every_style_that_reads_it() {
        let mut p = Paginator::new("http://h/o", &page_style(None, false, true));
        assert!(matches!(
            after(&mut p, &json!({"has_more": true}), 3, None),
            Next::Fetch(_)
        ));
        assert_eq!(
            after(&mut p, &json!({"has_more": false}), 3, None),
            Next::End
        );
        let offset = Pagination::Offset {
            offset_param: "offset".into(),
            start: 0,
            limit: None,
            total_path: None,
            has_more_path: Some(dot("more")),
        };
        let mut p = Paginator::new("http://h/o", &offset);
        assert_eq!(after(&mut p, &json!({"more": false}), 3, None), Next::End);
        let cursor = Pagination::Cursor {
            from: CursorFrom::Body(dot("next")),
            param: "c".into(),
            has_more_path: Some(dot("has_more")),
        };
        let mut p = Paginator::new("http://h/o", &cursor);
        assert_eq!(
            after(&mut p, &json!({"next": "x", "has_more": false}), 3, None),
            Next::End
        );
    }

    #[test]
    fn a_cursor_can_come_from_the_last_item() {
        // Stripe: `starting_after=<id of the last item>`, `has_more`.
        let cursor = Pagination::Cursor {
            from: CursorFrom::LastItem(dot("id")),
            param: "starting_after".into(),
            has_more_path: Some(dot("has_more")),
        };
        let mut p = Paginator::new("http://h/v1/charges?limit=2", &cursor);
        let page = Page::parse(
            r#"{"data": [{"id": "ch_1"}, {"id": "ch_2"}], "has_more": true}"#.into(),
            None,
        )
        .unwrap();
        assert_eq!(
            p.after_page(&page, 2, "http://h/v1/charges?limit=2", None),
            fetch("http://h/v1/charges?limit=2&starting_after=ch_2")
        );
        assert_eq!(p.position(), Some(Position::Cursor("ch_2".into())));
        // `has_more: true` with no last item to take the cursor from is
        // data missing, not the end (SPEC §6); `false` is the end.
        let empty = Page::parse(r#"{"data": [], "has_more": true}"#.into(), None).unwrap();
        assert_eq!(
            p.after_page(&empty, 0, "http://h/x", None),
            Next::MoreWithoutCursor {
                has_more: "has_more".into(),
                cursor: "id of the last item (the page had none)".into()
            }
        );
        let no_id = Page::parse(r#"{"data": [{"x": 1}], "has_more": true}"#.into(), None).unwrap();
        assert!(matches!(
            p.after_page(&no_id, 1, "http://h/x", None),
            Next::MoreWithoutCursor { .. }
        ));
        let last = Page::parse(r#"{"data": [], "has_more": false}"#.into(), None).unwrap();
        assert_eq!(p.after_page(&last, 0, "http://h/x", None), Next::End);
    }

    #[test]
    fn a_body_cursor_without_a_value_ends_unless_has_more_says_there_is_more() {
        let cursor = |has_more: Option<&str>| Pagination::Cursor {
            from: CursorFrom::Body(dot("next_cursor")),
            param: "cursor".into(),
            has_more_path: has_more.map(dot),
        };
        let page = |body: &str| Page::parse(body.into(), None).unwrap();
        let mut p = Paginator::new("http://h/i", &cursor(None));
        assert_eq!(
            p.after_page(
                &page(r#"{"data": [1], "has_more": true}"#),
                1,
                "http://h/i",
                None
            ),
            Next::End,
            "without has_more_path, a missing cursor is the end"
        );
        let mut p = Paginator::new("http://h/i", &cursor(Some("has_more")));
        assert_eq!(
            p.after_page(
                &page(r#"{"data": [1], "has_more": true, "next_cursor": null}"#),
                1,
                "http://h/i",
                None
            ),
            Next::MoreWithoutCursor {
                has_more: "has_more".into(),
                cursor: "next_cursor".into()
            }
        );
        let mut p = Paginator::new("http://h/i", &cursor(Some("has_more")));
        assert_eq!(
            p.after_page(
                &page(r#"{"data": [1], "next_cursor": ""}"#),
                1,
                "http://h/i",
                None
            ),
            Next::End,
            "has_more absent: the cursor decides"
        );
    }

    #[test]
    fn a_page_that_repeats_the_one_before_is_a_loop() {
        let mut p = Paginator::new("http://h/o", &page_style(None, false, false));
        let body = json!({"data": [1, 2]});
        assert!(matches!(after(&mut p, &body, 2, None), Next::Fetch(_)));
        assert_eq!(
            after(&mut p, &body, 2, None),
            Next::Repeated { page: 2, of: 1 }
        );
        // Not for pointer styles: their next pointer decides.
        let next = Pagination::NextUrl {
            next_path: dot("next"),
        };
        let mut p = Paginator::new("http://h/o", &next);
        let body = json!({"next": "/o?x=1"});
        assert!(matches!(after(&mut p, &body, 2, None), Next::Fetch(_)));
    }

    #[test]
    fn offsets_advance_by_items_and_step_over_by_limit() {
        let style = Pagination::Offset {
            offset_param: "offset".into(),
            start: 0,
            limit: Some(("limit".into(), 10)),
            total_path: Some(dot("total")),
            has_more_path: None,
        };
        let mut p = Paginator::new("http://h/i", &style);
        assert_eq!(p.request().url, "http://h/i?offset=0&limit=10");
        let body = json!({"total": 25});
        assert_eq!(
            after(&mut p, &body, 7, None),
            fetch("http://h/i?offset=7&limit=10")
        );
        assert_eq!(
            p.after_given_up(None),
            fetch("http://h/i?offset=17&limit=10")
        );
        assert_eq!(after(&mut p, &body, 8, None), Next::End);
    }

    #[test]
    fn offsets_without_limit_step_over_by_the_last_good_count_or_stop() {
        let style = Pagination::Offset {
            offset_param: "o".into(),
            start: 5,
            limit: None,
            total_path: None,
            has_more_path: None,
        };
        let mut p = Paginator::new("http://h/i", &style);
        assert_eq!(p.after_given_up(None), Next::Stuck);
        let mut p = Paginator::new("http://h/i", &style);
        assert_eq!(after(&mut p, &json!([]), 4, None), fetch("http://h/i?o=9"));
        assert_eq!(p.after_given_up(None), fetch("http://h/i?o=13"));
    }

    #[test]
    fn cursors_end_on_null_missing_or_empty_and_detect_loops() {
        let style = Pagination::Cursor {
            from: crate::config::CursorFrom::Body(dot("meta.next")),
            param: "cursor".into(),
            has_more_path: None,
        };
        let mut p = Paginator::new("http://h/r?cursor=old", &style);
        assert_eq!(p.request().url, "http://h/r?cursor=old");
        assert_eq!(
            after(&mut p, &json!({"meta": {"next": "c2"}}), 0, None),
            fetch("http://h/r?cursor=c2")
        );
        assert_eq!(
            after(&mut p, &json!({"meta": {"next": 3}}), 1, None),
            fetch("http://h/r?cursor=3")
        );
        assert_eq!(
            after(&mut p, &json!({"meta": {"next": "c2"}}), 1, None),
            Next::Loop("http://h/r?cursor=c2".into())
        );
        for end in [
            json!({"meta": {"next": null}}),
            json!({"meta": {}}),
            json!({"meta": {"next": ""}}),
        ] {
            assert_eq!(after(&mut p, &end, 1, None), Next::End);
        }
        assert_eq!(p.after_given_up(None), Next::Stuck);
    }

    #[test]
    fn next_urls_resolve_relative_to_the_current_page_and_the_start_counts_as_followed() {
        let style = Pagination::NextUrl {
            next_path: dot("next"),
        };
        let mut p = Paginator::new("http://h/a/list", &style);
        assert_eq!(
            after(&mut p, &json!({"next": "list?page=2"}), 1, None),
            fetch("http://h/a/list?page=2")
        );
        assert_eq!(
            after(&mut p, &json!({"next": "/b?page=3"}), 1, None),
            fetch("http://h/b?page=3")
        );
        assert_eq!(
            after(&mut p, &json!({"next": "http://h/a/list"}), 1, None),
            Next::Loop("http://h/a/list".into())
        );
    }

    #[test]
    fn link_headers_step_over_a_failed_page_only_when_it_carried_one() {
        let mut p = Paginator::new("http://h/l", &Pagination::LinkHeader);
        assert_eq!(
            after(&mut p, &json!([]), 0, Some("/l?p=2")),
            fetch("http://h/l?p=2")
        );
        assert_eq!(p.after_given_up(Some("?p=3")), fetch("http://h/l?p=3"));
        assert_eq!(p.after_given_up(None), Next::Stuck);
        assert_eq!(after(&mut p, &json!([]), 3, None), Next::End);
    }

    #[test]
    fn unusable_pointers_stop_instead_of_passing_for_an_end() {
        let mut p = Paginator::new(
            "http://h/r",
            &Pagination::Cursor {
                from: crate::config::CursorFrom::Body(dot("next")),
                param: "c".into(),
                has_more_path: None,
            },
        );
        let got = p.after_page(&page(&json!({"next": {"id": 2}})), 1, "http://h/r", None);
        assert!(matches!(got, Next::BadPointer(_)), "{got:?}");
        let mut p = Paginator::new(
            "http://h/r",
            &Pagination::NextUrl {
                next_path: dot("next"),
            },
        );
        let got = p.after_page(&page(&json!({"next": true})), 1, "http://h/r", None);
        assert!(matches!(got, Next::BadPointer(_)), "{got:?}");
        // Only http(s) URLs are ever requested, whatever a server links to.
        for target in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ftp://h/r?page=2",
            "http://h:99999/r",
        ] {
            let got = p.after_page(&page(&json!({ "next": target })), 1, "http://h/r", None);
            assert!(matches!(got, Next::BadUrl(_)), "{target}: {got:?}");
        }
    }

    #[test]
    fn relative_next_urls_resolve_against_the_page_after_redirects() {
        let mut p = Paginator::new(
            "http://old/a/list",
            &Pagination::NextUrl {
                next_path: dot("next"),
            },
        );
        let got = p.after_page(
            &page(&json!({"next": "list?page=2"})),
            1,
            "https://new/b/list",
            None,
        );
        assert_eq!(got, fetch("https://new/b/list?page=2"));
    }

    #[test]
    fn none_is_one_request() {
        let mut p = Paginator::new("http://h/x", &Pagination::None);
        assert_eq!(after(&mut p, &json!([1]), 1, Some("/more")), Next::End);
        assert_eq!(p.after_given_up(None), Next::Stuck);
    }

    #[test]
    fn positions_in_the_body_go_at_their_dot_paths_and_leave_the_query() {
        let page = Pagination::Page {
            param: "page".into(),
            start: 1,
            size: Some(("paging.size".into(), 50)),
            total_pages_path: None,
            total_items_path: None,
            has_more_path: None,
        };
        let mut p = Paginator::new("http://h/search?q=x", &page).sending(
            Method::Post,
            Some(r#"{"filter":{"state":"open"}}"#.into()),
            true,
        );
        let r = p.request();
        assert_eq!(r.url, "http://h/search?q=x");
        assert_eq!(
            r.body.as_deref(),
            Some(r#"{"filter":{"state":"open"},"page":1,"paging":{"size":50}}"#)
        );
        let body = serde_json::json!({"data": [1, 2]});
        assert!(matches!(after(&mut p, &body, 2, None), Next::Fetch(_)));
        assert!(p.request().body.unwrap().contains(r#""page":2"#));
        // A GraphQL cursor: a string at variables.after, the query kept.
        let cursor = Pagination::Cursor {
            from: CursorFrom::Body(dot("data.repo.issues.pageInfo.endCursor")),
            param: "variables.after".into(),
            has_more_path: None,
        };
        let mut p = Paginator::new("http://h/graphql", &cursor).sending(
            Method::Post,
            Some(r#"{"query":"q","variables":{"first":2}}"#.into()),
            true,
        );
        assert_eq!(
            p.request().body.as_deref(),
            Some(r#"{"query":"q","variables":{"first":2}}"#)
        );
        let page = serde_json::json!({"data": {"repo": {"issues": {"nodes": [1],
            "pageInfo": {"endCursor": "Y3Vy"}}}}});
        assert!(matches!(after(&mut p, &page, 1, None), Next::Fetch(_)));
        let r = p.request();
        assert_eq!(r.url, "http://h/graphql");
        assert_eq!(
            r.body.as_deref(),
            Some(r#"{"query":"q","variables":{"first":2,"after":"Y3Vy"}}"#)
        );
        assert_eq!(r.position, Some(Position::Cursor("Y3Vy".into())));
        // The loop guard compares bodies: the same cursor again is a loop.
        assert!(matches!(after(&mut p, &page, 1, None), Next::Loop(_)));
    }

    #[test]
    fn announced_counts_are_read_in_the_forms_servers_send() {
        for (value, want) in [
            (json!(100), Some(100)),
            (json!(100.0), Some(100)),
            (json!("100"), Some(100)),
            (json!(" 100 "), Some(100)),
            (json!("1e3"), Some(1000)),
            (json!(1e30), Some(u64::MAX)),
            (json!(18446744073709551615u64), Some(u64::MAX)),
            (json!(2.5), None),
            (json!(-3), None),
            (json!("many"), None),
            (json!(null), None),
            (json!(true), None),
        ] {
            assert_eq!(count(&value), want, "{value}");
        }
    }
}
