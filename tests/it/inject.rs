//! Fault injection: the real binary under
//! `strace -f -qq -e trace=SYSCALL -e inject=SYSCALL:error=ERRNO:when=N`, one fault per
//! case, each case asserting the exit status, stderr (exactly one `fdwatch: ...` line
//! where an error is expected, nothing where none is, never "panicked"), no hang (a
//! pidfd watchdog on strace and on fdwatch under it) and no loop (fdwatch blocks in its
//! wait again where it keeps running).
//!
//! `when=N` must hit the intended call, so every case first traces the same scenario
//! without a fault and counts: N is the position of the intended call among all calls of
//! that syscall (the Rust runtime's own start-up calls, the signal self-pipe's drains
//! and fdwatch's private reopen of a pipe count too). The injecting run records its own
//! trace, and the case checks that exactly the intended call was hit (`(INJECTED)`).
//!
//! The wait calls found (x86_64, glibc linked statically): select -> pselect6 (NULL
//! mask), pselect -> pselect6, poll -> poll (the first poll is the Rust runtime's check of
//! fds 0-2, so fdwatch's first wait is the second), ppoll -> ppoll, epoll -> epoll_wait in
//! a one-shot run and epoll_pwait with -m. recv is recvfrom, accept is accept4. Stdout
//! may be written through fd 1 or a private reopen of it: its write is found by content.
//!
//! EINTR is injected twice per backend and mode: at once (the run still ends after its
//! timeout, not before), and with each interrupted call held 300 ms by strace
//! (`delay_enter`), which only a wait that retries with the time left (not the whole
//! timeout again) survives.
//!
//! The relay's transient errors mid-connection (ENOMEM, ENOBUFS on splice, sendto,
//! recvfrom) are injected into an 8 MiB echo, with splice on and off: it must rest and
//! retry, every byte coming back (compared by checksum); one that lasts must be retried
//! at most a second apart without spinning.
//!
//! strace must be on PATH: a run without it fails saying so (.ci/run installs it).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use serde_json::Value;

/// How long a step that waits on fdwatch's output may take (strace slows it down).
const STEP: Duration = Duration::from_secs(10);

// strace ----------------------------------------------------------------------------------

/// strace must be on PATH: the test fails (it does not skip) when it is not.
fn strace_installed() {
    assert!(
        on_path("strace").is_some(),
        "strace is needed for the fault-injection tests (strace -e inject=...) and is not on \
         PATH ({:?}); .ci/run installs it (apt-get install strace)",
        std::env::var_os("PATH").unwrap_or_default()
    );
}

