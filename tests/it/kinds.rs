//! Every kind of fd described: a child process
//! (a small C program, compiled here with `cc`) makes an eventfd (written 73519, which
//! fdinfo writes in hex), a timerfd (CLOCK_MONOTONIC, interval 1.5 s, first expiry in
//! 0.3 s), a signalfd (USR2, RTMIN+3), an inotify fd watching a temporary directory
//! for IN_CREATE, an epoll fd watching a pipe, a pidfd (of this test process), a pidfd
//! of a child it has reaped, a memfd named "fdwatch-test", and where this kernel and
//! its privileges allow, a fanotify fd (FAN_MODIFY on the directory) and an io_uring.
//! `fdwatch -v 0 pid:PID:FD` names each one's kind and facts, the numbers the test set
//! in decimal, in JSON and in text, in its `watching` event (and in its `ready` event
//! when it is ready); in monitor mode an eventfd written, the timer expiring and a file
//! created in the watched directory show as `read`.
//!
//! The child answers one-byte commands on its stdin with a line on its stdout, once
//! done, so every step is synchronized on its reply, on fdwatch's JSON lines, on
//! `wait_blocked` or on /proc (1 ms polls under a deadline); never on sleeps. Its fds are
//! close-on-exec; it asks for PR_SET_PTRACER_ANY, so fdwatch may take its fds
//! (pidfd_getfd) also under Yama's ptrace_scope 1, and dies with this test process.

use std::io::{BufRead, BufReader, Lines, Write as _};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::libc;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(10);

/// The child: makes the fds, prints their numbers, then serves commands.
const CHILD_C: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(3); }

/* The timer as the test describes it: first expiry in 0.3 s, then every 1.5 s. */
static void arm(int tf, long first_ns) {
    struct itimerspec its = { .it_interval = { first_ns ? 1 : 0, first_ns ? 500000000 : 0 },
                              .it_value = { 0, first_ns } };
    if (timerfd_settime(tf, 0, &its, NULL) < 0) die("timerfd_settime");
}

int main(int argc, char *argv[]) {
    if (argc != 2) { fprintf(stderr, "usage: kinds DIR\n"); return 2; }
    /* Any tracer (fdwatch's pidfd_getfd) may inspect us; we die with the test. */
    prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() == 1) return 4;

    int ev = eventfd(0, EFD_CLOEXEC);
    if (ev < 0) die("eventfd");
    uint64_t n = 73519;
    if (write(ev, &n, sizeof n) != sizeof n) die("write eventfd");
    int tf = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (tf < 0) die("timerfd_create");
    arm(tf, 300000000);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGRTMIN + 3);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) die("sigprocmask");
    int sf = signalfd(-1, &set, SFD_CLOEXEC);
    if (sf < 0) die("signalfd");
    int in = inotify_init1(IN_CLOEXEC);
    if (in < 0) die("inotify_init1");
    if (inotify_add_watch(in, argv[1], IN_CREATE) < 0) die("inotify_add_watch");
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe2");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event e = { .events = EPOLLIN, .data.fd = p[0] };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e) < 0) die("epoll_ctl");
    int pf = syscall(SYS_pidfd_open, getppid(), 0);
    if (pf < 0) die("pidfd_open");
    int mf = memfd_create("fdwatch-test", MFD_CLOEXEC);
    if (mf < 0) die("memfd_create");
    /* A pidfd of a child that has ended and been reaped: fdinfo's Pid is -1. */
    pid_t kid = fork();
    if (kid < 0) die("fork");
    if (kid == 0) _exit(0);
    int gone = syscall(SYS_pidfd_open, kid, 0);
    if (gone < 0) die("pidfd_open of the child");
    if (waitpid(kid, NULL, 0) != kid) die("waitpid");
    /* fanotify needs CAP_SYS_ADMIN and io_uring may be disabled: -1 when refused.
       (pidfds and io_uring fds are close-on-exec from the start.) */
    int fa = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY);
    if (fa >= 0 && fanotify_mark(fa, FAN_MARK_ADD, FAN_MODIFY, AT_FDCWD, argv[1]) < 0)
        die("fanotify_mark");
    unsigned char params[120] = { 0 };
    int ur = syscall(SYS_io_uring_setup, 4, params);

    printf("eventfd %d timerfd %d signalfd %d inotify %d epoll %d pipe %d pidfd %d memfd %d "
           "gone %d fanotify %d uring %d\n",
           ev, tf, sf, in, ep, p[0], pf, mf, gone, fa, ur);
    fflush(stdout);

    int c;
    while ((c = getchar()) != EOF) {
        switch (c) {
        case 'e': /* the eventfd written: count + 1 */
            n = 1;
            if (write(ev, &n, sizeof n) != sizeof n) die("write eventfd");
            break;
        case 'z': /* the eventfd read: count 0 */
            if (read(ev, &n, sizeof n) != sizeof n) die("read eventfd");
            break;
        case 'a': /* the timer armed: in 0.3 s, then every second */
            arm(tf, 300000000);
            break;
        case 'd': /* the timer disarmed */
            arm(tf, 0);
            break;
        default:
            continue;
        }
        printf("ok %c\n", c);
        fflush(stdout);
    }
    return 0;
}
"#;

