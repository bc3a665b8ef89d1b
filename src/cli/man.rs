//! The man page's own sections (roff), beyond what clap describes: the SPEC forms,
//! output, monitor mode, sockets and urgent data, signals, guarantees (the exit status
//! is status.rs's), and every page's SEE ALSO.
//! Text, not code: it is long because the reference is.

/// The last paragraph of a page's OPTIONS: the duration grammar, said once for the
/// page's duration options (`opts`, roff), and TIMEOUT's `-` on the watch page.
pub fn durations(opts: &str, timeout: bool) -> String {
    let dash = if timeout {
        "; \\fITIMEOUT\\fR also takes \\fB\\-\\fR, forever (nothing else does)"
    } else {
        ""
    };
    format!(
        ".PP\n\\fIDUR\\fR ({opts}): seconds (\\fB2\\fR, \\fB0.4\\fR) or a number \
         with a unit (\\fB400ms\\fR, \\fB1m30s\\fR, \\fB1.5s\\fR; ns, us, ms, s, m, h, d){dash}.\n\
         A negative or unparsable value is a usage error (status 2) naming the option.\n"
    )
}

/// Man page sections beyond what clap describes (roff), appended after OPTIONS.
pub const MAN_EXTRA: &str = r#".SH "SPEC FORMS"
.TP
\fBN\fR[\fBrwe\fR]
An fd this process inherited: \fB0r\fR, \fB1w\fR, \fB3re\fR.
\fBr\fR read, \fBw\fR write, \fBe\fR exceptional (urgent, priority); default \fBr\fR.
Letters for the same fd merge: \fB0r 0w\fR is \fB0rw\fR.
.TP
\fBN\-M\fR[\fBrwe\fR]
A range of inherited fds; the ones that are open are watched.
.TP
\fBPATH\fR[\fB:rwe\fR]
Opens a path (file, FIFO, tty, device, /proc/PID/fd/N) without ever blocking:
O_NONBLOCK, O_NOCTTY. The suffix counts only when it is a colon and letters from
\fBrwe\fR; \fB./\fR forces a path (\fB./0r\fR). A write\-side FIFO with no reader
is reported as an \fBerror\fR event (ENXIO) and its open retried every 100 ms.
.TP
\fBpid:PID:FD\fR[\fBrwe\fR], \fBpid:PID:N\-M\fR[\fBrwe\fR], \fBpid:PID:*\fR[\fBrwe\fR]
Another process's fds, duplicated with pidfd_open and pidfd_getfd (Linux 5.6+), or,
where that is refused, through a private reopen of /proc/PID/fd/N (pipes, FIFOs and
ttys, not sockets; while watched it counts as one more reader or writer of a pipe).
Both need ptrace access to the process (the same user and Yama's ptrace_scope, or
CAP_SYS_PTRACE). Events name the process and its fd: \fBpid 1234 fd 5 (pipe:[998])\fR.
A duplicate shares the process's open file description, so fdwatch never reads from it
(\fB\-\-read\fR and \fB\-\-tee\fR are refused; \fB\-\-peek\fR consumes nothing and
urgent bytes are only peeked), never changes its flags or socket options, and every
\fB\-\-interval\fR checks (kcmp) that the process still has it: a file the process
closed, or all of them when it exits, is let go (a \fBhangup\fR event with action
\fBgone\fR) instead of being kept open behind its back.
.TP
\fBpid:PID\fR
Alone on the command line (no TIMEOUT): what each thread of the process is blocked
in, from /proc/PID/task/TID/syscall and wchan: the call, the fds it waits on and its
timeout (a pollfd array or fd_sets read with process_vm_readv; an epoll interest
list, with ET and ONESHOT, from /proc/PID/fdinfo/EPFD), then whether each of those
fds is ready now and how many bytes are queued. One \fBblocked\fR event per thread.
.TP
\fB\-\fR
Standard input, the same as \fB0r\fR.
.SH OUTPUT
One line per ready fd: time, fd, what it is (pipe:[ino], fifo PATH, tty PATH,
file PATH, chardev PATH, socket addresses), the ready conditions in normalized
words (\fBread write urgent hangup rdhup error invalid\fR), the raw result of the
wait call exactly as the kernel returned it (revents such as \fBPOLLIN|POLLHUP\fR,
select set membership as \fBR\-X\fR, epoll events such as \fBEPOLLIN|EPOLLRDHUP\fR;
never registration flags like EPOLLET or EPOLLONESHOT), bytes queued (FIONREAD) and
pipe capacity (F_GETPIPE_SZ). The last line says how long the wait took and how much
of the timeout was left.
.PP
The select family reports only read, write and urgent (the kernel folds hang\-ups
and errors into "readable"). poll and epoll report what the kernel set and
nothing else. epoll refuses regular files, devices (EPERM) and O_PATH fds (EBADF);
those are checked with poll and marked as such.
.PP
With \fB\-\-format json\fR each event is one JSON object per line, with a schema
version: see \fBJSON EVENTS\fR.
.SH "THE BOOK'S OUTPUT (\-\-format tlpi)"
Prints what TLPI's programs of chapter 63 print for the same run:
.TP
\fB\-b select\fR or \fB\-b pselect\fR, one\-shot: t_select
\fBready = N\fR; a \fBFD: rw\fR line per fd below nfds (\fBr\fR, \fBw\fR, both or none);
\fBtimeout after select(): S.mmm\fR, the time left as select writes it back, when a
TIMEOUT was given.
.TP
\fB\-b poll\fR or \fB\-b ppoll\fR, one\-shot: poll_pipes
\fBpoll() returned: N\fR, then \fBReadable: %3d\fR for each fd with POLLIN.
.TP
\fB\-b epoll \-m \-\-read\fR: epoll_input
\fBOpened "PATH" on fd N\fR per path; per wait \fBAbout to epoll_wait()\fR and
\fBReady: N\fR; per fd \fB  fd=N; events: \fR with \fBEPOLLIN \fR, \fBEPOLLHUP \fR,
\fBEPOLLERR \fR as set, then \fB    read N bytes: DATA\fR when EPOLLIN is set, or
\fB    closing fd N\fR on a hang\-up or error; \fBAll file descriptors closed; bye\fR.
The run behaves as the program: the epoll instance is created first, registrations
are level\-triggered, each readiness reads once (at most 1000 bytes), and a hung\-up
fd is closed, not reopened. Control bytes in the data other than newline and tab stay
escaped.
.PP
Any other combination has no program in the book: exit 2, one line naming these.
.SH "FD KINDS"
Besides files, FIFOs, ttys, devices and sockets (by family and type: tcp, udp, unix
with a path or an @abstract name, netlink, packet), descriptions name the kinds from
/proc/self/fdinfo: \fBeventfd\fR (its counter), \fBtimerfd\fR (clock, interval, time to
expiry), \fBsignalfd\fR (its signals; it is ready by the pending signals of the process
that polls it, fdwatch), \fBinotify\fR and \fBfanotify\fR (their watches and marks:
inode and device, mount or filesystem, and the event mask by name), \fBepoll\fR
(each target fd with its mask), \fBpidfd\fR (the pid, or that the process has ended),
\fBio_uring\fR (completions unread, submissions pending), \fBuserfaultfd\fR and
\fBmemfd\fR (its name). fdinfo writes some numbers in hex; descriptions show counts,
inode numbers and mount ids in decimal, devices as MAJOR:MINOR, masks as names (a bit
without a name as 0x...). With \fB\-v\fR a \fBwatching\fR event per fd at the start
gives its description.
.SH "ENDING AT AN EVENT (\-\-until)"
\fB\-\-until COND[,COND...]\fR ends a monitor run at the first event matching one of:
\fBread write urgent hangup rdhup error\fR (a ready event with that word; also an
urgent byte, a hangup event, an error event), \fBeof\fR, \fBsignal\fR, \fBaccept\fR.
Exit status: 10 read, 11 write, 12 urgent, 13 hangup, 14 rdhup, 15 error, 16 eof, 17
signal, 18 accept; when one event matches several conditions, the first listed gives it.
A condition the specs cannot give is a usage error.
.SH "NAMES AND TEXT"
File names, socket paths, peer addresses, process names and \fB\-\-read=text\fR data
come from other people and reach your terminal, so they are printed escaped (names in
text and in JSON alike; data in text, while JSON's \fBtext\fR is the bytes themselves,
with \fBdata_hex\fR beside it when they are not valid UTF\-8): printable UTF\-8 as it is; a backslash as \fB\e\e\fR; newline,
carriage return, tab and ESC as \fB\en\fR, \fB\er\fR, \fB\et\fR, \fB\ee\fR; other
control bytes and DEL as \fB\exNN\fR; C1 controls (U+0080 to U+009F) and Unicode
bidirectional and format controls (U+061C, U+180E, U+200B to U+200F, U+2028 to
U+202E, U+2060 to U+2069, U+FEFF, U+FFF9 to U+FFFB) as \fB\eu{202e}\fR; each byte of
invalid UTF\-8 as \fB\exNN\fR. No name can move the cursor, recolour or retitle the
terminal, or reorder a line. JSON stays valid, and a name's exact bytes come back by
undoing those escapes (\fB\exNN\fR is one byte, \fB\eu{N}\fR one character in UTF\-8).
.SH "MONITOR MODE"
With \fB\-m\fR, fdwatch reports every readiness change until all fds are gone,
\fB\-\-count\fR events, \fB\-\-once\fR's first end of file, or the idle TIMEOUT (time
with no event), which may then be left out. It never busy\-loops: with epoll it
registers every fd edge\-triggered (EPOLLET, said by \fB\-v\fR; \fB\-\-edge\fR therefore
changes only one\-shot runs), so every new write is one event; level\-triggered registrations
(select, poll, files under epoll, \fB\-\-oneshot\fR) are reported once and then
re\-checked every \fB\-\-interval\fR. A FIFO path is not over at end of file: when its
last writer leaves, a new read end is opened before the old one is closed, under the
same fd number. A write\-side FIFO whose reader left is retried until the next reader.
.PP
Without \fB\-\-read\fR or \fB\-\-tee\fR no byte is consumed. Inherited pipes, FIFOs and
ttys are read through a private reopen of /proc/self/fd/N, so the caller's O_NONBLOCK
is never changed.
.SH "SOCKETS AND URGENT DATA"
\fBtcp:HOST:PORT\fR and \fBunix:PATH\fR connect without blocking; the result is a
\fBconnect\fR event (SO_ERROR) naming the target as written and the address tried
(JSON \fBtarget\fR, \fBaddr\fR). \fBtcp\-listen:[HOST:]PORT\fR and \fBunix\-listen:PATH\fR
listen; each accepted connection is an \fBaccept\fR event (new fd, peer) and is watched
with the listener's letters (default \fBre\fR) until its peer closes. Without
\fB\-\-read\fR a connection whose peer closed is reported (\fBhangup\fR) and released
at once, unread data or not. A connection over both ways (the peer reset it, or it is
shut down both ways: a hang\-up, which poll, epoll and io_uring report on every wait;
the select family, which folds it into "readable", asks poll) is released whatever its
letters and in every mode, reported once: the \fBready\fR event, with \fB\-\-read\fR an
\fBerror\fR ECONNRESET after the bytes sent before the reset, then \fBhangup\fR.
.PP
\fBtcp\-listen:PORT\fR without a host listens on loopback only, 127.0.0.1 and ::1 on
the same port (two fds; ::1 only where the machine has it), as \fBssh \-L\fR does: nobody
on the network can reach it. Every interface only when written: \fB0.0.0.0\fR, \fB[::]\fR
or \fB*\fR (IPv6 and IPv4); \fB\-v\fR and the relay's \fBlisten\fR event then say so.
A \fBunix\-listen:\fR socket file is removed when fdwatch ends (also by a signal), unless
something else has taken the name since. A socket file left by a process that died is
replaced: fdwatch connects to it first, and only a refused connect (nobody listens)
counts as stale; a path where a live process listens, or any file that is not a
socket, is an error (EADDRINUSE). The live listener sees that probe as one empty
connection.
.PP
When a socket reports exceptional readiness (select's exceptfds, POLLPRI, EPOLLPRI),
fdwatch takes the urgent byte with recv(MSG_OOB) before any normal read (a normal read
at the mark destroys it), then reports it in stream order: the data before the mark,
then an \fBurgent\fR event with SIOCATMARK, then the data after it. A lone urgent byte,
with nothing after it and the peer still connected, is reported when it arrives.
A byte fdwatch took from the kernel is never lost: however the run ends (end of file,
hang\-up, reset, \fB\-\-count\fR, the idle timeout, a signal) it is reported before the
summary, past \fB\-\-count\fR if need be, with the offset of its mark in the stream.
Without \fB\-\-read\fR (and with \fB\-\-peek\fR) the byte is shown with MSG_OOB|MSG_PEEK
and never consumed; the event's \fBoffset\fR is then how many bytes of normal data
are queued before the mark, and a newer urgent byte replacing an unread one is
reported as \fBreplaced\fR. A level\-triggered socket whose unread data keeps it ready
is still watched for urgent data alone in the main wait, so its urgent byte is seen
when it comes, not at the next re\-check. EINVAL (no urgent byte, or
SO_OOBINLINE) and EOPNOTSUPP are reported in the event, not as failures.
\fB\-\-oobinline\fR sets SO_OOBINLINE on the sockets fdwatch opens and marks the offset.
.SH "IO_URING"
\fB\-b uring\fR watches each fd with an IORING_OP_POLL_ADD and waits in io_uring_enter
with IORING_ENTER_EXT_ARG (the signal mask and the timeout in one argument: race\-free,
as ppoll). Monitor mode uses multishot polls (IORING_POLL_ADD_MULTI, Linux 5.13),
re\-armed when the kernel ends one: every new write is one event, as with epoll's
edge\-triggered registrations. One\-shot runs, rechecks and the relay use single\-shot
polls re\-armed before each wait (level\-triggered). \fBraw\fR is the completion's poll
mask, or a failed poll's errno (\fB\-EBADF\fR: an \fBinvalid\fR event). Where io_uring
is unavailable (kernel.io_uring_disabled, seccomp, ENOSYS or EPERM from
io_uring_setup) it fails at start with status 2, naming \fB\-b epoll\fR.
.SH "RUNNING OUT OF DESCRIPTORS"
Every call that makes a descriptor while fdwatch runs can fail with EMFILE, ENFILE,
ENOBUFS or ENOMEM: \fBaccept\fR, the relay's \fBsocket\fR and \fBconnect\fR to TARGET
and its splice pipes (\fBpipe2\fR), a FIFO's reopen, the private reopen an inherited
pipe, FIFO or tty is read through and a write\-side FIFO's open (\fBopen\fR), and
\fB\-\-peek\fR's pipe. fdwatch then does not ask again at once (a listener stays
ready, so that would spin): the fd leaves the wait until a descriptor is freed or a
back\-off expires (10 ms, doubling, at most half a second), so work resumes within
half a second of a descriptor coming back. Clients that cannot be served are accepted
on a spare descriptor kept for that and closed at once, so each sees its connection
closed rather than a hang. A FIFO whose reopen failed keeps its old read end: a writer
that comes meanwhile is served through it. A splice pipe that cannot be made leaves
that direction copying; \fB\-\-peek\fR shows the count (FIONREAD) instead of the
bytes. Each episode is two \fBexhausted\fR events: one when it starts (the call, the
errno; \fBstate\fR start) and one when the call works again or the run ends (the
clients refused, how long it lasted; \fBstate\fR end). Signals are served throughout.
Descriptors made at start (the epoll instance, io_uring's ring, a \fBpid:\fR spec's
pidfd and duplicates, the listeners) are not retried: their failure is one line and
status 2.
.SH "STANDARD OUTPUT"
Events (and, with \fB\-\-tee\fR, the data) are written through a private non\-blocking
reopen of the pipe, FIFO or tty (a socket with MSG_DONTWAIT), so the flags of the
descriptor you gave fdwatch never change. A slow reader makes fdwatch wait for room,
with SIGINT, SIGTERM and SIGHUP still heard: they end the run within a second even when
nobody reads (the summary is then dropped if it cannot be written). A reader that
leaves ends fdwatch quietly with status 0 (the relay instead serves the connections it
has to their end: see fdwatch\-relay(1)); any other write error (ENOSPC) is one line
and status 2.
.SH SIGNALS
Signals named by \fB\-\-signals\fR are blocked from startup and reported as \fBsignal\fR
events with the sender's pid. With pselect, ppoll, epoll (epoll_pwait) and uring
(io_uring_enter with IORING_ENTER_EXT_ARG) the wait's mask unblocks them only inside
the wait, so none is lost between two waits; with select and poll a self\-pipe in the
watch set receives them. A caught signal does not end a one\-shot wait: it goes on
with the time left. In monitor mode SIGINT, SIGTERM and SIGHUP end the run: summary
first, then death by the same signal. Signals named by \fB\-\-mask\fR stay blocked
during the wait, in one\-shot and monitor mode (a masked SIGTERM does not end a
monitor run); those pending at exit are reported (\fBpending\fR) and discarded. A
signal that cannot be caught (KILL, STOP, ILL, FPE, SEGV) or blocked (KILL, STOP),
the C library's 32 and 33, and one in both lists are usage errors.
.SH "FDWATCH SEND"
\fBfdwatch send\fR \fIADDRESS\fR [\fB\-\-data\fR \fISTR\fR] [\fB\-\-urgent\fR \fIBYTES\fR]
[\fB\-\-delay\fR \fIDUR\fR] [\fB\-\-repeat\fR \fIN\fR] [\fB\-\-connections\fR \fIN\fR]
[\fB\-\-shutdown\fR | \fB\-\-rst\fR | \fB\-\-read\-replies\fR]
.PP
Connects to \fBtcp:\fR or \fBunix:\fR addresses and sends \fB\-\-data\fR and \fB\-\-urgent\fR
(send with MSG_OOB; its last byte is the urgent byte) in command\-line order, on
\fIN\fR concurrent connections, \fIN\fR times. Escapes: \e\fBn\fR \e\fBr\fR \e\fBt\fR \e\fB0\fR \e\e \e\fBxHH\fR.
One \fB\-\-delay\fR is the pause between every two sends; given more than once, each is a
pause at its place. \fB\-\-shutdown\fR sends SHUT_WR before closing; \fB\-\-rst\fR closes
with SO_LINGER 0 (a reset); \fB\-\-read\-replies\fR shuts down the write side and reports
the replies until the server closes. See \fBfdwatch\-send\fR(1).
"#;

