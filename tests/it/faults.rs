//! Faults: how fdwatch ends when a kernel object fails under it, and
//! that no exit path leaves an inherited fd's status flags changed.
//!
//! A. The fault table, one test per row: a pipe writer killed mid-watch; a pipe reader
//! gone under a watched write end; a FIFO unlinked while watched; a pty slave closed
//! under a watched master (its read is EIO, docs/kernel.md); a TCP reset mid-read; a
//! closed stdout mid-run; /dev/full as stdout; a hang-up of the controlling terminal.
//! B. Every exit path (0, 1, 2, SIGINT, closed stdout, the idle timeout, `--count`) on
//! poll and epoll, without and with `--read`, `--peek`, `--tee`, and with O_NONBLOCK
//! clear and set: F_GETFL of every inherited fd is the same before and after.
//!
//! Everything is a real kernel object driven through the real binary. Synchronization
//! is on fdwatch's JSON lines, `wait_blocked`, /proc state polled every millisecond
//! under a deadline, or process exit; never on sleeps. Every child ends by itself (its
//! idle timeout at the latest) and runs under a pidfd watchdog.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::{Signal, kill};
use serde_json::Value;

// Helpers ------------------------------------------------------------------------------

/// The fields of /proc/PID/stat after the command name: state, ppid, pgrp, session,
/// tty_nr, ...
fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Fails naming `what` when its status flags differ from `before`.
fn same_flags(case: &str, what: &str, fd: impl AsFd, before: OFlag) {
    let after = status_flags(fd);
    assert_eq!(
        after, before,
        "{case}: status flags of the inherited {what} changed: {before:?} -> {after:?}"
    );
}

/// After fdwatch's stdout reader is gone: writes a byte to `w` (watched by fdwatch) every
/// 20 ms until fdwatch exits (polled every millisecond, 10 s at most), and returns how it
/// ended. One write is not enough: while another test's child sits between fork and exec
/// it briefly holds a copy of the closed read end, so fdwatch's first write after it may
/// still succeed; a later one fails.
fn feed_until_exit(case: &str, child: &mut Child, w: impl AsFd) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(10);
    for i in 0u64.. {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return st;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: fdwatch still runs 10 s after its stdout was closed"
        );
        if i % 20 == 0 {
            write(&w, b"y");
        }
        thread::sleep(Duration::from_millis(1));
    }
    unreachable!()
}

/// The bytes of the data events for `fd`, summed.
fn data_bytes(evs: &[Value], fd: &Value) -> u64 {
    evs.iter()
        .filter(|e| e["event"] == "data" && &e["fd"] == fd)
        .map(|e| e["bytes"].as_u64().expect("data bytes"))
        .sum()
}

// A1. A pipe's writer, held by another process, is killed mid-watch ----------------------

fn writer_killed(b: &str) {
    let case = format!("-b {b}, the pipe writer's process killed");
    let (r, w) = pipe();
    let before = status_flags(&r);
    // `sleep` holds the only write end (as its stdout); the test's copy is closed when
    // the Command, a temporary, drops.
    let mut holder = Command::new("sleep")
        .arg("60")
        .stdin(Stdio::null())
        .stdout(Stdio::from(w))
        .stderr(Stdio::null())
        .counted_spawn()
        .expect("spawn sleep");
    let holder_dog = Watchdog::new(&holder, WATCHDOG, &format!("{case}: holder"));
    let (mut child, _dog) = spawn(
        &case,
        Fdwatch::new(["-m", "-b", b, "--format", "json", "5", "3r"]).fd(r.as_fd(), 3),
    );
    let evs = EventStream::new(&mut child, &case);
    blocked(child.id(), &case);
    holder.kill().expect("kill the holder");
    holder.wait().expect("reap the holder");
    drop(holder_dog);
    let all = evs.all();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(
        exit_code(&case, &out),
        0,
        "{case}: nothing left to watch is a normal end: {}; {all:?}",
        stderr(&out)
    );
    assert!(stderr(&out).is_empty(), "{case}: stderr {}", stderr(&out));
    assert_eq!(
        kinds(&all),
        ["ready", "hangup", "summary"],
        "{case}: {all:?}"
    );
    assert_eq!(all[0]["fd"], 3, "{case}: {all:?}");
    let want: &[&str] = if select_family(b) {
        &["read"]
    } else {
        &["hangup"]
    };
    assert_eq!(words(&all[0]), want, "{case}: {all:?}");
    assert_eq!(all[1]["fd"], 3, "{case}: {all:?}");
    assert_eq!(all[1]["action"], "remove", "{case}: {all:?}");
    same_flags(&case, "pipe read end (fd 3)", &r, before);
}

