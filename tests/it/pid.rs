//! `pid:` specs: another process's fds. Explain mode (`fdwatch pid:PID`) for a target
//! blocked in read(2), poll(2), select(2) and epoll_wait(2): the call, its fds in the
//! call's order with what each wants and what is ready now, its timeout; watch mode on
//! the target's fd with `--peek` stealing no byte from it; a one-shot `pid:PID:*`; the
//! errors (no such process, not permitted, no such fd) and the refusal of `--read` and
//! `--tee`, which would consume the target's data.
//!
//! Targets are forked children of this test process. It is multithreaded, so between
//! fork and `_exit` a target makes only async-signal-safe calls (read, write, poll,
//! select, epoll_wait, prctl, close_range) on memory prepared before the fork: every
//! buffer, pollfd array, fd_set and epoll instance. A `Target` guard SIGKILLs and reaps
//! it on drop, also when the test panics.
//!
//! Synchronization is on /proc/PID/syscall and /proc/PID/stat (1 ms polls under a
//! deadline), on fdwatch's JSON lines, `wait_blocked` and process exit; never on sleeps.
//! Every fd made here is close-on-exec (it does not matter across the forks, which never
//! exec: each target closes every fd it was not given instead).

use std::ffi::CStr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::errno::Errno;
use nix::libc;
use serde_json::{Value, json};

/// How long a target or fdwatch may take to reach a state the test waits for.
const DEADLINE: Duration = Duration::from_secs(10);

// The syscalls a target blocks in, by number (as /proc/PID/syscall gives them) and by
// name (as the kernel's table and fdwatch's `call` give them). libc's poll, select and
// epoll_wait may use the p-variants: every test accepts both. aarch64 has only those.

#[cfg(target_arch = "x86_64")]
const POLLS: &[libc::c_long] = &[libc::SYS_poll, libc::SYS_ppoll];
#[cfg(not(target_arch = "x86_64"))]
const POLLS: &[libc::c_long] = &[libc::SYS_ppoll];

#[cfg(target_arch = "x86_64")]
const SELECTS: &[libc::c_long] = &[libc::SYS_select, libc::SYS_pselect6];
#[cfg(not(target_arch = "x86_64"))]
const SELECTS: &[libc::c_long] = &[libc::SYS_pselect6];

#[cfg(target_arch = "x86_64")]
const EPOLL_WAITS: &[libc::c_long] = &[
    libc::SYS_epoll_wait,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_pwait2,
];
#[cfg(not(target_arch = "x86_64"))]
const EPOLL_WAITS: &[libc::c_long] = &[libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2];

/// The kernel's name of a syscall a target here blocks in.
fn call_name(nr: libc::c_long) -> &'static str {
    match nr {
        libc::SYS_read => "read",
        #[cfg(target_arch = "x86_64")]
        libc::SYS_poll => "poll",
        libc::SYS_ppoll => "ppoll",
        #[cfg(target_arch = "x86_64")]
        libc::SYS_select => "select",
        libc::SYS_pselect6 => "pselect6",
        #[cfg(target_arch = "x86_64")]
        libc::SYS_epoll_wait => "epoll_wait",
        libc::SYS_epoll_pwait => "epoll_pwait",
        libc::SYS_epoll_pwait2 => "epoll_pwait2",
        _ => panic!("syscall {nr} is not one a target here blocks in"),
    }
}

// Targets.

/// A forked child of this test process, SIGKILLed and reaped on drop (also while a
/// panicking test unwinds), so no target outlives its test.
struct Target {
    pid: libc::pid_t,
    label: String,
}

