//! A one-shot check is mostly process start-up: what it does before its one wait is
//! only what it needs (docs/performance.md has the figures). Each assertion names a
//! cut that start-up once paid for.

use std::os::fd::AsFd;

use crate::common::*;

/// `fdwatch 0 0r 1w` on a pipe: its system calls, recorded by strace.
#[test]
fn a_one_shot_check_makes_only_the_calls_it_needs() {
    if !have("strace", "a_one_shot_check_makes_only_the_calls_it_needs") {
        return;
    }
    let dir = TempDir::new();
    let trace = dir.0.join("trace");
    let (r, w) = pipe();
    write(&w, b"x");
    let out = run(
        "fdwatch 0 0r 1w under strace",
        Fdwatch::new(["--format", "json", "0", "0r", "1w"])
            .under_strace(&trace, &[trace_filter("all")])
            .fd(r.as_fd(), 0),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(of_kind(&events(&out.stdout), "ready").len(), 2, "{out:?}");
    let calls = std::fs::read_to_string(&trace).expect("the trace");
    let count = |needle: &str| calls.lines().filter(|l| l.contains(needle)).count();
    // std's own main read /proc/self/maps for its stack guard and set an alternate
    // signal stack; fdwatch has its own main.
    assert_eq!(count("/proc/self/maps"), 0, "{calls}");
    assert_eq!(count("sigaltstack("), 0, "{calls}");
    // A seeded hash map asks the kernel for its seed (GRND_INSECURE); the keys here
    // are the user's own specs.
    assert_eq!(count("GRND_INSECURE"), 0, "{calls}");
    // The backend that rechecks fds which stay ready is made only if one is parked.
    assert_eq!(count("epoll_create1("), 1, "{calls}");
}

/// The binary is linked static and not position-independent (.cargo/config.toml): a
/// static-pie relocates its own pointers at every start.
#[test]
fn the_binary_needs_no_relocation_at_start() {
    let elf = std::fs::read(env!("CARGO_BIN_EXE_fdwatch")).expect("the binary");
    assert_eq!(&elf[..4], b"\x7fELF");
    // e_type: 2 is ET_EXEC (fixed addresses), 3 ET_DYN (a PIE, or a shared object).
    assert_eq!(u16::from_le_bytes([elf[16], elf[17]]), 2, "e_type");
    // No PT_INTERP (a program header of type 3): nothing to load it.
    let phoff = u64::from_le_bytes(elf[32..40].try_into().expect("e_phoff")) as usize;
    let phentsize = usize::from(u16::from_le_bytes([elf[54], elf[55]]));
    let phnum = usize::from(u16::from_le_bytes([elf[56], elf[57]]));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let p_type = u32::from_le_bytes(elf[at..at + 4].try_into().expect("p_type"));
        assert_ne!(p_type, 3, "PT_INTERP: the binary is linked dynamically");
    }
}
