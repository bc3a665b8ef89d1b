//! Urgent (MSG_OOB) bytes reported when they arrive, with a peer that
//! stays connected. The existing urgent tests (tests/it/sockets.rs) synchronize on the
//! client's hang-up, which flushes whatever fdwatch parked; here the client never
//! closes before the urgent event is seen, and the run is then ended by the idle
//! timeout, by SIGTERM or by `--count` with the client still open.
//!
//! Every backend × `--read=text`, `--read=count`, `--peek` and no `--read`:
//! - a lone urgent byte;
//! - `hell` + urgent `o` sent back to back (two sends, no pause);
//! - `hell`, fdwatch reads (or shows) it and goes back to its wait, a pause (300 ms
//!   after the send of `hell`), then the urgent byte alone: the case where a fdwatch
//!   that takes the byte early could park it until the client hangs up.
//!
//! In each, the urgent event must come while the client is connected and be read by
//! this test within 100 ms of the urgent send (both instants on the test's clock: the
//! send is taken just before `send(MSG_OOB)`, the arrival when the line is read from
//! fdwatch's stdout). That is the one timing threshold: reported promptly, not when the
//! client leaves.
//!
//! Synchronization: fdwatch's JSON lines (read with poll(2) and a deadline, so a missing
//! event fails with a message instead of waiting for the idle timeout), `blocked`
//! (/proc/PID/syscall), /proc/PID/stat for a stopped child, and /proc/net/tcp for the
//! bytes the kernel holds for a connection fdwatch has not accepted yet. Signals go to
//! the child only. Every fd here is close-on-exec (std sockets are).

use std::io::Write;
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::libc;
use nix::sys::signal::Signal;
use serde_json::Value;

/// An urgent byte is reported within 100 ms of its arrival: promptly, not when the client
/// leaves.
const PROMPT: Duration = Duration::from_millis(100);
/// How long to wait for an event that is due at once, before failing (far beyond
/// PROMPT: a late event fails the PROMPT check with its measured delay, a missing one
/// fails here).
const MISSING: Duration = Duration::from_secs(2);
/// The pause between `hell` and the urgent byte in the paused variant.
const PAUSE: Duration = Duration::from_millis(300);

// How data is consumed ------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Text,
    Count,
    Peek,
    Plain,
}

const MODES: [Mode; 4] = [Mode::Text, Mode::Count, Mode::Peek, Mode::Plain];

impl Mode {
    fn opts(self) -> &'static [&'static str] {
        match self {
            Mode::Text => &["--read=text"],
            Mode::Count => &["--read=count"],
            Mode::Peek => &["--peek"],
            Mode::Plain => &[],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Text => "--read=text",
            Mode::Count => "--read=count",
            Mode::Peek => "--peek",
            Mode::Plain => "no --read",
        }
    }

    /// Whether fdwatch takes the bytes from the kernel (recv(MSG_OOB) without MSG_PEEK).
    fn consuming(self) -> bool {
        matches!(self, Mode::Text | Mode::Count)
    }
}

// The client ---------------------------------------------------------------------------

/// A client of fdwatch's listener, Nagle off (nothing of the client's own waits into
/// the measured delay).
fn connect(case: &str, port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("{case}: connect to 127.0.0.1:{port}: {e}"));
    c.set_nodelay(true).expect("TCP_NODELAY");
    c
}

/// Sends one urgent byte; returns the instant just before the send (the start of the
/// measured delay).
fn urgent_sent_at(c: &TcpStream, byte: u8) -> Instant {
    let at = Instant::now();
    send_oob(c, &[byte]);
    at
}

/// Waits (1 ms steps, 5 s at most) until the kernel holds `n` bytes for fdwatch's end
/// of the connection from `c`.
fn wait_rx_queue(case: &str, port: u16, c: &TcpStream, n: u64) {
    let client = c.local_addr().expect("client address").port();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let q = server_rx_queue(port, client);
        if q == Some(n) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: the server end never held {n} bytes (/proc/net/tcp says {q:?})"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

// Checks -------------------------------------------------------------------------------

fn is_fd(e: &Value, name: &str, fd: &Value) -> bool {
    e["event"] == name && &e["fd"] == fd
}

/// The one accept event; its fd.
fn accepted(case: &str, evs: &[Value]) -> Value {
    let acc: Vec<&Value> = of_kind(evs, "accept");
    assert_eq!(acc.len(), 1, "{case}: one accept event: {evs:?}");
    assert!(
        acc[0]["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1:")),
        "{case}: {}",
        acc[0]
    );
    acc[0]["fd"].clone()
}

