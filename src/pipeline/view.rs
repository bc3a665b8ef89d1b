//! A snapshot as text (one line per link with a fill bar, one per process, the
//! verdict; redrawn in place on a terminal) or as one `pipeline` JSON line.

use std::io::{self, Write};
use std::time::Duration;

use owo_colors::OwoColorize;
use serde::Serialize;
use serde_json::{Value, json};

use super::verdict::{name, size, who};
use super::{Config, Link, Proc, Snapshot};
use crate::escape;
use crate::event::{Family, Payload};
use crate::output::{Format, StdStream, columns, human_rate, json};

const BAR: usize = 20;

pub struct View {
    format: Format,
    color: bool,
    redraw: bool,
    /// Lines drawn last time, to move back over them.
    drawn: usize,
    width: usize,
    /// `--pgid`: the group watched, and the note when it is the group of the pid given.
    group: Option<(i32, Option<String>)>,
}

impl View {
    pub fn new(cfg: &Config, group: Option<(i32, Option<String>)>) -> View {
        View {
            format: cfg.format,
            color: cfg.color,
            redraw: cfg.redraw,
            drawn: 0,
            width: columns(StdStream::Stdout).0,
            group,
        }
    }

    pub fn show(&mut self, out: &mut impl Write, t: Duration, s: &Snapshot) -> io::Result<()> {
        match self.format {
            Format::Json => json::line(out, t, &SnapshotLine::of(s, self.group.as_ref())),
            _ => self.text(out, t, s),
        }
    }

    fn text(&mut self, out: &mut impl Write, t: Duration, s: &Snapshot) -> io::Result<()> {
        let mut lines = vec![format!(
            "{:>10.6}  {} processes, {} links",
            t.as_secs_f64(),
            s.processes.len(),
            s.links.len()
        )];
        let group_note = self.group.as_ref().and_then(|g| g.1.as_ref());
        for n in group_note.into_iter().chain(&s.note) {
            lines.push(format!("note: {}", escape::message(n)));
        }
        for l in &s.links {
            lines.extend(link_lines(l, &s.processes));
        }
        lines.extend(s.processes.iter().map(process_line));
        let verdict = format!("verdict: {}", s.verdict.sentence);
        if self.redraw && self.drawn > 0 {
            // Back to the first line drawn last time, and clear to the end of screen.
            write!(out, "\x1b[{}A\x1b[J", self.drawn)?;
        }
        for l in &lines {
            writeln!(out, "{}", self.fit(l))?;
        }
        let v = self.fit(&verdict);
        match (self.color, s.verdict.state) {
            (true, "stuck") => writeln!(out, "{}", v.red().bold())?,
            (true, "flowing") => writeln!(out, "{}", v.green())?,
            _ => writeln!(out, "{v}")?,
        }
        self.drawn = lines.len() + 1;
        if !self.redraw {
            writeln!(out)?;
        }
        Ok(())
    }

    /// A line cut to the width when redrawing (a wrapped line would break the count
    /// of lines to move back over).
    fn fit(&self, l: &str) -> String {
        if self.redraw && l.chars().count() > self.width {
            l.chars().take(self.width).collect()
        } else {
            l.to_owned()
        }
    }
}

