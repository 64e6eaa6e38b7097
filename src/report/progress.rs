//! Progress bars on stderr: one per source, plus a line for records.
//!
//! pbr 1.1.1's `MultiBar` is broken (garbled redraws, `listen()` never
//! returns), and pbr never checks for a terminal. So each source gets a
//! plain pbr `ProgressBar` that renders into a capture buffer, and the
//! caller's thread — already waiting for the run — composes the captured
//! lines into one block, redrawn in place every 100 ms. Nothing is drawn
//! unless stderr is a terminal and `--no-progress` is absent.
//!
//! Log lines go *above* the bars: the logger writes through
//! [`LogWriter`], which erases the block, prints the line, and redraws the
//! block under one lock, so the two never interleave.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pbr::ProgressBar;

use crate::control::lock;
use crate::fetch::outcome::{Live, LiveBoard};
use crate::process::stats::Stats;
use crate::text::shorten;

/// How often the block is redrawn.
const REFRESH: Duration = Duration::from_millis(100);

/// The block of bar lines currently on screen, shared with the logger.
static SCREEN: Mutex<Screen> = Mutex::new(Screen { lines: Vec::new() });

struct Screen {
    /// The lines last drawn at the bottom of stderr (empty: none drawn).
    lines: Vec<String>,
}

impl Screen {
    /// Erases the block (cursor to its first line, clear to the end).
    fn erase(&self, out: &mut impl Write) {
        if !self.lines.is_empty() {
            let _ = write!(out, "\x1b[{}A\r\x1b[J", self.lines.len());
        }
    }

    fn draw(&self, out: &mut impl Write) {
        for line in &self.lines {
            let _ = writeln!(out, "\x1b[2K{line}");
        }
    }
}

/// Writes log records above the progress block (the logger's target).
#[derive(Debug, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let screen = lock(&SCREEN);
        let mut err = std::io::stderr().lock();
        screen.erase(&mut err);
        err.write_all(buf)?;
        screen.draw(&mut err);
        err.flush()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A `Write` that keeps what pbr drew last.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        lock(&self.0).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// The last line drawn since the previous call, without pbr's `\r`.
    fn take_line(&self) -> Option<String> {
        let mut buf = lock(&self.0);
        let text = String::from_utf8_lossy(&buf).into_owned();
        buf.clear();
        text.rsplit('\r')
            .map(str::trim_end)
            .find(|s| !s.is_empty())
            .map(str::to_string)
    }
}

struct Bar {
    bar: ProgressBar<Capture>,
    capture: Capture,
    line: String,
    /// Recent (time, items) readings, for a rate of the last seconds
    /// rather than the average since the start.
    seen: VecDeque<(Instant, u64)>,
}

/// How far back the items/s rate looks.
const RATE_WINDOW: Duration = Duration::from_secs(3);

/// The progress display of one run.
pub struct Progress {
    bars: Option<Mutex<Vec<Bar>>>,
    /// Columns of the terminal: no line is drawn wider.
    width: usize,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("enabled", &self.bars.is_some())
            .field("width", &self.width)
            .finish()
    }
}

/// The terminal's width: `COLUMNS` when set, else what `stty` says of the
/// terminal, else 80. (Asking the terminal itself takes an `ioctl`, which
/// this crate, free of `unsafe`, leaves to `stty`.)
fn terminal_width() -> usize {
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok());
    let from_stty = || {
        let tty = std::fs::File::open("/dev/tty").ok()?;
        let out = std::process::Command::new("stty")
            .arg("size")
            .stdin(tty)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    };
    from_env
        .or_else(from_stty)
        .filter(|&w: &usize| w >= 20)
        .unwrap_or(80)
}

/// `text` cut to `max` characters.
fn fit(text: &str, max: usize) -> String {
    shorten(text, max).into_owned()
}

impl Progress {
    /// A display for the sources in `stats`; it draws only if `wanted` and
    /// stderr is a terminal.
    pub fn new(wanted: bool, stats: &Stats) -> Self {
        let enabled = wanted && std::io::stderr().is_terminal();
        let width = if enabled { terminal_width() } else { 80 };
        let bars = enabled.then(|| {
            let bars = (0..=stats.sources.len())
                .map(|_| {
                    let capture = Capture::default();
                    // The total is unknown; u64::MAX keeps pbr drawing (it stops at the total).
                    let mut bar = ProgressBar::on(capture.clone(), u64::MAX);
                    bar.show_tick = true;
                    bar.show_bar = false;
                    bar.show_percent = false;
                    bar.show_counter = false;
                    bar.show_time_left = false;
                    bar.show_speed = false;
                    bar.set_width(Some(width));
                    Bar {
                        bar,
                        capture,
                        line: String::new(),
                        seen: VecDeque::new(),
                    }
                })
                .collect();
            Mutex::new(bars)
        });
        Self { bars, width }
    }

