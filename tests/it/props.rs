//! Property tests for the pure parsers: SPEC (`spec::parse` and `Spec`'s Display),
//! TIMEOUT (`timeout::parse`), `fdwatch send` addresses and the --data escapes
//! (`send::unescape`).
//!
//! Every property runs with a normal case count under `cargo test` (module `normal`).
//! `long_fuzz_million_inputs` (ignored) runs all of them again with case counts adding up
//! to more than 1,000,000 generated inputs, and reports every failing property with its
//! minimal input instead of stopping at the first:
//!
//!     cargo test --release --test it props:: -- --ignored --nocapture
//!
//! Failures are never persisted (`failure_persistence: None`): no proptest-regressions/.

use std::cell::Cell;
use std::ffi::OsStr;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use fdwatch::Command;
use fdwatch::cli::{self, Parsed};
use fdwatch::error::shown;
use fdwatch::send::{self, SendStep};
use fdwatch::spec::{self, Interest, PidFds, SocketSpec, Spec, SpecError, Target};
use fdwatch::timeout::{self, Timeout};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestError, TestRunner};

// ---------------------------------------------------------------------------------------
// The runner: one property, a case count, an outcome (shared by the normal and long runs).

/// How many inputs to generate, and whether to go on after a failure.
#[derive(Clone, Copy)]
struct Budget {
    cases: u32,
    /// Stop at the first failure (`cargo test`), or restart with a fresh seed until
    /// `cases` inputs have been generated, collecting every distinct minimal failing
    /// input (the long run).
    keep_going: bool,
}

/// One distinct minimal failing input, how often shrinking led to it, and why it fails.
struct Failure {
    input: String,
    why: String,
    times: u32,
}

/// What running one property gave.
struct Outcome {
    name: &'static str,
    cases: u32,
    /// Generated inputs the property was called with (shrinking steps not counted).
    generated: u64,
    /// Calls made while shrinking failures.
    shrink_steps: u64,
    /// Distinct minimal failing inputs, first found first.
    failures: Vec<Failure>,
}

type Prop = fn(Budget) -> Outcome;

/// Runs `test` on `budget.cases` inputs from `strategy`; on failure proptest shrinks the
/// input to a minimal one.
fn run<S>(
    name: &'static str,
    budget: Budget,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> Outcome
where
    S: Strategy,
    S::Value: fmt::Debug,
{
    let mut out = Outcome {
        name,
        cases: budget.cases,
        generated: 0,
        shrink_steps: 0,
        failures: Vec::new(),
    };
    while out.generated < u64::from(budget.cases) {
        let left = u64::from(budget.cases) - out.generated;
        let config = Config {
            cases: u32::try_from(left).unwrap_or(u32::MAX),
            failure_persistence: None,
            // The default, 4 per case, would leave failures found near the end of the
            // long run's budget barely shrunk.
            max_shrink_iters: 10_000,
            ..Config::default()
        };
        // Calls up to the first failing one are generated inputs, later ones shrink it.
        let (calls, failed_at) = (Cell::new(0u64), Cell::new(None));
        let result = TestRunner::new(config).run(&strategy, |v| {
            calls.set(calls.get() + 1);
            let r = test(v);
            if r.is_err() && failed_at.get().is_none() {
                failed_at.set(Some(calls.get()));
            }
            r
        });
        let generated = failed_at.get().unwrap_or(calls.get());
        out.generated += generated;
        out.shrink_steps += calls.get() - generated;
        let (input, why) = match result {
            Ok(()) => break,
            Err(TestError::Fail(why, input)) => (format!("{input:?}"), why.to_string()),
            Err(TestError::Abort(why)) => {
                out.failures.push(Failure {
                    input: "(none)".to_owned(),
                    why: format!("aborted: {why}"),
                    times: 1,
                });
                break;
            }
        };
        match out.failures.iter_mut().find(|f| f.input == input) {
            Some(f) => f.times += 1,
            None => out.failures.push(Failure {
                input,
                why,
                times: 1,
            }),
        }
        if !budget.keep_going {
            break;
        }
    }
    out
}

fn expect_pass(o: Outcome) {
    if let Some(f) = o.failures.first() {
        panic!(
            "property {} failed after {} inputs: minimal failing input: {}\n    {}",
            o.name, o.generated, f.input, f.why
        );
    }
}

// ---------------------------------------------------------------------------------------
// Inputs.

/// Raw argument bytes, shown as a byte string literal.
#[derive(Clone)]
struct Bytes(Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.0.escape_ascii())
    }
}

fn parse(arg: &[u8]) -> Result<Spec, SpecError> {
    spec::parse(OsStr::from_bytes(arg))
}

fn lossy(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).into_owned()
}

/// Any bytes (mostly not UTF-8).
fn arb_bytes() -> BoxedStrategy<Bytes> {
    vec(any::<u8>(), 0..40).prop_map(Bytes).boxed()
}

/// Any string of any chars, control characters included.
fn arb_string() -> BoxedStrategy<String> {
    vec(any::<char>(), 0..24)
        .prop_map(String::from_iter)
        .boxed()
}

const PREFIXES: &[&str] = &[
    "tcp:",
    "tcp-listen:",
    "unix:",
    "unix-listen:",
    "pid:",
    "./",
    "-",
];

