//! Urgent (out-of-band) data: one state machine per socket direction, used by watch
//! mode (reading or peeking) and by the relay.
//!
//! The kernel's rules (tcp(7), and what tcp_check_urg/tcp_recvmsg do): TCP keeps one
//! urgent pointer; a normal read that starts at the mark skips the byte there whether or
//! not it was taken, so reading at the mark before recv(MSG_OOB) destroys the byte;
//! reads never cross a mark; a newer urgent byte moves the pointer (an older byte not
//! yet taken becomes normal data, or is dropped when it was at the read position); after
//! recv(MSG_OOB) SIOCATMARK stays true until a read passes the mark. So the byte is taken
//! with recv(MSG_OOB) before any normal read: early, on PRI, then placed when reading
//! reaches its mark; a read is made only when FIONREAD, measured *before* SIOCATMARK is
//! asked, says bytes are queued (a mark arriving in between then lies past the read
//! position), and is bounded by that count (the relay's splice takes what its pipe has
//! room for: it stops before a mark by itself). TCP's FIONREAD counts only the bytes
//! before the mark and says 0 at the mark even with data behind it.
//!
//! Consuming (watch mode's --read and --tee, the relay):
//!
//! | state        | what happens                          | action                               | next state        |
//! |--------------|---------------------------------------|--------------------------------------|-------------------|
//! | Idle, Placed | PRI                                   | recv(MSG_OOB) takes the byte         | Taken{byte}       |
//! | Taken{b}     | PRI, a newer byte further on          | recv(MSG_OOB) takes it               | Taken{new, replaced b} |
//! | Taken{b}     | PRI, a newer byte at the mark (nothing between: the kernel skipped b's place) | recv(MSG_OOB) takes it | Taken{b, new}: both due here, in order |
//! | any          | read, not at the mark                 | read at most FIONREAD (stops before) | Placed → Idle     |
//! | Taken{b, ..} | read reaches the mark                 | report b (then the others held)      | Placed            |
//! | Idle         | read at the mark                      | recv(MSG_OOB): a byte → report it; EINVAL → pass; EAGAIN → wait | Placed / Idle |
//! | Placed       | read at the mark (a **new urgent byte** may sit there: the pointer moved to the next byte) | recv(MSG_OOB) again: a byte → report it; EINVAL → the read passes the mark; EAGAIN (announced, not here yet) → wait | Placed |
//! | Inline       | SO_OOBINLINE, read reaches the mark   | report the mark; the byte is data    | Placed            |
//!
//! The Placed row is why a second urgent byte right after the first is not lost: after
//! the first is taken SIOCATMARK stays true, and the second one's mark is the very next
//! byte, so "at the mark and already placed" must still ask recv(MSG_OOB) before reading.
//! One race is left, and no user-space reader can close it: a byte whose pointer arrives
//! between that recv(MSG_OOB) and the read.
//!
//! Not consuming (no --read, --peek): each urgent byte is copied with MSG_OOB|MSG_PEEK and
//! shown once. A newer byte is told apart from the one shown by its place: the normal
//! bytes before its mark (more than before: a newer pointer), and at the read position,
//! where the same byte value can follow itself, by how many bytes have left the queue
//! (TCP_INFO's bytes received minus what is queued): the kernel drops an old byte at the
//! read position when a newer pointer comes.
//!
//! A taken byte is never lost: `leftover` hands it back when the stream or the run ends
//! before its mark.

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
/// FIONREAD counts exactly those while urgent data is pending (docs/kernel.md); AF_UNIX
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
    crate::probe::queued(fd).unwrap_or(0)
}

/// Where one socket direction is with its urgent data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Idle,
    /// Taken on PRI before reading reached its mark; `replaced` is an earlier taken byte
    /// never placed (TCP keeps one urgent pointer: a newer byte wins).
    Taken { held: Held, replaced: Option<u8> },
    /// SO_OOBINLINE: the byte is in the stream; its mark is still to be reported.
    Inline,
    /// The mark here was reported: the next read passes it.
    Placed,
    /// Not consuming: the byte last shown (reported once), or None after "no byte".
    Shown(Option<Seen>),
}

/// How many urgent bytes taken at one place wait for it (a peer sending more urgent
/// bytes while nothing can be read or passed on); past that the oldest is `replaced`.
const HELD: usize = 8;

/// Urgent bytes taken and waiting for their mark, oldest first, all at the same place in
/// the stream: one taken at the read position joins them (the kernel moved its pointer
/// to the next byte, nothing lies between), one taken further on replaces them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    bytes: [u8; HELD],
    len: usize,
}

impl Held {
    fn one(byte: u8) -> Held {
        let mut bytes = [0; HELD];
        bytes[0] = byte;
        Held { bytes, len: 1 }
    }

    /// Adds `byte` last; the oldest when full.
    fn push(mut self, byte: u8) -> (Held, Option<u8>) {
        let mut dropped = None;
        if self.len == HELD {
            dropped = Some(self.bytes[0]);
            self.bytes.copy_within(1.., 0);
            self.len -= 1;
        }
        self.bytes[self.len] = byte;
        self.len += 1;
        (self, dropped)
    }

    /// The oldest, and the rest (None when it was the last).
    fn pop(mut self) -> (u8, Option<Held>) {
        let first = self.bytes[0];
        self.bytes.copy_within(1.., 0);
        self.len -= 1;
        (first, (self.len > 0).then_some(self))
    }

    fn last(&self) -> u8 {
        self.bytes[self.len - 1]
    }
}

