//! Urgent data against a reference: random sequences of normal data and urgent bytes
//! (seeded; the seed is printed, and FDWATCH_SEED replays one), urgent bytes back to back
//! among them, each urgent byte followed by a pause. A careful receiver written here
//! (poll, SIOCATMARK, recv(MSG_OOB) before any read at the mark) establishes what the
//! kernel delivers for each sequence; fdwatch's JSON must say exactly that in every read
//! mode on every backend, and the relay's target must receive exactly that stream.
//!
//! Synchronization: after each urgent byte the sender pauses, then waits (with a deadline)
//! until the receiver under test has reported that byte (fdwatch's urgent event, or the
//! reference receiver behind the relay) and is back in its wait: a byte whose pointer
//! arrives while a reader is between its recv(MSG_OOB) at the mark and the read past it
//! is destroyed by that read, whoever reads (the one race no user-space reader can
//! close, see src/urgent.rs), and on a loaded machine a pause alone does not keep the
//! next byte out of that window. A byte that is lost is a missing event, which fails
//! with the seed and everything seen so far. The client stays connected until every
//! urgent byte was seen, so nothing is reported only because the stream ended.

use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::process::Child;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{self, MsgFlags};
use serde_json::Value;

/// The pause after each urgent byte.
const PAUSE: Duration = Duration::from_millis(60);
/// How long a due event may take before the case fails as lost.
const DEADLINE: Duration = Duration::from_secs(3);
/// Normal data sent before the sequence in the relay's splice cases: past the relay's
/// 256 KiB copy phase, so the urgent bytes meet splice(2).
const BULK: usize = 300 << 10;

#[derive(Clone, Debug)]
enum Item {
    Data(Vec<u8>),
    Urgent(u8),
}

/// A random sequence: 2 to 6 urgent bytes, at least one pair back to back, normal data
/// (1 to 24 bytes of [a-z0-9]) before, between and after some of them.
fn sequence(rng: &mut XorShift) -> Vec<Item> {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let urgents = 2 + rng.below(5);
    let pair = rng.below(urgents - 1);
    let mut seq = Vec::new();
    for i in 0..urgents {
        // No data between the pair's two bytes; elsewhere data half of the time.
        if (i == 0 || i != pair + 1) && rng.below(2) == 0 {
            let len = 1 + rng.below(24) as usize;
            let d = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            seq.push(Item::Data(d));
        }
        // Urgent bytes from a few letters, repeats allowed; the pair's second byte is
        // its first one again half of the time (`AA`: the same byte at the same place).
        let byte = match seq.last() {
            Some(Item::Urgent(prev)) if i == pair + 1 && rng.below(2) == 0 => *prev,
            _ => b'A' + rng.below(6) as u8,
        };
        seq.push(Item::Urgent(byte));
    }
    if rng.below(2) == 0 {
        seq.push(Item::Data(b"tail".to_vec()));
    }
    seq
}

/// What a receiver got: the normal bytes in order, and each urgent byte with the number
/// of normal bytes before its mark.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Delivered {
    data: Vec<u8>,
    urgent: Vec<(u8, u64)>,
}

/// Sends `seq` on `c`, the urgent bytes with MSG_OOB; after each one, the pause, then
/// `seen(k, byte)` must confirm that the k-th urgent byte (from 0) reached the receiver.
fn send_sequence(c: &TcpStream, seq: &[Item], mut seen: impl FnMut(usize, u8)) {
    let mut k = 0;
    for item in seq {
        match item {
            Item::Data(d) => (&*c).write_all(d).expect("send data"),
            Item::Urgent(b) => {
                send_oob(c, &[*b]);
                thread::sleep(PAUSE);
                seen(k, *b);
                k += 1;
            }
        }
    }
}

// The reference receiver -----------------------------------------------------------------

/// What the careful receiver tells as it goes.
enum Told {
    Urgent(u8),
    /// About to wait in poll: everything before was read.
    Waiting,
}

