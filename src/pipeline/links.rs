//! The links between the processes: their pipe and FIFO ends joined by inode (each
//! measured on one pidfd_getfd duplicate per side: FIONREAD, F_GETPIPE_SZ, a
//! zero-timeout poll), their socket ends joined through sock_diag (sockets.rs), in
//! order along the pipeline. The duplicates share the processes' open file
//! descriptions, so they add no reader or writer; nothing is read from them, no flag
//! is changed and none is kept past the snapshot.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, OwnedFd, RawFd};

use super::scan::{Look, Object, RawEnd};
use crate::pidfd::Process;
use crate::probe;
use crate::readiness::{Conditions, Interest};

/// Which end of a link a process's fd is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkEnd {
    Read,
    Write,
    /// O_RDWR (a FIFO opened both ways, a socket): reads and writes.
    Both,
}

/// The kind of a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Pipe,
    /// A named pipe, with its path as /proc shows it.
    Fifo(String),
    /// A connected UNIX stream or seqpacket socket: its two ends, joined by sock_diag.
    Unix,
    /// A TCP connection whose two ends the processes hold (loopback).
    Tcp,
}

impl LinkKind {
    pub fn word(&self) -> &'static str {
        match self {
            LinkKind::Pipe => "pipe",
            LinkKind::Fifo(_) => "fifo",
            LinkKind::Unix => "unix",
            LinkKind::Tcp => "tcp",
        }
    }

    pub fn socket(&self) -> bool {
        matches!(self, LinkKind::Unix | LinkKind::Tcp)
    }
}

/// One process's fd on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub fd: RawFd,
}

/// One direction of a link: who writes it, who reads it, what is queued.
#[derive(Debug, Default)]
pub struct LinkFlow {
    pub writers: Vec<Holder>,
    pub readers: Vec<Holder>,
    /// Bytes written and not yet read: FIONREAD (a pipe), the receiver's queue (a
    /// socket; TCP adds what the sender's queue holds unacknowledged). None when no
    /// duplicate could be taken.
    pub queued: Option<i64>,
    /// F_GETPIPE_SZ for pipes and FIFOs.
    pub capacity: Option<i64>,
    /// A write would wait: a zero-timeout poll of a writer's duplicate has no POLLOUT
    /// (a pipe without a free slot, a socket past its send buffer's mark).
    pub full: bool,
    /// No process anywhere can read it (a write gets EPIPE): POLLERR on a pipe's write
    /// end, a socket's lost peer.
    pub no_reader: bool,
    /// No process anywhere can write it (the reader gets end of file).
    pub no_writer: bool,
    /// TCP: of `queued`, what the sender's queue holds, not yet acknowledged.
    pub unacked: Option<i64>,
    /// Sockets: the sender's SO_SNDBUF and the receiver's SO_RCVBUF, as the kernel
    /// counts them (bytes with their overhead).
    pub sndbuf: Option<i64>,
    pub rcvbuf: Option<i64>,
    /// Sockets: which buffer is at its bound (`sender`, `receiver`), when one is.
    pub limit: Vec<&'static str>,
}

/// A socket end of a link: its inode and who holds it.
#[derive(Debug)]
pub struct SockEnd {
    pub inode: u64,
    pub holders: Vec<Holder>,
    /// Its address (TCP `127.0.0.1:5000`, UNIX its bound name), raw: printers escape.
    pub address: Option<String>,
}

/// A pipe, FIFO or socket between the processes.
#[derive(Debug)]
pub struct Link {
    /// Numbered from 1 along the pipeline (by the first writer's pid and fd).
    pub number: usize,
    pub kind: LinkKind,
    /// A pipe's inode; a socket's first end's.
    pub inode: u64,
    pub dev: u64,
    /// A pipe's one direction; a socket's two, from its first end and back (one
    /// each way, with nobody on the far side, once the peer is lost).
    pub flows: Vec<LinkFlow>,
    /// A socket's ends (its first, then its peer unless lost); empty for a pipe.
    pub ends: Vec<SockEnd>,
    /// A UNIX socket's path or abstract name (`@name`), from whichever end is bound.
    pub path: Option<String>,
    /// A socket whose peer has closed (or left the processes) since it joined them.
    pub peer_lost: bool,
}

impl Link {
    /// A pipe or FIFO, measured later.
    fn pipe(kind: LinkKind, dev: u64, inode: u64) -> Link {
        Link {
            number: 0,
            path: match &kind {
                LinkKind::Fifo(p) => Some(p.clone()),
                _ => None,
            },
            kind,
            inode,
            dev,
            flows: vec![LinkFlow::default()],
            ends: Vec::new(),
            peer_lost: false,
        }
    }

    /// Written by one of the processes and read by another.
    pub fn between(&self) -> bool {
        self.flows.iter().any(|f| {
            f.writers
                .iter()
                .any(|w| f.readers.iter().any(|r| r.pid != w.pid))
        })
    }

