//! Signals (`--signals`, `--mask`; fdwatch(1) SIGNALS, docs/kernel.md "Signals and the
//! wait"):
//! caught signals are events carrying the sender's pid and the wait goes on; a signal
//! pending at startup interrupts the first wait at once; real-time signals queue and are
//! each reported; a storm of signals neither loses data nor extends the timeout;
//! SIGINT ends a monitor run with the summary and then death by SIGINT; `--mask` keeps
//! a signal blocked and reports it as pending at exit.
//!
//! Signal masks are per thread, so every case runs fdwatch as a child process. Each
//! child is under a pidfd watchdog; the test signals only children it spawned and has
//! not yet reaped (and stops once they ended).

use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::signal::{Signal, kill};
use serde_json::Value;

/// The backends whose wait call takes a signal mask (the others use a self-pipe).
const MASKED: [&str; 4] = ["pselect", "ppoll", "epoll", "uring"];

fn test_pid() -> i64 {
    i64::from(std::process::id())
}

fn my_uid() -> i64 {
    i64::from(nix::unistd::getuid().as_raw())
}

/// The signal events.
fn signal_events(evs: &[Value]) -> Vec<&Value> {
    of_kind(evs, "signal")
}

/// Index of the first event named `name`; fails naming the case when there is none.
fn index_of(case: &str, evs: &[Value], name: &str) -> usize {
    evs.iter()
        .position(|e| e["event"] == name)
        .unwrap_or_else(|| panic!("{case}: no {name:?} event: {evs:?}"))
}

/// Output is flushed after each wait, an interrupted one included: an event
/// printed at fdwatch's time `t` must reach the test soon after, not at exit.
fn live(case: &str, t: f64, got_at: Duration) {
    assert!(
        got_at.as_secs_f64() < t + 1.0,
        "{case}: the signal event (t={t:.3}) reached stdout only after {got_at:?}, when \
         fdwatch ended: not flushed after the wait the signal interrupted"
    );
}

/// Spawns `f` with `sig` blocked and already pending when fdwatch starts: the child
/// blocks it and raises it after fork, before execve, which keeps both the mask and
/// the pending signal.
fn spawn_with_pending(case: &str, f: Fdwatch, sig: libc::c_int) -> (Child, Watchdog) {
    // SAFETY: only async-signal-safe calls (sigemptyset, sigaddset, sigprocmask, raise)
    // run between fork and exec.
    let f = unsafe {
        f.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::raise(sig) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    spawn(case, f)
}

// 1. A signal already pending at startup: the first wait returns EINTR at once.

#[test]
fn pending_signal_interrupts_the_wait_at_once() {
    // pselect, ppoll and epoll: USR1 stays blocked, and the wait's mask unblocks it, so
    // the pending signal interrupts the first wait at once (EINTR in 0.000 s, docs/kernel.md).
    // select and poll: fdwatch unblocks USR1 at startup (before the first wait), the
    // handler runs at that moment and writes to the self-pipe, which is in the watch
    // set: the first wait returns at once too. Either way the event comes immediately,
    // and then fdwatch waits on for the pipe with the time left.
    each_backend(&BACKENDS, |b| {
        let how = if MASKED.contains(&b) {
            "the wait's mask"
        } else {
            "self-pipe"
        };
        let case = format!("-b {b} ({how}), SIGUSR1 pending at startup");
        let (r, w) = pipe();
        let start = Instant::now();
        let (mut child, _dog) = spawn_with_pending(
            &case,
            Fdwatch::new(["-b", b, "--signals", "USR1", "--format", "json", "5", "3r"])
                .fd(r.as_fd(), 3),
            libc::SIGUSR1,
        );
        let mut stream = EventStream::new(&mut child, &case);
        let sig = stream.next_named("signal");
        let got_at = start.elapsed();
        let t = num(&case, &sig, "t");
        assert!(
            t < 1.0,
            "{case}: the pending signal must interrupt the wait at once, came at t={t}"
        );
        live(&case, t, got_at);
        assert_eq!(sig["name"], "USR1", "{case}: {sig}");
        assert_eq!(sig["number"], libc::SIGUSR1, "{case}: {sig}");
        assert_eq!(sig["pending"], false, "{case}: {sig}");
        // raise() in the child before execve: the sender is fdwatch's own process.
        assert_eq!(sig["pid"], i64::from(child.id()), "{case}: {sig}");
        // The run goes on: fdwatch waits again (for the pipe, with the time left).
        blocked(child.id(), &case);
        write(&w, b"x");
        let evs = stream.all();
        let out = child.wait_with_output().expect("wait fdwatch");
        let wall = start.elapsed();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{case}: the pipe became ready: {}; {evs:?}",
            stderr(&out)
        );
        assert_eq!(signal_events(&evs).len(), 1, "{case}: {evs:?}");
        let ready = of_kind(&evs, "ready");
        assert_eq!(ready.len(), 1, "{case}: {evs:?}");
        assert_eq!(ready[0]["fd"], 3, "{case}: {evs:?}");
        assert!(
            index_of(&case, &evs, "signal") < index_of(&case, &evs, "ready"),
            "{case}: {evs:?}"
        );
        let s = last_summary(&case, &evs);
        assert!(num(&case, &s, "elapsed") < 3.0, "{case}: {s}");
        assert!(wall < Duration::from_secs(3), "{case}: took {wall:?}");
    });
}

