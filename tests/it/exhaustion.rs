//! Exhaustion never spins: watch mode (`-m` on a tcp-listen spec) and
//! the relay, each backend, started with RLIMIT_NOFILE (soft and hard: fdwatch raises the
//! soft limit to the hard one) a few descriptors above what fdwatch opens at start, then
//! 20 clients that connect and stay:
//! - every client is served or refused, and a refused one sees its connection closed
//!   (end of file or a reset), never left hanging in the backlog;
//! - over the 2 s from the first connect fdwatch uses < 5 % of a CPU (utime+stime from
//!   /proc/PID/stat) and stderr stays under 4 KiB;
//! - the episode's `exhausted` start event is out within 1 s of the first refusal;
//! - SIGTERM ends it within 1 s, death by SIGTERM, and the output ends with the
//!   episode's `exhausted` end event (still going) and the summary;
//! - another run: once the clients leave, a new client is served end to end (the relay:
//!   within 1 s, also where the first refusal was the TARGET side's socket).
//!
//! tests/it/exhaustion_calls.rs covers the other calls (and other errnos) by fault injection.
//!
//! And a reason fds run out by themselves: 50 clients that each send a byte and close,
//! `-m` without --read: each gets a hang-up and fdwatch's fd count returns to its start.
//!
//! How many fds fdwatch opens at start (listener, epoll instances, signal self-pipe,
//! a reserve descriptor...) is measured on a probe run of the same command without the
//! limit; the child closes every inherited fd above 2 (so its fds are packed from 0), and
//! the limit leaves room for exactly 4 more descriptors whatever the backend. The first
//! clients connect one at a time (each served before the next comes), so the first
//! refusal is a failed accept; the rest come in a burst.
//!
//! A case collects its problems and reports them together (a client left hanging, a busy
//! loop, endless output, a lost SIGTERM, a missing event), so one run shows them all.
//! Synchronization is on fdwatch's JSON events (read by a thread, waited for with a
//! deadline), the test's own sockets (poll), /proc polled every millisecond, and process
//! exit. The one sleep is the 2 s CPU measurement window.

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStderr, ChildStdout, ExitStatus};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use serde_json::Value;

/// Clients that connect and stay.
const CLIENTS: usize = 20;
/// Descriptors left free above fdwatch's start.
const SPARE: u64 = 4;
/// How long a client may wait to be served or refused.
const RESOLVE: Duration = Duration::from_secs(5);
/// How long a step that waits on fdwatch's events may take.
const STEP: Duration = Duration::from_secs(10);

// Processes ------------------------------------------------------------------------------

/// The open descriptor numbers of `pid` (/proc/PID/fd), sorted.
fn fds_of(pid: u32) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// `mk(spec)` on a free loopback port (retried should the port be taken), blocked in its
/// wait; with RLIMIT_NOFILE `nofile` (soft and hard) in the child when given.
fn start(case: &str, mk: &dyn Fn(&str) -> Fdwatch, nofile: Option<u64>) -> (Child, Watchdog, u16) {
    listen_tcp(case, |spec| match nofile {
        Some(n) => mk(spec).nofile(n),
        None => mk(spec),
    })
}

/// The descriptors `mk` holds once it waits, without a limit (a probe run, ended with
/// SIGTERM). `mk` closes every inherited fd above 2 (Fdwatch::only_placed_fds), so they
/// are packed from 0: a limit of their count plus SPARE leaves exactly SPARE free.
fn start_fds(case: &str, mk: &dyn Fn(&str) -> Fdwatch) -> Vec<u64> {
    let (child, dog, _) = start(&format!("{case} (probe)"), mk, None);
    let fds = fds_of(child.id());
    sigterm(&child);
    let _ = child.wait_with_output();
    drop(dog);
    assert!(
        fds.len() >= 4 && fds.iter().enumerate().all(|(i, &fd)| fd == i as u64),
        "{case}: the probe's fds are not packed from 0: {fds:?}"
    );
    fds
}

/// What went wrong in a case, collected so one run shows every problem (a busy loop, a
/// lost SIGTERM, a missing event) instead of the first one only.
struct Problems {
    case: String,
    list: Vec<String>,
}

impl Problems {
    fn new(case: &str) -> Problems {
        Problems {
            case: case.to_owned(),
            list: Vec::new(),
        }
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) -> bool {
        if !ok {
            self.list.push(what());
        }
        ok
    }

    fn finish(self, evs: &[Value]) {
        assert!(
            self.list.is_empty(),
            "{}:\n  - {}\n  last events: {:?}",
            self.case,
            self.list.join("\n  - "),
            &evs[evs.len().saturating_sub(12)..]
        );
    }
}

