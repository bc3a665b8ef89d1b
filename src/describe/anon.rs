//! The kinds of fd that are no file, FIFO or socket, from /proc/self/fdinfo: eventfd
//! (its counter), timerfd (clock, interval, time to expiry), signalfd (its signal
//! set), inotify and fanotify (their watches and marks), epoll (each target with its
//! mask), pidfd (the pid), io_uring (its queues), userfaultfd, and memfd (its name).
//! For another process's fd the duplicate shares its open file description, so the
//! same facts hold for it.
//!
//! fdinfo mixes bases (fs/eventfd.c, fs/timerfd.c, fs/signalfd.c, fs/notify/fdinfo.c,
//! fs/eventpoll.c, kernel/pid.c, io_uring/fdinfo.c): `eventfd-count` is hex, inotify's
//! and fanotify's `ino`, `sdev`, `mnt_id` and masks are hex, `sigmask` is a hex bit
//! set, epoll's `tfd` is decimal and its `events` hex, timerfd's numbers, `Pid` and
//! io_uring's counts are decimal. Descriptions show counts and numbers in decimal
//! (inode numbers as `ls -i`, devices as MAJOR:MINOR, mount ids as in mountinfo) and
//! masks as names; a bit without a name stays hex, marked `0x`.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::libc;

use super::Kind;
use crate::readiness::Interest;

/// `anon_inode:[eventfd]`, `anon_inode:inotify`: the kind and its description.
pub(super) fn describe(fd: BorrowedFd<'_>, link: &str) -> Option<(Kind, String)> {
    let name = link
        .strip_prefix("anon_inode:")?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .unwrap_or_default();
    from_fdinfo(name, &info)
}

/// The kind and description of an anonymous-inode fd named `name`, from its fdinfo.
fn from_fdinfo(name: &str, info: &str) -> Option<(Kind, String)> {
    let field = |key: &str| -> Option<&str> {
        info.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
    };
    Some(match name {
        "eventfd" => (Kind::EventFd, eventfd(&field)),
        "timerfd" => (Kind::TimerFd, timerfd(&field)),
        "signalfd" => (Kind::SignalFd, signalfd(field("sigmask"))),
        "inotify" => (Kind::Inotify, inotify(info)),
        "fanotify" => (Kind::Fanotify, fanotify(info)),
        "eventpoll" => (Kind::Epoll, epoll(info)),
        "pidfd" => (Kind::PidFd, pidfd(field("Pid"))),
        "io_uring" => (Kind::IoUring, io_uring(&field)),
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

/// `eventfd count 73519` (`, semaphore` with EFD_SEMAPHORE): fdinfo's
/// `eventfd-count` is the counter in hex (`%16llx`), shown here in decimal.
fn eventfd<'a>(field: &dyn Fn(&str) -> Option<&'a str>) -> String {
    let count = field("eventfd-count")
        .and_then(|c| u64::from_str_radix(c, 16).ok())
        .map_or_else(|| "?".to_owned(), |n| n.to_string());
    let semaphore = if field("eventfd-semaphore") == Some("1") {
        ", semaphore"
    } else {
        ""
    };
    format!("eventfd count {count}{semaphore}")
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
/// owner's. `sigmask` is the set as one hex number, bit N-1 for signal N.
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

/// inotify's event and flag bits (<linux/inotify.h>).
const INOTIFY_BITS: &[(u64, &str)] = &[
    (0x1, "IN_ACCESS"),
    (0x2, "IN_MODIFY"),
    (0x4, "IN_ATTRIB"),
    (0x8, "IN_CLOSE_WRITE"),
    (0x10, "IN_CLOSE_NOWRITE"),
    (0x20, "IN_OPEN"),
    (0x40, "IN_MOVED_FROM"),
    (0x80, "IN_MOVED_TO"),
    (0x100, "IN_CREATE"),
    (0x200, "IN_DELETE"),
    (0x400, "IN_DELETE_SELF"),
    (0x800, "IN_MOVE_SELF"),
    (0x2000, "IN_UNMOUNT"),
    (0x4000, "IN_Q_OVERFLOW"),
    (0x8000, "IN_IGNORED"),
    (0x0100_0000, "IN_ONLYDIR"),
    (0x0200_0000, "IN_DONT_FOLLOW"),
    (0x0400_0000, "IN_EXCL_UNLINK"),
    (0x1000_0000, "IN_MASK_CREATE"),
    (0x2000_0000, "IN_MASK_ADD"),
    (0x4000_0000, "IN_ISDIR"),
    (0x8000_0000, "IN_ONESHOT"),
];

/// fanotify's event and flag bits (<linux/fanotify.h>).
const FANOTIFY_BITS: &[(u64, &str)] = &[
    (0x1, "FAN_ACCESS"),
    (0x2, "FAN_MODIFY"),
    (0x4, "FAN_ATTRIB"),
    (0x8, "FAN_CLOSE_WRITE"),
    (0x10, "FAN_CLOSE_NOWRITE"),
    (0x20, "FAN_OPEN"),
    (0x40, "FAN_MOVED_FROM"),
    (0x80, "FAN_MOVED_TO"),
    (0x100, "FAN_CREATE"),
    (0x200, "FAN_DELETE"),
    (0x400, "FAN_DELETE_SELF"),
    (0x800, "FAN_MOVE_SELF"),
    (0x1000, "FAN_OPEN_EXEC"),
    (0x4000, "FAN_Q_OVERFLOW"),
    (0x8000, "FAN_FS_ERROR"),
    (0x10000, "FAN_OPEN_PERM"),
    (0x20000, "FAN_ACCESS_PERM"),
    (0x40000, "FAN_OPEN_EXEC_PERM"),
    (0x0010_0000, "FAN_PRE_ACCESS"),
    (0x0100_0000, "FAN_MNT_ATTACH"),
    (0x0200_0000, "FAN_MNT_DETACH"),
    (0x0800_0000, "FAN_EVENT_ON_CHILD"),
    (0x1000_0000, "FAN_RENAME"),
    (0x4000_0000, "FAN_ONDIR"),
];

/// A mask as its names joined with `|`; bits without a name as one `0x` number.
fn mask_names(mask: u64, table: &[(u64, &str)]) -> String {
    let mut words: Vec<String> = table
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| (*name).to_owned())
        .collect();
    let known = table.iter().fold(0, |acc, (bit, _)| acc | bit);
    if mask & !known != 0 {
        words.push(format!("{:#x}", mask & !known));
    }
    if words.is_empty() {
        "0".into()
    } else {
        words.join("|")
    }
}

/// The `key:HEX` fields of one fdinfo mark line.
fn hex_field(line: &str, key: &str) -> Option<u64> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| u64::from_str_radix(v, 16).ok())
}

