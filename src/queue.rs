//! The queue between fetchers and processor: batches of items from one
//! page, bounded by the number of items waiting (SPEC §1), and the word
//! that a source has ended.
//!
//! A page's items travel as spans of its body in batches of up to
//! `batch_size`, so the channel handoff is paid per batch, not per item.
//! The bound still counts items: a fetcher takes room for a batch's items
//! before sending it and blocks while there is none (backpressure), and
//! the processor gives the room back as it takes batches off. The wait for
//! room is bounded by a timeout so the fetcher can look at the deadline and
//! the interrupt while it waits. What travels is a [`Message`] (as fd's
//! `WorkerResult`): a batch, or a source's end, which holds no items and
//! so never waits for room. The channel itself is crossbeam's; dropping
//! every sender ends the processor's loop, as before.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use crossbeam_channel::{Receiver, Sender};

use crate::control::lock;
use crate::state::Ended;

/// Items of one page on their way to the processor.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Index of their source in the config.
    pub source: usize,
    /// The page's whole body; freed when its last batch is done with.
    pub body: Arc<String>,
    /// Each item's span of `body`, in page order.
    pub items: Vec<Range<usize>>,
    /// The page's URL (shown, redacted), when its source keeps rejected
    /// items.
    pub page_url: Option<Arc<str>>,
    /// When the page arrived (a Singer RECORD's `time_extracted`).
    pub received: SystemTime,
    /// What its records carry from their partition (`include`,
    /// `key_with_parent`), if anything.
    pub inherited: Option<Arc<crate::partition::Inherited>>,
}

impl Batch {
    /// Item `i`'s text.
    pub fn item(&self, i: usize) -> &str {
        &self.body[self.items[i].clone()]
    }
}

/// What the processor takes off the queue.
#[derive(Debug, Clone)]
pub enum Message {
    /// Items of one page.
    Batch(Batch),
    /// Source `source` has ended as `ended`: sent once its fetcher has
    /// returned, so after every batch of its (the queue is FIFO). The
    /// processor's cue for the Singer STATE that follows its records.
    SourceEnded {
        /// Index of the source in the config.
        source: usize,
        /// How it ended, as its fetcher saw it.
        ended: Ended,
    },
}

impl Message {
    /// The items it holds, which the queue's bound counts (none for an
    /// end), at most `capacity` so that any message fits.
    fn room(&self, capacity: usize) -> usize {
        match self {
            Message::Batch(batch) => batch.items.len().min(capacity),
            Message::SourceEnded { .. } => 0,
        }
    }
}

/// Room for items, shared by both ends.
#[derive(Debug)]
struct Gate {
    /// Items sent and not yet taken off; `None` once the receiver is gone.
    waiting: Mutex<Option<usize>>,
    /// Notified when room is given back or the receiver goes.
    room: Condvar,
    /// Senders asleep on `room`, changed with `waiting` locked: the
    /// receiver wakes them only when there are any, after unlocking, so
    /// taking a batch off costs no system call while fetchers are behind.
    sleepers: AtomicUsize,
    capacity: usize,
}

/// Why a batch was not sent.
#[derive(Debug)]
pub enum SendError {
    /// No room came within the timeout; the batch is handed back.
    Timeout(Batch),
    /// The processor is gone.
    Disconnected,
}

/// The fetchers' end. Clones share the bound.
#[derive(Debug, Clone)]
pub struct QueueTx {
    tx: Sender<Message>,
    gate: Arc<Gate>,
}

/// The processor's end.
#[derive(Debug)]
pub struct QueueRx {
    rx: Receiver<Message>,
    gate: Arc<Gate>,
}

/// A queue holding at most `capacity` items (at least 1).
pub fn bounded(capacity: usize) -> (QueueTx, QueueRx) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let gate = Arc::new(Gate {
        waiting: Mutex::new(Some(0)),
        room: Condvar::new(),
        sleepers: AtomicUsize::new(0),
        capacity: capacity.max(1),
    });
    let rx = QueueRx {
        rx,
        gate: Arc::clone(&gate),
    };
    (QueueTx { tx, gate }, rx)
}

impl QueueTx {
    /// The most items one batch may hold, so that it always fits.
    pub fn capacity(&self) -> usize {
        self.gate.capacity
    }

    /// Sends `batch` once there is room for its items, waiting at most
    /// `timeout` for it.
    pub fn send_timeout(&self, batch: Batch, timeout: Duration) -> Result<(), SendError> {
        let n = batch.items.len().min(self.gate.capacity);
        match self.take_room(n, timeout) {
            Ok(()) => {}
            Err(NoRoom::Timeout) => return Err(SendError::Timeout(batch)),
            Err(NoRoom::Disconnected) => return Err(SendError::Disconnected),
        }
        self.tx
            .send(Message::Batch(batch))
            .map_err(|_| SendError::Disconnected)
    }

    /// Says that source `source` has ended as `ended`, after every batch
    /// this sender sent for it. It holds no items, so it never waits; an
    /// error means the processor is gone and needs no word.
    pub fn source_ended(&self, source: usize, ended: Ended) -> Result<(), SendError> {
        self.tx
            .send(Message::SourceEnded { source, ended })
            .map_err(|_| SendError::Disconnected)
    }

