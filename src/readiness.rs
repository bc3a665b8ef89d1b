//! What one wait says about one fd: normalized conditions plus the backend's raw flags.

use std::fmt;

use nix::libc;

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
        Self::NAMES
            .into_iter()
            .filter(move |(c, _)| self.contains(*c))
            .map(|(_, n)| n)
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

/// The backend's own answer, kept raw so the user sees what the kernel said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raw {
    /// select/pselect: membership in the read, write and except sets.
    Select { r: bool, w: bool, x: bool },
    /// poll/ppoll revents. `fallback` marks fds epoll refused and poll checked instead.
    Poll { revents: i16, fallback: bool },
    /// epoll events as epoll_wait returned them (never the registration's EPOLLET or
    /// EPOLLONESHOT: those are how fdwatch asked, not what the kernel said).
    Epoll { events: u32 },
}

const POLL_NAMES: [(i16, &str); 10] = [
    (libc::POLLIN, "POLLIN"),
    (libc::POLLPRI, "POLLPRI"),
    (libc::POLLOUT, "POLLOUT"),
    (libc::POLLRDHUP, "POLLRDHUP"),
    (libc::POLLERR, "POLLERR"),
    (libc::POLLHUP, "POLLHUP"),
    (libc::POLLNVAL, "POLLNVAL"),
    (libc::POLLRDNORM, "POLLRDNORM"),
    (libc::POLLRDBAND, "POLLRDBAND"),
    (libc::POLLWRNORM, "POLLWRNORM"),
];

const EPOLL_NAMES: [(u32, &str); 6] = [
    (libc::EPOLLIN as u32, "EPOLLIN"),
    (libc::EPOLLPRI as u32, "EPOLLPRI"),
    (libc::EPOLLOUT as u32, "EPOLLOUT"),
    (libc::EPOLLRDHUP as u32, "EPOLLRDHUP"),
    (libc::EPOLLERR as u32, "EPOLLERR"),
    (libc::EPOLLHUP as u32, "EPOLLHUP"),
];

/// Writes `A|B|C` for the named bits of `bits`, and any unnamed rest in hex.
fn write_flags<T>(f: &mut fmt::Formatter<'_>, bits: T, names: &[(T, &str)]) -> fmt::Result
where
    T: Copy
        + PartialEq
        + Default
        + fmt::LowerHex
        + std::ops::BitAnd<Output = T>
        + std::ops::Not<Output = T>,
{
    let mut rest = bits;
    let mut first = true;
    for &(bit, name) in names {
        if bits & bit != T::default() {
            if !first {
                f.write_str("|")?;
            }
            f.write_str(name)?;
            first = false;
            rest = rest & !bit;
        }
    }
    if rest != T::default() {
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

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Raw::Select { r, w, x } => {
                let c = |on, ch| if on { ch } else { '-' };
                write!(f, "{}{}{}", c(r, 'R'), c(w, 'W'), c(x, 'X'))
            }
            // RDNORM/WRNORM are only shown when the plain bit is absent, to keep lines short.
            Raw::Poll { revents, .. } => {
                let mut shown = revents;
                if revents & libc::POLLIN != 0 {
                    shown &= !libc::POLLRDNORM;
                }
                if revents & libc::POLLOUT != 0 {
                    shown &= !libc::POLLWRNORM;
                }
                write_flags(f, shown, &POLL_NAMES)
            }
            Raw::Epoll { events } => write_flags(f, events, &EPOLL_NAMES),
        }
    }
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
    fn raw_text() {
        let sel = Raw::Select {
            r: true,
            w: false,
            x: true,
        };
        assert_eq!(sel.to_string(), "R-X");
        let p = Raw::Poll {
            revents: libc::POLLIN | libc::POLLHUP | libc::POLLRDNORM,
            fallback: false,
        };
        assert_eq!(p.to_string(), "POLLIN|POLLHUP");
        let e = Raw::Epoll {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP) as u32,
        };
        assert_eq!(e.to_string(), "EPOLLIN|EPOLLRDHUP");
        let unknown = Raw::Poll {
            revents: 0x4000,
            fallback: false,
        };
        assert_eq!(unknown.to_string(), "0x4000");
        let none = Raw::Poll {
            revents: 0,
            fallback: false,
        };
        assert_eq!(none.to_string(), "0");
    }
}
