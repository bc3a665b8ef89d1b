//! `--until COND`: a monitor run ends at the first event matching a condition, and the
//! exit status says which (10 read ... 18 accept). Each case first gives fdwatch an
//! event that does not match (where there is one), so a run that ended at any event
//! would fail, then the one that does; a comma list ends at any of its conditions (the
//! first listed deciding when one event matches several); a condition the specs cannot
//! give is a usage error (exit 2, one line).

use crate::common::*;

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::process::Output;

use nix::libc;
use nix::sys::signal::{Signal, kill};
use serde_json::Value;

/// `fdwatch -m --format json --until COND ARGS...`.
fn until(cond: &str, args: &[&str]) -> Fdwatch {
    let mut argv = vec!["-m", "--format", "json", "--until", cond];
    argv.extend_from_slice(args);
    Fdwatch::new(argv)
}

/// Runs `f`; each of `steps` runs once fdwatch blocks in its wait again, and fdwatch
/// must report it with the event it names (a step whose event does not match `cond`
/// leaves the run going: the next step finds fdwatch waiting; "" for the last one,
/// whose event the end checks). Returns the output,
/// checked for the exit status `status` and a last event (before the summary)
/// matching `cond`.
fn ends_at(
    case: &str,
    f: Fdwatch,
    steps: Vec<Step<'_>>,
    cond: &str,
    status: i32,
) -> (Output, Vec<Value>) {
    let (mut child, _dog) = spawn(case, f);
    let pid = child.id();
    let mut stream = EventStream::new(&mut child, case);
    for (want, step) in steps {
        blocked(pid, case);
        step(pid);
        if !want.is_empty() {
            stream.next_named(want);
        }
    }
    let evs = stream.all();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(
        out.status.code(),
        Some(status),
        "{case}: --until {cond} gives {status}: {}; {evs:?}",
        stderr(&out)
    );
    let last = evs
        .iter()
        .rev()
        .find(|e| e["event"] != "summary")
        .unwrap_or_else(|| panic!("{case}: no event: {evs:?}"));
    let matches = match cond {
        "eof" | "signal" | "accept" | "urgent" if last["event"] == cond => true,
        "hangup" if last["event"] == "hangup" => true,
        "error" if last["event"] == "error" => true,
        _ => last["event"] == "ready" && words(last).iter().any(|w| w == cond),
    };
    assert!(
        matches,
        "{case}: the run ended at {last}, not at {cond}: {evs:?}"
    );
    (out, evs)
}

/// What the test does next, and the event fdwatch reports for it.
type Step<'a> = (&'static str, Box<dyn FnOnce(u32) + 'a>);

fn then<'a>(event: &'static str, f: impl FnOnce() + 'a) -> Step<'a> {
    (event, Box::new(move |_| f()))
}

#[test]
fn read_on_every_backend() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b} --until read");
        let (r, w) = pipe();
        ends_at(
            &case,
            until("read", &["-b", b, "5", "3r"]).fd(r.as_fd(), 3),
            vec![then("ready", || write(&w, b"x"))],
            "read",
            10,
        );
    });
}

#[test]
fn write_ends_at_once() {
    let (_r, w) = pipe();
    // The first event: the pipe's write end has room.
    ends_at(
        "--until write",
        until("write", &["5", "3w"]).fd(w.as_fd(), 3),
        vec![],
        "write",
        11,
    );
}

#[test]
fn urgent_after_normal_data() {
    each_backend(&["poll", "epoll", "uring"], |b| {
        let case = format!("-b {b} --until urgent");
        let (peer, mine) = tcp_pair();
        let (_, evs) = ends_at(
            &case,
            until("urgent", &["-b", b, "--read=text", "5", "3re"]).fd(mine.as_fd(), 3),
            vec![
                then("data", || (&peer).write_all(b"hell").expect("send")),
                then("urgent", || send_oob(&peer, b"o")),
            ],
            "urgent",
            12,
        );
        // The peer is still open: the urgent byte alone ended the run.
        assert!(of_kind(&evs, "eof").is_empty(), "{case}: {evs:?}");
        drop(peer);
    });
}