impl Target {
    /// Forks a target named `comm` that keeps fds 0-2 and `keep` (at the same numbers as
    /// here: fork copies the fd table), closes every other fd (other tests' pipe ends,
    /// copied by the fork, would hide their hang-ups and show up in `pid:PID:*`), then
    /// runs `body` and `_exit`s.
    ///
    /// `body` runs in the child of a multithreaded process: async-signal-safe libc calls
    /// only, on memory prepared before the fork; no allocation, no lock, no panic.
    fn fork(label: &str, comm: &'static CStr, keep: &[RawFd], body: impl FnOnce()) -> Target {
        // prctl is variadic and the kernel reads whole words: unused arguments as such.
        const Z: libc::c_ulong = 0;
        let gaps = close_gaps(keep);
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // Held until the child has closed the fds it does not keep (it names itself
        // then): till that moment it holds copies of the other tests' fds.
        let forking = forking();
        // SAFETY: the child runs only async-signal-safe calls (below and in `body`) and
        // leaves by _exit, never returning into the test harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "{label}: fork: {}", Errno::last());
        if pid == 0 {
            // SAFETY: prctl, getppid, syscall(close_range) and _exit are async-signal-safe;
            // `gaps` and `comm` were made before the fork and are only read.
            unsafe {
                // Under Yama ptrace_scope=1 a non-root fdwatch (not our ancestor) may
                // then still inspect this target. Errors are ignored: no Yama, no harm.
                libc::prctl(libc::PR_SET_PTRACER, libc::PR_SET_PTRACER_ANY, Z, Z, Z);
                // Dies with the thread that forked it, should the test process die
                // before the guard drops.
                libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    Z,
                    Z,
                    Z,
                );
                if libc::getppid() != parent {
                    libc::_exit(97);
                }
                for &(lo, hi) in gaps.iter() {
                    if libc::syscall(libc::SYS_close_range, lo, hi, 0) != 0 {
                        libc::_exit(98);
                    }
                }
                libc::prctl(libc::PR_SET_NAME, comm.as_ptr(), Z, Z, Z);
            }
            body();
            // SAFETY: ends the child without running anything of the parent's.
            unsafe { libc::_exit(0) }
        }
        let name = comm.to_string_lossy();
        let named = || {
            let now = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            now.trim_end() == name || !matches!(proc_state(pid as u32), Some('R' | 'S' | 'D'))
        };
        wait_until(
            &format!("{label}: the target let go of the other fds"),
            named,
        );
        drop(forking);
        Target {
            pid,
            label: label.to_owned(),
        }
    }

    fn pid(&self) -> u32 {
        u32::try_from(self.pid).expect("pid")
    }

    fn signal(&self, sig: libc::c_int) {
        // SAFETY: our unreaped child: its pid cannot have been reused.
        let r = unsafe { libc::kill(self.pid, sig) };
        assert_eq!(r, 0, "{}: kill({sig}): {}", self.label, Errno::last());
    }

    /// Waits until the target sleeps (state S) inside one of the syscalls `nrs`, the
    /// state fdwatch is run against; returns the syscall's number. Fails when the
    /// target ends first (its body checks what it can and exits early when wrong).
    fn wait_in(&self, nrs: &[libc::c_long]) -> libc::c_long {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let state = proc_state(self.pid());
            assert!(
                !matches!(state, None | Some('Z' | 'X')),
                "{}: the target (pid {}) ended before blocking (state {state:?})",
                self.label,
                self.pid
            );
            // "running" while it runs, else the number and the arguments.
            let sc =
                std::fs::read_to_string(format!("/proc/{}/syscall", self.pid)).unwrap_or_default();
            let nr = sc.split_whitespace().next().and_then(|w| w.parse().ok());
            if let Some(nr) = nr.filter(|nr| state == Some('S') && nrs.contains(nr)) {
                return nr;
            }
            assert!(
                Instant::now() < deadline,
                "{}: the target never blocked in {nrs:?}: state {state:?}, syscall {sc:?}",
                self.label
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // SAFETY: kill and waitpid on our own child, not yet reaped (so its pid is ours).
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            let mut status = 0;
            while libc::waitpid(self.pid, &mut status, 0) < 0 && Errno::last() == Errno::EINTR {}
        }
    }
}

/// The fd ranges a target closes: everything but 0-2 and `keep`, as close_range(2)
/// (first, last) pairs. Computed before the fork: the child must not allocate.
fn close_gaps(keep: &[RawFd]) -> Vec<(libc::c_uint, libc::c_uint)> {
    let mut kept: Vec<libc::c_uint> = [0, 1, 2]
        .into_iter()
        .chain(
            keep.iter()
                .map(|&fd| libc::c_uint::try_from(fd).expect("fd")),
        )
        .collect();
    kept.sort_unstable();
    kept.dedup();
    let mut gaps: Vec<_> = kept
        .windows(2)
        .filter(|w| w[1] > w[0] + 1)
        .map(|w| (w[0] + 1, w[1] - 1))
        .collect();
    gaps.push((kept[kept.len() - 1] + 1, libc::c_uint::MAX));
    gaps
}

