//! Scale and leak tests (monitor mode, `--format json`):
//!
//! 1. Thousands of FIFOs watched at once with poll and with epoll, written by many
//!    threads at random: every token written arrives exactly once, in the FIFO it was
//!    written to, and fdwatch's wall time, CPU time (wait4 rusage) and peak RSS
//!    (VmHWM) are printed. The 16,000-FIFO version is `#[ignore]`d (run it in release:
//!    `cargo test --release --test it scale:: -- --ignored --nocapture`); a 1,000-FIFO
//!    version always runs.
//! 2. No leaks: after thousands of accepted and closed TCP connections, and after
//!    1,000 FIFO reopen cycles, fdwatch's open-fd count is back to its value after a
//!    warm-up and its RSS has not grown by more than 1 MiB.
//!
//! Real kernel objects (FIFOs, loopback TCP), the real binary, its JSON parsed.
//! Synchronization is on fdwatch's events, on ENXIO from a FIFO with no reader yet,
//! and on /proc state (`wait_blocked`); never on sleeps (the only sleeps are 1 ms steps
//! of polling loops under a deadline). Each run is stopped with SIGTERM (fdwatch prints
//! its summary, then dies by that signal) and reaped with wait4 for its rusage. A pidfd
//! watchdog kills a run that outlives its limit, so a bug fails instead of hanging.
//! Every fd made here is close-on-exec.

use std::collections::HashMap;
use std::net::TcpStream;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use serde_json::Value;

// Shared helpers ------------------------------------------------------------------

/// fdwatch's open fds and resident memory at one moment, taken while it sleeps in its
/// wait (so nothing is half done).
#[derive(Clone, Copy, Debug)]
struct Usage {
    fds: usize,
    rss_kib: u64,
}

fn usage_when_blocked(pid: u32) -> Usage {
    wait_blocked(pid);
    Usage {
        fds: fd_count(pid),
        rss_kib: status_kib(pid, "VmRSS"),
    }
}

/// A reaped child: its wait status and CPU time.
struct Reaped {
    status: libc::c_int,
    user: f64,
    sys: f64,
}

impl Reaped {
    fn cpu(&self) -> f64 {
        self.user + self.sys
    }

    fn by_sigterm(&self) -> bool {
        libc::WIFSIGNALED(self.status) && libc::WTERMSIG(self.status) == libc::SIGTERM
    }
}

/// Reaps `pid` (our child, not reaped yet) with wait4, for its rusage.
fn reap_with_rusage(label: &str, pid: u32) -> Reaped {
    let pid = libc::pid_t::try_from(pid).expect("pid");
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our unreaped child; status and ru are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        assert_eq!(Errno::last(), Errno::EINTR, "{label}: wait4");
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Reaped {
        status,
        user: tv(ru.ru_utime),
        sys: tv(ru.ru_stime),
    }
}

/// Stops a monitor run with SIGTERM: its output ends with a TERM `signal` event and
/// the summary; it dies by SIGTERM. Returns the events after the signal was sent, the
/// summary, and the reaped status.
fn stop_with_sigterm(label: &str, pid: u32, out: &mut EventStream) -> (Vec<Value>, Value, Reaped) {
    signal_pid(pid, Signal::SIGTERM);
    let tail = out.rest();
    let reaped = reap_with_rusage(label, pid);
    assert!(
        reaped.by_sigterm(),
        "{label}: fdwatch should die by SIGTERM after its summary; wait status {:#x}; \
         last events {:?}",
        reaped.status,
        &tail[tail.len().saturating_sub(3)..]
    );
    let n = tail.len();
    assert!(
        n >= 2 && tail[n - 1]["event"] == "summary" && tail[n - 2]["event"] == "signal",
        "{label}: a TERM signal event, then the summary, last: {:?}",
        &tail[n.saturating_sub(3)..]
    );
    assert_eq!(tail[n - 2]["name"], "TERM", "{label}: {}", tail[n - 2]);
    let summary = tail[n - 1].clone();
    (tail, summary, reaped)
}

fn kib_to_mib(k: u64) -> f64 {
    k as f64 / 1024.0
}

