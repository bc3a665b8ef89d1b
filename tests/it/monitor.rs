//! Monitor mode (`-m`): no busy loop on fds that stay ready, `--count` and the idle
//! timeout, events per epoll mode (docs/kernel.md "epoll's modes"), nothing consumed without
//! `--read`, `--peek`, `--read` to end of file, and the caller's stdin flags.
//!
//! Every child ends by its idle timeout; a pidfd watchdog kills one that does not, so
//! a hung fdwatch fails a test instead of hanging it.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Child, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use serde_json::{Value, json};

/// More output than any correct run here prints: a child that prints events in a loop
/// (and so never goes idle) is cut off there. Closing the pipe ends it (a closed
/// stdout ends fdwatch), so memory stays bounded.
const OUTPUT_LIMIT: u64 = 8 << 20;

/// Reads a pipe end in a thread (so a chatty child never blocks on it), up to
/// OUTPUT_LIMIT bytes; then it is closed.
fn drain(r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        r.take(OUTPUT_LIMIT)
            .read_to_end(&mut v)
            .expect("read child output");
        v
    })
}

/// `Fdwatch::run`, under the watchdog and with bounded output.
fn run(case: &str, f: Fdwatch) -> Output {
    let (mut child, _dog) = spawn(case, f);
    let out = drain(child.stdout.take().expect("stdout"));
    let err = drain(child.stderr.take().expect("stderr"));
    let stdout = out.join().expect("stdout thread");
    let stderr = err.join().expect("stderr thread");
    let status = child.wait().expect("wait fdwatch");
    assert!(
        (stdout.len() as u64) < OUTPUT_LIMIT,
        "{case}: endless output (a loop?), {status}: {}",
        String::from_utf8_lossy(&stdout[..2000])
    );
    Output {
        status,
        stdout,
        stderr,
    }
}

// 1. No busy loop: an fd that stays ready costs next to no CPU.

struct Spin {
    case: String,
    child: Child,
    _dog: Watchdog,
    start: Instant,
    out: JoinHandle<Vec<u8>>,
    err: JoinHandle<Vec<u8>>,
}

