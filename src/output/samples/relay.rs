//! The relay's samples.

use std::time::Duration;

use nix::errno::Errno;

use super::NO_FD;
use crate::event::*;

pub(super) fn relay_samples() -> Vec<Event<'static>> {
    let flow = Flow {
        conn: 1,
        from: Side::Client,
    };
    vec![
        Event::from(RelayListen {
            conn: TheRelay,
            what: "tcp 127.0.0.1:1",
            target: "tcp:127.0.0.1:2",
            all_interfaces: false,
        }),
        Event::from(RelayAccept {
            conn: 1,
            peer: "127.0.0.1:3",
        }),
        Event::from(RelayConnect {
            conn: 1,
            target: "tcp:127.0.0.1:2",
            addr: Some("127.0.0.1:2"),
            result: ConnectResult(Some(Errno::ECONNREFUSED)),
        }),
        Event::from(RelayData {
            flow,
            bytes: 2,
            total: 2,
            shown: Some(Shown::Text(b"\xff")),
        }),
        Event::from(RelayData {
            flow,
            bytes: 2,
            total: 2,
            shown: Some(Shown::Hex {
                offset: 0,
                bytes: b"ab",
            }),
        }),
        Event::from(RelayUrgent {
            flow,
            byte: UrgentByte(b'!'),
            offset: 2,
            replaced: Replaced(None),
            relayed: false,
        }),
    ]
}

pub(super) fn relay_end_samples() -> Vec<Event<'static>> {
    let flow = Flow {
        conn: 1,
        from: Side::Client,
    };
    let traffic = Traffic::default();
    vec![
        Event::from(RelayHalfClose { flow }),
        Event::from(RelayReset { flow }),
        Event::from(RelayError {
            flow: Flow {
                conn: 1,
                from: None,
            },
            errno: Errno::EPIPE,
            message: "write failed",
        }),
        Event::from(RelayClose {
            conn: 1,
            traffic,
            duration: Duration::ZERO,
        }),
        Event::from(RelaySummary {
            conn: TheRelay,
            connections: 1,
            traffic,
            elapsed: Duration::ZERO,
            backend: Some("test"),
        }),
        Event::from(RelaySignal {
            conn: TheRelay,
            name: "SIGTERM",
            number: 15,
            pid: 1,
        }),
        Event::from(RelayTimeout {
            conn: TheRelay,
            idle: Duration::from_secs(1),
        }),
        Event::from(RelayExhausted {
            conn: TheRelay,
            episode: Exhausted {
                at: NO_FD,
                call: "pipe2",
                errno: Errno::ENFILE,
                phase: Phase::End {
                    refused: 0,
                    duration: Duration::ZERO,
                },
                clients: false,
            },
        }),
    ]
}

/// The other ways a relay line can go.
pub(super) fn relay_variants() -> Vec<Event<'static>> {
    let flow = Flow {
        conn: 2,
        from: Side::Target,
    };
    vec![
        Event::from(RelayListen {
            conn: TheRelay,
            what: "tcp 0.0.0.0:1",
            target: "tcp:127.0.0.1:2",
            all_interfaces: true,
        }),
        Event::from(RelayConnect {
            conn: 2,
            target: "tcp:127.0.0.1:2",
            addr: None,
            result: ConnectResult(None),
        }),
        Event::from(RelayData {
            flow,
            bytes: 5,
            total: 12,
            shown: None,
        }),
        Event::from(RelayUrgent {
            flow,
            byte: UrgentByte(b'x'),
            offset: 12,
            replaced: Replaced(Some(b'y')),
            relayed: true,
        }),
        Event::from(RelayError {
            flow: Flow {
                conn: 2,
                from: Some(Side::Target),
            },
            errno: Errno::ECONNRESET,
            message: "read failed",
        }),
        Event::from(RelaySummary {
            conn: TheRelay,
            connections: 0,
            traffic: Traffic::default(),
            elapsed: Duration::ZERO,
            backend: None,
        }),
    ]
}
