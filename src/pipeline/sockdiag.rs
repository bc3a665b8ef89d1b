//! The two sock_diag questions `fdwatch pipeline` asks the kernel: every UNIX socket
//! with its peer's inode, receive queue and memory (one dump), and one TCP socket by
//! its 4-tuple with its queues and memory (an exact lookup, a hash probe however many
//! connections the machine has).
//!
//! Written by hand rather than with the netlink crates: it is two fixed-size requests
//! and flat replies, and netlink-packet-sock-diag with netlink-sys would bring
//! netlink-packet-core, zerocopy (with its derive), smallvec and bitflags for them.
//! Only safe calls (nix's netlink socket, send and recv); the structs are laid out
//! byte by byte as linux/{netlink,sock_diag,unix_diag,inet_diag}.h define them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const HDR: usize = 16;

const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_PEER: u32 = 0x04;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UDIAG_SHOW_MEMINFO: u32 = 0x20;
const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_RQLEN: u16 = 4;
const UNIX_DIAG_MEMINFO: u16 = 5;
const INET_DIAG_SKMEMINFO: u16 = 7;

/// A socket's memory (sock_diag.h SK_MEMINFO_*): what it holds against its buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mem {
    /// Received bytes charged to it (with their overhead).
    pub rmem: u32,
    pub rcvbuf: u32,
    /// Sent bytes still charged to it: UNIX, in the peer's queue; TCP, not yet acked.
    pub wmem: u32,
    pub sndbuf: u32,
}

fn mem(b: &[u8], tcp: bool) -> Option<Mem> {
    let u = |i: usize| u32_at(b, i * 4);
    Some(Mem {
        rmem: u(0)?,
        rcvbuf: u(1)?,
        // TCP's queue is SK_MEMINFO_WMEM_QUEUED (what sndbuf bounds); UNIX's is the
        // allocation, SK_MEMINFO_WMEM_ALLOC.
        wmem: if tcp { u(5)? } else { u(2)? },
        sndbuf: u(3)?,
    })
}

/// One UNIX socket as sock_diag shows it.
#[derive(Clone, Debug, Default)]
pub struct Unix {
    /// SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM.
    pub kind: u8,
    /// The peer's inode; 0 once the peer is closed.
    pub peer: Option<u64>,
    /// Bytes in its receive queue (what FIONREAD says).
    pub rqueue: Option<u32>,
    pub mem: Option<Mem>,
    /// Its bound name: a path, or `@name` for an abstract one (raw: printers escape).
    pub name: Option<String>,
}

/// One TCP socket as inet_diag shows it.
#[derive(Clone, Copy, Debug)]
pub struct Tcp {
    pub inode: u64,
    /// Received, not yet read (FIONREAD).
    pub rqueue: u32,
    /// Written, not yet acknowledged by the peer (SIOCOUTQ).
    pub wqueue: u32,
    pub mem: Option<Mem>,
}

/// A NETLINK_SOCK_DIAG socket, for one snapshot's questions.
pub struct Diag {
    fd: OwnedFd,
    seq: u32,
}

