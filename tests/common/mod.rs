//! Test helpers: real kernel objects (pipes, FIFOs, ptys, socketpairs), the real binary
//! with fds placed at chosen numbers, and its JSON Lines output parsed.
//!
//! Every fd made here is O_CLOEXEC: tests run in parallel threads, and a pipe end leaked
//! into another test's child would keep a writer alive and hide a hang-up.
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Lines, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use serde_json::{Value, json};

/// Whether `program` (strace, gcc's `cc`, zsh, fish...) is on PATH, for a test that runs
/// it. When it is not, the test is skipped: one line on stderr (`skipped: ...: zsh not
/// installed`) and the caller returns. With FDWATCH_TEST_REQUIRE_ALL set (.ci/run sets
/// it, after installing them all) a missing program fails the test instead, so CI never
/// skips silently.
pub fn have(program: &str, test: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            let p = dir.join(program);
            std::fs::metadata(&p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    });
    if found {
        return true;
    }
    assert!(
        std::env::var_os("FDWATCH_TEST_REQUIRE_ALL").is_none(),
        "{test} needs {program}, which is not installed (FDWATCH_TEST_REQUIRE_ALL is set, \
         so nothing is skipped; .ci/run installs it)"
    );
    // Straight to fd 2: libtest captures eprintln! of a passing test, and a skip must
    // be seen.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {test}: {program} not installed\n").as_bytes(),
    );
    false
}

/// Every backend: each matrix test runs on all of them (uring included, issue 18).
pub const BACKENDS: [&str; 6] = ["select", "pselect", "poll", "ppoll", "epoll", "uring"];

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fdwatch")
}

/// A pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe2")
}

pub fn write(fd: impl AsFd, data: &[u8]) {
    let n = nix::unistd::write(fd, data).expect("write");
    assert_eq!(n, data.len());
}

/// Bytes readable right now, without blocking (FIONREAD).
pub fn fionread(fd: impl AsFd) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int; the fd is open.
    let r = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), libc::FIONREAD, &mut n) };
    assert_eq!(r, 0, "FIONREAD");
    n
}

pub fn status_flags(fd: impl AsFd) -> OFlag {
    OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL).expect("F_GETFL"))
}

/// Sets O_NONBLOCK on the open file description of `fd`, keeping its other flags.
pub fn set_nonblock(fd: impl AsFd) {
    let fl = status_flags(&fd);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK)).expect("F_SETFL");
}

/// One read of at most `n + 1` bytes: what `fd` holds when `n` are expected, plus one
/// byte more if there is more, so a surplus shows in the comparison.
pub fn read_back(fd: impl AsFd, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n + 1];
    let got = nix::unistd::read(fd, &mut buf).expect("read back");
    buf.truncate(got);
    buf
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let tmpl = std::env::temp_dir().join("fdwatch-test-XXXXXX");
        TempDir(nix::unistd::mkdtemp(&tmpl).expect("mkdtemp"))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A FIFO named `name` in this directory.
    pub fn fifo(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).expect("mkfifo");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens a path with extra flags, close-on-exec.
