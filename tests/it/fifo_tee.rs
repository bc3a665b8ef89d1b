//! Monitor mode on FIFOs and pipelines: writer churn on a reopened FIFO (same fd number,
//! nothing lost), a write-side FIFO whose readers come and go, `--once`, bytes left
//! queued across reopens, `--tee` passing 1 GiB through unchanged, a closed stdout
//! while teeing, and the `--read=hex` layout.
//!
//! Synchronization is always on fdwatch's own JSON lines, `wait_blocked` or process
//! exit, never on sleeps. Every child ends by itself (an idle timeout, or end of input);
//! a watchdog kills one that outlives a generous limit, so a bug fails instead of hanging.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::process::{ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::common::*;
use nix::fcntl::OFlag;
use serde_json::{Value, json};

const MIB: usize = 1 << 20;

// 1. -----------------------------------------------------------------------------

const CYCLES: usize = 200;

fn writer_churn(b: &str) {
    let label = format!("{b} writer_churn");
    let dir = TempDir::new();
    let fifo = dir.fifo("churn");
    let path = fifo.to_str().expect("utf-8 path");
    // The idle timeout (2 s) ends the run after the last cycle; every cycle is synced.
    let args = ["-b", b, "-m", "--read=text", "--format", "json", "2", path];
    let mut child = Fdwatch::new(args).spawn();
    let _dog = Watchdog::new(&child, Duration::from_secs(120), &label);
    wait_blocked(child.id());
    let mut evs = EventStream::new(&mut child, &label);

    let mut total = 0u64;
    let mut fd = None;
    for n in 0..CYCLES {
        let line = format!("line {n}\n");
        let w = fifo_writer(&fifo, &format!("{label} cycle {n}"));
        write(&w, line.as_bytes());
        drop(w);
        total += line.len() as u64;
        let step = format!("cycle {n}");
        let got = evs.until(&step, is("hangup"));
        let fd: &Value = fd.get_or_insert_with(|| {
            let first = got.iter().find(|e| e["event"] == "ready");
            first.unwrap_or_else(|| panic!("{label}: {step}: no ready event first: {got:?}"))["fd"]
                .clone()
        });
        // This writer's bytes, then its end of file, then the reopen, all on one fd number.
        let text: String = of_kind(&got, "data")
            .iter()
            .map(|d| d["text"].as_str().expect("text"))
            .collect();
        assert_eq!(text, format!("line {n}\n"), "{label}: {step}: {got:?}");
        for e in &got {
            assert_eq!(&e["fd"], fd, "{label}: {step}: fd number changed: {e}");
            assert_ne!(e["event"], "error", "{label}: {step}: {e}");
        }
        let eof = of_kind(&got, "eof");
        assert_eq!(eof.len(), 1, "{label}: {step}: one eof: {got:?}");
        assert_eq!(eof[0]["total"], total, "{label}: {step}: eof total");
        let k = kinds(&got);
        assert_eq!(
            &k[k.len() - 2..],
            ["eof", "hangup"],
            "{label}: {step}: eof then hangup last"
        );
        assert_eq!(
            got.last().expect("hangup")["action"],
            "reopen",
            "{label}: {step}: {got:?}"
        );
    }
    let tail = evs.rest();
    let status = child.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(0),
        "{label}: idle timeout after events: {tail:?}"
    );
    assert_eq!(kinds(&tail), ["timeout", "summary"], "{label}: {tail:?}");

    let all = evs.seen();
    let hangups = of_kind(all, "hangup");
    assert_eq!(hangups.len(), CYCLES, "{label}: hangup events");
    let fd = fd.expect("at least one cycle");
    assert!(
        hangups
            .iter()
            .all(|h| h["action"] == "reopen" && h["fd"] == fd),
        "{label}: every hangup reopens fd {fd}: {hangups:?}"
    );
    assert_eq!(of_kind(all, "eof").len(), CYCLES, "{label}: eof events");
    assert!(of_kind(all, "error").is_empty(), "{label}: error events");
    let text: String = of_kind(all, "data")
        .iter()
        .map(|d| d["text"].as_str().expect("text"))
        .collect();
    let expected: String = (0..CYCLES).map(|n| format!("line {n}\n")).collect();
    assert_eq!(text, expected, "{label}: all data");
    let s = summary(&label, all);
    assert_eq!(s["bytes"][0]["fd"], fd, "{label}: {s}");
    assert_eq!(s["bytes"][0]["bytes"], total, "{label}: {s}");
}

