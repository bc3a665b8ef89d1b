complete -c fdwatch -s b -l backend -d 'The multiplexer to wait with' -r -f -a "select\t''
pselect\t''
poll\t''
ppoll\t''
epoll\t''"
complete -c fdwatch -s c -l count -d 'Stop after N events (the summary is not counted)' -r
complete -c fdwatch -l read -d 'Consume data when readable and report it: count (bytes, rate), text (escaped), hex' -r -f -a "count\t'Bytes and rate'
text\t'The bytes as escaped text'
hex\t'Offset, hex and ASCII rows'"
complete -c fdwatch -l read-size -d 'Largest single read for --read, --tee and --peek, in bytes' -r
complete -c fdwatch -l interval -d 'How often fds that stay ready are re-checked, and FIFOs without a reader re-opened' -r
complete -c fdwatch -l format -d 'Output format: aligned text, or JSON Lines (one object per event)' -r -f -a "text\t''
json\t''"
complete -c fdwatch -l time -d 'Timestamp style in text output (JSON always has "t", seconds since start)' -r -f -a "elapsed\t'Seconds since start'
delta\t'Seconds since the previous event'
wall\t'Local wall-clock time'
none\t''"
complete -c fdwatch -l color -d 'When to colour text output (auto: stdout is a terminal; honours NO_COLOR, CLICOLOR_FORCE)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c fdwatch -l edge -d 'Register with EPOLLET, edge-triggered (epoll only)'
complete -c fdwatch -l oneshot -d 'Register with EPOLLONESHOT (epoll only)'
complete -c fdwatch -s m -l monitor -d 'Keep watching and report every change, until all fds are gone, --count events, the idle TIMEOUT (time with no event), or --once\'s end of file'
complete -c fdwatch -l peek -d 'Show queued data without consuming it (tee(2) for pipes, MSG_PEEK for sockets)'
complete -c fdwatch -l tee -d 'Pass consumed data to stdout unchanged; events go to stderr (implies --read=count)'
complete -c fdwatch -l once -d 'With -m: end at the first end of file or hang-up instead of reopening FIFOs'
complete -c fdwatch -s q -l quiet -d 'No output; the exit status answers'
complete -c fdwatch -s v -l verbose -d 'Also report each wait (call, timeout, time blocked, result) and how each fd is watched'
complete -c fdwatch -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fdwatch -s V -l version -d 'Print version'
