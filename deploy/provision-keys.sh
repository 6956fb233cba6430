#!/usr/bin/env bash
# provision-keys.sh: makes every key of the Gyeonggi foundry network and
# registers it with the broker's store, offline:
#   - the broker's CURVE key pair;
#   - one node key per site (siheung bucheon uijeongbu hanam pangyo
#     seongnam-lab), role node, its site;
#   - an administrator key (bootstrapped: the first admin);
#   - two partner tenants, sihwa-robotics and gyeonggi-bio, each with its
#     own subject prefix and the sites it may send jobs to;
#   - two model-signing keys (lab-release-a, lab-release-b) when this
#     foundryctl has `model keygen` (the model-update work); else it says so.
# Secret files are 0600, public ones 0644, directories 0700. Nothing is
# overwritten: OUT must not exist. Prints which file goes to which host,
# and writes the same table to OUT/DISTRIBUTION.
#
# Usage: provision-keys.sh OUT [--data-dir DIR] [--ctl FOUNDRYCTL]
#   OUT         new directory for the keys, one folder per host
#   --data-dir  register into this broker data directory (a running broker
#               confirms each key); default: a new store in
#               OUT/hub/var/lib/foundry, to install on a new broker host
#   --ctl       foundryctl to use (default: foundryctl on PATH, else the
#               build tree's build/broker/ctl/foundryctl)
set -euo pipefail
umask 077

sites=(siheung bucheon uijeongbu hanam pangyo seongnam-lab)
partners=(sihwa-robotics gyeonggi-bio)
signing_keys=(lab-release-a lab-release-b)

