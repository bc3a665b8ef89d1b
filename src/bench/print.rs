//! Bench output: JSON Lines with ref_pingpong's field names, or a table of medians and
//! a log-scale bar chart of ns/event against N per backend.

use std::io::{self, Write};

use owo_colors::OwoColorize;
use serde::Serialize;

use super::{Column, Config, Row, RowOutcome};
use crate::event::{Family, Payload};
use crate::output::json::line;

/// Width of the chart's bars, in columns, where the terminal has room.
const BAR_WIDTH: usize = 48;
/// The narrowest bars (a tick per decade still has its own column).
const MIN_BAR_WIDTH: usize = 18;
/// Before the bars: the backend and N (`poll       100 │`).
const CHART_LEFT: usize = 16;
/// After the longest bar: ` 9.94 µs`, or the last decade's label.
const CHART_RIGHT: usize = 9;

/// The bars' width for a terminal `columns` wide.
fn bar_width(columns: usize) -> usize {
    columns
        .saturating_sub(CHART_LEFT + CHART_RIGHT)
        .clamp(MIN_BAR_WIDTH, BAR_WIDTH)
}

/// One row as one JSON object (a `bench` event, `t` since the bench began).
pub fn json_row(
    out: &mut impl Write,
    t: std::time::Duration,
    cfg: &Config,
    cpu: Option<usize>,
    row: &Row,
) -> io::Result<()> {
    line(out, t, &BenchRow::of(cfg, cpu, row))
}

/// A `bench` line, with the C reference's (ref_pingpong) field names;
/// `"impl":"fdwatch"` tells it from the reference's rows.
#[derive(Serialize)]
pub struct BenchRow<'a> {
    pub backend: &'static str,
    pub mode: &'static str,
    pub fds: usize,
    pub active: usize,
    #[serde(flatten)]
    pub outcome: Measure<'a>,
    #[serde(rename = "impl")]
    pub by: &'static str,
}

impl Payload for BenchRow<'_> {
    const NAME: &'static str = "bench";
    const FAMILY: Family = Family::Bench;
}

/// Why a row was not measured, or what was.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Measure<'a> {
    Refused {
        refused: &'a str,
    },
    Measured {
        rounds: u64,
        repeats: usize,
        timeout_ms: i32,
        pick: &'static str,
        /// The CPU pinned to (-1: none).
        cpu: i64,
        /// ns with one decimal and events/s whole, as ref_pingpong prints them.
        ns_per_event: f64,
        ns_min: f64,
        ns_max: f64,
        events_per_s: f64,
    },
}

impl BenchRow<'_> {
    pub fn of<'a>(cfg: &Config, cpu: Option<usize>, row: &'a Row) -> BenchRow<'a> {
        let tenth = |v: f64| (v * 10.0).round() / 10.0;
        let outcome = match &row.outcome {
            RowOutcome::Refused(why) => Measure::Refused { refused: why },
            RowOutcome::Measured(s) => Measure::Measured {
                rounds: s.rounds,
                repeats: s.per_event.len(),
                timeout_ms: cfg.timeout_ms,
                pick: "rotate",
                cpu: cpu.map_or(-1, |c| c as i64),
                ns_per_event: tenth(s.median()),
                ns_min: tenth(s.min()),
                ns_max: tenth(s.max()),
                events_per_s: (1e9 / s.median()).round(),
            },
        };
        BenchRow {
            backend: row.column.name(),
            mode: mode(cfg),
            fds: row.fds,
            active: row.active,
            outcome,
            by: "fdwatch",
        }
    }
}

fn mode(cfg: &Config) -> &'static str {
    if cfg.wake { "wake" } else { "same" }
}

