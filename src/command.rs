//! What one command line asks for, typed: the command line's only product and `run`'s
//! only input. Every refusal of the command line came before one of these exists, so
//! each config holds only what can run (parsed endpoints, a book program for
//! `--format tlpi`).

use crate::{bench, explain, pipeline, relay, send, watch};

#[derive(Clone, Debug)]
pub enum Command {
    /// `fdwatch [-m] TIMEOUT SPEC...`
    Watch(watch::Config),
    /// `fdwatch pid:PID` alone.
    Explain(explain::Config),
    Relay(relay::Config),
    Send(send::Config),
    Bench(bench::Config),
    Pipeline(pipeline::Config),
    /// `--generate WHAT`: a man page or completions, already rendered.
    Generate(Generated),
}

/// A file `--generate` prints.
#[derive(Clone, Debug)]
pub struct Generated {
    /// `--generate man`, as a failed write names it.
    pub what: String,
    pub bytes: Vec<u8>,
}
