//! Sockets and TCP urgent data (docs/kernel.md "TCP urgent data", "Socket ends"): urgent
//! bytes reported in stream order on every backend (also for a socket watched without
//! `e`, and for a burst of clients sending at once), `--peek` consuming nothing, a lone
//! urgent byte, a newer urgent byte replacing an unread one, `--oobinline`, hang-up
//! kinds as the kernel reports them, connect results, a thousand clients without an fd
//! leak (and select refusing fds beyond FD_SETSIZE without crashing), `send` errors.
//!
//! Everything is on loopback. Synchronization is on fdwatch's JSON lines,
//! `wait_blocked`, poll(2) on the test's own socket end, or process exit; never on
//! sleeps. Every watcher ends by an idle timeout or a one-shot timeout; a watchdog
//! kills one that does not. Every socket made here is close-on-exec (std sockets are).

use std::io::Write;
use std::net::{Shutdown, TcpListener};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixListener;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{self, MsgFlags, sockopt};
use serde_json::Value;

/// `fdwatch send ARGS...`, the real binary's test client, which must succeed.
fn send_ok(case: &str, args: &[&str]) {
    let mut argv = vec!["send"];
    argv.extend(args);
    let out = run(&format!("{case}: send"), Fdwatch::new(&argv));
    assert_eq!(
        exit_code(case, &out),
        0,
        "{case}: fdwatch {argv:?}: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).is_empty(),
        "{case}: send stderr {}",
        stderr(&out)
    );
}

fn recv_oob(fd: impl AsFd) -> nix::Result<u8> {
    let mut b = [0u8; 1];
    let flags = MsgFlags::MSG_OOB | MsgFlags::MSG_DONTWAIT;
    socket::recv(fd.as_fd().as_raw_fd(), &mut b, flags).map(|_| b[0])
}

/// One non-blocking normal recv of up to 64 bytes.
fn recv_now(fd: impl AsFd) -> nix::Result<Vec<u8>> {
    let mut b = [0u8; 64];
    let n = socket::recv(fd.as_fd().as_raw_fd(), &mut b, MsgFlags::MSG_DONTWAIT)?;
    Ok(b[..n].to_vec())
}

/// Waits (poll(2) on the test's own end, 10 s at most) until the kernel reports all of
/// `want` (poll flags) on `fd`: the state fdwatch is then run against.
fn wait_for(case: &str, fd: impl AsFd, want: libc::c_short) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = poll_until(&fd, want, deadline, |r| r & want == want);
    assert!(got.is_some(), "{case}: the kernel never reported {want:#x}");
}

/// The data texts concatenated.
fn texts(evs: &[&Value]) -> String {
    evs.iter()
        .filter(|e| e["event"] == "data")
        .map(|e| e["text"].as_str().expect("data text"))
        .collect()
}

/// The summary's bytes for `fd`.
fn summary_bytes(case: &str, s: &Value, fd: &Value) -> u64 {
    let rows = s["bytes"].as_array().expect("summary bytes");
    let hit: Vec<&Value> = rows.iter().filter(|r| &r["fd"] == fd).collect();
    assert_eq!(hit.len(), 1, "{case}: one summary row for fd {fd}: {s}");
    hit[0]["bytes"].as_u64().expect("bytes")
}

// 1. Urgent data in stream order, each byte once, on every backend ------------------

/// Whether AF_UNIX stream sockets take MSG_OOB here (CONFIG_AF_UNIX_OOB, Linux 5.15+).
fn unix_oob_supported() -> bool {
    let (a, _b) = socketpair();
    socket::send(a.as_raw_fd(), b"u", MsgFlags::MSG_OOB) != Err(Errno::EOPNOTSUPP)
}

/// A watcher listening on `tcp-listen:127.0.0.1:PORT`, or on `unix-listen:PATH` in
/// `dir`, blocked in its wait; and the address a client connects to.
fn listener(
    case: &str,
    unix: Option<&TempDir>,
    args: impl Fn(&str) -> Vec<String>,
) -> (Child, Watchdog, String) {
    match unix {
        Some(dir) => {
            let path = dir.path("listen.sock");
            let path = path.to_str().expect("UTF-8 temp path");
            let (child, dog) = spawn(case, Fdwatch::new(args(&format!("unix-listen:{path}"))));
            wait_blocked(child.id());
            (child, dog, format!("unix:{path}"))
        }
        None => {
            let (child, dog, port) = listen_tcp(case, |spec| Fdwatch::new(args(spec)));
            (child, dog, format!("tcp:127.0.0.1:{port}"))
        }
    }
}

