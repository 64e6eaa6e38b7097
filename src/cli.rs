//! The command line (argh) and what each command does.
//!
//! `ingest run` builds a [`Config`] (from `--config`, or from the built-in
//! demo's mock APIs), installs the Ctrl-C/SIGTERM handler, calls
//! [`pipeline::run`] and prints the end table. `ingest serve-mock` serves
//! the same mock APIs stand-alone. Usage and config errors exit 2; the
//! exit code of a run comes from its [`RunStatus`].

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argh::FromArgs;
use log::{error, info};
use testsupport::{MockServer, Scenario};

use crate::config::{Config, ConfigError};
use crate::control::RunControl;
use crate::error::Error;
use crate::output;
use crate::pipeline::{self, RunOptions, RunStatus};

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
    /// Serve the mock APIs.
    ServeMock(ServeMockArgs),
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
}

/// Largest `--items-per-page` of `serve-mock`.
const MAX_MOCK_ITEMS_PER_PAGE: usize = 10_000;
/// Largest number of items per mock source: the mock holds its pages in
/// memory (about 160 bytes an item), so this keeps three sources near 1 GB.
const MAX_MOCK_ITEMS_PER_SOURCE: usize = 2_000_000;

fn parse_out_dir(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("expected a directory path, found an empty string".into());
    }
    Ok(PathBuf::from(s))
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

/// Pages and items per page of the demo.
const DEMO_PAGES: usize = 10;
const DEMO_ITEMS_PER_PAGE: usize = 20;

/// Writes `text` to stdout. A closed or full stdout (`ingest run | true`)
/// must neither panic nor change the exit code: the outputs are files,
/// and what stdout shows is a courtesy.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Parses the process's arguments, runs the command, returns the exit code.
pub fn main(started: Instant) -> u8 {
    let args: Vec<String> = std::env::args().collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    let cli = match Cli::from_args(&["ingest"], strs.get(1..).unwrap_or_default()) {
        Ok(cli) => cli,
        Err(exit) => {
            return match exit.status {
                Ok(()) => {
                    say(&format!("{}\n", exit.output));
                    0
                }
                Err(()) => {
                    eprintln!("{}", exit.output);
                    eprintln!("Run ingest --help for usage.");
                    2
                }
            };
        }
    };
    if cli.version {
        say(&format!("ingest {}\n", env!("CARGO_PKG_VERSION")));
        return 0;
    }
    match cli.command {
        Some(Command::Run(args)) => run(args, started),
        Some(Command::ServeMock(args)) => serve_mock(args),
        None => {
            eprintln!(
                "ingest: a command is required (run, serve-mock). Run ingest --help for usage."
            );
            2
        }
    }
}

fn run(args: RunArgs, started: Instant) -> u8 {
    crate::logging::init(args.log_json);
    // The demo's servers must outlive the run.
    let (mut config, _demo) = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(config) => (config, None),
            Err(e) => return usage_error(e),
        },
        None => match demo(args.seed) {
            Ok((config, server)) => (config, Some(server)),
            Err(e) => {
                error!("event=demo_failed error=\"{e}\"");
                return 1;
            }
        },
    };
    if let Some(deadline) = args.deadline {
        config.deadline = deadline;
    }
    let deadline = started
        .checked_add(config.deadline)
        .unwrap_or_else(|| started + Duration::from_secs(100 * 365 * 86_400));
    let control = Arc::new(RunControl::new(deadline));
    install_signal_handler(&control);
    let options = RunOptions {
        out_dir: args.out,
        seed: args.seed,
        progress: !args.no_progress,
        started,
    };
    match pipeline::run(&config, &options, &control) {
        Ok(report) => {
            say(&output::end_table(
                &report.stats,
                report.status.as_str(),
                report.records_path.as_deref(),
                &report.summary_path,
            ));
            report.status.exit_code()
        }
        Err(e) => {
            error!("event=abort error=\"{e}\"");
            eprintln!("ingest: {e}");
            match e {
                Error::Config(_) => 2,
                _ => RunStatus::Failed.exit_code(),
            }
        }
    }
}

