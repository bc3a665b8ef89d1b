//! One JSON schema: every JSON line of a representative run of each
//! subcommand (watch mode, `pid:PID`, relay, send, bench) carries `"v": 1`, and each of
//! its fields is listed for its kind in that command's man page (the JSON EVENTS
//! section of the committed man/*.1, which tests/it/docs.rs keeps equal to `--generate`).
//! `send` gains `--format json` and `-v`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// A man page's JSON EVENTS section: the fields every line has, and each kind's own.
struct Page {
    common: BTreeSet<String>,
    kinds: BTreeMap<String, BTreeSet<String>>,
}

/// `\fBname\fR` at the start of a roff line, unescaped.
fn bold_name(line: &str) -> Option<(String, &str)> {
    let rest = line.strip_prefix("\\fB")?;
    let (name, after) = rest.split_once("\\fR")?;
    Some((name.replace("\\-", "-"), after))
}

fn page(file: &str) -> Page {
    let path = repo().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let section = text
        .split(".SH \"JSON EVENTS\"\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{file} has no JSON EVENTS section"));
    let section = section.split("\n.SH ").next().unwrap_or(section);
    let mut p = Page {
        common: BTreeSet::new(),
        kinds: BTreeMap::new(),
    };
    let mut kind: Option<String> = None;
    let mut after_tp = false;
    for line in section.lines() {
        if line == ".TP" {
            after_tp = true;
            continue;
        }
        if let Some((name, after)) = bold_name(line) {
            if after_tp && after.is_empty() {
                p.common.insert(name);
            } else if after_tp {
                p.kinds.entry(name.clone()).or_default();
                kind = Some(name);
            } else if let Some(k) = &kind {
                p.kinds.entry(k.clone()).or_default().insert(name);
            }
        }
        after_tp = false;
    }
    assert!(
        p.common.contains("v") && !p.kinds.is_empty(),
        "{file}: JSON EVENTS lists no fields"
    );
    p
}

/// Each line: JSON, `"v": 1`, a kind the page lists, and only fields it lists for it.
/// Returns the kinds seen.
fn check(case: &str, file: &str, stdout: &[u8]) -> BTreeSet<String> {
    let page = page(file);
    let mut seen = BTreeSet::new();
    let text = String::from_utf8_lossy(stdout);
    assert!(!text.trim().is_empty(), "{case}: no output");
    for line in text.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{case}: not JSON: {line}: {e}"));
        assert_eq!(v["v"], 1, "{case}: schema version: {line}");
        let kind = v["event"]
            .as_str()
            .unwrap_or_else(|| panic!("{case}: no event: {line}"));
        let fields = page
            .kinds
            .get(kind)
            .unwrap_or_else(|| panic!("{case}: kind `{kind}` is not in {file}: {line}"));
        for key in v.as_object().expect("an object").keys() {
            assert!(
                page.common.contains(key) || fields.contains(key),
                "{case}: field `{key}` of `{kind}` is not in {file}: {line}"
            );
        }
        seen.insert(kind.to_owned());
    }
    seen
}

fn assert_saw(case: &str, seen: &BTreeSet<String>, want: &[&str]) {
    for k in want {
        assert!(seen.contains(*k), "{case}: no `{k}` event; saw {seen:?}");
    }
}

/// A loopback listener that takes every connection and reads it to the end, so the
/// sender's bytes go somewhere; returns the port.
fn sink() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = c.read_to_end(&mut buf);
            });
        }
    });
    port
}

fn send_cmd(port: u16, extra: &[&str]) -> std::process::Output {
    let addr = format!("tcp:127.0.0.1:{port}");
    let out = Command::new(bin())
        .args([
            "send",
            &addr,
            "--data",
            "hell",
            "--urgent",
            "xo",
            "--data",
            "wor\\xffld",
        ])
        .args(extra)
        .env_remove("NO_COLOR")
        .stderr(Stdio::piped())
        .counted_output()
        .expect("run fdwatch send");
    assert_eq!(code(&out), 0, "send {extra:?}: {}", stderr(&out));
    out
}