/// Normal bytes the data events for `fd` among `evs` report, and (text mode) their text.
fn data_of(evs: &[Value], fd: &Value) -> (u64, String) {
    let mut bytes = 0;
    let mut text = String::new();
    for e in evs.iter().filter(|e| is_fd(e, "data", fd)) {
        bytes += e["bytes"].as_u64().unwrap_or(0);
        text.push_str(e["text"].as_str().unwrap_or(""));
    }
    (bytes, text)
}

/// The urgent event's fields as the contract says for `mode`, `offset` normal bytes
/// before the mark.
fn check_urgent(case: &str, mode: Mode, u: &Value, byte: u8, offset: u64) {
    let ch = (byte as char).to_string();
    assert_eq!(u["byte"], ch.as_str(), "{case}: byte: {u}");
    assert_eq!(u["hex"], format!("{byte:02x}"), "{case}: hex: {u}");
    assert_eq!(
        u["offset"], offset,
        "{case}: offset (normal bytes before the mark): {u}"
    );
    assert_eq!(u["inline"], false, "{case}: {u}");
    assert!(u["replaced"].is_null(), "{case}: replaced: {u}");
    assert!(u["errno"].is_null(), "{case}: errno: {u}");
    if mode.consuming() {
        assert_eq!(u["peek"], false, "{case}: taken, not peeked: {u}");
        assert_eq!(u["atmark"], true, "{case}: atmark: {u}");
    } else {
        assert_eq!(u["peek"], true, "{case}: shown with MSG_PEEK: {u}");
        // SIOCATMARK now: at the mark only when no normal byte precedes it.
        assert_eq!(
            u["atmark"],
            offset == 0,
            "{case}: atmark (SIOCATMARK now): {u}"
        );
    }
}

/// Data events before the urgent event, as the contract says for `mode`, with `want`
/// the normal bytes sent before the mark.
fn check_data_before(case: &str, mode: Mode, before: &[Value], fd: &Value, want: &str) {
    let (bytes, text) = data_of(before, fd);
    match mode {
        Mode::Text => {
            assert_eq!(text, want, "{case}: data text before the mark: {before:?}");
            assert_eq!(bytes, want.len() as u64, "{case}: {before:?}");
        }
        Mode::Count => {
            assert_eq!(
                bytes,
                want.len() as u64,
                "{case}: data bytes before the urgent event: {before:?}"
            );
            for d in before.iter().filter(|e| is_fd(e, "data", fd)) {
                assert!(d["text"].is_null(), "{case}: count mode: {d}");
            }
        }
        Mode::Peek => {
            for d in before.iter().filter(|e| is_fd(e, "data", fd)) {
                assert_eq!(d["peek"], true, "{case}: {d}");
            }
        }
        Mode::Plain => {
            assert!(
                !before.iter().any(|e| e["event"] == "data"),
                "{case}: no data event without --read: {before:?}"
            );
        }
    }
    // The client is connected: no end of its stream yet.
    for e in before {
        assert!(
            !(is_fd(e, "eof", fd) || is_fd(e, "hangup", fd)),
            "{case}: an end of the stream while the client is connected: {e}"
        );
    }
}

/// Ends the run with SIGTERM; the rest of the output, the status.
fn terminate(child: &mut Child, out: &mut TimedEvents) -> ExitStatus {
    signal(child, Signal::SIGTERM);
    out.rest(WATCHDOG + Duration::from_secs(5));
    child.wait().expect("wait fdwatch")
}

fn check_sigterm_end(case: &str, status: ExitStatus, evs: &[Value]) {
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "{case}: want death by SIGTERM, got {status}; last events {:?}",
        &evs[evs.len().saturating_sub(4)..]
    );
    last_summary(case, evs);
}

