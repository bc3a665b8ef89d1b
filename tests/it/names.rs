//! Names cannot talk to the terminal. A FIFO whose name carries ESC, a
//! CSI colour sequence, an OSC title sequence ended by BEL, a C1 control as UTF-8
//! (U+009B), U+202E (RIGHT-TO-LEFT OVERRIDE) and an invalid UTF-8 byte, watched with
//! text output on a pseudo-terminal: everything fdwatch writes there is read back from
//! the master, fdwatch's own colours (SGR, `ESC [ digits/; m`) are taken out, and no
//! other control byte may remain; the name shows escaped as fdwatch(1) says. The
//! same run in JSON: every line parses, and undoing the escapes in `what` gives back
//! exactly the path's bytes. `--read=text` data with ESC and U+202E shows `\e` and
//! `\u{202e}`. A `unix-listen:` socket in a directory whose name holds ESC: its accept
//! event shows the path escaped.
//!
//! The pty slave's output processing (OPOST) is turned off, so what the master reads
//! is byte for byte what fdwatch wrote (no `\n` -> `\r\n`). Synchronization: `blocked`
//! (fdwatch waits before the writer opens), JSON lines, process exit; the master is
//! read by a thread until EIO (every slave end closed).

use std::ffi::OsStr;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::thread;

use crate::common::*;
use nix::errno::Errno;
use nix::sys::termios::{self, OutputFlags, SetArg};
use serde_json::Value;

/// ESC, a CSI colour, an OSC title ended by BEL, U+009B as UTF-8, U+202E, `x`, a lone
/// 0xff (invalid UTF-8).
const NASTY: &[u8] = b"a\x1b[31mred\x1b]0;pwned\x07\xc2\x9b\xe2\x80\xaex\xff";

/// Data for `--read=text`: ESC starting a CSI, U+202E, a newline.
const NASTY_DATA: &[u8] = b"hi \x1b[1m\xe2\x80\xae there\n";

// The contract's escaping, and its inverse -------------------------------------------

/// Bidirectional and format controls the contract escapes as `\u{N}`.
fn bidi_or_format(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{180e}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
            | '\u{fff9}'..='\u{fffb}'
    )
}

/// A character that must never reach the terminal raw: C0 (newline aside, which ends
/// fdwatch's own lines), DEL, C1 (U+0080..U+009F), bidi and format controls.
fn dangerous(c: char) -> bool {
    (c.is_control() && c != '\n') || bidi_or_format(c)
}

/// Bytes escaped by the contract's rules (what fdwatch must print for a name).
fn escape(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\x1b' => out.push_str("\\e"),
                c if c.is_ascii_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if c.is_control() || bidi_or_format(c) => {
                    out.push_str(&format!("\\u{{{:x}}}", c as u32))
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Undoes exactly the contract's escapes: `\\`, `\n`, `\r`, `\t`, `\e`, `\xNN` (one
/// byte), `\u{N}` (one character, UTF-8). Anything else after a backslash is an error.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        let Some((_, e)) = it.next() else {
            return Err(format!("a lone backslash at the end of {s:?}"));
        };
        match e {
            '\\' => out.push(b'\\'),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'e' => out.push(0x1b),
            'x' => {
                let hex: String = (0..2).filter_map(|_| it.next().map(|(_, c)| c)).collect();
                let ok = hex.len() == 2 && hex.chars().all(|c| c.is_ascii_hexdigit());
                if !ok {
                    return Err(format!("bad \\x escape at {i} in {s:?}"));
                }
                out.push(u8::from_str_radix(&hex, 16).expect("two hex digits"));
            }
            'u' => {
                if it.next().map(|(_, c)| c) != Some('{') {
                    return Err(format!("bad \\u escape at {i} in {s:?}"));
                }
                let mut hex = String::new();
                loop {
                    match it.next() {
                        Some((_, '}')) => break,
                        Some((_, h)) if h.is_ascii_hexdigit() && hex.len() < 6 => hex.push(h),
                        _ => return Err(format!("bad \\u escape at {i} in {s:?}")),
                    }
                }
                let ch = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("bad \\u{{{hex}}} at {i} in {s:?}"))?;
                let mut b = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut b).as_bytes());
            }
            other => return Err(format!("unknown escape \\{other} at {i} in {s:?}")),
        }
    }
    Ok(out)
}

