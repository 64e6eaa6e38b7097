//! Integration tests, one binary: each module is an area of the product.
//! All servers are in-process mocks on 127.0.0.1 port 0; all delays are
//! scaled to milliseconds.

mod support;

/// The data path end to end: exact results, every pagination style,
/// determinism, backpressure.
mod pipeline;

/// The binary: config errors, usage, exit codes, the demo.
mod cli;

/// Declared record schemas on API-shaped mocks: every field of every
/// record, the warnings of a plausible but wrong config.
mod records;

/// The normalizer on sample pages shaped like public product APIs.
mod normalize_fixtures;

/// README.md: its config examples parse and its worked examples run, its
/// links lead to its headings, its make targets and flags exist.
mod readme;

/// Peak memory of one big page, from the run's own VmHWM: a page costs
/// about its body, not a tree of it.
mod memory;

/// SPEC §4 resilience: every fault kind, step-over, breaker, pacing,
/// Retry-After, deadline, interrupt, and nothing lost in chaos.
mod resilience;

/// Politeness and real APIs: quota headers of each family, decimal
/// Retry-After, total_items_path / has_more_path / last_item_path, a
/// server ignoring the position, stop_reason and failed_page_errors.
mod politeness;

/// What a person sees: progress bars under a pty, JSON logs.
mod ui;

/// SPEC §9 `--state`: a cut run resumes where each source stopped, an
/// incremental source asks only for what changed, and the state file is
/// guarded (fingerprints, `--source`, atomic writes, hostile files).
mod state;

/// Records on stdout and Singer messages (`--stdout`, `--format singer`):
/// every message valid, every RECORD valid against its SCHEMA, the same
/// records as records.jsonl, STATE == the state file, a reader that goes
/// away (`| head -1`).
mod singer;

/// `ingest tap` (SPEC §15), the Singer tap Meltano runs: settings that
/// name the config from the project root, `--discover`'s catalog, stream
/// and field selection, `--about`/`--help`/`--version` extracting nothing,
/// `--state` read and never written, a deadline cut that exits 0.
mod tap;

/// First-try configs that ended complete with a fraction of the data: an
/// envelope path in no page, no `Link` header, a page size the server
/// caps; and fields null everywhere, which are no warning.
mod truncation;

/// SPEC §11 auth: OAuth2 tokens against the mock token endpoint (shared,
/// refreshed ahead of expiry and after a 401, rotation, refusals).
mod auth;

/// SPEC §11 graphql: the shorthand on a Relay connection, `errors`
/// answers, a rate limit in a 200.
mod graphql;

/// SPEC §12: a child list per parent record, lists of values, time
/// windows; per-partition outcomes, resume mid-fan-out, shards.
mod fanout;

/// SPEC §13: a source with requests in flight at once writes what it
/// writes one at a time; speculation bounded; one bucket; resume.
mod concurrency;

/// The source tree: modules use only modules below them (no import cycle in src/).
mod layout;

/// SPEC §11 `on_response` rules on mocks shaped like the servers that
/// need them (DRF's 404 past the end, a 400 "page out of range", a 200
/// saying error): each action, first match, header and equals
/// conditions; envelope paths read from response headers (flask-smorest's
/// X-Pagination, X-Total-Count, a next link in a header) and the warnings
/// they feed; what `ingest check` says of both.
mod rules;

/// SPEC §14 `ingest discover URL`: the config it prints for every mock
/// API checks and runs to the end; what it cannot tell exits 3; secrets
/// given literally never show; at most 3 requests, a second apart.
mod discover;