/// Runs every case in turn (one thread: the cases of a backend share its share of the
/// CPU, which keeps the 100 ms measurements honest); a failing case does not stop the
/// others, and the test then fails naming each one that failed.
fn one_by_one<T>(cases: impl IntoIterator<Item = (String, T)>, f: impl Fn(T)) {
    let failed: Vec<String> = cases
        .into_iter()
        .filter_map(|(name, c)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(c)))
                .is_err()
                .then_some(name)
        })
        .collect();
    assert!(
        failed.is_empty(),
        "failed: {failed:#?} (their panics are printed above)"
    );
}

// 1. The matrix: lone byte, back to back, after a pause ----------------------------------

#[derive(Clone, Copy, Debug)]
enum Send {
    /// Only `!` with MSG_OOB.
    Lone,
    /// `hell`, then `o` with MSG_OOB, no pause.
    BackToBack,
    /// `hell`; fdwatch shows it and waits again; 300 ms after `hell`, `o` with MSG_OOB.
    Paused,
}

fn urgent_case(b: &str, mode: Mode, send: Send) {
    let case = format!("-b {b} {}, {send:?}, client stays connected", mode.name());
    // The idle timeout is far beyond MISSING: the run is ended by SIGTERM.
    let (mut child, _dog, port) = listen_tcp(&case, |spec| {
        Fdwatch::new(monitor_args(b, mode.opts(), "10", spec))
    });
    let mut out = TimedEvents::new(&case, child.stdout.take().expect("piped stdout"));
    let c = connect(&case, port);
    let client_port = c.local_addr().expect("client address").port();
    let (acc, _) = out.until_at("the accept event", MISSING, is("accept"));
    let fd = acc["fd"].clone();

    let (byte, offset) = match send {
        Send::Lone => (b'!', 0),
        Send::BackToBack | Send::Paused => (b'o', 4),
    };
    let sent_at = match send {
        Send::Lone => urgent_sent_at(&c, byte),
        Send::BackToBack => {
            (&c).write_all(b"hell").expect("send hell");
            urgent_sent_at(&c, byte)
        }
        Send::Paused => {
            let hell_at = Instant::now();
            (&c).write_all(b"hell").expect("send hell");
            // fdwatch has seen "hell": its data (all 4 bytes when consuming), or the
            // socket reported readable.
            match mode {
                Mode::Text | Mode::Count => {
                    let fdc = fd.clone();
                    let seen = std::cell::Cell::new(0u64);
                    out.until_at("the data event for \"hell\"", MISSING, |e| {
                        if is_fd(e, "data", &fdc) {
                            seen.set(seen.get() + e["bytes"].as_u64().unwrap_or(0));
                        }
                        seen.get() >= 4
                    });
                }
                Mode::Peek => {
                    out.until_at("the peeked data event", MISSING, |e| is_fd(e, "data", &fd));
                }
                Mode::Plain => {
                    out.until_at("the socket readable", MISSING, |e| {
                        is_fd(e, "ready", &fd) && words(e).iter().any(|w| w == "read")
                    });
                }
            }
            // ... and is back in its wait; then the rest of the pause.
            blocked(child.id(), &case);
            let left = PAUSE.saturating_sub(hell_at.elapsed());
            std::thread::sleep(left);
            urgent_sent_at(&c, byte)
        }
    };
    let fdc = fd.clone();
    let (u, read_at) = out.until_at("the urgent event", MISSING, |e| is_fd(e, "urgent", &fdc));
    let delay = read_at.duration_since(sent_at);
    // Still connected: nothing of the client's end has been seen (checked below), and
    // only now is anything checked that could take time.
    let before: Vec<Value> = out.seen()[..out.seen().len() - 1].to_vec();
    let queued = server_rx_queue(port, client_port);
    println!("{case}: urgent event read {delay:?} after the send");

    assert!(
        delay <= PROMPT,
        "{case}: the urgent event came {delay:?} after the send (at most {PROMPT:?}): {u}"
    );
    check_urgent(&case, mode, &u, byte, offset);
    let sent_before = if offset == 4 { "hell" } else { "" };
    check_data_before(&case, mode, &before, &fd, sent_before);
    if !mode.consuming() {
        // Nothing consumed: the normal bytes before the mark and the urgent byte.
        assert_eq!(
            queued,
            Some(offset + 1),
            "{case}: the kernel still holds every byte sent (/proc/net/tcp rx_queue)"
        );
    }

    let status = terminate(&mut child, &mut out);
    let all = out.seen().to_vec();
    check_sigterm_end(&case, status, &all);
    assert_eq!(accepted(&case, &all), fd, "{case}");
    assert_eq!(
        all.iter().filter(|e| is_fd(e, "urgent", &fd)).count(),
        1,
        "{case}: the urgent byte reported once: {all:?}"
    );
    if mode.consuming() {
        let at = all
            .iter()
            .position(|e| is_fd(e, "urgent", &fd))
            .expect("urgent");
        let (after, _) = data_of(&all[at..], &fd);
        assert_eq!(after, 0, "{case}: no data after the mark was sent: {all:?}");
    }
    assert!(of_kind(&all, "error").is_empty(), "{case}: {all:?}");
    // Connected to the end.
    drop(c);
}

