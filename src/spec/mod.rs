//! The SPEC grammar (what to watch, for which events): pure parsing, no syscalls.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::io::RawFd;
use std::path::PathBuf;

mod foreign;

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
            || NOT_YET.iter().any(|p| b.starts_with(p.as_bytes()))
            || foreign::refused(b).is_some();
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
    /// The argument as typed, escaped (`escape::arg`: bytes not UTF-8 as `\xNN`).
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

/// Whether `arg` is written as a socket address (`tcp:`, `unix-listen:`...).
pub fn is_socket_word(arg: &OsStr) -> bool {
    NOT_YET[..4]
        .iter()
        .any(|p| arg.as_bytes().starts_with(p.as_bytes()))
}

/// Parses one SPEC argument. Never panics; errors name the argument.
pub fn parse(arg: &OsStr) -> Result<Spec, SpecError> {
    let bytes = arg.as_bytes();
    let err = |reason: String| SpecError {
        arg: crate::escape::arg(arg),
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
    if let Some(why) = foreign::refused(bytes) {
        return Err(err(why));
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
    /// As typed, escaped for messages (`escape::arg`).
    pub arg: String,
}

impl Typed {
    pub fn parse(arg: &OsStr) -> Result<Typed, SpecError> {
        Ok(Typed {
            spec: parse(arg)?,
            arg: crate::escape::arg(arg),
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
    let mut at: crate::FixedMap<&Target, usize> =
        crate::FixedMap::with_capacity_and_hasher(specs.len(), Default::default());
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
mod tests;
