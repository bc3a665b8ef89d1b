//! Consuming and peeking without touching the caller's flags, and how bytes are shown.
//!
//! Inherited pipes, FIFOs and ttys are read through a private reopen of
//! /proc/self/fd/N with O_NONBLOCK (its own open file description, so the caller's
//! O_NONBLOCK bit never changes); inherited sockets with MSG_DONTWAIT; fds fdwatch
//! opened itself are already non-blocking; files and devices never block on read.

use std::fmt::Write as _;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, SpliceFFlags};
use nix::sys::socket::{self, MsgFlags};
use nix::sys::stat::Mode;

use crate::describe::Kind;
use crate::error::{Error, Result};
use crate::open::Watched;
use crate::outlet::Outlet;
use crate::readiness::{Conditions, Interest};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReadMode {
    /// Bytes and rate.
    Count,
    /// The bytes as escaped text.
    Text,
    /// Offset, hex and ASCII rows.
    Hex,
}

/// Reads per fd (or relayed direction) per wake-up before others get their turn; the
/// rest follows without waiting.
pub const MAX_READS: usize = 16;

impl ReadMode {
    /// How a data event shows `bytes` (read at stream `offset`): as text or hex rows;
    /// nothing in count mode.
    pub fn show(self, offset: u64, bytes: &[u8]) -> Option<crate::event::Shown<'_>> {
        use crate::event::Shown;
        match self {
            ReadMode::Count => None,
            ReadMode::Text => Some(Shown::Text(bytes)),
            ReadMode::Hex => Some(Shown::Hex { offset, bytes }),
        }
    }
}

/// --read=count's cadence: bytes consumed but not yet in a data event, at most one
/// event per --interval (a fast stream is a readable trickle of events).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    pub unreported: u64,
    last: Option<std::time::Instant>,
}

impl Tally {
    pub fn add(&mut self, n: usize) {
        self.unreported += n as u64;
    }

    /// An event is due: none yet, or the last one is `interval` old.
    pub fn due(&self, interval: std::time::Duration) -> bool {
        self.last.is_none_or(|at| at.elapsed() >= interval)
    }

    /// How long until the bytes not yet reported are due in an event (None: none are).
    pub fn due_in(&self, interval: std::time::Duration) -> Option<std::time::Duration> {
        (self.unreported > 0).then(|| {
            self.last.map_or(std::time::Duration::ZERO, |at| {
                interval.saturating_sub(at.elapsed())
            })
        })
    }

    /// The bytes for a data event now, if any.
    pub fn take(&mut self) -> Option<u64> {
        if self.unreported == 0 {
            return None;
        }
        self.last = Some(std::time::Instant::now());
        Some(std::mem::take(&mut self.unreported))
    }
}

/// Where the bytes of one watched fd are read from.
#[derive(Debug)]
pub enum Source {
    /// The watched fd itself: opened by fdwatch (non-blocking), or a file or device.
    Direct(RawFd),
    /// A private non-blocking reopen of an inherited pipe, FIFO or tty.
    Private(OwnedFd),
    /// An inherited socket, read with MSG_DONTWAIT.
    Socket(RawFd),
    /// An inherited pty master, read only as far as FIONREAD says (reopening
    /// /proc/self/fd/N of a master opens /dev/ptmx: a new, unrelated pty pair).
    Bounded(RawFd),
}

impl Source {
    /// How to read `w` without blocking and without changing its flags.
    pub fn for_watched(w: &Watched, fd: BorrowedFd<'_>) -> Result<Source> {
        let raw = fd.as_raw_fd();
        if !w.inherited() {
            return Ok(Source::Direct(raw));
        }
        Ok(match w.desc.kind {
            Kind::Tty if is_pty_master(fd) => Source::Bounded(raw),
            Kind::Pipe | Kind::Fifo | Kind::Tty => {
                let path = format!("/proc/self/fd/{raw}");
                let flags =
                    OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
                let private = nix::fcntl::open(path.as_str(), flags, Mode::empty())
                    .map_err(|e| Error::sys(format!("fd {raw}"), "open(/proc/self/fd)", e))?;
                Source::Private(private)
            }
            Kind::Socket => Source::Socket(raw),
            _ => Source::Direct(raw),
        })
    }

