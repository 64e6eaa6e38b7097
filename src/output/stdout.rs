//! Records on stdout (`--stdout`, `--format singer`): whole lines, written
//! by a thread of their own, so that neither a reader that goes away nor
//! one that never reads holds the run past its promises (SPEC §4).
//!
//! The processor's side, [`StdoutSink`], formats each chunk's lines (bare
//! records, or Singer messages) into a buffer and hands it to the
//! [`StdoutWriter`] thread through a small bounded channel, so a slow
//! reader slows the run (backpressure) as a direct write would. Every wait
//! for the writer is bounded: once the run is told to stop (the deadline
//! or an interrupt, [`RunControl::stop_time`]), the sink gives the writer
//! a short [`GRACE`] and then abandons it. What stdout had not taken by
//! then is `undelivered`, and the summary and the state are written on
//! time. The writer, blocked in a `write` that no reader will complete, is
//! left to the process's exit; that is why it is not a scoped thread.
//!
//! When the reader has gone (`ingest run --stdout | head -1`: a broken
//! pipe), delivery ends, not the run: the run goes on to its end with the
//! exit code it would have had, every output file is written, and each
//! record whose line the pipe did not take whole, and every one after, is
//! `undelivered`. Any other write error is an output failure, as it is for
//! `records.jsonl`. The writer writes whole lines in pieces that a pipe
//! takes whole or not at all ([`PIPE_BUF`]), so a reader is left with
//! whole lines even when the writer is given up in mid-buffer.
//!
//! A standard output closed at start ([`open`]) stops the run before it
//! starts, as an unwritable `--out` does: every record would be lost.

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender};
use log::warn;

use crate::control::{lock, saturating_add, RunControl};
use crate::error::Error;
use crate::output::singer::{self, Singer};
use crate::process::{Delivery, RecordSink};
use crate::state::{Ended, State};

/// How long the sink still waits for stdout once the run is told to
/// stop. The rest of SPEC §4's second goes to the records still queued,
/// the summary and the state.
pub const GRACE: Duration = Duration::from_millis(300);

/// How often a wait for the writer looks at the run's stop time again
/// (an interrupt brings it forward).
const WAIT_SLICE: Duration = Duration::from_millis(20);

/// Buffers (one per chunk) waiting for the writer: slack for a steady
/// reader, and a bound on memory for a slow one.
const BUFFERS: usize = 4;

/// A write of at most this many bytes goes into a pipe whole or not at
/// all (POSIX `PIPE_BUF`; 4096 on Linux, the smallest the standard
/// allows is 512 and no common system goes below 4096).
pub const PIPE_BUF: usize = 4096;

/// What the records become on stdout.
#[derive(Debug)]
pub enum StdoutFormat<'r> {
    /// One record per line, as `records.jsonl` holds them.
    Lines,
    /// Singer messages: SCHEMA, RECORD, STATE (SPEC §10).
    Singer(Box<Singer<'r>>),
}

/// What the writer has done, under one lock.
#[derive(Debug, Default)]
struct Progress {
    /// Bytes stdout has taken.
    written: u64,
    /// Why the writer stopped, once it has.
    end: Option<WriterEnd>,
}

/// Why the writer thread stopped.
#[derive(Debug)]
enum WriterEnd {
    /// The sink had no more, and all of it was written.
    Done,
    /// The reader has gone (a broken pipe).
    ReaderGone,
    /// The sink gave it up.
    Abandoned,
    /// A write failed otherwise.
    Failed(io::Error),
}

/// Between the sink and its writer.
#[derive(Debug, Default)]
struct Shared {
    /// Written by the writer after each piece; read by the sink.
    progress: Mutex<Progress>,
    /// Notified by the writer after each buffer and when it stops.
    changed: Condvar,
    /// Set by the sink when it gives the writer up; read by the writer
    /// before each write, so that it starts none after.
    abandoned: AtomicBool,
}

