//! What an fd is (pipe:[ino], FIFO path, tty, file, socket addresses), from fstat and /proc,
//! and which of the cheap per-event facts (bytes queued, pipe capacity, a lost reader)
//! mean something for its kind; `probe` asks the kernel.

mod anon;

pub use anon::{epoll_registration, epoll_target};

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::socket::{self, AddressFamily, SockType, SockaddrLike, SockaddrStorage, sockopt};
use nix::sys::stat::{SFlag, fstat};

use crate::probe;
use crate::readiness::{Conditions, Interest};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Pipe,
    Fifo,
    Tty,
    CharDev,
    BlockDev,
    File,
    Dir,
    Socket,
    /// Opened with O_PATH: no I/O possible (poll reports POLLNVAL).
    PathOnly,
    /// The anonymous-inode kinds (describe/anon.rs).
    EventFd,
    TimerFd,
    SignalFd,
    Inotify,
    Fanotify,
    Epoll,
    PidFd,
    IoUring,
    UserFault,
    /// A memfd: a file with a name and no path.
    Memfd,
    Other,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pipe => "pipe",
            Kind::Fifo => "fifo",
            Kind::Tty => "tty",
            Kind::CharDev => "chardev",
            Kind::BlockDev => "blockdev",
            Kind::File => "file",
            Kind::Dir => "dir",
            Kind::Socket => "socket",
            Kind::PathOnly => "path",
            Kind::EventFd => "eventfd",
            Kind::TimerFd => "timerfd",
            Kind::SignalFd => "signalfd",
            Kind::Inotify => "inotify",
            Kind::Fanotify => "fanotify",
            Kind::Epoll => "epoll",
            Kind::PidFd => "pidfd",
            Kind::IoUring => "io_uring",
            Kind::UserFault => "userfaultfd",
            Kind::Memfd => "memfd",
            Kind::Other => "other",
        }
    }

    /// FIONREAD means "bytes queued" for these.
    fn has_queue(self) -> bool {
        matches!(self, Kind::Pipe | Kind::Fifo | Kind::Tty | Kind::Socket)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    pub kind: Kind,
    pub what: String,
}

/// The device of pipefs, where every anonymous pipe lives (learnt once from a pipe
/// of our own): a FIFO on pipefs is `pipe:[INODE]` without asking /proc.
fn pipefs_dev() -> Option<u64> {
    static DEV: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *DEV.get_or_init(|| {
        let (r, _w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).ok()?;
        fstat(&r).ok().map(|st| st.st_dev)
    })
}

/// What /proc/self/fd/N would say, without the readlink where the kernel's name is
/// fixed: `pipe:[INODE]` for a pipe, `socket:[INODE]` for a socket (a start-up with
/// 100,000 fds spends a third of its system time in those path lookups otherwise).
fn proc_link(fd: BorrowedFd<'_>, st: Option<&nix::sys::stat::FileStat>) -> String {
    if let Some(st) = st {
        match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
            SFlag::S_IFIFO if pipefs_dev() == Some(st.st_dev) => {
                return format!("pipe:[{}]", st.st_ino);
            }
            SFlag::S_IFSOCK => return format!("socket:[{}]", st.st_ino),
            _ => {}
        }
    }
    // std's read_link starts from a small buffer (nix's takes PATH_MAX from the heap,
    // a page touched for a name like /dev/null).
    std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
        .map(|s| crate::escape::os(s.as_os_str()))
        .unwrap_or_else(|_| format!("fd {}", fd.as_raw_fd()))
}