/// `strace -f -qq -o TRACE -e FILTER... fdwatch ARGV...` with `fds` placed at their numbers
/// in the child (strace passes them on to fdwatch).
fn traced(
    trace: &Path,
    filters: &[String],
    argv: &[&str],
    fds: &[(BorrowedFd<'_>, RawFd)],
) -> Fdwatch {
    strace_installed();
    fds.iter().fold(
        Fdwatch::new(argv).under_strace(trace, filters),
        |cmd, &(fd, at)| cmd.fd(fd, at),
    )
}

/// The filters of a run that only records `sc` calls.
fn record(sc: &str) -> Vec<String> {
    vec![trace_filter(sc)]
}

/// The filters of a run that records `sc` calls and fails them with `errno` at `when`.
fn inject(sc: &str, errno: &str, when: &str) -> Vec<String> {
    vec![trace_filter(sc), inject_filter(sc, errno, Some(when))]
}

/// The calls of syscall `sc` in a trace.
fn calls_of(lines: &[String], sc: &str) -> Vec<String> {
    let open = format!("{sc}(");
    lines
        .iter()
        .filter(|l| l.starts_with(&open))
        .cloned()
        .collect()
}

/// The 1-based position among the `sc` calls of the first one `hit` accepts: the `when=`
/// that hits it. Fails naming the case and showing the calls when there is none.
fn position(
    case: &str,
    lines: &[String],
    sc: &str,
    what: &str,
    hit: impl Fn(&str) -> bool,
) -> usize {
    let calls = calls_of(lines, sc);
    calls
        .iter()
        .position(|l| hit(l))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{case}: the traced run made no {sc} call {what}: {calls:#?}"))
}

/// The injected calls of a trace.
fn injected(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.contains("(INJECTED)"))
        .cloned()
        .collect()
}

/// The fd argument of a recorded call: `read(7, ...` -> 7.
fn first_arg(call: &str) -> &str {
    let args = call.split_once('(').map_or("", |x| x.1);
    args.split([',', ')']).next().unwrap_or("").trim()
}

// Processes --------------------------------------------------------------------------------

/// One fdwatch run under strace.
struct Run {
    case: String,
    child: Child,
    /// fdwatch's pid (strace's child).
    pid: Option<u32>,
    started: Instant,
    _dog: Watchdog,
    /// The guard on fdwatch under strace (not the test's child): strace's own guard alone
    /// would leave a detached fdwatch running, holding the output pipes.
    tracee: Option<Watchdog>,
}

impl Run {
    fn spawn(case: &str, f: Fdwatch) -> Run {
        let started = Instant::now();
        let (mut child, dog) = crate::common::spawn(case, f);
        let pid = child_named(case, &mut child, "fdwatch");
        let tracee = pid.map(|p| Watchdog::of_pid(p, WATCHDOG, case));
        Run {
            case: case.to_owned(),
            child,
            pid,
            started,
            _dog: dog,
            tracee,
        }
    }

    /// fdwatch's pid; fails when it ended before it was seen.
    fn pid(&self) -> u32 {
        self.pid
            .unwrap_or_else(|| panic!("{}: fdwatch ended at once", self.case))
    }

    /// Signals fdwatch (not strace).
    fn signal(&self, sig: libc::c_int) {
        self.tracee
            .as_ref()
            .unwrap_or_else(|| panic!("{}: fdwatch ended at once", self.case))
            .signal(sig);
    }

    /// The end of a traced run without a fault: SIGTERM to fdwatch, which dies by it.
    fn sigterm_ends_it(self) {
        let case = self.case.clone();
        self.signal(libc::SIGTERM);
        let (st, err, _) = self.finish();
        assert_eq!(
            st.signal(),
            Some(libc::SIGTERM),
            "{case}: traced run: {st}; {err}"
        );
    }

    fn events(&mut self) -> TimedEvents {
        TimedEvents::new(&self.case, self.child.stdout.take().expect("piped stdout"))
    }

    /// `finish`, but fdwatch must end by itself within `limit` (a fault that should end
    /// the run): otherwise it is killed and the case fails showing its stderr.
    fn finish_within(mut self, limit: Duration, why: &str) -> (ExitStatus, String, Duration) {
        if exit_within(&mut self.child, limit).is_none() {
            let case = self.case.clone();
            self.signal(libc::SIGKILL);
            let (_, err, _) = self.finish();
            panic!("{case}: still running {limit:?} after the fault ({why}); stderr {err:?}");
        }
        self.finish()
    }

    /// Waits for the end: (status, stderr, time since spawn). The status is strace's,
    /// which mirrors fdwatch's (exit code, or death by the same signal).
    fn finish(self) -> (ExitStatus, String, Duration) {
        let Run {
            child,
            started,
            _dog,
            tracee,
            ..
        } = self;
        let out = child.wait_with_output().expect("wait strace");
        let took = started.elapsed();
        drop(tracee);
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
            took,
        )
    }
}

/// Starts `mk(spec)` (a traced `tcp-listen:127.0.0.1:PORT` watcher) until it listens and
/// blocks in its wait; a port taken by another socket in between (EADDRINUSE) is
/// retried on another.
fn listening(case: &str, mk: impl Fn(&str) -> Fdwatch) -> (Run, u16) {
    listen_on_free_port(
        case,
        |port| Run::spawn(case, mk(&format!("tcp-listen:127.0.0.1:{port}"))),
        |run| (&mut run.child, run.pid),
    )
}

// Checks -------------------------------------------------------------------------------

/// fdwatch still runs (the fault must not end it) and blocks in its wait again (no
/// busy loop).
fn still_waiting(pid: u32, case: &str) {
    assert!(
        proc_state(pid).is_some_and(|st| st != 'Z'),
        "{case}: fdwatch ended after the fault (it should go on)"
    );
    blocked(pid, case);
}

/// No stderr at all.
fn quiet(case: &str, err: &str) {
    assert!(err.is_empty(), "{case}: want no stderr, got {err:?}");
}

/// Exactly one stderr line, an fdwatch message; returns it.
fn one_line(case: &str, status: ExitStatus, err: &str) -> String {
    assert!(!err.contains("panicked"), "{case}: a panic: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{case}: want exactly one stderr line, got {err:?} (and {status})"
    );
    assert!(
        lines[0].starts_with("fdwatch: "),
        "{case}: the line is fdwatch's message: {err:?}"
    );
    lines[0].to_owned()
}

fn exit_code_is(case: &str, status: ExitStatus, want: i32, err: &str) {
    assert_eq!(
        status.code(),
        Some(want),
        "{case}: want exit {want}, got {status}; stderr {err:?}"
    );
}

/// The injecting run hit exactly `n` calls, each accepted by `ok`.
fn hit_exactly(case: &str, run_trace: &Path, n: usize, ok: impl Fn(&str) -> bool) {
    let lines = trace_lines(run_trace);
    let inj = injected(&lines);
    assert_eq!(inj.len(), n, "{case}: want {n} injected calls: {inj:#?}");
    for l in &inj {
        assert!(
            ok(l),
            "{case}: the fault hit another call than intended: {l}"
        );
    }
}

/// Waits until `client` reads end of file or a reset (fdwatch refused it), or until
/// `served` says fdwatch took it; at most `limit`. Returns true when it was closed.
fn closed_or_served(
    case: &str,
    client: &TcpStream,
    evs: &mut TimedEvents,
    limit: Duration,
    served: impl Fn(&[Value]) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        evs.drain();
        if served(evs.seen()) {
            return false;
        }
        let mut p = [PollFd::new(
            client.as_fd(),
            PollFlags::from_bits_retain(libc::POLLIN | libc::POLLRDHUP),
        )];
        if nix::poll::poll(&mut p, PollTimeout::from(5u8)).expect("poll") > 0 {
            let mut b = [0u8; 16];
            match (&*client).read(&mut b) {
                Ok(0) => return true,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
                other => panic!("{case}: the client read {other:?} from fdwatch"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "{case}: the client is neither served nor closed after {limit:?} (left hanging); \
             events {:?}",
            evs.seen()
        );
    }
}

// 1. EINTR on every backend's wait call ---------------------------------------------

/// Every wait syscall fdwatch could use.
const WAIT_CALLS: &str =
    "select,pselect6,poll,ppoll,epoll_wait,epoll_pwait,epoll_pwait2,io_uring_enter";

/// The Rust runtime's check that fds 0-2 are open, made before main.
fn runtime_poll(l: &str) -> bool {
    l.starts_with("poll([{fd=0, events=0}, {fd=1, events=0}, {fd=2, events=0}]")
}

/// `-b B [-m] 0.5 3r` on an empty pipe whose writer stays open: the first three waits
/// fail with EINTR; the run still ends after its 0.5 s, exit 1.
/// `-b B [-m] T 3r` on an empty pipe whose writer stays open: the first three waits
/// fail with EINTR; the run still ends after its timeout T, exit 1.
///
/// Instant (T = 0.5 s): an injected EINTR returns at once, so this shows EINTR is
/// retried and neither ends the run early nor fails it. Delayed (T = 1 s, each of the
/// three calls held 300 ms by strace before it fails): 0.9 s pass in interrupted calls,
/// so the retries must wait only for the time left; restarting the full timeout after
/// each EINTR would end at 1.9 s instead of 1.0 s.
fn eintr(b: &str, monitor: bool, delayed: bool) {
    let case = format!(
        "-b {b}{}, EINTR on the first 3 waits{}",
        if monitor { " -m" } else { "" },
        if delayed { ", each after 300 ms" } else { "" }
    );
    let dir = TempDir::new();
    let (r, w) = pipe();
    let timeout = if delayed { "1" } else { "0.5" };
    let mut argv = vec!["-b", b, "--format", "json", timeout, "3r"];
    if monitor {
        argv.insert(0, "-m");
    }
    // The traced run: which syscall waits, and where the first wait is among its calls.
    let t0 = dir.path("plain");
    let run = Run::spawn(
        &case,
        traced(&t0, &record(WAIT_CALLS), &argv, &[(r.as_fd(), 3)]),
    );
    let (st, err, _) = run.finish();
    exit_code_is(&case, st, 1, &err);
    let lines = trace_lines(&t0);
    let waits: Vec<&String> = lines.iter().filter(|l| !runtime_poll(l)).collect();
    let first = waits
        .first()
        .unwrap_or_else(|| panic!("{case}: no wait call traced: {lines:#?}"));
    let sc = first.split_once('(').map_or("", |x| x.0).to_owned();
    let expected: &[&str] = match b {
        "select" => &["pselect6", "select"],
        "pselect" => &["pselect6"],
        "poll" => &["poll"],
        "ppoll" => &["ppoll"],
        "uring" => &["io_uring_enter"],
        _ => &["epoll_wait", "epoll_pwait", "epoll_pwait2"],
    };
    assert!(
        expected.contains(&sc.as_str()),
        "{case}: waits with {sc}: {first}"
    );
    let k = position(&case, &lines, &sc, "after the runtime's", |l| {
        !runtime_poll(l)
    });
    println!("{case}: the wait is {sc}, when={k}..{}", k + 2);

    // The injecting run.
    let t1 = dir.path("inject");
    let mut fault = inject(&sc, "EINTR", &format!("{k}..{}", k + 2));
    if delayed {
        fault[1] = format!(
            "inject={sc}:error=EINTR:delay_enter=300000:when={k}..{}",
            k + 2
        );
    }
    let mut run = Run::spawn(&case, traced(&t1, &fault, &argv, &[(r.as_fd(), 3)]));
    let evs = run.events();
    let (st, err, took) = run.finish();
    let evs = evs.all();
    assert!(!err.contains("panicked"), "{case}: {err}");
    exit_code_is(&case, st, 1, &err);
    quiet(&case, &err);
    hit_exactly(&case, &t1, 3, |l| {
        l.starts_with(&format!("{sc}(")) && !runtime_poll(l) && l.contains("EINTR")
    });
    let t = if delayed { 1.0 } else { 0.5 };
    assert!(
        took.as_secs_f64() >= t,
        "{case}: an interrupted wait ended the {t} s timeout early: {took:?}; {evs:?}"
    );
    let most = if delayed { 1.6 } else { 1.5 };
    assert!(
        took.as_secs_f64() < most,
        "{case}: the {t} s timeout was not honoured across the retries (ended after \
         {took:?}, want < {most} s); {evs:?}"
    );
    let s = last_summary(&case, &evs);
    assert!(num(&case, &s, "elapsed") >= t, "{case}: {s}");
    assert_eq!(of_kind(&evs, "timeout").len(), 1, "{case}: {evs:?}");
    assert!(of_kind(&evs, "ready").is_empty(), "{case}: {evs:?}");
    drop(w);
}

#[test]
fn eintr_on_every_backends_wait_is_retried_and_the_timeout_holds() {
    if !have("strace", "fault injection (strace -e inject)") {
        return;
    }
    let variants = [
        ("oneshot", (false, false)),
        ("oneshot-delayed", (false, true)),
        ("m", (true, false)),
        ("m-delayed", (true, true)),
    ];
    each_backend_and(&variants, |b, (m, d)| eintr(b, m, d));
}

// 2. EIO on the read of a pipe --------------------------------------------------------

/// `argv` under strace (`filters`, the trace to `trace`) with fd 3 the read end of a pipe
/// that holds `data`: the run and the pipe's (read, write) ends, for the caller to keep.
fn on_pipe(
    case: &str,
    trace: &Path,
    filters: &[String],
    argv: &[&str],
    data: &[u8],
) -> (Run, (OwnedFd, OwnedFd)) {
    let (r, w) = pipe();
    if !data.is_empty() {
        write(&w, data);
    }
    let run = Run::spawn(case, traced(trace, filters, argv, &[(r.as_fd(), 3)]));
    (run, (r, w))
}

/// The traced run (no fault) of `argv` on a pipe at fd 3 that holds "hello": its data
/// event, then the pipe closed, exit 0. Returns the `when=` of the first `sc` call that
/// `hit` accepts (`what` says which) and that call.
fn locate_on_hello(
    case: &str,
    dir: &TempDir,
    argv: &[&str],
    sc: &str,
    what: &str,
    hit: impl Fn(&str) -> bool,
) -> (usize, String) {
    let t0 = dir.path("plain");
    let (mut run, pipe) = on_pipe(case, &t0, &record(sc), argv, b"hello");
    let mut evs = run.events();
    evs.until("the data", STEP, |e| e["event"] == "data");
    drop(pipe);
    let (st, err, _) = run.finish();
    exit_code_is(case, st, 0, &err);
    let lines = trace_lines(&t0);
    let k = position(case, &lines, sc, what, hit);
    let call = calls_of(&lines, sc)[k - 1].clone();
    println!("{case}: {sc} when={k} ({call})");
    (k, call)
}

fn eio(b: &str) {
    let case = format!("-b {b} -m --read=text, EIO on the pipe's read");
    let dir = TempDir::new();
    let argv = ["-m", "-b", b, "--read=text", "--format", "json", "5", "3r"];

    // Traced: the read that returns the test's bytes.
    let (k, data_read) = locate_on_hello(&case, &dir, &argv, "read", "returning the data", |l| {
        l.contains("\"hello\"")
    });
    let fd = first_arg(&data_read).to_owned();

    // Injected.
    let t1 = dir.path("inject");
    let fault = inject("read", "EIO", &k.to_string());
    let (run, pipe) = on_pipe(&case, &t1, &fault, &argv, b"hello");
    let (st, err, _) = run.finish_within(Duration::from_secs(3), "want exit 2");
    hit_exactly(&case, &t1, 1, |l| first_arg(l) == fd && l.contains("EIO"));
    let line = one_line(&case, st, &err);
    exit_code_is(&case, st, 2, &err);
    assert!(
        line.starts_with("fdwatch: fd 3 (") && line.contains(": read: ") && line.ends_with("(EIO)"),
        "{case}: the line names fd 3, the call `read` and EIO \
         (`fdwatch: fd 3 (WHAT): read: DESCRIPTION (EIO)`): {line:?}"
    );
    drop(pipe);
}

#[test]
fn eio_on_a_pipe_read_is_one_line_and_exit_2() {
    if !have("strace", "fault injection (strace -e inject)") {
        return;
    }
    each_backend(&BACKENDS, eio);
}

// 3. ENOMEM on recv(MSG_OOB) ------------------------------------------------------------

fn oob_argv<'a>(b: &'a str, spec: &'a str) -> Vec<&'a str> {
    // The idle timeout is beyond every step's limit: the run never ends by itself while
    // a step waits (an end would close a client left hanging and hide it).
    vec!["-m", "-b", b, "--read=text", "--format", "json", "25", spec]
}

fn enomem_oob(b: &str) {
    let case = format!("-b {b} -m --read=text tcp-listen, ENOMEM on recv(MSG_OOB)");
    let dir = TempDir::new();

    // Traced: a client sends a lone urgent byte and stays; the urgent event, then SIGTERM.
    let t0 = dir.path("plain");
    let (mut run, port) = listening(&case, |spec| {
        traced(&t0, &record("recvfrom"), &oob_argv(b, spec), &[])
    });
    let mut evs = run.events();
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    evs.until("the accept", STEP, is("accept"));
    send_oob(&c, b"!");
    evs.until("the urgent event", STEP, is("urgent"));
    run.sigterm_ends_it();
    drop(c);
    let lines = trace_lines(&t0);
    let k = position(&case, &lines, "recvfrom", "with MSG_OOB", |l| {
        l.contains("MSG_OOB")
    });
    println!(
        "{case}: recvfrom when={k} ({})",
        calls_of(&lines, "recvfrom")[k - 1]
    );

    // Injected.
    let t1 = dir.path("inject");
    let (mut run, port) = listening(&case, |spec| {
        traced(
            &t1,
            &inject("recvfrom", "ENOMEM", &k.to_string()),
            &oob_argv(b, spec),
            &[],
        )
    });
    let mut evs = run.events();
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let acc = evs.until("the accept", STEP, is("accept"));
    send_oob(&c, b"!");
    let (st, err, _) = run.finish_within(Duration::from_secs(3), "want exit 2");
    let evs = evs.all();
    hit_exactly(&case, &t1, 1, |l| {
        l.contains("MSG_OOB") && l.contains("ENOMEM")
    });
    let line = one_line(&case, st, &err);
    exit_code_is(&case, st, 2, &err);
    let fd = &acc["fd"];
    assert!(
        line.starts_with(&format!("fdwatch: fd {fd} ("))
            && line.contains(": recv(MSG_OOB): ")
            && line.ends_with("(ENOMEM)"),
        "{case}: the line names the accepted fd {fd}, the call recv(MSG_OOB) and ENOMEM: \
         {line:?}; events {evs:?}"
    );
    drop(c);
}

#[test]
fn enomem_on_recv_msg_oob_is_one_line_naming_the_call_and_exit_2() {
    if !have("strace", "fault injection (strace -e inject)") {
        return;
    }
    each_backend(&BACKENDS, enomem_oob);
}

// 4. ECONNABORTED and EMFILE on accept4 --------------------------------------------------

/// Checks with a trace that fdwatch calls accept4 only once a client is pending (so
/// `when=1` hits a client's accept, not a call at start-up).
fn first_accept_is_a_clients(case: &str, b: &str, dir: &TempDir) {
    let t0 = dir.path("plain");
    let (mut run, port) = listening(case, |spec| {
        traced(&t0, &record("accept4"), &oob_argv(b, spec), &[])
    });
    let mut evs = run.events();
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.write_all(b"one").expect("send");
    evs.until("the data", STEP, |e| e["event"] == "data");
    run.sigterm_ends_it();
    let calls = calls_of(&trace_lines(&t0), "accept4");
    let first = calls
        .first()
        .unwrap_or_else(|| panic!("{case}: no accept4 traced"));
    assert!(
        !first.contains("= -1"),
        "{case}: the first accept4 is not the client's, when=1 would miss it: {calls:#?}"
    );
}

fn accept_fault(b: &str, errno: &str) {
    let case = format!("-b {b} -m --read=text tcp-listen, {errno} on the first accept4");
    let dir = TempDir::new();
    first_accept_is_a_clients(&case, b, &dir);

    let t1 = dir.path("inject");
    let (mut run, port) = listening(&case, |spec| {
        traced(&t1, &inject("accept4", errno, "1"), &oob_argv(b, spec), &[])
    });
    let pid = run.pid();
    let mut evs = run.events();
    let mut c1 = TcpStream::connect(("127.0.0.1", port)).expect("connect 1");
    let peer1 = c1.local_addr().expect("addr").to_string();
    c1.write_all(b"one").expect("send one");
    let served1 = |evs: &[Value]| -> bool {
        let Some(acc) = evs
            .iter()
            .find(|e| e["event"] == "accept" && e["peer"] == peer1.as_str())
        else {
            return false;
        };
        data_text(evs, &acc["fd"]) == "one"
    };
    if errno == "ECONNABORTED" {
        // The failed call took nothing from the backlog: the client is still there and
        // must be served (accepted, its data read), not left until another comes.
        evs.wait_for("client 1 (still in the backlog) served", STEP, served1);
    } else {
        // EMFILE: refused (closed by the reserve-descriptor technique) or served after
        // the back-off; never left hanging.
        let closed = closed_or_served(&case, &c1, &mut evs, Duration::from_secs(5), served1);
        assert!(
            !closed || proc_state(pid).is_some_and(|st| st != 'Z'),
            "{case}: client 1 was closed because fdwatch ended: {:?}",
            evs.seen()
        );
    }
    // No loop: it waits again.
    still_waiting(pid, &case);
    let mut c2 = TcpStream::connect(("127.0.0.1", port)).expect("connect 2");
    let peer2 = c2.local_addr().expect("addr").to_string();
    c2.write_all(b"two").expect("send two");
    let acc2 = evs.until("client 2's accept", STEP, |e| {
        e["event"] == "accept" && e["peer"] == peer2.as_str()
    });
    let fd2 = acc2["fd"].clone();
    evs.wait_for("client 2's data", STEP, |seen| {
        data_text(seen, &fd2) == "two"
    });
    still_waiting(pid, &case);
    run.signal(libc::SIGTERM);
    let (st, err, _) = run.finish();
    let all = evs.all();
    hit_exactly(&case, &t1, 1, |l| {
        l.starts_with("accept4(") && l.contains(errno)
    });
    assert!(!err.contains("panicked"), "{case}: {err}");
    quiet(&case, &err);
    assert_eq!(
        st.signal(),
        Some(libc::SIGTERM),
        "{case}: ended by SIGTERM, not before: {st}; {all:?}"
    );
    last_summary(&case, &all);
    let ex = of_kind(&all, "exhausted");
    if errno == "EMFILE" {
        let states: Vec<&Value> = ex.iter().map(|e| &e["state"]).collect();
        assert_eq!(
            states,
            ["start", "end"],
            "{case}: two exhausted events for the episode, its start and end: {all:?}"
        );
        for e in &ex {
            assert_eq!(e["call"], "accept", "{case}: {e}");
            assert_eq!(e["errno"], "EMFILE", "{case}: {e}");
        }
    } else {
        assert!(
            ex.is_empty(),
            "{case}: ECONNABORTED is no exhaustion: {all:?}"
        );
    }
    drop((c1, c2));
}

#[test]
fn econnaborted_and_emfile_on_accept_the_next_client_is_served() {
    if !have("strace", "fault injection (strace -e inject)") {
        return;
    }
    each_backend_and(
        &[("ECONNABORTED", "ECONNABORTED"), ("EMFILE", "EMFILE")],
        accept_fault,
    );
}

// 5. EAGAIN on a read after readiness ---------------------------------------------------

fn eagain(b: &str) {
    let case = format!("-b {b} -m --read=text, EAGAIN on the read after readiness");
    let dir = TempDir::new();
    let argv = ["-m", "-b", b, "--read=text", "--format", "json", "5", "3r"];

    // Traced: "abc" written once fdwatch waits; the read that returns it.
    let t0 = dir.path("plain");
    let (mut run, (r, w)) = on_pipe(&case, &t0, &record("read"), &argv, b"");
    let mut evs = run.events();
    blocked(run.pid(), &case);
    write(&w, b"abc");
    evs.until("the data", STEP, |e| e["event"] == "data");
    drop((r, w));
    let (st, err, _) = run.finish();
    exit_code_is(&case, st, 0, &err);
    let lines = trace_lines(&t0);
    let k = position(&case, &lines, "read", "returning the data", |l| {
        l.contains("\"abc\"")
    });
    let data_read = calls_of(&lines, "read")[k - 1].clone();
    let fd = first_arg(&data_read).to_owned();
    println!("{case}: read when={k} ({data_read})");

    // Injected: that read says EAGAIN although the bytes are there.
    let t1 = dir.path("inject");
    let fault = inject("read", "EAGAIN", &k.to_string());
    let (mut run, (r, w)) = on_pipe(&case, &t1, &fault, &argv, b"");
    let pid = run.pid();
    let mut evs = run.events();
    still_waiting(pid, &case);
    write(&w, b"abc");
    // The ready event is printed after the wait's handling (the failed read) is done.
    evs.until("fd 3 ready", STEP, |e| {
        e["event"] == "ready" && e["fd"] == 3
    });
    // No busy loop on the fd that said "nothing": it waits again.
    still_waiting(pid, &case);
    write(&w, b"def");
    let fd3 = Value::from(3);
    evs.wait_for("all 6 bytes (none lost after the EAGAIN)", STEP, |seen| {
        data_text(seen, &fd3).len() >= 6
    });
    still_waiting(pid, &case);
    drop((r, w));
    let (st, err, _) = run.finish();
    let all = evs.all();
    hit_exactly(&case, &t1, 1, |l| {
        first_arg(l) == fd && l.contains("EAGAIN")
    });
    assert!(!err.contains("panicked"), "{case}: {err}");
    exit_code_is(&case, st, 0, &err);
    quiet(&case, &err);
    assert_eq!(data_text(&all, &fd3), "abcdef", "{case}: {all:?}");
    let totals: Vec<&Value> = all
        .iter()
        .filter(|e| e["event"] == "data")
        .map(|e| &e["total"])
        .collect();
    assert_eq!(
        totals.last().copied(),
        Some(&Value::from(6)),
        "{case}: {all:?}"
    );
    let s = last_summary(&case, &all);
    let waits = s["waits"].as_u64().unwrap_or(u64::MAX);
    assert!(
        waits <= 20,
        "{case}: {waits} waits for two writes (a loop?): {s}"
    );
}

#[test]
fn eagain_on_a_read_after_readiness_loses_nothing_and_does_not_spin() {
    if !have("strace", "fault injection (strace -e inject)") {
        return;
    }
    each_backend(&BACKENDS, eagain);
}

// 6. EPIPE and ENOSPC on the first write to stdout ------------------------------------

fn stdout_fault(b: &str, errno: &str) {
    let case = format!("-b {b} -m --read=text, {errno} on the first write to stdout");
    let dir = TempDir::new();
    let argv = ["-m", "-b", b, "--read=text", "--format", "json", "5", "3r"];

    // Traced: the first write of the events (no signal arrives, so no self-pipe write).
    // fdwatch may write stdout through fd 1 or through a private reopen of it: the
    // write is the first whose bytes are the JSON events, and its fd is stdout's.
    let (k, first) = locate_on_hello(
        &case,
        &dir,
        &argv,
        "write",
        "of the events to stdout",
        |l| l.contains("\"{\\\"v\\\":1,\\\"event\\\":"),
    );
    let out_fd = first_arg(&first).to_owned();

    // Injected.
    let t1 = dir.path("inject");
    let fault = inject("write", errno, &k.to_string());
    let (run, pipe) = on_pipe(&case, &t1, &fault, &argv, b"hello");
    let (st, err, _) = run.finish_within(
        Duration::from_secs(3),
        "the failed write should end the run, not the 5 s idle timeout",
    );
    hit_exactly(&case, &t1, 1, |l| {
        first_arg(l) == out_fd && l.contains(errno)
    });
    assert!(!err.contains("panicked"), "{case}: {err}");
    if errno == "EPIPE" {
        exit_code_is(&case, st, 0, &err);
        quiet(&case, &err);
    } else {
        let line = one_line(&case, st, &err);
        exit_code_is(&case, st, 2, &err);
        assert!(
            line.contains("stdout") && line.contains("ENOSPC"),
            "{case}: the line names stdout and ENOSPC: {line:?}"
        );
    }
    drop(pipe);
}

#[test]
fn epipe_on_stdout_is_silent_and_enospc_is_one_line() {
    if !have("strace", "fault injection (strace -e inject)") {
        return;
    }
    each_backend_and(&[("EPIPE", "EPIPE"), ("ENOSPC", "ENOSPC")], stdout_fault);
}

// 8. Transient errors mid-connection in the relay -----------------------------------------

/// The bytes a relayed echo carries each way.
const ECHOED: usize = 8 << 20;

/// FNV-1a over a stream, to compare 8 MiB by checksum.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The target: echoes everything back, then passes the end of file on.
fn echo_server(case: &str, server: std::net::TcpListener) -> JoinHandle<()> {
    let case = case.to_owned();
    thread::spawn(move || {
        let (mut s, _) = server.accept().expect("the relay's connection");
        s.set_read_timeout(Some(WATCHDOG)).expect("timeout");
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => s
                    .write_all(&buf[..n])
                    .unwrap_or_else(|e| panic!("{case}: the echo's write: {e}")),
                Err(e) => panic!("{case}: the echo's read: {e}"),
            }
        }
        s.shutdown(std::net::Shutdown::Write).expect("SHUT_WR");
    })
}