/// The careful receiver: waits with poll for IN or PRI; at the mark it asks
/// recv(MSG_OOB) before any normal read (a read there would destroy the byte); reads
/// never cross a mark, and away from it they are bounded by FIONREAD measured before
/// SIOCATMARK (a byte whose pointer arrives between the two lies beyond that bound; an
/// unbounded read could start at its mark and destroy it). Each urgent byte is also sent
/// on `tell` as it comes, and each return to its wait. Ends at the end of the stream.
fn careful_receiver(s: TcpStream, tell: Sender<Told>) -> Delivered {
    let mut got = Delivered::default();
    let mut buf = vec![0u8; 64 << 10];
    let fd = s.as_raw_fd();
    loop {
        let _ = tell.send(Told::Waiting);
        let mut pfd = [PollFd::new(
            s.as_fd(),
            PollFlags::POLLIN | PollFlags::POLLPRI,
        )];
        match poll(&mut pfd, PollTimeout::from(10_000u16)) {
            Ok(0) => panic!("reference receiver: nothing for 10 s; so far {got:?}"),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => panic!("reference receiver: poll: {e}"),
        }
        loop {
            let queued = fionread(&s) as usize;
            let len = if at_mark(&s) {
                let mut b = [0u8; 1];
                let flags = MsgFlags::MSG_OOB | MsgFlags::MSG_DONTWAIT;
                match socket::recv(fd, &mut b, flags) {
                    Ok(1) => {
                        got.urgent.push((b[0], got.data.len() as u64));
                        let _ = tell.send(Told::Urgent(b[0]));
                        continue;
                    }
                    // Announced, not here yet: reading now would skip it.
                    Err(Errno::EAGAIN) => break,
                    // Taken already (or none): a read passes the mark (FIONREAD says 0
                    // at a mark, whatever follows it).
                    Ok(_) | Err(Errno::EINVAL) => buf.len(),
                    Err(e) => panic!("reference receiver: recv(MSG_OOB): {e}"),
                }
            } else if queued > 0 {
                queued.min(buf.len())
            } else {
                // Nothing queued: the end of the stream, or nothing yet (a peek tells
                // without reading at a mark that may have come meanwhile).
                let mut one = [0u8; 1];
                let peek = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
                match socket::recv(fd, &mut one, peek) {
                    Ok(0) => return got,
                    Ok(_) => continue,
                    Err(Errno::EAGAIN) => break,
                    Err(e) => panic!("reference receiver: recv(MSG_PEEK): {e}"),
                }
            };
            match socket::recv(fd, &mut buf[..len], MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return got,
                Ok(n) => got.data.extend_from_slice(&buf[..n]),
                Err(Errno::EAGAIN) => break,
                Err(e) => panic!("reference receiver: recv: {e}"),
            }
        }
    }
}

/// A listener whose one connection the careful receiver serves in a thread.
struct Reference {
    port: u16,
    urgent: Receiver<Told>,
    done: thread::JoinHandle<Delivered>,
}

fn reference_listener() -> Reference {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind the reference");
    let port = l.local_addr().expect("address").port();
    let (tx, rx) = mpsc::channel();
    let done = thread::spawn(move || {
        let (s, _) = l.accept().expect("reference accept");
        careful_receiver(s, tx)
    });
    Reference {
        port,
        urgent: rx,
        done,
    }
}

impl Reference {
    /// Waits for the k-th urgent byte at the reference receiver, and for the receiver
    /// back in its wait.
    fn wait(&self, case: &str, k: usize, byte: u8) {
        let end = Instant::now() + DEADLINE;
        let mut got = false;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.urgent.recv_timeout(left) {
                Ok(Told::Urgent(b)) => {
                    assert_eq!(b, byte, "{case}: urgent byte {k} at the receiver");
                    got = true;
                }
                Ok(Told::Waiting) if got => return,
                Ok(Told::Waiting) => {}
                Err(_) => panic!(
                    "{case}: urgent byte {k} ({byte:#04x}) never reached the receiver \
                     (or it never waited again)"
                ),
            }
        }
    }
}

/// What the kernel delivers for `seq` (and `bulk` normal bytes first) to the careful
/// receiver, over a direct loopback connection.
fn delivered_directly(case: &str, seq: &[Item], bulk: usize) -> Delivered {
    let r = reference_listener();
    let c = TcpStream::connect(("127.0.0.1", r.port)).expect("connect the reference");
    (&c).write_all(&vec![b'.'; bulk]).expect("bulk");
    send_sequence(&c, seq, |k, b| r.wait(case, k, b));
    drop(c);
    r.done.join().expect("reference receiver")
}

// fdwatch's events, with a deadline -----------------------------------------------------

