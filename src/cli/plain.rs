//! An argv of positionals and the common flags (`fdwatch 0 0r 1w`, `fdwatch -m - /tmp/fifo`,
//! `fdwatch --format json 0 0-9`) needs none of clap's definitions: building them (every
//! subcommand, every help text) is most of a one-shot check's start-up. Such an argv
//! becomes `Args` directly, with the defaults clap would give; anything else (another
//! option, a flag twice, a value clap would refuse, a subcommand) goes to clap, and a
//! test holds the two paths equal.

use std::ffi::OsString;
use std::time::Duration;

use clap::ValueEnum;

use super::Args;
use crate::backend::BackendKind;

/// The subcommands' names: a first word that is one of them goes to clap.
const SUBCOMMANDS: [&str; 4] = ["send", "bench", "relay", "pipeline"];

/// The options taken here, by every name they have; the rest go to clap.
const OPTIONS: [(&str, &[&str]); 9] = [
    ("monitor", &["-m", "--monitor"]),
    ("quiet", &["-q", "--quiet"]),
    ("verbose", &["-v", "--verbose"]),
    ("edge", &["--edge"]),
    ("oneshot", &["--oneshot"]),
    ("oobinline", &["--oobinline"]),
    ("format", &["--format"]),
    ("backend", &["-b", "--backend"]),
    ("count", &["-c", "--count"]),
];

/// `Args` for `argv` when clap would take every word after the program as TIMEOUT, a
/// SPEC or one of OPTIONS (each at most once), else None.
pub(super) fn args(argv: &[OsString]) -> Option<Args> {
    let mut a = defaults();
    let mut positionals = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut words = argv.get(1..)?.iter();
    while let Some(w) = words.next() {
        // `-` alone is a positional (forever, or stdin).
        if w == "-" || !w.as_encoded_bytes().starts_with(b"-") {
            positionals.push(w.clone());
            continue;
        }
        let word = w.to_str()?;
        let (name, inline) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (word, None),
        };
        let (option, _) = OPTIONS.iter().find(|(_, names)| names.contains(&name))?;
        if seen.contains(option) {
            return None;
        }
        seen.push(option);
        let mut value = || match inline {
            Some(v) => Some(v),
            None => words.next()?.to_str().filter(|v| !v.starts_with('-')),
        };
        match *option {
            "format" => a.format = ValueEnum::from_str(value()?, false).ok()?,
            "backend" => a.backend = BackendKind::from_str(value()?, false).ok()?,
            // Digits only (clap's own parse judges a sign); at least 1, as clap's range.
            "count" => {
                let v = value().filter(|v| v.bytes().all(|b| b.is_ascii_digit()))?;
                a.count = Some(v.parse::<u64>().ok().filter(|&n| n >= 1)?);
            }
            _ if inline.is_some() => return None,
            "monitor" => a.monitor = true,
            "quiet" => a.quiet = true,
            "verbose" => a.verbose = true,
            "edge" => a.edge = true,
            "oneshot" => a.oneshot = true,
            _ => a.oobinline = true,
        }
    }
    let (first, rest) = positionals.split_first()?;
    if SUBCOMMANDS.iter().any(|s| first == s) {
        return None;
    }
    a.first = Some(first.clone());
    a.rest = rest.to_vec();
    Some(a)
}

/// What clap gives an argv of TIMEOUT alone.
fn defaults() -> Args {
    Args {
        command: None,
        first: None,
        rest: Vec::new(),
        backend: BackendKind::Epoll,
        edge: false,
        oneshot: false,
        monitor: false,
        until: Vec::new(),
        count: None,
        read: None,
        read_size: 65536,
        peek: false,
        tee: false,
        oobinline: false,
        once: false,
        interval: Duration::from_millis(100),
        signals: None,
        mask: None,
        format: Default::default(),
        time: Default::default(),
        color: Default::default(),
        quiet: false,
        verbose: false,
        generate: None,
    }
}

#[cfg(test)]
mod tests {
    use clap::FromArgMatches;

    use super::*;

    fn clap_args(argv: &[OsString]) -> Option<Args> {
        let mut m = super::super::command().try_get_matches_from(argv).ok()?;
        Args::from_arg_matches_mut(&mut m).ok()
    }

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("fdwatch")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// Every argv the fast path takes, clap parses to the same `Args`.
    #[test]
    fn equals_clap_wherever_it_applies() {
        let cases: &[&[&str]] = &[
            &["0", "0r", "1w"],
            &["-", "0rw", "1w"],
            &["2.5", "/tmp/fifo", "3r"],
            &["0", "0-9"],
            &["-", "-"],
            &["5"],
            &["/nonexistent"],
            &["pid:1", "3"],
            &["tcp:127.0.0.1:1", "x"],
            &["", ""],
            &["0", "help"],
            &["0", "send"],
            &["-m", "-"],
            &["0", "0r", "-b", "poll"],
            &["0", "0r", "--format=json"],
            &["--format", "json", "0", "0-9"],
            &["-q", "-v", "--edge", "--oneshot", "--oobinline", "0", "3r"],
            &[
                "--monitor",
                "--quiet",
                "--verbose",
                "--backend=select",
                "-",
                "0",
            ],
            &["-b", "uring", "--format", "tlpi", "0", "0r"],
            &["0", "-m", "0r", "-"],
            &["-m", "-c", "1", "0", "0r"],
            &["--count=05", "-", "0"],
        ];
        for words in cases {
            let a = argv(words);
            let fast = args(&a).unwrap_or_else(|| panic!("{words:?}: not taken"));
            let clap = clap_args(&a).unwrap_or_else(|| panic!("{words:?}: clap refused"));
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{words:?}");
        }
    }

    /// Other options, a flag twice, values clap would refuse, subcommands, negative
    /// numbers, help and a lone program name go to clap.
    #[test]
    fn leaves_the_rest_to_clap() {
        let cases: &[&[&str]] = &[
            &[],
            &["-m"],
            &["0", "--", "0r"],
            &["-1", "0r"],
            &["--help"],
            &["relay", "a", "b"],
            &["send", "tcp:x:1"],
            &["bench"],
            &["pipeline"],
            &["-m", "-m", "-"],
            &["-mq", "-"],
            &["-m", "--once", "-"],
            &["-b", "nope", "0"],
            &["-b", "-", "0"],
            &["-b"],
            &["--format=jso", "0"],
            &["-q=1", "0"],
            &["--quiet=yes", "0"],
            &["-v", "relay", "a", "b"],
            &["0", "--peek"],
            &["0", "--read"],
            &["-c", "0", "-"],
            &["-c", "+1", "-"],
            &["-c", "x", "0"],
            &["--count=", "0"],
        ];
        for words in cases {
            assert!(args(&argv(words)).is_none(), "{words:?}");
        }
    }

    /// The first words that go to clap are exactly the subcommands clap knows.
    #[test]
    fn knows_every_subcommand() {
        let cmd = super::super::command();
        let mut clap: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
        let mut ours = SUBCOMMANDS.to_vec();
        clap.sort_unstable();
        ours.sort_unstable();
        assert_eq!(clap, ours);
    }
}