fn urgent_in_stream_order(b: &str, world: bool, unix: bool, letters: &str) {
    let mut steps = vec!["--data", "hell", "--urgent", "o"];
    if world {
        steps.extend(["--data", "world"]);
    }
    let family = if unix { "unix-listen" } else { "tcp-listen" };
    let case = format!("-b {b}, {family}{letters}, send {}", steps.join(" "));
    let dir = unix.then(TempDir::new);
    let (mut child, _dog, addr) = listener(&case, dir.as_ref(), |spec| {
        monitor_args(b, &["--read=text"], "2", &format!("{spec}{letters}"))
    });
    let mut evs = EventStream::new(&mut child, &case);
    let mut args = vec![addr.as_str()];
    args.extend(&steps);
    send_ok(&case, &args);

    let got = evs.until("to the client's hang-up", is("hangup"));
    let acc = evs.seen().iter().find(|e| e["event"] == "accept").cloned();
    let acc = acc.unwrap_or_else(|| panic!("{case}: no accept event: {got:?}"));
    let fd = &acc["fd"];
    let peer = if unix { "(unnamed)" } else { "127.0.0.1:" };
    assert!(
        acc["peer"].as_str().is_some_and(|p| p.starts_with(peer)),
        "{case}: accept peer: {acc}"
    );
    assert_ne!(&acc["listener"], fd, "{case}: {acc}");
    // The accepted socket's own events, ready lines aside.
    let stream: Vec<&Value> = got
        .iter()
        .filter(|e| e["event"] != "ready" && e["event"] != "accept")
        .collect();
    for e in &stream {
        assert_eq!(
            &e["fd"], fd,
            "{case}: an event for another fd: {e}; {got:?}"
        );
    }
    // Consecutive data events merged: a read may return part of a send.
    let mut order = vec!["accept".to_owned()];
    for k in kinds(&stream.iter().map(|e| (*e).clone()).collect::<Vec<_>>()) {
        if !(k == "data" && order.last().is_some_and(|l| l == "data")) {
            order.push(k);
        }
    }
    let mut want = vec!["accept", "data", "urgent"];
    if world {
        want.push("data");
    }
    want.extend(["eof", "hangup"]);
    assert_eq!(order, want, "{case}: event order: {got:?}");
    let at = stream
        .iter()
        .position(|e| e["event"] == "urgent")
        .expect("urgent");
    assert_eq!(texts(&stream[..at]), "hell", "{case}: data before the mark");
    let after = if world { "world" } else { "" };
    assert_eq!(texts(&stream[at..]), after, "{case}: data after the mark");
    let u = stream[at];
    assert_eq!(u["byte"], "o", "{case}: {u}");
    assert_eq!(u["hex"], "6f", "{case}: {u}");
    assert_eq!(u["atmark"], true, "{case}: {u}");
    assert_eq!(u["offset"], 4, "{case}: {u}");
    assert_eq!(u["peek"], false, "{case}: {u}");
    assert_eq!(u["inline"], false, "{case}: {u}");
    assert!(u["replaced"].is_null(), "{case}: {u}");
    assert!(u["errno"].is_null(), "{case}: {u}");
    let total = if world { 9 } else { 4 };
    let eof = stream[stream.len() - 2];
    assert_eq!(eof["total"], total, "{case}: {eof}");
    assert_eq!(got.last().expect("hangup")["action"], "remove", "{case}");

    let tail = evs.rest();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(
        exit_code(&case, &out),
        0,
        "{case}: the idle timeout after events ends it (the listener stays): {}; {tail:?}",
        stderr(&out)
    );
    assert_eq!(kinds(&tail), ["timeout", "summary"], "{case}: {tail:?}");
    let all = evs.seen();
    let urgent = of_kind(all, "urgent");
    assert_eq!(urgent.len(), 1, "{case}: the urgent byte once: {all:?}");
    assert!(of_kind(all, "error").is_empty(), "{case}: {all:?}");
    assert_eq!(of_kind(all, "accept").len(), 1, "{case}: {all:?}");
    let s = summary(&case, all);
    assert_eq!(summary_bytes(&case, &s, fd), total, "{case}: {s}");
}

#[test]
fn urgent_in_stream_order_every_backend() {
    let mut cases: Vec<(String, (&str, bool, bool))> = Vec::new();
    let unix_too = unix_oob_supported();
    if !unix_too {
        println!("AF_UNIX MSG_OOB not supported by this kernel: unix-listen cases skipped");
    }
    for b in BACKENDS {
        cases.push((b.to_owned(), (b, false, false)));
        cases.push((format!("{b}+world"), (b, true, false)));
        if unix_too {
            // AF_UNIX streams carry urgent data like TCP (the basic path).
            cases.push((format!("{b}+world, unix"), (b, true, true)));
        }
    }
    in_named_threads(cases.iter().map(|(n, c)| (n.as_str(), *c)), |(b, w, u)| {
        urgent_in_stream_order(b, w, u, "")
    });
}

