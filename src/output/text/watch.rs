//! Watch mode's kinds as text: after the prelude (`fd 3  pipe:[123]  `), what
//! happened, coloured by what it says.

use std::io::{self, Write};

use super::{COND, RAW, Text, Tone};
use crate::escape;
use crate::event::{
    Accept, Action, Connect, Data, Eof, Exhausted, FdError, Hangup, Note, Phase, Ready,
    SignalCaught, Summary, TimedOut, UrgentData, WaitCall, WatchEvent, Watching,
};
use crate::output::humane::human_rate;
use crate::timeout::{Timeout, seconds};

impl<W: Write> Text<W> {
    /// A watch-mode line after its time: one method per kind.
    pub(super) fn watch(&mut self, ev: &WatchEvent<'_>) -> io::Result<()> {
        use WatchEvent as E;
        match ev {
            E::Ready(e) => self.ready(e),
            E::Error(e) => self.fd_error(e),
            E::Data(e) => self.data(e),
            E::Eof(e) => self.eof(e),
            E::Hangup(e) => self.hangup(e),
            E::Exhausted(e) => self.exhausted(e),
            E::Accept(e) => self.accept(e),
            E::Connect(e) => self.connect(e),
            E::Urgent(e) => self.urgent(e),
            E::Signal(e) => self.signal(e),
            E::Timeout(e) => self.timed_out(e),
            E::Wait(e) => self.wait_call(e),
            E::Note(e) => self.note(e),
            E::Watching(e) => self.watching(e),
            E::Summary(e) => self.summary(e),
            E::Blocked(e) => self.blocked(e),
        }
    }

    /// `read hangup    RAW                3 queued (pipe 65536)`, RAW as the backend
    /// prints its own flags.
    fn ready(&mut self, e: &Ready<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        let mut width = 0;
        for (i, (c, word)) in e.cond.each().enumerate() {
            if i > 0 {
                self.out.write_all(b" ")?;
                width += 1;
            }
            self.styled(word, Tone::Cond(c))?;
            width += word.len();
        }
        self.spaces(COND.saturating_sub(width) + 1)?;
        if e.fallback.is_some() || e.queued.is_some() || e.pipe_size.is_some() {
            self.left(&e.raw.to_string(), RAW)?;
        } else {
            write!(self.out, "{}", e.raw)?;
        }
        if let Some(f) = e.fallback {
            write!(self.out, " ({}: {})", f.by, f.why)?;
        }
        if let Some(q) = e.queued {
            write!(self.out, " {q} queued")?;
        }
        if let Some(p) = e.pipe_size {
            write!(self.out, " (pipe {p})")?;
        }
        Ok(())
    }

    fn fd_error(&mut self, e: &FdError<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        // Messages quote arguments and system text: never raw to a terminal.
        let message = escape::message(e.message);
        self.styled(
            format_args!("error {:?}: {message}", e.errno),
            Tone::Failure,
        )
    }

    /// `data 5 bytes (total 5) "hello"`, `peek 5 bytes "hello"`
    fn data(&mut self, e: &Data<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        let label = if e.peek { "peek" } else { "data" };
        self.styled(format_args!("{label} {} bytes", e.bytes), Tone::Data)?;
        if let Some(t) = e.total {
            write!(self.out, " (total {t})")?;
        }
        if let Some(r) = e.rate {
            write!(self.out, " {}", human_rate(r))?;
        }
        self.shown(e.shown)
    }

    fn eof(&mut self, e: &Eof<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        self.styled(format_args!("eof after {} bytes", e.total), Tone::Notice)
    }

    fn hangup(&mut self, e: &Hangup<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        let done = match e.action {
            Action::Reopen => "hangup: reopened",
            Action::Remove => "hangup: no longer watched",
            Action::Gone => "gone: its process closed it or exited; no longer watched",
            Action::End => "hangup: done",
        };
        self.styled(done, Tone::Notice)
    }

    fn exhausted(&mut self, e: &Exhausted<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        self.episode(e)
    }

