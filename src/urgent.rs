//! Urgent (out-of-band) data: take the urgent byte before any normal read (a normal
//! read at the mark destroys it, REPORT row 22), and tell where the mark is.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{self, MsgFlags};

/// What recv(MSG_OOB) found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Oob {
    Byte(u8),
    /// EINVAL: no urgent byte (yet, any more, or SO_OOBINLINE keeps it in the stream).
    NoByte,
    /// EOPNOTSUPP: this socket type has no urgent data (AF_UNIX datagrams, old kernels).
    Unsupported,
    /// EAGAIN: announced but not readable yet.
    NotYet,
    Failed(Errno),
}

/// Takes (or, with `peek`, copies) the urgent byte, never blocking.
pub fn take(fd: BorrowedFd<'_>, peek: bool) -> Oob {
    let mut flags = MsgFlags::MSG_OOB | MsgFlags::MSG_DONTWAIT;
    if peek {
        flags |= MsgFlags::MSG_PEEK;
    }
    let mut b = [0u8; 1];
    loop {
        return match socket::recv(fd.as_raw_fd(), &mut b, flags) {
            Ok(1) => Oob::Byte(b[0]),
            Ok(_) | Err(Errno::EINVAL) => Oob::NoByte,
            Err(Errno::EOPNOTSUPP) => Oob::Unsupported,
            Err(Errno::EAGAIN) => Oob::NotYet,
            Err(Errno::EINTR) => continue,
            Err(e) => Oob::Failed(e),
        };
    }
}

/// SIOCATMARK from <linux/sockios.h> (the libc crate does not export it for Linux).
const SIOCATMARK: libc::Ioctl = 0x8905;

/// SIOCATMARK: whether the next normal read starts at the urgent mark.
pub fn at_mark(fd: BorrowedFd<'_>) -> Option<bool> {
    let mut v: libc::c_int = 0;
    // SAFETY: nix has no SIOCATMARK wrapper; the ioctl writes one c_int, and `fd`
    // is open for the duration of the borrow.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCATMARK, &mut v) };
    (r == 0).then_some(v != 0)
}

/// How many normal bytes are queued before the urgent mark: 0 at the mark. TCP's
/// FIONREAD counts exactly those while urgent data is pending (REPORT row 23); AF_UNIX
/// counts the whole queue, but a peek stops at the mark there too.
pub fn before_mark(fd: BorrowedFd<'_>) -> u64 {
    if at_mark(fd) != Some(false) {
        return 0;
    }
    let queued = crate::describe::queued(fd, crate::describe::Kind::Socket).unwrap_or(0);
    let queued = usize::try_from(queued).unwrap_or(0);
    let family = socket::getsockname::<socket::SockaddrStorage>(fd.as_raw_fd())
        .ok()
        .and_then(|a| socket::SockaddrLike::family(&a));
    if family != Some(socket::AddressFamily::Unix) || queued == 0 {
        return queued as u64;
    }
    // Bounded: a larger queue before the mark is reported as this much.
    let mut buf = vec![0u8; queued.min(1 << 20)];
    let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
    socket::recv(fd.as_raw_fd(), &mut buf, flags).map_or(0, |n| n as u64)
}
