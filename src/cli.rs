//! The command line: clap's view of it, typed at the edge, with one-line errors.

use std::ffi::{OsStr, OsString};
use std::time::Duration;

use clap::error::ErrorKind;
use clap::{Command, CommandFactory, FromArgMatches, Parser};

use crate::backend::BackendKind;
use crate::bench;
use crate::output::{ColorChoice, Format, TimeStyle};
use crate::reader::ReadMode;
use crate::send::{Plan, Step, unescape};
use crate::spec::{self, PidFds, Spec, Target};
use crate::timeout::{self, Timeout};

const ABOUT: &str = "Show whether file descriptors are ready, for what, and when";

const LONG_ABOUT: &str = "\
Show whether file descriptors are ready, for what, and when.

fdwatch waits on inherited fds and opened paths (pipes, FIFOs, ttys, files, devices) \
with the multiplexer you pick (select, pselect, poll, ppoll, epoll) and prints each \
ready fd with the normalized conditions (read write urgent hangup rdhup error \
invalid), the backend's raw flags and timing. It never reads a byte, never changes \
the flags of an fd it inherited, and never blocks on open.";

const AFTER_HELP: &str = "\
SPEC forms:
  N[rwe]        an inherited fd: 0r, 1w, 3re (r read, w write, e urgent; default r)
  N-M[rwe]      a range of inherited fds (the ones that are open)
  PATH[:rwe]    open a path without blocking; ./ forces a path (./0r)
  tcp:HOST:PORT, tcp-listen:[HOST:]PORT, unix:PATH, unix-listen:PATH [/rwe]
                connect or listen (default letters re)
  pid:PID:FD[rwe], pid:PID:N-M[rwe], pid:PID:*[rwe]
                another process's fds (pidfd_getfd): never read (--read and --tee
                are refused; --peek consumes nothing), flags never changed, let go
                when the process closes them
  pid:PID       alone: what that process is blocked in, on which fds, and which of
                them are ready now (no TIMEOUT)
  -             stdin, the same as 0r

Examples:
  fdwatch - 0rw 1w                 wait forever until stdin or stdout is ready
  fdwatch 2.5 /tmp/fifo 3r         FIFO and fd 3, up to 2.5 s
  fdwatch -b select 0 0r 1w        t_select-style check, no waiting
  fdwatch --format json 0 0-9 | jq .ready
  fdwatch -m - /tmp/jobs.fifo      every writer, burst and hang-up, until Ctrl-C
  fdwatch pid:1234                 what is process 1234 waiting for?
  producer | fdwatch -m --tee - | consumer
                                   a pipeline monitor: data passes, events to stderr

Exit status: 0 something was ready, 1 timeout with nothing ready,
2 usage or system error, 128+N ended by signal N.";

