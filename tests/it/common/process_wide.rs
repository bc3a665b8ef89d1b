//! What the test process holds for all its tests: its fd limit, raised (never lowered)
//! for those that need many fds, and a process of its own for a test that must be alone.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::Watchdog;

/// Raises this process's soft RLIMIT_NOFILE (inherited by children) to the hard limit
/// when it is below `need` (process-wide, only ever upward: tests run in parallel);
/// false when even the hard limit is below `need`.
pub fn raise_nofile_to(need: u64) -> bool {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft >= need {
        return true;
    }
    if hard < need {
        return false;
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    true
}

/// Marks the test binary run again for one test alone (`alone`); its value is the test.
const ALONE: &str = "FDWATCH_TEST_ALONE";

/// Runs the calling test in a process of its own: this test binary again, filtered to
/// exactly that test (`module` is the caller's `module_path!()`, `test` its name). For a
/// test whose result depends on what the whole process holds: in one process, a sibling
/// test's child holds a copy of every fd of the process between its fork and its exec,
/// so a pipe end a test has just closed can still look open to the kernel. Returns true
/// in that process (the caller goes on with the test's body there), false in the
/// calling one once the test passed there; fails with its output when it did not.
pub fn alone(module: &str, test: &str) -> bool {
    let name = match module.split_once("::") {
        Some((_, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    };
    if std::env::var_os(ALONE).is_some_and(|v| v == name.as_str()) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let child = Command::new(exe)
        .args([name.as_str(), "--exact"])
        .env(ALONE, &name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the test binary again");
    let _dog = Watchdog::new(&child, Duration::from_secs(300), &name);
    let out = child.wait_with_output().expect("wait for the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed;"),
        "{name}, in a process of its own: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    false
}
