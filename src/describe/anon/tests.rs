//! fdinfo as this kernel writes it (6.18, captured from real fds) against what the
//! descriptions say: every count in decimal, masks as names.

use super::*;

/// The description of an fd of kind `name` whose fdinfo is `info`.
fn of(name: &str, info: &str) -> String {
    from_fdinfo(name, info).map(|(_, d)| d).unwrap_or_default()
}

const HEAD: &str = "pos:\t0\nflags:\t02\nmnt_id:\t17\nino:\t1038\n";

#[test]
fn eventfd_count_is_hex_in_fdinfo_decimal_here() {
    let table: &[(&str, &str)] = &[
        (
            "eventfd-count:            11f2f\neventfd-id: 1\neventfd-semaphore: 0\n",
            "eventfd count 73519",
        ),
        ("eventfd-count:                0\n", "eventfd count 0"),
        (
            "eventfd-count:                a\neventfd-semaphore: 1\n",
            "eventfd count 10, semaphore",
        ),
        (
            "eventfd-count: fffffffffffffffe\n",
            "eventfd count 18446744073709551614",
        ),
        ("", "eventfd count ?"),
    ];
    for (info, want) in table {
        assert_eq!(of("eventfd", &format!("{HEAD}{info}")), *want, "{info:?}");
    }
}

#[test]
fn timerfd_seconds_and_nanoseconds() {
    let table: &[(&str, &str)] = &[
        (
            "clockid: 1\nticks: 0\nsettime flags: 00\nit_value: (2, 999987381)\nit_interval: (1, 500000000)\n",
            "timerfd CLOCK_MONOTONIC, interval 1.5s, next in 2.999987s",
        ),
        (
            "clockid: 0\nticks: 12\nsettime flags: 01\nit_value: (0, 0)\nit_interval: (0, 250000000)\n",
            "timerfd CLOCK_REALTIME, interval 0.25s, expired (12 expiries unread)",
        ),
        (
            "clockid: 7\nticks: 0\nsettime flags: 00\nit_value: (0, 0)\nit_interval: (0, 0)\n",
            "timerfd CLOCK_BOOTTIME, disarmed",
        ),
        (
            "clockid: 1\nticks: 1\nsettime flags: 00\nit_value: (0, 0)\nit_interval: (0, 0)\n",
            "timerfd CLOCK_MONOTONIC, once, expired (1 expiry unread)",
        ),
        (
            "clockid: 1\nticks: 0\nit_value: (4, 500000000)\nit_interval: (1, 0)\n",
            "timerfd CLOCK_MONOTONIC, interval 1s, next in 4.5s",
        ),
    ];
    for (info, want) in table {
        assert_eq!(of("timerfd", &format!("{HEAD}{info}")), *want, "{info:?}");
    }
}

#[test]
fn signalfd_mask_is_a_hex_bit_set() {
    let rtmin3 = crate::signals::name(libc_rtmin() + 3);
    assert_eq!(rtmin3, "RTMIN+3");
    // USR2 (12) is bit 11; glibc's RTMIN+3 (37) is bit 36.
    let bits = (1u64 << 11) | (1u64 << (libc_rtmin() + 3 - 1));
    let table: Vec<(String, String)> = vec![
        (
            "sigmask:\t0000000000004200\n".into(),
            "signalfd USR1,TERM (ready by fdwatch's own pending signals)".into(),
        ),
        (
            format!("sigmask:\t{bits:016x}\n"),
            "signalfd USR2,RTMIN+3 (ready by fdwatch's own pending signals)".into(),
        ),
        (
            "sigmask:\t0000000000000000\n".into(),
            "signalfd (none) (ready by fdwatch's own pending signals)".into(),
        ),
    ];
    for (info, want) in &table {
        assert_eq!(of("signalfd", &format!("{HEAD}{info}")), *want, "{info:?}");
    }
}

fn libc_rtmin() -> i32 {
    nix::libc::SIGRTMIN()
}

