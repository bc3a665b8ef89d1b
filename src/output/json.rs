//! JSON Lines: one object per event, stable field names (SPEC §3).

use std::io::{self, Write};
use std::time::Duration;

use super::Printer;
use super::json_relay::{relay, relay_name};
use crate::event::Event;

pub struct Json<W: Write> {
    out: W,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Json<W> {
        Json { out }
    }
}

/// Writes `s` as a JSON string literal.
pub(crate) fn string(out: &mut impl Write, s: &str) -> io::Result<()> {
    out.write_all(b"\"")?;
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f | 0x7f => None,
            _ => continue,
        };
        out.write_all(&s.as_bytes()[start..i])?;
        match esc {
            Some(e) => out.write_all(e)?,
            None => write!(out, "\\u{b:04x}")?,
        }
        start = i + 1;
    }
    out.write_all(&s.as_bytes()[start..])?;
    out.write_all(b"\"")
}

/// `["read","urgent"]`
fn words<'a>(out: &mut impl Write, names: impl Iterator<Item = &'a str>) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, n) in names.enumerate() {
        let comma = if i > 0 { "," } else { "" };
        write!(out, "{comma}\"{n}\"")?;
    }
    out.write_all(b"]")
}

pub(super) fn opt_string(out: &mut impl Write, s: Option<&str>) -> io::Result<()> {
    match s {
        Some(s) => string(out, s),
        None => out.write_all(b"null"),
    }
}

/// A data event's `text` and `hex` fields, when there are any.
pub(super) fn text_and_hex(
    o: &mut impl Write,
    text: Option<&str>,
    hex: Option<&[String]>,
) -> io::Result<()> {
    if let Some(t) = text {
        o.write_all(b",\"text\":")?;
        string(o, t)?;
    }
    if let Some(rows) = hex {
        o.write_all(b",\"hex\":[")?;
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                o.write_all(b",")?;
            }
            string(o, row)?;
        }
        o.write_all(b"]")?;
    }
    Ok(())
}

/// The fields of an `exhausted` event after `fd` and `what`.
pub(super) fn exhausted(o: &mut impl Write, x: &crate::event::Exhausted<'_>) -> io::Result<()> {
    write!(
        o,
        ",\"call\":\"{}\",\"errno\":\"{:?}\",\"refused\":{},\"duration\":{:.6}",
        x.call,
        x.errno,
        x.refused,
        secs(x.duration)
    )
}

/// The fields of a `blocked` event (`fdwatch pid:PID`).
fn blocked(o: &mut impl Write, b: &crate::event::Blocked) -> io::Result<()> {
    write!(o, ",\"pid\":{},\"tid\":{},\"comm\":", b.pid, b.tid)?;
    string(o, &b.comm)?;
    o.write_all(b",\"state\":")?;
    string(o, &b.state)?;
    o.write_all(b",\"call\":")?;
    opt_string(o, b.call.as_deref())?;
    o.write_all(b",\"nr\":")?;
    opt_num(o, b.nr)?;
    o.write_all(b",\"wchan\":")?;
    opt_string(o, b.wchan.as_deref())?;
    o.write_all(b",\"timeout_ms\":")?;
    opt_num(o, b.timeout_ms)?;
    o.write_all(b",\"epfd\":")?;
    opt_num(o, b.epfd.map(i64::from))?;
    o.write_all(b",\"note\":")?;
    opt_string(o, b.note.as_deref())?;
    o.write_all(b",\"fds\":[")?;
    for (i, f) in b.fds.iter().enumerate() {
        let comma = if i > 0 { "," } else { "" };
        write!(o, "{comma}{{\"fd\":{},\"want\":", f.fd)?;
        words(o, f.want.names())?;
        o.write_all(b",\"flags\":")?;
        words(o, f.flags.iter().copied())?;
        o.write_all(b",\"what\":")?;
        string(o, &f.what)?;
        o.write_all(b",\"ready\":")?;
        match f.ready {
            Some(c) => words(o, c.names())?,
            None => o.write_all(b"null")?,
        }
        o.write_all(b",\"queued\":")?;
        opt_num(o, f.queued.map(i64::from))?;
        o.write_all(b",\"error\":")?;
        opt_string(o, f.error.as_deref())?;
        o.write_all(b"}")?;
    }
    o.write_all(b"]")
}

pub(super) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `null` or a number of seconds.
fn opt_secs(out: &mut impl Write, d: Option<Duration>) -> io::Result<()> {
    match d {
        Some(d) => write!(out, "{:.6}", secs(d)),
        None => out.write_all(b"null"),
    }
}

