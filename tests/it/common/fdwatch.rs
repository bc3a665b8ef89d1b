//! The fdwatch binary run by a test: chosen fds placed at chosen numbers in the child,
//! under a watchdog, and what it printed and how it ended.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::libc;

use super::{CountedSpawn, Watchdog, settle_forks};

/// Every backend: each matrix test runs on all of them (uring included).
pub const BACKENDS: [&str; 6] = ["select", "pselect", "poll", "ppoll", "epoll", "uring"];

/// select and pselect: they fold hang-ups and errors into "readable" (docs/kernel.md)
/// and refuse fds at or above FD_SETSIZE.
pub fn select_family(b: &str) -> bool {
    matches!(b, "select" | "pselect")
}

/// `-m -b B OPTS... --format json IDLE SPEC`.
pub fn monitor_args(b: &str, opts: &[&str], idle: &str, spec: &str) -> Vec<String> {
    let mut v: Vec<String> = ["-m", "-b", b].map(String::from).to_vec();
    v.extend(opts.iter().map(|s| s.to_string()));
    v.extend(["--format", "json", idle, spec].map(String::from));
    v
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fdwatch")
}

/// A step the child runs between fork and exec (after the fds are placed).
type ChildSetup = Box<dyn FnMut() -> std::io::Result<()> + Send + Sync>;

/// The fdwatch binary with chosen fds placed at chosen numbers in the child.
pub struct Fdwatch {
    /// A program that runs fdwatch (`under`): its path and the arguments before fdwatch's.
    wrapper: Option<(OsString, Vec<OsString>)>,
    args: Vec<OsString>,
    stdin: Stdio,
    /// None: piped by `spawn`, captured by `run`.
    stdout: Option<Stdio>,
    envs: Vec<(OsString, OsString)>,
    fds: Vec<(RawFd, RawFd)>,
    close_others: bool,
    setup: Vec<ChildSetup>,
}

impl Fdwatch {
    pub fn new<I, S>(args: I) -> Fdwatch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Fdwatch {
            wrapper: None,
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            stdin: Stdio::null(),
            stdout: None,
            envs: Vec::new(),
            fds: Vec::new(),
            close_others: false,
            setup: Vec::new(),
        }
    }

    /// Runs fdwatch under `program`: the child is `program ARGS... FDWATCH FDWATCH-ARGS...`
    /// (a tracer such as strace, which passes the placed fds on to fdwatch).
    pub fn under<I, S>(mut self, program: impl AsRef<OsStr>, args: I) -> Fdwatch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self.wrapper = Some((program.as_ref().to_owned(), args));
        self
    }

    /// Places `fd` (which stays open in the test) at number `at` in the child.
    pub fn fd(mut self, fd: BorrowedFd<'_>, at: RawFd) -> Fdwatch {
        self.fds.push((fd.as_raw_fd(), at));
        self
    }

    /// Closes every other fd above 2 in the child (strays this test process inherited
    /// from whatever ran it), for tests that need the child's fd numbers packed.
    pub fn only_placed_fds(mut self) -> Fdwatch {
        self.close_others = true;
        self
    }

    pub fn stdin(mut self, s: impl Into<Stdio>) -> Fdwatch {
        self.stdin = s.into();
        self
    }

    /// The child's stdout instead of a pipe to the test.
    pub fn stdout(mut self, s: impl Into<Stdio>) -> Fdwatch {
        self.stdout = Some(s.into());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Fdwatch {
        self.envs.push((k.into(), v.into()));
        self
    }

    /// RLIMIT_NOFILE set to `n`, soft and hard, in the child (after the fds are placed).
    pub fn nofile(self, n: u64) -> Fdwatch {
        // SAFETY: setrlimit is async-signal-safe; it runs between fork and exec.
        unsafe {
            self.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
    }

    /// Adds a child-side step, run between fork and exec after the fds are placed (and
    /// after the steps added before it).
    ///
    /// # Safety
    /// As for `CommandExt::pre_exec`: `f` may only make async-signal-safe calls.
    pub unsafe fn pre_exec(
        mut self,
        f: impl FnMut() -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Fdwatch {
        self.setup.push(Box::new(f));
        self
    }

    /// The command: the program (or its wrapper), stdio, environment, then the fd
    /// placement and the added child-side steps.
    fn command(self) -> Command {
        let mut cmd = match self.wrapper {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(bin());
                cmd
            }
            None => Command::new(bin()),
        };
        cmd.args(self.args).stdin(self.stdin);
        if let Some(out) = self.stdout {
            cmd.stdout(out);
        }
        cmd.env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("CLICOLOR")
            .env_remove("COLUMNS");
        for (k, v) in self.envs {
            cmd.env(k, v);
        }
        place_fds(&mut cmd, self.fds, self.close_others);
        // SAFETY: the setup steps are the caller's async-signal-safe pre-exec work.
        unsafe {
            for step in self.setup {
                cmd.pre_exec(step);
            }
        }
        cmd
    }

    /// Runs to completion, capturing stdout (unless `stdout` set it) and stderr.
    pub fn run(self) -> Output {
        self.spawn().wait_with_output().expect("wait fdwatch")
    }

    /// Starts it with stdout (unless `stdout` set it) and stderr piped, once no other
    /// child still holds a copy of an fd the test has closed (`settle_forks`).
    pub fn spawn(mut self) -> Child {
        self.stdout.get_or_insert_with(Stdio::piped);
        settle_forks();
        self.command()
            .stderr(Stdio::piped())
            .counted_spawn()
            .expect("spawn fdwatch")
    }

    /// The command with its fds placed (and the `pre_exec` steps added), not yet
    /// spawned: for a test that sets up the child in ways this builder does not (its
    /// stderr, uid, more `pre_exec` steps, which run after these).
    pub fn into_command(self) -> Command {
        self.command()
    }
}

/// The exit code, failing the test on death by signal.
pub fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("killed by a signal: {out:?}"))
}

