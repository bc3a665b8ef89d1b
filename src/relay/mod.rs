//! `fdwatch relay LISTEN TARGET`: a watching TCP/UNIX relay. Each accepted client gets
//! its own non-blocking connection to TARGET; bytes go both ways through bounded buffers
//! (a side that cannot take more stops the reading of the other), urgent bytes keep
//! their stream offset (pump.rs), half-closes and resets are passed on, and every step
//! is an event. One loop on the watcher's backends, level-triggered.

mod conn;
mod ends;
mod episode;
mod events;
mod pools;
mod pump;

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::backend::{self, BackendKind, Mode, Readiness};
use crate::error::{Error, Result};
use crate::event::{
    ConnectResult, Flow, RelayAccept, RelayClose, RelayConnect, RelayError, RelayListen,
    RelaySignal, RelaySummary, RelayTimeout, Side, TheRelay, Traffic,
};
use crate::event_loop::{self, Client, EventLoop, Timing};
use crate::exhaust::{self, Episode, Reserve};
use crate::net;
use crate::output::Output;
use crate::reader::ReadMode;
use crate::readiness::Conditions;
use crate::report::Reporter;
use crate::signals::{self, Caught};
use crate::spec::{Interest, SocketSpec};
use conn::{Conn, token};
use pump::Dir;

/// What to run (from `fdwatch relay`'s options, typed once: LISTEN is a listener and
/// TARGET an address, or the command line was refused before anything was opened).
#[derive(Clone, Debug)]
pub struct Config {
    /// LISTEN: a `tcp-listen:` or `unix-listen:` spec.
    pub listen: SocketSpec,
    /// LISTEN as typed, as its errors quote it.
    pub listen_word: String,
    pub target: TargetAddr,
    pub backend: BackendKind,
    pub read: ReadMode,
    pub count: Option<u64>,
    pub idle: Option<Duration>,
    pub interval: Duration,
    /// Bytes buffered per direction per connection.
    pub buffer: usize,
    pub output: Output,
}

/// TARGET: as written (events show it), and with its host resolved once, at start: a
/// name that does not resolve is a usage error then, not a failure of every client
/// later (and no lookup per client).
#[derive(Clone, Debug)]
pub struct TargetAddr {
    /// A `tcp:` or `unix:` spec.
    pub spec: SocketSpec,
    /// The same with a TCP host as the address it resolved to.
    pub connect_to: SocketSpec,
}

/// Listener `i` (two for loopback: 127.0.0.1 and ::1) has token `LISTENERS - i`; the
/// connections' tokens (from 1 up) never come near.
const LISTENERS: usize = crate::event_loop::SIGNAL_TOKEN - 1;

/// Which listener a token names.
fn listener_of(token: usize) -> Option<usize> {
    (token <= LISTENERS && LISTENERS - token < 16).then(|| LISTENERS - token)
}

struct Relay<'a> {
    cfg: &'a Config,
    /// TARGET as events show it (`tcp:127.0.0.1:8888`), built once.
    target: String,
    listeners: Vec<OwnedFd>,
    /// Each listener as events show it (`tcp 127.0.0.1:8000`).
    names: Vec<String>,
    /// A `unix-listen:` socket file, removed at exit.
    bound: Option<net::BoundPath>,
    /// Accepting (or a client's connection to TARGET) ran out of fds or memory: the
    /// listeners wait out a back-off (episode.rs).
    exhausted: Option<Episode>,
    /// The listener that episode began on: its events name it.
    exhausted_on: usize,
    /// Making a splice pipe ran out: directions copy meanwhile.
    pipes_exhausted: Option<Episode>,
    /// The spare descriptor that lets the relay refuse clients when fds run out.
    reserve: Reserve,
    /// Clients are still taken (not after --count's last).
    listening: bool,
    /// The listeners are in the wait: out during an episode's back-off (and then a
    /// retry is always due within exhaust::MAX_DELAY) and once not listening.
    in_wait: bool,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Buffers and splice pipes kept between connections.
    pools: pools::Pools,
    /// Bulk transfers move with splice (the bytes are not shown).
    splice: bool,
    accepted: u64,
    closed: u64,
    total: Traffic,
    /// Sockets the select family cannot hear a reset on (ends.rs).
    quiet: ends::Unheard,
    /// Connections with a direction resting after a transient error (ends.rs).
    resting: Vec<usize>,
}

