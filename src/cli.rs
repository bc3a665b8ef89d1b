//! The command line: clap's view of it, typed at the edge, with one-line errors.

use std::ffi::{OsStr, OsString};

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, Command, CommandFactory, FromArgMatches, Parser};

use crate::backend::BackendKind;
use crate::output::{ColorChoice, Format, TimeStyle};
use crate::spec::{self, Spec};
use crate::timeout::{self, Timeout};

const ABOUT: &str = "Show whether file descriptors are ready, for what, and when";

const LONG_ABOUT: &str = "\
Show whether file descriptors are ready, for what, and when.

fdwatch waits on inherited fds and opened paths (pipes, FIFOs, ttys, files, devices) \
with the multiplexer you pick (select, pselect, poll, ppoll, epoll) and prints each \
ready fd with the normalized conditions (read write urgent hangup rdhup error \
invalid), the backend's raw flags and timing. It never reads a byte, never changes \
the flags of an fd it inherited, and never blocks on open.";

const AFTER_HELP: &str = "\
SPEC forms:
  N[rwe]        an inherited fd: 0r, 1w, 3re (r read, w write, e urgent; default r)
  N-M[rwe]      a range of inherited fds (the ones that are open)
  PATH[:rwe]    open a path without blocking; ./ forces a path (./0r)
  -             stdin, the same as 0r

Examples:
  fdwatch - 0rw 1w                 wait forever until stdin or stdout is ready
  fdwatch 2.5 /tmp/fifo 3r         FIFO and fd 3, up to 2.5 s
  fdwatch -b select 0 0r 1w        t_select-style check, no waiting
  fdwatch --format json 0 0-9 | jq .ready

Exit status: 0 something was ready, 1 timeout with nothing ready,
2 usage or system error, 128+N ended by signal N.";

#[derive(Parser, Debug)]
#[command(
    name = "fdwatch",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    max_term_width = 100
)]
pub struct Args {
    /// How long to wait: '-' forever, 0 polls once, seconds (2, 0.25) or a duration (250ms, 1m30s)
    #[arg(value_name = "TIMEOUT", allow_negative_numbers = true, value_parser = TimeoutParser)]
    pub timeout: Timeout,

    /// What to watch: N[rwe], N-M[rwe], PATH[:rwe] or - (see below)
    #[arg(value_name = "SPEC", required = true, num_args = 1.., value_parser = SpecParser)]
    pub specs: Vec<Spec>,

    /// The multiplexer to wait with
    #[arg(short, long, value_enum, default_value_t = BackendKind::Epoll, value_name = "BACKEND")]
    pub backend: BackendKind,

    /// Register with EPOLLET, edge-triggered (epoll only)
    #[arg(long)]
    pub edge: bool,

    /// Register with EPOLLONESHOT (epoll only)
    #[arg(long)]
    pub oneshot: bool,

    /// Output format: aligned text, or JSON Lines (one object per event)
    #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
    pub format: Format,

    /// Timestamp style in text output (JSON always has "t", seconds since start)
    #[arg(long, value_enum, default_value_t, value_name = "STYLE")]
    pub time: TimeStyle,

    /// When to colour text output (auto: stdout is a terminal; honours NO_COLOR, CLICOLOR_FORCE)
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,

    /// No output; the exit status answers
    #[arg(short, long)]
    pub quiet: bool,

    /// Also report each wait (call, timeout, time blocked, result) and how each fd is watched
    #[arg(short, long)]
    pub verbose: bool,
}

/// clap's definition, for the man page and completions too.
pub fn command() -> Command {
    Args::command()
}

/// What parsing the command line decided.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Args>),
    /// Help or version was printed, or a usage error: exit with this status.
    Exit(u8),
}

/// Parses argv. Usage errors print exactly one line on stderr (SPEC: exit 2).
pub fn parse<I, T>(argv: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let res = command()
        .try_get_matches_from(argv)
        .and_then(|mut m| Args::from_arg_matches_mut(&mut m));
    match res {
        Ok(a) => Parsed::Run(Box::new(a)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            // A closed stdout here is not worth an error.
            let _ = e.print();
            Parsed::Exit(0)
        }
        Err(e) => {
            crate::report_error(&one_line(&e));
            Parsed::Exit(2)
        }
    }
}

/// clap's error as one line: its first paragraph, joined, without "error: " and tips.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = para.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

/// A value parser whose error is our own one-line message.
fn invalid(cmd: &Command, msg: impl std::fmt::Display) -> clap::Error {
    clap::Error::raw(ErrorKind::ValueValidation, format!("{msg}\n")).with_cmd(cmd)
}

#[derive(Clone)]
struct TimeoutParser;

impl TypedValueParser for TimeoutParser {
    type Value = Timeout;
    fn parse_ref(&self, cmd: &Command, _: Option<&Arg>, v: &OsStr) -> Result<Timeout, clap::Error> {
        let s = v.to_str().ok_or_else(|| {
            invalid(cmd, format!("timeout '{}': not valid UTF-8", v.to_string_lossy()))
        })?;
        timeout::parse(s).map_err(|e| invalid(cmd, e))
    }
}

#[derive(Clone)]
struct SpecParser;

impl TypedValueParser for SpecParser {
    type Value = Spec;
    fn parse_ref(&self, cmd: &Command, _: Option<&Arg>, v: &OsStr) -> Result<Spec, clap::Error> {
        spec::parse(v).map_err(|e| invalid(cmd, e))
    }
}
