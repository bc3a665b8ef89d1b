//! `fdwatch send`: a test client that sends normal and urgent data in order, so
//! debugging urgent data needs no second tool. `replies.rs`: what it reads back.

mod replies;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{self, MsgFlags, Shutdown, sockopt};

use crate::error::{Error, Result};
use crate::event::{
    ConnectResult, Flow, RelayClose, RelayConnect, RelayData, RelayHalfClose, RelayReset,
    RelaySummary, RelayUrgent, Replaced, Shown, Side, TheRelay, Traffic, UrgentByte,
};
use crate::output::Output;
use crate::report::Reporter;
use crate::spec::SocketSpec;

/// One step of what `fdwatch send` does, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendStep {
    Data(Vec<u8>),
    /// Sent with MSG_OOB: TCP makes its last byte the urgent byte.
    Urgent(Vec<u8>),
    /// A pause at its place (`--delay` given more than once).
    Pause(Duration),
}

/// What to send and where (from `fdwatch send`'s options, typed once: ADDRESS is a
/// `tcp:` or `unix:` address, or the command line was refused).
#[derive(Clone, Debug)]
pub struct Config {
    /// ADDRESS as typed: messages and events quote it.
    pub address: String,
    /// ADDRESS parsed.
    pub to: SocketSpec,
    pub plan: Plan,
    pub output: Output,
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub steps: Vec<SendStep>,
    /// A pause between every two sends (`--delay` given once).
    pub delay: Option<Duration>,
    pub repeat: u64,
    pub connections: u32,
    pub shutdown: bool,
    pub rst: bool,
    /// After the last step: shut down the write side and read until the server closes.
    pub read_replies: bool,
}

/// C escapes in --data/--urgent: `\n \r \t \0 \\ \xHH`.
pub fn unescape(s: &str) -> std::result::Result<Vec<u8>, String> {
    let arg = crate::escape::message(s);
    let mut out = Vec::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            continue;
        }
        match it.next() {
            Some('n') => out.push(b'\n'),
            Some('r') => out.push(b'\r'),
            Some('t') => out.push(b'\t'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                // Exactly two hex digits (from_str_radix alone would take "+f").
                let hex: String = it.by_ref().take(2).collect();
                let v = Some(&hex)
                    .filter(|h| h.len() == 2 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("'{arg}': \\x needs two hex digits"))?;
                out.push(v);
            }
            Some(c) => {
                let esc = crate::escape::message(&format!("\\{c}"));
                return Err(format!("'{arg}': unknown escape '{esc}'"));
            }
            None => return Err(format!("'{arg}': ends with a lone backslash")),
        }
    }
    Ok(out)
}

/// Connects to `address` (`tcp:HOST:PORT` or `unix:PATH`), blocking; with the
/// address it reached, escaped for printing.
fn connect(address: &str, sock: &SocketSpec) -> Result<(OwnedFd, String)> {
    let io_err = |e: io::Error| {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(0));
        Error::sys(format!("send {address}"), "connect", errno)
    };
    match sock {
        SocketSpec::Tcp { host, port } => {
            let addrs = crate::net::resolve(host, *port)
                .map_err(|m| Error::Usage(format!("send {address}: {m}")))?;
            let s = std::net::TcpStream::connect(&addrs[..]).map_err(io_err)?;
            let addr = s.peer_addr().map(|a| a.to_string()).unwrap_or_default();
            Ok((OwnedFd::from(s), addr))
        }
        SocketSpec::Unix(path) => {
            let s = UnixStream::connect(path).map_err(io_err)?;
            let addr = crate::escape::bytes(path.as_os_str().as_encoded_bytes());
            Ok((OwnedFd::from(s), addr))
        }
        _ => Err(Error::Usage(format!(
            "send: address '{}': expected tcp:HOST:PORT or unix:PATH",
            crate::escape::message(address)
        ))),
    }
}

/// Sends all of `data` (MSG_NOSIGNAL: a dead peer is an error, not SIGPIPE).
fn send_all(fd: &OwnedFd, mut data: &[u8], urgent: bool, address: &str) -> Result<()> {
    let mut flags = MsgFlags::MSG_NOSIGNAL;
    if urgent {
        flags |= MsgFlags::MSG_OOB;
    }
    while !data.is_empty() {
        match socket::send(fd.as_raw_fd(), data, flags) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys(format!("send {address}"), "send", e)),
        }
    }
    Ok(())
}

/// One client connection and what went through it.
struct Connection {
    fd: OwnedFd,
    addr: String,
    sent: Traffic,
    /// The urgent data of what comes back (replies.rs).
    urgent: crate::urgent::Urgent,
}

#[inline(never)] // out of the one-shot start-up path (link/startup.ld)
pub fn run(cfg: &Config, rep: &mut Reporter<'_>) -> Result<u8> {
    let (address, plan) = (cfg.address.as_str(), &cfg.plan);
    let start = Instant::now();
    let mut conns = connect_all(cfg, rep)?;
    for _ in 0..plan.repeat {
        for (i, c) in conns.iter_mut().enumerate() {
            send_steps(rep, i as u64 + 1, c, plan, address)?;
        }
    }
    let mut total = Traffic::default();
    for (i, c) in conns.into_iter().enumerate() {
        total.add(&close(rep, i as u64 + 1, c, plan, address, start)?);
    }
    rep.emit(RelaySummary {
        conn: TheRelay,
        connections: u64::from(plan.connections),
        traffic: total,
        elapsed: start.elapsed(),
        backend: None,
    })?;
    rep.flush()?;
    Ok(0)
}

