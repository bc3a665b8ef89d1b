//! What the user sees: one enum of events, serialized by the printers.

use std::os::fd::RawFd;
use std::time::Duration;

use nix::errno::Errno;

use crate::readiness::{Conditions, Raw};
use crate::timeout::Timeout;

#[derive(Clone, Debug)]
pub enum Event<'a> {
    /// An fd is ready: normalized conditions, the backend's raw flags, queue facts.
    Ready {
        fd: RawFd,
        what: &'a str,
        kind: &'static str,
        cond: Conditions,
        raw: Raw,
        backend: &'static str,
        queued: Option<i32>,
        pipe_size: Option<i32>,
    },
    /// Something failed or is unusable for one fd (the run goes on).
    Error {
        fd: Option<RawFd>,
        what: &'a str,
        errno: Errno,
        message: &'a str,
    },
    /// Bytes consumed (`--read`, `--tee`) or shown (`--peek`, which consumes nothing).
    Data {
        fd: RawFd,
        what: &'a str,
        /// Bytes in this event.
        bytes: u64,
        /// Bytes consumed from this fd so far (`None` for --peek).
        total: Option<u64>,
        /// Bytes per second since the first data (--read=count).
        rate: Option<f64>,
        /// The bytes themselves (--read=text or hex, --peek); each printer shows them
        /// its own way.
        shown: Option<Shown<'a>>,
    },
    /// A read returned end of file.
    Eof {
        fd: RawFd,
        what: &'a str,
        total: u64,
    },
    /// The other side is gone and fdwatch acted on it: `reopen` (FIFOs are not over at
    /// end of file), `remove` (the fd leaves the watch set) or `end` (--once); `gone`:
    /// another process's fd that it closed, or it exited (the fd leaves the watch set).
    Hangup {
        fd: RawFd,
        what: &'a str,
        action: Action,
    },
    /// A resource ran out (EMFILE, ENFILE, ENOBUFS, ENOMEM) for `call` and fdwatch
    /// backed off instead of asking again at once: two events per episode, one when it
    /// starts (the call, the errno) and one when it ends (or at the end of the run),
    /// with the clients refused meanwhile and how long it lasted.
    Exhausted(Exhausted<'a>),
    /// A listener accepted a connection; `fd` is the new socket, now watched.
    Accept {
        fd: RawFd,
        what: &'a str,
        listener: RawFd,
        peer: &'a str,
    },
    /// A non-blocking connect finished: `error` is SO_ERROR (None: connected).
    Connect {
        fd: RawFd,
        what: &'a str,
        /// The spec as the user wrote it (`tcp:localhost:8888`) and the address tried.
        target: Option<(&'a str, &'a str)>,
        error: Option<Errno>,
    },
    /// Urgent (out-of-band) data, reported in stream order: `offset` is how many
    /// normal bytes came before the mark on this fd.
    Urgent(Urgent<'a>),
    /// A caught signal (`pending`: a --mask signal still blocked at exit).
    Signal {
        number: i32,
        name: &'a str,
        pid: Option<i32>,
        uid: Option<u32>,
        pending: bool,
    },
    /// The wait ended with nothing ready.
    Timeout { timeout: Duration },
    /// `-v`: one backend call.
    Wait {
        call: &'static str,
        timeout: Option<Duration>,
        blocked: Duration,
        result: Result<usize, Errno>,
    },
    /// `-v`: how fdwatch is watching something.
    Note { fd: Option<RawFd>, message: &'a str },
    /// `-v`, at the start: one per watched fd, what it is and what is asked of it, so
    /// an fd that never becomes ready is still described.
    Watching {
        fd: RawFd,
        what: &'a str,
        kind: &'static str,
        want: crate::readiness::Interest,
        /// The path it was opened from, as given (None: inherited, a socket...).
        path: Option<&'a str>,
    },
    /// The end of a run.
    Summary(&'a Summary),
    /// `fdwatch pid:PID`: what one thread of that process is blocked in.
    Blocked(&'a Blocked),
    /// `fdwatch relay`: something happened on a relayed connection.
    Relay(Relay<'a>),
}

impl Event<'_> {
    /// Whether `--count` counts it: diagnostics (`-v`) and the summary do not.
    pub fn counts(&self) -> bool {
        !self.diagnostic() && !matches!(self, Event::Summary(_))
    }

    /// Printed with `-v` only (unless a printer asks for them: `--format tlpi`).
    pub fn diagnostic(&self) -> bool {
        matches!(
            self,
            Event::Wait { .. } | Event::Note { .. } | Event::Watching { .. }
        )
    }
}

impl Event<'_> {
    /// Whether it reports bytes fdwatch took from the kernel and holds nowhere else (an
    /// urgent byte consumed with MSG_OOB): printed even once `--count` was reached.
    pub fn owed(&self) -> bool {
        matches!(self, Event::Urgent(u) if u.byte.is_some() && !u.peek)
    }
}

/// `--until COND`: the event that ends a monitor run, each with its own exit status
/// (disjoint from 0, 1, 2 and 128+N, so a script can tell which one came).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Until {
    Read,
    Write,
    Urgent,
    Hangup,
    Rdhup,
    Error,
    Eof,
    Signal,
    Accept,
}

impl Until {
    /// The exit status when this condition ended the run.
    pub fn status(self) -> u8 {
        10 + self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Until::Read => "read",
            Until::Write => "write",
            Until::Urgent => "urgent",
            Until::Hangup => "hangup",
            Until::Rdhup => "rdhup",
            Until::Error => "error",
            Until::Eof => "eof",
            Until::Signal => "signal",
            Until::Accept => "accept",
        }
    }

    /// Whether `ev` is this condition: a `ready` event with the word, or the event of
    /// that name (an urgent byte, a hang-up, an error, end of file, a signal, an accept).
    pub fn matches(self, ev: &Event<'_>) -> bool {
        let word = match self {
            Until::Read => Conditions::READ,
            Until::Write => Conditions::WRITE,
            Until::Urgent => Conditions::URGENT,
            Until::Hangup => Conditions::HANGUP,
            Until::Rdhup => Conditions::RDHUP,
            Until::Error => Conditions::ERROR,
            Until::Eof | Until::Signal | Until::Accept => Conditions::empty(),
        };
        match ev {
            Event::Ready { cond, .. } => !word.is_empty() && cond.contains(word),
            Event::Urgent(u) => self == Until::Urgent && u.byte.is_some(),
            Event::Hangup { .. } => self == Until::Hangup,
            Event::Error { .. } => self == Until::Error,
            Event::Eof { .. } => self == Until::Eof,
            Event::Signal { pending, .. } => self == Until::Signal && !pending,
            Event::Accept { .. } => self == Until::Accept,
            _ => false,
        }
    }
}

/// What fdwatch did when an fd's other side went away (`hangup` events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// A FIFO path: a new read end opened before the old one closed.
    Reopen,
    /// The fd leaves the watch set.
    Remove,
    /// `--once`: the run ends.
    End,
    /// Another process's fd that it closed, or it exited.
    Gone,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Reopen => "reopen",
            Action::Remove => "remove",
            Action::End => "end",
            Action::Gone => "gone",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Summary {
    pub backend: &'static str,
    pub waits: u64,
    pub events: u64,
    /// Fds reported ready (one-shot: in the single wait that returned).
    pub ready_fds: u64,
    /// Time spent inside the backend's wait calls.
    pub blocked: Duration,
    pub timeout: Timeout,
    /// What was left of the timeout when the run ended (`None` for forever).
    pub left: Option<Duration>,
    pub elapsed: Duration,
    /// Bytes consumed per fd (monitor with --read/--tee), in watch order.
    pub bytes: Vec<FdBytes>,
}

/// The bytes of a data event, as `--read` or `--peek` asks them shown.
#[derive(Clone, Copy, Debug)]
pub enum Shown<'a> {
    /// As text (escaped for a terminal; exact in JSON).
    Text(&'a [u8]),
    /// Offset/hex/ASCII rows, from stream offset `offset`.
    Hex { offset: u64, bytes: &'a [u8] },
}

/// Which end of a relayed connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Target,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Target => "target",
        }
    }

    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Target,
            Side::Target => Side::Client,
        }
    }
}

