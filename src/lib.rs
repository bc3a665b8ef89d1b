//! fdwatch: show whether file descriptors are ready, for what, and when.
//!
//! The flow of one run: argv → `cli::Args` → `spec::Spec`s → `open::WatchSet` →
//! `backend::Backend::wait` → `backend::Readiness` → `event::Event` → `output::Printer`.

pub mod backend;
pub mod bench;
pub mod cli;
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

/// Runs a parsed command line and returns the exit status (SPEC §4.7).
pub fn run(args: &cli::Args) -> u8 {
    if let Some(what) = args.generate {
        let name = clap::ValueEnum::to_possible_value(&what)
            .map_or_else(String::new, |v| v.get_name().to_owned());
        let bytes = match what.render() {
            Ok(b) => b,
            Err(e) => {
                report_error(&format!("--generate {name}: {e}"));
                return 2;
            }
        };
        return printed(&format!("--generate {name}"), |out| out.write_all(&bytes));
    }
    let result = match &args.command {
        Some(cli::Sub::Send(s)) if s.format == output::Format::Tlpi => {
            Err(error::Error::Usage(output::tlpi::refused("fdwatch send")))
        }
        Some(cli::Sub::Send(s)) => {
            let start = std::time::Instant::now();
            let mut rep = report::Reporter::new(s.output().printer(), start, None, false);
            send::run(&s.address, &s.plan, &mut rep)
        }
        Some(cli::Sub::Bench(b)) => b
            .config()
            .map_err(error::Error::Usage)
            .and_then(|c| bench::run(&c)),
        Some(cli::Sub::Relay(r)) if r.format == output::Format::Tlpi => {
            Err(error::Error::Usage(output::tlpi::refused("fdwatch relay")))
        }
        Some(cli::Sub::Relay(r)) => {
            let start = std::time::Instant::now();
            let rep = report::Reporter::new(r.output().printer(), start, None, false);
            relay::run(&r.config(), rep)
        }
        Some(cli::Sub::Pipeline(p)) => pipeline::run(&p.config()),
        None => {
            let cfg = args.watch_config();
            match args.explain {
                Some(pid) => explain::run(pid, &mut cfg.reporter(std::time::Instant::now())),
                None => watch::run(&cfg),
            }
        }
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
