//! Standard output and error that never deafen fdwatch: writes never block in the
//! kernel. A pipe, FIFO or tty is written through a private non-blocking reopen of
//! /proc/self/fd/N (its own open file description: the caller's flags never change), a
//! socket with MSG_DONTWAIT. When the reader is slow (or the shared description is
//! non-blocking and says EAGAIN), fdwatch waits for room in ppoll with the caught
//! signals let in, so SIGINT and SIGTERM are heard whatever the reader does; once one
//! ended the run, a full output gets a short grace and then is given up.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{self, MsgFlags};
use nix::sys::stat::{Mode, SFlag, fstat};

use crate::readiness::Interest;

/// How long a full output may hold up the end of a run after SIGINT/SIGTERM/SIGHUP.
const GRACE: Duration = Duration::from_millis(500);

/// The error a write gives once a run-ending signal came and the output stayed full.
#[derive(Debug)]
pub struct Stopped(pub i32);

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ended by signal {} while the output was full", self.0)
    }
}

impl std::error::Error for Stopped {}

/// The run-ending signal an output error stands for, if it is one.
pub fn stopped_by(e: &io::Error) -> Option<i32> {
    e.get_ref()?.downcast_ref::<Stopped>().map(|s| s.0)
}

#[derive(Debug)]
enum How {
    /// A private non-blocking reopen.
    Private(OwnedFd),
    /// A socket: send with MSG_DONTWAIT.
    Socket,
    /// Files and devices (they do not block), or what could not be reopened.
    Direct,
}

#[derive(Debug)]
pub struct Outlet {
    /// `stdout` or `stderr`, for messages.
    pub name: &'static str,
    fd: RawFd,
    how: How,
    /// A terminal (colour and the width are asked of it).
    terminal: bool,
    /// When a run-ending signal was first seen while waiting: the grace ends then.
    give_up_at: Option<Instant>,
    /// A write failed for good (ENOSPC, EPIPE): the run ends on that error, and what is
    /// still buffered is dropped rather than written at exit after all.
    broken: bool,
}

impl Outlet {
    // By number: std's own stdout handle would make its buffer, unused here.
    pub fn stdout() -> Outlet {
        Outlet::open(nix::libc::STDOUT_FILENO, "stdout")
    }

    pub fn stderr() -> Outlet {
        Outlet::open(nix::libc::STDERR_FILENO, "stderr")
    }

    fn open(fd: RawFd, name: &'static str) -> Outlet {
        let kind =
            fstat(borrow(fd)).map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT);
        let terminal =
            kind == Ok(SFlag::S_IFCHR) && nix::unistd::isatty(borrow(fd)).unwrap_or(false);
        let how = match kind {
            Ok(SFlag::S_IFSOCK) => How::Socket,
            // Writing a pipe, FIFO or terminal could block (other character devices,
            // /dev/null say, never do).
            Ok(SFlag::S_IFIFO) => reopen(fd).map_or(How::Direct, How::Private),
            _ if terminal => reopen(fd).map_or(How::Direct, How::Private),
            _ => How::Direct,
        };
        Outlet {
            name,
            fd,
            how,
            terminal,
            give_up_at: None,
            broken: false,
        }
    }

    /// Whether this is a terminal.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// The fd writes go to (for splice).
    pub fn raw(&self) -> RawFd {
        match &self.how {
            How::Private(o) => o.as_raw_fd(),
            _ => self.fd,
        }
    }

    /// Whether the output can take bytes now (or is broken: the next write says how).
    pub fn has_room(&self) -> bool {
        crate::probe::now(borrow(self.raw()), Interest::WRITE).is_ok_and(|c| !c.is_empty())
    }

    /// Waits until the output can take more, signals served (see the module comment).
    pub fn wait(&mut self) -> io::Result<()> {
        let fd = borrow(self.raw());
        loop {
            let timeout = match crate::signals::ended_by() {
                None => None,
                Some(sig) => {
                    let at = *self
                        .give_up_at
                        .get_or_insert_with(|| Instant::now() + GRACE);
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        // Not ErrorKind::Interrupted: write_all would retry that forever.
                        return Err(io::Error::other(Stopped(sig)));
                    }
                    Some(left)
                }
            };
            match crate::signals::wait_writable(fd, timeout) {
                Ok(true) => return Ok(()),
                // The grace passed (the next turn says so), or a signal came.
                Ok(false) | Err(Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl io::Write for Outlet {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.broken {
            return Ok(buf.len());
        }
        loop {
            let r = match &self.how {
                How::Socket => socket::send(
                    self.fd,
                    buf,
                    MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                ),
                _ => nix::unistd::write(borrow(self.raw()), buf),
            };
            match r {
                Ok(n) => return Ok(n),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => {
                    if let Err(e) = self.wait() {
                        self.broken = true;
                        return Err(e);
                    }
                }
                Err(e) => {
                    self.broken = true;
                    return Err(e.into());
                }
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A private non-blocking write end of what `fd` refers to.
fn reopen(fd: RawFd) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    nix::fcntl::open(format!("/proc/self/fd/{fd}").as_str(), flags, Mode::empty())
}

fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: fds 1 and 2 stay open for the whole process (fdwatch never closes
    // them), and a private reopen lives as long as its Outlet.
    unsafe { BorrowedFd::borrow_raw(fd) }
}
