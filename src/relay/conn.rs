//! One relayed connection: its two sockets, the two directions between them, and
//! how the relay moves bytes, urgent bytes and half-closes along them (how one ends,
//! closes or rests after a transient error is ends.rs).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;

use super::Relay;
use super::pump::{Dir, Flush, PumpStep};
use crate::error::Result;
use crate::event::{ConnectResult, Flow, RelayConnect, RelayData, RelayHalfClose, Side, Traffic};
use crate::event_loop::EventLoop;
use crate::exhaust;
use crate::net;
use crate::reader::{MAX_READS, ReadMode};
use crate::readiness::{Conditions, Interest};

/// Connection `slot`'s socket on `side` has this token (from 1; 0 is never used).
pub(super) fn token(slot: usize, side: Side) -> usize {
    1 + 2 * slot + usize::from(side == Side::Target)
}

pub(super) fn slot_of(token: usize) -> (usize, Side) {
    let t = token - 1;
    let side = if t.is_multiple_of(2) {
        Side::Client
    } else {
        Side::Target
    };
    (t / 2, side)
}

pub(super) struct Conn {
    pub(super) id: u64,
    pub(super) client: OwnedFd,
    pub(super) target: OwnedFd,
    /// The address the connect to TARGET tries.
    pub(super) addr: String,
    pub(super) connected: bool,
    /// client → target, target → client.
    pub(super) c2t: Dir,
    pub(super) t2c: Dir,
    pub(super) started: Instant,
    /// What each socket is registered for now: [client, target]; None: out of the wait.
    pub(super) registered: [Option<Interest>; 2],
    /// The socket reported a hang-up with no error pending: closed both ways (shut
    /// down both ways, or reset with the error already taken). [client, target].
    pub(super) hup: [bool; 2],
    /// Once an end of file was passed on: when bytes last moved (as last seen) and how
    /// many had then, for ending idle half-closed connections when descriptors run out.
    pub(super) half_closed: Option<(Instant, u64)>,
}

impl Conn {
    pub(super) fn fd(&self, side: Side) -> BorrowedFd<'_> {
        match side {
            Side::Client => self.client.as_fd(),
            Side::Target => self.target.as_fd(),
        }
    }

    /// The direction fed by `from`'s reads.
    pub(super) fn dir(&self, from: Side) -> &Dir {
        match from {
            Side::Client => &self.c2t,
            Side::Target => &self.t2c,
        }
    }

    /// The direction fed by `from`, with its source and its receiver (disjoint fields,
    /// so the buffer can be filled from one socket and drained into the other).
    pub(super) fn route(&mut self, from: Side) -> (BorrowedFd<'_>, BorrowedFd<'_>, &mut Dir) {
        match from {
            Side::Client => (self.client.as_fd(), self.target.as_fd(), &mut self.c2t),
            Side::Target => (self.target.as_fd(), self.client.as_fd(), &mut self.t2c),
        }
    }

    pub(super) fn traffic(&self) -> Traffic {
        Traffic {
            client_to_target: self.c2t.bytes,
            target_to_client: self.t2c.bytes,
            urgent_client_to_target: self.c2t.urgent,
            urgent_target_to_client: self.t2c.urgent,
        }
    }

    /// What each socket should be watched for now; None: nothing, and out of the wait.
    ///
    /// A socket asked for nothing stays in the wait while it can still tell something:
    /// epoll, poll and io_uring report ERR and HUP whatever the registration, so a peer
    /// that resets after its end of file (or after ours) is heard (the select family
    /// sees neither: ends.rs probes those sockets). Once it hung up with no error
    /// pending it has nothing more to tell, and since that HUP is reported on every
    /// wait, it leaves the wait until something is wanted of it again.
    pub(super) fn wanted(&self) -> [Option<Interest>; 2] {
        if !self.connected {
            // The connect's result comes as writability; the client waits meanwhile.
            return [Some(Interest::default()), Some(WRITE)];
        }
        let want = |read_dir: &Dir, write_dir: &Dir, hup: bool| {
            let i = Interest {
                read: read_dir.wants_read(),
                // PRI is watched while the side can still send: the urgent byte is
                // taken even when the buffer is full (it needs no room).
                urgent: !read_dir.eof && !hup && !read_dir.paused(),
                write: write_dir.has_output() && !write_dir.paused(),
            };
            (!(hup && i.is_empty())).then_some(i)
        };
        [
            want(&self.c2t, &self.t2c, self.hup[0]),
            want(&self.t2c, &self.c2t, self.hup[1]),
        ]
    }
}

pub(super) const WRITE: Interest = Interest {
    read: false,
    write: true,
    urgent: false,
};

/// What a client is asked for when its target has just connected.
const CLIENT_NOW: Interest = Interest {
    read: true,
    write: false,
    urgent: true,
};

