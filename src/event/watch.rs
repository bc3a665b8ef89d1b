//! Watch mode's kinds (`pid:PID`'s `blocked` is in blocked.rs). Most are about one fd:
//! their `Subject` comes first, in JSON (`fd`, `what`) as in text (the first columns).

use std::os::fd::RawFd;
use std::time::Duration;

use nix::errno::Errno;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::blocked::BlockedThread;
use super::serial::{self, ConnectResult, Replaced, Ret, Shown, UrgentByte};
use super::{Event, Family, Payload, Visit};
use crate::readiness::{Conditions, Fallback, Interest, Raw};
use crate::timeout::Timeout;

kinds! {
    /// Watch mode's events (`pid:PID`'s too).
    Watch: WatchEvent {
        /// An fd is ready.
        Ready(Ready<'a>) = "ready",
        /// Something failed or is unusable for one fd (the run goes on).
        Error(FdError<'a>) = "error",
        /// Bytes consumed (`--read`, `--tee`) or shown (`--peek`).
        Data(Data<'a>) = "data",
        Eof(Eof<'a>) = "eof",
        Hangup(Hangup<'a>) = "hangup",
        Exhausted(Exhausted<'a>) = "exhausted",
        Accept(Accept<'a>) = "accept",
        Connect(Connect<'a>) = "connect",
        Urgent(UrgentData<'a>) = "urgent",
        Signal(SignalCaught<'a>) = "signal",
        Timeout(TimedOut) = "timeout",
        /// `-v`: one backend call.
        Wait(WaitCall) = "wait",
        /// `-v`: how fdwatch is watching something.
        Note(Note<'a>) = "note",
        /// `-v`, at the start: one per watched fd.
        Watching(Watching<'a>) = "watching",
        Summary(Summary) = "summary",
        /// `fdwatch pid:PID`.
        Blocked(BlockedThread) = "blocked",
    }
}

/// The fd an event is about and what it is (`pipe:[123]`, `fifo PATH`, a socket's
/// addresses); `F` is `Option<RawFd>` where no one fd may be concerned.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Subject<'a, F = RawFd> {
    pub fd: F,
    pub what: &'a str,
}

/// Where an fd may be missing, the one it is.
impl<'a> From<Subject<'a>> for Subject<'a, Option<RawFd>> {
    fn from(s: Subject<'a>) -> Self {
        Subject {
            fd: Some(s.fd),
            what: s.what,
        }
    }
}

/// An fd is ready: normalized conditions, the backend's raw flags, queue facts.
#[derive(Clone, Debug, Serialize)]
pub struct Ready<'a> {
    #[serde(flatten)]
    pub at: Subject<'a>,
    pub kind: &'static str,
    #[serde(rename = "ready")]
    pub cond: Conditions,
    pub raw: Raw,
    pub backend: &'static str,
    /// Another call checked the fd because the backend's own refused it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,
    pub queued: Option<i32>,
    pub pipe_size: Option<i32>,
}

/// Something failed or is unusable for one fd (the run goes on).
#[derive(Clone, Debug, Serialize)]
pub struct FdError<'a> {
    #[serde(flatten)]
    pub at: Subject<'a, Option<RawFd>>,
    #[serde(serialize_with = "serial::errno")]
    pub errno: Errno,
    pub message: &'a str,
}

/// Bytes consumed (`--read`, `--tee`) or shown (`--peek`, which consumes nothing).
#[derive(Clone, Debug, Serialize)]
pub struct Data<'a> {
    #[serde(flatten)]
    pub at: Subject<'a>,
    /// Bytes in this event.
    pub bytes: u64,
    /// Bytes consumed from this fd so far (`None` for --peek).
    pub total: Option<u64>,
    /// Bytes per second since the first data (--read=count).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serial::rounded"
    )]
    pub rate: Option<f64>,
    /// The bytes themselves (--read=text or hex, --peek).
    #[serde(flatten)]
    pub shown: Option<Shown<'a>>,
    /// --peek: nothing was consumed.
    pub peek: bool,
}

/// A read returned end of file.
#[derive(Clone, Debug, Serialize)]
pub struct Eof<'a> {
    #[serde(flatten)]
    pub at: Subject<'a>,
    pub total: u64,
}

/// The other side is gone and fdwatch acted on it.
#[derive(Clone, Debug, Serialize)]
pub struct Hangup<'a> {
    #[serde(flatten)]
    pub at: Subject<'a>,
    pub action: Action,
}

/// What fdwatch did when an fd's other side went away (`hangup` events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A FIFO path: a new read end opened before the old one closed (FIFOs are not
    /// over at end of file).
    Reopen,
    /// The fd leaves the watch set.
    Remove,
    /// `--once`: the run ends.
    End,
    /// Another process's fd that it closed, or it exited (the fd leaves the watch set).
    Gone,
}

/// A listener accepted a connection; `at` is the new socket, now watched.
#[derive(Clone, Debug, Serialize)]
pub struct Accept<'a> {
    #[serde(flatten)]
    pub at: Subject<'a>,
    pub listener: RawFd,
    pub peer: &'a str,
}

/// A non-blocking connect finished.
#[derive(Clone, Debug, Serialize)]
pub struct Connect<'a> {
    #[serde(flatten)]
    pub at: Subject<'a>,
    #[serde(flatten)]
    pub target: Option<ConnectTarget<'a>>,
    #[serde(flatten)]
    pub result: ConnectResult,
}

