//! How watched fds end: the other side hung up (a FIFO is reopened, the rest leave
//! the set, or --once ends the run), another process let its fd go, or an fd is
//! removed for good.

use super::Watch;
use super::slot::{Retry, Slots, Token};
use crate::describe::{self, Kind};
use crate::error::{Error, Result};
use crate::event::{Action, FdBytes, FdError, Hangup};
use crate::event_loop::{End, EventLoop};
use crate::exhaust;
use crate::net::Role;
use crate::open::{WatchSet, Watched};
use crate::probe;
use crate::readiness::{Conditions, Interest};

/// Not reading: whether the read side of `w` is over. A hang-up with nothing left
/// queued is the end of this writer; a FIFO is reopened even with bytes still queued
/// (they stay in the pipe). The select family folds hang-up into "readable"; for a
/// pipe or FIFO, readable with nothing queued says the same (read would return 0).
pub(super) fn read_side_over(w: &Watched, cond: Conditions, queued: Option<i32>) -> bool {
    let pipe_like = matches!(w.desc.kind, Kind::Pipe | Kind::Fifo);
    // A TCP peer that closed gives RDHUP and no HUP (docs/kernel.md); the select
    // family shows neither, only "readable", and a poll for POLLRDHUP tells. Such a
    // stream is over for a watcher that does not read: it is released, unread data
    // or not (holding it would keep one fd per departed client for good).
    let stream = w.desc.kind == Kind::Socket && w.role == Role::Stream;
    let peer_done = stream
        && !w.interest.write
        && (cond.intersects(Conditions::RDHUP | Conditions::HANGUP)
            || (cond.contains(Conditions::READ) && w.borrow().is_some_and(probe::peer_closed)));
    let hung_up = cond.contains(Conditions::HANGUP)
        || (pipe_like && cond.contains(Conditions::READ) && queued == Some(0));
    peer_done || (hung_up && (w.owned_fifo() || queued.unwrap_or(0) == 0))
}

/// Whether a write-only fd's reader is gone for good (it stays in error). Where the
/// backend folds that into "writable" (the select family), poll is asked.
pub(super) fn write_side_over(w: &Watched, cond: Conditions, folds_hangup: bool) -> bool {
    if !w.interest.write || w.interest.read {
        return false;
    }
    let reader_gone = || {
        w.borrow()
            .is_some_and(|fd| describe::reader_gone(fd, w.desc.kind))
    };
    cond.contains(Conditions::ERROR) || (folds_hangup && reader_gone())
}

/// Whether a stream socket's connection is over both ways, whatever it is watched for
/// and whether it is read: a hang-up (TCP: the peer reset it, or it is shut down both
/// ways; AF_UNIX: the peer closed). poll, epoll and io_uring report HUP on every wait
/// whatever the registration, so holding such a socket would spin (or, edge-triggered,
/// keep a dead fd for good). The select family folds hang-ups into "readable" and
/// "writable": a zero-timeout poll tells.
pub(super) fn connection_over(w: &Watched, cond: Conditions, folds_hangup: bool) -> bool {
    if w.desc.kind != Kind::Socket || w.role != Role::Stream {
        return false;
    }
    if cond.contains(Conditions::HANGUP) {
        return true;
    }
    folds_hangup
        && cond.intersects(Conditions::READ | Conditions::WRITE)
        && w.borrow().is_some_and(|fd| {
            probe::now(fd, Interest::NONE).is_ok_and(|c| c.contains(Conditions::HANGUP))
        })
}

/// `--until` with a condition these specs cannot give is a usage error (the run would
/// only end some other way). What the command line alone rules out (rdhup under select,
/// eof without --read) it refused before anything was opened.
pub(super) fn until_possible(cfg: &super::Config, slots: &Slots, set: &WatchSet) -> Result<()> {
    use crate::event::Until;
    let any = |f: &dyn Fn(&Watched) -> bool| slots.iter().any(|s| f(&s.watched));
    let socket = |w: &Watched| w.desc.kind == Kind::Socket;
    for &u in &cfg.until {
        let why = match u {
            Until::Read if !any(&|w| w.interest.read) => Some("no spec is watched for reading (r)"),
            Until::Write if !any(&|w| w.interest.write) && set.pending.is_empty() => {
                Some("no spec is watched for writing (w)")
            }
            Until::Urgent if !any(&|w| w.interest.urgent || socket(w)) => {
                Some("no socket and no spec watched for urgent data (e)")
            }
            Until::Rdhup if !any(&|w| socket(w) && w.interest.read) => {
                Some("only a socket watched for reading reports rdhup")
            }
            Until::Accept if !any(&|w| w.role == Role::Listener) => {
                Some("no spec listens (tcp-listen:, unix-listen:)")
            }
            _ => None,
        };
        if let Some(why) = why {
            return Err(Error::Usage(format!(
                "--until {}: cannot happen here: {why}",
                u.name()
            )));
        }
    }
    Ok(())
}