    pub fn raw(&self) -> RawFd {
        match self {
            Source::Direct(fd) | Source::Socket(fd) | Source::Bounded(fd) => *fd,
            Source::Private(o) => o.as_raw_fd(),
        }
    }

    /// Whether splice(2) can take from it: a pipe or FIFO.
    pub fn is_pipe(&self, kind: Kind) -> bool {
        matches!(kind, Kind::Pipe | Kind::Fifo) && !matches!(self, Source::Socket(_))
    }
}

/// What one read gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Data(usize),
    /// Nothing more right now (EAGAIN).
    Again,
    /// End of file: the writers are gone (or a pty's other side: EIO).
    Eof,
    /// Nothing read; measure and try again (a socket got bytes meanwhile).
    Retry,
    /// The call that failed, and how.
    Fail(Call, Errno),
}

/// The system call a read step made, for its error message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    Read,
    Recv,
    RecvPeek,
    Splice,
}

impl Call {
    pub fn name(self) -> &'static str {
        match self {
            Call::Read => "read",
            Call::Recv => "recv",
            Call::RecvPeek => "recv(MSG_PEEK)",
            Call::Splice => "splice",
        }
    }
}

fn step(r: nix::Result<usize>, kind: Kind, call: Call) -> Step {
    match r {
        Ok(0) => Step::Eof,
        Ok(n) => Step::Data(n),
        Err(Errno::EAGAIN) => Step::Again,
        // A pty master whose slave closed reads EIO, never 0.
        Err(Errno::EIO) if kind == Kind::Tty => Step::Eof,
        Err(e) => Step::Fail(call, e),
    }
}

/// A pty master answers TIOCGPTN (its pty number); a slave or another tty does not.
fn is_pty_master(fd: BorrowedFd<'_>) -> bool {
    let mut n: nix::libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int to the pointer; `fd` is open.
    unsafe { nix::libc::ioctl(fd.as_raw_fd(), nix::libc::TIOCGPTN, &mut n) == 0 }
}

/// Whether poll reports a hang-up or an error on `fd` right now.
fn hung_up(fd: BorrowedFd<'_>) -> bool {
    crate::probe::now(fd, Interest::READ)
        .is_ok_and(|c| c.intersects(Conditions::HANGUP | Conditions::ERROR))
}

/// One read of at most `buf.len()` bytes, retried on EINTR.
pub fn read(src: &Source, kind: Kind, buf: &mut [u8]) -> Step {
    loop {
        let r = match src {
            Source::Socket(fd) => socket::recv(*fd, buf, MsgFlags::MSG_DONTWAIT),
            Source::Bounded(fd) => {
                let b = borrow(*fd);
                match crate::describe::queued(b, kind) {
                    Some(q) if q > 0 => {
                        let n = buf.len().min(q as usize);
                        nix::unistd::read(b, &mut buf[..n])
                    }
                    // Nothing queued: a hung-up master is at its end (a read would give
                    // EIO); otherwise a read would block.
                    _ if hung_up(b) => return Step::Eof,
                    _ => return Step::Again,
                }
            }
            _ => nix::unistd::read(borrow(src.raw()), buf),
        };
        if r != Err(Errno::EINTR) {
            let call = if matches!(src, Source::Socket(_)) {
                Call::Recv
            } else {
                Call::Read
            };
            return step(r, kind, call);
        }
    }
}