#[test]
fn signal_pending_when_the_last_wait_returns_events_is_reported() {
    // USR1 pending at startup and the pipe already readable: a wait with a mask
    // returns the ready fd and leaves the signal pending (blocked again after the
    // call), and a one-shot run then ends. The signal came, so it is reported, before
    // the summary, and nothing else changes (exit 0: the fd was ready).
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b}, SIGUSR1 pending and the fd ready at startup");
        let (r, w) = pipe();
        write(&w, b"x");
        let (child, _dog) = spawn_with_pending(
            &case,
            Fdwatch::new(["-b", b, "--signals", "USR1", "--format", "json", "5", "3r"])
                .fd(r.as_fd(), 3),
            libc::SIGUSR1,
        );
        let out = child.wait_with_output().expect("wait fdwatch");
        let evs = events(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{case}: {}", stderr(&out));
        assert_eq!(signal_events(&evs).len(), 1, "{case}: {evs:?}");
        assert_eq!(of_kind(&evs, "ready").len(), 1, "{case}: {evs:?}");
        assert!(
            index_of(&case, &evs, "signal") < index_of(&case, &evs, "summary"),
            "{case}: {evs:?}"
        );
    });
}

// 2. Real-time signals queue: a storm of 10,000, each reported, no byte lost.

#[test]
fn rt_signal_storm_exact_count() {
    // Real-time signals queue one instance per send (up to RLIMIT_SIGPENDING, then
    // sigqueue fails with EAGAIN); standard signals coalesce into one pending bit, so
    // an exact count is only defined for real-time ones.
    const SIGNALS: usize = 10_000;
    const DATA: usize = 1 << 20;
    const CHUNK: usize = 1024;
    let start = Instant::now();
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b}, {SIGNALS} RTMIN signals and {DATA} bytes");
        let (r, w) = pipe();
        // fd 4 never ends, so the run outlives the data pipe's end of file until SIGTERM.
        let (idle_r, _idle_w) = pipe();
        let (mut child, _dog) = spawn(
            &case,
            Fdwatch::new([
                "-m",
                "-b",
                b,
                "--signals",
                "RTMIN",
                "--read=count",
                "--format",
                "json",
                "5",
                "3r",
                "4r",
            ])
            .fd(r.as_fd(), 3)
            .fd(idle_r.as_fd(), 4),
        );
        drop(r);
        let pid = pid_of(&child);
        let pidfd = Pidfd::open(child.id()).expect("the child runs");
        let mut stream = EventStream::new(&mut child, &case);
        blocked(child.id(), &case);
        let done = AtomicBool::new(false);
        let (signals, eof) = std::thread::scope(|s| {
            // The writer: 1 MiB in small chunks, then the end of file.
            s.spawn(move || {
                let chunk = [b'd'; CHUNK];
                for _ in 0..DATA / CHUNK {
                    write(&w, &chunk);
                }
                drop(w);
            });
            // The sender: sigqueue(3), retried while the queue is full.
            let sender = s.spawn(|| {
                let (mut sent, mut full) = (0, 0u64);
                while sent < SIGNALS && !done.load(Ordering::Relaxed) {
                    let val = libc::sigval {
                        sival_ptr: std::ptr::null_mut(),
                    };
                    // SAFETY: sigqueue to our own unreaped child (its pid cannot be
                    // reused before we wait for it, after this scope).
                    if unsafe { libc::sigqueue(pid.as_raw(), libc::SIGRTMIN(), val) } == 0 {
                        sent += 1;
                    } else {
                        let e = Errno::last();
                        assert_eq!(e, Errno::EAGAIN, "{case}: sigqueue #{sent}: {e}");
                        // The queue is full (RLIMIT_SIGPENDING): let fdwatch drain it.
                        full += 1;
                        if pidfd.ended_within(Duration::ZERO) {
                            break;
                        }
                        std::thread::yield_now();
                    }
                }
                println!("{case}: sigqueue found the queue full (EAGAIN) {full} times");
                sent
            });
            // The reader: until all signals and the end of file were reported.
            let (mut signals, mut eof) = (0, None);
            while signals < SIGNALS || eof.is_none() {
                let Some(ev) = stream.next() else {
                    done.store(true, Ordering::Relaxed);
                    panic!(
                        "{case}: output ended after {signals} signal events, eof {eof:?}; last: {:?}",
                        &stream.seen()[stream.seen().len().saturating_sub(12)..]
                    );
                };
                match ev["event"].as_str() {
                    Some("signal") => signals += 1,
                    Some("eof") => eof = Some(ev),
                    _ => {}
                }
            }
            let sent = sender.join().expect("sender");
            assert_eq!(sent, SIGNALS, "{case}: signals sent");
            (signals, eof.expect("eof"))
        });

        assert_eq!(signals, SIGNALS, "{case}");
        assert_eq!(eof["fd"], 3, "{case}: {eof}");
        assert_eq!(eof["total"], DATA, "{case}: {eof}");
        pidfd.signal(libc::SIGTERM);
        let evs = stream.all();
        let status = child.wait().expect("wait fdwatch");
        // Nothing but SIGTERM ends this run: fd 4 stays open, and SIGTERM comes as soon
        // as the events are seen, long before the 5 s idle timeout. An idle timeout means
        // the test saw the last signal events only when fdwatch ended.
        assert!(
            of_kind(&evs, "timeout").is_empty(),
            "{case}: fdwatch ended by its idle timeout before SIGTERM ({status}): the last \
             signal events reached stdout only at exit (not flushed after an interrupted \
             wait); last events: {:?}",
            &evs[evs.len().saturating_sub(4)..]
        );
        assert_eq!(
            status.signal(),
            Some(libc::SIGTERM),
            "{case}: want death by SIGTERM, got {status}; last events: {:?}",
            &evs[evs.len().saturating_sub(5)..]
        );
        let sigs = signal_events(&evs);
        let rt: Vec<_> = sigs.iter().filter(|e| e["name"] == "RTMIN").collect();
        assert_eq!(rt.len(), SIGNALS, "{case}: RTMIN signal events");
        for e in &rt {
            assert_eq!(e["number"], libc::SIGRTMIN(), "{case}: {e}");
            assert_eq!(e["pid"], test_pid(), "{case}: {e}");
            assert_eq!(e["uid"], my_uid(), "{case}: {e}");
            assert_eq!(e["pending"], false, "{case}: {e}");
        }
        let term: Vec<_> = sigs.iter().filter(|e| e["name"] == "TERM").collect();
        assert_eq!(term.len(), 1, "{case}: one TERM event: {term:?}");
        assert_eq!(
            sigs.len(),
            SIGNALS + 1,
            "{case}: no other signal events: {:?}",
            sigs.iter()
                .filter(|e| e["name"] != "RTMIN")
                .collect::<Vec<_>>()
        );
        let data: u64 = of_kind(&evs, "data")
            .iter()
            .filter(|e| e["fd"] == 3)
            .map(|e| e["bytes"].as_u64().expect("bytes"))
            .sum();
        assert_eq!(data, DATA as u64, "{case}: data event bytes add up");
        let s = last_summary(&case, &evs);
        let fd3 = s["bytes"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["fd"] == 3))
            .unwrap_or_else(|| panic!("{case}: no bytes for fd 3 in the summary: {s}"));
        assert_eq!(fd3["bytes"], DATA, "{case}: {s}");
        let n = evs.len();
        assert_eq!(
            evs[n - 2]["name"],
            "TERM",
            "{case}: TERM just before the summary"
        );
    });
    println!(
        "{SIGNALS} RTMIN signals x {} backends (in parallel): {:?}",
        BACKENDS.len(),
        start.elapsed()
    );
}

