//! Watch mode: open the targets, register them, wait (EINTR retried with the time left
//! on the monotonic clock) and report. One-shot ends after the first wait that finds
//! something; monitor (`-m`) reports every change until the fds are gone.
//!
//! Monitor mode never spins. epoll registers edge-triggered, so each new write is one
//! event. Level-triggered registrations (select, poll, files under epoll, --oneshot)
//! are "parked" once reported: taken out of the main wait and re-checked every
//! `--interval` by a second backend of the same kind, until they change.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::backend::{self, Backend, BackendKind, Mode, Readiness, Registered};
use crate::cli::Args;
use crate::describe::{self, Kind};
use crate::error::{Error, Result};
use crate::event::{Event, Exhausted, FdBytes, Summary, Urgent};
use crate::exhaust::{self, Episode, Reserve};
use crate::net::{self, Role};
use crate::open::WatchSet;
use crate::open::Watched;
use crate::output::Output;
use crate::reader::{self, Peeker, ReadMode, Source, Step};
use crate::readiness::Interest;
use crate::readiness::{Conditions, Raw};
use crate::report::Reporter;
use crate::signals::{self, Signals};
use crate::timeout::{Deadline, Timeout};
use crate::urgent::{self, Oob};

/// Reads per fd per wake-up before others get their turn; the rest follows without waiting.
const MAX_READS: usize = 16;

/// The reporter for a watch run's output options (stderr with --tee, where stdout
/// carries the data).
pub fn reporter(args: &Args, start: Instant) -> Reporter<'static> {
    let out = Output {
        format: args.format,
        time: args.time,
        color: args.color,
        quiet: args.quiet,
        to_stderr: args.tee,
    };
    Reporter::new(out.printer(), start, args.count, args.verbose)
}

pub fn run(args: &Args) -> Result<u8> {
    let start = Instant::now();
    crate::open::raise_nofile_limit();
    // Signals first: blocked before anything else happens (there are no threads).
    let mut caught: Vec<i32> = args
        .signals
        .as_ref()
        .map(|l| l.0.clone())
        .unwrap_or_default();
    if args.monitor {
        caught.extend(
            signals::TERMINATING
                .iter()
                .filter(|s| !caught.contains(s))
                .collect::<Vec<_>>(),
        );
    }
    let masked = args.mask.as_ref().map(|l| l.0.clone()).unwrap_or_default();
    let signals = Signals::setup(&caught, &masked, args.backend.takes_mask())?;
    if let (true, Some(s)) = (args.monitor, &signals) {
        s.ending(&signals::TERMINATING);
    }
    let set = WatchSet::open(&args.specs)?;
    // Monitor mode with epoll is edge-triggered internally (unless --oneshot).
    let mode = Mode {
        edge: args.edge || edge_internally(args),
        oneshot: args.oneshot,
    };
    let main = backend::new(args.backend, mode)?;
    let recheck = backend::new(args.backend, Mode::default())?;

    let rep = reporter(args, start);
    let n = set.fds.len();
    let mut engine = Engine {
        args,
        read_mode: args.read_mode(),
        set,
        main,
        recheck,
        tracks: Vec::with_capacity(n),
        closed_bytes: Vec::new(),
        closed_ready: 0,
        rep,
        // Only --read, --tee and --peek use it: a one-shot check should not pay for
        // zeroing 64 KiB (16 page faults, a measurable part of its start-up).
        buf: if args.read_mode().is_some() || args.peek {
            vec![0; args.read_size as usize]
        } else {
            Vec::new()
        },
        peeker: Peeker::default(),
        // With --tee the data goes to stdout (events to stderr).
        tee_out: args.tee.then(crate::outlet::Outlet::stdout),
        splice_ok: true,
        more: Vec::new(),
        stop: None,
        recheck_buf: Vec::new(),
        signals,
        live: 0,
        parked: std::collections::BTreeSet::new(),
        in_episode: Vec::new(),
        reserve: None,
    };
    if engine.set.fds.iter().any(|w| w.role == Role::Listener) {
        engine.reserve = Some(Reserve::new());
    }
    engine.run()
}

/// Why a monitor run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// All fds gone, --count reached, or --once.
    Done,
    /// The idle timeout passed with no event.
    Idle,
    /// SIGINT, SIGTERM or SIGHUP.
    Signal(i32),
}

/// What consuming an fd found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Read until EAGAIN: nothing left for now.
    Drained,
    /// The per-wake budget ran out; more follows without waiting.
    More,
    /// End of file.
    Eof,
    /// A read failed (reported as an error event).
    Failed,
}

/// Where a level-triggered fd that stays ready waits, so the main wait does not spin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Park {
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

/// Interest in urgent data alone (a parked socket's doorbell).
const URGENT_ONLY: Interest = Interest {
    read: false,
    write: false,
    urgent: true,
};

/// Per watched fd: how it is registered and what was last reported.
#[derive(Debug, Default)]
struct Track {
    /// How the main backend holds it; None once it left the set.
    reg: Option<Registered>,
    /// Out of the main wait, re-checked every --interval.
    park: Park,
    /// The conditions last reported, and FIONREAD then.
    state: Conditions,
    queued: Option<i32>,
    last_raw: Option<Raw>,
    ever_ready: bool,
    /// Where --read takes bytes from (private reopen for inherited fds).
    source: Option<Source>,
    total: u64,
    /// --read=count: bytes consumed but not yet in a data event.
    unreported: u64,
    first_data: Option<Instant>,
    last_data_event: Option<Instant>,
    /// An urgent byte taken with MSG_OOB, reported when reading reaches its mark.
    pending_oob: Option<u8>,
    /// SO_OOBINLINE: the mark is to be reported when reading reaches it.
    mark_pending: bool,
    /// Not consuming: the urgent byte last shown (to report it once, and a newer one
    /// replacing it).
    urgent_seen: Option<u8>,
    /// A "no urgent byte" (EINVAL/EOPNOTSUPP) was reported for this PRI episode.
    urgent_none_said: bool,
    /// Its accept (or reopen) ran out of a resource: out of every wait until retried.
    exhausted: Option<Episode>,
}

