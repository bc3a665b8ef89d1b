//! The subcommands' arguments (`send`, `bench`, `relay`) and their typed configs.

use std::time::Duration;

use crate::backend::BackendKind;
use crate::output::{ColorChoice, Format, Output, TimeStyle};
use crate::reader::ReadMode;
use crate::send::{Plan, SendStep, unescape};
use crate::{bench, pipeline, relay, send};

use super::endpoints;
use super::status::{self, after_help};
use super::values::{FormatWord, parse_delay, parse_idle, parse_interval, text_or_json, word};

/// The duration grammar under a subcommand's --help (its man page says it in OPTIONS).
const DUR_HELP: &str = "DUR: seconds (2, 0.4) or a number with a unit (400ms, 1m30s).";

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Send normal and urgent (MSG_OOB) data to tcp:HOST:PORT or unix:PATH, in
    /// command-line order: a test client for urgent-data debugging
    Send(SendArgs),
    /// The select/poll/epoll scaling experiment on this kernel: N pipes, K active, one
    /// byte written, waited for and read per event; ns per event and events/s per
    /// backend and N, as a table and a log-scale bar chart, or JSON Lines
    Bench(BenchArgs),
    /// A watching TCP/UNIX relay: forwards LISTEN's clients to TARGET both ways, with
    /// urgent bytes re-sent at their stream offset, half-closes and resets passed on,
    /// bounded buffers, and every step as an event
    Relay(RelayArgs),
    /// Where a pipeline of processes is stuck: every pipe, FIFO and socket (UNIX,
    /// loopback TCP) between them with its fill, each process's blocked call and rates,
    /// and a verdict naming the one holding the rest back; live, or one snapshot
    Pipeline(PipelineArgs),
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["pids", "pgid", "tree"])))]
#[command(after_help = after_help(DUR_HELP, status::PIPELINE))]
pub struct PipelineArgs {
    /// The processes (e.g. from `pgrep` or `$!`)
    #[arg(value_name = "PID", value_parser = clap::value_parser!(i32).range(1..))]
    pub pids: Vec<i32>,

    /// Every process of this process group: a shell job (`jobs -p`), a `setsid` group;
    /// or of the group of this pid (`$!`, a pipeline's last process), said in a note
    #[arg(long, value_name = "PGID", value_parser = clap::value_parser!(i32).range(1..),
          conflicts_with_all = ["pids", "tree"])]
    pub pgid: Option<i32>,

    /// This process and all its descendants
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(i32).range(1..),
          conflicts_with = "pids")]
    pub tree: Option<i32>,

    /// One snapshot, then exit (rates need two, so they are left out)
    #[arg(long)]
    pub once: bool,

    /// Time between snapshots of the live view, a DUR
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,

    /// Stop after N snapshots
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Output format: text (redrawn in place on a terminal) or json (one `pipeline`
    /// line per snapshot)
    #[arg(long, value_parser = text_or_json(), default_value = "text", value_name = "FORMAT")]
    pub format: FormatWord,

    /// When to colour the text output
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// No output; the exit status answers (1: the last snapshot's verdict is stuck)
    #[arg(short, long)]
    pub quiet: bool,
}

impl PipelineArgs {
    pub fn config(&self) -> pipeline::Config {
        use crate::output::{StdStream, use_color};
        use pipeline::Members;
        use std::io::IsTerminal;
        let select = match (self.pgid, self.tree) {
            (Some(g), _) => Members::Group(g),
            (_, Some(t)) => Members::Tree(t),
            _ => Members::Pids(self.pids.clone()),
        };
        // `tlpi` (accepted, not offered) prints text here.
        let text = self.format != FormatWord::Json;
        pipeline::Config {
            select,
            once: self.once,
            interval: self.interval,
            count: self.count,
            format: if text { Format::Text } else { Format::Json },
            color: text && use_color(self.color, StdStream::Stdout),
            redraw: text && !self.once && std::io::stdout().is_terminal(),
            quiet: self.quiet,
        }
    }
}

#[derive(clap::Args, Debug)]
#[command(after_help = after_help(DUR_HELP, status::RELAY))]
pub struct RelayArgs {
    /// Where clients connect: tcp-listen:[HOST:]PORT or unix-listen:PATH
    #[arg(value_name = "LISTEN", value_parser = word())]
    pub listen: String,

    /// Where each client is relayed to: tcp:HOST:PORT or unix:PATH
    #[arg(value_name = "TARGET", value_parser = word())]
    pub target: String,

    /// The multiplexer to wait with
    #[arg(short, long, value_enum, default_value_t = BackendKind::Epoll, value_name = "BACKEND")]
    pub backend: BackendKind,