/// What a connect was asked for: the spec as the user wrote it
/// (`tcp:localhost:8888`) and the address tried.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ConnectTarget<'a> {
    pub target: &'a str,
    pub addr: &'a str,
}

/// Urgent (out-of-band) data, reported in stream order: `offset` is how many normal
/// bytes came before the mark on this fd.
#[derive(Clone, Debug, Serialize)]
pub struct UrgentData<'a> {
    #[serde(flatten)]
    pub at: Subject<'a>,
    /// The urgent byte (None with SO_OOBINLINE, or when there was none to take).
    #[serde(flatten)]
    pub byte: UrgentByte,
    /// SIOCATMARK after the bytes before the mark were read (or now, for --peek).
    pub atmark: Option<bool>,
    pub offset: u64,
    /// Copied with MSG_PEEK, not consumed.
    pub peek: bool,
    /// SO_OOBINLINE: the byte stays in the stream at `offset`; this marks the place.
    pub inline: bool,
    /// An earlier urgent byte, reported and never read, that this one replaced (TCP
    /// keeps one urgent pointer).
    #[serde(flatten)]
    pub replaced: Replaced,
    /// Why there is no byte: EINVAL (none) or EOPNOTSUPP (not supported here).
    #[serde(serialize_with = "serial::some_errno")]
    pub errno: Option<Errno>,
}

/// A caught signal (`pending`: a --mask signal still blocked at exit).
#[derive(Clone, Debug, Serialize)]
pub struct SignalCaught<'a> {
    pub name: &'a str,
    pub number: i32,
    pub pid: Option<i32>,
    pub uid: Option<u32>,
    pub pending: bool,
}

/// The wait ended with nothing ready.
#[derive(Clone, Debug, Serialize)]
pub struct TimedOut {
    #[serde(serialize_with = "serial::seconds")]
    pub timeout: Duration,
}

/// `-v`: one backend call.
#[derive(Clone, Debug, Serialize)]
pub struct WaitCall {
    pub call: &'static str,
    #[serde(serialize_with = "serial::some_seconds")]
    pub timeout: Option<Duration>,
    #[serde(serialize_with = "serial::seconds")]
    pub blocked: Duration,
    #[serde(flatten)]
    pub result: Ret,
}

/// `-v`: how fdwatch is watching something.
#[derive(Clone, Debug, Serialize)]
pub struct Note<'a> {
    pub fd: Option<RawFd>,
    pub message: &'a str,
}

/// `-v`, at the start: one per watched fd, what it is and what is asked of it, so an
/// fd that never becomes ready is still described.
#[derive(Clone, Debug, Serialize)]
pub struct Watching<'a> {
    #[serde(flatten)]
    pub at: Subject<'a>,
    pub kind: &'static str,
    pub want: Interest,
    /// The path it was opened from, as given (None: inherited, a socket...).
    pub path: Option<&'a str>,
}

/// The end of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub backend: &'static str,
    pub waits: u64,
    pub events: u64,
    /// Fds reported ready (one-shot: in the single wait that returned).
    pub ready_fds: u64,
    /// Time spent inside the backend's wait calls.
    #[serde(serialize_with = "serial::seconds")]
    pub blocked: Duration,
    #[serde(serialize_with = "timeout")]
    pub timeout: Timeout,
    /// What was left of the timeout when the run ended (`None` for forever).
    #[serde(serialize_with = "serial::some_seconds")]
    pub left: Option<Duration>,
    #[serde(serialize_with = "serial::seconds")]
    pub elapsed: Duration,
    /// Bytes consumed per fd (monitor with --read/--tee), in watch order.
    pub bytes: Vec<FdBytes>,
}

fn timeout<S: Serializer>(t: &Timeout, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Timeout::Forever => s.serialize_none(),
        Timeout::After(d) => serial::seconds(d, s),
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FdBytes {
    pub fd: RawFd,
    pub what: String,
    pub bytes: u64,
}

/// A resource ran out (EMFILE, ENFILE, ENOBUFS, ENOMEM) for `call` and fdwatch backed
/// off instead of asking again at once: two events per episode, one when it starts
/// (the call, the errno) and one when it ends (or at the end of the run), with the
/// clients refused meanwhile and how long it lasted.
#[derive(Clone, Debug, Serialize)]
pub struct Exhausted<'a> {
    /// The fd it happened to (a listener, a FIFO, an fd read through a reopen); None
    /// where no one fd is concerned (the relay's splice pipes).
    #[serde(flatten)]
    pub at: Subject<'a, Option<RawFd>>,
    pub call: &'static str,
    /// The last failure's errno (at the start: the first one's).
    #[serde(serialize_with = "serial::errno")]
    pub errno: Errno,
    #[serde(flatten)]
    pub phase: Phase,
    /// The call serves clients (accept, socket, connect): they are refused meanwhile.
    #[serde(skip)]
    pub clients: bool,
}

/// Which end of an episode an `exhausted` event reports: `state`, after what is only
/// known at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The first failure: fdwatch backs off from now on.
    Start,
    /// The call worked again (or the run ended): the clients accepted and closed at
    /// once because they could not be served, and how long the episode lasted.
    End { refused: u64, duration: Duration },
}

impl Serialize for Phase {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        let state = match *self {
            Phase::Start => "start",
            Phase::End { refused, duration } => {
                m.serialize_entry("refused", &refused)?;
                m.serialize_entry("duration", &serial::secs(duration))?;
                "end"
            }
        };
        m.serialize_entry("state", state)?;
        m.end()
    }
}