#[test]
fn unescape_undoes_the_contract_escapes() {
    let table: &[(&str, &[u8])] = &[
        ("plain é", "plain é".as_bytes()),
        ("a\\\\b", b"a\\b"),
        ("\\n\\r\\t\\e", b"\n\r\t\x1b"),
        ("\\x00\\x07\\x7f\\x9b\\xff", b"\x00\x07\x7f\x9b\xff"),
        ("\\u{9b}\\u{80}\\u{202e}", "\u{9b}\u{80}\u{202e}".as_bytes()),
        ("a\\e[31mred\\e]0;pwned\\x07\\u{9b}\\u{202e}x\\xff", NASTY),
    ];
    for (escaped, bytes) in table {
        assert_eq!(unescape(escaped).as_deref(), Ok(*bytes), "{escaped:?}");
    }
    assert_eq!(
        escape(NASTY),
        "a\\e[31mred\\e]0;pwned\\x07\\u{9b}\\u{202e}x\\xff"
    );
    for bad in [
        "\\",
        "\\q",
        "\\x1",
        "\\xg0",
        "\\u9b",
        "\\u{}",
        "\\u{110000}",
        "\\u{d800}",
    ] {
        assert!(unescape(bad).is_err(), "{bad:?} must be refused");
    }
    // Round trips: every single byte, every pair of a byte and a C1/bidi character, and
    // pseudo-random byte strings; the escaped form never holds a dangerous character.
    let mut samples: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
    for c in [
        '\u{85}', '\u{9f}', '\u{200e}', '\u{2066}', '\u{feff}', 'é', '\\',
    ] {
        for b in 0..=255u8 {
            let mut v = c.to_string().into_bytes();
            v.push(b);
            samples.push(v);
        }
    }
    let mut rng = XorShift::new(16);
    for _ in 0..2000 {
        let n = rng.below(24) as usize;
        samples.push(rng.bytes(n));
    }
    for s in &samples {
        let e = escape(s);
        assert!(!e.chars().any(dangerous), "{s:?} escaped as {e:?}");
        assert_eq!(unescape(&e).as_deref(), Ok(&s[..]), "{s:?} via {e:?}");
    }
}

// The terminal ----------------------------------------------------------------------------

/// `out` with fdwatch's own colours (SGR: `ESC [ digits/; m`) taken out.
fn strip_sgr(out: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(out.len());
    let mut i = 0;
    while i < out.len() {
        if out[i] == 0x1b && out.get(i + 1) == Some(&b'[') {
            let mut j = i + 2;
            while j < out.len() && (out[j].is_ascii_digit() || out[j] == b';') {
                j += 1;
            }
            if out.get(j) == Some(&b'm') {
                i = j + 1;
                continue;
            }
        }
        v.push(out[i]);
        i += 1;
    }
    v
}

/// Fails naming each control byte or character left on the terminal (SGR aside).
fn assert_terminal_safe(case: &str, out: &[u8]) {
    let text = strip_sgr(out);
    let mut bad = Vec::new();
    let mut at = 0;
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            if dangerous(c) {
                bad.push(format!("U+{:04X} at byte {at}", c as u32));
            }
            at += c.len_utf8();
        }
        for b in chunk.invalid() {
            bad.push(format!("raw byte {b:#04x} (not UTF-8) at byte {at}"));
            at += 1;
        }
    }
    assert!(
        bad.is_empty(),
        "{case}: control bytes reached the terminal (fdwatch's SGR colours taken out): {bad:?}; \
         everything printed: {:?}",
        String::from_utf8_lossy(out)
    );
}

/// A pty whose slave passes bytes through unchanged (output processing off).
fn raw_output_pty() -> Pty {
    let p = pty();
    let mut t = termios::tcgetattr(p.slave.as_fd()).expect("tcgetattr");
    t.output_flags.remove(OutputFlags::OPOST);
    termios::tcsetattr(p.slave.as_fd(), SetArg::TCSANOW, &t).expect("tcsetattr");
    p
}

/// Reads the master until every slave end is closed (EIO).
fn read_master(master: OwnedFd) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut f = File::from(master);
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match f.read(&mut buf) {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.raw_os_error() == Some(Errno::EIO as i32) => return all,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading the pty master: {e}"),
            }
        }
    })
}

/// Runs `fdwatch ARGS` with stdout and stderr on a pty slave; `during(pid)` acts while
/// it runs. Returns its status and everything it printed.
fn on_pty(case: &str, args: &[&OsStr], during: impl FnOnce(u32)) -> (ExitStatus, Vec<u8>) {
    let Pty { master, slave } = raw_output_pty();
    let mut cmd = Fdwatch::new(args)
        .env("TERM", "xterm-256color")
        .into_command();
    cmd.stdout(Stdio::from(slave.try_clone().expect("dup slave")))
        .stderr(Stdio::from(slave.try_clone().expect("dup slave")));
    let mut child = cmd.counted_spawn().expect("spawn fdwatch");
    // Only the child holds the slave now: its exit gives the master EIO.
    drop(cmd);
    drop(slave);
    let dog = Watchdog::new(&child, WATCHDOG, case);
    let reader = read_master(master);
    during(child.id());
    let status = child.wait().expect("wait fdwatch");
    drop(dog);
    let out = reader.join().expect("the master's reader");
    (status, out)
}

