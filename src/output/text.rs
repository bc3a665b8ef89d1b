//! Aligned text lines; the only module that knows about colours.

use std::fmt::Display;
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

use owo_colors::{OwoColorize, Style};

use super::fold::Fold;
use super::humane::{human_rate, wall_clock};
use super::{Printer, TimeStyle};
use crate::event::{Action, Event, Shown, Summary};
use crate::timeout::{Timeout, seconds};

pub struct Text<W: Write> {
    pub(super) out: Fold<W>,
    time: TimeStyle,
    color: bool,
    last: Duration,
    /// Bytes per `--read=hex` row, so that a row fits the width after the indent.
    pub(super) hex_per_row: usize,
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

fn word_style(word: &str) -> Style {
    let s = Style::new();
    match word {
        "read" => s.green(),
        "write" => s.blue(),
        "urgent" => s.magenta(),
        "hangup" | "rdhup" => s.yellow(),
        "error" | "invalid" => s.red(),
        _ => s,
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

    /// The bytes of a data event after its header: ` "text"` or hex rows below it.
    pub(super) fn shown(&mut self, shown: Option<Shown<'_>>) -> io::Result<()> {
        match shown {
            None => Ok(()),
            Some(Shown::Text(b)) => write!(self.out, " \"{}\"", crate::escape::bytes(b)),
            Some(Shown::Hex { offset, bytes }) => {
                let pad = self.indent();
                for row in crate::reader::hex_rows(offset, bytes, self.hex_per_row) {
                    write!(self.out, "\n{:pad$}{row}", "")?;
                }
                Ok(())
            }
        }
    }

    pub(super) fn styled(&mut self, text: impl Display, style: Style) -> io::Result<()> {
        if self.color {
            write!(self.out, "{}", text.style(style))
        } else {
            write!(self.out, "{text}")
        }
    }

    fn stamp(&mut self, t: Duration) -> io::Result<()> {
        let text = match self.time {
            TimeStyle::Elapsed => format!("{:>11.6}  ", t.as_secs_f64()),
            TimeStyle::Delta => format!("+{:<10.6}  ", t.saturating_sub(self.last).as_secs_f64()),
            TimeStyle::Wall => format!("{}  ", wall_clock(SystemTime::now())),
            TimeStyle::None => return Ok(()),
        };
        self.last = t;
        self.styled(text, Style::new().dimmed())
    }

    /// `fd 3  ` or `      ` when there is no fd.
    pub(super) fn fd_col(&mut self, fd: Option<i32>) -> io::Result<()> {
        match fd {
            Some(fd) => write!(self.out, "fd {fd:<5} "),
            None => write!(self.out, "{:9}", ""),
        }
    }

    /// Blank space as wide as the time column, for continuation lines.
    pub(super) fn stamp_blank(&mut self) -> io::Result<()> {
        let width = self.indent().saturating_sub(9);
        write!(self.out, "{:width$}", "")
    }

    /// Where text after the time and fd columns starts, for continuation lines.
    pub(super) fn indent(&self) -> usize {
        indent(self.time)
    }

    fn summary(&mut self, s: &Summary) -> io::Result<()> {
        let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        write!(
            self.out,
            "{:9}{} ready after {} ({}, {}), blocked {}",
            "",
            plural(s.ready_fds, "fd"),
            seconds(s.elapsed),
            s.backend,
            plural(s.waits, "wait"),
            seconds(s.blocked),
        )?;
        match (s.timeout, s.left) {
            (Timeout::After(t), Some(left)) => {
                write!(self.out, ", {} of {} left", seconds(left), seconds(t))?
            }
            (Timeout::Forever, _) => write!(self.out, ", no timeout")?,
            _ => {}
        }
        for b in &s.bytes {
            write!(self.out, "; fd {} read {} bytes", b.fd, b.bytes)?;
        }
        Ok(())
    }
}

impl<W: Write> Text<W> {
    /// `pid 1234 (cat) thread 1234 [S]: blocked in read(fd 0), wchan pipe_read`, then one
    /// line per waited-on fd with its readiness now.
    fn blocked(&mut self, b: &crate::event::Blocked) -> io::Result<()> {
        self.fd_col(None)?;
        write!(
            self.out,
            "pid {} ({}) thread {} [{}]: ",
            b.pid, b.comm, b.tid, b.state
        )?;
        let Some(call) = &b.call else {
            return write!(
                self.out,
                "{}",
                b.note.as_deref().unwrap_or("not in a system call")
            );
        };
        self.styled(format_args!("blocked in {call}"), Style::new().bold())?;
        // poll, select and epoll wait on a set; read, accept and the like on one fd.
        let set = b.epfd.is_some() || call.contains("poll") || call.contains("select");
        if let Some(ep) = b.epfd {
            write!(self.out, " on epfd {ep}")?;
        }
        if !b.fds.is_empty() {
            let list: Vec<String> = b
                .fds
                .iter()
                .map(|f| {
                    let mut bits: Vec<&str> = f.want.names().collect();
                    bits.extend(f.flags.iter().copied());
                    format!("{} ({})", f.fd, bits.join("|"))
                })
                .collect();
            let how = if set { "watching" } else { "on fd" };
            write!(self.out, " {how} {}", list.join(", "))?;
        }
        match (b.timeout_ms, set) {
            (Some(ms), _) => write!(self.out, ", timeout {ms} ms")?,
            (None, true) => write!(self.out, ", no timeout")?,
            _ => {}
        }
        if let Some(w) = &b.wchan {
            write!(self.out, "; wchan {w}")?;
        }
        if let Some(n) = &b.note {
            write!(self.out, "; {n}")?;
        }
        for f in &b.fds {
            self.out.write_all(b"\n")?;
            self.stamp_blank()?;
            self.fd_col(Some(f.fd))?;
            write!(self.out, "{:<WHAT$} ", f.what)?;
            match (&f.ready, &f.error) {
                (Some(c), _) if !c.is_empty() => {
                    self.styled("ready now:", Style::new().bold())?;
                    for w in c.names() {
                        self.out.write_all(b" ")?;
                        self.styled(w, word_style(w))?;
                    }
                }
                (Some(_), _) => self.styled("not ready", Style::new().dimmed())?,
                (None, e) => write!(self.out, "not checked: {}", e.as_deref().unwrap_or("?"))?,
            }
            if let Some(q) = f.queued {
                write!(self.out, ", {q} bytes queued")?;
            }
        }
        Ok(())
    }
}

impl<W: Write> Text<W> {
    /// `exhausted: accept failed with EMFILE (Too many open files); backing off...` at
    /// the start, `exhausted: over: accept failed with EMFILE (Too many open files) for
    /// 1.2s; 20 clients refused (closed at once)` at the end (clients only where a call
    /// for a client failed).
    pub(super) fn exhausted(&mut self, x: &crate::event::Exhausted<'_>) -> io::Result<()> {
        use crate::event::Phase;
        let (call, errno, desc) = (x.call, x.errno, x.errno.desc());
        let clients = matches!(call, "accept" | "socket" | "connect");
        let line = match x.phase {
            Phase::Start => format!(
                "exhausted: {call} failed with {errno:?} ({desc}); backing off until it works \
                 again{}",
                if clients {
                    " (clients that cannot be served are closed at once)"
                } else {
                    ""
                }
            ),
            Phase::End => format!(
                "exhausted: over: {call} failed with {errno:?} ({desc}) for {}{}",
                seconds(x.duration),
                if clients {
                    let s = if x.refused == 1 { "" } else { "s" };
                    format!("; {} client{s} refused (closed at once)", x.refused)
                } else {
                    String::new()
                }
            ),
        };
        self.styled(line, Style::new().red())
    }
}

impl<W: Write> Printer for Text<W> {
    // Longer than 80 lines on purpose: one match arm per event kind, a few lines each,
    // so the whole format of every line is in one place and the kinds compare at a glance.
    fn event(&mut self, t: Duration, ev: &Event<'_>) -> io::Result<()> {
        self.stamp(t)?;
        match ev {
            Event::Ready {
                fd,
                what,
                cond,
                raw,
                queued,
                pipe_size,
                ..
            } => {
                self.fd_col(Some(*fd))?;
                write!(self.out, "{what:<WHAT$} ")?;
                let mut width = 0;
                for (i, w) in cond.names().enumerate() {
                    if i > 0 {
                        self.out.write_all(b" ")?;
                        width += 1;
                    }
                    self.styled(w, word_style(w))?;
                    width += w.len();
                }
                write!(self.out, "{:pad$} ", "", pad = COND.saturating_sub(width))?;
                let fallback = raw.fallback;
                if fallback || queued.is_some() || pipe_size.is_some() {
                    write!(self.out, "{:<RAW$}", raw.to_string())?;
                } else {
                    write!(self.out, "{raw}")?;
                }
                if fallback {
                    self.out.write_all(b" (poll: epoll refuses this fd)")?;
                }
                if let Some(q) = queued {
                    write!(self.out, " {q} queued")?;
                }
                if let Some(p) = pipe_size {
                    write!(self.out, " (pipe {p})")?;
                }
            }
            Event::Error {
                fd,
                what,
                errno,
                message,
            } => {
                self.fd_col(*fd)?;
                write!(self.out, "{what:<WHAT$} ")?;
                // Messages quote arguments and system text: never raw to a terminal.
                let message = crate::escape::message(message);
                self.styled(
                    format_args!("error {errno:?}: {message}"),
                    Style::new().red(),
                )?;
            }
            Event::Data {
                fd,
                what,
                bytes,
                total,
                rate,
                shown,
            } => {
                self.fd_col(Some(*fd))?;
                write!(self.out, "{what:<WHAT$} ")?;
                let label = if total.is_none() { "peek" } else { "data" };
                self.styled(format_args!("{label} {bytes} bytes"), Style::new().green())?;
                if let Some(t) = total {
                    write!(self.out, " (total {t})")?;
                }
                if let Some(r) = rate {
                    write!(self.out, " {}", human_rate(*r))?;
                }
                self.shown(*shown)?;
            }
            Event::Accept {
                fd,
                what,
                listener,
                peer,
            } => {
                self.fd_col(Some(*fd))?;
                write!(self.out, "{what:<WHAT$} ")?;
                self.styled(
                    format_args!("accept from {peer} (listener fd {listener})"),
                    Style::new().cyan(),
                )?;
            }
            Event::Exhausted(x) => {
                self.fd_col(x.fd)?;
                write!(self.out, "{:<WHAT$} ", x.what)?;
                self.exhausted(x)?;
            }
            Event::Connect {
                fd,
                what,
                target,
                error,
            } => {
                self.fd_col(Some(*fd))?;
                write!(self.out, "{what:<WHAT$} ")?;
                // `to tcp:localhost:8888 (127.0.0.1:8888)`: as written, and what was tried.
                let to = target.map_or(String::new(), |(spec, addr)| {
                    format!(
                        " to {} ({})",
                        crate::escape::message(spec),
                        crate::escape::message(addr)
                    )
                });
                match error {
                    None => {
                        self.styled(format_args!("connect{to}: connected"), Style::new().cyan())?
                    }
                    Some(e) => self.styled(
                        format_args!("connect{to} failed: {} ({e:?})", e.desc()),
                        Style::new().red(),
                    )?,
                }
            }
            Event::Urgent(u) => {
                self.fd_col(Some(u.fd))?;
                write!(self.out, "{:<WHAT$} ", u.what)?;
                let verb = if u.peek { "urgent (peek)" } else { "urgent" };
                let text = match (u.byte, u.errno) {
                    (Some(b), _) => format!("{verb} \"{}\" 0x{b:02x}", crate::escape::bytes(&[b])),
                    (None, _) if u.inline => format!("urgent mark (inline) at offset {}", u.offset),
                    (None, Some(e)) => format!("{verb}: no urgent byte ({e:?})"),
                    (None, None) => format!("{verb}: no urgent byte"),
                };
                self.styled(text, Style::new().magenta())?;
                if u.byte.is_some() {
                    write!(self.out, " after {} bytes", u.offset)?;
                }
                if let Some(m) = u.atmark {
                    write!(self.out, ", atmark {m}")?;
                }
                if let Some(r) = u.replaced {
                    write!(
                        self.out,
                        ", replaced unread \"{}\"",
                        crate::escape::bytes(&[r])
                    )?;
                }
            }
            Event::Signal {
                number,
                name,
                pid,
                pending,
                ..
            } => {
                self.fd_col(None)?;
                let from = pid.map(|p| format!(" from pid {p}")).unwrap_or_default();
                let state = if *pending {
                    " (pending, blocked by --mask)"
                } else {
                    ""
                };
                self.styled(
                    format_args!("signal {name} ({number}){from}{state}"),
                    Style::new().magenta(),
                )?;
            }
            Event::Eof { fd, what, total } => {
                self.fd_col(Some(*fd))?;
                write!(self.out, "{what:<WHAT$} ")?;
                self.styled(
                    format_args!("eof after {total} bytes"),
                    Style::new().yellow(),
                )?;
            }
            Event::Hangup { fd, what, action } => {
                self.fd_col(Some(*fd))?;
                write!(self.out, "{what:<WHAT$} ")?;
                let done = match action {
                    Action::Reopen => "hangup: reopened",
                    Action::Remove => "hangup: no longer watched",
                    Action::Gone => "gone: its process closed it or exited; no longer watched",
                    Action::End => "hangup: done",
                };
                self.styled(done, Style::new().yellow())?;
            }
            Event::Timeout { timeout } => {
                self.fd_col(None)?;
                self.styled(
                    format_args!("timeout after {}: nothing ready", seconds(*timeout)),
                    Style::new().yellow(),
                )?;
            }
            Event::Wait {
                call,
                timeout,
                blocked,
                result,
            } => {
                self.fd_col(None)?;
                let t = timeout.map_or_else(|| "forever".to_owned(), seconds);
                let r = match result {
                    Ok(n) => n.to_string(),
                    Err(e) => format!("-1 {e:?}"),
                };
                self.styled(
                    format_args!("wait {call}(timeout {t}) = {r} after {}", seconds(*blocked)),
                    Style::new().dimmed(),
                )?;
            }
            Event::Note { fd, message } => {
                self.fd_col(*fd)?;
                let message = crate::escape::message(message);
                self.styled(format_args!("note: {message}"), Style::new().dimmed())?;
            }
            Event::Watching { fd, what, want, .. } => {
                self.fd_col(Some(*fd))?;
                write!(self.out, "{what:<WHAT$} ")?;
                let words: Vec<&str> = want.names().collect();
                self.styled(
                    format_args!("watching for {}", words.join(" ")),
                    Style::new().dimmed(),
                )?;
            }
            Event::Summary(s) => self.summary(s)?,
            Event::Blocked(b) => self.blocked(b)?,
            Event::Relay(r) => self.relay(r)?,
        }
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
