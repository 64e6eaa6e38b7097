//! `ingest tap` (SPEC §15): the Singer tap conventions Meltano relies on,
//! over the engine `ingest run --format singer` drives.
//!
//! What is the tap's own: the settings JSON Meltano writes ([`Settings`]:
//! an ingest config itself, or one naming it), the catalog of
//! `--discover` ([`catalog`]), the selection a `--catalog` makes of it
//! ([`Selection`]), `--about` ([`about`]), and the exit code of a run
//! the deadline cut but that resumes next time ([`exit_code`]). The run
//! itself is `pipeline::run` with the Singer format, reading `--state`
//! and never writing it (the orchestrator keeps what the target echoes).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::config::{Config, ConfigError, SourceConfig};
use crate::exit_code::ExitCode;
use crate::output::singer::schema_message;
use crate::pipeline::{RunReport, RunStatus};

/// Where the outputs of a tap run go when the settings do not say:
/// `output/` is the directory `meltano init` makes for them.
pub const DEFAULT_OUT: &str = "output/ingest";

/// Settings can be an ingest config itself: as large as one may be.
const MAX_SETTINGS_BYTES: u64 = 16 << 20;

/// The settings the tap is started with (`--config SETTINGS.json`).
#[derive(Debug)]
pub struct Settings {
    /// The ingest config.
    pub config: Config,
    /// Where `summary.json` goes. Defaults to [`DEFAULT_OUT`] under the
    /// project root.
    pub out: PathBuf,
    /// `deadline_s`, overriding the config's `deadline_ms`. Defaults to
    /// none.
    pub deadline: Option<Duration>,
}

/// How a config's text is read (with or without its secrets).
type ParseFn = fn(&str, &str) -> Result<Config, ConfigError>;
/// How a config file is read (with or without its secrets).
type LoadFn = fn(&Path) -> Result<Config, ConfigError>;

impl Settings {
    /// Reads the settings at `path`: an ingest config itself (it has
    /// `sources`), or `{"ingest_config": …, "out": …, "deadline_s": …}`,
    /// whose relative paths are resolved against `root` (the Meltano
    /// project's root, else the working directory). Settings that are
    /// null are unset, as Meltano writes them.
    ///
    /// With `secrets` false (`--discover`, which sends nothing), `env:`
    /// variables that are not set read as `***` instead of failing: a
    /// catalog is made where the secrets are not.
    pub fn load(path: &Path, root: &Path, secrets: bool) -> Result<Settings, ConfigError> {
        let (parse, load): (ParseFn, LoadFn) = match secrets {
            true => (Config::parse, Config::load),
            false => (Config::parse_without_secrets, Config::load_without_secrets),
        };
        let shown = path.display();
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_SETTINGS_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| ConfigError(format!("{shown}: cannot read: {e}")))?;
        if text.len() as u64 > MAX_SETTINGS_BYTES {
            return Err(ConfigError(format!(
                "{shown}: expected settings of at most {} MiB",
                MAX_SETTINGS_BYTES >> 20
            )));
        }
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| ConfigError(format!("{shown}: not JSON: {e}")))?;
        let Some(settings) = doc.as_object() else {
            return Err(ConfigError(format!(
                "{shown}: expected an ingest config or an object of tap settings"
            )));
        };
        let out_of = |settings: &Map<String, Value>| match settings.get("out") {
            None | Some(Value::Null) => Ok(root.join(DEFAULT_OUT)),
            Some(Value::String(out)) if !out.trim().is_empty() => Ok(root.join(out)),
            Some(other) => Err(ConfigError(format!(
                "{shown}: out: expected a directory path, found {other}"
            ))),
        };
        if settings.contains_key("sources") {
            return Ok(Settings {
                config: parse(&shown.to_string(), &text)?,
                out: root.join(DEFAULT_OUT),
                deadline: None,
            });
        }
        for key in settings.keys() {
            if !["ingest_config", "out", "deadline_s"].contains(&key.as_str()) {
                log::warn!(event = "unknown_setting", setting = key.as_str(), settings = shown.to_string(); "");
            }
        }
        let config = match settings.get("ingest_config") {
            Some(Value::String(file)) if !file.trim().is_empty() => {
                load(&root.join(file))?
            }
            None | Some(Value::Null) => {
                return Err(ConfigError(format!(
                    "{shown}: expected ingest_config (the ingest config file), or an ingest config with sources"
                )))
            }
            Some(other) => {
                return Err(ConfigError(format!(
                    "{shown}: ingest_config: expected a file path, found {other}"
                )))
            }
        };
        let deadline = match settings.get("deadline_s") {
            None | Some(Value::Null) => None,
            // Meltano writes a setting without `kind` as a string ("600");
            // a deadline too far for a clock is as good as none.
            Some(value) => Some(
                value
                    .as_f64()
                    .or_else(|| value.as_str()?.trim().parse().ok())
                    .filter(|s| *s >= 0.001)
                    .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
                    .ok_or_else(|| {
                        ConfigError(format!(
                            "{shown}: deadline_s: expected a number of seconds >= 0.001, found {value}"
                        ))
                    })?,
            ),
        };
        Ok(Settings {
            config,
            out: out_of(settings)?,
            deadline,
        })
    }
}