#[derive(Parser, Debug)]
#[command(
    name = "fdwatch",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    max_term_width = 100,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,

    /// How long to wait: '-' forever, 0 polls once, seconds (2, 0.25) or a duration
    /// (250ms, 1m30s). With -m it is the idle timeout and may be left out (forever)
    #[arg(value_name = "TIMEOUT", allow_negative_numbers = true, required = true)]
    first: Option<OsString>,

    /// What to watch: N[rwe], N-M[rwe], PATH[:rwe] or - (see below)
    #[arg(value_name = "SPEC", num_args = 0..)]
    rest: Vec<OsString>,

    /// TIMEOUT, typed (filled in from the positionals by `resolve`).
    #[arg(skip = Timeout::Forever)]
    pub timeout: Timeout,

    /// The SPECs, typed (filled in from the positionals by `resolve`).
    #[arg(skip)]
    pub specs: Vec<spec::Typed>,

    /// `fdwatch pid:PID` alone: explain what that process is blocked on.
    #[arg(skip)]
    pub explain: Option<i32>,

    /// The multiplexer to wait with
    #[arg(short, long, value_enum, default_value_t = BackendKind::Epoll, value_name = "BACKEND")]
    pub backend: BackendKind,

    /// Register with EPOLLET, edge-triggered (epoll only). -m with epoll registers
    /// edge-triggered anyway (so an unread fd cannot make it spin): --edge matters for
    /// one-shot runs
    #[arg(long)]
    pub edge: bool,

    /// Register with EPOLLONESHOT (epoll only)
    #[arg(long)]
    pub oneshot: bool,

    /// Keep watching and report every change, until all fds are gone, --count events,
    /// the idle TIMEOUT (time with no event), or --once's end of file
    #[arg(short = 'm', long)]
    pub monitor: bool,

    /// Stop after N events (the summary is not counted)
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Consume data when readable and report it: count (bytes, rate), text (escaped), hex
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "count"
    )]
    pub read: Option<ReadMode>,

    /// Largest single read for --read, --tee and --peek, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 65536,
          value_parser = clap::value_parser!(u32).range(1..=(16 << 20)))]
    pub read_size: u32,

    /// Show queued data without consuming it (tee(2) for pipes, MSG_PEEK for sockets)
    #[arg(long, conflicts_with_all = ["read", "tee"])]
    pub peek: bool,

    /// Pass consumed data to stdout unchanged; events go to stderr (implies --read=count)
    #[arg(long)]
    pub tee: bool,

    /// Set SO_OOBINLINE on the sockets fdwatch opens: urgent bytes stay in the stream
    /// and the output shows where the mark falls
    #[arg(long)]
    pub oobinline: bool,

    /// With -m: end at the first end of file or hang-up instead of reopening FIFOs
    #[arg(long, requires = "monitor")]
    pub once: bool,

    /// How often fds that stay ready are re-checked, and FIFOs without a reader re-opened
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_interval)]
    pub interval: Duration,

    /// Signals to catch and report as events (USR1,USR2,CHLD, numbers, RTMIN+N); with
    /// pselect, ppoll and epoll they are unblocked only inside the wait
    #[arg(long, value_name = "LIST", value_parser = parse_signals)]
    pub signals: Option<SigList>,

    /// Signals kept blocked through the wait; reported at exit if pending (then discarded)
    #[arg(long, value_name = "LIST", value_parser = parse_signals)]
    pub mask: Option<SigList>,

    /// Output format: aligned text, or JSON Lines (one object per event)
    #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
    pub format: Format,

    /// Timestamp style in text output (JSON always has "t", seconds since start)
    #[arg(long, value_enum, default_value_t, value_name = "STYLE")]
    pub time: TimeStyle,

    /// When to colour text output (auto: stdout is a terminal; honours NO_COLOR, CLICOLOR_FORCE)
    #[arg(long, value_enum, default_value_t, value_name = "WHEN")]
    pub color: ColorChoice,

    /// No output; the exit status answers
    #[arg(short, long)]
    pub quiet: bool,

    /// Also report each wait (call, timeout, time blocked, result) and how each fd is watched
    #[arg(short, long)]
    pub verbose: bool,
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
With \fB\-\-format json\fR each event is one JSON object per line:
.nf
{"event":"ready","t":0.000412,"fd":0,"what":"pipe:[1234]","kind":"pipe",
 "ready":["read"],"raw":"POLLIN","backend":"poll","queued":5,"pipe_size":65536}