#[test]
fn no_busy_loop() {
    // About 20 (one per 100 ms --interval recheck over the 2 s idle timeout) when quiet.
    const MAX_WAITS: u64 = 200;
    let dir = TempDir::new();
    let (full_r, _full_w, _) = full_pipe();
    let mut runs: Vec<Spin> = Vec::new();
    let mut fifos = Vec::new();
    // All 15 run at once, so the test takes one idle timeout (2 s), not fifteen.
    for b in BACKENDS {
        for target in ["/dev/null:rw", "full pipe", "hung-up FIFO"] {
            let case = format!("no busy loop, -b {b}, {target}");
            let base = ["-m", "-b", b, "--format", "json", "2"];
            let f = match target {
                "full pipe" => Fdwatch::new(base.iter().chain(&["3r"])).fd(full_r.as_fd(), 3),
                "hung-up FIFO" => {
                    let path = dir.fifo(&format!("fifo-{b}"));
                    let spec = path.to_str().expect("UTF-8 temp path").to_owned();
                    fifos.push((runs.len(), path));
                    Fdwatch::new(base.iter().chain(&[spec.as_str()]))
                }
                spec => Fdwatch::new(base.iter().chain(&[spec])),
            };
            let start = Instant::now();
            let (mut child, dog) = spawn(&case, f);
            let out = drain(child.stdout.take().expect("stdout"));
            let err = drain(child.stderr.take().expect("stderr"));
            runs.push(Spin {
                case,
                child,
                _dog: dog,
                start,
                out,
                err,
            });
        }
    }
    // A writer comes, writes a line and leaves: the FIFO holds data and is hung up.
    for (i, path) in &fifos {
        blocked(runs[*i].child.id(), &runs[*i].case);
        let w = fifo_writer(path, &runs[*i].case);
        write(&w, b"a line\n");
    }

    let mut bad = Vec::new();
    let mut max_pct: f64 = 0.0;
    for run in runs {
        let pid = libc::pid_t::try_from(run.child.id()).expect("pid");
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is valid; wait4 fills it.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our unreaped child; status and ru are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        let wall = run.start.elapsed().as_secs_f64();
        assert_eq!(r, pid, "{}: wait4: {}", run.case, Errno::last());
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
        let pct = 100.0 * cpu / wall;
        max_pct = max_pct.max(pct);
        let out = run.out.join().expect("stdout thread");
        let err = String::from_utf8_lossy(&run.err.join().expect("stderr thread")).into_owned();
        let case = &run.case;
        println!("{case}: cpu {cpu:.4} s of {wall:.3} s wall = {pct:.2}%");
        if pct >= 10.0 {
            bad.push(format!(
                "{case}: busy loop: cpu {cpu:.3} s (user {:.3} + sys {:.3}) in {wall:.3} s = {pct:.1}%",
                tv(ru.ru_utime),
                tv(ru.ru_stime)
            ));
        }
        // Every target is reported ready, then the idle timeout ends the run: 0.
        if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
            bad.push(format!(
                "{case}: want exit 0 (idle timeout after events), got wait status {status:#x}; stderr {err:?}"
            ));
            continue;
        }
        let evs = events(&out);
        let ready = of_kind(&evs, "ready");
        if ready.is_empty() || ready.len() > 5 {
            bad.push(format!("{case}: {} ready events: {evs:?}", ready.len()));
        }
        let summaries = of_kind(&evs, "summary");
        if of_kind(&evs, "timeout").len() != 1 || summaries.len() != 1 {
            bad.push(format!("{case}: want one timeout and one summary: {evs:?}"));
            continue;
        }
        // Under CPU contention a spinning child may get little CPU, but it still makes
        // thousands of wait calls; a quiet one makes one per --interval (100 ms).
        let waits = summaries[0]["waits"].as_u64().unwrap_or(u64::MAX);
        if waits > MAX_WAITS {
            bad.push(format!(
                "{case}: busy loop: {waits} waits in {wall:.3} s (want at most {MAX_WAITS})"
            ));
        }
    }
    println!("no busy loop: max cpu {max_pct:.2}% of wall");
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert_eq!(
        fionread(&full_r),
        fcntl(&full_r, FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ"),
        "full pipe: data consumed"
    );
}

// 2. --count and the idle timeout end a run.

#[test]
fn count_stops_after_n_events() {
    for b in BACKENDS {
        for verbose in [false, true] {
            let case = format!("--count 3, -b {b}{}", if verbose { ", -v" } else { "" });
            // Four fds ready at once: 3 and 5 readable, 4 and 6 writable.
            let (r1, w1) = pipe();
            let (r2, w2) = pipe();
            write(&w1, b"1");
            write(&w2, b"2");
            let mut argv = vec!["-m", "-b", b, "--count", "3", "--format", "json"];
            if verbose {
                argv.push("-v");
            }
            // A finite idle timeout: should --count not stop it, the run still ends.
            argv.extend(["10", "3r", "4w", "5r", "6w"]);
            let out = run(
                &case,
                Fdwatch::new(&argv)
                    .fd(r1.as_fd(), 3)
                    .fd(w1.as_fd(), 4)
                    .fd(r2.as_fd(), 5)
                    .fd(w2.as_fd(), 6),
            );
            assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
            let evs = events(&out.stdout);
            let counted: Vec<&Value> = evs
                .iter()
                // The -v diagnostics (wait, note, watching) are not counted.
                .filter(|e| {
                    !["summary", "wait", "note", "watching"].contains(&e["event"].as_str().unwrap())
                })
                .collect();
            assert_eq!(counted.len(), 3, "{case}: {evs:?}");
            assert!(
                counted.iter().all(|e| e["event"] == "ready"),
                "{case}: {evs:?}"
            );
            let s = last_summary(&case, &evs);
            assert_eq!(s["events"], 3, "{case}: {s}");
            if verbose {
                assert!(!of_kind(&evs, "wait").is_empty(), "{case}: {evs:?}");
            }
            assert!(num(&case, &s, "elapsed") < 5.0, "{case}: {s}");
            assert_eq!(fionread(&r1), 1, "{case}: data consumed");
            assert_eq!(fionread(&r2), 1, "{case}: data consumed");
        }
    }
}

