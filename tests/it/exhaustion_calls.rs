//! Every call that makes a descriptor while fdwatch runs can run out: accept
//! (watch mode and the relay), the relay's socket, connect and splice pipes (pipe2),
//! a FIFO's reopen, the private reopen `--read` goes through, a write-side FIFO's open
//! (openat) and --peek's pipe (pipe2). Each, on every backend, is one episode
//! (exhaust.rs), tested on two runs:
//!
//! - held: every such call from the first one made while running fails
//!   (`when=N+`). Triggered (a client, a FIFO writer, data), the `exhausted` start
//!   event comes within 1 s of the refusal; triggered again, no second start (no event
//!   storm); fdwatch uses < 5 % of a CPU over 2 s (utime + stime from /proc/PID/stat);
//!   SIGTERM ends it within 1 s by SIGTERM (143 in a shell), the episode's end event and
//!   the summary last. A FIFO writer that comes during the episode and stays is served
//!   within 1 s (its hang-up cleared, the old read end serves).
//! - lifted: only the trigger's own calls fail (`when=N..M`): once they are used up,
//!   new work is served within 1 s (a client relayed end to end, an accepted peer's
//!   bytes, a FIFO writer's line, a pipe's data, a reader for a write-side FIFO, the
//!   peeked bytes), and the run has exactly one start and one end event.
//!
//! The faults come from `strace -f --seccomp-bpf -e inject=CALL:error=ERRNO:when=...`;
//! a probe run (traced, no fault) counts the calls made at start, so N is the first
//! one made while running. The errnos rotate (EMFILE, ENFILE, ENOBUFS, ENOMEM) by
//! backend and call, so each call meets every one across the matrix. Calls made only at
//! start (epoll_create1, io_uring_setup, a `pid:` spec's pidfd_open and pidfd_getfd)
//! are one error line and status 2. Synchronization is on fdwatch's JSON events, the
//! test's own sockets and pipes, and /proc; the one sleep is the CPU window.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::fcntl::OFlag;
use nix::libc;
use serde_json::Value;

/// How soon an episode's start is reported, and new work served once it is over.
const SECOND: Duration = Duration::from_secs(1);
/// The errnos of running out.
const ERRNOS: [&str; 4] = ["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM"];
/// What the relay's bulk clients send (past the 256 KiB after which it splices).
const BULK: usize = 512 << 10;

/// A call that makes a descriptor while fdwatch runs, and where.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Call {
    RelayAccept,
    RelaySocket,
    RelayConnect,
    RelayPipe2,
    WatchAccept,
    FifoReopen,
    PrivateReopen,
    PendingOpen,
    PeekPipe2,
}

impl Call {
    /// The system call the fault goes to.
    fn syscall(self) -> &'static str {
        match self {
            Call::RelayAccept | Call::WatchAccept => "accept4",
            Call::RelaySocket => "socket",
            Call::RelayConnect => "connect",
            Call::RelayPipe2 | Call::PeekPipe2 => "pipe2",
            Call::FifoReopen | Call::PrivateReopen | Call::PendingOpen => "openat",
        }
    }

    /// The call the `exhausted` events name.
    fn named(self) -> &'static str {
        match self {
            Call::RelayAccept | Call::WatchAccept => "accept",
            Call::RelaySocket => "socket",
            Call::RelayConnect => "connect",
            Call::RelayPipe2 | Call::PeekPipe2 => "pipe2",
            Call::FifoReopen | Call::PendingOpen => "open",
            Call::PrivateReopen => "open(/proc/self/fd)",
        }
    }

    /// How many calls one trigger makes fail: an accept and the reserve descriptor's
    /// accept of the client it refuses; a bulk connection's two directions.
    fn per_trigger(self) -> u32 {
        match self {
            Call::RelayAccept | Call::WatchAccept | Call::RelayPipe2 => 2,
            _ => 1,
        }
    }

    fn relay(self) -> bool {
        matches!(
            self,
            Call::RelayAccept | Call::RelaySocket | Call::RelayConnect | Call::RelayPipe2
        )
    }

    /// The errno for this call on backend `b`.
    fn errno(self, b: &str) -> &'static str {
        let i = BACKENDS.iter().position(|&x| x == b).expect("a backend");
        ERRNOS[(i + self as usize) % ERRNOS.len()]
    }
}