#[test]
fn hangup_after_a_read() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b} --until hangup");
        let (r, w) = pipe();
        let w2 = w.try_clone().expect("dup");
        ends_at(
            &case,
            until("hangup", &["-b", b, "--read", "5", "3r"]).fd(r.as_fd(), 3),
            vec![
                then("data", move || write(&w2, b"x")),
                then("", move || drop(w)),
            ],
            "hangup",
            13,
        );
    });
}

#[test]
fn rdhup_when_the_peer_shuts_down_writing() {
    each_backend(&["poll", "ppoll", "epoll", "uring"], |b| {
        let case = format!("-b {b} --until rdhup");
        let (peer, mine) = tcp_pair();
        ends_at(
            &case,
            until("rdhup", &["-b", b, "5", "3r"]).fd(mine.as_fd(), 3),
            vec![
                then("ready", || (&peer).write_all(b"x").expect("send")),
                then("ready", || {
                    peer.shutdown(Shutdown::Write).expect("shutdown")
                }),
            ],
            "rdhup",
            14,
        );
    });
}

#[test]
fn error_on_a_pipe_without_readers() {
    let (r, w) = pipe();
    drop(r);
    ends_at(
        "--until error",
        until("error", &["5", "3w"]).fd(w.as_fd(), 3),
        vec![],
        "error",
        15,
    );
}

#[test]
fn eof_after_data() {
    let (r, w) = pipe();
    let w2 = w.try_clone().expect("dup");
    ends_at(
        "--until eof",
        until("eof", &["--read", "5", "3r"]).fd(r.as_fd(), 3),
        vec![
            then("data", move || write(&w2, b"ab")),
            then("eof", move || drop(w)),
        ],
        "eof",
        16,
    );
}

#[test]
fn signal_while_watching() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b} --until signal");
        let (r, w) = pipe();
        let (_, evs) = ends_at(
            &case,
            until(
                "signal",
                &["-b", b, "--signals", "USR1", "--read", "5", "3r"],
            )
            .fd(r.as_fd(), 3),
            vec![
                then("data", || write(&w, b"x")),
                (
                    "signal",
                    Box::new(|pid| {
                        kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGUSR1).expect("kill")
                    }),
                ),
            ],
            "signal",
            17,
        );
        let sig = of_kind(&evs, "signal");
        assert_eq!(sig.len(), 1, "{case}: {evs:?}");
        assert_eq!(sig[0]["number"], libc::SIGUSR1, "{case}: {evs:?}");
    });
}

