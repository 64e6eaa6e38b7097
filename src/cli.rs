//! The command line: argh's definitions of `ingest`'s commands and flags,
//! and [`parse`], which turns the process's arguments into them (or into
//! the exit code of `--help`, `--version` or a usage error).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use ingest::{ExitCode, Format, Shard};

/// Pull paginated JSON from several HTTP APIs at once, politely and
/// resiliently; normalize, dedupe, and account for every item.
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
    #[argh(subcommand)]
    /// what to do
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    /// Run the pipeline.
    Run(RunArgs),
    /// Try a config on the first page of each source.
    Check(CheckArgs),
    /// Serve the mock APIs.
    ServeMock(ServeMockArgs),
    /// Be a Singer tap (for Meltano).
    Tap(TapArgs),
    /// Write a config for an API from a few requests.
    Discover(DiscoverArgs),
}

/// Write a config for an API ingest has not seen: ask URL at most 3 times
/// (1 per second), find the items and the pagination, check the guess on a
/// second page, infer a typed record, and print the config on stdout with
/// the reasoning on stderr. Exit 0 when it printed a config, 3 when no item
/// array or no working pagination could be established, 2 for a usage
/// error.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "discover")]
pub struct DiscoverArgs {
    /// the URL of the first page of the list
    #[argh(positional)]
    pub url: String,
    /// the source's name in the config; default: the URL's last path
    /// segment
    #[argh(option)]
    pub name: Option<String>,
    /// a request header "Name: value" (repeatable); "Name: env:VAR" reads
    /// VAR, and a secret given as a value is printed as an env: reference,
    /// never as itself; default: none
    #[argh(option, from_str_fn(parse_header))]
    pub header: Vec<(String, String)>,
    /// a query parameter name=value (repeatable), env: and secrets as for
    /// --header; default: none
    #[argh(option, from_str_fn(parse_query))]
    pub query: Vec<(String, String)>,
    /// dot path to the item array; default: detected (data, items,
    /// results, …, else the largest array of objects)
    #[argh(option)]
    pub items_path: Option<String>,
    /// a GraphQL query declaring $after, for a GraphQL API: discover
    /// finds its connection and checks the cursor; default: not GraphQL
    #[argh(option)]
    pub graphql: Option<String>,
}

/// `Name: value`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() && !name.contains(' ') => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err("expected \"Name: value\", like \"Accept: application/json\"".into()),
    }
}

/// `name=value`.
fn parse_query(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err("expected name=value, like per_page=100".into()),
    }
}

/// Try a config without writing anything: fetch the first page of each
/// source (with the normal policies) and show where the items are, the
/// first records as run would write them, the invalid items by reason, the
/// keys the items carry and the next page. Exit 0 when every source gave a
/// valid record, 3 otherwise, 2 for a config error.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
pub struct CheckArgs {
    /// config file (JSON, see README); default: the built-in demo
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// check only this source (repeatable); default: every source
    #[argh(option)]
    pub source: Vec<String>,
}

