//! `fdwatch pipeline` against real pipelines: small C stages the test starts on pipes
//! it created (`producer | relay | sink`), and the same under `sh -c` in a process
//! group. The test checks the JSON against its own FIONREAD, F_GETPIPE_SZ, fstat and
//! /proc, and that fdwatch consumed nothing and changed no flag.

/// The same across sockets.
mod sockets;

use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use nix::sys::signal::Signal;
use serde_json::Value;

const WATCHDOG: Duration = Duration::from_secs(30);

/// One program, several roles by the name it runs under (a symlink each, so each stage
/// has its own comm): producer writes forever; relay copies stdin to stdout; sink waits
/// for SIGUSR1 (reading nothing), then reads stdin forever; pacer, poller and epoller
/// copy too, as `pv -L` does, each time first waiting in select, poll or epoll_wait
/// until stdout takes more; tick writes a line per SIGUSR1 (SIGPIPE left at its default), and
/// so does any other name.
const STAGE_C: &str = r#"
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>
static void wait_usr1(void) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigprocmask(SIG_BLOCK, &s, NULL);
    int sig;
    sigwait(&s, &sig);
}
int main(int argc, char **argv) {
    (void)argc;
    const char *me = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    static char buf[4096];
    memset(buf, 'x', sizeof buf);
    if (!strcmp(me, "producer")) {
        for (;;) if (write(1, buf, sizeof buf) < 0) return 1;
    }
    if (!strcmp(me, "relay")) {
        for (;;) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0) return 0;
            if (write(1, buf, n) < 0) return 1;
        }
    }
    if (!strcmp(me, "pacer") || !strcmp(me, "poller") || !strcmp(me, "epoller")) {
        /* 1000 bytes at a time: small writes share a pipe's pages, so the pipe has no
           free slot (a writer waits) before 64 KiB are queued. */
        int ep = epoll_create1(0);
        struct epoll_event out = { .events = EPOLLOUT, .data.fd = 1 };
        if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, 1, &out) < 0) return 1;
        for (;;) {
            if (me[0] == 'e') {
                struct epoll_event got;
                if (epoll_wait(ep, &got, 1, -1) < 0) return 1;
            } else if (me[1] == 'a') {
                fd_set w;
                FD_ZERO(&w);
                FD_SET(1, &w);
                if (select(2, NULL, &w, NULL, NULL) < 0) return 1;
            } else {
                struct pollfd p = { .fd = 1, .events = POLLOUT };
                if (poll(&p, 1, -1) < 0) return 1;
            }
            ssize_t n = read(0, buf, 1000);
            if (n <= 0) return 0;
            if (write(1, buf, n) < 0) return 1;
        }
    }
    if (!strcmp(me, "sink")) {
        wait_usr1();
        for (;;) if (read(0, buf, sizeof buf) <= 0) return 0;
    }
    /* tick, and any other name */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    sigprocmask(SIG_BLOCK, &s, NULL);
    for (;;) {
        int sig;
        sigwait(&s, &sig);
        if (write(1, "tick\n", 5) < 0) return 1;
    }
}
"#;

/// The write end of a pipe whose reader is long gone, as some CI runners leave one open
/// at fd 251 in every process they start: every stage inherits it there
/// (`inherit_a_pipe_without_reader`). It does not join the processes, so it is no link
/// of theirs, however many of them hold it. One pipe for the whole test binary, kept
/// close-on-exec here so that no other test's child inherits it.
fn a_pipe_without_reader() -> RawFd {
    static W: OnceLock<OwnedFd> = OnceLock::new();
    W.get_or_init(|| {
        let (r, w) = pipe();
        drop(r);
        w
    })
    .as_raw_fd()
}

/// Places that pipe's write end at fd 251 in `cmd`'s child.
fn inherit_a_pipe_without_reader(cmd: &mut Command) {
    place_fds(cmd, vec![(a_pipe_without_reader(), 251)], false);
}