#[test]
fn accept_on_a_listener() {
    let case = "--until accept";
    let (child, _dog, port) = listen_tcp(case, |spec| until("accept", &["5", spec]));
    let _client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(out.status.code(), Some(18), "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    assert_eq!(of_kind(&evs, "accept").len(), 1, "{case}: {evs:?}");
}

#[test]
fn idle_timeout_still_ends_the_run() {
    let (r, _w) = pipe();
    let out = run(
        "--until read, nothing comes",
        until("read", &["0.2", "3r"]).fd(r.as_fd(), 3),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// A comma list ends the run at the first event matching any of its conditions, the
/// status naming the one that matched: data (matching none) first, then an urgent
/// byte, or in a second run the peer's close (end of file).
#[test]
fn a_comma_list_ends_at_any_of_its_conditions() {
    each_backend(&["poll", "epoll", "uring"], |b| {
        for (last, status) in [("urgent", 12), ("eof", 16)] {
            let case = format!("-b {b} --until eof,urgent, ending at {last}");
            let (peer, mine) = tcp_pair();
            let end: Step<'_> = if last == "urgent" {
                then("urgent", || send_oob(&peer, b"u"))
            } else {
                then("", || {
                    peer.shutdown(Shutdown::Both).expect("shutdown");
                })
            };
            let (_, evs) = ends_at(
                &case,
                until("eof,urgent", &["-b", b, "--read=text", "5", "3re"]).fd(mine.as_fd(), 3),
                vec![
                    then("data", || (&peer).write_all(b"data").expect("send")),
                    end,
                ],
                last,
                status,
            );
            let other = if last == "urgent" { "eof" } else { "urgent" };
            assert!(of_kind(&evs, other).is_empty(), "{case}: {evs:?}");
        }
    });
}

/// One event matching several conditions of the list: the first listed decides the
/// status. A pipe written and closed while fdwatch is stopped gives one `ready` event
/// with both `read` and `hangup`.
#[test]
fn the_first_listed_condition_decides() {
    for (list, first, status) in [("hangup,read", "hangup", 13), ("read,hangup", "read", 10)] {
        let case = format!("--until {list} on a ready read hangup");
        let (r, w) = pipe();
        let w = std::cell::RefCell::new(Some(w));
        let (_, evs) = ends_at(
            &case,
            until(list, &["5", "3r"]).fd(r.as_fd(), 3),
            vec![(
                "",
                Box::new(|pid| {
                    stop(pid, "--until, fdwatch stopped");
                    let w = w.borrow_mut().take().expect("the write end");
                    write(&w, b"last words");
                    drop(w);
                    resume(pid);
                }),
            )],
            first,
            status,
        );
        let ready = of_kind(&evs, "ready");
        assert_eq!(ready.len(), 1, "{case}: {evs:?}");
        assert_eq!(words(ready[0]), ["read", "hangup"], "{case}: {}", ready[0]);
    }
}

#[test]
fn conditions_that_cannot_happen_are_usage_errors() {
    let (r, w) = pipe();
    let cases: &[(&[&str], &str)] = &[
        (&["--until", "accept", "1", "3r"], "no spec listens"),
        (&["--until", "eof", "1", "3r"], "only seen with --read"),
        (
            &["--until", "write", "1", "3r"],
            "no spec is watched for writing",
        ),
        (
            &["--until", "read", "1", "4w"],
            "no spec is watched for reading",
        ),
        (&["--until", "urgent", "1", "3r"], "no socket"),
        (
            &["-b", "select", "--until", "rdhup", "1", "3r"],
            "never report rdhup",
        ),
        (&["--until", "rdhup", "1", "3r"], "only a socket"),
        (&["--until", "nonsense", "1", "3r"], "nonsense"),
        // Each condition of a list is checked.
        (&["--until", "read,accept", "1", "3r"], "no spec listens"),
        (&["--until", "read,nonsense", "1", "3r"], "nonsense"),
    ];
    for (args, why) in cases {
        let case = format!("fdwatch -m {}", args.join(" "));
        let mut argv = vec!["-m"];
        argv.extend_from_slice(args);
        let out = run(&case, Fdwatch::new(argv).fd(r.as_fd(), 3).fd(w.as_fd(), 4));
        assert_eq!(out.status.code(), Some(2), "{case}: {}", stderr(&out));
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("tip:")).collect();
        assert_eq!(lines.len(), 1, "{case}: one line: {err:?}");
        assert!(lines[0].contains(why), "{case}: {err:?}");
        assert!(out.stdout.is_empty(), "{case}: no events");
    }
}

/// What the command line alone rules out (rdhup under select, eof without --read) is
/// refused before any SPEC is opened: no connection reaches the listener a `tcp:` spec
/// names, and a path that does not exist is not what the line is about.
#[test]
fn impossible_conditions_are_refused_before_opening() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let tcp = format!(
        "tcp:127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let dir = TempDir::new();
    let missing = dir.path("missing");
    let missing = missing.to_str().expect("UTF-8 temp path");
    let cases: &[(&[&str], &str)] = &[
        (
            &["-b", "select", "--until", "rdhup", "1", &tcp],
            "--until rdhup: cannot happen here: select and pselect never report rdhup",
        ),
        (
            &["--until", "eof", "1", &tcp],
            "--until eof: cannot happen here: end of file is only seen with --read",
        ),
        (
            &["--until", "eof", "1", missing],
            "--until eof: cannot happen here: end of file is only seen with --read",
        ),
    ];
    for (args, line) in cases {
        let case = format!("fdwatch -m {}", args.join(" "));
        let mut argv = vec!["-m"];
        argv.extend_from_slice(args);
        let out = run(&case, Fdwatch::new(argv));
        assert_one_line_error(&case, &out, &[line]);
        // A loopback connect completes in the kernel at once: had fdwatch connected,
        // the connection would be queued here.
        match listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("{case}: the spec was opened before the refusal: {other:?}"),
        }
    }
}