#[test]
fn writer_process_killed_mid_watch() {
    each_backend(&BACKENDS, writer_killed);
}

// A2. The pipe's reader vanishes under a watched write end ---------------------------------

fn reader_vanishes(b: &str) {
    let case = format!("-b {b}, -m 3w, the reader closed");
    let (r, w) = pipe();
    let before = status_flags(&w);
    let (mut child, _dog) = spawn(
        &case,
        Fdwatch::new(["-m", "-b", b, "--format", "json", "5", "3w"]).fd(w.as_fd(), 3),
    );
    let mut evs = EventStream::new(&mut child, &case);
    let first = evs.next_named("ready");
    assert_eq!(first["fd"], 3, "{case}: {first}");
    assert_eq!(words(&first), ["write"], "{case}: {first}");
    blocked(child.id(), &case);
    drop(r);
    let rest = evs.rest();
    let all = evs.seen().to_vec();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{case}: want exit 0 (not a SIGPIPE death), got {}; stderr {}; {all:?}",
        out.status,
        stderr(&out)
    );
    assert!(stderr(&out).is_empty(), "{case}: stderr {}", stderr(&out));
    // poll and epoll see POLLOUT|POLLERR (a new `ready`), then the fd is removed; the
    // select family still says only "writable" (no change), and the removal follows.
    if select_family(b) {
        assert_eq!(kinds(&rest), ["hangup", "summary"], "{case}: {all:?}");
    } else {
        assert_eq!(
            kinds(&rest),
            ["ready", "hangup", "summary"],
            "{case}: {all:?}"
        );
        assert_eq!(words(&rest[0]), ["write", "error"], "{case}: {all:?}");
    }
    let hup = &rest[rest.len() - 2];
    assert_eq!(hup["fd"], 3, "{case}: {hup}");
    assert_eq!(hup["action"], "remove", "{case}: {hup}");
    same_flags(&case, "pipe write end (fd 3)", &w, before);
}

#[test]
fn pipe_reader_vanishes_under_a_watched_write_end() {
    each_backend(&BACKENDS, reader_vanishes);
}

// A3. A FIFO unlinked while watched ---------------------------------------------------------

