//! `fdwatch bench` (fdwatch-bench(1)): it runs, its JSON rows carry ref_pingpong's
//! fields, select rows stop at FD_SETSIZE, wake mode uses a writer process, and nothing
//! it forks outlives it. Tiny N and fixed rounds: these tests check behaviour, never
//! speed.

use crate::common::*;

use std::io::Read;
use std::os::fd::AsFd;
use std::time::Duration;

use serde_json::Value;

const FIELDS: &[&str] = &[
    "backend",
    "mode",
    "fds",
    "active",
    "rounds",
    "repeats",
    "timeout_ms",
    "pick",
    "cpu",
    "ns_per_event",
    "ns_min",
    "ns_max",
    "events_per_s",
];

/// `fdwatch bench` with these space-separated arguments.
fn bench(args: &str) -> Fdwatch {
    Fdwatch::new(std::iter::once("bench").chain(args.split_whitespace()))
}

fn rows(case: &str, out: &std::process::Output) -> Vec<Value> {
    assert_eq!(code(out), 0, "{case}: stderr {}", stderr(out));
    events(&out.stdout)
}

/// Checks a measured row's fields and their consistency.
fn check_measured(case: &str, r: &Value) {
    for f in FIELDS {
        assert!(r.get(f).is_some(), "{case}: no field {f}: {r}");
    }
    assert_eq!(r["impl"], "fdwatch", "{case}: {r}");
    assert_eq!(r["pick"], "rotate", "{case}: {r}");
    let (med, lo, hi) = (
        num(case, r, "ns_per_event"),
        num(case, r, "ns_min"),
        num(case, r, "ns_max"),
    );
    assert!(
        lo > 0.0 && lo <= med && med <= hi,
        "{case}: min/median/max {r}"
    );
    let eps = num(case, r, "events_per_s");
    assert!(
        (eps * med / 1e9 - 1.0).abs() < 1e-3,
        "{case}: events_per_s is not 1e9/ns_per_event: {r}"
    );
}

#[test]
fn json_rows_for_every_backend_and_n() {
    let case = "bench json";
    let out = bench("--fds 4,20 --active 3 --rounds 40 --repeats 3 --format json").run();
    let rows = rows(case, &out);
    let backends = ["none", "select", "pselect", "poll", "ppoll", "epoll"];
    // Rows come N by N, backends in the default order.
    let want: Vec<(i64, &str)> = [4, 20]
        .into_iter()
        .flat_map(|n| backends.iter().map(move |&b| (n, b)))
        .collect();
    let got: Vec<(i64, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["fds"].as_i64().unwrap_or(-1),
                r["backend"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(got, want, "{case}: rows");
    for r in &rows {
        check_measured(case, r);
        assert_eq!(r["mode"], "same", "{case}: {r}");
        assert_eq!(r["active"], 3, "{case}: {r}");
        assert_eq!(r["rounds"], 40, "{case}: {r}");
        assert_eq!(r["repeats"], 3, "{case}: {r}");
        assert_eq!(r["timeout_ms"], -1, "{case}: {r}");
    }
}

#[test]
fn active_is_capped_at_n_and_timeout_zero_is_recorded() {
    let case = "bench --active 50 --fds 5,50 --timeout 0";
    let out = bench("--backends poll,epoll --fds 5,50 --active 50 --timeout 0 --rounds 30 --repeats 1 --format json")
    .run();
    let rows = rows(case, &out);
    assert_eq!(rows.len(), 4, "{case}: {rows:?}");
    for r in &rows {
        check_measured(case, r);
        let n = r["fds"].as_u64().expect("fds");
        assert_eq!(r["active"], n.min(50), "{case}: {r}");
        assert_eq!(r["timeout_ms"], 0, "{case}: {r}");
    }
}

/// K active pipes out of N, so a K above every N is a usage error.
#[test]
fn active_above_every_n_is_refused() {
    let case = "bench --active 50 --fds 5";
    let out = bench("--fds 5,10 --active 50 --rounds 1 --repeats 1").run();
    assert_eq!(out.status.code(), Some(2), "{case}: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{case}: {err}");
    assert!(
        err.contains("--active 50") && err.contains("--fds"),
        "{case}: {err}"
    );
    assert!(out.stdout.is_empty(), "{case}: nothing measured: {out:?}");
}

#[test]
fn select_rows_stop_at_fd_setsize() {
    let case = "bench select beyond FD_SETSIZE";
    let out = bench(
        "--backends select,pselect,poll --fds 1021,1100 --rounds 20 --repeats 1 --format json",
    )
    .only_placed_fds()
    .run();
    let rows = rows(case, &out);
    assert_eq!(rows.len(), 6, "{case}: {rows:?}");
    for r in &rows {
        let (b, n) = (r["backend"].as_str().unwrap_or("?"), r["fds"].as_i64());
        let refused = r["refused"].as_str();
        let fd_limit = refused.is_some_and(|w| w.contains("RLIMIT_NOFILE"));
        if fd_limit {
            // A machine whose hard fd limit cannot hold the pipes: said, not hidden.
            eprintln!("{case}: {b} N={n:?} refused here: {r}");
            continue;
        }
        match (b, n) {
            ("select" | "pselect", Some(1100)) => {
                let why = refused.unwrap_or_else(|| panic!("{case}: not refused: {r}"));
                assert!(why.contains("FD_SETSIZE"), "{case}: {r}");
                assert_eq!(r["mode"], "same", "{case}: {r}");
                assert_eq!(r["active"], 10, "{case}: {r}");
                assert!(r.get("ns_per_event").is_none(), "{case}: {r}");
            }
            // N = 1021 uses fds 3..=1023: it fits only because the read ends are packed low.
            _ => check_measured(case, r),
        }
    }
}

#[test]
fn wake_mode_uses_a_writer_process_and_leaves_no_process_behind() {
    let case = "bench --wake";
    // Every process fdwatch forks inherits fd 3; EOF on its other end means all are gone.
    let (alive_r, alive_w) = pipe();
    let mut child = bench("--wake --backends none,select,poll,epoll --fds 8 --active 2 --rounds 30 --repeats 2 --format json")
    .fd(alive_w.as_fd(), 3)
    .spawn();
    drop(alive_w);
    let dog = Watchdog::new(&child, Duration::from_secs(60), case);
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_end(&mut stdout)
        .expect("read stdout");
    let status = child.wait().expect("wait");
    drop(dog);
    assert!(status.success(), "{case}: {status:?}");
    let rows = events(&stdout);
    assert_eq!(rows.len(), 4, "{case}: {rows:?}");
    for r in &rows {
        check_measured(case, r);
        assert_eq!(r["mode"], "wake", "{case}: {r}");
    }
    // Blocks until every holder and the writer has exited (the watchdog above bounds
    // fdwatch itself; a leftover would hang here, so bound this read too).
    let mut f = std::fs::File::from(alive_r);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = tx.send(f.read_to_end(&mut rest).map(|_| rest.len()));
    });
    let left = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{case}: a process forked by fdwatch bench outlived it"));
    assert_eq!(left.expect("read"), 0);
}

