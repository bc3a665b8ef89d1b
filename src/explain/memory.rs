//! What a blocked call waits on, read from the process's memory with process_vm_readv
//! (ptrace access, like pidfd_getfd): a pollfd array, select's fd_sets, a timeout.

use std::io::IoSliceMut;
use std::os::fd::RawFd;

use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

use super::Waits;
use crate::probe;
use crate::readiness::Interest;

/// The largest pollfd array or fd_set read from a process (a corrupt count must not
/// make fdwatch read megabytes).
const MAX_FDS: u64 = 1 << 20;

/// A pollfd array: fd, events, revents (8 bytes each).
pub(super) fn pollfds(mem: &Memory, addr: u64, n: u64) -> std::result::Result<Waits, String> {
    let n = n.min(MAX_FDS);
    let bytes = mem.read(addr, n * 8)?;
    let fds = bytes
        .chunks_exact(8)
        .map(|c| {
            let fd = i32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
            let ev = i16::from_ne_bytes([c[4], c[5]]);
            (fd, probe::interest(ev), Vec::new())
        })
        // A negative fd is an entry poll skips.
        .filter(|(fd, _, _)| *fd >= 0)
        .collect();
    Ok(Waits {
        fds,
        ..Waits::default()
    })
}

/// The three fd_sets of select: bits below nfds; a NULL set is empty.
pub(super) fn fd_sets(
    mem: &Memory,
    nfds: u64,
    sets: [u64; 3],
) -> std::result::Result<Waits, String> {
    let nfds = (nfds as u32 as u64).min(MAX_FDS);
    let words = nfds.div_ceil(64);
    let mut bits: Vec<[bool; 3]> = vec![[false; 3]; nfds as usize];
    for (k, &addr) in sets.iter().enumerate() {
        if addr == 0 || words == 0 {
            continue;
        }
        let raw = mem.read(addr, words * 8)?;
        for (w, c) in raw.chunks_exact(8).enumerate() {
            let word = u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
            for bit in 0..64 {
                let fd = w * 64 + bit;
                if word & (1 << bit) != 0 && fd < bits.len() {
                    bits[fd][k] = true;
                }
            }
        }
    }
    let fds = bits
        .iter()
        .enumerate()
        .filter(|(_, b)| b.iter().any(|&x| x))
        .map(|(fd, b)| {
            let want = Interest {
                read: b[0],
                write: b[1],
                urgent: b[2],
            };
            (fd as RawFd, want, Vec::new())
        })
        .collect();
    Ok(Waits {
        fds,
        ..Waits::default()
    })
}

/// A struct timeval (NULL: forever) in ms.
pub(super) fn timeval(mem: &Memory, addr: u64) -> std::result::Result<Option<i64>, String> {
    two_longs(mem, addr).map(|t| t.map(|(s, us)| s.saturating_mul(1000) + us / 1000))
}

/// A struct timespec (NULL: forever) in ms.
pub(super) fn timespec(mem: &Memory, addr: u64) -> std::result::Result<Option<i64>, String> {
    two_longs(mem, addr).map(|t| t.map(|(s, ns)| s.saturating_mul(1000) + ns / 1_000_000))
}

fn two_longs(mem: &Memory, addr: u64) -> std::result::Result<Option<(i64, i64)>, String> {
    if addr == 0 {
        return Ok(None);
    }
    let b = mem.read(addr, 16)?;
    let a = i64::from_ne_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let c = i64::from_ne_bytes(b[8..16].try_into().unwrap_or([0; 8]));
    Ok(Some((a, c)))
}

/// The process's memory, through process_vm_readv (ptrace access, like pidfd_getfd).
pub(super) struct Memory(pub(super) Pid);

impl Memory {
    fn read(&self, addr: u64, len: u64) -> std::result::Result<Vec<u8>, String> {
        let mut buf = vec![0u8; len as usize];
        if len == 0 {
            return Ok(buf);
        }
        let remote = [RemoteIoVec {
            base: addr as usize,
            len: len as usize,
        }];
        match process_vm_readv(self.0, &mut [IoSliceMut::new(&mut buf)], &remote) {
            Ok(n) if n as u64 == len => Ok(buf),
            Ok(n) => Err(format!(
                "read {n} of {len} bytes of its memory at {addr:#x}"
            )),
            Err(e) => Err(format!(
                "cannot read its memory at {addr:#x} (process_vm_readv: {})",
                e.desc()
            )),
        }
    }
}
