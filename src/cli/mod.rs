//! The command line: clap's view of it, typed at the edge, with one-line errors.

use std::ffi::OsString;
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Command, CommandFactory, FromArgMatches, Parser};

mod complete_pids;
mod generate;
mod habits;
mod man;
mod status;
mod sub;
mod values;

pub use generate::Generate;
pub use man::{MAN_EXTRA, MAN_RELAY};
pub use sub::{BenchArgs, RelayArgs, SendArgs, Sub};
pub use values::SigList;

use crate::backend::BackendKind;
use crate::output::{ColorChoice, Format, TimeStyle};
use crate::reader::ReadMode;
use crate::send::{Plan, Step};
use crate::spec::{self, PidFds, Spec, Target};
use crate::timeout::{self, Timeout};
use sub::send_steps;
use values::{
    dash_value_error, one_line, parse_interval, parse_mask, parse_signals, requote,
    similar_subcommand, subcommand_of, tip_of, usage_of,
};

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
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,

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

    /// TIMEOUT, typed (filled in from the positionals by `resolve`).
    #[arg(skip = Timeout::Forever)]
    pub timeout: Timeout,

    /// The SPECs, typed (filled in from the positionals by `resolve`).
    #[arg(skip)]
    pub specs: Vec<spec::Typed>,

    /// `fdwatch pid:PID` alone: explain what that process is blocked on.
    #[arg(skip)]
    pub explain: Option<i32>,

    /// The multiplexer to wait with
    #[arg(short, long, value_enum, default_value_t = BackendKind::Epoll, value_name = "BACKEND")]
    pub backend: BackendKind,

    /// Register with EPOLLET, edge-triggered (epoll only). -m with epoll registers
    /// edge-triggered anyway (so an unread fd cannot make it spin): --edge matters for
    /// one-shot runs
    #[arg(long)]
    pub edge: bool,

    /// Register with EPOLLONESHOT (epoll only)
    #[arg(long)]
    pub oneshot: bool,

    /// Keep watching and report every change, until all fds are gone, --count events,
    /// the idle TIMEOUT (time with no event), or --once's end of file
    #[arg(short = 'm', long)]
    pub monitor: bool,

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
    pub until: Vec<crate::event::Until>,

    /// Stop after N events (the summary is not counted)
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Consume data when readable and report it: count (bytes, rate), text (escaped), hex
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "count"
    )]
    pub read: Option<ReadMode>,

    /// Largest single read for --read, --tee and --peek, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 65536,
          value_parser = clap::value_parser!(u32).range(1..=(16 << 20)))]
    pub read_size: u32,

    /// Show queued data without consuming it (tee(2) for pipes, MSG_PEEK for sockets)
    #[arg(long, conflicts_with_all = ["read", "tee"])]
    pub peek: bool,

    /// Pass consumed data to stdout unchanged; events go to stderr (implies --read=count)
    #[arg(long)]
    pub tee: bool,

    /// Set SO_OOBINLINE on the sockets fdwatch opens: urgent bytes stay in the stream
    /// and the output shows where the mark falls
    #[arg(long)]
    pub oobinline: bool,

    /// With -m: end at the first end of file or hang-up instead of reopening FIFOs
    #[arg(long, requires = "monitor")]
    pub once: bool,

    /// How often fds that stay ready are re-checked, and FIFOs without a reader re-opened
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_interval)]
    pub interval: Duration,

    /// Signals to catch and report as events (USR1,USR2,CHLD, numbers, RTMIN+N); with
    /// pselect, ppoll, epoll and uring they are unblocked only inside the wait
    #[arg(long, value_name = "LIST", value_parser = parse_signals)]
    pub signals: Option<SigList>,

    /// Signals kept blocked through the wait (SIGINT, SIGTERM, SIGHUP too, which then
    /// no longer end a monitor run); reported at exit if pending (then discarded)
    #[arg(long, value_name = "LIST", value_parser = parse_mask)]
    pub mask: Option<SigList>,

    /// Output format: aligned text, or JSON Lines (one object per event)
    #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
    pub format: Format,

    /// Timestamp style in text output (JSON always has "t", seconds since start)
    #[arg(long, value_enum, default_value_t, value_name = "STYLE")]
    pub time: TimeStyle,

    /// When to colour text output (auto: a terminal whose TERM has colour; honours
    /// NO_COLOR, CLICOLOR=0 and CLICOLOR_FORCE)
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,

    /// No output; the exit status answers
    #[arg(short, long)]
    pub quiet: bool,

    /// Also report each wait (call, timeout, time blocked, result) and how each fd is watched
    #[arg(short, long)]
    pub verbose: bool,

    /// Print a man page or shell completions and exit: man, man-relay, man-send,
    /// man-bench, man-pipeline, complete-bash, complete-zsh, complete-fish
    #[arg(long, value_enum, value_name = "WHAT", exclusive = true)]
    pub generate: Option<Generate>,
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
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let argv = match habits::help_word(argv) {
        Ok(argv) => argv,
        Err(msg) => {
            crate::report_error(&msg);
            return Parsed::Exit(2);
        }
    };
    let res = command().try_get_matches_from(&argv).and_then(|mut m| {
        let steps = match m.subcommand() {
            Some(("send", sm)) => Some(send_steps(sm)),
            _ => None,
        };
        Args::from_arg_matches_mut(&mut m).map(|a| (a, steps))
    });
    match res {
        Ok((mut a, steps)) => match a.resolve().and_then(|()| a.fill_plan(steps)) {
            Ok(()) => Parsed::Run(Box::new(a)),
            Err(msg) => {
                a.report_unresolved(&msg);
                Parsed::Exit(2)
            }
        },
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
            let msg = match e.kind() {
                ErrorKind::UnknownArgument => {
                    dash_value_error(&argv).unwrap_or_else(|| one_line(&e))
                }
                // Only the first positional is required by clap; say what the form is.
                // An option that needs -m (--once, --until): clap's own line says so.
                ErrorKind::MissingRequiredArgument if one_line(&e).contains("--monitor") => {
                    format!("{} (these options need -m)", one_line(&e))
                }
                // A subcommand's own arguments: clap's line names them.
                ErrorKind::MissingRequiredArgument => match subcommand_of(&argv) {
                    Some(sub) => {
                        let line = one_line(&e);
                        let missing = line.rsplit_once(": ").map_or(line.as_str(), |(_, m)| m);
                        format!(
                            "missing {missing}: {} (see fdwatch {sub} --help)",
                            usage_of(&e).unwrap_or_else(|| format!("fdwatch {sub}"))
                        )
                    }
                    None => {
                        "missing TIMEOUT and SPEC: fdwatch [OPTIONS] TIMEOUT SPEC... (see --help)"
                            .into()
                    }
                },
                _ => one_line(&e),
            };
            crate::report_usage(&requote(msg, &argv), tip_of(&e).as_deref());
            Parsed::Exit(2)
        }
    }
}