fn fifo_unlinked(b: &str) {
    let case = format!("-b {b}, FIFO unlinked while watched");
    let dir = TempDir::new();
    let fifo = dir.fifo("jobs");
    let path = fifo.to_str().expect("UTF-8 temp path").to_owned();
    // An inherited pipe watched beside it (its writer stays): its flags must survive.
    let (r3, w3) = pipe();
    let before = status_flags(&r3);
    let (mut child, _dog) = spawn(
        &case,
        Fdwatch::new([
            "-m",
            "-b",
            b,
            "--read=text",
            "--format",
            "json",
            "5",
            path.as_str(),
            "3r",
        ])
        .fd(r3.as_fd(), 3),
    );
    let mut evs = EventStream::new(&mut child, &case);
    blocked(child.id(), &case);
    // A writer that already has the FIFO open; then the name goes.
    let w = fifo_writer(&fifo, &case);
    std::fs::remove_file(&fifo).expect("unlink the FIFO");
    write(&w, b"hi\n");
    drop(w);
    // The open FIFO lives on: its data, end of file and hang-up are reported; the
    // reopen of the deleted path fails, which ends that FIFO (an `error` event, ENOENT)
    // and nothing else.
    let fifo_evs = evs.until("the failed reopen", is("error"));
    assert!(
        !fifo_evs.is_empty() && fifo_evs[0]["event"] == "ready",
        "{case}: a ready event first: {fifo_evs:?}"
    );
    let fifo_fd = fifo_evs[0]["fd"].clone();
    assert_eq!(
        fifo_evs[0]["what"],
        format!("fifo {path}"),
        "{case}: {fifo_evs:?}"
    );
    for e in &fifo_evs {
        assert_eq!(e["fd"], fifo_fd, "{case}: an event for another fd: {e}");
    }
    let no_ready: Vec<Value> = fifo_evs
        .iter()
        .filter(|e| e["event"] != "ready")
        .cloned()
        .collect();
    assert_eq!(
        kinds(&no_ready),
        ["data", "eof", "hangup", "error"],
        "{case}: {fifo_evs:?}"
    );
    assert_eq!(
        data_text(&fifo_evs, &fifo_fd),
        "hi\n",
        "{case}: {fifo_evs:?}"
    );
    assert_eq!(no_ready[1]["total"], 3, "{case}: {fifo_evs:?}");
    assert_eq!(no_ready[2]["action"], "reopen", "{case}: {fifo_evs:?}");
    assert_eq!(no_ready[3]["errno"], "ENOENT", "{case}: {fifo_evs:?}");
    // fd 3 is still watched: its data comes, then its hang-up ends the run (exit 0).
    write(&w3, b"x");
    evs.until("fd 3's data after the FIFO ended", |e| {
        e["event"] == "data" && e["fd"] == 3
    });
    drop(w3);
    let rest = evs.all();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert!(
        rest.iter().any(|e| e["event"] == "hangup" && e["fd"] == 3),
        "{case}: {rest:?}"
    );
    last_summary(&case, &rest);
    assert_eq!(
        exit_code(&case, &out),
        0,
        "{case}: stderr {}; {rest:?}",
        stderr(&out)
    );
    assert_eq!(stderr(&out), "", "{case}");
    same_flags(&case, "pipe read end (fd 3)", &r3, before);
}

#[test]
fn fifo_unlinked_while_watched() {
    each_backend(&BACKENDS, fifo_unlinked);
}

// A4. A pty slave closed under a watched master (the master reads EIO) ---------------------

#[derive(Clone, Copy)]
enum SlaveEnd {
    /// The slave closes with nothing written.
    Idle,
    /// "hello\n" written and reported as data, then the slave closes.
    AfterData,
    /// "hello\n" written and the slave closed at once (data and hang-up together).
    WithData,
}

fn pty_slave_closed(b: &str, how: SlaveEnd) {
    let tag = match how {
        SlaveEnd::Idle => "nothing written",
        SlaveEnd::AfterData => "after the data was read",
        SlaveEnd::WithData => "right after writing",
    };
    let case = format!("-b {b}, pty slave closed {tag}");
    let p = pty();
    let before = status_flags(&p.master);
    let (mut child, _dog) = spawn(
        &case,
        Fdwatch::new(["-m", "-b", b, "--read=text", "--format", "json", "3", "3r"])
            .fd(p.master.as_fd(), 3),
    );
    let mut evs = EventStream::new(&mut child, &case);
    blocked(child.id(), &case);
    let slave = p.slave;
    // The slave's output reaches the master with ONLCR: "\n" becomes "\r\n".
    let want_text = match how {
        SlaveEnd::Idle => "",
        SlaveEnd::AfterData | SlaveEnd::WithData => "hello\r\n",
    };
    match how {
        SlaveEnd::Idle => drop(slave),
        SlaveEnd::AfterData => {
            write(&slave, b"hello\n");
            evs.until("the data written to the slave", |e| {
                e["event"] == "data" && e["text"].as_str().is_some_and(|t| t.ends_with('\n'))
            });
            blocked(child.id(), &case);
            drop(slave);
        }
        SlaveEnd::WithData => {
            write(&slave, b"hello\n");
            drop(slave);
        }
    }
    let all = evs.all();
    let out = child.wait_with_output().expect("wait fdwatch");
    let fd3 = Value::from(3);
    // Everything the slave wrote is read; then the master's EIO is its end of file, a
    // hang-up (not a failure): the fd leaves the set and, nothing left, the run ends.
    // Every problem is collected, so one run shows them all.
    let mut bad = Vec::new();
    let text = data_text(&all, &fd3);
    if text != want_text {
        bad.push(format!(
            "data read from the master: {text:?}, want {want_text:?}"
        ));
    }
    let errors = of_kind(&all, "error");
    if !errors.is_empty() {
        bad.push(format!(
            "EIO on a master whose slave closed is a hang-up, not an error: {errors:?}"
        ));
    }
    let hup = of_kind(&all, "hangup");
    if hup.len() != 1 || hup[0]["fd"] != 3 || hup[0]["action"] != "remove" {
        bad.push(format!("want one hangup, fd 3, action remove: got {hup:?}"));
    }
    if !of_kind(&all, "timeout").is_empty() {
        bad.push("the hang-up should end the run, not the 3 s idle timeout".to_owned());
    }
    match out.status.code() {
        Some(0) => {}
        code => bad.push(format!(
            "want exit 0 (all fds gone), got {code:?} ({})",
            out.status
        )),
    }
    if !out.stderr.is_empty() {
        bad.push(format!("stderr {:?}", stderr(&out)));
    }
    let s = last_summary(&case, &all);
    let waits = s["waits"].as_u64().unwrap_or(u64::MAX);
    if waits > 100 {
        bad.push(format!("busy loop: {waits} waits in {} s", s["elapsed"]));
    }
    let after = status_flags(&p.master);
    if after != before {
        bad.push(format!(
            "pty master's status flags changed: {before:?} -> {after:?}"
        ));
    }
    assert!(
        bad.is_empty(),
        "{case}:\n  {}\n  events: {all:?}",
        bad.join("\n  ")
    );
}