impl Relay<'_> {
    pub(super) fn ready(
        &mut self,
        lp: &mut EventLoop<'_>,
        token: usize,
        cond: Conditions,
    ) -> Result<()> {
        let (slot, side) = slot_of(token);
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return Ok(());
        };
        if !c.connected {
            if side == Side::Client {
                // The client reset before the target answered. Its error and hang-up
                // are reported on every wait (whatever it is registered for), so
                // leaving it would spin: end the connection now.
                if cond.intersects(Conditions::ERROR | Conditions::HANGUP) {
                    return self.end(lp, slot, Ending::Reset(Side::Client));
                }
                return Ok(());
            }
            let folded = lp.caps().folds_hangup;
            return self.target_answered(lp, slot, cond, folded);
        }
        self.side_ready(lp, slot, side, cond)
    }

    /// The target's connect has an answer (`cond`, `folded` as `net::connect_result`
    /// takes it): reported, and on success the client's bytes go on at once.
    pub(super) fn target_answered(
        &mut self,
        lp: &mut EventLoop<'_>,
        slot: usize,
        cond: Conditions,
        folded: bool,
    ) -> Result<()> {
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return Ok(());
        };
        let error = net::connect_result(c.target.as_fd(), cond, folded);
        let id = c.id;
        lp.rep.emit(RelayConnect {
            conn: id,
            target: &self.target,
            addr: Some(&c.addr),
            result: ConnectResult(error),
        })?;
        if error.is_some() {
            return self.close(lp, slot);
        }
        c.connected = true;
        // The client has often spoken (and half-closed) by now: one poll of it lets
        // its bytes go on in this pass, not after another wait, and its RDHUP lets
        // the end of file follow them at once (pump.rs, `drained`).
        match crate::probe::now(c.client.as_fd(), CLIENT_NOW) {
            Ok(now) if !now.is_empty() => self.side_ready(lp, slot, Side::Client, now),
            _ => self.pump(lp, slot, None),
        }
    }

    /// A side of a connected pair is ready (`cond`): its urgent byte taken first if it
    /// has one, then whatever can move, then its hang-up dealt with.
    fn side_ready(
        &mut self,
        lp: &mut EventLoop<'_>,
        slot: usize,
        side: Side,
        cond: Conditions,
    ) -> Result<()> {
        let Some(c) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return Ok(());
        };
        if cond.contains(Conditions::URGENT) {
            let (src, _, dir) = c.route(side);
            dir.take_early(src);
        }
        let id = c.id;
        self.pump(lp, slot, Some((side, cond)))?;
        if cond.intersects(Conditions::ERROR | Conditions::HANGUP) {
            self.hung_up(lp, slot, id, side, cond)?;
        }
        Ok(())
    }

    /// Moves what can move on connection `slot`: reads the side that is ready (if it
    /// is), forwarding as it goes, then writes whatever waits in either direction.
    pub(super) fn pump(
        &mut self,
        lp: &mut EventLoop<'_>,
        slot: usize,
        ready: Option<(Side, Conditions)>,
    ) -> Result<()> {
        let readable = Conditions::READ
            | Conditions::URGENT
            | Conditions::HANGUP
            | Conditions::RDHUP
            | Conditions::ERROR;
        if let Some((side, cond)) = ready
            && cond.intersects(readable)
        {
            // A reset reads as RDHUP too, with ERR: it is taken as a reset, not an end.
            if cond.contains(Conditions::RDHUP)
                && !cond.intersects(Conditions::URGENT | Conditions::ERROR)
                && let Some(c) = self.conns[slot].as_mut()
            {
                c.route(side).2.fin_queued();
            }
            if let Some(end) = self.forward(lp, slot, side)? {
                return self.end(lp, slot, end);
            }
        }
        for side in [Side::Client, Side::Target] {
            let blocked = self.conns[slot]
                .as_ref()
                .is_some_and(|c| c.dir(side).has_output());
            if let Some(end) = self.flush_from(lp, slot, side)? {
                return self.end(lp, slot, end);
            }
            // The receiver took what was waiting: the source (held back until now) most
            // likely has more, so read it now rather than after another wait.
            let drained = self.conns[slot]
                .as_ref()
                .is_some_and(|c| !c.dir(side).has_output() && c.dir(side).wants_read());
            if blocked
                && drained
                && let Some(end) = self.forward(lp, slot, side)?
            {
                return self.end(lp, slot, end);
            }
        }
        let Some(c) = self.conns[slot].as_ref() else {
            return Ok(());
        };
        if c.c2t.done() && c.t2c.done() {
            return self.close(lp, slot);
        }
        self.update(lp, slot)
    }

    /// Reads from `side` and writes on to the other side, reporting data and urgent
    /// bytes in stream order; stops when the source has nothing more, or when the
    /// receiver cannot take more (backpressure: the buffer stays full and the source is
    /// not read until it drains). A short message that was all the source had is
    /// written once the next read says what follows: bytes followed by the end of file
    /// then go out with it, back to back (a receiver woken by the bytes would often
    /// sleep again before the FIN, and waking an idle CPU is slow).
    pub(super) fn forward(
        &mut self,
        lp: &mut EventLoop<'_>,
        slot: usize,
        side: Side,
    ) -> Result<Option<Ending>> {
        let mode = self.cfg.read;
        // Set while a message waits for the next read (once: a source that keeps
        // sending small pieces has them written every other read).
        let mut held = false;
        for _ in 0..MAX_READS {
            let Some(c) = self.conns[slot].as_mut() else {
                return Ok(None);
            };
            let id = c.id;
            let (src, _, dir) = c.route(side);
            let step = dir.read_step(src, &mut self.pools);
            match step {
                PumpStep::Read(range) => {
                    lp.activity();
                    if mode != ReadMode::Count {
                        report_read(lp, (id, side), dir, range, mode)?;
                    }
                    if !held && dir.read_a_message() && dir.wants_read() {
                        held = true;
                        continue;
                    }
                }
                PumpStep::Urgent {
                    byte,
                    offset,
                    replaced,
                } => {
                    lp.activity();
                    self.urgent_placed(lp, slot, side, (byte, offset, replaced))?;
                }
                // Spliced: never shown; counted in the direction's tally.
                PumpStep::Moved(_) => lp.activity(),
                PumpStep::Again | PumpStep::Probe => continue,
                PumpStep::Wait => {
                    let end = self.flush_from(lp, slot, side)?;
                    if let Some(c) = self.conns[slot].as_mut() {
                        c.route(side).2.idle(&mut self.pools);
                    }
                    return Ok(end);
                }
                PumpStep::Eof => {
                    self.flush_count(lp, slot, side)?;
                    // What is left goes out, then the end of file (SHUT_WR).
                    return self.flush_from(lp, slot, side);
                }
                // What was read before goes out first, in every case below.
                PumpStep::Reset => {
                    let end = self.flush_from(lp, slot, side)?;
                    return Ok(end.or(Some(Ending::Reset(side))));
                }
                // Out of kernel memory for now: this direction rests (ends.rs).
                PumpStep::Failed(call, e) if exhaust::is_exhaustion(e) => {
                    let end = self.flush_from(lp, slot, side)?;
                    if end.is_none() {
                        self.back_off(slot, side, call, e);
                    }
                    return Ok(end);
                }
                PumpStep::Failed(call, e) => {
                    let end = self.flush_from(lp, slot, side)?;
                    return Ok(end.or(Some(Ending::of(side, call, e))));
                }
            }
            held = false;
            if let Some(end) = self.flush_from(lp, slot, side)? {
                return Ok(Some(end));
            }
            if self.holds_output(slot, side) {
                return Ok(None);
            }
        }
        self.flush_from(lp, slot, side)
    }

    /// Whether the direction fed by `side` still has bytes the receiver has not taken
    /// (its source is then not read until they go).
    fn holds_output(&self, slot: usize, side: Side) -> bool {
        self.conns[slot]
            .as_ref()
            .is_some_and(|c| c.dir(side).has_output())
    }

    /// Writes the direction fed by `from` to the other side; passes its end of file on.
    pub(super) fn flush_from(
        &mut self,
        lp: &mut EventLoop<'_>,
        slot: usize,
        from: Side,
    ) -> Result<Option<Ending>> {
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(None);
        };
        let (id, to) = (c.id, from.other());
        let (_, dst, dir) = c.route(from);
        match dir.flush(dst) {
            Flush::Done => {
                if dir.pass_eof(dst) {
                    let moved = c.c2t.bytes + c.t2c.bytes;
                    c.half_closed.get_or_insert((Instant::now(), moved));
                    lp.rep.emit(RelayHalfClose {
                        flow: Flow { conn: id, from },
                    })?;
                }
                Ok(None)
            }
            Flush::Blocked => Ok(None),
            Flush::Gone(call, e) if exhaust::is_exhaustion(e) => {
                self.back_off(slot, from, call, e);
                Ok(None)
            }
            Flush::Gone(call, e) => Ok(Some(Ending::of(to, call, e))),
        }
    }
}

