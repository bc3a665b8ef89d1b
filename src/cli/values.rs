//! Typed value parsers for options, and clap's errors as one line naming the argument.

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use clap::Command;

use crate::output::Format;
use crate::spec;
use crate::timeout;

use super::command;

/// For a value that starts with `-` but is no option (`-1r`, `-inf`), clap names only
/// a fragment (`'-1'`). This finds the whole word and lets our own parser explain it:
/// as TIMEOUT when no positional came before it, as a SPEC otherwise.
pub(super) fn dash_value_error(argv: &[OsString]) -> Option<String> {
    if let Some(e) = dash_option_value_error(argv) {
        return Some(e);
    }
    let cmd = command();
    // `-b` / `--backend` and the like consume the next word (unless written `--x=v`).
    let takes_value = |word: &str| takes_value(&cmd, word);
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

/// Whether `word` (`-b`, `--backend`) names an option of `c` that takes a value.
fn takes_value(c: &Command, word: &str) -> bool {
    c.get_arguments().any(|a| {
        let named = match word.strip_prefix("--") {
            Some(long) => a.get_long() == Some(long),
            None => word.len() == 2 && word[1..].chars().next() == a.get_short(),
        };
        named && a.get_action().takes_values()
    })
}

/// `--delay -1`: clap takes `-1` for an option of its own and says so. Given to the
/// option it follows (`--delay=-1`), the option's own parser names what is wrong.
fn dash_option_value_error(argv: &[OsString]) -> Option<String> {
    let cmd = command();
    let negative = |w: &str| {
        w.starts_with('-') && w[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.')
    };
    let words: Vec<String> = argv
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let mut scope = &cmd;
    for (i, pair) in words.windows(2).enumerate() {
        let (opt, value) = (&pair[0], &pair[1]);
        if let Some(sub) = cmd.find_subcommand(opt.as_str()) {
            scope = sub;
            continue;
        }
        if !(opt.starts_with('-') && negative(value) && takes_value(scope, opt)) {
            continue;
        }
        let joined = if opt.starts_with("--") {
            format!("{opt}={value}")
        } else {
            format!("{opt}{value}")
        };
        let mut fixed: Vec<OsString> = argv[..i].to_vec();
        fixed.push(joined.into());
        fixed.extend_from_slice(&argv[i + 2..]);
        return command()
            .try_get_matches_from(fixed)
            .err()
            .map(|e| one_line(&e));
    }
    None
}

/// clap's error as one line: its first paragraph, joined, without "error: " and tips.
pub(super) fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = para.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

/// The subcommand argv names (the first word that is no option), if any.
pub(super) fn subcommand_of(argv: &[OsString]) -> Option<String> {
    let cmd = command();
    let word = argv
        .iter()
        .skip(1)
        .map(|w| w.to_string_lossy())
        .find(|w| !w.starts_with('-'))?;
    cmd.find_subcommand(word.as_ref())
        .map(|s| s.get_name().to_owned())
}

/// `fdwatch relay [OPTIONS] <LISTEN> <TARGET>`: the usage line of clap's error.
pub(super) fn usage_of(e: &clap::Error) -> Option<String> {
    let text = e.render().to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(str::to_owned)
}

/// clap's suggestion (`a similar argument exists: '--monitor'`), if it made one (not
/// its "use '-- -1'" tips: a negative value is explained by our own line instead).
pub(super) fn tip_of(e: &clap::Error) -> Option<String> {
    let text = e.render().to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("tip: "))
        .filter(|t| t.starts_with("a similar"))
        .map(str::to_owned)
}

/// A subcommand `word` is probably a typo of (`sned` → `send`): none when it is a
/// file that exists (a path SPEC) or not close to any.
pub(super) fn similar_subcommand(word: &OsString) -> Option<String> {
    let w = word.to_str()?;
    if w.contains(['/', ':', '.']) || std::path::Path::new(w).exists() {
        return None;
    }
    command()
        .get_subcommands()
        .map(|s| s.get_name().to_owned())
        .filter(|name| name != "help")
        .map(|name| (strsim::damerau_levenshtein(w, &name), name))
        .filter(|(d, name)| *d > 0 && *d <= (name.len() / 3).max(1))
        .min()
        .map(|(_, name)| name)
}

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
                Err(clap::Error::raw(clap::error::ErrorKind::InvalidUtf8, line))
            }
            _ => Ok(crate::escape::arg(value)),
        }
    }
}

/// clap's message with each argument that is not UTF-8 quoted as typed (`\xNN`), not
/// as its lossy U+FFFD form; and for clap's `invalid UTF-8 was detected`, which names
/// nothing, the word and the option it is the value of.
pub(super) fn requote(msg: String, argv: &[OsString]) -> String {
    let bad: Vec<&OsString> = argv
        .iter()
        .skip(1)
        .filter(|w| w.to_str().is_none())
        .collect();
    if msg.starts_with("invalid UTF-8 was detected")
        && let Some(w) = bad.first()
    {
        return not_utf8(w, argv);
    }
    bad.iter().fold(msg, |m, w| {
        m.replace(w.to_string_lossy().as_ref(), &crate::escape::arg(w))
    })
}

