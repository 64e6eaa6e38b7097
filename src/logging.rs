//! Log setup: `env_logger` on stderr, level from `RUST_LOG` (default
//! `info`), plain `key=value` lines or, with `--log-json`, one JSON object
//! per line whose `key=value` pairs are also lifted into fields.
//!
//! Levels: `error` an internal failure; `warn` a page given up, a breaker
//! opened, a source stopped early; `info` a source's start and end, the
//! run's end; `debug` each retry decision and its wait; `trace` each
//! request. ureq's own debug chatter is capped at `info` unless `RUST_LOG`
//! names it.

use std::io::Write;

use serde_json::{Map, Value};

/// Installs the global logger once; later calls do nothing.
pub fn init(json: bool) {
    let env = env_logger::Env::default().default_filter_or("info,ureq=info,ureq_proto=info");
    let mut builder = env_logger::Builder::from_env(env);
    if json {
        builder.format(|buf, record| {
            let msg = record.args().to_string();
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
            writeln!(
                buf,
                "[{} {:<5} {}] {}",
                now(),
                record.level(),
                record.target(),
                record.args()
            )
        });
    }
    // Through the progress display, so log lines land above the bars.
    let target = env_logger::Target::Pipe(Box::new(crate::progress::LogWriter));
    let _ = builder.target(target).try_init();
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
}
