//! Who holds a pipeline back, from one snapshot: follow writers blocked on full pipes
//! downstream to the reader that does not read, or readers blocked on empty pipes
//! upstream to the writer that does not write; name pipes that lost their reader.
//! A stage that still moves bytes (its rate since the last snapshot) is the slowest
//! stage of a flowing pipeline, not a stuck one.

use super::links::{Holder, Link, LinkFlow};
use super::scan::Proc;
use crate::escape;

/// The verdict on one snapshot.
#[derive(Debug, PartialEq)]
pub struct Verdict {
    /// `stuck`, `flowing`, `idle` or `done` (every process has exited).
    pub state: &'static str,
    pub sentence: String,
    /// The processes the sentence names, the one holding the pipeline back first.
    pub pids: Vec<i32>,
}

impl Verdict {
    fn new(state: &'static str, sentence: String, pids: Vec<i32>) -> Verdict {
        Verdict {
            state,
            sentence,
            pids,
        }
    }
}

/// The verdict on `procs` joined by `links`.
pub fn judge(procs: &[Proc], links: &[Link]) -> Verdict {
    let s = Scene { procs, links };
    if !procs.is_empty() && procs.iter().all(Proc::gone) {
        return Verdict::new("done", "every process has exited".into(), Vec::new());
    }
    if let Some(v) = s.downstream() {
        return v;
    }
    if let Some(v) = s.lost_reader() {
        return v;
    }
    if let Some(v) = s.upstream() {
        return v;
    }
    if links.is_empty() {
        let none = "idle: no pipe, FIFO or socket joins these processes";
        return Verdict::new("idle", none.into(), Vec::new());
    }
    // Nothing written through any link, or nothing read or written by any process, and
    // none of them running: whatever the pipeline waits for, no byte moves.
    let rates = s.link_rates();
    let live: Vec<&Proc> = procs.iter().filter(|p| !p.gone()).collect();
    let none_runs = live.iter().all(|p| p.state != "R");
    let quiet = |r: Option<f64>| r == Some(0.0);
    let still = !live.is_empty()
        && live
            .iter()
            .all(|p| quiet(p.read_rate) && quiet(p.write_rate));
    let unwritten = !rates.is_empty() && rates.iter().all(|(_, r)| *r == 0.0);
    if none_runs && (unwritten || still) {
        let idle = "idle: nothing was written since the last snapshot";
        return Verdict::new("idle", idle.into(), Vec::new());
    }
    // The first snapshot (no rates yet): every process waits and no byte is queued
    // anywhere, so nothing is on its way.
    let empty = links
        .iter()
        .flat_map(|l| &l.flows)
        .all(|f| f.queued == Some(0));
    if none_runs && rates.is_empty() && empty {
        let idle = "idle: every process waits and nothing is queued";
        return Verdict::new("idle", idle.into(), Vec::new());
    }
    Verdict::new("flowing", s.flowing(), Vec::new())
}

/// One direction of a link: the link (for its name) and the flow.
type Chan<'a> = (&'a Link, &'a LinkFlow);

/// One snapshot's processes and links, with the questions the verdict asks of them.
struct Scene<'a> {
    procs: &'a [Proc],
    links: &'a [Link],
}

