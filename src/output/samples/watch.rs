//! Watch mode's samples (and `pid:PID`'s).

use std::time::Duration;

use nix::errno::Errno;

use super::{AT, NO_FD, raw};
use crate::event::*;
use crate::readiness::{Conditions, Interest};
use crate::timeout::Timeout;

pub(super) fn fd_samples() -> Vec<Event<'static>> {
    let data = |shown, total| {
        Event::from(Data {
            at: AT,
            bytes: 3,
            total,
            rate: total.map(|_| 2.5),
            shown,
            peek: total.is_none(),
        })
    };
    vec![
        Event::from(Ready {
            at: AT,
            kind: "pipe",
            cond: Conditions::READ,
            raw: raw(),
            backend: "test",
            fallback: Some(crate::backend::EPOLL_FALLBACK),
            queued: Some(3),
            pipe_size: None,
        }),
        Event::from(FdError {
            at: NO_FD,
            errno: Errno::ENXIO,
            message: "no reader",
        }),
        data(Some(Shown::Text(b"a\xff")), Some(3)),
        data(
            Some(Shown::Hex {
                offset: 0,
                bytes: b"abc",
            }),
            None,
        ),
        Event::from(Eof { at: AT, total: 3 }),
        Event::from(Hangup {
            at: AT,
            action: Action::Remove,
        }),
    ]
}

pub(super) fn socket_samples() -> Vec<Event<'static>> {
    let episode = |phase| Exhausted {
        at: NO_FD,
        call: "accept",
        errno: Errno::EMFILE,
        phase,
        clients: true,
    };
    let end = Phase::End {
        refused: 2,
        duration: Duration::from_millis(5),
    };
    vec![
        Event::from(episode(Phase::Start)),
        Event::from(episode(end)),
        Event::from(Accept {
            at: AT,
            listener: 4,
            peer: "127.0.0.1:2",
        }),
        Event::from(Connect {
            at: AT,
            target: Some(ConnectTarget {
                target: "tcp:localhost:1",
                addr: "127.0.0.1:1",
            }),
            result: ConnectResult(Some(Errno::ECONNREFUSED)),
        }),
        Event::from(UrgentData {
            at: AT,
            byte: UrgentByte(Some(b'!')),
            atmark: Some(true),
            offset: 3,
            peek: false,
            inline: false,
            replaced: Replaced(Some(b'?')),
            errno: None,
        }),
    ]
}

pub(super) fn run_samples() -> Vec<Event<'static>> {
    vec![
        Event::from(SignalCaught {
            name: "SIGUSR1",
            number: 10,
            pid: Some(1),
            uid: Some(0),
            pending: false,
        }),
        Event::from(TimedOut {
            timeout: Duration::from_secs(1),
        }),
        Event::from(WaitCall {
            call: "wait",
            timeout: None,
            blocked: Duration::ZERO,
            result: Ret(Err(Errno::EINTR)),
        }),
        Event::from(Note {
            fd: None,
            message: "how",
        }),
    ]
}

/// The run's end, and `pid:PID`'s.
pub(super) fn end_samples() -> Vec<Event<'static>> {
    vec![
        Event::from(Watching {
            at: AT,
            kind: "pipe",
            want: Interest::READ,
            path: Some("/tmp/f"),
        }),
        Event::from(summary()),
        Event::from(BlockedThread {
            pid: 1,
            tid: 1,
            comm: "cat".into(),
            state: "S".into(),
            call: Some("read".into()),
            nr: Some(0),
            wchan: None,
            timeout_ms: None,
            epfd: None,
            note: None,
            fds: vec![WaitedFd {
                fd: 0,
                want: Interest::READ,
                flags: Vec::new(),
                what: "pipe:[1]".into(),
                ready: Some(Conditions::empty()),
                queued: None,
                error: None,
            }],
            set: false,
        }),
    ]
}

/// The other ways a watch-mode line can go.
pub(super) fn watch_variants() -> Vec<Event<'static>> {
    let urgent = |byte, peek, inline, errno| UrgentData {
        at: AT,
        byte: UrgentByte(byte),
        atmark: None,
        offset: 7,
        peek,
        inline,
        replaced: Replaced(None),
        errno,
    };
    let mut v: Vec<Event<'static>> = [Action::Reopen, Action::End, Action::Gone]
        .map(|action| Event::from(Hangup { at: AT, action }))
        .into();
    v.extend([
        Event::from(Data {
            at: AT,
            bytes: 6,
            total: Some(9),
            rate: None,
            shown: Some(Shown::Text(b"hello\n")),
            peek: false,
        }),
        Event::from(urgent(Some(0xe9), true, false, None)),
        Event::from(urgent(None, false, true, None)),
        Event::from(urgent(None, true, false, Some(Errno::EINVAL))),
        Event::from(urgent(None, false, false, None)),
        Event::from(Connect {
            at: AT,
            target: None,
            result: ConnectResult(None),
        }),
        Event::from(Exhausted {
            at: NO_FD,
            call: "open",
            errno: Errno::ENFILE,
            phase: Phase::End {
                refused: 1,
                duration: Duration::from_millis(1500),
            },
            clients: false,
        }),
    ]);
    v
}

/// Threads of another process: in a set wait, with two fds, in no call.
fn threads() -> [BlockedThread; 3] {
    let blocked = BlockedThread {
        pid: 2,
        tid: 3,
        comm: "poller".into(),
        state: "S".into(),
        call: Some("epoll_wait".into()),
        nr: Some(232),
        wchan: Some("ep_poll".into()),
        timeout_ms: Some(500),
        epfd: Some(5),
        note: Some("note".into()),
        fds: vec![WaitedFd {
            fd: 6,
            want: Interest::SOCKET,
            flags: vec!["ET"],
            what: "tcp 127.0.0.1:1 -> 127.0.0.1:2".into(),
            ready: Some(Conditions::READ | Conditions::HANGUP),
            queued: Some(4),
            error: None,
        }],
        set: true,
    };
    let unchecked = WaitedFd {
        ready: None,
        error: Some("gone".into()),
        ..blocked.fds[0].clone()
    };
    let not_in_call = BlockedThread {
        call: None,
        note: None,
        fds: Vec::new(),
        ..blocked.clone()
    };
    let mut two = blocked.clone();
    two.fds.push(unchecked);
    two.timeout_ms = None;
    [blocked, two, not_in_call]
}

/// More of them: a run's end, another process's threads.
pub(super) fn run_variants() -> Vec<Event<'static>> {
    let [blocked, two, not_in_call] = threads();
    vec![
        Event::from(SignalCaught {
            name: "SIGUSR2",
            number: 12,
            pid: None,
            uid: None,
            pending: true,
        }),
        Event::from(WaitCall {
            call: "wait",
            timeout: Some(Duration::from_millis(250)),
            blocked: Duration::from_micros(1500),
            result: Ret(Ok(2)),
        }),
        Event::from(Summary {
            timeout: Timeout::After(Duration::from_secs(2)),
            left: Some(Duration::from_millis(1250)),
            bytes: Vec::new(),
            ..summary()
        }),
        Event::from(blocked),
        Event::from(two),
        Event::from(not_in_call),
    ]
}

fn summary() -> Summary {
    Summary {
        backend: "test",
        waits: 1,
        events: 2,
        ready_fds: 1,
        blocked: Duration::ZERO,
        timeout: Timeout::Forever,
        left: None,
        elapsed: Duration::ZERO,
        bytes: vec![FdBytes {
            fd: 3,
            what: "pipe:[1]".into(),
            bytes: 3,
        }],
    }
}
