//! The SPEC grammar (what to watch, for which events): pure parsing, no syscalls.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::io::RawFd;
use std::path::PathBuf;

/// The `rwe` letters of a SPEC (the type lives with the readiness words).
pub use crate::readiness::Interest;

/// Parses a run of event letters; `Err` carries the first bad letter.
fn letters(s: &[u8]) -> Result<Interest, char> {
    let mut i = Interest::default();
    for &b in s {
        match b {
            b'r' => i.read = true,
            b'w' => i.write = true,
            b'e' => i.urgent = true,
            other => return Err(first_char(other, s)),
        }
    }
    Ok(i)
}

/// The character that starts at byte `b` (best effort for non-ASCII input).
fn first_char(b: u8, s: &[u8]) -> char {
    let at = s.iter().position(|&x| x == b).unwrap_or(0);
    String::from_utf8_lossy(&s[at..])
        .chars()
        .next()
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// What a SPEC names.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// An fd this process inherited.
    Fd(RawFd),
    /// An inclusive range of inherited fds; fds in it that are not open are skipped.
    FdRange(RawFd, RawFd),
    /// A path to open (file, FIFO, tty, device, /proc/PID/fd/N).
    Path(PathBuf),
    /// A socket to open: connect to, or listen on, a TCP or UNIX address.
    Socket(SocketSpec),
    /// Another process's fds, duplicated with pidfd_getfd and never read.
    Pid { pid: i32, fds: PidFds },
}

/// Which of a process's fds a `pid:` spec names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PidFds {
    /// `pid:PID` alone: explain what the process is blocked on.
    Explain,
    /// `pid:PID:FD`
    One(RawFd),
    /// `pid:PID:N-M`: the ones the process has open.
    Range(RawFd, RawFd),
    /// `pid:PID:*`
    All,
}

/// `tcp:HOST:PORT`, `tcp-listen:[HOST:]PORT`, `unix:PATH`, `unix-listen:PATH`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SocketSpec {
    Tcp { host: String, port: u16 },
    TcpListen { host: Option<String>, port: u16 },
    Unix(PathBuf),
    UnixListen(PathBuf),
}

impl SocketSpec {
    pub fn is_listener(&self) -> bool {
        matches!(
            self,
            SocketSpec::TcpListen { .. } | SocketSpec::UnixListen(_)
        )
    }
}

/// `[::1]` for IPv6 literals, as they are written in a spec.
fn show_host(h: &str) -> String {
    if h.contains(':') {
        format!("[{h}]")
    } else {
        h.to_owned()
    }
}

impl fmt::Display for SocketSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketSpec::Tcp { host, port } => write!(f, "tcp:{}:{port}", show_host(host)),
            SocketSpec::TcpListen { host: None, port } => write!(f, "tcp-listen:{port}"),
            SocketSpec::TcpListen {
                host: Some(h),
                port,
            } => write!(f, "tcp-listen:{}:{port}", show_host(h)),
            SocketSpec::Unix(p) => write!(f, "unix:{}", p.display()),
            SocketSpec::UnixListen(p) => write!(f, "unix-listen:{}", p.display()),
        }
    }
}

/// One parsed SPEC argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub target: Target,
    pub interest: Interest,
}

impl fmt::Display for Spec {
    /// Prints back a form that parses to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Fd(n) => write!(f, "{n}{}", self.interest),
            Target::FdRange(a, b) => write!(f, "{a}-{b}{}", self.interest),
            Target::Socket(sock) => write!(f, "{sock}/{}", self.interest),
            Target::Pid { pid, fds } => match fds {
                PidFds::Explain => write!(f, "pid:{pid}"),
                PidFds::One(n) => write!(f, "pid:{pid}:{n}{}", self.interest),
                PidFds::Range(a, b) => write!(f, "pid:{pid}:{a}-{b}{}", self.interest),
                PidFds::All => write!(f, "pid:{pid}:*{}", self.interest),
            },
            Target::Path(_) => f.write_str(&self.to_os_string().to_string_lossy()),
        }
    }
}

impl Spec {
    /// The argument form that parses back to this value, bytes and all (Display is
    /// the same, lossy for a path that is not UTF-8).
    pub fn to_os_string(&self) -> OsString {
        let Target::Path(p) = &self.target else {
            return OsString::from(self.to_string());
        };
        let b = p.as_os_str().as_bytes();
        // A path that would read as an fd spec (`3`, `-1`) or a socket/pid spec needs
        // `./`; parse never produces one, so the round trip holds. (`-` itself is safe:
        // the `:letters` suffix always follows.)
        let ambiguous = b.first().is_some_and(u8::is_ascii_digit)
            || (b.first() == Some(&b'-') && b.get(1).is_some_and(u8::is_ascii_digit))
            || NOT_YET.iter().any(|p| b.starts_with(p.as_bytes()));
        let mut out = Vec::with_capacity(b.len() + 6);
        if ambiguous {
            out.extend_from_slice(b"./");
        }
        out.extend_from_slice(b);
        out.push(b':');
        out.extend_from_slice(self.interest.to_string().as_bytes());
        OsString::from_vec(out)
    }
}

