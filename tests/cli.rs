use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Style};

use crate::support::OutDir;

/// The binary with `args`, logging warnings only.
pub(crate) fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ingest"));
    command.args(args).env("RUST_LOG", "warn");
    command
}

fn ingest(args: &[&str]) -> Output {
    command(args).output().expect("run the ingest binary")
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Writes `config` into `dir`: the `ingest run` command for it, with its
/// outputs going to `dir/out`.
pub(crate) fn run_command(dir: &Path, config: &Value) -> Command {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.join("ingest.json");
    std::fs::write(&file, config.to_string()).unwrap();
    let out = dir.join("out");
    command(&[
        "run",
        "--no-progress",
        "--config",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// A mock with one `page` source of 2 pages of 3 items.
fn two_page_mock() -> MockServer {
    MockServer::start(Scenario::new(1).with(MockSource::new("alpha", Style::Page, 2, 3))).unwrap()
}

/// `summary.json` in `out`, after checking the accounting identity (per
/// source and in totals) and, where this run wrote `records.jsonl`, that
/// it holds one line per record.
pub(crate) fn summary_in(out: &Path) -> Value {
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    crate::support::assert_identity(&summary);
    let records = out.join("records.jsonl");
    if records.is_file() {
        let lines = std::fs::read_to_string(records).unwrap().lines().count();
        assert_eq!(Some(lines as u64), summary["totals"]["records"].as_u64());
    }
    summary
}

/// Runs `ingest run --config` on `config` written into `dir`.
fn run_config(dir: &Path, config: &Value) -> Output {
    run_command(dir, config)
        .output()
        .expect("run the ingest binary")
}

/// Every config error: exit 2, one message naming the file, the key path
/// and what was expected, and not a single request sent.
#[test]
fn each_config_error_names_file_key_and_expectation_and_fetches_nothing() {
    let server = two_page_mock();
    let good = server.config_json()["sources"][0].clone();
    let with_source = |patch: Value| {
        let mut s = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!({ "sources": [s] })
    };
    let with_top = |key: &str, value: Value| {
        let mut c = json!({ "sources": [good.clone()] });
        c[key] = value;
        c
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (with_top("rate_limt", json!({})), "rate_limt", "unknown key"),
        (
            with_top("rate_limit", json!({"per_second": 0})),
            "rate_limit.per_second",
            "expected",
        ),
        (
            with_top("rate_limit", json!({"per_second": -1})),
            "rate_limit.per_second",
            "expected",
        ),
        (
            with_top("rate_limit", json!({"burst": "5"})),
            "rate_limit.burst",
            "expected",
        ),
        (with_top("batch_size", json!(0)), "batch_size", "expected"),
        (
            with_top("queue_capacity", json!(-3)),
            "queue_capacity",
            "expected",
        ),
        (with_top("deadline_ms", json!(0)), "deadline_ms", "expected"),
        (
            with_top("retry", json!({"base_delay_ms": 500, "max_delay_ms": 100})),
            "max_delay_ms",
            "expected",
        ),
        (
            with_top("max_body_bytes", json!(1.5)),
            "max_body_bytes",
            "expected",
        ),
        (json!({ "sources": [] }), "sources", "expected"),
        (json!({ "rate_limit": {} }), "sources", "expected"),
        (
            json!({ "sources": [good.clone(), good.clone()] }),
            "sources[1].name",
            "duplicate source name",
        ),
        (
            with_source(json!({"name": "has space"})),
            "sources[0].name",
            "expected",
        ),
        (
            with_source(json!({"url": "ftp://127.0.0.1/x"})),
            "sources[0].url",
            "expected",
        ),
        (
            with_source(json!({"pagination": {"style": "cursor"}})),
            "sources[0].pagination.cursor_path",
            "expected",
        ),
        (
            with_source(json!({"pagination": {"style": "page", "cursor_path": "x"}})),
            "sources[0].pagination.cursor_path",
            "unknown key",
        ),
        (
            with_source(json!({"pagination": {"style": "scroll"}})),
            "sources[0].pagination.style",
            "unknown style",
        ),
        (
            with_source(json!({"headers": {"Authorization": "env:INGEST_TEST_SURELY_UNSET"}})),
            "sources[0].headers.Authorization",
            "INGEST_TEST_SURELY_UNSET",
        ),
        (
            with_source(json!({"fields": {"sku": "id"}})),
            "sources[0].fields.sku",
            "unknown key",
        ),
    ];
    for (i, (config, key, gist)) in cases.iter().enumerate() {
        let dir = OutDir::new();
        let o = run_config(&dir.0, config);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "case {i} ({key}): {err}");
        assert!(
            err.contains("ingest.json"),
            "case {i}: names the file: {err}"
        );
        assert!(err.contains(key), "case {i}: names {key}: {err}");
        assert!(err.contains(gist), "case {i}: says {gist:?}: {err}");
        assert!(
            !dir.0.join("out").join("summary.json").exists(),
            "case {i}: nothing written"
        );
    }
    assert!(
        server.requests().is_empty(),
        "a config error fetches nothing"
    );
}

/// A config file is read only up to 16 MiB: `/dev/zero` is an error, not
/// a full memory.
#[test]
fn an_endless_config_file_is_refused() {
    let o = ingest(&["run", "--config", "/dev/zero"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("at most 16 MiB"), "{}", stderr(&o));
}

#[test]
fn invalid_json_and_missing_file_exit_2() {
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let file = dir.0.join("broken.json");
    std::fs::write(&file, "{\"sources\": [").unwrap();
    let o = ingest(&["run", "--config", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("broken.json: not valid JSON"),
        "{}",
        stderr(&o)
    );
    let o = ingest(&[
        "run",
        "--config",
        dir.0.join("absent.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("absent.json"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2_and_help_and_version_exit_0() {
    for bad in [
        &["run", "--bogus"][..],
        &["run", "--deadline", "soon"],
        &["run", "--deadline", "1e-12"],
        &["run", "--deadline", "0.0001"],
        &["run", "--deadline", "inf"],
        &["run", "--out", ""],
        &["serve-mock", "--items-per-page", "0"],
        &["serve-mock", "--items-per-page", "10001"],
        &["serve-mock", "--pages", "18446744073709551615"],
        &["serve-mock", "--pages", "2000001", "--items-per-page", "1"],
        &["serve-mock", "--addr", "127.0.0.1:99999"],
        &["serve-mock", "--addr", "garbage"],
        &["serve-mock", "--scenario", "storm"],
        &["frobnicate"],
        &[],
    ] {
        let o = ingest(bad);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stderr(&o));
    }
    let o = ingest(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("ingest {}", env!("CARGO_PKG_VERSION"))
    );
    for (args, flags) in [
        (&["--help"][..], &["run", "serve-mock", "--version"][..]),
        (
            &["run", "--help"],
            &[
                "--config",
                "--out",
                "--no-progress",
                "--log-json",
                "--seed",
                "--deadline",
            ],
        ),
        (
            &["serve-mock", "--help"],
            &[
                "--addr",
                "--seed",
                "--scenario",
                "--pages",
                "--items-per-page",
            ],
        ),
    ] {
        let o = ingest(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let help = String::from_utf8_lossy(&o.stdout);
        for flag in flags {
            assert!(help.contains(flag), "{args:?} lists {flag}: {help}");
        }
        if args.len() > 1 {
            assert!(
                help.matches("default").count() >= flags.len() - 2,
                "{args:?} gives defaults: {help}"
            );
        }
    }
}

#[test]
fn an_unwritable_out_dir_exits_1_before_fetching() {
    let server = two_page_mock();
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let blocker = dir.0.join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let config = dir.0.join("c.json");
    std::fs::write(&config, server.config_json().to_string()).unwrap();
    let o = ingest(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--out",
        blocker.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("output"), "{}", stderr(&o));
    // Either output's name taken by a directory is found before fetching.
    for name in ["records.jsonl", "summary.json"] {
        let out = dir.0.join(format!("taken-{name}"));
        std::fs::create_dir_all(out.join(name).join("in-the-way")).unwrap();
        let o = ingest(&[
            "run",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("is a directory"), "{}", stderr(&o));
    }
    assert!(server.requests().is_empty(), "nothing fetched");
}

/// `ingest run` without a config is the demo: exit 0, both files, and the
/// end table on stdout.
#[test]
fn the_demo_completes_with_both_outputs_and_the_end_table() {
    let dir = OutDir::new();
    let out = dir.0.join("out");
    let o = ingest(&["run", "--no-progress", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary = summary_in(&out);
    assert_eq!(summary["status"], "complete");
    let t = &summary["totals"];
    assert!(
        t["retries"].as_u64().unwrap() > 0,
        "the demo exercises retries"
    );
    assert!(t["invalid"].as_u64().unwrap() > 0 && t["duplicates"].as_u64().unwrap() > 0);
    let table = String::from_utf8_lossy(&o.stdout);
    for word in [
        "alpha",
        "beta",
        "gamma",
        "total",
        "records.jsonl",
        "summary.json",
        "p95",
    ] {
        assert!(table.contains(word), "end table shows {word}: {table}");
    }
    assert!(
        !stderr(&o).contains('\x1b'),
        "no terminal: no bar escape codes"
    );
}

/// Spawns `ingest` with piped output.
pub(crate) fn spawn(mut command: Command) -> std::process::Child {
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends `sig` (`-TERM`, `-INT`) to `child`.
pub(crate) fn signal(child: &std::process::Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// `serve-mock` prints its URLs and a config that `run --config` ingests
/// completely, and stops cleanly on Ctrl-C.
#[test]
fn serve_mock_prints_a_config_that_run_ingests_and_stops_on_ctrl_c() {
    use std::io::{BufRead, BufReader};
    let mut server = spawn(command(&[
        "serve-mock",
        "--addr",
        "127.0.0.1:0",
        "--scenario",
        "clean",
        "--pages",
        "3",
    ]));
    // stderr says what is served and how to stop; stdout holds the
    // config alone.
    let mut stderr_lines = BufReader::new(server.stderr.take().unwrap());
    let mut text = String::new();
    while !text.contains("Press Ctrl-C") {
        assert!(
            stderr_lines.read_line(&mut text).unwrap() > 0,
            "serve-mock ended early: {text}"
        );
    }
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut json = String::new();
    while !json.starts_with("{\n") || !json.ends_with("\n}\n") {
        assert!(stdout.read_line(&mut json).unwrap() > 0, "config: {json}");
    }
    let config: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    for name in ["alpha", "beta", "gamma"] {
        assert!(text.contains(name), "lists {name}: {text}");
    }
    let dir = OutDir::new();
    let o = run_config(&dir.0, &config);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary = summary_in(&dir.0.join("out"));
    assert_eq!(
        summary["totals"]["pages"],
        3 * 3 + 1,
        "3 pages per source, and page style's 204"
    );
    signal(&server, "-INT");
    assert_eq!(server.wait().unwrap().code(), Some(0));
}

/// Ctrl-C and SIGTERM: the run stops promptly, writes both files for
/// everything received, and exits 130 with status `interrupted`.
#[test]
fn ctrl_c_and_sigterm_stop_a_run_with_both_outputs_and_exit_130() {
    let scenario = Scenario::new(9).with(MockSource::new("slow", Style::Page, 500, 10));
    let server = MockServer::start(scenario).unwrap();
    for sig in ["-INT", "-TERM"] {
        let dir = OutDir::new();
        let mut config = server.config_json();
        config["rate_limit"] = json!({ "per_second": 20, "burst": 1 });
        let out = dir.0.join("out");
        let before = server.requests().len();
        let mut child = spawn(run_command(&dir.0, &config));
        let started = std::time::Instant::now();
        while server.requests().len() < before + 5 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "the run never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let sent = std::time::Instant::now();
        signal(&child, sig);
        let status = child.wait().unwrap();
        assert!(
            sent.elapsed() < std::time::Duration::from_secs(3),
            "{sig}: stopped promptly"
        );
        assert_eq!(status.code(), Some(130), "{sig}");
        let summary = summary_in(&out);
        assert_eq!(summary["status"], "interrupted", "{sig}");
        assert_eq!(summary["sources"]["slow"]["status"], "interrupted", "{sig}");
        assert!(summary["totals"]["records"].as_u64() > Some(0), "{sig}");
    }
}

/// `--deadline` overrides `deadline_ms`: against a page that never
/// answers, the run ends at the deadline with both outputs, exit 3, and
/// the summary's config shows the effective deadline.
#[test]
fn the_deadline_flag_cuts_a_hanging_source_and_shows_in_the_summary() {
    let source = MockSource::new("stuck", Style::Page, 3, 4)
        .faults_for_every_attempt(2, testsupport::FaultKind::Hang);
    let server = MockServer::start(Scenario::new(3).with(source)).unwrap();
    let dir = OutDir::new();
    let mut config = server.config_json();
    config["deadline_ms"] = json!(60_000);
    let started = std::time::Instant::now();
    let o = run_command(&dir.0, &config)
        .args(["--deadline", "1.5"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        took < std::time::Duration::from_millis(2500),
        "ended at the deadline + 1 s: {took:?}"
    );
    let summary = summary_in(&dir.0.join("out"));
    assert_eq!(summary["config"]["deadline_ms"], 1500);
    assert_eq!(summary["status"], "partial");
    assert_eq!(summary["sources"]["stuck"]["status"], "deadline");
    assert_eq!(summary["sources"]["stuck"]["records"], 4, "page 1 is kept");
    let reason = summary["sources"]["stuck"]["stop_reason"].as_str().unwrap();
    assert!(
        reason.ends_with("the deadline was --deadline 1.5 (raise it there)"),
        "the stop reason names the flag: {reason}"
    );
}

/// A run stopped by the 60 s default deadline, which nobody chose, says
/// so and how to raise it (a bulk run must not look like the server's
/// fault); here the default is met early by starting the clock a minute
/// ago, as a long run would.
#[test]
fn a_source_stopped_by_the_default_deadline_says_how_to_raise_it() {
    let source = MockSource::new("stuck", Style::Page, 3, 4)
        .faults_for_every_attempt(2, testsupport::FaultKind::Hang);
    let server = MockServer::start(Scenario::new(3).with(source)).unwrap();
    let config = ingest::Config::parse("t", &server.config_json().to_string()).unwrap();
    assert_eq!(config.deadline_from, ingest::DeadlineFrom::Default);
    let control = config.control(Instant::now() - Duration::from_millis(59_300));
    let dir = OutDir::new();
    let options = ingest::RunOptions {
        out_dir: dir.0.join("out"),
        ..ingest::RunOptions::default()
    };
    let report = ingest::run(&config, &options, &control).unwrap();
    let stuck = &report.stats.sources[0];
    assert_eq!(stuck.status.as_str(), "deadline");
    let reason = stuck.stop_reason.as_ref().unwrap().to_string();
    assert!(
        reason.contains("the deadline was the default of 60 s (raise it with --deadline SECS, or deadline_ms in the config)"),
        "{reason}"
    );
    let c = &stuck.counts;
    assert_eq!(c.items, c.records + c.invalid_total() + c.duplicates);
}

/// A failure after fetching began (here: records.jsonl cannot be put in
/// place, because a directory took its name while page 2 was in flight)
/// still writes the summary, with status `failed`, the error, and every
/// count; the exit code is 1.
#[test]
fn an_internal_failure_still_writes_the_summary_and_exits_1() {
    let slow_page = testsupport::FaultKind::Delay(Duration::from_secs(3));
    let server = MockServer::start(
        Scenario::new(1).with(MockSource::new("alpha", Style::Page, 2, 3).fault(2, 1, slow_page)),
    )
    .unwrap();
    let dir = OutDir::new();
    let child = spawn(run_command(&dir.0, &server.config_json()));
    let asked = Instant::now();
    while !server.requests().iter().any(|r| r.page == 2) {
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "page 2 never requested"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::fs::create_dir_all(dir.0.join("out/records.jsonl/in-the-way")).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("records: not written"), "{table}");
    let summary = summary_in(&dir.0.join("out"));
    assert_eq!(summary["status"], "failed");
    assert!(
        summary["error"].as_str().unwrap().contains("records.jsonl"),
        "{}",
        summary["error"]
    );
    let t = &summary["totals"];
    assert_eq!(t["items"], 6, "everything fetched is still counted: {t}");
}

/// SPEC §3: secrets are never written anywhere, logs included, not even by
/// the HTTP stack's own lines under `RUST_LOG=trace` (which show URLs and
/// header bytes ingest cannot redact, so they are held back).
#[test]
fn secrets_stay_out_of_the_logs_even_at_trace_level() {
    let server = two_page_mock();
    let mut source = server.config_json()["sources"][0].clone();
    let url = format!("{}?api_key=QUERYSECRET", source["url"].as_str().unwrap());
    source["url"] = json!(url);
    source["headers"] =
        json!({"Authorization": "env:INGEST_TEST_TOKEN", "X-Api-Key": "HEADERSECRET"});
    let dir = OutDir::new();
    for json_logs in [false, true] {
        let mut command = run_command(&dir.0, &json!({ "sources": [source] }));
        if json_logs {
            command.arg("--log-json");
        }
        let o = command
            .env("RUST_LOG", "trace")
            .env("INGEST_TEST_TOKEN", "ENVSECRET")
            .output()
            .expect("run the ingest binary");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{err}");
        assert!(err.contains("event=request"), "trace lines are on: {err}");
        let summary = summary_in(&dir.0.join("out")).to_string();
        for secret in ["QUERYSECRET", "HEADERSECRET", "ENVSECRET"] {
            assert!(!err.contains(secret), "{secret} in the log:\n{err}");
            assert!(!summary.contains(secret), "{secret} in the summary");
        }
    }
    let sent = server.requests();
    assert!(sent.iter().any(|r| r.path.contains("api_key=QUERYSECRET")));
}

/// SPEC §3 `query`: every request of every style that derives its pages
/// from the start URL carries the parameters (an `env:` one included),
/// and the `env:` value, a secret, is in no log line and nowhere in the
/// summary, even at trace level.
#[test]
fn query_parameters_ride_on_every_request_and_env_values_stay_secret() {
    const SECRET: &str = "Q5ecret-from-env";
    let scenario = Scenario::new(3)
        .with(MockSource::new("pages", Style::Page, 3, 2))
        .with(MockSource::new("offsets", Style::Offset, 3, 2))
        .with(MockSource::new("cursors", Style::Cursor, 3, 2));
    let server = MockServer::start(scenario).unwrap();
    let mut config = server.config_json();
    for source in config["sources"].as_array_mut().unwrap() {
        // `lang` replaces the one in the URL; `sig` is not a secret name.
        let url = format!("{}?lang=de", source["url"].as_str().unwrap());
        source["url"] = json!(url);
        source["query"] = json!({"lang": "en", "sig": "env:INGEST_TEST_QUERY_SIG"});
    }
    let dir = OutDir::new();
    let o = run_command(&dir.0, &config)
        .env("RUST_LOG", "trace")
        .env("INGEST_TEST_QUERY_SIG", SECRET)
        .output()
        .expect("run the ingest binary");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("event=request"), "trace lines are on: {err}");
    assert!(
        err.contains("sig=***"),
        "request URLs are shown redacted: {err}"
    );
    let summary = summary_in(&dir.0.join("out"));
    let text = summary.to_string();
    assert!(!err.contains(SECRET), "the secret in the log:\n{err}");
    assert!(!text.contains(SECRET), "the secret in the summary: {text}");
    assert_eq!(
        summary["config"]["sources"][0]["query"],
        json!({"lang": "en", "sig": "***"})
    );
    let sent = server.requests();
    for name in ["pages", "offsets", "cursors"] {
        let paths: Vec<&str> = sent
            .iter()
            .filter(|r| r.source == name)
            .map(|r| r.path.as_str())
            .collect();
        assert!(paths.len() >= 3, "{name}: {paths:?}");
        for path in &paths {
            assert!(
                path.contains("lang=en") && !path.contains("lang=de"),
                "{name}: {path}"
            );
            assert!(path.contains(&format!("sig={SECRET}")), "{name}: {path}");
        }
        assert_eq!(summary["sources"][name]["status"], "complete", "{name}");
    }
}

/// A closed stdout (`ingest run | true`) neither panics nor changes the
/// exit code: the outputs are files, the end table only a courtesy.
#[test]
fn a_closed_stdout_changes_nothing() {
    let server = two_page_mock();
    let dir = OutDir::new();
    for args in [None, Some("--help")] {
        let mut command = match args {
            None => run_command(&dir.0, &server.config_json()),
            Some(flag) => command(&[flag]),
        };
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    assert_eq!(summary_in(&dir.0.join("out"))["status"], "complete");
}

/// A second Ctrl-C exits at once, with 130, and leaves no temporary file
/// behind (a previous run's outputs, if any, stay as they were).
#[test]
fn a_second_ctrl_c_exits_at_once_without_leaving_temp_files() {
    let scenario = Scenario::new(9).with(MockSource::new("slow", Style::Page, 500, 10));
    let server = MockServer::start(scenario).unwrap();
    let dir = OutDir::new();
    let mut config = server.config_json();
    config["rate_limit"] = json!({ "per_second": 20, "burst": 1 });
    let mut child = spawn(run_command(&dir.0, &config));
    let started = Instant::now();
    while server.requests().len() < 3 {
        assert!(started.elapsed() < Duration::from_secs(10), "never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A person's second Ctrl-C: later than a process manager's double
    // signal, which is one interrupt.
    let status = Command::new("sh")
        .args([
            "-c",
            &format!("kill -INT {0}; sleep 0.5; kill -INT {0}", child.id()),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let left: Vec<String> = std::fs::read_dir(dir.0.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// Temporary output files that killed runs left in `--out` are removed at
/// start, with a log line, once their process is gone; a live process's
/// (here: the test's own) and every other name are kept.
#[test]
fn stale_temporary_files_of_dead_runs_are_removed_at_start() {
    if !Path::new("/proc/self").exists() {
        println!("skipped: no /proc to tell which processes are alive");
        return;
    }
    let server = two_page_mock();
    let dir = OutDir::new();
    let out = dir.0.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let live = std::process::id();
    let stale = [
        format!(".records.jsonl.{dead}.tmp"),
        format!(".summary.json.{dead}.tmp"),
        format!(".rejected.jsonl.{dead}.tmp"),
    ];
    let kept = [
        format!(".records.jsonl.{live}.tmp"),
        format!(".summary.json.{live}.tmp"),
        format!(".records.jsonl.{dead}.tmp.bak"),
        format!(".state.json.{dead}.tmp"),
        format!("records.jsonl.{dead}.tmp"),
        "notes.txt".to_string(),
    ];
    for name in stale.iter().chain(&kept) {
        std::fs::write(out.join(name), "left over").unwrap();
    }
    let o = run_command(&dir.0, &server.config_json())
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    for name in &stale {
        assert!(!out.join(name).exists(), "{name} is stale and still there");
        let said = err
            .lines()
            .any(|l| l.contains("event=stale_temp_removed") && l.contains(name.as_str()));
        assert!(said, "no log line for {name}:\n{err}");
    }
    for name in &kept {
        assert_eq!(
            std::fs::read_to_string(out.join(name)).ok().as_deref(),
            Some("left over"),
            "{name} must be kept"
        );
    }
    assert_eq!(summary_in(&out)["status"], "complete");
}

/// The previous run's outputs, as a second Ctrl-C may have to leave them.
const PREVIOUS: [(&str, &str); 3] = [
    ("records.jsonl", "{\"previous\": \"records\"}\n"),
    ("rejected.jsonl", "{\"previous\": \"rejected\"}\n"),
    ("summary.json", "{\"previous\": \"summary\"}\n"),
];

/// When a test sends the second Ctrl-C of a double Ctrl-C.
#[derive(Debug, Clone, Copy)]
enum Second {
    /// This long after the first.
    After(Duration),
    /// As soon as a file of `out` changes: `records.jsonl` replaced, or a
    /// summary's temporary file appearing — the moments between the
    /// outputs' renames.
    OnChange(&'static str),
}

/// What the output directory holds after a double Ctrl-C: unless both
/// signals landed too late to matter, every final name holds the
/// previous run's file, or every one holds this run's (records and
/// rejected items that the summary accounts for); never a mix, and never
/// a temporary file.
fn check_pair(out: &Path) -> Result<&'static str, String> {
    let names: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    if let Some(tmp) = names.iter().find(|n| n.ends_with(".tmp")) {
        return Err(format!("temporary file left: {tmp} (in {names:?})"));
    }
    let text = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let old: Vec<bool> = PREVIOUS.iter().map(|(n, t)| text(n) == *t).collect();
    if old.iter().all(|&o| o) {
        return Ok("previous");
    }
    if old.iter().any(|&o| o) {
        let which: Vec<&str> = PREVIOUS
            .iter()
            .zip(&old)
            .map(|((n, _), o)| if *o { "previous" } else { n })
            .collect();
        return Err(format!(
            "a mix of this run's and the previous run's outputs: {which:?}"
        ));
    }
    let summary: Value =
        serde_json::from_str(&text("summary.json")).map_err(|e| format!("summary.json: {e}"))?;
    let lines = |name: &str| text(name).lines().count() as u64;
    let totals = &summary["totals"];
    if Some(lines("records.jsonl")) != totals["records"].as_u64()
        || Some(lines("rejected.jsonl")) != totals["invalid"].as_u64()
    {
        return Err(format!(
            "the files are not the ones the summary counts: {totals}"
        ));
    }
    Ok("this run's")
}

/// Issue 13: a second Ctrl-C landing while the outputs are finalized can
/// neither leave a temporary file behind nor put this run's records
/// beside the previous run's summary. Repeated with the second signal at
/// many moments, some aimed at the instants between the outputs' renames.
#[test]
fn a_second_ctrl_c_while_finalizing_leaves_one_whole_pair() {
    use std::os::unix::fs::MetadataExt;
    let scenario = Scenario::new(9).with(MockSource::new("many", Style::Page, 400, 50));
    let server = MockServer::start(scenario).unwrap();
    let mut config = server.config_json();
    config["rate_limit"] = json!({ "per_second": 1000, "burst": 100 });
    config["keep_rejected"] = json!(true);
    config["queue_capacity"] = json!(10_000);
    let mut seconds: Vec<Second> = (0..12)
        .map(|i| Second::After(Duration::from_micros(500 * i)))
        .collect();
    for _ in 0..4 {
        seconds.push(Second::OnChange("records.jsonl"));
        seconds.push(Second::OnChange(".summary.json."));
    }
    let started = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    for (round, second) in seconds.into_iter().enumerate() {
        let dir = OutDir::new();
        let out = dir.0.join("out");
        std::fs::create_dir_all(&out).unwrap();
        for (name, text) in PREVIOUS {
            std::fs::write(out.join(name), text).unwrap();
        }
        let records_ino = std::fs::metadata(out.join("records.jsonl")).unwrap().ino();
        let before = server.requests().len();
        // Every second signal counts, however soon after the first.
        let mut command = run_command(&dir.0, &config);
        command.env("INGEST_SAME_SIGNAL_MS", "0");
        let mut child = spawn(command);
        while server.requests().len() < before + 20 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "round {round}: never started"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        signal(&child, "-INT");
        match second {
            Second::After(d) => std::thread::sleep(d),
            Second::OnChange(name) => {
                let asked = Instant::now();
                while asked.elapsed() < Duration::from_secs(5) {
                    let changed = match name {
                        "records.jsonl" => {
                            std::fs::metadata(out.join(name)).is_ok_and(|m| m.ino() != records_ino)
                        }
                        prefix => std::fs::read_dir(&out)
                            .unwrap()
                            .any(|e| e.unwrap().file_name().to_string_lossy().starts_with(prefix)),
                    };
                    if changed || child.try_wait().unwrap().is_some() {
                        break;
                    }
                }
            }
        }
        let _ = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        let waited = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if waited.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("round {round} ({second:?}): still running 10 s after a double Ctrl-C");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let o = child.wait_with_output().unwrap();
        assert_eq!(
            status.code(),
            Some(130),
            "round {round} ({second:?}): {}",
            stderr(&o)
        );
        match check_pair(&out) {
            Ok(which) => seen.push(format!("{second:?}: {which}")),
            Err(problem) => panic!("round {round} ({second:?}): {problem}\n{}", stderr(&o)),
        }
    }
    println!("{seen:#?}");
}

/// A proxy from the environment is never used for loopback URLs (it could
/// only reach its own loopback): with `HTTP_PROXY` pointing nowhere, a run
/// against the local mock still completes.
#[test]
fn an_environment_proxy_is_bypassed_for_loopback() {
    let server = two_page_mock();
    let dir = OutDir::new();
    let o = run_command(&dir.0, &server.config_json())
        .env("HTTP_PROXY", "http://127.0.0.1:1")
        .env("ALL_PROXY", "http://127.0.0.1:1")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(server.requests().len(), 3, "pages 1, 2 and the end");
    assert_eq!(summary_in(&dir.0.join("out"))["totals"]["items"], 6);
}

/// `keep_rejected` under SIGTERM: rejected.jsonl is committed whole like
/// the records (every line JSON, one per invalid item counted), and no
/// temporary file is left behind.
#[test]
fn rejected_items_are_whole_after_an_interrupt() {
    let scenario = Scenario::new(9).with(MockSource::new("slow", Style::Page, 500, 10));
    let server = MockServer::start(scenario).unwrap();
    let dir = OutDir::new();
    let mut config = server.config_json();
    config["rate_limit"] = json!({ "per_second": 50, "burst": 1 });
    config["keep_rejected"] = json!(true);
    let out = dir.0.join("out");
    let mut child = spawn(run_command(&dir.0, &config));
    let started = std::time::Instant::now();
    while server.requests().len() < 10 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    signal(&child, "-TERM");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let summary = summary_in(&out);
    let text = std::fs::read_to_string(out.join("rejected.jsonl")).expect("rejected.jsonl");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(!lines.is_empty());
    assert_eq!(
        lines.len() as u64,
        summary["sources"]["slow"]["invalid"].as_u64().unwrap()
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// The end table shows the pages given up (`lost`) and, under it, why a
/// source did not end cleanly, one line each.
#[test]
fn the_end_table_shows_lost_pages_and_stop_reasons() {
    let scenario = Scenario::new(4)
        .with(
            MockSource::new("pages", Style::Page, 3, 4)
                .faults_for_every_attempt(2, testsupport::FaultKind::Status(500)),
        )
        .with(
            MockSource::new("cursor", Style::Cursor, 3, 4)
                .faults_for_every_attempt(2, testsupport::FaultKind::Status(500)),
        );
    let server = MockServer::start(scenario).unwrap();
    let dir = OutDir::new();
    let mut config = server.config_json();
    config["retry"] = json!({ "max_retries": 0, "base_delay_ms": 1, "max_delay_ms": 1 });
    let o = run_command(&dir.0, &config).output().unwrap();
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    let header = table.lines().next().unwrap_or_default();
    assert!(header.contains("lost"), "{table}");
    let lost_column = header.split_whitespace().position(|h| h == "lost").unwrap();
    for name in ["pages", "cursor"] {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("a row for {name}: {table}"));
        assert_eq!(row.split_whitespace().nth(lost_column), Some("1"), "{row}");
    }
    assert!(
        table.contains("stop_reason: pages: reached the end, but 1 page was given up"),
        "{table}"
    );
    assert!(
        table.contains(
            "stop_reason: cursor: page 2 was given up and this pagination cannot step over it"
        ),
        "{table}"
    );
    let summary = summary_in(&dir.0.join("out"));
    assert!(summary["sources"]["cursor"]["stop_reason"].is_string());
    // The table itself keeps to 80 columns.
    let rows = table.lines().take_while(|l| !l.contains(": "));
    assert!(rows.into_iter().all(|l| l.chars().count() <= 80), "{table}");
}

/// `ingest check`: the first page of each source, reported; exit 0 when
/// every source gave a valid record, 3 otherwise (naming the reason and
/// the keys the items carry, or the keys a wrong items_path missed), 2
/// for a config error; nothing is written.
#[test]
fn check_reports_the_first_page_and_writes_nothing() {
    let scenario = Scenario::new(6)
        .with(MockSource::new("shop", Style::Page, 2, 5))
        .with(
            MockSource::new("gh", Style::LinkHeader, 2, 5).shape(testsupport::Shape::GithubIssues),
        );
    let server = MockServer::start(scenario).unwrap();
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let check = |config: &Value| {
        let path = dir.0.join("check.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let o = command(&["check", "--config"])
            .arg(&path)
            .current_dir(&dir.0)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr(&o),
        )
    };
    let config = server.config_json();
    let mut shop_only = config.clone();
    shop_only["sources"] = json!([config["sources"][0]]);
    let (code, out, err) = check(&shop_only);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("records    ") && out.contains("{\"key\":\"shop:"),
        "{out}"
    );
    assert!(out.contains("next page  http://"), "{out}");
    // GitHub issues under the product schema: no record, the reason named
    // and the keys listed, so the user sees what to declare.
    let (code, out, _) = check(&config);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("missing_price"), "{out}");
    for key in ["number", "title", "state", "user", "labels"] {
        assert!(out.contains(key), "keys list {key}: {out}");
    }
    // A wrong items_path names the keys the body has.
    let mut wrong = shop_only.clone();
    wrong["sources"][0]["items_path"] = json!("items");
    let (code, out, _) = check(&wrong);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("nothing at items_path items") && out.contains("data"),
        "{out}"
    );
    // A config error.
    let (code, _, err) = check(&json!({"sources": []}));
    assert_eq!(code, Some(2), "{err}");
    let written: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, ["check.json"], "check writes nothing");
}

/// Two signals at once are one interrupt, not a "second Ctrl-C":
/// `timeout` and process managers send SIGTERM to the process and to its
/// group together. The run stops as for one signal: exit 130 with its
/// summary and records, never nothing.
#[test]
fn two_signals_at_once_are_one_interrupt_and_the_outputs_are_written() {
    let scenario = Scenario::new(9).with(MockSource::new("slow", Style::Page, 500, 10));
    let server = MockServer::start(scenario).unwrap();
    for round in 0..5 {
        let dir = OutDir::new();
        let mut config = server.config_json();
        config["rate_limit"] = json!({ "per_second": 20, "burst": 1 });
        let before = server.requests().len();
        let mut child = spawn(run_command(&dir.0, &config));
        let started = Instant::now();
        while server.requests().len() < before + 3 {
            assert!(started.elapsed() < Duration::from_secs(10), "never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        let status = Command::new("sh")
            .args(["-c", &format!("kill -TERM {0}; kill -TERM {0}", child.id())])
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(child.wait().unwrap().code(), Some(130), "round {round}");
        let summary = summary_in(&dir.0.join("out"));
        assert_eq!(summary["status"], "interrupted", "round {round}");
        crate::support::assert_identity(&summary);
    }
}
