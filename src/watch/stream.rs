//! Watch mode's data: --read (count, text, hex), --tee (the bytes on to stdout, by
//! splice where it can) and --peek (shown, never consumed). Stream sockets are read
//! through urgent.rs, so an urgent byte is reported exactly between the bytes around
//! it and never destroyed by a read.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::errno::Errno;

use super::Watch;
use super::slot::{Intake, Slot, Token};
use crate::describe::{self, Kind};
use crate::error::{Error, Result};
use crate::event::{Data, Eof, FdError, Replaced, Shown, Subject, UrgentByte, UrgentData};
use crate::event_loop::EventLoop;
use crate::exhaust;
use crate::net;
use crate::open::Watched;
use crate::outlet::Outlet;
use crate::reader::{self, Call, MAX_READS, Peeker, ReadMode, Source, Step};
use crate::report::Reporter;
use crate::urgent::{Next, Urgent};

/// What consuming an fd found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Consumed {
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

/// One fd being read: what a drain needs of its slot.
struct Draining<'a> {
    w: &'a Watched,
    fd: BorrowedFd<'a>,
    urgent: &'a mut Urgent,
    intake: &'a mut Intake,
    source: &'a Source,
    oobinline: bool,
    mode: ReadMode,
}

/// A read that failed: the call, the errno.
type Failure = Option<(&'static str, Errno)>;

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

    /// Up to MAX_READS reads of one fd: each teed and reported; how it ended.
    fn drain(
        &mut self,
        rep: &mut Reporter<'_>,
        d: &mut Draining<'_>,
    ) -> Result<(Consumed, Failure)> {
        let kind = d.w.desc.kind;
        let mut use_splice = self.tee.is_some()
            && d.mode == ReadMode::Count
            && self.splice_ok
            && d.source.is_pipe(kind);
        let mut reads = 0;
        while reads < MAX_READS {
            let s = if kind == Kind::Socket {
                socket_step(rep, d, &mut self.buf)?
            } else if let (true, Some(out)) = (use_splice, self.tee.as_mut()) {
                reader::splice_to(out, d.source, self.buf.len())?
            } else {
                reader::read(d.source, kind, &mut self.buf)
            };
            match s {
                Step::Data(n) => {
                    reads += 1;
                    if let (false, Some(out)) = (use_splice, self.tee.as_mut()) {
                        reader::write_all(out, &self.buf[..n])?;
                    }
                    took(rep, d.w, d.intake, d.mode, &self.buf[..n])?;
                }
                Step::Again => return Ok((Consumed::Drained, None)),
                Step::Eof => return Ok((Consumed::Eof, None)),
                // Counts against the budget, so a busy socket cannot hold the loop.
                Step::Retry => reads += 1,
                // splice cannot serve this pair (stdout a tty, say): read and write instead.
                Step::Fail(Call::Splice, Errno::EINVAL) if use_splice => {
                    self.splice_ok = false;
                    use_splice = false;
                }
                // The reader of our stdout left: a quiet end, as for the events.
                Step::Fail(Call::Splice, Errno::EPIPE) if self.tee.is_some() => {
                    return Err(Error::Output(io::ErrorKind::BrokenPipe.into()));
                }
                // Reported after the bytes read before it (after_reads).
                Step::Fail(call, e) => return Ok((Consumed::Failed, Some((call.name(), e)))),
            }
        }
        Ok((Consumed::More, None))
    }
}

