//! The built-in demo's mock APIs: started in-process by `ingest run`
//! without `--config`, or served stand-alone by `ingest serve-mock`.

use testsupport::{MockServer, Scenario};

use ingest::{Config, ExitCode};

use crate::cli::{say, ServeMockArgs};

/// Largest `--items-per-page` of `serve-mock`.
const MAX_MOCK_ITEMS_PER_PAGE: usize = 10_000;
/// Largest number of items per mock source: the mock holds its pages in
/// memory (about 160 bytes an item), so this keeps three sources near 1 GB.
const MAX_MOCK_ITEMS_PER_SOURCE: usize = 2_000_000;

/// Pages and items per page of the demo.
const DEMO_PAGES: usize = 10;
const DEMO_ITEMS_PER_PAGE: usize = 20;

/// Starts the demo's mock APIs and builds their config with every default.
pub fn demo(seed: u64) -> Result<(Config, MockServer), Box<dyn std::error::Error>> {
    let server = MockServer::start(Scenario::demo(seed, DEMO_PAGES, DEMO_ITEMS_PER_PAGE))?;
    let config = Config::parse("demo config", &server.config_json().to_string())?;
    log::info!(
        event = "demo", url = server.base_url(), sources = config.sources.len() as u64,
        note = "no --config given: ingesting from the built-in mock APIs"; ""
    );
    Ok((config, server))
}

/// Writes the config whole under `path` (a temporary file renamed), so a
/// command reading it never sees half of it.
fn write_config(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
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

/// `ingest serve-mock`: serves the mock APIs until Ctrl-C.
pub fn serve_mock(args: ServeMockArgs) -> ExitCode {
    ingest::init_logging(false);
    if let Err(message) = check_mock_size(args.pages, args.items_per_page) {
        eprintln!("ingest: {message}");
        return ExitCode::Usage;
    }
    if let Err(e) = std::net::ToSocketAddrs::to_socket_addrs(args.addr.as_str()) {
        eprintln!(
            "ingest: --addr: expected HOST:PORT (e.g. 127.0.0.1:8080), found {:?}: {e}",
            args.addr
        );
        return ExitCode::Usage;
    }
    let Some(scenario) =
        Scenario::named(&args.scenario, args.seed, args.pages, args.items_per_page)
    else {
        eprintln!(
            "ingest: --scenario: expected one of {}, found {:?}",
            Scenario::NAMES.join(", "),
            args.scenario
        );
        return ExitCode::Usage;
    };
    let server = match MockServer::start_on(&args.addr, scenario) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("ingest: cannot serve on {}: {e}", args.addr);
            return ExitCode::Internal;
        }
    };
    let config = server.config_json();
    let pretty = serde_json::to_string_pretty(&config).unwrap_or_default() + "\n";
    // The config first, so that the next command can use it at once.
    match &args.write_config {
        Some(path) => {
            if let Err(e) = write_config(path, &pretty) {
                eprintln!("ingest: --write-config {}: {e}", path.display());
                return ExitCode::Internal;
            }
        }
        None => say(&pretty),
    }
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
    match &args.write_config {
        Some(path) => text += &format!("Config for `ingest run --config`: {}\n", path.display()),
        None => text += "Config for `ingest run --config FILE`: on stdout\n",
    }
    text += "Faults happen once per page and attempt: restart serve-mock to have them again.\n";
    text += "Press Ctrl-C to stop.\n";
    eprint!("{text}");
    let (tx, rx) = crossbeam_channel::bounded::<()>(1);
    if let Err(e) = ctrlc::set_handler(move || {
        let _ = tx.try_send(());
    }) {
        eprintln!("ingest: cannot install the Ctrl-C handler: {e}");
        return ExitCode::Internal;
    }
    let _ = rx.recv();
    server.stop();
    ExitCode::Complete
}