/// Describes an open fd. Never fails: unknown things are described as /proc shows them.
pub fn describe(fd: BorrowedFd<'_>) -> Description {
    let stat = fstat(fd);
    let link = proc_link(fd, stat.as_ref().ok());
    let o_path = fcntl(fd, FcntlArg::F_GETFL)
        .is_ok_and(|fl| OFlag::from_bits_retain(fl).contains(OFlag::O_PATH));
    if o_path {
        return Description {
            kind: Kind::PathOnly,
            what: format!("path {link}"),
        };
    }
    // eventfd, timerfd, epoll...: whatever fstat says of their inode (pidfs gives a
    // regular file), /proc names them.
    if let Some((kind, what)) = anon::describe(fd, &link) {
        return Description { kind, what };
    }
    let Ok(st) = stat else {
        return Description {
            kind: Kind::Other,
            what: link,
        };
    };
    let (kind, what) = match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFIFO if link.starts_with("pipe:") => (Kind::Pipe, link),
        SFlag::S_IFIFO => (Kind::Fifo, format!("fifo {link}")),
        // A hung-up tty (its pty master closed) fails TCGETS with EIO, not ENOTTY.
        SFlag::S_IFCHR if matches!(nix::unistd::isatty(fd), Ok(true) | Err(Errno::EIO)) => {
            (Kind::Tty, format!("tty {link}"))
        }
        SFlag::S_IFCHR => (Kind::CharDev, format!("chardev {link}")),
        SFlag::S_IFBLK => (Kind::BlockDev, format!("blockdev {link}")),
        SFlag::S_IFREG => match anon::memfd(&link) {
            Some(what) => (Kind::Memfd, what),
            None => (Kind::File, format!("file {link}")),
        },
        SFlag::S_IFDIR => (Kind::Dir, format!("dir {link}")),
        SFlag::S_IFSOCK => (Kind::Socket, socket_what(fd, &link)),
        _ => (Kind::Other, link),
    };
    Description { kind, what }
}

/// `tcp 127.0.0.1:5000 -> 127.0.0.1:40122`, `tcp listen 0.0.0.0:8888`, `unix stream /path`.
fn socket_what(fd: BorrowedFd<'_>, link: &str) -> String {
    let raw = fd.as_raw_fd();
    let local: Option<SockaddrStorage> = socket::getsockname(raw).ok();
    let peer: Option<SockaddrStorage> = socket::getpeername(raw).ok();
    let ty = socket::getsockopt(&fd, sockopt::SockType).ok();
    let listening = socket::getsockopt(&fd, sockopt::AcceptConn).unwrap_or(false);
    let family = local.as_ref().and_then(|a| a.family());
    let ty_name = match ty {
        Some(SockType::Stream) => "stream",
        Some(SockType::Datagram) => "dgram",
        Some(SockType::SeqPacket) => "seqpacket",
        Some(SockType::Raw) => "raw",
        _ => "?",
    };
    if let Some(nl) = local.as_ref().and_then(|a| a.as_netlink_addr()) {
        return format!(
            "netlink {ty_name} pid {} groups {:#x}",
            nl.pid(),
            nl.groups()
        );
    }
    if let Some(ll) = local.as_ref().and_then(|a| a.as_link_addr()) {
        return format!(
            "packet {ty_name} ifindex {} protocol {:#06x}",
            ll.ifindex(),
            u16::from_be(ll.protocol())
        );
    }
    let proto = match (family, ty) {
        (Some(AddressFamily::Inet | AddressFamily::Inet6), Some(SockType::Stream)) => "tcp",
        (Some(AddressFamily::Inet | AddressFamily::Inet6), Some(SockType::Datagram)) => "udp",
        (Some(AddressFamily::Unix), Some(SockType::Stream)) => "unix stream",
        (Some(AddressFamily::Unix), Some(SockType::Datagram)) => "unix dgram",
        (Some(AddressFamily::Unix), Some(SockType::SeqPacket)) => "unix seqpacket",
        _ => return link.to_owned(),
    };
    let show =
        |a: &Option<SockaddrStorage>| a.as_ref().map_or_else(|| "?".into(), crate::net::show);
    if listening {
        format!("{proto} listen {}", show(&local))
    } else if peer.is_some() {
        format!("{proto} {} -> {}", show(&local), show(&peer))
    } else {
        format!("{proto} {} ({link})", show(&local))
    }
}

/// Bytes queued for reading (FIONREAD), where that is what FIONREAD means.
pub fn queued(fd: BorrowedFd<'_>, kind: Kind) -> Option<i32> {
    kind.has_queue().then(|| probe::queued(fd)).flatten()
}

/// A pipe's or FIFO's capacity (F_GETPIPE_SZ).
pub fn pipe_size(fd: BorrowedFd<'_>, kind: Kind) -> Option<i32> {
    matches!(kind, Kind::Pipe | Kind::Fifo)
        .then(|| probe::pipe_size(fd))
        .flatten()
}

/// Whether a pipe or FIFO write end has lost its last reader (an error to poll). The
/// select family cannot show this (such an fd stays "writable"), so a monitor asks poll.
pub fn reader_gone(fd: BorrowedFd<'_>, kind: Kind) -> bool {
    matches!(kind, Kind::Pipe | Kind::Fifo)
        && probe::now(fd, Interest::WRITE).is_ok_and(|c| c.contains(Conditions::ERROR))
}
