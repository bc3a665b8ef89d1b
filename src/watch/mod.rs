//! Watch mode: open the targets, register them with the event loop and report what it
//! sees. One-shot ends after the first wait that finds something; monitor (`-m`)
//! reports every change until the fds are gone.
//!
//! Monitor mode never spins. epoll registers edge-triggered, so each new write is one
//! event. Level-triggered registrations (select, poll, files under epoll, --oneshot)
//! are "parked" once reported: taken out of the main wait and re-checked every
//! `--interval` by a second backend of the same kind, until they change (parking.rs).
//!
//! The parts: slot.rs (each fd's state, one `Slot` per fd, by `Token`), parking.rs
//! (registration and parking), stream.rs (--read, --tee, --peek), socket.rs (accept,
//! connect, urgent data), exhausted.rs (running out of fds), ends.rs (hang-ups, FIFO
//! reopen, removal), finish.rs (the end of the run), book.rs (`--format tlpi`).

mod book;
mod ends;
mod exhausted;
mod finish;
mod parking;
mod slot;
mod socket;
mod stream;

use std::time::{Duration, Instant};

use crate::backend::{self, BackendKind, Book, Mode, Readiness, Registered};
use crate::describe::{self, Kind};
use crate::error::Result;
use crate::event::{FdBytes, FdError, Note, Ready, SignalCaught, Subject, TimedOut, Watching};
use crate::event_loop::{self, Client, EventLoop, Timing};
use crate::exhaust::Reserve;
use crate::net::Role;
use crate::open::WatchSet;
use crate::output::{Format, Output};
use crate::reader::ReadMode;
use crate::readiness::{Conditions, Raw};
use crate::report::Reporter;
use crate::signals::{self, Caught};
use crate::spec::Typed;
use crate::timeout::Timeout;
use exhausted::Exhaustion;
use parking::{Park, Parking};
use slot::{Slots, Token};
use stream::{Consumed, Reading};

/// What to watch and how (from the command line, typed once).
#[derive(Clone, Debug)]
pub struct Config {
    /// One-shot: how long to wait; monitor: the idle timeout.
    pub timeout: Timeout,
    pub specs: Vec<Typed>,
    pub backend: BackendKind,
    /// `--edge`, `--oneshot` (epoll registration modes).
    pub edge: bool,
    pub oneshot: bool,
    pub monitor: bool,
    /// `--count`: stop after N events.
    pub count: Option<u64>,
    /// `--until`: the events that end the run.
    pub until: Vec<crate::event::Until>,
    /// `--read` (or `--tee`'s count): consume data, and how to show it.
    pub read: Option<ReadMode>,
    pub read_size: usize,
    pub peek: bool,
    pub tee: bool,
    pub oobinline: bool,
    pub once: bool,
    /// How often parked fds are re-checked and FIFOs without a reader reopened.
    pub interval: Duration,
    /// `--signals`: caught and reported.
    pub signals: Vec<i32>,
    /// `--mask`: kept blocked through the wait.
    pub mask: Vec<i32>,
    pub output: Output,
    pub verbose: bool,
}

impl Config {
    /// The reporter for this run's output options.
    pub fn reporter(&self, start: Instant) -> Reporter<'static> {
        Reporter::new(self.output.printer(), start, self.count, self.verbose).until(&self.until)
    }

    /// Monitor mode with epoll registers edge-triggered (unless --oneshot): every new
    /// write is then one event, and an unconsumed fd cannot make the wait spin.
    fn edge_internally(&self) -> bool {
        self.monitor
            && self.backend.caps().monitor_edge.is_some()
            && !self.oneshot
            && !matches!(self.output.format, Format::Tlpi(_))
    }

    /// How the main backend registers the watched fds.
    fn mode(&self) -> Mode {
        Mode {
            edge: self.edge || self.edge_internally(),
            oneshot: self.oneshot,
        }
    }
}

