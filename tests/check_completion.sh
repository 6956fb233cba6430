#!/bin/bash
# check_completion.sh CTL SCRIPT: the bash completion of foundryctl offers
# the commands, the sub-commands of a family, a command's own options, the
# values of --role and --decode, and stored context names.
set -u
ctl="$1"
. "$2"
fail=0

complete_words() { # complete_words WORD... : COMPREPLY for the last word
    COMP_WORDS=("$ctl" "$@")
    COMP_CWORD=$#
    COMPREPLY=()
    _foundryctl
    printf '%s\n' "${COMPREPLY[@]}"
}

expect() { # expect WANT WORD...
    local want="$1"
    shift
    if ! complete_words "$@" | grep -qx -- "$want"; then
        echo "completion of '$*' lacks '$want': $(complete_words "$@" | tr '\n' ' ')" >&2
        fail=1
    fi
}

expect_not() {
    local unwanted="$1"
    shift
    if complete_words "$@" | grep -qx -- "$unwanted"; then
        echo "completion of '$*' offers '$unwanted'" >&2
        fail=1
    fi
}

expect stream ""
expect context "con"
expect rotate key ""
expect edit key e
expect_not add stream r
expect --file pub subj --f
expect --lines pub subj --
expect --allow-publish key edit acme --allow
expect --yes stream rm s --y
expect partner key add x.key --role p
expect telemetry stream read s --decode t
tmp=$(mktemp -d)
mkdir -p "$tmp/foundry/contexts"
touch "$tmp/foundry/contexts/plant.conf"
XDG_CONFIG_HOME="$tmp" expect plant context use ""
XDG_CONFIG_HOME="$tmp" expect plant --context p
rm -rf "$tmp"
exit $fail