/// Pieces of the SPEC grammar, and things next to it; simplest first (shrinking prefers them).
const TOKENS: &[&[u8]] = &[
    b"a",
    b"0",
    b"1",
    b"r",
    b"w",
    b"e",
    b"-",
    b":",
    b"/",
    b"*",
    b"[",
    b"]",
    b".",
    b"x",
    b"q",
    b"3",
    b"9",
    b"rw",
    b"rwe",
    b"ewr",
    b"42",
    b"00",
    b"+",
    b"65535",
    b"65536",
    b"2147483647",
    b"2147483648",
    b"99999999999",
    b"::1",
    b"::",
    b"[::1]",
    b"fe80::1%lo",
    b"127.0.0.1",
    b"localhost",
    b"tcp:",
    b"tcp-listen:",
    b"unix:",
    b"unix-listen:",
    b"pid:",
    b"./",
    b"/tmp/s",
    b" ",
    b"\n",
    b"\t",
    b"\0",
    "é".as_bytes(),
    b"\xff",
    b"\x80\x80",
];

/// Byte strings biased toward the SPEC grammar.
fn grammar_bytes() -> BoxedStrategy<Bytes> {
    let token = prop_oneof![
        9 => select(TOKENS).prop_map(<[u8]>::to_vec),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ];
    let tokens =
        (proptest::option::of(select(PREFIXES)), vec(token, 0..10)).prop_map(|(prefix, tokens)| {
            let mut out = prefix.map(|p| p.as_bytes().to_vec()).unwrap_or_default();
            for t in tokens {
                out.extend(t);
            }
            Bytes(out)
        });
    let regex = "(tcp:|tcp-listen:|unix:|unix-listen:|pid:|\\./|-)?\
                 [-0-9a-z:/*\\[\\]. %]{0,16}(/[rwe]{1,3}|:[rwe]{1,3})?"
        .prop_map(|s| Bytes(s.into_bytes()));
    prop_oneof![3 => tokens, 1 => regex].boxed()
}

/// Every kind of SPEC argument: any bytes, any chars, grammar-biased.
fn spec_inputs() -> BoxedStrategy<Bytes> {
    prop_oneof![
        1 => arb_bytes(),
        1 => arb_string().prop_map(|s| Bytes(s.into_bytes())),
        3 => grammar_bytes(),
    ]
    .boxed()
}

/// Only UTF-8 SPEC arguments (a `String` cannot carry other bytes back).
fn utf8_spec_inputs() -> BoxedStrategy<String> {
    prop_oneof![
        1 => arb_string(),
        3 => grammar_bytes().prop_map(|b| lossy(&b.0)),
    ]
    .boxed()
}

const RWE: &[char] = &['r', 'w', 'e'];

/// Event letters as typed: any run of r, w, e (empty: the default).
fn letters() -> BoxedStrategy<String> {
    vec(select(RWE), 0..4).prop_map(String::from_iter).boxed()
}

fn nonempty_letters() -> BoxedStrategy<String> {
    vec(select(RWE), 1..4).prop_map(String::from_iter).boxed()
}

/// The interest that `letters` asks for, or `default` when there are none.
fn interest(letters: &str, default: Interest) -> Interest {
    if letters.is_empty() {
        return default;
    }
    Interest {
        read: letters.contains('r'),
        write: letters.contains('w'),
        urgent: letters.contains('e'),
    }
}

fn fd_number() -> BoxedStrategy<i32> {
    prop_oneof![0..16, 0..=i32::MAX].boxed()
}

/// A valid fd-like SPEC and the value it must parse to: `N`, `N-M`, `-`, `pid:` forms.
fn fd_like_specs() -> BoxedStrategy<(String, Spec)> {
    let spec = |target, interest| Spec { target, interest };
    let fd = (fd_number(), 0usize..3, letters()).prop_map(move |(n, zeros, l)| {
        let arg = format!("{}{n}{l}", "0".repeat(zeros));
        (arg, spec(Target::Fd(n), interest(&l, Interest::READ)))
    });
    let range = (fd_number(), fd_number(), letters()).prop_map(move |(a, b, l)| {
        let (lo, hi) = (a.min(b), a.max(b));
        let arg = format!("{lo}-{hi}{l}");
        (
            arg,
            spec(Target::FdRange(lo, hi), interest(&l, Interest::READ)),
        )
    });
    let stdin = Just(("-".to_owned(), spec(Target::Fd(0), Interest::READ)));
    let pids = prop_oneof![1..100_000, 1..=i32::MAX];
    let pid = (pids, 0u8..4, fd_number(), fd_number(), letters()).prop_map(
        move |(pid, form, a, b, l)| {
            let (lo, hi) = (a.min(b), a.max(b));
            let i = interest(&l, Interest::READ);
            let target = |fds| Target::Pid { pid, fds };
            match form {
                0 => (
                    format!("pid:{pid}"),
                    spec(target(PidFds::Explain), Interest::READ),
                ),
                1 => (format!("pid:{pid}:{a}{l}"), spec(target(PidFds::One(a)), i)),
                2 => (
                    format!("pid:{pid}:{lo}-{hi}{l}"),
                    spec(target(PidFds::Range(lo, hi)), i),
                ),
                _ => (format!("pid:{pid}:*{l}"), spec(target(PidFds::All), i)),
            }
        },
    );
    prop_oneof![fd, range, stdin, pid].boxed()
}

/// Host names, IPv4 and IPv6 addresses as a user would write them (unbracketed).
fn host() -> BoxedStrategy<String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z0-9-]{1,8}){0,3}",
        any::<[u8; 4]>().prop_map(|o| Ipv4Addr::from(o).to_string()),
        any::<[u8; 16]>().prop_map(|o| Ipv6Addr::from(o).to_string()),
        select(&["::1", "::", "fe80::1%lo", "localhost"][..]).prop_map(str::to_owned),
    ]
    .boxed()
}

/// After `unix:`: would `rest` end in a `/rwe` suffix that parse takes as letters?
fn looks_socket_suffixed(rest: &str) -> bool {
    rest.rsplit_once('/').is_some_and(|(a, l)| {
        !a.is_empty() && !l.is_empty() && l.bytes().all(|b| b"rwe".contains(&b))
    })
}

