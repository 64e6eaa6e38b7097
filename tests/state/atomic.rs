//! A killed run leaves the previous state file whole: the state is
//! written into `.<name>.<pid>.tmp` beside it, synced, then renamed over
//! it, so a SIGKILL at any moment leaves the old file or the new one,
//! never half a file, and never writes into the old file's inode.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testsupport::{MockServer, MockSource, Scenario, Style};

use super::{read_state, state_dir, with_policies};
use crate::cli::{run_command, spawn, stderr};
use crate::support::OutDir;

/// Entries of sources that are not in the config: kept as they are, and
/// enough of them (about 600 kB) that writing the state takes a while.
const FILLER: usize = 2_000;

/// `ingest run` of `config` into `dir` with `--state state`.
fn with_state(dir: &Path, config: &Value, state: &Path) -> Command {
    let mut command = run_command(dir, config);
    command.args(["--state", state.to_str().unwrap()]);
    command
}

/// Names of the temporary files in `dir`.
fn temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_kill_9_at_any_moment_leaves_the_old_state_or_the_new_one_whole() {
    let server = MockServer::start(Scenario::new(super::SEED).with(MockSource::new(
        "alpha",
        Style::Page,
        4,
        3,
    )))
    .unwrap();
    let config = with_policies(server.config_json(), json!({}));
    let (dir, state) = state_dir();
    let run = OutDir::new();
    // A real entry for alpha (its fingerprint), then one that says it
    // stopped at page 2, among thousands of entries of other sources.
    let o = with_state(&run.0, &config, &state).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut doc = read_state(&state);
    doc["sources"]["alpha"]["resume"] = json!({"page": 2});
    for i in 0..FILLER {
        doc["sources"][format!("filler-{i:05}")] = json!({
            "fingerprint": format!("{i:016x}"),
            "resume": {"url": format!("http://api.example.com/v1/items?page={i}&per_page=100")},
            "bookmark": "2026-01-01T00:00:00Z",
            "pass": {"sent": "2025-12-31T00:00:00Z", "greatest": "2026-01-02T00:00:00Z"}
        });
    }
    let old = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    // What a run that is not killed writes over it: alpha resumed and
    // completed, every other entry as it was.
    // How long the run takes, and how long its state write: from the
    // temporary file's appearance to the end.
    std::fs::write(&state, &old).unwrap();
    let started = Instant::now();
    let mut child = spawn(with_state(&run.0, &config, &state));
    let temp = format!(".state.json.{}.tmp", child.id());
    while !dir.0.join(&temp).exists() && child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no state write"
        );
    }
    let writing = Instant::now();
    let o = child.wait_with_output().unwrap();
    let (whole_run, write) = (started.elapsed(), writing.elapsed());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let new = std::fs::read_to_string(&state).unwrap();
    assert_ne!(new, old);
    assert_eq!(
        read_state(&state)["sources"]["alpha"]["resume"],
        json!(null)
    );
    assert!(temps(&dir.0).is_empty(), "{:?}", temps(&dir.0));

    let link = dir.0.join("old-inode");
    let mut seen = Vec::new();
    let mut caught_writing = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    for round in 0..12u32 {
        assert!(Instant::now() < deadline, "round {round}: out of time");
        std::fs::write(&state, &old).unwrap();
        let _ = std::fs::remove_file(&link);
        std::fs::hard_link(&state, &link).unwrap();
        let inode = std::fs::metadata(&state).unwrap().ino();
        let mut child = with_state(&run.0, &config, &state)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let temp = format!(".state.json.{}.tmp", child.id());
        if round % 2 == 0 {
            // Aimed at the write: once the temporary file is there, from
            // at once to a little after the write would have ended.
            let asked = Instant::now();
            while !dir.0.join(&temp).exists() && child.try_wait().unwrap().is_none() {
                assert!(
                    asked.elapsed() < Duration::from_secs(10),
                    "round {round}: no state write"
                );
            }
            std::thread::sleep(write * round / 8);
        } else {
            // Anywhere in the run.
            std::thread::sleep(whole_run * round / 12);
        }
        let _ = child.kill();
        child.wait().unwrap();
        let text = std::fs::read_to_string(&state).unwrap();
        let which = match &text {
            t if *t == old => "old",
            t if *t == new => "new",
            t => panic!(
                "round {round}: the state file is neither the old one nor the new one ({} bytes): {:?}",
                t.len(),
                &t[t.len().saturating_sub(200)..]
            ),
        };
        serde_json::from_str::<Value>(&text).expect("a state file");
        assert_eq!(
            std::fs::read_to_string(&link).unwrap(),
            old,
            "round {round}: the old file's inode was never written"
        );
        let same_inode = std::fs::metadata(&state).unwrap().ino() == inode;
        assert_eq!(
            same_inode,
            which == "old",
            "round {round}: a new state is a new file"
        );
        let left = temps(&dir.0);
        if !left.is_empty() {
            assert_eq!(
                left,
                std::slice::from_ref(&temp),
                "round {round}: the temporary file is beside the state"
            );
            caught_writing += 1;
            std::fs::remove_file(dir.0.join(&temp)).unwrap();
        }
        seen.push(format!(
            "{round}: {which}{}",
            if left.is_empty() { "" } else { ", temp left" }
        ));
    }
    println!("run {whole_run:?}, state write {write:?}: {seen:#?}");
    assert!(
        caught_writing > 0,
        "no kill landed while the state was written: {seen:#?}"
    );
}
