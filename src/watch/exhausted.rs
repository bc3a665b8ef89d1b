//! Watch mode's side of running out (the mechanism is exhaust.rs's, shared with the
//! relay). Every descriptor watch mode makes while running can run out:
//!
//! - a listener's accept: the clients waiting are refused (the reserve descriptor)
//!   and the listener leaves the wait until the back-off ends or a descriptor is freed;
//! - a FIFO's reopen after its writers left: the old read end stays open (a writer can
//!   still open the FIFO) but leaves the wait (its hang-up would spin it). At each
//!   retry, a writer that came meanwhile puts it back as it is (a FIFO's hang-up clears
//!   when a writer opens it), so a new writer is served even while no descriptor can be had;
//! - the private reopen an inherited pipe, FIFO or tty is read through: the fd leaves
//!   the wait, and the retry puts it back so its next readiness asks again;
//! - a write-side FIFO's open while it waits for a reader (retried every --interval
//!   anyway), and --peek's pipe (FIONREAD tells the count meanwhile): nothing leaves
//!   the wait, the episode is only reported.
//!
//! Each episode is one `exhausted` event when it starts and one when it ends.

use std::os::fd::RawFd;
use std::time::Instant;

use nix::errno::Errno;

use super::Watch;
use super::slot::{Retry, Token};
use crate::error::{Error, Result};
use crate::event::Exhausted;
use crate::event_loop::EventLoop;
use crate::exhaust::{self, Episode, Failed, Reserve};
use crate::net::Role;
use crate::probe;
use crate::reader::Source;
use crate::readiness::{Conditions, Interest};

/// The fds in an episode, and the episodes of no one fd.
pub(super) struct Exhaustion {
    /// Tokens of the fds in an episode (few; retried when their back-off ends).
    pub in_episode: Vec<Token>,
    /// The spare descriptor that lets a listener refuse clients when fds run out.
    pub reserve: Option<Reserve>,
    /// Opening a write-side FIFO that waits for a reader ran out: the FIFO it began
    /// on, and the episode.
    pub pending: Option<(String, Episode)>,
    /// --peek's pipe could not be made: the fd it began on (number, what), and the
    /// episode.
    pub peek: Option<(RawFd, String, Episode)>,
}

impl Exhaustion {
    pub fn new(reserve: Option<Reserve>) -> Exhaustion {
        Exhaustion {
            in_episode: Vec::new(),
            reserve,
            pending: None,
            peek: None,
        }
    }
}

