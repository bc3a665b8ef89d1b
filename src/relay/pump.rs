//! One direction of a relayed connection: bytes moved from one socket to the other,
//! with the urgent byte kept at its place in the stream.
//!
//! Reading keeps the urgent-data rules of urgent.rs (the same state machine as watch
//! mode's): reads never cross a mark not yet dealt with, and the urgent byte is taken
//! with recv(MSG_OOB) first. It is re-sent with send(MSG_OOB) only once every byte
//! before it has been written, so the receiver's mark falls at the same stream offset.
//!
//! A direction starts by copying through a user-space buffer; once it has moved
//! SPLICE_AFTER bytes (a bulk transfer, not a short exchange) and the bytes are not
//! shown, it moves them with splice(2) through a pipe: socket → pipe → socket, no copy
//! through fdwatch. TCP's splice stops at the urgent mark (even once the byte is taken),
//! so the one read that passes a mark is a normal recv into the buffer; the pipe and the
//! buffer are never both ahead of each other in the stream (bytes go out pipe first,
//! then buffer, then the urgent byte). Buffers and pipes are pooled across connections.
//!
//! A call that fails for want of kernel memory leaves every byte where it was; the
//! direction then rests (`backoff`, set by ends.rs): neither read nor written until
//! its back-off ends.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::fcntl::SpliceFFlags;
use nix::sys::socket::{self, MsgFlags, Shutdown};

use super::pools::{FIRST_BUF, Pipe, Pools};
use crate::exhaust::Episode;
use crate::urgent::{Next, Urgent};

/// A direction copies this many bytes before it moves to splice.
const SPLICE_AFTER: u64 = 256 << 10;
/// Up to this many bytes read at once, and all the source had, are a message: the next
/// read is made before they are written (`read_a_message`).
const MESSAGE: usize = 16 << 10;
/// What one read step of a direction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PumpStep {
    /// Bytes were read into the buffer (their range, to show them).
    Read(std::ops::Range<usize>),
    /// This many bytes were spliced into the pipe (never shown).
    Moved(usize),
    /// The urgent byte reached its place: it goes out after the bytes before it.
    /// `offset` counts the normal bytes before it; `replaced` is an earlier urgent byte
    /// taken but never placed (TCP keeps one urgent pointer: a newer one wins).
    Urgent {
        byte: u8,
        offset: u64,
        replaced: Option<u8>,
    },
    /// Nothing more now (no data, buffer full, or waiting for an urgent byte to go out).
    Wait,
    /// Try again: bytes arrived while measuring.
    Again,
    /// End of file from this side.
    Eof,
    /// The side reset the connection.
    Reset,
    /// The call that failed, and how.
    Failed(&'static str, Errno),
    /// (Inside read_step: nothing queued before a mark; a peek tells end of file.)
    Probe,
}

/// What a flush did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything buffered (and the urgent byte) is out.
    Done,
    /// The receiver cannot take more now: wait for it to be writable.
    Blocked,
    /// The receiver is gone (EPIPE, ECONNRESET…), or the call named failed (ENOMEM,
    /// ENOBUFS: for now; the caller rests the direction, every byte still here).
    Gone(&'static str, Errno),
}

pub struct Dir {
    /// Empty until the first read; then 64 KiB, doubling while a fast source fills it,
    /// up to `max` (an idle connection costs nothing, a bulk one at most `max`).
    buf: Vec<u8>,
    /// Zero-copy: the pipe splice moves the bytes through.
    pipe: Option<Pipe>,
    /// Splice may be used (the bytes are not shown, and splice has not refused).
    may_splice: bool,
    max: usize,
    start: usize,
    end: usize,
    /// End of file read from the source.
    pub eof: bool,
    /// A wait saw the source's end of file queued (RDHUP) with no urgent byte (no PRI)
    /// and no error (a reset also reads as RDHUP): every byte still to come is already
    /// in its receive queue.
    fin_queued: bool,
    /// With `fin_queued`, a read took all that FIONREAD counted: the next read would
    /// return 0, so it is not made. The end of file then goes on right after the last
    /// bytes, not after three more calls (a peer woken by the bytes would otherwise
    /// often sleep again before the FIN, and waking an idle CPU is slow).
    drained: bool,
    /// The last read took all that FIONREAD counted: the source has likely nothing
    /// more, or only its end of file.
    emptied: bool,
    /// SHUT_WR passed on to the receiver.
    pub shut: bool,
    /// Normal bytes read from the source.
    pub bytes: u64,
    /// Urgent bytes sent on.
    pub urgent: u64,
    /// Where this direction's source is with its urgent data.
    oob: Urgent,
    /// The urgent byte to send once the buffer is empty.
    oob_out: Option<u8>,
    /// --read=count: bytes not yet in a data event, and when the last one went out.
    pub tally: crate::reader::Tally,
    /// A read or write here failed for want of kernel memory (ENOMEM, ENOBUFS): the
    /// direction rests until the back-off ends, every byte kept where it was.
    pub backoff: Option<Episode>,
}

