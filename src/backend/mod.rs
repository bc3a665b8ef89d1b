//! The kernel multiplexers behind one small interface (add, delete, wait), one file per family.
//!
//! pselect is select with a signal mask and ppoll is poll with one: variants, not copies.
//! Each backend file alone knows its kernel's flag names: it maps them to normalized
//! conditions and says how its raw result prints (`Raw`); `Caps` says what it can do.
//! poll's bits (poll, ppoll, io_uring's POLL_ADD) mean what `crate::probe` says, the
//! table every one-fd poll shares.
//! Backends hold raw fd numbers; the watch set keeps each fd open until after `delete`.

mod book;
mod epoll;
mod poll;
mod select;
mod uring;

pub use book::{BOOK_RUNS, Book};
/// What checks the fds epoll refuses.
pub use epoll::FALLBACK as EPOLL_FALLBACK;

use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::SigSet;

use crate::error::Result;
use crate::readiness::{Conditions, Fallback, Interest, Raw};

/// The multiplexers. A new backend is a file beside these and one arm in `info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    Select,
    Pselect,
    Poll,
    Ppoll,
    Epoll,
    Uring,
}

/// Whether the wait call takes a signal mask.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalMask {
    /// select, poll: signals go to a self-pipe in the watch set instead.
    No,
    /// pselect, ppoll: the call is the masked one.
    Always,
    /// epoll: epoll_pwait with a mask, epoll_wait without.
    Optional,
}

/// What a backend can do, so nothing above it matches on its kind.
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub mask: SignalMask,
    /// EPOLLET / EPOLLONESHOT registrations (`--edge`, `--oneshot`).
    pub modes: bool,
    /// How monitor mode registers edge-triggered, if it does (every new write one
    /// event; an unread fd cannot make the wait spin), in words for `-v`.
    pub monitor_edge: Option<&'static str>,
    /// Fds at or above this cannot be watched (select's FD_SETSIZE).
    pub fd_limit: Option<usize>,
    /// Hang-ups and errors show only as "readable"/"writable" (the select family).
    pub folds_hangup: bool,
    /// The book's program a run of this backend can stand for (`--format tlpi`).
    pub book: Option<Book>,
    /// What checks the fds this backend refuses, when one does (a `Raw` marked
    /// `fallback` was checked so).
    pub fallback: Option<Fallback>,
}

impl SignalMask {
    /// The mask of a call that has a masked variant (pselect, ppoll) or not.
    fn of(masked: bool) -> SignalMask {
        if masked {
            SignalMask::Always
        } else {
            SignalMask::No
        }
    }
}

/// One backend: its name, what it can do, how to make one.
struct Info {
    name: &'static str,
    caps: Caps,
    make: fn(Mode) -> Result<Box<dyn Backend>>,
}

impl BackendKind {
    fn info(self) -> Info {
        match self {
            BackendKind::Select => select::info(false),
            BackendKind::Pselect => select::info(true),
            BackendKind::Poll => poll::info(false),
            BackendKind::Ppoll => poll::info(true),
            BackendKind::Epoll => epoll::info(),
            BackendKind::Uring => uring::info(),
        }
    }

    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn caps(self) -> Caps {
        self.info().caps
    }

    /// The book's program a run in this mode stands for (None: the book has none).
    pub fn book(self, monitor: bool, reading: bool) -> Option<Book> {
        self.caps().book.filter(|b| b.fits(monitor, reading))
    }

    /// Whether the wait call itself can take a signal mask (race-free signal handling).
    pub fn takes_mask(self) -> bool {
        self.caps().mask != SignalMask::No
    }
}

/// epoll registration modes (`--edge`, `--oneshot`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Mode {
    pub edge: bool,
    pub oneshot: bool,
}

/// One ready fd from one wait. `token` is the caller's index for the fd.
#[derive(Clone, Copy, Debug)]
pub struct Readiness {
    pub token: usize,
    pub cond: Conditions,
    pub raw: Raw,
}

/// How an fd ended up registered, which decides how a monitor avoids spinning on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registered {
    /// Reported on every wait while ready (select, poll, epoll without flags).
    Level,
    /// EPOLLET: reported on each new edge, such as every write to a pipe.
    Edge,
    /// EPOLLONESHOT: reported once, then silent until re-armed with `modify`.
    OneShot,
    /// epoll refused the fd (EPERM: files, devices; EBADF: O_PATH); poll checks it
    /// instead, level-triggered.
    PollFallback(Errno),
}

pub trait Backend {
    /// The system call a wait makes, for `-v`.
    fn call(&self) -> &'static str;
    /// Watches `fd` for `interest`; readiness comes back tagged with `token`.
    fn add(&mut self, fd: RawFd, token: usize, interest: Interest) -> Result<Registered>;
    /// Stops watching `fd` (before the caller closes it).
    fn delete(&mut self, fd: RawFd) -> Result<()>;
    /// Stops watching `fd`, which the caller closes next and is the only descriptor
    /// of its open file (a socket it accepted or created): a backend whose kernel
    /// drops the registration with that close may skip the system call.
    fn delete_closing(&mut self, fd: RawFd) -> Result<()> {
        self.delete(fd)
    }
    /// Re-arms a registration (EPOLL_CTL_MOD: needed after an EPOLLONESHOT event).
    fn modify(&mut self, _fd: RawFd, _token: usize, _interest: Interest) -> Result<()> {
        Ok(())
    }
    /// One wait: `None` blocks. `mask` is the signal mask during the wait, for the
    /// backends whose call takes one. Appends to `out` and returns how many it added.
    fn wait(
        &mut self,
        timeout: Option<Duration>,
        mask: Option<&SigSet>,
        out: &mut Vec<Readiness>,
    ) -> nix::Result<usize>;
}

pub fn new(kind: BackendKind, mode: Mode) -> Result<Box<dyn Backend>> {
    let info = kind.info();
    let edge_ok = info.caps.modes || info.caps.monitor_edge.is_some();
    if mode.oneshot && !info.caps.modes || mode.edge && !edge_ok {
        user_modes(kind, mode.edge, mode.oneshot)?;
    }
    (info.make)(mode)
}

/// `--edge` and `--oneshot` are epoll's registration modes: a usage error elsewhere.
pub fn user_modes(kind: BackendKind, edge: bool, oneshot: bool) -> Result<()> {
    if !(edge || oneshot) || kind.caps().modes {
        return Ok(());
    }
    let flag = if edge { "--edge" } else { "--oneshot" };
    Err(crate::error::Error::Usage(format!(
        "{flag} is an epoll mode; it needs -b epoll (not -b {})",
        kind.name()
    )))
}

/// A borrow of a registered fd, for nix calls that take one.
fn registered(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: backends only hold fds the watch set registered, and the watch set
    // keeps each one open until after it has called `delete` for it.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// A wait in whole milliseconds, rounded up; -1 blocks (poll, epoll).
fn millis(timeout: Option<Duration>) -> i32 {
    timeout.map_or(-1, |d| {
        let ms = crate::timeout::ceil_to(d, Duration::from_millis(1));
        i32::try_from(ms).unwrap_or(i32::MAX)
    })
}
