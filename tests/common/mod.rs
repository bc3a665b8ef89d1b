//! Test helpers: real kernel objects (pipes, FIFOs, ptys, socketpairs), the real binary
//! with fds placed at chosen numbers, and its JSON Lines output parsed.
//!
//! Every fd made here is O_CLOEXEC: tests run in parallel threads, and a pipe end leaked
//! into another test's child would keep a writer alive and hide a hang-up.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use nix::sys::stat::Mode;
use serde_json::Value;

pub const BACKENDS: [&str; 5] = ["select", "pselect", "poll", "ppoll", "epoll"];

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

/// The fdwatch binary with chosen fds placed at chosen numbers in the child.
pub struct Fdwatch {
    cmd: Command,
    fds: Vec<(RawFd, RawFd)>,
}

impl Fdwatch {
    pub fn new<I, S>(args: I) -> Fdwatch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new(bin());
        cmd.args(args).stdin(Stdio::null());
        cmd.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        Fdwatch {
            cmd,
            fds: Vec::new(),
        }
    }

    /// Places `fd` (which stays open in the test) at number `at` in the child.
    pub fn fd(mut self, fd: BorrowedFd<'_>, at: RawFd) -> Fdwatch {
        self.fds.push((fd.as_raw_fd(), at));
        self
    }

    pub fn stdin(mut self, s: impl Into<Stdio>) -> Fdwatch {
        self.cmd.stdin(s);
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Fdwatch {
        self.cmd.env(k, v);
        self
    }

    fn prepare(&mut self) {
        let fds = self.fds.clone();
        let base = fds.iter().map(|&(a, b)| a.max(b)).max().unwrap_or(0) + 1;
        // SAFETY: only async-signal-safe calls (fcntl, dup2, close) run between fork and exec.
        unsafe {
            self.cmd.pre_exec(move || {
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

    /// Runs to completion, capturing stdout and stderr.
    pub fn run(mut self) -> Output {
        self.prepare();
        self.cmd.output().expect("spawn fdwatch")
    }

    /// Starts it with stdout and stderr piped.
    pub fn spawn(mut self) -> Child {
        self.prepare();
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn fdwatch")
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
    hits.first().map(|e| {
        e["ready"]
            .as_array()
            .expect("ready is an array")
            .iter()
            .map(|w| w.as_str().expect("word").to_owned())
            .collect()
    })
}

/// Waits until `pid` sleeps inside a multiplexer call (read from /proc/PID/syscall),
/// so a test can act "while fdwatch is blocked" without guessing with sleeps.
pub fn wait_blocked(pid: u32) {
    // select, poll, epoll_wait, pselect6, ppoll, epoll_pwait, epoll_pwait2.
    #[cfg(target_arch = "x86_64")]
    const WAITS: &[&str] = &["23", "7", "232", "270", "271", "281", "441"];
    // aarch64 has only the p-variants: pselect6, ppoll, epoll_pwait, epoll_pwait2.
    #[cfg(not(target_arch = "x86_64"))]
    const WAITS: &[&str] = &["72", "73", "22", "441"];
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
