//! `fdwatch relay LISTEN TARGET` acceptance tests: a TCP relay that keeps urgent data
//! at its place in the stream, passes half-closes and resets on, pushes back on a slow
//! receiver instead of buffering, and reports every connection as JSON Lines.
//!
//! Everything runs on loopback with real sockets and the real binary. Synchronization
//! is on the relay's JSON events, on the test's own socket reads (poll(2) with a
//! deadline), or on process exit; never on sleeps (the one slow reader in the
//! backpressure test sleeps by design). Every socket here is close-on-exec (std and
//! nix sockets made with SOCK_CLOEXEC). Stream contents are compared byte for byte
//! with what was sent (no hash).
//!
//! A TCP reader here reads the way an urgent-aware application must (the relay's
//! receivers are judged by it): FIONREAD measured, then SIOCATMARK; at the mark the
//! urgent byte is taken with recv(MSG_OOB) first; otherwise at most the FIONREAD
//! bytes (which end at the mark) are read. A normal read starting at the mark would
//! skip the urgent byte for good.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{self, MsgFlags};
use serde_json::Value;

/// How long one read phase of the test's own sockets may take before the test fails.
const READ_LIMIT: Duration = Duration::from_secs(20);

// Sockets ------------------------------------------------------------------------------

fn start_listening(fd: &OwnedFd) {
    socket::listen(fd, socket::Backlog::new(16).expect("backlog")).expect("listen");
}

/// poll(2) on one fd until it reports anything (returned); fails at `deadline` saying
/// `what()`.
fn poll_ready(
    case: &str,
    fd: BorrowedFd<'_>,
    want: libc::c_short,
    deadline: Instant,
    what: &dyn Fn() -> String,
) -> libc::c_short {
    poll_until(fd, want, deadline, |r| r != 0)
        .unwrap_or_else(|| panic!("{case}: timed out {}", what()))
}

/// What an urgent-aware reader found in a TCP stream.
enum Piece<'a> {
    Data(&'a [u8]),
    Urgent(u8),
}

/// What a TCP reader has taken so far: normal bytes counted, each urgent byte with the
/// offset (normal bytes before it) at which SIOCATMARK was 1.
#[derive(Debug, Default)]
struct Taken {
    normal: u64,
    urgent: Vec<(u64, u8)>,
    eof: bool,
}

impl Taken {
    /// Reads `fd` (a TCP socket) until `done(self)` or end of file, handing every piece
    /// to `on` in stream order. Fails after `limit`, on a read error, and when
    /// SIOCATMARK is 1 with no urgent byte to take. (Two urgent bytes at one offset, with
    /// no normal byte between, are not told apart: no test here sends that.)
    fn read_until(
        &mut self,
        case: &str,
        fd: BorrowedFd<'_>,
        limit: Duration,
        on: &mut dyn FnMut(Piece<'_>),
        done: &dyn Fn(&Taken) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 64 * 1024];
        let events = libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP;
        let ended = libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR;
        while !self.eof && !done(self) {
            let rev = poll_ready(case, fd, events, deadline, &|| {
                format!(
                    "reading: {} normal bytes so far, urgent {:?}",
                    self.normal, self.urgent
                )
            });
            // FIONREAD first: it stops at the mark, and bytes counted now were queued
            // before any urgent data arriving later.
            let n = usize::try_from(fionread(fd)).expect("FIONREAD");
            let at = at_mark(fd);
            let taken_here = self.urgent.last().is_some_and(|u| u.0 == self.normal);
            if at && !taken_here {
                let mut b = [0u8; 1];
                let flags = MsgFlags::MSG_OOB | MsgFlags::MSG_DONTWAIT;
                match socket::recv(fd.as_raw_fd(), &mut b, flags) {
                    Ok(1) => {
                        self.urgent.push((self.normal, b[0]));
                        on(Piece::Urgent(b[0]));
                    }
                    // The mark is known, its byte has not arrived yet.
                    Err(Errno::EAGAIN) => {
                        poll_ready(case, fd, libc::POLLPRI, deadline, &|| {
                            format!("waiting for the urgent byte at {}", self.normal)
                        });
                    }
                    other => panic!(
                        "{case}: SIOCATMARK is 1 after {} normal bytes, but recv(MSG_OOB) gave \
                         {other:?} (urgent bytes so far {:?})",
                        self.normal, self.urgent
                    ),
                }
                continue;
            }
            // At a mark whose byte was taken, FIONREAD says 0 while bytes may follow:
            // a normal read steps over the taken byte.
            let room = if n > 0 {
                n
            } else if (at && taken_here) || rev & ended != 0 {
                buf.len()
            } else {
                continue;
            };
            let room = room.min(buf.len());
            match socket::recv(fd.as_raw_fd(), &mut buf[..room], MsgFlags::MSG_DONTWAIT) {
                Ok(0) => self.eof = true,
                Ok(m) => {
                    self.normal += m as u64;
                    on(Piece::Data(&buf[..m]));
                }
                Err(Errno::EAGAIN) => {}
                Err(e) => panic!(
                    "{case}: recv after {} normal bytes (urgent {:?}): {e}",
                    self.normal, self.urgent
                ),
            }
        }
    }

    /// Reads everything to end of file, collecting the normal bytes.
    fn read_to_eof(&mut self, case: &str, fd: BorrowedFd<'_>, into: &mut Vec<u8>) {
        self.read_until(
            case,
            fd,
            READ_LIMIT,
            &mut |p| {
                if let Piece::Data(d) = p {
                    into.extend_from_slice(d)
                }
            },
            &|_| false,
        );
    }
}

/// An echo server for one connection: normal bytes echoed as they come, an urgent
/// byte re-sent with send(MSG_OOB) at the offset where it arrived; at end of file the
/// connection is closed.
fn echo(case: &str, s: TcpStream) {
    let mut out = s.try_clone().expect("clone the echo socket");
    let mut t = Taken::default();
    t.read_until(
        case,
        s.as_fd(),
        READ_LIMIT,
        &mut |p| match p {
            Piece::Data(d) => out.write_all(d).expect("echo write"),
            Piece::Urgent(b) => send_oob(&out, &[b]),
        },
        &|_| false,
    );
}

/// Accepts one connection within READ_LIMIT (never hangs on a client that never came).
fn accept(case: &str, l: &TcpListener) -> TcpStream {
    let deadline = Instant::now() + READ_LIMIT;
    poll_ready(case, l.as_fd(), libc::POLLIN, deadline, &|| {
        "waiting for the relay to connect to the target".to_owned()
    });
    let (s, _) = l.accept().expect("accept");
    s.set_read_timeout(Some(READ_LIMIT)).expect("read timeout");
    s
}

// The relay ---------------------------------------------------------------------------

/// A running `fdwatch relay ... --format json tcp-listen:127.0.0.1:PORT TARGET` whose
/// `listen` event was read (it listens).
struct Relay {
    case: String,
    child: Child,
    dog: Watchdog,
    evs: EventStream,
    addr: SocketAddr,
}

impl Relay {
    /// Starts the relay on a free loopback port; should another socket take the port
    /// first (the relay exits 2 saying it is in use), another port is tried.
    fn start(case: &str, opts: &[&str], target: &str) -> Relay {
        Relay::start_with(case, opts, target, &|f| f)
    }

