//! Completion of process ids, added to clap_complete's scripts (clap has no value hint
//! for a pid): `pid:<Tab>` in watch mode offers `pid:PID`, and `pipeline --tree`,
//! `--pgid` and its PID arguments offer pids, in bash, zsh and fish. The pids come from
//! /proc (no ps needed); zsh and fish show each one's name. Each function refuses a
//! script whose shape changed, so a clap_complete upgrade cannot drop them silently.

use std::io::{Error, Result};

fn changed(shell: &str) -> Error {
    Error::other(format!("clap_complete's {shell} script changed its shape"))
}

/// Replaces `from` by `to` exactly once in `text`, or fails.
fn once(text: &str, from: &str, to: &str, shell: &str) -> Result<String> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        _ => Err(changed(shell)),
    }
}

const BASH_HELPERS: &str = r#"# Process ids for pid:PID, pipeline --tree, --pgid and PIDs (see fdwatch's
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

"#;

/// bash: the helpers first; in watch mode a word `pid:[N]` completes pids (also as
/// the first word: `fdwatch pid:PID` alone explains); `pipeline --tree`, `--pgid` and
/// its positionals offer pids.
pub(super) fn bash(script: &str) -> Result<String> {
    let watch = "            opts=\"-b -m ";
    let typed = "            local typed=\"$(__fdwatch_typed \"${cur}\")\"\n            \
                 if [[ \"${typed}\" =~ ^pid:[0-9]*$ ]] ; then\n                \
                 __fdwatch_pid_specs \"${typed}\" \"${cur}\"\n                \
                 return 0\n            fi\n";
    let text = once(script, watch, &format!("{typed}{watch}"), "bash")?;
    let start = text
        .find("        fdwatch__subcmd__pipeline)\n")
        .ok_or_else(|| changed("bash"))?;
    let len = text[start..]
        .find("\n            ;;\n")
        .ok_or_else(|| changed("bash"))?;
    let block = &text[start..start + len];
    let files = "COMPREPLY=($(compgen -f \"${cur}\"))";
    let pids = "COMPREPLY=($(compgen -W \"$(__fdwatch_pids)\" -- \"${cur}\"))";
    let mut new = block.to_owned();
    for opt in ["--pgid)", "--tree)"] {
        let from = format!("{opt}\n                    {files}");
        new = once(
            &new,
            &from,
            &format!("{opt}\n                    {pids}"),
            "bash",
        )?;
    }
    // A word that is no option is a PID (the first one too).
    new = once(
        &new,
        "if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then",
        "if [[ ${cur} == -* ]] ; then",
        "bash",
    )?;
    let last =
        "            COMPREPLY=( $(compgen -W \"${opts}\" -- \"${cur}\") )\n            return 0";
    if !new.ends_with(last) {
        return Err(changed("bash"));
    }
    new = format!(
        "{}            {pids}\n            return 0",
        &new[..new.len() - last.len()]
    );
    Ok(format!(
        "{BASH_HELPERS}{}{new}{}",
        &text[..start],
        &text[start + len..]
    ))
}

const ZSH_HELPERS: &str = r#"
(( $+functions[_fdwatch_pids] )) ||
_fdwatch_pids() {
    # Process ids from /proc, each with its name (see fdwatch's src/cli/complete_pids.rs).
    local -a pids
    local p comm
    for p in /proc/<->(N:t); do
        comm=$(</proc/$p/comm) 2>/dev/null
        pids+=("$p:${comm//:/\\:}")
    done
    _describe -t pids 'process id' pids "$@"
}
(( $+functions[_fdwatch_first] )) ||
_fdwatch_first() {
    # The first word: a subcommand, or pid:PID (alone, it explains).
    if [[ $PREFIX == pid:* ]]; then
        compset -P 'pid:' && _fdwatch_pids
    else
        _fdwatch_commands "$@"
    fi
}
"#;

/// zsh: `pid:` as the first word or a SPEC completes pids (`compset` keeps `pid:`);
/// `pipeline`'s `--tree`, `--pgid` and PIDs complete pids.
pub(super) fn zsh(script: &str) -> Result<String> {
    let mut text = once(
        script,
        "\":: :_fdwatch_commands\" \\",
        "\":: :_fdwatch_first\" \\",
        "zsh",
    )?;
    text = once(
        &text,
        "        (*)\n_default && ret=0\n;;",
        "        (*)\nif compset -P 'pid:'; then _fdwatch_pids && ret=0; else _default && ret=0; fi\n;;",
        "zsh",
    )?;
    for (from, to) in [
        ("]:PGID:_default' \\", "]:PGID:_fdwatch_pids' \\"),
        ("]:PID:_default' \\", "]:PID:_fdwatch_pids' \\"),
        ("`$!`):_default' \\", "`$!`):_fdwatch_pids' \\"),
    ] {
        text = once(&text, from, to, "zsh")?;
    }
    let end = "\nif [ \"$funcstack[1]\" = \"_fdwatch\" ]; then";
    once(&text, end, &format!("{ZSH_HELPERS}{end}"), "zsh")
}

/// fish: `pipeline`'s `--tree` and `--pgid` complete pids (fish asks only an option's
/// own line for its value), and lines appended (fish's completions add up): `pid:`
/// completes `pid:PID` where watch mode takes a SPEC, and `pipeline`'s PIDs are pids.
pub(super) fn fish(script: &str, subs: &[&str]) -> Result<String> {
    let mut text = script.to_owned();
    for opt in ["pgid", "tree"] {
        let head = format!(
            "complete -c fdwatch -n \"__fish_fdwatch_using_subcommand pipeline\" -l {opt} "
        );
        let at = text.find(&head).ok_or_else(|| changed("fish"))?;
        let end = at + text[at..].find('\n').ok_or_else(|| changed("fish"))?;
        if !text[..end].ends_with(" -r") {
            return Err(changed("fish"));
        }
        text.insert_str(end, " -f -a \"(__fish_fdwatch_pids)\"");
    }
    let not_sub = format!("not __fish_seen_subcommand_from {}", subs.join(" "));
    text.push_str(&format!(
        r#"
# Process ids from /proc, each with its name (see fdwatch's src/cli/complete_pids.rs).
function __fish_fdwatch_pids
    string replace -rf '^/proc/(\d+)/comm:(.*)$' '$1\t$2' -- (grep -H '' /proc/*/comm 2>/dev/null)
end
complete -c fdwatch -n "{not_sub}; and string match -q -- 'pid:*' (commandline -ct)" -f -a "(__fish_fdwatch_pids | string replace -r '^' pid:)"
complete -c fdwatch -n "__fish_fdwatch_using_subcommand pipeline; and not __fish_prev_arg_in --tree --pgid --interval -c --count --format --color" -f -a "(__fish_fdwatch_pids)"
"#
    ));
    Ok(text)
}
