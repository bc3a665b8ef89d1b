//! The kernel objects a test makes in its own process: pipes, FIFOs in temporary
//! directories, ptys, AF_UNIX sockets, and what the test reads back from them.
//!
//! Every fd made here is O_CLOEXEC: tests run in parallel threads of one process, and a
//! pipe end leaked into another test's child would keep a writer alive and hide a
//! hang-up.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::libc;
use nix::sys::stat::Mode;

use super::Fdwatch;

/// A pipe, both ends close-on-exec: (read end, write end).
pub fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe2")
}

pub fn write(fd: impl AsFd, data: &[u8]) {
    let n = nix::unistd::write(fd, data).expect("write");
    assert_eq!(n, data.len());
}

/// Bytes readable right now, without blocking (FIONREAD).
pub fn fionread(fd: impl AsFd) -> i32 {
    int_ioctl(fd, libc::FIONREAD, "FIONREAD")
}

/// An ioctl that writes one int (FIONREAD, SIOCOUTQ, SIOCATMARK); its value.
pub(super) fn int_ioctl(fd: impl AsFd, request: libc::Ioctl, name: &str) -> libc::c_int {
    let mut n: libc::c_int = 0;
    // SAFETY: these requests write one c_int; the fd is open.
    let r = unsafe { libc::ioctl(fd.as_fd().as_raw_fd(), request, &mut n) };
    assert_eq!(r, 0, "{name}: {}", Errno::last());
    n
}

/// The inode number of `fd` (which names a pipe: `pipe:[INO]`).
pub fn inode(fd: impl AsFd) -> u64 {
    nix::sys::stat::fstat(fd.as_fd()).expect("fstat").st_ino
}

/// poll(2) on `fd` alone for `events` until `done(revents)`, by `deadline`: the revents
/// it was done on, or None when the deadline came first. EINTR is retried.
pub fn poll_until(
    fd: impl AsFd,
    events: libc::c_short,
    deadline: Instant,
    done: impl Fn(libc::c_short) -> bool,
) -> Option<libc::c_short> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // libc's poll, not nix's: nix's revents drops a mask with a bit it does not
        // name (POLLRDHUP).
        let mut p = libc::pollfd {
            fd: fd.as_fd().as_raw_fd(),
            events,
            revents: 0,
        };
        // Whole milliseconds, rounded up: a wait never ends before the deadline.
        let ms = libc::c_int::try_from(left.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd; the fd stays open for the call.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r > 0 && done(p.revents) {
            return Some(p.revents);
        }
        assert!(
            r >= 0 || Errno::last() == Errno::EINTR,
            "poll: {}",
            Errno::last()
        );
        if left.is_zero() {
            return None;
        }
    }
}

pub fn status_flags(fd: impl AsFd) -> OFlag {
    OFlag::from_bits_retain(fcntl(fd.as_fd(), FcntlArg::F_GETFL).expect("F_GETFL"))
}

/// Sets O_NONBLOCK on the open file description of `fd`, keeping its other flags.
pub fn set_nonblock(fd: impl AsFd) {
    let fl = status_flags(&fd);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(fl | OFlag::O_NONBLOCK)).expect("F_SETFL");
}

/// One read of at most `n + 1` bytes: what `fd` holds when `n` are expected, plus one
/// byte more if there is more, so a surplus shows in the comparison.
pub fn read_back(fd: impl AsFd, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n + 1];
    let got = nix::unistd::read(fd, &mut buf).expect("read back");
    buf.truncate(got);
    buf
}

/// A temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let tmpl = std::env::temp_dir().join("fdwatch-test-XXXXXX");
        TempDir(nix::unistd::mkdtemp(&tmpl).expect("mkdtemp"))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// A FIFO named `name` in this directory.
    pub fn fifo(&self, name: &str) -> PathBuf {
        let p = self.path(name);
        nix::unistd::mkfifo(&p, Mode::from_bits_truncate(0o600)).expect("mkfifo");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens a path with extra flags, close-on-exec.
pub fn open(path: &Path, flags: OFlag) -> OwnedFd {
    nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()))
}