/// The whole text report: heading, table of medians, refusals, slopes, bar chart.
pub fn text(
    out: &mut impl Write,
    cfg: &Config,
    cpu: Option<usize>,
    rows: &[Row],
    color: bool,
    columns: usize,
) -> io::Result<()> {
    let what = if cfg.wake {
        "two processes (round trip per event)"
    } else {
        "same process (per-wait cost)"
    };
    let wait = match cfg.timeout_ms {
        -1 => "blocking wait".to_string(),
        t => format!("timeout {t} ms"),
    };
    let pin = cpu.map_or(String::new(), |c| format!(", pinned to CPU {c}"));
    let repeats = cfg.repeats;
    writeln!(
        out,
        "ns per event, {what}, {wait}, K={} active{pin}; median of {repeats} repeats",
        cfg.active
    )?;
    table(out, cfg, rows)?;
    for r in rows {
        if let RowOutcome::Refused(why) = &r.outcome {
            writeln!(out, "refused: {} N={}: {why}", r.column.name(), r.fds)?;
        }
    }
    slopes(out, cfg, rows)?;
    writeln!(out)?;
    chart(out, cfg, rows, color, bar_width(columns))
}

fn find(rows: &[Row], c: Column, n: usize) -> Option<&Row> {
    rows.iter().find(|r| r.column == c && r.fds == n)
}

fn table(out: &mut impl Write, cfg: &Config, rows: &[Row]) -> io::Result<()> {
    write!(out, "{:>7}", "N")?;
    for c in &cfg.columns {
        write!(out, "{:>12}", c.name())?;
    }
    writeln!(out)?;
    for &n in &cfg.fds {
        write!(out, "{n:>7}")?;
        for &c in &cfg.columns {
            let cell = match find(rows, c, n).map(|r| &r.outcome) {
                Some(RowOutcome::Measured(s)) => thousands(s.median()),
                Some(RowOutcome::Refused(_)) => "refused".into(),
                None => "-".into(),
            };
            write!(out, "{cell:>12}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// ns per extra watched fd between the smallest and largest N: the O(N) vs O(1) shape
/// in one number per backend.
fn slopes(out: &mut impl Write, cfg: &Config, rows: &[Row]) -> io::Result<()> {
    let mut parts = Vec::new();
    for &c in &cfg.columns {
        let mut ok: Vec<(usize, f64)> = rows
            .iter()
            .filter(|r| r.column == c)
            .filter_map(|r| match &r.outcome {
                RowOutcome::Measured(s) => Some((r.fds, s.median())),
                RowOutcome::Refused(_) => None,
            })
            .collect();
        ok.sort_by_key(|&(n, _)| n);
        if let (Some(&(n0, v0)), Some(&(n1, v1))) = (ok.first(), ok.last())
            && n1 > n0
        {
            let slope = (v1 - v0) / (n1 - n0) as f64;
            parts.push(format!(
                "{} {slope:+.1} ns/fd (×{:.2} from N={n0} to {n1})",
                c.name(),
                v1 / v0
            ));
        }
    }
    if !parts.is_empty() {
        writeln!(out, "slope: {}", parts.join("; "))?;
    }
    Ok(())
}

/// Decades of ns the chart spans: from the decade below the smallest median to the
/// decade above the largest.
fn decades(rows: &[Row]) -> Option<(i32, i32)> {
    let meds = rows.iter().filter_map(|r| match &r.outcome {
        RowOutcome::Measured(s) if s.median() > 0.0 => Some(s.median()),
        _ => None,
    });
    let (lo, hi) = meds.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi <= 0.0 {
        return None;
    }
    let lo = log10(lo).floor() as i32;
    let hi = (log10(hi).ceil() as i32).max(lo + 1);
    Some((lo, hi))
}

/// log10 for positive finite `v`, without libm: `f64::log10` is fdwatch's only libm
/// call, and linking libm costs every start-up a shared-library load. v = m·2^e with m
/// in [1, 2); ln m = 2·atanh(z), z = (m−1)/(m+1) ≤ 1/3, so 12 terms are exact to 1e-12.
fn log10(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return f64::NEG_INFINITY;
    }
    let (m, e) = if v.is_normal() {
        let bits = v.to_bits();
        let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
        (f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52)), e)
    } else {
        // Subnormal: scale into the normal range first.
        let x = v * f64::from_bits((1023 + 64) << 52);
        let bits = x.to_bits();
        let e = ((bits >> 52) & 0x7ff) as i64 - 1023 - 64;
        (f64::from_bits((bits & ((1 << 52) - 1)) | (1023 << 52)), e)
    };
    let z = (m - 1.0) / (m + 1.0);
    let z2 = z * z;
    let (mut term, mut sum) = (z, 0.0);
    for k in 0..12 {
        sum += term / f64::from(2 * k + 1);
        term *= z2;
    }
    (e as f64 * std::f64::consts::LN_2 + 2.0 * sum) / std::f64::consts::LN_10
}

/// A bar of `eighths` eighth-columns, in block characters.
fn bar(eighths: usize) -> String {
    const PART: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(PART[eighths % 8]);
    }
    s
}

