//! Watch mode's data: --read (count, text, hex), --tee (the bytes on to stdout, by
//! splice where it can) and --peek (shown, never consumed). Stream sockets are read
//! through urgent.rs, so an urgent byte is reported exactly between the bytes around
//! it and never destroyed by a read.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::errno::Errno;

use super::Watch;
use super::track::Track;
use crate::describe::{self, Kind};
use crate::error::{Error, Result};
use crate::event::{Data, Eof, FdError, Replaced, Shown, Subject, UrgentByte, UrgentData};
use crate::event_loop::EventLoop;
use crate::exhaust;
use crate::net;
use crate::open::Watched;
use crate::outlet::Outlet;
use crate::reader::{self, Call, MAX_READS, Peeker, ReadMode, Source, Step, Tally};
use crate::report::Reporter;
use crate::urgent::Next;

/// What consuming an fd found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Read until EAGAIN: nothing left for now.
    Drained,
    /// The per-wake budget ran out; more follows without waiting.
    More,
    /// End of file.
    Eof,
    /// A connection ended badly (reported as an error event).
    Failed,
    /// Nothing read: the descriptor to read through could not be made, and the fd is
    /// out of the wait until it is retried (exhausted.rs).
    Deferred,
}

/// One fd's consumed bytes.
#[derive(Debug, Default)]
pub(super) struct Stream {
    /// Where --read takes bytes from (a private reopen for inherited fds).
    pub source: Option<Source>,
    pub total: u64,
    /// --read=count: bytes consumed but not yet in a data event.
    tally: Tally,
    first_data: Option<Instant>,
}

impl Stream {
    pub fn tally_due_in(&self, interval: std::time::Duration) -> Option<std::time::Duration> {
        self.tally.due_in(interval)
    }
}

/// What reading needs, shared by all fds.
pub(super) struct Reading {
    buf: Vec<u8>,
    peeker: Peeker,
    /// --tee: where the data goes (events then go to stderr).
    tee: Option<Outlet>,
    /// --tee with --read=count moves bytes with splice(2) until it says it cannot.
    splice_ok: bool,
}

impl Reading {
    pub fn new(cfg: &super::Config) -> Reading {
        Reading {
            // Only --read, --tee and --peek use it: a one-shot check should not pay for
            // zeroing 64 KiB (16 page faults, a measurable part of its start-up).
            buf: if cfg.read.is_some() || cfg.peek {
                vec![0; cfg.read_size]
            } else {
                Vec::new()
            },
            peeker: Peeker::default(),
            tee: cfg.tee.then(Outlet::stdout),
            splice_ok: true,
        }
    }
}

/// --read=count: one data event for the bytes not yet reported.
pub(super) fn flush_count(rep: &mut Reporter<'_>, at: Subject<'_>, s: &mut Stream) -> Result<()> {
    let Some(bytes) = s.tally.take() else {
        return Ok(());
    };
    let secs = s.first_data.map_or(0.0, |f| f.elapsed().as_secs_f64());
    let rate = (secs > 0.0).then(|| s.total as f64 / secs);
    rep.emit(Data {
        at,
        bytes,
        total: Some(s.total),
        rate,
        shown: None,
        peek: false,
    })
}

