//! clap's errors as the one line fdwatch prints (and a `tip:` line), read from their
//! kind and context, never from clap's rendered text: a value that starts with `-`
//! explained by its own parser, a word that is not UTF-8 shown as typed.

use std::ffi::{OsStr, OsString};

use clap::Command;
use clap::error::{ContextKind as K, ContextValue as V, ErrorKind};

use crate::spec;
use crate::timeout;

use super::command;

/// The line (and the tip, if clap made one) for a command line clap refused.
pub(super) fn usage_error(e: &clap::Error, argv: &[OsString]) -> (String, Option<String>) {
    let msg = match e.kind() {
        ErrorKind::UnknownArgument => dash_value_error(argv).unwrap_or_else(|| one_line(e)),
        ErrorKind::MissingRequiredArgument => missing(e, argv),
        _ => named(e, argv),
    };
    (requote(msg, argv), tip_of(e))
}

/// Only the first positional is required by clap: say what the form is. An option
/// that needs -m (--once, --until): clap's own line says so. A subcommand's own
/// arguments: named, with its usage.
fn missing(e: &clap::Error, argv: &[OsString]) -> String {
    let args = match e.get(K::InvalidArg) {
        Some(V::Strings(v)) => v.join(" "),
        _ => one_line(e),
    };
    if args.contains("--monitor") {
        return format!("{} (these options need -m)", one_line(e));
    }
    match subcommand_of(argv) {
        Some(sub) => format!(
            "missing {args}: {} (see fdwatch {sub} --help)",
            usage_of(e).unwrap_or_else(|| format!("fdwatch {sub}"))
        ),
        None => "missing TIMEOUT and SPEC: fdwatch [OPTIONS] TIMEOUT SPEC... (see --help)".into(),
    }
}

/// `one_line`, but for clap's `invalid UTF-8 was detected`, which names nothing: the
/// first word that is not UTF-8 and the option it is the value of.
fn named(e: &clap::Error, argv: &[OsString]) -> String {
    if e.kind() == ErrorKind::InvalidUtf8
        && e.get(K::Custom).is_none()
        && let Some(w) = argv.iter().skip(1).find(|w| w.to_str().is_none())
    {
        return not_utf8(w, argv);
    }
    one_line(e)
}

/// clap's error as one line: what it says first, in its words (without "error: ",
/// the usage and the tips), its lists joined.
pub(super) fn one_line(e: &clap::Error) -> String {
    let text = said(e).unwrap_or_else(|| match e.kind().as_str() {
        Some(s) => s.to_owned(),
        None => std::error::Error::source(e).map_or("unknown cause".into(), |s| s.to_string()),
    });
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    para.join(" ")
}

/// What clap says of an error of this kind with this context, laid out as clap does
/// (a list one item per line); None when the context is not there (clap then says
/// the kind's own words). Our own errors (values.rs) carry their line as `Custom`.
fn said(e: &clap::Error) -> Option<String> {
    if let Some(line) = string(e, K::Custom) {
        return Some(line.to_owned());
    }
    Some(match e.kind() {
        ErrorKind::ArgumentConflict => conflict(e)?,
        ErrorKind::NoEquals
        | ErrorKind::InvalidValue
        | ErrorKind::TooManyValues
        | ErrorKind::ValueValidation => of_value(e)?,
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => of_count(e)?,
        ErrorKind::InvalidSubcommand => {
            format!(
                "unrecognized subcommand '{}'",
                string(e, K::InvalidSubcommand)?
            )
        }
        ErrorKind::MissingRequiredArgument => match e.get(K::InvalidArg)? {
            V::Strings(v) => format!(
                "the following required arguments were not provided:{}",
                v.iter().map(|a| format!("\n\t{a}")).collect::<String>()
            ),
            _ => return None,
        },
        ErrorKind::MissingSubcommand => format!(
            "'{}' requires a subcommand but one was not provided{}",
            string(e, K::InvalidSubcommand)?,
            listed("subcommands", e.get(K::ValidSubcommand))
        ),
        ErrorKind::UnknownArgument => {
            format!("unexpected argument '{}' found", string(e, K::InvalidArg)?)
        }
        _ => return None,
    })
}

/// A string of the error's context.
fn string(e: &clap::Error, k: K) -> Option<&str> {
    match e.get(k) {
        Some(V::String(s)) => Some(s),
        _ => None,
    }
}

