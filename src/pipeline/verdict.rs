//! Who holds a pipeline back, from one snapshot: follow writers blocked on full pipes
//! downstream to the reader that does not read, or readers blocked on empty pipes
//! upstream to the writer that does not write; name pipes that lost their reader.
//! A stage that still moves bytes (its rate since the last snapshot) is the slowest
//! stage of a flowing pipeline, not a stuck one.

use super::scan::{Holder, Link, Proc};
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
    let rates = s.link_rates();
    let none_runs = procs.iter().all(|p| p.state != "R");
    if !rates.is_empty() && rates.iter().all(|(_, r)| *r == 0.0) && none_runs {
        let idle = "idle: nothing was written since the last snapshot";
        return Verdict::new("idle", idle.into(), Vec::new());
    }
    Verdict::new("flowing", s.flowing(), Vec::new())
}

/// One snapshot's processes and links, with the questions the verdict asks of them.
struct Scene<'a> {
    procs: &'a [Proc],
    links: &'a [Link],
}

impl<'a> Scene<'a> {
    fn proc(&self, pid: i32) -> Option<&'a Proc> {
        self.procs.iter().find(|p| p.pid == pid)
    }

    /// The link a process waits on in its call, and whether it waits to write.
    fn waits_on(&self, p: &Proc) -> Option<(&'a Link, bool)> {
        let h = Holder {
            pid: p.pid,
            fd: p.fd?,
        };
        let l = self
            .links
            .iter()
            .find(|l| l.writers.contains(&h) || l.readers.contains(&h))?;
        Some((l, p.writing))
    }

    /// The link `p` is blocked writing to, when it is full.
    fn writing_full(&self, p: &Proc) -> Option<&'a Link> {
        match self.waits_on(p) {
            Some((l, true)) if l.full() && !p.gone() => Some(l),
            _ => None,
        }
    }

    fn readers<'s>(&'s self, l: &'s Link) -> impl Iterator<Item = &'a Proc> + 's {
        l.readers.iter().filter_map(|h| self.proc(h.pid))
    }

    fn writers<'s>(&'s self, l: &'s Link) -> impl Iterator<Item = &'a Proc> + 's {
        l.writers.iter().filter_map(|h| self.proc(h.pid))
    }

    /// Writers blocked on full pipes: the chain from the one no other such writer
    /// feeds, down to the process that does not read.
    fn downstream(&self) -> Option<Verdict> {
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
                        .is_some_and(|l| l.readers.iter().any(|h| h.pid == p.pid))
            })
        };
        let first = on_full
            .iter()
            .find(|p| !fed(p))
            .or(on_full.first())
            .copied()?;
        let mut chain: Vec<(&Proc, &Link)> = Vec::new();
        let mut cur = first;
        while let Some(l) = self.writing_full(cur) {
            if chain.iter().any(|(p, _)| p.pid == cur.pid) {
                break; // a cycle: every process waits on the next
            }
            chain.push((cur, l));
            match self.readers(l).find(|r| r.pid != cur.pid) {
                Some(r) => cur = r,
                None => break,
            }
        }
        let &(_, last) = chain.last()?;
        let in_chain = |pid: i32| chain.iter().any(|(p, _)| p.pid == pid);
        let culprit = self.readers(last).find(|r| !in_chain(r.pid));
        if let Some(c) = culprit.filter(|c| c.read_rate.is_some_and(|r| r > 0.0)) {
            let slowest = format!(
                "{}; the slowest stage is {} ({} full)",
                self.flowing(),
                who(c),
                name(last)
            );
            return Some(Verdict::new("flowing", slowest, vec![c.pid]));
        }
        let mut pids = Vec::new();
        let mut parts = vec![match culprit {
            Some(c) => {
                pids.push(c.pid);
                format!("{} reads nothing: {}", who(c), self.doing(c))
            }
            None if last.no_reader => format!("{} has no reader", name(last)),
            None => format!("{}'s reader is not watched", name(last)),
        }];
        for (i, (p, l)) in chain.iter().rev().enumerate() {
            pids.push(p.pid);
            parts.push(if i == 0 {
                let cap = size(l.capacity.unwrap_or(0));
                format!("{} full ({cap}), {} blocked writing to it", name(l), who(p))
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

    /// A pipe whose reader is gone: its writer's next write fails.
    fn lost_reader(&self) -> Option<Verdict> {
        let l = self.links.iter().find(|l| l.no_reader)?;
        let writers: Vec<&Proc> = self.writers(l).filter(|p| !p.gone()).collect();
        let names: Vec<String> = writers.iter().map(|p| who(p)).collect();
        let sentence = match names.is_empty() {
            true => format!("{} has no reader", name(l)),
            false => format!(
                "{} has no reader: {} gets EPIPE (or SIGPIPE) on its next write",
                name(l),
                names.join(", ")
            ),
        };
        Some(Verdict::new(
            "stuck",
            sentence,
            writers.iter().map(|p| p.pid).collect(),
        ))
    }

    /// A reader blocked on an empty pipe, back to the writer that does not write.
    fn upstream(&self) -> Option<Verdict> {
        let starving = |p: &&Proc| match self.waits_on(p) {
            Some((l, false)) => l.queued == Some(0) && !l.no_writer && !p.gone(),
            _ => false,
        };
        let reader = self.procs.iter().rfind(|p| starving(p))?;
        let (first, _) = self.waits_on(reader)?;
        let mut seen = vec![reader.pid];
        let mut link = first;
        loop {
            let w = self.writers(link).find(|w| !seen.contains(&w.pid))?;
            seen.push(w.pid);
            match self.waits_on(w) {
                Some((up, false)) if up.queued == Some(0) => link = up,
                _ if w.write_rate.is_some_and(|r| r > 0.0) => return None,
                _ => {
                    let sentence = format!(
                        "{} writes nothing: {}; {} waits reading {} (empty)",
                        who(w),
                        self.doing(w),
                        who(reader),
                        name(first)
                    );
                    let mut pids = vec![w.pid];
                    pids.extend(seen.iter().rev().skip(1));
                    return Some(Verdict::new("stuck", sentence, pids));
                }
            }
        }
    }

    /// Each link's rate: what its writers wrote per second (every write of theirs:
    /// /proc counts per process, not per fd), where their rates are known.
    fn link_rates(&self) -> Vec<(&'a Link, f64)> {
        self.links
            .iter()
            .filter_map(|l| {
                let rates: Vec<f64> = self.writers(l).filter_map(|p| p.write_rate).collect();
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

    /// What a process does instead: its call and fd, or its state.
    fn doing(&self, p: &Proc) -> String {
        match p.state.as_str() {
            "T" | "t" => return "stopped".into(),
            "R" => return "running (busy, not waiting)".into(),
            "Z" | "X" | "gone" => return "exited".into(),
            _ => {}
        }
        match (&p.call, p.fd) {
            (Some(call), Some(fd)) => {
                let on = match self.waits_on(p) {
                    Some((l, _)) => format!(" ({})", name(l)),
                    None => p
                        .fd_what
                        .as_deref()
                        .map_or(String::new(), |w| format!(" ({})", escape::message(w))),
                };
                format!("blocked in {} on fd {fd}{on}", escape::message(call))
            }
            (Some(call), None) => format!("blocked in {}", escape::message(call)),
            (None, _) => format!("state {}", p.state),
        }
    }
}

/// `3 (sort)`, the name escaped (it is the process's own choice).
pub fn who(p: &Proc) -> String {
    format!("{} ({})", p.pid, escape::message(&p.comm))
}

/// `pipe 2`, `fifo 1`, `socket 3`.
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
mod tests {
    use super::super::scan::LinkKind;
    use super::*;

    fn proc(pid: i32, comm: &str, call: &str, fd: Option<i32>, writing: bool) -> Proc {
        Proc {
            pid,
            comm: comm.into(),
            state: "S".into(),
            call: Some(call.into()),
            fd,
            writing,
            ..Proc::default()
        }
    }

    fn pipe(number: usize, w: (i32, i32), r: (i32, i32), queued: i64) -> Link {
        Link {
            number,
            kind: LinkKind::Pipe,
            inode: number as u64,
            dev: 0,
            writers: vec![Holder { pid: w.0, fd: w.1 }],
            readers: vec![Holder { pid: r.0, fd: r.1 }],
            queued: Some(queued),
            capacity: Some(65536),
            no_reader: false,
            no_writer: false,
        }
    }

    #[test]
    fn the_issue_example_sentence() {
        let procs = [
            proc(1, "cat", "write", Some(1), true),
            proc(2, "grep", "write", Some(1), true),
            proc(3, "sort", "wait4", None, false),
        ];
        let links = [
            pipe(1, (1, 1), (2, 0), 65536),
            pipe(2, (2, 1), (3, 0), 65536),
        ];
        let v = judge(&procs, &links);
        assert_eq!(v.state, "stuck");
        assert_eq!(
            v.sentence,
            "3 (sort) reads nothing: blocked in wait4; pipe 2 full (64 KiB), 2 (grep) \
             blocked writing to it, 1 (cat) blocked writing to pipe 1 (full)"
        );
        assert_eq!(v.pids, [3, 2, 1]);
    }

    #[test]
    fn a_producer_waiting_on_a_tty_starves_the_rest() {
        let mut producer = proc(1, "producer", "read", Some(0), false);
        producer.fd_what = Some("/dev/pts/3".into());
        let procs = [producer, proc(2, "grep", "read", Some(0), false)];
        let links = [pipe(1, (1, 1), (2, 0), 0)];
        let v = judge(&procs, &links);
        assert_eq!(v.state, "stuck");
        assert_eq!(
            v.sentence,
            "1 (producer) writes nothing: blocked in read on fd 0 (/dev/pts/3); \
             2 (grep) waits reading pipe 1 (empty)"
        );
        assert_eq!(v.pids, [1, 2]);
    }

    #[test]
    fn a_reader_that_still_reads_is_the_slowest_stage() {
        let mut sink = proc(2, "sink", "read", Some(0), false);
        sink.state = "R".into();
        sink.read_rate = Some(1e6);
        let mut producer = proc(1, "producer", "write", Some(1), true);
        producer.write_rate = Some(2e6);
        let v = judge(&[producer, sink], &[pipe(1, (1, 1), (2, 0), 65536)]);
        assert_eq!(v.state, "flowing");
        assert_eq!(
            v.sentence,
            "flowing: 2.0 MB/s through pipe 1; the slowest stage is 2 (sink) (pipe 1 full)"
        );
    }

    #[test]
    fn no_reader_names_the_writer() {
        let mut l = pipe(1, (1, 1), (2, 0), 0);
        l.readers.clear();
        l.no_reader = true;
        let v = judge(&[proc(1, "tick", "rt_sigtimedwait", None, false)], &[l]);
        assert_eq!(v.state, "stuck");
        assert_eq!(
            v.sentence,
            "pipe 1 has no reader: 1 (tick) gets EPIPE (or SIGPIPE) on its next write"
        );
        assert_eq!(v.pids, [1]);
    }

    #[test]
    fn idle_done_and_names_escaped() {
        let mut a = proc(1, "a\u{1b}[2J", "nanosleep", None, false);
        a.write_rate = Some(0.0);
        let links = [pipe(1, (1, 1), (2, 0), 0)];
        let v = judge(std::slice::from_ref(&a), &links);
        assert_eq!(v.state, "idle", "{v:?}");
        assert_eq!(who(&a), "1 (a\\e[2J)");
        a.state = "Z".into();
        assert_eq!(judge(&[a], &links).state, "done");
        assert_eq!(size(65536), "64 KiB");
        assert_eq!(size(1 << 20), "1 MiB");
    }
}
