//! Which waits hold each fd: its registration with the main backend, and parking: a
//! level-triggered fd that stays ready is taken out of the main wait and re-checked
//! every --interval by a second backend of the same kind, so the wait never spins.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::Watch;
use super::slot::Token;
use crate::backend::{self, Backend, BackendKind, Mode, Readiness, Registered};
use crate::describe::Kind;
use crate::error::{Error, Result};
use crate::event::Note;
use crate::event_loop::EventLoop;
use crate::net::{self, Role};
use crate::readiness::{Conditions, Interest};

/// Where a level-triggered fd that stays ready waits, so the main wait does not spin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Park {
    /// In the main wait as registered.
    #[default]
    No,
    /// Out of the main wait; the recheck backend looks every --interval.
    Out,
    /// A socket whose unread data keeps it ready: the main wait still watches it for
    /// urgent data alone (a doorbell), so an urgent byte is seen when it comes, not at
    /// the next recheck.
    Doorbell,
}

/// The parked fds and the backend that re-checks them.
pub(super) struct Parking {
    /// Made at start in monitor mode; a one-shot check, which seldom parks, makes it
    /// when it first does (one epoll_create1 less at start-up).
    recheck: Option<Box<dyn Backend>>,
    kind: BackendKind,
    /// Parked tokens, in order: the one record of which fds are parked, and how.
    pub parked: BTreeMap<Token, Park>,
    buf: Vec<Readiness>,
    /// When the next recheck is due.
    pub next: Instant,
    /// Whether the loop must wake for it (decided before each wait).
    pub due: bool,
    /// A doorbell rang in this wait.
    pub ring: bool,
}

impl Parking {
    /// `now`: make the recheck backend at once (monitor mode: an fd shortage then
    /// shows at start), else when an fd is first parked.
    pub fn new(kind: BackendKind, now: bool, next: Instant) -> Result<Parking> {
        let mut p = Parking {
            recheck: None,
            kind,
            parked: BTreeMap::new(),
            buf: Vec::new(),
            next,
            due: false,
            ring: false,
        };
        if now {
            p.recheck()?;
        }
        Ok(p)
    }

    /// The recheck backend, made now if it was not yet.
    fn recheck(&mut self) -> Result<&mut dyn Backend> {
        let made = match self.recheck.take() {
            Some(b) => b,
            None => backend::new(self.kind, Mode::default())?,
        };
        Ok(self.recheck.insert(made).as_mut())
    }

    pub fn park(&self, t: Token) -> Park {
        self.parked.get(&t).copied().unwrap_or_default()
    }

    fn set(&mut self, t: Token, park: Park) {
        if park == Park::No {
            self.parked.remove(&t);
        } else {
            self.parked.insert(t, park);
        }
    }
}

