//! Log setup: `env_logger` on stderr, level from `RUST_LOG` (default
//! `info`), plain `key=value` lines or, with `--log-json`, one JSON object
//! per line.
//!
//! Log calls carry their facts as structured fields (`log`'s key-values:
//! `info!(source = name, event = "start", url = shown; "")`), so each
//! formatter writes them as they are: the text form as `key=value` pairs
//! (a value with spaces or quotes is quoted), the JSON form as fields,
//! numbers as JSON numbers. Nothing is parsed back out of formatted text.
//!
//! Levels: `error` an internal failure; `warn` a page given up, a breaker
//! opened, a source stopped early; `info` a source's start and end, the
//! run's end; `debug` each retry decision and its wait; `trace` each
//! request. ureq's own lines are capped at `info` whatever `RUST_LOG`
//! says: its `debug` and `trace` lines show request URLs and header bytes,
//! secrets included, in forms ingest cannot redact.

use std::io::Write;

use log::kv::{self, VisitSource};
use serde_json::{Map, Value};

/// Installs the global logger once; later calls do nothing.
pub fn init(json: bool) {
    let env = env_logger::Env::default().default_filter_or("info");
    let mut builder = env_logger::Builder::from_env(env);
    // `is_hidden` drops ureq's lines below `info` in the formatters below,
    // whatever directive let them through (a filter here could only set
    // ureq's level, and would raise it under `RUST_LOG=off`).
    if json {
        builder.format(|buf, record| {
            if is_hidden(record) {
                return Ok(());
            }
            writeln!(buf, "{}", json_line(record, &now()))
        });
    } else {
        builder.format(|buf, record| {
            if is_hidden(record) {
                return Ok(());
            }
            writeln!(
                buf,
                "[{} {:<5} {}] {}",
                now(),
                record.level(),
                record.target(),
                text(record)
            )
        });
    }
    // Through the progress display, so log lines land above the bars.
    let target = env_logger::Target::Pipe(Box::new(crate::report::progress::LogWriter));
    let _ = builder.target(target).try_init();
}

/// One structured field's value, as its formatter writes it.
#[derive(Debug, Clone, PartialEq)]
enum Field {
    /// Any integer or float: a JSON number.
    Number(Value),
    /// `true` / `false`.
    Bool(bool),
    /// No value (`None`): `-` in text, `null` in JSON.
    Null,
    /// Everything else, as its `Display` text.
    Text(String),
}

impl Field {
    fn of(value: &kv::Value<'_>) -> Self {
        struct Typed(Option<Field>);
        impl<'v> kv::VisitValue<'v> for Typed {
            fn visit_any(&mut self, value: kv::Value<'_>) -> Result<(), kv::Error> {
                self.0 = Some(Field::Text(value.to_string()));
                Ok(())
            }
            fn visit_null(&mut self) -> Result<(), kv::Error> {
                self.0 = Some(Field::Null);
                Ok(())
            }
            fn visit_u64(&mut self, n: u64) -> Result<(), kv::Error> {
                self.0 = Some(Field::Number(n.into()));
                Ok(())
            }
            fn visit_i64(&mut self, n: i64) -> Result<(), kv::Error> {
                self.0 = Some(Field::Number(n.into()));
                Ok(())
            }
            fn visit_f64(&mut self, n: f64) -> Result<(), kv::Error> {
                self.0 = Some(
                    serde_json::Number::from_f64(n)
                        .map_or(Field::Null, |n| Field::Number(n.into())),
                );
                Ok(())
            }
            fn visit_bool(&mut self, b: bool) -> Result<(), kv::Error> {
                self.0 = Some(Field::Bool(b));
                Ok(())
            }
        }
        let mut typed = Typed(None);
        let _ = value.visit(&mut typed);
        typed.0.unwrap_or_else(|| Field::Text(value.to_string()))
    }

    /// `value` of `key=value`: quoted when it is empty or holds spaces,
    /// `"` or `=`, so the pair stays one token.
    fn as_text(&self) -> String {
        match self {
            Field::Number(n) => n.to_string(),
            Field::Bool(b) => b.to_string(),
            Field::Null => "-".to_string(),
            Field::Text(t) if t.is_empty() || t.contains([' ', '"', '=']) => {
                format!("\"{}\"", t.replace('"', "\\\""))
            }
            Field::Text(t) => t.clone(),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Field::Number(n) => n.clone(),
            Field::Bool(b) => Value::Bool(*b),
            Field::Null => Value::Null,
            Field::Text(t) => Value::String(t.clone()),
        }
    }
}