/// A SPEC that does not parse; displays as one line naming the argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    pub arg: String,
    pub reason: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = format!("spec '{}': {}", self.arg, self.reason);
        f.write_str(&crate::escape::message(&line))
    }
}

impl std::error::Error for SpecError {}

/// Prefixes that make a spec something other than a path.
const NOT_YET: [&str; 5] = ["tcp:", "tcp-listen:", "unix:", "unix-listen:", "pid:"];

/// Parses one SPEC argument. Never panics; errors name the argument.
pub fn parse(arg: &OsStr) -> Result<Spec, SpecError> {
    let bytes = arg.as_bytes();
    let err = |reason: String| SpecError {
        arg: arg.to_string_lossy().into_owned(),
        reason,
    };
    if bytes.is_empty() {
        return Err(err(
            "empty spec (expected an fd like 0r, a range like 3-5, or a path)".into(),
        ));
    }
    if bytes == b"-" {
        return Ok(Spec {
            target: Target::Fd(0),
            interest: Interest::READ,
        });
    }
    if let Some(rest) = bytes.strip_prefix(b"pid:") {
        return parse_pid(rest).map_err(err);
    }
    if let Some(p) = NOT_YET.iter().find(|p| bytes.starts_with(p.as_bytes())) {
        return parse_socket(p, &bytes[p.len()..]).map_err(err);
    }
    if bytes[0] == b'-' && bytes.get(1).is_some_and(u8::is_ascii_digit) {
        return Err(err("fd numbers cannot be negative".into()));
    }
    if bytes[0].is_ascii_digit() {
        return parse_fd(bytes).map_err(err);
    }
    parse_path(bytes).map_err(err)
}

/// `N[rwe]` or `N-M[rwe]`.
fn parse_fd(bytes: &[u8]) -> Result<Spec, String> {
    let (first, rest) = take_number(bytes)?;
    let (target, letters) = match rest.strip_prefix(b"-") {
        Some(after) => {
            if !after.first().is_some_and(u8::is_ascii_digit) {
                return Err("a range needs an end fd, as in 3-5r".into());
            }
            let (last, letters) = take_number(after)?;
            if last < first {
                return Err(format!("range {first}-{last} ends before it starts"));
            }
            (Target::FdRange(first, last), letters)
        }
        None => (Target::Fd(first), rest),
    };
    let interest = letters_or_default(letters)?;
    Ok(Spec { target, interest })
}

/// After `pid:`: `PID`, `PID:FD[rwe]`, `PID:N-M[rwe]` or `PID:*[rwe]`.
fn parse_pid(rest: &[u8]) -> Result<Spec, String> {
    const FORMS: &str = "expected pid:PID, pid:PID:FD, pid:PID:N-M or pid:PID:*";
    let end = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    if end == 0 {
        return Err(format!("missing process id ({FORMS})"));
    }
    let digits = std::str::from_utf8(&rest[..end]).unwrap_or("");
    let pid = digits
        .parse::<i32>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("process id {digits} is not valid"))?;
    let target = |fds| Target::Pid { pid, fds };
    let after = &rest[end..];
    if after.is_empty() {
        return Ok(Spec {
            target: target(PidFds::Explain),
            interest: Interest::READ,
        });
    }
    let Some(fds) = after.strip_prefix(b":") else {
        return Err(FORMS.into());
    };
    if let Some(letters) = fds.strip_prefix(b"*") {
        return Ok(Spec {
            target: target(PidFds::All),
            interest: letters_or_default(letters)?,
        });
    }
    if !fds.first().is_some_and(u8::is_ascii_digit) {
        return Err(FORMS.into());
    }
    let inner = parse_fd(fds)?;
    let fds = match inner.target {
        Target::FdRange(a, b) => PidFds::Range(a, b),
        Target::Fd(n) => PidFds::One(n),
        _ => return Err(FORMS.into()),
    };
    Ok(Spec {
        target: target(fds),
        interest: inner.interest,
    })
}

/// Splits a leading decimal fd number (fits in an i32) from the rest.
fn take_number(bytes: &[u8]) -> Result<(RawFd, &[u8]), String> {
    let end = bytes
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(bytes.len());
    let digits = std::str::from_utf8(&bytes[..end]).unwrap_or("");
    let n = digits
        .parse::<RawFd>()
        .map_err(|_| format!("fd number {digits} is too large"))?;
    Ok((n, &bytes[end..]))
}

fn letters_or_default(text: &[u8]) -> Result<Interest, String> {
    if text.is_empty() {
        return Ok(Interest::READ);
    }
    letters(text).map_err(|c| format!("unknown event letter '{c}' (expected r, w, e)"))
}