/// A byte shown without consuming, and where it was (to tell a newer one from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seen {
    byte: u8,
    /// Normal bytes queued before its mark.
    before: u64,
    /// At the read position (TCP): bytes that had left the queue then.
    gone: Option<u64>,
}

impl Seen {
    fn at(fd: BorrowedFd<'_>, byte: u8) -> Seen {
        let before = before_mark(fd);
        let gone = if before == 0 { left_queue(fd) } else { None };
        Seen { byte, before, gone }
    }

    /// Whether `now` is another urgent byte than `self`: another value, a mark further
    /// on (bytes before it are only ever consumed, never added, while it stays), or at
    /// the read position both times with bytes gone meanwhile (the kernel dropped the
    /// old byte there for the new pointer).
    fn newer(&self, now: &Seen) -> bool {
        now.byte != self.byte
            || now.before > self.before
            || (now.before == 0 && self.before == 0 && now.gone != self.gone)
    }
}

/// TCP: how many bytes of the stream have left the receive queue (read, or dropped by
/// the kernel), when the read position is at the mark: TCP_INFO's bytes received, less
/// the urgent byte and what a peek finds after it. None where TCP_INFO is not to be had.
fn left_queue(fd: BorrowedFd<'_>) -> Option<u64> {
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: nix has no TCP_INFO option; getsockopt writes at most `len` bytes into
    // `info`, a plain C struct for which all zeroes is a valid value.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    let full = std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + 8;
    if r != 0 || (len as usize) < full {
        return None;
    }
    // MSG_TRUNC with MSG_PEEK counts without copying (tcp(7)): at the mark, a peek skips
    // the urgent byte's place and counts the bytes after it.
    let flags = libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT;
    // SAFETY: with MSG_TRUNC, TCP copies nothing to the buffer, and a null buffer of any
    // length lies in user space; the call only reads the socket's queue.
    let after = unsafe { libc::recv(fd.as_raw_fd(), std::ptr::null_mut(), 1 << 30, flags) };
    let after = u64::try_from(after).unwrap_or(0);
    Some(info.tcpi_bytes_received.saturating_sub(after + 1))
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
    /// is placed when reading reaches the mark. Taken at the mark too: while nothing can
    /// be read (a relay whose receiver is full), an untaken byte would keep PRI up on
    /// every wait, and the next urgent byte would make the kernel drop it.
    /// `Ok(Some(errno))`: PRI came with no urgent byte to take (say so once).
    pub fn take_early(
        &mut self,
        fd: BorrowedFd<'_>,
        oobinline: bool,
    ) -> Result<Option<Errno>, Errno> {
        let at = at_mark(fd) == Some(true);
        if at && oobinline {
            // The byte is in the stream: the read path reports its mark.
            return Ok(None);
        }
        match take(fd, false) {
            Oob::Byte(byte) => {
                self.state = match self.state {
                    State::Taken { held, replaced } if at => {
                        let (held, dropped) = held.push(byte);
                        State::Taken {
                            held,
                            replaced: dropped.or(replaced),
                        }
                    }
                    State::Taken { held, .. } => State::Taken {
                        held: Held::one(byte),
                        replaced: Some(held.last()),
                    },
                    _ => State::Taken {
                        held: Held::one(byte),
                        replaced: None,
                    },
                };
                Ok(None)
            }
            Oob::NoByte if oobinline => {
                self.state = State::Inline;
                Ok(None)
            }
            Oob::NotYet => Ok(None),
            // Said once per PRI episode (`calm` ends it), never over a taken byte, and
            // not for a mark already dealt with.
            Oob::NoByte | Oob::Unsupported
                if matches!(
                    self.state,
                    State::Taken { .. } | State::Shown(None) | State::Placed
                ) =>
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
            Oob::Byte(byte) => {
                let now = Seen::at(fd, byte);
                if shown.flatten().is_some_and(|old| !old.newer(&now)) {
                    return Ok(Peeked::Quiet);
                }
                self.state = State::Shown(Some(now));
                Peeked::Byte {
                    byte,
                    replaced: shown.flatten().map(|s| s.byte),
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

    /// Nothing taken, held or to report: no mark lies ahead that this side knows of.
    pub fn quiet(&self) -> bool {
        self.state == State::Idle
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
            State::Taken { held, replaced } => {
                let (byte, rest) = held.pop();
                // More taken at this same place come next, each in its turn.
                self.state = rest.map_or(State::Placed, |held| State::Taken {
                    held,
                    replaced: None,
                });
                return Ok(Next::Urgent { byte, replaced });
            }
            State::Inline => {
                self.state = State::Placed;
                return Ok(Next::InlineMark);
            }
            // SO_OOBINLINE: the byte is in the stream; reading it passes the mark.
            State::Placed if oobinline => return Ok(Next::Pass(room)),
            // The mark here was reported, but the pointer may have moved on to the very
            // next byte (a second urgent byte right after the first): ask again below,
            // never read first.
            State::Placed | State::Idle | State::Shown(_) => {}
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

    /// A byte taken and never placed, when the stream or the run ends before its mark:
    /// it exists nowhere else, so the caller reports it (and asks again: several can be
    /// held, oldest first).
    pub fn leftover(&mut self) -> Option<u8> {
        match std::mem::take(&mut self.state) {
            State::Taken { held, .. } => {
                let (byte, rest) = held.pop();
                if let Some(held) = rest {
                    self.state = State::Taken {
                        held,
                        replaced: None,
                    };
                }
                Some(byte)
            }
            other => {
                self.state = other;
                None
            }
        }
    }
}
