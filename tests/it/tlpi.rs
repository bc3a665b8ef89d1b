//! `--format tlpi`: fdwatch stands in for TLPI's chapter 63 programs. Each
//! session is driven twice, through fdwatch and through a small C program that prints
//! as the book's does (tests/tlpi/: t_select.c, Listing 63-1; poll_pipes.c, 63-2;
//! epoll_input.c, 63-5), compiled here with `cc`; the two outputs must be equal line
//! by line, but for t_select's `timeout after select()` value, which must agree within
//! 20 ms. A combination with no program in the book is refused in one line.
//!
//! Both programs get the same fds (the same pipes and FIFOs, at the same numbers) and
//! see the same readiness: t_select and poll_pipes look once at a state the test made
//! first; epoll_input's writers act only once the program is blocked in epoll_wait(2)
//! (/proc/PID/syscall) and, after each step, the test waits for its effect (the bytes
//! consumed: FIONREAD; the fd closed: /proc/PID/fd) and for the next wait, 1 ms polls
//! under a deadline; never on sleeps. Every fd made here is close-on-exec.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::stat::Mode;

/// How long a program may take to reach a state the test waits for.
const DEADLINE: Duration = Duration::from_secs(10);

/// How far the two `timeout after select()` values may be apart.
const TIMEOUT_SLACK: f64 = 0.020;

// The book's programs, compiled.

/// Compiles tests/tlpi/NAME.c into `dir`; the executable's path.
fn compile(dir: &TempDir, name: &str) -> PathBuf {
    let src = repo().join("tests/tlpi").join(format!("{name}.c"));
    let exe = dir.path(name);
    cc(&src, &exe, "tests/it/tlpi.rs (the book's programs)");
    exe
}

