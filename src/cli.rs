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

/// Man page sections beyond what clap describes (roff), appended after OPTIONS.
pub const MAN_EXTRA: &str = r#".SH "SPEC FORMS"
.TP
\fBN\fR[\fBrwe\fR]
An fd this process inherited: \fB0r\fR, \fB1w\fR, \fB3re\fR.
\fBr\fR read, \fBw\fR write, \fBe\fR exceptional (urgent, priority); default \fBr\fR.
Letters for the same fd merge: \fB0r 0w\fR is \fB0rw\fR.
.TP
\fBN\-M\fR[\fBrwe\fR]
A range of inherited fds; the ones that are open are watched.
.TP
\fBPATH\fR[\fB:rwe\fR]
Opens a path (file, FIFO, tty, device, /proc/PID/fd/N) without ever blocking:
O_NONBLOCK, O_NOCTTY. The suffix counts only when it is a colon and letters from
\fBrwe\fR; \fB./\fR forces a path (\fB./0r\fR). A write\-side FIFO with no reader
is reported as an \fBerror\fR event (ENXIO) and its open retried every 100 ms.
.TP
\fB\-\fR
Standard input, the same as \fB0r\fR.
.SH OUTPUT
One line per ready fd: time, fd, what it is (pipe:[ino], fifo PATH, tty PATH,
file PATH, chardev PATH, socket addresses), the ready conditions in normalized
words (\fBread write urgent hangup rdhup error invalid\fR), the backend's raw
flags (\fBPOLLIN|POLLHUP\fR, select sets as \fBR\-X\fR, \fBEPOLLIN|EPOLLET\fR), bytes
queued (FIONREAD) and pipe capacity (F_GETPIPE_SZ). The last line says how long
the wait took and how much of the timeout was left.
.PP
The select family reports only read, write and urgent (the kernel folds hang\-ups
and errors into "readable"). poll and epoll report what the kernel set and
nothing else. epoll refuses regular files, devices (EPERM) and O_PATH fds (EBADF);
those are checked with poll and marked as such.
.PP
With \fB\-\-format json\fR each event is one JSON object per line:
.nf
{"event":"ready","t":0.000412,"fd":0,"what":"pipe:[1234]","kind":"pipe",
 "ready":["read"],"raw":"POLLIN","backend":"poll","queued":5,"pipe_size":65536}
.fi
Events: \fBready\fR, \fBerror\fR (fd, what, errno, message), \fBtimeout\fR,
\fBwait\fR and \fBnote\fR (with \fB\-v\fR), \fBsummary\fR (backend, waits, events,
ready_fds, blocked, timeout, left, elapsed). \fBt\fR is seconds since start.
.SH "EXIT STATUS"
.TP
0
Something was ready (an invalid fd counts), or a normal end.
.TP
1
The timeout passed with nothing ready.
.TP
2
A usage or system error: one line on standard error naming the argument, or the fd and the call.
.TP
128+N
Ended by signal N.
.SH GUARANTEES
fdwatch never reads a byte, never changes the status flags (O_NONBLOCK) of an fd
it inherited, never blocks on open, and refuses fds at or above FD_SETSIZE (1024)
with select and pselect rather than invoking undefined behaviour. It raises the
soft RLIMIT_NOFILE to the hard limit. A closed standard output ends it quietly
with status 0.
.SH ENVIRONMENT
.TP
NO_COLOR
When set and not empty, \fB\-\-color auto\fR prints no colours.
.TP
CLICOLOR_FORCE
When set, not empty and not 0, \fB\-\-color auto\fR prints colours even to a pipe.
.SH EXAMPLES
.TP
fdwatch \- 0rw 1w
Wait forever until standard input or output is ready.
.TP
fdwatch 2.5 /tmp/fifo 3r
Watch a FIFO and fd 3 for up to 2.5 seconds.
.TP
fdwatch \-b select 0 0r 1w
A t_select\-style check that does not wait.
.TP
fdwatch \-\-format json 0 0\-9 | jq \-c .ready
Which of fds 0 to 9 are ready, as JSON.
"#;

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
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let res = command()
        .try_get_matches_from(&argv)
        .and_then(|mut m| Args::from_arg_matches_mut(&mut m));
    match res {
        Ok(a) => Parsed::Run(Box::new(a)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            // A closed stdout here is not worth an error.
            let _ = e.print();
            Parsed::Exit(0)
        }
        Err(e) => {
            let msg = match e.kind() {
                ErrorKind::UnknownArgument => {
                    dash_value_error(&argv).unwrap_or_else(|| one_line(&e))
                }
                _ => one_line(&e),
            };
            crate::report_error(&msg);
            Parsed::Exit(2)
        }
    }
}

/// For a value that starts with `-` but is no option (`-1r`, `-inf`), clap names only
/// a fragment (`'-1'`). This finds the whole word and lets our own parser explain it:
/// as TIMEOUT when no positional came before it, as a SPEC otherwise.
fn dash_value_error(argv: &[OsString]) -> Option<String> {
    let cmd = command();
    // `-b` / `--backend` and the like consume the next word (unless written `--x=v`).
    let takes_value = |word: &str| {
        cmd.get_arguments().any(|a| {
            let named = match word.strip_prefix("--") {
                Some(long) => a.get_long() == Some(long),
                None => word.len() == 2 && word[1..].chars().next() == a.get_short(),
            };
            named && a.get_action().takes_values()
        })
    };
    let numeric = |w: &str| {
        w[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.') || w.parse::<f64>().is_ok()
    };
    let mut positionals = 0;
    let mut words = argv.iter().skip(1).map(|w| w.to_string_lossy());
    while let Some(w) = words.next() {
        if w == "--" {
            return None;
        } else if w == "-" || !w.starts_with('-') {
            positionals += 1;
        } else if !w.starts_with("--") && numeric(&w) {
            return Some(if positionals == 0 {
                timeout::parse(&w).err()?.to_string()
            } else {
                spec::parse(OsStr::new(w.as_ref())).err()?.to_string()
            });
        } else if takes_value(&w) {
            words.next();
        }
    }
    None
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
            invalid(
                cmd,
                format!("timeout '{}': not valid UTF-8", v.to_string_lossy()),
            )
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
