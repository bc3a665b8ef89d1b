# zsh's completion for the line $2 in a pty: each match on a line. $1: a setup file
# that wraps compadd to print matches between two NUL lines (the zpty technique of
# zsh-capture-completion).
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
local line
zpty -w z "source ${(q)1}"
repeat 8; do
  zpty -r z line
  [[ $line == ok* ]] && break
done
[[ $line == ok* ]] || { echo 'zsh setup failed' >&2; exit 2 }
zpty -w z "$2"$'\t'
integer tog=0
while zpty -r z line; do
  if [[ $line == *$'\0'* ]]; then
    (( tog++ )) && break || continue
  fi
  (( tog )) && [[ $line == MATCH:* ]] && echo -E - ${${line#MATCH:}%%$'\r'*}
done
zpty -d z
