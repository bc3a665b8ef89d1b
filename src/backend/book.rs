//! TLPI's programs (chapter 63) that a run can stand for with `--format tlpi`: which
//! one a backend's run is (each backend's `Caps::book`), and the words of the
//! program's output that name the backend's own flags.

use crate::readiness::Conditions;

/// Which of the book's programs a run stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Book {
    /// t_select: one select (or pselect) call.
    TSelect,
    /// poll_pipes: one poll (or ppoll) call.
    PollPipes,
    /// epoll_input: an epoll loop reading what is ready.
    EpollInput,
}

/// What `--format tlpi` needs, in the one line a refusal says.
pub const BOOK_RUNS: &str = "t_select (-b select or -b pselect, one-shot), poll_pipes (-b poll \
                             or -b ppoll, one-shot) or epoll_input (-b epoll -m --read)";

impl Book {
    /// Whether a run in this mode is the program: t_select and poll_pipes wait once,
    /// epoll_input monitors and reads.
    pub fn fits(self, monitor: bool, reading: bool) -> bool {
        match self {
            Book::TSelect | Book::PollPipes => !monitor,
            Book::EpollInput => monitor && reading,
        }
    }

    /// The words the program prints for a ready fd's events (epoll_input's
    /// `events: EPOLLIN EPOLLHUP `); None for the programs that print none.
    pub fn events(self, cond: Conditions) -> Option<String> {
        match self {
            Book::EpollInput => Some(super::epoll::book_events(cond)),
            Book::TSelect | Book::PollPipes => None,
        }
    }
}
