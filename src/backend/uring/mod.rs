//! io_uring (`-b uring`): IORING_OP_POLL_ADD per fd, waited for with io_uring_enter.
//!
//! Level-triggered (one-shot runs, the relay, rechecks): single-shot polls, re-armed
//! before each wait, so a fd that stays ready is reported by every wait, as poll does.
//! Edge-triggered (monitor mode): multishot polls (IORING_POLL_ADD_MULTI, Linux 5.13),
//! one completion per wake-up, re-armed when the kernel ends one (no IORING_CQE_F_MORE).
//! An fd without poll support (files, /dev/null: epoll refuses those) would complete at
//! once on every re-arm, so it is held level-triggered and reported as a fallback.
//! io_uring's poll never completes for POLLPRI alone on a TCP socket (measured on Linux
//! 6.18: the urgent byte arrives, poll(2) says POLLPRI, the request stays pending; with
//! POLLIN beside it, it completes), so an fd asked for urgent data alone waits in an
//! epoll instance of this backend's, which the ring polls for readability.
//! The wait passes the signal mask and the timeout in one IORING_ENTER_EXT_ARG, so
//! signals are race-free as with ppoll. `raw` is the completion's poll mask (POLL*
//! names), or the errno of a failed poll (`-EBADF`).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{IoUring, cqueue, opcode, types};
use nix::errno::Errno;
use nix::libc;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::signal::SigSet;

use super::{Backend, Caps, Info, Mode, Readiness, Registered, SignalMask, registered};
use crate::error::{Error, Result};
use crate::probe;
use crate::readiness::Interest;
use crate::readiness::{Conditions, Raw};

mod pri_only;
use pri_only::PriOnly;

/// io_uring: the signal mask through EXT_ARG, edge-triggered only in monitor mode.
pub(super) fn info() -> Info {
    Info {
        name: "uring",
        caps: Caps {
            mask: SignalMask::Optional,
            modes: false,
            monitor_edge: Some(
                "multishot polls (IORING_POLL_ADD_MULTI, re-armed when the kernel ends one)",
            ),
            fd_limit: None,
            folds_hangup: false,
            book: None,
            fallback: None,
        },
        make: |mode| Ok(Box::new(Uring::new(mode)?)),
    }
}

/// User data of a POLL_REMOVE (its own completion is not a readiness).
const REMOVING: u64 = u64::MAX;

/// One registered fd.
#[derive(Clone, Copy, Debug)]
struct Reg {
    token: usize,
    events: u32,
    /// The user data of its poll request now (a new one per arming, so a late
    /// completion of an old request is recognized and dropped).
    id: u64,
    /// Held level-triggered (no poll support, or the backend is level-triggered).
    level: bool,
    /// A poll request is in flight.
    armed: bool,
    /// Supports poll (epoll takes it).
    pollable: bool,
    /// Waits in `PriOnly`'s epoll instance (asked for urgent data alone).
    via_epoll: bool,
}

pub struct Uring {
    ring: IoUring,
    multishot: bool,
    regs: HashMap<RawFd, Reg>,
    /// Request id → fd.
    ids: HashMap<u64, RawFd>,
    next_id: u64,
    /// Tells which fds have no poll support: epoll_ctl refuses them (EPERM).
    probe: Epoll,
    /// Where this wait's readiness of each token went in `out` (merged).
    seen: HashMap<usize, usize>,
    /// Fds whose request ended: re-armed before the next wait (few: the ready ones).
    rearm: Vec<RawFd>,
    pri_only: Option<PriOnly>,
}

/// Why io_uring cannot be used, in the one line a user sees.
fn unavailable(call: &'static str, e: Errno) -> Error {
    // Out of descriptors at start: another backend would need one too (exit 2).
    if matches!(e, Errno::EMFILE | Errno::ENFILE) {
        return Error::sys("-b uring", call, e);
    }
    let disabled = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    let why = match (e, disabled.as_str()) {
        (_, "1" | "2") => format!("kernel.io_uring_disabled is {disabled}"),
        (Errno::ENOSYS, _) => "this kernel has no io_uring".into(),
        (Errno::EPERM | Errno::EACCES, _) => {
            "not permitted here (a seccomp filter, or a container that forbids it)".into()
        }
        _ => "it cannot be set up here".into(),
    };
    Error::Usage(format!(
        "-b uring: io_uring is not available ({call}: {} ({e:?}): {why}); use -b epoll",
        e.desc()
    ))
}

