//! Test helpers shared by every module of the test binary: real kernel objects
//! (`fds`, `net`), the real binary with fds placed at chosen numbers (`fdwatch`, under
//! strace: `strace`), its JSON Lines output parsed (`events`, and read with deadlines:
//! `timed`), other processes watched through /proc (`process`, `watchdog`), listeners on
//! free ports (`listen`), and what the test process holds for all its tests: its forks
//! and its fd limit (`process_wide`).

mod events;
mod fds;
mod fdwatch;
mod listen;
mod net;
mod process;
mod process_wide;
mod strace;
mod timed;
mod watchdog;

pub use events::*;
pub use fds::*;
pub use fdwatch::*;
pub use listen::*;
pub use net::*;
pub use process::*;
pub use process_wide::*;
pub use strace::*;
pub use timed::*;
pub use watchdog::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;

/// Whether `program` (strace, gcc's `cc`, zsh, fish...) is on PATH, for a test that runs
/// it. When it is not, the test is skipped: one line on stderr (`skipped: ...: zsh not
/// installed`) and the caller returns. With FDWATCH_TEST_REQUIRE_ALL set (.ci/run sets
/// it, after installing them all) a missing program fails the test instead, so CI never
/// skips silently.
pub fn have(program: &str, test: &str) -> bool {
    if on_path(program).is_some() {
        return true;
    }
    assert!(
        std::env::var_os("FDWATCH_TEST_REQUIRE_ALL").is_none(),
        "{test} needs {program}, which is not installed (FDWATCH_TEST_REQUIRE_ALL is set, \
         so nothing is skipped; .ci/run installs it)"
    );
    // Straight to fd 2: libtest captures eprintln! of a passing test, and a skip must
    // be seen.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("skipped: {test}: {program} not installed\n").as_bytes(),
    );
    false
}

/// The repository's root (the crate's manifest directory), where the tests find their
/// data (tests/corpus/, tests/tlpi/...) and the committed files they check.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where `program` is on PATH: the first executable file of that name.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
}

/// Where two byte strings first differ, for a failure message that does not print
/// megabytes.
pub fn first_difference(a: &[u8], b: &[u8]) -> String {
    let at = a.iter().zip(b).position(|(x, y)| x != y);
    match at {
        Some(i) => format!(
            "lengths {} and {}, first difference at byte {i}: {:#04x} vs {:#04x}",
            a.len(),
            b.len(),
            a[i],
            b[i]
        ),
        None => format!("lengths {} and {} (one is a prefix)", a.len(), b.len()),
    }
}

/// Runs `f` on each item in its own thread, named after the item so a panic inside says
/// which one failed; all run to the end, then the test fails naming every one that failed.
pub fn in_named_threads<'a, T: Send>(
    items: impl IntoIterator<Item = (&'a str, T)>,
    f: impl Fn(T) + Sync,
) {
    let f = &f;
    let failed: Vec<&str> = thread::scope(|s| {
        let running: Vec<_> = items
            .into_iter()
            .map(|(name, item)| {
                let h = thread::Builder::new()
                    .name(name.to_owned())
                    .spawn_scoped(s, move || f(item))
                    .expect("spawn a thread");
                (name, h)
            })
            .collect();
        running
            .into_iter()
            .filter_map(|(name, h)| h.join().is_err().then_some(name))
            .collect()
    });
    assert!(
        failed.is_empty(),
        "failed for {failed:?} (their panics are printed above)"
    );
}

/// `in_named_threads` over backends: `f(backend)` in a thread named after it.
pub fn each_backend(backends: &[&str], f: impl Fn(&str) + Sync) {
    in_named_threads(backends.iter().map(|&b| (b, b)), f);
}

/// `in_named_threads` over every backend and each of `variants` (a tag and a value):
/// `f(backend, value)` in a thread named `BACKEND-TAG`.
pub fn each_backend_and<T: Copy + Send>(variants: &[(&str, T)], f: impl Fn(&str, T) + Sync) {
    let cases: Vec<(String, (&str, T))> = BACKENDS
        .iter()
        .flat_map(|&b| {
            variants
                .iter()
                .map(move |&(tag, v)| (format!("{b}-{tag}"), (b, v)))
        })
        .collect();
    in_named_threads(cases.iter().map(|(n, c)| (n.as_str(), *c)), |(b, v)| {
        f(b, v)
    });
}

/// xorshift64, seeded: the tests' pseudo-random bytes and choices (a failing run can be
/// replayed).
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 8);
        while v.len() < len {
            v.extend_from_slice(&self.next().to_le_bytes());
        }
        v.truncate(len);
        v
    }
}

/// Compiles the C program `src` to `exe` with `cc`; `who` says which test needs it.
pub fn cc(src: &std::path::Path, exe: &std::path::Path, who: &str) {
    let out = Command::new("cc")
        .args(["-O0", "-Wall", "-Wextra", "-o"])
        .arg(exe)
        .arg(src)
        .counted_output()
        .unwrap_or_else(|e| {
            panic!(
                "{who} compiles C programs with a C compiler, and `cc` could not be run \
                 ({e}): install gcc (or clang as cc)"
            )
        });
    assert!(
        out.status.success(),
        "cc {}: {}\n{}",
        src.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
