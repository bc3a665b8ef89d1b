//! Another process's fds: a pidfd (pidfd_open) to name the process for good, duplicates
//! of its fds (pidfd_getfd, Linux 5.6+), and a private reopen of /proc/PID/fd/N where
//! pidfd_getfd is refused. A duplicate shares the target's open file description, so the
//! caller must never read from it or change its flags.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::stat::{Mode, fstat, stat};

use crate::error::{Error, Result};
use crate::probe;
use crate::readiness::Interest;

/// Why fdwatch may be refused, said once wherever it is.
const PTRACE_RULES: &str = "fdwatch needs ptrace access to it: the same user and \
     Yama's ptrace_scope allowing it, or CAP_SYS_PTRACE";

/// A process, held by a pidfd so a recycled pid can never be mistaken for it.
#[derive(Debug)]
pub struct Process {
    pub pid: i32,
    pidfd: OwnedFd,
}

/// A duplicate of one of the process's fds.
#[derive(Debug)]
pub struct Dup {
    pub fd: OwnedFd,
    /// A private reopen of /proc/PID/fd/N (its own open file description), not a
    /// pidfd_getfd duplicate.
    pub private: bool,
    /// Why it is private (pidfd_getfd's error), for a note.
    pub why: Option<Errno>,
}

impl Process {
    pub fn open(pid: i32) -> Result<Process> {
        // SAFETY: pidfd_open(pid, flags) takes two integers and returns a new fd or -1.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        match Errno::result(r) {
            // SAFETY: a fresh fd from the kernel that nothing else owns.
            Ok(fd) => Ok(Process {
                pid,
                pidfd: unsafe { OwnedFd::from_raw_fd(fd as RawFd) },
            }),
            Err(Errno::ESRCH) => Err(Error::Usage(format!("pid {pid}: no such process"))),
            Err(e) => Err(Error::sys(format!("pid {pid}"), "pidfd_open", e)),
        }
    }

    /// Readable once the process has exited.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Whether the process has exited (its pidfd is readable).
    pub fn exited(&self) -> bool {
        probe::now(self.pidfd.as_fd(), Interest::READ).is_ok_and(|c| !c.is_empty())
    }

    /// The fds the process has open from `lo` to `hi`, ascending; none is an error.
    pub fn fds_in(&self, lo: RawFd, hi: RawFd) -> Result<Vec<RawFd>> {
        let v: Vec<RawFd> = self
            .fds()?
            .into_iter()
            .filter(|n| (lo..=hi).contains(n))
            .collect();
        if v.is_empty() {
            let pid = self.pid;
            return Err(Error::Usage(format!("pid {pid} has no fd in {lo}-{hi}")));
        }
        Ok(v)
    }

    /// The fds the process has open, ascending (from /proc/PID/fd).
    pub fn fds(&self) -> Result<Vec<RawFd>> {
        let dir = format!("/proc/{}/fd", self.pid);
        let rd = std::fs::read_dir(&dir).map_err(|e| self.io_error(&dir, "opendir", e))?;
        let mut v: Vec<RawFd> = rd
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        v.sort_unstable();
        Ok(v)
    }

    /// A duplicate of the process's fd `fd`. The access mode of a private reopen is the
    /// target's own (from fdinfo): opening a pipe's read end for writing too would add a
    /// writer and hide the end of file from the process.
    pub fn dup(&self, fd: RawFd) -> Result<Dup> {
        let why = match self.getfd(fd) {
            Ok(fd) => {
                return Ok(Dup {
                    fd,
                    private: false,
                    why: None,
                });
            }
            Err(Errno::EBADF) => return Err(self.no_fd(fd)),
            Err(Errno::ESRCH) => return Err(self.gone()),
            // Refused (ptrace rules) or an old kernel: try the /proc reopen.
            Err(e @ (Errno::EPERM | Errno::ENOSYS)) => e,
            Err(e) => return Err(Error::sys(self.name(fd), "pidfd_getfd", e)),
        };
        let path = format!("/proc/{}/fd/{fd}", self.pid);
        let access = self.access_mode(fd).unwrap_or(OFlag::O_RDONLY);
        let flags = access | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        match nix::fcntl::open(path.as_str(), flags, Mode::empty()) {
            Ok(fd) => Ok(Dup {
                fd,
                private: true,
                why: Some(why),
            }),
            Err(Errno::ENOENT) => Err(self.no_fd(fd)),
            Err(Errno::EACCES | Errno::EPERM) => Err(Error::Usage(format!(
                "{}: not permitted ({why:?} from pidfd_getfd, EACCES from open {path}); {PTRACE_RULES}",
                self.name(fd)
            ))),
            Err(Errno::ENXIO) => Err(Error::Usage(format!(
                "{}: not permitted ({why:?} from pidfd_getfd), and a socket cannot be reopened \
                 through {path}; {PTRACE_RULES}",
                self.name(fd)
            ))),
            Err(e) => Err(Error::sys(path, "open", e)),
        }
    }

    /// pidfd_getfd alone: a duplicate sharing the process's open file description, or
    /// the errno. Never a reopen, which would add a reader or writer to a pipe.
    pub fn getfd(&self, fd: RawFd) -> std::result::Result<OwnedFd, Errno> {
        // SAFETY: pidfd_getfd(pidfd, targetfd, flags) takes integers; the new fd is
        // close-on-exec and ours.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.pidfd.as_raw_fd(), fd, 0) };
        // SAFETY: a fresh fd from the kernel that nothing else owns.
        Errno::result(r).map(|n| unsafe { OwnedFd::from_raw_fd(n as RawFd) })
    }

    /// Whether the process still has `dup`'s file at fd `theirs`: kcmp(KCMP_FILE) for a
    /// shared duplicate, the inode for a private reopen. Lets a watch let go of a file
    /// the process closed, instead of keeping it open behind its back.
    pub fn still_has(&self, ours: BorrowedFd<'_>, private: bool, theirs: RawFd) -> bool {
        if private {
            let path = format!("/proc/{}/fd/{theirs}", self.pid);
            return match (stat(path.as_str()), fstat(ours)) {
                (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
                _ => false,
            };
        }
        const KCMP_FILE: libc::c_int = 0;
        // SAFETY: kcmp takes integers only.
        let r = unsafe {
            libc::syscall(
                libc::SYS_kcmp,
                libc::getpid(),
                self.pid,
                KCMP_FILE,
                ours.as_raw_fd(),
                theirs,
            )
        };
        // 0: the same file. An error (the process exited, the fd is gone) counts as no.
        r == 0
    }

    /// The access mode of the process's fd, from the `flags:` line of its fdinfo.
    pub fn access_mode(&self, fd: RawFd) -> Option<OFlag> {
        let info = std::fs::read_to_string(format!("/proc/{}/fdinfo/{fd}", self.pid)).ok()?;
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|v| i32::from_str_radix(v.trim(), 8).ok())?;
        Some(OFlag::from_bits_truncate(flags & libc::O_ACCMODE))
    }

    /// `pid 1234 fd 5`
    pub fn name(&self, fd: RawFd) -> String {
        format!("pid {} fd {fd}", self.pid)
    }

    fn no_fd(&self, fd: RawFd) -> Error {
        Error::Usage(format!("pid {} has no fd {fd}", self.pid))
    }

    fn gone(&self) -> Error {
        Error::Usage(format!("pid {}: no such process (it has exited)", self.pid))
    }

    /// An error reading the process's /proc files, in the words of the cause.
    pub fn io_error(&self, path: &str, call: &'static str, e: std::io::Error) -> Error {
        match e.raw_os_error().map(Errno::from_raw) {
            Some(Errno::EACCES | Errno::EPERM) => Error::Usage(format!(
                "pid {}: not permitted to read {path}; {PTRACE_RULES}",
                self.pid
            )),
            Some(Errno::ENOENT | Errno::ESRCH) => self.gone(),
            Some(errno) => Error::sys(path.to_owned(), call, errno),
            None => Error::Usage(format!("{path}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_fds_duplicate_and_compare() {
        // This process may always take its own fds.
        let me = Process::open(std::process::id() as i32).expect("pidfd_open self");
        let (r, _w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe");
        let d = me.dup(r.as_raw_fd()).expect("dup");
        assert!(!d.private);
        assert!(me.still_has(d.fd.as_fd(), false, r.as_raw_fd()));
        assert!(!me.still_has(d.fd.as_fd(), false, _w.as_raw_fd()));
        assert!(me.fds().expect("fds").contains(&r.as_raw_fd()));
        assert!(!me.exited());
        let e = me.dup(1 << 20).expect_err("no such fd").to_string();
        assert!(e.contains("has no fd"), "{e}");
    }

    #[test]
    fn missing_process() {
        let e = Process::open(i32::MAX)
            .expect_err("no such pid")
            .to_string();
        assert!(e.contains("no such process"), "{e}");
    }
}
