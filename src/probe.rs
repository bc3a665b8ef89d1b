//! Ask the kernel about one fd now, without reading it or changing its flags: poll(2)
//! on that fd alone (at once, or waiting at most a while), the bytes queued (FIONREAD)
//! and a pipe's capacity (F_GETPIPE_SZ). What these numbers mean for a kind of fd is
//! the caller's business (`describe` says which kinds have a queue).
//!
//! The one mapping between poll's bits and the normalized words is here too: the poll
//! and io_uring backends register and decode with it, `fdwatch pid:PID` reads another
//! process's pollfd array with it. This module knows nothing of fdwatch above
//! `readiness`'s types.
//!
//! Raw libc for poll: nix's `PollFlags` has no POLLRDHUP, and its `revents()` returns
//! `None` whenever the kernel sets a bit it does not know.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::libc;

use crate::readiness::{Conditions, Interest};

/// Which revents bits say which condition. HUP, ERR and NVAL come whatever is asked.
const ANSWERS: [(i16, Conditions); 7] = [
    (
        libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND,
        Conditions::READ,
    ),
    (
        libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND,
        Conditions::WRITE,
    ),
    (libc::POLLPRI, Conditions::URGENT),
    (libc::POLLHUP, Conditions::HANGUP),
    (libc::POLLRDHUP, Conditions::RDHUP),
    (libc::POLLERR, Conditions::ERROR),
    (libc::POLLNVAL, Conditions::INVALID),
];

/// revents in normalized words.
pub fn conditions(revents: i16) -> Conditions {
    let mut c = Conditions::empty();
    for (bits, cond) in ANSWERS {
        c.set_if(revents & bits != 0, cond);
    }
    c
}

/// The events to ask poll for. RDHUP rides along with read: the kernel sets it only
/// when asked, and it is how a TCP peer's close shows apart from data.
pub fn events(i: Interest) -> i16 {
    let mut e = 0;
    if i.read {
        e |= libc::POLLIN | libc::POLLRDHUP;
    }
    if i.write {
        e |= libc::POLLOUT;
    }
    if i.urgent {
        e |= libc::POLLPRI;
    }
    e
}

/// What a pollfd's `events` asks for (another process's, for `fdwatch pid:PID`).
pub fn interest(events: i16) -> Interest {
    let asked = conditions(events);
    Interest {
        read: asked.contains(Conditions::READ),
        write: asked.contains(Conditions::WRITE),
        urgent: asked.contains(Conditions::URGENT),
    }
}

/// poll(2) on `fd` alone with a zero timeout, retried on EINTR: what is true of it now.
/// `Interest::NONE` still learns of hang-ups, errors and an invalid fd.
pub fn now(fd: BorrowedFd<'_>, ask: Interest) -> nix::Result<Conditions> {
    loop {
        match poll_one(fd, events(ask), 0) {
            Err(Errno::EINTR) => continue,
            r => return r.map(conditions),
        }
    }
}

/// poll(2) on `fd` alone until it is ready for `ask` or `timeout` passes (`None`
/// waits for good); empty conditions when it passed. A signal ends the wait with
/// EINTR: the caller knows how much time is left.
pub fn wait(
    fd: BorrowedFd<'_>,
    ask: Interest,
    timeout: Option<Duration>,
) -> nix::Result<Conditions> {
    poll_one(fd, events(ask), millis(timeout)).map(conditions)
}

/// Whether a stream socket's peer has closed its side (RDHUP, or HUP once both sides
/// are shut), whatever is still queued. Consumes nothing.
pub fn peer_closed(fd: BorrowedFd<'_>) -> bool {
    now(fd, Interest::READ).is_ok_and(|c| c.intersects(Conditions::RDHUP | Conditions::HANGUP))
}

/// FIONREAD: bytes queued for reading on a pipe, FIFO, tty or socket (other kinds
/// answer something else, or nothing).
pub fn queued(fd: BorrowedFd<'_>) -> Option<i32> {
    let mut n: libc::c_int = 0;
    // SAFETY: nix has no FIONREAD wrapper; FIONREAD writes one c_int to the pointer,
    // and `fd` is open for the duration of the borrow.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    (r == 0).then_some(n)
}

/// F_GETPIPE_SZ: a pipe's or FIFO's capacity in bytes (`None` for anything else).
pub fn pipe_size(fd: BorrowedFd<'_>) -> Option<i32> {
    fcntl(fd, FcntlArg::F_GETPIPE_SZ).ok()
}

/// One poll of one fd: its revents (0 when the timeout passed).
fn poll_one(fd: BorrowedFd<'_>, events: i16, timeout_ms: i32) -> nix::Result<i16> {
    let mut p = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    }];
    // SAFETY: one initialized pollfd, valid for the call; poll only writes revents.
    let r = unsafe { libc::poll(p.as_mut_ptr(), 1, timeout_ms) };
    Errno::result(r).map(|_| p[0].revents)
}