impl Watch<'_> {
    /// --read=count: one data event for the bytes not yet reported (at most one per
    /// --interval per fd, so a fast stream is a readable trickle of events).
    pub(super) fn flush_count(&mut self, lp: &mut EventLoop<'_>, t: usize) -> Result<()> {
        let w = &self.set.fds[t];
        flush_count(&mut lp.rep, w.subject(), &mut self.tracks[t].stream)
    }

    /// --read=count: the counts that fell due while nothing more was read.
    pub(super) fn flush_due_counts(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        for t in std::mem::take(&mut self.counting) {
            let tally = &self.tracks[t].stream.tally;
            if tally.due(self.cfg.interval) {
                self.flush_count(lp, t)?;
            } else if tally.unreported > 0 {
                self.counting.push(t);
            }
        }
        Ok(())
    }

    /// Reads what fd `t` has (up to MAX_READS reads), tees it, reports it.
    pub(super) fn consume(&mut self, lp: &mut EventLoop<'_>, t: usize) -> Result<Outcome> {
        let Some(mode) = self.cfg.read else {
            return Ok(Outcome::Drained);
        };
        if !self.source(lp, t)? {
            return Ok(Outcome::Deferred);
        }
        let oobinline = self.oobinline(t);
        let w = &self.set.fds[t];
        let Some(fd) = w.borrow() else {
            return Ok(Outcome::Drained);
        };
        let kind = w.desc.kind;
        let tr = &mut self.tracks[t];
        // Out of the track while reading (the loop updates the track); back after.
        let Some(source) = tr.stream.source.take() else {
            return Ok(Outcome::Drained);
        };
        let r = &mut self.reading;
        let mut use_splice =
            r.tee.is_some() && mode == ReadMode::Count && r.splice_ok && source.is_pipe(kind);
        let mut outcome = Outcome::More;
        let mut failed: Option<(&'static str, Errno)> = None;
        let mut reads = 0;
        let total_before = tr.stream.total;
        while reads < MAX_READS {
            let s = if kind == Kind::Socket {
                socket_step(&mut lp.rep, w, fd, tr, &source, &mut r.buf, oobinline)?
            } else if let (true, Some(out)) = (use_splice, r.tee.as_mut()) {
                reader::splice_to(out, &source, r.buf.len())?
            } else {
                reader::read(&source, kind, &mut r.buf)
            };
            match s {
                Step::Data(n) => {
                    reads += 1;
                    if let (false, Some(out)) = (use_splice, r.tee.as_mut()) {
                        reader::write_all(out, &r.buf[..n])?;
                    }
                    took(&mut lp.rep, w, &mut tr.stream, mode, &r.buf[..n])?;
                }
                Step::Again => {
                    outcome = Outcome::Drained;
                    break;
                }
                Step::Eof => {
                    outcome = Outcome::Eof;
                    break;
                }
                // Counts against the budget, so a busy socket cannot hold the loop.
                Step::Retry => reads += 1,
                // splice cannot serve this pair (stdout a tty, say): read and write instead.
                Step::Fail(Call::Splice, Errno::EINVAL) if use_splice => {
                    r.splice_ok = false;
                    use_splice = false;
                }
                // The reader of our stdout left: a quiet end, as for the events.
                Step::Fail(Call::Splice, Errno::EPIPE) if r.tee.is_some() => {
                    return Err(Error::Output(io::ErrorKind::BrokenPipe.into()));
                }
                // Reported after the bytes read before it (see below).
                Step::Fail(call, e) => {
                    failed = Some((call.name(), e));
                    outcome = Outcome::Failed;
                    break;
                }
            }
        }
        let progressed = tr.stream.total != total_before;
        tr.stream.source = Some(source);
        self.after_reads(lp, t, outcome, progressed, failed)
    }

    /// After consume's reads: whether to come back before the next wait, the count
    /// cadence, and how the stream ended.
    fn after_reads(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: usize,
        mut outcome: Outcome,
        progressed: bool,
        failed: Option<(&'static str, Errno)>,
    ) -> Result<Outcome> {
        // Budget spent without a byte (only retries): wait for the next readiness
        // rather than come straight back.
        if outcome == Outcome::More && !progressed {
            outcome = Outcome::Drained;
        }
        if outcome == Outcome::More {
            self.more.push(t);
        }
        let due = self.tracks[t].stream.tally.due(self.cfg.interval);
        if matches!(outcome, Outcome::Eof | Outcome::Failed) || due {
            self.flush_count(lp, t)?;
        } else if self.tracks[t].stream.tally.unreported > 0 && !self.counting.contains(&t) {
            // Not due yet: reported once --interval is over, even if nothing more comes.
            self.counting.push(t);
        }
        self.report_end(lp, t, outcome, failed)?;
        Ok(outcome)
    }

    /// After reading: a failed read (the connection's end, or a system error that
    /// ends the run: EIO, ENOMEM...) and end of file, each after the bytes before it.
    fn report_end(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: usize,
        outcome: Outcome,
        failed: Option<(&'static str, Errno)>,
    ) -> Result<()> {
        let w = &self.set.fds[t];
        if let Some((call, e)) = failed {
            // A connection that ended badly is an event and that fd's end; anything
            // else (EIO, ENOMEM...) is a system error that ends the run (exit 2).
            if !(w.desc.kind == Kind::Socket && net::connection_lost(e)) {
                return Err(Error::sys(
                    format!("fd {} ({})", w.fd, w.desc.what),
                    call,
                    e,
                ));
            }
            let msg = format!("{call} failed");
            lp.rep.emit(FdError {
                at: w.subject().into(),
                errno: e,
                message: &msg,
            })?;
        }
        if outcome == Outcome::Eof {
            lp.rep.emit(Eof {
                at: w.subject(),
                total: self.tracks[t].stream.total,
            })?;
        }
        Ok(())
    }

    /// --peek: what is queued, without consuming it.
    pub(super) fn peek(&mut self, lp: &mut EventLoop<'_>, t: usize) -> Result<()> {
        let w = &self.set.fds[t];
        let Some(fd) = w.borrow() else {
            return Ok(());
        };
        let buf = &mut self.reading.buf;
        let (got, ran_out) = match self.reading.peeker.peek(fd, w.desc.kind, buf) {
            Ok(got) => (got, None),
            // No descriptor for the private pipe: FIONREAD tells the count meanwhile.
            Err(Error::Sys { errno, call, .. }) if exhaust::is_exhaustion(errno) => {
                (None, Some((call, errno)))
            }
            // A socket that is not connected yet, say: reported, and the run goes on.
            Err(Error::Sys { errno, call, .. }) => {
                let msg = format!("{call} failed");
                return lp.rep.emit(FdError {
                    at: w.subject().into(),
                    errno,
                    message: &msg,
                });
            }
            Err(e) => return Err(e),
        };
        self.peek_tried(lp, t, ran_out)?;
        let (w, buf) = (&self.set.fds[t], &self.reading.buf);
        let Some(fd) = w.borrow() else {
            return Ok(());
        };
        let (bytes, shown) = match got {
            Some(n) => (n as u64, Some(Shown::Text(&buf[..n]))),
            None => (
                describe::queued(fd, w.desc.kind).unwrap_or(0).max(0) as u64,
                None,
            ),
        };
        lp.rep.emit(Data {
            at: w.subject(),
            bytes,
            total: None,
            rate: None,
            shown,
            peek: true,
        })
    }
}

/// One read of a stream socket, through the urgent protocol: the urgent byte (or
/// SO_OOBINLINE's mark) is reported when reading reaches it, and reads never cross a
/// mark not yet dealt with, so the byte is reported exactly between the bytes around it.
fn socket_step(
    rep: &mut Reporter<'_>,
    w: &Watched,
    fd: BorrowedFd<'_>,
    tr: &mut Track,
    source: &Source,
    buf: &mut [u8],
    oobinline: bool,
) -> Result<Step> {
    loop {
        let len = buf.len();
        return Ok(match tr.urgent.next(fd, oobinline, |_| len) {
            Ok(Next::Read(n) | Next::Pass(n)) => reader::read_socket(source, n as i32, buf),
            Ok(Next::Probe) => reader::read_socket(source, 0, buf),
            Ok(Next::NotYet) => Step::Again,
            Ok(Next::Urgent { byte, replaced }) => {
                report_urgent(rep, w, &mut tr.stream, Some(byte), replaced)?;
                continue;
            }
            Ok(Next::InlineMark) => {
                report_urgent(rep, w, &mut tr.stream, None, None)?;
                continue;
            }
            // Reset (ENOTCONN): the urgent byte went with the connection. A read past
            // its mark takes what is left and says how the connection ended.
            Err(e) if net::connection_lost(e) => reader::read_socket(source, len as i32, buf),
            Err(e) => {
                super::socket::oob_failed(w, e)?;
                Step::Again
            }
        });
    }
}

/// `bytes` were consumed from `w`: counted, or shown as text or hex.
fn took(
    rep: &mut Reporter<'_>,
    w: &Watched,
    st: &mut Stream,
    mode: ReadMode,
    bytes: &[u8],
) -> Result<()> {
    let offset = st.total;
    st.total += bytes.len() as u64;
    st.first_data.get_or_insert_with(Instant::now);
    if mode == ReadMode::Count {
        st.tally.add(bytes.len());
        return Ok(());
    }
    rep.emit(Data {
        at: w.subject(),
        bytes: bytes.len() as u64,
        total: Some(st.total),
        rate: None,
        shown: mode.show(offset, bytes),
        peek: false,
    })
}

/// Reading reached the urgent mark: the bytes before it are reported first (count
/// mode too), then the byte (`None`: SO_OOBINLINE, the mark's place in the stream).
fn report_urgent(
    rep: &mut Reporter<'_>,
    w: &Watched,
    s: &mut Stream,
    byte: Option<u8>,
    replaced: Option<u8>,
) -> Result<()> {
    flush_count(rep, w.subject(), s)?;
    rep.emit(UrgentData {
        at: w.subject(),
        byte: UrgentByte(byte),
        atmark: Some(true),
        offset: s.total,
        peek: false,
        inline: byte.is_none(),
        replaced: Replaced(replaced),
        errno: None,
    })
}