#[test]
fn pty_master_eio_after_slave_closes_is_a_hangup() {
    let mut cases = Vec::new();
    for b in BACKENDS {
        for (tag, how) in [
            ("idle", SlaveEnd::Idle),
            ("after-data", SlaveEnd::AfterData),
            ("with-data", SlaveEnd::WithData),
        ] {
            cases.push((format!("{b}-{tag}"), (b, how)));
        }
    }
    in_named_threads(cases.iter().map(|(n, c)| (n.as_str(), *c)), |(b, how)| {
        pty_slave_closed(b, how)
    });
}

// A5. A TCP reset mid-read -------------------------------------------------------------------

fn tcp_reset(b: &str, before_accept: bool) {
    let tag = if before_accept {
        "data and RST before fdwatch accepts"
    } else {
        "RST after the data was read"
    };
    let case = format!("-b {b}, tcp-listen, {tag}");
    // An inherited pipe watched beside the listener: its flags must survive.
    let (r3, w3) = pipe();
    let before = status_flags(&r3);
    let (mut child, _dog, port) = listen_tcp(&case, |spec| {
        Fdwatch::new([
            "-m",
            "-b",
            b,
            "--read=count",
            "--format",
            "json",
            "2",
            spec,
            "3r",
        ])
        .fd(r3.as_fd(), 3)
    });
    let pid = child.id();
    let mut evs = EventStream::new(&mut child, &case);

    let client_addr;
    if before_accept {
        // Stopped, fdwatch cannot accept until the connection is already reset with its
        // 5 bytes queued: deterministically "data, then RST" on a not yet accepted socket.
        stop(pid, &case);
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        client_addr = c.local_addr().expect("client addr").to_string();
        c.write_all(b"hello").expect("send");
        reset_close(c);
        resume(pid);
    } else {
        let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        client_addr = c.local_addr().expect("client addr").to_string();
        c.write_all(b"hello").expect("send");
        evs.until("the 5 bytes", |e| e["event"] == "data" && e["total"] == 5);
        blocked(pid, &case);
        reset_close(c);
    }
    // After the data was read the accept is behind us; otherwise it comes next.
    let seen = evs.seen().iter().find(|e| e["event"] == "accept").cloned();
    let acc = match seen {
        Some(a) => a,
        None => evs.next_named("accept"),
    };
    let fd = acc["fd"].clone();
    let got = evs.until("the reset connection's hang-up", |e| {
        e["event"] == "hangup" && e["fd"] == fd
    });
    let conn: Vec<Value> = evs
        .seen()
        .iter()
        .filter(|e| e["fd"] == fd && e["event"] != "accept")
        .cloned()
        .collect();
    // The bytes first, then the reset as an ECONNRESET error and/or the hang-up. The
    // order and the peer address are checked at the end, after the run's ending.
    let mut bad = Vec::new();
    assert_eq!(data_bytes(&conn, &fd), 5, "{case}: {conn:?}");
    let last_data = conn.iter().rposition(|e| e["event"] == "data");
    let first_error = conn.iter().position(|e| e["event"] == "error");
    if let (Some(d), Some(e)) = (last_data, first_error)
        && e < d
    {
        bad.push(format!(
            "the bytes were read before the reset, but the error is reported first: {conn:?}"
        ));
    }
    for e in &conn {
        let k = e["event"].as_str().unwrap_or("?");
        assert!(
            ["ready", "data", "error", "eof", "hangup"].contains(&k),
            "{case}: unexpected event {e}"
        );
        if k == "error" {
            assert_eq!(e["errno"], "ECONNRESET", "{case}: {e}");
        }
    }
    let hup = got.last().expect("hangup");
    assert_eq!(hup["action"], "remove", "{case}: {hup}");

    // It keeps running: the listener still accepts.
    let c2 = TcpStream::connect(("127.0.0.1", port)).expect("second connect");
    let acc2 = evs.next_named("accept");
    assert_ne!(acc2["fd"], Value::Null, "{case}: {acc2}");
    let tail = evs.rest();
    let all = evs.seen().to_vec();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(
        exit_code(&case, &out),
        0,
        "{case}: the idle timeout after events ends it (the listener stays), not exit 2: {}; {all:?}",
        stderr(&out)
    );
    assert!(stderr(&out).is_empty(), "{case}: stderr {}", stderr(&out));
    assert_eq!(
        kinds(&tail)[tail.len().saturating_sub(2)..],
        ["timeout", "summary"],
        "{case}: {tail:?}"
    );
    same_flags(&case, "pipe read end (fd 3)", &r3, before);
    drop((c2, w3));
    if acc["peer"] != client_addr.as_str() {
        bad.push(format!(
            "the accept event carries the peer address, want {client_addr}: {acc}"
        ));
    }
    assert!(bad.is_empty(), "{case}:\n  {}", bad.join("\n  "));
}

