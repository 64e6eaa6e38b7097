//! Where the processor's records go: one [`RecordSink`], whatever the
//! output (ripgrep's `Sink` is the model).
//!
//! The processor makes records and hands each to its sink; it does not
//! know whether they become lines of `records.jsonl`, JSON Lines on stdout
//! or Singer messages. The implementations live in `output/`, above this
//! module, so the processor imports nothing from there. A sink may not
//! know at once whether a record reached its reader (stdout is written by
//! a thread of its own, and its reader may go away or stop reading): it
//! says so later, by the source of each record it could not deliver, and
//! the processor counts those in `undelivered`.

use std::io;
use std::time::SystemTime;

use crate::state::{Ended, State};

/// What became of a record handed to a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The sink took it (for stdout, a later [`RecordSink::end_chunk`]
    /// may still find it undelivered).
    Taken,
    /// It will not be delivered: the reader has gone, or the run gave up
    /// waiting for it.
    Undelivered,
}

/// Takes the records of a run, in the order the processor makes them.
///
/// The life of a sink: [`record`](Self::record) for each record of a
/// chunk and [`source_ended`](Self::source_ended) for each source whose
/// end the chunk held (after its records), then
/// [`end_chunk`](Self::end_chunk); once the queue has ended,
/// [`drain`](Self::drain); once the run's state is known,
/// [`finish`](Self::finish). An `Err` from any of them is an output
/// failure: the run stops writing records and ends `failed`.
pub trait RecordSink {
    /// Takes `record` (one JSON object, without a newline) of source
    /// `source`, whose page arrived at `received`.
    fn record(
        &mut self,
        source: usize,
        received: SystemTime,
        record: &[u8],
    ) -> io::Result<Delivery>;

    /// Source `source` has ended as `ended` (its greatest bookmark filled
    /// in by the processor): every record of its was given before.
    fn source_ended(&mut self, _source: usize, _ended: &Ended) -> io::Result<()> {
        Ok(())
    }

    /// The chunk's records are all given: pass them on. Returns the
    /// source of each record, of this chunk or an earlier one, found
    /// undelivered since the last call.
    fn end_chunk(&mut self) -> io::Result<Vec<usize>>;

    /// No record will follow: pass the rest on and wait, within the run's
    /// bounds, until each record is delivered or known not to be. Returns
    /// the sources of those found undelivered, as `end_chunk` does.
    fn drain(&mut self) -> io::Result<Vec<usize>> {
        self.end_chunk()
    }

    /// The run's end, with `state` as it stands after the run (Singer's
    /// last STATE).
    fn finish(&mut self, _state: &State) -> io::Result<()> {
        Ok(())
    }
}
