//! `records.jsonl` as a record sink: one record per line, written into
//! the file's buffered writer (the file itself is an `AtomicFile`, which
//! the pipeline finishes and renames). Every record is taken; a write
//! error is an output failure.

use std::io::{self, Write};
use std::time::SystemTime;

use crate::process::{Delivery, RecordSink};

/// Records as JSON Lines into `W` (the records file's writer).
#[derive(Debug)]
pub struct RecordsFile<W: Write>(pub W);

impl<W: Write> RecordSink for RecordsFile<W> {
    fn record(&mut self, _: usize, _: SystemTime, record: &[u8]) -> io::Result<Delivery> {
        self.0.write_all(record)?;
        self.0.write_all(b"\n")?;
        Ok(Delivery::Taken)
    }

    /// A file takes every record: nothing is ever undelivered.
    fn end_chunk(&mut self) -> io::Result<Vec<usize>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_record_is_a_line_and_none_is_undelivered() {
        let mut file = RecordsFile(Vec::new());
        let now = SystemTime::now();
        assert_eq!(file.record(0, now, br#"{"a":1}"#).unwrap(), Delivery::Taken);
        assert_eq!(file.record(1, now, br#"{"b":2}"#).unwrap(), Delivery::Taken);
        assert!(file.end_chunk().unwrap().is_empty());
        assert!(file.drain().unwrap().is_empty());
        assert_eq!(file.0, b"{\"a\":1}\n{\"b\":2}\n");
    }
}