#[test]
fn tcp_reset_mid_read() {
    let mut cases = Vec::new();
    for b in BACKENDS {
        for (tag, early) in [("after-read", false), ("before-accept", true)] {
            cases.push((format!("{b}-{tag}"), (b, early)));
        }
    }
    in_named_threads(cases.iter().map(|(n, c)| (n.as_str(), *c)), |(b, early)| {
        tcp_reset(b, early)
    });
}

// A6. Stdout closed mid-run (a quiet end, status 0) ---------------------------------------

fn stdout_closed(b: &str) {
    let case = format!("-b {b}, stdout closed after the first event");
    let (r, w) = pipe();
    let before = status_flags(&r);
    let start = Instant::now();
    let (mut child, _dog) = spawn(
        &case,
        Fdwatch::new(["-m", "-b", b, "--read=text", "--format", "json", "5", "3r"])
            .fd(r.as_fd(), 3),
    );
    let mut evs = EventStream::new(&mut child, &case);
    blocked(child.id(), &case);
    write(&w, b"a");
    let first = evs.next().expect("a first event");
    assert_eq!(first["event"], "ready", "{case}: {first}");
    drop(evs);
    let status = feed_until_exit(&case, &mut child, &w);
    let out = child.wait_with_output().expect("wait fdwatch");
    let wall = start.elapsed();
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: want a quiet exit 0 (not SIGPIPE), got {status}; stderr {}",
        stderr(&out)
    );
    assert!(stderr(&out).is_empty(), "{case}: stderr {}", stderr(&out));
    assert!(
        wall < Duration::from_secs(4),
        "{case}: the failed write should end the run, not the 5 s idle timeout: {wall:?}"
    );
    same_flags(&case, "pipe read end (fd 3)", &r, before);
    drop(w);
}