/// SIGTERM, then the exit within 1 s (polled every millisecond). A child still running
/// then is a problem, and is killed (the case goes on to its other checks).
fn sigterm_within_1s(bad: &mut Problems, child: &mut Child) -> ExitStatus {
    sigterm(child);
    if let Some(st) = exit_within(child, Duration::from_secs(1)) {
        return st;
    }
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap_or_default();
    let cpu = cpu_seconds(child.id());
    bad.list.push(format!(
        "SIGTERM not served within 1 s (then killed); CPU time {cpu:.2} s; stat {stat:?}"
    ));
    let _ = child.kill();
    child.wait().expect("wait")
}

fn died_by_sigterm(bad: &mut Problems, st: ExitStatus, err: &str) {
    bad.check(st.signal() == Some(libc::SIGTERM), || {
        format!("want death by SIGTERM (exit 143 in a shell), got {st}; stderr {err:?}")
    });
    bad.check(!err.contains("panicked"), || format!("a panic: {err}"));
}

/// `sigterm_within_1s` and `died_by_sigterm`: every event (`Events::all`) and stderr.
fn end_by_sigterm(
    bad: &mut Problems,
    child: &mut Child,
    evs: Events,
    err: Stderr,
) -> (Vec<Value>, String) {
    let st = sigterm_within_1s(bad, child);
    let all = evs.all(bad);
    let err = err.finish();
    died_by_sigterm(bad, st, &err);
    (all, err)
}

// Output ---------------------------------------------------------------------------------

/// Events kept; a loop printing events beyond this is counted, not kept.
const KEPT: usize = 50_000;

/// fdwatch's JSON lines, read by a thread as they come: a step waits for an event with a
/// deadline while the test also watches its own sockets.
struct Events {
    rx: Receiver<Value>,
    seen: Vec<Value>,
    /// Accept events by peer address, and the relay connections whose target connected
    /// (kept as the events come, so checking a client is not a scan of every event).
    accepts: HashMap<String, Value>,
    connected: HashSet<String>,
    /// Lines past KEPT (endless output) and lines that are not JSON.
    excess: Arc<AtomicUsize>,
    bad_lines: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Events {
    fn new(out: ChildStdout) -> Events {
        let (tx, rx) = mpsc::channel();
        let excess = Arc::new(AtomicUsize::new(0));
        let bad_lines = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let (excess, bad_lines) = (Arc::clone(&excess), Arc::clone(&bad_lines));
            thread::spawn(move || {
                use std::io::BufRead;
                let mut r = std::io::BufReader::new(out);
                let mut line = Vec::new();
                for _ in 0..KEPT {
                    line.clear();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    match serde_json::from_slice::<Value>(&line) {
                        Ok(v) => {
                            let _ = tx.send(v);
                        }
                        Err(_) => bad_lines
                            .lock()
                            .expect("lock")
                            .push(String::from_utf8_lossy(&line).into_owned()),
                    }
                }
                // Endless output: only counted (and read fast, so a loop is not slowed
                // down by the test).
                let mut buf = vec![0u8; 256 * 1024];
                while let Ok(n) = r.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
                    excess.fetch_add(lines, Ordering::SeqCst);
                }
            })
        };
        Events {
            rx,
            seen: Vec::new(),
            accepts: HashMap::new(),
            connected: HashSet::new(),
            excess,
            bad_lines,
            reader: Some(reader),
        }
    }

    fn push(&mut self, v: Value) {
        if v["event"] == "accept"
            && let Some(peer) = v["peer"].as_str()
        {
            self.accepts.insert(peer.to_owned(), v.clone());
        }
        if v["event"] == "connect" && v["result"] == "ok" {
            self.connected.insert(v["conn"].to_string());
        }
        self.seen.push(v);
    }

    /// Takes what has arrived so far, without waiting.
    fn drain(&mut self) {
        while let Ok(v) = self.rx.try_recv() {
            self.push(v);
        }
    }

    /// Waits (at most `limit`) until `done(events so far)`; false (a problem noted) when
    /// it did not happen.
    fn wait_for(
        &mut self,
        bad: &mut Problems,
        step: &str,
        limit: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + limit;
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                // Everything that came is taken before `done` looks again.
                Ok(v) => {
                    self.push(v);
                    self.drain();
                }
                Err(RecvTimeoutError::Timeout) => {
                    bad.list.push(format!("{step}: not within {limit:?}"));
                    return false;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    bad.list
                        .push(format!("{step}: fdwatch's output ended first"));
                    return false;
                }
            }
        }
        true
    }

    /// Every event, to the end of the output (fdwatch ended); endless or non-JSON
    /// output is a problem.
    fn all(mut self, bad: &mut Problems) -> Vec<Value> {
        while let Ok(v) = self.rx.recv() {
            self.push(v);
        }
        if let Some(r) = self.reader.take() {
            r.join().expect("stdout reader");
        }
        let excess = self.excess.load(Ordering::SeqCst);
        bad.check(excess == 0, || {
            format!("endless output: {excess} lines beyond the first {KEPT} (a loop?)")
        });
        let lines = self.bad_lines.lock().expect("lock");
        bad.check(lines.is_empty(), || {
            format!(
                "stdout lines that are not JSON: {:?}",
                &lines[..lines.len().min(3)]
            )
        });
        std::mem::take(&mut self.seen)
    }
}