/// A valid socket SPEC and its value: tcp:, tcp-listen:, unix:, unix-listen:.
fn socket_specs() -> BoxedStrategy<(String, Spec)> {
    let tcp = (
        host(),
        any::<u16>(),
        any::<bool>(),
        0usize..2,
        letters(),
        0u8..3,
    )
        .prop_map(|(host, port, bracket, zeros, l, form)| {
            let shown_host = if bracket || host.contains(':') {
                format!("[{host}]")
            } else {
                host.clone()
            };
            let suffix = if l.is_empty() {
                String::new()
            } else {
                format!("/{l}")
            };
            let port_text = format!("{}{port}", "0".repeat(zeros));
            let (arg, sock) = match form {
                0 => (
                    format!("tcp:{shown_host}:{port_text}{suffix}"),
                    SocketSpec::Tcp { host, port },
                ),
                1 => (
                    format!("tcp-listen:{shown_host}:{port_text}{suffix}"),
                    SocketSpec::TcpListen {
                        host: Some(host),
                        port,
                    },
                ),
                _ => (
                    format!("tcp-listen:{port_text}{suffix}"),
                    SocketSpec::TcpListen { host: None, port },
                ),
            };
            let i = interest(&l, Interest::SOCKET);
            (
                arg,
                Spec {
                    target: Target::Socket(sock),
                    interest: i,
                },
            )
        });
    let unix = ("[a-z0-9/._ :rwe\\né*-]{1,16}", letters(), any::<bool>()).prop_map(
        |(path, mut l, listen)| {
            if l.is_empty() && looks_socket_suffixed(&path) {
                l = "re".to_owned();
            }
            let suffix = if l.is_empty() {
                String::new()
            } else {
                format!("/{l}")
            };
            let (prefix, sock) = if listen {
                ("unix-listen:", SocketSpec::UnixListen(PathBuf::from(&path)))
            } else {
                ("unix:", SocketSpec::Unix(PathBuf::from(&path)))
            };
            (
                format!("{prefix}{path}{suffix}"),
                Spec {
                    target: Target::Socket(sock),
                    interest: interest(&l, Interest::SOCKET),
                },
            )
        },
    );
    prop_oneof![tcp, unix].boxed()
}

/// How a path may start as a SPEC argument: never a digit, `-` plus a digit, `-` alone
/// or a socket/pid prefix (those are not paths); `./` protects such names.
const PATH_STARTS: &[&[u8]] = &[
    b"/",
    b"a",
    b"./",
    b"../",
    b".",
    b"_",
    b"~",
    b":",
    b" ",
    b"\n",
    b"-x",
    b"--",
    b"./0",
    b"./-1",
    b"./tcp:",
    b"./pid:1",
    b"tcp_",
    b"unix_listen",
    b"pidx",
    "é".as_bytes(),
];

const PATH_TOKENS: &[&[u8]] = &[
    b"a",
    b"/",
    b":",
    b"r",
    b"w",
    b"e",
    b"0",
    b"9",
    b"-",
    b".",
    b" ",
    b"\n",
    b"[",
    b"]",
    b"*",
    b":r",
    b":rw",
    b"tcp:",
    "é".as_bytes(),
];

/// Would parse read the end of `path` as a `:rwe` suffix?
fn looks_path_suffixed(path: &[u8]) -> bool {
    path.iter()
        .rposition(|&b| b == b':')
        .is_some_and(|c| c + 1 < path.len() && path[c + 1..].iter().all(|b| b"rwe".contains(b)))
}

/// A valid path SPEC argument and its value; with `non_utf8` the path holds a byte that
/// is not UTF-8.
fn path_specs(non_utf8: bool) -> BoxedStrategy<(Bytes, Spec)> {
    let body = || vec(select(PATH_TOKENS), 0..8);
    (select(PATH_STARTS), body(), body(), letters(), any::<u8>())
        .prop_map(move |(start, a, b, mut l, bad)| {
            let mut path = start.to_vec();
            a.iter().for_each(|t| path.extend_from_slice(t));
            if non_utf8 {
                path.push(0x80 | bad);
            }
            b.iter().for_each(|t| path.extend_from_slice(t));
            if l.is_empty() && looks_path_suffixed(&path) {
                l = "r".to_owned();
            }
            let mut arg = path.clone();
            if !l.is_empty() {
                arg.push(b':');
                arg.extend_from_slice(l.as_bytes());
            }
            let expected = Spec {
                target: Target::Path(PathBuf::from(OsStr::from_bytes(&path))),
                interest: interest(&l, Interest::READ),
            };
            (Bytes(arg), expected)
        })
        .boxed()
}