impl Watch<'_> {
    /// `call` ran out of a resource for fd `t`: refuse the clients waiting on a
    /// listener (the reserve descriptor), take the fd out of every wait, and `retry`
    /// after the back-off or once a descriptor is freed.
    pub(super) fn exhausted(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: Token,
        call: &'static str,
        errno: Errno,
        retry: Retry,
    ) -> Result<()> {
        let failed = Episode::fail(&mut self.slots[t].exhausted, call, errno, Instant::now());
        self.slots[t].retry = retry;
        if failed == Failed::Began {
            self.exhaustion.in_episode.push(t);
        }
        if failed != Failed::Again {
            // Out of the waits: readiness it cannot act on would only spin the loop.
            // (leave_waits takes an fd with an episode to be out of the main wait
            // already; it is not yet, so the episode is set aside meanwhile.)
            let raw = self.slots[t].watched.raw;
            let ep = self.slots[t].exhausted.take();
            self.leave_waits(lp, t, raw)?;
            self.slots[t].exhausted = ep;
        }
        let w = &self.slots[t].watched;
        let refused = match (w.borrow(), self.exhaustion.reserve.as_mut()) {
            (Some(fd), Some(r)) if w.role == Role::Listener => r.refuse_pending(fd),
            _ => 0,
        };
        if let Some(ep) = self.slots[t].exhausted.as_mut() {
            ep.refused += refused;
        }
        // Once those waiting are refused: a client that comes after the start event
        // is one the retry decides about.
        if failed == Failed::Began {
            self.report(lp, t, Episode::start_event)?;
        }
        Ok(())
    }

    /// A try in an episode found nothing to do (no client waiting), or the back-off
    /// of a `Retry::Rearm` fd ended: back into the wait, where its next readiness
    /// decides whether the episode is over.
    pub(super) fn rearm(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        let Some(ep) = self.slots[t].exhausted.as_mut().filter(|ep| !ep.armed()) else {
            return Ok(());
        };
        ep.rearm();
        let w = &self.slots[t].watched;
        lp.backend.add(w.raw, t.0, w.interest)?;
        Ok(())
    }

    /// Fd `t`'s episode is over (or the run is): its end event.
    pub(super) fn end_episode(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        self.report(lp, t, Episode::end_event)?;
        if self.slots[t].exhausted.take().is_some() {
            self.exhaustion.in_episode.retain(|&x| x != t);
        }
        Ok(())
    }

    /// Fd `t`'s episode's start or end (`event`), if it is in one.
    fn report(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: Token,
        event: for<'a> fn(&Episode, Option<RawFd>, &'a str) -> Exhausted<'a>,
    ) -> Result<()> {
        let Some(ep) = &self.slots[t].exhausted else {
            return Ok(());
        };
        let w = &self.slots[t].watched;
        lp.rep.emit(event(ep, Some(w.fd), &w.desc.what))
    }

    /// A descriptor is about to be freed: what ran out may be had now.
    pub(super) fn descriptor_freed(&mut self) {
        let now = Instant::now();
        for &x in &self.exhaustion.in_episode {
            if let Some(ep) = self.slots[x].exhausted.as_mut() {
                ep.freed(now);
            }
        }
    }

    /// Tries again what ran out, for the fds whose back-off is over.
    pub(super) fn retry_exhausted(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        let now = Instant::now();
        let due: Vec<Token> = self
            .exhaustion
            .in_episode
            .iter()
            .copied()
            .filter(|&t| self.slots[t].exhausted.is_some_and(|ep| ep.due(now)))
            .collect();
        for t in due {
            match self.slots[t].retry {
                Retry::Accept => self.accept_all(lp, t)?,
                Retry::Reopen => self.reopen(lp, t)?,
                Retry::Rearm => self.rearm(lp, t)?,
            }
        }
        Ok(())
    }

    /// A FIFO in a reopen episode whose old read end has a writer again: no longer
    /// hung up, it serves as it is (back into the wait) and the episode is over. True
    /// when so.
    pub(super) fn writer_came(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<bool> {
        let w = &self.slots[t].watched;
        let Some(fd) = w.borrow().filter(|_| self.slots[t].exhausted.is_some()) else {
            return Ok(false);
        };
        let writer = probe::now(fd, Interest::READ).is_ok_and(|c| !c.contains(Conditions::HANGUP));
        if !writer {
            return Ok(false);
        }
        let reg = lp.backend.add(w.raw, t.0, w.interest)?;
        let slot = &mut self.slots[t];
        slot.reg = Some(reg);
        slot.last.cond = slot.last.cond.without(Conditions::HANGUP);
        self.end_episode(lp, t)?;
        Ok(true)
    }

    /// --read's source for fd `t` (a private reopen for an inherited pipe, FIFO or
    /// tty), made at its first readiness. False when that ran out: fd `t` is then in
    /// an episode, out of the wait.
    pub(super) fn source(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<bool> {
        let w = &self.slots[t].watched;
        let Some(fd) = w.borrow() else {
            return Ok(false);
        };
        if self.slots[t].intake.source.is_some() {
            return Ok(true);
        }
        match Source::for_watched(w, fd) {
            Ok(s) => {
                self.slots[t].intake.source = Some(s);
                self.end_episode(lp, t)?;
                Ok(true)
            }
            Err(Error::Sys { errno, call, .. }) if exhaust::is_exhaustion(errno) => {
                self.exhausted(lp, t, call, errno, Retry::Rearm)?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// After the write-side FIFOs waiting for a reader were tried: an open that ran
    /// out (`ran_out`: the FIFO, the errno) starts the episode; one that got a
    /// descriptor (opened, or no reader yet: ENXIO comes after the descriptor) ends it.
    pub(super) fn pending_tried(
        &mut self,
        lp: &mut EventLoop<'_>,
        ran_out: Option<(String, Errno)>,
        got_fd: bool,
    ) -> Result<()> {
        let now = Instant::now();
        if let Some((what, errno)) = ran_out {
            let ep = &mut self.exhaustion.pending;
            // The FIFO it began on names the episode to its end.
            let (what, mut one) = match ep.take() {
                Some((w, e)) => (w, Some(e)),
                None => (what, None),
            };
            let began = Episode::fail(&mut one, "open", errno, now) == Failed::Began;
            if let Some(e) = one {
                if began {
                    lp.rep.emit(e.start_event(None, &what))?;
                }
                *ep = Some((what, e));
            }
        }
        if got_fd && let Some((what, e)) = self.exhaustion.pending.take() {
            lp.rep.emit(e.end_event(None, &what))?;
        }
        Ok(())
    }

    /// After a --peek on fd `t`: `ran_out` (the call, the errno) starts the episode
    /// (FIONREAD shows the count meanwhile), a peek that worked ends it.
    pub(super) fn peek_tried(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: Token,
        ran_out: Option<(&'static str, Errno)>,
    ) -> Result<()> {
        let peek = &mut self.exhaustion.peek;
        match ran_out {
            Some((call, errno)) => {
                let w = &self.slots[t].watched;
                let (fd, what, mut one) = match peek.take() {
                    Some((fd, what, e)) => (fd, what, Some(e)),
                    None => (w.fd, w.desc.what.clone(), None),
                };
                let failed = Episode::fail(&mut one, call, errno, Instant::now());
                if let Some(e) = one {
                    if failed == Failed::Began {
                        let ev = e.start_event(Some(fd), &what);
                        lp.rep.emit(ev)?;
                    }
                    *peek = Some((fd, what, e));
                }
                Ok(())
            }
            None => match peek.take() {
                Some((fd, what, e)) => lp.rep.emit(e.end_event(Some(fd), &what)),
                None => Ok(()),
            },
        }
    }

    /// The run is over: the episodes still going end now (their events say how long
    /// so far).
    pub(super) fn end_episodes(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        for t in self.exhaustion.in_episode.clone() {
            self.end_episode(lp, t)?;
        }
        self.pending_tried(lp, None, true)?;
        if let Some((fd, what, e)) = self.exhaustion.peek.take() {
            lp.rep.emit(e.end_event(Some(fd), &what))?;
        }
        Ok(())
    }
}