/// fdwatch takes the urgent byte first on an fd watched with `e` or on any socket,
/// and never reads a TCP stream past the mark before taking it: so
/// a socket watched for reading only (`3`, `tcp-listen:...:PORT/r`) keeps its urgent
/// byte too.
#[test]
fn urgent_byte_taken_first_without_e() {
    let mut cases = Vec::new();
    for b in BACKENDS {
        cases.push((format!("{b}, listener /r"), (b, false)));
        cases.push((format!("{b}, inherited 3"), (b, true)));
    }
    in_named_threads(
        cases.iter().map(|(n, c)| (n.as_str(), *c)),
        |(b, inherited)| {
            if !inherited {
                // An accepted socket with the listener's letters, `r` only.
                urgent_in_stream_order(b, true, false, "/r");
                return;
            }
            // An inherited socket given as `3` (default letters: `r`), all bytes queued.
            let case = format!("-b {b}, inherited `3`, \"hell\" + urgent \"o\" + \"world\"");
            let (c, s) = tcp_pair();
            (&c).write_all(b"hell").expect("send hell");
            send_oob(&c, b"o");
            (&c).write_all(b"world").expect("send world");
            drop(c);
            wait_for(&case, &s, libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP);
            let out = run(
                &case,
                Fdwatch::new(["-m", "-b", b, "--read=text", "--format", "json", "2", "3"])
                    .fd(s.as_fd(), 3),
            );
            assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
            let evs = events(&out.stdout);
            let stream: Vec<&Value> = evs
                .iter()
                .filter(|e| {
                    ["data", "urgent", "eof", "hangup"].contains(&e["event"].as_str().unwrap_or(""))
                })
                .collect();
            let urgent = of_kind(&evs, "urgent");
            assert_eq!(
                urgent.len(),
                1,
                "{case}: the urgent byte once (here: lost): {evs:?}"
            );
            assert_eq!(urgent[0]["byte"], "o", "{case}: {}", urgent[0]);
            assert_eq!(urgent[0]["offset"], 4, "{case}: {}", urgent[0]);
            let at = stream
                .iter()
                .position(|e| e["event"] == "urgent")
                .expect("urgent");
            assert_eq!(texts(&stream[..at]), "hell", "{case}: {evs:?}");
            assert_eq!(texts(&stream[at..]), "world", "{case}: {evs:?}");
        },
    );
}

/// Each accepted connection's own events (ready lines aside), from its accept to its
/// hang-up, in accept order (fd numbers are reused).
fn per_connection(case: &str, all: &[Value]) -> Vec<Vec<Value>> {
    let mut done: Vec<Vec<Value>> = Vec::new();
    let mut open: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for e in all {
        let fd = e["fd"].as_i64().unwrap_or(-1);
        match e["event"].as_str() {
            Some("accept") => {
                let prev = open.insert(fd, done.len());
                assert!(prev.is_none(), "{case}: fd {fd} accepted while open: {e}");
                done.push(Vec::new());
            }
            Some("ready") | Some("summary") | Some("timeout") => {}
            _ => {
                if let Some(&i) = open.get(&fd) {
                    done[i].push(e.clone());
                    if e["event"] == "hangup" {
                        open.remove(&fd);
                    }
                }
            }
        }
    }
    done
}