    /// `start` with the command changed by `how` (run under a tracer, an environment).
    fn start_with(
        case: &str,
        opts: &[&str],
        target: &str,
        how: &dyn Fn(Fdwatch) -> Fdwatch,
    ) -> Relay {
        for _ in 0..5 {
            let port = free_port();
            let listen = format!("tcp-listen:127.0.0.1:{port}");
            let mut args = vec!["relay"];
            args.extend(opts);
            args.extend(["--format", "json", listen.as_str(), target]);
            let (mut child, dog) = spawn(case, how(Fdwatch::new(&args)));
            let mut evs = EventStream::new(&mut child, case);
            if let Some(first) = evs.next() {
                assert_eq!(
                    first["event"], "listen",
                    "{case}: fdwatch {args:?}: the first event: {first}"
                );
                assert_eq!(first["conn"], 0, "{case}: {first}");
                assert_eq!(
                    first["what"],
                    format!("tcp 127.0.0.1:{port}"),
                    "{case}: {first}"
                );
                assert_eq!(first["target"], target, "{case}: {first}");
                return Relay {
                    case: case.to_owned(),
                    child,
                    dog,
                    evs,
                    addr: SocketAddr::from(([127, 0, 0, 1], port)),
                };
            }
            let out = child.wait_with_output().expect("wait fdwatch");
            drop(dog);
            let err = stderr(&out);
            assert!(
                out.status.code() == Some(2)
                    && (err.contains("in use") || err.contains("EADDRINUSE")),
                "{case}: fdwatch {args:?} ended before its listen event ({}): {err:?}",
                out.status
            );
        }
        panic!("{case}: no free port after 5 tries");
    }

    /// A client connected to the relay (blocking, reads time out after READ_LIMIT).
    fn connect(&self) -> TcpStream {
        let c = TcpStream::connect(self.addr).expect("connect to the relay");
        c.set_read_timeout(Some(READ_LIMIT)).expect("read timeout");
        c
    }

    /// Reads events up to the first `hit` accepts; returns that one.
    fn wait(&mut self, step: &str, hit: impl Fn(&Value) -> bool) -> Value {
        let step = format!("{}: {step}", self.case);
        self.evs.until(&step, hit).pop().expect("the event")
    }

    /// Reads events up to the one named `name` for connection `conn`.
    fn wait_conn(&mut self, name: &'static str, conn: u64) -> Value {
        self.wait(&format!("waiting for {name:?} of conn {conn}"), move |e| {
            e["event"] == name && e["conn"] == conn
        })
    }

    /// Waits until the data events `from` one side of `conn` since now spell `text`.
    fn wait_text(&mut self, conn: u64, from: &str, text: &str) {
        let mut got = String::new();
        while got.len() < text.len() {
            let e = self.wait(&format!("data {text:?} from the {from}"), |e| {
                e["event"] == "data" && e["conn"] == conn && e["from"] == from
            });
            got.push_str(
                e["text"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{}: --read=text data without text: {e}", self.case)),
            );
        }
        assert_eq!(got, text, "{}: data from the {from}", self.case);
    }

    /// Reads the rest of the events (the relay exits) and reaps it: the exit status,
    /// every event (each checked for the common fields), stderr.
    fn finish(self) -> (ExitStatus, Vec<Value>, String) {
        let Relay {
            case,
            child,
            dog,
            evs,
            ..
        } = self;
        let all = evs.all();
        let out = child.wait_with_output().expect("wait fdwatch");
        drop(dog);
        check_fields(&case, &all);
        (out.status, all, stderr(&out))
    }

    /// Sends `sig` to the relay.
    fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        // The child is not reaped before `finish`: the pid is still its own.
        nix::sys::signal::kill(pid, sig).expect("kill");
    }
}

/// Every event has "event" (a string), "t" (seconds since start, >= 0) and "conn"
/// (0 for relay-wide events, from 1 for a connection's).
fn check_fields(case: &str, evs: &[Value]) {
    for e in evs {
        let name = e["event"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: no \"event\": {e}"));
        let t = e["t"]
            .as_f64()
            .unwrap_or_else(|| panic!("{case}: no \"t\": {e}"));
        assert!(t >= 0.0, "{case}: t < 0: {e}");
        let conn = e["conn"]
            .as_u64()
            .unwrap_or_else(|| panic!("{case}: no \"conn\" (an integer >= 0): {e}"));
        match name {
            "listen" | "summary" | "timeout" | "signal" => {
                assert_eq!(conn, 0, "{case}: a relay-wide event: {e}")
            }
            "accept" | "connect" | "data" | "urgent" | "half-close" | "reset" | "error"
            | "close" => assert!(conn >= 1, "{case}: a connection's event: {e}"),
            _ => {}
        }
    }
}

/// The events of connection `conn`.
fn of_conn(evs: &[Value], conn: u64) -> Vec<&Value> {
    evs.iter().filter(|e| e["conn"] == conn).collect()
}

/// Connection `conn`'s events named `name` from side `from`.
fn from_side<'a>(evs: &'a [Value], conn: u64, name: &str, from: &str) -> Vec<&'a Value> {
    evs.iter()
        .filter(|e| e["conn"] == conn && e["event"] == name && e["from"] == from)
        .collect()
}

/// The one `close` event of `conn`: (client_to_target, target_to_client,
/// urgent_client_to_target, urgent_target_to_client).
fn close_counts(case: &str, evs: &[Value], conn: u64) -> [u64; 4] {
    let c: Vec<&Value> = evs
        .iter()
        .filter(|e| e["event"] == "close" && e["conn"] == conn)
        .collect();
    assert_eq!(
        c.len(),
        1,
        "{case}: one close event for conn {conn}: {evs:?}"
    );
    let c = c[0];
    assert!(
        c["duration"].as_f64().is_some_and(|d| d >= 0.0),
        "{case}: close duration: {c}"
    );
    counts(case, c)
}

fn counts(case: &str, e: &Value) -> [u64; 4] {
    [
        "client_to_target",
        "target_to_client",
        "urgent_client_to_target",
        "urgent_target_to_client",
    ]
    .map(|k| {
        e[k].as_u64()
            .unwrap_or_else(|| panic!("{case}: {k:?} is not a count: {e}"))
    })
}

/// The summary is the last event, one of it, with these totals.
fn check_summary(case: &str, evs: &[Value], connections: u64, totals: [u64; 4], backend: &str) {
    let s = last_summary(case, evs);
    assert_eq!(s["connections"], connections, "{case}: {s}");
    assert_eq!(counts(case, &s), totals, "{case}: summary totals: {s}");
    assert_eq!(s["backend"], backend, "{case}: {s}");
    assert!(
        s["elapsed"].as_f64().is_some_and(|x| x >= 0.0),
        "{case}: elapsed: {s}"
    );
}

/// The accept and connect events of a new connection `conn` from `client`.
fn check_accepted(relay: &mut Relay, conn: u64, client: &TcpStream, target: &str) {
    let case = relay.case.clone();
    let acc = relay.wait_conn("accept", conn);
    let peer = client.local_addr().expect("client address").to_string();
    assert_eq!(acc["peer"], peer, "{case}: accept: {acc}");
    let con = relay.wait_conn("connect", conn);
    assert_eq!(con["target"], target, "{case}: {con}");
    assert_eq!(con["result"], "ok", "{case}: connect failed: {con}");
}

// 1. Urgent data keeps its place, both ways, on every backend -------------------------