say() { printf 'provision-keys: %s\n' "$*"; }
die() { printf 'provision-keys: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

out="" data_dir="" ctl=""
while [ $# -gt 0 ]; do
    case $1 in
    --data-dir) [ $# -ge 2 ] || usage; data_dir=$2; shift 2 ;;
    --ctl) [ $# -ge 2 ] || usage; ctl=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) printf 'provision-keys: unknown option %s\n' "$1" >&2; usage ;;
    *) [ -z "$out" ] || usage; out=$1; shift ;;
    esac
done
[ -n "$out" ] || usage
[ ! -e "$out" ] || die "$out already exists: keys go into a new directory (nothing was changed)"

if [ -z "$ctl" ]; then
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    if command -v foundryctl >/dev/null 2>&1; then
        ctl=$(command -v foundryctl)
    elif [ -x "$root/build/broker/ctl/foundryctl" ]; then
        ctl=$root/build/broker/ctl/foundryctl
    else
        die "no foundryctl on PATH or in build/: give --ctl PATH"
    fi
fi
[ -x "$ctl" ] || die "$ctl is not an executable foundryctl"

mkdir -p "$out"
out=$(cd "$out" && pwd)
hub_keys=$out/hub/etc/foundry/keys
if [ -z "$data_dir" ]; then
    data_dir=$out/hub/var/lib/foundry
    fresh_store=1
else
    fresh_store=0
fi

table=()
# ship FILE HOST PATH: records that FILE (under OUT) goes to HOST at PATH.
ship() { table+=("$(printf '%-58s -> %-34s %s' "${1#"$out"/}" "$2" "$3")"); }

# keypair DIR NAME: a CURVE key pair in DIR, modes checked.
keypair() {
    mkdir -p "$1"
    "$ctl" keygen "$2" --out "$1" >/dev/null
    chmod 0600 "$1/$2.key_secret"
    chmod 0644 "$1/$2.key"
}

# copy_broker_key DIR: the broker's public key, which every client needs.
copy_broker_key() {
    mkdir -p "$1"
    install -m 0644 "$hub_keys/broker.key" "$1/broker.key"
}

# offline WHAT ARGS...: runs foundryctl on the store; its note that no
# broker runs there (expected for a new store) is dropped, anything else
# it says is shown, and a failure ends the script.
offline() {
    local what=$1 err
    shift
    if ! err=$("$ctl" "$@" --data-dir "$data_dir" 2>&1 >/dev/null); then
        printf '%s\n' "$err" >&2
        die "$what in $data_dir failed"
    fi
    printf '%s\n' "$err" | grep -v -e '^$' -e 'note: no broker is running' >&2 || true
}

# register NAME.key ARGS...: offline key add into the store.
register() { offline "registering $(basename "$1")" key add "$@"; }

say "foundryctl: $ctl"
say "store: $data_dir"

# ---- the broker ----------------------------------------------------------------
keypair "$hub_keys" broker
ship "$hub_keys/broker.key" "broker host" "/etc/foundry/keys/broker.key (0644)"
ship "$hub_keys/broker.key_secret" "broker host" "/etc/foundry/keys/broker.key_secret (0600)"

# ---- the administrator: the first admin, bootstrapped offline ---------------------
admin_dir=$out/admin
keypair "$admin_dir" admin
copy_broker_key "$admin_dir"
offline "bootstrap of the admin key" bootstrap "$admin_dir/admin.key"
ship "$admin_dir/admin.key_secret" "operator workstation" "~/.foundry/admin.key_secret (0600)"
ship "$admin_dir/broker.key" "operator workstation" "~/.foundry/broker.key"

# ---- one node agent per site ----------------------------------------------------
for site in "${sites[@]}"; do
    dir=$out/$site/etc/foundry/keys
    keypair "$dir" "node-$site"
    copy_broker_key "$dir"
    register "$dir/node-$site.key" --role node --site "$site"
    ship "$dir/node-$site.key_secret" "$site agent host" "/etc/foundry/keys/node-$site.key_secret (0600)"
    ship "$dir/broker.key" "$site agent host" "/etc/foundry/keys/broker.key"
done

# ---- two partner tenants -----------------------------------------------------------
# sihwa-robotics runs robot jobs at the factory-side sites; gyeonggi-bio
# runs assays at the lab and hanam. Each publishes and reads its own prefix.
partner_jobs_sihwa_robotics=(siheung bucheon)
partner_jobs_gyeonggi_bio=(seongnam-lab hanam)
for tenant in "${partners[@]}"; do
    dir=$out/partners/$tenant
    keypair "$dir" "$tenant"
    copy_broker_key "$dir"
    var="partner_jobs_${tenant//-/_}[@]"
    grants=()
    for s in "${!var}"; do grants+=(--allow-jobs "$s"); done
    register "$dir/$tenant.key" --role partner --tenant "$tenant" \
        --allow-publish "$tenant.>" --allow-subscribe "$tenant.>" "${grants[@]}"
    ship "$dir/$tenant.key_secret" "partner $tenant" "their client host (0600)"
    ship "$dir/broker.key" "partner $tenant" "their client host"
done

# ---- model-signing keys (Ed25519), when this foundryctl can make them ---------------
if "$ctl" model keygen --help >/dev/null 2>&1; then
    dir=$out/signing
    mkdir -p "$dir"
    for name in "${signing_keys[@]}"; do
        "$ctl" model keygen "$name" --dir "$dir" >/dev/null || die "model keygen $name failed"
        chmod 0600 "$dir/$name.sign"
        chmod 0644 "$dir/$name.sign.pub"
        ship "$dir/$name.sign" "release officer $name (offline)" "kept offline (0600)"
        ship "$dir/$name.sign.pub" "operator workstation" "foundryctl model trust --signer"
    done
else
    say "no model-signing keys: this foundryctl has no 'model keygen' (the model-update work is not in it yet)"
fi

if [ "$fresh_store" = 1 ]; then
    chmod 0700 "$out/hub/var/lib/foundry"
    ship "$data_dir/data.mdb" "broker host" "/var/lib/foundry/data.mdb (new broker only; owner foundry, 0600)"
    rm -f "$data_dir/lock.mdb" "$data_dir/broker.lock"
fi
chmod -R go-rwx "$out"
find "$out" -name '*.key' -exec chmod 0644 {} +
find "$out" -name '*.sign.pub' -exec chmod 0644 {} +

{
    printf '# Which file goes to which host (made by deploy/provision-keys.sh).\n'
    printf '# Secret files (.key_secret, .sign) travel only to their own host.\n'
    printf '%s\n' "${table[@]}"
} >"$out/DISTRIBUTION"
chmod 0600 "$out/DISTRIBUTION"

printf '\nWhich file goes to which host (also in %s/DISTRIBUTION):\n' "$out"
printf '  %s\n' "${table[@]}"
if [ -d "$out/signing" ]; then
    # Trust policies are admin commands the broker runs: once it serves.
    printf '\nOnce the broker runs, trust the two signing keys (both must sign):\n'
    printf '  foundryctl model trust '"'"'*'"'"' --signer %s --signer %s --threshold 2\n' \
        "$out/signing/${signing_keys[0]}.sign.pub" "$out/signing/${signing_keys[1]}.sign.pub"
    printf '  foundryctl model release-key    # goes into each agent'"'"'s model_release_key\n'
fi
say "done: ${#sites[@]} node keys, ${#partners[@]} partners, 1 admin registered in $data_dir"
