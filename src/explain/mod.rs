//! `fdwatch pid:PID`: what each thread of a process is blocked in, read from
//! /proc/PID/task/TID/{syscall,wchan,stat}: the call, the fds it waits on (the pollfd
//! array, the fd_sets and the timeout are read from the process's memory with
//! process_vm_readv; an epoll interest list from /proc/PID/fdinfo/EPFD), then each fd's
//! readiness now, from a zero-timeout poll of a duplicate. Nothing is read from any fd.

use std::os::fd::{AsFd, RawFd};

use nix::libc;
use nix::unistd::Pid;

use crate::describe;
use crate::error::Result;
use crate::event::{BlockedThread, WaitedFd};
use crate::pidfd::Process;
use crate::probe;
use crate::readiness::Interest;
use crate::report::Reporter;
use memory::{Memory, fd_sets, pollfds, timespec, timeval};

mod memory;

/// `fdwatch pid:PID` alone (from the command line, typed once): the process, and how
/// its events are reported (watch mode's output options).
#[derive(Clone, Debug)]
pub struct Config {
    pub pid: i32,
    pub output: crate::output::Output,
    pub count: Option<u64>,
    pub verbose: bool,
    pub until: Vec<crate::event::Until>,
}

impl Config {
    /// The reporter for this run's output options.
    pub fn reporter(&self, start: std::time::Instant) -> Reporter<'static> {
        Reporter::new(self.output.printer(), start, self.count, self.verbose).until(&self.until)
    }
}

/// Explains every thread of `pid`; 0 when done.
#[inline(never)] // out of the one-shot start-up path (link/startup.ld)
pub fn run(pid: i32, rep: &mut Reporter<'_>) -> Result<u8> {
    let p = Process::open(pid)?;
    let task_dir = format!("/proc/{pid}/task");
    let mut tids: Vec<i32> = std::fs::read_dir(&task_dir)
        .map_err(|e| p.io_error(&task_dir, "opendir", e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    for tid in tids {
        let b = match thread(&p, tid) {
            Ok(b) => b,
            // A thread that ended while we looked is no longer blocked on anything.
            Err(_) if !std::path::Path::new(&format!("{task_dir}/{tid}")).exists() => continue,
            Err(e) => return Err(e),
        };
        rep.emit(b)?;
    }
    rep.flush()?;
    Ok(0)
}

/// One thread: its state, its call and what that call waits on.
pub fn thread(p: &Process, tid: i32) -> Result<BlockedThread> {
    let dir = format!("/proc/{}/task/{tid}", p.pid);
    let read = |name: &str| {
        let path = format!("{dir}/{name}");
        std::fs::read_to_string(&path).map_err(|e| p.io_error(&path, "read", e))
    };
    let syscall = read("syscall")?;
    // A process names itself (prctl PR_SET_NAME): its name is untrusted text.
    let comm = std::fs::read(format!("{dir}/comm"))
        .map(|b| crate::escape::bytes(b.trim_ascii_end()))
        .unwrap_or_default();
    let stat = read("stat").unwrap_or_default();
    // The state letter follows the comm's closing parenthesis.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("?")
        .to_owned();
    let wchan = read("wchan")
        .ok()
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty() && w != "0");
    let mut b = BlockedThread {
        pid: p.pid,
        tid,
        comm,
        state,
        call: None,
        nr: None,
        wchan,
        timeout_ms: None,
        epfd: None,
        note: None,
        fds: Vec::new(),
        set: false,
    };
    // A kernel thread has no user side: its syscall line is all zeros, which would
    // read as read(0, NULL, 0). PF_KTHREAD in stat's flags says what it is.
    if kernel_thread(&stat, &syscall) {
        b.note = Some("a kernel thread".into());
        return Ok(b);
    }
    let Some((nr, args)) = parse_syscall(&syscall) else {
        b.note = Some(match syscall.trim() {
            "running" => "running, not in a system call".into(),
            _ => "not in a system call".into(),
        });
        return Ok(b);
    };
    in_call(p, &mut b, nr, &args);
    Ok(b)
}

/// Thread `b` of `p` is in call `nr` with `args`: the call named, and the fds it
/// waits on, each with its readiness now (or why they cannot be read).
fn in_call(p: &Process, b: &mut BlockedThread, nr: i64, args: &[u64; 6]) {
    b.nr = Some(nr);
    b.call = Some(name(nr).map_or_else(|| format!("syscall {nr}"), str::to_owned));
    b.set = waits_on_set(nr);
    let mem = Memory(Pid::from_raw(p.pid));
    let waits = match waits(nr, args, &mem, p) {
        Ok(w) => w,
        Err(why) => {
            b.note = Some(why);
            Waits::default()
        }
    };
    b.timeout_ms = waits.timeout_ms;
    b.epfd = waits.epfd;
    b.fds = waits
        .fds
        .into_iter()
        .map(|(fd, want, flags)| check(p, fd, want, flags))
        .collect();
}

/// PF_KTHREAD (include/linux/sched.h), in the flags field of /proc/PID/stat.
const PF_KTHREAD: u64 = 0x0020_0000;

/// Whether a thread is the kernel's: PF_KTHREAD in its stat flags (the 9th field, the
/// 7th after the comm), or a syscall line whose stack and instruction pointers are 0,
/// which no thread in a user process has.
fn kernel_thread(stat: &str, syscall: &str) -> bool {
    let flags = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(6))
        .and_then(|f| f.parse::<u64>().ok());
    if let Some(f) = flags {
        return f & PF_KTHREAD != 0;
    }
    let words: Vec<&str> = syscall.split_whitespace().collect();
    words.len() == 9 && words[7..].iter().all(|w| *w == "0x0")
}