/// Sends "hell", urgent "o", "world" on `from_end`, waiting for the relay's event after
/// each send; then reads them at `to_end`: "hellworld" with the mark after 4 bytes.
fn hell_o_world(relay: &mut Relay, from: &str, from_end: &TcpStream, to_end: &TcpStream) {
    let case = relay.case.clone();
    let mut w = from_end;
    w.write_all(b"hell").expect("send hell");
    relay.wait_text(1, from, "hell");
    send_oob(from_end, b"o");
    let u = relay.wait(&format!("urgent from the {from}"), |e| {
        e["event"] == "urgent" && e["from"] == from
    });
    assert_eq!(u["conn"], 1, "{case}: {u}");
    w.write_all(b"world").expect("send world");
    relay.wait_text(1, from, "world");

    let mut got = Vec::new();
    let mut t = Taken::default();
    t.read_until(
        &format!("{case}: the {from}'s bytes at the other end"),
        to_end.as_fd(),
        READ_LIMIT,
        &mut |p| {
            if let Piece::Data(d) = p {
                got.extend_from_slice(d)
            }
        },
        &|t| t.normal >= 9 && !t.urgent.is_empty(),
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        "hellworld",
        "{case}: normal bytes from the {from}"
    );
    assert_eq!(
        t.urgent,
        [(4, b'o')],
        "{case}: urgent bytes from the {from} as (offset where SIOCATMARK was 1, byte)"
    );
    assert!(!t.eof, "{case}");
}

fn urgent_both_ways_on(b: &str) {
    let case = format!("-b {b} --read=text, hell + urgent o + world, both ways");
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = Relay::start(&case, &["-b", b, "--read=text", "--count", "1"], &target);
    let client = relay.connect();
    let srv = accept(&case, &server);
    check_accepted(&mut relay, 1, &client, &target);

    hell_o_world(&mut relay, "client", &client, &srv);
    hell_o_world(&mut relay, "target", &srv, &client);

    drop(client);
    drop(srv);
    relay.wait_conn("close", 1);
    let (status, all, err) = relay.finish();
    assert_eq!(status.code(), Some(0), "{case}: --count 1: {err}; {all:?}");

    for from in ["client", "target"] {
        let stream: Vec<&Value> = all
            .iter()
            .filter(|e| e["conn"] == 1 && e["from"] == from)
            .filter(|e| e["event"] == "data" || e["event"] == "urgent")
            .collect();
        let short: Vec<String> = stream
            .iter()
            .map(|e| match e["event"].as_str() {
                Some("data") => format!("data:{}", e["text"].as_str().unwrap_or("?")),
                _ => format!(
                    "urgent:{}@{}",
                    e["byte"].as_str().unwrap_or("?"),
                    e["offset"]
                ),
            })
            .collect();
        assert_eq!(
            short,
            ["data:hell", "urgent:o@4", "data:world"],
            "{case}: events from the {from}: {stream:?}"
        );
        let (hell, u, world) = (stream[0], stream[1], stream[2]);
        assert_eq!(hell["bytes"], 4, "{case}: {hell}");
        assert_eq!(hell["total"], 4, "{case}: {hell}");
        assert_eq!(world["bytes"], 5, "{case}: {world}");
        assert_eq!(world["total"], 9, "{case}: {world}");
        assert_eq!(u["hex"], "6f", "{case}: {u}");
        assert!(u["replaced"].is_null(), "{case}: {u}");
    }
    assert_eq!(close_counts(&case, &all, 1), [9, 9, 1, 1], "{case}");
    check_summary(&case, &all, 1, [9, 9, 1, 1], b);
    for k in ["reset", "error"] {
        assert!(of_kind(&all, k).is_empty(), "{case}: {all:?}");
    }
}

#[test]
fn urgent_byte_keeps_its_offset_both_ways_every_backend() {
    each_backend(&BACKENDS, urgent_both_ways_on);
}

// 2. A hundred clients at once, 1 MiB each with one urgent byte -----------------------

const CLIENTS: usize = 100;
const PER_CLIENT: usize = 1 << 20;

/// A panic payload as text.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "?".to_owned())
}

/// One client: sends its bytes with the urgent byte at `off` while reading the echo;
/// returns its local port.
fn hundred_client(case: &str, addr: SocketAddr, data: &[u8], off: usize, ub: u8) -> u16 {
    let c = TcpStream::connect(addr).expect("connect to the relay");
    let port = c.local_addr().expect("addr").port();
    let mut w = c.try_clone().expect("clone");
    thread::scope(|s| {
        let writer = s.spawn(move || {
            w.write_all(&data[..off])
                .expect("send before the urgent byte");
            send_oob(&w, &[ub]);
            w.write_all(&data[off..])
                .expect("send after the urgent byte");
            w.shutdown(Shutdown::Write).expect("shutdown(Write)");
        });
        let mut t = Taken::default();
        let mut at = 0usize;
        let mut bad: Option<String> = None;
        t.read_until(
            case,
            c.as_fd(),
            READ_LIMIT,
            &mut |p| {
                if let Piece::Data(d) = p {
                    let want = &data[at.min(data.len())..(at + d.len()).min(data.len())];
                    if bad.is_none() && want != d {
                        bad = Some(format!(
                            "echo differs from what was sent, at stream offset {at}: {}",
                            first_difference(d, want)
                        ));
                    }
                    at += d.len();
                }
            },
            &|_| false,
        );
        writer.join().expect("writer");
        assert!(
            bad.is_none(),
            "{case}: port {port}: {}",
            bad.unwrap_or_default()
        );
        assert_eq!(
            t.normal,
            data.len() as u64,
            "{case}: port {port}: echoed bytes"
        );
        assert_eq!(
            t.urgent,
            [(off as u64, ub)],
            "{case}: port {port}: the urgent byte (offset where SIOCATMARK was 1, byte)"
        );
    });
    port
}

/// `--read=count` data events of one direction of `conn`: `total` is the running sum
/// of `bytes` (which add up to `want`, when given), and they come at most one per
/// `interval` seconds (`t` apart). A data event right before an urgent, half-close or
/// reset event from that side, or the last one, is a flush that keeps the events in
/// stream order: it may come sooner. Returns how many data events there were.
fn coalesced(
    all: &[Value],
    conn: u64,
    from: &str,
    want: Option<u64>,
    interval: f64,
) -> Result<usize, String> {
    let side: Vec<&Value> = all
        .iter()
        .filter(|e| e["conn"] == conn && e["from"] == from)
        .collect();
    let (mut sum, mut prev) = (0u64, None::<(f64, &Value)>);
    let mut n = 0;
    for (i, e) in side.iter().enumerate() {
        if e["event"] != "data" {
            continue;
        }
        n += 1;
        let (bytes, total, t) = (e["bytes"].as_u64(), e["total"].as_u64(), e["t"].as_f64());
        let (Some(bytes), Some(total), Some(t)) = (bytes, total, t) else {
            return Err(format!("bytes, total and t expected: {e}"));
        };
        sum += bytes;
        if total != sum {
            return Err(format!("total {total} after {sum} bytes: {e}"));
        }
        let flush = side.get(i + 1).is_none_or(|next| next["event"] != "data");
        if let Some((p, pe)) = prev
            && !flush
            && t - p < interval - 0.001
        {
            return Err(format!(
                "two data events {:.4} s apart (--interval {interval} s): {pe} and {e}",
                t - p
            ));
        }
        prev = Some((t, e));
    }
    if want.is_some_and(|w| w != sum) {
        return Err(format!("{n} data events count {sum} bytes, want {want:?}"));
    }
    Ok(n)
}