/// One read of a socket that can never start at the urgent mark: at most `queued`
/// bytes, as measured (FIONREAD) *before* the caller checked SIOCATMARK. Bytes that
/// arrive later lie beyond them, so the kernel never skips (and so destroys) an urgent
/// byte at the read position (docs/kernel.md). With nothing queued, a one-byte MSG_PEEK
/// tells end of file from "not yet" without consuming anything.
pub fn read_socket(src: &Source, queued: i32, buf: &mut [u8]) -> Step {
    let fd = src.raw();
    let plain = |b: &mut [u8]| loop {
        let (r, call) = match src {
            Source::Socket(_) => (socket::recv(fd, b, MsgFlags::MSG_DONTWAIT), Call::Recv),
            _ => (nix::unistd::read(borrow(fd), b), Call::Read),
        };
        if r != Err(Errno::EINTR) {
            return step(r, Kind::Socket, call);
        }
    };
    if let Ok(n) = usize::try_from(queued)
        && n > 0
    {
        let len = n.min(buf.len());
        return plain(&mut buf[..len]);
    }
    let mut one = [0u8; 1];
    loop {
        return match socket::recv(fd, &mut one, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT) {
            Ok(0) => Step::Eof,
            // Bytes arrived since FIONREAD: measure again before reading them.
            Ok(_) => Step::Retry,
            Err(Errno::EINTR) => continue,
            r => step(r, Kind::Socket, Call::RecvPeek),
        };
    }
}

/// Moves up to `len` bytes from a pipe straight to `out` (--tee with --read=count).
/// A full output is waited for (backpressure, signals served); `Fail(_, EINVAL)` means
/// splice cannot serve this pair and the caller should read and write instead.
pub fn splice_to(out: &mut Outlet, src: &Source, len: usize) -> Result<Step> {
    let mut retried = false;
    loop {
        let r = nix::fcntl::splice(
            borrow(src.raw()),
            None,
            borrow(out.raw()),
            None,
            len,
            SpliceFFlags::SPLICE_F_MOVE,
        );
        match r {
            Err(Errno::EINTR) => continue,
            // The source is non-blocking, which makes splice non-blocking on both pipes,
            // and EAGAIN does not say which side: an empty input, or a full output
            // (even at end of input). Wait for a full output; once it has room, one
            // more try tells (only we fill it).
            Err(Errno::EAGAIN) => {
                if !out.has_room() {
                    out.wait().map_err(Error::Output)?;
                } else if retried {
                    return Ok(Step::Again);
                } else {
                    retried = true;
                }
            }
            r => return Ok(step(r, Kind::Pipe, Call::Splice)),
        }
    }
}

/// Writes all of `data` to `out`, waiting (signals served) while it is full.
pub fn write_all(out: &mut Outlet, data: &[u8]) -> Result<()> {
    std::io::Write::write_all(out, data).map_err(Error::Output)
}