#[test]
fn writer_churn_200_cycles() {
    each_backend(&BACKENDS, writer_churn);
}

// 2. -----------------------------------------------------------------------------

/// What a write end whose reader left looks like: poll and epoll set OUT|ERR, a new
/// `ready`. The select family still says only "writable" (unchanged, so no new
/// `ready`); fdwatch learns of the reader leaving from a poll probe.
fn reader_gone_words(b: &str) -> Option<Vec<&'static str>> {
    (!select_family(b)).then(|| vec!["write", "error"])
}

fn write_side_fifo(b: &str) {
    let label = format!("{b} write_side_fifo_lifecycle");
    let dir = TempDir::new();
    let fifo = dir.fifo("w");
    let spec = format!("{}:w", fifo.display());
    let args = ["-b", b, "-m", "--format", "json", "1", spec.as_str()];
    let mut child = Fdwatch::new(args).spawn();
    let _dog = Watchdog::new(&child, Duration::from_secs(60), &label);
    let mut evs = EventStream::new(&mut child, &label);

    let first = evs.until("start", |_| true).remove(0);
    assert_eq!(first["event"], "error", "{label}: {first}");
    assert_eq!(first["errno"], "ENXIO", "{label}: {first}");
    assert!(
        first["what"].as_str().expect("what").contains("no reader"),
        "{label}: {first}"
    );

    for round in 1..=2 {
        let step = format!("reader {round} opens");
        let reader = open(&fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK);
        // Until then the retries fail silently: no second ENXIO event.
        let got = evs.until(&step, is("ready"));
        assert_eq!(kinds(&got), ["ready"], "{label}: {step}: {got:?}");
        let ready = &got[0];
        assert_eq!(words(ready), ["write"], "{label}: {step}: {ready}");
        assert_eq!(ready["kind"], "fifo", "{label}: {step}: {ready}");

        let step = format!("reader {round} closes");
        drop(reader);
        let got = evs.until(&step, is("hangup"));
        let hangup = got.last().expect("the hangup event");
        match reader_gone_words(b) {
            Some(w) => {
                assert_eq!(kinds(&got), ["ready", "hangup"], "{label}: {step}: {got:?}");
                assert_eq!(words(&got[0]), w, "{label}: {step}: {}", got[0]);
            }
            None => assert_eq!(kinds(&got), ["hangup"], "{label}: {step}: {got:?}"),
        }
        assert_eq!(hangup["action"], "reopen", "{label}: {step}: {hangup}");
        assert_eq!(hangup["fd"], ready["fd"], "{label}: {step}: {got:?}");
    }
    // No reader now: the open is retried silently until the idle timeout.
    let tail = evs.rest();
    let status = child.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(0),
        "{label}: idle timeout after events: {tail:?}"
    );
    assert_eq!(kinds(&tail), ["timeout", "summary"], "{label}: {tail:?}");
    assert_eq!(
        of_kind(evs.seen(), "error").len(),
        1,
        "{label}: ENXIO is reported once, retries are silent: {:?}",
        evs.seen()
    );
}

#[test]
fn write_side_fifo_lifecycle() {
    each_backend(&BACKENDS, write_side_fifo);
}

// 3. -----------------------------------------------------------------------------