fn hundred_clients_on(b: &str) {
    let case = format!("-b {b}, {CLIENTS} clients x {PER_CLIENT} bytes + 1 urgent byte");
    let started = Instant::now();
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let count = CLIENTS.to_string();
    let opts = ["-b", b, "--count", &count, "--interval", "200ms"];
    let relay = Relay::start(&case, &opts, &target);
    let addr = relay.addr;
    // Each client's bytes, urgent offset and urgent byte. Client 0 sends its urgent
    // byte first, client 1 last; the others at a random offset.
    let mut rng = XorShift::new(0x5eed);
    let plans: Vec<(Vec<u8>, usize, u8)> = (0..CLIENTS)
        .map(|i| {
            let data = rng.bytes(PER_CLIENT);
            let off = match i {
                0 => 0,
                1 => PER_CLIENT,
                _ => rng.below(PER_CLIENT as u64 + 1) as usize,
            };
            (data, off, rng.next() as u8)
        })
        .collect();

    let Relay {
        case: _,
        child,
        dog,
        evs,
        ..
    } = relay;
    let case = case.as_str();
    let (ports, failed, all) = thread::scope(|s| {
        let drain = s.spawn(move || evs.all());
        let servers = s.spawn(|| {
            let echoes: Vec<_> = (0..CLIENTS)
                .map(|_| {
                    let conn = accept(case, &server);
                    s.spawn(move || echo(case, conn))
                })
                .collect();
            for e in echoes {
                e.join().expect("echo server");
            }
        });
        let clients: Vec<_> = plans
            .iter()
            .enumerate()
            .map(|(i, (data, off, ub))| {
                thread::Builder::new()
                    .name(format!("client {i}"))
                    .spawn_scoped(s, move || hundred_client(case, addr, data, *off, *ub))
                    .expect("spawn a client")
            })
            .collect();
        let mut ports = Vec::new();
        let mut failed = Vec::new();
        for (i, c) in clients.into_iter().enumerate() {
            match c.join() {
                Ok(p) => ports.push((p, i)),
                Err(p) => failed.push(format!("client {i}: {}", panic_text(&*p))),
            }
        }
        let servers = servers.join();
        let all = drain.join().expect("event reader");
        if failed.is_empty() {
            servers.expect("echo servers");
        }
        (ports, failed, all)
    });
    let out = child.wait_with_output().expect("wait fdwatch");
    drop(dog);
    println!("{case}: {:?}", started.elapsed());
    assert!(
        failed.is_empty(),
        "{case}: {} of {CLIENTS} clients failed, the first: {:#?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    check_fields(case, &all);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{case}: --count {CLIENTS}: {}",
        stderr(&out)
    );
    for k in ["reset", "error"] {
        assert!(
            of_kind(&all, k).is_empty(),
            "{case}: {:?}",
            of_kind(&all, k)
        );
    }
    // conn number -> client, by the accept event's peer port.
    let mut by_conn = std::collections::BTreeMap::new();
    for a in of_kind(&all, "accept") {
        let conn = a["conn"].as_u64().expect("conn");
        let peer = a["peer"].as_str().expect("peer");
        let port: u16 = peer
            .strip_prefix("127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{case}: accept peer: {a}"));
        let client = ports.iter().find(|p| p.0 == port).map(|p| p.1);
        let client = client.unwrap_or_else(|| panic!("{case}: a peer no client had: {a}"));
        assert!(
            by_conn.insert(conn, client).is_none(),
            "{case}: conn twice: {a}"
        );
    }
    let conns: Vec<u64> = by_conn.keys().copied().collect();
    assert_eq!(
        conns,
        (1..=CLIENTS as u64).collect::<Vec<_>>(),
        "{case}: connections numbered from 1"
    );
    let closes = of_kind(&all, "close");
    assert_eq!(closes.len(), CLIENTS, "{case}: close events");
    let one = PER_CLIENT as u64;
    let mut bad = Vec::new();
    for (&conn, &client) in &by_conn {
        let got = close_counts(case, &all, conn);
        if got != [one, one, 1, 1] {
            bad.push(format!("conn {conn} (client {client}): close {got:?}"));
        }
        for from in ["client", "target"] {
            if let Err(e) = coalesced(&all, conn, from, Some(one), 0.2) {
                bad.push(format!(
                    "conn {conn} (client {client}): data from the {from}: {e}"
                ));
            }
        }
        let (_, off, ub) = &plans[client];
        for from in ["client", "target"] {
            let u = from_side(&all, conn, "urgent", from);
            let ok = u.len() == 1
                && u[0]["offset"] == *off as u64
                && u[0]["hex"] == format!("{ub:02x}")
                && u[0]["replaced"].is_null();
            if !ok {
                bad.push(format!(
                    "conn {conn} (client {client}, urgent {ub:#04x} at {off}): urgent from \
                     the {from}: {u:?}"
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{case}: {} problems, the first: {:#?}",
        bad.len(),
        &bad[..bad.len().min(8)]
    );
    let total = CLIENTS as u64 * one;
    let n = CLIENTS as u64;
    check_summary(case, &all, n, [total, total, n, n], b);
}

#[test]
fn hundred_clients_megabyte_each_with_urgent_byte() {
    in_named_threads([("epoll", "epoll"), ("poll", "poll")], hundred_clients_on);
}

// 3. Ten urgent bytes, each after the previous came back ------------------------------

fn ten_urgent_on(b: &str) {
    let case = format!("-b {b}, 10 urgent bytes one at a time through an echo server");
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = Relay::start(&case, &["-b", b, "--count", "1"], &target);
    let client = relay.connect();
    let srv = accept(&case, &server);
    check_accepted(&mut relay, 1, &client, &target);
    let case_ref = case.as_str();
    let echoer = thread::spawn({
        let case = case.clone();
        move || echo(&case, srv)
    });

    // Normal bytes before each urgent byte: the first urgent byte comes first of all.
    let gaps = [0usize, 3, 1, 10, 5, 100, 2, 7, 1, 50];
    let mut rng = XorShift::new(10);
    let mut sent = Vec::new();
    let mut want = Vec::new();
    let mut back = Vec::new();
    let mut t = Taken::default();
    let mut w = &client;
    for (i, gap) in gaps.iter().enumerate() {
        let chunk = rng.bytes(*gap);
        w.write_all(&chunk).expect("send");
        sent.extend_from_slice(&chunk);
        let ub = b'A' + i as u8;
        send_oob(&client, &[ub]);
        want.push((sent.len() as u64, ub));
        t.read_until(
            &format!("{case_ref}: urgent byte {i} coming back"),
            client.as_fd(),
            READ_LIMIT,
            &mut |p| {
                if let Piece::Data(d) = p {
                    back.extend_from_slice(d)
                }
            },
            &|t| t.urgent.len() > i,
        );
        assert_eq!(t.urgent, want, "{case}: urgent bytes back so far");
    }
    let tail = rng.bytes(20);
    w.write_all(&tail).expect("send");
    sent.extend_from_slice(&tail);
    client.shutdown(Shutdown::Write).expect("shutdown(Write)");
    t.read_to_eof(&case, client.as_fd(), &mut back);
    echoer.join().expect("echo server");
    assert!(
        back == sent,
        "{case}: echo: {}",
        first_difference(&back, &sent)
    );
    assert_eq!(
        t.urgent, want,
        "{case}: (offset where SIOCATMARK was 1, byte)"
    );
    drop(client);
    relay.wait_conn("close", 1);
    let (status, all, err) = relay.finish();
    assert_eq!(status.code(), Some(0), "{case}: --count 1: {err}");
    for from in ["client", "target"] {
        let u = from_side(&all, 1, "urgent", from);
        let got: Vec<(u64, String)> = u
            .iter()
            .map(|e| {
                (
                    e["offset"].as_u64().unwrap_or(u64::MAX),
                    e["byte"].as_str().unwrap_or("?").to_owned(),
                )
            })
            .collect();
        let expect: Vec<(u64, String)> = want
            .iter()
            .map(|&(o, b)| (o, char::from(b).to_string()))
            .collect();
        assert_eq!(got, expect, "{case}: urgent events from the {from}: {u:?}");
        assert!(
            u.iter().all(|e| e["replaced"].is_null()),
            "{case}: nothing replaced: {u:?}"
        );
    }
    let n = sent.len() as u64;
    assert_eq!(close_counts(&case, &all, 1), [n, n, 10, 10], "{case}");
    check_summary(&case, &all, 1, [n, n, 10, 10], b);
}

#[test]
fn ten_urgent_bytes_each_at_its_offset() {
    each_backend(&BACKENDS, ten_urgent_on);
}

// 4. Half-close passes on ---------------------------------------------------------------

const REPLY: usize = 100 * 1024;

fn half_close_on(b: &str) {
    let case = format!("-b {b}, client sends ping + SHUT_WR, target replies 100 KiB + close");
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = Relay::start(&case, &["-b", b, "--count", "1"], &target);
    let mut client = relay.connect();
    let mut srv = accept(&case, &server);
    check_accepted(&mut relay, 1, &client, &target);

    client.write_all(b"ping").expect("send ping");
    client.shutdown(Shutdown::Write).expect("shutdown(Write)");
    let mut got = Vec::new();
    srv.read_to_end(&mut got)
        .unwrap_or_else(|e| panic!("{case}: the target reading to EOF: {e} (got {got:?})"));
    assert_eq!(got, b"ping", "{case}: the target got, then EOF");
    let reply = XorShift::new(4).bytes(REPLY);
    srv.write_all(&reply).expect("the reply");
    drop(srv);
    let mut back = Vec::new();
    client.read_to_end(&mut back).unwrap_or_else(|e| {
        panic!(
            "{case}: the client reading to EOF: {e} ({} bytes)",
            back.len()
        )
    });
    assert!(
        back == reply,
        "{case}: the reply at the client: {}",
        first_difference(&back, &reply)
    );
    drop(client);
    relay.wait_conn("close", 1);
    let (status, all, err) = relay.finish();
    assert_eq!(status.code(), Some(0), "{case}: --count 1: {err}");
    let conn = of_conn(&all, 1);
    let pos = |name: &str, from: Option<&str>| {
        conn.iter()
            .position(|e| e["event"] == name && from.is_none_or(|f| e["from"] == f))
            .unwrap_or_else(|| panic!("{case}: no {name} {from:?}: {conn:?}"))
    };
    let (hc, ht, cl) = (
        pos("half-close", Some("client")),
        pos("half-close", Some("target")),
        pos("close", None),
    );
    assert!(
        hc < ht && ht < cl,
        "{case}: half-close from the client, then from the target, then close: {:?}",
        kinds(&conn)
    );
    assert_eq!(of_kind(&all, "half-close").len(), 2, "{case}: {all:?}");
    assert!(of_kind(&all, "reset").is_empty(), "{case}: {all:?}");
    assert!(of_kind(&all, "error").is_empty(), "{case}: {all:?}");
    let r = REPLY as u64;
    assert_eq!(close_counts(&case, &all, 1), [4, r, 0, 0], "{case}");
    check_summary(&case, &all, 1, [4, r, 0, 0], b);
}

#[test]
fn half_close_passes_on_every_backend() {
    each_backend(&BACKENDS, half_close_on);
}

/// A bulk upload through a target that reads slowly (4 KiB at a time): the relay's
/// buffer toward it fills and drains many times, and the client's end of file arrives
/// while data still waits. The target must still see every byte and then end of file
/// (a relay that read the EOF while draining once forgot to pass it on and hung here).
fn bulk_then_eof_on(b: &str) {
    const BULK: usize = 24 << 20;
    let case = format!("-b {b}, 24 MiB upload, SHUT_WR, a target reading 4 KiB at a time");
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = Relay::start(&case, &["-b", b, "--count", "1"], &target);
    let mut client = relay.connect();
    let mut srv = accept(&case, &server);
    srv.set_read_timeout(Some(READ_LIMIT))
        .expect("read timeout");
    let reader = std::thread::spawn(move || {
        let (mut n, mut buf) = (0usize, [0u8; 4096]);
        loop {
            match srv.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) => return Err(format!("after {n} bytes: {e}")),
            }
        }
        srv.write_all(&(n as u64).to_le_bytes())
            .map_err(|e| e.to_string())?;
        Ok(n)
    });
    let data = XorShift::new(24).bytes(BULK);
    client.write_all(&data).expect("the upload");
    client.shutdown(Shutdown::Write).expect("shutdown(Write)");
    let got = reader
        .join()
        .expect("target thread")
        .unwrap_or_else(|e| panic!("{case}: the target never saw end of file: {e}"));
    assert_eq!(got, BULK, "{case}: bytes at the target");
    let mut back = Vec::new();
    client
        .read_to_end(&mut back)
        .unwrap_or_else(|e| panic!("{case}: the client waiting for the count: {e}"));
    assert_eq!(back, (BULK as u64).to_le_bytes(), "{case}: the count");
    drop(client);
    relay.wait_conn("close", 1);
    let (status, all, err) = relay.finish();
    assert_eq!(status.code(), Some(0), "{case}: {err}");
    assert_eq!(
        close_counts(&case, &all, 1),
        [BULK as u64, 8, 0, 0],
        "{case}"
    );
}

#[test]
fn bulk_upload_then_eof_reaches_a_slow_target() {
    each_backend(&["poll", "epoll"], bulk_then_eof_on);
}

// 5. A reset passes on ------------------------------------------------------------------

fn reset_on(b: &str, by_target: bool) {
    let who = if by_target { "target" } else { "client" };
    let case = format!("-b {b}, the {who} resets (SO_LINGER 0 close)");
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = Relay::start(&case, &["-b", b, "--count", "1"], &target);
    let mut client = relay.connect();
    let mut srv = accept(&case, &server);
    check_accepted(&mut relay, 1, &client, &target);

    client.write_all(b"hello").expect("send hello");
    let mut got = [0u8; 5];
    srv.read_exact(&mut got).expect("the target reads hello");
    assert_eq!(&got, b"hello", "{case}");
    let (resetter, other) = if by_target {
        (srv, &mut client)
    } else {
        (client, &mut srv)
    };
    reset_close(resetter);
    let mut buf = [0u8; 16];
    let r = other.read(&mut buf);
    assert!(
        matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "{case}: the other side's next read: want ECONNRESET, got {r:?}"
    );
    let reset = relay.wait_conn("reset", 1);
    assert_eq!(reset["from"], who, "{case}: {reset}");
    relay.wait_conn("close", 1);
    let (status, all, err) = relay.finish();
    assert_eq!(status.code(), Some(0), "{case}: --count 1: {err}");
    assert_eq!(of_kind(&all, "reset").len(), 1, "{case}: {all:?}");
    assert_eq!(close_counts(&case, &all, 1), [5, 0, 0, 0], "{case}");
}

#[test]
fn reset_passes_on_every_backend() {
    let mut cases = Vec::new();
    for b in BACKENDS {
        cases.push((format!("{b}, target resets"), (b, true)));
        cases.push((format!("{b}, client resets"), (b, false)));
    }
    in_named_threads(cases.iter().map(|(n, c)| (n.as_str(), *c)), |(b, t)| {
        reset_on(b, t)
    });
}

// 6. Backpressure: a slow receiver, bounded memory ---------------------------------------

#[test]
fn slow_target_pushes_back_with_bounded_memory() {
    const PUSH: usize = 64 << 20;
    const PUSH_FOR: Duration = Duration::from_secs(2);
    const RSS_LIMIT_KIB: u64 = 16 * 1024;
    let case = "-b epoll (default), 64 MiB pushed at a target reading 1 KiB per 10 ms";
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = Relay::start(case, &["--count", "1", "--interval", "200ms"], &target);
    let pid = relay.child.id();
    let client = relay.connect();
    let srv = accept(case, &server);
    check_accepted(&mut relay, 1, &client, &target);
    // Byte i of the stream is i % 251: the slow reader checks what it gets.
    let pattern: Vec<u8> = (0..65536 + 251).map(|i| (i % 251) as u8).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let slow = thread::spawn({
        let stop = Arc::clone(&stop);
        move || {
            let mut srv = srv;
            let mut buf = [0u8; 1024];
            let mut total = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let n = srv.read(&mut buf).expect("slow read");
                assert!(n > 0, "{case}: EOF at the target after {total} bytes");
                for (i, &x) in buf[..n].iter().enumerate() {
                    assert_eq!(
                        x,
                        ((total + i) % 251) as u8,
                        "{case}: byte {} at the target",
                        total + i
                    );
                }
                total += n;
                thread::sleep(Duration::from_millis(10));
            }
            // Unread bytes queued: this close resets the relay's target side.
            drop(srv);
            total
        }
    });

    client.set_nonblocking(true).expect("non-blocking");
    let mut w = &client;
    let (mut written, mut max_rss, mut samples) = (0usize, 0u64, 0u32);
    let start = Instant::now();
    while written < PUSH && start.elapsed() < PUSH_FOR {
        max_rss = max_rss.max(status_kib(pid, "VmRSS"));
        samples += 1;
        let at = written % 251;
        let len = (PUSH - written).min(65536);
        match w.write(&pattern[at..at + len]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                // Blocked by the relay: wait for room, sampling every 20 ms.
                let mut p = libc::pollfd {
                    fd: client.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd; the socket stays open for the call.
                unsafe { libc::poll(&mut p, 1, 20) };
            }
            Err(e) => panic!("{case}: client write after {written} bytes: {e}"),
        }
    }
    let pushed_for = start.elapsed();
    max_rss = max_rss.max(status_kib(pid, "VmRSS"));
    let hwm = status_kib(pid, "VmHWM");
    stop.store(true, Ordering::Relaxed);
    let read = slow.join().expect("slow reader");
    drop(client);
    println!(
        "{case}: client wrote {written} bytes in {pushed_for:?}, the target read {read}; \
         relay VmRSS max {max_rss} KiB over {samples} samples, VmHWM {hwm} KiB"
    );
    relay.wait_conn("close", 1);
    let (status, all, err) = relay.finish();
    assert!(
        max_rss < RSS_LIMIT_KIB && hwm < RSS_LIMIT_KIB,
        "{case}: relay memory: VmRSS max {max_rss} KiB, VmHWM {hwm} KiB (limit {RSS_LIMIT_KIB} KiB) \
         after the client wrote {written} bytes"
    );
    assert!(
        written < PUSH,
        "{case}: the client pushed all {PUSH} bytes in {pushed_for:?} while the target read \
         {read}: no backpressure (bytes dropped or buffered somewhere)"
    );
    assert!(
        read >= 10 * 1024,
        "{case}: the target got only {read} bytes"
    );
    assert_eq!(status.code(), Some(0), "{case}: --count 1: {err}");
    // A slow direction read in small pieces: its data events coalesced.
    let n = coalesced(&all, 1, "client", None, 0.2)
        .unwrap_or_else(|e| panic!("{case}: data from the client: {e}"));
    println!("{case}: {n} data events from the client");
    let [c2t, t2c, _, _] = close_counts(case, &all, 1);
    assert!(
        c2t >= read as u64 && c2t <= written as u64 && t2c == 0,
        "{case}: close counts {c2t}/{t2c}; written {written}, read {read}"
    );
}

// 7. A refusing TARGET, then a listening one ----------------------------------------------

/// The test's end of a target connection, TCP or AF_UNIX.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn refused_then_served(unix: bool) {
    let kind = if unix { "unix" } else { "tcp" };
    let case = format!("{kind} TARGET refusing, then listening");
    let dir = TempDir::new();
    let (sock, target) = if unix {
        let path = dir.path("target.sock");
        let fd = closed_unix(&path);
        (fd, format!("unix:{}", path.display()))
    } else {
        let (fd, port) = closed_port();
        (fd, format!("tcp:127.0.0.1:{port}"))
    };
    let mut relay = Relay::start(&case, &["--count", "2"], &target);

    let mut c1 = relay.connect();
    let acc = relay.wait_conn("accept", 1);
    assert_eq!(
        acc["peer"],
        c1.local_addr().expect("addr").to_string(),
        "{case}: {acc}"
    );
    let con = relay.wait_conn("connect", 1);
    assert_eq!(con["result"], "ECONNREFUSED", "{case}: {con}");
    assert_eq!(con["target"], target, "{case}: {con}");
    let mut buf = [0u8; 16];
    let r = c1.read(&mut buf);
    assert!(
        matches!(&r, Ok(0)) || matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "{case}: the refused client's read: want EOF or ECONNRESET, got {r:?}"
    );
    relay.wait_conn("close", 1);
    drop(c1);

    start_listening(&sock);
    let mut c2 = relay.connect();
    let mut srv: Box<dyn Stream> = if unix {
        let l = UnixListener::from(sock);
        poll_ready(
            &case,
            l.as_fd(),
            libc::POLLIN,
            Instant::now() + READ_LIMIT,
            &|| "waiting for the relay to connect to the target".to_owned(),
        );
        let (s, _): (UnixStream, _) = l.accept().expect("accept");
        s.set_read_timeout(Some(READ_LIMIT)).expect("timeout");
        Box::new(s)
    } else {
        let l = TcpListener::from(sock);
        Box::new(accept(&case, &l))
    };
    check_accepted(&mut relay, 2, &c2, &target);
    c2.write_all(b"ping").expect("send ping");
    let mut got = [0u8; 4];
    srv.read_exact(&mut got).expect("the target reads");
    assert_eq!(&got, b"ping", "{case}");
    srv.write_all(b"pong").expect("send pong");
    c2.read_exact(&mut got).expect("the client reads");
    assert_eq!(&got, b"pong", "{case}");
    drop(c2);
    drop(srv);
    relay.wait_conn("close", 2);
    let (status, all, err) = relay.finish();
    assert_eq!(status.code(), Some(0), "{case}: --count 2: {err}");
    assert_eq!(close_counts(&case, &all, 1), [0, 0, 0, 0], "{case}");
    assert_eq!(close_counts(&case, &all, 2), [4, 4, 0, 0], "{case}");
    check_summary(&case, &all, 2, [4, 4, 0, 0], "epoll");
}

