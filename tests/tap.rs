//! `ingest tap` end to end (SPEC §15): the binary as Meltano runs it, from
//! a subdirectory of a project whose root `$MELTANO_PROJECT_ROOT` names,
//! with the settings JSON naming the ingest config relative to that root;
//! against the Singer tests' mock (a product source, an incremental
//! declared-schema source, a typed order source) whose incremental source
//! sends a secret header. `--discover`, `--about`, `--help` and
//! `--version` fetch nothing; a run is a valid Singer stream that reads
//! `--state` and never writes it; a catalog selects streams and fields; a
//! run the deadline cut exits 0 with a warning, 3 with `--strict`.

use std::path::PathBuf;
use std::process::Output;

use serde_json::{json, Value};
use testsupport::MockServer;

use crate::cli::{command, stderr};
use crate::singer::{check_stream, config, lines, mock, read_json};
use crate::support::OutDir;

/// The secret the incremental source sends as a header.
const SECRET: &str = "tap-s3cret-bearer-77";

/// A Meltano-like project: `ingest.json` at its root, the settings in
/// `.meltano/run/tap-ingest/tap.json` naming it relative to the root, and
/// `sub/`, where the tap runs.
struct Project {
    _dir: OutDir,
    root: PathBuf,
    settings: PathBuf,
}

/// A project for `config`, with `settings` (`ingest_config` added).
fn project(config: &Value, settings: Value) -> Project {
    let dir = OutDir::new();
    let root = dir.0.clone();
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join(".meltano/run/tap-ingest")).unwrap();
    std::fs::write(root.join("ingest.json"), config.to_string()).unwrap();
    let mut settings = settings;
    settings["ingest_config"] = json!("ingest.json");
    let path = root.join(".meltano/run/tap-ingest/tap.json");
    std::fs::write(&path, settings.to_string()).unwrap();
    Project {
        _dir: dir,
        root,
        settings: path,
    }
}

/// The Singer tests' config, gh sending a secret header.
fn secret_config(server: &MockServer) -> Value {
    let mut config = config(server);
    for source in config["sources"].as_array_mut().unwrap() {
        if source["name"] == "gh" {
            source["headers"] = json!({ "Authorization": format!("Bearer {SECRET}") });
        }
    }
    config
}

