#!/usr/bin/env bash
# demo.sh: the README's main command. The Gyeonggi foundry network on one
# machine: installs what is missing, builds, provisions every key into a
# fresh directory, starts foundry-broker and six foundry-node agents on
# loopback and runs the scenario of docs/demo.md (telemetry from simulated
# equipment, partner jobs, a two-key signed model rolled out in waves
# through a telemetry gate, an agent killed with SIGKILL and restarted),
# shown live, then checked. deploy/demo.sh --help for the options.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sites=(siheung bucheon uijeongbu hanam pangyo seongnam-lab)
victim=hanam # the agent killed and restarted
model=detector

usage() {
    cat <<'EOF'
usage: deploy/demo.sh [--once] [--keep] [--no-build] [--dir DIR] [--help]

Starts a foundry-broker and six foundry-node agents (siheung, bucheon,
uijeongbu, hanam, pangyo, seongnam-lab) on loopback and runs the scenario
of docs/demo.md: typed telemetry from simulated equipment, jobs from two
partners, a model signed by two keys rolled out lab first through a
telemetry gate, an agent killed (SIGKILL) and restarted. Shows a live view
on a terminal (plain lines otherwise) and ends with a table of checks.

  --once      no live view; assert the outcome, stop everything, exit 1 on
              any failed check (the test suite's mode)
  --keep      leave the network running at the end and print how to reach
              it with foundryctl
  --no-build  skip deploy/install-deps.sh and the build (use FOUNDRY_BUILD_DIR)
  --dir DIR   work in DIR (must not exist) instead of a fresh /tmp directory
  --help      this text

Environment: FOUNDRY_BUILD_DIR (default <repo>/build). Ctrl-C stops every
process the demo started and says where the data is.
EOF
}

once=0 keep=0 build=1 work=""
while [ $# -gt 0 ]; do
    case $1 in
    --once) once=1 ;;
    --keep) keep=1 ;;
    --no-build) build=0 ;;
    --dir)
        [ $# -ge 2 ] || { echo "demo.sh: --dir needs a directory" >&2; exit 2; }
        work=$2
        shift
        ;;
    --dir=*) work=${1#--dir=} ;;
    -h | --help) usage; exit 0 ;;
    *) echo "demo.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$once" = 1 ] && [ "$keep" = 1 ]; then
    echo "demo.sh: --once and --keep exclude each other" >&2
    exit 2
fi
build_dir=${FOUNDRY_BUILD_DIR:-$root/build}
live=0
[ "$once" = 0 ] && [ -t 1 ] && live=1

# ---- output: events, checks ------------------------------------------------------
dir="" broker_pid="" monitor_pid="" finished=0 finished_by=""
declare -A node_pid gen_pid
events=/dev/null
checks=()
failed=0

bold() { if [ -t 1 ]; then printf '\033[1m%s\033[0m\n' "$*"; else printf '%s\n' "$*"; fi; }
# event TEXT: one line of what happens; the live view shows the last ones.
event() {
    local line
    line="$(date +%H:%M:%S) $*"
    printf '%s\n' "$line" >>"$events"
    [ "$live" = 1 ] || printf '%s\n' "$line"
}
check() { # check ok|FAIL WHAT
    checks+=("$1|$2")
    [ "$1" = ok ] || failed=$((failed + 1))
    event "check $1: $2"
}
die() {
    check FAIL "$*"
    finish 1
}

# ---- processes ----------------------------------------------------------------
# ctl ARGS: foundryctl as the admin; ctl_as KEYNAME ARGS: as another key.
ctl() { "$ctl_bin" "$@" </dev/null; }
ctl_as() {
    local k=$1
    shift
    FOUNDRY_KEY=$dir/keys/$k.key_secret "$ctl_bin" "$@" </dev/null
}

