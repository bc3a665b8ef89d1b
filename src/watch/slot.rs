//! Watch mode's per-fd state: one `Slot` per watched fd (the fd, how the main wait
//! holds it, what was last reported, its consumed bytes, its urgent byte, its
//! exhaustion episode), in a table whose slots serve new fds once theirs left, so a
//! monitor serving 10,000 connections keeps one slot per live one, not per one ever
//! accepted. The backends carry a slot's `Token` as their token.

use std::ops::{Index, IndexMut};
use std::time::{Duration, Instant};

use crate::backend::Registered;
use crate::exhaust::Episode;
use crate::open::{FdTable, Watched};
use crate::reader::{Source, Tally};
use crate::readiness::{Conditions, Raw};
use crate::urgent::Urgent;

/// A slot's index: the token its fd is registered under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Token(pub usize);

/// One watched fd and everything watch mode keeps about it.
#[derive(Debug)]
pub(super) struct Slot {
    pub watched: Watched,
    /// How the main backend holds it; None once it left the set.
    pub reg: Option<Registered>,
    pub last: Reported,
    pub intake: Intake,
    pub urgent: Urgent,
    /// Its accept (or reopen) ran out of a resource: out of every wait until retried.
    pub exhausted: Option<Episode>,
    /// What that retry is.
    pub retry: Retry,
}

impl Slot {
    fn new(watched: Watched) -> Slot {
        Slot {
            watched,
            reg: None,
            last: Reported::default(),
            intake: Intake::default(),
            urgent: Urgent::default(),
            exhausted: None,
            retry: Retry::default(),
        }
    }

    /// Registered afresh: `reg`, and nothing else remembered.
    pub fn registered(&mut self, reg: Registered) {
        self.reg = Some(reg);
        self.last = Reported::default();
        self.intake = Intake::default();
        self.urgent = Urgent::default();
        self.exhausted = None;
        self.retry = Retry::default();
    }
}

/// What was last reported for an fd.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Reported {
    pub cond: Conditions,
    /// FIONREAD then.
    pub queued: Option<i32>,
    pub raw: Option<Raw>,
    /// Reported ready at least once (the summary's count).
    pub ever: bool,
}

impl Reported {
    /// Takes in one readiness; true when it is news to report: other conditions, or
    /// (when nothing is consumed) more bytes queued than last time.
    pub fn update(
        &mut self,
        cond: Conditions,
        raw: Raw,
        queued: Option<i32>,
        count_queue: bool,
    ) -> bool {
        self.raw = Some(raw);
        let more_data = count_queue
            && cond.contains(Conditions::READ)
            && queued.is_some()
            && queued != self.queued;
        if cond == self.cond && !more_data {
            return false;
        }
        self.cond = cond;
        self.queued = queued;
        self.ever = true;
        true
    }
}

/// One fd's consumed bytes (--read, --tee).
#[derive(Debug, Default)]
pub(super) struct Intake {
    /// Where --read takes bytes from (a private reopen for inherited fds).
    pub source: Option<Source>,
    pub total: u64,
    /// --read=count: bytes consumed but not yet in a data event.
    pub tally: Tally,
    pub first_data: Option<Instant>,
}

impl Intake {
    pub fn tally_due_in(&self, interval: Duration) -> Option<Duration> {
        self.tally.due_in(interval)
    }
}

/// What an fd in an exhaustion episode tries again when its back-off ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Retry {
    /// A listener: accept.
    #[default]
    Accept,
    /// A FIFO whose writers left: reopen it (or take it back as it is, if a writer
    /// came meanwhile).
    Reopen,
    /// Back into the wait: its next readiness makes the call again.
    Rearm,
}

/// The slots, by token.
#[derive(Debug, Default)]
pub(super) struct Slots {
    all: Vec<Slot>,
    /// Slots of fds no longer watched, reused by the next fd.
    free: Vec<Token>,
    /// Order of arrival, for `Watched::seq` (the token does not tell).
    next_seq: u64,
}

impl Slots {
    /// Room for `n` fds (a spec's fds, most often one each).
    pub fn with_room(n: usize) -> Slots {
        Slots {
            all: Vec::with_capacity(n),
            ..Slots::default()
        }
    }

    /// Adds `w` in a free slot or at the end, with nothing remembered yet.
    pub fn insert(&mut self, mut w: Watched) -> Token {
        w.seq = self.next_seq;
        self.next_seq += 1;
        match self.free.pop() {
            Some(t) => {
                self.all[t.0] = Slot::new(w);
                t
            }
            None => {
                self.all.push(Slot::new(w));
                Token(self.all.len() - 1)
            }
        }
    }

    /// Slot `t`'s fd is no longer watched (the caller took it out of every backend):
    /// it closes if fdwatch owns it, and the slot serves the next fd. What the slot
    /// remembers stays until then (the end of the run still reads it).
    pub fn release(&mut self, t: Token) {
        let w = &mut self.all[t.0].watched;
        if w.borrow().is_some() {
            w.close();
            self.free.push(t);
        }
    }

    /// How many fds are watched now.
    pub fn live(&self) -> usize {
        self.all.len() - self.free.len()
    }

    /// Every slot's token, live or free, in order.
    pub fn tokens(&self) -> impl Iterator<Item = Token> + use<> {
        (0..self.all.len()).map(Token)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.all.iter()
    }
}

impl Index<Token> for Slots {
    type Output = Slot;
    fn index(&self, t: Token) -> &Slot {
        &self.all[t.0]
    }
}

impl IndexMut<Token> for Slots {
    fn index_mut(&mut self, t: Token) -> &mut Slot {
        &mut self.all[t.0]
    }
}

/// The specs are opened straight into the table.
impl FdTable for Slots {
    fn add(&mut self, w: Watched) -> usize {
        self.insert(w).0
    }

    fn at(&mut self, index: usize) -> &mut Watched {
        &mut self.all[index].watched
    }
}