/// `1201:1 (cat), 1305:1 (tee)`, or `nobody`.
fn holders(hs: &[super::Holder], procs: &[Proc]) -> String {
    if hs.is_empty() {
        return "nobody".to_owned();
    }
    hs.iter()
        .map(|h| {
            let comm = procs
                .iter()
                .find(|p| p.pid == h.pid)
                .map_or(String::new(), |p| escape::message(&p.comm));
            format!("{}:{} ({comm})", h.pid, h.fd)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A pipe's line, `  pipe 2  1201:1 (cat) -> 1202:0 (grep)  [##########..........]
/// 32 KiB / 64 KiB  50%`; a socket's line and one per direction.
fn link_lines(l: &Link, procs: &[Proc]) -> Vec<String> {
    if l.kind.socket() {
        return socket_lines(l, procs);
    }
    let Some(f) = l.flows.first() else {
        return Vec::new();
    };
    let mut s = format!(
        "  {:<9} {} -> {}",
        name(l),
        holders(&f.writers, procs),
        holders(&f.readers, procs)
    );
    if let Some(path) = &l.path {
        s.push_str(&format!("  {}", escape::message(path)));
    }
    match (f.queued, f.capacity) {
        (Some(q), Some(c)) if c > 0 => {
            let filled = ((q.min(c) as usize * BAR) / c as usize).min(BAR);
            s.push_str(&format!(
                "  [{}{}] {} / {} {:>3}%",
                "#".repeat(filled),
                ".".repeat(BAR - filled),
                size(q),
                size(c),
                q.min(c) * 100 / c
            ));
        }
        (Some(q), _) => s.push_str(&format!("  queued {}", size(q))),
        _ => s.push_str("  queue unknown"),
    }
    if f.no_reader {
        s.push_str("  no reader");
    }
    if f.no_writer {
        s.push_str("  no writer");
    }
    vec![s]
}

/// `  unix 1    5001:3 (w) <-> 5002:4 (r)  /tmp/sock`, then per direction
/// `            5001 -> 5002  queued 212 KiB  full: the sender's buffer (208 KiB)`.
fn socket_lines(l: &Link, procs: &[Proc]) -> Vec<String> {
    let side = |i: usize| {
        l.ends
            .get(i)
            .map_or("nobody".to_owned(), |e| holders(&e.holders, procs))
    };
    let mut head = format!("  {:<9} {} <-> {}", name(l), side(0), side(1));
    let addrs: Vec<String> = l
        .ends
        .iter()
        .filter_map(|e| e.address.as_deref().map(escape::message))
        .collect();
    match (&l.kind, &l.path) {
        (super::LinkKind::Unix, Some(p)) => head.push_str(&format!("  {}", escape::message(p))),
        (super::LinkKind::Tcp, _) if !addrs.is_empty() => {
            head.push_str(&format!("  {}", addrs.join(" <-> ")))
        }
        _ => {}
    }
    if l.peer_lost {
        head.push_str("  peer lost");
    }
    let pids = |hs: &[super::Holder]| match hs.first() {
        Some(h) => h.pid.to_string(),
        None => "nobody".to_owned(),
    };
    let mut lines = vec![head];
    for f in &l.flows {
        let mut s = format!("{:12}{} -> {}", "", pids(&f.writers), pids(&f.readers));
        match f.queued {
            Some(q) => s.push_str(&format!("  queued {}", size(q))),
            None => s.push_str("  queue unknown"),
        }
        if let Some(u) = f.unacked.filter(|&u| u > 0) {
            s.push_str(&format!(" ({} not yet acknowledged)", size(u)));
        }
        if let (Some(w), Some(r)) = (f.sndbuf, f.rcvbuf) {
            s.push_str(&format!("  buffers: send {}, receive {}", size(w), size(r)));
        }
        if f.full {
            let by = match f.limit.as_slice() {
                [] => String::new(),
                v => format!(": the {} buffer", v.join("'s and the ") + "'s"),
            };
            s.push_str(&format!("  full{by}"));
        }
        lines.push(s);
    }
    lines
}

/// `  1201 (cat)  S  write on fd 1  read 0.0 B/s  write 1.2 MB/s`
fn process_line(p: &Proc) -> String {
    let mut s = format!("  {:<24} {:<2}", who(p), p.state);
    if let Some(e) = &p.error {
        s.push_str(&format!(" {}", escape::message(e)));
        return s;
    }
    if let Some(x) = &p.exit {
        s.push_str(&format!(" exited: {x}"));
    }
    match (&p.call, p.fd) {
        (Some(c), Some(fd)) => s.push_str(&format!(" {} on fd {fd}", escape::message(c))),
        (Some(c), None) => s.push_str(&format!(" {}", escape::message(c))),
        _ => {}
    }
    if let (Some(r), Some(w)) = (p.read_rate, p.write_rate) {
        s.push_str(&format!(
            "  read {}  write {}",
            human_rate(r),
            human_rate(w)
        ));
    }
    s
}

fn process(p: &Proc) -> Value {
    json!({
        "pid": p.pid,
        "comm": p.comm,
        "state": p.state,
        "call": p.call,
        "fd": p.fd,
        "waits": p.waits.iter().map(|w| json!({"fd": w.fd, "read": w.read, "write": w.write})).collect::<Vec<_>>(),
        "read_rate": p.read_rate,
        "write_rate": p.write_rate,
        "exit": p.exit,
        "error": p.error,
    })
}

fn link(l: &Link) -> Value {
    let ends = |hs: &[super::Holder]| -> Vec<Value> {
        hs.iter()
            .map(|h| json!({"pid": h.pid, "fd": h.fd}))
            .collect()
    };
    let sum =
        |get: fn(&super::LinkFlow) -> Option<i64>| -> Option<i64> { l.flows.iter().map(get).sum() };
    let first = l.flows.first();
    let mut v = json!({
        "number": l.number,
        "kind": l.kind.word(),
        "inode": l.inode,
        "path": l.path,
        "writers": ends(&holders_of(l, |f| &f.writers)),
        "readers": ends(&holders_of(l, |f| &f.readers)),
        "queued": sum(|f| f.queued),
        "capacity": first.and_then(|f| f.capacity),
        "full": l.flows.iter().any(|f| f.full),
        "no_reader": l.flows.iter().any(|f| f.no_reader),
        "no_writer": l.flows.iter().any(|f| f.no_writer),
    });
    if l.kind.socket() {
        let at = |hs: &[super::Holder]| {
            l.ends
                .iter()
                .position(|e| !hs.is_empty() && e.holders == hs)
        };
        v["peer_lost"] = json!(l.peer_lost);
        v["ends"] = l
            .ends
            .iter()
            .map(|e| json!({"inode": e.inode, "address": e.address, "holders": ends(&e.holders)}))
            .collect();
        v["directions"] = l
            .flows
            .iter()
            .map(|f| {
                json!({
                    "from": at(&f.writers),
                    "to": at(&f.readers),
                    "queued": f.queued,
                    "unacked": f.unacked,
                    "sndbuf": f.sndbuf,
                    "rcvbuf": f.rcvbuf,
                    "full": f.full,
                    "limit": f.limit,
                })
            })
            .collect();
    }
    v
}

/// One snapshot as a `pipeline` JSON line. Its objects are serde_json's maps, their
/// keys in sorted order.
#[derive(Serialize)]
pub struct SnapshotLine<'a> {
    processes: Vec<Value>,
    links: Vec<Value>,
    note: &'a Option<String>,
    pgid: Option<i32>,
    verdict: Value,
}

impl Payload for SnapshotLine<'_> {
    const NAME: &'static str = "pipeline";
    const FAMILY: Family = Family::Pipeline;
}

impl SnapshotLine<'_> {
    pub fn of<'a>(s: &'a Snapshot, group: Option<&(i32, Option<String>)>) -> SnapshotLine<'a> {
        SnapshotLine {
            processes: s.processes.iter().map(process).collect(),
            links: s.links.iter().map(link).collect(),
            note: &s.note,
            pgid: group.map(|g| g.0),
            verdict: json!({
                "state": s.verdict.state,
                "sentence": s.verdict.sentence,
                "pids": s.verdict.pids,
            }),
        }
    }
}

/// Every holder on one side of any of the link's flows, once each, in order.
fn holders_of(l: &Link, side: fn(&super::LinkFlow) -> &Vec<super::Holder>) -> Vec<super::Holder> {
    let mut v: Vec<super::Holder> = Vec::new();
    for h in l.flows.iter().flat_map(|f| side(f).iter()) {
        if !v.contains(h) {
            v.push(*h);
        }
    }
    v
}
