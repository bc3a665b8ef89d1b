//! The relay's side of running out (the mechanism is exhaust.rs's, shared with watch
//! mode): accept, a client's socket or connect to TARGET, and the splice pipes.
//!
//! A listener episode takes every listener out of the wait: `in_wait` says where they
//! are, and while they are out a retry is always due (the episode's back-off, or at
//! once when a connection closes and frees two descriptors). A retry that finds no
//! client waiting puts them back (the next client decides); one that serves a client
//! ends the episode. Pooled splice pipes hold descriptors too: they go at the first
//! refusal. A splice pipe that cannot be made is an episode of its own, with nothing
//! out of the wait: that direction copies through its buffer instead.
//!
//! A client that closed is, to the relay, one that shut down its side, and its
//! connection keeps two descriptors until TARGET ends its side too. A TARGET that never
//! does would hold them for good, and once descriptors run out no client would be
//! served again. So when they run out (EMFILE, ENFILE), the half-closed connection idle
//! longest, for at least HALF_CLOSED_IDLE, is ended (its open side reset, as socat and
//! HAProxy end half-closed connections after a timeout) and the waiting client served
//! instead of refused. Open connections, and half-closed ones still moving bytes, are
//! never touched.

use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use super::{LISTENERS, Relay};
use crate::error::Result;
use crate::event::{Exhausted, Flow, RelayError, RelayExhausted, TheRelay};
use crate::event_loop::EventLoop;
use crate::exhaust::{self, Episode, Failed};
use crate::readiness::Interest;

/// How long a half-closed connection moved no byte before it may be ended to serve a
/// new client when descriptors run out.
const HALF_CLOSED_IDLE: Duration = Duration::from_secs(1);

/// What the splice pipes' episode names in its events.
const PIPES: &str = "splice pipes (bytes are copied meanwhile)";

