//! The fdwatch binary: parse, run, exit with the status.

use std::process::ExitCode;

use fdwatch::cli::{self, Parsed};

fn main() -> ExitCode {
    ExitCode::from(match cli::parse(std::env::args_os()) {
        Parsed::Run(command) => fdwatch::run(*command),
        Parsed::Exit(code) => code,
    })
}