#[inline(never)] // out of the one-shot start-up path (link/startup.ld)
pub fn run(cfg: &Config, rep: Reporter<'_>) -> Result<u8> {
    let signals = event_loop::block_signals(&signals::TERMINATING, &[])?;
    let what = format!("relay LISTEN '{}'", cfg.listen_word);
    let listening = net::listen(&cfg.listen, &what)?;
    let mut backend = backend::new(cfg.backend, Mode::default())?;
    for (i, l) in listening.fds.iter().enumerate() {
        backend.add(l.as_raw_fd(), LISTENERS - i, Interest::READ)?;
    }
    let start = rep.start;
    // A reader of the events that leaves ends no connection (ends.rs).
    let rep = rep.outlive_reader();
    let mut lp = EventLoop::new(
        backend,
        cfg.backend,
        signals,
        true,
        rep,
        Timing::Idle(cfg.idle),
    )?
    .idle_by_activity(0);
    let all_interfaces = listening.all_interfaces;
    let mut relay = Relay::new(cfg, listening);
    for what in &relay.names {
        lp.rep.emit(RelayListen {
            conn: TheRelay,
            what,
            target: &relay.target,
            all_interfaces,
        })?;
    }
    let end = lp.run(&mut relay)?;
    // Open connections end with the relay: each gets its summary.
    for slot in 0..relay.conns.len() {
        if relay.conns[slot].is_some() {
            relay.close(&mut lp, slot)?;
        }
    }
    relay.end_episode(&mut lp)?;
    relay.pipes_news(&mut lp)?;
    relay.end_pipes_episode(&mut lp)?;
    lp.rep.emit(RelaySummary {
        conn: TheRelay,
        connections: relay.accepted,
        traffic: relay.total,
        elapsed: start.elapsed(),
        backend: Some(cfg.backend.name()),
    })?;
    lp.rep.flush()?;
    // Death by a signal runs no destructors: the socket file goes now.
    drop(relay.bound.take());
    Ok(lp.exit_status(end))
}

impl<'a> Relay<'a> {
    fn new(cfg: &'a Config, listening: net::Listening) -> Relay<'a> {
        let names = listening
            .fds
            .iter()
            .map(|l| net::local_name(l.as_fd()))
            .collect();
        Relay {
            cfg,
            target: cfg.target.spec.to_string(),
            listeners: listening.fds,
            names,
            bound: listening.path,
            exhausted: None,
            exhausted_on: 0,
            pipes_exhausted: None,
            reserve: Reserve::new(),
            listening: true,
            in_wait: true,
            conns: Vec::new(),
            free: Vec::new(),
            pools: pools::Pools::default(),
            // FDWATCH_RELAY_SPLICE=off: copy always (the tests run both ways).
            splice: cfg.read == ReadMode::Count
                && std::env::var_os("FDWATCH_RELAY_SPLICE").is_none_or(|v| v != "off"),
            accepted: 0,
            closed: 0,
            total: Traffic::default(),
            quiet: ends::Unheard::new(),
            resting: Vec::new(),
        }
    }
}

impl Client for Relay<'_> {
    fn on_ready(&mut self, lp: &mut EventLoop<'_>, r: &Readiness) -> Result<()> {
        self.reader_gone(lp)?;
        match listener_of(r.token) {
            Some(i) if i < self.listeners.len() => self.accept_all(lp, i),
            Some(_) => Ok(()),
            None => self.ready(lp, r.token, r.cond),
        }
    }