/// The body of a target that reads `r` into a 64-byte buffer and echoes what it read to
/// `echo` (so the test sees every byte reached it), until end of file.
fn read_and_echo(r: RawFd, echo: RawFd) -> impl FnOnce() {
    move || {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: a buffer of 64 bytes; async-signal-safe calls only.
            unsafe {
                let n = libc::read(r, buf.as_mut_ptr().cast(), buf.len());
                if n == 0 {
                    libc::_exit(0);
                }
                if n < 0 {
                    if *libc::__errno_location() == libc::EINTR {
                        continue;
                    }
                    libc::_exit(1);
                }
                let mut off = 0;
                while off < n {
                    let w = libc::write(echo, buf.as_ptr().offset(off).cast(), (n - off) as usize);
                    if w <= 0 {
                        libc::_exit(2);
                    }
                    off += w;
                }
            }
        }
    }
}

/// The body of a target that blocks reading `r` forever (the test keeps a writer and
/// never writes).
fn read_forever(r: RawFd) -> impl FnOnce() {
    move || {
        let mut b = [0u8; 1];
        loop {
            // SAFETY: a one-byte buffer; read and _exit are async-signal-safe.
            unsafe {
                if libc::read(r, b.as_mut_ptr().cast(), 1) >= 0 {
                    libc::_exit(3);
                }
            }
        }
    }
}

// Kernel objects.

/// An epoll instance, close-on-exec.
fn epoll() -> OwnedFd {
    // SAFETY: epoll_create1 returns a new fd or -1.
    let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(raw >= 0, "epoll_create1: {}", Errno::last());
    // SAFETY: a fresh fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(raw) }
}

fn epoll_add(ep: &OwnedFd, fd: RawFd, events: u32) {
    let mut ev = libc::epoll_event {
        events,
        u64: u64::try_from(fd).expect("fd"),
    };
    // SAFETY: both fds are open; `ev` is a valid epoll_event.
    let r = unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
    assert_eq!(r, 0, "epoll_ctl ADD {fd}: {}", Errno::last());
}

fn pipe_name(fd: impl AsFd) -> String {
    format!("pipe:[{}]", inode(fd))
}

/// Reads exactly `n` bytes from `fd`, polling it under the deadline (a target that
/// never echoes fails the test instead of hanging it).
fn read_exactly(label: &str, fd: impl AsFd, n: usize) -> Vec<u8> {
    let deadline = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{label}: only {got:?} came back");
        if poll_until(&fd, libc::POLLIN, deadline, |r| r != 0).is_none() {
            continue;
        }
        let mut buf = vec![0u8; n - got.len()];
        match nix::unistd::read(&fd, &mut buf) {
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(Errno::EINTR) => {}
            Err(e) => panic!("{label}: read: {e}"),
        }
    }
    got
}

// Running fdwatch.

/// `fdwatch --format json pid:PID` on a single-threaded target: exit 0 and exactly one
/// `blocked` event, which is returned after the checks every target shares (pid, tid,
/// comm, state, the call by name and number).
fn explain(case: &str, target: &Target, comm: &str, nr: libc::c_long) -> Value {
    let spec = format!("pid:{}", target.pid);
    let out = run(case, Fdwatch::new(["--format", "json", spec.as_str()]));
    assert_eq!(
        exit_code(case, &out),
        0,
        "{case}: fdwatch {spec}: stderr {}; stdout {}",
        stderr(&out),
        String::from_utf8_lossy(&out.stdout)
    );
    let evs = events(&out.stdout);
    assert_eq!(
        evs.len(),
        1,
        "{case}: one line per thread, one thread: {evs:?}"
    );
    let ev = evs[0].clone();
    assert_eq!(ev["event"], "blocked", "{case}: {ev}");
    assert_eq!(ev["pid"], target.pid, "{case}: pid: {ev}");
    assert_eq!(ev["tid"], target.pid, "{case}: the only thread: {ev}");
    assert_eq!(ev["comm"], comm, "{case}: comm: {ev}");
    assert_eq!(ev["state"], "S", "{case}: state: {ev}");
    assert_eq!(ev["call"], call_name(nr), "{case}: call: {ev}");
    assert_eq!(ev["nr"], nr, "{case}: nr: {ev}");
    ev
}

