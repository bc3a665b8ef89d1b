//! How untrusted text is shown: file names, peer addresses, process names and data
//! never reach the terminal raw. Control characters (C0, DEL, C1), Unicode
//! bidirectional and format controls, and invalid UTF-8 are escaped.
//!
//! `bytes` is lossless (a backslash is doubled), so JSON, which carries the same
//! escaped text, gives the exact bytes back: undo `\\`, `\n`, `\r`, `\t`, `\e`, `\xNN`
//! (one byte) and `\u{N}` (one character). `message` escapes the same characters
//! but keeps backslashes, for one-line messages that quote an argument.

use std::fmt::Write as _;

/// Characters that can move the cursor, recolour, retitle or reorder a terminal's text.
fn dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
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

/// `c`, which is dangerous, in its escaped form.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x1b' => out.push_str("\\e"),
        // ASCII controls are one byte each: `\xNN` names it exactly.
        c if c.is_ascii() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// Bytes as one line of terminal-safe text, losslessly: printable UTF-8 kept, the
/// rest escaped (see the module comment).
pub fn bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if dangerous(c) => push_escaped(&mut out, c),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// `s` with dangerous characters escaped and backslashes kept: for messages, which are
/// read, not parsed.
pub fn message(s: &str) -> String {
    if !s.chars().any(dangerous) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if dangerous(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// A command-line argument as a message quotes it: `message`, with each byte that is
/// not UTF-8 as `\xNN` (never U+FFFD, which would hide which bytes were typed).
pub fn arg(s: &std::ffi::OsStr) -> String {
    let mut out = String::new();
    for chunk in std::os::unix::ffi::OsStrExt::as_bytes(s).utf8_chunks() {
        out.push_str(&message(chunk.valid()));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// An OS string (a path, a /proc link) as terminal-safe text, losslessly.
pub fn os(s: &std::ffi::OsStr) -> String {
    bytes(std::os::unix::ffi::OsStrExt::as_bytes(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_table() {
        let table: &[(&[u8], &str)] = &[
            (b"hello\n", "hello\\n"),
            (b"a\tb\\c\r", "a\\tb\\\\c\\r"),
            (b"\x00\x1b\x7f\x07", "\\x00\\e\\x7f\\x07"),
            ("héllo".as_bytes(), "héllo"),
            (b"\xff\xfeok", "\\xff\\xfeok"),
            // A C1 control as UTF-8 and as a lone byte differ.
            (b"\xc2\x9b", "\\u{9b}"),
            (b"\x9b", "\\x9b"),
            (
                "a\u{202e}b\u{2066}\u{200b}".as_bytes(),
                "a\\u{202e}b\\u{2066}\\u{200b}",
            ),
            (b"\x1b[31mred\x1b]0;t\x07", "\\e[31mred\\e]0;t\\x07"),
        ];
        for (input, want) in table {
            assert_eq!(bytes(input), *want, "{input:?}");
        }
    }

    #[test]
    fn arguments_quote_bytes_that_are_not_utf8() {
        use std::os::unix::ffi::OsStrExt;
        let table: &[(&[u8], &str)] = &[
            (b"a\xffb", "a\\xffb"),
            (b"unix:/tmp/\xc3(x", "unix:/tmp/\\xc3(x"),
            (b"plain \\ \xc3\xa9", "plain \\ \u{e9}"),
            (b"\x1b[1m\xfe", "\\e[1m\\xfe"),
        ];
        for (input, want) in table {
            assert_eq!(arg(std::ffi::OsStr::from_bytes(input)), *want, "{input:?}");
        }
    }

    #[test]
    fn message_keeps_backslashes() {
        assert_eq!(message("a\nb\té"), "a\\nb\\té");
        assert_eq!(message("\x1b[31m"), "\\e[31m");
        assert_eq!(message("plain \\ é"), "plain \\ é");
        assert_eq!(message("x\u{202e}y"), "x\\u{202e}y");
    }
}
