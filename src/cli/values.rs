//! Typed value parsers for options.

use std::ffi::OsStr;
use std::time::Duration;

use clap::Command;
use clap::error::{ContextKind, ContextValue, ErrorKind};

use crate::output::Format;
use crate::spec;
use crate::timeout;

/// A list of signal numbers from `--signals` / `--mask`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SigList(pub Vec<i32>);

/// `--signals`: signals that can be caught.
pub(super) fn parse_signals(s: &str) -> Result<SigList, String> {
    crate::signals::parse_list(s, crate::signals::Use::Catch).map(SigList)
}

/// `--mask`: signals that can be blocked.
pub(super) fn parse_mask(s: &str) -> Result<SigList, String> {
    crate::signals::parse_list(s, crate::signals::Use::Block).map(SigList)
}

/// `--interval` (watch mode, relay, pipeline): a duration from 1 ms to 1 hour.
pub(super) fn parse_interval(s: &str) -> Result<Duration, String> {
    timeout::option(s, Duration::from_millis(1), Duration::from_secs(3600))
}

/// `relay --idle`: a duration above zero (`-` is no idle timeout: leave it out).
pub(super) fn parse_idle(s: &str) -> Result<Duration, String> {
    if s == "-" {
        return Err(format!(
            "'-' (forever) is no idle timeout: leave --idle out to run until a signal; \
             expected {}",
            timeout::GRAMMAR
        ));
    }
    timeout::option(s, Duration::from_nanos(1), timeout::MAX)
}

/// `send --delay`: a duration, zero included.
pub(super) fn parse_delay(s: &str) -> Result<Duration, String> {
    timeout::option(s, Duration::ZERO, timeout::MAX)
}

/// The address words of `relay` (LISTEN, TARGET) and `send` (ADDRESS), taken as bytes
/// so that one that is not UTF-8 gets the message a watch-mode SPEC gets (`spec
/// 'unix:/x\xff': socket addresses must be valid UTF-8`), prefixed as the command's own
/// address errors are; any other such word goes on quoted (`\xNN`) for the command to
/// refuse as no address.
#[derive(Clone, Copy)]
pub(super) struct Word;

pub(super) fn word() -> Word {
    Word
}

impl clap::builder::TypedValueParser for Word {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        if let Some(s) = value.to_str() {
            return Ok(s.to_owned());
        }
        match spec::parse(value) {
            Err(e) if spec::is_socket_word(value) => {
                let role = arg
                    .and_then(|a| a.get_value_names()?.first().cloned())
                    .map(|n| n.to_string())
                    .unwrap_or_default();
                let line = match cmd.get_name() {
                    "relay" => format!("relay {role}: {e}"),
                    name => format!("{name}: {e}"),
                };
                // clap's own words for InvalidUtf8 name nothing: the line goes with
                // the error as its message (errors.rs reads it back).
                let mut e = clap::Error::new(ErrorKind::InvalidUtf8).with_cmd(cmd);
                e.insert(ContextKind::Custom, ContextValue::String(line));
                Err(e)
            }
            _ => Ok(crate::escape::arg(value)),
        }
    }
}

/// `--format`: what clap takes. `tlpi` is a run the book has a program for, which
/// only the whole command line decides (`typed.rs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(super) enum FormatWord {
    #[default]
    Text,
    Json,
    /// The book's programs' output (t_select, poll_pipes, epoll_input): watch mode only.
    Tlpi,
}

impl FormatWord {
    /// The format of a front end that prints text or JSON: `tlpi` is refused (`what`
    /// has no program in the book).
    pub(super) fn plain(self, what: &str) -> Result<Format, String> {
        match self {
            FormatWord::Text => Ok(Format::Text),
            FormatWord::Json => Ok(Format::Json),
            FormatWord::Tlpi => Err(crate::output::tlpi::refused(what)),
        }
    }
}

/// `--format` of relay and bench: text or json. `tlpi` is accepted but not offered
/// (help, completions): it is refused with the list of the book's programs, as watch
/// mode refuses a combination the book has no program for.
pub(super) fn text_or_json() -> impl clap::builder::TypedValueParser<Value = FormatWord> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("text"),
        PossibleValue::new("json"),
        PossibleValue::new("tlpi").hide(true),
    ])
    .map(|s| match s.as_str() {
        "json" => FormatWord::Json,
        "tlpi" => FormatWord::Tlpi,
        _ => FormatWord::Text,
    })
}