/// stderr read by a thread: the byte count, and the first 16 KiB for messages.
struct Stderr {
    total: Arc<AtomicUsize>,
    head: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

impl Stderr {
    fn new(mut err: ChildStderr) -> Stderr {
        let total = Arc::new(AtomicUsize::new(0));
        let head = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let (total, head) = (Arc::clone(&total), Arc::clone(&head));
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match err.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            total.fetch_add(n, Ordering::SeqCst);
                            let mut h = head.lock().expect("lock");
                            let room = (16 * 1024usize).saturating_sub(h.len()).min(n);
                            h.extend_from_slice(&buf[..room]);
                        }
                    }
                }
            })
        };
        Stderr {
            total,
            head,
            reader: Some(reader),
        }
    }

    fn bytes(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.head.lock().expect("lock")).into_owned()
    }

    /// The text, once the child ended.
    fn finish(mut self) -> String {
        if let Some(r) = self.reader.take() {
            r.join().expect("stderr reader");
        }
        self.text()
    }
}

// Clients ---------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fate {
    Waiting,
    /// fdwatch took it (an accept event; in the relay also a successful connect).
    Served,
    /// End of file or a reset: refused.
    Closed,
}

struct Client {
    s: TcpStream,
    peer: String,
    fate: Fate,
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let peer = s.local_addr().expect("client address").to_string();
        Client {
            s,
            peer,
            fate: Fate::Waiting,
        }
    }

    /// Whether the connection was closed by the other side (end of file or a reset),
    /// looking without waiting. Data from fdwatch fails the case.
    fn closed_now(&self, case: &str) -> bool {
        let mut p = [PollFd::new(
            self.s.as_fd(),
            PollFlags::from_bits_retain(libc::POLLIN | libc::POLLRDHUP),
        )];
        if nix::poll::poll(&mut p, PollTimeout::ZERO).expect("poll") == 0 {
            return false;
        }
        let mut b = [0u8; 64];
        match (&self.s).read(&mut b) {
            Ok(0) => true,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => true,
            other => panic!("{case}: client {} read {other:?}", self.peer),
        }
    }
}

