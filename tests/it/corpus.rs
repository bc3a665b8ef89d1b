//! The same command lines give the same JSON lines: a recorded corpus of runs (every
//! backend; one-shot and monitor; pipes, FIFOs, TCP sockets with urgent data, signals,
//! the relay) replayed and compared event by event, with what legitimately varies
//! between runs normalized (times, inode numbers, ports, temp paths, pids).
//!
//! The corpus was recorded before the event core was redesigned, so that the redesign
//! is held to the old behaviour. Re-record after an intended change of output
//! with `FDWATCH_RECORD_CORPUS=1 cargo test --test it corpus::` and review the diff.
//!
//! Every scenario is made deterministic by its setup, not by timing: the data, the
//! urgent byte and the end of file are queued before fdwatch starts, or the test acts
//! only once fdwatch is blocked in its wait (common::blocked).

use crate::common::*;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{self, MsgFlags};
use nix::unistd::Pid;
use serde_json::{Value, json};

fn corpus_file() -> PathBuf {
    repo().join("tests/corpus/expected.jsonl")
}

/// Fields whose values depend on timing, not on behaviour.
const TIMING: [&str; 7] = [
    "t", "blocked", "elapsed", "left", "duration", "rate", "waits",
];

/// One event with what varies between runs replaced by placeholders.
fn normalize(ev: &Value, dir: &str) -> Value {
    let Value::Object(map) = ev else {
        return ev.clone();
    };
    let mut out = serde_json::Map::new();
    for (k, v) in map {
        if TIMING.contains(&k.as_str()) {
            continue;
        }
        let v = match (k.as_str(), v) {
            // The sender of a signal is this test process.
            ("pid" | "uid", Value::Number(_)) if map.get("event") == Some(&json!("signal")) => {
                json!("ID")
            }
            (_, Value::String(s)) => Value::String(scrub(s, dir)),
            (_, Value::Array(a)) => Value::Array(a.iter().map(|x| normalize(x, dir)).collect()),
            (_, Value::Object(_)) => normalize(v, dir),
            _ => v.clone(),
        };
        out.insert(k.clone(), v);
    }
    Value::Object(out)
}

