//! Durations on the command line, one grammar for all: seconds (`2`, `0.4`) or a
//! humantime duration (`400ms`, `1m30s`); TIMEOUT also takes `-` (forever). And the
//! monotonic deadline.

use std::fmt;
use std::time::{Duration, Instant};

/// The longest finite wait: poll and epoll take an `int` of milliseconds.
pub const MAX: Duration = Duration::from_millis(i32::MAX as u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    Forever,
    After(Duration),
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timeout::Forever => f.write_str("-"),
            Timeout::After(d) => write!(f, "{}", seconds(*d)),
        }
    }
}

/// A duration as plain seconds (`0.25s`), the way timeouts are shown.
/// Rounded to the microsecond, half up; by integers (a float's formatting costs a
/// one-shot check more than the rest of its summary line).
pub fn seconds(d: Duration) -> String {
    let micros = (d.as_nanos() + 500) / 1000;
    let (whole, frac) = (micros / 1_000_000, micros % 1_000_000);
    if frac == 0 {
        return format!("{whole}s");
    }
    let frac = format!("{frac:06}");
    format!("{whole}.{}s", frac.trim_end_matches('0'))
}

/// How every duration on the command line is written, said once (help, man pages,
/// errors): TIMEOUT, `--interval`, `relay --idle`, `send --delay` share this grammar.
pub const GRAMMAR: &str = "seconds (2, 0.4) or a number with a unit (400ms, 1m30s)";

/// Why a duration did not parse (the words of every option's error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bad {
    Negative,
    NotANumber,
    TooLong,
    Unparsable,
}

impl Bad {
    /// The reason, as every duration option says it.
    pub fn reason(self) -> String {
        match self {
            Bad::Negative => format!("negative; expected {GRAMMAR}"),
            Bad::NotANumber => format!("not a number; expected {GRAMMAR}"),
            Bad::TooLong => "too long (at most 2147483.647 s)".into(),
            Bad::Unparsable => format!("expected {GRAMMAR}"),
        }
    }
}

/// The one duration grammar: bare seconds (`2`, `0.4`, `1e3`) or humantime (`400ms`,
/// `1m30s`, `1.5s`), from zero to `MAX`. `-` (forever) is TIMEOUT's own, see `parse`.
pub fn duration(arg: &str) -> Result<Duration, Bad> {
    let d = if let Ok(secs) = arg.parse::<f64>() {
        if secs.is_nan() {
            return Err(Bad::NotANumber);
        }
        if secs < 0.0 || (secs == 0.0 && secs.is_sign_negative() && arg.starts_with('-')) {
            return Err(Bad::Negative);
        }
        if !secs.is_finite() || secs > MAX.as_secs_f64() {
            return Err(Bad::TooLong);
        }
        Duration::from_secs_f64(secs)
    } else if arg.starts_with('-') && arg[1..].starts_with(|c: char| c.is_ascii_digit()) {
        // `-1s`: humantime says only "expected number at 0".
        return Err(Bad::Negative);
    } else {
        humantime::parse_duration(arg).map_err(|_| Bad::Unparsable)?
    };
    if d > MAX {
        return Err(Bad::TooLong);
    }
    Ok(d)
}

/// A duration option's value (`--interval`, `--delay`...) within `[min, max]`: the
/// error is the option's one line after clap's `invalid value 'X' for '--opt'`.
pub fn option(arg: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    if arg == "-" {
        return Err(format!(
            "'-' (forever) is for TIMEOUT only; expected {GRAMMAR}"
        ));
    }
    let d = duration(arg).map_err(Bad::reason)?;
    if d < min || d > max {
        return Err(match (min.is_zero(), max == MAX) {
            (true, _) => format!("too long (at most {})", humantime::format_duration(max)),
            (false, true) if min <= Duration::from_nanos(1) => "must be above zero".into(),
            (false, true) => format!("must be at least {}", humantime::format_duration(min)),
            (false, false) => format!(
                "must be from {} to {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
        });
    }
    Ok(d)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeoutError {
    pub arg: String,
    pub reason: String,
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = format!("timeout '{}': {}", self.arg, self.reason);
        f.write_str(&crate::escape::message(&line))
    }
}

impl std::error::Error for TimeoutError {}

/// Parses TIMEOUT: `-` (forever) or a `duration`. Never panics; errors name the
/// argument and point at `-`.
pub fn parse(arg: &str) -> Result<Timeout, TimeoutError> {
    if arg == "-" {
        return Ok(Timeout::Forever);
    }
    duration(arg)
        .map(Timeout::After)
        .map_err(|bad| TimeoutError {
            arg: arg.to_owned(),
            reason: match bad {
                Bad::Negative => "negative; use 0 to poll once or '-' to wait forever".into(),
                Bad::NotANumber => "not a number; use '-' to wait forever".into(),
                Bad::TooLong => "too long (at most 2147483.647 s); use '-' to wait forever".into(),
                Bad::Unparsable => format!("expected {GRAMMAR}, or '-' for forever"),
            },
        })
}

/// Wall-clock budget of a run, measured on the monotonic clock so that EINTR
/// retries and clock changes never extend it.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Option<Instant>,
}

impl Deadline {
    pub fn new(t: Timeout, start: Instant) -> Deadline {
        Deadline {
            end: match t {
                Timeout::Forever => None,
                Timeout::After(d) => Some(start + d),
            },
        }
    }

    /// Time left (`None` = forever); zero once passed.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.end.map(|e| e.saturating_duration_since(now))
    }
}