fn hex_byte(v: &Value) -> Option<u8> {
    u8::from_str_radix(v.as_str()?, 16).ok()
}

/// The bytes of --read=hex rows (`00000000  68 65 ...  |he...|`).
fn hex_rows(rows: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows.as_array().into_iter().flatten() {
        let row = row.as_str().unwrap_or("");
        let body = row.split('|').next().unwrap_or("");
        out.extend(body.split_whitespace().skip(1).filter_map(|h| {
            (h.len() == 2)
                .then(|| u8::from_str_radix(h, 16).ok())
                .flatten()
        }));
    }
    out
}

// The modes ------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Text,
    Hex,
    Count,
    Tee,
    Peek,
    Plain,
    Inline,
}

const MODES: [(&str, Mode); 7] = [
    ("text", Mode::Text),
    ("hex", Mode::Hex),
    ("count", Mode::Count),
    ("tee", Mode::Tee),
    ("peek", Mode::Peek),
    ("plain", Mode::Plain),
    ("oobinline", Mode::Inline),
];

impl Mode {
    fn opts(self) -> &'static [&'static str] {
        match self {
            Mode::Text => &["--read=text"],
            Mode::Hex => &["--read=hex"],
            Mode::Count => &["--read=count"],
            Mode::Tee => &["--tee"],
            Mode::Peek => &["--peek"],
            Mode::Plain => &[],
            Mode::Inline => &["--read=text", "--oobinline"],
        }
    }

    fn consuming(self) -> bool {
        !matches!(self, Mode::Peek | Mode::Plain)
    }
}

/// Where each urgent byte's mark is when nothing is consumed: the kernel keeps every
/// byte queued, an older urgent byte becomes normal data when a newer pointer comes,
/// except at the read position, where it is dropped (tcp_check_urg).
fn unconsumed_offsets(seq: &[Item]) -> Vec<u64> {
    let mut queue = 0u64;
    let mut mark: Option<u64> = None;
    let mut out = Vec::new();
    for item in seq {
        match item {
            Item::Data(d) => queue += d.len() as u64,
            Item::Urgent(_) => {
                if mark == Some(0) {
                    queue -= 1;
                }
                mark = Some(queue);
                out.push(queue);
                queue += 1;
            }
        }
    }
    out
}