    /// How data events show the bytes: count (coalesced per --interval; bulk bytes then
    /// go zero-copy with splice), text, hex
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, require_equals = true,
          default_value = "count", default_missing_value = "count")]
    pub read: ReadMode,

    /// Stop after N connections were accepted and all of them closed
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop after this long with no traffic, a DUR
    #[arg(long, value_name = "DUR", value_parser = parse_idle)]
    pub idle: Option<Duration>,

    /// How often --read=count reports the bytes of a busy direction, a DUR
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_interval)]
    pub interval: Duration,

    /// Most bytes buffered per direction of each connection: buffers start at 64 KiB
    /// and grow only while a fast side fills them, an idle connection holds none, and
    /// a splice pipe is sized to this; memory stays bounded by it
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u32).range(1..=(16 << 20)))]
    pub buffer: u32,

    /// Output format: text or json (JSON Lines)
    #[arg(long, value_parser = text_or_json(), default_value = "text", value_name = "FORMAT")]
    pub format: FormatWord,

    /// Timestamp style in text
    #[arg(long, value_enum, default_value_t = TimeStyle::Elapsed, value_name = "STYLE")]
    pub time: TimeStyle,

    /// When to colour the text output
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// No output; the exit status answers
    #[arg(short, long)]
    pub quiet: bool,
}

impl RelayArgs {
    /// The relay to run: `--format tlpi` refused, then LISTEN and TARGET parsed and
    /// TARGET's host resolved.
    pub fn config(&self) -> Result<relay::Config, String> {
        let format = self.format.plain("fdwatch relay")?;
        let (listen, target) = endpoints::relay(&self.listen, &self.target)?;
        Ok(relay::Config {
            listen,
            listen_word: self.listen.clone(),
            target,
            backend: self.backend,
            read: self.read,
            count: self.count,
            idle: self.idle,
            interval: self.interval,
            buffer: self.buffer as usize,
            output: Output {
                format,
                time: self.time,
                color: self.color,
                quiet: self.quiet,
                to_stderr: false,
            },
        })
    }
}

#[derive(clap::Args, Debug)]
#[command(after_help = after_help("", status::BENCH).trim_start().to_owned())]
pub struct BenchArgs {
    /// Backends to measure, comma-separated; none is the floor (write + read, no wait)
    #[arg(
        long,
        value_enum,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "none,select,pselect,poll,ppoll,epoll"
    )]
    pub backends: Vec<bench::Column>,

    /// Numbers of watched pipes, comma-separated (select stops at FD_SETSIZE)
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "10,100,1000,10000",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub fds: Vec<u32>,

    /// How many of the pipes take turns being written [default: 10, or N where N is
    /// smaller]; at most the largest N
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub active: Option<u32>,

    /// Rounds per repeat (default: calibrated so a repeat takes about 150 ms)
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: Option<u64>,

    /// Timed repeats per row; the median is reported with the min and max
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub repeats: u16,

    /// Wait timeout in ms: -1 blocks (as the C reference), 0 only polls
    #[arg(long, value_name = "MS", default_value_t = -1, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-1..=60_000))]
    pub timeout: i32,

    /// Two processes: a writer process wakes the waiting one (round trip per event)
    #[arg(long)]
    pub wake: bool,

    /// Pin fdwatch and its helper processes to this CPU
    #[arg(long, value_name = "CPU")]
    pub cpu: Option<usize>,

    /// Output format: text (table and bar chart) or json (one object per row)
    #[arg(long, value_parser = text_or_json(), default_value = "text", value_name = "FORMAT")]
    pub format: FormatWord,

    /// When to colour the text output
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

impl BenchArgs {
    /// The experiment to run; `--active` above every `--fds` value is refused (no row
    /// could have that many active pipes).
    pub fn config(&self) -> Result<bench::Config, String> {
        let mut columns = self.backends.clone();
        dedup_in_order(&mut columns);
        let mut fds: Vec<usize> = self.fds.iter().map(|&n| n as usize).collect();
        dedup_in_order(&mut fds);
        let format = self.format.plain("fdwatch bench")?;
        let largest = fds.iter().copied().max().unwrap_or(0);
        if let Some(k) = self.active
            && k as usize > largest
        {
            return Err(format!(
                "bench --active {k}: above every --fds value (at most {largest}): K of the N pipes take turns"
            ));
        }
        Ok(bench::Config {
            columns,
            fds,
            active: self.active.map_or(10, |k| k as usize),
            rounds: self.rounds,
            repeats: usize::from(self.repeats),
            timeout_ms: self.timeout,
            wake: self.wake,
            cpu: self.cpu,
            format,
            color: self.color,
        })
    }
}