/// The watch page's sections after EXIT STATUS (roff).
pub const MAN_END: &str = r#".SH GUARANTEES
fdwatch never reads a byte, never changes the status flags (O_NONBLOCK) of an fd
it inherited, never blocks on open, and refuses fds at or above FD_SETSIZE (1024)
with select and pselect rather than invoking undefined behaviour. It raises the
soft RLIMIT_NOFILE to the hard limit. A closed standard output ends it quietly
with status 0.
.SH ENVIRONMENT
.TP
NO_COLOR
When set and not empty, \fB\-\-color auto\fR prints no colours.
.TP
CLICOLOR_FORCE
When set, not empty and not 0, \fB\-\-color auto\fR prints colours even to a pipe.
.TP
CLICOLOR
When 0, \fB\-\-color auto\fR prints no colours (unless CLICOLOR_FORCE).
.TP
TERM
\fBdumb\fR (or unset): \fB\-\-color auto\fR prints no colours on a terminal.
.TP
COLUMNS
The width text output fits (else the terminal's own size, else 80): \fB\-\-read=hex\fR
rows hold 16, 8 or 4 bytes so that they fit, the bench chart's bars shrink, and, when
the width is known (COLUMNS or a terminal), longer lines fold under the text column.
Through a pipe without COLUMNS, lines stay whole.
.SH EXAMPLES
.TP
fdwatch \- 0rw 1w
Wait forever until standard input or output is ready.
.TP
fdwatch 2.5 /tmp/fifo 3r
Watch a FIFO and fd 3 for up to 2.5 seconds.
.TP
fdwatch \-b select 0 0r 1w
A t_select\-style check that does not wait.
.TP
fdwatch \-\-format json 0 0\-9 | jq \-c .ready
Which of fds 0 to 9 are ready, as JSON.
.TP
fdwatch \-m \-\-read=text /tmp/jobs.fifo
Every writer of a FIFO, its lines, and each hang\-up, until interrupted.
.TP
fdwatch pid:1234
What process 1234 is blocked in, on which fds, and which of them are ready now.
.TP
fdwatch \-m \-\-peek pid:1234:5
Watch fd 5 of process 1234 and show what arrives, without taking it.
.TP
producer | fdwatch \-m \-\-tee \- | consumer
A pipeline monitor: the bytes pass unchanged, events go to standard error.
"#;

/// fdwatch-relay(1)'s own section (roff), after OPTIONS: how connections end.
pub const MAN_RELAY: &str = r#".SH "HOW CONNECTIONS END"
An end of file from one side becomes SHUT_WR on the other; the other direction keeps
flowing. When both directions are over, both sockets are closed (\fBclose\fR).
.PP
A reset from one side (ECONNRESET or EPIPE from a read or a write, or the error its
socket reports with ERR) is passed on as a reset: the other side's socket is closed
with SO_LINGER 0, and one \fBreset\fR event names the side that reset. The bytes that
side sent before its reset are relayed first, as far as the other side takes them at
once. This holds whenever the reset
comes: also after that side's end of file or after ours (a keep\-alive server that
closes while its client writes, whose kernel answers the client's bytes with a
reset), and with an urgent byte parked (the reset takes it). poll, epoll and io_uring
report a socket's error and hang\-up whatever it is registered for, so a socket that
hung up with no error leaves the wait until something is wanted of it again; select
and pselect never show them, so a socket asked for nothing is probed with poll every
200 ms. None of them spins.
.PP
A read or write that fails for want of kernel memory (ENOMEM or ENOBUFS from recv,
send or splice) does not end the connection: that direction rests and tries again,
after 10 ms, doubling to at most 1 s, out of the wait meanwhile; every byte already
read stays where it was (the buffer or the splice pipe). Any other failure is an
\fBerror\fR event and the end of that connection.
.PP
A client that closed has, to the relay, only shut down its side: its connection (two
descriptors) stays until TARGET ends its side too. When descriptors run out (EMFILE,
ENFILE), the half\-closed connection that moved no byte for longest, at least a second,
is ended (its open side gets a reset; an \fBerror\fR event says why) and the waiting
client is served instead of refused. Open connections, and half\-closed ones still
moving bytes, are never ended so.
.PP
When the reader of the relay's standard output goes away (\fBfdwatch relay ... | head
\-1\fR, or the reader is killed), the next write of an event finds it gone (EPIPE): the
events stop, the listeners are closed (new clients are refused), and the connections
already open are served to their end; then the relay exits with status 0. SIGINT,
SIGTERM and \fB\-\-idle\fR end it earlier as usual.
"#;

