//! The smaller edges: a kernel thread explained as one, `--help` and
//! `--generate` to a full stdout, arguments that are not UTF-8 quoted as `\xNN` in every
//! message, one message for a socket path that is not UTF-8 in watch mode, `send` and
//! the relay, signals that cannot be caught or blocked refused, `--mask TERM` keeping
//! SIGTERM blocked in monitor mode too, and `unix-listen:` on a file that is no socket.
//!
//! Synchronization is on process exit, /proc (a wait, a pending signal; 1 ms polls under
//! a deadline) and fdwatch's JSON lines; no sleeps.

use crate::common::*;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::libc;

/// A kernel thread of this system: kthreadd (pid 2) or one of its children, found as
/// ps finds them (no executable, an empty command line). None inside a pid namespace
/// that shows none.
fn kernel_thread() -> Option<String> {
    let dir = std::fs::read_dir("/proc").ok()?;
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    pids.into_iter()
        .find(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok());
            let no_exe = std::fs::read_link(format!("/proc/{pid}/exe"))
                .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
            let no_cmdline =
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.is_empty());
            (*pid == 2 || ppid == Some(2)) && no_exe && no_cmdline
        })
        .map(|p| p.to_string())
}

#[test]
fn a_kernel_thread_is_a_kernel_thread() {
    let Some(pid) = kernel_thread() else {
        eprintln!("no kernel thread visible here (a pid namespace?): nothing to check");
        return;
    };
    let spec = format!("pid:{pid}");
    let case = format!("{spec}, json");
    let out = run(&case, Fdwatch::new(["--format", "json", &spec]));
    assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    let b = of_kind(&evs, "blocked");
    assert!(!b.is_empty(), "{case}: {evs:?}");
    for t in &b {
        assert_eq!(t["note"], "a kernel thread", "{case}: {t}");
        assert!(t["call"].is_null(), "{case}: no call: {t}");
        assert_eq!(t["fds"], serde_json::json!([]), "{case}: no fds: {t}");
    }
    let case = format!("{spec}, text");
    let out = run(&case, Fdwatch::new([&spec]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("]: a kernel thread"), "{case}: {text}");
    assert!(!text.contains("blocked in"), "{case}: {text}");
    let case = format!("pipeline --once {pid}");
    let out = run(
        &case,
        Fdwatch::new(["pipeline", "--once", "--format", "json", &pid]),
    );
    assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
    let evs = events(&out.stdout);
    let p = of_kind(&evs, "pipeline");
    assert_eq!(p.len(), 1, "{case}: {evs:?}");
    assert_eq!(
        p[0]["processes"][0]["call"], "a kernel thread",
        "{case}: {}",
        p[0]
    );
}

/// Help, version and the generated files to /dev/full: status 2 and the line a run's
/// full stdout gets; to a reader that left, a quiet 0.
#[test]
fn help_and_generate_to_a_full_stdout() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full")
    };
    let rows: &[(&[&str], &str)] = &[
        (&["--help"], "--help"),
        (&["-h"], "--help"),
        (&["--version"], "--version"),
        (&["relay", "--help"], "--help"),
        (&["send", "-h"], "--help"),
        (&["--generate", "man"], "--generate man"),
        (&["--generate", "complete-bash"], "--generate complete-bash"),
    ];
    for (argv, what) in rows {
        let case = format!("{} > /dev/full", argv.join(" "));
        let out = run(&case, Fdwatch::new(*argv).stdout(full()));
        assert_one_line_error(
            &case,
            &out,
            &[&format!(
                "{what}: stdout: write: No space left on device (ENOSPC)"
            )],
        );
        // A reader that left: EPIPE, quiet.
        let case = format!("{} | (exits)", argv.join(" "));
        let (r, w) = pipe();
        drop(r);
        let out = run(&case, Fdwatch::new(*argv).stdout(w));
        assert_eq!(exit_code(&case, &out), 0, "{case}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{case}: {}", stderr(&out));
    }
}

/// `a\xffb` and the like, as bytes.
fn bytes(b: &[u8]) -> OsString {
    OsStr::from_bytes(b).to_owned()
}