.fi
Events: \fBready\fR; \fBdata\fR (fd, what, bytes, total, rate, text, hex, peek);
\fBeof\fR (fd, what, total); \fBhangup\fR (fd, what, action: reopen, remove, end
or gone);
\fBerror\fR (fd, what, errno, message); \fBexhausted\fR (fd, what, call, errno,
refused, duration: see \fBRUNNING OUT OF DESCRIPTORS\fR); \fBtimeout\fR; \fBblocked\fR (pid, tid,
comm, state, call, nr, wchan, timeout_ms, epfd, note, fds: fd, want, flags, what,
ready, queued, error); \fBwait\fR and \fBnote\fR
(with \fB\-v\fR); \fBsummary\fR (backend, waits, events, ready_fds, blocked, timeout,
left, elapsed, bytes per fd). \fBt\fR is seconds since start.
.SH "NAMES AND TEXT"
File names, socket paths, peer addresses, process names and \fB\-\-read=text\fR data
come from other people and reach your terminal, so they are printed escaped, in text
and in JSON alike: printable UTF\-8 as it is; a backslash as \fB\e\e\fR; newline,
carriage return, tab and ESC as \fB\en\fR, \fB\er\fR, \fB\et\fR, \fB\ee\fR; other
control bytes and DEL as \fB\exNN\fR; C1 controls (U+0080 to U+009F) and Unicode
bidirectional and format controls (U+061C, U+180E, U+200B to U+200F, U+2028 to
U+202E, U+2060 to U+2069, U+FEFF, U+FFF9 to U+FFFB) as \fB\eu{202e}\fR; each byte of
invalid UTF\-8 as \fB\exNN\fR. No name can move the cursor, recolour or retitle the
terminal, or reorder a line. JSON stays valid, and the exact bytes come back by
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
\fBconnect\fR event (SO_ERROR). \fBtcp\-listen:[HOST:]PORT\fR and \fBunix\-listen:PATH\fR
listen; each accepted connection is an \fBaccept\fR event (new fd, peer) and is watched
with the listener's letters (default \fBre\fR) until its peer closes. Without
\fB\-\-read\fR a connection whose peer closed is reported (\fBhangup\fR) and released
at once, unread data or not.
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
.SH "RUNNING OUT OF DESCRIPTORS"
When \fBaccept\fR (or the relay's connection to TARGET, or a FIFO's reopen) fails with
EMFILE, ENFILE, ENOBUFS or ENOMEM, fdwatch does not ask again at once (a listener
stays ready, so that would spin): the fd leaves the wait until a descriptor is freed
or a back\-off expires (10 ms, doubling, at most 1 s). Clients that cannot be served
are accepted on a spare descriptor kept for that and closed at once, so each sees its
connection closed rather than a hang. The episode is one \fBexhausted\fR event when it
ends (or at the end of the run): the call, the errno, the clients refused, how long it
lasted; \fB\-v\fR notes its start. Signals are served throughout.
.SH "STANDARD OUTPUT"
Events (and, with \fB\-\-tee\fR, the data) are written through a private non\-blocking
reopen of the pipe, FIFO or tty (a socket with MSG_DONTWAIT), so the flags of the
descriptor you gave fdwatch never change. A slow reader makes fdwatch wait for room,
with SIGINT, SIGTERM and SIGHUP still heard: they end the run within a second even when
nobody reads (the summary is then dropped if it cannot be written). A reader that
leaves ends fdwatch quietly with status 0; any other write error (ENOSPC) is one line
and status 2.
.SH SIGNALS
Signals named by \fB\-\-signals\fR are blocked from startup and reported as \fBsignal\fR
events with the sender's pid. With pselect, ppoll and epoll (epoll_pwait) the wait's
mask unblocks them only inside the wait, so none is lost between two waits; with
select and poll a self\-pipe in the watch set receives them. A caught signal does not
end a one\-shot wait: it goes on with the time left. In monitor mode SIGINT, SIGTERM
and SIGHUP end the run: summary first, then death by the same signal. Signals named by
\fB\-\-mask\fR stay blocked during the wait; those pending at exit are reported
(\fBpending\fR) and discarded.
.SH "FDWATCH SEND"
\fBfdwatch send\fR \fIADDRESS\fR [\fB\-\-data\fR \fISTR\fR] [\fB\-\-urgent\fR \fIBYTES\fR]
[\fB\-\-delay\fR \fIDUR\fR] [\fB\-\-repeat\fR \fIN\fR] [\fB\-\-connections\fR \fIN\fR]
[\fB\-\-shutdown\fR | \fB\-\-rst\fR]
.PP
Connects to \fBtcp:\fR or \fBunix:\fR addresses and sends \fB\-\-data\fR and \fB\-\-urgent\fR
(send with MSG_OOB; its last byte is the urgent byte) in command\-line order, on
\fIN\fR concurrent connections, \fIN\fR times. Escapes: \e\fBn\fR \e\fBr\fR \e\fBt\fR \e\fB0\fR \e\e \e\fBxHH\fR.
\fB\-\-shutdown\fR sends SHUT_WR before closing; \fB\-\-rst\fR closes with SO_LINGER 0 (a reset).
.SH "EXIT STATUS"
.TP
0
Something was ready (an invalid fd counts), or a normal end.
.TP
1
The timeout passed with nothing ready.
.TP
2
A usage or system error: one line on standard error naming the argument as typed, or
the fd and the call that failed (\fBread\fR, \fBrecv(MSG_OOB)\fR, \fBsplice\fR...). A
read that fails (EIO, say) ends the run so; a connection that is reset or times out
is an \fBerror\fR event for that fd and the run goes on.
.TP
128+N
Ended by signal N.
.SH GUARANTEES
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