/// `ingest tap --config SETTINGS args…`, from the project's `sub/`.
fn tap(project: &Project, args: &[&str]) -> Output {
    let mut command = command(&["tap", "--config", project.settings.to_str().unwrap()]);
    command
        .args(args)
        .current_dir(project.root.join("sub"))
        .env("MELTANO_PROJECT_ROOT", &project.root);
    command.output().expect("run the ingest binary")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// The catalog `--discover` prints for `project`.
fn discover(project: &Project) -> Value {
    let o = tap(project, &["--discover"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("the catalog is JSON")
}

/// The catalog's stream `name`.
fn stream<'c>(catalog: &'c Value, name: &str) -> &'c Value {
    let streams = catalog["streams"].as_array().unwrap();
    streams.iter().find(|s| s["stream"] == name).unwrap()
}

#[test]
fn discover_about_help_and_version_extract_nothing() {
    let server = mock(2, 5);
    let project = project(&secret_config(&server), json!({}));

    let catalog = discover(&project);
    let text = catalog.to_string();
    assert!(!text.contains(SECRET), "no secret in the catalog");
    let names: Vec<&str> = catalog["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tap_stream_id"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let gh = stream(&catalog, "gh");
    assert_eq!(gh["tap_stream_id"], "gh");
    assert_eq!(gh["key_properties"], json!(["key"]));
    assert_eq!(
        gh["schema"]["properties"]["labels"],
        json!({"type": ["object", "array", "null"]})
    );
    let top = &gh["metadata"][0];
    assert_eq!(top["breadcrumb"], json!([]));
    assert_eq!(top["metadata"]["table-key-properties"], json!(["key"]));
    assert_eq!(top["metadata"]["forced-replication-method"], "INCREMENTAL");
    assert_eq!(
        top["metadata"]["valid-replication-keys"],
        json!(["updated_at"])
    );
    let inclusion = |stream: &Value, field: &str| {
        let metadata = stream["metadata"].as_array().unwrap();
        let entry = metadata
            .iter()
            .find(|m| m["breadcrumb"] == json!(["properties", field]))
            .unwrap_or_else(|| panic!("no metadata for {field}"));
        entry["metadata"]["inclusion"].as_str().unwrap().to_string()
    };
    for field in ["key", "source", "id"] {
        assert_eq!(inclusion(gh, field), "automatic", "{field}");
    }
    assert_eq!(inclusion(gh, "labels"), "available");
    let drf = stream(&catalog, "drf");
    assert_eq!(
        drf["metadata"][0]["metadata"]["forced-replication-method"],
        "FULL_TABLE"
    );
    assert_eq!(inclusion(drf, "total"), "available");

    let about = tap(&project, &["--about", "--format", "json"]);
    assert_eq!(about.status.code(), Some(0), "{}", stderr(&about));
    let about: Value = serde_json::from_str(&stdout(&about)).unwrap();
    assert_eq!(
        about["capabilities"],
        json!(["catalog", "discover", "state", "about"])
    );
    for setting in ["ingest_config", "out", "deadline_s"] {
        assert!(
            about["settings"]["properties"].get(setting).is_some(),
            "{setting}"
        );
    }
    for args in [&["--about"][..], &["--help"], &["--version"]] {
        let o = tap(&project, args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stdout(&o).is_empty(), "{args:?}");
        assert!(!stdout(&o).contains(SECRET), "{args:?}");
    }
    assert!(server.requests().is_empty(), "nothing fetched");
    assert!(!project.root.join("output").exists(), "nothing written");
}

#[test]
fn a_tap_run_reads_its_state_and_never_writes_it() {
    let server = mock(3, 5);
    let project = project(&secret_config(&server), json!({ "out": "runs/ingest" }));

    let o = tap(&project, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stdout(&o).contains(SECRET), "no secret on stdout");
    let first = check_stream(&lines(&o));
    assert_eq!(first.schemas.len(), 3);
    let summary = read_json(&project.root.join("runs/ingest/summary.json"));
    assert_eq!(
        summary["status"], "complete",
        "out is resolved against the root"
    );
    let state = first.states.last().unwrap().clone();
    let bookmark = state["sources"]["gh"]["bookmark"]
        .as_str()
        .unwrap()
        .to_string();

    // Meltano hands the last STATE back as --state: gh asks from its
    // bookmark, and the file stays as it was.
    let state_path = project.root.join("state.json");
    std::fs::write(&state_path, state.to_string()).unwrap();
    let before = std::fs::read(&state_path).unwrap();
    let asked = server.requests().len();
    let o = tap(&project, &["--state", state_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let again = check_stream(&lines(&o));
    assert!(!again.states.is_empty());
    let since: Vec<String> = server.requests()[asked..]
        .iter()
        .filter(|r| r.source == "gh" && r.page <= 1)
        .map(|r| r.path.clone())
        .collect();
    let sent = bookmark.replace(':', "%3A");
    assert!(
        since
            .iter()
            .any(|p| p.contains(&sent) || p.contains(&bookmark)),
        "gh asked from {bookmark}: {since:?}"
    );
    assert_eq!(
        std::fs::read(&state_path).unwrap(),
        before,
        "--state never written"
    );

    // A cleared state (`{}`) is a first run, not a refused state file.
    std::fs::write(&state_path, "{}").unwrap();
    let o = tap(&project, &["--state", state_path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&state_path).unwrap(), "{}");
}

#[test]
fn a_catalog_selects_streams_and_fields() {
    let server = mock(2, 5);
    let project = project(&secret_config(&server), json!({}));
    let mut catalog = discover(&project);
    // As `meltano select tap-ingest gh` and `drf`, without gh's labels.
    for stream in catalog["streams"].as_array_mut().unwrap() {
        let selected = stream["stream"] != "shop";
        let gh = stream["stream"] == "gh";
        for entry in stream["metadata"].as_array_mut().unwrap() {
            let field = entry["breadcrumb"][1]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let on = match field.as_str() {
                "labels" if gh => false,
                _ => selected,
            };
            entry["metadata"]["selected"] = json!(on);
        }
    }
    let path = project.root.join("catalog.json");
    std::fs::write(&path, catalog.to_string()).unwrap();
    for flag in ["--catalog", "--properties"] {
        let asked = server.requests().len();
        let o = tap(&project, &[flag, path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{flag}: {}", stderr(&o));
        let m = check_stream(&lines(&o));
        let streams: Vec<&String> = m.schemas.keys().collect();
        assert_eq!(streams, ["drf", "gh"], "{flag}");
        let gh = &m.schemas["gh"]["schema"]["properties"];
        assert!(gh.get("labels").is_none(), "{flag}: {gh}");
        assert!(gh.get("title").is_some(), "{flag}: {gh}");
        assert!(!m.records["gh"].is_empty());
        for record in &m.records["gh"] {
            let record: Value = serde_json::from_str(record).unwrap();
            assert!(record.get("labels").is_none(), "{flag}: {record}");
            assert!(record.get("key").is_some() && record.get("title").is_some());
        }
        let shop = server.requests()[asked..]
            .iter()
            .filter(|r| r.source == "shop")
            .count();
        assert_eq!(shop, 0, "{flag}: shop is not selected");
    }
}

/// A catalog that is not one is a usage error; one that selects no
/// stream extracts nothing.
#[test]
fn a_catalog_that_selects_nothing_fetches_nothing() {
    let server = mock(2, 5);
    let project = project(&secret_config(&server), json!({}));
    let path = project.root.join("catalog.json");
    std::fs::write(&path, "[]").unwrap();
    let o = tap(&project, &["--catalog", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let mut catalog = discover(&project);
    for stream in catalog["streams"].as_array_mut().unwrap() {
        stream["metadata"][0]["metadata"]["selected"] = json!(false);
    }
    std::fs::write(&path, catalog.to_string()).unwrap();
    let o = tap(&project, &["--catalog", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert!(server.requests().is_empty(), "nothing fetched");
}

/// A run the deadline cuts, with each cut source's position in its last
/// STATE, exits 0 in tap mode with a warning that it is incomplete and
/// resumable; `--strict` makes it 3.
#[test]
fn a_run_cut_by_the_deadline_exits_0_and_says_it_resumes() {
    let server = mock(400, 5);
    let mut config = secret_config(&server);
    config["rate_limit"] = json!({ "per_second": 20, "burst": 1 });
    let project = project(&config, json!({ "deadline_s": 1 }));
    for (args, code) in [(&[][..], 0), (&["--strict"][..], 3)] {
        let o = tap(&project, args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        let m = check_stream(&lines(&o));
        let last = m.states.last().unwrap();
        let resumes = last["sources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|entry| !entry["resume"].is_null())
            .count();
        assert!(resumes > 0, "{last:#}");
        if code == 0 {
            assert!(err.contains("incomplete but resumable"), "{err}");
        }
        let summary = read_json(&project.root.join("output/ingest/summary.json"));
        let cut = summary["sources"]
            .as_object()
            .unwrap()
            .values()
            .find(|s| s["status"] == "deadline")
            .expect("a source cut by the deadline");
        let reason = cut["stop_reason"].to_string();
        assert!(
            reason.contains("deadline_s 1 of the tap's settings"),
            "{reason}"
        );
    }
}

/// Meltano runs an extractor as one program: a link named `tap-ingest`
/// to the binary is `ingest tap`.
#[test]
fn a_link_named_tap_ingest_is_ingest_tap() {
    let dir = OutDir::new();
    std::fs::create_dir_all(&dir.0).unwrap();
    let link = dir.0.join("tap-ingest");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ingest"), &link).unwrap();
    let o = std::process::Command::new(&link)
        .args(["--about", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let about: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(about["name"], "ingest");
    let o = std::process::Command::new(&link)
        .arg("--help")
        .output()
        .unwrap();
    assert!(stdout(&o).contains("--discover"), "{}", stdout(&o));
}
