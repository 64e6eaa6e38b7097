//! Log setup: `env_logger` on stderr, level from `RUST_LOG` (default
//! `info`), plain `key=value` lines or, with `--log-json`, one JSON object
//! per line whose `key=value` pairs are also lifted into fields.
//!
//! Levels: `error` an internal failure; `warn` a page given up, a breaker
//! opened, a source stopped early; `info` a source's start and end, the
//! run's end; `debug` each retry decision and its wait; `trace` each
//! request. ureq's own lines are capped at `info` whatever `RUST_LOG`
//! says: its `debug` and `trace` lines show request URLs and header bytes,
//! secrets included, in forms ingest cannot redact.

use std::io::Write;

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
            let msg = one_line(record.args().to_string());
            let mut obj = Map::new();
            obj.insert("ts".into(), Value::String(now()));
            obj.insert(
                "level".into(),
                Value::String(record.level().as_str().into()),
            );
            obj.insert("target".into(), Value::String(record.target().into()));
            for (key, value) in key_values(&msg) {
                obj.entry(key).or_insert(Value::String(value));
            }
            obj.insert("msg".into(), Value::String(msg));
            writeln!(buf, "{}", Value::Object(obj))
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
                one_line(record.args().to_string())
            )
        });
    }
    // Through the progress display, so log lines land above the bars.
    let target = env_logger::Target::Pipe(Box::new(crate::progress::LogWriter));
    let _ = builder.target(target).try_init();
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
    crate::output::rfc3339_millis(std::time::SystemTime::now())
}

/// The `key=value` pairs of a log message; values may be `"quoted"`.
pub fn key_values(msg: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut rest = msg.trim_start();
    while !rest.is_empty() {
        let token_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let Some(eq) = rest[..token_end].find('=') else {
            rest = rest[token_end..].trim_start();
            continue;
        };
        let key = &rest[..eq];
        let after = &rest[eq + 1..];
        let (value, remaining) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            },
            None => {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..end], &after[end..])
            }
        };
        let valid_key = !key.is_empty()
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if valid_key {
            pairs.push((key.to_string(), value.to_string()));
        }
        rest = remaining.trim_start();
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_lifted_from_messages() {
        let pairs =
            key_values(r#"source=alpha page=3 status=429 error="status: 429" wait_ms=812 note"#);
        let want = [
            ("source", "alpha"),
            ("page", "3"),
            ("status", "429"),
            ("error", "status: 429"),
            ("wait_ms", "812"),
        ];
        let got: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, want);
        assert!(key_values("no pairs here").is_empty());
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