// 3. The sender's pid.

#[test]
fn sender_pid_is_reported() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b}, USR1 from a kill(1) child");
        let (r, w) = pipe();
        let (mut child, _dog) = spawn(
            &case,
            Fdwatch::new(["-b", b, "--signals", "USR1", "--format", "json", "5", "3r"])
                .fd(r.as_fd(), 3),
        );
        let start = Instant::now();
        let mut stream = EventStream::new(&mut child, &case);
        blocked(child.id(), &case);
        let mut killer = Command::new("kill")
            .args(["-USR1", &child.id().to_string()])
            .stdin(Stdio::null())
            .counted_spawn()
            .unwrap_or_else(|e| panic!("{case}: spawn kill: {e}"));
        let killer_pid = i64::from(killer.id());
        let st = killer.wait().expect("wait kill");
        assert!(st.success(), "{case}: kill failed: {st}");
        let sig = stream.next_named("signal");
        live(&case, num(&case, &sig, "t"), start.elapsed());
        assert_eq!(sig["name"], "USR1", "{case}: {sig}");
        assert_eq!(sig["number"], libc::SIGUSR1, "{case}: {sig}");
        assert_eq!(sig["pid"], killer_pid, "{case}: the sender's pid: {sig}");
        assert_eq!(sig["uid"], my_uid(), "{case}: {sig}");
        assert_eq!(sig["pending"], false, "{case}: {sig}");
        blocked(child.id(), &case);
        write(&w, b"x");
        let evs = stream.all();
        let out = child.wait_with_output().expect("wait fdwatch");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{case}: {}; {evs:?}",
            stderr(&out)
        );
        assert_eq!(signal_events(&evs).len(), 1, "{case}: {evs:?}");
    });
}