/// A connection's events in short: `data:hell urgent:o@4 data:world eof hangup`.
fn pattern(evs: &[Value]) -> String {
    evs.iter()
        .map(|e| match e["event"].as_str().unwrap_or("?") {
            "data" => format!("data:{}", e["text"].as_str().unwrap_or("?")),
            "urgent" if e["inline"] == true => format!("urgent:inline@{}", e["offset"]),
            "urgent" => format!(
                "urgent:{}@{}",
                e["byte"].as_str().unwrap_or("?"),
                e["offset"]
            ),
            k => k.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Many clients at once, each sending "hell", urgent "o", "world" back to back: while
/// fdwatch is busy, urgent data arrives in the middle of its reads. Every urgent byte
/// (or, with --oobinline, every mark) must still be reported exactly once, at offset 4.
fn urgent_in_a_burst(b: &str, oobinline: bool) {
    const CLIENTS: usize = 500;
    let opts: &[&str] = if oobinline {
        &["--oobinline", "--read=text"]
    } else {
        &["--read=text"]
    };
    let case = format!(
        "-b {b} {}, {CLIENTS} clients sending hell, urgent o, world",
        opts.join(" ")
    );
    let (mut child, _dog, port) =
        listen_tcp(&case, |spec| Fdwatch::new(monitor_args(b, opts, "2", spec)));
    let mut evs = EventStream::new(&mut child, &case);
    let addr = format!("tcp:127.0.0.1:{port}");
    let n = CLIENTS.to_string();
    let steps = ["--data", "hell", "--urgent", "o", "--data", "world"];
    let mut args = vec![addr.as_str(), "--connections", &n];
    args.extend(steps);
    send_ok(&case, &args);
    for _ in 0..CLIENTS {
        evs.next_named("hangup");
    }
    let tail = evs.rest();
    let status = child.wait().expect("wait fdwatch");
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: idle timeout after events: {tail:?}"
    );
    let conns = per_connection(&case, evs.seen());
    assert_eq!(conns.len(), CLIENTS, "{case}: accepted connections");
    let want = if oobinline {
        "data:hell urgent:inline@4 data:oworld eof hangup"
    } else {
        "data:hell urgent:o@4 data:world eof hangup"
    };
    let mut seen: std::collections::BTreeMap<String, usize> = Default::default();
    for c in &conns {
        // A read may return part of what was sent: merge consecutive data events.
        let mut merged: Vec<Value> = Vec::new();
        for e in c {
            match merged.last_mut() {
                Some(last) if last["event"] == "data" && e["event"] == "data" => {
                    let t = format!(
                        "{}{}",
                        last["text"].as_str().unwrap_or(""),
                        e["text"].as_str().unwrap_or("")
                    );
                    last["text"] = Value::from(t);
                }
                _ => merged.push(e.clone()),
            }
        }
        *seen.entry(pattern(&merged)).or_default() += 1;
    }
    let bad: usize = seen
        .iter()
        .filter(|(p, _)| *p != want)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        bad, 0,
        "{case}: {bad} of {CLIENTS} connections not {want:?}; connections per pattern: {seen:#?}"
    );
}

#[test]
fn urgent_data_survives_a_burst_of_clients() {
    let mut cases = Vec::new();
    for b in BACKENDS {
        cases.push((b.to_owned(), (b, false)));
        cases.push((format!("{b} --oobinline"), (b, true)));
    }
    in_named_threads(
        cases.iter().map(|(n, c)| (n.as_str(), *c)),
        |(b, inline)| urgent_in_a_burst(b, inline),
    );
}

// 2. --peek consumes nothing, normal or urgent ---------------------------------------

#[test]
fn peek_leaves_everything_queued() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b}, --peek on an inherited socket with \"hell\" + urgent \"o\"");
        let (c, s) = tcp_pair();
        (&c).write_all(b"hell").expect("send hell");
        send_oob(&c, b"o");
        wait_for(&case, &s, libc::POLLIN | libc::POLLPRI);
        let out = run(
            &case,
            Fdwatch::new(["-m", "-b", b, "--peek", "--format", "json", "0.5", "3re"])
                .fd(s.as_fd(), 3),
        );
        assert_eq!(
            exit_code(&case, &out),
            0,
            "{case}: idle timeout after events: {}",
            stderr(&out)
        );
        let evs = events(&out.stdout);
        let data = of_kind(&evs, "data");
        assert_eq!(data.len(), 1, "{case}: one data event: {evs:?}");
        assert_eq!(data[0]["text"], "hell", "{case}: {}", data[0]);
        assert_eq!(data[0]["peek"], true, "{case}: {}", data[0]);
        assert_eq!(data[0]["bytes"], 4, "{case}: {}", data[0]);
        let urgent = of_kind(&evs, "urgent");
        assert_eq!(urgent.len(), 1, "{case}: one urgent event: {evs:?}");
        let u = urgent[0];
        assert_eq!(u["byte"], "o", "{case}: {u}");
        assert_eq!(u["peek"], true, "{case}: {u}");
        assert!(u["replaced"].is_null(), "{case}: {u}");
        assert!(of_kind(&evs, "error").is_empty(), "{case}: {evs:?}");
        // Everything is still queued: the urgent byte, then the bytes before the mark.
        assert_eq!(
            recv_oob(&s),
            Ok(b'o'),
            "{case}: the urgent byte was consumed"
        );
        assert_eq!(
            recv_now(&s).as_deref(),
            Ok(&b"hell"[..]),
            "{case}: data consumed"
        );
        drop(c);
    });
}

// 3. A lone urgent byte is urgent data, not normal data ------------------------------

