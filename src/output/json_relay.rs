//! `fdwatch relay`'s events as JSON fields (after `event`, `t`).

use std::io::{self, Write};

use super::json::{exhausted, opt_string, secs, string, text_and_hex};

pub(super) fn relay_name(r: &crate::event::Relay<'_>) -> &'static str {
    use crate::event::Relay as R;
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

fn traffic(o: &mut impl Write, t: &crate::event::Traffic) -> io::Result<()> {
    write!(
        o,
        ",\"client_to_target\":{},\"target_to_client\":{},\"urgent_client_to_target\":{},\"urgent_target_to_client\":{}",
        t.client_to_target,
        t.target_to_client,
        t.urgent_client_to_target,
        t.urgent_target_to_client
    )
}

/// The fields of a `fdwatch relay` event.
// Longer than 80 lines on purpose: one match arm per event kind, a few lines each,
// so the whole format of every line is in one place and the kinds compare at a glance.
pub(super) fn relay(o: &mut impl Write, r: &crate::event::Relay<'_>) -> io::Result<()> {
    use crate::event::Relay as R;
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
    write!(o, ",\"conn\":{conn}")?;
    match r {
        R::Listen {
            what,
            target,
            all_interfaces,
        } => {
            o.write_all(b",\"what\":")?;
            string(o, what)?;
            o.write_all(b",\"target\":")?;
            string(o, target)?;
            write!(o, ",\"all_interfaces\":{all_interfaces}")?;
        }
        R::Accept { peer, .. } => {
            o.write_all(b",\"peer\":")?;
            string(o, peer)?;
        }
        R::Connect { target, error, .. } => {
            o.write_all(b",\"target\":")?;
            string(o, target)?;
            match error {
                Some(e) => write!(o, ",\"error\":\"{e:?}\"")?,
                None => o.write_all(b",\"error\":null")?,
            }
        }
        R::Data {
            from,
            bytes,
            total,
            text,
            hex,
            ..
        } => {
            write!(
                o,
                ",\"from\":\"{}\",\"bytes\":{bytes},\"total\":{total}",
                from.name()
            )?;
            text_and_hex(o, *text, *hex)?;
        }
        R::Urgent {
            from,
            byte,
            offset,
            replaced,
            ..
        } => {
            write!(o, ",\"from\":\"{}\",\"byte\":", from.name())?;
            string(o, &crate::escape::bytes(&[*byte]))?;
            write!(
                o,
                ",\"hex\":\"{byte:02x}\",\"offset\":{offset},\"replaced\":"
            )?;
            match replaced {
                Some(b) => string(o, &crate::escape::bytes(&[*b]))?,
                None => o.write_all(b"null")?,
            }
        }
        R::HalfClose { from, .. } | R::Reset { from, .. } => {
            write!(o, ",\"from\":\"{}\"", from.name())?;
        }
        R::Error {
            from,
            errno,
            message,
            ..
        } => {
            o.write_all(b",\"from\":")?;
            opt_string(o, from.map(|s| s.name()))?;
            write!(o, ",\"errno\":\"{errno:?}\",\"message\":")?;
            string(o, message)?;
        }
        R::Close {
            traffic: t,
            duration,
            ..
        } => {
            traffic(o, t)?;
            write!(o, ",\"duration\":{:.6}", secs(*duration))?;
        }
        R::Summary {
            connections,
            traffic: t,
            elapsed,
            backend,
        } => {
            write!(o, ",\"connections\":{connections}")?;
            traffic(o, t)?;
            write!(
                o,
                ",\"elapsed\":{:.6},\"backend\":\"{backend}\"",
                secs(*elapsed)
            )?;
        }
        R::Signal { number, name, pid } => {
            write!(o, ",\"name\":\"{name}\",\"number\":{number},\"pid\":{pid}")?;
        }
        R::Timeout { idle } => write!(o, ",\"timeout\":{:.6}", secs(*idle))?,
        R::Exhausted(x) => exhausted(o, x)?,
    }
    Ok(())
}