/// Every client connected, then each connection reported: all connect first, so a
/// listener sees them at once.
fn connect_all(cfg: &Config, rep: &mut Reporter<'_>) -> Result<Vec<Connection>> {
    let address = cfg.address.as_str();
    let target = crate::escape::message(address);
    let mut conns = Vec::with_capacity(cfg.plan.connections as usize);
    for _ in 0..cfg.plan.connections {
        let (fd, addr) = connect(address, &cfg.to)?;
        conns.push(Connection {
            fd,
            addr,
            sent: Traffic::default(),
            urgent: Default::default(),
        });
    }
    for (i, c) in conns.iter().enumerate() {
        rep.emit(RelayConnect {
            conn: i as u64 + 1,
            target: &target,
            addr: Some(&c.addr),
            result: ConnectResult(None),
        })?;
    }
    rep.flush()?;
    Ok(conns)
}

/// One pass of the plan's steps on connection `conn`, `--delay` between them.
fn send_steps(
    rep: &mut Reporter<'_>,
    conn: u64,
    c: &mut Connection,
    plan: &Plan,
    address: &str,
) -> Result<()> {
    for (j, step) in plan.steps.iter().enumerate() {
        if j > 0
            && let Some(d) = plan.delay
        {
            std::thread::sleep(d);
        }
        sent(rep, conn, c, step, address)?;
        if plan.read_replies {
            // What came back so far, so that an echo server never fills
            // its send buffer and stops reading.
            replies::read(rep, conn, c, replies::ReadUntil::Queued, address)?;
        }
    }
    Ok(())
}

/// Connection `conn` ended and closed (with RST under `--rst`), its reset and close
/// reported; what was sent on it.
fn close(
    rep: &mut Reporter<'_>,
    conn: u64,
    mut c: Connection,
    plan: &Plan,
    address: &str,
    start: Instant,
) -> Result<Traffic> {
    let reset = end_of(rep, conn, &mut c, plan, address)?;
    if plan.rst {
        // SO_LINGER {on, 0}: close sends RST instead of FIN.
        let linger = nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        socket::setsockopt(&c.fd.as_fd(), sockopt::Linger, &linger)
            .map_err(|e| Error::sys(format!("send {address}"), "setsockopt(SO_LINGER)", e))?;
    }
    drop(c.fd);
    if plan.rst || reset {
        let from = if reset { Side::Target } else { Side::Client };
        rep.emit(RelayReset {
            flow: Flow { conn, from },
        })?;
    }
    rep.emit(RelayClose {
        conn,
        traffic: c.sent,
        duration: start.elapsed(),
    })?;
    Ok(c.sent)
}

/// The end of connection `c` before its close: `--shutdown` (implied by
/// `--read-replies`, which then reads until the server closes), else what is queued
/// is read, so that the close does not reset the connection for want of reading it.
/// Whether the server reset it.
fn end_of(
    rep: &mut Reporter<'_>,
    conn: u64,
    c: &mut Connection,
    plan: &Plan,
    address: &str,
) -> Result<bool> {
    if plan.shutdown || plan.read_replies {
        socket::shutdown(c.fd.as_raw_fd(), Shutdown::Write)
            .map_err(|e| Error::sys(format!("send {address}"), "shutdown", e))?;
        rep.emit(RelayHalfClose {
            flow: Flow {
                conn,
                from: Side::Client,
            },
        })?;
    }
    let until = if plan.read_replies {
        replies::ReadUntil::Closed
    } else {
        replies::ReadUntil::Queued
    };
    let ended = replies::read(rep, conn, c, until, address)?;
    Ok(ended == replies::Ended::Reset)
}

/// Sends one step on `c` and reports it: normal bytes as data; urgent ones as the
/// normal bytes before the last (TCP keeps only the last byte urgent) and the byte.
fn sent(
    rep: &mut Reporter<'_>,
    conn: u64,
    c: &mut Connection,
    step: &SendStep,
    address: &str,
) -> Result<()> {
    let (normal, urgent) = match step {
        SendStep::Pause(d) => {
            std::thread::sleep(*d);
            return Ok(());
        }
        SendStep::Data(d) => {
            send_all(&c.fd, d, false, address)?;
            (&d[..], None)
        }
        SendStep::Urgent(d) => {
            send_all(&c.fd, d, true, address)?;
            match d.split_last() {
                Some((last, rest)) => (rest, Some(*last)),
                None => (&d[..], None),
            }
        }
    };
    if !normal.is_empty() {
        c.sent.client_to_target += normal.len() as u64;
        rep.emit(RelayData {
            flow: Flow {
                conn,
                from: Side::Client,
            },
            bytes: normal.len() as u64,
            total: c.sent.client_to_target,
            shown: Some(Shown::Text(normal)),
        })?;
    }
    if let Some(byte) = urgent {
        c.sent.urgent_client_to_target += 1;
        rep.emit(RelayUrgent {
            flow: Flow {
                conn,
                from: Side::Client,
            },
            byte: UrgentByte(byte),
            offset: c.sent.client_to_target,
            replaced: Replaced(None),
            relayed: true,
        })?;
    }
    rep.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape("hell").as_deref(), Ok(&b"hell"[..]));
        assert_eq!(
            unescape(r"a\nb\t\\\x00\xff").as_deref(),
            Ok(&b"a\nb\t\\\x00\xff"[..])
        );
        assert!(unescape(r"\x1").is_err());
        assert!(unescape(r"\q").is_err());
        assert!(unescape("end\\").is_err());
    }
}
