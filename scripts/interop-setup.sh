#!/usr/bin/env bash
# Installs the interop test clients: autobahn-python (venv at target/interop-venv)
# and autobahn-js (tests/interop/node/node_modules). Idempotent: each install is
# skipped when a stamp file records the hash of the inputs it was made from.
# Needs only python3 (with venv), node and npm. Starts no router.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/target/interop-venv"
pydir="$repo/tests/interop/python"
nodedir="$repo/tests/interop/node"

for tool in python3 node npm; do
    command -v "$tool" > /dev/null || { echo "interop-setup: $tool not found" >&2; exit 1; }
done
if ! python3 -c 'import ensurepip, venv' 2> /dev/null; then
    echo "interop-setup: python3 lacks venv/ensurepip (Debian: apt-get install python3-venv)" >&2
    exit 1
fi

hash_of() {
    cat "$@" | sha256sum | cut -d' ' -f1
}

# --- Python ---------------------------------------------------------------
py_hash="$(hash_of "$pydir/requirements.txt"; python3 --version)"
py_stamp="$venv/.interop-requirements.sha256"
if [[ -x "$venv/bin/python" && -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_hash" ]]; then
    echo "interop-setup: python venv up to date ($venv)"
else
    echo "interop-setup: installing python clients into $venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        mkdir -p "$(dirname "$venv")"
        python3 -m venv "$venv"
    fi
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --requirement "$pydir/requirements.txt"
    echo "$py_hash" > "$py_stamp"
fi

# --- Node -----------------------------------------------------------------
node_inputs=("$nodedir/package.json")
[[ -f "$nodedir/package-lock.json" ]] && node_inputs+=("$nodedir/package-lock.json")
node_hash="$(hash_of "${node_inputs[@]}"; node --version)"
node_stamp="$nodedir/node_modules/.interop-packages.sha256"
if [[ -f "$node_stamp" && "$(cat "$node_stamp")" == "$node_hash" ]]; then
    echo "interop-setup: node modules up to date ($nodedir/node_modules)"
else
    echo "interop-setup: installing node clients into $nodedir/node_modules"
    if [[ -f "$nodedir/package-lock.json" ]]; then
        (cd "$nodedir" && npm ci --no-audit --no-fund --loglevel=error)
    else
        (cd "$nodedir" && npm install --no-audit --no-fund --loglevel=error)
    fi
    echo "$node_hash" > "$node_stamp"
fi