    /// Redraws from `stats` and what the fetchers post on `board` every
    /// 100 ms until `done()` is true. Returns at once when nothing is
    /// drawn.
    pub fn draw_until(&self, stats: &Mutex<Stats>, board: &LiveBoard, done: impl Fn() -> bool) {
        if self.bars.is_none() {
            return;
        }
        while !done() {
            let snapshot = lock(stats).clone();
            let live = lock(board).clone();
            self.render(&snapshot, &live);
            std::thread::sleep(REFRESH);
        }
    }

    /// Draws the final state and leaves it on screen: each source as it
    /// was filed (a fetcher that failed shows `error`).
    pub fn finish(&self, stats: &Stats, board: &LiveBoard) {
        if self.bars.is_some() {
            let live: Vec<Live> = (lock(board).iter().zip(&stats.sources))
                .map(|(live, s)| Live {
                    phase: s.status.final_phase(),
                    until: None,
                    ..*live
                })
                .collect();
            self.render(stats, &live);
            lock(&SCREEN).lines.clear();
        }
    }

    fn render(&self, stats: &Stats, live: &[Live]) {
        let Some(bars) = &self.bars else { return };
        let mut bars = lock(bars);
        let now = Instant::now();
        let name_width = stats
            .sources
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0)
            .max(7);
        let t = stats.totals();
        let all_finished = live.iter().all(|l| l.phase.is_ended());
        // pbr adds its tick and two spaces to the message.
        let room = self.width.saturating_sub(4);
        for (i, b) in bars.iter_mut().enumerate() {
            let (message, done) = match stats.sources.get(i).zip(live.get(i)) {
                Some((s, live)) => {
                    let items = s.counts.items;
                    b.seen.push_back((now, items));
                    while b
                        .seen
                        .front()
                        .is_some_and(|(at, _)| now - *at > RATE_WINDOW)
                    {
                        b.seen.pop_front();
                    }
                    let done = live.phase.is_ended();
                    let rate = match (b.seen.front(), done) {
                        (Some(&(at, then)), false) if now > at => {
                            let per_s = (items - then) as f64 / (now - at).as_secs_f64();
                            format!("  {per_s:>7.0}/s")
                        }
                        _ => String::new(),
                    };
                    let left = live.until.map(|u| u.saturating_duration_since(now));
                    let state = live.phase.words(left);
                    // A partitioned source says how far through its
                    // partitions it is (a parent's may still be coming).
                    let parts = live
                        .partitions
                        .map(|(done, known)| format!("  parts {done}/{known}"))
                        .unwrap_or_default();
                    let line = format!(
                        "{:<name_width$}  {state:<26}  pages {:>5}  items {items:>7}{rate}{parts}",
                        s.name, live.pages
                    );
                    (fit(&line, room), done)
                }
                None => {
                    let state = if all_finished { "done" } else { "writing" };
                    let line = format!(
                        "{:<name_width$}  {state:<7}  records {:>7}  invalid {:>5}  dupes {:>5}",
                        "records",
                        t.counts.records,
                        t.counts.invalid_total(),
                        t.counts.duplicates
                    );
                    (fit(&line, room), all_finished)
                }
            };
            // A finished bar keeps its counts but no longer spins.
            b.bar.show_tick = !done;
            b.bar.message(&message);
            b.bar.tick();
            if let Some(line) = b.capture.take_line() {
                b.line = fit(&line, self.width.saturating_sub(1));
            }
        }
        let mut screen = lock(&SCREEN);
        let mut err = std::io::stderr().lock();
        screen.erase(&mut err);
        screen.lines = bars.iter().map(|b| b.line.clone()).collect();
        screen.draw(&mut err);
        let _ = err.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_last_drawn_line() {
        let c = Capture::default();
        let mut w = c.clone();
        w.write_all(b"\rfirst   \rsecond  ").unwrap();
        assert_eq!(c.take_line().as_deref(), Some("second"));
        assert_eq!(c.take_line(), None);
    }

    #[test]
    fn nothing_is_drawn_when_not_wanted() {
        let stats = Stats::new(["a"]);
        let p = Progress::new(false, &stats);
        assert!(p.bars.is_none());
        // Returns at once even though the run is "not done".
        p.draw_until(
            &Mutex::new(stats),
            &Mutex::new(vec![Live::default()]),
            || false,
        );
    }
}