// 4. SIGINT ends a monitor run: the signal, the summary, then death by SIGINT.

#[test]
fn sigint_ends_monitor_with_summary_and_status_130() {
    let cases: Vec<(String, (&str, bool))> = BACKENDS
        .iter()
        .flat_map(|&b| {
            [false, true].map(|nb| {
                let tag = if nb { "nonblock" } else { "block" };
                (format!("{b}-{tag}"), (b, nb))
            })
        })
        .collect();
    in_named_threads(
        cases.iter().map(|(n, c)| (n.as_str(), *c)),
        |(b, nonblock)| {
            let tag = if nonblock {
                "O_NONBLOCK set"
            } else {
                "O_NONBLOCK clear"
            };
            let case = format!("-b {b}, stdin a pipe with {tag}, SIGINT");
            let (r, w) = pipe();
            if nonblock {
                set_nonblock(&r);
            }
            let before = status_flags(&r);
            assert_eq!(before.contains(OFlag::O_NONBLOCK), nonblock, "{case}");
            let (mut child, _dog) = spawn(
                &case,
                Fdwatch::new(["-m", "-b", b, "--read=count", "--format", "json", "-"])
                    .fd(r.as_fd(), 0),
            );
            let mut stream = EventStream::new(&mut child, &case);
            blocked(child.id(), &case);
            write(&w, b"abc");
            let data = stream.next_named("data");
            assert_eq!(data["fd"], 0, "{case}: {data}");
            assert_eq!(data["total"], 3, "{case}: {data}");
            blocked(child.id(), &case);
            kill(pid_of(&child), Signal::SIGINT).expect("SIGINT");
            let evs = stream.all();
            let status = child.wait().expect("wait fdwatch");
            assert_eq!(
                status.signal(),
                Some(libc::SIGINT),
                "{case}: want death by SIGINT (130 in a shell), got {status}; {evs:?}"
            );
            let n = evs.len();
            assert!(n >= 2, "{case}: {evs:?}");
            let sig = &evs[n - 2];
            assert_eq!(
                sig["event"], "signal",
                "{case}: signal then summary: {evs:?}"
            );
            assert_eq!(sig["name"], "INT", "{case}: {sig}");
            assert_eq!(sig["number"], libc::SIGINT, "{case}: {sig}");
            assert_eq!(sig["pid"], test_pid(), "{case}: {sig}");
            let s = last_summary(&case, &evs);
            assert_eq!(signal_events(&evs).len(), 1, "{case}: {evs:?}");
            let fd0 = s["bytes"]
                .as_array()
                .and_then(|a| a.iter().find(|x| x["fd"] == 0))
                .unwrap_or_else(|| panic!("{case}: no bytes for fd 0: {s}"));
            assert_eq!(fd0["bytes"], 3, "{case}: {s}");
            assert_eq!(
                status_flags(&r),
                before,
                "{case}: the caller's stdin flags changed"
            );
            assert_eq!(fionread(&r), 0, "{case}: the bytes were read");
            drop(w);
        },
    );
}

