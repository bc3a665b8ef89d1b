//! fdwatch's integration tests, one test binary: one module per subject, all sharing
//! the helpers in `common` (real kernel objects, the real binary with fds placed at
//! chosen numbers, its JSON Lines parsed). One binary links once, where a file per
//! subject linked one each.
//!
//! The modules' tests run as threads of one process, so nothing here may change what
//! the process as a whole holds for good (its working directory, environment, signal
//! dispositions or mask, an inheritable fd) or count what it holds: what a test needs
//! of the process is done once for all in `common` (`process_wide`), and every child is
//! started through it, its fork counted (`Fdwatch`, or `CountedSpawn` for another
//! program).
//!
//! Run one subject with a filter: `cargo test --test it relay::`.

mod common;

mod bench;
mod cli;
mod completions;
mod corpus;
mod docs;
mod durations;
mod edges;
mod exhaustion;
mod exhaustion_calls;
mod faults;
mod fifo_tee;
mod habits;
mod inject;
mod kinds;
mod listen;
mod monitor;
mod names;
mod pid;
mod pipeline;
mod props;
mod readiness;
mod relay;
mod relay_short;
mod resets;
mod scale;
mod schema;
mod send;
mod signals;
mod sockets;
mod startup;
mod stdout;
mod tlpi;
mod truth;
mod until;
mod urgent_model;
mod urgent_now;
mod uring;
mod wait;