/// Checks `parse(spec.to_os_string()) == spec`, and that Display is that form (lossy
/// only for a path that is not UTF-8, which no String can carry).
fn round_trips(s: &Spec) -> Result<(), TestCaseError> {
    let arg = s.to_os_string();
    let back = spec::parse(&arg);
    prop_assert_eq!(back.as_ref(), Ok(s), "shown as {:?}", arg);
    prop_assert_eq!(s.to_string(), arg.to_string_lossy().into_owned());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 1. spec::parse never panics.

fn spec_never_panics_on_any_bytes(budget: Budget) -> Outcome {
    run("spec_never_panics_on_any_bytes", budget, arb_bytes(), |b| {
        let _ = parse(&b.0);
        Ok(())
    })
}

fn spec_never_panics_near_the_grammar(budget: Budget) -> Outcome {
    run(
        "spec_never_panics_near_the_grammar",
        budget,
        grammar_bytes(),
        |b| {
            let _ = parse(&b.0);
            Ok(())
        },
    )
}

// 2. Round trips.

/// Every accepted argument, any bytes: Display parses back to the same value.
fn spec_accepted_round_trips(budget: Budget) -> Outcome {
    run("spec_accepted_round_trips", budget, spec_inputs(), |b| {
        if let Ok(s) = parse(&b.0) {
            round_trips(&s)?;
        }
        Ok(())
    })
}

/// The same for UTF-8 arguments only (so a non-UTF-8 failure cannot hide others).
fn spec_accepted_utf8_round_trips(budget: Budget) -> Outcome {
    run(
        "spec_accepted_utf8_round_trips",
        budget,
        utf8_spec_inputs(),
        |s| {
            if let Ok(spec) = spec::parse(OsStr::new(&s)) {
                round_trips(&spec)?;
            }
            Ok(())
        },
    )
}

fn spec_fd_and_pid_forms_parse_and_round_trip(budget: Budget) -> Outcome {
    run(
        "spec_fd_and_pid_forms_parse_and_round_trip",
        budget,
        fd_like_specs(),
        |(arg, want)| {
            prop_assert_eq!(spec::parse(OsStr::new(&arg)), Ok(want.clone()));
            round_trips(&want)
        },
    )
}

fn spec_socket_forms_parse_and_round_trip(budget: Budget) -> Outcome {
    run(
        "spec_socket_forms_parse_and_round_trip",
        budget,
        socket_specs(),
        |(arg, want)| {
            prop_assert_eq!(spec::parse(OsStr::new(&arg)), Ok(want.clone()));
            round_trips(&want)
        },
    )
}

/// `tcp:[HOST]:PORT` with odd text in the brackets: when accepted, it round-trips.
fn spec_bracketed_hosts_round_trip(budget: Budget) -> Outcome {
    let arg =
        ("[a-z0-9:.\\[\\]/%]{0,6}", any::<u16>(), any::<bool>()).prop_map(|(h, port, listen)| {
            let prefix = if listen { "tcp-listen:" } else { "tcp:" };
            format!("{prefix}[{h}]:{port}")
        });
    run("spec_bracketed_hosts_round_trip", budget, arg, |arg| {
        if let Ok(s) = spec::parse(OsStr::new(&arg)) {
            round_trips(&s)?;
        }
        Ok(())
    })
}

/// Paths (UTF-8 or not, starting with `-x`, `./0`, `:`...) parse to the path given.
fn spec_paths_parse(budget: Budget) -> Outcome {
    let both = prop_oneof![path_specs(false), path_specs(true)];
    run("spec_paths_parse", budget, both, |(arg, want)| {
        prop_assert_eq!(parse(&arg.0), Ok(want));
        Ok(())
    })
}

fn spec_utf8_paths_round_trip(budget: Budget) -> Outcome {
    run(
        "spec_utf8_paths_round_trip",
        budget,
        path_specs(false),
        |(_, want)| round_trips(&want),
    )
}

fn spec_non_utf8_paths_round_trip(budget: Budget) -> Outcome {
    run(
        "spec_non_utf8_paths_round_trip",
        budget,
        path_specs(true),
        |(_, want)| round_trips(&want),
    )
}

/// A path whose text would read as an fd, `-` or a socket/pid spec is shown with `./`
/// in front, which parses back to a path (the same file), not to something else. (parse
/// never produces such a path itself: for these, Display is about naming the file.)
/// Any other path, `-x` included, is shown as it is and round-trips.
fn spec_display_protects_ambiguous_paths(budget: Budget) -> Outcome {
    const STARTS: &[&str] = &[
        "0",
        "7",
        "-",
        "-1",
        "--",
        "-x",
        "tcp:",
        "tcp-listen:",
        "unix:",
        "unix-listen:",
        "pid:",
    ];
    let value = (select(STARTS), "[a-z0-9:/.r-]{0,10}", nonempty_letters());
    run(
        "spec_display_protects_ambiguous_paths",
        budget,
        value,
        |(start, rest, l)| {
            let path = format!("{start}{rest}");
            let s = Spec {
                target: Target::Path(PathBuf::from(&path)),
                interest: interest(&l, Interest::READ),
            };
            let shown = s.to_string();
            let b = path.as_bytes();
            let misread = b[0].is_ascii_digit()
                || (b[0] == b'-' && b.get(1).is_some_and(u8::is_ascii_digit))
                || ["tcp:", "tcp-listen:", "unix:", "unix-listen:", "pid:"]
                    .iter()
                    .any(|p| path.starts_with(p));
            if misread {
                prop_assert!(shown.starts_with(&format!("./{path}")), "shown {:?}", shown);
                let want = Spec {
                    target: Target::Path(PathBuf::from(format!("./{path}"))),
                    interest: s.interest,
                };
                prop_assert_eq!(spec::parse(OsStr::new(&shown)), Ok(want));
            } else {
                prop_assert!(shown.starts_with(&path), "shown {:?}", shown);
                prop_assert_eq!(spec::parse(OsStr::new(&shown)), Ok(s));
            }
            Ok(())
        },
    )
}

// 3. Rejected specs: one line naming the argument.

fn spec_errors_name_the_argument(budget: Budget) -> Outcome {
    run(
        "spec_errors_name_the_argument",
        budget,
        spec_inputs(),
        |b| {
            if let Err(e) = parse(&b.0) {
                // Quoted as typed: bytes that are not UTF-8 as \xNN.
                let arg = fdwatch::escape::arg(OsStr::from_bytes(&b.0));
                prop_assert_eq!(&e.arg, &arg);
                let line = e.to_string();
                prop_assert!(
                    line.starts_with(&format!("spec '{}': ", shown(&arg))),
                    "message {:?}",
                    line
                );
                prop_assert!(!e.reason.is_empty());
            }
            Ok(())
        },
    )
}

fn spec_errors_are_one_line(budget: Budget) -> Outcome {
    run("spec_errors_are_one_line", budget, spec_inputs(), |b| {
        if let Err(e) = parse(&b.0) {
            let line = e.to_string();
            prop_assert!(!line.contains('\n'), "message {:?}", line);
        }
        Ok(())
    })
}

/// `N` then event letters with a stranger among them: the error names that letter.
fn spec_unknown_letter_is_named(budget: Budget) -> Outcome {
    let bad = any::<char>().prop_filter("an event letter", |c| !"rwe".contains(*c));
    run(
        "spec_unknown_letter_is_named",
        budget,
        (fd_number(), nonempty_letters(), bad, arb_string()),
        |(n, l, c, tail)| {
            let arg = format!("{n}{l}{c}{tail}");
            let e = spec::parse(OsStr::new(&arg)).expect_err("a bad letter");
            prop_assert!(
                e.reason.contains(&format!("unknown event letter '{c}'")),
                "{:?}",
                e
            );
            Ok(())
        },
    )
}

// ---------------------------------------------------------------------------------------
// 4. timeout::parse.

const MAX_MS: u64 = i32::MAX as u64;

const TIMEOUT_WORDS: &[&str] = &[
    "-",
    "0",
    "+0",
    "-0",
    "-0.0",
    "2",
    "0.25",
    "2.5",
    "1e3",
    "1E3",
    "1e-400",
    "1e400",
    "inf",
    "+inf",
    "-inf",
    "infinity",
    "Infinity",
    "NaN",
    "nan",
    "-nan",
    "2147483.647",
    "2147483.6470001",
    "2147483.648",
    "2147484",
    "2147483647ms",
    "2147483648ms",
    "24d20h31m23s647ms",
    "24d20h31m23s648ms",
    "596h31m23s647ms",
    "1m30s",
    "250ms",
    "1ns",
    "1us",
    "1µs",
    " 2",
    "2 ",
    "2 s",
    "0x10",
    "30days",
    "1.5h",
    "1.",
    ".5",
    "5.",
    "1e",
    "e1",
    "",
    "\n",
    "18446744073709551615s",
    "18446744073709551616s",
    "99999999999999999999y",
];

const TIMEOUT_TOKENS: &[&str] = &[
    "0",
    "1",
    "9",
    "-",
    "+",
    ".",
    "e",
    "E",
    "s",
    "ms",
    "us",
    "ns",
    "m",
    "h",
    "d",
    "w",
    "M",
    "y",
    "min",
    "sec",
    "days",
    " ",
    "\n",
    "inf",
    "nan",
    "_",
    "µ",
    "2147483",
    "647",
    "99999999999",
];

fn timeout_inputs() -> BoxedStrategy<String> {
    prop_oneof![
        2 => arb_string(),
        2 => select(TIMEOUT_WORDS).prop_map(str::to_owned),
        2 => "[-+]?[0-9]{0,12}(\\.[0-9]{0,10})?([eE][-+]?[0-9]{1,3})?",
        2 => "([0-9]{1,12}(\\.[0-9]{1,10})? ?(ns|nsec|us|µs|usec|ms|msec|s|sec|secs|m|min|\
              mins|h|hr|hrs|d|days|w|weeks|M|months|y|years|x) ?){1,4}",
        2 => vec(select(TIMEOUT_TOKENS), 0..8).prop_map(|t| t.concat()),
    ]
    .boxed()
}

fn timeout_never_panics(budget: Budget) -> Outcome {
    run("timeout_never_panics", budget, timeout_inputs(), |s| {
        let _ = timeout::parse(&s);
        Ok(())
    })
}

/// Accepted values are at most 2^31-1 ms; parsing is deterministic; only `-` is forever.
fn timeout_accepted_is_bounded_and_deterministic(budget: Budget) -> Outcome {
    run(
        "timeout_accepted_is_bounded_and_deterministic",
        budget,
        timeout_inputs(),
        |s| {
            let first = timeout::parse(&s);
            prop_assert_eq!(&first, &timeout::parse(&s));
            match first {
                Ok(Timeout::Forever) => prop_assert_eq!(s.as_str(), "-"),
                Ok(Timeout::After(d)) => {
                    prop_assert!(d <= Duration::from_millis(MAX_MS), "{:?}", d);
                    prop_assert!(d <= timeout::MAX);
                }
                Err(_) => {}
            }
            Ok(())
        },
    )
}

/// Display (`-`, or seconds to the microsecond, `0.25s`) parses back: exactly for whole
/// microseconds, within half a microsecond otherwise.
fn timeout_display_round_trips(budget: Budget) -> Outcome {
    run(
        "timeout_display_round_trips",
        budget,
        timeout_inputs(),
        |s| {
            let Ok(t) = timeout::parse(&s) else {
                return Ok(());
            };
            let shown = t.to_string();
            let back = timeout::parse(&shown);
            match (t, back) {
                (Timeout::Forever, back) => prop_assert_eq!(back, Ok(Timeout::Forever)),
                (Timeout::After(d), Ok(Timeout::After(b))) => {
                    let diff = d.abs_diff(b);
                    prop_assert!(
                        diff <= Duration::from_nanos(500),
                        "{:?} shown as {:?} parses to {:?}",
                        d,
                        shown,
                        b
                    );
                    if d.subsec_nanos() % 1000 == 0 {
                        prop_assert_eq!(d, b, "shown as {:?}", shown);
                    }
                }
                (t, back) => prop_assert!(false, "{:?} shown as {:?} gives {:?}", t, shown, back),
            }
            Ok(())
        },
    )
}

/// `Nms` and `S.mmm` are accepted exactly up to 2^31-1 ms and refused above.
fn timeout_millis_limit(budget: Budget) -> Outcome {
    let ms = prop_oneof![0..=2 * MAX_MS, MAX_MS - 2000..=MAX_MS + 2000, 0..10_000u64,];
    run("timeout_millis_limit", budget, ms, |ms| {
        for arg in [format!("{ms}ms"), format!("{}.{:03}", ms / 1000, ms % 1000)] {
            let got = timeout::parse(&arg);
            if ms <= MAX_MS {
                prop_assert_eq!(
                    got,
                    Ok(Timeout::After(Duration::from_millis(ms))),
                    "{}",
                    arg
                );
            } else {
                prop_assert!(got.is_err(), "{} accepted: {:?}", arg, got);
            }
        }
        Ok(())
    })
}

/// Anything starting with `-` other than `-` itself, NaN and infinities are refused.
fn timeout_negative_nan_inf_rejected(budget: Budget) -> Outcome {
    let negative = timeout_inputs()
        .prop_map(|s| format!("-{s}"))
        .prop_filter("`-` alone is forever", |s| s != "-");
    let special = (
        select(&["", "+", "-"][..]),
        select(&["nan", "inf", "infinity"][..]),
        vec(any::<bool>(), 8),
    )
        .prop_map(|(sign, word, upper)| {
            let word: String = word
                .chars()
                .zip(upper)
                .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                .collect();
            format!("{sign}{word}")
        });
    run(
        "timeout_negative_nan_inf_rejected",
        budget,
        prop_oneof![negative, special],
        |s| {
            let got = timeout::parse(&s);
            prop_assert!(got.is_err(), "{:?} accepted: {:?}", s, got);
            Ok(())
        },
    )
}

fn timeout_errors_name_the_argument(budget: Budget) -> Outcome {
    run(
        "timeout_errors_name_the_argument",
        budget,
        timeout_inputs(),
        |s| {
            if let Err(e) = timeout::parse(&s) {
                prop_assert_eq!(&e.arg, &s);
                let line = e.to_string();
                prop_assert!(
                    line.starts_with(&format!("timeout '{}': ", shown(&s))),
                    "message {:?}",
                    line
                );
            }
            Ok(())
        },
    )
}

fn timeout_errors_are_one_line(budget: Budget) -> Outcome {
    run(
        "timeout_errors_are_one_line",
        budget,
        timeout_inputs(),
        |s| {
            if let Err(e) = timeout::parse(&s) {
                let line = e.to_string();
                prop_assert!(!line.contains('\n'), "message {:?}", line);
            }
            Ok(())
        },
    )
}

// ---------------------------------------------------------------------------------------
// 5. send::unescape (--data / --urgent).

const ESCAPE_TOKENS: &[&str] = &[
    "a", "\\", "x", "n", "r", "t", "0", "\\x", "\\\\", "f", "F", "9", "g", "+", "-", " ", "é",
    "\n", "\\n", "\\x4", "\\xff", "\\xFF", "\\xé", "\\x+",
];

fn escape_inputs() -> BoxedStrategy<String> {
    prop_oneof![
        arb_string(),
        vec(select(ESCAPE_TOKENS), 0..10).prop_map(|t| t.concat()),
    ]
    .boxed()
}

/// The documented decoder: `\n \r \t \0 \\ \xHH` (two hex digits); anything else fails.
fn reference_unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let (byte, len) = match *b.get(i + 1)? {
            b'n' => (b'\n', 2),
            b'r' => (b'\r', 2),
            b't' => (b'\t', 2),
            b'0' => (0, 2),
            b'\\' => (b'\\', 2),
            b'x' => {
                let hex = b.get(i + 2..i + 4)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let text = std::str::from_utf8(hex).ok()?;
                (u8::from_str_radix(text, 16).ok()?, 4)
            }
            _ => return None,
        };
        out.push(byte);
        i += len;
    }
    Some(out)
}

