# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_fdwatch_global_optspecs
    string join \n b/backend= edge oneshot m/monitor until= c/count= read= read-size= peek tee oobinline once interval= signals= mask= format= time= color= q/quiet v/verbose generate= h/help V/version
end

function __fish_fdwatch_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_fdwatch_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_fdwatch_using_subcommand
    set -l cmd (__fish_fdwatch_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c fdwatch -n "__fish_fdwatch_needs_command" -s b -l backend -d 'The multiplexer to wait with' -r -f -a "select\t''
pselect\t''
poll\t''
ppoll\t''
epoll\t''
uring\t''"
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l until -d 'With -m: end at the first event matching one of these (read, write, urgent, hangup, rdhup, error, eof, signal, accept); the exit status says which (10 read, 11 write, 12 urgent, 13 hangup, 14 rdhup, 15 error, 16 eof, 17 signal, 18 accept)' -r -f -a "read\t''
write\t''
urgent\t''
hangup\t''
rdhup\t''
error\t''
eof\t''
signal\t''
accept\t''"
complete -c fdwatch -n "__fish_fdwatch_needs_command" -s c -l count -d 'Stop after N events (the summary is not counted)' -r
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l read -d 'Consume data when readable and report it: count (bytes, rate), text (escaped), hex' -r -f -a "count\t'Bytes and rate'
text\t'The bytes as escaped text'
hex\t'Offset, hex and ASCII rows'"
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l read-size -d 'Largest single read for --read, --tee and --peek, in bytes' -r
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l interval -d 'How often fds that stay ready are re-checked, and FIFOs without a reader re-opened' -r
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l signals -d 'Signals to catch and report as events (USR1,USR2,CHLD, numbers, RTMIN+N); with pselect, ppoll, epoll and uring they are unblocked only inside the wait' -r
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l mask -d 'Signals kept blocked through the wait (SIGINT, SIGTERM, SIGHUP too, which then no longer end a monitor run); reported at exit if pending (then discarded)' -r
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l format -d 'Output format: aligned text, or JSON Lines (one object per event)' -r -f -a "text\t''
json\t''
tlpi\t'The book\'s programs\' output (t_select, poll_pipes, epoll_input): watch mode only'"
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l time -d 'Timestamp style in text output (JSON always has "t", seconds since start)' -r -f -a "elapsed\t'Seconds since start'
delta\t'Seconds since the previous event'
wall\t'Local wall-clock time'
none\t''"
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l color -d 'When to colour text output (auto: a terminal whose TERM has colour; honours NO_COLOR, CLICOLOR=0 and CLICOLOR_FORCE)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l generate -d 'Print a man page or shell completions and exit: man, man-relay, man-send, man-bench, man-pipeline, complete-bash, complete-zsh, complete-fish' -r -f -a "man\t'fdwatch(1)'
man-relay\t'fdwatch-relay(1)'
man-send\t'fdwatch-send(1)'
man-bench\t'fdwatch-bench(1)'
man-pipeline\t'fdwatch-pipeline(1)'
complete-bash\t'bash completions'
complete-zsh\t'zsh completions (_fdwatch)'
complete-fish\t'fish completions'"
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l edge -d 'Register with EPOLLET, edge-triggered (epoll only). -m with epoll registers edge-triggered anyway (so an unread fd cannot make it spin): --edge matters for one-shot runs'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l oneshot -d 'Register with EPOLLONESHOT (epoll only)'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -s m -l monitor -d 'Keep watching and report every change, until all fds are gone, --count events, the idle TIMEOUT (time with no event), or --once\'s end of file'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l peek -d 'Show queued data without consuming it (tee(2) for pipes, MSG_PEEK for sockets)'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l tee -d 'Pass consumed data to stdout unchanged; events go to stderr (implies --read=count)'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l oobinline -d 'Set SO_OOBINLINE on the sockets fdwatch opens: urgent bytes stay in the stream and the output shows where the mark falls'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -l once -d 'With -m: end at the first end of file or hang-up instead of reopening FIFOs'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -s q -l quiet -d 'No output; the exit status answers'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -s v -l verbose -d 'Also report each wait (call, timeout, time blocked, result) and how each fd is watched'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -s V -l version -d 'Print version'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -a "send" -d 'Send normal and urgent (MSG_OOB) data to tcp:HOST:PORT or unix:PATH, in command-line order: a test client for urgent-data debugging'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -a "bench" -d 'The select/poll/epoll scaling experiment on this kernel: N pipes, K active, one byte written, waited for and read per event; ns per event and events/s per backend and N, as a table and a log-scale bar chart, or JSON Lines'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -a "relay" -d 'A watching TCP/UNIX relay: forwards LISTEN\'s clients to TARGET both ways, with urgent bytes re-sent at their stream offset, half-closes and resets passed on, bounded buffers, and every step as an event'
complete -c fdwatch -n "__fish_fdwatch_needs_command" -a "pipeline" -d 'Where a pipeline of processes is stuck: every pipe, FIFO and socket (UNIX, loopback TCP) between them with its fill, each process\'s blocked call and rates, and a verdict naming the one holding the rest back; live, or one snapshot'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l data -d 'Normal data to send (escapes: \\n \\r \\t \\0 \\\\ \\xHH); repeatable, in order with --urgent' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l urgent -d 'Data sent with send(MSG_OOB): its last byte is the urgent byte; repeatable' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l delay -d 'Pause, a DUR: given once, between every two sends; given more than once, each is a pause at its place among --data and --urgent' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l repeat -d 'Send the whole sequence N times on each connection' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l connections -d 'Open N concurrent client connections (load for a listener)' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l format -d 'Output format: text or json (JSON Lines, the relay\'s event kinds)' -r -f -a "text\t''
json\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l time -d 'Timestamp style in text' -r -f -a "elapsed\t'Seconds since start'
delta\t'Seconds since the previous event'
wall\t'Local wall-clock time'
none\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l color -d 'When to colour the text output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l shutdown -d 'shutdown(SHUT_WR) after sending, before closing'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l rst -d 'Close with SO_LINGER 0, so the peer gets a reset (RST)'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -l read-replies -d 'After the last send: shut down the write side, report the replies (data from the target) until the server closes, then close: a clean close for an echo server. Without it, replies already queued are read (and reported) before closing'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -s v -l verbose -d 'Print each step (connect, data, urgent byte, close) as an event; JSON always does'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand send" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l backends -d 'Backends to measure, comma-separated; none is the floor (write + read, no wait)' -r -f -a "none\t'The floor: write + read with no wait (wake mode: a blocking read)'
select\t''
pselect\t''
poll\t''
ppoll\t''
epoll\t''
uring\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l fds -d 'Numbers of watched pipes, comma-separated (select stops at FD_SETSIZE)' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l active -d 'How many of the pipes take turns being written [default: 10, or N where N is smaller]; at most the largest N' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l rounds -d 'Rounds per repeat (default: calibrated so a repeat takes about 150 ms)' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l repeats -d 'Timed repeats per row; the median is reported with the min and max' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l timeout -d 'Wait timeout in ms: -1 blocks (as the C reference), 0 only polls' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l cpu -d 'Pin fdwatch and its helper processes to this CPU' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l format -d 'Output format: text (table and bar chart) or json (one object per row)' -r -f -a "text\t''
json\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l color -d 'When to colour the text output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -l wake -d 'Two processes: a writer process wakes the waiting one (round trip per event)'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand bench" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -s b -l backend -d 'The multiplexer to wait with' -r -f -a "select\t''
pselect\t''
poll\t''
ppoll\t''
epoll\t''
uring\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -l read -d 'How data events show the bytes: count (coalesced per --interval; bulk bytes then go zero-copy with splice), text, hex' -r -f -a "count\t'Bytes and rate'
text\t'The bytes as escaped text'
hex\t'Offset, hex and ASCII rows'"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -s c -l count -d 'Stop after N connections were accepted and all of them closed' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -l idle -d 'Stop after this long with no traffic, a DUR' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -l interval -d 'How often --read=count reports the bytes of a busy direction, a DUR' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -l buffer -d 'Most bytes buffered per direction of each connection: buffers start at 64 KiB and grow only while a fast side fills them, an idle connection holds none, and a splice pipe is sized to this; memory stays bounded by it' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -l format -d 'Output format: text or json (JSON Lines)' -r -f -a "text\t''
json\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -l time -d 'Timestamp style in text' -r -f -a "elapsed\t'Seconds since start'
delta\t'Seconds since the previous event'
wall\t'Local wall-clock time'
none\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -l color -d 'When to colour the text output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -s q -l quiet -d 'No output; the exit status answers'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand relay" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline" -l pgid -d 'Every process of this process group: a shell job (`jobs -p`), a `setsid` group; or of the group of this pid (`$!`, a pipeline\'s last process), said in a note' -r -f -a "(__fish_fdwatch_pids)"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline" -l tree -d 'This process and all its descendants' -r -f -a "(__fish_fdwatch_pids)"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline" -l interval -d 'Time between snapshots of the live view, a DUR' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline" -s c -l count -d 'Stop after N snapshots' -r
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline" -l format -d 'Output format: text (redrawn in place on a terminal) or json (one `pipeline` line per snapshot)' -r -f -a "text\t''
json\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline" -l color -d 'When to colour the text output' -r -f -a "auto\t''
always\t''
never\t''"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline" -l once -d 'One snapshot, then exit (rates need two, so they are left out)'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline" -s q -l quiet -d 'No output; the exit status answers (1: the last snapshot\'s verdict is stuck)'
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline" -s h -l help -d 'Print help'

# Top-level option values (see fdwatch's src/cli/generate.rs).
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in -b --backend" -f -a "select pselect poll ppoll epoll uring"
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in --until" -f -a "read write urgent hangup rdhup error eof signal accept"
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in -c --count" -f
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in --read-size" -f
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in --interval" -f
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in --signals" -f
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in --mask" -f
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in --format" -f -a "text json tlpi"
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in --time" -f -a "elapsed delta wall none"
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in --color" -f -a "auto always never"
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and __fish_prev_arg_in --generate" -f -a "man man-relay man-send man-bench man-pipeline complete-bash complete-zsh complete-fish"

# Process ids from /proc, each with its name (see fdwatch's src/cli/complete_pids.rs).
function __fish_fdwatch_pids
    string replace -rf '^/proc/(\d+)/comm:(.*)$' '$1\t$2' -- (grep -H '' /proc/*/comm 2>/dev/null)
end
complete -c fdwatch -n "not __fish_seen_subcommand_from send bench relay pipeline; and string match -q -- 'pid:*' (commandline -ct)" -f -a "(__fish_fdwatch_pids | string replace -r '^' pid:)"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline; and not __fish_prev_arg_in --tree --pgid --interval -c --count --format --color" -f -a "(__fish_fdwatch_pids)"