/// A writer end of `fifo`, non-blocking: ENXIO here means a moment with no reader
/// (which fdwatch's reopen must never leave). Close-on-exec like every fd here.
pub fn fifo_writer(fifo: &Path, label: &str) -> OwnedFd {
    nix::fcntl::open(
        fifo,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("{label}: opening a writer of the FIFO failed: {e:?}"))
}

/// A pseudo-terminal pair, both ends close-on-exec, the slave in canonical mode.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

pub fn pty() -> Pty {
    let m = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .expect("posix_openpt");
    nix::pty::grantpt(&m).expect("grantpt");
    nix::pty::unlockpt(&m).expect("unlockpt");
    let name = nix::pty::ptsname_r(&m).expect("ptsname_r");
    let slave = open(Path::new(&name), OFlag::O_RDWR | OFlag::O_NOCTTY);
    Pty {
        master: OwnedFd::from(m),
        slave,
    }
}

/// A connected AF_UNIX stream pair, close-on-exec.
pub fn socketpair() -> (OwnedFd, OwnedFd) {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .expect("socketpair")
}

/// An AF_UNIX stream socket bound to `path` but not listening (close-on-exec):
/// connecting to it is refused (ECONNREFUSED) until `listen` is called on it.
pub fn closed_unix(path: &Path) -> OwnedFd {
    use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket::socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let addr = UnixAddr::new(path).expect("unix address");
    socket::bind(fd.as_raw_fd(), &addr).expect("bind a UNIX socket");
    fd
}

/// A pipe filled until a non-blocking write gets EAGAIN: (read end, write end, bytes
/// queued). Only the test's own write end is made non-blocking (the read end's open
/// file description is untouched).
pub fn full_pipe() -> (OwnedFd, OwnedFd, i32) {
    let (r, w) = pipe();
    let cap = fcntl(&w, FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ");
    set_nonblock(&w);
    let chunk = vec![b'f'; 4096];
    let mut total = 0;
    loop {
        match nix::unistd::write(&w, &chunk) {
            Ok(n) => total += n,
            Err(Errno::EAGAIN) => break,
            Err(e) => panic!("filling the pipe: {e}"),
        }
    }
    assert_eq!(
        i32::try_from(total).ok(),
        Some(cap),
        "full pipe: wrote {total} of {cap}"
    );
    assert_eq!(fionread(&r), cap, "full pipe");
    (r, w, cap)
}

/// Fds 3 (pipe A's read end), 4 (pipe B's write end, B full) and 5 (a pty slave).
pub struct Inherited {
    pub a_read: OwnedFd,
    pub a_write: OwnedFd,
    pub b_read: OwnedFd,
    pub b_write: OwnedFd,
    pub pty: Pty,
}

impl Inherited {
    /// Nothing ready yet: A empty, B full, no input on the pty.
    pub fn quiet(nonblock: bool) -> Inherited {
        let (a_read, a_write) = pipe();
        let (b_read, b_write) = pipe();
        let cap = fcntl(&b_write, FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ");
        write(
            &b_write,
            &vec![b'z'; usize::try_from(cap).expect("pipe size")],
        );
        let pty = pty();
        if nonblock {
            set_nonblock(&a_read);
            set_nonblock(&b_write);
            set_nonblock(&pty.slave);
        }
        Inherited {
            a_read,
            a_write,
            b_read,
            b_write,
            pty,
        }
    }

    pub fn flags(&self) -> [OFlag; 3] {
        [
            status_flags(&self.a_read),
            status_flags(&self.b_write),
            status_flags(&self.pty.slave),
        ]
    }

    pub fn command(&self, argv: &[&str]) -> Fdwatch {
        Fdwatch::new(argv)
            .fd(self.a_read.as_fd(), 3)
            .fd(self.b_write.as_fd(), 4)
            .fd(self.pty.slave.as_fd(), 5)
    }

    pub fn check(&self, case: &str, before: [OFlag; 3], nonblock: bool) {
        let after = self.flags();
        for (i, name) in [
            "pipe read end (fd 3)",
            "pipe write end (fd 4)",
            "pty slave (fd 5)",
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(
                before[i], after[i],
                "{case}: status flags of {name} changed: {:?} -> {:?}",
                before[i], after[i]
            );
            assert_eq!(
                after[i].contains(OFlag::O_NONBLOCK),
                nonblock,
                "{case}: O_NONBLOCK on {name}"
            );
        }
    }
}
