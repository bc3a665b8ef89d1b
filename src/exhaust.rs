//! Running out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS, ENOMEM)
//! without spinning. A listener whose accept fails so stays ready, so asking again at
//! once is a busy loop (and with a signal mask in the wait, one that never hears a
//! signal). Instead the resource is not asked for again until a descriptor is freed
//! or a back-off expires (10 ms, doubling, at most 1 s); clients that cannot be
//! served are accepted on a spare descriptor kept for that and closed at once (the
//! reserve-descriptor technique), so none is left hanging; and the whole episode is
//! one event when it ends.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{self, SockFlag};
use nix::sys::stat::Mode;

const FIRST_DELAY: Duration = Duration::from_millis(10);
const MAX_DELAY: Duration = Duration::from_secs(1);
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

    /// Failed again: wait twice as long (at most a second).
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
        let now = Instant::now();
        match ep {
            Some(e) => {
                let was_armed = e.retry_at.is_none();
                e.again(errno, now);
                was_armed
            }
            None => {
                *ep = Some(Episode::begin(call, errno, now));
                true
            }
        }
    }

    /// Whether the fd is back in the wait (see `rearm`).
    pub fn armed(&self) -> bool {
        self.retry_at.is_none()
    }

    /// What the `-v` note says when an episode begins.
    pub fn note(&self) -> String {
        format!(
            "{}: {} ({:?}): clients are refused (closed at once) and {} is retried after \
             {} ms, backing off to 1 s, or as soon as a descriptor is freed",
            self.call,
            self.errno.desc(),
            self.errno,
            self.call,
            self.delay.as_millis()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second() {
        let t0 = Instant::now();
        let mut ep = Episode::begin("accept", Errno::EMFILE, t0);
        assert_eq!(ep.wait(t0), Some(FIRST_DELAY));
        let mut waits = Vec::new();
        for _ in 0..10 {
            ep.again(Errno::EMFILE, t0);
            waits.extend(ep.wait(t0).map(|d| d.as_millis()));
        }
        assert_eq!(waits, [20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000]);
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
}