/// Stderr as text, for assertions.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// How long one fdwatch run in a test may take before its watchdog kills it.
pub const WATCHDOG: Duration = Duration::from_secs(30);

/// Spawns with stdout and stderr piped, under the watchdog (keep it until the child is
/// waited for).
pub fn spawn(case: &str, f: Fdwatch) -> (Child, Watchdog) {
    let child = f.spawn();
    let dog = Watchdog::new(&child, WATCHDOG, case);
    (child, dog)
}

/// Runs to completion under the watchdog.
pub fn run(case: &str, f: Fdwatch) -> Output {
    let (child, _dog) = spawn(case, f);
    child.wait_with_output().expect("wait fdwatch")
}

/// The child's stderr, read to its end by a thread (so a child writing there never
/// blocks on it); its text once joined.
pub fn stderr_in_thread(child: &mut Child) -> JoinHandle<String> {
    let mut err = child.stderr.take().expect("piped stderr");
    thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    })
}

/// The exit code; a death by signal (the watchdog's SIGKILL) fails naming the case.
/// A usage error: exit 2, one line on stderr that starts `fdwatch: ` and
/// names every needle, nothing on stdout, no panic.
pub fn assert_one_line_error(case: &str, out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "{case}: {err:?}");
    assert_eq!(err.lines().count(), 1, "{case}: one line: {err:?}");
    assert!(err.starts_with("fdwatch: "), "{case}: {err:?}");
    assert!(!err.contains("panicked"), "{case}: {err:?}");
    for n in needles {
        assert!(
            err.contains(n),
            "{case}: stderr should contain {n:?}: {err:?}"
        );
    }
    assert!(out.stdout.is_empty(), "{case}: {out:?}");
}

pub fn exit_code(case: &str, out: &Output) -> i32 {
    out.status.code().unwrap_or_else(|| {
        panic!(
            "{case}: killed by a signal ({}; the watchdog kills after {WATCHDOG:?}); stdout {:?}; stderr {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            stderr(out)
        )
    })
}

/// Places `fds` (source, number in the child) in the child of `cmd` between fork and
/// exec, and with `close_others` closes every other fd above 2 at exec, as a shell
/// would start a program.
pub fn place_fds(cmd: &mut Command, fds: Vec<(RawFd, RawFd)>, close_others: bool) {
    let base = fds.iter().map(|&(a, b)| a.max(b)).max().unwrap_or(2) + 1;
    // SAFETY: only async-signal-safe calls (close_range, fcntl, dup2, close) run between
    // fork and exec, on memory made before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if close_others {
                // Everything above 2 closes at exec, except what dup2 places below
                // (dup2 clears the flag on its target).
                let r = libc::syscall(
                    libc::SYS_close_range,
                    3u32,
                    u32::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                if r < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Move every source above all targets first, so no dup2 clobbers a source.
            let mut tmp = Vec::with_capacity(fds.len());
            for &(src, _) in &fds {
                let t = libc::fcntl(src, libc::F_DUPFD_CLOEXEC, base);
                if t < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                tmp.push(t);
            }
            for (&t, &(_, dst)) in tmp.iter().zip(&fds) {
                // dup2 clears FD_CLOEXEC on `dst`: it is inherited across exec.
                if libc::dup2(t, dst) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(t);
            }
            Ok(())
        });
    }
}