pub fn open(path: &Path, flags: OFlag) -> OwnedFd {
    nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// A writer end of `fifo`, non-blocking: ENXIO here means a moment with no reader
/// (which fdwatch's reopen must never leave, SPEC §7). Close-on-exec like every fd here.
pub fn fifo_writer(fifo: &Path, label: &str) -> OwnedFd {
    nix::fcntl::open(
        fifo,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("{label}: opening a writer of the FIFO failed: {e:?}"))
}

/// A pseudo-terminal pair, both ends close-on-exec, the slave in canonical mode.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

pub fn pty() -> Pty {
    let m = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .expect("posix_openpt");
    nix::pty::grantpt(&m).expect("grantpt");
    nix::pty::unlockpt(&m).expect("unlockpt");
    let name = nix::pty::ptsname_r(&m).expect("ptsname_r");
    let slave = open(Path::new(&name), OFlag::O_RDWR | OFlag::O_NOCTTY);
    Pty {
        master: OwnedFd::from(m),
        slave,
    }
}

/// A connected AF_UNIX stream pair, close-on-exec.
pub fn socketpair() -> (OwnedFd, OwnedFd) {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair")
}

/// An AF_UNIX stream socket bound to `path` but not listening (close-on-exec):
/// connecting to it is refused (ECONNREFUSED) until `listen` is called on it.
pub fn closed_unix(path: &Path) -> OwnedFd {
    use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let addr = UnixAddr::new(path).expect("unix address");
    socket::bind(fd.as_raw_fd(), &addr).expect("bind a UNIX socket");
    fd
}

/// Sends one urgent byte (send(2) with MSG_OOB).
pub fn send_oob(fd: impl AsFd, byte: u8) {
    use nix::sys::socket::{self, MsgFlags};
    let n = socket::send(fd.as_fd().as_raw_fd(), &[byte], MsgFlags::MSG_OOB).expect("send OOB");
    assert_eq!(n, 1, "send(MSG_OOB)");
}

/// A step the child runs between fork and exec (after the fds are placed).
type ChildSetup = Box<dyn FnMut() -> std::io::Result<()> + Send + Sync>;

/// The fdwatch binary with chosen fds placed at chosen numbers in the child.
pub struct Fdwatch {
    /// A program that runs fdwatch (`under`): its path and the arguments before fdwatch's.
    wrapper: Option<(OsString, Vec<OsString>)>,
    args: Vec<OsString>,
    stdin: Stdio,
    /// None: piped by `spawn`, captured by `run`.
    stdout: Option<Stdio>,
    envs: Vec<(OsString, OsString)>,
    fds: Vec<(RawFd, RawFd)>,
    close_others: bool,
    setup: Vec<ChildSetup>,
}

impl Fdwatch {
    pub fn new<I, S>(args: I) -> Fdwatch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Fdwatch {
            wrapper: None,
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            stdin: Stdio::null(),
            stdout: None,
            envs: Vec::new(),
            fds: Vec::new(),
            close_others: false,
            setup: Vec::new(),
        }
    }

    /// Runs fdwatch under `program`: the child is `program ARGS... FDWATCH FDWATCH-ARGS...`
    /// (a tracer such as strace, which passes the placed fds on to fdwatch).
    pub fn under<I, S>(mut self, program: impl AsRef<OsStr>, args: I) -> Fdwatch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self.wrapper = Some((program.as_ref().to_owned(), args));
        self
    }

    /// Places `fd` (which stays open in the test) at number `at` in the child.
    pub fn fd(mut self, fd: BorrowedFd<'_>, at: RawFd) -> Fdwatch {
        self.fds.push((fd.as_raw_fd(), at));
        self
    }

    /// Closes every other fd above 2 in the child (strays this test process inherited
    /// from whatever ran it), for tests that need the child's fd numbers packed.
    pub fn only_placed_fds(mut self) -> Fdwatch {
        self.close_others = true;
        self
    }

    pub fn stdin(mut self, s: impl Into<Stdio>) -> Fdwatch {
        self.stdin = s.into();
        self
    }

    /// The child's stdout instead of a pipe to the test.
    pub fn stdout(mut self, s: impl Into<Stdio>) -> Fdwatch {
        self.stdout = Some(s.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Fdwatch {
        self.envs.push((k.into(), v.into()));
        self
    }

    /// RLIMIT_NOFILE set to `n`, soft and hard, in the child (after the fds are placed).
    pub fn nofile(self, n: u64) -> Fdwatch {
        // SAFETY: setrlimit is async-signal-safe; it runs between fork and exec.
        unsafe {
            self.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
    }

    /// Adds a child-side step, run between fork and exec after the fds are placed (and
    /// after the steps added before it).
    ///
    /// # Safety
    /// As for `CommandExt::pre_exec`: `f` may only make async-signal-safe calls.
    pub unsafe fn pre_exec(
        mut self,
        f: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Fdwatch {
        self.setup.push(Box::new(f));
        self
    }

    /// The command: the program (or its wrapper), stdio, environment, then the fd
    /// placement and the added child-side steps.
    fn command(self) -> Command {
        let mut cmd = match self.wrapper {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(bin());
                cmd
            }
            None => Command::new(bin()),
        };
        cmd.args(self.args).stdin(self.stdin);
        if let Some(out) = self.stdout {
            cmd.stdout(out);
        }
        cmd.env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CLICOLOR")
            .env_remove("COLUMNS");
        for (k, v) in self.envs {
            cmd.env(k, v);
        }
        place_fds(&mut cmd, self.fds, self.close_others);
        // SAFETY: the setup steps are the caller's async-signal-safe pre-exec work.
        unsafe {
            for step in self.setup {
                cmd.pre_exec(step);
            }
        }
        cmd
    }

    /// Runs to completion, capturing stdout (unless `stdout` set it) and stderr.
    pub fn run(self) -> Output {
        self.command().output().expect("spawn fdwatch")
    }

    /// Starts it with stdout (unless `stdout` set it) and stderr piped.
    pub fn spawn(mut self) -> Child {
        self.stdout.get_or_insert_with(Stdio::piped);
        self.command()
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fdwatch")
    }

    /// The command with its fds placed (and the `pre_exec` steps added), not yet
    /// spawned: for a test that sets up the child in ways this builder does not (its
    /// stderr, uid, more `pre_exec` steps, which run after these).
    pub fn into_command(self) -> Command {
        self.command()
    }
}

/// Parses JSON Lines; every line must be one JSON object.
pub fn events(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))
        })
        .collect()
}

