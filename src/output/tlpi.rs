//! `--format tlpi`: the output of the book's own programs for the same run, so fdwatch
//! can stand in for them in a lesson or a transcript (TLPI, chapter 63):
//! - t_select (`-b select` or `pselect`, one-shot): `ready = N`, one `FD: rw` line per
//!   fd below nfds, and `timeout after select(): S.mmm` when a timeout was given;
//! - poll_pipes (`-b poll` or `ppoll`, one-shot): `poll() returned: N` and
//!   `Readable: %3d` per readable fd;
//! - epoll_input (`-b epoll -m --read`): `Opened "PATH" on fd N`, then per wait
//!   `About to epoll_wait()`, `Ready: N`, and per fd its events and what it read, or
//!   `closing fd N`; `All file descriptors closed; bye` at the end.
//!
//! Data is printed as read, as the book's `%.*s` does, except that control bytes other
//! than newline and tab stay escaped (the terminal is never driven by the data).

use std::io::{self, Write};
use std::time::Duration;

use super::Printer;
use crate::backend::{BOOK_RUNS, Book};
use crate::event::{Action, Data, Event, Hangup, Ready, Shown, WaitCall, WatchEvent, Watching};
use crate::readiness::Conditions;
use crate::timeout::Timeout;

/// `--format tlpi` where the book has no program for the run: the one line.
pub fn refused(what: &str) -> String {
    format!(
        "--format tlpi prints what the book's programs print, and {what} has none: it \
         needs {BOOK_RUNS}"
    )
}

pub struct Tlpi<W: Write> {
    out: W,
    book: Book,
    /// Watched fds (t_select's nfds is the highest + 1).
    fds: Vec<i32>,
    /// One-shot: the ready fds with their conditions, printed at the end.
    ready: Vec<(i32, Conditions)>,
    opened: usize,
    closed: usize,
}

impl<W: Write> Tlpi<W> {
    pub fn new(out: W, book: Book) -> Tlpi<W> {
        Tlpi {
            out,
            book,
            fds: Vec::new(),
            ready: Vec::new(),
            opened: 0,
            closed: 0,
        }
    }

    /// t_select's report: `ready = N`, the fds below nfds, the time left.
    fn t_select(&mut self, timeout: Timeout, left: Option<Duration>) -> io::Result<()> {
        let bits = |c: Conditions| {
            [Conditions::READ, Conditions::WRITE, Conditions::URGENT]
                .iter()
                .filter(|&&b| c.contains(b))
                .count()
        };
        let n: usize = self.ready.iter().map(|&(_, c)| bits(c)).sum();
        writeln!(self.out, "ready = {n}")?;
        let nfds = self.fds.iter().copied().max().map_or(0, |m| m + 1);
        for fd in 0..nfds {
            let c = self
                .ready
                .iter()
                .find(|&&(f, _)| f == fd)
                .map_or(Conditions::empty(), |&(_, c)| c);
            let r = if c.contains(Conditions::READ) {
                "r"
            } else {
                ""
            };
            let w = if c.contains(Conditions::WRITE) {
                "w"
            } else {
                ""
            };
            writeln!(self.out, "{fd}: {r}{w}")?;
        }
        if let (Timeout::After(_), Some(left)) = (timeout, left) {
            // As select writes its timeval back: seconds, and milliseconds truncated.
            writeln!(
                self.out,
                "timeout after select(): {}.{:03}",
                left.as_secs(),
                left.subsec_millis()
            )?;
        }
        Ok(())
    }

    fn poll_pipes(&mut self) -> io::Result<()> {
        writeln!(self.out, "poll() returned: {}", self.ready.len())?;
        for &(fd, c) in &self.ready {
            if c.contains(Conditions::READ) {
                writeln!(self.out, "Readable: {fd:3}")?;
            }
        }
        Ok(())
    }
}

/// Escaped text back to bytes for the newlines and tabs the book prints as they are
/// (and a backslash); every other escape stays as it is.
fn as_read(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

impl<W: Write> Printer for Tlpi<W> {
    fn event(&mut self, _t: Duration, ev: &Event<'_>) -> io::Result<()> {
        use WatchEvent as E;
        let Event::Watch(ev) = ev else {
            return Ok(());
        };
        let epoll = self.book == Book::EpollInput;
        match ev {
            E::Watching(Watching { at, path, .. }) => {
                self.fds.push(at.fd);
                if let (true, Some(p)) = (epoll, path) {
                    self.opened += 1;
                    writeln!(self.out, "Opened \"{p}\" on fd {}", at.fd)?;
                }
            }
            E::Wait(WaitCall { result, .. }) if epoll => {
                if let Ok(n) = result.0 {
                    writeln!(self.out, "About to epoll_wait()")?;
                    writeln!(self.out, "Ready: {n}")?;
                }
            }
            E::Ready(Ready { at, cond, .. }) => match self.book.events(*cond) {
                Some(words) => writeln!(self.out, "  fd={}; events: {words}", at.fd)?,
                None => self.ready.push((at.fd, *cond)),
            },
            E::Data(d) if epoll && !d.peek => self.data(d)?,
            E::Hangup(Hangup {
                at,
                action: Action::Remove,
            }) if epoll => {
                self.closed += 1;
                writeln!(self.out, "    closing fd {}", at.fd)?;
            }
            E::Summary(s) => match self.book {
                Book::TSelect => self.t_select(s.timeout, s.left)?,
                Book::PollPipes => self.poll_pipes()?,
                Book::EpollInput if self.closed == self.opened => {
                    writeln!(self.out, "All file descriptors closed; bye")?
                }
                Book::EpollInput => {}
            },
            _ => {}
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn wants_diagnostics(&self) -> bool {
        true
    }
}

impl<W: Write> Tlpi<W> {
    /// epoll_input's read: `    read 5 bytes: hello`.
    fn data(&mut self, d: &Data<'_>) -> io::Result<()> {
        let data = match d.shown {
            Some(Shown::Text(b)) => as_read(&crate::escape::bytes(b)),
            _ => String::new(),
        };
        writeln!(self.out, "    read {} bytes: {data}", d.bytes)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn data_as_the_book_prints_it() {
        assert_eq!(
            super::as_read("hello\\n\\tx\\\\y\\e[1m"),
            "hello\n\tx\\y\\e[1m"
        );
    }
}
