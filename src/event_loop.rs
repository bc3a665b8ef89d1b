//! The event loop that watch mode and the relay share. It owns the backend's main
//! wait, the signal set (blocked from the start, let in only inside the wait or through
//! the self-pipe), EINTR retried with the time left on the monotonic clock, the one-shot
//! deadline or the idle timeout, `--count` (through the reporter) and the exit status
//! (0, 1, 128+N). Its clients register fds, get normalized readiness and report events;
//! they never wait anywhere else, so signals are always heard.

use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::backend::{Backend, BackendKind, Readiness};
use crate::error::{Error, Result};
use crate::event::{Note, Ret, WaitCall};
use crate::readiness::Interest;
use crate::report::Reporter;
use crate::signals::{self, Caught, Signals};
use crate::timeout::{Deadline, Timeout};

/// The token of the signal self-pipe in the main wait (backends without a mask).
pub const SIGNAL_TOKEN: usize = usize::MAX;

/// How a run's time is bounded.
#[derive(Clone, Copy, Debug)]
pub enum Timing {
    /// One-shot: the first wait that finds something, within TIMEOUT.
    Once(Timeout),
    /// Until the client is done or stopped, or this long without activity.
    Idle(Option<Duration>),
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Nothing left to watch, `--count` reached, or the client stopped it.
    Done,
    /// One-shot: the wait found something.
    Found,
    /// One-shot: the timeout passed with nothing ready.
    Timeout,
    /// The idle timeout passed with no activity.
    Idle,
    /// A run-ending signal (SIGINT, SIGTERM, SIGHUP).
    Signal(i32),
    /// `--until`: this condition came.
    Until(crate::event::Until),
}

/// What a loop's client does with what the loop sees.
pub trait Client {
    /// Before the first wait, once the loop is set up: the client's `-v` notes.
    fn begin(&mut self, _lp: &mut EventLoop<'_>) -> Result<()> {
        Ok(())
    }
    /// One fd is ready (in token order within a wait).
    fn on_ready(&mut self, lp: &mut EventLoop<'_>, r: &Readiness) -> Result<()>;
    /// After each wait's readiness: rechecks, retries, work left over.
    fn after_wait(&mut self, _lp: &mut EventLoop<'_>) -> Result<()> {
        Ok(())
    }
    /// How soon the client needs the loop awake again, if sooner than the timeout.
    fn wake_in(&self, _now: Instant) -> Option<Duration> {
        None
    }
    /// Nothing left to watch.
    fn done(&self) -> bool {
        false
    }
    /// A caught signal, to report (the loop decides whether it ends the run).
    fn on_signal(&mut self, lp: &mut EventLoop<'_>, c: &Caught) -> Result<()>;
    /// The idle timeout passed, to report.
    fn on_idle(&mut self, lp: &mut EventLoop<'_>, idle: Duration) -> Result<()>;
}

/// Blocks `caught` and `masked`: call first, before any fd is opened or thread exists.
/// The handlers are installed by `EventLoop::new`, after the run's own fds are open.
pub fn block_signals(caught: &[i32], masked: &[i32]) -> Result<Option<signals::Blocked>> {
    Signals::block(caught, masked)
}

pub struct EventLoop<'a> {
    pub backend: Box<dyn Backend>,
    kind: BackendKind,
    signals: Option<Signals>,
    ends_run: bool,
    pub rep: Reporter<'a>,
    timing: Timing,
    deadline: Deadline,
    /// What the idle timeout measures from: the last event (watch) or the last
    /// traffic the client reported (`activity`, the relay).
    last_activity: Instant,
    events_are_activity: bool,
    /// Exit status of an idle end (watch 1, relay 0).
    idle_status: u8,
    stop: Option<End>,
    pub waits: u64,
    /// Waits that returned events (every 64th lets pending signals in).
    busy_waits: u64,
    /// Time spent inside the wait calls.
    pub blocked: Duration,
}

impl<'a> EventLoop<'a> {
    /// The loop over `backend`, arming the signals blocked at the start: `ends_run`
    /// makes SIGINT, SIGTERM and SIGHUP (caught then) end the run.
    pub fn new(
        backend: Box<dyn Backend>,
        kind: BackendKind,
        blocked: Option<signals::Blocked>,
        ends_run: bool,
        rep: Reporter<'a>,
        timing: Timing,
    ) -> Result<EventLoop<'a>> {
        let ending: &[i32] = if ends_run { &signals::TERMINATING } else { &[] };
        let signals = blocked
            .map(|b| b.arm(kind.takes_mask(), ending))
            .transpose()?;
        let start = rep.start;
        let deadline = match timing {
            Timing::Once(t) => Deadline::new(t, start),
            Timing::Idle(_) => Deadline::new(Timeout::Forever, start),
        };
        Ok(EventLoop {
            backend,
            kind,
            ends_run,
            signals,
            rep,
            timing,
            deadline,
            last_activity: start,
            events_are_activity: true,
            idle_status: 1,
            stop: None,
            waits: 0,
            busy_waits: 0,
            blocked: Duration::ZERO,
        })
    }

    /// The idle timeout counts the client's `activity` calls, not events (the relay:
    /// no traffic for that long), and ends the run with `status`.
    pub fn idle_by_activity(mut self, status: u8) -> EventLoop<'a> {
        self.events_are_activity = false;
        self.idle_status = status;
        self
    }