    /// Takes room for `n` items, waiting at most `timeout` for it.
    fn take_room(&self, n: usize, timeout: Duration) -> Result<(), NoRoom> {
        let fits =
            |waiting: &Option<usize>| matches!(*waiting, Some(w) if w + n <= self.gate.capacity);
        let mut waiting = lock(&self.gate.waiting);
        while !fits(&waiting) {
            if waiting.is_none() {
                return Err(NoRoom::Disconnected);
            }
            self.gate.sleepers.fetch_add(1, Ordering::Relaxed);
            let (guard, wait) = self
                .gate
                .room
                .wait_timeout(waiting, timeout)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            waiting = guard;
            self.gate.sleepers.fetch_sub(1, Ordering::Relaxed);
            if wait.timed_out() && !fits(&waiting) {
                return Err(match *waiting {
                    None => NoRoom::Disconnected,
                    Some(_) => NoRoom::Timeout,
                });
            }
        }
        *waiting = waiting.map(|w| w + n);
        Ok(())
    }
}

/// Why no room was taken.
enum NoRoom {
    Timeout,
    Disconnected,
}

impl QueueRx {
    /// The next message, blocking; `None` once every sender is gone and
    /// the queue is empty.
    pub fn recv(&self) -> Option<Message> {
        let message = self.rx.recv().ok()?;
        self.release(&message);
        Some(message)
    }

    /// The next message if one is waiting.
    pub fn try_recv(&self) -> Option<Message> {
        let message = self.rx.try_recv().ok()?;
        self.release(&message);
        Some(message)
    }

    /// Items waiting now.
    pub fn queued_items(&self) -> usize {
        lock(&self.gate.waiting).unwrap_or(0)
    }

    fn release(&self, message: &Message) {
        let n = message.room(self.gate.capacity);
        if n == 0 {
            return;
        }
        let mut waiting = lock(&self.gate.waiting);
        *waiting = waiting.map(|w| w.saturating_sub(n));
        let sleepers = self.gate.sleepers.load(Ordering::Relaxed);
        drop(waiting);
        if sleepers > 0 {
            self.gate.room.notify_all();
        }
    }
}

impl Drop for QueueRx {
    /// Senders waiting for room learn at once that nobody will take it.
    fn drop(&mut self) {
        *lock(&self.gate.waiting) = None;
        self.gate.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Batch {
        Batch {
            source: 0,
            body: Arc::new("[".to_string() + &"1,".repeat(n) + "1]"),
            items: (0..n).map(|i| 1 + 2 * i..2 + 2 * i).collect(),
            page_url: None,
            received: SystemTime::now(),
            inherited: None,
        }
    }

    /// The batch a message holds; an end fails the test.
    fn taken(message: Option<Message>) -> Batch {
        match message {
            Some(Message::Batch(batch)) => batch,
            other => panic!("not a batch: {other:?}"),
        }
    }

    #[test]
    fn the_bound_counts_items_not_batches() {
        let (tx, rx) = bounded(5);
        tx.send_timeout(batch(3), Duration::from_millis(1)).unwrap();
        tx.send_timeout(batch(2), Duration::from_millis(1)).unwrap();
        assert_eq!(rx.queued_items(), 5);
        let full = tx.send_timeout(batch(1), Duration::from_millis(20));
        assert!(matches!(full, Err(SendError::Timeout(_))));
        assert_eq!(taken(rx.recv()).items.len(), 3);
        assert_eq!(rx.queued_items(), 2);
        tx.send_timeout(batch(3), Duration::from_millis(1)).unwrap();
        assert_eq!(taken(rx.try_recv()).item(1), "1");
    }

    #[test]
    fn a_source_end_needs_no_room_and_follows_its_batches() {
        let (tx, rx) = bounded(2);
        tx.send_timeout(batch(2), Duration::from_millis(1)).unwrap();
        // The queue is full, and the end still goes at once.
        tx.source_ended(0, Ended::new(true, 0, None)).unwrap();
        assert_eq!(rx.queued_items(), 2);
        assert_eq!(taken(rx.recv()).items.len(), 2);
        assert!(matches!(
            rx.recv(),
            Some(Message::SourceEnded { source: 0, ended }) if ended.clean
        ));
        assert_eq!(rx.queued_items(), 0);
    }

    #[test]
    fn a_waiting_sender_hears_that_the_receiver_is_gone() {
        let (tx, rx) = bounded(1);
        tx.send_timeout(batch(1), Duration::from_millis(1)).unwrap();
        let waiter = std::thread::spawn(move || tx.send_timeout(batch(1), Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        drop(rx);
        assert!(matches!(
            waiter.join().unwrap(),
            Err(SendError::Disconnected)
        ));
    }

    #[test]
    fn the_end_of_input_is_every_sender_gone() {
        let (tx, rx) = bounded(4);
        let tx2 = tx.clone();
        tx.send_timeout(batch(2), Duration::from_millis(1)).unwrap();
        drop((tx, tx2));
        assert!(rx.recv().is_some());
        assert!(rx.recv().is_none());
    }
}
