//! Printers behind one trait over any `Write`: text (aligned, coloured) and JSON Lines.

mod fold;
mod humane;
#[cfg(test)]
mod samples;
pub use humane::human_rate;
pub mod json;
pub mod schema;
mod text;
pub mod tlpi;

use std::io;
use std::time::Duration;

pub use fold::Fold;
pub use json::Json;
pub use text::Text;
pub use tlpi::Tlpi;

use crate::backend::Book;
use crate::event::Event;
use crate::outlet::Outlet;

/// How events are printed. `--format tlpi` is a run the book has a program for, so
/// the program is part of it: there is no tlpi without one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// The book's programs' output (t_select, poll_pipes, epoll_input): watch mode only.
    Tlpi(Book),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TimeStyle {
    /// Seconds since start.
    #[default]
    Elapsed,
    /// Seconds since the previous event.
    Delta,
    /// Local wall-clock time.
    Wall,
    None,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// The stream colour is decided for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StdStream {
    Stdout,
    Stderr,
}

/// Decides colour once: `always`/`never` win; `auto` follows the conventions as
/// anstyle-query (clap's own terminal layer) reads the environment: NO_COLOR set turns
/// colour off, CLICOLOR_FORCE on, CLICOLOR=0 off, and otherwise only a terminal whose
/// TERM can show colour (set, not `dumb`) gets it. anstream's own `AutoStream::choice`
/// is not used: it also colours a `TERM=dumb` terminal whenever `CI` is set.
pub fn use_color(choice: ColorChoice, stream: StdStream) -> bool {
    use std::io::IsTerminal;
    color_on(choice, || match stream {
        StdStream::Stdout => io::stdout().is_terminal(),
        StdStream::Stderr => io::stderr().is_terminal(),
    })
}

/// `use_color` for a stream that is a terminal or not (`terminal`, asked only for auto).
fn color_on(choice: ColorChoice, terminal: impl FnOnce() -> bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => Conventions::from_env().color(terminal()),
    }
}

/// What the environment says about colour, read by anstyle-query.
#[derive(Clone, Copy, Debug, Default)]
struct Conventions {
    no_color: bool,
    force: bool,
    /// CLICOLOR: None unset, Some(false) for `0`.
    clicolor: Option<bool>,
    /// TERM set and not `dumb`.
    term_color: bool,
}

impl Conventions {
    fn from_env() -> Self {
        Conventions {
            no_color: anstyle_query::no_color(),
            force: anstyle_query::clicolor_force(),
            clicolor: anstyle_query::clicolor(),
            term_color: anstyle_query::term_supports_color(),
        }
    }

    fn color(self, terminal: bool) -> bool {
        if self.no_color {
            false
        } else if self.force {
            true
        } else if self.clicolor == Some(false) {
            false
        } else {
            terminal && self.term_color
        }
    }
}

/// The terminal's width for `stream`: COLUMNS, else the tty's size, else 80; and
/// whether it is known (COLUMNS or a tty) rather than the default. Text lines are
/// folded only to a known width, so a pipe gets whole lines for grep.
pub fn columns(stream: StdStream) -> (usize, bool) {
    columns_on(stream, true)
}

/// `columns` where the stream is known not to be a terminal unless `maybe_tty` (its
/// size is then not asked).
fn columns_on(stream: StdStream, maybe_tty: bool) -> (usize, bool) {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return (n, true);
    }
    if !maybe_tty {
        return (80, false);
    }
    let fd = match stream {
        StdStream::Stdout => nix::libc::STDOUT_FILENO,
        StdStream::Stderr => nix::libc::STDERR_FILENO,
    };
    nix::ioctl_read_bad!(tiocgwinsz, nix::libc::TIOCGWINSZ, nix::libc::winsize);
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`, which lives across the call; on
    // anything but a terminal it fails with ENOTTY and writes nothing.
    match unsafe { tiocgwinsz(fd, &mut ws) } {
        Ok(_) if ws.ws_col > 0 => (usize::from(ws.ws_col), true),
        _ => (80, false),
    }
}

/// The colour of series `i` in a chart (the bench's columns: 0 is the floor).
pub fn series_style(i: usize) -> owo_colors::Style {
    use owo_colors::Style;
    const PALETTE: [fn(Style) -> Style; 5] = [
        Style::yellow,
        Style::yellow,
        Style::cyan,
        Style::cyan,
        Style::green,
    ];
    match i {
        0 => Style::new().dimmed(),
        i => PALETTE[(i - 1) % PALETTE.len()](Style::new()),
    }
}

pub trait Printer {
    /// Writes one event stamped `t` after the start of the run.
    fn event(&mut self, t: Duration, ev: &Event<'_>) -> io::Result<()>;
    /// Called once per wait, so a pipe reader sees events live.
    fn flush(&mut self) -> io::Result<()>;
    /// Whether it needs the diagnostic events (waits, the fds watched) even without
    /// `-v` (`--format tlpi` prints per wait, as the book's programs do).
    fn wants_diagnostics(&self) -> bool {
        false
    }
}

/// `-q`: events are silenced; the exit status answers.
pub struct Quiet;

impl Printer for Quiet {
    fn event(&mut self, _: Duration, _: &Event<'_>) -> io::Result<()> {
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where and how events are printed, from the command line.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub format: Format,
    pub time: TimeStyle,
    pub color: ColorChoice,
    pub quiet: bool,
    /// Events on stderr (stdout carries data, as with --tee).
    pub to_stderr: bool,
}

impl Output {
    /// The printer: buffered stdout (or stderr), colour decided once for that stream.
    pub fn printer(self) -> Box<dyn Printer> {
        use std::io::BufWriter;
        let (sink, stream) = if self.to_stderr {
            (Outlet::stderr(), StdStream::Stderr)
        } else {
            (Outlet::stdout(), StdStream::Stdout)
        };
        let terminal = sink.is_terminal();
        let sink = BufWriter::new(sink);
        match (self.format, self.quiet) {
            (Format::Tlpi(book), false) => Box::new(Tlpi::new(sink, book)),
            (_, true) => Box::new(Quiet),
            (Format::Json, false) => Box::new(Json::new(sink)),
            (Format::Text, false) => {
                let color = color_on(self.color, || terminal);
                let width = columns_on(stream, terminal);
                Box::new(Text::new(sink, self.time, color, width))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Conventions;

    #[test]
    fn auto_colour_policy() {
        let c = Conventions::default;
        let term = Conventions {
            term_color: true,
            ..c()
        };
        // (the environment read, on a terminal, colour)
        let table = [
            (term, true, true),
            (term, false, false),
            // TERM=dumb or unset, whatever CI says
            (c(), true, false),
            (
                Conventions {
                    clicolor: Some(false),
                    ..term
                },
                true,
                false,
            ),
            (
                Conventions {
                    clicolor: Some(true),
                    ..c()
                },
                true,
                false,
            ),
            (
                Conventions {
                    no_color: true,
                    ..term
                },
                true,
                false,
            ),
            (Conventions { force: true, ..c() }, false, true),
            (
                Conventions {
                    force: true,
                    no_color: true,
                    ..c()
                },
                false,
                false,
            ),
            (
                Conventions {
                    force: true,
                    clicolor: Some(false),
                    ..c()
                },
                false,
                true,
            ),
        ];
        for (env, terminal, want) in table {
            assert_eq!(env.color(terminal), want, "{env:?}, terminal {terminal}");
        }
    }
}
