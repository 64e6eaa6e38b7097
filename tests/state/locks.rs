//! One run at a time (SPEC §9): a run holds a lock on its `--state` file
//! (`FILE.lock` beside it) and on its `--out` directory (`.ingest.lock`
//! in it) for the whole run, so a second run that needs either exits 1 at
//! once, fetching nothing and naming the lock and its holder; a killed
//! run's lock dies with it. A state path that is one of the run's own
//! outputs is a usage error, and a state file that is a symbolic link is
//! written through it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Style};

use super::{read_state, state_dir, with_policies};
use crate::cli::{command, signal, spawn, stderr, summary_in};
use crate::support::{run_with_state, OutDir};

/// A mock with one `page` source, `name`, of `pages` pages of 3.
fn mock(name: &str, pages: usize) -> MockServer {
    MockServer::start(Scenario::new(super::SEED).with(MockSource::new(name, Style::Page, pages, 3)))
        .unwrap()
}

/// `ingest run` of the config in `config` (written there) into `out`,
/// with `--state state`.
fn ingest(config: (&Path, &Value), out: &Path, state: &Path) -> Command {
    std::fs::write(config.0, config.1.to_string()).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_string();
    let (config, out, state) = (path(config.0), path(out), path(state));
    command(&[
        "run",
        "--no-progress",
        "--config",
        &config,
        "--out",
        &out,
        "--state",
        &state,
    ])
}

