//! Errors tell the truth (usage errors quote the argument as
//! typed, the option a negative value belongs to is named), and `raw` is exactly what
//! the wait call returned, never registration flags such as EPOLLET or EPOLLONESHOT.

use crate::common::*;

use std::os::fd::AsFd;

use serde_json::Value;

#[test]
fn usage_errors_quote_the_argument_as_typed() {
    let dir = TempDir::new();
    // A path that cannot be bound: a directory that does not exist.
    let unbindable = format!("unix-listen:{}", dir.path("no/such/dir/x.sock").display());
    let rows: Vec<(&str, Vec<String>, String, &str)> = vec![
        // (case, argv, the argument as typed, what the implied form would add)
        (
            "a path whose suffix is no letter list",
            vec!["0".into(), "/dev/null:rwx".into()],
            "'/dev/null:rwx'".into(),
            "/dev/null:rwx:r",
        ),
        (
            "unix-listen without letters",
            vec!["0".into(), unbindable.clone()],
            format!("'{unbindable}'"),
            "/re'",
        ),
    ];
    for (case, argv, typed, implied) in rows {
        let out = run(case, Fdwatch::new(&argv));
        assert_one_line_error(case, &out, &[&typed]);
        let err = stderr(&out);
        assert!(
            !err.contains(implied),
            "{case}: quotes a form never typed: {err:?}"
        );
    }
}

#[test]
fn a_negative_option_value_names_its_option() {
    let rows: &[(&str, &[&str], &[&str])] = &[
        (
            "send --delay -1",
            &["send", "tcp:127.0.0.1:1", "--delay", "-1"],
            &["--delay", "'-1'"],
        ),
        (
            "watch --count -1",
            &["-c", "-1", "0", "0r"],
            &["--count", "'-1'"],
        ),
        (
            "relay --idle -3",
            &[
                "relay",
                "--idle",
                "-3",
                "tcp-listen:127.0.0.1:1",
                "tcp:127.0.0.1:2",
            ],
            &["--idle", "'-3'"],
        ),
    ];
    for (case, argv, needles) in rows {
        let out = run(case, Fdwatch::new(*argv));
        assert_one_line_error(case, &out, needles);
        let err = stderr(&out);
        assert!(!err.contains("fd number"), "{case}: not an fd: {err:?}");
    }
}

/// The raw words of every `ready` event.
fn raws(evs: &[Value]) -> Vec<String> {
    of_kind(evs, "ready")
        .iter()
        .map(|e| e["raw"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn raw_flags_are_what_epoll_wait_returned() {
    // Monitor mode registers edge-triggered internally; --edge and --oneshot are the
    // user's registration modes. None of them is something epoll_wait returns.
    for extra in [&[][..], &["--edge"][..], &["--oneshot"][..]] {
        let case = format!("epoll -m {extra:?}");
        let (r, w) = pipe();
        write(&w, b"abc");
        drop(w);
        let mut argv = vec!["-m", "-v", "--format", "json"];
        argv.extend(extra);
        argv.extend(["1", "3r"]);
        let out = run(&case, Fdwatch::new(&argv).fd(r.as_fd(), 3));
        let evs = events(&out.stdout);
        let raw = raws(&evs);
        assert!(!raw.is_empty(), "{case}: no ready event: {evs:?}");
        for x in &raw {
            assert!(
                !x.contains("EPOLLET") && !x.contains("EPOLLONESHOT"),
                "{case}: raw holds a registration flag: {x}"
            );
            assert!(x.starts_with("EPOLL"), "{case}: {x}");
        }
        // -v says how monitor mode registers (only where fdwatch chose it).
        let notes: Vec<String> = of_kind(&evs, "note")
            .iter()
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        let says_edge = notes
            .iter()
            .any(|m| m.contains("EPOLLET") && m.contains("edge"));
        assert_eq!(says_edge, extra.is_empty(), "{case}: notes {notes:?}");
    }
}
