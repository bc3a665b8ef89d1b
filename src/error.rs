//! Errors as values: each names the argument or the fd and the call; one line each.

use std::fmt;

use nix::errno::Errno;

#[derive(Debug)]
pub enum Error {
    /// A bad command line or a request fdwatch refuses (exit 2).
    Usage(String),
    /// A system call failed: `what` names the fd or argument, `call` the syscall.
    Sys {
        what: String,
        call: &'static str,
        errno: Errno,
    },
    /// Writing events failed (a closed stdout is a quiet normal end, see main).
    Output(std::io::Error),
}

impl Error {
    pub fn sys(what: impl Into<String>, call: &'static str, errno: Errno) -> Error {
        Error::Sys {
            what: what.into(),
            call,
            errno,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => f.write_str(m),
            Error::Sys { what, call, errno } => {
                write!(f, "{what}: {call}: {} ({errno:?})", errno.desc())
            }
            // In the words of the other system errors: "No space left on device (ENOSPC)".
            Error::Output(e) => match e.raw_os_error().map(Errno::from_raw) {
                Some(errno) => write!(f, "stdout: write: {} ({errno:?})", errno.desc()),
                None => write!(f, "stdout: write: {e}"),
            },
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A message quoting an argument, made one line and terminal-safe (`escape::message`).
pub use crate::escape::message as shown;