/// The events named `name`.
pub fn of_kind<'a>(evs: &'a [Value], name: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["event"] == name).collect()
}

/// The `ready` words of the ready event for `fd`, or None when that fd was not reported.
pub fn ready_words(evs: &[Value], fd: i64) -> Option<Vec<String>> {
    let hits: Vec<_> = evs
        .iter()
        .filter(|e| e["event"] == "ready" && e["fd"] == fd)
        .collect();
    assert!(
        hits.len() <= 1,
        "fd {fd} reported {} times: {evs:?}",
        hits.len()
    );
    hits.first().map(|e| words(e))
}

/// The `ready` words of one ready event.
pub fn words(ev: &Value) -> Vec<String> {
    ev["ready"]
        .as_array()
        .unwrap_or_else(|| panic!("no ready words: {ev}"))
        .iter()
        .map(|w| w.as_str().expect("a ready word is a string").to_owned())
        .collect()
}

/// Matches the events named `name`.
pub fn is(name: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["event"] == name
}

/// The one summary event; fails naming the case unless there is exactly one.
pub fn summary(case: &str, evs: &[Value]) -> Value {
    let s = of_kind(evs, "summary");
    assert_eq!(s.len(), 1, "{case}: one summary expected: {evs:?}");
    s[0].clone()
}

/// `summary`, also failing unless the summary is the last event.
pub fn last_summary(case: &str, evs: &[Value]) -> Value {
    let s = summary(case, evs);
    assert_eq!(
        evs.last().map(|e| &e["event"]),
        Some(&json!("summary")),
        "{case}: the summary comes last: {evs:?}"
    );
    s
}

/// A numeric field of an event; fails naming the case when it is not a number.
pub fn num(case: &str, v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{case}: field {field:?} is not a number: {v}"))
}