struct Engine<'a> {
    args: &'a Args,
    read_mode: Option<ReadMode>,
    set: WatchSet,
    main: Box<dyn Backend>,
    recheck: Box<dyn Backend>,
    tracks: Vec<Track>,
    /// What the summary says of fds removed (their slots serve new fds): bytes read,
    /// with the order they joined the set.
    closed_bytes: Vec<(u64, FdBytes)>,
    closed_ready: u64,
    rep: Reporter<'a>,
    buf: Vec<u8>,
    peeker: Peeker,
    /// --tee: where the data goes.
    tee_out: Option<crate::outlet::Outlet>,
    /// --tee with --read=count moves bytes with splice(2) until it says it cannot.
    splice_ok: bool,
    /// Fds whose budget ran out mid-drain.
    more: Vec<usize>,
    stop: Option<End>,
    recheck_buf: Vec<Readiness>,
    signals: Option<Signals>,
    /// Tracks still registered (so the loop knows when all fds are gone without a scan).
    live: usize,
    /// Tokens of parked fds, in order (re-checked every --interval).
    parked: std::collections::BTreeSet<usize>,
    /// Tokens of fds in an exhaustion episode (few; retried when their back-off ends).
    in_episode: Vec<usize>,
    /// The spare descriptor that lets a listener refuse clients when fds run out.
    reserve: Option<Reserve>,
}

/// The token of the signal self-pipe in the main backend (select, poll).
const SIGNAL_TOKEN: usize = usize::MAX;

/// --read=count: one data event for the bytes not yet reported.
fn flush_count(rep: &mut Reporter<'_>, w: &Watched, tr: &mut Track) -> Result<()> {
    if tr.unreported == 0 {
        return Ok(());
    }
    let now = Instant::now();
    let secs = tr
        .first_data
        .map_or(0.0, |f| now.duration_since(f).as_secs_f64());
    let rate = (secs > 0.0).then(|| tr.total as f64 / secs);
    let bytes = std::mem::take(&mut tr.unreported);
    tr.last_data_event = Some(now);
    rep.emit(&Event::Data {
        fd: w.fd,
        what: &w.desc.what,
        bytes,
        total: Some(tr.total),
        rate,
        text: None,
        hex: None,
    })
}

/// While consuming a socket: once the read position reaches the urgent mark, the
/// urgent byte taken earlier is reported, after the bytes that came before it.
/// Returns whether the read position is at the mark with the urgent byte already
/// taken (or none there): then a normal read may pass the mark, and must, because
/// TCP's FIONREAD counts only the bytes before the mark and says 0 there.
fn urgent_at_mark(
    rep: &mut Reporter<'_>,
    w: &Watched,
    tr: &mut Track,
    fd: BorrowedFd<'_>,
    oobinline: bool,
) -> Result<bool> {
    if w.desc.kind != Kind::Socket || urgent::at_mark(fd) != Some(true) {
        return Ok(false);
    }
    // At the mark with no byte taken yet (it came after the wake-up, or the socket is
    // watched without `e`): take it now, before the next normal read.
    let byte = match tr.pending_oob.take() {
        Some(b) => Some(b),
        None if tr.mark_pending => None,
        None => match urgent::take(fd, false) {
            Oob::Byte(b) => Some(b),
            // Announced but not here yet: reading on would skip it.
            Oob::NotYet => return Ok(false),
            // SO_OOBINLINE: the byte is the next one in the stream; mark its place
            // (reading it moves past the mark, so this is said once).
            Oob::NoByte if oobinline => {
                tr.mark_pending = true;
                None
            }
            Oob::Failed(e) => {
                oob_failed(rep, w, e)?;
                return Ok(false);
            }
            _ => return Ok(true),
        },
    };
    flush_count(rep, w, tr)?;
    let inline = std::mem::take(&mut tr.mark_pending) && byte.is_none();
    rep.emit(&Event::Urgent(Urgent {
        fd: w.fd,
        what: &w.desc.what,
        byte,
        atmark: Some(true),
        offset: tr.total,
        peek: false,
        inline,
        replaced: None,
        errno: None,
    }))?;
    Ok(true)
}

/// recv(MSG_OOB) failed: an event if the connection is over (its read says the rest),
/// a system error otherwise (ENOMEM...): the urgent byte cannot be taken, and reading
/// on would destroy it.
fn oob_failed(rep: &mut Reporter<'_>, w: &Watched, e: Errno) -> Result<()> {
    if !net::connection_lost(e) {
        return Err(Error::sys(
            format!("fd {} ({})", w.fd, w.desc.what),
            "recv(MSG_OOB)",
            e,
        ));
    }
    rep.emit(&Event::Error {
        fd: Some(w.fd),
        what: &w.desc.what,
        errno: e,
        message: "recv(MSG_OOB) failed",
    })
}

fn readable(c: Conditions) -> bool {
    c.contains(Conditions::READ)
        || c.contains(Conditions::HANGUP)
        || c.contains(Conditions::RDHUP)
        || c.contains(Conditions::ERROR)
}

/// Monitor mode with epoll registers edge-triggered (unless --oneshot): every new write
/// is then one event, and an unconsumed fd cannot make the wait spin.
fn edge_internally(args: &Args) -> bool {
    args.monitor && args.backend == BackendKind::Epoll && !args.oneshot
}