# gen SITE FIRST: simulated equipment of SITE, as text sample lines
# (docs/node.md) on stdout, every sample labelled demo_seq=N from FIRST on so
# the checks can find each one in the stream. $dir/gen/SITE.count holds
# the last N written; SITE.pause holds it (SITE.paused says it is held);
# SITE.stop ends it, and its end of output stops the agent cleanly.
gen() {
    local site=$1 n=$(($2 - 1)) g=$dir/gen/$1 tick=0 lines i
    while [ ! -e "$g.stop" ]; do
        if [ -e "$g.pause" ]; then
            : >"$g.paused"
            sleep 0.1
            continue
        fi
        rm -f "$g.paused"
        tick=$((tick + 1))
        lines=""
        case $site in
        seongnam-lab) # lab instruments and a test robot cell
            lines+="lab.incubator2.co2 5.0$((tick % 10)) % room=b104"$'\n'
            lines+="lab.spectrometer1.peak_nm 53$((tick % 10)).2 nm"$'\n'
            lines+="cell1.robot.joint2.torque 1$((tick % 7)).5 N.m robot=ur10"$'\n'
            ;;
        *) # a production line with a robot arm
            lines+="line1.throughput 11$((tick % 9)) units/min"$'\n'
            lines+="robot1.joint3.temp 4$((tick % 5)).5 C"$'\n'
            lines+="robot1.joint3.torque 12.$((tick % 10))5 N.m"$'\n'
            ;;
        esac
        lines+="line.reject_rate 0.0$((tick % 3 + 1))"$'\n' # the rollout's gate metric
        out=""
        while IFS= read -r i; do
            [ -n "$i" ] || continue
            n=$((n + 1))
            out+="$i demo_seq=$n"$'\n'
        done <<<"$lines"
        printf '%s' "$out" || return 0
        printf '%s\n' "$n" >"$g.count.tmp" && mv -f "$g.count.tmp" "$g.count"
        sleep 0.25
    done
}

# start_site SITE: its simulator writing into a FIFO, its agent reading it.
start_site() {
    local g=$dir/gen/$1
    mkfifo "$g.fifo"
    gen "$1" 1 >"$g.fifo" &
    gen_pid[$1]=$!
    start_node "$1"
}

# start_node SITE: the agent, stdin from the site's FIFO. A restarted agent
# opens the FIFO while its simulator still holds the other end, so what the
# simulator wrote and the killed agent did not read is read by the new one.
start_node() {
    local site=$1
    "$node_bin" --site "$site" --endpoint "$endpoint" --key "$dir/keys/node-$site.key_secret" \
        --broker-key "$broker_key" --data-dir "$dir/node-$site" --stdin \
        --jobs "$dir/jobs-$site.conf" --labels "${labels[$site]}" \
        --set "model_trust_file=$dir/model-trust" --set "model_release_key=$release_key" \
        --log-level notice <"$dir/gen/$site.fifo" >>"$dir/node-$site.log" 2>&1 &
    node_pid[$site]=$!
}

# wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds.
wait_for() {
    local seconds=$1 what=$2 limit=$((SECONDS + $1))
    shift 2
    until "$@"; do
        if [ "$SECONDS" -ge "$limit" ]; then
            event "gave up waiting for $what after $seconds s"
            return 1
        fi
        sleep 0.2
    done
}