/// Every message that echoes an argument shows its bytes that are not UTF-8 as `\xNN`,
/// never as U+FFFD, and names where it was typed.
#[test]
fn arguments_not_utf8_are_quoted_as_bytes() {
    let x = bytes(b"a\xffb");
    let s = |t: &str| OsString::from(t);
    let cat = |a: &str, b: &OsStr| {
        let mut o = OsString::from(a);
        o.push(b);
        o
    };
    let rows: Vec<(Vec<OsString>, Vec<&str>)> = vec![
        (vec![x.clone(), s("0r")], vec!["timeout 'a\\xffb'"]),
        (vec![s("0"), x.clone()], vec!["spec 'a\\xffb'"]),
        (
            vec![s("--interval"), x.clone(), s("0"), s("0r")],
            vec!["'a\\xffb' for '--interval <DUR>'"],
        ),
        (
            vec![cat("--interval=", &x), s("0"), s("0r")],
            vec!["'a\\xffb' for '--interval <DUR>'"],
        ),
        (
            vec![s("--signals"), x.clone(), s("0"), s("0r")],
            vec!["'a\\xffb' for '--signals <LIST>'"],
        ),
        (
            vec![s("-b"), x.clone(), s("0"), s("0r")],
            vec!["'a\\xffb' for '--backend <BACKEND>'"],
        ),
        (vec![cat("--", &x), s("0"), s("0r")], vec!["'--a\\xffb'"]),
        (
            vec![s("send"), s("--data"), x.clone(), s("tcp:127.0.0.1:1")],
            vec!["'a\\xffb' for '--data <STR>'"],
        ),
        (
            vec![
                s("relay"),
                s("--idle"),
                x.clone(),
                s("tcp-listen:1"),
                s("tcp:127.0.0.1:1"),
            ],
            vec!["'a\\xffb' for '--idle <DUR>'"],
        ),
        (
            vec![s("bench"), s("--fds"), x.clone()],
            vec!["'a\\xffb' for '--fds <LIST>'"],
        ),
        (vec![s("pipeline"), x.clone()], vec!["'a\\xffb'"]),
        (
            vec![s("relay"), x.clone(), s("tcp:127.0.0.1:1")],
            vec!["relay LISTEN 'a\\xffb'"],
        ),
        (vec![s("send"), x.clone()], vec!["send: address 'a\\xffb'"]),
    ];
    for (argv, needles) in rows {
        let case = format!("{argv:?}");
        let out = run(&case, Fdwatch::new(&argv));
        assert_one_line_error(&case, &out, &needles);
        assert!(
            !stderr(&out).contains('\u{fffd}'),
            "{case}: {}",
            stderr(&out)
        );
    }
}

/// A socket path that is not UTF-8: the same message in watch mode, `send` and the
/// relay (each with its command's prefix), for connect and listen addresses.
#[test]
fn one_message_for_a_socket_path_not_utf8() {
    let unix = bytes(b"unix:/tmp/a\xffb.sock");
    let listen = bytes(b"unix-listen:/tmp/a\xffb.sock");
    let tcp = bytes(b"tcp:a\xff:1");
    let why = "socket addresses must be valid UTF-8";
    let s = |t: &str| OsString::from(t);
    let rows: Vec<(Vec<OsString>, String)> = vec![
        (
            vec![s("0"), unix.clone()],
            "spec 'unix:/tmp/a\\xffb.sock'".into(),
        ),
        (
            vec![s("0"), listen.clone()],
            "spec 'unix-listen:/tmp/a\\xffb.sock'".into(),
        ),
        (vec![s("0"), tcp.clone()], "spec 'tcp:a\\xff:1'".into()),
        (
            vec![s("send"), unix.clone()],
            "send: spec 'unix:/tmp/a\\xffb.sock'".into(),
        ),
        (
            vec![s("send"), tcp.clone()],
            "send: spec 'tcp:a\\xff:1'".into(),
        ),
        (
            vec![s("relay"), listen.clone(), s("tcp:127.0.0.1:1")],
            "relay LISTEN: spec 'unix-listen:/tmp/a\\xffb.sock'".into(),
        ),
        (
            vec![s("relay"), s("tcp-listen:127.0.0.1:0"), unix.clone()],
            "relay TARGET: spec 'unix:/tmp/a\\xffb.sock'".into(),
        ),
    ];
    for (argv, quoted) in rows {
        let case = format!("{argv:?}");
        let out = run(&case, Fdwatch::new(&argv));
        assert_one_line_error(&case, &out, &[&format!("{quoted}: {why}")]);
    }
}