/// `PATH[:rwe]`: the suffix counts only when it is `:` plus letters from `rwe`.
fn parse_path(bytes: &[u8]) -> Result<Spec, String> {
    let (path, interest) = match bytes.iter().rposition(|&b| b == b':') {
        Some(colon)
            if colon + 1 < bytes.len() && bytes[colon + 1..].iter().all(|b| b"rwe".contains(b)) =>
        {
            let i = letters_or_default(&bytes[colon + 1..])?;
            (&bytes[..colon], i)
        }
        _ => (bytes, Interest::READ),
    };
    if path.is_empty() {
        return Err("empty path".into());
    }
    Ok(Spec {
        target: Target::Path(PathBuf::from(OsString::from_vec(path.to_vec()))),
        interest,
    })
}

/// A socket spec after its prefix: the address, then an optional `/rwe` suffix.
fn parse_socket(prefix: &str, rest: &[u8]) -> Result<Spec, String> {
    let rest = std::str::from_utf8(rest)
        .map_err(|_| "socket addresses must be valid UTF-8".to_string())?;
    // The suffix counts when it is `/` plus letters from rwe after a non-empty address.
    let (addr, interest) = match rest.rsplit_once('/') {
        Some((a, l))
            if !a.is_empty() && !l.is_empty() && l.bytes().all(|b| b"rwe".contains(&b)) =>
        {
            (a, letters_or_default(l.as_bytes())?)
        }
        _ => (rest, Interest::SOCKET),
    };
    if addr.is_empty() {
        return Err("missing address".into());
    }
    let sock = match prefix {
        "tcp:" => {
            let (host, port) = host_port(addr)?;
            let host = host.ok_or("expected HOST:PORT, as in tcp:127.0.0.1:8888")?;
            SocketSpec::Tcp { host, port }
        }
        "tcp-listen:" => {
            let (host, port) = host_port(addr)?;
            SocketSpec::TcpListen { host, port }
        }
        "unix:" => SocketSpec::Unix(PathBuf::from(addr)),
        _ => SocketSpec::UnixListen(PathBuf::from(addr)),
    };
    Ok(Spec {
        target: Target::Socket(sock),
        interest,
    })
}

/// `HOST:PORT`, `[V6]:PORT` or a bare `PORT`.
fn host_port(addr: &str) -> Result<(Option<String>, u16), String> {
    let (host, port) = match addr.rsplit_once(':') {
        Some((h, p)) => (Some(h), p),
        None => (None, addr),
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("port '{port}' is not a number from 0 to 65535"))?;
    let host = match host {
        Some(h)
            if h.starts_with('[')
                && h.ends_with(']')
                && h.len() > 2
                && !h[1..h.len() - 1].contains(['[', ']']) =>
        {
            Some(h[1..h.len() - 1].to_owned())
        }
        Some(h) if h.is_empty() || h.contains(['[', ']']) || h.contains(':') => {
            return Err(format!(
                "host '{h}' is not valid (write IPv6 addresses as [::1])"
            ));
        }
        Some(h) => Some(h.to_owned()),
        None => None,
    };
    Ok((host, port))
}

/// A SPEC with the argument it was parsed from: messages quote what the user typed
/// (`unix-listen:/x.sock`, not the `unix-listen:/x.sock/re` it means).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Typed {
    pub spec: Spec,
    pub arg: String,
}

impl Typed {
    pub fn parse(arg: &OsStr) -> Result<Typed, SpecError> {
        Ok(Typed {
            spec: parse(arg)?,
            arg: arg.to_string_lossy().into_owned(),
        })
    }
}

impl std::ops::Deref for Typed {
    type Target = Spec;
    fn deref(&self) -> &Spec {
        &self.spec
    }
}

/// The argument as typed.
impl fmt::Display for Typed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arg)
    }
}

/// Merges specs naming the same target (`0r 0w` is `0rw`), keeping first-seen order
/// (and the first one's text). Linear in the number of specs (a hash of targets):
/// 16,000 paths merge at once.
pub fn merge(specs: &[Typed]) -> Vec<Typed> {
    let mut out: Vec<Typed> = Vec::with_capacity(specs.len());
    let mut at: std::collections::HashMap<&Target, usize> =
        std::collections::HashMap::with_capacity(specs.len());
    for s in specs {
        match at.get(&s.target) {
            Some(&i) => out[i].spec.interest = out[i].interest.merge(s.interest),
            None => {
                at.insert(&s.target, out.len());
                out.push(s.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
        let table: &[(&str, SocketSpec, Interest)] = &[
            (
                "tcp:127.0.0.1:8888",
                SocketSpec::Tcp {
                    host: "127.0.0.1".into(),
                    port: 8888,
                },
                re,
            ),
            (
                "tcp:[::1]:8888/r",
                SocketSpec::Tcp {
                    host: "::1".into(),
                    port: 8888,
                },
                i(true, false, false),
            ),
            (
                "tcp:localhost:80/rwe",
                SocketSpec::Tcp {
                    host: "localhost".into(),
                    port: 80,
                },
                i(true, true, true),
            ),
            (
                "tcp-listen:8888",
                SocketSpec::TcpListen {
                    host: None,
                    port: 8888,
                },
                re,
            ),
            (
                "tcp-listen:127.0.0.1:0/re",
                SocketSpec::TcpListen {
                    host: Some("127.0.0.1".into()),
                    port: 0,
                },
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
}
