//! The bench's kernel objects, laid out as the C reference loop (docs/performance.md): N pipes
//! whose read ends take the lowest fd numbers (select's nfds ≈ N + 3), idle write ends
//! parked in holder processes (so N = 10,000 fits a 20,000-fd limit), and the wake-mode
//! writer process.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl, open};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork, pipe2};

use crate::error::{Error, Result};

/// Which active pipe a round uses. The loop and the wake-mode writer each step their
/// own copy once per round from the same start, so they agree without talking.
#[derive(Clone, Debug)]
pub struct Rotation {
    next: usize,
    k: usize,
}

impl Rotation {
    pub fn new(k: usize) -> Rotation {
        Rotation { next: 0, k }
    }

    /// An index into the active list.
    pub fn pick(&mut self) -> usize {
        let j = self.next;
        self.next = if j + 1 == self.k { 0 } else { j + 1 };
        j
    }
}

/// The K active pipes sit at the centres of K equal slices, so a scan that stops at
/// the first ready fd walks about N/2 entries.
pub fn active_indices(n: usize, k: usize) -> Vec<usize> {
    (0..k).map(|j| (2 * j + 1) * n / (2 * k)).collect()
}

/// Child processes killed and reaped on drop (holders also die with us: PDEATHSIG).
#[derive(Default)]
pub struct Children(Vec<Pid>);

impl Drop for Children {
    fn drop(&mut self) {
        for &pid in &self.0 {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
        }
    }
}

pub struct Layout {
    /// Read ends, in registration order.
    pub rd: Vec<OwnedFd>,
    /// Write ends this process keeps: only the active pipes'.
    pub wr: Vec<Option<OwnedFd>>,
    /// Indices of the active pipes.
    pub active: Vec<usize>,
    /// Dropped last: the holders outlive every fd above.
    children: Children,
}

/// Why a row cannot run on this machine (reported as a `refused` row, not an error).
pub type Refusal = String;

impl Layout {
    /// Opens `n` pipes with `k` active; refuses when the fd limit cannot hold them.
    pub fn build(
        n: usize,
        k: usize,
        fd_limit: u64,
    ) -> Result<std::result::Result<Layout, Refusal>> {
        // Write ends live at >= base, so the read ends pack below it.
        let base = n + 64;
        let room = i64::try_from(fd_limit)
            .unwrap_or(i64::MAX)
            .saturating_sub((base + k + 16) as i64);
        if room < 64 {
            return Ok(Err(format!(
                "needs about {} fds, RLIMIT_NOFILE is {fd_limit}",
                n + k + 144
            )));
        }
        let active = active_indices(n, k);
        let mut is_active = vec![false; n];
        for &a in &active {
            is_active[a] = true;
        }
        let mut layout = Layout {
            rd: Vec::with_capacity(n),
            wr: Vec::with_capacity(n),
            active,
            children: Children::default(),
        };
        // Batches: open pipes until the idle write ends fill the room left, park them
        // in a holder, close our copies, go on.
        let mut i = 0;
        while i < n {
            let lo = i;
            let mut held = 0i64;
            while i < n && held < room {
                layout.open_pipe(base)?;
                held += i64::from(!is_active[i]);
                i += 1;
            }
            if held == 0 {
                continue;
            }
            let pid = layout.spawn(hold)?;
            layout.children.0.push(pid);
            for (w, _) in layout.wr[lo..i]
                .iter_mut()
                .zip(&is_active[lo..i])
                .filter(|(_, a)| !**a)
            {
                *w = None;
            }
        }
        Ok(Ok(layout))
    }

    /// One more pipe: its read end where pipe2 puts it, its write end moved to `base`
    /// or above.
    fn open_pipe(&mut self, base: usize) -> Result<()> {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("bench", "pipe2", e))?;
        let high = fcntl(&w, FcntlArg::F_DUPFD_CLOEXEC(base as i32))
            .map_err(|e| Error::sys("bench", "fcntl(F_DUPFD_CLOEXEC)", e))?;
        // SAFETY: fcntl just returned this new fd; nothing else owns it.
        let high = unsafe { OwnedFd::from_raw_fd(high) };
        drop(w);
        self.rd.push(r);
        self.wr.push(Some(high));
        Ok(())
    }

    /// Starts the wake-mode writer: each byte on the returned "go" pipe makes it write
    /// one byte to the next active pipe (the same rotation as the loop's).
    pub fn spawn_writer(&mut self, mut rotation: Rotation) -> Result<OwnedFd> {
        let (go_rd, go_wr) =
            pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::sys("bench", "pipe2", e))?;
        let targets: Vec<&OwnedFd> = self
            .active
            .iter()
            .filter_map(|&a| self.wr[a].as_ref())
            .collect();
        if targets.len() != self.active.len() {
            return Err(Error::Usage(
                "bench: an active pipe has no write end".into(),
            ));
        }
        let pid = self.spawn(|| {
            drop_quietly(&go_wr);
            let mut c = [0u8; 1];
            while matches!(nix::unistd::read(&go_rd, &mut c), Ok(1)) {
                if nix::unistd::write(targets[rotation.pick()], b"x") != Ok(1) {
                    return 1;
                }
            }
            0
        })?;
        self.children.0.push(pid);
        Ok(go_wr)
    }

    /// Forks a child that runs `body` and exits with its status.
    fn spawn(&self, body: impl FnOnce() -> i32) -> Result<Pid> {
        let parent = nix::unistd::getpid();
        // SAFETY: fdwatch is single-threaded when it benches, so the child may run any
        // code; it runs only `body` (system calls, no allocation) and then _exit.
        match unsafe { fork() }.map_err(|e| Error::sys("bench", "fork", e))? {
            ForkResult::Parent { child } => Ok(child),
            ForkResult::Child => {
                // Die with the bench, even when it is killed; a late fork may have
                // missed the parent already.
                let ok = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_ok()
                    && nix::unistd::getppid() == parent;
                let status = if ok { body() } else { 0 };
                // SAFETY: _exit takes no pointers. It is used, not exit, so the child runs
                // no atexit handlers and flushes none of the parent's copied buffers.
                unsafe { nix::libc::_exit(status) }
            }
        }
    }
}

/// A holder: keeps its copies of the write ends open until killed.
fn hold() -> i32 {
    // /dev/null on 0-2, so a holder never keeps our caller's stdout pipe open.
    if let Ok(null) = open("/dev/null", OFlag::O_RDWR, Mode::empty()) {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    loop {
        nix::unistd::pause();
    }
}

/// Closes the child's copy of the go pipe's write end, so it sees EOF when we close
/// ours. (The child never drops its copy of the OwnedFd: it leaves by _exit.)
fn drop_quietly(fd: &OwnedFd) {
    let _ = nix::unistd::close(fd.as_raw_fd());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_pipes_centre_k_slices() {
        assert_eq!(active_indices(10, 10), (0..10).collect::<Vec<_>>());
        assert_eq!(
            active_indices(1000, 10),
            [50, 150, 250, 350, 450, 550, 650, 750, 850, 950]
        );
        assert_eq!(active_indices(100, 1), [50]);
    }

    #[test]
    fn rotation_cycles() {
        let mut r = Rotation::new(3);
        let got: Vec<usize> = (0..7).map(|_| r.pick()).collect();
        assert_eq!(got, [0, 1, 2, 0, 1, 2, 0]);
    }
}