/// The structured fields of a record, in the order written.
fn fields(record: &log::Record<'_>) -> Vec<(String, Field)> {
    struct Collect(Vec<(String, Field)>);
    impl<'kvs> VisitSource<'kvs> for Collect {
        fn visit_pair(
            &mut self,
            key: kv::Key<'kvs>,
            value: kv::Value<'kvs>,
        ) -> Result<(), kv::Error> {
            self.0.push((key.as_str().to_string(), Field::of(&value)));
            Ok(())
        }
    }
    let mut collect = Collect(Vec::new());
    let _ = record.key_values().visit(&mut collect);
    collect.0
}

/// The message, then `key=value` for each field, on one line.
fn text(record: &log::Record<'_>) -> String {
    let mut line = record.args().to_string();
    for (key, value) in fields(record) {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&key);
        line.push('=');
        line.push_str(&value.as_text());
    }
    one_line(line)
}

/// `{"ts", "level", "target", fields…, "msg"}`: `msg` is the text form,
/// for people reading the JSON; the fields are for programs.
fn json_line(record: &log::Record<'_>, ts: &str) -> Value {
    let mut obj = Map::new();
    obj.insert("ts".into(), Value::String(ts.to_string()));
    obj.insert(
        "level".into(),
        Value::String(record.level().as_str().into()),
    );
    obj.insert("target".into(), Value::String(record.target().into()));
    for (key, value) in fields(record) {
        obj.entry(key).or_insert_with(|| value.to_json());
    }
    obj.insert("msg".into(), Value::String(text(record)));
    Value::Object(obj)
}

/// Log targets of the HTTP stack, whose lines below `info` may carry
/// secrets.
const TRANSPORT_TARGETS: [&str; 2] = ["ureq", "ureq_proto"];

/// Whether `record` is a transport line below `info`, never written.
fn is_hidden(record: &log::Record<'_>) -> bool {
    record.level() > log::Level::Info
        && TRANSPORT_TARGETS.iter().any(|t| {
            record
                .target()
                .strip_prefix(t)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// `msg` with control characters written as escapes (`\n`, `\u{1b}`), so
/// that text from a server (an error message, a URL) can neither start a
/// forged log line nor move the cursor over the progress bars.
fn one_line(msg: String) -> String {
    if !msg.chars().any(char::is_control) {
        return msg;
    }
    msg.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The current time as RFC 3339 UTC with milliseconds.
fn now() -> String {
    crate::time::rfc3339_millis(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_written_typed() {
        let error = "status: 429";
        let check = |record: &log::Record<'_>| {
            assert_eq!(
                text(record),
                r#"source=alpha page=3 error="status: 429" quote="a \"b\"" ok=true"#
            );
            let line = json_line(record, "t");
            assert_eq!(line["page"], 3);
            assert_eq!(line["ok"], true);
            assert_eq!(line["error"], "status: 429");
            assert_eq!(line["quote"], "a \"b\"");
            assert_eq!(line["msg"], text(record));
        };
        let kvs: [(&str, kv::Value<'_>); 5] = [
            ("source", kv::Value::from("alpha")),
            ("page", kv::Value::from(3u64)),
            ("error", kv::Value::from_display(&error)),
            ("quote", kv::Value::from("a \"b\"")),
            ("ok", kv::Value::from(true)),
        ];
        check(
            &log::Record::builder()
                .args(format_args!(""))
                .key_values(&kvs)
                .build(),
        );
    }

    #[test]
    fn messages_stay_on_one_line() {
        assert_eq!(one_line("plain".into()), "plain");
        assert_eq!(
            one_line("a\n[2026 INFO forged] b\r\x1b[2J".into()),
            "a\\n[2026 INFO forged] b\\r\\u{1b}[2J"
        );
    }

    #[test]
    fn transport_lines_below_info_are_hidden() {
        let hidden = |target: &str, level| {
            is_hidden(
                &log::Record::builder()
                    .target(target)
                    .level(level)
                    .args(format_args!("x"))
                    .build(),
            )
        };
        assert!(hidden("ureq", log::Level::Debug));
        assert!(hidden("ureq_proto::util", log::Level::Trace));
        assert!(hidden("ureq::run", log::Level::Debug));
        assert!(!hidden("ureq", log::Level::Info));
        assert!(!hidden("ureq::pool", log::Level::Warn));
        assert!(!hidden("ingest::fetch", log::Level::Trace));
        assert!(!hidden("urequests", log::Level::Debug));
    }
}
