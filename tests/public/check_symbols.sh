#!/bin/sh
# check_symbols.sh NM LIBRARY: fails when LIBRARY exports a defined dynamic
# symbol outside the public foundry_* namespace. Version nodes (FOUNDRY_0)
# and the ELF housekeeping symbols some linkers add are allowed.
set -eu
nm_tool=$1
library=$2
symbols=$("$nm_tool" -D --defined-only "$library" | awk '{ print $NF }' | sed 's/@.*//')
if [ -z "$symbols" ]; then
    echo "check_symbols: $library exports nothing (is it the right file?)" >&2
    exit 1
fi
bad=$(printf '%s\n' "$symbols" | grep -v -E '^(foundry_.+|FOUNDRY_[0-9]+|_init|_fini|_edata|_end|__bss_start)$' || true)
if [ -n "$bad" ]; then
    echo "check_symbols: $library exports symbols without the foundry_ prefix:" >&2
    printf '  %s\n' $bad >&2
    exit 1
fi
if ! printf '%s\n' "$symbols" | grep -q '^foundry_client_new$'; then
    echo "check_symbols: $library does not export foundry_client_new" >&2
    exit 1
fi
echo "check_symbols: $(printf '%s\n' "$symbols" | grep -c '^foundry_') foundry_* symbols, nothing else"