#[test]
fn once_ends_at_first_eof() {
    each_backend(&BACKENDS, |b| {
        let label = format!("{b} once_ends_at_first_eof");
        let dir = TempDir::new();
        let fifo = dir.fifo("once");
        let path = fifo.to_str().expect("utf-8 path");
        let args = [
            "-b",
            b,
            "-m",
            "--once",
            "--read=text",
            "--format",
            "json",
            "5",
            path,
        ];
        let mut child = Fdwatch::new(args).spawn();
        let _dog = Watchdog::new(&child, Duration::from_secs(60), &label);
        wait_blocked(child.id());
        let w = fifo_writer(&fifo, &label);
        write(&w, b"x\n");
        drop(w);
        let mut evs = EventStream::new(&mut child, &label);
        let all = evs.rest();
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(0), "{label}: {all:?}");
        let k: Vec<String> = kinds(&all).into_iter().filter(|k| k != "ready").collect();
        assert_eq!(k, ["data", "eof", "hangup", "summary"], "{label}: {all:?}");
        let data = of_kind(&all, "data");
        assert_eq!(data[0]["text"], "x\n", "{label}");
        assert_eq!(of_kind(&all, "eof")[0]["total"], 2, "{label}");
        assert_eq!(of_kind(&all, "hangup")[0]["action"], "end", "{label}");
        let s = summary(&label, &all);
        let elapsed = num(&label, &s, "elapsed");
        assert!(elapsed < 2.0, "{label}: --once did not end promptly: {s}");
    });
}

// 4. -----------------------------------------------------------------------------

/// Writers 1 and 2 each leave one byte queued; fdwatch (no --read) reopens the FIFO
/// after each. A read end of our own, open all along, then reads both bytes.
fn no_byte_lost(b: &str) {
    let label = format!("{b} no_byte_lost_across_reopen_without_read");
    let select = select_family(b);
    let dir = TempDir::new();
    let fifo = dir.fifo("keep");
    let path = fifo.to_str().expect("utf-8 path");
    let mine = open(&fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK);
    let mut child = Fdwatch::new(["-b", b, "-m", "--format", "json", "1", path]).spawn();
    let _dog = Watchdog::new(&child, Duration::from_secs(60), &label);
    wait_blocked(child.id());
    let mut evs = EventStream::new(&mut child, &label);
    for (n, byte) in [(1, b"a"), (2, b"b")] {
        let step = format!("writer {n}");
        let w = fifo_writer(&fifo, &format!("{label} {step}"));
        write(&w, byte);
        drop(w);
        if select {
            // The select family folds a hang-up into "readable", and with bytes still
            // queued nothing else tells it apart: sync on the queue growing instead.
            let got = evs.until(&step, |e| e["event"] == "ready" && e["queued"] == n);
            assert!(of_kind(&got, "data").is_empty(), "{label}: {step}: {got:?}");
            continue;
        }
        let got = evs.until(&step, is("hangup"));
        assert_eq!(got.last().expect("hangup")["action"], "reopen", "{label}");
        assert!(
            got.iter().any(|e| e["event"] == "ready"
                && words(e).iter().any(|w| w == "hangup")
                && e["queued"] == n),
            "{label}: {step}: a hang-up with {n} byte(s) queued: {got:?}"
        );
        assert!(of_kind(&got, "data").is_empty(), "{label}: {step}: {got:?}");
    }
    let tail = evs.rest();
    let status = child.wait().expect("wait");
    assert_eq!(
        status.code(),
        Some(0),
        "{label}: idle timeout after events: {tail:?}"
    );
    assert!(
        of_kind(evs.seen(), "error").is_empty(),
        "{label}: {:?}",
        evs.seen()
    );
    assert_eq!(
        read_back(&mine, 2),
        b"ab",
        "{label}: bytes left in the FIFO"
    );
}

#[test]
fn no_byte_lost_across_reopen_without_read() {
    each_backend(&BACKENDS, no_byte_lost);
}

// 5. -----------------------------------------------------------------------------

/// 1 MiB of xorshift64 bytes; chunk `i` of a stream is this with its first 8 bytes
/// replaced by `i` (little endian).
fn random_mib() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut v = Vec::with_capacity(MIB);
    while v.len() < MIB {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v
}

struct TeeRun {
    status: ExitStatus,
    events: Vec<Value>,
    elapsed: Duration,
}