/// Bytes and one way of writing them with escapes.
fn escaped_bytes() -> BoxedStrategy<(Vec<u8>, String)> {
    vec((any::<u8>(), 0u8..3), 0..24)
        .prop_map(|pairs| {
            let mut s = String::new();
            for &(b, how) in &pairs {
                match (b, how) {
                    (b'\n', 0) => s.push_str("\\n"),
                    (b'\r', 0) => s.push_str("\\r"),
                    (b'\t', 0) => s.push_str("\\t"),
                    (0, 0) => s.push_str("\\0"),
                    (b'\\', 0 | 1) => s.push_str("\\\\"),
                    (0x20..=0x7e, 0 | 1) => s.push(char::from(b)),
                    (_, 1) => s.push_str(&format!("\\x{b:02X}")),
                    _ => s.push_str(&format!("\\x{b:02x}")),
                }
            }
            (pairs.into_iter().map(|(b, _)| b).collect(), s)
        })
        .boxed()
}

fn unescape_never_panics(budget: Budget) -> Outcome {
    run("unescape_never_panics", budget, escape_inputs(), |s| {
        let _ = send::unescape(&s);
        Ok(())
    })
}

fn unescape_without_backslash_is_identity(budget: Budget) -> Outcome {
    let plain = arb_string().prop_map(|s| s.replace('\\', "/"));
    run(
        "unescape_without_backslash_is_identity",
        budget,
        plain,
        |s| {
            prop_assert_eq!(send::unescape(&s), Ok(s.into_bytes()));
            Ok(())
        },
    )
}

