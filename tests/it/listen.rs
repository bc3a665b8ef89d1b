//! Listeners bind what the user names, loopback by default, and `unix-listen:` keeps
//! its socket file right (removed at every exit, a stale one replaced, a live one or a
//! non-socket never touched).
//!
//! What listens is read from the kernel: /proc/net/tcp and /proc/net/tcp6 rows in state
//! 0A (LISTEN) on the port, kept only when their inode is one of fdwatch's own sockets
//! (/proc/PID/fd), so tests running in parallel cannot disturb the set. Clients connect
//! over loopback only (127.0.0.1, ::1); ::1 expectations are skipped when the machine
//! has no IPv6 loopback (/proc/net/if_inet6). Synchronization: `blocked` (fdwatch
//! waits), JSON lines, the test's own sockets, process exit. Every fd here is
//! close-on-exec.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use crate::common::*;
use nix::sys::socket;
use serde_json::Value;

const V4_LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6_LO: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const V4_ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
const V6_ANY: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

// The kernel's view -------------------------------------------------------------------

/// Whether `lo` carries ::1 (an IPv6 loopback to bind and connect to).
fn has_v6_loopback() -> bool {
    std::fs::read_to_string("/proc/net/if_inet6")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.first() == Some(&"00000000000000000000000000000001") && f.last() == Some(&"lo")
        })
}

/// The socket inodes among `pid`'s open fds.
fn socket_inodes(pid: u32) -> BTreeSet<u64> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy().into_owned();
            l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
        })
        .collect()
}

/// A /proc/net/tcp{,6} address (`0100007F` or 32 hex digits: 32-bit words in host
/// order).
fn proc_ip(hex: &str) -> IpAddr {
    let words: Vec<[u8; 4]> = (0..hex.len() / 8)
        .map(|i| {
            u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16)
                .expect("hex address")
                .to_ne_bytes()
        })
        .collect();
    match words.len() {
        1 => IpAddr::V4(Ipv4Addr::from(words[0])),
        4 => {
            let b: Vec<u8> = words.concat();
            IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).expect("16 bytes")))
        }
        n => panic!("address of {n} words: {hex}"),
    }
}

/// The addresses `pid` listens on (TCP, state LISTEN) at `port`, from /proc/net/tcp
/// and /proc/net/tcp6.
fn listening(pid: u32, port: u16) -> BTreeSet<IpAddr> {
    let mine = socket_inodes(pid);
    let mut got = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 10 || f[3] != "0A" {
                continue;
            }
            let Some((addr, p)) = f[1].split_once(':') else {
                continue;
            };
            let inode: u64 = f[9].parse().unwrap_or(0);
            if u16::from_str_radix(p, 16) == Ok(port) && mine.contains(&inode) {
                got.insert(proc_ip(addr));
            }
        }
    }
    got
}

#[test]
fn proc_addresses_parse() {
    assert_eq!(proc_ip("0100007F"), V4_LO);
    assert_eq!(proc_ip("00000000"), V4_ANY);
    assert_eq!(proc_ip("00000000000000000000000001000000"), V6_LO);
    assert_eq!(proc_ip("00000000000000000000000000000000"), V6_ANY);
}

// Running fdwatch --------------------------------------------------------------------------

/// Starts `make(port)` on a free port, blocked in its wait; should the port be taken
/// first (exit 2 naming EADDRINUSE), another is tried.
fn start(case: &str, make: impl Fn(u16) -> Fdwatch) -> (Child, Watchdog, u16) {
    let ((child, dog), port) =
        listen_on_free_port(case, |port| spawn(case, make(port)), the_child_waits);
    (child, dog, port)
}

/// SIGTERM, then the rest of the output and the exit, which shows no panic; every event.
fn end_by_sigterm(case: &str, child: Child, mut evs: EventStream) -> Vec<Value> {
    sigterm(&child);
    evs.rest();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert!(
        !stderr(&out).contains("panicked"),
        "{case}: {}",
        stderr(&out)
    );
    evs.all()
}

