//! `fdwatch pipeline`: where a pipeline of processes is stuck and how full each pipe
//! is. Each snapshot finds the processes (given pids, a process group, or a process
//! and its descendants), looks at each one (scan.rs), joins their pipes and FIFOs by
//! inode (links.rs) and their sockets' two ends through sock_diag (sockets.rs,
//! sockdiag.rs), judges who holds the rest back (verdict.rs) and prints it (view.rs). Between snapshots it sleeps on the signal self-pipe, so SIGINT and
//! SIGTERM end a run at once (128+N).

mod links;
mod scan;
mod sockdiag;
mod sockets;
mod verdict;
mod view;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::output::Format;
use crate::pidfd::Process;
use crate::readiness::Interest;
use crate::signals::{self, Signals, TERMINATING};

pub use links::{Holder, Link, LinkEnd, LinkFlow, LinkKind, SockEnd};
pub use scan::{Proc, Wait};
pub use verdict::Verdict;
pub use view::SnapshotLine;

/// Which processes make up the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Members {
    /// These pids.
    Pids(Vec<i32>),
    /// Every process of this process group (a shell job, a `setsid` group).
    Group(i32),
    /// This process and its descendants.
    Tree(i32),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub select: Members,
    /// One snapshot, then exit.
    pub once: bool,
    pub interval: Duration,
    /// Stop after this many snapshots.
    pub count: Option<u64>,
    pub format: Format,
    pub color: bool,
    /// Redraw in place (text on a terminal).
    pub redraw: bool,
    /// `-q`: no output; the exit status answers.
    pub quiet: bool,
}

/// The exit status when the last snapshot's verdict is `stuck`.
pub const STUCK: u8 = 1;

/// One snapshot: every process, every link and the verdict.
pub struct Snapshot {
    pub processes: Vec<Proc>,
    pub links: Vec<Link>,
    pub verdict: Verdict,
    /// Why some links could not be found (sock_diag refused).
    pub note: Option<String>,
}

/// A process seen in some snapshot, held by its pidfd.
struct Tracked {
    process: Option<Process>,
    /// Why it could not be opened (no such process).
    error: Option<String>,
    seen: LastSeen,
}

/// What the snapshots before this one saw of a process.
#[derive(Default)]
struct LastSeen {
    /// The last I/O counters and when they were read, for the rates.
    last_io: Option<((u64, u64), Instant)>,
    /// Its last look, for a process that has since been reaped.
    comm: String,
    exit: Option<String>,
}

impl Tracked {
    /// Process `pid` held by its pidfd, or why it cannot be.
    fn open(pid: i32) -> Tracked {
        let (process, error) = match Process::open(pid) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Tracked {
            process,
            error,
            seen: LastSeen::default(),
        }
    }
}

impl LastSeen {
    /// `proc`, looked at `now`, completed with what was seen before (a reaped
    /// process's last name and exit, its rates since the last counters), and what is
    /// seen now kept for the next look.
    fn carry(&mut self, proc: &mut Proc, now: Instant) {
        if proc.state == "gone" {
            // Reaped: what was seen of it last.
            proc.comm = self.comm.clone();
            proc.exit = self.exit.clone();
        } else {
            self.comm = proc.comm.clone();
            self.exit = proc.exit.clone();
        }
        if let (Some(io), Some((last, then))) = (proc.io, self.last_io) {
            let secs = now.duration_since(then).as_secs_f64().max(1e-6);
            proc.read_rate = Some(io.0.saturating_sub(last.0) as f64 / secs);
            proc.write_rate = Some(io.1.saturating_sub(last.1) as f64 / secs);
        }
        if let Some(io) = proc.io {
            self.last_io = Some((io, now));
        }
    }
}

/// Runs the view; the exit status.
#[inline(never)] // out of the one-shot start-up path (link/startup.ld)
pub fn run(cfg: &Config) -> Result<u8> {
    let blocked = Signals::block(&TERMINATING, &[])?;
    let sigs = match blocked {
        Some(b) => Some(b.arm(false, &TERMINATING)?),
        None => None,
    };
    let start = Instant::now();
    let (select, group) = match cfg.select {
        Members::Group(p) => {
            let (g, note) = group_of(p)?;
            (Members::Group(g), Some((g, note)))
        }
        ref s => (s.clone(), None),
    };
    let mut tracked: BTreeMap<i32, Tracked> = BTreeMap::new();
    let mut joined = BTreeSet::new();
    let mut out = std::io::BufWriter::new(crate::outlet::Outlet::stdout());
    let mut view = view::View::new(cfg, group);
    let mut taken = 0u64;
    loop {
        let snap = snapshot(&select, &mut tracked, &mut joined)?;
        if taken == 0
            && !snap.processes.is_empty()
            && snap.processes.iter().all(|p| p.error.is_some())
        {
            let why: Vec<String> = snap
                .processes
                .iter()
                .filter_map(|p| p.error.clone())
                .collect();
            return Err(Error::Usage(why.join("; ")));
        }
        taken += 1;
        if !cfg.quiet {
            view.show(&mut out, start.elapsed(), &snap)
                .map_err(Error::Output)?;
            out.flush().map_err(Error::Output)?;
        }
        let done =
            snap.verdict.state == "done" || cfg.once || cfg.count.is_some_and(|c| taken >= c);
        if done {
            // The last verdict answers scripts (`-q --once`): stuck or not.
            return Ok(if snap.verdict.state == "stuck" {
                STUCK
            } else {
                0
            });
        }
        if let Some(n) = sleep(sigs.as_ref(), cfg.interval) {
            out.flush().map_err(Error::Output)?;
            signals::reraise(n);
            return Ok(128u8.saturating_add(n as u8));
        }
    }
}

