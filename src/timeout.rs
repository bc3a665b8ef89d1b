//! TIMEOUT: `-` (forever), seconds (`2`, `0.25`) or a humantime duration (`250ms`).

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
pub fn seconds(d: Duration) -> String {
    let s = format!("{:.6}", d.as_secs_f64());
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}s")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeoutError {
    pub arg: String,
    pub reason: &'static str,
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = format!("timeout '{}': {}", self.arg, self.reason);
        f.write_str(&crate::escape::message(&line))
    }
}

impl std::error::Error for TimeoutError {}

/// Parses TIMEOUT. Never panics; errors name the argument and point at `-`.
pub fn parse(arg: &str) -> Result<Timeout, TimeoutError> {
    let err = |reason| TimeoutError {
        arg: arg.to_owned(),
        reason,
    };
    if arg == "-" {
        return Ok(Timeout::Forever);
    }
    let d = if let Ok(secs) = arg.parse::<f64>() {
        if secs.is_nan() {
            return Err(err("not a number; use '-' to wait forever"));
        }
        if secs < 0.0 || (secs == 0.0 && secs.is_sign_negative() && arg.starts_with('-')) {
            return Err(err("negative; use 0 to poll once or '-' to wait forever"));
        }
        if !secs.is_finite() || secs > MAX.as_secs_f64() {
            return Err(err(
                "too long (at most 2147483.647 s); use '-' to wait forever",
            ));
        }
        Duration::from_secs_f64(secs)
    } else {
        humantime::parse_duration(arg).map_err(|_| {
            err("expected seconds (2, 0.25), a duration (250ms, 1m30s) or '-' for forever")
        })?
    };
    if d > MAX {
        return Err(err(
            "too long (at most 2147483.647 s); use '-' to wait forever",
        ));
    }
    Ok(Timeout::After(d))
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
    }
}