/// `invalid value 'a\xffb' for '--signals <LIST>': not valid UTF-8`, naming the option
/// `w` belongs to (`--opt=VALUE`, or the word before it), or `argument 'a\xffb'`.
fn not_utf8(w: &OsStr, argv: &[OsString]) -> String {
    use std::os::unix::ffi::OsStrExt;
    let cmd = command();
    let at = argv.iter().position(|a| a.as_os_str() == w).unwrap_or(0);
    let scope = argv[1..at]
        .iter()
        .filter_map(|a| cmd.find_subcommand(a.to_str()?))
        .next()
        .unwrap_or(&cmd);
    let b = w.as_bytes();
    let (opt, value) = match b.iter().position(|&c| c == b'=') {
        Some(eq) if b.starts_with(b"--") => (
            std::str::from_utf8(&b[..eq]).ok().map(str::to_owned),
            OsStr::from_bytes(&b[eq + 1..]),
        ),
        _ => (
            at.checked_sub(1)
                .and_then(|p| argv[p].to_str())
                .filter(|p| p.starts_with('-') && takes_value(scope, p))
                .map(str::to_owned),
            w,
        ),
    };
    let shown = crate::escape::arg(value);
    match opt.and_then(|o| option_named(scope, &o)) {
        Some(o) => format!("invalid value '{shown}' for '{o}': not valid UTF-8"),
        None => format!("argument '{shown}': not valid UTF-8"),
    }
}

/// `--signals <LIST>`: an option of `c` as clap's errors name it.
fn option_named(c: &Command, word: &str) -> Option<String> {
    let a = c.get_arguments().find(|a| match word.strip_prefix("--") {
        Some(long) => a.get_long() == Some(long),
        None => word.len() == 2 && word[1..].chars().next() == a.get_short(),
    })?;
    let value = a
        .get_value_names()
        .and_then(|v| v.first())
        .map_or_else(|| a.get_id().to_string().to_uppercase(), |v| v.to_string());
    Some(format!("--{} <{value}>", a.get_long()?))
}

/// `--format` of relay and bench: text or json. `tlpi` is accepted but not offered
/// (help, completions): it is refused with the list of the book's programs, as watch
/// mode refuses a combination the book has no program for.
pub(super) fn text_or_json() -> impl clap::builder::TypedValueParser<Value = Format> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("text"),
        PossibleValue::new("json"),
        PossibleValue::new("tlpi").hide(true),
    ])
    .map(|s| match s.as_str() {
        "json" => Format::Json,
        "tlpi" => Format::Tlpi,
        _ => Format::Text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where each duration option sits on a command line, with `V` for its value.
    const PLACES: &[(&str, &[&str])] = &[
        ("--interval", &["-m", "--interval", "V", "1", "0r"]),
        (
            "--interval",
            &[
                "relay",
                "--interval",
                "V",
                "tcp-listen:1",
                "tcp:127.0.0.1:2",
            ],
        ),
        (
            "--idle",
            &["relay", "--idle", "V", "tcp-listen:1", "tcp:127.0.0.1:2"],
        ),
        ("--interval", &["pipeline", "--interval", "V", "1"]),
        ("--delay", &["send", "--delay", "V", "tcp:127.0.0.1:1"]),
    ];

    /// clap's result for `place` with `value`, errors as the one line fdwatch prints.
    fn parsed(place: &[&str], value: &str) -> Result<(), String> {
        let mut argv = vec!["fdwatch"];
        argv.extend(place.iter().map(|w| if *w == "V" { value } else { w }));
        let fixed: Vec<OsString> = argv.iter().map(OsString::from).collect();
        match command().try_get_matches_from(&fixed) {
            Ok(_) => Ok(()),
            // `--delay -1`: as cli::parse explains it, through the option's parser.
            Err(e) => Err(dash_value_error(&fixed).unwrap_or_else(|| one_line(&e))),
        }
    }

    /// Every duration option takes the same forms and refuses the same ones with the
    /// same words, naming itself.
    #[test]
    fn every_duration_option_one_grammar() {
        for (opt, place) in PLACES {
            for good in ["2", "0.4", "400ms", "1m30s", "0.5", "1.5s"] {
                assert_eq!(parsed(place, good), Ok(()), "{opt} {good} in {place:?}");
            }
            for (bad, why) in [
                ("-1", timeout::Bad::Negative.reason()),
                ("-0.4", timeout::Bad::Negative.reason()),
                ("abc", timeout::Bad::Unparsable.reason()),
                ("1x", timeout::Bad::Unparsable.reason()),
                ("NaN", timeout::Bad::NotANumber.reason()),
            ] {
                let e = parsed(place, bad).expect_err(bad);
                assert_eq!(
                    e,
                    format!("invalid value '{bad}' for '{opt} <DUR>': {why}"),
                    "{place:?}"
                );
            }
            let dash = parsed(place, "-").expect_err("-");
            assert!(dash.contains(&format!("for '{opt} <DUR>'")), "{dash}");
        }
    }
}
