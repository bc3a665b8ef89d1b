//! Aligned text lines; the only printer with colours. A line is a prelude (the time,
//! then its subject's columns: the fd and what it is, or the relayed connection) and
//! what one small method per kind writes after it: watch.rs (watch mode), blocked.rs
//! (`pid:PID`), relay.rs (`fdwatch relay` and `send`).

mod blocked;
mod relay;
mod watch;

use std::fmt::Display;
use std::io::{self, Write};
use std::os::fd::RawFd;
use std::time::{Duration, SystemTime};

use owo_colors::{OwoColorize, Style};

use super::fold::Fold;
use super::humane::wall_clock;
use super::{Printer, TimeStyle};
use crate::event::{Event, Shown, Subject};
use crate::readiness::Conditions;

pub struct Text<W: Write> {
    out: Fold<W>,
    time: TimeStyle,
    color: bool,
    last: Duration,
    /// Bytes per `--read=hex` row, so that a row fits the width after the indent.
    hex_per_row: usize,
}

/// Column widths; longer values push the line out rather than being cut.
const WHAT: usize = 26;
const COND: usize = 14;
const RAW: usize = 18;

/// Where text after the time and fd columns starts.
fn indent(time: TimeStyle) -> usize {
    let time = match time {
        TimeStyle::Elapsed => 13,
        TimeStyle::Delta => 13,
        TimeStyle::Wall => 17,
        TimeStyle::None => 0,
    };
    time + 9
}

/// What a piece of a line says, which decides its colour.
#[derive(Clone, Copy, Debug)]
enum Tone {
    /// One ready condition (read, write, urgent, hangup...).
    Cond(Conditions),
    /// Bytes that came.
    Data,
    /// Something failed.
    Failure,
    /// An end (end of file, a hang-up, a timeout, a reset) or a warning.
    Notice,
    /// Urgent data, a signal.
    Urgent,
    /// A connection made.
    Link,
    /// Diagnostics, the time.
    Quiet,
    /// What a blocked thread is in.
    Strong,
}

impl Tone {
    fn style(self) -> Style {
        let s = Style::new();
        match self {
            Tone::Cond(Conditions::READ) | Tone::Data => s.green(),
            Tone::Cond(Conditions::WRITE) => s.blue(),
            Tone::Cond(Conditions::URGENT) | Tone::Urgent => s.magenta(),
            Tone::Cond(Conditions::HANGUP | Conditions::RDHUP) | Tone::Notice => s.yellow(),
            Tone::Cond(Conditions::ERROR | Conditions::INVALID) | Tone::Failure => s.red(),
            Tone::Cond(_) => s,
            Tone::Link => s.cyan(),
            Tone::Quiet => s.dimmed(),
            Tone::Strong => s.bold(),
        }
    }
}

impl<W: Write> Text<W> {
    /// `columns`: the width and whether it is known (see `output::columns`); lines
    /// are folded to a known width, hex rows fit it either way.
    pub fn new(out: W, time: TimeStyle, color: bool, columns: (usize, bool)) -> Text<W> {
        let (width, known) = columns;
        let indent = indent(time);
        Text {
            out: Fold::new(out, known.then_some(width), indent),
            time,
            color,
            last: Duration::ZERO,
            hex_per_row: crate::reader::hex_per_row(width.saturating_sub(indent)),
        }
    }

    fn styled(&mut self, text: impl Display, tone: Tone) -> io::Result<()> {
        if self.color {
            write!(self.out, "{}", text.style(tone.style()))
        } else {
            write!(self.out, "{text}")
        }
    }

    /// The bytes of a data event after its header: ` "text"` or hex rows below it.
    fn shown(&mut self, shown: Option<Shown<'_>>) -> io::Result<()> {
        match shown {
            None => Ok(()),
            Some(Shown::Text(b)) => write!(self.out, " \"{}\"", crate::escape::bytes(b)),
            Some(Shown::Hex { offset, bytes }) => {
                let pad = indent(self.time);
                for row in crate::reader::hex_rows(offset, bytes, self.hex_per_row) {
                    write!(self.out, "\n{:pad$}{row}", "")?;
                }
                Ok(())
            }
        }
    }
}

/// The prelude: the time column, then the subject's.
impl<W: Write> Text<W> {
    fn stamp(&mut self, t: Duration) -> io::Result<()> {
        let text = match self.time {
            TimeStyle::Elapsed => {
                let secs = format!("{:.6}", t.as_secs_f64());
                let mut text = " ".repeat(11usize.saturating_sub(secs.len()));
                text.push_str(&secs);
                text.push_str("  ");
                text
            }
            TimeStyle::Delta => format!("+{:<10.6}  ", t.saturating_sub(self.last).as_secs_f64()),
            TimeStyle::Wall => format!("{}  ", wall_clock(SystemTime::now())),
            TimeStyle::None => return Ok(()),
        };
        self.last = t;
        self.styled(text, Tone::Quiet)
    }

    /// `fd 3  ` or, when there is no fd, as much blank space.
    fn fd_col(&mut self, fd: Option<RawFd>) -> io::Result<()> {
        match fd {
            Some(fd) => {
                write!(self.out, "fd {fd}")?;
                self.spaces(5usize.saturating_sub(digits(fd.into())) + 1)
            }
            None => self.blank_col(),
        }
    }

    /// The fd and what it is: `fd 3     pipe:[123]                 `.
    fn subject<F: Into<Option<RawFd>> + Copy>(&mut self, at: &Subject<'_, F>) -> io::Result<()> {
        self.fd_col(at.fd.into())?;
        self.left(at.what, WHAT)?;
        self.out.write_all(b" ")
    }

    /// A relayed connection: `conn 3     `.
    fn conn_col(&mut self, conn: u64) -> io::Result<()> {
        write!(self.out, "conn {conn}")?;
        self.spaces(5usize.saturating_sub(digits(conn.try_into().unwrap_or(i64::MAX))) + 1)
    }

    /// No fd, no connection (the run itself, the relay itself).
    fn blank_col(&mut self) -> io::Result<()> {
        self.spaces(9)
    }

    /// Blank space as wide as the time column, for continuation lines.
    fn stamp_blank(&mut self) -> io::Result<()> {
        self.spaces(indent(self.time).saturating_sub(9))
    }

    /// `n` spaces in one write (fmt's own padding writes them one at a time).
    fn spaces(&mut self, n: usize) -> io::Result<()> {
        const SPACES: [u8; 64] = [b' '; 64];
        let mut left = n;
        while left > 0 {
            let k = left.min(SPACES.len());
            self.out.write_all(&SPACES[..k])?;
            left -= k;
        }
        Ok(())
    }

    /// `text` left-aligned in `width` columns (counted in characters, as `{:<width$}`).
    fn left(&mut self, text: &str, width: usize) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.spaces(width.saturating_sub(text.chars().count()))
    }
}

/// How many characters `n` takes in decimal, its sign included.
fn digits(n: i64) -> usize {
    let sign = usize::from(n < 0);
    sign + n
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |d| d as usize + 1)
}

impl<W: Write> Printer for Text<W> {
    fn event(&mut self, t: Duration, ev: &Event<'_>) -> io::Result<()> {
        self.stamp(t)?;
        match ev {
            Event::Watch(e) => self.watch(e),
            Event::Relay(e) => self.relay(e),
        }?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
