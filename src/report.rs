//! The reporter: every event goes through it to be stamped, counted (`--count`) and printed.

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

    /// Prints one event. Diagnostics (`wait`, `note`) need `-v`; once `--count` events
    /// were printed, only the summary still is.
    pub fn emit(&mut self, ev: &Event<'_>) -> Result<()> {
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
        self.out
            .event(self.start.elapsed(), ev)
            .map_err(Error::Output)
    }

    pub fn limit_reached(&self) -> bool {
        self.limit.is_some_and(|n| self.events >= n)
    }

    pub fn verbose(&self) -> bool {
        self.verbose
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(Error::Output)
    }
}
