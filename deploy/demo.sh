#!/usr/bin/env bash
# demo.sh: THE main job. Installs the Debian packages, builds build/, then,
# in a temporary directory, starts a CurveZMQ-secured foundry-broker with
# generated keys, registers a node key per site, publishes a few messages
# per site, reads them back as an administrator, shows the ACL and
# revocation at work, runs a job at the Seongnam lab's node agent, stops
# the broker with SIGTERM and cleans up.
# Exits non-zero if any step fails. FOUNDRY_DEMO_KEEP=1 keeps the directory.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${FOUNDRY_BUILD_DIR:-$root/build}
# The broker's default topology (broker_config.c `sites`): one stream
# telemetry-<site> per site captures telemetry.<site>.>.
sites=(siheung bucheon uijeongbu hanam pangyo seongnam-lab)
per_site=3

summary=()
failed=0
tmp=""
broker_pid=""

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
# Plain text when not on a terminal (CI logs).
[ -t 1 ] || say() { printf '\n==> %s\n' "$*"; }
show() { printf '    $ %s\n' "$*"; }

ok() { summary+=("ok      $*"); }
bad() {
    summary+=("FAILED  $*")
    failed=$((failed + 1))
}

print_summary() {
    printf '\n==== demo summary\n'
    local line
    for line in "${summary[@]}"; do
        printf '  %s\n' "$line"
    done
    if [ "$failed" -eq 0 ]; then
        printf '  all %d steps passed\n' "${#summary[@]}"
    else
        printf '  %d step(s) failed\n' "$failed"
    fi
}

