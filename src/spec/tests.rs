//! Table tests of the SPEC grammar: accepted forms, refusals naming the argument,
//! Display round trips, merging.

use super::*;

fn p(s: &str) -> Result<Spec, SpecError> {
    parse(OsStr::new(s))
}

fn i(r: bool, w: bool, e: bool) -> Interest {
    Interest {
        read: r,
        write: w,
        urgent: e,
    }
}

#[test]
fn good_specs() {
    let table: &[(&str, Target, Interest)] = &[
        ("0", Target::Fd(0), i(true, false, false)),
        ("0r", Target::Fd(0), i(true, false, false)),
        ("1w", Target::Fd(1), i(false, true, false)),
        ("0rw", Target::Fd(0), i(true, true, false)),
        ("3re", Target::Fd(3), i(true, false, true)),
        ("3ewr", Target::Fd(3), i(true, true, true)),
        ("3rr", Target::Fd(3), i(true, false, false)),
        ("-", Target::Fd(0), i(true, false, false)),
        ("3-5", Target::FdRange(3, 5), i(true, false, false)),
        ("3-3w", Target::FdRange(3, 3), i(false, true, false)),
        ("0-1023rw", Target::FdRange(0, 1023), i(true, true, false)),
        (
            "/tmp/f",
            Target::Path("/tmp/f".into()),
            i(true, false, false),
        ),
        (
            "/tmp/f:w",
            Target::Path("/tmp/f".into()),
            i(false, true, false),
        ),
        (
            "/tmp/f:rwe",
            Target::Path("/tmp/f".into()),
            i(true, true, true),
        ),
        ("./0r", Target::Path("./0r".into()), i(true, false, false)),
        ("a:b", Target::Path("a:b".into()), i(true, false, false)),
        ("a:rx", Target::Path("a:rx".into()), i(true, false, false)),
        ("a:r:w", Target::Path("a:r".into()), i(false, true, false)),
        ("a:", Target::Path("a:".into()), i(true, false, false)),
        (
            "/dev/pts/3:rw",
            Target::Path("/dev/pts/3".into()),
            i(true, true, false),
        ),
    ];
    for (s, target, interest) in table {
        let got = p(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(&got.target, target, "{s}");
        assert_eq!(&got.interest, interest, "{s}");
    }
}

#[test]
fn bad_specs_name_the_argument() {
    let table: &[(&str, &str)] = &[
        ("", "empty spec"),
        ("0q", "unknown event letter 'q' (expected r, w, e)"),
        ("3rwx", "unknown event letter 'x'"),
        ("3-1r", "range 3-1 ends before it starts"),
        ("3-r", "needs an end fd"),
        ("3-", "needs an end fd"),
        ("-1r", "negative"),
        ("99999999999r", "too large"),
        ("3-99999999999", "too large"),
        (":r", "empty path"),
        ("tcp:127.0.0.1", "not a number"),
        ("tcp:8888", "HOST:PORT"),
        ("tcp:[::1:80", "not valid"),
        ("tcp::1:80", "not valid"),
        ("tcp:[]]:0", "not valid"),
        ("tcp:[[]:0", "not valid"),
        ("tcp:h:99999", "not a number"),
        ("tcp-listen:", "missing address"),
        ("tcp:h:80/rx", "not a number"),
        ("unix:", "missing address"),
        ("pid:", "missing process id"),
        ("pid:0", "not valid"),
        ("pid:x", "missing process id"),
        ("pid:99999999999", "not valid"),
        ("pid:12:", "pid:PID:FD"),
        ("pid:12x", "pid:PID:FD"),
        ("pid:12:3q", "unknown event letter 'q'"),
        ("pid:12:*q", "unknown event letter 'q'"),
        ("pid:12:5-3", "ends before it starts"),
        ("0é", "unknown event letter 'é'"),
    ];
    for (s, want) in table {
        let e = p(s).expect_err(s);
        assert_eq!(e.arg, *s);
        let line = e.to_string();
        assert!(line.starts_with(&format!("spec '{s}': ")), "{line}");
        assert!(line.contains(want), "{s}: {line}");
        assert!(!line.contains('\n'));
    }
}

#[test]
fn socket_specs() {
    let re = Interest::SOCKET;
    let tcp = |host: &str, port| SocketSpec::Tcp {
        host: host.into(),
        port,
    };
    let listen = |host: Option<&str>, port| SocketSpec::TcpListen {
        host: host.map(Into::into),
        port,
    };
    let table: &[(&str, SocketSpec, Interest)] = &[
        ("tcp:127.0.0.1:8888", tcp("127.0.0.1", 8888), re),
        ("tcp:[::1]:8888/r", tcp("::1", 8888), i(true, false, false)),
        (
            "tcp:localhost:80/rwe",
            tcp("localhost", 80),
            i(true, true, true),
        ),
        ("tcp-listen:8888", listen(None, 8888), re),
        (
            "tcp-listen:127.0.0.1:0/re",
            listen(Some("127.0.0.1"), 0),
            re,
        ),
        ("unix:/tmp/s", SocketSpec::Unix("/tmp/s".into()), re),
        (
            "unix:/tmp/s/w",
            SocketSpec::Unix("/tmp/s".into()),
            i(false, true, false),
        ),
        (
            "unix-listen:/tmp/x.sock",
            SocketSpec::UnixListen("/tmp/x.sock".into()),
            re,
        ),
    ];
    for (s, sock, interest) in table {
        let got = p(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(got.target, Target::Socket(sock.clone()), "{s}");
        assert_eq!(&got.interest, interest, "{s}");
        assert_eq!(p(&got.to_string()).as_ref(), Ok(&got), "{s} round trip");
    }
}

#[test]
fn non_utf8_path_is_kept_byte_exact() {
    let raw = OsStr::from_bytes(b"/tmp/\xff\xfe:w");
    let s = parse(raw).expect("non-UTF-8 paths are paths");
    assert_eq!(
        s.target,
        Target::Path(PathBuf::from(OsStr::from_bytes(b"/tmp/\xff\xfe")))
    );
    assert_eq!(s.interest, i(false, true, false));
}

#[test]
fn display_round_trips() {
    for s in [
        "0r",
        "3-5we",
        "/tmp/f:rw",
        "./0r:r",
        "a:r:w",
        "pid:12",
        "pid:12:3w",
        "pid:12:3-9re",
        "pid:12:*",
        "./pid:1",
        "-r",
        "--:w",
        "-:w",
        "./-1:r",
    ] {
        let spec = p(s).expect(s);
        let again = p(&spec.to_string()).expect("display parses");
        assert_eq!(spec, again, "{s} -> {spec}");
    }
}

#[test]
fn pid_specs() {
    let pid = |fds| Target::Pid { pid: 4321, fds };
    let table: &[(&str, Target, Interest)] = &[
        ("pid:4321", pid(PidFds::Explain), Interest::READ),
        ("pid:4321:5", pid(PidFds::One(5)), Interest::READ),
        ("pid:4321:0w", pid(PidFds::One(0)), i(false, true, false)),
        (
            "pid:4321:3-7re",
            pid(PidFds::Range(3, 7)),
            i(true, false, true),
        ),
        ("pid:4321:*", pid(PidFds::All), Interest::READ),
        ("pid:4321:*rw", pid(PidFds::All), i(true, true, false)),
    ];
    for (s, target, interest) in table {
        let got = p(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!((&got.target, &got.interest), (target, interest), "{s}");
    }
}

#[test]
fn duplicates_merge() {
    let specs: Vec<Typed> = ["0r", "1w", "0w", "0e", "/x:r", "/x:w"]
        .iter()
        .map(|s| Typed::parse(OsStr::new(s)).expect(s))
        .collect();
    let m = merge(&specs);
    assert_eq!(m.len(), 3);
    assert_eq!(m[0].arg, "0r");
    assert_eq!(m[0].target, Target::Fd(0));
    assert_eq!(m[0].interest, i(true, true, true));
    assert_eq!(m[1].interest, i(false, true, false));
    assert_eq!(m[2].interest, i(true, true, false));
}

/// Other tools' address types and the words of their refusals.
const FOREIGN: &[(&str, &str)] = &[
    (
        "TCP-LISTEN:8000",
        "address types are lowercase: tcp-listen:8000",
    ),
    (
        "TCP:127.0.0.1:80",
        "address types are lowercase: tcp:127.0.0.1:80",
    ),
    ("Unix:/tmp/s", "lowercase: unix:/tmp/s"),
    ("PID:12", "lowercase: pid:12"),
    (
        "TCP4-LISTEN:80",
        "unknown address type 'TCP4-LISTEN:' (socat's",
    ),
    ("tcp6:[::1]:80", "tcp:HOST:PORT connects"),
    ("udp:127.0.0.1:53", "unknown address type 'udp:'"),
    ("UDP4:127.0.0.1:53", "only TCP and UNIX stream sockets"),
    ("udp-listen:53", "unknown address type 'udp-listen:'"),
    ("sctp:127.0.0.1:9", "unknown address type 'sctp:'"),
    ("exec:/bin/cat", "no program is run"),
    ("SYSTEM:ls", "no program is run"),
    ("open:/tmp/f", "write the path itself"),
    ("file:///tmp/f", "a URL's"),
    ("abstract:name", "opened by path"),
    ("ABSTRACT-LISTEN:name", "opened by path"),
    ("vsock:2:80", "unknown address type 'vsock:'"),
    ("unix-connect:/tmp/s", "unix:PATH connects"),
    ("unix-l:/tmp/s", "unix-listen:PATH listens"),
    ("fd:3", "write the fd number itself"),
    ("pipe:[12345]", "pid:PID:FD"),
    ("socket:[12345]", "/proc's socket:[INO]"),
    ("https://example.com/", "no such type here"),
];

/// Other tools' address types are refused by name (they used to be opened as files
/// that do not exist, ENOENT), in any case; fdwatch's own in other letters are told to
/// be lowercase; a word not in the table, and anything after `./`, stays a path.
#[test]
fn foreign_address_types_are_refused_by_name() {
    for (s, want) in FOREIGN {
        let e = p(s).expect_err(s);
        let line = e.to_string();
        assert!(line.starts_with(&format!("spec '{s}': ")), "{line}");
        assert!(line.contains(want), "{s}: {line}");
        assert!(line.contains(&format!("./{s} for a path")), "{s}: {line}");
        assert!(!line.contains('\n'));
    }
    // Paths with a colon: a word not in the table, or the type after ./
    for (s, path) in [
        ("a:b", "a:b"),
        ("notatype:x", "notatype:x"),
        ("C:foo", "C:foo"),
        ("./udp:x", "./udp:x"),
        ("./TCP-LISTEN:80", "./TCP-LISTEN:80"),
        ("/tmp/exec:x", "/tmp/exec:x"),
        ("udp", "udp"),
    ] {
        let got = p(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(got.target, Target::Path(path.into()), "{s}");
    }
    // A path that would read as a foreign type prints with ./, so it parses (as a path).
    let spec = Spec {
        target: Target::Path("exec:x".into()),
        interest: Interest::READ,
    };
    assert_eq!(spec.to_string(), "./exec:x:r");
    assert!(p(&spec.to_string()).is_ok());
}
