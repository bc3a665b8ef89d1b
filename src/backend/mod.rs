//! The kernel multiplexers behind one small interface (add, delete, wait), one file per family.
//!
//! pselect is select with a signal mask and ppoll is poll with one: variants, not copies.
//! Backends hold raw fd numbers; the watch set keeps each fd open until after `delete`.

mod epoll;
mod poll;
mod select;

/// poll(2)'s flag mapping, for one-off checks outside a backend (`fdwatch pid:PID`).
pub use poll::{conditions as poll_conditions, events as poll_events};

use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::SigSet;

use crate::error::Result;
use crate::readiness::{Conditions, Raw};
use crate::spec::Interest;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    Select,
    Pselect,
    Poll,
    Ppoll,
    Epoll,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Select => "select",
            BackendKind::Pselect => "pselect",
            BackendKind::Poll => "poll",
            BackendKind::Ppoll => "ppoll",
            BackendKind::Epoll => "epoll",
        }
    }

    /// Whether the wait call itself takes a signal mask (race-free signal handling).
    pub fn takes_mask(self) -> bool {
        matches!(
            self,
            BackendKind::Pselect | BackendKind::Ppoll | BackendKind::Epoll
        )
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
    if (mode.edge || mode.oneshot) && kind != BackendKind::Epoll {
        let flag = if mode.edge { "--edge" } else { "--oneshot" };
        return Err(crate::error::Error::Usage(format!(
            "{flag} is an epoll mode; it needs -b epoll (not -b {})",
            kind.name()
        )));
    }
    Ok(match kind {
        BackendKind::Select => Box::new(select::Select::new(false)),
        BackendKind::Pselect => Box::new(select::Select::new(true)),
        BackendKind::Poll => Box::new(poll::Poll::new(false)),
        BackendKind::Ppoll => Box::new(poll::Poll::new(true)),
        BackendKind::Epoll => Box::new(epoll::Epoll::new(mode)?),
    })
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
