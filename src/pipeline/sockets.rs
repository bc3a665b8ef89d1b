//! Socket links: the two ends of a connection, each its own inode, joined when both
//! are held by the processes. A UNIX stream or seqpacket socket names its peer's inode
//! in sock_diag (UNIX_DIAG_PEER); a TCP socket's peer is the one whose 4-tuple is its
//! own reversed (inet_diag, looked up by the addresses of a pidfd_getfd duplicate).
//! Each direction gets its queue (the receiver's, plus TCP's unacknowledged bytes in
//! the sender's), both buffers and whether a write would wait (a zero-timeout poll of
//! the writer's duplicate). Nothing is read, no flag changed, no duplicate kept.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::libc;
use nix::sys::socket::{SockaddrStorage, getpeername, getsockname};

use super::links::{Holder, Link, LinkFlow, LinkKind, SockEnd};
use super::scan::RawEnd;
use super::sockdiag::{Diag, Mem, Unix};
use crate::pidfd::Process;
use crate::probe;
use crate::readiness::{Conditions, Interest};

/// One socket inode the processes hold.
struct HeldSocket<'a> {
    dev: u64,
    holders: Vec<Holder>,
    /// Where to take a duplicate from.
    from: Vec<(&'a Process, i32)>,
}

impl HeldSocket<'_> {
    fn dup(&self) -> Option<OwnedFd> {
        self.from.iter().find_map(|(p, fd)| p.getfd(*fd).ok())
    }
}

/// One end as the kernel counts it.
struct DiagEnd {
    inode: u64,
    /// Bytes in its receive queue.
    rqueue: Option<i64>,
    /// TCP: bytes it sent that are not yet acknowledged.
    unacked: Option<i64>,
    mem: Option<Mem>,
    address: Option<String>,
}

/// The socket links among `fds` (every socket fd of the processes), and a note when
/// sock_diag could not be asked.
pub fn join(
    fds: &[(&Process, RawEnd)],
    joined: &mut BTreeSet<(u64, u64)>,
) -> (Vec<Link>, Option<String>) {
    let by = held_by(fds);
    if by.is_empty() {
        return (Vec::new(), None);
    }
    let (mut diag, unix) = match Diag::open().and_then(|mut d| Ok((d.unix_all()?, d))) {
        Ok((unix, diag)) => (diag, unix),
        Err(e) => {
            let why = format!(
                "socket links could not be joined: sock_diag refused ({e}: {})",
                e.desc()
            );
            return (Vec::new(), Some(why));
        }
    };
    let mut done = BTreeSet::new();
    let mut links = Vec::new();
    for (&ino, held) in &by {
        if !done.insert(ino) {
            continue;
        }
        let pair = match unix.get(&ino) {
            Some(u) => unix_pair(ino, u, &unix),
            None => held.dup().and_then(|d| tcp_pair(&mut diag, ino, &d)),
        };
        let Some((kind, a, b, path)) = pair else {
            continue;
        };
        // The peer, when one of the processes holds it; else the link lost it (kept
        // only if it once joined two of them).
        let b = b.filter(|b| b.inode != ino && by.contains_key(&b.inode));
        if let Some(b) = &b {
            done.insert(b.inode);
        }
        let peer = b.as_ref().and_then(|b| Some((b, by.get(&b.inode)?)));
        let link = link(kind, (&a, held), peer, path);
        if link.between() {
            joined.insert((held.dev, ino));
            if let Some(b) = &b {
                joined.insert((held.dev, b.inode));
            }
            links.push(link);
        } else if link.peer_lost && joined.contains(&(held.dev, ino)) {
            links.push(link);
        }
    }
    (links, None)
}

/// Each socket inode among `fds`, with the processes and fds that hold it.
fn held_by<'a>(fds: &[(&'a Process, RawEnd)]) -> BTreeMap<u64, HeldSocket<'a>> {
    let mut by: BTreeMap<u64, HeldSocket> = BTreeMap::new();
    for (p, e) in fds {
        let h = by.entry(e.ino).or_insert_with(|| HeldSocket {
            dev: e.dev,
            holders: Vec::new(),
            from: Vec::new(),
        });
        h.holders.push(Holder {
            pid: p.pid,
            fd: e.fd,
        });
        h.from.push((p, e.fd));
    }
    by
}

/// A UNIX stream or seqpacket socket and its peer (None once the peer is closed).
fn unix_pair(
    ino: u64,
    u: &Unix,
    all: &BTreeMap<u64, Unix>,
) -> Option<(LinkKind, DiagEnd, Option<DiagEnd>, Option<String>)> {
    if u.kind != libc::SOCK_STREAM as u8 && u.kind != libc::SOCK_SEQPACKET as u8 {
        return None;
    }
    let side = |inode: u64, u: &Unix| DiagEnd {
        inode,
        rqueue: u.rqueue.map(i64::from),
        unacked: None,
        mem: u.mem,
        address: u.name.clone(),
    };
    let peer = u
        .peer
        .filter(|&p| p != 0)
        .and_then(|p| Some(side(p, all.get(&p)?)));
    let path = u
        .name
        .clone()
        .or_else(|| peer.as_ref().and_then(|p| p.address.clone()));
    Some((LinkKind::Unix, side(ino, u), peer, path))
}

