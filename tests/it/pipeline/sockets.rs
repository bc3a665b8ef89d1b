//! `fdwatch pipeline` across sockets: the stages of tests/it/pipeline.rs talk over a
//! socketpair, a UNIX socket connected through a path or an abstract name, and loopback
//! TCP (IPv4, IPv6). The test checks the JSON against its own FIONREAD (and SIOCOUTQ
//! for TCP) on duplicates of both ends, and that fdwatch consumed nothing and changed
//! no flag.

use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};

use super::*;

const VIAS: [&str; 5] = ["socketpair", "unix path", "abstract", "tcp4", "tcp6"];

/// A connected pair of stream sockets: (the writer's end, the reader's end).
fn connect(via: &str, dir: &TempDir) -> (OwnedFd, OwnedFd) {
    let tcp = |host: &str| {
        let l = TcpListener::bind(host).expect("bind loopback");
        let a = TcpStream::connect(l.local_addr().expect("addr")).expect("connect");
        let (b, _) = l.accept().expect("accept");
        (OwnedFd::from(a), OwnedFd::from(b))
    };
    let unix = |addr: &SocketAddr| {
        let l = UnixListener::bind_addr(addr).expect("bind unix");
        let a = UnixStream::connect_addr(addr).expect("connect unix");
        let (b, _) = l.accept().expect("accept unix");
        (OwnedFd::from(a), OwnedFd::from(b))
    };
    match via {
        "socketpair" => socketpair(),
        "unix path" => unix(&SocketAddr::from_pathname(dir.path("s.sock")).expect("path address")),
        "abstract" => {
            let name = format!("fdwatch-test-{}-{}", std::process::id(), inode(dir_fd(dir)));
            unix(&SocketAddr::from_abstract_name(name).expect("abstract address"))
        }
        "tcp4" => tcp("127.0.0.1:0"),
        "tcp6" => tcp("[::1]:0"),
        _ => unreachable!("{via}"),
    }
}

/// The temp dir, open (its inode makes an abstract name unique to the test).
fn dir_fd(dir: &TempDir) -> OwnedFd {
    open(&dir.path(""), OFlag::O_RDONLY | OFlag::O_DIRECTORY)
}

/// `producer` writing to a socket, `sink` (not reading yet) at its other end, with the
/// test's duplicates of both ends; once the producer is blocked in write(2).
struct SockStuck {
    kids: Vec<KillOnDrop>,
    w: OwnedFd,
    r: OwnedFd,
    tcp: bool,
}

impl SockStuck {
    fn start(bin: &Path, via: &str, dir: &TempDir) -> SockStuck {
        let (a, b) = connect(via, dir);
        let (w, r) = (dup(&a), dup(&b));
        let producer = start(bin, "producer", Stdio::null(), a.into());
        let sink = start(bin, "sink", b.into(), Stdio::null());
        let s = SockStuck {
            kids: [producer, sink].map(KillOnDrop).into(),
            w,
            r,
            tcp: via.starts_with("tcp"),
        };
        wait_until(
            &format!("{via}: the producer blocked, the sink waiting"),
            || {
                syscall_nr(s.kids[0].id()) == Some(libc::SYS_write)
                    && syscall_nr(s.kids[1].id()) == Some(libc::SYS_rt_sigtimedwait)
            },
        );
        s
    }

    /// Bytes written and not read, as the test sees them on its own duplicates.
    fn queued(&self) -> i64 {
        let sent = if self.tcp { unsent(&self.w) } else { 0 };
        i64::from(fionread(&self.r)) + i64::from(sent)
    }

    fn pids(&self) -> Vec<String> {
        self.kids.iter().map(|c| c.id().to_string()).collect()
    }

    /// One snapshot taken between two equal measures of the queue, and that queue.
    fn snapshot(&self, via: &str) -> (Value, i64) {
        let pids = self.pids();
        let mut args = vec!["--once", "--format", "json"];
        args.extend(pids.iter().map(String::as_str));
        for _ in 0..20 {
            let before = self.queued();
            let snap = one_snapshot(via, &pipeline(&args));
            if self.queued() == before {
                return (snap, before);
            }
        }
        panic!("{via}: the queue never held still for a snapshot");
    }
}

