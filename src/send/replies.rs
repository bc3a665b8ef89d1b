//! What `fdwatch send` reads back: the server's replies, reported as the relay's
//! events from the target's side. Closing a socket with unread data sends a reset, so
//! an echo server would see ECONNRESET instead of the end of the stream: send reads
//! what is queued before it closes, and with `--read-replies` everything until the
//! server closes. Reads go through the urgent protocol (`urgent::Urgent`), as every
//! stream-socket read does: a normal read at the mark would destroy the server's byte.

use std::os::fd::{AsFd, AsRawFd};

use nix::errno::Errno;

use super::Connection;
use crate::error::{Error, Result};
use crate::event::{Flow, RelayData, RelayUrgent, Replaced, Shown, Side, UrgentByte};
use crate::probe;
use crate::reader::{self, Source, Step};
use crate::readiness::{Conditions, Interest};
use crate::report::Reporter;
use crate::urgent::Next;

/// How far to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadUntil {
    /// What is queued now, without waiting.
    Queued,
    /// Until the server closes (or resets) the connection, waiting for it.
    Closed,
}

/// How the reading ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ended {
    /// Nothing more queued; the server has not closed.
    Open,
    /// End of file: the server closed its side.
    Closed,
    /// ECONNRESET: the server reset the connection.
    Reset,
}

/// One read's outcome.
enum Got {
    Bytes(usize),
    Urgent(u8, Option<u8>),
    Again,
    Eof,
    Reset,
}

/// Reads from `c` and reports what came, until `until`.
pub(super) fn read(
    rep: &mut Reporter<'_>,
    conn: u64,
    c: &mut Connection,
    until: ReadUntil,
    address: &str,
) -> Result<Ended> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let ended = match next(c, &mut buf, address)? {
            Got::Bytes(n) => {
                c.sent.target_to_client += n as u64;
                rep.emit(RelayData {
                    flow: Flow {
                        conn,
                        from: Side::Target,
                    },
                    bytes: n as u64,
                    total: c.sent.target_to_client,
                    shown: Some(Shown::Text(&buf[..n])),
                })?;
                continue;
            }
            Got::Urgent(byte, replaced) => {
                report_urgent(rep, conn, c, byte, replaced)?;
                continue;
            }
            Got::Again if until == ReadUntil::Closed => {
                rep.flush()?;
                wait(c, address)?;
                continue;
            }
            Got::Again => return Ok(Ended::Open),
            Got::Eof => Ended::Closed,
            Got::Reset => Ended::Reset,
        };
        // The stream ended: a byte taken early and never reached is reported too.
        while let Some(byte) = c.urgent.leftover() {
            report_urgent(rep, conn, c, byte, None)?;
        }
        return Ok(ended);
    }
}

fn report_urgent(
    rep: &mut Reporter<'_>,
    conn: u64,
    c: &mut Connection,
    byte: u8,
    replaced: Option<u8>,
) -> Result<()> {
    c.sent.urgent_target_to_client += 1;
    rep.emit(RelayUrgent {
        flow: Flow {
            conn,
            from: Side::Target,
        },
        byte: UrgentByte(byte),
        offset: c.sent.target_to_client,
        replaced: Replaced(replaced),
        relayed: true,
    })
}

/// The next step of reading `c`: never across an urgent mark not yet dealt with.
fn next(c: &mut Connection, buf: &mut [u8], address: &str) -> Result<Got> {
    let fd = c.fd.as_fd();
    let src = Source::Socket(fd.as_raw_fd());
    let failed = |e| Error::sys(format!("send {address}"), "recv(MSG_OOB)", e);
    loop {
        let len = buf.len();
        let step = match c.urgent.next(fd, false, |_| len).map_err(failed)? {
            Next::Read(n) | Next::Pass(n) => reader::read_socket(&src, n as i32, buf),
            Next::Probe => reader::read_socket(&src, 0, buf),
            Next::NotYet => return Ok(Got::Again),
            Next::Urgent { byte, replaced } => return Ok(Got::Urgent(byte, replaced)),
            // Never SO_OOBINLINE here: the byte is out of the stream.
            Next::InlineMark => continue,
        };
        return match step {
            Step::Data(n) => Ok(Got::Bytes(n)),
            Step::Again => Ok(Got::Again),
            Step::Eof => Ok(Got::Eof),
            Step::Retry => continue,
            Step::Fail(_, Errno::ECONNRESET) => Ok(Got::Reset),
            Step::Fail(_, e) => Err(Error::sys(format!("send {address}"), "recv", e)),
        };
    }
}

/// Waits until `c` has something to read; an urgent byte is taken as soon as it is
/// announced (PRI), before a normal read can reach its mark.
fn wait(c: &mut Connection, address: &str) -> Result<()> {
    let fd = c.fd.as_fd();
    let ready = loop {
        match probe::wait(fd, Interest::SOCKET, None) {
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(format!("send {address}"), "poll", e)),
            Ok(ready) => break ready,
        }
    };
    if ready.contains(Conditions::URGENT) {
        c.urgent
            .take_early(fd, false)
            .map_err(|e| Error::sys(format!("send {address}"), "recv(MSG_OOB)", e))?;
    }
    Ok(())
}
