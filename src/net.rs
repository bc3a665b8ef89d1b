//! Sockets from specs: non-blocking connect, listen, accept, and their results.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{
    self, AddressFamily, Backlog, SockFlag, SockType, SockaddrLike, SockaddrStorage, UnixAddr,
    sockopt,
};

use crate::error::{Error, Result};
use crate::spec::SocketSpec;

/// What an opened socket is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A plain stream: data, urgent data, hang-ups.
    Stream,
    /// A non-blocking connect in progress: its result comes as writability + SO_ERROR.
    Connecting,
    /// A listener: readiness means connections to accept.
    Listener,
}

const FLAGS: SockFlag = SockFlag::SOCK_NONBLOCK.union(SockFlag::SOCK_CLOEXEC);

/// Resolves `host:port` (names too) to the addresses to try, in resolver order.
pub fn resolve(host: &str, port: u16) -> std::result::Result<Vec<SocketAddr>, String> {
    (host, port)
        .to_socket_addrs()
        .map(|a| a.collect::<Vec<_>>())
        .map_err(|e| format!("cannot resolve '{host}': {e}"))
        .and_then(|v| {
            if v.is_empty() {
                Err(format!("'{host}' has no address"))
            } else {
                Ok(v)
            }
        })
}

fn family(a: &SocketAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

/// Opens the socket a spec names, never blocking: a connect in progress, or the
/// listeners of a `-listen` spec. `what` names the spec in errors.
pub fn open(sock: &SocketSpec, what: &str) -> Result<Opened> {
    if sock.is_listener() {
        return listen(sock, what).map(Opened::Listening);
    }
    connect(sock, what).map(|(fd, addr)| Opened::Connecting(fd, addr))
}

/// What `open` made.
#[derive(Debug)]
pub enum Opened {
    /// A non-blocking connect in progress: its result comes as writability + SO_ERROR;
    /// the address it tries (`127.0.0.1:8888`, `[::1]:80`, a UNIX path).
    Connecting(OwnedFd, String),
    Listening(Listening),
}

/// The sockets a listener spec bound (two for loopback: 127.0.0.1 and ::1).
#[derive(Debug)]
pub struct Listening {
    pub fds: Vec<OwnedFd>,
    /// Bound to every interface (`0.0.0.0`, `[::]`, `*`): reachable from the network.
    pub all_interfaces: bool,
    /// A `unix-listen:` path, removed when this goes away.
    pub path: Option<BoundPath>,
}

/// Starts a non-blocking connect to a `tcp:` or `unix:` address.
/// Starts a non-blocking connect; returns the socket and the address it tries.
pub fn connect(sock: &SocketSpec, what: &str) -> Result<(OwnedFd, String)> {
    let sys = |call, e| Error::sys(what.to_owned(), call, e);
    match sock {
        SocketSpec::Tcp { host, port } => {
            let addrs = resolve(host, *port).map_err(|m| Error::Usage(format!("{what}: {m}")))?;
            let mut last = Errno::EADDRNOTAVAIL;
            for a in addrs {
                let fd = socket::socket(family(&a), SockType::Stream, FLAGS, None)
                    .map_err(|e| sys("socket", e))?;
                match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(a)) {
                    Ok(()) | Err(Errno::EINPROGRESS) => return Ok((fd, a.to_string())),
                    Err(e) => last = e,
                }
            }
            Err(sys("connect", last))
        }
        SocketSpec::Unix(path) => {
            let addr = UnixAddr::new(path).map_err(|e| sys("socket address", e))?;
            let fd = socket::socket(AddressFamily::Unix, SockType::Stream, FLAGS, None)
                .map_err(|e| sys("socket", e))?;
            match socket::connect(fd.as_raw_fd(), &addr) {
                // A full backlog gives EAGAIN on AF_UNIX; the result comes like TCP's.
                Ok(()) | Err(Errno::EINPROGRESS | Errno::EAGAIN) => {
                    Ok((fd, crate::escape::os(path.as_os_str())))
                }
                Err(e) => Err(sys("connect", e)),
            }
        }
        SocketSpec::TcpListen { .. } | SocketSpec::UnixListen(_) => Err(Error::Usage(format!(
            "{what}: a listener, not an address to connect to"
        ))),
    }
}

