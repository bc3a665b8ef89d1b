//! `cargo bench --bench monitor`: the monitor's own event path at scale (its targets,
//! docs/performance.md: with 10,000 idle pipes and 1 active one, RSS under 8 MiB and
//! the epoll per-event cost within 1.2× of N = 10).
//!
//! The real binary runs `fdwatch -m -b BACKEND --read=text --format json LO-HIr` over
//! N inherited pipes (the same layout as `fdwatch bench`: read ends packed low, idle
//! write ends parked in holder processes). One round writes a byte to the active pipe
//! and waits for fdwatch's `data` line: a full round trip through wait, read, format and
//! a flushed write. Both processes are pinned to one CPU (set FDWATCH_BENCH_CPU=none to
//! leave them free), so the figure is two context switches plus fdwatch's work.
//! Prints one JSON line per row, then the ratios. FDWATCH_BIN=PATH measures another
//! build of fdwatch instead (an A/B comparison in the same run);
//! FDWATCH_BENCH_BACKENDS=epoll,uring and FDWATCH_BENCH_FDS=10,100000 choose the rows
//! (defaults epoll,poll and 10,1000,10000; 100,000 pipes need `ulimit -n 250000`).
//! Each row also gives the start-up: from spawn to the first `data` line (opening and
//! registering N fds, then one event).

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use fdwatch::bench::layout::Layout;
use fdwatch::open::raise_nofile_limit;
use nix::libc;
use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;

/// Each repeat's rounds are calibrated to take about this long.
const REPEAT_NS: f64 = 150e6;
const REPEATS: usize = 5;

struct Row {
    backend: &'static str,
    fds: usize,
    rounds: u32,
    ns_per_event: f64,
    ns_min: f64,
    ns_max: f64,
    rss_kib: u64,
    hwm_kib: u64,
    startup_ms: f64,
}

/// A comma-separated list from the environment, or the default.
fn list(var: &str, default: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|w| w.trim().to_owned())
        .filter(|w| !w.is_empty())
        .collect()
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful either.
    let cpu = std::env::var("FDWATCH_BENCH_CPU").unwrap_or_else(|_| "0".into());
    if let Ok(c) = cpu.parse::<usize>() {
        let mut set = CpuSet::new();
        set.set(c).expect("cpu number");
        sched_setaffinity(Pid::from_raw(0), &set).expect("sched_setaffinity");
    }
    let limit = raise_nofile_limit();
    let mut rows = Vec::new();
    let backends: Vec<&'static str> = list("FDWATCH_BENCH_BACKENDS", "epoll,poll")
        .into_iter()
        .map(|b| &*Box::leak(b.into_boxed_str()))
        .collect();
    let sizes: Vec<usize> = list("FDWATCH_BENCH_FDS", "10,1000,10000")
        .iter()
        .map(|n| n.parse().expect("FDWATCH_BENCH_FDS: numbers"))
        .collect();
    let (small_n, big_n) = (
        sizes.iter().copied().min().unwrap_or(10),
        sizes.iter().copied().max().unwrap_or(10_000),
    );
    for &backend in &backends {
        for &n in &sizes {
            let Some(row) = measure(backend, n, limit) else {
                eprintln!("monitor bench: N={n} does not fit RLIMIT_NOFILE {limit}: skipped");
                continue;
            };
            println!(
                "{{\"bench\":\"monitor\",\"backend\":\"{}\",\"fds\":{},\"cpu\":\"{cpu}\",\"rounds\":{},\
                 \"repeats\":{REPEATS},\"ns_per_event\":{:.1},\"ns_min\":{:.1},\"ns_max\":{:.1},\
                 \"rss_kib\":{},\"hwm_kib\":{},\"startup_ms\":{:.1}}}",
                row.backend,
                row.fds,
                row.rounds,
                row.ns_per_event,
                row.ns_min,
                row.ns_max,
                row.rss_kib,
                row.hwm_kib,
                row.startup_ms
            );
            rows.push(row);
        }
    }
    for &backend in &backends {
        let of = |n| rows.iter().find(|r| r.backend == backend && r.fds == n);
        if let (Some(small), Some(big)) = (of(small_n), of(big_n))
            && small_n != big_n
        {
            println!(
                "{backend}: {:.0} ns/event at N={small_n}, {:.0} at N={big_n}: ratio {:.2}{}; \
                 at N={big_n} peak RSS {:.1} MiB, start-up {:.0} ms",
                small.ns_per_event,
                big.ns_per_event,
                big.ns_per_event / small.ns_per_event,
                if backend == "epoll" || backend == "uring" {
                    " (target ≤ 1.2)"
                } else {
                    ""
                },
                big.hwm_kib as f64 / 1024.0,
                big.startup_ms,
            );
        }
    }
}

fn measure(backend: &'static str, n: usize, limit: u64) -> Option<Row> {
    let layout = Layout::build(n, 1, limit).expect("pipes").ok()?;
    let a = layout.active[0];
    let writer = layout.wr[a].as_ref().expect("active write end");
    let rd: Vec<i32> = layout.rd.iter().map(|f| f.as_raw_fd()).collect();
    let (lo, hi) = (rd.iter().min()?, rd.iter().max()?);
    // FDWATCH_BIN: another build of fdwatch, for an A/B comparison in the same run.
    let bin =
        std::env::var_os("FDWATCH_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_fdwatch").into());
    let mut cmd = Command::new(bin);
    cmd.args(["-m", "-b", backend, "--read=text", "--format", "json"])
        .arg(format!("{lo}-{hi}r"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let inherit = rd.clone();
    // SAFETY: only async-signal-safe calls (close_range, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            // Nothing but the read ends (and 0-2) reaches fdwatch, so the range is exact.
            if libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            ) < 0
            {
                return Err(std::io::Error::last_os_error());
            }
            for &fd in &inherit {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let spawned = Instant::now();
    let mut child = cmd.spawn().expect("spawn fdwatch");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let mut round = |count: u32| {
        let t0 = Instant::now();
        for _ in 0..count {
            assert_eq!(nix::unistd::write(writer, b"x"), Ok(1), "write");
            loop {
                line.clear();
                let got = out.read_line(&mut line).expect("read fdwatch output");
                assert!(got > 0, "fdwatch ended early");
                if line.contains("\"event\":\"data\"") {
                    break;
                }
            }
        }
        t0.elapsed().as_nanos() as f64 / f64::from(count)
    };
    // The first round includes fdwatch's start-up (opening N fds): measured apart, then
    // a warm-up and the calibration.
    round(1);
    let startup_ms = spawned.elapsed().as_secs_f64() * 1e3;
    round(200);
    let warm = round(200);
    let rounds = (REPEAT_NS / warm).clamp(100.0, 50_000.0) as u32;
    let mut per: Vec<f64> = (0..REPEATS).map(|_| round(rounds)).collect();
    per.sort_by(f64::total_cmp);
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let row = Row {
        backend,
        fds: n,
        rounds,
        ns_per_event: per[REPEATS / 2],
        ns_min: per[0],
        ns_max: per[REPEATS - 1],
        rss_kib: kib("VmRSS:"),
        hwm_kib: kib("VmHWM:"),
        startup_ms,
    };
    let _ = child.kill();
    let _ = child.wait();
    Some(row)
}