/// The `fds` items of a blocked event, each cut down to `keys` (a missing key shows
/// as null), for one comparison with what the test set up.
fn fds_with(case: &str, ev: &Value, keys: &[&str]) -> Vec<Value> {
    ev["fds"]
        .as_array()
        .unwrap_or_else(|| panic!("{case}: no fds list: {ev}"))
        .iter()
        .map(|item| {
            Value::Object(
                keys.iter()
                    .map(|&k| (k.to_owned(), item[k].clone()))
                    .collect(),
            )
        })
        .collect()
}

/// An expected `fds` item (cut to fd, want, what, ready, queued) for a pipe end with
/// nothing ready, `queued` bytes in its pipe.
fn not_ready(fd: &OwnedFd, want: &[&str], queued: i32) -> Value {
    json!({
        "fd": fd.as_raw_fd(), "want": want, "what": pipe_name(fd), "ready": [], "queued": queued
    })
}

/// Outside epoll an item's `flags` may be absent; present, it is empty.
fn no_epoll_flags(case: &str, ev: &Value) {
    for item in ev["fds"].as_array().into_iter().flatten() {
        let f = &item["flags"];
        assert!(
            f.is_null() || f == &json!([]),
            "{case}: flags outside epoll: {item}"
        );
    }
}

/// A watch-mode event's `what` names the target's fd: it contains `pid PID fd FD`, and
/// not as the start of a longer number (`fd 3` in `fd 31`).
fn names_target_fd(case: &str, ev: &Value, pid: libc::pid_t, fd: RawFd) {
    let want = format!("pid {pid} fd {fd}");
    let what = ev["what"].as_str().unwrap_or("");
    let named = what.match_indices(&want).any(|(at, _)| {
        !what[at + want.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    });
    assert!(named, "{case}: what names {want:?}: {ev}");
}

/// `timeout_ms` for a call given no timeout: -1 or null.
fn forever(case: &str, ev: &Value) {
    let t = &ev["timeout_ms"];
    assert!(
        t.is_null() || t.as_f64() == Some(-1.0),
        "{case}: timeout_ms for forever: {ev}"
    );
}

// a) read(2): explain, then watch with --peek while the target cannot read.

#[test]
fn read_target_explained_then_watched_without_stealing() {
    let case = "read() target";
    let (r, w) = pipe();
    let (echo_r, echo_w) = pipe();
    let fd = r.as_raw_fd();
    let target = Target::fork(
        case,
        c"fdw-read",
        &[fd, echo_w.as_raw_fd()],
        read_and_echo(fd, echo_w.as_raw_fd()),
    );
    drop(echo_w);
    let nr = target.wait_in(&[libc::SYS_read]);

    let ev = explain(case, &target, "fdw-read", nr);
    assert!(ev["epfd"].is_null(), "{case}: epfd: {ev}");
    forever(case, &ev);
    no_epoll_flags(case, &ev);
    assert_eq!(
        fds_with(case, &ev, &["fd", "want", "what", "ready", "queued"]),
        [not_ready(&r, &["read"], 0)],
        "{case}: {ev}"
    );

    // Watch mode: the target is stopped so that it cannot read first; then fdwatch must
    // report the bytes (ready, and data with --peek) and leave every one of them to it.
    let case = "read() target, -m --peek pid:PID:FD";
    let flags = status_flags(&r);
    let spec = format!("pid:{}:{fd}", target.pid);
    let (mut fw, _dog) = spawn(
        case,
        Fdwatch::new(["-m", "--format", "json", "--peek", spec.as_str()]),
    );
    let mut evs = EventStream::new(&mut fw, case);
    wait_blocked(fw.id());
    target.signal(libc::SIGSTOP);
    wait_stopped(target.pid(), &target.label);
    write(&w, b"hello");

    let got = evs.until("ready and data for the target's fd", is("data"));
    let ready: Vec<_> = got
        .iter()
        .filter(|e| e["event"] == "ready" && e["fd"] == fd)
        .collect();
    assert_eq!(
        ready.len(),
        1,
        "{case}: one ready event before data: {got:?}"
    );
    assert!(
        words(ready[0]).iter().any(|w| w == "read"),
        "{case}: {}",
        ready[0]
    );
    for e in got
        .iter()
        .filter(|e| e["event"] == "ready" || e["event"] == "data")
    {
        names_target_fd(case, e, target.pid, fd);
    }
    let data = got.last().expect("the data event");
    assert_eq!(data["fd"], fd, "{case}: {data}");
    assert_eq!(data["text"], "hello", "{case}: {data}");
    assert_eq!(data["peek"], true, "{case}: {data}");
    assert_eq!(
        fionread(&r),
        5,
        "{case}: fdwatch consumed the target's bytes"
    );
    // Shared through the open file description: O_NONBLOCK set now would make the
    // target's blocking read fail with EAGAIN.
    wait_blocked(fw.id());
    assert_eq!(status_flags(&r), flags, "{case}: flags while watching");

    // Every byte reaches the target once it runs again.
    target.signal(libc::SIGCONT);
    assert_eq!(
        read_exactly(case, &echo_r, 5),
        b"hello",
        "{case}: what the target read"
    );
    target.wait_in(&[libc::SYS_read]);
    assert_eq!(fionread(&echo_r), 0, "{case}: more echoed than written");

    // A normal end (SIGTERM: the summary, then death by that signal).
    // SAFETY: fdwatch is our child, not yet waited for.
    let r_kill = unsafe { libc::kill(libc::pid_t::try_from(fw.id()).expect("pid"), libc::SIGTERM) };
    assert_eq!(r_kill, 0, "{case}: SIGTERM");
    evs.rest();
    fw.wait().expect("wait fdwatch");
    assert_eq!(status_flags(&r), flags, "{case}: flags after fdwatch ended");
}

// b) poll(2): the pollfd array in order, urgent from POLLPRI, write from POLLOUT.

#[test]
fn poll_target_explained() {
    let case = "poll() target";
    let (a, _a_w) = pipe();
    let (b, _b_w) = pipe();
    let (_full_r, full_w, cap) = full_pipe();
    let mut fds = [
        libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.as_raw_fd(),
            events: libc::POLLIN | libc::POLLPRI,
            revents: 0,
        },
        libc::pollfd {
            fd: full_w.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        },
    ];
    let keep = fds.map(|p| p.fd);
    let target = Target::fork(case, c"fdw-poll", &keep, move || {
        loop {
            // SAFETY: a pollfd array made before the fork; poll is async-signal-safe.
            unsafe { libc::poll(fds.as_mut_ptr(), 3, 30_000) };
        }
    });
    let nr = target.wait_in(POLLS);

    let ev = explain(case, &target, "fdw-poll", nr);
    assert!(ev["epfd"].is_null(), "{case}: epfd: {ev}");
    assert_eq!(ev["timeout_ms"].as_f64(), Some(30_000.0), "{case}: {ev}");
    no_epoll_flags(case, &ev);
    assert_eq!(
        fds_with(case, &ev, &["fd", "want", "what", "ready", "queued"]),
        [
            not_ready(&a, &["read"], 0),
            not_ready(&b, &["read", "urgent"], 0),
            not_ready(&full_w, &["write"], cap),
        ],
        "{case}: {ev}"
    );
}