/// A client on loopback.
fn client(case: &str, ip: IpAddr, port: u16) -> TcpStream {
    let c = TcpStream::connect(SocketAddr::new(ip, port))
        .unwrap_or_else(|e| panic!("{case}: connect to {ip} port {port}: {e}"));
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    c
}

/// Expects one accept event per client, matched by the client's port.
fn accepts_all(case: &str, evs: &mut EventStream, clients: &[TcpStream]) {
    let mut left: BTreeSet<u16> = clients
        .iter()
        .map(|c| c.local_addr().expect("client addr").port())
        .collect();
    while !left.is_empty() {
        let a = evs.next_named("accept");
        let peer = a["peer"].as_str().unwrap_or_default().to_owned();
        let port = peer
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok());
        let hit = port.is_some_and(|p| left.remove(&p));
        assert!(
            hit,
            "{case}: an accept of an unknown client: {a}; waiting for {left:?}"
        );
    }
}

/// `-m --format json 3 tcp-listen:HOST:PORT` (HOST empty: `tcp-listen:PORT`): listens
/// on `want` (fdwatch's own LISTEN sockets at the port) and accepts a client from each
/// of `clients`.
fn watch_case(l: &Listen) {
    let Listen {
        host,
        want,
        alternatives,
        clients,
    } = l;
    let case = format!("-m tcp-listen:{host}PORT");
    let (mut child, _dog, port) = start(&case, |p| {
        Fdwatch::new([
            "-m",
            "--format",
            "json",
            "3",
            &format!("tcp-listen:{host}{p}"),
        ])
    });
    let got = listening(child.id(), port);
    let want: BTreeSet<IpAddr> = want.iter().copied().collect();
    let ok = got == want
        || alternatives
            .iter()
            .any(|a| got == a.iter().copied().collect::<BTreeSet<_>>());
    assert!(
        ok,
        "{case}: fdwatch listens on {got:?} at port {port}; want {want:?}{}",
        if alternatives.is_empty() {
            String::new()
        } else {
            format!(" (or one of {alternatives:?})")
        }
    );
    let mut evs = EventStream::new(&mut child, &case);
    let cs: Vec<TcpStream> = clients.iter().map(|&ip| client(&case, ip, port)).collect();
    accepts_all(&case, &mut evs, &cs);
    end_by_sigterm(&case, child, evs);
    drop(cs);
}

/// What `tcp-listen:HOST:PORT` must listen on, and where clients come from.
struct Listen {
    /// `HOST:` as written before the port (empty: no host).
    host: &'static str,
    want: Vec<IpAddr>,
    /// Other sets that also fulfil the contract.
    alternatives: Vec<Vec<IpAddr>>,
    clients: Vec<IpAddr>,
}

fn listen(host: &'static str, want: &[IpAddr], clients: &[IpAddr]) -> Listen {
    Listen {
        host,
        want: want.to_vec(),
        alternatives: Vec::new(),
        clients: clients.to_vec(),
    }
}

/// No host: 127.0.0.1 and ::1 (::1 only where `lo` has it).
fn no_host() -> Listen {
    if has_v6_loopback() {
        listen("", &[V4_LO, V6_LO], &[V4_LO, V6_LO])
    } else {
        println!("no ::1 on lo: IPv6 loopback expectations skipped");
        listen("", &[V4_LO], &[V4_LO])
    }
}

#[test]
fn tcp_listen_without_host_binds_loopback_only() {
    watch_case(&no_host());
}

#[test]
fn tcp_listen_wildcards_bind_all_interfaces() {
    let cases = if has_v6_loopback() {
        vec![
            listen("0.0.0.0:", &[V4_ANY], &[V4_LO]),
            // `*` is [::], dual-stack: IPv4 clients reach it too.
            listen("*:", &[V6_ANY], &[V4_LO, V6_LO]),
            listen("[::]:", &[V6_ANY], &[V6_LO]),
        ]
    } else {
        // Without IPv6 loopback, `*` may still be [::] where IPv6 exists otherwise.
        let mut star = listen("*:", &[V4_ANY], &[V4_LO]);
        star.alternatives.push(vec![V6_ANY]);
        vec![listen("0.0.0.0:", &[V4_ANY], &[V4_LO]), star]
    };
    in_named_threads(cases.iter().map(|l| (l.host, l)), watch_case);
}