/// A kernel `s_dev` (MAJOR << 20 | MINOR, in hex in fdinfo) as `MAJOR:MINOR`, the way
/// /proc/self/mountinfo writes it.
fn device(line: &str) -> String {
    hex_field(line, "sdev").map_or_else(
        || "?".to_owned(),
        |d| format!("{}:{}", d >> 20, d & 0xf_ffff),
    )
}

/// `ino 246951 dev 254:0`: an inode mark's object.
fn inode(line: &str) -> String {
    let ino = hex_field(line, "ino").map_or_else(|| "?".to_owned(), |n| n.to_string());
    format!("ino {ino} dev {}", device(line))
}

/// `inotify 2 watches (ino 246951 dev 254:0 for IN_CREATE, ...)`.
fn inotify(info: &str) -> String {
    let watches: Vec<String> = info
        .lines()
        .filter(|l| l.starts_with("inotify wd:"))
        .map(|l| {
            let mask = hex_field(l, "mask").unwrap_or(0);
            format!("{} for {}", inode(l), mask_names(mask, INOTIFY_BITS))
        })
        .collect();
    counted("inotify", "watch", "watches", &watches)
}

/// `fanotify 2 marks (mount 27 for FAN_OPEN, filesystem 254:0 for FAN_MODIFY)`: inode,
/// mount and filesystem marks, each with its mask (and what it ignores).
fn fanotify(info: &str) -> String {
    let marks: Vec<String> = info
        .lines()
        .filter_map(|l| l.strip_prefix("fanotify "))
        .filter(|l| !l.starts_with("flags:"))
        .map(|l| {
            let object = if l.starts_with("ino:") {
                inode(l)
            } else if l.starts_with("mnt_id:") {
                format!(
                    "mount {}",
                    hex_field(l, "mnt_id").map_or_else(|| "?".to_owned(), |n| n.to_string())
                )
            } else if l.starts_with("sdev:") {
                format!("filesystem {}", device(l))
            } else {
                l.split_whitespace().next().unwrap_or("?").to_owned()
            };
            let mask = mask_names(hex_field(l, "mask").unwrap_or(0), FANOTIFY_BITS);
            match hex_field(l, "ignored_mask").filter(|&m| m != 0) {
                Some(ign) => format!(
                    "{object} for {mask} ignoring {}",
                    mask_names(ign, FANOTIFY_BITS)
                ),
                None => format!("{object} for {mask}"),
            }
        })
        .collect();
    counted("fanotify", "mark", "marks", &marks)
}