/// Bytes and urgent bytes relayed each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    pub client_to_target: u64,
    pub target_to_client: u64,
    pub urgent_client_to_target: u64,
    pub urgent_target_to_client: u64,
}

impl Traffic {
    pub fn add(&mut self, o: &Traffic) {
        self.client_to_target += o.client_to_target;
        self.target_to_client += o.target_to_client;
        self.urgent_client_to_target += o.urgent_client_to_target;
        self.urgent_target_to_client += o.urgent_target_to_client;
    }
}

/// `fdwatch relay` events; `conn` numbers connections from 1 (0: the relay itself).
#[derive(Clone, Debug)]
pub enum Relay<'a> {
    Listen {
        what: &'a str,
        target: &'a str,
        /// Bound to every interface: reachable from the network.
        all_interfaces: bool,
    },
    Accept {
        conn: u64,
        peer: &'a str,
    },
    /// The connection to TARGET finished: `error` is its SO_ERROR (None: connected);
    /// `addr` the address tried, when one was.
    Connect {
        conn: u64,
        target: &'a str,
        addr: Option<&'a str>,
        error: Option<Errno>,
    },
    Data {
        conn: u64,
        from: Side,
        bytes: u64,
        total: u64,
        shown: Option<Shown<'a>>,
    },
    Urgent {
        conn: u64,
        from: Side,
        byte: u8,
        offset: u64,
        replaced: Option<u8>,
        /// False for a byte taken from `from` but never passed on: the connection ended
        /// (a reset) before it could go.
        relayed: bool,
    },
    /// `from` shut down its write side; SHUT_WR went on to the other side.
    HalfClose {
        conn: u64,
        from: Side,
    },
    /// `from` reset the connection; the other side was closed with SO_LINGER 0.
    Reset {
        conn: u64,
        from: Side,
    },
    Error {
        conn: u64,
        from: Option<Side>,
        errno: Errno,
        message: &'a str,
    },
    /// The connection is over: what went through it.
    Close {
        conn: u64,
        traffic: Traffic,
        duration: Duration,
    },
    Summary {
        connections: u64,
        traffic: Traffic,
        elapsed: Duration,
        /// The multiplexer (None: `fdwatch send`, which blocks).
        backend: Option<&'static str>,
    },
    /// A signal that ends the relay (as watch mode's `signal`, with conn 0).
    Signal {
        number: i32,
        name: &'a str,
        pid: i32,
    },
    /// --idle passed with no traffic.
    Timeout {
        idle: Duration,
    },
    /// As watch mode's `exhausted`, for the relay's listeners (conn 0), naming the
    /// listener; and for its splice pipes (the bytes are copied meanwhile).
    Exhausted(Exhausted<'a>),
}