/// `\xHH` (either case) is that byte, wherever it stands.
fn unescape_hex_is_the_byte(budget: Budget) -> Outcome {
    let plain = || arb_string().prop_map(|s| s.replace('\\', "/"));
    run(
        "unescape_hex_is_the_byte",
        budget,
        (plain(), any::<u8>(), any::<bool>(), plain()),
        |(before, byte, upper, after)| {
            let hex = if upper {
                format!("{byte:02X}")
            } else {
                format!("{byte:02x}")
            };
            let mut want = before.clone().into_bytes();
            want.push(byte);
            want.extend_from_slice(after.as_bytes());
            prop_assert_eq!(
                send::unescape(&format!("{before}\\x{hex}{after}")),
                Ok(want)
            );
            Ok(())
        },
    )
}

fn unescape_decodes_what_was_escaped(budget: Budget) -> Outcome {
    run(
        "unescape_decodes_what_was_escaped",
        budget,
        escaped_bytes(),
        |(bytes, text)| {
            prop_assert_eq!(send::unescape(&text), Ok(bytes));
            Ok(())
        },
    )
}

/// unescape accepts exactly the documented escapes, with the documented meaning.
fn unescape_matches_documented_escapes(budget: Budget) -> Outcome {
    run(
        "unescape_matches_documented_escapes",
        budget,
        escape_inputs(),
        |s| {
            let got = send::unescape(&s);
            prop_assert_eq!(got.ok(), reference_unescape(&s));
            Ok(())
        },
    )
}