/// One fault of the transient tests: `sc` fails with `errno` at `when` (`hits` calls).
#[derive(Clone, Copy)]
struct Fault {
    sc: &'static str,
    errno: &'static str,
    when: &'static str,
    hits: usize,
    splice: bool,
}

/// `fdwatch relay` carrying an 8 MiB echo under `strace -e inject=SC:error=ERRNO:when=WHEN`,
/// with splice(2) on or off: the connection goes on, every byte comes back (compared by
/// checksum), and no event says the connection failed.
fn transient(b: &str, f: Fault) {
    let Fault {
        sc,
        errno,
        when,
        hits,
        splice,
    } = f;
    let case = format!("relay -b {b}, {errno} on {sc} #{when}, splice {splice}");
    let dir = TempDir::new();
    let trace = dir.path("inject");
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let (mut run, port) = listen_on_free_port(
        &case,
        |port| {
            let listen = format!("tcp-listen:127.0.0.1:{port}");
            let argv = ["relay", "-b", b, "--format", "json", &listen, &target];
            let cmd = traced(&trace, &inject(sc, errno, when), &argv, &[]);
            let off = if splice { "on" } else { "off" };
            Run::spawn(&case, cmd.env("FDWATCH_RELAY_SPLICE", off))
        },
        |run| (&mut run.child, run.pid),
    );
    let mut evs = run.events();
    let echo = echo_server(&case, server);
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    client.set_read_timeout(Some(WATCHDOG)).expect("timeout");
    let sent = XorShift::new(29).bytes(ECHOED);
    let want = checksum(&sent);
    let mut writer = client.try_clone().expect("clone");
    let feed = thread::spawn(move || {
        writer.write_all(&sent).expect("send 8 MiB");
        writer.shutdown(std::net::Shutdown::Write).expect("SHUT_WR");
    });
    let mut back = Vec::with_capacity(ECHOED);
    (&client)
        .read_to_end(&mut back)
        .unwrap_or_else(|e| panic!("{case}: reading the echo: {e} after {} bytes", back.len()));
    feed.join().expect("the client's writer");
    echo.join().expect("the echo");
    assert_eq!(back.len(), ECHOED, "{case}: bytes echoed");
    assert_eq!(checksum(&back), want, "{case}: the echo's checksum");
    let close = evs.until("the connection's close", STEP, |e| e["event"] == "close");
    assert_eq!(close["client_to_target"], ECHOED, "{case}: {close}");
    assert_eq!(close["target_to_client"], ECHOED, "{case}: {close}");
    run.signal(libc::SIGTERM);
    let (st, err, _) = run.finish();
    let all = evs.all();
    hit_exactly(&case, &trace, hits, |l| {
        l.starts_with(&format!("{sc}(")) && l.contains(errno)
    });
    quiet(&case, &err);
    assert_eq!(st.signal(), Some(libc::SIGTERM), "{case}: {st}; {all:?}");
    let failed: Vec<&Value> = all
        .iter()
        .filter(|e| e["event"] == "error" || e["event"] == "reset")
        .collect();
    assert!(failed.is_empty(), "{case}: {failed:?}");
}

