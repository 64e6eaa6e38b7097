//! The `ingest` binary: parse the command line, load the config, run the
//! pipeline, and exit with the code the run decides. Reading this file and
//! then `pipeline.rs` shows the whole program.

mod cli;
mod demo;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use ingest::{Config, DeadlineFrom, ExitCode, RunControl, RunOptions};

use cli::{Command, RunArgs};

fn main() -> std::process::ExitCode {
    let started = Instant::now();
    let code = match cli::parse() {
        Ok(Command::Run(args)) => run(args, started),
        Ok(Command::Check(args)) => check(args, started),
        Ok(Command::ServeMock(args)) => demo::serve_mock(args),
        Ok(Command::Tap(args)) => tap(args, started),
        Ok(Command::Discover(args)) => discover(args, started),
        Err(code) => code,
    };
    code.into()
}

/// `ingest run`: load the config (or start the demo), run, report.
fn run(args: RunArgs, started: Instant) -> ExitCode {
    ingest::init_logging(args.log_json);
    // The demo's servers must outlive the run.
    let (mut config, _demo) = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(config) => (config, None),
            Err(e) => {
                eprintln!("ingest: config error: {e}");
                return ExitCode::Usage;
            }
        },
        None => match demo::demo(args.seed) {
            Ok((config, server)) => (config, Some(server)),
            Err(e) => {
                log::error!(event = "demo_failed", error:% = e; "");
                return ExitCode::Internal;
            }
        },
    };
    if args.state_write && args.state.is_none() {
        eprintln!("ingest: --state-write needs --state FILE. Run ingest run --help for usage.");
        return ExitCode::Usage;
    }
    if let Some(deadline) = args.deadline {
        config.set_deadline(deadline, DeadlineFrom::Flag);
    }
    if let Err(e) = ingest::select_sources(&mut config.sources, &args.source) {
        eprintln!("ingest: {e}");
        return ExitCode::Usage;
    }
    if let Some(shard) = args.shard {
        ingest::shard_sources(&mut config.sources, shard);
    }
    let control = Arc::new(config.control(started));
    install_signal_handler(&control);
    let options = RunOptions {
        out_dir: args.out,
        seed: args.seed,
        progress: !args.no_progress,
        strict: args.strict,
        state: args.state,
        state_write: args.state_write,
        stdout: args.stdout,
        format: args.format,
        omitted_fields: Default::default(),
        started,
        shard: args.shard,
    };
    match ingest::run(&config, &options, &control) {
        Ok(report) => {
            let table = report.end_table();
            match report.records_on_stdout {
                // stdout carries the records and nothing else.
                true => cli::say_on_stderr(&table),
                false => cli::say(&table),
            }
            report.status.into()
        }
        Err(e) => {
            log::error!(event = "abort", error:% = e; "");
            eprintln!("ingest: {e}");
            ExitCode::from(&e)
        }
    }
}

/// `ingest tap`: the Singer tap Meltano runs (SPEC §15). `--version`,
/// `--about` and `--discover` answer and extract nothing; otherwise the
/// run is `ingest run --format singer` over the catalog's selection,
/// reading `--state` and never writing it.
fn tap(args: cli::TapArgs, started: Instant) -> ExitCode {
    let usage = |what: &str| {
        eprintln!("ingest: {what}. Run ingest tap --help for usage.");
        ExitCode::Usage
    };
    if args.version {
        cli::say(&format!("ingest {}\n", env!("CARGO_PKG_VERSION")));
        return ExitCode::Complete;
    }
    let as_json = match args.format.as_deref() {
        None | Some("markdown") => false,
        Some("json") => true,
        Some(other) => {
            return usage(&format!(
                "--format: expected json or markdown, found {other:?}"
            ))
        }
    };
    if args.about {
        cli::say(&ingest::tap::about(as_json));
        return ExitCode::Complete;
    }
    if args.format.is_some() {
        return usage("--format goes with --about");
    }
    ingest::init_logging(false);
    let Some(settings) = &args.config else {
        return usage("tap needs --config SETTINGS.json");
    };
    // A catalog needs the config's shape, not its secrets.
    let secrets = !args.discover;
    let settings =
        match ingest::tap::Settings::load(settings, &ingest::tap::project_root(), secrets) {
            Ok(settings) => settings,
            Err(e) => {
                eprintln!("ingest: config error: {e}");
                return ExitCode::Usage;
            }
        };
    let mut config = settings.config;
    if args.discover {
        let catalog = ingest::tap::catalog(&config);
        cli::say(&format!("{catalog:#}\n"));
        return ExitCode::Complete;
    }
    let catalog = match (&args.catalog, &args.properties) {
        (Some(_), Some(_)) => return usage("--catalog and --properties are one option: give one"),
        (catalog, properties) => catalog.as_ref().or(properties.as_ref()),
    };
    let mut omitted_fields = Default::default();
    if let Some(path) = catalog {
        match ingest::tap::apply_catalog(&mut config, path) {
            Ok(omitted) => omitted_fields = omitted,
            Err(e) => {
                eprintln!("ingest: catalog {}: {e}", path.display());
                return ExitCode::Usage;
            }
        }
    }
    if config.sources.is_empty() {
        log::warn!(event = "nothing_selected", note = "the catalog selects no stream: nothing extracted"; "");
        return ExitCode::Complete;
    }
    // A cleared state, as an orchestrator may hand it over: a first run.
    let state = args.state.filter(|s| !ingest::tap::is_empty_state(s));
    if let Some(deadline) = settings.deadline {
        config.set_deadline(deadline, DeadlineFrom::TapSetting);
    }
    let control = Arc::new(config.control(started));
    install_signal_handler(&control);
    let options = RunOptions {
        out_dir: settings.out,
        progress: false,
        strict: args.strict,
        state,
        state_write: false,
        format: ingest::Format::Singer,
        omitted_fields,
        started,
        ..RunOptions::default()
    };
    match ingest::run(&config, &options, &control) {
        Ok(report) => {
            cli::say_on_stderr(&report.end_table());
            let (code, warning) = ingest::tap::exit_code(&report, args.strict);
            if let Some(warning) = warning {
                cli::say_on_stderr(&format!("{warning}\n"));
            }
            code
        }
        Err(e) => {
            log::error!(event = "abort", error:% = e; "");
            eprintln!("ingest: {e}");
            ExitCode::from(&e)
        }
    }
}

