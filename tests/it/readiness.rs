//! Readiness on every backend against what the kernel sets, the table of
//! docs/kernel.md.
//!
//! Each case builds a static kernel state (pipe, FIFO, file, device, pty), runs fdwatch
//! once with TIMEOUT 0, and compares the JSON `ready` words with what the kernel sets:
//! one expectation for the poll family (poll, ppoll, epoll) and one for the select
//! family (select, pselect). `None` means "not ready": exit 1 and a timeout event.
//!
//! A case closes an end and expects the kernel to see it closed at once: a sibling
//! test's child, between its fork and its exec, would hide that by holding a copy, so
//! fdwatch starts once no such child is left (`common::settle_forks`).

use crate::common::*;

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::process::Output;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::libc;
use serde_json::Value;

/// Expected ready words; `None` = not ready (exit 1).
type Words = Option<&'static [&'static str]>;

const NOT_READY: Words = None;

/// The fds a case made: `pass` go to the child at the given number; `keep` only stay
/// open in the test (a FIFO writer, the other pty end) for the length of the run.
#[derive(Default)]
struct Fds {
    pass: Vec<(OwnedFd, RawFd)>,
    keep: Vec<OwnedFd>,
}

impl Fds {
    fn new() -> Fds {
        Fds::default()
    }

    fn pass(mut self, fd: OwnedFd, at: RawFd) -> Fds {
        self.pass.push((fd, at));
        self
    }

    fn keep(mut self, fd: OwnedFd) -> Fds {
        self.keep.push(fd);
        self
    }

    /// The fd passed at number `at`.
    fn at(&self, at: RawFd) -> &OwnedFd {
        &self
            .pass
            .iter()
            .find(|(_, n)| *n == at)
            .unwrap_or_else(|| panic!("no fd passed at {at}"))
            .0
    }
}

/// Which ready event belongs to the case: an inherited fd number, or (for a path that
/// fdwatch opens itself, under its own fd number) the only event of that kind.
#[derive(Clone, Copy, Debug)]
enum At {
    Fd(i64, &'static str),
    Opened(&'static str),
}

struct Ctx<'a> {
    backend: &'a str,
    case: &'a str,
    ev: &'a Value,
    fds: &'a Fds,
}

struct Case {
    name: &'static str,
    setup: fn(&TempDir) -> Fds,
    /// SPEC arguments; `$T` stands for the case's temporary directory.
    spec: &'static [&'static str],
    at: At,
    poll: Words,
    select: Words,
    /// Extra checks on the ready event (only run when the case expects one).
    check: Option<fn(&Ctx)>,
}

/// fdwatch reads nothing: the case's fds and the test only see the result.
fn run(backend: &str, spec: &[String], fds: &Fds) -> Output {
    let mut args = vec!["-b", backend, "--format", "json", "0"];
    args.extend(spec.iter().map(String::as_str));
    let mut cmd = Fdwatch::new(args);
    for (fd, at) in &fds.pass {
        cmd = cmd.fd(fd.as_fd(), *at);
    }
    cmd.run()
}