/// What one run of a case works with: the FIFO, the relay's echo target, the pipe
/// placed at fd 3, the clients and writers kept open.
struct World {
    call: Call,
    case: String,
    dir: TempDir,
    port: u16,
    echo: Echo,
    /// Read end at fd 3 in the child, write end kept here.
    pipe: (OwnedFd, OwnedFd),
    clients: Vec<TcpStream>,
    /// FIFO ends kept open (a writer that stays, a reader for a write-side FIFO).
    kept: Vec<OwnedFd>,
}

impl World {
    fn new(call: Call, case: &str) -> World {
        let dir = TempDir::new();
        dir.fifo("fifo");
        World {
            call,
            case: case.to_owned(),
            dir,
            port: 0,
            echo: Echo::start(),
            pipe: pipe(),
            clients: Vec::new(),
            kept: Vec::new(),
        }
    }

    fn fifo(&self) -> PathBuf {
        self.dir.path("fifo")
    }

    /// fdwatch's arguments for this call on backend `b` (listening on `port`).
    fn argv(&self, b: &str, port: u16) -> Vec<String> {
        let listen = format!("tcp-listen:127.0.0.1:{port}");
        let fifo = self.fifo().display().to_string();
        let mut v: Vec<String> = if self.call.relay() {
            vec!["relay".into()]
        } else {
            vec!["-m".into()]
        };
        v.extend(["-b", b, "--format", "json"].map(String::from));
        let rest: Vec<String> = match self.call {
            c if c.relay() => vec![listen, format!("tcp:{}", self.echo.addr)],
            Call::WatchAccept => vec!["--read=text".into(), "-".into(), listen],
            Call::FifoReopen => vec!["--read=text".into(), "-".into(), fifo],
            Call::PrivateReopen => vec!["--read=text".into(), "-".into(), "3".into()],
            Call::PendingOpen => vec!["-".into(), format!("{fifo}:w")],
            _ => vec!["--peek".into(), "-".into(), "3".into()],
        };
        v.extend(rest);
        v
    }

    /// fdwatch under strace with `filters` (the pipe's read end at fd 3), blocked in
    /// its wait (a relay or a listener on a free port, another tried should it be taken).
    fn launch(&mut self, b: &str, trace: &Path, filters: &[String]) -> Traced {
        let case = self.case.clone();
        let (run, port) = listen_on_free_port(
            &case,
            |port| Traced::start(&case, self.command(b, port, trace, filters)),
            |t| (&mut t.child, t.pid),
        );
        self.port = port;
        run
    }

    fn command(&self, b: &str, port: u16, trace: &Path, filters: &[String]) -> Fdwatch {
        Fdwatch::new(self.argv(b, port))
            .under_strace_seccomp(trace, filters)
            .fd(self.pipe.0.as_fd(), 3)
    }

    /// Makes fdwatch make the call once.
    fn trigger(&mut self) {
        match self.call {
            Call::RelayAccept | Call::RelaySocket | Call::RelayConnect | Call::WatchAccept => {
                let c = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
                self.clients.push(c);
            }
            Call::RelayPipe2 => {
                let got = self.bulk();
                assert!(got, "{}: the bulk echo came back wrong", self.case);
            }
            Call::FifoReopen => {
                // A writer that comes, writes and goes: its hang-up makes fdwatch reopen.
                let w = fifo_writer(&self.fifo(), &self.case);
                write(&w, b"x\n");
            }
            Call::PrivateReopen | Call::PeekPipe2 => write(&self.pipe.1, b"abc"),
            // The open is retried every --interval by itself.
            Call::PendingOpen => {}
        }
    }

