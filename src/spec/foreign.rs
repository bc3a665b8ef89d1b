//! Other tools' address types (socat's `TCP-LISTEN:`, `UDP:`, `EXEC:`, URLs...),
//! refused by name instead of being opened as a file that does not exist. Pure: a
//! table matched case-insensitively on the word before the first colon. A word not in
//! it stays a path (`a:b`), and `./` forces a path for a file really named so.

/// fdwatch's own types, for the message.
const OURS: &str = "tcp:, tcp-listen:, unix:, unix-listen:, pid:";

/// What fdwatch offers instead of a family of foreign types.
const TCP: &str = "tcp:HOST:PORT connects";
const TCP_LISTEN: &str = "tcp-listen:[HOST:]PORT listens";
const UNIX: &str = "unix:PATH connects";
const UNIX_LISTEN: &str = "unix-listen:PATH listens";
const STREAMS_ONLY: &str =
    "only TCP and UNIX stream sockets are opened; watch any other as an inherited fd (N)";
const ABSTRACT: &str =
    "UNIX sockets are opened by path; watch an abstract one as an inherited fd (N)";
const PROGRAM: &str = "no program is run; watch the pipe to one (CMD | fdwatch - 0r)";
const FILE: &str = "write the path itself";
const FD: &str = "write the fd number itself (3r)";
const PROC_FD: &str = "watch an fd by number (N, pid:PID:FD, /proc/PID/fd/N), a FIFO by path";
const OTHER: &str = "no such type here";

/// (the type in lowercase, whose, what to write instead).
const TABLE: &[(&str, &str, &str)] = &[
    ("tcp4", "socat's", TCP),
    ("tcp6", "socat's", TCP),
    ("tcp-connect", "socat's", TCP),
    ("tcp4-connect", "socat's", TCP),
    ("tcp6-connect", "socat's", TCP),
    ("tcp-l", "socat's", TCP_LISTEN),
    ("tcp4-l", "socat's", TCP_LISTEN),
    ("tcp6-l", "socat's", TCP_LISTEN),
    ("tcp4-listen", "socat's", TCP_LISTEN),
    ("tcp6-listen", "socat's", TCP_LISTEN),
    ("unix-connect", "socat's", UNIX),
    ("unix-client", "socat's", UNIX),
    ("local", "socat's", UNIX),
    ("unix-l", "socat's", UNIX_LISTEN),
    ("abstract", "socat's", ABSTRACT),
    ("abstract-connect", "socat's", ABSTRACT),
    ("abstract-client", "socat's", ABSTRACT),
    ("abstract-listen", "socat's", ABSTRACT),
    ("udp", "socat's", STREAMS_ONLY),
    ("udp4", "socat's", STREAMS_ONLY),
    ("udp6", "socat's", STREAMS_ONLY),
    ("udp-connect", "socat's", STREAMS_ONLY),
    ("udp-listen", "socat's", STREAMS_ONLY),
    ("udp4-listen", "socat's", STREAMS_ONLY),
    ("udp6-listen", "socat's", STREAMS_ONLY),
    ("udp-sendto", "socat's", STREAMS_ONLY),
    ("udp-recv", "socat's", STREAMS_ONLY),
    ("udp-recvfrom", "socat's", STREAMS_ONLY),
    ("udp-datagram", "socat's", STREAMS_ONLY),
    ("sctp", "socat's", STREAMS_ONLY),
    ("sctp-connect", "socat's", STREAMS_ONLY),
    ("sctp-listen", "socat's", STREAMS_ONLY),
    ("dccp", "socat's", STREAMS_ONLY),
    ("dccp-connect", "socat's", STREAMS_ONLY),
    ("dccp-listen", "socat's", STREAMS_ONLY),
    ("ip", "socat's", STREAMS_ONLY),
    ("ip4", "socat's", STREAMS_ONLY),
    ("ip6", "socat's", STREAMS_ONLY),
    ("ip-sendto", "socat's", STREAMS_ONLY),
    ("ip-recv", "socat's", STREAMS_ONLY),
    ("unix-sendto", "socat's", STREAMS_ONLY),
    ("unix-recv", "socat's", STREAMS_ONLY),
    ("unix-recvfrom", "socat's", STREAMS_ONLY),
    ("unix-datagram", "socat's", STREAMS_ONLY),
    ("vsock", "socat's", STREAMS_ONLY),
    ("vsock-connect", "socat's", STREAMS_ONLY),
    ("vsock-listen", "socat's", STREAMS_ONLY),
    ("socket-connect", "socat's", STREAMS_ONLY),
    ("socket-listen", "socat's", STREAMS_ONLY),
    ("tun", "socat's", STREAMS_ONLY),
    ("exec", "socat's", PROGRAM),
    ("system", "socat's", PROGRAM),
    ("shell", "socat's", PROGRAM),
    ("open", "socat's", FILE),
    ("gopen", "socat's", FILE),
    ("create", "socat's", FILE),
    ("creat", "socat's", FILE),
    ("file", "socat's, a URL's", FILE),
    ("pipe", "socat's, /proc's pipe:[INO]", PROC_FD),
    ("socket", "/proc's socket:[INO]", PROC_FD),
    ("anon_inode", "/proc's anon_inode:[KIND]", PROC_FD),
    ("fd", "socat's", FD),
    ("fdin", "socat's", FD),
    ("fdout", "socat's", FD),
    ("pty", "socat's", OTHER),
    ("readline", "socat's", OTHER),
    ("openssl", "socat's", OTHER),
    ("openssl-connect", "socat's", OTHER),
    ("openssl-listen", "socat's", OTHER),
    ("ssl", "socat's", OTHER),
    ("socks", "socat's", OTHER),
    ("socks4", "socat's", OTHER),
    ("socks4a", "socat's", OTHER),
    ("socks5", "socat's", OTHER),
    ("proxy", "socat's", OTHER),
    ("proxy-connect", "socat's", OTHER),
    ("http", "a URL's", OTHER),
    ("https", "a URL's", OTHER),
    ("ws", "a URL's", OTHER),
    ("wss", "a URL's", OTHER),
    ("ftp", "a URL's", OTHER),
];

/// Why `arg` is refused, when it starts with an address type that is not fdwatch's:
/// one of `TABLE`, or one of fdwatch's own in other letters (`TCP:`). None: a path, or
/// a spec of fdwatch's own.
pub fn refused(arg: &[u8]) -> Option<String> {
    let colon = arg.iter().position(|&b| b == b':')?;
    let word = std::str::from_utf8(&arg[..colon]).ok()?;
    let lower = word.to_ascii_lowercase();
    let rest = String::from_utf8_lossy(&arg[colon..]);
    if ["tcp", "tcp-listen", "unix", "unix-listen", "pid"].contains(&lower.as_str()) {
        // The exact lowercase forms never get here: they are parsed as such.
        return Some(format!(
            "address types are lowercase: {lower}{rest}; ./{word}{rest} for a path"
        ));
    }
    let (_, whose, instead) = TABLE.iter().find(|(t, _, _)| *t == lower)?;
    Some(format!(
        "unknown address type '{word}:' ({whose}; fdwatch's: {OURS}): {instead}; \
         ./{word}{rest} for a path"
    ))
}
