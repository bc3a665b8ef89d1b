//! The watch set: inherited fds (borrowed, never closed, flags never changed) and the
//! fds fdwatch opened itself (owned), each with its interest and description.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::stat::{Mode, SFlag, stat};

use crate::describe::{Description, describe};
use crate::error::{Error, Result};
use crate::net::{self, Opened, Role};
use crate::pidfd::Process;
use crate::spec::{self, Interest, PidFds, Target, Typed};

/// Ownership in the type: fdwatch closes only what it opened.
#[derive(Debug)]
enum Handle {
    Owned(OwnedFd),
    Inherited(BorrowedFd<'static>),
    /// No longer watched (an owned fd is closed by then).
    Closed,
}

/// An fd of another process (`pid:` specs): never read, its flags never changed.
#[derive(Clone, Copy, Debug)]
pub struct Foreign {
    pub pid: i32,
    /// Index of the process in `WatchSet::processes`.
    pub process: usize,
    /// A private reopen of /proc/PID/fd/N rather than a shared duplicate.
    pub private: bool,
}

#[derive(Debug)]
pub struct Watched {
    /// The fd number the user knows: the inherited number, or the other process's.
    pub fd: RawFd,
    /// The number in this process, for system calls and backends (differs from `fd`
    /// only for `pid:` fds).
    pub raw: RawFd,
    /// Set for `pid:` fds.
    pub foreign: Option<Foreign>,
    /// Order of arrival in the set (watch mode reuses its slots, so a slot does not tell).
    pub seq: u64,
    pub interest: Interest,
    pub desc: Description,
    /// The path fdwatch opened it from (None for inherited fds).
    pub path: Option<PathBuf>,
    /// For sockets fdwatch opened: connecting, listening or a stream.
    pub role: Role,
    /// A connecting socket's target: the spec as the user wrote it, and the address
    /// tried (for the `connect` event).
    pub target: Option<Box<(String, String)>>,
    handle: Handle,
}

impl Watched {
    /// The fd and what it is, as its events name it.
    pub fn subject(&self) -> crate::event::Subject<'_> {
        crate::event::Subject {
            fd: self.fd,
            what: &self.desc.what,
        }
    }

    /// The fd, while it is watched.
    pub fn borrow(&self) -> Option<BorrowedFd<'_>> {
        match &self.handle {
            Handle::Owned(o) => Some(o.as_fd()),
            Handle::Inherited(b) => Some(*b),
            Handle::Closed => None,
        }
    }

    pub fn inherited(&self) -> bool {
        matches!(self.handle, Handle::Inherited(_))
    }

    /// Shares its open file description with someone else (inherited, or another
    /// process's): its flags and socket options are not fdwatch's to change.
    pub fn shared(&self) -> bool {
        self.inherited() || self.foreign.is_some_and(|f| !f.private)
    }

    /// A FIFO path fdwatch opened itself: reopened rather than dropped at hang-up.
    pub fn owned_fifo(&self) -> bool {
        matches!(self.handle, Handle::Owned(_))
            && self.path.is_some()
            && self.desc.kind == crate::describe::Kind::Fifo
    }

    /// Stops watching: closes an owned fd, forgets an inherited one (never closed).
    /// The caller has removed it from every backend first.
    pub fn close(&mut self) {
        self.handle = Handle::Closed;
    }

    /// A socket fdwatch opened or accepted.
    pub fn socket(fd: OwnedFd, role: Role, interest: Interest) -> Watched {
        Watched::owned(fd, None, role, interest)
    }

    /// An fd fdwatch owns, under its own number.
    fn owned(fd: OwnedFd, path: Option<PathBuf>, role: Role, interest: Interest) -> Watched {
        let desc = describe(fd.as_fd());
        let n = std::os::fd::AsRawFd::as_raw_fd(&fd);
        Watched {
            fd: n,
            raw: n,
            foreign: None,
            interest,
            desc,
            path,
            role,
            target: None,
            handle: Handle::Owned(fd),
            seq: 0,
        }
    }

    /// Opens its path again, while its current fd stays open.
    pub fn open_again(&self) -> Result<OwnedFd> {
        let path = self
            .path
            .as_deref()
            .ok_or_else(|| Error::Usage(format!("fd {}: not opened from a path", self.fd)))?;
        open_nonblocking(path, self.interest)
            .map_err(|e| Error::sys(path.display().to_string(), "open", e))
    }

    /// Puts `new` in the place of its fd under the same number: dup3 closes the old
    /// open file and installs the new one in one step, so with `open_again` first
    /// there is never a moment without a reader (closing first would let a writer see
    /// none: ENXIO or SIGPIPE, or lose its bytes). The caller has taken the old
    /// registration out of every backend.
    pub fn replace(&mut self, new: OwnedFd) -> Result<()> {
        match &mut self.handle {
            Handle::Owned(old) => nix::unistd::dup3(&new, old, OFlag::O_CLOEXEC)
                .map_err(|e| Error::sys(format!("fd {}", self.fd), "dup3", e)),
            _ => Err(Error::Usage(format!(
                "fd {}: not opened by fdwatch",
                self.fd
            ))),
        }
    }
}

