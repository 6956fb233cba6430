#!/usr/bin/env bash
# test_deploy.sh: the deploy kit works as shipped. Every site config and
# the hub's broker config pass --check-config; deploy/provision-keys.sh
# makes every key with its mode, registers them, refuses to overwrite; and
# a broker started on the provisioned store and broker key serves the
# provisioned admin, who sees every key with its role and site.
# Usage: test_deploy.sh SOURCE_DIR BROKER NODE FOUNDRYCTL
set -euo pipefail
src=$1 broker=$2 node=$3 ctl=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/foundry-deploy.XXXXXX")
broker_pid=""
cleanup() {
    if [ -n "$broker_pid" ]; then kill -KILL "$broker_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { printf 'test_deploy: %s\n' "$*" >&2; exit 1; }

sites=(siheung bucheon uijeongbu hanam pangyo seongnam-lab)
"$broker" --config "$src/deploy/sites/broker-hub.conf" --check-config >/dev/null ||
    fail "broker-hub.conf does not pass --check-config"
for site in "${sites[@]}"; do
    conf=$src/deploy/sites/node-$site.conf
    "$node" --config "$conf" --check-config >/dev/null || fail "$conf does not pass --check-config"
    grep -qx "site = $site" "$conf" || fail "$conf: not site $site"
    grep -qx "data_dir = /var/lib/foundry-node/$site" "$conf" ||
        fail "$conf: data_dir is not the unit's /var/lib/foundry-node/$site"
done
echo "site configs: ok"

out=$tmp/keys
"$src/deploy/provision-keys.sh" "$out" --ctl "$ctl" >"$tmp/provision.log" 2>&1 ||
    { cat "$tmp/provision.log"; fail "provision-keys.sh failed"; }
mode() { stat -c %a "$1"; }
check_mode() { [ "$(mode "$1")" = "$2" ] || fail "$1 has mode $(mode "$1"), want $2"; }
check_mode "$out/hub/etc/foundry/keys/broker.key_secret" 600
check_mode "$out/hub/etc/foundry/keys/broker.key" 644
check_mode "$out/admin/admin.key_secret" 600
for site in "${sites[@]}"; do
    check_mode "$out/$site/etc/foundry/keys/node-$site.key_secret" 600
    check_mode "$out/$site/etc/foundry/keys/broker.key" 644
    cmp -s "$out/$site/etc/foundry/keys/broker.key" "$out/hub/etc/foundry/keys/broker.key" ||
        fail "$site got another broker key"
    grep -q "node-$site.key_secret.*-> $site agent host" "$out/DISTRIBUTION" ||
        fail "DISTRIBUTION does not send node-$site.key_secret to its host"
done
for tenant in sihwa-robotics gyeonggi-bio; do
    check_mode "$out/partners/$tenant/$tenant.key_secret" 600
done
# foundryctl has `model keygen`: the two model-signing keys are made.
for name in lab-release-a lab-release-b; do
    check_mode "$out/signing/$name.sign" 600
    check_mode "$out/signing/$name.sign.pub" 644
done
# No secret file is readable by anyone but its owner.
loose=$(find "$out" -type f -perm /077 ! -name '*.key' ! -name '*.sign.pub' -print)
[ -z "$loose" ] || fail "files open to others: $loose"
if "$src/deploy/provision-keys.sh" "$out" --ctl "$ctl" >/dev/null 2>&1; then
    fail "a second run over $out was not refused"
fi
echo "provisioning: ok"

data=$out/hub/var/lib/foundry
"$broker" --data-dir "$data" --keys "$out/hub/etc/foundry/keys" --bind 'tcp://127.0.0.1:*' \
    2>"$tmp/broker.log" &
broker_pid=$!
for _ in $(seq 600); do
    grep -qx "pid $broker_pid" "$data/ready" 2>/dev/null && break
    kill -0 "$broker_pid" 2>/dev/null || { cat "$tmp/broker.log"; fail "the broker exited"; }
    sleep 0.05
done
endpoint=$(sed -n 's/^endpoint //p' "$data/ready")
[ -n "$endpoint" ] || fail "no ready file"
keys=$("$ctl" --endpoint "$endpoint" --key "$out/admin/admin.key_secret" \
    --broker-key "$out/admin/broker.key" key ls)
for site in "${sites[@]}"; do
    printf '%s\n' "$keys" | grep -E "^node-$site +node +$site " >/dev/null ||
        { printf '%s\n' "$keys"; fail "node-$site is not registered as node at $site"; }
done
for tenant in sihwa-robotics gyeonggi-bio; do
    printf '%s\n' "$keys" | grep -E "^$tenant +partner +.*$tenant" >/dev/null ||
        { printf '%s\n' "$keys"; fail "$tenant is not registered as a partner"; }
done
# The signing keys are usable: the admin trusts both for every model.
"$ctl" --endpoint "$endpoint" --key "$out/admin/admin.key_secret" --broker-key "$out/admin/broker.key" \
    model trust '*' --signer "$out/signing/lab-release-a.sign.pub" \
    --signer "$out/signing/lab-release-b.sign.pub" --threshold 2 >/dev/null ||
    fail "model trust with the provisioned signing keys failed"
kill -TERM "$broker_pid"
wait "$broker_pid" || fail "the broker did not stop cleanly"
broker_pid=""
echo "provisioned broker: ok (admin sees $(printf '%s\n' "$keys" | tail -n +2 | wc -l) keys)"
