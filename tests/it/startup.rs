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
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_fdwatch")).expect("the binary");
    let elf = Elf(&bytes);
    assert_eq!(&bytes[..4], b"\x7fELF");
    // e_type: 2 is ET_EXEC (fixed addresses), 3 ET_DYN (a PIE, or a shared object).
    assert_eq!(elf.u16(16), 2, "e_type");
    // No PT_INTERP (a program header of type 3): nothing to load it.
    let (phoff, phentsize, phnum) = (elf.u64(32), elf.u16(54), elf.u16(56));
    for i in 0..phnum {
        let p_type = elf.u32(phoff + i * phentsize);
        assert_ne!(p_type, 3, "PT_INTERP: the binary is linked dynamically");
    }
}

/// A 64-bit little-endian ELF file's bytes, read as fields at their offsets.
struct Elf<'a>(&'a [u8]);

impl Elf<'_> {
    fn u16(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.0[at], self.0[at + 1]]))
    }

    fn u32(&self, at: usize) -> usize {
        u32::from_le_bytes(self.0[at..at + 4].try_into().expect("u32")) as usize
    }

    fn u64(&self, at: usize) -> usize {
        u64::from_le_bytes(self.0[at..at + 8].try_into().expect("u64")) as usize
    }

    /// The sections by name: (name, address, size).
    fn sections(&self) -> Vec<(String, u64, u64)> {
        let (shoff, shentsize, shnum) = (self.u64(40), self.u16(58), self.u16(60));
        let header = |i: usize| shoff + i * shentsize;
        let strtab = self.u64(header(self.u16(62)) + 24);
        (0..shnum)
            .map(|i| {
                let h = header(i);
                let name = &self.0[strtab + self.u32(h)..];
                let end = name.iter().position(|&b| b == 0).expect("a NUL-ended name");
                let name = String::from_utf8_lossy(&name[..end]).into_owned();
                (name, self.u64(h + 16) as u64, self.u64(h + 32) as u64)
            })
            .collect()
    }
}

/// The binary's symbols with their addresses, as nm lists them.
fn symbols() -> Vec<(u64, String)> {
    let out = std::process::Command::new("nm")
        .arg(env!("CARGO_BIN_EXE_fdwatch"))
        .output()
        .expect("nm (binutils, which the link itself needs)");
    assert!(out.status.success(), "nm: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            Some((addr, f.nth(1)?.to_owned()))
        })
        .collect()
}

/// Whether `name` matches a linker script pattern whose only wildcard is `*`.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            name.starts_with(head)
                && (0..=name.len() - head.len()).any(|i| {
                    name.is_char_boundary(head.len() + i) && glob(rest, &name[head.len() + i..])
                })
        }
    }
}

/// build.rs links with link/startup.ld: what a one-shot check runs at start-up sits
/// together (a page fault maps the 64 KiB around it), here `main` and `fdwatch::run`.
#[test]
fn the_start_up_path_is_linked_together() {
    let bytes = std::fs::read(env!("CARGO_BIN_EXE_fdwatch")).expect("the binary");
    let all = Elf(&bytes).sections();
    let (_, start, size) = all
        .iter()
        .find(|(name, ..)| name == ".text.start_path")
        .unwrap_or_else(|| panic!("no .text.start_path section: {all:?}"));
    let syms = symbols();
    for wanted in ["main", "_ZN7fdwatch3run17h"] {
        let (addr, name) = syms
            .iter()
            .find(|(_, name)| name == wanted || name.starts_with(wanted) && wanted.ends_with("17h"))
            .unwrap_or_else(|| panic!("no symbol {wanted}"));
        assert!(
            (*start..start + size).contains(addr),
            "{name} at {addr:#x} is not in .text.start_path"
        );
    }
}

/// link/startup.ld names fdwatch's own functions; renaming one without running
/// bench/startup-order.sh again would quietly move it back among the rest.
#[test]
fn the_start_up_order_names_functions_that_exist() {
    let script = include_str!("../../link/startup.ld");
    let names: Vec<String> = symbols().into_iter().map(|(_, n)| n).collect();
    let ours: Vec<&str> = script
        .split(['(', ')', ' ', '\n'])
        .filter_map(|w| w.strip_prefix(".text."))
        .filter(|w| w.starts_with("_ZN7fdwatch"))
        .collect();
    assert!(
        ours.len() >= 10,
        "only {} of fdwatch's functions in link/startup.ld",
        ours.len()
    );
    let stale: Vec<&&str> = ours
        .iter()
        .filter(|p| !names.iter().any(|n| glob(p, n)))
        .collect();
    assert!(
        stale.is_empty(),
        "no function matches {stale:?}: run bench/startup-order.sh"
    );
}