/// The stage program, compiled once per test into `dir`, with a link per role.
fn stages(dir: &TempDir) -> PathBuf {
    let src = dir.path("stage.c");
    std::fs::write(&src, STAGE_C).expect("write stage.c");
    let exe = dir.path("stage");
    cc(&src, &exe, "tests/it/pipeline.rs (its pipeline stages)");
    for role in [
        "producer", "relay", "sink", "tick", "pacer", "poller", "epoller",
    ] {
        symlink(&exe, dir.path(role)).expect("symlink");
    }
    dir.path("")
}

/// Starts `role` with the given stdin and stdout; stderr is /dev/null, so no pipe of
/// the test harness joins the pipeline.
fn start(dir: &Path, role: &str, stdin: Stdio, stdout: Stdio) -> Child {
    let mut cmd = Command::new(dir.join(role));
    cmd.stdin(stdin).stdout(stdout).stderr(Stdio::null());
    inherit_a_pipe_without_reader(&mut cmd);
    // SAFETY: prctl is async-signal-safe; the stage dies with the test.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            Ok(())
        });
    }
    cmd.counted_spawn().expect("spawn stage")
}

fn dup(fd: &OwnedFd) -> OwnedFd {
    fd.try_clone().expect("dup")
}

fn capacity(fd: impl AsFd) -> i32 {
    fcntl(fd.as_fd(), FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ")
}

/// `producer | MIDDLE | sink`, with the test's own duplicates of both pipes' read ends
/// (for FIONREAD), once both pipes are full, the producer blocked in write(2), the middle
/// stage in one of `middle_calls` and the sink waiting for its signal.
struct Stuck {
    kids: Vec<KillOnDrop>,
    /// Pipe 1's and pipe 2's read ends (duplicates: the same open file descriptions).
    p1: OwnedFd,
    p2: OwnedFd,
}

impl Stuck {
    fn start(dir: &Path) -> Stuck {
        let s = Stuck::with(dir, "relay", &[libc::SYS_write]);
        wait_until("both pipes full", || {
            fionread(&s.p1) == capacity(&s.p1) && fionread(&s.p2) == capacity(&s.p2)
        });
        s
    }

    fn with(dir: &Path, middle: &str, middle_calls: &[i64]) -> Stuck {
        let (r1, w1) = pipe();
        let (r2, w2) = pipe();
        let (p1, p2) = (dup(&r1), dup(&r2));
        let producer = start(dir, "producer", Stdio::null(), w1.into());
        let middle = start(dir, middle, r1.into(), w2.into());
        let sink = start(dir, "sink", r2.into(), Stdio::null());
        let s = Stuck {
            kids: [producer, middle, sink].map(KillOnDrop).into(),
            p1,
            p2,
        };
        let blocked_in =
            |c: &Child, calls: &[i64]| syscall_nr(c.id()).is_some_and(|nr| calls.contains(&nr));
        wait_until("both writers blocked, the sink waiting", || {
            blocked_in(&s.kids[0], &[libc::SYS_write])
                && blocked_in(&s.kids[1], middle_calls)
                && blocked_in(&s.kids[2], &[libc::SYS_rt_sigtimedwait])
        });
        s
    }

    fn pids(&self) -> Vec<String> {
        self.kids.iter().map(|c| c.id().to_string()).collect()
    }
}

/// `fdwatch pipeline ARGS` started with piped output, under a watchdog.
fn spawn_pipeline(args: &[&str]) -> (Child, Watchdog) {
    let mut all = vec!["pipeline"];
    all.extend_from_slice(args);
    let child = Fdwatch::new(all)
        .into_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .counted_spawn()
        .expect("spawn fdwatch");
    let dog = Watchdog::new(&child, WATCHDOG, "fdwatch pipeline");
    (child, dog)
}

fn pipeline(args: &[&str]) -> std::process::Output {
    let (child, _dog) = spawn_pipeline(args);
    child.wait_with_output().expect("wait fdwatch")
}

/// The one snapshot of a `--once` run; its exit status is the verdict's (1 stuck).
fn one_snapshot(case: &str, out: &std::process::Output) -> Value {
    let evs = events(&out.stdout);
    assert_eq!(evs.len(), 1, "{case}: one snapshot: {evs:?}");
    assert_eq!(evs[0]["event"], "pipeline", "{case}");
    let stuck = evs[0]["verdict"]["state"] == "stuck";
    assert_eq!(code(out), i32::from(stuck), "{case}: {}", stderr(out));
    evs[0].clone()
}

fn holders(v: &Value) -> Vec<(i64, i64)> {
    v.as_array()
        .expect("a list of holders")
        .iter()
        .map(|h| {
            (
                h["pid"].as_i64().expect("pid"),
                h["fd"].as_i64().expect("fd"),
            )
        })
        .collect()
}

fn process(snap: &Value, pid: u32) -> &Value {
    snap["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} not listed: {snap}"))
}