/// Waits until every client is served (per `served(events, peer)`) or closed, at most
/// RESOLVE; returns how many are left hanging (neither).
fn resolve(
    case: &str,
    clients: &mut [Client],
    evs: &mut Events,
    served: &dyn Fn(&Events, &str) -> bool,
) -> usize {
    let deadline = Instant::now() + RESOLVE;
    loop {
        evs.drain();
        let mut waiting = 0;
        for c in clients.iter_mut() {
            if c.fate == Fate::Waiting && served(evs, &c.peer) {
                c.fate = Fate::Served;
            }
            if c.fate == Fate::Waiting {
                if c.closed_now(case) {
                    c.fate = Fate::Closed;
                } else {
                    waiting += 1;
                }
            }
        }
        if waiting == 0 || Instant::now() >= deadline {
            return waiting;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// CLIENTS clients: one at a time until the first is not served (so the first refusal
/// is a failed accept: each served one was fully set up before the next came), then the
/// rest in a burst. Clients left hanging are a problem.
fn connect_all(
    bad: &mut Problems,
    port: u16,
    evs: &mut Events,
    served: &dyn Fn(&Events, &str) -> bool,
    spare: u64,
) -> Vec<Client> {
    let case = bad.case.clone();
    let mut clients: Vec<Client> = Vec::new();
    while clients.len() < CLIENTS {
        clients.push(Client::connect(port));
        let n = clients.len();
        resolve(&case, &mut clients[n - 1..], evs, served);
        if clients[n - 1].fate == Fate::Closed {
            // Refused just now: the episode's start is out already, or within 1 s.
            evs.wait_for(
                bad,
                "the exhausted start event, within 1 s of the first refusal",
                Duration::from_secs(1),
                |seen| {
                    seen.iter()
                        .any(|e| e["event"] == "exhausted" && e["state"] == "start")
                },
            );
        }
        if clients[n - 1].fate != Fate::Served {
            break;
        }
    }
    while clients.len() < CLIENTS {
        clients.push(Client::connect(port));
    }
    let hanging = resolve(&case, &mut clients, evs, served);
    bad.check(hanging == 0, || {
        format!(
            "{hanging} of {CLIENTS} clients neither served nor closed within {RESOLVE:?}: \
             left hanging (not refused)"
        )
    });
    let n_served = clients.iter().filter(|c| c.fate == Fate::Served).count();
    assert!(
        n_served as u64 <= spare,
        "{case}: {n_served} clients served with {spare} descriptors to spare: the limit did \
         not bite"
    );
    bad.check(n_served >= 1, || {
        format!("no client served with {spare} descriptors to spare")
    });
    clients
}

/// The served clients are still connected (fdwatch did not drop them).
fn served_still_open(bad: &mut Problems, clients: &[Client]) {
    for c in clients.iter().filter(|c| c.fate == Fate::Served) {
        let case = bad.case.clone();
        bad.check(!c.closed_now(&case), || {
            format!("served client {} was closed", c.peer)
        });
    }
}

fn refused(clients: &[Client]) -> u64 {
    clients.iter().filter(|c| c.fate == Fate::Closed).count() as u64
}

/// The clients leave (dropped here); waits until fdwatch reported the end of each served
/// one: an `end` event ("hangup" in watch mode, "close" in the relay) with the `key`
/// ("fd", "conn") of that client's accept event. False (a problem noted) when one did
/// not come.
fn clients_leave(
    bad: &mut Problems,
    evs: &mut Events,
    clients: Vec<Client>,
    key: &str,
    end: &str,
) -> bool {
    let served: Vec<Value> = clients
        .iter()
        .filter(|c| c.fate == Fate::Served)
        .filter_map(|c| {
            evs.seen
                .iter()
                .find(|e| e["event"] == "accept" && e["peer"] == c.peer.as_str())
                .map(|e| e[key].clone())
        })
        .collect();
    drop(clients);
    evs.wait_for(
        bad,
        &format!("the {end} events of the clients that left"),
        STEP,
        |seen| {
            served
                .iter()
                .all(|k| seen.iter().any(|e| e["event"] == end && &e[key] == k))
        },
    )
}

/// CPU share from `t0` to at least 2 s after it (the window includes the refusals), and
/// stderr so far: < 5 % and < 4 KiB.
fn quiet_while_exhausted(bad: &mut Problems, pid: u32, t0: Instant, cpu0: f64, err: &Stderr) {
    let end = t0 + Duration::from_secs(2);
    thread::sleep(end.saturating_duration_since(Instant::now()));
    let cpu = cpu_seconds(pid) - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let share = cpu / wall;
    bad.check(share < 0.05, || {
        format!(
            "{:.1} % of a CPU while exhausted ({cpu:.2} s in {wall:.2} s): a busy loop",
            share * 100.0
        )
    });
    let n = err.bytes();
    bad.check(n < 4096, || {
        format!(
            "{n} bytes on stderr while exhausted, beginning {:?}",
            err.text().chars().take(200).collect::<String>()
        )
    });
}

/// The exhausted events of one `state`: "start" or "end".
fn exhausted<'a>(evs: &'a [Value], state: &str) -> Vec<&'a Value> {
    of_kind(evs, "exhausted")
        .into_iter()
        .filter(|e| e["state"] == state)
        .collect()
}

/// Exactly one start and one end event so far (an episode's two, nothing else), the
/// start first and naming the same fd, call and (first) errno; the end, else None (a
/// problem noted).
fn start_and_end<'a>(bad: &mut Problems, evs: &'a [Value], when: &str) -> Option<&'a Value> {
    let all = of_kind(evs, "exhausted");
    let (starts, ends) = (exhausted(evs, "start"), exhausted(evs, "end"));
    if !bad.check(
        starts.len() == 1 && ends.len() == 1 && all.len() == 2 && all[0] == starts[0],
        || format!("{when}: one start and then one end event per episode, got {all:?}"),
    ) {
        return None;
    }
    let (s, e) = (starts[0], ends[0]);
    for k in ["fd", "what", "call"] {
        bad.check(s[k] == e[k], || {
            format!("start and end differ in {k}: {s} {e}")
        });
    }
    bad.check(
        s.get("refused").is_none() && s.get("duration").is_none(),
        || format!("a start event has no refused or duration yet: {s}"),
    );
    Some(e)
}

/// The summary is the last event.
fn summary_last(bad: &mut Problems, evs: &[Value]) {
    bad.check(
        evs.last().is_some_and(|e| e["event"] == "summary") && of_kind(evs, "summary").len() == 1,
        || "one summary, the last event".to_owned(),
    );
}

/// The end event of a run with one episode, checked against `want` (field, value; the
/// start event too, but for refused); None (a problem noted) when there is not exactly
/// one start and one end.
fn the_episode<'a>(
    bad: &mut Problems,
    all: &'a [Value],
    want: Vec<(&str, Value)>,
) -> Option<&'a Value> {
    let e = start_and_end(bad, all, "in the run")?;
    let s = exhausted(all, "start")[0];
    for (k, v) in want {
        bad.check(e[k] == v, || format!("exhausted {k:?} should be {v}: {e}"));
        bad.check(k == "refused" || s[k] == v, || {
            format!("the start's {k:?} should be {v}: {s}")
        });
    }
    Some(e)
}

