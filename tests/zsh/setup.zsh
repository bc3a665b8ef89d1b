# Sourced by capture.zsh in the zsh it drives: no prompt, the completions from
# $FDWATCH_COMPLETIONS, and compadd wrapped to print each match.
PROMPT=
fpath=($FDWATCH_COMPLETIONS $fpath)
autoload -U compinit
compinit -u -D
bindkey '^M' undefined-key
bindkey '^J' undefined-key
bindkey '^I' complete-word
null-line () { echo -E - $'\0' }
compprefuncs=( null-line )
comppostfuncs=( null-line exit )
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return $?
  fi
  typeset -a __hits
  builtin compadd -A __hits "$@"
  local h
  for h in $__hits; do echo -E - "MATCH:$h"; done
}
echo ok