impl Dir {
    pub fn new(max: usize, splice: bool) -> Dir {
        Dir {
            buf: Vec::new(),
            pipe: None,
            may_splice: splice,
            max,
            start: 0,
            end: 0,
            eof: false,
            fin_queued: false,
            drained: false,
            emptied: false,
            shut: false,
            bytes: 0,
            urgent: 0,
            oob: Urgent::default(),
            oob_out: None,
            tally: crate::reader::Tally::default(),
            backoff: None,
        }
    }

    /// Resting after a transient failure (see `backoff`): neither read nor written.
    pub fn paused(&self) -> bool {
        self.backoff.is_some_and(|ep| !ep.due(Instant::now()))
    }

    pub fn bytes_in(&self, r: std::ops::Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// The last read was a message, small, and took all the source had queued (see
    /// `emptied`): what follows it, maybe its end of file, is worth a look before it
    /// goes. Bulk reads go at once (the transfer keeps flowing).
    pub fn read_a_message(&self) -> bool {
        self.emptied && self.end - self.start <= MESSAGE
    }

    /// Whether reading the source makes sense now (room, no urgent byte waiting).
    pub fn wants_read(&self) -> bool {
        let room = match &self.pipe {
            // Splice was refused: the pipe drains before the buffer fills.
            Some(_) if !self.may_splice => false,
            Some(p) => self.start == self.end && p.queued < p.cap && !p.full,
            None => self.buf.is_empty() || self.start > 0 || self.end < self.buf.len(),
        };
        !self.eof && self.oob_out.is_none() && room && !self.paused()
    }

    /// Whether something waits to be written to the receiver.
    pub fn has_output(&self) -> bool {
        self.start < self.end
            || self.oob_out.is_some()
            || self.pipe.as_ref().is_some_and(|p| p.queued > 0)
    }

    /// The connection is over: its buffer and pipe (if empty) serve the next ones.
    pub fn recycle(&mut self, pools: &mut Pools) {
        if !self.buf.is_empty() {
            pools.give_buf(std::mem::take(&mut self.buf));
        }
        if let Some(p) = self.pipe.take().filter(|p| p.queued == 0) {
            pools.give_pipe(p);
        }
    }

    /// The source has nothing more now: a first-size buffer with nothing in it goes
    /// back to the pool, so an open connection with nothing in flight holds none
    /// (10,000 of them would hold 1.25 GiB). A grown one stays: this direction is a
    /// bulk one, and it is at most `max`.
    pub fn idle(&mut self, pools: &mut Pools) {
        if self.start == self.end && !self.buf.is_empty() && self.buf.len() <= FIRST_BUF {
            (self.start, self.end) = (0, 0);
            pools.give_buf(std::mem::take(&mut self.buf));
        }
    }

    /// Everything read is out and the end of file passed on.
    pub fn done(&self) -> bool {
        self.eof && self.shut && !self.has_output()
    }

    /// PRI: take the urgent byte now (it is out of the stream already) and place it
    /// when reading reaches the mark. A failure shows at the next read.
    pub fn take_early(&mut self, src: BorrowedFd<'_>) {
        if !self.eof {
            let _ = self.oob.take_early(src, false);
        }
    }

    /// The urgent bytes taken from the source before reading reached their mark,
    /// oldest first: the connection ends, and they exist nowhere else. (One placed and
    /// waiting for the buffer to drain was reported at its place, as the bytes read
    /// before it were.)
    pub fn unsent_urgent(&mut self) -> Vec<u8> {
        std::iter::from_fn(|| self.oob.leftover()).collect()
    }

    /// A readiness of the source with RDHUP and without PRI or ERR (see `fin_queued`).
    /// Never undone: nothing arrives after a FIN, urgent data included.
    pub fn fin_queued(&mut self) {
        self.fin_queued = true;
    }

    /// One bounded read (or splice) from `src`.
    pub fn read_step(&mut self, src: BorrowedFd<'_>, pools: &mut Pools) -> PumpStep {
        if self.eof || self.oob_out.is_some() || self.paused() {
            return PumpStep::Wait;
        }
        if self.drained {
            self.eof = true;
            return PumpStep::Eof;
        }
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
            // A bulk transfer moves to splice once the buffer is drained.
            if self.pipe.is_none() && self.may_splice && self.bytes >= SPLICE_AFTER {
                self.pipe = pools.pipe(self.max);
                self.may_splice = self.pipe.is_some();
            }
        }
        if self.pipe.is_some() && self.start == self.end {
            // Splice was refused with bytes in the pipe: they go out before any copy.
            if !self.may_splice {
                return PumpStep::Wait;
            }
            return self.splice_step(src, pools);
        }
        self.copy_step(src, pools, None)
    }

