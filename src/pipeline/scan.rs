//! One look at a set of processes: each one's state, blocked call and I/O counters,
//! and every pipe, FIFO and UNIX socket they hold, by inode, with who holds which end
//! and how much is queued. Nothing is read from any fd and no flag is changed: the
//! queue and capacity come from ioctl/fcntl queries on pidfd_getfd duplicates, which
//! share the process's open file description and so add no reader or writer.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::stat::{SFlag, stat};

use crate::describe;
use crate::pidfd::Process;

/// Which end of a link a process's fd is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Read,
    Write,
    /// O_RDWR (a FIFO opened both ways, a socket): reads and writes.
    Both,
}

/// The kind of a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Pipe,
    /// A named pipe, with its path as /proc shows it.
    Fifo(String),
    /// A UNIX stream or datagram socket (each end is its own inode).
    Socket,
}

impl LinkKind {
    pub fn word(&self) -> &'static str {
        match self {
            LinkKind::Pipe => "pipe",
            LinkKind::Fifo(_) => "fifo",
            LinkKind::Socket => "socket",
        }
    }
}

/// One process's fd on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holder {
    pub pid: i32,
    pub fd: RawFd,
}

/// A pipe, FIFO or socket held by the processes.
#[derive(Debug)]
pub struct Link {
    /// Numbered from 1 along the pipeline (by the first writer's pid and fd).
    pub number: usize,
    pub kind: LinkKind,
    pub inode: u64,
    pub dev: u64,
    pub writers: Vec<Holder>,
    pub readers: Vec<Holder>,
    /// Bytes queued (FIONREAD), None when no duplicate could be taken.
    pub queued: Option<i64>,
    /// F_GETPIPE_SZ for pipes and FIFOs.
    pub capacity: Option<i64>,
    /// No process anywhere has it open for reading (a write gets EPIPE): POLLERR on a
    /// write end's duplicate.
    pub no_reader: bool,
    /// No process anywhere has it open for writing: POLLHUP on a read end's duplicate.
    pub no_writer: bool,
}

impl Link {
    pub fn full(&self) -> bool {
        matches!((self.queued, self.capacity), (Some(q), Some(c)) if c > 0 && q >= c)
    }

    /// Written by one of the processes and read by another.
    pub fn between(&self) -> bool {
        self.writers
            .iter()
            .any(|w| self.readers.iter().any(|r| r.pid != w.pid))
    }
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
    /// Whether the call waits to write (else to read), when it waits on an fd.
    pub writing: bool,
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
    ends: Vec<(u64, u64, LinkKind, RawFd, End)>,
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
        Ok(fds) => {
            for fd in fds {
                if let Some(end) = link_end(p, fd) {
                    ends.push(end);
                }
            }
        }
        Err(e) => proc.error = Some(e.to_string()),
    }
    proc.io = io_counters(pid);
    if proc.error.is_none() {
        match crate::explain::thread(p, pid) {
            Ok(b) => {
                proc.call = b.call;
                if let Some(w) = b.fds.first() {
                    proc.fd = Some(w.fd);
                    proc.writing = w.want.write && !w.want.read;
                    proc.fd_what = Some(w.what.clone()).filter(|s| !s.is_empty());
                }
                if proc.call.is_none() && proc.state != "R" {
                    proc.call = b.note;
                }
            }
            Err(e) => proc.error = Some(e.to_string()),
        }
    }
    Look { proc, ends }
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

/// The fd's object when it is a pipe, FIFO or UNIX socket: (dev, inode, kind, fd, end).
fn link_end(p: &Process, fd: RawFd) -> Option<(u64, u64, LinkKind, RawFd, End)> {
    let path = format!("/proc/{}/fd/{fd}", p.pid);
    let st = stat(path.as_str()).ok()?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let link = std::fs::read_link(&path).ok()?;
    let shown = link.to_string_lossy().into_owned();
    let kind = if kind == SFlag::S_IFIFO {
        if shown.starts_with("pipe:[") {
            LinkKind::Pipe
        } else {
            LinkKind::Fifo(shown)
        }
    } else if kind == SFlag::S_IFSOCK && unix_inode(st.st_ino) {
        LinkKind::Socket
    } else {
        return None;
    };
    let end = match p.access_mode(fd) {
        _ if kind == LinkKind::Socket => End::Both,
        Some(m) if m == OFlag::O_WRONLY => End::Write,
        Some(m) if m == OFlag::O_RDWR => End::Both,
        _ => End::Read,
    };
    Some((st.st_dev, st.st_ino, kind, fd, end))
}

