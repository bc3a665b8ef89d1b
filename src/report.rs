//! The reporter: every event goes through it to be stamped, counted (`--count`) and printed.

use std::io;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::event::{Event, Until};
use crate::output::Printer;

pub struct Reporter<'w> {
    out: Box<dyn Printer + 'w>,
    pub start: Instant,
    /// Events that `--count` counts, so far.
    pub events: u64,
    limit: Option<u64>,
    verbose: bool,
    /// `--until`: the conditions that end the run, and the one that did.
    until: Vec<Until>,
    hit: Option<Until>,
    /// A reader of the output that leaves (EPIPE) silences the run instead of ending it.
    outlive: bool,
    /// It left: nothing is printed any more.
    gone: bool,
}

impl<'w> Reporter<'w> {
    pub fn new(
        out: Box<dyn Printer + 'w>,
        start: Instant,
        limit: Option<u64>,
        verbose: bool,
    ) -> Self {
        Reporter {
            out,
            start,
            events: 0,
            limit,
            verbose,
            until: Vec::new(),
            hit: None,
            outlive: false,
            gone: false,
        }
    }

    /// The run goes on silently when the output's reader leaves (the relay serves the
    /// connections it has); `reader_gone` then says so. Without it, that ends the run.
    pub fn outlive_reader(mut self) -> Self {
        self.outlive = true;
        self
    }

    /// The output's reader left (`outlive_reader`): events are no longer printed.
    pub fn reader_gone(&self) -> bool {
        self.gone
    }

    /// A printer's result: a reader that left is the end of printing if the run
    /// outlives it, any other failure the caller's.
    fn printed(&mut self, r: io::Result<()>) -> Result<()> {
        match r {
            Err(e) if self.outlive && e.kind() == io::ErrorKind::BrokenPipe => {
                self.gone = true;
                Ok(())
            }
            r => r.map_err(Error::Output),
        }
    }

    /// `--until`: the first event matching one of `conds` ends the run (later ones
    /// are printed no more, as past `--count`).
    pub fn until(mut self, conds: &[Until]) -> Self {
        self.until = conds.to_vec();
        self
    }

    /// The `--until` condition that came, if one did.
    pub fn hit(&self) -> Option<Until> {
        self.hit
    }

    /// Prints one event (any kind's payload). Diagnostics (`wait`, `note`) need `-v`;
    /// once `--count` events were printed, only the summary still is.
    pub fn emit<'e>(&mut self, ev: impl Into<Event<'e>>) -> Result<()> {
        self.report(&ev.into())
    }

    fn report(&mut self, ev: &Event<'_>) -> Result<()> {
        if ev.diagnostic() && !self.verbose && !self.out.wants_diagnostics() {
            return Ok(());
        }
        if ev.counts() {
            // An urgent byte taken from the kernel exists nowhere else: it is printed
            // even past --count.
            if self.limit_reached() && !ev.owed() {
                return Ok(());
            }
            self.events += 1;
            if self.hit.is_none()
                && let Some(&u) = self.until.iter().find(|u| u.matches(ev))
            {
                self.hit = Some(u);
                self.limit = Some(self.events);
            }
        }
        if self.gone {
            return Ok(());
        }
        let r = self.out.event(self.start.elapsed(), ev);
        self.printed(r)
    }

    pub fn limit_reached(&self) -> bool {
        self.limit.is_some_and(|n| self.events >= n)
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    pub fn flush(&mut self) -> Result<()> {
        if self.gone {
            return Ok(());
        }
        let r = self.out.flush();
        self.printed(r)
    }
}