#[test]
fn a_stuck_pipeline_names_the_stage_that_reads_nothing() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let s = Stuck::start(&bin);
    let [producer, relay, sink] = [0, 1, 2].map(|i| s.kids[i].id());
    let before = (fionread(&s.p1), fionread(&s.p2));
    let flags = (status_flags(&s.p1), status_flags(&s.p2));
    let fds: Vec<usize> = s.kids.iter().map(|c| fd_count(c.id())).collect();

    let pids = s.pids();
    let mut args = vec!["--once", "--format", "json"];
    args.extend(pids.iter().map(String::as_str));
    let snap = one_snapshot("stuck", &pipeline(&args));

    let links = snap["links"].as_array().expect("links");
    assert_eq!(links.len(), 2, "the two pipes and nothing else: {snap}");
    let (l1, l2) = (&links[0], &links[1]);
    assert_eq!(l1["inode"], inode(&s.p1), "pipe 1 first: {snap}");
    assert_eq!(l2["inode"], inode(&s.p2), "pipe 2 second: {snap}");
    assert_eq!(holders(&l1["writers"]), [(producer as i64, 1)], "{snap}");
    assert_eq!(holders(&l1["readers"]), [(relay as i64, 0)], "{snap}");
    assert_eq!(holders(&l2["writers"]), [(relay as i64, 1)], "{snap}");
    assert_eq!(holders(&l2["readers"]), [(sink as i64, 0)], "{snap}");
    assert_eq!(l2["queued"], fionread(&s.p2), "pipe 2's queue: {snap}");
    assert_eq!(l2["capacity"], capacity(&s.p2), "{snap}");
    assert_eq!(l2["queued"], l2["capacity"], "pipe 2 full: {snap}");
    for l in links {
        assert_eq!(l["kind"], "pipe");
        assert_eq!(l["no_reader"], false);
    }

    assert_eq!(process(&snap, producer)["call"], "write", "{snap}");
    assert_eq!(process(&snap, producer)["fd"], 1, "{snap}");
    assert_eq!(process(&snap, relay)["call"], "write", "{snap}");
    assert_eq!(process(&snap, sink)["comm"], "sink", "{snap}");
    let v = &snap["verdict"];
    assert_eq!(v["state"], "stuck", "{snap}");
    assert_eq!(v["pids"][0], sink, "the sink holds the rest back: {snap}");
    let sentence = v["sentence"].as_str().expect("sentence");
    assert!(
        sentence.starts_with(&format!("{sink} (sink) reads nothing")),
        "{sentence}"
    );
    assert!(sentence.contains("pipe 2 full (64 KiB)"), "{sentence}");

    // Nothing consumed, no flag changed, no fd left behind in the stages.
    assert_eq!((fionread(&s.p1), fionread(&s.p2)), before);
    assert_eq!((status_flags(&s.p1), status_flags(&s.p2)), flags);
    assert!(!status_flags(&s.p2).contains(OFlag::O_NONBLOCK));
    let after: Vec<usize> = s.kids.iter().map(|c| fd_count(c.id())).collect();
    assert_eq!(fds, after, "the stages' fd counts");
}