#[test]
fn lone_urgent_byte_is_urgent_not_data() {
    each_backend(&BACKENDS, |b| {
        // Read by a listener's accepted socket.
        let case = format!("-b {b}, --read=text, send --urgent x");
        let (mut child, _dog, port) = listen_tcp(&case, |spec| {
            Fdwatch::new(monitor_args(b, &["--read=text"], "2", spec))
        });
        let mut evs = EventStream::new(&mut child, &case);
        send_ok(&case, &[&format!("tcp:127.0.0.1:{port}"), "--urgent", "x"]);
        let got = evs.until("to the client's hang-up", is("hangup"));
        let acc = of_kind(&got, "accept");
        assert_eq!(acc.len(), 1, "{case}: {got:?}");
        let u = of_kind(&got, "urgent");
        assert_eq!(u.len(), 1, "{case}: one urgent event: {got:?}");
        assert_eq!(u[0]["byte"], "x", "{case}: {}", u[0]);
        assert_eq!(u[0]["offset"], 0, "{case}: {}", u[0]);
        assert_eq!(u[0]["atmark"], true, "{case}: {}", u[0]);
        assert_eq!(u[0]["fd"], acc[0]["fd"], "{case}: {}", u[0]);
        let eof = of_kind(&got, "eof");
        assert_eq!(eof.len(), 1, "{case}: {got:?}");
        assert_eq!(eof[0]["total"], 0, "{case}: no normal byte: {}", eof[0]);
        let tail = evs.rest();
        let status = child.wait().expect("wait fdwatch");
        assert_eq!(
            status.code(),
            Some(0),
            "{case}: idle timeout after events: {tail:?}"
        );
        let all = evs.seen();
        assert!(
            of_kind(all, "data").is_empty(),
            "{case}: no data event: {all:?}"
        );
        assert!(of_kind(all, "error").is_empty(), "{case}: {all:?}");

        // One-shot on an inherited socket holding only the urgent byte.
        let case = format!("-b {b}, one-shot 3re, a lone urgent byte");
        let (c, s) = tcp_pair();
        send_oob(&c, b"x");
        wait_for(&case, &s, libc::POLLPRI);
        let out = run(
            &case,
            Fdwatch::new(["-b", b, "--format", "json", "0", "3re"]).fd(s.as_fd(), 3),
        );
        assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        assert_eq!(
            ready_words(&evs, 3),
            Some(vec!["urgent".to_owned()]),
            "{case}: PRI only, no read: {evs:?}"
        );
        assert!(of_kind(&evs, "data").is_empty(), "{case}: {evs:?}");
        for u in of_kind(&evs, "urgent") {
            assert_eq!(u["byte"], "x", "{case}: {u}");
            assert_eq!(u["peek"], true, "{case}: shown, not consumed: {u}");
        }
        assert_eq!(
            recv_oob(&s),
            Ok(b'x'),
            "{case}: the urgent byte was consumed"
        );
        drop(c);
    });
}

// 4. A newer urgent byte replaces an unread one --------------------------------------

#[test]
fn newer_urgent_byte_replaces_unread_one() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b}, -m 1 3re, urgent x then urgent y");
        let (c, s) = tcp_pair();
        let (mut child, _dog) = spawn(
            &case,
            Fdwatch::new(["-m", "-b", b, "--format", "json", "1", "3re"]).fd(s.as_fd(), 3),
        );
        wait_blocked(child.id());
        let mut evs = EventStream::new(&mut child, &case);
        send_oob(&c, b"x");
        let first = evs.next_named("urgent");
        assert_eq!(first["byte"], "x", "{case}: {first}");
        assert_eq!(first["peek"], true, "{case}: {first}");
        assert!(first["replaced"].is_null(), "{case}: {first}");
        send_oob(&c, b"y");
        let second = evs.next_named("urgent");
        assert_eq!(second["byte"], "y", "{case}: {second}");
        assert_eq!(second["peek"], true, "{case}: {second}");
        assert_eq!(second["replaced"], "x", "{case}: {second}");
        let tail = evs.rest();
        let status = child.wait().expect("wait fdwatch");
        assert_eq!(
            status.code(),
            Some(0),
            "{case}: idle timeout after events: {tail:?}"
        );
        let all = evs.seen();
        assert_eq!(of_kind(all, "urgent").len(), 2, "{case}: {all:?}");
        assert!(of_kind(all, "data").is_empty(), "{case}: {all:?}");
        // Nothing consumed: "y" is the urgent byte, and "x" is gone (the kernel
        // dropped it when "y" came), not normal data.
        assert_eq!(recv_oob(&s), Ok(b'y'), "{case}: the urgent byte");
        assert_eq!(recv_now(&s), Err(Errno::EAGAIN), "{case}: no normal data");
        drop(c);
    });
}

// 5. --oobinline: the byte stays in the stream, the mark is reported -----------------

#[test]
fn oobinline_marks_the_offset() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b}, --oobinline --read=text, send --data hell --urgent o");
        let (mut child, _dog, port) = listen_tcp(&case, |spec| {
            Fdwatch::new(monitor_args(b, &["--oobinline", "--read=text"], "2", spec))
        });
        let mut evs = EventStream::new(&mut child, &case);
        let addr = format!("tcp:127.0.0.1:{port}");
        send_ok(&case, &[&addr, "--data", "hell", "--urgent", "o"]);
        let got = evs.until("to the client's hang-up", is("hangup"));
        let stream: Vec<&Value> = got
            .iter()
            .filter(|e| e["event"] != "ready" && e["event"] != "accept")
            .collect();
        let at = stream.iter().position(|e| e["event"] == "urgent");
        let at = at.unwrap_or_else(|| panic!("{case}: no urgent event: {got:?}"));
        assert_eq!(
            texts(&stream[..at]),
            "hell",
            "{case}: before the mark: {got:?}"
        );
        assert_eq!(
            texts(&stream[at..]),
            "o",
            "{case}: the byte in the stream: {got:?}"
        );
        let u = stream[at];
        assert_eq!(u["inline"], true, "{case}: {u}");
        assert!(u["byte"].is_null(), "{case}: {u}");
        assert_eq!(u["offset"], 4, "{case}: {u}");
        assert_eq!(u["atmark"], true, "{case}: {u}");
        let k = kinds(&got);
        assert_eq!(&k[k.len() - 2..], ["eof", "hangup"], "{case}: {got:?}");
        let tail = evs.rest();
        let status = child.wait().expect("wait fdwatch");
        assert_eq!(
            status.code(),
            Some(0),
            "{case}: idle timeout after events: {tail:?}"
        );
        let all = evs.seen();
        assert_eq!(of_kind(all, "urgent").len(), 1, "{case}: {all:?}");
        assert!(of_kind(all, "error").is_empty(), "{case}: {all:?}");
    });
}

