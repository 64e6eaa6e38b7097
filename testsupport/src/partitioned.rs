//! The partitioned sources' side of the mocks: routing a request to a
//! child list ([`Style::Children`]) or to a window of events
//! ([`Style::Window`]), and answering it.
//!
//! Kept apart from `api.rs`, which answers paged sources: here a request
//! names a *partition* — a parent id in the path, or a window in the
//! query — and the page within it, and the attempt number the front
//! counts is that partition's page's, so a fault scripted for `(page,
//! attempt)` strikes every parent (every window) alike. The data is
//! `children.rs`'s and `events.rs`'s.

use std::time::SystemTime;

use serde_json::json;

use crate::api::{query_param, with_fault, Answer, Endpoint, Request, Routed};
use crate::children::{self, ChildTruth};
use crate::data::SourceData;
use crate::events::{self, EventTruth};
use crate::scenario::{MockSource, Scenario, Style};

/// What a source serves besides its pages.
#[derive(Debug)]
pub(crate) enum Partitioned {
    /// Nothing: a paged source.
    No,
    /// Every parent's child list ([`Style::Children`]).
    Children(ChildTruth),
    /// The events a window selects from ([`Style::Window`]).
    Events(EventTruth),
}

impl Partitioned {
    /// The child lists or events of `src`, whose scenario generated
    /// `data` (one entry per source).
    ///
    /// # Panics
    /// If a child source's parent is not a paged source of the scenario,
    /// or a partitioned style lacks its settings.
    pub fn new(scenario: &Scenario, data: &[SourceData], src: &MockSource) -> Partitioned {
        match src.style {
            Style::Children => {
                let spec = src.children.as_ref().unwrap_or_else(|| {
                    panic!(
                        "{}: build a Style::Children source with MockSource::children",
                        src.name
                    )
                });
                let parent = scenario
                    .sources
                    .iter()
                    .position(|p| p.name == spec.parent && !is_partitioned(p))
                    .unwrap_or_else(|| {
                        panic!(
                            "{}: parent {:?} is not a paged source of the scenario",
                            src.name, spec.parent
                        )
                    });
                let parent = &data[parent].truth;
                Partitioned::Children(children::generate(scenario.seed, src, spec, parent))
            }
            Style::Window => {
                let spec = src.events.as_ref().unwrap_or_else(|| {
                    panic!(
                        "{}: build a Style::Window source with MockSource::events",
                        src.name
                    )
                });
                Partitioned::Events(events::generate(scenario.seed, src, spec))
            }
            _ => Partitioned::No,
        }
    }

    /// The answer to `req`, which `routed` leads to this source `src`, at
    /// this attempt of its partition's page: a malformed request's 400
    /// (`{"error":..}`), else the partition's page through the source's
    /// faults.
    pub fn respond(
        &self,
        src: &MockSource,
        base_url: &str,
        routed: &Routed,
        req: &Request,
        attempt: u32,
        now: SystemTime,
    ) -> Answer {
        if let Some((status, msg)) = &routed.problem {
            return Answer::json(*status, json!({ "error": msg }).to_string());
        }
        let query = req.target.split_once('?').map_or("", |(_, q)| q);
        with_fault(src.fault_for(routed.page, attempt), now, || {
            match (self, &routed.partition, &src.events) {
                (Partitioned::Children(truth), Some(parent_id), _) => {
                    truth.answer(base_url, parent_id, routed.page)
                }
                (Partitioned::Events(truth), _, Some(spec)) => match spec.window(query) {
                    Ok((from, to, _)) => truth.answer(from, to),
                    Err(msg) => Answer::json(400, json!({ "error": msg }).to_string()),
                },
                _ => Answer::error(404, "not found"),
            }
        })
    }
}

/// Whether `src` is served by partition rather than by page.
pub(crate) fn is_partitioned(src: &MockSource) -> bool {
    matches!(src.style, Style::Children | Style::Window)
}

/// Routes a request for `path?query` to a child or window source of
/// `scenario`, if `path` is one's: the partition it asks for and its page
/// (a window is one page), or the 400 a malformed one gets.
pub(crate) fn route(scenario: &Scenario, path: &str, query: &str) -> Option<Routed> {
    let routed = |idx, page, partition, problem| Routed {
        endpoint: Endpoint::Source(idx),
        page,
        partition,
        problem,
    };
    for (idx, src) in scenario.sources.iter().enumerate() {
        if let (Style::Window, Some(spec)) = (src.style, &src.events) {
            if path == src.path() {
                return Some(match spec.window(query) {
                    Ok((_, _, label)) => routed(idx, 1, Some(label), None),
                    Err(msg) => routed(idx, 0, None, Some((400, msg))),
                });
            }
        } else if src.style == Style::Children {
            let Some(parent_id) = children::parent_in(path, &src.name) else {
                continue;
            };
            let page = match query_param(query, "page") {
                None => Some(1),
                Some(v) => v.parse::<usize>().ok().filter(|&p| p >= 1),
            };
            return Some(match page {
                Some(page) => routed(idx, page, Some(parent_id), None),
                None => routed(idx, 0, Some(parent_id), Some((400, "bad page".into()))),
            });
        }
    }
    None
}
