//! `fdwatch relay`'s kinds (`fdwatch send` writes some of them from the client's
//! side). Every line starts with `conn`: the connection, numbered from 1, or 0 for the
//! relay itself (`TheRelay`); traffic also says which side it came `from` (`Flow`).

use std::time::Duration;

use nix::errno::Errno;
use serde::{Serialize, Serializer};

use super::serial::{self, ConnectResult, Replaced, Shown, UrgentByte};
use super::watch::Exhausted;
use super::{Event, Family, Payload, Visit};

kinds! {
    /// The relay's events (and `fdwatch send`'s).
    Relay: RelayEvent {
        Listen(RelayListen<'a>) = "listen",
        Accept(RelayAccept<'a>) = "accept",
        Connect(RelayConnect<'a>) = "connect",
        Data(RelayData<'a>) = "data",
        Urgent(RelayUrgent) = "urgent",
        HalfClose(RelayHalfClose) = "half-close",
        Reset(RelayReset) = "reset",
        Error(RelayError<'a>) = "error",
        Close(RelayClose) = "close",
        Summary(RelaySummary) = "summary",
        Signal(RelaySignal<'a>) = "signal",
        Timeout(RelayTimeout) = "timeout",
        Exhausted(RelayExhausted<'a>) = "exhausted",
    }
}

/// `conn` 0: an event of the relay itself, not of one of its connections.
#[derive(Clone, Copy, Debug, Default)]
pub struct TheRelay;

impl Serialize for TheRelay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(0)
    }
}

/// Which end of a relayed connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
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

/// A connection's traffic one way: the connection and the side it came from
/// (`Option<Side>` where the side may be unknown).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Flow<S = Side> {
    pub conn: u64,
    pub from: S,
}

/// Bytes and urgent bytes relayed each way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
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

/// The relay listens on `what` for connections to `target`.
#[derive(Clone, Debug, Serialize)]
pub struct RelayListen<'a> {
    pub conn: TheRelay,
    pub what: &'a str,
    pub target: &'a str,
    /// Bound to every interface: reachable from the network.
    pub all_interfaces: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct RelayAccept<'a> {
    pub conn: u64,
    pub peer: &'a str,
}

/// The connection to TARGET finished; `addr` the address tried, when one was.
#[derive(Clone, Debug, Serialize)]
pub struct RelayConnect<'a> {
    pub conn: u64,
    pub target: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub addr: Option<&'a str>,
    #[serde(flatten)]
    pub result: ConnectResult,
}

#[derive(Clone, Debug, Serialize)]
pub struct RelayData<'a> {
    #[serde(flatten)]
    pub flow: Flow,
    pub bytes: u64,
    pub total: u64,
    #[serde(flatten)]
    pub shown: Option<Shown<'a>>,
}

/// An urgent byte at its stream offset.
#[derive(Clone, Debug, Serialize)]
pub struct RelayUrgent {
    #[serde(flatten)]
    pub flow: Flow,
    #[serde(flatten)]
    pub byte: UrgentByte<u8>,
    pub offset: u64,
    #[serde(flatten)]
    pub replaced: Replaced,
    /// False for a byte taken from `from` but never passed on: the connection ended
    /// (a reset) before it could go. Only written then: the usual line stays as it was.
    #[serde(skip_serializing_if = "serial::is_true")]
    pub relayed: bool,
}

/// `from` shut down its write side; SHUT_WR went on to the other side.
#[derive(Clone, Debug, Serialize)]
pub struct RelayHalfClose {
    #[serde(flatten)]
    pub flow: Flow,
}

/// `from` reset the connection; the other side was closed with SO_LINGER 0.
#[derive(Clone, Debug, Serialize)]
pub struct RelayReset {
    #[serde(flatten)]
    pub flow: Flow,
}

#[derive(Clone, Debug, Serialize)]
pub struct RelayError<'a> {
    #[serde(flatten)]
    pub flow: Flow<Option<Side>>,
    #[serde(serialize_with = "serial::errno")]
    pub errno: Errno,
    pub message: &'a str,
}

/// The connection is over: what went through it.
#[derive(Clone, Debug, Serialize)]
pub struct RelayClose {
    pub conn: u64,
    #[serde(flatten)]
    pub traffic: Traffic,
    #[serde(serialize_with = "serial::seconds")]
    pub duration: Duration,
}

#[derive(Clone, Debug, Serialize)]
pub struct RelaySummary {
    pub conn: TheRelay,
    pub connections: u64,
    #[serde(flatten)]
    pub traffic: Traffic,
    #[serde(serialize_with = "serial::seconds")]
    pub elapsed: Duration,
    /// The multiplexer (None: `fdwatch send`, which blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<&'static str>,
}

/// A signal that ends the relay (as watch mode's `signal`).
#[derive(Clone, Debug, Serialize)]
pub struct RelaySignal<'a> {
    pub conn: TheRelay,
    pub name: &'a str,
    pub number: i32,
    pub pid: i32,
}

/// --idle passed with no traffic.
#[derive(Clone, Debug, Serialize)]
pub struct RelayTimeout {
    pub conn: TheRelay,
    #[serde(rename = "timeout", serialize_with = "serial::seconds")]
    pub idle: Duration,
}

/// As watch mode's `exhausted`, for the relay's listeners, naming the listener; and
/// for its splice pipes (the bytes are copied meanwhile).
#[derive(Clone, Debug, Serialize)]
pub struct RelayExhausted<'a> {
    pub conn: TheRelay,
    #[serde(flatten)]
    pub episode: Exhausted<'a>,
}