#[test]
fn urgent_byte_reported_within_100ms_while_the_client_stays() {
    each_backend(&BACKENDS, |b| {
        let mut cases = Vec::new();
        for mode in MODES {
            for send in [Send::Lone, Send::BackToBack, Send::Paused] {
                cases.push((format!("-b {b} {}, {send:?}", mode.name()), (mode, send)));
            }
        }
        one_by_one(cases, |(mode, send)| urgent_case(b, mode, send));
    });
}

// 2. A taken urgent byte is reported on every end of the run ---------------------------

#[derive(Clone, Copy, Debug)]
enum End {
    /// The idle timeout after events (TIMEOUT 1, exit 0).
    Idle,
    /// SIGTERM from the test (death by SIGTERM).
    Term,
    /// `-c 4`: the limit falls on the data event (exit 0).
    Count,
}

#[derive(Clone, Copy, Debug)]
enum When {
    /// `hell` and urgent `o` are both queued before fdwatch accepts the connection (it is
    /// stopped meanwhile): it sees `read` and `urgent` at once, takes the byte, reads
    /// `hell`.
    Together,
    /// Urgent `o` sent once fdwatch has read `hell`: it takes the byte alone.
    After,
}

/// `--count` with the limit right after the data event: every event but the summary
/// counts (-v off): ready (listener), accept, ready (read urgent), data.
const COUNT_TO_DATA: u64 = 4;

