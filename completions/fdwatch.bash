# Process ids for pid:PID, pipeline --tree, --pgid and PIDs (see fdwatch's
# src/cli/complete_pids.rs).
__fdwatch_pids() {
    local p
    for p in /proc/[0-9]*; do printf '%s\n' "${p#/proc/}"; done
}

# The word being completed as typed: bash splits `pid:12` at the colon
# (COMP_WORDBREAKS), so it is read back from the line when there is one.
__fdwatch_typed() {
    if [[ -z "${COMP_LINE+x}" ]]; then
        printf '%s' "$1"
    else
        local line="${COMP_LINE:0:COMP_POINT}"
        printf '%s' "${line##*[[:space:]]}"
    fi
}

# pid:PID for the typed word $1, as bash inserts it: without `pid:` when the colon
# split the word (readline's word, $2, does not have it).
__fdwatch_pid_specs() {
    local typed="$1" cur="$2" p
    COMPREPLY=()
    for p in $(compgen -W "$(__fdwatch_pids)" -- "${typed#pid:}"); do
        if [[ "${cur}" == "${typed}" ]]; then
            COMPREPLY+=("pid:${p}")
        else
            COMPREPLY+=("${p}")
        fi
    done
}

_fdwatch() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="fdwatch"
                ;;
            fdwatch,bench)
                cmd="fdwatch__subcmd__bench"
                ;;
            fdwatch,pipeline)
                cmd="fdwatch__subcmd__pipeline"
                ;;
            fdwatch,relay)
                cmd="fdwatch__subcmd__relay"
                ;;
            fdwatch,send)
                cmd="fdwatch__subcmd__send"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        fdwatch)
            local typed="$(__fdwatch_typed "${cur}")"
            if [[ "${typed}" =~ ^pid:[0-9]*$ ]] ; then
                __fdwatch_pid_specs "${typed}" "${cur}"
                return 0
            fi
            opts="-b -m -c -q -v -h -V --backend --edge --oneshot --monitor --until --count --read --read-size --peek --tee --oobinline --once --interval --signals --mask --format --time --color --quiet --verbose --generate --help --version send bench relay pipeline"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --backend)
                    COMPREPLY=($(compgen -W "select pselect poll ppoll epoll uring" -- "${cur}"))
                    return 0
                    ;;
                -b)
                    COMPREPLY=($(compgen -W "select pselect poll ppoll epoll uring" -- "${cur}"))
                    return 0
                    ;;
                --until)
                    COMPREPLY=($(compgen -W "read write urgent hangup rdhup error eof signal accept" -- "${cur}"))
                    return 0
                    ;;
                --count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --read)
                    COMPREPLY=($(compgen -W "count text hex" -- "${cur}"))
                    return 0
                    ;;
                --read-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --signals)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --mask)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "text json tlpi" -- "${cur}"))
                    return 0
                    ;;
                --time)
                    COMPREPLY=($(compgen -W "elapsed delta wall none" -- "${cur}"))
                    return 0
                    ;;
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                --generate)
                    COMPREPLY=($(compgen -W "man man-relay man-send man-bench man-pipeline complete-bash complete-zsh complete-fish" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        fdwatch__subcmd__bench)
            opts="-h --backends --fds --active --rounds --repeats --timeout --wake --cpu --format --color --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --backends)
                    COMPREPLY=($(compgen -W "none select pselect poll ppoll epoll uring" -- "${cur}"))
                    return 0
                    ;;
                --fds)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --active)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rounds)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --repeats)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cpu)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "text json" -- "${cur}"))
                    return 0
                    ;;
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        fdwatch__subcmd__pipeline)
            opts="-c -q -h --pgid --tree --once --interval --count --format --color --quiet --help"
            if [[ ${cur} == -* ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --pgid)
                    COMPREPLY=($(compgen -W "$(__fdwatch_pids)" -- "${cur}"))
                    return 0
                    ;;
                --tree)
                    COMPREPLY=($(compgen -W "$(__fdwatch_pids)" -- "${cur}"))
                    return 0
                    ;;
                --interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "text json" -- "${cur}"))
                    return 0
                    ;;
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=($(compgen -W "$(__fdwatch_pids)" -- "${cur}"))
            return 0
            ;;
        fdwatch__subcmd__relay)
            opts="-b -c -q -h --backend --read --count --idle --interval --buffer --format --time --color --quiet --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --backend)
                    COMPREPLY=($(compgen -W "select pselect poll ppoll epoll uring" -- "${cur}"))
                    return 0
                    ;;
                -b)
                    COMPREPLY=($(compgen -W "select pselect poll ppoll epoll uring" -- "${cur}"))
                    return 0
                    ;;
                --read)
                    COMPREPLY=($(compgen -W "count text hex" -- "${cur}"))
                    return 0
                    ;;
                --count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --idle)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --buffer)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "text json" -- "${cur}"))
                    return 0
                    ;;
                --time)
                    COMPREPLY=($(compgen -W "elapsed delta wall none" -- "${cur}"))
                    return 0
                    ;;
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        fdwatch__subcmd__send)
            opts="-v -h --data --urgent --delay --repeat --connections --shutdown --rst --read-replies --verbose --format --time --color --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --data)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --urgent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --delay)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --repeat)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --connections)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "text json" -- "${cur}"))
                    return 0
                    ;;
                --time)
                    COMPREPLY=($(compgen -W "elapsed delta wall none" -- "${cur}"))
                    return 0
                    ;;
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _fdwatch -o nosort -o bashdefault -o default fdwatch
else
    complete -F _fdwatch -o bashdefault -o default fdwatch
fi