/// One exhaustion episode, as reported (see `Event::Exhausted`).
#[derive(Clone, Debug)]
pub struct Exhausted<'a> {
    /// The fd it happened to (a listener, a FIFO, an fd read through a reopen); None
    /// where no one fd is concerned (the relay's splice pipes).
    pub fd: Option<RawFd>,
    pub what: &'a str,
    pub call: &'static str,
    /// The last failure's errno (at the start: the first one's).
    pub errno: Errno,
    pub phase: Phase,
    /// Clients accepted and closed at once because they could not be served (at the
    /// end; 0 at the start).
    pub refused: u64,
    /// How long the episode lasted (at the end; zero at the start).
    pub duration: Duration,
}

/// Which end of an episode an `exhausted` event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The first failure: fdwatch backs off from now on.
    Start,
    /// The call worked again (or the run ended): refused and duration are final.
    End,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::End => "end",
        }
    }
}

/// One thread of another process: its call and the fds that call waits on.
#[derive(Clone, Debug)]
pub struct Blocked {
    pub pid: i32,
    pub tid: i32,
    pub comm: String,
    /// The state letter of /proc/PID/task/TID/stat (S sleeping, R running, T stopped…).
    pub state: String,
    /// The system call's name (None: not in one).
    pub call: Option<String>,
    pub nr: Option<i64>,
    pub wchan: Option<String>,
    /// The call's timeout in ms (None: none, waits forever).
    pub timeout_ms: Option<i64>,
    /// The epoll fd of an epoll wait.
    pub epfd: Option<RawFd>,
    pub fds: Vec<WaitedFd>,
    /// Why the fds could not be listed, or that the thread is not in a call.
    pub note: Option<String>,
}

/// An fd a blocked call waits on, and its readiness now.
#[derive(Clone, Debug)]
pub struct WaitedFd {
    /// The process's number for it.
    pub fd: RawFd,
    pub want: crate::spec::Interest,
    /// epoll registration flags: ET, ONESHOT, EXCLUSIVE, WAKEUP, RDHUP.
    pub flags: Vec<&'static str>,
    pub what: String,
    /// What is ready now (None: could not be checked, see `error`).
    pub ready: Option<Conditions>,
    pub queued: Option<i32>,
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct FdBytes {
    pub fd: RawFd,
    pub what: String,
    pub bytes: u64,
}

#[derive(Clone, Debug)]
pub struct Urgent<'a> {
    pub fd: RawFd,
    pub what: &'a str,
    /// The urgent byte (None with SO_OOBINLINE, or when there was none to take).
    pub byte: Option<u8>,
    /// SIOCATMARK after the bytes before the mark were read (or now, for --peek).
    pub atmark: Option<bool>,
    pub offset: u64,
    /// Copied with MSG_PEEK, not consumed.
    pub peek: bool,
    /// SO_OOBINLINE: the byte stays in the stream at `offset`; this marks the place.
    pub inline: bool,
    /// An earlier urgent byte, reported and never read, that this one replaced
    /// (TCP keeps one urgent pointer, REPORT row 26).
    pub replaced: Option<u8>,
    /// Why there is no byte: EINVAL (none) or EOPNOTSUPP (not supported here).
    pub errno: Option<Errno>,
}
