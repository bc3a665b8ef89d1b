//! fdwatch's `--format json` output: JSON Lines parsed, picked by kind, and read as
//! they come from a running child.

use std::borrow::Borrow;
use std::io::{BufRead, BufReader, Lines, Read};
use std::process::Child;

use serde_json::{Value, json};

/// Parses JSON Lines; every line must be one JSON object.
pub fn events(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}"))
        })
        .collect()
}

/// The events named `name`.
pub fn of_kind<'a>(evs: &'a [Value], name: &str) -> Vec<&'a Value> {
    evs.iter().filter(|e| e["event"] == name).collect()
}

/// The `ready` words of the ready event for `fd`, or None when that fd was not reported.
pub fn ready_words(evs: &[Value], fd: i64) -> Option<Vec<String>> {
    let hits: Vec<_> = evs
        .iter()
        .filter(|e| e["event"] == "ready" && e["fd"] == fd)
        .collect();
    assert!(
        hits.len() <= 1,
        "fd {fd} reported {} times: {evs:?}",
        hits.len()
    );
    hits.first().map(|e| words(e))
}

/// The `ready` words of one ready event.
pub fn words(ev: &Value) -> Vec<String> {
    ev["ready"]
        .as_array()
        .unwrap_or_else(|| panic!("no ready words: {ev}"))
        .iter()
        .map(|w| w.as_str().expect("a ready word is a string").to_owned())
        .collect()
}

/// The kind (`event` field) of each event, in order.
pub fn kinds<V: Borrow<Value>>(evs: &[V]) -> Vec<String> {
    evs.iter()
        .map(|e| e.borrow()["event"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// The concatenated `text` of the data events for `fd`.
pub fn data_text(evs: &[Value], fd: &Value) -> String {
    evs.iter()
        .filter(|e| e["event"] == "data" && &e["fd"] == fd)
        .map(|e| e["text"].as_str().unwrap_or("<no text>"))
        .collect()
}

/// The lines of `text` that are not JSON objects: fdwatch's own messages.
pub fn message_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| serde_json::from_str::<Value>(l).is_err())
        .map(str::to_owned)
        .collect()
}

/// Matches the events named `name`.
pub fn is(name: &'static str) -> impl Fn(&Value) -> bool {
    move |e| e["event"] == name
}

/// The one summary event; fails naming the case unless there is exactly one.
pub fn summary(case: &str, evs: &[Value]) -> Value {
    let s = of_kind(evs, "summary");
    assert_eq!(s.len(), 1, "{case}: one summary expected: {evs:?}");
    s[0].clone()
}

/// `summary`, also failing unless the summary is the last event.
pub fn last_summary(case: &str, evs: &[Value]) -> Value {
    let s = summary(case, evs);
    assert_eq!(
        evs.last().map(|e| &e["event"]),
        Some(&json!("summary")),
        "{case}: the summary comes last: {evs:?}"
    );
    s
}

/// A numeric field of an event; fails naming the case when it is not a number.
pub fn num(case: &str, v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{case}: field {field:?} is not a number: {v}"))
}

/// More events than any correct streamed run here prints.
pub(super) const MAX_LINES: usize = 100_000;

/// A child's JSON Lines, read one at a time as they come, to synchronize with it.
/// Dropping it closes the pipe, which ends the child (a closed stdout ends fdwatch).
pub struct EventStream {
    label: String,
    lines: Lines<BufReader<Box<dyn Read + Send>>>,
    /// Every event read so far (none when not kept).
    seen: Vec<Value>,
    /// Whether events are kept: a long run's hundreds of thousands are only counted.
    keep: bool,
    count: usize,
}

impl EventStream {
    /// Takes the child's piped stdout.
    pub fn new(child: &mut Child, label: &str) -> EventStream {
        EventStream::from_reader(child.stdout.take().expect("piped stdout"), label)
    }

    /// Events from another stream (stderr, where `--tee` sends them).
    pub fn from_reader(r: impl Read + Send + 'static, label: &str) -> EventStream {
        let r: Box<dyn Read + Send> = Box::new(r);
        EventStream {
            label: label.to_owned(),
            lines: BufReader::with_capacity(1 << 16, r).lines(),
            seen: Vec::new(),
            keep: true,
            count: 0,
        }
    }

    /// The child's stdout, its events counted and not kept (no bound on their number).
    pub fn unkept(child: &mut Child, label: &str) -> EventStream {
        EventStream {
            keep: false,
            ..EventStream::new(child, label)
        }
    }

    /// How many events were read.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The next event; None when the child closed its stdout (it ended). Fails on
    /// endless output (more than MAX_LINES events).
    pub fn next(&mut self) -> Option<Value> {
        let line = self
            .lines
            .next()?
            .unwrap_or_else(|e| panic!("{}: reading fdwatch's stdout: {e}", self.label));
        assert!(
            !self.keep || self.seen.len() < MAX_LINES,
            "{}: endless output (a loop?): {:?}",
            self.label,
            &self.seen[..20]
        );
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{}: not JSON: {line:?}: {e}", self.label));
        self.count += 1;
        if self.keep {
            self.seen.push(v.clone());
        }
        Some(v)
    }

    /// Reads events up to and including the first one `hit` accepts; returns them all.
    pub fn until(&mut self, step: &str, hit: impl Fn(&Value) -> bool) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            let Some(v) = self.next() else {
                panic!(
                    "{}: {step}: fdwatch's output ended first; this step: {got:?}; last events: {:?}",
                    self.label,
                    &self.seen[self.seen.len().saturating_sub(12)..]
                );
            };
            let done = hit(&v);
            got.push(v);
            if done {
                return got;
            }
        }
    }

    /// Reads on to the next event named `name` and returns it.
    pub fn next_named(&mut self, name: &'static str) -> Value {
        let mut got = self.until(&format!("waiting for a {name:?} event"), is(name));
        got.pop().expect("the event")
    }

    /// Everything from here to the end of the output (the child exits).
    pub fn rest(&mut self) -> Vec<Value> {
        std::iter::from_fn(|| self.next()).collect()
    }

    /// Every event read so far.
    pub fn seen(&self) -> &[Value] {
        &self.seen
    }

    /// Every event, reading to the end of the output.
    pub fn all(mut self) -> Vec<Value> {
        self.rest();
        self.seen
    }
}