pub fn run(cfg: &Config) -> Result<u8> {
    let start = Instant::now();
    crate::open::raise_nofile_limit();
    // Signals first: blocked before anything else happens (there are no threads).
    let mut caught = cfg.signals.clone();
    if cfg.monitor {
        // One the user keeps blocked with --mask stays blocked: it does not end the run.
        caught.extend(
            signals::TERMINATING
                .iter()
                .filter(|s| !cfg.signals.contains(s) && !cfg.mask.contains(s)),
        );
    }
    let signals = event_loop::block_signals(&caught, &cfg.mask)?;
    let timing = match (cfg.monitor, cfg.timeout) {
        (false, t) => Timing::Once(t),
        (true, Timeout::Forever) => Timing::Idle(None),
        (true, Timeout::After(d)) => Timing::Idle(Some(d)),
    };
    if cfg.output.format == Format::Tlpi(Book::EpollInput) {
        // As the book: the epoll instance first (its fd 3), then the paths, level-triggered.
        let main = backend::new(cfg.backend, Mode::default())?;
        let mut slots = Slots::with_room(cfg.specs.len());
        let set = WatchSet::open(&cfg.specs, &mut slots)?;
        let rep = cfg.reporter(start);
        let mut lp = EventLoop::new(main, cfg.backend, signals, true, rep, timing)?;
        return book::run(slots, set, &mut lp);
    }
    let mut slots = Slots::with_room(cfg.specs.len());
    let set = match WatchSet::open(&cfg.specs, &mut slots) {
        // Failed at once (a UNIX socket nobody listens on, or none at that path): one
        // line, and the status of a failed connect, as when the refusal comes later.
        Err(
            e @ crate::error::Error::Sys {
                call: "connect", ..
            },
        ) => {
            crate::report_error(&e.to_string());
            return Ok(finish::CONNECT_FAILED);
        }
        opened => opened?,
    };
    ends::until_possible(cfg, &slots, &set)?;
    let main = backend::new(cfg.backend, cfg.mode())?;
    let parking = Parking::new(cfg.backend, cfg.monitor, start + cfg.interval)?;
    let rep = cfg.reporter(start);
    let mut lp = EventLoop::new(main, cfg.backend, signals, cfg.monitor, rep, timing)?;
    let mut w = Watch::new(cfg, slots, set, parking);
    for t in w.slots.tokens() {
        w.register(&mut lp, t)?;
    }
    let end = lp.run(&mut w)?;
    w.finish(&mut lp, end)
}

/// Fds that left the set (their slots serve new ones): what the summary says of them.
#[derive(Default)]
struct Closed {
    /// Bytes read, with the order they joined the set.
    bytes: Vec<(u64, FdBytes)>,
    /// How many were ever reported ready.
    ready: u64,
    /// A connect failed (its fd left the set): one-shot's exit status 3.
    connect_failed: bool,
}

struct Watch<'c> {
    cfg: &'c Config,
    /// The watched fds and all watch mode keeps about each.
    slots: Slots,
    /// FIFOs waiting for a reader, `pid:` processes, socket files, notes.
    set: WatchSet,
    parking: Parking,
    reading: Reading,
    /// Fds whose read budget ran out mid-drain: read again without waiting.
    more: Vec<Token>,
    /// --read=count: fds with bytes counted and not yet in an event (due within
    /// --interval even when nothing more comes).
    counting: Vec<Token>,
    closed: Closed,
    exhaustion: Exhaustion,
}

impl<'c> Watch<'c> {
    fn new(cfg: &'c Config, slots: Slots, set: WatchSet, parking: Parking) -> Self {
        let reserve = slots
            .iter()
            .any(|s| s.watched.role == Role::Listener)
            .then(Reserve::new);
        Watch {
            cfg,
            slots,
            set,
            parking,
            reading: Reading::new(cfg),
            more: Vec::new(),
            counting: Vec::new(),
            closed: Closed::default(),
            exhaustion: Exhaustion::new(reserve),
        }
    }

    /// Consuming: --read or --tee, and the fd is watched for reading.
    fn reading(&self, t: Token) -> bool {
        self.cfg.read.is_some() && self.slots[t].watched.interest.read
    }

    fn oobinline(&self, t: Token) -> bool {
        self.cfg.oobinline && !self.slots[t].watched.shared()
    }

