//! clap's errors as one line: every duration option's words, and clap's own words for
//! every kind of error read from its context.

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

/// clap's own rendering of `e`, as one line: its first paragraph, joined, without
/// "error: " (what fdwatch printed before it read the context instead).
fn rendered(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = para.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

/// A command with the arguments that make the kinds fdwatch's own never gives.
fn kinds() -> Command {
    use clap::Arg;
    Command::new("t")
        .arg(Arg::new("two").long("two").num_args(2))
        .arg(Arg::new("few").long("few").num_args(2..=3))
        .arg(Arg::new("eq").long("eq").require_equals(true))
        .subcommand(
            Command::new("sub")
                .subcommand_required(true)
                .subcommand(Command::new("x")),
        )
}

/// For every kind of error, the line read from the context is clap's own words: a
/// table of command lines, fdwatch's and a synthetic command's, each kind at least once.
#[test]
fn context_says_what_clap_says() {
    let ours: &[&[&str]] = &[
        &["--bogus"],
        &["--monitr"],
        &["sned", "--bogus"],
        &["-b", "epol", "0", "0r"],
        &["-b"],
        &["--format", "a b", "0"],
        &["--count=", "0", "0r"],
        &["--count", "0", "0", "0r"],
        &["--signals", "BOGUS", "0", "0r"],
        &["--once", "0", "0r"],
        &["--monitor=yes", "0r"],
        &["relay"],
        &["relay", "a", "b", "c"],
        &["--peek", "--read", "0", "0r"],
        &["-q", "-q", "0", "0r"],
        &["--generate", "man", "0"],
        &["send", "--rst", "--shutdown", "--read-replies", "x"],
        &["pipeline", "--pgid", "1", "2"],
    ];
    let synthetic: &[&[&str]] = &[
        &["--two", "a"],
        &["--few", "a"],
        &["--eq", "a"],
        &["sub"],
        &["sub", "y"],
    ];
    let mut seen = Vec::new();
    for (words, cmd) in ours
        .iter()
        .map(|w| (w, command()))
        .chain(synthetic.iter().map(|w| (w, kinds())))
    {
        let argv = std::iter::once("fdwatch").chain(words.iter().copied());
        let Err(e) = cmd.try_get_matches_from(argv) else {
            panic!("{words:?}: accepted");
        };
        assert_eq!(one_line(&e), rendered(&e), "{words:?} ({:?})", e.kind());
        seen.push(e.kind());
    }
    for kind in [
        ErrorKind::UnknownArgument,
        ErrorKind::InvalidValue,
        ErrorKind::ValueValidation,
        ErrorKind::MissingRequiredArgument,
        ErrorKind::ArgumentConflict,
        ErrorKind::TooManyValues,
        ErrorKind::WrongNumberOfValues,
        ErrorKind::TooFewValues,
        ErrorKind::NoEquals,
        ErrorKind::MissingSubcommand,
        ErrorKind::InvalidSubcommand,
    ] {
        assert!(seen.contains(&kind), "no line gives {kind:?}: {seen:?}");
    }
}