fn unescape_errors_name_the_argument(budget: Budget) -> Outcome {
    run(
        "unescape_errors_name_the_argument",
        budget,
        escape_inputs(),
        |s| {
            if let Err(msg) = send::unescape(&s) {
                prop_assert!(
                    msg.starts_with(&format!("'{}': ", shown(&s))),
                    "message {:?}",
                    msg
                );
            }
            Ok(())
        },
    )
}

fn unescape_errors_are_one_line(budget: Budget) -> Outcome {
    run(
        "unescape_errors_are_one_line",
        budget,
        escape_inputs(),
        |s| {
            if let Err(msg) = send::unescape(&s) {
                prop_assert!(!msg.contains('\n'), "message {:?}", msg);
            }
            Ok(())
        },
    )
}

/// An unknown escape `\C` is named as typed in the message.
fn unescape_unknown_escape_is_named(budget: Budget) -> Outcome {
    let bad = any::<char>().prop_filter("a known escape", |c| !"nrt0\\x".contains(*c));
    run(
        "unescape_unknown_escape_is_named",
        budget,
        (bad, "[a-z]{0,3}"),
        |(c, tail)| {
            let text = format!("\\{c}{tail}");
            let msg = send::unescape(&text).expect_err("an unknown escape");
            prop_assert!(
                msg.contains(&format!("unknown escape '{}'", shown(&format!("\\{c}")))),
                "message {:?}",
                msg
            );
            Ok(())
        },
    )
}

// ---------------------------------------------------------------------------------------
// 6. `fdwatch send ADDRESS`.
//
// The command line checks ADDRESS (`cli::send_address`) before `send` connects: a pure
// check of the address.

fn send_addresses() -> BoxedStrategy<String> {
    prop_oneof![
        2 => socket_specs().prop_map(|(arg, _)| arg),
        2 => utf8_spec_inputs(),
        1 => ("[a-z0-9:.\\[\\]/%]{0,6}", any::<u16>())
            .prop_map(|(h, port)| format!("tcp:[{h}]:{port}")),
        1 => fd_like_specs().prop_map(|(arg, _)| arg),
    ]
    .boxed()
}

fn is_send_address(parsed: &Result<Spec, SpecError>) -> bool {
    matches!(
        parsed,
        Ok(Spec {
            target: Target::Socket(SocketSpec::Tcp { .. } | SocketSpec::Unix(_)),
            ..
        })
    )
}

/// Accepted exactly when the spec grammar reads tcp:HOST:PORT or unix:PATH; an accepted
/// address's Display is accepted too and round-trips; refusals are usage errors naming it.
fn send_accepts_tcp_and_unix_only(budget: Budget) -> Outcome {
    run(
        "send_accepts_tcp_and_unix_only",
        budget,
        send_addresses(),
        |addr| {
            let parsed = spec::parse(OsStr::new(&addr));
            match cli::send_address(&addr) {
                Ok(sock) => {
                    prop_assert!(is_send_address(&parsed), "accepted: {:?}", parsed);
                    let s = parsed.expect("checked above");
                    prop_assert_eq!(&s.target, &Target::Socket(sock));
                    let shown = s.to_string();
                    let again = cli::send_address(&shown);
                    prop_assert!(again.is_ok(), "shown as {:?}: {:?}", shown, again);
                    round_trips(&s)?;
                }
                Err(msg) => {
                    prop_assert!(!is_send_address(&parsed), "refused {:?}", msg);
                    prop_assert!(msg.starts_with("send: "), "message {:?}", msg);
                    prop_assert!(msg.contains(&shown(&addr)), "message {:?}", msg);
                }
            }
            Ok(())
        },
    )
}

fn send_refusals_are_one_line(budget: Budget) -> Outcome {
    run(
        "send_refusals_are_one_line",
        budget,
        send_addresses(),
        |addr| {
            if let Err(line) = cli::send_address(&addr) {
                prop_assert!(!line.contains('\n'), "message {:?}", line);
            }
            Ok(())
        },
    )
}

/// The command line keeps an ADDRESS it takes as typed, with its parse, and --data and
/// --urgent become the unescaped steps in order. (Only addresses it takes: a refused one
/// would print its line on stderr here; `send_accepts_tcp_and_unix_only` checks those.)
fn send_command_line_keeps_address_and_data(budget: Budget) -> Outcome {
    run(
        "send_command_line_keeps_address_and_data",
        budget,
        (
            send_addresses().prop_filter("an address send takes", |a| cli::send_address(a).is_ok()),
            escaped_bytes(),
            escaped_bytes(),
        ),
        |(addr, (data, data_text), (urgent, urgent_text))| {
            let sock = cli::send_address(&addr);
            let argv = [
                "fdwatch".to_owned(),
                "send".to_owned(),
                format!("--data={data_text}"),
                format!("--urgent={urgent_text}"),
                "--".to_owned(),
                addr.clone(),
            ];
            match cli::parse(argv) {
                Parsed::Run(c) => match &*c {
                    Command::Send(s) => {
                        prop_assert_eq!(&s.address, &addr);
                        prop_assert_eq!(Ok(s.to.clone()), sock);
                        prop_assert_eq!(
                            &s.plan.steps,
                            &vec![SendStep::Data(data), SendStep::Urgent(urgent)]
                        );
                        prop_assert_eq!(s.plan.connections, 1);
                        prop_assert_eq!(s.plan.repeat, 1);
                    }
                    other => prop_assert!(false, "not send: {:?}", other),
                },
                Parsed::Exit(code) => prop_assert!(false, "exit {}", code),
            }
            Ok(())
        },
    )
}

