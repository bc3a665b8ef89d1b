//! The `pipeline` kind of the schema table (kinds.rs holds the rest): one line per
//! snapshot of `fdwatch pipeline`.

use super::{KindRow, of};
use crate::pipeline::SnapshotLine;

pub const PIPELINE: KindRow = KindRow {
    send: false,
    about: "one snapshot of the processes and the pipes, FIFOs and sockets between them",
    fields: &[
        (
            "processes",
            "each process: pid, comm, state (the letter of /proc/PID/stat, gone once \
             reaped), call (the system call it is blocked in, as pid:PID reports it, or \
             null), fd (the fd that call waits on, the first of a select, poll or epoll \
             set, or null), waits (every fd the call waits on: fd, read, write; the \
             verdict judges a select, poll or epoll wait by all of them), read_rate and \
             write_rate (bytes/s from /proc/PID/io since the last snapshot; null in the \
             first), exit (a zombie's end: SIGPIPE, status 1), error (why it could not \
             be inspected)",
        ),
        (
            "links",
            "each link: number (from 1, along the pipeline), kind (pipe, fifo, unix: a \
             UNIX stream or seqpacket socket, tcp: a TCP connection, both ends held by \
             the processes), inode (a socket's first end's), path (a FIFO's; a UNIX \
             socket's bound path or @abstract name), writers and readers (lists of {pid, \
             fd}; a socket's holders of either end are both), queued (bytes written and \
             not yet read: FIONREAD; a socket's, both ways), capacity (F_GETPIPE_SZ), \
             full (a write would wait: a zero-timeout poll of a writer's duplicate has no \
             POLLOUT), no_reader (nobody can read it: a write gets EPIPE), no_writer \
             (nobody can write it: the reader gets end of file). Sockets also have \
             peer_lost (the peer closed since it joined the processes), ends (its first \
             end, then its peer's: inode, address, holders) and directions (one each way: \
             from and to, indexes into ends or null for a lost peer; queued, the \
             receiver's queue, with TCP's bytes not yet acknowledged in the sender's; \
             unacked, those TCP bytes; sndbuf, the sender's send buffer, and rcvbuf, the \
             receiver's receive buffer, in bytes as the kernel counts them with their \
             overhead; full; limit, which of them is at its bound, sender or receiver, \
             three quarters used or more)",
        ),
        (
            "note",
            "why some links could not be found (sock_diag refused: the socket links \
             are missing, the pipes still shown), or null",
        ),
        (
            "pgid",
            "with --pgid: the process group watched (the group of the process named when no \
             group has that number: a shell's $! names a pipeline's last process), or null",
        ),
        (
            "verdict",
            "state (stuck, flowing, idle, done), sentence (who holds the pipeline \
             back, in words) and pids (the processes it names, the one holding the \
             rest back first)",
        ),
    ],
    ..of::<SnapshotLine>()
};