/// Binds and listens. `tcp-listen:PORT` with no host binds loopback only, 127.0.0.1
/// and ::1 on the same port (as `ssh -L` does); every interface only when written:
/// `0.0.0.0`, `[::]` or `*` (`[::]` accepting IPv4 too, or 0.0.0.0 without IPv6).
pub fn listen(sock: &SocketSpec, what: &str) -> Result<Listening> {
    let tcp = |fds: Vec<OwnedFd>, all_interfaces| Listening {
        fds,
        all_interfaces,
        path: None,
    };
    match sock {
        SocketSpec::TcpListen { host: None, port } => loopback(*port, what).map(|f| tcp(f, false)),
        SocketSpec::TcpListen {
            host: Some(h),
            port,
        } if h == "*" => {
            let any6 = SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, *port));
            let fd = match tcp_listener(any6) {
                Err(Errno::EAFNOSUPPORT | Errno::EADDRNOTAVAIL) => {
                    tcp_listener(SocketAddr::from(([0, 0, 0, 0], *port)))
                }
                r => r,
            };
            let fd = fd.map_err(|e| Error::sys(what.to_owned(), "bind", e))?;
            Ok(tcp(vec![fd], true))
        }
        SocketSpec::TcpListen {
            host: Some(h),
            port,
        } => {
            let addrs = resolve(h, *port).map_err(|m| Error::Usage(format!("{what}: {m}")))?;
            let a = addrs[0];
            let fd = tcp_listener(a).map_err(|e| Error::sys(what.to_owned(), "bind", e))?;
            Ok(tcp(vec![fd], a.ip().is_unspecified()))
        }
        SocketSpec::UnixListen(path) => {
            let (fd, bound) = unix_listener(path, what)?;
            Ok(Listening {
                fds: vec![fd],
                all_interfaces: false,
                path: Some(bound),
            })
        }
        SocketSpec::Tcp { .. } | SocketSpec::Unix(_) => Err(Error::Usage(format!(
            "{what}: an address to connect to, not a listener"
        ))),
    }
}

/// 127.0.0.1:PORT and [::1]:PORT (the same port, also when PORT is 0). Without an
/// IPv6 loopback, 127.0.0.1 alone.
fn loopback(port: u16, what: &str) -> Result<Vec<OwnedFd>> {
    let bind_err = |addr: SocketAddr, e| Error::sys(format!("{what} ({addr})"), "bind", e);
    // With PORT 0 the kernel picks the port for 127.0.0.1; should ::1 have it taken,
    // another pair is tried.
    for _ in 0..16 {
        let v4addr = SocketAddr::from(([127, 0, 0, 1], port));
        let v4 = tcp_listener(v4addr).map_err(|e| bind_err(v4addr, e))?;
        let got = match socket::getsockname::<SockaddrStorage>(v4.as_raw_fd()) {
            Ok(a) => a.as_sockaddr_in().map_or(port, |a| a.port()),
            Err(_) => port,
        };
        let v6addr = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, got));
        match tcp_listener(v6addr) {
            Ok(v6) => return Ok(vec![v4, v6]),
            Err(Errno::EAFNOSUPPORT | Errno::EADDRNOTAVAIL) => return Ok(vec![v4]),
            Err(Errno::EADDRINUSE) if port == 0 => continue,
            Err(e) => return Err(bind_err(v6addr, e)),
        }
    }
    Err(Error::sys(what.to_owned(), "bind", Errno::EADDRINUSE))
}

/// A non-blocking TCP listener on `a`. An IPv6 wildcard accepts IPv4 too; ::1 is
/// IPv6 only (its IPv4 twin is bound on its own).
fn tcp_listener(a: SocketAddr) -> nix::Result<OwnedFd> {
    let fd = socket::socket(family(&a), SockType::Stream, FLAGS, None)?;
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    if let SocketAddr::V6(v6) = a {
        socket::setsockopt(&fd, sockopt::Ipv6V6Only, &!v6.ip().is_unspecified())?;
    }
    socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(a))?;
    socket::listen(&fd, Backlog::MAXCONN)?;
    Ok(fd)
}