// The relay ----------------------------------------------------------------------------------

/// `relay --format json tcp-listen:HOST:PORT tcp:127.0.0.1:Q`: listens on `want`, one
/// `listen` event per bound socket (`what` "tcp ADDR", `all_interfaces` as `all`), and relays a client from each of `clients` to the target.
fn relay_case(l: &Listen) {
    let Listen {
        host,
        want,
        clients,
        ..
    } = l;
    let all = !host.is_empty();
    let case = format!("relay tcp-listen:{host}PORT");
    let target = TcpListener::bind("127.0.0.1:0").expect("bind the target");
    let target_spec = format!("tcp:{}", target.local_addr().expect("target addr"));
    let (mut child, _dog, port) = start(&case, |p| {
        Fdwatch::new([
            "relay",
            "--format",
            "json",
            &format!("tcp-listen:{host}{p}"),
            &target_spec,
        ])
    });
    let got = listening(child.id(), port);
    let want: BTreeSet<IpAddr> = want.iter().copied().collect();
    assert_eq!(
        got, want,
        "{case}: the relay listens on {got:?} at port {port}"
    );
    let evs = EventStream::new(&mut child, &case);

    // Each client reaches the target: a byte each way.
    let mut cs = Vec::new();
    for &ip in clients {
        let mut c = client(&case, ip, port);
        c.write_all(b"x").expect("client write");
        let (mut t, _) = target.accept().expect("the relay connects to the target");
        t.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut b = [0u8; 1];
        t.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("{case}: the client's byte from {ip} at the target: {e}"));
        assert_eq!(&b, b"x", "{case}");
        t.write_all(b"y").expect("target write");
        c.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("{case}: the target's byte at the client ({ip}): {e}"));
        assert_eq!(&b, b"y", "{case}");
        cs.push((c, t));
    }
    let all_evs = end_by_sigterm(&case, child, evs);
    drop(cs);

    let listens: Vec<&Value> = of_kind(&all_evs, "listen");
    let whats: BTreeSet<String> = listens
        .iter()
        .map(|e| e["what"].as_str().unwrap_or("?").to_owned())
        .collect();
    let want_whats: BTreeSet<String> = want
        .iter()
        .map(|ip| format!("tcp {}", SocketAddr::new(*ip, port)))
        .collect();
    assert_eq!(
        listens.len(),
        want.len(),
        "{case}: one listen event per bound socket: {listens:?}"
    );
    assert_eq!(whats, want_whats, "{case}: {listens:?}");
    for e in &listens {
        assert_eq!(e["conn"], 0, "{case}: {e}");
        assert_eq!(e["target"], target_spec.as_str(), "{case}: {e}");
        assert_eq!(e["all_interfaces"], all, "{case}: all_interfaces: {e}");
    }
}

#[test]
fn relay_listen_without_host_binds_loopback_only() {
    let cases = [no_host(), listen("0.0.0.0:", &[V4_ANY], &[V4_LO])];
    in_named_threads(
        cases
            .iter()
            .map(|l| (if l.host.is_empty() { "no host" } else { l.host }, l)),
        relay_case,
    );
}

// unix-listen: the socket file ------------------------------------------------------------

/// Whether anything (a socket file, or a dangling name) is at `path`.
fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn unix_spec(path: &Path) -> String {
    format!("unix-listen:{}", path.to_str().expect("UTF-8 temp path"))
}

/// `-m --format json IDLE unix-listen:PATH`.
fn unix_watch(idle: &str, path: &Path, more: &[&str]) -> Fdwatch {
    let spec = unix_spec(path);
    let mut args = vec!["-m", "--format", "json"];
    args.extend(more);
    args.extend([idle, spec.as_str()]);
    Fdwatch::new(args)
}

