//! Numbers and times as people read them in text output: rates in decimal units,
//! the local time of day.

use std::time::SystemTime;

/// `12.3 MB/s`, decimal units as pv and dd print them.
pub fn human_rate(r: f64) -> String {
    let units = ["B/s", "kB/s", "MB/s", "GB/s", "TB/s"];
    let mut v = r;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", units[u])
}

/// Local time of day, `HH:MM:SS.micros`.
pub(super) fn wall_clock(now: SystemTime) -> String {
    let since = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs() as nix::libc::time_t;
    // SAFETY: `tm` is plain old data (integers and a pointer), so all-zero is valid.
    let mut tm: nix::libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: nix has no localtime_r; both pointers are valid for the call, and
    // localtime_r (unlike localtime) touches no shared buffer.
    let ok = unsafe { !nix::libc::localtime_r(&secs, &mut tm).is_null() };
    if ok {
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec,
            since.subsec_micros()
        )
    } else {
        format!("{}.{:06}", since.as_secs(), since.subsec_micros())
    }
}
