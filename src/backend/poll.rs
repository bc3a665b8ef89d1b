//! poll(2) and ppoll(2) over one pollfd array kept alive between waits.
//!
//! Raw libc rather than nix's `PollFd`: nix's `PollFlags` has no POLLRDHUP, and its
//! `revents()` returns `None` whenever the kernel sets a bit it does not know.

use std::os::fd::RawFd;
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::SigSet;
use nix::sys::time::TimeSpec;

use super::{Backend, Book, Caps, Info, Readiness, Registered, SignalMask, millis};
use crate::error::Result;
use crate::readiness::Interest;
use crate::readiness::{Conditions, Raw, write_flags};

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

/// The events to ask for. RDHUP rides along with read: the kernel sets it only when asked.
pub fn events(i: Interest) -> i16 {
    let mut e = 0;
    if i.read {
        e |= libc::POLLIN | libc::POLLRDHUP;
    }
    if i.write {
        e |= libc::POLLOUT;
    }
    if i.urgent {
        e |= libc::POLLPRI;
    }
    e
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

/// What a pollfd's `events` asks for (another process's, for `fdwatch pid:PID`).
pub fn interest(events: i16) -> Interest {
    Interest {
        read: events & (libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND) != 0,
        write: events & (libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND) != 0,
        urgent: events & libc::POLLPRI != 0,
    }
}

/// revents in normalized words.
pub fn conditions(revents: i16) -> Conditions {
    let on = |bits: i16| revents & bits != 0;
    let mut c = Conditions::empty();
    c.set_if(
        on(libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND),
        Conditions::READ,
    );
    c.set_if(
        on(libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND),
        Conditions::WRITE,
    );
    c.set_if(on(libc::POLLPRI), Conditions::URGENT);
    c.set_if(on(libc::POLLHUP), Conditions::HANGUP);
    c.set_if(on(libc::POLLRDHUP), Conditions::RDHUP);
    c.set_if(on(libc::POLLERR), Conditions::ERROR);
    c.set_if(on(libc::POLLNVAL), Conditions::INVALID);
    c
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
    fn mapping_table() {
        let table: &[(i16, &str)] = &[
            (libc::POLLIN, "read"),
            (libc::POLLOUT, "write"),
            (libc::POLLPRI, "urgent"),
            (libc::POLLIN | libc::POLLPRI, "read urgent"),
            (libc::POLLHUP, "hangup"),
            (libc::POLLOUT | libc::POLLERR, "write error"),
            (libc::POLLIN | libc::POLLRDHUP, "read rdhup"),
            (libc::POLLNVAL, "invalid"),
            (
                libc::POLLIN | libc::POLLOUT | libc::POLLERR | libc::POLLHUP,
                "read write hangup error",
            ),
        ];
        for (bits, words) in table {
            assert_eq!(conditions(*bits).to_string(), *words, "{bits:#x}");
        }
    }

    #[test]
    fn raw_text() {
        let r = |bits: i16| Raw::new(bits as u16 as u32, show).to_string();
        assert_eq!(
            r(libc::POLLIN | libc::POLLHUP | libc::POLLRDNORM),
            "POLLIN|POLLHUP"
        );
        assert_eq!(r(0x4000), "0x4000");
        assert_eq!(r(0), "0");
        assert_eq!(interest(libc::POLLIN | libc::POLLPRI), Interest::SOCKET);
    }

    #[test]
    fn requested_events() {
        let rw = Interest {
            read: true,
            write: true,
            urgent: false,
        };
        assert_eq!(events(rw), libc::POLLIN | libc::POLLRDHUP | libc::POLLOUT);
        let e = Interest {
            read: false,
            write: false,
            urgent: true,
        };
        assert_eq!(events(e), libc::POLLPRI);
    }
}
