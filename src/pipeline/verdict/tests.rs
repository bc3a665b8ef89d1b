//! The verdict's table: snapshots as data, the sentence and pids they give.

use super::super::links::LinkKind;
use super::super::scan::Wait;
use super::*;

fn proc(pid: i32, comm: &str, call: &str, fd: Option<i32>, writing: bool) -> Proc {
    Proc {
        pid,
        comm: comm.into(),
        state: "S".into(),
        call: Some(call.into()),
        fd,
        waits: fd.map_or(Vec::new(), |fd| {
            vec![Wait {
                fd,
                read: !writing,
                write: writing,
            }]
        }),
        ..Proc::default()
    }
}

fn pipe(number: usize, w: (i32, i32), r: (i32, i32), queued: i64) -> Link {
    Link {
        number,
        kind: LinkKind::Pipe,
        inode: number as u64,
        dev: 0,
        flows: vec![LinkFlow {
            writers: vec![Holder { pid: w.0, fd: w.1 }],
            readers: vec![Holder { pid: r.0, fd: r.1 }],
            queued: Some(queued),
            capacity: Some(65536),
            full: queued >= 65536,
            ..LinkFlow::default()
        }],
        ends: Vec::new(),
        path: None,
        peer_lost: false,
    }
}

#[test]
fn the_issue_example_sentence() {
    let procs = [
        proc(1, "cat", "write", Some(1), true),
        proc(2, "grep", "write", Some(1), true),
        proc(3, "sort", "wait4", None, false),
    ];
    let links = [
        pipe(1, (1, 1), (2, 0), 65536),
        pipe(2, (2, 1), (3, 0), 65536),
    ];
    let v = judge(&procs, &links);
    assert_eq!(v.state, "stuck");
    assert_eq!(
        v.sentence,
        "3 (sort) reads nothing: blocked in wait4; pipe 2 full (64 KiB), 2 (grep) \
         blocked writing to it, 1 (cat) blocked writing to pipe 1 (full)"
    );
    assert_eq!(v.pids, [3, 2, 1]);
}

#[test]
fn a_producer_waiting_on_a_tty_starves_the_rest() {
    let mut producer = proc(1, "producer", "read", Some(0), false);
    producer.fd_what = Some("/dev/pts/3".into());
    let procs = [producer, proc(2, "grep", "read", Some(0), false)];
    let links = [pipe(1, (1, 1), (2, 0), 0)];
    let v = judge(&procs, &links);
    assert_eq!(v.state, "stuck");
    assert_eq!(
        v.sentence,
        "1 (producer) writes nothing: blocked in read on fd 0 (/dev/pts/3); \
         2 (grep) waits reading pipe 1 (empty)"
    );
    assert_eq!(v.pids, [1, 2]);
}

#[test]
fn a_reader_that_still_reads_is_the_slowest_stage() {
    let mut sink = proc(2, "sink", "read", Some(0), false);
    sink.state = "R".into();
    sink.read_rate = Some(1e6);
    let mut producer = proc(1, "producer", "write", Some(1), true);
    producer.write_rate = Some(2e6);
    let v = judge(&[producer, sink], &[pipe(1, (1, 1), (2, 0), 65536)]);
    assert_eq!(v.state, "flowing");
    assert_eq!(
        v.sentence,
        "flowing: 2.0 MB/s through pipe 1; the slowest stage is 2 (sink) (pipe 1 full)"
    );
}

#[test]
fn no_reader_names_the_writer() {
    let mut l = pipe(1, (1, 1), (2, 0), 0);
    l.flows[0].readers.clear();
    l.flows[0].no_reader = true;
    let v = judge(&[proc(1, "tick", "rt_sigtimedwait", None, false)], &[l]);
    assert_eq!(v.state, "stuck");
    assert_eq!(
        v.sentence,
        "pipe 1 has no reader: 1 (tick) gets EPIPE (or SIGPIPE) on its next write"
    );
    assert_eq!(v.pids, [1]);
}

#[test]
fn idle_done_and_names_escaped() {
    let mut a = proc(1, "a\u{1b}[2J", "nanosleep", None, false);
    a.write_rate = Some(0.0);
    let links = [pipe(1, (1, 1), (2, 0), 0)];
    let v = judge(std::slice::from_ref(&a), &links);
    assert_eq!(v.state, "idle", "{v:?}");
    assert_eq!(who(&a), "1 (a\\e[2J)");
    a.state = "Z".into();
    assert_eq!(judge(&[a], &links).state, "done");
    assert_eq!(size(65536), "64 KiB");
    assert_eq!(size(1 << 20), "1 MiB");
}