fn stdout_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs one case on one backend; returns a failure message instead of panicking so a
/// table reports every mismatch at once.
fn run_case(case: &Case, backend: &str) -> Result<(), String> {
    let dir = TempDir::new();
    let fds = (case.setup)(&dir);
    let t = dir.0.to_str().expect("temp dir is UTF-8");
    let spec: Vec<String> = case.spec.iter().map(|s| s.replace("$T", t)).collect();
    let out = run(backend, &spec, &fds);
    let text = stdout_text(&out);
    let tag = format!("{backend}: {} (spec {})", case.name, spec.join(" "));
    let code = code(&out);
    if code == 2 {
        return Err(format!("{tag}: exit 2: {}", stderr(&out)));
    }
    let evs = events(&out.stdout);
    let ready = of_kind(&evs, "ready");
    let want = if select_family(backend) {
        case.select
    } else {
        case.poll
    };
    let Some(want) = want else {
        if code != 1 || !ready.is_empty() || of_kind(&evs, "timeout").len() != 1 {
            return Err(format!(
                "{tag}: expected not ready (exit 1, a timeout event), got exit {code}:\n{text}"
            ));
        }
        return Ok(());
    };
    let ev = match case.at {
        At::Fd(fd, _) => {
            // ready_words asserts the fd is reported at most once.
            ready_words(&evs, fd);
            ready.iter().find(|e| e["fd"] == fd).copied()
        }
        At::Opened(kind) => {
            let hits: Vec<_> = ready.iter().filter(|e| e["kind"] == kind).collect();
            if hits.len() > 1 {
                return Err(format!(
                    "{tag}: {kind} reported {} times:\n{text}",
                    hits.len()
                ));
            }
            hits.first().map(|e| **e)
        }
    };
    let Some(ev) = ev else {
        return Err(format!(
            "{tag}: expected ready {want:?}, not reported (exit {code}):\n{text}"
        ));
    };
    let got = words(ev);
    let mut problems = Vec::new();
    if got != want {
        problems.push(format!("ready {got:?}, kernel says {want:?}"));
    }
    if code != 0 {
        problems.push(format!("exit {code}, expected 0"));
    }
    if ready.len() != 1 {
        problems.push(format!("{} ready events, expected 1", ready.len()));
    }
    // `kind` may list accepted alternatives, `a|b`; the first is what the object is.
    let kinds = match case.at {
        At::Fd(_, k) | At::Opened(k) => k,
    };
    if !kinds.split('|').any(|k| ev["kind"] == k) {
        problems.push(format!("kind {}, expected {kinds}", ev["kind"]));
    }
    let kind = kinds.split('|').next().unwrap_or(kinds);
    if ev["backend"] != backend {
        problems.push(format!("backend field {}", ev["backend"]));
    }
    // epoll_ctl refuses files, devices and directories (EPERM) and O_PATH fds (EBADF);
    // exactly those are checked with poll and say so.
    let refused = backend == "epoll" && matches!(kind, "file" | "chardev" | "dir" | "path");
    let fallback = ev.get("fallback");
    if refused && fallback != Some(&Value::from("poll")) {
        problems.push(format!("expected \"fallback\":\"poll\", got {fallback:?}"));
    }
    if !refused && fallback.is_some() {
        problems.push(format!("unexpected fallback {fallback:?}"));
    }
    if !problems.is_empty() {
        let line = ev.to_string();
        return Err(format!("{tag}: {}\n  event: {line}", problems.join("; ")));
    }
    if let Some(check) = case.check {
        let ctx = Ctx {
            backend,
            case: case.name,
            ev,
            fds: &fds,
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&ctx)))
            .map_err(|_| format!("{tag}: extra check failed (see panic above)\n  event: {ev}"))?;
    }
    Ok(())
}

fn run_table(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        for b in BACKENDS {
            if let Err(e) = run_case(case, b) {
                failures.push(e);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} runs differ from the kernel:\n{}",
        failures.len(),
        cases.len() * BACKENDS.len(),
        failures.join("\n")
    );
}

/// Waits (by polling, never sleeping) until `fd` is readable. pty input is processed by a
/// kernel worker, so an echo or a slave's write reaches the master asynchronously.
fn wait_readable(fd: &OwnedFd, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = poll_until(fd, libc::POLLIN, deadline, |r| r != 0);
    assert!(got.is_some(), "{why}: not readable within 5 s");
}

fn read_some(fd: &OwnedFd, n: usize) {
    let mut buf = vec![0u8; n];
    let got = nix::unistd::read(fd, &mut buf).expect("read");
    assert_eq!(got, n, "short read");
}

fn fifo_reader(dir: &TempDir) -> (OwnedFd, std::path::PathBuf) {
    let p = dir.fifo("f");
    let r = open(&p, OFlag::O_RDONLY | OFlag::O_NONBLOCK);
    (r, p)
}

fn queued_is(ctx: &Ctx, n: i64) {
    assert_eq!(ctx.ev["queued"], n, "{}: {}: queued", ctx.backend, ctx.case);
}

