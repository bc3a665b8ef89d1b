//! Watch mode, one-shot: open the targets, register them, wait once (EINTR retried
//! with the time left on the monotonic clock), report each ready fd, exit 0 or 1.

use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::resource::{Resource, getrlimit, setrlimit};

use crate::backend::{self, Backend, Mode, Readiness, Registered};
use crate::cli::Args;
use crate::describe;
use crate::error::{Error, Result};
use crate::event::{Event, Summary};
use crate::open::WatchSet;
use crate::output::{self, Printer};
use crate::timeout::{Deadline, Timeout};

/// How often a write-side FIFO with no reader is re-opened (bounded, never a spin).
const RETRY: Duration = Duration::from_millis(100);

/// Raises the soft RLIMIT_NOFILE to the hard limit, so large fd sets fit.
fn raise_nofile_limit() {
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        // Failure only means the old limit stays; opening will say if it matters.
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// Events go through here: stamped, counted, printed.
struct Reporter<'w> {
    out: Box<dyn Printer + 'w>,
    start: Instant,
    events: u64,
    verbose: bool,
}

impl Reporter<'_> {
    fn emit(&mut self, ev: &Event<'_>) -> Result<()> {
        if !self.verbose && matches!(ev, Event::Wait { .. } | Event::Note { .. }) {
            return Ok(());
        }
        if ev.counts() {
            self.events += 1;
        }
        self.out
            .event(self.start.elapsed(), ev)
            .map_err(Error::Output)
    }

    fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(Error::Output)
    }
}

pub fn run(args: &Args) -> Result<u8> {
    let start = Instant::now();
    raise_nofile_limit();
    let mut set = WatchSet::open(&args.specs)?;
    let mode = Mode {
        edge: args.edge,
        oneshot: args.oneshot,
    };
    let mut backend = backend::new(args.backend, mode)?;

    let stdout = io::stdout();
    let color = output::use_color(
        args.color,
        std::env::var("NO_COLOR").ok().as_deref(),
        std::env::var("CLICOLOR_FORCE").ok().as_deref(),
        stdout.is_terminal(),
    );
    let sink = io::BufWriter::new(stdout.lock());
    let mut rep = Reporter {
        out: output::printer(args.format, args.time, color, args.quiet, sink),
        start,
        events: 0,
        verbose: args.verbose,
    };

    for i in 0..set.fds.len() {
        register(&mut *backend, &set, i, &mut rep)?;
    }
    for p in &set.pending {
        rep.emit(&Event::Error {
            fd: None,
            what: &p.what,
            errno: Errno::ENXIO,
            message: "no reader yet; retrying the open",
        })?;
    }
    rep.flush()?;

    let deadline = Deadline::new(args.timeout, start);
    let mut ready: Vec<Readiness> = Vec::with_capacity(set.fds.len());
    let mut waits = 0u64;
    let mut blocked = Duration::ZERO;
    loop {
        let remaining = deadline.remaining(Instant::now());
        let slice = match (set.pending.is_empty(), remaining) {
            (true, r) => r,
            (false, None) => Some(RETRY),
            (false, Some(r)) => Some(r.min(RETRY)),
        };
        ready.clear();
        let t0 = Instant::now();
        let res = backend.wait(slice, None, &mut ready);
        let took = t0.elapsed();
        blocked += took;
        waits += 1;
        rep.emit(&Event::Wait {
            call: backend.call(),
            timeout: slice,
            blocked: took,
            result: res,
        })?;
        match res {
            Ok(n) if n > 0 => break,
            // A signal interrupted the wait: go on with the time left (recomputed above).
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys(args.backend.name(), backend.call(), e)),
            Ok(_) => {}
        }
        if deadline.remaining(Instant::now()) == Some(Duration::ZERO) {
            break;
        }
        for i in set.retry_pending()? {
            register(&mut *backend, &set, i, &mut rep)?;
        }
    }

    // Report in the order the specs named the fds, whatever order the backend used.
    ready.sort_unstable_by_key(|r| r.token);
    for r in &ready {
        let w = &set.fds[r.token];
        let fd = w.borrow();
        rep.emit(&Event::Ready {
            fd: w.fd,
            what: &w.desc.what,
            kind: w.desc.kind.name(),
            cond: r.cond,
            raw: r.raw,
            backend: args.backend.name(),
            queued: describe::queued(fd, w.desc.kind),
            pipe_size: describe::pipe_size(fd, w.desc.kind),
        })?;
    }
    let now = Instant::now();
    if ready.is_empty()
        && let Timeout::After(t) = args.timeout
    {
        rep.emit(&Event::Timeout { timeout: t })?;
    }
    let summary = Summary {
        backend: args.backend.name(),
        waits,
        events: rep.events,
        ready_fds: ready.len() as u64,
        blocked,
        timeout: args.timeout,
        left: deadline.remaining(now),
        elapsed: now.duration_since(start),
    };
    rep.emit(&Event::Summary(&summary))?;
    rep.flush()?;
    // Watched fds stay registered until the process ends: the epoll instance and the
    // owned fds close together at exit, and inherited fds are never touched.
    Ok(if ready.is_empty() { 1 } else { 0 })
}

/// Registers `set.fds[i]`, saying under `-v` when epoll refused it and poll stands in.
fn register(
    backend: &mut dyn Backend,
    set: &WatchSet,
    i: usize,
    rep: &mut Reporter<'_>,
) -> Result<()> {
    let w = &set.fds[i];
    if let Registered::PollFallback(e) = backend.add(w.fd, i, w.interest)? {
        let msg = format!(
            "epoll_ctl refused {} ({e:?}); poll checks it instead (files and devices are always ready)",
            w.desc.what
        );
        rep.emit(&Event::Note {
            fd: Some(w.fd),
            message: &msg,
        })?;
    }
    Ok(())
}