    /// Whether any side of it lost its other end (no reader or no writer).
    pub fn lost_end(&self) -> bool {
        self.flows.iter().any(|f| f.no_reader || f.no_writer)
    }

    /// The first writer by (pid, fd), for the order along the pipeline.
    fn first_writer(&self) -> Option<(i32, RawFd)> {
        self.flows
            .iter()
            .flat_map(|f| f.writers.iter().map(|h| (h.pid, h.fd)))
            .min()
    }
}

/// One process's end of a pipe: who to duplicate it from, its number there, its side.
type Probe<'a> = (&'a Process, RawFd, LinkEnd);

/// A socket one process holds, for sockets.rs to join with its peer.
type SocketFd<'a> = (&'a Process, RawEnd);

/// The links among the processes, and a note when their sockets could not be joined.
/// `joined` remembers every link (and socket end) seen between two of them, so that
/// one which later loses a side is still theirs.
pub fn links(
    looks: &[(Look, &Process)],
    joined: &mut BTreeSet<(u64, u64)>,
) -> (Vec<Link>, Option<String>) {
    let (by, sockets) = pipes(looks);
    // A link joins two of the processes, or did and has lost one side (the pipeline's
    // own news); a pipe they only inherited (a jobserver's, one whose reader left long
    // ago) is not theirs.
    let mut v: Vec<Link> = by
        .into_iter()
        .filter(|(key, l)| {
            if l.between() {
                joined.insert(*key);
                return true;
            }
            l.lost_end() && joined.contains(key)
        })
        .map(|(_, l)| l)
        .collect();
    let (socks, note) = super::sockets::join(&sockets, joined);
    v.extend(socks);
    // Along the pipeline: links between two of the processes first, a link written by
    // an earlier process before a later one's; then the rest.
    v.sort_by_key(|l| {
        let w = l.first_writer();
        (!l.between(), w.is_none(), w, l.inode)
    });
    for (i, l) in v.iter_mut().enumerate() {
        l.number = i + 1;
    }
    (v, note)
}

/// The pipe and FIFO links the processes hold, each measured, by (device, inode);
/// and their socket ends, for sockets.rs to join.
fn pipes<'a>(looks: &[(Look, &'a Process)]) -> (BTreeMap<(u64, u64), Link>, Vec<SocketFd<'a>>) {
    let mut by: BTreeMap<(u64, u64), Link> = BTreeMap::new();
    let mut probe: BTreeMap<(u64, u64), Vec<Probe>> = BTreeMap::new();
    let mut sockets = Vec::new();
    for (look, p) in looks {
        for e in &look.ends {
            let kind = match &e.object {
                Object::Socket => {
                    sockets.push((*p, e.clone()));
                    continue;
                }
                Object::Pipe => LinkKind::Pipe,
                Object::Fifo(path) => LinkKind::Fifo(path.clone()),
            };
            let key = (e.dev, e.ino);
            let l = by
                .entry(key)
                .or_insert_with(|| Link::pipe(kind, e.dev, e.ino));
            let h = Holder {
                pid: p.pid,
                fd: e.fd,
            };
            if e.end != LinkEnd::Read {
                l.flows[0].writers.push(h);
            }
            if e.end != LinkEnd::Write {
                l.flows[0].readers.push(h);
            }
            probe.entry(key).or_default().push((p, e.fd, e.end));
        }
    }
    for (key, l) in by.iter_mut() {
        measure(
            &mut l.flows[0],
            probe.get(key).map_or(&[][..], Vec::as_slice),
        );
    }
    (by, sockets)
}

/// Queue, capacity, fullness and whether either side is gone, from duplicates of one
/// write end and one read end.
fn measure(f: &mut LinkFlow, ends: &[Probe]) {
    let dup = |want: LinkEnd| -> Option<OwnedFd> {
        ends.iter()
            .filter(|(_, _, e)| *e == want || *e == LinkEnd::Both)
            .find_map(|(p, fd, _)| p.getfd(*fd).ok())
    };
    let w = dup(LinkEnd::Write);
    let r = dup(LinkEnd::Read);
    let Some(any) = w.as_ref().or(r.as_ref()) else {
        return;
    };
    f.queued = probe::queued(any.as_fd()).map(i64::from);
    f.capacity = probe::pipe_size(any.as_fd()).map(i64::from);
    // Zero-timeout polls of our duplicates: what the kernel says of the pipe now.
    if let Some(w) = &w {
        let now = probe::now(w.as_fd(), Interest::WRITE).unwrap_or_default();
        f.no_reader = now.contains(Conditions::ERROR);
        f.full = !now.intersects(Conditions::WRITE | Conditions::ERROR);
    }
    f.no_writer = r.as_ref().is_some_and(|r| {
        let now = probe::now(r.as_fd(), Interest::READ).unwrap_or_default();
        now.contains(Conditions::HANGUP) && f.queued == Some(0)
    });
}