/// Sleeps `d` or until an ending signal came: its number.
fn sleep(sigs: Option<&Signals>, d: Duration) -> Option<i32> {
    let deadline = Instant::now() + d;
    loop {
        if let Some(n) = signals::ended_by() {
            return Some(n);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        let Some(s) = sigs else {
            std::thread::sleep(left);
            continue;
        };
        // The handler writes to the self-pipe, so a signal between the check above
        // and this poll still wakes it.
        // SAFETY: the self-pipe's read end lives as long as `s`.
        let fd = unsafe { BorrowedFd::borrow_raw(s.read_fd()) };
        let _ = crate::probe::wait(fd, Interest::READ, Some(left));
        let _ = s.take(true);
    }
}

/// The pids `select` names now, ascending.
fn members(select: &Members) -> Result<Vec<i32>> {
    Ok(match select {
        Members::Pids(v) => v.clone(),
        Members::Group(g) => {
            let v: Vec<i32> = all_stats()
                .into_iter()
                .filter(|s| s.pgrp == *g)
                .map(|s| s.pid)
                .collect();
            if v.is_empty() {
                return Err(Error::Usage(format!("process group {g}: no such process")));
            }
            v
        }
        Members::Tree(root) => {
            let stats = all_stats();
            let mut v = vec![*root];
            let mut i = 0;
            while i < v.len() {
                let parent = v[i];
                v.extend(stats.iter().filter(|s| s.ppid == parent).map(|s| s.pid));
                i += 1;
            }
            v.sort_unstable();
            v.dedup();
            v
        }
    })
}

/// `--pgid P`: group P, or, when no process is in a group P, the group of process P
/// (a shell's `$!` after `a | b &` is the pipeline's last process, not its group
/// leader), with the note that says so. Refused when that group is fdwatch's own: a
/// shell without job control (a script) runs its background jobs in its own group,
/// which holds the shell and fdwatch too.
fn group_of(p: i32) -> Result<(i32, Option<String>)> {
    let stats = all_stats();
    if stats.iter().any(|s| s.pgrp == p) {
        return Ok((p, None));
    }
    let Some(g) = stats.iter().find(|s| s.pid == p).map(|s| s.pgrp) else {
        return Err(Error::Usage(format!("process group {p}: no such process")));
    };
    if g == nix::unistd::getpgrp().as_raw() {
        return Err(Error::Usage(format!(
            "--pgid {p}: process {p} is in process group {g}, fdwatch's own (a shell \
             without job control runs its jobs in its own group): name the processes, \
             or --tree, or set -m before starting the pipeline"
        )));
    }
    Ok((
        g,
        Some(format!(
            "pid {p} is no process group: watching its group {g}"
        )),
    ))
}

struct Stat {
    pid: i32,
    ppid: i32,
    pgrp: i32,
}

/// pid, ppid and pgrp of every process in /proc.
fn all_stats() -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let mut f = s.rsplit_once(')')?.1.split_whitespace().skip(1);
        let ppid = f.next()?.parse().ok()?;
        let pgrp = f.next()?.parse().ok()?;
        Some(Stat { pid, ppid, pgrp })
    })
    .collect()
}

/// One snapshot; `tracked` keeps every process seen, for rates and for the ones that
/// have gone since.
fn snapshot(
    select: &Members,
    tracked: &mut BTreeMap<i32, Tracked>,
    joined: &mut BTreeSet<(u64, u64)>,
) -> Result<Snapshot> {
    for pid in members(select)? {
        tracked.entry(pid).or_insert_with(|| Tracked::open(pid));
    }
    let now = Instant::now();
    let mut looks = Vec::new();
    let mut processes = Vec::new();
    for (&pid, t) in tracked.iter_mut() {
        let Some(p) = &t.process else {
            processes.push(Proc {
                pid,
                state: "gone".into(),
                error: t.error.clone(),
                ..Proc::default()
            });
            continue;
        };
        let mut look = scan::look(p);
        t.seen.carry(&mut look.proc, now);
        looks.push((look, p));
    }
    let (links, note) = links::links(&looks, joined);
    processes.extend(looks.into_iter().map(|(l, _)| l.proc));
    processes.sort_by_key(|p| p.pid);
    let verdict = verdict::judge(&processes, &links);
    Ok(Snapshot {
        processes,
        links,
        verdict,
        note,
    })
}