#[test]
fn a_writer_on_a_full_socket_names_the_reader_then_it_flows() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    for via in VIAS {
        let s = SockStuck::start(&bin, via, &dir);
        let [producer, sink] = [0, 1].map(|i| s.kids[i].id());
        let flags = (status_flags(&s.w), status_flags(&s.r));
        let fds: Vec<usize> = s.kids.iter().map(|c| fd_count(c.id())).collect();
        let (snap, queued) = s.snapshot(via);

        let v = &snap["verdict"];
        assert_eq!(v["state"], "stuck", "{via}: {snap}");
        assert_eq!(
            v["pids"],
            serde_json::json!([sink, producer]),
            "{via}: {snap}"
        );
        let sentence = v["sentence"].as_str().expect("sentence");
        assert!(
            sentence.starts_with(&format!("{sink} (sink) reads nothing")),
            "{via}: {sentence}"
        );
        let links = snap["links"].as_array().expect("links");
        assert_eq!(links.len(), 1, "{via}: exactly one link: {snap}");
        let l = &links[0];
        let kind = if s.tcp { "tcp" } else { "unix" };
        assert_eq!(l["kind"], kind, "{via}: {snap}");
        assert_eq!(
            l["inode"],
            inode(&s.w),
            "{via}: the writer's end first: {snap}"
        );
        assert_eq!(
            holders(&l["ends"][0]["holders"]),
            [(producer as i64, 1)],
            "{via}"
        );
        assert_eq!(
            holders(&l["ends"][1]["holders"]),
            [(sink as i64, 0)],
            "{via}"
        );
        assert_eq!(l["ends"][1]["inode"], inode(&s.r), "{via}: {snap}");
        let out = &l["directions"][0];
        assert_eq!((&out["from"], &out["to"]), (&0.into(), &1.into()), "{via}");
        assert_eq!(
            out["queued"], queued,
            "{via}: as FIONREAD/SIOCOUTQ say: {snap}"
        );
        assert!(queued > 64 * 1024, "{via}: {queued} bytes queued");
        assert_eq!(out["full"], true, "{via}: {snap}");
        assert!(out["sndbuf"].as_i64() > Some(0), "{via}: {snap}");
        assert_eq!(
            l["directions"][1]["queued"], 0,
            "{via}: nothing back: {snap}"
        );
        assert_eq!(l["peer_lost"], false, "{via}");
        if via == "unix path" {
            assert_eq!(l["path"], dir.path("s.sock").to_str().expect("utf-8"));
        }
        if via == "abstract" {
            assert!(
                l["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("@fdwatch-test-"))
            );
        }

        // Nothing consumed, no flag changed, no fd left behind.
        assert_eq!(s.queued(), queued, "{via}");
        assert_eq!((status_flags(&s.w), status_flags(&s.r)), flags, "{via}");
        assert!(!status_flags(&s.r).contains(OFlag::O_NONBLOCK), "{via}");
        let after: Vec<usize> = s.kids.iter().map(|c| fd_count(c.id())).collect();
        assert_eq!(fds, after, "{via}: the stages' fd counts");

        // The reader reads: flowing, with a rate on both.
        signal(&s.kids[1], Signal::SIGUSR1);
        let pids = s.pids();
        let mut args = vec!["--format", "json", "--interval", "200ms", "--count", "3"];
        args.extend(pids.iter().map(String::as_str));
        let out = pipeline(&args);
        assert_eq!(code(&out), 0, "{via}: {}", stderr(&out));
        let snaps = events(&out.stdout);
        let moving = |snap: &Value| {
            let rate = |pid, key: &str| process(snap, pid)[key].as_f64().unwrap_or(0.0);
            snap["verdict"]["state"] == "flowing"
                && rate(producer, "write_rate") > 0.0
                && rate(sink, "read_rate") > 0.0
        };
        assert!(snaps.iter().any(moving), "{via}: flowing: {snaps:?}");
    }
}