    /// One readiness report for fd `t`: report it if it changed, consume or peek,
    /// then decide what the fd needs so the next wait does not spin on it.
    fn ready(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: Token,
        cond: Conditions,
        raw: Raw,
    ) -> Result<()> {
        let w = &self.slots[t].watched;
        if self.slots[t].reg.is_none() || w.borrow().is_none() {
            return Ok(());
        }
        if w.role == Role::Connecting {
            return self.on_connected(lp, t, cond);
        }
        let reading = self.reading(t);
        let queued = self.report_ready(lp, t, cond, raw, reading)?;
        let w = &self.slots[t].watched;
        if w.role == Role::Listener {
            // Accepting drains the readiness, so there is nothing to park.
            return if cond.contains(Conditions::READ) {
                self.accept_all(lp, t)
            } else {
                Ok(())
            };
        }
        let socket = w.desc.kind == Kind::Socket;
        // The urgent byte is taken (or shown) before any normal read of this fd.
        if socket {
            if cond.contains(Conditions::URGENT) {
                self.on_pri(lp, t, reading)?;
            } else {
                self.slots[t].urgent.calm();
            }
        }
        let urgent_only = socket && cond.contains(Conditions::URGENT);
        let outcome = if reading && (readable(cond) || urgent_only) {
            self.consume(lp, t)?
        } else {
            Consumed::Drained
        };
        if self.cfg.monitor {
            self.settle(lp, t, cond, queued, outcome)?;
        }
        Ok(())
    }

    /// The `ready` event, when the readiness is news (then --peek shows the data);
    /// FIONREAD now.
    fn report_ready(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: Token,
        cond: Conditions,
        raw: Raw,
        reading: bool,
    ) -> Result<Option<i32>> {
        let slot = &mut self.slots[t];
        let w = &slot.watched;
        let Some(fd) = w.borrow() else {
            return Ok(None);
        };
        let queued = describe::queued(fd, w.desc.kind);
        if !slot.last.update(cond, raw, queued, !reading) {
            return Ok(queued);
        }
        lp.rep.emit(Ready {
            at: w.subject(),
            kind: w.desc.kind.name(),
            cond,
            raw,
            backend: self.cfg.backend.name(),
            fallback: lp.caps().fallback.filter(|_| raw.fallback),
            queued,
            pipe_size: describe::pipe_size(fd, w.desc.kind),
        })?;
        if self.cfg.peek
            && cond.contains(Conditions::READ)
            && w.interest.read
            && w.role == Role::Stream
        {
            self.peek(lp, t)?;
        }
        Ok(queued)
    }

    /// Monitor mode, after a readiness was handled: end the fd, or keep the next wait
    /// from spinning on it.
    fn settle(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: Token,
        cond: Conditions,
        queued: Option<i32>,
        outcome: Consumed,
    ) -> Result<()> {
        if cond.contains(Conditions::INVALID) {
            return self.remove(lp, t);
        }
        match outcome {
            Consumed::Eof | Consumed::Failed => return self.on_end(lp, t),
            // Deferred: out of the wait until its episode's retry.
            Consumed::More | Consumed::Deferred => return Ok(()),
            Consumed::Drained => {}
        }
        let reading = self.reading(t);
        let w = &self.slots[t].watched;
        if !reading && w.interest.read && ends::read_side_over(w, cond, queued) {
            return self.on_end(lp, t);
        }
        let folds = self.cfg.backend.caps().folds_hangup;
        if ends::write_side_over(w, cond, folds) || ends::connection_over(w, cond, folds) {
            return self.on_end(lp, t);
        }
        let consumed_all =
            reading && !cond.contains(Conditions::WRITE) && !cond.contains(Conditions::URGENT);
        match self.slots[t].reg {
            Some(Registered::OneShot) if consumed_all => {
                let w = &self.slots[t].watched;
                lp.backend.modify(w.raw, t.0, w.interest)
            }
            Some(Registered::Level | Registered::PollFallback(_) | Registered::OneShot)
                if !consumed_all =>
            {
                self.park(lp, t, cond)
            }
            _ => Ok(()),
        }
    }
}

/// Readiness that a read answers: data, or the end of it.
fn readable(c: Conditions) -> bool {
    c.intersects(Conditions::READ | Conditions::HANGUP | Conditions::RDHUP | Conditions::ERROR)
}