/// Eighth-columns for `v` ns on a log axis from 10^lo to 10^hi over `w` columns.
fn bar_len(v: f64, lo: i32, hi: i32, w: usize) -> usize {
    let f = (log10(v) - f64::from(lo)) / f64::from(hi - lo);
    ((f.clamp(0.0, 1.0) * (w * 8) as f64).round() as usize).max(1)
}

fn decade_label(d: i32) -> String {
    match d {
        ..=2 => format!("{} ns", 10u64.pow(d.max(0) as u32)),
        3..=5 => format!("{} µs", 10u64.pow((d - 3) as u32)),
        6..=8 => format!("{} ms", 10u64.pow((d - 6) as u32)),
        _ => format!("{} s", 10u64.pow((d - 9).min(9) as u32)),
    }
}

/// The column of decade `i` of `span` on the axis: where a bar of that value ends
/// (bar_len's scale, rounded to a whole column).
fn decade_col(i: usize, span: usize, w: usize) -> usize {
    (i * w + span / 2) / span
}

/// The axis: a label at each decade that fits, then a rule with a tick per decade,
/// both at the column where a bar of that decade's value ends (for every span: the
/// ticks once drifted from the bars, an integer step per decade).
fn axis(lo: i32, hi: i32, w: usize) -> (String, String) {
    let span = (hi - lo).max(1) as usize;
    let mut labels = String::new();
    let mut rule: Vec<char> = vec!['─'; w + 1];
    let mut col = 0;
    for (i, d) in (lo..=hi).enumerate() {
        let at = decade_col(i, span, w);
        let l = decade_label(d);
        // A label that would stick out past the bars' room is left to its tick.
        if at >= col && at + l.chars().count() <= w + CHART_RIGHT {
            labels.push_str(&" ".repeat(at - col));
            labels.push_str(&l);
            col = at + l.chars().count() + 1;
            labels.push(' ');
        }
        rule[at] = match i {
            0 => '├',
            _ if i == span => '┤',
            _ => '┼',
        };
    }
    (labels.trim_end().to_string(), rule.into_iter().collect())
}

fn chart(
    out: &mut impl Write,
    cfg: &Config,
    rows: &[Row],
    color: bool,
    w: usize,
) -> io::Result<()> {
    let Some((lo, hi)) = decades(rows) else {
        return Ok(());
    };
    let (labels, rule) = axis(lo, hi, w);
    let pad = " ".repeat(CHART_LEFT);
    writeln!(out, "ns per event against N, log scale")?;
    writeln!(out, "{pad}{labels}")?;
    writeln!(out, "{pad}{rule}")?;
    for &c in &cfg.columns {
        for (i, &n) in cfg.fds.iter().enumerate() {
            let Some(r) = find(rows, c, n) else { continue };
            let name = if i == 0 { c.name() } else { "" };
            write!(out, "{name:<8}{n:>7} │")?;
            match &r.outcome {
                RowOutcome::Measured(s) => {
                    let b = bar(bar_len(s.median(), lo, hi, w));
                    if color {
                        write!(out, "{}", b.style(crate::output::series_style(c.index())))?;
                    } else {
                        out.write_all(b.as_bytes())?;
                    }
                    writeln!(out, " {}", human_ns(s.median()))?;
                }
                RowOutcome::Refused(_) => writeln!(out, " refused")?,
            }
        }
    }
    Ok(())
}

/// 886 ns, 1.74 µs, 88.8 µs, 979 µs, 1.23 ms: three significant digits.
fn human_ns(v: f64) -> String {
    let (x, unit) = if v < 1e3 {
        (v, "ns")
    } else if v < 1e6 {
        (v / 1e3, "µs")
    } else if v < 1e9 {
        (v / 1e6, "ms")
    } else {
        (v / 1e9, "s")
    };
    if x >= 100.0 {
        format!("{x:.0} {unit}")
    } else if x >= 10.0 {
        format!("{x:.1} {unit}")
    } else {
        format!("{x:.2} {unit}")
    }
}

