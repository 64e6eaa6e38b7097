//! Records on stdout (`--stdout`, `--format singer`): whole lines, written
//! once per chunk so that a consumer sees records while the run goes on,
//! and a closed pipe that ends delivery, not the run.
//!
//! [`StdoutSink`] is a record sink: the processor hands it each chunk's
//! records, which it appends to its buffer as lines (bare records, or
//! Singer messages), and at the chunk's end it writes the buffer with
//! plain `write` calls (one or a few per chunk, not one per line), noting
//! where each record's line ends. When the reader has gone (`ingest run --stdout | head -1`: a
//! broken pipe), the sink closes: the run goes on to its end with the exit
//! code it would have had, every output file is written, and each record
//! from then on, or whose line the pipe did not take whole, is counted as
//! `undelivered` instead of being written. Any other write error is an
//! output failure, as it is for `records.jsonl`.

use std::io::{self, ErrorKind, Write};
use std::time::SystemTime;

use log::warn;

use crate::output::singer::{self, Singer};
use crate::process::{Delivery, RecordSink};
use crate::state::{Ended, State};

/// The records' stdout: JSON Lines, or Singer messages.
pub struct StdoutSink<'r> {
    out: Box<dyn Write + Send + 'r>,
    /// Lines not yet written.
    buf: Vec<u8>,
    /// Where each record's line(s) end in `buf`, with the record's
    /// source: what a short write leaves undelivered.
    ends: Vec<(usize, usize)>,
    /// The reader has gone: nothing is written any more.
    closed: bool,
    /// Singer messages instead of bare records (`--format singer`).
    singer: Option<Singer<'r>>,
}

impl std::fmt::Debug for StdoutSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink")
            .field("buffered", &self.buf.len())
            .field("closed", &self.closed)
            .field("singer", &self.singer.is_some())
            .finish()
    }
}

impl<'r> StdoutSink<'r> {
    /// A sink writing to `out` (the process's stdout in a run), Singer
    /// messages when `singer` is given.
    pub fn new(out: Box<dyn Write + Send + 'r>, singer: Option<Singer<'r>>) -> Self {
        Self {
            out,
            buf: Vec::with_capacity(64 << 10),
            ends: Vec::new(),
            closed: false,
            singer,
        }
    }

    /// Whether the reader went away during the run.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Writes what is buffered. Returns the source of each buffered record
    /// whose line the reader did not take whole because it has gone; any
    /// other write error is returned as it is.
    fn flush(&mut self) -> io::Result<Vec<usize>> {
        let mut written = 0;
        while written < self.buf.len() && !self.closed {
            match self.out.write(&self.buf[written..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::BrokenPipe => self.close(),
                Err(e) => return Err(e),
            }
        }
        if !self.closed {
            match self.out.flush() {
                Err(e) if e.kind() == ErrorKind::BrokenPipe => self.close(),
                other => other?,
            }
        }
        let lost = self
            .ends
            .iter()
            .filter(|&&(end, _)| end > written)
            .map(|&(_, source)| source)
            .collect();
        self.buf.clear();
        self.ends.clear();
        Ok(lost)
    }

    fn close(&mut self) {
        warn!(
            event = "stdout_closed",
            note = "the reader of stdout has gone: records are no longer delivered; the run goes on, and the summary counts them as undelivered"; ""
        );
        self.closed = true;
    }
}

impl RecordSink for StdoutSink<'_> {
    /// Buffers the record's line; `Undelivered` once stdout has closed.
    fn record(
        &mut self,
        source: usize,
        received: SystemTime,
        record: &[u8],
    ) -> io::Result<Delivery> {
        if self.closed {
            return Ok(Delivery::Undelivered);
        }
        match &mut self.singer {
            Some(singer) => singer.write_record(&mut self.buf, source, received, record),
            None => {
                self.buf.extend_from_slice(record);
                self.buf.push(b'\n');
            }
        }
        self.ends.push((self.buf.len(), source));
        Ok(Delivery::Taken)
    }

    /// Buffers Singer's STATE that says so (nothing in JSON Lines, or once
    /// stdout has closed).
    fn source_ended(&mut self, source: usize, ended: &Ended) -> io::Result<()> {
        if let (Some(singer), false) = (&mut self.singer, self.closed) {
            singer.write_source_end(&mut self.buf, source, ended);
        }
        Ok(())
    }

    fn end_chunk(&mut self) -> io::Result<Vec<usize>> {
        self.flush()
    }

    /// Singer's last STATE, `state` as the state file holds it.
    fn finish(&mut self, state: &State) -> io::Result<()> {
        if let (Some(_), false) = (&self.singer, self.closed) {
            singer::write_state(&mut self.buf, state);
        }
        self.flush().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Takes `room` bytes, then says the pipe is broken; keeps what it took.
    struct Pipe {
        room: usize,
        took: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.room == 0 {
                return Err(ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room).min(7);
            self.room -= n;
            self.took.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_counts_what_it_did_not_take_whole_and_everything_after() {
        let config = crate::config::Config::parse(
            "t",
            r#"{"sources": [{"name": "a", "url": "http://h/"}, {"name": "b", "url": "http://h/"}]}"#,
        )
        .unwrap();
        let item = crate::json::Node::parse(r#"{"id": 1, "price": 2}"#).unwrap();
        let a = crate::record::normalize("a", &item, &config.sources[0].record).unwrap();
        let b = crate::record::normalize("b", &item, &config.sources[1].record).unwrap();
        let mut line = Vec::new();
        a.write_json(&mut line);
        let mut other = Vec::new();
        b.write_json(&mut other);
        let took = Arc::new(Mutex::new(Vec::new()));
        // Room for the first line and part of the second.
        let pipe = Pipe {
            room: line.len() + 1 + 5,
            took: Arc::clone(&took),
        };
        let mut sink = StdoutSink::new(Box::new(pipe), None);
        let now = SystemTime::now();
        for (source, record) in [(0, &line), (1, &other), (0, &line)] {
            assert_eq!(sink.record(source, now, record).unwrap(), Delivery::Taken);
        }
        assert_eq!(sink.end_chunk().unwrap(), [1, 0]);
        assert!(sink.closed());
        let after = sink.record(1, now, &other).unwrap();
        assert_eq!(after, Delivery::Undelivered, "nothing after the close");
        assert_eq!(sink.end_chunk().unwrap(), Vec::<usize>::new());
        let took = took.lock().unwrap();
        assert!(took.starts_with(&line) && took[line.len()] == b'\n');
    }

    #[test]
    fn other_write_errors_are_failures() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("no space left on device"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut sink = StdoutSink::new(Box::new(Full), None);
        sink.buf.extend_from_slice(b"{}\n");
        assert!(sink.flush().is_err());
        assert!(!sink.closed());
    }
}