#[test]
fn idle_timeout_exits_1() {
    for b in BACKENDS {
        let case = format!("idle timeout 0.3, -b {b}");
        let (r, _w) = pipe();
        let out = run(
            &case,
            Fdwatch::new(["-m", "-b", b, "--format", "json", "0.3", "3r"]).fd(r.as_fd(), 3),
        );
        assert_eq!(exit_code(&case, &out), 1, "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        assert!(of_kind(&evs, "ready").is_empty(), "{case}: {evs:?}");
        let t = of_kind(&evs, "timeout");
        assert_eq!(t.len(), 1, "{case}: {evs:?}");
        assert_eq!(num(&case, t[0], "timeout"), 0.3, "{case}");
        let elapsed = num(&case, &last_summary(&case, &evs), "elapsed");
        assert!(elapsed >= 0.3, "{case}: elapsed {elapsed} < 0.3");
        assert!(elapsed < 5.0, "{case}: elapsed {elapsed}");
    }
}

// 3. Events per registration mode (level, edge, one-shot), nothing read.

#[test]
fn event_counts_per_mode() {
    // (case, extra options, ready events expected for three writes). With
    // --interval 1h no recheck happens within the run: what is reported after the
    // first event comes from the main wait alone.
    let modes: [(&str, &[&str], usize); 6] = [
        ("epoll (edge-triggered internally)", &[], 3),
        (
            "epoll --interval 1h (edge-triggered internally)",
            &["--interval", "1h"],
            3,
        ),
        ("epoll --edge", &["--edge"], 3),
        (
            "epoll --edge --interval 1h",
            &["--edge", "--interval", "1h"],
            3,
        ),
        (
            "epoll --oneshot --interval 1h",
            &["--oneshot", "--interval", "1h"],
            1,
        ),
        ("poll --interval 1h", &["-b", "poll", "--interval", "1h"], 1),
    ];
    // Each mode ends by its 1 s idle timeout: run them side by side.
    in_named_threads(
        modes.map(|(case, opts, want)| (case, (case, opts, want))),
        |(case, opts, want)| three_writes(case, opts, want),
    );
}

/// One byte written three times to a watched pipe fdwatch does not read.
fn three_writes(case: &str, opts: &[&str], want: usize) {
    let (r, w) = pipe();
    let mut argv = vec!["-m", "--format", "json"];
    argv.extend(opts);
    argv.extend(["1", "3r"]);
    let (mut child, _dog) = spawn(case, Fdwatch::new(&argv).fd(r.as_fd(), 3));
    let pid = child.id();
    let mut evs = EventStream::new(&mut child, case);
    blocked(pid, case);
    write(&w, b"a");
    let first = evs.next_named("ready");
    assert_eq!(first["queued"], 1, "{case}: {first}");
    if want == 3 {
        // Each write is a new edge: wait for its event before the next write.
        for q in [2, 3] {
            write(&w, b"a");
            let e = evs.next_named("ready");
            assert_eq!(e["queued"], q, "{case}: {e}");
        }
    } else {
        // Nothing more is expected: write both; the 1 s idle timeout ends the run.
        blocked(pid, case);
        write(&w, b"a");
        write(&w, b"a");
    }
    let evs = evs.all();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(
        exit_code(case, &out),
        0,
        "{case}: {}; {evs:?}",
        stderr(&out)
    );
    let ready = of_kind(&evs, "ready");
    let queued: Vec<&Value> = ready.iter().map(|e| &e["queued"]).collect();
    assert_eq!(ready.len(), want, "{case}: queued {queued:?}; {evs:?}");
    let want_queued: Vec<Value> = (1..=want).map(|q| json!(q)).collect();
    assert_eq!(
        queued,
        want_queued.iter().collect::<Vec<_>>(),
        "{case}: {evs:?}"
    );
    assert_eq!(of_kind(&evs, "timeout").len(), 1, "{case}: {evs:?}");
    assert!(of_kind(&evs, "data").is_empty(), "{case}: {evs:?}");
    assert_eq!(fionread(&r), 3, "{case}: fdwatch consumed data");
    assert_eq!(read_back(&r, 3), b"aaa", "{case}: bytes read back");
}

#[test]
fn oneshot_with_read_rearms() {
    let case = "--oneshot --read=text";
    let (r, w) = pipe();
    let (mut child, _dog) = spawn(
        case,
        Fdwatch::new([
            "-m",
            "--oneshot",
            "--read=text",
            "--format",
            "json",
            "1",
            "3r",
        ])
        .fd(r.as_fd(), 3),
    );
    let pid = child.id();
    let mut evs = EventStream::new(&mut child, case);
    blocked(pid, case);
    for (i, byte) in ["a", "b", "c"].iter().enumerate() {
        write(&w, byte.as_bytes());
        let d = evs.next_named("data");
        assert_eq!(d["text"], *byte, "{case}: write {i}: {d}");
        assert_eq!(d["bytes"], 1, "{case}: {d}");
        assert_eq!(d["total"], i + 1, "{case}: {d}");
        assert_eq!(d["peek"], false, "{case}: {d}");
    }
    let evs = evs.all();
    let status = child.wait().expect("wait fdwatch");
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: idle timeout after events: {evs:?}"
    );
    let data = of_kind(&evs, "data");
    let texts: Vec<&Value> = data.iter().map(|d| &d["text"]).collect();
    assert_eq!(texts, [&json!("a"), &json!("b"), &json!("c")], "{case}");
    let s = last_summary(case, &evs);
    assert_eq!(s["bytes"][0]["bytes"], 3, "{case}: {s}");
    assert_eq!(fionread(&r), 0, "{case}: all read");
}

