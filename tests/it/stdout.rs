//! A slow or non-blocking stdout neither kills nor deafens fdwatch.
//!
//! A. Nobody reads stdout: fdwatch's stdout is a pipe the test holds open and never
//!    reads, and the run prints until that pipe is full (watch `-m --read=text` on a pipe
//!    the test floods, and `-m --tee` whose data fills it; the relay with `--read=text`
//!    and a client that floods). Once it is
//!    stuck (the pipe full, fdwatch asleep), SIGTERM ends it within 1 s, death by SIGTERM;
//!    and SIGINT (Ctrl-C) the same way, death by SIGINT (status 130).
//!    Every backend in watch mode: select and poll unblock the signals and use a
//!    self-pipe, pselect, ppoll and epoll pass a mask to the wait; both paths matter.
//! B. stdout is a pipe whose write end's open file description the test made
//!    O_NONBLOCK (as a shell sharing it with another program would), read slowly by the
//!    test (64 KiB every 2 ms): 8 MiB of pseudo-random bytes through `-m --tee` arrive
//!    byte-exact (from a pipe, which fdwatch splices, and from a socket, which it reads
//!    and writes); a run printing several MiB of events (`-m --read=text --read-size 100`
//!    on a pipe fed 2 MiB) delivers every event. Exit 0, and F_GETFL of the pipe's write
//!    end is unchanged (still O_NONBLOCK).
//!
//! Synchronization is on /proc (state, polled every millisecond under a deadline), the
//! test's own pipe (FIONREAD, poll) and process exit. The slow reader's 2 ms pauses are
//! the point of the test, not a synchronization.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::common::*;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use serde_json::Value;

/// Writes to `w` (made non-blocking here, the test's own end) until `stop`; a full pipe
/// or socket is waited on with poll in 10 ms steps, so `stop` is seen. Write errors
/// (the reader gone) end it.
fn flood(w: OwnedFd, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    set_nonblock(&w);
    thread::spawn(move || {
        let chunk = vec![b'a'; 16 * 1024];
        let mut sent = 0u64;
        while !stop.load(Ordering::SeqCst) {
            match nix::unistd::write(&w, &chunk) {
                Ok(n) => sent += n as u64,
                Err(Errno::EAGAIN) => {
                    let mut p = [PollFd::new(w.as_fd(), PollFlags::POLLOUT)];
                    let _ = nix::poll::poll(&mut p, PollTimeout::from(10u8));
                }
                Err(_) => break,
            }
        }
        sent
    })
}

/// Waits (10 s at most) until fdwatch is stuck on its stdout: the pipe (whose read end
/// is `out`, never read) holds at least half its capacity and fdwatch sleeps, both
/// unchanged for 50 consecutive 1 ms looks while its input is flooded (a fdwatch that
/// could write would keep the queue growing). Not "within PIPE_BUF of capacity": a
/// pipe is full when its page slots are taken, and event lines leave pages partly
/// filled, so a full pipe can hold several KiB less than its capacity.
fn stuck_on_stdout(case: &str, pid: u32, out: impl AsFd) {
    let cap = fcntl(out.as_fd(), FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut last, mut same) = (-1, 0);
    loop {
        let q = fionread(out.as_fd());
        let asleep = proc_state(pid) == Some('S');
        if q >= cap / 2 && asleep && q == last {
            same += 1;
            if same >= 50 {
                return;
            }
        } else {
            same = 0;
        }
        last = q;
        if Instant::now() >= deadline {
            let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            panic!(
                "{case}: fdwatch never got stuck on its full stdout in 10 s: {q} of {cap} \
                 bytes queued, state {:?}, wchan {wchan:?}, stat {stat:?}",
                proc_state(pid)
            );
        }
        thread::sleep(Duration::from_millis(1));
    }
}

/// `signo` (SIGTERM, SIGINT), then the end within 1 s (polled every millisecond); a
/// child still running then is killed and the case fails.
fn signal_within_1s(case: &str, child: &mut Child, signo: Signal) -> ExitStatus {
    let wchan = std::fs::read_to_string(format!("/proc/{}/wchan", child.id())).unwrap_or_default();
    nix::sys::signal::kill(pid_of(child), signo).expect("kill");
    if let Some(st) = exit_within(child, Duration::from_secs(1)) {
        return st;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "{case}: {signo} not served within 1 s while stdout is full (fdwatch was asleep in \
         {wchan:?}); killed"
    );
}

