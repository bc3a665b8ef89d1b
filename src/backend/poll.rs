//! poll(2) and ppoll(2) over one pollfd array kept alive between waits.
//!
//! Raw libc rather than nix's `PollFd`: nix's `PollFlags` has no POLLRDHUP, and its
//! `revents()` returns `None` whenever the kernel sets a bit it does not know. The bits'
//! meaning (asked, answered) is `probe`'s table, shared with every one-fd poll; the
//! names they print as are here.

use std::os::fd::RawFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::SigSet;
use nix::sys::time::TimeSpec;

use super::{Backend, Book, Caps, Info, Readiness, Registered, SignalMask, millis};
use crate::error::Result;
use crate::probe::{conditions, events};
use crate::readiness::{Interest, Raw, write_flags};

pub struct Poll {
    /// ppoll (takes a signal mask, ns timeout) rather than poll.
    masked: bool,
    /// Also used by the epoll backend for the fds epoll refuses.
    pub(super) fallback: bool,
    fds: Vec<libc::pollfd>,
    tokens: Vec<usize>,
}

/// poll (or, `masked`, ppoll).
pub(super) fn info(masked: bool) -> Info {
    Info {
        name: if masked { "ppoll" } else { "poll" },
        caps: Caps {
            mask: SignalMask::of(masked),
            modes: false,
            monitor_edge: None,
            fd_limit: None,
            folds_hangup: false,
            book: Some(Book::PollPipes),
            fallback: None,
        },
        make: if masked {
            |_| Ok(Box::new(Poll::new(true)))
        } else {
            |_| Ok(Box::new(Poll::new(false)))
        },
    }
}

impl Poll {
    pub fn new(masked: bool) -> Poll {
        Poll {
            masked,
            fallback: false,
            fds: Vec::new(),
            tokens: Vec::new(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    pub(super) fn contains(&self, fd: RawFd) -> bool {
        self.fds.iter().any(|p| p.fd == fd)
    }
}

const NAMES: [(u32, &str); 10] = [
    (libc::POLLIN as u32, "POLLIN"),
    (libc::POLLPRI as u32, "POLLPRI"),
    (libc::POLLOUT as u32, "POLLOUT"),
    (libc::POLLRDHUP as u32, "POLLRDHUP"),
    (libc::POLLERR as u32, "POLLERR"),
    (libc::POLLHUP as u32, "POLLHUP"),
    (libc::POLLNVAL as u32, "POLLNVAL"),
    (libc::POLLRDNORM as u32, "POLLRDNORM"),
    (libc::POLLRDBAND as u32, "POLLRDBAND"),
    (libc::POLLWRNORM as u32, "POLLWRNORM"),
];

/// revents as `POLLIN|POLLHUP`. RDNORM/WRNORM only show when the plain bit is absent,
/// to keep lines short.
pub(super) fn show(revents: u32, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let mut shown = revents;
    if revents & libc::POLLIN as u32 != 0 {
        shown &= !(libc::POLLRDNORM as u32);
    }
    if revents & libc::POLLOUT as u32 != 0 {
        shown &= !(libc::POLLWRNORM as u32);
    }
    write_flags(f, shown, &NAMES)
}

impl Backend for Poll {
    fn call(&self) -> &'static str {
        if self.masked { "ppoll" } else { "poll" }
    }

    fn add(&mut self, fd: RawFd, token: usize, interest: Interest) -> Result<Registered> {
        self.fds.push(libc::pollfd {
            fd,
            events: events(interest),
            revents: 0,
        });
        self.tokens.push(token);
        Ok(Registered::Level)
    }

    fn delete(&mut self, fd: RawFd) -> Result<()> {
        if let Some(i) = self.fds.iter().position(|p| p.fd == fd) {
            self.fds.remove(i);
            self.tokens.remove(i);
        }
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, _token: usize, interest: Interest) -> Result<()> {
        if let Some(p) = self.fds.iter_mut().find(|p| p.fd == fd) {
            p.events = events(interest);
        }
        Ok(())
    }

    fn wait(
        &mut self,
        timeout: Option<Duration>,
        mask: Option<&SigSet>,
        out: &mut Vec<Readiness>,
    ) -> nix::Result<usize> {
        let nfds = self.fds.len() as libc::nfds_t;
        let ptr = self.fds.as_mut_ptr();
        let n = if self.masked {
            let ts = timeout.map(TimeSpec::from);
            let ts_ptr = ts
                .as_ref()
                .map_or(std::ptr::null(), |t| t.as_ref() as *const _);
            let mask_ptr = mask.map_or(std::ptr::null(), |m| m.as_ref() as *const _);
            // SAFETY: `ptr` points to `nfds` initialized pollfds owned by self; the
            // timespec and sigset live until the call returns.
            unsafe { libc::ppoll(ptr, nfds, ts_ptr, mask_ptr) }
        } else {
            // SAFETY: as above; poll only writes the revents fields.
            unsafe { libc::poll(ptr, nfds, millis(timeout)) }
        };
        let mut left = usize::try_from(Errno::result(n)?).unwrap_or(0);
        let before = out.len();
        for (p, &token) in self.fds.iter().zip(&self.tokens) {
            if left == 0 {
                break;
            }
            if p.revents != 0 {
                left -= 1;
                out.push(Readiness {
                    token,
                    cond: conditions(p.revents),
                    raw: Raw::new(p.revents as u16 as u32, show).fallback(self.fallback),
                });
            }
        }
        Ok(out.len() - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text() {
        let r = |bits: i16| Raw::new(bits as u16 as u32, show).to_string();
        assert_eq!(
            r(libc::POLLIN | libc::POLLHUP | libc::POLLRDNORM),
            "POLLIN|POLLHUP"
        );
        assert_eq!(r(0x4000), "0x4000");
        assert_eq!(r(0), "0");
    }
}