/// Compiles the child into `dir`.
fn compile(dir: &TempDir) -> PathBuf {
    let src = dir.path("kinds.c");
    std::fs::write(&src, CHILD_C).expect("write kinds.c");
    let exe = dir.path("kinds");
    cc(&src, &exe, "tests/it/kinds.rs (its child process)");
    exe
}

/// The child's fd numbers.
#[derive(Clone, Copy, Debug)]
struct Nums {
    eventfd: i64,
    timerfd: i64,
    signalfd: i64,
    inotify: i64,
    epoll: i64,
    /// The pipe's read end, which the epoll fd watches.
    pipe: i64,
    pidfd: i64,
    memfd: i64,
    /// A pidfd of a child the child reaped.
    gone: i64,
    /// -1 where fanotify_init or io_uring_setup was refused.
    fanotify: i64,
    uring: i64,
}

/// The running child, killed and reaped on drop.
struct Kinds {
    child: KillOnDrop,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    fds: Nums,
    /// The directory its inotify fd watches.
    dir: TempDir,
    _bin: TempDir,
}

impl Kinds {
    fn start() -> Kinds {
        let bin = TempDir::new();
        let exe = compile(&bin);
        let dir = TempDir::new();
        let mut child = Command::new(&exe)
            .arg(&dir.0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .counted_spawn()
            .expect("spawn the child");
        let stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines
            .next()
            .expect("the child's fd numbers (it died?)")
            .expect("read");
        let words: Vec<&str> = first.split_whitespace().collect();
        let get = |name: &str| -> i64 {
            let i = words
                .iter()
                .position(|w| *w == name)
                .unwrap_or_else(|| panic!("{name} in {first:?}"));
            words[i + 1].parse().expect("an fd number")
        };
        let fds = Nums {
            eventfd: get("eventfd"),
            timerfd: get("timerfd"),
            signalfd: get("signalfd"),
            inotify: get("inotify"),
            epoll: get("epoll"),
            pipe: get("pipe"),
            pidfd: get("pidfd"),
            memfd: get("memfd"),
            gone: get("gone"),
            fanotify: get("fanotify"),
            uring: get("uring"),
        };
        Kinds {
            child: KillOnDrop(child),
            stdin,
            lines,
            fds,
            dir,
            _bin: bin,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a command and waits for the child's reply: it is done.
    fn command(&mut self, c: char) {
        self.stdin
            .write_all(&[c as u8])
            .and_then(|()| self.stdin.flush())
            .expect("a command to the child");
        let reply = self
            .lines
            .next()
            .expect("the child's reply (it died?)")
            .expect("read");
        assert_eq!(reply, format!("ok {c}"), "the child's reply to {c:?}");
    }

    fn spec(&self, fd: i64) -> String {
        format!("pid:{}:{fd}", self.pid())
    }

    /// `pid PID fd FD (DESC)`: what fdwatch calls the child's fd.
    fn what(&self, fd: i64, desc: &str) -> String {
        format!("pid {} fd {fd} ({desc})", self.pid())
    }

    /// The timer's expirations so far, from the child's /proc/PID/fdinfo.
    fn timer_ticks(&self) -> u64 {
        let info =
            std::fs::read_to_string(format!("/proc/{}/fdinfo/{}", self.pid(), self.fds.timerfd))
                .expect("the timerfd's fdinfo");
        info.lines()
            .find_map(|l| l.strip_prefix("ticks:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no ticks in the timerfd's fdinfo: {info}"))
    }
}

/// `ino INO dev MAJOR:MINOR` of `dir`, in decimal, from stat (fdinfo has them in hex).
fn inode_of(dir: &Path) -> String {
    let m = std::fs::metadata(dir).expect("stat the watched directory");
    let dev = m.dev();
    format!(
        "ino {} dev {}:{}",
        m.ino(),
        libc::major(dev),
        libc::minor(dev)
    )
}

/// `inotify 1 watch (ino INO dev MAJOR:MINOR for IN_CREATE)` for the watch on `dir`.
fn inotify_desc(dir: &Path) -> String {
    format!("inotify 1 watch ({} for IN_CREATE)", inode_of(dir))
}

/// `timerfd CLOCK_MONOTONIC, interval 1.5s, next in Xs`: X, which must be within (0, 0.3].
fn timer_next(case: &str, what_desc: &str) -> f64 {
    let rest = what_desc
        .strip_prefix("timerfd CLOCK_MONOTONIC, interval 1.5s, next in ")
        .and_then(|r| r.strip_suffix('s'))
        .unwrap_or_else(|| {
            panic!(
                "{case}: not `timerfd CLOCK_MONOTONIC, interval 1.5s, next in Xs`: {what_desc:?}"
            )
        });
    let next: f64 = rest
        .parse()
        .unwrap_or_else(|e| panic!("{case}: time to expiry {rest:?}: {e}"));
    assert!(
        next > 0.0 && next <= 0.3,
        "{case}: armed 0.3 s before at most: next in {next}"
    );
    next
}

/// What each fd should be: (name, fd, JSON kind, description, ready words in a poll
/// of timeout 0). `None` as description: the timer, checked by `timer_next`. fanotify
/// and io_uring only where the child could make them (said on stderr otherwise).
fn expected(k: &Kinds) -> Vec<(&'static str, i64, &'static str, Option<String>, bool)> {
    let f = k.fds;
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let mut rows = vec![
        (
            "eventfd",
            f.eventfd,
            "eventfd",
            Some("eventfd count 73519".into()),
            true,
        ),
        ("timerfd", f.timerfd, "timerfd", None, false),
        (
            "signalfd",
            f.signalfd,
            "signalfd",
            Some("signalfd USR2,RTMIN+3 (ready by fdwatch's own pending signals)".into()),
            false,
        ),
        (
            "inotify",
            f.inotify,
            "inotify",
            Some(inotify_desc(&k.dir.0)),
            false,
        ),
        (
            "epoll",
            f.epoll,
            "epoll",
            Some(format!("epoll watching {} (read)", f.pipe)),
            false,
        ),
        (
            "pidfd",
            f.pidfd,
            "pidfd",
            Some(format!("pidfd pid {me}")),
            false,
        ),
        (
            "memfd",
            f.memfd,
            "memfd",
            Some("memfd fdwatch-test".into()),
            true,
        ),
        (
            "pidfd of a reaped child",
            f.gone,
            "pidfd",
            Some("pidfd of a process that has ended".into()),
            true,
        ),
    ];
    if f.fanotify >= 0 {
        rows.push((
            "fanotify",
            f.fanotify,
            "fanotify",
            Some(format!(
                "fanotify 1 mark ({} for FAN_MODIFY)",
                inode_of(&k.dir.0)
            )),
            false,
        ));
    } else {
        eprintln!("fanotify_init refused here (no CAP_SYS_ADMIN?): its row is left out");
    }
    if f.uring >= 0 {
        rows.push((
            "io_uring",
            f.uring,
            "io_uring",
            Some("io_uring 0 completions unread, 0 submissions pending".into()),
            false,
        ));
    } else {
        eprintln!("io_uring_setup refused here: its row is left out");
    }
    rows
}

/// The description inside `pid PID fd FD (DESC)`.
fn desc_of<'a>(case: &str, k: &Kinds, fd: i64, what: &'a str) -> &'a str {
    let prefix = format!("pid {} fd {fd} (", k.pid());
    what.strip_prefix(&prefix)
        .and_then(|w| w.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{case}: not `{prefix}...)`: {what:?}"))
}

/// The timer row's run: the timer armed (its first expiry 0.3 s away) and fdwatch run,
/// again when a loaded machine let the timer expire before fdwatch was done (its ticks
/// count): the row is about an armed timer that has not expired yet.
fn run_before_expiry(k: &mut Kinds, case: &str, f: impl Fn() -> Fdwatch) -> Output {
    for _ in 0..5 {
        k.command('a');
        let out = run(case, f());
        if k.timer_ticks() == 0 {
            return out;
        }
    }
    panic!("{case}: the timer expired before fdwatch was done, five times");
}

#[test]
fn each_kind_described_in_json_and_text() {
    if !have("cc", "a child process in C") {
        return;
    }
    let mut k = Kinds::start();
    for (name, fd, kind, desc, ready) in expected(&k) {
        // JSON.
        let case = format!("{name} (fd {fd}), --format json");
        let spec = k.spec(fd);
        let json = || Fdwatch::new(["-v", "--format", "json", "0", &spec]);
        let out = if desc.is_none() {
            run_before_expiry(&mut k, &case, json)
        } else {
            run(&case, json())
        };
        assert_eq!(
            exit_code(&case, &out),
            if ready { 0 } else { 1 },
            "{case}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).is_empty(), "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        let watching = of_kind(&evs, "watching");
        assert_eq!(watching.len(), 1, "{case}: one watching event: {evs:?}");
        let w = watching[0];
        assert_eq!(w["fd"], fd, "{case}: the child's fd number: {w}");
        assert_eq!(w["kind"], kind, "{case}: {w}");
        assert_eq!(w["want"], serde_json::json!(["read"]), "{case}: {w}");
        assert!(w["path"].is_null(), "{case}: {w}");
        let what = w["what"].as_str().expect("what");
        match &desc {
            Some(d) => assert_eq!(what, k.what(fd, d), "{case}"),
            None => {
                timer_next(&case, desc_of(&case, &k, fd, what));
            }
        }
        let r = of_kind(&evs, "ready");
        if ready {
            assert_eq!(r.len(), 1, "{case}: {evs:?}");
            // A reaped process's pidfd also hangs up (POLLHUP) on newer kernels.
            let w = words(r[0]);
            assert!(
                w == ["read"] || (name.starts_with("pidfd of") && w == ["read", "hangup"]),
                "{case}: {}",
                r[0]
            );
            assert_eq!(r[0]["kind"], kind, "{case}: {}", r[0]);
            assert_eq!(r[0]["what"], what, "{case}: {}", r[0]);
        } else {
            assert!(r.is_empty(), "{case}: not ready: {evs:?}");
        }

        // Text: the watching line has the same description.
        let case = format!("{name} (fd {fd}), text");
        let text = || Fdwatch::new(["-v", "0", &spec]);
        let out = if desc.is_none() {
            run_before_expiry(&mut k, &case, text)
        } else {
            run(&case, text())
        };
        assert_eq!(
            exit_code(&case, &out),
            if ready { 0 } else { 1 },
            "{case}: {}",
            stderr(&out)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find(|l| l.contains("watching for read"))
            .unwrap_or_else(|| panic!("{case}: no watching line: {text}"));
        assert!(
            line.contains(&format!("fd {fd} ")),
            "{case}: fd {fd}: {line:?}"
        );
        let prefix = format!("pid {} fd {fd} (", k.pid());
        let at = line
            .find(&prefix)
            .unwrap_or_else(|| panic!("{case}: {prefix:?} in {line:?}"));
        let shown = line[at..]
            .rsplit_once(") ")
            .map(|(w, _)| format!("{w})"))
            .expect("the description");
        match &desc {
            Some(d) => assert_eq!(shown, k.what(fd, d), "{case}: {line:?}"),
            None => {
                timer_next(&case, desc_of(&case, &k, fd, &shown));
            }
        }
        if ready {
            let ready_line = text
                .lines()
                .find(|l| l.contains(&shown) && !l.contains("watching for") && !l.contains("note:"))
                .unwrap_or_else(|| panic!("{case}: no ready line: {text}"));
            assert!(ready_line.contains(" read "), "{case}: {ready_line:?}");
        }
    }
}

/// With -v every fd gets its `watching` event at the start, in the order given, also
/// those that never become ready.
#[test]
fn watching_events_describe_every_kind_at_once() {
    if !have("cc", "a child process in C") {
        return;
    }
    let case = "all kinds, one run";
    let k = Kinds::start();
    let exp = expected(&k);
    let mut args: Vec<String> = ["-v", "--format", "json", "0"].map(String::from).to_vec();
    args.extend(exp.iter().map(|e| k.spec(e.1)));
    let out = run(case, Fdwatch::new(&args));
    assert_eq!(exit_code(case, &out), 0, "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    let watching = of_kind(&evs, "watching");
    let got: Vec<(i64, &str)> = watching
        .iter()
        .map(|w| {
            (
                w["fd"].as_i64().expect("fd"),
                w["kind"].as_str().expect("kind"),
            )
        })
        .collect();
    let want: Vec<(i64, &str)> = exp.iter().map(|e| (e.1, e.2)).collect();
    assert_eq!(got, want, "{case}: {evs:?}");
    // The first wait comes after every watching event.
    let first_wait = evs
        .iter()
        .position(|e| e["event"] == "wait")
        .expect("a wait event");
    let last_watching = evs
        .iter()
        .rposition(|e| e["event"] == "watching")
        .expect("watching");
    assert!(last_watching < first_wait, "{case}: {evs:?}");
    for (w, e) in watching.iter().zip(&exp) {
        if let Some(d) = &e.3 {
            assert_eq!(w["what"], k.what(e.1, d), "{case}: {}", e.0);
        }
    }
    let mut ready: Vec<i64> = of_kind(&evs, "ready")
        .iter()
        .map(|r| r["fd"].as_i64().expect("fd"))
        .collect();
    ready.sort_unstable();
    let mut want_ready = vec![k.fds.eventfd, k.fds.memfd, k.fds.gone];
    // The first expiry (0.3 s after the child started) may have come by now.
    if k.timer_ticks() > 0 {
        want_ready.push(k.fds.timerfd);
    }
    want_ready.sort_unstable();
    assert_eq!(ready, want_ready, "{case}: {evs:?}");
}

/// A periodic timer that expired (and was not read yet) is still armed: it fires again
/// every second. Its description says so, with its interval.
#[test]
fn expired_periodic_timer_is_still_armed() {
    if !have("cc", "a child process in C") {
        return;
    }
    let case = "timerfd after its first expiry";
    let mut k = Kinds::start();
    k.command('a');
    let deadline = Instant::now() + DEADLINE;
    while k.timer_ticks() == 0 {
        assert!(Instant::now() < deadline, "{case}: the timer never expired");
        std::thread::sleep(Duration::from_millis(1));
    }
    let fd = k.fds.timerfd;
    let out = run(
        case,
        Fdwatch::new(["-v", "--format", "json", "0", &k.spec(fd)]),
    );
    assert_eq!(exit_code(case, &out), 0, "{case}: ready: {}", stderr(&out));
    let evs = events(&out.stdout);
    let w = of_kind(&evs, "watching");
    assert_eq!(w.len(), 1, "{case}: {evs:?}");
    let what = w[0]["what"].as_str().expect("what");
    let desc = desc_of(case, &k, fd, what);
    assert!(
        desc.starts_with("timerfd CLOCK_MONOTONIC, interval 1.5s"),
        "{case}: an armed periodic timer (fdinfo it_value 0 with ticks {} and \
         it_interval 1.5s) described as {desc:?}",
        k.timer_ticks()
    );
    assert!(!desc.contains("disarmed"), "{case}: {desc:?}");
    assert_eq!(
        ready_words(&evs, fd),
        Some(vec!["read".to_owned()]),
        "{case}: {evs:?}"
    );
}

/// Monitor mode on the child's eventfd, timerfd and inotify fd: nothing ready at first
/// (the eventfd read to 0, the timer disarmed), then each becomes readable by what the
/// test does, one at a time: the eventfd written, the timer armed (it expires 0.3 s
/// later), a file created in the watched directory.
#[test]
fn readiness_of_eventfd_timerfd_and_inotify() {
    if !have("cc", "a child process in C") {
        return;
    }
    let case = "-m on eventfd, timerfd, inotify";
    let mut k = Kinds::start();
    k.command('z');
    k.command('d');
    let f = k.fds;
    let (mut child, dog) = spawn(
        case,
        Fdwatch::new([
            "-m",
            "-v",
            "--format",
            "json",
            "10",
            &k.spec(f.eventfd),
            &k.spec(f.timerfd),
            &k.spec(f.inotify),
        ]),
    );
    let mut evs = EventStream::new(&mut child, case);
    let mut watching = Vec::new();
    for _ in 0..3 {
        watching.push(evs.next_named("watching"));
    }
    assert_eq!(
        watching[0]["what"],
        k.what(f.eventfd, "eventfd count 0"),
        "{case}"
    );
    assert_eq!(
        watching[1]["what"],
        k.what(f.timerfd, "timerfd CLOCK_MONOTONIC, disarmed"),
        "{case}"
    );
    assert_eq!(
        watching[2]["what"],
        k.what(f.inotify, &inotify_desc(&k.dir.0)),
        "{case}"
    );

    let steps: [(&str, i64, &str); 3] = [
        ("the eventfd written", f.eventfd, "eventfd"),
        ("the timer expiring", f.timerfd, "timerfd"),
        (
            "a file created in the watched directory",
            f.inotify,
            "inotify",
        ),
    ];
    for (step, fd, kind) in steps {
        blocked(child.id(), case);
        match kind {
            "eventfd" => k.command('e'),
            "timerfd" => k.command('a'),
            _ => drop(std::fs::File::create(k.dir.path("created")).expect("create a file")),
        }
        let r = evs.next_named("ready");
        assert_eq!(
            r["fd"],
            fd,
            "{case}: {step}: the next ready fd: {r}; {:?}",
            evs.seen()
        );
        assert_eq!(words(&r), ["read"], "{case}: {step}: {r}");
        assert_eq!(r["kind"], kind, "{case}: {step}: {r}");
        assert_eq!(r["raw"], "EPOLLIN", "{case}: {step}: {r}");
    }
    blocked(child.id(), case);
    sigterm(&child);
    let rest = evs.rest();
    let st = child.wait().expect("wait fdwatch");
    drop(dog);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        Some(libc::SIGTERM),
        "{case}: ends by SIGTERM: {st}; {rest:?}"
    );
    let all = evs.seen();
    let s = summary(case, all);
    assert_eq!(s["ready_fds"], 3, "{case}: {s}");
    assert_eq!(of_kind(all, "ready").len(), 3, "{case}: each once: {all:?}");
    let _: &[Value] = all;
}
