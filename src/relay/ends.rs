//! The relay's answers to what would otherwise spin, hold a connection for good or
//! drop it: a socket in error or hung up (ERR and HUP are reported by every wait
//! whatever a socket is registered for), a peer's reset the select family never shows,
//! a transient lack of kernel memory mid-connection, and a standard output whose
//! reader went away.
//!
//! - ERR: the pending error (SO_ERROR, taken once the socket's readable bytes were
//!   read) ends the connection once, a reset passed on as a reset (conn.rs `end`).
//! - HUP with no error: the socket is closed both ways; it leaves the wait once
//!   nothing is wanted of it (conn.rs `wanted`).
//! - select and pselect: a socket asked for nothing is in none of their sets, so a
//!   peer that resets after its end of file would never be heard: such sockets are
//!   probed with a zero-timeout poll every PROBE_EVERY.
//! - ENOMEM, ENOBUFS on recv, send, splice: the direction rests for an exhaustion
//!   back-off (exhaust.rs `Episode`: 10 ms doubling to 1 s), out of the wait, with its
//!   bytes where they were (socket, buffer or splice pipe), then tries again.
//! - The reader of standard output left (EPIPE): the events are silenced, the
//!   listeners closed (new clients are refused), and the connections already open
//!   are served to their end; then the relay exits 0.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{self, sockopt};

use super::Relay;
use super::conn::{Ending, slot_of, token};
use crate::error::Result;
use crate::event::{
    Flow, RelayClose, RelayError, RelayReset, RelayUrgent, Replaced, Side, UrgentByte,
};
use crate::event_loop::{End, EventLoop};
use crate::exhaust::Episode;
use crate::probe;
use crate::readiness::{Conditions, Interest};

/// How often the select family's quiet sockets are probed for a reset.
const PROBE_EVERY: Duration = Duration::from_millis(200);

/// Sockets the select family cannot hear, and when to look at them next.
#[derive(Debug)]
pub(super) struct Unheard {
    /// Their tokens.
    tokens: std::collections::BTreeSet<usize>,
    next: Instant,
}

impl Unheard {
    pub(super) fn new() -> Unheard {
        Unheard {
            tokens: Default::default(),
            next: Instant::now(),
        }
    }
}