/// The end event once the episode ended (the next accept): one start and one end so
/// far, else None (a problem noted).
fn ended_episode<'a>(bad: &mut Problems, seen: &'a [Value]) -> Option<&'a Value> {
    start_and_end(bad, seen, "once the episode ended (the next accept)")
}

/// The end of a run whose episode ended before: no stderr, one episode (its start and
/// end events) in the whole run, the summary last.
fn one_episode_in_the_run(bad: &mut Problems, all: &[Value], err: &str) {
    bad.check(err.is_empty(), || format!("stderr {err:?}"));
    start_and_end(bad, all, "one episode in the run");
    summary_last(bad, all);
}

/// A run under a low limit with its clients settled.
struct Starved {
    child: Child,
    _dog: Watchdog,
    port: u16,
    evs: Events,
    err: Stderr,
    clients: Vec<Client>,
    /// When the clients started to connect, and fdwatch's CPU time then.
    t0: Instant,
    cpu0: f64,
    /// When the last client was served or refused.
    settled: Instant,
}

/// A run exhausted by its clients (`starve`), which then leave (`clients_leave`: "fd"
/// and "hangup" in watch mode, "conn" and "close" in the relay); then a new client,
/// connected once fdwatch reported them gone (None when it did not: a problem noted).
/// Returns the run, how many clients were refused, and the new client with its address.
fn exhausted_then_left(
    bad: &mut Problems,
    mk: &dyn Fn(&str) -> Fdwatch,
    relay: bool,
    spare: u64,
) -> (Starved, u64, Option<(TcpStream, String)>) {
    let mut run = starve(bad, mk, relay, spare);
    let clients = std::mem::take(&mut run.clients);
    let refused_n = refused(&clients);
    let (key, end) = if relay {
        ("conn", "close")
    } else {
        ("fd", "hangup")
    };
    let new = clients_leave(bad, &mut run.evs, clients, key, end).then(|| {
        let s = TcpStream::connect(("127.0.0.1", run.port)).expect("connect the new client");
        let peer = s.local_addr().expect("addr").to_string();
        (s, peer)
    });
    (run, refused_n, new)
}

/// `mk(spec)` started under a limit `spare` descriptors above what it opens at start,
/// and CLIENTS clients connected to it.
fn starve(bad: &mut Problems, mk: &dyn Fn(&str) -> Fdwatch, relay: bool, spare: u64) -> Starved {
    let case = bad.case.clone();
    let fds = start_fds(&case, mk);
    let (mut child, dog, port) = start(&case, mk, Some(fds.len() as u64 + spare));
    let pid = child.id();
    assert_eq!(
        fds_of(pid),
        fds,
        "{case}: under the limit, it starts with other fds than the probe"
    );
    let mut evs = Events::new(child.stdout.take().expect("stdout"));
    let err = Stderr::new(child.stderr.take().expect("stderr"));
    if relay {
        evs.wait_for(bad, "the listen event", STEP, |seen| {
            seen.iter().any(|e| e["event"] == "listen")
        });
    }
    let t0 = Instant::now();
    let cpu0 = cpu_seconds(pid);
    let served: &dyn Fn(&Events, &str) -> bool = if relay { &relay_served } else { &watch_served };
    let clients = connect_all(bad, port, &mut evs, served, spare);
    Starved {
        child,
        _dog: dog,
        port,
        evs,
        err,
        clients,
        t0,
        cpu0,
        settled: Instant::now(),
    }
}

// Watch mode ---------------------------------------------------------------------------

fn watch_argv<'a>(b: &'a str, read: bool, spec: &'a str) -> Vec<&'a str> {
    let mut v = vec!["-m", "-b", b, "--format", "json"];
    if read {
        v.push("--read=text");
    }
    v.extend(["-", spec]);
    v
}

fn watch_served(evs: &Events, peer: &str) -> bool {
    evs.accepts.contains_key(peer)
}

/// Every fdwatch fd is closed in the child except 0-2, so the fd numbers are packed.
fn watcher(b: &str, read: bool) -> impl Fn(&str) -> Fdwatch {
    move |spec: &str| Fdwatch::new(watch_argv(b, read, spec)).only_placed_fds()
}