/// Starts `f`, which must start: blocked in its wait, not exited.
fn must_start(case: &str, f: Fdwatch) -> (Child, Watchdog) {
    let (mut child, dog) = spawn(case, f);
    if let Some(st) = blocked_or_exited(case, &mut child) {
        let out = child.wait_with_output().expect("wait fdwatch");
        panic!(
            "{case}: fdwatch did not start ({st}): stderr {:?}, stdout {:?}",
            stderr(&out),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    (child, dog)
}

/// A client of the UNIX listener, accepted by fdwatch (its accept event read).
fn served(case: &str, path: &Path, evs: &mut EventStream) {
    let c = UnixStream::connect(path)
        .unwrap_or_else(|e| panic!("{case}: connect to {}: {e}", path.display()));
    let a = evs.next_named("accept");
    assert!(
        a["what"]
            .as_str()
            .is_some_and(|w| w.contains(path.to_str().expect("UTF-8"))),
        "{case}: {a}"
    );
    drop(c);
}

fn assert_removed(case: &str, path: &Path) {
    assert!(
        !exists(path),
        "{case}: the socket file {} is still there after fdwatch ended",
        path.display()
    );
}

/// `-m 10 unix-listen:PATH` starts, serves a client and ends by SIGTERM (no panic); the
/// socket file is gone after.
fn served_then_sigterm(case: &str, path: &Path) {
    let (mut child, _dog) = must_start(case, unix_watch("10", path, &[]));
    let mut evs = EventStream::new(&mut child, case);
    served(case, path, &mut evs);
    end_by_sigterm(case, child, evs);
    assert_removed(case, path);
}

#[test]
fn unix_listen_twice_in_a_row() {
    let dir = TempDir::new();
    let path = dir.path("l.sock");

    // The first run ends by its idle timeout, no client.
    let case = "unix-listen, first run, idle timeout";
    let out = run(case, unix_watch("0.3", &path, &[]));
    assert_eq!(exit_code(case, &out), 1, "{case}: {}", stderr(&out));
    let left_behind = exists(&path);

    // The same path again: it starts and serves a client; idle timeout again. (Checked
    // before the first run's file: a file left behind would stop a second run from
    // starting.)
    let case2 = "unix-listen, second run on the same path";
    let (mut child, _dog) = must_start(case2, unix_watch("0.3", &path, &[]));
    assert!(
        !left_behind,
        "{case}: the socket file {} was still there after fdwatch ended",
        path.display()
    );
    let case = case2;
    let mut evs = EventStream::new(&mut child, case);
    served(case, &path, &mut evs);
    evs.rest();
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(exit_code(case, &out), 0, "{case}: {}", stderr(&out));
    assert_removed(case, &path);
}

#[test]
fn unix_listen_socket_file_removed_after_sigterm() {
    let dir = TempDir::new();
    let path = dir.path("l.sock");
    served_then_sigterm("unix-listen, SIGTERM", &path);
}

#[test]
fn unix_listen_socket_file_removed_after_count() {
    let dir = TempDir::new();
    let path = dir.path("l.sock");
    let case = "unix-listen, -c 1";
    let (child, _dog) = must_start(case, unix_watch("10", &path, &["-c", "1"]));
    let c = UnixStream::connect(&path).unwrap_or_else(|e| panic!("{case}: connect: {e}"));
    let out = child.wait_with_output().expect("wait fdwatch");
    assert_eq!(exit_code(case, &out), 0, "{case}: {}", stderr(&out));
    drop(c);
    assert_removed(case, &path);
}

#[test]
fn unix_listen_socket_file_removed_after_an_error() {
    let dir = TempDir::new();
    let path = dir.path("l.sock");
    // A later spec cannot bind: the run ends with an error after the UNIX listener (the
    // first spec) may already exist.
    let case = "unix-listen, then a tcp-listen on a port in use";
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = format!(
        "tcp-listen:127.0.0.1:{}",
        held.local_addr().expect("addr").port()
    );
    let spec = unix_spec(&path);
    let out = run(
        case,
        Fdwatch::new(["-m", "--format", "json", "10", spec.as_str(), busy.as_str()]),
    );
    assert_eq!(exit_code(case, &out), 2, "{case}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("EADDRINUSE"),
        "{case}: {}",
        stderr(&out)
    );
    assert_removed(case, &path);
}

#[test]
fn unix_listen_replaces_a_stale_socket_file() {
    let dir = TempDir::new();
    let path = dir.path("stale.sock");
    // A listener that died without unlinking its file.
    let fd = closed_unix(&path);
    socket::listen(&fd, socket::Backlog::new(4).expect("backlog")).expect("listen");
    drop(fd);
    assert!(exists(&path), "the stale file is there");
    let refused = UnixStream::connect(&path).map(drop);
    assert_eq!(
        refused.as_ref().map_err(|e| e.raw_os_error()),
        Err(Some(nix::libc::ECONNREFUSED)),
        "nobody listens on the stale file: {refused:?}"
    );

    served_then_sigterm("unix-listen on a stale socket file", &path);
}

/// fdwatch refuses PATH: exit 2, one stderr line saying `why` (EADDRINUSE for a live
/// socket; what the file is for one that is no socket).
fn refused(case: &str, path: &Path, why: &str) {
    let out = run(case, unix_watch("1", path, &[]));
    let err = stderr(&out);
    assert_eq!(exit_code(case, &out), 2, "{case}: {err}");
    assert_eq!(err.lines().count(), 1, "{case}: one stderr line: {err:?}");
    assert!(err.contains(why), "{case}: {err:?}");
}

#[test]
fn unix_listen_never_takes_a_live_socket() {
    let dir = TempDir::new();
    let path = dir.path("live.sock");
    let l = UnixListener::bind(&path).expect("the test listens");
    let ino = std::fs::symlink_metadata(&path).expect("stat").ino();
    refused(
        "unix-listen on a path where the test listens",
        &path,
        "EADDRINUSE",
    );
    let m = std::fs::symlink_metadata(&path).expect("the test's socket file is still there");
    assert!(m.file_type().is_socket(), "still a socket: {m:?}");
    assert_eq!(m.ino(), ino, "the same file");
    // And it still works: a client reaches the test's listener. (fdwatch may have
    // probed it with a connect, as telling a live socket from a stale one takes: such a
    // probe is queued first and reads as an empty, closed connection.)
    let mut c = UnixStream::connect(&path).expect("connect to the test's listener");
    c.write_all(b"k").expect("write");
    let mut probes = 0;
    loop {
        let (mut s, _) = l.accept().expect("the test's listener accepts");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut got = Vec::new();
        let mut b = [0u8; 1];
        match s.read(&mut b).expect("read") {
            0 => probes += 1,
            _ => got.push(b[0]),
        }
        if !got.is_empty() {
            assert_eq!(got, b"k", "the client's byte");
            break;
        }
        assert!(
            probes <= 1,
            "{probes} empty connections reached the test's listener"
        );
    }
    println!("empty (probe) connections at the live listener: {probes}");
}

#[test]
fn unix_listen_never_removes_a_regular_file() {
    let dir = TempDir::new();
    let path = dir.path("precious");
    std::fs::write(&path, b"keep me\n").expect("write");
    let before = std::fs::symlink_metadata(&path).expect("stat");
    refused(
        "unix-listen on a regular file",
        &path,
        "exists and is a regular file, not a socket",
    );
    let after = std::fs::symlink_metadata(&path).expect("the file is still there");
    assert!(after.file_type().is_file(), "{after:?}");
    assert_eq!(after.ino(), before.ino(), "the same file");
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec()),
        "untouched"
    );
    assert_eq!(std::fs::read(&path).expect("read"), b"keep me\n");
}