impl Diag {
    pub fn open() -> Result<Diag, Errno> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkSockDiag,
        )?;
        Ok(Diag { fd, seq: 0 })
    }

    /// Every UNIX socket of this network namespace, by inode.
    pub fn unix_all(&mut self) -> Result<BTreeMap<u64, Unix>, Errno> {
        let mut req = Vec::with_capacity(24);
        req.extend_from_slice(&[libc::AF_UNIX as u8, 0, 0, 0]);
        req.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
        req.extend_from_slice(&0u32.to_ne_bytes()); // any inode
        let show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_MEMINFO;
        req.extend_from_slice(&show.to_ne_bytes());
        req.extend_from_slice(&[0xff; 8]); // no cookie
        let mut all = BTreeMap::new();
        self.ask(&req, NLM_F_DUMP, |msg| {
            // unix_diag_msg: family, type, state, pad, ino, cookie[2]; then attributes.
            let (Some(&kind), Some(ino)) = (msg.get(1), u32_at(msg, 4)) else {
                return;
            };
            let mut u = Unix {
                kind,
                ..Unix::default()
            };
            for (t, v) in attrs(msg.get(16..).unwrap_or_default()) {
                match t {
                    UNIX_DIAG_NAME => u.name = Some(unix_name(v)),
                    UNIX_DIAG_PEER => u.peer = u32_at(v, 0).map(u64::from),
                    UNIX_DIAG_RQLEN => u.rqueue = u32_at(v, 0),
                    UNIX_DIAG_MEMINFO => u.mem = mem(v, false),
                    _ => {}
                }
            }
            all.insert(u64::from(ino), u);
        })?;
        Ok(all)
    }

    /// The TCP socket whose own address is `local` and whose peer's is `remote`, if
    /// there is one (an IPv4-mapped IPv6 pair is looked up as the kernel keeps it).
    pub fn tcp(&mut self, local: SocketAddr, remote: SocketAddr) -> Result<Option<Tcp>, Errno> {
        let family = match local.ip() {
            IpAddr::V4(_) => libc::AF_INET,
            IpAddr::V6(_) => libc::AF_INET6,
        };
        let mut req = Vec::with_capacity(56);
        let ext = 1u8 << (INET_DIAG_SKMEMINFO - 1);
        req.extend_from_slice(&[family as u8, libc::IPPROTO_TCP as u8, ext, 0]);
        req.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
        req.extend_from_slice(&local.port().to_be_bytes());
        req.extend_from_slice(&remote.port().to_be_bytes());
        req.extend_from_slice(&ip16(local.ip()));
        req.extend_from_slice(&ip16(remote.ip()));
        req.extend_from_slice(&0u32.to_ne_bytes()); // any interface
        req.extend_from_slice(&[0xff; 8]); // no cookie
        let mut found = None;
        let r = self.ask(&req, 0, |msg| {
            // inet_diag_msg: family, state, timer, retrans, sockid (48 bytes), expires,
            // rqueue, wqueue, uid, inode; then attributes.
            let (Some(rq), Some(wq), Some(ino)) =
                (u32_at(msg, 56), u32_at(msg, 60), u32_at(msg, 68))
            else {
                return;
            };
            let mem = attrs(msg.get(72..).unwrap_or_default())
                .find(|(t, _)| *t == INET_DIAG_SKMEMINFO)
                .and_then(|(_, v)| mem(v, true));
            found = Some(Tcp {
                inode: u64::from(ino),
                rqueue: rq,
                wqueue: wq,
                mem,
            });
        });
        match r {
            // No such connection: the peer is gone (or in another network namespace).
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
            Ok(()) => Ok(found),
        }
    }

    /// Sends one request and hands each reply's payload to `each`, until the dump's
    /// end or the single answer (an error reply is the errno).
    fn ask(
        &mut self,
        payload: &[u8],
        flags: u16,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), Errno> {
        self.seq = self.seq.wrapping_add(1);
        let mut msg = Vec::with_capacity(HDR + payload.len());
        msg.extend_from_slice(&((HDR + payload.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        msg.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(payload);
        let kernel = NetlinkAddr::new(0, 0);
        sendto(self.fd.as_raw_fd(), &msg, &kernel, MsgFlags::empty())?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = loop {
                match recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                    Err(Errno::EINTR) => continue,
                    r => break r?,
                }
            };
            let mut rest = &buf[..n];
            while rest.len() >= HDR {
                let len = u32_at(rest, 0).unwrap_or(0) as usize;
                let kind = u16_at(rest, 4).unwrap_or(0);
                let seq = u32_at(rest, 8).unwrap_or(0);
                if len < HDR || len > rest.len() {
                    return Err(Errno::EBADMSG);
                }
                let body = &rest[HDR..len];
                rest = &rest[align4(len).min(rest.len())..];
                if seq != self.seq {
                    continue; // an answer to an earlier question
                }
                match kind {
                    NLMSG_DONE => return Ok(()),
                    NLMSG_ERROR => {
                        let e = u32_at(body, 0).map_or(0, |v| v as i32);
                        return match e {
                            0 => Ok(()),
                            e => Err(Errno::from_raw(-e)),
                        };
                    }
                    SOCK_DIAG_BY_FAMILY => {
                        each(body);
                        if flags & NLM_F_DUMP == 0 {
                            return Ok(());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The netlink attributes (struct rtattr: len, type, then the value, 4-aligned).
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, 0)?);
        let kind = u16_at(b, 2)?;
        let value = b.get(4..len)?;
        b = b.get(align4(len)..).unwrap_or_default();
        Some((kind, value))
    })
}

/// An address as inet_diag_sockid holds it: 16 bytes, IPv4 in the first four.
fn ip16(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// A sun_path as the kernel returns it: a path, or `@name` when it starts with NUL.
fn unix_name(v: &[u8]) -> String {
    match v.split_first() {
        Some((0, rest)) => format!("@{}", String::from_utf8_lossy(rest)),
        _ => String::from_utf8_lossy(v.split(|&b| b == 0).next().unwrap_or_default()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_names() {
        // Two attributes: a 5-byte name (padded to 8) and a u32.
        let mut b = vec![9, 0, 0, 0, b'/', b't', b'm', b'p', b'x', 0, 0, 0];
        b.extend_from_slice(&[8, 0, 2, 0]);
        b.extend_from_slice(&7u32.to_ne_bytes());
        let v: Vec<(u16, &[u8])> = attrs(&b).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(unix_name(v[0].1), "/tmpx");
        assert_eq!((v[1].0, u32_at(v[1].1, 0)), (UNIX_DIAG_PEER, Some(7)));
        assert_eq!(unix_name(b"\0abs"), "@abs");
        assert_eq!(attrs(&[200, 0, 1, 0]).count(), 0, "a length past the end");
    }

    #[test]
    fn addresses_as_sockid_holds_them() {
        let v4: IpAddr = "127.0.0.1".parse().expect("v4");
        assert_eq!(&ip16(v4)[..5], &[127, 0, 0, 1, 0]);
        let v6: IpAddr = "::1".parse().expect("v6");
        assert_eq!(ip16(v6)[15], 1);
    }
}