/// A write-side FIFO that had no reader (ENXIO): reported, and its open retried.
#[derive(Debug)]
pub struct Pending {
    pub path: PathBuf,
    pub interest: Interest,
    pub what: String,
}

/// What watching the specs needs besides their fds: write-side FIFOs waiting for a
/// reader, the processes of `pid:` specs, socket files to remove, notes for `-v`.
#[derive(Debug, Default)]
pub struct WatchSet {
    pub pending: Vec<Pending>,
    /// The processes of `pid:` specs.
    pub processes: Vec<Process>,
    /// `unix-listen:` socket files, removed when the set goes away.
    pub bound: Vec<net::BoundPath>,
    /// How `pid:` fds are held where it is not the usual way, for `-v`.
    pub notes: Vec<String>,
}

/// Where the fds go as the specs are opened, in order: watch mode's table, which
/// then needs no copy of its own (the peak memory of 10,000 fds).
pub trait FdTable {
    /// Adds `w`; its index.
    fn add(&mut self, w: Watched) -> usize;
    /// The fd added at `index`.
    fn at(&mut self, index: usize) -> &mut Watched;
}

/// The set while the specs are opened.
struct Opening<'t, T: FdTable> {
    fds: &'t mut T,
    set: WatchSet,
    /// Where each inherited fd number sits (to merge `0r 0-2w` without a scan).
    inherited_at: crate::FixedMap<RawFd, usize>,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit, so large fd sets fit (10,000 fds
/// and more with poll and epoll);
/// returns the limit now in force. Failure only means the old limit stays.
pub fn raise_nofile_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard))
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() =>
        {
            hard
        }
        Ok((soft, _)) => soft,
        Err(_) => 1024,
    }
}

/// Whether `fd` is open in this process (F_GETFD succeeds).
fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the fd table; an unopened number gives EBADF.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}

/// Borrows an inherited fd for the life of the process.
fn borrow_inherited(fd: RawFd) -> Option<BorrowedFd<'static>> {
    // SAFETY: checked open just now; fdwatch never closes inherited fds, so the
    // borrow stays valid for the rest of the process.
    is_open(fd).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
}

/// The inherited fds in `lo..=hi` that are open, from /proc/self/fd (cheap for huge
/// ranges), borrowed (one F_GETFD each).
fn open_in_range(lo: RawFd, hi: RawFd) -> Vec<(RawFd, BorrowedFd<'static>)> {
    let listed: Option<Vec<RawFd>> = std::fs::read_dir("/proc/self/fd").ok().map(|d| {
        d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|n| (lo..=hi).contains(n))
            .collect()
    });
    // The directory's own fd was in the listing; is_open drops it now that it is closed.
    let mut fds = listed.unwrap_or_else(|| (lo..=hi.min(lo.saturating_add(65535))).collect());
    fds.sort_unstable();
    fds.into_iter()
        .filter_map(|n| Some((n, borrow_inherited(n)?)))
        .collect()
}