    pub fn signals(&self) -> Option<&Signals> {
        self.signals.as_ref()
    }

    /// What the backend can tell apart (e.g. whether errors are reported at all).
    pub fn caps(&self) -> crate::backend::Caps {
        self.kind.caps()
    }

    /// Something happened that keeps the idle timeout away.
    pub fn activity(&mut self) {
        self.last_activity = Instant::now();
    }

    /// Ends the run after this wait (the first reason given wins).
    pub fn stop(&mut self, end: End) {
        self.stop.get_or_insert(end);
    }

    /// What is left of a one-shot TIMEOUT (None: forever).
    pub fn left(&self, now: Instant) -> Option<Duration> {
        self.deadline.remaining(now)
    }

    fn monitor(&self) -> bool {
        matches!(self.timing, Timing::Idle(_))
    }

    /// Waits and dispatches until the run ends; says why.
    pub fn run(&mut self, client: &mut impl Client) -> Result<End> {
        if let Some(sig) = &self.signals
            && sig.wait_mask.is_none()
        {
            self.backend
                .add(sig.read_fd(), SIGNAL_TOKEN, Interest::READ)?;
        }
        if self.rep.verbose() && self.signals.is_some() {
            let how = if self.kind.takes_mask() {
                format!(
                    "signals are blocked except inside {} (its mask unblocks them)",
                    self.backend.call()
                )
            } else {
                format!(
                    "signals go to a self-pipe watched by {} (no mask in the call)",
                    self.backend.call()
                )
            };
            self.rep.emit(Note {
                fd: None,
                message: &how,
            })?;
        }
        client.begin(self)?;
        self.rep.flush()?;
        let mut end = self.turn(client)?;
        // Signals that came while the last wait was returning events are still pending
        // (blocked): let them in and report them, so none that came is lost; one that
        // ends runs decides the exit status as it would have a moment later.
        if let Some(sig) = &self.signals {
            sig.deliver_pending();
        }
        if let Some(n) = self.take_signals(client, true)?
            && !matches!(end, End::Signal(_))
        {
            end = End::Signal(n);
        }
        self.rep.flush()?;
        Ok(end)
    }

    /// The loop itself: waits and dispatches until the run ends.
    fn turn(&mut self, client: &mut impl Client) -> Result<End> {
        // Grows to what a wait returns; a one-shot check of two fds needs two.
        let mut ready: Vec<Readiness> = Vec::new();
        loop {
            self.before_wait(client)?;
            let now = Instant::now();
            let mut slice = self.time_left(client, now)?;
            if let Some(end) = self.stop {
                return Ok(end);
            }
            if let Some(w) = client.wake_in(now) {
                slice = Some(slice.map_or(w, |s| s.min(w)));
            }
            ready.clear();
            let before = self.rep.events;
            let res = self.wait(slice, &mut ready)?;
            // Reported before the events of the same wait; the self-pipe's own token
            // (select, poll) is not the client's.
            let signal_ready = ready.iter().any(|r| r.token == SIGNAL_TOKEN);
            self.take_signals(client, signal_ready)?;
            if signal_ready {
                ready.retain(|r| r.token != SIGNAL_TOKEN);
            }
            match res {
                // A signal interrupted the wait: reported; go on with the time left.
                Err(Errno::EINTR) => {
                    self.flush_wait(before)?;
                    continue;
                }
                Err(e) => return Err(Error::sys(self.kind.name(), self.backend.call(), e)),
                Ok(_) => {}
            }
            self.dispatch(client, &mut ready)?;
            // A one-shot check that found its fds ends here: its events go out with the
            // summary, a moment later, in one write.
            if !self.monitor() && !ready.is_empty() {
                return Ok(End::Found);
            }
            self.flush_wait(before)?;
        }
    }

