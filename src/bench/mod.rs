//! `fdwatch bench`: the select/poll/epoll scaling experiment of the C reference loop
//! (docs/performance.md), run on
//! fdwatch's own backends. N pipes, K active; each round writes one byte, waits, finds
//! the ready fd and reads the byte. Rows are (backend, N); output is JSON Lines with
//! ref_pingpong's field names, or a table and a log-scale bar chart.

pub mod layout;
mod pingpong;
mod print;
pub use print::{BenchRow, Measure};

use std::io::{self, IsTerminal, Write};
use std::os::fd::AsRawFd;
use std::time::Duration;

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};

use nix::unistd::Pid;

use crate::backend::BackendKind;
use crate::error::{Error, Result};
use clap::ValueEnum;

use crate::output::{self, ColorChoice, Format};
use layout::{Layout, Rotation};
use pingpong::{Loop, Stats};

/// A bench column: one of the backends, or the floor (`none`: no wait at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Column(pub Option<BackendKind>);

impl Column {
    pub fn name(self) -> &'static str {
        self.0.map_or("none", BackendKind::name)
    }

    fn kind(self) -> Option<BackendKind> {
        self.0
    }

    /// Fds at or above this cannot be watched by the column's backend.
    fn fd_limit(self) -> Option<usize> {
        self.0.and_then(|k| k.caps().fd_limit)
    }

    /// Where the column sits among all of them (the chart's colour).
    pub fn index(self) -> usize {
        Column::value_variants()
            .iter()
            .position(|&c| c == self)
            .unwrap_or(0)
    }
}

/// `none` and every backend, in their order: a new backend is a new column by itself.
impl clap::ValueEnum for Column {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::LazyLock<Vec<Column>> = std::sync::LazyLock::new(|| {
            std::iter::once(Column(None))
                .chain(
                    BackendKind::value_variants()
                        .iter()
                        .map(|&k| Column(Some(k))),
                )
                .collect()
        });
        &ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let v = clap::builder::PossibleValue::new(self.name());
        Some(match self.0 {
            None => v.help("The floor: write + read with no wait (wake mode: a blocking read)"),
            Some(_) => v,
        })
    }
}

/// What to run (from `fdwatch bench`'s options).
#[derive(Clone, Debug)]
pub struct Config {
    pub columns: Vec<Column>,
    pub fds: Vec<usize>,
    pub active: usize,
    pub rounds: Option<u64>,
    pub repeats: usize,
    /// -1 blocks (the default); 0 only polls.
    pub timeout_ms: i32,
    pub wake: bool,
    pub cpu: Option<usize>,
    pub format: Format,
    pub color: ColorChoice,
}

impl Config {
    fn timeout(&self) -> Option<Duration> {
        u64::try_from(self.timeout_ms)
            .ok()
            .map(Duration::from_millis)
    }
}

pub enum RowOutcome {
    Measured(Stats),
    Refused(String),
}

/// One (backend, N) result.
pub struct Row {
    pub column: Column,
    pub fds: usize,
    pub active: usize,
    pub outcome: RowOutcome,
}

