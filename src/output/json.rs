//! JSON Lines through serde_json: one object per event, the fields of output/schema
//! (SPEC §3), `"v"` first. Escaping and number formatting are serde_json's.

use std::fmt::Display;
use std::io::{self, Write};
use std::time::Duration;

use nix::errno::Errno;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::Printer;
use super::schema::{self, Family};
use crate::event::{Event, Shown};

pub struct Json<W: Write> {
    out: W,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Json<W> {
        Json { out }
    }
}

type Map<'s, W> = serde_json::ser::Compound<'s, W, serde_json::ser::CompactFormatter>;

/// One line being written: each field is checked against the schema in debug builds
/// (the tests), so no kind gains a field its documentation lacks.
pub struct Line<'s, W: Write> {
    map: Map<'s, W>,
    family: Family,
    event: &'static str,
}

impl<W: Write> Line<'_, W> {
    pub fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> io::Result<()> {
        debug_assert!(
            schema::documented(self.family, self.event, key),
            "JSON field `{key}` of `{}` is not in output/schema/kinds.rs",
            self.event
        );
        self.map
            .serialize_entry(key, value)
            .map_err(io::Error::from)
    }

    /// A field only when there is a value (`None` leaves it out, unlike `null`).
    pub fn some<T: Serialize>(&mut self, key: &'static str, value: Option<T>) -> io::Result<()> {
        match value {
            Some(v) => self.field(key, &v),
            None => Ok(()),
        }
    }

    /// `text` (and `data_hex` when the text is not exact) or `hex` rows.
    pub fn shown(&mut self, shown: Option<Shown<'_>>) -> io::Result<()> {
        match shown {
            None => Ok(()),
            Some(Shown::Text(b)) => {
                self.field("text", &String::from_utf8_lossy(b))?;
                if std::str::from_utf8(b).is_err() {
                    self.field("data_hex", &Hex(b))?;
                }
                Ok(())
            }
            Some(Shown::Hex { offset, bytes }) => {
                self.field("hex", &crate::reader::hex_rows(offset, bytes, 16))
            }
        }
    }

    /// An urgent byte as `key` (a one-character string) and its hex as `hex_key`.
    pub fn byte(
        &mut self,
        key: &'static str,
        hex_key: &'static str,
        b: Option<u8>,
    ) -> io::Result<()> {
        self.field(key, &b.map(one_char))?;
        self.field(
            hex_key,
            &b.map(|b| Hex(std::slice::from_ref(&b)).to_string()),
        )
    }
}

/// Writes one line: the common fields, then `body`'s.
pub fn line<W: Write>(
    out: &mut W,
    family: Family,
    event: &'static str,
    t: Duration,
    body: impl FnOnce(&mut Line<'_, &mut W>) -> io::Result<()>,
) -> io::Result<()> {
    {
        let mut ser = serde_json::Serializer::new(&mut *out);
        let map = ser.serialize_map(None).map_err(io::Error::from)?;
        let mut l = Line { map, family, event };
        l.field("v", &schema::VERSION)?;
        l.field("event", event)?;
        l.field("t", &secs(t))?;
        body(&mut l)?;
        l.map.end().map_err(io::Error::from)?;
    }
    out.write_all(b"\n")
}

/// Seconds, to the microsecond (the clocks say no more).
pub fn secs(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

/// An errno by name: `"EAGAIN"`.
pub struct Name(pub Errno);

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:?}", self.0))
    }
}

/// A value by its Display form.
pub struct Shows<T>(pub T);

impl<T: Display> Serialize for Shows<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A list of words from an iterator (made anew for serde, so none is collected).
pub struct Words<F>(pub F);

impl<F, I> Serialize for Words<F>
where
    F: Fn() -> I,
    I: Iterator<Item = &'static str>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// Bytes as lowercase hex digits.
struct Hex<'a>(&'a [u8]);

impl Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One byte as a one-character string: itself if ASCII, else U+FFFD (hex is exact).
fn one_char(b: u8) -> char {
    if b.is_ascii() {
        b as char
    } else {
        char::REPLACEMENT_CHARACTER
    }
}

