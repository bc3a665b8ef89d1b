//! `fdwatch pid:PID` as text: one line for the thread and its call, then one per fd
//! the call waits on, with its readiness now.

use std::io::{self, Write};

use super::{Text, Tone, WHAT};
use crate::event::{BlockedThread, WaitedFd};

impl<W: Write> Text<W> {
    /// `pid 1234 (cat) thread 1234 [S]: blocked in read(fd 0), wchan pipe_read`, then
    /// one line per waited-on fd.
    pub(super) fn blocked(&mut self, b: &BlockedThread) -> io::Result<()> {
        self.blank_col()?;
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
        self.styled(format_args!("blocked in {call}"), Tone::Strong)?;
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
            let how = if b.set { "watching" } else { "on fd" };
            write!(self.out, " {how} {}", list.join(", "))?;
        }
        match (b.timeout_ms, b.set) {
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
            self.waited(f)?;
        }
        Ok(())
    }

    /// `      fd 3     pipe:[123]   ready now: read, 5 bytes queued`
    fn waited(&mut self, f: &WaitedFd) -> io::Result<()> {
        self.out.write_all(b"\n")?;
        self.stamp_blank()?;
        self.fd_col(Some(f.fd))?;
        self.left(&f.what, WHAT)?;
        self.out.write_all(b" ")?;
        match (&f.ready, &f.error) {
            (Some(c), _) if !c.is_empty() => {
                self.styled("ready now:", Tone::Strong)?;
                for (one, word) in c.each() {
                    self.out.write_all(b" ")?;
                    self.styled(word, Tone::Cond(one))?;
                }
            }
            (Some(_), _) => self.styled("not ready", Tone::Quiet)?,
            (None, e) => write!(self.out, "not checked: {}", e.as_deref().unwrap_or("?"))?,
        }
        if let Some(q) = f.queued {
            write!(self.out, ", {q} bytes queued")?;
        }
        Ok(())
    }
}