// 1. Scale: thousands of FIFOs, random writers -------------------------------------
//
// Why FIFOs: with pipes the test would hold both ends of every pipe (2 fds each) and
// pass the read ends to fdwatch, which holds its own copies: 16,000 pipes are 32,000
// fds in this process alone, over the 20,000 RLIMIT_NOFILE hard limit. With FIFOs
// fdwatch opens each read end itself from a PATH spec (in its own process, under its
// own RLIMIT_NOFILE: 16,000 fds plus a few), and this process holds only the write
// ends: 16,000 fds plus its own few, under 20,000. The read ends exist only in
// fdwatch. The 16,000 paths go on fdwatch's command line: about 33 bytes each plus an
// 8-byte argv pointer, some 660 KB, well within ARG_MAX (checked below).
//
// Synchronization: each write end is opened O_WRONLY|O_NONBLOCK, which fails with
// ENXIO until fdwatch has opened that FIFO's read end; the test retries (1 ms steps,
// under a deadline) until it succeeds. Then O_NONBLOCK is cleared on the test's own
// open file description, so a write into a full FIFO waits for fdwatch to read
// instead of failing. The writers start once fdwatch sleeps in its wait with every
// read end registered (`wait_blocked`), so they run against its event loop. Tokens
// are under PIPE_BUF, so each write is atomic: a token is never split by another
// writer's bytes. Each writer keeps at most WINDOW tokens not yet seen in fdwatch's
// output (a credit comes back through a channel as each is seen), so the run is many
// waits with a few hundred active fds among thousands idle (where poll and epoll
// differ), not one burst that the FIFOs buffer and a handful of waits drain. The run
// ends once every token has been seen in fdwatch's `data` events.

/// Tokens each writer may have written but not yet seen reported.
const WINDOW: usize = 4;

const SEED: u64 = 0x5eed_f00d_d15e_a5e5;

/// Writer `w`'s token number `k`, with its newline.
fn token(w: usize, k: usize) -> String {
    format!("w{w}-{k}\n")
}

/// `w{w}-{k}` (no newline) back to (w, k).
fn parse_token(s: &str) -> Option<(usize, usize)> {
    let (w, k) = s.strip_prefix('w')?.split_once('-')?;
    Some((w.parse().ok()?, k.parse().ok()?))
}

/// `--read=text` in JSON is the bytes themselves (JSON's escapes only). Tokens hold
/// only [a-z0-9-] and a newline, so any other character is corruption.
fn token_text(text: &str) -> Result<String, String> {
    if let Some(c) = text
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '\n'))
    {
        return Err(format!("unexpected {c:?} in {text:?}"));
    }
    Ok(text.to_owned())
}

/// The FIFO index of `what` (`fifo /tmp/fdwatch-test-XXXXXX/f123`).
fn fifo_index(what: &str) -> Option<usize> {
    let path = what.strip_prefix("fifo ")?;
    path.rsplit('/').next()?.strip_prefix('f')?.parse().ok()
}

/// Bytes an exec of `args` (plus this environment) needs below ARG_MAX: the strings
/// with their NULs, and one pointer per string.
fn exec_bytes(args: &[String]) -> usize {
    let ptr = std::mem::size_of::<usize>();
    let argv: usize = args.iter().map(|a| a.len() + 1 + ptr).sum();
    let env: usize = std::env::vars_os()
        .map(|(k, v)| k.len() + v.len() + 2 + ptr)
        .sum();
    argv + env + bin().len() + 1 + 2 * ptr
}

