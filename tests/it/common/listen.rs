//! A listener started on a free loopback port, retried should another socket take
//! the port first.

use std::io::Read;
use std::process::Child;
use std::time::Duration;

use super::{Fdwatch, WATCHDOG, Watchdog, free_port, waiter_blocked_or_exited};

/// A watcher of `tcp-listen:127.0.0.1:PORT` (`f(spec)` builds it), blocked in its wait.
/// The free port is picked just before (as tests/it/sockets.rs does); should another socket
/// take it in between (EADDRINUSE), another port is tried.
pub fn listen_tcp(case: &str, f: impl Fn(&str) -> Fdwatch) -> (Child, Watchdog, u16) {
    listen_tcp_for(case, f, WATCHDOG)
}

/// `listen_tcp` with the watchdog's limit chosen (long runs).
pub fn listen_tcp_for(
    case: &str,
    f: impl Fn(&str) -> Fdwatch,
    limit: Duration,
) -> (Child, Watchdog, u16) {
    let ((child, dog), port) = listen_on_free_port(
        case,
        |port| {
            let child = f(&format!("tcp-listen:127.0.0.1:{port}")).spawn();
            let dog = Watchdog::new(&child, limit, case);
            (child, dog)
        },
        the_child_waits,
    );
    (child, dog, port)
}

/// For `listen_on_free_port`: the child (under its watchdog) is what waits.
pub fn the_child_waits(started: &mut (Child, Watchdog)) -> (&mut Child, Option<u32>) {
    let pid = started.0.id();
    (&mut started.0, Some(pid))
}

/// The general form of `listen_tcp`: `start(port)` starts a listener on a free loopback
/// port (whatever it returns: a child and its watchdog, a traced run...), and
/// `parts(started)` gives the child the test reaps and the pid that blocks in the wait
/// (`waiter_blocked_or_exited`). Returns once that pid waits; a start that exits naming
/// EADDRINUSE (another socket took the port first) is retried on another port.
pub fn listen_on_free_port<T>(
    case: &str,
    start: impl Fn(u16) -> T,
    parts: impl Fn(&mut T) -> (&mut Child, Option<u32>),
) -> (T, u16) {
    for _ in 0..5 {
        let port = free_port();
        let mut started = start(port);
        let (child, waiter) = parts(&mut started);
        match waiter_blocked_or_exited(case, child, waiter) {
            None => return (started, port),
            Some(st) => {
                let mut err = String::new();
                let _ = child
                    .stderr
                    .take()
                    .expect("stderr")
                    .read_to_string(&mut err);
                assert!(
                    err.contains("EADDRINUSE"),
                    "{case}: fdwatch exited at start ({st}): {err}"
                );
            }
        }
    }
    panic!("{case}: no free port after 5 tries");
}