#[derive(clap::Subcommand, Debug)]
pub enum Sub {
    /// Send normal and urgent (MSG_OOB) data to tcp:HOST:PORT or unix:PATH, in
    /// command-line order: a test client for urgent-data debugging
    Send(SendArgs),
    /// The select/poll/epoll scaling experiment on this kernel: N pipes, K active, one
    /// byte written, waited for and read per event; ns per event and events/s per
    /// backend and N, as a table and a log-scale bar chart, or JSON Lines
    Bench(BenchArgs),
    /// A watching TCP/UNIX relay: forwards LISTEN's clients to TARGET both ways, with
    /// urgent bytes re-sent at their stream offset, half-closes and resets passed on,
    /// bounded buffers, and every step as an event
    Relay(RelayArgs),
}

#[derive(clap::Args, Debug)]
pub struct RelayArgs {
    /// Where clients connect: tcp-listen:[HOST:]PORT or unix-listen:PATH
    #[arg(value_name = "LISTEN")]
    pub listen: String,

    /// Where each client is relayed to: tcp:HOST:PORT or unix:PATH
    #[arg(value_name = "TARGET")]
    pub target: String,

    /// The multiplexer to wait with
    #[arg(short, long, value_enum, default_value_t = BackendKind::Epoll, value_name = "BACKEND")]
    pub backend: BackendKind,

    /// How data events show the bytes: count (coalesced per --interval), text, hex
    #[arg(long, value_enum, value_name = "MODE", num_args = 0..=1, require_equals = true,
          default_value = "count", default_missing_value = "count")]
    pub read: ReadMode,

    /// Stop after N connections were accepted and all of them closed
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop after this long with no traffic: seconds (30, 2.5) or a duration (5m), as
    /// TIMEOUT in watch mode
    #[arg(long, value_name = "DUR", value_parser = parse_idle)]
    pub idle: Option<Duration>,

    /// How often --read=count reports the bytes of a busy direction
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_interval)]
    pub interval: Duration,

    /// Most bytes buffered per direction of each connection: buffers start at 64 KiB
    /// and grow only while a fast side fills them; memory stays bounded by this
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u32).range(1..=(16 << 20)))]
    pub buffer: u32,

    /// Output format: text or json (JSON Lines)
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub format: Format,

    /// Timestamp style in text
    #[arg(long, value_enum, default_value_t = TimeStyle::Elapsed, value_name = "STYLE")]
    pub time: TimeStyle,

    /// When to colour the text output
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

impl RelayArgs {
    pub fn config(&self) -> crate::relay::Config {
        crate::relay::Config {
            listen: self.listen.clone(),
            target: self.target.clone(),
            backend: self.backend,
            read: self.read,
            count: self.count,
            idle: self.idle,
            interval: self.interval,
            buffer: self.buffer as usize,
        }
    }

    pub fn output(&self) -> crate::output::Output {
        crate::output::Output {
            format: self.format,
            time: self.time,
            color: self.color,
            quiet: false,
            to_stderr: false,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Backends to measure, comma-separated; none is the floor (write + read, no wait)
    #[arg(
        long,
        value_enum,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "none,select,pselect,poll,ppoll,epoll"
    )]
    pub backends: Vec<bench::Column>,

    /// Numbers of watched pipes, comma-separated (select stops at FD_SETSIZE)
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "10,100,1000,10000",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub fds: Vec<u32>,

    /// How many of the pipes take turns being written [default: 10, or N where N is
    /// smaller]; at most the largest N
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub active: Option<u32>,

    /// Rounds per repeat (default: calibrated so a repeat takes about 150 ms)
    #[arg(long, value_name = "R", value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: Option<u64>,

    /// Timed repeats per row; the median is reported with the min and max
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub repeats: u16,

    /// Wait timeout in ms: -1 blocks (as the C reference), 0 only polls
    #[arg(long, value_name = "MS", default_value_t = -1, allow_negative_numbers = true,
          value_parser = clap::value_parser!(i32).range(-1..=60_000))]
    pub timeout: i32,

    /// Two processes: a writer process wakes the waiting one (round trip per event)
    #[arg(long)]
    pub wake: bool,

    /// Pin fdwatch and its helper processes to this CPU
    #[arg(long, value_name = "CPU")]
    pub cpu: Option<usize>,

    /// Output format: text (table and bar chart) or json (one object per row)
    #[arg(long, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    pub format: Format,

    /// When to colour the text output
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