// 4. Without --read nothing is consumed; --peek shows it.

#[test]
fn nothing_consumed_without_read() {
    const CHUNK: usize = 100;
    const CHUNKS: usize = 10;
    for b in BACKENDS {
        let case = format!("no --read, 10 writes, -b {b}");
        let (r, w) = pipe();
        let (mut child, _dog) = spawn(
            &case,
            Fdwatch::new(["-m", "-b", b, "--format", "json", "0.5", "3r"]).fd(r.as_fd(), 3),
        );
        let pid = child.id();
        let mut evs = EventStream::new(&mut child, &case);
        blocked(pid, &case);
        let mut expect = Vec::new();
        for i in 0..CHUNKS {
            let chunk = vec![b'0' + i as u8; CHUNK];
            write(&w, &chunk);
            expect.extend_from_slice(&chunk);
            if b == "epoll" {
                // Edge-triggered: every write is an event with the new queue length.
                let e = evs.next_named("ready");
                assert_eq!(e["queued"], expect.len(), "{case}: write {i}: {e}");
            }
        }
        let evs = evs.all();
        let status = child.wait().expect("wait fdwatch");
        assert_eq!(
            status.code(),
            Some(0),
            "{case}: idle timeout after events: {evs:?}"
        );
        assert!(!of_kind(&evs, "ready").is_empty(), "{case}: {evs:?}");
        assert!(of_kind(&evs, "data").is_empty(), "{case}: {evs:?}");
        assert_eq!(
            fionread(&r),
            (CHUNK * CHUNKS) as i32,
            "{case}: fdwatch consumed data"
        );
        assert_eq!(
            read_back(&r, CHUNK * CHUNKS),
            expect,
            "{case}: bytes read back"
        );
    }
}

