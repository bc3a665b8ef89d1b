//! Command-line habits and exit statuses, on the real binary: `-m`'s idle
//! timeout after something was seen (0), a failed connect in one-shot mode (3), a path
//! where TIMEOUT goes (a tip), `fdwatch help SUBCOMMAND`, other tools' address types
//! refused by name, `pipeline --pgid` with any member's pid, `pipeline -q` and its
//! status, `relay -q`.

use std::fs::File;
use std::net::TcpListener;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::common::*;
use nix::libc;

/// The exit status and the JSON events of one run.
fn run_json(case: &str, f: Fdwatch) -> (i32, Vec<serde_json::Value>, String) {
    let out = run(case, f);
    (exit_code(case, &out), events(&out.stdout), stderr(&out))
}

/// `-m`: the idle timeout is a normal end (0) once something was reported ready, and
/// 1 when nothing was; with `--until` it stays 1 (the condition never came). It used to
/// be 1 whatever was seen, which broke `set -e` scripts.
#[test]
fn monitor_idle_timeout_is_0_once_something_was_ready() {
    each_backend(&["poll", "epoll"], |b| {
        let (r, w) = pipe();
        write(&w, b"x");
        let f = Fdwatch::new(["-b", b, "-m", "--format", "json", "0.3", "3r"]).fd(r.as_fd(), 3);
        let (code, evs, err) = run_json(b, f);
        assert_eq!(of_kind(&evs, "ready").len(), 1, "{b}: {evs:?}");
        assert_eq!(code, 0, "{b}: data seen, then idle: {err}");

        let (r, _w) = pipe();
        let f = Fdwatch::new(["-b", b, "-m", "--format", "json", "0.3", "3r"]).fd(r.as_fd(), 3);
        let (code, evs, err) = run_json(b, f);
        assert!(of_kind(&evs, "ready").is_empty(), "{b}: {evs:?}");
        assert_eq!(code, 1, "{b}: nothing seen: {err}");

        let (r, w) = pipe();
        write(&w, b"x");
        let f = Fdwatch::new(["-b", b, "-m", "--until", "hangup", "0.3", "3r"]).fd(r.as_fd(), 3);
        let out = run(b, f);
        assert_eq!(exit_code(b, &out), 1, "{b}: --until's condition never came");
    });
}

/// One-shot: a refused connect is its own status, 3 (it was 0: "something was ready").
/// A UNIX socket nobody listens on refuses at once: 3 and one line. A connect that
/// succeeds stays 0, and monitor mode reports the refusal as an event, as before.
#[test]
fn a_failed_connect_in_one_shot_mode_exits_3() {
    // Bound and closed: nobody listens there (refused).
    let port = free_port();
    let target = format!("tcp:127.0.0.1:{port}");
    let (code, evs, err) = run_json("tcp", Fdwatch::new(["--format", "json", "2", &target]));
    let connect = of_kind(&evs, "connect");
    assert_eq!(connect.len(), 1, "{evs:?}");
    assert_eq!(connect[0]["result"], "ECONNREFUSED", "{evs:?}");
    assert_eq!(code, 3, "refused: {err}");

    let q = run("quiet", Fdwatch::new(["-q", "2", &target]));
    assert_eq!(exit_code("quiet", &q), 3);
    assert!(q.stdout.is_empty() && q.stderr.is_empty(), "{q:?}");

    let dir = TempDir::new();
    let path = dir.path("bound.sock");
    let _bound = closed_unix(&path);
    let unix = format!("unix:{}", path.display());
    for argv in [vec!["2", unix.as_str()], vec!["-m", "2", unix.as_str()]] {
        let out = run("unix", Fdwatch::new(&argv));
        let err = stderr(&out);
        assert_eq!(exit_code("unix", &out), 3, "{argv:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("connect") && err.contains("ECONNREFUSED"),
            "{err}"
        );
    }

    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ok = format!("tcp:127.0.0.1:{}", l.local_addr().expect("addr").port());
    let out = run("connected", Fdwatch::new(["2", &ok]));
    assert_eq!(exit_code("connected", &out), 0, "{}", stderr(&out));

    let (code, evs, _) = run_json(
        "monitor",
        Fdwatch::new(["-m", "--format", "json", "2", &target]),
    );
    assert_eq!(of_kind(&evs, "connect").len(), 1, "{evs:?}");
    assert_eq!(
        code, 0,
        "monitor mode: the refusal is an event; all fds gone"
    );
}