    /// A client through the relay sends BULK bytes and reads them back (its target
    /// echoes): true when they come back as sent.
    fn bulk(&mut self) -> bool {
        let mut c = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let data = XorShift::new(BULK as u64).bytes(BULK);
        let mut back = Vec::with_capacity(BULK);
        thread::scope(|s| {
            let mut w = c.try_clone().expect("clone");
            let sent = &data;
            s.spawn(move || {
                w.write_all(sent).expect("send the bulk");
                w.shutdown(Shutdown::Write).expect("shutdown");
            });
            let _ = c.read_to_end(&mut back);
        });
        back == data
    }

    /// New work once the fault is used up, served within 1 s: end to end through the
    /// relay, by fdwatch's events in watch mode.
    fn serve(&mut self, evs: &mut EventStream) {
        let case = self.case.clone();
        let t0 = Instant::now();
        match self.call {
            c if c.relay() => {
                let served = if c == Call::RelayPipe2 {
                    self.bulk()
                } else {
                    let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
                    s.set_read_timeout(Some(SECOND)).expect("timeout");
                    s.write_all(b"ping").expect("send");
                    let mut back = [0u8; 4];
                    s.read_exact(&mut back).is_ok() && &back == b"ping"
                };
                assert!(served, "{case}: a new client was not relayed end to end");
            }
            Call::WatchAccept => {
                let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
                s.write_all(b"ping").expect("send");
                self.clients.push(s);
                evs.until("the new client's ping", |e| data_has(e, "ping"));
            }
            Call::FifoReopen => {
                let w = fifo_writer(&self.fifo(), &case);
                write(&w, b"ping\n");
                evs.until("a new FIFO writer's line", |e| data_has(e, "ping"));
            }
            Call::PrivateReopen => {
                write(&self.pipe.1, b"ping");
                evs.until("the pipe's new data", |e| data_has(e, "ping"));
            }
            Call::PendingOpen => {
                self.kept
                    .push(open(&self.fifo(), OFlag::O_RDONLY | OFlag::O_NONBLOCK));
                evs.until("the FIFO opened for writing once a reader came", |e| {
                    e["event"] == "ready" && words(e).iter().any(|w| w == "write")
                });
            }
            _ => {
                write(&self.pipe.1, b"de");
                evs.until("the peeked bytes", |e| data_has(e, "abcde"));
            }
        }
        let took = t0.elapsed();
        assert!(
            took <= SECOND,
            "{case}: new work served after {took:?}, not within 1 s"
        );
    }
}

/// A data event whose text has `s`.
fn data_has(e: &Value, s: &str) -> bool {
    e["event"] == "data" && e["text"].as_str().is_some_and(|t| t.contains(s))
}

/// An `exhausted` event of `state` ("start", "end").
fn episode(e: &Value, state: &str) -> bool {
    e["event"] == "exhausted" && e["state"] == state
}

/// fdwatch under strace, its pid and its events.
struct Traced {
    child: Child,
    /// None when it ended before it was seen (the port was taken, say).
    pid: Option<u32>,
    evs: EventStream,
    _dogs: (Watchdog, Watchdog),
}

impl Traced {
    fn start(case: &str, f: Fdwatch) -> Traced {
        let (mut child, dog) = spawn(case, f);
        let pid = child_named(case, &mut child, "fdwatch");
        let tracee = Watchdog::of_pid(pid.unwrap_or(child.id()), WATCHDOG, case);
        let evs = EventStream::new(&mut child, case);
        Traced {
            child,
            pid,
            evs,
            _dogs: (dog, tracee),
        }
    }

    fn pid(&self) -> u32 {
        self.pid.expect("fdwatch's pid (it waits)")
    }

