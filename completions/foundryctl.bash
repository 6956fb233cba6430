# bash completion for foundryctl. Installed by `meson install` into
# share/bash-completion/completions; or source this file.
# The command words and options come from foundryctl's own --help, so this
# file needs no edit when a command is added.

_foundryctl_commands() {
    "$1" --help 2>/dev/null | sed -n '/^Commands:/,/^$/{s/^  \([a-z][a-z-]*\)\( [a-z][a-z-]*\)\{0,1\}  .*/\1\2/p}' |
        sed 's/  *$//'
}

_foundryctl_contexts() {
    local dir="${XDG_CONFIG_HOME:-$HOME/.config}/foundry/contexts" f
    for f in "$dir"/*.conf; do
        [ -e "$f" ] && basename "$f" .conf
    done
}

_foundryctl() {
    local cur prev prog
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    prog="${COMP_WORDS[0]}"

    # an option's value: files, directories, contexts or a fixed set
    case "$prev" in
        --key|--broker-key|--file|--data-file|--out|--config)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --data-dir|--to)
            COMPREPLY=($(compgen -d -- "$cur")); return ;;
        --context)
            COMPREPLY=($(compgen -W "$(_foundryctl_contexts)" -- "$cur")); return ;;
        --role)
            COMPREPLY=($(compgen -W "node partner admin link" -- "$cur")); return ;;
        --decode)
            COMPREPLY=($(compgen -W "telemetry auto none" -- "$cur")); return ;;
        --start)
            COMPREPLY=($(compgen -W "first last new seq: time:" -- "$cur")); return ;;
    esac

    # the command words typed so far (options and their values skipped)
    local words=() i w commands
    commands="$(_foundryctl_commands "$prog")"
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        case "$w" in
            --endpoint|--key|--broker-key|--timeout|--context) ((i++)) ;;
            -*) ;;
            *) words+=("$w") ;;
        esac
    done
    local typed="${words[*]}"
    local family=$(printf '%s\n' "$commands" | awk '{print $1}' | sort -u)

    if [[ "$cur" == -* ]]; then
        local opts
        opts="$("$prog" ${words[0]:+${words[0]}} ${words[1]:+${words[1]}} --help 2>/dev/null |
            sed -n 's/^  \(--[a-z-]*\).*/\1/p' | sort -u)"
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    if [ ${#words[@]} -eq 0 ]; then
        COMPREPLY=($(compgen -W "$family" -- "$cur"))
        return
    fi
    if [ ${#words[@]} -eq 1 ]; then
        local subs
        subs="$(printf '%s\n' "$commands" | awk -v f="${words[0]}" '$1 == f && NF == 2 {print $2}')"
        if [ -n "$subs" ]; then
            COMPREPLY=($(compgen -W "$subs" -- "$cur"))
            return
        fi
    fi
    case "$typed" in
        "context use"|"context rm")
            COMPREPLY=($(compgen -W "$(_foundryctl_contexts)" -- "$cur")); return ;;
        "key add"|"key rotate"*|bootstrap)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
    esac
    COMPREPLY=()
}

complete -o default -F _foundryctl foundryctl