/// A TCP socket (by the addresses of `dup`) and its peer, when the peer is still there.
fn tcp_pair(
    diag: &mut Diag,
    ino: u64,
    dup: &OwnedFd,
) -> Option<(LinkKind, DiagEnd, Option<DiagEnd>, Option<String>)> {
    let inet = |s: SockaddrStorage| -> Option<SocketAddr> {
        if let Some(v4) = s.as_sockaddr_in() {
            return Some(SocketAddr::from(std::net::SocketAddrV4::from(*v4)));
        }
        s.as_sockaddr_in6()
            .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
    };
    let fd = dup.as_raw_fd();
    let local = inet(getsockname::<SockaddrStorage>(fd).ok()?)?;
    let remote = inet(getpeername::<SockaddrStorage>(fd).ok()?)?;
    let me = diag.tcp(local, remote).ok()??;
    if me.inode != ino {
        return None;
    }
    let side = |t: super::sockdiag::Tcp, at: SocketAddr| DiagEnd {
        inode: t.inode,
        rqueue: Some(i64::from(t.rqueue)),
        unacked: Some(i64::from(t.wqueue)),
        mem: t.mem,
        address: Some(at.to_string()),
    };
    // An orphan (closed by its process, the kernel finishing it) has no inode.
    let peer = diag
        .tcp(remote, local)
        .ok()
        .flatten()
        .filter(|t| t.inode != 0)
        .map(|t| side(t, remote));
    Some((LinkKind::Tcp, side(me, local), peer, None))
}

/// The link from its first end `a` (with its holders) and its peer.
fn link(
    kind: LinkKind,
    a: (&DiagEnd, &HeldSocket),
    peer: Option<(&DiagEnd, &HeldSocket)>,
    path: Option<String>,
) -> Link {
    let (sa, ha) = a;
    let end = |s: &DiagEnd, h: &HeldSocket| SockEnd {
        inode: s.inode,
        holders: h.holders.clone(),
        address: s.address.clone(),
    };
    let mut l = Link {
        number: 0,
        kind,
        inode: sa.inode,
        dev: ha.dev,
        flows: Vec::new(),
        ends: vec![end(sa, ha)],
        path,
        peer_lost: peer.is_none(),
    };
    let Some((sb, hb)) = peer else {
        // Lost peer: a write gets EPIPE; a read gets what is queued, then end of file.
        l.flows.push(LinkFlow {
            writers: ha.holders.clone(),
            no_reader: true,
            // UNIX: what it wrote went with the peer's queue; TCP: still unacked.
            queued: Some(sa.unacked.unwrap_or(0)),
            ..LinkFlow::default()
        });
        l.flows.push(LinkFlow {
            readers: ha.holders.clone(),
            no_writer: true,
            queued: sa.rqueue,
            ..LinkFlow::default()
        });
        return l;
    };
    // Duplicates to poll whether each side's writes would wait.
    let (da, db) = (ha.dup(), hb.dup());
    // The first end is the one its first holder (by pid, fd) holds.
    let first = |h: &HeldSocket| h.holders.iter().map(|x| (x.pid, x.fd)).min();
    let ((sa, ha, da), (sb, hb, db)) = if first(hb) < first(ha) {
        ((sb, hb, db), (sa, ha, da))
    } else {
        ((sa, ha, da), (sb, hb, db))
    };
    l.inode = sa.inode;
    l.ends = vec![end(sa, ha), end(sb, hb)];
    l.flows.push(flow((sa, ha, da.as_ref()), (sb, hb)));
    l.flows.push(flow((sb, hb, db.as_ref()), (sa, ha)));
    l
}

/// The direction from `w` (the writer's side, with a duplicate to poll) to `r`.
fn flow(w: (&DiagEnd, &HeldSocket, Option<&OwnedFd>), r: (&DiagEnd, &HeldSocket)) -> LinkFlow {
    let (sw, hw, dup) = w;
    let (sr, hr) = r;
    let queued = match (sr.rqueue, sw.unacked) {
        (Some(q), u) => Some(q + u.unwrap_or(0)),
        (None, u) => u,
    };
    // A buffer three quarters used or more is at its bound: the kernel refuses the
    // next allocation (TCP's next segment, a UNIX skb) before the last bytes fill.
    let at_bound = |used: u32, bound: u32| bound > 0 && u64::from(used) * 4 >= u64::from(bound) * 3;
    let mut limit = Vec::new();
    if sr.mem.is_some_and(|m| at_bound(m.rmem, m.rcvbuf)) {
        limit.push("receiver");
    }
    if sw.mem.is_some_and(|m| at_bound(m.wmem, m.sndbuf)) {
        limit.push("sender");
    }
    LinkFlow {
        writers: hw.holders.clone(),
        readers: hr.holders.clone(),
        queued,
        capacity: None,
        full: dup.is_some_and(|d| {
            let now = probe::now(d.as_fd(), Interest::WRITE).unwrap_or_default();
            !now.intersects(Conditions::WRITE | Conditions::ERROR)
        }),
        no_reader: false,
        no_writer: false,
        unacked: sw.unacked,
        sndbuf: sw.mem.map(|m| i64::from(m.sndbuf)),
        rcvbuf: sr.mem.map(|m| i64::from(m.rcvbuf)),
        limit,
    }
}
