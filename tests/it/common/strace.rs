//! fdwatch under strace: calls recorded to a trace, faults injected into them.

use std::ffi::OsString;
use std::path::Path;

use super::Fdwatch;

impl Fdwatch {
    /// fdwatch under `strace -f -qq -o OUT -e FILTER...` (strace passes the placed fds on):
    /// OUT is the trace of the calls the filters name (/dev/null for none).
    pub fn under_strace(self, out: &Path, filters: &[String]) -> Fdwatch {
        self.under("strace", strace_options(out, &[], filters))
    }

    /// `under_strace` with `--seccomp-bpf`: fdwatch stops for the traced calls alone, so
    /// strace slows nothing else down.
    pub fn under_strace_seccomp(self, out: &Path, filters: &[String]) -> Fdwatch {
        self.under("strace", strace_options(out, &["--seccomp-bpf"], filters))
    }
}

fn strace_options(out: &Path, extra: &[&str], filters: &[String]) -> Vec<OsString> {
    let mut opts: Vec<OsString> = vec!["-f".into()];
    opts.extend(extra.iter().map(OsString::from));
    opts.extend(["-qq".into(), "-o".into(), out.into()]);
    for f in filters {
        opts.extend(["-e".into(), f.into()]);
    }
    opts
}

/// The filter that records `calls` (`trace=CALLS`).
pub fn trace_filter(calls: &str) -> String {
    format!("trace={calls}")
}

/// The filter that fails `call` with `errno`: at the calls `when` counts (`3`, `3+`,
/// `3..5`, strace's `when=`), or every one.
pub fn inject_filter(call: &str, errno: &str, when: Option<&str>) -> String {
    match when {
        Some(w) => format!("inject={call}:error={errno}:when={w}"),
        None => format!("inject={call}:error={errno}"),
    }
}

/// The recorded calls of a trace: each line without strace's pid prefix.
pub fn trace_lines(trace: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace)
        .unwrap_or_else(|e| panic!("reading the trace {}: {e}", trace.display()));
    text.lines()
        .map(|l| {
            let l = l.trim_start();
            match l.split_once(' ') {
                Some((pid, rest)) if pid.bytes().all(|b| b.is_ascii_digit()) => {
                    rest.trim_start().to_owned()
                }
                _ => l.to_owned(),
            }
        })
        .collect()
}
