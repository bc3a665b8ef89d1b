//! Signals: blocked from startup, reported as events with the sender's pid.
//!
//! Handlers (signal-hook-registry) write a 12-byte record (signo, pid, uid) to a
//! non-blocking self-pipe: write(2) is async-signal-safe and atomic below PIPE_BUF.
//! With pselect, ppoll, epoll_pwait and io_uring_enter the signals stay blocked except
//! inside the wait (the wait's mask unblocks them), so none can arrive between a check
//! and the wait:
//! it interrupts the wait at once (EINTR), one handler per interruption.
//! select and poll have no mask: the signals are unblocked and the pipe's read end
//! joins the watch set instead.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};

use crate::error::{Error, Result};

/// Signals that end a monitor run (summary first, then death by the same signal).
pub const TERMINATING: [i32; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// What a signal list is for: `--signals` catches, `--mask` keeps blocked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    Catch,
    Block,
}

/// `USR1`, `SIGUSR1`, `10`, `RTMIN`, `RTMIN+3`, `RTMAX-1` → signal numbers; a signal
/// that cannot be used so is refused, saying why.
pub fn parse_list(s: &str, to: Use) -> std::result::Result<Vec<i32>, String> {
    s.split(',').map(|w| parse_one(w.trim(), to)).collect()
}

fn parse_one(w: &str, to: Use) -> std::result::Result<i32, String> {
    let bad = |why: &str| format!("signal '{w}': {why}");
    let up = w.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = if let Ok(n) = name.parse::<i32>() {
        n
    } else if let Some(rest) = name.strip_prefix("RTMIN") {
        rt(libc::SIGRTMIN(), rest).ok_or_else(|| bad("expected RTMIN or RTMIN+N"))?
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        rt(libc::SIGRTMAX(), rest).ok_or_else(|| bad("expected RTMAX or RTMAX-N"))?
    } else {
        Signal::iterator()
            .find(|s| s.as_str().strip_prefix("SIG") == Some(name))
            .map(|s| s as i32)
            .ok_or_else(|| bad("unknown signal name"))?
    };
    if !(1..=libc::SIGRTMAX()).contains(&n) {
        return Err(bad("no such signal number"));
    }
    // The kernel's first real-time signals (32, 33) are the C library's own (thread
    // cancellation, setxid): sigaction refuses them and sigprocmask drops them.
    if n > libc::SIGSYS && n < libc::SIGRTMIN() {
        return Err(bad(&format!(
            "reserved by the C library; real-time signals start at RTMIN ({})",
            libc::SIGRTMIN()
        )));
    }
    match to {
        Use::Catch if signal_hook_registry::FORBIDDEN.contains(&n) => Err(bad("cannot be caught")),
        Use::Block if n == libc::SIGKILL || n == libc::SIGSTOP => Err(bad("cannot be blocked")),
        _ => Ok(n),
    }
}

/// `+N` / `-N` / `` after RTMIN or RTMAX.
fn rt(base: i32, rest: &str) -> Option<i32> {
    let n = match rest.as_bytes().first() {
        None => 0,
        Some(b'+') => rest[1..].parse::<i32>().ok()?,
        Some(b'-') => -rest[1..].parse::<i32>().ok()?,
        _ => return None,
    };
    let v = base + n;
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&v)
        .then_some(v)
}

/// `USR1`, or `RTMIN+n` for real-time signals.
pub fn name(signo: i32) -> String {
    if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signo) {
        return match signo - libc::SIGRTMIN() {
            0 => "RTMIN".into(),
            n => format!("RTMIN+{n}"),
        };
    }
    Signal::try_from(signo)
        .map(|s| s.as_str().trim_start_matches("SIG").to_owned())
        .unwrap_or_else(|_| signo.to_string())
}

