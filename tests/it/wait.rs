//! The wait loop: EINTR retried with the time left, timeouts rounded up, and a
//! write-side FIFO with no reader reported and retried until a reader comes.

use std::os::fd::AsFd;

use crate::common::*;
use nix::fcntl::OFlag;

#[test]
fn eintr_is_retried_with_the_time_left() {
    // With no handler installed, a stop and continue makes epoll_wait fail with EINTR
    // (docs/kernel.md, "Signals and the wait"); fdwatch must wait again for what is left,
    // not fail or restart.
    let (r, _w) = pipe();
    let child = Fdwatch::new(["-v", "--format", "json", "1", "3r"])
        .fd(r.as_fd(), 3)
        .spawn();
    let pid = child.id();
    wait_blocked(pid);
    stop(pid, "EINTR");
    resume(pid);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(code(&out), 1, "nothing was ready: {}", stderr(&out));
    let evs = events(&out.stdout);
    let waits = of_kind(&evs, "wait");
    assert!(
        waits.iter().any(|w| w["errno"] == "EINTR"),
        "epoll_wait should have seen EINTR: {waits:?}"
    );
    assert!(
        waits.len() >= 2,
        "the wait must be retried after EINTR: {waits:?}"
    );
    let last = waits.last().expect("a wait");
    assert!(
        last["timeout"].as_f64().expect("finite") < 1.0,
        "retry uses the time left"
    );
    let summary = of_kind(&evs, "summary")[0];
    let elapsed = summary["elapsed"].as_f64().expect("elapsed");
    assert!(elapsed >= 1.0, "timeout shortened: {elapsed}");
    assert!(elapsed < 5.0, "timeout extended far past 1 s: {elapsed}");
}

#[test]
fn timeouts_round_up_so_one_wait_suffices() {
    // 1.5 ms: poll and epoll take milliseconds. Rounded down (1 ms) the first wait
    // would end early and a second one would be needed.
    for b in BACKENDS {
        let (r, _w) = pipe();
        let out = Fdwatch::new(["-b", b, "--format", "json", "0.0015", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        assert_eq!(code(&out), 1, "{b}: {}", stderr(&out));
        let evs = events(&out.stdout);
        let s = of_kind(&evs, "summary")[0];
        assert_eq!(s["waits"], 1, "{b}: timeout rounded down: {s}");
        assert!(
            s["elapsed"].as_f64().expect("elapsed") >= 0.0015,
            "{b}: {s}"
        );
    }
}

#[test]
fn write_side_fifo_without_reader_is_reported_then_seen_when_a_reader_comes() {
    let dir = TempDir::new();
    let fifo = dir.fifo("f");
    let spec = format!("{}:w", fifo.display());
    for b in BACKENDS {
        let mut child = Fdwatch::new(["-b", b, "--format", "json", "-", spec.as_str()]).spawn();
        let mut stream = EventStream::new(&mut child, b);
        // Synchronize on the first event: the open failed with ENXIO and was reported.
        let ev = stream.next().expect("an event");
        assert_eq!(ev["event"], "error", "{b}: {ev}");
        assert_eq!(ev["errno"], "ENXIO", "{b}: {ev}");
        assert!(
            ev["what"].as_str().expect("what").contains("no reader"),
            "{b}: {ev}"
        );
        // Now a reader appears; the retried open succeeds and the FIFO is writable.
        let _reader = open(&fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK);
        let evs = stream.rest();
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(0), "{b}: {evs:?}");
        let ready = of_kind(&evs, "ready");
        assert_eq!(ready.len(), 1, "{b}: {evs:?}");
        assert_eq!(ready[0]["kind"], "fifo", "{b}");
        assert_eq!(ready[0]["ready"], serde_json::json!(["write"]), "{b}");
    }
}

#[test]
fn write_side_fifo_without_reader_times_out_with_status_1() {
    let dir = TempDir::new();
    let fifo = dir.fifo("f");
    let spec = format!("{}:w", fifo.display());
    let out = Fdwatch::new(["--format", "json", "0", spec.as_str()]).run();
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let evs = events(&out.stdout);
    assert_eq!(of_kind(&evs, "error")[0]["errno"], "ENXIO");
    assert_eq!(of_kind(&evs, "timeout").len(), 1);
}
