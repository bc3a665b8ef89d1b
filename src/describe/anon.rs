//! The kinds of fd that are no file, FIFO or socket, from /proc/self/fdinfo: eventfd
//! (its counter), timerfd (clock, interval, time to expiry), signalfd (its signal
//! set), inotify and fanotify (their watches), epoll (each target with its mask), pidfd
//! (the pid), io_uring, userfaultfd, and memfd (its name). For another process's fd the
//! duplicate shares its open file description, so the same facts hold for it.

use std::os::fd::{AsRawFd, BorrowedFd};

use super::Kind;

/// `anon_inode:[eventfd]`, `anon_inode:inotify`: the kind and its description.
pub(super) fn describe(fd: BorrowedFd<'_>, link: &str) -> Option<(Kind, String)> {
    let name = link
        .strip_prefix("anon_inode:")?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .unwrap_or_default();
    let field = |key: &str| -> Option<&str> {
        info.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
    };
    Some(match name {
        "eventfd" => (
            Kind::EventFd,
            format!("eventfd count {}", field("eventfd-count").unwrap_or("?")),
        ),
        "timerfd" => (Kind::TimerFd, timerfd(&field)),
        "signalfd" => (Kind::SignalFd, signalfd(field("sigmask"))),
        "inotify" => (Kind::Inotify, watches("inotify", &info, "inotify wd:")),
        "fanotify" => (Kind::Fanotify, watches("fanotify", &info, "fanotify ino:")),
        "eventpoll" => (Kind::Epoll, epoll(&info)),
        "pidfd" => (
            Kind::PidFd,
            format!("pidfd pid {}", field("Pid").unwrap_or("?")),
        ),
        "io_uring" => (Kind::IoUring, "io_uring".to_owned()),
        "userfaultfd" => (Kind::UserFault, "userfaultfd".to_owned()),
        _ => return None,
    })
}

/// `/memfd:NAME (deleted)`: a memfd, by its name.
pub(super) fn memfd(link: &str) -> Option<String> {
    let name = link.strip_prefix("/memfd:")?;
    let name = name.strip_suffix(" (deleted)").unwrap_or(name);
    Some(format!("memfd {name}"))
}

/// `timerfd CLOCK_MONOTONIC, interval 1s, next in 4.999626s` (or `disarmed`).
fn timerfd<'a>(field: &dyn Fn(&str) -> Option<&'a str>) -> String {
    let clock = match field("clockid") {
        Some("0") => "CLOCK_REALTIME",
        Some("1") => "CLOCK_MONOTONIC",
        Some("7") => "CLOCK_BOOTTIME",
        Some("8") => "CLOCK_REALTIME_ALARM",
        Some("9") => "CLOCK_BOOTTIME_ALARM",
        _ => "clock ?",
    };
    // `(4, 999625675)`: seconds and nanoseconds.
    let pair = |v: Option<&str>| -> Option<f64> {
        let (s, ns) = v?.trim_matches(|c| c == '(' || c == ')').split_once(',')?;
        Some(s.trim().parse::<f64>().ok()? + ns.trim().parse::<f64>().ok()? / 1e9)
    };
    let secs = |x: f64| crate::timeout::seconds(std::time::Duration::from_secs_f64(x));
    // An expiry not yet read: the kernel forwards a periodic timer only when it is
    // read, so until then its it_value shows 0 although it is still armed.
    let ticks = field("ticks")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0);
    let unread = match ticks {
        1 => "expired (1 expiry unread)".to_owned(),
        n => format!("expired ({n} expiries unread)"),
    };
    match (pair(field("it_value")), pair(field("it_interval"))) {
        (Some(v), Some(i)) if i > 0.0 && (v > 0.0 || ticks > 0) => {
            let next = if v > 0.0 {
                format!("next in {}", secs(v))
            } else {
                unread
            };
            format!("timerfd {clock}, interval {}, {next}", secs(i))
        }
        (Some(0.0), _) if ticks > 0 => format!("timerfd {clock}, once, {unread}"),
        (Some(0.0), _) => format!("timerfd {clock}, disarmed"),
        (Some(v), _) => format!("timerfd {clock}, once, in {}", secs(v)),
        _ => format!("timerfd {clock}"),
    }
}

/// `signalfd USR1,TERM (ready by fdwatch's own pending signals)`: a signalfd is ready
/// for the process that polls it, so watching one shows fdwatch's signals, not its
/// owner's.
fn signalfd(mask: Option<&str>) -> String {
    let bits = mask
        .and_then(|m| u64::from_str_radix(m, 16).ok())
        .unwrap_or(0);
    let names: Vec<String> = (1..=64)
        .filter(|n| bits >> (n - 1) & 1 == 1)
        .map(crate::signals::name)
        .collect();
    format!(
        "signalfd {} (ready by fdwatch's own pending signals)",
        if names.is_empty() {
            "(none)".into()
        } else {
            names.join(",")
        }
    )
}

/// `inotify 2 watches (ino 3c4a7 dev fe00000, ...)`.
fn watches(kind: &str, info: &str, prefix: &str) -> String {
    let marks: Vec<String> = info
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| {
            let get = |k: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .unwrap_or("?")
                    .to_owned()
            };
            format!("ino {} dev {}", get("ino:"), get("sdev:"))
        })
        .collect();
    let n = marks.len();
    let plural = if n == 1 { "watch" } else { "watches" };
    if marks.is_empty() {
        format!("{kind} 0 watches")
    } else {
        format!("{kind} {n} {plural} ({})", marks.join(", "))
    }
}

/// `epoll watching 5 (read|ET), 7 (read write)`: the registering process's fd numbers.
fn epoll(info: &str) -> String {
    let targets: Vec<String> = info
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            if w.next()? != "tfd:" {
                return None;
            }
            let fd = w.next()?;
            if w.next()? != "events:" {
                return None;
            }
            let mask = u32::from_str_radix(w.next()?, 16).ok()?;
            let (want, flags) = crate::backend::epoll_registration(mask);
            let mut words: Vec<&str> = want.names().collect();
            words.extend(flags);
            Some(format!("{fd} ({})", words.join("|")))
        })
        .collect();
    if targets.is_empty() {
        "epoll watching nothing".into()
    } else {
        format!("epoll watching {}", targets.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_tables() {
        assert_eq!(
            epoll("pos:\t0\ntfd:        5 events: 80000019 data: 5  pos:0 ino:1 sdev:f\n"),
            "epoll watching 5 (read|ET)"
        );
        assert_eq!(
            signalfd(Some("0000000000004200")),
            "signalfd USR1,TERM (ready by fdwatch's own pending signals)"
        );
        assert_eq!(
            watches(
                "inotify",
                "inotify wd:1 ino:3c4a7 sdev:fe00000 mask:100\n",
                "inotify wd:"
            ),
            "inotify 1 watch (ino 3c4a7 dev fe00000)"
        );
        assert_eq!(
            memfd("/memfd:thing (deleted)").as_deref(),
            Some("memfd thing")
        );
        let f = |k: &str| match k {
            "clockid" => Some("1"),
            "it_value" => Some("(4, 500000000)"),
            "it_interval" => Some("(1, 0)"),
            _ => None,
        };
        assert_eq!(
            timerfd(&f),
            "timerfd CLOCK_MONOTONIC, interval 1s, next in 4.5s"
        );
    }
}
