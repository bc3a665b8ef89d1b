//! One look at one process: its state, the call it is blocked in and every fd that
//! call waits on (through `explain`), its I/O counters, and every pipe, FIFO and
//! socket it holds, by inode, with which end (links.rs joins them). Nothing is read
//! from any fd and no flag is changed.

use std::os::fd::RawFd;

use nix::fcntl::OFlag;
use nix::sys::stat::{SFlag, stat};

use super::links::LinkEnd;
use crate::pidfd::Process;

/// What an fd of a process is, when it may be a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    Pipe,
    /// A named pipe, with its path as /proc shows it.
    Fifo(String),
    /// Any socket: sockets.rs finds out which kind and its peer.
    Socket,
}

/// One fd of a process that may be an end of a link.
#[derive(Clone, Debug)]
pub struct RawEnd {
    pub dev: u64,
    pub ino: u64,
    pub object: Object,
    pub fd: RawFd,
    pub end: LinkEnd,
}

/// An fd a process's call waits on, and which ways.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wait {
    pub fd: RawFd,
    pub read: bool,
    pub write: bool,
}

/// What a process is doing.
#[derive(Debug, Default)]
pub struct Proc {
    pub pid: i32,
    /// The raw name (a process names itself: printers escape it).
    pub comm: String,
    /// The state letter of /proc/PID/stat, `gone` once reaped.
    pub state: String,
    pub call: Option<String>,
    /// The fd the call waits on (the first one, for a multiplexer).
    pub fd: Option<RawFd>,
    /// Every fd the call waits on and which ways: one for read(2) or write(2), each
    /// of a select, poll or epoll set (a stage is judged by all of them).
    pub waits: Vec<Wait>,
    /// Waits in select, poll or epoll (on every fd of `waits` at once).
    pub multiplexed: bool,
    /// What that fd is (`pipe:[123]`, `/dev/pts/3`).
    pub fd_what: Option<String>,
    pub read_rate: Option<f64>,
    pub write_rate: Option<f64>,
    /// A zombie's end: `SIGPIPE`, `status 1`.
    pub exit: Option<String>,
    /// Why it could not be inspected.
    pub error: Option<String>,
    /// rchar, wchar of /proc/PID/io.
    pub io: Option<(u64, u64)>,
}

impl Proc {
    /// Exited: a zombie, or reaped.
    pub fn gone(&self) -> bool {
        self.state == "Z" || self.state == "gone" || self.state == "X"
    }
}

/// The raw facts of one process: its Proc and its link fds.
pub struct Look {
    pub proc: Proc,
    pub ends: Vec<RawEnd>,
}

/// Looks at one process (held by `p`, so a recycled pid is never mistaken for it).
pub fn look(p: &Process) -> Look {
    let pid = p.pid;
    let mut proc = Proc {
        pid,
        comm: comm(pid),
        ..Proc::default()
    };
    let stat_line = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
    let fields: Vec<&str> = stat_line
        .as_deref()
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    proc.state = match (fields.first(), p.exited()) {
        (Some(s), _) => (*s).to_owned(),
        (None, _) => "gone".to_owned(),
    };
    if proc.state == "gone" || proc.state == "Z" || proc.state == "X" {
        // Field 52 (exit_code), the 50th after the state: the status waitpid would get.
        proc.exit = fields.get(49).and_then(|c| c.parse().ok()).map(exit_words);
        return Look {
            proc,
            ends: Vec::new(),
        };
    }
    let mut ends = Vec::new();
    match p.fds() {
        Ok(fds) => ends.extend(fds.into_iter().filter_map(|fd| link_end(p, fd))),
        Err(e) => proc.error = Some(e.to_string()),
    }
    proc.io = io_counters(pid);
    if proc.error.is_none() {
        blocked_in(p, &mut proc);
    }
    Look { proc, ends }
}

/// What the process's main thread is blocked in: the call, the fds it waits on and
/// in which way, or why that cannot be read.
fn blocked_in(p: &Process, proc: &mut Proc) {
    let b = match crate::explain::thread(p, p.pid) {
        Ok(b) => b,
        Err(e) => {
            proc.error = Some(e.to_string());
            return;
        }
    };
    proc.call = b.call;
    if let Some(w) = b.fds.first() {
        proc.fd = Some(w.fd);
        proc.fd_what = Some(w.what.clone()).filter(|s| !s.is_empty());
    }
    proc.multiplexed = b.set;
    proc.waits = b
        .fds
        .iter()
        .map(|w| Wait {
            fd: w.fd,
            read: w.want.read || w.want.urgent,
            write: w.want.write,
        })
        .collect();
    if proc.call.is_none() && proc.state != "R" {
        proc.call = b.note;
    }
}

/// The process's name, raw (lossy only where it is not UTF-8).
fn comm(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/comm"))
        .map(|b| String::from_utf8_lossy(b.trim_ascii_end()).into_owned())
        .unwrap_or_default()
}

/// `SIGPIPE` or `status N`, from a waitpid-style status.
fn exit_words(status: i32) -> String {
    if status & 0x7f != 0 {
        let core = if status & 0x80 != 0 { " (core)" } else { "" };
        format!("SIG{}{core}", crate::signals::name(status & 0x7f))
    } else {
        format!("status {}", (status >> 8) & 0xff)
    }
}

/// rchar and wchar: bytes passed by read and write calls of every kind.
fn io_counters(pid: i32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    Some((get("rchar:")?, get("wchar:")?))
}

/// The fd's object when it is a pipe, FIFO or socket, with its end.
fn link_end(p: &Process, fd: RawFd) -> Option<RawEnd> {
    let path = format!("/proc/{}/fd/{fd}", p.pid);
    let st = stat(path.as_str()).ok()?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let object = if kind == SFlag::S_IFIFO {
        let shown = std::fs::read_link(&path)
            .ok()?
            .to_string_lossy()
            .into_owned();
        if shown.starts_with("pipe:[") {
            Object::Pipe
        } else {
            Object::Fifo(shown)
        }
    } else if kind == SFlag::S_IFSOCK {
        Object::Socket
    } else {
        return None;
    };
    let end = match p.access_mode(fd) {
        _ if object == Object::Socket => LinkEnd::Both,
        Some(m) if m == OFlag::O_WRONLY => LinkEnd::Write,
        Some(m) if m == OFlag::O_RDWR => LinkEnd::Both,
        _ => LinkEnd::Read,
    };
    Some(RawEnd {
        dev: st.st_dev,
        ino: st.st_ino,
        object,
        fd,
        end,
    })
}