#[test]
fn watch_mode_lines_are_versioned_and_documented() {
    let mut seen = BTreeSet::new();

    // One-shot with -v: watching, wait, ready, summary.
    let (r, w) = pipe();
    write(&w, b"abc");
    let out = Fdwatch::new(["-v", "--format", "json", "1", "3r"])
        .fd(r.as_fd(), 3)
        .run();
    seen.extend(check("one-shot -v", "man/fdwatch.1", &out.stdout));

    // --read=text with invalid UTF-8 (text + data_hex), end of file, hang-up.
    let (r, w) = pipe();
    write(&w, b"hi\xff\n");
    drop(w);
    let out = Fdwatch::new(["-m", "--read=text", "--format", "json", "2", "3r"])
        .fd(r.as_fd(), 3)
        .run();
    seen.extend(check("--read=text", "man/fdwatch.1", &out.stdout));
    let evs = events(&out.stdout);
    let data = of_kind(&evs, "data");
    assert_eq!(data[0]["text"], "hi\u{fffd}\n", "{evs:?}");
    assert_eq!(data[0]["data_hex"], "6869ff0a", "{evs:?}");

    // --read=hex.
    let (r, w) = pipe();
    write(&w, b"0123456789abcdefXYZ");
    drop(w);
    let out = Fdwatch::new(["-m", "--read=hex", "--format", "json", "2", "3r"])
        .fd(r.as_fd(), 3)
        .run();
    seen.extend(check("--read=hex", "man/fdwatch.1", &out.stdout));
    let evs = events(&out.stdout);
    let rows = of_kind(&evs, "data")[0]["hex"].clone();
    assert_eq!(
        rows.as_array().map(Vec::len),
        Some(2),
        "16 bytes a row: {rows}"
    );

    // Nothing ready: timeout.
    let (r, _w) = pipe();
    let out = Fdwatch::new(["-m", "--format", "json", "0.05", "3r"])
        .fd(r.as_fd(), 3)
        .run();
    seen.extend(check("idle timeout", "man/fdwatch.1", &out.stdout));

    // A refused connect (connect with result and message).
    let out = Fdwatch::new([
        "-m",
        "--format",
        "json",
        "1",
        &format!("tcp:127.0.0.1:{}", free_port()),
    ])
    .run();
    seen.extend(check("refused connect", "man/fdwatch.1", &out.stdout));

    // A listener, a client with urgent data (accept, urgent, eof).
    let case = "tcp-listen with send";
    let (child, _dog, port) = listen_tcp(case, |spec| {
        Fdwatch::new([
            "-m",
            "--read=text",
            "-c",
            "8",
            "--format",
            "json",
            "2",
            spec,
        ])
    });
    send_cmd(port, &["--shutdown"]);
    let out = child.wait_with_output().expect("fdwatch");
    seen.extend(check(case, "man/fdwatch.1", &out.stdout));

    assert_saw(
        "watch mode",
        &seen,
        &[
            "watching", "wait", "ready", "data", "eof", "hangup", "timeout", "connect", "accept",
            "urgent", "summary",
        ],
    );
}

#[test]
fn pid_blocked_lines_are_versioned_and_documented() {
    let (r, _w) = pipe();
    // A process blocked reading a pipe nobody writes.
    let mut cat = Command::new("cat")
        .stdin(Stdio::from(r))
        .stdout(Stdio::null())
        .counted_spawn()
        .expect("cat");
    // Until it is in read(2) (syscall 0), as pid:PID will report it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(format!("/proc/{}/syscall", cat.id()))
        .unwrap_or_default()
        .starts_with("0 ")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "cat never blocked in read"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = Fdwatch::new(["--format", "json", &format!("pid:{}", cat.id())]).run();
    let _ = cat.kill();
    let _ = cat.wait();
    let seen = check("pid:PID", "man/fdwatch.1", &out.stdout);
    assert_saw("pid:PID", &seen, &["blocked"]);
}

#[test]
fn relay_and_send_lines_are_versioned_and_documented() {
    let target = sink();
    let case = "relay with send";
    let ((mut relay, _dog), port) = listen_on_free_port(
        case,
        |port| {
            let child = Fdwatch::new([
                "relay",
                "--format",
                "json",
                "--read=text",
                "-c",
                "1",
                &format!("tcp-listen:127.0.0.1:{port}"),
                &format!("tcp:127.0.0.1:{target}"),
            ])
            .spawn();
            let dog = Watchdog::new(&child, Duration::from_secs(20), case);
            (child, dog)
        },
        the_child_waits,
    );
    let sent = send_cmd(port, &["--format", "json", "--shutdown"]);
    let send_seen = check("send --format json", "man/fdwatch-send.1", &sent.stdout);
    assert_saw(
        "send",
        &send_seen,
        &[
            "connect",
            "data",
            "urgent",
            "half-close",
            "close",
            "summary",
        ],
    );
    let mut out = Vec::new();
    relay
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut out)
        .expect("relay output");
    let st = relay.wait().expect("relay");
    assert!(st.success(), "{case}: {st}");
    let seen = check(case, "man/fdwatch-relay.1", &out);
    assert_saw(
        case,
        &seen,
        &[
            "listen",
            "accept",
            "connect",
            "data",
            "urgent",
            "half-close",
            "close",
            "summary",
        ],
    );
}

