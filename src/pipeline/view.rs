//! A snapshot as text (one line per link with a fill bar, one per process, the
//! verdict; redrawn in place on a terminal) or as one `pipeline` JSON line.

use std::io::{self, Write};
use std::time::Duration;

use owo_colors::OwoColorize;
use serde_json::{Value, json};

use super::verdict::{name, size, who};
use super::{Config, Link, Proc, Snapshot};
use crate::escape;
use crate::output::schema::Family;
use crate::output::{Format, Stream, columns, human_rate, json};

const BAR: usize = 20;

pub struct View {
    format: Format,
    color: bool,
    redraw: bool,
    /// Lines drawn last time, to move back over them.
    drawn: usize,
    width: usize,
}

impl View {
    pub fn new(cfg: &Config) -> View {
        View {
            format: cfg.format,
            color: cfg.color,
            redraw: cfg.redraw,
            drawn: 0,
            width: columns(Stream::Stdout).0,
        }
    }

    pub fn show(&mut self, out: &mut impl Write, t: Duration, s: &Snapshot) -> io::Result<()> {
        match self.format {
            Format::Json => json::line(out, Family::Pipeline, "pipeline", t, |l| {
                l.field(
                    "processes",
                    &s.processes.iter().map(process).collect::<Vec<_>>(),
                )?;
                l.field("links", &s.links.iter().map(link).collect::<Vec<_>>())?;
                l.field(
                    "verdict",
                    &json!({
                        "state": s.verdict.state,
                        "sentence": s.verdict.sentence,
                        "pids": s.verdict.pids,
                    }),
                )
            }),
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
        lines.extend(s.links.iter().map(|l| link_line(l, &s.processes)));
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

/// `  pipe 2  1201:1 (cat) -> 1202:0 (grep)  [##########..........]  32 KiB / 64 KiB  50%`
fn link_line(l: &Link, procs: &[Proc]) -> String {
    let ends = |hs: &[super::Holder]| {
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
    };
    let mut s = format!(
        "  {:<9} {} -> {}",
        name(l),
        ends(&l.writers),
        ends(&l.readers)
    );
    if let super::LinkKind::Fifo(path) = &l.kind {
        s.push_str(&format!("  {}", escape::message(path)));
    }
    match (l.queued, l.capacity) {
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
    if l.no_reader {
        s.push_str("  no reader");
    }
    if l.no_writer {
        s.push_str("  no writer");
    }
    s
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
    let path = match &l.kind {
        super::LinkKind::Fifo(p) => Some(p.as_str()),
        _ => None,
    };
    json!({
        "number": l.number,
        "kind": l.kind.word(),
        "inode": l.inode,
        "path": path,
        "writers": ends(&l.writers),
        "readers": ends(&l.readers),
        "queued": l.queued,
        "capacity": l.capacity,
        "no_reader": l.no_reader,
        "no_writer": l.no_writer,
    })
}