// 5. A storm of caught signals does not extend the timeout.

#[test]
fn alarm_storm_does_not_extend_the_timeout() {
    // Every caught SIGALRM interrupts the wait (EINTR, docs/kernel.md); each retry must wait
    // only for what is left of the 1 s, from a monotonic clock.
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b}, SIGALRM every 10 ms, timeout 1 s");
        let (r, _w) = pipe();
        let start = Instant::now();
        let (child, _dog) = spawn(
            &case,
            Fdwatch::new(["-b", b, "--signals", "ALRM", "--format", "json", "1", "3r"])
                .fd(r.as_fd(), 3),
        );
        let pidfd = Pidfd::open(child.id()).expect("the child runs");
        blocked(child.id(), &case);
        let out = std::thread::scope(|s| {
            // The storm: the 10 ms poll on the pidfd paces it (it is the workload, not
            // a synchronization) and ends it as soon as fdwatch has ended.
            let storm = s.spawn(|| {
                let mut sent = 0u32;
                while !pidfd.ended_within(Duration::from_millis(10)) {
                    if !pidfd.signal(libc::SIGALRM) {
                        break;
                    }
                    sent += 1;
                }
                sent
            });
            let out = child.wait_with_output().expect("wait fdwatch");
            (out, storm.join().expect("storm thread"))
        });
        let (out, sent) = out;
        let wall = start.elapsed().as_secs_f64();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{case}: nothing became ready: {}",
            stderr(&out)
        );
        let evs = events(&out.stdout);
        let sigs = signal_events(&evs);
        assert!(
            sent >= 20 && sigs.len() >= 20,
            "{case}: a storm was expected: sent {sent}, reported {}",
            sigs.len()
        );
        assert!(sigs.iter().all(|e| e["name"] == "ALRM"), "{case}: {sigs:?}");
        assert_eq!(of_kind(&evs, "timeout").len(), 1, "{case}: {evs:?}");
        let elapsed = num(&case, &last_summary(&case, &evs), "elapsed");
        assert!(
            (1.0..1.5).contains(&elapsed),
            "{case}: summary elapsed {elapsed} s (want 1.0 to 1.5)"
        );
        assert!(
            (1.0..1.5).contains(&wall),
            "{case}: wall time {wall:.3} s (want 1.0 to 1.5); {} signals sent",
            sent
        );
    });
}

#[test]
fn signals_count_as_activity_for_the_idle_timeout() {
    // Monitor mode: TIMEOUT is time with no event, and a signal event is an event. USR1
    // every 10 ms for 60 rounds (~0.6 s) keeps a 0.3 s idle timeout from expiring;
    // the run ends 0.3 s after the last one.
    each_backend(&["ppoll", "poll"], |b| {
        let case = format!("-b {b}, -m, USR1 every 10 ms, idle 0.3 s");
        let (r, _w) = pipe();
        let (child, _dog) = spawn(
            &case,
            Fdwatch::new([
                "-m",
                "-b",
                b,
                "--signals",
                "USR1",
                "--format",
                "json",
                "0.3",
                "3r",
            ])
            .fd(r.as_fd(), 3),
        );
        let pidfd = Pidfd::open(child.id()).expect("the child runs");
        blocked(child.id(), &case);
        let out = std::thread::scope(|s| {
            let storm = s.spawn(|| {
                for _ in 0..60 {
                    if pidfd.ended_within(Duration::from_millis(10)) || !pidfd.signal(libc::SIGUSR1)
                    {
                        break;
                    }
                }
            });
            let out = child.wait_with_output().expect("wait fdwatch");
            storm.join().expect("storm thread");
            out
        });
        assert_eq!(
            out.status.code(),
            Some(1),
            "{case}: idle timeout: {}",
            stderr(&out)
        );
        let evs = events(&out.stdout);
        let last_signal = signal_events(&evs)
            .last()
            .map(|e| num(&case, e, "t"))
            .unwrap_or_else(|| panic!("{case}: no signal events: {evs:?}"));
        let elapsed = num(&case, &last_summary(&case, &evs), "elapsed");
        assert!(
            elapsed >= last_signal + 0.3,
            "{case}: ended at {elapsed} s, less than 0.3 s after the last signal at {last_signal} s"
        );
    });
}