/// A borrow of a source fd for nix calls.
fn borrow(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: sources are only used while their watched fd (or private reopen) is open.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Shows queued bytes without consuming them: tee(2) into a private pipe for pipes
/// and FIFOs, MSG_PEEK for sockets; `None` where only FIONREAD can tell.
#[derive(Default)]
pub struct Peeker {
    pipe: Option<(OwnedFd, OwnedFd)>,
}

impl Peeker {
    pub fn peek(
        &mut self,
        fd: BorrowedFd<'_>,
        kind: Kind,
        buf: &mut [u8],
    ) -> Result<Option<usize>> {
        let raw = fd.as_raw_fd();
        match kind {
            Kind::Pipe | Kind::Fifo => {
                if self.pipe.is_none() {
                    let p = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
                        .map_err(|e| Error::sys("peek", "pipe2", e))?;
                    // Room for a whole read; failure (pipe-max-size) leaves 64 KiB.
                    let _ = nix::fcntl::fcntl(
                        &p.1,
                        nix::fcntl::FcntlArg::F_SETPIPE_SZ(buf.len() as i32),
                    );
                    self.pipe = Some(p);
                }
                let Some((pr, pw)) = &self.pipe else {
                    return Ok(None);
                };
                let n = match nix::fcntl::tee(fd, pw, buf.len(), SpliceFFlags::SPLICE_F_NONBLOCK) {
                    Ok(n) => n,
                    Err(Errno::EAGAIN) => 0,
                    Err(e) => return Err(Error::sys(format!("fd {raw}"), "tee", e)),
                };
                // Empty the private pipe completely, so the next tee starts clean.
                let mut got = 0;
                while got < n {
                    match nix::unistd::read(pr, &mut buf[got..n]) {
                        Ok(0) | Err(Errno::EAGAIN) => break,
                        Ok(k) => got += k,
                        Err(Errno::EINTR) => {}
                        Err(e) => return Err(Error::sys("peek", "read", e)),
                    }
                }
                Ok(Some(got))
            }
            Kind::Socket => {
                match socket::recv(raw, buf, MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT) {
                    Ok(n) => Ok(Some(n)),
                    Err(Errno::EAGAIN) => Ok(Some(0)),
                    Err(e) => Err(Error::sys(format!("fd {raw}"), "recv(MSG_PEEK)", e)),
                }
            }
            _ => Ok(None),
        }
    }
}

/// The widest row `hex_rows` prints with `per_row` bytes.
pub fn hex_row_width(per_row: usize) -> usize {
    13 + 4 * per_row + usize::from(per_row > 8)
}

/// Bytes per hex row so that a row fits in `columns`: 16 as `hexdump -C`, else 8, 4, 2
/// or 1.
pub fn hex_per_row(columns: usize) -> usize {
    [16, 8, 4, 2]
        .into_iter()
        .find(|&n| hex_row_width(n) <= columns)
        .unwrap_or(1)
}

/// `00000010  68 65 6c 6c 6f 0a ...  |hello.|` rows, `per_row` bytes each (at least
/// one), from `offset`.
pub fn hex_rows(offset: u64, bytes: &[u8], per_row: usize) -> Vec<String> {
    let per_row = per_row.max(1);
    bytes
        .chunks(per_row)
        .enumerate()
        .map(|(i, row)| {
            let mut s = format!("{:08x} ", offset + (per_row * i) as u64);
            for j in 0..per_row {
                match row.get(j) {
                    Some(b) => {
                        let _ = write!(s, " {b:02x}");
                    }
                    None => s.push_str("   "),
                }
                if j == 7 && per_row > 8 {
                    s.push(' ');
                }
            }
            s.push_str("  |");
            s.extend(row.iter().map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            }));
            s.push('|');
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_layout() {
        // A full row as `hexdump -C` prints it.
        let full = hex_rows(0, b"hello world\n\0\0\0\0", 16);
        assert_eq!(
            full,
            ["00000000  68 65 6c 6c 6f 20 77 6f  72 6c 64 0a 00 00 00 00  |hello world.....|"]
        );
        // A short row keeps the ASCII column where full rows have it.
        let short = &hex_rows(16, b"hello\n", 16)[0];
        assert!(
            short.starts_with("00000010  68 65 6c 6c 6f 0a  "),
            "{short}"
        );
        assert_eq!(short.find('|'), full[0].find('|'));
        assert!(short.ends_with("|hello.|"));
        assert_eq!(hex_rows(0, &[0u8; 17], 16).len(), 2);
        // Narrower rows for a narrow terminal, each as wide as said.
        for n in [16, 8, 4, 2, 1] {
            let rows = hex_rows(0, &[b'a'; 40], n);
            assert!(
                rows.iter().all(|r| r.len() <= hex_row_width(n)),
                "{n}: {rows:?}"
            );
            assert_eq!(rows[0].len(), hex_row_width(n));
        }
        assert_eq!(hex_per_row(80), 16);
        assert_eq!(hex_per_row(76), 8);
        assert_eq!(hex_per_row(38), 4);
        assert_eq!(hex_per_row(0), 1);
    }
}