/// `KIND N THINGS (a, b)`, `KIND 1 THING (a)` or `KIND 0 THINGS`.
fn counted(kind: &str, one: &str, many: &str, items: &[String]) -> String {
    match items.len() {
        0 => format!("{kind} 0 {many}"),
        1 => format!("{kind} 1 {one} ({})", items[0]),
        n => format!("{kind} {n} {many} ({})", items.join(", ")),
    }
}

/// `epoll watching 5 (read|ET), 7 (read|write)`: the registering process's fd numbers.
fn epoll(info: &str) -> String {
    let targets: Vec<String> = info
        .lines()
        .filter_map(epoll_target)
        .map(|(fd, mask)| {
            let (want, flags) = epoll_registration(mask);
            let mut words: Vec<&str> = want.names().collect();
            words.extend(flags);
            format!("{fd} ({})", words.join("|"))
        })
        .collect();
    if targets.is_empty() {
        "epoll watching nothing".into()
    } else {
        format!("epoll watching {}", targets.join(", "))
    }
}

/// One target of an epoll fd's fdinfo, `tfd:        5 events:       19 data: …` →
/// (5, 0x19): the fd number in the registering process, and its registration's mask.
pub fn epoll_target(line: &str) -> Option<(RawFd, u32)> {
    let rest = line.strip_prefix("tfd:")?;
    let mut it = rest.split_whitespace();
    let fd = it.next()?.parse().ok()?;
    if it.next()? != "events:" {
        return None;
    }
    let mask = u32::from_str_radix(it.next()?, 16).ok()?;
    Some((fd, mask))
}

/// An epoll registration's mask (another process's, from fdinfo): what it asks for,
/// and its mode flags by name. The epoll backend's own registrations are its business.
pub fn epoll_registration(mask: u32) -> (Interest, Vec<&'static str>) {
    let on = |bits: i32| mask & bits as u32 != 0;
    let want = Interest {
        read: on(libc::EPOLLIN | libc::EPOLLRDNORM),
        write: on(libc::EPOLLOUT | libc::EPOLLWRNORM),
        urgent: on(libc::EPOLLPRI),
    };
    let modes = [
        (libc::EPOLLET, "ET"),
        (libc::EPOLLONESHOT, "ONESHOT"),
        (libc::EPOLLEXCLUSIVE, "EXCLUSIVE"),
        (libc::EPOLLWAKEUP, "WAKEUP"),
        (libc::EPOLLRDHUP, "RDHUP"),
    ];
    let flags = modes
        .into_iter()
        .filter(|&(b, _)| on(b))
        .map(|(_, n)| n)
        .collect();
    (want, flags)
}

/// `pidfd pid 1234`. The kernel writes -1 once the process is gone (reaped) and 0
/// when it lives in a pid namespace this one cannot see.
fn pidfd(pid: Option<&str>) -> String {
    match pid {
        Some("-1") => "pidfd of a process that has ended".into(),
        Some("0") => "pidfd of a process outside this pid namespace".into(),
        Some(p) => format!("pidfd pid {p}"),
        None => "pidfd pid ?".into(),
    }
}

/// `io_uring 2 completions unread, 0 submissions pending` (decimal in fdinfo; older
/// kernels without the counts: `io_uring`).
fn io_uring<'a>(field: &dyn Fn(&str) -> Option<&'a str>) -> String {
    let count = |k: &str| field(k).and_then(|v| v.parse::<u64>().ok());
    match (count("CQEs"), count("SQEs")) {
        (Some(c), Some(s)) => {
            let plural = |n: u64, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
            format!(
                "io_uring {} unread, {} pending",
                plural(c, "completion"),
                plural(s, "submission")
            )
        }
        _ => "io_uring".into(),
    }
}

#[cfg(test)]
mod tests;