#[test]
fn peek_shows_content_and_consumes_nothing() {
    for b in BACKENDS {
        let case = format!("--peek, -b {b}");
        let (r, w) = pipe();
        write(&w, b"hello\n");
        let out = run(
            &case,
            Fdwatch::new(["-m", "-b", b, "--peek", "--format", "json", "0.3", "3r"])
                .fd(r.as_fd(), 3),
        );
        assert_eq!(
            exit_code(&case, &out),
            0,
            "{case}: idle timeout after events: {}",
            stderr(&out)
        );
        let evs = events(&out.stdout);
        let data = of_kind(&evs, "data");
        assert_eq!(data.len(), 1, "{case}: {evs:?}");
        let d = data[0];
        assert_eq!(d["peek"], true, "{case}: {d}");
        assert_eq!(d["text"], "hello\n", "{case}: {d}");
        assert_eq!(d["bytes"], 6, "{case}: {d}");
        assert!(d["total"].is_null(), "{case}: {d}");
        assert_eq!(fionread(&r), 6, "{case}: --peek consumed data");
        assert_eq!(read_back(&r, 6), b"hello\n", "{case}: bytes read back");
    }
}

// 5. --read to end of file.

#[test]
fn read_text_and_eof_on_a_pipe() {
    for b in BACKENDS {
        let case = format!("--read=text to EOF, -b {b}");
        let (r, w) = pipe();
        write(&w, b"one\n");
        drop(w);
        let out = run(
            &case,
            Fdwatch::new(["-m", "-b", b, "--read=text", "--format", "json", "2", "3r"])
                .fd(r.as_fd(), 3),
        );
        assert_eq!(
            exit_code(&case, &out),
            0,
            "{case}: all fds gone: {}",
            stderr(&out)
        );
        let evs = events(&out.stdout);
        let data = of_kind(&evs, "data");
        assert_eq!(data.len(), 1, "{case}: {evs:?}");
        assert_eq!(data[0]["text"], "one\n", "{case}: {evs:?}");
        assert_eq!(data[0]["bytes"], 4, "{case}: {evs:?}");
        assert_eq!(data[0]["total"], 4, "{case}: {evs:?}");
        assert_eq!(data[0]["peek"], false, "{case}: {evs:?}");
        let eof = of_kind(&evs, "eof");
        assert_eq!(eof.len(), 1, "{case}: {evs:?}");
        assert_eq!(eof[0]["total"], 4, "{case}: {evs:?}");
        let hup = of_kind(&evs, "hangup");
        assert_eq!(hup.len(), 1, "{case}: {evs:?}");
        assert_eq!(hup[0]["action"], "remove", "{case}: {evs:?}");
        assert!(of_kind(&evs, "timeout").is_empty(), "{case}: {evs:?}");
        let s = last_summary(&case, &evs);
        let bytes = s["bytes"].as_array().expect("summary bytes");
        assert_eq!(bytes.len(), 1, "{case}: {s}");
        assert_eq!(bytes[0]["fd"], 3, "{case}: {s}");
        assert_eq!(bytes[0]["bytes"], 4, "{case}: {s}");
        let elapsed = num(&case, &s, "elapsed");
        assert!(
            elapsed < 1.5,
            "{case}: the end of file should end the run, not the idle timeout: {s}"
        );
    }
}

// 6. Reading an inherited stdin never changes its flags.