fn usage_error(e: ConfigError) -> u8 {
    eprintln!("ingest: config error: {e}");
    2
}

/// Starts the demo's mock APIs and builds their config with every default.
fn demo(seed: u64) -> Result<(Config, MockServer), Box<dyn std::error::Error>> {
    let server = MockServer::start(Scenario::demo(seed, DEMO_PAGES, DEMO_ITEMS_PER_PAGE))?;
    let config = Config::parse("demo config", &server.config_json().to_string())?;
    info!(
        "event=demo url={} sources={} note=\"no --config given: ingesting from the built-in mock APIs\"",
        server.base_url(),
        config.sources.len()
    );
    Ok((config, server))
}

/// First Ctrl-C/SIGTERM: stop gracefully. Second: exit at once.
fn install_signal_handler(control: &Arc<RunControl>) {
    let control = Arc::clone(control);
    let count = AtomicU32::new(0);
    let installed = ctrlc::set_handler(move || {
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            log::warn!("event=interrupt note=\"stopping; press Ctrl-C again to exit at once\"");
            control.interrupt();
        } else {
            crate::output::remove_temp_files();
            std::process::exit(130);
        }
    });
    if let Err(e) = installed {
        log::warn!("event=no_signal_handler error=\"{e}\"");
    }
}

/// The usage error for a mock too small to make sense or too big to hold.
fn check_mock_size(pages: usize, items_per_page: usize) -> Result<(), String> {
    if !(1..=MAX_MOCK_ITEMS_PER_PAGE).contains(&items_per_page) {
        return Err(format!(
            "--items-per-page: expected an integer from 1 to {MAX_MOCK_ITEMS_PER_PAGE}, found {items_per_page}"
        ));
    }
    match pages.checked_mul(items_per_page) {
        Some(items) if items <= MAX_MOCK_ITEMS_PER_SOURCE => Ok(()),
        _ => Err(format!(
            "--pages: expected at most {} pages of {items_per_page} items \
             ({MAX_MOCK_ITEMS_PER_SOURCE} items per source), found {pages}",
            MAX_MOCK_ITEMS_PER_SOURCE / items_per_page
        )),
    }
}

fn serve_mock(args: ServeMockArgs) -> u8 {
    crate::logging::init(false);
    if let Err(message) = check_mock_size(args.pages, args.items_per_page) {
        eprintln!("ingest: {message}");
        return 2;
    }
    if let Err(e) = std::net::ToSocketAddrs::to_socket_addrs(args.addr.as_str()) {
        eprintln!(
            "ingest: --addr: expected HOST:PORT (e.g. 127.0.0.1:8080), found {:?}: {e}",
            args.addr
        );
        return 2;
    }
    let Some(scenario) =
        Scenario::named(&args.scenario, args.seed, args.pages, args.items_per_page)
    else {
        eprintln!(
            "ingest: --scenario: expected one of {}, found {:?}",
            Scenario::NAMES.join(", "),
            args.scenario
        );
        return 2;
    };
    let server = match MockServer::start_on(&args.addr, scenario) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("ingest: cannot serve on {}: {e}", args.addr);
            return 1;
        }
    };
    let config = server.config_json();
    let mut text = format!(
        "Serving scenario {:?} (seed {}) on {}\n",
        args.scenario,
        args.seed,
        server.base_url()
    );
    for s in config["sources"].as_array().into_iter().flatten() {
        text += &format!(
            "  {:<8} {}\n",
            s["name"].as_str().unwrap_or("?"),
            s["url"].as_str().unwrap_or("?")
        );
    }
    text += "Config for `ingest run --config FILE`:\n";
    text += &serde_json::to_string_pretty(&config).unwrap_or_default();
    text += "\nPress Ctrl-C to stop.\n";
    say(&text);
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    }) {
        eprintln!("ingest: cannot install the Ctrl-C handler: {e}");
        return 1;
    }
    let _ = rx.recv();
    server.stop();
    0
}