/// Opens `path` for writing once fdwatch has opened its read end (ENXIO until then),
/// then makes the test's write end blocking.
fn writer_once_read_end_is_open(label: &str, path: &Path, pid: u32, deadline: Instant) -> OwnedFd {
    let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = loop {
        match nix::fcntl::open(path, flags, Mode::empty()) {
            Ok(fd) => break fd,
            Err(Errno::ENXIO) => {
                assert_ne!(
                    proc_state(pid),
                    Some('Z'),
                    "{label}: fdwatch exited before opening {}",
                    path.display()
                );
                assert!(
                    Instant::now() < deadline,
                    "{label}: fdwatch never opened the read end of {} (ENXIO)",
                    path.display()
                );
                thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("{label}: opening {} for writing: {e}", path.display()),
        }
    };
    // Only this process's open file description: fdwatch's read end is its own.
    let fl = status_flags(&fd);
    fcntl(&fd, FcntlArg::F_SETFL(fl - OFlag::O_NONBLOCK)).expect("F_SETFL");
    fd
}

/// Writer `w`: its tokens, each to the FIFO its plan names, one atomic write each, at
/// most `window` of them not yet seen in fdwatch's output (a credit comes back on
/// `credits` for each one seen).
fn write_tokens(
    w: usize,
    plan: &[usize],
    fifos: &[OwnedFd],
    window: usize,
    credits: Receiver<()>,
) -> Result<(), String> {
    let mut ahead = 0;
    for (k, &f) in plan.iter().enumerate() {
        if ahead == window {
            // Err: the test stopped reading (fdwatch ended); it reports why.
            credits
                .recv()
                .map_err(|_| format!("writer {w}: stopped before token {k}"))?;
            ahead -= 1;
        }
        ahead += 1;
        let t = token(w, k);
        match nix::unistd::write(fifos[f].as_fd(), t.as_bytes()) {
            Ok(n) if n == t.len() => {}
            Ok(n) => return Err(format!("writer {w}: token {k}: short write {n}")),
            Err(e) => return Err(format!("writer {w}: token {k} to FIFO {f}: {e}")),
        }
    }
    Ok(())
}

/// What the scale run saw: where each token went, and what was wrong.
struct Tally<'a> {
    plan: &'a [Vec<usize>],
    /// Per writer, per token: times seen.
    seen: Vec<Vec<u8>>,
    distinct: usize,
    /// fdwatch's fd number -> FIFO index (from `what`), fixed for the run.
    fd_fifo: HashMap<i64, usize>,
    /// Per FIFO: bytes after the last newline (a token not complete yet), and the
    /// `total` of its last data event.
    partial: Vec<String>,
    totals: Vec<u64>,
    data_events: usize,
    bad: Vec<String>,
    /// Writers of the tokens seen since the caller last took them (one entry per
    /// token): each is owed a credit.
    fresh: Vec<usize>,
}

