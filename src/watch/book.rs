//! `-b epoll -m --read --format tlpi`: watch mode run as TLPI's epoll_input does, so
//! the same session prints the same lines. The epoll instance is made before the
//! paths are opened (the book's first fd is epfd), the registrations are
//! level-triggered, each readiness reads once, at most MAX_BUF (1000) bytes, and an fd
//! that hangs up or errs without data is closed (a FIFO is not reopened). The run ends
//! when every fd is closed.

use std::time::Duration;

use super::slot::{Slots, Token};
use crate::backend::Readiness;
use crate::error::Result;
use crate::event::{Action, Data, Hangup, Ready, Shown, Summary, TimedOut, Watching};
use crate::event_loop::{Client, End, EventLoop};
use crate::open::WatchSet;
use crate::reader::{self, Source, Step};
use crate::readiness::Conditions;
use crate::signals::Caught;

/// epoll_input's read buffer.
const MAX_BUF: usize = 1000;

pub(super) struct EpollInput {
    /// Each fd, and where it is read from (its intake's source: a private reopen for
    /// an inherited one).
    slots: Slots,
    buf: [u8; MAX_BUF],
}

/// Runs the slots' fds through the loop as epoll_input would; the exit status. `_set` lives
/// as long as the run (its socket files are removed when it goes).
pub(super) fn run(slots: Slots, _set: WatchSet, lp: &mut EventLoop<'_>) -> Result<u8> {
    for t in slots.tokens() {
        let w = &slots[t].watched;
        lp.backend.add(w.raw, t.0, w.interest)?;
    }
    let mut book = EpollInput {
        slots,
        buf: [0; MAX_BUF],
    };
    let end = lp.run(&mut book)?;
    lp.rep.emit(Summary {
        backend: "epoll",
        waits: lp.waits,
        events: lp.rep.events,
        ready_fds: 0,
        blocked: lp.blocked,
        timeout: crate::timeout::Timeout::Forever,
        left: None,
        elapsed: lp.rep.start.elapsed(),
        bytes: Vec::new(),
    })?;
    lp.rep.flush()?;
    Ok(lp.exit_status(end))
}

impl Client for EpollInput {
    fn begin(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        for w in self.slots.iter().map(|s| &s.watched) {
            let path = w.path.as_ref().map(|p| crate::escape::os(p.as_os_str()));
            lp.rep.emit(Watching {
                at: w.subject(),
                kind: w.desc.kind.name(),
                want: w.interest,
                path: path.as_deref(),
            })?;
        }
        Ok(())
    }

    fn on_ready(&mut self, lp: &mut EventLoop<'_>, r: &Readiness) -> Result<()> {
        let t = Token(r.token);
        let slot = &mut self.slots[t];
        let w = &slot.watched;
        let Some(fd) = w.borrow() else {
            return Ok(());
        };
        lp.rep.emit(Ready {
            at: w.subject(),
            kind: w.desc.kind.name(),
            cond: r.cond,
            raw: r.raw,
            backend: "epoll",
            fallback: lp.caps().fallback.filter(|_| r.raw.fallback),
            queued: None,
            pipe_size: None,
        })?;
        if r.cond.contains(Conditions::READ) {
            let src = match &mut slot.intake.source {
                Some(src) => src,
                none => none.insert(Source::for_watched(w, fd)?),
            };
            let n = match reader::read(src, w.desc.kind, &mut self.buf) {
                Step::Data(n) => n,
                _ => 0,
            };
            lp.rep.emit(Data {
                at: w.subject(),
                bytes: n as u64,
                total: Some(n as u64),
                rate: None,
                shown: Some(Shown::Text(&self.buf[..n])),
                peek: false,
            })?;
        } else if r.cond.intersects(Conditions::HANGUP | Conditions::ERROR) {
            lp.rep.emit(Hangup {
                at: w.subject(),
                action: Action::Remove,
            })?;
            lp.backend.delete(w.raw)?;
            slot.intake.source = None;
            self.slots.release(t);
        }
        Ok(())
    }

    fn done(&self) -> bool {
        self.slots.live() == 0
    }

    fn on_signal(&mut self, lp: &mut EventLoop<'_>, c: &Caught) -> Result<()> {
        super::report_caught(lp, c)
    }

    fn on_idle(&mut self, lp: &mut EventLoop<'_>, idle: Duration) -> Result<()> {
        lp.stop(End::Idle);
        lp.rep.emit(TimedOut { timeout: idle })
    }
}
