//! epoll(7): one epoll instance and a reused event buffer; poll checks what epoll refuses.

use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::sys::epoll::{self as ep, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::SigSet;

use super::poll::Poll;
use super::{
    Backend, Book, Caps, Info, Mode, Readiness, Registered, SignalMask, millis, registered,
};
use crate::error::{Error, Result};
use crate::readiness::Interest;
use crate::readiness::{Conditions, Fallback, Raw, write_flags};

pub struct Epoll {
    ep: ep::Epoll,
    /// EPOLLET / EPOLLONESHOT bits added to every registration.
    mode: EpollFlags,
    /// The event buffer, sized to the registrations and reused between waits.
    events: Vec<EpollEvent>,
    registered: usize,
    /// Regular files, devices (EPERM) and O_PATH fds (EBADF): epoll_ctl refuses them,
    /// so poll, which reports them as the kernel sees them, checks them instead.
    fallback: Poll,
}

/// What checks the fds epoll refuses (`Caps::fallback`).
pub const FALLBACK: Fallback = Fallback {
    by: "poll",
    why: "epoll refuses this fd",
};

/// epoll: epoll_pwait when given a signal mask, EPOLLET and EPOLLONESHOT on request.
pub(super) fn info() -> Info {
    Info {
        name: "epoll",
        caps: Caps {
            mask: SignalMask::Optional,
            modes: true,
            monitor_edge: Some("each fd with EPOLLET (edge-triggered)"),
            fd_limit: None,
            folds_hangup: false,
            book: Some(Book::EpollInput),
            fallback: Some(FALLBACK),
        },
        make: |mode| Ok(Box::new(Epoll::new(mode)?)),
    }
}

impl Epoll {
    pub fn new(mode: Mode) -> Result<Epoll> {
        let ep = ep::Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
            .map_err(|e| Error::sys("epoll", "epoll_create1", e))?;
        let mut flags = EpollFlags::empty();
        flags.set(EpollFlags::EPOLLET, mode.edge);
        flags.set(EpollFlags::EPOLLONESHOT, mode.oneshot);
        let mut fallback = Poll::new(false);
        fallback.fallback = true;
        Ok(Epoll {
            ep,
            mode: flags,
            events: vec![EpollEvent::empty(); 1],
            registered: 0,
            fallback,
        })
    }
}

/// The events to register. RDHUP rides along with read: the kernel sets it only when asked.
fn flags(i: Interest) -> EpollFlags {
    let mut f = EpollFlags::empty();
    f.set(EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP, i.read);
    f.set(EpollFlags::EPOLLOUT, i.write);
    f.set(EpollFlags::EPOLLPRI, i.urgent);
    f
}

const NAMES: [(u32, &str); 6] = [
    (libc::EPOLLIN as u32, "EPOLLIN"),
    (libc::EPOLLPRI as u32, "EPOLLPRI"),
    (libc::EPOLLOUT as u32, "EPOLLOUT"),
    (libc::EPOLLRDHUP as u32, "EPOLLRDHUP"),
    (libc::EPOLLERR as u32, "EPOLLERR"),
    (libc::EPOLLHUP as u32, "EPOLLHUP"),
];

/// Events as epoll_wait returned them (never the registration's EPOLLET/EPOLLONESHOT:
/// those say how fdwatch asked, not what the kernel said).
fn show(events: u32, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    write_flags(f, events, &NAMES)
}

/// Returned events in normalized words (epoll has no NVAL: it refuses such fds at add).
fn conditions(events: u32) -> Conditions {
    let on = |bits: i32| events & bits as u32 != 0;
    let mut c = Conditions::empty();
    c.set_if(on(libc::EPOLLIN | libc::EPOLLRDNORM), Conditions::READ);
    c.set_if(on(libc::EPOLLOUT | libc::EPOLLWRNORM), Conditions::WRITE);
    c.set_if(on(libc::EPOLLPRI), Conditions::URGENT);
    c.set_if(on(libc::EPOLLHUP), Conditions::HANGUP);
    c.set_if(on(libc::EPOLLRDHUP), Conditions::RDHUP);
    c.set_if(on(libc::EPOLLERR), Conditions::ERROR);
    c
}

/// epoll_input's words for a ready fd's events: it tests EPOLLIN, EPOLLHUP and EPOLLERR,
/// each printed with a space after it.
pub(super) fn book_events(cond: Conditions) -> String {
    let mut words = String::new();
    for (c, w) in [
        (Conditions::READ, "EPOLLIN "),
        (Conditions::HANGUP, "EPOLLHUP "),
        (Conditions::ERROR, "EPOLLERR "),
    ] {
        if cond.contains(c) {
            words.push_str(w);
        }
    }
    words
}

impl Backend for Epoll {
    fn call(&self) -> &'static str {
        "epoll_wait"
    }

    fn add(&mut self, fd: RawFd, token: usize, interest: Interest) -> Result<Registered> {
        let ev = EpollEvent::new(flags(interest) | self.mode, token as u64);
        match self.ep.add(registered(fd), ev) {
            Ok(()) => {
                self.registered += 1;
                self.events.resize(self.registered, EpollEvent::empty());
                Ok(if self.mode.contains(EpollFlags::EPOLLONESHOT) {
                    Registered::OneShot
                } else if self.mode.contains(EpollFlags::EPOLLET) {
                    Registered::Edge
                } else {
                    Registered::Level
                })
            }
            Err(e @ (Errno::EPERM | Errno::EBADF)) => {
                self.fallback.add(fd, token, interest)?;
                Ok(Registered::PollFallback(e))
            }
            Err(e) => Err(Error::sys(format!("fd {fd}"), "epoll_ctl(ADD)", e)),
        }
    }

    fn delete(&mut self, fd: RawFd) -> Result<()> {
        if self.fallback.contains(fd) {
            return self.fallback.delete(fd);
        }
        self.ep
            .delete(registered(fd))
            .map_err(|e| Error::sys(format!("fd {fd}"), "epoll_ctl(DEL)", e))?;
        self.registered = self.registered.saturating_sub(1);
        Ok(())
    }

    fn delete_closing(&mut self, fd: RawFd) -> Result<()> {
        if self.fallback.contains(fd) {
            return self.fallback.delete(fd);
        }
        // The last close of an open file removes it from every epoll set (epoll(7)):
        // no epoll_ctl(DEL), one system call less per socket.
        self.registered = self.registered.saturating_sub(1);
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, token: usize, interest: Interest) -> Result<()> {
        if self.fallback.contains(fd) {
            return Ok(());
        }
        let mut ev = EpollEvent::new(flags(interest) | self.mode, token as u64);
        self.ep
            .modify(registered(fd), &mut ev)
            .map_err(|e| Error::sys(format!("fd {fd}"), "epoll_ctl(MOD)", e))
    }

    fn wait(
        &mut self,
        mut timeout: Option<Duration>,
        mask: Option<&SigSet>,
        out: &mut Vec<Readiness>,
    ) -> nix::Result<usize> {
        let before = out.len();
        // Refused fds are files and devices, ready at once or never: one zero-timeout
        // poll decides, and if any is ready the epoll wait must not block either.
        if !self.fallback.is_empty() && self.fallback.wait(Some(Duration::ZERO), None, out)? > 0 {
            timeout = Some(Duration::ZERO);
        }
        let n = match mask {
            None => {
                let t = EpollTimeout::try_from(millis(timeout)).unwrap_or(EpollTimeout::NONE);
                self.ep.wait(&mut self.events, t)?
            }
            Some(m) => {
                // SAFETY: nix has no epoll_pwait. The buffer holds `len` EpollEvents, which
                // are repr(transparent) over libc::epoll_event; the mask outlives the call.
                let r = unsafe {
                    libc::epoll_pwait(
                        self.ep.0.as_raw_fd(),
                        self.events.as_mut_ptr().cast(),
                        self.events.len() as i32,
                        millis(timeout),
                        m.as_ref(),
                    )
                };
                Errno::result(r)? as usize
            }
        };
        for ev in &self.events[..n] {
            let events = ev.events().bits() as u32;
            out.push(Readiness {
                token: ev.data() as usize,
                cond: conditions(events),
                raw: Raw::new(events, show),
            });
        }
        Ok(out.len() - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_table() {
        let table: &[(i32, &str)] = &[
            (libc::EPOLLIN, "read"),
            (libc::EPOLLOUT, "write"),
            (libc::EPOLLPRI | libc::EPOLLIN, "read urgent"),
            (libc::EPOLLHUP, "hangup"),
            (libc::EPOLLIN | libc::EPOLLRDHUP, "read rdhup"),
            (libc::EPOLLOUT | libc::EPOLLERR, "write error"),
        ];
        for (bits, words) in table {
            assert_eq!(conditions(*bits as u32).to_string(), *words, "{bits:#x}");
        }
    }

    #[test]
    fn raw_text_has_no_registration_bits() {
        let r = Raw::new((libc::EPOLLIN | libc::EPOLLRDHUP) as u32, show);
        assert_eq!(r.to_string(), "EPOLLIN|EPOLLRDHUP");
    }

    #[test]
    fn registration_flags() {
        let r = flags(Interest::READ);
        assert_eq!(r, EpollFlags::EPOLLIN | EpollFlags::EPOLLRDHUP);
    }
}
