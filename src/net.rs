//! Sockets from specs: non-blocking connect, listen, accept, and their results.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

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

/// Opens the socket a spec names, never blocking. `what` names the spec in errors.
pub fn open(sock: &SocketSpec, what: &str) -> Result<(OwnedFd, Role)> {
    let sys = |call, e| Error::sys(what.to_owned(), call, e);
    match sock {
        SocketSpec::Tcp { host, port } => {
            let addrs = resolve(host, *port).map_err(|m| Error::Usage(format!("{what}: {m}")))?;
            let mut last = Errno::EADDRNOTAVAIL;
            for a in addrs {
                let fd = socket::socket(family(&a), SockType::Stream, FLAGS, None)
                    .map_err(|e| sys("socket", e))?;
                match socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(a)) {
                    Ok(()) | Err(Errno::EINPROGRESS) => return Ok((fd, Role::Connecting)),
                    Err(e) => last = e,
                }
            }
            Err(sys("connect", last))
        }
        SocketSpec::TcpListen { host, port } => {
            let host = host.as_deref().unwrap_or("0.0.0.0");
            let addrs = resolve(host, *port).map_err(|m| Error::Usage(format!("{what}: {m}")))?;
            let a = addrs[0];
            let fd = socket::socket(family(&a), SockType::Stream, FLAGS, None)
                .map_err(|e| sys("socket", e))?;
            socket::setsockopt(&fd, sockopt::ReuseAddr, &true)
                .map_err(|e| sys("setsockopt(SO_REUSEADDR)", e))?;
            socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(a)).map_err(|e| sys("bind", e))?;
            socket::listen(&fd, Backlog::MAXCONN).map_err(|e| sys("listen", e))?;
            Ok((fd, Role::Listener))
        }
        SocketSpec::Unix(path) => {
            let addr = UnixAddr::new(path).map_err(|e| sys("socket address", e))?;
            let fd = socket::socket(AddressFamily::Unix, SockType::Stream, FLAGS, None)
                .map_err(|e| sys("socket", e))?;
            match socket::connect(fd.as_raw_fd(), &addr) {
                // A full backlog gives EAGAIN on AF_UNIX; the result comes like TCP's.
                Ok(()) | Err(Errno::EINPROGRESS | Errno::EAGAIN) => Ok((fd, Role::Connecting)),
                Err(e) => Err(sys("connect", e)),
            }
        }
        SocketSpec::UnixListen(path) => {
            let addr = UnixAddr::new(path).map_err(|e| sys("socket address", e))?;
            let fd = socket::socket(AddressFamily::Unix, SockType::Stream, FLAGS, None)
                .map_err(|e| sys("socket", e))?;
            socket::bind(fd.as_raw_fd(), &addr).map_err(|e| sys("bind", e))?;
            socket::listen(&fd, Backlog::MAXCONN).map_err(|e| sys("listen", e))?;
            Ok((fd, Role::Listener))
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

/// The result of a non-blocking connect (SO_ERROR): `None` when it succeeded.
pub fn connect_error(fd: BorrowedFd<'_>) -> Option<Errno> {
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
