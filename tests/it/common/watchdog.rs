//! A guard against hangs: a child killed when it outlives its time or its test.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::Child;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::pipe;

/// Kills a child with SIGKILL if it outlives `limit`, or if it still runs when the test
/// panics (the guard drops while unwinding). A guard against hangs only: nothing waits on
/// it to synchronize. The signal goes through a pidfd, a handle to that exact process, so
/// a reaped child's reused pid is never signalled.
pub struct Watchdog {
    /// None when the process had already ended (nothing to guard).
    pidfd: Option<Arc<Pidfd>>,
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
        let Some(pidfd) = Pidfd::open(pid) else {
            // Gone (and reaped by its parent) before the guard was set: a quick end.
            return Watchdog {
                pidfd: None,
                disarm: None,
                thread: None,
            };
        };
        let pidfd = Arc::new(pidfd);
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
                            let _ = pidfd.try_signal(libc::SIGKILL);
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
        if let Some(pidfd) = &self.pidfd {
            pidfd.signal(sig);
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let (true, Some(pidfd)) = (thread::panicking(), &self.pidfd) {
            // Already unwinding: a failure here must not panic again.
            let _ = pidfd.try_signal(libc::SIGKILL);
        }
        drop(self.disarm.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A handle on one process (pidfd_open(2)): a process signalled through it is that
/// process, never another that reused its pid after it was reaped.
pub struct Pidfd(OwnedFd);

impl Pidfd {
    /// None when the process has already ended and been reaped (ESRCH).
    pub fn open(pid: u32) -> Option<Pidfd> {
        let pid = libc::pid_t::try_from(pid).expect("pid");
        // SAFETY: pidfd_open(pid, 0) returns a new close-on-exec fd or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if raw < 0 && Errno::last() == Errno::ESRCH {
            return None;
        }
        assert!(raw >= 0, "pidfd_open({pid}): {}", Errno::last());
        // SAFETY: a fresh fd that nothing else owns.
        Some(Pidfd(unsafe {
            OwnedFd::from_raw_fd(RawFd::try_from(raw).expect("fd"))
        }))
    }

    /// Sends `sig`; false once the process has ended (ESRCH).
    pub fn signal(&self, sig: libc::c_int) -> bool {
        match self.try_signal(sig) {
            Ok(()) => true,
            Err(Errno::ESRCH) => false,
            Err(e) => panic!("pidfd_send_signal({sig}): {e}"),
        }
    }

    /// Sends `sig`, saying why not (ESRCH: the process has ended).
    fn try_signal(&self, sig: libc::c_int) -> Result<(), Errno> {
        // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r == 0 { Ok(()) } else { Err(Errno::last()) }
    }

    /// Whether the process has ended, waiting up to `wait` for it (readable when it
    /// ends).
    pub fn ended_within(&self, wait: Duration) -> bool {
        let mut fds = [PollFd::new(self.0.as_fd(), PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(wait).expect("a short wait");
        match nix::poll::poll(&mut fds, ms) {
            Ok(n) => n > 0,
            Err(Errno::EINTR) => false,
            Err(e) => panic!("poll on a pidfd: {e}"),
        }
    }

    /// A duplicate of the process's fd `fd` (pidfd_getfd(2)): the same open file
    /// description, close-on-exec here.
    pub fn dup_fd(&self, fd: RawFd) -> OwnedFd {
        // SAFETY: pidfd_getfd returns a new fd or -1.
        let dup = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.0.as_raw_fd(), fd, 0) };
        assert!(dup >= 0, "pidfd_getfd({fd}): {}", Errno::last());
        // SAFETY: a fresh fd that nothing else owns.
        unsafe { OwnedFd::from_raw_fd(RawFd::try_from(dup).expect("fd")) }
    }
}

impl AsFd for Pidfd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