impl<'a> Tally<'a> {
    fn new(plan: &'a [Vec<usize>], nfifos: usize) -> Tally<'a> {
        Tally {
            fresh: Vec::new(),
            plan,
            seen: plan.iter().map(|p| vec![0; p.len()]).collect(),
            distinct: 0,
            fd_fifo: HashMap::new(),
            partial: vec![String::new(); nfifos],
            totals: vec![0; nfifos],
            data_events: 0,
            bad: Vec::new(),
        }
    }

    fn complain(&mut self, msg: String) {
        // Enough to see the pattern; the count is in the final message.
        if self.bad.len() < 50 {
            self.bad.push(msg);
        } else if self.bad.len() == 50 {
            self.bad.push("(more problems not listed)".to_owned());
        }
    }

    /// One event of the writing phase.
    fn event(&mut self, e: &Value) {
        match e["event"].as_str() {
            Some("data") => self.data(e),
            // One ready event per FIFO at its first write; no wait events without -v.
            Some("ready") => {}
            // The writers hold every write end for the whole run: no end of file, no
            // hang-up, no error, no summary before SIGTERM.
            _ => self.complain(format!("unexpected event while writing: {e}")),
        }
    }

    fn data(&mut self, e: &Value) {
        self.data_events += 1;
        let (Some(fd), Some(what), Some(text), Some(bytes), Some(total)) = (
            e["fd"].as_i64(),
            e["what"].as_str(),
            e["text"].as_str(),
            e["bytes"].as_u64(),
            e["total"].as_u64(),
        ) else {
            return self.complain(format!("malformed data event: {e}"));
        };
        let Some(f) = fifo_index(what).filter(|&f| f < self.partial.len()) else {
            return self.complain(format!("data from an unknown file: {e}"));
        };
        if let Some(&was) = self.fd_fifo.get(&fd)
            && was != f
        {
            return self.complain(format!("fd {fd} was FIFO {was}, now {what}: {e}"));
        }
        self.fd_fifo.insert(fd, f);
        if e["peek"] != false {
            self.complain(format!("a peek with --read=text: {e}"));
        }
        let plain = match token_text(text) {
            Ok(p) => p,
            Err(m) => return self.complain(format!("FIFO {f}: {m}: {e}")),
        };
        if plain.len() as u64 != bytes {
            self.complain(format!("FIFO {f}: {bytes} bytes but text {text:?}: {e}"));
        }
        if total != self.totals[f] + bytes {
            self.complain(format!(
                "FIFO {f}: total {total} after {} + {bytes} bytes: {e}",
                self.totals[f]
            ));
        }
        self.totals[f] = total;
        let mut buf = std::mem::take(&mut self.partial[f]);
        buf.push_str(&plain);
        let mut rest = buf.as_str();
        while let Some((tok, after)) = rest.split_once('\n') {
            self.token(f, tok);
            rest = after;
        }
        self.partial[f] = rest.to_owned();
    }

    fn token(&mut self, f: usize, tok: &str) {
        let Some((w, k)) =
            parse_token(tok).filter(|&(w, k)| w < self.plan.len() && k < self.plan[w].len())
        else {
            return self.complain(format!("FIFO {f}: not a token written: {tok:?}"));
        };
        let want = self.plan[w][k];
        if want != f {
            self.complain(format!(
                "token {tok} written to FIFO {want} came from FIFO {f}"
            ));
        }
        self.seen[w][k] = self.seen[w][k].saturating_add(1);
        match self.seen[w][k] {
            1 => {
                self.distinct += 1;
                self.fresh.push(w);
            }
            n => self.complain(format!("token {tok} (FIFO {want}) reported {n} times")),
        }
    }

    fn missing(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (w, s) in self.seen.iter().enumerate() {
            for (k, &n) in s.iter().enumerate() {
                if n == 0 {
                    v.push(format!("w{w}-{k} (FIFO {})", self.plan[w][k]));
                }
            }
        }
        v
    }
}

/// `fdwatch -m -b BACKEND --format json --read=text FIFO...` on `nfifos` FIFOs;
/// `writers` threads write `per_writer` tokens each to FIFOs picked at random.
fn fifo_scale(
    backend: &str,
    nfifos: usize,
    writers: usize,
    per_writer: usize,
    window: usize,
    limit: Duration,
) {
    let label = format!(
        "scale -b {backend}, {nfifos} FIFOs, {writers} writers x {per_writer} tokens, \
         window {window}"
    );
    let dir = TempDir::new();
    let paths: Vec<PathBuf> = (0..nfifos).map(|i| dir.fifo(&format!("f{i}"))).collect();
    let mut args: Vec<String> = ["-m", "-b", backend, "--format", "json", "--read=text"]
        .map(String::from)
        .to_vec();
    args.extend(
        paths
            .iter()
            .map(|p| p.to_str().expect("UTF-8 temp path").to_owned()),
    );
    // SAFETY: sysconf only reads a limit.
    let arg_max = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
    let need = exec_bytes(&args);
    assert!(
        i64::try_from(need).is_ok_and(|n| n < arg_max),
        "{label}: the command line needs {need} bytes, ARG_MAX is {arg_max}"
    );

    // Where each token goes: writer w's k-th token to FIFO plan[w][k].
    let plan: Vec<Vec<usize>> = (0..writers)
        .map(|w| {
            let mut rng = XorShift::new(SEED ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            (0..per_writer)
                .map(|_| (rng.next() % nfifos as u64) as usize)
                .collect()
        })
        .collect();
    let tokens = writers * per_writer;
    let mut want_bytes = vec![0u64; nfifos];
    for (w, p) in plan.iter().enumerate() {
        for (k, &f) in p.iter().enumerate() {
            want_bytes[f] += token(w, k).len() as u64;
        }
    }

    let start = Instant::now();
    let mut child = Fdwatch::new(&args).spawn();
    let _dog = Watchdog::new(&child, limit, &label);
    let pid = child.id();
    let err = stderr_in_thread(&mut child);
    let mut out = EventStream::unkept(&mut child, &label);

    let deadline = start + limit;
    let fifos: Vec<OwnedFd> = paths
        .iter()
        .map(|p| writer_once_read_end_is_open(&label, p, pid, deadline))
        .collect();
    // Every read end registered and fdwatch asleep in its wait: the writes below wake it.
    wait_blocked(pid);
    let opened = start.elapsed();
    let cpu_at_open = cpu_seconds(pid);
    let writing = Instant::now();

    let mut tally = Tally::new(&plan, nfifos);
    let mut ended = false;
    let (writer_errors, hwm_kib, cpu_at_end): (Vec<String>, u64, f64) = thread::scope(|s| {
        // The senders live in this closure: should it panic, they drop before the scope
        // joins the writers, so a writer waiting for credit stops instead of hanging.
        let (credits, receivers): (Vec<Sender<()>>, Vec<Receiver<()>>) =
            (0..writers).map(|_| mpsc::channel()).unzip();
        let running: Vec<_> = plan
            .iter()
            .zip(receivers)
            .enumerate()
            .map(|(w, (p, credits))| {
                let fifos = &fifos;
                thread::Builder::new()
                    .name(format!("writer {w}"))
                    .spawn_scoped(s, move || write_tokens(w, p, fifos, window, credits))
                    .expect("spawn a writer")
            })
            .collect();
        // Problems are collected, and asserted once the writers are joined.
        while tally.distinct < tokens {
            match out.next() {
                Some(e) => {
                    tally.event(&e);
                    for w in tally.fresh.drain(..) {
                        // The writer may be gone already (it wrote all its tokens).
                        let _ = credits[w].send(());
                    }
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        // Peak memory and CPU, read before the writers are joined and fdwatch stopped.
        let (hwm, cpu) = if ended {
            (0, 0.0)
        } else {
            (status_kib(pid, "VmHWM"), cpu_seconds(pid))
        };
        // A writer still waiting for credit (fdwatch ended early) stops now.
        drop(credits);
        let errors = running
            .into_iter()
            .filter_map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("writer panicked".into()))
                    .err()
            })
            .collect();
        (errors, hwm, cpu)
    });
    let wall = start.elapsed().as_secs_f64();
    let writing = writing.elapsed().as_secs_f64();
    let stderr_text = || err.join().expect("stderr thread");
    assert!(
        !ended,
        "{label}: fdwatch's output ended (it died, or the watchdog killed it after \
         {limit:?}) with {} of {tokens} tokens seen; missing e.g. {:?}; problems {:?}; \
         writer errors {writer_errors:?}; stderr {:?}",
        tally.distinct,
        &tally.missing()[..tally.missing().len().min(10)],
        tally.bad,
        stderr_text()
    );
    assert!(writer_errors.is_empty(), "{label}: {writer_errors:?}");

    let (tail, summary, reaped) = stop_with_sigterm(&label, pid, &mut out);
    drop(fifos);
    let stderr_text = stderr_text();
    for e in &tail[..tail.len() - 2] {
        tally.complain(format!("after the last token: unexpected event {e}"));
    }
    for (f, p) in tally.partial.iter().enumerate() {
        if !p.is_empty() {
            let msg = format!("FIFO {f}: bytes after its last newline: {p:?}");
            tally.bad.push(msg);
        }
    }
    // The summary: one row per FIFO, with every byte written to it.
    let rows = summary["bytes"].as_array().cloned().unwrap_or_default();
    if rows.len() != nfifos {
        tally
            .bad
            .push(format!("summary has {} rows, want {nfifos}", rows.len()));
    }
    for r in &rows {
        let f = r["what"].as_str().and_then(fifo_index);
        match f.filter(|&f| f < nfifos) {
            Some(f) if r["bytes"].as_u64() == Some(want_bytes[f]) => {}
            Some(f) => tally.complain(format!(
                "summary: FIFO {f}: {} bytes, {} written",
                r["bytes"], want_bytes[f]
            )),
            None => tally.complain(format!("summary row for an unknown file: {r}")),
        }
    }
    assert!(
        tally.bad.is_empty(),
        "{label}: seed {SEED:#x}: {} problems:\n{}\nstderr {stderr_text:?}",
        tally.bad.len(),
        tally.bad.join("\n")
    );
    assert!(stderr_text.is_empty(), "{label}: stderr {stderr_text:?}");
    assert_eq!(tally.distinct, tokens, "{label}");

    eprintln!(
        "scale: {nfifos} fds, -b {backend}, {writers} writers (window {window}), {tokens} \
         tokens ({} bytes): wall {wall:.3} s = start-up (open and register, until the first \
         wait) {:.3} s + writing and reporting {writing:.3} s; fdwatch CPU {:.3} s in all (user {:.3} + sys {:.3}), \
         {:.2} s of it while writing; peak RSS (VmHWM) {hwm_kib} KiB = {:.1} MiB; {} \
         waits, {} data events, {} JSON lines",
        want_bytes.iter().sum::<u64>(),
        opened.as_secs_f64(),
        reaped.cpu(),
        reaped.user,
        reaped.sys,
        cpu_at_end - cpu_at_open,
        kib_to_mib(hwm_kib),
        summary["waits"],
        tally.data_events,
        out.count()
    );
}

/// Scale runs for poll and epoll, one after the other (the write ends of one run are
/// all this process can hold at 16,000 FIFOs, and the figures are cleaner alone).
fn scale_both_backends(
    nfifos: usize,
    writers: usize,
    per_writer: usize,
    window: usize,
    limit: Duration,
) {
    // This process holds one write end per FIFO, plus what parallel tests hold.
    let need = nfifos as u64 + 512;
    if !raise_nofile_to(need) {
        eprintln!("scale test with {nfifos} FIFOs skipped: RLIMIT_NOFILE hard limit below {need}");
        return;
    }
    for backend in ["poll", "epoll"] {
        fifo_scale(backend, nfifos, writers, per_writer, window, limit);
    }
}

#[test]
fn scale_1k_fifos_poll_and_epoll() {
    scale_both_backends(1000, 20, 1000, WINDOW, WATCHDOG);
}

#[test]
#[ignore = "16,000 FIFOs, 100,000 tokens: run in release with --ignored --nocapture"]
fn stress_16k_fifos_poll_and_epoll() {
    scale_both_backends(16_000, 100, 1000, WINDOW, Duration::from_secs(300));
}

// 2. No leaks ----------------------------------------------------------------------

/// RSS growth allowed between the warm-up and the end.
const RSS_SLACK_KIB: u64 = 1024;

/// `total` connections, one after the other: each connects, closes, and is seen
/// accepted and hung up (removed) before the next. fdwatch's fds and RSS are taken
/// after `warmup` connections and again after the last.
fn connection_leak(total: usize, warmup: usize, limit: Duration) {
    let label = format!("{total} connections");
    let start = Instant::now();
    let (mut child, _dog, port) = listen_tcp_for(
        &label,
        |spec| Fdwatch::new(["-m", "--format", "json", spec]),
        limit,
    );
    let pid = child.id();
    let err = stderr_in_thread(&mut child);
    let mut out = EventStream::unkept(&mut child, &label);
    let (mut accepts, mut hangups) = (0usize, 0usize);
    let mut at_start = None;
    let mut listener = None;
    for i in 0..total {
        if i == warmup {
            at_start = Some(usage_when_blocked(pid));
        }
        let c = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("{label}: connection {i}: connect: {e}"));
        let peer = format!("127.0.0.1:{}", c.local_addr().expect("local addr").port());
        drop(c);
        let step = format!("connection {i} (from {peer})");
        let got = out.until(&step, |e| e["event"] == "accept" || e["event"] == "hangup");
        let acc = got.last().expect("an event");
        assert_eq!(acc["event"], "accept", "{label}: {step}: {got:?}");
        assert_eq!(acc["peer"], peer.as_str(), "{label}: {step}: {acc}");
        let l = listener.get_or_insert_with(|| acc["listener"].clone());
        assert_eq!(&acc["listener"], l, "{label}: {step}: {acc}");
        accepts += 1;
        let fd = acc["fd"].clone();
        let got2 = out.until(&step, |e| e["event"] == "hangup" || e["event"] == "accept");
        let hup = got2.last().expect("an event");
        assert_eq!(hup["event"], "hangup", "{label}: {step}: {got2:?}");
        assert_eq!(hup["fd"], fd, "{label}: {step}: {hup}");
        assert_eq!(hup["action"], "remove", "{label}: {step}: {hup}");
        hangups += 1;
        for e in got.iter().chain(&got2) {
            let kind = e["event"].as_str().unwrap_or("?");
            assert!(
                ["ready", "accept", "hangup"].contains(&kind),
                "{label}: {step}: unexpected event {e}"
            );
        }
    }
    let at_end = usage_when_blocked(pid);
    let at_start = at_start.expect("warm-up shorter than the run");
    let (tail, summary, reaped) = stop_with_sigterm(&label, pid, &mut out);
    let stderr_text = err.join().expect("stderr thread");
    let wall = start.elapsed().as_secs_f64();
    eprintln!(
        "leak: {total} TCP connections accepted and closed: fdwatch fds {} after {warmup}, \
         {} after {total}; VmRSS {} KiB after {warmup}, {} KiB after {total} ({:+} KiB); \
         wall {wall:.3} s, fdwatch CPU {:.3} s; {} waits, {} events",
        at_start.fds,
        at_end.fds,
        at_start.rss_kib,
        at_end.rss_kib,
        at_end.rss_kib as i64 - at_start.rss_kib as i64,
        reaped.cpu(),
        summary["waits"],
        summary["events"]
    );
    assert_eq!(
        tail.len(),
        2,
        "{label}: events after the last hang-up: {tail:?}"
    );
    assert_eq!(
        (accepts, hangups),
        (total, total),
        "{label}: accepts, hang-ups"
    );
    assert!(stderr_text.is_empty(), "{label}: stderr {stderr_text:?}");
    assert_eq!(
        at_end.fds, at_start.fds,
        "{label}: fdwatch's open fds after {total} connections vs after {warmup}"
    );
    assert!(
        at_end.rss_kib <= at_start.rss_kib + RSS_SLACK_KIB,
        "{label}: fdwatch's RSS grew from {} KiB after {warmup} connections to {} KiB \
         after {total} (+{} KiB, allowed {RSS_SLACK_KIB} KiB)",
        at_start.rss_kib,
        at_end.rss_kib,
        at_end.rss_kib - at_start.rss_kib
    );
}

/// `cycles` writers of one FIFO, one after the other: each opens, writes a line and
/// closes, and is seen hung up (and the FIFO reopened) before the next. With `read`
/// (`--read=text`) each line is consumed and checked; without, nothing is consumed and
/// the lines pile up in the FIFO, which the test reads back at the end. fdwatch's fds
/// and RSS are taken after `warmup` cycles and again after the last.
fn fifo_reopen_leak(read: bool, cycles: usize, warmup: usize, limit: Duration) {
    let label = format!(
        "{cycles} FIFO reopen cycles{}",
        if read { ", --read=text" } else { "" }
    );
    let start = Instant::now();
    let dir = TempDir::new();
    let fifo = dir.fifo("reopen");
    let path = fifo.to_str().expect("UTF-8 temp path");
    let mut args = vec!["-m", "--format", "json"];
    if read {
        args.push("--read=text");
    }
    args.push(path);
    let mut child = Fdwatch::new(&args).spawn();
    let _dog = Watchdog::new(&child, limit, &label);
    let pid = child.id();
    let err = stderr_in_thread(&mut child);
    let mut out = EventStream::unkept(&mut child, &label);
    let deadline = start + limit;
    let mut fd = None;
    let mut written = String::new();
    let mut at_start = None;
    for i in 0..cycles {
        if i == warmup {
            at_start = Some(usage_when_blocked(pid));
        }
        let step = format!("cycle {i}");
        // The first writer waits for fdwatch's first open (ENXIO until then); every
        // later one must find the reopened read end there at once.
        let w = if i == 0 {
            writer_once_read_end_is_open(&label, &fifo, pid, deadline)
        } else {
            fifo_writer(&fifo, &format!("{label}: {step}: after the reopen"))
        };
        let line = format!("c{i}\n");
        write(&w, line.as_bytes());
        drop(w);
        written.push_str(&line);
        let got = out.until(&step, |e| e["event"] == "hangup");
        let hup = got.last().expect("hangup");
        assert_eq!(hup["action"], "reopen", "{label}: {step}: {got:?}");
        let fd = fd.get_or_insert_with(|| hup["fd"].clone());
        for e in &got {
            assert_eq!(&e["fd"], fd, "{label}: {step}: fd number changed: {e}");
        }
        let kinds: Vec<&str> = got
            .iter()
            .map(|e| e["event"].as_str().unwrap_or("?"))
            .collect();
        if read {
            // This writer's line, its end of file, the reopen.
            let text: String = got
                .iter()
                .filter(|e| e["event"] == "data")
                .map(|e| e["text"].as_str().expect("text"))
                .collect();
            assert_eq!(text, format!("c{i}\n"), "{label}: {step}: {got:?}");
            assert!(
                kinds
                    .iter()
                    .all(|k| ["ready", "data", "eof", "hangup"].contains(k))
                    && kinds.ends_with(&["eof", "hangup"])
                    && kinds.iter().filter(|k| **k == "eof").count() == 1,
                "{label}: {step}: {got:?}"
            );
            assert_eq!(
                got[got.len() - 2]["total"],
                written.len(),
                "{label}: {step}"
            );
        } else {
            // Nothing consumed: the FIFO holds every line so far, and is hung up.
            assert!(
                kinds.iter().all(|k| ["ready", "hangup"].contains(k)) && kinds.len() >= 2,
                "{label}: {step}: {got:?}"
            );
            let ready = &got[got.len() - 2];
            assert!(
                words(ready).contains(&"hangup".to_owned()),
                "{label}: {step}: {ready}"
            );
            assert_eq!(ready["queued"], written.len(), "{label}: {step}: {ready}");
        }
    }
    let at_end = usage_when_blocked(pid);
    let at_start = at_start.expect("warm-up shorter than the run");
    // A reader of our own keeps the FIFO's bytes past fdwatch's end.
    let mine = open(&fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK);
    let (tail, summary, reaped) = stop_with_sigterm(&label, pid, &mut out);
    let stderr_text = err.join().expect("stderr thread");
    let left = if read { 0 } else { fionread(&mine) as usize };
    let wall = start.elapsed().as_secs_f64();
    eprintln!(
        "leak: {label}: fdwatch fds {} after {warmup}, {} after {cycles}; VmRSS {} KiB \
         after {warmup}, {} KiB after {cycles} ({:+} KiB); wall {wall:.3} s, fdwatch CPU \
         {:.3} s; {} waits, {} events",
        at_start.fds,
        at_end.fds,
        at_start.rss_kib,
        at_end.rss_kib,
        at_end.rss_kib as i64 - at_start.rss_kib as i64,
        reaped.cpu(),
        summary["waits"],
        summary["events"]
    );
    assert_eq!(
        tail.len(),
        2,
        "{label}: events after the last cycle: {tail:?}"
    );
    assert!(stderr_text.is_empty(), "{label}: stderr {stderr_text:?}");
    if read {
        let rows = summary["bytes"].as_array().expect("summary bytes");
        assert_eq!(rows.len(), 1, "{label}: {summary}");
        assert_eq!(rows[0]["bytes"], written.len(), "{label}: {summary}");
        assert_eq!(fionread(&mine), 0, "{label}: bytes left unread");
    } else {
        assert_eq!(left, written.len(), "{label}: bytes queued at the end");
        assert_eq!(
            read_back(&mine, written.len()),
            written.as_bytes(),
            "{label}: the FIFO's bytes"
        );
    }
    assert_eq!(
        at_end.fds, at_start.fds,
        "{label}: fdwatch's open fds after {cycles} cycles vs after {warmup}"
    );
    assert!(
        at_end.rss_kib <= at_start.rss_kib + RSS_SLACK_KIB,
        "{label}: fdwatch's RSS grew from {} KiB after {warmup} cycles to {} KiB after \
         {cycles} (+{} KiB, allowed {RSS_SLACK_KIB} KiB)",
        at_start.rss_kib,
        at_end.rss_kib,
        at_end.rss_kib - at_start.rss_kib
    );
}

#[test]
fn no_leak_after_connections() {
    connection_leak(10_000, 200, Duration::from_secs(120));
}

#[test]
fn no_leak_after_fifo_reopens() {
    in_named_threads([("no --read", false), ("--read=text", true)], |read| {
        fifo_reopen_leak(read, 1000, 100, Duration::from_secs(60))
    });
}