impl<W: Write> Printer for Json<W> {
    // Longer than 80 lines on purpose: one match arm per event kind, a few lines each,
    // so the whole format of every line is in one place and the kinds compare at a glance.
    fn event(&mut self, t: Duration, ev: &Event<'_>) -> io::Result<()> {
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
            Event::Relay(r) => {
                return line(
                    &mut self.out,
                    Family::Relay,
                    super::json_relay::name(r),
                    t,
                    |l| super::json_relay::fields(l, r),
                );
            }
        };
        line(&mut self.out, Family::Watch, name, t, |l| fields(l, ev))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The fields of a watch-mode event after the common ones.
fn fields<W: Write>(l: &mut Line<'_, W>, ev: &Event<'_>) -> io::Result<()> {
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
            l.field("fd", fd)?;
            l.field("what", what)?;
            l.field("kind", kind)?;
            l.field("ready", &Words(|| cond.names()))?;
            l.field("raw", &Shows(raw))?;
            l.field("backend", backend)?;
            l.some("fallback", raw.fallback.then_some("poll"))?;
            l.field("queued", queued)?;
            l.field("pipe_size", pipe_size)
        }
        Event::Error {
            fd,
            what,
            errno,
            message,
        } => {
            l.field("fd", fd)?;
            l.field("what", what)?;
            l.field("errno", &Name(*errno))?;
            l.field("message", message)
        }
        Event::Exhausted(x) => super::json_relay::exhausted(l, x),
        Event::Data {
            fd,
            what,
            bytes,
            total,
            rate,
            shown,
        } => {
            l.field("fd", fd)?;
            l.field("what", what)?;
            l.field("bytes", bytes)?;
            l.field("total", total)?;
            l.some("rate", rate.map(f64::round))?;
            l.shown(*shown)?;
            l.field("peek", &total.is_none())
        }
        Event::Accept {
            fd,
            what,
            listener,
            peer,
        } => {
            l.field("fd", fd)?;
            l.field("what", what)?;
            l.field("listener", listener)?;
            l.field("peer", peer)
        }
        Event::Connect {
            fd,
            what,
            target,
            error,
        } => {
            l.field("fd", fd)?;
            l.field("what", what)?;
            if let Some((spec, addr)) = target {
                l.field("target", spec)?;
                l.field("addr", addr)?;
            }
            connect_result(l, *error)
        }
        Event::Urgent(u) => {
            l.field("fd", &u.fd)?;
            l.field("what", u.what)?;
            l.byte("byte", "hex", u.byte)?;
            l.field("atmark", &u.atmark)?;
            l.field("offset", &u.offset)?;
            l.field("peek", &u.peek)?;
            l.field("inline", &u.inline)?;
            l.byte("replaced", "replaced_hex", u.replaced)?;
            l.field("errno", &u.errno.map(Name))
        }
        Event::Signal {
            number,
            name,
            pid,
            uid,
            pending,
        } => {
            l.field("name", name)?;
            l.field("number", number)?;
            l.field("pid", pid)?;
            l.field("uid", uid)?;
            l.field("pending", pending)
        }
        Event::Eof { fd, what, total } => {
            l.field("fd", fd)?;
            l.field("what", what)?;
            l.field("total", total)
        }
        Event::Hangup { fd, what, action } => {
            l.field("fd", fd)?;
            l.field("what", what)?;
            l.field("action", action.name())
        }
        Event::Timeout { timeout } => l.field("timeout", &secs(*timeout)),
        Event::Wait {
            call,
            timeout,
            blocked,
            result,
        } => {
            l.field("call", call)?;
            l.field("timeout", &timeout.map(secs))?;
            l.field("blocked", &secs(*blocked))?;
            match result {
                Ok(n) => l.field("ret", n),
                Err(e) => {
                    l.field("ret", &-1)?;
                    l.field("errno", &Name(*e))
                }
            }
        }
        Event::Note { fd, message } => {
            l.field("fd", fd)?;
            l.field("message", message)
        }
        Event::Watching {
            fd,
            what,
            kind,
            want,
            path,
        } => {
            l.field("fd", fd)?;
            l.field("what", what)?;
            l.field("kind", kind)?;
            l.field("want", &Words(|| want.names()))?;
            l.field("path", path)
        }
        Event::Summary(s) => summary(l, s),
        Event::Blocked(b) => blocked(l, b),
        Event::Relay(_) => Ok(()),
    }
}