fn opt_num(out: &mut impl Write, n: Option<i64>) -> io::Result<()> {
    match n {
        Some(n) => write!(out, "{n}"),
        None => out.write_all(b"null"),
    }
}

impl<W: Write> Printer for Json<W> {
    // Longer than 80 lines on purpose: one match arm per event kind, a few lines each,
    // so the whole format of every line is in one place and the kinds compare at a glance.
    fn event(&mut self, t: Duration, ev: &Event<'_>) -> io::Result<()> {
        let o = &mut self.out;
        let name = match ev {
            Event::Ready { .. } => "ready",
            Event::Error { .. } => "error",
            Event::Data { .. } => "data",
            Event::Accept { .. } => "accept",
            Event::Exhausted(_) => "exhausted",
            Event::Connect { .. } => "connect",
            Event::Urgent(_) => "urgent",
            Event::Signal { .. } => "signal",
            Event::Eof { .. } => "eof",
            Event::Hangup { .. } => "hangup",
            Event::Timeout { .. } => "timeout",
            Event::Wait { .. } => "wait",
            Event::Note { .. } => "note",
            Event::Watching { .. } => "watching",
            Event::Summary(_) => "summary",
            Event::Blocked(_) => "blocked",
            Event::Relay(r) => relay_name(r),
        };
        write!(o, "{{\"event\":\"{name}\",\"t\":{:.6}", secs(t))?;
        match ev {
            Event::Ready {
                fd,
                what,
                kind,
                cond,
                raw,
                backend,
                queued,
                pipe_size,
            } => {
                write!(o, ",\"fd\":{fd},\"what\":")?;
                string(o, what)?;
                write!(o, ",\"kind\":\"{kind}\",\"ready\":[")?;
                for (i, n) in cond.names().enumerate() {
                    let comma = if i > 0 { "," } else { "" };
                    write!(o, "{comma}\"{n}\"")?;
                }
                write!(o, "],\"raw\":\"{raw}\",\"backend\":\"{backend}\"")?;
                if raw.fallback {
                    o.write_all(b",\"fallback\":\"poll\"")?;
                }
                o.write_all(b",\"queued\":")?;
                opt_num(o, queued.map(i64::from))?;
                o.write_all(b",\"pipe_size\":")?;
                opt_num(o, pipe_size.map(i64::from))?;
            }
            Event::Error {
                fd,
                what,
                errno,
                message,
            } => {
                o.write_all(b",\"fd\":")?;
                opt_num(o, fd.map(i64::from))?;
                o.write_all(b",\"what\":")?;
                string(o, what)?;
                write!(o, ",\"errno\":\"{errno:?}\",\"message\":")?;
                string(o, message)?;
            }
            Event::Exhausted(x) => {
                o.write_all(b",\"fd\":")?;
                opt_num(o, x.fd.map(i64::from))?;
                o.write_all(b",\"what\":")?;
                string(o, x.what)?;
                exhausted(o, x)?;
            }
            Event::Data {
                fd,
                what,
                bytes,
                total,
                rate,
                text,
                hex,
            } => {
                write!(o, ",\"fd\":{fd},\"what\":")?;
                string(o, what)?;
                write!(o, ",\"bytes\":{bytes},\"total\":")?;
                opt_num(o, total.map(|t| t as i64))?;
                if let Some(r) = rate {
                    write!(o, ",\"rate\":{r:.0}")?;
                }
                text_and_hex(o, *text, *hex)?;
                write!(o, ",\"peek\":{}", total.is_none())?;
            }
            Event::Accept {
                fd,
                what,
                listener,
                peer,
            } => {
                write!(o, ",\"fd\":{fd},\"what\":")?;
                string(o, what)?;
                write!(o, ",\"listener\":{listener},\"peer\":")?;
                string(o, peer)?;
            }
            Event::Connect {
                fd,
                what,
                target,
                error,
            } => {
                write!(o, ",\"fd\":{fd},\"what\":")?;
                string(o, what)?;
                if let Some((spec, addr)) = target {
                    o.write_all(b",\"target\":")?;
                    string(o, spec)?;
                    o.write_all(b",\"addr\":")?;
                    string(o, addr)?;
                }
                match error {
                    None => o.write_all(b",\"result\":\"ok\"")?,
                    Some(e) => {
                        write!(o, ",\"result\":\"{e:?}\",\"message\":")?;
                        string(o, e.desc())?;
                    }
                }
            }
            Event::Urgent(u) => {
                write!(o, ",\"fd\":{},\"what\":", u.fd)?;
                string(o, u.what)?;
                let byte = |o: &mut W, b: Option<u8>| match b {
                    Some(b) => string(o, &crate::escape::bytes(&[b])),
                    None => o.write_all(b"null"),
                };
                o.write_all(b",\"byte\":")?;
                byte(o, u.byte)?;
                match u.byte {
                    Some(b) => write!(o, ",\"hex\":\"{b:02x}\"")?,
                    None => o.write_all(b",\"hex\":null")?,
                }
                o.write_all(b",\"atmark\":")?;
                match u.atmark {
                    Some(m) => write!(o, "{m}")?,
                    None => o.write_all(b"null")?,
                }
                write!(
                    o,
                    ",\"offset\":{},\"peek\":{},\"inline\":{},\"replaced\":",
                    u.offset, u.peek, u.inline
                )?;
                byte(o, u.replaced)?;
                o.write_all(b",\"errno\":")?;
                match u.errno {
                    Some(e) => write!(o, "\"{e:?}\"")?,
                    None => o.write_all(b"null")?,
                }
            }
            Event::Signal {
                number,
                name,
                pid,
                uid,
                pending,
            } => {
                write!(o, ",\"name\":\"{name}\",\"number\":{number},\"pid\":")?;
                opt_num(o, pid.map(i64::from))?;
                o.write_all(b",\"uid\":")?;
                opt_num(o, uid.map(i64::from))?;
                write!(o, ",\"pending\":{pending}")?;
            }
            Event::Eof { fd, what, total } => {
                write!(o, ",\"fd\":{fd},\"what\":")?;
                string(o, what)?;
                write!(o, ",\"total\":{total}")?;
            }
            Event::Hangup { fd, what, action } => {
                write!(o, ",\"fd\":{fd},\"what\":")?;
                string(o, what)?;
                write!(o, ",\"action\":\"{}\"", action.name())?;
            }
            Event::Timeout { timeout } => {
                write!(o, ",\"timeout\":{:.6}", secs(*timeout))?;
            }
            Event::Wait {
                call,
                timeout,
                blocked,
                result,
            } => {
                write!(o, ",\"call\":\"{call}\",\"timeout\":")?;
                opt_secs(o, *timeout)?;
                write!(o, ",\"blocked\":{:.6}", secs(*blocked))?;
                match result {
                    Ok(n) => write!(o, ",\"ret\":{n}")?,
                    Err(e) => write!(o, ",\"ret\":-1,\"errno\":\"{e:?}\"")?,
                }
            }
            Event::Note { fd, message } => {
                o.write_all(b",\"fd\":")?;
                opt_num(o, fd.map(i64::from))?;
                o.write_all(b",\"message\":")?;
                string(o, message)?;
            }
            Event::Watching {
                fd,
                what,
                kind,
                want,
                path,
            } => {
                write!(o, ",\"fd\":{fd},\"what\":")?;
                string(o, what)?;
                write!(o, ",\"kind\":\"{kind}\",\"want\":")?;
                words(o, want.names())?;
                o.write_all(b",\"path\":")?;
                opt_string(o, *path)?;
            }
            Event::Summary(s) => {
                write!(
                    o,
                    ",\"backend\":\"{}\",\"waits\":{},\"events\":{},\"ready_fds\":{},\"blocked\":{:.6},\"timeout\":",
                    s.backend,
                    s.waits,
                    s.events,
                    s.ready_fds,
                    secs(s.blocked)
                )?;
                opt_secs(
                    o,
                    match s.timeout {
                        crate::timeout::Timeout::Forever => None,
                        crate::timeout::Timeout::After(d) => Some(d),
                    },
                )?;
                o.write_all(b",\"left\":")?;
                opt_secs(o, s.left)?;
                write!(o, ",\"elapsed\":{:.6},\"bytes\":[", secs(s.elapsed))?;
                for (i, b) in s.bytes.iter().enumerate() {
                    let comma = if i > 0 { "," } else { "" };
                    write!(o, "{comma}{{\"fd\":{},\"what\":", b.fd)?;
                    string(o, &b.what)?;
                    write!(o, ",\"bytes\":{}}}", b.bytes)?;
                }
                o.write_all(b"]")?;
            }
            Event::Blocked(b) => blocked(o, b)?,
            Event::Relay(r) => relay(o, r)?,
        }
        o.write_all(b"}\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut v = Vec::new();
        string(&mut v, "a\"b\\c\nd\u{1}é").expect("vec write");
        assert_eq!(String::from_utf8_lossy(&v), r#""a\"b\\c\nd\u0001é""#);
    }
}