#[test]
fn the_text_view_shows_the_socket_and_its_directions() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let s = SockStuck::start(&bin, "tcp4", &dir);
    let [producer, sink] = [0, 1].map(|i| s.kids[i].id());
    let pids = s.pids();
    let mut args = vec!["--once", "--color", "never"];
    args.extend(pids.iter().map(String::as_str));
    let out = pipeline(&args);
    assert_eq!(code(&out), 1, "stuck: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let head = format!("tcp 1     {producer}:1 (producer) <-> {sink}:0 (sink)  127.0.0.1:");
    assert!(text.contains(&head), "{text}");
    assert!(
        text.contains(&format!("{producer} -> {sink}  queued ")),
        "{text}"
    );
    assert!(text.contains("full"), "{text}");
    assert!(
        text.contains(&format!("verdict: {sink} (sink) reads nothing")),
        "{text}"
    );
}

/// A pipe into a relay that writes to a socket the sink does not read: both kinds of
/// link in one chain. Where sock_diag is refused (strace fails socket(2) with EPERM)
/// one note says so and the pipe still shows.
#[test]
fn pipes_and_sockets_in_one_chain_and_a_note_where_sock_diag_is_refused() {
    if !have("strace", "socket(2) refused under strace") {
        return;
    }
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let (r1, w1) = pipe();
    let (a, b) = socketpair();
    let producer = start(&bin, "producer", Stdio::null(), w1.into());
    let relay = start(&bin, "relay", r1.into(), a.into());
    let sink = start(&bin, "sink", b.into(), Stdio::null());
    let kids = [producer, relay, sink].map(KillOnDrop);
    let [p, r, s] = [0, 1, 2].map(|i| kids[i].id());
    wait_until("both writers blocked, the sink waiting", || {
        syscall_nr(p) == Some(libc::SYS_write)
            && syscall_nr(r) == Some(libc::SYS_write)
            && syscall_nr(s) == Some(libc::SYS_rt_sigtimedwait)
    });
    let pids: Vec<String> = [p, r, s].iter().map(u32::to_string).collect();
    let mut args = vec!["pipeline", "--once", "--format", "json"];
    args.extend(pids.iter().map(String::as_str));
    let snap = one_snapshot("joined", &pipeline(&args[1..]));
    let kinds: Vec<&Value> = snap["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| &l["kind"])
        .collect();
    assert_eq!(kinds, ["pipe", "unix"], "{snap}");
    assert_eq!(snap["note"], Value::Null, "{snap}");
    assert_eq!(
        snap["verdict"]["pids"],
        serde_json::json!([s, r, p]),
        "{snap}"
    );
    let sentence = snap["verdict"]["sentence"].as_str().expect("sentence");
    assert!(sentence.contains("unix 2 full ("), "{sentence}");

    if !have("strace", "sock_diag refused under strace") {
        return;
    }
    let out = run(
        "sock_diag refused",
        Fdwatch::new(&args).under_strace(
            Path::new("/dev/null"),
            &[
                trace_filter("socket"),
                inject_filter("socket", "EPERM", None),
            ],
        ),
    );
    let snap = one_snapshot("refused", &out);
    let kinds: Vec<&Value> = snap["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| &l["kind"])
        .collect();
    assert_eq!(kinds, ["pipe"], "the pipe still shows: {snap}");
    let note = snap["note"]
        .as_str()
        .unwrap_or_else(|| panic!("a note: {snap}"));
    assert!(
        note.starts_with("socket links could not be joined"),
        "{note}"
    );
    assert!(note.contains("EPERM"), "{note}");
}

#[test]
fn a_reader_that_exits_leaves_the_socket_without_peer_and_the_writer_dies_of_sigpipe() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let (a, b) = socketpair();
    let tick = start(&bin, "tick", Stdio::null(), a.into());
    let reader = start(&bin, "relay", b.into(), Stdio::null());
    let mut kids = vec![KillOnDrop(tick), KillOnDrop(reader)];
    let (tp, rp) = (kids[0].id(), kids[1].id());
    wait_until("the writer waits for its signal, the reader reads", || {
        syscall_nr(tp) == Some(libc::SYS_rt_sigtimedwait) && syscall_nr(rp) == Some(libc::SYS_read)
    });
    let (ts, rs) = (tp.to_string(), rp.to_string());
    let (mut child, _dog) = spawn_pipeline(&["--format", "json", "--interval", "50ms", &ts, &rs]);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || -> Value {
        let l = lines.next().expect("a snapshot").expect("read");
        serde_json::from_str(&l).expect("JSON")
    };
    let first = next();
    assert_eq!(first["links"][0]["kind"], "unix", "{first}");
    assert_eq!(first["links"][0]["peer_lost"], false, "{first}");
    assert_eq!(
        first["verdict"]["pids"][0], tp,
        "the reader starves: {first}"
    );
    signal(&kids[1], Signal::SIGKILL);
    let lost = loop {
        let s = next();
        if s["links"][0]["peer_lost"] == true {
            break s;
        }
    };
    assert_eq!(
        holders(&lost["links"][0]["ends"][0]["holders"]),
        [(tp as i64, 1)],
        "{lost}"
    );
    assert_eq!(
        lost["links"][0]["ends"].as_array().map(Vec::len),
        Some(1),
        "{lost}"
    );
    assert_eq!(lost["verdict"]["state"], "stuck", "{lost}");
    let sentence = lost["verdict"]["sentence"].as_str().expect("sentence");
    assert_eq!(
        sentence,
        format!("unix 1 lost its peer: {tp} (tick) gets EPIPE (or SIGPIPE) on its next write"),
        "{lost}"
    );
    signal(&kids[0], Signal::SIGUSR1);
    let dead = loop {
        let s = next();
        if process(&s, tp)["state"] == "Z" {
            break s;
        }
    };
    assert_eq!(process(&dead, tp)["exit"], "SIGPIPE", "{dead}");
    assert_eq!(dead["verdict"]["state"], "done", "{dead}");
    let st = child.wait().expect("wait fdwatch");
    assert_eq!(st.code(), Some(0), "ends when every process is gone");
    kids.clear();
}

#[test]
fn a_process_group_and_a_tree_include_their_socket_links() {
    if !have("cc", "pipeline stages in C") {
        return;
    }
    let dir = TempDir::new();
    let bin = stages(&dir);
    let (a, b) = connect("tcp6", &dir);
    let p = bin.display().to_string();
    let p = p.trim_end_matches('/');
    // The shell hands fd 3 to the producer's stdout and fd 4 to the sink's stdin and
    // closes its own copies, as a shell does with a pipeline's pipes.
    let script = format!(
        "{p}/producer >&3 3>&- 4>&- </dev/null & {p}/sink <&4 3>&- 4>&- >/dev/null & \
         exec 3>&- 4>&-; wait"
    );
    let mut sh = Command::new("sh");
    sh.args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    place_fds(&mut sh, vec![(a.as_raw_fd(), 3), (b.as_raw_fd(), 4)], true);
    let sh = sh.counted_spawn().expect("spawn sh");
    drop((a, b));
    let root = sh.id();
    let _dog = Watchdog::new(&sh, WATCHDOG, "sh");
    let _group = Group(sh);
    wait_until(
        "the shell waits, the producer writes, the sink sleeps",
        || syscall_nr(root).is_some() && fd_count(root) <= 3,
    );
    let root = root.to_string();
    for select in ["--pgid", "--tree"] {
        let mut snap = Value::Null;
        wait_until(
            &format!("{select}: the producer blocked on the full socket"),
            || {
                snap = one_snapshot(
                    select,
                    &pipeline(&[select, &root, "--once", "--format", "json"]),
                );
                snap["verdict"]["state"] == "stuck"
            },
        );
        let pid_of = |name: &str| {
            snap["processes"]
                .as_array()
                .expect("processes")
                .iter()
                .find(|p| p["comm"] == name)
                .and_then(|p| p["pid"].as_i64())
                .unwrap_or_else(|| panic!("{select}: no {name}: {snap}"))
        };
        let (producer, sink) = (pid_of("producer"), pid_of("sink"));
        let links = snap["links"].as_array().expect("links");
        assert_eq!(links.len(), 1, "{select}: {snap}");
        assert_eq!(links[0]["kind"], "tcp", "{select}: {snap}");
        assert_eq!(
            holders(&links[0]["ends"][0]["holders"]),
            [(producer, 1)],
            "{snap}"
        );
        assert_eq!(
            holders(&links[0]["ends"][1]["holders"]),
            [(sink, 0)],
            "{snap}"
        );
        assert_eq!(snap["verdict"]["pids"][0], sink, "{select}: {snap}");
    }
}
