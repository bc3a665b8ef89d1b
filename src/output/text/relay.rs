//! `fdwatch relay`'s (and `fdwatch send`'s) kinds as text: after the time, the
//! connection (`conn 3     `, blank for the relay itself), then what happened:
//! `conn 3     client → target  4 bytes (total 4) "hell"`.

use std::io::{self, Write};

use super::{Text, Tone};
use crate::escape;
use crate::event::{
    RelayAccept, RelayClose, RelayConnect, RelayData, RelayError, RelayEvent, RelayExhausted,
    RelayHalfClose, RelayListen, RelayReset, RelaySignal, RelaySummary, RelayTimeout, RelayUrgent,
    Side, Traffic,
};
use crate::timeout::seconds;

fn arrow(from: Side) -> &'static str {
    match from {
        Side::Client => "client → target",
        Side::Target => "target → client",
    }
}

fn traffic(t: &Traffic) -> String {
    format!(
        "{} bytes client → target, {} target → client, urgent {}/{}",
        t.client_to_target,
        t.target_to_client,
        t.urgent_client_to_target,
        t.urgent_target_to_client
    )
}

impl<W: Write> Text<W> {
    /// A relay line after its time: one method per kind.
    pub(super) fn relay(&mut self, ev: &RelayEvent<'_>) -> io::Result<()> {
        use RelayEvent as E;
        match ev {
            E::Listen(e) => self.relay_listen(e),
            E::Accept(e) => self.relay_accept(e),
            E::Connect(e) => self.relay_connect(e),
            E::Data(e) => self.relay_data(e),
            E::Urgent(e) => self.relay_urgent(e),
            E::HalfClose(e) => self.relay_half_close(e),
            E::Reset(e) => self.relay_reset(e),
            E::Error(e) => self.relay_error(e),
            E::Close(e) => self.relay_close(e),
            E::Summary(e) => self.relay_summary(e),
            E::Signal(e) => self.relay_signal(e),
            E::Timeout(e) => self.relay_timeout(e),
            E::Exhausted(e) => self.relay_exhausted(e),
        }
    }

    fn relay_listen(&mut self, e: &RelayListen<'_>) -> io::Result<()> {
        self.blank_col()?;
        let target = escape::message(e.target);
        write!(self.out, "relay {} → {target}", e.what)?;
        if e.all_interfaces {
            self.styled(
                " (all interfaces: reachable from the network)",
                Tone::Notice,
            )?;
        }
        Ok(())
    }

    fn relay_accept(&mut self, e: &RelayAccept<'_>) -> io::Result<()> {
        self.conn_col(e.conn)?;
        write!(self.out, "accept from {}", e.peer)
    }

    fn relay_connect(&mut self, e: &RelayConnect<'_>) -> io::Result<()> {
        self.conn_col(e.conn)?;
        let addr = e.addr.map(|a| format!(" ({a})")).unwrap_or_default();
        let target = e.target;
        match e.result.0 {
            None => write!(self.out, "connected to {target}{addr}"),
            Some(err) => self.styled(
                format_args!(
                    "connect to {target}{addr} failed: {} ({err:?}); client closed",
                    err.desc()
                ),
                Tone::Failure,
            ),
        }
    }

    fn relay_data(&mut self, e: &RelayData<'_>) -> io::Result<()> {
        self.conn_col(e.flow.conn)?;
        write!(self.out, "{}  ", arrow(e.flow.from))?;
        self.styled(format_args!("{} bytes", e.bytes), Tone::Data)?;
        write!(self.out, " (total {})", e.total)?;
        self.shown(e.shown)
    }

    fn relay_urgent(&mut self, e: &RelayUrgent) -> io::Result<()> {
        self.conn_col(e.flow.conn)?;
        write!(self.out, "{}  ", arrow(e.flow.from))?;
        let how = if e.relayed {
            "sent with MSG_OOB"
        } else {
            "not relayed: the connection ended first"
        };
        let byte = e.byte.0;
        self.styled(
            format_args!(
                "urgent \"{}\" (0x{byte:02x}) at offset {}, {how}",
                escape::bytes(&[byte]),
                e.offset
            ),
            Tone::Urgent,
        )?;
        if let Some(b) = e.replaced.0 {
            write!(
                self.out,
                "; it replaced \"{}\", never read",
                escape::bytes(&[b])
            )?;
        }
        Ok(())
    }

    fn relay_half_close(&mut self, e: &RelayHalfClose) -> io::Result<()> {
        self.conn_col(e.flow.conn)?;
        let from = e.flow.from;
        write!(
            self.out,
            "{} half-close: SHUT_WR passed on to the {}",
            from.name(),
            from.other().name()
        )
    }

    fn relay_reset(&mut self, e: &RelayReset) -> io::Result<()> {
        self.conn_col(e.flow.conn)?;
        let from = e.flow.from;
        self.styled(
            format_args!(
                "{} reset: the {} is closed with a reset too",
                from.name(),
                from.other().name()
            ),
            Tone::Notice,
        )
    }

    fn relay_error(&mut self, e: &RelayError<'_>) -> io::Result<()> {
        self.conn_col(e.flow.conn)?;
        let who = e
            .flow
            .from
            .map_or(String::new(), |s| format!("{}: ", s.name()));
        let message = escape::message(e.message);
        self.styled(
            format_args!("{who}{message}: {} ({:?})", e.errno.desc(), e.errno),
            Tone::Failure,
        )
    }

    fn relay_close(&mut self, e: &RelayClose) -> io::Result<()> {
        self.conn_col(e.conn)?;
        write!(
            self.out,
            "closed after {}: {}",
            seconds(e.duration),
            traffic(&e.traffic)
        )
    }

    fn relay_summary(&mut self, e: &RelaySummary) -> io::Result<()> {
        self.blank_col()?;
        let backend = e.backend.map(|b| format!(" ({b})")).unwrap_or_default();
        write!(
            self.out,
            "{} connections in {}{backend}: {}",
            e.connections,
            seconds(e.elapsed),
            traffic(&e.traffic)
        )
    }

    fn relay_signal(&mut self, e: &RelaySignal<'_>) -> io::Result<()> {
        self.blank_col()?;
        self.styled(
            format_args!("signal {} from pid {}: ending", e.name, e.pid),
            Tone::Urgent,
        )
    }

    fn relay_timeout(&mut self, e: &RelayTimeout) -> io::Result<()> {
        self.blank_col()?;
        self.styled(
            format_args!("idle for {}: ending", seconds(e.idle)),
            Tone::Notice,
        )
    }

    /// The listener it happened to (the splice pipes name themselves), then as watch
    /// mode's.
    fn relay_exhausted(&mut self, e: &RelayExhausted<'_>) -> io::Result<()> {
        self.blank_col()?;
        write!(self.out, "{}: ", e.episode.at.what)?;
        self.episode(&e.episode)
    }
}