// FIFOs ------------------------------------------------------------------------------------

/// A FIFO named `name` (any bytes) in `dir`.
fn nasty_fifo(dir: &TempDir, name: &[u8]) -> PathBuf {
    let p = dir.0.join(OsStr::from_bytes(name));
    nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    p
}

/// Once fdwatch waits, a writer opens the FIFO, writes `data` and closes.
fn write_once(case: &str, fifo: &Path, pid: u32, data: &[u8]) {
    blocked(pid, case);
    let w = fifo_writer(fifo, case);
    write(&w, data);
    drop(w);
}

fn path_bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

#[test]
fn fifo_name_on_a_terminal_is_escaped() {
    let dir = TempDir::new();
    let fifo = nasty_fifo(&dir, NASTY);
    let want = format!("fifo {}", escape(path_bytes(&fifo)));

    let case = "-m --color=auto 1 FIFO, text on a pty";
    let args: Vec<&OsStr> = ["-m", "--color=auto", "1"]
        .iter()
        .map(OsStr::new)
        .chain([fifo.as_os_str()])
        .collect();
    let (status, out) = on_pty(case, &args, |pid| write_once(case, &fifo, pid, b"hello\n"));
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: idle timeout after events: {status}"
    );
    assert!(
        out.contains(&0x1b),
        "{case}: no colour at all on a terminal (is this a pty run?): {:?}",
        String::from_utf8_lossy(&out)
    );
    assert_terminal_safe(case, &out);
    let text = String::from_utf8_lossy(&strip_sgr(&out)).into_owned();
    assert!(
        text.contains(&want),
        "{case}: the name escaped, {want:?}, in: {text:?}"
    );
    assert!(text.contains("\\e[31mred"), "{case}: {text:?}");
}

#[test]
fn fifo_name_and_data_in_text_mode_on_a_terminal() {
    let dir = TempDir::new();
    let fifo = nasty_fifo(&dir, NASTY);
    let want_name = format!("fifo {}", escape(path_bytes(&fifo)));
    let want_data = escape(NASTY_DATA);
    assert_eq!(want_data, "hi \\e[1m\\u{202e} there\\n");

    let case = "-m --color=auto --read=text 1 FIFO, text on a pty";
    let args: Vec<&OsStr> = ["-m", "--color=auto", "--read=text", "1"]
        .iter()
        .map(OsStr::new)
        .chain([fifo.as_os_str()])
        .collect();
    let (status, out) = on_pty(case, &args, |pid| write_once(case, &fifo, pid, NASTY_DATA));
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: idle timeout after events: {status}"
    );
    assert_terminal_safe(case, &out);
    let text = String::from_utf8_lossy(&strip_sgr(&out)).into_owned();
    assert!(
        text.contains(&want_name),
        "{case}: {want_name:?} in {text:?}"
    );
    assert!(
        text.contains(&want_data),
        "{case}: the data escaped, {want_data:?}, in: {text:?}"
    );
}

