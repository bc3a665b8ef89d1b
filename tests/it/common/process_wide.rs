//! What the test process holds for all its tests: its forks, and its fd limit (raised,
//! never lowered, for those that need many fds).

use std::io;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use nix::libc;

use super::{proc_state, syscall_nr};

/// Between its fork and its exec a child holds a copy of every fd of the test process:
/// a pipe end a test has just closed still looks open to the kernel (no hang-up), a
/// socket it closed sends no FIN. Every fork holds this lock shared until the child has
/// closed its copies at exec (every fd here is close-on-exec); `settle_forks` takes it
/// alone.
static FORKS: RwLock<()> = RwLock::new(());

/// The fork lock, shared: held across a fork that is not a Command's spawn (a raw
/// fork), until its child has let go of the fds it does not keep.
pub fn fork_shared() -> RwLockReadGuard<'static, ()> {
    FORKS.read().unwrap_or_else(|e| e.into_inner())
}

/// Returns once every child forked so far has exec'd: none holds a copy of an fd the
/// test closed before the call. Fdwatch's spawn calls it (a test closes an end, then
/// runs fdwatch), and so does `resume` (a test closes an end while fdwatch is stopped).
pub fn settle_forks() {
    drop(FORKS.write().unwrap_or_else(|e| e.into_inner()));
}

/// A Command's spawn and output under the fork lock: the only way this test binary
/// starts a process.
pub trait LockedSpawn {
    /// `Command::spawn`, the fork lock held shared until the child has exec'd.
    fn locked_spawn(&mut self) -> io::Result<Child>;
    /// `Command::output` (stdin /dev/null, stdout and stderr captured) the same way;
    /// the lock is not held while the child runs.
    fn locked_output(&mut self) -> io::Result<Output>;
}

impl LockedSpawn for Command {
    fn locked_spawn(&mut self) -> io::Result<Child> {
        let _shared = fork_shared();
        let child = self.spawn()?;
        // spawn returns once the child is in its execve (or, with a pre_exec, once its
        // close-on-exec fds are gone from its table), but the kernel releases what those
        // fds were (a pipe's writer, a socket) only when execve returns to user space.
        // A child seen sleeping in any other call, or ended, is past that; one busy
        // computing is only waited for a while.
        let pid = child.id();
        let deadline = Instant::now() + Duration::from_secs(1);
        let past_exec = || {
            matches!(proc_state(pid), None | Some('Z' | 'X'))
                || syscall_nr(pid).is_some_and(|nr| nr != libc::SYS_execve)
        };
        while !past_exec() && Instant::now() < deadline {
            std::thread::yield_now();
        }
        Ok(child)
    }

    fn locked_output(&mut self) -> io::Result<Output> {
        self.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .locked_spawn()?
            .wait_with_output()
    }
}

/// Raises this process's soft RLIMIT_NOFILE (inherited by children) to the hard limit
/// when it is below `need` (process-wide, only ever upward: tests run in parallel);
/// false when even the hard limit is below `need`.
pub fn raise_nofile_to(need: u64) -> bool {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft >= need {
        return true;
    }
    if hard < need {
        return false;
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    true
}