#[test]
fn refused_target_then_served() {
    in_named_threads([("tcp", false), ("unix", true)], refused_then_served);
}

// 8. Usage errors ------------------------------------------------------------------------

#[test]
fn bad_listen_and_target_are_one_line_usage_errors() {
    let dir = TempDir::new();
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let held_addr = held.local_addr().expect("addr").to_string();
    let in_use = format!("tcp-listen:{held_addr}");
    let ok_target = "tcp:127.0.0.1:1";
    // A row: the case, LISTEN, TARGET, and what stderr must mention (one of them).
    struct Row {
        case: &'static str,
        listen: String,
        target: String,
        any_of: Vec<String>,
    }
    let bad_listen = |case, listen: String| Row {
        case,
        any_of: vec![listen.clone()],
        listen,
        target: ok_target.to_owned(),
    };
    let bad_target = |case, target: &str| Row {
        case,
        listen: format!(
            "unix-listen:{}",
            dir.path(&format!("{case}.sock")).display()
        ),
        target: target.to_owned(),
        any_of: vec![target.to_owned()],
    };
    let rows = vec![
        bad_listen("LISTEN without a port", "tcp-listen:".into()),
        bad_listen(
            "LISTEN port not a number",
            "tcp-listen:127.0.0.1:notaport".into(),
        ),
        bad_listen(
            "LISTEN port out of range",
            "tcp-listen:127.0.0.1:70000".into(),
        ),
        bad_listen("LISTEN unknown kind", "bogus:1234".into()),
        bad_listen("LISTEN unix-listen without a path", "unix-listen:".into()),
        bad_listen("LISTEN a tcp: connector", "tcp:127.0.0.1:9".into()),
        bad_listen(
            "LISTEN a unix: connector",
            format!("unix:{}", dir.path("c.sock").display()),
        ),
        bad_listen(
            "LISTEN a plain path",
            dir.path("plain").display().to_string(),
        ),
        Row {
            case: "LISTEN port in use",
            listen: in_use,
            target: ok_target.to_owned(),
            any_of: vec![held_addr.clone(), "in use".into()],
        },
        bad_target("TARGET a listener", "tcp-listen:127.0.0.1:1234"),
        bad_target("TARGET udp:", "udp:127.0.0.1:53"),
        bad_target("TARGET without a kind", "127.0.0.1:80"),
        bad_target("TARGET a plain path", "/tmp/fdwatch-no-such.sock"),
        bad_target("TARGET tcp: without a port", "tcp:127.0.0.1"),
    ];
    let mut problems = Vec::new();
    for Row {
        case,
        listen,
        target,
        any_of,
    } in rows
    {
        let argv = [
            "relay",
            "--format",
            "json",
            "--idle",
            "2s",
            listen.as_str(),
            target.as_str(),
        ];
        let out = run(case, Fdwatch::new(argv));
        let err = stderr(&out);
        let mut bad = Vec::new();
        if out.status.code() != Some(2) {
            bad.push(format!("exit status {}, want 2", out.status));
        }
        if err.matches('\n').count() != 1 || !err.ends_with('\n') {
            bad.push("stderr must be exactly one line".to_owned());
        }
        if !err.starts_with("fdwatch: ") {
            bad.push("stderr must start with 'fdwatch: '".to_owned());
        }
        if !any_of.iter().any(|n| err.contains(n.as_str())) {
            bad.push(format!("stderr should mention {any_of:?}"));
        }
        if err.contains("panicked") {
            bad.push("a panic".to_owned());
        }
        if !out.stdout.is_empty() {
            bad.push(format!(
                "stdout not empty: {:?}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        if !bad.is_empty() {
            problems.push(format!(
                "{case}: fdwatch {}: {}; stderr {err:?}",
                argv.join(" "),
                bad.join("; ")
            ));
        }
    }
    drop(held);
    assert!(
        problems.is_empty(),
        "{} rows wrong:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

// 9. --count and --idle end the run ---------------------------------------------------------

#[test]
fn count_two_ends_after_both_connections_close() {
    let case = "--count 2, two clients open at once";
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = Relay::start(case, &["--count", "2"], &target);
    let mut a = relay.connect();
    let sa = accept(case, &server);
    check_accepted(&mut relay, 1, &a, &target);
    let mut b = relay.connect();
    let sb = accept(case, &server);
    check_accepted(&mut relay, 2, &b, &target);
    let echoes = [sa, sb].map(|s| {
        thread::spawn(move || {
            let mut r = s.try_clone().expect("clone");
            let mut w = s;
            std::io::copy(&mut r, &mut w).expect("echo");
        })
    });

    let mut got = [0u8; 3];
    a.write_all(b"one").expect("send");
    a.read_exact(&mut got).expect("echo to a");
    assert_eq!(&got, b"one", "{case}");
    drop(a);
    relay.wait_conn("close", 1);
    // One of two closed: the relay still serves the other.
    b.write_all(b"two").expect("send");
    b.read_exact(&mut got).expect("echo to b");
    assert_eq!(&got, b"two", "{case}");
    drop(b);
    relay.wait_conn("close", 2);
    let (status, all, err) = relay.finish();
    for e in echoes {
        e.join().expect("echo");
    }
    assert_eq!(status.code(), Some(0), "{case}: {err}; {all:?}");
    assert_eq!(of_kind(&all, "accept").len(), 2, "{case}: {all:?}");
    assert_eq!(close_counts(case, &all, 1), [3, 3, 0, 0], "{case}");
    assert_eq!(close_counts(case, &all, 2), [3, 3, 0, 0], "{case}");
    check_summary(case, &all, 2, [6, 6, 0, 0], "epoll");
}

#[test]
fn idle_ends_a_run_without_clients() {
    let case = "--idle 300ms, no client";
    let dir = TempDir::new();
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let listen = format!("unix-listen:{}", dir.path("l.sock").display());
    let started = Instant::now();
    let out = run(
        case,
        Fdwatch::new([
            "relay",
            "-b",
            "poll",
            "--format",
            "json",
            "--idle",
            "300ms",
            listen.as_str(),
            target.as_str(),
        ]),
    );
    let took = started.elapsed();
    assert_eq!(exit_code(case, &out), 0, "{case}: {}", stderr(&out));
    let all = events(&out.stdout);
    check_fields(case, &all);
    let k: Vec<&str> = all
        .iter()
        .map(|e| e["event"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(k, ["listen", "timeout", "summary"], "{case}: {all:?}");
    check_summary(case, &all, 0, [0, 0, 0, 0], "poll");
    let t = num(case, &all[1], "t");
    assert!(
        (0.3..5.0).contains(&t),
        "{case}: the timeout after 300 ms: {}",
        all[1]
    );
    assert!(
        took >= Duration::from_millis(300),
        "{case}: ended after {took:?}"
    );
    assert!(stderr(&out).is_empty(), "{case}: {}", stderr(&out));
}

// 10. SIGTERM / SIGINT with an open connection -------------------------------------------

fn signal_with_open_connection(sig: nix::sys::signal::Signal) {
    let case = format!("{sig} with one open connection");
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = Relay::start(&case, &[], &target);
    let mut client = relay.connect();
    let mut srv = accept(&case, &server);
    check_accepted(&mut relay, 1, &client, &target);
    client.write_all(b"ping").expect("send");
    let mut got = [0u8; 4];
    srv.read_exact(&mut got).expect("the target reads");
    srv.write_all(b"pong!").expect("send");
    let mut back = [0u8; 5];
    client.read_exact(&mut back).expect("the client reads");
    assert_eq!((&got, &back), (b"ping", b"pong!"), "{case}");

    relay.signal(sig);
    let (status, all, err) = relay.finish();
    assert_eq!(
        status.signal(),
        Some(sig as i32),
        "{case}: want death by {sig}, got {status}; {err}; last events {:?}",
        &all[all.len().saturating_sub(4)..]
    );
    let pos = |name: &str| {
        all.iter()
            .position(|e| e["event"] == name)
            .unwrap_or_else(|| panic!("{case}: no {name} event: {all:?}"))
    };
    let (s, c) = (pos("signal"), pos("close"));
    assert!(s < c, "{case}: the signal event, then the close: {all:?}");
    assert_eq!(of_kind(&all, "signal").len(), 1, "{case}: {all:?}");
    assert_eq!(of_kind(&all, "close").len(), 1, "{case}: {all:?}");
    assert_eq!(close_counts(&case, &all, 1), [4, 5, 0, 0], "{case}");
    check_summary(&case, &all, 1, [4, 5, 0, 0], "epoll");
    // The relay is gone: the client's connection ends.
    let r = client.read(&mut back);
    assert!(
        matches!(&r, Ok(0)) || matches!(&r, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "{case}: the client after the relay died: {r:?}"
    );
}

#[test]
fn sigterm_and_sigint_close_connections_then_kill() {
    use nix::sys::signal::Signal;
    in_named_threads(
        [("SIGTERM", Signal::SIGTERM), ("SIGINT", Signal::SIGINT)],
        signal_with_open_connection,
    );
}

/// Zero-copy forwarding: when the bytes are not shown, a bulk transfer goes through
/// splice(2) (socket → pipe → socket), and its urgent byte still keeps its offset both
/// ways; with --read=text (the bytes are shown) or FDWATCH_RELAY_SPLICE=off it is read
/// and written. Counted with strace: the stream looks the same either way.
#[test]
fn bulk_transfer_is_spliced_unless_the_bytes_are_shown() {
    if !have("strace", "counting splice(2) calls") {
        return;
    }
    const BYTES: usize = 1 << 20;
    const OFF: usize = 600 << 10;
    let cases: [(&str, &[&str], bool, bool); 3] = [
        ("--read=count", &["--read=count"], false, true),
        ("--read=text", &["--read=text"], false, false),
        ("FDWATCH_RELAY_SPLICE=off", &[], true, false),
    ];
    for (name, extra, off, spliced) in cases {
        let case = format!("relay {name}, {BYTES} bytes + urgent byte at {OFF}");
        let dir = TempDir::new();
        let trace = dir.path("strace.txt");
        let server = TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = format!("tcp:{}", server.local_addr().expect("addr"));
        let mut opts = vec!["-b", "epoll", "--count", "1"];
        opts.extend_from_slice(extra);
        let trace_arg = trace.display().to_string();
        let relay = Relay::start_with(&case, &opts, &target, &|f| {
            let f = f.under(
                "strace",
                ["-f", "-qq", "-e", "trace=splice", "-o", trace_arg.as_str()],
            );
            // Set either way: CI also runs this file with FDWATCH_RELAY_SPLICE=off.
            f.env("FDWATCH_RELAY_SPLICE", if off { "off" } else { "on" })
        });
        let data = XorShift::new(0xb01d).bytes(BYTES);
        let Relay {
            child,
            dog,
            evs,
            addr,
            ..
        } = relay;
        thread::scope(|s| {
            // The events (a megabyte of text with --read=text) are read as they come:
            // a relay blocked on its stdout would stall the transfer.
            let drain = s.spawn(move || evs.all());
            let c = &case;
            let srv = &server;
            let echo_side = s.spawn(move || echo(c, accept(c, srv)));
            hundred_client(&case, addr, &data, OFF, b'!');
            echo_side.join().expect("echo server");
            drain.join().expect("events");
        });
        let out = child.wait_with_output().expect("wait fdwatch");
        drop(dog);
        assert!(
            out.status.success(),
            "{case}: {}: {}",
            out.status,
            stderr(&out)
        );
        let text = std::fs::read_to_string(&trace).expect("the strace output");
        let splices = text
            .lines()
            .filter(|l| l.contains("splice(") && !l.contains("= -1"))
            .count();
        assert_eq!(
            splices > 0,
            spliced,
            "{case}: {splices} successful splice calls; expected {}",
            if spliced { "some" } else { "none" }
        );
    }
}

/// An open connection with nothing in flight holds no buffer: 400 connections, each
/// with one byte echoed and then idle, cost the relay a few MiB, not 400 × 2 × 64 KiB
/// (what it held when each direction kept its first buffer for the connection's life).
#[test]
fn idle_open_connections_hold_no_buffers() {
    const CONNS: u64 = 400;
    const RSS_LIMIT_KIB: u64 = 16 * 1024;
    let case = format!("{CONNS} open connections, one byte echoed on each");
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = Relay::start(&case, &["-b", "epoll"], &target);
    let pid = relay.child.id();
    let mut held = Vec::new();
    for conn in 1..=CONNS {
        let mut client = relay.connect();
        let mut srv = accept(&case, &server);
        relay.wait_conn("connect", conn);
        client.write_all(b"x").expect("client send");
        let mut one = [0u8; 1];
        srv.read_exact(&mut one).expect("the byte at the target");
        srv.write_all(b"y").expect("target send");
        client
            .read_exact(&mut one)
            .expect("the byte back at the client");
        assert_eq!(&one, b"y", "{case}: conn {conn}");
        held.push((client, srv));
    }
    let rss = status_kib(pid, "VmRSS");
    assert!(
        rss < RSS_LIMIT_KIB,
        "{case}: the relay's RSS is {rss} KiB (limit {RSS_LIMIT_KIB} KiB): idle connections \
         keep their buffers"
    );
    drop(held);
    relay.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, _, err) = relay.finish();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{case}: {err}");
}

/// A client that resets while the relay's connect to TARGET is still pending (a target
/// whose accept queue is full drops the SYN, so the connect hangs) ends its connection
/// at once: its error and hang-up come on every wait, and left alone they made the
/// relay spin at 100 % CPU with SIGTERM unheard (the wait returned events every time,
/// so the signal was never let in).
#[test]
fn client_reset_during_a_pending_connect_ends_the_connection() {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, SockaddrIn};
    let case = "client reset while the target connect hangs";
    let (target, port) = closed_port();
    socket::listen(&target, socket::Backlog::new(0).expect("backlog")).expect("listen");
    // Fill the accept queue: later SYNs to it are dropped, their connects hang.
    let fill: Vec<OwnedFd> = (0..3)
        .map(|_| {
            let s = socket::socket(
                AddressFamily::Inet,
                SockType::Stream,
                SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
                None,
            )
            .expect("socket");
            let _ = socket::connect(s.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, port));
            s
        })
        .collect();
    let mut relay = Relay::start(case, &["-b", "epoll"], &format!("tcp:127.0.0.1:{port}"));
    let client = relay.connect();
    relay.wait_conn("accept", 1);
    reset_close(client);
    let reset = relay.wait_conn("reset", 1);
    assert_eq!(reset["from"], "client", "{case}: {reset}");
    relay.wait_conn("close", 1);
    relay.signal(nix::sys::signal::Signal::SIGTERM);
    let (status, evs, err) = relay.finish();
    assert_eq!(
        status.signal(),
        Some(libc::SIGTERM),
        "{case}: {err}; {evs:?}"
    );
    drop(fill);
}