    /// SIGTERM to fdwatch: it must die by it within 1 s. Returns every event.
    fn sigterm(mut self, case: &str) -> Vec<Value> {
        // SAFETY: kill(2) with a pid and a signal number.
        let r = unsafe { libc::kill(self.pid() as libc::pid_t, libc::SIGTERM) };
        assert_eq!(r, 0, "{case}: kill");
        let st = exit_within(&mut self.child, SECOND);
        let Some(st) = st else {
            panic!("{case}: SIGTERM not served within 1 s");
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        assert_eq!(
            st.signal(),
            Some(libc::SIGTERM),
            "{case}: want death by SIGTERM (143), got {st}; stderr {err:?}"
        );
        assert!(err.is_empty(), "{case}: stderr {err:?}");
        self.evs.all()
    }
}

/// The position (1-based) of the first call of `sc` fdwatch makes while running: a probe
/// run traced without a fault counts those made at start (a write-side FIFO's open is
/// retried every --interval from the start: its first retry is the one after its open).
fn first_while_running(w: &mut World, b: &str) -> usize {
    let case = format!("{} (probe)", w.case);
    let sc = w.call.syscall();
    let trace = w.dir.path(&format!("probe-{b}.txt"));
    let run = w.launch(b, &trace, &[trace_filter(sc)]);
    let fifo = w.fifo().display().to_string();
    let calls = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_once(' ').map(|(_, c)| c.trim_start().to_owned()))
            .filter(|c| c.starts_with(&format!("{sc}(")))
            .collect()
    };
    let fifo_opens = |calls: &[String]| -> Vec<usize> {
        let at = calls.iter().enumerate();
        at.filter(|(_, c)| c.contains(&fifo))
            .map(|(i, _)| i + 1)
            .collect()
    };
    if w.call == Call::PendingOpen {
        // Its first retry (the second open of the FIFO), whatever was opened between.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&trace).unwrap_or_default();
            if let Some(&n) = fifo_opens(&calls(&text)).get(1) {
                run.sigterm(&case);
                return n;
            }
            assert!(
                Instant::now() < deadline,
                "{case}: no retry of the open: {text}"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }
    run.sigterm(&case);
    let text = std::fs::read_to_string(&trace).expect("the probe's trace");
    calls(&text).len() + 1
}

/// The held run: every call from the first made while running fails.
fn held(b: &str, call: Call) {
    let errno = call.errno(b);
    let case = format!(
        "-b {b} {call:?}: {} fails with {errno} from then on",
        call.named()
    );
    let mut w = World::new(call, &case);
    let n = first_while_running(&mut w, b);
    let sc = call.syscall();
    let filters = [
        trace_filter(sc),
        inject_filter(sc, errno, Some(&format!("{n}+"))),
    ];
    let trace = w.dir.path("held.txt");
    let started = Instant::now();
    let mut run = w.launch(b, &trace, &filters);
    let t0 = if call == Call::PendingOpen {
        started
    } else {
        Instant::now()
    };
    w.trigger();
    let got = run
        .evs
        .until("the episode's start", |e| episode(e, "start"));
    let took = t0.elapsed();
    assert!(took <= SECOND, "{case}: the start event after {took:?}");
    let start = got.last().expect("the start");
    assert_eq!(start["call"], call.named(), "{case}: {start}");
    assert_eq!(start["errno"], errno, "{case}: {start}");
    // Again: the same episode, no second start.
    w.trigger();
    blocked(run.pid(), &case);
    let cpu0 = cpu_seconds(run.pid());
    let t1 = Instant::now();
    thread::sleep(Duration::from_secs(2));
    let share = (cpu_seconds(run.pid()) - cpu0) / t1.elapsed().as_secs_f64();
    assert!(
        share < 0.05,
        "{case}: {:.1} % of a CPU while exhausted: a busy loop",
        share * 100.0
    );
    if call == Call::FifoReopen {
        // A writer that comes and stays is served through the old read end.
        let stay = fifo_writer(&w.fifo(), &case);
        let t2 = Instant::now();
        write(&stay, b"stays\n");
        run.evs.until("a writer that came during the episode", |e| {
            data_has(e, "stays")
        });
        let took = t2.elapsed();
        assert!(took <= SECOND, "{case}: that writer served after {took:?}");
        w.kept.push(stay);
    }
    let all = run.sigterm(&case);
    one_episode(&case, &all, call);
    let n = all.len();
    assert!(
        n >= 1 && all[n - 1]["event"] == "summary",
        "{case}: the summary last: {:?}",
        &all[n.saturating_sub(5)..]
    );
}