/// Feeds `chunks` MiB through `fdwatch -m --tee EXTRA --format json -` and checks stdout
/// byte for byte as it arrives (the expected stream is regenerated, never stored).
fn tee_stream(label: &str, extra: &[&str], chunks: u64) -> TeeRun {
    let t0 = Instant::now();
    let base = random_mib();
    let mut args = vec!["-m", "--tee"];
    args.extend(extra);
    args.extend(["--format", "json", "-"]);
    let mut child = Fdwatch::new(args).stdin(Stdio::piped()).spawn();
    let _dog = Watchdog::new(&child, Duration::from_secs(600), label);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let writer = {
        let mut chunk = base.clone();
        thread::spawn(move || {
            for i in 0..chunks {
                chunk[..8].copy_from_slice(&i.to_le_bytes());
                stdin.write_all(&chunk)?;
            }
            Ok::<(), std::io::Error>(())
            // stdin closes here: end of input.
        })
    };
    let errs = thread::spawn(move || {
        let mut v = Vec::new();
        stderr.read_to_end(&mut v).map(|_| v)
    });

    let mut expected = base;
    let mut buf = vec![0u8; MIB];
    let mut off = 0u64;
    loop {
        let n = stdout
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("{label}: reading stdout: {e}"));
        if n == 0 {
            break;
        }
        let mut data = &buf[..n];
        while !data.is_empty() {
            let chunk = off / MIB as u64;
            let within = (off % MIB as u64) as usize;
            assert!(chunk < chunks, "{label}: more than {chunks} MiB on stdout");
            let len = data.len().min(MIB - within);
            expected[..8].copy_from_slice(&chunk.to_le_bytes());
            let want = &expected[within..within + len];
            if &data[..len] != want {
                let i = (0..len)
                    .find(|&i| data[i] != want[i])
                    .expect("a difference");
                panic!(
                    "{label}: stdout byte {} is {:#04x}, expected {:#04x}",
                    off + i as u64,
                    data[i],
                    want[i]
                );
            }
            data = &data[len..];
            off += len as u64;
        }
    }
    assert_eq!(off, chunks * MIB as u64, "{label}: bytes on stdout");
    writer
        .join()
        .expect("writer thread")
        .unwrap_or_else(|e| panic!("{label}: feeding stdin: {e}"));
    let err = errs
        .join()
        .expect("stderr thread")
        .unwrap_or_else(|e| panic!("{label}: reading stderr: {e}"));
    let status = child.wait().expect("wait");
    TeeRun {
        status,
        events: events(&err),
        elapsed: t0.elapsed(),
    }
}

#[test]
fn tee_passes_one_gib_unchanged() {
    const GIB: u64 = 1 << 30;
    let label = "epoll tee_passes_one_gib_unchanged (--tee, 1 GiB)";
    let run = tee_stream(label, &[], GIB / MIB as u64);
    eprintln!("{label}: {:?}", run.elapsed);
    assert_eq!(run.status.code(), Some(0), "{label}: {:?}", run.status);
    let evs = &run.events;
    assert!(of_kind(evs, "error").is_empty(), "{label}: {evs:?}");
    let data = of_kind(evs, "data");
    assert!(
        data.iter().all(|d| d["fd"] == 0 && d.get("text").is_none()),
        "{label}: count-mode data events on fd 0"
    );
    let sum: u64 = data
        .iter()
        .map(|d| d["bytes"].as_u64().expect("bytes"))
        .sum();
    assert_eq!(sum, GIB, "{label}: sum of data bytes");
    assert_eq!(
        data.last().expect("data")["total"],
        GIB,
        "{label}: last total"
    );
    let eof = of_kind(evs, "eof");
    assert_eq!(eof.len(), 1, "{label}: {eof:?}");
    assert_eq!(eof[0]["total"], GIB, "{label}");
    let s = summary(label, evs);
    let bytes: Vec<(Value, Value)> = s["bytes"]
        .as_array()
        .expect("bytes")
        .iter()
        .map(|b| (b["fd"].clone(), b["bytes"].clone()))
        .collect();
    assert_eq!(bytes, [(json!(0), json!(GIB))], "{label}: {s}");

    // Text mode reads and writes instead of splicing; the bytes must come out the same.
    let label = "epoll tee_passes_one_gib_unchanged (--tee --read=text, 8 MiB)";
    let run = tee_stream(label, &["--read=text"], 8);
    eprintln!("{label}: {:?}", run.elapsed);
    assert_eq!(run.status.code(), Some(0), "{label}: {:?}", run.status);
    let sum: u64 = of_kind(&run.events, "data")
        .iter()
        .map(|d| d["bytes"].as_u64().expect("bytes"))
        .sum();
    assert_eq!(sum, 8 * MIB as u64, "{label}: sum of data bytes");
    assert_eq!(
        of_kind(&run.events, "eof")[0]["total"],
        8 * MIB as u64,
        "{label}"
    );
}

