//! What one wait says about one fd: normalized conditions plus the backend's raw flags.

use std::fmt;

use serde::{Serialize, Serializer};

/// Normalized ready conditions, in the order they are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conditions(u8);

impl Conditions {
    pub const READ: Conditions = Conditions(1);
    pub const WRITE: Conditions = Conditions(1 << 1);
    pub const URGENT: Conditions = Conditions(1 << 2);
    pub const HANGUP: Conditions = Conditions(1 << 3);
    pub const RDHUP: Conditions = Conditions(1 << 4);
    pub const ERROR: Conditions = Conditions(1 << 5);
    pub const INVALID: Conditions = Conditions(1 << 6);

    const NAMES: [(Conditions, &'static str); 7] = [
        (Conditions::READ, "read"),
        (Conditions::WRITE, "write"),
        (Conditions::URGENT, "urgent"),
        (Conditions::HANGUP, "hangup"),
        (Conditions::RDHUP, "rdhup"),
        (Conditions::ERROR, "error"),
        (Conditions::INVALID, "invalid"),
    ];

    pub const fn empty() -> Conditions {
        Conditions(0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether any of `other`'s conditions is set.
    pub fn intersects(self, other: Conditions) -> bool {
        self.0 & other.0 != 0
    }

    pub fn contains(self, other: Conditions) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn without(self, other: Conditions) -> Conditions {
        Conditions(self.0 & !other.0)
    }

    pub fn set_if(&mut self, on: bool, c: Conditions) {
        if on {
            self.0 |= c.0;
        }
    }

    /// The condition words that are set, in canonical order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        self.each().map(|(_, n)| n)
    }

    /// Each condition that is set, alone, with its word, in canonical order.
    pub fn each(self) -> impl Iterator<Item = (Conditions, &'static str)> {
        Self::NAMES
            .into_iter()
            .filter(move |(c, _)| self.contains(*c))
    }
}

/// In JSON: the list of words, `["read","hangup"]`.
impl Serialize for Conditions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

impl std::ops::BitOr for Conditions {
    type Output = Conditions;
    fn bitor(self, rhs: Conditions) -> Conditions {
        Conditions(self.0 | rhs.0)
    }
}

/// `read write` — the words joined by spaces.
impl fmt::Display for Conditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(n)?;
        }
        Ok(())
    }
}

/// Which conditions a watcher asks for: the `r`, `w`, `e` of a SPEC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Interest {
    pub read: bool,
    pub write: bool,
    pub urgent: bool,
}

impl Interest {
    /// Nothing asked: poll still reports a hang-up, an error or an invalid fd.
    pub const NONE: Interest = Interest {
        read: false,
        write: false,
        urgent: false,
    };

    pub const READ: Interest = Interest {
        read: true,
        write: false,
        urgent: false,
    };

    pub const WRITE: Interest = Interest {
        read: false,
        write: true,
        urgent: false,
    };

    /// Urgent data alone (a parked socket's doorbell).
    pub const URGENT: Interest = Interest {
        read: false,
        write: false,
        urgent: true,
    };

    /// Sockets watch for data and urgent data unless told otherwise.
    pub const SOCKET: Interest = Interest {
        read: true,
        write: false,
        urgent: true,
    };

    pub fn merge(self, other: Interest) -> Interest {
        Interest {
            read: self.read || other.read,
            write: self.write || other.write,
            urgent: self.urgent || other.urgent,
        }
    }

    /// The condition words for these letters: read, write, urgent.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        [
            (self.read, "read"),
            (self.write, "write"),
            (self.urgent, "urgent"),
        ]
        .into_iter()
        .filter(|&(on, _)| on)
        .map(|(_, n)| n)
    }

    pub fn is_empty(self) -> bool {
        !(self.read || self.write || self.urgent)
    }
}

/// In JSON: the list of words, `["read","urgent"]`.
impl Serialize for Interest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// `rwe` letters, as a SPEC writes them.
impl fmt::Display for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, c) in [(self.read, "r"), (self.write, "w"), (self.urgent, "e")] {
            if on {
                f.write_str(c)?;
            }
        }
        Ok(())
    }
}

/// The wait call's own answer for one fd, kept raw so the user sees what the kernel
/// said. Opaque above the backends: its bits mean something only to the backend that
/// made it, which also says how they print (`POLLIN|POLLHUP`, `R-X`, `EPOLLIN`).
#[derive(Clone, Copy)]
pub struct Raw {
    bits: u32,
    show: fn(u32, &mut fmt::Formatter<'_>) -> fmt::Result,
    /// Checked by another call because the backend's own refused the fd (which one:
    /// the backend's `Caps::fallback`).
    pub fallback: bool,
}

/// Another call checked an fd because the backend's own refused it (epoll refuses
/// files and devices: poll checks them), as that backend says it: the call, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fallback {
    pub by: &'static str,
    pub why: &'static str,
}

/// In JSON: the call that checked the fd.
impl Serialize for Fallback {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.by)
    }
}

impl Raw {
    pub fn new(bits: u32, show: fn(u32, &mut fmt::Formatter<'_>) -> fmt::Result) -> Raw {
        Raw {
            bits,
            show,
            fallback: false,
        }
    }

    /// Marks an fd the backend refused and another call checked instead.
    pub fn fallback(self, fallback: bool) -> Raw {
        Raw { fallback, ..self }
    }
}

/// In JSON: as the backend prints it, `"POLLIN|POLLHUP"`.
impl Serialize for Raw {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.show)(self.bits, f)
    }
}

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Raw({self})")
    }
}

/// Writes `A|B|C` for the named bits of `bits`, and any unnamed rest in hex (`0` for
/// none): how the backends print flag words.
pub fn write_flags(f: &mut fmt::Formatter<'_>, bits: u32, names: &[(u32, &str)]) -> fmt::Result {
    let mut rest = bits;
    let mut first = true;
    for &(bit, name) in names {
        if bits & bit != 0 {
            if !first {
                f.write_str("|")?;
            }
            f.write_str(name)?;
            first = false;
            rest &= !bit;
        }
    }
    if rest != 0 {
        if !first {
            f.write_str("|")?;
        }
        write!(f, "{rest:#x}")?;
        first = false;
    }
    if first {
        f.write_str("0")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_order() {
        let c = Conditions::HANGUP | Conditions::READ | Conditions::INVALID;
        assert_eq!(c.to_string(), "read hangup invalid");
        assert_eq!(Conditions::empty().to_string(), "");
    }

    #[test]
    fn flag_words() {
        struct W(u32);
        impl fmt::Display for W {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_flags(f, self.0, &[(1, "A"), (2, "B")])
            }
        }
        assert_eq!(W(3).to_string(), "A|B");
        assert_eq!(W(0x4001).to_string(), "A|0x4000");
        assert_eq!(W(0).to_string(), "0");
        let i = Interest::SOCKET.merge(Interest::WRITE);
        assert_eq!(i.to_string(), "rwe");
        assert_eq!(i.names().collect::<Vec<_>>(), ["read", "write", "urgent"]);
    }
}
