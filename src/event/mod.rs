//! What the user sees: one payload struct per kind of event, each with its JSON form
//! derived (`#[derive(Serialize)]`, so a kind's field list exists once), and `Event`,
//! the one enum the reporter and the printers take, one variant per family: watch
//! mode's kinds (watch.rs, with `pid:PID`'s in blocked.rs) and the relay's (relay.rs).
//! Text is output/'s business.
//!
//! A kind's JSON line is `v`, `event` (the kind's `NAME`), `t`, then its payload's
//! fields in the struct's order (output/json.rs writes it).

/// A family's enum of kinds, with each payload's `Payload` impl (its name: the one place a
/// kind is named) and `From` (into `Event`), and the visit of a payload. Each family's
/// file lists its kinds with it, beside their structs.
macro_rules! kinds {
    (
        $(#[$doc:meta])*
        $family:ident: $enum:ident {
            $($(#[$vdoc:meta])* $variant:ident($kind:ident$(<$a:lifetime>)?) = $name:literal,)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub enum $enum<'a> {
            $($(#[$vdoc])* $variant($kind$(<$a>)?),)*
        }

        $(
            impl$(<$a>)? Payload for $kind$(<$a>)? {
                const NAME: &'static str = $name;
                const FAMILY: Family = Family::$family;
            }

            impl<'a> From<$kind$(<$a>)?> for Event<'a> {
                fn from(e: $kind$(<$a>)?) -> Event<'a> {
                    Event::$family($enum::$variant(e))
                }
            }
        )*

        impl $enum<'_> {
            /// `v` with this event's payload, typed.
            pub fn visit<V: Visit>(&self, v: V) -> V::Out {
                match self {
                    $($enum::$variant(e) => v.kind(e),)*
                }
            }
        }
    };
}

mod blocked;
mod relay;
mod serial;
mod watch;

pub use blocked::{BlockedThread, WaitedFd};
pub use relay::{
    Flow, RelayAccept, RelayClose, RelayConnect, RelayData, RelayError, RelayEvent, RelayExhausted,
    RelayHalfClose, RelayListen, RelayReset, RelaySignal, RelaySummary, RelayTimeout, RelayUrgent,
    Side, TheRelay, Traffic,
};
pub use serial::{ConnectResult, Replaced, Ret, Shown, UrgentByte, secs};
pub use watch::{
    Accept, Action, Connect, ConnectTarget, Data, Eof, Exhausted, FdBytes, FdError, Hangup, Note,
    Phase, Ready, SignalCaught, Subject, Summary, TimedOut, UrgentData, WaitCall, WatchEvent,
    Watching,
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
pub trait Payload: serde::Serialize {
    /// The `event` of its lines.
    const NAME: &'static str;
    const FAMILY: Family;
}

/// Something done with an event's payload whatever its kind (`Event::visit`).
pub trait Visit {
    type Out;
    fn kind<K: Payload>(self, payload: &K) -> Self::Out;
}

/// Every event the reporter takes, by family (the bench's rows and the pipeline's
/// snapshots are written directly: bench/print.rs, pipeline/view.rs). Any payload
/// converts into it (`From`).
#[derive(Clone, Debug)]
pub enum Event<'a> {
    Watch(WatchEvent<'a>),
    Relay(RelayEvent<'a>),
}

impl Event<'_> {
    /// `v` with this event's payload, typed.
    pub fn visit<V: Visit>(&self, v: V) -> V::Out {
        match self {
            Event::Watch(e) => e.visit(v),
            Event::Relay(e) => e.visit(v),
        }
    }
}

/// A payload's kind name and family (`event.visit(Named)`).
pub struct Named;

impl Visit for Named {
    type Out = (Family, &'static str);
    fn kind<K: Payload>(self, _: &K) -> (Family, &'static str) {
        (K::FAMILY, K::NAME)
    }
}

impl Event<'_> {
    /// Whether `--count` counts it: diagnostics (`-v`) and the summary do not.
    pub fn counts(&self) -> bool {
        !self.diagnostic() && !matches!(self, Event::Watch(WatchEvent::Summary(_)))
    }

    /// Printed with `-v` only (unless a printer asks for them: `--format tlpi`).
    pub fn diagnostic(&self) -> bool {
        use WatchEvent as W;
        matches!(self, Event::Watch(W::Wait(_) | W::Note(_) | W::Watching(_)))
    }

    /// Whether it reports bytes fdwatch took from the kernel and holds nowhere else (an
    /// urgent byte consumed with MSG_OOB): printed even once `--count` was reached.
    pub fn owed(&self) -> bool {
        matches!(self, Event::Watch(WatchEvent::Urgent(u)) if u.byte.0.is_some() && !u.peek)
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
        let Event::Watch(ev) = ev else {
            return false;
        };
        match ev {
            WatchEvent::Ready(r) => !word.is_empty() && r.cond.contains(word),
            WatchEvent::Urgent(u) => self == Until::Urgent && u.byte.0.is_some(),
            WatchEvent::Hangup(_) => self == Until::Hangup,
            WatchEvent::Error(_) => self == Until::Error,
            WatchEvent::Eof(_) => self == Until::Eof,
            WatchEvent::Signal(s) => self == Until::Signal && !s.pending,
            WatchEvent::Accept(_) => self == Until::Accept,
            _ => false,
        }
    }
}