    /// A read into the buffer (`at_mark`: the read that passes a mark, this big).
    fn copy_step(
        &mut self,
        src: BorrowedFd<'_>,
        pools: &mut Pools,
        at_mark: Option<usize>,
    ) -> PumpStep {
        if self.buf.is_empty() {
            self.buf = pools.buf(self.max.min(FIRST_BUF));
        }
        if self.end == self.buf.len() {
            if self.start == 0 {
                return PumpStep::Wait;
            }
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let mut counted = None;
        let bound = match at_mark {
            Some(n) => n.min(self.buf.len() - self.end),
            None => {
                let (buf, end, max) = (&mut self.buf, self.end, self.max);
                // Grow while a fast source has more queued than fits.
                let next = self.oob.next(src, false, |queued| {
                    counted = Some(queued);
                    if queued > buf.len() - end && buf.len() < max {
                        let grown = (buf.len() * 2).min(max);
                        buf.resize(grown, 0);
                    }
                    buf.len() - end
                });
                match self.placed(next) {
                    Ok(n) => n,
                    Err(PumpStep::Probe) => return self.probe(src),
                    Err(step) => return step,
                }
            }
        };
        let range = self.end..self.end + bound;
        match socket::recv(
            src.as_raw_fd(),
            &mut self.buf[range],
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => {
                self.eof = true;
                PumpStep::Eof
            }
            Ok(n) => {
                self.emptied = counted == Some(n);
                self.drained = self.fin_queued && self.emptied && self.oob.quiet();
                let at = self.end;
                self.end += n;
                self.bytes += n as u64;
                self.tally.add(n);
                PumpStep::Read(at..at + n)
            }
            Err(Errno::EAGAIN | Errno::EINTR) => PumpStep::Wait,
            Err(Errno::ECONNRESET) => PumpStep::Reset,
            Err(e) => PumpStep::Failed("recv", e),
        }
    }

    /// A splice from `src` into the pipe, up to the next mark; the read passing a
    /// mark is a copy (splice stops there).
    fn splice_step(&mut self, src: BorrowedFd<'_>, pools: &mut Pools) -> PumpStep {
        let Some(p) = &self.pipe else {
            return PumpStep::Wait;
        };
        let room = p.cap - p.queued;
        if room == 0 {
            return PumpStep::Wait;
        }
        let next = self.oob.next(src, false, |_| room);
        let n = match next {
            Ok(Next::Pass(n)) => return self.copy_step(src, pools, Some(n)),
            // Not at the mark, with bytes queued: no mark can come to where the splice
            // starts (a new urgent pointer lies past every byte already here), and a
            // splice from TCP stops before a mark by itself, so it takes all the pipe
            // has room for, bytes arriving meanwhile too, not just FIONREAD's count:
            // fewer, fuller splices (bench/relay.sh: 0.91 of the C relay up, now 0.97).
            Ok(Next::Read(_)) => room,
            next => match self.placed(next) {
                Ok(n) => n,
                Err(PumpStep::Probe) => return self.probe(src),
                Err(step) => return step,
            },
        };
        let Some(p) = self.pipe.as_mut() else {
            return PumpStep::Wait;
        };
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        match nix::fcntl::splice(src, None, p.w.as_fd(), None, n, flags) {
            Ok(0) => {
                self.eof = true;
                PumpStep::Eof
            }
            Ok(n) => {
                p.queued += n;
                self.bytes += n as u64;
                self.tally.add(n);
                PumpStep::Moved(n)
            }
            // With bytes queued, EAGAIN can be the pipe's (no free slot) as well as the
            // socket's: stop reading until some go out, rather than spin on readable.
            Err(Errno::EAGAIN) => {
                p.full = p.queued > 0;
                PumpStep::Wait
            }
            Err(Errno::EINTR) => PumpStep::Again,
            Err(Errno::ECONNRESET) => PumpStep::Reset,
            // This socket pair cannot splice: copy from now on (once the pipe drains).
            Err(Errno::EINVAL) => {
                self.may_splice = false;
                if p.queued == 0 {
                    self.pipe = None;
                }
                PumpStep::Again
            }
            Err(e) => PumpStep::Failed("splice", e),
        }
    }

    /// What the urgent protocol's answer means for a read: how many bytes it may take,
    /// or the step it is instead (`Progress::Probe`: see whether the stream ended).
    fn placed(&mut self, next: Result<Next, Errno>) -> Result<usize, PumpStep> {
        match next {
            Ok(Next::Read(n) | Next::Pass(n)) => Ok(n),
            Ok(Next::Urgent { byte, replaced }) => {
                self.oob_out = Some(byte);
                Err(PumpStep::Urgent {
                    byte,
                    offset: self.bytes,
                    replaced,
                })
            }
            // Announced, not arrived: a read now would skip it.
            Ok(Next::NotYet) => Err(PumpStep::Wait),
            // SO_OOBINLINE is not set on relayed sockets: read on.
            Ok(Next::InlineMark) => Ok(self.buf.len().saturating_sub(self.end).max(1)),
            Ok(Next::Probe) => Err(PumpStep::Probe),
            Err(e) => Err(PumpStep::Failed("recv(MSG_OOB)", e)),
        }
    }

    /// Nothing before a mark: the end of the stream, or nothing yet.
    fn probe(&mut self, src: BorrowedFd<'_>) -> PumpStep {
        // Nothing queued, the FIN behind it seen and no mark ahead: the end, no peek.
        if self.fin_queued && self.oob.quiet() {
            self.eof = true;
            return PumpStep::Eof;
        }
        let mut one = [0u8; 1];
        match socket::recv(
            src.as_raw_fd(),
            &mut one,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => {
                self.eof = true;
                PumpStep::Eof
            }
            Ok(_) => PumpStep::Again,
            Err(Errno::EAGAIN | Errno::EINTR) => PumpStep::Wait,
            Err(Errno::ECONNRESET) => PumpStep::Reset,
            Err(e) => PumpStep::Failed("recv(MSG_PEEK)", e),
        }
    }

    /// Writes what waits to `dst`: the pipe's bytes, then the buffer's, then the urgent
    /// byte, never blocking.
    pub fn flush(&mut self, dst: BorrowedFd<'_>) -> Flush {
        if self.paused() {
            return Flush::Blocked;
        }
        if let Some(p) = self.pipe.as_mut() {
            let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
            while p.queued > 0 {
                match nix::fcntl::splice(p.r.as_fd(), None, dst, None, p.queued, flags) {
                    Ok(n) => {
                        p.queued -= n;
                        p.full = false;
                    }
                    Err(Errno::EINTR) => {}
                    Err(Errno::EAGAIN) => return Flush::Blocked,
                    Err(e) => return Flush::Gone("splice", e),
                }
            }
            if !self.may_splice {
                self.pipe = None;
            }
        }
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
        while self.start < self.end {
            match socket::send(dst.as_raw_fd(), &self.buf[self.start..self.end], flags) {
                Ok(n) => self.start += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Flush::Blocked,
                Err(e) => return Flush::Gone("send", e),
            }
        }

        if let Some(b) = self.oob_out {
            match socket::send(dst.as_raw_fd(), &[b], flags | MsgFlags::MSG_OOB) {
                Ok(_) => {
                    self.oob_out = None;
                    self.urgent += 1;
                }
                Err(Errno::EAGAIN | Errno::EINTR) => return Flush::Blocked,
                Err(e) => return Flush::Gone("send(MSG_OOB)", e),
            }
        }
        Flush::Done
    }

    /// Once everything is out after an end of file: SHUT_WR to the receiver. True when
    /// it was done now (to report the half-close once).
    pub fn pass_eof(&mut self, dst: BorrowedFd<'_>) -> bool {
        if !self.eof || self.shut || self.has_output() {
            return false;
        }
        self.shut = true;
        // A receiver already gone shows on its own read side.
        let _ = socket::shutdown(dst.as_raw_fd(), Shutdown::Write);
        true
    }
}