/// A middle stage that waits in select, poll or epoll until it may write (as `pv -L` does)
/// reads nothing meanwhile, yet it is no non-reader: the verdict reads the fds and
/// ways it waits on, follows it down to the sink and blames the sink.
#[test]
fn a_stage_waiting_in_select_poll_or_epoll_to_write_is_not_blamed() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let cases = [
        (
            "pacer",
            [libc::SYS_select, libc::SYS_pselect6],
            ["select", "pselect6"],
        ),
        (
            "poller",
            [libc::SYS_poll, libc::SYS_ppoll],
            ["poll", "ppoll"],
        ),
        (
            "epoller",
            [libc::SYS_epoll_wait, libc::SYS_epoll_pwait],
            ["epoll_wait", "epoll_pwait"],
        ),
    ];
    for (middle, calls, names) in cases {
        let s = Stuck::with(&bin, middle, &calls);
        let [producer, mid, sink] = [0, 1, 2].map(|i| s.kids[i].id());
        let before = (fionread(&s.p1), fionread(&s.p2));
        let pids = s.pids();
        let mut args = vec!["--once", "--format", "json"];
        args.extend(pids.iter().map(String::as_str));
        let snap = one_snapshot(middle, &pipeline(&args));

        let v = &snap["verdict"];
        assert_eq!(v["state"], "stuck", "{middle}: {snap}");
        assert_eq!(
            v["pids"],
            serde_json::json!([sink, mid, producer]),
            "{snap}"
        );
        let sentence = v["sentence"].as_str().expect("sentence");
        assert!(
            sentence.starts_with(&format!("{sink} (sink) reads nothing")),
            "{middle}: {sentence}"
        );
        assert!(
            sentence.contains(&format!("{mid} ({middle}) blocked writing to it")),
            "{middle}: {sentence}"
        );

        let l2 = &snap["links"][1];
        assert_eq!(l2["inode"], inode(&s.p2), "{middle}: {snap}");
        assert_eq!(l2["full"], true, "{middle}: no free slot: {snap}");
        assert!(
            l2["queued"].as_i64() < l2["capacity"].as_i64(),
            "{middle}: full with fewer bytes than its capacity (small writes): {snap}"
        );
        let m = process(&snap, mid);
        assert!(
            names.iter().any(|n| m["call"] == *n),
            "{middle}: its call: {snap}"
        );
        assert_eq!(
            m["waits"],
            serde_json::json!([{"fd": 1, "read": false, "write": true}]),
            "{middle}: what it waits on: {snap}"
        );
        assert_eq!((fionread(&s.p1), fionread(&s.p2)), before, "{middle}");
    }
}

#[test]
fn the_text_view_says_the_same() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let s = Stuck::start(&bin);
    let sink = s.kids[2].id();
    let pids = s.pids();
    let mut args = vec!["--once", "--color", "never"];
    args.extend(pids.iter().map(String::as_str));
    let out = pipeline(&args);
    assert_eq!(code(&out), 1, "stuck: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("100%"), "a full bar: {text}");
    assert!(
        text.contains(&format!("verdict: {sink} (sink) reads nothing")),
        "{text}"
    );
}

#[test]
fn once_the_sink_reads_the_pipeline_flows() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let s = Stuck::start(&bin);
    signal(&s.kids[2], Signal::SIGUSR1);
    let pids = s.pids();
    let mut args = vec!["--format", "json", "--interval", "200ms", "--count", "3"];
    args.extend(pids.iter().map(String::as_str));
    let out = pipeline(&args);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let snaps = events(&out.stdout);
    assert_eq!(snaps.len(), 3, "--count 3: {snaps:?}");
    assert!(
        snaps[0]["processes"][0]["write_rate"].is_null(),
        "no rate in the first snapshot"
    );
    let [producer, relay, sink] = [0, 1, 2].map(|i| s.kids[i].id());
    let moving = |snap: &Value| {
        let rate = |pid, key: &str| process(snap, pid)[key].as_f64().unwrap_or(0.0);
        snap["verdict"]["state"] == "flowing"
            && rate(producer, "write_rate") > 0.0
            && rate(relay, "read_rate") > 0.0
            && rate(relay, "write_rate") > 0.0
            && rate(sink, "read_rate") > 0.0
    };
    assert!(
        snaps.iter().any(moving),
        "flowing, every stage moving, within three snapshots: {snaps:?}"
    );
    let flowing = snaps
        .iter()
        .find(|s| moving(s))
        .expect("a flowing snapshot");
    let sentence = flowing["verdict"]["sentence"].as_str().expect("sentence");
    assert!(sentence.starts_with("flowing: "), "{sentence}");
    assert!(sentence.contains("B/s through pipe"), "{sentence}");
}

