complete -c fdwatch -s b -l backend -d 'The multiplexer to wait with' -r -f -a "select\t''
pselect\t''
poll\t''
ppoll\t''
epoll\t''"
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
complete -c fdwatch -s q -l quiet -d 'No output; the exit status answers'
complete -c fdwatch -s v -l verbose -d 'Also report each wait (call, timeout, time blocked, result) and how each fd is watched'
complete -c fdwatch -s h -l help -d 'Print help (see more with \'--help\')'
complete -c fdwatch -s V -l version -d 'Print version'