impl WatchSet {
    /// Checks inherited fds, then opens paths (never blocking), in spec order: the
    /// fds into `fds`, in that order; what goes with them.
    pub fn open(specs: &[Typed], fds: &mut impl FdTable) -> Result<WatchSet> {
        let specs = spec::merge(specs);
        let mut o = Opening {
            fds,
            set: WatchSet::default(),
            inherited_at: Default::default(),
        };
        // Inherited fds first, before fdwatch opens anything of its own, so that a
        // number fdwatch would have opened cannot pass for an inherited one.
        let mut inherited_fds: Vec<Vec<(RawFd, BorrowedFd<'static>)>> =
            Vec::with_capacity(specs.len());
        for s in &specs {
            let fds = match s.target {
                Target::Fd(n) => {
                    let b = borrow_inherited(n)
                        .ok_or_else(|| Error::Usage(format!("fd {n} is not open")))?;
                    vec![(n, b)]
                }
                Target::FdRange(lo, hi) => {
                    let v = open_in_range(lo, hi);
                    if v.is_empty() {
                        return Err(Error::Usage(format!(
                            "spec '{s}': no fd in {lo}-{hi} is open"
                        )));
                    }
                    v
                }
                Target::Path(_) | Target::Socket(_) | Target::Pid { .. } => Vec::new(),
            };
            inherited_fds.push(fds);
        }
        for (s, inherited) in specs.iter().zip(inherited_fds) {
            match &s.target {
                Target::Path(p) => o.open_path(s, p)?,
                Target::Socket(sock) => match net::open(sock, &format!("spec '{s}'"))? {
                    Opened::Connecting(fd, addr) => {
                        let mut w = Watched::socket(fd, Role::Connecting, s.interest);
                        w.target = Some(Box::new((s.to_string(), addr)));
                        o.fds.add(w);
                    }
                    Opened::Listening(l) => {
                        for fd in l.fds {
                            let w = Watched::socket(fd, Role::Listener, s.interest);
                            if l.all_interfaces {
                                let what = &w.desc.what;
                                o.set.notes.push(format!(
                                    "{what}: listening on all interfaces, reachable from the network"
                                ));
                            }
                            o.fds.add(w);
                        }
                        o.set.bound.extend(l.path);
                    }
                },
                Target::Pid { pid, fds } => o.add_foreign(s, *pid, *fds)?,
                _ => {
                    for (n, b) in inherited {
                        o.add_inherited(n, b, s.interest);
                    }
                }
            }
        }
        Ok(o.set)
    }

    /// A write-side FIFO whose reader left (`w`, closed by the caller): its path is
    /// retried until the open works again.
    pub fn pend(&mut self, w: &Watched) {
        if let Some(path) = w.path.clone() {
            self.pending.push(Pending {
                what: format!("fifo {} (no reader)", crate::escape::os(path.as_os_str())),
                path,
                interest: w.interest,
            });
        }
    }

    /// Retries the write-side FIFOs that had no reader. One that cannot be opened for
    /// want of a descriptor (or memory) stays pending, and is said so.
    pub fn retry_pending(&mut self) -> Result<Retried> {
        let mut r = Retried::default();
        let mut still = Vec::new();
        let mut failed = None;
        for p in std::mem::take(&mut self.pending) {
            match open_nonblocking(&p.path, p.interest) {
                Ok(fd) => r.opened.push(Watched::owned(
                    fd,
                    Some(p.path.clone()),
                    Role::Stream,
                    p.interest,
                )),
                // No reader yet: open had a descriptor for it (it is taken first).
                Err(Errno::ENXIO) => {
                    r.got_fd = true;
                    still.push(p);
                }
                Err(e) if crate::exhaust::is_exhaustion(e) => {
                    r.ran_out.get_or_insert_with(|| (p.what.clone(), e));
                    still.push(p);
                }
                Err(e) => {
                    failed.get_or_insert(Error::sys(p.path.display().to_string(), "open", e));
                    still.push(p);
                }
            }
        }
        self.pending = still;
        r.got_fd |= !r.opened.is_empty();
        failed.map_or(Ok(r), Err)
    }
}

impl<T: FdTable> Opening<'_, T> {
    /// An fd named twice (`0r 0-2w`) is watched once with the merged interest.
    fn add_inherited(&mut self, n: RawFd, b: BorrowedFd<'static>, interest: Interest) {
        if let Some(&t) = self.inherited_at.get(&n) {
            let w = self.fds.at(t);
            w.interest = w.interest.merge(interest);
            return;
        }
        let t = self.fds.add(Watched {
            fd: n,
            raw: n,
            foreign: None,
            interest,
            desc: describe(b),
            path: None,
            role: Role::Stream,
            target: None,
            handle: Handle::Inherited(b),
            seq: 0,
        });
        self.inherited_at.insert(n, t);
    }

