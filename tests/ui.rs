//! What a person sees: progress bars on a terminal, JSON logs.

use std::process::Command;

use serde_json::Value;

use crate::support::OutDir;

/// Under a pseudo-terminal (util-linux `script`) every source gets a bar
/// that ends in its final state, and the bars are redrawn in place.
#[test]
fn progress_bars_are_drawn_on_a_terminal_and_end_in_each_sources_state() {
    let dir = OutDir::new();
    let out = dir.0.join("out");
    let command = format!(
        "{} run --out {}",
        env!("CARGO_BIN_EXE_ingest"),
        out.display()
    );
    let o = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("util-linux `script` runs the binary under a pty");
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{screen}");
    assert!(screen.contains("\x1b[J"), "the block is redrawn in place");
    // The last drawn block: everything after the last erase.
    let last = screen.rsplit("\x1b[J").next().unwrap();
    for source in ["alpha", "beta", "gamma"] {
        let line = last
            .lines()
            .find(|l| l.contains(source) && l.contains("pages"))
            .unwrap_or_else(|| panic!("a bar for {source} in {last:?}"));
        assert!(line.contains("done"), "{source} ends done: {line:?}");
        assert!(
            line.contains("items     200"),
            "{source} shows its items: {line:?}"
        );
    }
    assert!(last.contains("records") && last.contains("528"), "{last:?}");
}

#[test]
fn no_progress_flag_keeps_a_terminal_free_of_bars() {
    let dir = OutDir::new();
    let command = format!(
        "{} run --no-progress --out {}",
        env!("CARGO_BIN_EXE_ingest"),
        dir.0.join("out").display()
    );
    let o = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{screen}");
    assert!(!screen.contains("\x1b["), "{screen}");
}

/// `--log-json`: every stderr line is a JSON object with ts, level,
/// target, msg and the log call's fields, numbers as JSON numbers.
#[test]
fn log_json_lines_parse_and_carry_the_key_value_fields() {
    let dir = OutDir::new();
    let o = Command::new(env!("CARGO_BIN_EXE_ingest"))
        .args(["run", "--log-json", "--out"])
        .arg(dir.0.join("out"))
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect();
    assert!(lines.len() > 10);
    for line in &lines {
        for field in ["ts", "level", "target", "msg"] {
            assert!(line[field].is_string(), "{field} in {line}");
        }
    }
    let retry = lines
        .iter()
        .find(|l| l["event"] == "retry")
        .expect("the demo logs retries at debug");
    for field in ["source", "error"] {
        assert!(retry[field].is_string(), "retry line has {field}: {retry}");
    }
    // Numbers are JSON numbers; a retry after no answer has a null status.
    for field in ["page", "attempt", "wait_ms"] {
        assert!(
            retry[field].is_u64(),
            "retry line's {field} is a number: {retry}"
        );
    }
    let statuses: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "retry")
        .map(|l| &l["status"])
        .collect();
    assert!(
        statuses.iter().all(|s| s.is_u64() || s.is_null()),
        "{statuses:?}"
    );
    assert!(statuses.iter().any(|s| s.is_u64()), "{statuses:?}");
    let ends: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "end" && l["source"].is_string())
        .collect();
    assert_eq!(ends.len(), 3, "one end line per source");
    assert!(ends.iter().all(|l| l["status"] == "complete"));
}

/// On an 80-column terminal no drawn line is wider than 80 columns (a
/// wrapped line would leave a stale copy behind at every redraw), and the
/// final block holds one line per source and the records line, each in
/// its summary word.
#[test]
fn progress_fits_an_80_column_terminal_and_leaves_no_stale_line() {
    let dir = OutDir::new();
    let command = format!(
        "{} run --out {}",
        env!("CARGO_BIN_EXE_ingest"),
        dir.0.join("out").display()
    );
    let o = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "80")
        .output()
        .expect("util-linux `script` runs the binary under a pty");
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{screen}");
    // Every drawn block line (each starts with the erase-line code).
    let drawn: Vec<&str> = screen
        .split("\x1b[2K")
        .skip(1)
        .map(|l| l.split(['\r', '\n', '\x1b']).next().unwrap_or(""))
        .collect();
    assert!(drawn.len() > 8, "bars were drawn: {screen:?}");
    for line in &drawn {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line:?}",
            line.chars().count()
        );
    }
    let last = screen.rsplit("\x1b[J").next().unwrap();
    let block: Vec<&str> = last.split("\x1b[2K").skip(1).collect();
    assert_eq!(
        block.len(),
        4,
        "three sources and the records line: {last:?}"
    );
    for source in ["alpha", "beta", "gamma"] {
        assert!(
            block
                .iter()
                .any(|l| l.contains(source) && l.contains("done")),
            "{source} ends done: {block:?}"
        );
    }
}

/// A partitioned source's bar says how many of its partitions are done,
/// of those known so far: all of them at the end.
#[test]
fn a_fan_out_bar_counts_its_partitions() {
    use testsupport::{MockServer, MockSource, Scenario, Style};
    let server = MockServer::start(
        Scenario::new(5)
            .with(MockSource::new("customers", Style::Page, 2, 5))
            .with(MockSource::children("orders", "customers", 2, 3)),
    )
    .unwrap();
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let config = dir.0.join("config.json");
    std::fs::write(&config, server.config_json().to_string()).unwrap();
    let command = format!(
        "{} run --config {} --out {}",
        env!("CARGO_BIN_EXE_ingest"),
        config.display(),
        dir.0.join("out").display()
    );
    let o = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env("COLUMNS", "120")
        .output()
        .expect("util-linux `script` runs the binary under a pty");
    let screen = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{screen}");
    let parents = server.truth().children("orders").unwrap().parent_ids.len();
    let last = screen.rsplit("\x1b[J").next().unwrap();
    let line = last
        .lines()
        .find(|l| l.contains("orders") && l.contains("pages"))
        .unwrap_or_else(|| panic!("a bar for orders in {last:?}"));
    assert!(
        line.contains(&format!("parts {parents}/{parents}")),
        "every partition done: {line:?}"
    );
}