// A. Nobody reads stdout -----------------------------------------------------------------

/// `w` flooded until fdwatch is stuck on its stdout (a pipe the test never reads); then
/// `signo` ends it within 1 s, death by that signal (128+N for the shell), no panic.
fn flood_until_stuck_then(case: &str, child: &mut Child, w: OwnedFd, signo: Signal) {
    let out = child.stdout.take().expect("stdout");
    let err = stderr_in_thread(child);
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = flood(w, Arc::clone(&stop));
    stuck_on_stdout(case, child.id(), &out);
    let st = signal_within_1s(case, child, signo);
    stop.store(true, Ordering::SeqCst);
    flooder.join().expect("flooder");
    let err = err.join().expect("stderr");
    assert_eq!(
        st.signal(),
        Some(signo as i32),
        "{case}: want death by {signo} ({}), got {st}; stderr {err:?}",
        128 + signo as i32
    );
    assert!(!err.contains("panicked"), "{case}: {err}");
    drop(out);
}

/// `mode` is `--read=text` (events fill stdout) or `--tee` (the data fills it).
fn watch_nobody_reads(b: &str, mode: &str, signo: Signal) {
    let case = format!("-b {b} -m {mode}, stdout full and never read, {signo}");
    let (r, w) = pipe();
    let (mut child, _dog) = spawn(
        &case,
        Fdwatch::new(["-m", "-b", b, mode, "--format", "json", "-", "3r"]).fd(r.as_fd(), 3),
    );
    drop(r);
    flood_until_stuck_then(&case, &mut child, w, signo);
}

#[test]
fn nobody_reads_stdout_sigterm_ends_watch_mode_every_backend() {
    each_backend_and(
        &[("read=text", "--read=text"), ("tee", "--tee")],
        |b, mode| watch_nobody_reads(b, mode, Signal::SIGTERM),
    );
}

/// Ctrl-C at a terminal whose output is stopped (or a pipe nobody reads): fdwatch still
/// dies by SIGINT within 1 s, status 130.
#[test]
fn nobody_reads_stdout_sigint_ends_watch_mode_every_backend() {
    each_backend_and(
        &[("read=text", "--read=text"), ("tee", "--tee")],
        |b, mode| watch_nobody_reads(b, mode, Signal::SIGINT),
    );
}

