//! Per-fd state in watch mode, how each fd is registered, and parking: a
//! level-triggered fd that stays ready is taken out of the main wait and re-checked
//! every --interval by a second backend of the same kind, so the wait never spins.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::Watch;
use crate::backend::{Backend, Readiness, Registered};
use crate::describe::Kind;
use crate::error::{Error, Result};
use crate::event::Note;
use crate::event_loop::EventLoop;
use crate::exhaust::Episode;
use crate::net::{self, Role};
use crate::readiness::{Conditions, Interest, Raw};
use crate::urgent::Urgent;

/// Per watched fd.
#[derive(Debug, Default)]
pub(super) struct Track {
    /// How the main backend holds it; None once it left the set.
    pub reg: Option<Registered>,
    pub shown: Shown,
    pub stream: super::stream::Stream,
    pub urgent: Urgent,
    /// Its accept (or reopen) ran out of a resource: out of every wait until retried.
    pub exhausted: Option<Episode>,
    /// What that retry is.
    pub retry: super::exhausted::Retry,
}

/// What was last reported for an fd.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Shown {
    pub cond: Conditions,
    /// FIONREAD then.
    pub queued: Option<i32>,
    pub raw: Option<Raw>,
    /// Reported ready at least once (the summary's count).
    pub ever: bool,
}

impl Shown {
    /// Takes in one readiness; true when it is news to report: other conditions, or
    /// (when nothing is consumed) more bytes queued than last time.
    pub fn update(
        &mut self,
        cond: Conditions,
        raw: Raw,
        queued: Option<i32>,
        count_queue: bool,
    ) -> bool {
        self.raw = Some(raw);
        let more_data = count_queue
            && cond.contains(Conditions::READ)
            && queued.is_some()
            && queued != self.queued;
        if cond == self.cond && !more_data {
            return false;
        }
        self.cond = cond;
        self.queued = queued;
        self.ever = true;
        true
    }
}

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
    recheck: Box<dyn Backend>,
    /// Parked tokens, in order: the one record of which fds are parked, and how.
    pub parked: BTreeMap<usize, Park>,
    buf: Vec<Readiness>,
    /// When the next recheck is due.
    pub next: Instant,
    /// Whether the loop must wake for it (decided before each wait).
    pub due: bool,
    /// A doorbell rang in this wait.
    pub ring: bool,
}

impl Parking {
    pub fn new(recheck: Box<dyn Backend>, next: Instant) -> Parking {
        Parking {
            recheck,
            parked: BTreeMap::new(),
            buf: Vec::new(),
            next,
            due: false,
            ring: false,
        }
    }

    pub fn park(&self, t: usize) -> Park {
        self.parked.get(&t).copied().unwrap_or_default()
    }

    fn set(&mut self, t: usize, park: Park) {
        if park == Park::No {
            self.parked.remove(&t);
        } else {
            self.parked.insert(t, park);
        }
    }
}

impl Watch<'_> {
    /// Registers `set.fds[t]` with the main backend (saying under -v when epoll
    /// refused it and poll stands in), with a fresh track.
    pub(super) fn register(&mut self, lp: &mut EventLoop<'_>, t: usize) -> Result<()> {
        let w = &self.set.fds[t];
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
        let reg = lp.backend.add(w.raw, t, interest)?;
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
        if t >= self.tracks.len() {
            self.tracks.resize_with(t + 1, Track::default);
        }
        self.parking.set(t, Park::No);
        self.tracks[t] = Track {
            reg: Some(reg),
            ..Track::default()
        };
        Ok(())
    }

    /// Takes fd `t` out of every wait (it stays in the set).
    pub(super) fn unregister(&mut self, lp: &mut EventLoop<'_>, t: usize) -> Result<()> {
        let fd = self.set.fds[t].raw;
        self.leave_waits(lp, t, fd)?;
        self.tracks[t].reg = None;
        Ok(())
    }

    /// Deletes fd `fd` (the number registered for `t`) from the backends that hold it.
    pub(super) fn leave_waits(&mut self, lp: &mut EventLoop<'_>, t: usize, fd: i32) -> Result<()> {
        let tr = &self.tracks[t];
        let park = self.parking.park(t);
        if park != Park::No {
            self.parking.recheck.delete(fd)?;
        }
        // A parked level registration is already out of the main backend, and so is
        // an fd in an exhaustion episode.
        let level = matches!(
            tr.reg,
            Some(Registered::Level | Registered::PollFallback(_))
        );
        let in_main = tr.exhausted.is_none_or(|ep| ep.armed()) && (park != Park::Out || !level);
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
        t: usize,
        cond: Conditions,
    ) -> Result<()> {
        let (w, tr) = (&self.set.fds[t], &self.tracks[t]);
        let level = matches!(
            tr.reg,
            Some(Registered::Level | Registered::PollFallback(_))
        );
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
        match tr.reg {
            Some(Registered::Level | Registered::PollFallback(_)) if doorbell => {
                lp.backend.modify(w.raw, t, Interest::URGENT)?;
            }
            Some(Registered::Level | Registered::PollFallback(_)) => lp.backend.delete(w.raw)?,
            // A oneshot registration is already silent in the main backend.
            Some(Registered::OneShot) => {}
            _ => return Ok(()),
        }
        self.parking.recheck.add(w.raw, t, w.interest)?;
        let park = if doorbell { Park::Doorbell } else { Park::Out };
        self.parking.set(t, park);
        Ok(())
    }

    /// Back into the main wait once a parked fd is no longer ready.
    fn unpark(&mut self, lp: &mut EventLoop<'_>, t: usize) -> Result<()> {
        let w = &self.set.fds[t];
        self.parking.recheck.delete(w.raw)?;
        match (self.tracks[t].reg, self.parking.park(t)) {
            (Some(Registered::OneShot), _) | (_, Park::Doorbell) => {
                lp.backend.modify(w.raw, t, w.interest)?
            }
            _ => {
                lp.backend.add(w.raw, t, w.interest)?;
            }
        }
        self.parking.set(t, Park::No);
        let shown = &mut self.tracks[t].shown;
        shown.cond = Conditions::empty();
        shown.queued = None;
        Ok(())
    }

    /// The bounded-rate check of parked fds: report changes, unpark the quiet ones.
    pub(super) fn recheck_parked(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        if self.parking.parked.is_empty() {
            return Ok(());
        }
        let parked: Vec<usize> = self.parking.parked.keys().copied().collect();
        let mut out = std::mem::take(&mut self.parking.buf);
        out.clear();
        match self
            .parking
            .recheck
            .wait(Some(Duration::ZERO), None, &mut out)
        {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => {
                let call = self.parking.recheck.call();
                return Err(Error::sys(self.cfg.backend.name(), call, e));
            }
        }
        out.sort_unstable_by_key(|r| r.token);
        for r in &out {
            self.ready(lp, r.token, r.cond, r.raw)?;
        }
        for t in parked {
            let still_ready = out.iter().any(|r| r.token == t);
            if !still_ready && self.parking.park(t) != Park::No && self.tracks[t].reg.is_some() {
                self.unpark(lp, t)?;
            }
        }
        self.parking.buf = out;
        Ok(())
    }
}