/// A UNIX listener at `path`. A socket file nobody listens on (left by a process that
/// died) is replaced; one a live process listens on, or any other file, is not.
fn unix_listener(path: &Path, what: &str) -> Result<(OwnedFd, BoundPath)> {
    let sys = |call, e| Error::sys(what.to_owned(), call, e);
    let addr = UnixAddr::new(path).map_err(|e| sys("socket address", e))?;
    let fd = socket::socket(AddressFamily::Unix, SockType::Stream, FLAGS, None)
        .map_err(|e| sys("socket", e))?;
    match socket::bind(fd.as_raw_fd(), &addr) {
        Err(Errno::EADDRINUSE) if stale(path, &addr) => {
            nix::unistd::unlink(path).map_err(|e| sys("unlink", e))?;
            socket::bind(fd.as_raw_fd(), &addr).map_err(|e| sys("bind", e))?;
        }
        // EADDRINUSE would read as "a socket is there": say what is.
        Err(Errno::EADDRINUSE) => {
            return Err(match not_a_socket(path) {
                Some(kind) => Error::Usage(format!(
                    "{what}: {} exists and is {kind}, not a socket (only a socket file \
                     nobody listens on is replaced)",
                    crate::escape::os(path.as_os_str())
                )),
                None => sys("bind", Errno::EADDRINUSE),
            });
        }
        r => r.map_err(|e| sys("bind", e))?,
    }
    let st = nix::sys::stat::stat(path).map_err(|e| sys("stat", e))?;
    let bound = BoundPath {
        path: path.to_owned(),
        dev: st.st_dev,
        ino: st.st_ino,
    };
    socket::listen(&fd, Backlog::MAXCONN).map_err(|e| sys("listen", e))?;
    Ok((fd, bound))
}

/// What is at `path` when it is no socket (`a regular file`, `a directory`...).
fn not_a_socket(path: &Path) -> Option<&'static str> {
    use nix::sys::stat::SFlag;
    let st = nix::sys::stat::lstat(path).ok()?;
    Some(
        match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFSOCK => return None,
            SFlag::S_IFREG => "a regular file",
            SFlag::S_IFDIR => "a directory",
            SFlag::S_IFIFO => "a FIFO",
            SFlag::S_IFLNK => "a symbolic link",
            SFlag::S_IFCHR => "a character device",
            SFlag::S_IFBLK => "a block device",
            _ => "something else",
        },
    )
}

/// Whether `path` is a socket file with no listener behind it: a connect is refused.
fn stale(path: &Path, addr: &UnixAddr) -> bool {
    let is_socket = nix::sys::stat::lstat(path).is_ok_and(|st| {
        nix::sys::stat::SFlag::from_bits_truncate(st.st_mode) & nix::sys::stat::SFlag::S_IFMT
            == nix::sys::stat::SFlag::S_IFSOCK
    });
    if !is_socket {
        return false;
    }
    let Ok(probe) = socket::socket(AddressFamily::Unix, SockType::Stream, FLAGS, None) else {
        return false;
    };
    // Non-blocking: a live listener with a full backlog answers EAGAIN, not a wait.
    socket::connect(probe.as_raw_fd(), addr) == Err(Errno::ECONNREFUSED)
}

