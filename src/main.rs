//! The fdwatch binary: parse, run, exit with the status.
//!
//! `no_main`: a one-shot check is mostly process start-up, and std's own `main`
//! (reading /proc/self/maps to place a stack guard, an alternate signal stack) costs
//! about as much again as the C reference's whole run. What of it fdwatch relies on is
//! done here: SIGPIPE ignored (a closed stdout is an EPIPE, reported), a panic caught
//! and turned into exit status 101, stdout flushed.

#![no_main]

use std::io::Write;

use fdwatch::cli::{self, Parsed};
use nix::sys::signal::{SigHandler, Signal, signal};

#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    // SAFETY: SIG_IGN for SIGPIPE, before any thread exists; what std's main does.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
    // std captures argv at start-up on Linux even without its main.
    let code = std::panic::catch_unwind(|| match cli::parse(std::env::args_os()) {
        Parsed::Run(command) => fdwatch::run(*command),
        Parsed::Exit(code) => code,
    })
    .unwrap_or(101);
    let _ = std::io::stdout().flush();
    std::ffi::c_int::from(code)
}