/// Runs every (N, backend) row and prints them; 0 when all ran or were refused.
#[inline(never)] // out of the one-shot start-up path (link/startup.ld)
pub fn run(cfg: &Config) -> Result<u8> {
    if let Some(cpu) = cfg.cpu {
        let mut set = CpuSet::new();
        let no_such = || {
            Error::Usage(format!(
                "bench: --cpu {cpu}: not a CPU this process may run on"
            ))
        };
        set.set(cpu).map_err(|_| no_such())?;
        sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| match e {
            nix::errno::Errno::EINVAL => no_such(),
            e => Error::sys(format!("bench --cpu {cpu}"), "sched_setaffinity", e),
        })?;
    }
    let start = std::time::Instant::now();
    let cpu = pinned_cpu();
    let limit = crate::open::raise_nofile_limit();
    let stdout = io::stdout();
    let color = output::use_color(cfg.color, output::StdStream::Stdout);
    let mut out = io::BufWriter::new(stdout.lock());
    let mut progress = Progress::new(cfg.fds.len() * cfg.columns.len());
    let mut rows = Vec::with_capacity(cfg.fds.len() * cfg.columns.len());
    for &n in &cfg.fds {
        for &column in &cfg.columns {
            progress.show(column, n);
            let row = run_row(cfg, column, n, limit)?;
            if cfg.format == Format::Json {
                print::json_row(&mut out, start.elapsed(), cfg, cpu, &row)
                    .map_err(Error::Output)?;
                out.flush().map_err(Error::Output)?;
            }
            rows.push(row);
        }
    }
    progress.clear();
    if cfg.format == Format::Text {
        // The report fits the terminal: the chart's bars by its width, and the long
        // lines (heading, slopes) folded when the width is known.
        let (columns, known) = output::columns(output::StdStream::Stdout);
        let mut out = output::Fold::new(&mut out, known.then_some(columns), 2);
        print::text(&mut out, cfg, cpu, &rows, color, columns).map_err(Error::Output)?;
        out.flush().map_err(Error::Output)?;
    }
    out.flush().map_err(Error::Output)?;
    Ok(0)
}

fn run_row(cfg: &Config, column: Column, n: usize, limit: u64) -> Result<Row> {
    let k = cfg.active.min(n);
    let row = |outcome| Row {
        column,
        fds: n,
        active: k,
        outcome,
    };
    // Checked before opening anything: the read ends take fds 3..N+3.
    if let Some(limit) = column.fd_limit()
        && n + 3 > limit
    {
        return Ok(row(RowOutcome::Refused(format!(
            "needs fds up to {}, {} is limited to fd < FD_SETSIZE ({limit})",
            n + 2,
            column.name()
        ))));
    }
    let mut layout = match Layout::build(n, k, limit)? {
        Ok(l) => l,
        Err(why) => return Ok(row(RowOutcome::Refused(why))),
    };
    if let Some(limit) = column.fd_limit() {
        let top = layout.rd.iter().map(|fd| fd.as_raw_fd()).max().unwrap_or(0);
        if usize::try_from(top).map_or(true, |t| t >= limit) {
            return Ok(row(RowOutcome::Refused(format!(
                "read end landed at fd {top} >= FD_SETSIZE ({limit}); inherited fds pushed it up"
            ))));
        }
    }
    let go = if cfg.wake {
        Some(layout.spawn_writer(Rotation::new(k))?)
    } else {
        None
    };
    let mut lp = match Loop::new(&layout, column.kind(), cfg.timeout(), go)? {
        Ok(lp) => lp,
        Err(why) => return Ok(row(RowOutcome::Refused(why))),
    };
    let stats = lp.measure(cfg.rounds, cfg.repeats)?;
    Ok(row(RowOutcome::Measured(stats)))
}

/// The CPU this process is pinned to (by --cpu or taskset), or None when it may run on
/// several (the JSON field `cpu`, -1 then).
fn pinned_cpu() -> Option<usize> {
    let set = sched_getaffinity(Pid::from_raw(0)).ok()?;
    let mut on = (0..CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false));
    match (on.next(), on.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

/// "[3/20] poll N=1000" on stderr, only when stderr is a terminal.
struct Progress {
    on: bool,
    done: usize,
    total: usize,
}

impl Progress {
    fn new(total: usize) -> Progress {
        Progress {
            on: io::stderr().is_terminal(),
            done: 0,
            total,
        }
    }

    fn show(&mut self, column: Column, n: usize) {
        self.done += 1;
        if self.on {
            let _ = write!(
                io::stderr().lock(),
                "\r\x1b[Kfdwatch bench: [{}/{}] {} N={n}",
                self.done,
                self.total,
                column.name()
            );
        }
    }

    fn clear(&self) {
        if self.on {
            let _ = write!(io::stderr().lock(), "\r\x1b[K");
        }
    }
}