#[test]
fn inherited_stdin_flags_unchanged_with_read() {
    for nonblock in [false, true] {
        let tag = if nonblock {
            "O_NONBLOCK set"
        } else {
            "O_NONBLOCK clear"
        };
        let fresh = || {
            let (r, w) = pipe();
            if nonblock {
                set_nonblock(&r);
            }
            let before = status_flags(&r);
            assert_eq!(before.contains(OFlag::O_NONBLOCK), nonblock, "{tag}");
            (r, w, before)
        };
        // The child's stdin shares the test's open file description.
        let stdin = |r: &OwnedFd| Stdio::from(r.try_clone().expect("dup"));

        // Normal end: the writer writes and leaves; end of file; all fds gone.
        let case = format!("stdin flags, normal end, {tag}");
        let (r, w, before) = fresh();
        let (mut child, _dog) = spawn(
            &case,
            Fdwatch::new(["-m", "--read=text", "--format", "json", "2", "-"]).stdin(stdin(&r)),
        );
        let mut evs = EventStream::new(&mut child, &case);
        blocked(child.id(), &case);
        write(&w, b"end\n");
        drop(w);
        let evs_all = {
            evs.next_named("eof");
            evs.all()
        };
        let out = child.wait_with_output().expect("wait fdwatch");
        assert_eq!(
            exit_code(&case, &out),
            0,
            "{case}: {}; {evs_all:?}",
            stderr(&out)
        );
        assert_eq!(of_kind(&evs_all, "data")[0]["text"], "end\n", "{case}");
        let hup = of_kind(&evs_all, "hangup");
        assert_eq!(hup.len(), 1, "{case}: {evs_all:?}");
        assert_eq!(hup[0]["action"], "remove", "{case}: {evs_all:?}");
        assert_eq!(status_flags(&r), before, "{case}: status flags changed");

        // Idle timeout, the writer still there.
        let case = format!("stdin flags, idle timeout, {tag}");
        let (r, w, before) = fresh();
        write(&w, b"x");
        let out = run(
            &case,
            Fdwatch::new(["-m", "0.3", "--read=count", "--format", "json", "-"]).stdin(stdin(&r)),
        );
        assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        assert_eq!(of_kind(&evs, "data")[0]["total"], 1, "{case}: {evs:?}");
        assert_eq!(of_kind(&evs, "timeout").len(), 1, "{case}: {evs:?}");
        assert_eq!(status_flags(&r), before, "{case}: status flags changed");
        assert_eq!(fionread(&r), 0, "{case}: the byte was read");
        drop(w);

        // Closed stdout: the reader leaves, then a byte makes fdwatch print.
        let case = format!("stdin flags, closed stdout, {tag}");
        let (r, w, before) = fresh();
        let start = Instant::now();
        let (mut child, _dog) = spawn(
            &case,
            Fdwatch::new(["-m", "5", "--read=count", "--format", "json", "-"]).stdin(stdin(&r)),
        );
        drop(child.stdout.take());
        blocked(child.id(), &case);
        write(&w, b"y");
        let out = child.wait_with_output().expect("wait fdwatch");
        let wall = start.elapsed();
        assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
        assert!(
            wall < Duration::from_secs(4),
            "{case}: the failed write should end the run, not the 5 s idle timeout: {wall:?}"
        );
        assert!(stderr(&out).is_empty(), "{case}: stderr {:?}", stderr(&out));
        assert_eq!(status_flags(&r), before, "{case}: status flags changed");
        drop(w);
    }
}

/// --read=count reports bytes at most once per --interval; bytes read within an
/// interval of the last event are reported when it is over, though nothing more comes
/// (they were held until the next read or the end of the run). The writer stays open.
#[test]
fn read_count_reports_the_last_bytes_while_the_writer_stays() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b} --read=count");
        let (r, w) = pipe();
        let f = Fdwatch::new(["-m", "-b", b, "--read=count", "--format", "json", "30", "3"])
            .fd(r.as_fd(), 3);
        let (mut child, _dog) = spawn(&case, f);
        let mut evs = EventStream::new(&mut child, &case);
        write(&w, b"0123456789");
        evs.until("the first data event", is("data"));
        // Within the interval of that event: counted, not yet reported.
        write(&w, b"abcde");
        let got = evs.until("the count of the last 5 bytes", is("data"));
        let last = got.last().expect("data");
        assert_eq!(last["bytes"], 5, "{case}: {got:?}");
        assert_eq!(last["total"], 15, "{case}: {got:?}");
        // The writer is still open: nothing says the stream ended.
        assert!(!got.iter().any(|e| e["event"] == "eof"), "{case}: {got:?}");
        sigterm(&child);
        let _ = child.wait();
        drop(w);
    });
}