/// A `unix-listen:` socket file fdwatch made: removed when dropped, unless something
/// else has taken its name since (another inode there is left alone).
#[derive(Debug)]
pub struct BoundPath {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl Drop for BoundPath {
    fn drop(&mut self) {
        if nix::sys::stat::lstat(&self.path)
            .is_ok_and(|st| st.st_dev == self.dev && st.st_ino == self.ino)
        {
            let _ = nix::unistd::unlink(&self.path);
        }
    }
}

/// One pending connection, non-blocking and close-on-exec, with its peer's name;
/// `None` when there is none left (EAGAIN). The name is the address accept4 returns:
/// getpeername on a connection already reset gives ENOTCONN.
pub fn accept(listener: BorrowedFd<'_>) -> nix::Result<Option<(OwnedFd, String)>> {
    loop {
        // SAFETY: zeroed sockaddr_storage is a valid "no address" value.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: nix's accept4 drops the peer address. The buffer and its length are
        // valid for the call; the kernel writes at most `len` bytes.
        let raw = unsafe {
            libc::accept4(
                listener.as_raw_fd(),
                (&raw mut ss).cast(),
                &mut len,
                FLAGS.bits(),
            )
        };
        match Errno::result(raw) {
            Ok(raw) => {
                // SAFETY: accept4 returned a new fd that nothing else owns.
                let fd = unsafe { OwnedFd::from_raw_fd(raw) };
                // SAFETY: the kernel filled `len` bytes of a sockaddr_storage.
                let addr = unsafe { SockaddrStorage::from_raw((&raw const ss).cast(), Some(len)) };
                let peer = addr.map_or_else(|| peer_name(fd.as_raw_fd()), |a| show(&a));
                return Ok(Some((fd, peer)));
            }
            Err(Errno::EAGAIN) => return Ok(None),
            // The client gave up between SYN and accept: nothing to report.
            Err(Errno::ECONNABORTED | Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// `127.0.0.1:40122`, a UNIX path, or `(unnamed)`.
pub fn peer_name(fd: i32) -> String {
    match socket::getpeername::<SockaddrStorage>(fd) {
        Ok(a) => show(&a),
        Err(_) => "(unknown)".into(),
    }
}

/// `tcp 127.0.0.1:9000` or `unix /tmp/s`: where a socket is bound.
pub fn local_name(fd: BorrowedFd<'_>) -> String {
    match socket::getsockname::<SockaddrStorage>(fd.as_raw_fd()) {
        Ok(a) if a.family() == Some(AddressFamily::Unix) => format!("unix {}", show(&a)),
        Ok(a) => format!("tcp {}", show(&a)),
        Err(_) => "(unknown)".into(),
    }
}

/// An address as it is shown: `127.0.0.1:40122`, `[::1]:80`, a UNIX path (escaped: a
/// peer chooses it), `@name` for an abstract one, or `(unnamed)`.
pub fn show(a: &SockaddrStorage) -> String {
    let Some(u) = a.as_unix_addr() else {
        return a.to_string();
    };
    if let Some(p) = u.path() {
        crate::escape::os(p.as_os_str())
    } else if let Some(name) = u.as_abstract() {
        format!("@{}", crate::escape::bytes(name))
    } else {
        "(unnamed)".into()
    }
}

/// Whether a socket call failed because the connection is over (reset, timed out,
/// unreachable): an event for that connection, not a failure of fdwatch.
pub fn connection_lost(e: Errno) -> bool {
    matches!(
        e,
        Errno::ECONNRESET
            | Errno::ETIMEDOUT
            | Errno::EHOSTUNREACH
            | Errno::ENETUNREACH
            | Errno::ENETDOWN
            | Errno::EHOSTDOWN
            | Errno::ECONNREFUSED
            | Errno::ECONNABORTED
            | Errno::EPIPE
            | Errno::ENOTCONN
    )
}

/// The result of a non-blocking connect that `cond` announced: `None` when it
/// succeeded. Writable without an error or hang-up is a success, with no SO_ERROR to
/// ask, unless `folded`: the backend shows errors only as writability (select).
pub fn connect_result(
    fd: BorrowedFd<'_>,
    cond: crate::readiness::Conditions,
    folded: bool,
) -> Option<Errno> {
    use crate::readiness::Conditions;
    let clean = cond.contains(Conditions::WRITE)
        && !cond.intersects(Conditions::ERROR | Conditions::HANGUP);
    if clean && !folded {
        return None;
    }
    match socket::getsockopt(&fd, sockopt::SocketError) {
        Ok(0) => None,
        Ok(e) => Some(Errno::from_raw(e)),
        Err(e) => Some(e),
    }
}

/// SO_OOBINLINE: urgent bytes stay in the stream, and only the mark is reported.
pub fn set_oobinline(fd: BorrowedFd<'_>) -> nix::Result<()> {
    socket::setsockopt(&fd, sockopt::OobInline, &true)
}