/// Why a connection stops early.
#[derive(Clone, Copy, Debug)]
pub(super) enum Ending {
    /// That side reset (or vanished under a write).
    Reset(Side),
    /// A call on that side failed.
    Failed(Side, &'static str, Errno),
}

impl Ending {
    /// `call` failed on `side` with `e`: a reset when the peer reset or is gone
    /// (ECONNRESET; EPIPE, a write after it; ENOTCONN, recv(MSG_OOB) on a socket the
    /// kernel closed at the reset), else that failure.
    pub(super) fn of(side: Side, call: &'static str, e: Errno) -> Ending {
        match e {
            Errno::ECONNRESET | Errno::EPIPE | Errno::ENOTCONN => Ending::Reset(side),
            e => Ending::Failed(side, call, e),
        }
    }
}

/// Bytes just read into `dir`'s buffer (`range`), reported as data; the count
/// cadence (`--read=count`) starts again after them.
fn report_read(
    lp: &mut EventLoop<'_>,
    (conn, from): (u64, Side),
    dir: &mut Dir,
    range: std::ops::Range<usize>,
    mode: ReadMode,
) -> Result<()> {
    dir.tally = Default::default();
    let total = dir.bytes;
    let bytes = dir.bytes_in(range);
    let n = bytes.len() as u64;
    let shown = mode.show(total - n, bytes);
    lp.rep.emit(RelayData {
        flow: Flow { conn, from },
        bytes: n,
        total,
        shown,
    })
}