/// Why delivery ended before the run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The reader went away.
    ReaderGone,
    /// The run stopped, and stdout had not taken everything in time.
    Abandoned,
}

/// The records' stdout, the processor's side: formats lines and hands
/// them to the [`StdoutWriter`].
pub struct StdoutSink<'r> {
    format: StdoutFormat<'r>,
    /// Lines not yet handed over.
    buf: Vec<u8>,
    /// Bytes handed to the writer so far: where `buf` starts in the
    /// stream.
    handed: u64,
    /// Records handed over or buffered whose fate is not known yet: where
    /// each one's line ends in the stream, and its source.
    pending: VecDeque<(u64, usize)>,
    /// To the writer; `None` once the sink has finished.
    tx: Option<Sender<Vec<u8>>>,
    shared: Arc<Shared>,
    /// The deadline and the interrupt: how long a wait may last.
    control: &'r RunControl,
    /// Set once delivery has ended before the run.
    cut: Option<Cut>,
}

impl std::fmt::Debug for StdoutSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutSink")
            .field("buffered", &self.buf.len())
            .field("handed", &self.handed)
            .field("pending", &self.pending.len())
            .field("cut", &self.cut)
            .finish()
    }
}

/// The records' stdout, the writer thread's side: writes what the sink
/// hands it until the sink is done, the reader goes away or the sink
/// gives it up.
pub struct StdoutWriter {
    rx: Receiver<Vec<u8>>,
    out: Box<dyn Write + Send>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StdoutWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StdoutWriter").finish_non_exhaustive()
    }
}

/// The process's standard output, for the records: a handle of its own
/// (a duplicate of fd 1), taken before the run opens anything. Refused
/// when fd 1 was closed at start (`ingest run --stdout >&-`): Rust's
/// runtime puts `/dev/null`, opened read-write, in its place, and every
/// record would be lost while the run looked fine. A user's `> /dev/null`
/// is write-only, and taken at its word.
#[cfg(unix)]
pub fn open() -> Result<Box<dyn Write + Send>, Error> {
    use std::os::fd::AsFd;
    let refused = |source| Error::Output {
        path: "standard output".into(),
        source,
    };
    let fd = io::stdout().as_fd().try_clone_to_owned().map_err(refused)?;
    if closed_at_start() {
        return Err(refused(io::Error::other(
            "it was closed at start (`>&-`), and the records would be lost: \
             give it a reader, or write records.jsonl (no --stdout, no --format singer)",
        )));
    }
    Ok(Box::new(std::fs::File::from(fd)))
}

/// The process's standard output, for the records.
#[cfg(not(unix))]
pub fn open() -> Result<Box<dyn Write + Send>, Error> {
    Ok(Box::new(io::stdout()))
}

/// Whether fd 1 is the `/dev/null` that Rust's runtime opens read-write
/// in place of a standard output closed at start (procfs tells; without
/// it, nothing is refused). A shell's `> /dev/null` opens it write-only.
#[cfg(unix)]
fn closed_at_start() -> bool {
    let null = std::fs::read_link("/proc/self/fd/1").is_ok_and(|p| p.as_os_str() == "/dev/null");
    let read_write = || {
        let info = std::fs::read_to_string("/proc/self/fdinfo/1").ok()?;
        let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?;
        let flags = u32::from_str_radix(flags.trim(), 8).ok()?;
        // O_ACCMODE is 3 and O_RDWR 2 on every Linux architecture.
        Some(flags & 0o3 == 0o2)
    };
    null && read_write() == Some(true)
}

/// A sink writing records as `format` to `out` through a writer, which
/// the caller runs on a thread of its own ([`StdoutWriter::run`]); its
/// waits end by `control`'s stop time.
pub fn channel<'r>(
    out: Box<dyn Write + Send>,
    format: StdoutFormat<'r>,
    control: &'r RunControl,
) -> (StdoutSink<'r>, StdoutWriter) {
    let (tx, rx) = crossbeam_channel::bounded(BUFFERS);
    let shared = Arc::new(Shared::default());
    let sink = StdoutSink {
        format,
        buf: Vec::new(),
        handed: 0,
        pending: VecDeque::new(),
        tx: Some(tx),
        shared: Arc::clone(&shared),
        control,
        cut: None,
    };
    (sink, StdoutWriter { rx, out, shared })
}