impl Watch<'_> {
    /// The other side of fd `t` is gone: end (--once), reopen a FIFO, or drop the fd.
    pub(super) fn on_end(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        self.flush_urgent(lp, t)?;
        let w = &self.slots[t].watched;
        let action = if self.cfg.once {
            Action::End
        } else if w.owned_fifo() {
            Action::Reopen
        } else {
            Action::Remove
        };
        lp.rep.emit(Hangup {
            at: w.subject(),
            action,
        })?;
        match action {
            Action::Reopen if w.interest.read => self.reopen(lp, t),
            Action::Reopen => {
                // A write-side FIFO whose reader left: retried until a reader comes.
                self.unregister(lp, t)?;
                self.set.pend(&self.slots[t].watched);
                self.slots.release(t);
                Ok(())
            }
            _ => {
                if self.cfg.once {
                    lp.stop(End::Done);
                }
                self.remove(lp, t)
            }
        }
    }

    /// Reopens a FIFO after its last writer left, keeping its fd number: the new read
    /// end is open before the old one closes, so no writer finds the FIFO without a
    /// reader, and no byte already queued is lost (it stays in the pipe).
    pub(super) fn reopen(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        // Retried in an episode: a writer that came meanwhile makes a reopen needless.
        if self.writer_came(lp, t)? {
            return Ok(());
        }
        let new = match self.slots[t].watched.open_again() {
            Ok(new) => new,
            // Out of fds: the old read end stays (no writer is lost) until one is free.
            Err(Error::Sys { errno, .. }) if exhaust::is_exhaustion(errno) => {
                return self.exhausted(lp, t, "open", errno, Retry::Reopen);
            }
            // The path is gone (unlinked, say): that FIFO is over, the others go on.
            Err(Error::Sys { errno, call, .. }) => {
                let w = &self.slots[t].watched;
                let msg = format!("{call} failed: cannot reopen; no longer watched");
                lp.rep.emit(FdError {
                    at: w.subject().into(),
                    errno,
                    message: &msg,
                })?;
                return self.remove(lp, t);
            }
            Err(e) => return Err(e),
        };
        let fd = self.slots[t].watched.raw;
        // DEL before the old open file goes away (epoll keys on it).
        self.leave_waits(lp, t, fd)?;
        let slot = &mut self.slots[t];
        slot.watched.replace(new)?;
        let w = &slot.watched;
        slot.reg = Some(lp.backend.add(w.raw, t.0, w.interest)?);
        // The new fd has no hang-up; what is still queued was already reported.
        slot.last.cond = slot.last.cond.without(Conditions::HANGUP);
        self.end_episode(lp, t)
    }

    /// `pid:` fds whose process closed them, or exited, are let go: holding the file
    /// open would keep, say, a pipe's reader from ever seeing end of file.
    pub(super) fn recheck_foreign(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        for t in self.slots.tokens() {
            let w = &self.slots[t].watched;
            let (Some(f), Some(fd)) = (w.foreign, w.borrow()) else {
                continue;
            };
            if self.set.processes[f.process].still_has(fd, f.private, w.fd) {
                continue;
            }
            lp.rep.emit(Hangup {
                at: w.subject(),
                action: Action::Gone,
            })?;
            self.remove(lp, t)?;
        }
        Ok(())
    }

    /// Slot `t`'s fd leaves the watch set for good (the slot serves another).
    pub(super) fn remove(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        self.flush_urgent(lp, t)?;
        // Out of the waits first: an fd in an episode is out of the main wait already.
        self.unregister(lp, t)?;
        self.end_episode(lp, t)?;
        self.descriptor_freed();
        self.slots[t].intake.source = None;
        // The slot will serve another fd: keep what the summary says of this one.
        let slot = &mut self.slots[t];
        let w = &slot.watched;
        if self.cfg.read.is_some() && w.interest.read && w.role != Role::Listener {
            self.closed.bytes.push((
                w.seq,
                FdBytes {
                    fd: w.fd,
                    what: w.desc.what.clone(),
                    bytes: slot.intake.total,
                },
            ));
        }
        self.closed.ready += u64::from(slot.last.ever);
        slot.last.ever = false;
        self.more.retain(|&m| m != t);
        self.slots.release(t);
        Ok(())
    }
}