impl Client for Watch<'_> {
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
        if let (true, false, Some(how)) = (
            lp.rep.verbose() && self.cfg.edge_internally(),
            self.cfg.edge,
            self.cfg.backend.caps().monitor_edge,
        ) {
            let message = format!(
                "monitor mode registers {how}, so every new write is one event; raw shows \
                 what {} returned",
                lp.backend.call()
            );
            lp.rep.emit(Note {
                fd: None,
                message: &message,
            })?;
        }
        for n in &self.set.notes {
            lp.rep.emit(Note {
                fd: None,
                message: n,
            })?;
        }
        for p in &self.set.pending {
            lp.rep.emit(FdError {
                at: Subject {
                    fd: None,
                    what: &p.what,
                },
                errno: nix::errno::Errno::ENXIO,
                message: "no reader yet; retrying the open",
            })?;
        }
        self.parking.due = self.rechecking();
        Ok(())
    }

    fn on_ready(&mut self, lp: &mut EventLoop<'_>, r: &Readiness) -> Result<()> {
        // A parked socket's doorbell: urgent data came; look at it now.
        let t = Token(r.token);
        if self.parking.park(t) == Park::Doorbell {
            self.parking.ring = true;
            return Ok(());
        }
        self.ready(lp, t, r.cond, r.raw)
    }

    fn after_wait(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        if std::mem::take(&mut self.parking.ring) {
            self.recheck_parked(lp)?;
        }
        for t in std::mem::take(&mut self.more) {
            let last = self.slots[t].last;
            if let Some(raw) = last.raw {
                self.ready(lp, t, last.cond, raw)?;
            }
        }
        self.flush_due_counts(lp)?;
        self.retry_exhausted(lp)?;
        if self.parking.due && Instant::now() >= self.parking.next {
            self.recheck_parked(lp)?;
            self.recheck_foreign(lp)?;
            let tried = self.set.retry_pending()?;
            let opened: Vec<Token> = tried
                .opened
                .into_iter()
                .map(|w| self.slots.insert(w))
                .collect();
            for t in opened {
                self.register(lp, t)?;
            }
            self.pending_tried(lp, tried.ran_out, tried.got_fd)?;
            self.parking.next = Instant::now() + self.cfg.interval;
        }
        self.parking.due = self.rechecking();
        Ok(())
    }

    fn wake_in(&self, now: Instant) -> Option<Duration> {
        let mut wake = (!self.more.is_empty()).then_some(Duration::ZERO);
        let mut soonest = |d: Duration| wake = Some(wake.map_or(d, |w: Duration| w.min(d)));
        if self.parking.due {
            soonest(self.parking.next.saturating_duration_since(now));
        }
        for &t in &self.counting {
            if let Some(d) = self.slots[t].intake.tally_due_in(self.cfg.interval) {
                soonest(d);
            }
        }
        for &t in &self.exhaustion.in_episode {
            if let Some(d) = self.slots[t].exhausted.and_then(|ep| ep.wait(now)) {
                soonest(d);
            }
        }
        wake
    }

    fn done(&self) -> bool {
        self.slots.live() == 0 && self.set.pending.is_empty()
    }

    fn on_signal(&mut self, lp: &mut EventLoop<'_>, c: &Caught) -> Result<()> {
        report_caught(lp, c)
    }

    fn on_idle(&mut self, lp: &mut EventLoop<'_>, idle: Duration) -> Result<()> {
        lp.rep.emit(TimedOut { timeout: idle })
    }
}

/// A caught signal as watch mode reports it (the book's run too).
pub(super) fn report_caught(lp: &mut EventLoop<'_>, c: &Caught) -> Result<()> {
    let name = signals::name(c.signo);
    lp.rep.emit(SignalCaught {
        number: c.signo,
        name: &name,
        pid: Some(c.pid),
        uid: Some(c.uid),
        pending: false,
    })
}

impl Watch<'_> {
    /// Whether the next wait must wake for a recheck: parked fds, FIFOs waiting for a
    /// reader, or another process's fds (a file it closed must not stay open here).
    fn rechecking(&self) -> bool {
        !self.parking.parked.is_empty()
            || !self.set.pending.is_empty()
            || !self.set.processes.is_empty()
    }
}