impl StdoutSink<'_> {
    /// Whether the reader went away during the run.
    pub fn closed(&self) -> bool {
        self.cut == Some(Cut::ReaderGone)
    }

    /// Whether the run gave up waiting for stdout when it stopped.
    pub fn abandoned(&self) -> bool {
        self.cut == Some(Cut::Abandoned)
    }

    /// When waiting for the writer ends: a little after the run is told
    /// to stop.
    fn give_up_at(&self) -> Instant {
        saturating_add(self.control.stop_time(), GRACE)
    }

    /// Hands the buffered lines to the writer, waiting for room while the
    /// run may still wait.
    fn hand_over(&mut self) -> io::Result<()> {
        let tx = match (&self.tx, self.cut) {
            _ if self.buf.is_empty() => return Ok(()),
            (Some(tx), None) => tx.clone(),
            // Nobody will write them: their records stay pending, and so
            // undelivered.
            _ => {
                self.buf.clear();
                return Ok(());
            }
        };
        let mut buf = std::mem::take(&mut self.buf);
        let len = buf.len() as u64;
        loop {
            match tx.send_timeout(buf, WAIT_SLICE) {
                Ok(()) => {
                    self.handed += len;
                    return Ok(());
                }
                Err(SendTimeoutError::Timeout(back)) if Instant::now() < self.give_up_at() => {
                    buf = back;
                }
                Err(SendTimeoutError::Timeout(_)) => {
                    self.abandon();
                    return Ok(());
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    self.learn()?;
                    return match self.cut {
                        Some(_) => Ok(()),
                        None => Err(io::Error::other("the stdout writer thread stopped")),
                    };
                }
            }
        }
    }

    /// Waits until `done` holds of the writer's progress or the writer has
    /// stopped; gives the writer up once the run's stop time is past by
    /// [`GRACE`].
    fn wait_for(&mut self, done: impl Fn(&Progress) -> bool) {
        if self.cut.is_some() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let mut progress = lock(&shared.progress);
        while !done(&progress) && progress.end.is_none() {
            let (now, give_up) = (Instant::now(), self.give_up_at());
            if now >= give_up {
                drop(progress);
                self.abandon();
                return;
            }
            let wait = (give_up - now).min(WAIT_SLICE);
            progress = match shared.changed.wait_timeout(progress, wait) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Takes in why the writer stopped, if it has: a reader gone closes
    /// delivery, a failed write is returned.
    fn learn(&mut self) -> io::Result<()> {
        let gone = match &lock(&self.shared.progress).end {
            Some(WriterEnd::ReaderGone) => true,
            Some(WriterEnd::Failed(e)) => return Err(io::Error::new(e.kind(), e.to_string())),
            _ => false,
        };
        if gone {
            self.close();
        }
        Ok(())
    }

    /// Takes what the writer has done: records now known delivered leave
    /// `pending`; once delivery has ended, every record still pending is
    /// undelivered. Returns their sources.
    fn settle(&mut self) -> io::Result<Vec<usize>> {
        self.learn()?;
        // Read after `learn`: a writer that has stopped writes no more.
        let written = lock(&self.shared.progress).written;
        let mut lost = Vec::new();
        while let Some(&(end, source)) = self.pending.front() {
            if end <= written {
                self.pending.pop_front();
            } else if self.cut.is_some() {
                self.pending.pop_front();
                lost.push(source);
            } else {
                break;
            }
        }
        Ok(lost)
    }

    fn close(&mut self) {
        if self.cut.is_some() {
            return;
        }
        warn!(
            event = "stdout_closed",
            note = "the reader of stdout has gone: records are no longer delivered; the run goes on, and the summary counts them as undelivered"; ""
        );
        self.cut = Some(Cut::ReaderGone);
        self.buf.clear();
    }

    /// Gives the writer up: it starts no write after this one, and every
    /// record it has not written is undelivered (one whose piece was
    /// being written at this moment too: it may reach the reader later,
    /// and counting it undelivered is the safe side, as the state then
    /// does not move past it).
    fn abandon(&mut self) {
        self.shared.abandoned.store(true, Ordering::SeqCst);
        self.cut = Some(Cut::Abandoned);
        self.buf.clear();
        warn!(
            event = "stdout_abandoned",
            note = "stdout did not take the records in time after the deadline or the interrupt: the rest are not delivered, and the summary counts them as undelivered"; ""
        );
    }
}

impl RecordSink for StdoutSink<'_> {
    fn record(
        &mut self,
        source: usize,
        received: SystemTime,
        record: &[u8],
    ) -> io::Result<Delivery> {
        if self.cut.is_some() {
            return Ok(Delivery::Undelivered);
        }
        match &mut self.format {
            StdoutFormat::Lines => {
                self.buf.extend_from_slice(record);
                self.buf.push(b'\n');
            }
            StdoutFormat::Singer(singer) => {
                singer.write_record(&mut self.buf, source, received, record);
            }
        }
        self.pending
            .push_back((self.handed + self.buf.len() as u64, source));
        Ok(Delivery::Taken)
    }

    /// Singer's STATE that says so (nothing in JSON Lines).
    fn source_ended(&mut self, source: usize, ended: &Ended) -> io::Result<()> {
        if let (StdoutFormat::Singer(singer), None) = (&mut self.format, self.cut) {
            singer.write_source_end(&mut self.buf, source, ended);
        }
        Ok(())
    }

    fn end_chunk(&mut self) -> io::Result<Vec<usize>> {
        self.hand_over()?;
        self.settle()
    }

    fn drain(&mut self) -> io::Result<Vec<usize>> {
        self.hand_over()?;
        let handed = self.handed;
        self.wait_for(|p| p.written >= handed);
        self.settle()
    }

    /// Singer's last STATE, then the writer's end: waits, within the
    /// run's bounds, until it has written everything.
    fn finish(&mut self, state: &State) -> io::Result<()> {
        if let (StdoutFormat::Singer(_), None) = (&self.format, self.cut) {
            singer::write_state(&mut self.buf, state);
        }
        self.hand_over()?;
        // Without a sender, the writer ends once it has written the rest.
        self.tx = None;
        self.wait_for(|p| p.end.is_some());
        self.settle().map(drop)
    }
}