/// Drops repeats of a list option, keeping the first occurrence's place.
fn dedup_in_order<T: PartialEq + Copy>(v: &mut Vec<T>) {
    let mut seen = Vec::with_capacity(v.len());
    v.retain(|x| {
        let new = !seen.contains(x);
        seen.push(*x);
        new
    });
}

#[derive(clap::Args, Debug)]
#[command(after_help = after_help(DUR_HELP, status::SEND))]
pub struct SendArgs {
    /// Where to connect: tcp:HOST:PORT or unix:PATH
    #[arg(value_name = "ADDRESS", value_parser = word())]
    pub address: String,

    /// Normal data to send (escapes: \n \r \t \0 \\ \xHH); repeatable, in order with --urgent
    #[arg(long, value_name = "STR")]
    pub data: Vec<String>,

    /// Data sent with send(MSG_OOB): its last byte is the urgent byte; repeatable
    #[arg(long, value_name = "BYTES")]
    pub urgent: Vec<String>,

    /// Pause, a DUR: given once, between every two sends; given more than once, each
    /// is a pause at its place among --data and --urgent
    #[arg(long, value_name = "DUR", value_parser = parse_delay)]
    pub delay: Vec<Duration>,

    /// Send the whole sequence N times on each connection
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: u64,

    /// Open N concurrent client connections (load for a listener)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: u32,

    /// shutdown(SHUT_WR) after sending, before closing
    #[arg(long)]
    pub shutdown: bool,

    /// Close with SO_LINGER 0, so the peer gets a reset (RST)
    #[arg(long, conflicts_with = "shutdown")]
    pub rst: bool,

    /// After the last send: shut down the write side, report the replies (data from
    /// the target) until the server closes, then close: a clean close for an echo
    /// server. Without it, replies already queued are read (and reported) before closing
    #[arg(long, conflicts_with = "rst")]
    pub read_replies: bool,

    /// Print each step (connect, data, urgent byte, close) as an event; JSON always does
    #[arg(short, long)]
    pub verbose: bool,

    /// Output format: text or json (JSON Lines, the relay's event kinds)
    #[arg(long, value_parser = text_or_json(), default_value = "text", value_name = "FORMAT")]
    pub format: FormatWord,

    /// Timestamp style in text
    #[arg(long, value_enum, default_value_t = TimeStyle::Elapsed, value_name = "STYLE")]
    pub time: TimeStyle,

    /// When to colour the text output
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

impl SendArgs {
    /// What to send and where: `steps` (--data, --urgent, --delay in command-line
    /// order) made a plan, `--format tlpi` refused, ADDRESS parsed. One `--delay` is the
    /// pause between every two sends; more are each a pause at their place.
    pub fn config(&self, mut steps: Vec<SendStep>) -> Result<send::Config, String> {
        let mut delay = None;
        if let [d] = self.delay[..] {
            steps.retain(|st| !matches!(st, SendStep::Pause(_)));
            delay = Some(d);
        }
        let format = self.format.plain("fdwatch send")?;
        Ok(send::Config {
            to: endpoints::send_address(&self.address)?,
            address: self.address.clone(),
            plan: Plan {
                steps,
                delay,
                repeat: self.repeat,
                connections: self.connections,
                shutdown: self.shutdown,
                rst: self.rst,
                read_replies: self.read_replies,
            },
            // Events for -v or JSON; silent text otherwise (a test client says nothing).
            output: Output {
                format,
                time: self.time,
                color: self.color,
                quiet: format != Format::Json && !self.verbose,
                to_stderr: false,
            },
        })
    }
}

/// --data, --urgent and --delay in the order they were given, from clap's argument
/// indices.
pub(super) fn send_steps(m: &clap::ArgMatches) -> Result<Vec<SendStep>, String> {
    let mut steps: Vec<(usize, SendStep)> = Vec::new();
    if let (Some(idx), Some(vals)) = (m.indices_of("delay"), m.get_many::<Duration>("delay")) {
        steps.extend(idx.zip(vals).map(|(i, d)| (i, SendStep::Pause(*d))));
    }
    for (id, urgent) in [("data", false), ("urgent", true)] {
        let (Some(idx), Some(vals)) = (m.indices_of(id), m.get_many::<String>(id)) else {
            continue;
        };
        for (i, v) in idx.zip(vals) {
            let bytes = unescape(v).map_err(|e| format!("--{id} {e}"))?;
            steps.push((
                i,
                if urgent {
                    SendStep::Urgent(bytes)
                } else {
                    SendStep::Data(bytes)
                },
            ));
        }
    }
    steps.sort_by_key(|(i, _)| *i);
    Ok(steps.into_iter().map(|(_, s)| s).collect())
}