/// A wait in whole milliseconds, rounded up so that it never ends early; -1 waits for good.
fn millis(timeout: Option<Duration>) -> i32 {
    timeout.map_or(-1, |d| {
        i32::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
    })
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;
    use nix::unistd::{pipe, write};

    use super::*;

    const R: Conditions = Conditions::READ;
    const W: Conditions = Conditions::WRITE;
    const HUP: Conditions = Conditions::HANGUP;

    #[test]
    fn empty_pipe() {
        let (r, w) = pipe().expect("pipe");
        assert_eq!(now(r.as_fd(), Interest::READ), Ok(Conditions::empty()));
        assert_eq!(now(w.as_fd(), Interest::WRITE), Ok(W));
        assert_eq!(queued(r.as_fd()), Some(0));
        assert!(pipe_size(r.as_fd()).is_some_and(|n| n > 0));
        let a_while = Some(Duration::from_millis(1));
        assert_eq!(
            wait(r.as_fd(), Interest::READ, a_while),
            Ok(Conditions::empty())
        );
    }

    #[test]
    fn written_pipe() {
        let (r, w) = pipe().expect("pipe");
        assert_eq!(write(&w, b"hello"), Ok(5));
        assert_eq!(now(r.as_fd(), Interest::READ), Ok(R));
        assert_eq!(wait(r.as_fd(), Interest::READ, None), Ok(R));
        // Either end measures the same pipe.
        assert_eq!(queued(r.as_fd()), Some(5));
        assert_eq!(queued(w.as_fd()), Some(5));
        assert!(!peer_closed(r.as_fd()));
    }

    #[test]
    fn pipe_whose_writer_closed() {
        let (r, w) = pipe().expect("pipe");
        assert_eq!(write(&w, b"x"), Ok(1));
        drop(w);
        assert_eq!(now(r.as_fd(), Interest::READ), Ok(R | HUP));
        // Asked nothing, poll still says hang-up (and only that).
        assert_eq!(now(r.as_fd(), Interest::NONE), Ok(HUP));
        assert!(peer_closed(r.as_fd()));
        assert_eq!(queued(r.as_fd()), Some(1));
    }

    #[test]
    fn pipe_whose_reader_closed() {
        let (r, w) = pipe().expect("pipe");
        drop(r);
        assert_eq!(now(w.as_fd(), Interest::WRITE), Ok(W | Conditions::ERROR));
    }

    #[test]
    fn path_only_fd_is_invalid() {
        let fd = open(".", OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).expect("O_PATH");
        assert_eq!(now(fd.as_fd(), Interest::READ), Ok(Conditions::INVALID));
        assert_eq!(queued(fd.as_fd()), None);
        assert_eq!(pipe_size(fd.as_fd()), None);
    }

    #[test]
    fn mapping_table() {
        let table: &[(i16, &str)] = &[
            (libc::POLLIN, "read"),
            (libc::POLLRDNORM, "read"),
            (libc::POLLOUT, "write"),
            (libc::POLLWRBAND, "write"),
            (libc::POLLPRI, "urgent"),
            (libc::POLLIN | libc::POLLPRI, "read urgent"),
            (libc::POLLHUP, "hangup"),
            (libc::POLLOUT | libc::POLLERR, "write error"),
            (libc::POLLIN | libc::POLLRDHUP, "read rdhup"),
            (libc::POLLNVAL, "invalid"),
            (
                libc::POLLIN | libc::POLLOUT | libc::POLLERR | libc::POLLHUP,
                "read write hangup error",
            ),
        ];
        for (bits, words) in table {
            assert_eq!(conditions(*bits).to_string(), *words, "{bits:#x}");
        }
    }

    #[test]
    fn asked_events() {
        let rw = Interest::READ.merge(Interest::WRITE);
        assert_eq!(events(rw), libc::POLLIN | libc::POLLRDHUP | libc::POLLOUT);
        assert_eq!(events(Interest::URGENT), libc::POLLPRI);
        assert_eq!(events(Interest::NONE), 0);
        assert_eq!(interest(libc::POLLIN | libc::POLLPRI), Interest::SOCKET);
        assert_eq!(interest(libc::POLLWRNORM), Interest::WRITE);
        assert_eq!(interest(libc::POLLRDHUP), Interest::NONE);
    }

    #[test]
    fn waits_round_up() {
        assert_eq!(millis(None), -1);
        assert_eq!(millis(Some(Duration::ZERO)), 0);
        assert_eq!(millis(Some(Duration::from_nanos(1))), 1);
        assert_eq!(millis(Some(Duration::from_micros(1500))), 2);
        assert_eq!(millis(Some(Duration::from_secs(u64::MAX))), i32::MAX);
    }
}