/// A SPEC where TIMEOUT goes (`fdwatch /tmp/fifo`, as `tail -f` takes a path): the
/// usage line, then a tip naming the forms that watch it.
#[test]
fn a_path_where_timeout_goes_gets_a_tip() {
    let dir = TempDir::new();
    let fifo = dir.fifo("jobs.fifo");
    let fifo = fifo.to_string_lossy().into_owned();
    for (first, rest) in [
        ("/nonexistent/x", vec![]),
        (fifo.as_str(), vec![]),
        (fifo.as_str(), vec!["3r"]),
        ("0r", vec![]),
        ("tcp:127.0.0.1:80", vec![]),
    ] {
        let mut argv = vec![first];
        argv.extend(rest);
        let out = run(first, Fdwatch::new(&argv));
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(exit_code(first, &out), 2, "{err}");
        assert_eq!(lines.len(), 2, "{first}: {err}");
        assert!(
            lines[0].starts_with(&format!("fdwatch: timeout '{first}'")),
            "{err}"
        );
        assert!(lines[1].starts_with("tip: "), "{err}");
        for form in [format!("fdwatch - {first}"), format!("fdwatch 5 {first}")] {
            assert!(lines[1].contains(&form), "{first}: no {form:?} in {err}");
        }
    }
    // A bare word that is no file is more likely a mistyped duration: no tip.
    let out = run("word", Fdwatch::new(["fivesec", "0r"]));
    assert_one_line_error("word", &out, &["timeout 'fivesec'"]);
}

/// `fdwatch help` and `fdwatch help SUBCOMMAND` are `--help` and `SUBCOMMAND --help`
/// (they were "timeout 'help'"); an unknown one names the subcommands.
#[test]
fn help_subcommand_prints_the_help() {
    let text = |argv: &[&str]| {
        let out = run(&argv.join(" "), Fdwatch::new(argv));
        assert_eq!(
            exit_code(&argv.join(" "), &out),
            0,
            "{argv:?}: {}",
            stderr(&out)
        );
        assert!(!out.stdout.is_empty(), "{argv:?}");
        out.stdout
    };
    assert_eq!(text(&["help"]), text(&["--help"]));
    for sub in ["send", "bench", "relay", "pipeline"] {
        assert_eq!(text(&["help", sub]), text(&[sub, "--help"]), "help {sub}");
    }
    let out = run("help nope", Fdwatch::new(["help", "nope"]));
    assert_one_line_error(
        "help nope",
        &out,
        &["help 'nope'", "send", "bench", "relay", "pipeline"],
    );
}

/// Other tools' address types were opened as files (ENOENT): now refused by name,
/// with fdwatch's own types; `./` and a word not in the table stay paths.
#[test]
fn other_tools_address_types_are_refused_by_name() {
    for (spec, needles) in [
        ("TCP-LISTEN:8000", vec!["lowercase", "tcp-listen:8000"]),
        ("TCP:127.0.0.1:80", vec!["lowercase", "tcp:127.0.0.1:80"]),
        (
            "udp:127.0.0.1:53",
            vec!["unknown address type 'udp:'", "tcp-listen:"],
        ),
        ("sctp:127.0.0.1:9", vec!["unknown address type 'sctp:'"]),
        ("exec:/bin/true", vec!["unknown address type 'exec:'"]),
        ("open:/etc/hostname", vec!["write the path itself"]),
        ("abstract:x", vec!["unknown address type 'abstract:'"]),
        ("vsock:2:80", vec!["unknown address type 'vsock:'"]),
    ] {
        let out = run(spec, Fdwatch::new(["0", spec]));
        let mut all = needles.clone();
        all.push(spec);
        assert_one_line_error(spec, &out, &all);
        assert!(!stderr(&out).contains("ENOENT"), "{}", stderr(&out));
    }
    let dir = TempDir::new();
    for name in ["udp:x", "a:b"] {
        File::create(dir.path(name)).expect("create");
    }
    for spec in ["./udp:x", "a:b"] {
        let mut cmd = Fdwatch::new(["--format", "json", "0", spec]).into_command();
        let out = cmd
            .current_dir(&dir.0)
            .counted_output()
            .expect("run fdwatch");
        assert_eq!(out.status.code(), Some(0), "{spec}: {}", stderr(&out));
        assert_eq!(of_kind(&events(&out.stdout), "ready").len(), 1, "{spec}");
    }
    let abs = dir.path("udp:x").to_string_lossy().into_owned();
    let out = run("absolute", Fdwatch::new(["0", &abs]));
    assert_eq!(exit_code("absolute", &out), 0, "{}", stderr(&out));
}

/// A `sleep` that is killed when dropped.
fn sleeper(group: Option<i32>) -> KillOnDrop {
    let mut cmd = Command::new("sleep");
    cmd.arg("60")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(g) = group {
        cmd.process_group(g);
    }
    KillOnDrop(cmd.counted_spawn().expect("spawn sleep"))
}

