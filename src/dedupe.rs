//! First-wins duplicate detection per source.
//!
//! The index is the only structure of a run that grows with the data (the
//! channel is bounded and records stream to disk), so it stores each
//! distinct id once and nothing else. Exact string comparison decides:
//! a hash collision can never make two different ids look the same.

use std::collections::HashSet;

/// Ids already seen, per source.
#[derive(Debug, Default)]
pub struct DedupeIndex {
    seen: Vec<HashSet<Box<str>>>,
}

impl DedupeIndex {
    /// An empty index for `sources` sources.
    pub fn new(sources: usize) -> Self {
        Self {
            seen: (0..sources).map(|_| HashSet::new()).collect(),
        }
    }

    /// Records `id` for `source`; `true` if it is new (the record wins).
    pub fn insert(&mut self, source: usize, id: &str) -> bool {
        let set = &mut self.seen[source];
        if set.contains(id) {
            false
        } else {
            set.insert(id.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_wins_per_source() {
        let mut d = DedupeIndex::new(2);
        assert!(d.insert(0, "17"));
        assert!(!d.insert(0, "17"));
        assert!(d.insert(1, "17"));
        assert!(d.insert(0, "18"));
    }
}