#[test]
fn pipes() {
    run_table(&[
        Case {
            name: "empty pipe, read end",
            setup: |_| {
                let (r, w) = pipe();
                Fds::new().pass(r, 3).keep(w)
            },
            spec: &["3r"],
            at: At::Fd(3, "pipe"),
            poll: NOT_READY,
            select: NOT_READY,
            check: None,
        },
        Case {
            name: "empty pipe, write end",
            setup: |_| {
                let (r, w) = pipe();
                Fds::new().pass(w, 4).keep(r)
            },
            spec: &["4w"],
            at: At::Fd(4, "pipe"),
            poll: Some(&["write"]),
            select: Some(&["write"]),
            check: None,
        },
        Case {
            name: "5 bytes in the pipe",
            setup: |_| {
                let (r, w) = pipe();
                write(&w, b"hello");
                Fds::new().pass(r, 3).keep(w)
            },
            spec: &["3r"],
            at: At::Fd(3, "pipe"),
            poll: Some(&["read"]),
            select: Some(&["read"]),
            check: Some(|ctx| {
                queued_is(ctx, 5);
                let tag = format!("{}: {}", ctx.backend, ctx.case);
                assert_eq!(ctx.ev["pipe_size"], 65536, "{tag}: pipe_size");
                assert_eq!(fionread(ctx.fds.at(3)), 5, "{tag}: fdwatch consumed data");
            }),
        },
        Case {
            name: "all writers closed, empty",
            setup: |_| {
                let (r, w) = pipe();
                drop(w);
                Fds::new().pass(r, 3)
            },
            spec: &["3r"],
            at: At::Fd(3, "pipe"),
            poll: Some(&["hangup"]),
            select: Some(&["read"]),
            check: None,
        },
        Case {
            name: "writers closed, 3 bytes left",
            setup: |_| {
                let (r, w) = pipe();
                write(&w, b"abc");
                drop(w);
                Fds::new().pass(r, 3)
            },
            spec: &["3r"],
            at: At::Fd(3, "pipe"),
            poll: Some(&["read", "hangup"]),
            select: Some(&["read"]),
            check: Some(|ctx| queued_is(ctx, 3)),
        },
        Case {
            name: "read end closed, write end for write",
            setup: |_| {
                let (r, w) = pipe();
                drop(r);
                Fds::new().pass(w, 4)
            },
            spec: &["4w"],
            at: At::Fd(4, "pipe"),
            poll: Some(&["write", "error"]),
            select: Some(&["write"]),
            check: None,
        },
        Case {
            name: "read end closed, write end for read and write",
            setup: |_| {
                let (r, w) = pipe();
                drop(r);
                Fds::new().pass(w, 4)
            },
            spec: &["4rw"],
            at: At::Fd(4, "pipe"),
            poll: Some(&["write", "error"]),
            select: Some(&["read", "write"]),
            check: None,
        },
    ]);
}

#[test]
fn fifos() {
    run_table(&[
        Case {
            name: "FIFO opened by path, no writer ever",
            setup: |dir| {
                dir.fifo("f");
                Fds::new()
            },
            spec: &["$T/f"],
            at: At::Opened("fifo"),
            poll: NOT_READY,
            select: NOT_READY,
            check: None,
        },
        Case {
            name: "FIFO read end, a writer wrote \"x\"",
            setup: |dir| {
                let (r, p) = fifo_reader(dir);
                let w = fifo_writer(&p, "the FIFO's writer");
                write(&w, b"x");
                Fds::new().pass(r, 3).keep(w)
            },
            spec: &["3r"],
            at: At::Fd(3, "fifo"),
            poll: Some(&["read"]),
            select: Some(&["read"]),
            check: Some(|ctx| queued_is(ctx, 1)),
        },
        Case {
            name: "FIFO read end, writer came and went, drained",
            setup: |dir| {
                let (r, p) = fifo_reader(dir);
                let w = fifo_writer(&p, "the FIFO's writer");
                write(&w, b"x");
                drop(w);
                read_some(&r, 1);
                Fds::new().pass(r, 3)
            },
            spec: &["3r"],
            at: At::Fd(3, "fifo"),
            poll: Some(&["hangup"]),
            select: Some(&["read"]),
            check: Some(|ctx| queued_is(ctx, 0)),
        },
        Case {
            name: "FIFO opened O_RDWR by path",
            setup: |dir| {
                dir.fifo("f");
                Fds::new()
            },
            spec: &["$T/f:rw"],
            at: At::Opened("fifo"),
            poll: Some(&["write"]),
            select: Some(&["write"]),
            check: None,
        },
    ]);
}

