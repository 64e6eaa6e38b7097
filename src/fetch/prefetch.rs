//! Fetching ahead within one source (SPEC §13): with `concurrency: N`, a
//! `page` or `offset` source (offsets of a `limit`) has up to N requests
//! in flight — its own worker's and N − 1 helpers'.
//!
//! The source's worker walks its pages exactly as it does alone, in
//! order, with the same paginator, loop guard and end rules; before each
//! page it asks for the next N − 1 pages it can name (up to the last one
//! a total announced, or speculatively without one), and the helpers
//! fetch them through the source's one gate. When the walk reaches a page
//! a helper has fetched, it takes that answer instead of sending the
//! request itself. So the items, their order, the dedupe winners and
//! every count but `requests` are those of one request at a time; a cut
//! run resumes at the first page the walk did not finish; and answers for
//! pages past the end are dropped and counted as `speculative_requests`
//! (at most N − 1 per source), never as failures.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::control::{lock, RunControl, Stop};

use super::outcome::FetchCounts;
use super::paginate::Paginator;
use super::request::Request;
use super::{Fetcher, PageOutcome};

/// How often a waiting worker or helper looks at the deadline and for an
/// interrupt.
const CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// A page asked for ahead of the walk.
enum Slot {
    /// Not picked up by a helper yet.
    Queued,
    /// A helper is fetching it.
    InFlight,
    /// Fetched: the answer, and what fetching it counted.
    Done(Box<Fetched>),
}

/// A page fetched ahead.
pub(super) struct Fetched {
    outcome: PageOutcome,
    counts: FetchCounts,
    /// A wait the deadline refused while fetching it: what for, how long
    /// (the walk's stop reason says it).
    refused: Option<(super::outcome::WaitCause, u64)>,
}

#[derive(Default)]
struct Book {
    /// Pages asked for and not picked up yet, in page order.
    queue: VecDeque<(Request, u64)>,
    slots: HashMap<Request, Slot>,
    /// The walk has ended: nothing more is asked for or taken.
    closed: bool,
}

/// The pages of one source asked for ahead, shared by its worker and its
/// helpers.
#[derive(Default)]
pub struct Prefetch {
    book: Mutex<Book>,
    /// Notified when a page is asked for, fetched, or the walk ends.
    changed: Condvar,
}

impl std::fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetch").finish_non_exhaustive()
    }
}

/// What the walk gets for its page.
pub(super) enum Taken {
    /// A helper fetched it.
    Fetched(Box<Fetched>),
    /// Nobody has: the walk fetches it itself.
    NotAsked,
    /// The run stopped while a helper was fetching it.
    Stopped(Stop),
}

impl Prefetch {
    /// Asks for `request` (page `page_no`), unless it was asked for.
    pub(super) fn ask(&self, request: Request, page_no: u64) {
        let mut book = lock(&self.book);
        if book.closed || book.slots.contains_key(&request) {
            return;
        }
        book.slots.insert(request.clone(), Slot::Queued);
        book.queue.push_back((request, page_no));
        drop(book);
        self.changed.notify_all();
    }

    /// The answer to `request` if a helper has it or is getting it
    /// (waiting for it then); one still queued is taken back, for the
    /// walk to send itself.
    pub(super) fn take(&self, request: &Request, control: &RunControl) -> Taken {
        let mut book = lock(&self.book);
        loop {
            match book.slots.remove(request) {
                None => return Taken::NotAsked,
                Some(Slot::Queued) => {
                    book.queue.retain(|(r, _)| r != request);
                    return Taken::NotAsked;
                }
                Some(Slot::Done(fetched)) => return Taken::Fetched(fetched),
                Some(Slot::InFlight) => {
                    book.slots.insert(request.clone(), Slot::InFlight);
                }
            }
            if let Err(stop) = control.check() {
                return Taken::Stopped(stop);
            }
            book = self
                .changed
                .wait_timeout(book, CHECK_INTERVAL)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// The next page for a helper to fetch; `None` once the walk has
    /// ended or the run stops.
    fn next_job(&self, control: &RunControl) -> Option<(Request, u64)> {
        let mut book = lock(&self.book);
        loop {
            if book.closed || control.check().is_err() {
                return None;
            }
            if let Some((request, page_no)) = book.queue.pop_front() {
                book.slots.insert(request.clone(), Slot::InFlight);
                return Some((request, page_no));
            }
            book = self
                .changed
                .wait_timeout(book, CHECK_INTERVAL)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// A helper's answer to `request`; handed back when the walk no
    /// longer wants it (it ended before reaching that page).
    fn done(&self, request: Request, fetched: Fetched) -> Option<Fetched> {
        let mut book = lock(&self.book);
        if book.closed || !book.slots.contains_key(&request) {
            return Some(fetched);
        }
        book.slots.insert(request, Slot::Done(Box::new(fetched)));
        drop(book);
        self.changed.notify_all();
        None
    }

    /// The walk has ended: the helpers stop, and what they fetched that
    /// the walk never took is counted as speculative (returned: the
    /// requests of the pages fetched past the end).
    pub(super) fn close(&self) -> u64 {
        let mut book = lock(&self.book);
        book.closed = true;
        book.queue.clear();
        let unused = book
            .slots
            .drain()
            .map(|(_, slot)| match slot {
                Slot::Done(fetched) => fetched.counts.requests,
                Slot::Queued | Slot::InFlight => 0,
            })
            .sum();
        drop(book);
        self.changed.notify_all();
        unused
    }
}

impl Fetcher<'_> {
    /// A helper's loop: fetches the pages the walk asks for ahead, each
    /// through the source's gate, until the walk ends.
    pub(super) fn serve(&mut self, prefetch: &Prefetch) {
        let control = self.shared.control;
        while let Some((request, page_no)) = prefetch.next_job(control) {
            let mut counts = self.zero_counts();
            std::mem::swap(&mut self.counts, &mut counts);
            let outcome = self.fetch_page(&request, page_no);
            std::mem::swap(&mut self.counts, &mut counts);
            let refused = self.refused.take();
            let fetched = Fetched {
                outcome,
                counts,
                refused,
            };
            if let Some(unused) = prefetch.done(request, fetched) {
                self.count_speculative(unused.counts.requests);
            }
        }
    }

    /// Page `page_no`'s answer to `request`: a helper's, when one fetched
    /// it ahead (its counts then the walk's), else fetched now.
    pub(super) fn fetch_or_take(
        &mut self,
        pager: &Paginator,
        request: &Request,
        page_no: u64,
    ) -> PageOutcome {
        let Some(prefetch) = self.prefetch.clone() else {
            return self.fetch_page(request, page_no);
        };
        // Never past `max_pages`: those pages would be fetched for nothing.
        let ahead =
            (self.config.concurrency as u64).min(self.config.max_pages.saturating_sub(page_no) + 1);
        for n in 1..ahead {
            if let Some(ahead) = pager.ahead(n) {
                prefetch.ask(ahead, page_no + n);
            }
        }
        match prefetch.take(request, self.shared.control) {
            Taken::Fetched(fetched) => {
                self.counts.add(fetched.counts);
                if fetched.refused.is_some() {
                    self.refused = fetched.refused;
                }
                fetched.outcome
            }
            Taken::NotAsked => self.fetch_page(request, page_no),
            Taken::Stopped(stop) => PageOutcome::Stopped(stop),
        }
    }

    /// Requests sent for pages past the end: counted as requests, and as
    /// speculative.
    pub(super) fn count_speculative(&mut self, requests: u64) {
        self.counts.requests += requests;
        self.counts.speculative_requests += requests;
    }
}