// ---------------------------------------------------------------------------------------
// The normal run (cargo test) and the long one (ignored).

macro_rules! properties {
    ($($name:ident: $normal:expr, $long:expr;)*) => {
        mod normal {
            $(
                #[test]
                fn $name() {
                    super::expect_pass(super::$name(super::Budget {
                        cases: $normal,
                        keep_going: false,
                    }));
                }
            )*
        }

        /// Every property with its case count in the long run.
        const LONG_RUN: &[(Prop, u32)] = &[$(($name as Prop, $long)),*];
    };
}

properties! {
    spec_never_panics_on_any_bytes: 1000, 100_000;
    spec_never_panics_near_the_grammar: 1000, 100_000;
    spec_accepted_round_trips: 1000, 50_000;
    spec_accepted_utf8_round_trips: 1000, 50_000;
    spec_fd_and_pid_forms_parse_and_round_trip: 500, 40_000;
    spec_socket_forms_parse_and_round_trip: 500, 40_000;
    spec_bracketed_hosts_round_trip: 500, 30_000;
    spec_paths_parse: 500, 40_000;
    spec_utf8_paths_round_trip: 500, 30_000;
    spec_non_utf8_paths_round_trip: 256, 20_000;
    spec_display_protects_ambiguous_paths: 500, 30_000;
    spec_errors_name_the_argument: 1000, 50_000;
    spec_errors_are_one_line: 1000, 50_000;
    spec_unknown_letter_is_named: 500, 30_000;
    timeout_never_panics: 1000, 80_000;
    timeout_accepted_is_bounded_and_deterministic: 1000, 50_000;
    timeout_display_round_trips: 1000, 50_000;
    timeout_millis_limit: 500, 30_000;
    timeout_negative_nan_inf_rejected: 500, 30_000;
    timeout_errors_name_the_argument: 500, 30_000;
    timeout_errors_are_one_line: 500, 30_000;
    unescape_never_panics: 1000, 50_000;
    unescape_without_backslash_is_identity: 500, 30_000;
    unescape_hex_is_the_byte: 500, 30_000;
    unescape_decodes_what_was_escaped: 500, 30_000;
    unescape_matches_documented_escapes: 1000, 50_000;
    unescape_errors_name_the_argument: 500, 30_000;
    unescape_errors_are_one_line: 500, 30_000;
    unescape_unknown_escape_is_named: 500, 30_000;
    send_accepts_tcp_and_unix_only: 500, 40_000;
    send_refusals_are_one_line: 500, 30_000;
    send_command_line_keeps_address_and_data: 256, 20_000;
}

/// `\xHH` for each of the 256 bytes, both cases.
#[test]
fn unescape_every_hex_byte() {
    for b in 0..=255u8 {
        for text in [format!("\\x{b:02x}"), format!("\\x{b:02X}")] {
            assert_eq!(send::unescape(&text), Ok(vec![b]), "{text}");
        }
    }
}

#[test]
#[ignore = "over 1,000,000 inputs: cargo test --release --test it props:: -- --ignored --nocapture"]
fn long_fuzz_million_inputs() {
    let configured: u64 = LONG_RUN.iter().map(|&(_, n)| u64::from(n)).sum();
    assert!(
        configured >= 1_000_000,
        "only {configured} cases configured"
    );
    let start = Instant::now();
    let (mut generated, mut shrink_steps) = (0u64, 0u64);
    let mut failed = Vec::new();
    for &(prop, cases) in LONG_RUN {
        let t = Instant::now();
        let o = prop(Budget {
            cases,
            keep_going: true,
        });
        generated += o.generated;
        shrink_steps += o.shrink_steps;
        let found: u32 = o.failures.iter().map(|f| f.times).sum();
        let verdict = if found == 0 {
            "ok".to_owned()
        } else {
            format!(
                "FAIL: {found} failures, {} distinct minimal inputs",
                o.failures.len()
            )
        };
        println!(
            "{:<46} {:>7} cases {:>7} generated {:>9.2?}  {verdict}",
            o.name,
            o.cases,
            o.generated,
            t.elapsed()
        );
        if found > 0 {
            failed.push(o);
        }
    }
    println!(
        "{} properties: {configured} cases configured, {generated} inputs generated \
         (+{shrink_steps} shrinking steps), {:.2?}",
        LONG_RUN.len(),
        start.elapsed()
    );
    for o in &failed {
        println!(
            "\nFAILED {} — minimal failing inputs (most frequent first):",
            o.name
        );
        let mut fs: Vec<&Failure> = o.failures.iter().collect();
        fs.sort_by_key(|f| std::cmp::Reverse(f.times));
        for f in fs.iter().take(8) {
            println!(
                "  {:>5}x {}\n         {}",
                f.times,
                f.input,
                f.why.replace('\n', "\n         ")
            );
        }
        if fs.len() > 8 {
            println!("  ... and {} more", fs.len() - 8);
        }
    }
    let names: Vec<&str> = failed.iter().map(|o| o.name).collect();
    assert!(
        failed.is_empty(),
        "{} properties failed: {}",
        failed.len(),
        names.join(", ")
    );
}