fn small_file(dir: &TempDir) -> Fds {
    std::fs::write(dir.path("file"), b"some data\n").expect("write the test file");
    Fds::new()
}

#[test]
fn files_and_devices() {
    run_table(&[
        Case {
            name: "regular file, read and write",
            setup: small_file,
            spec: &["$T/file:rw"],
            at: At::Opened("file"),
            poll: Some(&["read", "write"]),
            select: Some(&["read", "write"]),
            check: None,
        },
        Case {
            name: "regular file, read only",
            setup: small_file,
            spec: &["$T/file"],
            at: At::Opened("file"),
            poll: Some(&["read"]),
            select: Some(&["read"]),
            check: None,
        },
        Case {
            name: "/dev/null, read and write",
            setup: |_| Fds::new(),
            spec: &["/dev/null:rw"],
            at: At::Opened("chardev"),
            poll: Some(&["read", "write"]),
            select: Some(&["read", "write"]),
            check: None,
        },
        Case {
            name: "directory",
            setup: |_| Fds::new(),
            spec: &["$T"],
            at: At::Opened("dir"),
            poll: Some(&["read"]),
            select: Some(&["read"]),
            check: None,
        },
        // select marks an fd that fdget() rejects (O_PATH) ready in every requested set
        // (Linux >= 5.17, 68514dacf271); poll says POLLNVAL, and epoll refuses it (EBADF).
        Case {
            name: "O_PATH fd, read and write",
            setup: |dir| Fds::new().pass(open(&dir.0, OFlag::O_PATH), 3),
            spec: &["3rw"],
            at: At::Fd(3, "path"),
            poll: Some(&["invalid"]),
            select: Some(&["read", "write"]),
            check: None,
        },
        Case {
            name: "O_PATH fd, read, write and urgent",
            setup: |dir| Fds::new().pass(open(&dir.0, OFlag::O_PATH), 3),
            spec: &["3rwe"],
            at: At::Fd(3, "path"),
            poll: Some(&["invalid"]),
            select: Some(&["read", "write", "urgent"]),
            check: None,
        },
    ]);
}

#[test]
fn ptys() {
    run_table(&[
        Case {
            name: "fresh pty, master",
            setup: |_| {
                let p = pty();
                Fds::new().pass(p.master, 3).keep(p.slave)
            },
            spec: &["3rw"],
            at: At::Fd(3, "tty"),
            poll: Some(&["write"]),
            select: Some(&["write"]),
            check: None,
        },
        Case {
            name: "fresh pty, slave",
            setup: |_| {
                let p = pty();
                Fds::new().pass(p.slave, 4).keep(p.master)
            },
            spec: &["4rw"],
            at: At::Fd(4, "tty"),
            poll: Some(&["write"]),
            select: Some(&["write"]),
            check: None,
        },
        Case {
            name: "slave wrote \"hi\", master",
            setup: |_| {
                let p = pty();
                write(&p.slave, b"hi");
                wait_readable(&p.master, "master after the slave wrote");
                Fds::new().pass(p.master, 3).keep(p.slave)
            },
            spec: &["3r"],
            at: At::Fd(3, "tty"),
            poll: Some(&["read"]),
            select: Some(&["read"]),
            check: Some(|ctx| queued_is(ctx, 2)),
        },
        Case {
            name: "master wrote \"abc\" (no newline), canonical slave",
            setup: |_| {
                let p = pty();
                write(&p.master, b"abc");
                // The echo on the master shows the slave's line discipline has seen "abc".
                wait_readable(&p.master, "echo on the master");
                Fds::new().pass(p.slave, 4).keep(p.master)
            },
            spec: &["4r"],
            at: At::Fd(4, "tty"),
            poll: NOT_READY,
            select: NOT_READY,
            check: None,
        },
        Case {
            name: "master wrote \"abc\", master sees the echo",
            setup: |_| {
                let p = pty();
                write(&p.master, b"abc");
                wait_readable(&p.master, "echo on the master");
                Fds::new().pass(p.master, 3).keep(p.slave)
            },
            spec: &["3r"],
            at: At::Fd(3, "tty"),
            poll: Some(&["read"]),
            select: Some(&["read"]),
            check: Some(|ctx| queued_is(ctx, 3)),
        },
        Case {
            name: "slave closed, master",
            setup: |_| {
                let p = pty();
                drop(p.slave);
                Fds::new().pass(p.master, 3)
            },
            spec: &["3rw"],
            at: At::Fd(3, "tty"),
            poll: Some(&["write", "hangup"]),
            select: Some(&["read", "write"]),
            check: None,
        },
        Case {
            name: "master closed, slave",
            setup: |_| {
                let p = pty();
                drop(p.master);
                Fds::new().pass(p.slave, 4)
            },
            spec: &["4rw"],
            // A hung-up tty fails isatty() with EIO (not ENOTTY) and its /dev/pts node
            // is gone; it is still a tty, and epoll still accepts it.
            at: At::Fd(4, "tty"),
            poll: Some(&["read", "write", "hangup", "error"]),
            select: Some(&["read", "write"]),
            check: None,
        },
    ]);
}