    /// `exhausted: accept failed with EMFILE (Too many open files); backing off...` at
    /// the start, `exhausted: over: accept failed with EMFILE (Too many open files) for
    /// 1.2s; 20 clients refused (closed at once)` at the end (clients only where a call
    /// for a client failed). The relay's `exhausted` too.
    pub(super) fn episode(&mut self, x: &Exhausted<'_>) -> io::Result<()> {
        let (call, errno, desc) = (x.call, x.errno, x.errno.desc());
        let line = match x.phase {
            Phase::Start => format!(
                "exhausted: {call} failed with {errno:?} ({desc}); backing off until it works \
                 again{}",
                if x.clients {
                    " (clients that cannot be served are closed at once)"
                } else {
                    ""
                }
            ),
            Phase::End { refused, duration } => format!(
                "exhausted: over: {call} failed with {errno:?} ({desc}) for {}{}",
                seconds(duration),
                if x.clients {
                    let s = if refused == 1 { "" } else { "s" };
                    format!("; {refused} client{s} refused (closed at once)")
                } else {
                    String::new()
                }
            ),
        };
        self.styled(line, Tone::Failure)
    }

    fn accept(&mut self, e: &Accept<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        self.styled(
            format_args!("accept from {} (listener fd {})", e.peer, e.listener),
            Tone::Link,
        )
    }

    /// `connect to tcp:localhost:8888 (127.0.0.1:8888): connected`: the target as
    /// written, and what was tried.
    fn connect(&mut self, e: &Connect<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        let to = e.target.map_or(String::new(), |t| {
            format!(
                " to {} ({})",
                escape::message(t.target),
                escape::message(t.addr)
            )
        });
        match e.result.0 {
            None => self.styled(format_args!("connect{to}: connected"), Tone::Link),
            Some(err) => self.styled(
                format_args!("connect{to} failed: {} ({err:?})", err.desc()),
                Tone::Failure,
            ),
        }
    }

    /// `urgent "!" 0x21 after 5 bytes, atmark true`
    fn urgent(&mut self, e: &UrgentData<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        let verb = if e.peek { "urgent (peek)" } else { "urgent" };
        let text = match (e.byte.0, e.errno) {
            (Some(b), _) => format!("{verb} \"{}\" 0x{b:02x}", escape::bytes(&[b])),
            (None, _) if e.inline => format!("urgent mark (inline) at offset {}", e.offset),
            (None, Some(err)) => format!("{verb}: no urgent byte ({err:?})"),
            (None, None) => format!("{verb}: no urgent byte"),
        };
        self.styled(text, Tone::Urgent)?;
        if e.byte.0.is_some() {
            write!(self.out, " after {} bytes", e.offset)?;
        }
        if let Some(m) = e.atmark {
            write!(self.out, ", atmark {m}")?;
        }
        if let Some(r) = e.replaced.0 {
            write!(self.out, ", replaced unread \"{}\"", escape::bytes(&[r]))?;
        }
        Ok(())
    }

    fn signal(&mut self, e: &SignalCaught<'_>) -> io::Result<()> {
        self.blank_col()?;
        let from = e.pid.map(|p| format!(" from pid {p}")).unwrap_or_default();
        let state = if e.pending {
            " (pending, blocked by --mask)"
        } else {
            ""
        };
        self.styled(
            format_args!("signal {} ({}){from}{state}", e.name, e.number),
            Tone::Urgent,
        )
    }

    fn timed_out(&mut self, e: &TimedOut) -> io::Result<()> {
        self.blank_col()?;
        self.styled(
            format_args!("timeout after {}: nothing ready", seconds(e.timeout)),
            Tone::Notice,
        )
    }

    /// `wait epoll_wait(timeout 1s) = 1 after 0.2ms`
    fn wait_call(&mut self, e: &WaitCall) -> io::Result<()> {
        self.blank_col()?;
        let t = e.timeout.map_or_else(|| "forever".to_owned(), seconds);
        let r = match e.result.0 {
            Ok(n) => n.to_string(),
            Err(err) => format!("-1 {err:?}"),
        };
        self.styled(
            format_args!(
                "wait {}(timeout {t}) = {r} after {}",
                e.call,
                seconds(e.blocked)
            ),
            Tone::Quiet,
        )
    }

    fn note(&mut self, e: &Note<'_>) -> io::Result<()> {
        self.fd_col(e.fd)?;
        let message = escape::message(e.message);
        self.styled(format_args!("note: {message}"), Tone::Quiet)
    }

    fn watching(&mut self, e: &Watching<'_>) -> io::Result<()> {
        self.subject(&e.at)?;
        let words: Vec<&str> = e.want.names().collect();
        self.styled(
            format_args!("watching for {}", words.join(" ")),
            Tone::Quiet,
        )
    }

    /// `1 fd ready after 0.2ms (epoll, 1 wait), blocked 0.1ms, 0.8s of 1s left`
    fn summary(&mut self, s: &Summary) -> io::Result<()> {
        let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        self.blank_col()?;
        write!(
            self.out,
            "{} ready after {} ({}, {}), blocked {}",
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