/// The book's program `exe ARGS...` with `fds` (test fd, number in the child) placed
/// and every other fd above 2 closed, as a shell would start it; stdin /dev/null.
fn book(exe: &Path, args: &[String], fds: &[(BorrowedFd<'_>, RawFd)]) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null());
    let fds: Vec<(RawFd, RawFd)> = fds.iter().map(|(f, at)| (f.as_raw_fd(), *at)).collect();
    place_fds(&mut cmd, fds, true);
    cmd
}

/// fdwatch with the same fds placed, every other fd above 2 closed; stdin /dev/null.
fn fdwatch(args: &[String], fds: &[(BorrowedFd<'_>, RawFd)]) -> Fdwatch {
    fds.iter()
        .fold(Fdwatch::new(args), |f, &(fd, at)| f.fd(fd, at))
        .only_placed_fds()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs the book's program to its end under the watchdog; fails unless it exits 0.
fn run_book(case: &str, mut cmd: Command) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .counted_spawn()
        .expect("spawn the book's program");
    let _dog = Watchdog::new(&child, WATCHDOG, &format!("{case}: the book's program"));
    let out = child.wait_with_output().expect("wait the book's program");
    assert!(
        out.status.success(),
        "{case}: the book's program: {}; stderr {}",
        out.status,
        stderr(&out)
    );
    out
}

/// `timeout after select(): S.mmm`: the seconds, or None for another line.
fn time_left(line: &str) -> Option<f64> {
    let v = line.strip_prefix("timeout after select(): ")?;
    Some(
        v.parse()
            .unwrap_or_else(|e| panic!("not S.mmm: {line:?}: {e}")),
    )
}

/// The two outputs line by line; `timeout after select()` within TIMEOUT_SLACK.
fn same_lines(case: &str, book: &[String], ours: &[String]) {
    assert_eq!(
        book.len(),
        ours.len(),
        "{case}: line count\nbook:\n{}\nfdwatch:\n{}",
        book.join("\n"),
        ours.join("\n")
    );
    for (i, (b, o)) in book.iter().zip(ours).enumerate() {
        match (time_left(b), time_left(o)) {
            (Some(tb), Some(to)) => assert!(
                (tb - to).abs() <= TIMEOUT_SLACK,
                "{case}: line {}: the time left differs by more than 20 ms: book {b:?}, \
                 fdwatch {o:?}",
                i + 1
            ),
            _ => assert_eq!(
                b,
                o,
                "{case}: line {}\nbook:\n{}\nfdwatch:\n{}",
                i + 1,
                book.join("\n"),
                ours.join("\n")
            ),
        }
    }
}

// t_select (Listing 63-1) --------------------------------------------------------------

/// The fds of a t_select or poll_pipes session: the test's ends, kept open through
/// both runs, and where each is placed.
struct Fds {
    held: Vec<OwnedFd>,
    placed: Vec<(usize, RawFd)>,
}

impl Fds {
    fn new() -> Fds {
        Fds {
            held: Vec::new(),
            placed: Vec::new(),
        }
    }

    /// Keeps `fd` open for the session (a pipe end the programs do not get).
    fn hold(&mut self, fd: OwnedFd) {
        self.held.push(fd);
    }

    /// Places `fd` at `at` in both programs.
    fn place(&mut self, fd: OwnedFd, at: RawFd) {
        self.held.push(fd);
        self.placed.push((self.held.len() - 1, at));
    }

    fn borrowed(&self) -> Vec<(BorrowedFd<'_>, RawFd)> {
        self.placed
            .iter()
            .map(|&(i, at)| (self.held[i].as_fd(), at))
            .collect()
    }
}

/// A pipe holding `data` (its write end kept open): the read end.
fn pipe_with(fds: &mut Fds, data: &[u8]) -> OwnedFd {
    let (r, w) = pipe();
    if !data.is_empty() {
        write(&w, data);
    }
    fds.hold(w);
    r
}

/// Sessions: (name, timeout argument, spec arguments, the fds).
type Session = (
    &'static str,
    &'static str,
    &'static [&'static str],
    fn() -> Fds,
);

const T_SELECT: &[Session] = &[
    // The README's example: stdin /dev/null readable, stdout (a pipe) writable.
    ("0r 1w", "10", &["0r", "1w"], Fds::new),
    // Both sets on one fd: `ready` counts each bit, as select(2) returns.
    ("0rw 1w", "10", &["0rw", "1w"], Fds::new),
    // Inherited pipes, fd 4 unwatched (and closed) below nfds, no timeout.
    ("3r 5w 1w, no timeout", "-", &["3r", "5w", "1w"], || {
        let mut fds = Fds::new();
        let r = pipe_with(&mut fds, b"data");
        fds.place(r, 3);
        let (r, w) = pipe();
        fds.hold(r);
        fds.place(w, 5);
        fds
    }),
    // Nothing ready: an empty pipe and a full one, a one-second timeout runs out.
    ("3r 4w, times out", "1", &["3r", "4w"], || {
        let mut fds = Fds::new();
        let r = pipe_with(&mut fds, b"");
        fds.place(r, 3);
        let (r, w, _) = full_pipe();
        fds.hold(r);
        fds.place(w, 4);
        fds
    }),
];

#[test]
fn t_select_same_lines() {
    if !have("cc", "the book's programs in C") {
        return;
    }
    let dir = TempDir::new();
    let exe = compile(&dir, "t_select");
    let cases = per_backend(["select", "pselect"], T_SELECT, |s| s.0);
    in_named_threads(
        cases.iter().map(|(n, c)| (n.as_str(), *c)),
        |(b, (name, timeout, specs, make))| {
            let case = format!("t_select -b {b}, {name}");
            let mut args = vec![timeout];
            args.extend(specs);
            let want = if timeout == "1" { 1 } else { 0 };
            let book_lines = book_and_fdwatch(&case, &exe, &args, b, &args, &make(), want);
            // The time left is there exactly when a timeout was given.
            let has_left = book_lines.iter().any(|l| time_left(l).is_some());
            assert_eq!(has_left, timeout != "-", "{case}: {book_lines:?}");
        },
    );
}

/// Each of `table`'s sessions on each of `backends`, named for in_named_threads.
fn per_backend<T: Copy>(
    backends: [&'static str; 2],
    table: &[T],
    name: fn(&T) -> &str,
) -> Vec<(String, (&'static str, T))> {
    backends
        .iter()
        .flat_map(|&b| {
            table
                .iter()
                .map(move |s| (format!("-b {b}, {}", name(s)), (b, *s)))
        })
        .collect()
}

/// One session, run by the book's program (`exe BOOK_ARGS...`) and by
/// `fdwatch -b B --format tlpi OUR_ARGS...` with the same fds: fdwatch exits `want`
/// with nothing on stderr, and the two outputs are the same lines. Returns the book's.
fn book_and_fdwatch(
    case: &str,
    exe: &Path,
    book_args: &[&str],
    backend: &str,
    our_args: &[&str],
    fds: &Fds,
    want: i32,
) -> Vec<String> {
    let book_out = run_book(case, book(exe, &strings(book_args), &fds.borrowed()));
    let mut ours = vec!["-b", backend, "--format", "tlpi"];
    ours.extend(our_args);
    let out = run(case, fdwatch(&strings(&ours), &fds.borrowed()));
    assert_eq!(
        exit_code(case, &out),
        want,
        "{case}: fdwatch's status: {}",
        stderr(&out)
    );
    assert!(
        stderr(&out).is_empty(),
        "{case}: fdwatch's stderr: {}",
        stderr(&out)
    );
    let book_lines = lines(&book_out);
    same_lines(case, &book_lines, &lines(&out));
    book_lines
}

// poll_pipes (Listing 63-2) ------------------------------------------------------------

/// Six pipes at fds 3-8: 4 and 7 hold data, 5's writer is gone with nothing queued
/// (POLLHUP alone: counted by poll, not readable), 6 holds data and its writer is gone
/// (POLLIN|POLLHUP), 3 and 8 are empty.
fn six_pipes() -> Fds {
    let mut fds = Fds::new();
    for fd in 3..=8 {
        let (r, w) = pipe();
        match fd {
            4 | 7 => write(&w, b"a"),
            6 => write(&w, b"bye"),
            _ => {}
        }
        if fd == 5 || fd == 6 {
            drop(w);
        } else {
            fds.hold(w);
        }
        fds.place(r, fd);
    }
    fds
}

/// Four empty pipes at fds 3, 4, 10 and 100.
fn quiet_pipes() -> Fds {
    let mut fds = Fds::new();
    for fd in [3, 4, 10, 100] {
        let r = pipe_with(&mut fds, b"");
        fds.place(r, fd);
    }
    fds
}

/// A poll_pipes session: its name, the fds given, and the pipes set up for it.
type PollPipes = (&'static str, &'static [&'static str], fn() -> Fds);

const POLL_PIPES: &[PollPipes] = &[
    ("six pipes", &["3", "4", "5", "6", "7", "8"], six_pipes),
    // The book reports in the order of its pollfd array, the order given.
    (
        "six pipes, shuffled",
        &["7", "5", "3", "6", "8", "4"],
        six_pipes,
    ),
    ("nothing ready", &["100", "3", "10", "4"], quiet_pipes),
];

#[test]
fn poll_pipes_same_lines() {
    if !have("cc", "the book's programs in C") {
        return;
    }
    let dir = TempDir::new();
    let exe = compile(&dir, "poll_pipes");
    let cases = per_backend(["poll", "ppoll"], POLL_PIPES, |s| s.0);
    in_named_threads(
        cases.iter().map(|(n, c)| (n.as_str(), *c)),
        |(b, (name, fds_args, make))| {
            let case = format!("poll_pipes -b {b}, {name}");
            // poll_pipes polls once with timeout 0.
            let mut ours = vec!["0"];
            ours.extend(fds_args);
            let want = if name == "nothing ready" { 1 } else { 0 };
            book_and_fdwatch(&case, &exe, fds_args, b, &ours, &make(), want);
        },
    );
}

// epoll_input (Listing 63-5) -----------------------------------------------------------

/// A running program (the book's or fdwatch), its pid and its watchdog.
struct Running {
    who: String,
    child: Child,
    _dog: Watchdog,
}

impl Running {
    fn start(who: String, mut cmd: Command) -> Running {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .counted_spawn()
            .unwrap_or_else(|e| panic!("{who}: spawn: {e}"));
        let dog = Watchdog::new(&child, WATCHDOG, &who);
        Running {
            who,
            child,
            _dog: dog,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the program has ended (it should still be waiting).
    fn alive(&mut self, step: &str) {
        if let Some(st) = self.child.try_wait().expect("try_wait") {
            panic!("{}: {step}: it ended ({st})", self.who);
        }
    }

    /// Waits until it sleeps in epoll_wait (state S, the call in /proc/PID/syscall).
    fn waits(&mut self, step: &str) {
        #[cfg(target_arch = "x86_64")]
        let calls = [
            libc::SYS_epoll_wait,
            libc::SYS_epoll_pwait,
            libc::SYS_epoll_pwait2,
        ];
        #[cfg(not(target_arch = "x86_64"))]
        let calls = [libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2];
        let pid = self.pid();
        let deadline = Instant::now() + DEADLINE;
        loop {
            self.alive(step);
            let sc = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
            let nr: Option<libc::c_long> =
                sc.split_whitespace().next().and_then(|w| w.parse().ok());
            if proc_state(pid) == Some('S') && nr.is_some_and(|n| calls.contains(&n)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {step}: never blocked in epoll_wait (syscall {sc:?})",
                self.who
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Whether one of its fds is open on `path`.
    fn has_open(&self, path: &Path) -> bool {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{}/fd", self.pid())) else {
            return false;
        };
        dir.flatten()
            .any(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == path))
    }

    /// Waits until no fd of it is open on `path` (it closed the FIFO), or it ended.
    fn closed(&mut self, step: &str, path: &Path) {
        let deadline = Instant::now() + DEADLINE;
        while self.child.try_wait().expect("try_wait").is_none() && self.has_open(path) {
            assert!(
                Instant::now() < deadline,
                "{}: {step}: {} is still open",
                self.who,
                path.display()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn finish(self) -> Output {
        self.child.wait_with_output().expect("wait")
    }
}

/// Waits until nothing is queued in the FIFO whose end `fd` is (the program read it
/// all: FIONREAD works on either end).
fn drained(r: &mut Running, step: &str, fd: &OwnedFd) {
    let deadline = Instant::now() + DEADLINE;
    while fionread(fd) > 0 {
        r.alive(step);
        assert!(
            Instant::now() < deadline,
            "{}: {step}: {} bytes never read",
            r.who,
            fionread(fd)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A FIFO's writer end, opened once the FIFO has a reader (ENXIO until then: the book's
/// program only opens it once the previous FIFO has a writer).
fn writer_when_read(r: &mut Running, step: &str, fifo: &Path) -> OwnedFd {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match nix::fcntl::open(
            fifo,
            OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => return fd,
            Err(Errno::ENXIO) => {}
            Err(e) => panic!(
                "{}: {step}: opening a writer of {}: {e}",
                r.who,
                fifo.display()
            ),
        }
        r.alive(step);
        assert!(
            Instant::now() < deadline,
            "{}: {step}: {} never had a reader",
            r.who,
            fifo.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One step of a session on FIFOs 0 and 1 (`p`, `q`).
#[derive(Clone, Copy, Debug)]
enum Step {
    /// Opens a writer of each FIFO (each as soon as it has a reader), then waits for
    /// the program to block in epoll_wait.
    OpenWriters,
    /// Writes to FIFO i, waits until the program has read it all and waits again.
    Write(usize, &'static [u8]),
    /// Closes FIFO i's writer, waits until the program closed the FIFO (and waits
    /// again, or has ended).
    Close(usize),
    /// Waits until both FIFOs' preloaded bytes are read and the program waits.
    Settle,
}

/// A session: its name, whether each FIFO is preloaded (opened O_RDWR by the test and
/// written before the program starts: both are ready at the first wait), the steps.
type EpollSession = (&'static str, Option<[&'static [u8]; 2]>, &'static [Step]);

const MANY: &[u8] = &[b'x'; 1500];

const EPOLL_INPUT: &[EpollSession] = &[
    (
        "lines to each, then closed",
        None,
        &[
            Step::OpenWriters,
            Step::Write(0, b"first line\n"),
            Step::Write(1, b"second\tline\n"),
            // More than MAX_BUF: read in two waits (1000 bytes, then 500).
            Step::Write(0, MANY),
            Step::Close(0),
            Step::Write(1, b"last\n"),
            Step::Close(1),
        ],
    ),
    (
        "both ready at the first wait",
        Some([b"one\n", b"two\n"]),
        &[Step::Settle, Step::Close(1), Step::Close(0)],
    ),
];

/// Drives one session through `r` on `fifos` (written through `pre` when preloaded).
fn drive(r: &mut Running, fifos: &[PathBuf; 2], pre: Vec<Option<OwnedFd>>, steps: &[Step]) {
    let mut writers = pre;
    writers.resize_with(2, || None);
    for (i, &step) in steps.iter().enumerate() {
        let label = format!("step {} ({step:?})", i + 1);
        match step {
            Step::OpenWriters => {
                for (w, fifo) in writers.iter_mut().zip(fifos) {
                    *w = Some(writer_when_read(r, &label, fifo));
                }
                r.waits(&label);
            }
            Step::Settle => {
                for w in writers.iter().flatten() {
                    drained(r, &label, w);
                }
                r.waits(&label);
            }
            Step::Write(f, data) => {
                let w = writers[f].as_ref().expect("an open writer");
                write(w, data);
                drained(r, &label, w);
                r.waits(&label);
            }
            Step::Close(f) => {
                drop(writers[f].take().expect("an open writer"));
                r.closed(&label, &fifos[f]);
                if writers.iter().any(Option::is_some) {
                    r.waits(&label);
                }
            }
        }
    }
}

/// The FIFOs `p` and `q` in `dir` and, for a preloaded session, the test's O_RDWR
/// ends holding the bytes (the FIFO keeps them, and counts as written to, while open).
fn fifos(dir: &TempDir, preload: Option<[&[u8]; 2]>) -> ([PathBuf; 2], Vec<Option<OwnedFd>>) {
    let paths = [dir.fifo("p"), dir.fifo("q")];
    let pre = match preload {
        None => Vec::new(),
        Some(data) => paths
            .iter()
            .zip(data)
            .map(|(p, d)| {
                let fd = open(p, OFlag::O_RDWR | OFlag::O_NONBLOCK);
                write(&fd, d);
                Some(fd)
            })
            .collect(),
    };
    (paths, pre)
}

fn path_args(paths: &[PathBuf; 2]) -> Vec<String> {
    paths
        .iter()
        .map(|p| p.to_str().expect("UTF-8 temp path").to_owned())
        .collect()
}

#[test]
fn epoll_input_same_lines() {
    if !have("cc", "the book's programs in C") {
        return;
    }
    let dir = TempDir::new();
    let exe = compile(&dir, "epoll_input");
    in_named_threads(
        EPOLL_INPUT.iter().map(|s| (s.0, s)),
        |&(name, preload, steps)| {
            let case = format!("epoll_input, {name}");
            let outs: Vec<Output> = ["book", "fdwatch"]
                .iter()
                .map(|&who| {
                    let d = TempDir::new();
                    let (paths, pre) = fifos(&d, preload);
                    let args = path_args(&paths);
                    let cmd = if who == "book" {
                        book(&exe, &args, &[])
                    } else {
                        let mut v =
                            strings(&["-b", "epoll", "-m", "--read", "--format", "tlpi", "-"]);
                        v.extend(args.iter().cloned());
                        fdwatch(&v, &[]).into_command()
                    };
                    let mut r = Running::start(format!("{case}: {who}"), cmd);
                    drive(&mut r, &paths, pre, steps);
                    let out = r.finish();
                    // Output names the FIFOs by path: the same text for both runs.
                    let text = String::from_utf8_lossy(&out.stdout)
                        .replace(d.0.to_str().expect("UTF-8 temp path"), "DIR");
                    assert_eq!(
                        out.status.code(),
                        Some(0),
                        "{case}: {who}: {}; stderr {}; stdout {text}",
                        out.status,
                        stderr(&out)
                    );
                    assert!(
                        stderr(&out).is_empty(),
                        "{case}: {who}: stderr {}",
                        stderr(&out)
                    );
                    Output {
                        stdout: text.into_bytes(),
                        ..out
                    }
                })
                .collect();
            let book_lines = lines(&outs[0]);
            same_lines(&case, &book_lines, &lines(&outs[1]));
            // The session went as planned (the book's program is the reference).
            assert_eq!(
                book_lines.last().map(String::as_str),
                Some("All file descriptors closed; bye"),
                "{case}: {book_lines:?}"
            );
            assert_eq!(
                &book_lines[..2],
                ["Opened \"DIR/p\" on fd 4", "Opened \"DIR/q\" on fd 5"],
                "{case}"
            );
        },
    );
}

// Combinations with no program in the book ---------------------------------------------

#[test]
fn no_book_program_is_refused_in_one_line() {
    let cases: &[&[&str]] = &[
        &["-b", "poll", "-m", "--format", "tlpi", "0", "0"],
        &["-b", "ppoll", "-m", "--format", "tlpi", "0", "0"],
        &["-b", "select", "-m", "--format", "tlpi", "0", "0"],
        &["-b", "epoll", "-m", "--format", "tlpi", "0", "0"],
        &["-b", "epoll", "--format", "tlpi", "0", "0"],
        &["--format", "tlpi", "0", "0"],
        &["-b", "uring", "--format", "tlpi", "0", "0"],
        &["-b", "uring", "-m", "--read", "--format", "tlpi", "0", "0"],
        &[
            "relay",
            "--format",
            "tlpi",
            "tcp-listen:127.0.0.1:0",
            "tcp:127.0.0.1:9",
        ],
        &["bench", "--format", "tlpi"],
    ];
    let names: Vec<String> = cases.iter().map(|c| c.join(" ")).collect();
    in_named_threads(
        names.iter().map(String::as_str).zip(cases.iter().copied()),
        |argv| {
            let case = format!("fdwatch {}", argv.join(" "));
            let out = run(&case, Fdwatch::new(argv));
            assert_eq!(exit_code(&case, &out), 2, "{case}: {}", stderr(&out));
            assert!(out.stdout.is_empty(), "{case}: stdout {:?}", lines(&out));
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{case}: one line: {err:?}");
            assert!(err.ends_with('\n'), "{case}: {err:?}");
            for name in ["t_select", "poll_pipes", "epoll_input"] {
                assert!(err.contains(name), "{case}: {name} not named: {err:?}");
            }
        },
    );
}
