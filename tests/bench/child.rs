//! Child processes the bench starts: the `ingest serve-mock` mock and the
//! `ingest run` under test, each owned by a guard that kills and reaps it
//! on every path (including a panic), plus what /proc says about them.
//!
//! CPU and peak memory come from /proc without unsafe code: while the child
//! runs, `VmHWM` is polled from `/proc/PID/status`; once it has exited it
//! stays a zombie until we reap it, and its `/proc/PID/stat` then holds its
//! final user + system time (all threads included), which we read before
//! calling `wait`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills and reaps its child when dropped.
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    pub fn spawn(cmd: &mut Command) -> ChildGuard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        ChildGuard(Some(child))
    }

    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child already reaped")
    }

    /// Reaps the child (after it exited by itself).
    pub fn wait(mut self) -> ExitStatus {
        let mut child = self.0.take().expect("child already reaped");
        child.wait().expect("wait for child")
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Clock ticks per second of /proc's utime/stime (USER_HZ).
fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// State letter and user + system CPU seconds of a process, from
/// `/proc/PID/stat` (`self` for the bench itself).
pub fn proc_stat(pid: &str) -> Option<(char, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields restart after its ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let state = fields.first()?.chars().next()?;
    // Fields 14 and 15 of stat are utime and stime; `rest` starts at 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((state, (utime + stime) / clock_ticks_cached()))
}

fn clock_ticks_cached() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(clock_ticks)
}

/// `VmHWM` (peak resident set) of a running process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

/// The threads the child has now.
fn threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads:")
}

/// A number of `/proc/PID/status`.
fn status_field(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What a watched run of a child cost.
#[derive(Debug, Clone)]
pub struct Usage {
    /// From just before spawn to the moment it was seen exited.
    pub wall: Duration,
    /// User + system CPU seconds of the child, all threads.
    pub cpu_s: f64,
    /// Peak resident set (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// The most threads it was seen with.
    pub peak_threads: u64,
    pub status: ExitStatus,
}

/// Runs `cmd` to completion, polling its peak RSS and reading its CPU time
/// before reaping it; kills it after `limit`.
pub fn run_watched(cmd: &mut Command, limit: Duration) -> Usage {
    let start = Instant::now();
    let guard = ChildGuard::spawn(cmd);
    let pid = guard.id();
    let mut peak = 0;
    let mut peak_threads = 0;
    let mut poll = Duration::from_millis(2);
    let cpu_s = loop {
        match proc_stat(&pid.to_string()) {
            Some(('Z' | 'X', cpu)) => break cpu,
            Some(_) => {}
            None => break f64::NAN,
        }
        if let Some(kib) = peak_rss_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(n) = threads(pid) {
            peak_threads = peak_threads.max(n);
        }
        assert!(
            start.elapsed() < limit,
            "{cmd:?} still running after {limit:?}; killed"
        );
        std::thread::sleep(poll);
        // Fine-grained at first (short runs), cheaper later.
        poll = (poll + Duration::from_micros(500)).min(Duration::from_millis(10));
    };
    let wall = start.elapsed();
    let status = guard.wait();
    Usage {
        wall,
        cpu_s,
        peak_rss_kib: peak,
        peak_threads,
        status,
    }
}

/// A running `ingest serve-mock` on 127.0.0.1 at an ephemeral port.
pub struct MockProcess {
    guard: ChildGuard,
    /// The ready config it printed (`{"sources": [...]}`).
    pub config: Value,
    /// How long it took to generate its data and start listening.
    pub startup: Duration,
}

impl MockProcess {
    pub fn start(bin: &Path, pages: usize, items_per_page: usize) -> MockProcess {
        let start = Instant::now();
        let mut guard = ChildGuard::spawn(
            Command::new(bin)
                .args(["serve-mock", "--addr", "127.0.0.1:0", "--scenario", "clean"])
                .args(["--seed", "42", "--pages", &pages.to_string()])
                .args(["--items-per-page", &items_per_page.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let stdout = guard.child().stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        // Lines go through a thread so that a silent mock cannot hang us.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // stdout carries the config alone, pretty-printed: `{` … `}`.
        let mut json = String::new();
        loop {
            let line = rx
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|e| panic!("serve-mock gave no ready config: {e}"));
            json.push_str(&line);
            json.push('\n');
            if line == "}" {
                break;
            }
        }
        let config: Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("serve-mock printed a bad config ({e}):\n{json}"));
        MockProcess {
            guard,
            config,
            startup: start.elapsed(),
        }
    }

    /// CPU seconds the mock has used so far.
    pub fn cpu_s(&self) -> f64 {
        proc_stat(&self.guard.id().to_string()).map_or(f64::NAN, |(_, cpu)| cpu)
    }

    /// The ready config with `policies` merged in (later keys win).
    pub fn config_with(&self, policies: &Value) -> Value {
        let mut doc = self.config.clone();
        for (k, v) in policies.as_object().expect("policies are an object") {
            doc[k] = v.clone();
        }
        doc
    }
}