/// A run that goes on until it is stopped: one request every 50 ms over
/// 500 pages. Returns once the mock has seen its first requests.
fn long_run(server: &MockServer, root: &Path, out: &Path, state: &Path) -> std::process::Child {
    let config = with_policies(
        server.config_json(),
        json!({ "rate_limit": { "per_second": 20, "burst": 1 } }),
    );
    let child = spawn(ingest((&root.join("long.json"), &config), out, state));
    let started = Instant::now();
    while server.requests().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the long run never got going"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// A fresh directory (removed when the guard goes) and its canonical
/// path, as ingest names the files in it.
fn scratch() -> (OutDir, PathBuf) {
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = std::fs::canonicalize(&dir.0).unwrap();
    (dir, path)
}

/// A refused second run: exit 1 at once, a message naming `what` (the
/// state file or the output directory), its lock file and the holder's
/// pid; nothing fetched from its own mock, nothing written.
fn assert_refused(o: &Output, what: &Path, lock: &Path, holder: u32, server: &MockServer) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for said in [
        what.display().to_string(),
        lock.display().to_string(),
        format!("pid {holder}"),
    ] {
        assert!(err.contains(&said), "says {said:?}: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert!(server.requests().is_empty(), "nothing fetched: {err}");
}

/// Two runs sharing a state file lost a shard's position; two sharing an
/// output directory mixed one's records with the other's summary. Now the
/// second is refused, and the first ends as if it had run alone.
#[test]
fn a_second_run_on_a_locked_state_file_or_out_dir_exits_1_and_fetches_nothing() {
    let (first_server, second_server) = (mock("long", 500), mock("short", 2));
    let (_root, root) = scratch();
    let (out, state) = (root.join("out"), root.join("state.json"));
    let (other_out, other_state) = (root.join("other-out"), root.join("other.json"));
    let mut first = long_run(&first_server, &root, &out, &state);
    let second = with_policies(second_server.config_json(), json!({}));
    let config = (root.join("short.json"), second);
    let config = (config.0.as_path(), &config.1);

    let o = ingest(config, &other_out, &state).output().unwrap();
    let lock = root.join("state.json.lock");
    assert_refused(&o, &state, &lock, first.id(), &second_server);
    assert!(!other_out.join("summary.json").exists());

    let o = ingest(config, &out, &other_state).output().unwrap();
    assert_refused(
        &o,
        &out,
        &out.join(".ingest.lock"),
        first.id(),
        &second_server,
    );
    assert!(!other_state.exists(), "no state written");

    // The first run, stopped, wrote its own outputs whole.
    signal(&first, "-INT");
    assert_eq!(first.wait().unwrap().code(), Some(130));
    let summary = summary_in(&out);
    let names: Vec<&String> = summary["sources"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["long"], "{summary:#}");
    assert_eq!(summary["sources"]["long"]["status"], "interrupted");
    let records = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    assert!(records.lines().all(|l| l.contains("\"key\":\"long:")));
    let saved = read_state(&state);
    assert!(saved["sources"]["long"]["resume"]["page"].as_u64().unwrap() > 1);
    assert!(saved["sources"].get("short").is_none(), "{saved:#}");
}

/// The lock is the kernel's: a run killed with SIGKILL leaves its lock
/// files behind, and they do not stop the next run.
#[test]
fn a_killed_runs_lock_does_not_block_the_next_run() {
    let (first_server, second_server) = (mock("long", 500), mock("short", 2));
    let (_root, root) = scratch();
    let (out, state) = (root.join("out"), root.join("state.json"));
    let mut first = long_run(&first_server, &root, &out, &state);
    first.kill().unwrap();
    first.wait().unwrap();
    for lock in [root.join("state.json.lock"), out.join(".ingest.lock")] {
        assert!(lock.exists(), "{} left by the killed run", lock.display());
    }
    let second = with_policies(second_server.config_json(), json!({}));
    let o = ingest((&root.join("short.json"), &second), &out, &state)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(summary_in(&out)["sources"]["short"]["status"], "complete");
    assert_eq!(
        second_server.requests().len(),
        2 + 1,
        "two pages and the 204"
    );
}

/// `--state` naming one of the run's own outputs (even through `..` or a
/// symbolic link), or the output directory itself: exit 2 before
/// anything is fetched or written. Before, `--state out/records.jsonl`
/// silently replaced the records with the state.
#[test]
fn a_state_path_that_is_one_of_the_runs_outputs_is_a_usage_error() {
    let server = mock("a", 2);
    let root = OutDir::new();
    let out = root.0.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let config = with_policies(server.config_json(), json!({}));
    let link = root.0.join("link.json");
    std::os::unix::fs::symlink("out/records.jsonl", &link).unwrap();
    let cases: [PathBuf; 7] = [
        out.join("records.jsonl"),
        out.join("summary.json"),
        out.join("rejected.jsonl"),
        out.join(".ingest.lock"),
        out.clone(),
        root.0.join("out/../out/records.jsonl"),
        link,
    ];
    for state in &cases {
        let o = ingest((&root.0.join("a.json"), &config), &out, state)
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", state.display());
        assert!(
            err.contains("--state") && err.contains("output"),
            "{}: says why: {err}",
            state.display()
        );
        assert!(
            server.requests().is_empty(),
            "{}: nothing fetched",
            state.display()
        );
        for name in ["records.jsonl", "summary.json"] {
            assert!(
                !out.join(name).exists(),
                "{}: {name} written",
                state.display()
            );
        }
    }
}

/// A state file that is a symbolic link (to a relative target, which does
/// not exist before the first run) is written through it: the link stays
/// a link and its target is replaced, atomically, by the new state.
#[test]
fn a_symlinked_state_file_is_written_through_the_link() {
    let server = mock("a", 4);
    let (dir, _) = state_dir();
    std::fs::create_dir_all(dir.0.join("real")).unwrap();
    let link = dir.0.join("state.json");
    std::os::unix::fs::symlink("real/state.json", &link).unwrap();
    let target = dir.0.join("real").join("state.json");
    let cut = super::parse(server.config_json(), json!({ "max_pages": 2 }));
    let whole = super::parse(server.config_json(), json!({}));
    for (round, config, resume) in [(1, &cut, json!({"page": 3})), (2, &whole, json!(null))] {
        run_with_state(config, &link, |_| {});
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_symlink(), "run {round}: still a link");
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("real/state.json")
        );
        assert_eq!(
            read_state(&target)["sources"]["a"]["resume"],
            resume,
            "run {round}: the target holds the new state"
        );
        let mut names: Vec<String> = std::fs::read_dir(dir.0.join("real"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["state.json", "state.json.lock"], "run {round}");
    }
}
