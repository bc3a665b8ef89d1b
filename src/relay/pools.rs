//! Buffers and splice pipes kept between a relay's connections: a connection takes one
//! when it needs it and gives it back at its end, so an idle connection holds none and
//! a busy relay makes few.

use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};

/// The first buffer of a direction (it doubles while a fast source fills it).
pub(super) const FIRST_BUF: usize = 64 << 10;
/// Spare buffers and pipes kept for the next connections.
const POOLED: usize = 64;

/// A pipe for splice, with what it holds.
#[derive(Debug)]
pub struct Pipe {
    pub(super) r: OwnedFd,
    pub(super) w: OwnedFd,
    pub(super) cap: usize,
    pub(super) queued: usize,
    /// The last splice in found no room: spliced bytes can fill a pipe's slots with
    /// partial pages, so it can be full below `cap`. Cleared when bytes go out.
    pub(super) full: bool,
}

/// Buffers and pipes kept between connections (a connection takes one when it needs
/// it and gives it back at its end).
#[derive(Debug, Default)]
pub struct Pools {
    bufs: Vec<Vec<u8>>,
    pipes: Vec<Pipe>,
    /// How pipe2 went since the relay last looked (`news`): out of descriptors is an
    /// episode to report (the direction copies meanwhile), a pipe made ends it.
    failed: Option<Errno>,
    made: bool,
}

impl Pools {
    pub(super) fn buf(&mut self, len: usize) -> Vec<u8> {
        self.bufs.pop().unwrap_or_else(|| vec![0; len])
    }

    /// A buffer nobody holds bytes in: kept for the next reader if the pool has room
    /// and it is of the first size (a grown one is freed: the pool stays small).
    pub(super) fn give_buf(&mut self, buf: Vec<u8>) {
        if self.bufs.len() < POOLED && buf.len() <= FIRST_BUF {
            self.bufs.push(buf);
        }
    }

    /// An empty pipe of a closed connection: kept for the next one if the pool has room.
    pub(super) fn give_pipe(&mut self, p: Pipe) {
        if self.pipes.len() < POOLED {
            self.pipes.push(p);
        }
    }

    /// pipe2's failure (the last one) and whether a pipe was made after it, since the
    /// last look.
    pub fn news(&mut self) -> (Option<Errno>, bool) {
        (self.failed.take(), std::mem::take(&mut self.made))
    }

    /// Descriptors ran out: the pooled pipes (two each) go, to serve clients instead.
    /// True when there were some.
    pub fn shed_pipes(&mut self) -> bool {
        let had = !self.pipes.is_empty();
        self.pipes.clear();
        had
    }

    pub(super) fn pipe(&mut self, size: usize) -> Option<Pipe> {
        if let Some(p) = self.pipes.pop() {
            return Some(p);
        }
        let (r, w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK) {
            Ok(p) => {
                self.made = true;
                p
            }
            Err(e) => {
                (self.failed, self.made) = (Some(e), false);
                return None;
            }
        };
        // As large as --buffer where the system allows; what it gives otherwise.
        let _ = fcntl(
            &w,
            FcntlArg::F_SETPIPE_SZ(i32::try_from(size).unwrap_or(i32::MAX)),
        );
        let cap = crate::probe::pipe_size(w.as_fd()).map_or(64 << 10, |c| c as usize);
        Some(Pipe {
            r,
            w,
            cap,
            queued: 0,
            full: false,
        })
    }
}
