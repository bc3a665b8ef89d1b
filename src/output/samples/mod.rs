//! Samples of every event kind, each optional field present in one of them, and the
//! other ways their lines go, for the tests of the printers (the golden lines below)
//! and of the schema table (output/schema/tests.rs).

mod relay;
mod watch;

use std::time::Duration;

use crate::bench::{BenchRow, Measure};
use crate::event::*;
use crate::output::json::line;
use crate::readiness::Raw;

pub(super) fn raw() -> Raw {
    fn show(bits: u32, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RAW{bits}")
    }
    Raw::new(1, show)
}

pub(super) const AT: Subject<'static> = Subject {
    fd: 3,
    what: "pipe:[1]",
};

pub(super) const NO_FD: Subject<'static, Option<i32>> = Subject {
    fd: None,
    what: "tcp 127.0.0.1:1",
};

/// Every sample event, kind by kind, then the other ways their lines go.
pub fn events() -> Vec<Event<'static>> {
    [
        watch::fd_samples(),
        watch::socket_samples(),
        watch::run_samples(),
        watch::end_samples(),
        relay::relay_samples(),
        relay::relay_end_samples(),
        watch::watch_variants(),
        watch::run_variants(),
        relay::relay_variants(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The written lines of the bench's and the pipeline's kinds.
pub fn other_lines() -> Vec<Vec<u8>> {
    let t = Duration::ZERO;
    let row = |outcome| BenchRow {
        backend: "test",
        mode: "same",
        fds: 10,
        active: 1,
        outcome,
        by: "fdwatch",
    };
    let measured = Measure::Measured {
        rounds: 10,
        repeats: 3,
        timeout_ms: -1,
        pick: "rotate",
        cpu: -1,
        ns_per_event: 1.5,
        ns_min: 1.0,
        ns_max: 2.0,
        events_per_s: 666_666_667.0,
    };
    let snapshot = crate::pipeline::Snapshot {
        processes: Vec::new(),
        links: Vec::new(),
        verdict: crate::pipeline::Verdict {
            state: "idle",
            sentence: "nothing moves".into(),
            pids: Vec::new(),
        },
        note: None,
    };
    let mut lines = vec![Vec::new(), Vec::new(), Vec::new()];
    line(&mut lines[0], t, &row(Measure::Refused { refused: "why" })).expect("vec");
    line(&mut lines[1], t, &row(measured)).expect("vec");
    let pipeline = crate::pipeline::SnapshotLine::of(&snapshot, Some(&(1, None)));
    line(&mut lines[2], t, &pipeline).expect("vec");
    lines
}

/// Every sample as each printer writes it: JSON, then text (plain, coloured, folded to
/// 40 columns). `golden.txt` was written by v1's printers (before the events were
/// typed payloads) from the same samples, so the lines are the same byte for byte.
/// After an intended change, `FDWATCH_RECORD_SAMPLES=1 cargo test --lib samples`
/// writes it anew: review the diff.
#[test]
fn printed_lines_are_the_recorded_ones() {
    use crate::output::{Json, Printer, Text, TimeStyle};
    let mut out = Vec::new();
    let t = Duration::from_micros(1_234_567);
    for ev in events() {
        Json::new(&mut out).event(t, &ev).expect("vec");
        for (color, columns) in [
            (false, (80, false)),
            (true, (80, false)),
            (false, (40, true)),
        ] {
            let mut text = Text::new(&mut out, TimeStyle::Elapsed, color, columns);
            text.event(t, &ev).expect("vec");
            text.flush().expect("vec");
        }
    }
    let golden = concat!(env!("CARGO_MANIFEST_DIR"), "/src/output/samples/golden.txt");
    if std::env::var_os("FDWATCH_RECORD_SAMPLES").is_some() {
        std::fs::write(golden, &out).expect("write golden.txt");
        return;
    }
    let recorded = std::fs::read(golden).expect("golden.txt");
    let (new, old) = (
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&recorded),
    );
    for (i, (n, o)) in new.lines().zip(old.lines()).enumerate() {
        assert_eq!(n, o, "line {} of golden.txt", i + 1);
    }
    assert_eq!(out, recorded, "golden.txt: the lines differ in number");
}