stop_all() {
    [ -n "$monitor_pid" ] && kill "$monitor_pid" 2>/dev/null && wait "$monitor_pid" 2>/dev/null
    monitor_pid=""
    [ -n "$dir" ] || return 0
    local s p rc
    unclean="" # what did not exit 0 on SIGTERM (an ASan build's finding too)
    for s in "${sites[@]}"; do : >"$dir/gen/$s.stop" 2>/dev/null; done
    for s in "${!node_pid[@]}"; do
        p=${node_pid[$s]}
        [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
    done
    for s in "${!node_pid[@]}"; do
        p=${node_pid[$s]}
        if [ -n "$p" ]; then
            wait "$p" 2>/dev/null
            rc=$?
            [ "$rc" -eq 0 ] || unclean+=" node-$s:$rc"
        fi
        node_pid[$s]=""
    done
    for s in "${!gen_pid[@]}"; do
        p=${gen_pid[$s]}
        [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
        gen_pid[$s]=""
    done
    if [ -n "$broker_pid" ]; then
        kill -CONT "$broker_pid" 2>/dev/null
        kill -TERM "$broker_pid" 2>/dev/null
        wait "$broker_pid" 2>/dev/null
        rc=$?
        [ "$rc" -eq 0 ] || unclean+=" broker:$rc"
        broker_pid=""
    fi
}

print_checks() {
    local c
    printf '\n'
    bold "==== what was checked"
    for c in "${checks[@]}"; do
        printf '  %-5s %s\n' "${c%%|*}" "${c#*|}"
    done
    if [ "$finished_by" = interrupt ]; then
        printf '  interrupted after %d checks (%d failed)\n' "${#checks[@]}" "$failed"
    elif [ "$failed" -eq 0 ]; then
        printf '  all %d checks passed\n' "${#checks[@]}"
    else
        printf '  %d of %d checks FAILED\n' "$failed" "${#checks[@]}"
    fi
}

# finish STATUS: the one way out (also for Ctrl-C).
finish() {
    local rc=$1
    [ "$finished" = 1 ] && exit "$rc"
    finished=1
    trap - INT TERM
    if [ -n "$monitor_pid" ]; then
        kill "$monitor_pid" 2>/dev/null
        wait "$monitor_pid" 2>/dev/null
        monitor_pid=""
        [ "$live" = 1 ] && printf '\033[?25h' # the cursor back
    fi
    [ "$rc" = 130 ] && finished_by=interrupt && printf '\ndemo: interrupted\n'
    [ "${#checks[@]}" -gt 0 ] && print_checks
    if [ "$rc" = 0 ] && [ "$keep" = 1 ] && [ -n "$broker_pid" ]; then
        print_keep
        exit 0
    fi
    stop_all
    if [ -n "$dir" ]; then
        if [ "$once" = 1 ] && [ "$rc" = 0 ]; then
            rm -rf "$dir"
        else
            printf 'demo: stopped; the data is in %s (logs: %s/*.log; rm -rf it when done)\n' "$dir" "$dir"
        fi
    fi
    exit "$rc"
}
trap 'finish 130' INT TERM

print_keep() {
    local s
    {
        echo "#!/bin/sh"
        echo "# Stops what deploy/demo.sh --keep left running."
        for s in "${sites[@]}"; do
            echo ": >'$dir/gen/$s.stop'"
            echo "kill -TERM ${node_pid[$s]} 2>/dev/null"
        done
        echo "sleep 2; kill -TERM $broker_pid 2>/dev/null"
        echo "echo 'demo network stopped; data in $dir'"
    } >"$dir/stop.sh"
    chmod +x "$dir/stop.sh"
    {
        echo "export PATH=$(dirname "$ctl_bin"):\$PATH"
        echo "export FOUNDRY_ENDPOINT=$endpoint"
        echo "export FOUNDRY_BROKER_KEY=$broker_key"
        echo "export FOUNDRY_KEY=$dir/keys/admin.key_secret"
    } >"$dir/env.sh"
    printf '\n'
    bold "==== the network keeps running (broker pid $broker_pid, agents and equipment simulators too)"
    cat <<EOF
Talk to it with foundryctl ($ctl_bin):
  . $dir/env.sh        # PATH, FOUNDRY_ENDPOINT, FOUNDRY_BROKER_KEY, FOUNDRY_KEY (admin)
  foundryctl status
  foundryctl node ls
  foundryctl stream ls
  foundryctl stream read telemetry-pangyo --from 1 --count 10
  foundryctl job ls
  FOUNDRY_KEY=$dir/keys/acme.key_secret foundryctl job submit infer --site siheung --data 'hello' --wait 20s
  foundryctl rollout ls
  foundryctl model log $model
  foundryctl top
Logs: $dir/*.log.  Stop it all: $dir/stop.sh
EOF
    [ -n "$dashboard" ] && printf 'Dashboard: %s  (Prometheus: %s/metrics)\n' "${dashboard%/}/" "${dashboard%/}"
}

# ---- live status view ----------------------------------------------------------
# One snapshot per site from foundryctl --json: connected agents, stored
# telemetry messages (and the rate since the last snapshot), jobs by state,
# the rollout node's state and download progress.
snapshot() { # snapshot PREV_FILE: prints the view; updates PREV_FILE
    local prev=$1 nodes streams jobs rollouts status="" id now
    now=$(date +%s.%N)
    nodes=$(ctl --json --timeout 2000 node ls 2>/dev/null) || nodes='[]'
    streams=$(ctl --json --timeout 2000 stream ls 2>/dev/null) || streams='[]'
    jobs=$(ctl --json --timeout 2000 job ls 2>/dev/null) || jobs='[]'
    rollouts=$(ctl --json --timeout 2000 rollout ls 2>/dev/null) || rollouts='[]'
    id=$(jq -r 'last | .id // empty' <<<"$rollouts" 2>/dev/null)
    [ -n "$id" ] && status=$(ctl --json --timeout 2000 rollout status "$id" 2>/dev/null)
    [ -n "$status" ] || status='[]'
    jq -rn --argjson nodes "$nodes" --argjson streams "$streams" --argjson jobs "$jobs" \
        --argjson rollouts "$rollouts" --argjson status "$status" \
        --slurpfile prev <(cat "$prev" 2>/dev/null || echo '{}') --arg now "$now" \
        --arg sites "${sites[*]}" '
        ($prev[0] // {}) as $p
        | ($now | tonumber) as $t
        | [$sites | split(" ")[] as $s
            | ($streams | map(select(.name == "telemetry-" + $s)) | first // {}) as $st
            | ($jobs | map(select((.sites // [] | if type == "array" then . else tostring | split(" ") end | index($s)) != null))) as $j
            | ($status | map(select(.site == $s)) | first // {}) as $r
            | {site: $s,
               nodes: ($nodes | map(select(.site == $s and (.connected == 1 or .connected == true or .connected == "yes"))) | length),
               msgs: ($st.messages // 0),
               rate: (if $p[$s] then ((($st.messages // 0) - $p[$s].msgs) / ($t - $p.t) | floor) else 0 end),
               queued: ($j | map(select(.state == "queued")) | length),
               running: ($j | map(select(.state == "running" or .state == "leased")) | length),
               done: ($j | map(select(.state == "succeeded")) | length),
               model: (($r.state // "-") + (if ($r.total_bytes // 0) > 0 and $r.state == "downloading"
                        then " " + ((($r.done_bytes // 0) * 100 / $r.total_bytes) | floor | tostring) + "%" else "" end))}]
        | {rows: ., t: $t, rollout: ($rollouts | last // null)}' >"$prev.new" 2>/dev/null || return 0
    jq -r '
        "SITE           NODES  MSGS  MSG/S  JOBS Q/R/DONE  MODEL \(env.DEMO_MODEL)",
        (.rows[] | "\(.site | . + " " * (13 - length))  \(.nodes | tostring | " " * (5 - length) + .)  \(.msgs | tostring | " " * (4 - length) + .)  \(.rate | tostring | " " * (5 - length) + .)  \("\(.queued)/\(.running)/\(.done)" | . + " " * (14 - length))  \(.model)"),
        (if .rollout then "rollout \(.rollout.id): \(.rollout.state) wave \(.rollout.wave) healthy \(.rollout.healthy)/\(.rollout.nodes) \(.rollout.reason // "" | select(. != "-"))" else "rollout: not started" end)' \
        "$prev.new"
    jq '(.rows | map({(.site): {msgs}}) | add) + {t}' "$prev.new" >"$prev" 2>/dev/null
}

monitor() {
    local prev=$dir/monitor.state view
    trap 'exit 0' TERM
    [ "$live" = 1 ] && printf '\033[?25l\033[2J'
    while :; do
        view=$(DEMO_MODEL=$model snapshot "$prev")
        if [ "$live" = 1 ]; then
            printf '\033[H\033[J'
            bold "Foundry demo: broker $endpoint, data $dir (Ctrl-C stops)"
            [ -n "$dashboard" ] && printf 'dashboard %s\n' "$dashboard"
            printf '\n%s\n\n' "$view"
            tail -n 12 "$events"
        else
            printf '%s\n' "$view" | sed 's/^/  | /'
        fi
        sleep $((live ? 1 : 5)) &
        wait $! # so TERM ends it at once
    done
}

# ---- 1. install and build ---------------------------------------------------------
if [ "$build" = 1 ]; then
    bold "==> installing what is missing (deploy/install-deps.sh) and building $build_dir"
    "$root/deploy/install-deps.sh" </dev/null || { echo "demo.sh: install-deps failed" >&2; exit 1; }
    if [ ! -f "$build_dir/build.ninja" ]; then
        meson setup "$build_dir" "$root" </dev/null || { echo "demo.sh: meson setup failed" >&2; exit 1; }
    fi
    ninja -C "$build_dir" </dev/null || { echo "demo.sh: build failed" >&2; exit 1; }
fi
broker_bin=$build_dir/broker/foundry-broker
ctl_bin=$build_dir/broker/ctl/foundryctl
node_bin=$build_dir/node/foundry-node
for b in "$broker_bin" "$ctl_bin" "$node_bin"; do
    [ -x "$b" ] || { echo "demo.sh: $b is missing: build first or set FOUNDRY_BUILD_DIR" >&2; exit 1; }
done
for t in jq mdb_stat; do
    command -v "$t" >/dev/null || { echo "demo.sh: $t is missing (deploy/install-deps.sh installs it)" >&2; exit 1; }
done

# ---- 2. keys -----------------------------------------------------------------
if [ -n "$work" ]; then
    [ -e "$work" ] && { echo "demo.sh: $work exists; give a new directory" >&2; exit 2; }
    mkdir -p "$work" && dir=$(cd "$work" && pwd)
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/foundry-demo.XXXXXX")
fi
[ -n "$dir" ] || exit 1
mkdir -p "$dir/gen" "$dir/runs" && chmod 700 "$dir"
events=$dir/events.log
: >"$events"
bold "==> Foundry demo in $dir"

k=$dir/keys
event "keys: admin, broker, one node key per site, partners acme and orbit, the lab's CI, two model-signing keys"
ctl keygen admin --out "$k" >/dev/null || die "keygen admin"
ctl bootstrap --data-dir "$dir/broker" "$k/admin.key" >/dev/null || die "bootstrap the admin key"

# The metrics endpoint and dashboard (docs/operations.md, "Monitoring") on a
# free loopback port, when this build has them.
metrics_args=()
"$broker_bin" --help-config 2>/dev/null | grep -q '^#* *metrics_listen' &&
    metrics_args=(--set 'metrics_listen=127.0.0.1:0')
"$broker_bin" --data-dir "$dir/broker" --keys "$dir/broker-keys" --bind 'tcp://127.0.0.1:*' \
    "${metrics_args[@]}" --log-level notice </dev/null >>"$dir/broker.log" 2>&1 &
broker_pid=$!
broker_ready() {
    kill -0 "$broker_pid" 2>/dev/null || die "the broker exited during start-up (see $dir/broker.log)"
    [ -s "$dir/broker/ready" ] && grep -qx "pid $broker_pid" "$dir/broker/ready" &&
        grep -q '^broker_key ' "$dir/broker/ready"
}
wait_for 20 "broker ready" broker_ready || die "the broker wrote no ready file within 20 s"
endpoint=$(sed -n 's/^endpoint //p' "$dir/broker/ready" | head -n 1)
broker_key=$(sed -n 's/^broker_key //p' "$dir/broker/ready" | head -n 1)
export FOUNDRY_ENDPOINT=$endpoint FOUNDRY_BROKER_KEY=$broker_key FOUNDRY_KEY=$k/admin.key_secret
dashboard=""
[ "${#metrics_args[@]}" -gt 0 ] && wait_for 10 "the metrics URL" test -s "$dir/broker/metrics_url" &&
    dashboard=$(head -n 1 "$dir/broker/metrics_url")
event "broker pid $broker_pid serves $endpoint (CURVE)${dashboard:+, dashboard $dashboard}"

for s in "${sites[@]}"; do
    ctl keygen "node-$s" --out "$k" >/dev/null &&
        ctl key add "$k/node-$s.key" --role node --site "$s" >/dev/null || die "node key for $s"
done
# Two partner tenants: each may submit jobs to its sites and read one
# site's telemetry; the lab's CI may publish the model.
ctl keygen acme --out "$k" >/dev/null &&
    ctl key add "$k/acme.key" --role partner --tenant acme --allow-jobs siheung \
        --allow-jobs uijeongbu --allow-jobs pangyo --allow-subscribe 'telemetry.pangyo.>' >/dev/null ||
    die "partner key acme"
ctl keygen orbit --out "$k" >/dev/null &&
    ctl key add "$k/orbit.key" --role partner --tenant orbit --allow-jobs bucheon \
        --allow-jobs hanam --allow-jobs seongnam-lab --allow-subscribe 'telemetry.seongnam-lab.>' \
        >/dev/null || die "partner key orbit"
ctl keygen lab-ci --out "$k" >/dev/null &&
    ctl key add "$k/lab-ci.key" --role partner --tenant seongnam-lab --allow-models "$model" \
        >/dev/null || die "the lab's CI key"
ctl model keygen lab-release --dir "$k" >/dev/null && ctl model keygen lab-qa --dir "$k" >/dev/null ||
    die "model-signing keys"
ctl model trust "$model" --signer "$k/lab-release.sign.pub" --signer "$k/lab-qa.sign.pub" \
    --threshold 2 >/dev/null || die "trust policy for $model (2 of 2)"
ctl model trust ls --export "$dir/model-trust" >/dev/null || die "export the trust policy"
release_key=$(ctl model release-key | grep -oE '[0-9a-f]{64}' | head -n 1)
[ -n "$release_key" ] || die "read the broker's release key"
check ok "keys provisioned: $(ctl --json key ls | jq length) keys registered, trust policy $model 2-of-2"

# ---- 3. agents -------------------------------------------------------------------
declare -A labels=(
    [siheung]="gpu=a100 line=press" [bucheon]="gpu=l40s line=assembly" [uijeongbu]="gpu=a100"
    [hanam]="gpu=l40s line=paint" [pangyo]="gpu=h100" [seongnam-lab]="robot=ur10 gpu=h100"
)
# Jobs take a moment on a terminal, so the view shows them queued and running.
job_seconds=1
[ "$live" = 1 ] && job_seconds=3
for s in "${sites[@]}"; do
    type=infer
    [ "$s" = seongnam-lab ] && type=inspect
    printf '# type mode slots timeout -- argv\n%s exec 2 30s env=DEMO_SITE=%s env=DEMO_RUNS=%s env=DEMO_JOB_SECONDS=%s -- %s\n' \
        "$type" "$s" "$dir/runs" "$job_seconds" "$root/deploy/demo_job.sh" >"$dir/jobs-$s.conf"
    start_site "$s"
done
connected() { [ "$(ctl --json node ls 2>/dev/null | jq '[.[] | select(.connected == 1 or .connected == true)] | length')" = "${#sites[@]}" ]; }
wait_for 30 "agents connected" connected || die "not all ${#sites[@]} agents connected within 30 s (see $dir/node-*.log)"
event "six agents connected, equipment simulators streaming"
monitor &
monitor_pid=$!

# ---- 4. partner jobs -------------------------------------------------------------
submit() { # submit PARTNER TYPE SITE LABEL DATA: records the id in $dir/jobs
    local id
    id=$(ctl_as "$1" job submit "$2" --site "$3" --label "$4" --data "$5" 2>>"$dir/ctl.log" | awk '{print $1; exit}')
    if [ -n "$id" ]; then
        printf '%s %s %s %s %s\n' "$id" "$1" "$2" "$3" "$5" >>"$dir/jobs"
        event "$1 submitted job $id ($2 at $3, $4)"
    else
        check FAIL "$1 could not submit $2 to $3 (see $dir/ctl.log)"
    fi
}
: >"$dir/jobs"
submit acme infer siheung gpu=a100 "press line 2 camera frame 881"
submit acme infer pangyo gpu=h100 "forecast power load week 49"
submit acme infer uijeongbu gpu=a100 "translate maintenance manual ch3"
submit orbit infer bucheon line=assembly "assembly torque audit"
submit orbit infer hanam line=paint "paint booth defect scan"
submit orbit inspect seongnam-lab robot=ur10 "weld seam 7"
submit acme infer pangyo gpu=h100 "route agv fleet"
submit orbit inspect seongnam-lab robot=ur10 "gripper calibration"

# ---- 5. the lab pushes a model signed by two keys -----------------------------------
head -c 300000 /dev/urandom >"$dir/$model-v1.bin"
if FOUNDRY_KEY=$k/lab-ci.key_secret "$ctl_bin" model push "$dir/$model-v1.bin" --name "$model" \
    --model-version 1 --sign "$k/lab-release.sign" --sign "$k/lab-qa.sign" --chunk-size 64KiB \
    </dev/null >>"$dir/ctl.log" 2>&1; then
    event "lab-ci pushed $model v1 (300 kB, 5 chunks), signed by lab-release and lab-qa"
else
    die "the lab's push of $model v1 (see $dir/ctl.log)"
fi

jobs_ended() {
    local ids
    ids=$(awk '{print $1}' "$dir/jobs")
    for id in $ids; do
        case $(ctl --json job show "$id" 2>/dev/null | jq -r .state) in
        succeeded | dead | cancelled | expired) ;;
        *) return 1 ;;
        esac
    done
}
wait_for 60 "jobs ended" jobs_ended || check FAIL "jobs still not ended after 60 s"
event "every job ended"

# ---- 6. the rollout: lab first, then everyone, through a telemetry gate -----------
rollout_id=$(ctl rollout start "$model@1" --waves 'seongnam-lab;*' --soak 2s \
    --gate 'line.reject_rate<0.05' 2>>"$dir/ctl.log" | grep -oE '[0-9]+' | head -n 1)
[ -n "$rollout_id" ] || die "rollout start $model@1 (see $dir/ctl.log)"
event "rollout $rollout_id of $model@1 started: waves seongnam-lab;* with gate line.reject_rate<0.05 over a 2 s soak"

# ---- 7. kill an agent with a backlog in its outbox, restart it ------------------------
# A short broker stall (SIGSTOP) while the simulator keeps feeding hanam
# leaves samples committed in its outbox and not yet acknowledged; then
# hanam gets SIGKILL, the broker goes on, and hanam restarts on the same
# data directory: its outbox replays, and the checks find every sample once.
g=$dir/gen/$victim
outbox_entries() { mdb_stat -s entries "$dir/node-$victim/outbox" 2>/dev/null | awk '/Entries:/ {print $2; exit}'; }
dups_before=$(ctl --json status | jq '.duplicates // 0')
kill -STOP "$broker_pid"
event "broker stalled (SIGSTOP) for a moment: the agents keep telemetry in their outboxes"
sleep 1.5
# Hold the simulator, and let the agent commit what it read (its outbox
# stops growing), so the kill finds the backlog in the outbox.
: >"$g.pause"
wait_for 10 "$victim's simulator to pause" test -e "$g.paused"
last=-1
backlog=$(outbox_entries)
while [ "${backlog:-0}" != "$last" ]; do
    sleep 0.3
    last=$backlog
    backlog=$(outbox_entries)
done
kill -KILL "${node_pid[$victim]}"
wait "${node_pid[$victim]}" 2>/dev/null
event "agent $victim killed (SIGKILL) with ${backlog:-?} unacknowledged entries in its outbox"
kill -CONT "$broker_pid"
log_mark=$(wc -l <"$dir/node-$victim.log")
start_node "$victim"
rm -f "$g.pause"
event "agent $victim restarted (pid ${node_pid[$victim]}) on the same data directory"

# ---- 8. wait for the rollout -----------------------------------------------------------
rollout_ended() {
    local st
    st=$(ctl --json rollout ls 2>/dev/null | jq -r --arg id "$rollout_id" '.[] | select((.id | tostring) == $id) | .state')
    case $st in
    succeeded | aborted) return 0 ;;
    paused) return 0 ;;
    *) return 1 ;;
    esac
}
wait_for 90 "rollout ended" rollout_ended
event "rollout $rollout_id: $(ctl --json rollout ls | jq -r --arg id "$rollout_id" '.[] | select((.id | tostring) == $id) | "\(.state) \(.reason)"')"

# ---- 9. checks ----------------------------------------------------------------------
# Telemetry: hold every simulator, wait until each site's stream holds all
# it generated, then count every demo_seq label: each 1..N exactly once.
for s in "${sites[@]}"; do : >"$dir/gen/$s.pause"; done
for s in "${sites[@]}"; do wait_for 10 "$s paused" test -e "$dir/gen/$s.paused"; done

# seqs SITE: the demo_seq label of every sample stored in telemetry-SITE,
# one a line (foundryctl decodes the typed batches: a samples array each).
seqs() {
    ctl --json stream read "telemetry-$1" --decode telemetry 2>/dev/null |
        jq -r '.[] | .samples[]? | .labels.demo_seq // empty'
}
all_stored() {
    local s want got
    for s in "${sites[@]}"; do
        want=$(cat "$dir/gen/$s.count" 2>/dev/null || echo 0)
        got=$(seqs "$s" | sort -u | wc -l)
        [ "$got" -ge "$want" ] || return 1
    done
}
wait_for 30 "telemetry stored" all_stored
total=0
for s in "${sites[@]}"; do
    want=$(cat "$dir/gen/$s.count" 2>/dev/null || echo 0)
    seqs "$s" | sort -n >"$dir/seqs-$s"
    got=$(wc -l <"$dir/seqs-$s")
    uniq_n=$(uniq "$dir/seqs-$s" | wc -l)
    missing=$(seq 1 "$want" | comm -23 <(sort) <(sort -u "$dir/seqs-$s") | wc -l)
    total=$((total + want))
    if [ "$want" -gt 0 ] && [ "$got" -eq "$want" ] && [ "$uniq_n" -eq "$want" ] && [ "$missing" -eq 0 ]; then
        check ok "telemetry-$s holds all $want generated samples, each once"
    else
        check FAIL "telemetry-$s: $want generated, $got stored, $((got - uniq_n)) duplicates, $missing missing"
    fi
done

# The replay: the restarted agent connected with the backlog still in its
# outbox and sent it again (same message ids); whatever of it had reached the
# broker before the kill was acknowledged as a duplicate, not stored again
# (the stream checks above find every sample once).
replayed=$(tail -n "+$((log_mark + 1))" "$dir/node-$victim.log" |
    sed -n 's/.*NODE-CONNECTED.*; \([0-9]*\) outbox entries to forward.*/\1/p' | head -n 1)
dups=$(($(ctl --json status | jq '.duplicates // 0') - dups_before))
if [ "${backlog:-0}" -gt 0 ] && [ "${replayed:-0}" -ge "$backlog" ]; then
    check ok "$victim killed with $backlog unacknowledged outbox entries: the restarted agent replayed ${replayed} ($dups acknowledged as duplicates), nothing lost or doubled"
else
    check FAIL "$victim's replay: ${backlog:-?} entries in the outbox at the kill, ${replayed:-no} forwarded after the restart"
fi

# Partners' telemetry grant: acme reads pangyo's live telemetry.
for s in "${sites[@]}"; do rm -f "$dir/gen/$s.pause"; done # the simulators go on
if out=$(ctl_as acme sub 'telemetry.pangyo.>' --count 2 --wait 5000 2>>"$dir/ctl.log") &&
    [ "$(printf '%s\n' "$out" | grep -c '^telemetry\.pangyo\.')" -eq 2 ]; then
    check ok "partner acme reads pangyo's live telemetry with its read grant"
else
    check FAIL "partner acme could not read telemetry.pangyo.> (see $dir/ctl.log)"
fi

# The dashboard's data: /api/status over HTTP lists the six sites.
if [ -n "$dashboard" ] && command -v curl >/dev/null; then
    n=$(curl -sf --max-time 5 "${dashboard%/}/api/status" | jq '[.sites[]?] | length' 2>/dev/null)
    if [ "${n:-0}" -ge "${#sites[@]}" ]; then
        check ok "the dashboard's /api/status at $dashboard lists the $n sites"
    else
        check FAIL "the dashboard's /api/status at $dashboard: ${n:-no answer} sites"
    fi
fi

# The job grants hold: acme may not send work to a site outside its grant.
if ctl_as acme job submit infer --site hanam --data 'not allowed' >/dev/null 2>"$dir/refused.txt"; then
    check FAIL "partner acme submitted a job to hanam, outside its grant"
else
    check ok "partner acme refused at hanam, outside its job grant: $(head -c 100 "$dir/refused.txt")"
fi

# Jobs: each succeeded at its site with the handler's result, ran exactly
# once (one attempt, one handler run), and its partner reads the result.
while read -r id partner type site data; do
    show=$(ctl --json job show "$id" 2>/dev/null)
    state=$(jq -r .state <<<"$show")
    attempt=$(jq -r .attempt <<<"$show")
    runs=$(cat "$dir/runs/$id" 2>/dev/null | wc -l)
    result=$(ctl_as "$partner" job result "$id" 2>/dev/null)
    expect="$type@$site: $(printf '%s' "$data" | tr a-z A-Z)"
    if [ "$state" = succeeded ] && [ "$attempt" = 1 ] && [ "$runs" = 1 ] && [ "$result" = "$expect" ]; then
        check ok "job $id ($partner, $type at $site) succeeded once: \"$result\""
    else
        check FAIL "job $id ($partner, $type at $site): state $state, attempt $attempt, $runs runs, result '$result'"
    fi
done <"$dir/jobs"

# The model: the rollout succeeded and every agent holds version 1, healthy.
rl=$(ctl --json rollout ls | jq -c --arg id "$rollout_id" '.[] | select((.id | tostring) == $id)')
if [ "$(jq -r .state <<<"$rl")" = succeeded ]; then
    check ok "rollout $rollout_id of $model@1 succeeded: $(jq -r '"\(.healthy) of \(.nodes) nodes healthy, waves \(.wave)"' <<<"$rl")"
else
    check FAIL "rollout $rollout_id: $(jq -r '"\(.state) wave \(.wave) healthy \(.healthy)/\(.nodes): \(.reason)"' <<<"$rl")"
fi
st=$(ctl --json rollout status "$rollout_id" 2>/dev/null || echo '[]')
for s in "${sites[@]}"; do
    state=$(jq -r --arg s "$s" '[.[] | select(.site == $s)] | first | .state // "absent"' <<<"$st")
    wave=$(jq -r --arg s "$s" '[.[] | select(.site == $s)] | first | .wave // "?"' <<<"$st")
    cur=$(readlink "$dir/node-$s/models/$model/current" 2>/dev/null)
    ver=$(sed -n 's/^version = //p' "$dir/node-$s/models/$model/state" 2>/dev/null)
    if [ "$state" = healthy ] && [ "$cur" = 1 ] && [ "$ver" = 1 ] &&
        cmp -s "$dir/node-$s/models/$model/1" "$dir/$model-v1.bin"; then
        check ok "$s: $model v1 installed (wave $wave), healthy, bytes identical to the pushed file"
    else
        check FAIL "$s: rollout state $state, current -> '${cur}', state version '${ver}'"
    fi
done
lab_wave=$(jq -r '[.[] | select(.site == "seongnam-lab")] | first | .wave // 0' <<<"$st")
other_wave=$(jq -r '[.[] | select(.site != "seongnam-lab") | .wave] | min // 0' <<<"$st")
if [ "$lab_wave" != 0 ] && [ "$other_wave" != 0 ] && [ "$lab_wave" -lt "$other_wave" ]; then
    check ok "waves: the lab (wave $lab_wave) before every other site (wave $other_wave)"
else
    check FAIL "waves: lab in wave $lab_wave, others from wave $other_wave"
fi

# Without --keep: every process stops on SIGTERM and exits 0.
if [ "$keep" = 0 ]; then
    stop_all
    if [ -z "$unclean" ]; then
        check ok "the broker and the six agents stopped cleanly on SIGTERM (exit 0)"
    else
        check FAIL "exit status after SIGTERM:$unclean (see $dir/*.log)"
    fi
fi
if [ "$failed" -eq 0 ]; then
    event "all ${#checks[@]} checks passed"
    finish 0
fi
finish 1