impl Engine<'_> {
    fn monitor(&self) -> bool {
        self.args.monitor
    }

    fn internal_edge(&self) -> bool {
        edge_internally(self.args) && !self.args.edge
    }

    fn run(&mut self) -> Result<u8> {
        let start = self.rep.start;
        for t in 0..self.set.fds.len() {
            self.register(t)?;
        }
        if let Some(sig) = &self.signals
            && sig.wait_mask.is_none()
        {
            let read_only = Interest::READ;
            self.main.add(sig.read_fd(), SIGNAL_TOKEN, read_only)?;
        }
        if self.rep.verbose() && self.signals.is_some() {
            let how = if self.args.backend.takes_mask() {
                format!(
                    "signals are blocked except inside {} (its mask unblocks them)",
                    self.main.call()
                )
            } else {
                format!(
                    "signals go to a self-pipe watched by {} (no mask in the call)",
                    self.main.call()
                )
            };
            self.rep.emit(&Event::Note {
                fd: None,
                message: &how,
            })?;
        }
        if self.rep.verbose() && self.internal_edge() {
            self.rep.emit(&Event::Note {
                fd: None,
                message: "monitor mode registers each fd with EPOLLET (edge-triggered), so \
                          every new write is one event; raw shows what epoll_wait returned",
            })?;
        }
        for n in &self.set.notes {
            self.rep.emit(&Event::Note {
                fd: None,
                message: n,
            })?;
        }
        for p in &self.set.pending {
            self.rep.emit(&Event::Error {
                fd: None,
                what: &p.what,
                errno: Errno::ENXIO,
                message: "no reader yet; retrying the open",
            })?;
        }
        self.rep.flush()?;

        let deadline = Deadline::new(self.args.timeout, start);
        let idle = match self.args.timeout {
            Timeout::Forever => None,
            Timeout::After(d) => Some(d),
        };
        let interval = self.args.interval;
        let mut last_event_at = start;
        let mut next_recheck = start + interval;
        let mut ready: Vec<Readiness> = Vec::with_capacity(self.set.fds.len());
        let (mut waits, mut blocked, mut found) = (0u64, Duration::ZERO, false);
        loop {
            if self.rep.limit_reached() {
                self.stop = Some(End::Done);
            }
            let now = Instant::now();
            if self.monitor() {
                if self.live == 0 && self.set.pending.is_empty() {
                    self.stop.get_or_insert(End::Done);
                }
                if self.stop.is_none()
                    && let Some(d) = idle
                    && now >= last_event_at + d
                {
                    self.rep.emit(&Event::Timeout { timeout: d })?;
                    self.stop = Some(End::Idle);
                }
            } else if waits > 0 && deadline.remaining(now) == Some(Duration::ZERO) {
                break;
            }
            if self.stop.is_some() {
                break;
            }
            let mut slice = if self.monitor() {
                idle.map(|d| (last_event_at + d).saturating_duration_since(now))
            } else {
                deadline.remaining(now)
            };
            if !self.more.is_empty() {
                slice = Some(Duration::ZERO);
            }
            // Another process's fds are re-checked too: a file it closed must not stay
            // open behind its back in fdwatch.
            let rechecking = !self.parked.is_empty()
                || !self.set.pending.is_empty()
                || !self.set.processes.is_empty();
            if rechecking {
                let until = next_recheck.saturating_duration_since(now);
                slice = Some(slice.map_or(until, |s| s.min(until)));
            }
            for &t in &self.in_episode {
                if let Some(until) = self.tracks[t].exhausted.and_then(|ep| ep.wait(now)) {
                    slice = Some(slice.map_or(until, |s| s.min(until)));
                }
            }

            ready.clear();
            let t0 = Instant::now();
            let mask = self.signals.as_ref().and_then(|s| s.wait_mask.as_ref());
            let res = self.main.wait(slice, mask, &mut ready);
            let took = t0.elapsed();
            waits += 1;
            blocked += took;
            self.rep.emit(&Event::Wait {
                call: self.main.call(),
                timeout: slice,
                blocked: took,
                result: res,
            })?;
            let before = self.rep.events;
            self.take_signals()?;
            ready.retain(|r| r.token != SIGNAL_TOKEN);
            match res {
                // A signal interrupted the wait: report it now, go on with the time left.
                Err(Errno::EINTR) => {
                    if self.rep.events > before {
                        last_event_at = Instant::now();
                    }
                    self.rep.flush()?;
                    continue;
                }
                Err(e) => return Err(Error::sys(self.args.backend.name(), self.main.call(), e)),
                Ok(_) => {}
            }
            // Report in the order the specs named the fds, whatever order the backend used.
            ready.sort_unstable_by_key(|r| r.token);
            let mut ring = false;
            for r in &ready {
                // A parked socket's doorbell: urgent data came; look at it now.
                if self
                    .tracks
                    .get(r.token)
                    .is_some_and(|tr| tr.park == Park::Doorbell)
                {
                    ring = true;
                    continue;
                }
                self.on_ready(r.token, r.cond, r.raw)?;
            }
            if ring {
                self.recheck_parked()?;
            }
            for t in std::mem::take(&mut self.more) {
                let (cond, raw) = (self.tracks[t].state, self.tracks[t].last_raw);
                if let Some(raw) = raw {
                    self.on_ready(t, cond, raw)?;
                }
            }
            self.retry_exhausted()?;
            if rechecking && Instant::now() >= next_recheck {
                self.recheck_parked()?;
                self.recheck_foreign()?;
                for t in self.set.retry_pending()? {
                    self.register(t)?;
                }
                next_recheck = Instant::now() + interval;
            }
            if self.rep.events > before {
                last_event_at = Instant::now();
            }
            self.rep.flush()?;
            if !self.monitor() && !ready.is_empty() {
                found = true;
                break;
            }
        }
        self.finish(deadline, waits, blocked, found)
    }

    /// Final count-mode data, the timeout (one-shot), the summary; the exit status.
    fn finish(
        &mut self,
        deadline: Deadline,
        waits: u64,
        blocked: Duration,
        found: bool,
    ) -> Result<u8> {
        for t in 0..self.tracks.len() {
            self.flush_urgent(t)?;
            self.flush_count(t)?;
        }
        // Episodes still going: their event says how long so far.
        for t in self.in_episode.clone() {
            self.end_episode(t)?;
        }
        let now = Instant::now();
        if !self.monitor()
            && !found
            && let Timeout::After(t) = self.args.timeout
        {
            self.rep.emit(&Event::Timeout { timeout: t })?;
        }
        let bytes = if self.read_mode.is_some() {
            let live = self
                .set
                .fds
                .iter()
                .zip(&self.tracks)
                .filter(|(w, _)| {
                    w.borrow().is_some() && w.interest.read && w.role != Role::Listener
                })
                .map(|(w, t)| {
                    let b = FdBytes {
                        fd: w.fd,
                        what: w.desc.what.clone(),
                        bytes: t.total,
                    };
                    (w.seq, b)
                });
            let mut all: Vec<(u64, FdBytes)> = std::mem::take(&mut self.closed_bytes)
                .into_iter()
                .chain(live)
                .collect();
            // In the order the fds joined the set, as before slots were reused.
            all.sort_by_key(|(seq, _)| *seq);
            all.into_iter().map(|(_, b)| b).collect()
        } else {
            Vec::new()
        };
        let summary = Summary {
            backend: self.args.backend.name(),
            waits,
            events: self.rep.events,
            ready_fds: self.closed_ready
                + self.tracks.iter().filter(|t| t.ever_ready).count() as u64,
            blocked,
            timeout: self.args.timeout,
            left: if self.monitor() {
                None
            } else {
                deadline.remaining(now)
            },
            elapsed: now.duration_since(self.rep.start),
            bytes,
        };
        if let Some(sig) = &self.signals {
            for n in sig.pending_masked() {
                let name = signals::name(n);
                self.rep.emit(&Event::Signal {
                    number: n,
                    name: &name,
                    pid: None,
                    uid: None,
                    pending: true,
                })?;
            }
        }
        self.rep.emit(&Event::Summary(&summary))?;
        self.rep.flush()?;
        // Death by a signal runs no destructors: socket files go now.
        self.set.bound.clear();
        if let Some(End::Signal(n)) = self.stop {
            signals::reraise(n);
            return Ok(128u8.saturating_add(n as u8));
        }
        // Watched fds stay registered until the process ends: the epoll instance and
        // the owned fds close together at exit, and inherited fds are never touched.
        Ok(match (self.monitor(), self.stop) {
            (true, Some(End::Idle)) => 1,
            (true, _) => 0,
            (false, _) => u8::from(!found),
        })
    }

    /// Reports the signals caught since the last look; SIGINT, SIGTERM and SIGHUP end
    /// a monitor run.
    fn take_signals(&mut self) -> Result<()> {
        let Some(sig) = &self.signals else {
            return Ok(());
        };
        for c in sig.take() {
            let name = signals::name(c.signo);
            self.rep.emit(&Event::Signal {
                number: c.signo,
                name: &name,
                pid: Some(c.pid),
                uid: Some(c.uid),
                pending: false,
            })?;
            if self.monitor() && signals::TERMINATING.contains(&c.signo) {
                self.stop = Some(End::Signal(c.signo));
            }
        }
        Ok(())
    }

    /// Registers `set.fds[t]` with the main backend (saying under -v when epoll
    /// refused it and poll stands in).
    fn register(&mut self, t: usize) -> Result<()> {
        let w = &self.set.fds[t];
        // A connect in progress finishes as writability (or an error).
        let interest = if w.role == Role::Connecting {
            w.interest.merge(Interest {
                write: true,
                ..Interest::default()
            })
        } else {
            w.interest
        };
        if self.args.oobinline
            && w.desc.kind == Kind::Socket
            && !w.shared()
            && let Some(fd) = w.borrow()
        {
            net::set_oobinline(fd)
                .map_err(|e| Error::sys(format!("fd {}", w.fd), "setsockopt(SO_OOBINLINE)", e))?;
        }
        let reg = self.main.add(w.raw, t, interest)?;
        if let Registered::PollFallback(e) = reg {
            let msg = format!(
                "epoll_ctl refused {} ({e:?}); poll checks it instead (files and devices are always ready)",
                w.desc.what
            );
            self.rep.emit(&Event::Note {
                fd: Some(w.fd),
                message: &msg,
            })?;
        }
        if t >= self.tracks.len() {
            self.tracks.resize_with(t + 1, Track::default);
        }
        // A fresh track; whatever an earlier one counted is released through the setters.
        self.set_reg(t, None);
        self.set_park(t, Park::No);
        self.tracks[t] = Track::default();
        self.set_reg(t, Some(reg));
        Ok(())
    }

    /// The only place `reg` changes, so `live` stays the count of registered fds.
    fn set_reg(&mut self, t: usize, reg: Option<Registered>) {
        let tr = &mut self.tracks[t];
        match (tr.reg.is_some(), reg.is_some()) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
        tr.reg = reg;
    }

    /// The only place `park` changes, so the set of parked tokens stays in step.
    fn set_park(&mut self, t: usize, park: Park) {
        self.tracks[t].park = park;
        if park != Park::No {
            self.parked.insert(t);
        } else {
            self.parked.remove(&t);
        }
    }

    /// One readiness report for fd `t`: report it if it changed, consume or peek,
    /// then decide what the fd needs so the next wait does not spin on it.
    fn on_ready(&mut self, t: usize, cond: Conditions, raw: Raw) -> Result<()> {
        if self.tracks[t].reg.is_none() {
            return Ok(());
        }
        let w = &self.set.fds[t];
        let Some(fd) = w.borrow() else {
            return Ok(());
        };
        if w.role == Role::Connecting {
            return self.on_connected(t, cond);
        }
        let reading = self.read_mode.is_some() && w.interest.read;
        let queued = describe::queued(fd, w.desc.kind);
        let tr = &mut self.tracks[t];
        tr.last_raw = Some(raw);
        let more_data =
            !reading && cond.contains(Conditions::READ) && queued.is_some() && queued != tr.queued;
        let changed = cond != tr.state || more_data;
        if changed {
            tr.state = cond;
            tr.queued = queued;
            tr.ever_ready = true;
            self.rep.emit(&Event::Ready {
                fd: w.fd,
                what: &w.desc.what,
                kind: w.desc.kind.name(),
                cond,
                raw,
                backend: self.args.backend.name(),
                queued,
                pipe_size: describe::pipe_size(fd, w.desc.kind),
            })?;
            if self.args.peek
                && cond.contains(Conditions::READ)
                && w.interest.read
                && w.role == Role::Stream
            {
                self.peek(t)?;
            }
        }
        let w = &self.set.fds[t];
        if w.role == Role::Listener {
            // Accepting drains the readiness, so there is nothing to park.
            return if cond.contains(Conditions::READ) {
                self.accept_all(t)
            } else {
                Ok(())
            };
        }
        // The urgent byte is taken before any normal read of this fd.
        if w.desc.kind == Kind::Socket {
            if cond.contains(Conditions::URGENT) {
                self.on_urgent(t, reading)?;
            } else {
                let tr = &mut self.tracks[t];
                tr.urgent_seen = None;
                tr.urgent_none_said = false;
            }
        }
        let outcome = if reading && readable(cond) {
            self.consume(t)?
        } else {
            // A lone urgent byte comes with PRI alone: nothing to read, and nothing may
            // follow it, so its place is now (the bytes before it were read).
            if reading && self.tracks[t].pending_oob.is_some() {
                let w = &self.set.fds[t];
                if let Some(fd) = w.borrow() {
                    let oobinline = self.args.oobinline && !w.shared();
                    urgent_at_mark(&mut self.rep, w, &mut self.tracks[t], fd, oobinline)?;
                }
            }
            Outcome::Drained
        };
        if !self.monitor() {
            return Ok(());
        }
        let w = &self.set.fds[t];
        let (read_side, write_only) = (w.interest.read, w.interest.write && !w.interest.read);
        if cond.contains(Conditions::INVALID) {
            return self.remove(t);
        }
        match outcome {
            Outcome::Eof | Outcome::Failed => return self.on_end(t),
            Outcome::More => return Ok(()),
            Outcome::Drained => {}
        }
        // Not reading: a hang-up with nothing left queued is the end of this writer;
        // a FIFO is reopened even with bytes still queued (they stay in the pipe).
        // The select family folds hang-up into "readable"; for a pipe or FIFO,
        // readable with nothing queued says the same (read would return 0).
        let pipe_like = matches!(w.desc.kind, Kind::Pipe | Kind::Fifo);
        // A TCP peer that closed gives RDHUP and no HUP (REPORT row 28-29); the select
        // family shows neither, only "readable", and a poll for POLLRDHUP tells. Such a
        // stream is over for a watcher that does not read: it is released, unread data
        // or not (holding it would keep one fd per departed client for good).
        let stream = w.desc.kind == Kind::Socket && w.role == Role::Stream;
        let peer_done = stream
            && !w.interest.write
            && (cond.intersects(Conditions::RDHUP | Conditions::HANGUP)
                || (cond.contains(Conditions::READ)
                    && w.borrow().is_some_and(describe::peer_closed)));
        let hung_up = cond.contains(Conditions::HANGUP)
            || (pipe_like && cond.contains(Conditions::READ) && queued == Some(0));
        let over = peer_done || (hung_up && (w.owned_fifo() || queued.unwrap_or(0) == 0));
        if !reading && read_side && over {
            return self.on_end(t);
        }
        // A write end whose reader left stays in error for good. The select family
        // shows it only as "writable", so for pipes and FIFOs poll is asked.
        let select_family = matches!(
            self.args.backend,
            BackendKind::Select | BackendKind::Pselect
        );
        let reader_gone = || {
            w.borrow()
                .is_some_and(|fd| describe::reader_gone(fd, w.desc.kind))
        };
        if write_only && (cond.contains(Conditions::ERROR) || (select_family && reader_gone())) {
            return self.on_end(t);
        }
        let consumed_all =
            reading && !cond.contains(Conditions::WRITE) && !cond.contains(Conditions::URGENT);
        match self.tracks[t].reg {
            Some(Registered::OneShot) if consumed_all => {
                let w = &self.set.fds[t];
                self.main.modify(w.raw, t, w.interest)
            }
            Some(Registered::Level | Registered::PollFallback(_) | Registered::OneShot)
                if !consumed_all =>
            {
                self.park(t, cond)
            }
            _ => Ok(()),
        }
    }

    /// Reads what fd `t` has (up to MAX_READS reads), tees it, reports it.
    fn consume(&mut self, t: usize) -> Result<Outcome> {
        let Some(mode) = self.read_mode else {
            return Ok(Outcome::Drained);
        };
        let w = &self.set.fds[t];
        let Some(fd) = w.borrow() else {
            return Ok(Outcome::Drained);
        };
        let kind = w.desc.kind;
        let tr = &mut self.tracks[t];
        if tr.source.is_none() {
            tr.source = Some(Source::for_watched(w, fd)?);
        }
        // Out of the track while reading (the loop updates the track); back after.
        let Some(source) = tr.source.take() else {
            return Ok(Outcome::Drained);
        };
        let src = &source;
        let tee = self.args.tee;
        let oobinline = self.args.oobinline && !w.shared();
        let mut use_splice = tee && mode == ReadMode::Count && self.splice_ok && src.is_pipe(kind);
        let mut outcome = Outcome::More;
        let mut failed: Option<(&'static str, Errno)> = None;
        let mut reads = 0;
        let total_before = tr.total;
        while reads < MAX_READS {
            // Reads never cross the urgent mark, so checking before each read
            // reports the urgent byte exactly between the bytes around it. For a
            // socket, FIONREAD is taken first: see reader::read_socket.
            let s = if kind == Kind::Socket {
                let queued = describe::queued(fd, kind).unwrap_or(0);
                let past_mark = urgent_at_mark(&mut self.rep, w, tr, fd, oobinline)?;
                let bound = if past_mark {
                    self.buf.len() as i32
                } else {
                    queued
                };
                reader::read_socket(src, bound, &mut self.buf)
            } else if let (true, Some(out)) = (use_splice, self.tee_out.as_mut()) {
                reader::splice_to(out, src, self.buf.len())?
            } else {
                reader::read(src, kind, &mut self.buf)
            };
            match s {
                Step::Data(n) => {
                    reads += 1;
                    if let (false, Some(out)) = (use_splice, self.tee_out.as_mut()) {
                        reader::write_all(out, &self.buf[..n])?;
                    }
                    let offset = tr.total;
                    tr.total += n as u64;
                    let now = Instant::now();
                    tr.first_data.get_or_insert(now);
                    match mode {
                        ReadMode::Count => tr.unreported += n as u64,
                        ReadMode::Text | ReadMode::Hex => {
                            let bytes = &self.buf[..n];
                            let (text, rows) = if mode == ReadMode::Text {
                                (Some(crate::escape::bytes(bytes)), None)
                            } else {
                                (None, Some(reader::hex_rows(offset, bytes)))
                            };
                            self.rep.emit(&Event::Data {
                                fd: w.fd,
                                what: &w.desc.what,
                                bytes: n as u64,
                                total: Some(tr.total),
                                rate: None,
                                text: text.as_deref(),
                                hex: rows.as_deref(),
                            })?;
                        }
                    }
                }
                Step::Again => {
                    outcome = Outcome::Drained;
                    break;
                }
                Step::Eof => {
                    outcome = Outcome::Eof;
                    break;
                }
                // Counts against the budget, so a busy socket cannot hold the loop.
                Step::Retry => reads += 1,
                // splice cannot serve this pair (stdout a tty, say): read and write instead.
                Step::Fail("splice", Errno::EINVAL) if use_splice => {
                    self.splice_ok = false;
                    use_splice = false;
                }
                // The reader of our stdout left: a quiet end, as for the events.
                Step::Fail("splice", Errno::EPIPE) if tee => {
                    return Err(Error::Output(io::ErrorKind::BrokenPipe.into()));
                }
                // Reported after the bytes read before it (see below).
                Step::Fail(call, e) => {
                    failed = Some((call, e));
                    outcome = Outcome::Failed;
                    break;
                }
            }
        }
        // Budget spent without a byte (only retries): wait for the next readiness
        // rather than come straight back.
        if outcome == Outcome::More && tr.total == total_before {
            outcome = Outcome::Drained;
        }
        if outcome == Outcome::More {
            self.more.push(t);
        } else {
            urgent_at_mark(&mut self.rep, w, tr, fd, oobinline)?;
        }
        tr.source = Some(source);
        let due = tr
            .last_data_event
            .is_none_or(|at| at.elapsed() >= self.args.interval);
        if matches!(outcome, Outcome::Eof | Outcome::Failed) || due {
            self.flush_count(t)?;
        }
        if let Some((call, e)) = failed {
            let w = &self.set.fds[t];
            // A connection that ended badly is an event and that fd's end; anything
            // else (EIO, ENOMEM...) is a system error that ends the run (exit 2).
            if !(kind == Kind::Socket && net::connection_lost(e)) {
                return Err(Error::sys(
                    format!("fd {} ({})", w.fd, w.desc.what),
                    call,
                    e,
                ));
            }
            let msg = format!("{call} failed");
            self.rep.emit(&Event::Error {
                fd: Some(w.fd),
                what: &w.desc.what,
                errno: e,
                message: &msg,
            })?;
        }
        if outcome == Outcome::Eof {
            let w = &self.set.fds[t];
            self.rep.emit(&Event::Eof {
                fd: w.fd,
                what: &w.desc.what,
                total: self.tracks[t].total,
            })?;
        }
        Ok(outcome)
    }

    /// --read=count: one data event for the bytes not yet reported (at most one per
    /// --interval per fd, so a fast stream is a readable trickle of events).
    fn flush_count(&mut self, t: usize) -> Result<()> {
        flush_count(&mut self.rep, &self.set.fds[t], &mut self.tracks[t])
    }

    /// --peek: what is queued, without consuming it.
    fn peek(&mut self, t: usize) -> Result<()> {
        let w = &self.set.fds[t];
        let Some(fd) = w.borrow() else {
            return Ok(());
        };
        let got = match self.peeker.peek(fd, w.desc.kind, &mut self.buf) {
            Ok(got) => got,
            // A socket that is not connected yet, say: reported, and the run goes on.
            Err(Error::Sys { errno, call, .. }) => {
                let msg = format!("{call} failed");
                return self.rep.emit(&Event::Error {
                    fd: Some(w.fd),
                    what: &w.desc.what,
                    errno,
                    message: &msg,
                });
            }
            Err(e) => return Err(e),
        };
        let (bytes, text) = match got {
            Some(n) => (n as u64, Some(crate::escape::bytes(&self.buf[..n]))),
            None => (
                describe::queued(fd, w.desc.kind).unwrap_or(0).max(0) as u64,
                None,
            ),
        };
        self.rep.emit(&Event::Data {
            fd: w.fd,
            what: &w.desc.what,
            bytes,
            total: None,
            rate: None,
            text: text.as_deref(),
            hex: None,
        })
    }

    /// A non-blocking connect finished: report SO_ERROR, then watch the user's letters.
    fn on_connected(&mut self, t: usize, cond: Conditions) -> Result<()> {
        let done = cond.contains(Conditions::WRITE)
            || cond.contains(Conditions::ERROR)
            || cond.contains(Conditions::HANGUP);
        let w = &self.set.fds[t];
        let Some(fd) = w.borrow().filter(|_| done) else {
            return Ok(());
        };
        let error = net::connect_error(fd);
        self.tracks[t].ever_ready = true;
        self.rep.emit(&Event::Connect {
            fd: w.fd,
            what: &w.desc.what,
            error,
        })?;
        if error.is_some() {
            return self.remove(t);
        }
        // Connected: now it has a peer to show, and only the user's letters matter.
        let desc = describe::describe(fd);
        let w = &mut self.set.fds[t];
        w.desc = desc;
        w.role = Role::Stream;
        self.main.modify(w.raw, t, w.interest)
    }

    /// Accepts every pending connection on listener `t`; each joins the watch set
    /// with the listener's letters.
    fn accept_all(&mut self, t: usize) -> Result<()> {
        let (listener, interest) = (self.set.fds[t].fd, self.set.fds[t].interest);
        loop {
            let Some(fd) = self.set.fds[t].borrow() else {
                return Ok(());
            };
            let (sock, peer) = match net::accept(fd) {
                Ok(Some(a)) => a,
                Ok(None) => return self.rearm(t),
                // Out of fds or memory: back off (see exhaust.rs), never spin.
                Err(e) if exhaust::is_exhaustion(e) => return self.exhausted(t, "accept", e),
                Err(e) => {
                    // Another failure: reported, and the listener re-checked at the
                    // bounded rate instead of spinning on it.
                    let w = &self.set.fds[t];
                    self.rep.emit(&Event::Error {
                        fd: Some(listener),
                        what: &w.desc.what,
                        errno: e,
                        message: "accept failed",
                    })?;
                    return self.park(t, Conditions::READ);
                }
            };
            if let Some(ep) = self.tracks[t].exhausted {
                // Served again: the listener goes back into the wait.
                if !ep.armed() {
                    let w = &self.set.fds[t];
                    self.main.add(w.raw, t, w.interest)?;
                }
                self.end_episode(t)?;
            }
            let n = self.set.push_socket(sock, Role::Stream, interest);
            if let Err(e) = self.register(n) {
                // select cannot take fds >= FD_SETSIZE: refuse this one, keep serving.
                let w = &self.set.fds[n];
                let msg = e.to_string();
                self.rep.emit(&Event::Error {
                    fd: Some(w.fd),
                    what: &w.desc.what,
                    errno: Errno::EMFILE,
                    message: &msg,
                })?;
                self.set.release(n);
                continue;
            }
            let w = &self.set.fds[n];
            self.rep.emit(&Event::Accept {
                fd: w.fd,
                what: &w.desc.what,
                listener,
                peer: &peer,
            })?;
        }
    }

    /// `call` ran out of a resource for fd `t` (a listener's accept, a FIFO's reopen):
    /// refuse the clients waiting (the reserve descriptor), take the fd out of every
    /// wait and try again after the back-off or once a descriptor is freed.
    fn exhausted(&mut self, t: usize, call: &'static str, errno: Errno) -> Result<()> {
        let refused = match (self.set.fds[t].borrow(), self.reserve.as_mut()) {
            (Some(fd), Some(r)) if self.set.fds[t].role == Role::Listener => r.refuse_pending(fd),
            _ => 0,
        };
        let new = self.tracks[t].exhausted.is_none();
        let leave = Episode::record(&mut self.tracks[t].exhausted, call, errno);
        if let Some(ep) = self.tracks[t].exhausted.as_mut() {
            ep.refused += refused;
        }
        if !leave {
            return Ok(());
        }
        // Out of the waits: readiness it cannot act on would only spin the loop.
        let raw = self.set.fds[t].raw;
        let ep = self.tracks[t].exhausted.take();
        self.unregister_fd(t, raw)?;
        self.set_park(t, Park::No);
        self.tracks[t].exhausted = ep;
        if !new {
            return Ok(());
        }
        self.in_episode.push(t);
        if let Some(ep) = &self.tracks[t].exhausted {
            let note = ep.note();
            let w = &self.set.fds[t];
            self.rep.emit(&Event::Note {
                fd: Some(w.fd),
                message: &note,
            })?;
        }
        Ok(())
    }

    /// A try in an episode found nobody waiting on listener `t`: back into the wait
    /// (the next client decides whether the episode is over).
    fn rearm(&mut self, t: usize) -> Result<()> {
        let Some(ep) = self.tracks[t].exhausted.as_mut().filter(|ep| !ep.armed()) else {
            return Ok(());
        };
        ep.rearm();
        let w = &self.set.fds[t];
        self.main.add(w.raw, t, w.interest)?;
        Ok(())
    }

    /// Fd `t`'s exhaustion episode is over (or the run is): its one event.
    fn end_episode(&mut self, t: usize) -> Result<()> {
        let Some(ep) = self.tracks[t].exhausted.take() else {
            return Ok(());
        };
        self.in_episode.retain(|&x| x != t);
        let w = &self.set.fds[t];
        self.rep.emit(&Event::Exhausted(Exhausted {
            fd: Some(w.fd),
            what: &w.desc.what,
            call: ep.call,
            errno: ep.errno,
            refused: ep.refused,
            duration: ep.since.elapsed(),
        }))
    }

    /// Tries again what ran out, for the fds whose back-off is over.
    fn retry_exhausted(&mut self) -> Result<()> {
        let now = Instant::now();
        let due: Vec<usize> = self
            .in_episode
            .iter()
            .copied()
            .filter(|&t| self.tracks[t].exhausted.is_some_and(|ep| ep.due(now)))
            .collect();
        for t in due {
            if self.set.fds[t].role == Role::Listener {
                self.accept_all(t)?;
            } else {
                self.reopen(t)?;
            }
        }
        Ok(())
    }

    /// PRI on a socket: take the urgent byte now (to report it at its mark), or, when
    /// not consuming, show it with MSG_PEEK once, saying when a newer one replaced it.
    fn on_urgent(&mut self, t: usize, reading: bool) -> Result<()> {
        let w = &self.set.fds[t];
        let Some(fd) = w.borrow() else {
            return Ok(());
        };
        let tr = &mut self.tracks[t];
        let oob = urgent::take(fd, !reading);
        let (byte, errno) = match oob {
            Oob::Byte(b) if reading => {
                tr.pending_oob = Some(b);
                return Ok(());
            }
            Oob::Byte(b) if tr.urgent_seen == Some(b) => return Ok(()),
            Oob::Byte(b) => (Some(b), None),
            // SO_OOBINLINE: the byte is in the stream; reading reports the mark.
            Oob::NoByte if self.args.oobinline && reading => {
                tr.mark_pending = true;
                return Ok(());
            }
            Oob::NoByte | Oob::Unsupported if tr.urgent_none_said => return Ok(()),
            Oob::NoByte => (None, Some(Errno::EINVAL)),
            Oob::Unsupported => (None, Some(Errno::EOPNOTSUPP)),
            Oob::NotYet => return Ok(()),
            Oob::Failed(e) => return oob_failed(&mut self.rep, w, e),
        };
        let replaced = byte.and(tr.urgent_seen);
        if byte.is_some() {
            tr.urgent_seen = byte;
        } else {
            tr.urgent_none_said = true;
        }
        self.rep.emit(&Event::Urgent(Urgent {
            fd: w.fd,
            what: &w.desc.what,
            byte,
            atmark: urgent::at_mark(fd),
            // Nothing was consumed: the mark's place is the queue before it.
            offset: tr.total + urgent::before_mark(fd),
            peek: byte.is_some(),
            inline: false,
            replaced,
            errno,
        }))
    }

    /// `pid:` fds whose process closed them, or exited, are let go: holding the file
    /// open would keep, say, a pipe's reader from ever seeing end of file.
    fn recheck_foreign(&mut self) -> Result<()> {
        for t in 0..self.set.fds.len() {
            let w = &self.set.fds[t];
            let (Some(f), Some(fd)) = (w.foreign, w.borrow()) else {
                continue;
            };
            if self.set.processes[f.process].still_has(fd, f.private, w.fd) {
                continue;
            }
            self.rep.emit(&Event::Hangup {
                fd: w.fd,
                what: &w.desc.what,
                action: "gone",
            })?;
            self.remove(t)?;
        }
        Ok(())
    }

    /// An urgent byte taken from the kernel whose mark reading never reached (the run
    /// or the fd ends first): reported now, with where its mark is, so that no byte
    /// fdwatch took is lost.
    fn flush_urgent(&mut self, t: usize) -> Result<()> {
        let Some(byte) = self.tracks[t].pending_oob.take() else {
            return Ok(());
        };
        let w = &self.set.fds[t];
        let fd = w.borrow();
        flush_count(&mut self.rep, w, &mut self.tracks[t])?;
        let tr = &self.tracks[t];
        self.rep.emit(&Event::Urgent(Urgent {
            fd: w.fd,
            what: &w.desc.what,
            byte: Some(byte),
            atmark: fd.and_then(urgent::at_mark),
            offset: tr.total + fd.map_or(0, urgent::before_mark),
            peek: false,
            inline: false,
            replaced: None,
            errno: None,
        }))
    }

    /// The other side of fd `t` is gone: end (--once), reopen a FIFO, or drop the fd.
    fn on_end(&mut self, t: usize) -> Result<()> {
        self.flush_urgent(t)?;
        let w = &self.set.fds[t];
        let (fd, owned_fifo, read_side) = (w.fd, w.owned_fifo(), w.interest.read);
        let action = if self.args.once {
            "end"
        } else if owned_fifo {
            "reopen"
        } else {
            "remove"
        };
        self.rep.emit(&Event::Hangup {
            fd,
            what: &self.set.fds[t].desc.what,
            action,
        })?;
        match action {
            "reopen" if read_side => self.reopen(t),
            "reopen" => {
                // A write-side FIFO whose reader left: retried until a reader comes.
                self.unregister(t)?;
                self.set.back_to_pending(t);
                Ok(())
            }
            _ => {
                if self.args.once {
                    self.stop = Some(End::Done);
                }
                self.remove(t)
            }
        }
    }

    /// Reopens a FIFO after its last writer left, keeping its fd number: the new read
    /// end is open before the old one closes, so no writer finds the FIFO without a
    /// reader, and no byte already queued is lost (it stays in the pipe).
    fn reopen(&mut self, t: usize) -> Result<()> {
        let new = match self.set.open_again(t) {
            Ok(new) => new,
            // Out of fds: the old read end stays (no writer is lost) until one is free.
            Err(Error::Sys { errno, .. }) if exhaust::is_exhaustion(errno) => {
                return self.exhausted(t, "open", errno);
            }
            // The path is gone (unlinked, say): that FIFO is over, the others go on.
            Err(Error::Sys { errno, call, .. }) => {
                let w = &self.set.fds[t];
                let msg = format!("{call} failed: cannot reopen; no longer watched");
                self.rep.emit(&Event::Error {
                    fd: Some(w.fd),
                    what: &w.desc.what,
                    errno,
                    message: &msg,
                })?;
                return self.remove(t);
            }
            Err(e) => return Err(e),
        };
        let fd = self.set.fds[t].raw;
        // DEL before the old open file goes away (epoll keys on it).
        self.unregister_fd(t, fd)?;
        self.set.replace(t, new)?;
        let w = &self.set.fds[t];
        let reg = self.main.add(w.raw, t, w.interest)?;
        self.set_reg(t, Some(reg));
        self.set_park(t, Park::No);
        let tr = &mut self.tracks[t];
        // The new fd has no hang-up; what is still queued was already reported.
        tr.state = tr.state.without(Conditions::HANGUP);
        self.end_episode(t)
    }

    /// Takes fd `t` out of every backend.
    fn unregister(&mut self, t: usize) -> Result<()> {
        let fd = self.set.fds[t].raw;
        self.unregister_fd(t, fd)?;
        self.set_reg(t, None);
        self.set_park(t, Park::No);
        Ok(())
    }

    fn unregister_fd(&mut self, t: usize, fd: i32) -> Result<()> {
        let tr = &self.tracks[t];
        if tr.park != Park::No {
            self.recheck.delete(fd)?;
        }
        // A parked level registration is already out of the main backend, and so is
        // an fd in an exhaustion episode.
        let in_main = tr.exhausted.is_none_or(|ep| ep.armed())
            && (tr.park != Park::Out
                || !matches!(
                    tr.reg,
                    Some(Registered::Level | Registered::PollFallback(_))
                ));
        if in_main {
            self.main.delete(fd)?;
        }
        Ok(())
    }

    /// Fd `t` leaves the watch set for good.
    fn remove(&mut self, t: usize) -> Result<()> {
        self.flush_urgent(t)?;
        self.end_episode(t)?;
        self.unregister(t)?;
        // A descriptor is about to be freed: what ran out may be had now.
        let now = Instant::now();
        for &x in &self.in_episode {
            if let Some(ep) = self.tracks[x].exhausted.as_mut() {
                ep.freed(now);
            }
        }
        self.tracks[t].source = None;
        // The slot will serve another fd: keep what the summary says of this one.
        let (w, tr) = (&self.set.fds[t], &self.tracks[t]);
        if self.read_mode.is_some() && w.interest.read && w.role != Role::Listener {
            self.closed_bytes.push((
                w.seq,
                FdBytes {
                    fd: w.fd,
                    what: w.desc.what.clone(),
                    bytes: tr.total,
                },
            ));
        }
        self.closed_ready += u64::from(tr.ever_ready);
        self.tracks[t].ever_ready = false;
        self.more.retain(|&m| m != t);
        self.set.release(t);
        Ok(())
    }

    /// Moves a level-triggered fd that stays ready (`cond`) out of the main wait.
    fn park(&mut self, t: usize, cond: Conditions) -> Result<()> {
        let (w, tr) = (&self.set.fds[t], &self.tracks[t]);
        let level = matches!(
            tr.reg,
            Some(Registered::Level | Registered::PollFallback(_))
        );
        match tr.park {
            // The urgent byte it rang for is shown: the doorbell would ring on.
            Park::Doorbell if cond.contains(Conditions::URGENT) => {
                self.main.delete(w.raw)?;
                self.set_park(t, Park::Out);
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
                self.main.modify(w.raw, t, URGENT_ONLY)?;
            }
            Some(Registered::Level | Registered::PollFallback(_)) => self.main.delete(w.raw)?,
            // A oneshot registration is already silent in the main backend.
            Some(Registered::OneShot) => {}
            _ => return Ok(()),
        }
        self.recheck.add(w.raw, t, w.interest)?;
        self.set_park(t, if doorbell { Park::Doorbell } else { Park::Out });
        Ok(())
    }

    /// Back into the main wait once a parked fd is no longer ready.
    fn unpark(&mut self, t: usize) -> Result<()> {
        let w = &self.set.fds[t];
        self.recheck.delete(w.raw)?;
        match (self.tracks[t].reg, self.tracks[t].park) {
            (Some(Registered::OneShot), _) | (_, Park::Doorbell) => {
                self.main.modify(w.raw, t, w.interest)?
            }
            _ => {
                self.main.add(w.raw, t, w.interest)?;
            }
        }
        self.set_park(t, Park::No);
        let tr = &mut self.tracks[t];
        tr.state = Conditions::empty();
        tr.queued = None;
        Ok(())
    }

    /// The bounded-rate check of parked fds: report changes, unpark the quiet ones.
    fn recheck_parked(&mut self) -> Result<()> {
        let parked: Vec<usize> = self.parked.iter().copied().collect();
        if parked.is_empty() {
            return Ok(());
        }
        let mut out = std::mem::take(&mut self.recheck_buf);
        out.clear();
        match self.recheck.wait(Some(Duration::ZERO), None, &mut out) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys(self.args.backend.name(), self.recheck.call(), e)),
        }
        out.sort_unstable_by_key(|r| r.token);
        for r in &out {
            self.on_ready(r.token, r.cond, r.raw)?;
        }
        for t in parked {
            let still_ready = out.iter().any(|r| r.token == t);
            if !still_ready && self.tracks[t].park != Park::No && self.tracks[t].reg.is_some() {
                self.unpark(t)?;
            }
        }
        self.recheck_buf = out;
        Ok(())
    }
}
