//! `fdwatch relay`'s (and `fdwatch send`'s) events as JSON fields, after the common
//! ones; the same names as watch mode's for the same things.

use std::io::{self, Write};

use super::json::{Line, Name, connect_result, secs};
use crate::event::Relay as R;

pub(super) fn name(r: &R<'_>) -> &'static str {
    match r {
        R::Listen { .. } => "listen",
        R::Accept { .. } => "accept",
        R::Connect { .. } => "connect",
        R::Data { .. } => "data",
        R::Urgent { .. } => "urgent",
        R::HalfClose { .. } => "half-close",
        R::Reset { .. } => "reset",
        R::Error { .. } => "error",
        R::Close { .. } => "close",
        R::Summary { .. } => "summary",
        R::Signal { .. } => "signal",
        R::Timeout { .. } => "timeout",
        R::Exhausted(_) => "exhausted",
    }
}

fn traffic<W: Write>(l: &mut Line<'_, W>, t: &crate::event::Traffic) -> io::Result<()> {
    l.field("client_to_target", &t.client_to_target)?;
    l.field("target_to_client", &t.target_to_client)?;
    l.field("urgent_client_to_target", &t.urgent_client_to_target)?;
    l.field("urgent_target_to_client", &t.urgent_target_to_client)
}

/// The fields of a relay event: `conn` (0 for the relay itself), then its own.
pub(super) fn fields<W: Write>(l: &mut Line<'_, W>, r: &R<'_>) -> io::Result<()> {
    let conn = match r {
        R::Listen { .. }
        | R::Summary { .. }
        | R::Signal { .. }
        | R::Timeout { .. }
        | R::Exhausted(_) => 0,
        R::Accept { conn, .. }
        | R::Connect { conn, .. }
        | R::Data { conn, .. }
        | R::Urgent { conn, .. }
        | R::HalfClose { conn, .. }
        | R::Reset { conn, .. }
        | R::Error { conn, .. }
        | R::Close { conn, .. } => *conn,
    };
    l.field("conn", &conn)?;
    match r {
        R::Listen {
            what,
            target,
            all_interfaces,
        } => {
            l.field("what", what)?;
            l.field("target", target)?;
            l.field("all_interfaces", all_interfaces)
        }
        R::Accept { peer, .. } => l.field("peer", peer),
        R::Connect {
            target,
            addr,
            error,
            ..
        } => {
            l.field("target", target)?;
            l.some("addr", *addr)?;
            connect_result(l, *error)
        }
        R::Data {
            from,
            bytes,
            total,
            shown,
            ..
        } => {
            l.field("from", from.name())?;
            l.field("bytes", bytes)?;
            l.field("total", total)?;
            l.shown(*shown)
        }
        R::Urgent {
            from,
            byte,
            offset,
            replaced,
            relayed,
            ..
        } => {
            l.field("from", from.name())?;
            l.byte("byte", "hex", Some(*byte))?;
            l.field("offset", offset)?;
            l.byte("replaced", "replaced_hex", *replaced)?;
            // Only where it was not: the usual line stays as it was.
            if !relayed {
                l.field("relayed", &false)?;
            }
            Ok(())
        }
        R::HalfClose { from, .. } | R::Reset { from, .. } => l.field("from", from.name()),
        R::Error {
            from,
            errno,
            message,
            ..
        } => {
            l.field("from", &from.map(|s| s.name()))?;
            l.field("errno", &Name(*errno))?;
            l.field("message", message)
        }
        R::Close {
            traffic: t,
            duration,
            ..
        } => {
            traffic(l, t)?;
            l.field("duration", &secs(*duration))
        }
        R::Summary {
            connections,
            traffic: t,
            elapsed,
            backend,
        } => {
            l.field("connections", connections)?;
            traffic(l, t)?;
            l.field("elapsed", &secs(*elapsed))?;
            l.some("backend", *backend)
        }
        R::Signal { number, name, pid } => {
            l.field("name", name)?;
            l.field("number", number)?;
            l.field("pid", pid)
        }
        R::Timeout { idle } => l.field("timeout", &secs(*idle)),
        R::Exhausted(x) => exhausted(l, x),
    }
}

/// An `exhausted` event's fields (watch mode and the relay alike).
pub(super) fn exhausted<W: Write>(
    l: &mut Line<'_, W>,
    x: &crate::event::Exhausted<'_>,
) -> io::Result<()> {
    l.field("fd", &x.fd)?;
    l.field("what", x.what)?;
    l.field("call", x.call)?;
    l.field("errno", &Name(x.errno))?;
    // What is only known at the end comes only then.
    if x.phase == crate::event::Phase::End {
        l.field("refused", &x.refused)?;
        l.field("duration", &secs(x.duration))?;
    }
    l.field("state", x.phase.name())
}