/// The lifted run: the trigger's own calls fail, and no more.
fn lifted(b: &str, call: Call) {
    let errno = call.errno(b);
    let case = format!(
        "-b {b} {call:?}: {} fails with {errno}, then works",
        call.named()
    );
    let mut w = World::new(call, &case);
    let n = first_while_running(&mut w, b);
    let last = n + call.per_trigger() as usize - 1;
    let sc = call.syscall();
    let filters = [
        trace_filter(sc),
        inject_filter(sc, errno, Some(&format!("{n}..{last}"))),
    ];
    let trace = w.dir.path("lifted.txt");
    let mut run = w.launch(b, &trace, &filters);
    w.trigger();
    run.evs
        .until("the episode's start", |e| episode(e, "start"));
    w.serve(&mut run.evs);
    let all = run.sigterm(&case);
    one_episode(&case, &all, call);
    let injected = std::fs::read_to_string(&trace)
        .expect("the trace")
        .matches("(INJECTED)")
        .count();
    assert_eq!(
        injected,
        call.per_trigger() as usize,
        "{case}: the faults injected"
    );
}

/// Exactly one episode in the run: a start, then an end, naming the call.
fn one_episode(case: &str, all: &[Value], call: Call) {
    let ex: Vec<&Value> = of_kind(all, "exhausted");
    let states: Vec<&Value> = ex.iter().map(|e| &e["state"]).collect();
    assert_eq!(
        states,
        ["start", "end"],
        "{case}: one start and one end event: {ex:?}"
    );
    for e in &ex {
        assert_eq!(e["call"], call.named(), "{case}: {e}");
    }
    let end = ex[1];
    assert!(
        end["duration"].as_f64().is_some_and(|d| d >= 0.0) && end["refused"].is_u64(),
        "{case}: the end says how long and how many were refused: {end}"
    );
    if call.relay() && call != Call::RelayPipe2 {
        // The relay's events name the listener.
        assert!(
            end["what"]
                .as_str()
                .is_some_and(|w| w.starts_with("tcp 127.0.0.1:")),
            "{case}: {end}"
        );
    }
}

const CALLS: [Call; 9] = [
    Call::RelayAccept,
    Call::RelaySocket,
    Call::RelayConnect,
    Call::RelayPipe2,
    Call::WatchAccept,
    Call::FifoReopen,
    Call::PrivateReopen,
    Call::PendingOpen,
    Call::PeekPipe2,
];

fn strace_is_here() -> bool {
    have("strace", "exhaustion under strace fault injection")
}

#[test]
fn relay_calls_held_out_back_off_quietly_and_hear_sigterm() {
    if !strace_is_here() {
        return;
    }
    each_backend_and(&named(&CALLS[..4]), held);
}

#[test]
fn relay_calls_serve_again_within_a_second() {
    if !strace_is_here() {
        return;
    }
    each_backend_and(&named(&CALLS[..4]), lifted);
}

#[test]
fn watch_calls_held_out_back_off_quietly_and_hear_sigterm() {
    if !strace_is_here() {
        return;
    }
    each_backend_and(&named(&CALLS[4..]), held);
}

#[test]
fn watch_calls_serve_again_within_a_second() {
    if !strace_is_here() {
        return;
    }
    each_backend_and(&named(&CALLS[4..]), lifted);
}

/// The calls as `each_backend_and` variants.
fn named(calls: &[Call]) -> Vec<(&'static str, Call)> {
    calls
        .iter()
        .map(|&c| {
            let tag: &'static str = match c {
                Call::RelayAccept => "relay-accept",
                Call::RelaySocket => "relay-socket",
                Call::RelayConnect => "relay-connect",
                Call::RelayPipe2 => "relay-pipe2",
                Call::WatchAccept => "accept",
                Call::FifoReopen => "fifo-reopen",
                Call::PrivateReopen => "read-reopen",
                Call::PendingOpen => "pending-open",
                Call::PeekPipe2 => "peek-pipe2",
            };
            (tag, c)
        })
        .collect()
}

