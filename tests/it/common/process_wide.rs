//! What the test process holds for all its tests: its forks, and its fd limit (raised,
//! never lowered, for those that need many fds).

use std::collections::BTreeSet;
use std::io;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::libc;

use super::{proc_state, syscall_nr};

/// Between its fork and its exec a child holds a copy of every fd of the test process:
/// a pipe end a test has just closed still looks open to the kernel (no hang-up), a
/// socket it closed sends no FIN. Every fork is counted here, by a ticket, until its
/// child has let go of its copies at exec (every fd here is close-on-exec);
/// `settle_forks` waits for the forks that began before it, and no fork ever waits.
static FORKS: Mutex<Forks> = Mutex::new(Forks {
    next: 0,
    running: BTreeSet::new(),
});

/// Signalled each time a fork's child has let go.
static LET_GO: Condvar = Condvar::new();

struct Forks {
    /// The next fork's ticket.
    next: u64,
    /// The tickets of the forks whose children may still hold copies.
    running: BTreeSet<u64>,
}

fn forks() -> MutexGuard<'static, Forks> {
    FORKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fork in progress, counted until dropped.
pub struct Forking(u64);

impl Drop for Forking {
    fn drop(&mut self) {
        forks().running.remove(&self.0);
        LET_GO.notify_all();
    }
}

/// Counts a fork that is not a Command's spawn (a raw fork): hold it across the fork,
/// until the child has let go of the fds it does not keep.
pub fn forking() -> Forking {
    let mut f = forks();
    let ticket = f.next;
    f.next += 1;
    f.running.insert(ticket);
    Forking(ticket)
}

/// Returns once every child forked before the call has let go of its copies: none
/// holds an fd the test closed before the call. Fdwatch's spawn calls it (a test closes
/// an end, then runs fdwatch), and so does `resume` (a test closes an end while fdwatch
/// is stopped).
pub fn settle_forks() {
    let mut f = forks();
    let now = f.next;
    while f.running.first().is_some_and(|&t| t < now) {
        f = LET_GO.wait(f).unwrap_or_else(|e| e.into_inner());
    }
}

/// A Command's spawn and output, the fork counted: the only way this test binary
/// starts a process.
pub trait CountedSpawn {
    /// `Command::spawn`, the fork counted until the child is past its exec.
    fn counted_spawn(&mut self) -> io::Result<Child>;
    /// `Command::output` (stdin /dev/null, stdout and stderr captured) the same way;
    /// the fork is no longer counted while the child runs.
    fn counted_output(&mut self) -> io::Result<Output>;
}

impl CountedSpawn for Command {
    fn counted_spawn(&mut self) -> io::Result<Child> {
        let _counted = forking();
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

    fn counted_output(&mut self) -> io::Result<Output> {
        self.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .counted_spawn()?
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