/// 88840 → "88,840".
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        let table: &[(f64, &str, &str)] = &[
            (886.4, "886 ns", "886"),
            (1737.0, "1.74 µs", "1,737"),
            (88840.0, "88.8 µs", "88,840"),
            (979436.0, "979 µs", "979,436"),
            (1234567.0, "1.23 ms", "1,234,567"),
        ];
        for &(v, human, th) in table {
            assert_eq!(
                (human_ns(v).as_str(), thousands(v).as_str()),
                (human, th),
                "{v}"
            );
        }
    }

    #[test]
    fn log10_matches_std() {
        for v in [
            1e-310, 1e-5, 0.3, 1.0, 2.0, 9.99, 10.0, 886.4, 1737.0, 979_436.0, 1e300,
        ] {
            let (ours, std) = (log10(v), v.log10());
            assert!((ours - std).abs() < 1e-9, "log10({v}): {ours} vs {std}");
        }
        assert_eq!(log10(0.0), f64::NEG_INFINITY);
        assert_eq!(log10(-1.0), f64::NEG_INFINITY);
    }

    #[test]
    fn bars_are_logarithmic() {
        // 10^2..10^6 over 48 columns: each decade is 12 columns = 96 eighths.
        assert_eq!(bar_len(1e3, 2, 6, 48), 96);
        assert_eq!(bar_len(1e5, 2, 6, 48), 288);
        assert_eq!(bar_len(1e6, 2, 6, 48), 384);
        assert_eq!(bar_len(1.0, 2, 6, 48), 1, "never empty");
        assert_eq!(bar_len(1e6, 2, 6, 20), 160, "a narrower terminal");
        assert_eq!(bar(12), "█▌");
        assert_eq!(bar(11), "█▍");
        assert_eq!(bar(16), "██");
    }

    #[test]
    fn axis_labels_each_decade() {
        let (labels, rule) = axis(2, 6, BAR_WIDTH);
        assert!(labels.starts_with("100 ns"), "{labels}");
        for l in ["1 µs", "10 µs", "100 µs", "1 ms"] {
            assert!(labels.contains(l), "{labels}");
        }
        assert_eq!(rule.chars().count(), BAR_WIDTH + 1);
        assert_eq!(rule.matches('┼').count(), 3);
        assert_eq!(bar_width(80), BAR_WIDTH);
        assert_eq!(bar_width(60), 60 - CHART_LEFT - CHART_RIGHT);
        assert_eq!(bar_width(10), MIN_BAR_WIDTH);
    }

    #[test]
    fn ticks_align_with_the_bars_for_every_span() {
        for (span, w) in (1..=9).flat_map(|s| [(s, BAR_WIDTH), (s, 35), (s, MIN_BAR_WIDTH)]) {
            let (lo, hi) = (2, 2 + span);
            let (labels, rule) = axis(lo, hi, w);
            assert!(
                labels.chars().count() <= w + CHART_RIGHT,
                "span {span}, width {w}: labels {labels:?}"
            );
            let rule: Vec<char> = rule.chars().collect();
            for i in 0..=span {
                // A bar of exactly 10^(lo+i) ns ends at this column.
                let eighths = bar_len(10f64.powi(lo + i), lo, hi, w) as f64;
                let end = if i == 0 { 0.0 } else { eighths / 8.0 };
                let tick = rule
                    .iter()
                    .enumerate()
                    .filter(|&(_, &c)| c != '─')
                    .nth(i as usize)
                    .map(|(at, _)| at)
                    .expect("a tick per decade");
                assert!(
                    (tick as f64 - end).abs() <= 0.5,
                    "span {span}, width {w}, decade {i}: tick at {tick}, bar ends at {end}"
                );
                // A label, where there is one, starts at its tick.
                let l = decade_label(lo + i);
                if labels.contains(&l) {
                    let at = labels.find(&l).map(|b| labels[..b].chars().count());
                    assert_eq!(at, Some(tick), "span {span}, width {w}: label {l:?}");
                }
            }
        }
    }
}