/// Whether a socket inode is a UNIX socket (listed in /proc/net/unix). Read once per
/// snapshot would be cheaper; sockets are few next to pipes, so once per socket.
fn unix_inode(ino: u64) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/net/unix") else {
        return false;
    };
    let want = ino.to_string();
    text.lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(6) == Some(want.as_str()))
}

/// Joins the processes' ends into links: pipes and FIFOs by inode; sockets are links of
/// their own (one per inode), with their receive queue.
/// One process's end of a link: who to duplicate it from, its number there, its side.
type Probe<'a> = (&'a Process, RawFd, End);

/// The links among the processes. `joined` remembers every link seen between two of
/// them, so that one which later loses a side is still theirs.
pub fn links(looks: &[(Look, &Process)], joined: &mut BTreeSet<(u64, u64)>) -> Vec<Link> {
    let mut by: BTreeMap<(u64, u64), Link> = BTreeMap::new();
    let mut probe: BTreeMap<(u64, u64), Vec<Probe>> = BTreeMap::new();
    for (look, p) in looks {
        for (dev, ino, kind, fd, end) in &look.ends {
            let l = by.entry((*dev, *ino)).or_insert_with(|| Link {
                number: 0,
                kind: kind.clone(),
                inode: *ino,
                dev: *dev,
                writers: Vec::new(),
                readers: Vec::new(),
                queued: None,
                capacity: None,
                no_reader: false,
                no_writer: false,
            });
            let h = Holder {
                pid: p.pid,
                fd: *fd,
            };
            if *end != End::Read {
                l.writers.push(h);
            }
            if *end != End::Write {
                l.readers.push(h);
            }
            probe.entry((*dev, *ino)).or_default().push((p, *fd, *end));
        }
    }
    for (key, l) in by.iter_mut() {
        measure(l, probe.get(key).map_or(&[][..], Vec::as_slice));
    }
    // A link joins two of the processes, or did and has lost one side (the pipeline's
    // own news); a pipe they only inherited (a jobserver's, one whose reader left long
    // ago) is not theirs. A socket's peer is another inode, so one held at all is kept.
    let mut v: Vec<Link> = by
        .into_iter()
        .filter(|(key, l)| {
            if l.between() {
                joined.insert(*key);
                return true;
            }
            l.kind == LinkKind::Socket || ((l.no_reader || l.no_writer) && joined.contains(key))
        })
        .map(|(_, l)| l)
        .collect();
    // Along the pipeline: links between two of the processes first, a link written by
    // an earlier process before a later one's; then the rest.
    v.sort_by_key(|l| {
        let w = l.writers.iter().map(|h| (h.pid, h.fd)).min();
        (!l.between(), w.is_none(), w, l.inode)
    });
    for (i, l) in v.iter_mut().enumerate() {
        l.number = i + 1;
    }
    v
}

/// Queue, capacity and whether either side is gone, from duplicates of one write end
/// and one read end.
fn measure(l: &mut Link, ends: &[(&Process, RawFd, End)]) {
    let dup = |want: End| -> Option<OwnedFd> {
        ends.iter()
            .filter(|(_, _, e)| *e == want || *e == End::Both)
            .find_map(|(p, fd, _)| p.getfd(*fd).ok())
    };
    let w = dup(End::Write);
    let r = dup(End::Read);
    let Some(any) = w.as_ref().or(r.as_ref()) else {
        return;
    };
    let desc_kind = if l.kind == LinkKind::Socket {
        describe::Kind::Socket
    } else {
        describe::Kind::Pipe
    };
    l.queued = describe::queued(any.as_fd(), desc_kind).map(i64::from);
    if l.kind != LinkKind::Socket {
        l.capacity = describe::pipe_size(any.as_fd(), desc_kind).map(i64::from);
        l.no_reader = w
            .as_ref()
            .is_some_and(|w| revents(w, libc::POLLOUT) & libc::POLLERR != 0);
        l.no_writer = r
            .as_ref()
            .is_some_and(|r| revents(r, libc::POLLIN) & libc::POLLHUP != 0 && l.queued == Some(0));
    }
}

/// A zero-timeout poll of our duplicate: what the kernel says of the pipe now.
fn revents(fd: &OwnedFd, events: libc::c_short) -> libc::c_short {
    let mut p = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }];
    // SAFETY: one initialized pollfd, zero timeout; poll only writes revents.
    match Errno::result(unsafe { libc::poll(p.as_mut_ptr(), 1, 0) }) {
        Ok(_) => p[0].revents,
        Err(_) => 0,
    }
}