impl Relay<'_> {
    /// ERR or HUP on `side` of connection `id` (in `slot`), after whatever could be
    /// read and written was: see the module comment.
    pub(super) fn hung_up(
        &mut self,
        lp: &mut EventLoop<'_>,
        slot: usize,
        id: u64,
        side: Side,
        cond: Conditions,
    ) -> Result<()> {
        let Some(c) = self.conns[slot].as_mut().filter(|c| c.id == id) else {
            return Ok(());
        };
        // Taking SO_ERROR clears it: after the reads above, so that the bytes the peer
        // sent before its reset went on first (a read would have said ECONNRESET).
        let pending = socket::getsockopt(&c.fd(side), sockopt::SocketError).unwrap_or(0);
        if pending != 0 {
            let e = Errno::from_raw(pending);
            return self.end(lp, slot, Ending::of(side, "the connection", e));
        }
        if cond.contains(Conditions::HANGUP) {
            c.hup[usize::from(side == Side::Target)] = true;
            return self.update(lp, slot);
        }
        Ok(())
    }

    /// After (re-)registering connection `slot`: which of its sockets the select
    /// family must probe (connected, asked for neither reading nor writing, not hung
    /// up): its error and hang-up show only in the read and write sets, never in the
    /// exception set (urgent data), so a socket asked for urgent data alone (its peer
    /// held back while the other side is full) would never show a reset either.
    pub(super) fn note_quiet(&mut self, slot: usize, want: [Option<Interest>; 2]) {
        if !self.cfg.backend.caps().folds_hangup {
            return;
        }
        let connected = self.conns[slot].as_ref().is_some_and(|c| c.connected);
        for (i, side) in [Side::Client, Side::Target].into_iter().enumerate() {
            let t = token(slot, side);
            if connected && want[i].is_some_and(|w| !w.read && !w.write) {
                self.quiet.tokens.insert(t);
            } else {
                self.quiet.tokens.remove(&t);
            }
        }
    }

    /// Connection `slot` is gone: nothing of it is probed or retried.
    pub(super) fn forget(&mut self, slot: usize) {
        self.quiet.tokens.remove(&token(slot, Side::Client));
        self.quiet.tokens.remove(&token(slot, Side::Target));
        self.resting.retain(|&s| s != slot);
    }

    /// The select family: quiet sockets that show an error or a hang-up to poll are
    /// handled as if their wait had said so.
    pub(super) fn probe_quiet(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        let now = Instant::now();
        if self.quiet.tokens.is_empty() || now < self.quiet.next {
            return Ok(());
        }
        self.quiet.next = now + PROBE_EVERY;
        let tokens: Vec<usize> = self.quiet.tokens.iter().copied().collect();
        for t in tokens {
            let (slot, side) = slot_of(t);
            let Some(c) = self.conns.get(slot).and_then(Option::as_ref) else {
                continue;
            };
            // Nothing asked: poll says only an error, a hang-up (or an invalid fd).
            let cond = probe::now(c.fd(side), Interest::NONE).unwrap_or_default();
            if cond.intersects(Conditions::ERROR | Conditions::HANGUP) {
                self.ready(lp, t, cond)?;
            }
        }
        Ok(())
    }

    /// `call` failed for want of kernel memory in the direction fed by `from`: it
    /// rests (a new episode, or a longer rest for an ongoing one).
    pub(super) fn back_off(&mut self, slot: usize, from: Side, call: &'static str, e: Errno) {
        let Some(c) = self.conns[slot].as_mut() else {
            return;
        };
        let (_, _, dir) = c.route(from);
        Episode::record(&mut dir.backoff, call, e);
        if !self.resting.contains(&slot) {
            self.resting.push(slot);
        }
    }

    /// The directions whose rest is over try again; one that does not fail again
    /// ends its episode.
    pub(super) fn retry_resting(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        let now = Instant::now();
        for slot in self.resting.clone() {
            for side in [Side::Client, Side::Target] {
                let Some(c) = self.conns[slot].as_ref() else {
                    break;
                };
                if !c.dir(side).backoff.is_some_and(|ep| ep.due(now)) {
                    continue;
                }
                let id = c.id;
                self.pump(lp, slot, Some((side, Conditions::READ)))?;
                if let Some(c) = self.conns[slot].as_mut().filter(|c| c.id == id) {
                    let (_, _, dir) = c.route(side);
                    // Failed again: `back_off` moved the retry later.
                    if dir.backoff.is_some_and(|ep| ep.due(now)) {
                        dir.backoff = None;
                    }
                }
            }
        }
        let conns = &self.conns;
        self.resting.retain(|&s| {
            conns[s]
                .as_ref()
                .is_some_and(|c| c.c2t.backoff.is_some() || c.t2c.backoff.is_some())
        });
        Ok(())
    }

    /// How soon the loop must wake: a rest that ends, or the next probe.
    pub(super) fn next_look(&self, now: Instant) -> Option<Duration> {
        let rest = self
            .resting
            .iter()
            .filter_map(|&s| self.conns[s].as_ref())
            .flat_map(|c| [c.c2t.backoff, c.t2c.backoff])
            .flatten()
            .filter_map(|ep| ep.wait(now))
            .min();
        let probe =
            (!self.quiet.tokens.is_empty()).then(|| self.quiet.next.saturating_duration_since(now));
        match (rest, probe) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The reader of standard output left (the events are silenced from then on):
    /// the listeners close, so new clients are refused rather than left unanswered,
    /// and the relay ends once the connections it has are over.
    pub(super) fn reader_gone(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        if !lp.rep.reader_gone() || self.listeners.is_empty() {
            return Ok(());
        }
        // Listeners in an exhaustion episode's rest are out of the wait already.
        self.leave_wait(lp)?;
        self.listening = false;
        self.listeners.clear();
        self.names.clear();
        // Nothing is retried for listeners that are gone.
        self.end_episode(lp)
    }

    /// Connections open now (accepted and not yet closed).
    pub(super) fn open(&self) -> u64 {
        self.accepted - self.closed
    }

    /// Urgent bytes taken and never sent on, reported as the connection ends early:
    /// the kernel gave them to the relay, and they exist nowhere else.
    pub(super) fn unsent_urgent(&mut self, lp: &mut EventLoop<'_>, slot: usize) -> Result<()> {
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(());
        };
        let id = c.id;
        for from in [Side::Client, Side::Target] {
            let (_, _, dir) = c.route(from);
            let offset = dir.bytes;
            for byte in dir.unsent_urgent() {
                lp.rep.emit(RelayUrgent {
                    flow: Flow { conn: id, from },
                    byte: UrgentByte(byte),
                    offset,
                    replaced: Replaced(None),
                    relayed: false,
                })?;
            }
        }
        Ok(())
    }
}

