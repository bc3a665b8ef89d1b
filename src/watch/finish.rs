//! The end of a watch run: what is still owed (parked urgent bytes, counts, exhaustion
//! episodes), the one-shot timeout, pending masked signals, the summary; then the exit
//! status.

use std::time::Instant;

use super::Watch;
use crate::error::Result;
use crate::event::{FdBytes, SignalCaught, Summary, TimedOut};
use crate::event_loop::{End, EventLoop};
use crate::net::Role;
use crate::signals;
use crate::timeout::Timeout;

/// The exit status of a one-shot run whose connect failed (`tcp:`, `unix:`).
pub const CONNECT_FAILED: u8 = 3;

impl Watch<'_> {
    /// The end of the run: what is still owed (urgent bytes, counts, episodes), the
    /// one-shot timeout, pending masked signals, the summary; then the exit status.
    pub(super) fn finish(&mut self, lp: &mut EventLoop<'_>, end: End) -> Result<u8> {
        for t in self.slots.tokens() {
            self.flush_urgent(lp, t)?;
            self.flush_count(lp, t)?;
        }
        // Episodes still going: their event says how long so far.
        self.end_episodes(lp)?;
        let now = Instant::now();
        if end == End::Timeout
            && let Timeout::After(t) = self.cfg.timeout
        {
            lp.rep.emit(TimedOut { timeout: t })?;
        }
        let summary = Summary {
            backend: self.cfg.backend.name(),
            waits: lp.waits,
            events: lp.rep.events,
            ready_fds: self.closed.ready + self.slots.iter().filter(|s| s.last.ever).count() as u64,
            blocked: lp.blocked,
            timeout: self.cfg.timeout,
            left: if self.cfg.monitor { None } else { lp.left(now) },
            elapsed: now.duration_since(lp.rep.start),
            bytes: self.bytes_read(),
        };
        if let Some(sig) = lp.signals() {
            for n in sig.pending_masked() {
                let name = signals::name(n);
                lp.rep.emit(SignalCaught {
                    number: n,
                    name: &name,
                    pid: None,
                    uid: None,
                    pending: true,
                })?;
            }
        }
        let ready_fds = summary.ready_fds;
        lp.rep.emit(summary)?;
        lp.rep.flush()?;
        // Death by a signal runs no destructors: socket files go now. Watched fds stay
        // registered until the process ends; inherited fds are never touched.
        self.set.bound.clear();
        Ok(self.exit_status(lp, end, ready_fds))
    }

    /// The status scripts read. `-m`: the idle timeout is a normal end (0) once
    /// something was reported ready, and 1 only when nothing was (with `--until` it
    /// stays 1: the condition never came). One-shot: a failed connect is 3, whatever
    /// else was ready, so `fdwatch 1 tcp:HOST:PORT` answers "can I connect".
    fn exit_status(&self, lp: &EventLoop<'_>, end: End, ready_fds: u64) -> u8 {
        match end {
            End::Idle if ready_fds > 0 && self.cfg.until.is_empty() => 0,
            End::Found | End::Done if !self.cfg.monitor && self.closed.connect_failed => {
                CONNECT_FAILED
            }
            _ => lp.exit_status(end),
        }
    }

    /// Bytes consumed per fd for the summary (with --read), in the order the fds
    /// joined the set.
    fn bytes_read(&mut self) -> Vec<FdBytes> {
        if self.cfg.read.is_none() {
            return Vec::new();
        }
        let live = self
            .slots
            .iter()
            .filter(|s| {
                let w = &s.watched;
                w.borrow().is_some() && w.interest.read && w.role != Role::Listener
            })
            .map(|s| {
                let w = &s.watched;
                let b = FdBytes {
                    fd: w.fd,
                    what: w.desc.what.clone(),
                    bytes: s.intake.total,
                };
                (w.seq, b)
            });
        let mut all: Vec<(u64, FdBytes)> = std::mem::take(&mut self.closed.bytes)
            .into_iter()
            .chain(live)
            .collect();
        all.sort_by_key(|(seq, _)| *seq);
        all.into_iter().map(|(_, b)| b).collect()
    }
}