#[test]
fn fifo_name_and_data_in_json_give_the_bytes_back() {
    let dir = TempDir::new();
    let fifo = nasty_fifo(&dir, NASTY);
    let mut want_what = b"fifo ".to_vec();
    want_what.extend_from_slice(path_bytes(&fifo));

    let case = "-m --format json --read=text 1 FIFO";
    let args: Vec<&OsStr> = ["-m", "--format", "json", "--read=text", "1"]
        .iter()
        .map(OsStr::new)
        .chain([fifo.as_os_str()])
        .collect();
    let (mut child, _dog) = spawn(case, Fdwatch::new(&args));
    write_once(case, &fifo, child.id(), NASTY_DATA);
    let mut evs = EventStream::new(&mut child, case);
    evs.rest();
    let status = child.wait().expect("wait fdwatch");
    let all = evs.seen().to_vec();
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: idle timeout after events: {status}; {all:?}"
    );

    // Every event about the FIFO names it; each `what` gives back the exact bytes.
    let about: Vec<&Value> = all.iter().filter(|e| e["what"].is_string()).collect();
    assert!(
        about.iter().any(|e| e["event"] == "data"),
        "{case}: a data event: {all:?}"
    );
    for e in &about {
        let what = e["what"].as_str().expect("what");
        assert!(
            !what.chars().any(dangerous),
            "{case}: `what` holds a raw control character (JSON must carry the escaped \
             text): {what:?} in {e}"
        );
        let back = unescape(what).unwrap_or_else(|m| panic!("{case}: {m}; event {e}"));
        assert_eq!(
            back,
            want_what,
            "{case}: `what` unescaped ({:?}) is not b\"fifo \" + the path ({:?}): {e}",
            String::from_utf8_lossy(&back),
            String::from_utf8_lossy(&want_what)
        );
    }
    let text: String = of_kind(&all, "data")
        .iter()
        .map(|d| d["text"].as_str().expect("data text"))
        .collect();
    // The data is escaped once, by JSON itself: the exact bytes (valid UTF-8 here).
    assert_eq!(
        text.as_bytes(),
        NASTY_DATA,
        "{case}: --read=text data, exact: {all:?}"
    );
    let s = last_summary(case, &all);
    for row in s["bytes"].as_array().expect("summary bytes") {
        let what = row["what"].as_str().expect("summary what");
        assert_eq!(
            unescape(what).as_deref(),
            Ok(&want_what[..]),
            "{case}: the summary names the FIFO: {s}"
        );
    }
}

// A UNIX listener in a directory with ESC in its name --------------------------------------

/// The directory's name: ESC, a CSI colour, an OSC title ended by BEL.
const NASTY_DIR: &[u8] = b"d\x1b[31mred\x1b]0;t\x07";

#[test]
fn unix_listener_path_on_a_terminal_is_escaped() {
    let dir = TempDir::new();
    let sub = dir.0.join(OsStr::from_bytes(NASTY_DIR));
    std::fs::create_dir(&sub).expect("mkdir");
    let sock = sub.join("l.sock");
    let mut spec = b"unix-listen:".to_vec();
    spec.extend_from_slice(path_bytes(&sock));
    let spec = OsStr::from_bytes(&spec);
    let want = escape(path_bytes(&sock));

    let case = "-m --color=auto 1 unix-listen:PATH, text on a pty";
    let args: Vec<&OsStr> = ["-m", "--color=auto", "1"]
        .iter()
        .map(OsStr::new)
        .chain([spec])
        .collect();
    let (status, out) = on_pty(case, &args, |pid| {
        blocked(pid, case);
        let c = UnixStream::connect(&sock)
            .unwrap_or_else(|e| panic!("{case}: connect to the listener: {e}"));
        drop(c);
    });
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: idle timeout after events: {status}"
    );
    assert_terminal_safe(case, &out);
    let text = String::from_utf8_lossy(&strip_sgr(&out)).into_owned();
    let lines_with_path: Vec<&str> = text.lines().filter(|l| l.contains(&want)).collect();
    assert!(
        lines_with_path.iter().any(|l| l.contains("accept")),
        "{case}: an accept line naming {want:?}: {text:?}"
    );

    // The same in JSON: the accept event's `what` gives the path's bytes back. (Another
    // socket name: this test is not about the first run's file being removed.)
    let sock = sub.join("j.sock");
    let mut spec = b"unix-listen:".to_vec();
    spec.extend_from_slice(path_bytes(&sock));
    let spec = OsStr::from_bytes(&spec);
    let case = "-m --format json 1 unix-listen:PATH";
    let args: Vec<&OsStr> = ["-m", "--format", "json", "1"]
        .iter()
        .map(OsStr::new)
        .chain([spec])
        .collect();
    let (mut child, _dog) = spawn(case, Fdwatch::new(&args));
    blocked(child.id(), case);
    let mut evs = EventStream::new(&mut child, case);
    let c = UnixStream::connect(&sock)
        .unwrap_or_else(|e| panic!("{case}: connect to the listener (second run): {e}"));
    let acc = evs.next_named("accept");
    drop(c);
    evs.rest();
    let status = child.wait().expect("wait fdwatch");
    assert_eq!(
        status.code(),
        Some(0),
        "{case}: idle timeout after events: {status}"
    );
    let what = acc["what"].as_str().expect("accept what");
    assert!(!what.chars().any(dangerous), "{case}: raw control in {acc}");
    let back = unescape(what).unwrap_or_else(|m| panic!("{case}: {m}; {acc}"));
    let path = path_bytes(&sock);
    assert!(
        back.windows(path.len()).any(|w| w == path),
        "{case}: the accept event's what, unescaped ({:?}), holds the path: {acc}",
        String::from_utf8_lossy(&back)
    );
}
