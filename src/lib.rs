//! `ingest` pulls paginated JSON from several HTTP APIs at once, politely
//! and resiliently, turns items into clean records, removes duplicates,
//! and writes the records plus a summary that accounts for every item it
//! saw. It is synchronous and multi-threaded: no async runtime, so it
//! builds and runs on small machines.
//!
//! # The picture
//!
//! ```text
//! main thread: parse CLI + config, start everything, draw progress, wait, write summary
//!   ├─ fetcher thread per source ── blocking ureq · token bucket · backoff · breaker
//!   │     (`concurrency: N`: N threads, one gate: N partitions at once, or a walk + N−1 helpers fetching pages ahead)
//!   │     paginates, reads each body into one buffer, finds its items as spans ─┐
//!   ├─ queue of batches of spans, ≤ queue_capacity items ┘  (send blocks when full)
//!   ├─ processor (in its rayon pool) ── chunks of ≤ batch_size · parse + normalize (parallel from 128 items) · dedupe · a record sink
//!   ├─ stdout writer (--stdout only) ── the sink's chunks to fd 1; given up at the deadline or an interrupt
//!   └─ Arc<Mutex<Stats>> ── per-source counters → summary.json
//! ```
//!
//! # Thread model
//!
//! `src/main.rs` reads as parse → load config → [`run`] → exit code, and
//! [`run`] (in `pipeline.rs`) is the only function that starts threads: it
//! creates the channel, spawns the processor and one scoped [`Fetcher`]
//! per source, drops its own sender (so the channel disconnects when the
//! last fetcher ends: that is "end of input", no sentinel), draws progress
//! while it waits, and joins every thread, turning a panic into a `failed`
//! run rather than a crash. With records on stdout it also starts their
//! writer, the one thread it does not join: a reader that never reads can
//! block it for good, and the run gives it up at its deadline or
//! interrupt instead of waiting (SPEC §4). Each fetcher returns a [`SourceOutcome`]
//! (status, where it stopped, its own counters) through its join handle,
//! and the pipeline files it: fetchers report, they do not write their
//! ending into shared state. Rayon is used only by the processor, for the
//! CPU-bound normalization of chunks large enough to pay for the hand-off
//! (a smaller chunk is normalized on the processor thread), in a pool of
//! its own that the processor loop runs in (so it helps with its chunk
//! rather than sleeping on it).
//!
//! With `concurrency: N` a source has N threads (never one per
//! partition), all started by [`run`] too, sharing the source's one
//! `Gate` (token bucket, breaker, the pauses its server asked for): a
//! partitioned source's N workers walk N partitions at once and hand
//! their items over in partition order (`fetch/partitions.rs`); a `page`
//! or `offset` source's walk asks N − 1 helpers for the pages it can name
//! ahead and takes their answers in page order (`fetch/prefetch.rs`). A
//! child source (SPEC §12) gets its partitions from the processor, which
//! hands each valid, first-seen record of the parent over an unbounded
//! channel (a bounded one could deadlock against the bounded queue) and
//! closes it when the parent ends.
//!
//! Shared state is small and named: the [`RunControl`] (deadline,
//! interrupt flag, the agent to shut down), the [`Redactor`] (an
//! `Arc`, immutable, built from the config: there is no global registry
//! of secrets), the [`LiveBoard`] (each fetcher posts a small live view
//! of itself there for the progress display) and the `Stats` mutex (the
//! processor adds item-side counters once per chunk, the pipeline files
//! each fetcher's outcome); no one holds a lock across I/O.
//!
//! # Error policy
//!
//! Only a bad config, command line or state file (exit 2), an unwritable
//! output directory and another run holding `--out` or `--state` (exit 1)
//! stop a run before it starts. Everything a server
//! does is data: each failed attempt is one `AttemptError`, whose methods
//! say whether it is retried and which typed counter (`ErrorKind`,
//! `RetryCause`) it lands in; the fetcher's `RetryPolicy` decides retry or
//! give up; pages given up are listed; items that are not records are
//! counted by [`InvalidReason`]. A source's `on_response` rules say what
//! an answer means before this classification does (the end of the data,
//! a page to skip, a failure to retry or not). Worker threads never panic
//! on input. The
//! exit code is decided once, by [`ExitCode`] (`From<RunStatus>`).
//!
//! Servers are not trusted: only http(s) URLs with a valid port are ever
//! requested (next links and redirect targets included, non-ASCII bytes
//! percent-encoded), numbers keep their JSON text so that no valid number
//! loses a page, every URL shown in a log or the summary goes through
//! [`Redactor::shown_url`] (secrets hidden, even echoed ones; no line
//! breaks or quotes), and a fetcher handing over a huge page still stops
//! at the deadline or an interrupt.
//!
//! # Data path
//!
//! A page costs its body, not a multiple of it: the fetcher reads the body
//! into one buffer, checks it once as JSON and finds the item array without
//! building a tree for the items (`fetch/page.rs`); the paginator parses
//! only the envelope paths it reads. Items cross the queue as spans of the
//! shared body, in batches of one page (`queue.rs`, bounded in items); the
//! processor parses each span into a [`Node`] that borrows from the body
//! and keeps document order (`node.rs`), normalizes it by the source's
//! schema and writes the record by hand into a reused buffer. A page's
//! body is freed when its last batch is done with.
//!
//! # Outputs
//!
//! `records.jsonl` (one [`Record`] per line) and `summary.json`, both
//! written atomically (temporary file, flushed, renamed). In every run,
//! per source and in total, `items == records + invalid + duplicates`.
//! With `--stdout` the records go to stdout instead (JSON Lines, or Singer
//! messages with `--format singer`), written once per chunk by a thread of
//! their own; the summary (and the state) are still files, and a reader
//! that goes away, or never reads, ends delivery, not the run
//! (`undelivered` in the summary). The processor writes to one
//! `RecordSink` and does not know which output it is.
//!
//! # Defaults
//!
//! | key | default | |
//! |---|---|---|
//! | `rate_limit` | 5/s, burst 5 | per source, every request takes a token |
//! | `retry` | 3 retries, 500 ms base, 4 s cap | wait uniform in [d/2, d] |
//! | `breaker` | 3 failures, 15 s cooldown | then one probe |
//! | `timeouts` | connect 3 s, read 8 s | |
//! | `queue_capacity` / `batch_size` | 100 / 50 | items |
//! | `deadline_ms` | 60 s | from process start |
//! | `max_pages` / `max_failed_pages_in_a_row` | 10 000 / 3 | per source |
//! | `max_body_bytes` | 10 MiB | |
//! | `concurrency` | 1 | requests of a source in flight at once (1–64) |
//!
//! The policies (every row but `queue_capacity`, `batch_size` and
//! `deadline_ms`, which are run-wide) live in one `impl Default for`
//! [`Policies`], the rest in `impl Default for` [`Config`]. A source may
//! override any policy for itself, key by key.
//!
//! # Log levels
//!
//! `error`: an internal failure. `warn`: a page given up, a breaker
//! opened, a source stopped early. `info`: a source's start and end, the
//! run's end. `debug`: each retry decision with its wait. `trace`: each
//! request. Log calls carry structured fields (`log`'s key-values), written
//! as `key=value` text or, with `--log-json`, as JSON fields with numbers
//! as numbers; URLs are redacted.
//!
//! # Modules
//!
//! The tree reads as the data path: the leaves every stage uses, then one
//! folder per stage in the order a run goes through them, then the
//! commands that put them together. `lib.rs` declares them in that order,
//! and a module uses only the modules declared before it (the
//! `tests/layout.rs` test checks every `crate::` path), so there is no
//! import cycle between them.
//!
//! | where | what it holds |
//! |---|---|
//! | `main.rs` | the binary: parse → load config → run → exit code; the signal handler |
//! | `cli.rs`, `demo.rs` | argh's commands and flags; the built-in demo and `serve-mock` (binary only) |
//! | **leaves** | |
//! | `control.rs` | [`RunControl`]: the deadline (and which setting it came from) and the interrupt |
//! | `text.rs` | the one way a long value is cut short in a message (characters, `…`) |
//! | `time.rs` | the one calendar: RFC 3339 in UTC for records and for the clock |
//! | `url.rs` | URL splitting, resolving, encoding, origins, checks |
//! | `window.rs` | ISO 8601 steps, half-open time windows, the merged set of completed ones |
//! | **`json/`** | `node.rs`: one item parsed where it is normalized (a borrowed tree, and its writer); `dot_path.rs`: `DotPath`, every path a config names |
//! | **`record/`** | items into records: `schema.rs` ([`RecordSchema`], [`FieldPaths`], [`InvalidReason`]), `normalize.rs` ([`normalize()`] → [`Record`]), `coerce.rs` (declared types), `price.rs`, `bookmark.rs` (incremental values) |
//! | `redact.rs` | [`Redactor`]: secrets out of every URL and text shown |
//! | **`config/`** | `mod.rs`: the validated [`Config`] and its defaults; `validate.rs`: the walk from JSON to it; `record.rs`, `incremental.rs`, `rules.rs` (`on_response`), `fanout.rs` (`parent`, `partitions`, placeholders): those keys; `envelope.rs`: an envelope path, in the body or a response header; `json.rs`: JSON with key-path errors |
//! | `partition.rs` | one partition: its placeholder values, the requests they fill (encoded for their place, in one pass), its stable hash (state, `--shard`) |
//! | `error.rs` | the error taxonomy and its typed counters |
//! | **`state/`** | where each source starts: `mod.rs` (the state's format, each source's `Plan`, the `Ended` a source leaves; corrupt entries refused), `position.rs` (a page in its style's terms), `partitions.rs` (completed partitions by hash, the cut one, windows as intervals), `secrets.rs` (no secret in a saved position; credentials back on resume for the source's origin only), `unique.rs` (a key given twice, refused) |
//! | `queue.rs` | the queue between fetchers and processor: batches (bounded in items) and sources' ends |
//! | **`fetch/`** | one source's [`Fetcher`] (`mod.rs`: the page loop and the attempt phases); `request.rs`: [`Request`] and the [`HeaderHook`]; `paginate.rs`: each style's next request, without I/O; `client.rs`: one HTTP attempt; `page.rs`: a body's item spans and envelope; `headers.rs`: an answer's response headers, for rules and `header:` paths; `rules.rs`: `on_response` judging each answer before SPEC §4 does; `stop.rs`: [`StopReason`]; `outcome.rs`: status, counters, what it hands back; `partitions.rs`: a partitioned source's workers and their hand-over in order; `prefetch.rs`: pages fetched ahead by helpers; `gate.rs`: a source's one bucket, breaker and pauses, shared by its threads; `retry.rs`, `quota.rs`, `breaker.rs`, `rate_limit.rs`: the politeness policies, time passed in |
//! | **`process/`** | the processor (`mod.rs`: chunks, parallel parse and normalize, dedupe, write), `sink.rs` (`RecordSink`: what it writes records to, whatever the output), `dedupe.rs` (first wins by `source:id`), `stats.rs` (the run's counters, [`Stats`]) |
//! | **`output/`** | `atomic.rs` (files whole or not at all), the record sinks `records_file.rs` (records.jsonl) and `stdout.rs` (records on stdout from a writer thread: a reader that goes away or never reads ends delivery, not the run) with `singer.rs` (Singer messages), `state_file.rs` (the `--state` file on disk: links followed, kept apart from the outputs), `lock.rs` (one run at a time: the locks of `--out` and `--state`) |
//! | **`report/`** | `summary.rs` (`summary.json`, the end table), `warnings.rs`, `progress.rs`, `logging.rs` |
//! | `pipeline.rs` | [`run`]: the one place that starts threads; [`RunStatus`] |
//! | `exit_code.rs` | [`ExitCode`], the one place exit codes are decided |
//! | `check.rs` | `ingest check`: the first page of each source, reported |
//! | **`discover/`** | `ingest discover URL`: `mod.rs` (the command line into a probe config; ask, check the guess on a second page, print), `probe.rs` (at most 3 requests at 1/s through the run's client), `detect.rs` (the item array; pagination from links, next URLs and cursors, as trials), `numbers.rs` (page and offset from numbers and totals in the body or headers), `schema.rs` (the id and typed fields of the sampled items), `secrets.rs` (secrets given on the command line printed as `env:` references) |
//! | `tap.rs` | `ingest tap`, the Singer tap Meltano runs: its settings, `--discover`'s catalog, a catalog's selection, `--about`, the exit code of a run cut but resumable |

