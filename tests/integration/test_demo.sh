#!/bin/sh
# test_demo.sh BUILD_DIR: the README's main command in the suite. Runs
# deploy/demo.sh --once against BUILD_DIR (no install, no build): it starts
# the broker and six agents on loopback, runs the scenario of docs/demo.md
# and exits non-zero when any check fails (telemetry stored once, every job
# succeeded once, the model healthy on all six agents, nothing lost across
# the agent's SIGKILL). Skipped (77) without jq or mdb_stat.
set -eu
build_dir=${1:?usage: test_demo.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
for t in jq mdb_stat; do
    if ! command -v "$t" >/dev/null 2>&1; then
        echo "test_demo: $t not installed (deploy/install-deps.sh): skipped"
        exit 77
    fi
done
FOUNDRY_BUILD_DIR=$build_dir exec "$here/../../deploy/demo.sh" --once --no-build
