//! Other processes seen through /proc and signalled: what a process is doing now (in a
//! wait, stopped, how much CPU it used, how many fds it holds), so a test synchronizes
//! on that rather than on sleeps.

use std::ops::Deref;
use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::settle_forks;

/// The system call `pid` sleeps in now (its number: /proc/PID/syscall), or None.
pub fn syscall_nr(pid: u32) -> Option<i64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Waits until `cond` holds (polled every 2 ms, 10 s at most); what it waited for goes
/// into the failure.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(2));
    }
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

/// Waits until `pid` is in one of the states `want` (R, S, T, Z...: /proc/PID/stat),
/// 1 ms polls under 10 s.
pub fn wait_state(case: &str, pid: u32, want: &[char]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let st = proc_state(pid);
        if st.is_some_and(|c| want.contains(&c)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{case}: pid {pid} never reached state {want:?} (now {st:?})"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until `pid` is stopped after SIGSTOP: state T, or t for a process under strace
/// (a stopped tracee).
pub fn wait_stopped(pid: u32, case: &str) {
    wait_state(case, pid, &['T', 't']);
}

/// SIGSTOP to `pid`, returning once it is stopped: what the test does next happens
/// while the process cannot look.
pub fn stop(pid: u32, case: &str) {
    signal_pid(pid, Signal::SIGSTOP);
    wait_stopped(pid, case);
}

/// SIGCONT to `pid`, once no other child still holds a copy of an fd the test closed
/// while it was stopped (`settle_forks`): it then finds everything done at once.
pub fn resume(pid: u32) {
    settle_forks();
    signal_pid(pid, Signal::SIGCONT);
}

/// The child's pid, for kill(2).
pub fn pid_of(child: &Child) -> Pid {
    Pid::from_raw(i32::try_from(child.id()).expect("pid"))
}

/// `sig` to `pid`, a child of the test not reaped yet (so its pid is not reused).
pub fn signal_pid(pid: u32, sig: Signal) {
    let p = Pid::from_raw(i32::try_from(pid).expect("pid"));
    kill(p, sig).unwrap_or_else(|e| panic!("kill({pid}, {sig}): {e}"));
}

/// `sig` to the child.
pub fn signal(child: &Child, sig: Signal) {
    signal_pid(child.id(), sig);
}

/// SIGTERM to the child.
pub fn sigterm(child: &Child) {
    signal(child, Signal::SIGTERM);
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

/// The process state letter from /proc/PID/stat (R, S, D, T, Z, ...).
pub fn proc_state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(')')?.1.trim_start().chars().next()
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

/// A `kB` field of /proc/PID/status (VmRSS, VmHWM), in KiB.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    s.lines()
        .find_map(|l| {
            let v = l.strip_prefix(field)?.strip_prefix(':')?;
            v.trim().strip_suffix("kB")?.trim().parse().ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status: {s}"))
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

/// A child killed and reaped when dropped, however the test ends (a failed assertion
/// included): a helper process never outlives its test.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}
