#!/usr/bin/env bash
# Fails unless the shipped config file ends with exactly what the binary's
# --help-config prints: every option, at its default, as the code has it.
# Usage: check_conf.sh BINARY CONF_FILE
set -euo pipefail
binary=$1 conf=$2
expected=$("$binary" --help-config)
lines=$(printf '%s\n' "$expected" | wc -l)
if ! diff -u <(printf '%s\n' "$expected") <(tail -n "$lines" "$conf"); then
    echo "$conf is out of date: regenerate it from '$(basename "$binary") --help-config'" >&2
    exit 1
fi
echo "$conf matches $(basename "$binary") --help-config ($lines lines)"