#[test]
fn transient_errors_mid_connection_back_off_and_lose_no_byte() {
    let fault = |sc, errno, when, hits, splice| Fault {
        sc,
        errno,
        when,
        hits,
        splice,
    };
    let cases = [
        ("splice-ENOMEM", fault("splice", "ENOMEM", "20", 1, true)),
        // Eight in a row: the rests double (10 ms to 1 s) and the echo still ends.
        (
            "splice-ENOMEM-x8",
            fault("splice", "ENOMEM", "20..27+", 8, true),
        ),
        ("sendto-ENOBUFS", fault("sendto", "ENOBUFS", "3", 1, true)),
        (
            "sendto-ENOBUFS-copy",
            fault("sendto", "ENOBUFS", "3", 1, false),
        ),
        ("recvfrom-ENOMEM", fault("recvfrom", "ENOMEM", "3", 1, true)),
        (
            "recvfrom-ENOMEM-copy",
            fault("recvfrom", "ENOMEM", "3", 1, false),
        ),
        (
            "sendto-ENOMEM-copy",
            fault("sendto", "ENOMEM", "5", 1, false),
        ),
    ];
    each_backend_and(&cases, transient);
}

/// Every recvfrom fails with ENOMEM, for good: the direction rests,
/// retrying at most a second apart (10 ms, doubling), without spinning (under 5 % of a
/// CPU over 2 s), and SIGTERM still ends the relay.
#[test]
fn a_lasting_transient_error_is_retried_without_spinning() {
    each_backend(&BACKENDS, lasting);
}