/// --read=count: one data event for the bytes not yet reported.
pub(super) fn flush_count(rep: &mut Reporter<'_>, at: Subject<'_>, s: &mut Intake) -> Result<()> {
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
    pub(super) fn flush_count(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        let slot = &mut self.slots[t];
        flush_count(&mut lp.rep, slot.watched.subject(), &mut slot.intake)
    }

    /// --read=count: the counts that fell due while nothing more was read.
    pub(super) fn flush_due_counts(&mut self, lp: &mut EventLoop<'_>) -> Result<()> {
        for t in std::mem::take(&mut self.counting) {
            let tally = &self.slots[t].intake.tally;
            if tally.due(self.cfg.interval) {
                self.flush_count(lp, t)?;
            } else if tally.unreported > 0 {
                self.counting.push(t);
            }
        }
        Ok(())
    }

    /// Reads what fd `t` has (up to MAX_READS reads), tees it, reports it.
    pub(super) fn consume(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<Consumed> {
        let Some(mode) = self.cfg.read else {
            return Ok(Consumed::Drained);
        };
        if !self.source(lp, t)? {
            return Ok(Consumed::Deferred);
        }
        let oobinline = self.oobinline(t);
        let Slot {
            watched: w,
            urgent,
            intake,
            ..
        } = &mut self.slots[t];
        let Some(fd) = w.borrow() else {
            return Ok(Consumed::Drained);
        };
        // Out of the slot while reading (the reads update the slot); back after.
        let Some(source) = intake.source.take() else {
            return Ok(Consumed::Drained);
        };
        let total_before = intake.total;
        let mut d = Draining {
            w,
            fd,
            urgent,
            intake: &mut *intake,
            source: &source,
            oobinline,
            mode,
        };
        let drained = self.reading.drain(&mut lp.rep, &mut d);
        let progressed = intake.total != total_before;
        intake.source = Some(source);
        let (outcome, failed) = drained?;
        self.after_reads(lp, t, outcome, progressed, failed)
    }

    /// After consume's reads: whether to come back before the next wait, the count
    /// cadence, and how the stream ended.
    fn after_reads(
        &mut self,
        lp: &mut EventLoop<'_>,
        t: Token,
        mut outcome: Consumed,
        progressed: bool,
        failed: Failure,
    ) -> Result<Consumed> {
        // Budget spent without a byte (only retries): wait for the next readiness
        // rather than come straight back.
        if outcome == Consumed::More && !progressed {
            outcome = Consumed::Drained;
        }
        if outcome == Consumed::More {
            self.more.push(t);
        }
        let due = self.slots[t].intake.tally.due(self.cfg.interval);
        if matches!(outcome, Consumed::Eof | Consumed::Failed) || due {
            self.flush_count(lp, t)?;
        } else if self.slots[t].intake.tally.unreported > 0 && !self.counting.contains(&t) {
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
        t: Token,
        outcome: Consumed,
        failed: Failure,
    ) -> Result<()> {
        let w = &self.slots[t].watched;
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
        if outcome == Consumed::Eof {
            lp.rep.emit(Eof {
                at: w.subject(),
                total: self.slots[t].intake.total,
            })?;
        }
        Ok(())
    }

    /// --peek: what is queued, without consuming it.
    pub(super) fn peek(&mut self, lp: &mut EventLoop<'_>, t: Token) -> Result<()> {
        let w = &self.slots[t].watched;
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
        let (w, buf) = (&self.slots[t].watched, &self.reading.buf);
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
fn socket_step(rep: &mut Reporter<'_>, d: &mut Draining<'_>, buf: &mut [u8]) -> Result<Step> {
    let source = d.source;
    loop {
        let len = buf.len();
        return Ok(match d.urgent.next(d.fd, d.oobinline, |_| len) {
            Ok(Next::Read(n) | Next::Pass(n)) => reader::read_socket(source, n as i32, buf),
            Ok(Next::Probe) => reader::read_socket(source, 0, buf),
            Ok(Next::NotYet) => Step::Again,
            Ok(Next::Urgent { byte, replaced }) => {
                report_urgent(rep, d.w, d.intake, Some(byte), replaced)?;
                continue;
            }
            Ok(Next::InlineMark) => {
                report_urgent(rep, d.w, d.intake, None, None)?;
                continue;
            }
            // Reset (ENOTCONN): the urgent byte went with the connection. A read past
            // its mark takes what is left and says how the connection ended.
            Err(e) if net::connection_lost(e) => reader::read_socket(source, len as i32, buf),
            Err(e) => {
                super::socket::oob_failed(d.w, e)?;
                Step::Again
            }
        });
    }
}

/// `bytes` were consumed from `w`: counted, or shown as text or hex.
fn took(
    rep: &mut Reporter<'_>,
    w: &Watched,
    st: &mut Intake,
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
    s: &mut Intake,
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