#[test]
fn stdout_closed_mid_run_is_a_quiet_end() {
    each_backend(&BACKENDS, stdout_closed);
}

// A7. /dev/full as stdout ---------------------------------------------------------------

fn dev_full(case: &str, argv: &[&str], consumes: bool) {
    let (r, w) = pipe();
    write(&w, b"ab\n");
    let before = status_flags(&r);
    let full = nix::fcntl::open(
        "/dev/full",
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .expect("open /dev/full");
    let child = Fdwatch::new(argv)
        .fd(r.as_fd(), 3)
        .into_command()
        .stdout(Stdio::from(full))
        .stderr(Stdio::piped())
        .counted_spawn()
        .expect("spawn fdwatch");
    let _dog = Watchdog::new(&child, WATCHDOG, case);
    let out = child.wait_with_output().expect("wait fdwatch");
    // With --tee the events go to stderr (JSON here); the message is the other line.
    let msgs = message_lines(&stderr(&out));
    assert_eq!(
        exit_code(case, &out),
        2,
        "{case}: a failed write to stdout is a system error: {msgs:?}"
    );
    assert_eq!(
        msgs.len(),
        1,
        "{case}: one line on stderr: {}",
        stderr(&out)
    );
    let m = &msgs[0];
    assert!(
        m.starts_with("fdwatch: ") && m.contains("stdout") && m.contains("No space left on device"),
        "{case}: the line names stdout and ENOSPC: {m:?}"
    );
    assert!(!m.contains("panicked"), "{case}: {m}");
    same_flags(case, "pipe read end (fd 3)", &r, before);
    if !consumes {
        assert_eq!(fionread(&r), 3, "{case}: data consumed");
    }
    drop(w);
}

#[test]
fn dev_full_stdout_is_one_line_and_exit_2() {
    let mut cases: Vec<(String, (Vec<&str>, bool))> = Vec::new();
    for b in BACKENDS {
        cases.push((
            format!("-b {b} --format json 0 3r"),
            (vec!["-b", b, "--format", "json", "0", "3r"], false),
        ));
        cases.push((
            format!("-b {b} 0 3r (text)"),
            (vec!["-b", b, "0", "3r"], false),
        ));
    }
    for b in ["poll", "epoll"] {
        cases.push((
            format!("-b {b} -m --read=text"),
            (
                vec!["-m", "-b", b, "--read=text", "--format", "json", "5", "3r"],
                true,
            ),
        ));
        cases.push((
            format!("-b {b} -m --tee"),
            (
                vec!["-m", "-b", b, "--tee", "--format", "json", "5", "3r"],
                true,
            ),
        ));
    }
    in_named_threads(
        cases.iter().map(|(n, c)| (n.as_str(), (n.as_str(), c))),
        |(case, (argv, consumes))| dev_full(case, argv, *consumes),
    );
}

// A8. The controlling terminal hangs up: SIGHUP to the session leader ------------------------

fn ctty_hangup(b: &str) {
    let case = format!("-b {b}, controlling tty hung up");
    let p = pty();
    // fd 3, a pipe whose writer stays, keeps the watch set non-empty once the hung-up
    // tty (fd 0) leaves it: otherwise "nothing left, exit 0" would race the SIGHUP.
    let (r3, w3) = pipe();
    let before_tty = status_flags(&p.slave);
    let before_r3 = status_flags(&r3);
    let mut cmd = Fdwatch::new(["-m", "-b", b, "--format", "json", "5", "0r", "3r"])
        .fd(p.slave.as_fd(), 0)
        .fd(r3.as_fd(), 3)
        .into_command();
    // SAFETY: setsid and ioctl are async-signal-safe; they run in the child after the
    // fds are placed: a new session whose controlling terminal is the slave at fd 0.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .counted_spawn()
        .expect("spawn fdwatch");
    let _dog = Watchdog::new(&child, WATCHDOG, &case);
    let pid = child.id();
    let evs = EventStream::new(&mut child, &case);
    blocked(pid, &case);
    let stat = proc_stat(pid).expect("/proc/PID/stat");
    assert_eq!(
        stat[3],
        pid.to_string(),
        "{case}: fdwatch leads its session: {stat:?}"
    );
    assert_ne!(
        stat[4], "0",
        "{case}: fdwatch has a controlling tty: {stat:?}"
    );
    // The last master closes: the kernel hangs the slave up and signals the session
    // leader with SIGHUP.
    drop(p.master);
    let all = evs.all();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGHUP),
        "{case}: want death by SIGHUP (128+1 in a shell), got {}; stderr {}; {all:?}",
        out.status,
        stderr(&out)
    );
    // The signal is reported, then the summary comes last. Events for fd 0 (the hung-up
    // tty) may come between: the select/poll self-pipe and the tty wake the same wait.
    let sig = of_kind(&all, "signal");
    assert_eq!(sig.len(), 1, "{case}: one signal event: {all:?}");
    assert_eq!(sig[0]["name"], "HUP", "{case}: {all:?}");
    assert_eq!(sig[0]["number"], libc::SIGHUP, "{case}: {all:?}");
    last_summary(&case, &all);
    assert!(of_kind(&all, "timeout").is_empty(), "{case}: {all:?}");
    assert!(stderr(&out).is_empty(), "{case}: stderr {}", stderr(&out));
    same_flags(&case, "pty slave (fd 0)", &p.slave, before_tty);
    same_flags(&case, "pipe read end (fd 3)", &r3, before_r3);
    drop(w3);
}

