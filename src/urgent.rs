//! Urgent (out-of-band) data: one state machine per socket direction, used by watch
//! mode (reading or peeking) and by the relay.
//!
//! The rules it keeps (REPORT rows 21-26): a normal read at the urgent mark destroys the
//! urgent byte, reads never cross the mark, and a newer urgent byte replaces an unread
//! one. So the byte is taken with recv(MSG_OOB) before any normal read: early, on PRI,
//! and then placed when reading reaches its mark; reads are bounded by FIONREAD
//! measured *before* SIOCATMARK is asked (urgent data arriving in between lies beyond
//! that bound); and at the mark the byte is taken first. TCP's FIONREAD counts only the
//! bytes before the mark and says 0 at the mark even with data behind it, so once the
//! byte there is dealt with a read may pass the mark, and must.
//!
//! ```text
//!   Idle ──PRI──▶ Taken{byte} ──reading reaches the mark──▶ Placed ──read past──▶ Idle
//!   Idle ──at the mark──▶ (take) ──▶ Placed                 (Inline: SO_OOBINLINE)
//!   not consuming: Idle ──PRI──▶ Shown(byte) ──no more PRI──▶ Idle
//! ```
//! A taken byte is never lost: `leftover` hands it back when the stream or the run
//! ends before its mark.

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
    let queued = usize::try_from(queued(fd)).unwrap_or(0);
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

fn queued(fd: BorrowedFd<'_>) -> i32 {
    crate::describe::queued(fd, crate::describe::Kind::Socket).unwrap_or(0)
}

/// Where one socket direction is with its urgent data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Idle,
    /// Taken on PRI before reading reached its mark; `replaced` is an earlier taken byte
    /// never placed (TCP keeps one urgent pointer: a newer byte wins).
    Taken { byte: u8, replaced: Option<u8> },
    /// SO_OOBINLINE: the byte is in the stream; its mark is still to be reported.
    Inline,
    /// The mark here was reported: the next read passes it.
    Placed,
    /// Not consuming: the byte last shown (reported once), or None after "no byte".
    Shown(Option<u8>),
}

/// What the next read of a stream socket may do (`Urgent::next`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Read at most this many bytes (0 < n; never across a mark not yet dealt with).
    Read(usize),
    /// At the mark, its urgent byte dealt with: a normal read of at most this many
    /// bytes passes it (recv skips the byte's place; splice would stop there).
    Pass(usize),
    /// The read position is at the mark: this urgent byte comes now, after everything
    /// before it (report or forward it, then call `next` again).
    Urgent { byte: u8, replaced: Option<u8> },
    /// SO_OOBINLINE: the mark is here; the byte is the next one in the stream.
    InlineMark,
    /// The urgent pointer is announced but the byte has not arrived: reading on now
    /// would skip it. Wait for the next readiness.
    NotYet,
    /// Nothing is queued before a mark: the end of the stream, or nothing yet (a
    /// one-byte MSG_PEEK tells without consuming).
    Probe,
}

/// What a PRI showed when nothing is consumed (`Urgent::peek`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peeked {
    /// Already shown, or announced and not here yet: nothing to report.
    Quiet,
    Byte {
        byte: u8,
        replaced: Option<u8>,
    },
    /// PRI without an urgent byte: EINVAL (none) or EOPNOTSUPP.
    None(Errno),
}

/// The urgent-data state of one socket direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Urgent {
    state: State,
}

impl Urgent {
    /// PRI while consuming: take the byte now, before a normal read can destroy it; it
    /// is placed when reading reaches the mark. At the mark, the read path takes it.
    /// `Ok(Some(errno))`: PRI came with no urgent byte to take (say so once).
    pub fn take_early(
        &mut self,
        fd: BorrowedFd<'_>,
        oobinline: bool,
    ) -> Result<Option<Errno>, Errno> {
        if at_mark(fd) == Some(true) {
            return Ok(None);
        }
        match take(fd, false) {
            Oob::Byte(byte) => {
                let replaced = match self.state {
                    State::Taken { byte: old, .. } => Some(old),
                    _ => None,
                };
                self.state = State::Taken { byte, replaced };
                Ok(None)
            }
            Oob::NoByte if oobinline => {
                self.state = State::Inline;
                Ok(None)
            }
            Oob::NotYet => Ok(None),
            // Said once per PRI episode (`calm` ends it), and never over a taken byte.
            Oob::NoByte | Oob::Unsupported
                if matches!(self.state, State::Taken { .. } | State::Shown(None)) =>
            {
                Ok(None)
            }
            Oob::NoByte => {
                self.state = State::Shown(None);
                Ok(Some(Errno::EINVAL))
            }
            Oob::Unsupported => {
                self.state = State::Shown(None);
                Ok(Some(Errno::EOPNOTSUPP))
            }
            Oob::Failed(e) => Err(e),
        }
    }

