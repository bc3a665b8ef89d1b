//! One grammar for every duration on the command line: TIMEOUT,
//! `--interval` (watch mode, relay, pipeline), `relay --idle` and `send --delay` take
//! bare seconds (`2`, `0.4`) and humantime forms (`400ms`, `1m30s`); a negative or
//! unparsable value is a one-line usage error (exit 2) naming the option, in the same
//! words for every option. The table of the grammar itself is in src/timeout.rs and
//! src/cli/values.rs; here the real binary runs with each form, and where the value
//! shows in the output (the relay's idle timeout), it is the one given.
//!
//! Runs end by themselves: a pipe's hang-up, the relay's idle timeout, `--count`, the
//! sender's last byte. No sleeps.

use crate::common::*;

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};

const GRAMMAR: &str = "expected seconds (2, 0.4) or a number with a unit (400ms, 1m30s)";

#[test]
fn watch_interval_takes_seconds_and_units() {
    for v in ["0.4", "400ms", "2", "1m30s", "0.001"] {
        let case = format!("-m --interval {v}");
        let (r, w) = pipe();
        drop(w);
        let out = run(
            &case,
            Fdwatch::new(["-m", "--interval", v, "--format", "json", "5", "0r"]).stdin(r),
        );
        assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        assert_eq!(of_kind(&evs, "hangup").len(), 1, "{case}: {evs:?}");
    }
}

#[test]
fn relay_idle_and_interval_take_seconds_and_units() {
    for (idle, interval) in [("0.5", "0.4"), ("500ms", "400ms"), ("0.5s", "1")] {
        let case = format!("relay --idle {idle} --interval {interval}");
        let out = run(
            &case,
            Fdwatch::new([
                "relay",
                "--idle",
                idle,
                "--interval",
                interval,
                "--format",
                "json",
                "tcp-listen:127.0.0.1:0",
                "tcp:127.0.0.1:1",
            ]),
        );
        assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        let t = of_kind(&evs, "timeout");
        assert_eq!(t.len(), 1, "{case}: ends by its idle timeout: {evs:?}");
        assert_eq!(num(&case, t[0], "timeout"), 0.5, "{case}: {}", t[0]);
    }
}

#[test]
fn pipeline_interval_takes_seconds_and_units() {
    let mut sleeper = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .counted_spawn()
        .expect("spawn sleep");
    let pid = sleeper.id().to_string();
    for v in ["0.4", "400ms"] {
        let case = format!("pipeline --interval {v}");
        let out = run(
            &case,
            Fdwatch::new([
                "pipeline",
                "--interval",
                v,
                "--count",
                "2",
                "--format",
                "json",
                &pid,
            ]),
        );
        assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        assert_eq!(of_kind(&evs, "pipeline").len(), 2, "{case}: {evs:?}");
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}

#[test]
fn send_delay_takes_seconds_and_units() {
    for v in ["0.05", "50ms", "0"] {
        let case = format!("send --delay {v}");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("read");
            got
        });
        let addr = format!("tcp:127.0.0.1:{port}");
        let out = run(
            &case,
            Fdwatch::new(["send", &addr, "--data", "a", "--delay", v, "--data", "b"]),
        );
        assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
        assert_eq!(reader.join().expect("reader"), b"ab", "{case}");
    }
}

/// Every place a duration is typed, `V` standing for it.
const PLACES: &[(&str, &[&str])] = &[
    ("--interval", &["-m", "--interval", "V", "1", "0r"]),
    (
        "--interval",
        &[
            "relay",
            "--interval",
            "V",
            "tcp-listen:127.0.0.1:1",
            "tcp:127.0.0.1:2",
        ],
    ),
    (
        "--idle",
        &[
            "relay",
            "--idle",
            "V",
            "tcp-listen:127.0.0.1:1",
            "tcp:127.0.0.1:2",
        ],
    ),
    ("--interval", &["pipeline", "--interval", "V", "1"]),
    ("--delay", &["send", "tcp:127.0.0.1:1", "--delay", "V"]),
];

/// A negative or unparsable value: one line, exit 2, naming the option and the value,
/// with the grammar in the same words everywhere (also written `--opt=V`).
#[test]
fn bad_durations_are_one_line_errors_naming_the_option() {
    for (opt, place) in PLACES {
        for bad in ["-1", "-0.4", "abc", "1x", "NaN"] {
            for joined in [false, true] {
                let mut argv: Vec<String> = Vec::new();
                for w in place.iter() {
                    match (*w, joined) {
                        ("V", false) => argv.push(bad.into()),
                        ("V", true) => {}
                        (o, true) if o == *opt => argv.push(format!("{opt}={bad}")),
                        (o, _) => argv.push(o.into()),
                    }
                }
                let case = argv.join(" ");
                let out = run(&case, Fdwatch::new(&argv));
                let what = format!("'{bad}' for '{opt} <DUR>'");
                assert_one_line_error(&case, &out, &[&what, GRAMMAR]);
            }
        }
    }
}

/// TIMEOUT says the same, and adds `-`, which only it takes.
#[test]
fn timeout_errors_share_the_grammar_and_name_dash() {
    for bad in ["1x", "abc"] {
        let out = run(bad, Fdwatch::new([bad, "0r"]));
        assert_one_line_error(
            bad,
            &out,
            &[&format!("timeout '{bad}'"), GRAMMAR, "'-' for forever"],
        );
    }
    let out = run("-1", Fdwatch::new(["-1", "0r"]));
    assert_one_line_error("-1", &out, &["timeout '-1': negative", "'-'"]);
    // Forever is TIMEOUT's: elsewhere `-` is refused, naming the option.
    let out = run(
        "--interval -",
        Fdwatch::new(["-m", "--interval", "-", "1", "0r"]),
    );
    assert_one_line_error("--interval -", &out, &["'--interval <DUR>'", "TIMEOUT"]);
    let out = run(
        "relay --idle -",
        Fdwatch::new([
            "relay",
            "--idle",
            "-",
            "tcp-listen:127.0.0.1:1",
            "tcp:127.0.0.1:2",
        ]),
    );
    assert_one_line_error(
        "relay --idle -",
        &out,
        &["'--idle <DUR>'", "leave --idle out"],
    );
}
