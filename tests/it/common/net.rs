//! Loopback sockets from the test's side: urgent bytes, ports, an echo server, resets,
//! and the kernel's queues of a connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use nix::libc;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::fds::int_ioctl;

/// Sends `bytes` as urgent data (send(2) with MSG_OOB: the last of them is the urgent
/// byte).
pub fn send_oob(fd: impl AsFd, bytes: &[u8]) {
    use nix::sys::socket::{self, MsgFlags};
    let n = socket::send(fd.as_fd().as_raw_fd(), bytes, MsgFlags::MSG_OOB).expect("send OOB");
    assert_eq!(n, bytes.len(), "send(MSG_OOB)");
}

/// SIOCATMARK's number (the same on every Linux architecture; libc does not name it).
const SIOCATMARK: libc::Ioctl = 0x8905;

/// SIOCATMARK: whether the next normal read starts at the urgent mark.
pub fn at_mark(fd: impl AsFd) -> bool {
    int_ioctl(fd, SIOCATMARK, "SIOCATMARK") != 0
}

/// SIOCOUTQ (TIOCOUTQ's number): bytes a TCP socket sent that its peer has not
/// acknowledged.
pub fn unsent(fd: impl AsFd) -> i32 {
    int_ioctl(fd, libc::TIOCOUTQ, "SIOCOUTQ")
}

/// A loopback port that refuses connections for as long as the returned socket lives:
/// bound but not listening (until `listen` is called on it), so no other test running
/// in parallel can take it.
pub fn closed_port() -> (OwnedFd, u16) {
    use nix::sys::socket::{self, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let lo = SockaddrIn::new(127, 0, 0, 1, 0);
    socket::bind(fd.as_raw_fd(), &lo).expect("bind 127.0.0.1:0");
    let port = socket::getsockname::<SockaddrIn>(fd.as_raw_fd())
        .expect("getsockname")
        .port();
    (fd, port)
}

/// A connected loopback TCP pair: (client, the accepted server end).
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let c = TcpStream::connect(l.local_addr().expect("local addr")).expect("connect");
    let (s, _) = l.accept().expect("accept");
    (c, s)
}

/// A loopback port nothing listens on right now (bound, read, released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// An echo server on loopback: every connection echoed until end of file, in its own
/// thread; stops accepting when dropped. `Echo::holding()` never closes its side after
/// the client's end of file (a server that keeps half-closed connections), until
/// dropped.
pub struct Echo {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    pub fn start() -> Echo {
        Echo::serve(false)
    }

    pub fn holding() -> Echo {
        Echo::serve(true)
    }

    fn serve(hold: bool) -> Echo {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
        l.set_nonblocking(true).expect("nonblocking listener");
        let addr = l.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let mut p = [PollFd::new(l.as_fd(), PollFlags::POLLIN)];
                    if nix::poll::poll(&mut p, PollTimeout::from(20u8)).unwrap_or(0) == 0 {
                        continue;
                    }
                    let Ok((s, _)) = l.accept() else { continue };
                    s.set_nonblocking(false).expect("blocking");
                    let stop = Arc::clone(&stop);
                    thread::spawn(move || {
                        let mut out = s.try_clone().expect("clone");
                        let mut s = s;
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = s.read(&mut buf) {
                            if n == 0 || out.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        // Holding: this side stays open until the server is dropped.
                        while hold && !stop.load(Ordering::SeqCst) {
                            thread::sleep(Duration::from_millis(20));
                        }
                    });
                }
            })
        };
        Echo {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The receive queue /proc/net/tcp shows for the server end of the loopback connection
/// 127.0.0.1:`port` <- 127.0.0.1:`client` (accepted or not yet), if it is listed.
pub fn server_rx_queue(port: u16, client: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    let local = format!("0100007F:{port:04X}");
    let remote = format!("0100007F:{client:04X}");
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 4 && f[1] == local && f[2] == remote {
            let rx = f[4].split_once(':')?.1;
            u64::from_str_radix(rx, 16).ok()
        } else {
            None
        }
    })
}

/// Closes a TCP socket with SO_LINGER {1, 0}: its peer gets a reset, not an end of file.
pub fn reset_close(s: TcpStream) {
    use nix::sys::socket::{self, sockopt};
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    socket::setsockopt(&s, sockopt::Linger, &l).expect("SO_LINGER {1, 0}");
    drop(s);
}