    /// PRI while not consuming: the byte copied with MSG_PEEK, to be shown once (and a
    /// newer one replacing it said so).
    pub fn peek(&mut self, fd: BorrowedFd<'_>) -> Result<Peeked, Errno> {
        let shown = match self.state {
            State::Shown(s) => Some(s),
            _ => None,
        };
        Ok(match take(fd, true) {
            Oob::Byte(b) if shown == Some(Some(b)) => Peeked::Quiet,
            Oob::Byte(byte) => {
                self.state = State::Shown(Some(byte));
                Peeked::Byte {
                    byte,
                    replaced: shown.flatten(),
                }
            }
            Oob::NotYet => Peeked::Quiet,
            Oob::NoByte | Oob::Unsupported if shown.is_some() => Peeked::Quiet,
            Oob::NoByte => {
                self.state = State::Shown(None);
                Peeked::None(Errno::EINVAL)
            }
            Oob::Unsupported => {
                self.state = State::Shown(None);
                Peeked::None(Errno::EOPNOTSUPP)
            }
            Oob::Failed(e) => return Err(e),
        })
    }

    /// A readiness without PRI: what was shown is gone; the next PRI starts afresh.
    pub fn calm(&mut self) {
        if matches!(self.state, State::Shown(_)) {
            self.state = State::Idle;
        }
    }

    /// What the next read of the stream may do. `room(queued)` gets FIONREAD (measured
    /// first, see the module comment) and says how much the caller can take.
    pub fn next(
        &mut self,
        fd: BorrowedFd<'_>,
        oobinline: bool,
        room: impl FnOnce(usize) -> usize,
    ) -> Result<Next, Errno> {
        let queued = usize::try_from(queued(fd)).unwrap_or(0);
        let room = room(queued);
        if at_mark(fd) != Some(true) {
            if self.state == State::Placed {
                self.state = State::Idle;
            }
            return Ok(if queued > 0 {
                Next::Read(queued.min(room))
            } else {
                Next::Probe
            });
        }
        match self.state {
            State::Taken { byte, replaced } => {
                self.state = State::Placed;
                return Ok(Next::Urgent { byte, replaced });
            }
            State::Inline => {
                self.state = State::Placed;
                return Ok(Next::InlineMark);
            }
            // Reported already: this read passes the mark.
            State::Placed => return Ok(Next::Pass(room)),
            State::Idle | State::Shown(_) => {}
        }
        // At the mark with no byte taken yet (it came after the readiness, or PRI was
        // not watched): take it now, before the next normal read.
        match take(fd, false) {
            Oob::Byte(byte) => {
                self.state = State::Placed;
                Ok(Next::Urgent {
                    byte,
                    replaced: None,
                })
            }
            Oob::NotYet => Ok(Next::NotYet),
            Oob::NoByte if oobinline => {
                self.state = State::Placed;
                Ok(Next::InlineMark)
            }
            // The byte is out of the stream already: the read passes the mark.
            Oob::NoByte | Oob::Unsupported => Ok(Next::Pass(room)),
            Oob::Failed(e) => Err(e),
        }
    }

    /// The byte taken and never placed, when the stream or the run ends before its
    /// mark: it exists nowhere else, so the caller reports it.
    pub fn leftover(&mut self) -> Option<u8> {
        match std::mem::take(&mut self.state) {
            State::Taken { byte, .. } => Some(byte),
            other => {
                self.state = other;
                None
            }
        }
    }

    /// A byte is taken and waits for its mark.
    pub fn holds_byte(&self) -> bool {
        matches!(self.state, State::Taken { .. })
    }
}