#[test]
fn cpu_pinning_is_recorded() {
    let case = "bench --cpu 0";
    let out = bench("--cpu 0 --backends epoll --fds 3 --rounds 20 --repeats 1 --format json").run();
    let rows = rows(case, &out);
    assert_eq!(rows.len(), 1, "{case}: {rows:?}");
    check_measured(case, &rows[0]);
    assert_eq!(rows[0]["cpu"], 0, "{case}: {}", rows[0]);
}

#[test]
fn text_output_has_a_table_and_a_bar_per_row() {
    let case = "bench text";
    let out =
        bench("--backends select,epoll --fds 3,1100 --rounds 20 --repeats 1 --color never").run();
    assert_eq!(code(&out), 0, "{case}: {}", stderr(&out));
    assert!(
        stderr(&out).is_empty(),
        "{case}: progress goes to a terminal only: {}",
        stderr(&out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "{case}: --color never: {text}");
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.split_whitespace().collect::<Vec<_>>() == ["N", "select", "epoll"])
        .unwrap_or_else(|| panic!("{case}: no table header: {text}"));
    let cells = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let r3 = cells(lines[header + 1]);
    let r1100 = cells(lines[header + 2]);
    assert_eq!(r3[0], "3", "{case}: {text}");
    assert!(
        r3[1..]
            .iter()
            .all(|c| c.replace(',', "").parse::<u64>().is_ok()),
        "{case}: {text}"
    );
    assert!(
        r1100[0] == "1100" && r1100[1] == "refused",
        "{case}: {text}"
    );
    assert!(
        text.contains("FD_SETSIZE"),
        "{case}: the refusal says why: {text}"
    );
    assert!(text.contains("log scale"), "{case}: {text}");
    // One chart line per (backend, N): a bar and the median, or "refused".
    let bars: Vec<&&str> = lines
        .iter()
        // A bar may be shorter than one full block (a value just above a decade).
        .filter(|l| l.contains(" │"))
        .collect();
    assert_eq!(bars.len(), 4, "{case}: {text}");
    assert!(
        bars[0].starts_with("select") && bars[2].starts_with("epoll"),
        "{case}: {text}"
    );
}