/// SEE ALSO (roff) for the page of `name` (`fdwatch`, `fdwatch-relay`...): every other
/// fdwatch page, then the pages of the calls and tools it is about.
pub fn see_also(name: &str, pages: &[String]) -> String {
    let tools: &[&str] = match name {
        "fdwatch" => &[
            "select(2)",
            "poll(2)",
            "epoll(7)",
            "io_uring_enter(2)",
            "tcp(7)",
            "fifo(7)",
            "signal(7)",
            "pidfd_getfd(2)",
            "strace(1)",
            "socat(1)",
            "lsof(8)",
        ],
        "fdwatch-relay" => &["tcp(7)", "unix(7)", "splice(2)", "socat(1)"],
        "fdwatch-send" => &["send(2)", "tcp(7)", "socat(1)", "nc(1)"],
        "fdwatch-bench" => &["select(2)", "poll(2)", "epoll(7)"],
        _ => &[
            "proc(5)",
            "pipe(7)",
            "sock_diag(7)",
            "strace(1)",
            "pv(1)",
            "lsof(8)",
        ],
    };
    let bold = |p: &str| match p.split_once('(') {
        Some((n, sec)) => format!("\\fB{}\\fR({sec}", n.replace('-', "\\-")),
        None => p.to_owned(),
    };
    let mut refs: Vec<String> = pages
        .iter()
        .filter(|p| *p != name)
        .map(|p| bold(&format!("{p}(1)")))
        .collect();
    refs.extend(tools.iter().map(|t| bold(t)));
    format!(".SH \"SEE ALSO\"\n{}\n", refs.join(", "))
}
