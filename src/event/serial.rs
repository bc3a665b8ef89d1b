//! How the values events hold read in JSON: seconds to the microsecond, errnos by
//! name, the bytes of a data event, an urgent byte with its hex, a call's result. Used
//! by the payloads' `#[serde(...)]` attributes; escaping and numbers are serde_json's.

use std::fmt::{self, Display};
use std::time::Duration;

use nix::errno::Errno;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// Seconds, to the microsecond (the clocks say no more).
pub fn secs(d: Duration) -> f64 {
    d.as_micros() as f64 / 1e6
}

pub(super) fn seconds<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(secs(*d))
}

pub(super) fn some_seconds<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    d.map(secs).serialize(s)
}

/// An errno by name: `"EAGAIN"`.
pub(super) fn errno<S: Serializer>(e: &Errno, s: S) -> Result<S::Ok, S::Error> {
    Name(*e).serialize(s)
}

struct Name(Errno);

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:?}", self.0))
    }
}

pub(super) fn some_errno<S: Serializer>(e: &Option<Errno>, s: S) -> Result<S::Ok, S::Error> {
    match e {
        Some(e) => errno(e, s),
        None => s.serialize_none(),
    }
}

/// A rate in whole bytes per second.
pub(super) fn rounded<S: Serializer>(r: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    r.map(f64::round).serialize(s)
}

pub(super) fn is_true(b: &bool) -> bool {
    *b
}

/// The bytes of a data event, as `--read` or `--peek` asks them shown. In JSON:
/// `text` (and `data_hex` when the text is not exact), or `hex` rows.
#[derive(Clone, Copy, Debug)]
pub enum Shown<'a> {
    /// As text (escaped for a terminal; exact in JSON).
    Text(&'a [u8]),
    /// Offset/hex/ASCII rows, from stream offset `offset`.
    Hex { offset: u64, bytes: &'a [u8] },
}

impl Serialize for Shown<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match *self {
            Shown::Text(b) => {
                m.serialize_entry("text", &String::from_utf8_lossy(b))?;
                if std::str::from_utf8(b).is_err() {
                    m.serialize_entry("data_hex", &Hex(b))?;
                }
            }
            Shown::Hex { offset, bytes } => {
                m.serialize_entry("hex", &crate::reader::hex_rows(offset, bytes, 16))?;
            }
        }
        m.end()
    }
}

/// An urgent byte (`u8`, or `Option<u8>` where there may be none): `byte` as a
/// one-character string and `hex`, its two digits.
#[derive(Clone, Copy, Debug)]
pub struct UrgentByte<B = Option<u8>>(pub B);

/// An earlier urgent byte this one replaced: `replaced` and `replaced_hex`.
#[derive(Clone, Copy, Debug)]
pub struct Replaced(pub Option<u8>);

impl<B: Copy + Into<Option<u8>>> Serialize for UrgentByte<B> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        byte_fields(s, ("byte", "hex"), self.0.into())
    }
}

impl Serialize for Replaced {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        byte_fields(s, ("replaced", "replaced_hex"), self.0)
    }
}

fn byte_fields<S: Serializer>(
    s: S,
    (key, hex_key): (&'static str, &'static str),
    b: Option<u8>,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(None)?;
    m.serialize_entry(key, &b.map(one_char))?;
    m.serialize_entry(hex_key, &b.map(|b| Hex(&[b]).to_string()))?;
    m.end()
}

/// One byte as a one-character string: itself if ASCII, else U+FFFD (hex is exact).
fn one_char(b: u8) -> char {
    if b.is_ascii() {
        b as char
    } else {
        char::REPLACEMENT_CHARACTER
    }
}

/// Bytes as lowercase hex digits.
struct Hex<'a>(&'a [u8]);

impl Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How a connect ended: its SO_ERROR (None: connected). `result` (`ok` or the errno's
/// name) and, on failure, `message`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectResult(pub Option<Errno>);

impl Serialize for ConnectResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self.0 {
            None => m.serialize_entry("result", "ok")?,
            Some(e) => {
                m.serialize_entry("result", &Name(e))?;
                m.serialize_entry("message", e.desc())?;
            }
        }
        m.end()
    }
}

/// A wait call's return: `ret` (the count, or -1) and, on failure, `errno`.
#[derive(Clone, Copy, Debug)]
pub struct Ret(pub Result<usize, Errno>);

impl Serialize for Ret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self.0 {
            Ok(n) => m.serialize_entry("ret", &n)?,
            Err(e) => {
                m.serialize_entry("ret", &-1)?;
                m.serialize_entry("errno", &Name(e))?;
            }
        }
        m.end()
    }
}