/// Waits until `pid` sleeps inside a multiplexer call (read from /proc/PID/syscall),
/// so a test can act "while fdwatch is blocked" without guessing with sleeps.
pub fn wait_blocked(pid: u32) {
    // select, poll, epoll_wait, pselect6, ppoll, epoll_pwait, epoll_pwait2, io_uring_enter.
    #[cfg(target_arch = "x86_64")]
    const WAITS: &[&str] = &["23", "7", "232", "270", "271", "281", "441", "426"];
    // aarch64 has only the p-variants: pselect6, ppoll, epoll_pwait, epoll_pwait2, and
    // io_uring_enter.
    #[cfg(not(target_arch = "x86_64"))]
    const WAITS: &[&str] = &["72", "73", "22", "441", "426"];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sc = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        let nr = sc.split_whitespace().next().unwrap_or("");
        if WAITS.contains(&nr) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fdwatch never blocked in a wait: {sc:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The exit code, failing the test on death by signal.
pub fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {out:?}"))
}

/// Stderr as text, for assertions.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Kills a child with SIGKILL if it outlives `limit`, or if it still runs when the test
/// panics (the guard drops while unwinding). A guard against hangs only: nothing waits on
/// it to synchronize. The signal goes through a pidfd, a handle to that exact process, so
/// a reaped child's reused pid is never signalled.
pub struct Watchdog {
    /// None when the process had already ended (nothing to guard).
    pidfd: Option<Arc<OwnedFd>>,
    /// Closing this write end wakes the watchdog thread and ends it.
    disarm: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Watchdog {
    /// Call it before anything waits for (reaps) `child`.
    pub fn new(child: &Child, limit: Duration, label: &str) -> Watchdog {
        Watchdog::of_pid(child.id(), limit, label)
    }

    /// A guard on a process that is not the test's child (fdwatch under a wrapper such
    /// as strace, found by its pid): the wrapper's own guard alone would leave it running.
    pub fn of_pid(pid: u32, limit: Duration, label: &str) -> Watchdog {
        let pid = libc::pid_t::try_from(pid).expect("pid");
        // SAFETY: pidfd_open(pid, 0) returns a new close-on-exec fd or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if raw < 0 && Errno::last() == Errno::ESRCH {
            // Gone (and reaped by its parent) before the guard was set: a quick end.
            return Watchdog {
                pidfd: None,
                disarm: None,
                thread: None,
            };
        }
        assert!(raw >= 0, "{label}: pidfd_open({pid}): {}", Errno::last());
        // SAFETY: a fresh fd that nothing else owns.
        let pidfd = Arc::new(unsafe { OwnedFd::from_raw_fd(RawFd::try_from(raw).expect("fd")) });
        let (quiet, disarm) = pipe();
        let label = label.to_owned();
        let thread = {
            let pidfd = Arc::clone(&pidfd);
            thread::spawn(move || {
                let deadline = Instant::now() + limit;
                loop {
                    // Readable when the child ends; the pipe when the guard is dropped.
                    let mut fds = [
                        PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
                        PollFd::new(quiet.as_fd(), PollFlags::POLLIN),
                    ];
                    let left = deadline.saturating_duration_since(Instant::now());
                    let ms = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
                    match nix::poll::poll(&mut fds, ms) {
                        // poll rounds down to whole milliseconds: wait out the rest.
                        Ok(0) if Instant::now() < deadline => {}
                        Ok(0) => {
                            eprintln!(
                                "{label}: fdwatch (pid {pid}) still running after {limit:?}: killed"
                            );
                            let _ = pidfd_signal(pidfd.as_fd(), libc::SIGKILL);
                            return;
                        }
                        Ok(_) => return,
                        Err(Errno::EINTR) => {}
                        Err(e) => panic!("{label}: watchdog poll: {e}"),
                    }
                }
            })
        };
        Watchdog {
            pidfd: Some(pidfd),
            disarm: Some(disarm),
            thread: Some(thread),
        }
    }

    /// Sends `sig` to the guarded process, through its pidfd (a process that already
    /// ended is left alone).
    pub fn signal(&self, sig: libc::c_int) {
        let Some(pidfd) = &self.pidfd else {
            return;
        };
        let r = pidfd_signal(pidfd.as_fd(), sig);
        assert!(
            r.is_ok() || r == Err(Errno::ESRCH),
            "pidfd_send_signal({sig}): {r:?}"
        );
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let (true, Some(pidfd)) = (thread::panicking(), &self.pidfd) {
            let _ = pidfd_signal(pidfd.as_fd(), libc::SIGKILL);
        }
        drop(self.disarm.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `sig` through a pidfd; ESRCH when the process already ended.
fn pidfd_signal(pidfd: BorrowedFd<'_>, sig: libc::c_int) -> Result<(), Errno> {
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// More events than any correct streamed run here prints.
const MAX_LINES: usize = 100_000;

/// A child's JSON Lines, read one at a time as they come, to synchronize with it.
/// Dropping it closes the pipe, which ends the child (a closed stdout ends fdwatch).
pub struct EventStream {
    label: String,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every event read so far.
    seen: Vec<Value>,
}

impl EventStream {
    /// Takes the child's piped stdout.
    pub fn new(child: &mut Child, label: &str) -> EventStream {
        EventStream {
            label: label.to_owned(),
            lines: BufReader::new(child.stdout.take().expect("piped stdout")).lines(),
            seen: Vec::new(),
        }
    }

    /// The next event; None when the child closed its stdout (it ended). Fails on
    /// endless output (more than MAX_LINES events).
    pub fn next(&mut self) -> Option<Value> {
        let line = self
            .lines
            .next()?
            .unwrap_or_else(|e| panic!("{}: reading fdwatch's stdout: {e}", self.label));
        assert!(
            self.seen.len() < MAX_LINES,
            "{}: endless output (a loop?): {:?}",
            self.label,
            &self.seen[..20]
        );
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: not JSON: {line:?}: {e}", self.label));
        self.seen.push(v.clone());
        Some(v)
    }

    /// Reads events up to and including the first one `hit` accepts; returns them all.
    pub fn until(&mut self, step: &str, hit: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            let Some(v) = self.next() else {
                panic!(
                    "{}: {step}: fdwatch's output ended first; this step: {got:?}; last events: {:?}",
                    self.label,
                    &self.seen[self.seen.len().saturating_sub(12)..]
                );
            };
            let done = hit(&v);
            got.push(v);
            if done {
                return got;
            }
        }
    }

    /// Reads on to the next event named `name` and returns it.
    pub fn next_named(&mut self, name: &'static str) -> Value {
        let mut got = self.until(&format!("waiting for a {name:?} event"), is(name));
        got.pop().expect("the event")
    }

    /// Everything from here to the end of the output (the child exits).
    pub fn rest(&mut self) -> Vec<Value> {
        std::iter::from_fn(|| self.next()).collect()
    }

    /// Every event read so far.
    pub fn seen(&self) -> &[Value] {
        &self.seen
    }

    /// Every event, reading to the end of the output.
    pub fn all(mut self) -> Vec<Value> {
        self.rest();
        self.seen
    }
}

/// Runs `f` on each item in its own thread, named after the item so a panic inside says
/// which one failed; all run to the end, then the test fails naming every one that failed.
pub fn in_named_threads<'a, T: Send>(
    items: impl IntoIterator<Item = (&'a str, T)>,
    f: impl Fn(T) + Sync,
) {
    let f = &f;
    let failed: Vec<&str> = thread::scope(|s| {
        let running: Vec<_> = items
            .into_iter()
            .map(|(name, item)| {
                let h = thread::Builder::new()
                    .name(name.to_owned())
                    .spawn_scoped(s, move || f(item))
                    .expect("spawn a thread");
                (name, h)
            })
            .collect();
        running
            .into_iter()
            .filter_map(|(name, h)| h.join().is_err().then_some(name))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "failed for {failed:?} (their panics are printed above)"
    );
}

/// `in_named_threads` over backends: `f(backend)` in a thread named after it.
pub fn each_backend(backends: &[&str], f: impl Fn(&str) + Sync) {
    in_named_threads(backends.iter().map(|&b| (b, b)), f);
}

/// `in_named_threads` over every backend and each of `variants` (a tag and a value):
/// `f(backend, value)` in a thread named `BACKEND-TAG`.
pub fn each_backend_and<T: Copy + Send>(variants: &[(&str, T)], f: impl Fn(&str, T) + Sync) {
    let cases: Vec<(String, (&str, T))> = BACKENDS
        .iter()
        .flat_map(|&b| {
            variants
                .iter()
                .map(move |&(tag, v)| (format!("{b}-{tag}"), (b, v)))
        })
        .collect();
    in_named_threads(cases.iter().map(|(n, c)| (n.as_str(), *c)), |(b, v)| {
        f(b, v)
    });
}

/// How long one fdwatch run in a test may take before its watchdog kills it.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Spawns with stdout and stderr piped, under the watchdog (keep it until the child is
/// waited for).
pub fn spawn(case: &str, f: Fdwatch) -> (Child, Watchdog) {
    let child = f.spawn();
    let dog = Watchdog::new(&child, WATCHDOG, case);
    (child, dog)
}

/// Runs to completion under the watchdog.
pub fn run(case: &str, f: Fdwatch) -> Output {
    let (child, _dog) = spawn(case, f);
    child.wait_with_output().expect("wait fdwatch")
}

/// The exit code; a death by signal (the watchdog's SIGKILL) fails naming the case.
/// A usage error (SPEC §1): exit 2, one line on stderr that starts `fdwatch: ` and
/// names every needle, nothing on stdout, no panic.
pub fn assert_one_line_error(case: &str, out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{case}: {err:?}");
    assert_eq!(err.lines().count(), 1, "{case}: one line: {err:?}");
    assert!(err.starts_with("fdwatch: "), "{case}: {err:?}");
    assert!(!err.contains("panicked"), "{case}: {err:?}");
    for n in needles {
        assert!(
            err.contains(n),
            "{case}: stderr should contain {n:?}: {err:?}"
        );
    }
    assert!(out.stdout.is_empty(), "{case}: {out:?}");
}

pub fn exit_code(case: &str, out: &Output) -> i32 {
    out.status.code().unwrap_or_else(|| {
        panic!(
            "{case}: killed by a signal ({}; the watchdog kills after {WATCHDOG:?}); stdout {:?}; stderr {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}

/// A pipe filled until a non-blocking write gets EAGAIN: (read end, write end, bytes
/// queued). Only the test's own write end is made non-blocking (the read end's open
/// file description is untouched).
pub fn full_pipe() -> (OwnedFd, OwnedFd, i32) {
    let (r, w) = pipe();
    let cap = fcntl(&w, FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ");
    set_nonblock(&w);
    let chunk = vec![b'f'; 4096];
    let mut total = 0;
    loop {
        match nix::unistd::write(&w, &chunk) {
            Ok(n) => total += n,
            Err(Errno::EAGAIN) => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }
    assert_eq!(
        i32::try_from(total).ok(),
        Some(cap),
        "full pipe: wrote {total} of {cap}"
    );
    assert_eq!(fionread(&r), cap, "full pipe");
    (r, w, cap)
}

/// Fds 3 (pipe A's read end), 4 (pipe B's write end, B full) and 5 (a pty slave).
pub struct Inherited {
    pub a_read: OwnedFd,
    pub a_write: OwnedFd,
    pub b_read: OwnedFd,
    pub b_write: OwnedFd,
    pub pty: Pty,
}

impl Inherited {
    /// Nothing ready yet: A empty, B full, no input on the pty.
    pub fn quiet(nonblock: bool) -> Inherited {
        let (a_read, a_write) = pipe();
        let (b_read, b_write) = pipe();
        let cap = fcntl(&b_write, FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ");
        write(
            &b_write,
            &vec![b'z'; usize::try_from(cap).expect("pipe size")],
        );
        let pty = pty();
        if nonblock {
            set_nonblock(&a_read);
            set_nonblock(&b_write);
            set_nonblock(&pty.slave);
        }
        Inherited {
            a_read,
            a_write,
            b_read,
            b_write,
            pty,
        }
    }

    pub fn flags(&self) -> [OFlag; 3] {
        [
            status_flags(&self.a_read),
            status_flags(&self.b_write),
            status_flags(&self.pty.slave),
        ]
    }

    pub fn command(&self, argv: &[&str]) -> Fdwatch {
        Fdwatch::new(argv)
            .fd(self.a_read.as_fd(), 3)
            .fd(self.b_write.as_fd(), 4)
            .fd(self.pty.slave.as_fd(), 5)
    }

    pub fn check(&self, case: &str, before: [OFlag; 3], nonblock: bool) {
        let after = self.flags();
        for (i, name) in [
            "pipe read end (fd 3)",
            "pipe write end (fd 4)",
            "pty slave (fd 5)",
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(
                before[i], after[i],
                "{case}: status flags of {name} changed: {:?} -> {:?}",
                before[i], after[i]
            );
            assert_eq!(
                after[i].contains(OFlag::O_NONBLOCK),
                nonblock,
                "{case}: O_NONBLOCK on {name}"
            );
        }
    }
}

/// Waits until the child sleeps in its wait (None), or exits (its status).
pub fn blocked_or_exited(case: &str, child: &mut Child) -> Option<ExitStatus> {
    let pid = child.id();
    waiter_blocked_or_exited(case, child, Some(pid))
}

/// `blocked_or_exited` where the process that waits is `waiter` (fdwatch under a wrapper,
/// the wrapper being `child`; None: it ended before it was seen, so `child` ends too).
pub fn waiter_blocked_or_exited(
    case: &str,
    child: &mut Child,
    waiter: Option<u32>,
) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st);
        }
        if let Some(pid) = waiter
            && proc_state(pid) == Some('S')
        {
            blocked(pid, case);
            return None;
        }
        assert!(Instant::now() < deadline, "{case}: fdwatch never blocked");
        thread::sleep(Duration::from_millis(1));
    }
}

/// A watcher of `tcp-listen:127.0.0.1:PORT` (`f(spec)` builds it), blocked in its wait.
/// The free port is picked just before (as tests/sockets.rs does); should another socket
/// take it in between (EADDRINUSE), another port is tried.
pub fn listen_tcp(case: &str, f: impl Fn(&str) -> Fdwatch) -> (Child, Watchdog, u16) {
    listen_tcp_for(case, f, WATCHDOG)
}

/// `listen_tcp` with the watchdog's limit chosen (long runs).
pub fn listen_tcp_for(
    case: &str,
    f: impl Fn(&str) -> Fdwatch,
    limit: Duration,
) -> (Child, Watchdog, u16) {
    let ((child, dog), port) = listen_on_free_port(
        case,
        |port| {
            let child = f(&format!("tcp-listen:127.0.0.1:{port}")).spawn();
            let dog = Watchdog::new(&child, limit, case);
            (child, dog)
        },
        the_child_waits,
    );
    (child, dog, port)
}

/// For `listen_on_free_port`: the child (under its watchdog) is what waits.
pub fn the_child_waits(started: &mut (Child, Watchdog)) -> (&mut Child, Option<u32>) {
    let pid = started.0.id();
    (&mut started.0, Some(pid))
}

/// The general form of `listen_tcp`: `start(port)` starts a listener on a free loopback
/// port (whatever it returns: a child and its watchdog, a traced run...), and
/// `parts(started)` gives the child the test reaps and the pid that blocks in the wait
/// (`waiter_blocked_or_exited`). Returns once that pid waits; a start that exits naming
/// EADDRINUSE (another socket took the port first) is retried on another port.
pub fn listen_on_free_port<T>(
    case: &str,
    start: impl Fn(u16) -> T,
    parts: impl Fn(&mut T) -> (&mut Child, Option<u32>),
) -> (T, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut started = start(port);
        let (child, waiter) = parts(&mut started);
        match waiter_blocked_or_exited(case, child, waiter) {
            None => return (started, port),
            Some(st) => {
                let mut err = String::new();
                let _ = child
                    .stderr
                    .take()
                    .expect("stderr")
                    .read_to_string(&mut err);
                assert!(
                    err.contains("EADDRINUSE"),
                    "{case}: fdwatch exited at start ({st}): {err}"
                );
            }
        }
    }
    panic!("{case}: no free port after 5 tries");
}

/// A loopback port nothing listens on right now (bound, read, released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// `wait_blocked`, naming the case when fdwatch never blocks.
pub fn blocked(pid: u32, case: &str) {
    if std::panic::catch_unwind(|| wait_blocked(pid)).is_err() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        panic!(
            "{case}: fdwatch (pid {pid}) never blocked in a wait (busy loop or stuck?); stat {stat:?}"
        );
    }
}

/// Waits until `pid` has taken `signo` (no longer pending: the kernel dequeues it in
/// the process's own context, on its way out of the wait) and blocks in a wait again:
/// by then a signal it reports is reported. /proc/PID/syscall alone would still show
/// the old wait before the process has run.
pub fn delivered(pid: u32, signo: i32, case: &str) {
    let bit = 1u64 << (signo - 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let pending = status
            .lines()
            .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
            .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
            .any(|m| m & bit != 0);
        if !pending {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: signal {signo} never delivered"
        );
        thread::sleep(Duration::from_millis(1));
    }
    blocked(pid, case);
}

/// Waits until `pid` is stopped (state T, after SIGSTOP), 1 ms polls under 10 s.
pub fn wait_stopped(pid: u32, case: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while proc_state(pid) != Some('T') {
        assert!(Instant::now() < deadline, "{case}: pid {pid} never stopped");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The child's pid, for kill(2).
pub fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("pid"))
}

/// SIGTERM to the child.
pub fn sigterm(child: &Child) {
    kill(pid_of(child), Signal::SIGTERM).expect("kill SIGTERM");
}

/// The child's exit status once it exits (polled every millisecond), or None when it
/// still runs after `limit`.
pub fn exit_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            return Some(st);
        }
        if start.elapsed() > limit {
            return None;
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// The process whose parent is `parent` (strace, our child) and whose name is `comm`,
/// once it exists (/proc polled every millisecond, 10 s at most); None when strace ended
/// first (a run that is over before it was seen).
pub fn child_named(case: &str, tracer: &mut Child, comm: &str) -> Option<u32> {
    let parent = tracer.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let name = head.split_once('(').map_or("", |x| x.1);
            let ppid = rest
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(parent) && name == comm {
                return Some(pid);
            }
        }
        if tracer.try_wait().expect("try_wait strace").is_some() {
            return None;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: strace (pid {parent}) never started {comm}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// CPU time (user + system) used by `pid` so far, from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    let rest = s.rsplit_once(')').expect("stat").1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime stime.
    let ticks: u64 = f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    assert!(hz > 0, "sysconf(_SC_CLK_TCK)");
    ticks as f64 / hz as f64
}

/// An echo server on loopback: every connection echoed until end of file, in its own
/// thread; stops accepting when dropped. `Echo::holding()` never closes its side after
/// the client's end of file (a server that keeps half-closed connections), until
/// dropped.
pub struct Echo {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    pub fn start() -> Echo {
        Echo::serve(false)
    }

    pub fn holding() -> Echo {
        Echo::serve(true)
    }

    fn serve(hold: bool) -> Echo {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
        l.set_nonblocking(true).expect("nonblocking listener");
        let addr = l.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let mut p = [PollFd::new(l.as_fd(), PollFlags::POLLIN)];
                    if nix::poll::poll(&mut p, PollTimeout::from(20u8)).unwrap_or(0) == 0 {
                        continue;
                    }
                    let Ok((s, _)) = l.accept() else { continue };
                    s.set_nonblocking(false).expect("blocking");
                    let stop = Arc::clone(&stop);
                    thread::spawn(move || {
                        let mut out = s.try_clone().expect("clone");
                        let mut s = s;
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = s.read(&mut buf) {
                            if n == 0 || out.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        // Holding: this side stays open until the server is dropped.
                        while hold && !stop.load(Ordering::SeqCst) {
                            thread::sleep(Duration::from_millis(20));
                        }
                    });
                }
            })
        };
        Echo {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The process state letter from /proc/PID/stat (R, S, D, T, Z, ...).
pub fn proc_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?.1.trim_start().chars().next()
}

/// xorshift64, seeded: the tests' pseudo-random bytes and choices (a failing run can be
/// replayed).
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// Raises this process's soft RLIMIT_NOFILE (inherited by children) to the hard limit
/// when it is below `need` (process-wide, only ever upward: tests run in parallel);
/// false when even the hard limit is below `need`.
pub fn raise_nofile_to(need: u64) -> bool {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft >= need {
        return true;
    }
    if hard < need {
        return false;
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    true
}

/// Places `fds` (source, number in the child) in the child of `cmd` between fork and
/// exec, and with `close_others` closes every other fd above 2 at exec, as a shell
/// would start a program.
pub fn place_fds(cmd: &mut Command, fds: Vec<(RawFd, RawFd)>, close_others: bool) {
    let base = fds.iter().map(|&(a, b)| a.max(b)).max().unwrap_or(2) + 1;
    // SAFETY: only async-signal-safe calls (close_range, fcntl, dup2, close) run between
    // fork and exec, on memory made before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if close_others {
                // Everything above 2 closes at exec, except what dup2 places below
                // (dup2 clears the flag on its target).
                let r = libc::syscall(
                    libc::SYS_close_range,
                    3u32,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Move every source above all targets first, so no dup2 clobbers a source.
            let mut tmp = Vec::with_capacity(fds.len());
            for &(src, _) in &fds {
                let t = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, base);
                if t < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                tmp.push(t);
            }
            for (&t, &(_, dst)) in tmp.iter().zip(&fds) {
                // dup2 clears FD_CLOEXEC on `dst`: it is inherited across exec.
                if libc::dup2(t, dst) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(t);
            }
            Ok(())
        });
    }
}

/// Compiles the C program `src` to `exe` with `cc`; `who` says which test needs it.
pub fn cc(src: &std::path::Path, exe: &std::path::Path, who: &str) {
    let out = Command::new("cc")
        .args(["-O0", "-Wall", "-Wextra", "-o"])
        .arg(exe)
        .arg(src)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{who} compiles C programs with a C compiler, and `cc` could not be run \
                 ({e}): install gcc (or clang as cc)"
            )
        });
    assert!(
        out.status.success(),
        "cc {}: {}\n{}",
        src.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The receive queue /proc/net/tcp shows for the server end of the loopback connection
/// 127.0.0.1:`port` <- 127.0.0.1:`client` (accepted or not yet), if it is listed.
pub fn server_rx_queue(port: u16, client: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let local = format!("0100007F:{port:04X}");
    let remote = format!("0100007F:{client:04X}");
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 4 && f[1] == local && f[2] == remote {
            let rx = f[4].split_once(':')?.1;
            u64::from_str_radix(rx, 16).ok()
        } else {
            None
        }
    })
}

