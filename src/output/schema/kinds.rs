//! The table of every JSON event kind and its fields (the schema's content; mod.rs
//! has its shape, the lookup and the man page section). One row per field; the fields
//! several kinds share are constants in fields.rs.

use super::fields::*;
use super::{KindRow, of};
use crate::bench::BenchRow;
use crate::event::*;

macro_rules! fields {
    ($($f:expr),* $(,)?) => { &[$($f),*] };
}

pub const KINDS: &[KindRow] = &[
    KindRow {
        send: false,
        about: "an fd is ready",
        fields: fields![
            FD,
            WHAT,
            ("kind", "pipe, fifo, tty, file, socket, eventfd, timerfd..."),
            (
                "ready",
                "the conditions: read, write, urgent, hangup, rdhup, error, invalid",
            ),
            (
                "raw",
                "the wait call's result as the kernel gave it: POLLIN|POLLHUP, R-X, EPOLLIN"
            ),
            ("backend", "select, pselect, poll, ppoll, epoll or uring"),
            (
                "fallback",
                "poll, when epoll refused the fd and poll checked it (absent otherwise)",
            ),
            ("queued", "bytes queued (FIONREAD), or null"),
            ("pipe_size", "a pipe's capacity (F_GETPIPE_SZ), or null"),
        ],
        ..of::<Ready>()
    },
    KindRow {
        send: false,
        about: "bytes consumed (--read, --tee) or shown (--peek)",
        fields: fields![
            FD,
            WHAT,
            BYTES,
            (
                "total",
                "bytes consumed from the fd so far (null for --peek)"
            ),
            (
                "rate",
                "--read=count: bytes per second since the first data"
            ),
            TEXT,
            DATA_HEX,
            HEX_ROWS,
            ("peek", "true when nothing was consumed (--peek)"),
        ],
        ..of::<Data>()
    },
    KindRow {
        send: false,
        about: "urgent (out-of-band) data, in stream order",
        fields: fields![
            FD,
            WHAT,
            BYTE,
            BYTE_HEX,
            ("atmark", "SIOCATMARK when it was taken, or null"),
            OFFSET,
            ("peek", "copied with MSG_PEEK, not consumed"),
            (
                "inline",
                "SO_OOBINLINE: the byte stays in the stream; this marks its place",
            ),
            REPLACED,
            REPLACED_HEX,
            (
                "errno",
                "why there is no byte (EINVAL: none; EOPNOTSUPP), or null",
            ),
        ],
        ..of::<UrgentData>()
    },
    KindRow {
        send: false,
        about: "a read returned end of file",
        fields: fields![FD, WHAT, ("total", "bytes consumed from the fd")],
        ..of::<Eof>()
    },
    KindRow {
        send: false,
        about: "the other side is gone and fdwatch acted on it",
        fields: fields![
            FD,
            WHAT,
            (
                "action",
                "reopen (a FIFO), remove (the fd leaves the watch set), end (--once) or gone (another process's fd)",
            ),
        ],
        ..of::<Hangup>()
    },
    KindRow {
        send: false,
        about: "a listener accepted a connection, now watched",
        fields: fields![
            ("fd", "the new socket"),
            WHAT,
            ("listener", "the listening fd"),
            ("peer", "the client's address, escaped"),
        ],
        ..of::<Accept>()
    },
    KindRow {
        send: false,
        about: "a non-blocking connect (a tcp: or unix: spec) finished",
        fields: fields![FD, WHAT, TARGET, ADDR, RESULT, MESSAGE],
        ..of::<Connect>()
    },
    KindRow {
        send: false,
        about: "something failed for one fd; the run goes on",
        fields: fields![FD, WHAT, ERRNO, MESSAGE],
        ..of::<FdError>()
    },
    KindRow {
        send: false,
        about: "a resource ran out and fdwatch backs off: one when it starts, one when it ends (see RUNNING OUT OF DESCRIPTORS)",
        fields: &EXHAUSTED,
        ..of::<Exhausted>()
    },
    KindRow {
        send: false,
        about: "a caught signal",
        fields: fields![
            SIGNAL[0],
            SIGNAL[1],
            SIGNAL[2],
            ("uid", "the sender's uid, when known (else null)"),
            (
                "pending",
                "a --mask signal still blocked when the run ended"
            ),
        ],
        ..of::<SignalCaught>()
    },
    KindRow {
        send: false,
        about: "the wait ended with nothing ready",
        fields: fields![("timeout", "the timeout, in seconds")],
        ..of::<TimedOut>()
    },
    KindRow {
        send: false,
        about: "-v: one call of the backend",
        fields: fields![
            ("call", "the call: poll, epoll_pwait..."),
            ("timeout", "its timeout in seconds (null: none)"),
            ("blocked", "seconds spent in it"),
            ("ret", "its return value (-1: failed)"),
            ("errno", "when it failed"),
        ],
        ..of::<WaitCall>()
    },
    KindRow {
        send: false,
        about: "-v: how fdwatch watches something",
        fields: fields![FD, MESSAGE],
        ..of::<Note>()
    },
    KindRow {
        send: false,
        about: "-v, at the start: one per watched fd",
        fields: fields![
            FD,
            WHAT,
            ("kind", "as in ready"),
            ("want", "what is asked: read, write, urgent"),
            ("path", "the path it was opened from, or null"),
        ],
        ..of::<Watching>()
    },
    KindRow {
        send: false,
        about: "fdwatch pid:PID: what one thread is blocked in",
        fields: fields![
            ("pid", "the process"),
            ("tid", "the thread"),
            ("comm", "its name, escaped"),
            ("state", "its state letter: S, R, T..."),
            ("call", "the system call, or null"),
            ("nr", "its number, or null"),
            ("wchan", "where it sleeps in the kernel, or null"),
            ("timeout_ms", "the call's timeout, or null (none)"),
            ("epfd", "the epoll fd of an epoll wait, or null"),
            (
                "note",
                "why the fds could not be listed, `a kernel thread` for one (no call), or null",
            ),
            (
                "fds",
                "the fds the call waits on: fd, want, flags (epoll: ET, ONESHOT...), what, ready (now, or null), queued, error",
            ),
        ],
        ..of::<BlockedThread>()
    },
    KindRow {
        send: false,
        about: "the end of a run",
        fields: fields![
            ("backend", "the multiplexer"),
            ("waits", "wait calls made"),
            ("events", "events reported"),
            ("ready_fds", "fds reported ready"),
            ("blocked", "seconds spent in wait calls"),
            ("timeout", "the timeout in seconds (null: none)"),
            ("left", "what was left of it (null: none)"),
            ("elapsed", "seconds the run took"),
            ("bytes", "bytes consumed per fd: fd, what, bytes"),
        ],
        ..of::<Summary>()
    },
    KindRow {
        send: false,
        about: "the relay listens",
        fields: fields![
            ("what", "the listening socket"),
            TARGET,
            (
                "all_interfaces",
                "bound to every interface: reachable from the network"
            ),
        ],
        ..of::<RelayListen>()
    },
    KindRow {
        send: false,
        about: "a client connected",
        fields: fields![("peer", "the client's address, escaped")],
        ..of::<RelayAccept>()
    },
    KindRow {
        send: true,
        about: "the connection to the target (send: to ADDRESS) finished",
        fields: fields![TARGET, ADDR, RESULT, MESSAGE],
        ..of::<RelayConnect>()
    },
    KindRow {
        send: true,
        about: "bytes relayed (send: sent; from the target: read back)",
        fields: fields![
            FROM,
            BYTES,
            ("total", "bytes relayed that way so far"),
            TEXT,
            DATA_HEX,
            HEX_ROWS,
        ],
        ..of::<RelayData>()
    },
    KindRow {
        send: true,
        about: "an urgent byte relayed at its stream offset (send: sent with MSG_OOB, or read)",
        fields: fields![
            FROM,
            BYTE,
            BYTE_HEX,
            OFFSET,
            REPLACED,
            REPLACED_HEX,
            (
                "relayed",
                "present (false) only for a byte taken from that side and never passed on: the connection ended, a reset, before its place"
            ),
        ],
        ..of::<RelayUrgent>()
    },
    KindRow {
        send: true,
        about: "a side shut down its write side, and SHUT_WR went on to the other",
        fields: fields![FROM],
        ..of::<RelayHalfClose>()
    },
    KindRow {
        send: true,
        about: "a side reset the connection (send: SO_LINGER 0, or the server's reset)",
        fields: fields![FROM],
        ..of::<RelayReset>()
    },
    KindRow {
        send: false,
        about: "a connection failed",
        fields: fields![("from", "the side, or null"), ERRNO, MESSAGE],
        ..of::<RelayError>()
    },
    KindRow {
        send: true,
        about: "a connection is over",
        fields: fields![
            TRAFFIC[0],
            TRAFFIC[1],
            TRAFFIC[2],
            TRAFFIC[3],
            ("duration", "seconds it lasted"),
        ],
        ..of::<RelayClose>()
    },
    KindRow {
        send: true,
        about: "the end of the run",
        fields: fields![
            ("connections", "connections accepted (send: opened)"),
            TRAFFIC[0],
            TRAFFIC[1],
            TRAFFIC[2],
            TRAFFIC[3],
            ("elapsed", "seconds the run took"),
            ("backend", "the multiplexer (absent for send)"),
        ],
        ..of::<RelaySummary>()
    },
    KindRow {
        send: false,
        about: "a signal that ends the relay",
        fields: &SIGNAL,
        ..of::<RelaySignal>()
    },
    KindRow {
        send: false,
        about: "--idle passed with no traffic",
        fields: fields![("timeout", "the idle time, in seconds")],
        ..of::<RelayTimeout>()
    },
    KindRow {
        send: false,
        about: "as watch mode's: fd and what name the listener (or the splice pipes)",
        fields: &EXHAUSTED,
        ..of::<RelayExhausted>()
    },
    KindRow {
        send: false,
        about: "one measured (or refused) row, with the C reference's (ref_pingpong) field names",
        fields: fields![
            ("backend", "select, poll, epoll, uring..."),
            ("mode", "same (one process) or wake (two)"),
            ("fds", "N, the fds watched"),
            ("active", "K, the fds made ready"),
            ("refused", "why the row was not measured (only then)"),
            ("rounds", "events per repeat"),
            ("repeats", "repeats measured"),
            ("timeout_ms", "the wait's timeout (-1: blocking)"),
            ("pick", "how active fds are picked: rotate"),
            ("cpu", "the CPU pinned to (-1: none)"),
            ("ns_per_event", "the median over repeats"),
            ("ns_min", "the fastest repeat"),
            ("ns_max", "the slowest repeat"),
            ("events_per_s", "1e9 / ns_per_event"),
            ("impl", "fdwatch (the C reference has no such field)"),
        ],
        ..of::<BenchRow>()
    },
    // Its own file: this one is at the size limit.
    super::pipeline::PIPELINE,
];
