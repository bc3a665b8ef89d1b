//! Text lines folded to the terminal's width: a line longer than the width breaks at
//! its last space that fits (else at the width), and goes on indented under the text
//! column. Colour escapes take no room. Without a known width, lines pass whole.

use std::io::{self, Write};

pub struct Fold<W: Write> {
    out: W,
    /// None: lines pass as they are.
    width: Option<usize>,
    indent: usize,
    line: Vec<u8>,
}

impl<W: Write> Fold<W> {
    pub fn new(out: W, width: Option<usize>, indent: usize) -> Fold<W> {
        Fold {
            out,
            width,
            indent,
            line: Vec::new(),
        }
    }
}

impl<W: Write> Write for Fold<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(width) = self.width else {
            return self.out.write(buf);
        };
        self.line.extend_from_slice(buf);
        while let Some(end) = self.line.iter().position(|&b| b == b'\n') {
            let mut folded = Vec::with_capacity(end + 16);
            fold(&self.line[..end], width, self.indent, &mut folded);
            folded.push(b'\n');
            self.out.write_all(&folded)?;
            self.line.drain(..=end);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            let mut folded = Vec::with_capacity(line.len());
            fold(
                &line,
                self.width.unwrap_or(usize::MAX),
                self.indent,
                &mut folded,
            );
            self.out.write_all(&folded)?;
        }
        self.out.flush()
    }
}

/// Where each visible character of `line` starts (escape sequences skipped).
fn visible(line: &[u8]) -> Vec<usize> {
    let mut at = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        match line[i] {
            // CSI: ESC [ parameters, then one final byte in @..~.
            0x1b if line.get(i + 1) == Some(&b'[') => {
                i += 2;
                while i < line.len() && !(0x40..=0x7e).contains(&line[i]) {
                    i += 1;
                }
                i += 1;
            }
            // A UTF-8 continuation byte belongs to the character before.
            b if b & 0xc0 == 0x80 => i += 1,
            _ => {
                at.push(i);
                i += 1;
            }
        }
    }
    at
}

/// Appends `line` to `out` folded to `width` columns, continuation lines indented.
/// Escapes stay where they were, so a colour goes on across a break.
fn fold(line: &[u8], width: usize, indent: usize, out: &mut Vec<u8>) {
    let chars = visible(line);
    // A continuation must leave room to make progress.
    let indent = indent.min(width / 2);
    let mut start = 0; // index into chars of the current piece's first character
    let mut from = 0; // byte where the current piece starts (escapes before it included)
    let mut room = width.max(1);
    loop {
        if from > 0 {
            out.extend(std::iter::repeat_n(b' ', indent));
        }
        if chars.len() - start <= room {
            out.extend_from_slice(&line[from..]);
            return;
        }
        // Break at the last space within the room (not the piece's first character).
        let limit = start + room;
        let space = (start + 1..=limit).rev().find(|&c| line[chars[c]] == b' ');
        let mut end = space.unwrap_or(limit);
        let next = end;
        // Padding before the break is dropped too: no line ends in spaces.
        while space.is_some() && end > start + 1 && line[chars[end - 1]] == b' ' {
            end -= 1;
        }
        out.extend_from_slice(&line[from..chars[end]]);
        let end = next;
        start = end;
        from = chars[end];
        // Spaces at the break are dropped, not carried to the next line.
        while start < chars.len() && line[chars[start]] == b' ' {
            start += 1;
            from = chars[start - 1] + 1;
        }
        if start >= chars.len() {
            // Escapes after the last character (a colour reset) still go out.
            out.extend_from_slice(&line[from..]);
            return;
        }
        out.push(b'\n');
        room = (width - indent).max(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(line: &str, width: usize, indent: usize) -> String {
        let mut out = Vec::new();
        fold(line.as_bytes(), width, indent, &mut out);
        String::from_utf8(out).expect("utf-8 in, utf-8 out")
    }

    fn width_of(s: &str) -> usize {
        visible(s.as_bytes()).len()
    }

    #[test]
    fn short_lines_pass_whole() {
        assert_eq!(folded("a b c", 10, 2), "a b c");
        assert_eq!(folded("", 10, 2), "");
    }

    #[test]
    fn long_lines_break_at_spaces_and_indent() {
        let s = folded("aaaa bbbb cccc dddd", 10, 2);
        assert_eq!(s, "aaaa bbbb\n  cccc\n  dddd");
        // Padding before a break does not end the line.
        assert_eq!(folded("read      rawflags", 12, 2), "read\n  rawflags");
        for l in s.lines() {
            assert!(width_of(l) <= 10, "{l:?}");
        }
    }

    #[test]
    fn a_word_longer_than_the_width_is_cut() {
        let s = folded("abcdefghijklmnop", 6, 2);
        assert!(s.lines().all(|l| width_of(l) <= 6), "{s:?}");
        assert_eq!(s.replace(['\n', ' '], ""), "abcdefghijklmnop");
    }

    #[test]
    fn colour_escapes_take_no_room() {
        let line = "\x1b[32mread\x1b[0m abc";
        assert_eq!(folded(line, 8, 2), line);
        let s = folded("\x1b[2m   0.000078  \x1b[0mfd 3 data 5 bytes", 16, 4);
        assert!(s.lines().all(|l| width_of(l) <= 16), "{s:?}");
        assert!(s.ends_with("bytes"), "{s:?}");
    }

    #[test]
    fn characters_count_once_whatever_their_bytes() {
        assert_eq!(folded("ééé ééé", 7, 0), "ééé ééé");
        assert_eq!(folded("ééé ééé", 6, 0), "ééé\nééé");
    }
}
