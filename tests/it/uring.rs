//! `-b uring` beyond the matrix every backend runs (common::BACKENDS has
//! uring, so readiness, FIFOs, ptys, sockets, urgent data, signals, faults and the
//! relay all run on it): a refused io_uring setup, the raw result, epoll's modes
//! refused, many FIFO writers without a spin, multishot polls the kernel ends (a full
//! completion queue) armed again, and bench rows.

use crate::common::*;

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use nix::fcntl::OFlag;

/// Where io_uring cannot be set up (a seccomp filter, kernel.io_uring_disabled, an
/// old kernel), `-b uring` fails at once: exit 2, one line naming why and `-b epoll`.
#[test]
fn a_refused_setup_is_one_line_naming_epoll() {
    if !have("strace", "io_uring_setup refused under strace") {
        return;
    }
    for errno in ["EPERM", "ENOSYS"] {
        let case = format!("io_uring_setup fails with {errno}");
        let out = run(&case, setup_fails("uring", errno));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{case}: {err}");
        assert_eq!(err.lines().count(), 1, "{case}: one line: {err:?}");
        assert!(
            err.contains("-b epoll") && err.contains(errno),
            "{case}: {err}"
        );
        assert!(!err.contains("panicked"), "{case}: {err}");
        assert!(out.stdout.is_empty(), "{case}: {out:?}");
    }
    // Another backend is not affected by the same filter.
    let out = run("epoll under the same filter", setup_fails("epoll", "EPERM"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// `fdwatch -b BACKEND 0 0r` under strace, with io_uring_setup failing with `errno`.
fn setup_fails(backend: &str, errno: &str) -> Fdwatch {
    Fdwatch::new(["-b", backend, "0", "0r"]).under_strace(
        Path::new("/dev/null"),
        &[
            trace_filter("io_uring_setup"),
            inject_filter("io_uring_setup", errno, None),
        ],
    )
}

/// `raw` is the completion's poll mask in POLL* names, and a poll that failed shows
/// its errno: an O_PATH fd has no file to poll (EBADF), an `invalid` event as POLLNVAL
/// is for poll.
#[test]
fn raw_is_the_completions_mask_or_errno() {
    let (r, w) = pipe();
    write(&w, b"abc");
    drop(w);
    let out = run(
        "a pipe with data, writer gone",
        Fdwatch::new(["-b", "uring", "--format", "json", "0", "3r"]).fd(r.as_fd(), 3),
    );
    let evs = events(&out.stdout);
    let ready = of_kind(&evs, "ready");
    assert_eq!(ready.len(), 1, "{evs:?}");
    assert_eq!(ready[0]["raw"], "POLLIN|POLLHUP", "{evs:?}");
    assert_eq!(ready[0]["backend"], "uring", "{evs:?}");

    let dir = TempDir::new();
    let p = dir.path("f");
    std::fs::write(&p, b"x").expect("write");
    let path_fd = open(&p, OFlag::O_PATH);
    let out = run(
        "an O_PATH fd",
        Fdwatch::new(["-b", "uring", "--format", "json", "0", "3r"]).fd(path_fd.as_fd(), 3),
    );
    let evs = events(&out.stdout);
    let ready = of_kind(&evs, "ready");
    assert_eq!(ready.len(), 1, "{evs:?}");
    assert_eq!(words(ready[0]), ["invalid"], "{evs:?}");
    assert_eq!(ready[0]["raw"], "-EBADF", "{evs:?}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "an invalid fd counts as reported"
    );
}

#[test]
fn epoll_modes_are_refused() {
    for flag in ["--edge", "--oneshot"] {
        let out = run(flag, Fdwatch::new(["-b", "uring", flag, "0", "0r"]));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(
            err.contains(flag) && err.contains("-b epoll"),
            "{flag}: {err}"
        );
    }
}

/// Monitor mode (multishot polls) on a FIFO path, 100 writers one after the other:
/// every byte and every hang-up is seen, the read end reopened each time, and the
/// run then sleeps (no spin on the multishot re-arms).
#[test]
fn a_hundred_fifo_writers_every_byte_and_no_spin() {
    let case = "uring -m on a FIFO, 100 writer cycles";
    let dir = TempDir::new();
    let fifo = dir.fifo("jobs");
    let path = fifo.display().to_string();
    let (mut child, _dog) = spawn(
        case,
        Fdwatch::new([
            "-b",
            "uring",
            "-m",
            "--read=text",
            "--format",
            "json",
            "-",
            &path,
        ]),
    );
    let mut evs = EventStream::new(&mut child, case);
    blocked(child.id(), case);
    for i in 0..100u32 {
        let w = fifo_writer(&fifo, case);
        write(&w, format!("job {i}\n").as_bytes());
        drop(w);
        // The hang-up (and its reopen) before the next writer.
        evs.until("the writer's hang-up", |e| {
            e["event"] == "hangup" && e["action"] == "reopen"
        });
    }
    let text: String = of_kind(evs.seen(), "data")
        .iter()
        .map(|e| e["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    let want: String = (0..100).map(|i| format!("job {i}\n")).collect();
    assert_eq!(text, want, "{case}: every byte, in order");
    assert_eq!(
        of_kind(evs.seen(), "hangup").len(),
        100,
        "{case}: every hang-up"
    );
    // Idle now: under 10 % of a CPU over half a second.
    blocked(child.id(), case);
    let ticks = |pid: u32| -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let f: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |x| x.1)
            .split_whitespace()
            .collect();
        f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
    };
    let before = ticks(child.id());
    std::thread::sleep(Duration::from_millis(500));
    let used = ticks(child.id()) - before;
    // 100 ticks a second: 10 % of 0.5 s is 5 ticks.
    assert!(used < 5, "{case}: {used} clock ticks in 0.5 s while idle");
    sigterm(&child);
    let st = child.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(15),
        "{case}: {st}"
    );
}

/// Submissions fdwatch's ring has taken so far (its fdinfo's `SqHead`, decimal).
fn ring_submissions(pid: u32) -> u64 {
    let dir = format!("/proc/{pid}/fd");
    for e in std::fs::read_dir(&dir).expect("fdwatch's fds").flatten() {
        let link = std::fs::read_link(e.path()).unwrap_or_default();
        if link.to_string_lossy() != "anon_inode:[io_uring]" {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            e.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        if let Some(n) = info
            .lines()
            .find_map(|l| l.strip_prefix("SqHead:")?.trim().parse().ok())
        {
            return n;
        }
    }
    panic!("fdwatch (pid {pid}) has no io_uring fd with an SqHead");
}

/// The kernel ends a multishot poll when its completion finds the completion queue
/// full (liburing's poll-mshot-overflow): that last completion comes without
/// IORING_CQE_F_MORE, and the poll must be armed again or its fd goes deaf. fdwatch's
/// queue holds 4096: with fdwatch stopped (SIGSTOP) the test writes to 5000 watched
/// pipes, so when it runs again more completions come than fit. Every pipe is
/// reported, the ring took new POLL_ADDs (its SqHead grows: the re-arms), and after a
/// second write to every pipe each one is reported again.
#[test]
fn multishot_polls_the_kernel_ends_are_rearmed() {
    const N: usize = 5000;
    let case = "uring -m, 5000 pipes written while fdwatch is stopped";
    // The pipes, both ends here, and their read ends moved in the child.
    if !raise_nofile_to(4 * N as u64) {
        eprintln!(
            "{case}: RLIMIT_NOFILE's hard limit is below {}: skipped",
            4 * N
        );
        return;
    }
    let pipes: Vec<(OwnedFd, OwnedFd)> = (0..N).map(|_| pipe()).collect();
    let range = format!("3-{}r", N + 2);
    let mut f = Fdwatch::new(["-b", "uring", "-m", "--format", "json", "-", &range]);
    for (i, (r, _)) in pipes.iter().enumerate() {
        f = f.fd(r.as_fd(), 3 + i as RawFd);
    }
    let (mut child, _dog) = spawn(case, f);
    let pid = child.id();
    let mut evs = EventStream::new(&mut child, case);
    let every_fd_ready = |evs: &mut EventStream, step: &str| {
        let mut seen = HashSet::new();
        while seen.len() < N {
            let e = evs.next_named("ready");
            assert!(words(&e).iter().any(|w| w == "read"), "{case}: {step}: {e}");
            seen.insert(e["fd"].as_i64().expect("fd"));
        }
    };
    blocked(pid, case);
    let armed = ring_submissions(pid);
    stop(pid, case);
    for (_, w) in &pipes {
        write(w, b"1");
    }
    resume(pid);
    every_fd_ready(&mut evs, "the first writes");
    blocked(pid, case);
    let after = ring_submissions(pid);
    assert!(
        after > armed,
        "{case}: no poll armed again ({armed} submissions before, {after} after): \
         the kernel ended none?"
    );
    // Every poll is armed: a second byte in each pipe is seen.
    for (_, w) in &pipes {
        write(w, b"2");
    }
    every_fd_ready(&mut evs, "the second writes");
    sigterm(&child);
    evs.rest();
    let st = child.wait().expect("wait");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&st),
        Some(15),
        "{case}: {st}"
    );
}

#[test]
fn bench_has_uring_rows() {
    let out = run(
        "bench --backends uring,epoll",
        Fdwatch::new([
            "bench",
            "--backends",
            "uring,epoll",
            "--fds",
            "10,100",
            "--rounds",
            "50",
            "--repeats",
            "1",
            "--format",
            "json",
        ]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rows = events(&out.stdout);
    let uring: Vec<_> = rows.iter().filter(|r| r["backend"] == "uring").collect();
    assert_eq!(uring.len(), 2, "{rows:?}");
    for r in uring {
        assert!(r["ns_per_event"].as_f64().is_some_and(|n| n > 0.0), "{r}");
    }
}

/// A socket watched for urgent data alone (`/e`): io_uring's poll never completes for
/// POLLPRI alone on TCP, so -b uring holds such an fd in an epoll instance the ring
/// polls. Every backend reports the urgent byte that follows data already queued.
#[test]
fn a_socket_watched_for_urgent_data_alone_reports_it() {
    each_backend(&BACKENDS, |b| {
        let case = format!("-b {b} tcp:.../e, data then an urgent byte");
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let spec = format!("tcp:{}/e", server.local_addr().expect("addr"));
        let f = Fdwatch::new(["-m", "-b", b, "--format", "json", "5", &spec]);
        let (mut child, _dog) = spawn(&case, f);
        let mut evs = EventStream::new(&mut child, &case);
        let (mut peer, _) = server.accept().expect("accept");
        evs.until("the connect event", is("connect"));
        std::io::Write::write_all(&mut peer, b"abc").expect("send");
        blocked(child.id(), &case);
        send_oob(&peer, b"U");
        let got = evs.until("the urgent byte", is("urgent"));
        let u = got.last().expect("urgent");
        assert_eq!(u["byte"], "U", "{case}: {u}");
        assert_eq!(u["offset"], 3, "{case}: {u}");
        sigterm(&child);
        let _ = child.wait();
    });
}