// 6. Hang-up kinds as the kernel reports them (docs/kernel.md) ------------------------

/// One-shot `-b B --format json 0 3r` on `fd`: its ready words.
fn one_shot_words(case: &str, b: &str, fd: impl AsFd) -> Vec<String> {
    let out = run(
        case,
        Fdwatch::new(["-b", b, "--format", "json", "0", "3r"]).fd(fd.as_fd(), 3),
    );
    assert_eq!(exit_code(case, &out), 0, "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    assert!(
        of_kind(&evs, "hangup").is_empty(),
        "{case}: one-shot acts on nothing: {evs:?}"
    );
    ready_words(&evs, 3).unwrap_or_else(|| panic!("{case}: fd 3 not reported: {evs:?}"))
}

fn hangup_kinds_on(b: &str) {
    let sel = select_family(b);
    let want = |poll: &[&str]| -> Vec<String> {
        let w: &[&str] = if sel { &["read"] } else { poll };
        w.iter().map(|s| s.to_string()).collect()
    };

    // The peer shuts down its sending side: RDHUP, no HUP.
    let case = format!("-b {b}, TCP peer shutdown(SHUT_WR)");
    let (c, s) = tcp_pair();
    c.shutdown(Shutdown::Write).expect("shutdown");
    wait_for(&case, &s, libc::POLLRDHUP);
    assert_eq!(
        one_shot_words(&case, b, &s),
        want(&["read", "rdhup"]),
        "{case}"
    );
    drop(c);

    // The peer resets (SO_LINGER {1, 0} close).
    let case = format!("-b {b}, TCP peer RST");
    let (c, s) = tcp_pair();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    socket::setsockopt(&c, sockopt::Linger, &linger).expect("SO_LINGER 0");
    drop(c);
    wait_for(&case, &s, libc::POLLHUP);
    assert_eq!(
        one_shot_words(&case, b, &s),
        want(&["read", "hangup", "rdhup", "error"]),
        "{case}"
    );
    assert_eq!(
        socket::getsockopt(&s, sockopt::SocketError),
        Ok(Errno::ECONNRESET as i32),
        "{case}: the error is still pending (fdwatch cleared nothing)"
    );

    // The peer closes, then we send: its RST gives the same as a reset (docs/kernel.md).
    let case = format!("-b {b}, TCP peer close, then a send to it");
    let (c, s) = tcp_pair();
    drop(c);
    wait_for(&case, &s, libc::POLLRDHUP);
    (&s).write_all(b"!")
        .expect("first send after the peer closed");
    wait_for(&case, &s, libc::POLLHUP);
    assert_eq!(
        one_shot_words(&case, b, &s),
        want(&["read", "hangup", "rdhup", "error"]),
        "{case}"
    );

    // An AF_UNIX stream peer closes: HUP at once.
    let case = format!("-b {b}, AF_UNIX peer close");
    let (u1, u2) = socketpair();
    drop(u2);
    wait_for(&case, &u1, libc::POLLHUP);
    assert_eq!(
        one_shot_words(&case, b, &u1),
        want(&["read", "hangup", "rdhup"]),
        "{case}"
    );

    // A non-blocking connect to a port nothing listens on.
    let case = format!("-b {b}, connect to a closed port");
    let (_held, port) = closed_port();
    let spec = format!("tcp:127.0.0.1:{port}");
    let out = run(
        &case,
        Fdwatch::new(["-b", b, "--format", "json", "2", &spec]),
    );
    // A failed connect in one-shot mode is its own status.
    assert_eq!(exit_code(&case, &out), 3, "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    let conn = of_kind(&evs, "connect");
    assert_eq!(conn.len(), 1, "{case}: {evs:?}");
    assert_eq!(conn[0]["result"], "ECONNREFUSED", "{case}: {}", conn[0]);
}

#[test]
fn hangup_kinds() {
    each_backend(&BACKENDS, hangup_kinds_on);
}

// 7. Connect results -------------------------------------------------------------------

#[test]
fn connect_events() {
    let case = "-b epoll (default), connect to a closed port";
    let (_held, port) = closed_port();
    let spec = format!("tcp:127.0.0.1:{port}");
    let out = run(case, Fdwatch::new(["--format", "json", "2", &spec]));
    assert_eq!(
        exit_code(case, &out),
        3,
        "{case}: a failed connect: {}",
        stderr(&out)
    );
    let evs = events(&out.stdout);
    let conn = of_kind(&evs, "connect");
    assert_eq!(conn.len(), 1, "{case}: {evs:?}");
    let e = conn[0];
    assert_eq!(e["result"], "ECONNREFUSED", "{case}: {e}");
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{case}: {e}"
    );
    assert!(of_kind(&evs, "timeout").is_empty(), "{case}: {evs:?}");

    let case = "-b epoll (default), connect to a listener";
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let spec = format!("tcp:127.0.0.1:{port}");
    let out = run(case, Fdwatch::new(["--format", "json", "2", &spec]));
    assert_eq!(exit_code(case, &out), 0, "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    let conn = of_kind(&evs, "connect");
    assert_eq!(conn.len(), 1, "{case}: {evs:?}");
    assert_eq!(conn[0]["result"], "ok", "{case}: {}", conn[0]);
    assert!(conn[0]["message"].is_null(), "{case}: {}", conn[0]);
    drop(l);

    let dir = TempDir::new();
    let case = "-b epoll (default), connect to a UNIX listener";
    let path = dir.path("sock");
    let ul = UnixListener::bind(&path).expect("bind a UNIX listener");
    let spec = format!("unix:{}", path.display());
    let out = run(case, Fdwatch::new(["--format", "json", "2", &spec]));
    assert_eq!(exit_code(case, &out), 0, "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    let conn = of_kind(&evs, "connect");
    assert_eq!(conn.len(), 1, "{case}: {evs:?}");
    assert_eq!(conn[0]["result"], "ok", "{case}: {}", conn[0]);
    drop(ul);

    let case = "-b epoll (default), connect to a missing UNIX socket";
    let spec = format!("unix:{}", dir.path("missing").display());
    let out = run(case, Fdwatch::new(["--format", "json", "2", &spec]));
    // A connect that fails at once: one line, and a failed connect's status.
    assert_eq!(exit_code(case, &out), 3, "{case}: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{case}: one stderr line: {err:?}");
    assert!(
        err.contains(&format!("spec '{spec}")),
        "{case}: names the spec: {err:?}"
    );
    assert!(err.contains("ENOENT"), "{case}: {err:?}");
    assert!(
        out.stdout.is_empty(),
        "{case}: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
}

// 8. A thousand clients; select beyond FD_SETSIZE -------------------------------------

const CLIENTS: usize = 1000;
const REPEAT: usize = 10;
const PAYLOAD: &str = "0123456789";

fn thousand_clients_on(b: &str) {
    let case = format!("-b {b}, {CLIENTS} clients x {REPEAT} x {PAYLOAD:?}");
    let (mut child, _dog, port) = listen_tcp(&case, |spec| {
        Fdwatch::new(monitor_args(b, &["--read=count"], "3", spec))
    });
    let pid = child.id();
    let fds_at_start = fd_count(pid);
    let mut evs = EventStream::new(&mut child, &case);
    let addr = format!("tcp:127.0.0.1:{port}");
    let (n, r) = (CLIENTS.to_string(), REPEAT.to_string());
    let (sender, _sdog) = spawn(
        &case,
        Fdwatch::new([
            "send",
            &addr,
            "--connections",
            &n,
            "--repeat",
            &r,
            "--data",
            PAYLOAD,
        ]),
    );
    let mut hangups = 0;
    while hangups < CLIENTS {
        let e = evs.next_named("hangup");
        assert_eq!(e["action"], "remove", "{case}: {e}");
        hangups += 1;
    }
    // Back in its wait: every fd of this round is closed by now.
    wait_blocked(pid);
    let fds_after = fd_count(pid);
    println!("{case}: fdwatch had {fds_at_start} fds open at start, {fds_after} after");
    let out = sender.wait_with_output().expect("wait send");
    assert_eq!(exit_code(&case, &out), 0, "{case}: send: {}", stderr(&out));
    let tail = evs.rest();
    let status = child.wait().expect("wait fdwatch");
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: idle timeout after events: {tail:?}"
    );
    assert_eq!(
        fds_after, fds_at_start,
        "{case}: fdwatch's open fds after all clients left vs at start"
    );

    let all = evs.seen();
    assert!(
        of_kind(all, "error").is_empty(),
        "{case}: {:?}",
        of_kind(all, "error")
    );
    let accepts = of_kind(all, "accept");
    assert_eq!(accepts.len(), CLIENTS, "{case}: accept events");
    // Each connection (fd numbers are reused): its bytes, then one eof, then removed.
    let per_client = (REPEAT * PAYLOAD.len()) as u64;
    let conns = per_connection(&case, all);
    assert_eq!(conns.len(), CLIENTS, "{case}: connections");
    for (i, c) in conns.iter().enumerate() {
        let k = kinds(c);
        let bytes: u64 = of_kind(c, "data")
            .iter()
            .map(|d| d["bytes"].as_u64().expect("bytes"))
            .sum();
        let ok = k.len() >= 2
            && k[k.len() - 2..] == ["eof", "hangup"]
            && k.iter().filter(|k| *k == "eof").count() == 1
            && c[c.len() - 1]["action"] == "remove"
            && c[c.len() - 2]["total"] == per_client
            && bytes == per_client;
        assert!(ok, "{case}: connection {i}: {c:?}");
    }
    // The summary: one row per accepted socket (numbers reused), the listener aside.
    let s = summary(&case, all);
    let listener = &accepts[0]["listener"];
    let rows: Vec<u64> = s["bytes"]
        .as_array()
        .expect("summary bytes")
        .iter()
        .filter(|r| &r["fd"] != listener)
        .map(|r| r["bytes"].as_u64().expect("bytes"))
        .collect();
    assert_eq!(rows.len(), CLIENTS, "{case}: summary rows: {s}");
    assert_eq!(
        rows.iter().sum::<u64>(),
        (CLIENTS * REPEAT * PAYLOAD.len()) as u64,
        "{case}: bytes in the summary"
    );
    assert!(rows.iter().all(|&n| n == per_client), "{case}: {s}");
}

/// select with more clients than FD_SETSIZE leaves room for: the fds beyond are
/// refused with an error event, the run goes on.
fn select_beyond_fd_setsize(b: &str) {
    const MANY: usize = 1100;
    let case = format!("-b {b}, {MANY} clients");
    let (mut child, _dog, port) = listen_tcp(&case, |spec| {
        Fdwatch::new(monitor_args(b, &["--read=count"], "2", spec))
    });
    let mut evs = EventStream::new(&mut child, &case);
    let addr = format!("tcp:127.0.0.1:{port}");
    let n = MANY.to_string();
    let (sender, _sdog) = spawn(
        &case,
        Fdwatch::new(["send", &addr, "--connections", &n, "--data", PAYLOAD]),
    );
    let all = {
        evs.rest();
        evs.seen().to_vec()
    };
    let status = child.wait().expect("wait fdwatch");
    // Refused connections are closed by fdwatch: send may fail on them (EPIPE or
    // ECONNRESET); it only must end.
    let out = sender.wait_with_output().expect("wait send");
    let sent = exit_code(&case, &out);
    assert!(
        sent == 0 || sent == 2,
        "{case}: send: {sent} {}",
        stderr(&out)
    );
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: no crash, the idle timeout after events ends the run: {:?}",
        &all[all.len().saturating_sub(5)..]
    );
    let errors = of_kind(&all, "error");
    let accepts = of_kind(&all, "accept");
    println!(
        "{case}: {} accepted, {} refused, send exit {sent}",
        accepts.len(),
        errors.len()
    );
    assert!(
        !errors.is_empty(),
        "{case}: no error event for fds >= FD_SETSIZE"
    );
    for e in &errors {
        assert!(e["fd"].as_i64().is_some_and(|fd| fd >= 1024), "{case}: {e}");
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("FD_SETSIZE")),
            "{case}: {e}"
        );
    }
    for a in &accepts {
        assert!(a["fd"].as_i64().is_some_and(|fd| fd < 1024), "{case}: {a}");
    }
    assert_eq!(
        accepts.len() + errors.len(),
        MANY,
        "{case}: accepted + refused"
    );
    assert_eq!(
        of_kind(&all, "hangup").len(),
        accepts.len(),
        "{case}: hang-ups"
    );
    assert_eq!(
        kinds(&all[all.len() - 2..]),
        ["timeout", "summary"],
        "{case}"
    );
}