cleanup() {
    local rc=$?
    if [ -n "${lab_pid:-}" ] && kill -0 "$lab_pid" 2>/dev/null; then
        kill -KILL "$lab_pid" 2>/dev/null
        wait "$lab_pid" 2>/dev/null
    fi
    if [ -n "$broker_pid" ] && kill -0 "$broker_pid" 2>/dev/null; then
        kill -KILL "$broker_pid" 2>/dev/null
        wait "$broker_pid" 2>/dev/null
    fi
    if [ -n "$tmp" ] && [ -d "$tmp" ]; then
        if [ "${FOUNDRY_DEMO_KEEP:-0}" = 1 ]; then
            echo "demo: kept $tmp"
        else
            rm -rf "$tmp"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# abort WHAT: a step the rest depends on failed.
abort() {
    bad "$*"
    if [ -n "$tmp" ] && [ -s "$tmp/broker.log" ]; then
        printf '\n---- last lines of the broker log\n'
        tail -n 20 "$tmp/broker.log"
    fi
    print_summary
    exit 1
}

# ctl ARGS...: runs foundryctl, echoing the command line and indenting its
# output; returns foundryctl's exit status (pipefail).
ctl() {
    show "foundryctl $*"
    "$ctl_bin" "$@" </dev/null | sed 's/^/      /'
}

# ---- 1. dependencies and build -------------------------------------------------
say "1. install the Debian packages (deploy/install-deps.sh)"
"$root/deploy/install-deps.sh" </dev/null || abort "install dependencies"
ok "dependencies installed"

say "2. build ($build_dir)"
if [ ! -f "$build_dir/build.ninja" ]; then
    meson setup "$build_dir" "$root" </dev/null || abort "meson setup"
fi
ninja -C "$build_dir" </dev/null || abort "build"
broker_bin=$build_dir/broker/foundry-broker
ctl_bin=$build_dir/broker/ctl/foundryctl
[ -x "$broker_bin" ] && [ -x "$ctl_bin" ] || abort "build: binaries missing"
ok "built foundry-broker and foundryctl"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/foundry-demo.XXXXXX") || abort "mktemp"
data_dir=$tmp/data
keys=$tmp/keys
echo "demo: working in $tmp"

# ---- 3. keys and the first admin --------------------------------------------------
say "3. generate the administrator's key pair and register it offline (bootstrap)"
ctl keygen admin --out "$keys" || abort "keygen admin"
ctl bootstrap --data-dir "$data_dir" "$keys/admin.key" || abort "bootstrap admin key"
ls -l "$keys" | sed 's/^/    /'
ok "admin key generated (secret file 0600) and bootstrapped into $data_dir"

# ---- 4. the broker ------------------------------------------------------------------
say "4. start foundry-broker on a random loopback port (CURVE, keys generated on first start)"
show "foundry-broker --data-dir $data_dir --keys $tmp/broker-keys --bind tcp://127.0.0.1:* &"
"$broker_bin" --data-dir "$data_dir" --keys "$tmp/broker-keys" --bind 'tcp://127.0.0.1:*' \
    --log-level notice </dev/null 2>"$tmp/broker.log" &
broker_pid=$!
ready=$data_dir/ready
deadline=$((SECONDS + 20))
# The broker writes the file atomically (tmp + rename) once it serves.
until [ -s "$ready" ] && grep -qx "pid $broker_pid" "$ready" && grep -q '^broker_key ' "$ready"; do
    kill -0 "$broker_pid" 2>/dev/null || abort "broker exited during start-up"
    [ "$SECONDS" -lt "$deadline" ] || abort "broker wrote no ready file within 20 s"
    sleep 0.1
done
endpoint=$(sed -n 's/^endpoint //p' "$ready" | head -n 1)
broker_key=$(sed -n 's/^broker_key //p' "$ready" | head -n 1)
sed 's/^/    ready: /' "$ready"
[ -n "$endpoint" ] && [ -f "$broker_key" ] || abort "ready file incomplete"
export FOUNDRY_ENDPOINT=$endpoint
export FOUNDRY_BROKER_KEY=$broker_key
export FOUNDRY_KEY=$keys/admin.key_secret
echo "    FOUNDRY_ENDPOINT=$FOUNDRY_ENDPOINT FOUNDRY_BROKER_KEY=$FOUNDRY_BROKER_KEY"
echo "    FOUNDRY_KEY=$FOUNDRY_KEY"
ok "broker pid $broker_pid listening on $endpoint"

# ---- 5. node keys -------------------------------------------------------------------
say "5. register one node key per site (role node: may publish telemetry.<site>.>)"
for site in "${sites[@]}"; do
    ctl keygen "node-$site" --out "$keys" >/dev/null || abort "keygen node-$site"
    ctl key add "$keys/node-$site.key" --role node --site "$site" >/dev/null ||
        abort "key add node-$site"
done
ctl key ls || abort "key ls"
ok "${#sites[@]} node keys registered through the running broker"

# ---- 6. publish -----------------------------------------------------------------------
say "6. each site's node publishes $per_site messages (durable ack = stream and sequence)"
for site in "${sites[@]}"; do
    subject=telemetry.$site.demo.temperature
    show "printf '...' | FOUNDRY_KEY=node-$site.key_secret foundryctl pub $subject"
    acks=$(for i in $(seq 1 "$per_site"); do
        printf '{"site":"%s","reading":%d,"celsius":%d.%d}\n' "$site" "$i" $((20 + i)) "$i"
    done | FOUNDRY_KEY=$keys/node-$site.key_secret "$ctl_bin" pub "$subject")
    rc=$?
    printf '%s\n' "$acks" | sed 's/^/    ack: /'
    n=$(printf '%s\n' "$acks" | grep -c .)
    if [ "$rc" -ne 0 ] || [ "$n" -ne "$per_site" ]; then
        bad "publish $per_site messages from node-$site (exit $rc, $n acks)"
    fi
done
[ "$failed" -eq 0 ] && ok "$((per_site * ${#sites[@]})) messages published and durably acked"

# ---- 7. security at work --------------------------------------------------------------
say "7. the ACL refuses a node publishing for another site"
show "FOUNDRY_KEY=node-siheung.key_secret foundryctl pub telemetry.bucheon.demo.temperature spoofed"
if FOUNDRY_KEY=$keys/node-siheung.key_secret "$ctl_bin" pub telemetry.bucheon.demo.temperature \
    spoofed </dev/null; then
    bad "ACL: node-siheung was allowed to publish telemetry.bucheon.*"
else
    ok "ACL refused node-siheung publishing telemetry.bucheon.* (expected)"
fi

say "8. revoke node-hanam: its next message is refused, without a restart"
ctl key revoke node-hanam || bad "key revoke node-hanam"
show "FOUNDRY_KEY=node-hanam.key_secret foundryctl pub telemetry.hanam.demo.temperature after-revoke"
if FOUNDRY_KEY=$keys/node-hanam.key_secret "$ctl_bin" pub telemetry.hanam.demo.temperature \
    after-revoke </dev/null; then
    bad "revocation: node-hanam still published after key revoke"
else
    ok "revoked key node-hanam refused (expected)"
fi

# ---- 9. read back ------------------------------------------------------------------------
say "9. read every site's stream back as the administrator"
read_ok=1
for site in "${sites[@]}"; do
    ctl stream read "telemetry-$site" --from 1 --count 100 || {
        bad "stream read telemetry-$site"
        read_ok=0
        continue
    }
    n=$("$ctl_bin" --json stream read "telemetry-$site" </dev/null | grep -o '"seq"' | wc -l)
    if [ "$n" -ne "$per_site" ]; then
        bad "telemetry-$site holds $n messages, expected $per_site"
        read_ok=0
    fi
done
[ "$read_ok" = 1 ] && ok "every stream holds exactly its $per_site messages"

# ---- 10. streams: a site agent forwards telemetry, a durable consumer reads it ---------
say "10. a durable consumer on telemetry-pangyo, fed by a foundry-node agent reading stdin"
node_bin=$build_dir/node/foundry-node
ctl consumer add telemetry-pangyo dashboard --start first || bad "consumer add"
samples='robot42.joint3.temp 41.5 C
robot42.joint3.torque 12.25 Nm
line7.throughput 118 units/min'
show "printf 'robot42.joint3.temp 41.5 C\\n...' | foundry-node --site pangyo --stdin ..."
if printf '%s\n' "$samples" | "$node_bin" --site pangyo --endpoint "$endpoint" \
    --key "$keys/node-pangyo.key_secret" --broker-key "$broker_key" \
    --data-dir "$tmp/node-pangyo" --stdin --log-level notice 2>"$tmp/node.log"; then
    sed 's/^/    node: /' "$tmp/node.log"
    ok "foundry-node forwarded 3 samples (outbox, durable ack) and exited at end of input"
else
    sed 's/^/    node: /' "$tmp/node.log"
    bad "foundry-node --stdin failed"
fi
# The consumer sees the node's 3 typed samples after the site's earlier messages.
want=$((per_site + 3))
show "foundryctl sub --stream telemetry-pangyo --consumer dashboard --count $want --wait 5000"
got=$("$ctl_bin" sub --stream telemetry-pangyo --consumer dashboard --count "$want" \
    --wait 5000 </dev/null) || bad "sub on the durable consumer"
printf '%s\n' "$got" | cut -c1-100 | sed 's/^/      /'
n=$(printf '%s\n' "$got" | grep -c .)
if [ "$n" -eq "$want" ]; then
    ok "durable consumer 'dashboard' received and acked all $want messages"
else
    bad "durable consumer received $n messages, expected $want"
fi
ctl consumer info telemetry-pangyo dashboard || bad "consumer info"

say "11. a job for the Seongnam lab: a foundry-node worker runs it, the result comes back"
# The lab's agent takes jobs of type 'inspect' with an exec handler (no shell:
# the payload on stdin, stdout is the result); the job targets its site.
printf '# type  mode slots timeout -- argv\ninspect exec 2     10s     -- /usr/bin/tr a-z A-Z\n' \
    >"$tmp/lab-jobs.conf"
show "foundry-node --site seongnam-lab --jobs lab-jobs.conf --labels robot=ur10 ... &"
"$node_bin" --site seongnam-lab --endpoint "$endpoint" --key "$keys/node-seongnam-lab.key_secret" \
    --broker-key "$broker_key" --data-dir "$tmp/node-lab" --jobs "$tmp/lab-jobs.conf" \
    --labels robot=ur10 --log-level notice 2>"$tmp/node-lab.log" </dev/null &
lab_pid=$!
show "foundryctl job submit inspect --site seongnam-lab --label robot=ur10 --data 'weld seam 7' --wait 20s"
job_out=$("$ctl_bin" job submit inspect --site seongnam-lab --label robot=ur10 \
    --data 'weld seam 7' --wait 20s </dev/null 2>&1)
job_rc=$?
printf '%s\n' "$job_out" | sed 's/^/      /'
job_id=$(printf '%s\n' "$job_out" | awk '$1 == "id" {print $2; exit}')
result=""
[ -n "$job_id" ] && result=$("$ctl_bin" job result "$job_id" </dev/null 2>/dev/null)
if [ "$job_rc" -eq 0 ] && [ "$result" = "WELD SEAM 7" ]; then
    ok "job $job_id ran at seongnam-lab and its result \"$result\" was stored"
else
    sed 's/^/    node: /' "$tmp/node-lab.log"
    bad "the lab's job did not succeed (exit $job_rc, result '$result')"
fi
ctl node ls || bad "node ls"
kill -TERM "$lab_pid" 2>/dev/null
wait "$lab_pid" 2>/dev/null
lab_pid=""

say "12. streams and broker status"
ctl stream ls || bad "stream ls"
ctl status || bad "status"
ok "stream ls and status answered"

# ---- 12. stop -------------------------------------------------------------------------
say "13. stop the broker with SIGTERM (commits what is pending, exits 0)"
show "kill -TERM $broker_pid"
kill -TERM "$broker_pid"
deadline=$((SECONDS + 30))
while kill -0 "$broker_pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.1
done
if kill -0 "$broker_pid" 2>/dev/null; then
    bad "broker still running 30 s after SIGTERM"
else
    wait "$broker_pid"
    rc=$?
    broker_pid=""
    if [ "$rc" -eq 0 ]; then
        ok "broker stopped cleanly (exit 0)"
    else
        bad "broker exit status $rc after SIGTERM"
    fi
    if [ -e "$ready" ]; then
        bad "ready file left behind after a clean stop"
    fi
fi

printf '\n---- broker log (%s lines)\n' "$(wc -l <"$tmp/broker.log")"
tail -n 15 "$tmp/broker.log" | sed 's/^/    /'

print_summary
[ "$failed" -eq 0 ]