/// The signals that end this run (a bit per signal number), for the handlers.
static ENDING: AtomicU64 = AtomicU64::new(0);
/// The first run-ending signal caught, 0 before: set by the handler, so code that is
/// waiting outside the main loop (a full stdout) knows the run is over.
static ENDED_BY: AtomicI32 = AtomicI32::new(0);
/// The caught signals, which a wait outside the main loop must let in.
static CAUGHT: OnceLock<Vec<i32>> = OnceLock::new();
/// Set by a handler after its record is in the self-pipe: the loop reads the pipe
/// only then, not after every wait (one read(2) saved per wake-up).
static RECORDS: AtomicBool = AtomicBool::new(false);

/// The run-ending signal caught so far, if any.
pub fn ended_by() -> Option<i32> {
    match ENDED_BY.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// Waits until `fd` can take bytes (POLLOUT, or an error: the write then says which)
/// while the caught signals can be delivered; `Ok(false)` when `timeout` passed,
/// `Err(EINTR)` when a signal came (its record is in the self-pipe for the loop).
/// Race-free: the signals are blocked while `ended_by` is checked, and ppoll's mask
/// lets them in only during the wait.
pub fn wait_writable(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> nix::Result<bool> {
    let caught: &[i32] = CAUGHT.get().map_or(&[], Vec::as_slice);
    let mut old = SigSet::empty();
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set_of(caught)), Some(&mut old))?;
    let r = if ENDED_BY.load(Ordering::Relaxed) != 0 && timeout.is_none() {
        // Ended already: the caller decides how much longer a full stdout may take.
        Err(Errno::EINTR)
    } else {
        let serve = edited(&old, &[], caught);
        let mut p = [libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        }];
        let ts = timeout.map(nix::sys::time::TimeSpec::from);
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t.as_ref() as *const _);
        // SAFETY: nix's ppoll wants a PollFd borrow; one pollfd, a timespec and a
        // sigset, all alive for the call.
        let n = unsafe { libc::ppoll(p.as_mut_ptr(), 1, ts_ptr, serve.as_ref()) };
        Errno::result(n).map(|n| n > 0)
    };
    pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None)?;
    r
}

/// One caught signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caught {
    pub signo: i32,
    pub pid: i32,
    pub uid: u32,
}

pub struct Signals {
    read: OwnedFd,
    /// Kept open for the handlers, which write to its number.
    _write: OwnedFd,
    /// The mask to wait with (pselect, ppoll, epoll_pwait), or None (select, poll).
    pub wait_mask: Option<SigSet>,
    masked: Vec<i32>,
}

/// Signals blocked at the start, not yet armed (`Signals::block`).
pub struct Blocked {
    caught: Vec<i32>,
    masked: Vec<i32>,
    /// The mask before: what the wait restores around the caught ones.
    old: SigSet,
}

