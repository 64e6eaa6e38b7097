//! First-wins duplicate detection per source, in about `id length + 10`
//! bytes per distinct id.
//!
//! The index is the only structure of a run that grows with the data (the
//! channel is bounded and records stream to disk), so it is built for
//! memory: each source's distinct ids are appended, length-prefixed, to an
//! arena of fixed-size blocks (no reallocation spikes, no per-id heap
//! allocation), and a SwissTable (`hashbrown::HashTable`) of `u32` arena
//! offsets finds them: 5 bytes a slot, at most 7/8 full, one SIMD probe
//! group per lookup. Keys are compared byte for byte, so a hash collision
//! can never make two different ids look the same; the hash is randomly
//! seeded per run, so a server cannot pick ids that collide on purpose.
//!
//! Ids too long for a block, and any ids past 4 GiB of arena per source
//! (where `u32` offsets end), go to a plain `HashSet`: bigger, never wrong.

use std::collections::HashSet;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

/// Arena block size. Untouched block tails cost no resident memory.
const BLOCK: usize = 256 * 1024;
/// Ids longer than this live in the overflow set.
const MAX_ARENA_ID: usize = BLOCK / 4;

/// Ids already seen, per source.
#[derive(Debug, Default)]
pub struct DedupeIndex {
    sources: Vec<IdSet>,
}

impl DedupeIndex {
    /// An empty index for `sources` sources.
    pub fn new(sources: usize) -> Self {
        Self {
            sources: (0..sources).map(|_| IdSet::default()).collect(),
        }
    }

    /// Records `id` for `source`; `true` if it is new (the record wins).
    pub fn insert(&mut self, source: usize, id: &str) -> bool {
        self.sources[source].insert(id.as_bytes())
    }

    /// Distinct ids recorded for `source` (what the tests check).
    #[cfg(test)]
    pub fn len(&self, source: usize) -> usize {
        self.sources[source].len
    }
}

/// One source's set of ids.
#[derive(Default)]
struct IdSet {
    hasher: DefaultHashBuilder,
    /// Length-prefixed ids; entry offsets are `block * BLOCK + position`.
    arena: Arena,
    /// Arena offsets of the ids.
    table: HashTable<u32>,
    /// Ids that do not fit the arena.
    overflow: HashSet<Box<[u8]>>,
    /// All distinct ids.
    len: usize,
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdSet").field("len", &self.len).finish()
    }
}

impl IdSet {
    fn insert(&mut self, id: &[u8]) -> bool {
        if !self.overflow.is_empty() && self.overflow.contains(id) {
            return false;
        }
        let hash = self.hasher.hash_one(id);
        let arena = &self.arena;
        if self.table.find(hash, |&at| arena.get(at) == id).is_some() {
            return false;
        }
        match self.arena.push(id) {
            Some(at) => {
                let (arena, hasher) = (&self.arena, &self.hasher);
                self.table
                    .insert_unique(hash, at, |&at| hasher.hash_one(arena.get(at)));
            }
            None => {
                self.overflow.insert(id.into());
            }
        }
        self.len += 1;
        true
    }
}

/// Length-prefixed byte strings in fixed-size blocks, addressed by `u32`.
#[derive(Default)]
struct Arena {
    blocks: Vec<Vec<u8>>,
}

impl Arena {
    /// The bytes stored at `at`.
    fn get(&self, at: u32) -> &[u8] {
        let at = at as usize;
        let block = &self.blocks[at / BLOCK];
        let start = at % BLOCK;
        let (len, header) = read_len(&block[start..]);
        &block[start + header..start + header + len]
    }

    /// Appends `bytes`; `None` if they are too long or past `u32` offsets.
    fn push(&mut self, bytes: &[u8]) -> Option<u32> {
        if bytes.len() > MAX_ARENA_ID {
            return None;
        }
        let mut header = [0u8; 5];
        let header_len = write_len(bytes.len(), &mut header);
        let need = header_len + bytes.len();
        if self.blocks.last().is_none_or(|b| b.len() + need > BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK));
        }
        let index = self.blocks.len() - 1;
        let block = &mut self.blocks[index];
        let at = u32::try_from(index * BLOCK + block.len()).ok()?;
        block.extend_from_slice(&header[..header_len]);
        block.extend_from_slice(bytes);
        Some(at)
    }
}

/// LEB128 length prefix; returns its size.
fn write_len(mut n: usize, out: &mut [u8; 5]) -> usize {
    let mut i = 0;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = byte;
            return i + 1;
        }
        out[i] = byte | 0x80;
        i += 1;
    }
}

/// Reads a LEB128 length prefix: (length, prefix size).
fn read_len(bytes: &[u8]) -> (usize, usize) {
    let mut n = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        n |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return (n, i + 1);
        }
    }
    (n, bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn first_wins_per_source() {
        let mut d = DedupeIndex::new(2);
        assert!(d.insert(0, "17"));
        assert!(!d.insert(0, "17"));
        assert!(d.insert(1, "17"));
        assert!(d.insert(0, "18"));
        assert!(d.insert(0, ""));
        assert!(!d.insert(0, ""));
        assert_eq!((d.len(0), d.len(1)), (3, 1));
    }

    #[test]
    fn many_ids_across_blocks_and_growth() {
        let mut d = DedupeIndex::new(1);
        for i in 0..200_000u32 {
            assert!(d.insert(0, &format!("id-{i}")), "{i}");
        }
        for i in (0..200_000u32).step_by(7) {
            assert!(!d.insert(0, &format!("id-{i}")), "{i}");
        }
        assert_eq!(d.len(0), 200_000);
        assert!(d.sources[0].arena.blocks.len() > 1);
    }

    #[test]
    fn long_ids_overflow_and_still_dedupe() {
        let mut d = DedupeIndex::new(1);
        let long = "x".repeat(MAX_ARENA_ID + 1);
        assert!(d.insert(0, &long));
        assert!(!d.insert(0, &long));
        let medium = "y".repeat(300);
        assert!(d.insert(0, &medium));
        assert!(!d.insert(0, &medium));
        assert_eq!(d.len(0), 2);
    }

    #[test]
    fn length_prefix_round_trips() {
        for n in [0, 1, 127, 128, 300, 16_383, 16_384, MAX_ARENA_ID] {
            let mut buf = [0u8; 5];
            let size = write_len(n, &mut buf);
            assert_eq!(read_len(&buf[..size]), (n, size));
        }
    }

    proptest! {
        #![proptest_config(crate::testing::proptest_config())]

        /// Same answers as a plain HashSet, whatever the ids.
        #[test]
        fn agrees_with_a_hash_set(ids in proptest::collection::vec("[a-c]{0,3}|.{0,40}", 0..300)) {
            let mut d = DedupeIndex::new(1);
            let mut model = std::collections::HashSet::new();
            for id in &ids {
                prop_assert_eq!(d.insert(0, id), model.insert(id.clone()));
            }
            prop_assert_eq!(d.len(0), model.len());
        }
    }
}