/// Rounds a wait up (never down) to whole `unit`s, as the backends need.
pub fn ceil_to(d: Duration, unit: Duration) -> u128 {
    d.as_nanos().div_ceil(unit.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good() {
        let ms = Duration::from_millis;
        let table: &[(&str, Timeout)] = &[
            ("-", Timeout::Forever),
            ("0", Timeout::After(ms(0))),
            ("2", Timeout::After(ms(2000))),
            ("0.25", Timeout::After(ms(250))),
            ("2.5", Timeout::After(ms(2500))),
            ("250ms", Timeout::After(ms(250))),
            ("1m30s", Timeout::After(ms(90_000))),
            ("2147483.647", Timeout::After(MAX)),
            ("1e3", Timeout::After(ms(1_000_000))),
        ];
        for (s, want) in table {
            assert_eq!(parse(s).as_ref(), Ok(want), "{s}");
        }
    }

    #[test]
    fn bad() {
        for s in [
            "-1", "-0.5", "-0", "NaN", "nan", "inf", "-inf", "1e30", "1e400", "2147484", "", "abc",
            "1x", "25d", " 2", "0x10", "30days",
        ] {
            let e = parse(s).expect_err(s);
            let line = e.to_string();
            assert!(line.starts_with(&format!("timeout '{s}': ")), "{line}");
        }
        assert!(parse("inf").expect_err("inf").reason.contains("'-'"));
        assert!(parse("1e400").expect_err("1e400").reason.contains("'-'"));
    }

    /// The one grammar, every duration option's: (input, what it means).
    #[test]
    fn duration_grammar() {
        let ms = |n| Ok(Duration::from_millis(n));
        let table: &[(&str, Result<Duration, Bad>)] = &[
            ("2", ms(2000)),
            ("0.4", ms(400)),
            ("0", ms(0)),
            (".5", ms(500)),
            ("1e3", ms(1_000_000)),
            ("400ms", ms(400)),
            ("1m30s", ms(90_000)),
            ("1m 30s", ms(90_000)),
            ("1.5s", ms(1500)),
            ("2h", ms(7_200_000)),
            ("500us", Ok(Duration::from_micros(500))),
            ("-1", Err(Bad::Negative)),
            ("-0.4", Err(Bad::Negative)),
            ("-0", Err(Bad::Negative)),
            ("-1s", Err(Bad::Negative)),
            ("-inf", Err(Bad::Negative)),
            ("NaN", Err(Bad::NotANumber)),
            ("inf", Err(Bad::TooLong)),
            ("1e30", Err(Bad::TooLong)),
            ("30days", Err(Bad::TooLong)),
            ("-", Err(Bad::Unparsable)),
            ("", Err(Bad::Unparsable)),
            ("abc", Err(Bad::Unparsable)),
            ("1x", Err(Bad::Unparsable)),
            (" 2", Err(Bad::Unparsable)),
            ("0x10", Err(Bad::Unparsable)),
        ];
        for (s, want) in table {
            assert_eq!(&duration(s), want, "{s:?}");
        }
    }

    /// An option's bounds, and its errors: the same words for every option.
    #[test]
    fn option_bounds_and_words() {
        let (ms, h) = (Duration::from_millis(1), Duration::from_secs(3600));
        assert_eq!(option("0.4", ms, h), Ok(Duration::from_millis(400)));
        assert_eq!(option("400ms", ms, h), Ok(Duration::from_millis(400)));
        assert_eq!(option("0", ms, h), Err("must be from 1ms to 1h".into()));
        assert_eq!(option("2h", ms, h), Err("must be from 1ms to 1h".into()));
        let above = Duration::from_nanos(1);
        assert_eq!(option("0", above, MAX), Err("must be above zero".into()));
        assert_eq!(option("0", Duration::ZERO, MAX), Ok(Duration::ZERO));
        for s in ["-1", "abc", "NaN", "1e30"] {
            let e = option(s, ms, h).expect_err(s);
            assert_eq!(e, duration(s).expect_err(s).reason(), "{s}");
        }
        let dash = option("-", Duration::ZERO, MAX).expect_err("-");
        assert!(
            dash.contains("TIMEOUT only") && dash.contains(GRAMMAR),
            "{dash}"
        );
        assert_eq!(
            option("-1", ms, h).expect_err("-1"),
            format!("negative; expected {GRAMMAR}")
        );
    }

    #[test]
    fn rounding_is_up() {
        let us = Duration::from_micros(1);
        assert_eq!(ceil_to(Duration::from_nanos(1), us), 1);
        assert_eq!(ceil_to(Duration::from_nanos(1000), us), 1);
        assert_eq!(ceil_to(Duration::from_nanos(1001), us), 2);
        assert_eq!(ceil_to(Duration::ZERO, us), 0);
        assert_eq!(ceil_to(MAX, Duration::from_millis(1)), i32::MAX as u128);
    }

    #[test]
    fn seconds_display() {
        assert_eq!(seconds(Duration::from_millis(250)), "0.25s");
        assert_eq!(seconds(Duration::from_secs(2)), "2s");
        assert_eq!(seconds(Duration::ZERO), "0s");
        assert_eq!(seconds(Duration::from_nanos(98_400)), "0.000098s");
        assert_eq!(seconds(Duration::from_nanos(98_500)), "0.000099s");
        assert_eq!(seconds(Duration::from_micros(1_500_020)), "1.50002s");
        assert_eq!(seconds(Duration::from_nanos(999_999_999)), "1s");
        assert_eq!(seconds(Duration::from_secs(3600)), "3600s");
    }
}
