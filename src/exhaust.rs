//! Running out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM)
//! without spinning, wherever a descriptor is made while running: accept, the relay's
//! socket and connect to TARGET and its splice pipes (pipe2), a FIFO's reopen and the
//! private reopen an inherited fd is read through (open). A listener whose accept
//! fails so stays ready, so asking again at once is a busy loop (and with a signal
//! mask in the wait, one that never hears a signal). Instead the fd leaves the wait
//! and the resource is not asked for again until a descriptor is freed or a back-off
//! expires (10 ms, doubling, at most half a second: once a descriptor is back, work
//! resumes within that); clients that cannot be served are accepted on a spare
//! descriptor kept for that and closed at once (the reserve-descriptor technique), so
//! none is left hanging. Each episode is two events: `start` at the first failure and
//! `end` when the call works again (or the run ends), however many failures between.
//!
//! Watch mode and the relay keep their episodes here (`Episode`, with `fail` saying
//! whether the fd must leave the wait and whether the start is news) and build their
//! events with `Episode::event`; what "leaving the wait" means is theirs.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{self, SockFlag};
use nix::sys::stat::Mode;

use crate::event::{Exhausted, Phase, Subject};

const FIRST_DELAY: Duration = Duration::from_millis(10);
/// The longest back-off: a descriptor that comes back (freed by another process, or
/// memory) is found within this, well inside a second.
pub const MAX_DELAY: Duration = Duration::from_millis(500);
/// Clients refused per attempt: the rest wait in the backlog for the next one.
const REFUSE_AT_ONCE: u64 = 64;

/// Whether a failed call means a resource ran out (rather than a bad request).
pub fn is_exhaustion(e: Errno) -> bool {
    matches!(
        e,
        Errno::EMFILE | Errno::ENFILE | Errno::ENOBUFS | Errno::ENOMEM
    )
}

/// One spare descriptor (/dev/null), opened while there is room.
#[derive(Debug)]
pub struct Reserve(Option<OwnedFd>);

fn spare() -> Option<OwnedFd> {
    nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

impl Reserve {
    pub fn new() -> Reserve {
        Reserve(spare())
    }

    /// Accepts the clients waiting on `listener` and closes each at once (it sees its
    /// connection closed, not a silent hang), using the spare descriptor's slot.
    /// Returns how many were refused so.
    pub fn refuse_pending(&mut self, listener: BorrowedFd<'_>) -> u64 {
        let mut refused = 0;
        while refused < REFUSE_AT_ONCE {
            // Free the slot, take one client into it, close it, take the slot back.
            drop(self.0.take());
            let accepted = socket::accept4(
                listener.as_raw_fd(),
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            );
            match accepted {
                Ok(raw) => {
                    // SAFETY: accept4 returned a new fd that nothing else owns.
                    drop(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) });
                    refused += 1;
                }
                Err(Errno::EINTR | Errno::ECONNABORTED) => {}
                Err(_) => break,
            }
            self.0 = spare();
            if self.0.is_none() {
                break;
            }
        }
        if self.0.is_none() {
            self.0 = spare();
        }
        refused
    }
}

impl Default for Reserve {
    fn default() -> Self {
        Reserve::new()
    }
}

/// What a failure in an episode means for its caller (`Episode::fail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
    /// A new episode: report its start, and the fd leaves the wait.
    Began,
    /// The fd was back in the wait (see `Episode::rearm`) and failed again: it leaves.
    LeaveWait,
    /// Already out of the wait: the back-off is longer now, nothing else to do.
    Again,
}

/// One exhaustion episode: what failed, since when, the clients refused meanwhile,
/// and when to ask again.
#[derive(Clone, Copy, Debug)]
pub struct Episode {
    pub call: &'static str,
    pub errno: Errno,
    pub since: Instant,
    pub refused: u64,
    delay: Duration,
    /// When to ask again; None while the fd is back in the wait (nothing was pending
    /// at the last try, so the next client decides).
    retry_at: Option<Instant>,
}

impl Episode {
    pub fn begin(call: &'static str, errno: Errno, now: Instant) -> Episode {
        Episode {
            call,
            errno,
            since: now,
            refused: 0,
            delay: FIRST_DELAY,
            retry_at: Some(now + FIRST_DELAY),
        }
    }

    /// Failed again: wait twice as long (at most MAX_DELAY).
    pub fn again(&mut self, errno: Errno, now: Instant) {
        self.errno = errno;
        self.delay = (self.delay * 2).min(MAX_DELAY);
        self.retry_at = Some(now + self.delay);
    }

