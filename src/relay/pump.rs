//! One direction of a relayed connection: a bounded buffer filled from one socket and
//! drained into the other, with the urgent byte kept at its place in the stream.
//!
//! Reading keeps the urgent-data rules of urgent.rs (the same state machine as watch
//! mode's): reads never cross a mark not yet dealt with, and the urgent byte is taken
//! with recv(MSG_OOB) first. It is re-sent with send(MSG_OOB) only once every byte
//! before it has been written, so the receiver's mark falls at the same stream offset.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::socket::{self, MsgFlags, Shutdown};

use crate::urgent::{Next, Urgent};

/// What one read step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes were read into the buffer (their range, to show them).
    Read(std::ops::Range<usize>),
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
}

/// What a flush did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Everything buffered (and the urgent byte) is out.
    Done,
    /// The receiver cannot take more now: wait for it to be writable.
    Blocked,
    /// The receiver is gone (EPIPE, ECONNRESET…), or the call named failed.
    Gone(&'static str, Errno),
}

pub struct Dir {
    /// Starts small and doubles while a fast source fills it, up to `max`: an idle
    /// connection costs 64 KiB a direction, a bulk one at most `max`.
    buf: Vec<u8>,
    max: usize,
    start: usize,
    end: usize,
    /// End of file read from the source.
    pub eof: bool,
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
}

impl Dir {
    pub fn new(max: usize) -> Dir {
        Dir {
            buf: vec![0; max.min(64 << 10)],
            max,
            start: 0,
            end: 0,
            eof: false,
            shut: false,
            bytes: 0,
            urgent: 0,
            oob: Urgent::default(),
            oob_out: None,
            tally: crate::reader::Tally::default(),
        }
    }

    pub fn bytes_in(&self, r: std::ops::Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// Whether reading the source makes sense now (room, no urgent byte waiting).
    pub fn wants_read(&self) -> bool {
        !self.eof && self.oob_out.is_none() && (self.start > 0 || self.end < self.buf.len())
    }

    /// Whether something waits to be written to the receiver.
    pub fn has_output(&self) -> bool {
        self.start < self.end || self.oob_out.is_some()
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

    /// One bounded read from `src`.
    pub fn read_step(&mut self, src: BorrowedFd<'_>) -> Step {
        if self.eof || self.oob_out.is_some() {
            return Step::Wait;
        }
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        if self.end == self.buf.len() {
            if self.start == 0 {
                return Step::Wait;
            }
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let (buf, end, max) = (&mut self.buf, self.end, self.max);
        // Grow while a fast source has more queued than fits.
        let next = self.oob.next(src, false, |queued| {
            if queued > buf.len() - end && buf.len() < max {
                let grown = (buf.len() * 2).min(max);
                buf.resize(grown, 0);
            }
            buf.len() - end
        });
        let bound = match next {
            Ok(Next::Read(n)) => n,
            Ok(Next::Urgent { byte, replaced }) => {
                self.oob_out = Some(byte);
                return Step::Urgent {
                    byte,
                    offset: self.bytes,
                    replaced,
                };
            }
            // Announced, not arrived: a read now would skip it.
            Ok(Next::NotYet) => return Step::Wait,
            Ok(Next::InlineMark) => self.buf.len() - self.end,
            Ok(Next::Probe) => return self.probe(src),
            Err(e) => return Step::Failed("recv(MSG_OOB)", e),
        };
        let range = self.end..self.end + bound;
        match socket::recv(
            src.as_raw_fd(),
            &mut self.buf[range],
            MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => {
                self.eof = true;
                Step::Eof
            }
            Ok(n) => {
                let at = self.end;
                self.end += n;
                self.bytes += n as u64;
                self.tally.add(n);
                Step::Read(at..at + n)
            }
            Err(Errno::EAGAIN | Errno::EINTR) => Step::Wait,
            Err(Errno::ECONNRESET) => Step::Reset,
            Err(e) => Step::Failed("recv", e),
        }
    }

    /// Nothing before a mark: the end of the stream, or nothing yet.
    fn probe(&mut self, src: BorrowedFd<'_>) -> Step {
        let mut one = [0u8; 1];
        match socket::recv(
            src.as_raw_fd(),
            &mut one,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => {
                self.eof = true;
                Step::Eof
            }
            Ok(_) => Step::Again,
            Err(Errno::EAGAIN | Errno::EINTR) => Step::Wait,
            Err(Errno::ECONNRESET) => Step::Reset,
            Err(e) => Step::Failed("recv(MSG_PEEK)", e),
        }
    }

    /// Writes what is buffered to `dst`, then the urgent byte, never blocking.
    pub fn flush(&mut self, dst: BorrowedFd<'_>) -> Flush {
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
