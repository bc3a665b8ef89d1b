//! JSON Lines through serde_json: one object per event, `v`, `event`, `t`, then the
//! kind's payload as it serializes itself (src/event/: one struct per kind, its fields
//! documented in output/schema). Escaping and number formatting are serde_json's.

use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::Printer;
use super::schema;
use crate::event::{Event, Payload, Visit, secs};

pub struct Json<W: Write> {
    out: W,
}

impl<W: Write> Json<W> {
    pub fn new(out: W) -> Json<W> {
        Json { out }
    }
}

/// Writes one line: `v`, `event` and `t`, then `body`'s fields.
pub fn line<W: Write, K: Payload>(out: &mut W, t: Duration, body: &K) -> io::Result<()> {
    #[derive(Serialize)]
    struct Line<'a, K> {
        v: u32,
        event: &'static str,
        t: f64,
        #[serde(flatten)]
        body: &'a K,
    }
    debug_assert!(
        schema::KINDS
            .iter()
            .any(|k| k.family == K::FAMILY && k.event == K::NAME),
        "JSON kind `{}` is not in output/schema/kinds.rs",
        K::NAME
    );
    let line = Line {
        v: schema::VERSION,
        event: K::NAME,
        t: secs(t),
        body,
    };
    serde_json::to_writer(&mut *out, &line).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// An event's line, whatever its kind.
struct Lines<'o, W> {
    out: &'o mut W,
    t: Duration,
}

impl<W: Write> Visit for Lines<'_, W> {
    type Out = io::Result<()>;
    fn kind<K: Payload>(self, payload: &K) -> io::Result<()> {
        line(self.out, self.t, payload)
    }
}

impl<W: Write> Printer for Json<W> {
    fn event(&mut self, t: Duration, ev: &Event<'_>) -> io::Result<()> {
        ev.visit(Lines {
            out: &mut self.out,
            t,
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Data, Note, Shown, Subject};

    fn one(ev: Event<'_>) -> serde_json::Value {
        let mut v = Vec::new();
        Json::new(&mut v)
            .event(Duration::from_micros(412), &ev)
            .expect("vec write");
        assert_eq!(v.last(), Some(&b'\n'));
        serde_json::from_slice(&v).expect("one JSON object")
    }

    #[test]
    fn common_fields_and_escapes() {
        let v = one(Event::from(Note {
            fd: Some(3),
            message: "a\"b\\c\nd\u{1}é",
        }));
        assert_eq!(v["v"], 1);
        assert_eq!(v["event"], "note");
        assert_eq!(v["t"], 0.000412);
        assert_eq!(v["message"], "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn text_is_escaped_once_and_exact_or_with_hex() {
        let data = |b: &'static [u8]| {
            Event::from(Data {
                at: Subject {
                    fd: 0,
                    what: "pipe:[1]",
                },
                bytes: b.len() as u64,
                total: Some(b.len() as u64),
                rate: None,
                shown: Some(Shown::Text(b)),
                peek: false,
            })
        };
        let v = one(data(b"hell\\o\n\t\x1b"));
        assert_eq!(v["text"], "hell\\o\n\t\u{1b}");
        assert!(v.get("data_hex").is_none());
        let v = one(data(b"a\xffb"));
        assert_eq!(v["text"], "a\u{fffd}b");
        assert_eq!(v["data_hex"], "61ff62");
    }
}