    /// A descriptor was freed: worth asking again now.
    pub fn freed(&mut self, now: Instant) {
        if let Some(at) = &mut self.retry_at {
            *at = (*at).min(now);
        }
    }

    /// The try found nobody waiting: the fd goes back into the wait, and the next
    /// client either is served (the episode ends) or fails again (`record`).
    pub fn rearm(&mut self) {
        self.retry_at = None;
    }

    pub fn due(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|at| now >= at)
    }

    /// The wait until the next attempt, for the loop's timeout (None: no attempt due).
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        self.retry_at.map(|at| at.saturating_duration_since(now))
    }

    /// Starts an episode, or makes the ongoing one wait longer. True when the fd must
    /// leave the wait now (a new episode, or one whose fd was back in the wait).
    pub fn record(ep: &mut Option<Episode>, call: &'static str, errno: Errno) -> bool {
        Episode::fail(ep, call, errno, Instant::now()) != Failed::Again
    }

    /// `call` failed with `errno` (an exhaustion): starts an episode or makes the
    /// ongoing one wait longer, and says what the caller must do.
    pub fn fail(
        ep: &mut Option<Episode>,
        call: &'static str,
        errno: Errno,
        now: Instant,
    ) -> Failed {
        match ep {
            Some(e) => {
                let was_armed = e.retry_at.is_none();
                e.again(errno, now);
                if was_armed {
                    Failed::LeaveWait
                } else {
                    Failed::Again
                }
            }
            None => {
                *ep = Some(Episode::begin(call, errno, now));
                Failed::Began
            }
        }
    }

    /// The episode's start event (the call and errno), for `fd` (`what` it is).
    pub fn start_event<'a>(&self, fd: Option<RawFd>, what: &'a str) -> Exhausted<'a> {
        self.event(fd, what, Phase::Start)
    }

    /// The episode's end event: the clients refused and how long it lasted.
    pub fn end_event<'a>(&self, fd: Option<RawFd>, what: &'a str) -> Exhausted<'a> {
        let phase = Phase::End {
            refused: self.refused,
            duration: self.since.elapsed(),
        };
        self.event(fd, what, phase)
    }

    fn event<'a>(&self, fd: Option<RawFd>, what: &'a str, phase: Phase) -> Exhausted<'a> {
        Exhausted {
            at: Subject { fd, what },
            call: self.call,
            errno: self.errno,
            phase,
            clients: matches!(self.call, "accept" | "socket" | "connect"),
        }
    }

    /// Whether the fd is back in the wait (see `rearm`).
    pub fn armed(&self) -> bool {
        self.retry_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_half_a_second() {
        let t0 = Instant::now();
        let mut ep = Episode::begin("accept", Errno::EMFILE, t0);
        assert_eq!(ep.wait(t0), Some(FIRST_DELAY));
        let mut waits = Vec::new();
        for _ in 0..10 {
            ep.again(Errno::EMFILE, t0);
            waits.extend(ep.wait(t0).map(|d| d.as_millis()));
        }
        assert_eq!(waits, [20, 40, 80, 160, 320, 500, 500, 500, 500, 500]);
        ep.freed(t0);
        assert!(ep.due(t0));
        // Nobody waiting at the try: back in the wait, nothing due, until it fails again.
        ep.rearm();
        assert!(!ep.due(t0) && ep.wait(t0).is_none() && ep.armed());
        let mut some = Some(ep);
        assert!(Episode::record(&mut some, "accept", Errno::EMFILE));
        assert!(!Episode::record(&mut some, "accept", Errno::EMFILE));
        assert!(is_exhaustion(Errno::ENFILE) && !is_exhaustion(Errno::ECONNABORTED));
    }

    #[test]
    fn fail_says_start_leave_or_nothing() {
        let t0 = Instant::now();
        let mut ep = None;
        assert_eq!(
            Episode::fail(&mut ep, "socket", Errno::ENOBUFS, t0),
            Failed::Began
        );
        assert_eq!(
            Episode::fail(&mut ep, "accept", Errno::EMFILE, t0),
            Failed::Again
        );
        let e = ep.as_mut().expect("episode");
        // The call that began it names the episode; the errno is the latest.
        assert_eq!((e.call, e.errno), ("socket", Errno::EMFILE));
        e.refused = 3;
        let start = e.start_event(Some(5), "tcp listen");
        assert_eq!((start.phase, start.clients), (Phase::Start, true));
        let Phase::End { refused, .. } = e.end_event(None, "").phase else {
            panic!("an end event");
        };
        assert_eq!(refused, 3);
        e.rearm();
        assert_eq!(
            Episode::fail(&mut ep, "accept", Errno::EMFILE, t0),
            Failed::LeaveWait
        );
    }
}
