//! fdwatch: show whether file descriptors are ready, for what, and when.
//!
//! The flow of one run: argv → the command line → `command::Command` (typed configs;
//! watch mode's `spec::Typed`s) → `open::WatchSet` → `backend::Backend::wait` →
//! `backend::Readiness` → `event::Event` → `output::Printer`.

pub mod backend;
pub mod bench;
pub mod cli;
pub mod command;
pub mod describe;
pub mod error;
pub mod escape;
pub mod event;
pub mod event_loop;
pub mod exhaust;
pub mod explain;
pub mod net;
pub mod open;
pub mod outlet;
pub mod output;
pub mod pidfd;
pub mod pipeline;
pub mod probe;
pub mod reader;
pub mod readiness;
pub mod relay;
pub mod report;
pub mod send;
pub mod signals;
pub mod spec;
pub mod timeout;
pub mod urgent;
pub mod watch;

use std::io::Write;

/// A hash map whose hasher takes no random seed. Its keys come from the user's own
/// command line or are fd numbers, never from a peer, so there is nothing to flood;
/// the seed would cost a getrandom(2) on every start of a one-shot check.
pub(crate) type FixedMap<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<std::hash::DefaultHasher>>;

pub use command::Command;

/// Prints `fdwatch: MSG` as one line on stderr; a closed stderr is ignored.
pub fn report_error(msg: &str) {
    report_usage(msg, None);
}

/// A usage error: one line, and an optional `tip:` line (clap's suggestions).
pub fn report_usage(msg: &str, tip: Option<&str>) {
    // One write, so the lines cannot interleave with anything else on stderr.
    let mut text = format!("fdwatch: {}\n", escape::message(msg));
    if let Some(t) = tip {
        text.push_str(&format!("tip: {}\n", escape::message(t)));
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The exit status of printing `--help`, `--version` or `--generate` (`what`) with
/// `print`: 0, also when the reader left (EPIPE, as a run's output); any other write
/// error (ENOSPC on /dev/full) is one line and status 2, in a run's words.
pub fn printed(what: &str, print: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> u8 {
    let mut out = std::io::stdout().lock();
    match print(&mut out).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            drop(out);
            report_error(&format!("{what}: {}", error::Error::Output(e)));
            2
        }
    }
}

/// Runs a typed command and returns the exit status.
pub fn run(command: Command) -> u8 {
    let now = std::time::Instant::now;
    let result = match command {
        Command::Generate(g) => return printed(&g.what, |out| out.write_all(&g.bytes)),
        Command::Watch(cfg) => watch::run(&cfg),
        Command::Explain(cfg) => explain::run(cfg.pid, &mut cfg.reporter(now())),
        Command::Relay(cfg) => {
            let rep = report::Reporter::new(cfg.output.printer(), now(), None, false);
            relay::run(&cfg, rep)
        }
        Command::Send(cfg) => {
            let mut rep = report::Reporter::new(cfg.output.printer(), now(), None, false);
            send::run(&cfg, &mut rep)
        }
        Command::Bench(cfg) => bench::run(&cfg),
        Command::Pipeline(cfg) => pipeline::run(&cfg),
    };
    match result {
        Ok(code) => code,
        Err(error::Error::Output(e)) => match outlet::stopped_by(&e) {
            // SIGINT/SIGTERM/SIGHUP while the output stayed full: the summary cannot
            // be written; the run ends by that signal all the same.
            Some(n) => {
                signals::reraise(n);
                128u8.saturating_add(n as u8)
            }
            // `fdwatch ... | head -1`: the reader left; that is a normal, quiet end.
            None if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
            None => {
                report_error(&error::Error::Output(e).to_string());
                2
            }
        },
        Err(e) => {
            report_error(&e.to_string());
            2
        }
    }
}