// c) select(2): the union of the sets in ascending fd order; NULL sets and timeout.

#[test]
fn select_target_explained() {
    let case = "select() target";
    let (a, _a_w) = pipe();
    let (b, _b_w) = pipe();
    let (_full_r, full_w, cap) = full_pipe();
    let all = [a.as_raw_fd(), b.as_raw_fd(), full_w.as_raw_fd()];
    assert!(
        all.iter().all(|&fd| fd < libc::FD_SETSIZE as RawFd),
        "{case}: {all:?}"
    );
    let nfds = all.iter().max().expect("fds") + 1;
    // SAFETY: fd_sets are plain bit arrays; every fd is below FD_SETSIZE.
    let (rset, wset) = unsafe {
        let mut rset: libc::fd_set = std::mem::zeroed();
        let mut wset: libc::fd_set = std::mem::zeroed();
        libc::FD_ZERO(&mut rset);
        libc::FD_ZERO(&mut wset);
        libc::FD_SET(a.as_raw_fd(), &mut rset);
        libc::FD_SET(b.as_raw_fd(), &mut rset);
        libc::FD_SET(full_w.as_raw_fd(), &mut wset);
        (rset, wset)
    };
    let target = Target::fork(case, c"fdw-select", &all, move || {
        loop {
            // select overwrites its sets: each round starts from copies of the pristine ones.
            let (mut r, mut w) = (rset, wset);
            // SAFETY: fd_sets made before the fork; select is async-signal-safe.
            unsafe {
                libc::select(
                    nfds,
                    &mut r,
                    &mut w,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            };
        }
    });
    let nr = target.wait_in(SELECTS);

    let ev = explain(case, &target, "fdw-select", nr);
    assert!(ev["epfd"].is_null(), "{case}: epfd: {ev}");
    forever(case, &ev);
    no_epoll_flags(case, &ev);
    let mut want = vec![
        not_ready(&a, &["read"], 0),
        not_ready(&b, &["read"], 0),
        not_ready(&full_w, &["write"], cap),
    ];
    want.sort_by_key(|v| v["fd"].as_i64());
    assert_eq!(
        fds_with(case, &ev, &["fd", "want", "what", "ready", "queued"]),
        want,
        "{case}: {ev}"
    );
}

// d) epoll_wait(2): the interest list from fdinfo, flags, and readiness checked now
// (an edge-triggered fd with data queued and no new edge is ready, though the call
// sleeps).

#[test]
fn epoll_target_explained() {
    let case = "epoll_wait() target";
    let (x, _x_w) = pipe();
    let (y, y_w) = pipe();
    let ep = epoll();
    epoll_add(&ep, x.as_raw_fd(), libc::EPOLLIN as u32);
    epoll_add(&ep, y.as_raw_fd(), (libc::EPOLLIN | libc::EPOLLET) as u32);
    write(&y_w, b"twelve bytes");
    let (epfd, yfd) = (ep.as_raw_fd(), y.as_raw_fd());
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
    let target = Target::fork(case, c"fdw-epoll", &[epfd, x.as_raw_fd(), yfd], move || {
        // SAFETY: an event array made before the fork; epoll_wait is async-signal-safe.
        unsafe {
            // The first wait returns y's edge at once; the second sleeps for good.
            let n = libc::epoll_wait(epfd, evs.as_mut_ptr(), 8, -1);
            let first = evs.as_ptr().read();
            if n != 1 || first.u64 != yfd as u64 {
                libc::_exit(4);
            }
            loop {
                if libc::epoll_wait(epfd, evs.as_mut_ptr(), 8, -1) >= 0 {
                    libc::_exit(5);
                }
            }
        }
    });
    let nr = target.wait_in(EPOLL_WAITS);

    let ev = explain(case, &target, "fdw-epoll", nr);
    assert_eq!(ev["epfd"], epfd, "{case}: epfd: {ev}");
    forever(case, &ev);
    let mut want = vec![
        json!({
            "fd": x.as_raw_fd(), "want": ["read"], "flags": [], "what": pipe_name(&x), "queued": 0
        }),
        json!({
            "fd": yfd, "want": ["read"], "flags": ["ET"], "what": pipe_name(&y), "queued": 12
        }),
    ];
    want.sort_by_key(|v| v["fd"].as_i64());
    assert_eq!(
        fds_with(case, &ev, &["fd", "want", "flags", "what", "queued"]),
        want,
        "{case}: {ev}"
    );
    let ready = |fd: RawFd| -> Vec<String> {
        let item = ev["fds"]
            .as_array()
            .and_then(|l| l.iter().find(|i| i["fd"] == fd))
            .unwrap_or_else(|| panic!("{case}: fd {fd}: {ev}"));
        words(item)
    };
    assert_eq!(
        ready(x.as_raw_fd()),
        Vec::<String>::new(),
        "{case}: x: {ev}"
    );
    assert!(
        ready(yfd).iter().any(|w| w == "read"),
        "{case}: y has 12 bytes queued: {ev}"
    );
    assert_eq!(fionread(&y), 12, "{case}: fdwatch consumed y's bytes");
}

// e) Errors and the refusal to consume: exit 2 and one line each.

#[test]
fn errors_and_read_tee_refused() {
    let case = "errors";
    // The target holds a pipe with 4 bytes queued (which no row may consume) and sleeps
    // reading another, empty one.
    let (p, p_w) = pipe();
    write(&p_w, b"keep");
    let (q, _q_w) = pipe();
    let (pfd, qfd) = (p.as_raw_fd(), q.as_raw_fd());
    let flags = status_flags(&p);
    let target = Target::fork(case, c"fdw-errors", &[pfd, qfd], read_forever(qfd));
    target.wait_in(&[libc::SYS_read]);
    let child = target.pid;

    // Root reaches every process: fdwatch then runs as nobody against this root-owned
    // target. Otherwise pid 1 is out of reach.
    let root = nix::unistd::geteuid().is_root();
    let (denied, denied_fd, as_nobody) = if root {
        (child, pfd, true)
    } else {
        (1, 0, false)
    };

    struct Row {
        label: &'static str,
        args: Vec<String>,
        as_nobody: bool,
        /// Each must be in the line (case-insensitive).
        needles: &'static [&'static str],
    }
    let row = |label: &'static str, args: &[&str], needles: &'static [&'static str]| Row {
        label,
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        as_nobody: false,
        needles,
    };
    let own = format!("pid:{child}:{pfd}");
    let explain_own = format!("pid:{child}");
    let all_own = format!("pid:{child}:*");
    let range_own = format!("pid:{child}:0-2");
    let missing = format!("pid:{child}:999");
    let denied_explain = format!("pid:{denied}");
    let denied_watch = format!("pid:{denied}:{denied_fd}");
    let rows = vec![
        row(
            "no such process, explain",
            &["pid:2147483647"],
            &["no such process"],
        ),
        row(
            "no such process, one-shot",
            &["0", "pid:2147483647:0"],
            &["no such process"],
        ),
        row("no fd 999", &["0", &missing], &["has no fd 999"]),
        Row {
            as_nobody,
            ..row(
                "not permitted, explain",
                &[&denied_explain],
                &["not permitted"],
            )
        },
        Row {
            as_nobody,
            ..row(
                "not permitted, one-shot",
                &["0", &denied_watch],
                &["not permitted"],
            )
        },
        row("--read", &["--read", "1", &own], &["--read", "pid:"]),
        row(
            "-m --read=text",
            &["-m", "--read=text", "1", &own],
            &["--read", "pid:"],
        ),
        row(
            "--read=hex, a range",
            &["--read=hex", "1", &range_own],
            &["--read", "pid:"],
        ),
        row(
            "--read, after a plain fd spec",
            &["--read", "1", "0r", &own],
            &["--read", "pid:"],
        ),
        row(
            "--read, explain",
            &["--read", &explain_own],
            &["--read", "pid:"],
        ),
        row("--tee", &["--tee", "1", &own], &["--tee", "pid:"]),
        row(
            "-m --tee, *",
            &["-m", "--tee", "1", &all_own],
            &["--tee", "pid:"],
        ),
        row(
            "--tee, explain",
            &["--tee", &explain_own],
            &["--tee", "pid:"],
        ),
    ];
    let mut failures = Vec::new();
    for r in &rows {
        let mut cmd = Fdwatch::new(&r.args).into_command();
        if r.as_nobody {
            cmd.uid(65534).gid(65534);
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .counted_spawn()
            .expect("spawn fdwatch");
        let _dog = Watchdog::new(&child, WATCHDOG, r.label);
        let out = child.wait_with_output().expect("wait fdwatch");
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        let line = lines.first().copied().unwrap_or("");
        let low = line.to_lowercase();
        let ok = out.status.code() == Some(2)
            && lines.len() == 1
            && line.starts_with("fdwatch: ")
            && r.needles.iter().all(|n| low.contains(&n.to_lowercase()));
        if !ok {
            failures.push(format!(
                "{} (fdwatch {}{}): want exit 2 and one line 'fdwatch: ...' containing {:?}; \
                 got {}, stderr {err:?}",
                r.label,
                r.args.join(" "),
                if r.as_nobody { ", as uid 65534" } else { "" },
                r.needles,
                out.status
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{case}: {} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    assert_eq!(
        fionread(&p),
        4,
        "{case}: a refused run consumed the target's bytes"
    );
    assert_eq!(status_flags(&p), flags, "{case}: the target's flags");
}

// f) One-shot over every fd of the target: the fd with data is ready at once, the one
// the target sleeps reading (empty) is not.

#[test]
fn one_shot_all_fds_reports_the_ready_one() {
    each_backend(&BACKENDS, one_shot_all_fds);
}

/// `pid:PID:*` one-shot on backend `b`.
fn one_shot_all_fds(b: &str) {
    let case = &format!("-b {b} one-shot pid:PID:*");
    let (empty, _empty_w) = pipe();
    let (full, full_w) = pipe();
    write(&full_w, b"abc");
    let (efd, ffd) = (empty.as_raw_fd(), full.as_raw_fd());
    let target = Target::fork(case, c"fdw-all", &[efd, ffd], read_forever(efd));
    target.wait_in(&[libc::SYS_read]);

    let spec = format!("pid:{}:*", target.pid);
    let out = run(
        case,
        Fdwatch::new(["-b", b, "--format", "json", "5", spec.as_str()]),
    );
    let evs = events(&out.stdout);
    assert_eq!(
        exit_code(case, &out),
        0,
        "{case}: ready before the timeout: stderr {}; {evs:?}",
        stderr(&out)
    );
    let ready = of_kind(&evs, "ready");
    let hit: Vec<_> = ready.iter().filter(|e| e["fd"] == ffd).collect();
    assert_eq!(hit.len(), 1, "{case}: fd {ffd} (3 bytes queued): {evs:?}");
    let e = hit[0];
    assert!(words(e).iter().any(|w| w == "read"), "{case}: {e}");
    names_target_fd(case, e, target.pid, ffd);
    assert_eq!(e["queued"], 3, "{case}: {e}");
    assert!(
        ready.iter().all(|e| e["fd"] != efd),
        "{case}: the empty pipe (fd {efd}) reported: {evs:?}"
    );
    assert_eq!(fionread(&full), 3, "{case}: fdwatch consumed the bytes");
}

// g) A file the target closes is let go: fdwatch must not keep it open behind its back.

/// The body of a target that holds `held` until a byte arrives on `ctl`, then closes
/// it and blocks reading `ctl` again.
fn close_on_signal_byte(ctl: RawFd, held: RawFd) -> impl FnOnce() {
    move || {
        let mut b = [0u8; 1];
        // SAFETY: one-byte buffer; read, close and _exit are async-signal-safe.
        unsafe {
            if libc::read(ctl, b.as_mut_ptr().cast(), 1) != 1 {
                libc::_exit(4);
            }
            libc::close(held);
            loop {
                if libc::read(ctl, b.as_mut_ptr().cast(), 1) == 0 {
                    libc::_exit(0);
                }
            }
        }
    }
}

#[test]
fn a_closed_target_fd_is_let_go() {
    each_backend(&BACKENDS, closed_target_fd_let_go);
}

/// `-m pid:PID:FDw` on backend `b`, the target then closing that fd.
fn closed_target_fd_let_go(b: &str) {
    let case = &format!("-b {b}: target closes its watched write end");
    let (r, w) = pipe();
    let (ctl_r, ctl_w) = pipe();
    let held = w.as_raw_fd();
    let target = Target::fork(
        case,
        c"fdw-close",
        &[held, ctl_r.as_raw_fd()],
        close_on_signal_byte(ctl_r.as_raw_fd(), held),
    );
    // From here the target holds the only write end of the pipe.
    drop(w);
    target.wait_in(&[libc::SYS_read]);
    let spec = format!("pid:{}:{held}w", target.pid);
    let (mut fw, _dog) = spawn(
        case,
        Fdwatch::new(["-b", b, "-m", "--format", "json", spec.as_str()]),
    );
    let mut evs = EventStream::new(&mut fw, case);
    let first = evs.next_named("ready");
    names_target_fd(case, &first, target.pid, held);
    write(&ctl_w, b"c");
    let gone = evs.next_named("hangup");
    assert_eq!(gone["action"], "gone", "{case}: {gone}");
    names_target_fd(case, &gone, target.pid, held);
    // fdwatch closed its duplicate before saying so: the reader sees end of file now.
    let mut p = [libc::pollfd {
        fd: r.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one initialized pollfd, zero timeout.
    let n = unsafe { libc::poll(p.as_mut_ptr(), 1, 0) };
    assert!(
        n == 1 && p[0].revents & libc::POLLHUP != 0,
        "{case}: the pipe's last writer is gone, yet no hang-up (revents {:#x}): fdwatch still holds it",
        p[0].revents
    );
    // Nothing left to watch: the monitor ends by itself.
    let rest = evs.rest();
    assert!(
        rest.iter().any(|e| e["event"] == "summary"),
        "{case}: {rest:?}"
    );
    let status = fw.wait().expect("wait fdwatch");
    assert_eq!(status.code(), Some(0), "{case}: {status:?}");
}