    fn after_wait(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        self.retry_exhausted(lp)?;
        self.pipes_news(lp)?;
        self.retry_resting(lp)?;
        self.probe_quiet(lp)?;
        self.flush_counts(lp)?;
        // This wait's events go out now, so a reader that left is known (and no more
        // clients taken) before the next wait.
        lp.rep.flush()?;
        self.reader_gone(lp)
    }

    fn done(&self) -> bool {
        // Only once the events' reader left: otherwise the relay serves until stopped.
        !self.listening && self.listeners.is_empty() && self.open() == 0
    }

    fn wake_in(&self, now: Instant) -> Option<Duration> {
        // A busy direction's byte count is due every --interval.
        let counting = self
            .conns
            .iter()
            .flatten()
            .any(|c| c.c2t.tally.unreported + c.t2c.tally.unreported > 0);
        let count = counting.then_some(self.cfg.interval);
        let retry = self.exhausted.and_then(|ep| ep.wait(now));
        [count, retry, self.next_look(now)]
            .into_iter()
            .flatten()
            .min()
    }

    fn on_signal(&mut self, lp: &mut EventLoop<'_>, c: &Caught) -> Result<()> {
        let name = signals::name(c.signo);
        lp.rep.emit(RelaySignal {
            conn: TheRelay,
            number: c.signo,
            name: &name,
            pid: c.pid,
        })
    }

    fn on_idle(&mut self, lp: &mut EventLoop<'_>, idle: Duration) -> Result<()> {
        lp.rep.emit(RelayTimeout {
            conn: TheRelay,
            idle,
        })
    }
}