fn lasting(b: &str) {
    let case = &format!("relay -b {b}, ENOMEM on every recvfrom");
    let dir = TempDir::new();
    let trace = dir.path("inject");
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let target = format!("tcp:{}", server.local_addr().expect("addr"));
    let (mut run, port) = listen_on_free_port(
        case,
        |port| {
            let listen = format!("tcp-listen:127.0.0.1:{port}");
            let argv = ["relay", "-b", b, "--format", "json", &listen, &target];
            let cmd = traced(&trace, &inject("recvfrom", "ENOMEM", "1+"), &argv, &[]);
            Run::spawn(case, cmd.env("FDWATCH_RELAY_SPLICE", "off"))
        },
        |run| (&mut run.child, run.pid),
    );
    let pid = run.pid();
    let mut evs = run.events();
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (srv, _) = server.accept().expect("the relay's connection");
    evs.until("connected", STEP, |e| e["event"] == "connect");
    client.write_all(&[b'x'; 4096]).expect("send");
    // The reads fail from now on: the first failure, then the rests.
    let deadline = Instant::now() + STEP;
    while injected(&trace_lines(&trace)).is_empty() {
        assert!(Instant::now() < deadline, "{case}: no recvfrom failed");
        thread::sleep(Duration::from_millis(5));
    }
    quiet_for_two_seconds(pid, case);
    let hits = injected(&trace_lines(&trace)).len();
    // 2 s of rests of 10, 20, 40 ... ms (at most 1 s): about 8 tries, never a loop.
    assert!((5..=20).contains(&hits), "{case}: {hits} tries in 2 s");
    run.signal(libc::SIGTERM);
    let (st, err, _) = run.finish_within(Duration::from_secs(5), "SIGTERM");
    quiet(case, &err);
    assert_eq!(st.signal(), Some(libc::SIGTERM), "{case}: {st}");
    let all = evs.all();
    assert!(of_kind(&all, "error").is_empty(), "{case}: {all:?}");
    drop((client, srv));
}