// 6. --mask: kept blocked through the wait, reported as pending at exit.

#[test]
fn mask_reports_pending_at_exit() {
    // ppoll is the case asked for; the others must behave the same (select and poll
    // keep it blocked with the thread's mask, as there is no mask in the call).
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b}, --mask USR2");
        let (r, _w) = pipe();
        let start = Instant::now();
        let (child, _dog) = spawn(
            &case,
            Fdwatch::new(["-b", b, "--mask", "USR2", "--format", "json", "0.5", "3r"])
                .fd(r.as_fd(), 3),
        );
        blocked(child.id(), &case);
        kill(pid_of(&child), Signal::SIGUSR2).expect("SIGUSR2");
        let out = child.wait_with_output().expect("wait fdwatch");
        let wall = start.elapsed().as_secs_f64();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{case}: a masked signal neither ends nor kills the run: {}",
            stderr(&out)
        );
        assert!(wall >= 0.5, "{case}: wall {wall:.3} s");
        let evs = events(&out.stdout);
        let s = last_summary(&case, &evs);
        assert!(num(&case, &s, "elapsed") >= 0.5, "{case}: {s}");
        assert_eq!(s["waits"], 1, "{case}: the wait was interrupted: {s}");
        let sigs = signal_events(&evs);
        assert_eq!(sigs.len(), 1, "{case}: one pending USR2 at exit: {evs:?}");
        assert_eq!(sigs[0]["name"], "USR2", "{case}: {}", sigs[0]);
        assert_eq!(sigs[0]["number"], libc::SIGUSR2, "{case}: {}", sigs[0]);
        assert_eq!(sigs[0]["pending"], true, "{case}: {}", sigs[0]);
        let at = index_of(&case, &evs, "signal");
        assert!(
            index_of(&case, &evs, "timeout") < at && at == evs.len() - 2,
            "{case}: after the timeout, just before the summary: {evs:?}"
        );
    });
}

// 7. -v names the method.

#[test]
fn verbose_says_which_method() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-v -b {b} --signals USR1");
        let (r, _w) = pipe();
        let out = Fdwatch::new([
            "-v",
            "-b",
            b,
            "--signals",
            "USR1",
            "--format",
            "json",
            "0",
            "3r",
        ])
        .fd(r.as_fd(), 3)
        .run();
        assert_eq!(out.status.code(), Some(1), "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        let notes: Vec<&str> = of_kind(&evs, "note")
            .iter()
            .filter_map(|n| n["message"].as_str())
            .collect();
        let (want, not) = if MASKED.contains(&b) {
            ("blocked except inside", "self-pipe")
        } else {
            ("self-pipe", "blocked except inside")
        };
        assert_eq!(
            notes.iter().filter(|m| m.contains(want)).count(),
            1,
            "{case}: one note saying {want:?}: {notes:?}"
        );
        assert!(!notes.iter().any(|m| m.contains(not)), "{case}: {notes:?}");
    });
}

// 8. Lists that cannot be caught or do not name a signal.

#[test]
fn bad_signal_lists_are_usage_errors() {
    for bad in ["KILL", "NOPE", "RTMIN+999"] {
        let case = format!("--signals {bad}");
        let out = Fdwatch::new(["--signals", bad, "--format", "json", "0", "0r"]).run();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{case}: {err}");
        assert!(out.stdout.is_empty(), "{case}: stdout {:?}", out.stdout);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{case}: one stderr line: {err:?}");
        assert!(lines[0].contains(bad), "{case}: names the signal: {err:?}");
    }
}