/// Seeds: FDWATCH_SEED replays one; otherwise from the clock, printed.
fn base_seed() -> u64 {
    let seed = std::env::var("FDWATCH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("urgent_model: base seed {seed} (FDWATCH_SEED={seed} replays this run)");
    seed
}

fn case_seed(base: u64, backend: &str, tag: &str) -> u64 {
    let mut h = base;
    for b in backend.bytes().chain(tag.bytes()) {
        h = h.wrapping_mul(0x100_0000_01b3).wrapping_add(b as u64);
    }
    h
}

// Watch mode -----------------------------------------------------------------------------

fn watch_case(backend: &str, mode: Mode, seed: u64) {
    let seq = sequence(&mut XorShift::new(seed));
    watch_sequence(backend, mode, &format!("seed {seed}"), &seq);
}

fn watch_sequence(backend: &str, mode: Mode, label: &str, seq: &[Item]) {
    let case = format!("-b {backend} {:?}, {label}, {seq:?}", mode.opts());
    let want = delivered_directly(&case, seq, 0);
    assert_eq!(
        want.urgent.iter().map(|u| u.0).collect::<Vec<_>>(),
        seq.iter()
            .filter_map(|i| match i {
                Item::Urgent(b) => Some(*b),
                Item::Data(_) => None,
            })
            .collect::<Vec<_>>(),
        "{case}: the reference receiver got every urgent byte"
    );

    let (mut child, _dog, port) = listen_tcp(&case, |spec| {
        let mut args: Vec<&str> = vec!["-m", "-b", backend, "--format", "json"];
        args.extend(mode.opts());
        args.extend(["30", spec]);
        Fdwatch::new(args)
    });
    // --tee: the data on stdout, the events on stderr.
    let (mut lines, tee_out) = if mode == Mode::Tee {
        let out = child.stdout.take().expect("stdout");
        let collected = thread::spawn(move || {
            let mut v = Vec::new();
            let _ = BufReader::new(out).read_to_end(&mut v);
            v
        });
        let err = child.stderr.take().expect("stderr");
        (TimedEvents::new(&case, err), Some(collected))
    } else {
        let out = child.stdout.take().expect("stdout");
        (TimedEvents::new(&case, out), None)
    };
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect fdwatch");
    lines.until("the accept event", DEADLINE, is("accept"));
    let pid = child.id();
    send_sequence(&c, seq, |k, b| {
        lines.until(&format!("urgent byte {k} ({b:#04x})"), DEADLINE, |e| {
            e["event"] == "urgent"
        });
        // Back in its wait: done reading at that mark.
        blocked(pid, &case);
    });
    let total = want.data.len()
        + if mode == Mode::Inline {
            seq_urgents(seq)
        } else {
            0
        };
    if mode.consuming() {
        // Every normal byte is read before the run ends (the client is still there).
        let data_in = |evs: &[Value]| -> u64 {
            evs.iter()
                .filter(|e| e["event"] == "data")
                .filter_map(|e| e["bytes"].as_u64())
                .sum()
        };
        let before = data_in(lines.seen());
        let read = std::cell::Cell::new(before);
        if before < total as u64 {
            lines.until("all the normal data", DEADLINE, |e| {
                read.set(read.get() + data_in(std::slice::from_ref(e)));
                read.get() >= total as u64
            });
        }
    }
    sigterm(&child);
    lines.rest(WATCHDOG + DEADLINE);
    let _ = child.wait();
    drop(c);
    let tee = tee_out.map(|h| h.join().expect("tee reader"));
    check_watch(&case, mode, seq, &want, &lines, tee);
}

fn seq_urgents(seq: &[Item]) -> usize {
    seq.iter().filter(|i| matches!(i, Item::Urgent(_))).count()
}

fn check_watch(
    case: &str,
    mode: Mode,
    seq: &[Item],
    want: &Delivered,
    lines: &TimedEvents,
    tee: Option<Vec<u8>>,
) {
    let urgent: Vec<&Value> = lines
        .seen()
        .iter()
        .filter(|e| e["event"] == "urgent")
        .collect();
    let offsets: Vec<u64> = urgent.iter().filter_map(|u| u["offset"].as_u64()).collect();
    assert_eq!(
        urgent.len(),
        want.urgent.len(),
        "{case}: one urgent event per urgent byte: {:#?}",
        lines.seen()
    );
    match mode {
        Mode::Inline => {
            // SO_OOBINLINE: each mark is reported where its byte sits in the stream.
            let want_at: Vec<u64> = want
                .urgent
                .iter()
                .enumerate()
                .map(|(i, u)| u.1 + i as u64)
                .collect();
            assert_eq!(offsets, want_at, "{case}: inline marks: {urgent:#?}");
            assert!(urgent.iter().all(|u| u["inline"] == true), "{case}");
        }
        Mode::Peek | Mode::Plain => {
            let bytes: Vec<u8> = urgent.iter().filter_map(|u| hex_byte(&u["hex"])).collect();
            let want_bytes: Vec<u8> = want.urgent.iter().map(|u| u.0).collect();
            assert_eq!(bytes, want_bytes, "{case}: urgent bytes shown: {urgent:#?}");
            assert_eq!(
                offsets,
                unconsumed_offsets(seq),
                "{case}: marks in the unconsumed queue: {urgent:#?}"
            );
        }
        _ => {
            let got: Vec<(u8, u64)> = urgent
                .iter()
                .map(|u| {
                    (
                        hex_byte(&u["hex"]).unwrap_or(0),
                        u["offset"].as_u64().unwrap_or(0),
                    )
                })
                .collect();
            assert_eq!(got, want.urgent, "{case}: urgent bytes and offsets");
            for u in &urgent {
                assert!(u["replaced"].is_null(), "{case}: nothing replaced: {u}");
                assert_eq!(u["atmark"], true, "{case}: {u}");
            }
        }
    }
    let data = lines.seen().iter().filter(|e| e["event"] == "data");
    let mut full = want.data.clone();
    if mode == Mode::Inline {
        full = inline_stream(want);
    }
    match mode {
        Mode::Text | Mode::Inline => {
            let text: String = data.filter_map(|d| d["text"].as_str()).collect();
            assert_eq!(text.as_bytes(), &full[..], "{case}: the data text");
        }
        Mode::Hex => {
            let bytes: Vec<u8> = data.flat_map(|d| hex_rows(&d["hex"])).collect();
            assert_eq!(bytes, full, "{case}: the data rows");
        }
        Mode::Count => {
            let n: u64 = data.filter_map(|d| d["bytes"].as_u64()).sum();
            assert_eq!(n, full.len() as u64, "{case}: bytes counted");
        }
        Mode::Tee => assert_eq!(tee.as_deref(), Some(&full[..]), "{case}: bytes teed"),
        Mode::Peek | Mode::Plain => {}
    }
    assert_eq!(lines.count("error"), 0, "{case}: {:#?}", lines.seen());
}

/// The stream as SO_OOBINLINE reads it: each urgent byte in its place.
fn inline_stream(d: &Delivered) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0usize;
    for &(b, off) in &d.urgent {
        out.extend_from_slice(&d.data[at..off as usize]);
        out.push(b);
        at = off as usize;
    }
    out.extend_from_slice(&d.data[at..]);
    out
}