#[test]
fn bench_lines_are_versioned_and_documented() {
    // A measured row (poll) and a refused one (select stops at FD_SETSIZE).
    let out = Fdwatch::new([
        "bench",
        "--format",
        "json",
        "--backends",
        "poll,select",
        "--fds",
        "10,1100",
        "--rounds",
        "20",
        "--repeats",
        "1",
    ])
    .run();
    assert_eq!(code(&out), 0, "bench: {}", stderr(&out));
    let seen = check("bench --format json", "man/fdwatch-bench.1", &out.stdout);
    assert_saw("bench", &seen, &["bench"]);
    let evs = events(&out.stdout);
    assert!(evs.iter().any(|e| e["refused"].is_string()), "{evs:?}");
    assert!(evs.iter().any(|e| e["ns_per_event"].is_number()), "{evs:?}");
}

/// `send --format json` reports each step as it happens, from the client's side: what
/// was sent, the urgent byte at its offset, and the totals.
#[test]
fn send_reports_its_steps_in_json() {
    let port = sink();
    let out = send_cmd(port, &["--format", "json", "--rst"]);
    let evs = events(&out.stdout);
    let kinds: Vec<&str> = evs.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "connect", "data", "data", "urgent", "data", "reset", "close", "summary"
        ],
        "{evs:?}"
    );
    assert_eq!(evs[0]["result"], "ok");
    assert_eq!(evs[0]["target"], format!("tcp:127.0.0.1:{port}"));
    assert_eq!(evs[0]["addr"], format!("127.0.0.1:{port}"));
    assert_eq!(evs[1]["text"], "hell");
    // `--urgent xo`: x goes as normal data, o is the urgent byte, after 5 bytes.
    assert_eq!(evs[2]["text"], "x");
    assert_eq!(evs[3]["byte"], "o");
    assert_eq!(evs[3]["offset"], 5);
    assert_eq!(evs[4]["text"], "wor\u{fffd}ld");
    assert_eq!(evs[4]["data_hex"], "776f72ff6c64");
    assert_eq!(evs[4]["total"], 11);
    assert_eq!(evs[6]["client_to_target"], 11);
    assert_eq!(evs[6]["urgent_client_to_target"], 1);
    assert_eq!(evs[7]["connections"], 1);
    assert!(
        evs[7].get("backend").is_none(),
        "send has no multiplexer: {}",
        evs[7]
    );
}

/// Text send is silent (a test client), `-v` prints each step.
#[test]
fn send_is_quiet_unless_verbose() {
    let port = sink();
    let quiet = send_cmd(port, &[]);
    assert!(
        quiet.stdout.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&quiet.stdout)
    );
    let loud = send_cmd(port, &["-v", "--color", "never"]);
    let text = String::from_utf8_lossy(&loud.stdout);
    for want in [
        &format!("connected to tcp:127.0.0.1:{port} (127.0.0.1:{port})") as &str,
        "\"hell\"",
        "urgent \"o\" (0x6f) at offset 5",
        "\"wor\\xffld\"",
        "1 connections",
    ] {
        assert!(text.contains(want), "send -v: no {want:?} in:\n{text}");
    }
}

/// `--format tlpi` has no book program for send.
#[test]
fn send_refuses_tlpi() {
    let out = Fdwatch::new(["send", "--format", "tlpi", "tcp:127.0.0.1:1", "--data", "x"]).run();
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("fdwatch send"), "{}", stderr(&out));
}

#[test]
fn pipeline_lines_are_versioned_and_documented() {
    // A process of the test's own, waiting in read on a pipe the test holds open.
    let (r, w) = pipe();
    let mut child = std::process::Command::new("cat")
        .stdin(Stdio::from(r))
        .stdout(Stdio::null())
        .counted_spawn()
        .expect("spawn cat");
    let pid = child.id().to_string();
    let out = Fdwatch::new([
        "pipeline",
        "--format",
        "json",
        "--count",
        "2",
        "--interval",
        "10ms",
        &pid,
    ])
    .run();
    assert_eq!(code(&out), 0, "pipeline: {}", stderr(&out));
    let seen = check(
        "pipeline --format json",
        "man/fdwatch-pipeline.1",
        &out.stdout,
    );
    assert_saw("pipeline", &seen, &["pipeline"]);
    drop(w);
    let _ = child.wait();
}