/// `ingest check`: the first page of each source, reported; nothing is
/// written.
fn check(args: cli::CheckArgs, started: Instant) -> ExitCode {
    ingest::init_logging(false);
    let (mut config, _demo) = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(config) => (config, None),
            Err(e) => {
                eprintln!("ingest: config error: {e}");
                return ExitCode::Usage;
            }
        },
        None => match demo::demo(42) {
            Ok((config, server)) => (config, Some(server)),
            Err(e) => {
                log::error!(event = "demo_failed", error:% = e; "");
                return ExitCode::Internal;
            }
        },
    };
    if let Err(e) = ingest::select_sources(&mut config.sources, &args.source) {
        eprintln!("ingest: {e}");
        return ExitCode::Usage;
    }
    let control = Arc::new(config.control(started));
    install_signal_handler(&control);
    let reports = ingest::check(&config, &control);
    cli::say(&ingest::render_check(&reports));
    ingest::check_exit_code(&reports)
}

/// `ingest discover URL`: a config from at most 3 requests, on stdout;
/// the reasoning on stderr.
fn discover(args: cli::DiscoverArgs, started: Instant) -> ExitCode {
    ingest::init_logging(false);
    let args = ingest::discover::DiscoverArgs {
        url: args.url,
        name: args.name,
        headers: args.header,
        query: args.query,
        items_path: args.items_path,
        graphql: args.graphql,
        interval: discover_interval(),
    };
    let plan = match ingest::discover::plan(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("ingest: {e}");
            return ExitCode::Usage;
        }
    };
    let control = Arc::new(plan.probe.control(started));
    install_signal_handler(&control);
    let found = ingest::discover::discover(&plan, &control, &mut |line| {
        cli::say_on_stderr(&format!("{line}\n"));
    });
    if let Some(config) = &found.config {
        let text = serde_json::to_string_pretty(config).unwrap_or_default();
        cli::say(&format!("{text}\n"));
    }
    found.code
}

/// Time between discover's requests: 1 s, as SPEC §14 says
/// (`INGEST_DISCOVER_INTERVAL_MS` sets another, so that the tests of
/// every mock API need not wait a second between requests).
fn discover_interval() -> std::time::Duration {
    let ms = std::env::var("INGEST_DISCOVER_INTERVAL_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(1000);
    std::time::Duration::from_millis(ms)
}

/// First Ctrl-C/SIGTERM: stop gracefully. Second: exit at once.
/// Signals this close to the first are the same interrupt, sent twice
/// (`INGEST_SAME_SIGNAL_MS` sets another window: the tests of a second
/// Ctrl-C during the outputs' finalization set 0).
fn same_signal() -> std::time::Duration {
    let ms = std::env::var("INGEST_SAME_SIGNAL_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(300);
    std::time::Duration::from_millis(ms)
}

fn install_signal_handler(control: &Arc<RunControl>) {
    let control = Arc::clone(control);
    let count = AtomicU32::new(0);
    let first = std::sync::OnceLock::new();
    let same_signal = same_signal();
    let installed = ctrlc::set_handler(move || {
        // One event that came as two signals is no "second Ctrl-C":
        // `timeout` and process managers send SIGTERM to the process and
        // to its group at once. A person's second Ctrl-C comes later.
        let at = Instant::now();
        let since_first = first.get_or_init(|| at);
        if count.fetch_add(1, Ordering::SeqCst) == 0 {
            log::warn!(event = "interrupt", note = "stopping; press Ctrl-C again to exit at once"; "");
            control.interrupt();
        } else if at.duration_since(*since_first) < same_signal {
            count.fetch_sub(1, Ordering::SeqCst);
        } else {
            // Removes the temporary files and exits; renames in progress
            // finish first, so the outputs are the previous run's or
            // this run's, whole.
            ingest::exit_now(ExitCode::Interrupted.code().into());
        }
    });
    if let Err(e) = installed {
        log::warn!(event = "no_signal_handler", error:% = e; "");
    }
}