impl Blocked {
    /// Installs the handlers and their self-pipe, once the run's own fds are open (so
    /// those get the lowest numbers, as in the book's programs), and prepares the wait
    /// mask (`with_mask`: pselect, ppoll, epoll_pwait, io_uring) or unblocks the caught
    /// signals for the self-pipe. `ending`: the caught signals that end the run.
    pub fn arm(self, with_mask: bool, ending: &[i32]) -> Result<Signals> {
        let Blocked {
            caught,
            masked,
            old,
        } = self;
        let _ = CAUGHT.set(caught.clone());
        let bits = ending
            .iter()
            .filter(|&&n| (0..64).contains(&n) && caught.contains(&n))
            .fold(0u64, |b, &n| b | 1 << n);
        ENDING.store(bits, Ordering::Relaxed);
        let sys = |call, e| Error::sys("signals", call, e);
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| sys("pipe2", e))?;
        // Room for a storm: 1 MiB holds 87,000 records; failure leaves 64 KiB.
        let _ = fcntl(&write, FcntlArg::F_SETPIPE_SZ(1 << 20));
        let wfd: RawFd = write.as_raw_fd();
        for &sig in &caught {
            let handler = move |info: &libc::siginfo_t| {
                let signo = info.si_signo;
                // Atomics are async-signal-safe; the first ending signal is kept.
                if (0..64).contains(&signo) && ENDING.load(Ordering::Relaxed) >> signo & 1 == 1 {
                    let _ =
                        ENDED_BY.compare_exchange(0, signo, Ordering::Relaxed, Ordering::Relaxed);
                }
                // SAFETY (in the handler): si_pid/si_uid read the siginfo union the
                // kernel filled; write(2) is async-signal-safe and atomic for 12 bytes.
                let (pid, uid) = unsafe { (info.si_pid(), info.si_uid()) };
                let rec: [u32; 3] = [info.si_signo as u32, pid as u32, uid];
                unsafe { libc::write(wfd, rec.as_ptr().cast(), 12) };
                RECORDS.store(true, Ordering::Release);
            };
            // SAFETY: the handler only does async-signal-safe work (see above).
            unsafe { signal_hook_registry::register_sigaction(sig, handler) }.map_err(|e| {
                Error::sys(
                    format!("signal {}", name(sig)),
                    "sigaction",
                    Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                )
            })?;
        }
        let wait_mask = if with_mask {
            // The caller's mask, minus what is caught, plus what stays masked.
            Some(edited(&old, &masked, &caught))
        } else {
            // No mask in the call: deliver now, to the self-pipe in the watch set.
            pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&set_of(&caught)), None)
                .map_err(|e| sys("pthread_sigmask", e))?;
            None
        };
        Ok(Signals {
            read,
            _write: write,
            wait_mask,
            masked,
        })
    }
}

/// `base` with `add` added and `del` removed; by number, since real-time signals have
/// no nix `Signal`.
fn edited(base: &SigSet, add: &[i32], del: &[i32]) -> SigSet {
    let mut raw: libc::sigset_t = *base.as_ref();
    // SAFETY: `raw` is a valid sigset; the numbers were checked by parse_list (or are
    // the constants of TERMINATING).
    unsafe {
        for &n in add {
            libc::sigaddset(&mut raw, n);
        }
        for &n in del {
            libc::sigdelset(&mut raw, n);
        }
        SigSet::from_sigset_t_unchecked(raw)
    }
}

fn set_of(sigs: &[i32]) -> SigSet {
    edited(&SigSet::empty(), sigs, &[])
}