impl BenchArgs {
    /// The experiment to run; `--active` above every `--fds` value is refused (no row
    /// could have that many active pipes).
    pub fn config(&self) -> Result<bench::Config, String> {
        let mut columns = self.backends.clone();
        dedup_in_order(&mut columns);
        let mut fds: Vec<usize> = self.fds.iter().map(|&n| n as usize).collect();
        dedup_in_order(&mut fds);
        let largest = fds.iter().copied().max().unwrap_or(0);
        if let Some(k) = self.active
            && k as usize > largest
        {
            return Err(format!(
                "bench --active {k}: above every --fds value (at most {largest}): K of the N pipes take turns"
            ));
        }
        Ok(bench::Config {
            columns,
            fds,
            active: self.active.map_or(10, |k| k as usize),
            rounds: self.rounds,
            repeats: usize::from(self.repeats),
            timeout_ms: self.timeout,
            wake: self.wake,
            cpu: self.cpu,
            format: self.format,
            color: self.color,
        })
    }
}

/// Drops repeats of a list option, keeping the first occurrence's place.
fn dedup_in_order<T: PartialEq + Copy>(v: &mut Vec<T>) {
    let mut seen = Vec::with_capacity(v.len());
    v.retain(|x| {
        let new = !seen.contains(x);
        seen.push(*x);
        new
    });
}

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// Where to connect: tcp:HOST:PORT or unix:PATH
    #[arg(value_name = "ADDRESS")]
    pub address: String,

    /// Normal data to send (escapes: \n \r \t \0 \\ \xHH); repeatable, in order with --urgent
    #[arg(long, value_name = "STR")]
    pub data: Vec<String>,

    /// Data sent with send(MSG_OOB): its last byte is the urgent byte; repeatable
    #[arg(long, value_name = "BYTES")]
    pub urgent: Vec<String>,

    /// Pause between sends (a duration: 10ms, 1s)
    #[arg(long, value_name = "DUR", value_parser = humantime::parse_duration)]
    pub delay: Option<Duration>,

    /// Send the whole sequence N times on each connection
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeat: u64,

    /// Open N concurrent client connections (load for a listener)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub connections: u32,

    /// shutdown(SHUT_WR) after sending, before closing
    #[arg(long)]
    pub shutdown: bool,

    /// Close with SO_LINGER 0, so the peer gets a reset (RST)
    #[arg(long, conflicts_with = "shutdown")]
    pub rst: bool,

    /// The sends in command-line order (filled in by `parse`).
    #[arg(skip)]
    pub plan: Plan,
}

/// --data and --urgent in the order they were given, from clap's argument indices.
fn send_steps(m: &clap::ArgMatches) -> Result<Vec<Step>, String> {
    let mut steps: Vec<(usize, Step)> = Vec::new();
    for (id, urgent) in [("data", false), ("urgent", true)] {
        let (Some(idx), Some(vals)) = (m.indices_of(id), m.get_many::<String>(id)) else {
            continue;
        };
        for (i, v) in idx.zip(vals) {
            let bytes = unescape(v).map_err(|e| format!("--{id} {e}"))?;
            steps.push((
                i,
                if urgent {
                    Step::Urgent(bytes)
                } else {
                    Step::Data(bytes)
                },
            ));
        }
    }
    steps.sort_by_key(|(i, _)| *i);
    Ok(steps.into_iter().map(|(_, s)| s).collect())
}

/// clap's definition, for the man page and completions too.
pub fn command() -> Command {
    Args::command()
}

/// What parsing the command line decided.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Args>),
    /// Help or version was printed, or a usage error: exit with this status.
    Exit(u8),
}

/// Parses argv. Usage errors print exactly one line on stderr (SPEC: exit 2).
pub fn parse<I, T>(argv: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    let res = command().try_get_matches_from(&argv).and_then(|mut m| {
        let steps = match m.subcommand() {
            Some(("send", sm)) => Some(send_steps(sm)),
            _ => None,
        };
        Args::from_arg_matches_mut(&mut m).map(|a| (a, steps))
    });
    match res {
        Ok((mut a, steps)) => match a.resolve().and_then(|()| a.fill_plan(steps)) {
            Ok(()) => Parsed::Run(Box::new(a)),
            Err(msg) => {
                crate::report_error(&msg);
                Parsed::Exit(2)
            }
        },
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            // A closed stdout here is not worth an error.
            let _ = e.print();
            Parsed::Exit(0)
        }
        Err(e) => {
            let msg = match e.kind() {
                ErrorKind::UnknownArgument => {
                    dash_value_error(&argv).unwrap_or_else(|| one_line(&e))
                }
                // Only the first positional is required by clap; say what the form is.
                ErrorKind::MissingRequiredArgument => {
                    "missing TIMEOUT and SPEC: fdwatch [OPTIONS] TIMEOUT SPEC... (see --help)"
                        .into()
                }
                _ => one_line(&e),
            };
            crate::report_error(&msg);
            Parsed::Exit(2)
        }
    }
}