impl Args {
    /// Types the positionals: TIMEOUT then SPECs. In monitor mode TIMEOUT may be left
    /// out (`fdwatch -m --tee -`): a lone positional, or a first one that is no
    /// timeout but is a SPEC, starts the SPECs and the idle timeout is forever.
    fn resolve(&mut self) -> Result<(), String> {
        let Some(first) = self.first.clone() else {
            return Ok(());
        };
        let first_spec = spec::parse(&first);
        // `fdwatch pid:PID` alone explains and exits: no TIMEOUT (SPEC §7).
        if let Ok(Spec {
            target:
                Target::Pid {
                    pid,
                    fds: PidFds::Explain,
                },
            ..
        }) = first_spec
            && self.rest.is_empty()
        {
            self.refuse_reading(&first_spec.map_err(|e| e.to_string())?)?;
            self.explain = Some(pid);
            return Ok(());
        }
        let first_is_spec = first_spec.is_ok();
        let first_timeout = first.to_str().map(timeout::parse);
        let rest: &[OsString] = &self.rest;
        let (timeout, specs): (Timeout, Vec<&OsString>) = match first_timeout {
            _ if self.monitor && first_is_spec && rest.is_empty() => {
                (Timeout::Forever, vec![&first])
            }
            Some(Ok(t)) => (t, rest.iter().collect()),
            _ if self.monitor && first_is_spec => (
                Timeout::Forever,
                std::iter::once(&first).chain(rest).collect(),
            ),
            Some(Err(e)) => return Err(e.to_string()),
            None => {
                return Err(format!(
                    "timeout '{}': not valid UTF-8",
                    crate::escape::arg(&first)
                ));
            }
        };
        if specs.is_empty() {
            return Err("missing SPEC: what to watch (fdwatch TIMEOUT SPEC..., see --help)".into());
        }
        if let (Some(c), Some(m)) = (&self.signals, &self.mask)
            && let Some(&n) = c.0.iter().find(|n| m.0.contains(n))
        {
            return Err(format!(
                "signal {} is in --signals and --mask: a signal is either caught or kept blocked",
                crate::signals::name(n)
            ));
        }
        self.specs = specs
            .into_iter()
            .map(|s| spec::Typed::parse(s).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        if let Some(p) = self
            .specs
            .iter()
            .find(|s| matches!(s.target, Target::Pid { .. }))
        {
            self.refuse_reading(p)?;
        }
        self.timeout = timeout;
        Ok(())
    }

    /// `resolve` refused the positionals: its line, with a tip when the first word is
    /// no timeout but looks like a subcommand, or is a path (the forms that watch it).
    fn report_unresolved(&self, msg: &str) {
        let first = self.first.as_deref().unwrap_or_default();
        match self.first.as_ref().and_then(similar_subcommand) {
            Some(sub) => crate::report_usage(
                &format!(
                    "unrecognized subcommand '{}' ({msg})",
                    crate::escape::arg(first)
                ),
                Some(&format!("a similar subcommand exists: '{sub}'")),
            ),
            None => crate::report_usage(msg, habits::timeout_tip(first).as_deref()),
        }
    }

    /// Another process's fds share its open file descriptions: reading would steal its
    /// data, so --read and --tee are refused with any `pid:` spec.
    fn refuse_reading(&self, p: &dyn std::fmt::Display) -> Result<(), String> {
        let opt = if self.tee {
            "--tee"
        } else if self.read.is_some() {
            "--read"
        } else {
            return Ok(());
        };
        Err(format!(
            "{opt} consumes data, and spec '{p}' is another process's: pid: fds are \
             watched without reading (--peek shows queued data without taking it)"
        ))
    }

    /// `send`: the plan from its options and the ordered steps. One `--delay` is the
    /// pause between every two sends; more are each a pause at their place.
    fn fill_plan(&mut self, steps: Option<Result<Vec<Step>, String>>) -> Result<(), String> {
        if let (Some(Sub::Send(s)), Some(steps)) = (&mut self.command, steps) {
            let mut steps = steps?;
            let mut delay = None;
            if let [d] = s.delay[..] {
                steps.retain(|st| !matches!(st, Step::Pause(_)));
                delay = Some(d);
            }
            s.plan = Plan {
                steps,
                delay,
                repeat: s.repeat,
                connections: s.connections,
                shutdown: s.shutdown,
                rst: s.rst,
                read_replies: s.read_replies,
            };
        }
        Ok(())
    }

    /// How data is consumed: `--read`, or `--tee` alone meaning `--read=count`.
    pub fn read_mode(&self) -> Option<ReadMode> {
        self.read.or(self.tee.then_some(ReadMode::Count))
    }

    /// Watch mode's typed configuration: what everything below the command line sees.
    pub fn watch_config(&self) -> crate::watch::Config {
        let list = |l: &Option<SigList>| l.as_ref().map(|l| l.0.clone()).unwrap_or_default();
        crate::watch::Config {
            timeout: self.timeout,
            specs: self.specs.clone(),
            backend: self.backend,
            edge: self.edge,
            oneshot: self.oneshot,
            monitor: self.monitor,
            count: self.count,
            until: self.until.clone(),
            read: self.read_mode(),
            read_size: self.read_size as usize,
            peek: self.peek,
            tee: self.tee,
            oobinline: self.oobinline,
            once: self.once,
            interval: self.interval,
            signals: list(&self.signals),
            mask: list(&self.mask),
            output: crate::output::Output {
                format: self.format,
                time: self.time,
                color: self.color,
                quiet: self.quiet,
                // With --tee stdout carries the data.
                to_stderr: self.tee,
                book: self
                    .backend
                    .book(self.monitor, self.read_mode().is_some())
                    .filter(|_| self.format == Format::Tlpi),
            },
            verbose: self.verbose,
        }
    }
}