#[test]
fn thousand_clients() {
    // Each client end, in `send` and in fdwatch, is an fd.
    if !raise_nofile_to(2200) {
        println!("thousand_clients skipped: RLIMIT_NOFILE hard limit below 2200");
        return;
    }
    in_named_threads(
        [("poll", "poll"), ("epoll", "epoll"), ("select", "select")],
        |b| {
            if b == "select" {
                select_beyond_fd_setsize(b)
            } else {
                thousand_clients_on(b)
            }
        },
    );
}

// 9. send errors ----------------------------------------------------------------------

#[test]
fn send_errors() {
    let (_held, port) = closed_port();
    let refused = format!("tcp:127.0.0.1:{port}");
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (
            "send to a closed port",
            vec![&refused, "--data", "x"],
            "ECONNREFUSED",
        ),
        ("send to a path", vec!["/not/an/address"], "/not/an/address"),
        (
            "send with a bad escape",
            vec!["tcp:h:1", "--data", "\\q"],
            "\\q",
        ),
    ];
    for (case, args, names) in cases {
        let mut argv = vec!["send"];
        argv.extend(&args);
        let out = run(case, Fdwatch::new(&argv));
        assert_eq!(
            exit_code(case, &out),
            2,
            "{case}: {argv:?}: {}",
            stderr(&out)
        );
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{case}: one stderr line: {err:?}");
        assert!(err.starts_with("fdwatch: "), "{case}: {err:?}");
        assert!(
            err.contains(names),
            "{case}: should name {names:?}: {err:?}"
        );
        assert!(out.stdout.is_empty(), "{case}: stdout {:?}", out.stdout);
    }
}