fn watch_emfile(b: &str) {
    let case = format!("-b {b} -m tcp-listen, {CLIENTS} clients, {SPARE} fds to spare");
    let mut bad = Problems::new(&case);
    let mk = watcher(b, false);
    let Starved {
        mut child,
        _dog,
        port,
        evs,
        err,
        clients,
        t0,
        cpu0,
        settled,
    } = starve(&mut bad, &mk, false, SPARE);
    let pid = child.id();
    quiet_while_exhausted(&mut bad, pid, t0, cpu0, &err);
    served_still_open(&mut bad, &clients);
    let killed = Instant::now();
    let (all, _) = end_by_sigterm(&mut bad, &mut child, evs, err);
    let n = all.len();
    bad.check(
        n >= 2
            && all[n - 2]["event"] == "exhausted"
            && all[n - 2]["state"] == "end"
            && all[n - 1]["event"] == "summary",
        || {
            "the output ends with the episode's exhausted end event (still going) and the \
             summary"
                .to_owned()
        },
    );
    let listener = of_kind(&all, "accept")
        .first()
        .map(|a| a["listener"].clone());
    let want = vec![
        ("fd", listener.unwrap_or(Value::Null)),
        ("what", Value::from(format!("tcp listen 127.0.0.1:{port}"))),
        ("call", Value::from("accept")),
        ("errno", Value::from("EMFILE")),
        ("refused", Value::from(refused(&clients))),
    ];
    if let Some(e) = the_episode(&mut bad, &all, want) {
        // Still going at the end: it lasted at least from the last refusal to SIGTERM.
        let least = killed.duration_since(settled).as_secs_f64() - 0.05;
        bad.check(e["duration"].as_f64().is_some_and(|d| d >= least), || {
            format!("the duration of an episode still going at SIGTERM is >= {least:.3}: {e}")
        });
    }
    summary_last(&mut bad, &all);
    drop(clients);
    bad.finish(&all);
}

#[test]
fn emfile_watch_refuses_without_spinning_and_sigterm_ends_it() {
    each_backend(&BACKENDS, watch_emfile);
}

fn watch_emfile_then_served(b: &str) {
    let case = format!("-b {b} -m --read=text tcp-listen, exhausted, then the clients leave");
    let mut bad = Problems::new(&case);
    let mk = watcher(b, true);
    let (mut run, refused_n, new) = exhausted_then_left(&mut bad, &mk, false, SPARE);
    let evs = &mut run.evs;
    let mut c = None;
    if let Some((mut s, peer)) = new {
        s.write_all(b"ping").expect("send ping");
        c = Some(s);
        if evs.wait_for(&mut bad, "the new client's accept", STEP, |seen| {
            seen.iter()
                .any(|e| e["event"] == "accept" && e["peer"] == peer.as_str())
        }) {
            let fd = evs
                .seen
                .iter()
                .find(|e| e["event"] == "accept" && e["peer"] == peer.as_str())
                .map(|e| e["fd"].clone())
                .expect("accept");
            evs.wait_for(&mut bad, "the new client's data \"ping\"", STEP, |seen| {
                seen.iter()
                    .filter(|e| e["event"] == "data" && e["fd"] == fd)
                    .map(|e| e["text"].as_str().unwrap_or(""))
                    .collect::<String>()
                    == "ping"
            });
            // The episode ended with that accept: its event is out by now.
            if let Some(e) = ended_episode(&mut bad, &evs.seen) {
                bad.check(
                    e["errno"] == "EMFILE" && e["call"] == "accept" && e["refused"] == refused_n,
                    || format!("want errno EMFILE, call accept, refused {refused_n}: {e}"),
                );
                bad.check(e["duration"].as_f64().is_some_and(|d| d >= 0.0), || {
                    format!("duration: {e}")
                });
            }
        }
    }
    let (all, err) = end_by_sigterm(&mut bad, &mut run.child, run.evs, run.err);
    one_episode_in_the_run(&mut bad, &all, &err);
    drop(c);
    bad.finish(&all);
}

#[test]
fn emfile_watch_serves_a_new_client_once_clients_leave() {
    each_backend(&BACKENDS, watch_emfile_then_served);
}

// The relay -------------------------------------------------------------------------------

/// A relay client is served once accepted and its target connected.
fn relay_served(evs: &Events, peer: &str) -> bool {
    evs.accepts
        .get(peer)
        .is_some_and(|a| evs.connected.contains(&a["conn"].to_string()))
}

fn relay_to(b: &str, target: &str) -> impl Fn(&str) -> Fdwatch + use<> {
    let (b, target) = (b.to_owned(), target.to_owned());
    move |spec: &str| {
        Fdwatch::new(["relay", "-b", &b, "--format", "json", spec, &target]).only_placed_fds()
    }
}

