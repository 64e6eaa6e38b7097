//! What the state keeps of a partitioned source (SPEC §12), under its
//! entry's `partitions`:
//!
//! ```json
//! "partitions": {"done": ["613cbf5e5562c490"], "at": "9d1c04aa3be27f10",
//!                "windows": [["2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z"]]}
//! ```
//!
//! `done` names the partitions of an unfinished pass that completed, by
//! their stable 64-bit hash (16 hex digits each: the state does not grow
//! with what the values hold), and is cleared when a pass completes; `at`
//! is the partition the entry's `resume` position belongs to; `windows` is
//! the merged set of completed windows, kept across passes, so years of
//! daily windows are a few entries and the next run fetches only the gaps
//! and what is new.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::window::Intervals;

use super::{expected, Position, Refusal};

/// A partitioned source's saved partitions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Saved {
    /// Completed partitions of the unfinished pass.
    pub done: BTreeSet<u64>,
    /// The partition the entry's `resume` belongs to.
    pub at: Option<u64>,
    /// Completed windows.
    pub windows: Intervals,
}

/// Where a partitioned source starts, by its saved partitions.
#[derive(Debug, Clone, Default)]
pub struct PartitionStart {
    /// Partitions an earlier run of this pass completed: skipped.
    pub done: BTreeSet<u64>,
    /// The partition an earlier run was cut in, and where in it.
    pub at: Option<(u64, Position)>,
    /// Windows completed by earlier runs.
    pub windows: Intervals,
}

/// How a partitioned source's partitions ended, as the state needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartitionsEnded {
    /// The pass's completed partitions (earlier runs' and this one's).
    pub done: Vec<u64>,
    /// The partition the source was cut in (its position is the
    /// source's `resume`).
    pub at: Option<u64>,
    /// Windows this run completed.
    pub windows: Vec<(i64, i64)>,
}

/// A hash as the state writes it: 16 hex digits.
fn hex(hash: u64) -> Value {
    json!(format!("{hash:016x}"))
}

/// A hash as the state writes it, read back.
fn read_hex(v: &Value) -> Option<u64> {
    v.as_str()
        .filter(|s| s.len() == 16)
        .and_then(|s| u64::from_str_radix(s, 16).ok())
}

impl Saved {
    /// Nothing saved.
    pub fn is_empty(&self) -> bool {
        self.done.is_empty() && self.at.is_none() && self.windows.is_empty()
    }

    /// The `partitions` of an entry, checked for its shape.
    pub fn from_json(v: &Value) -> Result<Saved, Refusal> {
        let o = v
            .as_object()
            .ok_or_else(|| expected("partitions", "an object", v))?;
        if let Some(key) = o
            .keys()
            .find(|k| !["done", "at", "windows"].contains(&k.as_str()))
        {
            return Err(("partitions".into(), format!("unknown key {key:?}")));
        }
        let hash_list = "an array of 16-hex-digit partition hashes";
        let done = match o.get("done") {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|h| read_hex(h).ok_or_else(|| expected("partitions.done", hash_list, h)))
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(expected("partitions.done", hash_list, other)),
        };
        let at = match o.get("at") {
            None | Some(Value::Null) => None,
            Some(h) => Some(
                read_hex(h)
                    .ok_or_else(|| expected("partitions.at", "a 16-hex-digit partition hash", h))?,
            ),
        };
        let windows = match o.get("windows") {
            None | Some(Value::Null) => Intervals::default(),
            Some(w) => Intervals::from_json(w).map_err(|why| ("partitions.windows".into(), why))?,
        };
        Ok(Saved { done, at, windows })
    }

    /// As the state file holds it.
    pub fn to_json(&self) -> Value {
        json!({
            "done": self.done.iter().map(|&h| hex(h)).collect::<Vec<_>>(),
            "at": self.at.map(hex),
            "windows": self.windows.to_json(),
        })
    }

    /// What a run that ended as `ended` leaves: the pass's completed
    /// partitions unless it completed (`clean`), the partition it was cut
    /// in, and the windows it completed added to the saved ones.
    pub fn after(&self, ended: &PartitionsEnded, clean: bool, resumes: bool) -> Saved {
        let mut windows = self.windows.clone();
        for &(a, b) in &ended.windows {
            windows.insert(a, b);
        }
        Saved {
            done: match clean {
                true => BTreeSet::new(),
                false => ended.done.iter().copied().collect(),
            },
            at: ended.at.filter(|_| resumes),
            windows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_partitions_read_back_and_hostile_ones_are_refused() {
        let mut saved = Saved {
            done: [1u64, 0x613c_bf5e_5562_c490].into_iter().collect(),
            at: Some(u64::MAX),
            windows: Intervals::default(),
        };
        saved.windows.insert(0, 86_400_000);
        let json = saved.to_json();
        assert_eq!(json["done"][0], "0000000000000001");
        assert_eq!(Saved::from_json(&json), Ok(saved.clone()));
        for (doc, field) in [
            (json!([]), "partitions"),
            (json!({"done": ["xyz"]}), "partitions.done"),
            (json!({"done": [12]}), "partitions.done"),
            (json!({"at": "12"}), "partitions.at"),
            (
                json!({"windows": [["2026-01-02", "2026-01-01"]]}),
                "partitions.windows",
            ),
            (json!({"extra": 1}), "partitions"),
        ] {
            let (got, _) = Saved::from_json(&doc).unwrap_err();
            assert_eq!(got, field, "{doc}");
        }
    }

    #[test]
    fn a_completed_pass_clears_its_partitions_but_keeps_its_windows() {
        let saved = Saved {
            done: [7].into_iter().collect(),
            ..Saved::default()
        };
        let ended = PartitionsEnded {
            done: vec![7, 8],
            at: Some(9),
            windows: vec![(0, 10), (10, 20)],
        };
        let cut = saved.after(&ended, false, true);
        assert_eq!(cut.done.len(), 2);
        assert_eq!(cut.at, Some(9));
        let whole = saved.after(&ended, true, false);
        assert!(whole.done.is_empty() && whole.at.is_none());
        assert_eq!(whole.windows.iter().collect::<Vec<_>>(), [(0, 20)]);
    }
}
