use crate::common::*;

use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Owned argv from string slices.
fn args(a: &[&str]) -> Vec<OsString> {
    a.iter().map(OsString::from).collect()
}

/// What is wrong with `out` as a usage error: exit 2, exactly one line on
/// stderr that starts `fdwatch: ` and contains every needle, nothing on stdout, no
/// panic text. Empty when it is right.
fn usage_error_problems(case: &str, out: &Output, needles: &[&str]) -> Vec<String> {
    let err = stderr(out);
    let mut bad = Vec::new();
    match out.status.code() {
        Some(2) => {}
        other => bad.push(format!(
            "{case}: exit status {other:?}, want 2; stderr: {err:?}"
        )),
    }
    if err.matches('\n').count() != 1 || !err.ends_with('\n') {
        bad.push(format!("{case}: stderr must be exactly one line: {err:?}"));
    }
    if !err.starts_with("fdwatch: ") {
        bad.push(format!(
            "{case}: stderr must start with 'fdwatch: ': {err:?}"
        ));
    }
    for n in needles {
        if !err.contains(n) {
            bad.push(format!("{case}: stderr should mention {n:?}: {err:?}"));
        }
    }
    if err.contains("panicked") || err.contains("RUST_BACKTRACE") {
        bad.push(format!("{case}: panic: {err:?}"));
    }
    if !out.stdout.is_empty() {
        bad.push(format!(
            "{case}: usage error printed on stdout: {:?}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    bad
}

fn assert_usage_error(case: &str, out: &Output, needles: &[&str]) {
    let bad = usage_error_problems(case, out, needles);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// 1. Bad inputs: exit 2, one line, naming the argument, never a panic.

#[test]
fn bad_inputs_are_one_line_usage_errors() {
    let bad_path = OsStr::from_bytes(b"/nonexistent/\xff\xfe").to_os_string();
    let bad_timeout = OsStr::from_bytes(b"\xff").to_os_string();
    let table: Vec<(&str, Vec<OsString>, Vec<&str>)> = vec![
        ("unknown letter 0q", args(&["0", "0q"]), vec!["'0q'", "q"]),
        (
            "unknown letter 3rwx",
            args(&["0", "3rwx"]),
            vec!["'3rwx'", "'x'"],
        ),
        ("empty spec", args(&["0", ""]), vec!["spec ''", "empty"]),
        ("negative fd -1r", args(&["0", "-1r"]), vec!["-1r"]),
        (
            "negative fd after --",
            args(&["0", "--", "-1r"]),
            vec!["'-1r'", "negative"],
        ),
        ("backwards range 3-1r", args(&["0", "3-1r"]), vec!["'3-1r'"]),
        ("open range 3-", args(&["0", "3-"]), vec!["'3-'"]),
        ("range 3-r", args(&["0", "3-r"]), vec!["'3-r'"]),
        (
            "huge range end",
            args(&["0", "3-99999999999"]),
            vec!["'3-99999999999'"],
        ),
        (
            "unopened fd 77r",
            args(&["0", "77r"]),
            vec!["fd 77 is not open"],
        ),
        (
            "range with nothing open",
            args(&["0", "1000-1010r"]),
            vec!["1000-1010"],
        ),
        (
            "missing path",
            args(&["0", "/nonexistent/x"]),
            vec!["/nonexistent/x"],
        ),
        ("empty path :r", args(&["0", ":r"]), vec!["':r'"]),
        (
            "--edge with -b poll",
            args(&["--edge", "-b", "poll", "0", "0r"]),
            vec!["--edge", "poll"],
        ),
        (
            "--oneshot with -b select",
            args(&["--oneshot", "-b", "select", "0", "0r"]),
            vec!["--oneshot", "select"],
        ),
        ("timeout -1", args(&["-1", "0r"]), vec!["'-1'"]),
        ("timeout -0", args(&["-0", "0r"]), vec!["'-0'"]),
        ("timeout NaN", args(&["NaN", "0r"]), vec!["'NaN'"]),
        ("timeout inf", args(&["inf", "0r"]), vec!["'inf'", "'-'"]),
        ("timeout -inf", args(&["-inf", "0r"]), vec!["-inf"]),
        ("timeout 1e30", args(&["1e30", "0r"]), vec!["'1e30'", "'-'"]),
        (
            "timeout 1e400",
            args(&["1e400", "0r"]),
            vec!["'1e400'", "'-'"],
        ),
        ("timeout abc", args(&["abc", "0r"]), vec!["'abc'"]),
        ("timeout empty", args(&["", "0r"]), vec!["timeout ''"]),
        ("timeout 25d", args(&["25d", "0r"]), vec!["'25d'"]),
        (
            "timeout 2147484 (too long)",
            args(&["2147484", "0r"]),
            vec!["'2147484'"],
        ),
        (
            "timeout not UTF-8",
            vec![bad_timeout, "0r".into()],
            vec!["timeout", "UTF-8"],
        ),
        (
            "unknown backend",
            args(&["-b", "kqueue", "0", "0r"]),
            vec!["kqueue"],
        ),
        (
            "unknown format",
            args(&["--format", "xml", "0", "0r"]),
            vec!["xml"],
        ),
        (
            "unknown time style",
            args(&["--time", "bogus", "0", "0r"]),
            vec!["bogus"],
        ),
        (
            "unknown color",
            args(&["--color", "sometimes", "0", "0r"]),
            vec!["sometimes"],
        ),
        (
            "non-UTF-8 missing path",
            vec!["0".into(), bad_path],
            vec!["/nonexistent/"],
        ),
        ("no arguments", Vec::new(), vec!["TIMEOUT", "SPEC"]),
        ("TIMEOUT only", args(&["0"]), vec!["SPEC"]),
        (
            "fd too large",
            args(&["0", "99999999999r"]),
            vec!["'99999999999r'"],
        ),
        (
            "tcp: port out of range",
            args(&["0", "tcp:127.0.0.1:99999"]),
            vec!["'tcp:127.0.0.1:99999'", "port"],
        ),
        ("pid: not supported", args(&["0", "pid:1"]), vec!["'pid:1'"]),
        (
            "unknown flag",
            args(&["--bogus", "0", "0r"]),
            vec!["--bogus"],
        ),
        (
            "bench: unknown backend",
            args(&["bench", "--backends", "poll,kqueue"]),
            vec!["kqueue"],
        ),
        (
            "bench: zero fds",
            args(&["bench", "--fds", "10,0"]),
            vec!["--fds", "'0'"],
        ),
        (
            "bench: fds not a number",
            args(&["bench", "--fds", "ten"]),
            vec!["--fds", "ten"],
        ),
        (
            "bench: timeout below -1",
            args(&["bench", "--timeout", "-2"]),
            vec!["--timeout", "-2"],
        ),
        (
            "bench: zero repeats",
            args(&["bench", "--repeats", "0"]),
            vec!["--repeats"],
        ),
        (
            "bench: no such CPU",
            args(&["bench", "--cpu", "100000", "--fds", "1"]),
            vec!["--cpu 100000"],
        ),
        (
            "relay: --idle forever",
            args(&["relay", "--idle", "-", "tcp-listen:0", "tcp:127.0.0.1:1"]),
            vec!["--idle", "'-'"],
        ),
        (
            "relay: --idle 0",
            args(&["relay", "--idle", "0", "tcp-listen:0", "tcp:127.0.0.1:1"]),
            vec!["--idle", "'0'"],
        ),
        (
            "bench: CPU beyond this machine's",
            args(&["bench", "--cpu", "4095", "--fds", "1"]),
            vec!["--cpu 4095"],
        ),
    ];
    assert!(table.len() >= 24);
    // Every row runs; all failures are reported together.
    let mut bad = Vec::new();
    for (case, argv, needles) in &table {
        let out = Fdwatch::new(argv).run();
        bad.extend(usage_error_problems(case, &out, needles));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// 2. Timeouts: 0 polls once, a finite timeout is never shortened.

#[test]
fn timeout_zero_on_empty_pipe_exits_1_quickly() {
    for b in BACKENDS {
        let case = format!("timeout 0, -b {b}");
        let (r, _w) = pipe();
        let t0 = Instant::now();
        let out = Fdwatch::new(["-b", b, "--format", "json", "0", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        let wall = t0.elapsed();
        assert_eq!(code(&out), 1, "{case}: {}", stderr(&out));
        assert!(wall < Duration::from_secs(5), "{case}: took {wall:?}");
        let evs = events(&out.stdout);
        assert!(of_kind(&evs, "ready").is_empty(), "{case}: {evs:?}");
        let t = of_kind(&evs, "timeout");
        assert_eq!(t.len(), 1, "{case}: one timeout event: {evs:?}");
        assert_eq!(num(&case, t[0], "timeout"), 0.0, "{case}");
        let s = summary(&case, &evs);
        assert!(num(&case, &s, "elapsed") < 2.0, "{case}: {s}");
        assert_eq!(fionread(&r), 0, "{case}");
    }
}

#[test]
fn finite_timeout_is_never_shortened() {
    for b in BACKENDS {
        let case = format!("timeout 0.2, -b {b}");
        let (r, _w) = pipe();
        let t0 = Instant::now();
        let out = Fdwatch::new(["-b", b, "--format", "json", "0.2", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        let wall = t0.elapsed();
        assert_eq!(code(&out), 1, "{case}: {}", stderr(&out));
        assert!(
            wall >= Duration::from_millis(200),
            "{case}: returned after {wall:?}"
        );
        let evs = events(&out.stdout);
        let t = of_kind(&evs, "timeout");
        assert_eq!(t.len(), 1, "{case}: {evs:?}");
        assert_eq!(num(&case, t[0], "timeout"), 0.2, "{case}");
        let elapsed = num(&case, &summary(&case, &evs), "elapsed");
        assert!(elapsed >= 0.2, "{case}: elapsed {elapsed} < 0.2");
        assert!(elapsed < 5.0, "{case}: elapsed {elapsed}");
    }
}

// 3. Wait forever, woken by one byte that stays in the pipe.

#[test]
fn wait_forever_wakes_on_data_without_consuming_it() {
    for b in BACKENDS {
        let case = format!("wait forever, -b {b}");
        let (r, w) = pipe();
        let child = Fdwatch::new(["-b", b, "--format", "json", "-", "3r"])
            .fd(r.as_fd(), 3)
            .spawn();
        wait_blocked(child.id());
        write(&w, b"x");
        let out = child.wait_with_output().expect("wait fdwatch");
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        assert_eq!(
            ready_words(&evs, 3),
            Some(vec!["read".to_owned()]),
            "{case}: {evs:?}"
        );
        assert_eq!(fionread(&r), 1, "{case}: fdwatch consumed the byte");
        assert_eq!(read_back(&r, 1), b"x", "{case}: the byte read back");
    }
}

// 4. fd 1500: select refuses it clearly, poll and epoll watch it.

#[test]
fn fd_beyond_fd_setsize() {
    if !raise_nofile_to(1600) {
        println!("skipped: RLIMIT_NOFILE hard limit < 1600");
        return;
    }
    let (r, w) = pipe();
    write(&w, b"y");
    for b in BACKENDS {
        let case = format!("fd 1500, -b {b}");
        let out = Fdwatch::new(["-b", b, "--format", "json", "0", "1500r"])
            .fd(r.as_fd(), 1500)
            .run();
        if b == "select" || b == "pselect" {
            assert_usage_error(&case, &out, &["FD_SETSIZE", "poll", "epoll"]);
        } else {
            assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
            let evs = events(&out.stdout);
            assert_eq!(
                ready_words(&evs, 1500),
                Some(vec!["read".to_owned()]),
                "{case}: {evs:?}"
            );
        }
        assert_eq!(fionread(&r), 1, "{case}: data consumed");
    }
}

// 5. Inherited status flags are never changed, whatever the exit.

#[test]
fn inherited_status_flags_are_unchanged_on_every_exit() {
    for nonblock in [false, true] {
        let tag = if nonblock { " (O_NONBLOCK set)" } else { "" };

        // Exit 0: fd 3 readable.
        let case = format!("flags, exit 0{tag}");
        let fx = Inherited::quiet(nonblock);
        write(&fx.a_write, b"1");
        let before = fx.flags();
        let out = fx.command(&["0", "3r", "4w", "5r"]).run();
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        fx.check(&case, before, nonblock);

        // Exit 1: nothing ready.
        let case = format!("flags, exit 1{tag}");
        let fx = Inherited::quiet(nonblock);
        let before = fx.flags();
        let out = fx.command(&["0", "3r", "4w", "5r"]).run();
        assert_eq!(code(&out), 1, "{case}: {}", stderr(&out));
        fx.check(&case, before, nonblock);
        assert!(fionread(&fx.b_read) > 0, "{case}: pipe B still full");

        // Exit 2: an invalid spec after the valid ones, failing at different stages.
        let errors: [(&str, &[&str], &str); 3] = [
            (
                "unopened fd",
                &["0", "3r", "4w", "5r", "77r"],
                "fd 77 is not open",
            ),
            (
                "missing path",
                &["0", "3r", "4w", "5r", "/nonexistent/x"],
                "/nonexistent/x",
            ),
            (
                "--edge with poll",
                &["--edge", "-b", "poll", "0", "3r", "4w", "5r"],
                "--edge",
            ),
        ];
        for (what, argv, needle) in errors {
            let case = format!("flags, exit 2, {what}{tag}");
            let fx = Inherited::quiet(nonblock);
            write(&fx.a_write, b"2");
            let before = fx.flags();
            let out = fx.command(argv).run();
            assert_usage_error(&case, &out, &[needle]);
            fx.check(&case, before, nonblock);
        }

        // Closed stdout: the reader is gone before fdwatch has anything to print.
        let case = format!("flags, closed stdout{tag}");
        let fx = Inherited::quiet(nonblock);
        let before = fx.flags();
        let mut child = fx.command(&["-", "3r", "4w", "5r"]).spawn();
        drop(child.stdout.take());
        wait_blocked(child.id());
        write(&fx.a_write, b"3");
        let out = child.wait_with_output().expect("wait fdwatch");
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{case}: stderr {:?}", stderr(&out));
        fx.check(&case, before, nonblock);
        assert_eq!(fionread(&fx.a_read), 1, "{case}: data consumed");
    }
}

// 6. Output formats.

#[test]
fn json_output_has_the_documented_fields() {
    for b in BACKENDS {
        let case = format!("json fields, -b {b}");
        let (r, w) = pipe();
        write(&w, b"abc");
        let out = Fdwatch::new(["-b", b, "--format", "json", "0", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        for e in &evs {
            assert!(e["event"].is_string(), "{case}: no event name: {e}");
            assert!(e["t"].is_number(), "{case}: t is not a number: {e}");
        }
        let ready = of_kind(&evs, "ready");
        assert_eq!(ready.len(), 1, "{case}: {evs:?}");
        let e = ready[0];
        assert_eq!(e["fd"], 3, "{case}: {e}");
        assert!(
            e["what"].as_str().is_some_and(|s| s.starts_with("pipe")),
            "{case}: what: {e}"
        );
        assert!(e["kind"].is_string(), "{case}: kind: {e}");
        assert!(e["ready"].is_array(), "{case}: ready: {e}");
        assert!(
            e["raw"].as_str().is_some_and(|s| !s.is_empty()),
            "{case}: raw: {e}"
        );
        assert_eq!(e["backend"], b, "{case}: backend: {e}");
        let s = summary(&case, &evs);
        for f in ["waits", "events", "elapsed"] {
            assert!(s[f].is_number(), "{case}: summary {f}: {s}");
        }
        assert!(num(&case, &s, "waits") >= 1.0, "{case}: {s}");
        assert_eq!(num(&case, &s, "events"), 1.0, "{case}: {s}");
    }
}

#[test]
fn text_output_colors() {
    const ESC: u8 = 0x1b;
    let (r, w) = pipe();
    write(&w, b"c");
    /// (case, options, environment, whether ESC is expected)
    type ColorCase<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], bool);
    let table: [ColorCase; 6] = [
        ("default, stdout a pipe", &[], &[], false),
        (
            "--color never",
            &["--color", "never"],
            &[("CLICOLOR_FORCE", "1")],
            false,
        ),
        ("--color always", &["--color", "always"], &[], true),
        (
            "--color always, NO_COLOR",
            &["--color", "always"],
            &[("NO_COLOR", "1")],
            true,
        ),
        (
            "--color auto, CLICOLOR_FORCE=1",
            &["--color", "auto"],
            &[("CLICOLOR_FORCE", "1")],
            true,
        ),
        (
            "--color auto, NO_COLOR=1 and CLICOLOR_FORCE=1",
            &["--color", "auto"],
            &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
            false,
        ),
    ];
    for (case, opts, env, want_esc) in table {
        let mut argv = opts.to_vec();
        argv.extend(["0", "3r"]);
        let mut cmd = Fdwatch::new(&argv).fd(r.as_fd(), 3);
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        assert!(!out.stdout.is_empty(), "{case}: no output");
        assert_eq!(
            out.stdout.contains(&ESC),
            want_esc,
            "{case}: ESC in output: {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

// 7. `| head -1`: the reader leaves after one line.

/// On a terminal, colour follows the conventions: TERM=dumb and CLICOLOR=0 turn it
/// off, NO_COLOR too; a colour TERM has it. `CI` set (as on a CI runner) changes
/// nothing: anstream's reading coloured a dumb terminal there.
#[test]
fn terminal_colour_follows_the_conventions() {
    const ESC: u8 = 0x1b;
    /// (case, environment, whether ESC is expected)
    type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], bool);
    let table: [Row; 5] = [
        ("a pty, TERM=xterm", &[("TERM", "xterm")], true),
        ("a pty, TERM=dumb", &[("TERM", "dumb")], false),
        (
            "a pty, TERM=dumb, CI=true",
            &[("TERM", "dumb"), ("CI", "true")],
            false,
        ),
        (
            "a pty, CLICOLOR=0",
            &[("TERM", "xterm"), ("CLICOLOR", "0")],
            false,
        ),
        (
            "a pty, NO_COLOR=1",
            &[("TERM", "xterm"), ("NO_COLOR", "1")],
            false,
        ),
    ];
    for (case, env, want_esc) in table {
        let (r, w) = pipe();
        write(&w, b"c");
        let pty = pty();
        let mut cmd = Fdwatch::new(["0", "3r"])
            .fd(r.as_fd(), 3)
            .stdout(std::process::Stdio::from(pty.slave));
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        let out = cmd.run();
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        // The child has exited: what it wrote waits in the master (then EIO).
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = nix::unistd::read(&pty.master, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert!(!got.is_empty(), "{case}: no output on the pty");
        assert_eq!(
            got.contains(&ESC),
            want_esc,
            "{case}: ESC in output: {:?}",
            String::from_utf8_lossy(&got)
        );
    }
}

#[test]
fn closed_stdout_after_one_line_is_a_quiet_success() {
    const FIRST: i32 = 10;
    const LAST: i32 = 1009;
    if !raise_nofile_to(2100) {
        println!("skipped: RLIMIT_NOFILE hard limit < 2100");
        return;
    }
    let (r, w) = pipe();
    write(&w, b"h");
    let range = format!("{FIRST}-{LAST}r");
    let argv = ["--format", "json", "0", "3r", "4w", range.as_str()];
    let place = |mut f: Fdwatch| {
        f = f.fd(r.as_fd(), 3).fd(w.as_fd(), 4);
        for n in FIRST..=LAST {
            f = f.fd(r.as_fd(), n);
        }
        f
    };

    // The whole output is far larger than a pipe buffer, so a reader that leaves
    // early makes fdwatch's write fail for sure.
    let full = place(Fdwatch::new(argv)).run();
    assert_eq!(code(&full), 0, "head -1, full run: {}", stderr(&full));
    assert!(
        full.stdout.len() > 128 * 1024,
        "head -1: output only {} bytes, too small to fill the pipe",
        full.stdout.len()
    );

    let mut child = place(Fdwatch::new(argv)).spawn();
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("read first line");
    drop(reader);
    let first: Value = serde_json::from_str(&line).expect("head -1: first line is JSON");
    assert_eq!(first["event"], "ready", "head -1: {first}");
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(code(&out), 0, "head -1: {}", stderr(&out));
    assert!(
        stderr(&out).is_empty(),
        "head -1: stderr {:?}",
        stderr(&out)
    );
    assert_eq!(fionread(&r), 1, "head -1: data consumed");
}

// 8. -q: the exit status answers; usage errors still speak.

#[test]
fn quiet_prints_nothing_but_keeps_the_status() {
    for fmt in ["text", "json"] {
        let case = format!("-q ready, --format {fmt}");
        let (r, w) = pipe();
        write(&w, b"q");
        let out = Fdwatch::new(["-q", "--format", fmt, "0", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{case}: stdout {:?}", out.stdout);
        assert!(out.stderr.is_empty(), "{case}: stderr {}", stderr(&out));

        let case = format!("-q timeout, --format {fmt}");
        let (r, _w) = pipe();
        let out = Fdwatch::new(["-q", "--format", fmt, "0", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        assert_eq!(code(&out), 1, "{case}: {}", stderr(&out));
        assert!(out.stdout.is_empty(), "{case}: stdout {:?}", out.stdout);
        assert!(out.stderr.is_empty(), "{case}: stderr {}", stderr(&out));
    }
    let out = Fdwatch::new(["-q", "0", "0q"]).run();
    assert_usage_error("-q with a bad spec", &out, &["'0q'"]);
    let out = Fdwatch::new(["-q", "0", "77r"]).run();
    assert_usage_error("-q with an unopened fd", &out, &["fd 77 is not open"]);
    let out = Fdwatch::new(["-q", "abc", "0r"]).run();
    assert_usage_error("-q with a bad timeout", &out, &["'abc'"]);
}

// 9. -v: wait events and notes.

#[test]
fn verbose_reports_waits() {
    for b in BACKENDS {
        let case = format!("-v, -b {b}");
        let (r, w) = pipe();
        write(&w, b"v");
        let out = Fdwatch::new(["-v", "-b", b, "--format", "json", "0", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
        let evs = events(&out.stdout);
        let waits = of_kind(&evs, "wait");
        assert!(!waits.is_empty(), "{case}: no wait event: {evs:?}");
        for e in &waits {
            assert!(
                e["call"].as_str().is_some_and(|s| !s.is_empty()),
                "{case}: call: {e}"
            );
            assert!(e["blocked"].is_number(), "{case}: blocked: {e}");
            assert!(e["ret"].is_number(), "{case}: ret: {e}");
        }
        assert_eq!(waits.last().expect("wait")["ret"], 1, "{case}: {evs:?}");

        let case = format!("without -v, -b {b}");
        let out = Fdwatch::new(["-b", b, "--format", "json", "0", "3r"])
            .fd(r.as_fd(), 3)
            .run();
        let evs = events(&out.stdout);
        assert!(of_kind(&evs, "wait").is_empty(), "{case}: {evs:?}");
    }
}

#[test]
fn verbose_notes_epoll_refusing_a_regular_file() {
    let dir = TempDir::new();
    let file = dir.path("regular");
    std::fs::write(&file, b"data").expect("write file");
    let spec = file.to_str().expect("UTF-8 temp path");

    let case = "-v regular file, epoll";
    let out = Fdwatch::new(["-v", "-b", "epoll", "--format", "json", "0", spec]).run();
    assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    let notes = of_kind(&evs, "note");
    assert!(
        notes.iter().any(|n| n["message"]
            .as_str()
            .is_some_and(|m| m.contains("epoll") && m.contains("refused"))),
        "{case}: no note about epoll refusing the file: {evs:?}"
    );
    let ready = of_kind(&evs, "ready");
    assert_eq!(ready.len(), 1, "{case}: {evs:?}");
    assert!(
        ready[0]["ready"]
            .as_array()
            .is_some_and(|a| a.iter().any(|w| w == "read")),
        "{case}: {evs:?}"
    );

    let case = "regular file, epoll, without -v";
    let out = Fdwatch::new(["-b", "epoll", "--format", "json", "0", spec]).run();
    assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    assert!(of_kind(&evs, "note").is_empty(), "{case}: {evs:?}");
}

/// Usage errors that help: each subcommand's missing arguments are its own,
/// a misspelled subcommand or option gets clap's suggestion as a `tip:` line, and
/// there is still exactly one error line, exit 2.
#[test]
fn usage_errors_name_their_own_arguments_and_suggest() {
    // (case, argv, what the error line names, what the tip names).
    type Row<'a> = (&'a str, &'a [&'a str], &'a [&'a str], Option<&'a str>);
    let table: &[Row] = &[
        (
            "relay alone",
            &["relay"],
            &["<LISTEN>", "<TARGET>", "fdwatch relay"],
            None,
        ),
        (
            "relay without TARGET",
            &["relay", "tcp-listen:1"],
            &["<TARGET>", "fdwatch relay"],
            None,
        ),
        (
            "send alone",
            &["send"],
            &["<ADDRESS>", "fdwatch send"],
            None,
        ),
        (
            "bench --fds without a value",
            &["bench", "--fds"],
            &["--fds"],
            None,
        ),
        (
            "misspelled subcommand",
            &["sned", "tcp:127.0.0.1:1"],
            &["'sned'"],
            Some("'send'"),
        ),
        (
            "misspelled option",
            &["--monitr", "0", "0r"],
            &["'--monitr'"],
            Some("'--monitor'"),
        ),
        (
            "misspelled subcommand option",
            &["bench", "--fdz", "3"],
            &["'--fdz'"],
            Some("'--fds'"),
        ),
    ];
    let mut bad = Vec::new();
    for &(case, argv, needles, tip) in table {
        let out = Fdwatch::new(argv).run();
        let err = stderr(&out);
        let (first, rest) = err.split_once('\n').unwrap_or((&err, ""));
        // The error line alone is the one-line usage error; the tip follows it.
        let one = Output {
            status: out.status,
            stdout: out.stdout.clone(),
            stderr: format!("{first}\n").into_bytes(),
        };
        bad.extend(usage_error_problems(case, &one, needles));
        if (case.starts_with("relay") || case.starts_with("send")) && err.contains("TIMEOUT") {
            bad.push(format!("{case}: names watch mode's arguments: {err:?}"));
        }
        match tip {
            Some(t) => {
                let want = "tip: a similar";
                if !(rest.starts_with(want) && rest.contains(t) && rest.matches('\n').count() == 1)
                {
                    bad.push(format!("{case}: want one tip line naming {t}: {err:?}"));
                }
            }
            None if !rest.is_empty() => bad.push(format!("{case}: more than one line: {err:?}")),
            None => {}
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// A refused connect names the target as written and the address tried.
#[test]
fn refused_connect_names_the_target_and_address() {
    let port = free_port();
    let spec = format!("tcp:127.0.0.1:{port}");
    let out = Fdwatch::new(["--format", "json", "1", &spec]).run();
    let evs = events(&out.stdout);
    let c = of_kind(&evs, "connect");
    assert_eq!(c.len(), 1, "{evs:?}; {}", stderr(&out));
    assert_eq!(c[0]["result"], "ECONNREFUSED", "{}", c[0]);
    assert_eq!(c[0]["target"], spec, "{}", c[0]);
    assert_eq!(c[0]["addr"], format!("127.0.0.1:{port}"), "{}", c[0]);
    let text = Fdwatch::new(["1", &spec]).run();
    let line = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        line.contains(&format!("connect to {spec} (127.0.0.1:{port}) failed")),
        "{line}"
    );
}

/// `--version` gives the version and, built from a git checkout, the commit; `-V` the
/// version alone.
#[test]
fn version_names_the_commit_when_known() {
    let out = Fdwatch::new(["--version"]).run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let version = format!("fdwatch {}", env!("CARGO_PKG_VERSION"));
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .counted_output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(commit) => assert_eq!(text, format!("{version} (commit {commit})")),
        None => assert_eq!(text, version),
    }
    let short = Fdwatch::new(["-V"]).run();
    assert_eq!(String::from_utf8_lossy(&short.stdout).trim(), version);
}

/// The hex dump and the bench chart fit the terminal's width: COLUMNS, then the tty's
/// size, else 80. At COLUMNS=60 no line is wider than 60 columns (long lines fold
/// under the text column); through a pipe with no COLUMNS the hex rows fit 80 and the
/// other lines stay whole, for grep.
#[test]
fn output_fits_the_terminal_width() {
    let widest = |out: &[u8]| {
        String::from_utf8_lossy(out)
            .lines()
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0)
    };
    let data: Vec<u8> = (0u8..100).collect();
    let hex_run = |env: Option<&str>| {
        let (r, w) = pipe();
        write(&w, &data);
        drop(w);
        let mut f =
            Fdwatch::new(["-m", "--read=hex", "--color", "never", "2", "3r"]).fd(r.as_fd(), 3);
        if let Some(c) = env {
            f = f.env("COLUMNS", c);
        }
        let out = f.run();
        assert_eq!(code(&out), 0, "--read=hex: {}", stderr(&out));
        out.stdout
    };
    let narrow = hex_run(Some("60"));
    let text = String::from_utf8_lossy(&narrow);
    assert!(text.contains("00000000  00 01 02 03"), "{text}");
    assert!(widest(&narrow) <= 60, "COLUMNS=60, --read=hex:\n{text}");

    let piped = hex_run(None);
    let text = String::from_utf8_lossy(&piped);
    assert!(
        widest(&piped) > 60,
        "unfolded lines through a pipe:\n{text}"
    );
    let rows: Vec<&str> = text.lines().filter(|l| l.contains("  |")).collect();
    assert!(!rows.is_empty(), "{text}");
    assert!(
        rows.iter().all(|r| r.chars().count() <= 80),
        "hex rows fit 80:\n{text}"
    );

    let bench = Fdwatch::new([
        "bench",
        "--backends",
        "none,poll",
        "--fds",
        "10,100",
        "--rounds",
        "20",
        "--repeats",
        "1",
        "--color",
        "never",
    ])
    .env("COLUMNS", "60")
    .run();
    assert_eq!(code(&bench), 0, "bench: {}", stderr(&bench));
    let text = String::from_utf8_lossy(&bench.stdout);
    assert!(text.contains('│') && text.contains('├'), "a chart: {text}");
    assert!(widest(&bench.stdout) <= 60, "COLUMNS=60, bench:\n{text}");
}

/// Without COLUMNS, a terminal's own size decides: a pty 60 columns wide gets lines of
/// at most 60.
#[test]
fn a_terminal_s_size_is_its_width() {
    let (r, w) = pipe();
    write(&w, &[b'x'; 100]);
    drop(w);
    let pty = pty();
    let ws = nix::libc::winsize {
        ws_row: 24,
        ws_col: 60,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize, which outlives the call.
    let rc = unsafe { nix::libc::ioctl(pty.master.as_raw_fd(), nix::libc::TIOCSWINSZ, &ws) };
    assert_eq!(rc, 0, "TIOCSWINSZ");
    let out = Fdwatch::new(["-m", "--read=hex", "--color", "never", "2", "3r"])
        .fd(r.as_fd(), 3)
        .stdout(std::process::Stdio::from(pty.slave))
        .run();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = nix::unistd::read(&pty.master, &mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("|xxxx|"), "hex rows: {text}");
    for l in text.lines() {
        assert!(
            l.trim_end_matches('\r').chars().count() <= 60,
            "wider than the pty: {l:?}\n{text}"
        );
    }
}