#[test]
fn a_process_group_from_sh_gives_the_same_pipeline() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let script = format!(
        "{0}/producer | {0}/relay | {0}/sink",
        bin.display().to_string().trim_end_matches('/')
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    inherit_a_pipe_without_reader(&mut sh);
    let sh = sh.counted_spawn().expect("spawn sh");
    let pgid = sh.id();
    let _dog = Watchdog::new(&sh, WATCHDOG, "sh");
    let _group = Group(sh);
    let members = || -> Vec<(u32, String)> {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| {
                let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
                let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let (comm, rest) = st.split_once(" (")?.1.rsplit_once(')')?;
                let pgrp: u32 = rest.split_whitespace().nth(2)?.parse().ok()?;
                (pgrp == pgid).then(|| (pid, comm.to_owned()))
            })
            .collect()
    };
    wait_until("the three stages blocked in write and sigwait", || {
        let m = members();
        let blocked = |name: &str, nr: i64| {
            m.iter()
                .any(|(p, c)| c == name && syscall_nr(*p) == Some(nr))
        };
        blocked("producer", libc::SYS_write)
            && blocked("relay", libc::SYS_write)
            && blocked("sink", libc::SYS_rt_sigtimedwait)
    });
    let pg = pgid.to_string();
    let snap = one_snapshot(
        "--pgid",
        &pipeline(&["--pgid", &pg, "--once", "--format", "json"]),
    );
    let stage_pid = |name: &str| {
        snap["processes"]
            .as_array()
            .expect("processes")
            .iter()
            .find(|p| p["comm"] == name)
            .and_then(|p| p["pid"].as_i64())
            .unwrap_or_else(|| panic!("no {name}: {snap}"))
    };
    let (producer, relay, sink) = (stage_pid("producer"), stage_pid("relay"), stage_pid("sink"));
    let links = snap["links"].as_array().expect("links");
    assert_eq!(links.len(), 2, "two pipes: {snap}");
    assert_eq!(holders(&links[0]["writers"]), [(producer, 1)], "{snap}");
    assert_eq!(holders(&links[0]["readers"]), [(relay, 0)], "{snap}");
    assert_eq!(holders(&links[1]["writers"]), [(relay, 1)], "{snap}");
    assert_eq!(holders(&links[1]["readers"]), [(sink, 0)], "{snap}");
    assert_eq!(snap["verdict"]["pids"][0], sink, "{snap}");
}

/// The `sh -c` job: its whole group is killed and reaped however the test ends.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: killpg takes two integers; the group is the test's own.
        unsafe { libc::killpg(self.0.id() as i32, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

#[test]
fn a_reader_that_exits_leaves_a_pipe_without_reader_and_the_writer_dies_of_sigpipe() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let (r, w) = pipe();
    let mut tick = start(&bin, "tick", Stdio::null(), w.into());
    let mut reader = start(&bin, "relay", r.into(), Stdio::null());
    let (tp, rp) = (tick.id(), reader.id());
    wait_until("the writer waits for its signal", || {
        syscall_nr(tp) == Some(libc::SYS_rt_sigtimedwait)
    });
    let (ts, rs) = (tp.to_string(), rp.to_string());
    let (mut child, _dog) = spawn_pipeline(&["--format", "json", "--interval", "50ms", &ts, &rs]);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || -> Value {
        let l = lines.next().expect("a snapshot").expect("read");
        serde_json::from_str(&l).expect("JSON")
    };
    let first = next();
    assert_eq!(first["links"][0]["no_reader"], false, "{first}");
    // The reader dies (a zombie: the test does not reap it yet), the writer lives on.
    signal(&reader, Signal::SIGKILL);
    let lost = loop {
        let s = next();
        if s["links"][0]["no_reader"] == true {
            break s;
        }
    };
    assert_eq!(
        holders(&lost["links"][0]["writers"]),
        [(tp as i64, 1)],
        "{lost}"
    );
    assert_eq!(lost["links"][0]["readers"], serde_json::json!([]), "{lost}");
    assert_eq!(process(&lost, rp)["state"], "Z", "{lost}");
    assert_eq!(process(&lost, rp)["exit"], "SIGKILL", "{lost}");
    assert_eq!(lost["verdict"]["state"], "stuck", "{lost}");
    let sentence = lost["verdict"]["sentence"].as_str().expect("sentence");
    assert!(sentence.contains("has no reader"), "{sentence}");
    assert_eq!(lost["verdict"]["pids"][0], tp, "{lost}");
    // Now the writer writes: SIGPIPE, seen in the next snapshots; then every process
    // has exited and the view ends by itself.
    signal(&tick, Signal::SIGUSR1);
    let dead = loop {
        let s = next();
        if process(&s, tp)["state"] == "Z" {
            break s;
        }
    };
    assert_eq!(process(&dead, tp)["exit"], "SIGPIPE", "{dead}");
    assert_eq!(dead["verdict"]["state"], "done", "{dead}");
    let st = child.wait().expect("wait fdwatch");
    assert_eq!(st.code(), Some(0), "ends when every process is gone");
    let _ = (tick.wait(), reader.wait());
}

#[test]
fn sigterm_ends_the_live_view_with_143() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let s = Stuck::start(&bin);
    let pids = s.pids();
    let mut args = vec!["--format", "json", "--interval", "10s"];
    args.extend(pids.iter().map(String::as_str));
    let (mut child, _dog) = spawn_pipeline(&args);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let _ = lines.next().expect("the first snapshot");
    let sent = Instant::now();
    signal(&child, Signal::SIGTERM);
    let st = child.wait().expect("wait");
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(st.signal(), Some(libc::SIGTERM), "dies by the signal: {st}");
}

