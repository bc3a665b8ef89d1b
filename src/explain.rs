//! `fdwatch pid:PID`: what each thread of a process is blocked in, read from
//! /proc/PID/task/TID/{syscall,wchan,stat}: the call, the fds it waits on (the pollfd
//! array, the fd_sets and the timeout are read from the process's memory with
//! process_vm_readv; an epoll interest list from /proc/PID/fdinfo/EPFD), then each fd's
//! readiness now, from a zero-timeout poll of a duplicate. Nothing is read from any fd.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, RawFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

use crate::backend::{self, poll_conditions, poll_events};
use crate::describe;
use crate::error::Result;
use crate::event::{Blocked, Event, WaitedFd};
use crate::pidfd::Process;
use crate::readiness::Interest;
use crate::report::Reporter;

/// The largest pollfd array or fd_set read from a process (a corrupt count must not
/// make fdwatch read megabytes).
const MAX_FDS: u64 = 1 << 20;

/// Explains every thread of `pid`; 0 when done.
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
        rep.emit(&Event::Blocked(&b))?;
    }
    rep.flush()?;
    Ok(0)
}

/// One thread: its state, its call and what that call waits on.
pub fn thread(p: &Process, tid: i32) -> Result<Blocked> {
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
    let mut b = Blocked {
        pid: p.pid,
        tid,
        comm,
        state,
        call: None,
        nr: None,
        wchan,
        timeout_ms: None,
        epfd: None,
        fds: Vec::new(),
        note: None,
    };
    let Some((nr, args)) = parse_syscall(&syscall) else {
        b.note = Some(match syscall.trim() {
            "running" => "running, not in a system call".into(),
            _ => "not in a system call".into(),
        });
        return Ok(b);
    };
    b.nr = Some(nr);
    b.call = Some(name(nr).map_or_else(|| format!("syscall {nr}"), str::to_owned));
    let mem = Memory(Pid::from_raw(p.pid));
    let waits = match waits(nr, &args, &mem, p) {
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
    Ok(b)
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
struct Waits {
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

fn waits(nr: i64, a: &[u64; 6], mem: &Memory, p: &Process) -> std::result::Result<Waits, String> {
    let one = |fd: u64, want| Waits {
        fds: vec![(fd_arg(fd), want, Vec::new())],
        ..Waits::default()
    };
    #[cfg(target_arch = "x86_64")]
    match nr {
        libc::SYS_poll => {
            let mut w = pollfds(mem, a[0], a[1])?;
            w.timeout_ms = ms_arg(a[2]);
            return Ok(w);
        }
        libc::SYS_select => {
            let mut w = fd_sets(mem, a[0], [a[1], a[2], a[3]])?;
            w.timeout_ms = timeval(mem, a[4])?;
            return Ok(w);
        }
        libc::SYS_epoll_wait => return epoll(p, a[0], ms_arg(a[3])),
        _ => {}
    }
    Ok(match nr {
        libc::SYS_read
        | libc::SYS_readv
        | libc::SYS_pread64
        | libc::SYS_preadv
        | libc::SYS_preadv2
        | libc::SYS_recvfrom
        | libc::SYS_recvmsg
        | libc::SYS_recvmmsg
        | libc::SYS_accept
        | libc::SYS_accept4 => one(a[0], READ),
        libc::SYS_write
        | libc::SYS_writev
        | libc::SYS_pwrite64
        | libc::SYS_pwritev
        | libc::SYS_pwritev2
        | libc::SYS_sendto
        | libc::SYS_sendmsg
        | libc::SYS_sendmmsg
        | libc::SYS_connect => one(a[0], WRITE),
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

/// An int timeout in ms from a register; negative waits forever.
fn ms_arg(a: u64) -> Option<i64> {
    let ms = a as u32 as i32;
    (ms >= 0).then_some(i64::from(ms))
}

/// A pollfd array: fd, events, revents (8 bytes each).
fn pollfds(mem: &Memory, addr: u64, n: u64) -> std::result::Result<Waits, String> {
    let n = n.min(MAX_FDS);
    let bytes = mem.read(addr, n * 8)?;
    let fds = bytes
        .chunks_exact(8)
        .map(|c| {
            let fd = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
            let ev = i16::from_ne_bytes([c[4], c[5]]);
            (fd, backend::poll_interest(ev), Vec::new())
        })
        // A negative fd is an entry poll skips.
        .filter(|(fd, _, _)| *fd >= 0)
        .collect();
    Ok(Waits {
        fds,
        ..Waits::default()
    })
}

/// The three fd_sets of select: bits below nfds; a NULL set is empty.
fn fd_sets(mem: &Memory, nfds: u64, sets: [u64; 3]) -> std::result::Result<Waits, String> {
    let nfds = (nfds as u32 as u64).min(MAX_FDS);
    let words = nfds.div_ceil(64);
    let mut bits: Vec<[bool; 3]> = vec![[false; 3]; nfds as usize];
    for (k, &addr) in sets.iter().enumerate() {
        if addr == 0 || words == 0 {
            continue;
        }
        let raw = mem.read(addr, words * 8)?;
        for (w, c) in raw.chunks_exact(8).enumerate() {
            let word = u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
            for bit in 0..64 {
                let fd = w * 64 + bit;
                if word & (1 << bit) != 0 && fd < bits.len() {
                    bits[fd][k] = true;
                }
            }
        }
    }
    let fds = bits
        .iter()
        .enumerate()
        .filter(|(_, b)| b.iter().any(|&x| x))
        .map(|(fd, b)| {
            let want = Interest {
                read: b[0],
                write: b[1],
                urgent: b[2],
            };
            (fd as RawFd, want, Vec::new())
        })
        .collect();
    Ok(Waits {
        fds,
        ..Waits::default()
    })
}

/// A struct timeval (NULL: forever) in ms.
fn timeval(mem: &Memory, addr: u64) -> std::result::Result<Option<i64>, String> {
    two_longs(mem, addr).map(|t| t.map(|(s, us)| s.saturating_mul(1000) + us / 1000))
}

/// A struct timespec (NULL: forever) in ms.
fn timespec(mem: &Memory, addr: u64) -> std::result::Result<Option<i64>, String> {
    two_longs(mem, addr).map(|t| t.map(|(s, ns)| s.saturating_mul(1000) + ns / 1_000_000))
}

fn two_longs(mem: &Memory, addr: u64) -> std::result::Result<Option<(i64, i64)>, String> {
    if addr == 0 {
        return Ok(None);
    }
    let b = mem.read(addr, 16)?;
    let a = i64::from_ne_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let c = i64::from_ne_bytes(b[8..16].try_into().unwrap_or([0; 8]));
    Ok(Some((a, c)))
}

/// An epoll wait: the interest list from fdinfo (`tfd: N events: HEX …`).
fn epoll(p: &Process, epfd: u64, timeout_ms: Option<i64>) -> std::result::Result<Waits, String> {
    let epfd = fd_arg(epfd);
    let path = format!("/proc/{}/fdinfo/{epfd}", p.pid);
    let info = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let mut fds: Vec<(RawFd, Interest, Vec<&'static str>)> = info
        .lines()
        .filter_map(parse_tfd)
        .map(|(fd, ev)| {
            let (want, flags) = backend::epoll_registration(ev);
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

/// `tfd:        5 events:       19 data: …` → (5, 0x19).
fn parse_tfd(line: &str) -> Option<(RawFd, u32)> {
    let rest = line.strip_prefix("tfd:")?;
    let mut it = rest.split_whitespace();
    let fd = it.next()?.parse().ok()?;
    if it.next()? != "events:" {
        return None;
    }
    let ev = u32::from_str_radix(it.next()?, 16).ok()?;
    Some((fd, ev))
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
    let mut pfd = [libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&dup.fd),
        events: poll_events(want),
        revents: 0,
    }];
    // SAFETY: one initialized pollfd, zero timeout; poll only writes revents.
    let n = unsafe { libc::poll(pfd.as_mut_ptr(), 1, 0) };
    w.ready = match Errno::result(n) {
        Ok(_) => Some(poll_conditions(pfd[0].revents)),
        Err(e) => {
            w.error = Some(format!("poll: {}", e.desc()));
            None
        }
    };
    w.queued = describe::queued(fdb, desc.kind);
    w.what = desc.what;
    w
}

/// The process's memory, through process_vm_readv (ptrace access, like pidfd_getfd).
struct Memory(Pid);

impl Memory {
    fn read(&self, addr: u64, len: u64) -> std::result::Result<Vec<u8>, String> {
        let mut buf = vec![0u8; len as usize];
        if len == 0 {
            return Ok(buf);
        }
        let remote = [RemoteIoVec {
            base: addr as usize,
            len: len as usize,
        }];
        match process_vm_readv(self.0, &mut [IoSliceMut::new(&mut buf)], &remote) {
            Ok(n) if n as u64 == len => Ok(buf),
            Ok(n) => Err(format!(
                "read {n} of {len} bytes of its memory at {addr:#x}"
            )),
            Err(e) => Err(format!(
                "cannot read its memory at {addr:#x} (process_vm_readv: {})",
                e.desc()
            )),
        }
    }
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
    fn epoll_fdinfo_lines() {
        assert_eq!(
            parse_tfd("tfd:        7 events: 80000019 data:                7  pos:0 ino:1 sdev:f"),
            Some((7, 0x8000_0019))
        );
        assert_eq!(parse_tfd("pos:\t0"), None);
        let (want, flags) = backend::epoll_registration(0x8000_0019);
        assert_eq!((want, flags), (READ, vec!["ET"]));
    }

    #[test]
    fn timeouts_from_registers() {
        assert_eq!(ms_arg(u64::MAX), None, "-1 waits forever");
        assert_eq!(ms_arg(0xffff_ffff), None, "-1 as a 32-bit int");
        assert_eq!(ms_arg(30_000), Some(30_000));
    }
}