fn relay_emfile(b: &str) {
    let case = format!("relay -b {b}, {CLIENTS} clients, {SPARE} fds to spare");
    let mut bad = Problems::new(&case);
    let echo = Echo::start();
    let mk = relay_to(b, &format!("tcp:{}", echo.addr));
    let Starved {
        mut child,
        _dog,
        evs,
        err,
        clients,
        t0,
        cpu0,
        port,
        ..
    } = starve(&mut bad, &mk, true, SPARE);
    let pid = child.id();
    quiet_while_exhausted(&mut bad, pid, t0, cpu0, &err);
    served_still_open(&mut bad, &clients);
    let (all, _) = end_by_sigterm(&mut bad, &mut child, evs, err);
    summary_last(&mut bad, &all);
    // The events name the listener.
    let want = vec![
        ("conn", Value::from(0)),
        ("what", Value::from(format!("tcp 127.0.0.1:{port}"))),
        ("call", Value::from("accept")),
        ("errno", Value::from("EMFILE")),
        ("refused", Value::from(refused(&clients))),
    ];
    if let Some(e) = the_episode(&mut bad, &all, want) {
        bad.check(e["fd"].is_u64(), || format!("the listener's fd: {e}"));
        let at = all.iter().position(|x| x == e).expect("exhausted");
        let sig = all.iter().position(|x| x["event"] == "signal");
        bad.check(sig.is_some_and(|g| g < at), || {
            "the episode still going is reported at the end, after the signal event and \
             before the summary"
                .to_owned()
        });
        bad.check(e["duration"].as_f64().is_some_and(|d| d >= 0.0), || {
            format!("duration: {e}")
        });
    }
    drop((clients, echo));
    bad.finish(&all);
}

#[test]
fn emfile_relay_refuses_without_spinning_and_sigterm_ends_it() {
    each_backend(&BACKENDS, relay_emfile);
}

/// `spare` descriptors free: with 4, the first refusal is a failed accept (every served
/// client takes two); with 5 the client accepted into the last one finds no descriptor
/// for its TARGET side (socket). Either way, once the clients leave, the next one is
/// relayed end to end within 1 s.
fn relay_emfile_then_served(b: &str, (spare, call): (u64, &str)) {
    let case = format!("relay -b {b}, {spare} spare, exhausted on {call}, then the clients leave");
    let mut bad = Problems::new(&case);
    let echo = Echo::start();
    let mk = relay_to(b, &format!("tcp:{}", echo.addr));
    let (mut run, refused_n, new) = exhausted_then_left(&mut bad, &mk, true, spare);
    let evs = &mut run.evs;
    let mut c = None;
    if let Some((mut s, peer)) = new {
        s.set_read_timeout(Some(STEP)).expect("read timeout");
        let t0 = Instant::now();
        s.write_all(b"after the flood").expect("send");
        let mut back = [0u8; 15];
        match s.read_exact(&mut back) {
            Ok(()) => {
                bad.check(&back == b"after the flood", || {
                    format!("the echo came back as {:?}", String::from_utf8_lossy(&back))
                });
                let took = t0.elapsed();
                bad.check(took <= Duration::from_secs(1), || {
                    format!("the new client relayed after {took:?}, not within 1 s")
                });
            }
            Err(e) => bad.list.push(format!(
                "the new client's bytes did not come back through the relay and the echo \
                 server: {e}"
            )),
        }
        c = Some(s);
        if evs.wait_for(
            &mut bad,
            "the new client's accept and connect",
            STEP,
            |seen| {
                let conn = seen
                    .iter()
                    .find(|e| e["event"] == "accept" && e["peer"] == peer.as_str())
                    .map(|e| e["conn"].clone());
                conn.is_some_and(|conn| {
                    seen.iter().any(|e| {
                        e["event"] == "connect" && e["conn"] == conn && e["result"] == "ok"
                    })
                })
            },
        ) && let Some(e) = ended_episode(&mut bad, &evs.seen)
        {
            bad.check(
                e["errno"] == "EMFILE" && e["refused"] == refused_n && e["call"] == call,
                || format!("want errno EMFILE, call {call}, refused {refused_n}: {e}"),
            );
        }
    }
    let (all, err) = end_by_sigterm(&mut bad, &mut run.child, run.evs, run.err);
    one_episode_in_the_run(&mut bad, &all, &err);
    drop((c, echo));
    bad.finish(&all);
}

#[test]
fn emfile_relay_serves_a_new_client_once_clients_leave() {
    each_backend_and(
        &[
            ("accept", (SPARE, "accept")),
            ("socket", (SPARE + 1, "socket")),
        ],
        relay_emfile_then_served,
    );
}