/// For a value that starts with `-` but is no option (`-1r`, `-inf`), clap names only
/// a fragment (`'-1'`). This finds the whole word and lets our own parser explain it:
/// as TIMEOUT when no positional came before it, as a SPEC otherwise.
fn dash_value_error(argv: &[OsString]) -> Option<String> {
    if let Some(e) = dash_option_value_error(argv) {
        return Some(e);
    }
    let cmd = command();
    // `-b` / `--backend` and the like consume the next word (unless written `--x=v`).
    let takes_value = |word: &str| {
        cmd.get_arguments().any(|a| {
            let named = match word.strip_prefix("--") {
                Some(long) => a.get_long() == Some(long),
                None => word.len() == 2 && word[1..].chars().next() == a.get_short(),
            };
            named && a.get_action().takes_values()
        })
    };
    let numeric = |w: &str| {
        w[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.') || w.parse::<f64>().is_ok()
    };
    let mut positionals = 0;
    let mut words = argv.iter().skip(1).map(|w| w.to_string_lossy());
    while let Some(w) = words.next() {
        if w == "--" {
            return None;
        } else if w == "-" || !w.starts_with('-') {
            positionals += 1;
        } else if !w.starts_with("--") && numeric(&w) {
            return Some(if positionals == 0 {
                timeout::parse(&w).err()?.to_string()
            } else {
                spec::parse(OsStr::new(w.as_ref())).err()?.to_string()
            });
        } else if takes_value(&w) {
            words.next();
        }
    }
    None
}

/// `--delay -1`: clap takes `-1` for an option of its own and says so. Given to the
/// option it follows (`--delay=-1`), the option's own parser names what is wrong.
fn dash_option_value_error(argv: &[OsString]) -> Option<String> {
    let cmd = command();
    let takes_value = |c: &Command, word: &str| {
        c.get_arguments().any(|a| {
            let named = match word.strip_prefix("--") {
                Some(long) => a.get_long() == Some(long),
                None => word.len() == 2 && word[1..].chars().next() == a.get_short(),
            };
            named && a.get_action().takes_values()
        })
    };
    let negative = |w: &str| {
        w.starts_with('-') && w[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.')
    };
    let words: Vec<String> = argv
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let mut scope = &cmd;
    for (i, pair) in words.windows(2).enumerate() {
        let (opt, value) = (&pair[0], &pair[1]);
        if let Some(sub) = cmd.find_subcommand(opt.as_str()) {
            scope = sub;
            continue;
        }
        if !(opt.starts_with('-') && negative(value) && takes_value(scope, opt)) {
            continue;
        }
        let joined = if opt.starts_with("--") {
            format!("{opt}={value}")
        } else {
            format!("{opt}{value}")
        };
        let mut fixed: Vec<OsString> = argv[..i].to_vec();
        fixed.push(joined.into());
        fixed.extend_from_slice(&argv[i + 2..]);
        return command()
            .try_get_matches_from(fixed)
            .err()
            .map(|e| one_line(&e));
    }
    None
}

/// clap's error as one line: its first paragraph, joined, without "error: " and tips.
fn one_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let para: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let joined = para.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_owned()
}

/// A list of signal numbers from `--signals` / `--mask`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SigList(pub Vec<i32>);

fn parse_signals(s: &str) -> Result<SigList, String> {
    crate::signals::parse_list(s).map(SigList)
}

/// `--interval`: a humantime duration from 1 ms to 1 hour.
/// `relay --idle`: the TIMEOUT grammar, finite and above zero.
fn parse_idle(s: &str) -> Result<Duration, String> {
    match timeout::parse(s).map_err(|e| e.to_string())? {
        Timeout::After(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "idle '{}': expected a time above zero (leave --idle out to run until a signal)",
            crate::escape::message(s)
        )),
    }
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|_| format!("interval '{s}': expected a duration like 100ms or 1s"))?;
    if d < Duration::from_millis(1) || d > Duration::from_secs(3600) {
        return Err(format!("interval '{s}': must be between 1ms and 1h"));
    }
    Ok(d)
}