#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Modules in layers, lowest first: a module uses only the modules
// declared above it (tests/layout.rs checks it), so there is no import
// cycle. The leaves every stage uses:
mod control;
mod text;
mod time;
mod url;
mod window;

// The stages, in the order a run goes through them: JSON and records
// (pure), the config that names them, where each source starts (state),
// the queue the fetchers feed, the fetchers, the processor, the outputs,
// what a user is told.
mod json;
mod record;

mod redact;

mod config;
mod partition;

mod error;

mod state;

mod queue;

mod fetch;

mod process;

mod output;

mod report;

// The commands that put the stages together; the exit code, decided once.
mod pipeline;

mod exit_code;

mod check;

pub mod discover;

pub mod tap;

pub use check::{check, exit_code as check_exit_code, render as render_check, SourceCheck};
pub use config::{Auth, Config, ConfigError, DeadlineFrom, Grant, Method, OAuth2, Policies};
pub use control::RunControl;
pub use error::Error;
pub use exit_code::ExitCode;
pub use fetch::client::agent;
pub use fetch::gate::Gates;
pub use fetch::outcome::{Envelope, FetchCounts, Live, LiveBoard, PathSeen, Seen, SourceStatus};
pub use fetch::request::{HeaderHook, Request};
pub use fetch::stop::StopReason;
pub use fetch::{Fetcher, Shared, SourceOutcome};
pub use json::Node;
pub use output::atomic::exit_now;
pub use partition::Shard;
pub use pipeline::{run, Format, RunOptions, RunReport, RunStatus};
pub use process::stats::{SourceStats, Stats};
pub use queue::{bounded as queue, Batch, Message, QueueRx, QueueTx};
pub use record::{normalize, FieldPaths, InvalidReason, Record, RecordSchema};
pub use redact::Redactor;
pub use report::logging::init as init_logging;
pub use state::{select_sources, shard_sources};

/// Shared settings of the unit tests.
#[cfg(test)]
mod testing {
    use proptest::test_runner::{Config, RngSeed};

    /// Property tests run the same cases every time (the suite is
    /// deterministic) and write no regression files into the tree.
    pub fn proptest_config() -> Config {
        Config {
            rng_seed: RngSeed::Fixed(0x1257_0042),
            failure_persistence: None,
            ..Config::default()
        }
    }
}
