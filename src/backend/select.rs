//! select(2) and pselect(2): fd_set bitmaps, refused beyond FD_SETSIZE.

use std::os::fd::RawFd;
use std::time::Duration;

use nix::sys::select::{FD_SETSIZE, FdSet};
use nix::sys::signal::SigSet;
use nix::sys::time::{TimeSpec, TimeVal, TimeValLike};

use super::{Backend, Book, Caps, Info, Readiness, Registered, SignalMask, registered};
use crate::error::{Error, Result};
use crate::readiness::Interest;
use crate::readiness::{Conditions, Raw};

pub struct Select {
    /// pselect (takes a signal mask, ns timeout) rather than select.
    masked: bool,
    /// Master sets, copied (128 bytes each) into the call on every wait.
    read: FdSet<'static>,
    write: FdSet<'static>,
    except: FdSet<'static>,
    /// Registered fds in registration order, with their tokens.
    fds: Vec<(RawFd, usize)>,
    /// Highest registered fd + 1, kept current so a wait does no O(N) work before the call.
    nfds: i32,
    /// Registrations in each set: an empty set is passed as NULL, which spares the
    /// kernel copying and scanning it (C callers pass NULL too).
    counts: [usize; 3],
}

/// select (or, `masked`, pselect): no hang-ups of its own, fds below FD_SETSIZE.
pub(super) fn info(masked: bool) -> Info {
    Info {
        name: if masked { "pselect" } else { "select" },
        caps: Caps {
            mask: SignalMask::of(masked),
            modes: false,
            monitor_edge: None,
            fd_limit: Some(FD_SETSIZE),
            folds_hangup: true,
            book: Some(Book::TSelect),
            fallback: None,
        },
        make: if masked {
            |_| Ok(Box::new(Select::new(true)))
        } else {
            |_| Ok(Box::new(Select::new(false)))
        },
    }
}

impl Select {
    pub fn new(masked: bool) -> Select {
        Select {
            masked,
            read: FdSet::new(),
            write: FdSet::new(),
            except: FdSet::new(),
            fds: Vec::new(),
            nfds: 0,
            counts: [0; 3],
        }
    }
}

/// Membership in the read, write and except sets as `R-X`.
fn show(sets: u32, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    let c = |bit: u32, ch| if sets & bit != 0 { ch } else { '-' };
    write!(f, "{}{}{}", c(1, 'R'), c(2, 'W'), c(4, 'X'))
}

/// The select sets in normalized words: the select family knows only these three.
fn conditions(r: bool, w: bool, x: bool) -> Conditions {
    let mut c = Conditions::empty();
    c.set_if(r, Conditions::READ);
    c.set_if(w, Conditions::WRITE);
    c.set_if(x, Conditions::URGENT);
    c
}

impl Backend for Select {
    fn call(&self) -> &'static str {
        if self.masked { "pselect6" } else { "select" }
    }

    fn add(&mut self, fd: RawFd, token: usize, interest: Interest) -> Result<Registered> {
        // Checked before any FdSet is touched: FD_SET beyond FD_SETSIZE is undefined behaviour.
        if usize::try_from(fd).map_or(true, |n| n >= FD_SETSIZE) {
            return Err(Error::Usage(format!(
                "fd {fd}: select and pselect cannot watch fds >= FD_SETSIZE ({FD_SETSIZE}); use -b poll or -b epoll"
            )));
        }
        let b = registered(fd);
        let sets = [&mut self.read, &mut self.write, &mut self.except];
        let wanted = [interest.read, interest.write, interest.urgent];
        for ((set, count), want) in sets.into_iter().zip(&mut self.counts).zip(wanted) {
            if want {
                set.insert(b);
                *count += 1;
            }
        }
        self.fds.push((fd, token));
        self.nfds = self.nfds.max(fd + 1);
        Ok(Registered::Level)
    }

    fn delete(&mut self, fd: RawFd) -> Result<()> {
        if let Some(i) = self.fds.iter().position(|&(f, _)| f == fd) {
            self.fds.remove(i);
            let b = registered(fd);
            let sets = [&mut self.read, &mut self.write, &mut self.except];
            for (set, count) in sets.into_iter().zip(&mut self.counts) {
                if set.contains(b) {
                    set.remove(b);
                    *count -= 1;
                }
            }
            self.nfds = self.fds.iter().map(|&(f, _)| f + 1).max().unwrap_or(0);
        }
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, token: usize, interest: Interest) -> Result<()> {
        self.delete(fd)?;
        self.add(fd, token, interest).map(drop)
    }

    fn wait(
        &mut self,
        timeout: Option<Duration>,
        mask: Option<&SigSet>,
        out: &mut Vec<Readiness>,
    ) -> nix::Result<usize> {
        let (mut r, mut w, mut x) = (self.read, self.write, self.except);
        let nfds = self.nfds;
        let [nr, nw, nx] = self.counts;
        let (rp, wp, xp) = (
            (nr > 0).then_some(&mut r),
            (nw > 0).then_some(&mut w),
            (nx > 0).then_some(&mut x),
        );
        let n = if self.masked {
            let ts = timeout.map(TimeSpec::from);
            nix::sys::select::pselect(nfds, rp, wp, xp, ts.as_ref(), mask)?
        } else {
            // Microseconds, rounded up so a wait is never shorter than asked.
            let mut tv = timeout.map(|d| {
                let us = crate::timeout::ceil_to(d, Duration::from_micros(1));
                TimeVal::microseconds(i64::try_from(us).unwrap_or(i64::MAX))
            });
            nix::sys::select::select(nfds, rp, wp, xp, tv.as_mut())?
        };
        // `n` counts set bits; stop scanning once all are found.
        let mut left = usize::try_from(n).unwrap_or(0);
        let before = out.len();
        for &(fd, token) in &self.fds {
            if left == 0 {
                break;
            }
            let b = registered(fd);
            let (rr, ww, xx) = (r.contains(b), w.contains(b), x.contains(b));
            let bits = usize::from(rr) + usize::from(ww) + usize::from(xx);
            if bits > 0 {
                left = left.saturating_sub(bits);
                out.push(Readiness {
                    token,
                    cond: conditions(rr, ww, xx),
                    raw: Raw::new(
                        u32::from(rr) | u32::from(ww) << 1 | u32::from(xx) << 2,
                        show,
                    ),
                });
            }
        }
        Ok(out.len() - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        assert_eq!(conditions(true, false, true).to_string(), "read urgent");
        assert_eq!(Raw::new(0b101, show).to_string(), "R-X");
        assert!(conditions(false, false, false).is_empty());
    }

    #[test]
    fn refuses_fd_setsize_before_touching_a_set() {
        let mut s = Select::new(false);
        let e = s
            .add(FD_SETSIZE as RawFd, 0, Interest::READ)
            .expect_err("beyond FD_SETSIZE");
        let m = e.to_string();
        assert!(
            m.contains("FD_SETSIZE") && m.contains("poll") && m.contains("epoll"),
            "{m}"
        );
        assert!(s.add(-1, 0, Interest::READ).is_err());
    }
}
