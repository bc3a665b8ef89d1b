//! Habits from other tools that fdwatch's grammar does not take, answered instead of
//! misread: `fdwatch help [SUBCOMMAND]` (as git and cargo have it), and a SPEC typed
//! where TIMEOUT is expected (`fdwatch /tmp/fifo`, as `tail -f` takes a path).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

use super::command;
use crate::escape;
use crate::spec::{self, PidFds, Target};
use crate::timeout;

/// `fdwatch help` is `fdwatch --help`, `fdwatch help SUB` is `fdwatch SUB --help`. clap's
/// own help subcommand stays off (the man pages would name an fdwatch-help(1) that does
/// not exist), so the word is rewritten here, before clap sees it. Only a first word
/// `help` counts: `fdwatch -m help` still watches a file named help.
pub(super) fn help_word(argv: Vec<OsString>) -> Result<Vec<OsString>, String> {
    if argv.get(1).map(OsString::as_os_str) != Some(OsStr::new("help")) {
        return Ok(argv);
    }
    let prog = argv[0].clone();
    let cmd = command();
    let names: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
    match &argv[2..] {
        [] => Ok(vec![prog, "--help".into()]),
        [sub] => match sub.to_str().and_then(|s| cmd.find_subcommand(s)) {
            Some(s) => Ok(vec![prog, s.get_name().into(), "--help".into()]),
            None => Err(format!(
                "help '{}': no such subcommand (fdwatch help, or one of: {})",
                escape::arg(sub),
                names.join(", ")
            )),
        },
        _ => Err(format!(
            "help takes one subcommand at most: fdwatch help [{}]",
            names.join("|")
        )),
    }
}

/// The tip for a first word that is no TIMEOUT but a SPEC: the two forms that watch it.
/// None when it is a timeout or a number, `pid:PID` (which needs none), or a bare word
/// that is not a file (more likely a mistyped duration or subcommand than a path).
pub(super) fn timeout_tip(first: &OsStr) -> Option<String> {
    // A number is a timeout out of range (`2147484`), not fd 2147484.
    let b = first.as_bytes();
    if first.to_str().is_some_and(|s| timeout::parse(s).is_ok()) || b.iter().all(u8::is_ascii_digit)
    {
        return None;
    }
    let spec = spec::parse(first).ok()?;
    match &spec.target {
        Target::Pid {
            fds: PidFds::Explain,
            ..
        } => return None,
        Target::Path(p) if !(p.as_os_str().as_bytes().contains(&b'/') || p.exists()) => {
            return None;
        }
        _ => {}
    }
    let w = escape::arg(first);
    Some(format!(
        "TIMEOUT comes first: fdwatch - {w} (wait forever), fdwatch 5 {w} (up to 5 s), \
         or fdwatch -m {w} (every change)"
    ))
}
