//! io_uring's poll never completes for POLLPRI alone on a TCP socket (measured on Linux
//! 6.18: the urgent byte arrives, poll(2) says POLLPRI, the request stays pending; with
//! POLLIN beside it, it completes). So the fds asked for urgent data alone wait in an
//! epoll instance of the backend's, and the ring polls that for readability.

use std::os::fd::{AsRawFd, RawFd};

use io_uring::{opcode, types};
use nix::libc;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};

use super::Uring;
use crate::backend::{Readiness, registered};
use crate::error::{Error, Result};
use crate::readiness::Raw;

/// The fds asked for urgent data alone, in an epoll instance the ring polls (see the
/// module comment); made at the first of them.
pub(super) struct PriOnly {
    epoll: Epoll,
    /// The user data of the ring's poll of it now; a request is in flight.
    id: u64,
    armed: bool,
    members: usize,
}

impl PriOnly {
    /// `fd` goes (deleted from the epoll instance; the ring's poll of it stays).
    pub(super) fn leave(&mut self, fd: RawFd) {
        let _ = self.epoll.delete(registered(fd));
        self.members -= 1;
    }

    /// Whether `id` is the ring's poll of the epoll instance in flight.
    pub(super) fn is_request(&self, id: u64) -> bool {
        self.armed && self.id == id
    }
}

impl Uring {
    /// `fd`, asked for urgent data alone, into the PriOnly epoll instance (made now if
    /// it is the first): edge-triggered in monitor mode, level-triggered otherwise.
    pub(super) fn arm_pri_only(&mut self, fd: RawFd) -> Result<()> {
        let sys = |call, e| Error::sys("uring", call, e);
        if self.pri_only.is_none() {
            let epoll =
                Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| sys("epoll_create1", e))?;
            self.pri_only = Some(PriOnly {
                epoll,
                id: 0,
                armed: false,
                members: 0,
            });
        }
        let (Some(pri), Some(reg)) = (self.pri_only.as_mut(), self.regs.get_mut(&fd)) else {
            return Ok(());
        };
        let mut flags = EpollFlags::EPOLLPRI;
        if self.multishot && !reg.level {
            flags |= EpollFlags::EPOLLET;
        }
        let ev = EpollEvent::new(flags, fd as u64);
        if reg.via_epoll {
            pri.epoll
                .modify(registered(fd), &mut { ev })
                .map_err(|e| sys("epoll_ctl", e))?;
        } else {
            pri.epoll
                .add(registered(fd), ev)
                .map_err(|e| sys("epoll_ctl", e))?;
            pri.members += 1;
            reg.via_epoll = true;
        }
        self.arm_epoll()
    }

    /// The ring's poll of the PriOnly epoll instance, when it has members and none is
    /// in flight.
    pub(super) fn arm_epoll(&mut self) -> Result<()> {
        let Some(pri) = self.pri_only.as_mut().filter(|p| p.members > 0 && !p.armed) else {
            return Ok(());
        };
        self.next_id += 1;
        pri.id = self.next_id;
        pri.armed = true;
        let entry = opcode::PollAdd::new(types::Fd(pri.epoll.0.as_raw_fd()), libc::POLLIN as u32)
            .build()
            .user_data(pri.id);
        self.push(&entry)
    }

    /// The PriOnly epoll instance is readable: its ready members as readiness.
    pub(super) fn complete_epoll(&mut self, out: &mut Vec<Readiness>) {
        let Some(pri) = self.pri_only.as_mut() else {
            return;
        };
        pri.armed = false;
        let mut events = [EpollEvent::empty(); 64];
        let n = pri.epoll.wait(&mut events, 0u8).unwrap_or(0);
        for ev in &events[..n] {
            let fd = ev.data() as RawFd;
            let Some(reg) = self.regs.get(&fd) else {
                continue;
            };
            // The epoll mask's bits are poll's (EPOLLPRI == POLLPRI...).
            let mask = ev.events().bits() as u32;
            let cond = crate::probe::conditions(mask as u16 as i16);
            self.merge(
                reg.token,
                cond,
                Raw::new(mask, crate::backend::poll::show),
                out,
            );
        }
    }
}