#[test]
fn controlling_tty_hangup_ends_by_sighup_after_the_summary() {
    each_backend(&BACKENDS, ctty_hangup);
}

// B. Every exit path leaves the inherited fds' status flags unchanged --------------------

#[derive(Clone, Copy, Debug)]
enum Path {
    /// One-shot, fd 3 readable: exit 0.
    Ready,
    /// One-shot, nothing ready: exit 1.
    Timeout,
    /// A spec fd that is not open: exit 2, one line.
    Usage,
    /// Monitor ended by SIGINT: summary, then death by SIGINT.
    Sigint,
    /// Monitor whose stdout is closed: quiet exit 0.
    ClosedStdout,
    /// Monitor idle timeout after fd 3 was reported ready: a `timeout` event, exit 0
    /// (exit 1 is for an idle timeout with nothing reported).
    Idle,
    /// Monitor `--count 1`: exit 0.
    Count,
}

fn exit_path(b: &str, mode: &str, path: Path, nonblock: bool) {
    let nb = if nonblock { ", O_NONBLOCK set" } else { "" };
    let case = format!("-b {b} {mode} {path:?}{nb}");
    let fx = Inherited::quiet(nonblock);
    let before = fx.flags();
    let tee = mode == "--tee";
    let consumes = mode == "--read=text" || tee;
    let mut argv: Vec<&str> = vec!["-b", b, "--format", "json"];
    if !mode.is_empty() {
        argv.push(mode);
    }
    match path {
        Path::Ready | Path::Timeout | Path::Usage => argv.push("0"),
        Path::Sigint | Path::ClosedStdout => argv.extend(["-m", "-"]),
        Path::Idle => argv.extend(["-m", "0.2"]),
        Path::Count => argv.extend(["-m", "--count", "1", "-"]),
    }
    argv.extend(["3r", "4w", "5r"]);
    if matches!(path, Path::Usage) {
        argv.push("77r");
    }
    // Data waiting on fd 3 from the start, except where nothing may be ready, and for
    // the closed stdout, where the byte comes once fdwatch has nowhere to write.
    let queued = !matches!(path, Path::Timeout | Path::ClosedStdout);
    if queued {
        write(&fx.a_write, b"x");
    }
    let (mut child, _dog) = spawn(&case, fx.command(&argv));
    let pid = child.id();
    let (status, evs, out) = match path {
        Path::Sigint => {
            let chan: Box<dyn Read + Send> = if tee {
                Box::new(child.stderr.take().expect("stderr"))
            } else {
                Box::new(child.stdout.take().expect("stdout"))
            };
            let mut lines = EventStream::from_reader(chan, &case);
            let want = if mode.is_empty() { "ready" } else { "data" };
            lines.until("fd 3 reported", |e| e["event"] == want && e["fd"] == 3);
            blocked(pid, &case);
            kill(pid_of(&child), Signal::SIGINT).expect("SIGINT");
            let evs = lines.all();
            let out = child.wait_with_output().expect("wait fdwatch");
            (out.status, evs, out)
        }
        Path::ClosedStdout => {
            drop(child.stdout.take());
            blocked(pid, &case);
            let status = feed_until_exit(&case, &mut child, &fx.a_write);
            let out = child.wait_with_output().expect("wait fdwatch");
            let evs = if tee { events(&out.stderr) } else { Vec::new() };
            (status, evs, out)
        }
        _ => {
            let out = child.wait_with_output().expect("wait fdwatch");
            let evs = match path {
                Path::Usage => Vec::new(),
                _ if tee => events(&out.stderr),
                _ => events(&out.stdout),
            };
            (out.status, evs, out)
        }
    };
    let err = stderr(&out);
    match path {
        Path::Sigint => {
            assert_eq!(
                status.signal(),
                Some(libc::SIGINT),
                "{case}: want death by SIGINT (130), got {status}; {err}; {evs:?}"
            );
            last_summary(&case, &evs);
            let sig = of_kind(&evs, "signal");
            assert_eq!(sig.len(), 1, "{case}: {evs:?}");
            assert_eq!(sig[0]["name"], "INT", "{case}: {evs:?}");
        }
        Path::Usage => {
            assert_eq!(status.code(), Some(2), "{case}: {err}");
            assert_eq!(err.lines().count(), 1, "{case}: one line: {err:?}");
            assert!(err.contains("fd 77 is not open"), "{case}: {err:?}");
            assert!(out.stdout.is_empty(), "{case}: stdout {:?}", out.stdout);
        }
        _ => {
            let want = match path {
                Path::Timeout => 1,
                _ => 0,
            };
            assert_eq!(
                status.code(),
                Some(want),
                "{case}: want exit {want}, got {status}; {err}; {evs:?}"
            );
            if tee {
                let msgs = message_lines(&stderr(&out));
                assert!(msgs.is_empty(), "{case}: stderr messages {msgs:?}");
            } else {
                assert!(err.is_empty(), "{case}: stderr {err:?}");
            }
            if !matches!(path, Path::ClosedStdout) {
                let s = last_summary(&case, &evs);
                match path {
                    Path::Ready => {
                        assert!(ready_words(&evs, 3).is_some(), "{case}: {evs:?}");
                    }
                    Path::Timeout => {
                        assert!(of_kind(&evs, "ready").is_empty(), "{case}: {evs:?}");
                    }
                    Path::Idle => {
                        assert_eq!(of_kind(&evs, "timeout").len(), 1, "{case}: {evs:?}");
                    }
                    Path::Count => assert_eq!(s["events"], 1, "{case}: {s}"),
                    _ => {}
                }
            }
        }
    }
    fx.check(&case, before, nonblock);
    if queued && !consumes && !matches!(path, Path::Usage) {
        assert_eq!(fionread(&fx.a_read), 1, "{case}: data consumed");
    }
}

#[test]
fn every_exit_path_leaves_inherited_flags_unchanged() {
    let paths = [
        Path::Ready,
        Path::Timeout,
        Path::Usage,
        Path::Sigint,
        Path::ClosedStdout,
        Path::Idle,
        Path::Count,
    ];
    let mut cases = Vec::new();
    for nonblock in [false, true] {
        for b in ["poll", "epoll"] {
            for mode in ["", "--read=text", "--peek", "--tee"] {
                for path in paths {
                    let name = format!(
                        "{b}{}{mode}-{path:?}{}",
                        if mode.is_empty() { "" } else { " " },
                        if nonblock { "-nonblock" } else { "" }
                    );
                    cases.push((name, (b, mode, path, nonblock)));
                }
            }
        }
    }
    in_named_threads(
        cases.iter().map(|(n, c)| (n.as_str(), *c)),
        |(b, mode, path, nonblock)| exit_path(b, mode, path, nonblock),
    );
}