/// A socket between `a` (pid, fd) and `b`: `ab` bytes queued from a to b, `ba` back;
/// `full` whether a's writes would wait.
fn socket(a: (i32, i32), b: (i32, i32), ab: i64, ba: i64, full: bool) -> Link {
    let h = |x: (i32, i32)| vec![Holder { pid: x.0, fd: x.1 }];
    let flow = |w, r, queued, full| LinkFlow {
        writers: h(w),
        readers: h(r),
        queued: Some(queued),
        full,
        ..LinkFlow::default()
    };
    Link {
        number: 1,
        kind: LinkKind::Unix,
        inode: 10,
        dev: 0,
        flows: vec![flow(a, b, ab, full), flow(b, a, ba, false)],
        ends: Vec::new(),
        path: None,
        peer_lost: false,
    }
}

#[test]
fn a_stage_waiting_in_select_to_write_is_followed_not_blamed() {
    // pv -L: waits in pselect6 to write fd 1; pipe 2 has no free slot with fewer bytes
    // than its capacity.
    let mut pv = proc(2, "pv", "pselect6", Some(1), true);
    pv.multiplexed = true;
    let procs = [
        proc(1, "yes", "write", Some(1), true),
        pv,
        proc(3, "sleep", "clock_nanosleep", None, false),
    ];
    let mut p2 = pipe(2, (2, 1), (3, 0), 61_000);
    p2.flows[0].full = true;
    let links = [pipe(1, (1, 1), (2, 0), 65536), p2];
    let v = judge(&procs, &links);
    assert_eq!(v.state, "stuck");
    assert_eq!(v.pids, [3, 2, 1]);
    assert!(v.sentence.starts_with("3 (sleep) reads nothing"), "{v:?}");
    // Named for what it does, it says which fds and ways it watches.
    let s = Scene {
        procs: &procs,
        links: &links,
    };
    assert_eq!(
        s.doing(&procs[1]),
        "blocked in pselect6 watching fd 1 (write, pipe 2)"
    );
}

#[test]
fn a_full_socket_names_its_reader_and_an_empty_one_its_writer() {
    let procs = [
        proc(1, "client", "sendto", Some(3), true),
        proc(2, "server", "nanosleep", None, false),
    ];
    let v = judge(&procs, &[socket((1, 3), (2, 4), 200_000, 0, true)]);
    assert_eq!(v.state, "stuck");
    assert_eq!(
        v.sentence,
        "2 (server) reads nothing: blocked in nanosleep; unix 1 full (195 KiB queued), \
         1 (client) blocked writing to it"
    );
    assert_eq!(v.pids, [2, 1]);
    // The server waits reading what the client never writes.
    let procs = [
        proc(1, "client", "nanosleep", None, false),
        proc(2, "server", "recvfrom", Some(4), false),
    ];
    let v = judge(&procs, &[socket((1, 3), (2, 4), 0, 0, false)]);
    assert_eq!(
        v.sentence,
        "1 (client) writes nothing: blocked in nanosleep; 2 (server) waits reading unix 1 (empty)"
    );
    assert_eq!(v.pids, [1, 2]);
}

#[test]
fn readers_waiting_on_each_other_are_stuck_not_flowing() {
    let procs = [
        proc(1, "client", "read", Some(3), false),
        proc(2, "server", "read", Some(4), false),
    ];
    let v = judge(&procs, &[socket((1, 3), (2, 4), 0, 0, false)]);
    assert_eq!(v.state, "stuck", "{v:?}");
    assert_eq!(v.pids, [2, 1]);
    assert!(v.sentence.contains("each wait reading"), "{v:?}");
}

#[test]
fn no_link_at_all_is_idle_not_flowing() {
    let v = judge(&[proc(1, "a", "nanosleep", None, false)], &[]);
    assert_eq!(v.state, "idle", "{v:?}");
}

#[test]
fn a_first_snapshot_with_everyone_waiting_and_nothing_queued_is_idle() {
    let procs = [
        proc(1, "a", "pause", None, false),
        proc(2, "b", "nanosleep", None, false),
    ];
    let v = judge(&procs, &[socket((1, 3), (2, 4), 0, 0, false)]);
    assert_eq!(v.state, "idle", "{v:?}");
    assert_eq!(
        v.sentence,
        "idle: every process waits and nothing is queued"
    );
}