/// How a connection ends: passed-on resets, failures, the close and its summary.
impl Relay<'_> {
    /// A connection that cannot go on: a reset is passed on as a reset.
    pub(super) fn end(&mut self, lp: &mut EventLoop<'_>, slot: usize, how: Ending) -> Result<()> {
        self.unsent_urgent(lp, slot)?;
        let Some(c) = self.conns[slot].as_ref() else {
            return Ok(());
        };
        let id = c.id;
        match how {
            Ending::Reset(from) => {
                lp.rep.emit(RelayReset {
                    flow: Flow { conn: id, from },
                })?;
                let other = c.fd(from.other());
                // SO_LINGER 0: close sends RST, as the peer did.
                let _ = socket::setsockopt(
                    &other,
                    sockopt::Linger,
                    &nix::libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    },
                );
            }
            Ending::Failed(from, call, errno) => {
                let message = format!("{call} failed");
                lp.rep.emit(RelayError {
                    flow: Flow {
                        conn: id,
                        from: Some(from),
                    },
                    errno,
                    message: &message,
                })?;
            }
        }
        self.close(lp, slot)
    }

    /// Closes connection `slot` and reports its summary.
    pub(super) fn close(&mut self, lp: &mut EventLoop<'_>, slot: usize) -> Result<()> {
        for side in [Side::Client, Side::Target] {
            self.flush_count(lp, slot, side)?;
        }
        self.drop_conn(lp, slot, true)
    }

    pub(super) fn drop_conn(
        &mut self,
        lp: &mut EventLoop<'_>,
        slot: usize,
        report: bool,
    ) -> Result<()> {
        let Some(c) = self.conns[slot].take() else {
            return Ok(());
        };
        // Both sockets are the relay's own, closed below (when `c` drops).
        let _ = lp.backend.delete_closing(c.client.as_raw_fd());
        let _ = lp.backend.delete_closing(c.target.as_raw_fd());
        self.free.push(slot);
        self.forget(slot);
        self.closed += 1;
        // Two descriptors freed: what ran out may be had now.
        if let Some(ep) = self.exhausted.as_mut() {
            ep.freed(Instant::now());
        }
        let traffic = c.traffic();
        self.total.add(&traffic);
        let mut c = c;
        c.c2t.recycle(&mut self.pools);
        c.t2c.recycle(&mut self.pools);
        if report {
            lp.rep.emit(RelayClose {
                conn: c.id,
                traffic,
                duration: c.started.elapsed(),
            })?;
        }
        drop(c);
        self.check_count(lp);
        Ok(())
    }

    /// --count N: done once N connections were accepted and all of them closed.
    pub(super) fn check_count(&mut self, lp: &mut EventLoop<'_>) {
        if self.cfg.count.is_some_and(|n| self.closed >= n) {
            lp.stop(End::Done);
        }
    }
}