/// Signals that cannot be caught (`--signals`) or blocked (`--mask`), the C library's
/// own 32 and 33, and one signal in both lists: usage errors saying why.
#[test]
fn signals_that_cannot_be_used_are_usage_errors() {
    let rows: &[(&[&str], &[&str])] = &[
        (
            &["--signals", "32"],
            &["'32'", "--signals", "reserved by the C library"],
        ),
        (
            &["--signals", "USR1,33"],
            &["'33'", "reserved by the C library"],
        ),
        (&["--signals", "KILL"], &["'KILL'", "cannot be caught"]),
        (&["--signals", "SEGV"], &["'SEGV'", "cannot be caught"]),
        (
            &["--mask", "33"],
            &["'33'", "--mask", "reserved by the C library"],
        ),
        (&["--mask", "STOP"], &["'STOP'", "cannot be blocked"]),
        (
            &["--signals", "USR1", "--mask", "usr1"],
            &["USR1", "--signals and --mask"],
        ),
    ];
    for (opts, needles) in rows {
        for monitor in [false, true] {
            let mut argv: Vec<&str> = opts.to_vec();
            if monitor {
                argv.push("-m");
            }
            argv.extend(["0", "0r"]);
            let case = argv.join(" ");
            let out = run(&case, Fdwatch::new(&argv));
            assert_one_line_error(&case, &out, needles);
        }
    }
}

/// Whether `signo` is pending for `pid` (blocked, not taken).
fn pending(pid: u32, signo: i32) -> bool {
    let bit = 1u64 << (signo - 1);
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .any(|m| m & bit != 0)
}

/// `--mask TERM` keeps SIGTERM blocked through the wait in one-shot and in monitor mode
/// (where it would otherwise end the run): the run goes on until its fd hangs up, and
/// the signal is reported pending. Every backend.
#[test]
fn mask_term_keeps_sigterm_blocked_in_either_mode() {
    each_backend(&BACKENDS, |b| {
        for mode in ["-m", "one-shot"] {
            let case = format!("-b {b} {mode} --mask TERM");
            let (r, w) = pipe();
            let mut argv = vec!["-b", b, "--mask", "TERM", "--format", "json"];
            if mode == "-m" {
                argv.push("-m");
            }
            argv.extend(["20", "0r"]);
            let mut f = Fdwatch::new(&argv).stdin(r).into_command();
            let mut child = f
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .counted_spawn()
                .expect("spawn");
            let _dog = Watchdog::new(&child, WATCHDOG, &case);
            blocked(child.id(), &case);
            sigterm(&child);
            let deadline = Instant::now() + Duration::from_secs(10);
            while !pending(child.id(), libc::SIGTERM) {
                assert!(
                    child.try_wait().expect("try_wait").is_none(),
                    "{case}: SIGTERM was not kept blocked"
                );
                assert!(Instant::now() < deadline, "{case}: SIGTERM never pending");
                std::thread::sleep(Duration::from_millis(1));
            }
            // The fd hangs up: the run ends by it, not by the signal.
            drop(w);
            let out = child.wait_with_output().expect("wait");
            assert_eq!(out.status.signal(), None, "{case}: {:?}", out.status);
            assert_eq!(out.status.code(), Some(0), "{case}: {}", stderr(&out));
            let evs = events(&out.stdout);
            let sig = of_kind(&evs, "signal");
            assert_eq!(sig.len(), 1, "{case}: {evs:?}");
            assert_eq!(sig[0]["name"], "TERM", "{case}: {}", sig[0]);
            assert_eq!(sig[0]["pending"], true, "{case}: {}", sig[0]);
        }
    });
}

/// `unix-listen:` on a path that exists and is no socket says what is there (not
/// EADDRINUSE, which reads as "someone listens"), in watch mode and the relay; the file
/// is left alone.
#[test]
fn unix_listen_on_a_file_that_is_no_socket() {
    let dir = TempDir::new();
    let file = dir.path("plain");
    std::fs::write(&file, b"keep me").expect("write");
    let fifo = dir.fifo("fifo");
    let sub = dir.path("sub");
    std::fs::create_dir(&sub).expect("mkdir");
    for (path, kind) in [
        (&file, "a regular file"),
        (&fifo, "a FIFO"),
        (&sub, "a directory"),
    ] {
        let spec = format!("unix-listen:{}", path.display());
        let said = format!("{} exists and is {kind}, not a socket", path.display());
        let out = run(&spec, Fdwatch::new(["0", &spec]));
        assert_one_line_error(&spec, &out, &[&format!("spec '{spec}'"), &said]);
        let case = format!("relay {spec}");
        let out = run(&case, Fdwatch::new(["relay", &spec, "tcp:127.0.0.1:1"]));
        assert_one_line_error(&case, &out, &["relay LISTEN", &said]);
    }
    assert_eq!(std::fs::read(&file).expect("read"), b"keep me");
}