/// `0r 0w` is fd 0 once; `3r 3w` and `3r 3w 3-3rw` are fd 3 once, interests merged.
#[test]
fn an_fd_named_twice_is_reported_once() {
    for b in BACKENDS {
        // stdin is /dev/null (Fdwatch's default): always readable and writable.
        let out = Fdwatch::new(["-b", b, "--format", "json", "0", "0r", "0w"]).run();
        let evs = events(&out.stdout);
        assert_eq!(code(&out), 0, "{b}: 0r 0w: {}", stderr(&out));
        assert_eq!(of_kind(&evs, "ready").len(), 1, "{b}: 0r 0w: {evs:?}");
        assert_eq!(
            ready_words(&evs, 0),
            Some(vec!["read".to_owned(), "write".to_owned()]),
            "{b}: 0r 0w"
        );

        for spec in [&["3r", "3w"][..], &["3r", "3w", "3-3rw"][..]] {
            // A socket with data queued: readable and writable at once.
            let (a, peer) = socketpair();
            write(&peer, b"x");
            let mut args = vec!["-b", b, "--format", "json", "0"];
            args.extend(spec);
            let out = Fdwatch::new(args).fd(a.as_fd(), 3).run();
            let tag = format!("{b}: {}", spec.join(" "));
            assert_eq!(code(&out), 0, "{tag}: {}", stderr(&out));
            let evs = events(&out.stdout);
            assert_eq!(of_kind(&evs, "ready").len(), 1, "{tag}: {evs:?}");
            assert_eq!(
                ready_words(&evs, 3),
                Some(vec!["read".to_owned(), "write".to_owned()]),
                "{tag}"
            );
            assert_eq!(fionread(&a), 1, "{tag}: fdwatch consumed data");
        }
    }
}

#[test]
fn several_ready_fds_get_one_event_each() {
    for b in BACKENDS {
        let (r, w) = pipe();
        write(&w, b"hello");
        let out = Fdwatch::new(["-b", b, "--format", "json", "0", "3r", "4w"])
            .fd(r.as_fd(), 3)
            .fd(w.as_fd(), 4)
            .run();
        assert_eq!(code(&out), 0, "{b}: pipe 3r 4w: {}", stderr(&out));
        let evs = events(&out.stdout);
        assert_eq!(of_kind(&evs, "ready").len(), 2, "{b}: pipe 3r 4w: {evs:?}");
        assert_eq!(
            ready_words(&evs, 3),
            Some(vec!["read".to_owned()]),
            "{b}: pipe 3r 4w, fd 3"
        );
        assert_eq!(
            ready_words(&evs, 4),
            Some(vec!["write".to_owned()]),
            "{b}: pipe 3r 4w, fd 4"
        );
        assert!(
            of_kind(&evs, "timeout").is_empty(),
            "{b}: pipe 3r 4w: timeout with fds ready"
        );
        let s = summary(&format!("{b}: pipe 3r 4w"), &evs);
        assert_eq!(s["ready_fds"], 2, "{b}: pipe 3r 4w: summary");
        assert_eq!(fionread(&r), 5, "{b}: pipe 3r 4w: fdwatch consumed data");
    }
}