impl StdoutWriter {
    /// Writes until the sink is done, the reader goes away or the sink
    /// gives it up, then says why it stopped.
    pub fn run(mut self) {
        let end = self.write_all();
        lock(&self.shared.progress).end = Some(end);
        self.shared.changed.notify_all();
        // The receiver goes with `self`: the sink's next hand-over learns
        // that the writer has stopped.
    }

    fn write_all(&mut self) -> WriterEnd {
        while let Ok(buf) = self.rx.recv() {
            if let Err(end) = self.write(&buf) {
                return end;
            }
            self.shared.changed.notify_all();
        }
        match self.out.flush() {
            Ok(()) => WriterEnd::Done,
            Err(e) => failure(e),
        }
    }

    /// Writes `buf` piece by piece, each piece whole lines that a pipe
    /// takes at once, noting each piece as written.
    fn write(&mut self, buf: &[u8]) -> Result<(), WriterEnd> {
        let mut at = 0;
        while at < buf.len() {
            if self.shared.abandoned.load(Ordering::SeqCst) {
                return Err(WriterEnd::Abandoned);
            }
            match self.out.write(&buf[at..piece_end(buf, at)]) {
                Ok(0) => return Err(WriterEnd::Failed(ErrorKind::WriteZero.into())),
                Ok(n) => {
                    at += n;
                    lock(&self.shared.progress).written += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(failure(e)),
            }
        }
        Ok(())
    }
}

/// A broken pipe is a reader gone; any other error a failure.
fn failure(e: io::Error) -> WriterEnd {
    match e.kind() {
        ErrorKind::BrokenPipe => WriterEnd::ReaderGone,
        _ => WriterEnd::Failed(e),
    }
}

/// Where the piece of `buf` that starts at `at` ends: after the last
/// whole line within [`PIPE_BUF`] bytes, or after the first line when it
/// alone is longer (such a line cannot be written atomically anyway).
fn piece_end(buf: &[u8], at: usize) -> usize {
    let limit = (at + PIPE_BUF).min(buf.len());
    if limit == buf.len() {
        return limit;
    }
    match buf[at..limit].iter().rposition(|&b| b == b'\n') {
        Some(i) => at + i + 1,
        None => buf[limit..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(buf.len(), |i| limit + i + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::records_file::RecordsFile;
    use std::sync::mpsc;

    /// Takes `room` bytes, 7 at a time, then says the pipe is broken;
    /// keeps what it took.
    struct Pipe {
        room: usize,
        took: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.room).min(7);
            self.room -= n;
            self.took.lock().unwrap().extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A reader that never reads: each write blocks until `release` is
    /// dropped, then takes the whole piece.
    struct Stuck {
        release: mpsc::Receiver<()>,
        took: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.release.recv();
            self.took.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A sink on `out` with its writer running on a thread of its own.
    fn started<'r>(
        out: impl Write + Send + 'static,
        format: StdoutFormat<'r>,
        control: &'r RunControl,
    ) -> StdoutSink<'r> {
        let (sink, writer) = channel(Box::new(out), format, control);
        std::thread::spawn(move || writer.run());
        sink
    }

    /// A run without end: its deadline is the last `Instant` there is.
    fn far() -> RunControl {
        RunControl::new(saturating_add(Instant::now(), Duration::MAX))
    }

    /// A record's JSON of about `len` bytes.
    fn record(i: usize, len: usize) -> Vec<u8> {
        format!(r#"{{"id":"{i}","pad":"{}"}}"#, "x".repeat(len)).into_bytes()
    }

    #[test]
    fn a_closed_pipe_counts_what_it_did_not_take_whole_and_everything_after() {
        let (a, b) = (record(0, 10), record(1, 10));
        let took = Arc::new(Mutex::new(Vec::new()));
        // Room for the first line and part of the second.
        let pipe = Pipe {
            room: a.len() + 1 + 5,
            took: Arc::clone(&took),
        };
        let control = far();
        let mut sink = started(pipe, StdoutFormat::Lines, &control);
        let now = SystemTime::now();
        for (source, line) in [(0, &a), (1, &b), (0, &a)] {
            assert_eq!(sink.record(source, now, line).unwrap(), Delivery::Taken);
        }
        assert_eq!(sink.drain().unwrap(), [1, 0]);
        assert!(sink.closed() && !sink.abandoned());
        assert_eq!(sink.record(1, now, &b).unwrap(), Delivery::Undelivered);
        assert_eq!(sink.end_chunk().unwrap(), Vec::<usize>::new());
        sink.finish(&State::default()).unwrap();
        let took = took.lock().unwrap();
        assert!(took.starts_with(&a) && took[a.len()] == b'\n');
    }

    #[test]
    fn other_write_errors_are_failures() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("no space left on device"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let control = far();
        let mut sink = started(Full, StdoutFormat::Lines, &control);
        sink.record(0, SystemTime::now(), b"{}").unwrap();
        let error = sink.drain().unwrap_err();
        assert!(error.to_string().contains("no space"), "{error}");
        assert!(!sink.closed() && !sink.abandoned());
    }

    /// A reader that never reads holds the sink until the run's stop time
    /// and a grace, not longer: at the deadline, or soon after an
    /// interrupt, every record not written is undelivered, and the writer
    /// starts no write after.
    #[test]
    fn a_reader_that_never_reads_is_given_up_at_the_deadline_or_an_interrupt() {
        for interrupt in [false, true] {
            let deadline = Duration::from_millis(if interrupt { 60_000 } else { 150 });
            let control = RunControl::new(Instant::now() + deadline);
            let (release, blocked) = mpsc::channel();
            let took = Arc::new(Mutex::new(Vec::new()));
            let stuck = Stuck {
                release: blocked,
                took: Arc::clone(&took),
            };
            let mut sink = started(stuck, StdoutFormat::Lines, &control);
            let started = Instant::now();
            let mut lost = 0;
            std::thread::scope(|s| {
                if interrupt {
                    s.spawn(|| {
                        std::thread::sleep(Duration::from_millis(150));
                        control.interrupt();
                    });
                }
                // Far more than the channel's buffers: the hand-over waits.
                for chunk in 0..2 * BUFFERS {
                    for i in 0..50 {
                        let line = record(chunk * 50 + i, 200);
                        if sink.record(i % 2, SystemTime::now(), &line).unwrap()
                            == Delivery::Undelivered
                        {
                            lost += 1;
                        }
                    }
                    lost += sink.end_chunk().unwrap().len();
                }
            });
            lost += sink.drain().unwrap().len();
            let waited = started.elapsed();
            assert!(sink.abandoned() && !sink.closed(), "interrupt {interrupt}");
            assert!(
                waited >= Duration::from_millis(150) + GRACE
                    && waited < Duration::from_millis(150) + GRACE + Duration::from_secs(2),
                "interrupt {interrupt}: gave up after {waited:?}"
            );
            // Nothing was taken: each record is undelivered, once, at once
            // or when found so.
            assert_eq!(lost, 2 * BUFFERS * 50);
            sink.finish(&State::default()).unwrap();
            assert!(sink.pending.is_empty());
            drop(release);
            std::thread::sleep(Duration::from_millis(50));
            let took = took.lock().unwrap();
            assert!(
                took.len() <= PIPE_BUF && took.last().is_none_or(|&b| b == b'\n'),
                "after being given up, at most the piece in flight: {} bytes",
                took.len()
            );
        }
    }

    #[test]
    fn pieces_are_whole_lines_a_pipe_takes_at_once() {
        let mut buf = Vec::new();
        for i in 0..200 {
            buf.extend_from_slice(&record(i, i * 7 % 300));
            buf.push(b'\n');
        }
        let long = record(999, 2 * PIPE_BUF);
        buf.extend_from_slice(&long);
        buf.push(b'\n');
        buf.extend_from_slice(b"{}\n");
        let mut at = 0;
        let mut pieces = 0;
        while at < buf.len() {
            let end = piece_end(&buf, at);
            assert_eq!(buf[end - 1], b'\n', "a piece ends a line");
            let piece = end - at;
            assert!(piece <= PIPE_BUF || piece == long.len() + 1, "{piece}");
            at = end;
            pieces += 1;
        }
        assert!(pieces > buf.len() / PIPE_BUF, "{pieces}");
    }

    /// Shared bytes behind a `Write`.
    #[derive(Clone, Default)]
    struct Bytes(Arc<Mutex<Vec<u8>>>);

    impl Write for Bytes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_on_stdout_are_the_bytes_of_records_jsonl() {
        let control = far();
        let out = Bytes::default();
        let mut sink = started(out.clone(), StdoutFormat::Lines, &control);
        let mut file = RecordsFile(Vec::new());
        let now = SystemTime::now();
        for i in 0..500 {
            let line = record(i, i % 90);
            sink.record(i % 3, now, &line).unwrap();
            file.record(i % 3, now, &line).unwrap();
            if i % 50 == 49 {
                assert!(sink.end_chunk().unwrap().is_empty());
            }
        }
        assert!(sink.drain().unwrap().is_empty());
        sink.finish(&State::default()).unwrap();
        assert_eq!(*out.0.lock().unwrap(), file.0);
    }
}
