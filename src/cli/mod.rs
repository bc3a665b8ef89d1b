//! The command line: clap's view of it (`Args`), turned into one typed `Command`
//! (`typed.rs`), every refusal one line before anything runs.

use std::ffi::OsString;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Command as Clap, CommandFactory, FromArgMatches, Parser};

mod complete_pids;
mod endpoints;
mod errors;
mod generate;
mod habits;
mod man;
mod plain;
mod status;
mod sub;
mod typed;
mod values;

pub use endpoints::send_address;
pub use generate::Generate;
use man::{MAN_EXTRA, MAN_RELAY};
use sub::Sub;
use values::SigList;

use crate::backend::BackendKind;
use crate::command::Command;
use crate::output::{ColorChoice, TimeStyle};
use crate::reader::ReadMode;
use sub::send_steps;
use values::{FormatWord, parse_interval, parse_mask, parse_signals};

const ABOUT: &str = "Show whether file descriptors are ready, for what, and when";

const LONG_ABOUT: &str = "\
Show whether file descriptors are ready, for what, and when.

fdwatch waits on inherited fds and opened paths (pipes, FIFOs, ttys, files, devices) \
with the multiplexer you pick (select, pselect, poll, ppoll, epoll, io_uring) and prints each \
ready fd with the normalized conditions (read write urgent hangup rdhup error \
invalid), the backend's raw flags and timing. It never reads a byte, never changes \
the flags of an fd it inherited, and never blocks on open.";

const AFTER_HELP: &str = "\
SPEC forms:
  N[rwe]        an inherited fd: 0r, 1w, 3re (r read, w write, e urgent; default r)
  N-M[rwe]      a range of inherited fds (the ones that are open)
  PATH[:rwe]    open a path without blocking; ./ forces a path (./0r)
  tcp:HOST:PORT, tcp-listen:[HOST:]PORT, unix:PATH, unix-listen:PATH [/rwe]
                connect or listen (default letters re)
  pid:PID:FD[rwe], pid:PID:N-M[rwe], pid:PID:*[rwe]
                another process's fds (pidfd_getfd): never read (--read and --tee
                are refused; --peek consumes nothing), flags never changed, let go
                when the process closes them
  pid:PID       alone: what that process is blocked in, on which fds, and which of
                them are ready now (no TIMEOUT)
  -             stdin, the same as 0r

Examples:
  fdwatch - 0rw 1w                 wait forever until stdin or stdout is ready
  fdwatch 2.5 /tmp/fifo 3r         FIFO and fd 3, up to 2.5 s
  fdwatch -b select 0 0r 1w        t_select-style check, no waiting
  fdwatch --format json 0 0-9 | jq .ready
  fdwatch -m - /tmp/jobs.fifo      every writer, burst and hang-up, until Ctrl-C
  fdwatch pid:1234                 what is process 1234 waiting for?
  producer | fdwatch -m --tee - | consumer
                                   a pipeline monitor: data passes, events to stderr

DUR (TIMEOUT, --interval): seconds (2, 0.4) or a number with a unit (400ms, 1m30s).";

