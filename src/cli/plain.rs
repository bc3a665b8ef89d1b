//! An argv of positionals only (`fdwatch 0 0r 1w`, `fdwatch - /tmp/fifo`) needs none of
//! clap's definitions: building them (every subcommand, every help text) is most of a
//! one-shot check's start-up. Such an argv becomes `Args` directly, with the defaults
//! clap would give; a test holds the two paths equal.

use std::ffi::OsString;
use std::time::Duration;

use super::Args;
use crate::backend::BackendKind;

/// The subcommands' names: a first word that is one of them goes to clap.
const SUBCOMMANDS: [&str; 4] = ["send", "bench", "relay", "pipeline"];

/// `Args` for `argv` when every word after the program is a positional that clap would
/// take as TIMEOUT or SPEC (no option, no subcommand), else None.
pub(super) fn args(argv: &[OsString]) -> Option<Args> {
    let (first, rest) = argv.get(1..)?.split_first()?;
    // `-` alone is a positional (forever, or stdin); anything else with a dash is an
    // option or a negative number, which clap judges.
    let positional = |w: &OsString| w == "-" || !w.as_encoded_bytes().starts_with(b"-");
    if !positional(first) || !rest.iter().all(positional) {
        return None;
    }
    if SUBCOMMANDS.iter().any(|s| first == s) {
        return None;
    }
    Some(Args {
        command: None,
        first: Some(first.clone()),
        rest: rest.to_vec(),
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
    })
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
        ];
        for words in cases {
            let a = argv(words);
            let fast = args(&a).unwrap_or_else(|| panic!("{words:?}: not taken"));
            let clap = clap_args(&a).unwrap_or_else(|| panic!("{words:?}: clap refused"));
            assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{words:?}");
        }
    }

    /// Options, subcommands, negative numbers, help and a lone program name go to clap.
    #[test]
    fn leaves_the_rest_to_clap() {
        let cases: &[&[&str]] = &[
            &[],
            &["-m", "-"],
            &["0", "0r", "-b", "poll"],
            &["0", "--", "0r"],
            &["-1", "0r"],
            &["--help"],
            &["relay", "a", "b"],
            &["send", "tcp:x:1"],
            &["bench"],
            &["pipeline"],
            &["0", "0r", "--format=json"],
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
