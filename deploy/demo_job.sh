#!/bin/sh
# demo_job.sh: the exec job handler of deploy/demo.sh's node agents
# (docs/jobs.md, exec mode). The payload is on stdin; the result goes to
# stdout. It records each run in $DEMO_RUNS/<job id> so the demo can check
# that every job ran exactly once, reports progress on fd 3, and takes a
# moment so the live view shows jobs running.
set -eu
payload=$(cat)
if [ -n "${DEMO_RUNS:-}" ]; then
    echo "${FOUNDRY_JOB_ATTEMPT:-?} ${DEMO_SITE:-?}" >>"$DEMO_RUNS/$FOUNDRY_JOB_ID"
fi
echo "started" >&3 || true
sleep "${DEMO_JOB_SECONDS:-1}"
echo "done" >&3 || true
printf '%s@%s: %s\n' "$FOUNDRY_JOB_TYPE" "${DEMO_SITE:-?}" "$(printf '%s' "$payload" | tr a-z A-Z)"
