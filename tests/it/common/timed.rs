//! A child's JSON Lines read by a thread as they come, so that a step waits for an
//! event with a deadline (a missing event fails then, naming the step, instead of
//! hanging the test) while the test also watches its own sockets; each event is
//! stamped with the instant it was read.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::events::MAX_LINES;

/// What came by a deadline.
pub enum Next {
    /// An event, and the instant it was read.
    Event(Value, Instant),
    /// Nothing yet.
    Late,
    /// The output ended (the child closed it).
    End,
}

pub struct TimedEvents {
    case: String,
    /// Each line as read: an event and when, or a line that is not JSON.
    rx: Receiver<Result<(Value, Instant), String>>,
    /// Every event taken so far.
    seen: Vec<Value>,
    reader: Option<JoinHandle<()>>,
}

impl TimedEvents {
    /// Starts reading `from` (a child's stdout, or its stderr where `--tee` sends the
    /// events).
    pub fn new(case: &str, from: impl Read + Send + 'static) -> TimedEvents {
        let (tx, rx) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(from).lines() {
                let Ok(line) = line else { return };
                let at = Instant::now();
                let v = serde_json::from_str::<Value>(&line).map_err(|_| line);
                if tx.send(v.map(|v| (v, at))).is_err() {
                    return;
                }
            }
        });
        TimedEvents {
            case: case.to_owned(),
            rx,
            seen: Vec::new(),
            reader: Some(reader),
        }
    }

    /// Every event taken so far.
    pub fn seen(&self) -> &[Value] {
        &self.seen
    }

    /// How many of the events taken so far are named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.seen.iter().filter(|e| e["event"] == name).count()
    }

    fn take(&mut self, got: Result<(Value, Instant), String>) -> (Value, Instant) {
        let (v, at) = got.unwrap_or_else(|line| panic!("{}: not JSON: {line:?}", self.case));
        assert!(
            self.seen.len() < MAX_LINES,
            "{}: endless output (a loop?)",
            self.case
        );
        self.seen.push(v.clone());
        (v, at)
    }

    /// The next event, waiting at most until `deadline`.
    pub fn next_by(&mut self, deadline: Instant) -> Next {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(got) => {
                let (v, at) = self.take(got);
                Next::Event(v, at)
            }
            Err(RecvTimeoutError::Timeout) => Next::Late,
            Err(RecvTimeoutError::Disconnected) => Next::End,
        }
    }

    /// Reads on to the first event `hit` accepts, within `limit`; returns it and the
    /// instant it was read. Fails, saying `step`, when the output ends or time runs out.
    pub fn until_at(
        &mut self,
        step: &str,
        limit: Duration,
        hit: impl Fn(&Value) -> bool,
    ) -> (Value, Instant) {
        let deadline = Instant::now() + limit;
        loop {
            match self.next_by(deadline) {
                Next::Event(v, at) if hit(&v) => return (v, at),
                Next::Event(..) => {}
                Next::Late => panic!(
                    "{}: {step}: not within {limit:?}; events so far: {:?}",
                    self.case, self.seen
                ),
                Next::End => panic!(
                    "{}: {step}: fdwatch's output ended first; events: {:?}",
                    self.case, self.seen
                ),
            }
        }
    }

    /// `until_at`, the event alone.
    pub fn until(&mut self, step: &str, limit: Duration, hit: impl Fn(&Value) -> bool) -> Value {
        self.until_at(step, limit, hit).0
    }

    /// Reads on, within `limit`, until `done(every event so far)`.
    pub fn wait_for(&mut self, step: &str, limit: Duration, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + limit;
        while !done(&self.seen) {
            if let Next::Late | Next::End = self.next_by(deadline) {
                panic!(
                    "{}: {step}: not within {limit:?} (or the output ended); events: {:?}",
                    self.case, self.seen
                );
            }
        }
    }

    /// Takes what has arrived so far, without waiting.
    pub fn drain(&mut self) {
        while let Ok(got) = self.rx.try_recv() {
            self.take(got);
        }
    }

    /// Everything up to the end of the output, which must come within `limit`.
    pub fn rest(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            match self.next_by(deadline) {
                Next::Event(..) => {}
                Next::End => return,
                Next::Late => panic!("{}: output never ended: {:?}", self.case, self.seen),
            }
        }
    }

    /// Every event, to the end of the output (the child's watchdog ends a run that
    /// hangs).
    pub fn all(mut self) -> Vec<Value> {
        while let Ok(got) = self.rx.recv() {
            self.take(got);
        }
        if let Some(r) = self.reader.take() {
            r.join().expect("the events' reader");
        }
        std::mem::take(&mut self.seen)
    }
}