impl Relay<'_> {
    /// Accepts every pending client and starts its connection to TARGET.
    fn accept_all(&mut self, lp: &mut EventLoop<'_>, i: usize) -> Result<()> {
        while self.listening {
            let (client, peer) = match net::accept(self.listeners[i].as_fd()) {
                Ok(Some(a)) => a,
                Ok(None) => return self.rearm(lp),
                // Out of fds or memory: back off (see exhaust.rs), never spin.
                Err(e) if exhaust::is_exhaustion(e) => {
                    // A connection ended to free descriptors: the retry comes at once.
                    return self.exhausted(lp, i, "accept", e).map(drop);
                }
                Err(e) => {
                    // Reported; the listener is tried again next wait.
                    lp.rep.emit(RelayError {
                        flow: Flow {
                            conn: 0,
                            from: None,
                        },
                        errno: e,
                        message: "accept failed",
                    })?;
                    return Ok(());
                }
            };
            let Some(target) = self.target_for(lp, i)? else {
                // Refused like the others of this episode (closed at once), once those
                // behind it were refused: whoever comes after it is the retry's to serve.
                drop(client);
                return Ok(());
            };
            if self.exhausted.is_some() {
                self.end_episode(lp)?;
            }
            self.accepted += 1;
            lp.activity();
            let id = self.accepted;
            lp.rep.emit(RelayAccept {
                conn: id,
                peer: &peer,
            })?;
            if self.cfg.count.is_some_and(|n| self.accepted >= n) {
                // --count: serve these, take no more.
                self.leave_wait(lp)?;
                self.listening = false;
            }
            self.connect_target(lp, id, client, target)?;
        }
        Ok(())
    }

    /// Client `id`'s connection to TARGET started with `target`, its socket; or,
    /// refused at once (a UNIX socket without a listener, say), the client closed
    /// while the relay goes on.
    fn connect_target(
        &mut self,
        lp: &mut EventLoop<'_>,
        id: u64,
        client: OwnedFd,
        target: Result<(OwnedFd, String)>,
    ) -> Result<()> {
        let errno = match target {
            Ok((fd, addr)) => return self.start(lp, id, client, fd, addr),
            Err(Error::Sys { errno, .. }) => errno,
            Err(e) => return Err(e),
        };
        lp.rep.emit(RelayConnect {
            conn: id,
            target: &self.target,
            addr: None,
            result: ConnectResult(Some(errno)),
        })?;
        drop(client);
        self.closed += 1;
        lp.rep.emit(RelayClose {
            conn: id,
            traffic: Traffic::default(),
            duration: Duration::ZERO,
        })?;
        self.check_count(lp);
        Ok(())
    }

    /// A new client's socket to TARGET; None when it cannot be had for want of
    /// descriptors or memory (the episode counts the client as refused), unless a quiet
    /// half-closed connection gave its descriptors up for it.
    fn target_for(
        &mut self,
        lp: &mut EventLoop<'_>,
        i: usize,
    ) -> Result<Option<Result<(OwnedFd, String)>>> {
        let what = format!("relay TARGET '{}'", self.target);
        let mut target = net::connect(&self.cfg.target.connect_to, &what);
        if let Err(Error::Sys { errno, call, .. }) = &target
            && exhaust::is_exhaustion(*errno)
        {
            let (call, errno) = (*call, *errno);
            if self.exhausted(lp, i, call, errno)? {
                target = net::connect(&self.cfg.target.connect_to, &what);
            }
        }
        if let Err(Error::Sys { errno, .. }) = &target
            && exhaust::is_exhaustion(*errno)
        {
            if let Some(ep) = self.exhausted.as_mut() {
                ep.refused += 1;
            }
            return Ok(None);
        }
        Ok(Some(target))
    }

    /// Connection `id` gets a slot (reused where one is free) and its registrations;
    /// its TARGET side is connecting.
    fn start(
        &mut self,
        lp: &mut EventLoop<'_>,
        id: u64,
        client: OwnedFd,
        target: OwnedFd,
        addr: String,
    ) -> Result<()> {
        let conn = Conn {
            id,
            client,
            target,
            addr,
            connected: false,
            c2t: Dir::new(self.cfg.buffer, self.splice),
            t2c: Dir::new(self.cfg.buffer, self.splice),
            started: Instant::now(),
            registered: [None; 2],
            hup: [false; 2],
            half_closed: None,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.conns[s] = Some(conn);
                s
            }
            None => {
                self.conns.push(Some(conn));
                self.conns.len() - 1
            }
        };
        if let Err(e) = self.register(lp, slot) {
            // select cannot take fds >= FD_SETSIZE: this client is refused.
            let msg = e.to_string();
            lp.rep.emit(RelayError {
                flow: Flow {
                    conn: id,
                    from: None,
                },
                errno: Errno::EMFILE,
                message: &msg,
            })?;
            return self.drop_conn(lp, slot, false);
        }
        // On a loopback the handshake is over by the time connect returns: its answer
        // is taken now (one poll), not after a wait; one still under way comes as
        // writability, as before.
        let answer = self.conns[slot]
            .as_ref()
            .and_then(|c| crate::probe::now(c.target.as_fd(), conn::WRITE).ok());
        match answer {
            Some(now)
                if now.intersects(Conditions::WRITE | Conditions::ERROR | Conditions::HANGUP) =>
            {
                self.target_answered(lp, slot, now, false)
            }
            _ => Ok(()),
        }
    }

    /// Registers a new connection's sockets (both are in the wait at first).
    fn register(&mut self, lp: &mut EventLoop<'_>, slot: usize) -> Result<()> {
        self.update(lp, slot)
    }

    /// (Re-)registers a connection's sockets whose interest changed: added, modified,
    /// or taken out of the wait (see `Conn::wanted`).
    fn update(&mut self, lp: &mut EventLoop<'_>, slot: usize) -> Result<()> {
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(());
        };
        let want = c.wanted();
        for (i, side) in [Side::Client, Side::Target].into_iter().enumerate() {
            let (fd, t) = (c.fd(side).as_raw_fd(), token(slot, side));
            match (c.registered[i], want[i]) {
                (was, now) if was == now => continue,
                (None, Some(now)) => {
                    lp.backend.add(fd, t, now)?;
                }
                (Some(_), Some(now)) => lp.backend.modify(fd, t, now)?,
                (Some(_), None) => lp.backend.delete(fd)?,
                (None, None) => {}
            }
            c.registered[i] = want[i];
        }
        self.note_quiet(slot, want);
        Ok(())
    }
}