/// A TARGET that never ends its side: clients that leave leave their
/// connections half-closed, holding every descriptor. Once such a connection has been
/// quiet for a second, descriptors running out end it (its open side reset) and the new
/// client is relayed; before, the relay served nobody again.
fn relay_half_closed_target_then_served(b: &str) {
    let case = format!("relay -b {b}, a TARGET that never closes, {SPARE} spare");
    let mut bad = Problems::new(&case);
    let echo = Echo::holding();
    let mk = relay_to(b, &format!("tcp:{}", echo.addr));
    let fds = start_fds(&case, &mk);
    let (mut child, _dog, port) = start(&case, &mk, Some(fds.len() as u64 + SPARE));
    let mut evs = Events::new(child.stdout.take().expect("stdout"));
    let err = Stderr::new(child.stderr.take().expect("stderr"));
    // Two clients, each relayed (two descriptors), then gone: half-closed for good.
    for n in 0..SPARE / 2 {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(STEP)).expect("timeout");
        c.write_all(b"x").expect("send");
        let mut one = [0u8; 1];
        bad.check(c.read_exact(&mut one).is_ok(), || {
            format!("client {n} was not relayed")
        });
    }
    let half_closes = |seen: &[Value]| seen.iter().filter(|e| e["event"] == "half-close").count();
    evs.wait_for(&mut bad, "both clients' half-closes", STEP, |seen| {
        half_closes(seen) >= (SPARE / 2) as usize
    });
    // A new client every 100 ms until one is relayed: the first ones may be refused
    // while the half-closed connections have been quiet for less than a second.
    let t0 = Instant::now();
    let mut served = None;
    while served.is_none() && t0.elapsed() < Duration::from_secs(4) {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect the new client");
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        let mut back = [0u8; 5];
        if s.write_all(b"again").is_ok() && s.read_exact(&mut back).is_ok() && &back == b"again" {
            served = Some(s);
        } else {
            thread::sleep(Duration::from_millis(100));
        }
    }
    let took = t0.elapsed();
    bad.check(served.is_some(), || {
        format!(
            "no new client relayed in {took:?}: the half-closed connections kept every descriptor"
        )
    });
    bad.check(took < Duration::from_secs(3), || {
        format!("the new client relayed after {took:?} (a quiet second, then at once)")
    });
    evs.wait_for(
        &mut bad,
        "the half-closed connection ended for it",
        STEP,
        |seen| {
            seen.iter().any(|e| {
                e["event"] == "error"
                    && e["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("half-closed and idle"))
            })
        },
    );
    let (all, _) = end_by_sigterm(&mut bad, &mut child, evs, err);
    summary_last(&mut bad, &all);
    drop((served, echo));
    bad.finish(&all);
}

#[test]
fn emfile_relay_ends_a_quiet_half_closed_connection_to_serve_a_new_client() {
    each_backend(&BACKENDS, relay_half_closed_target_then_served);
}

// Released at the peer's close, unread data or not ---------------------------------------

fn fifty_close(b: &str) {
    const N: usize = 50;
    let case = format!("-b {b} -m (no --read) tcp-listen, {N} clients send a byte and close");
    let mut bad = Problems::new(&case);
    let mk = watcher(b, false);
    let (mut child, _dog, port) = start(&case, &mk, None);
    let pid = child.id();
    let base = fd_count(pid);
    let mut evs = Events::new(child.stdout.take().expect("stdout"));
    let err = Stderr::new(child.stderr.take().expect("stderr"));
    for _ in 0..N {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.write_all(b"x").expect("send a byte");
    }
    let deadline = Instant::now() + STEP;
    loop {
        evs.drain();
        let hups = evs
            .seen
            .iter()
            .filter(|e| e["event"] == "hangup" && e["action"] == "remove")
            .count();
        let fds = fd_count(pid);
        if hups >= N && fds == base {
            break;
        }
        if Instant::now() >= deadline {
            bad.list.push(format!(
                "after {STEP:?}: {} accepts, {hups} hang-ups (action remove), {fds} fds open \
                 (started with {base}): the peers' closes were not released",
                of_kind(&evs.seen, "accept").len()
            ));
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    // Each accepted fd hangs up before its number is accepted again.
    let mut open = std::collections::BTreeSet::new();
    let mut accepts = 0;
    for e in &evs.seen {
        match e["event"].as_str() {
            Some("accept") => {
                accepts += 1;
                let fresh = open.insert(e["fd"].to_string());
                bad.check(fresh, || format!("fd accepted again while open: {e}"));
            }
            Some("hangup") => {
                let known = open.remove(&e["fd"].to_string());
                bad.check(known && e["action"] == "remove", || {
                    format!("a hang-up of an fd not open, or not removed: {e}")
                });
            }
            _ => {}
        }
    }
    bad.check(accepts == N, || format!("{accepts} accepts, want {N}"));
    bad.check(open.is_empty(), || {
        format!("{} accepted fds never hung up", open.len())
    });
    let (all, err) = end_by_sigterm(&mut bad, &mut child, evs, err);
    bad.check(err.is_empty(), || format!("stderr {err:?}"));
    summary_last(&mut bad, &all);
    bad.finish(&all);
}

#[test]
fn peer_close_with_unread_data_releases_the_fd() {
    each_backend(&BACKENDS, fifty_close);
}