#[derive(Parser, Debug)]
#[command(
    name = "fdwatch",
    version,
    long_version = env!("FDWATCH_LONG_VERSION"),
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = status::after_help(AFTER_HELP, status::WATCH),
    max_term_width = 100,
    args_conflicts_with_subcommands = true,
    // `fdwatch help` would be a man page reference (fdwatch-help(1)) to nothing.
    disable_help_subcommand = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Sub>,

    /// How long to wait, a DUR; '-' forever, 0 polls once. With -m it is the idle timeout
    /// and may be left out (forever)
    #[arg(
        value_name = "TIMEOUT",
        allow_negative_numbers = true,
        required_unless_present = "generate"
    )]
    first: Option<OsString>,

    /// What to watch: N[rwe], N-M[rwe], PATH[:rwe] or - (see below)
    #[arg(value_name = "SPEC", num_args = 0..)]
    rest: Vec<OsString>,

    /// The multiplexer to wait with
    #[arg(short, long, value_enum, default_value_t = BackendKind::Epoll, value_name = "BACKEND")]
    backend: BackendKind,

    /// Register with EPOLLET, edge-triggered (epoll only). -m with epoll registers
    /// edge-triggered anyway (so an unread fd cannot make it spin): --edge matters for
    /// one-shot runs
    #[arg(long)]
    edge: bool,

    /// Register with EPOLLONESHOT (epoll only)
    #[arg(long)]
    oneshot: bool,

    /// Keep watching and report every change, until all fds are gone, --count events,
    /// the idle TIMEOUT (time with no event), or --once's end of file
    #[arg(short = 'm', long)]
    monitor: bool,

    /// With -m: end at the first event matching one of these (read, write, urgent,
    /// hangup, rdhup, error, eof, signal, accept); the exit status says which (10 read,
    /// 11 write, 12 urgent, 13 hangup, 14 rdhup, 15 error, 16 eof, 17 signal, 18 accept)
    #[arg(
        long,
        value_enum,
        value_name = "COND",
        value_delimiter = ',',
        requires = "monitor"
    )]
    until: Vec<crate::event::Until>,

    /// Stop after N events (the summary is not counted)
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,

    /// Consume data when readable and report it: count (bytes, rate), text (escaped), hex
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "count"
    )]
    read: Option<ReadMode>,

    /// Largest single read for --read, --tee and --peek, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 65536,
          value_parser = clap::value_parser!(u32).range(1..=(16 << 20)))]
    read_size: u32,

    /// Show queued data without consuming it (tee(2) for pipes, MSG_PEEK for sockets)
    #[arg(long, conflicts_with_all = ["read", "tee"])]
    peek: bool,

    /// Pass consumed data to stdout unchanged; events go to stderr (implies --read=count)
    #[arg(long)]
    tee: bool,

    /// Set SO_OOBINLINE on the sockets fdwatch opens: urgent bytes stay in the stream
    /// and the output shows where the mark falls
    #[arg(long)]
    oobinline: bool,

    /// With -m: end at the first end of file or hang-up instead of reopening FIFOs
    #[arg(long, requires = "monitor")]
    once: bool,

    /// How often fds that stay ready are re-checked, and FIFOs without a reader re-opened
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_interval)]
    interval: Duration,

    /// Signals to catch and report as events (USR1,USR2,CHLD, numbers, RTMIN+N); with
    /// pselect, ppoll, epoll and uring they are unblocked only inside the wait
    #[arg(long, value_name = "LIST", value_parser = parse_signals)]
    signals: Option<SigList>,

    /// Signals kept blocked through the wait (SIGINT, SIGTERM, SIGHUP too, which then
    /// no longer end a monitor run); reported at exit if pending (then discarded)
    #[arg(long, value_name = "LIST", value_parser = parse_mask)]
    mask: Option<SigList>,

    /// Output format: aligned text, or JSON Lines (one object per event)
    #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
    format: FormatWord,

    /// Timestamp style in text output (JSON always has "t", seconds since start)
    #[arg(long, value_enum, default_value_t, value_name = "STYLE")]
    time: TimeStyle,

    /// When to colour text output (auto: a terminal whose TERM has colour; honours
    /// NO_COLOR, CLICOLOR=0 and CLICOLOR_FORCE)
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    color: ColorChoice,

    /// No output; the exit status answers
    #[arg(short, long)]
    quiet: bool,

    /// Also report each wait (call, timeout, time blocked, result) and how each fd is watched
    #[arg(short, long)]
    verbose: bool,

    /// Print a man page or shell completions and exit: man, man-relay, man-send,
    /// man-bench, man-pipeline, complete-bash, complete-zsh, complete-fish
    #[arg(long, value_enum, value_name = "WHAT", exclusive = true)]
    generate: Option<Generate>,
}

/// clap's definition, for the man page and completions too.
pub fn command() -> Clap {
    Args::command()
}

/// What parsing the command line decided.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Command>),
    /// Help or version was printed, or a usage error: exit with this status.
    Exit(u8),
}

/// Parses argv into a typed command. Usage errors print exactly one line on stderr
/// (and a `tip:` line where one helps) and exit 2.
pub fn parse<I, T>(argv: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let argv = match habits::help_word(argv) {
        Ok(argv) => argv,
        Err(msg) => {
            crate::report_error(&msg);
            return Parsed::Exit(2);
        }
    };
    // Positionals only: no need for clap's definitions (most of a one-shot's start-up).
    if let Some(a) = plain::args(&argv) {
        return typed(&a, Ok(Vec::new()));
    }
    with_clap(&argv)
}

/// Everything else goes through clap, which builds every subcommand's definition first.
/// Out of line and cold: a one-shot check's start-up code stays small (see link/startup.ld).
#[cold]
#[inline(never)]
fn with_clap(argv: &[OsString]) -> Parsed {
    let res = command().try_get_matches_from(argv).and_then(|mut m| {
        let steps = match m.subcommand() {
            Some(("send", sm)) => send_steps(sm),
            _ => Ok(Vec::new()),
        };
        Args::from_arg_matches_mut(&mut m).map(|a| (a, steps))
    });
    match res {
        Ok((a, steps)) => typed(&a, steps),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let what = if e.kind() == ErrorKind::DisplayHelp {
                "--help"
            } else {
                "--version"
            };
            // clap prints (its colours, its layout); a full stdout is ours to report.
            Parsed::Exit(crate::printed(what, |_| e.print()))
        }
        Err(e) => {
            let (line, tip) = errors::usage_error(&e, argv);
            crate::report_usage(&line, tip.as_deref());
            Parsed::Exit(2)
        }
    }
}

/// The typed command of clap's view, or its refusal printed (exit 2).
fn typed(a: &Args, steps: Result<Vec<crate::send::SendStep>, String>) -> Parsed {
    match a.typed(steps) {
        Ok(command) => Parsed::Run(Box::new(command)),
        Err(refused) => {
            crate::report_usage(&refused.line, refused.tip.as_deref());
            Parsed::Exit(2)
        }
    }
}