impl Relay<'_> {
    /// `call` ran out of a resource on listener `i`: the clients waiting there are
    /// refused (the reserve descriptor), and no listener is asked again until the
    /// back-off ends or a connection closes; or, when descriptors ran out and a
    /// half-closed connection has gone quiet, that one ends instead and nobody is
    /// refused (true: descriptors were freed, try again now).
    pub(super) fn exhausted(
        &mut self,
        lp: &mut EventLoop<'_>,
        i: usize,
        call: &'static str,
        errno: Errno,
    ) -> Result<bool> {
        let now = Instant::now();
        let failed = Episode::fail(&mut self.exhausted, call, errno, now);
        if failed != Failed::Again {
            self.leave_wait(lp)?;
        }
        // Descriptors held by a half-closed connection gone quiet serve the clients
        // waiting now (ended below, after the start event).
        let quiet = if matches!(errno, Errno::EMFILE | Errno::ENFILE) {
            self.quiet_half_closed(now)
        } else {
            None
        };
        let refused = if quiet.is_some() {
            0
        } else {
            self.reserve.refuse_pending(self.listeners[i].as_fd())
        };
        // Pipes kept for later connections hold descriptors the clients need now.
        let shed = self.pools.shed_pipes();
        if let Some(ep) = self.exhausted.as_mut() {
            ep.refused += refused;
            if shed {
                ep.freed(now);
            }
        }
        // Once those waiting are refused: a client that comes after the start event
        // is one the retry decides about.
        if failed == Failed::Began {
            self.exhausted_on = i;
            self.report(lp, Episode::start_event)?;
        }
        match quiet {
            Some(slot) => self.end_half_closed(lp, slot).map(|()| true),
            None => Ok(false),
        }
    }

    /// The half-closed connection that moved no byte for longest, at least
    /// HALF_CLOSED_IDLE. Bytes moved since the last look start its idle time again.
    fn quiet_half_closed(&mut self, now: Instant) -> Option<usize> {
        let mut oldest: Option<(usize, Instant)> = None;
        for (slot, c) in self.conns.iter_mut().enumerate() {
            let Some(c) = c else { continue };
            let moved = c.c2t.bytes + c.t2c.bytes;
            let Some(seen) = c.half_closed.as_mut() else {
                continue;
            };
            if seen.1 != moved {
                *seen = (now, moved);
            } else if now.duration_since(seen.0) >= HALF_CLOSED_IDLE
                && oldest.is_none_or(|(_, at)| seen.0 < at)
            {
                oldest = Some((slot, seen.0));
            }
        }
        oldest.map(|(slot, _)| slot)
    }

    /// Ends half-closed connection `slot` to free its descriptors: its side still open
    /// gets a reset.
    fn end_half_closed(&mut self, lp: &mut EventLoop<'_>, slot: usize) -> Result<()> {
        if let Some(c) = self.conns[slot].as_ref() {
            lp.rep.emit(RelayError {
                flow: Flow {
                    conn: c.id,
                    from: None,
                },
                errno: Errno::EMFILE,
                message: "ended to serve a new client: descriptors ran out, and this \
                          connection was half-closed and idle",
            })?;
            for fd in [c.client.as_fd(), c.target.as_fd()] {
                // SO_LINGER 0: the side still open gets a reset, not a clean end.
                let _ = nix::sys::socket::setsockopt(
                    &fd,
                    nix::sys::socket::sockopt::Linger,
                    &nix::libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    },
                );
            }
        }
        self.close(lp, slot)
    }

    /// Tries the listeners again once the back-off is over (or a descriptor was freed).
    pub(super) fn retry_exhausted(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        if !self.exhausted.is_some_and(|ep| ep.due(Instant::now())) {
            return Ok(());
        }
        for i in 0..self.listeners.len() {
            self.accept_all(lp, i)?;
        }
        Ok(())
    }

    /// A try in an episode found nobody waiting: the listeners go back into the wait
    /// (the next client decides whether the episode is over).
    pub(super) fn rearm(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        let Some(ep) = self.exhausted.as_mut().filter(|ep| !ep.armed()) else {
            return Ok(());
        };
        ep.rearm();
        self.listen_again(lp)
    }

    /// The listeners out of the wait (an episode's back-off, or --count reached).
    pub(super) fn leave_wait(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        if self.in_wait {
            for l in &self.listeners {
                lp.backend.delete(l.as_raw_fd())?;
            }
            self.in_wait = false;
        }
        Ok(())
    }

    fn listen_again(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        if self.listening && !self.in_wait {
            for (i, l) in self.listeners.iter().enumerate() {
                lp.backend
                    .add(l.as_raw_fd(), LISTENERS - i, Interest::READ)?;
            }
            self.in_wait = true;
        }
        Ok(())
    }

    /// The episode is over (a client was served, or the relay ends): its end event,
    /// and the listeners back in the wait.
    pub(super) fn end_episode(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        if self.exhausted.is_none() {
            return Ok(());
        }
        self.listen_again(lp)?;
        self.report(lp, Episode::end_event)?;
        self.exhausted = None;
        Ok(())
    }

    /// The listener episode's event, naming the listener it began on.
    fn report(
        &mut self,
        lp: &mut EventLoop<'_>,
        event: for<'a> fn(&Episode, Option<RawFd>, &'a str) -> Exhausted<'a>,
    ) -> Result<()> {
        let Some(ep) = &self.exhausted else {
            return Ok(());
        };
        let i = self.exhausted_on;
        let fd = self.listeners[i].as_raw_fd();
        lp.rep.emit(RelayExhausted {
            conn: TheRelay,
            episode: event(ep, Some(fd), &self.names[i]),
        })
    }

    /// After a wait: whether making a splice pipe ran out (the episode starts) or
    /// worked again (it ends).
    pub(super) fn pipes_news(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        let (failed, made) = self.pools.news();
        if let Some(e) = failed.filter(|&e| exhaust::is_exhaustion(e)) {
            let now = Instant::now();
            if Episode::fail(&mut self.pipes_exhausted, "pipe2", e, now) == Failed::Began
                && let Some(ep) = &self.pipes_exhausted
            {
                lp.rep.emit(RelayExhausted {
                    conn: TheRelay,
                    episode: ep.start_event(None, PIPES),
                })?;
            }
        }
        if made {
            self.end_pipes_episode(lp)?;
        }
        Ok(())
    }

    /// The splice pipes' episode is over (a pipe was made, or the relay ends).
    pub(super) fn end_pipes_episode(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        let Some(ep) = self.pipes_exhausted.take() else {
            return Ok(());
        };
        lp.rep.emit(RelayExhausted {
            conn: TheRelay,
            episode: ep.end_event(None, PIPES),
        })
    }
}