/// `--pgid` with a member's pid (`$!` after `a | b &` is the last process, not the
/// group leader): that process's group, named in a note (JSON `pgid`). A pid in
/// fdwatch's own group (a shell without job control) is refused naming the group.
#[test]
fn pgid_takes_any_members_pid() {
    if !have("sleep", "pipeline --pgid") {
        return;
    }
    let leader = sleeper(Some(0));
    let lead = leader.0.id() as i32;
    let member = sleeper(Some(lead));
    let pid = member.0.id().to_string();
    let argv = ["pipeline", "--once", "--format", "json", "--pgid", &pid];
    let (code, evs, err) = run_json("member", Fdwatch::new(argv));
    assert_eq!(code, 0, "{err}");
    let snap = of_kind(&evs, "pipeline");
    assert_eq!(snap.len(), 1, "{evs:?}");
    assert_eq!(snap[0]["pgid"], lead, "{evs:?}");
    let pids: Vec<i64> = snap[0]["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .filter_map(|p| p["pid"].as_i64())
        .collect();
    assert_eq!(pids, [i64::from(lead), i64::from(member.0.id())]);

    let out = run("text", Fdwatch::new(["pipeline", "--once", "--pgid", &pid]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let note = format!("note: pid {pid} is no process group: watching its group {lead}");
    assert!(text.lines().any(|l| l == note), "{text}");

    let (_, evs, _) = run_json(
        "leader",
        Fdwatch::new([
            "pipeline",
            "--once",
            "--format",
            "json",
            "--pgid",
            &lead.to_string(),
        ]),
    );
    assert_eq!(of_kind(&evs, "pipeline")[0]["pgid"], lead, "{evs:?}");

    // In this test's own group, which fdwatch (its child) shares.
    let ours = sleeper(None);
    let pid = ours.0.id().to_string();
    let out = run(
        "own group",
        Fdwatch::new(["pipeline", "--once", "--pgid", &pid]),
    );
    let group = nix::unistd::getpgrp().to_string();
    assert_one_line_error(
        "own group",
        &out,
        &[&format!("process {pid} is in process group {group}"), "own"],
    );
}

/// `pipeline -q`: no output; the exit status answers: 1 when the last snapshot is
/// stuck (`yes | sleep`: the pipe is full and sleep never reads), 0 when it is not.
#[test]
fn pipeline_quiet_answers_stuck_by_its_status() {
    if !have("yes", "pipeline -q") || !have("sleep", "pipeline -q") {
        return;
    }
    let (r, w) = pipe();
    let writer = KillOnDrop(
        Command::new("yes")
            .stdout(File::from(w))
            .stderr(Stdio::null())
            .counted_spawn()
            .expect("spawn yes"),
    );
    let reader = KillOnDrop(
        Command::new("sleep")
            .arg("60")
            .stdin(File::from(r))
            .counted_spawn()
            .expect("spawn sleep"),
    );
    let pid = writer.0.id();
    wait_until(&format!("{pid} blocked writing"), || {
        syscall_nr(pid) == Some(libc::SYS_write)
    });
    let (w, s) = (writer.0.id().to_string(), reader.0.id().to_string());
    let out = run("stuck", Fdwatch::new(["pipeline", "-q", "--once", &w, &s]));
    assert_eq!(exit_code("stuck", &out), 1, "{}", stderr(&out));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let out = run(
        "stuck json",
        Fdwatch::new(["pipeline", "--once", "--format", "json", &w, &s]),
    );
    let evs = events(&out.stdout);
    assert_eq!(
        of_kind(&evs, "pipeline")[0]["verdict"]["state"],
        "stuck",
        "{evs:?}"
    );
    assert_eq!(exit_code("stuck json", &out), 1);

    let alone = sleeper(None);
    let pid = alone.0.id().to_string();
    let out = run(
        "idle",
        Fdwatch::new(["pipeline", "--quiet", "--once", &pid]),
    );
    assert_eq!(exit_code("idle", &out), 0, "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "{out:?}");
}

/// `relay -q`: no events; the relay still relays and ends with its status.
#[test]
fn relay_quiet_prints_nothing() {
    let target = TcpListener::bind("127.0.0.1:0").expect("bind");
    let to = format!(
        "tcp:127.0.0.1:{}",
        target.local_addr().expect("addr").port()
    );
    let (child, _dog, port) = listen_tcp("relay -q", |spec| {
        Fdwatch::new(["relay", "-q", "--count", "1", spec, &to])
    });
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (mut server, _) = target.accept().expect("accept");
    std::io::Write::write_all(&mut client, b"ping").expect("write");
    let mut got = [0u8; 4];
    std::io::Read::read_exact(&mut server, &mut got).expect("relayed");
    assert_eq!(&got, b"ping");
    drop(client);
    drop(server);
    let out = child.wait_with_output().expect("wait relay");
    assert_eq!(exit_code("relay -q", &out), 0, "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
