//! The exit statuses of each command, one table per command: `--help` prints the
//! short words, the man page's EXIT STATUS section the words and the details.

/// (status, what it means, details for the man page).
pub(super) type Table = &'static [(&'static str, &'static str, &'static str)];

const USAGE: (&str, &str, &str) = (
    "2",
    "a usage or system error",
    "One line on standard error naming the argument as typed, or the fd and the call \
     that failed.",
);
const SIGNAL: (&str, &str, &str) = ("128+N", "ended by signal N", "");

pub const WATCH: Table = &[
    (
        "0",
        "something was ready; with -m, something was reported before the idle TIMEOUT, \
         or a normal end",
        "An invalid fd counts. A normal end: every fd gone, --count events, --once's end \
         of file, a reader of standard output that left.",
    ),
    (
        "1",
        "nothing was ready before TIMEOUT (with -m: before the idle TIMEOUT)",
        "With --until, the idle TIMEOUT is 1 whatever was reported: the condition never \
         came.",
    ),
    (
        "2",
        USAGE.1,
        "One line on standard error naming the argument as typed, or the fd and the call \
         that failed (read, recv(MSG_OOB), splice...). A read that fails (EIO, say) ends \
         the run so; a connection that is reset or times out is an error event for that \
         fd and the run goes on.",
    ),
    (
        "3",
        "a connect failed (tcp:, unix:), in one-shot mode",
        "Refused, unreachable or timed out, whatever else was ready in that wait. A \
         connect that fails at once (a UNIX socket nobody listens on, or no socket at \
         that path) is 3 in monitor mode too, with one line on standard error.",
    ),
    (
        "10-18",
        "--until: the condition that ended the run",
        "10 read, 11 write, 12 urgent, 13 hangup, 14 rdhup, 15 error, 16 eof, 17 signal, \
         18 accept.",
    ),
    SIGNAL,
];

pub const RELAY: Table = &[
    (
        "0",
        "a normal end",
        "After --count connections were served and closed, or --idle with no traffic.",
    ),
    USAGE,
    (
        "128+N",
        "ended by signal N",
        "SIGINT, SIGTERM, SIGHUP: after the summary, the relay dies by the same signal.",
    ),
];

pub const SEND: Table = &[
    (
        "0",
        "every step was sent",
        "With --read-replies, the server also closed (or reset) the connection.",
    ),
    (
        "2",
        USAGE.1,
        "A refused connect too: one line on standard error naming the address and the call.",
    ),
    SIGNAL,
];

pub const BENCH: Table = &[
    ("0", "the table was measured and printed", ""),
    USAGE,
    SIGNAL,
];

pub const PIPELINE: Table = &[
    (
        "0",
        "the last snapshot's verdict is not stuck",
        "Flowing, idle, or done (every process is gone).",
    ),
    (
        "1",
        "the last snapshot's verdict is stuck",
        "With --once or --count (a live view ends when every process is gone); with -q \
         this is the whole answer.",
    ),
    (
        "2",
        USAGE.1,
        "Also when none of the processes can be inspected, or --pgid names a process of \
         fdwatch's own group.",
    ),
    SIGNAL,
];

/// `text` (a command's `--help` epilogue), then `Exit status:` and one item per
/// status, folded to the width of the rest (88 columns).
pub fn after_help(text: &str, t: Table) -> String {
    let mut out = format!("{text}\n\nExit status:");
    for (status, what, _) in t {
        let mut line = format!("  {status:<6}");
        for word in what.split(' ') {
            if line.len() + 1 + word.len() > 88 {
                out.push('\n');
                out.push_str(&line);
                line = " ".repeat(8);
            }
            line.push(' ');
            line.push_str(word);
        }
        out.push('\n');
        out.push_str(&line);
    }
    out
}

/// The man page's EXIT STATUS section (roff).
pub fn man(t: Table) -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    for (status, what, more) in t {
        let text = format!("{}. {more}", upper_first(what));
        s.push_str(&format!(
            ".TP\n{}\n{}\n",
            roff(status),
            roff(text.trim_end())
        ));
    }
    s
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// Plain words for roff: hyphens escaped, option names in bold.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    let words: Vec<String> = escaped
        .split(' ')
        .map(|w| {
            let bare = w.trim_end_matches([',', '.', ':', ';', ')']);
            match bare.strip_prefix("\\-\\-").or(bare.strip_prefix("\\-")) {
                Some(name) if name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) => {
                    format!("\\fB{bare}\\fR{}", &w[bare.len()..])
                }
                _ => w.to_owned(),
            }
        })
        .collect();
    words.join(" ")
}
