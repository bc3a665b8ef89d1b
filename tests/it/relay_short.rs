//! A short relayed connection waits for nothing it need not: a loopback connect is
//! answered without a wait, and the end of file follows the last bytes at once (a peer
//! woken by the bytes would otherwise often sleep again before the FIN comes, and
//! waking an idle CPU is slow): most of what a short connection costs on a loopback.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

use nix::sys::signal::Signal;

use crate::common::*;

/// The relay under strace (every call), listening; the test's child is strace.
struct Traced {
    child: std::process::Child,
    _dog: Watchdog,
    /// fdwatch's own pid (strace's child).
    pid: u32,
    evs: EventStream,
    port: u16,
}

fn start(case: &str, backend: &str, target: &str, trace: &std::path::Path) -> Traced {
    let ((mut child, dog, pid), port) = listen_on_free_port(
        case,
        |port| {
            let listen = format!("tcp-listen:127.0.0.1:{port}");
            let argv = ["relay", "-b", backend, "--format", "json", &listen, target];
            let f = Fdwatch::new(argv).under_strace(trace, &[trace_filter("all")]);
            let (mut child, dog) = spawn(case, f);
            let pid = child_named(case, &mut child, "fdwatch");
            (child, dog, pid)
        },
        |t| (&mut t.0, t.2),
    );
    let pid = pid.unwrap_or_else(|| panic!("{case}: fdwatch ended at once"));
    let evs = EventStream::new(&mut child, case);
    Traced {
        child,
        _dog: dog,
        pid,
        evs,
        port,
    }
}

/// The calls of the trace, without strace's pid column, one space between words
/// (strace aligns results in a column).
fn calls(trace: &std::path::Path) -> Vec<String> {
    trace_lines(trace)
        .iter()
        .map(|c| c.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// What a short exchange left: the relay's calls, and its fds for the client and the
/// target.
struct Exchange {
    case: String,
    calls: Vec<String>,
    client: String,
    target: String,
}

/// The client sends "hello" and half-closes while the relay is stopped: `early`, before
/// the relay looked at it at all (its target's connect then finds the bytes and the FIN
/// queued), else once the relay reported the connection (a later wait finds them).
fn exchange(backend: &str, early: bool) -> Exchange {
    let when = if early { "before" } else { "after" };
    let case = format!("relay -b {backend}, a client's bytes and end of file {when} the connect");
    let dir = TempDir::new();
    let trace = dir.0.join("trace");
    let server = TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let mut relay = start(&case, backend, &target, &trace);
    let mut client = None;
    if !early {
        client = Some(TcpStream::connect(("127.0.0.1", relay.port)).expect("connect"));
        relay.evs.until(&case, |e| e["event"] == "connect");
    }
    // Stopped, the relay cannot look before the client's bytes and FIN are all queued
    // (the kernel completes a client's connect meanwhile).
    stop(relay.pid, &case);
    let mut client =
        client.unwrap_or_else(|| TcpStream::connect(("127.0.0.1", relay.port)).expect("connect"));
    client.write_all(b"hello").expect("send");
    client.shutdown(Shutdown::Write).expect("SHUT_WR");
    resume(relay.pid);
    let (mut upstream, _) = server.accept().expect("the relay's connection");
    let mut got = Vec::new();
    upstream
        .read_to_end(&mut got)
        .expect("the bytes, then end of file");
    assert_eq!(got, b"hello", "{case}");
    drop(upstream);
    relay.evs.until(&case, |e| e["event"] == "close");
    signal_pid(relay.pid, Signal::SIGTERM);
    let _ = relay.child.wait();
    let calls = calls(&trace);
    let fd_of = |call: &str| {
        let c = calls
            .iter()
            .find(|c| c.starts_with(call) && c.contains("\"hello\""))
            .unwrap_or_else(|| panic!("{case}: no {call}..) of the bytes: {calls:#?}"));
        c[call.len()..]
            .split(',')
            .next()
            .expect("the fd")
            .to_owned()
    };
    let (client, target) = (fd_of("recvfrom("), fd_of("sendto("));
    Exchange {
        case,
        calls,
        client,
        target,
    }
}

impl Exchange {
    /// Where the first call `name` on the target's fd is in the calls.
    fn on_target(&self, name: &str) -> usize {
        let start = format!("{name}({},", self.target);
        self.calls
            .iter()
            .position(|c| c.starts_with(&start))
            .unwrap_or_else(|| panic!("{}: no {start}..): {:#?}", self.case, self.calls))
    }
}

fn fin_right_after_bytes(backend: &str, early: bool) {
    let ex = exchange(backend, early);
    let sent = ex.on_target("sendto");
    let Exchange {
        case,
        calls,
        client,
        target,
    } = ex;
    assert_eq!(
        calls.get(sent + 1).map(String::as_str).unwrap_or(""),
        format!("shutdown({target}, SHUT_WR) = 0"),
        "{case}: the end of file right after the bytes: {:#?}",
        &calls[sent.saturating_sub(6)..(sent + 4).min(calls.len())]
    );
    // A readiness with RDHUP and without PRI (the wait's, or the poll at the connect)
    // says the FIN is queued behind the bytes: no read of the client is made to learn
    // of the end. select says no more than "readable": it takes a peek.
    if !early && select_family(backend) {
        return;
    }
    let peeks: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with(&format!("recvfrom({client},")) && c.contains("MSG_PEEK"))
        .collect();
    assert!(
        peeks.is_empty(),
        "{case}: reads that only learn the end: {peeks:#?}"
    );
}

#[test]
fn the_end_of_file_follows_the_last_bytes_at_once() {
    if !have("strace", "the_end_of_file_follows_the_last_bytes_at_once") {
        return;
    }
    for b in ["epoll", "poll", "select"] {
        for early in [true, false] {
            fin_right_after_bytes(b, early);
        }
    }
}

/// The target listens on the loopback: its connect is over by the time the call
/// returns, so the relay takes the answer with a poll of its own (timeout 0) and moves
/// the client's bytes on, where a wait would first have said "writable".
#[test]
fn a_loopback_connect_is_answered_without_a_wait() {
    if !have("strace", "a_loopback_connect_is_answered_without_a_wait") {
        return;
    }
    for b in ["epoll", "poll", "select"] {
        let ex = exchange(b, true);
        let (connect, sent) = (ex.on_target("connect"), ex.on_target("sendto"));
        let Exchange { case, calls, .. } = ex;
        // A wait: any of the backends' calls, or a poll that may block (the relay's
        // own probes pass a timeout of 0).
        let waits: Vec<&String> = calls[connect..sent]
            .iter()
            .filter(|c| {
                [
                    "epoll_pwait(",
                    "epoll_wait(",
                    "select(",
                    "pselect6(",
                    "ppoll(",
                ]
                .iter()
                .any(|w| c.starts_with(w))
                    || (c.starts_with("poll(") && !c.contains("], 1, 0)"))
            })
            .collect();
        assert!(
            waits.is_empty(),
            "{case}: waits between the connect and the bytes: {waits:#?}"
        );
    }
}