/// An option's value refused: not one of its values, not valid for its parser, one
/// too many, or given without the `=` it needs.
fn of_value(e: &clap::Error) -> Option<String> {
    let arg = string(e, K::InvalidArg)?;
    if e.kind() == ErrorKind::NoEquals {
        return Some(format!(
            "equal sign is needed when assigning values to '{arg}'"
        ));
    }
    let value = string(e, K::InvalidValue)?;
    Some(match e.kind() {
        ErrorKind::InvalidValue if value.is_empty() => format!(
            "a value is required for '{arg}' but none was supplied{}",
            listed("possible values", e.get(K::ValidValue))
        ),
        ErrorKind::InvalidValue => format!(
            "invalid value '{value}' for '{arg}'{}",
            listed("possible values", e.get(K::ValidValue))
        ),
        ErrorKind::TooManyValues => {
            format!("unexpected value '{value}' for '{arg}' found; no more were expected")
        }
        _ => {
            let why = std::error::Error::source(e).map_or(String::new(), |s| format!(": {s}"));
            format!("invalid value '{value}' for '{arg}'{why}")
        }
    })
}

/// An option given too few values, or not the number it takes.
fn of_count(e: &clap::Error) -> Option<String> {
    let n = |k| match e.get(k) {
        Some(V::Number(n)) => Some(*n),
        _ => None,
    };
    let arg = string(e, K::InvalidArg)?;
    let actual = n(K::ActualNumValues)?;
    let provided = if actual > 1 { "were" } else { "was" };
    Some(if e.kind() == ErrorKind::TooFewValues {
        let min = n(K::MinValues)?;
        format!("{min} values required by '{arg}'; only {actual} {provided} provided")
    } else {
        let want = n(K::ExpectedNumValues)?;
        format!("{want} values required for '{arg}' but {actual} {provided} provided")
    })
}

/// `the argument '--rst' cannot be used with '--shutdown'`, and its other forms.
fn conflict(e: &clap::Error) -> Option<String> {
    let mut prior = e.get(K::PriorArg);
    let mut line = match (string(e, K::InvalidArg), e.get(K::InvalidSubcommand)) {
        (Some(a), _) if prior == Some(&V::String(a.to_owned())) => {
            prior = None;
            format!("the argument '{a}' cannot be used multiple times")
        }
        (Some(a), _) => format!("the argument '{a}' cannot be used with"),
        (None, Some(V::String(sub))) => format!("the subcommand '{sub}' cannot be used with"),
        _ => ErrorKind::ArgumentConflict.as_str()?.to_owned(),
    };
    match prior {
        Some(V::Strings(v)) => {
            line.push(':');
            v.iter().for_each(|p| line.push_str(&format!("\n\t{p}")));
        }
        Some(V::String(p)) => line.push_str(&format!(" '{p}'")),
        Some(_) => line.push_str(" one or more of the other specified arguments"),
        None => {}
    }
    Some(line)
}

/// `[possible values: text, json]` on a line of its own, as clap lists them (a value
/// that is empty or has spaces quoted).
fn listed(name: &str, values: Option<&V>) -> String {
    let Some(V::Strings(values)) = values else {
        return String::new();
    };
    if values.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = values
        .iter()
        .map(|v| {
            if v.is_empty() || v.contains(char::is_whitespace) {
                format!("{v:?}")
            } else {
                v.clone()
            }
        })
        .collect();
    format!("\n\t[{name}: {}]", shown.join(", "))
}

/// `fdwatch relay [OPTIONS] <LISTEN> <TARGET>`: the usage clap's error carries.
fn usage_of(e: &clap::Error) -> Option<String> {
    match e.get(K::Usage)? {
        V::StyledStr(usage) => usage
            .to_string()
            .lines()
            .find_map(|l| l.trim().strip_prefix("Usage: "))
            .map(str::to_owned),
        _ => None,
    }
}

/// clap's suggestion (`a similar argument exists: '--monitor'`), if it made one (not
/// several, and not its "use '-- -1'" tips: a negative value is explained by our own
/// line instead). clap shows the first of these kinds it has.
fn tip_of(e: &clap::Error) -> Option<String> {
    let (what, suggested) = [
        (K::SuggestedSubcommand, "subcommand"),
        (K::SuggestedArg, "argument"),
        (K::SuggestedValue, "value"),
    ]
    .into_iter()
    .find_map(|(k, what)| Some((what, e.get(k)?)))?;
    let one = match suggested {
        V::String(s) => s,
        V::Strings(v) if v.len() == 1 => &v[0],
        _ => return None,
    };
    Some(format!("a similar {what} exists: '{one}'"))
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
            .map(|e| named(&e, argv));
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

/// Our line with each argument that is not UTF-8 quoted as typed (`\xNN`), not as its
/// lossy U+FFFD form (clap's context holds that form).
fn requote(msg: String, argv: &[OsString]) -> String {
    argv.iter()
        .skip(1)
        .filter(|w| w.to_str().is_none())
        .fold(msg, |m, w| {
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
mod tests;