#[test]
fn unknown_or_forbidden_pids_are_one_line_or_listed_with_their_reason() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    // Nothing to show: one line, exit 2.
    let out = pipeline(&["--once", "2147483647"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no such process"), "{err}");
    // Something to show: the missing pid is listed with its reason.
    let dir = TempDir::new();
    let bin = stages(&dir);
    let (r, w) = pipe();
    let mut tick = start(&bin, "tick", Stdio::null(), w.into());
    let tp = tick.id();
    wait_until("the tick waits for its signal", || {
        syscall_nr(tp) == Some(libc::SYS_rt_sigtimedwait)
    });
    let me = tp.to_string();
    let snap = one_snapshot(
        "one missing",
        &pipeline(&["--once", "--format", "json", &me, "2147483647"]),
    );
    let missing = &snap["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == 2147483647)
        .unwrap_or_else(|| panic!("the missing pid listed: {snap}"));
    assert!(
        missing["error"]
            .as_str()
            .is_some_and(|e| e.contains("no such process")),
        "{snap}"
    );
    assert_eq!(
        process(&snap, tick.id())["call"],
        "rt_sigtimedwait",
        "{snap}"
    );
    // Not permitted: fdwatch as nobody looking at root's process (only as root).
    if nix::unistd::geteuid().is_root() {
        let mut cmd = Fdwatch::new(["pipeline", "--once", &me]).into_command();
        cmd.uid(65534).gid(65534);
        let out = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .counted_output()
            .expect("fdwatch as nobody");
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("not permitted"), "{err}");
    }
    drop(r);
    let _ = tick.kill();
    let _ = tick.wait();
}

#[test]
fn a_process_name_with_control_bytes_is_escaped_in_text() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let (_r, w) = pipe();
    // A process's name is the file it ran: a link named with ESC, CSI and BEL.
    let evil = "\u{1b}[31mevil\u{7}";
    symlink(bin.join("stage"), bin.join(evil)).expect("symlink");
    let mut tick = start(&bin, evil, Stdio::null(), w.into());
    wait_until("the process waits for its signal", || {
        syscall_nr(tick.id()) == Some(libc::SYS_rt_sigtimedwait)
    });
    let me = tick.id().to_string();
    let out = pipeline(&["--once", "--color", "never", &me]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !out.stdout.iter().any(|&b| b == 0x1b || b == 0x07),
        "raw control bytes: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("evil"));
    let snap = one_snapshot("json", &pipeline(&["--once", "--format", "json", &me]));
    assert_eq!(process(&snap, tick.id())["comm"], evil, "lossless");
    let _ = tick.kill();
    let _ = tick.wait();
}
