//! Watch mode's sockets: a non-blocking connect's result, accepting (backing off when
//! descriptors run out: exhausted.rs), and urgent data shown or taken on PRI.

use nix::errno::Errno;

use super::Watch;
use super::slot::{Retry, Slot, Token};
use crate::describe;
use crate::error::{Error, Result};
use crate::event::{
    Accept, Connect, ConnectResult, ConnectTarget, FdError, Replaced, UrgentByte, UrgentData,
};
use crate::event_loop::EventLoop;
use crate::exhaust;
use crate::net::{self, Role};
use crate::open::Watched;
use crate::readiness::Conditions;
use crate::urgent::{self, Peeked};

/// recv(MSG_OOB) failed: nothing to say if the connection is over (ENOTCONN after a
/// reset: the byte went with it, and the read or the hang-up reports the end, once), a
/// system error otherwise (ENOMEM...): the urgent byte cannot be taken, and reading on
/// would destroy it.
pub(super) fn oob_failed(w: &Watched, e: Errno) -> Result<()> {
    if net::connection_lost(e) {
        return Ok(());
    }
    Err(Error::sys(
        format!("fd {} ({})", w.fd, w.desc.what),
        "recv(MSG_OOB)",
        e,
    ))
}

impl Watch<'_> {
    /// A non-blocking connect finished: report SO_ERROR, then watch the user's letters.
    pub(super) fn on_connected(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: Token,
        cond: Conditions,
    ) -> Result<()> {
        let done = cond.intersects(Conditions::WRITE | Conditions::ERROR | Conditions::HANGUP);
        let slot = &mut self.slots[t];
        let Some(fd) = slot.watched.borrow().filter(|_| done) else {
            return Ok(());
        };
        let error = net::connect_result(fd, cond, lp.caps().folds_hangup);
        slot.last.ever = true;
        let w = &slot.watched;
        self.closed.connect_failed |= error.is_some();
        lp.rep.emit(Connect {
            at: w.subject(),
            target: w
                .target
                .as_deref()
                .map(|(spec, addr)| ConnectTarget { target: spec, addr }),
            result: ConnectResult(error),
        })?;
        if error.is_some() {
            return self.remove(lp, t);
        }
        // Connected: now it has a peer to show, and only the user's letters matter.
        let desc = describe::describe(fd);
        let w = &mut self.slots[t].watched;
        w.desc = desc;
        w.role = Role::Stream;
        lp.backend.modify(w.raw, t.0, w.interest)
    }

    /// Accepts every pending connection on listener `t`; each joins the watch set
    /// with the listener's letters.
    pub(super) fn accept_all(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        let (listener, interest) = (self.slots[t].watched.fd, self.slots[t].watched.interest);
        loop {
            let Some(fd) = self.slots[t].watched.borrow() else {
                return Ok(());
            };
            let (sock, peer) = match net::accept(fd) {
                Ok(Some(a)) => a,
                Ok(None) => return self.rearm(lp, t),
                // Out of fds or memory: back off (see exhaust.rs), never spin.
                Err(e) if exhaust::is_exhaustion(e) => {
                    return self.exhausted(lp, t, "accept", e, Retry::Accept);
                }
                Err(e) => {
                    // Another failure: reported, and the listener re-checked at the
                    // bounded rate instead of spinning on it.
                    let w = &self.slots[t].watched;
                    lp.rep.emit(FdError {
                        at: w.subject().into(),
                        errno: e,
                        message: "accept failed",
                    })?;
                    return self.park(lp, t, Conditions::READ);
                }
            };
            if let Some(ep) = self.slots[t].exhausted {
                // Served again: the listener goes back into the wait.
                if !ep.armed() {
                    let w = &self.slots[t].watched;
                    lp.backend.add(w.raw, t.0, w.interest)?;
                }
                self.end_episode(lp, t)?;
            }
            let n = self
                .slots
                .insert(Watched::socket(sock, Role::Stream, interest));
            if let Err(e) = self.register(lp, n) {
                // select cannot take fds >= FD_SETSIZE: refuse this one, keep serving.
                let w = &self.slots[n].watched;
                let msg = e.to_string();
                lp.rep.emit(FdError {
                    at: w.subject().into(),
                    errno: Errno::EMFILE,
                    message: &msg,
                })?;
                self.slots.release(n);
                continue;
            }
            let w = &self.slots[n].watched;
            lp.rep.emit(Accept {
                at: w.subject(),
                listener,
                peer: &peer,
            })?;
        }
    }

    /// PRI on a socket: take the urgent byte now (to report it at its mark), or, when
    /// not consuming, show it with MSG_PEEK once, saying when a newer one replaced it.
    pub(super) fn on_pri(&mut self, lp: &mut EventLoop<'_>, t: Token, reading: bool) -> Result<()> {
        let oobinline = self.oobinline(t);
        let Slot {
            watched: w,
            urgent: u,
            intake,
            ..
        } = &mut self.slots[t];
        let Some(fd) = w.borrow() else {
            return Ok(());
        };
        let (byte, replaced, errno) = if reading {
            match u.take_early(fd, oobinline) {
                Ok(None) => return Ok(()),
                Ok(Some(errno)) => (None, None, Some(errno)),
                Err(e) => return oob_failed(w, e),
            }
        } else {
            match u.peek(fd) {
                Ok(Peeked::Quiet) => return Ok(()),
                Ok(Peeked::Byte { byte, replaced }) => (Some(byte), replaced, None),
                Ok(Peeked::None(errno)) => (None, None, Some(errno)),
                Err(e) => return oob_failed(w, e),
            }
        };
        // Nothing consumed: the mark's place is the queue before it.
        let before = if reading { 0 } else { urgent::before_mark(fd) };
        lp.rep.emit(UrgentData {
            at: w.subject(),
            byte: UrgentByte(byte),
            atmark: urgent::at_mark(fd),
            offset: intake.total + before,
            peek: byte.is_some(),
            inline: false,
            replaced: Replaced(replaced),
            errno,
        })
    }

    /// An urgent byte taken from the kernel whose mark reading never reached (the run
    /// or the fd ends first): reported now, with where its mark is, so that no byte
    /// fdwatch took is lost.
    pub(super) fn flush_urgent(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        while let Some(byte) = self.slots[t].urgent.leftover() {
            self.flush_leftover(lp, t, byte)?;
        }
        Ok(())
    }

    fn flush_leftover(&mut self, lp: &mut EventLoop<'_>, t: Token, byte: u8) -> Result<()> {
        self.flush_count(lp, t)?;
        let w = &self.slots[t].watched;
        let fd = w.borrow();
        lp.rep.emit(UrgentData {
            at: w.subject(),
            byte: UrgentByte(Some(byte)),
            atmark: fd.and_then(urgent::at_mark),
            offset: self.slots[t].intake.total + fd.map_or(0, urgent::before_mark),
            peek: false,
            inline: false,
            replaced: Replaced(None),
            errno: None,
        })
    }
}