/// `pipe:[12345]` → `pipe:[INO]`, `127.0.0.1:40122` → `127.0.0.1:PORT`, the temp dir → `$DIR`.
fn scrub(s: &str, dir: &str) -> String {
    let s = if dir.is_empty() {
        s.to_owned()
    } else {
        s.replace(dir, "$DIR")
    };
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if s[i..].starts_with("pipe:[") {
            let end = s[i..].find(']').map_or(b.len(), |e| i + e);
            out.push_str("pipe:[INO");
            i = end;
            continue;
        }
        // A port after an address: 127.0.0.1:NNN or ]:NNN.
        if b[i] == b':'
            && i > 0
            && (b[i - 1].is_ascii_digit() || b[i - 1] == b']')
            && b.get(i + 1).is_some_and(u8::is_ascii_digit)
            && (s[..i].ends_with("127.0.0.1") || s[..i].ends_with(']'))
        {
            out.push_str(":PORT");
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// What one scenario printed, normalized, with its exit status.
fn record(out: &Output, dir: &str) -> Value {
    let evs: Vec<Value> = events(&out.stdout)
        .iter()
        .map(|e| normalize(e, dir))
        .collect();
    let status = match out.status.code() {
        Some(c) => json!(c),
        None => json!(format!(
            "signal {}",
            std::os::unix::process::ExitStatusExt::signal(&out.status).unwrap_or(0)
        )),
    };
    json!({ "status": status, "events": evs })
}

/// Waits until a socket's peer has shut down its side (POLLRDHUP): everything it sent
/// before is queued here.
fn wait_rdhup(fd: impl AsFd) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = poll_until(fd, libc::POLLRDHUP, deadline, |r| r & libc::POLLRDHUP != 0);
    assert!(got.is_some(), "the peer's end never arrived");
}

/// Sends "hell", the urgent "o" and "world", then shuts down the sending side.
fn send_hell_o_world(c: &TcpStream) {
    socket::send(c.as_raw_fd(), b"hell", MsgFlags::empty()).expect("send");
    socket::send(c.as_raw_fd(), b"o", MsgFlags::MSG_OOB).expect("send oob");
    socket::send(c.as_raw_fd(), b"world", MsgFlags::empty()).expect("send");
    c.shutdown(std::net::Shutdown::Write).expect("shutdown");
}

/// A loopback TCP connection whose accepted end holds "hell", the urgent "o", "world"
/// and the peer's end of file, all queued: (accepted end, the peer, kept open).
fn tcp_with_urgent() -> (OwnedFd, TcpStream) {
    let (c, s) = tcp_pair();
    send_hell_o_world(&c);
    wait_rdhup(&s);
    (OwnedFd::from(s), c)
}

/// Runs `f` to its end; `during` acts once it is blocked in its wait.
fn run_after_blocked(case: &str, f: Fdwatch, during: impl FnOnce(u32)) -> Output {
    let (child, _dog) = spawn(case, f);
    blocked(child.id(), case);
    during(child.id());
    child.wait_with_output().expect("wait fdwatch")
}

fn argv(words: &str) -> Vec<String> {
    words.split_whitespace().map(str::to_owned).collect()
}

/// `fdwatch WORDS...` with `fds` placed at their numbers and no other fd inherited.
fn placed(words: &str, fds: &[(BorrowedFd<'_>, RawFd)]) -> Fdwatch {
    fds.iter().fold(
        Fdwatch::new(argv(words)).only_placed_fds(),
        |f, &(fd, at)| f.fd(fd, at),
    )
}

/// One scenario per backend (and the relay's): name → (normalized output).
fn scenarios() -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for b in BACKENDS {
        let mut add = |name: &str, v: Value| {
            all.insert(format!("{b}/{name}"), v);
        };
        let bk = format!("-b {b} --format json");

        // Pipes whose data and end of file are queued before fdwatch starts: one-shot,
        // and monitor with each --read mode.
        let queued: [(&str, &[u8], &str); 4] = [
            ("oneshot-pipe-data-eof", b"abc", "0 3r"),
            ("monitor-pipe-text", b"hello\n", "-m --read=text 1 3r"),
            (
                "monitor-pipe-hex",
                b"0123456789abcdefXYZ",
                "-m --read=hex 1 3r",
            ),
            (
                "monitor-pipe-count",
                b"0123456789abcdefXYZ",
                "-m --read=count 1 3r",
            ),
        ];
        for (name, data, args) in queued {
            let (r, w) = pipe();
            write(&w, data);
            drop(w);
            let case = format!("{b} {name}");
            let out = run(&case, placed(&format!("{bk} {args}"), &[(r.as_fd(), 3)]));
            add(name, record(&out, ""));
        }

        // One-shot: an empty pipe and a writable one, nothing ready to read: timeout.
        let (r, w) = pipe();
        let case = format!("{b} one-shot timeout");
        let out = run(&case, placed(&format!("{bk} 0.05 3r"), &[(r.as_fd(), 3)]));
        drop(w);
        add("oneshot-empty-timeout", record(&out, ""));

        // One-shot: read and write sides together.
        let (r, w) = pipe();
        let case = format!("{b} one-shot rw");
        let out = run(
            &case,
            placed(&format!("{bk} 0 3r 4w"), &[(r.as_fd(), 3), (w.as_fd(), 4)]),
        );
        add("oneshot-read-and-write", record(&out, ""));

        // Monitor, no --read: a writer comes and goes while fdwatch waits.
        let (r, w) = pipe();
        let case = format!("{b} monitor hangup");
        let f = placed(&format!("{bk} -m 1 3r"), &[(r.as_fd(), 3)]);
        let out = run_after_blocked(&case, f, move |_| drop(w));
        add("monitor-pipe-hangup", record(&out, ""));

        // A FIFO path: data queued by a writer that leaves once fdwatch waits; the read
        // end is reopened, then the idle timeout ends the run.
        let dir = TempDir::new();
        let fifo = dir.fifo("jobs");
        let rw = open(&fifo, nix::fcntl::OFlag::O_RDWR);
        write(&rw, b"job\n");
        let case = format!("{b} fifo");
        let f = placed(&format!("{bk} -m --read=text 0.3 {}", fifo.display()), &[]);
        let out = run_after_blocked(&case, f, move |_| drop(rw));
        add(
            "monitor-fifo-reopen",
            record(&out, &dir.0.display().to_string()),
        );

        // TCP urgent data (hell, urgent o, world, end of file): consumed, or peeked once
        // with --count ending the run.
        for (name, args) in [
            ("tcp-urgent-read-text", "-m --read=text 1 3re"),
            ("tcp-urgent-peek", "-m --peek -c 3 1 3re"),
        ] {
            let (s, _peer) = tcp_with_urgent();
            let case = format!("{b} {name}");
            let out = run(&case, placed(&format!("{bk} {args}"), &[(s.as_fd(), 3)]));
            add(name, record(&out, ""));
        }

        // A signal while blocked, then the writer leaves: signal, hangup, summary.
        let (r, w) = pipe();
        let case = format!("{b} signal");
        let f = placed(&format!("{bk} -m --signals USR1 1 3r"), &[(r.as_fd(), 3)]);
        let out = run_after_blocked(&case, f, move |pid| {
            kill(Pid::from_raw(pid as i32), Signal::SIGUSR1).expect("kill");
            // The signal is reported before the next wait blocks again.
            delivered(pid, libc::SIGUSR1, "signal reported");
            drop(w);
        });
        add("monitor-signal-then-hangup", record(&out, ""));

        // SIGTERM ends a monitor run: summary, then death by the signal.
        let (r, _w) = pipe();
        let case = format!("{b} sigterm");
        let f = placed(&format!("{bk} -m 5 3r"), &[(r.as_fd(), 3)]);
        let out = run_after_blocked(&case, f, |pid| {
            kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("kill");
        });
        add("monitor-sigterm", record(&out, ""));

        // The relay: one client with urgent data, a target that reads to the end.
        add("relay-urgent", relay_run(b));
    }
    all
}

/// `fdwatch relay -b B --read=text -c 1`: a client sends hell, urgent o, world and
/// shuts down; the target reads everything and closes; the relay passes both ends on.
fn relay_run(b: &str) -> Value {
    let case = format!("{b} relay");
    let target = TcpListener::bind("127.0.0.1:0").expect("bind target");
    let tport = target.local_addr().expect("addr").port();
    let f = Fdwatch::new(argv(&format!(
        "relay -b {b} --read=text --format json -c 1 tcp-listen:127.0.0.1:0 tcp:127.0.0.1:{tport}"
    )));
    let (mut child, _dog) = spawn(&case, f);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    lines.read_line(&mut first).expect("listen line");
    let listen: Value = serde_json::from_str(&first).expect("listen JSON");
    let what = listen["what"].as_str().expect("what");
    let port: u16 = what
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let server = std::thread::spawn(move || {
        let (mut s, _) = target.accept().expect("target accept");
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
    });
    let c = TcpStream::connect(("127.0.0.1", port)).expect("client connect");
    send_hell_o_world(&c);
    let mut rest = Vec::new();
    let _ = (&c).read_to_end(&mut rest);
    server.join().expect("server");
    let mut tail = Vec::new();
    lines.read_to_end(&mut tail).expect("rest");
    let status = child.wait().expect("wait relay");
    let mut stdout = first.into_bytes();
    stdout.extend(tail);
    let out = Output {
        status,
        stdout,
        stderr: Vec::new(),
    };
    record(&out, "")
}

#[test]
fn normalizing_scrubs_what_varies() {
    let ev = json!({"event":"ready","t":0.1,"what":"tcp 127.0.0.1:5000 -> 127.0.0.1:40122","fd":3,
        "raw":"POLLIN","inner":[{"what":"pipe:[123]","bytes":3}]});
    let n = normalize(&ev, "");
    assert_eq!(n["what"], "tcp 127.0.0.1:PORT -> 127.0.0.1:PORT");
    assert_eq!(n["inner"][0]["what"], "pipe:[INO]");
    assert_eq!(n["fd"], 3);
    assert!(n.get("t").is_none());
    assert_eq!(
        scrub("[::1]:80 fifo /tmp/x", "/tmp/x"),
        "[::1]:PORT fifo $DIR"
    );
}

#[test]
fn the_same_command_lines_give_the_same_json_lines() {
    let got = scenarios();
    assert!(got.len() >= 40, "the corpus has {} runs", got.len());
    let path = corpus_file();
    if std::env::var_os("FDWATCH_RECORD_CORPUS").is_some() {
        let mut f = std::fs::File::create(&path).expect("create corpus");
        for (name, v) in &got {
            writeln!(f, "{}", json!({"case": name, "run": v})).expect("write corpus");
        }
        return;
    }
    let text = std::fs::read_to_string(&path).expect("the recorded corpus");
    let mut want = BTreeMap::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).expect("corpus line");
        want.insert(
            v["case"].as_str().expect("case").to_owned(),
            v["run"].clone(),
        );
    }
    let mut bad = Vec::new();
    for (name, w) in &want {
        match got.get(name) {
            None => bad.push(format!("{name}: not run")),
            Some(g) if g != w => bad.push(format!("{name}:\n  want {w}\n  got  {g}")),
            Some(_) => {}
        }
    }
    for name in got.keys().filter(|n| !want.contains_key(*n)) {
        bad.push(format!("{name}: not in the recorded corpus (re-record)"));
    }
    assert!(
        bad.is_empty(),
        "{} runs differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