/// Run the pipeline: ingest from the sources of --config, or, without it,
/// from the built-in demo mock APIs; write records.jsonl and summary.json.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "run")]
pub struct RunArgs {
    /// config file (JSON, see README); default: run the built-in demo
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// output directory; default: out
    #[argh(option, default = "PathBuf::from(\"out\")", from_str_fn(parse_out_dir))]
    pub out: PathBuf,
    /// never draw progress bars (they are drawn only on a terminal anyway)
    #[argh(switch)]
    pub no_progress: bool,
    /// write logs as one JSON object per line; default: key=value text
    #[argh(switch)]
    pub log_json: bool,
    /// seed for the retry jitter and, in the demo, the data and faults;
    /// default: 42
    #[argh(option, default = "42")]
    pub seed: u64,
    /// run deadline in seconds (fractions allowed), overriding the config's
    /// deadline_ms; default: deadline_ms (60 s)
    #[argh(option, from_str_fn(parse_seconds))]
    pub deadline: Option<Duration>,
    /// make any warning (no records kept, mostly invalid or duplicate
    /// items, …) a partial run, exit 3: for cron and CI
    #[argh(switch)]
    pub strict: bool,
    /// state file: resume where the last run stopped, and ask incremental
    /// sources only for what changed; read at start (missing: a first
    /// run), written at the end, locked in between (FILE.lock); default:
    /// none
    #[argh(option)]
    pub state: Option<PathBuf>,
    /// with --format singer, write the --state file too; without it the
    /// new state goes out only as STATE messages, for the orchestrator to
    /// keep once the target has committed the records (--stdout always
    /// writes it); needs --state
    #[argh(switch)]
    pub state_write: bool,
    /// run only this source of the config (repeatable); with --state, the
    /// other sources' entries are kept as they are; default: every source
    #[argh(option)]
    pub source: Vec<String>,
    /// how records are written: jsonl (one record per line) or singer
    /// (Singer SCHEMA, RECORD and STATE messages on stdout, for any Singer
    /// target; implies --stdout); default: jsonl
    #[argh(option, default = "Format::Jsonl", from_str_fn(parse_format))]
    pub format: Format,
    /// write the records to stdout instead of records.jsonl (the end table
    /// then goes to stderr; summary.json is still written to --out)
    #[argh(switch)]
    pub stdout: bool,
    /// run share K of N (0 <= K < N) of the sources and partitions, by a
    /// stable hash: N runs with K = 0..N-1, each with its own --out and
    /// --state, write one run's records together; default: all of it
    #[argh(option, from_str_fn(parse_shard))]
    pub shard: Option<Shard>,
}

/// `K/N`, 0 <= K < N.
fn parse_shard(value: &str) -> Result<Shard, String> {
    let parsed = value.split_once('/').and_then(|(k, n)| {
        let (k, n) = (k.trim().parse::<u32>().ok()?, n.trim().parse::<u32>().ok()?);
        (n >= 1 && k < n).then_some(Shard { index: k, count: n })
    });
    parsed.ok_or_else(|| format!("expected K/N with 0 <= K < N, like 0/3, found {value:?}"))
}

/// Be a Singer tap, as Meltano runs one: extract the sources of the
/// settings' ingest config as Singer messages on stdout, reading --state
/// and never writing it (the state goes out as STATE messages); or, with
/// --discover, print the catalog; with --about, describe the tap.
/// Nothing is extracted for --discover, --about, --help or --version.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "tap")]
pub struct TapArgs {
    /// settings JSON (Meltano writes it): an ingest config, or
    /// {"ingest_config": FILE, "out": DIR, "deadline_s": SECS} with paths
    /// relative to $MELTANO_PROJECT_ROOT, else the working directory
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// state to start from (the value of the last STATE); read, never
    /// written; default: none
    #[argh(option)]
    pub state: Option<PathBuf>,
    /// a Singer catalog: run only the streams selected in it, without the
    /// fields deselected; default: every source, every field
    #[argh(option)]
    pub catalog: Option<PathBuf>,
    /// the same as --catalog (the older name some orchestrators use)
    #[argh(option)]
    pub properties: Option<PathBuf>,
    /// print the Singer catalog of the config (a stream per source) and
    /// exit
    #[argh(switch)]
    pub discover: bool,
    /// print the tap's name, version, capabilities and settings, and exit
    #[argh(switch)]
    pub about: bool,
    /// with --about: json or markdown; default: markdown
    #[argh(option)]
    pub format: Option<String>,
    /// make a run the deadline cut exit 3 even though it resumes (and any
    /// warning a partial run, as in run)
    #[argh(switch)]
    pub strict: bool,
    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
}

/// Serve the built-in mock APIs until Ctrl-C, and print their URLs and a
/// ready-to-use config for `ingest run --config`.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "serve-mock")]
pub struct ServeMockArgs {
    /// address to listen on; default: 127.0.0.1:8080 (port 0 picks a free one)
    #[argh(option, default = "String::from(\"127.0.0.1:8080\")")]
    pub addr: String,
    /// seed for the data and the fault schedule; default: 42
    #[argh(option, default = "42")]
    pub seed: u64,
    /// scenario: clean, demo or chaos; default: demo
    #[argh(option, default = "String::from(\"demo\")")]
    pub scenario: String,
    /// pages per source; default: 10
    #[argh(option, default = "10")]
    pub pages: usize,
    /// items per page, 1 to 10000; default: 20 (pages × items per page is
    /// at most 2 million per source)
    #[argh(option, default = "20")]
    pub items_per_page: usize,
    /// write the ready-to-use config to FILE (before the first request is
    /// served) instead of stdout; default: stdout
    #[argh(option)]
    pub write_config: Option<PathBuf>,
}