fn run_end_case(b: &str, end: End, when: When) {
    let case =
        format!("-b {b} --read=text, hell + urgent o ({when:?}), client open, end by {end:?}");
    let count = COUNT_TO_DATA.to_string();
    // The idle timer runs while fdwatch is stopped (Together): 5 s there, far beyond
    // the few ms the stop takes (a loaded 2-CPU machine once took 3 s over it), so a
    // slow test machine cannot make it expire first.
    let idle = match (end, when) {
        (End::Idle, When::After) => "1",
        (End::Idle, When::Together) => "5",
        (End::Term | End::Count, _) => "10",
    };
    let mut opts = vec!["--read=text"];
    if let End::Count = end {
        opts.extend(["-c", count.as_str()]);
    }
    let (mut child, _dog, port) = listen_tcp(&case, |spec| {
        Fdwatch::new(monitor_args(b, &opts, idle, spec))
    });
    let mut out = TimedEvents::new(&case, child.stdout.take().expect("piped stdout"));

    let mut stopped_for = None;
    let c = match when {
        When::Together => {
            let stopped_at = Instant::now();
            stop(child.id(), &case);
            let c = connect(&case, port);
            (&c).write_all(b"hell").expect("send hell");
            send_oob(&c, b"o");
            wait_rx_queue(&case, port, &c, 5);
            resume(child.id());
            stopped_for = Some(stopped_at.elapsed());
            c
        }
        When::After => {
            let c = connect(&case, port);
            (&c).write_all(b"hell").expect("send hell");
            c
        }
    };

    let fd = {
        let step = match stopped_for {
            Some(d) => format!("the accept event (fdwatch was stopped for {d:?})"),
            None => "the accept event".to_owned(),
        };
        let (acc, _) = out.until_at(&step, MISSING, is("accept"));
        acc["fd"].clone()
    };
    let text = std::cell::RefCell::new(String::new());
    let fdc = fd.clone();
    if !matches!(end, End::Count) {
        out.until_at("the data event for \"hell\"", MISSING, |e| {
            if is_fd(e, "data", &fdc) {
                text.borrow_mut().push_str(e["text"].as_str().unwrap_or(""));
            }
            text.borrow().len() >= 4
        });
    }
    if let When::After = when {
        send_oob(&c, b"o");
    }
    let status = match end {
        End::Idle | End::Count => {
            out.rest(WATCHDOG + Duration::from_secs(5));
            child.wait().expect("wait fdwatch")
        }
        End::Term => {
            if let When::After = when {
                // fdwatch woke for the urgent byte: it takes it now (or has shown it).
                out.until_at(
                    "fdwatch seeing the urgent byte (a ready event with urgent, or the urgent event)",
                    MISSING,
                    |e| {
                        is_fd(e, "urgent", &fdc)
                            || (is_fd(e, "ready", &fdc)
                                && words(e).iter().any(|w| w == "urgent"))
                    },
                );
            }
            terminate(&mut child, &mut out)
        }
    };
    let all = out.seen().to_vec();
    // The client was connected until fdwatch ended.
    drop(c);

    let s = last_summary(&case, &all);
    assert_eq!(accepted(&case, &all), fd, "{case}");
    match end {
        End::Idle => {
            assert_eq!(
                status.code(),
                Some(0),
                "{case}: idle timeout after events: {status}; {all:?}"
            );
            assert!(
                !of_kind(&all, "timeout").is_empty(),
                "{case}: a timeout event: {all:?}"
            );
        }
        End::Term => check_sigterm_end(&case, status, &all),
        End::Count => {
            assert_eq!(
                status.code(),
                Some(0),
                "{case}: --count ends it: {status}; {all:?}"
            );
            // The events --count counted: the limit fell on the data event.
            let counted: Vec<&Value> = all.iter().filter(|e| e["event"] != "summary").collect();
            let kinds: Vec<&str> = counted
                .iter()
                .map(|e| e["event"].as_str().unwrap_or("?"))
                .collect();
            assert_eq!(
                kinds,
                ["ready", "accept", "ready", "data", "urgent"],
                "{case}: -c {COUNT_TO_DATA} stops after the data event; the urgent byte \
                 fdwatch had taken comes as one more event: {all:?}"
            );
        }
    }
    assert!(of_kind(&all, "error").is_empty(), "{case}: {all:?}");
    let urgent: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, e)| is_fd(e, "urgent", &fd))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        urgent.len(),
        1,
        "{case}: the urgent byte fdwatch took must be reported once, before the summary: {all:?}"
    );
    let at = urgent[0];
    check_urgent(&case, Mode::Text, &all[at], b'o', 4);
    let (_, before) = data_of(&all[..at], &fd);
    assert_eq!(before, "hell", "{case}: data before the mark: {all:?}");
    for e in &all[..at] {
        assert!(
            !(is_fd(e, "eof", &fd) || is_fd(e, "hangup", &fd)),
            "{case}: the client never closed: {e}"
        );
    }
    let rows = s["bytes"].as_array().expect("summary bytes");
    let row: Vec<&Value> = rows.iter().filter(|r| r["fd"] == fd).collect();
    assert_eq!(row.len(), 1, "{case}: the connection in the summary: {s}");
    assert_eq!(row[0]["bytes"], 4, "{case}: {s}");
}

#[test]
fn taken_urgent_byte_reported_on_every_end() {
    let mut cases = Vec::new();
    for b in BACKENDS {
        cases.push((b.to_owned(), b));
    }
    in_named_threads(cases.iter().map(|(n, b)| (n.as_str(), *b)), |b| {
        let cases = [
            (End::Idle, When::Together),
            (End::Idle, When::After),
            (End::Term, When::Together),
            (End::Term, When::After),
            (End::Count, When::Together),
        ]
        .map(|(end, when)| (format!("-b {b}, {when:?}, end by {end:?}"), (end, when)));
        one_by_one(cases, |(end, when)| run_end_case(b, end, when));
    });
}