/// `result` ("ok" or the errno name) and, on failure, `message`.
pub(super) fn connect_result<W: Write>(
    l: &mut Line<'_, W>,
    error: Option<Errno>,
) -> io::Result<()> {
    match error {
        None => l.field("result", "ok"),
        Some(e) => {
            l.field("result", &Name(e))?;
            l.field("message", e.desc())
        }
    }
}

fn summary<W: Write>(l: &mut Line<'_, W>, s: &crate::event::Summary) -> io::Result<()> {
    use crate::timeout::Timeout;
    #[derive(Serialize)]
    struct FdBytes<'a> {
        fd: i32,
        what: &'a str,
        bytes: u64,
    }
    l.field("backend", s.backend)?;
    l.field("waits", &s.waits)?;
    l.field("events", &s.events)?;
    l.field("ready_fds", &s.ready_fds)?;
    l.field("blocked", &secs(s.blocked))?;
    let timeout = match s.timeout {
        Timeout::Forever => None,
        Timeout::After(d) => Some(secs(d)),
    };
    l.field("timeout", &timeout)?;
    l.field("left", &s.left.map(secs))?;
    l.field("elapsed", &secs(s.elapsed))?;
    let bytes: Vec<FdBytes> = s
        .bytes
        .iter()
        .map(|b| FdBytes {
            fd: b.fd,
            what: &b.what,
            bytes: b.bytes,
        })
        .collect();
    l.field("bytes", &bytes)
}

/// A `blocked` event's fields (`fdwatch pid:PID`).
fn blocked<W: Write>(l: &mut Line<'_, W>, b: &crate::event::Blocked) -> io::Result<()> {
    #[derive(Serialize)]
    struct Fd<'a> {
        fd: i32,
        want: Vec<&'static str>,
        flags: &'a [&'static str],
        what: &'a str,
        ready: Option<Vec<&'static str>>,
        queued: Option<i32>,
        error: Option<&'a str>,
    }
    l.field("pid", &b.pid)?;
    l.field("tid", &b.tid)?;
    l.field("comm", &b.comm)?;
    l.field("state", &b.state)?;
    l.field("call", &b.call)?;
    l.field("nr", &b.nr)?;
    l.field("wchan", &b.wchan)?;
    l.field("timeout_ms", &b.timeout_ms)?;
    l.field("epfd", &b.epfd)?;
    l.field("note", &b.note)?;
    let fds: Vec<Fd> = b
        .fds
        .iter()
        .map(|f| Fd {
            fd: f.fd,
            want: f.want.names().collect(),
            flags: &f.flags,
            what: &f.what,
            ready: f.ready.map(|c| c.names().collect()),
            queued: f.queued,
            error: f.error.as_deref(),
        })
        .collect();
    l.field("fds", &fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(ev: &Event<'_>) -> serde_json::Value {
        let mut v = Vec::new();
        Json::new(&mut v)
            .event(Duration::from_micros(412), ev)
            .expect("vec write");
        assert_eq!(v.last(), Some(&b'\n'));
        serde_json::from_slice(&v).expect("one JSON object")
    }

    #[test]
    fn common_fields_and_escapes() {
        let v = one(&Event::Note {
            fd: Some(3),
            message: "a\"b\\c\nd\u{1}é",
        });
        assert_eq!(v["v"], 1);
        assert_eq!(v["event"], "note");
        assert_eq!(v["t"], 0.000412);
        assert_eq!(v["message"], "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn text_is_escaped_once_and_exact_or_with_hex() {
        let data = |b: &'static [u8]| Event::Data {
            fd: 0,
            what: "pipe:[1]",
            bytes: b.len() as u64,
            total: Some(b.len() as u64),
            rate: None,
            shown: Some(Shown::Text(b)),
        };
        let v = one(&data(b"hell\\o\n\t\x1b"));
        assert_eq!(v["text"], "hell\\o\n\t\u{1b}");
        assert!(v.get("data_hex").is_none());
        let v = one(&data(b"a\xffb"));
        assert_eq!(v["text"], "a\u{fffd}b");
        assert_eq!(v["data_hex"], "61ff62");
    }
}