/// `NR a0 a1 a2 a3 a4 a5 sp pc` (hex args); `-1 sp pc` or `running` are no call.
fn parse_syscall(line: &str) -> Option<(i64, [u64; 6])> {
    let mut it = line.split_whitespace();
    let nr: i64 = it.next()?.parse().ok().filter(|&n| n >= 0)?;
    let mut args = [0u64; 6];
    for a in &mut args {
        let s = it.next()?;
        *a = u64::from_str_radix(s.trim_start_matches("0x"), 16).ok()?;
    }
    Some((nr, args))
}

/// The fds a call waits on, with what it wants and (epoll) its flags.
#[derive(Default)]
pub(super) struct Waits {
    fds: Vec<(RawFd, Interest, Vec<&'static str>)>,
    /// None: no timeout (waits forever) or none that applies.
    timeout_ms: Option<i64>,
    epfd: Option<RawFd>,
}

const READ: Interest = Interest::READ;
const WRITE: Interest = Interest {
    read: false,
    write: true,
    urgent: false,
};

fn fd_arg(a: u64) -> RawFd {
    a as u32 as i32
}

/// What call `nr` with arguments `a` waits on, read from the process's memory where
/// the call keeps it there; or why it cannot be read.
fn waits(nr: i64, a: &[u64; 6], mem: &Memory, p: &Process) -> std::result::Result<Waits, String> {
    #[cfg(target_arch = "x86_64")]
    if let Some(w) = legacy_waits(nr, a, mem, p)? {
        return Ok(w);
    }
    if let Some(want) = one_fd_call(nr) {
        return Ok(Waits {
            fds: vec![(fd_arg(a[0]), want, Vec::new())],
            ..Waits::default()
        });
    }
    Ok(match nr {
        libc::SYS_splice | libc::SYS_tee => Waits {
            fds: vec![
                (fd_arg(a[0]), READ, Vec::new()),
                (fd_arg(a[2]), WRITE, Vec::new()),
            ],
            ..Waits::default()
        },
        libc::SYS_ppoll => {
            let mut w = pollfds(mem, a[0], a[1])?;
            w.timeout_ms = timespec(mem, a[2])?;
            w
        }
        libc::SYS_pselect6 => {
            let mut w = fd_sets(mem, a[0], [a[1], a[2], a[3]])?;
            w.timeout_ms = timespec(mem, a[4])?;
            w
        }
        libc::SYS_epoll_pwait => epoll(p, a[0], ms_arg(a[3]))?,
        libc::SYS_epoll_pwait2 => epoll(p, a[0], timespec(mem, a[3])?)?,
        _ => Waits::default(),
    })
}

/// The calls x86_64 keeps that newer architectures left out (poll, select,
/// epoll_wait): what they wait on; None for any other call.
#[cfg(target_arch = "x86_64")]
fn legacy_waits(
    nr: i64,
    a: &[u64; 6],
    mem: &Memory,
    p: &Process,
) -> std::result::Result<Option<Waits>, String> {
    Ok(Some(match nr {
        libc::SYS_poll => {
            let mut w = pollfds(mem, a[0], a[1])?;
            w.timeout_ms = ms_arg(a[2]);
            w
        }
        libc::SYS_select => {
            let mut w = fd_sets(mem, a[0], [a[1], a[2], a[3]])?;
            w.timeout_ms = timeval(mem, a[4])?;
            w
        }
        libc::SYS_epoll_wait => epoll(p, a[0], ms_arg(a[3]))?,
        _ => return Ok(None),
    }))
}

/// What a call on the one fd in its first argument waits for (reading or writing);
/// None for a call that is not one of those.
fn one_fd_call(nr: i64) -> Option<Interest> {
    match nr {
        libc::SYS_read
        | libc::SYS_readv
        | libc::SYS_pread64
        | libc::SYS_preadv
        | libc::SYS_preadv2
        | libc::SYS_recvfrom
        | libc::SYS_recvmsg
        | libc::SYS_recvmmsg
        | libc::SYS_accept
        | libc::SYS_accept4 => Some(READ),
        libc::SYS_write
        | libc::SYS_writev
        | libc::SYS_pwrite64
        | libc::SYS_pwritev
        | libc::SYS_pwritev2
        | libc::SYS_sendto
        | libc::SYS_sendmsg
        | libc::SYS_sendmmsg
        | libc::SYS_connect => Some(WRITE),
        _ => None,
    }
}

/// Whether call `nr` waits on a set of fds (select, poll, epoll) rather than one.
fn waits_on_set(nr: i64) -> bool {
    #[cfg(target_arch = "x86_64")]
    if matches!(nr, libc::SYS_poll | libc::SYS_select | libc::SYS_epoll_wait) {
        return true;
    }
    matches!(
        nr,
        libc::SYS_ppoll | libc::SYS_pselect6 | libc::SYS_epoll_pwait | libc::SYS_epoll_pwait2
    )
}

/// An int timeout in ms from a register; negative waits forever.
fn ms_arg(a: u64) -> Option<i64> {
    let ms = a as u32 as i32;
    (ms >= 0).then_some(i64::from(ms))
}

/// An epoll wait: the interest list from fdinfo (`tfd: N events: HEX …`).
fn epoll(p: &Process, epfd: u64, timeout_ms: Option<i64>) -> std::result::Result<Waits, String> {
    let epfd = fd_arg(epfd);
    let path = format!("/proc/{}/fdinfo/{epfd}", p.pid);
    let info = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut fds: Vec<(RawFd, Interest, Vec<&'static str>)> = info
        .lines()
        .filter_map(describe::epoll_target)
        .map(|(fd, ev)| {
            let (want, flags) = describe::epoll_registration(ev);
            (fd, want, flags)
        })
        .collect();
    fds.sort_by_key(|f| f.0);
    Ok(Waits {
        fds,
        timeout_ms,
        epfd: Some(epfd),
    })
}

/// One waited-on fd now: a duplicate, a zero-timeout poll for what the call wants.
fn check(p: &Process, fd: RawFd, want: Interest, flags: Vec<&'static str>) -> WaitedFd {
    let mut w = WaitedFd {
        fd,
        want,
        flags,
        what: String::new(),
        ready: None,
        queued: None,
        error: None,
    };
    let dup = match p.dup(fd) {
        Ok(d) => d,
        Err(e) => {
            w.error = Some(e.to_string());
            return w;
        }
    };
    let fdb = dup.fd.as_fd();
    let desc = describe::describe(fdb);
    // Asked as the poll backend asks: what `fdwatch -b poll` would say of it now.
    w.ready = match probe::now(fdb, want) {
        Ok(ready) => Some(ready),
        Err(e) => {
            w.error = Some(format!("poll: {}", e.desc()));
            None
        }
    };
    w.queued = describe::queued(fdb, desc.kind);
    w.what = desc.what;
    w
}

/// Names of the calls a blocked thread is usually in (this architecture's numbers).
fn name(nr: i64) -> Option<&'static str> {
    #[cfg(target_arch = "x86_64")]
    let arch = match nr {
        libc::SYS_poll => Some("poll"),
        libc::SYS_select => Some("select"),
        libc::SYS_epoll_wait => Some("epoll_wait"),
        libc::SYS_pause => Some("pause"),
        libc::SYS_nanosleep => Some("nanosleep"),
        libc::SYS_wait4 => Some("wait4"),
        libc::SYS_accept => Some("accept"),
        libc::SYS_sendfile => Some("sendfile"),
        _ => None,
    };
    #[cfg(not(target_arch = "x86_64"))]
    let arch: Option<&'static str> = None;
    arch.or(match nr {
        libc::SYS_read => Some("read"),
        libc::SYS_write => Some("write"),
        libc::SYS_readv => Some("readv"),
        libc::SYS_writev => Some("writev"),
        libc::SYS_pread64 => Some("pread64"),
        libc::SYS_pwrite64 => Some("pwrite64"),
        libc::SYS_preadv => Some("preadv"),
        libc::SYS_pwritev => Some("pwritev"),
        libc::SYS_preadv2 => Some("preadv2"),
        libc::SYS_pwritev2 => Some("pwritev2"),
        libc::SYS_recvfrom => Some("recvfrom"),
        libc::SYS_sendto => Some("sendto"),
        libc::SYS_recvmsg => Some("recvmsg"),
        libc::SYS_sendmsg => Some("sendmsg"),
        libc::SYS_recvmmsg => Some("recvmmsg"),
        libc::SYS_sendmmsg => Some("sendmmsg"),
        libc::SYS_accept4 => Some("accept4"),
        libc::SYS_connect => Some("connect"),
        libc::SYS_splice => Some("splice"),
        libc::SYS_tee => Some("tee"),
        libc::SYS_ppoll => Some("ppoll"),
        libc::SYS_pselect6 => Some("pselect6"),
        libc::SYS_epoll_pwait => Some("epoll_pwait"),
        libc::SYS_epoll_pwait2 => Some("epoll_pwait2"),
        libc::SYS_futex => Some("futex"),
        libc::SYS_clock_nanosleep => Some("clock_nanosleep"),
        libc::SYS_waitid => Some("waitid"),
        libc::SYS_rt_sigsuspend => Some("rt_sigsuspend"),
        libc::SYS_rt_sigtimedwait => Some("rt_sigtimedwait"),
        libc::SYS_flock => Some("flock"),
        libc::SYS_fcntl => Some("fcntl"),
        libc::SYS_ioctl => Some("ioctl"),
        libc::SYS_openat => Some("openat"),
        libc::SYS_io_uring_enter => Some("io_uring_enter"),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_lines() {
        let (nr, a) = parse_syscall("0 0x3 0x7ffd 0x40 0x0 0x0 0x0 0x7ffd 0x7f12\n").expect("read");
        assert_eq!((nr, a[0], a[2]), (0, 3, 0x40));
        assert!(parse_syscall("running\n").is_none());
        assert!(parse_syscall("-1 0x7ffd 0x7f12\n").is_none());
        assert!(parse_syscall("").is_none());
    }

    #[test]
    fn kernel_threads() {
        let kthreadd = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 25 0 0";
        let zeros = "0 0x0 0x0 0x0 0x0 0x0 0x0 0x0 0x0\n";
        assert!(kernel_thread(kthreadd, zeros));
        // A user process's read on fd 0: PF_KTHREAD clear (0x400000 PF_RANDOMIZE).
        let cat = "77 (c) a) S 1 77 77 34816 77 4194304 90 0 0 0 0 0 0 0 20 0 1 0 9";
        assert!(!kernel_thread(
            cat,
            "0 0x0 0x7ffd 0x20000 0x0 0x0 0x0 0x7ffd 0x7f12\n"
        ));
        // Without stat: the all-zero line alone.
        assert!(kernel_thread("", zeros));
        assert!(!kernel_thread(
            "",
            "0 0x0 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7f12\n"
        ));
    }

    #[test]
    fn timeouts_from_registers() {
        assert_eq!(ms_arg(u64::MAX), None, "-1 waits forever");
        assert_eq!(ms_arg(0xffff_ffff), None, "-1 as a 32-bit int");
        assert_eq!(ms_arg(30_000), Some(30_000));
    }
}
