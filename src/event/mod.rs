//! What the user sees: one payload struct per kind of event, each with its JSON form
//! derived (`#[derive(Serialize)]`, so a kind's field list exists once), and `Event`,
//! the one enum the reporter and the printers take. Text is output/'s business.
//!
//! A kind's JSON line is `v`, `event` (the kind's `NAME`), `t`, then its payload's
//! fields in the struct's order (output/json.rs writes it).

mod blocked;
mod relay;
mod serial;
mod watch;

pub use blocked::{BlockedThread, WaitedFd};
pub use relay::{
    Flow, RelayAccept, RelayClose, RelayConnect, RelayData, RelayError, RelayExhausted,
    RelayHalfClose, RelayListen, RelayReset, RelaySignal, RelaySummary, RelayTimeout, RelayUrgent,
    Side, TheRelay, Traffic,
};
pub use serial::{ConnectResult, Replaced, Ret, Shown, UrgentByte, secs};
pub use watch::{
    Accept, Action, Connect, Data, Eof, Exhausted, FdBytes, FdError, Hangup, Note, Phase, Ready,
    SignalCaught, Subject, Summary, Target, TimedOut, UrgentData, WaitCall, Watching,
};

use crate::readiness::Conditions;

/// Which command writes a kind, and so which man page documents it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    /// Watch mode, `pid:PID` included.
    Watch,
    /// `fdwatch relay`; some of its kinds also come from `fdwatch send`.
    Relay,
    /// `fdwatch bench`'s rows.
    Bench,
    /// `fdwatch pipeline`'s snapshots.
    Pipeline,
}

/// One kind of JSON line: its payload serializes as the fields after `v`, `event`
/// and `t`.
pub trait Kind: serde::Serialize {
    /// The `event` of its lines.
    const NAME: &'static str;
    const FAMILY: Family;
}

/// Something done with an event's payload whatever its kind (`Event::visit`).
pub trait Visit {
    type Out;
    fn kind<K: Kind>(self, payload: &K) -> Self::Out;
}

/// The `Event` enum, each payload's `Kind` (its name and family: the one place a kind
/// is named) and `From`, and the visit of a payload.
macro_rules! events {
    ($($(#[$doc:meta])* $kind:ident$(<$a:lifetime>)? = $family:ident $name:literal,)*) => {
        /// Every event the reporter takes (the bench's rows and the pipeline's
        /// snapshots are written directly: bench/print.rs, pipeline/view.rs).
        #[derive(Clone, Debug)]
        pub enum Event<'a> {
            $($(#[$doc])* $kind($kind$(<$a>)?),)*
        }

        $(
            impl$(<$a>)? Kind for $kind$(<$a>)? {
                const NAME: &'static str = $name;
                const FAMILY: Family = Family::$family;
            }

            impl<'a> From<$kind$(<$a>)?> for Event<'a> {
                fn from(e: $kind$(<$a>)?) -> Event<'a> {
                    Event::$kind(e)
                }
            }
        )*

        impl Event<'_> {
            /// `v` with this event's payload, typed.
            pub fn visit<V: Visit>(&self, v: V) -> V::Out {
                match self {
                    $(Event::$kind(e) => v.kind(e),)*
                }
            }
        }
    };
}

events! {
    /// An fd is ready.
    Ready<'a> = Watch "ready",
    /// Something failed or is unusable for one fd (the run goes on).
    FdError<'a> = Watch "error",
    /// Bytes consumed (`--read`, `--tee`) or shown (`--peek`).
    Data<'a> = Watch "data",
    Eof<'a> = Watch "eof",
    Hangup<'a> = Watch "hangup",
    Exhausted<'a> = Watch "exhausted",
    Accept<'a> = Watch "accept",
    Connect<'a> = Watch "connect",
    UrgentData<'a> = Watch "urgent",
    SignalCaught<'a> = Watch "signal",
    TimedOut = Watch "timeout",
    /// `-v`: one backend call.
    WaitCall = Watch "wait",
    /// `-v`: how fdwatch is watching something.
    Note<'a> = Watch "note",
    /// `-v`, at the start: one per watched fd.
    Watching<'a> = Watch "watching",
    Summary = Watch "summary",
    /// `fdwatch pid:PID`.
    BlockedThread = Watch "blocked",
    RelayListen<'a> = Relay "listen",
    RelayAccept<'a> = Relay "accept",
    RelayConnect<'a> = Relay "connect",
    RelayData<'a> = Relay "data",
    RelayUrgent = Relay "urgent",
    RelayHalfClose = Relay "half-close",
    RelayReset = Relay "reset",
    RelayError<'a> = Relay "error",
    RelayClose = Relay "close",
    RelaySummary = Relay "summary",
    RelaySignal<'a> = Relay "signal",
    RelayTimeout = Relay "timeout",
    RelayExhausted<'a> = Relay "exhausted",
}

/// A payload's kind name and family (`event.visit(Named)`).
pub struct Named;

impl Visit for Named {
    type Out = (Family, &'static str);
    fn kind<K: Kind>(self, _: &K) -> (Family, &'static str) {
        (K::FAMILY, K::NAME)
    }
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
            Event::WaitCall(_) | Event::Note(_) | Event::Watching(_)
        )
    }

    /// Whether it reports bytes fdwatch took from the kernel and holds nowhere else (an
    /// urgent byte consumed with MSG_OOB): printed even once `--count` was reached.
    pub fn owed(&self) -> bool {
        matches!(self, Event::UrgentData(u) if u.byte.0.is_some() && !u.peek)
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
            Event::Ready(r) => !word.is_empty() && r.cond.contains(word),
            Event::UrgentData(u) => self == Until::Urgent && u.byte.0.is_some(),
            Event::Hangup(_) => self == Until::Hangup,
            Event::FdError(_) => self == Until::Error,
            Event::Eof(_) => self == Until::Eof,
            Event::SignalCaught(s) => self == Until::Signal && !s.pending,
            Event::Accept(_) => self == Until::Accept,
            _ => false,
        }
    }
}
