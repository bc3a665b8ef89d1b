//! From clap's view of the command line to the one typed `Command`: the positionals
//! typed (TIMEOUT, the SPECs, or `pid:PID` alone), each front end's config built, and
//! every refusal that the command line alone decides made here, before anything runs.

use std::ffi::OsString;

use super::errors::similar_subcommand;
use super::sub::Sub;
use super::values::{FormatWord, SigList};
use super::{Args, habits};
use crate::backend;
use crate::command::{Command, Generated};
use crate::event::Until;
use crate::output::{Format, Output, tlpi};
use crate::reader::ReadMode;
use crate::send::SendStep;
use crate::spec::{self, PidFds, Spec, Target};
use crate::timeout::{self, Timeout};
use crate::{explain, watch};

/// A command line refused: its line, and a `tip:` line where one helps.
pub(super) struct Refused {
    pub line: String,
    pub tip: Option<String>,
}

impl From<String> for Refused {
    fn from(line: String) -> Refused {
        Refused { line, tip: None }
    }
}

/// Watch mode's positionals, typed.
enum Positionals {
    /// `fdwatch pid:PID` alone: explain what that process is blocked on.
    Explain(i32),
    Watch(Timeout, Vec<spec::Typed>),
}

impl Args {
    /// The command this line asks for; `steps` are `send`'s, in command-line order.
    pub(super) fn typed(&self, steps: Result<Vec<SendStep>, String>) -> Result<Command, Refused> {
        if let Some(what) = self.generate {
            let name = clap::ValueEnum::to_possible_value(&what)
                .map_or_else(String::new, |v| v.get_name().to_owned());
            let what_line = format!("--generate {name}");
            return match what.render() {
                Ok(bytes) => Ok(Command::Generate(Generated {
                    what: what_line,
                    bytes,
                })),
                Err(e) => Err(format!("{what_line}: {e}").into()),
            };
        }
        Ok(match &self.command {
            Some(Sub::Send(s)) => Command::Send(s.config(steps?)?),
            Some(Sub::Bench(b)) => Command::Bench(b.config()?),
            Some(Sub::Relay(r)) => Command::Relay(r.config()?),
            Some(Sub::Pipeline(p)) => Command::Pipeline(p.config()),
            None => match self.positionals().map_err(|m| self.unresolved(m))? {
                Positionals::Explain(pid) => Command::Explain(explain::Config {
                    pid,
                    output: self.output(true)?,
                    count: self.count,
                    verbose: self.verbose,
                    until: self.until.clone(),
                }),
                Positionals::Watch(timeout, specs) => {
                    Command::Watch(self.watch_config(timeout, specs)?)
                }
            },
        })
    }

    /// Types the positionals: TIMEOUT then SPECs. In monitor mode TIMEOUT may be left
    /// out (`fdwatch -m --tee -`): a lone positional, or a first one that is no
    /// timeout but is a SPEC, starts the SPECs and the idle timeout is forever.
    fn positionals(&self) -> Result<Positionals, String> {
        let Some(first) = self.first.clone() else {
            // Only --generate leaves TIMEOUT out, and it was answered before.
            return Err(
                "missing TIMEOUT and SPEC: fdwatch [OPTIONS] TIMEOUT SPEC... (see --help)".into(),
            );
        };
        let first_spec = spec::parse(&first);
        // `fdwatch pid:PID` alone explains and exits: no TIMEOUT.
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
            return Ok(Positionals::Explain(pid));
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
        self.refuse_caught_and_blocked()?;
        let specs: Vec<spec::Typed> = specs
            .into_iter()
            .map(|s| spec::Typed::parse(s).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        if let Some(p) = specs
            .iter()
            .find(|s| matches!(s.target, Target::Pid { .. }))
        {
            self.refuse_reading(p)?;
        }
        Ok(Positionals::Watch(timeout, specs))
    }

    /// A signal is either caught (`--signals`) or kept blocked (`--mask`), not both.
    fn refuse_caught_and_blocked(&self) -> Result<(), String> {
        if let (Some(c), Some(m)) = (&self.signals, &self.mask)
            && let Some(&n) = c.0.iter().find(|n| m.0.contains(n))
        {
            return Err(format!(
                "signal {} is in --signals and --mask: a signal is either caught or kept blocked",
                crate::signals::name(n)
            ));
        }
        Ok(())
    }

    /// `--until` with a condition that this command line can never give, whatever its
    /// SPECs are (the watch set refuses what its fds cannot give once they are open).
    fn refuse_impossible_until(&self) -> Result<(), String> {
        for &u in &self.until {
            let why = match u {
                Until::Rdhup if self.backend.caps().folds_hangup => {
                    "select and pselect never report rdhup"
                }
                Until::Eof if self.read_mode().is_none() => "end of file is only seen with --read",
                _ => continue,
            };
            return Err(format!("--until {}: cannot happen here: {why}", u.name()));
        }
        Ok(())
    }

    /// The positionals were refused: the line, with a tip when the first word is no
    /// timeout but looks like a subcommand, or is a path (the forms that watch it).
    fn unresolved(&self, msg: String) -> Refused {
        let first = self.first.as_deref().unwrap_or_default();
        match self.first.as_ref().and_then(similar_subcommand) {
            Some(sub) => Refused {
                line: format!(
                    "unrecognized subcommand '{}' ({msg})",
                    crate::escape::arg(first)
                ),
                tip: Some(format!("a similar subcommand exists: '{sub}'")),
            },
            None => Refused {
                tip: habits::timeout_tip(first),
                line: msg,
            },
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

    /// How data is consumed: `--read`, or `--tee` alone meaning `--read=count`.
    fn read_mode(&self) -> Option<ReadMode> {
        self.read.or(self.tee.then_some(ReadMode::Count))
    }

    /// Where and how events are printed. `--format tlpi` needs a run the book has a
    /// program for: refused otherwise, except with `pid:PID` alone, which then prints text.
    fn output(&self, explain: bool) -> Result<Output, String> {
        let format = match self.format {
            FormatWord::Text => Format::Text,
            FormatWord::Json => Format::Json,
            FormatWord::Tlpi => {
                let reading = self.read_mode().is_some();
                match self.backend.book(self.monitor, reading) {
                    Some(book) => Format::Tlpi(book),
                    None if explain => Format::Text,
                    None => {
                        let m = if self.monitor { " -m" } else { "" };
                        let r = if reading { " --read" } else { "" };
                        let run = format!("-b {}{m}{r}", self.backend.name());
                        return Err(tlpi::refused(&run));
                    }
                }
            }
        };
        Ok(Output {
            format,
            time: self.time,
            color: self.color,
            quiet: self.quiet,
            // With --tee stdout carries the data.
            to_stderr: self.tee,
        })
    }

    /// Watch mode's typed configuration: what everything below the command line sees.
    fn watch_config(
        &self,
        timeout: Timeout,
        specs: Vec<spec::Typed>,
    ) -> Result<watch::Config, String> {
        backend::user_modes(self.backend, self.edge, self.oneshot).map_err(|e| e.to_string())?;
        let output = self.output(false)?;
        self.refuse_impossible_until()?;
        let list = |l: &Option<SigList>| l.as_ref().map(|l| l.0.clone()).unwrap_or_default();
        Ok(watch::Config {
            output,
            timeout,
            specs,
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
            verbose: self.verbose,
        })
    }
}
