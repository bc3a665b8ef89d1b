//! `fdwatch pid:PID`'s kind: what one thread of another process is blocked in.

use std::os::fd::RawFd;

use serde::Serialize;

use crate::readiness::{Conditions, Interest};

/// One thread of another process: its call and the fds that call waits on.
#[derive(Clone, Debug, Serialize)]
pub struct BlockedThread {
    pub pid: i32,
    pub tid: i32,
    pub comm: String,
    /// The state letter of /proc/PID/task/TID/stat (S sleeping, R running, T stopped…).
    pub state: String,
    /// The system call's name (None: not in one).
    pub call: Option<String>,
    pub nr: Option<i64>,
    pub wchan: Option<String>,
    /// The call's timeout in ms (None: none, waits forever).
    pub timeout_ms: Option<i64>,
    /// The epoll fd of an epoll wait.
    pub epfd: Option<RawFd>,
    /// Why the fds could not be listed, or that the thread is not in a call.
    pub note: Option<String>,
    pub fds: Vec<WaitedFd>,
    /// The call waits on a set of fds (select, poll, epoll), not on one.
    #[serde(skip)]
    pub set: bool,
}

/// An fd a blocked call waits on, and its readiness now.
#[derive(Clone, Debug, Serialize)]
pub struct WaitedFd {
    /// The process's number for it.
    pub fd: RawFd,
    pub want: Interest,
    /// epoll registration flags: ET, ONESHOT, EXCLUSIVE, WAKEUP, RDHUP.
    pub flags: Vec<&'static str>,
    pub what: String,
    /// What is ready now (None: could not be checked, see `error`).
    pub ready: Option<Conditions>,
    pub queued: Option<i32>,
    pub error: Option<String>,
}