/// The count of voluntary context switches of `pid` (/proc/PID/status): it grows each
/// time the process blocks, so a step that must have run (and blocked again) since a
/// moment is seen by the count passing what it was then.
pub fn voluntary_switches(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until `pid` has woken (blocked again since its count of voluntary switches was
/// `since`) and is back in its wait: whatever woke it has been handled.
pub fn ran_and_waits(pid: u32, since: u64, case: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while voluntary_switches(pid) <= since {
        assert!(Instant::now() < deadline, "{case}: pid {pid} never woke");
        thread::sleep(Duration::from_millis(1));
    }
    blocked(pid, case);
}

/// How many descriptors `pid` has open (/proc/PID/fd).
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .count()
}

/// The bound for "never spins": `pid` uses under 5 % of a CPU over the next 2 s.
pub fn quiet_for_two_seconds(pid: u32, case: &str) {
    let before = cpu_seconds(pid);
    thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(pid) - before;
    assert!(
        used < 0.1,
        "{case}: fdwatch used {used:.2} s of CPU in 2 s (a busy loop?)"
    );
}

/// Closes a TCP socket with SO_LINGER {1, 0}: its peer gets a reset, not an end of file.
pub fn reset_close(s: std::net::TcpStream) {
    use nix::sys::socket::{self, sockopt};
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    socket::setsockopt(&s, sockopt::Linger, &l).expect("SO_LINGER {1, 0}");
    drop(s);
}
