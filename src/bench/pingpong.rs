//! The measured loop, the same work as ref_pingpong.c: write one byte to an active pipe,
//! wait with the backend (fdwatch's own `Backend`, as the watcher uses it), take the
//! first ready fd in registration order, check it is the expected one, read the byte.
//! Nothing is allocated or timed per event: the readiness buffer is reused and the clock
//! is read once per repeat.

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::SigSet;

use super::layout::{Layout, Refusal, Rotation};
use crate::backend::{self, Backend, BackendKind, Readiness};
use crate::error::{Error, Result};
use crate::readiness::Interest;

/// One repeat should take about this long when the rounds are calibrated.
const TARGET_PER_REPEAT: Duration = Duration::from_millis(150);

pub struct Loop<'a> {
    layout: &'a Layout,
    /// `None` is the floor: no wait (same mode) or a blocking read (wake mode).
    backend: Option<Box<dyn Backend>>,
    out: Vec<Readiness>,
    timeout: Option<Duration>,
    /// pselect and ppoll get the current mask, as the C loop passes it.
    mask: Option<SigSet>,
    rotation: Rotation,
    /// Wake mode: a byte here makes the writer process write the active pipe.
    go: Option<OwnedFd>,
}

/// Per-repeat means in ns, sorted.
#[derive(Clone, Debug)]
pub struct Stats {
    pub rounds: u64,
    pub per_event: Vec<f64>,
}

impl Stats {
    pub fn median(&self) -> f64 {
        let v = &self.per_event;
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
    pub fn min(&self) -> f64 {
        self.per_event[0]
    }
    pub fn max(&self) -> f64 {
        self.per_event[self.per_event.len() - 1]
    }
}

impl<'a> Loop<'a> {
    /// Registers every read end, in order, with `kind`; select refuses fds beyond
    /// FD_SETSIZE, which becomes the row's refusal.
    pub fn new(
        layout: &'a Layout,
        kind: Option<BackendKind>,
        timeout: Option<Duration>,
        go: Option<OwnedFd>,
    ) -> Result<std::result::Result<Loop<'a>, Refusal>> {
        let mut backend = None;
        let mut mask = None;
        if let Some(kind) = kind {
            let mut b = backend::new(kind, backend::Mode::default())?;
            for (token, fd) in layout.rd.iter().enumerate() {
                match b.add(fd.as_raw_fd(), token, Interest::READ) {
                    Ok(_) => {}
                    Err(Error::Usage(why)) => return Ok(Err(why)),
                    Err(e) => return Err(e),
                }
            }
            // The C reference passes a mask only where the call requires one.
            if kind.caps().mask == backend::SignalMask::Always {
                mask = Some(
                    SigSet::thread_get_mask().map_err(|e| Error::sys("bench", "sigprocmask", e))?,
                );
            }
            backend = Some(b);
        }
        Ok(Ok(Loop {
            layout,
            backend,
            out: Vec::with_capacity(16),
            timeout,
            mask,
            rotation: Rotation::new(layout.active.len()),
            go,
        }))
    }

    /// Waits until one watched fd is readable and returns its index (token).
    fn wait_one(&mut self, expect: usize) -> Result<usize> {
        let Some(b) = self.backend.as_mut() else {
            return Ok(expect);
        };
        loop {
            self.out.clear();
            match b.wait(self.timeout, self.mask.as_ref(), &mut self.out) {
                // A timeout (only with --timeout) or a signal: wait again.
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(1) => return Ok(self.out[0].token),
                Ok(n) => {
                    return Err(Error::Usage(format!("bench: {n} fds ready, expected 1")));
                }
                Err(e) => return Err(Error::sys("bench", b.call(), e)),
            }
        }
    }

    /// Runs `r` rounds and returns how long they took.
    pub fn rounds(&mut self, r: u64) -> Result<Duration> {
        let layout = self.layout;
        let mut byte = [0u8; 1];
        let t0 = Instant::now();
        for _ in 0..r {
            let a = layout.active[self.rotation.pick()];
            let to = match (&self.go, &layout.wr[a]) {
                (Some(go), _) => go,
                (None, Some(w)) => w,
                (None, None) => {
                    return Err(Error::Usage(
                        "bench: active pipe without a write end".into(),
                    ));
                }
            };
            write_byte(to)?;
            let got = self.wait_one(a)?;
            if got != a {
                return Err(Error::Usage(format!(
                    "bench: fd {} ready, expected {}",
                    layout.rd[got].as_raw_fd(),
                    layout.rd[a].as_raw_fd()
                )));
            }
            match nix::unistd::read(&layout.rd[a], &mut byte) {
                Ok(1) => {}
                Ok(_) => return Err(Error::Usage("bench: pipe ended early".into())),
                Err(e) => {
                    return Err(Error::sys(
                        format!("fd {}", layout.rd[a].as_raw_fd()),
                        "read",
                        e,
                    ));
                }
            }
        }
        Ok(t0.elapsed())
    }

    /// Warms up, picks the rounds per repeat (so one repeat takes about 150 ms) unless
    /// given, then times `repeats` repeats.
    pub fn measure(&mut self, rounds: Option<u64>, repeats: usize) -> Result<Stats> {
        let rounds = match rounds {
            Some(r) => {
                self.rounds((r / 10).max(10))?;
                r
            }
            None => {
                let mut r: u64 = 16;
                let took = loop {
                    let t = self.rounds(r)?;
                    if t >= Duration::from_millis(20) || r >= 1 << 26 {
                        break t;
                    }
                    r *= 4;
                };
                let per = took.as_secs_f64() / r as f64;
                ((TARGET_PER_REPEAT.as_secs_f64() / per) as u64).max(100)
            }
        };
        let mut per_event = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let t = self.rounds(rounds)?;
            per_event.push(t.as_nanos() as f64 / rounds as f64);
        }
        per_event.sort_by(f64::total_cmp);
        Ok(Stats { rounds, per_event })
    }
}

fn write_byte(fd: &OwnedFd) -> Result<()> {
    match nix::unistd::write(fd, b"x") {
        Ok(1) => Ok(()),
        Ok(_) => Err(Error::Usage("bench: short write".into())),
        Err(e) => Err(Error::sys(format!("fd {}", fd.as_raw_fd()), "write", e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = Stats {
            rounds: 1,
            per_event: vec![1.0, 2.0, 10.0],
        };
        assert_eq!((s.median(), s.min(), s.max()), (2.0, 1.0, 10.0));
        let s = Stats {
            rounds: 1,
            per_event: vec![1.0, 2.0, 4.0, 10.0],
        };
        assert_eq!(s.median(), 3.0);
    }
}