// 6. -----------------------------------------------------------------------------

#[test]
fn tee_closed_stdout_is_quiet() {
    for (case, extra) in [("-q", "-q"), ("--format json", "--format=json")] {
        let label = format!("epoll tee_closed_stdout_is_quiet ({case})");
        let mut child = Fdwatch::new(["-m", "--tee", extra, "-"])
            .stdin(Stdio::piped())
            .spawn();
        let _dog = Watchdog::new(&child, Duration::from_secs(60), &label);
        let mut stdin = child.stdin.take().expect("piped stdin");
        // Fed until fdwatch goes away (EPIPE), but never more than 256 MiB: a fdwatch
        // that kept reading after its stdout closed ends at end of input instead.
        let feeder = thread::spawn(move || {
            let block = vec![b'x'; 64 << 10];
            let mut sent = 0u64;
            while sent < 256 << 20 {
                match stdin.write(&block) {
                    Ok(n) => sent += n as u64,
                    Err(e) => return (sent, Some(e.kind())),
                }
            }
            (sent, None)
        });
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut some = [0u8; 4096];
        stdout
            .read_exact(&mut some)
            .unwrap_or_else(|e| panic!("{label}: reading stdout: {e}"));
        assert!(some.iter().all(|&c| c == b'x'), "{label}: teed bytes");
        drop(stdout);
        let mut err = Vec::new();
        child
            .stderr
            .take()
            .expect("piped stderr")
            .read_to_end(&mut err)
            .expect("read stderr");
        let status = child.wait().expect("wait");
        let (sent, fed_err) = feeder.join().expect("feeder thread");
        let err = String::from_utf8_lossy(&err);
        assert_eq!(status.code(), Some(0), "{label}: {status:?}: {err}");
        assert_eq!(
            fed_err,
            Some(ErrorKind::BrokenPipe),
            "{label}: fdwatch should end while input still comes ({sent} bytes fed)"
        );
        assert!(
            !err.lines().any(|l| l.starts_with("fdwatch:")),
            "{label}: error line on stderr: {err}"
        );
        if case == "-q" {
            assert_eq!(err, "", "{label}: -q keeps stderr empty");
        } else {
            let evs = events(err.as_bytes());
            assert!(of_kind(&evs, "error").is_empty(), "{label}: {evs:?}");
        }
    }
}

// 7. -----------------------------------------------------------------------------

#[test]
fn hex_mode_rows() {
    for b in BACKENDS {
        let label = format!("{b} hex_mode_rows");
        let (r, w) = pipe();
        write(&w, b"hello world\n\0\0\0\0");
        drop(w);
        let out = Fdwatch::new(["-b", b, "-m", "--read=hex", "--format", "json", "2", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        assert_eq!(code(&out), 0, "{label}: {}", stderr(&out));
        let evs = events(&out.stdout);
        let data = of_kind(&evs, "data");
        assert_eq!(data.len(), 1, "{label}: {evs:?}");
        assert_eq!(
            data[0]["hex"],
            json!([
                "00000000  68 65 6c 6c 6f 20 77 6f  72 6c 64 0a 00 00 00 00  |hello world.....|"
            ]),
            "{label}"
        );
        assert_eq!(data[0]["bytes"], 16, "{label}");
        assert_eq!(data[0]["fd"], 3, "{label}");
        assert_eq!(of_kind(&evs, "eof")[0]["total"], 16, "{label}");
        assert_eq!(of_kind(&evs, "hangup")[0]["action"], "remove", "{label}");
        // The pipe itself is left as it was: nothing more to read, flags untouched.
        assert_eq!(fionread(&r), 0, "{label}");
        assert!(
            !status_flags(&r).contains(OFlag::O_NONBLOCK),
            "{label}: O_NONBLOCK set on an inherited fd"
        );
    }
}