fn relay_nobody_reads(b: &str, signo: Signal) {
    let case = format!("relay -b {b} --read=text, stdout full and never read, {signo}");
    // The target reads and discards everything.
    let sink = TcpListener::bind("127.0.0.1:0").expect("bind the sink");
    let target = format!("tcp:{}", sink.local_addr().expect("addr"));
    let sink_thread = thread::spawn(move || {
        let Ok((mut s, _)) = sink.accept() else {
            return;
        };
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let (mut child, _dog, port) = listen_tcp(&case, |spec| {
        Fdwatch::new([
            "relay",
            "-b",
            b,
            "--read=text",
            "--format",
            "json",
            spec,
            target.as_str(),
        ])
    });
    let client = TcpStream::connect(("127.0.0.1", port)).expect("connect to the relay");
    flood_until_stuck_then(&case, &mut child, OwnedFd::from(client), signo);
    sink_thread.join().expect("sink");
}

#[test]
fn nobody_reads_stdout_sigterm_ends_the_relay_every_backend() {
    each_backend(&BACKENDS, |b| relay_nobody_reads(b, Signal::SIGTERM));
}

#[test]
fn nobody_reads_stdout_sigint_ends_the_relay_every_backend() {
    each_backend(&BACKENDS, |b| relay_nobody_reads(b, Signal::SIGINT));
}

// B. A non-blocking stdout read slowly ----------------------------------------------------

/// stdout for a child: a pipe whose write end's file description is O_NONBLOCK. The
/// test keeps the write end (to check its flags after the run; the reader therefore
/// never sees end of file and reads by length or until the child ended).
struct SlowPipe {
    r: OwnedFd,
    w: OwnedFd,
    before: OFlag,
}

impl SlowPipe {
    fn new() -> SlowPipe {
        let (r, w) = pipe();
        set_nonblock(&w);
        let before = status_flags(&w);
        assert!(before.contains(OFlag::O_NONBLOCK));
        SlowPipe { r, w, before }
    }

    /// The child's stdout: the same open file description (a dup, close-on-exec here).
    fn stdout(&self) -> Stdio {
        Stdio::from(self.w.try_clone().expect("dup the write end"))
    }

    /// Reads 64 KiB every 2 ms until `enough(so far)`, or until `child` ended and the pipe
    /// is empty; 20 s at most.
    fn read_slowly(
        &self,
        case: &str,
        child: &mut Child,
        enough: &dyn Fn(&[u8]) -> bool,
    ) -> Vec<u8> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while !enough(&got) {
            assert!(
                Instant::now() < deadline,
                "{case}: only {} bytes on stdout after 20 s",
                got.len()
            );
            let mut p = [PollFd::new(self.r.as_fd(), PollFlags::POLLIN)];
            if nix::poll::poll(&mut p, PollTimeout::from(10u8)).expect("poll") == 0 {
                if child.try_wait().expect("try_wait").is_some() && fionread(&self.r) == 0 {
                    break;
                }
                continue;
            }
            let n = nix::unistd::read(&self.r, &mut buf).expect("read stdout");
            got.extend_from_slice(&buf[..n]);
            thread::sleep(Duration::from_millis(2));
        }
        got
    }

    /// The flags of the write end are what they were before the run.
    fn unchanged(&self, case: &str) {
        let after = status_flags(&self.w);
        assert_eq!(
            after, self.before,
            "{case}: stdout's status flags changed: {:?} -> {after:?}",
            self.before
        );
        assert!(
            after.contains(OFlag::O_NONBLOCK),
            "{case}: O_NONBLOCK cleared"
        );
    }
}

/// The exit within 10 s (polled every millisecond) after stdout was read; the status.
fn exit_after_input(case: &str, child: &mut Child) -> ExitStatus {
    exit_within(child, Duration::from_secs(10))
        .unwrap_or_else(|| panic!("{case}: no exit 10 s after its end of input"))
}

/// `socket`: stdin is an AF_UNIX stream socket instead of a pipe. A pipe to a pipe goes
/// through splice(2), a socket is read and written: both meet the full stdout.
fn tee_8mib(b: &str, socket: bool) {
    const LEN: usize = 8 << 20;
    let input = if socket { "a socket" } else { "a pipe" };
    let case = format!("-b {b} -m --tee, 8 MiB from {input} to a non-blocking stdout read slowly");
    let data = Arc::new(XorShift::new(16).bytes(LEN));
    let (dr, dw) = if socket { socketpair() } else { pipe() };
    let slow = SlowPipe::new();
    let (mut child, _dog) = spawn(
        &case,
        Fdwatch::new(["-m", "-b", b, "--tee", "--format", "json", "-", "0r"])
            .stdin(Stdio::from(dr))
            .stdout(slow.stdout()),
    );
    let err = stderr_in_thread(&mut child);
    let writer = {
        let data = Arc::clone(&data);
        thread::spawn(move || {
            // Blocking writes, then the end of file.
            let mut off = 0;
            while off < data.len() {
                match nix::unistd::write(&dw, &data[off..(off + 65536).min(data.len())]) {
                    Ok(n) => off += n,
                    Err(Errno::EINTR) => {}
                    Err(_) => break,
                }
            }
            off
        })
    };
    let got = slow.read_slowly(&case, &mut child, &|got| got.len() >= LEN);
    let wrote = writer.join().expect("writer");
    let st = exit_after_input(&case, &mut child);
    let err = err.join().expect("stderr");
    let extra = fionread(&slow.r);
    assert_eq!(
        wrote,
        LEN,
        "{case}: fdwatch stopped reading its input; {st}; messages {:?}",
        message_lines(&err)
    );
    assert!(
        got.len() == LEN && got[..] == data[..],
        "{case}: stdout is not the input: {}; exit {st}; messages {:?}",
        first_difference(&got, &data),
        message_lines(&err)
    );
    assert_eq!(extra, 0, "{case}: {extra} bytes more on stdout");
    assert_eq!(
        st.code(),
        Some(0),
        "{case}: want exit 0, got {st}; messages {:?}",
        message_lines(&err)
    );
    assert!(
        message_lines(&err).is_empty(),
        "{case}: stderr messages {:?}",
        message_lines(&err)
    );
    let evs = events(err.as_bytes());
    last_summary(&case, &evs);
    slow.unchanged(&case);
}

#[test]
fn tee_8_mib_to_a_nonblocking_slow_stdout_arrives_byte_exact() {
    each_backend_and(&[("pipe", false), ("socket", true)], tee_8mib);
}

fn many_events(b: &str) {
    const LEN: usize = 2 << 20;
    let case = format!("-b {b} -m --read=text --read-size 100, events to a non-blocking stdout");
    // Letters only: --read=text shows them as they are.
    let mut rng = XorShift::new(5);
    let data: Arc<Vec<u8>> = Arc::new((0..LEN).map(|_| b'a' + rng.below(26) as u8).collect());
    let (r, w) = pipe();
    let slow = SlowPipe::new();
    let (mut child, _dog) = spawn(
        &case,
        Fdwatch::new([
            "-m",
            "-b",
            b,
            "--read=text",
            "--read-size",
            "100",
            "--format",
            "json",
            "-",
            "3r",
        ])
        .fd(r.as_fd(), 3)
        .stdout(slow.stdout()),
    );
    drop(r);
    let err = stderr_in_thread(&mut child);
    let writer = {
        let data = Arc::clone(&data);
        thread::spawn(move || {
            // Many small writes, then the end of file (or fdwatch is gone: its exit
            // status tells why).
            for chunk in data.chunks(512) {
                let mut off = 0;
                while off < chunk.len() {
                    match nix::unistd::write(&w, &chunk[off..]) {
                        Ok(n) => off += n,
                        Err(Errno::EINTR) => {}
                        Err(_) => return,
                    }
                }
            }
        })
    };
    // Until the summary line (the last event) has come.
    let out = slow.read_slowly(&case, &mut child, &|got| {
        got.ends_with(b"\n")
            && got[..got.len() - 1]
                .rsplit(|&c| c == b'\n')
                .next()
                .is_some_and(|l| l.starts_with(b"{\"v\":1,\"event\":\"summary\""))
    });
    writer.join().expect("writer");
    let st = exit_after_input(&case, &mut child);
    let err = err.join().expect("stderr");
    let extra = fionread(&slow.r);
    assert_eq!(
        st.code(),
        Some(0),
        "{case}: want exit 0, got {st}; stderr {err:?}; {} bytes of events came",
        out.len()
    );
    assert!(err.is_empty(), "{case}: stderr {err:?}");
    assert_eq!(extra, 0, "{case}: {extra} bytes more on stdout");
    assert!(
        out.len() >= 4 << 20,
        "{case}: only {} bytes of events (several MiB expected)",
        out.len()
    );
    let evs = events(&out);
    let s = last_summary(&case, &evs);
    assert_eq!(
        s["events"].as_u64(),
        Some(evs.len() as u64 - 1),
        "{case}: the summary counts {} events, {} came before it",
        s["events"],
        evs.len() - 1
    );
    let fd3 = Value::from(3);
    let data_evs: Vec<&Value> = evs
        .iter()
        .filter(|e| e["event"] == "data" && e["fd"] == fd3)
        .collect();
    let text: String = data_evs
        .iter()
        .map(|e| e["text"].as_str().expect("text"))
        .collect();
    assert!(
        text.as_bytes() == &data[..],
        "{case}: the data events do not spell the input: {}",
        first_difference(text.as_bytes(), &data)
    );
    let bytes: u64 = data_evs
        .iter()
        .map(|e| e["bytes"].as_u64().expect("bytes"))
        .sum();
    assert_eq!(bytes, LEN as u64, "{case}: data bytes");
    assert_eq!(
        data_evs.last().map(|e| &e["total"]),
        Some(&Value::from(LEN)),
        "{case}: the last data total"
    );
    let eof = of_kind(&evs, "eof");
    assert!(
        eof.len() == 1 && eof[0]["total"] == LEN,
        "{case}: one eof with the total: {eof:?}"
    );
    let per_fd: Vec<&Value> = s["bytes"]
        .as_array()
        .expect("summary bytes")
        .iter()
        .filter(|x| x["fd"] == 3)
        .collect();
    assert!(
        per_fd.len() == 1 && per_fd[0]["bytes"] == LEN,
        "{case}: the summary's bytes for fd 3: {s}"
    );
    slow.unchanged(&case);
}

#[test]
fn several_mib_of_events_to_a_nonblocking_slow_stdout_all_arrive() {
    each_backend(&BACKENDS, many_events);
}