    /// Before each wait: the signals its handlers caught while a full stdout was
    /// waited for (outside the wait) reported, and the run stopped when `--until`,
    /// `--count` or the client says so.
    fn before_wait(&mut self, client: &mut impl Client) -> Result<()> {
        let before = self.rep.events;
        self.take_signals(client, false)?;
        if self.rep.events > before {
            self.flush_wait(before)?;
        }
        if let Some(u) = self.rep.hit() {
            self.stop(End::Until(u));
        }
        if self.rep.limit_reached() || (self.monitor() && client.done()) {
            self.stop(End::Done);
        }
        Ok(())
    }

    /// What one wait returned, given to the client in the order it gave its fds
    /// (whatever order the backend used), then its after-wait work.
    fn dispatch(&mut self, client: &mut impl Client, ready: &mut [Readiness]) -> Result<()> {
        // A wait that returns events leaves pending signals blocked (the kernel
        // looks at events first): under steady load they would wait for an idle
        // moment. Every 64th such wait lets them in, so SIGTERM still ends a busy
        // run within a few milliseconds.
        if !ready.is_empty() {
            self.let_signals_in_now_and_then();
        }
        ready.sort_unstable_by_key(|r| r.token);
        for r in ready.iter() {
            client.on_ready(self, r)?;
        }
        client.after_wait(self)
    }

    /// The next wait's limit from the timeout or the idle time; stops the run when
    /// that time is up (an idle end tells the client first).
    fn time_left(&mut self, client: &mut impl Client, now: Instant) -> Result<Option<Duration>> {
        Ok(match self.timing {
            Timing::Once(_) => {
                if self.waits > 0 && self.deadline.remaining(now) == Some(Duration::ZERO) {
                    self.stop(End::Timeout);
                }
                self.deadline.remaining(now)
            }
            Timing::Idle(None) => None,
            Timing::Idle(Some(d)) => {
                if self.stop.is_none() && now >= self.last_activity + d {
                    client.on_idle(self, d)?;
                    self.stop(End::Idle);
                }
                Some((self.last_activity + d).saturating_duration_since(now))
            }
        })
    }

    /// Called after each wait that returned events; every 64th lets pending signals in.
    fn let_signals_in_now_and_then(&mut self) {
        self.busy_waits += 1;
        if self.busy_waits.is_multiple_of(64)
            && let Some(sig) = &self.signals
        {
            sig.deliver_pending();
        }
    }

    /// One wait of the main backend, with the signal mask, reported under `-v`.
    fn wait(
        &mut self,
        slice: Option<Duration>,
        ready: &mut Vec<Readiness>,
    ) -> Result<nix::Result<usize>> {
        let mask = self.signals.as_ref().and_then(|s| s.wait_mask.as_ref());
        let t0 = Instant::now();
        let res = self.backend.wait(slice, mask, ready);
        let took = t0.elapsed();
        self.waits += 1;
        self.blocked += took;
        self.rep.emit(WaitCall {
            call: self.backend.call(),
            timeout: slice,
            blocked: took,
            result: Ret(res),
        })?;
        Ok(res)
    }

    /// After a wait: events count as activity (watch mode), and go out now.
    fn flush_wait(&mut self, events_before: u64) -> Result<()> {
        if self.events_are_activity && self.rep.events > events_before {
            self.activity();
        }
        self.rep.flush()
    }

    /// The signals caught since the last look, reported by the client; SIGINT,
    /// SIGTERM and SIGHUP end a run that asked for it.
    /// Returns the first of them that ends the run.
    fn take_signals(&mut self, client: &mut impl Client, force: bool) -> Result<Option<i32>> {
        let Some(sig) = &self.signals else {
            return Ok(None);
        };
        let mut ending = None;
        for c in sig.take(force) {
            client.on_signal(self, &c)?;
            if self.ends_run && signals::TERMINATING.contains(&c.signo) {
                self.stop(End::Signal(c.signo));
                ending.get_or_insert(c.signo);
            }
        }
        Ok(ending)
    }

    /// The exit status for `end` (the man page's EXIT STATUS). A run ended by a signal dies by it, so
    /// the parent sees the real signal: the caller has cleaned up (nothing runs after).
    pub fn exit_status(&self, end: End) -> u8 {
        match end {
            End::Signal(n) => {
                signals::reraise(n);
                128u8.saturating_add(n as u8)
            }
            End::Done | End::Found => 0,
            End::Until(u) => u.status(),
            End::Timeout => 1,
            End::Idle => self.idle_status,
        }
    }
}
