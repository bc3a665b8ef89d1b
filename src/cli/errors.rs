//! clap's errors as the one line fdwatch prints (and a `tip:` line): a value that
//! starts with `-` explained by its own parser, a word that is not UTF-8 shown as typed.

use std::ffi::{OsStr, OsString};

use clap::Command;
use clap::error::ErrorKind;

use crate::spec;
use crate::timeout;

use super::command;

/// The line (and the tip, if clap made one) for a command line clap refused.
pub(super) fn usage_error(e: &clap::Error, argv: &[OsString]) -> (String, Option<String>) {
    let msg = match e.kind() {
        ErrorKind::UnknownArgument => dash_value_error(argv).unwrap_or_else(|| one_line(e)),
        // Only the first positional is required by clap; say what the form is.
        // An option that needs -m (--once, --until): clap's own line says so.
        ErrorKind::MissingRequiredArgument if one_line(e).contains("--monitor") => {
            format!("{} (these options need -m)", one_line(e))
        }
        // A subcommand's own arguments: clap's line names them.
        ErrorKind::MissingRequiredArgument => match subcommand_of(argv) {
            Some(sub) => {
                let line = one_line(e);
                let missing = line.rsplit_once(": ").map_or(line.as_str(), |(_, m)| m);
                format!(
                    "missing {missing}: {} (see fdwatch {sub} --help)",
                    usage_of(e).unwrap_or_else(|| format!("fdwatch {sub}"))
                )
            }
            None => {
                "missing TIMEOUT and SPEC: fdwatch [OPTIONS] TIMEOUT SPEC... (see --help)".into()
            }
        },
        _ => one_line(e),
    };
    (requote(msg, argv), tip_of(e))
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

/// `fdwatch relay [OPTIONS] <LISTEN> <TARGET>`: the usage line of clap's error.
fn usage_of(e: &clap::Error) -> Option<String> {
    let text = e.render().to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .map(str::to_owned)
}

/// clap's suggestion (`a similar argument exists: '--monitor'`), if it made one (not
/// its "use '-- -1'" tips: a negative value is explained by our own line instead).
fn tip_of(e: &clap::Error) -> Option<String> {
    let text = e.render().to_string();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("tip: "))
        .filter(|t| t.starts_with("a similar"))
        .map(str::to_owned)
}

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

/// clap's message with each argument that is not UTF-8 quoted as typed (`\xNN`), not
/// as its lossy U+FFFD form; and for clap's `invalid UTF-8 was detected`, which names
/// nothing, the word and the option it is the value of.
fn requote(msg: String, argv: &[OsString]) -> String {
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