/// Calls made only at start fail the run at once: one line naming the call and the
/// errno, status 2, nothing on stdout.
#[test]
fn start_up_calls_are_one_line_and_status_2() {
    if !strace_is_here() {
        return;
    }
    let (r, _w) = pipe();
    // One of this process's fds, for a `pid:` spec.
    let me = format!(
        "{}:{}",
        std::process::id(),
        std::os::fd::AsRawFd::as_raw_fd(&r)
    );
    let rows: [(&str, &str, &[&str]); 5] = [
        ("epoll_create1", "EMFILE", &["-b", "epoll", "0", "0r"]),
        ("io_uring_setup", "ENFILE", &["-b", "uring", "0", "0r"]),
        (
            "epoll_create1",
            "ENOMEM",
            &["relay", "-b", "epoll", "tcp-listen:0", "tcp:127.0.0.1:9"],
        ),
        ("pidfd_open", "EMFILE", &["-b", "poll", "0", "pid:PID"]),
        ("pidfd_getfd", "ENFILE", &["-b", "poll", "0", "pid:PID"]),
    ];
    for (sc, errno, argv) in rows {
        let case = format!("{sc} fails with {errno} at start: {argv:?}");
        let argv: Vec<String> = argv.iter().map(|a| a.replace("PID", &me)).collect();
        let f = Fdwatch::new(&argv)
            .under_strace(
                Path::new("/dev/null"),
                &[trace_filter(sc), inject_filter(sc, errno, None)],
            )
            .fd(r.as_fd(), 3);
        let out = run(&case, f);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{case}: {err}");
        assert_eq!(err.lines().count(), 1, "{case}: one line: {err:?}");
        assert!(
            err.contains(sc) && err.contains(errno) && !err.contains("-b epoll"),
            "{case}: {err}"
        );
        assert!(out.stdout.is_empty(), "{case}: {out:?}");
    }
}

/// The text output says when an episode starts and when it ends, naming the relay's
/// listener and the clients refused: the relay's socket to TARGET fails once.
#[test]
fn text_says_when_an_episode_starts_and_ends() {
    if !strace_is_here() {
        return;
    }
    let echo = Echo::start();
    let case = "relay, text, the TARGET side's socket fails once with ENOBUFS";
    let target = format!("tcp:{}", echo.addr);
    // The listener is the first socket: the second is the first client's TARGET side.
    let filters = [
        trace_filter("socket"),
        inject_filter("socket", "ENOBUFS", Some("2")),
    ];
    let ((mut child, _dog), port) = listen_on_free_port(
        case,
        |port| {
            let listen = format!("tcp-listen:127.0.0.1:{port}");
            let f = Fdwatch::new(["relay", "-b", "poll", listen.as_str(), target.as_str()]);
            spawn(
                case,
                f.under_strace_seccomp(Path::new("/dev/null"), &filters),
            )
        },
        |(child, _)| {
            let pid = child_named(case, child, "fdwatch");
            (child, pid)
        },
    );
    let pid = child_named(case, &mut child, "fdwatch").expect("fdwatch's pid");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(
        child.stdout.take().expect("stdout"),
    ));
    let mut next = |what: &str| -> String {
        for l in lines.by_ref() {
            let l = l.expect("a line");
            if l.contains(what) {
                return l;
            }
        }
        panic!("{case}: no line with {what:?}");
    };
    let mut refused = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let start = next("exhausted:");
    let listener = format!("tcp 127.0.0.1:{port}: exhausted: socket failed with ENOBUFS");
    assert!(start.contains(&listener), "{case}: {start}");
    assert!(start.contains("backing off"), "{case}: {start}");
    let mut b = [0u8; 1];
    assert!(
        matches!(refused.read(&mut b), Ok(0) | Err(_)),
        "{case}: the refused client is closed"
    );
    let _served = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let end = next("exhausted: over:");
    assert!(
        end.contains(&listener.replace("exhausted:", "exhausted: over:"))
            && end.contains("1 client refused (closed at once)"),
        "{case}: {end}"
    );
    // SAFETY: kill(2) with a pid and a signal number.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let st = exit_within(&mut child, SECOND).expect("SIGTERM served within 1 s");
    assert_eq!(st.signal(), Some(libc::SIGTERM), "{case}");
}
