//! The JSON Lines schema, version 1: every event kind and every field, with what it
//! means. The man pages' JSON sections are generated from it, and a test serializes a
//! sample of every kind (src/output/schema/tests.rs) and compares its fields with this
//! table both ways, so the documentation cannot fall behind the output.

/// The `v` of every line; raised when a field changes meaning or goes away (new
/// fields and kinds keep it).
pub const VERSION: u32 = 1;

mod fields;
mod kinds;
mod pipeline;
#[cfg(test)]
mod tests;
pub use kinds::KINDS;

use crate::event::Family;

/// One row of the kinds table: a kind of JSON line, what it says and its fields.
pub struct KindRow {
    pub family: Family,
    pub event: &'static str,
    /// Also written by `fdwatch send` (relay kinds, from the client's side).
    pub send: bool,
    pub about: &'static str,
    /// (name, meaning), after the fields every line of the family has.
    pub fields: &'static [(&'static str, &'static str)],
}

/// The part of a row that the payload's `Payload` impl says: its family and its name.
const fn of<K: crate::event::Payload>() -> KindRow {
    KindRow {
        family: K::FAMILY,
        event: K::NAME,
        send: false,
        about: "",
        fields: &[],
    }
}

/// The fields every line has, first.
pub const COMMON: &[(&str, &str)] = &[
    ("v", "the schema version, 1"),
    ("event", "the kind of event"),
    (
        "t",
        "seconds since the start of the run, to the microsecond",
    ),
];

/// After COMMON on every relay (and send) line.
pub const RELAY_COMMON: &[(&str, &str)] = &[(
    "conn",
    "the connection, numbered from 1 (0: the relay itself)",
)];

/// Which page a JSON section is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    Watch,
    Relay,
    Send,
    Bench,
    Pipeline,
}

/// The man page section listing every kind `page`'s command writes and its fields.
pub fn man_section(page: Page) -> String {
    use std::fmt::Write as _;
    let (family, common): (Family, &[&[(&str, &str)]]) = match page {
        Page::Watch => (Family::Watch, &[COMMON]),
        Page::Relay | Page::Send => (Family::Relay, &[COMMON, RELAY_COMMON]),
        Page::Bench => (Family::Bench, &[COMMON]),
        Page::Pipeline => (Family::Pipeline, &[COMMON]),
    };
    let mut s = String::from(".SH \"JSON EVENTS\"\n");
    s.push_str(
        "With \\fB\\-\\-format json\\fR each event is one JSON object per line (JSON Lines). \
         Every line has:\n",
    );
    for (name, about) in common.iter().flat_map(|c| c.iter()) {
        let _ = write!(s, ".TP\n\\fB{name}\\fR\n{}\n", roff(about));
    }
    s.push_str(".PP\nThe kinds, each with its own fields:\n");
    let kinds = KINDS
        .iter()
        .filter(|k| k.family == family && (page != Page::Send || k.send));
    for k in kinds {
        let _ = write!(s, ".TP\n\\fB{}\\fR: {}\n", k.event, roff(k.about));
        for (i, (name, about)) in k.fields.iter().enumerate() {
            let sep = if i + 1 < k.fields.len() { ";" } else { "." };
            let _ = writeln!(s, "\\fB{name}\\fR: {}{sep}", roff(about));
        }
    }
    s
}

/// Plain text for roff: hyphens and backslashes escaped, no line starting with a dot.
fn roff(text: &str) -> String {
    let s = text.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}