impl Watch<'_> {
    /// Registers slot `t`'s fd with the main backend (saying under -v when epoll
    /// refused it and poll stands in), with nothing else remembered.
    pub(super) fn register(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        let w = &self.slots[t].watched;
        // A connect in progress finishes as writability (or an error).
        let interest = if w.role == Role::Connecting {
            w.interest.merge(Interest::WRITE)
        } else {
            w.interest
        };
        if self.cfg.oobinline
            && w.desc.kind == Kind::Socket
            && !w.shared()
            && let Some(fd) = w.borrow()
        {
            net::set_oobinline(fd)
                .map_err(|e| Error::sys(format!("fd {}", w.fd), "setsockopt(SO_OOBINLINE)", e))?;
        }
        let reg = lp.backend.add(w.raw, t.0, interest)?;
        if let Registered::PollFallback(e) = reg {
            let msg = format!(
                "epoll_ctl refused {} ({e:?}); poll checks it instead (files and devices are always ready)",
                w.desc.what
            );
            lp.rep.emit(Note {
                fd: Some(w.fd),
                message: &msg,
            })?;
        }
        self.parking.set(t, Park::No);
        self.slots[t].registered(reg);
        Ok(())
    }

    /// Takes fd `t` out of every wait (it stays in the set).
    pub(super) fn unregister(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        let fd = self.slots[t].watched.raw;
        self.leave_waits(lp, t, fd)?;
        self.slots[t].reg = None;
        Ok(())
    }

    /// Deletes fd `fd` (the number registered for `t`) from the backends that hold it.
    pub(super) fn leave_waits(&mut self, lp: &mut EventLoop<'_>, t: Token, fd: i32) -> Result<()> {
        let slot = &self.slots[t];
        let park = self.parking.park(t);
        if park != Park::No {
            self.parking.recheck()?.delete(fd)?;
        }
        // A parked level registration is already out of the main backend, and so is
        // an fd in an exhaustion episode.
        let level = matches!(
            slot.reg,
            Some(Registered::Level | Registered::PollFallback(_))
        );
        let in_main = slot.exhausted.is_none_or(|ep| ep.armed()) && (park != Park::Out || !level);
        if in_main {
            lp.backend.delete(fd)?;
        }
        self.parking.set(t, Park::No);
        Ok(())
    }

    /// Moves a level-triggered fd that stays ready (`cond`) out of the main wait.
    pub(super) fn park(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: Token,
        cond: Conditions,
    ) -> Result<()> {
        let (w, reg) = (&self.slots[t].watched, self.slots[t].reg);
        let level = matches!(reg, Some(Registered::Level | Registered::PollFallback(_)));
        match self.parking.park(t) {
            // The urgent byte it rang for is shown: the doorbell would ring on.
            Park::Doorbell if cond.contains(Conditions::URGENT) => {
                lp.backend.delete(w.raw)?;
                self.parking.set(t, Park::Out);
                return Ok(());
            }
            Park::Doorbell | Park::Out => return Ok(()),
            Park::No => {}
        }
        let doorbell = level
            && w.desc.kind == Kind::Socket
            && w.role == Role::Stream
            && w.interest.urgent
            && !cond.contains(Conditions::URGENT);
        match reg {
            Some(Registered::Level | Registered::PollFallback(_)) if doorbell => {
                lp.backend.modify(w.raw, t.0, Interest::URGENT)?;
            }
            Some(Registered::Level | Registered::PollFallback(_)) => lp.backend.delete(w.raw)?,
            // A oneshot registration is already silent in the main backend.
            Some(Registered::OneShot) => {}
            _ => return Ok(()),
        }
        self.parking.recheck()?.add(w.raw, t.0, w.interest)?;
        let park = if doorbell { Park::Doorbell } else { Park::Out };
        self.parking.set(t, park);
        Ok(())
    }

    /// Back into the main wait once a parked fd is no longer ready.
    fn unpark(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        let w = &self.slots[t].watched;
        self.parking.recheck()?.delete(w.raw)?;
        match (self.slots[t].reg, self.parking.park(t)) {
            (Some(Registered::OneShot), _) | (_, Park::Doorbell) => {
                lp.backend.modify(w.raw, t.0, w.interest)?
            }
            _ => {
                lp.backend.add(w.raw, t.0, w.interest)?;
            }
        }
        self.parking.set(t, Park::No);
        let last = &mut self.slots[t].last;
        last.cond = Conditions::empty();
        last.queued = None;
        Ok(())
    }

    /// The bounded-rate check of parked fds: report changes, unpark the quiet ones.
    pub(super) fn recheck_parked(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        if self.parking.parked.is_empty() {
            return Ok(());
        }
        let parked: Vec<Token> = self.parking.parked.keys().copied().collect();
        let mut out = std::mem::take(&mut self.parking.buf);
        out.clear();
        let recheck = self.parking.recheck()?;
        match recheck.wait(Some(Duration::ZERO), None, &mut out) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys(self.cfg.backend.name(), recheck.call(), e)),
        }
        out.sort_unstable_by_key(|r| r.token);
        for r in &out {
            self.ready(lp, Token(r.token), r.cond, r.raw)?;
        }
        for t in parked {
            let still_ready = out.iter().any(|r| r.token == t.0);
            if !still_ready && self.parking.park(t) != Park::No && self.slots[t].reg.is_some() {
                self.unpark(lp, t)?;
            }
        }
        self.parking.buf = out;
        Ok(())
    }
}