impl Uring {
    fn new(mode: Mode) -> Result<Uring> {
        let errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EINVAL));
        let ring = IoUring::builder()
            .setup_cqsize(4096)
            .build(256)
            .map_err(|e| unavailable("io_uring_setup", errno(e)))?;
        if !ring.params().is_feature_ext_arg() {
            return Err(unavailable("io_uring_setup", Errno::EINVAL));
        }
        let probe = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| Error::sys("uring", "epoll_create1", e))?;
        Ok(Uring {
            ring,
            multishot: mode.edge,
            regs: HashMap::new(),
            ids: HashMap::new(),
            next_id: 0,
            probe,
            seen: HashMap::new(),
            rearm: Vec::new(),
            pri_only: None,
        })
    }

    /// Whether `fd` supports poll: epoll accepts exactly those.
    fn pollable(&self, fd: RawFd) -> bool {
        let ev = EpollEvent::new(EpollFlags::EPOLLIN, 0);
        match self.probe.add(registered(fd), ev) {
            Ok(()) => {
                let _ = self.probe.delete(registered(fd));
                true
            }
            Err(_) => false,
        }
    }

    /// Queues one submission, handing the queue to the kernel first when it is full.
    fn push(&mut self, entry: &io_uring::squeue::Entry) -> Result<()> {
        loop {
            // SAFETY: a poll request points at no user memory (only an fd and a
            // mask), and a poll removal only at a user data value.
            let pushed = unsafe { self.ring.submission().push(entry) };
            if pushed.is_ok() {
                return Ok(());
            }
            self.ring
                .submit()
                .map_err(|e| Error::sys("uring", "io_uring_enter", errno_of(&e)))?;
        }
    }

    /// Arms a poll request for `fd` with a new id (or, asked for urgent data alone,
    /// its place in the PriOnly epoll instance).
    fn arm(&mut self, fd: RawFd) -> Result<()> {
        let Some(reg) = self.regs.get_mut(&fd) else {
            return Ok(());
        };
        if reg.pollable && reg.events == libc::POLLPRI as u32 {
            return self.arm_pri_only(fd);
        }
        if let Some(old) = (reg.armed).then_some(reg.id) {
            self.ids.remove(&old);
        }
        self.next_id += 1;
        reg.id = self.next_id;
        reg.armed = true;
        let multi = self.multishot && !reg.level;
        let entry = opcode::PollAdd::new(types::Fd(fd), reg.events)
            .multi(multi)
            .build()
            .user_data(reg.id);
        self.ids.insert(reg.id, fd);
        self.push(&entry)
    }

    /// One readiness of `token` in this wait, merged with any before it.
    fn merge(&mut self, token: usize, cond: Conditions, raw: Raw, out: &mut Vec<Readiness>) {
        match self.seen.get(&token) {
            Some(&i) => {
                out[i].cond = out[i].cond | cond;
                out[i].raw = raw;
            }
            None => {
                self.seen.insert(token, out.len());
                out.push(Readiness { token, cond, raw });
            }
        }
    }

    /// Cancels `fd`'s request in flight (its late completions are then dropped);
    /// whether there was one (a removal is then queued).
    fn disarm(&mut self, fd: RawFd) -> Result<bool> {
        let Some(reg) = self.regs.get_mut(&fd) else {
            return Ok(false);
        };
        if reg.via_epoll {
            // Out of the PriOnly epoll instance; the ring's poll of it stays.
            reg.via_epoll = false;
            if let Some(pri) = self.pri_only.as_mut() {
                pri.leave(fd);
            }
            return Ok(false);
        }
        if !reg.armed {
            return Ok(false);
        }
        reg.armed = false;
        let id = reg.id;
        self.ids.remove(&id);
        let entry = opcode::PollRemove::new(id).build().user_data(REMOVING);
        self.push(&entry).map(|()| true)
    }

    /// Waits in io_uring_enter: submits what is queued and waits for one completion,
    /// with the signal mask and the timeout in one EXT_ARG.
    fn enter(&mut self, timeout: Option<Duration>, mask: Option<&SigSet>) -> nix::Result<()> {
        let to_submit = self.ring.submission().len() as u32;
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(d.subsec_nanos()),
        });
        let arg = GeteventsArg {
            sigmask: mask.map_or(0, |m| m.as_ref() as *const libc::sigset_t as u64),
            // The kernel's sigset_t: 64 signals.
            sigmask_sz: if mask.is_some() { 8 } else { 0 },
            min_wait_usec: 0,
            ts: ts.as_ref().map_or(0, |t| t as *const libc::timespec as u64),
        };
        // SAFETY: the io-uring crate's SubmitArgs gives the kernel glibc's 128-byte
        // sigset_t size, which io_uring_enter refuses (EINVAL), so the call is made
        // here: the ring fd is ours, `arg` and what it points to (the mask, the
        // timespec) outlive the call, and the size passed is the struct's.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_enter,
                self.ring.as_raw_fd(),
                to_submit,
                1u32,
                IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                &arg as *const GeteventsArg,
                std::mem::size_of::<GeteventsArg>(),
            )
        };
        match Errno::result(r) {
            // The timeout passed with nothing completed.
            Ok(_) | Err(Errno::ETIME) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One completion as a readiness: merged into this wait's entry for its token.
    fn complete(&mut self, id: u64, res: i32, flags: u32, out: &mut Vec<Readiness>) {
        if self.pri_only.as_ref().is_some_and(|p| p.is_request(id)) {
            return self.complete_epoll(out);
        }
        let Some(&fd) = self.ids.get(&id) else {
            // A removal's own completion, or a late one of a request replaced.
            return;
        };
        let Some(reg) = self.regs.get_mut(&fd) else {
            return;
        };
        if !cqueue::more(flags) {
            // Ended (a single-shot poll, or a multishot the kernel ended): re-armed
            // before the next wait.
            reg.armed = false;
            self.ids.remove(&id);
            self.rearm.push(fd);
        }
        let (cond, raw) = if res >= 0 {
            let mask = res as u32;
            let mut cond = probe::conditions(mask as u16 as i16);
            // A completion carries the wake-up's mask, and a socket's data wake-up
            // announces POLLPRI with POLLIN (sock_def_readable): urgent only when a
            // poll says so now. `raw` stays the completion's.
            if cond.contains(Conditions::URGENT) && !pri_now(fd) {
                cond = cond.without(Conditions::URGENT);
                if cond.is_empty() {
                    return;
                }
            }
            (cond, Raw::new(mask, super::poll::show))
        } else {
            // The poll itself failed (-EBADF: the fd is not open): invalid, like
            // POLLNVAL; anything else is an error on that fd.
            let errno = -res;
            let cond = if errno == libc::EBADF {
                Conditions::INVALID
            } else {
                Conditions::ERROR
            };
            (cond, Raw::new(errno as u32, show_errno))
        };
        let token = reg.token;
        self.merge(token, cond, raw, out);
    }
}