impl<'a> Scene<'a> {
    fn proc(&self, pid: i32) -> Option<&'a Proc> {
        self.procs.iter().find(|p| p.pid == pid)
    }

    /// Every direction of a link that `p`'s call waits on, and whether it waits to
    /// write it (else to read it): one for read(2) or write(2), as many as its set
    /// holds for select, poll or epoll.
    fn waits_on(&self, p: &Proc) -> Vec<(Chan<'a>, bool)> {
        let mut v = Vec::new();
        for w in &p.waits {
            let h = Holder {
                pid: p.pid,
                fd: w.fd,
            };
            for l in self.links {
                for f in &l.flows {
                    if w.write && f.writers.contains(&h) {
                        v.push(((l, f), true));
                    }
                    if w.read && f.readers.contains(&h) {
                        v.push(((l, f), false));
                    }
                }
            }
        }
        v
    }

    /// The direction `p` is blocked writing to, when a write there would wait.
    fn writing_full(&self, p: &Proc) -> Option<Chan<'a>> {
        if p.gone() {
            return None;
        }
        self.waits_on(p)
            .into_iter()
            .find(|((_, f), writing)| *writing && f.full)
            .map(|(c, _)| c)
    }

    /// The direction `p` is blocked reading from, when it is empty and written by
    /// someone.
    fn reading_empty(&self, p: &Proc) -> Option<Chan<'a>> {
        self.waits_on(p)
            .into_iter()
            .find(|((_, f), writing)| !*writing && f.queued == Some(0) && !f.no_writer)
            .map(|(c, _)| c)
    }

    fn readers<'s>(&'s self, f: &'s LinkFlow) -> impl Iterator<Item = &'a Proc> + 's {
        f.readers.iter().filter_map(|h| self.proc(h.pid))
    }

    fn writers<'s>(&'s self, f: &'s LinkFlow) -> impl Iterator<Item = &'a Proc> + 's {
        f.writers.iter().filter_map(|h| self.proc(h.pid))
    }

    /// Writers blocked on full pipes or sockets: the chain from the one no other such
    /// writer feeds, down to the process that does not read.
    fn downstream(&self) -> Option<Verdict> {
        let chain = self.full_chain()?;
        let &(_, (last, lf)) = chain.last()?;
        let in_chain = |pid: i32| chain.iter().any(|(p, _)| p.pid == pid);
        let culprit = self.readers(lf).find(|r| !in_chain(r.pid));
        if let Some(c) = culprit.filter(|c| c.read_rate.is_some_and(|r| r > 0.0)) {
            let slowest = format!(
                "{}; the slowest stage is {} ({} full)",
                self.flowing(),
                who(c),
                name(last)
            );
            return Some(Verdict::new("flowing", slowest, vec![c.pid]));
        }
        self.stuck(&chain, culprit)
    }

    /// The writers blocked on full pipes or sockets, each with what it writes to, in
    /// order: from the one no other such writer feeds, each next one reading what the
    /// one before writes, until a process that is not such a writer (or a cycle).
    fn full_chain(&self) -> Option<Vec<(&'a Proc, Chan<'a>)>> {
        let on_full: Vec<&Proc> = self
            .procs
            .iter()
            .filter(|p| self.writing_full(p).is_some())
            .collect();
        let fed = |p: &Proc| {
            on_full.iter().any(|q| {
                q.pid != p.pid
                    && self
                        .writing_full(q)
                        .is_some_and(|(_, f)| f.readers.iter().any(|h| h.pid == p.pid))
            })
        };
        let first = on_full
            .iter()
            .find(|p| !fed(p))
            .or(on_full.first())
            .copied()?;
        let mut chain: Vec<(&Proc, Chan)> = Vec::new();
        let mut cur = first;
        while let Some(c) = self.writing_full(cur) {
            if chain.iter().any(|(p, _)| p.pid == cur.pid) {
                break; // a cycle: every process waits on the next
            }
            chain.push((cur, c));
            match self.readers(c.1).find(|r| r.pid != cur.pid) {
                Some(r) => cur = r,
                None => break,
            }
        }
        Some(chain)
    }

    /// The verdict on a chain of blocked writers whose last pipe or socket `culprit`
    /// (if any) reads nothing from: who reads nothing, then each writer upstream.
    fn stuck(&self, chain: &[(&Proc, Chan)], culprit: Option<&Proc>) -> Option<Verdict> {
        let &(_, (last, lf)) = chain.last()?;
        let mut pids = Vec::new();
        let mut parts = vec![match culprit {
            Some(c) => {
                pids.push(c.pid);
                format!("{} reads nothing: {}", who(c), self.doing(c))
            }
            None if lf.no_reader => format!("{} has no reader", name(last)),
            None => format!("{}'s reader is not watched", name(last)),
        }];
        for (i, (p, (l, f))) in chain.iter().rev().enumerate() {
            pids.push(p.pid);
            parts.push(if i == 0 {
                format!(
                    "{} full ({}), {} blocked writing to it",
                    name(l),
                    fill(f),
                    who(p)
                )
            } else {
                format!("{} blocked writing to {} (full)", who(p), name(l))
            });
        }
        let (head, rest) = parts.split_first()?;
        let sentence = match rest {
            [] => head.clone(),
            _ => format!("{head}; {}", rest.join(", ")),
        };
        Some(Verdict::new("stuck", sentence, pids))
    }

    /// A pipe whose reader is gone, a socket whose peer is: its writer's next write
    /// fails.
    fn lost_reader(&self) -> Option<Verdict> {
        let (l, f) = self
            .links
            .iter()
            .find_map(|l| Some((l, l.flows.iter().find(|f| f.no_reader)?)))?;
        let writers: Vec<&Proc> = self.writers(f).filter(|p| !p.gone()).collect();
        let names: Vec<String> = writers.iter().map(|p| who(p)).collect();
        let lost = match l.kind.socket() {
            true => format!("{} lost its peer", name(l)),
            false => format!("{} has no reader", name(l)),
        };
        let sentence = match names.is_empty() {
            true => lost,
            false => format!(
                "{lost}: {} gets EPIPE (or SIGPIPE) on its next write",
                names.join(", ")
            ),
        };
        Some(Verdict::new(
            "stuck",
            sentence,
            writers.iter().map(|p| p.pid).collect(),
        ))
    }

    /// A reader blocked on an empty pipe or socket, back to the writer that does not
    /// write (or round a cycle of processes each waiting to read from the next).
    fn upstream(&self) -> Option<Verdict> {
        let reader = self
            .procs
            .iter()
            .rfind(|p| !p.gone() && self.reading_empty(p).is_some())?;
        let first = self.reading_empty(reader)?;
        let mut seen = vec![reader.pid];
        let mut chan = first;
        loop {
            let ws: Vec<&Proc> = self.writers(chan.1).collect();
            let Some(w) = ws.iter().find(|w| !seen.contains(&w.pid)) else {
                return self.cycle(&seen, &ws);
            };
            seen.push(w.pid);
            match self.reading_empty(w) {
                Some(up) => chan = up,
                None if w.write_rate.is_some_and(|r| r > 0.0) => return None,
                None => {
                    let sentence = format!(
                        "{} writes nothing: {}; {} waits reading {} (empty)",
                        who(w),
                        self.doing(w),
                        who(reader),
                        name(first.0)
                    );
                    let mut pids = vec![w.pid];
                    pids.extend(seen.iter().rev().skip(1));
                    return Some(Verdict::new("stuck", sentence, pids));
                }
            }
        }
    }

    /// Readers waiting on each other round a cycle (`seen`, from the first reader):
    /// none writes, so none ever reads.
    fn cycle(&self, seen: &[i32], writers: &[&Proc]) -> Option<Verdict> {
        if writers.is_empty() || seen.len() < 2 {
            return None;
        }
        let whos: Vec<String> = seen
            .iter()
            .filter_map(|&pid| self.proc(pid))
            .map(who)
            .collect();
        let sentence = format!(
            "{} each wait reading what another of them would write: nothing is queued",
            whos.join(", ")
        );
        Some(Verdict::new("stuck", sentence, seen.to_vec()))
    }

    /// Each flow's rate: what its writers wrote per second (every write of theirs:
    /// /proc counts per process, not per fd), where their rates are known.
    fn link_rates(&self) -> Vec<(&'a Link, f64)> {
        self.links
            .iter()
            .flat_map(|l| l.flows.iter().map(move |f| (l, f)))
            .filter_map(|(l, f)| {
                let rates: Vec<f64> = self.writers(f).filter_map(|p| p.write_rate).collect();
                (!rates.is_empty()).then(|| (l, rates.iter().sum()))
            })
            .collect()
    }

    /// `flowing: 38.0 MB/s through pipe 1` (the busiest link), or `flowing`.
    fn flowing(&self) -> String {
        let busiest = self
            .link_rates()
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match busiest {
            Some((l, r)) => format!(
                "flowing: {} through {}",
                crate::output::human_rate(r),
                name(l)
            ),
            None => "flowing".into(),
        }
    }

    /// What a process does instead: its call and fd (each fd and way of a select,
    /// poll or epoll set), or its state.
    fn doing(&self, p: &Proc) -> String {
        match p.state.as_str() {
            "T" | "t" => return "stopped".into(),
            "R" => return "running (busy, not waiting)".into(),
            "Z" | "X" | "gone" => return "exited".into(),
            _ => {}
        }
        let on = |fd: i32| {
            let l = self.links.iter().find(|l| {
                l.flows.iter().any(|f| {
                    let h = Holder { pid: p.pid, fd };
                    f.writers.contains(&h) || f.readers.contains(&h)
                })
            });
            match l {
                Some(l) => Some(name(l)),
                None if Some(fd) == p.fd => p.fd_what.as_deref().map(escape::message),
                None => None,
            }
        };
        match (&p.call, p.fd) {
            (Some(call), Some(_)) if p.multiplexed => {
                let fds: Vec<String> = p
                    .waits
                    .iter()
                    .map(|w| {
                        let way = match (w.read, w.write) {
                            (true, true) => "read, write",
                            (false, true) => "write",
                            _ => "read",
                        };
                        match on(w.fd) {
                            Some(o) => format!("fd {} ({way}, {o})", w.fd),
                            None => format!("fd {} ({way})", w.fd),
                        }
                    })
                    .collect();
                format!(
                    "blocked in {} watching {}",
                    escape::message(call),
                    fds.join(", ")
                )
            }
            (Some(call), Some(fd)) => {
                let on = on(fd).map_or(String::new(), |o| format!(" ({o})"));
                format!("blocked in {} on fd {fd}{on}", escape::message(call))
            }
            (Some(call), None) => format!("blocked in {}", escape::message(call)),
            (None, _) => format!("state {}", p.state),
        }
    }
}

/// How full a full direction is: a pipe's capacity, a socket's queue.
fn fill(f: &LinkFlow) -> String {
    match (f.capacity, f.queued) {
        (Some(c), _) => size(c),
        (None, Some(q)) => format!("{} queued", size(q)),
        (None, None) => "queue unknown".into(),
    }
}

/// `3 (sort)`, the name escaped (it is the process's own choice).
pub fn who(p: &Proc) -> String {
    format!("{} ({})", p.pid, escape::message(&p.comm))
}

/// `pipe 2`, `fifo 1`, `unix 3`, `tcp 4`.
pub fn name(l: &Link) -> String {
    format!("{} {}", l.kind.word(), l.number)
}

/// `64 KiB`, binary units as pipe sizes are set.
pub fn size(n: i64) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

#[cfg(test)]
mod tests;