#[test]
fn every_urgent_byte_in_every_mode_on_every_backend() {
    let base = base_seed();
    each_backend_and(&MODES, |b, mode| {
        let tag = format!("{mode:?}");
        watch_case(b, mode, case_seed(base, b, &tag));
    });
}

/// The same byte twice at the same place (nothing between, at the read position), where
/// only the place tells the second from the first when nothing is consumed.
#[test]
fn the_same_urgent_byte_twice_at_the_same_place() {
    let seq = [
        Item::Urgent(b'A'),
        Item::Urgent(b'A'),
        Item::Data(b"xyz".to_vec()),
        Item::Urgent(b'A'),
        Item::Urgent(b'A'),
    ];
    let modes = [
        ("text", Mode::Text),
        ("peek", Mode::Peek),
        ("plain", Mode::Plain),
    ];
    each_backend_and(&modes, |b, mode| watch_sequence(b, mode, "fixed", &seq));
}

// The relay ------------------------------------------------------------------------------

fn relay_case(backend: &str, splice: bool, seed: u64) {
    let seq = sequence(&mut XorShift::new(seed));
    let bulk = if splice { BULK } else { 0 };
    let case = format!("relay -b {backend}, splice {splice}, seed {seed}, {seq:?}");
    let want = delivered_directly(&case, &seq, bulk);
    let target = reference_listener();
    let to = format!("tcp:127.0.0.1:{}", target.port);
    let ((mut child, _dog), port): ((Child, Watchdog), u16) = listen_on_free_port(
        &case,
        |port| {
            let listen = format!("tcp-listen:127.0.0.1:{port}");
            let f = Fdwatch::new(["relay", "-b", backend, "--format", "json", &listen, &to])
                .env("FDWATCH_RELAY_SPLICE", if splice { "on" } else { "off" });
            spawn(&case, f)
        },
        the_child_waits,
    );
    let mut lines = TimedEvents::new(&case, child.stdout.take().expect("stdout"));
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect the relay");
    (&c).write_all(&vec![b'.'; bulk]).expect("bulk");
    let pid = child.id();
    send_sequence(&c, &seq, |k, b| {
        target.wait(&case, k, b);
        blocked(pid, &case);
    });
    c.shutdown(Shutdown::Write).expect("shutdown");
    let got = target.done.join().expect("target receiver");
    lines.until("the connection's close", DEADLINE, is("close"));
    sigterm(&child);
    lines.rest(WATCHDOG + DEADLINE);
    let _ = child.wait();
    drop(c);
    assert_eq!(got, want, "{case}: the target's stream");
    let relayed: Vec<(u8, u64)> = lines
        .seen()
        .iter()
        .filter(|e| e["event"] == "urgent" && e["from"] == "client")
        .map(|u| {
            (
                hex_byte(&u["hex"]).unwrap_or(0),
                u["offset"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(relayed, want.urgent, "{case}: the relay's urgent events");
}

#[test]
fn the_relay_passes_every_urgent_byte_at_its_offset() {
    let base = base_seed();
    let variants = [("copy", false), ("splice", true)];
    each_backend_and(&variants, |b, splice| {
        // Two sequences per variant.
        for n in 0..2 {
            relay_case(b, splice, case_seed(base, b, &format!("relay{splice}{n}")));
        }
    });
}