impl Args {
    /// Types the positionals: TIMEOUT then SPECs. In monitor mode TIMEOUT may be left
    /// out (`fdwatch -m --tee -`): a lone positional, or a first one that is no
    /// timeout but is a SPEC, starts the SPECs and the idle timeout is forever.
    fn resolve(&mut self) -> Result<(), String> {
        let Some(first) = self.first.clone() else {
            return Ok(());
        };
        let first_spec = spec::parse(&first);
        // `fdwatch pid:PID` alone explains and exits: no TIMEOUT (SPEC §7).
        if let Ok(Spec {
            target:
                Target::Pid {
                    pid,
                    fds: PidFds::Explain,
                },
            ..
        }) = first_spec
            && self.rest.is_empty()
        {
            self.refuse_reading(&first_spec.map_err(|e| e.to_string())?)?;
            self.explain = Some(pid);
            return Ok(());
        }
        let first_is_spec = first_spec.is_ok();
        let first_timeout = first.to_str().map(timeout::parse);
        let rest: &[OsString] = &self.rest;
        let (timeout, specs): (Timeout, Vec<&OsString>) = match first_timeout {
            _ if self.monitor && first_is_spec && rest.is_empty() => {
                (Timeout::Forever, vec![&first])
            }
            Some(Ok(t)) => (t, rest.iter().collect()),
            _ if self.monitor && first_is_spec => (
                Timeout::Forever,
                std::iter::once(&first).chain(rest).collect(),
            ),
            Some(Err(e)) => return Err(e.to_string()),
            None => {
                return Err(format!(
                    "timeout '{}': not valid UTF-8",
                    first.to_string_lossy()
                ));
            }
        };
        if specs.is_empty() {
            return Err("missing SPEC: what to watch (fdwatch TIMEOUT SPEC..., see --help)".into());
        }
        self.specs = specs
            .into_iter()
            .map(|s| spec::Typed::parse(s).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        if let Some(p) = self
            .specs
            .iter()
            .find(|s| matches!(s.target, Target::Pid { .. }))
        {
            self.refuse_reading(p)?;
        }
        self.timeout = timeout;
        Ok(())
    }

    /// Another process's fds share its open file descriptions: reading would steal its
    /// data, so --read and --tee are refused with any `pid:` spec.
    fn refuse_reading(&self, p: &dyn std::fmt::Display) -> Result<(), String> {
        let opt = if self.tee {
            "--tee"
        } else if self.read.is_some() {
            "--read"
        } else {
            return Ok(());
        };
        Err(format!(
            "{opt} consumes data, and spec '{p}' is another process's: pid: fds are \
             watched without reading (--peek shows queued data without taking it)"
        ))
    }

    /// `send`: the plan from its options and the ordered steps.
    fn fill_plan(&mut self, steps: Option<Result<Vec<Step>, String>>) -> Result<(), String> {
        if let (Some(Sub::Send(s)), Some(steps)) = (&mut self.command, steps) {
            s.plan = Plan {
                steps: steps?,
                delay: s.delay,
                repeat: s.repeat,
                connections: s.connections,
                shutdown: s.shutdown,
                rst: s.rst,
            };
        }
        Ok(())
    }

    /// How data is consumed: `--read`, or `--tee` alone meaning `--read=count`.
    pub fn read_mode(&self) -> Option<ReadMode> {
        self.read.or(self.tee.then_some(ReadMode::Count))
    }

    /// Watch mode's typed configuration: what everything below the command line sees.
    pub fn watch_config(&self) -> crate::watch::Config {
        let list = |l: &Option<SigList>| l.as_ref().map(|l| l.0.clone()).unwrap_or_default();
        crate::watch::Config {
            timeout: self.timeout,
            specs: self.specs.clone(),
            backend: self.backend,
            edge: self.edge,
            oneshot: self.oneshot,
            monitor: self.monitor,
            count: self.count,
            read: self.read_mode(),
            read_size: self.read_size as usize,
            peek: self.peek,
            tee: self.tee,
            oobinline: self.oobinline,
            once: self.once,
            interval: self.interval,
            signals: list(&self.signals),
            mask: list(&self.mask),
            output: crate::output::Output {
                format: self.format,
                time: self.time,
                color: self.color,
                quiet: self.quiet,
                // With --tee stdout carries the data.
                to_stderr: self.tee,
            },
            verbose: self.verbose,
        }
    }
}