impl Signals {
    /// Blocks `caught` and `masked`, installs the handlers, and prepares the wait mask.
    /// Call before any thread exists: the mask is per thread.
    /// Blocks `caught` and `masked`: the first thing a run does, before any fd is
    /// opened or thread exists (the mask is per thread). A signal that comes now stays
    /// pending until the handlers are armed and the wait lets it in.
    pub fn block(caught: &[i32], masked: &[i32]) -> Result<Option<Blocked>> {
        if caught.is_empty() && masked.is_empty() {
            return Ok(None);
        }
        let mut old = SigSet::empty();
        let all: Vec<i32> = caught.iter().chain(masked).copied().collect();
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set_of(&all)), Some(&mut old))
            .map_err(|e| Error::sys("signals", "pthread_sigmask", e))?;
        Ok(Some(Blocked {
            caught: caught.to_vec(),
            masked: masked.to_vec(),
            old,
        }))
    }
    /// The self-pipe's read end, for the watch set (select, poll).
    pub fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// The signals caught since the last call, in order; no system call when no
    /// handler ran. `force`: read the pipe anyway (the watch set said it is readable).
    pub fn take(&self, force: bool) -> Vec<Caught> {
        let mut v = Vec::new();
        self.drain(force, &mut v);
        v
    }

    fn drain(&self, force: bool, out: &mut Vec<Caught>) {
        // Cleared before reading: a record written during the read sets it again.
        if !RECORDS.swap(false, Ordering::Acquire) && !force {
            return;
        }
        let mut buf = [0u8; 12 * 256];
        loop {
            match nix::unistd::read(self.read.as_fd(), &mut buf) {
                Ok(n) if n >= 12 => {
                    for rec in buf[..n - n % 12].chunks_exact(12) {
                        let word = |i: usize| {
                            u32::from_ne_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]])
                        };
                        out.push(Caught {
                            signo: word(0) as i32,
                            pid: word(4) as i32,
                            uid: word(8),
                        });
                    }
                }
                Err(Errno::EINTR) => {}
                _ => return,
            }
        }
    }

    /// Lets in the caught signals that are pending now, blocked since the last wait
    /// (a wait that returns events does not deliver them): at the end of a run, so
    /// none that came is left unreported. Their handlers run before this returns.
    pub fn deliver_pending(&self) {
        let Some(mask) = &self.wait_mask else {
            return; // not blocked: delivered already
        };
        let caught: &[i32] = CAUGHT.get().map_or(&[], Vec::as_slice);
        // SAFETY: sigpending fills the set; sigismember only reads it.
        let any = unsafe {
            let mut p: libc::sigset_t = std::mem::zeroed();
            libc::sigpending(&mut p) == 0 && caught.iter().any(|&n| libc::sigismember(&p, n) == 1)
        };
        if any {
            let mut old = SigSet::empty();
            // Unblocking delivers them at once (the kernel runs pending handlers on the
            // way back from the call); then the old mask again.
            if pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(mask), Some(&mut old)).is_ok() {
                let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
            }
        }
    }

    /// The --mask signals pending now; they are discarded when the process exits.
    pub fn pending_masked(&self) -> Vec<i32> {
        // SAFETY: sigpending fills the set; sigismember only reads it.
        unsafe {
            let mut p: libc::sigset_t = std::mem::zeroed();
            if libc::sigpending(&mut p) != 0 {
                return Vec::new();
            }
            self.masked
                .iter()
                .copied()
                .filter(|&n| libc::sigismember(&p, n) == 1)
                .collect()
        }
    }
}

/// Dies by `signo` with its default action, so the parent sees the real signal
/// (exit status 128+N in a shell). Returns only if that did not kill us.
pub fn reraise(signo: i32) {
    // SAFETY: resetting a disposition to the default and raising are plain syscalls;
    // no handler of ours runs afterwards.
    unsafe {
        libc::signal(signo, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signo);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(signo);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let catch = |s| parse_list(s, Use::Catch);
        assert_eq!(
            catch("USR1,SIGUSR2,10"),
            Ok(vec![libc::SIGUSR1, libc::SIGUSR2, 10])
        );
        assert_eq!(catch("rtmin+2"), Ok(vec![libc::SIGRTMIN() + 2]));
        assert_eq!(catch("RTMAX-1"), Ok(vec![libc::SIGRTMAX() - 1]));
        assert_eq!(name(libc::SIGRTMIN() + 3), "RTMIN+3");
        assert_eq!(name(libc::SIGUSR1), "USR1");
        for bad in [
            "KILL", "STOP", "9", "NOPE", "0", "99", "RTMIN+99", "RTMINX", "", "32", "33", "SEGV",
        ] {
            let e = catch(bad).expect_err(bad);
            assert!(e.starts_with("signal '"), "{e}");
        }
        assert_eq!(
            catch("32"),
            Err(format!(
                "signal '32': reserved by the C library; real-time signals start at RTMIN ({})",
                libc::SIGRTMIN()
            ))
        );
        assert_eq!(catch("KILL"), Err("signal 'KILL': cannot be caught".into()));
        // --mask: what cannot be blocked, and the C library's own.
        let block = |s| parse_list(s, Use::Block);
        assert_eq!(block("TERM,INT"), Ok(vec![libc::SIGTERM, libc::SIGINT]));
        assert_eq!(
            block("STOP"),
            Err("signal 'STOP': cannot be blocked".into())
        );
        assert_eq!(block("9"), Err("signal '9': cannot be blocked".into()));
        assert!(block("33").is_err());
    }
}