/// `struct io_uring_getevents_arg` from <linux/io_uring.h>.
#[repr(C)]
struct GeteventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

const IORING_ENTER_GETEVENTS: u32 = 1;
const IORING_ENTER_EXT_ARG: u32 = 1 << 3;

/// The errno of an io-uring crate error.
fn errno_of(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(0))
}

/// Whether `fd` has urgent (priority) data now: a zero-timeout poll.
fn pri_now(fd: RawFd) -> bool {
    probe::now(registered(fd), Interest::URGENT).is_ok_and(|c| c.contains(Conditions::URGENT))
}

/// A failed poll's errno as `-EBADF`.
fn show_errno(errno: u32, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write!(f, "-{:?}", Errno::from_raw(errno as i32))
}

impl Backend for Uring {
    fn call(&self) -> &'static str {
        "io_uring_enter"
    }

    fn add(&mut self, fd: RawFd, token: usize, interest: Interest) -> Result<Registered> {
        let pollable = self.pollable(fd);
        let level = !self.multishot || !pollable;
        self.regs.insert(
            fd,
            Reg {
                token,
                events: probe::events(interest) as u16 as u32,
                id: 0,
                level,
                armed: false,
                pollable,
                via_epoll: false,
            },
        );
        self.arm(fd)?;
        // Files and devices complete at once on every arming: held level-triggered,
        // so monitor mode parks them.
        Ok(if level {
            Registered::Level
        } else {
            Registered::Edge
        })
    }

    fn delete(&mut self, fd: RawFd) -> Result<()> {
        let removing = self.disarm(fd)?;
        self.regs.remove(&fd);
        // A poll request holds its file: the removal goes to the kernel now, so an fd
        // closed after this is let go at once (a pipe's reader sees the hang-up, a
        // peer the FIN), not at the next wait.
        if removing {
            self.ring
                .submit()
                .map_err(|e| Error::sys("uring", "io_uring_enter", errno_of(&e)))?;
        }
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, token: usize, interest: Interest) -> Result<()> {
        // The fd stays open: its removal may wait for the next submission.
        self.disarm(fd)?;
        if let Some(reg) = self.regs.get_mut(&fd) {
            reg.token = token;
            reg.events = probe::events(interest) as u16 as u32;
        }
        self.arm(fd)
    }

    fn wait(
        &mut self,
        timeout: Option<Duration>,
        mask: Option<&SigSet>,
        out: &mut Vec<Readiness>,
    ) -> nix::Result<usize> {
        // Level-triggered: re-arm what the last wait completed, so a fd that stays
        // ready is reported again (and each request ended by the kernel, likewise).
        for fd in std::mem::take(&mut self.rearm) {
            if self.regs.get(&fd).is_some_and(|r| !r.armed) {
                self.arm(fd).map_err(|_| Errno::ENOMEM)?;
            }
        }
        self.arm_epoll().map_err(|_| Errno::ENOMEM)?;
        let before = out.len();
        self.seen.clear();
        // Completions already there (a poll that completed at arming) need no wait.
        let ready_now = !self.ring.completion().is_empty();
        let t = if ready_now {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        self.enter(t, mask)?;
        let done: Vec<(u64, i32, u32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result(), c.flags()))
            .collect();
        for (id, res, flags) in done {
            self.complete(id, res, flags, out);
        }
        Ok(out.len() - before)
    }
}