/// The directory relative settings are resolved against: the Meltano
/// project's root (`$MELTANO_PROJECT_ROOT`, which Meltano sets for the
/// plugins it runs, from whatever directory), else the working directory.
pub fn project_root() -> PathBuf {
    std::env::var_os("MELTANO_PROJECT_ROOT")
        .filter(|root| !root.is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// Whether the state file at `path` is an empty object: no state yet,
/// as an orchestrator whose stored state was cleared may hand it over.
pub fn is_empty_state(path: &Path) -> bool {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    serde_json::from_str::<Value>(&text).is_ok_and(|v| v == json!({}))
}

/// Keeps the sources of `config` the catalog at `path` selects
/// ([`selection`]) and returns the fields each of them goes without.
/// Streams of the catalog the config does not have are logged and
/// ignored; a catalog that selects nothing leaves no source.
pub fn apply_catalog(
    config: &mut Config,
    path: &Path,
) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let catalog: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let selection = selection(&catalog, config)?;
    for name in &selection.unknown {
        log::warn!(event = "unknown_stream", stream = name.as_str(), note = "in the catalog, not in the config: ignored"; "");
    }
    config
        .sources
        .retain(|s| selection.streams.contains(&s.name));
    Ok(selection.omitted)
}

/// The record fields every stream always has, whatever is selected.
const AUTOMATIC: [&str; 3] = ["key", "source", "id"];

/// The Singer catalog of `config` (`--discover`): a stream per source,
/// with the schema of its SCHEMA message and the metadata Meltano reads.
pub fn catalog(config: &Config) -> Value {
    let streams: Vec<Value> = config.sources.iter().map(catalog_stream).collect();
    json!({ "streams": streams })
}

/// The SCHEMA's replication key of `source` (its bookmark field, when a
/// record field holds it).
fn replication_key(source: &SourceConfig) -> Option<String> {
    schema_message(source)["bookmark_properties"][0]
        .as_str()
        .map(str::to_string)
}

/// One source's catalog entry.
fn catalog_stream(source: &SourceConfig) -> Value {
    let message = schema_message(source);
    let mut stream = Map::new();
    stream.insert("breadcrumb".into(), json!([]));
    let mut top = Map::new();
    top.insert("table-key-properties".into(), json!(["key"]));
    match message.get("bookmark_properties") {
        Some(keys) => {
            top.insert("forced-replication-method".into(), json!("INCREMENTAL"));
            top.insert("valid-replication-keys".into(), keys.clone());
        }
        None => {
            top.insert("forced-replication-method".into(), json!("FULL_TABLE"));
        }
    }
    top.insert("inclusion".into(), json!("available"));
    top.insert("selected-by-default".into(), json!(true));
    stream.insert("metadata".into(), Value::Object(top));
    let mut metadata = vec![Value::Object(stream)];
    let properties = message["schema"]["properties"].as_object();
    // The replication key cannot be deselected: the bookmark needs it.
    let replication_key = replication_key(source);
    for name in properties.into_iter().flat_map(|p| p.keys()) {
        let automatic =
            AUTOMATIC.contains(&name.as_str()) || Some(name) == replication_key.as_ref();
        let inclusion = match automatic {
            true => "automatic",
            false => "available",
        };
        metadata.push(json!({
            "breadcrumb": ["properties", name],
            "metadata": { "inclusion": inclusion, "selected-by-default": true },
        }));
    }
    json!({
        "tap_stream_id": source.name,
        "stream": source.name,
        "schema": message["schema"],
        "key_properties": ["key"],
        "metadata": metadata,
    })
}

/// What a catalog (`--catalog`, `--properties`) selects of a config.
#[derive(Debug, Default, PartialEq)]
pub struct Selection {
    /// The sources to run, in the config's order.
    pub streams: Vec<String>,
    /// The fields each selected stream goes without.
    pub omitted: BTreeMap<String, BTreeSet<String>>,
    /// Streams of the catalog the config does not have (ignored).
    pub unknown: Vec<String>,
}

/// The selection `catalog` makes of `config`'s sources: a stream runs
/// when `selected` is true at the breadcrumb `[]` (else its
/// `selected-by-default`, or the legacy `schema.selected`); a field is
/// left out when `selected` is false at `["properties", field]`, except
/// `key`, `source` and `id`, which every record has.
pub fn selection(catalog: &Value, config: &Config) -> Result<Selection, String> {
    let streams = catalog
        .get("streams")
        .and_then(Value::as_array)
        .ok_or("expected a Singer catalog: an object with a streams array")?;
    let mut selected: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for (i, stream) in streams.iter().enumerate() {
        let name = ["tap_stream_id", "stream"]
            .iter()
            .find_map(|k| stream.get(*k).and_then(Value::as_str))
            .ok_or_else(|| format!("streams[{i}]: expected a tap_stream_id"))?;
        let Some(source) = config.sources.iter().find(|s| s.name == name) else {
            unknown.push(name.to_string());
            continue;
        };
        let metadata = stream.get("metadata").and_then(Value::as_array);
        let at = |breadcrumb: Value| {
            metadata
                .into_iter()
                .flatten()
                .find(|m| m.get("breadcrumb") == Some(&breadcrumb))
                .and_then(|m| m.get("metadata"))
        };
        let flag =
            |m: Option<&Value>, key: &str| m.and_then(|m| m.get(key)).and_then(Value::as_bool);
        let top = at(json!([]));
        let legacy = stream.get("schema").and_then(|s| s.get("selected"));
        let on = flag(top, "selected")
            .or(legacy.and_then(Value::as_bool))
            .or(flag(top, "selected-by-default"))
            .unwrap_or(false);
        if !on {
            continue;
        }
        let omitted = source
            .record
            .fields
            .iter()
            .map(|f| &f.name)
            .filter(|f| !AUTOMATIC.contains(&f.as_str()))
            // The replication key stays: the bookmark is read from it.
            .filter(|f| Some(f.as_str()) != replication_key(source).as_deref())
            .filter(|f| flag(at(json!(["properties", f])), "selected") == Some(false))
            .cloned()
            .collect();
        selected.insert(source.name.as_str(), omitted);
    }
    let streams: Vec<String> = config
        .sources
        .iter()
        .filter(|s| selected.contains_key(s.name.as_str()))
        .map(|s| s.name.clone())
        .collect();
    let omitted = selected
        .into_iter()
        .filter(|(_, fields)| !fields.is_empty())
        .map(|(name, fields)| (name.to_string(), fields))
        .collect();
    Ok(Selection {
        streams,
        omitted,
        unknown,
    })
}

/// What `ingest tap --about` says: as JSON (`--format json`, Meltano's
/// and the Singer SDK's shape, the settings as a JSON Schema) or as
/// Markdown.
pub fn about(as_json: bool) -> String {
    let settings = [
        (
            "ingest_config",
            "string",
            "The ingest config file (JSON, see ingest's README); a relative path is resolved against $MELTANO_PROJECT_ROOT, else the working directory. Or give the tap an ingest config itself as its --config.",
        ),
        (
            "out",
            "string",
            "Where summary.json goes, resolved like ingest_config. Defaults to output/ingest.",
        ),
        (
            "deadline_s",
            "number",
            "Run deadline in seconds, overriding the config's deadline_ms. Defaults to deadline_ms (60 s).",
        ),
    ];
    let description = "Pull paginated JSON from HTTP APIs, politely and resiliently, as Singer streams: one per source of an ingest config.";
    let capabilities = ["catalog", "discover", "state", "about"];
    if as_json {
        let properties: Map<String, Value> = settings
            .iter()
            .map(|(name, ty, text)| {
                (
                    name.to_string(),
                    json!({ "type": [ty, "null"], "description": text }),
                )
            })
            .collect();
        let about = json!({
            "name": "ingest",
            "description": description,
            "version": env!("CARGO_PKG_VERSION"),
            "capabilities": capabilities,
            "settings": { "type": "object", "properties": properties },
        });
        return format!("{:#}\n", about);
    }
    let mut text = format!(
        "# ingest {}\n\n{description}\n\n## Capabilities\n\n",
        env!("CARGO_PKG_VERSION")
    );
    for capability in capabilities {
        text.push_str(&format!("- `{capability}`\n"));
    }
    text.push_str("\n## Settings\n\n| Setting | Type | Description |\n|---|---|---|\n");
    for (name, ty, what) in settings {
        text.push_str(&format!("| `{name}` | {ty} | {what} |\n"));
    }
    text
}

/// The exit code of a tap run and, for a run the deadline cut whose
/// STATE resumes it, the warning that says so: such a run exits 0 (it
/// will continue next time; an orchestrator would page someone for a
/// failure), unless `strict`.
pub fn exit_code(report: &RunReport, strict: bool) -> (ExitCode, Option<String>) {
    let resumable = report.status == RunStatus::Partial && report.resumable;
    let cut: Vec<&str> = report
        .stats
        .sources
        .iter()
        .filter(|s| s.status != crate::fetch::outcome::SourceStatus::Complete)
        .map(|s| s.name.as_str())
        .collect();
    match (resumable, strict) {
        (true, false) => (
            ExitCode::Complete,
            Some(format!(
                "ingest tap: incomplete but resumable: the deadline cut {} before the end; the last STATE holds where, and the next run with that state goes on from there (exit 0; --strict makes it 3)",
                cut.join(", ")
            )),
        ),
        _ => (report.status.into(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let doc = json!({ "sources": [
            { "name": "gh", "url": "http://h/",
              "record": { "id": "id", "fields": {
                  "title": { "type": "string", "required": true },
                  "labels": { "type": "json" },
                  "updated_at": { "type": "timestamp" } } },
              "incremental": { "field": "updated_at", "param": "since" } },
            { "name": "shop", "url": "http://h/" }
        ]});
        Config::parse("t", &doc.to_string()).unwrap()
    }

    #[test]
    fn the_catalog_has_a_stream_per_source_with_its_metadata() {
        let c = catalog(&config());
        let streams = c["streams"].as_array().unwrap();
        assert_eq!(streams.len(), 2);
        let gh = &streams[0];
        assert_eq!(gh["tap_stream_id"], "gh");
        assert_eq!(gh["stream"], "gh");
        assert_eq!(gh["key_properties"], json!(["key"]));
        assert_eq!(gh["schema"], schema_message(&config().sources[0])["schema"]);
        let top = &gh["metadata"][0];
        assert_eq!(top["breadcrumb"], json!([]));
        assert_eq!(top["metadata"]["table-key-properties"], json!(["key"]));
        assert_eq!(top["metadata"]["forced-replication-method"], "INCREMENTAL");
        assert_eq!(
            top["metadata"]["valid-replication-keys"],
            json!(["updated_at"])
        );
        let inclusion: Vec<(String, String)> = gh["metadata"].as_array().unwrap()[1..]
            .iter()
            .map(|m| {
                (
                    m["breadcrumb"][1].as_str().unwrap().to_string(),
                    m["metadata"]["inclusion"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = [
            ("key", "automatic"),
            ("source", "automatic"),
            ("id", "automatic"),
            ("title", "available"),
            ("labels", "available"),
            ("updated_at", "automatic"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(inclusion, want);
        let shop = &streams[1]["metadata"][0]["metadata"];
        assert_eq!(shop["forced-replication-method"], "FULL_TABLE");
        assert!(shop.get("valid-replication-keys").is_none());
    }

    #[test]
    fn a_catalog_selects_streams_and_leaves_deselected_fields_out() {
        let config = config();
        let mut c = catalog(&config);
        // Everything selected by default.
        let all = selection(&c, &config).unwrap();
        assert_eq!(all.streams, ["gh", "shop"]);
        assert!(all.omitted.is_empty());
        // Meltano's select: shop off, gh's labels and key off (key stays).
        c["streams"][1]["metadata"][0]["metadata"]["selected"] = json!(false);
        c["streams"][0]["metadata"][0]["metadata"]["selected"] = json!(true);
        for m in c["streams"][0]["metadata"].as_array_mut().unwrap() {
            let name = m["breadcrumb"][1].as_str().unwrap_or_default().to_string();
            if name == "labels" || name == "key" {
                m["metadata"]["selected"] = json!(false);
            }
        }
        c["streams"]
            .as_array_mut()
            .unwrap()
            .push(json!({"tap_stream_id": "gone"}));
        let s = selection(&c, &config).unwrap();
        assert_eq!(s.streams, ["gh"]);
        assert_eq!(
            s.omitted,
            BTreeMap::from([("gh".to_string(), BTreeSet::from(["labels".to_string()]))])
        );
        assert_eq!(s.unknown, ["gone"]);
        // Not selected, not by default: not run.
        let bare = json!({"streams": [{"tap_stream_id": "gh", "metadata": []}]});
        assert!(selection(&bare, &config).unwrap().streams.is_empty());
        // The legacy --properties form.
        let legacy = json!({"streams": [{"tap_stream_id": "shop", "schema": {"selected": true}}]});
        assert_eq!(selection(&legacy, &config).unwrap().streams, ["shop"]);
        assert!(selection(&json!([]), &config).is_err());
    }

    #[test]
    fn settings_name_the_config_relative_to_the_project_root() {
        let dir = std::env::temp_dir().join(format!("ingest-tap-settings-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("conf")).unwrap();
        let ingest = json!({ "sources": [{ "name": "shop", "url": "http://h/" }] });
        std::fs::write(dir.join("conf/ingest.json"), ingest.to_string()).unwrap();
        let write = |v: Value| {
            let path = dir.join("settings.json");
            std::fs::write(&path, v.to_string()).unwrap();
            path
        };
        let path =
            write(json!({"ingest_config": "conf/ingest.json", "out": "o", "deadline_s": 2.5}));
        let s = Settings::load(&path, &dir, true).unwrap();
        assert_eq!(s.config.sources[0].name, "shop");
        assert_eq!(s.out, dir.join("o"));
        assert_eq!(s.deadline, Some(Duration::from_millis(2500)));
        let path =
            write(json!({"ingest_config": "conf/ingest.json", "out": null, "deadline_s": null}));
        let s = Settings::load(&path, &dir, true).unwrap();
        assert_eq!((s.out, s.deadline), (dir.join(DEFAULT_OUT), None));
        let s = Settings::load(&write(ingest), &dir, true).unwrap();
        assert_eq!(s.config.sources.len(), 1);
        // As Meltano writes a setting without `kind`, and one past any clock.
        for (given, want) in [
            (json!("600"), Duration::from_secs(600)),
            (json!(1e300), Duration::MAX),
        ] {
            let path = write(json!({"ingest_config": "conf/ingest.json", "deadline_s": given}));
            assert_eq!(
                Settings::load(&path, &dir, true).unwrap().deadline,
                Some(want)
            );
        }
        for bad in [
            json!({}),
            json!({"ingest_config": 3}),
            json!({"ingest_config": "nope.json"}),
            json!({"ingest_config": "conf/ingest.json", "deadline_s": 0}),
            json!([1]),
        ] {
            assert!(
                Settings::load(&write(bad.clone()), &dir, true).is_err(),
                "{bad}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn about_names_the_capabilities_and_settings() {
        let about: Value = serde_json::from_str(&about(true)).unwrap();
        assert_eq!(about["name"], "ingest");
        assert_eq!(
            about["capabilities"],
            json!(["catalog", "discover", "state", "about"])
        );
        let settings: Vec<&String> = about["settings"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(settings, ["ingest_config", "out", "deadline_s"]);
        let text = super::about(false);
        assert!(
            text.contains("`discover`") && text.contains("`deadline_s`"),
            "{text}"
        );
    }
}
