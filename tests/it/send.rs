//! `fdwatch send` against servers written here: `--delay` in order among the sends,
//! and what it reads back so that its close is clean (a close with unread data is a
//! reset): what is queued by default, everything until the server closes with
//! `--read-replies`. Each server says how the client's end looked to it: a read that
//! returned 0 (a clean close) or ECONNRESET.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::common::*;
use serde_json::Value;

/// How the client's end of the connection looked to the server.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// read returned 0: a FIN, a clean close.
    Clean,
    /// ECONNRESET: the client closed with data unread.
    Reset,
}

/// A one-connection server on a loopback port: `greet` is written at once, then what
/// it reads is echoed when `echo`, until the client's end; then `bye` and the urgent
/// byte `urgent` are sent before it closes. Returns what it read and how it ended.
fn server(
    greet: &'static [u8],
    echo: bool,
    bye: &'static [u8],
    urgent: Option<u8>,
) -> (u16, JoinHandle<(Vec<u8>, End)>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        s.write_all(greet).expect("greet");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let end = loop {
            match s.read(&mut buf) {
                Ok(0) => break End::Clean,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if echo {
                        s.write_all(&buf[..n]).expect("echo");
                    }
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break End::Reset,
                Err(e) => panic!("server read: {e}"),
            }
        };
        if end == End::Clean {
            s.write_all(bye).expect("bye");
            if let Some(b) = urgent {
                send_oob(&s, &[b]);
            }
        }
        (got, end)
    });
    (port, h)
}

fn send(case: &str, port: u16, args: &[&str]) -> (i32, Vec<Value>) {
    let addr = format!("tcp:127.0.0.1:{port}");
    let mut argv = vec!["send", addr.as_str(), "--format", "json"];
    argv.extend_from_slice(args);
    let out = run(case, Fdwatch::new(&argv));
    (exit_code(case, &out), events(&out.stdout))
}

/// The `t` of each event that sent `what` (a data or urgent event from the client).
fn sent_at(evs: &[Value], what: &str) -> f64 {
    evs.iter()
        .find(|e| {
            e["from"] == "client"
                && ((e["event"] == "data" && e["text"] == what)
                    || (e["event"] == "urgent" && e["byte"] == what))
        })
        .and_then(|e| e["t"].as_f64())
        .unwrap_or_else(|| panic!("nothing sent as {what:?}: {evs:?}"))
}

/// The bytes the target sent back, as reported, and its urgent bytes.
fn replies(evs: &[Value]) -> (String, String) {
    let from_target = |kind: &str, field: &str| -> String {
        evs.iter()
            .filter(|e| e["event"] == kind && e["from"] == "target")
            .filter_map(|e| e[field].as_str())
            .collect()
    };
    (from_target("data", "text"), from_target("urgent", "byte"))
}

/// `--delay` given more than once is a pause at each place among the sends (it could
/// be given once only); given once it keeps its meaning, a pause between every two.
#[test]
fn delay_given_more_than_once_pauses_where_it_stands() {
    let (port, srv) = server(b"", false, b"", None);
    let (code, evs) = send(
        "in order",
        port,
        &[
            "--data", "a", "--data", "b", "--delay", "300ms", "--data", "c", "--delay", "50ms",
            "--urgent", "d",
        ],
    );
    assert_eq!(code, 0, "{evs:?}");
    let (a, b, c, d) = (
        sent_at(&evs, "a"),
        sent_at(&evs, "b"),
        sent_at(&evs, "c"),
        sent_at(&evs, "d"),
    );
    assert!(c - b >= 0.3, "300ms between b and c: {evs:?}");
    assert!(d - c >= 0.05, "50ms between c and d: {evs:?}");
    assert!(b - a < c - b, "no pause between a and b: {evs:?}");
    let (got, end) = srv.join().expect("server");
    assert_eq!((got.as_slice(), end), (&b"abc"[..], End::Clean));

    let (port, srv) = server(b"", false, b"", None);
    let (code, evs) = send(
        "once",
        port,
        &[
            "--urgent", "a", "--urgent", "b", "--data", "c", "--delay", "200ms",
        ],
    );
    assert_eq!(code, 0, "{evs:?}");
    let (a, b, c) = (sent_at(&evs, "a"), sent_at(&evs, "b"), sent_at(&evs, "c"));
    assert!(
        b - a >= 0.2 && c - b >= 0.2,
        "200ms between every two: {evs:?}"
    );
    srv.join().expect("server");
}

/// `--read-replies`: after the last send the write side is shut down, the echo and
/// the server's last words (an urgent byte among them) are reported as data from the
/// target, and the close is clean: the echo server reads 0, not ECONNRESET.
#[test]
fn read_replies_reports_them_and_closes_cleanly() {
    let (port, srv) = server(b"", true, b"bye", Some(b'U'));
    let (code, evs) = send(
        "read replies",
        port,
        &[
            "--data",
            "hello",
            "--urgent",
            "!",
            "--data",
            "world",
            "--read-replies",
        ],
    );
    assert_eq!(code, 0, "{evs:?}");
    let (got, end) = srv.join().expect("server");
    assert_eq!(end, End::Clean, "the echo server saw a reset: {evs:?}");
    // The urgent byte is out of band: the server's reads never see it.
    assert_eq!(got, b"helloworld");
    assert_eq!(replies(&evs), ("helloworldbye".to_owned(), "U".to_owned()));
    let half = of_kind(&evs, "half-close");
    assert_eq!(half.len(), 1, "{evs:?}");
    assert_eq!(half[0]["from"], "client");
    let urgent = evs
        .iter()
        .find(|e| e["event"] == "urgent" && e["from"] == "target")
        .expect("the server's urgent byte");
    assert_eq!(
        urgent["offset"], 13,
        "after the 13 bytes before it: {evs:?}"
    );
    assert!(of_kind(&evs, "reset").is_empty(), "{evs:?}");
}

/// Without `--read-replies`, replies already queued are read (and reported) before
/// closing: a server that greets sees a clean close, not the reset a close with
/// unread data sends. (The greeting comes during the one-second pause.)
#[test]
fn queued_replies_are_read_before_closing() {
    let (port, srv) = server(b"hi\n", false, b"", None);
    let (code, evs) = send(
        "greeting",
        port,
        &["--data", "a", "--delay", "1s", "--data", "b"],
    );
    assert_eq!(code, 0, "{evs:?}");
    let (got, end) = srv.join().expect("server");
    assert_eq!(got, b"ab");
    assert_eq!(end, End::Clean, "the server saw a reset: {evs:?}");
    assert_eq!(replies(&evs).0, "hi\n", "{evs:?}");
    assert!(of_kind(&evs, "half-close").is_empty(), "{evs:?}");
}

/// `--read-replies` and `--rst` ask for opposite ends.
#[test]
fn read_replies_conflicts_with_rst() {
    let out = run(
        "conflict",
        Fdwatch::new(["send", "tcp:127.0.0.1:9", "--read-replies", "--rst"]),
    );
    assert_one_line_error("conflict", &out, &["--read-replies", "--rst"]);
}