    /// `pid:PID:…`: duplicates of another process's fds, described by its numbers.
    fn add_foreign(&mut self, s: &Typed, pid: i32, which: PidFds) -> Result<()> {
        let process = match self.set.processes.iter().position(|p| p.pid == pid) {
            Some(i) => i,
            None => {
                self.set.processes.push(Process::open(pid)?);
                self.set.processes.len() - 1
            }
        };
        let numbers = foreign_numbers(s, &self.set.processes[process], which)?;
        for n in numbers {
            let p = &self.set.processes[process];
            let dup = p.dup(n)?;
            if let Some(why) = dup.why {
                self.set.notes.push(format!(
                    "{}: pidfd_getfd refused ({why:?}); watching a private reopen of /proc/{pid}/fd/{n}, \
                     which counts as one more reader or writer of a pipe while watched",
                    p.name(n)
                ));
            }
            let mut desc = describe(dup.fd.as_fd());
            desc.what = format!("{} ({})", p.name(n), desc.what);
            self.fds.add(Watched {
                fd: n,
                raw: std::os::fd::AsRawFd::as_raw_fd(&dup.fd),
                foreign: Some(Foreign {
                    pid,
                    process,
                    private: dup.private,
                }),
                interest: s.interest,
                desc,
                path: None,
                role: Role::Stream,
                target: None,
                handle: Handle::Owned(dup.fd),
                seq: 0,
            });
        }
        Ok(())
    }

    fn open_path(&mut self, s: &Typed, path: &Path) -> Result<()> {
        match open_nonblocking(path, s.interest) {
            Ok(fd) => {
                let w = Watched::owned(fd, Some(path.to_owned()), Role::Stream, s.interest);
                self.fds.add(w);
                Ok(())
            }
            Err(Errno::ENXIO) if is_fifo(path) => {
                self.set.pending.push(Pending {
                    path: path.to_owned(),
                    interest: s.interest,
                    what: format!("fifo {} (no reader)", crate::escape::os(path.as_os_str())),
                });
                Ok(())
            }
            Err(e) => Err(Error::sys(format!("spec '{s}'"), "open", e)),
        }
    }
}

/// What a retry of the write-side FIFOs found (`WatchSet::retry_pending`).
#[derive(Debug, Default)]
pub struct Retried {
    /// The FIFOs opened now, for the caller to watch.
    pub opened: Vec<Watched>,
    /// The first open that ran out of descriptors or memory: its FIFO, the errno.
    pub ran_out: Option<(String, Errno)>,
    /// An open got a descriptor (it opened, or found no reader yet).
    pub got_fd: bool,
}

/// Opens a path for `interest` without ever blocking: O_NONBLOCK (a FIFO with no
/// writer opens at once; one with no reader fails with ENXIO), O_NOCTTY, O_CLOEXEC.
fn open_nonblocking(path: &Path, i: Interest) -> nix::Result<OwnedFd> {
    let access = match (i.read || i.urgent, i.write) {
        (_, false) => OFlag::O_RDONLY,
        (false, true) => OFlag::O_WRONLY,
        (true, true) => OFlag::O_RDWR,
    };
    let flags = access | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
    nix::fcntl::open(path, flags, Mode::empty())
}

fn is_fifo(path: &Path) -> bool {
    stat(path)
        .is_ok_and(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO)
}

/// The fd numbers `pid:PID:…` names in process `p`: one, those open in a range (at
/// least one), or all; `pid:PID` alone names none and is refused here.
fn foreign_numbers(s: &Typed, p: &Process, which: PidFds) -> Result<Vec<RawFd>> {
    let pid = p.pid;
    Ok(match which {
        PidFds::Explain => {
            return Err(Error::Usage(format!(
                "spec '{s}' names no fds: write pid:{pid}:FD, pid:{pid}:N-M or pid:{pid}:*, \
                 or run 'fdwatch pid:{pid}' alone to see what it is blocked on"
            )));
        }
        PidFds::One(n) => vec![n],
        PidFds::Range(lo, hi) => p.fds_in(lo, hi)?,
        PidFds::All => p.fds()?,
    })
}