fn parse_out_dir(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("expected a directory path, found an empty string".into());
    }
    // --out is a directory of several files; stdout can take only the
    // records, and --stdout says so.
    if ["-", "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"].contains(&s.trim_end_matches('/')) {
        return Err(format!(
            "expected a directory, found {s:?}: to write the records to stdout, use --stdout (summary.json still goes to --out)"
        ));
    }
    Ok(PathBuf::from(s))
}

fn parse_format(s: &str) -> Result<Format, String> {
    match s {
        "jsonl" => Ok(Format::Jsonl),
        "singer" => Ok(Format::Singer),
        _ => Err(format!("expected jsonl or singer, found {s:?}")),
    }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs = s.trim().parse::<f64>().ok().filter(|&secs| secs > 0.0);
    let duration = secs.and_then(|secs| Duration::try_from_secs_f64(secs).ok());
    // At least a millisecond: the summary states the deadline in ms.
    match duration.filter(|d| *d >= Duration::from_millis(1)) {
        Some(duration) => Ok(duration),
        None => Err(format!(
            "expected a number of seconds >= 0.001, found {s:?}"
        )),
    }
}

/// Writes `text` to stderr (where the end table goes when stdout carries
/// the records); a closed stderr changes nothing either.
pub fn say_on_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Writes `text` to stdout. A closed or full stdout (`ingest run | true`)
/// must neither panic nor change the exit code: the outputs are files,
/// and what stdout shows is a courtesy.
pub fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The program name under which ingest is `ingest tap`.
pub const TAP_PROGRAM: &str = "tap-ingest";

/// Whether `program` (the process's first argument) names ingest as
/// [`TAP_PROGRAM`], whatever its directory or extension.
fn invoked_as_tap(program: &str) -> bool {
    std::path::Path::new(program)
        .file_stem()
        .is_some_and(|stem| stem == TAP_PROGRAM)
}

/// Parses the process's arguments into a command. `--help` and
/// `--version` are answered here (exit 0), a usage error too (exit 2).
pub fn parse() -> Result<Command, ExitCode> {
    let args: Vec<String> = std::env::args().collect();
    let mut strs: Vec<&str> = args.iter().map(String::as_str).collect();
    // An orchestrator runs a tap as one program: called `tap-ingest` (a
    // link to ingest), ingest is `ingest tap`.
    if strs.first().is_some_and(|program| invoked_as_tap(program)) {
        strs.insert(1, "tap");
    }
    let cli = match Cli::from_args(&["ingest"], strs.get(1..).unwrap_or_default()) {
        Ok(cli) => cli,
        Err(exit) => {
            return Err(match exit.status {
                Ok(()) => {
                    say(&format!("{}\n", exit.output));
                    ExitCode::Complete
                }
                Err(()) => {
                    // argh's words, said as ingest's, with the help that
                    // fits the command the user was typing.
                    let command = strs
                        .get(1)
                        .filter(|c| ["run", "check", "serve-mock", "tap", "discover"].contains(c))
                        .map_or(String::new(), |c| format!(" {c}"));
                    eprintln!("ingest: {}", exit.output.trim_end());
                    eprintln!("Run ingest{command} --help for usage.");
                    ExitCode::Usage
                }
            });
        }
    };
    if cli.version {
        say(&format!("ingest {}\n", env!("CARGO_PKG_VERSION")));
        return Err(ExitCode::Complete);
    }
    cli.command.ok_or_else(|| {
        eprintln!(
            "ingest: a command is required (run, check, serve-mock, tap, discover). Run ingest --help for usage."
        );
        ExitCode::Usage
    })
}