#[test]
fn inotify_watches_in_decimal_with_event_names() {
    let two = "inotify wd:2 ino:2 sdev:fe00000 mask:2 ignored_mask:0 fhandle-bytes:8 \
               fhandle-type:1 f_handle:0200000000000000\n\
               inotify wd:1 ino:3c4a7 sdev:fe00000 mask:380 ignored_mask:0 fhandle-bytes:8 \
               fhandle-type:1 f_handle:a7c4030000000000\n";
    assert_eq!(
        of("inotify", &format!("{HEAD}{two}")),
        "inotify 2 watches (ino 2 dev 254:0 for IN_MODIFY, \
         ino 246951 dev 254:0 for IN_MOVED_TO|IN_CREATE|IN_DELETE)"
    );
    // A device with a minor number, a flag bit and a bit no name covers.
    assert_eq!(
        of(
            "inotify",
            "inotify wd:1 ino:10 sdev:800003 mask:80000100 ignored_mask:0\n"
        ),
        "inotify 1 watch (ino 16 dev 8:3 for IN_CREATE|IN_ONESHOT)"
    );
    assert_eq!(
        of(
            "inotify",
            "inotify wd:1 ino:1 sdev:0 mask:1001 ignored_mask:0\n"
        ),
        "inotify 1 watch (ino 1 dev 0:0 for IN_ACCESS|0x1000)"
    );
    assert_eq!(of("inotify", HEAD), "inotify 0 watches");
}

#[test]
fn fanotify_marks_of_every_kind() {
    let info = "fanotify flags:2 event-flags:8000\n\
                fanotify ino:3c4a7 sdev:fe00000 mflags:0 mask:48000002 ignored_mask:0 \
                fhandle-bytes:8 fhandle-type:1 f_handle:a7c4030000000000\n\
                fanotify sdev:fe00000 mflags:0 mask:2 ignored_mask:0\n\
                fanotify mnt_id:1b mflags:0 mask:28 ignored_mask:20\n";
    assert_eq!(
        of("fanotify", &format!("{HEAD}{info}")),
        "fanotify 3 marks (ino 246951 dev 254:0 for FAN_MODIFY|FAN_EVENT_ON_CHILD|FAN_ONDIR, \
         filesystem 254:0 for FAN_MODIFY, mount 27 for FAN_CLOSE_WRITE|FAN_OPEN ignoring FAN_OPEN)"
    );
    assert_eq!(
        of("fanotify", "fanotify flags:0 event-flags:8000\n"),
        "fanotify 0 marks"
    );
}

#[test]
fn epoll_targets_decimal_fds_and_hex_masks() {
    assert_eq!(
        of(
            "eventpoll",
            "pos:\t0\ntfd:        5 events: 80000019 data: 5  pos:0 ino:1 sdev:f\n\
             tfd:       12 events:        5 data:             1234  pos:0 ino:40e sdev:10\n"
        ),
        "epoll watching 5 (read|ET), 12 (read|write)"
    );
    assert_eq!(of("eventpoll", HEAD), "epoll watching nothing");
}

#[test]
fn epoll_target_lines_and_masks() {
    assert_eq!(
        epoll_target("tfd:        7 events: 80000019 data:                7  pos:0 ino:1 sdev:f"),
        Some((7, 0x8000_0019))
    );
    assert_eq!(epoll_target("pos:\t0"), None);
    let (want, flags) = epoll_registration(0x8000_0019);
    assert_eq!((want, flags), (Interest::READ, vec!["ET"]));
    let (want, flags) = epoll_registration((libc::EPOLLOUT | libc::EPOLLONESHOT) as u32);
    assert_eq!((want, flags), (Interest::WRITE, vec!["ONESHOT"]));
}

#[test]
fn pidfd_pid_alive_ended_or_hidden() {
    let table: &[(&str, &str)] = &[
        ("Pid:\t24195\nNSpid:\t24195\n", "pidfd pid 24195"),
        (
            "Pid:\t-1\nNSpid:\t-1\n",
            "pidfd of a process that has ended",
        ),
        ("Pid:\t0\n", "pidfd of a process outside this pid namespace"),
    ];
    for (info, want) in table {
        assert_eq!(of("pidfd", &format!("{HEAD}{info}")), *want, "{info:?}");
    }
}

#[test]
fn io_uring_counts() {
    let info = "SqMask:\t0x7\nSqHead:\t0\nSqTail:\t0\nCachedSqHead:\t0\nCqMask:\t0xf\n\
                CqHead:\t0\nCqTail:\t2\nCachedCqTail:\t2\nSQEs:\t0\nCQEs:\t2\nSqThread:\t-1\n";
    assert_eq!(
        of("io_uring", &format!("{HEAD}{info}")),
        "io_uring 2 completions unread, 0 submissions pending"
    );
    assert_eq!(
        of("io_uring", "SQEs:\t1\nCQEs:\t1\n"),
        "io_uring 1 completion unread, 1 submission pending"
    );
    assert_eq!(of("io_uring", HEAD), "io_uring");
}

#[test]
fn memfd_by_name() {
    assert_eq!(
        memfd("/memfd:thing (deleted)").as_deref(),
        Some("memfd thing")
    );
    assert_eq!(memfd("/tmp/x"), None);
}
